//! Whole screens of the terminal UI, drawn on ratatui's TestBackend and compared with insta.

#![allow(clippy::unwrap_used)]

#[path = "support/tui.rs"]
mod tui;

use crossterm::event::KeyCode;
use jiff::Timestamp;
use stepwise::engine::{Event, Need, Preview, Report, RunOutcome};
use stepwise::plain::RunSummary;
use stepwise::state::{Held, LastCheck, RunbookRef};
use stepwise::tui::home::{Home, Lists, RunbookEntry};
use stepwise::tui::ui::theme::Theme;
use stepwise::tui::{App, Msg, Screen};
use tui::*;

const W: u16 = 100;
const H: u16 = 30;

/// Times that depend on the machine (a running step's clock) are hidden.
fn check(name: &str, text: String) {
    insta::with_settings!({filters => vec![(r"\b\d+(\.\d+)?(ms|s)\b", "[t]")]}, {
        insta::assert_snapshot!(name, text);
    });
}

fn preview(body: &str) -> Preview {
    Preview {
        skip: None,
        body: body.into(),
        danger: None,
        problem: None,
    }
}

#[test]
fn home_lists_runbooks_and_runs() {
    let now: Timestamp = "2026-03-03T12:00:00Z".parse().unwrap();
    let summary = |name: &str, done, status, step: Option<&str>, ago_h: i64| RunSummary {
        name: name.into(),
        runbook: RunbookRef {
            path: "/work/runbooks/example.yaml".into(),
            id: "example".into(),
            title: "Example deployment folder".into(),
            hash: "h".into(),
        },
        done,
        total: 10,
        status,
        current_step: step.map(String::from),
        created_at: now,
        updated_at: Timestamp::from_second(now.as_second() - ago_h * 3600).unwrap(),
        last_check: None,
    };
    let lists = Lists {
        runbooks: vec![
            RunbookEntry {
                path: "runbooks/example.yaml".into(),
                title: Ok("Example deployment folder (no cloud account needed)".into()),
                id: "example".into(),
                steps: 10,
            },
            RunbookEntry {
                path: "runbooks/example-greeting.yaml".into(),
                title: Ok("Write a greeting".into()),
                id: "example-greeting".into(),
                steps: 2,
            },
            RunbookEntry {
                path: "runbooks/broken.yaml".into(),
                title: Err("3 problems".into()),
                id: String::new(),
                steps: 0,
            },
        ],
        runs: vec![
            summary("example-demo", 5, "waiting", Some("review"), 2),
            RunSummary {
                last_check: Some(LastCheck {
                    at: Timestamp::from_second(now.as_second() - 5 * 3600).unwrap(),
                    result: Held::Drifted,
                    drifted: vec!["config".into()],
                    unknown: Vec::new(),
                    expiring: Vec::new(),
                }),
                ..summary("example-staging", 10, "completed", None, 30)
            },
            summary("example-prod", 3, "failed", Some("wait-ready"), 75),
        ],
        problems: Vec::new(),
        now,
    };
    let app = App::new(Screen::Home(Home::new(lists)), true, Theme { color: false });
    check("home", screen(&app, W, H));
}

#[test]
fn inputs_form_shows_the_run_name_it_will_make() {
    let mut app = form_app();
    type_text(&mut app, "staging");
    check("inputs_form_run_name", screen(&app, W, H));
}

#[test]
fn inputs_form_shows_an_error_as_you_type() {
    let mut app = form_app();
    type_text(&mut app, "Demo!");
    check("inputs_form_error", screen(&app, W, H));
}

#[test]
fn run_view_in_progress() {
    let mut app = run_app(false);
    ran(
        &mut app,
        0,
        15,
        &["created work/demo"],
        &[("folder", "work/demo")],
    );
    ran(&mut app, 1, 12, &[], &[("path", "work/demo/settings.yaml")]);
    ran(&mut app, 2, 17, &[], &[("path", "work/demo/settings.yaml")]);
    ran(&mut app, 3, 19, &["service starting"], &[]);
    app.update(Msg::Engine(Event::StepStarted {
        index: 4,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    for n in 1..=3 {
        app.update(Msg::Engine(Event::Output {
            index: 4,
            stream: stepwise::engine::Stream::Info,
            line: format!(
                "check not passing yet (try {n}, {}s elapsed); next try in 1s",
                n - 1
            ),
        }));
    }
    app.update(Msg::Report(Report::Described {
        index: 4,
        preview: preview("test -f \"work/demo/ready\""),
    }));
    check("run_view_in_progress", screen(&app, W, H));
}

#[test]
fn dry_run_view() {
    let mut app = run_app(true);
    app.update(key(KeyCode::Enter));
    app.update(Msg::Engine(Event::Preview {
        index: 0,
        preview: preview(
            "mkdir -p \"work/<inputs.deployment>\"\necho \"folder=work/<inputs.deployment>\" >> \"$STEPWISE_OUTPUT\"",
        ),
    }));
    for i in 1..10 {
        app.update(Msg::Engine(Event::Preview {
            index: i,
            preview: preview("..."),
        }));
    }
    idle(&mut app, Some(RunOutcome::Completed));
    check("dry_run_view", screen(&app, W, H));
}

#[test]
fn manual_step_dialog() {
    let mut app = run_app(false);
    for i in 0..5 {
        ran(&mut app, i, 10, &[], &[]);
    }
    let step = tui::example();
    let prompts = step
        .step(5)
        .prompts
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    app.update(Msg::Engine(Event::Waiting {
        index: 5,
        need: Need::Manual {
            instructions: "Open `work/demo/settings.yaml` and check that the owner and\nthe replica count are right.\n".into(),
            checklist: vec!["owner is right".into(), "replicas is 2".into()],
            prompts,
            missing: vec!["reviewer".into()],
            problems: Vec::new(),
        },
    }));
    app.update(ch(' '));
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    type_text(&mut app, "Ada");
    check("manual_step", screen(&app, W, H));
}

#[test]
fn danger_dialog() {
    let mut app = run_app(false);
    for i in 0..9 {
        ran(&mut app, i, 10, &[], &[]);
    }
    app.update(Msg::Engine(Event::Waiting {
        index: 9,
        need: Need::Danger {
            text: "demo".into(),
            preview: "mkdir -p work/published\ncp \"work/demo/settings.yaml\" \"work/published/demo.yaml\"\necho \"published work/published/demo.yaml\"".into(),
            mismatched: false,
        },
    }));
    type_text(&mut app, "de");
    check("danger_modal", screen(&app, W, H));
}

#[test]
fn interrupted_step_dialog() {
    let mut app = run_app(false);
    for i in 0..3 {
        ran(&mut app, i, 10, &[], &[]);
    }
    app.update(Msg::Engine(Event::Waiting {
        index: 3,
        need: Need::Interrupted {
            last_output: vec!["service starting".into(), "pulling image 3/7".into()],
        },
    }));
    check("interrupted_modal", screen(&app, W, H));
}

#[test]
fn help_overlay() {
    let mut app = run_app(false);
    app.update(ch('?'));
    check("help", screen(&app, W, H));
}

#[test]
fn the_run_view_fits_80_by_24() {
    let mut app = run_app(false);
    ran(
        &mut app,
        0,
        15,
        &["created work/demo"],
        &[("folder", "work/demo")],
    );
    check("run_view_80x24", screen(&app, 80, 24));
}

/// Writes the README's picture of the run view (`assets/tui-run-view.svg`) when
/// `STEPWISE_WRITE_ASSETS` is set: `STEPWISE_WRITE_ASSETS=1 cargo test --test tui_snapshots`.
#[test]
fn readme_picture() {
    if std::env::var_os("STEPWISE_WRITE_ASSETS").is_none() {
        return;
    }
    let mut app = run_app(false);
    app.theme = Theme { color: true };
    ran(
        &mut app,
        0,
        15,
        &["created work/demo"],
        &[("folder", "work/demo")],
    );
    ran(&mut app, 1, 12, &[], &[("path", "work/demo/settings.yaml")]);
    ran(&mut app, 2, 17, &[], &[("path", "work/demo/settings.yaml")]);
    ran(&mut app, 3, 19, &["service starting"], &[]);
    app.update(Msg::Engine(Event::StepStarted {
        index: 4,
        attempt: 1,
        at: std::time::Instant::now(),
    }));
    for n in 1..=2 {
        app.update(Msg::Engine(Event::Output {
            index: 4,
            stream: stepwise::engine::Stream::Info,
            line: format!(
                "check not passing yet (try {n}, {}s elapsed); next try in 1s",
                n - 1
            ),
        }));
    }
    app.update(Msg::Report(Report::Described {
        index: 4,
        preview: preview("test -f \"work/demo/ready\""),
    }));
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(W, H)).unwrap();
    t.draw(|f| stepwise::tui::ui::draw(f, &app)).unwrap();
    let svg = svg(t.backend().buffer());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tui-run-view.svg");
    std::fs::write(path, svg).unwrap();
}

/// A terminal buffer as an SVG picture: one rectangle per background run, one text per run of
/// equal style, each stretched to its cells so that columns line up in any monospace font.
fn svg(buf: &ratatui::buffer::Buffer) -> String {
    use ratatui::style::{Color, Modifier};
    let (cw, ch) = (8.4_f64, 17.0_f64);
    let hex = |c: Color, default: &str| -> String {
        match c {
            Color::Reset => default.into(),
            Color::Black => "#1e1e1e".into(),
            Color::Red => "#e06c75".into(),
            Color::Green => "#98c379".into(),
            Color::Yellow => "#e5c07b".into(),
            Color::Blue => "#61afef".into(),
            Color::Magenta => "#c678dd".into(),
            Color::Cyan => "#56b6c2".into(),
            Color::Gray => "#abb2bf".into(),
            Color::DarkGray => "#7f848e".into(),
            Color::LightRed => "#f08080".into(),
            Color::LightYellow => "#f0d890".into(),
            Color::White => "#ffffff".into(),
            Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
            _ => default.into(),
        }
    };
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"#282c34\"/>\n",
        (w as f64 * cw) as u32,
        (h as f64 * ch) as u32
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let cell = &buf[(x, y)];
            let style = cell.style();
            let mut fg = style.fg.unwrap_or(Color::Reset);
            let mut bg = style.bg.unwrap_or(Color::Reset);
            let reversed = cell.modifier.contains(Modifier::REVERSED);
            if reversed {
                std::mem::swap(&mut fg, &mut bg);
            }
            let mut end = x + 1;
            while end < w {
                let c = &buf[(end, y)];
                if c.fg != cell.fg || c.bg != cell.bg || c.modifier != cell.modifier {
                    break;
                }
                end += 1;
            }
            let text: String = (x..end).map(|i| buf[(i, y)].symbol().to_string()).collect();
            let n = (end - x) as f64;
            let bg_hex = hex(bg, if reversed { "#abb2bf" } else { "none" });
            if bg_hex != "none" {
                out.push_str(&format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ch}\" fill=\"{bg_hex}\"/>\n",
                    x as f64 * cw,
                    y as f64 * ch,
                    n * cw
                ));
            }
            if !text.trim().is_empty() {
                let esc = text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                let weight = if cell.modifier.contains(Modifier::BOLD) {
                    " font-weight=\"bold\""
                } else {
                    ""
                };
                out.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" textLength=\"{:.1}\" lengthAdjust=\"spacingAndGlyphs\" xml:space=\"preserve\" fill=\"{}\"{weight}>{esc}</text>\n",
                    x as f64 * cw,
                    y as f64 * ch + 13.0,
                    n * cw,
                    hex(fg, if reversed { "#282c34" } else { "#d7dae0" })
                ));
            }
            x = end;
        }
    }
    out.push_str("</svg>\n");
    out
}

#[test]
fn a_done_step_is_rechecked_with_c_and_the_detail_pane_says_what_changed() {
    use stepwise::engine::{Command, StepCheck};
    use stepwise::tui::Effect;
    let mut app = run_app(false);
    ran(&mut app, 0, 15, &[], &[("folder", "work/demo")]);
    ran(&mut app, 1, 12, &[], &[("path", "work/demo/settings.yaml")]);
    idle(&mut app, None);
    // A step not done yet has nothing to re-check.
    view(&mut app).selected = 4;
    let fx = app.update(ch('C'));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(
        view(&mut app)
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not done")),
        "{:?}",
        view(&mut app).error
    );
    view(&mut app).selected = 1;
    let fx = app.update(ch('C'));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Engine(Command::Recheck(1)))),
        "{fx:?}"
    );
    assert!(screen(&app, W, H).contains("re-checking..."));
    let found = StepCheck {
        key: "config".into(),
        title: "Write the settings".into(),
        kind: "file",
        status: Held::Drifted,
        // A hostile line from outside: its escape code is not drawn.
        text: "work/demo/settings.yaml changed since the step wrote it \u{1b}[2J".into(),
        current: None,
        wanted: None,
        diff: Some("--- a/work/demo/settings.yaml\n+++ b/work/demo/settings.yaml\n-replicas: 5\n+replicas: 1\n".into()),
        days_left: None,
    };
    app.update(Msg::Report(Report::Rechecked {
        index: 1,
        check: Box::new(found),
    }));
    let text = screen(&app, W, H);
    assert!(!text.contains('\u{1b}'));
    check("run_view_rechecked", text);
}
