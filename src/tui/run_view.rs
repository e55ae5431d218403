//! The run view's state: the steps as the engine reports them, the selection, each step's
//! output, what the engine waits for, and the dialogs a person answers. `RunView::key` and
//! `RunView::engine` change the state and return effects; they do no I/O.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;

use super::app::Effect;
use super::input::TextInput;
use super::output::{OutputBuffer, Search};
use crate::aws::Identity;
use crate::engine::scalar;
use crate::engine::{
    Command, Decisions, Event, Handoff, Need, Preview, Report, RunOutcome, StepCheck, Stream,
    check_value,
};
use crate::runbook::model::Prompt;
use crate::runbook::{Plan, StepKind};
use crate::state::{RunState, Status};

mod dialog;
mod recheck;
pub use dialog::{DangerForm, ManualForm, Modal, PromptField};

/// One step as shown.
#[derive(Debug, Clone, Default)]
pub struct StepView {
    pub status: Status,
    pub attempts: u32,
    /// When the running attempt started (in this process).
    pub started: Option<Instant>,
    /// How long the last attempt took.
    pub elapsed: Option<Duration>,
    pub message: Option<String>,
    pub outputs: IndexMap<String, String>,
    pub exit_code: Option<i32>,
    /// The definition changed since the step ran.
    pub changed: bool,
}

/// Which pane has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Steps,
    Output,
    Detail,
}

/// What the engine is doing for the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Running the next step only.
    Step,
    /// Running on until a person is needed.
    RunOn,
    /// Applying a decision.
    Deciding,
}

/// The run view.
pub struct RunView {
    pub plan: Arc<Plan>,
    pub name: String,
    pub dry: bool,
    pub steps: Vec<StepView>,
    pub selected: usize,
    /// First row of the step list on screen (kept by the renderer).
    pub list_offset: Cell<usize>,
    pub focus: Pane,
    /// The selection follows the running step.
    pub follow: bool,
    pub outputs: Vec<OutputBuffer>,
    /// Each step's log file (empty in a dry run).
    pub log_paths: Vec<PathBuf>,
    log_requested: HashSet<usize>,
    /// First output line shown, or None to follow the tail.
    pub out_top: Option<usize>,
    /// Lines the output pane showed last (kept by the renderer, for paging).
    pub out_height: Cell<usize>,
    pub detail_scroll: u16,
    pub search: Option<Search>,
    /// The search being typed.
    pub searching: Option<TextInput>,
    pub previews: HashMap<usize, Preview>,
    /// Steps re-checked with `C`: what it found (None while the engine looks).
    pub rechecks: HashMap<usize, Option<StepCheck>>,
    requested: HashSet<usize>,
    pub busy: Option<Busy>,
    /// Interrupted or changed steps to decide about.
    pub pending: Vec<(usize, Need)>,
    /// What the engine waits for.
    pub need: Option<(usize, Need)>,
    pub outcome: Option<RunOutcome>,
    pub identity: Option<Identity>,
    pub modal: Option<Modal>,
    /// `a` was pressed: decisions made in dialogs go on running.
    pub auto: bool,
    /// Quitting: waiting for the running step to stop.
    pub stopping: bool,
    /// An interactive step has the terminal.
    pub lent: bool,
    pub error: Option<String>,
    /// Decisions from the command line, given with the first command.
    initial: Option<Decisions>,
    /// The time the last message brought (a tick, a step's start): elapsed times are counted
    /// to it, so drawing never reads the clock.
    pub clock: Option<Instant>,
}

impl RunView {
    /// A view of a run as it stands.
    pub fn new(
        plan: Arc<Plan>,
        state: &RunState,
        dry: bool,
        log_paths: Vec<PathBuf>,
        initial: Decisions,
    ) -> RunView {
        let n = plan.steps.len();
        let mut view = RunView {
            name: state.name.clone(),
            dry,
            steps: vec![StepView::default(); n],
            selected: 0,
            list_offset: Cell::new(0),
            focus: Pane::Steps,
            follow: true,
            outputs: vec![OutputBuffer::default(); n],
            log_paths,
            log_requested: HashSet::new(),
            out_top: None,
            out_height: Cell::new(10),
            detail_scroll: 0,
            search: None,
            searching: None,
            previews: HashMap::new(),
            rechecks: HashMap::new(),
            requested: HashSet::new(),
            busy: None,
            pending: Vec::new(),
            need: None,
            outcome: None,
            identity: None,
            modal: None,
            auto: false,
            stopping: false,
            lent: false,
            error: None,
            initial: Some(initial),
            clock: None,
            plan,
        };
        view.sync(state);
        view.selected = view.next_step().unwrap_or(0);
        view
    }

    /// Takes statuses from the engine's state.
    fn sync(&mut self, state: &RunState) {
        for (i, ps) in self.plan.steps.iter().enumerate() {
            let Some(st) = state.steps.get(&ps.key) else {
                continue;
            };
            let v = &mut self.steps[i];
            v.status = st.status;
            v.attempts = st.attempts;
            v.message = st.message.clone();
            v.exit_code = st.exit_code;
            v.changed = crate::engine::changed_since_it_ran(&self.plan, i, st);
            if st.status != Status::Running {
                v.started = None;
            }
            if v.elapsed.is_none()
                && let (Some(a), Some(b)) = (st.started_at, st.finished_at)
            {
                let ms = b.as_millisecond().saturating_sub(a.as_millisecond()).max(0);
                v.elapsed = Some(Duration::from_millis(ms as u64));
            }
            if !st.outputs.is_empty() || !st.secret_outputs.is_empty() {
                v.outputs = st
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar(v)))
                    .collect();
                for name in &st.secret_outputs {
                    v.outputs.insert(name.clone(), crate::engine::MASK.into());
                }
            }
        }
    }

    /// The first step the run has not moved past.
    pub fn next_step(&self) -> Option<usize> {
        self.steps
            .iter()
            .enumerate()
            .position(|(i, s)| !crate::engine::moved_past(&self.plan, i, s.status))
    }

    /// Steps done, and all steps.
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| crate::engine::moved_past(&self.plan, *i, s.status))
            .count();
        (done, self.steps.len())
    }

    /// The index of the step that is running, if any.
    pub fn running(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.status == Status::Running)
    }

    fn key_of(&self, i: usize) -> String {
        self.plan.steps[i].key.clone()
    }

    /// Starts an engine command, adding the command line's decisions to the first one.
    fn command(&mut self, busy: Busy, mut d: Decisions) -> Vec<Effect> {
        if let Some(initial) = self.initial.take() {
            d.done.extend(initial.done);
            d.rerun.extend(initial.rerun);
            d.skip.extend(initial.skip);
            d.confirm.extend(initial.confirm);
            for (k, v) in initial.outputs {
                d.outputs.entry(k).or_default().extend(v);
            }
        }
        self.busy = Some(busy);
        self.need = None;
        self.outcome = None;
        self.error = None;
        let cmd = match busy {
            Busy::Step => Command::Next(d),
            Busy::RunOn => Command::Continue(d),
            Busy::Deciding => Command::Decide(d),
        };
        vec![Effect::Engine(cmd)]
    }

    /// Runs: on, when `a` was pressed, or else the next step.
    fn go(&mut self, d: Decisions) -> Vec<Effect> {
        self.follow = true;
        let busy = if self.auto { Busy::RunOn } else { Busy::Step };
        self.command(busy, d)
    }

    /// Moves the selection, and asks for what the new step needs to be shown.
    pub fn select(&mut self, i: usize) -> Vec<Effect> {
        let i = i.min(self.steps.len().saturating_sub(1));
        if i != self.selected {
            self.selected = i;
            self.out_top = None;
            self.detail_scroll = 0;
            self.search = None;
        }
        self.wants()
    }

    /// What the selected step needs loaded: its resolved preview, its log.
    pub fn wants(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        let i = self.selected;
        if i >= self.steps.len() {
            return out;
        }
        if !self.dry && !self.previews.contains_key(&i) && self.requested.insert(i) {
            out.push(Effect::Engine(Command::Describe(i)));
        }
        let st = &self.steps[i];
        if self.outputs[i].is_empty()
            && st.status != Status::Pending
            && st.status != Status::Running
            && let Some(path) = self.log_paths.get(i)
            && self.log_requested.insert(i)
        {
            out.push(Effect::LoadLog {
                index: i,
                path: path.clone(),
            });
        }
        out
    }

    /// A log read from disk.
    pub fn log_loaded(&mut self, index: usize, text: String) {
        if index < self.outputs.len() && self.outputs[index].is_empty() {
            self.outputs[index] = OutputBuffer::from_log(&text);
        }
    }

    /// The running attempt's time so far, to the last time a message brought.
    pub fn running_for(&self, started: Instant) -> Duration {
        self.clock
            .map_or(Duration::ZERO, |c| c.saturating_duration_since(started))
    }

    /// Handles an engine event.
    pub fn engine(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Identity(id) => self.identity = Some(id),
            // Kept in the pane's memory for this session only: the engine never logs it.
            Event::SecretOnce { index, name, value } => self.outputs[index].push(
                Stream::Info,
                format!("secret {name}: {value}  (shown in this session only, never on disk)"),
            ),
            Event::StepStarted { index, attempt, at } => {
                self.clock = self.clock.max(Some(at));
                let v = &mut self.steps[index];
                v.status = Status::Running;
                v.attempts = attempt;
                v.started = Some(at);
                v.elapsed = None;
                v.message = None;
                v.exit_code = None;
                if !self.outputs[index].is_empty() {
                    self.outputs[index].push(Stream::Info, format!("── attempt {attempt} ──"));
                }
                self.log_requested.insert(index);
                if self.follow {
                    let mut fx = self.select(index);
                    fx.retain(|e| !matches!(e, Effect::Engine(Command::Describe(_))));
                    return fx;
                }
            }
            Event::Output {
                index,
                stream,
                line,
            } => self.outputs[index].push(stream, line),
            Event::StepFinished {
                index,
                status,
                outputs,
                elapsed,
                exit_code,
                message,
            } => {
                let v = &mut self.steps[index];
                v.status = status;
                v.started = None;
                v.elapsed = Some(elapsed);
                v.exit_code = exit_code;
                v.message = message;
                v.changed = false;
                if !outputs.is_empty() {
                    v.outputs = outputs
                        .iter()
                        .map(|(k, v)| (k.clone(), scalar(v)))
                        .collect();
                }
                // Values changed: what later steps will do may read differently now.
                self.previews.clear();
                self.requested.clear();
            }
            Event::Waiting { index, need } => {
                if matches!(
                    need,
                    Need::Manual { .. } | Need::Danger { .. } | Need::Terminal
                ) {
                    self.steps[index].status = Status::Waiting;
                }
                self.need = Some((index, need.clone()));
                if self.follow {
                    self.selected = index;
                }
                self.open_need(index, need);
                return self.wants();
            }
            Event::Preview { index, preview } => {
                self.previews.insert(index, preview);
            }
            Event::Terminal { handoff, .. } => match handoff {
                Handoff::Take(ack) => {
                    self.lent = true;
                    return vec![Effect::LendTerminal(ack)];
                }
                Handoff::Back => {
                    self.lent = false;
                    return vec![Effect::TakeTerminalBack];
                }
            },
        }
        Vec::new()
    }

    /// Handles an engine report.
    pub fn report(&mut self, report: Report) -> Vec<Effect> {
        match report {
            Report::Described { index, preview } => {
                self.previews.insert(index, preview);
                Vec::new()
            }
            Report::Rechecked { index, check } => {
                self.rechecked(index, *check);
                Vec::new()
            }
            Report::Error(e) => {
                self.error = Some(e);
                Vec::new()
            }
            Report::Idle {
                outcome,
                state,
                pending,
            } => {
                self.busy = None;
                self.sync(&state);
                self.pending = pending;
                if let Some(o) = outcome {
                    if let RunOutcome::Completed = o {
                        self.auto = false;
                    }
                    if matches!(
                        o,
                        RunOutcome::Failed { .. } | RunOutcome::Interrupted { .. }
                    ) {
                        self.auto = false;
                    }
                    self.outcome = Some(o);
                }
                if self.stopping {
                    return vec![Effect::Quit];
                }
                if self.modal.is_none()
                    && let Some((i, need)) = self.pending.first().cloned()
                {
                    self.open_need(i, need);
                }
                self.wants()
            }
        }
    }

    /// Handles a key. Returns effects; `Effect::Quit` ends the view.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.modal.is_some() {
            return self.modal_key(key);
        }
        if let Some(input) = &mut self.searching {
            match key.code {
                KeyCode::Esc => {
                    self.searching = None;
                    self.search = None;
                }
                KeyCode::Enter => {
                    self.searching = None;
                    self.focus = Pane::Output;
                }
                _ => {
                    input.key(key);
                    let query = input.value().to_string();
                    self.set_search(query);
                }
            }
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit(),
            KeyCode::Char('q') => self.quit(),
            KeyCode::Esc => {
                self.search = None;
                Vec::new()
            }
            KeyCode::Tab => {
                self.focus = match self.focus {
                    Pane::Steps => Pane::Output,
                    Pane::Output => Pane::Detail,
                    Pane::Detail => Pane::Steps,
                };
                Vec::new()
            }
            KeyCode::BackTab => {
                self.focus = match self.focus {
                    Pane::Steps => Pane::Detail,
                    Pane::Output => Pane::Steps,
                    Pane::Detail => Pane::Output,
                };
                Vec::new()
            }
            KeyCode::Up | KeyCode::Char('k') => self.scroll(-1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll(1),
            KeyCode::PageUp => self.scroll(-(self.page() as i64)),
            KeyCode::PageDown => self.scroll(self.page() as i64),
            KeyCode::Char('u') if ctrl => self.scroll(-(self.page() as i64 / 2)),
            KeyCode::Char('d') if ctrl => self.scroll(self.page() as i64 / 2),
            KeyCode::Home | KeyCode::Char('g') => self.scroll(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => {
                if self.focus == Pane::Output {
                    self.out_top = None;
                    Vec::new()
                } else {
                    self.scroll(i64::MAX / 2)
                }
            }
            KeyCode::Char('f') => {
                self.follow = true;
                self.out_top = None;
                match self.running().or(self.next_step()) {
                    Some(i) => self.select(i),
                    None => Vec::new(),
                }
            }
            KeyCode::Char('/') => {
                self.searching = Some(TextInput::default());
                Vec::new()
            }
            KeyCode::Char('n') => self.next_match(true),
            KeyCode::Char('N') => self.next_match(false),
            KeyCode::Enter => self.enter(),
            KeyCode::Char('a') => self.run_on(),
            KeyCode::Char('s') => self.skip(),
            KeyCode::Char('m') => self.mark_done(),
            KeyCode::Char('r') => self.rerun(),
            KeyCode::Char('c') => self.copy(),
            KeyCode::Char('C') => self.recheck(),
            KeyCode::Char('L') => self.journal(),
            _ => Vec::new(),
        }
    }

    /// `L`: the run's journal (read off the loop; `journal_loaded` shows it).
    fn journal(&mut self) -> Vec<Effect> {
        if self.dry {
            self.error = Some("a dry run records nothing: there is no journal".into());
            return Vec::new();
        }
        vec![Effect::LoadJournal {
            run: self.name.clone(),
        }]
    }

    /// The journal was read: shown over the run, its end in view.
    pub fn journal_loaded(&mut self, lines: Vec<String>) {
        let top = lines.len().saturating_sub(20);
        self.modal = Some(Modal::Journal { lines, top });
    }

    fn page(&self) -> usize {
        self.out_height.get().max(2) - 1
    }

    fn scroll(&mut self, by: i64) -> Vec<Effect> {
        match self.focus {
            Pane::Steps => {
                self.follow = false;
                let to = (self.selected as i64 + by).clamp(0, self.steps.len() as i64 - 1);
                self.select(to as usize)
            }
            Pane::Output => {
                let len = self.outputs[self.selected].len();
                let h = self.out_height.get().max(1);
                let bottom = len.saturating_sub(h);
                let top = self.out_top.unwrap_or(bottom) as i64;
                let to = (top + by).clamp(0, bottom as i64) as usize;
                self.out_top = if to >= bottom { None } else { Some(to) };
                Vec::new()
            }
            Pane::Detail => {
                self.detail_scroll =
                    (self.detail_scroll as i64 + by).clamp(0, u16::MAX as i64) as u16;
                Vec::new()
            }
        }
    }

    fn set_search(&mut self, query: String) {
        let matches = self.outputs[self.selected].find(&query);
        // Start at the first match at or after what is on screen.
        let from = self.out_top.unwrap_or(0);
        let current = matches.iter().position(|&m| m >= from).unwrap_or(0);
        self.search = Some(Search {
            query,
            matches,
            current,
        });
        self.show_match();
    }

    fn show_match(&mut self) {
        if let Some(line) = self.search.as_ref().and_then(Search::line) {
            let h = self.out_height.get().max(1);
            let len = self.outputs[self.selected].len();
            let top = line.saturating_sub(h / 2).min(len.saturating_sub(h));
            self.out_top = Some(top);
        }
    }

    fn next_match(&mut self, forward: bool) -> Vec<Effect> {
        if let Some(s) = &mut self.search
            && !s.matches.is_empty()
        {
            let n = s.matches.len();
            s.current = if forward {
                (s.current + 1) % n
            } else {
                (s.current + n - 1) % n
            };
            self.show_match();
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        if self.busy.is_some() && !self.dry {
            self.modal = Some(Modal::ConfirmQuit);
            Vec::new()
        } else {
            vec![Effect::Quit]
        }
    }

    fn refuse_busy(&mut self) -> bool {
        if self.busy.is_some() {
            self.error = Some("a step is running; wait for it, or q to stop it and quit".into());
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Vec<Effect> {
        if self.refuse_busy() {
            return Vec::new();
        }
        if self.dry {
            if self.outcome.is_some() {
                self.error = Some(
                    "the dry run is complete: every step shows what it would do; nothing was changed"
                        .into(),
                );
                return Vec::new();
            }
            self.auto = true;
            return self.command(Busy::RunOn, Decisions::default());
        }
        let i = self.selected;
        if let Some((w, need)) = self.need.clone()
            && w == i
        {
            self.open_need(i, need);
            return Vec::new();
        }
        if let Some((p, need)) = self.pending.iter().find(|(p, _)| *p == i).cloned() {
            self.open_need(p, need);
            return Vec::new();
        }
        // Steps run in order: Enter goes on with the next one, wherever the selection is.
        match self.next_step() {
            None => {
                self.error = Some("the run is complete".into());
                Vec::new()
            }
            Some(next) => {
                if let Some((p, need)) = self.pending.iter().find(|(p, _)| *p == next).cloned() {
                    self.open_need(p, need);
                    return Vec::new();
                }
                self.auto = false;
                self.go(Decisions::default())
            }
        }
    }

    fn run_on(&mut self) -> Vec<Effect> {
        if self.refuse_busy() {
            return Vec::new();
        }
        if self.next_step().is_none() && !self.dry {
            self.error = Some("the run is complete".into());
            return Vec::new();
        }
        self.auto = true;
        self.follow = true;
        self.command(Busy::RunOn, Decisions::default())
    }

    fn skip(&mut self) -> Vec<Effect> {
        if self.dry || self.refuse_busy() {
            return Vec::new();
        }
        let i = self.selected;
        if self.steps[i].status.is_done() {
            self.error = Some("this step is already done".into());
            return Vec::new();
        }
        self.modal = Some(Modal::Skip {
            index: i,
            reason: TextInput::default(),
        });
        Vec::new()
    }

    fn mark_done(&mut self) -> Vec<Effect> {
        if self.dry || self.refuse_busy() {
            return Vec::new();
        }
        let i = self.selected;
        if self.steps[i].status.is_done() && !self.steps[i].changed {
            self.error = Some("this step is already done".into());
            return Vec::new();
        }
        if self.plan.step(i).kind() == StepKind::Manual {
            // A manual step is done through its dialog, which asks for its answers.
            if let Some((w, need)) = self.need.clone()
                && w == i
            {
                self.open_need(i, need);
                return Vec::new();
            }
            if self.next_step() == Some(i) {
                return self.go(Decisions::default());
            }
            self.error = Some("a manual step is confirmed when the run reaches it".into());
            return Vec::new();
        }
        let mut d = Decisions::default();
        d.done.insert(self.key_of(i));
        self.modal = None;
        self.command(Busy::Deciding, d)
    }

    fn rerun(&mut self) -> Vec<Effect> {
        if self.dry || self.refuse_busy() {
            return Vec::new();
        }
        let i = self.selected;
        if self.steps[i].status == Status::Pending {
            self.error = Some("this step has not run yet".into());
            return Vec::new();
        }
        let mut d = Decisions::default();
        d.rerun.insert(self.key_of(i));
        self.modal = None;
        self.auto = false;
        self.go(d)
    }

    fn copy(&mut self) -> Vec<Effect> {
        let i = self.selected;
        match self.previews.get(&i) {
            Some(p) if !p.body.is_empty() => {
                self.error = Some(format!(
                    "copied what {} will do to the clipboard",
                    self.plan.steps[i].key
                ));
                vec![Effect::Copy(p.body.clone())]
            }
            _ => {
                self.error = Some("nothing to copy for this step yet".into());
                Vec::new()
            }
        }
    }
}
