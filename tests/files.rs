//! Files stepwise makes and replaces, through the real binary: the private output file, `file`
//! steps through symbolic links and their modes, a full disk while a run is created or a step
//! logs, unreadable runs, and a stdout closed by its reader.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cli::{Sandbox, bin};

/// Where stepwise puts output files: in memory when the machine has `/dev/shm`.
fn output_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs a shell script with the binary as `$0` and the sandbox as the working directory; the
/// script ends with `exec "$0" ARGS`, so that it knows the pid stepwise will have (`$$`).
fn via_sh(sb: &Sandbox, script: &str, args: &[&str]) -> cli::Ran {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .args(args)
        .current_dir(sb.path())
        .env("STEPWISE_HOME", sb.home())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    cli::Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const OUTPUTS: &str = r#"
stepwise: 1
id: outputs
title: Outputs
steps:
  - id: make-key
    title: Make a key
    run: |
      echo "dir $(stat -c %a "$(dirname "$STEPWISE_OUTPUT")") file $(stat -c %a "$STEPWISE_OUTPUT")"
      [ -L "$STEPWISE_OUTPUT" ] && echo "the output file is a link"
      dirname "$STEPWISE_OUTPUT" > where-1.txt
      echo "key=s3cr3t-k3y-value" >> "$STEPWISE_OUTPUT"
    outputs:
      key: { secret: true }
  - id: name
    title: Name it
    run: |
      dirname "$STEPWISE_OUTPUT" > where-2.txt
      echo "name=plain-name" >> "$STEPWISE_OUTPUT"
    outputs:
      name: {}
  - id: use
    title: Use them
    run: echo "{{ steps.make-key.key }} {{ steps.name.name }}" > used.txt
"#;

#[test]
fn an_output_file_planted_by_another_process_is_not_followed_nor_used() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", OUTPUTS);
    let victim = sb.write("victim.txt", "untouched\n");
    let base = output_base();
    // The names stepwise used to take, predictable from its pid: a link to another file, and
    // a file anyone can read, of another user when the test may make one.
    let script = r#"
        ln -s "$VICTIM" "$BASE/stepwise-$$-0.out"
        ( umask 0; : > "$BASE/stepwise-$$-1.out" )
        chown nobody "$BASE/stepwise-$$-1.out" 2>/dev/null || true
        echo $$ > pid.txt
        exec "$0" "$@"
    "#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(bin())
        .args(["run", "rb.yaml", "--name", "o"])
        .current_dir(sb.path())
        .env("STEPWISE_HOME", sb.home())
        .env("VICTIM", &victim)
        .env("BASE", &base)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid = sb.read("pid.txt").trim().to_string();
    let link = base.join(format!("stepwise-{pid}-0.out"));
    let planted = base.join(format!("stepwise-{pid}-1.out"));
    let victim_after = std::fs::read_to_string(&victim).unwrap();
    let link_target = std::fs::read_link(&link).ok();
    let planted_after = std::fs::read_to_string(&planted).ok();
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&planted);

    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(victim_after, "untouched\n", "the planted link was followed");
    assert_eq!(link_target.as_deref(), Some(victim.as_path()));
    assert_eq!(
        planted_after.as_deref(),
        Some(""),
        "the planted file was used"
    );
    // Each step had a folder of its own, private, and a private file in it, not a link.
    assert!(stdout.contains("| dir 700 file 600"), "{stdout}");
    assert!(!stdout.contains("is a link"), "{stdout}");
    let first = PathBuf::from(sb.read("where-1.txt").trim());
    let second = PathBuf::from(sb.read("where-2.txt").trim());
    assert_ne!(first, second);
    for dir in [&first, &second] {
        assert_eq!(dir.parent(), Some(base.as_path()), "{}", dir.display());
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    assert_eq!(sb.read("used.txt"), "s3cr3t-k3y-value plain-name\n");
}

#[test]
fn the_output_folder_goes_when_the_step_is_killed_and_after_a_killed_stepwise() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: killed
title: Killed
steps:
  - id: dies
    title: Dies
    run: |
      dirname "$STEPWISE_OUTPUT" > where.txt
      echo "x=1" >> "$STEPWISE_OUTPUT"
      kill -KILL $$
    outputs:
      x: {}
"#,
    );
    // A folder left by a stepwise process that is gone, one of a process that runs (this
    // one), a link under the same kind of name, and a file stepwise would not make.
    let gone = {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    let base = output_base();
    let left = base.join(format!("stepwise-{gone}-aaaaaa"));
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("outputs"), "secret=left\n").unwrap();
    let alive = base.join(format!("stepwise-{}-bbbbbb", std::process::id()));
    std::fs::create_dir_all(&alive).unwrap();
    let link = base.join(format!("stepwise-{gone}-cccccc"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(sb.path(), &link).unwrap();
    let notes = base.join(format!("stepwise-{gone}-notes.txt"));
    std::fs::write(&notes, "mine\n").unwrap();

    let r = sb.run(&["run", "rb.yaml", "--name", "k"]);
    let left_stays = left.exists();
    let alive_stays = alive.exists();
    let link_stays = link.symlink_metadata().is_ok();
    let notes_stay = notes.exists();
    let _ = std::fs::remove_file(&notes);
    let _ = std::fs::remove_dir_all(&left);
    let _ = std::fs::remove_dir_all(&alive);
    let _ = std::fs::remove_file(&link);

    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("killed by signal"), "{}", r.stdout);
    let dir = PathBuf::from(sb.read("where.txt").trim());
    assert_eq!(dir.parent(), Some(base.as_path()));
    assert!(!dir.exists(), "{} was left behind", dir.display());
    assert!(!left_stays, "the folder of a gone process was left");
    assert!(alive_stays, "the folder of a running process was removed");
    assert!(link_stays, "a link was removed");
    assert!(notes_stay, "a file stepwise did not make was removed");
    assert!(sb.path().is_dir());
}

#[test]
fn a_file_step_writes_through_a_symlink_and_keeps_the_mode() {
    let sb = Sandbox::new();
    let target = sb.write("real/app.conf", "port: 80\nname: old\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real/app.conf", sb.path().join("app.conf")).unwrap();
    sb.write("real/settings.data", "{\"a\": 1}\n");
    std::os::unix::fs::symlink("real/settings.data", sb.path().join("settings.json")).unwrap();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: link
title: Link
steps:
  - id: set
    title: Set the name
    file:
      path: app.conf
      set:
        name: new
  - id: json
    title: JSON by the name the runbook gives
    file:
      path: settings.json
      set:
        a: 2
"#,
    );
    let dry = sb.run(&["run", "rb.yaml", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let r = sb.run(&["run", "rb.yaml", "--name", "l"]);
    assert_eq!(r.code, 0, "{r:?}");
    let through = format!(
        "app.conf is a symbolic link: writing through it to {}",
        target.canonicalize().unwrap().display()
    );
    for shown in [&dry.stdout, &r.stdout] {
        assert!(shown.contains(&through), "{shown}");
        assert!(shown.contains("-name: old"), "the diff: {shown}");
        assert!(shown.contains("+name: new"), "the diff: {shown}");
    }
    let link = sb.path().join("app.conf");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("real/app.conf")
    );
    assert_eq!(sb.read("real/app.conf"), "port: 80\nname: new\n");
    assert_eq!(mode_of(&target), 0o640);
    // No temporary file is left beside it.
    let mut names: Vec<_> = std::fs::read_dir(sb.path().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["app.conf", "settings.data"]);
    assert_eq!(sb.read("real/settings.data"), "{\n  \"a\": 2\n}\n");
}

#[test]
fn a_file_step_refuses_a_link_to_nothing_and_what_is_not_a_file() {
    let sb = Sandbox::new();
    std::os::unix::fs::symlink("missing/app.conf", sb.path().join("app.conf")).unwrap();
    std::fs::create_dir(sb.path().join("adir")).unwrap();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: dangling
title: Dangling
inputs:
  path: {}
steps:
  - id: write
    title: Write it
    file:
      path: "{{ inputs.path }}"
      content: "x\n"
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "d", "--input", "path=app.conf"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("app.conf is a symbolic link to missing/app.conf, which cannot be followed"),
        "{}",
        r.stdout
    );
    let link = sb.path().join("app.conf");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(!sb.path().join("missing").exists());
    let r = sb.run(&["run", "rb.yaml", "--name", "e", "--input", "path=adir"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("adir is a directory; a `file` step writes regular files only"),
        "{}",
        r.stdout
    );
}

#[test]
fn new_files_get_0644_less_the_umask_or_0600_with_a_secret_and_old_ones_keep_theirs() {
    let sb = Sandbox::new();
    let kept = sb.write("kept.txt", "old\n");
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wide = sb.write("wide.txt", "old\n");
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o664)).unwrap();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: modes
title: Modes
inputs:
  token: { secret: true }
steps:
  - id: plain
    title: A new plain file
    file: { path: plain.txt, content: "plain\n" }
  - id: secret
    title: A new file with a secret
    file: { path: secret.txt, content: "token {{ inputs.token }}\n" }
  - id: kept
    title: An existing private file
    file: { path: kept.txt, content: "new\n" }
  - id: wide
    title: An existing shared file
    file: { path: wide.txt, content: "new\n" }
"#,
    );
    let r = via_sh(
        &sb,
        r#"umask 027; exec "$0" "$@""#,
        &[
            "run",
            "rb.yaml",
            "--name",
            "m",
            "--input",
            "token=tok-12345-abcde",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("secret.txt"), "token tok-12345-abcde\n");
    assert_eq!(mode_of(&sb.path().join("plain.txt")), 0o640);
    assert_eq!(mode_of(&sb.path().join("secret.txt")), 0o600);
    assert_eq!(mode_of(&kept), 0o600);
    assert_eq!(mode_of(&wide), 0o664);
    assert!(!r.stdout.contains("tok-12345-abcde"), "{}", r.stdout);
}

/// A small tmpfs mounted at a folder, unmounted when dropped (also when a test fails).
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mounts `size` bytes at `at`. The tests run as root (as CI does); without root they
    /// fail rather than pass untested.
    fn mount(at: &Path, size: usize) -> Tmpfs {
        assert!(
            is_root(),
            "mounting a tmpfs needs root: run the tests as root, as CI does"
        );
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs at {}", at.display());
        Tmpfs {
            at: at.to_path_buf(),
        }
    }

    /// Fills it up, leaving `pages` pages of 4 KiB free.
    fn fill(&self, pages: usize) {
        let filler = self.at.join(".filler");
        std::fs::create_dir_all(&filler).unwrap();
        let page = vec![0u8; 4096];
        let mut n = 0;
        while std::fs::write(filler.join(n.to_string()), &page).is_ok() {
            n += 1;
        }
        // The write that failed, and as many pages as are wanted free.
        for i in n - pages..=n {
            std::fs::remove_file(filler.join(i.to_string())).unwrap();
        }
    }

    fn empty(&self) {
        std::fs::remove_dir_all(self.at.join(".filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

const TWO: &str = r#"
stepwise: 1
id: two
title: Two
steps:
  - id: one
    title: One
    run: echo one
  - id: two
    title: Two
    run: echo two
"#;

#[test]
fn creating_a_run_on_a_full_disk_leaves_nothing_and_the_name_stays_free() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", TWO);
    let disk = Tmpfs::mount(&sb.home(), 256 * 1024);
    // With no room at all the lock cannot be written; with one page, state.json cannot; with
    // two, the journal cannot.
    for pages in [0, 1, 2] {
        disk.fill(pages);
        let r = sb.run(&["run", "rb.yaml", "--name", "full"]);
        assert_eq!(r.code, 4, "{pages} pages free: {r:?}");
        assert!(
            r.stderr.contains("No space left on device"),
            "{pages} pages free: {}",
            r.stderr
        );
        let left: Vec<_> = std::fs::read_dir(sb.home().join("runs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{pages} pages free: left behind: {left:?}");
        let r = sb.run(&["resume", "full"]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains("run `full` not found"), "{}", r.stderr);
        let r = sb.run(&["runs"]);
        assert!(r.stdout.contains("no runs yet"), "{r:?}");
        disk.empty();
    }
    let r = sb.run(&["run", "rb.yaml", "--name", "full"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.status_of("full", "two"), "succeeded");
    drop(disk);
}

#[test]
fn a_log_cut_by_a_full_disk_is_reported_in_the_state_and_the_output() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"
stepwise: 1
id: loud
title: Loud
steps:
  - id: gate
    title: A person starts it
    manual: Go.
  - id: loud
    title: Prints a lot
    run: seq 1 30000
  - id: after
    title: After
    run: echo after > after.txt
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--name", "cut"]);
    assert_eq!(r.code, 3, "{r:?}");
    let logs = sb.run_dir("cut").join("logs");
    let disk = Tmpfs::mount(&logs, 16 * 1024);
    let r = sb.run(&["resume", "cut", "--done", "gate"]);
    let log_len = std::fs::metadata(logs.join("loud.log")).map(|m| m.len());
    drop(disk);
    let tail: Vec<&str> = r.stdout.lines().rev().take(8).collect();
    assert_eq!(r.code, 0, "{}{tail:?}", r.stderr);
    let cut = format!(
        "the log {} was cut (No space left on device",
        logs.join("loud.log").display()
    );
    assert!(r.stdout.contains(&format!("  - {cut}")), "{tail:?}");
    assert!(r.stdout.contains("  | 30000"), "the output is whole");
    let st = sb.state("cut");
    assert_eq!(st["steps"]["loud"]["status"], "succeeded");
    let message = st["steps"]["loud"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(&cut), "{message}");
    assert!(log_len.unwrap() <= 16 * 1024);
    assert_eq!(sb.read("after.txt"), "after\n");
    let status = sb.run(&["status", "cut"]);
    assert!(status.stdout.contains("was cut"), "{}", status.stdout);
}

#[test]
fn runs_lists_unreadable_runs_with_the_path_and_why() {
    let sb = Sandbox::new();
    let runs = sb.home().join("runs");
    std::fs::create_dir_all(runs.join("broken")).unwrap();
    std::fs::write(runs.join("broken/state.json"), "{ not json").unwrap();
    std::fs::create_dir_all(runs.join("half/logs")).unwrap();
    std::fs::create_dir_all(runs.join(".made.tmp-abcdef")).unwrap();

    let r = sb.run(&["runs"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("no runs yet"), "{}", r.stdout);
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} is not listed: {}", r.stdout))
            .to_string()
    };
    let broken = line("broken");
    assert!(
        broken.contains(&format!(
            "unreadable: {}: the run's state cannot be read: key must be a string",
            runs.join("broken/state.json").display()
        )),
        "{broken}"
    );
    let half = line("half");
    assert!(half.contains("unreadable: "), "{half}");
    assert!(half.contains("there is no state.json"), "{half}");
    assert!(!r.stdout.contains(".made"), "{}", r.stdout);

    // Readable runs are listed as before, with the unreadable ones after them.
    sb.write("rb.yaml", TWO);
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "good"]).code, 0);
    let r = sb.run(&["runs"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[1].starts_with("good "), "{}", r.stdout);
    assert!(lines[1].contains("2/2 done, completed"), "{}", r.stdout);
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    let json = sb.run(&["runs", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(
        json.stderr.contains("warning: unreadable run: ") && json.stderr.contains("broken"),
        "{}",
        json.stderr
    );
    // A folder with no state says what to do with it.
    let r = sb.run(&["resume", "half"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "hint: remove {} to use its name again",
            runs.join("half").display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn a_state_of_an_unknown_version_is_refused() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", TWO);
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "v"]).code, 0);
    let path = sb.run_dir("v").join("state.json");
    let mut st = sb.state("v");
    st["version"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&st).unwrap()).unwrap();
    let refused = format!(
        "error: {}: the run's state has layout version 2, and this stepwise reads version 1 only",
        path.display()
    );
    for args in [&["status", "v"][..], &["resume", "v"]] {
        let r = sb.run(args);
        assert_eq!(r.code, 4, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with(&refused), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("\nhint: "), "{}", r.stderr);
    }
    let r = sb.run(&["runs"]);
    assert!(
        r.stdout.contains("unreadable: ") && r.stdout.contains("layout version 2"),
        "{}",
        r.stdout
    );
    assert_eq!(sb.state("v")["version"], 2, "the state was rewritten");
}

/// Runs a command whose stdout is read up to its first line and then closed, as `| head -1`
/// does; returns the line, the exit status and stderr.
fn head_1(mut cmd: Command) -> (String, i32, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (first, out.status.code().unwrap_or(-1), stderr)
}

/// Runs a command whose stdout is a pipe with no reader from the start.
fn closed_stdout(mut cmd: Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

/// A runbook that prints far more than a pipe holds: `steps` steps with long descriptions (for
/// a dry run), one that prints 30000 lines, and `last`, which ends with status `code`.
fn loud_runbook(steps: usize, code: u8) -> String {
    let mut rb = String::from("stepwise: 1\nid: loud\ntitle: Loud\nsteps:\n");
    let why = "a long reason, ".repeat(20);
    for i in 0..steps {
        rb.push_str(&format!(
            "  - id: s{i}\n    title: Step {i}\n    description: {why}\n    run: echo {i}\n"
        ));
    }
    rb.push_str("  - id: many\n    title: Many lines\n    run: seq 1 30000\n");
    rb.push_str(&format!(
        "  - id: last\n    title: Last\n    run: echo done > last.txt; exit {code}\n"
    ));
    rb
}

#[test]
fn a_closed_stdout_ends_printing_quietly_on_a_dry_run() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", &loud_runbook(300, 0));
    let (first, code, stderr) = head_1(sb.cmd(&["run", "rb.yaml", "--dry-run"]));
    assert!(first.starts_with("DRY RUN of "), "{first}");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "");
    assert!(!sb.home().join("runs").exists());
}

#[test]
fn a_closed_stdout_ends_printing_quietly_and_the_run_goes_on_to_its_own_status() {
    for (code, expected, last) in [(0, 0, "succeeded"), (5, 1, "failed")] {
        let sb = Sandbox::new();
        sb.write("rb.yaml", &loud_runbook(3, code));
        let (first, status, stderr) = head_1(sb.cmd(&["run", "rb.yaml", "--name", "p"]));
        assert!(first.starts_with("run p of "), "{first}");
        assert_eq!(status, expected, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(sb.read("last.txt"), "done\n", "the run did not go on");
        let st = sb.state("p");
        assert_eq!(st["steps"]["many"]["status"], "succeeded");
        assert_eq!(st["steps"]["last"]["status"], last);
        let journal = std::fs::read_to_string(sb.run_dir("p").join("journal.jsonl")).unwrap();
        let what = journal.lines().last().unwrap_or_default();
        let end = if code == 0 {
            "run.completed"
        } else {
            "step.failed"
        };
        assert!(what.contains(end), "{what}");
        // The step's log is whole: only printing stopped.
        let log = std::fs::read_to_string(sb.run_dir("p").join("logs/many.log")).unwrap();
        assert_eq!(log.lines().count(), 30000);
    }
}

#[test]
fn listings_schema_and_validate_end_quietly_on_a_closed_stdout() {
    let sb = Sandbox::new();
    let rb = sb.write("rb.yaml", TWO);
    assert_eq!(sb.run(&["run", "rb.yaml", "--name", "one"]).code, 0);
    let rb = rb.display().to_string();
    let mut validate = vec!["validate"];
    validate.extend(std::iter::repeat_n(rb.as_str(), 20));
    let commands: [&[&str]; 6] = [
        &["runs"],
        &["runs", "--json"],
        &["status", "one"],
        &["status", "one", "--json"],
        &["schema"],
        &validate,
    ];
    for args in commands {
        let (code, stderr) = closed_stdout(sb.cmd(args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
    // And an error still reaches stderr, with its status.
    let (code, stderr) = closed_stdout(sb.cmd(&["status", "nope"]));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: run `nope` not found"),
        "{stderr}"
    );
}
