//! The runbook format: its types, reading files with located errors, checking references,
//! and templates.

pub mod load;
pub mod model;
pub mod plan;
pub mod script;
pub mod source;

pub use crate::syntax::{closest, template, yaml};
pub use load::{Plan, PlanStep, Runbook, Scope, Work, load, validate};
pub use model::{Duration, Input, Recheck, RunbookDoc, Step, StepKind};
pub use source::{Diagnostic, SourceFile};

/// Writes the JSON Schema of the format, as committed in `assets/`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(model::RunbookDoc);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
