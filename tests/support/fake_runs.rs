//! A run in this process over a runbook in a folder: its state, and a real-mode engine over
//! it that records nothing (for the tests over the AWS fakes).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use stepwise::engine::{Engine, Event, Mode, Values};
use stepwise::runbook::Plan;
use stepwise::state::{RunState, RunbookRef, STATE_VERSION, StepState};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// A new run named `fake` of the plan of `dir/rb.yaml`, started in `dir`: every step pending.
pub fn state_in(dir: &Path, plan: &Plan) -> RunState {
    let now = jiff::Timestamp::now();
    RunState {
        version: STATE_VERSION,
        name: "fake".into(),
        runbook: RunbookRef {
            path: dir.join("rb.yaml"),
            id: plan.root().doc.id.value.clone(),
            title: plan.root().doc.title.clone(),
            hash: plan.root().hash(),
        },
        workdir: dir.to_path_buf(),
        created_at: now,
        updated_at: now,
        inputs: IndexMap::new(),
        driven_on: None,
        last_check: None,
        steps: plan
            .steps
            .iter()
            .map(|s| (s.key.clone(), StepState::default()))
            .collect(),
    }
}

/// A real-mode engine over a plan and state that records nothing, and its events.
pub fn engine_over(plan: Arc<Plan>, state: RunState) -> (Engine, UnboundedReceiver<Event>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(
        plan,
        Mode::Real,
        state,
        None,
        Values::new("fake", IndexMap::new()),
        tx,
        CancellationToken::new(),
    );
    (engine, rx)
}
