//! The run store: each run's progress on disk.
//!
//! A run lives in its own folder under the data directory (`STEPWISE_HOME` overrides it):
//! `state.json` (inputs and each step's status, rewritten atomically and durably on every
//! change), `journal.jsonl` (an append-only record of what happened, by whom, where), `logs/`
//! (each step's output) and `lock` (naming the one process driving the run). Secret values
//! never reach any of these files: the engine masks them before anything is written.
//!
//! The process driving a run holds a lock on the run's folder itself (and on `lock`, which an
//! older stepwise locks): deleting the `lock` file does not let a second process in.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

mod checked;
mod error;
mod history;
mod moves;
pub mod remote;
pub use checked::{Held, LastCheck};
pub use error::StoreError;
pub use history::{Entry, definition, driver, journal, list, remove, step_log};
pub use moves::{Place, pull, push, unlock};

/// Version of the `state.json` layout.
pub const STATE_VERSION: u32 = 1;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Satisfied,
    Interrupted,
    Waiting,
}

impl Status {
    /// Whether the step is finished and the run can move past it.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Skipped | Status::Satisfied
        )
    }

    /// Whether a run has moved past a step at this status: it is done, or it failed and the
    /// step goes on after a failure (`continue_on_error`). The one home of the rule: the
    /// engine asks it with what the runbook says, a listing with what was recorded.
    pub fn moved_past(self, goes_on_after_failure: bool) -> bool {
        self.is_done() || (self == Status::Failed && goes_on_after_failure)
    }

    /// The word used in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Satisfied => "satisfied",
            Status::Interrupted => "interrupted",
            Status::Waiting => "waiting",
        }
    }
}

/// An input's recorded value; a secret's value is never recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputValue {
    Value { value: String },
    Secret { secret: bool },
}

/// One step's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub status: Status,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Output values; secret outputs are listed in `secret_outputs` and have no value here.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_outputs: Vec<String>,
    /// The hash of the step's definition when it last ran.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definition_hash: String,
    /// Why it failed, was skipped, or is waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The step failed, and the run went on past it (`continue_on_error`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continued: bool,
    /// For an include step: the inputs its runbook received (secrets left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<IndexMap<String, InputValue>>,
    /// While the step's script runs (and after, if the process driving it died): the id of
    /// its process group, which is bash's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i32>,
    /// With `pgid`: when bash started, in clock ticks after boot (field 22 of
    /// `/proc/PID/stat`), so that a later process with the same number is not taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid_started: Option<u64>,
}

/// The runbook a run follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookRef {
    pub path: PathBuf,
    pub id: String,
    pub title: String,
    pub hash: String,
}

/// Everything recorded about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub version: u32,
    pub name: String,
    pub runbook: RunbookRef,
    /// The directory the run was started in; relative paths in steps resolve against it.
    pub workdir: PathBuf,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub inputs: IndexMap<String, InputValue>,
    /// Each step by key, in plan order.
    pub steps: IndexMap<String, StepState>,
    /// Where the run was last driven from (absent in runs made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driven_on: Option<Place>,
    /// What `stepwise check` found when it last re-checked the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<LastCheck>,
}

impl StepState {
    /// Whether the run has moved past this step: it is done, or it failed and the run was
    /// told to go on.
    pub fn is_settled(&self) -> bool {
        self.status.moved_past(self.continued)
    }
}

impl RunState {
    /// Counts steps the run has moved past.
    pub fn done(&self) -> usize {
        self.steps.values().filter(|s| s.is_settled()).count()
    }

    /// The first step the run has not moved past, with its state.
    pub fn current(&self) -> Option<(&str, &StepState)> {
        self.steps
            .iter()
            .find(|(_, s)| !s.is_settled())
            .map(|(k, s)| (k.as_str(), s))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The folder holding all runs.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("STEPWISE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    directories::ProjectDirs::from("", "", "stepwise")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".stepwise"))
}

/// The folder of the runs: the local store's, or the working copies of the chosen S3 store.
fn runs_dir() -> PathBuf {
    match remote::chosen() {
        Some(store) => store.cache_dir(&home()).join("runs"),
        None => local_runs(),
    }
}

/// The local store's folder of runs.
fn local_runs() -> PathBuf {
    home().join("runs")
}

/// Whether a run may have this name: letters, digits, `.`, `-` and `_`, not starting with `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Makes a run name from free text: `My Hub!` becomes `my-hub`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '.']).chars().take(100).collect()
}

/// Who is acting: the user and host recorded in the journal and the lock.
pub fn who() -> (String, String) {
    static WHO: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    WHO.get_or_init(who_now).clone()
}

fn who_now() -> (String, String) {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    (user, host)
}

/// An open run: its folder, held by this process.
pub struct RunStore {
    dir: PathBuf,
    /// The run's folder, locked while this process drives the run.
    _folder: File,
    /// The `lock` file, locked too, and naming this process.
    _lock: File,
    journal: File,
    /// Each step's state as last written, with its JSON, so that a save serializes only the
    /// steps that changed: a run of many steps stays linear, not quadratic.
    written: std::collections::HashMap<String, (StepState, Box<RawValue>)>,
    /// With an S3 store: the run's lock there, and what is written to it.
    mirror: Option<remote::Mirror>,
}

/// `RunState` as written: the same fields, with each step's JSON taken from the cache.
#[derive(Serialize)]
struct StateOnDisk<'a> {
    version: u32,
    name: &'a str,
    runbook: &'a RunbookRef,
    workdir: &'a Path,
    created_at: Timestamp,
    updated_at: Timestamp,
    inputs: &'a IndexMap<String, InputValue>,
    steps: IndexMap<&'a str, &'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driven_on: Option<&'a Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_check: Option<&'a LastCheck>,
}

impl RunStore {
    /// Creates the folder of a new run, with its state and the journal's `run.created` entry,
    /// and takes its lock. All or nothing: the run is made whole in a hidden folder
    /// (`runs/.NAME.tmp-XXXXXX`) and renamed into place, so that a full disk or a crash never
    /// leaves a run without its state; on failure the hidden folder is removed (or, after a
    /// crash, by a later `create`).
    pub fn create(state: &RunState) -> Result<RunStore, StoreError> {
        if !valid_name(&state.name) {
            return Err(StoreError::BadName(state.name.clone()));
        }
        // With an S3 store, its lock first: the name is then this process's to make there.
        let mirror = match remote::chosen() {
            Some(remote) => {
                let mut mirror = remote::Mirror::lock(remote, &state.name)?;
                if mirror.read_state()?.is_some() {
                    return Err(StoreError::Exists(state.name.clone()));
                }
                Some(mirror)
            }
            None => None,
        };
        let runs = runs_dir();
        make_private_dir(&runs)?;
        let dir = runs.join(&state.name);
        if dir.symlink_metadata().is_ok() {
            // A working copy of a run the S3 store no longer has goes.
            if mirror.is_none() || held_here(&dir) || fs::remove_dir_all(&dir).is_err() {
                return Err(StoreError::Exists(state.name.clone()));
            }
        }
        remove_abandoned_builds(&runs);
        let build = Build::new(&runs, &state.name)?;
        make_private_dir(&build.dir.join("logs"))?;
        let mut store = RunStore::lock(&state.name, build.dir.clone())?;
        store.mirror = mirror;
        store.save(state)?;
        let runbook = format!("runbook {}", state.runbook.path.display());
        store.journal("run.created", None, Some(&runbook))?;
        // A run's folder is never empty, and renaming a folder onto a folder that is not empty
        // fails: a run of the same name made meanwhile is never replaced.
        match fs::rename(&build.dir, &dir) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                ) =>
            {
                return Err(StoreError::Exists(state.name.clone()));
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        build.placed();
        // The lock and the journal stay open across the rename: they are the same files.
        store.dir = dir;
        File::open(&runs)
            .and_then(|d| d.sync_all())
            .map_err(io(&runs))?;
        Ok(store)
    }

    /// Opens an existing run and takes its lock.
    pub fn open(name: &str) -> Result<(RunStore, RunState), StoreError> {
        if !valid_name(name) {
            return Err(StoreError::NotFound(name.to_string()));
        }
        let dir = runs_dir().join(name);
        let mirror = match remote::chosen() {
            Some(remote) => {
                // The lock in the store, then the working copy as the store has it.
                let mut mirror = remote::Mirror::lock(remote, name)?;
                if !mirror.refresh(&dir)? {
                    return Err(StoreError::NotFound(name.to_string()));
                }
                mirror.settle_left_parts(&dir)?;
                Some(mirror)
            }
            None => None,
        };
        if !dir.join("state.json").is_file() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        let mut store = RunStore::lock(name, dir)?;
        let state = read_state(&store.dir.join("state.json"))?;
        store.mirror = mirror;
        Ok((store, state))
    }

    fn lock(name: &str, dir: PathBuf) -> Result<RunStore, StoreError> {
        // The folder is what is locked: it cannot be deleted from under the lock as the `lock`
        // file can (a run's folder is not removed while it is driven).
        let folder = File::open(&dir).map_err(io(&dir))?;
        let path = dir.join("lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        let refused = |lock: &mut File| {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "unknown process".to_string()
            } else {
                holder.to_string()
            };
            StoreError::Locked {
                name: name.to_string(),
                holder,
            }
        };
        // A listing asking whether the run is driven holds a shared lock for a moment: a few
        // tries tell it from a process driving the run.
        let mut tries = 0;
        loop {
            match folder.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if tries < 5 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(refused(&mut lock)),
                Err(fs::TryLockError::Error(e)) => return Err(io(&dir)(e)),
            }
        }
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(refused(&mut lock)),
            Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let (user, host) = who();
        let since = Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC");
        lock.set_len(0).map_err(io(&path))?;
        write!(
            lock,
            "pid {} by {user}@{host} since {since}",
            std::process::id()
        )
        .map_err(io(&path))?;
        let journal = open_journal(&dir)?;
        Ok(RunStore {
            dir,
            _folder: folder,
            _lock: lock,
            journal,
            written: std::collections::HashMap::new(),
            mirror: None,
        })
    }

    /// Writes the state atomically and durably: the old or the new state is on disk, whole,
    /// whatever happens, and the new one is there before this returns.
    pub fn save(&mut self, state: &RunState) -> Result<(), StoreError> {
        self.write(state, None)
    }

    /// Appends a journal entry and writes the state, as `journal` and `save` do; with an S3
    /// store, the two are put at once.
    pub fn record(
        &mut self,
        state: &RunState,
        what: &str,
        step: Option<&str>,
        result: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(state, Some(&entry_line(what, step, result)))
    }

    /// Writes the state, after the journal entry `line` when given (with an S3 store, both go
    /// there first, at once).
    fn write(&mut self, state: &RunState, line: Option<&[u8]>) -> Result<(), StoreError> {
        let path = self.dir.join("state.json");
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut moved = Vec::new();
        for (key, step) in &state.steps {
            let old = self.written.get(key).map(|(old, _)| old);
            if old.is_none_or(|old| old != step) {
                // A step that started (again) or ended since the last write; the first write
                // of a process records where steps stand, with their logs already there.
                if self.mirror.is_some()
                    && old.is_some_and(|old| {
                        old.status != step.status || old.attempts != step.attempts
                    })
                {
                    moved.push((key.as_str(), step.status));
                }
                let json = serde_json::value::to_raw_value(step).map_err(corrupt)?;
                self.written.insert(key.clone(), (step.clone(), json));
            }
        }
        let steps = state
            .steps
            .keys()
            .filter_map(|k| {
                self.written
                    .get(k)
                    .map(|(_, json)| (k.as_str(), json.as_ref()))
            })
            .collect();
        let on_disk = StateOnDisk {
            version: state.version,
            name: &state.name,
            runbook: &state.runbook,
            workdir: &state.workdir,
            created_at: state.created_at,
            updated_at: state.updated_at,
            inputs: &state.inputs,
            steps,
            driven_on: state.driven_on.as_ref(),
            last_check: state.last_check.as_ref(),
        };
        let mut bytes = serde_json::to_vec_pretty(&on_disk).map_err(corrupt)?;
        bytes.push(b'\n');
        if let Some(mirror) = self.mirror.as_mut() {
            // A step's log goes to the store in parts while it runs, and whole when it ends.
            for (key, status) in moved {
                let log = history::log_in(&self.dir, key);
                if status == Status::Running {
                    mirror.step_started(key, log);
                } else {
                    mirror.step_ended(key, &log);
                }
            }
            match line {
                Some(line) => mirror.journal_and_save(line, &bytes)?,
                None => mirror.save(&bytes)?,
            }
        }
        if let Some(line) = line {
            self.append(line)?;
        }
        write_private(&path, &bytes)
    }

    /// Appends one entry to the journal: who, on which host, when, what, and the result.
    pub fn journal(
        &mut self,
        what: &str,
        step: Option<&str>,
        result: Option<&str>,
    ) -> Result<(), StoreError> {
        let line = entry_line(what, step, result);
        if let Some(mirror) = self.mirror.as_mut() {
            mirror.journal(&line)?;
        }
        self.append(&line)
    }

    /// Appends a journal line to the local journal. One write call per entry, on a file
    /// opened for appending: entries never interleave or tear, even with a crash right after.
    fn append(&mut self, line: &[u8]) -> Result<(), StoreError> {
        let path = self.dir.join("journal.jsonl");
        self.journal.write_all(line).map_err(io(&path))
    }

    /// Keeps a step's definition by its hash (see `definition`); `text` is made only when
    /// that definition is not kept yet.
    pub fn keep_definition(&self, hash: &str, text: impl FnOnce() -> String) {
        let kept = history::keep_definition(&self.dir, hash, text);
        if let (Some(mirror), Some(path)) = (&self.mirror, kept) {
            mirror.keep_definition(hash, &path);
        }
    }

    /// The log file of a step.
    pub fn log_path(&self, step: &str) -> PathBuf {
        history::log_in(&self.dir, step)
    }
}

/// The journal of the run in `dir`, opened for appending (made, private, when it is not there).
fn open_journal(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("journal.jsonl");
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))
}

/// A journal entry made now by this process, as a line.
fn entry_line(what: &str, step: Option<&str>, result: Option<&str>) -> Vec<u8> {
    let (user, host) = who();
    let entry = JournalEntry {
        at: Timestamp::now(),
        user: &user,
        host: &host,
        pid: std::process::id(),
        what,
        step,
        result,
    };
    let mut line = serde_json::to_vec(&entry).unwrap_or_default();
    line.push(b'\n');
    line
}

/// One journal line.
#[derive(Serialize)]
struct JournalEntry<'a> {
    at: Timestamp,
    user: &'a str,
    host: &'a str,
    pid: u32,
    what: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a str>,
}

/// A file written atomically and durably, readable by its owner only: the old or the new
/// content is there, whole, whatever happens. Written with `commit`.
fn private_file(path: &Path) -> Result<atomic_write_file::AtomicWriteFile, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let file = atomic_write_file::AtomicWriteFile::open(path).map_err(io(path))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io(path))?;
    Ok(file)
}

/// Writes `bytes` as a `private_file`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = private_file(path)?;
    file.write_all(bytes).map_err(io(path))?;
    file.commit().map_err(io(path))
}

/// Whether a process on this machine holds a run's folder (its lock), asked without taking
/// it: a shared lock tried for a moment.
fn held_here(dir: &Path) -> bool {
    let Ok(folder) = File::open(dir) else {
        return false;
    };
    match folder.try_lock_shared() {
        Ok(()) => {
            let _ = folder.unlock();
            false
        }
        Err(_) => true,
    }
}

/// Removes the folder of a run `held` (its lock taken, so no process drives it): renamed out
/// of the listing at once (all or nothing), then deleted.
fn discard(dir: &Path, held: RunStore) -> Result<(), StoreError> {
    let runs = dir.parent().unwrap_or(dir);
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let gone = runs.join(format!(".removing-{name}-{}", std::process::id()));
    fs::rename(dir, &gone).map_err(io(dir))?;
    drop(held);
    fs::remove_dir_all(&gone).map_err(io(&gone))
}

fn make_private_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

/// A run being made by `RunStore::create`, in its hidden folder; removed when dropped, unless
/// it was placed.
struct Build {
    dir: PathBuf,
    placed: bool,
}

/// How the hidden folders are named: `.NAME.tmp-XXXXXX`.
const BUILD_MARK: &str = ".tmp-";

impl Build {
    fn new(runs: &Path, name: &str) -> Result<Build, StoreError> {
        let template = runs.join(format!(".{name}{BUILD_MARK}XXXXXX"));
        let dir = nix::unistd::mkdtemp(&template).map_err(|e| StoreError::Io {
            path: template,
            source: e.into(),
        })?;
        Ok(Build { dir, placed: false })
    }

    fn placed(mut self) {
        self.placed = true;
    }
}

impl Drop for Build {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes hidden folders left by a `create` that crashed: older than a minute (a creation
/// takes milliseconds) and with no process holding their lock.
fn remove_abandoned_builds(runs: &Path) {
    let Ok(entries) = fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.contains(BUILD_MARK)) {
            continue;
        }
        let dir = entry.path();
        let old = dir
            .symlink_metadata()
            .ok()
            .filter(|m| m.is_dir())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        let held = OpenOptions::new()
            .write(true)
            .open(dir.join("lock"))
            .is_ok_and(|f| matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)));
        if old && !held {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

fn read_state(path: &Path) -> Result<RunState, StoreError> {
    let bytes = fs::read(path).map_err(io(path))?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // The version first: a layout this stepwise does not know is refused as such, rather than
    // as whatever field it happens to trip on.
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let Versioned { version } = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if version != STATE_VERSION {
        return Err(StoreError::UnknownVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    serde_json::from_slice(&bytes).map_err(corrupt)
}

/// Reads a run's state without taking its lock (for listings).
pub fn peek(name: &str) -> Result<RunState, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::NotFound(name.to_string()));
    }
    let dir = runs_dir().join(name);
    if let Some(remote) = remote::chosen()
        && !remote::refresh_state(remote, name, &dir)?
    {
        return Err(StoreError::NotFound(name.to_string()));
    }
    let path = dir.join("state.json");
    if !path.is_file() {
        if dir.is_dir() {
            return Err(no_state(&dir));
        }
        return Err(StoreError::NotFound(name.to_string()));
    }
    read_state(&path)
}

/// A run's folder that has no state: left by a stepwise older than the all-or-nothing
/// `create`, or by hand.
fn no_state(dir: &Path) -> StoreError {
    StoreError::Unfinished {
        dir: dir.to_path_buf(),
    }
}

/// Whether a run of this name exists.
pub fn exists(name: &str) -> bool {
    if let Some(remote) = remote::chosen() {
        return valid_name(name)
            && remote
                .get(&remote.key(name, "state.json"))
                .is_ok_and(|s| s.is_some());
    }
    valid_name(name) && runs_dir().join(name).exists()
}

#[cfg(test)]
mod tests;
