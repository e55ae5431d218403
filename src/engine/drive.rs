//! Driving the engine one decision at a time, for an interactive front end.
//!
//! The plain front end calls `Engine::run` once and prints what happens. The terminal UI lets a
//! person choose what happens next instead: run exactly the next step, run on until a step
//! needs a person, apply a decision (skip, mark done, re-run), or look at what a step will do
//! with its templates resolved. `serve` runs an engine in its own task and takes those
//! `Command`s from a channel. The engine's `Event`s go out on its event channel as always, and
//! after each command a `Report::Idle` says where the run stands.
//!
//! An interactive step needs the real terminal. Before its child starts, the engine sends
//! `Event::Terminal` with `Handoff::Take` and waits until the front end acknowledges that it has
//! stepped aside; when the child ends (however it ends) it sends `Handoff::Back`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{Decisions, Engine, EngineError, Event, Flow, Mode, Need, Preview, RunOutcome};
use crate::state::RunState;

/// What a front end asks the engine to do.
#[derive(Debug)]
pub enum Command {
    /// Apply the decisions, then run the next unfinished step (only that one).
    Next(Decisions),
    /// Apply the decisions, then run on until a step needs a person or fails, or the run ends.
    Continue(Decisions),
    /// Apply the decisions and run nothing.
    Decide(Decisions),
    /// Resolve what a step will do (answered with `Report::Described`).
    Describe(usize),
    /// Re-check a done step, as `stepwise check` does, with a journal entry (answered with
    /// `Report::Rechecked`).
    Recheck(usize),
}

/// What the engine answers to commands. Events of a command are sent on the event channel
/// before the command's `Idle`: a front end that drains the event channel before handling a
/// report sees them in order.
#[derive(Debug, Clone)]
pub enum Report {
    /// What a step will do, with every template resolved that can be.
    Described { index: usize, preview: Preview },
    /// What re-checking a done step found.
    Rechecked {
        index: usize,
        check: Box<super::StepCheck>,
    },
    /// The engine waits for the next command.
    Idle {
        /// How the command ended, when it ran steps.
        outcome: Option<RunOutcome>,
        /// The run's state now.
        state: Box<RunState>,
        /// Interrupted or changed steps a person must decide about first.
        pending: Vec<(usize, Need)>,
    },
    /// The engine could not go on (the run's files, or a decision naming an unknown step).
    Error(String),
}

/// The terminal handed to an interactive step, and back.
#[derive(Debug, Clone)]
pub enum Handoff {
    /// The step needs the terminal: step aside (leave the alternate screen, leave raw mode,
    /// stop reading input), then acknowledge. The step waits for the acknowledgement, or for
    /// the front end to drop it.
    Take(Ack),
    /// The step's child has ended: the terminal is the front end's again.
    Back,
}

/// A one-time acknowledgement that can travel in a cloneable event.
#[derive(Debug, Clone)]
pub struct Ack(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Ack {
    fn new() -> (Ack, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Ack(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    /// Acknowledges (only the first call counts).
    pub fn send(&self) {
        if let Ok(mut slot) = self.0.lock()
            && let Some(tx) = slot.take()
        {
            let _ = tx.send(());
        }
    }
}

/// Held while an interactive step has the terminal; gives it back when dropped, on every path.
pub(super) struct TerminalLease {
    index: usize,
    events: mpsc::UnboundedSender<Event>,
}

impl Drop for TerminalLease {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Terminal {
            index: self.index,
            handoff: Handoff::Back,
        });
    }
}

impl Engine {
    /// Asks the front end for the terminal and waits until it has stepped aside.
    pub(super) async fn lend_terminal(&mut self, index: usize) -> TerminalLease {
        // Everything recorded so far is on disk before the terminal changes hands.
        let _ = self.flush();
        let (ack, done) = Ack::new();
        self.emit(Event::Terminal {
            index,
            handoff: Handoff::Take(ack),
        });
        // A front end that does not handle the event drops it, which ends the wait too.
        let _ = done.await;
        TerminalLease {
            index,
            events: self.events.clone(),
        }
    }

    /// The first step the run has not moved past.
    pub fn next_step(&self) -> Option<usize> {
        (0..self.plan.steps.len()).find(|&i| {
            let st = self
                .state
                .steps
                .get(&self.plan.steps[i].key)
                .map(|s| s.status)
                .unwrap_or_default();
            !super::moved_past(&self.plan, i, st)
        })
    }

    /// Runs exactly the next unfinished step. Returns None when it finished and the run goes
    /// on, or how the run stands when it cannot (completed, failed, waiting, interrupted).
    pub async fn run_next(
        &mut self,
        decisions: &Decisions,
    ) -> Result<Option<RunOutcome>, EngineError> {
        if let Mode::DryRun { .. } = self.mode {
            return self.run(decisions).await.map(Some);
        }
        if let Some((i, need)) = self.pending_decisions().into_iter().next() {
            self.emit(Event::Waiting { index: i, need });
            return Ok(Some(RunOutcome::Waiting { key: self.key(i) }));
        }
        if self.cancel.is_cancelled() {
            self.flush()?;
            return Ok(Some(RunOutcome::Interrupted { key: None }));
        }
        let Some(i) = self.next_step() else {
            self.record("run.completed", None, None)?;
            return Ok(Some(RunOutcome::Completed));
        };
        match self.step(i, decisions).await? {
            Flow::Next => {
                self.flush()?;
                if self.next_step().is_none() {
                    self.record("run.completed", None, None)?;
                    return Ok(Some(RunOutcome::Completed));
                }
                Ok(None)
            }
            Flow::Stop(outcome) => {
                self.flush()?;
                Ok(Some(outcome))
            }
        }
    }

    /// What a step will do, with everything resolved that can be. Outputs of steps that have
    /// not run yet show as placeholders (`<steps.ID.OUTPUT>`), as in a dry run. Changes nothing.
    pub async fn preview(&mut self, index: usize) -> Preview {
        let mode = self.mode;
        if mode == Mode::Real {
            self.mode = Mode::DryRun { with_checks: false };
        }
        let preview = self.describe(index).await;
        self.mode = mode;
        preview
    }

    /// The log file of a step, in a real run.
    pub fn log_path(&self, key: &str) -> Option<PathBuf> {
        self.store.as_ref().map(|s| s.log_path(key))
    }

    fn idle(&self, outcome: Option<RunOutcome>) -> Report {
        Report::Idle {
            outcome,
            state: Box::new(self.state.clone()),
            pending: self.pending_decisions(),
        }
    }
}

/// Runs commands on an engine until the command channel closes; returns the engine.
///
/// It reports `Idle` once at the start (with the decisions pending), then after each command.
/// While it runs on (`Continue`), `Describe` commands that arrive are answered between steps.
pub async fn serve(
    mut engine: Engine,
    mut commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> Engine {
    let _ = reports.send(engine.idle(None));
    let mut deferred = std::collections::VecDeque::new();
    loop {
        let command = match deferred.pop_front() {
            Some(c) => c,
            None => match commands.recv().await {
                Some(c) => c,
                None => break,
            },
        };
        let result = match command {
            Command::Describe(index) => {
                if index < engine.plan.steps.len() {
                    let preview = engine.preview(index).await;
                    let _ = reports.send(Report::Described { index, preview });
                }
                continue;
            }
            Command::Recheck(index) => {
                if index < engine.plan.steps.len() {
                    let check = engine.recheck(index).await;
                    let _ = reports.send(match engine.record_step_check(&check) {
                        Ok(()) => Report::Rechecked {
                            index,
                            check: Box::new(check),
                        },
                        Err(e) => Report::Error(e.to_string()),
                    });
                }
                continue;
            }
            Command::Decide(d) => engine.apply_decisions(&d).map(|()| None),
            Command::Next(d) => match engine.apply_decisions(&d) {
                Ok(()) => engine.run_next(&d).await,
                Err(e) => Err(e),
            },
            Command::Continue(d) => match engine.apply_decisions(&d) {
                Ok(()) => loop {
                    match engine.run_next(&d).await {
                        Ok(None) => {}
                        other => break other,
                    }
                    // Between steps: answer questions, keep other commands for later.
                    while let Ok(c) = commands.try_recv() {
                        match c {
                            Command::Describe(index) if index < engine.plan.steps.len() => {
                                let preview = engine.preview(index).await;
                                let _ = reports.send(Report::Described { index, preview });
                            }
                            Command::Describe(_) => {}
                            other => deferred.push_back(other),
                        }
                    }
                },
                Err(e) => Err(e),
            },
        };
        let report = match result {
            Ok(outcome) => engine.idle(outcome),
            Err(e) => {
                let _ = reports.send(Report::Error(e.to_string()));
                engine.idle(None)
            }
        };
        if reports.send(report).is_err() {
            break;
        }
    }
    engine
}
