//! The errors a command can end with, and the exit status of each.

use crate::runbook::Diagnostic;

/// Exit statuses, as documented in README.md.
pub mod exit {
    /// The run completed (or the command succeeded).
    pub const OK: i32 = 0;
    /// A step failed.
    pub const STEP_FAILED: i32 = 1;
    /// The runbook, an input or the command line is invalid; nothing ran.
    pub const INVALID: i32 = 2;
    /// The run stopped at a step that needs a person; `stepwise resume` continues it.
    pub const WAITING: i32 = 3;
    /// stepwise itself could not go on: the run is held by another process, a step's processes
    /// left by a stepwise that died still run, or the run's files cannot be read or written.
    pub const ERROR: i32 = 4;
    /// `stepwise check`: something drifted (the same number as a failed step).
    pub const DRIFTED: i32 = 1;
    /// `stepwise check`: nothing drifted, but something could not be checked.
    pub const UNKNOWN: i32 = 5;
    /// `stepwise check`: all holds, but something expires within its `warn_before`.
    pub const EXPIRING: i32 = 6;
    /// The run was interrupted (Ctrl-C or SIGTERM); the step that was running is recorded as
    /// interrupted.
    pub const INTERRUPTED: i32 = 130;
}

/// Why a command ended without success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("{0}")]
    Usage(String),
    /// A person (or the lack of one to ask) said no.
    #[error("{what}")]
    Refused { what: String, hint: String },
    /// A word where a command goes that is no command and no file.
    #[error("unknown command '{word}'")]
    UnknownCommand { word: String, hint: String },
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
    /// The engine could not go on (a step's processes left by a stepwise that died still run).
    #[error(transparent)]
    Engine(crate::engine::EngineError),
    /// The terminal UI cannot have the terminal.
    #[error("cannot open the terminal UI: {0}")]
    NoTerminal(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_)
            | Error::Usage(_)
            | Error::UnknownCommand { .. }
            | Error::Refused { .. } => exit::INVALID,
            Error::Store(crate::state::StoreError::NotFound(_)) => exit::INVALID,
            Error::Store(crate::state::StoreError::Exists(_)) => exit::INVALID,
            Error::Store(crate::state::StoreError::BadName(_)) => exit::INVALID,
            Error::Store(crate::state::StoreError::BadStore { .. }) => exit::INVALID,
            Error::Store(_) | Error::Engine(_) | Error::NoTerminal(_) | Error::Other(_) => {
                exit::ERROR
            }
        }
    }

    /// How to fix it, when stepwise knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(e) => e.hint(),
            Error::Engine(e) => e.hint(),
            Error::NoTerminal(_) => Some("use --plain".into()),
            Error::UnknownCommand { hint, .. } | Error::Refused { hint, .. } => Some(hint.clone()),
            Error::Invalid(_) | Error::Usage(_) | Error::Other(_) => None,
        }
    }

    /// The error as a person reads it: what went wrong, and the hint on its own line.
    pub fn message(&self) -> String {
        crate::out::with_hint(self.to_string(), self.hint())
    }
}

/// The exit status of a run that ended with `outcome`.
pub fn run_status(outcome: &crate::engine::RunOutcome) -> i32 {
    use crate::engine::RunOutcome;
    match outcome {
        RunOutcome::Completed => exit::OK,
        RunOutcome::Failed { .. } => exit::STEP_FAILED,
        RunOutcome::Waiting { .. } => exit::WAITING,
        RunOutcome::Interrupted { .. } => exit::INTERRUPTED,
    }
}

/// An error as a person reads it: `error: ` and the message, its hint lines below; invalid
/// runbooks as their located diagnostics.
pub fn error_text(e: &Error) -> String {
    match e {
        Error::Invalid(_) => e.to_string(),
        _ => {
            let text = e.message();
            let mut lines = text.lines();
            let mut out = format!("error: {}", lines.next().unwrap_or_default());
            for l in lines {
                out.push('\n');
                out.push_str(l);
            }
            out
        }
    }
}

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Self {
        match e {
            crate::engine::EngineError::Store(s) => Error::Store(s),
            crate::engine::EngineError::Decision(d) => Error::Usage(d),
            other => Error::Engine(other),
        }
    }
}

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;
