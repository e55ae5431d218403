//! The run's lock in the store, renewed while a process drives the run, and what that
//! process writes there: the state, the journal, the logs and the definitions.

use super::*;

/// What the `lock` object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockBody {
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub machine: String,
    pub since: Timestamp,
    pub renewed: Timestamp,
    pub until: Timestamp,
}

impl LockBody {
    /// `pid N by USER@HOST since ..., last renewed 3 s ago`.
    pub fn holder(&self) -> String {
        let ago = Timestamp::now()
            .duration_since(self.renewed)
            .as_secs()
            .max(0);
        format!(
            "pid {} by {}@{} since {}, last renewed {ago} s ago",
            self.pid,
            self.user,
            self.host,
            self.since.strftime("%Y-%m-%d %H:%M:%S UTC")
        )
    }

    /// Whether its holder renewed it within its lease.
    pub fn fresh(&self) -> bool {
        Timestamp::now() < self.until
    }

    fn renewed_now(&self) -> LockBody {
        let now = Timestamp::now();
        LockBody {
            renewed: now,
            until: now + LEASE,
            ..self.clone()
        }
    }
}

/// The lock of run `name` as it is in the store, with its ETag.
pub fn read_lock(
    store: &'static Store,
    name: &str,
) -> Result<Option<(LockBody, String)>, StoreError> {
    let key = store.key(name, "lock");
    let unlock = || format!("if no process drives it, `stepwise unlock {name} --force`");
    let got = store.get(&key).map_err(|e| match e {
        // Too big to be a lock: not one.
        StoreError::Remote {
            what,
            message,
            hint: None,
        } => StoreError::Remote {
            what,
            message,
            hint: Some(unlock()),
        },
        e => e,
    })?;
    let Some((bytes, etag)) = got else {
        return Ok(None);
    };
    let body = serde_json::from_slice(&bytes).map_err(|e| StoreError::Remote {
        what: format!("s3://{}/{key}", store.bucket),
        message: format!("the lock cannot be read: {e}"),
        hint: Some(unlock()),
    })?;
    Ok(Some((body, etag)))
}

/// The lock this process holds, renewed by its keeper thread.
struct Lease {
    etag: Mutex<String>,
    /// Why this process no longer holds the run, once it does not.
    lost: Mutex<Option<String>>,
    stop: (Mutex<bool>, Condvar),
}

/// A running step's log, and how much of it is in the store.
struct Running {
    path: PathBuf,
    sent: u64,
}

/// What is put off the engine's way: logs and definitions, which the run does not wait for.
enum Upload {
    /// A step's whole log; its parts are removed after, when it had any.
    Log {
        path: PathBuf,
        parts: bool,
    },
    Definition {
        hash: String,
        path: PathBuf,
    },
}

/// What a driving process keeps of the store: its lock, the state's ETag, the journal's next
/// number, the running steps' logs, and the uploads under way.
pub struct Mirror {
    store: &'static Store,
    name: String,
    state_etag: Option<String>,
    next_entry: u64,
    lease: Arc<Lease>,
    running: Arc<Mutex<HashMap<String, Running>>>,
    keeper: Option<std::thread::JoinHandle<()>>,
    uploads: Option<std::sync::mpsc::Sender<Upload>>,
    uploader: Option<std::thread::JoinHandle<()>>,
}

impl Mirror {
    /// Takes the lock of run `name`: refused, naming the holder, when another process anywhere
    /// holds it.
    pub fn lock(store: &'static Store, name: &str) -> Result<Mirror, StoreError> {
        let (user, host) = who();
        let now = Timestamp::now();
        let body = LockBody {
            user,
            host,
            pid: std::process::id(),
            machine: machine_id(),
            since: now,
            renewed: now,
            until: now + LEASE,
        };
        let key = store.key(name, "lock");
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let etag = match store.put_bytes(&key, bytes, Put::New)? {
            Ok(etag) => etag,
            Err(Conflict) => {
                let holder = read_lock(store, name)?
                    .map(|(b, _)| b.holder())
                    .unwrap_or_else(|| "a process that has just let it go".into());
                return Err(StoreError::Locked {
                    name: name.to_string(),
                    holder,
                });
            }
        };
        let lease = Arc::new(Lease {
            etag: Mutex::new(etag),
            lost: Mutex::new(None),
            stop: (Mutex::new(false), Condvar::new()),
        });
        let running = Arc::new(Mutex::new(HashMap::new()));
        let keeper = {
            let (lease, running, name) = (lease.clone(), running.clone(), name.to_string());
            std::thread::Builder::new()
                .name("stepwise-lease".into())
                .spawn(move || keep(store, &name, body, &lease, &running))
                .ok()
        };
        let (uploads, queue) = std::sync::mpsc::channel();
        let uploader = {
            let name = name.to_string();
            std::thread::Builder::new()
                .name("stepwise-upload".into())
                .spawn(move || upload(store, &name, &queue))
                .ok()
        };
        let mut mirror = Mirror {
            store,
            name: name.to_string(),
            state_etag: None,
            next_entry: 1,
            lease,
            running,
            keeper,
            uploads: Some(uploads),
            uploader,
        };
        mirror.next_entry = next_entry(store, name)?;
        Ok(mirror)
    }

    fn lost(&self, why: impl Into<String>) -> StoreError {
        let why = why.into();
        if let Ok(mut lost) = self.lease.lost.lock() {
            lost.get_or_insert(why.clone());
        }
        StoreError::Lost {
            name: self.name.clone(),
            why,
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        let lost = self.lease.lost.lock().ok().and_then(|l| l.clone());
        match lost {
            Some(why) => Err(StoreError::Lost {
                name: self.name.clone(),
                why,
            }),
            None => Ok(()),
        }
    }

    /// Reads the run's state as the store has it, and remembers its ETag for the next write.
    pub fn read_state(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((bytes, etag)) = self.store.get(&self.store.key(&self.name, "state.json"))? else {
            return Ok(None);
        };
        self.state_etag = Some(etag);
        Ok(Some(bytes))
    }

    /// Brings the working copy `dir` up to the store, with the state read here (and its ETag
    /// remembered); `false` when the store has no such run.
    pub fn refresh(&mut self, dir: &Path) -> Result<bool, StoreError> {
        let Some(state) = self.read_state()? else {
            return Ok(false);
        };
        super::copy::place_state(dir, &state)?;
        super::copy::refresh_rest(self.store, &self.name, dir)?;
        Ok(true)
    }

    /// The state's put: over the state this process last read or wrote.
    fn state_put(&self, bytes: &[u8]) -> (String, Vec<u8>, Put) {
        let when = match &self.state_etag {
            Some(etag) => Put::Over(etag.clone()),
            None => Put::New,
        };
        (
            self.store.key(&self.name, "state.json"),
            bytes.to_vec(),
            when,
        )
    }

    /// Puts the journal entry `line` and the state, each when given, at once; both are in
    /// the store when this returns. One entry at a time: a later entry is never in the
    /// store without an earlier one.
    fn put(&mut self, line: Option<&[u8]>, state: Option<&[u8]>) -> Result<(), StoreError> {
        self.check()?;
        let entry = line.map(|line| {
            let key = entry_key(self.store, &self.name, self.next_entry);
            (key, line.to_vec(), Put::New)
        });
        let journaled = entry.is_some();
        let puts = entry
            .into_iter()
            .chain(state.map(|b| self.state_put(b)))
            .collect();
        let mut answers = self.store.put_all(puts)?.into_iter();
        if journaled {
            match answers.next() {
                Some(Ok(Ok(_))) => self.next_entry += 1,
                Some(Ok(Err(Conflict))) => {
                    return Err(self.lost("another process added to its journal"));
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        match answers.next() {
            Some(answer) => self.saved(answer),
            None => Ok(()),
        }
    }

    fn saved(&mut self, put: PutResult) -> Result<(), StoreError> {
        match put? {
            Ok(etag) => {
                self.state_etag = Some(etag);
                Ok(())
            }
            Err(Conflict) if self.state_etag.is_none() => {
                Err(StoreError::Exists(self.name.clone()))
            }
            Err(Conflict) => {
                Err(self.lost("its state in the store was changed by another process"))
            }
        }
    }

    /// Writes the state over the one this process last read or wrote (with the held journal
    /// entries).
    pub fn save(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.put(None, Some(bytes))
    }

    /// Adds a journal entry as the next numbered object.
    pub fn journal(&mut self, line: &[u8]) -> Result<(), StoreError> {
        self.put(Some(line), None)
    }

    /// A journal entry and the state it goes with, put at once; both are in the store when
    /// this returns.
    pub fn journal_and_save(&mut self, line: &[u8], bytes: &[u8]) -> Result<(), StoreError> {
        self.put(Some(line), Some(bytes))
    }

    /// The journal's entries are numbered from 1 again (its objects were removed).
    pub fn journal_from_start(&mut self) {
        self.next_entry = 1;
    }

    fn send(&self, upload: Upload) {
        if let Some(uploads) = &self.uploads {
            let _ = uploads.send(upload);
        }
    }

    /// Keeps a step's definition (put in the background; one already there stays).
    pub fn keep_definition(&self, hash: &str, path: &Path) {
        self.send(Upload::Definition {
            hash: hash.to_string(),
            path: path.to_path_buf(),
        });
    }

    /// A step started: its log is put in parts while it runs.
    pub fn step_started(&self, key: &str, path: PathBuf) {
        // What the log had before (earlier attempts) is in the store whole: parts follow it.
        let sent = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if let Ok(mut running) = self.running.lock() {
            running.insert(key.to_string(), Running { path, sent });
        }
    }

    /// A step ended (or stopped running): its whole log is put (in the background), and its
    /// parts removed.
    pub fn step_ended(&self, key: &str, path: &Path) {
        let parts = self
            .running
            .lock()
            .ok()
            .and_then(|mut r| r.remove(key))
            .is_some_and(|r| r.sent > 0);
        self.send(Upload::Log {
            path: path.to_path_buf(),
            parts,
        });
    }

    /// Removes what a driver that stopped left of its running steps' logs (the working copy,
    /// just refreshed, has them): a step run again starts its parts anew.
    pub fn settle_left_parts(&self, dir: &Path) -> Result<(), StoreError> {
        let logs = self.store.key(&self.name, "logs/");
        let mut settled = std::collections::HashSet::new();
        for (key, _) in self.store.list(&logs)? {
            let Some((log, _)) = key.split_once(".part-") else {
                continue;
            };
            // The working copy's log has the parts put together: it is put whole first.
            if settled.insert(log.to_string()) {
                let file = log.strip_prefix(&logs).unwrap_or_default();
                let path = dir.join("logs").join(file);
                if fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                    self.store.put_file(log, &path)?;
                }
            }
            self.store.delete(&key, None)?.ok();
        }
        Ok(())
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let (stop, wake) = &self.lease.stop;
        if let Ok(mut stop) = stop.lock() {
            *stop = true;
        }
        wake.notify_all();
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        // What still runs (a step cut short) has its log put whole too.
        let running: Vec<(String, PathBuf)> = self
            .running
            .lock()
            .map(|r| r.iter().map(|(k, r)| (k.clone(), r.path.clone())).collect())
            .unwrap_or_default();
        if self.check().is_ok() {
            for (key, path) in running {
                self.step_ended(&key, &path);
            }
        }
        // Every upload is in before the lock goes.
        drop(self.uploads.take());
        if let Some(uploader) = self.uploader.take() {
            let _ = uploader.join();
        }
        // Only the lock this process made: one a person took over since is not removed.
        let etag = self
            .lease
            .etag
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        let _ = self
            .store
            .delete(&self.store.key(&self.name, "lock"), Some(&etag));
    }
}

/// The uploader: puts logs and definitions in the order they come, until the mirror goes.
fn upload(store: &'static Store, name: &str, queue: &std::sync::mpsc::Receiver<Upload>) {
    for upload in queue {
        match upload {
            Upload::Log { path, parts } => {
                let object = log_key(store, name, &path);
                let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let put = len == 0 || store.put_file(&object, &path).is_ok();
                // The parts go only once the whole log is there.
                if parts && put {
                    for (part, _) in store.list(&format!("{object}.part-")).unwrap_or_default() {
                        let _ = store.delete(&part, None);
                    }
                }
            }
            Upload::Definition { hash, path } => {
                if let Ok(bytes) = fs::read(&path) {
                    let key = store.key(name, &format!("definitions/{hash}.yaml"));
                    let _ = store.put_bytes(&key, bytes, Put::New);
                }
            }
        }
    }
}

/// The keeper: renews the lock and puts what running steps printed, every `RENEW_EVERY`,
/// until told to stop or the lock is lost.
fn keep(
    store: &'static Store,
    name: &str,
    body: LockBody,
    lease: &Lease,
    running: &Mutex<HashMap<String, Running>>,
) {
    let key = store.key(name, "lock");
    loop {
        let (stop, wake) = &lease.stop;
        let Ok(guard) = stop.lock() else { return };
        let Ok((guard, _)) = wake.wait_timeout_while(guard, RENEW_EVERY, |stop| !*stop) else {
            return;
        };
        if *guard {
            return;
        }
        drop(guard);
        let etag = lease.etag.lock().map(|e| e.clone()).unwrap_or_default();
        let bytes = serde_json::to_vec(&body.renewed_now()).unwrap_or_default();
        match store.put_bytes(&key, bytes, Put::Over(etag)) {
            Ok(Ok(new)) => {
                if let Ok(mut e) = lease.etag.lock() {
                    *e = new;
                }
            }
            Ok(Err(Conflict)) => {
                if let Ok(mut lost) = lease.lost.lock() {
                    lost.get_or_insert("its lock was taken over (`stepwise unlock`)".into());
                }
                return;
            }
            // A failed renewal is tried again at the next turn; the lease outlasts a few.
            Err(_) => {}
        }
        if let Ok(mut running) = running.lock() {
            for r in running.values_mut() {
                put_part(store, name, r);
            }
        }
    }
}

/// Puts what a running step's log gained since the last part.
fn put_part(store: &'static Store, name: &str, r: &mut Running) {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(&r.path) else {
        return;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len <= r.sent || file.seek(SeekFrom::Start(r.sent)).is_err() {
        return;
    }
    let mut bytes = Vec::new();
    if (&mut file)
        .take((len - r.sent).min(PART_MAX))
        .read_to_end(&mut bytes)
        .is_err()
    {
        return;
    }
    let key = format!("{}.part-{:020}", log_key(store, name, &r.path), r.sent);
    let n = bytes.len() as u64;
    if matches!(store.put_bytes(&key, bytes, Put::Any), Ok(Ok(_))) {
        r.sent += n;
    }
}

pub(super) fn entry_key(store: &'static Store, name: &str, n: u64) -> String {
    store.key(name, &format!("journal/{n:08}.json"))
}

/// The number the journal's next entry takes.
pub(super) fn next_entry(store: &'static Store, name: &str) -> Result<u64, StoreError> {
    Ok(store.list(&store.key(name, "journal/"))?.len() as u64 + 1)
}

/// The key of a step's log, by its file's name.
fn log_key(store: &'static Store, name: &str, path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    store.key(name, &format!("logs/{file}"))
}

/// This machine (this `STEPWISE_HOME`): a random id made the first time it is asked for,
/// read once by a process.
pub fn machine_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(read_or_make_machine_id).clone()
}

fn read_or_make_machine_id() -> String {
    let path = home().join("machine-id");
    if let Ok(id) = fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let mut bytes = [0u8; 16];
    let random = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    let id: String = if random.is_ok() {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        format!(
            "{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        )
    };
    let _ = make_private_dir(&home());
    let tmp = home().join(format!(".machine-id.{}", std::process::id()));
    if fs::write(&tmp, &id).is_ok() && fs::hard_link(&tmp, &path).is_err() {
        // Another process made one meanwhile: that one is this machine's.
        let _ = fs::remove_file(&tmp);
        return fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .unwrap_or(id);
    }
    let _ = fs::remove_file(&tmp);
    id
}
