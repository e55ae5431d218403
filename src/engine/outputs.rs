//! Taking a step's outputs from what it produced, and writing its log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use indexmap::IndexMap;
use serde_json::Value;

use super::shell::Stream;
use crate::runbook::model::OutputSpec;

/// Output values by name, each with whether it is secret.
pub type OutputValues = IndexMap<String, (String, bool)>;

/// A new, empty, private file for a script's `key=value` outputs. It lives in memory
/// (`/dev/shm`) where the machine has that, so secret outputs do not touch a disk, and it is
/// removed as soon as it has been read.
pub fn output_file() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("stepwise-{}-{n}.out", std::process::id()));
    let _ = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path);
    path
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

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A step's log, readable by its owner only, opened when the first line comes. Lines are
/// written as they come, unbuffered, so that the log of a step that was killed shows how far
/// it got.
pub struct StepLog {
    path: Option<PathBuf>,
    file: Option<File>,
}

impl StepLog {
    /// A log at `path`; with no path (a dry run), lines go nowhere.
    pub fn new(path: Option<PathBuf>) -> StepLog {
        StepLog { path, file: None }
    }

    /// Appends a line (already masked).
    pub fn line(&mut self, stream: Stream, line: &str) {
        if self.file.is_none()
            && let Some(path) = &self.path
        {
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ok();
        }
        if let Some(w) = &mut self.file {
            let prefix = match stream {
                Stream::Stdout | Stream::Stderr => "",
                Stream::Info => "stepwise: ",
            };
            let _ = w.write_all(format!("{prefix}{line}\n").as_bytes());
        }
    }
}
