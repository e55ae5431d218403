//! The link to an engine serving one run: commands go out, events and reports come in, in the
//! order the engine sent them.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::app::Msg;
use super::run_view::RunView;
use crate::engine::{Command, Engine, Event, Report, Terminal, serve};
use crate::error::Result;
use crate::prepare::Prepared;

/// A run's engine, built and with its decisions applied, not yet served.
pub struct Ready {
    engine: Engine,
    events: mpsc::UnboundedReceiver<Event>,
    view: RunView,
}

/// An open run.
pub struct Session {
    commands: Option<mpsc::UnboundedSender<Command>>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Engine>>,
    events: mpsc::UnboundedReceiver<Event>,
    reports: mpsc::UnboundedReceiver<Report>,
    queue: VecDeque<Msg>,
    ended: bool,
}

impl Session {
    /// Builds the engine of a prepared run and applies the command line's decisions about
    /// interrupted and changed steps (which writes the run's state: off the UI loop).
    pub fn ready(prepared: Prepared) -> Result<Ready> {
        let dry = prepared.dry();
        let log_paths = match &prepared.store {
            Some(s) => prepared
                .plan
                .steps
                .iter()
                .map(|p| s.log_path(&p.key))
                .collect(),
            None => Vec::new(),
        };
        let (engine, events, decisions) = prepared.engine(Terminal::Available);
        let mut engine = engine.with_live_previews();
        if !dry {
            engine.mark_interrupted()?;
            engine.apply_decisions(&decisions)?;
        }
        let view = RunView::new(
            engine.plan().clone(),
            engine.state(),
            dry,
            log_paths,
            decisions,
        );
        Ok(Ready {
            engine,
            events,
            view,
        })
    }

    /// Serves a ready engine in its own task. Must run inside tokio.
    pub fn serve(ready: Ready) -> (Session, RunView) {
        let Ready {
            engine,
            events,
            view,
        } = ready;
        let cancel = engine.cancel_token();
        let (commands, rx) = mpsc::unbounded_channel();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(engine, rx, report_tx));
        (
            Session {
                commands: Some(commands),
                cancel,
                task: Some(task),
                events,
                reports,
                queue: VecDeque::new(),
                ended: false,
            },
            view,
        )
    }

    /// A session over channels with no engine behind them (benchmarks, tests): what is sent
    /// on `events` and `reports` arrives as if an engine sent it.
    pub fn from_channels(
        events: mpsc::UnboundedReceiver<Event>,
        reports: mpsc::UnboundedReceiver<Report>,
    ) -> Session {
        Session {
            commands: None,
            cancel: CancellationToken::new(),
            task: None,
            events,
            reports,
            queue: VecDeque::new(),
            ended: false,
        }
    }

    /// Sends a command to the engine.
    pub fn send(&self, command: Command) {
        if let Some(c) = &self.commands {
            let _ = c.send(command);
        }
    }

    /// Stops the running step.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The next message from the engine, waiting if there is none. A report comes after every
    /// event sent before it.
    pub async fn next(&mut self) -> Msg {
        if let Some(m) = self.queue.pop_front() {
            return m;
        }
        if self.ended {
            return std::future::pending().await;
        }
        tokio::select! {
            biased;
            Some(e) = self.events.recv() => Msg::Engine(e),
            r = self.reports.recv() => {
                while let Ok(e) = self.events.try_recv() {
                    self.queue.push_back(Msg::Engine(e));
                }
                match r {
                    Some(r) => self.queue.push_back(Msg::Report(r)),
                    None => self.ended = true,
                }
                match self.queue.pop_front() {
                    Some(m) => m,
                    None => std::future::pending().await,
                }
            }
        }
    }

    /// A message already waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<Msg> {
        if let Some(m) = self.queue.pop_front() {
            return Some(m);
        }
        if let Ok(e) = self.events.try_recv() {
            return Some(Msg::Engine(e));
        }
        if let Ok(r) = self.reports.try_recv() {
            while let Ok(e) = self.events.try_recv() {
                self.queue.push_back(Msg::Engine(e));
            }
            self.queue.push_back(Msg::Report(r));
            return self.queue.pop_front();
        }
        None
    }

    /// Lets go of the run: the engine finishes what it does, then ends, and the run's lock
    /// is released.
    pub async fn close(mut self) {
        self.commands = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
