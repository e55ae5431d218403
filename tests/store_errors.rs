//! The S3 run store when something is wrong: a permission the credentials lack, a bucket that
//! does not exist, a store that is not one. Each is said with what to do, and nothing runs.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod aws;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use aws::{cli_json, has};
use cli::{Ran, Sandbox};
use moto::Moto;

const RUNBOOK: &str = "stepwise: 1
id: t
title: T
steps:
  - id: touch
    title: Touch
    run: touch \"$STEPWISE_RUNBOOK_DIR/ran\"
";

/// Runs stepwise in the sandbox against moto, with other credentials when given.
fn run(sb: &Sandbox, moto: &Moto, keys: Option<(&str, &str)>, args: &[&str]) -> Ran {
    let mut cmd = sb.cmd(args);
    moto.apply_env(&mut cmd);
    if let Some((id, secret)) = keys {
        cmd.env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    Ran::of(&mut cmd)
}

#[test]
fn a_permission_the_credentials_lack_is_named_and_nothing_runs() {
    let moto = Moto::start();
    cli_json(&moto, &["s3api", "create-bucket", "--bucket", "team-runs"]);
    // A user who may read the store but not write to it.
    cli_json(&moto, &["iam", "create-user", "--user-name", "reader"]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::team-runs","arn:aws:s3:::team-runs/*"]}]}"#;
    cli_json(
        &moto,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "reader",
            "--policy-name",
            "read",
            "--policy-document",
            policy,
        ],
    );
    let key = cli_json(
        &moto,
        &["iam", "create-access-key", "--user-name", "reader"],
    );
    let id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    moto.enforce_iam();
    let sb = Sandbox::new();
    sb.write("rb.yaml", RUNBOOK);
    let r = run(
        &sb,
        &moto,
        Some((&id, &secret)),
        &[
            "run",
            "rb.yaml",
            "--plain",
            "--name",
            "r",
            "--store",
            "s3://team-runs/ops",
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    has(&r.stderr, "s3:PutObject s3://team-runs/ops/runs/r/lock");
    has(&r.stderr, "Access Denied");
    has(
        &r.stderr,
        "hint: the store needs s3:PutObject on arn:aws:s3:::team-runs/ops/runs/r/lock",
    );
    assert!(!sb.path().join("ran").exists(), "the step ran");
    // Reading is allowed: the (empty) store is listed.
    let r = run(
        &sb,
        &moto,
        Some((&id, &secret)),
        &["runs", "--store", "s3://team-runs/ops"],
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn a_missing_bucket_and_a_store_that_is_not_one_are_said_and_nothing_runs() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    sb.write("rb.yaml", RUNBOOK);
    let r = run(
        &sb,
        &moto,
        None,
        &[
            "run",
            "rb.yaml",
            "--plain",
            "--name",
            "r",
            "--store",
            "s3://no-such-bucket/x",
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    has(&r.stderr, "s3://no-such-bucket/x/runs/r/lock");
    has(
        &r.stderr,
        "hint: create the bucket no-such-bucket first, or name another with --store",
    );
    // Listing it is an error too, not a run that cannot be read.
    let r = run(
        &sb,
        &moto,
        None,
        &["runs", "--store", "s3://no-such-bucket/x"],
    );
    assert_eq!(r.code, 4, "{r:?}");
    has(&r.stderr, "s3:ListBucket s3://no-such-bucket/x/runs/");
    for bad in [
        "team-runs/x",
        "s3:///x",
        "s3://b/../x",
        "s3://b/./x",
        "s3://b/a//x",
    ] {
        let r = run(&sb, &moto, None, &["runs", "--store", bad]);
        assert_eq!(r.code, 2, "{bad}: {r:?}");
        has(&r.stderr, &format!("`{bad}` is not a run store"));
        has(&r.stderr, "hint: write it as s3://BUCKET/PREFIX");
    }
    // The same from the environment.
    let mut cmd = sb.cmd(&["runs"]);
    moto.apply_env(&mut cmd)
        .env("STEPWISE_STORE", "gs://elsewhere");
    let r = Ran::of(&mut cmd);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!sb.path().join("ran").exists(), "the step ran");
}

/// Puts `body` (a file's content) at `key` in the bucket, with the aws CLI.
fn put(moto: &Moto, sb: &Sandbox, bucket: &str, key: &str, body: &[u8]) {
    let file = sb.path().join("body");
    std::fs::write(&file, body).unwrap();
    let to = format!("s3://{bucket}/{key}");
    aws::cli(moto, &["s3", "cp", file.to_str().unwrap(), &to]);
}

#[test]
fn a_lock_object_that_is_not_one_or_too_big_is_refused_and_taken_away_only_by_force() {
    let moto = Moto::start();
    cli_json(&moto, &["s3api", "create-bucket", "--bucket", "runs"]);
    let sb = Sandbox::new();
    sb.write("rb.yaml", RUNBOOK);
    fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["--store", "s3://runs/team"]].concat()
    }
    let r = run(
        &sb,
        &moto,
        None,
        &with(&["run", "rb.yaml", "--plain", "--name", "r"]),
    );
    assert_eq!(r.code, 0, "{r:?}");
    // A lock written by hand, with quotes, an escape sequence and a command in it.
    let hostile = b"{\"user\": \"$(touch pwned)\x1b[2J\", \"pid\": \"not a number\"";
    for body in [&hostile[..], &vec![b'x'; 65 * 1024 * 1024][..]] {
        put(&moto, &sb, "runs", "team/runs/r/lock", body);
        let r = run(&sb, &moto, None, &with(&["resume", "r", "--plain"]));
        assert_eq!(r.code, 4, "{r:?}");
        has(&r.stderr, "s3://runs/team/runs/r/lock");
        has(&r.stderr, "`stepwise unlock r --force`");
        assert!(!r.stderr.contains('\x1b'), "{r:?}");
        // Without --force it is not taken away; with it, it is, and said so.
        let r = run(&sb, &moto, None, &with(&["unlock", "r"]));
        assert_eq!(r.code, 4, "{r:?}");
        let r = run(&sb, &moto, None, &with(&["unlock", "r", "--force"]));
        assert_eq!(r.code, 0, "{r:?}");
        has(
            &r.stdout,
            "took the lock from a lock object that cannot be read",
        );
        let r = run(&sb, &moto, None, &with(&["log", "r", "--json"]));
        has(&r.stdout, "\"run.unlocked\"");
    }
    assert!(!sb.path().join("pwned").exists());
    let r = run(&sb, &moto, None, &with(&["resume", "r", "--plain"]));
    assert_eq!(r.code, 0, "{r:?}");
}
