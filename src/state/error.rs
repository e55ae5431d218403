//! The run store's errors.

use super::*;

/// The store's errors: what went wrong and where; `hint` says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run `{0}` not found")]
    NotFound(String),
    #[error("run `{name}` is being driven by another stepwise process ({holder})")]
    Locked { name: String, holder: String },
    #[error("run `{0}` already exists")]
    Exists(String),
    #[error("invalid run name `{0}`")]
    BadName(String),
    /// A run's folder with no state: its creation was cut short (or it was made by hand).
    #[error("{}: there is no state.json: the run's creation was cut short", dir.join("state.json").display())]
    Unfinished { dir: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the run's state cannot be read: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path}: the run's state has layout version {version}, and this stepwise reads version {STATE_VERSION} only"
    )]
    UnknownVersion { path: PathBuf, version: u32 },
    /// A call to the S3 store failed: `what` is the permission and the object.
    #[error("{what}: {message}")]
    Remote {
        what: String,
        message: String,
        hint: Option<String>,
    },
    /// This process drove the run and no longer does: another took it over.
    #[error("this process no longer drives run `{name}`: {why}")]
    Lost { name: String, why: String },
    #[error("`{url}` is not a run store: {why}")]
    BadStore { url: String, why: String },
    /// `unlock` of a lock its holder renewed within its lease.
    #[error("run `{name}` is held by {holder}, within its lease")]
    Fresh { name: String, holder: String },
}

impl StoreError {
    /// How to fix it, when stepwise knows.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            StoreError::NotFound(_) => "`stepwise runs` lists the runs on this machine".into(),
            StoreError::Locked { name, .. } if remote::chosen().is_some() => format!(
                "wait for it to finish, or stop that process; if it is gone (a crash, a lost machine), `stepwise unlock {name}`"
            ),
            StoreError::Locked { .. } => "wait for it to finish, or stop that process; only one process drives a run at a time".into(),
            StoreError::Exists(name) => format!(
                "resume it with `stepwise resume {name}`, or name the new run with `--name`"
            ),
            StoreError::BadName(_) => "use letters, digits, `.`, `-` and `_`".into(),
            StoreError::Unfinished { dir } => {
                format!("remove {} to use its name again", dir.display())
            }
            StoreError::UnknownVersion { .. } => "the run was written by another version of stepwise; use that one for it".into(),
            StoreError::Remote { hint, .. } => return hint.clone(),
            StoreError::Lost { name, .. } => format!(
                "this process stopped without writing over the newer state; `stepwise log {name}` says who took the run over"
            ),
            StoreError::BadStore { .. } => "write it as s3://BUCKET/PREFIX".into(),
            StoreError::Fresh { name, .. } => format!(
                "its holder still renews it: stop that process, or `stepwise unlock {name} --force` if it is surely gone"
            ),
            StoreError::Io { .. } | StoreError::Corrupt { .. } => return None,
        })
    }
}
