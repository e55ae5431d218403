//! The working copy of a run in the store, brought up to it for the readers of the local
//! store; and what a process that does not drive a run writes there.

use super::lease::{entry_key, next_entry};
use super::*;

/// Brings run `name`'s state in its working copy up to the store. `Ok(false)` when the store
/// has no such run (its working copy, if any, is removed unless a process here holds it).
pub fn refresh_state(store: &'static Store, name: &str, dir: &Path) -> Result<bool, StoreError> {
    let Some((state, _)) = store.get(&store.key(name, "state.json"))? else {
        if dir.is_dir() && !held_here(dir) {
            let _ = fs::remove_dir_all(dir);
        }
        return Ok(false);
    };
    place_state(dir, &state)?;
    Ok(true)
}

/// Writes a state read from the store in the working copy `dir`.
pub(super) fn place_state(dir: &Path, state: &[u8]) -> Result<(), StoreError> {
    make_private_dir(&dir.join("logs"))?;
    write_private(&dir.join("state.json"), state)
}

/// Brings run `name`'s working copy up to the store: its state, the journal entries it lacks,
/// the logs that differ and the definitions it lacks. `Ok(false)` as for `refresh_state`.
pub fn refresh(store: &'static Store, name: &str, dir: &Path) -> Result<bool, StoreError> {
    if !refresh_state(store, name, dir)? {
        return Ok(false);
    }
    refresh_rest(store, name, dir)?;
    Ok(true)
}

/// Brings all but the state of a working copy up to the store.
pub(super) fn refresh_rest(
    store: &'static Store,
    name: &str,
    dir: &Path,
) -> Result<(), StoreError> {
    let prefix = store.key(name, "");
    let objects = store.list(&prefix)?;
    let entries: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(&format!("{prefix}journal/")))
        .collect();
    refresh_journal(store, &dir.join("journal.jsonl"), &entries)?;
    refresh_logs(store, dir, &prefix, &objects)?;
    for (key, _) in &objects {
        let Some(file) = key.strip_prefix(&format!("{prefix}definitions/")) else {
            continue;
        };
        let path = dir.join("definitions").join(file);
        if !path.exists()
            && let Some((bytes, _)) = store.get(key)?
        {
            make_private_dir(&dir.join("definitions"))?;
            write_private(&path, &bytes)?;
        }
    }
    Ok(())
}

/// Appends the entries the working copy's journal lacks (one line each, in the store's
/// order); a journal with more lines than the store's entries is made again from them.
fn refresh_journal(
    store: &'static Store,
    path: &Path,
    entries: &[&String],
) -> Result<(), StoreError> {
    let mut have = fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0);
    if have == entries.len() {
        return Ok(());
    }
    let mut options = OpenOptions::new();
    options.create(true).mode(0o600);
    if have > entries.len() {
        options.write(true).truncate(true);
        have = 0;
    } else {
        options.append(true);
    }
    let mut journal = options.open(path).map_err(io(path))?;
    for key in &entries[have..] {
        if let Some((mut line, _)) = store.get(key)? {
            line.retain(|&c| c != b'\n');
            line.push(b'\n');
            journal.write_all(&line).map_err(io(path))?;
        }
    }
    Ok(())
}

/// Brings the logs of a working copy up to the store: each is the whole log the store has
/// (from the step's earlier attempts, or its end), followed by the parts a running step put
/// since. A log of the size it should have is left alone; logs are streamed to disk, never
/// whole in memory.
fn refresh_logs(
    store: &'static Store,
    dir: &Path,
    prefix: &str,
    objects: &[(String, u64)],
) -> Result<(), StoreError> {
    let logs = format!("{prefix}logs/");
    let mut found: HashMap<&str, Log> = HashMap::new();
    for (key, size) in objects {
        let Some(file) = key.strip_prefix(&logs) else {
            continue;
        };
        match file.split_once(".part-") {
            Some((log, offset)) => {
                let offset = offset.parse::<u64>().unwrap_or(u64::MAX);
                found
                    .entry(log)
                    .or_default()
                    .parts
                    .push((offset, key, *size));
            }
            None => found.entry(file).or_default().whole = Some((key, *size)),
        }
    }
    for (file, log) in found {
        let start = log.whole.map_or(0, |(_, size)| size);
        let mut parts: Vec<_> = log.parts.into_iter().filter(|p| p.0 >= start).collect();
        parts.sort();
        let size = start + parts.iter().map(|p| p.2).sum::<u64>();
        let path = dir.join("logs").join(file);
        if fs::metadata(&path).map(|m| m.len()).ok() == Some(size) {
            continue;
        }
        let keys = log
            .whole
            .map(|(k, _)| k)
            .into_iter()
            .chain(parts.iter().map(|p| p.1));
        let mut out = private_file(&path)?;
        for key in keys {
            store.download(key, &mut out)?;
        }
        out.commit().map_err(io(&path))?;
    }
    Ok(())
}

/// A log in the store: its whole object and its parts (offset, key, size).
#[derive(Default)]
struct Log<'a> {
    whole: Option<(&'a String, u64)>,
    parts: Vec<(u64, &'a String, u64)>,
}

/// Removes every object of run `name` from the store but its lock, which the caller holds
/// (and removes when it lets it go).
pub fn remove_objects(store: &'static Store, name: &str) -> Result<(), StoreError> {
    let lock = store.key(name, "lock");
    for (key, _) in store.list(&store.key(name, ""))? {
        if key != lock {
            store.delete(&key, None)?.ok();
        }
    }
    Ok(())
}

/// Adds an entry to run `name`'s journal from a process that does not drive it (`unlock`):
/// the next number, tried again if another writer took it meanwhile.
pub fn append_entry(store: &'static Store, name: &str, line: &[u8]) -> Result<(), StoreError> {
    for _ in 0..5 {
        let n = next_entry(store, name)?;
        if store
            .put_bytes(&entry_key(store, name, n), line.to_vec(), Put::New)?
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(StoreError::Remote {
        what: format!("s3://{}/{}", store.bucket, store.key(name, "journal/")),
        message: "the journal kept changing; the entry was not added".into(),
        hint: None,
    })
}

/// Writes run `name`'s state again, as it is but for the time of the change: a process that
/// still writes over the state it last read (a holder whose lock was taken away) is refused
/// from now on.
pub fn touch_state(store: &'static Store, name: &str) -> Result<(), StoreError> {
    let key = store.key(name, "state.json");
    for _ in 0..5 {
        let Some((bytes, etag)) = store.get(&key)? else {
            return Ok(());
        };
        let mut state: Value = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: PathBuf::from(format!("s3://{}/{key}", store.bucket)),
            message: e.to_string(),
        })?;
        state["updated_at"] = Value::String(Timestamp::now().to_string());
        let bytes = [
            serde_json::to_vec_pretty(&state).unwrap_or(bytes),
            b"\n".to_vec(),
        ]
        .concat();
        if store.put_bytes(&key, bytes, Put::Over(etag))?.is_ok() {
            return Ok(());
        }
    }
    Err(StoreError::Remote {
        what: format!("s3://{}/{key}", store.bucket),
        message: "the state kept changing; it was not written again".into(),
        hint: None,
    })
}

/// Removes run `name`'s lock, whoever holds it now (its holder may renew it meanwhile).
pub fn remove_lock(store: &'static Store, name: &str) -> Result<(), StoreError> {
    let key = store.key(name, "lock");
    for _ in 0..5 {
        // Whatever it holds: only its ETag is needed.
        let Some(etag) = store.head(&key)? else {
            return Ok(());
        };
        if store.delete(&key, Some(&etag))?.is_ok() {
            return Ok(());
        }
    }
    Err(StoreError::Remote {
        what: format!("s3://{}/{}", store.bucket, store.key(name, "lock")),
        message: "the lock kept being renewed; it was not removed".into(),
        hint: None,
    })
}
