//! The home screen: runbooks to start, runs to resume.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::keys_line;
use crate::plain;
use crate::state::Held;
use crate::tui::app::App;
use crate::tui::home::{Home, HomeList};

/// Draws the home screen.
pub fn draw(f: &mut Frame, area: Rect, h: &Home, app: &App) {
    let theme = &app.theme;
    let asking = h.deleting.as_ref().map(|run| {
        let what = h
            .lists
            .runs
            .iter()
            .find(|r| &r.name == run)
            .map(|r| format!(" ({}, {}/{} done)", r.status, r.done, r.total))
            .unwrap_or_default();
        format!("Delete run {run}{what}? Its state, journal and logs go. y deletes it.")
    });
    let asking = asking.or_else(|| {
        h.moving
            .as_ref()
            .map(|(_, what)| format!("{what}. Go on here? y goes on."))
    });
    let message = asking.is_some() || h.message.is_some() || !h.lists.problems.is_empty();
    let [top, books, runs, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(40),
        Constraint::Min(4),
        Constraint::Length(u16::from(message)),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut head = vec![
        Span::styled(" stepwise ", theme.title()),
        Span::styled("runbooks and runs", theme.dim()),
    ];
    if h.filtering || !h.filter.value().is_empty() {
        head.push(Span::raw("   filter: "));
        head.extend(super::field_spans(
            h.filter.value(),
            h.filter.cursor(),
            h.filtering,
            false,
            theme,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(head)), top);

    draw_runbooks(f, books, h, app);
    draw_runs(f, runs, h, app);
    if message {
        let text = asking
            .or_else(|| h.message.clone())
            .unwrap_or_else(|| h.lists.problems.join("; "));
        f.render_widget(
            Paragraph::new(Line::styled(
                format!(" {}", text.lines().next().unwrap_or_default()),
                theme.warn(),
            )),
            status,
        );
    }
    let keys = if h.filtering {
        keys_line(
            &[("type", "to filter"), ("⏎", "keep"), ("Esc", "clear")],
            theme,
        )
    } else if h.deleting.is_some() {
        keys_line(&[("y", "delete it"), ("any other key", "keep it")], theme)
    } else if h.moving.is_some() {
        keys_line(&[("y", "go on here"), ("any other key", "leave it")], theme)
    } else {
        let (enter, other) = match h.focus {
            HomeList::Runbooks => (("⏎", "start"), ("d", "dry run")),
            HomeList::Runs => (("⏎", "resume"), ("x", "delete")),
        };
        keys_line(
            &[
                enter,
                other,
                ("tab", "runbooks/runs"),
                ("/", "filter"),
                ("r", "refresh"),
                ("?", "help"),
                ("q", "quit"),
            ],
            theme,
        )
    };
    f.render_widget(Paragraph::new(super::fit(keys, footer.width)), footer);
}

/// The runbooks pane.
fn draw_runbooks(f: &mut Frame, books: Rect, h: &Home, app: &App) {
    let theme = &app.theme;
    let shown = h.runbooks();
    let block = Block::bordered()
        .title(format!(" Runbooks ({}) ", shown.len()))
        .border_style(theme.border(h.focus == HomeList::Runbooks));
    let inner = block.inner(books);
    f.render_widget(block, books);
    let rows = inner.height as usize;
    let sel = h.selected[0];
    let first = sel.saturating_sub(rows.saturating_sub(1));
    if shown.is_empty() {
        f.buffer_mut().set_string(
            inner.x,
            inner.y,
            "no runbooks in ./runbooks; give paths: stepwise PATH...",
            theme.dim(),
        );
    }
    for (row, &i) in shown.iter().enumerate().skip(first).take(rows) {
        let r = &h.lists.runbooks[i];
        let selected = row == sel && h.focus == HomeList::Runbooks;
        let base = if selected {
            theme.selected()
        } else {
            Style::new()
        };
        let line = match &r.title {
            Ok(title) => Line::from(vec![
                Span::styled(format!(" {title}"), base.add_modifier(Modifier::BOLD)),
                Span::styled(
                    format!("  {} · {} steps", r.path.display(), r.steps),
                    theme.dim_in(base, selected),
                ),
            ]),
            Err(e) => Line::from(vec![
                Span::styled(format!(" {}", r.path.display()), base),
                Span::styled(format!("  cannot be read: {e}"), theme.error().patch(base)),
            ]),
        };
        let y = inner.y + (row - first) as u16;
        let buf = f.buffer_mut();
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), base);
        }
        buf.set_line(inner.x, y, &line, inner.width);
    }
}

/// The runs pane, each run with its progress.
fn draw_runs(f: &mut Frame, runs: Rect, h: &Home, app: &App) {
    let theme = &app.theme;
    let shown = h.runs();
    let block = Block::bordered()
        .title(format!(" Runs ({}) ", shown.len()))
        .border_style(theme.border(h.focus == HomeList::Runs));
    let inner = block.inner(runs);
    f.render_widget(block, runs);
    if shown.is_empty() {
        f.buffer_mut()
            .set_string(inner.x, inner.y, "no runs yet", theme.dim());
    }
    let rows = inner.height as usize;
    let sel = h.selected[1];
    let first = sel.saturating_sub(rows.saturating_sub(1));
    let now = h.lists.now;
    let name_w = shown
        .iter()
        .map(|&i| h.lists.runs[i].name.chars().count())
        .max()
        .unwrap_or(4)
        .min(32);
    for (row, &i) in shown.iter().enumerate().skip(first).take(rows) {
        let s = &h.lists.runs[i];
        let selected = row == sel && h.focus == HomeList::Runs;
        let base = if selected {
            theme.selected()
        } else {
            Style::new()
        };
        let w = 12;
        let filled = (w * s.done).checked_div(s.total).unwrap_or(w);
        let status_style = match s.status {
            "completed" => theme.ok(),
            "failed" => theme.error(),
            "waiting" | "interrupted" => theme.warn(),
            _ => Style::new(),
        };
        let line = Line::from(vec![
            Span::styled(
                format!(" {:name_w$} ", s.name),
                base.add_modifier(Modifier::BOLD),
            ),
            Span::styled("█".repeat(filled), theme.ok().patch(base)),
            Span::styled("░".repeat(w - filled), theme.dim_in(base, selected)),
            Span::styled(format!(" {}", plain::progress(s)), status_style.patch(base)),
            Span::styled(
                format!("  {} · {}", s.runbook.id, plain::ago(s.updated_at, now)),
                theme.dim_in(base, selected),
            ),
            checked_span(s, now, theme, base, selected),
        ]);
        let y = inner.y + (row - first) as u16;
        let buf = f.buffer_mut();
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), base);
        }
        buf.set_line(inner.x, y, &line, inner.width);
    }
}

/// When the run was last re-checked (`stepwise check`), and what it found.
fn checked_span(
    s: &plain::RunSummary,
    now: jiff::Timestamp,
    theme: &super::theme::Theme,
    base: Style,
    selected: bool,
) -> Span<'static> {
    let Some(c) = &s.last_check else {
        return Span::raw("");
    };
    let style = match c.result {
        Held::Holds | Held::Unchecked => theme.ok(),
        Held::Expiring | Held::Unknown => theme.warn(),
        Held::Drifted => theme.error(),
    };
    let age = now.as_second().saturating_sub(c.at.as_second()).max(0);
    let age = match age {
        0..=3599 => format!("{}m", age / 60),
        3600..=86_399 => format!("{}h", age / 3600),
        _ => format!("{}d", age / 86_400),
    };
    let style = if selected { base } else { style.patch(base) };
    Span::styled(format!(" · check {} {age} ago", c.result.as_str()), style)
}
