//! Test harness for moto, the AWS API emulator (see /work/shared/TESTING-AWS.md).
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/moto.rs"]
//! mod moto;
//! ```
//!
//! moto lives in the project-local venv that `scripts/test-env.sh` creates.
//! Only std is used.
//!
//! Two ways to use it:
//!
//! * `Moto::start()` gives a server owned by the test; it is stopped when the
//!   value is dropped.
//! * `shared()` gives ONE server per test binary, started on first use. Tests
//!   that use it must hold `lock()` for as long as they use the server and call
//!   `reset()` first (or use `shared_reset()`, which does both), since cargo
//!   runs the tests of a binary in parallel.
//!
//! # How the server is always stopped
//!
//! A `static` is never dropped, so the shared server cannot rely on `Drop`.
//! moto is therefore never started directly: it is started by a small bash
//! watchdog (`WATCHDOG` below) that
//!
//! * starts moto in the background and remembers its pid,
//! * blocks reading its own stdin, which is a pipe whose only write end is held
//!   by the test process (Rust opens pipes close-on-exec, so no other child
//!   inherits it),
//! * when that pipe reaches EOF, i.e. when `Drop` closes it or when the test
//!   process exits or is killed in any way (even SIGKILL: the kernel closes
//!   the pipe), or when it gets SIGTERM/SIGINT/SIGHUP, kills moto by its pid
//!   and waits for it;
//! * also exits (after reaping moto) if moto itself exits, so a moto that fails
//!   to start is noticed at once.
//!
//! The watchdog runs in its own process group, so a Ctrl-C in the terminal
//! reaches only the test process; the watchdog then sees the EOF and stops moto.
//! Because moto is the watchdog's own child and is reaped only by it, its pid
//! cannot be reused by another process while the watchdog may still kill it.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long moto may take to accept connections after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The watchdog described in the module documentation.
/// Arguments: `$@` is the moto command line.
const WATCHDOG: &str = r#"
"$@" </dev/null &
moto=$!
exec 3<&0
# Background commands get /dev/null as stdin unless redirected explicitly.
( while read -r _; do :; done ) <&3 &
reader=$!
exec 3<&-
stop() {
    trap - EXIT
    kill "$moto" "$reader" 2>/dev/null
    wait "$moto" 2>/dev/null
    wait "$reader" 2>/dev/null
}
trap stop EXIT
trap 'exit 0' TERM INT HUP
# Returns when either moto exits or stdin reaches EOF.
wait -n
"#;

pub struct Moto {
    pub port: u16,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The watchdog (bash), whose child is moto. Its stdin is the lifeline pipe.
    child: Child,
    log: PathBuf,
}

impl Moto {
    /// Path of the moto server in the project's venv.
    pub fn server_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
    }

    /// Starts `.venv/bin/moto_server -H 127.0.0.1 -p PORT` on a free port,
    /// with `MOTO_IAM_LOAD_MANAGED_POLICIES=true`, and waits until it accepts
    /// connections (at most 30 s; panics with the tail of its log otherwise).
    pub fn start() -> Moto {
        let server = Self::server_path();
        if !server.exists() {
            panic!(
                "moto is not installed: run scripts/test-env.sh (the README's test command does this)"
            );
        }
        // Another process may take the port between our probe and moto's bind;
        // in that case moto exits with "Address already in use": try again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(&server) {
                Ok(moto) => return moto,
                Err(log_tail) if attempt < 3 && log_tail.contains("in use") => continue,
                Err(log_tail) => panic!(
                    "moto server did not become ready (attempt {attempt}); log tail:\n{log_tail}"
                ),
            }
        }
    }

    /// One start attempt. On failure returns the tail of the log.
    fn try_start(server: &Path) -> Result<Moto, String> {
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("stepwise-moto-{}-{}.log", std::process::id(), port));
        let out = File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create moto log {}: {e}", log.display()));
        let err = out.try_clone().expect("cannot clone moto log handle");

        let child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("stepwise-moto-watchdog") // $0
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bash to run moto: {e}"));

        let mut moto = Moto {
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(_)) = moto.child.try_wait() {
                // moto exited (the watchdog exits with it).
                return Err(moto.log_tail());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // Make sure what answers is our moto and not some other
                // process that took the port.
                match moto.post("/moto-api/reset") {
                    Ok(200) => return Ok(moto),
                    _ if Instant::now() < deadline => {}
                    Ok(status) => {
                        return Err(format!(
                            "port {port} answered reset with HTTP {status}\n{}",
                            moto.log_tail()
                        ));
                    }
                    Err(e) => return Err(format!("reset failed: {e}\n{}", moto.log_tail())),
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {READY_TIMEOUT:?}\n{}",
                    moto.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clears all of moto's state: `POST /moto-api/reset`, asserting HTTP 200.
    pub fn reset(&self) {
        match self.post("/moto-api/reset") {
            Ok(200) => {}
            Ok(status) => panic!(
                "moto reset answered HTTP {status}; log tail:\n{}",
                self.log_tail()
            ),
            Err(e) => panic!("moto reset failed: {e}; log tail:\n{}", self.log_tail()),
        }
    }

    /// Environment a child process (the stepwise binary, the aws CLI, sops)
    /// needs to talk to this server, with test credentials and with the
    /// developer's own AWS config and credentials files out of reach.
    ///
    /// Variables already in the test's environment (`AWS_PROFILE`,
    /// `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL_EC2`, ...) are not removed by
    /// these pairs alone: use `apply_env` on a `Command` to get that too.
    pub fn env(&self) -> Vec<(String, String)> {
        let nowhere = std::env::temp_dir().join("stepwise-moto-no-aws-files");
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_MAX_ATTEMPTS", "1".to_string()),
            (
                "AWS_CONFIG_FILE",
                nowhere.join("config").to_string_lossy().into_owned(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                nowhere.join("credentials").to_string_lossy().into_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Removes every `AWS_*` variable the test process has from `cmd`'s
    /// environment and sets `env()`. Returns `cmd` for chaining.
    pub fn apply_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(self.env())
    }

    /// Path of the server's log file (stdout and stderr of moto).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "--- {} ---\n{}",
            self.log.display(),
            lines[start..].join("\n")
        )
    }

    /// From now on, moto checks each request's credentials and IAM policies (by default it
    /// lets everything through): `POST /moto-api/reset-auth` with 0 requests let through.
    pub fn enforce_iam(&self) {
        match self.post_body("/moto-api/reset-auth", "0") {
            Ok(200) => {}
            other => panic!("moto reset-auth: {other:?}; log tail:\n{}", self.log_tail()),
        }
    }

    /// A bodyless HTTP/1.1 POST to this server; returns the status code.
    fn post(&self, path: &str) -> std::io::Result<u16> {
        self.post_body(path, "")
    }

    /// An HTTP/1.1 POST of a plain-text body to this server; returns the status code.
    fn post_body(&self, path: &str, body: &str) -> std::io::Result<u16> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        stream.flush()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let head = String::from_utf8_lossy(&response);
        let status_line = head.lines().next().unwrap_or("");
        // "HTTP/1.1 200 OK"
        status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an HTTP response: {status_line:?}"),
                )
            })
    }
}

impl Drop for Moto {
    /// Closes the watchdog's stdin, on which it kills moto by pid and waits for
    /// it; then waits for the watchdog. If that takes more than 10 s, SIGKILLs
    /// the watchdog's whole process group (watchdog and moto).
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let pgid = self.child.id();
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pgid}")])
                        .stderr(Stdio::null())
                        .status();
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        // Keep the log when a test failed, for the developer to read.
        if !thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind 127.0.0.1:0");
    listener.local_addr().expect("no local address").port()
}

static SHARED: OnceLock<Moto> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// One moto server for the whole test binary, started on first use and
/// stopped by its watchdog when the test process exits (see module docs).
/// Hold `lock()` while using it.
pub fn shared() -> &'static Moto {
    SHARED.get_or_init(Moto::start)
}

/// Serialises the tests that use `shared()`. Poison-tolerant: a test that
/// panicked while holding it does not fail the others.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `lock()`, then `shared()`, then `reset()`: a clean shared server for the
/// duration of the guard.
///
/// ```ignore
/// let (_guard, moto) = moto::shared_reset();
/// ```
pub fn shared_reset() -> (MutexGuard<'static, ()>, &'static Moto) {
    let guard = lock();
    let moto = shared();
    moto.reset();
    (guard, moto)
}
