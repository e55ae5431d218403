//! The run view: header, step list with progress, the selected step's detail, its output,
//! and the keys that apply now.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use super::{fit, keys_line, markdown, short_duration};
use crate::engine::{Need, RunOutcome, StepCheck, Stream};
use crate::runbook::StepKind;
use crate::state::{Held, Status};
use crate::tui::app::App;
use crate::tui::run_view::{Busy, Modal, Pane, RunView};

/// Draws the run view.
pub fn draw(f: &mut Frame, area: Rect, v: &RunView, app: &App) {
    let theme = &app.theme;
    let message = v.error.is_some();
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(6),
        Constraint::Length(u16::from(message)),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, v, theme);
    let left = (area.width * 38 / 100).clamp(28.min(area.width), 60);
    let [steps, right] =
        Layout::horizontal([Constraint::Length(left), Constraint::Min(20)]).areas(body);
    let [detail, output] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(right);
    draw_steps(f, steps, v, app);
    draw_detail(f, detail, v, theme);
    draw_output(f, output, v, theme);
    if let Some(e) = &v.error {
        f.render_widget(
            Paragraph::new(Line::styled(format!(" {e}"), theme.warn())),
            status,
        );
    }
    f.render_widget(
        Paragraph::new(fit(footer_keys(v, theme), footer.width)),
        footer,
    );
    if v.modal.is_some() {
        super::modal::draw(f, area, v, theme);
    }
}

fn draw_header(f: &mut Frame, area: Rect, v: &RunView, theme: &Theme) {
    let rb = v.plan.root();
    let state = run_state(v);
    let file = rb
        .path()
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let room = (area.width as usize).saturating_sub(state.chars().count() + 2);
    let label = if v.dry {
        format!(" dry run of {file}")
    } else {
        format!(" run {}", v.name)
    };
    // When space is short, the title gives way first.
    let title_room = room.saturating_sub(label.chars().count() + 2);
    let mut title: String = rb.doc.title.chars().take(title_room).collect();
    if title.chars().count() < rb.doc.title.chars().count() {
        title.pop();
        title.push('…');
    }
    let mut top = vec![
        Span::styled(format!(" {title} "), theme.title()),
        Span::styled(label, theme.dim()),
    ];
    let used: usize = top.iter().map(Span::width).sum();
    let pad = (area.width as usize).saturating_sub(used + state.chars().count() + 1);
    top.push(Span::raw(" ".repeat(pad)));
    top.push(Span::styled(state, theme.key()));
    let second = if v.dry {
        Line::styled(
            format!(
                "{:^w$}",
                "DRY RUN: nothing will be changed and no run is recorded",
                w = area.width as usize
            ),
            theme.alarm(),
        )
    } else {
        let mut spans = vec![Span::styled(" real run", theme.ok())];
        if let Some(id) = &v.identity {
            spans.push(Span::raw("  AWS account "));
            spans.push(Span::styled(id.account.clone(), theme.key()));
            spans.push(Span::raw(format!("  {}  {}", id.arn, id.region)));
        } else if v.plan.uses_aws() {
            spans.push(Span::styled(
                "  AWS identity: read at the first AWS step",
                theme.dim(),
            ));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(vec![Line::from(top), second]), area);
}

/// "running prepare", "waiting at review", "completed".
fn run_state(v: &RunView) -> String {
    if v.stopping {
        return "stopping the step...".into();
    }
    if let Some(i) = v.running() {
        return format!("running {}", v.plan.steps[i].key);
    }
    if v.dry {
        return match (v.busy, v.previews.len()) {
            (Some(_), _) => "previewing...".into(),
            (None, 0) => "press Enter to preview every step".into(),
            _ => format!("{} steps previewed", v.previews.len()),
        };
    }
    if v.busy == Some(Busy::Deciding) {
        return "applying...".into();
    }
    match (v.next_step(), &v.outcome) {
        (None, _) => "completed".into(),
        (Some(i), _) => {
            let key = &v.plan.steps[i].key;
            match v.steps[i].status {
                Status::Pending => format!("ready: next is {key}"),
                s => format!("{} at {key}", s.as_str()),
            }
        }
    }
}

fn draw_steps(f: &mut Frame, area: Rect, v: &RunView, app: &App) {
    let theme = &app.theme;
    let (done, total) = v.progress();
    let block = Block::bordered()
        .title(format!(" Steps {done}/{total} "))
        .border_style(theme.border(v.focus == Pane::Steps && v.modal.is_none()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // The progress gauge.
    let w = inner.width.saturating_sub(6) as usize;
    let filled = (w * done).checked_div(total).unwrap_or(w);
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let gauge = Line::from(vec![
        Span::styled("█".repeat(filled), theme.ok()),
        Span::styled("░".repeat(w - filled), theme.dim()),
        Span::raw(format!(" {pct:>3}%")),
    ]);
    let buf = f.buffer_mut();
    buf.set_line(inner.x, inner.y, &gauge, inner.width);
    let rows = inner.height.saturating_sub(1) as usize;
    if rows == 0 {
        return;
    }
    // Keep the selection on screen, moving the window as little as possible.
    let mut offset = v.list_offset.get();
    if v.selected < offset {
        offset = v.selected;
    } else if v.selected >= offset + rows {
        offset = v.selected + 1 - rows;
    }
    offset = offset.min(v.steps.len().saturating_sub(rows));
    v.list_offset.set(offset);
    let end = (offset + rows).min(v.steps.len());
    for (row, i) in (offset..end).enumerate() {
        let y = inner.y + 1 + row as u16;
        let s = &v.steps[i];
        let ps = &v.plan.steps[i];
        let step = v.plan.step(i);
        let mut status = s.status;
        let preview_skip = v.dry && v.previews.get(&i).is_some_and(|p| p.skip.is_some());
        if preview_skip {
            status = Status::Skipped;
        } else if v.dry && v.previews.contains_key(&i) {
            status = Status::Satisfied;
        }
        let symbol = if v.dry && v.previews.contains_key(&i) && !preview_skip {
            "○"
        } else {
            Theme::symbol(status, app.tick)
        };
        let time = match (s.started, s.elapsed) {
            (Some(t), _) => short_duration(v.running_for(t)),
            (None, Some(e)) if status != Status::Pending => short_duration(e),
            _ => String::new(),
        };
        let selected = i == v.selected;
        let base = if selected {
            theme.selected()
        } else {
            Style::new()
        };
        let indent = "  ".repeat(ps.depth);
        let mut spans = vec![
            Span::styled(format!("{symbol} "), theme.status(status).patch(base)),
            Span::styled(format!("{indent}{}", ps.key), base.patch(key_style(status))),
        ];
        if s.changed {
            spans.push(Span::styled(" *", theme.warn().patch(base)));
        }
        // A running step's time changes as it is drawn (`95ms`, `120ms`, `1.2s`): its title
        // keeps room for the widest of those, so it does not shift as the time grows.
        let width = time
            .chars()
            .count()
            .max(if s.started.is_some() { 5 } else { 0 });
        let room = inner.width.saturating_sub(width as u16 + 1);
        let used: usize = spans.iter().map(|s| s.width()).sum::<usize>() + 2;
        spans.push(Span::styled(
            format!(
                "  {}",
                super::cut_at_word(&step.title, (room as usize).saturating_sub(used))
            ),
            theme.dim().patch(base),
        ));
        let line = Line::from(spans);
        let buf = f.buffer_mut();
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), base);
        }
        buf.set_line(inner.x, y, &line, room);
        if !time.is_empty() {
            let x = inner.x + inner.width - time.chars().count() as u16;
            buf.set_string(x, y, &time, theme.dim().patch(base));
        }
    }
}

fn key_style(status: Status) -> Style {
    match status {
        Status::Running | Status::Waiting | Status::Failed | Status::Interrupted => {
            Style::new().add_modifier(Modifier::BOLD)
        }
        _ => Style::new(),
    }
}

/// A line of a command wrapped to `width` at spaces (a word longer than a line is cut), its
/// continuations indented under its own indentation and two more, so that a wrapped command
/// still reads as one.
fn wrap_indented(line: &str, width: usize) -> Vec<String> {
    if width < 8 || line.chars().count() <= width {
        return vec![line.to_string()];
    }
    let lead = line.chars().take_while(|c| *c == ' ').count();
    let pad = " ".repeat(lead + 2);
    let mut out = Vec::new();
    let mut current = " ".repeat(lead);
    let mut empty = true;
    for word in line[lead..].split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let len = current.chars().count();
            let need = word.len() + usize::from(!empty);
            if len + need <= width {
                if !empty {
                    current.push(' ');
                }
                current.extend(word.iter());
                empty = false;
                break;
            }
            if empty {
                // Too long for a line of its own: cut where the line ends.
                let room = width.saturating_sub(len).max(1).min(word.len());
                current.extend(word.drain(..room));
            }
            out.push(std::mem::replace(&mut current, pad.clone()));
            empty = true;
            if word.is_empty() {
                break;
            }
        }
    }
    if !empty {
        out.push(current);
    }
    out
}

fn draw_detail(f: &mut Frame, area: Rect, v: &RunView, theme: &Theme) {
    let i = v.selected.min(v.steps.len().saturating_sub(1));
    if v.steps.is_empty() {
        return;
    }
    let ps = &v.plan.steps[i];
    let step = v.plan.step(i);
    let s = &v.steps[i];
    let block = Block::bordered()
        .title(format!(
            " {} · {} · {} ",
            ps.key,
            step.kind().name(),
            if v.dry { "dry run" } else { s.status.as_str() }
        ))
        .border_style(theme.border(v.focus == Pane::Detail && v.modal.is_none()));
    let mut lines: Vec<Line> = vec![Line::styled(
        step.title.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if let Some(m) = &s.message {
        for (n, l) in m.lines().enumerate() {
            let lead = if n == 0 {
                format!("{}: ", s.status.as_str())
            } else {
                "  ".into()
            };
            lines.push(Line::styled(format!("{lead}{l}"), theme.status(s.status)));
        }
    }
    if s.attempts > 1 || s.exit_code.is_some_and(|c| c != 0) {
        let mut facts = vec![format!("attempts: {}", s.attempts)];
        if let Some(c) = s.exit_code {
            facts.push(format!("exit status {c}"));
        }
        lines.push(Line::styled(facts.join(" · "), theme.dim()));
    }
    if let Some(r) = v.rechecks.get(&i) {
        recheck_lines(&mut lines, r.as_ref(), theme);
    }
    if let Some(d) = &step.description {
        lines.push(Line::default());
        lines.extend(markdown::render(d, theme));
    }
    if let Some(p) = v.previews.get(&i) {
        let width = area.width.saturating_sub(2) as usize;
        preview_lines(&mut lines, p, step, s, v.dry, width, theme);
    } else if !v.dry {
        lines.push(Line::default());
        lines.push(Line::styled("resolving what it will do...", theme.dim()));
    }
    if !s.outputs.is_empty() {
        lines.push(Line::default());
        lines.push(Line::styled("Outputs:", theme.heading()));
        for (k, val) in &s.outputs {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k}"), theme.key()),
                Span::raw(format!(" = {val}")),
            ]));
        }
    }
    if let Some((w, need)) = &v.need
        && *w == i
    {
        lines.push(Line::default());
        let what = match need {
            Need::Manual { .. } => "waiting for a person: Enter opens the step",
            Need::Danger { .. } => "waiting for the typed confirmation: Enter opens it",
            Need::Interrupted { .. } => "interrupted: Enter to decide",
            Need::StillRunning { .. } => "its processes still run without stepwise: Enter for more",
            Need::Changed { .. } => "changed since it ran: Enter to decide",
            Need::Terminal => "needs a terminal",
        };
        lines.push(Line::styled(what, theme.status(Status::Waiting)));
    }
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((v.detail_scroll, 0)),
        area,
    );
}

fn draw_output(f: &mut Frame, area: Rect, v: &RunView, theme: &Theme) {
    let i = v.selected.min(v.steps.len().saturating_sub(1));
    if v.steps.is_empty() {
        return;
    }
    let out = &v.outputs[i];
    let inner_h = area.height.saturating_sub(2) as usize;
    v.out_height.set(inner_h.max(1));
    let bottom = out.len().saturating_sub(inner_h);
    let top = v.out_top.unwrap_or(bottom).min(bottom);
    let mut title = format!(
        " Output · {} · {} line{} ",
        v.plan.steps[i].key,
        out.len(),
        if out.len() == 1 { "" } else { "s" }
    );
    if out.dropped() > 0 {
        title.push_str(&format!("(+{} older in the log) ", out.dropped()));
    }
    let where_ = if v.out_top.is_none() {
        " following ".to_string()
    } else {
        format!(" line {}/{} ", top + 1, out.len())
    };
    let mut block = Block::bordered()
        .title(title)
        .title_bottom(Line::from(where_).right_aligned())
        .border_style(theme.border(v.focus == Pane::Output && v.modal.is_none()));
    if let Some(input) = &v.searching {
        block = block.title_bottom(Line::styled(format!(" /{}▏", input.value()), theme.key()));
    } else if let Some(s) = &v.search {
        let at = if s.matches.is_empty() {
            "no match".to_string()
        } else {
            format!("{}/{}", s.current + 1, s.matches.len())
        };
        block = block.title_bottom(Line::styled(format!(" /{} {at} ", s.query), theme.key()));
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    if out.is_empty() {
        let note = match v.steps[i].status {
            Status::Pending => "(not run yet)",
            Status::Running => "(no output yet)",
            _ => "(no output)",
        };
        f.buffer_mut()
            .set_string(inner.x, inner.y, note, theme.dim());
        return;
    }
    let query = v
        .search
        .as_ref()
        .map(|s| s.query.as_str())
        .or(v.searching.as_ref().map(|t| t.value()))
        .filter(|q| !q.is_empty());
    let current = v.search.as_ref().and_then(|s| s.line());
    let buf = f.buffer_mut();
    for (row, (n, line)) in out
        .range(top, top + inner.height as usize)
        .enumerate()
        .map(|(r, l)| (r, (top + r, l)))
    {
        let y = inner.y + row as u16;
        let style = match line.stream {
            Stream::Stdout => Style::new(),
            Stream::Stderr => theme.stderr(),
            Stream::Info => theme.info(),
        };
        let lead = match line.stream {
            Stream::Info => "› ",
            _ => "",
        };
        let mut spans = vec![Span::styled(lead, theme.dim())];
        match query {
            Some(q) => spans.extend(highlight(&line.text, q, style, theme)),
            None => spans.push(Span::styled(line.text.as_str(), style)),
        }
        let l = Line::from(spans);
        if Some(n) == current {
            buf.set_style(
                Rect::new(inner.x, y, inner.width, 1),
                Style::new().add_modifier(Modifier::BOLD),
            );
        }
        buf.set_line(inner.x, y, &l, inner.width);
    }
}

/// Splits a line around the matches of a query (smart case).
fn highlight<'a>(text: &'a str, query: &str, style: Style, theme: &Theme) -> Vec<Span<'a>> {
    let smart = query.chars().any(char::is_uppercase);
    let (hay, needle) = if smart || !text.is_ascii() || !query.is_ascii() {
        (text.to_string(), query.to_string())
    } else {
        (text.to_ascii_lowercase(), query.to_ascii_lowercase())
    };
    if hay.len() != text.len() {
        return vec![Span::styled(text, style)];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(p) = hay[at..].find(&needle) {
        let start = at + p;
        let end = start + needle.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        spans.push(Span::styled(&text[at..start], style));
        spans.push(Span::styled(&text[start..end], theme.found()));
        at = end;
        if needle.is_empty() {
            break;
        }
    }
    spans.push(Span::styled(&text[at..], style));
    spans
}

/// What re-checking the step (`C`) found: whether it still holds, and what changed.
fn recheck_lines(lines: &mut Vec<Line<'_>>, check: Option<&StepCheck>, theme: &Theme) {
    lines.push(Line::default());
    let Some(c) = check else {
        lines.push(Line::styled("re-checking...", theme.dim()));
        return;
    };
    let style = match c.status {
        Held::Holds => theme.ok(),
        Held::Drifted => theme.error(),
        Held::Unchecked => theme.dim(),
        Held::Expiring | Held::Unknown => theme.warn(),
    };
    // What a script wrote, or AWS said, is shown as text: no control characters.
    let clean = |t: &str| t.chars().filter(|ch| !ch.is_control()).collect::<String>();
    lines.push(Line::styled(
        format!("Re-checked: {}", c.status.as_str()),
        style.add_modifier(Modifier::BOLD),
    ));
    for l in c.text.lines() {
        lines.push(Line::styled(format!("  {}", clean(l)), style));
    }
    if let (Some(current), Some(wanted)) = (&c.current, &c.wanted) {
        lines.push(Line::raw(format!("  current: {}", clean(current))));
        lines.push(Line::raw(format!("  wanted:  {}", clean(wanted))));
    }
    for l in c.diff.as_deref().unwrap_or_default().lines() {
        let style = match l.chars().next() {
            Some('+') => theme.ok(),
            Some('-') => theme.error(),
            _ => theme.dim(),
        };
        lines.push(Line::styled(format!("  {}", clean(l)), style));
    }
}

fn footer_keys(v: &RunView, theme: &Theme) -> Line<'static> {
    if v.modal.is_some() {
        return keys_line(&[("Esc", "close the dialog")], theme);
    }
    if v.searching.is_some() {
        return keys_line(
            &[("type", "to search"), ("⏎", "keep"), ("Esc", "cancel")],
            theme,
        );
    }
    if v.busy.is_some() {
        return keys_line(
            &[
                ("j/k", "move"),
                ("tab", "pane"),
                ("/", "search"),
                ("f", "follow"),
                ("?", "help"),
                ("q", "stop & quit"),
            ],
            theme,
        );
    }
    if v.dry {
        // Once every step's preview is in, there is nothing more for Enter to do.
        let enter = if v.outcome.is_some() {
            ("", "dry run complete: nothing was changed")
        } else {
            ("⏎", "preview all")
        };
        return keys_line(
            &[
                enter,
                ("j/k", "move"),
                ("tab", "pane"),
                ("c", "copy"),
                ("?", "help"),
                ("q", "quit"),
            ],
            theme,
        );
    }
    let waiting = v.need.as_ref().is_some_and(|(w, _)| *w == v.selected);
    let enter = if waiting { "answer" } else { "run next" };
    let mut keys = vec![("⏎", enter), ("a", "run on"), ("s", "skip"), ("m", "done")];
    if v.steps[v.selected].status != Status::Pending {
        keys.push(("r", "re-run"));
    }
    keys.extend([
        ("c", "copy"),
        ("/", "search"),
        ("tab", "pane"),
        ("?", "help"),
        ("q", "quit"),
    ]);
    if matches!(v.outcome, Some(RunOutcome::Completed)) && v.next_step().is_none() {
        keys = vec![
            ("j/k", "move"),
            ("C", "re-check"),
            ("r", "re-run"),
            ("/", "search"),
            ("?", "help"),
            ("q", "quit"),
        ];
    }
    keys_line(&keys, theme)
}

/// Modal dialogs use this to show what a step's dialog is about.
pub fn modal_title(v: &RunView, m: &Modal) -> String {
    let key = |i: usize| v.plan.steps[i].key.clone();
    match m {
        Modal::Manual(form) => format!(" Manual step: {} ", key(form.index)),
        Modal::Danger(form) => format!(" DANGER: {} ", key(form.index)),
        Modal::Decide {
            index,
            need: Need::Changed { .. },
        } => format!(" Changed since it ran: {} ", key(*index)),
        Modal::Decide { index, .. } => format!(" Interrupted: {} ", key(*index)),
        Modal::Skip { index, .. } => format!(" Skip {} ", key(*index)),
        Modal::ConfirmQuit => " Quit ".into(),
        Modal::Journal { lines, .. } => {
            format!(" Journal of {} ({} entries) ", v.name, lines.len())
        }
    }
}

/// What a step does (or did), as its preview says it: skip, danger, problem and body.
fn preview_lines(
    lines: &mut Vec<Line<'_>>,
    p: &crate::engine::Preview,
    step: &crate::runbook::Step,
    s: &crate::tui::run_view::StepView,
    dry: bool,
    width: usize,
    theme: &Theme,
) {
    lines.push(Line::default());
    let verb = match (step.kind(), dry || !s.status.is_done(), s.status) {
        (StepKind::Manual, _, _) => "Asks a person to:",
        (StepKind::Include, _, _) => "Includes:",
        // Skipped or already satisfied: it did not run.
        (_, false, Status::Skipped) => "Skipped; it would have run:",
        (_, false, Status::Satisfied) => "Already as wanted; it did not need to run:",
        (StepKind::Check, true, _) => "Will check (read-only):",
        (StepKind::Aws, true, _) => "Will send:",
        (StepKind::File, true, _) => "Will change:",
        (_, true, _) => "Will run:",
        (_, false, _) => "Ran:",
    };
    if let Some(skip) = &p.skip {
        lines.push(Line::styled(skip.clone(), theme.warn()));
    }
    if let Some(d) = &p.danger {
        lines.push(Line::styled(
            format!("DANGER: a person must type `{d}` to confirm"),
            theme.error().add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(problem) = &p.problem {
        lines.push(Line::styled(
            format!("cannot resolve yet: {problem}"),
            theme.warn(),
        ));
    }
    if !p.body.is_empty() {
        lines.push(Line::styled(verb, theme.heading()));
        for l in p.body.lines() {
            let style = theme.diff_line(l);
            for piece in wrap_indented(&format!("  {l}"), width) {
                lines.push(Line::styled(piece, style));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wrap_indented;
    use crate::tui::ui::cut_at_word;

    #[test]
    fn titles_are_cut_at_a_word() {
        assert_eq!(cut_at_word("Start the simulated service", 18), "Start the…");
        assert_eq!(cut_at_word("Short", 18), "Short");
        assert_eq!(cut_at_word("Unbreakablewordhere", 8), "Unbreak…");
        assert_eq!(cut_at_word("anything", 0), "");
    }

    #[test]
    fn wrapped_command_lines_keep_their_indentation() {
        assert_eq!(
            wrap_indented("    echo \"folder=work/x\" >> \"$STEPWISE_OUTPUT\"", 30),
            vec![
                "    echo \"folder=work/x\" >>",
                "      \"$STEPWISE_OUTPUT\""
            ]
        );
        // A word longer than a line is cut, and goes on indented.
        let long = format!("  {}", "x".repeat(40));
        let lines = wrap_indented(&long, 20);
        assert_eq!(lines[0], format!("  {}", "x".repeat(18)));
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("    x") && l.chars().count() <= 20)
        );
        assert_eq!(lines.concat().matches('x').count(), 40);
    }
}
