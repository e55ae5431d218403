//! The commands: each turns its arguments into a plan, a run and an engine, and returns the
//! exit status.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{Cli, Command, RunArgs};
use crate::engine::{Backlog, Mode, Terminal};
use crate::error::{Error, Result, exit};
use crate::out::{errln, outln};
use crate::plain;
use crate::prepare::Prepared;
use crate::runbook;

/// Runs a command and returns its exit status.
pub fn main(cli: Cli) -> Result<i32> {
    if let Some(url) = &cli.store.store {
        crate::state::remote::choose(url, cli.store.store_kms_key.as_deref())?;
    }
    let Some(command) = cli.command else {
        unknown_command(&cli.paths)?;
        return home(cli.paths);
    };
    match command {
        Command::Validate { files } => validate(&files),
        Command::Schema => {
            crate::out::print(format_args!("{}", runbook::json_schema()));
            Ok(exit::OK)
        }
        Command::Runs { json, names } => plain::runs(json, names),
        Command::Log {
            run,
            step,
            json,
            follow,
        } => plain::log(&run, step.as_deref(), json, follow),
        Command::Rm { runs, force } => plain::rm(&runs, force),
        Command::Unlock { run, force } => plain::unlock(&run, force),
        Command::Push { run } => plain::push(&run),
        Command::Pull { run } => plain::pull(&run),
        Command::Prune {
            older_than,
            completed,
            force,
        } => plain::prune(older_than, completed, force),
        Command::Completions { shell } => {
            crate::out::print(format_args!("{}", completions(shell)));
            Ok(exit::OK)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Error::Other(format!("cannot make the man page: {e}")))?;
            crate::out::print(format_args!("{}", String::from_utf8_lossy(&page)));
            Ok(exit::OK)
        }
        Command::Status { run, json } => plain::status(&run, json),
        Command::Check {
            runs,
            all,
            json,
            quiet,
            inputs,
            profile,
            region,
        } => plain::check(plain::Asked {
            runs,
            all,
            json,
            quiet,
            inputs,
            aws: crate::aws::AwsSettings {
                profile,
                region,
                ..Default::default()
            },
        }),
        Command::Run {
            file,
            dry_run,
            with_checks,
            name,
            common,
        } => {
            let mode = if dry_run {
                Mode::DryRun { with_checks }
            } else {
                Mode::Real
            };
            if use_ui(&common) {
                let plan = crate::prepare::load(&file)?;
                return crate::tui::run(crate::tui::Launch::Run {
                    plan,
                    mode,
                    name,
                    args: common,
                });
            }
            crate::prepare::block_on(start(&file, mode, name, common))
        }
        Command::Resume { run, common } => {
            // Waiting for or stopping processes left running is done in plain mode.
            let orphan = common.wait_orphan || common.stop_orphan;
            if use_ui(&common) && !orphan {
                return crate::tui::run(crate::tui::Launch::Resume {
                    name: run,
                    args: common,
                });
            }
            crate::prepare::block_on(resume(&run, common))
        }
    }
}

/// A bare word that names no file is a mistyped command (`stepwise stauts`), not a folder of
/// runbooks to list: say so, with the command it looks like.
fn unknown_command(paths: &[std::path::PathBuf]) -> Result<()> {
    use clap::CommandFactory;
    let Some(word) = paths.first().and_then(|p| p.to_str()) else {
        return Ok(());
    };
    let bare = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !bare || paths[0].exists() {
        return Ok(());
    }
    let cli = Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    let hint = match crate::runbook::closest(word, names.iter().copied()) {
        Some(near) => format!("a similar command exists: '{near}'; `stepwise --help` lists them"),
        None => {
            "`stepwise --help` lists the commands; a path to list runbooks from must exist".into()
        }
    };
    Err(Error::UnknownCommand {
        word: word.to_string(),
        hint,
    })
}

/// The commands that take a run's name as their first argument: their completion offers the
/// runs on this machine, where the shell can ask the program (`stepwise runs --names`).
const TAKE_A_RUN: &str = "resume status log rm unlock push pull";

/// A completion script for `shell`: clap's, plus run names for bash and fish.
fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "stepwise", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        clap_complete::Shell::Bash => script.push_str(&format!(
            r#"
_stepwise_runs() {{
    local prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case " {TAKE_A_RUN} " in
        *" $prev "*)
            COMPREPLY=( $(compgen -W "$(stepwise runs --names 2>/dev/null)" -- "${{COMP_WORDS[COMP_CWORD]}}") )
            return 0 ;;
    esac
    _stepwise "$@"
}}
complete -F _stepwise_runs -o nosort -o bashdefault -o default stepwise
"#
        )),
        clap_complete::Shell::Fish => script.push_str(&format!(
            "complete -c stepwise -n \"__fish_seen_subcommand_from {TAKE_A_RUN}\" -f -a \"(stepwise runs --names 2>/dev/null)\"\n"
        )),
        _ => {}
    }
    script
}

/// The terminal UI is used when both ends are a terminal and `--plain` was not given.
fn use_ui(args: &RunArgs) -> bool {
    !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// A bare `stepwise`: the home screen of the terminal UI, or the help without a terminal.
fn home(paths: Vec<std::path::PathBuf>) -> Result<i32> {
    if !use_ui(&RunArgs::default()) {
        use clap::CommandFactory;
        errln!("{}", Cli::command().render_help());
        return Ok(exit::INVALID);
    }
    crate::tui::run(crate::tui::Launch::Home { paths })
}

/// After a stop, how long the output printed so far may take to go out.
const STDOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn validate(files: &[std::path::PathBuf]) -> Result<i32> {
    let mut all = Vec::new();
    for file in files {
        match runbook::load(file) {
            Ok(plan) => {
                outln!("{}: ok", file.display());
                // The process ends right after: the system takes the memory back at once,
                // where freeing a large runbook piece by piece takes longer than checking it.
                std::mem::forget(plan);
            }
            Err(diags) => all.extend(diags),
        }
    }
    if all.is_empty() {
        Ok(exit::OK)
    } else {
        let n = all.len();
        // A file that cannot be read is said in its one line.
        let located = all.iter().any(|d| d.is_located());
        errln!("{}", Error::Invalid(all));
        if located {
            errln!(
                "\n{n} problem{} found; nothing was run",
                if n == 1 { "" } else { "s" }
            );
        }
        Ok(exit::INVALID)
    }
}

/// `stepwise run FILE`.
async fn start(file: &Path, mode: Mode, name: Option<String>, args: RunArgs) -> Result<i32> {
    let plan = crate::prepare::load(file)?;
    let prepared = crate::prepare::prepare_start(plan, mode, name, &args, &[], true)?;
    drive(prepared).await
}

/// `stepwise resume RUN`.
async fn resume(name: &str, args: RunArgs) -> Result<i32> {
    let prepared = crate::prepare::prepare_resume(name, &args, &[], true)?;
    drive(prepared).await
}

/// Drives the engine and prints its events until the run ends or stops.
async fn drive(prepared: Prepared) -> Result<i32> {
    let terminal = if crate::prepare::interactive() {
        Terminal::Available
    } else {
        Terminal::Absent
    };
    let (dry, resuming) = (prepared.dry(), prepared.resuming);
    let (engine, rx, decisions) = prepared.engine(terminal);
    let cancel = engine.cancel_token();
    let backlog = Arc::new(Backlog::default());
    let mut engine = engine.with_backlog(backlog.clone());
    let printer = plain::Printer::new(engine.plan().clone(), engine.state().name.clone(), dry)
        .with_backlog(backlog.clone());
    printer.header(engine.state(), resuming);
    let printing = tokio::spawn(printer.consume(rx));

    let signals = cancel.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let sigterm = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm => {}
        }
        signals.cancel();
    });

    let outcome = async {
        if !dry {
            engine.mark_interrupted()?;
            if let Some(choice) = decisions.orphan {
                engine.settle_orphans(choice).await?;
            }
            // Interrupted while waiting: `run` records nothing more and says so.
            if !cancel.is_cancelled() {
                engine.apply_decisions(&decisions)?;
            }
        }
        engine.run(&decisions).await.map_err(Error::from)
    }
    .await;
    let run_name = engine.state().name.clone();
    let final_state = engine.state().clone();
    drop(engine);
    // A stdout nobody reads (a paused pager) would hold a stop up for ever.
    let waiting = if cancel.is_cancelled() {
        match tokio::time::timeout(STDOUT_GRACE, printing).await {
            Ok(waiting) => waiting.unwrap_or_default(),
            Err(_) => {
                let outcome = outcome?;
                errln!(
                    "stepwise: stdout is not being read; run {run_name} stopped ({}); the steps' output is in their logs",
                    plain::progress(&plain::summary(&final_state))
                );
                return Ok(crate::error::run_status(&outcome));
            }
        }
    } else {
        printing.await.unwrap_or_default()
    };
    let outcome = outcome?;
    Ok(plain::finish(
        &run_name,
        &final_state,
        &outcome,
        waiting.as_ref(),
        dry,
    ))
}
