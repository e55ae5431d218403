//! IAM actions through the real binary, in plain mode, against moto; what they did is checked
//! with the `aws` CLI. For each action: it applies, a second run is satisfied (changes
//! nothing), a dry run shows the request (and with `--with-checks`, what it would do), and a
//! failure says what went wrong and what to do.

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
    format!("stepwise: 1\nid: iam-test\ntitle: IAM test\nsteps:\n{steps}")
}

#[test]
fn create_user_with_console_password_and_tags() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let rb = runbook(
        r#"
  - id: user
    title: Create the user
    aws: iam.create_user
    with:
      user_name: ada
      console_password: true
      tags: { team: platform, cost-center: 1234 }
  - id: use
    title: Use the outputs
    run: echo "arn={{ steps.user.arn }} pw={{ steps.user.password | shell_quote }}"
"#,
    );

    // Dry run: the request, with the generated password announced, nothing sent.
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"CreateUser\"");
    has(&d.stdout, "\"UserName\": \"ada\"");
    has(&d.stdout, "\"Key\": \"cost-center\"");
    has(&d.stdout, "\"operation\": \"CreateLoginProfile\"");
    let d = dry(&sb, moto, &rb, true);
    expect(&d, 0);
    has(
        &d.stdout,
        "=> would create user ada with a console password",
    );

    let r = start(&sb, moto, &rb, "u1", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "created user arn:aws:iam::123456789012:user/ada with a console password",
    );
    // The password is a secret output: masked on screen, never on disk. (In a script the value
    // is data already, so `shell_quote` adds no quotes to it.)
    has(&r.stdout, "pw=********\n");
    let user = cli_json(moto, &["iam", "get-user", "--user-name", "ada"]);
    assert_eq!(user["User"]["Arn"], "arn:aws:iam::123456789012:user/ada");
    let tags = cli_json(moto, &["iam", "list-user-tags", "--user-name", "ada"]);
    has(&tags.to_string(), r#"{"Key":"cost-center","Value":"1234"}"#);
    cli(moto, &["iam", "get-login-profile", "--user-name", "ada"]);
    let state = sb.state("u1");
    assert_eq!(state["steps"]["user"]["status"], "succeeded");
    assert_eq!(state["steps"]["user"]["secret_outputs"][0], "password");
    assert_eq!(state["steps"]["user"]["outputs"]["user_name"], "ada");
    assert!(state["steps"]["user"]["outputs"].get("password").is_none());
    assert!(sb.everything_on_disk("u1").contains("pw=********\n"));

    // Again: the user and its login exist, nothing changes, no new password.
    let again = rb.split("  - id: use\n").next().unwrap().to_string();
    let r = start(&sb, moto, &again, "u2", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "user arn:aws:iam::123456789012:user/ada already exists: nothing to do",
    );
    assert_eq!(sb.status_of("u2", "user"), "satisfied");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> already as wanted: user arn:aws:iam::123456789012:user/ada exists with a console password",
    );
}

#[test]
fn parameters_are_checked_at_validation_with_where_they_are() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        &runbook(
            r#"
  - id: user
    title: Create the user
    aws: iam.create_user
    with:
      user_nme: ada
  - id: flag
    title: A wrong type
    aws: iam.create_user
    with:
      user_name: bob
      console_password: maybe
  - id: missing
    title: A missing parameter
    aws: iam.add_user_to_group
    with:
      user_name: bob
  - id: fine
    title: Templates stand for values until they are resolved
    aws: iam.check_access_key_age
    with:
      user_name: bob
      max_age: "{{ env.MAX_AGE }}"
"#,
        ),
    );
    let r = sb.run(&["validate", "rb.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    let all = format!("{}{}", r.stdout, r.stderr);
    has(&all, "rb.yaml:10:7");
    has(&all, "iam.create_user: unknown parameter `user_nme`");
    has(&all, "did you mean `user_name`?");
    has(&all, "rb.yaml:16:25");
    has(
        &all,
        "iam.create_user: wrong type: found `maybe`, expected `true` or `false`",
    );
    has(
        &all,
        "iam.add_user_to_group: missing parameter `group_name`",
    );
    assert!(!all.contains("iam.check_access_key_age"), "{all}");
}

#[test]
fn add_user_to_group_and_check_membership() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    cli(moto, &["iam", "create-user", "--user-name", "deployer"]);
    cli(
        moto,
        &["iam", "create-group", "--group-name", "SMCE-ProjectAdmins"],
    );
    cli(
        moto,
        &[
            "iam",
            "create-group",
            "--group-name",
            "SMCE-UserRestrictions",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "add-user-to-group",
            "--user-name",
            "deployer",
            "--group-name",
            "SMCE-UserRestrictions",
        ],
    );
    let rb = runbook(
        r#"
  - id: admins
    title: Make the deployer an admin
    aws: iam.add_user_to_group
    with: { user_name: deployer, group_name: SMCE-ProjectAdmins }
  - id: is-admin
    title: Check it is
    aws: iam.user_in_group
    with: { user_name: deployer, group_name: SMCE-ProjectAdmins }
"#,
    );
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"AddUserToGroup\"");
    has(&d.stdout, "\"GroupName\": \"SMCE-ProjectAdmins\"");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> would add deployer to SMCE-ProjectAdmins (now in: SMCE-UserRestrictions)",
    );
    has(
        &d.stdout,
        "=> check does not pass now: deployer is not in SMCE-ProjectAdmins yet",
    );

    let r = start(&sb, moto, &rb, "g1", &[]);
    expect(&r, 0);
    has(&r.stdout, "added deployer to SMCE-ProjectAdmins");
    has(&r.stdout, "deployer is in SMCE-ProjectAdmins, as wanted");
    let groups = cli_json(
        moto,
        &["iam", "list-groups-for-user", "--user-name", "deployer"],
    );
    has(&groups.to_string(), "\"GroupName\":\"SMCE-ProjectAdmins\"");
    assert_eq!(
        sb.state("g1")["steps"]["is-admin"]["outputs"]["member"],
        "true"
    );

    let r = start(&sb, moto, &rb, "g2", &[]);
    expect(&r, 0);
    has(&r.stdout, "deployer is already in SMCE-ProjectAdmins");
    assert_eq!(sb.status_of("g2", "admins"), "satisfied");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> already as wanted: deployer is in SMCE-ProjectAdmins",
    );
    has(
        &d.stdout,
        "=> check passes now: deployer is in SMCE-ProjectAdmins, as wanted",
    );

    // Failure: a user that does not exist.
    let r = start(
        &sb,
        moto,
        &runbook(
            "  - id: add\n    title: Add\n    aws: iam.add_user_to_group\n    with: { user_name: nobody, group_name: SMCE-ProjectAdmins }\n",
        ),
        "g3",
        &[],
    );
    expect(&r, 1);
    has(&r.stdout, "iam.add_user_to_group: NoSuchEntity:");
    has(&r.stdout, "hint: check the name");
}

#[test]
fn waiting_for_the_mfa_exemption_polls_until_the_user_leaves_the_group() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    cli(
        moto,
        &[
            "iam",
            "create-user",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "create-group",
            "--group-name",
            "SMCE-UserRestrictions",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "add-user-to-group",
            "--user-name",
            "hub-continuous-deployer",
            "--group-name",
            "SMCE-UserRestrictions",
        ],
    );
    let rb = runbook(
        r#"
  - id: exempt
    title: Wait for the MFA exemption
    aws: iam.user_in_group
    with:
      user_name: hub-continuous-deployer
      group_name: SMCE-UserRestrictions
      member: false
    wait: { every: 1s, timeout: 2s }
"#,
    );
    // Still in the group: polled, then failed with what is wrong.
    let r = start(&sb, moto, &rb, "w1", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        "hub-continuous-deployer is still in SMCE-UserRestrictions (try 1",
    );
    has(
        &r.stdout,
        "iam.user_in_group: CheckFailed: hub-continuous-deployer is still in SMCE-UserRestrictions",
    );
    has(&r.stdout, "still not passing after waiting 2s");
    // The exemption is processed; resuming checks again and passes.
    cli(
        moto,
        &[
            "iam",
            "remove-user-from-group",
            "--user-name",
            "hub-continuous-deployer",
            "--group-name",
            "SMCE-UserRestrictions",
        ],
    );
    let r = awsh::run(&sb, moto, &["resume", "w1"]);
    expect(&r, 0);
    has(
        &r.stdout,
        "hub-continuous-deployer is not in SMCE-UserRestrictions, as wanted",
    );
    assert_eq!(
        sb.state("w1")["steps"]["exempt"]["outputs"]["member"],
        "false"
    );
}

#[test]
fn put_user_policy_compares_documents() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    cli(
        moto,
        &[
            "iam",
            "create-user",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    let rb = |resource: &str| {
        runbook(&format!(
            r#"
  - id: policy
    title: Let the deployer read the cluster
    aws: iam.put_user_policy
    with:
      user_name: hub-continuous-deployer
      policy_name: eks-describe
      policy_document:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: eks:DescribeCluster
            Resource: "{resource}"
"#
        ))
    };
    let one = rb("arn:aws:eks:us-east-1:123456789012:cluster/hub");
    let d = dry(&sb, moto, &one, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"PutUserPolicy\"");
    has(&d.stdout, "\"Action\": \"eks:DescribeCluster\"");
    let d = dry(&sb, moto, &one, true);
    has(
        &d.stdout,
        "=> would add the inline policy eks-describe to hub-continuous-deployer",
    );

    let r = start(&sb, moto, &one, "p1", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "added the inline policy eks-describe of hub-continuous-deployer",
    );
    let got = cli_json(
        moto,
        &[
            "iam",
            "get-user-policy",
            "--user-name",
            "hub-continuous-deployer",
            "--policy-name",
            "eks-describe",
        ],
    );
    has(&got["PolicyDocument"].to_string(), "cluster/hub");

    // The same document, written as JSON text this time: satisfied.
    let as_text = runbook(
        r#"
  - id: policy
    title: Same policy as JSON text
    aws: iam.put_user_policy
    with:
      user_name: hub-continuous-deployer
      policy_name: eks-describe
      policy_document: '{"Statement": [{"Resource": "arn:aws:eks:us-east-1:123456789012:cluster/hub", "Action": ["eks:DescribeCluster"], "Effect": "Allow"}], "Version": "2012-10-17"}'
"#,
    );
    let r = start(&sb, moto, &as_text, "p2", &[]);
    expect(&r, 0);
    assert_eq!(sb.status_of("p2", "policy"), "satisfied");

    // Another resource: the dry run shows the difference.
    let two = rb("arn:aws:eks:us-east-1:123456789012:cluster/other");
    let d = dry(&sb, moto, &two, true);
    has(
        &d.stdout,
        "=> would change the inline policy eks-describe of hub-continuous-deployer:",
    );
    awsh::diff_line(
        &d.stdout,
        '-',
        "\"Resource\": \"arn:aws:eks:us-east-1:123456789012:cluster/hub\"",
    );
    awsh::diff_line(
        &d.stdout,
        '+',
        "\"Resource\": \"arn:aws:eks:us-east-1:123456789012:cluster/other\"",
    );

    // Failure: a policy document that is not JSON is refused at validation.
    sb.write(
        "bad.yaml",
        &runbook("  - id: p\n    title: P\n    aws: iam.put_user_policy\n    with: { user_name: a, policy_name: b, policy_document: '{not json' }\n"),
    );
    let r = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(r.code, 2);
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "iam.put_user_policy: not a valid JSON document",
    );
}

#[test]
fn access_keys_are_created_checked_deactivated_and_deleted() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    cli(
        moto,
        &[
            "iam",
            "create-user",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    let create = runbook(
        r#"
  - id: key
    title: New key for the deployer
    aws: iam.create_access_key
    with: { user_name: hub-continuous-deployer }
  - id: show
    title: Show it
    run: echo "id={{ steps.key.access_key_id }} secret={{ steps.key.secret_access_key }}"
"#,
    );
    let d = dry(&sb, moto, &create, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"CreateAccessKey\"");
    let d = dry(&sb, moto, &create, true);
    has(
        &d.stdout,
        "=> would create an access key for hub-continuous-deployer (it has none)",
    );

    let r = start(&sb, moto, &create, "k1", &[]);
    expect(&r, 0);
    has(&r.stdout, "secret=********");
    let st = sb.state("k1");
    let first = st["steps"]["key"]["outputs"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first.starts_with("AKIA"), "{first}");
    assert_eq!(st["steps"]["key"]["secret_outputs"][0], "secret_access_key");
    let listed = cli_json(
        moto,
        &[
            "iam",
            "list-access-keys",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    has(&listed.to_string(), &first);

    // Not idempotent by nature: a second run makes a second key; a third is refused with the
    // keys named.
    let r = start(&sb, moto, &create, "k2", &[]);
    expect(&r, 0);
    let d = dry(&sb, moto, &create, true);
    has(
        &d.stdout,
        "=> would refuse: hub-continuous-deployer already has 2 access keys, the most AWS allows:",
    );
    let r = start(&sb, moto, &create, "k3", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        "iam.create_access_key: LimitExceeded: hub-continuous-deployer already has 2 access keys, the most AWS allows:",
    );
    has(&r.stdout, &format!("{first} (active, created "));
    has(&r.stdout, "0 days old)");
    has(
        &r.stdout,
        "hint: deactivate and delete the key no longer in use",
    );

    // The age check: new keys are fine.
    let age = runbook(
        r#"
  - id: age
    title: How old is the key
    aws: iam.check_access_key_age
    with: { user_name: hub-continuous-deployer }
"#,
    );
    let d = dry(&sb, moto, &age, false);
    has(&d.stdout, "\"operation\": \"ListAccessKeys\"");
    has(&d.stdout, "\"max_age\": \"60d\"");
    let r = start(&sb, moto, &age, "a1", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "is 0 days old: 60 days left before the 60-day limit",
    );
    let st = sb.state("a1");
    assert_eq!(st["steps"]["age"]["outputs"]["status"], "ok");
    assert_eq!(st["steps"]["age"]["outputs"]["days_left"], "60");
    has(
        st["steps"]["age"]["outputs"]["keys"].as_str().unwrap(),
        &first,
    );
    // A limit of 0 days: expired, the step fails and says how to rotate.
    let r = start(
        &sb,
        moto,
        &age.replace(
            "{ user_name: hub-continuous-deployer }",
            "{ user_name: hub-continuous-deployer, max_age: 12h }",
        ),
        "a2",
        &[],
    );
    expect(&r, 1);
    has(&r.stdout, "iam.check_access_key_age: CheckFailed:");
    has(&r.stdout, "it reached the 0-day limit; rotate it now");

    // Deactivate the first key, then again (satisfied), and an unknown key.
    let deactivate = runbook(&format!(
        "  - id: off\n    title: Deactivate\n    aws: iam.deactivate_access_key\n    with: {{ user_name: hub-continuous-deployer, access_key_id: {first} }}\n"
    ));
    let d = dry(&sb, moto, &deactivate, false);
    has(&d.stdout, "\"Status\": \"Inactive\"");
    let d = dry(&sb, moto, &deactivate, true);
    has(
        &d.stdout,
        &format!("=> would deactivate key {first} of hub-continuous-deployer"),
    );
    let r = start(&sb, moto, &deactivate, "d1", &[]);
    expect(&r, 0);
    has(&r.stdout, &format!("deactivated key {first}"));
    let listed = cli_json(
        moto,
        &[
            "iam",
            "list-access-keys",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    let meta = listed["AccessKeyMetadata"].as_array().unwrap();
    let k = meta
        .iter()
        .find(|k| k["AccessKeyId"] == first.as_str())
        .unwrap();
    assert_eq!(k["Status"], "Inactive");
    let r = start(&sb, moto, &deactivate, "d2", &[]);
    expect(&r, 0);
    assert_eq!(sb.status_of("d2", "off"), "satisfied");
    let r = start(
        &sb,
        moto,
        &deactivate.replace(&first, "AKIANOSUCHKEY0000000"),
        "d3",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "iam.deactivate_access_key: NoSuchEntity: hub-continuous-deployer has no access key AKIANOSUCHKEY0000000 (its keys: ",
    );

    // Delete it, then again (already gone).
    let delete = deactivate.replace("iam.deactivate_access_key", "iam.delete_access_key");
    let d = dry(&sb, moto, &delete, false);
    has(&d.stdout, "\"operation\": \"DeleteAccessKey\"");
    let d = dry(&sb, moto, &delete, true);
    has(
        &d.stdout,
        &format!("=> would delete key {first} of hub-continuous-deployer (inactive"),
    );
    let r = start(&sb, moto, &delete, "x1", &[]);
    expect(&r, 0);
    let listed = cli(
        moto,
        &[
            "iam",
            "list-access-keys",
            "--user-name",
            "hub-continuous-deployer",
        ],
    );
    assert!(!listed.contains(&first), "{listed}");
    let r = start(&sb, moto, &delete, "x2", &[]);
    expect(&r, 0);
    has(&r.stdout, "is already gone");
    assert_eq!(sb.status_of("x2", "off"), "satisfied");
    // Failure: a missing parameter, found before anything runs.
    let r = start(
        &sb,
        moto,
        &delete.replace("user_name: hub-continuous-deployer, ", ""),
        "x3",
        &[],
    );
    expect(&r, 2);
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "iam.delete_access_key: missing parameter `user_name`",
    );

    // Nothing secret reached the disk.
    for run in ["k1", "k2"] {
        let disk = sb.everything_on_disk(run);
        assert!(
            !disk.contains("secret=") || disk.contains("secret=********"),
            "{disk}"
        );
    }
}

const TRUST: &str = r#"
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: ec2.amazonaws.com }
            Action: sts:AssumeRole
"#;

#[test]
fn roles_policies_and_instance_profiles() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let rb = runbook(&format!(
        r#"
  - id: role
    title: The CI node role
    aws: iam.create_role
    with:
      role_name: ci-node-instance
      description: CI nodes
      max_session_duration: 2h
      trust_policy:{TRUST}
  - id: policies
    title: Let it use SSM
    aws: iam.attach_role_policy
    with:
      role_name: ci-node-instance
      policy_arns: [arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]
  - id: profile
    title: The instance profile
    aws: iam.create_instance_profile
    with: {{ name: ci-node-instance, role_name: "{{{{ steps.role.role_name }}}}" }}
"#
    ));
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"CreateRole\"");
    has(&d.stdout, "\"MaxSessionDuration\": 7200");
    has(
        &d.stdout,
        "\"PolicyArn\": \"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\"",
    );
    has(&d.stdout, "\"RoleName\": \"<steps.role.role_name>\"");
    let d = dry(&sb, moto, &rb, true);
    has(&d.stdout, "=> would create role ci-node-instance");
    has(
        &d.stdout,
        "=> not checked: it needs values that earlier steps would produce",
    );

    let r = start(&sb, moto, &rb, "r1", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "created role arn:aws:iam::123456789012:role/ci-node-instance",
    );
    has(
        &r.stdout,
        "attached to ci-node-instance: arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    );
    has(
        &r.stdout,
        "created instance profile arn:aws:iam::123456789012:instance-profile/ci-node-instance with role ci-node-instance",
    );
    let role = cli_json(
        moto,
        &["iam", "get-role", "--role-name", "ci-node-instance"],
    );
    assert_eq!(role["Role"]["MaxSessionDuration"], 7200);
    has(
        &role["Role"]["AssumeRolePolicyDocument"].to_string(),
        "ec2.amazonaws.com",
    );
    let attached = cli(
        moto,
        &[
            "iam",
            "list-attached-role-policies",
            "--role-name",
            "ci-node-instance",
        ],
    );
    has(&attached, "AmazonSSMManagedInstanceCore");
    let ip = cli_json(
        moto,
        &[
            "iam",
            "get-instance-profile",
            "--instance-profile-name",
            "ci-node-instance",
        ],
    );
    assert_eq!(
        ip["InstanceProfile"]["Roles"][0]["RoleName"],
        "ci-node-instance"
    );

    let r = start(&sb, moto, &rb, "r2", &[]);
    expect(&r, 0);
    for step in ["role", "policies", "profile"] {
        assert_eq!(sb.status_of("r2", step), "satisfied", "{}", r.stdout);
    }
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        "=> already as wanted: role arn:aws:iam::123456789012:role/ci-node-instance exists with this trust policy",
    );
    has(
        &d.stdout,
        "=> already as wanted: all policies are attached to ci-node-instance",
    );

    // Another trust policy: refused with the difference, and changed with `update: true`.
    let lambda = rb.replace("ec2.amazonaws.com", "lambda.amazonaws.com");
    let r = start(&sb, moto, &lambda, "r3", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        "iam.create_role: RoleDiffers: role arn:aws:iam::123456789012:role/ci-node-instance exists with other settings:",
    );
    awsh::diff_line(&r.stdout, '-', "\"Service\": \"ec2.amazonaws.com\"");
    awsh::diff_line(&r.stdout, '+', "\"Service\": \"lambda.amazonaws.com\"");
    has(&r.stdout, "hint: give the step `update: true`");
    let updating = lambda.replace(
        "description: CI nodes",
        "description: CI nodes\n      update: true",
    );
    let d = dry(&sb, moto, &updating, true);
    has(
        &d.stdout,
        "=> would update role arn:aws:iam::123456789012:role/ci-node-instance:",
    );
    let r = start(&sb, moto, &updating, "r4", &[]);
    expect(&r, 0);
    has(
        &r.stdout,
        "updated role arn:aws:iam::123456789012:role/ci-node-instance",
    );
    let role = cli_json(
        moto,
        &["iam", "get-role", "--role-name", "ci-node-instance"],
    );
    has(
        &role["Role"]["AssumeRolePolicyDocument"].to_string(),
        "lambda.amazonaws.com",
    );

    // An instance profile that holds another role is refused.
    cli(
        moto,
        &[
            "iam",
            "create-role",
            "--role-name",
            "other",
            "--assume-role-policy-document",
            "{}",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "taken",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "taken",
            "--role-name",
            "other",
        ],
    );
    let r = start(
        &sb,
        moto,
        &runbook(
            "  - id: p\n    title: P\n    aws: iam.create_instance_profile\n    with: { name: taken, role_name: ci-node-instance }\n",
        ),
        "r5",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "iam.create_instance_profile: InstanceProfileHasOtherRole: instance profile arn:aws:iam::123456789012:instance-profile/taken holds the role other, not ci-node-instance",
    );

    // Policy ARNs are checked at validation.
    let r = start(
        &sb,
        moto,
        &rb.replace(
            "[arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "[AmazonSSMManagedInstanceCore]",
        ),
        "r6",
        &[],
    );
    expect(&r, 2);
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "iam.attach_role_policy: policy_arns: `AmazonSSMManagedInstanceCore` is not an ARN",
    );
}
