//! A run's history as it is on disk: its journal read back, its steps' logs, and removing a
//! run.

use std::io::{BufRead, BufReader, Seek, SeekFrom};

use super::*;

/// One entry of a run's journal, read back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub at: Timestamp,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// Longest journal line read back; entries are short, a longer line is not one of them.
const MAX_LINE: u64 = 1024 * 1024;

/// The journal entries of run `name` from byte `from` on, and the byte after the last whole
/// line read (where the next read starts: a line being written is read when it is whole).
/// Lines that are not entries are counted, not returned.
pub fn journal(name: &str, from: u64) -> Result<(Vec<Entry>, u64, usize), StoreError> {
    let dir = run_dir(name)?;
    let path = dir.join("journal.jsonl");
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0, 0)),
        Err(e) => return Err(io(&path)(e)),
    };
    file.seek(SeekFrom::Start(from)).map_err(io(&path))?;
    let mut reader = BufReader::new(file);
    let (mut entries, mut at, mut bad) = (Vec::new(), from, 0);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io(&path))?;
        if n == 0 || !line.ends_with(b"\n") {
            if n as u64 >= MAX_LINE {
                // Too long to be an entry: skip to the end of the line.
                bad += 1;
                at += n as u64;
                let mut rest = Vec::new();
                at += reader.read_until(b'\n', &mut rest).map_err(io(&path))? as u64;
                continue;
            }
            break;
        }
        at += n as u64;
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => entries.push(e),
            Err(_) => bad += 1,
        }
    }
    Ok((entries, at, bad))
}

/// The output log of a step of run `name` (it may not exist yet).
pub fn step_log(name: &str, step: &str) -> Result<PathBuf, StoreError> {
    Ok(log_in(&run_dir(name)?, step))
}

/// The log file of a step in a run's folder.
pub(super) fn log_in(dir: &Path, step: &str) -> PathBuf {
    dir.join("logs")
        .join(format!("{}.log", step.replace('/', "__")))
}

/// All runs on disk, most recently updated first. Unreadable runs (a folder whose state
/// cannot be read) are returned as errors naming the path and why; runs being created (hidden
/// folders) are left out.
pub fn list() -> Vec<Result<RunState, StoreError>> {
    let dir = runs_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => return vec![Err(io(&dir)(e))],
    };
    let mut runs: Vec<Result<RunState, StoreError>> = entries
        .map(|e| e.map_err(io(&dir)))
        .filter(|e| {
            e.as_ref().map_or(true, |e| {
                !e.file_name().to_string_lossy().starts_with('.') && e.path().is_dir()
            })
        })
        .map(|e| {
            let run = e?.path();
            let path = run.join("state.json");
            if path.is_file() {
                read_state(&path)
            } else {
                Err(no_state(&run))
            }
        })
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.as_ref().map(|s| s.updated_at).ok()));
    runs
}

/// Which process drives a run right now, as its `lock` file names it; None when no process
/// does. The run's lock is not taken (only tried, shared, for a moment).
pub fn driver(name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    let dir = runs_dir().join(name);
    let folder = File::open(&dir).ok()?;
    match folder.try_lock_shared() {
        Ok(()) => {
            let _ = folder.unlock();
            None
        }
        Err(_) => {
            let holder = fs::read_to_string(dir.join("lock")).unwrap_or_default();
            let holder = holder.trim();
            Some(if holder.is_empty() {
                "unknown process".to_string()
            } else {
                holder.to_string()
            })
        }
    }
}

/// The folder of an existing run.
fn run_dir(name: &str) -> Result<PathBuf, StoreError> {
    let dir = runs_dir().join(name);
    if !valid_name(name) || !dir.is_dir() {
        return Err(StoreError::NotFound(name.to_string()));
    }
    Ok(dir)
}

/// Removes a run. Its lock is taken first, so a run a process drives is refused; the folder
/// is then renamed out of the listing at once (all or nothing) and deleted.
pub fn remove(name: &str) -> Result<(), StoreError> {
    let dir = run_dir(name)?;
    let store = RunStore::lock(name, dir.clone())?;
    let gone = runs_dir().join(format!(".removing-{name}-{}", std::process::id()));
    fs::rename(&dir, &gone).map_err(io(&dir))?;
    drop(store);
    fs::remove_dir_all(&gone).map_err(io(&gone))
}

/// A step definition as it was when it ran, kept by its hash: a diff can show what changed
/// since. Written once per definition; a lost one only means no diff can be shown.
pub(super) fn keep_definition(dir: &Path, hash: &str, text: impl FnOnce() -> String) {
    if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return;
    }
    let folder = dir.join("definitions");
    let path = folder.join(format!("{hash}.yaml"));
    if path.exists() {
        return;
    }
    let tmp = folder.join(format!(".{hash}.{}", std::process::id()));
    let _ = fs::DirBuilder::new().mode(0o700).create(&folder);
    if fs::write(&tmp, text()).is_ok() {
        let _ = fs::rename(&tmp, &path);
    }
}

/// The definition a step had when it ran, by the hash recorded in its state.
pub fn definition(name: &str, hash: &str) -> Option<String> {
    if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    fs::read_to_string(
        run_dir(name)
            .ok()?
            .join("definitions")
            .join(format!("{hash}.yaml")),
    )
    .ok()
}
