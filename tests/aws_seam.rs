//! The `aws` step kind through the real SDK against moto: the identity is read and shown
//! before the first AWS step, results become outputs, and an expected account is enforced.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use cli::Sandbox;

const IDENTITY: &str = r#"
stepwise: 1
id: whoami
title: Who am I
aws:
  account: "{{ inputs.account }}"
inputs:
  account: { default: "123456789012", pattern: "[0-9]{12}" }
steps:
  - id: identity
    title: Read the caller identity
    description: shows which account and role the run acts as
    aws: sts.get_caller_identity
  - id: use
    title: Use the account
    description: later steps see the result
    run: echo "account={{ steps.identity.account }} arn={{ steps.identity.arn }}" > who.txt
"#;

#[test]
fn caller_identity_runs_against_the_emulator() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    sb.write("rb.yaml", IDENTITY);
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--name", "w"]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "AWS: acting as arn:aws:sts::123456789012:user/moto in account 123456789012 (us-east-1)"
        ),
        "{stdout}"
    );
    assert_eq!(
        sb.read("who.txt"),
        "account=123456789012 arn=arn:aws:sts::123456789012:user/moto\n"
    );
    assert_eq!(
        sb.state("w")["steps"]["identity"]["outputs"]["account"],
        "123456789012"
    );
}

#[test]
fn a_runbook_refuses_an_account_it_does_not_expect() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    sb.write("rb.yaml", IDENTITY);
    let mut cmd = sb.cmd(&[
        "run",
        "rb.yaml",
        "--name",
        "x",
        "--input",
        "account=999999999999",
    ]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("refusing to act on account 123456789012 (arn:aws:sts::123456789012:user/moto): this runbook acts only on account 999999999999"),
        "{stdout}"
    );
    assert!(!sb.path().join("who.txt").exists());
}

#[test]
fn dry_run_shows_the_request_and_reads_only_with_checks() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    sb.write("rb.yaml", IDENTITY);
    let r = sb.run(&["run", "rb.yaml", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("\"operation\": \"GetCallerIdentity\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "echo \"account=<steps.identity.account> arn=<steps.identity.arn>\" > who.txt"
        ),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("AWS: acting as"),
        "a dry run without --with-checks must not call AWS"
    );
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--dry-run", "--with-checks"]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("=> acting as arn:aws:sts::123456789012:user/moto in account 123456789012"),
        "{stdout}"
    );
    assert!(!sb.home().join("runs").exists());
}

#[test]
fn unreachable_aws_fails_the_step_with_what_to_do_and_resume_retries() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", IDENTITY);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = sb
        .cmd(&["run", "rb.yaml", "--name", "u"])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("sts.get_caller_identity: ConnectionFailed"),
        "{stdout}"
    );
    assert!(stdout.contains("retry the step"), "{stdout}");
    // With AWS reachable again, resuming runs the failed step again and completes.
    let (_guard, moto) = moto::shared_reset();
    let mut cmd = sb.cmd(&["resume", "u"]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_step_can_act_as_another_role_and_sessions_are_kept_apart() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: roles
title: Roles
steps:
  - id: me
    title: As myself
    aws: sts.get_caller_identity
  - id: admin
    title: As the admin role, for this step only
    aws: sts.get_caller_identity
    assume_role: arn:aws:iam::123456789012:role/jupyterhub-admin
  - id: me-again
    title: As myself again
    aws: sts.get_caller_identity
"#,
    );
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--name", "r"]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let st = sb.state("r");
    assert_eq!(
        st["steps"]["me"]["outputs"]["arn"],
        "arn:aws:sts::123456789012:user/moto"
    );
    assert!(
        st["steps"]["admin"]["outputs"]["arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::123456789012:assumed-role/jupyterhub-admin/"),
        "{stdout}"
    );
    assert_eq!(
        st["steps"]["me-again"]["outputs"]["arn"],
        "arn:aws:sts::123456789012:user/moto"
    );
    // Each new identity is shown before it acts.
    assert_eq!(stdout.matches("AWS: acting as").count(), 2, "{stdout}");
    // The field is for aws steps only.
    sb.write("bad.yaml", "stepwise: 1\nid: b\ntitle: B\nsteps:\n  - id: x\n    title: X\n    run: \"true\"\n    assume_role: arn:aws:iam::1:role/r\n");
    let bad = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("`assume_role` does not apply to a `run` step"),
        "{}",
        bad.stderr
    );
}
