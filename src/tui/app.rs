//! The UI's whole state and its one entry point, `App::update`: a message in (a key, an engine
//! event, a tick, the result of some I/O), state changed, effects out. No I/O happens here; the
//! event loop carries out the effects and feeds their results back as messages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::form::{Form, Purpose};
use super::home::{Home, Lists};
use super::run_view::{Modal, RunView};
use super::ui::theme::Theme;
use crate::engine::{Ack, Command, Event, Mode, Report, RunOutcome};
use crate::error::exit;
use crate::runbook::Plan;
use crate::state::Status;

/// Something that happened.
pub enum Msg {
    Key(KeyEvent),
    /// Text pasted into the terminal.
    Paste(String),
    /// The terminal changed size.
    Resize,
    /// Time passed (spinners, elapsed times): it is now `.0`.
    Tick(Instant),
    /// An engine event.
    Engine(Event),
    /// An engine report (sent after the events of its command).
    Report(Report),
    /// The home screen's lists were read.
    Lists(Lists),
    /// A runbook was loaded, to start a run of it.
    Runbook {
        plan: Arc<Plan>,
        dry: bool,
    },
    /// A run needs inputs before it can start or go on.
    NeedInputs(Form),
    /// A run was opened and its engine waits for commands.
    Opened(Box<RunView>),
    /// Opening a runbook or a run failed.
    Failed(String),
    /// A step's log was read.
    Log {
        index: usize,
        text: String,
    },
    /// The run's journal was read, as timeline lines (or why it cannot be).
    Journal(Result<Vec<String>, String>),
    /// A run was removed from the home screen.
    Removed(String),
    /// A run to go on with was last driven on another machine: `what` says where; it goes on
    /// here only when a person says so.
    ConfirmMove {
        run: String,
        what: String,
    },
    /// SIGTERM: stop and leave.
    Terminate,
}

/// Something for the event loop to do.
#[derive(Debug)]
pub enum Effect {
    /// Send a command to the engine.
    Engine(Command),
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// Read a step's log file.
    LoadLog { index: usize, path: PathBuf },
    /// Read a run's journal.
    LoadJournal { run: String },
    /// Remove a run (a person confirmed it on the home screen).
    Remove { run: String },
    /// Read the home screen's lists.
    Scan,
    /// Load a runbook to start a run of it.
    LoadRunbook { path: PathBuf, dry: bool },
    /// Start a run.
    Start {
        plan: Arc<Plan>,
        mode: Mode,
        name: Option<String>,
        inputs: Vec<(String, String)>,
    },
    /// Open a run to go on with it; `moved`: a person said it goes on here although it was
    /// last driven on another machine.
    Resume {
        name: String,
        inputs: Vec<(String, String)>,
        moved: bool,
    },
    /// An interactive step takes the terminal: step aside, then acknowledge.
    LendTerminal(Ack),
    /// Let an interactive step go on without stepping aside (no run is on screen).
    Acknowledge(Ack),
    /// The interactive step ended: take the terminal back and redraw.
    TakeTerminalBack,
    /// Stop the running step (its process group), cleanly.
    Cancel,
    /// Let go of the run (the engine ends; the run's lock is released).
    CloseRun,
    /// Leave the current screen (handled by `App::update`, never reaches the loop).
    Quit,
    /// Leave the form (handled by `App::update`).
    Back,
}

/// The screen shown.
pub enum Screen {
    Home(Home),
    Form(Form),
    Run(Box<RunView>),
    /// Something is being opened.
    Loading(String),
}

/// The UI's state.
pub struct App {
    pub screen: Screen,
    /// The help overlay is open.
    pub help: bool,
    pub theme: Theme,
    /// Ticks since the start (spinner frames).
    pub tick: u64,
    /// Started as a bare `stepwise`: leaving a run goes back home.
    pub has_home: bool,
    /// Set when the UI is done, with the exit status.
    pub exit: Option<i32>,
    /// What to print on the normal screen after leaving.
    pub farewell: Option<String>,
    /// A message for the home screen.
    pub message: Option<String>,
    /// A runbook or a run is being opened off the loop: keys for the screen it was asked from
    /// wait, so that a second Enter does not open it twice.
    pub opening: bool,
}

impl App {
    /// An app showing `screen`.
    pub fn new(screen: Screen, has_home: bool, theme: Theme) -> App {
        App {
            screen,
            help: false,
            theme,
            tick: 0,
            has_home,
            exit: None,
            farewell: None,
            message: None,
            opening: false,
        }
    }

    /// Whether keys go into a text field (so `?` and `q` are text, not commands).
    fn typing(&self) -> bool {
        match &self.screen {
            Screen::Form(_) => true,
            Screen::Home(h) => h.filtering,
            Screen::Run(v) => {
                v.searching.is_some()
                    || matches!(
                        v.modal,
                        Some(Modal::Skip { .. } | Modal::Danger(_) | Modal::Manual(_))
                    )
            }
            Screen::Loading(_) => false,
        }
    }

    /// Whether something moves on screen by itself (a spinner, a clock).
    pub fn animating(&self) -> bool {
        matches!(&self.screen, Screen::Run(v) if v.busy.is_some() || v.running().is_some())
            || matches!(self.screen, Screen::Loading(_))
    }

    /// Handles a message; returns what the loop must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        if matches!(
            msg,
            Msg::Lists(_)
                | Msg::Runbook { .. }
                | Msg::NeedInputs(_)
                | Msg::Opened(_)
                | Msg::Failed(_)
                | Msg::ConfirmMove { .. }
        ) {
            self.opening = false;
        }
        let effects = match msg {
            Msg::Key(key) => self.key(key),
            Msg::Paste(text) => {
                let mut fx = Vec::new();
                for c in text.chars().filter(|c| !c.is_control()) {
                    if self.typing() {
                        fx.extend(self.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
                    }
                }
                fx
            }
            Msg::Resize => Vec::new(),
            Msg::Tick(now) => {
                self.tick = self.tick.wrapping_add(1);
                if let Screen::Run(v) = &mut self.screen {
                    v.clock = v.clock.max(Some(now));
                }
                Vec::new()
            }
            Msg::Engine(event) => match &mut self.screen {
                Screen::Run(v) => v.engine(event),
                _ => {
                    // No run on screen: let an interactive step go on at once.
                    match event {
                        Event::Terminal {
                            handoff: crate::engine::Handoff::Take(ack),
                            ..
                        } => vec![Effect::Acknowledge(ack)],
                        _ => Vec::new(),
                    }
                }
            },
            Msg::Report(report) => match &mut self.screen {
                Screen::Run(v) => v.report(report),
                _ => Vec::new(),
            },
            Msg::Lists(lists) => {
                let mut home = Home::new(lists);
                home.message = self.message.take();
                self.screen = Screen::Home(home);
                Vec::new()
            }
            Msg::Runbook { plan, dry } => self.runbook_loaded(plan, dry),
            Msg::NeedInputs(form) => {
                self.screen = Screen::Form(form);
                Vec::new()
            }
            Msg::Opened(mut view) => {
                let mut fx = view.wants();
                // A dry run changes nothing: show every step's preview at once.
                if view.dry {
                    fx.extend(view.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
                }
                self.screen = Screen::Run(view);
                fx
            }
            Msg::Failed(e) => self.failed(e),
            Msg::Log { index, text } => {
                if let Screen::Run(v) = &mut self.screen {
                    v.log_loaded(index, text);
                }
                Vec::new()
            }
            Msg::Journal(read) => {
                if let Screen::Run(v) = &mut self.screen {
                    match read {
                        Ok(lines) => v.journal_loaded(lines),
                        Err(e) => v.error = Some(e),
                    }
                }
                Vec::new()
            }
            Msg::Removed(run) => {
                self.message = Some(format!("removed {run}"));
                vec![Effect::Scan]
            }
            Msg::ConfirmMove { run, what } => match &mut self.screen {
                Screen::Home(h) => {
                    h.moving = Some((run, what));
                    Vec::new()
                }
                _ => self.failed(format!(
                    "{what}\nhint: {}",
                    crate::prepare::carry_on_hint(&run)
                )),
            },
            Msg::Terminate => match &mut self.screen {
                Screen::Run(v) if v.busy.is_some() => {
                    v.stopping = true;
                    vec![Effect::Cancel]
                }
                _ => vec![Effect::Quit],
            },
        };
        self.settle(effects)
    }

    /// A runbook chosen on the home screen is read: its inputs form, or the run at once.
    fn runbook_loaded(
        &mut self,
        plan: std::sync::Arc<crate::runbook::Plan>,
        dry: bool,
    ) -> Vec<Effect> {
        let mode = if dry {
            Mode::DryRun { with_checks: false }
        } else {
            Mode::Real
        };
        if plan.root().doc.inputs.is_empty() {
            self.screen = Screen::Loading(format!("starting {}", plan.root().doc.title));
            vec![Effect::Start {
                plan,
                mode,
                name: None,
                inputs: Vec::new(),
            }]
        } else {
            // The runs listed on the home screen: a new run's name cannot be one of them.
            let taken = match &self.screen {
                Screen::Home(h) => h.lists.runs.iter().map(|r| r.name.clone()).collect(),
                _ => Vec::new(),
            };
            let form =
                Form::new(plan, Purpose::Start { mode, name: None }, &[], None).with_taken(taken);
            self.screen = Screen::Form(form);
            Vec::new()
        }
    }

    /// Something the UI asked for failed: said on the form, on the home screen, or on the way out.
    fn failed(&mut self, e: String) -> Vec<Effect> {
        match &mut self.screen {
            Screen::Form(f) => {
                f.error = Some(e);
                Vec::new()
            }
            _ if self.has_home => {
                self.message = Some(e);
                vec![Effect::Scan]
            }
            _ => {
                self.farewell = Some(format!("error: {e}"));
                self.exit = Some(exit::ERROR);
                Vec::new()
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.help {
            self.help = false;
            return Vec::new();
        }
        if key.code == KeyCode::Char('?') && !self.typing() {
            self.help = true;
            return Vec::new();
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if self.opening
            && key.code != KeyCode::Esc
            && matches!(self.screen, Screen::Home(_) | Screen::Form(_))
        {
            if ctrl_c {
                self.exit = Some(exit::OK);
            }
            return Vec::new();
        }
        match &mut self.screen {
            Screen::Home(h) => h.key(key),
            Screen::Form(f) => f.key(key),
            Screen::Run(v) => v.key(key),
            Screen::Loading(_) => {
                if ctrl_c {
                    self.exit = Some(exit::OK);
                }
                Vec::new()
            }
        }
    }

    /// Turns `Quit` and `Back` into what they mean on the current screen.
    fn settle(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut out = Vec::new();
        for e in effects {
            match e {
                Effect::Quit => match &self.screen {
                    Screen::Run(v) => {
                        let (status, farewell) = farewell(v);
                        out.push(Effect::CloseRun);
                        if self.has_home {
                            self.screen = Screen::Loading("closing the run".into());
                            out.push(Effect::Scan);
                        } else {
                            self.exit = Some(status);
                            self.farewell = Some(farewell);
                        }
                    }
                    _ => self.exit = Some(exit::OK),
                },
                Effect::Back => {
                    if self.has_home {
                        self.screen = Screen::Loading("reading runbooks".into());
                        out.push(Effect::Scan);
                    } else {
                        self.exit = Some(exit::OK);
                    }
                }
                other => {
                    if matches!(
                        other,
                        Effect::LoadRunbook { .. } | Effect::Start { .. } | Effect::Resume { .. }
                    ) {
                        self.opening = true;
                    }
                    out.push(other)
                }
            }
        }
        out
    }
}

/// The exit status and the last words after leaving a run.
fn farewell(v: &RunView) -> (i32, String) {
    let (done, total) = v.progress();
    let name = &v.name;
    if v.dry {
        return (
            exit::OK,
            "dry run complete: nothing was changed and no run was recorded".into(),
        );
    }
    let Some(next) = v.next_step() else {
        return (
            exit::OK,
            format!("run {name} completed ({done}/{total} done)"),
        );
    };
    let key = &v.plan.steps[next].key;
    let status = v.steps[next].status;
    let hint = format!("`stepwise resume {name}` goes on from there");
    if v.stopping || matches!(v.outcome, Some(RunOutcome::Interrupted { .. })) {
        return (
            exit::INTERRUPTED,
            format!(
                "run {name} interrupted at {key} ({done}/{total} done); state is saved\n  {hint}"
            ),
        );
    }
    let code = if status == Status::Failed {
        exit::STEP_FAILED
    } else {
        exit::WAITING
    };
    let at = match status {
        Status::Pending => format!("next: {key}"),
        s => format!("{} at {key}", s.as_str()),
    };
    (
        code,
        format!("run {name} stopped ({done}/{total} done, {at}); state is saved\n  {hint}"),
    )
}
