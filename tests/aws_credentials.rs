//! Where AWS steps act: a role assumed for the runbook (with a session duration and an MFA
//! code), the region flag, and the identity shown before the first AWS step. Against moto,
//! which lets any role be assumed.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use awsh::{expect, has, start};
use cli::Sandbox;

const ADMIN: &str = r#"
stepwise: 1
id: admin
title: Act as the deployment admin
inputs:
  account: { default: "123456789012" }
aws:
  assume_role: "arn:aws:iam::{{ inputs.account }}:role/jupyterhub-admin"
  session_duration: 1h
  account: "{{ inputs.account }}"
steps:
  - id: who
    title: Who are we
    aws: sts.get_caller_identity
"#;

#[test]
fn the_runbook_role_is_assumed_for_aws_steps() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let r = start(&sb, moto, ADMIN, "a", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "AWS: acting as arn:aws:sts::123456789012:assumed-role/jupyterhub-admin/stepwise in account 123456789012 (us-east-1)",
    );
    let st = sb.state("a");
    assert_eq!(
        st["steps"]["who"]["outputs"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/jupyterhub-admin/stepwise"
    );
    // The region flag is honoured.
    let r = start(&sb, moto, ADMIN, "b", &["--region", "eu-west-1"]);
    expect(&r, 0);
    has(&r.stdout, "in account 123456789012 (eu-west-1)");
}

#[test]
fn a_role_that_needs_mfa_asks_for_the_code() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let rb = ADMIN.replace(
        "  session_duration: 1h\n",
        "  session_duration: 1h\n  mfa_serial: \"arn:aws:iam::{{ inputs.account }}:mfa/ada\"\n",
    ) + "  - id: again\n    title: Still us\n    aws: sts.get_caller_identity\n";
    // No terminal and no code: the step fails, saying how to give the code; nothing is lost.
    let r = start(&sb, moto, &rb, "m", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        "aws.assume_role: MfaCodeNeeded: assuming arn:aws:iam::123456789012:role/jupyterhub-admin needs a code from the MFA device arn:aws:iam::123456789012:mfa/ada, and there is no terminal to ask for it",
    );
    has(
        &r.stdout,
        "hint: give the device's current code with `--mfa-code CODE`",
    );
    // Resumed with the code: the role is assumed and the step runs.
    let r = awsh::run(&sb, moto, &["resume", "m", "--mfa-code", "123456"]);
    expect(&r, 0);
    has(
        &r.stdout,
        "AWS: acting as arn:aws:sts::123456789012:assumed-role/jupyterhub-admin/stepwise",
    );
    assert_eq!(sb.status_of("m", "who"), "succeeded");
    // The code is used once: the second step acts through the same session.
    assert_eq!(sb.status_of("m", "again"), "succeeded");
}

#[test]
fn validation_knows_the_aws_section_and_the_flag() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", ADMIN);
    let r = sb.run(&[
        "run",
        "rb.yaml",
        "--dry-run",
        "--mfa-code",
        "123456",
        "--plain",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    has(&r.stdout, "\"operation\": \"GetCallerIdentity\"");
}
