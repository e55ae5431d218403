//! Running bash scripts for `run`, `check` and `skip_if`.
//!
//! Each script runs in its own process group, so that a timeout or Ctrl-C ends the whole group
//! (the script and everything it started). Its stdout and stderr are read line by line as they
//! come. Scripts are started with posix_spawn (no `pre_exec` hook, which would force a full
//! fork): starting a step costs little more than starting bash.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// A line from stepwise itself about the step (a retry, a wait, a diff).
    Info,
}

/// A script to run.
pub struct Script<'a> {
    pub source: &'a str,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub timeout: Option<Duration>,
}

/// How a script ended.
#[derive(Debug)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal it did not expect.
    Signal(i32),
    TimedOut,
    Cancelled,
}

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// The longest stdout kept for extracting outputs; more is streamed but not kept.
const MAX_CAPTURE: usize = 16 * 1024 * 1024;

/// Where a program is on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Where bash is, looked up once in `PATH`: starting it by its full path spares every step
/// the search (a failed exec for each directory before it).
fn bash_path() -> &'static std::path::Path {
    static BASH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASH.get_or_init(|| {
        on_path("bash")
            .and_then(|path| std::path::absolute(path).ok())
            .unwrap_or_else(|| PathBuf::from("bash"))
    })
}

fn bash(source: &str) -> Command {
    let mut cmd = Command::new(bash_path());
    // As bash names itself in its messages (`bash: line 2: ...`).
    cmd.arg0("bash");
    cmd.args([
        "--noprofile",
        "--norc",
        "-e",
        "-o",
        "pipefail",
        "-c",
        source,
    ]);
    cmd
}

/// A script whose bash has started but waits, before the script's first command, until it is
/// released: starting bash (the slow part of a small step) overlaps with writing the step's
/// "running" state, and nothing of the script happens before that state is on disk.
pub struct Held {
    child: tokio::process::Child,
    gate: Option<tokio::process::ChildStdin>,
    timeout: Option<Duration>,
}

/// The gate: reads one line from stdin (the pipe stepwise holds), gives up if stepwise lets go
/// without releasing, then gives the script the empty stdin it always has. It goes on the
/// script's first line, so that bash's line numbers in messages stay those of the script.
const GATE: &str = "read -r _ || exit 125; exec </dev/null; ";

/// Starts bash for a script, held at the gate.
pub fn spawn(script: &Script<'_>) -> std::io::Result<Held> {
    let source = format!("{GATE}{}", script.source);
    let mut cmd = bash(&source);
    cmd.current_dir(&script.cwd)
        .envs(script.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let gate = child.stdin.take();
    Ok(Held {
        child,
        gate,
        timeout: script.timeout,
    })
}

impl Held {
    /// Lets the script run.
    pub async fn release(&mut self) {
        use tokio::io::AsyncWriteExt;
        if let Some(mut gate) = self.gate.take() {
            // If bash is already gone, waiting on it reports how it ended.
            let _ = gate.write_all(b"go\n").await;
        }
    }
}

/// Runs a script, sending each line to `lines`; returns how it ended and its stdout.
pub async fn run(
    script: Script<'_>,
    lines: mpsc::UnboundedSender<(Stream, String)>,
    cancel: &CancellationToken,
) -> std::io::Result<(Exit, String)> {
    let held = spawn(&script)?;
    wait(held, lines, cancel).await
}

/// Releases a held script and streams it to its end; the timeout counts from the release.
pub async fn wait(
    mut held: Held,
    lines: mpsc::UnboundedSender<(Stream, String)>,
    cancel: &CancellationToken,
) -> std::io::Result<(Exit, String)> {
    held.release().await;
    let Held {
        mut child, timeout, ..
    } = held;
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_task = stdout.map(|s| tokio::spawn(pump(s, Stream::Stdout, lines.clone(), true)));
    let err_task = stderr.map(|s| tokio::spawn(pump(s, Stream::Stderr, lines.clone(), false)));
    drop(lines);

    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let exit = tokio::select! {
        status = child.wait() => {
            let status = status?;
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(sig)) => Exit::Signal(sig),
                _ => Exit::Code(-1),
            }
        }
        _ = deadline => { stop(&mut child, pgid).await; Exit::TimedOut }
        _ = cancel.cancelled() => { stop(&mut child, pgid).await; Exit::Cancelled }
    };
    // The group may still hold the pipes open (a background child); don't wait on it forever.
    let captured = match out_task {
        Some(t) => tokio::time::timeout(GRACE, t)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => String::new(),
    };
    if let Some(t) = err_task {
        let _ = tokio::time::timeout(GRACE, t).await;
    }
    Ok((exit, captured))
}

/// Runs a script with the terminal handed to it (stdin, stdout and stderr inherited).
pub async fn run_interactive(script: Script<'_>) -> std::io::Result<Exit> {
    let mut cmd = bash(script.source);
    cmd.current_dir(&script.cwd)
        .envs(script.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = cmd.status().await?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        _ => Exit::Code(-1),
    })
}

/// Ends a script's whole process group: SIGTERM, then SIGKILL after a grace period.
async fn stop(child: &mut tokio::process::Child, pgid: Option<Pid>) {
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGTERM);
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        // Anything left in the group (a child that ignored SIGTERM) goes too.
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let _ = child.kill().await;
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    which: Stream,
    lines: mpsc::UnboundedSender<(Stream, String)>,
    capture: bool,
) -> String {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let mut captured = String::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                if capture && captured.len() < MAX_CAPTURE {
                    captured.push_str(line);
                    captured.push('\n');
                }
                let _ = lines.send((which, line.to_string()));
            }
        }
    }
    captured
}
