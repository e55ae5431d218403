//! Machines sharing a run store: each is a scratch folder with its own STEPWISE_HOME (so its own
//! machine identity), pointed at an S3 store in moto (`--store s3://BUCKET/PREFIX`) or at its
//! local store. The store's objects are looked at with an independent client, the `aws` CLI.
//! Also: a shared folder outside every home, and the processes a test must not leave behind.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use super::aws::{cli, cli_json, cli_raw};
use super::cli::{Ran, Sandbox};
use super::moto::Moto;
pub use super::procs::{Reaper, alive};

/// An S3 store in moto: a bucket and a prefix (empty, or one or more segments).
pub struct S3<'a> {
    pub moto: &'a Moto,
    pub bucket: String,
    pub prefix: String,
}

impl<'a> S3<'a> {
    /// Makes the bucket.
    pub fn new(moto: &'a Moto, bucket: &str, prefix: &str) -> S3<'a> {
        cli(moto, &["s3api", "create-bucket", "--bucket", bucket]);
        S3 {
            moto,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    /// `s3://BUCKET/PREFIX`
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The key of one of a run's objects: `PREFIX/runs/NAME/REST`.
    pub fn key(&self, run: &str, rest: &str) -> String {
        match self.prefix.trim_matches('/') {
            "" => format!("runs/{run}/{rest}"),
            prefix => format!("{prefix}/runs/{run}/{rest}"),
        }
    }

    /// Every key in the bucket, or those starting with `prefix`, in order.
    pub fn list(&self, prefix: Option<&str>) -> Vec<String> {
        let mut args = vec!["s3api", "list-objects-v2", "--bucket", &self.bucket];
        if let Some(p) = prefix {
            args.extend(["--prefix", p]);
        }
        let listed = cli_json(self.moto, &args);
        let mut keys: Vec<String> = listed["Contents"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|o| o["Key"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// The keys of a run's objects.
    pub fn keys(&self, run: &str) -> Vec<String> {
        self.list(Some(&self.key(run, "")))
    }

    /// Whether the object is there.
    pub fn exists(&self, key: &str) -> bool {
        self.list(Some(key)).iter().any(|k| k == key)
    }

    /// An object's bytes, as text (`aws s3 cp s3://BUCKET/KEY -`).
    pub fn get(&self, key: &str) -> String {
        let (ok, out, err) = cli_raw(
            self.moto,
            &["s3", "cp", &format!("s3://{}/{key}", self.bucket), "-"],
        );
        assert!(ok, "aws s3 cp s3://{}/{key} - failed: {err}", self.bucket);
        out
    }

    /// Every object whose key starts with `prefix` (empty: the whole bucket), with its bytes
    /// as text, in key order: one `aws s3 cp --recursive` into a scratch folder.
    pub fn download(&self, prefix: &str) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let from = format!("s3://{}/{prefix}", self.bucket);
        let to = dir.path().to_string_lossy().into_owned();
        cli(
            self.moto,
            &["s3", "cp", "--recursive", "--quiet", &from, &to],
        );
        let mut objects = Vec::new();
        let mut folders = vec![dir.path().to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let relative = path.strip_prefix(dir.path()).unwrap().to_string_lossy();
                let bytes = std::fs::read(&path).expect("read");
                let text = String::from_utf8_lossy(&bytes).into_owned();
                objects.push((format!("{prefix}{relative}"), text));
            }
        }
        objects.sort();
        objects
    }

    /// An object, as JSON.
    pub fn json(&self, key: &str) -> Value {
        let text = self.get(key);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {text}"))
    }

    /// The run's `state.json`.
    pub fn state(&self, run: &str) -> Value {
        self.json(&self.key(run, "state.json"))
    }

    /// The run's `lock`, when there is one.
    pub fn lock(&self, run: &str) -> Option<Value> {
        let key = self.key(run, "lock");
        self.exists(&key).then(|| self.json(&key))
    }

    /// The run's journal objects, in key order: each one's number and entry. Asserts that each
    /// is named `journal/NNNNNNNN.json`.
    pub fn journal(&self, run: &str) -> Vec<(u64, Value)> {
        let under = self.key(run, "journal/");
        self.list(Some(&under))
            .iter()
            .map(|key| {
                let name = key.strip_prefix(&under).unwrap();
                let number = name
                    .strip_suffix(".json")
                    .filter(|n| n.len() == 8 && n.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or_else(|| panic!("a journal object named {key}"));
                (number.parse().unwrap(), self.json(key))
            })
            .collect()
    }

    /// Asserts that the run's journal objects are numbered 1, 2, ... without a gap, and
    /// returns their entries in order.
    #[track_caller]
    pub fn numbered_journal(&self, run: &str) -> Vec<Value> {
        let objects = self.journal(run);
        let numbers: Vec<u64> = objects.iter().map(|(n, _)| *n).collect();
        let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
        assert_eq!(numbers, expected, "journal objects of {run} have a gap");
        objects.into_iter().map(|(_, e)| e).collect()
    }

    /// `aws s3api head-object`.
    pub fn head(&self, key: &str) -> Value {
        cli_json(
            self.moto,
            &[
                "s3api",
                "head-object",
                "--bucket",
                &self.bucket,
                "--key",
                key,
            ],
        )
    }
}

/// One machine: a scratch folder (where it runs things) with its own STEPWISE_HOME.
pub struct Machine<'a> {
    pub sb: Sandbox,
    /// The store its commands use; None: its local store.
    pub s3: Option<&'a S3<'a>>,
}

impl<'a> Machine<'a> {
    /// A machine using its local store.
    pub fn local() -> Machine<'static> {
        Machine {
            sb: Sandbox::new(),
            s3: None,
        }
    }

    /// A machine whose commands use the S3 store.
    pub fn on(s3: &'a S3<'a>) -> Machine<'a> {
        Machine {
            sb: Sandbox::new(),
            s3: Some(s3),
        }
    }

    /// `stepwise ARGS` on the local store, with moto's environment when the machine has an S3
    /// store (so that `push` and `pull` may name it); `--plain` for `run` and `resume`.
    pub fn local_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd(args);
        c.env_remove("STEPWISE_STORE")
            .env_remove("STEPWISE_STORE_KMS_KEY");
        if matches!(args.first(), Some(&"run" | &"resume")) {
            c.arg("--plain");
        }
        if let Some(s3) = self.s3 {
            s3.moto.apply_env(&mut c);
        }
        c
    }

    /// `stepwise ARGS` on the machine's store (`--store URL` after the arguments).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.local_cmd(args);
        if let Some(s3) = self.s3 {
            c.args(["--store", &s3.url()]);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::of(&mut self.cmd(args))
    }

    pub fn run_local(&self, args: &[&str]) -> Ran {
        Ran::of(&mut self.local_cmd(args))
    }

    /// Starts `stepwise ARGS` on the machine's store, its output piped (and read at its end).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stepwise starts")
    }

    /// A command's JSON answer; it must succeed.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        json_of(&self.run(args), args)
    }

    /// A command's JSON answer on the local store; it must succeed.
    #[track_caller]
    pub fn json_local(&self, args: &[&str]) -> Value {
        json_of(&self.run_local(args), args)
    }

    /// The names `runs --json` lists on the machine's store.
    pub fn runs(&self) -> Vec<String> {
        names(&self.json(&["runs", "--json"]))
    }

    /// The names `runs --json` lists on the local store.
    pub fn runs_local(&self) -> Vec<String> {
        names(&self.json_local(&["runs", "--json"]))
    }

    /// `log RUN --json`: the journal's entries.
    #[track_caller]
    pub fn journal(&self, run: &str) -> Vec<Value> {
        journal_of(&self.run(&["log", run, "--json"]))
    }

    /// The journal as `what` or `what step`, one a line, on the machine's store.
    #[track_caller]
    pub fn whats(&self, run: &str) -> Vec<String> {
        whats(&self.journal(run))
    }

    /// The machine's identity, `$STEPWISE_HOME/machine-id`.
    pub fn machine_id(&self) -> String {
        let path = self.sb.home().join("machine-id");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

#[track_caller]
fn json_of(r: &Ran, args: &[&str]) -> Value {
    assert_eq!(r.code, 0, "stepwise {}: {r:?}", args.join(" "));
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

fn names(runs: &Value) -> Vec<String> {
    runs.as_array()
        .unwrap_or_else(|| panic!("runs --json is a list: {runs}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The entries `log RUN --json` printed, one a line.
#[track_caller]
pub fn journal_of(r: &Ran) -> Vec<Value> {
    assert_eq!(r.code, 0, "log --json: {r:?}");
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Journal entries as `what` or `what step`.
pub fn whats(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let what = e["what"].as_str().unwrap_or_default();
            match e["step"].as_str() {
                Some(step) => format!("{what} {step}"),
                None => what.to_string(),
            }
        })
        .collect()
}

/// Asserts that `expected` appear in `whats` in this order (with others between them).
#[track_caller]
pub fn in_order(whats: &[String], expected: &[&str]) {
    let mut rest = whats.iter();
    for e in expected {
        assert!(
            rest.any(|w| w == e),
            "{e:?} missing, or out of order, in {whats:#?}"
        );
    }
}

/// How many times `what` is in `whats`.
pub fn count(whats: &[String], what: &str) -> usize {
    whats.iter().filter(|w| *w == what).count()
}

/// A folder outside every machine's home, for the runbooks and what their steps leave.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a runbook whose `@W` are this folder's path; returns its path.
    pub fn runbook(&self, name: &str, text: &str) -> String {
        let text = text.replace("@W", &self.path().to_string_lossy());
        self.write(name, &text).to_string_lossy().into_owned()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }
}

/// Waits until `f` holds, at most `limit`.
#[track_caller]
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child started with piped output to end, at most `limit` (killed after it).
#[track_caller]
pub fn finish(mut child: Child, limit: Duration) -> Ran {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} still ran after {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    use std::os::unix::process::ExitStatusExt;
    Ran {
        code: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout,
        stderr,
    }
}

/// Starts the commands at the same moment, their output piped; returns each one's pid and
/// what it did.
pub fn at_once(cmds: [Command; 2]) -> [(u32, Ran); 2] {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let start = |mut c: Command| {
            let barrier = &barrier;
            s.spawn(move || {
                c.stdout(Stdio::piped()).stderr(Stdio::piped());
                barrier.wait();
                let child = c.spawn().expect("it starts");
                (child.id(), finish(child, Duration::from_secs(60)))
            })
        };
        let [one, two] = cmds.map(start);
        [one.join().unwrap(), two.join().unwrap()]
    })
}

/// A timestamp (RFC 3339) in a JSON object, such as the lock's.
#[track_caller]
pub fn at(object: &Value, field: &str) -> jiff::Timestamp {
    let text = object[field].as_str().unwrap_or_default();
    text.parse()
        .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {object}"))
}

/// Sends a signal to a process, or a process group when `group`.
pub fn signal(pid: i32, sig: Signal, group: bool) {
    let result = if group {
        killpg(Pid::from_raw(pid), sig)
    } else {
        kill(Pid::from_raw(pid), sig)
    };
    result.unwrap_or_else(|e| panic!("{sig} to {pid}: {e}"));
}
