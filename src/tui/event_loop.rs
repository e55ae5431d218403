//! The event loop: one `tokio::select!` over key presses, engine messages, finished jobs,
//! ticks and signals. Each message goes through `App::update`; the loop carries out the
//! effects that come back and draws. Keys are read first and drawn at once; engine output
//! arriving in a flood is taken in batches and drawn at most once a frame, so a key press shows
//! within one frame however fast a step prints. Anything slow an effect asks for (reading a
//! runbook, a log, the home screen's folders; creating or opening a run) is a job on tokio's
//! blocking pool, whose result comes back to the loop as a message.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEventKind};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use super::app::{App, Effect, Msg, Screen};
use super::form::{Form, Purpose};
use super::home;
use super::session::{Ready, Session};
use crate::cli::RunArgs;
use crate::error::Result;
use crate::state::{self, InputValue};

/// Time between two frames while output floods in.
pub const FRAME: Duration = Duration::from_millis(16);

/// Time between ticks (spinners, elapsed times).
const TICK: Duration = Duration::from_millis(100);

/// Longest time spent taking in engine messages before drawing again.
const BATCH: Duration = Duration::from_millis(4);

/// What the loop needs from the terminal: its keys, stepping aside and coming back, the
/// clipboard. The real one is `terminal::TermHost`; tests and benchmarks feed keys from a
/// channel.
pub trait Host {
    /// The next terminal event (None when input ended).
    fn input(&mut self) -> impl Future<Output = Option<io::Result<TermEvent>>>;
    /// Gives the terminal to an interactive step, saying so on the main screen.
    fn suspend(&mut self, note: &str) -> io::Result<()>;
    /// Takes the terminal back.
    fn resume(&mut self) -> io::Result<()>;
    /// Puts text on the clipboard.
    fn copy(&mut self, text: &str);
}

/// Runs the loop and carries out effects.
pub struct Runner {
    /// Options of `run`/`resume` from the command line (inputs, decisions, AWS settings).
    pub args: RunArgs,
    /// Paths given to a bare `stepwise`.
    pub paths: Vec<PathBuf>,
    pub session: Option<Session>,
    /// The terminal was handed to an interactive step.
    lent: bool,
    /// Jobs off the loop send what they found here.
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Runs a person said go on here although last driven on another machine.
    moved: std::collections::HashSet<String>,
}

/// What a job off the loop brings back.
enum Done {
    /// A message for the app.
    Msg(Msg),
    /// A run made ready: the loop serves its engine (that part is quick).
    Open(Box<Ready>),
}

/// Opening a run to go on with it: ready, or its secret inputs must be asked first.
pub enum Opening {
    Ready(Box<crate::prepare::Prepared>),
    Ask(Form),
    /// Last driven on another machine: a person says whether it goes on here.
    Moved(String),
}

impl Opening {
    /// Reads the run (and, when secret inputs are missing, its runbook). Slow: off the loop.
    pub fn of(name: &str, inputs: &[(String, String)], args: &RunArgs) -> Result<Opening> {
        let peeked = state::peek(name)?;
        if !args.moved
            && let Some(what) = crate::prepare::driven_elsewhere(&peeked)
        {
            return Ok(Opening::Moved(what));
        }
        let given = crate::prepare::pairs(&args.inputs, "NAME=VALUE")?;
        let missing: Vec<String> = peeked
            .inputs
            .iter()
            .filter(|(k, v)| {
                matches!(v, InputValue::Secret { .. })
                    && !inputs.iter().chain(&given).any(|(g, _)| g == *k)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            let cwd = std::env::current_dir().unwrap_or_default();
            let plan = crate::prepare::load(&crate::prepare::runbook_path(&peeked, &cwd))?;
            let form = Form::new(
                plan,
                Purpose::Resume {
                    run: name.to_string(),
                },
                &[],
                Some(&missing),
            );
            return Ok(Opening::Ask(form));
        }
        let prepared = crate::prepare::prepare_resume(name, args, inputs, false)?;
        Ok(Opening::Ready(Box::new(prepared)))
    }
}

impl Runner {
    pub fn new(args: RunArgs, paths: Vec<PathBuf>) -> Runner {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Runner {
            args,
            paths,
            session: None,
            lent: false,
            done_tx,
            done_rx,
            moved: std::collections::HashSet::new(),
        }
    }

    /// Opens a prepared run; the message shows it.
    pub fn open(&mut self, prepared: crate::prepare::Prepared) -> Result<Msg> {
        Ok(self.serve(Session::ready(prepared)?))
    }

    /// Serves a ready run's engine; the message shows the run.
    fn serve(&mut self, ready: Ready) -> Msg {
        let (session, view) = Session::serve(ready);
        self.session = Some(session);
        Msg::Opened(Box::new(view))
    }

    /// Opens a run to go on with it, or asks for its secret inputs first.
    pub fn resume(
        &mut self,
        name: &str,
        inputs: &[(String, String)],
        args: &RunArgs,
    ) -> Result<Msg> {
        match Opening::of(name, inputs, args)? {
            Opening::Ready(prepared) => self.open(*prepared),
            Opening::Ask(form) => Ok(Msg::NeedInputs(form)),
            Opening::Moved(what) => Ok(Msg::ConfirmMove {
                run: name.to_string(),
                what,
            }),
        }
    }

    /// Runs a slow job on the blocking pool; what it finds comes back to the loop.
    fn job(&self, work: impl FnOnce() -> Done + Send + 'static) {
        let tx = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(work());
        });
    }

    /// A finished job's message (serving the engine of a run made ready).
    fn finished(&mut self, done: Done) -> Msg {
        match done {
            Done::Msg(m) => m,
            Done::Open(ready) => self.serve(*ready),
        }
    }

    /// Runs until the app is done. `effects` are carried out first.
    pub async fn run<B, H>(
        &mut self,
        terminal: &mut Terminal<B>,
        app: &mut App,
        host: &mut H,
        effects: Vec<Effect>,
    ) -> io::Result<()>
    where
        B: Backend,
        B::Error: std::error::Error + Send + Sync + 'static,
        H: Host,
    {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        self.carry_out(effects, app, host, terminal).await?;
        let mut dirty = true;
        let mut urgent = true;
        let mut last_draw = Instant::now() - FRAME;
        while app.exit.is_none() {
            if dirty && !self.lent && (urgent || last_draw.elapsed() >= FRAME) {
                terminal
                    .draw(|f| super::ui::draw(f, app))
                    .map_err(io::Error::other)?;
                last_draw = Instant::now();
                dirty = false;
                urgent = false;
            }
            let frame_due = last_draw + FRAME;
            let animating = app.animating();
            let msg = tokio::select! {
                biased;
                input = host.input(), if !self.lent => match input {
                    Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                        urgent = true;
                        Msg::Key(k)
                    }
                    Some(Ok(TermEvent::Paste(p))) => { urgent = true; Msg::Paste(p) }
                    Some(Ok(TermEvent::Resize(..))) => { urgent = true; Msg::Resize }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e),
                    None => Msg::Terminate,
                },
                _ = recv_signal(&mut sigterm) => Msg::Terminate,
                // Ctrl-C reaches the process as a signal only while an interactive step has
                // the terminal; the step is the one to answer it.
                _ = recv_signal(&mut sigint) => {
                    if self.lent {
                        continue;
                    }
                    Msg::Terminate
                }
                m = next_engine(&mut self.session) => m,
                Some(done) = self.done_rx.recv() => self.finished(done),
                _ = tokio::time::sleep_until(frame_due.into()), if dirty => continue,
                t = ticks.tick(), if animating => Msg::Tick(t.into_std()),
            };
            dirty = true;
            let fx = app.update(msg);
            self.carry_out(fx, app, host, terminal).await?;
            // Take in what else the engine has sent, for a little while, before drawing.
            let started = Instant::now();
            while started.elapsed() < BATCH && app.exit.is_none() && !self.lent {
                let Some(m) = self.session.as_mut().and_then(Session::try_next) else {
                    break;
                };
                let fx = app.update(m);
                self.carry_out(fx, app, host, terminal).await?;
            }
        }
        if let Some(s) = self.session.take() {
            s.close().await;
        }
        Ok(())
    }

    async fn carry_out<B, H>(
        &mut self,
        effects: Vec<Effect>,
        app: &mut App,
        host: &mut H,
        terminal: &mut Terminal<B>,
    ) -> io::Result<()>
    where
        B: Backend,
        B::Error: std::error::Error + Send + Sync + 'static,
        H: Host,
    {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            let msg = match effect {
                Effect::Engine(c) => {
                    if let Some(s) = &self.session {
                        s.send(c);
                    }
                    None
                }
                Effect::Copy(text) => {
                    host.copy(&text);
                    None
                }
                slow @ (Effect::LoadLog { .. }
                | Effect::LoadJournal { .. }
                | Effect::Remove { .. }
                | Effect::Scan
                | Effect::LoadRunbook { .. }
                | Effect::Start { .. }
                | Effect::Resume { .. }) => {
                    self.start_job(slow);
                    None
                }
                Effect::LendTerminal(ack) => {
                    self.lend(app, host, ack)?;
                    None
                }
                Effect::Acknowledge(ack) => {
                    ack.send();
                    None
                }
                Effect::TakeTerminalBack => {
                    if self.lent {
                        self.lent = false;
                        host.resume()?;
                        terminal.clear().map_err(io::Error::other)?;
                    }
                    None
                }
                Effect::Cancel => {
                    if let Some(s) = &self.session {
                        s.cancel();
                    }
                    None
                }
                Effect::CloseRun => {
                    if let Some(s) = self.session.take() {
                        s.close().await;
                    }
                    None
                }
                Effect::Quit | Effect::Back => None,
            };
            if let Some(m) = msg {
                queue.extend(app.update(m));
            }
        }
        Ok(())
    }

    /// Starts the job an effect that does slow work asks for.
    fn start_job(&mut self, effect: Effect) {
        match effect {
            Effect::LoadLog { index, path } => {
                self.job(move || {
                    let text = super::output::read_log_tail(&path);
                    Done::Msg(Msg::Log { index, text })
                });
            }
            Effect::LoadJournal { run } => {
                self.job(move || {
                    Done::Msg(match crate::state::journal(&run, 0) {
                        Ok((entries, _, _)) => {
                            let tz = jiff::tz::TimeZone::system();
                            Msg::Journal(Ok(entries
                                .iter()
                                .map(|e| crate::plain::entry_line(e, &tz))
                                .collect()))
                        }
                        Err(e) => Msg::Journal(Err(crate::error::Error::from(e).message())),
                    })
                });
            }
            Effect::Remove { run } => {
                self.job(move || {
                    Done::Msg(match crate::state::remove(&run) {
                        Ok(()) => Msg::Removed(run),
                        Err(e) => Msg::Failed(crate::error::Error::from(e).message()),
                    })
                });
            }
            Effect::Scan => {
                let paths = self.paths.clone();
                self.job(move || Done::Msg(Msg::Lists(home::scan(&paths))));
            }
            Effect::LoadRunbook { path, dry } => {
                self.job(move || {
                    Done::Msg(match crate::prepare::load(&path) {
                        Ok(plan) => Msg::Runbook { plan, dry },
                        Err(e) => Msg::Failed(crate::error::error_text(&e)),
                    })
                });
            }
            Effect::Start {
                plan,
                mode,
                name,
                inputs,
            } => {
                let args = self.args.clone();
                self.job(move || {
                    ready_or_failed(crate::prepare::prepare_start(
                        plan, mode, name, &args, &inputs, false,
                    ))
                });
            }
            Effect::Resume {
                name,
                inputs,
                moved,
            } => {
                // Once a person said a run goes on here, it does for this session.
                if moved {
                    self.moved.insert(name.clone());
                }
                let mut args = self.args.clone();
                args.moved |= self.moved.contains(&name);
                self.job(move || match Opening::of(&name, &inputs, &args) {
                    Ok(Opening::Ready(p)) => ready_or_failed(Ok(*p)),
                    Ok(Opening::Ask(form)) => Done::Msg(Msg::NeedInputs(form)),
                    Ok(Opening::Moved(what)) => Done::Msg(Msg::ConfirmMove { run: name, what }),
                    Err(e) => Done::Msg(Msg::Failed(e.message())),
                });
            }
            _ => {}
        }
    }

    /// Hands the terminal to an interactive step, with a line saying which has it.
    fn lend<H: Host>(
        &mut self,
        app: &App,
        host: &mut H,
        ack: crate::engine::Ack,
    ) -> io::Result<()> {
        let note = match &app.screen {
            Screen::Run(v) => v
                .running()
                .map(|i| {
                    format!(
                        "stepwise: step {} has the terminal; the UI comes back when it ends",
                        v.plan.steps[i].key
                    )
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.lent = true;
        let r = host.suspend(&note);
        ack.send();
        r
    }
}

/// A prepared run made ready to serve (its decisions applied), or why it cannot be opened.
fn ready_or_failed(prepared: Result<crate::prepare::Prepared>) -> Done {
    match prepared.and_then(Session::ready) {
        Ok(ready) => Done::Open(Box::new(ready)),
        Err(e) => Done::Msg(Msg::Failed(e.message())),
    }
}

async fn recv_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn next_engine(session: &mut Option<Session>) -> Msg {
    match session {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}
