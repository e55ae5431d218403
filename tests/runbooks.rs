//! The shipped runbooks: they validate, every step says why it is there, and every dry run
//! renders completely (snapshots in tests/snapshots/).

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use cli::Sandbox;

#[test]
fn every_shipped_runbook_validates() {
    let files = cli::shipped_runbooks();
    assert!(files.len() >= 12, "runbooks missing: {files:?}");
    for file in files {
        if let Err(diags) = stepwise::runbook::load(&file) {
            let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("{} does not validate:\n{}", file.display(), text.join("\n"));
        }
    }
}

#[test]
fn every_step_has_a_title_and_says_why() {
    for file in cli::shipped_runbooks() {
        let plan = stepwise::runbook::load(&file).unwrap();
        let rb = plan.root();
        assert!(
            rb.doc
                .description
                .as_deref()
                .is_some_and(|d| d.trim().len() >= 40),
            "{}: the runbook needs a description of what it is for",
            file.display()
        );
        for step in &rb.doc.steps {
            let id = &step.id.value;
            assert!(
                !step.title.trim().is_empty(),
                "{}: step {id} has no title",
                file.display()
            );
            let why = step.description.as_deref().unwrap_or_default().trim();
            assert!(
                why.len() >= 30 && why != step.title.trim(),
                "{}: step {id} needs a description that says why it is there (got {why:?})",
                file.display()
            );
        }
    }
}

/// Inputs that make each dry run read like a real one.
fn inputs_for(name: &str) -> Vec<&'static str> {
    match name {
        "smce-account-access" => vec![
            "community=veda",
            "representative=Sam Rep",
            "account_id=123456789012",
            "first_engineer=alice",
            "engineers=bob,carol",
        ],
        "smce-deployer-mfa-exemption" => vec![
            "account_id=123456789012",
            "cluster=veda-hub",
            "representative=Sam Rep",
        ],
        "smce-deployer-key-rotation" => vec!["account_id=123456789012", "secret_prefix=VEDA_"],
        "hackweek-bot" => vec![
            "account_id=123456789012",
            "repository=uwhackweek/jupyterhub-deploy",
        ],
        "example-greeting" => vec!["name=Ada", "folder=greetings"],
        "ci-node" => vec!["user=jdoe", "mission=dev-roman"],
        "terraform-deploy" => vec![
            "account_id=123456789012",
            "deployment_name=roman-staging",
            "owner=Roman",
            "permissions_boundary=roman-boundary",
            "vpc_name=DEV-ROMAN-SG",
        ],
        "sops-secrets" => vec![
            "account_id=123456789012",
            "deployment_name=roman-staging",
            "tls_key_file=tls/hub.key",
            "tls_cert_file=tls/hub.crt",
        ],
        "jupyterhub-deploy" => vec![
            "account_id=123456789012",
            "deployment_name=roman-staging",
            "template_deployment=roman",
            "tls_key_file=tls/hub.key",
            "tls_cert_file=tls/hub.crt",
        ],
        "route53-cname" => vec![
            "deployment_name=roman-staging",
            "target=a1b2.us-east-1.elb.amazonaws.com",
        ],
        "new-hub" => vec![
            "account_id=123456789012",
            "deployment_name=roman-staging",
            "user=jdoe",
            "mission=dev-roman",
            "owner=Roman",
            "template_deployment=roman",
            "permissions_boundary=roman-boundary",
            "tls_key_file=tls/hub.key",
            "tls_cert_file=tls/hub.crt",
        ],
        "aws-credentials" => vec![
            "method=roles-anywhere",
            "profile=covalent",
            "expected_role=CovalentAWSPluginsRole",
        ],
        _ => vec![],
    }
}

#[test]
fn every_dry_run_renders_completely() {
    for file in cli::shipped_runbooks() {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let sb = Sandbox::new();
        let mut args = vec![
            "run".to_string(),
            file.display().to_string(),
            "--dry-run".to_string(),
        ];
        for i in inputs_for(&name) {
            args.push("--input".into());
            args.push(i.into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = sb.run(&args);
        assert_eq!(r.code, 0, "{name}: {r:?}");
        assert!(
            !r.stdout.contains("cannot render yet"),
            "{name} does not render completely:\n{}",
            r.stdout
        );
        for (n, line) in r.stdout.lines().enumerate() {
            assert!(
                !line.contains("{{") && !line.contains("{%") && !line.contains("<inputs."),
                "{name}: line {} of the dry run holds an unresolved template: {line}",
                n + 1
            );
            assert!(
                !line.contains("--region REGION") && !line.contains("(the session's region)"),
                "{name}: line {}: the region is known: {line}",
                n + 1
            );
        }
        let text = r.stdout.replace(env!("CARGO_MANIFEST_DIR"), "[repo]");
        insta::assert_snapshot!(format!("dry_run_{}", name.replace('-', "_")), text);
    }
}
