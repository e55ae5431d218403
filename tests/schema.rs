//! The JSON Schema committed in assets/ is the one the code generates, and it describes the
//! same fields the validator accepts.

#![allow(clippy::unwrap_used)]

use stepwise::runbook::load::{STEP_KEYS, TOP_KEYS};

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/runbook.schema.json"
    ))
    .expect("assets/runbook.schema.json is committed");
    let generated = stepwise::runbook::json_schema();
    assert!(
        committed == generated,
        "assets/runbook.schema.json is out of date: run `cargo run -- schema > assets/runbook.schema.json`"
    );
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[test]
fn schema_fields_are_the_fields_the_validator_knows() {
    let schema: serde_json::Value =
        serde_json::from_str(&stepwise::runbook::json_schema()).unwrap();
    let mut top: Vec<String> = TOP_KEYS.iter().map(|s| s.to_string()).collect();
    top.sort();
    assert_eq!(keys(&schema), top);
    let mut step: Vec<String> = STEP_KEYS.iter().map(|s| s.to_string()).collect();
    step.sort();
    assert_eq!(keys(&schema["$defs"]["Step"]), step);
}

#[test]
fn shipped_runbooks_follow_the_schema_shape() {
    // Every key used at the top level of a shipped runbook is a schema property.
    let schema: serde_json::Value =
        serde_json::from_str(&stepwise::runbook::json_schema()).unwrap();
    let props = keys(&schema);
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"))
        .unwrap()
        .flatten()
    {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let doc = stepwise::runbook::yaml::Node::parse(&text)
                .unwrap()
                .to_json();
            for k in doc.as_object().unwrap().keys() {
                assert!(
                    props.contains(k),
                    "{}: `{k}` is not in the schema",
                    p.display()
                );
            }
        }
    }
}
