//! Reading `stepwise check --json` reports in tests.

#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;

use super::cli::Ran;

/// The report a `--json` run printed.
pub fn report(r: &Ran) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

/// The step `key` of the first run of a report.
pub fn step<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["runs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no step {key} in {report:#}"))
}
