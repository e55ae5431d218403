//! Plain mode, resume, the run store, secrets and crashes, through the real binary.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::time::{Duration, Instant};

use cli::Sandbox;

const SIMPLE: &str = r#"
stepwise: 1
id: simple
title: Simple
steps:
  - id: one
    title: First
    description: makes an output
    run: |
      echo "hello from one"
      echo "greeting=hi there" >> "$STEPWISE_OUTPUT"
    outputs:
      greeting: {}
  - id: two
    title: Second
    description: uses it
    run: echo "got {{ steps.one.greeting }}" > two.txt
"#;

#[test]
fn plain_run_completes_and_records_every_step() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SIMPLE);
    let r = sb.run(&["run", "rb.yaml", "--name", "r1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("  | hello from one"), "{}", r.stdout);
    assert!(
        r.stdout.contains("run r1 completed (2/2 done)"),
        "{}",
        r.stdout
    );
    assert_eq!(sb.read("two.txt"), "got hi there\n");
    let st = sb.state("r1");
    assert_eq!(st["steps"]["one"]["status"], "succeeded");
    assert_eq!(st["steps"]["one"]["outputs"]["greeting"], "hi there");
    assert_eq!(st["steps"]["one"]["exit_code"], 0);
    assert_eq!(st["steps"]["one"]["attempts"], 1);
    assert!(
        st["steps"]["one"]["definition_hash"]
            .as_str()
            .is_some_and(|h| h.len() == 24)
    );
    assert!(
        st["steps"]["two"]["started_at"].is_string()
            && st["steps"]["two"]["finished_at"].is_string()
    );
    let log = std::fs::read_to_string(sb.run_dir("r1").join("logs/one.log")).unwrap();
    assert_eq!(log, "hello from one\n");
    let journal = std::fs::read_to_string(sb.run_dir("r1").join("journal.jsonl")).unwrap();
    let whats: Vec<String> = journal
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["what"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        whats,
        [
            "run.created",
            "step.started",
            "step.succeeded",
            "step.started",
            "step.succeeded",
            "run.completed"
        ]
    );
    let first: serde_json::Value = serde_json::from_str(journal.lines().nth(1).unwrap()).unwrap();
    assert!(
        first["user"].is_string()
            && first["host"].is_string()
            && first["pid"].is_number()
            && first["at"].is_string()
    );
    // The run is there, and a second run of the same name is refused.
    let again = sb.run(&["run", "rb.yaml", "--name", "r1"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("run `r1` already exists"),
        "{}",
        again.stderr
    );
}

#[test]
fn run_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.write("rb.yaml", SIMPLE);
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "p"]).code, 0);
    for p in ["", "state.json", "journal.jsonl", "logs", "logs/one.log"] {
        let mode = std::fs::metadata(sb.run_dir("p").join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode & 0o077, 0, "{p} is readable by others: {mode:o}");
    }
}

const MANUAL: &str = r#"
stepwise: 1
id: manual
title: Manual
steps:
  - id: before
    title: Before
    run: echo before >> log.txt
  - id: request-exemption
    title: Ask for the exemption
    description: only a person can do this
    manual: Send the message to {{ inputs.rep }}.
    prompts:
      ticket:
        prompt: Ticket number
        pattern: "[0-9]+"
  - id: after
    title: After
    run: echo "after {{ steps.request-exemption.ticket }}" >> log.txt
inputs:
  rep:
    description: The representative
"#;

#[test]
fn plain_mode_stops_for_a_person_and_resume_continues() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", MANUAL);
    let r = sb.run(&["run", "rb.yaml", "--name", "m", "--input", "rep=Dana"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("Send the message to Dana."),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("to continue: stepwise resume m --done request-exemption --output request-exemption.ticket=<answer>"),
        "{}",
        r.stdout
    );
    assert_eq!(sb.status_of("m", "request-exemption"), "waiting");

    let runs = sb.run(&["runs"]);
    assert!(
        runs.stdout
            .contains("1/3 done, waiting at request-exemption, just now"),
        "{}",
        runs.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&sb.run(&["runs", "--json"]).stdout).unwrap();
    assert_eq!(json[0]["name"], "m");
    assert_eq!(json[0]["status"], "waiting");
    assert_eq!(json[0]["current_step"], "request-exemption");
    assert_eq!(json[0]["done"], 1);
    assert_eq!(json[0]["total"], 3);

    // Confirming without the answer keeps it waiting; a bad answer is refused.
    let r = sb.run(&["resume", "m", "--done", "request-exemption"]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = sb.run(&[
        "resume",
        "m",
        "--done",
        "request-exemption",
        "--output",
        "request-exemption.ticket=abc",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("does not match the pattern"),
        "{}",
        r.stdout
    );
    let r = sb.run(&[
        "resume",
        "m",
        "--done",
        "request-exemption",
        "--output",
        "request-exemption.ticket=4711",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("log.txt"), "before\nafter 4711\n");
    let st = sb.state("m");
    assert_eq!(
        st["steps"]["request-exemption"]["outputs"]["ticket"],
        "4711"
    );
    // The earlier step ran once only.
    assert_eq!(st["steps"]["before"]["attempts"], 1);

    let status: serde_json::Value =
        serde_json::from_str(&sb.run(&["status", "m", "--json"]).stdout).unwrap();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["steps"][1]["key"], "request-exemption");
    assert_eq!(status["steps"][1]["title"], "Ask for the exemption");
    assert_eq!(status["steps"][1]["kind"], "manual");
    assert_eq!(status["inputs"]["rep"]["value"], "Dana");
}

#[test]
fn danger_steps_need_the_typed_confirmation() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: danger
title: Danger
inputs:
  zone: { default: example.org }
steps:
  - id: upsert
    title: Change DNS
    description: points the name elsewhere
    danger: "{{ inputs.zone }}"
    run: touch changed
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "d"]);
    assert_eq!(r.code, 3);
    assert!(r.stdout.contains("DANGER"), "{}", r.stdout);
    assert!(
        r.stdout.contains("touch changed"),
        "the change is shown: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("--confirm upsert=example.org"),
        "{}",
        r.stdout
    );
    let r = sb.run(&["resume", "d", "--confirm", "upsert=example.com"]);
    assert_eq!(r.code, 3);
    assert!(
        !sb.path().join("changed").exists(),
        "ran without the right confirmation"
    );
    // It says the confirmation given did not match, before asking again.
    let said = "! the confirmation given with --confirm does not match; nothing was changed";
    let at = r
        .stdout
        .find(said)
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(at < r.stdout.find("DANGER").unwrap(), "{}", r.stdout);
    let r = sb.run(&["resume", "d"]);
    assert!(!r.stdout.contains(said), "{}", r.stdout);
    let r = sb.run(&["resume", "d", "--confirm", "upsert=example.org"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(sb.path().join("changed").exists());
}

#[test]
fn a_failed_step_stops_the_run_and_resume_runs_it_again() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: fail
title: Fail
steps:
  - id: needs-file
    title: Needs a file
    run: |
      echo trying
      test -f ready
  - id: next
    title: Next
    run: touch next-ran
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "f"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("= failed"), "{}", r.stdout);
    assert!(r.stdout.contains("exited with status 1"), "{}", r.stdout);
    assert_eq!(sb.status_of("f", "needs-file"), "failed");
    assert_eq!(sb.state("f")["steps"]["needs-file"]["exit_code"], 1);
    assert!(!sb.path().join("next-ran").exists());
    sb.write("ready", "");
    let r = sb.run(&["resume", "f"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.state("f")["steps"]["needs-file"]["attempts"], 2);
    assert!(sb.path().join("next-ran").exists());
}

#[test]
fn retries_timeouts_and_continue_on_error() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: retry
title: Retry
steps:
  - id: flaky
    title: Fails twice
    run: |
      echo x >> tries
      [ "$(wc -l < tries)" -ge 3 ]
    retry: { times: 2, delay: 10ms }
  - id: slow
    title: Too slow
    run: |
      sleep 30 &
      echo $! > sleeper.pid
      wait
    timeout: 1s
    continue_on_error: true
  - id: last
    title: Last
    run: touch last
"#,
    );
    let started = Instant::now();
    let r = sb.run(&["run", "rb.yaml", "--name", "t"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the timeout did not stop the step"
    );
    assert_eq!(sb.read("tries").lines().count(), 3);
    assert_eq!(sb.state("t")["steps"]["flaky"]["attempts"], 3);
    assert!(r.stdout.contains("attempt 1 of 3 failed"), "{}", r.stdout);
    assert_eq!(sb.status_of("t", "slow"), "failed");
    assert!(r.stdout.contains("timed out after 1s"), "{}", r.stdout);
    // The whole process group went, the background sleep included.
    let pid: i32 = sb.read("sleeper.pid").trim().parse().unwrap();
    assert!(
        !process_alive(pid),
        "the step's child {pid} survived the timeout"
    );
    assert!(sb.path().join("last").exists());
    // The run went past the failure, so it is complete, with the failure on record.
    assert_eq!(sb.state("t")["steps"]["slow"]["continued"], true);
    let runs: serde_json::Value =
        serde_json::from_str(&sb.run(&["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["done"], 3);
}

fn process_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn when_and_skip_if_decide_without_running() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: cond
title: Conditions
inputs:
  env: { default: dev, choices: [dev, prod] }
steps:
  - id: prod-only
    title: Only in prod
    when: inputs.env == "prod"
    run: touch prod-ran
  - id: once
    title: Only once
    skip_if: test -f once
    run: touch once && echo ran >> once-log
"#,
    );
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "c1"]).code, 0);
    assert_eq!(sb.status_of("c1", "prod-only"), "skipped");
    assert_eq!(sb.status_of("c1", "once"), "succeeded");
    let r = sb.run(&["run", "rb.yaml", "--name", "c2"]);
    assert_eq!(r.code, 0);
    assert_eq!(sb.status_of("c2", "once"), "satisfied");
    assert_eq!(sb.read("once-log"), "ran\n");
    assert!(!sb.path().join("prod-ran").exists());
    let r = sb.run(&["run", "rb.yaml", "--name", "c3", "--input", "env=staging"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("input `env`: `staging` is not one of: dev, prod"),
        "{}",
        r.stderr
    );
    assert!(
        !sb.run_dir("c3").exists(),
        "an invalid input must not create a run"
    );
}

#[test]
fn inputs_are_checked_before_anything_runs() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", MANUAL);
    let r = sb.run(&["run", "rb.yaml", "--name", "i"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: input `rep` (The representative) is required\nhint: pass it with `--input rep=VALUE`\n"
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "i", "--input", "rpe=x"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown input `rpe`\nhint: did you mean `rep`?"),
        "{}",
        r.stderr
    );
    assert!(!sb.path().join("log.txt").exists());
}

const SECRET: &str = r#"
stepwise: 1
id: secret
title: Secrets
inputs:
  token: { description: API token, secret: true }
steps:
  - id: use-token
    title: Use the token
    run: |
      echo "token is {{ inputs.token }}"
      echo "also $TOKEN" >&2
    env:
      TOKEN: "{{ inputs.token }}"
  - id: make-key
    title: Make a key
    run: |
      echo "created key s3cr3t-k3y-value"
      echo "key=s3cr3t-k3y-value" >> "$STEPWISE_OUTPUT"
    outputs:
      key: { secret: true }
  - id: use-key
    title: Use the key
    run: |
      printf '%s' "{{ steps.make-key.key }}" | sha256sum | cut -c1-16 > key.sum
      echo "using {{ steps.make-key.key }}"
  - id: stop
    title: A person checks
    manual: Check the key works.
"#;

#[test]
fn secrets_never_reach_disk_and_are_masked() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SECRET);
    let r = sb.run(&[
        "run",
        "rb.yaml",
        "--name",
        "s",
        "--input",
        "token=tok-12345-abcde",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    let shown = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !shown.contains("tok-12345-abcde"),
        "secret input shown: {shown}"
    );
    assert!(
        !shown.contains("s3cr3t-k3y-value"),
        "secret output shown: {shown}"
    );
    assert!(shown.contains("token is ********"), "{shown}");
    assert!(shown.contains("also ********"), "{shown}");
    assert!(shown.contains("created key ********"), "{shown}");
    assert!(shown.contains("key = ********"), "{shown}");
    // The later step received the real value.
    let expected = {
        use std::process::Command;
        let out = Command::new("bash")
            .args([
                "-c",
                "printf '%s' s3cr3t-k3y-value | sha256sum | cut -c1-16",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(sb.read("key.sum"), expected);
    let disk = sb.everything_on_disk("s");
    assert!(!disk.contains("tok-12345-abcde"), "secret input on disk");
    assert!(!disk.contains("s3cr3t-k3y-value"), "secret output on disk");
    let st = sb.state("s");
    assert_eq!(st["inputs"]["token"], serde_json::json!({"secret": true}));
    assert_eq!(
        st["steps"]["make-key"]["secret_outputs"],
        serde_json::json!(["key"])
    );
    assert!(st["steps"]["make-key"]["outputs"].get("key").is_none());
    // No output file is left behind anywhere.
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
                .count()
        })
        .into_iter()
        .collect();
    let _ = leftovers;
    // On resume, the secret input is asked for again.
    let r = sb.run(&["resume", "s", "--done", "stop"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("input `token` (API token) is secret and was not kept; give it again"),
        "{}",
        r.stderr
    );
    let r = sb.run(&[
        "resume",
        "s",
        "--done",
        "stop",
        "--input",
        "token=tok-12345-abcde",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!sb.everything_on_disk("s").contains("tok-12345-abcde"));
}

#[test]
fn dry_run_changes_nothing_and_writes_no_state() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: dry
title: Dry
inputs:
  name: { description: the name }
steps:
  - id: launch
    title: Launch
    run: |
      touch launched
      echo "instance_id=i-123" >> "$STEPWISE_OUTPUT"
    outputs:
      instance_id: {}
  - id: tag
    title: Tag
    run: echo tag {{ steps.launch.instance_id }} as {{ inputs.name }} > tagged
  - id: conf
    title: Config
    file:
      path: conf.json
      content: '{"id": "{{ steps.launch.instance_id }}"}'
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("DRY RUN of rb.yaml (Dry): nothing will be changed\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("echo tag <steps.launch.instance_id> as <inputs.name> > tagged"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("+{\"id\": \"<steps.launch.instance_id>\"}"),
        "{}",
        r.stdout
    );
    assert!(!sb.path().join("launched").exists());
    assert!(!sb.path().join("tagged").exists());
    assert!(!sb.path().join("conf.json").exists());
    assert!(
        !sb.home().join("runs").exists(),
        "a dry run wrote run state"
    );
    // Nor anything else of stepwise's (not even this machine's id).
    let written: Vec<_> = std::fs::read_dir(sb.home())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "a dry run wrote {written:?}");
}

const SLOW: &str = r#"
stepwise: 1
id: crash
title: Crash
steps:
  - id: first
    title: First
    run: echo "value=kept" >> "$STEPWISE_OUTPUT"
    outputs:
      value: {}
  - id: long
    title: Long
    run: |
      echo "long step is running"
      echo started >> long-started
      exec sleep {{ env.SLEEP_FOR }}
  - id: last
    title: Last
    run: echo "{{ steps.first.value }}" > last.txt
"#;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_mid_step_leaves_it_interrupted_and_nothing_is_rerun_or_lost() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SLOW);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "k"])
        .env("SLEEP_FOR", "60")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the long step to start", || {
        sb.path().join("long-started").exists()
    });
    let before = sb.state("k");
    assert_eq!(before["steps"]["long"]["status"], "running");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // A second process can drive the run now (the lock died with the first), but the step's
    // `sleep` goes on without it: it is not started again beside it.
    let r = sb.run(&["resume", "k"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("? still running"), "{}", r.stdout);
    // Once it has ended, the step is interrupted, for a person to decide about.
    end_group_left_running(&sb, "k");
    let r = sb.run(&["resume", "k"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("? interrupted"), "{}", r.stdout);
    assert!(r.stdout.contains("--rerun long"), "{}", r.stdout);
    assert_eq!(
        sb.read("long-started"),
        "started\n",
        "the interrupted step was re-run"
    );
    let st = sb.state("k");
    assert_eq!(st["steps"]["long"]["status"], "interrupted");
    assert_eq!(st["steps"]["first"]["status"], "succeeded");
    assert_eq!(st["steps"]["first"]["outputs"]["value"], "kept");
    let listed = sb.run(&["runs"]);
    assert!(
        listed.stdout.contains("1/3 done, interrupted at long"),
        "{}",
        listed.stdout
    );

    // The person chooses to re-run it; the run completes with the earlier output intact.
    let r = sb
        .cmd(&["resume", "k", "--rerun", "long"])
        .env("SLEEP_FOR", "0")
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert_eq!(sb.read("long-started"), "started\nstarted\n");
    assert_eq!(sb.read("last.txt"), "kept\n");
    assert_eq!(sb.state("k")["steps"]["first"]["attempts"], 1);
}

/// Ends the process group of the `long` step, left running by a stepwise killed with SIGKILL,
/// and waits until it has gone.
fn end_group_left_running(sb: &Sandbox, run: &str) {
    let pgid = sb.state(run)["steps"]["long"]["pgid"]
        .as_i64()
        .expect("the step's process group is recorded") as i32;
    assert!(pgid > 1);
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_for("the step's process group to end", || !process_alive(pgid));
}

#[test]
fn marking_an_interrupted_step_done_or_skipping_it() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SLOW);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "k2"])
        .env("SLEEP_FOR", "60")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The step has started and stepwise has read its first line (the reader writes the log, so
    // the file `long-started` alone can come before the line is in the log).
    let log_path = sb.run_dir("k2").join("logs/long.log");
    wait_for("the long step to start and its line to be logged", || {
        sb.path().join("long-started").exists()
            && std::fs::read_to_string(&log_path).is_ok_and(|l| l.ends_with('\n'))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    end_group_left_running(&sb, "k2");
    // The interrupted step's log keeps what it had got, whole.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(log, "long step is running\n");
    let r = sb.run(&["resume", "k2", "--done", "long"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.status_of("k2", "long"), "succeeded");
    assert_eq!(sb.read("long-started"), "started\n");
}

#[test]
fn skipping_an_include_skips_its_steps() {
    let sb = Sandbox::new();
    sb.write("child.yaml", "stepwise: 1\nid: child\ntitle: Child\nsteps:\n  - id: inner\n    title: Inner\n    run: touch inner-ran\n");
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: parent\ntitle: Parent\nsteps:\n  - id: ask\n    title: Ask\n    manual: Decide.\n  - id: inc\n    title: Included\n    include: child.yaml\n",
    );
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "sk"]).code, 3);
    let r = sb.run(&[
        "resume",
        "sk",
        "--done",
        "ask",
        "--skip",
        "inc=not needed here",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.status_of("sk", "inc/inner"), "skipped");
    assert!(!sb.path().join("inner-ran").exists());
}

#[test]
fn a_secret_output_lost_to_a_resume_says_what_to_do() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        &SECRET.replace(
            "  - id: use-key",
            "  - id: pause\n    title: Pause\n    manual: wait\n  - id: use-key",
        ),
    );
    let r = sb.run(&[
        "run",
        "rb.yaml",
        "--name",
        "lost",
        "--input",
        "token=tok-12345-abcde",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = sb.run(&[
        "resume",
        "lost",
        "--done",
        "pause",
        "--input",
        "token=tok-12345-abcde",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("the secret output `make-key.key` was made by an earlier process, and secrets are never kept on disk"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("`--rerun make-key`"), "{}", r.stdout);
}

#[test]
fn one_process_drives_a_run_at_a_time() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SLOW);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "l"])
        .env("SLEEP_FOR", "60")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the long step to start", || {
        sb.path().join("long-started").exists()
    });
    let r = sb.run(&["resume", "l"]);
    child.kill().unwrap();
    child.wait().unwrap();
    end_group_left_running(&sb, "l");
    assert_eq!(r.code, 4, "{r:?}");
    let pid = child.id();
    assert!(
        r.stderr.starts_with(&format!(
            "error: run `l` is being driven by another stepwise process (pid {pid} by "
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn sigterm_and_ctrl_c_stop_the_step_and_record_it_interrupted() {
    for signal in ["TERM", "INT"] {
        let sb = Sandbox::new();
        sb.write("rb.yaml", SLOW);
        let child = sb
            .cmd(&["run", "rb.yaml", "--name", "t"])
            .env("SLEEP_FOR", "60")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the long step to start", || {
            sb.path().join("long-started").exists()
        });
        nix_kill(child.id(), signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{signal}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("run t interrupted at long"),
            "{signal}: {stdout}"
        );
        assert_eq!(sb.status_of("t", "long"), "interrupted", "{signal}");
    }
}

fn nix_kill(pid: u32, sig: &str) {
    std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_changed_step_is_flagged_for_review_on_resume() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", MANUAL);
    assert_eq!(
        sb.run(&["run", "rb.yaml", "--name", "ch", "--input", "rep=x"])
            .code,
        3
    );
    sb.write(
        "rb.yaml",
        &MANUAL.replace("echo before >> log.txt", "echo BEFORE >> log.txt"),
    );
    let r = sb.run(&["resume", "ch"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("definition changed since it ran"),
        "{}",
        r.stdout
    );
    // What changed, old to new.
    assert!(r.stdout.contains("--- as it ran"), "{}", r.stdout);
    assert!(
        r.stdout.contains("-run: echo before >> log.txt"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("+run: echo BEFORE >> log.txt"),
        "{}",
        r.stdout
    );
    let status = sb.run(&["status", "ch"]);
    assert!(
        status.stdout.contains("[changed since it ran]"),
        "{}",
        status.stdout
    );
    let r = sb.run(&["resume", "ch", "--done", "before"]);
    assert_eq!(r.code, 3, "kept, and now waiting at the manual step: {r:?}");
    assert!(r.stdout.contains("Send the message to x."), "{}", r.stdout);
    assert_eq!(sb.read("log.txt"), "before\n", "kept means not re-run");
}

#[test]
fn state_is_always_whole_while_a_run_writes_it() {
    let sb = Sandbox::new();
    let mut rb = String::from("stepwise: 1\nid: many\ntitle: Many\nsteps:\n");
    for i in 0..150 {
        rb.push_str(&format!(
            "  - id: s{i}\n    title: Step {i}\n    run: \"true\"\n"
        ));
    }
    sb.write("rb.yaml", &rb);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "a"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = sb.run_dir("a").join("state.json");
    let mut reads = 0;
    let mut seen_done = std::collections::BTreeSet::new();
    loop {
        let finished = child.try_wait().unwrap().is_some();
        if let Ok(text) = std::fs::read_to_string(&state) {
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("a reader saw a torn state.json ({e}):\n{text}"));
            let done = v["steps"]
                .as_object()
                .unwrap()
                .values()
                .filter(|s| s["status"] == "succeeded")
                .count();
            seen_done.insert(done);
            reads += 1;
        }
        if finished {
            break;
        }
    }
    assert!(reads > 10, "too few reads to mean anything: {reads}");
    assert!(
        seen_done.len() > 2,
        "the reader never saw the run progress: {seen_done:?}"
    );
    // No temporary files are left beside the state (the steps' definitions are kept in a
    // folder of their own, for diffs).
    let names: Vec<String> = std::fs::read_dir(sb.run_dir("a"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["definitions", "journal.jsonl", "lock", "logs", "state.json"]
    );
}

#[test]
fn file_steps_write_and_change_keys_and_are_idempotent() {
    let sb = Sandbox::new();
    sb.write(
        "conf.json",
        "{\n  \"a\": {\"b\": [1, 2]},\n  \"keep\": true\n}\n",
    );
    sb.write(
        "sops.yaml",
        "creation_rules:\n  - kms: arn:aws:kms:us-east-1:1:key/abc\n    path_regex: .*\n",
    );
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: files
title: Files
inputs:
  role: { default: "arn:aws:iam::1:role/admin" }
steps:
  - id: json
    title: Change JSON keys
    file:
      path: conf.json
      set:
        a.b[1]: 20
        a.c: "{{ inputs.role }}"
  - id: yaml
    title: Append the role to the KMS key
    file:
      path: sops.yaml
      set:
        creation_rules[0].kms: "{% if inputs.role in current %}{{ current }}{% else %}{{ current }}+{{ inputs.role }}{% endif %}"
  - id: new
    title: Write a new file
    file:
      path: out/new.txt
      content: "role {{ inputs.role }}\n"
      mode: "0640"
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "f1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("  - -  \"a\": {\"b\": [1, 2]},\n"),
        "a diff is shown: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  - +      20\n"),
        "a diff is shown: {}",
        r.stdout
    );
    let json: serde_json::Value = serde_json::from_str(&sb.read("conf.json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"a": {"b": [1, 20], "c": "arn:aws:iam::1:role/admin"}, "keep": true})
    );
    assert!(
        sb.read("sops.yaml")
            .contains("kms: arn:aws:kms:us-east-1:1:key/abc+arn:aws:iam::1:role/admin"),
        "{}",
        sb.read("sops.yaml")
    );
    assert_eq!(sb.read("out/new.txt"), "role arn:aws:iam::1:role/admin\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.path().join("out/new.txt"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    // A second run finds everything already as wanted and changes nothing.
    let r = sb.run(&["run", "rb.yaml", "--name", "f2"]);
    assert_eq!(r.code, 0, "{r:?}");
    for step in ["json", "yaml", "new"] {
        assert_eq!(
            sb.status_of("f2", step),
            "satisfied",
            "{step}: {}",
            r.stdout
        );
    }
}

#[test]
fn outputs_come_from_regex_json_and_the_output_file() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: outs
title: Outputs
steps:
  - id: svc
    title: Describe the service
    run: |
      echo '{"status": {"loadBalancer": {"ingress": [{"hostname": "a1b2.elb.amazonaws.com"}]}}}'
    outputs:
      hostname:
        json: "$.status.loadBalancer.ingress[0].hostname"
  - id: launch
    title: Launch
    run: |
      echo "Launched instance i-0abc123 in subnet-9"
      echo "zone=us-east-1a" >> "$STEPWISE_OUTPUT"
    outputs:
      instance_id:
        regex: 'instance (i-[0-9a-f]+)'
      zone: {}
  - id: missing
    title: Forgets its output
    run: echo nothing
    outputs:
      value: {}
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "o"]);
    assert_eq!(r.code, 1, "{r:?}");
    let st = sb.state("o");
    assert_eq!(
        st["steps"]["svc"]["outputs"]["hostname"],
        "a1b2.elb.amazonaws.com"
    );
    assert_eq!(st["steps"]["launch"]["outputs"]["instance_id"], "i-0abc123");
    assert_eq!(st["steps"]["launch"]["outputs"]["zone"], "us-east-1a");
    assert!(
        r.stdout.contains("output `value` was not written: the script should write `value=VALUE` to $STEPWISE_OUTPUT"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_waiting_check_polls_until_its_time_is_up() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: wait
title: Wait
steps:
  - id: exempt
    title: Wait for the exemption
    check: test -f exempted
    wait: { every: 200ms, timeout: 1s }
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "w"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("check not passing yet (try 1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("still failing after waiting 1s"),
        "{}",
        r.stdout
    );
    sb.write("exempted", "");
    let r = sb.run(&["resume", "w"]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn the_shipped_example_runs_end_to_end() {
    let sb = Sandbox::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/example.yaml");
    let r = sb.run(&["run", example]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("run example-demo is waiting at review (5/10 done)"),
        "{}",
        r.stdout
    );
    let r = sb.run(&[
        "resume",
        "example-demo",
        "--done",
        "review",
        "--output",
        "review.reviewer=Ada Lovelace",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("--confirm publish=demo"), "{}", r.stdout);
    let r = sb.run(&["resume", "example-demo", "--confirm", "publish=demo"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        sb.read("work/published/demo.yaml"),
        "deployment: demo\nowner: platform-team\nreplicas: 2\n"
    );
    assert_eq!(sb.read("work/demo/greeting.txt"), "Hello, Ada Lovelace!\n");
    assert!(
        r.stdout.contains("run example-demo completed (10/10 done)"),
        "{}",
        r.stdout
    );
}

#[test]
fn scripts_keep_their_line_numbers_and_get_an_empty_stdin() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: lines
title: Lines
steps:
  - id: reads
    title: Reads stdin
    run: |
      cat
      echo "read nothing"
    timeout: 10s
  - id: broken
    title: Broken on line 2
    run: |
      echo one
      no-such-command-xyz
"#,
    );
    let started = Instant::now();
    let r = sb.run(&["run", "rb.yaml", "--name", "ln"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a script waited on stdin"
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("  | read nothing"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("  ! bash: line 2: no-such-command-xyz: command not found"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("exited with status 127"), "{}", r.stdout);
}

#[test]
fn a_secret_output_is_shown_once_on_a_terminal_and_nowhere_else() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SECRET);
    // script(1) gives the run a terminal.
    let inner = format!(
        "{} run rb.yaml --plain --name once --input token=tok-12345-abcde",
        cli::bin()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(sb.path())
        .env("STEPWISE_HOME", sb.home())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("s3cr3t-k3y-value").count(), 1, "{shown}");
    assert!(shown.contains("secret key: s3cr3t-k3y-value"), "{shown}");
    assert!(shown.contains("created key ********"), "{shown}");
    assert!(!sb.everything_on_disk("once").contains("s3cr3t-k3y-value"));
    // Without a terminal it is not shown at all.
    let r = sb.run(&[
        "run",
        "rb.yaml",
        "--name",
        "plain",
        "--input",
        "token=tok-12345-abcde",
    ]);
    assert!(!r.stdout.contains("s3cr3t-k3y-value"), "{}", r.stdout);
}

#[test]
fn for_each_runs_a_step_once_per_item() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: each
title: Each
inputs:
  users: { default: "bob, carol" }
steps:
  - id: create
    title: Create each user
    for_each: "{{ inputs.users }}"
    skip_if: "false"
    run: |
      echo "user={{ item }}-made" >> "$STEPWISE_OUTPUT"
      echo "{{ item }}" >> made.txt
    outputs:
      user: {}
  - id: after
    title: Use them
    run: echo "{{ steps.create.user }}" > all.txt
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "e"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("made.txt"), "bob\ncarol\n");
    assert_eq!(sb.read("all.txt"), "bob-made, carol-made\n");
    assert!(
        r.stdout.contains("  - for bob:") && r.stdout.contains("  - for carol:"),
        "{}",
        r.stdout
    );
    let dry = sb.run(&["run", "rb.yaml", "--dry-run"]);
    assert!(
        dry.stdout
            .contains("    for bob:\n      echo \"user=bob-made\""),
        "{}",
        dry.stdout
    );
    // `item` outside a for_each step is an unknown variable.
    sb.write(
        "bad.yaml",
        "stepwise: 1\nid: b\ntitle: B\nsteps:\n  - id: x\n    title: X\n    run: echo {{ item }}\n",
    );
    let bad = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown variable `item`"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_mistyped_command_is_said_and_nothing_opens() {
    let sb = Sandbox::new();
    let r = sb.run(&["stauts"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        "error: unknown command 'stauts'\nhint: a similar command exists: 'status'; `stepwise --help` lists them\n"
    );
    assert_eq!(r.stdout, "");
    // A folder of that name is listed, as before.
    std::fs::create_dir(sb.path().join("stauts")).unwrap();
    let r = sb.run(&["stauts"]);
    assert!(!r.stderr.contains("unknown command"), "{r:?}");
}

#[test]
fn the_answer_placeholder_of_the_hint_is_refused() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: ask\ntitle: Ask\nsteps:\n  - id: review\n    title: Review\n    manual: Look.\n    prompts:\n      reviewer: { prompt: Who }\n",
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "a"]);
    assert!(
        r.stdout
            .contains("--done review --output review.reviewer=<answer>"),
        "{}",
        r.stdout
    );
    let r = sb.run(&[
        "resume",
        "a",
        "--done",
        "review",
        "--output",
        "review.reviewer=<answer>",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains(
            "answer to `reviewer`: `<answer>` stands for your answer; give the answer itself"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(sb.status_of("a", "review"), "waiting");
    let r = sb.run(&[
        "resume",
        "a",
        "--done",
        "review",
        "--output",
        "review.reviewer=ana",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn an_interrupted_step_shows_the_output_of_its_last_attempt_only() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: again\ntitle: Again\nsteps:\n  - id: flaky\n    title: Flaky\n    run: |\n      if [ -e tried ]; then echo second-try; touch started; sleep 30; fi\n      touch tried\n      echo first-try\n      exit 1\n",
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "f"]);
    assert_eq!(r.code, 1, "{r:?}");
    let child = sb
        .cmd(&["resume", "f", "--plain"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the second attempt to start", || {
        sb.path().join("started").exists()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(130));
    let r = sb.run(&["resume", "f"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("second-try"), "{}", r.stdout);
    assert!(!r.stdout.contains("first-try"), "{}", r.stdout);
    // The log keeps both.
    let log = std::fs::read_to_string(sb.run_dir("f").join("logs/flaky.log")).unwrap();
    assert!(
        log.contains("first-try") && log.contains("second-try"),
        "{log}"
    );
}

#[test]
fn a_finished_run_with_a_changed_step_is_not_called_completed() {
    let sb = Sandbox::new();
    let rb = "stepwise: 1\nid: c\ntitle: C\nsteps:\n  - id: a\n    title: A\n    run: echo one\n";
    sb.write("rb.yaml", rb);
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "c"]).code, 0);
    assert!(
        sb.run(&["status", "c"])
            .stdout
            .contains("1/1 done, completed")
    );
    sb.write("rb.yaml", &rb.replace("echo one", "echo two"));
    let r = sb.run(&["status", "c"]);
    assert!(!r.stdout.contains("completed"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("1/1 done, 1 step changed since it ran: `stepwise resume c` reviews it"),
        "{}",
        r.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&sb.run(&["status", "c", "--json"]).stdout).unwrap();
    assert_eq!(json["status"], "changed");
}
