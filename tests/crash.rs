//! Crashes, signals and floods of output, through the real binary: a step never runs twice, a
//! signal always ends stepwise promptly, and memory stays flat whatever a step prints.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/tui.rs"]
mod tui;

use std::process::Stdio;
use std::time::{Duration, Instant};

use cli::Sandbox;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use procs::{Reaper, alive as process_alive};

/// A step that records each start and each end, with a sleep in between.
const ORPHAN: &str = r#"
stepwise: 1
id: orphan
title: Orphan
steps:
  - id: first
    title: First
    run: echo first >> marks
  - id: long
    title: Long
    run: |
      echo "long step is running"
      echo started >> marks
      sleep {{ env.SLEEP_FOR }}
      echo ended >> marks
  - id: last
    title: Last
    run: echo last >> marks
"#;

/// Tests that time how fast stepwise ends, and those that flood it with output (which takes
/// both cores), do not run at the same time.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Starts a run of ORPHAN whose long step sleeps `sleep` seconds, waits until that step has
/// started, and kills stepwise with SIGKILL. Returns the step's process group id.
fn killed_mid_step(sb: &Sandbox, name: &str, sleep: &str, reaper: &mut Reaper) -> i32 {
    sb.write("rb.yaml", ORPHAN);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", name])
        .env("SLEEP_FOR", sleep)
        .stdout(Stdio::null())
        .spawn()
        .expect("stepwise starts");
    reaper.pid(child.id() as i32);
    wait_for("the long step to start", Duration::from_secs(20), || {
        sb.read("marks").contains("started")
    });
    // Durable before the script passed its gate.
    let pgid = sb.state(name)["steps"]["long"]["pgid"]
        .as_i64()
        .expect("the running step's process group is recorded") as i32;
    reaper.group(pgid);
    assert!(sb.state(name)["steps"]["long"]["pgid_started"].is_u64());
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    pgid
}

#[test]
fn after_kill_9_the_step_left_running_is_never_started_beside_itself() {
    let sb = Sandbox::new();
    let mut reaper = Reaper::default();
    let pgid = killed_mid_step(&sb, "k", "60", &mut reaper);
    assert!(process_alive(pgid), "the step's bash died with stepwise");

    // Status and runs say nothing drives the run, and that the step's processes still run.
    let status = sb.run(&["status", "k", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let status = json(&status.stdout);
    assert_eq!(status["driven"], false, "{status:#}");
    assert_eq!(status["driver"], serde_json::Value::Null);
    assert_eq!(status["status"], "interrupted");
    let long = &status["steps"][1];
    assert_eq!(long["key"], "long");
    assert_eq!(long["status"], "running");
    assert_eq!(long["pgid"], pgid);
    assert_eq!(long["group_alive"], true, "{long:#}");
    let runs = json(&sb.run(&["runs", "--json"]).stdout);
    assert_eq!(runs[0]["driven"], false);
    assert_eq!(runs[0]["group_alive"], true);
    let text = sb.run(&["status", "k"]).stdout;
    assert!(
        text.contains(&format!(
            "[no stepwise drives it; its processes (process group {pgid}) still run]"
        )),
        "{text}"
    );

    // Re-running it is refused while it runs, and so is marking it done.
    let r = sb
        .cmd(&["resume", "k", "--rerun", "long"])
        .env("SLEEP_FOR", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: step `long` is still running: the stepwise process driving it stopped, but its processes (process group {pgid}) go on"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("`--wait-orphan`"), "{stderr}");
    let r = sb.run(&["resume", "k", "--done", "long"]);
    assert_eq!(r.code, 4, "{r:?}");
    // Without a decision, resume says what it waits for.
    let r = sb.run(&["resume", "k"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("? still running"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("to continue: stepwise resume k --wait-orphan"),
        "{}",
        r.stdout
    );
    assert_eq!(sb.read("marks"), "first\nstarted\n", "the step ran again");
    assert!(process_alive(pgid));

    // The person chooses to stop it and re-run it: it runs once more, and the run completes.
    let r = sb
        .cmd(&["resume", "k", "--stop-orphan", "--rerun", "long"])
        .env("SLEEP_FOR", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{stdout}");
    assert!(
        !process_alive(pgid),
        "the group left running was not stopped"
    );
    assert_eq!(sb.read("marks"), "first\nstarted\nstarted\nended\nlast\n");
    let journal = std::fs::read_to_string(sb.run_dir("k").join("journal.jsonl")).unwrap();
    let whats: Vec<String> = journal
        .lines()
        .map(|l| json(l)["what"].as_str().unwrap_or_default().to_string())
        .collect();
    let at = |what: &str| whats.iter().position(|w| w == what);
    assert!(
        at("step.orphan_stop") < at("step.orphan_ended")
            && at("step.orphan_ended") < at("step.rerun")
            && at("step.orphan_stop").is_some(),
        "{whats:?}"
    );
    assert_eq!(sb.state("k")["steps"]["long"].get("pgid"), None);
}

#[test]
fn waiting_for_the_step_left_running_lets_it_end_before_it_runs_again() {
    let sb = Sandbox::new();
    let mut reaper = Reaper::default();
    let pgid = killed_mid_step(&sb, "w", "3", &mut reaper);
    let r = sb
        .cmd(&["resume", "w", "--wait-orphan", "--rerun", "long"])
        .env("SLEEP_FOR", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "waiting for its processes left running (process group {pgid}) to end"
        )),
        "{stdout}"
    );
    // The first run's end comes before the second run's start.
    assert_eq!(
        sb.read("marks"),
        "first\nstarted\nended\nstarted\nended\nlast\n"
    );
    let journal = std::fs::read_to_string(sb.run_dir("w").join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("a person chose to wait for its processes left running"),
        "{journal}"
    );
}

#[test]
fn a_deleted_lock_file_does_not_let_a_second_process_drive_the_run() {
    let sb = Sandbox::new();
    let mut reaper = Reaper::default();
    sb.write("rb.yaml", ORPHAN);
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "l"])
        .env("SLEEP_FOR", "60")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    reaper.pid(child.id() as i32);
    wait_for("the long step to start", Duration::from_secs(20), || {
        sb.read("marks").contains("started")
    });
    if let Some(pgid) = sb.state("l")["steps"]["long"]["pgid"].as_i64() {
        reaper.group(pgid as i32);
    }
    std::fs::remove_file(sb.run_dir("l").join("lock")).unwrap();
    let r = sb
        .cmd(&["resume", "l", "--rerun", "long"])
        .env("SLEEP_FOR", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.starts_with("error: run `l` is being driven by another stepwise process"),
        "{stderr}"
    );
    assert_eq!(sb.read("marks"), "first\nstarted\n", "the step ran twice");
    let status = json(&sb.run(&["status", "l", "--json"]).stdout);
    assert_eq!(status["driven"], true, "{status:#}");
    assert_eq!(status["status"], "running");
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
}

#[test]
fn a_signal_ends_stepwise_promptly_though_a_setsid_grandchild_holds_its_output() {
    let _timed = timed();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let sb = Sandbox::new();
        let mut reaper = Reaper::default();
        sb.write(
            "rb.yaml",
            r#"
stepwise: 1
id: detached
title: Detached
steps:
  - id: hold
    title: Hold
    run: |
      (setsid sleep 25 & echo $! > grandchild.pid)
      echo started > started
      sleep 60
"#,
        );
        let child = sb
            .cmd(&["run", "rb.yaml", "--name", "t"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        reaper.pid(child.id() as i32);
        wait_for("the step to start", Duration::from_secs(20), || {
            sb.path().join("started").exists() && !sb.read("grandchild.pid").is_empty()
        });
        let grandchild: i32 = sb.read("grandchild.pid").trim().parse().unwrap();
        // Until `setsid` has made its own session, it is still in the step's group.
        wait_for(
            "the grandchild to leave the group",
            Duration::from_secs(20),
            || {
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|stat| {
                    stat.rsplit_once(") ")
                        .and_then(|(_, rest)| rest.split(' ').nth(3).map(str::to_string))
                        == Some(grandchild.to_string())
                })
            },
        );
        reaper.pid(grandchild);
        let sent = Instant::now();
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(5), "{signal}: took {took:?}");
        assert_eq!(out.status.code(), Some(130), "{signal}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("run t interrupted at hold"), "{stdout}");
        assert_eq!(sb.status_of("t", "hold"), "interrupted", "{signal}");
        assert!(
            process_alive(grandchild),
            "the grandchild {grandchild} is gone: {:?}",
            std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
        );
        let log = std::fs::read_to_string(sb.run_dir("t").join("logs/hold.log")).unwrap();
        assert!(log.contains("still holds its output open"), "{log}");
    }
}

#[test]
fn a_signal_ends_stepwise_promptly_though_nobody_reads_its_stdout() {
    let _timed = timed();
    let sb = Sandbox::new();
    let mut reaper = Reaper::default();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: flood\ntitle: Flood\nsteps:\n  - id: flood\n    title: Flood\n    run: |\n      touch started\n      yes 'a line of output nobody reads'\n",
    );
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "p"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    reaper.pid(child.id() as i32);
    // Held, never read: the pipe fills and stepwise's writes block, as under a paused pager.
    let _stdout = child.stdout.take();
    wait_for("the step to start", Duration::from_secs(20), || {
        sb.path().join("started").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(sb.status_of("p", "flood"), "interrupted");
}

#[test]
fn a_step_is_over_when_its_script_is_though_a_background_child_holds_its_output() {
    let _timed = timed();
    let sb = Sandbox::new();
    let mut reaper = Reaper::default();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: bg\ntitle: Background\nsteps:\n  - id: bg\n    title: Background\n    run: |\n      sleep 30 &\n      echo $! > bg.pid\n      echo launched\n",
    );
    let started = Instant::now();
    let r = sb.run(&["run", "rb.yaml", "--name", "bg"]);
    let took = started.elapsed();
    if let Ok(pid) = sb.read("bg.pid").trim().parse::<i32>() {
        reaper.pid(pid);
    }
    assert_eq!(r.code, 0, "{r:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(sb.status_of("bg", "bg"), "succeeded");
    let log = std::fs::read_to_string(sb.run_dir("bg").join("logs/bg.log")).unwrap();
    assert!(log.starts_with("launched\n"), "{log}");
    assert!(
        log.contains("stepwise: a process the step started in the background still holds its output open; stepwise stopped reading it and did not stop that process"),
        "{log}"
    );
}

/// The peak resident memory of a process, from `/proc/PID/status`, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn output_without_newlines_keeps_memory_flat() {
    let _timed = timed();
    const SIZE: u64 = 200_000_000;
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        &format!(
            "stepwise: 1\nid: flood\ntitle: Flood\nsteps:\n  - id: flood\n    title: Flood\n    run: head -c {SIZE} /dev/zero | tr '\\0' x\n"
        ),
    );
    let mut child = sb
        .cmd(&["run", "rb.yaml", "--name", "f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    // The peak as the process itself counts it (VmHWM only grows), read until it has gone.
    // (The kernel's ru_maxrss of a child would also count the test binary it was forked from.)
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let printed = reader.join().unwrap().unwrap();
    eprintln!("peak VmHWM seen {peak} KiB");
    assert_eq!(status.code(), Some(0));
    assert!(printed > SIZE, "printed {printed} bytes");
    let log = std::fs::metadata(sb.run_dir("f").join("logs/flood.log")).unwrap();
    assert!(log.len() > SIZE, "logged {} bytes", log.len());
    assert!(peak > 0);
    assert!(peak < 100 * 1024, "peak VmHWM {peak} KiB");
}

#[test]
fn the_tui_offers_no_rerun_done_or_skip_while_the_steps_processes_still_run() {
    use stepwise::engine::{Command, Event, Need};
    use stepwise::tui::run_view::Modal;
    use stepwise::tui::{Effect, Msg};
    let mut app = tui::run_app(false);
    app.update(Msg::Engine(Event::Waiting {
        index: 3,
        need: Need::StillRunning {
            pgid: 4242,
            last_output: vec!["pulling image 3/7".into()],
        },
    }));
    assert!(matches!(
        tui::view(&mut app).modal,
        Some(Modal::Decide { index: 3, .. })
    ));
    let screen = tui::screen(&app, 100, 30);
    assert!(screen.contains("process group 4242"), "{screen}");
    assert!(!screen.contains("re-run"), "{screen}");
    for c in ['r', 'm', 's'] {
        let fx = app.update(tui::ch(c));
        let decided = fx.iter().any(|e| {
            matches!(
                e,
                Effect::Engine(Command::Next(_) | Command::Continue(_) | Command::Decide(_))
            )
        });
        assert!(!decided, "`{c}` decided: {fx:?}");
        let v = tui::view(&mut app);
        let error = v.error.clone().unwrap_or_default();
        assert!(error.contains("--wait-orphan"), "`{c}`: {error}");
        assert!(!matches!(v.modal, Some(Modal::Skip { .. })), "`{c}`");
        // The dialog comes back on Enter, as for any step waiting.
        v.modal = None;
        app.update(tui::key(crossterm::event::KeyCode::Enter));
    }
}

#[test]
fn a_step_with_secret_outputs_keeps_a_bounded_part_of_its_output() {
    let _timed = timed();
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: held
title: Held
steps:
  - id: make
    title: Make
    run: |
      echo "token=s3cr3t-t0ken" >> "$STEPWISE_OUTPUT"
      echo "the token is s3cr3t-t0ken"
      head -c 40000000 /dev/zero | tr '\0' x
    outputs:
      token: { secret: true }
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "h"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = std::fs::read_to_string(sb.run_dir("h").join("logs/make.log")).unwrap();
    assert!(log.starts_with("the token is ********\n"), "{}", &log[..80]);
    assert!(!log.contains("s3cr3t"));
    assert!(log.len() < 17 * 1024 * 1024, "{} bytes logged", log.len());
    assert!(
        log.contains("more lines were not kept: a step with secret outputs keeps its output until the secrets are known, at most 16 MiB of it"),
        "the note is missing"
    );
}
