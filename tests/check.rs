//! `stepwise check` through the real binary: finished runs re-checked, what still holds and
//! what drifted, against moto for the shipped AWS runbooks (changed by hand with the `aws`
//! CLI) and against files and scripts of the test's own for the rest. A check writes one
//! journal entry and `last_check`, and never runs what changes things.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/report.rs"]
mod reports;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use awsh::{cli_json, diff_line, expect, has};
use cli::{Ran, Sandbox};
use moto::Moto;
use reports::{report, step};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

fn shipped(name: &str) -> String {
    format!("{}/runbooks/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// Writes the runbook as `file` and runs it to its end in plain mode as `name`.
fn finish(sb: &Sandbox, file: &str, text: &str, name: &str, extra: &[&str]) {
    sb.write(file, text);
    let mut args = vec!["run", file, "--plain", "--name", name];
    args.extend_from_slice(extra);
    expect(&sb.run(&args), 0);
}

fn check(sb: &Sandbox, args: &[&str]) -> Ran {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    sb.run(&all)
}

/// `stepwise check ARGS --json`: its exit status and the report.
fn check_json(sb: &Sandbox, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let r = check(sb, &all);
    (r.code, report(&r))
}

fn text(step: &Value) -> &str {
    step["text"].as_str().unwrap()
}

/// The run's journal, as `stepwise log RUN --json` gives it.
fn journal(sb: &Sandbox, run: &str) -> Vec<Value> {
    let r = sb.run(&["log", run, "--json"]);
    expect(&r, 0);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The files of a folder, with their content and when each last changed.
fn files_in(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let files = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path());
    files
        .map(|p| (p.clone(), (std::fs::read(&p).unwrap(), mtime(&p))))
        .collect()
}

/// The state without `last_check`.
fn without_last_check(mut st: Value) -> Value {
    st.as_object_mut().unwrap().remove("last_check");
    st
}

// --- against moto: the shipped runbooks

/// The words of a command line (none of the tests' words has a space).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The `aws` CLI against moto, its JSON answer.
fn aws(moto: &Moto, line: &str) -> Value {
    cli_json(moto, &words(line))
}

/// `stepwise LINE` against moto (no `--plain`: `check` has none).
fn on_moto(sb: &Sandbox, moto: &Moto, line: &str) -> Ran {
    let mut cmd = sb.cmd(&words(line));
    moto.apply_env(&mut cmd);
    Ran::of(&mut cmd)
}

/// `key=status` of each step of the first run of a report.
fn statuses(report: &Value) -> String {
    let steps = report["runs"][0]["steps"].as_array().unwrap();
    let one = |s: &Value| {
        format!(
            "{}={}",
            s["key"].as_str().unwrap(),
            s["status"].as_str().unwrap()
        )
    };
    steps.iter().map(one).collect::<Vec<_>>().join(" ")
}

#[test]
fn the_mfa_exemption_holds_until_the_deployer_is_back_in_the_restricted_group() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    aws(moto, "iam create-group --group-name SMCE-UserRestrictions");
    let rb = shipped("smce-deployer-mfa-exemption");
    let inputs = "-i account_id=123456789012 -i cluster=veda-hub -i representative=Sam";
    let start = format!("run {rb} {inputs}");
    expect(&awsh::run(&sb, moto, &words(&start)), 3);
    let run = "mfa-exemption-veda-hub";
    let resume = format!(
        "resume {run} --done request-exemption --output request-exemption.ticket=SMCE-4711 --done track-rotation"
    );
    expect(&awsh::run(&sb, moto, &words(&resume)), 0);

    let r = on_moto(&sb, moto, &format!("check {run}"));
    expect(&r, 0);
    has(
        &r.stdout,
        &format!("{run} (smce-deployer-mfa-exemption): holds\n"),
    );
    has(&r.stdout, &format!("  AWS account {ACCOUNT}, as arn:aws:"));
    has(
        &r.stdout,
        "exemption-granted  hub-continuous-deployer is not in SMCE-UserRestrictions, as wanted",
    );
    has(&r.stdout, "1 run checked: 1 holds\n");

    // SMCE puts the user back: the exemption is gone.
    aws(
        moto,
        "iam add-user-to-group --user-name hub-continuous-deployer --group-name SMCE-UserRestrictions",
    );
    let r = on_moto(&sb, moto, &format!("check {run}"));
    expect(&r, 1);
    has(
        &r.stdout,
        "  drifted    exemption-granted  hub-continuous-deployer is still in SMCE-UserRestrictions\n",
    );
    has(&r.stdout, "1 run checked: 1 drifted\n");

    let r = on_moto(&sb, moto, &format!("check {run} --json"));
    expect(&r, 1);
    let j = report(&r);
    let at = j["checked_at"].as_str().unwrap();
    assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
    assert_eq!(
        (&j["result"], &j["exit_code"]),
        (&"drifted".into(), &1.into())
    );
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["name"], run);
    assert_eq!(runs[0]["runbook"], "smce-deployer-mfa-exemption");
    assert_eq!(runs[0]["result"], "drifted");
    assert_eq!(runs[0]["completed"], true);
    assert_eq!(runs[0]["account"], ACCOUNT);
    assert!(runs[0]["arn"].as_str().unwrap().starts_with("arn:aws:"));
    assert!(runs[0].get("error").is_none());
    assert_eq!(
        statuses(&j),
        "whoami=holds deployer=holds narrow-policy=holds request-exemption=unchecked exemption-granted=drifted track-rotation=unchecked"
    );
    let granted = step(&j, "exemption-granted");
    assert_eq!(granted["kind"], "aws");
    assert_eq!(
        granted["title"],
        "Wait until the deployer is no longer in SMCE-UserRestrictions"
    );
    has(text(granted), "SMCE-UserRestrictions");
    for absent in ["current", "wanted", "diff", "days_left"] {
        assert!(granted.get(absent).is_none(), "{granted}");
    }
    // The check read; it took nobody out of the group.
    let groups = aws(
        moto,
        "iam list-groups-for-user --user-name hub-continuous-deployer",
    );
    assert_eq!(groups["Groups"][0]["GroupName"], "SMCE-UserRestrictions");
    let last = &sb.state(run)["last_check"];
    assert_eq!(last["result"], "drifted");
    assert_eq!(last["drifted"], serde_json::json!(["exemption-granted"]));
}

#[test]
fn a_cname_changed_by_hand_drifted_with_what_is_there_and_what_is_wanted() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let zone = aws(
        moto,
        "route53 create-hosted-zone --name science.stsci.edu --caller-reference check",
    )["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let rb = shipped("route53-cname");
    let target = "a1b2c3.us-east-1.elb.amazonaws.com";
    let start =
        format!("run {rb} -i deployment_name=roman -i target={target} --done network-login");
    let r = awsh::run(&sb, moto, &words(&start));
    expect(&r, 3);
    has(&r.stdout, "DANGER");
    let resume = "resume dns-roman --confirm upsert=roman.science.stsci.edu";
    expect(&awsh::run(&sb, moto, &words(resume)), 0);
    expect(&on_moto(&sb, moto, "check dns-roman"), 0);

    let batch = r#"{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"roman.science.stsci.edu.","Type":"CNAME","TTL":60,"ResourceRecords":[{"Value":"hand-made.example.org"}]}}]}"#;
    aws(
        moto,
        &format!(
            "route53 change-resource-record-sets --hosted-zone-id {zone} --change-batch {batch}"
        ),
    );
    let r = on_moto(&sb, moto, "check dns-roman --json");
    expect(&r, 1);
    let j = report(&r);
    assert_eq!(
        (&j["result"], &j["exit_code"]),
        (&"drifted".into(), &1.into())
    );
    let upsert = step(&j, "upsert");
    assert_eq!(upsert["status"], "drifted", "{upsert}");
    let current = upsert["current"].as_str().unwrap();
    has(current, "hand-made.example.org");
    assert!(!current.contains(target), "{current}");
    has(upsert["wanted"].as_str().unwrap(), target);
    // The lines say both too.
    let r = on_moto(&sb, moto, "check dns-roman");
    expect(&r, 1);
    has(&r.stdout, "current: CNAME hand-made.example.org (TTL 60)");
    has(&r.stdout, &format!("wanted:  CNAME {target} (TTL 300)"));
    // Nothing was put back.
    let records = aws(
        moto,
        &format!("route53 list-resource-record-sets --hosted-zone-id {zone}"),
    );
    assert!(!records.to_string().contains(target), "{records}");
}

#[test]
fn aws_steps_in_another_account_than_the_runbooks_are_unknown() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: acc\ntitle: Acc\naws:\n  account: \"123456789012\"\nsteps:\n  - id: who\n    title: Who\n    aws: sts.get_caller_identity\n  - id: ada\n    title: Ada\n    aws: iam.create_user\n    with: { user_name: ada }\n";
    sb.write("acc.yaml", rb);
    expect(&awsh::run(&sb, moto, &words("run acc.yaml --name acc")), 0);
    expect(&on_moto(&sb, moto, "check acc"), 0);
    sb.write("acc.yaml", &rb.replace(ACCOUNT, "999999999999"));
    let r = on_moto(&sb, moto, "check acc --json");
    expect(&r, 5);
    let j = report(&r);
    for key in ["who", "ada"] {
        assert_eq!(step(&j, key)["status"], "unknown");
        has(
            text(step(&j, key)),
            "this runbook acts only on account 999999999999",
        );
    }
}

// --- what a check runs, and what it writes

/// Asserts a step's status, and that its text has `part`.
#[track_caller]
fn is(report: &Value, key: &str, status: &str, part: &str) {
    let s = step(report, key);
    assert_eq!(s["status"], status, "{s}");
    has(text(s), part);
}

fn rm(sb: &Sandbox, name: &str) {
    std::fs::remove_file(sb.path().join(name)).unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn finished_runs_that_hold_exit_0_and_quiet_says_nothing() {
    let sb = Sandbox::new();
    sb.write("up", "");
    let a = "stepwise: 1\nid: one\ntitle: One\nsteps:\n  - id: up\n    title: Up\n    check: test -f up\n";
    let b = "stepwise: 1\nid: two\ntitle: Two\nsteps:\n  - id: conf\n    title: Conf\n    file: { path: conf.txt, content: \"x\\n\" }\n";
    finish(&sb, "a.yaml", a, "a", &[]);
    finish(&sb, "b.yaml", b, "b", &[]);
    // An unfinished run is not one of `--all`.
    sb.write(
        "c.yaml",
        &format!("{a}  - id: wait\n    title: Wait\n    manual: later\n"),
    );
    expect(&sb.run(&["run", "c.yaml", "--plain", "--name", "c"]), 3);

    let r = check(&sb, &["--all"]);
    expect(&r, 0);
    has(
        &r.stdout,
        "a (one): holds\n  holds      up  `check` passes\n",
    );
    has(&r.stdout, "b (two): holds\n  holds      conf  conf.txt is");
    assert!(!r.stdout.contains("c (one"), "{}", r.stdout);
    assert!(
        r.stdout.ends_with("2 runs checked: 2 holds\n"),
        "{}",
        r.stdout
    );
    let (code, j) = check_json(&sb, &["--all"]);
    assert_eq!((code, &j["result"]), (0, &"holds".into()));
    let runs = j["runs"].as_array().unwrap();
    let mut names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    for args in [["--all", "-q"], ["--all", "--quiet"], ["a", "-q"]] {
        let r = check(&sb, &args);
        expect(&r, 0);
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{args:?}");
    }
    // One drifts: quiet says only that run, that step, and the count.
    rm(&sb, "up");
    let r = check(&sb, &["--all", "-q"]);
    expect(&r, 1);
    assert_eq!(
        r.stdout,
        "a (one): drifted\n  drifted    up  `check` no longer passes (exit status 1)\n2 runs checked: 1 holds, 1 drifted\n"
    );
}

#[test]
fn a_check_writes_one_journal_entry_and_last_check_only() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: w\ntitle: W\nsteps:\n  - id: say\n    title: Say\n    run: echo said\n    skip_if: test -f never-there\n  - id: conf\n    title: Conf\n    file: { path: conf.txt, content: \"x\\n\" }\n  - id: gone\n    title: Gone\n    check: test -f up\n";
    sb.write("up", "");
    finish(&sb, "rb.yaml", rb, "w", &[]);
    rm(&sb, "up");
    let before = sb.state("w");
    let journal_before = journal(&sb, "w");
    let logs_before = files_in(&sb.run_dir("w").join("logs"));
    assert!(!logs_before.is_empty(), "the run has step logs");
    assert!(before.get("last_check").is_none(), "{before:#}");

    expect(&check(&sb, &["w"]), 1);
    let after = sb.state("w");
    assert_eq!(
        without_last_check(after.clone()),
        without_last_check(before.clone())
    );
    assert_eq!(after["updated_at"], before["updated_at"]);
    let last = &after["last_check"];
    let at = last["at"].as_str().unwrap();
    assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
    let want = serde_json::json!({ "at": at, "result": "drifted", "drifted": ["say", "gone"] });
    assert_eq!(last, &want);
    let journal_after = journal(&sb, "w");
    assert_eq!(journal_after.len(), journal_before.len() + 1);
    assert_eq!(journal_after[..journal_before.len()], journal_before[..]);
    let entry = journal_after.last().unwrap();
    assert_eq!(entry["what"], "run.checked");
    assert_eq!(entry["result"], "drifted: 1 hold, 2 drifted (say, gone)");
    assert!(entry.get("step").is_none());
    assert_eq!(files_in(&sb.run_dir("w").join("logs")), logs_before);
    // `status` shows the check.
    has(&sb.run(&["status", "w"]).stdout, "last checked");
}

const SCRIPTS: &str = r#"
stepwise: 1
id: scripts
title: Scripts
inputs:
  odd: {}
steps:
  - id: plain
    title: A run step alone
    run: echo ran >> run-plain.txt
  - id: guarded
    title: A run step with skip_if
    skip_if: |
      echo looked >> skip-looked.txt
      test -f guarded-made.txt
    run: |
      echo ran >> run-guarded.txt
      touch guarded-made.txt
  - id: rechecked
    title: A run step with a recheck script
    run: echo ran >> run-rechecked.txt
    recheck: |
      printf '%s' "{{ inputs.odd }}" > seen-dq.txt
      printf '%s' {{ inputs.odd }} > seen-word.txt
      printf '%s' '{{ inputs.odd }}' > seen-sq.txt
      echo looked >> recheck-looked.txt
"#;

#[test]
fn run_scripts_never_run_only_skip_if_and_recheck_do_with_values_as_data() {
    let sb = Sandbox::new();
    let odd = "a $(touch PWNED) `touch PWNED2` \"dq\" 'sq' ; touch PWNED3\nsecond line $HOME *";
    finish(
        &sb,
        "rb.yaml",
        SCRIPTS,
        "s",
        &["--input", &format!("odd={odd}")],
    );
    let markers = ["run-plain.txt", "run-guarded.txt", "run-rechecked.txt"];
    for m in markers {
        assert_eq!(sb.read(m), "ran\n", "{m}");
    }
    assert_eq!(sb.read("skip-looked.txt"), "looked\n");
    rm(&sb, "skip-looked.txt");
    assert!(!sb.path().join("recheck-looked.txt").exists());
    let before: Vec<SystemTime> = markers.iter().map(|m| mtime(&sb.path().join(m))).collect();

    let (code, j) = check_json(&sb, &["s"]);
    assert_eq!(code, 0, "{j:#}");
    for (m, t) in markers.iter().zip(&before) {
        assert_eq!(
            (sb.read(m), mtime(&sb.path().join(m))),
            ("ran\n".to_string(), *t),
            "{m}"
        );
    }
    is(&j, "plain", "unchecked", "only through its `skip_if`");
    is(&j, "guarded", "holds", "`skip_if` passes");
    assert_eq!(sb.read("skip-looked.txt"), "looked\n");
    is(&j, "rechecked", "holds", "`recheck` passes");
    assert_eq!(sb.read("recheck-looked.txt"), "looked\n");
    for seen in ["seen-dq.txt", "seen-word.txt", "seen-sq.txt"] {
        assert_eq!(sb.read(seen), odd, "{seen}");
    }
    for dir in [sb.path().to_path_buf(), sb.run_dir("s")] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with("PWNED"), "{name}");
        }
    }

    // The skip_if fails now: the step drifted, and its run script still did not run.
    rm(&sb, "guarded-made.txt");
    let (code, j) = check_json(&sb, &["s"]);
    assert_eq!(code, 1);
    is(&j, "guarded", "drifted", "`skip_if` no longer passes");
    assert!(!sb.path().join("guarded-made.txt").exists());
    assert_eq!(sb.read("run-guarded.txt"), "ran\n");
}

#[test]
fn a_recheck_script_added_later_is_used_and_does_not_change_the_step() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: later\ntitle: Later\nsteps:\n  - id: make\n    title: Make\n    run: touch made.txt\n";
    finish(&sb, "rb.yaml", rb, "l", &[]);
    let make = |code: i32, status: &str| {
        let (c, j) = check_json(&sb, &["l"]);
        assert_eq!((c, &step(&j, "make")["status"]), (code, &status.into()));
    };
    make(0, "unchecked");
    sb.write("rb.yaml", &format!("{rb}    recheck: test -f made.txt\n"));
    make(0, "holds");
    rm(&sb, "made.txt");
    make(1, "drifted");
    let r = sb.run(&["status", "l"]);
    assert!(!r.stdout.contains("changed since it ran"), "{}", r.stdout);
    // Whereas editing what it runs does change it.
    let edited = rb.replace("touch made", "touch other");
    sb.write(
        "rb.yaml",
        &format!("{edited}    recheck: test -f made.txt\n"),
    );
    has(&sb.run(&["status", "l"]).stdout, "changed since it ran");
}

const FILES: &str = r#"
stepwise: 1
id: files
title: Files
inputs:
  who: { default: world }
steps:
  - id: conf
    title: Write the settings
    file:
      path: out/settings.txt
      content: |
        hello {{ inputs.who }}
        replicas: 1
  - id: base
    title: A file changed again below
    file: { path: out/values.yaml, content: "replicas: 1\n" }
  - id: scale
    title: Raise the replicas
    file:
      path: out/values.yaml
      set: { replicas: 2 }
"#;

#[test]
fn a_file_edited_by_hand_drifted_with_a_diff_and_a_deleted_one_is_gone() {
    let sb = Sandbox::new();
    finish(&sb, "rb.yaml", FILES, "f", &[]);
    let (code, j) = check_json(&sb, &["f"]);
    assert_eq!(code, 0, "{j:#}");
    is(&j, "conf", "holds", "out/settings.txt is as wanted");
    is(&j, "base", "unchecked", "`scale` changes the same file");
    is(&j, "scale", "holds", "out/values.yaml is as wanted");

    sb.write("out/settings.txt", "hello world\nreplicas: 9\n");
    let (code, j) = check_json(&sb, &["f"]);
    assert_eq!(code, 1);
    is(&j, "conf", "drifted", "settings.txt changed since");
    let diff = step(&j, "conf")["diff"].as_str().unwrap();
    diff_line(diff, '-', "replicas: 9");
    diff_line(diff, '+', "replicas: 1");
    let r = check(&sb, &["f"]);
    expect(&r, 1);
    has(&r.stdout, "-replicas: 9");
    has(&r.stdout, "+replicas: 1");
    // The check wrote nothing back.
    assert_eq!(sb.read("out/settings.txt"), "hello world\nreplicas: 9\n");

    rm(&sb, "out/settings.txt");
    sb.write("out/values.yaml", "replicas: 5\n");
    let (code, j) = check_json(&sb, &["f"]);
    assert_eq!(code, 1);
    is(&j, "conf", "drifted", "out/settings.txt is gone");
    assert_eq!(text(step(&j, "conf")), "out/settings.txt is gone");
    diff_line(
        step(&j, "conf")["diff"].as_str().unwrap(),
        '+',
        "hello world",
    );
    assert!(!sb.path().join("out/settings.txt").exists());
    is(&j, "scale", "drifted", "out/values.yaml changed");
    diff_line(
        step(&j, "scale")["diff"].as_str().unwrap(),
        '+',
        "replicas: 2",
    );
}

#[test]
fn a_check_step_failing_now_drifted_with_its_last_output_lines_and_no_wait() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: probe\ntitle: Probe\nsteps:\n  - id: ready\n    title: The service answers\n    check: |\n      for i in $(seq 1 15); do echo \"probe line $i\"; done\n      test -f service-up\n    wait: { every: 30s, timeout: 1h }\n";
    sb.write("service-up", "");
    finish(&sb, "rb.yaml", rb, "p", &[]);
    expect(&check(&sb, &["p"]), 0);
    rm(&sb, "service-up");
    let started = Instant::now();
    let (code, j) = check_json(&sb, &["p"]);
    assert!(started.elapsed() < Duration::from_secs(20), "it waited");
    assert_eq!(code, 1);
    let ready = step(&j, "ready");
    assert_eq!(
        (&ready["status"], &ready["kind"]),
        (&"drifted".into(), &"check".into())
    );
    let lines: Vec<&str> = text(ready).lines().collect();
    assert_eq!(lines[0], "`check` no longer passes (exit status 1)");
    let want: Vec<String> = (6..=15).map(|i| format!("probe line {i}")).collect();
    assert_eq!(lines[1..], want[..]);
}

#[test]
fn a_secret_not_given_again_is_unknown_given_it_holds_and_it_is_never_shown_or_kept() {
    let sb = Sandbox::new();
    let (secret, wrong) = ("s3cr3t-XyZ-4711", "wr0ng-AbC-0815");
    let rb = format!(
        "stepwise: 1\nid: token\ntitle: Token\ninputs:\n  token: {{ secret: true }}\nsteps:\n  - id: use\n    title: Use the token\n    run: echo using it\n    recheck: |\n      echo \"the token is {{{{ inputs.token }}}}\"\n      test \"{{{{ inputs.token }}}}\" = {secret}\n"
    );
    let given = format!("token={secret}");
    finish(&sb, "rb.yaml", &rb, "t", &["--input", &given]);
    let mut said = String::new();
    let mut said_by = |args: &[&str], code: i32| {
        let r = check(&sb, args);
        expect(&r, code);
        said.push_str(&format!("{}{}", r.stdout, r.stderr));
        r.stdout
    };
    has(&said_by(&["t"], 5), "  unknown    use  ");
    let j: Value = serde_json::from_str(&said_by(&["t", "--json"], 5)).unwrap();
    assert_eq!(j["result"], "unknown");
    is(&j, "use", "unknown", "undefined");
    assert_eq!(
        sb.state("t")["last_check"]["unknown"],
        serde_json::json!(["use"])
    );
    for i in ["-i", "--input"] {
        has(
            &said_by(&["t", i, &given], 0),
            "  holds      use  `recheck` passes\n",
        );
    }
    let j: Value = serde_json::from_str(&said_by(&["t", "-i", &given, "--json"], 0)).unwrap();
    assert_eq!(j["result"], "holds");
    // A wrong one: drifted, and what the script said is masked.
    let out = said_by(&["t", "-i", &format!("token={wrong}")], 1);
    has(&out, "the token is ********");

    let journal = sb.run(&["log", "t", "--json"]).stdout;
    assert_eq!(journal.matches("\"run.checked\"").count(), 6);
    let kept = format!("{}{journal}", sb.everything_on_disk("t"));
    for value in [secret, wrong] {
        assert!(!said.contains(value), "{value} shown:\n{said}");
        assert!(!kept.contains(value), "{value} kept:\n{kept}");
    }
}

#[test]
fn recheck_false_is_unchecked_and_recheck_on_an_include_is_invalid() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: off\ntitle: Off\nsteps:\n  - id: ready\n    title: Ready\n    check: test -f up\n    recheck: false\n  - id: also\n    title: Also\n    check: test -f up\n";
    sb.write("up", "");
    finish(&sb, "rb.yaml", rb, "o", &[]);
    rm(&sb, "up");
    let (code, j) = check_json(&sb, &["o"]);
    assert_eq!(code, 1);
    is(&j, "ready", "unchecked", "it is not re-checked");
    // The same check without it drifted (the exit status above).
    is(&j, "also", "drifted", "`check` no longer passes");

    let inner = "stepwise: 1\nid: inner\ntitle: Inner\nsteps:\n  - id: x\n    title: X\n    run: \"true\"\n";
    sb.write("inner.yaml", inner);
    let outer = "stepwise: 1\nid: outer\ntitle: Outer\nsteps:\n  - id: inc\n    title: Inc\n    include: inner.yaml\n    recheck: false\n";
    sb.write("outer.yaml", outer);
    let r = sb.run(&["validate", "outer.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    has(
        &format!("{}{}", r.stdout, r.stderr),
        "outer.yaml:8:5: `recheck` does not apply to a `include` step",
    );
}

#[test]
fn which_runs_are_checked() {
    let sb = Sandbox::new();
    let r = check(&sb, &["--all"]);
    expect(&r, 0);
    assert_eq!(r.stdout, "no finished runs to check\n");
    let r = check(&sb, &["--all", "-q"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let (code, j) = check_json(&sb, &["--all"]);
    assert_eq!(
        (code, &j["result"], &j["exit_code"]),
        (0, &"holds".into(), &0.into())
    );
    assert_eq!(j["runs"], serde_json::json!([]));

    let r = check(&sb, &[]);
    expect(&r, 2);
    has(&r.stderr, "<RUNS|--all>");
    expect(&check(&sb, &["x", "--all"]), 2);

    let rb = "stepwise: 1\nid: one\ntitle: One\nsteps:\n  - id: ok\n    title: Ok\n    check: \"true\"\n";
    finish(&sb, "rb.yaml", rb, "real", &[]);
    let before = journal(&sb, "real").len();
    let r = check(&sb, &["nope"]);
    expect(&r, 2);
    has(&r.stderr, "run `nope` not found");
    // Every named run must exist: none is checked otherwise.
    let r = check(&sb, &["real", "nope"]);
    expect(&r, 2);
    assert!(!r.stdout.contains("real (one)"), "{}", r.stdout);
    assert_eq!(journal(&sb, "real").len(), before);
    assert!(sb.state("real").get("last_check").is_none());
    expect(&check(&sb, &["real"]), 0);
    assert_eq!(journal(&sb, "real").len(), before + 1);
}

#[test]
fn an_unfinished_named_run_is_checked_as_far_as_it_got() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: half\ntitle: Half\nsteps:\n  - id: ok\n    title: Ok\n    check: \"true\"\n  - id: wait\n    title: Wait\n    manual: later\n";
    sb.write("rb.yaml", rb);
    expect(&sb.run(&["run", "rb.yaml", "--plain", "--name", "h"]), 3);
    let r = check(&sb, &["h"]);
    expect(&r, 0);
    has(&r.stdout, "h (half, unfinished): holds\n");
    let (code, j) = check_json(&sb, &["h"]);
    assert_eq!((code, &j["runs"][0]["completed"]), (0, &false.into()));
    is(&j, "ok", "holds", "`check` passes");
    is(&j, "wait", "unchecked", "not done: it is waiting");
}

#[test]
fn a_run_driven_now_by_another_process_is_unknown() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: busy\ntitle: Busy\nsteps:\n  - id: ok\n    title: Ok\n    check: \"true\"\n  - id: hold\n    title: Hold\n    run: while [ ! -f go ]; do sleep 0.05; done\n";
    sb.write("rb.yaml", rb);
    let mut driver = sb
        .cmd(&["run", "rb.yaml", "--plain", "--name", "busy"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(sb.run_dir("busy").join("state.json").is_file()
        && sb.status_of("busy", "hold") == "running")
    {
        if Instant::now() > deadline {
            sb.write("go", "");
            panic!("the run did not start its step");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, j) = check_json(&sb, &["busy"]);
    let lines = check(&sb, &["busy"]);
    // Let the driving process end before anything is asserted.
    sb.write("go", "");
    let ended = driver.wait().unwrap();
    assert_eq!(code, 5, "{j:#}");
    expect(&lines, 5);
    has(&lines.stdout, "busy (busy, unfinished): unknown\n");
    let run = &j["runs"][0];
    assert_eq!(
        (&run["result"], &run["runbook"]),
        (&"unknown".into(), &"busy".into())
    );
    assert_eq!(run["completed"], false);
    let error = run["error"].as_str().unwrap();
    has(error, "is being driven by another stepwise process");
    assert!(ended.success());
    expect(&check(&sb, &["busy"]), 0);
}

#[test]
fn a_run_last_driven_on_another_machine_is_unknown_for_scripts_and_files() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: away\ntitle: Away\nsteps:\n  - id: ok\n    title: Ok\n    check: \"true\"\n  - id: conf\n    title: Conf\n    file: { path: conf.txt, content: \"x\\n\" }\n";
    finish(&sb, "rb.yaml", rb, "away", &[]);
    let mut st = sb.state("away");
    st["driven_on"]["machine"] = Value::from("0".repeat(32));
    st["driven_on"]["host"] = Value::from("faraway");
    let path = sb.run_dir("away").join("state.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&st).unwrap()).unwrap();
    let (code, j) = check_json(&sb, &["away"]);
    assert_eq!(code, 5, "{j:#}");
    for key in ["ok", "conf"] {
        is(&j, key, "unknown", "the run was last driven on faraway");
    }
    // Where it was driven is kept as it was.
    assert_eq!(sb.state("away")["driven_on"], st["driven_on"]);
}
