//! Running bash scripts for `run`, `check` and `skip_if`.
//!
//! Each script runs in its own process group, so that a timeout or Ctrl-C ends the whole group
//! (the script and everything it started). Its stdout and stderr are read line by line as they
//! come; a line longer than `MAX_LINE` is passed on in pieces of that size, so that output with
//! no newline never takes more memory than that. Scripts are started with posix_spawn (no
//! `pre_exec` hook, which would force a full fork): starting a step costs little more than
//! starting bash.
//!
//! A script is over when bash is. A process it left behind may still hold its stdout or stderr
//! open (`sleep 60 &`, or a `setsid` child outside the group that a stop does not reach): what
//! the script wrote is still read (it is in the pipe, which holds at most `IN_PIPE`), and
//! reading stops once a pipe has been quiet for a moment (`DRAIN`) or more came than the pipe
//! could have held, so that such a process never keeps a step, or stepwise, from ending.

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
    /// Keep stdout (up to `MAX_CAPTURE`) for outputs taken from it.
    pub capture: bool,
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

/// The longest line passed on whole; a longer one comes in pieces of this many bytes (fewer
/// where a piece would end inside a UTF-8 character).
pub const MAX_LINE: usize = 64 * 1024;

/// Lines read ahead of the engine: with `MAX_LINE`, at most 4 MiB of output waits in memory.
pub const LINES_AHEAD: usize = 64;

/// Once bash has ended, how long a pipe may stay quiet before reading stops: only a process
/// left behind holds it open then.
const DRAIN: Duration = Duration::from_millis(200);

/// The most a pipe holds (Linux's default `pipe-max-size`): once bash has ended, more than this
/// read from a pipe was written by a process left behind, and reading stops.
const IN_PIPE: usize = 1024 * 1024;

/// After a stop (Ctrl-C, a timeout), the longest reading goes on, whatever is left behind.
const DRAIN_STOPPED: Duration = Duration::from_millis(500);

/// Where a script's lines go.
pub type Lines = mpsc::Sender<(Stream, String)>;

/// A channel for a script's lines, bounded so that a script printing faster than the engine
/// takes its lines waits for it instead of filling memory.
pub fn lines() -> (Lines, mpsc::Receiver<(Stream, String)>) {
    mpsc::channel(LINES_AHEAD)
}

/// Where bash is, looked up once in `PATH`: starting it by its full path spares every step
/// the search (a failed exec for each directory before it).
fn bash_path() -> &'static std::path::Path {
    static BASH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASH.get_or_init(|| {
        crate::process::on_path("bash")
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
    capture: bool,
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
        capture: script.capture,
    })
}

impl Held {
    /// The process id of bash, which is also the id of the script's process group.
    pub fn pid(&self) -> Option<i32> {
        self.child.id().map(|id| id as i32)
    }

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
    lines: Lines,
    cancel: &CancellationToken,
) -> std::io::Result<(Exit, String)> {
    let held = spawn(&script)?;
    wait(held, lines, cancel).await
}

/// Releases a held script and streams it to its end; the timeout counts from the release.
pub async fn wait(
    mut held: Held,
    lines: Lines,
    cancel: &CancellationToken,
) -> std::io::Result<(Exit, String)> {
    held.release().await;
    let Held {
        mut child,
        timeout,
        capture,
        ..
    } = held;
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let ended = CancellationToken::new();
    let stop_reading = CancellationToken::new();
    let pumps: Vec<_> = [
        child.stdout.take().map(|s| {
            let p = Pump::new(Stream::Stdout, lines.clone(), &ended, &stop_reading);
            tokio::spawn(p.run(s, capture))
        }),
        child.stderr.take().map(|s| {
            let p = Pump::new(Stream::Stderr, lines.clone(), &ended, &stop_reading);
            tokio::spawn(p.run(s, false))
        }),
    ]
    .into_iter()
    .flatten()
    .collect();

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
    // Bash is gone; what is left in the pipes is read, unless a process left behind keeps them
    // open, quiet or not: it never keeps the step from ending. After a stop, the pipes get a
    // moment only, however fast the output is taken.
    ended.cancel();
    let limit = match exit {
        Exit::Code(_) | Exit::Signal(_) => None,
        Exit::TimedOut | Exit::Cancelled => Some(tokio::time::Instant::now() + DRAIN_STOPPED),
    };
    let mut done = Vec::new();
    for mut pump in pumps {
        let pumped = match limit {
            None => pump.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, &mut pump).await {
                Ok(pumped) => pumped,
                Err(_) => {
                    stop_reading.cancel();
                    pump.await
                }
            },
        };
        done.push(pumped);
    }
    let mut captured = String::new();
    let mut left_open = false;
    for pumped in done.into_iter().flatten() {
        left_open |= !pumped.complete;
        if pumped.captured.is_some() {
            captured = pumped.captured.unwrap_or_default();
        }
    }
    if left_open {
        let _ = lines
            .send((
                Stream::Info,
                "a process the step started in the background still holds its output open; \
                 stepwise stopped reading it and did not stop that process"
                    .to_string(),
            ))
            .await;
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

/// Reads one of a script's pipes and passes on its lines.
struct Pump {
    which: Stream,
    lines: Lines,
    /// Bash has ended: from now on a quiet pipe means only a process left behind holds it.
    ended: CancellationToken,
    /// Reading stops now.
    stop: CancellationToken,
}

/// What a pipe gave.
struct Pumped {
    /// Stdout as kept for outputs (None for stderr).
    captured: Option<String>,
    /// The pipe was read to its end (no process left behind held it open).
    complete: bool,
}

/// What waiting for a pipe gave.
enum Fill {
    /// This many bytes are buffered.
    Data(usize),
    End,
    /// Bash has ended and the pipe stayed quiet for `DRAIN`.
    Quiet,
}

impl Pump {
    fn new(
        which: Stream,
        lines: Lines,
        ended: &CancellationToken,
        stop: &CancellationToken,
    ) -> Pump {
        Pump {
            which,
            lines,
            ended: ended.clone(),
            stop: stop.clone(),
        }
    }

    async fn run(self, stream: impl AsyncRead + Unpin, capture: bool) -> Pumped {
        let mut captured = capture.then(String::new);
        let mut complete = false;
        {
            let read = self.read(stream, captured.as_mut(), &mut complete);
            tokio::select! {
                _ = read => {}
                _ = self.stop.cancelled() => {}
            }
        }
        Pumped { captured, complete }
    }

    /// Passes on lines until the pipe ends, or, after bash ended, stays quiet or brings more
    /// than it could have held. A line never takes more than `MAX_LINE` bytes here: a longer
    /// one goes on in pieces.
    async fn read(
        &self,
        stream: impl AsyncRead + Unpin,
        mut captured: Option<&mut String>,
        complete: &mut bool,
    ) {
        let mut reader = BufReader::with_capacity(MAX_LINE, stream);
        let mut line: Vec<u8> = Vec::new();
        let mut cut = false;
        // Bytes read since bash ended.
        let mut after_end = 0;
        loop {
            let n = match self.fill(&mut reader).await {
                Fill::Data(_) if after_end > IN_PIPE => break,
                Fill::Data(n) => n,
                Fill::End => {
                    *complete = true;
                    break;
                }
                Fill::Quiet => break,
            };
            let ended = self.ended.is_cancelled();
            let chunk = &reader.buffer()[..n];
            let room = MAX_LINE - line.len();
            // A newline right after a full piece still ends that line.
            let window = &chunk[..chunk.len().min(room + 1)];
            if let Some(at) = window.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&window[..at]);
                reader.consume(at + 1);
                after_end += if ended { at + 1 } else { 0 };
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.send(&line, captured.as_deref_mut()).await;
                line.clear();
                continue;
            }
            let take = chunk.len().min(room);
            line.extend_from_slice(&chunk[..take]);
            reader.consume(take);
            after_end += if ended { take } else { 0 };
            if line.len() == MAX_LINE {
                let whole = MAX_LINE - partial_char(&line);
                self.send(&line[..whole], captured.as_deref_mut()).await;
                line.drain(..whole);
                if !cut {
                    cut = true;
                    let note = format!(
                        "a line longer than {} KiB is shown in pieces of {} KiB",
                        MAX_LINE / 1024,
                        MAX_LINE / 1024
                    );
                    let _ = self.lines.send((Stream::Info, note)).await;
                }
            }
        }
        if !line.is_empty() {
            self.send(&line, captured).await;
        }
    }

    /// Waits for more of the pipe.
    async fn fill<R: AsyncRead + Unpin>(&self, reader: &mut BufReader<R>) -> Fill {
        fn got(r: std::io::Result<&[u8]>) -> Fill {
            match r {
                Ok([]) | Err(_) => Fill::End,
                Ok(data) => Fill::Data(data.len()),
            }
        }
        if !self.ended.is_cancelled() {
            // `fill_buf` is cancel safe: when bash ends first, nothing was read.
            tokio::select! {
                r = reader.fill_buf() => return got(r),
                _ = self.ended.cancelled() => {}
            }
        }
        match tokio::time::timeout(DRAIN, reader.fill_buf()).await {
            Ok(r) => got(r),
            Err(_) => Fill::Quiet,
        }
    }

    async fn send(&self, bytes: &[u8], captured: Option<&mut String>) {
        let line = String::from_utf8_lossy(bytes);
        // Whole lines only, and never past the limit (nor its allocation).
        if let Some(c) = captured
            && c.len() + line.len() < MAX_CAPTURE
        {
            if c.capacity() == 0 {
                c.reserve(line.len().max(64 * 1024));
            }
            c.push_str(&line);
            c.push('\n');
        }
        let _ = self.lines.send((self.which, line.into_owned())).await;
    }
}

/// How many bytes at the end of `bytes` are the start of a UTF-8 character cut short.
fn partial_char(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let len = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if len > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_never_splits_a_character() {
        assert_eq!(partial_char(b"abc"), 0);
        assert_eq!(partial_char("aé".as_bytes()), 0);
        assert_eq!(partial_char(&"aé".as_bytes()[..2]), 1);
        assert_eq!(partial_char(&"a€".as_bytes()[..3]), 2);
        assert_eq!(partial_char(&"a😀".as_bytes()[..4]), 3);
        assert_eq!(partial_char("a😀".as_bytes()), 0);
    }

    async fn lines_of(source: &str) -> (Vec<(Stream, String)>, Exit, String, Duration) {
        let (tx, mut rx) = lines();
        let started = std::time::Instant::now();
        let cancel = CancellationToken::new();
        let script = Script {
            source,
            env: Vec::new(),
            cwd: std::env::temp_dir(),
            timeout: None,
            capture: true,
        };
        let collect = async {
            let mut all = Vec::new();
            while let Some(l) = rx.recv().await {
                all.push(l);
            }
            all
        };
        let (ran, all) = tokio::join!(run(script, tx, &cancel), collect);
        let (exit, stdout) = ran.expect("bash starts");
        (all, exit, stdout, started.elapsed())
    }

    #[tokio::test]
    async fn long_lines_come_in_bounded_pieces_and_short_ones_whole() {
        let (all, _, stdout, _) =
            lines_of("head -c 150000 /dev/zero | tr '\\0' x; echo; printf 'a\\r\\nb'").await;
        let out: Vec<&str> = all
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        let sizes: Vec<usize> = out.iter().map(|l| l.len()).collect();
        assert_eq!(sizes, [MAX_LINE, MAX_LINE, 150_000 - 2 * MAX_LINE, 1, 1]);
        assert_eq!(&out[3..], ["a", "b"]);
        assert!(
            all.iter()
                .any(|(s, l)| *s == Stream::Info && l.contains("pieces of 64 KiB")),
            "{:?}",
            all.iter()
                .filter(|(s, _)| *s == Stream::Info)
                .collect::<Vec<_>>()
        );
        assert!(stdout.ends_with("\na\nb\n"));
    }

    #[tokio::test]
    async fn a_background_child_holding_stdout_does_not_hold_the_step() {
        let (all, exit, _, took) = lines_of("echo before; sleep 30 & echo \"bg $!\"").await;
        let texts: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
        let bg = texts.get(1).and_then(|t| t.strip_prefix("bg "));
        if let Some(pid) = bg.and_then(|p| p.parse::<i32>().ok()).filter(|&p| p > 1) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        assert!(matches!(exit, Exit::Code(0)), "{exit:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_eq!(texts[0], "before");
        assert!(
            texts[2].contains("still holds its output open"),
            "{texts:?}"
        );
    }

    #[tokio::test]
    async fn a_background_child_that_keeps_writing_does_not_hold_the_step() {
        let (all, exit, _, took) =
            lines_of("yes >&2 & echo \"bg $!\"; head -c 100000 /dev/zero | tr '\\0' y").await;
        // (`yes` ends by itself too, once its pipe is closed.)
        let bg = all.iter().find_map(|(_, t)| t.strip_prefix("bg "));
        if let Some(pid) = bg.and_then(|p| p.parse::<i32>().ok()).filter(|&p| p > 1) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        assert!(matches!(exit, Exit::Code(0)), "{exit:?}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        // What the script wrote before it ended is all there.
        assert!(
            all.iter().any(|(_, l)| l.len() == 100_000 - MAX_LINE),
            "the end of the script's own output is missing"
        );
        let last = all.last().map(|(_, l)| l.as_str()).unwrap_or_default();
        assert!(last.contains("still holds its output open"), "{last}");
    }
}
