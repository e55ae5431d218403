//! Helpers for the AWS action tests: run the binary against moto in plain mode, and check what
//! it did with an independent client, the `aws` CLI.

#![allow(dead_code)]

use std::process::Command;

use super::cli::{Ran, Sandbox};
use super::moto::Moto;

/// Runs `stepwise ARGS --plain` in the sandbox against moto.
pub fn run(sb: &Sandbox, moto: &Moto, args: &[&str]) -> Ran {
    let mut cmd = sb.cmd(args);
    cmd.arg("--plain");
    moto.apply_env(&mut cmd);
    let out = cmd.output().expect("run stepwise");
    use std::os::unix::process::ExitStatusExt;
    Ran {
        code: out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes the runbook and starts a run of it named `name`.
pub fn start(sb: &Sandbox, moto: &Moto, runbook: &str, name: &str, extra: &[&str]) -> Ran {
    sb.write("rb.yaml", runbook);
    let mut args = vec!["run", "rb.yaml", "--name", name];
    args.extend_from_slice(extra);
    run(sb, moto, &args)
}

/// Dry-runs the runbook, with `--with-checks` when asked.
pub fn dry(sb: &Sandbox, moto: &Moto, runbook: &str, with_checks: bool) -> Ran {
    sb.write("rb.yaml", runbook);
    let mut args = vec!["run", "rb.yaml", "--dry-run"];
    if with_checks {
        args.push("--with-checks");
    }
    run(sb, moto, &args)
}

/// A new instance in moto (no network given), by its id.
pub fn instance(moto: &Moto) -> String {
    cli_json(
        moto,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            "ami-12345678",
            "--instance-type",
            "t3.micro",
            "--count",
            "1",
        ],
    )["Instances"][0]["InstanceId"]
        .as_str()
        .expect("an instance id")
        .to_string()
}

/// The `aws` CLI against moto; its stdout, or a panic with its stderr.
pub fn cli(moto: &Moto, args: &[&str]) -> String {
    let out = cli_raw(moto, args);
    assert!(out.0, "aws {} failed: {}", args.join(" "), out.2);
    out.1
}

/// The `aws` CLI against moto: (succeeded, stdout, stderr).
pub fn cli_raw(moto: &Moto, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("aws");
    moto.apply_env(&mut cmd);
    cmd.args(["--endpoint-url", &moto.endpoint, "--output", "json"])
        .args(args)
        .env("AWS_PAGER", "");
    let out = cmd.output().expect("the aws CLI is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `aws` CLI's JSON answer.
pub fn cli_json(moto: &Moto, args: &[&str]) -> serde_json::Value {
    let text = cli(moto, args);
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts that a run ended with `code`, showing everything it printed otherwise.
#[track_caller]
pub fn expect(r: &Ran, code: i32) {
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

/// Asserts that `text` contains `part`.
#[track_caller]
pub fn has(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

/// Asserts that a diff in `text` has a line starting with `mark` that contains `part`.
#[track_caller]
pub fn diff_line(text: &str, mark: char, part: &str) {
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with(mark) && l.contains(part)),
        "expected a diff line `{mark} ...{part}` in:\n{text}"
    );
}
