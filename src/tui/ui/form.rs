//! The inputs form.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use super::{field_spans, keys_line};
use crate::tui::form::{Form, Purpose};

/// Draws the inputs form.
pub fn draw(f: &mut Frame, area: Rect, form: &Form, theme: &Theme) {
    let [body, footer] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let rb = form.plan.root();
    let title = match &form.purpose {
        Purpose::Start { .. } if form.dry() => format!(" Dry run: {} ", rb.doc.title),
        Purpose::Start { .. } => format!(" Start: {} ", rb.doc.title),
        Purpose::Resume { run } => format!(" Resume {run}: secret inputs are asked again "),
    };
    let mut lines: Vec<Line> = Vec::new();
    if let Some(d) = &rb.doc.description {
        lines.extend(super::markdown::render(d, theme));
        lines.push(Line::default());
    }
    // Keep the focused field on screen: fields above it are left out when space is short.
    let mut field_lines: Vec<(usize, Vec<Line>)> = Vec::new();
    for (n, field) in form.fields.iter().enumerate() {
        field_lines.push((n, field_lines_of(form, n, field, theme)));
    }
    let inner_h = body.height.saturating_sub(2) as usize;
    let tail = 3 + usize::from(form.error.is_some());
    let mut start = 0;
    loop {
        let used: usize = lines.len()
            + field_lines[start..]
                .iter()
                .take_while(|(n, _)| *n <= form.focus)
                .map(|(_, l)| l.len() + 1)
                .sum::<usize>()
            + tail;
        if used <= inner_h || start >= form.focus.min(field_lines.len().saturating_sub(1)) {
            break;
        }
        start += 1;
    }
    if start > 0 {
        lines.clear();
    }
    for (_, fl) in &field_lines[start..] {
        lines.extend(fl.iter().cloned());
        lines.push(Line::default());
    }
    let on_button = form.focus >= form.fields.len();
    let button = match &form.purpose {
        Purpose::Start { .. } if form.dry() => "[ Preview ]",
        Purpose::Start { .. } => "[ Start run ]",
        Purpose::Resume { .. } => "[ Resume ]",
    };
    lines.push(Line::styled(
        button,
        if on_button {
            theme.selected()
        } else {
            theme.key().add_modifier(Modifier::BOLD)
        },
    ));
    if let Some(e) = &form.error {
        lines.push(Line::default());
        for l in e.lines() {
            lines.push(Line::styled(l.to_string(), theme.error()));
        }
    }
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .block(
                Block::bordered()
                    .title(title)
                    .border_style(theme.key())
                    .padding(ratatui::widgets::Padding::horizontal(1)),
            )
            .wrap(Wrap { trim: false }),
        body,
    );
    f.render_widget(
        Paragraph::new(keys_line(
            &[
                ("↑↓", "move"),
                ("type", "edit"),
                ("←→", "choices"),
                ("⏎", "next/start"),
                ("^S", "start"),
                ("Esc", "back"),
            ],
            theme,
        ))
        .style(Style::new()),
        footer,
    );
}

/// One field of the form: its name and value, what it takes, and what is wrong with it.
fn field_lines_of<'a>(
    form: &'a Form,
    n: usize,
    field: &'a crate::tui::form::Field,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let focus = form.focus == n;
    let mut fl = Vec::new();
    let label = if focus { theme.selected() } else { theme.key() };
    let mut spans = vec![
        Span::styled(format!("{:<14}", field.name), label),
        Span::raw(" "),
    ];
    if field.input.value().is_empty() {
        let placeholder = match &field.spec.default {
            Some(d) => format!("{} (default)", d.value),
            None if form.dry() => format!("<inputs.{}>", field.name),
            None => String::new(),
        };
        if focus {
            spans.push(Span::styled(" ", theme.selected()));
        }
        spans.push(Span::styled(placeholder, theme.dim()));
    } else {
        spans.extend(field_spans(
            field.input.value(),
            field.input.cursor(),
            focus,
            field.spec.secret,
            theme,
        ));
    }
    fl.push(Line::from(spans));
    let mut about = Vec::new();
    if let Some(d) = &field.spec.description {
        about.push(d.lines().next().unwrap_or_default().to_string());
    }
    if let Some(d) = &field.spec.default {
        about.push(format!("default: {}", d.value));
    }
    if let Some(p) = &field.spec.pattern {
        about.push(format!("pattern: {}", p.value));
    }
    if !field.spec.choices.is_empty() {
        about.push(format!("one of: {} (← →)", field.spec.choices.join(", ")));
    }
    if field.spec.secret {
        about.push("secret: never written to disk".into());
    }
    for a in about {
        fl.push(Line::styled(format!("{:14} {a}", ""), theme.dim()));
    }
    if let Some(e) = &field.error {
        fl.push(Line::styled(format!("{:14} ✗ {e}", ""), theme.error()));
    }
    fl
}
