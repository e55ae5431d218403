//! The dialogs over the run view: a manual step, a danger confirmation, an interrupted or
//! changed step, a skip reason, quitting while a step runs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::theme::Theme;
use super::{centered, field_spans, keys_line, markdown};
use crate::engine::Need;
use crate::tui::run_view::{Modal, RunView};

/// Draws the open dialog.
pub fn draw(f: &mut Frame, area: Rect, v: &RunView, theme: &Theme) {
    let Some(m) = &v.modal else {
        return;
    };
    let title = super::run::modal_title(v, m);
    let mut border = theme.key();
    let (lines, keys): (Vec<Line>, Vec<(&str, &str)>) = match m {
        Modal::Manual(form) => manual(form, theme),
        Modal::Danger(form) => {
            border = theme.error();
            danger(form, theme)
        }
        Modal::Decide { need, .. } => decide(need, theme),
        Modal::Skip { reason, .. } => {
            let mut field = vec![Span::raw("Why skip it? ")];
            field.extend(field_spans(
                reason.value(),
                reason.cursor(),
                true,
                false,
                theme,
            ));
            (
                vec![Line::from(field), Line::default()],
                vec![("⏎", "skip"), ("Esc", "cancel")],
            )
        }
        Modal::Journal { lines, top } => (
            lines
                .iter()
                .skip(*top)
                .map(|l| Line::raw(l.as_str()))
                .collect(),
            vec![("↑ ↓ PgUp PgDn g G", "scroll"), ("Esc", "close")],
        ),
        Modal::ConfirmQuit => {
            border = theme.warn();
            (
                vec![
                    Line::raw("A step is running. Stop it (its processes are ended) and quit?"),
                    Line::raw("It is recorded as interrupted; `stepwise resume` asks what to do."),
                    Line::default(),
                ],
                vec![("y", "stop and quit"), ("any other key", "keep running")],
            )
        }
    };
    let width = match m {
        Modal::Journal { .. } => area.width.saturating_sub(4).min(140),
        _ => area.width.saturating_sub(4).min(86),
    };
    let text_w = width.saturating_sub(4).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(text_w))
        .sum::<usize>()
        + 3;
    let height = (rows as u16).min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    let block = Block::bordered()
        .title(title)
        .title_bottom(keys_line(&keys, theme))
        .border_style(border);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .block(block.padding(ratatui::widgets::Padding::horizontal(1)))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// Keys a dialog offers, as (key, what it does).
type Keys = Vec<(&'static str, &'static str)>;

/// A manual step: its instructions, checklist, prompts and the Done button.
fn manual<'a>(form: &'a crate::tui::run_view::ManualForm, theme: &Theme) -> (Vec<Line<'a>>, Keys) {
    let mut lines = markdown::render(&form.instructions, theme);
    if !form.checklist.is_empty() {
        lines.push(Line::default());
    }
    for (n, (item, ticked)) in form.checklist.iter().enumerate() {
        let focus = form.focus == n;
        let style = if focus {
            theme.selected()
        } else {
            Style::new()
        };
        let mark = if *ticked { "[x]" } else { "[ ]" };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), theme.ok().patch(style)),
            Span::styled(item.clone(), style),
        ]));
    }
    if !form.prompts.is_empty() {
        lines.push(Line::default());
    }
    for (n, p) in form.prompts.iter().enumerate() {
        let focus = form.prompt_focus() == Some(n);
        let mut hint = Vec::new();
        if let Some(pat) = &p.prompt.pattern {
            hint.push(format!("pattern {}", pat.value));
        }
        if !p.prompt.choices.is_empty() {
            hint.push(format!("one of {}", p.prompt.choices.join(", ")));
        }
        let label_style = if focus { theme.selected() } else { theme.key() };
        let mut spans = vec![
            Span::styled(p.prompt.prompt.clone(), label_style),
            Span::styled(format!(" ({})", p.name), theme.dim()),
            Span::raw(": "),
        ];
        spans.extend(field_spans(
            p.input.value(),
            p.input.cursor(),
            focus,
            p.prompt.secret,
            theme,
        ));
        lines.push(Line::from(spans));
        match &p.error {
            Some(e) if !p.input.value().is_empty() || !form.problems.is_empty() => {
                lines.push(Line::styled(format!("  ✗ {e}"), theme.error()))
            }
            None if !p.input.value().is_empty() => lines.push(Line::styled("  ✓", theme.ok())),
            _ if !hint.is_empty() => {
                lines.push(Line::styled(format!("  {}", hint.join("; ")), theme.dim()))
            }
            _ => {}
        }
    }
    lines.push(Line::default());
    let on_done = form.focus == form.checklist.len() + form.prompts.len();
    lines.push(Line::styled(
        "[ Done ]",
        if on_done {
            theme.selected()
        } else {
            theme.key()
        },
    ));
    for p in &form.problems {
        lines.push(Line::styled(p.clone(), theme.error()));
    }
    (
        lines,
        vec![
            ("↑↓", "move"),
            ("space", "tick"),
            ("type", "answer"),
            ("⏎ on Done", "confirm"),
            ("Esc", "later"),
        ],
    )
}

/// A danger confirmation: what the step will do, and the field to type the text in.
fn danger<'a>(form: &'a crate::tui::run_view::DangerForm, theme: &Theme) -> (Vec<Line<'a>>, Keys) {
    let mut lines = vec![
        Line::styled(
            "This step changes things. It will do:",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Line::default(),
    ];
    for l in form.preview.lines().skip(form.scroll as usize) {
        lines.push(Line::styled(format!("  {l}"), theme.code()));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::raw("To go ahead, type "),
        Span::styled(form.text.clone(), theme.key()),
        Span::raw(" (anything else cancels):"),
    ]));
    let mut field = vec![Span::raw("> ")];
    field.extend(field_spans(
        form.input.value(),
        form.input.cursor(),
        true,
        false,
        theme,
    ));
    lines.push(Line::from(field));
    (
        lines,
        vec![("⏎", "confirm"), ("↑↓", "scroll"), ("Esc", "cancel")],
    )
}

/// An interrupted, changed or still running step: what happened, and what can be done.
fn decide<'a>(need: &'a Need, theme: &Theme) -> (Vec<Line<'a>>, Keys) {
    let mut lines = Vec::new();
    match need {
        Need::Interrupted { last_output } => {
            lines.push(Line::raw(
                "This step was stopped while it ran. It may have half-happened, so it is never run again without you deciding.",
            ));
            lines.push(Line::default());
            if last_output.is_empty() {
                lines.push(Line::styled("(it printed nothing)", theme.dim()));
            } else {
                lines.push(Line::styled("Its last output:", theme.heading()));
                for l in last_output {
                    lines.push(Line::styled(format!("  {l}"), theme.code()));
                }
            }
        }
        Need::StillRunning { pgid, last_output } => {
            lines.push(Line::raw(format!(
                "The stepwise driving this step stopped, but its processes (process group {pgid}) still run. It is not started again beside them, nor marked done or skipped while they run.",
            )));
            lines.push(Line::default());
            lines.push(Line::raw(
                "Quit, then wait for them with `stepwise resume RUN --wait-orphan`, or stop them with `--stop-orphan`.",
            ));
            lines.push(Line::default());
            lines.push(Line::styled("Its last output:", theme.heading()));
            for l in last_output {
                lines.push(Line::styled(format!("  {l}"), theme.code()));
            }
        }
        Need::Changed { diff } => {
            lines.push(Line::raw(
                "This step is done, but its definition changed since it ran (the runbook was edited). Keep its result, or run it again.",
            ));
            lines.push(Line::default());
            match diff {
                Some(diff) => {
                    lines.push(Line::styled("What changed:", theme.heading()));
                    for l in diff.lines() {
                        lines.push(Line::styled(format!("  {l}"), theme.diff_line(l)));
                    }
                }
                None => lines.push(Line::styled(
                    "(its definition as it ran was not kept: no diff to show)",
                    theme.dim(),
                )),
            }
        }
        _ => {}
    }
    lines.push(Line::default());
    let keys = if matches!(need, Need::StillRunning { .. }) {
        vec![("Esc", "close")]
    } else {
        vec![
            ("r", "re-run"),
            ("m", "mark done"),
            ("s", "skip"),
            ("Esc", "decide later"),
        ]
    };
    (lines, keys)
}
