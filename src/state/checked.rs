//! What `stepwise check` found when it last re-checked a run, as kept in its state.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether what a finished step made true still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// There is nothing to re-check: the step was not done, was skipped, says `recheck:
    /// false`, or is of a kind that changes things and declares no read-only check.
    Unchecked,
    /// It still holds.
    Holds,
    /// It still holds, but not for long: it expires within the threshold the runbook set.
    Expiring,
    /// It could not be told (with why): a value that is not kept, AWS not reachable.
    Unknown,
    /// It no longer holds: something changed.
    Drifted,
}

impl Held {
    /// The word used in reports and in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Held::Unchecked => "unchecked",
            Held::Holds => "holds",
            Held::Expiring => "expiring",
            Held::Unknown => "unknown",
            Held::Drifted => "drifted",
        }
    }

    /// What a set of steps comes to: the worst of them (drifted, then unknown, then
    /// expiring); steps with nothing to re-check do not count.
    pub fn overall(all: impl IntoIterator<Item = Held>) -> Held {
        all.into_iter()
            .filter(|h| *h != Held::Unchecked)
            .max()
            .unwrap_or(Held::Holds)
    }
}

/// The last re-check of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheck {
    pub at: Timestamp,
    /// What the run came to (see `Held::overall`).
    pub result: Held,
    /// The steps that drifted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    /// The steps that could not be checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// The steps that expire soon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<String>,
}

impl LastCheck {
    /// One line: `2 hold, 1 drifted (upsert)`.
    pub fn summary(&self, holding: usize) -> String {
        let mut parts = vec![format!("{holding} hold")];
        for (word, keys) in [
            ("drifted", &self.drifted),
            ("unknown", &self.unknown),
            ("expiring", &self.expiring),
        ] {
            if !keys.is_empty() {
                parts.push(format!("{} {word} ({})", keys.len(), keys.join(", ")));
            }
        }
        parts.join(", ")
    }
}
