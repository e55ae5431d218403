//! `stepwise check` in this process, over the in-memory AWS fakes: an access key's age as the
//! fake clock moves (what moto cannot show), what the check makes of AWS errors, and how the
//! results of steps come to a run's result and exit status.

#![allow(clippy::unwrap_used)]

#[path = "support/fake_runs.rs"]
mod fake_runs;

use std::sync::Arc;

use stepwise::aws::fake::Fakes;
use stepwise::aws::{Aws, Clock};
use stepwise::engine::{Engine, StepCheck, last_check};
use stepwise::runbook::Plan;
use stepwise::state::{Held, RunState, Status};

const DAY: i64 = 86_400;
const USER: &str = "hub-continuous-deployer";

fn later(f: &Fakes, days: i64) {
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    f.clock
        .set(jiff::Timestamp::from_second(t0.as_second() + days * DAY).unwrap());
}

fn runbook(steps: &str) -> String {
    format!("stepwise: 1\nid: keys\ntitle: Keys\nsteps:\n{steps}")
}

/// The key-age step, with extra parameters when given.
fn age_step(extra: &str) -> String {
    format!(
        "  - id: age\n    title: How old the deployer's key is\n    aws: iam.check_access_key_age\n    with: {{ user_name: {USER}{extra} }}\n"
    )
}

/// A finished run of the runbook: every step has `status` (or the one given for its key).
fn finished(
    dir: &std::path::Path,
    text: &str,
    statuses: &[(&str, Status)],
) -> (Arc<Plan>, RunState) {
    let path = dir.join("rb.yaml");
    std::fs::write(&path, text).unwrap();
    let plan = Arc::new(stepwise::runbook::load::load(&path).unwrap_or_else(|d| panic!("{d:?}")));
    let mut state = fake_runs::state_in(dir, &plan);
    for (key, st) in state.steps.iter_mut() {
        st.status = statuses
            .iter()
            .find(|(k, _)| k == key)
            .map_or(Status::Succeeded, |(_, s)| *s);
        st.attempts = 1;
    }
    (plan, state)
}

/// A real-mode engine over the run whose AWS steps act on `aws`, recording nothing.
fn engine(plan: Arc<Plan>, state: RunState, aws: &Arc<Aws>) -> Engine {
    let (engine, _events) = fake_runs::engine_over(plan, state);
    engine.with_aws_settings(Fakes::settings(aws))
}

/// The key-age step of a finished run re-checked when the deployer's only key is `days` old.
async fn key_aged(days: i64, extra: &str) -> StepCheck {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws();
    f.iam.add_user(USER);
    f.iam.add_key(USER, f.clock.now(), true);
    later(&f, days);
    let (plan, state) = finished(dir.path(), &runbook(&age_step(extra)), &[]);
    let mut engine = engine(plan, state.clone(), &aws);
    let check = engine.recheck(0).await;
    // Nothing the check did is in the run's state.
    assert_eq!(
        serde_json::to_value(engine.state()).unwrap(),
        serde_json::to_value(&state).unwrap()
    );
    assert_eq!(check.key, "age");
    assert_eq!(check.kind, "aws");
    check
}

#[tokio::test]
async fn a_key_57_days_old_is_expiring_with_3_days_left() {
    let c = key_aged(57, "").await;
    assert_eq!(c.status, Held::Expiring, "{c:?}");
    assert_eq!(c.days_left, Some(3));
    assert!(c.text.starts_with("expires in 3 days: "), "{}", c.text);
    assert!(
        c.text.contains(
            "of hub-continuous-deployer is 57 days old: 3 days left before the 60-day limit"
        ),
        "{}",
        c.text
    );
    // The JSON a report prints has it.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["status"], "expiring");
    assert_eq!(json["days_left"], 3);
    assert!(json.get("current").is_none(), "{json}");
}

#[tokio::test]
async fn a_key_59_days_old_expires_in_1_day() {
    let c = key_aged(59, "").await;
    assert_eq!(c.status, Held::Expiring, "{c:?}");
    assert_eq!(c.days_left, Some(1));
    assert!(c.text.starts_with("expires in 1 day: "), "{}", c.text);
}

#[tokio::test]
async fn a_key_61_days_old_has_drifted() {
    let c = key_aged(61, "").await;
    assert_eq!(c.status, Held::Drifted, "{c:?}");
    assert!(
        c.text.contains(
            "of hub-continuous-deployer is 61 days old: 1 day past the 60-day limit; rotate it now"
        ),
        "{}",
        c.text
    );
    assert_eq!(c.days_left, None);
}

#[tokio::test]
async fn a_key_10_days_old_holds_with_50_days_left() {
    let c = key_aged(10, "").await;
    assert_eq!(c.status, Held::Holds, "{c:?}");
    assert_eq!(c.days_left, Some(50));
    assert!(c.text.starts_with("expires in 50 days: "), "{}", c.text);
}

#[tokio::test]
async fn the_runbooks_own_warn_before_and_max_age_apply() {
    // 57 days, warned only 2 days before: it holds, 3 days left.
    let c = key_aged(57, ", warn_before: 2d").await;
    assert_eq!(c.status, Held::Holds, "{c:?}");
    assert_eq!(c.days_left, Some(3));
    // 57 days with a 90-day limit: 33 days left, outside the 15 days of warning.
    let c = key_aged(57, ", max_age: 90d").await;
    assert_eq!(c.status, Held::Holds, "{c:?}");
    assert_eq!(c.days_left, Some(33));
    // 80 days of 90: expiring.
    let c = key_aged(80, ", max_age: 90d").await;
    assert_eq!(c.status, Held::Expiring, "{c:?}");
    assert_eq!(c.days_left, Some(10));
}

#[tokio::test]
async fn a_whole_run_comes_to_its_worst_step_and_steps_not_done_are_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws();
    f.iam.add_user(USER);
    f.iam.add_key(USER, f.clock.now(), true);
    later(&f, 57);
    let steps = format!(
        "{}  - id: member\n    title: Member\n    aws: iam.user_in_group\n    with: {{ user_name: {USER}, group_name: SMCE-UserRestrictions, member: false }}\n  - id: later\n    title: Later\n    manual: not yet\n  - id: skipped\n    title: Skipped\n    aws: sts.get_caller_identity\n",
        age_step("")
    );
    let (plan, state) = finished(
        dir.path(),
        &runbook(&steps),
        &[("later", Status::Waiting), ("skipped", Status::Skipped)],
    );
    let mut engine = engine(plan, state, &aws);
    let all = engine.recheck_all().await;
    let got: Vec<(&str, Held)> = all.iter().map(|c| (c.key.as_str(), c.status)).collect();
    assert_eq!(
        got,
        vec![
            ("age", Held::Expiring),
            ("member", Held::Holds),
            ("later", Held::Unchecked),
            ("skipped", Held::Unchecked),
        ]
    );
    assert_eq!(all[2].text, "not done: it is waiting");
    assert_eq!(all[3].text, "it was skipped");
    let at: jiff::Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let (last, summary) = last_check(&all, at);
    assert_eq!(last.at, at);
    assert_eq!(last.result, Held::Expiring);
    assert_eq!(last.expiring, vec!["age".to_string()]);
    assert!(last.drifted.is_empty() && last.unknown.is_empty());
    assert_eq!(summary, "expiring: 1 hold, 1 expiring (age)");
    assert_eq!(stepwise::plain::exit_status(last.result), 6);
    // The kept form leaves the empty lists out.
    let json = serde_json::to_value(&last).unwrap();
    assert_eq!(json["result"], "expiring");
    assert_eq!(json["expiring"], serde_json::json!(["age"]));
    assert!(
        json.get("drifted").is_none() && json.get("unknown").is_none(),
        "{json}"
    );

    // Put back in the group: it drifted, and the check did not take it out again.
    f.iam.state().users.get_mut(USER).unwrap().groups = vec!["SMCE-UserRestrictions".into()];
    let all = engine.recheck_all().await;
    assert_eq!(all[1].status, Held::Drifted, "{:?}", all[1]);
    assert_eq!(
        all[1].text,
        "hub-continuous-deployer is still in SMCE-UserRestrictions"
    );
    assert_eq!(
        f.iam.state().users[USER].groups,
        vec!["SMCE-UserRestrictions"]
    );
    let (last, summary) = last_check(&all, at);
    assert_eq!(last.result, Held::Drifted);
    assert_eq!(
        summary,
        "drifted: 0 hold, 1 drifted (member), 1 expiring (age)"
    );
}

#[tokio::test]
async fn what_a_step_made_that_is_gone_drifted_and_what_cannot_be_read_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws();
    f.iam.add_user("ada");
    let steps = "  - id: policy\n    title: Policy\n    aws: iam.put_user_policy\n    with:\n      user_name: ada\n      policy_name: narrow\n      policy_document: { Version: \"2012-10-17\", Statement: [{ Effect: Allow, Action: \"eks:DescribeCluster\", Resource: \"*\" }] }\n  - id: group\n    title: Group\n    aws: iam.add_user_to_group\n    with: { user_name: ada, group_name: admins }\n";
    let (plan, state) = finished(dir.path(), &runbook(steps), &[]);
    let mut engine = engine(plan, state, &aws);
    // Neither is there: the policy would be added, ada would be put in the group.
    let all = engine.recheck_all().await;
    assert_eq!(all[0].status, Held::Drifted, "{:?}", all[0]);
    assert_eq!(all[1].status, Held::Drifted, "{:?}", all[1]);
    // ... and neither was done by the check.
    assert!(f.iam.state().users["ada"].policies.is_empty());
    assert!(f.iam.state().users["ada"].groups.is_empty());
    // Both as wanted: they hold.
    {
        let mut st = f.iam.state();
        let ada = st.users.get_mut("ada").unwrap();
        ada.groups.push("admins".into());
        ada.policies.insert(
            "narrow".into(),
            serde_json::json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": "*" }] }),
        );
    }
    let all = engine.recheck_all().await;
    assert_eq!(all[0].status, Held::Holds, "{:?}", all[0]);
    assert_eq!(all[1].status, Held::Holds, "{:?}", all[1]);
    // The user is gone: what the steps made is gone.
    f.iam.state().users.remove("ada");
    let all = engine.recheck_all().await;
    for c in &all {
        assert_eq!(c.status, Held::Drifted, "{c:?}");
        assert!(c.text.starts_with("it is gone: "), "{}", c.text);
        assert!(c.text.contains("ada"), "{}", c.text);
    }
    // Expired credentials: nothing can be told.
    f.session.expire();
    let all = engine.recheck_all().await;
    for c in &all {
        assert_eq!(c.status, Held::Unknown, "{c:?}");
    }
}

#[test]
fn exit_statuses_and_the_worst_result() {
    use stepwise::plain::exit_status;
    assert_eq!(exit_status(Held::Expiring), 6);
    assert_eq!(exit_status(Held::Drifted), 1);
    assert_eq!(exit_status(Held::Unknown), 5);
    assert_eq!(exit_status(Held::Holds), 0);
    assert_eq!(exit_status(Held::Unchecked), 0);
    use Held::*;
    assert_eq!(Held::overall([Holds, Expiring, Unknown, Drifted]), Drifted);
    assert_eq!(Held::overall([Drifted, Holds]), Drifted);
    assert_eq!(Held::overall([Expiring, Unknown, Holds]), Unknown);
    assert_eq!(Held::overall([Holds, Expiring, Holds]), Expiring);
    assert_eq!(Held::overall([Holds, Holds]), Holds);
    // Unchecked steps do not count: alone they hold, and they never hide a worse one.
    assert_eq!(Held::overall([Unchecked, Unchecked]), Holds);
    assert_eq!(Held::overall([Unchecked, Expiring]), Expiring);
    assert_eq!(Held::overall([Unchecked, Holds]), Holds);
    assert_eq!(Held::overall([]), Holds);
    for (held, word) in [
        (Unchecked, "unchecked"),
        (Holds, "holds"),
        (Expiring, "expiring"),
        (Unknown, "unknown"),
        (Drifted, "drifted"),
    ] {
        assert_eq!(held.as_str(), word);
        assert_eq!(serde_json::to_value(held).unwrap(), word);
    }
}

/// A waiting action (`ec2.wait_instance`) looks once on a re-check: an instance that is not
/// running drifts at once, without waiting out the step's timeout.
#[tokio::test]
async fn a_waiting_action_looks_once_and_does_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fakes::new();
    let aws = f.aws();
    f.ec2.state().pending_looks = None;
    let launched = stepwise::aws::registry()
        .get("ec2.launch_instance")
        .unwrap()
        .apply(
            &aws,
            &serde_json::json!({ "name": "ada-ci", "ami": "ami-1", "instance_type": "t3.xlarge",
                                 "subnet_id": "subnet-1" }),
        )
        .await
        .unwrap();
    let id = launched.result["instance_id"].as_str().unwrap().to_string();
    let text = runbook(&format!(
        "  - id: running\n    title: Running\n    aws: ec2.wait_instance\n    with: {{ instance_id: {id}, state: running, timeout: 2h }}\n"
    ));
    let (plan, state) = finished(dir.path(), &text, &[]);
    let before = f.clock.now();
    let check = engine(plan, state, &aws).recheck(0).await;
    assert_eq!(check.status, Held::Drifted, "{check:?}");
    assert!(check.text.contains("pending"), "{check:?}");
    // One look: the fake clock, which sleeping moves on, did not move.
    assert_eq!(f.clock.now(), before);
}

/// A step that drifted by what it was given from a step that could not be checked is
/// unknown: with credentials that cannot read the zone, a record not found there is no drift.
#[tokio::test]
async fn a_drift_that_rests_on_a_step_not_checked_is_unknown() {
    let text = runbook(concat!(
        "  - id: zone\n    title: Zone\n    aws: route53.find_zone\n    with: { name: example.com }\n",
        "  - id: upsert\n    title: Upsert\n    danger: hub.example.com\n    aws: route53.upsert_cname\n",
        "    with: { zone_id: \"{{ steps.zone.zone_id }}\", name: hub.example.com, value: hub.elb.example.net }\n",
    ));
    for denied in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let f = Fakes::new();
        let aws = f.aws();
        let zone = f.route53.add_zone("example.com");
        let (plan, mut state) = finished(dir.path(), &text, &[]);
        state.steps["zone"]
            .outputs
            .insert("zone_id".into(), zone.clone().into());
        if denied {
            f.session.deny("route53:ListHostedZonesByName");
        }
        let checks = engine(plan, state, &aws).recheck_all().await;
        let (zone_check, upsert) = (&checks[0], &checks[1]);
        if denied {
            assert_eq!(zone_check.status, Held::Unknown, "{zone_check:?}");
            assert_eq!(upsert.status, Held::Unknown, "{upsert:?}");
            assert!(
                upsert
                    .text
                    .starts_with("it uses what step `zone` found, which could not be checked"),
                "{upsert:?}"
            );
        } else {
            // The record is not there: a drift, when the zone could be read.
            assert_eq!(zone_check.status, Held::Holds, "{zone_check:?}");
            assert_eq!(upsert.status, Held::Drifted, "{upsert:?}");
            assert_eq!(upsert.current.as_deref(), Some("(no record)"), "{upsert:?}");
        }
    }
}
