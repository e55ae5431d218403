//! The UI's state changes without a terminal: keys and engine events in, state and effects out.

#![allow(clippy::unwrap_used)]

#[path = "support/tui.rs"]
mod tui;

use crossterm::event::KeyCode;
use stepwise::engine::{Command, Decisions, Event, Handoff, Need, Report, RunOutcome, Stream};
use stepwise::state::Status;
use stepwise::tui::run_view::{Busy, Modal, Pane};
use stepwise::tui::ui::theme::Theme;
use stepwise::tui::{App, Effect, Msg, RunView, Screen};
use tui::*;

fn engine_command(fx: &[Effect]) -> Option<&Command> {
    fx.iter().find_map(|e| match e {
        Effect::Engine(c @ (Command::Next(_) | Command::Continue(_) | Command::Decide(_))) => {
            Some(c)
        }
        _ => None,
    })
}

#[test]
fn enter_runs_the_next_step_and_a_runs_on() {
    let mut app = run_app(false);
    let fx = app.update(key(KeyCode::Enter));
    assert!(
        matches!(engine_command(&fx), Some(Command::Next(_))),
        "{fx:?}"
    );
    assert_eq!(view(&mut app).busy, Some(Busy::Step));
    // While a step runs, Enter and `a` start nothing.
    assert!(engine_command(&app.update(key(KeyCode::Enter))).is_none());
    assert!(engine_command(&app.update(ch('a'))).is_none());
    assert!(view(&mut app).error.is_some());
    ran(&mut app, 0, 5, &["hello"], &[("folder", "work/demo")]);
    idle(&mut app, None);
    let fx = app.update(ch('a'));
    assert!(
        matches!(engine_command(&fx), Some(Command::Continue(_))),
        "{fx:?}"
    );
}

#[test]
fn the_selection_follows_the_running_step_until_moved() {
    let mut app = run_app(false);
    app.update(ch('a'));
    app.update(Msg::Engine(Event::StepStarted {
        index: 2,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    assert_eq!(view(&mut app).selected, 2);
    app.update(ch('k'));
    assert_eq!(view(&mut app).selected, 1);
    ran(&mut app, 2, 5, &[], &[]);
    app.update(Msg::Engine(Event::StepStarted {
        index: 3,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    assert_eq!(view(&mut app).selected, 1, "moved away: no longer follows");
    app.update(ch('f'));
    assert_eq!(view(&mut app).selected, 3);
}

#[test]
fn output_follows_the_tail_until_scrolled_and_is_searchable() {
    let mut app = run_app(false);
    app.update(Msg::Engine(Event::StepStarted {
        index: 0,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    for n in 0..100 {
        app.update(Msg::Engine(Event::Output {
            index: 0,
            stream: if n % 10 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            },
            line: format!("line {n}{}", if n % 10 == 0 { " warning" } else { "" }),
        }));
    }
    screen(&app, 100, 30);
    let v = view(&mut app);
    assert_eq!(v.outputs[0].len(), 100);
    assert_eq!(v.out_top, None, "follows the tail");
    app.update(key(KeyCode::Tab));
    assert_eq!(view(&mut app).focus, Pane::Output);
    app.update(ch('k'));
    let top = view(&mut app).out_top.expect("scrolled");
    app.update(Msg::Engine(Event::Output {
        index: 0,
        stream: Stream::Stdout,
        line: "more".into(),
    }));
    assert_eq!(
        view(&mut app).out_top,
        Some(top),
        "stays where the person scrolled"
    );
    app.update(key(KeyCode::End));
    assert_eq!(view(&mut app).out_top, None);
    app.update(ch('/'));
    type_text(&mut app, "warning");
    app.update(key(KeyCode::Enter));
    let v = view(&mut app);
    let s = v.search.as_ref().expect("a search");
    assert_eq!(s.matches.len(), 10);
    let first = s.line();
    app.update(ch('n'));
    assert_ne!(view(&mut app).search.as_ref().unwrap().line(), first);
    let text = screen(&app, 100, 30);
    assert!(text.contains("/warning"), "{text}");
}

/// The example's run view, its review step waiting for a person: two items to tick, a prompt.
fn review_waiting() -> App {
    let mut app = run_app(false);
    let plan = example();
    app.update(Msg::Engine(Event::Waiting {
        index: 5,
        need: Need::Manual {
            instructions: "check it".into(),
            checklist: vec!["one".into(), "two".into()],
            prompts: plan.step(5).prompts.clone().into_iter().collect(),
            missing: vec!["reviewer".into()],
            problems: Vec::new(),
        },
    }));
    app
}

#[test]
fn a_manual_step_is_done_only_when_ticked_and_answered() {
    let mut app = review_waiting();
    assert!(matches!(view(&mut app).modal, Some(Modal::Manual(_))));
    // Done at once: refused, nothing sent.
    for _ in 0..3 {
        app.update(key(KeyCode::Tab));
    }
    assert!(engine_command(&app.update(key(KeyCode::Enter))).is_none());
    let Some(Modal::Manual(m)) = &view(&mut app).modal else {
        panic!("dialog closed")
    };
    assert_eq!(m.problems.len(), 2, "{:?}", m.problems);
    // Tick both, answer wrongly: the error shows as you type.
    app.update(key(KeyCode::Home));
    for _ in 0..3 {
        app.update(key(KeyCode::BackTab));
    }
    app.update(ch(' '));
    app.update(key(KeyCode::Down));
    app.update(ch(' '));
    app.update(key(KeyCode::Down));
    type_text(&mut app, "4da");
    let Some(Modal::Manual(m)) = &view(&mut app).modal else {
        panic!("dialog closed")
    };
    assert!(m.checklist.iter().all(|(_, t)| *t));
    assert!(m.prompts[0].error.as_deref().unwrap().contains("pattern"));
    for _ in 0..3 {
        app.update(key(KeyCode::Backspace));
    }
    type_text(&mut app, "Ada");
    app.update(key(KeyCode::Tab));
    let fx = app.update(key(KeyCode::Enter));
    let Some(Command::Next(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.done.contains("review"));
    assert_eq!(d.outputs["review"]["reviewer"], "Ada");
}

fn danger(app: &mut App) {
    app.update(Msg::Engine(Event::Waiting {
        index: 9,
        need: Need::Danger {
            text: "demo".into(),
            preview: "rm -rf it".into(),
            mismatched: false,
        },
    }));
}

#[test]
fn a_danger_step_needs_the_exact_text_and_anything_else_cancels() {
    let mut app = run_app(false);
    danger(&mut app);
    type_text(&mut app, "dem");
    assert!(engine_command(&app.update(key(KeyCode::Enter))).is_none());
    assert!(view(&mut app).modal.is_none(), "cancelled");
    // Enter on the waiting step opens it again.
    app.update(key(KeyCode::End));
    app.update(key(KeyCode::Enter));
    assert!(matches!(view(&mut app).modal, Some(Modal::Danger(_))));
    type_text(&mut app, "demo");
    let fx = app.update(key(KeyCode::Enter));
    let Some(Command::Next(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(d.confirm["publish"], "demo");
}

#[test]
fn interrupted_steps_offer_rerun_done_or_skip() {
    let mut app = run_app(false);
    let v = view(&mut app);
    let state = fresh_state(&v.plan, "r");
    let pending = vec![(
        3,
        Need::Interrupted {
            last_output: vec!["x".into()],
        },
    )];
    app.update(Msg::Report(Report::Idle {
        outcome: None,
        state: Box::new(state),
        pending,
    }));
    assert!(matches!(
        view(&mut app).modal,
        Some(Modal::Decide { index: 3, .. })
    ));
    let fx = app.update(ch('r'));
    let Some(Command::Next(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.rerun.contains("start-service"));

    let mut app = run_app(false);
    app.update(Msg::Engine(Event::Waiting {
        index: 3,
        need: Need::Interrupted {
            last_output: Vec::new(),
        },
    }));
    let fx = app.update(ch('m'));
    let Some(Command::Decide(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.done.contains("start-service"));

    let mut app = run_app(false);
    app.update(Msg::Engine(Event::Waiting {
        index: 3,
        need: Need::Changed { diff: None },
    }));
    app.update(ch('s'));
    type_text(&mut app, "done by hand");
    let fx = app.update(key(KeyCode::Enter));
    let Some(Command::Decide(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(d.skip["start-service"], "done by hand");
}

#[test]
fn skip_mark_done_and_rerun_name_the_selected_step() {
    let mut app = run_app(false);
    app.update(ch('j'));
    app.update(ch('s'));
    let fx = app.update(key(KeyCode::Enter));
    let Some(Command::Decide(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(d.skip["config"], "no reason given");
    idle(&mut app, None);
    let fx = app.update(ch('m'));
    let Some(Command::Decide(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.done.contains("config"));
    idle(&mut app, None);
    ran(&mut app, 1, 3, &[], &[]);
    app.update(key(KeyCode::Home));
    app.update(ch('j'));
    let fx = app.update(ch('r'));
    let Some(Command::Next(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.rerun.contains("config"));
}

#[test]
fn quitting_while_a_step_runs_asks_then_stops_it_cleanly() {
    let mut app = run_app(false);
    app.update(key(KeyCode::Enter));
    app.update(Msg::Engine(Event::StepStarted {
        index: 0,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    assert!(app.update(ch('q')).is_empty());
    assert!(matches!(view(&mut app).modal, Some(Modal::ConfirmQuit)));
    // Any other key keeps it running.
    app.update(ch('n'));
    assert!(view(&mut app).modal.is_none());
    app.update(ch('q'));
    let fx = app.update(ch('y'));
    assert!(matches!(fx.as_slice(), [Effect::Cancel]), "{fx:?}");
    assert!(app.exit.is_none(), "waits for the step to stop");
    app.update(Msg::Engine(Event::StepFinished {
        index: 0,
        status: Status::Interrupted,
        outputs: Default::default(),
        elapsed: std::time::Duration::from_millis(3),
        exit_code: None,
        message: Some("interrupted".into()),
    }));
    let fx = idle(
        &mut app,
        Some(RunOutcome::Interrupted {
            key: Some("prepare".into()),
        }),
    );
    assert!(matches!(fx.as_slice(), [Effect::CloseRun]), "{fx:?}");
    assert_eq!(app.exit, Some(130));
    assert!(
        app.farewell
            .as_deref()
            .unwrap()
            .contains("interrupted at prepare")
    );
}

#[test]
fn quitting_an_idle_run_keeps_it_for_resume() {
    let mut app = run_app(false);
    ran(&mut app, 0, 3, &[], &[]);
    idle(&mut app, None);
    let fx = app.update(ch('q'));
    assert!(matches!(fx.as_slice(), [Effect::CloseRun]));
    assert_eq!(app.exit, Some(3));
    assert!(
        app.farewell
            .as_deref()
            .unwrap()
            .contains("stepwise resume example-demo")
    );
}

#[test]
fn the_terminal_is_lent_to_an_interactive_step_and_taken_back() {
    let mut app = run_app(false);
    app.update(key(KeyCode::Enter));
    let fx = app.update(Msg::Engine(Event::Terminal {
        index: 0,
        handoff: Handoff::Back,
    }));
    assert!(
        matches!(fx.as_slice(), [Effect::TakeTerminalBack]),
        "{fx:?}"
    );
}

#[test]
fn command_line_decisions_go_with_the_first_command() {
    let plan = example();
    let state = fresh_state(&plan, "r");
    let mut d = Decisions::default();
    d.confirm.insert("publish".into(), "demo".into());
    let view = RunView::new(plan, &state, false, Vec::new(), d);
    let mut app = App::new(Screen::Run(Box::new(view)), false, Theme { color: false });
    let fx = app.update(ch('a'));
    let Some(Command::Continue(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(d.confirm["publish"], "demo");
    idle(&mut app, None);
    let fx = app.update(ch('a'));
    let Some(Command::Continue(d)) = engine_command(&fx) else {
        panic!("{fx:?}")
    };
    assert!(d.confirm.is_empty());
}

#[test]
fn the_form_checks_inputs_as_you_type_and_starts_when_valid() {
    let mut app = form_app();
    type_text(&mut app, "Bad!");
    let Screen::Form(f) = &app.screen else {
        panic!()
    };
    assert!(f.fields[0].error.as_deref().unwrap().contains("pattern"));
    assert!(
        app.update(Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('s'),
            crossterm::event::KeyModifiers::CONTROL
        )))
        .is_empty()
    );
    for _ in 0..4 {
        app.update(key(KeyCode::Backspace));
    }
    type_text(&mut app, "staging");
    let fx = app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('s'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    let [Effect::Start { inputs, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(inputs, &[("deployment".to_string(), "staging".to_string())]);
    // Esc without a home screen leaves.
    app.update(key(KeyCode::Esc));
    assert_eq!(app.exit, Some(0));
}

#[test]
fn a_run_being_opened_is_not_opened_twice_and_a_failure_gives_the_form_back() {
    let mut app = form_app();
    type_text(&mut app, "staging");
    let ctrl_s = || {
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('s'),
            crossterm::event::KeyModifiers::CONTROL,
        ))
    };
    let fx = app.update(ctrl_s());
    assert!(matches!(fx.as_slice(), [Effect::Start { .. }]), "{fx:?}");
    assert!(app.opening);
    // The run is being made off the loop: a second start, or typing, does nothing yet.
    assert!(app.update(ctrl_s()).is_empty());
    assert!(type_text(&mut app, "x").is_empty());
    let Screen::Form(f) = &app.screen else {
        panic!()
    };
    assert_eq!(f.fields[0].input.value(), "staging");
    // It failed: the error is on the form, which takes keys again.
    app.update(Msg::Failed("run `x` exists".into()));
    assert!(!app.opening);
    let Screen::Form(f) = &app.screen else {
        panic!()
    };
    assert_eq!(f.error.as_deref(), Some("run `x` exists"));
    let fx = app.update(ctrl_s());
    assert!(matches!(fx.as_slice(), [Effect::Start { .. }]), "{fx:?}");
}

#[test]
fn elapsed_times_come_from_the_messages_not_from_drawing() {
    let mut app = run_app(false);
    app.update(key(KeyCode::Enter));
    let at = std::time::Instant::now();
    app.update(Msg::Engine(Event::StepStarted {
        index: 0,
        attempt: 1,
        at,
    }));
    // However long drawing takes, the time shown is the one the last message brought.
    let first = screen(&app, 100, 20);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(screen(&app, 100, 20), first);
    app.update(Msg::Tick(at + std::time::Duration::from_secs(75)));
    let later = screen(&app, 100, 20);
    assert_ne!(later, first);
    assert!(later.contains("1m 15s"), "{later}");
}

#[test]
fn a_run_is_deleted_from_home_only_when_the_person_says_yes() {
    let mut app = home_app(&[("old-run", "completed"), ("other", "waiting")]);
    // The runs pane has the focus: `d` (a dry run, for runbooks) does nothing there.
    assert!(app.update(ch('d')).is_empty());
    let fx = app.update(ch('x'));
    assert!(fx.is_empty(), "{fx:?}");
    let s = screen(&app, 100, 20);
    assert!(
        s.contains("Delete run old-run (completed, 10/10 done)?"),
        "{s}"
    );
    assert!(s.contains("y delete it"), "{s}");
    // Any other key keeps it.
    assert!(app.update(ch('n')).is_empty());
    assert!(screen(&app, 100, 20).contains("old-run was kept"));
    app.update(ch('x'));
    let fx = app.update(ch('y'));
    let [Effect::Remove { run }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(run, "old-run");
    // Done: said, and the lists are read again.
    let fx = app.update(Msg::Removed("old-run".into()));
    assert!(matches!(fx.as_slice(), [Effect::Scan]), "{fx:?}");
    assert_eq!(app.message.as_deref(), Some("removed old-run"));
}

#[test]
fn a_run_driven_on_another_machine_goes_on_from_home_only_when_the_person_says_yes() {
    let mut app = home_app(&[("hub-roman", "waiting")]);
    // Enter asks to resume it; the opening finds it was last driven elsewhere.
    let fx = app.update(key(KeyCode::Enter));
    assert!(
        matches!(fx.as_slice(), [Effect::Resume { moved: false, .. }]),
        "{fx:?}"
    );
    let what =
        "run `hub-roman` was last driven on laptop (/home/ada/.local/share/stepwise, in /home/ada)";
    app.update(Msg::ConfirmMove {
        run: "hub-roman".into(),
        what: what.into(),
    });
    let s = screen(&app, 200, 20);
    assert!(s.contains("was last driven on laptop"), "{s}");
    assert!(s.contains("y go on here"), "{s}");
    // Any other key leaves it.
    assert!(app.update(ch('n')).is_empty());
    assert!(screen(&app, 200, 20).contains("hub-roman was left where it is"));
    app.update(key(KeyCode::Enter));
    app.update(Msg::ConfirmMove {
        run: "hub-roman".into(),
        what: what.into(),
    });
    let fx = app.update(ch('y'));
    let [Effect::Resume { name, moved, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!((name.as_str(), *moved), ("hub-roman", true));
}

#[test]
fn l_shows_the_runs_journal_over_the_run_view() {
    let mut app = run_app(false);
    let fx = app.update(ch('L'));
    let [Effect::LoadJournal { run }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(run, "example-demo");
    let lines: Vec<String> = (0..50).map(|n| format!("entry {n}")).collect();
    app.update(Msg::Journal(Ok(lines)));
    let s = screen(&app, 120, 40);
    assert!(s.contains("Journal of example-demo (50 entries)"), "{s}");
    // The end is in view; g goes to the top.
    assert!(s.contains("entry 49") && !s.contains("entry 5 "), "{s}");
    app.update(ch('g'));
    let s = screen(&app, 120, 40);
    assert!(s.contains("entry 0"), "{s}");
    app.update(key(KeyCode::Esc));
    assert!(view(&mut app).modal.is_none());
    // A journal that cannot be read is said on the run view.
    app.update(Msg::Journal(Err("cannot read it".into())));
    assert_eq!(view(&mut app).error.as_deref(), Some("cannot read it"));
    // A dry run has none.
    let mut dry = run_app(true);
    assert!(dry.update(ch('L')).is_empty());
    assert!(
        view(&mut dry)
            .error
            .as_deref()
            .unwrap()
            .contains("a dry run records nothing")
    );
}

#[test]
fn space_ticks_without_moving_and_fixed_problems_go() {
    let mut app = review_waiting();
    let form = |app: &mut App| match &view(app).modal {
        Some(Modal::Manual(m)) => m.clone(),
        _ => panic!("dialog closed"),
    };
    // Space Down Space ticks both items; nothing is typed into the prompt.
    app.update(ch(' '));
    assert_eq!(form(&mut app).focus, 0);
    app.update(key(KeyCode::Down));
    app.update(ch(' '));
    let m = form(&mut app);
    assert_eq!(
        (m.focus, m.checklist[0].1, m.checklist[1].1),
        (1, true, true)
    );
    assert_eq!(m.prompts[0].input.value(), "");
    // Space again unticks; done is refused and says why.
    app.update(ch(' '));
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('d'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    let m = form(&mut app);
    assert_eq!(m.problems.len(), 2, "{:?}", m.problems);
    assert!(
        m.problems[0].contains("not ticked yet: two"),
        "{:?}",
        m.problems
    );
    // Ticked again: that problem goes at once; answering removes the other.
    app.update(ch(' '));
    let m = form(&mut app);
    assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
    app.update(key(KeyCode::Down));
    type_text(&mut app, "Ada");
    assert!(form(&mut app).problems.is_empty());
}

#[test]
fn the_selected_row_on_home_is_never_grey_on_grey() {
    let mut app = home_app(&[("a-run", "completed")]);
    app.theme = Theme { color: true };
    for focus_runbooks in [false, true] {
        if focus_runbooks {
            app.update(key(KeyCode::Tab));
        }
        let buf = buffer(&app, 100, 20);
        let text = stepwise::tui::ui::screen_text(&buf);
        let needle = if focus_runbooks {
            "runbooks/example.yaml"
        } else {
            "example · "
        };
        let (y, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{text}"));
        let x = line[..line.find(needle).unwrap()].chars().count() as u16;
        let cell = &buf[(x, y as u16)];
        assert_ne!(
            cell.bg,
            ratatui::style::Color::Reset,
            "the row is not the selected one"
        );
        assert_ne!(cell.fg, cell.bg, "{needle}: {:?} on {:?}", cell.fg, cell.bg);
    }
}

#[test]
fn enter_after_a_finished_dry_run_says_it_is_complete() {
    let mut app = run_app(true);
    let fx = app.update(key(KeyCode::Enter));
    assert!(engine_command(&fx).is_some(), "{fx:?}");
    idle(&mut app, Some(RunOutcome::Completed));
    assert!(screen(&app, 120, 30).contains("dry run complete: nothing was changed"));
    assert!(!screen(&app, 120, 30).contains("preview all"));
    let fx = app.update(key(KeyCode::Enter));
    assert!(engine_command(&fx).is_none(), "{fx:?}");
    assert!(
        view(&mut app)
            .error
            .as_deref()
            .unwrap()
            .contains("the dry run is complete")
    );
}

#[test]
fn a_skipped_steps_detail_says_it_did_not_run() {
    let mut app = run_app(false);
    app.update(Msg::Engine(Event::StepFinished {
        index: 0,
        status: Status::Skipped,
        outputs: Default::default(),
        elapsed: std::time::Duration::ZERO,
        exit_code: None,
        message: Some("skipped by a person: done by hand".into()),
    }));
    app.update(Msg::Report(Report::Described {
        index: 0,
        preview: stepwise::engine::Preview {
            skip: None,
            body: "mkdir -p \"work/demo\"".into(),
            danger: None,
            problem: None,
        },
    }));
    let s = screen(&app, 120, 40);
    assert!(s.contains("Skipped; it would have run:"), "{s}");
    assert!(!s.contains("Ran:"), "{s}");
}

#[test]
fn the_run_name_follows_the_inputs_until_typed_and_is_checked_as_typed() {
    let plan = example();
    let form = stepwise::tui::form::Form::new(
        plan,
        stepwise::tui::form::Purpose::Start {
            mode: stepwise::engine::Mode::Real,
            name: None,
        },
        &[],
        None,
    )
    .with_taken(vec!["example-prod".into()]);
    let mut app = App::new(Screen::Form(form), false, Theme { color: false });
    let name = |app: &App| match &app.screen {
        Screen::Form(f) => {
            let last = f.fields.last().unwrap();
            assert_eq!(last.name, stepwise::tui::form::RUN_NAME);
            (last.input.value().to_string(), last.error.clone())
        }
        _ => panic!("not the form"),
    };
    // From the runbook's `run_name` and the default input.
    assert_eq!(name(&app), ("example-demo".into(), None));
    type_text(&mut app, "prod");
    let (shown, error) = name(&app);
    assert_eq!(shown, "example-prod");
    assert!(error.unwrap().contains("a run named `example-prod` exists"));
    // Ctrl-S does not start a run under a taken name.
    let ctrl_s = || {
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('s'),
            crossterm::event::KeyModifiers::CONTROL,
        ))
    };
    assert!(app.update(ctrl_s()).is_empty());
    // Typed by the person: it no longer follows the inputs, and bad characters are said.
    let fields = match &app.screen {
        Screen::Form(f) => f.fields.len(),
        _ => unreachable!(),
    };
    while match &app.screen {
        Screen::Form(f) => f.focus + 1 < fields,
        _ => false,
    } {
        app.update(key(KeyCode::Down));
    }
    for _ in 0.."example-prod".len() {
        app.update(key(KeyCode::Backspace));
    }
    type_text(&mut app, "my run");
    assert!(name(&app).1.unwrap().contains("letters, digits"));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    type_text(&mut app, "-hub");
    assert_eq!(name(&app), ("my-hub".into(), None));
    let fx = app.update(ctrl_s());
    let [Effect::Start { name, inputs, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(name.as_deref(), Some("my-hub"));
    assert!(
        inputs
            .iter()
            .all(|(k, _)| k != stepwise::tui::form::RUN_NAME)
    );
}

#[test]
fn a_changed_steps_dialog_shows_what_changed() {
    let mut app = run_app(false);
    app.update(Msg::Report(Report::Idle {
        outcome: None,
        state: Box::new(fresh_state(&example(), "example-demo")),
        pending: vec![(
            0,
            Need::Changed {
                diff: Some(
                    "--- as it ran\n+++ as it is now\n-run: echo one\n+run: echo two\n".into(),
                ),
            },
        )],
    }));
    app.update(key(KeyCode::Enter));
    let s = screen(&app, 120, 40);
    assert!(s.contains("What changed:"), "{s}");
    assert!(
        s.contains("-run: echo one") && s.contains("+run: echo two"),
        "{s}"
    );
}
