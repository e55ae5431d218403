//! The terminal UI: walk, run, resume and review runbooks interactively.
//!
//! It reads the same engine events as plain mode. The pieces: `App` holds all state and
//! changes only in `App::update` (message in, effects out, no I/O); `ui` draws a frame from the
//! state; `terminal` owns the terminal (raw mode, alternate screen, the panic hook, stepping
//! aside for interactive steps); `event_loop` is one `tokio::select!` over input, engine
//! messages, ticks and signals, and carries out effects. The engine runs in its own task
//! (`engine::serve`), so a running step never freezes the screen.

pub mod app;
pub mod event_loop;
pub mod form;
pub mod home;
pub mod input;
pub mod output;
pub mod run_view;
pub mod session;
pub mod terminal;
pub mod ui;

use std::path::PathBuf;
use std::sync::Arc;

pub use app::{App, Effect, Msg, Screen};
pub use event_loop::{Host, Runner};
pub use run_view::RunView;
pub use session::Session;

use crate::cli::RunArgs;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::runbook::Plan;

/// What the UI opens with.
pub enum Launch {
    /// A bare `stepwise`: the home screen.
    Home { paths: Vec<PathBuf> },
    /// `stepwise run FILE`.
    Run {
        plan: Arc<Plan>,
        mode: Mode,
        name: Option<String>,
        args: RunArgs,
    },
    /// `stepwise resume RUN`.
    Resume { name: String, args: RunArgs },
}

/// Runs the UI until the person leaves; returns the exit status.
pub fn run(launch: Launch) -> Result<i32> {
    crate::prepare::block_on(async move {
        let theme = ui::theme::Theme::from_env();
        let (args, paths, has_home) = match &launch {
            Launch::Home { paths } => (RunArgs::default(), paths.clone(), true),
            Launch::Run { args, .. } | Launch::Resume { args, .. } => {
                (args.clone(), Vec::new(), false)
            }
        };
        let mut runner = Runner::new(args, paths);
        // What can fail before the screen changes does, so that its error prints plainly.
        let first = match launch {
            Launch::Home { .. } => app::Msg::Lists(home::scan(&runner.paths)),
            Launch::Run {
                plan,
                mode,
                name,
                args,
            } => {
                if plan.root().doc.inputs.is_empty() {
                    let prepared =
                        crate::prepare::prepare_start(plan, mode, name, &args, &[], false)?;
                    runner.open(prepared)?
                } else {
                    let given = crate::prepare::pairs(&args.inputs, "NAME=VALUE")?;
                    let taken = crate::state::list()
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .map(|r| r.name)
                        .collect();
                    app::Msg::NeedInputs(
                        form::Form::new(plan, form::Purpose::Start { mode, name }, &given, None)
                            .with_taken(taken),
                    )
                }
            }
            Launch::Resume { name, args } => runner.resume(&name, &[], &args)?,
        };
        let mut app = App::new(Screen::Loading(String::new()), has_home, theme);
        let effects = app.update(first);
        let mut host = terminal::TermHost::new().map_err(|e| Error::NoTerminal(e.to_string()))?;
        let mut term = host.terminal().map_err(|e| Error::Other(e.to_string()))?;
        let result = runner.run(&mut term, &mut app, &mut host, effects).await;
        drop(term);
        drop(host);
        if let Some(f) = &app.farewell {
            crate::out::outln!("{f}");
        }
        result.map_err(|e| Error::Other(format!("the terminal UI failed: {e}")))?;
        Ok(app.exit.unwrap_or(crate::error::exit::OK))
    })
}
