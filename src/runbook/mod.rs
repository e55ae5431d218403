//! The runbook format: its types, reading files with located errors, checking references,
//! and templates.

pub mod load;
pub mod model;
pub mod script;
pub mod source;
pub mod template;
pub mod yaml;

pub use load::{Plan, PlanStep, Runbook, Scope, load, validate};
pub use model::{Duration, Input, RunbookDoc, Step, StepKind};
pub use source::{Diagnostic, SourceFile};

/// The known name closest to `name`, if one is close enough to be a likely typo.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len().max(name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Writes the JSON Schema of the format, as committed in `assets/`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(model::RunbookDoc);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
