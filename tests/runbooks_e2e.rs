//! Every shipped runbook, run end to end in plain mode against moto, with manual steps
//! confirmed on the command line. git runs for real against local bare repositories, sops
//! runs for real with a test age key, and the tools that cannot run here (terraform, awsudo,
//! gh, the image scripts) are recording stand-ins whose command lines are checked. What AWS
//! holds afterwards is checked with the `aws` CLI, an independent client.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/standins.rs"]
mod standins;

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
        cmd.env("PATH", self.tools.path())
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
        "create-security-group",
        "--group-name",
        "jupyterhub-worker-sg",
        "--description",
        "workers",
        "--vpc-id",
        &vpc_id,
    ]);
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

fn terraform_standin(w: &World) {
    w.tools.add(
        "terraform",
        r#"case "$1" in
  init) echo "Terraform has been successfully initialized!" ;;
  apply)
    if [ "$(basename "$PWD")" = kms-codecommit ] && [ ! -e .applied-once ]; then
      touch .applied-once
      echo "Error: reference to resource not yet created (missing depends_on)" >&2
      exit 1
    fi
    if [ "$(basename "$PWD")" = kms-codecommit ]; then
      printf 'creation_rules:\n  - kms: arn:aws:kms:us-east-1:123456789012:key/test\n' > .sops.yaml
    fi
    echo "Apply complete!" ;;
esac"#,
    );
}

#[test]
fn terraform_deploy() {
    let w = World::new();
    terraform_standin(&w);
    let bare = w.sb.path().join("terraform-deploy.git");
    bare_repo(
        &bare,
        &[
            ("kms-codecommit/main.tf", "# kms\n", false),
            (
                "kms-codecommit/your-vars.tfvars.example",
                "region = \"\"\n",
                false,
            ),
            ("aws/main.tf", "# eks\n", false),
        ],
    );
    let r = w.stepwise(&[
        "run",
        &runbook("terraform-deploy"),
        "--input",
        &format!("account_id={ACCOUNT}"),
        "--input",
        "deployment_name=roman-staging",
        "--input",
        "owner=Roman",
        "--input",
        &format!("repository={}", bare.display()),
    ]);
    w.expect(&r, 0);
    assert!(
        r.stdout
            .contains("first apply failed (known missing depends_on); applying again"),
        "{}",
        r.stdout
    );
    let apply =
        "terraform apply -input=false -var-file=roman-staging.tfvars -auto-approve".to_string();
    let kms = "[in /terraform-deploy/kms-codecommit]";
    let eks = "[in /terraform-deploy/aws]";
    assert_eq!(
        w.tools.calls(),
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
    let vars =
        w.sb.read("terraform-deploy/kms-codecommit/roman-staging.tfvars");
    assert!(vars.contains("Owner = \"Roman\""), "{vars}");
    assert!(
        vars.contains(&format!("admin_role_arn  = \"{ADMIN}\"")),
        "{vars}"
    );
    let out = w.sb.state("terraform-roman-staging")["steps"]["kms-apply"]["outputs"]["sops_config"]
        .clone();
    assert!(
        out.as_str()
            .unwrap()
            .ends_with("terraform-deploy/kms-codecommit/.sops.yaml"),
        "{out}"
    );
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
        &format!("creation_rules:\n  - kms: {arn}\n    age: {AGE_RECIPIENT}\n"),
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

const STAGING: &str = "hub:\n  proxy_token: 0123456789abcdef\n  client_secret: mast-secret\n";

#[test]
fn sops_secrets_for_real() {
    let w = World::new();
    let kms_arn = sops_config(&w, "roman-staging");
    let bare = w.sb.path().join("secrets.git");
    bare_repo(&bare, &[("README.md", "secrets\n", false)]);
    let rb = runbook("sops-secrets");
    let base = [
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
    ];
    let repo = format!("repository={}", bare.display());
    let mut args = vec!["run", rb.as_str()];
    args.extend(base);
    args.extend(["--input", repo.as_str(), "--input", "folder=secrets"]);
    let r = w.stepwise(&args);
    // The editor step needs a terminal: plain mode without one stops there.
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at write-staging"),
        "{}",
        r.stdout
    );
    let sops_yaml = w.sb.read("secrets/.sops.yaml");
    assert!(
        sops_yaml.contains(&format!("kms: {kms_arn}+{ADMIN}")),
        "{sops_yaml}"
    );
    assert!(
        r.stdout.contains(&format!("+  - kms: {kms_arn}+{ADMIN}")),
        "the fix is shown as a diff: {}",
        r.stdout
    );

    // In a terminal (script(1) gives one), sops opens the "editor", which writes the secrets.
    let editor = w.sb.write(
        "editor.sh",
        &format!("#!/bin/sh\nprintf '%s' '{STAGING}' > \"$1\"\n"),
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
    let staging = w.sb.read("secrets/staging.yaml");
    assert!(
        !staging.contains("mast-secret"),
        "staging.yaml is not encrypted:\n{staging}"
    );
    assert!(
        staging.contains(&format!("role: {ADMIN}")),
        "the role is in the sops metadata:\n{staging}"
    );
    // It decrypts, with the role edit in place.
    let plain = sops(
        &w,
        &w.sb.path().join("secrets"),
        &["--decrypt", "staging.yaml"],
    );
    let as_data = |text: &str| {
        stepwise::runbook::yaml::Node::parse(text)
            .unwrap()
            .to_json()
    };
    assert_eq!(as_data(&plain), as_data(STAGING), "{plain}");
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

fn deploy_repo(w: &World) -> PathBuf {
    let tool = |name: &str| {
        format!(
            "#!/bin/sh\necho \"tools/{name} $DEPLOYMENT_NAME\" >> \"$STANDIN_LOG\"\necho {name} done\n"
        )
    };
    let deploy_all = "#!/bin/sh\necho \"tools/deploy-all $DEPLOYMENT_NAME\" >> \"$STANDIN_LOG\"\necho 'NAME           TYPE           CLUSTER-IP    EXTERNAL-IP                          PORT(S)'\necho 'proxy-public   LoadBalancer   10.100.20.5   a1b2c3.us-east-1.elb.amazonaws.com   80:31000/TCP'\n";
    let bare = w.sb.path().join("jupyterhub-deploy.git");
    bare_repo(
        &bare,
        &[
            (
                "deployments/jwst/image/Dockerfile",
                "FROM jupyter/base-notebook\n",
                false,
            ),
            (
                "setup-env.template",
                "export DEPLOYMENT_NAME=CHANGEME\n",
                false,
            ),
            ("tools/image-build", &tool("image-build"), true),
            ("tools/image-test", &tool("image-test"), true),
            ("tools/image-push", &tool("image-push"), true),
            ("tools/deploy-all", deploy_all, true),
        ],
    );
    bare
}

/// A secrets repository that already holds an encrypted staging.yaml (made here with sops).
fn seeded_secrets_repo(w: &World, kms_arn: &str) -> PathBuf {
    let seed = w.sb.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    std::fs::write(
        seed.join(".sops.yaml"),
        format!("creation_rules:\n  - kms: {kms_arn}\n    age: {AGE_RECIPIENT}\n"),
    )
    .unwrap();
    std::fs::write(seed.join("staging.yaml"), STAGING).unwrap();
    sops(w, &seed, &["--encrypt", "--in-place", "staging.yaml"]);
    let staging = std::fs::read_to_string(seed.join("staging.yaml")).unwrap();
    let bare = w.sb.path().join("hub-secrets.git");
    bare_repo(&bare, &[("staging.yaml", &staging, false)]);
    bare
}

fn finish_deploy(w: &World, run: &str, first: Ran) -> Ran {
    w.expect(&first, 3);
    assert!(
        first.stdout.contains("waiting at adapt-deployment"),
        "{}",
        first.stdout
    );
    let r = w.stepwise(&["resume", run, "--done", "adapt-deployment"]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at edit-setup-env"),
        "{}",
        r.stdout
    );
    std::fs::write(
        w.sb.path().join("jupyterhub-deploy/setup-env"),
        "export DEPLOYMENT_NAME=roman-staging\n",
    )
    .unwrap();
    let r = w.stepwise(&["resume", run, "--done", "edit-setup-env"]);
    w.expect(&r, 3);
    assert!(r.stdout.contains("waiting at scan-review"), "{}", r.stdout);
    w.stepwise(&[
        "resume",
        run,
        "--done",
        "scan-review",
        "--output",
        "scan-review.verdict=accepted",
    ])
}

#[test]
fn jupyterhub_deploy() {
    let w = World::new();
    let kms_arn = sops_config(&w, "roman-staging");
    let repo = deploy_repo(&w);
    let secrets = seeded_secrets_repo(&w, &kms_arn);
    // The secrets repository is the deployment's CodeCommit one; here a local one.
    let first = w.stepwise(&[
        "run",
        &runbook("jupyterhub-deploy"),
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
        "--input",
        "template_deployment=jwst",
        "--input",
        &format!("repository={}", repo.display()),
        "--input",
        &format!("secrets_repository={}", secrets.display()),
    ]);
    let r = finish_deploy(&w, "deploy-roman-staging", first);
    w.expect(&r, 0);
    let st = w.sb.state("deploy-roman-staging");
    assert_eq!(
        st["steps"]["deploy"]["outputs"]["external_ip"],
        "a1b2c3.us-east-1.elb.amazonaws.com"
    );
    let calls: Vec<String> = w
        .tools
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("tools/"))
        .collect();
    assert_eq!(
        calls,
        [
            "tools/image-build roman-staging",
            "tools/image-test roman-staging",
            "tools/image-push roman-staging",
            "tools/deploy-all roman-staging"
        ]
    );
    assert!(
        git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"])
            .contains("deployments/roman-staging/image/Dockerfile")
    );
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

#[test]
fn new_hub_passes_the_ingress_to_the_cname() {
    let w = World::new();
    ci_network(&w);
    terraform_standin(&w);
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
    let kms_arn = sops_config(&w, "roman-staging");
    let tf = w.sb.path().join("terraform-deploy.git");
    bare_repo(
        &tf,
        &[
            ("kms-codecommit/main.tf", "#\n", false),
            ("aws/main.tf", "#\n", false),
        ],
    );
    let repo = deploy_repo(&w);
    let secrets = seeded_secrets_repo(&w, &kms_arn);
    let first = w.stepwise(&[
        "run",
        &runbook("new-hub"),
        "--input",
        "account_id=123456789012",
        "--input",
        "deployment_name=roman-staging",
        "--input",
        "user=jdoe",
        "--input",
        "mission=dev-roman",
        "--input",
        "owner=Roman",
        "--input",
        "template_deployment=jwst",
        "--input",
        &format!("terraform_repository={}", tf.display()),
        "--input",
        &format!("deploy_repository={}", repo.display()),
        "--input",
        &format!("secrets_repository={}", secrets.display()),
        "--skip",
        "ci-node/ssm-online=not implemented by the emulator",
        "--done",
        "ci-node/connect",
    ]);
    let run = "hub-roman-staging";
    w.expect(&first, 3);
    assert!(
        first.stdout.contains("waiting at hub/adapt-deployment"),
        "{}",
        first.stdout
    );
    let r = w.stepwise(&["resume", run, "--done", "hub/adapt-deployment"]);
    w.expect(&r, 3);
    std::fs::write(
        w.sb.path().join("jupyterhub-deploy/setup-env"),
        "export DEPLOYMENT_NAME=roman-staging\n",
    )
    .unwrap();
    let r = w.stepwise(&["resume", run, "--done", "hub/edit-setup-env"]);
    w.expect(&r, 3);
    let r = w.stepwise(&[
        "resume",
        run,
        "--done",
        "hub/scan-review",
        "--output",
        "hub/scan-review.verdict=accepted",
    ]);
    w.expect(&r, 3);
    assert!(
        r.stdout.contains("waiting at dns/network-login"),
        "{}",
        r.stdout
    );
    let r = w.stepwise(&["resume", run, "--done", "dns/network-login"]);
    w.expect(&r, 3);
    let r = w.stepwise(&[
        "resume",
        run,
        "--confirm",
        "dns/upsert=roman-staging.science.stsci.edu",
    ]);
    w.expect(&r, 0);
    let records = w.aws(&[
        "route53",
        "list-resource-record-sets",
        "--hosted-zone-id",
        &zone_id,
    ]);
    assert!(
        records
            .to_string()
            .contains("a1b2c3.us-east-1.elb.amazonaws.com"),
        "{records}"
    );
    assert_eq!(instance(&w, "jdoe-ci")["State"]["Name"], "stopped");
}
