//! Recording stand-ins for tools that cannot run here (terraform, awsudo, gh, ...): scripts
//! put first on PATH that write the command line they were called with to a log, then do
//! just enough for the runbook to go on.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A folder of stand-ins and the log they write.
pub struct Standins {
    pub bin: PathBuf,
    pub log: PathBuf,
    root: PathBuf,
}

impl Standins {
    /// Stand-ins under `root/bin`, logging to `root/calls.log`; paths in the log are relative
    /// to `root`.
    pub fn new(root: &Path) -> Standins {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        Standins {
            log: root.join("calls.log"),
            bin,
            root: root.to_path_buf(),
        }
    }

    /// Adds a stand-in: it logs `name args... [in DIR]`, then runs `body` (bash) with the
    /// same arguments.
    pub fn add(&self, name: &str, body: &str) {
        let script = format!(
            "#!/usr/bin/env bash\nset -e\n{{ printf '%s' '{name}'; for a in \"$@\"; do printf ' %s' \"$a\"; done; d=\"$PWD\"; printf ' [in %s]\\n' \"${{d#{root}}}\"; }} >> '{log}'\n{body}\n",
            root = self.root.display(),
            log = self.log.display(),
        );
        let path = self.bin.join(name);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The calls made so far, one per line.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// What the stand-ins refused, one per line (they write it to `refused.log`).
    pub fn refusals(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.with_file_name("refused.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// PATH with the stand-ins first (and the project's venv, for the real sops).
    pub fn path(&self) -> String {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin");
        format!(
            "{}:{}:{}",
            self.bin.display(),
            venv.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// `awsudo [-d SECONDS] ROLE COMMAND...`: runs the command (the role is the emulator's business).
pub const AWSUDO: &str = r#"if [ "$1" = "-d" ]; then shift 2; fi; shift; exec "$@""#;

/// Runs a git command in `dir`, failing the test on error.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes a bare repository at `bare` holding `files` (path, content, executable).
pub fn bare_repo(bare: &Path, files: &[(&str, &str, bool)]) {
    let work = bare.with_extension("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    for (path, content, exec) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        if *exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    if !files.is_empty() {
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "initial"]);
    }
    git(
        bare.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
}
