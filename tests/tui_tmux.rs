//! The real binary in a real terminal (tmux): start a run of the example, run steps with keys,
//! quit in the middle, resume it, answer the manual step and the danger step, finish, read the
//! run's journal, and delete the run from the home screen. tmux must be there: without it the
//! test fails (it is on every machine of this project's kind).

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is needed for the terminal test (apt-get install tmux)"
        );
        Tmux {
            socket: format!("stepwise-test-{}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `command` in a new 120x40 session.
    fn start(&self, name: &str, command: &str) {
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            command,
        ]);
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.tmux(&args);
        // Give the UI a moment, as a person would.
        std::thread::sleep(Duration::from_millis(150));
    }

    fn screen(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", name])
    }

    /// Waits until the screen shows `text`; returns the screen.
    fn wait_for(&self, name: &str, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(name);
            if screen.contains(text) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("the screen never showed {text:?}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn run_quit_resume_and_finish_the_example_with_keys() {
    let t = Tmux::new();
    let sb = cli::Sandbox::new();
    let root = env!("CARGO_MANIFEST_DIR");
    for f in ["example.yaml", "example-greeting.yaml"] {
        let text = std::fs::read_to_string(format!("{root}/runbooks/{f}")).unwrap();
        sb.write(&format!("runbooks/{f}"), &text);
    }
    let shell = |args: &str| {
        format!(
            "cd '{}' && env STEPWISE_HOME='{}' TERM=xterm-256color '{}' {args}; echo EXIT=$?; sleep 60",
            sb.path().display(),
            sb.home().display(),
            cli::bin()
        )
    };

    // Start: the inputs form, then the run view.
    t.start("first", &shell("run runbooks/example.yaml"));
    let s = t.wait_for("first", "Start: Example deployment folder");
    assert!(
        s.contains("deployment") && s.contains("demo (default)"),
        "{s}"
    );
    // The run's name follows the inputs (the runbook's `run_name`).
    assert!(s.contains("run name") && s.contains("example-demo"), "{s}");
    t.keys("first", &["Enter", "Enter", "Enter", "Enter"]);
    let s = t.wait_for("first", "ready: next is prepare");
    assert!(s.contains("run example-demo"), "{s}");
    assert!(
        s.contains("Will run:") && s.contains("mkdir -p \"work/demo\""),
        "{s}"
    );

    // Two steps, one Enter each.
    t.keys("first", &["Enter"]);
    t.wait_for("first", "ready: next is config");
    t.keys("first", &["Enter"]);
    let s = t.wait_for("first", "ready: next is scale");
    assert!(s.contains("Steps 2/10"), "{s}");
    assert!(
        s.contains("+deployment: demo") || s.contains("settings.yaml"),
        "{s}"
    );

    // Quit in the middle: state is saved, the exit status says the run is not finished.
    t.keys("first", &["q"]);
    let s = t.wait_for("first", "EXIT=");
    assert!(s.contains("run example-demo stopped (2/10 done"), "{s}");
    assert!(s.contains("EXIT=3"), "{s}");
    let st = sb.state("example-demo");
    assert_eq!(st["steps"]["prepare"]["status"], "succeeded");
    assert_eq!(st["steps"]["config"]["status"], "succeeded");
    assert_eq!(st["steps"]["scale"]["status"], "pending");

    // Resume: run on until the manual step.
    t.start("second", &shell("resume example-demo"));
    let s = t.wait_for("second", "ready: next is scale");
    assert!(s.contains("Steps 2/10"), "{s}");
    t.keys("second", &["a"]);
    let s = t.wait_for("second", "Manual step: review");
    assert!(s.contains("[ ] owner is right"), "{s}");
    // A wrong answer shows an error as it is typed.
    t.keys("second", &["Space", "Down", "Space", "Down", "4"]);
    t.wait_for("second", "does not match the pattern");
    t.keys("second", &["BSpace", "A", "d", "a", "Tab", "Enter"]);

    // The run goes on to the danger step; a wrong text cancels, the right one runs it.
    let s = t.wait_for("second", "DANGER: publish");
    assert!(s.contains("cp \"work/demo/settings.yaml\""), "{s}");
    t.keys("second", &["n", "o", "Enter"]);
    t.wait_for("second", "nothing was changed");
    assert_eq!(sb.status_of("example-demo", "publish"), "waiting");
    t.keys("second", &["Enter"]);
    t.wait_for("second", "DANGER: publish");
    t.keys("second", &["d", "e", "m", "o", "Enter"]);
    let s = t.wait_for("second", "completed");
    assert!(s.contains("Steps 10/10"), "{s}");
    assert!(s.contains("Hello, Ada!"), "{s}");

    // Search the output of the last step.
    t.keys("second", &["/", "A", "d", "a", "Enter"]);
    t.wait_for("second", "/Ada 1/1");

    // The run's journal, over the run view.
    t.keys("second", &["Escape", "L"]);
    let s = t.wait_for("second", "Journal of example-demo");
    assert!(
        s.contains("run.completed") && s.contains("step.started"),
        "{s}"
    );
    t.keys("second", &["Escape"]);

    t.keys("second", &["q"]);
    let s = t.wait_for("second", "EXIT=");
    assert!(s.contains("run example-demo completed (10/10 done)"), "{s}");
    assert!(s.contains("EXIT=0"), "{s}");

    let st = sb.state("example-demo");
    for (key, step) in st["steps"].as_object().unwrap() {
        assert_eq!(step["status"], "succeeded", "{key}: {step}");
    }
    assert_eq!(st["steps"]["review"]["outputs"]["reviewer"], "Ada");
    assert_eq!(
        sb.read("work/published/demo.yaml"),
        sb.read("work/demo/settings.yaml")
    );

    // A hand edit afterwards: `stepwise check` finds the drift, the run view re-checks one
    // step with `C` (a journal entry), and the home screen shows the last check.
    let settings = sb
        .read("work/demo/settings.yaml")
        .replace("replicas: 2", "replicas: 7");
    sb.write("work/demo/settings.yaml", &settings);
    let ran = sb.run(&["check", "example-demo"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("drifted    scale"), "{}", ran.stdout);
    t.start("third", &shell("resume example-demo"));
    t.wait_for("third", "Steps 10/10");
    t.keys("third", &["g", "j", "j", "C"]);
    let s = t.wait_for("third", "Re-checked: drifted");
    assert!(
        s.contains("-replicas: 7") && s.contains("+replicas: 2"),
        "{s}"
    );
    t.keys("third", &["q"]);
    t.wait_for("third", "EXIT=");
    let journal = sb.run(&["log", "example-demo", "--json"]).stdout;
    assert!(journal.contains("\"step.checked\""), "{journal}");

    // Home: delete the finished run, saying yes when asked.
    t.start("home", &shell(""));
    let s = t.wait_for("home", "example-demo");
    assert!(s.contains("x delete"), "{s}");
    assert!(s.contains("check drifted"), "{s}");
    t.keys("home", &["x"]);
    let s = t.wait_for("home", "Delete run example-demo (completed, 10/10 done)?");
    assert!(s.contains("y delete it"), "{s}");
    t.keys("home", &["y"]);
    t.wait_for("home", "removed example-demo");
    assert!(!sb.run_dir("example-demo").exists());
    t.keys("home", &["q"]);
    let s = t.wait_for("home", "EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
}

#[test]
fn without_a_terminal_there_is_no_ui() {
    let sb = cli::Sandbox::new();
    // A bare `stepwise` has nothing to show without a terminal: the help, and status 2.
    let r = sb.run(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("Usage: stepwise"), "{r:?}");
    // `run` falls back to plain output.
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: t\ntitle: T\nsteps:\n  - id: a\n    title: A\n    run: echo hi\n",
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "p"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("  | hi"), "{r:?}");
}
