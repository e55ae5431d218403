//! EC2 actions through the real binary, in plain mode, against moto, checked with the `aws`
//! CLI; and the CI node runbook end to end.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use awsh::{cli, cli_json, dry, expect, has, start};
use cli::Sandbox;
use moto::Moto;

fn runbook(steps: &str) -> String {
    format!("stepwise: 1\nid: ec2-test\ntitle: EC2 test\nsteps:\n{steps}")
}

/// A VPC like an SMCE account's, with two private subnets, a public one and the worker group;
/// and the CI node's role and instance profile.
struct Network {
    vpc: String,
    private_a: String,
    group: String,
}

fn network(moto: &Moto) -> Network {
    let vpc = cli_json(
        moto,
        &[
            "ec2",
            "create-vpc",
            "--cidr-block",
            "10.0.0.0/16",
            "--tag-specifications",
            "ResourceType=vpc,Tags=[{Key=Name,Value=DEV-ROMAN}]",
        ],
    )["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = |cidr: &str, az: &str, name: &str| {
        cli_json(
            moto,
            &[
                "ec2",
                "create-subnet",
                "--vpc-id",
                &vpc,
                "--cidr-block",
                cidr,
                "--availability-zone",
                az,
                "--tag-specifications",
                &format!("ResourceType=subnet,Tags=[{{Key=Name,Value={name}}}]"),
            ],
        )["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let private_a = subnet("10.0.1.0/24", "us-east-1a", "DEV-ROMAN-SG-Private-A");
    subnet("10.0.2.0/24", "us-east-1b", "DEV-ROMAN-SG-Private-B");
    subnet("10.0.3.0/24", "us-east-1a", "DEV-ROMAN-SG-Public-A");
    let group = cli_json(
        moto,
        &[
            "ec2",
            "create-security-group",
            "--group-name",
            "jupyterhub-worker-sg",
            "--description",
            "workers",
            "--vpc-id",
            &vpc,
        ],
    )["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    cli(
        moto,
        &[
            "iam",
            "create-role",
            "--role-name",
            "ci-node-instance",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "ci-node-instance",
        ],
    );
    cli(
        moto,
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "ci-node-instance",
            "--role-name",
            "ci-node-instance",
        ],
    );
    Network {
        vpc,
        private_a,
        group,
    }
}

#[test]
fn finding_a_vpc_subnet_and_security_group_by_name() {
    let (_guard, moto) = moto::shared_reset();
    let net = network(moto);
    let sb = Sandbox::new();
    let rb = runbook(
        r#"
  - id: vpc
    title: The VPC
    aws: ec2.find_vpc
    with: { name: DEV-* }
  - id: subnet
    title: The private subnet
    aws: ec2.find_subnet
    with: { name: "*-Private-A", vpc_id: "{{ steps.vpc.vpc_id }}" }
  - id: sg
    title: The worker group
    aws: ec2.find_security_group
    with: { name: jupyterhub-worker-sg }
"#,
    );
    let d = dry(&sb, moto, &rb, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"DescribeVpcs\"");
    has(&d.stdout, "\"Name\": \"tag:Name\"");
    has(&d.stdout, "\"Values\": [\n");
    has(&d.stdout, "\"DEV-*\"");
    has(&d.stdout, "\"Name\": \"group-name\"");
    let d = dry(&sb, moto, &rb, true);
    has(
        &d.stdout,
        &format!("=> found VPC {} (Name DEV-ROMAN)", net.vpc),
    );
    has(
        &d.stdout,
        &format!(
            "=> found security group {} (group name jupyterhub-worker-sg",
            net.group
        ),
    );

    let r = start(&sb, moto, &rb, "f1", &[]);
    expect(&r, 0);
    let st = sb.state("f1");
    assert_eq!(st["steps"]["vpc"]["outputs"]["vpc_id"], net.vpc.as_str());
    assert_eq!(
        st["steps"]["subnet"]["outputs"]["subnet_id"],
        net.private_a.as_str()
    );
    assert_eq!(
        st["steps"]["subnet"]["outputs"]["availability_zone"],
        "us-east-1a"
    );
    assert_eq!(st["steps"]["sg"]["outputs"]["group_id"], net.group.as_str());
    // Read-only: again, the same.
    let r = start(&sb, moto, &rb, "f2", &[]);
    expect(&r, 0);
    assert_eq!(
        sb.state("f2")["steps"]["sg"]["outputs"],
        st["steps"]["sg"]["outputs"]
    );

    // Several matches: listed, with how to narrow it.
    let r = start(
        &sb,
        moto,
        &runbook(
            "  - id: s\n    title: S\n    aws: ec2.find_subnet\n    with: { name: DEV-ROMAN-SG-Private-* }\n",
        ),
        "f3",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "ec2.find_subnet: AmbiguousMatch: 2 subnets match `DEV-ROMAN-SG-Private-*`: ",
    );
    has(&r.stdout, "(Name DEV-ROMAN-SG-Private-B, ");
    has(
        &r.stdout,
        "hint: make `name` match only one, or give `vpc_id`",
    );
    let r = start(
        &sb,
        moto,
        &runbook("  - id: v\n    title: V\n    aws: ec2.find_vpc\n    with: { name: PROD-* }\n"),
        "f5",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "ec2.find_vpc: NotFound: no VPC with a Name tag matching `PROD-*` in us-east-1; there are: ",
    );
    has(&r.stdout, &format!("{} (Name DEV-ROMAN)", net.vpc));
    // None: what there is, listed.
    let r = start(
        &sb,
        moto,
        &runbook(
            "  - id: g\n    title: G\n    aws: ec2.find_security_group\n    with: { name: jupyterhub-wrker-sg }\n",
        ),
        "f4",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "ec2.find_security_group: NotFound: no security group with a group name or Name tag matching `jupyterhub-wrker-sg` in us-east-1; there are: ",
    );
    has(&r.stdout, "group name jupyterhub-worker-sg");
}

const CI_NODE: &str = r#"
stepwise: 1
id: ci-node
title: Create a CI node to deploy from
inputs:
  user: { description: your username, pattern: "[a-z][a-z0-9-]+" }
  env_mission: { default: DEV-ROMAN }
steps:
  - id: subnet
    title: Find the private subnet
    aws: ec2.find_subnet
    with: { name: "{{ inputs.env_mission }}-SG-Private-A" }
  - id: sg
    title: Find the worker security group
    aws: ec2.find_security_group
    with: { name: jupyterhub-worker-sg, vpc_id: "{{ steps.subnet.vpc_id }}" }
  - id: launch
    title: Launch the CI node
    description: No key pair; log in with Session Manager.
    aws: ec2.launch_instance
    with:
      name: "{{ inputs.user }}-ci"
      ami: ami-02e15130ac90d12fc
      instance_type: t3.xlarge
      subnet_id: "{{ steps.subnet.subnet_id }}"
      security_group_ids: ["{{ steps.sg.group_id }}"]
      instance_profile: ci-node-instance
      volume_size: 150
      tags: { Owner: "{{ inputs.user }}", Purpose: ci }
  - id: running
    title: Wait until it runs
    aws: ec2.wait_instance
    with: { instance_id: "{{ steps.launch.instance_id }}", state: running, timeout: 5m }
  - id: stop
    title: Stop it until it is needed
    aws: ec2.stop_instance
    with: { instance_id: "{{ steps.launch.instance_id }}" }
"#;

#[test]
fn the_ci_node_runbook_end_to_end() {
    let (_guard, moto) = moto::shared_reset();
    let net = network(moto);
    let sb = Sandbox::new();

    let d = dry(
        &sb,
        moto,
        &CI_NODE.replace("pattern:", "default: ada, pattern:"),
        true,
    );
    expect(&d, 0);
    has(&d.stdout, "\"InstanceType\": \"t3.xlarge\"");
    has(&d.stdout, "\"VolumeSize\": 150");
    has(&d.stdout, "\"VolumeType\": \"gp3\"");
    has(&d.stdout, "\"IamInstanceProfile\": {\n");
    has(&d.stdout, "\"Name\": \"ci-node-instance\"");
    has(&d.stdout, "\"Value\": \"ada-ci\"");
    has(&d.stdout, "\"SubnetId\": \"<steps.subnet.subnet_id>\"");
    has(
        &d.stdout,
        &format!(
            "=> found subnet {} (Name DEV-ROMAN-SG-Private-A",
            net.private_a
        ),
    );

    sb.write("rb.yaml", CI_NODE);
    let r = awsh::run(
        &sb,
        moto,
        &["run", "rb.yaml", "--name", "ci", "--input", "user=ada"],
    );
    expect(&r, 0);
    has(&r.stdout, "launched i-");
    has(&r.stdout, "(t3.xlarge named ada-ci, ");
    has(&r.stdout, " is running");
    has(&r.stdout, "to stop (was running, now stopping)");
    let st = sb.state("ci");
    let id = st["steps"]["launch"]["outputs"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !st["steps"]["launch"]["outputs"]["private_ip"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // What AWS has, seen by the aws CLI.
    let d = cli_json(moto, &["ec2", "describe-instances", "--instance-ids", &id]);
    let i = &d["Reservations"][0]["Instances"][0];
    assert_eq!(i["InstanceType"], "t3.xlarge");
    assert_eq!(i["ImageId"], "ami-02e15130ac90d12fc");
    assert_eq!(i["SubnetId"], net.private_a.as_str());
    assert_eq!(i["SecurityGroups"][0]["GroupId"], net.group.as_str());
    assert!(
        i["IamInstanceProfile"]["Arn"]
            .as_str()
            .unwrap()
            .ends_with("instance-profile/ci-node-instance"),
        "{i}"
    );
    assert!(
        i.get("KeyName").is_none_or(|k| k.is_null()),
        "no key pair: {i}"
    );
    assert!(
        matches!(i["State"]["Name"].as_str(), Some("stopping" | "stopped")),
        "{i}"
    );
    let tags = i["Tags"].to_string();
    has(&tags, r#"{"Key":"Name","Value":"ada-ci"}"#);
    has(&tags, r#"{"Key":"Owner","Value":"ada"}"#);
    has(&tags, r#"{"Key":"Purpose","Value":"ci"}"#);
    let v = cli_json(
        moto,
        &[
            "ec2",
            "describe-volumes",
            "--filters",
            &format!("Name=attachment.instance-id,Values={id}"),
        ],
    );
    assert_eq!(v["Volumes"][0]["Size"], 150, "{v}");
    assert_eq!(v["Volumes"][0]["VolumeType"], "gp3", "{v}");
    has(
        &v["Volumes"][0]["Tags"].to_string(),
        r#"{"Key":"Name","Value":"ada-ci"}"#,
    );

    // Launching again: the instance of that name exists, so nothing is launched.
    let r = awsh::run(
        &sb,
        moto,
        &["run", "rb.yaml", "--name", "ci2", "--input", "user=ada"],
    );
    has(
        &r.stdout,
        &format!("instance {id} named ada-ci already exists and is stopped: not launching another"),
    );
    assert_eq!(sb.status_of("ci2", "launch"), "satisfied");
    // ...and waiting for a stopped instance to run says it will not.
    expect(&r, 1);
    has(
        &r.stdout,
        &format!(
            "ec2.wait_instance: UnexpectedState: instance {id} is stopped: it will not become running by waiting"
        ),
    );
    let listed = cli_json(
        moto,
        &[
            "ec2",
            "describe-instances",
            "--filters",
            "Name=tag:Name,Values=ada-ci",
        ],
    );
    assert_eq!(listed["Reservations"].as_array().unwrap().len(), 1);
}

#[test]
fn stop_start_and_terminate_are_idempotent() {
    let (_guard, moto) = moto::shared_reset();
    let net = network(moto);
    let sb = Sandbox::new();
    let id = cli_json(
        moto,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            "ami-12345678",
            "--instance-type",
            "t3.micro",
            "--subnet-id",
            &net.private_a,
            "--count",
            "1",
        ],
    )["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let state = || {
        cli_json(moto, &["ec2", "describe-instances", "--instance-ids", &id])["Reservations"][0]
            ["Instances"][0]["State"]["Name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let one = |action: &str| {
        runbook(&format!(
            "  - id: it\n    title: It\n    aws: {action}\n    with: {{ instance_id: {id} }}\n"
        ))
    };
    for (n, (action, op, wanted)) in [
        ("ec2.stop_instance", "StopInstances", "stopped"),
        ("ec2.start_instance", "StartInstances", "running"),
        ("ec2.terminate_instance", "TerminateInstances", "terminated"),
    ]
    .into_iter()
    .enumerate()
    {
        let rb = one(action);
        let d = dry(&sb, moto, &rb, false);
        has(&d.stdout, &format!("\"operation\": \"{op}\""));
        has(
            &d.stdout,
            &format!("\"InstanceIds\": [\n        \"{id}\"\n      ]"),
        );
        let d = dry(&sb, moto, &rb, true);
        has(
            &d.stdout,
            &format!(
                "=> would {} instance {id} (now ",
                &action[4..action.len() - 9]
            ),
        );
        let r = start(&sb, moto, &rb, &format!("a{n}"), &[]);
        expect(&r, 0);
        assert_eq!(state(), wanted);
        let r = start(&sb, moto, &rb, &format!("b{n}"), &[]);
        expect(&r, 0);
        has(&r.stdout, &format!("instance {id} is already {wanted}"));
        assert_eq!(sb.status_of(&format!("b{n}"), "it"), "satisfied");
        let d = dry(&sb, moto, &rb, true);
        has(
            &d.stdout,
            &format!("=> already as wanted: instance {id} is {wanted}"),
        );
    }
    // Starting a terminated instance is refused by AWS, and said so.
    let r = start(&sb, moto, &one("ec2.start_instance"), "c", &[]);
    expect(&r, 1);
    has(
        &r.stdout,
        &format!(
            "ec2.start_instance: IncorrectInstanceState: instance {id} is terminated: it cannot be started"
        ),
    );
    // An instance that does not exist.
    let r = start(
        &sb,
        moto,
        &one("ec2.stop_instance").replace(&id, "i-0123456789abcdef0"),
        "d",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "ec2.stop_instance: InvalidInstanceID.NotFound: there is no instance i-0123456789abcdef0 in us-east-1",
    );
}

#[test]
fn launch_parameters_are_checked_at_validation() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        &runbook(
            r#"
  - id: l
    title: L
    aws: ec2.launch_instance
    with:
      name: x
      ami: ami-1
      instance_type: t3.micro
      subnet_id: subnet-1
      volume_size: big
      volume_type: gp9
  - id: w
    title: W
    aws: ec2.wait_instance
    with: { instance_id: i-1, state: runing }
"#,
        ),
    );
    let r = sb.run(&["validate", "rb.yaml"]);
    assert_eq!(r.code, 2);
    let all = format!("{}{}", r.stdout, r.stderr);
    has(
        &all,
        "ec2.launch_instance: wrong type: found `big`, expected a whole number",
    );
    has(&all, "ec2.wait_instance: unknown value `runing`");
    has(&all, "did you mean `running`?");
}
