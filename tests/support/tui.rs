//! Building UI states without a terminal or an engine, and drawing them on a `TestBackend`.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use stepwise::engine::{Decisions, Event, Report, RunOutcome};
use stepwise::runbook::Plan;
use stepwise::state::{RunState, RunbookRef, STATE_VERSION, Status, StepState};
use stepwise::tui::ui::theme::Theme;
use stepwise::tui::{App, Effect, Msg, RunView, Screen};

/// The example runbook shipped in `runbooks/`.
pub fn example() -> Arc<Plan> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/example.yaml");
    Arc::new(stepwise::runbook::load(&path).expect("the example loads"))
}

/// A fresh run's state: every step pending.
pub fn fresh_state(plan: &Plan, name: &str) -> RunState {
    let t: Timestamp = "2026-03-01T09:00:00Z".parse().unwrap();
    RunState {
        version: STATE_VERSION,
        name: name.into(),
        runbook: RunbookRef {
            path: "/work/runbooks/example.yaml".into(),
            id: plan.root().doc.id.value.clone(),
            title: plan.root().doc.title.clone(),
            hash: "h".into(),
        },
        workdir: "/work".into(),
        created_at: t,
        updated_at: t,
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

/// An app showing a run view of the example, with colours off.
pub fn run_app(dry: bool) -> App {
    let plan = example();
    let state = fresh_state(&plan, "example-demo");
    let view = RunView::new(plan, &state, dry, Vec::new(), Decisions::default());
    App::new(Screen::Run(Box::new(view)), false, Theme { color: false })
}

/// An app on the home screen (with a home to go back to), listing the example runbook and
/// runs of it: (name, status).
pub fn home_app(runs: &[(&str, &'static str)]) -> App {
    let now: Timestamp = "2026-03-03T12:00:00Z".parse().unwrap();
    let lists = stepwise::tui::home::Lists {
        runbooks: vec![stepwise::tui::home::RunbookEntry {
            path: "runbooks/example.yaml".into(),
            title: Ok("Example".into()),
            id: "example".into(),
            steps: 10,
        }],
        runs: runs
            .iter()
            .map(|(name, status)| stepwise::plain::RunSummary {
                name: name.to_string(),
                runbook: RunbookRef {
                    path: "/work/runbooks/example.yaml".into(),
                    id: "example".into(),
                    title: "Example".into(),
                    hash: "h".into(),
                },
                done: 10,
                total: 10,
                status,
                current_step: None,
                created_at: now,
                updated_at: now,
                last_check: None,
            })
            .collect(),
        problems: Vec::new(),
        now,
    };
    App::new(
        Screen::Home(stepwise::tui::home::Home::new(lists)),
        true,
        Theme { color: false },
    )
}

/// An app showing the inputs form for a real run of the example (no home screen).
pub fn form_app() -> App {
    let form = stepwise::tui::form::Form::new(
        example(),
        stepwise::tui::form::Purpose::Start {
            mode: stepwise::engine::Mode::Real,
            name: None,
        },
        &[],
        None,
    );
    App::new(Screen::Form(form), false, Theme { color: false })
}

pub fn view(app: &mut App) -> &mut RunView {
    match &mut app.screen {
        Screen::Run(v) => v,
        _ => panic!("not the run view"),
    }
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

/// Types text, one key at a time; returns the effects.
pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| app.update(ch(c))).collect()
}

/// The engine's events for a step that ran and succeeded.
pub fn ran(app: &mut App, index: usize, ms: u64, lines: &[&str], outputs: &[(&str, &str)]) {
    app.update(Msg::Engine(Event::StepStarted {
        index,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    for l in lines {
        app.update(Msg::Engine(Event::Output {
            index,
            stream: stepwise::engine::Stream::Stdout,
            line: l.to_string(),
        }));
    }
    app.update(Msg::Engine(Event::StepFinished {
        index,
        status: Status::Succeeded,
        outputs: outputs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
        elapsed: Duration::from_millis(ms),
        exit_code: Some(0),
        message: None,
    }));
}

/// The report the engine sends when a command ends, with the view's statuses as its state.
pub fn idle(app: &mut App, outcome: Option<RunOutcome>) -> Vec<Effect> {
    let v = view(app);
    let mut state = fresh_state(&v.plan, &v.name);
    for (i, ps) in v.plan.steps.iter().enumerate() {
        let st = state.steps.get_mut(&ps.key).unwrap();
        st.status = v.steps[i].status;
        st.attempts = v.steps[i].attempts;
        st.outputs = v.steps[i]
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
    }
    app.update(Msg::Report(Report::Idle {
        outcome,
        state: Box::new(state),
        pending: Vec::new(),
    }))
}

/// Draws the app on a terminal of this size and returns the screen as text.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    stepwise::tui::ui::screen_text(&buffer(app, w, h))
}

/// The app drawn: every cell with its style.
pub fn buffer(app: &App, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| stepwise::tui::ui::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}
