//! Why a step failed, as a type: what went wrong, where (the field, the file, the AWS action
//! or account), and how to fix it as a field of its own. The step's recorded message is made
//! from it in one place (`StepError::message`).

use std::path::PathBuf;

use crate::aws::AwsError;
use crate::syntax::template::TemplateError;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A template in one of the step's fields cannot be resolved.
    #[error("cannot resolve `{field}`: {reason}")]
    Resolve {
        field: String,
        reason: String,
        hint: Option<String>,
    },
    /// bash cannot be started.
    #[error("cannot start bash: {0}")]
    Bash(std::io::Error),
    /// A file a `file` step reads or writes.
    #[error("{what}")]
    File {
        path: PathBuf,
        what: String,
        hint: Option<String>,
    },
    /// The identity is in another account than the runbook's `aws.account`.
    #[error(
        "refusing to act on account {account} ({arn}): this runbook acts only on account {expected}"
    )]
    WrongAccount {
        account: String,
        arn: String,
        expected: String,
    },
    /// An AWS call failed (its action and its hint are fields of `AwsError`).
    #[error("{}: {}: {}", .0.action, .0.code, .0.message)]
    Aws(AwsError),
    /// The step's state cannot be written.
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
    /// Anything else, said as it is.
    #[error("{0}")]
    Other(String),
}

impl StepError {
    /// A template that cannot be resolved in `field` (its hint, when the template's error has
    /// one, kept as the hint).
    pub fn resolve(field: impl Into<String>, reason: impl Into<TemplateError>) -> StepError {
        let TemplateError { what, hint } = reason.into();
        StepError::Resolve {
            field: field.into(),
            reason: what,
            hint,
        }
    }

    /// A problem with a file, said with its path.
    pub fn file(path: impl Into<PathBuf>, what: impl Into<String>) -> StepError {
        StepError::File {
            path: path.into(),
            what: what.into(),
            hint: None,
        }
    }

    /// The same error, with a hint on how to fix it.
    pub fn hinted(self, hint: impl Into<String>) -> StepError {
        match self {
            StepError::File { path, what, .. } => StepError::File {
                path,
                what,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    /// How to fix it, when stepwise knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            StepError::File { hint, .. } | StepError::Resolve { hint, .. } => hint.clone(),
            StepError::WrongAccount { expected, .. } => Some(format!(
                "switch to a profile for account {expected} (`--profile`), or check the runbook's `aws.account`"
            )),
            StepError::Aws(e) => e.hint.clone(),
            StepError::Store(e) => e.hint(),
            StepError::Bash(_) | StepError::Other(_) => None,
        }
    }

    /// The step's message: what went wrong, and the hint on a line of its own.
    pub fn message(&self) -> String {
        with_hint(self.to_string(), self.hint())
    }
}

impl From<String> for StepError {
    fn from(s: String) -> StepError {
        StepError::Other(s)
    }
}

impl From<&str> for StepError {
    fn from(s: &str) -> StepError {
        StepError::Other(s.to_string())
    }
}

impl From<AwsError> for StepError {
    fn from(e: AwsError) -> StepError {
        StepError::Aws(e)
    }
}

use crate::out::with_hint;
