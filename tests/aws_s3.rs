//! s3.get_object through the real binary, in plain mode, against moto, checked with the `aws`
//! CLI: fetching a deployment's `.sops.yaml`.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use awsh::{cli, dry, expect, has, start};
use cli::Sandbox;

const SOPS: &str = "creation_rules:\n  - kms: arn:aws:kms:us-east-1:123456789012:key/abc\n";

const RB: &str = r#"
stepwise: 1
id: sops-config
title: Fetch the sops configuration
inputs:
  deployment: { default: roman }
steps:
  - id: sops
    title: Fetch .sops.yaml
    aws: s3.get_object
    with:
      bucket: "{{ inputs.deployment }}-sops-config"
      key: .sops.yaml
      path: "deployments/{{ inputs.deployment }}/.sops.yaml"
  - id: show
    title: Show it
    run: cat "{{ steps.sops.path }}"
"#;

#[test]
fn fetching_the_sops_configuration() {
    let (_guard, moto) = moto::shared_reset();
    cli(
        moto,
        &["s3api", "create-bucket", "--bucket", "roman-sops-config"],
    );
    let sb = Sandbox::new();
    sb.write("upload/.sops.yaml", SOPS);
    let upload = sb.path().join("upload/.sops.yaml");
    cli(
        moto,
        &[
            "s3",
            "cp",
            upload.to_str().unwrap(),
            "s3://roman-sops-config/.sops.yaml",
        ],
    );

    let d = dry(&sb, moto, RB, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"GetObject\"");
    has(&d.stdout, "\"Bucket\": \"roman-sops-config\"");
    has(&d.stdout, "\"writes\": \"deployments/roman/.sops.yaml\"");
    let d = dry(&sb, moto, RB, true);
    has(
        &d.stdout,
        &format!(
            "=> would write deployments/roman/.sops.yaml ({} bytes, a new file)",
            SOPS.len()
        ),
    );

    let r = start(&sb, moto, RB, "s1", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        &format!(
            "wrote s3://roman-sops-config/.sops.yaml to deployments/roman/.sops.yaml ({} bytes)",
            SOPS.len()
        ),
    );
    has(&r.stdout, "| creation_rules:");
    assert_eq!(sb.read("deployments/roman/.sops.yaml"), SOPS);
    let fetched = cli(
        moto,
        &["s3", "cp", "s3://roman-sops-config/.sops.yaml", "-"],
    );
    assert_eq!(fetched, sb.read("deployments/roman/.sops.yaml"));

    // Again: the file is already as wanted.
    let r = start(&sb, moto, RB, "s2", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "deployments/roman/.sops.yaml already has the content of s3://roman-sops-config/.sops.yaml",
    );
    assert_eq!(sb.status_of("s2", "sops"), "satisfied");

    // Edited by hand: the dry run shows the difference, a run puts the object's content back.
    sb.write(
        "deployments/roman/.sops.yaml",
        &SOPS.replace("key/abc", "key/local"),
    );
    let d = dry(&sb, moto, RB, true);
    has(&d.stdout, "=> would change deployments/roman/.sops.yaml:");
    awsh::diff_line(&d.stdout, '-', "key/local");
    awsh::diff_line(&d.stdout, '+', "key/abc");
    let r = start(&sb, moto, RB, "s3", &[]);
    expect(&r, 0);
    assert_eq!(sb.read("deployments/roman/.sops.yaml"), SOPS);

    // No such object: said so, and nothing is written.
    let r = start(&sb, moto, RB, "s4", &["--input", "deployment=jwst"]);
    expect(&r, 1);
    has(&r.stdout, "s3.get_object: ");
    assert!(!sb.path().join("deployments/jwst").exists());
    cli(
        moto,
        &["s3api", "create-bucket", "--bucket", "jwst-sops-config"],
    );
    let r = start(&sb, moto, RB, "s5", &["--input", "deployment=jwst"]);
    expect(&r, 1);
    has(
        &r.stdout,
        "s3.get_object: NoSuchKey: s3://jwst-sops-config/.sops.yaml does not exist",
    );
}

#[test]
fn resuming_elsewhere_writes_into_the_run_s_folder() {
    let (_guard, moto) = moto::shared_reset();
    cli(
        moto,
        &["s3api", "create-bucket", "--bucket", "roman-sops-config"],
    );
    let sb = Sandbox::new();
    // The object is not there yet: the step fails.
    let r = start(&sb, moto, RB, "r", &[]);
    expect(&r, 1);
    sb.write("upload/.sops.yaml", SOPS);
    let upload = sb.path().join("upload/.sops.yaml");
    cli(
        moto,
        &[
            "s3",
            "cp",
            upload.to_str().unwrap(),
            "s3://roman-sops-config/.sops.yaml",
        ],
    );
    // Resumed from another directory.
    std::fs::create_dir_all(sb.path().join("elsewhere")).unwrap();
    let mut cmd = sb.cmd(&["resume", "r", "--plain"]);
    cmd.current_dir(sb.path().join("elsewhere"));
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sb.read("deployments/roman/.sops.yaml"), SOPS);
    assert!(!sb.path().join("elsewhere/deployments").exists());
}
