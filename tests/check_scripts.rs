//! `stepwise check` with scripts that say when what they check expires (`expires=` or
//! `days_left=` in `$STEPWISE_OUTPUT`, against `recheck.warn_before`), and the inputs a check is
//! given again: checked against their patterns, a secret not given named, one no run declares
//! warned about. Through the real binary; no AWS.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/report.rs"]
mod reports;

use awsh::{expect, has};
use cli::Sandbox;
use reports::{report, step};
use serde_json::Value;

fn finish(sb: &Sandbox, text: &str, name: &str, extra: &[&str]) {
    sb.write(&format!("{name}.yaml"), text);
    let file = format!("{name}.yaml");
    let mut args = vec!["run", file.as_str(), "--plain", "--name", name];
    args.extend_from_slice(extra);
    expect(&sb.run(&args), 0);
}

fn check_json(sb: &Sandbox, args: &[&str]) -> (cli::Ran, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.push("--json");
    let r = sb.run(&all);
    let v = report(&r);
    (r, v)
}

/// A runbook whose one check step says how many days are left (an input), warned about
/// within 30 days.
const DAYS: &str = r#"
stepwise: 1
id: cert
title: A certificate
inputs:
  days:
    default: "90"
steps:
  - id: cert
    title: The certificate lasts
    check: echo "days_left={{ inputs.days }}" >> "$STEPWISE_OUTPUT"
    recheck:
      warn_before: 30d
"#;

#[test]
fn a_check_that_says_its_days_left_holds_warns_within_warn_before_and_drifts_once_expired() {
    let sb = Sandbox::new();
    for (name, days, status, code, text) in [
        ("far", "90", "holds", 0, "expires in 90 days"),
        ("near", "12", "expiring", 6, "expires in 12 days"),
        ("edge", "30", "expiring", 6, "expires in 30 days"),
        ("today", "0", "drifted", 1, "expires today"),
        ("past", "-3", "drifted", 1, "expired 3 days ago"),
    ] {
        finish(&sb, DAYS, name, &["-i", &format!("days={days}")]);
        let (r, report) = check_json(&sb, &[name]);
        expect(&r, code);
        let s = step(&report, "cert");
        assert_eq!(s["status"], status, "{name}: {s:#}");
        assert_eq!(s["days_left"], days.parse::<i64>().unwrap(), "{s:#}");
        assert!(
            s["text"].as_str().unwrap().starts_with(text),
            "{name}: {s:#}"
        );
        assert_eq!(report["exit_code"], code);
    }
    // In lines: the days are said; the exit status is the warning's.
    let r = sb.run(&["check", "near"]);
    expect(&r, 6);
    has(
        &r.stdout,
        "expiring   cert  expires in 12 days: `check` passes",
    );
    has(&r.stdout, "1 run checked: 1 expiring");
}

#[test]
fn a_recheck_script_says_when_it_expires_as_a_date_or_a_time_and_nonsense_is_unknown() {
    let sb = Sandbox::new();
    let now = jiff::Timestamp::now();
    let in_days = |d: i64| jiff::Timestamp::from_second(now.as_second() + d * 86_400 + 3600);
    let date = in_days(10).unwrap().strftime("%Y-%m-%d").to_string();
    let time = in_days(3).unwrap().to_string();
    let rb = format!(
        r#"
stepwise: 1
id: dates
title: Dates
steps:
  - id: dated
    title: Until a date
    run: "true"
    recheck:
      run: echo "expires={date}" >> "$STEPWISE_OUTPUT"
      warn_before: 5d
  - id: timed
    title: Until a time
    run: "true"
    recheck:
      run: echo "expires={time}" >> "$STEPWISE_OUTPUT"
      warn_before: 5d
  - id: nonsense
    title: Not a time
    run: "true"
    recheck: echo "expires=next tuesday" >> "$STEPWISE_OUTPUT"
  - id: huge
    title: Says a lot
    run: "true"
    recheck: |
      head -c 3000000 /dev/zero | tr '\0' 'x' >> "$STEPWISE_OUTPUT"
      echo >> "$STEPWISE_OUTPUT"
"#
    );
    finish(&sb, &rb, "d", &[]);
    let (r, report) = check_json(&sb, &["d"]);
    expect(&r, 5);
    let dated = step(&report, "dated");
    assert_eq!(dated["status"], "holds", "{dated:#}");
    // Midnight UTC of the date: 9 or 10 whole days from now.
    let left = dated["days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&left), "{dated:#}");
    let timed = step(&report, "timed");
    assert_eq!(timed["status"], "expiring", "{timed:#}");
    assert_eq!(timed["days_left"], 3, "{timed:#}");
    let nonsense = step(&report, "nonsense");
    assert_eq!(nonsense["status"], "unknown", "{nonsense:#}");
    has(
        nonsense["text"].as_str().unwrap(),
        "`expires=next tuesday` is not a time",
    );
    // What the script wrote is read only as far as a line or two needs: no expiry, it holds.
    let huge = step(&report, "huge");
    assert_eq!(huge["status"], "holds", "{huge:#}");
    assert!(huge.get("days_left").is_none(), "{huge:#}");
}

const SECRET: &str = r#"
stepwise: 1
id: secret
title: A secret
inputs:
  env:
    choices: [dev, prod]
    default: dev
  token:
    secret: true
    pattern: "tok-[a-z]+"
steps:
  - id: uses
    title: Uses the token
    run: "true"
    recheck: test "{{ inputs.token }}" = tok-right
"#;

#[test]
fn inputs_given_again_are_checked_a_missing_secret_is_named_and_an_unknown_one_warned_about() {
    let sb = Sandbox::new();
    finish(&sb, SECRET, "s", &["-i", "token=tok-right"]);

    // The secret is not kept: named, with how to give it.
    let r = sb.run(&["check", "s"]);
    expect(&r, 5);
    has(
        &r.stdout,
        "input `token` is not kept (a secret): the steps that need it are unknown; give it with `-i token=VALUE`",
    );
    let (_, report) = check_json(&sb, &["s"]);
    assert_eq!(report["runs"][0]["not_given"], serde_json::json!(["token"]));

    // Given again: it holds, and the value is nowhere.
    let r = sb.run(&["check", "s", "-i", "token=tok-right"]);
    expect(&r, 0);
    assert!(!r.stdout.contains("tok-right") && !r.stderr.contains("tok-right"));
    assert!(!sb.everything_on_disk("s").contains("tok-right"));

    // A value that breaks its pattern is the run's error, not a silent fall back; a secret's
    // value is not shown in it.
    let (r, report) = check_json(&sb, &["s", "-i", "token=WRONG"]);
    expect(&r, 5);
    let run = &report["runs"][0];
    assert_eq!(run["result"], "unknown", "{run:#}");
    has(
        run["error"].as_str().unwrap(),
        "input `token`: the value does not match its pattern or choices",
    );
    assert!(!r.stdout.contains("WRONG"), "{}", r.stdout);
    assert!(run["steps"].as_array().unwrap().is_empty(), "{run:#}");
    let (r, report) = check_json(&sb, &["s", "-i", "env=staging", "-i", "token=tok-right"]);
    expect(&r, 5);
    has(
        report["runs"][0]["error"].as_str().unwrap(),
        "`staging` is not one of: dev, prod",
    );

    // An input no run checked declares: said, and the check goes on.
    let r = sb.run(&["check", "s", "-i", "tokn=tok-right"]);
    expect(&r, 5);
    has(
        &r.stderr,
        "warning: input `tokn` is an input of none of the runs checked",
    );
}

#[test]
fn a_recheck_may_use_its_own_steps_outputs_and_nothing_later() {
    let sb = Sandbox::new();
    let rb = r#"
stepwise: 1
id: own
title: Own outputs
steps:
  - id: make
    title: Makes a folder
    run: |
      mkdir -p made
      echo "dir=made" >> "$STEPWISE_OUTPUT"
    outputs:
      dir: {}
    recheck: test -d "{{ steps.make.dir }}"
"#;
    finish(&sb, rb, "own", &[]);
    expect(&sb.run(&["check", "own"]), 0);
    std::fs::remove_dir(sb.path().join("made")).unwrap();
    let r = sb.run(&["check", "own"]);
    expect(&r, 1);
    has(&r.stdout, "drifted    make  `recheck` no longer passes");

    // A later step's outputs are still refused, with the place.
    let later = format!(
        "{}    recheck: test -n \"{{{{ steps.after.x }}}}\"\n  - id: after\n    title: After\n    run: \"true\"\n",
        rb.replace("    recheck: test -d \"{{ steps.make.dir }}\"\n", "")
    );
    sb.write("later.yaml", &later);
    let r = sb.run(&["validate", "later.yaml"]);
    expect(&r, 2);
    has(&r.stderr, "`steps.after` refers to a later step");
    has(&r.stderr, "later.yaml:13:26:");
}
