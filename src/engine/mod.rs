//! The engine: executes a plan's steps in order and reports what happens as events.
//!
//! One engine serves every front end: the plain printer and the terminal UI both consume the
//! `Event`s it sends on a channel. Every change of a step's state is written to the run store,
//! durably, before the engine moves on. A dry run is a mode of the same engine: it goes through
//! the same steps, resolves the same templates, and shows what each would do instead of doing it.

mod aws_step;
mod backlog;
pub mod context;
mod decide;
mod drive;
mod error;
mod file;
mod file_step;
mod gates;
pub mod group;
mod include;
mod manual;
mod outputs;
mod poll;
mod preview;
mod recheck;
mod record;
mod script_step;
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
use crate::runbook::{Plan, Work, script, template};
use crate::state::{RunState, RunStore, Status, StepState, StoreError};

pub use backlog::Backlog;
pub use context::Values;
pub use drive::{Ack, Command, Handoff, Report, serve};
pub use error::StepError;
use gates::Gate;
pub use outputs::scalar;
pub use recheck::{StepCheck, last_check};
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
    /// A step began an attempt, at `at`.
    StepStarted {
        index: usize,
        attempt: u32,
        at: Instant,
    },
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
    /// `mismatched`: a confirmation was given, and it was not this text.
    Danger {
        text: String,
        preview: String,
        mismatched: bool,
    },
    /// A step was running when the last process stopped: re-run it, mark it done, or skip it.
    Interrupted { last_output: Vec<String> },
    /// A step was running when the process driving it stopped, and its processes still run
    /// (process group `pgid`): it is not started again beside them. Wait for them to end, or
    /// stop them (`Orphan`); then decide as for an interrupted step.
    StillRunning { pgid: i32, last_output: Vec<String> },
    /// A finished step's definition changed since it ran: keep it, or re-run it. `diff` is
    /// what changed (unified, old to new), when the old definition was kept.
    Changed { diff: Option<String> },
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

/// The engine's own errors (distinct from a step failing, which is a `StepError`).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Decision(String),
    /// A decision about a step whose processes still run, left by a stepwise that died.
    #[error(
        "step `{key}` is still running: the stepwise process driving it stopped, but its processes (process group {pgid}) go on, and it is not started or decided about beside them"
    )]
    StillRunning { key: String, pgid: i32 },
    /// A step's processes left running were told to stop and did not.
    #[error("step `{key}`: its processes (process group {pgid}) did not end even after SIGKILL")]
    WontStop { key: String, pgid: i32 },
}

impl EngineError {
    /// How to fix it, when the engine knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Store(e) => e.hint(),
            EngineError::Decision(_) | EngineError::WontStop { .. } => None,
            EngineError::StillRunning { key, .. } => Some(format!(
                "`--wait-orphan` waits for them to end, `--stop-orphan` stops them (SIGTERM, then SIGKILL after {}s); either can go with --rerun {key}, --done {key} or --skip {key}",
                group::GRACE.as_secs()
            )),
        }
    }
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
    /// Send each step's preview just before it starts (the terminal UI's detail pane shows
    /// what a running step runs).
    live_previews: bool,
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

    fn failed(error: impl Into<StepError>) -> Attempt {
        Attempt {
            message: Some(error.into().message()),
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
            live_previews: false,
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

    /// Sends `Event::Preview` for each step just before its work starts, in a real run too.
    pub fn with_live_previews(mut self) -> Engine {
        self.live_previews = true;
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

    /// The token that stops the running step and the run.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
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

    /// Runs steps from the first unfinished one until the run completes, a step fails, a
    /// person is needed, or the run is interrupted. A dry run goes through the same loop and
    /// shows what each step would do.
    pub async fn run(&mut self, decisions: &Decisions) -> Result<RunOutcome, EngineError> {
        let dry = self.is_dry();
        if !dry && let Some((i, need)) = self.pending_decisions().into_iter().next() {
            self.emit(Event::Waiting { index: i, need });
            return Ok(RunOutcome::Waiting { key: self.key(i) });
        }
        let mut i = 0;
        while i < self.plan.steps.len() {
            if self.cancel.is_cancelled() {
                self.flush()?;
                return Ok(if dry {
                    RunOutcome::Completed
                } else {
                    RunOutcome::Interrupted { key: None }
                });
            }
            match self.step(i, decisions).await? {
                Flow::Next => i += 1,
                Flow::Stop(outcome) => return Ok(outcome),
            }
        }
        self.record("run.completed", None, None)?;
        Ok(RunOutcome::Completed)
    }

    /// One step's turn: its gates (`when`, `skip_if`, a terminal, `danger`), each of which may
    /// end the turn, then its work. In a dry run the turn gathers what the step would do
    /// (its preview, what the gates decided, with `--with-checks` what a read-only check says
    /// now) and shows it instead.
    async fn step(&mut self, i: usize, decisions: &Decisions) -> Result<Flow, EngineError> {
        if moved_past(&self.plan, i, self.status_of(&self.plan.steps[i].key)) {
            return Ok(Flow::Next);
        }
        let hash = self.plan.hash(i).to_string();
        let started = Instant::now();
        let mut shown = match self.mode {
            Mode::DryRun { .. } => Some(self.describe(i).await),
            Mode::Real => None,
        };
        for gate in Gate::ALL {
            let verdict = self.gate(gate, i, decisions).await?;
            if let Some(flow) = self.settle(i, verdict, &hash, started, &mut shown)? {
                return self.end_turn(i, flow, shown);
            }
        }
        match (shown, self.plan.work(i)) {
            (Some(mut preview), _) => {
                if matches!(self.mode, Mode::DryRun { with_checks: true }) {
                    self.check_now(i, &mut preview).await;
                }
                self.end_turn(i, Flow::Next, Some(preview))
            }
            (None, Work::Manual) => self.manual(i, decisions, &hash),
            (None, Work::Include { .. }) => self.include(i, &hash),
            (None, _) => {
                if self.live_previews {
                    let preview = self.preview(i).await;
                    self.emit(Event::Preview { index: i, preview });
                }
                self.attempts(i, &hash).await
            }
        }
    }

    /// Ends a step's turn; a dry run shows what the step would do.
    fn end_turn(
        &mut self,
        i: usize,
        flow: Flow,
        shown: Option<Preview>,
    ) -> Result<Flow, EngineError> {
        if let Some(preview) = shown {
            self.emit(Event::Preview { index: i, preview });
        }
        Ok(flow)
    }

    /// The step's attempts, as many as `retry` allows, each recorded `running` durably before
    /// its work starts.
    async fn attempts(&mut self, i: usize, hash: &str) -> Result<Flow, EngineError> {
        let step = self.plan.step(i).clone();
        let tries = step.retry.map_or(0, |r| r.times) + 1;
        let delay = step
            .retry
            .and_then(|r| r.delay)
            .map_or(Duration::ZERO, |d| d.0);
        // A script is resolved and its bash started before the "running" state is written, and
        // released after: bash starts while the state goes to disk.
        let mut early = None;
        if matches!(self.plan.work(i), Work::Run | Work::Check)
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
                st.definition_hash = hash.to_string();
                st.attempts
            };
            // Durable before the step starts: after a crash the step is found running, and is
            // never re-run without a person deciding.
            self.record("step.started", Some(i), None)?;
            if attempts > 1 {
                // In the log only: what an interrupted step shows is from its last attempt.
                self.log_line(i, &format!("{ATTEMPT_MARK}{attempts}"));
            }
            self.emit(Event::StepStarted {
                index: i,
                attempt: attempts,
                at: started,
            });
            let attempt = match early.take() {
                Some(early) => self.script(i, Some(early)).await,
                None => self.attempt(i).await,
            };
            let retry = attempt.status == Status::Failed
                && attempt_no < tries
                && !self.cancel.is_cancelled();
            if !retry {
                return self.finish(i, attempt, hash, started);
            }
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
        }
    }

    /// Resolves a template in a step's scope; plain strings cost nothing.
    fn render_in(&self, i: usize, text: &str) -> Result<String, template::TemplateError> {
        if !template::is_template(text) {
            return Ok(text.to_string());
        }
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
        template::render(text, &ctx)
    }

    /// The items of a `for_each` list, resolved in the step's scope (a dry run's with
    /// placeholders for what earlier steps would produce).
    fn items(&self, i: usize, list: &str) -> Result<Vec<String>, String> {
        let ctx = self.values.context(
            &self.plan,
            &self.state,
            self.plan.steps[i].scope,
            self.is_dry(),
        );
        template::render(list, &ctx)
            .map(|rendered| split_items(&rendered))
            .map_err(|e| StepError::resolve("for_each", e).to_string())
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
        let items = match self.items(i, list) {
            Ok(items) => items,
            Err(e) => return Attempt::failed(e),
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
        match self.plan.work(i) {
            Work::Run | Work::Check => self.script(i, None).await,
            Work::Aws(action) => self.aws_step(i, action).await,
            Work::File => self.file_step(i).await,
            Work::Manual | Work::Include { .. } => Attempt::failed("not an executable step"),
        }
    }

    /// A step's log, to append to (none in a dry run).
    fn step_log(&self, i: usize) -> outputs::StepLog {
        outputs::StepLog::new(
            self.store
                .as_ref()
                .map(|s| s.log_path(&self.plan.steps[i].key)),
        )
    }

    /// Appends a line from stepwise itself to a step's log, without showing it.
    fn log_line(&self, i: usize, text: &str) {
        self.step_log(i).line(Stream::Info, text);
    }

    /// Shows lines from stepwise itself about a step, and appends them to the step's log.
    fn note(&self, i: usize, text: &str) {
        let text = self.values.secrets().mask(text);
        let mut log = self.step_log(i);
        for line in text.lines() {
            log.line(Stream::Info, line);
            self.emit(Event::Output {
                index: i,
                stream: Stream::Info,
                line: line.to_string(),
            });
        }
    }
}

/// The line in a step's log where an attempt after the first starts (after `stepwise: `).
const ATTEMPT_MARK: &str = "attempt ";

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

/// Whether the run has moved past a step that stands at `status`: it is done, or it failed
/// and the step says to go on (`continue_on_error`).
pub fn moved_past(plan: &Plan, i: usize, status: Status) -> bool {
    status.moved_past(plan.step(i).continue_on_error)
}

/// Whether a finished step's definition changed since it ran.
pub fn changed_since_it_ran(plan: &Plan, i: usize, st: &StepState) -> bool {
    st.status.is_done() && !st.definition_hash.is_empty() && st.definition_hash != plan.hash(i)
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
