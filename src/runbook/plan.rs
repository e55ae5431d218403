//! The plan: a runbook with its includes flattened into one list of steps, each with its key,
//! its scope (which runbook's inputs and outputs it sees) and the hash of its definition.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::model::{RunbookDoc, Step, StepKind};
use super::source::SourceFile;

/// One parsed runbook file.
#[derive(Debug)]
pub struct Runbook {
    pub source: Arc<SourceFile>,
    pub doc: RunbookDoc,
}

impl Runbook {
    /// The file the runbook was read from.
    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// The directory that paths in the runbook are relative to.
    pub fn dir(&self) -> PathBuf {
        self.path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A hash of the whole file, to notice that a runbook changed between runs.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.source.text.as_bytes()))
    }
}

/// Where the steps of one runbook file run: the root runbook, or an include of another.
#[derive(Debug)]
pub struct Scope {
    pub runbook: Arc<Runbook>,
    /// For an included runbook: the plan index of the include step.
    pub parent: Option<usize>,
    /// The key prefix of its steps (`deploy/` for steps included by step `deploy`).
    pub prefix: String,
}

/// One step of the plan.
#[derive(Debug)]
pub struct PlanStep {
    /// Unique key within the plan: the step id, prefixed by the ids of the includes around it.
    pub key: String,
    /// The scope whose runbook defines the step.
    pub scope: usize,
    /// The step's position in its runbook.
    pub index: usize,
    /// How many includes deep the step is.
    pub depth: usize,
    /// A hash of the step's definition, to notice that it changed since it ran; made when
    /// first asked for (validation alone never needs it).
    pub(super) hash: std::sync::OnceLock<String>,
    /// What the step does: its kind, decided once when the plan is made.
    pub work: Work,
}

/// What a step does. The engine dispatches on it; nothing asks the definition again.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    Manual,
    Run,
    Check,
    /// An `aws` step, with its action (looked up once, when the plan is made).
    Aws(&'static dyn crate::aws::Action),
    File,
    /// An include step: the scope of the included runbook, and the plan index just after its
    /// last step.
    Include {
        scope: usize,
        end: usize,
    },
}

impl Work {
    /// The kind of step, as the format names it.
    pub fn kind(self) -> StepKind {
        match self {
            Work::Manual => StepKind::Manual,
            Work::Run => StepKind::Run,
            Work::Check => StepKind::Check,
            Work::Aws(_) => StepKind::Aws,
            Work::File => StepKind::File,
            Work::Include { .. } => StepKind::Include,
        }
    }
}

/// A runbook with its includes, ready to run.
#[derive(Debug)]
pub struct Plan {
    pub scopes: Vec<Scope>,
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// The root runbook.
    pub fn root(&self) -> &Runbook {
        &self.scopes[0].runbook
    }

    /// The definition of a plan step.
    pub fn step(&self, i: usize) -> &Step {
        let s = &self.steps[i];
        &self.scopes[s.scope].runbook.doc.steps[s.index]
    }

    /// The runbook that defines a plan step.
    pub fn runbook_of(&self, i: usize) -> &Runbook {
        &self.scopes[self.steps[i].scope].runbook
    }

    /// The hash of a step's definition (what it does, not its title or description).
    pub fn hash(&self, i: usize) -> &str {
        self.steps[i].hash.get_or_init(|| step_hash(self.step(i)))
    }

    /// What a plan step does, as YAML (what its hash is made from).
    pub fn definition(&self, i: usize) -> String {
        definition_text(self.step(i))
    }

    /// What a plan step does.
    pub fn work(&self, i: usize) -> Work {
        self.steps[i].work
    }

    /// The AWS action of an `aws` step.
    pub fn action(&self, i: usize) -> Option<&'static dyn crate::aws::Action> {
        match self.steps[i].work {
            Work::Aws(action) => Some(action),
            _ => None,
        }
    }

    /// For an include step, the scope of the included runbook and the plan index just after
    /// its last step.
    pub fn include(&self, i: usize) -> Option<(usize, usize)> {
        match self.steps[i].work {
            Work::Include { scope, end } => Some((scope, end)),
            _ => None,
        }
    }

    /// The plan index of a step key.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.key == key)
    }

    /// Whether any step, at any depth, is an AWS step.
    pub fn uses_aws(&self) -> bool {
        self.steps.iter().any(|s| matches!(s.work, Work::Aws(_)))
    }
}

pub(super) fn step_hash(step: &Step) -> String {
    let json = serde_json::to_vec(&what_it_does(step)).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..12])
}

/// A step without what only explains or re-checks it: titles and descriptions explain a step,
/// and `recheck` only reads; editing them does not change what it does.
fn what_it_does(step: &Step) -> Step {
    let mut what = step.clone();
    what.title.clear();
    what.description = None;
    what.recheck = None;
    what
}

/// A step's definition (what it does) as YAML, as a person reads it in a diff.
pub fn definition_text(step: &Step) -> String {
    let json = serde_json::to_value(what_it_does(step)).unwrap_or_default();
    serde_saphyr::to_string(&json).unwrap_or_else(|_| json.to_string())
}
