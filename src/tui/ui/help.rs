//! The help overlay: every key, by screen. The README's key table says the same.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::centered;
use crate::tui::app::{App, Screen};

/// Every key, by where it applies.
pub const KEYS: &[(&str, &[(&str, &str)])] = &[
    (
        "Run view",
        &[
            ("↑ ↓  j k", "move (in the focused pane)"),
            ("PgUp PgDn  g G", "page, first, last"),
            ("Tab  Shift-Tab", "focus steps, output, detail"),
            ("Enter", "run the next step; answer the step that waits"),
            ("a", "run on until a step needs a person or fails"),
            ("s", "skip the selected step (asks why)"),
            ("m", "mark the selected step done"),
            ("r", "re-run the selected step"),
            ("c", "copy what the step runs (OSC 52)"),
            ("C", "re-check the selected done step (read-only)"),
            ("L", "the run's journal"),
            ("/  n  N", "search the output; next, previous match"),
            ("f", "follow the running step and its output"),
            ("Esc", "clear the search, close a dialog"),
            ("q  Ctrl-C", "quit (asks first while a step runs)"),
        ],
    ),
    (
        "Dialogs",
        &[
            ("Tab ↑ ↓", "move between items, answers and Done"),
            ("Space", "tick a checklist item"),
            ("Enter", "confirm (on Done, or the typed text)"),
            ("r  m  s", "interrupted step: re-run, mark done, skip"),
        ],
    ),
    (
        "Home",
        &[
            ("Tab", "runbooks or runs"),
            ("Enter", "start the runbook, resume the run"),
            ("d", "dry-run the runbook"),
            ("x  Delete", "delete the run (asks first)"),
            ("/", "filter"),
            ("r", "read the lists again"),
        ],
    ),
    (
        "Inputs form",
        &[
            ("↑ ↓  Tab", "move between inputs"),
            ("← →", "cycle an input's choices"),
            ("Enter  Ctrl-S", "next input; start"),
            ("Esc", "back"),
        ],
    ),
];

/// Draws the help overlay: the keys of the screen shown.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let sections: &[&str] = match app.screen {
        Screen::Run(_) => &["Run view", "Dialogs"],
        Screen::Home(_) | Screen::Loading(_) => &["Home"],
        Screen::Form(_) => &["Inputs form"],
    };
    let mut lines = Vec::new();
    for (section, keys) in KEYS.iter().filter(|(s, _)| sections.contains(s)) {
        lines.push(Line::styled(section.to_string(), theme.heading()));
        for (k, what) in *keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<16}"), theme.key()),
                Span::raw(what.to_string()),
            ]));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, 66, h);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" Keys ")
                .title_bottom(" any key closes ")
                .border_style(theme.key()),
        ),
        rect,
    );
}
