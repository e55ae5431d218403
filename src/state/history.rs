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
    read_journal(&synced(name)?.join("journal.jsonl"), from)
}

fn read_journal(path: &Path, from: u64) -> Result<(Vec<Entry>, u64, usize), StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0, 0)),
        Err(e) => return Err(io(path)(e)),
    };
    file.seek(SeekFrom::Start(from)).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let (mut entries, mut at, mut bad) = (Vec::new(), from, 0);
    let mut line = Vec::new();
    // A piece of at most `MAX_LINE` bytes, up to and with its new line: a line longer than
    // that (not an entry) is never all in memory.
    let mut piece = |line: &mut Vec<u8>| -> Result<usize, StoreError> {
        line.clear();
        (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', line)
            .map_err(io(path))
    };
    loop {
        let n = piece(&mut line)?;
        if n as u64 >= MAX_LINE && !line.ends_with(b"\n") {
            // Too long to be an entry: skip to the end of the line.
            bad += 1;
            at += n as u64;
            loop {
                let k = piece(&mut line)?;
                at += k as u64;
                if k == 0 || line.ends_with(b"\n") {
                    break;
                }
            }
            continue;
        }
        // The end, or a line still being written: read when it is whole.
        if n == 0 || !line.ends_with(b"\n") {
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
    Ok(log_in(&synced(name)?, step))
}

/// The folder of an existing run, brought up to the S3 store when one is chosen.
fn synced(name: &str) -> Result<PathBuf, StoreError> {
    if let Some(remote) = remote::chosen()
        && valid_name(name)
        && !remote::refresh(remote, name, &runs_dir().join(name))?
    {
        return Err(StoreError::NotFound(name.to_string()));
    }
    run_dir(name)
}

/// The log file of a step in a run's folder.
pub(super) fn log_in(dir: &Path, step: &str) -> PathBuf {
    dir.join("logs")
        .join(format!("{}.log", step.replace('/', "__")))
}

/// All runs on disk, most recently updated first. Unreadable runs (a folder whose state
/// cannot be read) are returned as errors naming the path and why; runs being created (hidden
/// folders) are left out. The error is the S3 store's, when it cannot be listed.
pub fn list() -> Result<Vec<Result<RunState, StoreError>>, StoreError> {
    let dir = runs_dir();
    if let Some(remote) = remote::chosen() {
        refresh_all(remote, &dir)?;
    }
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Ok(vec![Err(io(&dir)(e))]),
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
    Ok(runs)
}

/// Brings the working copies' states up to the S3 store: every run it has, and none it has
/// not (unless a process here holds it).
fn refresh_all(remote: &'static remote::Store, dir: &Path) -> Result<(), StoreError> {
    let names = remote.names()?;
    for name in &names {
        remote::refresh_state(remote, name, &dir.join(name))?;
    }
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if valid_name(&name) && !names.contains(&name) && !held_here(&entry.path()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Which process drives a run right now, as its `lock` file names it (with an S3 store, its
/// lock object); None when no process does. The run's lock is not taken (only tried, shared,
/// for a moment).
pub fn driver(name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    if let Some(remote) = remote::chosen() {
        // A lock its holder stopped renewing names no driver: the run waits for `unlock`.
        return remote::read_lock(remote, name)
            .ok()
            .flatten()
            .filter(|(lock, _)| lock.fresh())
            .map(|(lock, _)| lock.holder());
    }
    let dir = runs_dir().join(name);
    if !held_here(&dir) {
        return None;
    }
    let holder = fs::read_to_string(dir.join("lock")).unwrap_or_default();
    let holder = holder.trim();
    Some(if holder.is_empty() {
        "unknown process".to_string()
    } else {
        holder.to_string()
    })
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
    if let Some(remote) = remote::chosen() {
        // Its lock in the store first: a run driven anywhere is refused.
        let mirror = remote::Mirror::lock(remote, name)?;
        if !remote::refresh_state(remote, name, &runs_dir().join(name))? {
            return Err(StoreError::NotFound(name.to_string()));
        }
        remote::remove_objects(remote, name)?;
        drop(mirror);
    }
    let dir = run_dir(name)?;
    let held = RunStore::lock(name, dir.clone())?;
    discard(&dir, held)
}

/// A step definition as it was when it ran, kept by its hash: a diff can show what changed
/// since. Written once per definition; a lost one only means no diff can be shown.
/// Returns the file when it was written now.
pub(super) fn keep_definition(
    dir: &Path,
    hash: &str,
    text: impl FnOnce() -> String,
) -> Option<PathBuf> {
    if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let folder = dir.join("definitions");
    let path = folder.join(format!("{hash}.yaml"));
    if path.exists() {
        return None;
    }
    let tmp = folder.join(format!(".{hash}.{}", std::process::id()));
    let _ = fs::DirBuilder::new().mode(0o700).create(&folder);
    (fs::write(&tmp, text()).is_ok() && fs::rename(&tmp, &path).is_ok()).then_some(path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_read_in_bounded_pieces_and_a_line_being_written_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let entry = r#"{"at":"2026-12-01T10:00:00Z","user":"ada","host":"laptop","pid":7,"what":"run.created"}"#;
        // An entry, a line far too long to be one (no entry is that long), an entry, and a
        // line still being written.
        let mut text = format!("{entry}\n{}\n{entry}\n", "x".repeat(3 * MAX_LINE as usize));
        let whole = text.len() as u64;
        text.push_str("{\"at\":");
        std::fs::write(&path, &text).unwrap();
        let (entries, next, bad) = read_journal(&path, 0).unwrap();
        assert_eq!((entries.len(), bad), (2, 1));
        assert_eq!(entries[1].what, "run.created");
        assert_eq!(next, whole, "the partial line is read when it is whole");
        let (more, _, _) = read_journal(&path, next).unwrap();
        assert!(more.is_empty());
    }
}
