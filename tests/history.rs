//! A run's history and housekeeping: `log` (text, JSON, one step's output, `--follow`),
//! `status` with each step's details, `rm` and `prune` (a run a process drives is refused),
//! shell completions and the man page.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::time::{Duration, Instant};

use cli::Sandbox;

const TWO: &str = r#"
stepwise: 1
id: two
title: Two
steps:
  - id: make
    title: Make
    run: |
      echo "making it"
      echo "id=i-123" >> "$STEPWISE_OUTPUT"
    outputs:
      id: {}
  - id: review
    title: Review
    manual: Look at it.
    prompts:
      reviewer:
        prompt: Who looked
"#;

/// A run of TWO, finished: `make` ran, `review` was confirmed by a person.
fn finished(sb: &Sandbox, name: &str) {
    sb.write("two.yaml", TWO);
    assert_eq!(sb.run(&["run", "two.yaml", "--name", name]).code, 3);
    let r = sb.run(&[
        "resume",
        name,
        "--done",
        "review",
        "--output",
        "review.reviewer=ana",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn log_shows_the_journal_as_a_timeline_and_as_json() {
    let sb = Sandbox::new();
    finished(&sb, "t");
    let r = sb.run(&["log", "t"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains("run.created"), "{}", r.stdout);
    let user = std::env::var("USER").unwrap_or_default();
    let started = lines
        .iter()
        .find(|l| l.contains("step.started") && l.ends_with(" make"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    // When (local time, to the second), who and where, what, the step.
    assert!(
        started
            .chars()
            .take(19)
            .all(|c| c.is_ascii_digit() || " -:".contains(c)),
        "{started}"
    );
    assert!(started.contains("(pid "), "{started}");
    if !user.is_empty() {
        assert!(started.contains(&format!("{user}@")), "{started}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("review") && l.contains("confirmed done by a person")),
        "{}",
        r.stdout
    );
    assert!(
        lines.last().unwrap().contains("run.completed"),
        "{}",
        r.stdout
    );
    // JSON: one object per entry, in order, each with the same fields.
    let r = sb.run(&["log", "t", "--json"]);
    assert_eq!(r.code, 0);
    let entries: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), lines.len());
    for e in &entries {
        for field in ["at", "user", "host", "pid", "what"] {
            assert!(e.get(field).is_some(), "{field} in {e}");
        }
    }
    assert_eq!(entries[0]["what"], "run.created");
    assert_eq!(entries.last().unwrap()["what"], "run.completed");
    assert!(
        entries
            .iter()
            .any(|e| e["what"] == "step.started" && e["step"] == "make")
    );
}

#[test]
fn log_of_a_step_prints_its_output_and_an_unknown_step_is_said() {
    let sb = Sandbox::new();
    finished(&sb, "s");
    let r = sb.run(&["log", "s", "make"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "making it\n");
    let r = sb.run(&["log", "s", "mkae"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: unknown step `mkae`\nhint: did you mean `make`?"),
        "{}",
        r.stderr
    );
    let r = sb.run(&["log", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with("error: run `nope` not found\nhint: "),
        "{}",
        r.stderr
    );
}

#[test]
fn log_follow_prints_what_a_run_driven_elsewhere_adds_until_it_ends() {
    let sb = Sandbox::new();
    sb.write(
        "slow.yaml",
        "stepwise: 1\nid: slow\ntitle: Slow\nsteps:\n  - id: one\n    title: One\n    run: |\n      echo first\n      sleep 1.5\n      echo second\n",
    );
    let mut driver = sb
        .cmd(&["run", "slow.yaml", "--name", "f"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !sb.run_dir("f").join("state.json").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let piped = |args: &[&str]| {
        sb.cmd(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let follower = piped(&["log", "f", "one", "--follow"]);
    let journal = piped(&["log", "f", "--follow"]);
    let out = follower.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let journal = journal.wait_with_output().unwrap();
    let journal = String::from_utf8_lossy(&journal.stdout).into_owned();
    assert!(driver.wait().unwrap().success());
    // Both stayed until the run ended, and printed what came after they started.
    assert_eq!(log, "first\nsecond\n");
    assert!(
        journal
            .lines()
            .last()
            .unwrap_or_default()
            .contains("run.completed"),
        "{journal}"
    );
}

#[test]
fn status_shows_each_steps_details_and_who_confirmed() {
    let sb = Sandbox::new();
    finished(&sb, "d");
    let r = sb.run(&["status", "d"]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = r.stdout;
    let make = text.find("succeeded   make").unwrap();
    let review = text.find("succeeded   review").unwrap();
    let make_part = &text[make..review];
    assert!(make_part.contains("took "), "{make_part}");
    assert!(make_part.contains("exit 0"), "{make_part}");
    assert!(make_part.contains("id = i-123"), "{make_part}");
    let review_part = &text[review..];
    assert!(review_part.contains("reviewer = ana"), "{review_part}");
    assert!(review_part.contains("confirmed by "), "{review_part}");
}

#[test]
fn rm_removes_finished_runs_and_refuses_unfinished_and_driven_ones() {
    let sb = Sandbox::new();
    finished(&sb, "done");
    let r = sb.run(&["rm", "done"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "removed done\n"), "{r:?}");
    assert!(!sb.run_dir("done").exists());
    assert_eq!(sb.run(&["status", "done"]).code, 2);
    // Unfinished: refused without a person to ask, removed with --force.
    assert_eq!(sb.run(&["run", "two.yaml", "--name", "half"]).code, 3);
    let r = sb.run(&["rm", "half"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        "error: run `half` is not finished (1/2 done, waiting); it was not removed\nhint: `--force` removes it without asking\n"
    );
    assert!(sb.run_dir("half").exists());
    assert_eq!(sb.run(&["rm", "half", "--force"]).code, 0);
    assert!(!sb.run_dir("half").exists());
    // Driven by a process: refused, whatever is said, and left whole.
    sb.write(
        "slow.yaml",
        "stepwise: 1\nid: slow\ntitle: Slow\nsteps:\n  - id: one\n    title: One\n    run: sleep 30\n",
    );
    let mut driver = sb
        .cmd(&["run", "slow.yaml", "--name", "busy"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !sb.run_dir("busy").join("state.json").exists()
        || sb.status_of("busy", "one") != "running"
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = sb.run(&["rm", "busy", "--force"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(driver.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    driver.wait().unwrap();
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: run `busy` is being driven by another stepwise process (pid "),
        "{}",
        r.stderr
    );
    assert!(sb.run_dir("busy").join("state.json").exists());
    // Several at once: each is said; the worst status is the command's.
    let r = sb.run(&["rm", "busy", "ghost", "--force"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("removed busy"), "{r:?}");
    assert!(r.stderr.contains("error: run `ghost` not found"), "{r:?}");
}

#[test]
fn prune_removes_runs_left_alone_for_long() {
    let sb = Sandbox::new();
    finished(&sb, "old-done");
    finished(&sb, "new-done");
    assert_eq!(sb.run(&["run", "two.yaml", "--name", "old-half"]).code, 3);
    // Make two of them 40 days old.
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 40)).to_string();
    for name in ["old-done", "old-half"] {
        let path = sb.run_dir(name).join("state.json");
        let mut st = sb.state(name);
        st["updated_at"] = long_ago.clone().into();
        std::fs::write(&path, serde_json::to_vec(&st).unwrap()).unwrap();
    }
    // Completed ones only: the unfinished old run stays.
    let r = sb.run(&["prune", "--older-than", "30d", "--completed"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "removed old-done\n"),
        "{r:?}"
    );
    assert!(sb.run_dir("old-half").exists() && sb.run_dir("new-done").exists());
    // All old ones: an unfinished one needs --force.
    let r = sb.run(&["prune", "--older-than", "30d"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(sb.run_dir("old-half").exists());
    let r = sb.run(&["prune", "--older-than", "30d", "--force"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "removed old-half\n"),
        "{r:?}"
    );
    assert!(sb.run_dir("new-done").exists());
    let r = sb.run(&["prune", "--older-than", "30d"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no run to remove\n"),
        "{r:?}"
    );
}

#[test]
fn completions_for_bash_zsh_and_fish_and_a_man_page() {
    let sb = Sandbox::new();
    finished(&sb, "c1");
    let r = sb.run(&["runs", "--names"]);
    assert_eq!(r.stdout, "c1\n");
    for shell in ["bash", "zsh", "fish"] {
        let r = sb.run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {r:?}");
        for sub in ["resume", "status", "log", "prune", "completions"] {
            assert!(r.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
    // The bash script is valid bash, and completes run names after `resume`.
    let script = sb.run(&["completions", "bash"]).stdout;
    sb.write("complete.bash", &script);
    let bin_dir = std::path::Path::new(cli::bin()).parent().unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            "source complete.bash && COMP_WORDS=(stepwise resume '') COMP_CWORD=2 && _stepwise_runs stepwise '' resume && echo \"${COMPREPLY[*]}\"",
        )
        .current_dir(sb.path())
        .env("STEPWISE_HOME", sb.home())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "c1\n");
    assert!(
        sb.run(&["completions", "zsh"])
            .stdout
            .starts_with("#compdef stepwise")
    );
    assert!(
        sb.run(&["completions", "fish"])
            .stdout
            .contains("-a \"(stepwise runs --names 2>/dev/null)\"")
    );
    let man = sb.run(&["man"]);
    assert_eq!(man.code, 0);
    assert!(
        man.stdout.contains(".TH stepwise 1"),
        "{}",
        &man.stdout[..200]
    );
    assert!(man.stdout.contains("prune"));
}
