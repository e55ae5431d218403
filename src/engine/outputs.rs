//! Taking a step's outputs from what it produced, and writing its log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indexmap::IndexMap;
use serde_json::Value;

use super::shell::Stream;
use crate::runbook::model::OutputSpec;

/// Output values by name, each with whether it is secret.
pub type OutputValues = IndexMap<String, (String, bool)>;

/// A new, empty, private file for a script's `key=value` outputs, in a folder of its own;
/// `remove_output_file` removes both.
///
/// The folder is made with `mkdtemp` (mode 0700, a name no one can guess or take first) in
/// memory (`/dev/shm`) where the machine has that, so secret outputs do not touch a disk; the
/// file in it is created anew (`O_EXCL | O_NOFOLLOW`, mode 0600). A folder left by a stepwise
/// process that was killed is removed by the next one that makes an output file.
pub fn output_file() -> Result<PathBuf, String> {
    let shm = Path::new("/dev/shm");
    let mut bases = vec![std::env::temp_dir()];
    if shm.is_dir() {
        bases.insert(0, shm.to_path_buf());
    }
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| bases.iter().for_each(|b| remove_left_behind(b)));
    let mut problems = Vec::new();
    for base in &bases {
        match output_file_in(base) {
            Ok(f) => return Ok(f),
            Err(e) => problems.push(format!("in {}: {e}", base.display())),
        }
    }
    Err(format!(
        "cannot make a private file for the step's outputs: {}",
        problems.join("; ")
    ))
}

/// How the folders are named: `stepwise-PID-XXXXXX`, the PID being the process that made it.
const OUTPUT_DIR_PREFIX: &str = "stepwise-";
/// The file's name in its folder.
const OUTPUT_FILE: &str = "outputs";

fn output_file_in(base: &Path) -> std::io::Result<PathBuf> {
    let template = base.join(format!("{OUTPUT_DIR_PREFIX}{}-XXXXXX", std::process::id()));
    let dir = nix::unistd::mkdtemp(&template)?;
    let path = dir.join(OUTPUT_FILE);
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path);
    match created {
        Ok(_) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// Removes an output file made by `output_file`, with its folder.
pub fn remove_output_file(path: &Path) {
    let own = format!("{OUTPUT_DIR_PREFIX}{}-", std::process::id());
    match path.parent() {
        Some(dir)
            if path.file_name() == Some(OUTPUT_FILE.as_ref())
                && dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&own)) =>
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        _ => {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes output folders (and the `stepwise-PID-N.out` files of older versions) left under
/// `base` by stepwise processes of this user that are gone: killed while a step ran.
fn remove_left_behind(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, rest)) = name
            .to_str()
            .and_then(|n| n.strip_prefix(OUTPUT_DIR_PREFIX))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, rest)| Some((pid.parse::<i32>().ok()?, rest)))
        else {
            continue;
        };
        // Only names stepwise makes: `XXXXXX` from mkdtemp for a folder, `N.out` for a file.
        let folder = rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric());
        let old_file = rest
            .strip_suffix(".out")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        // Not following links: a link is someone else's doing, and left alone.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.uid() != me || pid == std::process::id() as i32 || process_alive(pid) {
            continue;
        }
        if folder && meta.is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if old_file && meta.is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process of this id runs on this machine.
fn process_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    if pid <= 0 {
        return true;
    }
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(Errno::ESRCH)
    )
}

/// Takes the declared outputs of a script from its stdout and its output file.
pub fn extract(
    specs: &IndexMap<String, Option<OutputSpec>>,
    stdout: &str,
    file: Option<&Path>,
) -> Result<OutputValues, String> {
    let mut out = OutputValues::new();
    if specs.is_empty() {
        return Ok(out);
    }
    let written = file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    let mut pairs: IndexMap<&str, &str> = IndexMap::new();
    for line in written.lines() {
        if let Some((k, v)) = line.split_once('=') {
            pairs.insert(k.trim(), v);
        }
    }
    let mut json: Option<Value> = None;
    for (name, spec) in specs {
        let spec = spec.clone().unwrap_or_default();
        let value = if let Some(re) = &spec.regex {
            let re = regex::Regex::new(&re.value).map_err(|e| e.to_string())?;
            let caps = re.captures(stdout).ok_or_else(|| {
                format!(
                    "output `{name}`: the step's output does not match `{}`",
                    re.as_str()
                )
            })?;
            caps.get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default()
        } else if let Some(path) = &spec.json {
            if json.is_none() {
                json =
                    Some(serde_json::from_str(stdout).map_err(|e| {
                        format!("output `{name}`: the step's output is not JSON: {e}")
                    })?);
            }
            json_path(json.as_ref().unwrap_or(&Value::Null), &path.value).ok_or_else(|| {
                format!(
                    "output `{name}`: nothing at `{}` in the step's JSON output",
                    path.value
                )
            })?
        } else {
            pairs
                .get(name.as_str())
                .map(|v| v.to_string())
                .ok_or_else(|| format!("output `{name}` was not written: the script should write `{name}=VALUE` to $STEPWISE_OUTPUT"))?
        };
        out.insert(name.clone(), (value, spec.secret));
    }
    Ok(out)
}

/// Takes an AWS action's outputs from its result: every output the action declares, and those
/// the step declares (by JSON path, or by field name). Fields the action says are `secret`
/// stay secret, also when a step's output takes them by path.
pub fn from_result(
    specs: &IndexMap<String, Option<OutputSpec>>,
    known: &[&str],
    result: &Value,
    secret: &[String],
) -> Result<OutputValues, String> {
    let mut out = OutputValues::new();
    let secrets: Vec<String> = secret
        .iter()
        .filter_map(|n| result.get(n))
        .map(scalar)
        .filter(|s| !s.is_empty())
        .collect();
    for name in known {
        if let Some(v) = result.get(*name) {
            out.insert(
                name.to_string(),
                (scalar(v), secret.iter().any(|s| s == name)),
            );
        }
    }
    for (name, spec) in specs {
        let spec = spec.clone().unwrap_or_default();
        let value = match &spec.json {
            Some(path) => json_path(result, &path.value),
            None => result.get(name).map(scalar),
        }
        .ok_or_else(|| format!("output `{name}`: not in the action's result"))?;
        let secret = spec.secret || secrets.iter().any(|s| value.contains(s.as_str()));
        out.insert(name.clone(), (value, secret));
    }
    Ok(out)
}

fn json_path(value: &Value, path: &str) -> Option<String> {
    let path = serde_json_path::JsonPath::parse(path).ok()?;
    path.query(value).first().map(scalar)
}

/// A JSON value as text: a string as it is, anything else as JSON.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A step's log, readable by its owner only, opened when the first line comes. Lines are
/// written as they come, unbuffered, so that the log of a step that was killed shows how far
/// it got.
///
/// A log that cannot be written (the disk is full) is cut: no line goes to it after the first
/// that failed, so it has no holes, and the engine says so when the step ends (`take_cut`).
pub struct StepLog {
    path: Option<PathBuf>,
    file: Option<File>,
}

/// Logs cut in this process, with why, until the engine takes them.
static CUT: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

fn cut_logs() -> std::sync::MutexGuard<'static, Vec<(PathBuf, String)>> {
    CUT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the log at `path` was cut, if it was; the log is written again from then on.
pub fn take_cut(path: &Path) -> Option<String> {
    let mut cut = cut_logs();
    let at = cut.iter().position(|(p, _)| p == path)?;
    Some(cut.remove(at).1)
}

impl StepLog {
    /// A log at `path`; with no path (a dry run), lines go nowhere.
    pub fn new(path: Option<PathBuf>) -> StepLog {
        StepLog { path, file: None }
    }

    /// Appends a line (already masked).
    pub fn line(&mut self, stream: Stream, line: &str) {
        let Some(path) = &self.path else {
            return;
        };
        if cut_logs().iter().any(|(p, _)| p == path) {
            return;
        }
        if self.file.is_none() {
            match OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
            {
                Ok(f) => self.file = Some(f),
                Err(e) => return self.cut(format!("it cannot be opened: {e}")),
            }
        }
        if let Some(w) = &mut self.file {
            let prefix = match stream {
                Stream::Stdout | Stream::Stderr => "",
                Stream::Info => "stepwise: ",
            };
            if let Err(e) = w.write_all(format!("{prefix}{line}\n").as_bytes()) {
                self.cut(e.to_string());
            }
        }
    }

    fn cut(&mut self, why: String) {
        self.file = None;
        if let Some(path) = self.path.take() {
            cut_logs().push((path, why));
        }
    }
}
