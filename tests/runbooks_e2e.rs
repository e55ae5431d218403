//! Every shipped runbook, run end to end in plain mode against moto, with manual steps
//! confirmed on the command line. git runs for real against local bare repositories, sops
//! runs for real with a test age key, and the tools that cannot run here (terraform, awsudo,
//! gh, the image scripts) are recording stand-ins whose command lines are checked. What AWS
//! holds afterwards is checked with the `aws` CLI, an independent client.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/hubrepos.rs"]
mod hubrepos;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/standins.rs"]
mod standins;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cli::{Ran, Sandbox};
use serde_json::Value;
use standins::{AWSUDO, Standins, bare_repo, git};

const ACCOUNT: &str = "123456789012";
const ADMIN: &str = "arn:aws:iam::123456789012:role/jupyterhub-admin";
const AGE_RECIPIENT: &str = "age1a3n240cjnryn8sqvsmqrh6fyv3pt2x9htv2rmjrfalup8dpyq4qqzsctyr";

fn runbook(name: &str) -> String {
    format!("{}/runbooks/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn age_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/age/test-key.txt")
}

/// A test's world: a sandbox, moto, and stand-ins.
struct World {
    sb: Sandbox,
    moto: &'static moto::Moto,
    tools: Standins,
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl World {
    fn new() -> World {
        let (guard, moto) = moto::shared_reset();
        let sb = Sandbox::new();
        let tools = Standins::new(sb.path());
        tools.add("awsudo", AWSUDO);
        World {
            sb,
            moto,
            tools,
            _guard: guard,
        }
    }

    fn env(&self, cmd: &mut Command) {
        self.moto.apply_env(cmd);
        // The tools write under ~ (tools/deploy, the kubeconfig): a home of the test's own.
        let home = self.sb.path().join("userhome");
        std::fs::create_dir_all(&home).unwrap();
        cmd.env("PATH", self.tools.path())
            .env("HOME", home)
            .env("STANDIN_SOPS_AGE", AGE_RECIPIENT)
            .env("STANDIN_LOG", &self.tools.log)
            .env("SOPS_AGE_KEY_FILE", age_key())
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.org")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.org");
    }

    fn stepwise(&self, args: &[&str]) -> Ran {
        let mut cmd = self.sb.cmd(args);
        self.env(&mut cmd);
        let out = cmd.output().expect("stepwise");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The aws CLI against moto; JSON output parsed.
    fn aws(&self, args: &[&str]) -> Value {
        let mut cmd = Command::new("aws");
        self.moto.apply_env(&mut cmd);
        cmd.args(["--endpoint-url", &self.moto.endpoint, "--output", "json"])
            .args(args);
        let out = cmd.output().expect("aws CLI");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn expect(&self, r: &Ran, code: i32) {
        assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    }
}

#[test]
fn route53_cname() {
    let w = World::new();
    let zone = w.aws(&[
        "route53",
        "create-hosted-zone",
        "--name",
        "science.stsci.edu",
        "--caller-reference",
        "t1",
    ]);
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let rb = runbook("route53-cname");
    let target = "a1b2c3.us-east-1.elb.amazonaws.com";
    let r = w.stepwise(&[
        "run",
        &rb,
        "--input",
        "deployment_name=roman",
        "--input",
        &format!("target={target}"),
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at network-login"),
        "{}",
        r.stdout
    );
    let r = w.stepwise(&["resume", "dns-roman", "--done", "network-login"]);
    w.expect(&r, 3);
    assert!(r.stdout.contains("DANGER"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("--confirm upsert=roman.science.stsci.edu"),
        "{}",
        r.stdout
    );
    // Nothing changed before the confirmation.
    let records = w.aws(&[
        "route53",
        "list-resource-record-sets",
        "--hosted-zone-id",
        &zone_id,
    ]);
    assert!(!records.to_string().contains(target));
    let r = w.stepwise(&[
        "resume",
        "dns-roman",
        "--confirm",
        "upsert=roman.science.stsci.edu",
    ]);
    w.expect(&r, 0);
    let records = w.aws(&[
        "route53",
        "list-resource-record-sets",
        "--hosted-zone-id",
        &zone_id,
    ]);
    let cname = records["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Type"] == "CNAME")
        .expect("a CNAME record");
    assert_eq!(cname["Name"], "roman.science.stsci.edu.");
    assert_eq!(cname["TTL"], 300);
    assert_eq!(cname["ResourceRecords"][0]["Value"], target);
    // Running it again changes nothing: the record is already as wanted.
    let r = w.stepwise(&[
        "run",
        &rb,
        "--name",
        "dns-again",
        "--input",
        "deployment_name=roman",
        "--input",
        &format!("target={target}"),
        "--done",
        "network-login",
        "--confirm",
        "upsert=roman.science.stsci.edu",
    ]);
    w.expect(&r, 0);
    assert_eq!(w.sb.status_of("dns-again", "upsert"), "satisfied");
}

fn ci_network(w: &World) {
    let vpc = w.aws(&[
        "ec2",
        "create-vpc",
        "--cidr-block",
        "10.1.0.0/16",
        "--tag-specifications",
        "ResourceType=vpc,Tags=[{Key=Name,Value=dev-roman-SG}]",
    ]);
    let vpc_id = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    w.aws(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc_id,
        "--cidr-block",
        "10.1.1.0/24",
        "--tag-specifications",
        "ResourceType=subnet,Tags=[{Key=Name,Value=dev-roman-SG-Private-A}]",
    ]);
    w.aws(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc_id,
        "--cidr-block",
        "10.1.2.0/24",
        "--tag-specifications",
        "ResourceType=subnet,Tags=[{Key=Name,Value=dev-roman-SG-Public-A}]",
    ]);
    // IT's security groups, found by group name (ci-node) and by Name tag (terraform).
    for (name, what) in [
        ("jupyterhub-worker-sg", "workers"),
        ("jupyterhub-cluster-sg", "cluster"),
    ] {
        w.aws(&[
            "ec2",
            "create-security-group",
            "--group-name",
            name,
            "--description",
            what,
            "--vpc-id",
            &vpc_id,
            "--tag-specifications",
            &format!("ResourceType=security-group,Tags=[{{Key=Name,Value={name}}}]"),
        ]);
    }
    w.aws(&["iam", "create-role", "--role-name", "ci-node-instance", "--assume-role-policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#]);
    w.aws(&[
        "iam",
        "create-instance-profile",
        "--instance-profile-name",
        "ci-node-instance",
    ]);
    w.aws(&[
        "iam",
        "add-role-to-instance-profile",
        "--instance-profile-name",
        "ci-node-instance",
        "--role-name",
        "ci-node-instance",
    ]);
}

fn instance(w: &World, name: &str) -> Value {
    let found = w.aws(&[
        "ec2",
        "describe-instances",
        "--filters",
        &format!("Name=tag:Name,Values={name}"),
    ]);
    found["Reservations"][0]["Instances"][0].clone()
}

#[test]
fn ci_node() {
    let w = World::new();
    ci_network(&w);
    let rb = runbook("ci-node");
    // moto does not implement DescribeInstanceInformation, and Session Manager needs its
    // plugin: those two steps are covered by unit tests with fakes.
    let r = w.stepwise(&[
        "run",
        &rb,
        "--input",
        "user=jdoe",
        "--input",
        "mission=dev-roman",
        "--skip",
        "ssm-online=not implemented by the emulator",
        "--done",
        "connect",
        "--done",
        "done-with-node",
    ]);
    w.expect(&r, 0);
    let i = instance(&w, "jdoe-ci");
    assert_eq!(i["InstanceType"], "t3.xlarge");
    assert_eq!(i["ImageId"], "ami-02e15130ac90d12fc");
    assert_eq!(i["State"]["Name"], "stopped");
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
    let tags: Vec<(String, String)> = i["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().to_string(),
                t["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(tags.contains(&("Owner".into(), "jdoe".into())), "{tags:?}");
    let volume_id = i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = w.aws(&["ec2", "describe-volumes", "--volume-ids", &volume_id]);
    assert_eq!(v["Volumes"][0]["Size"], 150);
    assert_eq!(v["Volumes"][0]["VolumeType"], "gp3");
    // Again: the node exists, so nothing is launched.
    let r = w.stepwise(&[
        "run",
        &rb,
        "--name",
        "ci-again",
        "--input",
        "user=jdoe",
        "--input",
        "mission=dev-roman",
        "--skip",
        "ssm-online=not implemented by the emulator",
        "--done",
        "connect",
        "--done",
        "done-with-node",
    ]);
    w.expect(&r, 0);
    assert_eq!(w.sb.status_of("ci-again", "launch"), "satisfied");
    let all = w.aws(&["ec2", "describe-instances"]);
    assert_eq!(all["Reservations"].as_array().unwrap().len(), 1);
}

/// Puts the CI node's tools on PATH: stand-ins for terraform, helm, kubectl and docker (git,
/// the aws CLI, sops and openssl are real).
fn node_tools(w: &World) {
    w.tools.add("terraform", hubrepos::TERRAFORM);
    w.tools.add("helm", hubrepos::HELM);
    w.tools.add("kubectl", &hubrepos::kubectl());
    w.tools.add("docker", hubrepos::DOCKER);
}

/// A bare repository of `files`.
fn fixture_repo(w: &World, name: &str, files: &[hubrepos::File]) -> PathBuf {
    let bare = w.sb.path().join(format!("{name}.git"));
    let files: Vec<(&str, &str, bool)> =
        files.iter().map(|(p, c, x)| (*p, c.as_str(), *x)).collect();
    bare_repo(&bare, &files);
    bare
}

/// No stand-in refused anything.
fn none_refused(w: &World) {
    let refused = w.tools.refusals();
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

/// A terraform variables file as name -> value text, comments and blank lines left out.
fn tfvars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn tf_run_args<'a>(repo: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        runbook("terraform-deploy"),
        "--input".into(),
        format!("account_id={ACCOUNT}"),
        "--input".into(),
        "deployment_name=roman-staging".into(),
        "--input".into(),
        "owner=Roman".into(),
        "--input".into(),
        "permissions_boundary=roman-boundary".into(),
        "--input".into(),
        "vpc_name=dev-roman-SG".into(),
        "--input".into(),
        format!("repository={repo}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn terraform_deploy() {
    let w = World::new();
    node_tools(&w);
    ci_network(&w);
    let bare = fixture_repo(&w, "terraform-deploy", &hubrepos::terraform_deploy());
    let args = tf_run_args(bare.to_str().unwrap(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.stepwise(&args);
    w.expect(&r, 0);
    none_refused(&w);
    assert!(
        r.stdout
            .contains("first apply failed (known missing depends_on); applying again"),
        "{}",
        r.stdout
    );
    // The difference from the repository's example is shown.
    assert!(
        r.stdout.contains("+repo_name = \"roman-staging-secrets\""),
        "{}",
        r.stdout
    );
    let apply =
        "terraform apply -input=false -var-file=roman-staging.tfvars -auto-approve".to_string();
    let kms = "[in /terraform-deploy/kms-codecommit]";
    let eks = "[in /terraform-deploy/aws]";
    let calls: Vec<String> = w
        .tools
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("terraform") || c.starts_with("awsudo"))
        .collect();
    assert_eq!(
        calls,
        vec![
            format!("terraform init -input=false {kms}"),
            format!("awsudo -d 3600 {ADMIN} {apply} {kms}"),
            format!("{apply} {kms}"),
            format!("awsudo -d 3600 {ADMIN} {apply} {kms}"),
            format!("{apply} {kms}"),
            format!("terraform init -input=false {eks}"),
            format!("awsudo -d 3600 {ADMIN} {apply} {eks}"),
            format!("{apply} {eks}"),
        ]
    );
    // Every variable kms-codecommit declares, none it does not, made from the example.
    let kms_vars = tfvars(
        &w.sb
            .read("terraform-deploy/kms-codecommit/roman-staging.tfvars"),
    );
    let want: BTreeMap<String, String> = [
        ("region", "\"us-east-1\""),
        ("repo_name", "\"roman-staging-secrets\""),
        ("sops_s3_bucket", "\"roman-staging-sops-config\""),
        ("sops_s3_source", "\".sops.yaml\""),
        ("sops_s3_key", "\".sops.yaml\""),
        ("owner_tag", "\"Roman\""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(kms_vars, want);
    let eks_vars = tfvars(&w.sb.read("terraform-deploy/aws/roman-staging.tfvars"));
    let want: BTreeMap<String, String> = [
        ("region", "\"us-east-1\""),
        ("cluster_name", "\"roman-staging\""),
        ("cluster_version", "\"1.17\""),
        ("allowed_roles", &format!("[\"{ADMIN}\"]")),
        (
            "permissions_boundary",
            "\"arn:aws:iam::123456789012:policy/roman-boundary\"",
        ),
        ("rolearn", &format!("\"{ADMIN}\"")),
        ("username", "\"jupyterhub-admin\""),
        ("vpc_name", "\"dev-roman-SG\""),
        ("public_subnet_names", "[\"dev-roman-SG-Public-*\"]"),
        ("private_subnet_names", "[\"dev-roman-SG-Private-*\"]"),
        ("cluster_sg_name", "\"jupyterhub-cluster-sg\""),
        ("worker_sg_name", "\"jupyterhub-worker-sg\""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(eks_vars, want);
    let out = w.sb.state("terraform-roman-staging")["steps"]["kms-apply"]["outputs"]["sops_config"]
        .clone();
    assert!(
        out.as_str()
            .unwrap()
            .ends_with("terraform-deploy/kms-codecommit/.sops.yaml"),
        "{out}"
    );
    // The module's resources, made under the names the variables gave.
    let object = w.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "roman-staging-sops-config",
        "--key",
        ".sops.yaml",
    ]);
    assert!(object["ContentLength"].as_u64().unwrap() > 0, "{object}");
    let cluster = w.aws(&["eks", "describe-cluster", "--name", "roman-staging"]);
    assert_eq!(cluster["cluster"]["name"], "roman-staging");
    w.aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "roman-staging-user-image",
    ]);
}

#[test]
fn a_placeholder_the_runbook_does_not_know_stops_before_terraform() {
    let w = World::new();
    node_tools(&w);
    ci_network(&w);
    // A later example with a placeholder this runbook does not fill.
    let files: Vec<hubrepos::File> = hubrepos::terraform_deploy()
        .into_iter()
        .map(|(p, c, x)| {
            if p.ends_with("your-vars.tfvars.example") {
                (p, format!("{c}kms_alias = \"alias/<key-alias>\"\n"), x)
            } else {
                (p, c, x)
            }
        })
        .collect();
    let bare = fixture_repo(&w, "terraform-deploy", &files);
    let args = tf_run_args(bare.to_str().unwrap(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.stepwise(&args);
    w.expect(&r, 1);
    assert_eq!(
        w.sb.status_of("terraform-roman-staging", "kms-vars-filled"),
        "failed"
    );
    assert!(r.stdout.contains("<key-alias>"), "{}", r.stdout);
    assert!(
        !w.tools
            .calls()
            .iter()
            .any(|c| c.starts_with("terraform apply")),
        "{:?}",
        w.tools.calls()
    );
}

#[test]
fn setup_env_stops_when_the_template_no_longer_sets_a_variable() {
    let w = World::new();
    node_tools(&w);
    let files: Vec<hubrepos::File> = hubrepos::jupyterhub_deploy("roman")
        .into_iter()
        .map(|(p, c, x)| {
            if p == "setup-env.template" {
                let c = c.replace("export IMAGE_TAG=latest\n", "");
                (p, c, x)
            } else {
                (p, c, x)
            }
        })
        .collect();
    let repo = fixture_repo(&w, "jupyterhub-deploy", &files);
    let r = w.stepwise(&[
        "run",
        &runbook("jupyterhub-deploy"),
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
        "--input",
        "template_deployment=roman",
        "--input",
        "tls_key_file=tls/hub.key",
        "--input",
        "tls_cert_file=tls/hub.crt",
        "--input",
        &format!("repository={}", repo.display()),
        "--done",
        "adapt-deployment",
    ]);
    w.expect(&r, 1);
    assert!(
        r.stdout
            .contains("setup-env.template does not set IMAGE_TAG any more"),
        "{}",
        r.stdout
    );
    assert_eq!(
        w.sb.status_of("deploy-roman-staging", "setup-env"),
        "pending"
    );
}

#[test]
fn the_terraform_standin_refuses_what_terraform_refuses() {
    let w = World::new();
    node_tools(&w);
    let dir = w.sb.path().join("module");
    std::fs::create_dir_all(&dir).unwrap();
    for (path, content, _) in hubrepos::terraform_deploy() {
        if let Some(name) = path.strip_prefix("kms-codecommit/") {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }
    let apply = |vars: &str| {
        std::fs::write(dir.join("t.tfvars"), vars).unwrap();
        let mut cmd = Command::new(w.tools.bin.join("terraform"));
        w.env(&mut cmd);
        let out = cmd
            .args([
                "apply",
                "-input=false",
                "-var-file=t.tfvars",
                "-auto-approve",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The example as the repository has it: owner_tag is missing, placeholders are left.
    let (ok, err) = apply(&w.sb.read("module/your-vars.tfvars.example"));
    assert!(!ok);
    assert!(
        err.contains("Error: No value for required variable"),
        "{err}"
    );
    assert!(
        err.contains("input variable \"owner_tag\" is not set"),
        "{err}"
    );
    assert!(err.contains("placeholder left"), "{err}");
    // What the runbook used to write: names the module does not declare.
    let (ok, err) = apply(
        "region = \"us-east-1\"\ndeployment_name = \"x\"\nadmin_role_arn = \"y\"\ntags = {\n  Owner = \"Roman\"\n}\n",
    );
    assert!(!ok);
    assert!(
        err.contains("Error: Value for undeclared variable"),
        "{err}"
    );
    assert!(
        err.contains("does not declare a variable named \"deployment_name\""),
        "{err}"
    );
    let refused = w.tools.refusals().join("\n");
    assert!(
        refused.contains("no value for required variable repo_name"),
        "{refused}"
    );
    assert!(
        refused.contains("undeclared variable admin_role_arn"),
        "{refused}"
    );
}

#[test]
fn the_helm_kubectl_and_docker_standins_refuse_what_the_tools_refuse() {
    let w = World::new();
    node_tools(&w);
    let dir = w.sb.path().join("hub-checkout");
    std::fs::create_dir_all(dir.join("hub")).unwrap();
    std::fs::write(dir.join("hub/Chart.yaml"), "name: hub\n").unwrap();
    std::fs::write(dir.join("common.yaml"), "jupyterhub: {}\n").unwrap();
    std::fs::write(
        dir.join("secrets.yaml"),
        "jupyterhub:\n  proxy:\n    secretToken: abc\n",
    )
    .unwrap();
    let run = |tool: &str, args: &[&str]| {
        let mut cmd = Command::new(w.tools.bin.join(tool));
        w.env(&mut cmd);
        let out = cmd
            .args(args)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Before helm installed anything, there is no service, nor any kubeconfig.
    let (ok, _, err) = run("kubectl", &["get", "svc", "proxy-public"]);
    assert!(!ok && err.contains("connection to the server"), "{err}");
    let home = w.sb.path().join("userhome/.kube");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config"),
        "current-context: arn:aws:eks:us-east-1:123456789012:cluster/roman-staging\n",
    )
    .unwrap();
    let (ok, _, err) = run("kubectl", &["get", "svc", "proxy-public"]);
    assert!(
        !ok && err.contains("services \"proxy-public\" not found"),
        "{err}"
    );
    // A -f file that is not there.
    let (ok, _, err) = run(
        "helm",
        &[
            "upgrade",
            "--wait",
            "--install",
            "r",
            "hub",
            "-f",
            "common.yaml",
            "-f",
            "staging.yaml",
        ],
    );
    assert!(
        !ok && err.contains("Error: open staging.yaml: no such file or directory"),
        "{err}"
    );
    // Values still encrypted.
    std::fs::write(
        dir.join("enc.yaml"),
        "secretToken: ENC[AES256_GCM,data:x]\n",
    )
    .unwrap();
    let (ok, _, _) = run(
        "helm",
        &["upgrade", "--install", "r", "hub", "-f", "enc.yaml"],
    );
    assert!(!ok);
    // Then a release: the service is there, in kubectl's columns.
    let (ok, _, err) = run(
        "helm",
        &[
            "upgrade",
            "--wait",
            "--install",
            "r",
            "hub",
            "-f",
            "common.yaml",
            "-f",
            "secrets.yaml",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = run("kubectl", &["get", "svc", "proxy-public"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let at = lines[0].find("EXTERNAL-IP").unwrap();
    assert_eq!(
        &lines[1][at..at + hubrepos::ELB_HOST.len()],
        hubrepos::ELB_HOST,
        "{out}"
    );
    assert!(
        lines[0].starts_with("NAME ") && lines[0].ends_with("AGE"),
        "{out}"
    );
    // docker: no Dockerfile, a push of an image never built, -t without a terminal.
    let (ok, _, _) = run("docker", &["build", "--tag", "x:1", "."]);
    assert!(!ok);
    let (ok, _, err) = run(
        "docker",
        &["push", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"],
    );
    assert!(!ok && err.contains("does not exist locally"), "{err}");
    let (ok, _, err) = run("docker", &["run", "-it", "--rm", "x:1"]);
    assert!(
        !ok && err.contains("the input device is not a TTY"),
        "{err}"
    );
    let refused = w.tools.refusals().join("\n");
    for want in [
        "kubectl: no kubeconfig",
        "kubectl: get svc proxy-public",
        "helm: missing -f staging.yaml",
        "helm: enc.yaml holds a placeholder or ciphertext",
        "docker: no Dockerfile",
        "docker: push of an image not built",
        "docker: run -t without a terminal",
    ] {
        assert!(refused.contains(want), "{want} not in:\n{refused}");
    }
}

/// A bucket holding the deployment's .sops.yaml, with a KMS key from moto and the test's age
/// recipient; returns the KMS key ARN.
fn sops_config(w: &World, deployment: &str) -> String {
    let key = w.aws(&["kms", "create-key", "--description", "sops"]);
    let arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let bucket = format!("{deployment}-sops-config");
    w.aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let file = w.sb.write(
        "sops-config.yaml",
        &format!("creation_rules:\n  - path_regex: .*\n    kms: {arn}\n    age: {AGE_RECIPIENT}\n"),
    );
    w.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        ".sops.yaml",
        "--body",
        file.to_str().unwrap(),
    ]);
    arn
}

fn sops(w: &World, dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/sops"));
    w.env(&mut cmd);
    let out = cmd
        .arg("--disable-version-check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sops");
    assert!(
        out.status.success(),
        "sops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TLS key and certificate for `host` (made with openssl) in `tls/`, and the certificate
/// in ACM, as the certificate ticket leaves them.
fn tls_files(w: &World, host: &str) -> (String, String) {
    std::fs::create_dir_all(w.sb.path().join("tls")).unwrap();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        ])
        .arg(format!("/CN={host}"))
        .args(["-keyout", "tls/hub.key", "-out", "tls/hub.crt"])
        .current_dir(w.sb.path())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = w.sb.path().join("tls");
    w.aws(&[
        "acm",
        "import-certificate",
        "--certificate",
        &format!("fileb://{}", dir.join("hub.crt").display()),
        "--private-key",
        &format!("fileb://{}", dir.join("hub.key").display()),
    ]);
    ("tls/hub.key".into(), "tls/hub.crt".into())
}

const CLIENT_ID: &str = "mast-client-4711";
const CLIENT_SECRET: &str = "s3cr3t-0f-the-mast-client";

/// Every leaf of a YAML document, as `a.b[0].c` -> value.
fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn as_data(text: &str) -> Value {
    stepwise::runbook::yaml::Node::parse(text)
        .unwrap()
        .to_json()
}

/// The secrets file decrypted: in the example's shape, with every value filled.
fn check_secrets(w: &World, dir: &Path, file: &str, host: &str) -> String {
    let plain = sops(w, dir, &["--decrypt", file]);
    assert!(
        !plain.contains("[REDACTED]") && !plain.contains("[URL]"),
        "{plain}"
    );
    let doc = as_data(&plain);
    let mut got = BTreeMap::new();
    leaves("", &doc, &mut got);
    let mut shape = BTreeMap::new();
    // In the example, `[REDACTED]` stands for a value (YAML would read it as a list).
    let example = hubrepos::EXAMPLE_STAGING
        .replace("[REDACTED]", "REDACTED")
        .replace("[URL]", "URL");
    leaves("", &as_data(&example), &mut shape);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        shape.keys().collect::<Vec<_>>(),
        "not the example's shape:\n{plain}"
    );
    let p = &doc["jupyterhub"]["proxy"];
    let token = p["secretToken"].as_str().unwrap().to_string();
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(p["https"]["hosts"][0], host);
    assert_eq!(
        p["https"]["manual"]["key"].as_str().unwrap().trim(),
        w.sb.read("tls/hub.key").trim()
    );
    assert_eq!(
        p["https"]["manual"]["cert"].as_str().unwrap().trim(),
        w.sb.read("tls/hub.crt").trim()
    );
    let c = &doc["jupyterhub"]["auth"]["custom"]["config"];
    assert_eq!(c["client_id"], CLIENT_ID);
    assert_eq!(c["client_secret"], CLIENT_SECRET);
    assert_eq!(
        c["oauth_callback_url"],
        format!("https://{host}/hub/oauth_callback").as_str()
    );
    assert_eq!(
        c["authorize_url"],
        "https://auth.masttest.stsci.edu/oauth/authorize"
    );
    token
}

/// No file under the sandbox holds any of `secrets`, except the TLS files the person gave.
fn nowhere_on_disk(w: &World, secrets: &[&str]) {
    let mut stack = vec![w.sb.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.starts_with(w.sb.path().join("tls")) {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                for s in secrets {
                    assert!(
                        !text.contains(s),
                        "{} holds a secret in plain text",
                        p.display()
                    );
                }
            }
        }
    }
}

#[test]
fn sops_secrets_for_real() {
    let w = World::new();
    let kms_arn = sops_config(&w, "roman-staging");
    let host = "roman-staging.science.stsci.edu";
    let (key, cert) = tls_files(&w, host);
    let bare = w.sb.path().join("secrets.git");
    bare_repo(&bare, &[("README.md", "secrets\n", false)]);
    let rb = runbook("sops-secrets");
    let repo = format!("repository={}", bare.display());
    let key = format!("tls_key_file={key}");
    let cert = format!("tls_cert_file={cert}");
    let r = w.stepwise(&[
        "run",
        rb.as_str(),
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
        "--input",
        &repo,
        "--input",
        "folder=secrets",
        "--input",
        &key,
        "--input",
        &cert,
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at mast-credentials"),
        "{}",
        r.stdout
    );
    let sops_yaml = w.sb.read("secrets/.sops.yaml");
    assert!(
        sops_yaml.contains(&format!("kms: {kms_arn}+{ADMIN}")),
        "{sops_yaml}"
    );
    assert!(
        r.stdout.contains(&format!("+    kms: {kms_arn}+{ADMIN}")),
        "the fix is shown as a diff: {}",
        r.stdout
    );
    let id = format!("mast-credentials.client_id={CLIENT_ID}");
    let secret = format!("mast-credentials.client_secret={CLIENT_SECRET}");
    let r = w.stepwise(&[
        "resume",
        "secrets-roman-staging",
        "--done",
        "mast-credentials",
        "--output",
        &id,
        "--output",
        &secret,
    ]);
    // The review in sops' editor needs a terminal: plain mode without one stops there.
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at review-secrets"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(CLIENT_SECRET), "{}", r.stdout);
    let staging = w.sb.read("secrets/staging.yaml");
    assert!(staging.contains("sops:"), "{staging}");
    assert!(
        staging.contains(&format!("role: {ADMIN}")),
        "the role is in the sops metadata:\n{staging}"
    );

    // In a terminal (script(1) gives one), sops opens the "editor" on the decrypted file;
    // it looks and closes without a change.
    let seen = w.sb.path().join("review.txt");
    let editor = w.sb.write(
        "editor.sh",
        &format!(
            "#!/bin/sh\nif grep -q secretToken \"$1\" && ! grep -q REDACTED \"$1\"; then echo reviewed > '{}'; fi\n",
            seen.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new("script");
    w.env(&mut cmd);
    let inner = format!("{} resume secrets-roman-staging --plain", cli::bin());
    cmd.args(["-qec", &inner, "/dev/null"])
        .current_dir(w.sb.path())
        .env("STEPWISE_HOME", w.sb.home())
        .env("EDITOR", &editor)
        .env("TERM", "xterm");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap_or_default(),
        "reviewed\n"
    );
    assert!(stdout.contains("not changed"), "{stdout}");

    let token = check_secrets(&w, &w.sb.path().join("secrets"), "staging.yaml", host);
    // No plain-text copy of the secrets anywhere, nor on any command line.
    nowhere_on_disk(&w, &[&token, CLIENT_SECRET, CLIENT_ID]);
    let calls = w.tools.calls().join("\n");
    assert!(
        !calls.contains(CLIENT_SECRET) && !calls.contains(&token),
        "{calls}"
    );
    // And it was committed and pushed.
    let log = git(&bare, &["log", "--format=%s", "-n", "1"]);
    assert_eq!(log.trim(), "adding secrets");
    let files = git(&bare, &["ls-tree", "--name-only", "HEAD"]);
    assert!(
        files.contains("staging.yaml") && files.contains(".sops.yaml"),
        "{files}"
    );
    assert!(
        w.tools
            .calls()
            .iter()
            .any(|c| c.starts_with(&format!("awsudo {ADMIN} git push"))),
        "{:?}",
        w.tools.calls()
    );
}

/// Drives the hub part from its first stop to its end: each manual or interactive step is
/// confirmed the way a person would, with `prefix` the include's key (`hub/` in new-hub).
fn through_the_hub(w: &World, run: &str, prefix: &str, first: Ran) -> Ran {
    let step = |s: &str| format!("{prefix}{s}");
    w.expect(&first, 3);
    assert!(
        first
            .stdout
            .contains(&format!("waiting at {}", step("adapt-deployment"))),
        "{}",
        first.stdout
    );
    // The checklist is rendered like the instructions.
    assert!(
        first.stdout.contains("[ ] no file mentions roman any more"),
        "{}",
        first.stdout
    );
    let mut r = w.stepwise(&["resume", run, "--done", &step("adapt-deployment")]);
    w.expect(&r, 3);
    assert!(
        r.stdout
            .contains(&format!("waiting at {}", step("image-test"))),
        "{}",
        r.stdout
    );
    // tools/image-test runs `docker run -it`; it is done by hand in a terminal.
    r = w.stepwise(&["resume", run, "--done", &step("image-test")]);
    w.expect(&r, 3);
    assert!(
        r.stdout
            .contains(&format!("waiting at {}", step("scan-review"))),
        "{}",
        r.stdout
    );
    let verdict = format!("{}.verdict=accepted", step("scan-review"));
    r = w.stepwise(&[
        "resume",
        run,
        "--done",
        &step("scan-review"),
        "--output",
        &verdict,
    ]);
    w.expect(&r, 3);
    let creds = step("secrets/mast-credentials");
    assert!(
        r.stdout.contains(&format!("waiting at {creds}")),
        "{}",
        r.stdout
    );
    let id = format!("{creds}.client_id={CLIENT_ID}");
    let secret = format!("{creds}.client_secret={CLIENT_SECRET}");
    r = w.stepwise(&[
        "resume", run, "--done", &creds, "--output", &id, "--output", &secret,
    ]);
    w.expect(&r, 3);
    let review = step("secrets/review-secrets");
    assert!(
        r.stdout.contains(&format!("waiting at {review}")),
        "{}",
        r.stdout
    );
    w.stepwise(&["resume", run, "--done", &review])
}

/// What the hub part must have done, whoever ran it.
fn check_the_hub(w: &World, run: &str, prefix: &str, host: &str) -> String {
    none_refused(w);
    let st = w.sb.state(run);
    assert_eq!(
        st["steps"][format!("{prefix}deploy")]["outputs"]["external_ip"],
        hubrepos::ELB_HOST
    );
    // setup-env: the template with its basic inputs set, nothing else changed.
    let env = w.sb.read("jupyterhub-deploy/setup-env");
    for line in [
        "export ACCOUNT_ID=123456789012",
        "export ADMIN_ROLENAME=jupyterhub-admin",
        "export DEPLOYMENT_NAME=roman-staging",
        "export ENVIRONMENT=staging    # or prod, ...",
        "export IMAGE_TAG=latest",
        "export IMAGE_RUN_PARS=\"--rm\"",
        "export IMAGE_ID=${ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/${DEPLOYMENT_NAME}-user-image:${IMAGE_TAG}",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in:\n{env}");
    }
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/roman-staging-user-image:latest";
    let calls = w.tools.calls();
    let has = |want: &str| calls.iter().any(|c| c.starts_with(want));
    assert!(has(&format!("docker build --tag {image} .")), "{calls:#?}");
    assert!(has(&format!("docker push {image}")), "{calls:#?}");
    assert!(
        has(&format!(
            "awsudo {ADMIN} aws eks update-kubeconfig --name roman-staging --region us-east-1"
        )),
        "{calls:#?}"
    );
    let home = w.sb.path().join("userhome");
    assert!(
        has(&format!(
            "helm upgrade --wait --install roman-staging-staging hub -f deployments/roman-staging/config/common.yaml -f deployments/roman-staging/config/staging.yaml -f {}/staging.yaml.decrypted --set-string jupyterhub.singleuser.image.name=123456789012.dkr.ecr.us-east-1.amazonaws.com/roman-staging-user-image",
            home.display()
        )),
        "{calls:#?}"
    );
    assert!(has("kubectl get svc proxy-public"), "{calls:#?}");
    // The secrets, where tools/deploy-all reads them, and pushed.
    let dir =
        w.sb.path()
            .join("jupyterhub-deploy/secrets/deployments/roman-staging/secrets");
    let token = check_secrets(w, &dir, "staging.yaml", host);
    nowhere_on_disk(w, &[&token, CLIENT_SECRET]);
    token
}

#[test]
fn jupyterhub_deploy() {
    let w = World::new();
    node_tools(&w);
    sops_config(&w, "roman-staging");
    // What terraform made: the cluster and the image repository.
    w.aws(&[
        "eks",
        "create-cluster",
        "--name",
        "roman-staging",
        "--role-arn",
        ADMIN,
        "--resources-vpc-config",
        "subnetIds=subnet-1",
    ]);
    w.aws(&[
        "ecr",
        "create-repository",
        "--repository-name",
        "roman-staging-user-image",
    ]);
    let host = "roman-staging.science.stsci.edu";
    let (key, cert) = tls_files(&w, host);
    let repo = fixture_repo(
        &w,
        "jupyterhub-deploy",
        &hubrepos::jupyterhub_deploy("roman"),
    );
    let secrets = w.sb.path().join("hub-secrets.git");
    bare_repo(&secrets, &[("README.md", "secrets\n", false)]);
    let first = w.stepwise(&[
        "run",
        &runbook("jupyterhub-deploy"),
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
        "--input",
        "template_deployment=roman",
        "--input",
        &format!("tls_key_file={key}"),
        "--input",
        &format!("tls_cert_file={cert}"),
        "--input",
        &format!("repository={}", repo.display()),
        "--input",
        &format!("secrets_repository={}", secrets.display()),
    ]);
    let r = through_the_hub(&w, "deploy-roman-staging", "", first);
    w.expect(&r, 0);
    check_the_hub(&w, "deploy-roman-staging", "", host);
    assert!(
        git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"])
            .contains("deployments/roman-staging/config/staging.yaml")
    );
    let files = git(&secrets, &["ls-tree", "--name-only", "HEAD"]);
    assert!(files.contains("staging.yaml"), "{files}");
}
#[test]
fn smce_account_access() {
    let w = World::new();
    w.aws(&["iam", "create-group", "--group-name", "SMCE-ProjectAdmins"]);
    w.aws(&["iam", "create-user", "--user-name", "alice"]);
    w.aws(&[
        "iam",
        "add-user-to-group",
        "--user-name",
        "alice",
        "--group-name",
        "SMCE-ProjectAdmins",
    ]);
    let rb = runbook("smce-account-access");
    let r = w.stepwise(&[
        "run",
        &rb,
        "--input",
        "community=veda",
        "--input",
        "representative=Sam",
        "--input",
        "account_id=123456789012",
        "--input",
        "first_engineer=alice",
        "--input",
        "engineers=bob, carol",
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout
            .contains("> Hi Sam, to deploy the veda hub we need an"),
        "{}",
        r.stdout
    );
    let r = w.stepwise(&[
        "resume",
        "smce-access-veda",
        "--done",
        "request-account",
        "--output",
        "request-account.confirmed_account=123456789012",
        "--done",
        "request-first-user",
        "--done",
        "first-login",
        "--done",
        "setup-mfa",
        "--done",
        "sign-out-and-in",
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at share-passwords"),
        "{}",
        r.stdout
    );
    for user in ["bob", "carol"] {
        let groups = w.aws(&["iam", "list-groups-for-user", "--user-name", user]);
        assert_eq!(
            groups["Groups"][0]["GroupName"], "SMCE-ProjectAdmins",
            "{user}"
        );
        // A console password was made (moto does not keep PasswordResetRequired, so the
        // reset flag is checked in tests/aws_iam.rs against the request instead).
        let profile = w.aws(&["iam", "get-login-profile", "--user-name", user]);
        assert_eq!(profile["LoginProfile"]["UserName"], user);
    }
    assert!(
        !w.sb
            .everything_on_disk("smce-access-veda")
            .to_lowercase()
            .contains("password\":\"")
    );
    let r = w.stepwise(&["resume", "smce-access-veda", "--done", "share-passwords"]);
    w.expect(&r, 0);
}

#[test]
fn smce_deployer_mfa_exemption_resumes_at_the_check() {
    let w = World::new();
    w.aws(&[
        "iam",
        "create-group",
        "--group-name",
        "SMCE-UserRestrictions",
    ]);
    w.aws(&[
        "iam",
        "create-user",
        "--user-name",
        "hub-continuous-deployer",
    ]);
    w.aws(&[
        "iam",
        "add-user-to-group",
        "--user-name",
        "hub-continuous-deployer",
        "--group-name",
        "SMCE-UserRestrictions",
    ]);
    let rb = runbook("smce-deployer-mfa-exemption");
    let r = w.stepwise(&[
        "run",
        &rb,
        "--input",
        "account_id=123456789012",
        "--input",
        "cluster=veda-hub",
        "--input",
        "representative=Sam",
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at request-exemption"),
        "{}",
        r.stdout
    );
    let policy = w.aws(&[
        "iam",
        "get-user-policy",
        "--user-name",
        "hub-continuous-deployer",
        "--policy-name",
        "eks-describe-veda-hub",
    ]);
    let doc = policy["PolicyDocument"].to_string();
    assert!(
        doc.contains("eks:DescribeCluster")
            && doc.contains("arn:aws:eks:us-west-2:123456789012:cluster/veda-hub"),
        "{doc}"
    );
    // The exemption is not granted yet: the run stops at the check.
    let r = w.stepwise(&[
        "resume",
        "mfa-exemption-veda-hub",
        "--done",
        "request-exemption",
        "--output",
        "request-exemption.ticket=SMCE-4711",
    ]);
    w.expect(&r, 1);
    let runs = w.stepwise(&["runs"]);
    assert!(
        runs.stdout.contains("failed at exemption-granted"),
        "{}",
        runs.stdout
    );
    // Days later, SMCE has removed the user from the group: resuming lands on the check.
    w.aws(&[
        "iam",
        "remove-user-from-group",
        "--user-name",
        "hub-continuous-deployer",
        "--group-name",
        "SMCE-UserRestrictions",
    ]);
    let r = w.stepwise(&["resume", "mfa-exemption-veda-hub"]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("[5/6] exemption-granted")
            && r.stdout.contains("waiting at track-rotation"),
        "{}",
        r.stdout
    );
    let st = w.sb.state("mfa-exemption-veda-hub");
    assert_eq!(
        st["steps"]["request-exemption"]["outputs"]["ticket"],
        "SMCE-4711"
    );
    assert_eq!(st["steps"]["narrow-policy"]["attempts"], 1);
}

#[test]
fn smce_deployer_key_rotation() {
    let w = World::new();
    w.aws(&[
        "iam",
        "create-user",
        "--user-name",
        "hub-continuous-deployer",
    ]);
    let old = w.aws(&[
        "iam",
        "create-access-key",
        "--user-name",
        "hub-continuous-deployer",
    ]);
    let old_id = old["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    w.tools
        .add("gh", r#"cat > "$(dirname "$STANDIN_LOG")/gh-$3.txt""#);
    let rb = runbook("smce-deployer-key-rotation");
    // A new key is fine: the run only checks, and skips everything else.
    let r = w.stepwise(&[
        "run",
        &rb,
        "--name",
        "check",
        "--input",
        "account_id=123456789012",
    ]);
    w.expect(&r, 0);
    assert_eq!(w.sb.status_of("check", "new-key"), "skipped");
    // With the warning window covering its age, the key is rotated.
    let confirm = format!("delete-old={old_id}");
    let r = w.stepwise(&[
        "run",
        &rb,
        "--name",
        "rotate",
        "--input",
        "account_id=123456789012",
        "--input",
        "warn_days=60",
        "--input",
        "secret_prefix=VEDA_",
        "--done",
        "verify-ci",
        "--done",
        "verify-after-deactivation",
        "--done",
        "record-rotation",
        "--confirm",
        &confirm,
    ]);
    w.expect(&r, 0);
    let keys = w.aws(&[
        "iam",
        "list-access-keys",
        "--user-name",
        "hub-continuous-deployer",
    ]);
    let keys = keys["AccessKeyMetadata"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_ne!(keys[0]["AccessKeyId"], old_id.as_str());
    assert_eq!(keys[0]["Status"], "Active");
    let stored =
        std::fs::read_to_string(w.sb.path().join("gh-VEDA_AWS_SECRET_ACCESS_KEY.txt")).unwrap();
    assert_eq!(stored.len(), 40, "the secret reached gh");
    assert!(
        !w.sb.everything_on_disk("rotate").contains(&stored),
        "the secret is on disk in the run"
    );
    assert!(!r.stdout.contains(&stored), "the secret was printed");
    assert!(
        w.tools.calls().contains(
            &"gh secret set VEDA_AWS_ACCESS_KEY_ID --repo 2i2c-org/infrastructure [in ]"
                .to_string()
        ),
        "{:?}",
        w.tools.calls()
    );
}

#[test]
fn hackweek_bot() {
    let w = World::new();
    w.tools.add("gh", "cat > /dev/null");
    let r = w.stepwise(&[
        "run",
        &runbook("hackweek-bot"),
        "--name",
        "bot",
        "--input",
        "account_id=123456789012",
        "--input",
        "repository=uwhackweek/jupyterhub-deploy",
        "--done",
        "workflow",
    ]);
    w.expect(&r, 0);
    let user_policies = w.aws(&[
        "iam",
        "list-attached-user-policies",
        "--user-name",
        "github-actions-user",
    ]);
    assert_eq!(
        user_policies["AttachedPolicies"].as_array().unwrap().len(),
        0,
        "the bot has no rights of its own"
    );
    let role = w.aws(&["iam", "get-role", "--role-name", "github-actions-role"]);
    assert!(
        role["Role"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("arn:aws:iam::123456789012:user/github-actions-user")
    );
    let attached = w.aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        "github-actions-role",
    ]);
    let names: Vec<&str> = attached["AttachedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PolicyName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"AmazonEKSClusterPolicy"), "{names:?}");
    let st = w.sb.state("bot");
    assert!(
        st["steps"]["assume-check"]["outputs"]["assumed_arn"]
            .as_str()
            .unwrap()
            .contains("assumed-role/github-actions-role")
    );
    assert_eq!(
        w.tools
            .calls()
            .iter()
            .filter(|c| c.starts_with("gh secret set"))
            .count(),
        2,
        "{:?}",
        w.tools.calls()
    );
}

#[test]
fn aws_credentials_roles_anywhere() {
    let w = World::new();
    w.tools.add("aws_signing_helper", "echo '{}'");
    let config = w.sb.write(
        "aws-config",
        "[profile covalent]\ncredential_process = aws_signing_helper credential-process --certificate c.pem --private-key k.pem --trust-anchor-arn arn:ta --profile-arn arn:p --role-arn arn:r\n",
    );
    let mut cmd = w.sb.cmd(&[
        "run",
        &runbook("aws-credentials"),
        "--input",
        "method=roles-anywhere",
        "--input",
        "profile=covalent",
    ]);
    w.env(&mut cmd);
    cmd.env("AWS_CONFIG_FILE", &config);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("profile covalent uses aws_signing_helper"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AWS: acting as arn:aws:sts::123456789012:user/moto"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would be skipped") || stdout.contains("= skipped"),
        "{stdout}"
    );
}

fn new_hub_args(tf: &Path, repo: &Path, secrets: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), runbook("new-hub")];
    for i in [
        "account_id=123456789012".to_string(),
        "deployment_name=roman-staging".into(),
        "user=jdoe".into(),
        "mission=dev-roman".into(),
        "owner=Roman".into(),
        "template_deployment=roman".into(),
        "permissions_boundary=roman-boundary".into(),
        "tls_key_file=tls/hub.key".into(),
        "tls_cert_file=tls/hub.crt".into(),
        format!("terraform_repository={}", tf.display()),
        format!("deploy_repository={}", repo.display()),
        format!("secrets_repository={}", secrets.display()),
    ] {
        args.push("--input".into());
        args.push(i);
    }
    args
}

#[test]
fn new_hub_passes_the_ingress_to_the_cname() {
    let w = World::new();
    ci_network(&w);
    node_tools(&w);
    let zone = w.aws(&[
        "route53",
        "create-hosted-zone",
        "--name",
        "science.stsci.edu",
        "--caller-reference",
        "t2",
    ]);
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let host = "roman-staging.science.stsci.edu";
    tls_files(&w, host);
    let tf = fixture_repo(&w, "terraform-deploy", &hubrepos::terraform_deploy());
    let repo = fixture_repo(
        &w,
        "jupyterhub-deploy",
        &hubrepos::jupyterhub_deploy("roman"),
    );
    let secrets = w.sb.path().join("hub-secrets.git");
    bare_repo(&secrets, &[("README.md", "secrets\n", false)]);
    let mut args = new_hub_args(&tf, &repo, &secrets);
    // The requests before deployment were sent; on the node, the node's own steps are done.
    for s in [
        "--done",
        "ssl-certificate",
        "--done",
        "platform-requirements",
        "--done",
        "mast-client",
        "--skip",
        "ci-node/ssm-online=not implemented by the emulator",
        "--done",
        "ci-node/connect",
    ] {
        args.push(s.into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = w.stepwise(&args);
    let run = "hub-roman-staging";
    let r = through_the_hub(&w, run, "hub/", first);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at dns/network-login"),
        "{}",
        r.stdout
    );
    // The ingress reached the DNS part.
    let st = w.sb.state(run);
    assert_eq!(
        st["steps"]["dns"]["inputs"]["target"]["value"],
        hubrepos::ELB_HOST,
        "{}",
        st["steps"]["dns"]
    );
    let r = w.stepwise(&["resume", run, "--done", "dns/network-login"]);
    w.expect(&r, 3);
    assert!(r.stdout.contains(hubrepos::ELB_HOST), "{}", r.stdout);
    let r = w.stepwise(&[
        "resume",
        run,
        "--confirm",
        "dns/upsert=roman-staging.science.stsci.edu",
    ]);
    w.expect(&r, 0);
    check_the_hub(&w, run, "hub/", host);
    // terraform got the network the CI node's lookup found.
    let eks_vars = tfvars(&w.sb.read("terraform-deploy/aws/roman-staging.tfvars"));
    assert_eq!(eks_vars["vpc_name"], "\"dev-roman-SG\"");
    assert_eq!(eks_vars["worker_sg_name"], "\"jupyterhub-worker-sg\"");
    let records = w.aws(&[
        "route53",
        "list-resource-record-sets",
        "--hosted-zone-id",
        &zone_id,
    ]);
    let cname = records["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Type"] == "CNAME")
        .expect("a CNAME record");
    assert_eq!(cname["Name"], "roman-staging.science.stsci.edu.");
    assert_eq!(cname["ResourceRecords"][0]["Value"], hubrepos::ELB_HOST);
    assert_eq!(instance(&w, "jdoe-ci")["State"]["Name"], "stopped");
}

#[test]
fn new_hub_on_the_laptop_stops_and_says_how_to_carry_on() {
    let w = World::new();
    ci_network(&w);
    // The laptop: git, the aws CLI and sops, but none of the node's other tools.
    let host = "roman-staging.science.stsci.edu";
    let tf = w.sb.path().join("tf.git");
    let repo = w.sb.path().join("deploy.git");
    let secrets = w.sb.path().join("secrets.git");
    let mut args = new_hub_args(&tf, &repo, &secrets);
    args.push("--skip".into());
    args.push("ci-node/ssm-online=not implemented by the emulator".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.stepwise(&args);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at ssl-certificate"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("> Please issue an SSL certificate for `{host}`")),
        "{}",
        r.stdout
    );
    let run = "hub-roman-staging";
    // The certificate has arrived (it is in ACM), the requests were answered.
    tls_files(&w, host);
    let r = w.stepwise(&[
        "resume",
        run,
        "--done",
        "ssl-certificate",
        "--done",
        "platform-requirements",
        "--done",
        "mast-client",
        "--done",
        "ci-node/connect",
    ]);
    w.expect(&r, 1);
    assert_eq!(w.sb.status_of(run, "certificate-issued"), "succeeded");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(w.sb.status_of(run, "on-the-node"), "failed");
    assert!(all.contains("This machine lacks:"), "{all}");
    assert!(
        all.contains("stepwise run runbooks/new-hub.yaml --input account_id=123456789012 --input deployment_name=roman-staging"),
        "{all}"
    );
    assert!(
        all.contains("--done ssl-certificate --done platform-requirements --done mast-client --done ci-node/connect"),
        "{all}"
    );
    // Nothing of the node's part ran.
    assert_eq!(w.sb.status_of(run, "terraform"), "pending");
    assert_eq!(w.sb.status_of(run, "ci-node/launch"), "succeeded");
}
