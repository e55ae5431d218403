//! The engine: executes a plan's steps in order and reports what happens as events.
//!
//! One engine serves every front end: the plain printer and the terminal UI both consume the
//! `Event`s it sends on a channel. Every change of a step's state is written to the run store,
//! durably, before the engine moves on. A dry run is a mode of the same engine: it goes through
//! the same steps, resolves the same templates, and shows what each would do instead of doing it.

mod backlog;
pub mod context;
mod drive;
mod file;
pub mod group;
mod outputs;
pub mod secrets;
pub mod shell;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::aws::{self, Aws, AwsSettings, Identity};
use crate::runbook::load::full_regex;
use crate::runbook::model::Prompt;
use crate::runbook::{Plan, StepKind, script, template};
use crate::state::{InputValue, RunState, RunStore, Status, StepState, StoreError};

pub use backlog::Backlog;
pub use context::Values;
pub use drive::{Ack, Command, Handoff, Report, serve};
pub use secrets::{MASK, Secrets};
pub use shell::Stream;

/// What the engine tells its front end.
#[derive(Debug, Clone)]
pub enum Event {
    /// The AWS identity steps will act as, read before the first AWS step.
    Identity(Identity),
    /// A secret output, shown to the person once (a new access key, a first password). Sent
    /// only when a terminal is there to show it on; it is never logged or written.
    SecretOnce {
        index: usize,
        name: String,
        value: String,
    },
    /// A step began an attempt.
    StepStarted { index: usize, attempt: u32 },
    /// A line of a step's output (secrets already masked).
    Output {
        index: usize,
        stream: Stream,
        line: String,
    },
    /// A step finished an attempt or was decided without running.
    StepFinished {
        index: usize,
        status: Status,
        outputs: IndexMap<String, Value>,
        elapsed: Duration,
        exit_code: Option<i32>,
        message: Option<String>,
    },
    /// A step needs a person before it can go on.
    Waiting { index: usize, need: Need },
    /// Dry run: what a step would do.
    Preview { index: usize, preview: Preview },
    /// An interactive step takes the terminal, or gives it back (see `drive.rs`).
    Terminal { index: usize, handoff: Handoff },
}

/// What a person must do for a step to go on.
#[derive(Debug, Clone)]
pub enum Need {
    /// Do the manual step's instructions, answer its prompts, and confirm.
    Manual {
        instructions: String,
        checklist: Vec<String>,
        prompts: Vec<(String, Prompt)>,
        missing: Vec<String>,
        /// Answers given that were refused, and why.
        problems: Vec<String>,
    },
    /// Type the confirmation text of a dangerous step, having seen what it will change.
    Danger { text: String, preview: String },
    /// A step was running when the last process stopped: re-run it, mark it done, or skip it.
    Interrupted { last_output: Vec<String> },
    /// A step was running when the process driving it stopped, and its processes still run
    /// (process group `pgid`): it is not started again beside them. Wait for them to end, or
    /// stop them (`Orphan`); then decide as for an interrupted step.
    StillRunning { pgid: i32, last_output: Vec<String> },
    /// A finished step's definition changed since it ran: keep it, or re-run it.
    Changed,
    /// An interactive step needs a terminal.
    Terminal,
}

/// Dry run: what a step would do, with templates resolved as far as they can be.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The step would be skipped or is already satisfied, and why.
    pub skip: Option<String>,
    /// The resolved command, request, diff or instructions.
    pub body: String,
    /// The confirmation a person would have to type.
    pub danger: Option<String>,
    /// A problem resolving the step (a missing value).
    pub problem: Option<String>,
}

/// How a run, or the part of it this process drove, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Failed { key: String },
    Waiting { key: String },
    Interrupted { key: Option<String> },
}

/// Real or dry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Real,
    DryRun { with_checks: bool },
}

/// What a person decided about steps, given on the command line or in the UI.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub done: HashSet<String>,
    pub skip: HashMap<String, String>,
    pub rerun: HashSet<String>,
    pub confirm: HashMap<String, String>,
    pub outputs: HashMap<String, HashMap<String, String>>,
    /// What to do about a step's processes left running by a stepwise that died.
    pub orphan: Option<Orphan>,
}

/// What a person chose to do about a step's processes left running when the process driving
/// the step died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// Wait until they have ended.
    Wait,
    /// Stop them: SIGTERM to the group, then SIGKILL after a grace period.
    Stop,
}

/// The engine's own errors (distinct from a step failing).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Decision(String),
    /// A decision about a step whose processes still run, left by a stepwise that died.
    #[error("{0}")]
    StillRunning(String),
}

/// Whether the terminal is available to interactive steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    Available,
    Absent,
}

/// Executes a plan.
pub struct Engine {
    plan: Arc<Plan>,
    mode: Mode,
    state: RunState,
    store: Option<RunStore>,
    events: mpsc::UnboundedSender<Event>,
    values: Values,
    cancel: CancellationToken,
    aws_settings: AwsSettings,
    aws: Option<Arc<Aws>>,
    /// Sessions by where and as whom they act: a step with its own `assume_role`, or an
    /// included runbook with its own `aws` section, gets its own.
    sessions: HashMap<String, Arc<Aws>>,
    terminal: Terminal,
    /// The state in memory has changes not yet on disk (see `record_soon`).
    unsaved: bool,
    /// Events held back until the changes they report are on disk.
    held: Vec<Event>,
    /// Output the front end has not shown yet, when it counts it.
    backlog: Option<Arc<Backlog>>,
}

/// The result of one attempt at a step.
struct Attempt {
    status: Status,
    exit_code: Option<i32>,
    outputs: IndexMap<String, (String, bool)>,
    message: Option<String>,
}

impl Attempt {
    fn new(status: Status) -> Attempt {
        Attempt {
            status,
            exit_code: None,
            outputs: IndexMap::new(),
            message: None,
        }
    }

    fn failed(message: impl Into<String>) -> Attempt {
        Attempt {
            message: Some(message.into()),
            ..Attempt::new(Status::Failed)
        }
    }
}

/// Where the next step stands after a step was handled.
enum Flow {
    Next,
    Stop(RunOutcome),
}

impl Engine {
    /// An engine over a run. `store` is None in a dry run, which writes nothing.
    pub fn new(
        plan: Arc<Plan>,
        mode: Mode,
        state: RunState,
        store: Option<RunStore>,
        values: Values,
        events: mpsc::UnboundedSender<Event>,
        cancel: CancellationToken,
    ) -> Engine {
        Engine {
            plan,
            mode,
            state,
            store,
            events,
            values,
            cancel,
            aws_settings: AwsSettings::default(),
            aws: None,
            sessions: HashMap::new(),
            terminal: Terminal::Absent,
            unsaved: false,
            held: Vec::new(),
            backlog: None,
        }
    }

    /// A front end that counts the output lines it has shown: the engine waits while too much
    /// is waiting to be shown.
    pub fn with_backlog(mut self, backlog: Arc<Backlog>) -> Engine {
        self.backlog = Some(backlog);
        self
    }

    /// Settings for AWS steps from the command line (they override the runbook's).
    pub fn with_aws_settings(mut self, settings: AwsSettings) -> Engine {
        self.aws_settings = settings;
        self
    }

    /// Whether interactive steps can have the terminal.
    pub fn with_terminal(mut self, terminal: Terminal) -> Engine {
        self.terminal = terminal;
        self
    }

    /// The run's state as it stands.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    fn emit(&self, event: Event) {
        if let (Some(b), Event::Output { line, .. }) = (&self.backlog, &event) {
            b.sent(line);
        }
        let _ = self.events.send(event);
    }

    fn key(&self, index: usize) -> String {
        self.plan.steps[index].key.clone()
    }

    /// Where a step stands (pending when it has no state yet).
    fn status_of(&self, key: &str) -> Status {
        self.state
            .steps
            .get(key)
            .map(|s| s.status)
            .unwrap_or_default()
    }

    fn step_state(&mut self, index: usize) -> &mut StepState {
        let key = self.key(index);
        self.state.steps.entry(key).or_default()
    }

    /// Writes the state and a journal entry; nothing moves on until both are on disk.
    fn record(
        &mut self,
        what: &str,
        index: Option<usize>,
        result: Option<&str>,
    ) -> Result<(), StoreError> {
        self.state.updated_at = Timestamp::now();
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let key = index.map(|i| self.plan.steps[i].key.clone());
        let masked = result.map(|r| self.values.secrets().mask(r).into_owned());
        store.journal(what, key.as_deref(), masked.as_deref())?;
        store.save(&self.state)?;
        self.unsaved = false;
        for event in std::mem::take(&mut self.held) {
            self.emit(event);
        }
        Ok(())
    }

    /// Records that a step finished, to be written with the next write, which comes before
    /// anything else happens: the next step's start, a wait for a person, or the end of the
    /// run. A finished step and the start of the next one thus share one durable write,
    /// without the run moving on before its progress is on disk.
    fn record_soon(
        &mut self,
        what: &str,
        index: usize,
        result: Option<&str>,
        event: Event,
    ) -> Result<(), StoreError> {
        self.state.updated_at = Timestamp::now();
        let Some(store) = self.store.as_mut() else {
            self.emit(event);
            return Ok(());
        };
        let key = &self.plan.steps[index].key;
        let masked = result.map(|r| self.values.secrets().mask(r).into_owned());
        store.journal(what, Some(key), masked.as_deref())?;
        self.unsaved = true;
        self.held.push(event);
        Ok(())
    }

    /// Writes what `record_soon` left in memory.
    fn flush(&mut self) -> Result<(), StoreError> {
        if !self.unsaved {
            return Ok(());
        }
        self.state.updated_at = Timestamp::now();
        if let Some(store) = self.store.as_mut() {
            store.save(&self.state)?;
        }
        self.unsaved = false;
        for event in std::mem::take(&mut self.held) {
            self.emit(event);
        }
        Ok(())
    }

    /// Steps that a person must decide about before the run can go on: steps interrupted by a
    /// crash, and finished steps whose definition changed since they ran.
    pub fn pending_decisions(&self) -> Vec<(usize, Need)> {
        let mut out = Vec::new();
        for (i, ps) in self.plan.steps.iter().enumerate() {
            let Some(st) = self.state.steps.get(&ps.key) else {
                continue;
            };
            match st.status {
                Status::Running | Status::Interrupted => {
                    let last_output = self.last_output(&ps.key, 10);
                    let need = match left_running(st) {
                        Some(g) => Need::StillRunning {
                            pgid: g.pgid,
                            last_output,
                        },
                        None => Need::Interrupted { last_output },
                    };
                    out.push((i, need));
                }
                Status::Succeeded | Status::Satisfied
                    if !st.definition_hash.is_empty()
                        && st.definition_hash != self.plan.hash(i) =>
                {
                    out.push((i, Need::Changed));
                }
                _ => {}
            }
        }
        out
    }

    /// The last lines of a step's log, read from its end: a log may be large.
    pub fn last_output(&self, key: &str, n: usize) -> Vec<String> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        tail(&store.log_path(key), n)
    }

    /// Marks steps found `running` (the process driving them died) as interrupted, and forgets
    /// the process groups of steps whose processes have ended since.
    pub fn mark_interrupted(&mut self) -> Result<(), StoreError> {
        for i in 0..self.plan.steps.len() {
            let Some(st) = self.state.steps.get(&self.plan.steps[i].key) else {
                continue;
            };
            let group = left_running(st);
            let (running, recorded) = (st.status == Status::Running, st.pgid.is_some());
            if group.is_none() && recorded {
                let st = self.step_state(i);
                st.pgid = None;
                st.pgid_started = None;
                if !running {
                    st.message = Some("the process driving this step stopped before it finished, and its processes have ended since; it may have half-happened".into());
                }
                self.unsaved = true;
            }
            if !running {
                continue;
            }
            let st = self.step_state(i);
            st.status = Status::Interrupted;
            let result = match group {
                Some(g) => {
                    st.message = Some(format!(
                        "the process driving this step stopped before it finished; its processes (process group {}) are still running",
                        g.pgid
                    ));
                    format!(
                        "found running after the last process stopped; its process group {} is still running",
                        g.pgid
                    )
                }
                None => {
                    st.message = Some("the process running this step stopped before it finished; it may have half-happened".into());
                    "found running after the last process stopped".to_string()
                }
            };
            self.record("step.interrupted", Some(i), Some(&result))?;
        }
        self.flush()
    }

    /// Carries out what a person chose about steps whose processes were left running by a
    /// stepwise that died: waits for them to end, or stops them. Each choice is journaled.
    pub async fn settle_orphans(&mut self, choice: Orphan) -> Result<(), EngineError> {
        for i in 0..self.plan.steps.len() {
            let Some(group) = self
                .state
                .steps
                .get(&self.plan.steps[i].key)
                .and_then(left_running)
            else {
                continue;
            };
            let pgid = group.pgid;
            let ended = match choice {
                Orphan::Wait => {
                    self.record(
                        "step.orphan_wait",
                        Some(i),
                        Some(&format!("a person chose to wait for its processes left running (process group {pgid}) to end")),
                    )?;
                    self.note(
                        i,
                        &format!(
                            "waiting for its processes left running (process group {pgid}) to end"
                        ),
                    );
                    if !group.wait(&self.cancel).await {
                        return Ok(());
                    }
                    "its processes left running ended (how they ended is not known)"
                }
                Orphan::Stop => {
                    self.record(
                        "step.orphan_stop",
                        Some(i),
                        Some(&format!("a person chose to stop its processes left running (process group {pgid})")),
                    )?;
                    self.note(
                        i,
                        &format!(
                            "stopping its processes left running (process group {pgid}): SIGTERM, then SIGKILL after {}s",
                            group::GRACE.as_secs()
                        ),
                    );
                    if !group.stop().await {
                        return Err(EngineError::StillRunning(format!(
                            "step `{}`: its processes (process group {pgid}) did not end even after SIGKILL",
                            self.key(i)
                        )));
                    }
                    "its processes left running were stopped by a person"
                }
            };
            let st = self.step_state(i);
            st.pgid = None;
            st.pgid_started = None;
            st.message = Some(format!("{ended}; the step may have half-happened"));
            self.record("step.orphan_ended", Some(i), Some(ended))?;
            self.note(i, ended);
        }
        Ok(())
    }

    /// Applies a person's decisions about interrupted, changed, failed or waiting steps.
    pub fn apply_decisions(&mut self, decisions: &Decisions) -> Result<(), EngineError> {
        let mentioned = decisions
            .done
            .iter()
            .chain(decisions.skip.keys())
            .chain(decisions.rerun.iter())
            .chain(decisions.confirm.keys())
            .chain(decisions.outputs.keys());
        for key in mentioned {
            if self.plan.index_of(key).is_none() {
                let known: Vec<&str> = self.plan.steps.iter().map(|s| s.key.as_str()).collect();
                return Err(EngineError::Decision(crate::runbook::load::unknown(
                    "step", key, &known,
                )));
            }
        }
        for i in 0..self.plan.steps.len() {
            let key = self.key(i);
            let decided = decisions.rerun.contains(&key)
                || decisions.done.contains(&key)
                || decisions.skip.contains_key(&key);
            if decided && let Some(g) = self.state.steps.get(&key).and_then(left_running) {
                return Err(EngineError::StillRunning(format!(
                    "step `{key}` is still running: the stepwise process driving it stopped, but its processes (process group {}) go on, and it is not started or decided about beside them\nhint: `--wait-orphan` waits for them to end, `--stop-orphan` stops them (SIGTERM, then SIGKILL after {}s); either can go with --rerun {key}, --done {key} or --skip {key}",
                    g.pgid,
                    group::GRACE.as_secs()
                )));
            }
        }
        for i in 0..self.plan.steps.len() {
            let key = self.key(i);
            let hash = self.plan.hash(i).to_string();
            let kind = self.plan.step(i).kind();
            let status = self.status_of(&key);
            if decisions.rerun.contains(&key) {
                let st = self.step_state(i);
                *st = StepState {
                    attempts: st.attempts,
                    ..StepState::default()
                };
                self.record("step.rerun", Some(i), Some("a person chose to re-run it"))?;
            } else if let Some(reason) = decisions.skip.get(&key) {
                // Skipping an include skips the steps inside it too.
                self.skip_with_children(i, &format!("skipped by a person: {reason}"), &hash)?;
            } else if decisions.done.contains(&key) && kind != StepKind::Manual {
                let changed = status.is_done();
                let st = self.step_state(i);
                st.definition_hash = hash;
                if changed {
                    self.record(
                        "step.reviewed",
                        Some(i),
                        Some("a person kept the result after the step changed"),
                    )?;
                } else {
                    st.status = Status::Succeeded;
                    st.message = Some("marked done by a person".into());
                    st.finished_at = Some(Timestamp::now());
                    self.record("step.marked_done", Some(i), Some("marked done by a person"))?;
                    self.finished_event(i, Duration::ZERO);
                }
            }
        }
        Ok(())
    }

    fn finished_event(&self, index: usize, elapsed: Duration) {
        let st = self
            .state
            .steps
            .get(&self.plan.steps[index].key)
            .cloned()
            .unwrap_or_default();
        self.emit(Event::StepFinished {
            index,
            status: st.status,
            outputs: st.outputs,
            elapsed,
            exit_code: st.exit_code,
            message: st.message,
        });
    }

    /// Runs steps from the first unfinished one until the run completes, a step fails, a
    /// person is needed, or the run is interrupted.
    pub async fn run(&mut self, decisions: &Decisions) -> Result<RunOutcome, EngineError> {
        if let Mode::DryRun { .. } = self.mode {
            self.dry_run().await;
            return Ok(RunOutcome::Completed);
        }
        if let Some((i, _)) = self.pending_decisions().into_iter().next() {
            let need = self.pending_decisions().remove(0).1;
            self.emit(Event::Waiting { index: i, need });
            return Ok(RunOutcome::Waiting { key: self.key(i) });
        }
        let mut i = 0;
        while i < self.plan.steps.len() {
            if self.cancel.is_cancelled() {
                self.flush()?;
                return Ok(RunOutcome::Interrupted { key: None });
            }
            match self.step(i, decisions).await? {
                Flow::Next => i += 1,
                Flow::Stop(outcome) => return Ok(outcome),
            }
        }
        self.record("run.completed", None, None)?;
        Ok(RunOutcome::Completed)
    }

    /// Handles one step: decides whether it runs, runs it, and records the result.
    async fn step(&mut self, i: usize, decisions: &Decisions) -> Result<Flow, EngineError> {
        let key = self.key(i);
        let status = self.status_of(&key);
        if status.is_done() {
            return Ok(Flow::Next);
        }
        if status == Status::Failed && self.plan.step(i).continue_on_error {
            return Ok(Flow::Next);
        }
        let step = self.plan.step(i).clone();
        let hash = self.plan.hash(i).to_string();

        // An include whose `when` is false skips everything inside it.
        if let Some(when) = &step.when {
            let ctx = self
                .values
                .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
            match template::eval_condition(&when.value, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    let reason = format!("`when: {}` is false", when.value);
                    self.skip_with_children(i, &reason, &hash)?;
                    return Ok(Flow::Next);
                }
                Err(e) => {
                    return self.finish(
                        i,
                        Attempt::failed(format!("cannot evaluate `when`: {e}")),
                        &hash,
                        Instant::now(),
                    );
                }
            }
        }

        match step.kind() {
            StepKind::Manual => return self.manual(i, decisions, &hash),
            StepKind::Include => return self.include(i, &hash),
            _ => {}
        }

        if let Some(script) = &step.skip_if {
            let started = Instant::now();
            match self.skip_check(i, script).await {
                Ok(true) => {
                    let mut a = Attempt::new(Status::Satisfied);
                    a.message = Some("already satisfied: `skip_if` passed".into());
                    return self.finish(i, a, &hash, started);
                }
                Ok(false) => {}
                Err(e) => return self.finish(i, Attempt::failed(e), &hash, started),
            }
        }

        // Checked after `skip_if`: an interactive step already satisfied needs no terminal.
        if step.kind() == StepKind::Run && step.interactive && self.terminal == Terminal::Absent {
            let st = self.step_state(i);
            st.status = Status::Waiting;
            st.message = Some("needs a terminal".into());
            self.record("step.waiting", Some(i), Some("needs a terminal"))?;
            self.emit(Event::Waiting {
                index: i,
                need: Need::Terminal,
            });
            return Ok(Flow::Stop(RunOutcome::Waiting { key }));
        }

        if let Some(text) = &step.danger {
            let ctx = self
                .values
                .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
            let text = match template::render(text, &ctx) {
                Ok(t) => t,
                Err(e) => {
                    return self.finish(
                        i,
                        Attempt::failed(format!("cannot resolve `danger`: {e}")),
                        &hash,
                        Instant::now(),
                    );
                }
            };
            if decisions.confirm.get(&key).map(String::as_str) != Some(text.as_str()) {
                let described = self.describe(i).await;
                let preview = match described.problem {
                    Some(p) if described.body.is_empty() => {
                        format!("(cannot show the change: {p})")
                    }
                    _ => described.body,
                };
                let given = decisions.confirm.contains_key(&key);
                let st = self.step_state(i);
                st.status = Status::Waiting;
                st.message = Some(if given {
                    "the confirmation typed does not match; nothing was changed".into()
                } else {
                    "needs a typed confirmation".into()
                });
                let msg = st.message.clone();
                self.record("step.waiting", Some(i), msg.as_deref())?;
                self.emit(Event::Waiting {
                    index: i,
                    need: Need::Danger { text, preview },
                });
                return Ok(Flow::Stop(RunOutcome::Waiting { key }));
            }
            self.record(
                "step.confirmed",
                Some(i),
                Some("a person typed the confirmation"),
            )?;
        }

        let tries = step.retry.map_or(0, |r| r.times) + 1;
        let delay = step
            .retry
            .and_then(|r| r.delay)
            .map_or(Duration::ZERO, |d| d.0);
        // A script is resolved and its bash started before the "running" state is written, and
        // released after: bash starts while the state goes to disk.
        let mut early = None;
        if matches!(step.kind(), StepKind::Run | StepKind::Check)
            && !step.interactive
            && step.for_each.is_none()
            && let Ok(prepared) = self.prepare(i)
            && let Ok(held) = shell::spawn(&prepared.script())
        {
            early = Some((prepared, held));
        }
        let mut attempt_no = 0;
        loop {
            attempt_no += 1;
            let started = Instant::now();
            // The script's process group is on disk with the "running" state, before the
            // script passes its gate: after a crash, it tells whether the step still runs.
            let group = early
                .as_ref()
                .and_then(|(_, held)| held.pid())
                .and_then(group::Group::of);
            let attempts = {
                let st = self.step_state(i);
                st.pgid = group.map(|g| g.pgid);
                st.pgid_started = group.map(|g| g.started);
                st.status = Status::Running;
                st.attempts += 1;
                st.started_at = Some(Timestamp::now());
                st.finished_at = None;
                st.exit_code = None;
                st.message = None;
                st.definition_hash = hash.clone();
                st.attempts
            };
            // Durable before the step starts: after a crash the step is found running, and is
            // never re-run without a person deciding.
            self.record("step.started", Some(i), None)?;
            self.emit(Event::StepStarted {
                index: i,
                attempt: attempts,
            });
            let attempt = match early.take() {
                Some(early) => self.script(i, Some(early)).await,
                None => self.attempt(i).await,
            };
            let retry = attempt.status == Status::Failed
                && attempt_no < tries
                && !self.cancel.is_cancelled();
            if retry {
                let msg = format!(
                    "attempt {attempt_no} of {tries} failed{}; trying again{}",
                    attempt
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default(),
                    if delay.is_zero() {
                        String::new()
                    } else {
                        format!(" in {}", humantime::format_duration(delay))
                    }
                );
                self.note(i, &msg);
                let st = self.step_state(i);
                st.pgid = None;
                st.pgid_started = None;
                st.status = Status::Failed;
                st.exit_code = attempt.exit_code;
                st.message = attempt.message.clone();
                self.record("step.retry", Some(i), Some(&msg))?;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = self.cancel.cancelled() => {}
                }
                continue;
            }
            return self.finish(i, attempt, &hash, started);
        }
    }

    /// Records how a step ended and decides whether the run goes on.
    fn finish(
        &mut self,
        i: usize,
        attempt: Attempt,
        hash: &str,
        started: Instant,
    ) -> Result<Flow, EngineError> {
        let key = self.key(i);
        let attempt = self.with_cut_log(i, attempt);
        let continue_on_error = self.plan.step(i).continue_on_error;
        let mut shown = IndexMap::new();
        let mut outputs = IndexMap::new();
        let mut secret_names = Vec::new();
        for (name, (value, secret)) in &attempt.outputs {
            // An output that holds a secret's value is a secret too.
            if *secret || self.values.secrets().appears_in(value) {
                self.values.set_secret_output(&key, name, value);
                secret_names.push(name.clone());
                shown.insert(name.clone(), Value::String(MASK.into()));
                // A `for_each` step showed each item's secret as it came.
                let per_item = self.plan.step(i).for_each.is_some();
                if self.terminal == Terminal::Available
                    && matches!(self.mode, Mode::Real)
                    && !per_item
                {
                    self.held.push(Event::SecretOnce {
                        index: i,
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            } else {
                outputs.insert(name.clone(), Value::String(value.clone()));
                shown.insert(name.clone(), Value::String(value.clone()));
            }
        }
        let message = attempt
            .message
            .map(|m| self.values.secrets().mask(&m).into_owned());
        {
            let st = self.step_state(i);
            st.status = attempt.status;
            st.exit_code = attempt.exit_code;
            st.finished_at = Some(Timestamp::now());
            st.outputs = outputs;
            st.secret_outputs = secret_names;
            st.definition_hash = hash.to_string();
            st.message = message.clone();
            st.continued = attempt.status == Status::Failed && continue_on_error;
            st.pgid = None;
            st.pgid_started = None;
        }
        let what = format!("step.{}", attempt.status.as_str());
        let event = Event::StepFinished {
            index: i,
            status: attempt.status,
            outputs: shown,
            elapsed: started.elapsed(),
            exit_code: attempt.exit_code,
            message: message.clone(),
        };
        let goes_on =
            attempt.status.is_done() || (attempt.status == Status::Failed && continue_on_error);
        if goes_on {
            self.record_soon(&what, i, message.as_deref(), event)?;
        } else {
            self.record(&what, Some(i), message.as_deref())?;
            self.emit(event);
        }
        Ok(match attempt.status {
            Status::Failed if continue_on_error => Flow::Next,
            Status::Failed => Flow::Stop(RunOutcome::Failed { key }),
            Status::Interrupted => Flow::Stop(RunOutcome::Interrupted { key: Some(key) }),
            Status::Waiting => Flow::Stop(RunOutcome::Waiting { key }),
            _ => Flow::Next,
        })
    }

    /// Says so, in the output and in the step's message, when the step's log was cut (the
    /// disk was full): the log does not hold all the step printed.
    fn with_cut_log(&self, i: usize, mut attempt: Attempt) -> Attempt {
        let Some(store) = &self.store else {
            return attempt;
        };
        let path = store.log_path(&self.plan.steps[i].key);
        let Some(why) = outputs::take_cut(&path) else {
            return attempt;
        };
        let cut = format!(
            "the log {} was cut ({why}): it lacks the step's later output",
            path.display()
        );
        self.emit(Event::Output {
            index: i,
            stream: Stream::Info,
            line: cut.clone(),
        });
        attempt.message = Some(match attempt.message.take() {
            Some(m) => format!("{m}\n{cut}"),
            None => cut,
        });
        attempt
    }

    fn skip_with_children(
        &mut self,
        i: usize,
        reason: &str,
        hash: &str,
    ) -> Result<(), EngineError> {
        let end = self.plan.steps[i].include.map_or(i + 1, |(_, end)| end);
        for j in i..end {
            let hash = if j == i {
                hash.to_string()
            } else {
                self.plan.hash(j).to_string()
            };
            let st = self.step_state(j);
            st.status = Status::Skipped;
            st.definition_hash = hash;
            st.message = Some(reason.to_string());
            self.record("step.skipped", Some(j), Some(reason))?;
            self.finished_event(j, Duration::ZERO);
        }
        Ok(())
    }

    /// A manual step: done when a person said so and answered its prompts.
    fn manual(&mut self, i: usize, decisions: &Decisions, hash: &str) -> Result<Flow, EngineError> {
        let key = self.key(i);
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let answers = decisions.outputs.get(&key).cloned().unwrap_or_default();
        let mut missing = Vec::new();
        let mut problems = Vec::new();
        let mut outputs = IndexMap::new();
        for (name, prompt) in &step.prompts {
            if prompt.secret
                && let Some(v) = answers.get(name)
            {
                self.values.add_secret(v);
            }
            match answers.get(name) {
                None => missing.push(name.clone()),
                Some(value) => match check_value(
                    value,
                    prompt.pattern.as_ref().map(|p| p.value.as_str()),
                    &prompt.choices,
                ) {
                    Ok(()) => {
                        outputs.insert(name.clone(), (value.clone(), prompt.secret));
                    }
                    Err(e) => problems.push(format!("answer to `{name}`: {e}")),
                },
            }
        }
        if decisions.done.contains(&key) && missing.is_empty() && problems.is_empty() {
            let mut a = Attempt::new(Status::Succeeded);
            a.outputs = outputs;
            a.message = Some("confirmed done by a person".into());
            {
                let st = self.step_state(i);
                st.attempts += 1;
                st.started_at.get_or_insert_with(Timestamp::now);
            }
            return self.finish(i, a, hash, Instant::now());
        }
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let instructions = template::render(step.manual.as_deref().unwrap_or_default(), &ctx)
            .unwrap_or_else(|e| format!("(cannot resolve the instructions: {e})"));
        let instructions = self.values.secrets().mask(&instructions).into_owned();
        let checklist: Vec<String> = step
            .checklist
            .iter()
            .map(|item| {
                let item = template::render(item, &ctx).unwrap_or_else(|_| item.clone());
                self.values.secrets().mask(&item).into_owned()
            })
            .collect();
        let problems: Vec<String> = problems
            .iter()
            .map(|p| self.values.secrets().mask(p).into_owned())
            .collect();
        let message = if !problems.is_empty() {
            problems.join("; ")
        } else if decisions.done.contains(&key) {
            format!("needs answers to: {}", missing.join(", "))
        } else {
            "waiting for a person".to_string()
        };
        let first = self.status_of(&key) != Status::Waiting;
        {
            let st = self.step_state(i);
            st.status = Status::Waiting;
            st.message = Some(message.clone());
            st.started_at.get_or_insert_with(Timestamp::now);
        }
        if first || decisions.done.contains(&key) {
            self.record("step.waiting", Some(i), Some(&message))?;
        }
        let prompts = step
            .prompts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.emit(Event::Waiting {
            index: i,
            need: Need::Manual {
                instructions,
                checklist,
                prompts,
                missing,
                problems,
            },
        });
        Ok(Flow::Stop(RunOutcome::Waiting { key }))
    }

    /// An include step: resolves the inputs its runbook receives; its steps follow in the plan.
    fn include(&mut self, i: usize, hash: &str) -> Result<Flow, EngineError> {
        let started = Instant::now();
        let Some((child, _)) = self.plan.steps[i].include else {
            return self.finish(
                i,
                Attempt::failed("the included runbook was not loaded"),
                hash,
                started,
            );
        };
        match self
            .values
            .resolve_scope_inputs(&self.plan, &self.state, child, false)
        {
            Ok(inputs) => {
                let recorded = inputs
                    .iter()
                    .map(|(k, (v, secret))| {
                        let value = if *secret {
                            InputValue::Secret { secret: true }
                        } else {
                            InputValue::Value { value: v.clone() }
                        };
                        (k.clone(), value)
                    })
                    .collect();
                self.step_state(i).inputs = Some(recorded);
                self.finish(i, Attempt::new(Status::Succeeded), hash, started)
            }
            Err(e) => self.finish(i, Attempt::failed(e), hash, started),
        }
    }

    /// Resolves a template in a step's scope; plain strings cost nothing.
    fn render_in(&self, i: usize, text: &str) -> Result<String, String> {
        if !template::is_template(text) {
            return Ok(text.to_string());
        }
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
        template::render(text, &ctx)
    }

    /// Resolves a script in a step's scope: its text refers to its values, which go in its
    /// environment (see `runbook::script`).
    fn render_script(&self, i: usize, text: &str, dry: bool) -> Result<script::Script, String> {
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, dry);
        script::render(text, &ctx)
    }

    async fn skip_check(&mut self, i: usize, script: &str) -> Result<bool, String> {
        // The check may take a while: what is recorded so far goes to disk first.
        self.flush().map_err(|e| e.to_string())?;
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let script = self
            .render_script(i, script, dry)
            .map_err(|e| format!("cannot resolve `skip_if`: {e}"))?;
        let step = self.plan.step(i).clone();
        let mut env = self.script_env(i, &step.env, None)?;
        env.extend(script.vars);
        let (tx, mut rx) = shell::lines();
        let run = shell::run(
            shell::Script {
                source: &script.source,
                env,
                cwd: self.cwd(i)?,
                timeout: step.timeout.map(|t| t.0),
                capture: false,
            },
            tx,
            &self.cancel,
        );
        // Its output is not shown, but taken as it comes: the channel is bounded.
        let drop_lines = async { while rx.recv().await.is_some() {} };
        let (ran, ()) = tokio::join!(run, drop_lines);
        let (exit, _) = ran.map_err(|e| format!("cannot start bash: {e}"))?;
        Ok(matches!(exit, shell::Exit::Code(0)))
    }

    /// The working directory of a step.
    fn cwd(&self, i: usize) -> Result<PathBuf, String> {
        let step = self.plan.step(i);
        let base = self.state.workdir.clone();
        let Some(cwd) = &step.cwd else {
            return Ok(base);
        };
        let cwd = self
            .render_in(i, cwd)
            .map_err(|e| format!("cannot resolve `cwd`: {e}"))?;
        Ok(base.join(cwd))
    }

    /// The environment of a script: the step's `env`, and where to write outputs.
    fn script_env(
        &self,
        i: usize,
        env: &IndexMap<String, String>,
        output_file: Option<&std::path::Path>,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out = vec![
            ("STEPWISE_RUN".to_string(), self.state.name.clone()),
            ("STEPWISE_STEP".to_string(), self.key(i)),
            (
                "STEPWISE_RUNBOOK_DIR".to_string(),
                // Absolute, also for a runbook given by a relative path.
                self.state
                    .workdir
                    .join(self.plan.runbook_of(i).dir())
                    .display()
                    .to_string(),
            ),
        ];
        let output =
            output_file.map_or_else(|| "/dev/null".to_string(), |f| f.display().to_string());
        out.push(("STEPWISE_OUTPUT".to_string(), output));
        for (k, v) in env {
            let v = self
                .render_in(i, v)
                .map_err(|e| format!("cannot resolve `env.{k}`: {e}"))?;
            out.push((k.clone(), v));
        }
        Ok(out)
    }

    /// One attempt at a `run`, `check`, `aws` or `file` step.
    async fn attempt(&mut self, i: usize) -> Attempt {
        match self.plan.step(i).for_each.clone() {
            Some(list) => self.each(i, &list).await,
            None => self.attempt_once(i).await,
        }
    }

    /// A `for_each` step: one attempt per item, stopping at the first failure. Outputs are
    /// the items' values joined by `, `; the step is satisfied when every item was.
    async fn each(&mut self, i: usize, list: &str) -> Attempt {
        let items = match self.render_in(i, list) {
            Ok(rendered) => split_items(&rendered),
            Err(e) => return Attempt::failed(format!("cannot resolve `for_each`: {e}")),
        };
        if items.is_empty() {
            return Attempt {
                message: Some("nothing to do: the `for_each` list is empty".into()),
                ..Attempt::new(Status::Satisfied)
            };
        }
        let mut done: Vec<(String, Attempt)> = Vec::new();
        for item in items {
            self.note(i, &format!("for {item}:"));
            self.values.set_item(Some(item.clone()));
            let attempt = self.attempt_once(i).await;
            self.values.set_item(None);
            if matches!(attempt.status, Status::Failed | Status::Interrupted) {
                return Attempt {
                    message: Some(format!(
                        "for {item}: {}",
                        attempt.message.unwrap_or_default()
                    )),
                    ..attempt
                };
            }
            if self.terminal == Terminal::Available {
                for (name, (value, secret)) in &attempt.outputs {
                    if *secret {
                        self.values.add_secret(value);
                        self.held.push(Event::SecretOnce {
                            index: i,
                            name: format!("{name} for {item}"),
                            value: value.clone(),
                        });
                    }
                }
            }
            done.push((item, attempt));
        }
        let status = if done.iter().all(|(_, a)| a.status == Status::Satisfied) {
            Status::Satisfied
        } else {
            Status::Succeeded
        };
        let mut outputs: IndexMap<String, (String, bool)> = IndexMap::new();
        for (_, attempt) in &done {
            for (name, (value, secret)) in &attempt.outputs {
                let entry = outputs
                    .entry(name.clone())
                    .or_insert((String::new(), false));
                if !entry.0.is_empty() {
                    entry.0.push_str(", ");
                }
                entry.0.push_str(value);
                entry.1 |= *secret;
            }
        }
        let summary: Vec<String> = done
            .iter()
            .map(|(item, a)| format!("{item}: {}", a.status.as_str()))
            .collect();
        Attempt {
            outputs,
            message: Some(summary.join(", ")),
            ..Attempt::new(status)
        }
    }

    /// One attempt at a step, for one item when it has `for_each`.
    async fn attempt_once(&mut self, i: usize) -> Attempt {
        let step = self.plan.step(i).clone();
        match step.kind() {
            StepKind::Run | StepKind::Check => self.script(i, None).await,
            StepKind::Aws => self.aws_step(i).await,
            StepKind::File => self.file_step(i).await,
            StepKind::Manual | StepKind::Include => Attempt::failed("not an executable step"),
        }
    }

    /// Resolves a `run` or `check` step's script, environment and working directory.
    fn prepare(&self, i: usize) -> Result<Prepared, String> {
        let step = self.plan.step(i);
        let source = step
            .run
            .as_deref()
            .or(step.check.as_deref())
            .unwrap_or_default();
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let script = self
            .render_script(i, source, dry)
            .map_err(|e| format!("cannot resolve the script: {e}"))?;
        // Only a step that declares outputs gets a file to write them to.
        let output_file = (!step.outputs.is_empty())
            .then(outputs::output_file)
            .transpose()?;
        let mut prepared = Prepared {
            source: script.source,
            env: Vec::new(),
            cwd: PathBuf::new(),
            timeout: step.timeout.map(|t| t.0),
            output_file,
            capture: step
                .outputs
                .values()
                .flatten()
                .any(|o| o.regex.is_some() || o.json.is_some()),
        };
        prepared.env = self.script_env(i, &step.env, prepared.output_file.as_deref())?;
        prepared.env.extend(script.vars);
        prepared.cwd = self.cwd(i)?;
        Ok(prepared)
    }

    /// Runs a `run` or `check` script, streaming its output, and extracts its outputs. `early`
    /// is the script already resolved and started, held until now.
    async fn script(&mut self, i: usize, early: Option<(Prepared, shell::Held)>) -> Attempt {
        let step = self.plan.step(i).clone();
        let key = self.key(i);
        let (prepared, mut held) = match early {
            Some((p, h)) => (p, Some(h)),
            None => match self.prepare(i) {
                Ok(p) => (p, None),
                Err(e) => return Attempt::failed(e),
            },
        };
        let output_file = prepared.output_file.clone();
        let remove_output_file = || {
            if let Some(f) = &output_file {
                let _ = std::fs::remove_file(f);
            }
        };
        let Prepared {
            source,
            env,
            cwd,
            timeout,
            capture,
            ..
        } = &prepared;
        let (source, env, cwd, timeout, capture) =
            (source.clone(), env.clone(), cwd.clone(), *timeout, *capture);

        if step.interactive {
            let lease = self.lend_terminal(i).await;
            let exit = shell::run_interactive(shell::Script {
                source: &source,
                env,
                cwd,
                timeout,
                capture: false,
            })
            .await;
            drop(lease);
            remove_output_file();
            return match exit {
                Ok(shell::Exit::Code(0)) => Attempt::new(Status::Succeeded),
                Ok(shell::Exit::Code(c)) => Attempt {
                    exit_code: Some(c),
                    ..Attempt::failed(format!("exited with status {c}"))
                },
                Ok(other) => Attempt::failed(format!("ended: {other:?}")),
                Err(e) => Attempt::failed(format!("cannot start bash: {e}")),
            };
        }

        // Output of a step with secret outputs is held back until the secrets are known, so
        // that they are masked even on the first line that shows them.
        let hold = step
            .outputs
            .values()
            .any(|o| o.as_ref().is_some_and(|o| o.secret));
        let mut log = outputs::StepLog::new(self.store.as_ref().map(|s| s.log_path(&key)));
        let wait = step.wait.clone();
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let (tx, mut rx) = shell::lines();
            let script = shell::Script {
                source: &source,
                env: env.clone(),
                cwd: cwd.clone(),
                timeout,
                capture,
            };
            let started_bash = match held.take() {
                Some(h) => Ok(h),
                None => shell::spawn(&script),
            };
            let held_bash = match started_bash {
                Ok(h) => h,
                Err(e) => {
                    remove_output_file();
                    return Attempt::failed(format!("cannot start bash: {e}"));
                }
            };
            // A script started here (a retry, a poll, an item) has its process group on disk
            // before it passes its gate, as the first one has with the "running" state.
            if let Some(g) = held_bash.pid().and_then(group::Group::of) {
                let st = self.step_state(i);
                if st.pgid != Some(g.pgid) || st.pgid_started != Some(g.started) {
                    st.pgid = Some(g.pgid);
                    st.pgid_started = Some(g.started);
                    self.unsaved = true;
                    if let Err(e) = self.flush() {
                        remove_output_file();
                        return Attempt::failed(format!(
                            "cannot record the step's process group: {e}"
                        ));
                    }
                }
            }
            let run = shell::wait(held_bash, tx, &self.cancel);
            let mut held = Vec::new();
            let mut held_bytes = 0;
            let mut not_held = 0;
            let pump = async {
                while let Some((stream, line)) = rx.recv().await {
                    if hold {
                        if held_bytes + line.len() <= MAX_HELD {
                            held_bytes += line.len();
                            held.push((stream, line));
                        } else {
                            not_held += 1;
                        }
                    } else {
                        let line = self.values.secrets().mask(&line).into_owned();
                        log.line(stream, &line);
                        if let Some(b) = &self.backlog
                            && !b.room(&self.events, &self.cancel).await
                        {
                            continue;
                        }
                        self.emit(Event::Output {
                            index: i,
                            stream,
                            line,
                        });
                    }
                }
            };
            let (result, ()) = tokio::join!(run, pump);
            let (exit, stdout) = match result {
                Ok(r) => r,
                Err(e) => {
                    remove_output_file();
                    return Attempt::failed(format!("cannot start bash: {e}"));
                }
            };
            let mut attempt = match exit {
                shell::Exit::Code(0) => {
                    match outputs::extract(&step.outputs, &stdout, output_file.as_deref()) {
                        Ok(outputs) => Attempt {
                            outputs,
                            ..Attempt::new(Status::Succeeded)
                        },
                        Err(e) => Attempt {
                            exit_code: Some(0),
                            ..Attempt::failed(e)
                        },
                    }
                }
                shell::Exit::Code(c) => Attempt {
                    exit_code: Some(c),
                    ..Attempt::failed(format!("exited with status {c}"))
                },
                shell::Exit::Signal(s) => Attempt::failed(format!("killed by signal {s}")),
                shell::Exit::TimedOut => Attempt::failed(format!(
                    "timed out after {}; its process group was stopped",
                    humantime::format_duration(timeout.unwrap_or_default())
                )),
                shell::Exit::Cancelled => Attempt {
                    message: Some("interrupted; its process group was stopped".into()),
                    ..Attempt::new(Status::Interrupted)
                },
            };
            if attempt.status == Status::Succeeded {
                attempt.exit_code = Some(0);
            }
            remove_output_file();
            for (_, (value, secret)) in &attempt.outputs {
                if *secret {
                    self.values.add_secret(value);
                }
            }
            if not_held > 0 {
                held.push((
                    Stream::Info,
                    format!(
                        "{not_held} more lines were not kept: a step with secret outputs keeps its output until the secrets are known, at most {} MiB of it",
                        MAX_HELD / (1024 * 1024)
                    ),
                ));
            }
            for (stream, line) in held {
                let line = self.values.secrets().mask(&line).into_owned();
                log.line(stream, &line);
                self.emit(Event::Output {
                    index: i,
                    stream,
                    line,
                });
            }
            // A check with `wait` is polled until it passes or its time is up.
            if let (Some(w), Status::Failed) = (&wait, attempt.status)
                && step.kind() == StepKind::Check
            {
                let elapsed = started.elapsed();
                if elapsed + w.every.0 <= w.timeout.0 {
                    let line = format!(
                        "check not passing yet (try {tries}, {} elapsed); next try in {}",
                        humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
                        w.every
                    );
                    log.line(Stream::Info, &line);
                    self.emit(Event::Output {
                        index: i,
                        stream: Stream::Info,
                        line,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(w.every.0) => continue,
                        _ = self.cancel.cancelled() => {
                            return Attempt { message: Some("interrupted while waiting".into()), ..Attempt::new(Status::Interrupted) };
                        }
                    }
                }
                attempt.message = Some(format!("still failing after waiting {}", w.timeout));
            }
            return attempt;
        }
    }

    /// Shows lines from stepwise itself about a step, and appends them to the step's log.
    fn note(&self, i: usize, text: &str) {
        let text = self.values.secrets().mask(text);
        let mut log = outputs::StepLog::new(
            self.store
                .as_ref()
                .map(|s| s.log_path(&self.plan.steps[i].key)),
        );
        for line in text.lines() {
            log.line(Stream::Info, line);
            self.emit(Event::Output {
                index: i,
                stream: Stream::Info,
                line: line.to_string(),
            });
        }
    }

    /// Connects to AWS once, and reads and checks the identity before the first AWS step.
    async fn connect_aws(&mut self, i: usize) -> Result<Arc<Aws>, String> {
        let scope = self.plan.steps[i].scope;
        let mut settings =
            self.values
                .aws_settings(&self.plan, &self.state, scope, &self.aws_settings)?;
        if let Some(role) = self.plan.step(i).assume_role.clone() {
            let role = self
                .render_in(i, &role)
                .map_err(|e| format!("cannot resolve `assume_role`: {e}"))?;
            settings.assume_role = Some(role);
        }
        let key = format!(
            "{:?}",
            (
                &settings.region,
                &settings.profile,
                &settings.assume_role,
                &settings.session_duration,
                &settings.expected_account
            )
        );
        if let Some(aws) = self.sessions.get(&key) {
            self.aws = Some(aws.clone());
            return Ok(aws.clone());
        }
        // The MFA device (the included runbook's over the root's), and what only the command
        // line and the front end know.
        for s in [0, scope] {
            if let Some(serial) = self.plan.scopes[s]
                .runbook
                .doc
                .aws
                .as_ref()
                .and_then(|a| a.mfa_serial.as_ref())
            {
                let ctx = self.values.context(&self.plan, &self.state, s, false);
                settings.mfa_serial = Some(
                    template::render(&serial.value, &ctx)
                        .map_err(|e| format!("runbook `aws.mfa_serial`: {e}"))?,
                );
            }
        }
        settings.mfa_code = self.aws_settings.mfa_code.clone();
        settings.terminal = self.terminal == Terminal::Available;
        settings.preset = self.aws_settings.preset.clone();
        // Asking for an MFA code needs the terminal (a front end lends it).
        let asks = settings.terminal
            && settings.assume_role.is_some()
            && settings.mfa_serial.is_some()
            && settings.mfa_code.is_none();
        let lease = if asks {
            Some(self.lend_terminal(i).await)
        } else {
            None
        };
        let aws = Aws::connect(settings.clone()).await;
        drop(lease);
        let aws = aws.map_err(|e| e.to_string())?;
        aws.set_workdir(self.state.workdir.clone());
        let identity = aws.identity().await.map_err(|e| e.to_string())?;
        self.emit(Event::Identity(identity.clone()));
        if let Some(expected) = &settings.expected_account
            && expected != &identity.account
        {
            return Err(format!(
                "refusing to act on account {} ({}): this runbook acts only on account {expected}\nhint: switch to a profile for account {expected} (`--profile`), or check the runbook's `aws.account`",
                identity.account, identity.arn
            ));
        }
        self.sessions.insert(key, aws.clone());
        self.aws = Some(aws.clone());
        Ok(aws)
    }

    async fn aws_step(&mut self, i: usize) -> Attempt {
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let Some(action) = step
            .aws
            .as_ref()
            .and_then(|a| aws::registry().get(&a.value))
        else {
            return Attempt::failed("unknown AWS action");
        };
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let params = match context::render_params(
            step.with.as_deref().unwrap_or(&Value::Null),
            action.scripts(),
            &ctx,
        ) {
            Ok(p) => p,
            Err(e) => return Attempt::failed(format!("cannot resolve `with`: {e}")),
        };
        let aws = match self.connect_aws(i).await {
            Ok(a) => a,
            Err(e) => return Attempt::failed(e),
        };
        // An interactive action (an SSM session) has the terminal while it runs.
        let lease = if action.interactive() && self.terminal == Terminal::Available {
            Some(self.lend_terminal(i).await)
        } else {
            None
        };
        // A checking action with `wait` is polled until it passes or its time is up; `timeout`
        // bounds each try.
        let started = Instant::now();
        let limit = step.timeout.map_or(Duration::MAX, |t| t.0);
        let mut tries = 0u32;
        let result = loop {
            tries += 1;
            let result = tokio::select! {
                r = tokio::time::timeout(limit, action.apply(&aws, &params)) => match r {
                    Ok(r) => r,
                    Err(_) => return Attempt::failed(format!("{}: no answer within {}", action.name(), humantime::format_duration(limit))),
                },
                _ = self.cancel.cancelled() => {
                    return Attempt { message: Some("interrupted while waiting for AWS".into()), ..Attempt::new(Status::Interrupted) };
                }
            };
            match (&result, &step.wait) {
                (Err(e), Some(w)) if e.code == aws::CHECK_FAILED => {
                    let elapsed = started.elapsed();
                    if elapsed + w.every.0 > w.timeout.0 {
                        return Attempt::failed(format!(
                            "{e}\nstill not passing after waiting {}",
                            w.timeout
                        ));
                    }
                    self.note(
                        i,
                        &format!(
                            "{} (try {tries}, {} elapsed); next try in {}",
                            e.message,
                            humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
                            w.every
                        ),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(w.every.0) => continue,
                        _ = self.cancel.cancelled() => {
                            return Attempt { message: Some("interrupted while waiting".into()), ..Attempt::new(Status::Interrupted) };
                        }
                    }
                }
                _ => break result,
            }
        };
        drop(lease);
        match result {
            Ok(outcome) => {
                match outputs::from_result(
                    &step.outputs,
                    action.outputs(),
                    &outcome.result,
                    &outcome.secret,
                ) {
                    Ok(outputs) => {
                        let status = if action.read_only() || outcome.changed {
                            Status::Succeeded
                        } else {
                            Status::Satisfied
                        };
                        for (_, (v, secret)) in &outputs {
                            if *secret {
                                self.values.add_secret(v);
                            }
                        }
                        self.note(i, &outcome.summary);
                        Attempt {
                            outputs,
                            // The first line; details were shown and logged above.
                            message: outcome.summary.lines().next().map(str::to_string),
                            ..Attempt::new(status)
                        }
                    }
                    Err(e) => {
                        self.note(i, &outcome.summary);
                        Attempt::failed(e)
                    }
                }
            }
            Err(e) => Attempt::failed(e.to_string()),
        }
    }

    async fn file_step(&mut self, i: usize) -> Attempt {
        let scope = self.plan.steps[i].scope;
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let step = self.plan.step(i).clone();
        let Some(spec) = &step.file else {
            return Attempt::failed("not a file step");
        };
        let change = match file::plan(spec, self.plan.runbook_of(i), &self.state.workdir, &ctx) {
            Ok(c) => c,
            Err(e) => return Attempt::failed(e),
        };
        let mut outputs = IndexMap::new();
        outputs.insert("path".to_string(), (change.shown.clone(), false));
        if !change.changed() {
            self.note(i, &format!("{} is already as wanted", change.shown));
            return Attempt {
                outputs,
                message: Some("already as wanted".into()),
                ..Attempt::new(Status::Satisfied)
            };
        }
        let diff = self.values.secrets().mask(&change.diff()).into_owned();
        self.note(i, &diff);
        let secret = self.values.secrets().mask(&change.new) != change.new.as_str();
        match file::apply(&change, spec.mode.as_deref(), secret) {
            Ok(()) => Attempt {
                outputs,
                ..Attempt::new(Status::Succeeded)
            },
            Err(e) => Attempt::failed(e),
        }
    }

    /// What a step would do, with everything resolved that can be; a `for_each` step shows
    /// each item.
    async fn describe(&mut self, i: usize) -> Preview {
        let Some(list) = self.plan.step(i).for_each.clone() else {
            return self.describe_once(i).await;
        };
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, dry);
        let items = match template::render(&list, &ctx) {
            Ok(rendered) => split_items(&rendered),
            Err(e) => {
                let mut p = self.describe_once(i).await;
                p.problem = Some(format!("cannot resolve `for_each`: {e}"));
                return p;
            }
        };
        let mut combined = Preview {
            skip: None,
            body: String::new(),
            danger: None,
            problem: None,
        };
        for item in items {
            self.values.set_item(Some(item.clone()));
            let p = self.describe_once(i).await;
            self.values.set_item(None);
            if !combined.body.is_empty() {
                combined.body.push('\n');
            }
            let body: Vec<String> = p.body.lines().map(|l| format!("  {l}")).collect();
            combined
                .body
                .push_str(&format!("for {item}:\n{}", body.join("\n")));
            combined.danger = combined.danger.or(p.danger);
            combined.problem = combined.problem.or(p.problem);
        }
        combined
    }

    /// What one step (or one item of it) would do.
    async fn describe_once(&mut self, i: usize) -> Preview {
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let ctx = self.values.context(&self.plan, &self.state, scope, dry);
        let mut preview = Preview {
            skip: None,
            body: String::new(),
            danger: None,
            problem: None,
        };
        let render = |s: &str| template::render(s, &ctx);
        if let Some(d) = &step.danger {
            match render(d) {
                Ok(t) => preview.danger = Some(t),
                Err(e) => preview.problem = Some(format!("cannot resolve `danger`: {e}")),
            }
        }
        let result: Result<String, String> = match step.kind() {
            StepKind::Manual => render(step.manual.as_deref().unwrap_or_default()).map(|text| {
                let mut body = text.trim_end().to_string();
                for item in &step.checklist {
                    let item = render(item).unwrap_or_else(|_| item.clone());
                    body.push_str(&format!("\n[ ] {item}"));
                }
                for (name, p) in &step.prompts {
                    body.push_str(&format!(
                        "\n? {} -> steps.{}.{name}",
                        p.prompt, step.id.value
                    ));
                }
                body
            }),
            StepKind::Run | StepKind::Check => script::render(
                step.run
                    .as_deref()
                    .or(step.check.as_deref())
                    .unwrap_or_default(),
                &ctx,
            )
            .map(|s| {
                let mut body = s
                    .shown(|v| self.values.secrets().mask(v))
                    .trim_end()
                    .to_string();
                for (k, v) in &step.env {
                    if let Ok(v) = render(v) {
                        let v = script::shown_word(&self.values.secrets().mask(&v));
                        body = format!("{k}={v}\n{body}");
                    }
                }
                if step.interactive {
                    body.push_str("\n(interactive: runs with the terminal)");
                }
                body
            }),
            StepKind::Aws => {
                let action = step
                    .aws
                    .as_ref()
                    .and_then(|a| aws::registry().get(&a.value));
                match (
                    action,
                    context::render_params(
                        step.with.as_deref().unwrap_or(&Value::Null),
                        action.map_or(&[][..], |a| a.scripts()),
                        &ctx,
                    ),
                ) {
                    (Some(a), Ok(params)) => {
                        let req = a.request(&params);
                        let mut body = serde_json::to_string_pretty(&req).unwrap_or_default();
                        // Before a change that needs a typed confirmation: what is there now,
                        // beside what is wanted.
                        if !dry && a.danger().is_some() {
                            let now = match self.connect_aws(i).await {
                                Ok(aws) => a
                                    .plan(&aws, &params)
                                    .await
                                    .map(|p| p.text)
                                    .map_err(|e| e.to_string()),
                                Err(e) => Err(e),
                            };
                            body.push_str(&match now {
                                Ok(text) => format!("\n=> {text}"),
                                Err(e) => format!("\n=> (cannot read the current state: {e})"),
                            });
                        }
                        Ok(body)
                    }
                    (_, Err(e)) => Err(e),
                    (None, _) => Err("unknown action".into()),
                }
            }
            StepKind::File => match &step.file {
                Some(spec) => {
                    match file::plan(spec, self.plan.runbook_of(i), &self.state.workdir, &ctx) {
                        Ok(c) if c.changed() => Ok(c.diff()),
                        Ok(c) => Ok(format!("{} is already as wanted", c.shown)),
                        // In a dry run the file may be one that an earlier step would create.
                        Err(_) if dry && !spec.set.is_empty() => {
                            let path = render(&spec.path).unwrap_or_else(|_| spec.path.clone());
                            let mut body = format!("in {path} (not there yet), set:");
                            for (k, v) in &spec.set {
                                // `current` is what the earlier step will leave there.
                                let mut local = serde_json::Map::new();
                                local.insert(
                                    "current".into(),
                                    Value::String(format!("<current {k}>")),
                                );
                                let local = minijinja::context! {
                                    ..minijinja::Value::from_serialize(local), ..ctx.clone()
                                };
                                let v =
                                    context::render_value(v, &local).unwrap_or_else(|_| v.clone());
                                body.push_str(&format!("\n  {k}: {v}"));
                            }
                            Ok(body)
                        }
                        Err(e) => Err(e),
                    }
                }
                None => Err("not a file step".into()),
            },
            StepKind::Include => match self.plan.steps[i].include {
                Some((child, _)) => self
                    .values
                    .resolve_scope_inputs(&self.plan, &self.state, child, dry)
                    .map(|inputs| {
                        let rb = &self.plan.scopes[child].runbook;
                        let mut body =
                            format!("include {} ({})", rb.path().display(), rb.doc.title);
                        for (k, (v, secret)) in inputs {
                            body.push_str(&format!(
                                "\n  {k} = {}",
                                if secret { MASK } else { v.as_str() }
                            ));
                        }
                        body
                    }),
                None => Err("the included runbook was not loaded".into()),
            },
        };
        match result {
            Ok(body) => preview.body = self.values.secrets().mask(&body).into_owned(),
            Err(e) => preview.problem = Some(self.values.secrets().mask(&e).into_owned()),
        }
        preview
    }

    /// Goes through every step and shows what it would do; changes nothing, writes nothing.
    async fn dry_run(&mut self) {
        let with_checks = matches!(self.mode, Mode::DryRun { with_checks: true });
        for i in 0..self.plan.steps.len() {
            if self.cancel.is_cancelled() {
                return;
            }
            let step = self.plan.step(i).clone();
            let scope = self.plan.steps[i].scope;
            let mut preview = self.describe(i).await;
            if let Some(when) = &step.when {
                let ctx = self.values.context(&self.plan, &self.state, scope, true);
                let values = when_values(&when.value, &ctx);
                let values = self.values.secrets().mask(&values).into_owned();
                match template::eval_condition(&when.value, &ctx) {
                    Ok(false) => {
                        preview.skip = Some(format!(
                            "would be skipped: `when: {}` is false{values}",
                            when.value
                        ))
                    }
                    Ok(true) => {}
                    Err(e) => {
                        preview.skip = Some(format!(
                            "`when: {}` cannot be decided yet{values}: {e}",
                            when.value
                        ))
                    }
                }
            }
            if let Some(script) = &step.skip_if {
                let shown = self
                    .render_script(i, script, true)
                    .map(|s| s.shown(|v| self.values.secrets().mask(v)));
                let placeholders = shown.as_ref().map_or(true, |s| needs_earlier(s));
                if with_checks && placeholders {
                    preview.skip = Some(
                        "`skip_if` not checked: it needs values that earlier steps would produce"
                            .into(),
                    );
                } else if with_checks {
                    preview.skip = match self.skip_check(i, script).await {
                        Ok(true) => Some("already satisfied: `skip_if` passes".into()),
                        Ok(false) => None,
                        Err(e) => Some(format!("`skip_if` could not be checked: {e}")),
                    };
                } else if preview.skip.is_none() {
                    preview.body = format!(
                        "{}\n(skipped if this passes: {})",
                        preview.body,
                        shown.as_deref().unwrap_or(script).trim()
                    );
                }
            }
            if with_checks && preview.skip.is_none() {
                self.dry_check(i, &step, &mut preview).await;
            }
            self.emit(Event::Preview { index: i, preview });
        }
    }

    /// In a dry run with `--with-checks`, runs read-only checks and read-only AWS actions.
    async fn dry_check(&mut self, i: usize, step: &crate::runbook::Step, preview: &mut Preview) {
        if needs_earlier(&preview.body) {
            preview
                .body
                .push_str("\n=> not checked: it needs values that earlier steps would produce");
            return;
        }
        match step.kind() {
            StepKind::Check => {
                let a = self.script(i, None).await;
                let verdict = match a.status {
                    Status::Succeeded => "check passes now".to_string(),
                    _ => format!("check does not pass now: {}", a.message.unwrap_or_default()),
                };
                preview.body = format!("{}\n=> {verdict}", preview.body);
            }
            StepKind::Aws => {
                // Every action reads the current state and says what it would do.
                let Some(action) = step
                    .aws
                    .as_ref()
                    .and_then(|a| aws::registry().get(&a.value))
                else {
                    return;
                };
                let scope = self.plan.steps[i].scope;
                let ctx = self.values.context(&self.plan, &self.state, scope, true);
                let params = match context::render_params(
                    step.with.as_deref().unwrap_or(&Value::Null),
                    action.scripts(),
                    &ctx,
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        preview.body = format!("{}\n=> not checked: {e}", preview.body);
                        return;
                    }
                };
                // Values that only earlier steps would produce may hide in masked parameters.
                if needs_earlier(&params.to_string()) {
                    preview.body.push_str(
                        "\n=> not checked: it needs values that earlier steps would produce",
                    );
                    return;
                }
                let verdict = match self.connect_aws(i).await {
                    Err(e) => format!("not checked: {e}"),
                    Ok(aws) => match action.plan(&aws, &params).await {
                        Ok(planned) => planned.text,
                        Err(e) => format!("not checked: {e}"),
                    },
                };
                let verdict = self.values.secrets().mask(&verdict).into_owned();
                preview.body = format!("{}\n=> {verdict}", preview.body);
            }
            _ => {}
        }
    }
}

/// The items of a `for_each` list: a JSON list, or text separated by commas or new lines.
fn split_items(text: &str) -> Vec<String> {
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text.trim()) {
        return items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
    }
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `run` or `check` script, resolved and ready to start.
struct Prepared {
    source: String,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    timeout: Option<Duration>,
    output_file: Option<PathBuf>,
    /// Outputs are taken from stdout (by regex or JSON path): it is kept.
    capture: bool,
}

impl Prepared {
    fn script(&self) -> shell::Script<'_> {
        shell::Script {
            source: &self.source,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            timeout: self.timeout,
            capture: self.capture,
        }
    }
}

impl Drop for Prepared {
    /// The output file goes with the script, however the step ended.
    fn drop(&mut self) {
        if let Some(f) = &self.output_file {
            outputs::remove_output_file(f);
        }
    }
}

/// Whether a dry-run rendering still holds placeholders for values only a real run would have.
/// The values a `when` expression reads, as a dry run shows them: ` (inputs.env = "dev")`.
fn when_values(expr: &str, ctx: &minijinja::Value) -> String {
    let Ok(paths) = template::references(&format!("{{{{ {expr} }}}}")) else {
        return String::new();
    };
    let shown: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let v = template::render(&format!("{{{{ {path} }}}}"), ctx).ok()?;
            Some(format!("{path} = {}", serde_json::Value::String(v)))
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(", "))
    }
}

fn needs_earlier(text: &str) -> bool {
    text.contains("<steps.") || text.contains("<inputs.")
}

/// Checks a value against a pattern (whole match) and a list of choices.
pub fn check_value(value: &str, pattern: Option<&str>, choices: &[String]) -> Result<(), String> {
    if !choices.is_empty() && !choices.iter().any(|c| c == value) {
        return Err(format!("`{value}` is not one of: {}", choices.join(", ")));
    }
    if let Some(p) = pattern {
        let re = full_regex(p).map_err(|e| e.to_string())?;
        if !re.is_match(value) {
            return Err(format!("`{value}` does not match the pattern `{p}`"));
        }
    }
    Ok(())
}

/// The most output a step with secret outputs keeps until its secrets are known.
const MAX_HELD: usize = 16 * 1024 * 1024;

/// The process group a step left running when the process driving it died, if it still runs.
fn left_running(st: &StepState) -> Option<group::Group> {
    let group = group::Group {
        pgid: st.pgid?,
        started: st.pgid_started?,
    };
    group.alive().then_some(group)
}

/// The last `n` lines of a file, reading no more than such lines can take.
fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    // A logged line is a piece of at most `MAX_LINE` bytes, a prefix and a newline.
    let most = (n as u64 + 1) * (shell::MAX_LINE as u64 + 64);
    let start = len.saturating_sub(most);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(most).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // Read from the middle of a line.
        lines.remove(0);
    }
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
