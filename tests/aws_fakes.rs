//! What moto cannot show, tested against in-memory fakes of the service traits: time passing
//! (key ages), states that last (a pending instance, a DNS change that stays PENDING, an SSM
//! agent coming online), and credentials expiring in the middle of a run.

#![allow(clippy::unwrap_used)]

#[path = "support/fake_runs.rs"]
mod fake_runs;

use std::sync::Arc;

use serde_json::{Value, json};
use stepwise::aws::fake::Fakes;
use stepwise::aws::{Aws, AwsError, AwsSettings, CHECK_FAILED, Clock, Outcome, registry};
use stepwise::engine::{Decisions, Event, RunOutcome};
use stepwise::state::{RunState, Status};

const DAY: i64 = 86_400;

async fn apply(aws: &Aws, action: &str, params: Value) -> Result<Outcome, AwsError> {
    registry()
        .get(action)
        .unwrap_or_else(|| panic!("no action {action}"))
        .apply(aws, &params)
        .await
}

async fn plan(aws: &Aws, action: &str, params: Value) -> String {
    registry()
        .get(action)
        .unwrap()
        .plan(aws, &params)
        .await
        .map(|p| p.text)
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn later(f: &Fakes, days: i64) {
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    f.clock
        .set(jiff::Timestamp::from_second(t0.as_second() + days * DAY).unwrap());
}

#[tokio::test]
async fn a_key_57_days_old_warns_with_the_days_left() {
    let f = Fakes::new();
    let aws = f.aws();
    f.iam.add_user("hub-continuous-deployer");
    let id = f
        .iam
        .add_key("hub-continuous-deployer", f.clock.now(), true);
    later(&f, 57);
    let params = json!({ "user_name": "hub-continuous-deployer" });
    let out = apply(&aws, "iam.check_access_key_age", params.clone())
        .await
        .unwrap();
    assert_eq!(
        out.summary,
        format!(
            "key {id} of hub-continuous-deployer is 57 days old: 3 days left before the 60-day limit (warning: rotate it soon)"
        )
    );
    assert_eq!(out.result["status"], "warning");
    assert_eq!(out.result["days_left"], 3);
    assert_eq!(out.result["oldest_age_days"], 57);
    assert_eq!(out.result["oldest_key_id"], id.as_str());
    assert_eq!(out.result["keys"][0]["age_days"], 57);
    assert!(!out.changed);
    // Failing on a warning: the same words, as a failed check.
    let err = apply(
        &aws,
        "iam.check_access_key_age",
        json!({ "user_name": "hub-continuous-deployer", "fail_on": "warning" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, CHECK_FAILED);
    assert!(err.message.contains("3 days left"), "{err}");
    // A tighter warning window (as a template would give it, in text) says ok.
    let out = apply(
        &aws,
        "iam.check_access_key_age",
        json!({ "user_name": "hub-continuous-deployer", "warn_before": "2d" }),
    )
    .await
    .unwrap();
    assert_eq!(out.result["status"], "ok");
    // The dry run reads the same.
    assert!(
        plan(&aws, "iam.check_access_key_age", params)
            .await
            .contains("57 days old")
    );
}

#[tokio::test]
async fn a_key_61_days_old_has_expired() {
    let f = Fakes::new();
    let aws = f.aws();
    f.iam.add_user("hub-continuous-deployer");
    let old = f
        .iam
        .add_key("hub-continuous-deployer", f.clock.now(), true);
    later(&f, 40);
    f.iam
        .add_key("hub-continuous-deployer", f.clock.now(), false);
    later(&f, 61);
    let err = apply(
        &aws,
        "iam.check_access_key_age",
        json!({ "user_name": "hub-continuous-deployer" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, CHECK_FAILED);
    assert_eq!(
        err.message,
        format!(
            "key {old} of hub-continuous-deployer is 61 days old: 1 day past the 60-day limit; rotate it now"
        )
    );
    assert!(err.hint.unwrap().contains("iam.create_access_key"));
    // Two keys: a third is refused, naming both with their ages.
    let err = apply(
        &aws,
        "iam.create_access_key",
        json!({ "user_name": "hub-continuous-deployer" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "LimitExceeded");
    assert!(
        err.message
            .contains(&format!("{old} (active, created 2026-01-01, 61 days old)")),
        "{err}"
    );
    assert!(
        err.message
            .contains("(inactive, created 2026-02-10, 21 days old)"),
        "{err}"
    );
}

#[tokio::test]
async fn access_denied_names_the_permission() {
    let f = Fakes::new();
    let aws = f.aws();
    f.session.deny("iam:CreateUser");
    let err = apply(&aws, "iam.create_user", json!({ "user_name": "ada" }))
        .await
        .unwrap_err();
    assert_eq!(err.code, "AccessDenied");
    assert_eq!(err.action, "iam.create_user");
    assert!(
        err.to_string()
            .contains("hint: the identity lacks the permission `iam:CreateUser`"),
        "{err}"
    );
}

// --- the engine, driven in this process with a session over the fakes

struct Run {
    outcome: RunOutcome,
    state: RunState,
    events: Vec<Event>,
}

/// Runs (or, given a state, resumes) a runbook with AWS steps acting on `aws`.
async fn drive(
    dir: &std::path::Path,
    runbook: &str,
    aws: &Arc<Aws>,
    state: Option<RunState>,
    decisions: Decisions,
) -> Run {
    drive_with(dir, runbook, aws, state, decisions, false).await
}

/// `drive`, with the engine sending each step's preview as it starts (as for the UI).
async fn drive_with(
    dir: &std::path::Path,
    runbook: &str,
    aws: &Arc<Aws>,
    state: Option<RunState>,
    decisions: Decisions,
    live_previews: bool,
) -> Run {
    std::fs::write(dir.join("rb.yaml"), runbook).unwrap();
    let plan = Arc::new(
        stepwise::runbook::load::load(&dir.join("rb.yaml")).unwrap_or_else(|d| panic!("{d:?}")),
    );
    let state = state.unwrap_or_else(|| fake_runs::state_in(dir, &plan));
    let (engine, mut rx) = fake_runs::engine_over(plan, state);
    let mut engine = engine.with_aws_settings(Fakes::settings(aws));
    if live_previews {
        engine = engine.with_live_previews();
    }
    let outcome = engine.run(&decisions).await.unwrap();
    let state = engine.state().clone();
    drop(engine);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Run {
        outcome,
        state,
        events,
    }
}

fn messages(run: &Run) -> String {
    let mut out = String::new();
    for e in &run.events {
        match e {
            Event::Output { line, .. } => out.push_str(&format!("{line}\n")),
            Event::StepFinished { message, .. } => {
                out.push_str(&format!("= {}\n", message.clone().unwrap_or_default()))
            }
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn an_expired_token_mid_run_fails_the_step_with_the_refresh_hint_and_a_retry_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws_with(AwsSettings {
        profile: Some("smce-admin".into()),
        ..AwsSettings::default()
    });
    f.iam.state().users.insert("ada".into(), Default::default());
    let rb = r#"
stepwise: 1
id: onboard
title: Onboard an engineer
steps:
  - id: user
    title: Create the user
    aws: iam.create_user
    with: { user_name: bob }
  - id: group
    title: Make an admin
    aws: iam.add_user_to_group
    with: { user_name: "{{ steps.user.user_name }}", group_name: SMCE-ProjectAdmins }
"#;
    // The identity (1 call) and the first step (2 calls) go through; then the token expires.
    f.session.expire_after(3);
    let first = drive(dir.path(), rb, &aws, None, Decisions::default()).await;
    assert_eq!(
        first.outcome,
        RunOutcome::Failed {
            key: "group".into()
        }
    );
    let st = &first.state.steps["group"];
    assert_eq!(st.status, Status::Failed);
    let msg = st.message.clone().unwrap();
    assert!(
        msg.starts_with("iam.add_user_to_group: ExpiredToken: The security token included in the request is expired"),
        "{msg}"
    );
    assert!(
        msg.contains("hint: the credentials are expired or invalid: refresh them (e.g. `aws sso login --profile smce-admin`) and retry the step"),
        "{msg}"
    );
    assert_eq!(first.state.steps["user"].status, Status::Succeeded);
    assert!(f.iam.state().users.contains_key("bob"));

    // The person logs in again; the run is resumed from its state.
    f.session.refresh();
    let second = drive(
        dir.path(),
        rb,
        &aws,
        Some(first.state.clone()),
        Decisions::default(),
    )
    .await;
    assert_eq!(
        second.outcome,
        RunOutcome::Completed,
        "{}",
        messages(&second)
    );
    // Nothing earlier was lost or done again.
    let user = &second.state.steps["user"];
    assert_eq!(user.status, Status::Succeeded);
    assert_eq!(user.attempts, 1);
    assert_eq!(user.outputs["arn"], "arn:aws:iam::123456789012:user/bob");
    assert_eq!(second.state.steps["group"].attempts, 2);
    assert_eq!(
        f.iam.state().users["bob"].groups,
        vec!["SMCE-ProjectAdmins"]
    );
}

// --- EC2

async fn launch(f: &Fakes, aws: &Aws) -> String {
    f.ec2.state().pending_looks = None;
    let out = apply(
        aws,
        "ec2.launch_instance",
        json!({ "name": "ada-ci", "ami": "ami-1", "instance_type": "t3.xlarge",
                "subnet_id": "subnet-1", "security_group_ids": ["sg-1"],
                "instance_profile": "ci-node-instance", "volume_size": "150" }),
    )
    .await
    .unwrap();
    assert!(out.changed);
    assert_eq!(out.result["state"], "pending");
    out.result["instance_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_instance_that_stays_pending_times_out_with_a_clear_message() {
    let f = Fakes::new();
    let aws = f.aws();
    let id = launch(&f, &aws).await;
    let started = f.clock.now();
    let err = apply(
        &aws,
        "ec2.wait_instance",
        json!({ "instance_id": id, "state": "running", "timeout": "10m" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "Timeout");
    assert_eq!(
        err.message,
        format!("instance {id} is still pending after waiting 10m for it to be running")
    );
    assert!(err.hint.unwrap().contains("the step can be retried"));
    // It looked every 10 s until the next look would pass the limit.
    let waited = f.clock.now().as_second() - started.as_second();
    assert!((590..=600).contains(&waited), "{waited}");
    // The launch parameters reached the service as typed values.
    let launched = f.ec2.state().instances[0].launch.clone();
    assert_eq!(launched.volume_size, Some(150));
    assert_eq!(launched.volume_type, "gp3");
    assert_eq!(launched.root_device, "/dev/xvda");
    assert_eq!(launched.tags["Name"], "ada-ci");
}

#[tokio::test]
async fn an_instance_pending_for_a_while_is_waited_for() {
    let f = Fakes::new();
    let aws = f.aws();
    let id = launch(&f, &aws).await;
    f.ec2.state().instances[0].pending_looks = Some(3);
    let out = apply(
        &aws,
        "ec2.wait_instance",
        json!({ "instance_id": id, "state": "running" }),
    )
    .await
    .unwrap();
    assert_eq!(out.summary, format!("instance {id} is running"));
    assert_eq!(out.result["private_ip"], "10.0.0.10");
    // Launching again: the pending-or-running instance of that name is kept.
    let again = apply(
        &aws,
        "ec2.launch_instance",
        json!({ "name": "ada-ci", "ami": "ami-1", "instance_type": "t3.xlarge", "subnet_id": "subnet-1" }),
    )
    .await
    .unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.summary,
        format!("instance {id} named ada-ci already exists and is running: not launching another")
    );
}

// --- Route53

fn upsert(zone: &str) -> Value {
    json!({ "zone_id": zone, "name": "hub.example.com", "value": "lb.example.net", "timeout": "2m" })
}

#[tokio::test]
async fn a_dns_change_that_stays_pending_times_out_with_a_clear_message() {
    let f = Fakes::new();
    let aws = f.aws();
    let z = f.route53.add_zone("example.com");
    f.route53.state().pending_looks = None;
    let err = apply(&aws, "route53.upsert_cname", upsert(&z))
        .await
        .unwrap_err();
    assert_eq!(err.code, "Timeout");
    assert_eq!(
        err.message,
        "change C00000001 to hub.example.com. was submitted but is still PENDING after waiting 2m"
    );
    let hint = err.hint.unwrap();
    assert!(
        hint.contains("aws route53 get-change --id C00000001"),
        "{hint}"
    );
    assert!(hint.contains("Retrying the step is safe"), "{hint}");
    // Retried: the record is already as wanted, so the step is satisfied.
    let again = apply(&aws, "route53.upsert_cname", upsert(&z))
        .await
        .unwrap();
    assert!(!again.changed);
}

#[tokio::test]
async fn a_dns_change_is_waited_for_until_insync() {
    let f = Fakes::new();
    let aws = f.aws();
    let z = f.route53.add_zone("example.com");
    f.route53.state().pending_looks = Some(2);
    let started = f.clock.now();
    let out = apply(&aws, "route53.upsert_cname", upsert(&z))
        .await
        .unwrap();
    assert!(out.changed);
    assert_eq!(out.result["status"], "INSYNC");
    assert_eq!(out.result["change_id"], "C00000001");
    assert_eq!(f.clock.now().as_second() - started.as_second(), 20);
}

// --- SSM

#[tokio::test]
async fn the_ssm_agent_comes_online_after_a_few_polls() {
    let f = Fakes::new();
    let aws = f.aws();
    f.ssm.state().agents.insert("i-1".into(), Some(4));
    let started = f.clock.now();
    let out = apply(&aws, "ssm.wait_online", json!({ "instance_id": "i-1" }))
        .await
        .unwrap();
    assert_eq!(
        out.summary,
        "the SSM agent of i-1 is online (agent 3.3.0.0)"
    );
    assert_eq!(out.result["ping_status"], "Online");
    assert_eq!(f.clock.now().as_second() - started.as_second(), 40);
}

#[tokio::test]
async fn an_ssm_agent_that_never_comes_online_times_out() {
    let f = Fakes::new();
    let aws = f.aws();
    f.ssm.state().agents.insert("i-1".into(), None);
    let err = apply(
        &aws,
        "ssm.wait_online",
        json!({ "instance_id": "i-1", "timeout": "3m" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "Timeout");
    assert_eq!(
        err.message,
        "the SSM agent of i-1 is still ConnectionLost after waiting 3m"
    );
    assert!(err.hint.unwrap().contains("AmazonSSMManagedInstanceCore"));
    // An instance SSM has never heard of.
    let err = apply(
        &aws,
        "ssm.wait_online",
        json!({ "instance_id": "i-2", "timeout": "1m" }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "the SSM agent of i-2 is still not registered with SSM yet after waiting 1m"
    );
}

#[tokio::test]
async fn a_failed_command_shows_its_output() {
    let f = Fakes::new();
    let aws = f.aws();
    f.ssm.state().result = Some((
        "Failed".into(),
        "cloning...\n".into(),
        "fatal: could not read Username\n".into(),
    ));
    let err = apply(
        &aws,
        "ssm.run_command",
        json!({ "instance_id": "i-1", "commands": ["git clone x"] }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "CommandFailed");
    assert_eq!(
        err.message,
        "command cmd-1 on i-1 ended Failed (exit code 1)\nlast lines of stderr:\nfatal: could not read Username\nlast lines of stdout:\ncloning..."
    );
    // Success: stdout lines are shown.
    f.ssm.state().result = Some(("Success".into(), "one\ntwo\n".into(), String::new()));
    let out = apply(
        &aws,
        "ssm.run_command",
        json!({ "instance_id": "i-1", "commands": "echo one\necho two" }),
    )
    .await
    .unwrap();
    assert_eq!(out.summary, "command cmd-2 on i-1 succeeded\n| one\n| two");
    assert_eq!(f.ssm.state().sent[1].2, vec!["echo one", "echo two"]);
}

#[test]
fn throttling_and_server_errors_say_they_were_retried() {
    let e = stepwise::aws::classify(
        "ec2.launch_instance",
        "ec2:RunInstances",
        Some("RequestLimitExceeded".into()),
        "Request limit exceeded.",
        None,
    );
    assert_eq!(
        e.to_string(),
        "ec2.launch_instance: RequestLimitExceeded: Request limit exceeded.\nhint: AWS is throttling requests (they were already retried with backoff): wait a minute and retry the step"
    );
    let e = stepwise::aws::classify(
        "iam.create_user",
        "iam:CreateUser",
        Some("ServiceUnavailable".into()),
        "try later",
        Some("smce"),
    );
    assert!(e.hint.unwrap().starts_with("AWS had an error on its side"));
    let e = stepwise::aws::classify(
        "iam.create_user",
        "iam:CreateUser",
        Some("ExpiredToken".into()),
        "expired",
        Some("smce"),
    );
    assert!(e.hint.unwrap().contains("`aws sso login --profile smce`"));
}

#[tokio::test]
async fn a_step_about_to_run_sends_what_it_will_do_for_the_detail_pane() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws();
    let rb = r#"
stepwise: 1
id: live
title: Live previews
steps:
  - id: user
    title: Create the user
    aws: iam.create_user
    with: { user_name: bob }
  - id: show
    title: Show it
    run: echo "made {{ steps.user.user_name }}"
"#;
    let run = drive_with(dir.path(), rb, &aws, None, Decisions::default(), true).await;
    assert_eq!(run.outcome, RunOutcome::Completed);
    // Each step's preview comes before it starts, with its values resolved.
    for (index, shown) in [(0, "\"UserName\": \"bob\""), (1, "echo \"made bob\"")] {
        let preview = run
            .events
            .iter()
            .position(|e| matches!(e, Event::Preview { index: i, preview } if *i == index && preview.body.contains(shown)))
            .unwrap_or_else(|| panic!("no preview of step {index}: {:?}", run.events));
        let started = run
            .events
            .iter()
            .position(|e| matches!(e, Event::StepStarted { index: i, .. } if *i == index))
            .unwrap();
        assert!(preview < started, "step {index}");
    }
    // Without live previews (plain mode), none are sent.
    let dir = tempfile::tempdir().unwrap();
    let quiet = drive(dir.path(), rb, &f.aws(), None, Decisions::default()).await;
    assert!(
        !quiet
            .events
            .iter()
            .any(|e| matches!(e, Event::Preview { .. }))
    );
}

#[tokio::test]
async fn a_confirmed_manual_step_took_the_time_it_waited_and_shows_its_items_ticked() {
    let dir = tempfile::tempdir().unwrap();
    let rb = "stepwise: 1\nid: m\ntitle: M\nsteps:\n  - id: review\n    title: Review\n    manual: Look.\n    checklist: [owner is right]\n";
    std::fs::write(dir.path().join("rb.yaml"), rb).unwrap();
    let plan = Arc::new(stepwise::runbook::load::load(&dir.path().join("rb.yaml")).unwrap());
    // It has waited for a person since 33 s ago.
    let mut state = fake_runs::state_in(dir.path(), &plan);
    let st = state.steps.get_mut("review").unwrap();
    st.status = Status::Waiting;
    st.started_at = Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(33));
    let (mut engine, mut rx) = fake_runs::engine_over(plan, state);
    let before = engine.preview(0).await;
    assert!(
        before.body.contains("[ ] owner is right"),
        "{}",
        before.body
    );
    let mut done = Decisions::default();
    done.done.insert("review".into());
    assert_eq!(engine.run(&done).await.unwrap(), RunOutcome::Completed);
    let mut elapsed = None;
    while let Ok(e) = rx.try_recv() {
        if let Event::StepFinished { elapsed: e, .. } = e {
            elapsed = Some(e);
        }
    }
    // Live, it took what a resumed view computes from the state: about 33 s, not 0.
    let elapsed = elapsed.unwrap();
    assert!(
        elapsed.as_secs() >= 33 && elapsed.as_secs() < 40,
        "{elapsed:?}"
    );
    let st = &engine.state().steps["review"];
    let recorded = st
        .finished_at
        .unwrap()
        .duration_since(st.started_at.unwrap());
    assert!((recorded.as_secs_f64() - elapsed.as_secs_f64()).abs() < 1.0);
    let after = engine.preview(0).await;
    assert!(after.body.contains("[x] owner is right"), "{}", after.body);
}
