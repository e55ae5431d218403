//! Unit tests of the local run store.

use super::*;

fn state(steps: usize) -> RunState {
    let now = Timestamp::now();
    RunState {
        version: STATE_VERSION,
        name: "t".into(),
        runbook: RunbookRef {
            path: "/r.yaml".into(),
            id: "r".into(),
            title: "R".into(),
            hash: "h".into(),
        },
        workdir: "/w".into(),
        created_at: now,
        updated_at: now,
        inputs: IndexMap::from([("a".to_string(), InputValue::Value { value: "1".into() })]),
        driven_on: None,
        last_check: None,
        steps: (0..steps)
            .map(|i| (format!("s{i}"), StepState::default()))
            .collect(),
    }
}

#[test]
fn saved_state_reads_back_equal_after_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = RunStore::lock("t", dir.path().to_path_buf()).unwrap();
    let mut st = state(3);
    store.save(&st).unwrap();
    assert_eq!(read_state(&dir.path().join("state.json")).unwrap(), st);
    let s1 = st.steps.get_mut("s1").unwrap();
    s1.status = Status::Succeeded;
    s1.outputs.insert("x".into(), Value::String("y".into()));
    store.save(&st).unwrap();
    assert_eq!(read_state(&dir.path().join("state.json")).unwrap(), st);
    st.steps.shift_remove("s0");
    store.save(&st).unwrap();
    assert_eq!(read_state(&dir.path().join("state.json")).unwrap(), st);
}

#[test]
fn a_second_holder_is_refused_with_the_first_named() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RunStore::lock("t", dir.path().to_path_buf()).unwrap();
    let Err(StoreError::Locked { holder, .. }) = RunStore::lock("t", dir.path().to_path_buf())
    else {
        panic!("the second lock was granted");
    };
    assert!(
        holder.starts_with(&format!("pid {} by ", std::process::id())),
        "{holder}"
    );
}

#[test]
fn the_lock_holds_when_the_lock_file_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RunStore::lock("t", dir.path().to_path_buf()).unwrap();
    std::fs::remove_file(dir.path().join("lock")).unwrap();
    let second = RunStore::lock("t", dir.path().to_path_buf());
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "a second holder was let in"
    );
}

#[test]
fn old_state_without_a_process_group_still_reads() {
    let st: StepState = serde_json::from_str(r#"{"status":"running","attempts":1}"#).unwrap();
    assert_eq!(st.pgid, None);
    let text = serde_json::to_string(&StepState::default()).unwrap();
    assert!(!text.contains("pgid"), "{text}");
}

#[test]
fn journal_lines_are_whole_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = RunStore::lock("t", dir.path().to_path_buf()).unwrap();
    store.journal("step.started", Some("a"), None).unwrap();
    store
        .journal("step.failed", Some("a"), Some("exit 1"))
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["what"], "step.failed");
    assert_eq!(lines[1]["result"], "exit 1");
    assert_eq!(lines[1]["step"], "a");
}

#[test]
fn slugs_make_valid_run_names() {
    assert_eq!(slug("My Hub! (prod)"), "my-hub-prod");
    assert!(valid_name(&slug("../../etc")));
    assert!(!valid_name("../x"));
}
