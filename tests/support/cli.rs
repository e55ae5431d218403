//! Runs the real `stepwise` binary in a scratch folder with its own STEPWISE_HOME.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch folder: runbooks are written here, runs live under `home/`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Runs a command to its end.
    pub fn of(cmd: &mut Command) -> Ran {
        Ran::from(cmd.output().expect("run stepwise"))
    }

    fn from(out: Output) -> Ran {
        use std::os::unix::process::ExitStatusExt;
        Ran {
            code: out
                .status
                .code()
                .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The runbooks shipped in `runbooks/`, in name order.
pub fn shipped_runbooks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("runbooks/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stepwise")
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// Writes a file relative to the sandbox.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }

    /// A command for the binary, in the sandbox, with no terminal.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env("STEPWISE_HOME", self.home())
            .env_remove("AWS_PROFILE")
            // A run store of the developer's own is not the tests'.
            .env_remove("STEPWISE_STORE")
            .env_remove("STEPWISE_STORE_KMS_KEY")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::from(self.cmd(args).output().expect("run stepwise"))
    }

    /// The run's folder.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.home().join("runs").join(name)
    }

    /// The run's state as JSON.
    pub fn state(&self, name: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.run_dir(name).join("state.json")).expect("state.json");
        serde_json::from_str(&text).expect("state is JSON")
    }

    pub fn status_of(&self, run: &str, step: &str) -> String {
        self.state(run)["steps"][step]["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Every file of a run's folder, concatenated (to look for secrets).
    pub fn everything_on_disk(&self, name: &str) -> String {
        let dir = self.run_dir(name);
        assert!(dir.is_dir(), "no run folder {}", dir.display());
        all_files(&dir)
    }
}

/// Every file under a folder, concatenated.
pub fn all_files(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    all
}
