//! SSM actions through the real binary, in plain mode, against moto, checked with the `aws`
//! CLI. moto runs no commands (it reports Success with no output) and does not implement
//! DescribeInstanceInformation; the waiting logic is tested with fakes in aws_fakes.rs.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use awsh::{cli, cli_json, dry, expect, has, start};
use cli::Sandbox;

fn runbook(steps: &str) -> String {
    format!("stepwise: 1\nid: ssm-test\ntitle: SSM test\nsteps:\n{steps}")
}

#[test]
fn run_command_sends_the_commands_and_waits_for_them() {
    let (_guard, moto) = moto::shared_reset();
    let id = awsh::instance(moto);
    let sb = Sandbox::new();
    let rb = runbook(&format!(
        r#"
  - id: setup
    title: Prepare the CI node
    aws: ssm.run_command
    with:
      instance_id: {id}
      commands: |
        sudo -u ec2-user -i git clone https://github.com/spacetelescope/jupyterhub-deploy.git
        echo done
      timeout: 2m
"#
    ));
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"SendCommand\"");
    has(&d.stdout, "\"DocumentName\": \"AWS-RunShellScript\"");
    has(&d.stdout, "\"echo done\"");
    has(&d.stdout, "\"120\"");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        &format!("=> would run 2 commands on {id} (its SSM agent could not be read: "),
    );

    let r = start(&sb, moto, &rb, "c1", &[]);
    expect(&r, 0);
    has(&r.stdout, &format!(" on {id} succeeded"));
    let st = sb.state("c1");
    assert_eq!(st["steps"]["setup"]["outputs"]["status"], "Success");
    let command = st["steps"]["setup"]["outputs"]["command_id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = cli_json(moto, &["ssm", "list-commands", "--command-id", &command]);
    let c = &listed["Commands"][0];
    assert_eq!(c["DocumentName"], "AWS-RunShellScript");
    assert_eq!(c["Parameters"]["commands"][1], "echo done");
    has(&c["InstanceIds"].to_string(), &id);
    // Not idempotent: a second run sends the commands again.
    let r = start(&sb, moto, &rb, "c2", &[]);
    expect(&r, 0);
    assert_eq!(sb.status_of("c2", "setup"), "succeeded");
    assert_ne!(
        sb.state("c2")["steps"]["setup"]["outputs"]["command_id"],
        command.as_str()
    );
    // No commands: refused at validation.
    let r = start(
        &sb,
        moto,
        &rb.replace("commands: |", "commands: []\n      x: |"),
        "c3",
        &[],
    );
    expect(&r, 2);
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "ssm.run_command: unknown parameter `x`",
    );
    let r = start(
        &sb,
        moto,
        &runbook(&format!(
            "  - id: s\n    title: S\n    aws: ssm.run_command\n    with: {{ instance_id: {id}, commands: [] }}\n"
        )),
        "c4",
        &[],
    );
    expect(&r, 2);
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "ssm.run_command: commands: give at least one command",
    );
}

#[test]
fn wait_online_says_what_went_wrong_when_ssm_fails() {
    let (_guard, moto) = moto::shared_reset();
    let id = awsh::instance(moto);
    let sb = Sandbox::new();
    let rb = runbook(&format!(
        "  - id: online\n    title: Wait for the agent\n    aws: ssm.wait_online\n    with: {{ instance_id: {id}, timeout: 1m }}\n"
    ));
    let d = dry(&sb, moto, &rb, false);
    has(&d.stdout, "\"operation\": \"DescribeInstanceInformation\"");
    has(&d.stdout, "\"PingStatus\": \"Online\"");
    // moto answers DescribeInstanceInformation with HTTP 500: a server error, said so.
    let r = start(&sb, moto, &rb, "w", &[]);
    expect(&r, 1);
    has(&r.stdout, "ssm.wait_online: InternalFailure: ");
    has(&r.stdout, "hint: AWS had an error on its side");
}

#[test]
fn start_session_says_the_plugin_is_missing_and_how_to_install_it() {
    let (_guard, moto) = moto::shared_reset();
    let id = awsh::instance(moto);
    let sb = Sandbox::new();
    let rb = runbook(&format!(
        "  - id: login\n    title: Log in to the CI node\n    aws: ssm.start_session\n    with: {{ instance_id: {id} }}\n"
    ));
    let d = dry(&sb, moto, &rb, false);
    has(
        &d.stdout,
        &format!(
            "\"runs\": \"aws ssm start-session --target {id} --region (the session's region)\""
        ),
    );
    // The instance's region, when the runbook knows it, is in the command shown.
    let with_region = runbook(&format!(
        "  - id: login\n    title: Log in to the CI node\n    aws: ssm.start_session\n    with: {{ instance_id: {id}, region: eu-west-1 }}\n"
    ));
    let d = dry(&sb, moto, &with_region, false);
    has(
        &d.stdout,
        &format!("\"runs\": \"aws ssm start-session --target {id} --region eu-west-1\""),
    );
    // PATH with bash and the aws CLI but no session-manager-plugin.
    let aws_dir = std::path::Path::new(
        &String::from_utf8(
            std::process::Command::new("bash")
                .args(["-c", "command -v aws"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    )
    .parent()
    .unwrap()
    .to_path_buf();
    let path = format!("{}:/usr/bin:/bin", aws_dir.display());
    sb.write("rb.yaml", &rb);
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--name", "s", "--plain"]);
    moto.apply_env(&mut cmd);
    cmd.env("PATH", &path);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    has(
        &stdout,
        "ssm.start_session: SessionManagerPluginMissing: the Session Manager plugin (`session-manager-plugin`) is not on PATH",
    );
    has(
        &stdout,
        "hint: install it: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html",
    );
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--dry-run", "--with-checks", "--plain"]);
    moto.apply_env(&mut cmd);
    cmd.env("PATH", &path);
    let out = cmd.output().unwrap();
    has(
        &String::from_utf8_lossy(&out.stdout),
        "=> would refuse: ssm.start_session: SessionManagerPluginMissing",
    );

    // With a plugin there but no terminal: it says how to go on.
    let bin = sb.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    sb.write("bin/session-manager-plugin", "#!/bin/sh\nexit 0\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bin.join("session-manager-plugin"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = sb.cmd(&["run", "rb.yaml", "--name", "t", "--plain"]);
    moto.apply_env(&mut cmd);
    cmd.env("PATH", format!("{}:{path}", bin.display()));
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    has(
        &stdout,
        "ssm.start_session: NeedsTerminal: an SSM session needs a terminal, and there is none",
    );
    has(
        &stdout,
        &format!("`aws ssm start-session --target {id} --region us-east-1`"),
    );
    // The command a person is told to run uses the instance's region when it is given.
    sb.write("rb2.yaml", &with_region);
    let mut cmd = sb.cmd(&["run", "rb2.yaml", "--name", "u", "--plain"]);
    moto.apply_env(&mut cmd);
    cmd.env("PATH", format!("{}:{path}", bin.display()));
    let out = cmd.output().unwrap();
    has(
        &String::from_utf8_lossy(&out.stdout),
        &format!("`aws ssm start-session --target {id} --region eu-west-1`"),
    );
}

#[test]
fn parameters_are_read_and_written_once() {
    let (_guard, moto) = moto::shared_reset();
    cli(
        moto,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/hub/client-secret",
            "--value",
            "s3cr3t-from-mast",
            "--type",
            "SecureString",
        ],
    );
    let sb = Sandbox::new();
    let rb = runbook(
        r#"
  - id: secret
    title: Read the OAuth client secret
    aws: ssm.get_parameter
    with: { name: /hub/client-secret }
  - id: url
    title: Write the hub URL
    aws: ssm.put_parameter
    with: { name: /hub/url, value: "https://roman.science.example.org" }
  - id: copy
    title: Keep a copy of the secret
    aws: ssm.put_parameter
    with: { name: /hub/client-secret-copy, value: "{{ steps.secret.value }}", type: SecureString }
  - id: use
    title: Use it
    run: echo "secret={{ steps.secret.value }}"
"#,
    );
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"GetParameter\"");
    has(&d.stdout, "\"WithDecryption\": true");
    has(
        &d.stdout,
        "\"Value\": \"https://roman.science.example.org\"",
    );
    has(&d.stdout, "\"Value\": \"********\"");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> /hub/client-secret exists (SecureString, version 1)",
    );
    has(&d.stdout, "=> would create /hub/url (String)");

    let r = start(&sb, moto, &rb, "p1", &[]);
    expect(&r, 0);
    has(&r.stdout, "secret=********");
    assert!(!r.stdout.contains("s3cr3t-from-mast"), "{}", r.stdout);
    assert!(!sb.everything_on_disk("p1").contains("s3cr3t-from-mast"));
    let st = sb.state("p1");
    assert_eq!(st["steps"]["secret"]["outputs"]["type"], "SecureString");
    assert_eq!(st["steps"]["secret"]["secret_outputs"][0], "value");
    let got = cli_json(moto, &["ssm", "get-parameter", "--name", "/hub/url"]);
    assert_eq!(
        got["Parameter"]["Value"],
        "https://roman.science.example.org"
    );
    let got = cli_json(
        moto,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/hub/client-secret-copy",
            "--with-decryption",
        ],
    );
    assert_eq!(got["Parameter"]["Value"], "s3cr3t-from-mast");
    assert_eq!(got["Parameter"]["Type"], "SecureString");

    // Again: the values are there, nothing is written.
    let r = start(&sb, moto, &rb, "p2", &[]);
    expect(&r, 0);
    assert_eq!(sb.status_of("p2", "url"), "satisfied");
    assert_eq!(sb.status_of("p2", "copy"), "satisfied");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> already as wanted: /hub/url has this value (version 1)",
    );

    // Another value: refused unless `overwrite: true`, and both values shown in the plan.
    let other = rb.replace(
        "https://roman.science.example.org",
        "https://roman2.science.example.org",
    );
    let r = start(&sb, moto, &other, "p3", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        "ssm.put_parameter: ParameterAlreadyExists: /hub/url exists (String, version 1) with another value",
    );
    has(&r.stdout, "hint: give `overwrite: true`");
    let overwriting = other.replace(
        "value: \"https://roman2.science.example.org\" }",
        "value: \"https://roman2.science.example.org\", overwrite: true }",
    );
    let d = dry(&sb, moto, &overwriting, true);
    has(
        &d.stdout,
        "=> would change /hub/url (String version 1):\n      current: \"https://roman.science.example.org\"\n      wanted:  \"https://roman2.science.example.org\"",
    );
    let r = start(&sb, moto, &overwriting, "p4", &[]);
    expect(&r, 0);
    has(&r.stdout, "changed /hub/url (String, version 2)");

    // A parameter that is not there.
    let r = start(
        &sb,
        moto,
        &runbook(
            "  - id: g\n    title: G\n    aws: ssm.get_parameter\n    with: { name: /hub/nope }\n",
        ),
        "p5",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "ssm.get_parameter: ParameterNotFound: there is no parameter /hub/nope in us-east-1",
    );
}
