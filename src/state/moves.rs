//! Where a run is driven from, and moving runs: to the S3 store and back (`push`, `pull`), and
//! taking a lock from a holder that is gone (`unlock`).

use super::*;
use remote::{LockBody, Mirror, Store};

/// A machine (a `STEPWISE_HOME` on a host) a run was driven from, and the folder it ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub host: String,
    pub home: PathBuf,
    pub machine: String,
    pub workdir: PathBuf,
}

impl Place {
    /// This machine, running in `workdir`.
    pub fn here(workdir: PathBuf) -> Place {
        Place {
            host: who().1,
            home: home(),
            machine: remote::machine_id(),
            workdir,
        }
    }

    /// Whether it is this machine.
    pub fn is_here(&self) -> bool {
        self.machine == remote::machine_id()
    }
}

impl RunState {
    /// Where the run was last driven, when that was another machine.
    pub fn driven_elsewhere(&self) -> Option<&Place> {
        self.driven_on.as_ref().filter(|p| !p.is_here())
    }
}

/// Takes away the lock of run `name` from a holder that stopped renewing it (one that renews
/// it still is refused unless `force`), with a `run.unlocked` journal entry. Returns the
/// holder, or `None` when nothing held the run. In the local store a lock ends with its
/// process: only whether one holds the run is said.
pub fn unlock(name: &str, force: bool) -> Result<Option<String>, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::NotFound(name.to_string()));
    }
    let Some(remote) = remote::chosen() else {
        if !runs_dir().join(name).is_dir() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        return match history::driver(name) {
            Some(holder) => Err(StoreError::Locked {
                name: name.to_string(),
                holder,
            }),
            None => Ok(None),
        };
    };
    let lock = match remote::read_lock(remote, name) {
        Ok(Some((lock, _))) => Some(lock),
        Ok(None) if !exists(name) => return Err(StoreError::NotFound(name.to_string())),
        Ok(None) => return Ok(None),
        // A lock object that is not one (written by hand, cut short) says no holder: only
        // `--force` takes it away.
        Err(StoreError::Remote { .. }) if force => None,
        Err(e) => return Err(e),
    };
    let holder = lock.as_ref().map_or_else(
        || "a lock object that cannot be read".into(),
        LockBody::holder,
    );
    if lock.as_ref().is_some_and(LockBody::fresh) && !force {
        return Err(StoreError::Fresh {
            name: name.to_string(),
            holder,
        });
    }
    // The entry first: it takes the journal's next number, so the old holder's next entry is
    // refused; then the state, written again, so its next state is refused too; then the lock.
    let result = format!("took the lock from {holder}");
    remote::append_entry(
        remote,
        name,
        &entry_line("run.unlocked", None, Some(&result)),
    )?;
    remote::touch_state(remote, name)?;
    remote::remove_lock(remote, name)?;
    Ok(Some(holder))
}

/// Moves run `name` from the local store to the S3 store `remote`: refused when a process
/// drives it or the store has a run of that name. The state goes last, so that the run is in
/// the store only once it is whole there; the local run is removed after.
pub fn push(remote: &'static Store, name: &str) -> Result<(), StoreError> {
    let dir = local_runs().join(name);
    if !valid_name(name) || !dir.join("state.json").is_file() {
        return Err(StoreError::NotFound(name.to_string()));
    }
    let local = RunStore::lock(name, dir.clone())?;
    let mut mirror = Mirror::lock(remote, name)?;
    if mirror.read_state()?.is_some() {
        return Err(StoreError::Exists(name.to_string()));
    }
    // What a push cut short left there.
    remote::remove_objects(remote, name)?;
    mirror.journal_from_start();
    let journal = fs::read(dir.join("journal.jsonl")).unwrap_or_default();
    for line in journal.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let mut line = line.to_vec();
        line.push(b'\n');
        mirror.journal(&line)?;
    }
    let to = format!("to {}", remote.url());
    mirror.journal(&entry_line("run.pushed", None, Some(&to)))?;
    for folder in ["logs", "definitions"] {
        for entry in fs::read_dir(dir.join(folder))
            .into_iter()
            .flatten()
            .flatten()
        {
            let file = entry.file_name().to_string_lossy().into_owned();
            if !file.starts_with('.') && entry.path().is_file() {
                remote.put_file(
                    &remote.key(name, &format!("{folder}/{file}")),
                    &entry.path(),
                )?;
            }
        }
    }
    let state = fs::read(dir.join("state.json")).map_err(io(&dir))?;
    mirror.save(&state)?;
    drop(mirror);
    discard(&dir, local)
}

/// Moves run `name` from the S3 store `remote` to the local store: refused when a process
/// drives it or a local run has that name. The run is made whole in a hidden folder and
/// renamed into place before the store's objects are removed.
pub fn pull(remote: &'static Store, name: &str) -> Result<(), StoreError> {
    let runs = local_runs();
    if !valid_name(name) {
        return Err(StoreError::NotFound(name.to_string()));
    }
    if runs.join(name).symlink_metadata().is_ok() {
        return Err(StoreError::Exists(name.to_string()));
    }
    let mut mirror = Mirror::lock(remote, name)?;
    make_private_dir(&runs)?;
    let build = Build::new(&runs, name)?;
    if !mirror.refresh(&build.dir)? {
        return Err(StoreError::NotFound(name.to_string()));
    }
    let from = format!("from {}", remote.url());
    open_journal(&build.dir)?
        .write_all(&entry_line("run.pulled", None, Some(&from)))
        .map_err(io(&build.dir.join("journal.jsonl")))?;
    match fs::rename(&build.dir, runs.join(name)) {
        Ok(()) => build.placed(),
        Err(_) => return Err(StoreError::Exists(name.to_string())),
    }
    remote::remove_objects(remote, name)?;
    drop(mirror);
    Ok(())
}
