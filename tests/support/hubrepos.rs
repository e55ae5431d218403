//! Fixture repositories with the interfaces of the real ones the STScI page describes, and
//! stand-ins that refuse what the real tools refuse.
//!
//! Written from what spacetelescope/terraform-deploy (c30d228) and
//! spacetelescope/jupyterhub-deploy (fec9a42) declare, not copied from them: the modules'
//! variable names and which have a default, the tfvars example and template with their
//! placeholders, `setup-env.template`'s variables, the `tools/` scripts' arguments and the
//! environment they read, and the secrets layout. The stand-ins (terraform, helm, kubectl,
//! docker) log each call like the others in `standins.rs`, and write each refusal to
//! `refused.log` beside the calls, so a test can assert that none refused.

#![allow(dead_code)]

/// A fixture file: path, content, executable.
pub type File = (&'static str, String, bool);

fn text(path: &'static str, content: &str) -> File {
    (path, content.to_string(), false)
}

fn script(path: &'static str, content: &str) -> File {
    (path, content.to_string(), true)
}

/// terraform-deploy: the two modules' variables (same names, same defaults), the
/// kms-codecommit example and the aws template with their placeholders.
pub fn terraform_deploy() -> Vec<File> {
    vec![
        text(
            "kms-codecommit/variables.tf",
            r#"variable "region" {
  default = "us-east-1"
}

variable "repo_name" {
  description = "CodeCommit repository for the secrets"
  type = string
}

variable "sops_s3_bucket" {
  description = "Bucket that keeps .sops.yaml"
  type = string
}

variable "sops_s3_key" {
  description = "Key of .sops.yaml in the bucket"
  type = string
}

variable "sops_s3_source" {
  description = "Local .sops.yaml to upload"
  type = string
}

variable "owner_tag" {
  description = "Owner tag"
  type = string
}
"#,
        ),
        text(
            "kms-codecommit/main.tf",
            "# CodeCommit, KMS key, .sops.yaml and its bucket\n",
        ),
        text(
            "kms-codecommit/your-vars.tfvars.example",
            r#"region = "us-east-1"

repo_name = "<deployment-name>-secrets"
sops_s3_bucket = "<deployment-name>-sops-config"
sops_s3_source= ".sops.yaml"
sops_s3_key = ".sops.yaml"
"#,
        ),
        text(
            "aws/variables.tf",
            r#"variable "region" {
  default = "us-east-1"
}

variable "cluster_name" {
  default = "change-this-cluster-name"
}

variable "map_accounts" {
  type    = list(string)
  default = []
}

variable "map_roles" {
  type = list(object({
    rolearn  = string
    username = string
    groups   = list(string)
  }))
  default = []
}

variable "map_users" {
  type = list(object({
    userarn  = string
    username = string
    groups   = list(string)
  }))
  default = []
}

variable "permissions_boundary" {
  type = string
}

variable "rolearn" {
  type = string
}

variable "username" {
  type = string
}

variable vpc_name {
  type = string
}

variable private_subnet_names {
  type    = list(string)
  default = ["*Private*"]
}

variable public_subnet_names {
  type    = list(string)
  default = ["*Public*"]
}

variable cluster_sg_name {
  type = string
}

variable worker_sg_name {
  type = string
}

variable allowed_roles {
  default = []
}

variable cluster_version {
  default = "1.17"
  type    = string
}
"#,
        ),
        text("aws/main.tf", "# the EKS cluster, its node groups, ECR\n"),
        text(
            "aws/your-cluster.tfvars.template",
            r#"# The cluster's region
region = "us-east-1"

cluster_name = "<YOUR-CLUSTER>"

cluster_version = "1.17"

allowed_roles = ["<DEPLOY-ROLE>"]

permissions_boundary = "arn:aws:iam::<account-id>:policy/<perm-boundary-policy>"

rolearn = "arn:aws:iam::<account-id>:role/jupyterhub-admin"

username = "jupyterhub-admin"

# The network IT made
vpc_name = "<VPC-NAME>"   # e.g. "DEV-XX-SB"

public_subnet_names = ["<PUBLIC-SUBNET-NAMES-OR-PATTERNS>"]  # e.g. ["DEV-XX-SB-Public-*"]
private_subnet_names = ["<PRIVATE-SUBNET-NAMES-OR-PATTERNS>"]  # e.g. ["DEV-XX-SB-Private-*"]

cluster_sg_name = "jupyterhub-cluster-sg"

worker_sg_name = "jupyterhub-worker-sg"
"#,
        ),
    ]
}

/// Refuses unless the basic inputs of setup-env were set (the template's placeholders are
/// runs of X, Y and Z); each tool starts with it.
const SETUP_ENV_SET: &str = r#"for v in ACCOUNT_ID ADMIN_ROLENAME DEPLOYMENT_NAME ENVIRONMENT IMAGE_TAG ADMIN_ARN IMAGE_DIR IMAGE_ID JUPYTERHUB_DIR; do
  val=${!v:-}
  case $val in
    ''|*XXXX*|*YYYY*|*ZZZZ*)
      echo "$0: $v is not set: source setup-env first" >&2
      echo "$0: $v=$val" >> "$(dirname "$STANDIN_LOG")/refused.log"
      exit 1 ;;
  esac
done
"#;

/// jupyterhub-deploy: `setup-env.template`, the `tools/` scripts (reading the environment
/// and taking the arguments the real ones do), a deployment to copy, the hub chart, and the
/// secrets example's shape.
pub fn jupyterhub_deploy(template: &str) -> Vec<File> {
    let tool = |body: &str| format!("#!/usr/bin/env bash\nset -eu\n{SETUP_ENV_SET}{body}");
    let config = |name: &'static str| -> &'static str {
        match name {
            "common" => "deployments/TEMPLATE/config/common.yaml",
            "staging" => "deployments/TEMPLATE/config/staging.yaml",
            "prod" => "deployments/TEMPLATE/config/prod.yaml",
            _ => "deployments/TEMPLATE/image/Dockerfile",
        }
    };
    let mut files = vec![
        text(
            "setup-env.template",
            r#"# Copy to setup-env and set the basic inputs; source it from this folder.

# basic inputs, must be set
export ACCOUNT_ID=XXXXXXXXXXXXXXXX
export ADMIN_ROLENAME=YYYYYYYYYYYYYYYY
export DEPLOYMENT_NAME=ZZZZZZZZZZZZZZZZ
export ENVIRONMENT=staging    # or prod, ...
export IMAGE_TAG=latest

# extra docker run parameters for image-exec
export IMAGE_RUN_PARS="--rm"

# derived inputs
export JUPYTERHUB_DIR=`pwd`
export ADMIN_ARN=arn:aws:iam::${ACCOUNT_ID}:role/${ADMIN_ROLENAME}
export IMAGE_DIR=`pwd`/deployments/${DEPLOYMENT_NAME}/image
export IMAGE_ID=${ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/${DEPLOYMENT_NAME}-user-image:${IMAGE_TAG}
export PATH="`pwd`/tools":${PATH}
"#,
        ),
        script(
            "tools/image-build",
            &tool("cd \"$IMAGE_DIR\"\ndocker build --tag \"$IMAGE_ID\" .\n"),
        ),
        script(
            "tools/image-exec",
            &tool("cd \"$IMAGE_DIR\"\ndocker run -it $IMAGE_RUN_PARS \"$IMAGE_ID\" \"$@\"\n"),
        ),
        script(
            "tools/image-test",
            &tool("image-exec /opt/common-scripts/test-environments\n"),
        ),
        script(
            "tools/image-push",
            &tool(
                "cd \"$IMAGE_DIR\"\nawsudo \"$ADMIN_ARN\" aws ecr get-login-password --region=us-east-1 | docker login --username AWS --password-stdin \"$ACCOUNT_ID.dkr.ecr.us-east-1.amazonaws.com\"\ndocker push \"$IMAGE_ID\"\n",
            ),
        ),
        script(
            "tools/deploy-all",
            &tool(
                "cd \"$JUPYTERHUB_DIR\"\nawsudo \"$ADMIN_ARN\" aws eks update-kubeconfig --name \"$DEPLOYMENT_NAME\" --region us-east-1 --role-arn \"arn:aws:iam::$ACCOUNT_ID:role/jupyterhub-admin\"\ntools/deploy \"$DEPLOYMENT_NAME\" \"$ACCOUNT_ID\" \"secrets/deployments/$DEPLOYMENT_NAME/secrets/$ENVIRONMENT.yaml\" \"$ENVIRONMENT\"\nkubectl get svc proxy-public\n",
            ),
        ),
        // tools/deploy takes its four arguments and reads nothing else from the environment.
        script(
            "tools/deploy",
            r#"#!/usr/bin/env bash
set -eu
[ $# -eq 4 ] || { echo "usage: tools/deploy DEPLOYMENT ACCOUNT SECRETS_YAML ENVIRONMENT" >&2; exit 2; }
deployment_name=$1
account_id=$2
secrets_yaml=$3
environment=$4
rm -rf hub/charts/*
helm dependency update hub
tmp_decrypted=~/staging.yaml.decrypted
pushd "$(dirname "$secrets_yaml")" > /dev/null
sops --decrypt "$(basename "$secrets_yaml")" > "$tmp_decrypted"
popd > /dev/null
helm upgrade --wait --install "$deployment_name-$environment" hub -f "deployments/$deployment_name/config/common.yaml" -f "deployments/$deployment_name/config/$environment.yaml" -f "$tmp_decrypted" --set-string "jupyterhub.singleuser.image.name=$account_id.dkr.ecr.us-east-1.amazonaws.com/$deployment_name-user-image"
rm "$tmp_decrypted"
"#,
        ),
        text(
            "hub/Chart.yaml",
            "apiVersion: v1\nname: hub\nversion: 0.1.0\n",
        ),
        text(
            "hub/requirements.yaml",
            "dependencies:\n  - name: jupyterhub\n    repository: https://jupyterhub.github.io/helm-chart\n",
        ),
        text("hub/values.yaml", "jupyterhub: {}\n"),
        text(".gitignore", "hub/charts/\ndeployments/*/secrets/*\n"),
        text("doc/example-staging-decrypted.yaml", EXAMPLE_STAGING),
    ];
    let template_files = [
        (
            config("common"),
            "jupyterhub:\n  singleuser:\n    image:\n      tag: latest\n  auth:\n    users:\n      - someone@example.org\n    admin:\n      users:\n        - someone@example.org\n",
        ),
        (
            config("staging"),
            "jupyterhub:\n  prePuller:\n    continuous:\n      enabled: true\n",
        ),
        (config("prod"), "jupyterhub: {}\n"),
        (config("image"), "FROM jupyter/base-notebook\n"),
    ];
    for (path, content) in template_files {
        let path: &'static str = Box::leak(path.replace("TEMPLATE", template).into_boxed_str());
        files.push(text(path, content));
    }
    files
}

/// The shape of `doc/example-staging-decrypted.yaml`, with the authenticator's settings
/// under `config` as the encrypted example has them.
pub const EXAMPLE_STAGING: &str = r#"jupyterhub:
    proxy:
        secretToken: [REDACTED]
        https:
            enabled: true
            type: manual
            hosts:
                - [URL]
            manual:
                key: |
                    -----BEGIN RSA PRIVATE KEY-----
                    [REDACTED]
                    -----END RSA PRIVATE KEY-----
                cert: |
                    -----BEGIN CERTIFICATE-----
                    [REDACTED]
                    -----END CERTIFICATE-----
    auth:
        type: custom
        custom:
            className: oauthenticator.generic.GenericOAuthenticator
            config:
                client_id: [REDACTED]
                client_secret: [REDACTED]
                login_service: "MAST"
                oauth_callback_url: "https://[URL]/hub/oauth_callback"
                authorize_url: "https://auth.example/oauth/authorize"
                token_url: "https://auth.example/oauth/token"
                userdata_url: "https://auth.example/info"
                username_key: "eppn"
                userdata_params: {'state': 'state'}
                scope: ["mast:user:info", "mast:proprietary:hst"]
                userdata_method: GET
"#;

/// `terraform`: `init` needs a module; `apply` reads the module's `variables.tf` (which
/// variables are declared, which have a `default`) and the `-var-file`, and fails with
/// terraform's own words on a required variable left unset or a value for an undeclared
/// one, and on any `<...>` placeholder left in the file. Then it does what the module would
/// in the emulator: kms-codecommit makes a KMS key, writes `.sops.yaml` and uploads it to
/// the bucket the variables name (failing once first: the page's missing `depends_on`);
/// aws looks the VPC, subnets and security groups up by their Name tags as the module's
/// data sources do, and makes the ECR repository and the EKS cluster.
pub const TERRAFORM: &str = r#"refused="$(dirname "$STANDIN_LOG")/refused.log"
refuse() { echo "terraform [$(basename "$PWD")]: $*" >> "$refused"; }
case "$1" in
  init)
    ls ./*.tf > /dev/null 2>&1 || { echo "Terraform initialized in an empty directory!" >&2; refuse "init without a module"; exit 1; }
    echo "Terraform has been successfully initialized!" ;;
  apply)
    varfile=""
    noinput=""
    for a in "$@"; do
      case $a in -var-file=*) varfile=${a#-var-file=} ;; -input=false) noinput=1 ;; esac
    done
    [ -n "$noinput" ] || { refuse "apply would prompt (no -input=false)"; exit 1; }
    if [ -z "$varfile" ] || [ ! -f "$varfile" ]; then
      echo "Error: Failed to read variables file" >&2
      refuse "no variables file: $varfile"; exit 1
    fi
    declared=$(awk '
      /^[[:space:]]*variable[[:space:]]/ { name = $2; gsub(/["{]/, "", name); depth = 0; has = 0; inside = 1 }
      inside {
        if (depth == 1 && $0 ~ /^[[:space:]]*default[[:space:]]*=/) has = 1
        opens = gsub(/\{/, "{"); closes = gsub(/\}/, "}")
        depth += opens - closes
        if (depth <= 0 && (opens + closes) > 0) { print name, (has ? "optional" : "required"); inside = 0 }
      }' variables.tf)
    body=$(sed 's/#.*//' "$varfile")
    given=$(printf '%s\n' "$body" | sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_-]*\)[[:space:]]*=.*/\1/p')
    failed=""
    if printf '%s\n' "$body" | grep -n '<[^<>]*>' >&2; then
      echo "Error: placeholder left in $varfile (lines above)" >&2
      refuse "placeholder left in $varfile"; failed=1
    fi
    for name in $given; do
      if ! printf '%s\n' "$declared" | grep -q "^$name "; then
        echo "Error: Value for undeclared variable" >&2
        echo "The root module does not declare a variable named \"$name\" but a value was found in file \"$varfile\"." >&2
        refuse "undeclared variable $name"; failed=1
      fi
    done
    while read -r name kind; do
      [ "$kind" = required ] || continue
      if ! printf '%s\n' "$given" | grep -qx "$name"; then
        echo "Error: No value for required variable" >&2
        echo "The root module input variable \"$name\" is not set, and has no default value. Use a -var or -var-file command line argument to provide a value for this variable." >&2
        refuse "no value for required variable $name"; failed=1
      fi
    done <<< "$declared"
    [ -z "$failed" ] || exit 1
    val() { printf '%s\n' "$body" | sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" | head -n 1 | sed 's/[[:space:]]*$//; s/^\[//; s/\]$//; s/^"//; s/"$//'; }
    case "$(basename "$PWD")" in
      kms-codecommit)
        if [ ! -e .applied-once ]; then
          touch .applied-once
          echo "Error: error uploading object to S3 bucket: NoSuchBucket (missing depends_on)" >&2
          exit 1
        fi
        key=$(aws kms create-key --description "sops $(val repo_name)" --query KeyMetadata.Arn --output text)
        printf 'creation_rules:\n  - path_regex: .*\n    kms: "%s"\n' "$key" > "$(val sops_s3_source)"
        if [ -n "${STANDIN_SOPS_AGE:-}" ]; then printf '    age: %s\n' "$STANDIN_SOPS_AGE" >> "$(val sops_s3_source)"; fi
        aws s3api create-bucket --bucket "$(val sops_s3_bucket)" > /dev/null
        aws s3api put-object --bucket "$(val sops_s3_bucket)" --key "$(val sops_s3_key)" --body "$(val sops_s3_source)" > /dev/null ;;
      aws)
        vpc=$(aws ec2 describe-vpcs --filters "Name=tag:Name,Values=$(val vpc_name)" --query 'Vpcs[0].VpcId' --output text)
        [ "$vpc" != None ] || { echo "Error: no matching VPC found" >&2; refuse "no VPC named $(val vpc_name)"; exit 1; }
        subnets=$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc" "Name=tag:Name,Values=$(val private_subnet_names)" --query 'Subnets[].SubnetId' --output text)
        [ -n "$subnets" ] || { echo "Error: no matching private subnets" >&2; refuse "no subnets named $(val private_subnet_names)"; exit 1; }
        for sg in "$(val cluster_sg_name)" "$(val worker_sg_name)"; do
          found=$(aws ec2 describe-security-groups --filters "Name=tag:Name,Values=$sg" --query 'SecurityGroups[0].GroupId' --output text)
          [ "$found" != None ] || { echo "Error: no matching SecurityGroup found" >&2; refuse "no security group tagged $sg"; exit 1; }
        done
        aws ecr create-repository --repository-name "$(val cluster_name)-user-image" > /dev/null
        aws eks create-cluster --name "$(val cluster_name)" --role-arn "$(val rolearn)" \
          --resources-vpc-config "subnetIds=$(printf '%s' "$subnets" | tr '\t' ',')" > /dev/null ;;
    esac
    echo "Apply complete!" ;;
esac"#;

/// `helm`: `dependency update DIR` needs the chart; `upgrade` fails like helm when a `-f`
/// file is missing, needs a kubeconfig, and refuses values that still hold a placeholder
/// or sops ciphertext. The release is remembered for kubectl.
pub const HELM: &str = r#"state="$(dirname "$STANDIN_LOG")"
refuse() { echo "helm: $*" >> "$state/refused.log"; }
case "$1" in
  dependency)
    [ "$2" = update ] && [ -f "$3/Chart.yaml" ] || { echo "Error: could not find Chart.yaml in $3" >&2; refuse "no chart in $3"; exit 1; }
    mkdir -p "$3/charts" && : > "$3/charts/jupyterhub.tgz" ;;
  upgrade)
    shift; release=""; files=()
    while [ $# -gt 0 ]; do
      case $1 in
        -f|--values) files+=("$2"); shift 2 ;;
        --set-string|--set) shift 2 ;;
        -*) shift ;;
        *) [ -n "$release" ] || release=$1; shift ;;
      esac
    done
    for f in "${files[@]}"; do
      [ -f "$f" ] || { echo "Error: open $f: no such file or directory" >&2; refuse "missing -f $f"; exit 1; }
    done
    cfg=${KUBECONFIG:-$HOME/.kube/config}
    [ -f "$cfg" ] || { echo "Error: Kubernetes cluster unreachable" >&2; refuse "no kubeconfig"; exit 1; }
    for f in "${files[@]}"; do
      if grep -qE '\[(REDACTED|URL)\]|ENC\[AES256_GCM' "$f"; then refuse "$f holds a placeholder or ciphertext"; exit 1; fi
    done
    grep -q 'secretToken' "${files[-1]}" || { refuse "the last values file has no secretToken"; exit 1; }
    context=$(sed -n 's/^current-context: //p' "$cfg")
    echo "$release ${context##*/}" > "$state/helm-release"
    echo "Release \"$release\" has been upgraded. Happy Helming!" ;;
  *) refuse "unexpected: $*"; exit 1 ;;
esac"#;

/// The ELB host name the stand-in's service gets.
pub const ELB_HOST: &str =
    "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5-1234567890.us-east-1.elb.amazonaws.com";

/// `kubectl get svc proxy-public`: the real column layout (each column as wide as its
/// widest cell, three spaces apart), with the ELB host name under EXTERNAL-IP, once helm
/// installed a release into the kubeconfig's current cluster.
pub fn kubectl() -> String {
    let rows = [
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        [
            "proxy-public",
            "LoadBalancer",
            "10.100.183.75",
            ELB_HOST,
            "443:31854/TCP,80:30563/TCP",
            "2m",
        ],
    ];
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let table: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = (0..6)
                .map(|c| format!("{:w$}", r[c], w = widths[c]))
                .collect();
            format!("echo '{}'", cells.join("   ").trim_end())
        })
        .collect();
    format!(
        r#"state="$(dirname "$STANDIN_LOG")"
cfg=${{KUBECONFIG:-$HOME/.kube/config}}
[ -f "$cfg" ] || {{ echo "The connection to the server localhost:8080 was refused - did you specify the right host or port?" >&2; echo "kubectl: no kubeconfig" >> "$state/refused.log"; exit 1; }}
context=$(sed -n 's/^current-context: //p' "$cfg")
if [ "$*" = "get svc proxy-public" ] && grep -q " ${{context##*/}}\$" "$state/helm-release" 2>/dev/null; then
{}
else
  echo "Error from server (NotFound): services \"proxy-public\" not found" >&2
  echo "kubectl: $*" >> "$state/refused.log"
  exit 1
fi"#,
        table.join("\n")
    )
}

/// `docker`: `build` needs a Dockerfile; `login` a password on stdin; `push` an image built
/// here, a login to its registry and an ECR repository of that name; `run -t` a terminal.
pub const DOCKER: &str = r#"state="$(dirname "$STANDIN_LOG")"
refuse() { echo "docker: $*" >> "$state/refused.log"; }
case "$1" in
  build)
    shift; tag=""; dir=.
    while [ $# -gt 0 ]; do case $1 in --tag|-t) tag=$2; shift 2 ;; *) dir=$1; shift ;; esac; done
    [ -f "$dir/Dockerfile" ] || { echo "unable to prepare context: Dockerfile: no such file or directory" >&2; refuse "no Dockerfile in $PWD"; exit 1; }
    [ -n "$tag" ] || { refuse "build without --tag"; exit 1; }
    echo "$tag" >> "$state/docker-images"
    echo "Successfully tagged $tag" ;;
  login)
    password=$(cat)
    [ -n "$password" ] || { echo "Error: Cannot perform an interactive login from a non TTY device" >&2; refuse "login without a password"; exit 1; }
    registry=${!#}
    echo "$registry" >> "$state/docker-logins"
    echo "Login Succeeded" ;;
  push)
    image=$2
    grep -qx "$image" "$state/docker-images" 2>/dev/null || { echo "An image does not exist locally with the tag: $image" >&2; refuse "push of an image not built: $image"; exit 1; }
    grep -qx "${image%%/*}" "$state/docker-logins" 2>/dev/null || { echo "no basic auth credentials" >&2; refuse "push without login"; exit 1; }
    repo=${image#*/}; repo=${repo%%:*}
    aws ecr describe-repositories --repository-names "$repo" > /dev/null 2>&1 || { echo "name unknown: The repository with name '$repo' does not exist in the registry" >&2; refuse "no ECR repository $repo"; exit 1; }
    echo "latest: digest: sha256:0123 size: 1234" ;;
  run)
    for a in "$@"; do case $a in -it|-ti|-t) [ -t 0 ] || { echo "the input device is not a TTY" >&2; refuse "run -t without a terminal"; exit 1; } ;; esac; done ;;
  *) refuse "unexpected: $*"; exit 1 ;;
esac"#;
