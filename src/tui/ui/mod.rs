//! Drawing: one frame from the app's state, nothing else. Only what is on screen is built:
//! the visible rows of the step list and of the output pane, however long those are.

pub mod form;
pub mod help;
pub mod home;
pub mod markdown;
pub mod modal;
pub mod run;
pub mod theme;

use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Screen};
use theme::Theme;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    match &app.screen {
        Screen::Home(h) => home::draw(f, area, h, app),
        Screen::Form(form) => form::draw(f, area, form, &app.theme),
        Screen::Run(v) => run::draw(f, area, v, app),
        Screen::Loading(what) => {
            let [mid] = Layout::vertical([Constraint::Length(1)])
                .flex(Flex::Center)
                .areas(area);
            f.render_widget(
                Paragraph::new(Line::styled(what.clone(), app.theme.dim()).centered()),
                mid,
            );
        }
    }
    if app.help {
        help::draw(f, area, app);
    }
}

/// The screen as plain text, one line per row, trailing spaces trimmed (tests, README).
pub fn screen_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let cell = &buf[(x, y)];
            let sym = cell.symbol();
            line.push_str(sym);
            skip = unicode_cols(sym).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_cols(s: &str) -> usize {
    Line::from(s).width()
}

/// A rectangle of at most `w` x `h`, centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// "6ms", "2.0s", "1m 3s".
pub fn short_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        "0ms".into()
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else if d < Duration::from_secs(3600) {
        format!("{}m {}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h {}m", d.as_secs() / 3600, d.as_secs() % 3600 / 60)
    }
}

/// A footer of keys: `[("⏎", "run next"), ...]`, cut to the width.
pub fn keys_line(keys: &[(&str, &str)], theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (k, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("  ", Style::new()));
        }
        spans.push(Span::styled(k.to_string(), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

/// Text cut to at most `width` characters at a word's end, with `…` when cut; a single word
/// longer than the width is cut where it must be.
pub fn cut_at_word(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep: String = text.chars().take(width.saturating_sub(1)).collect();
    let at_word = match keep.rfind(' ') {
        Some(space) if space > 0 => keep[..space].trim_end().to_string(),
        _ => keep,
    };
    format!("{at_word}…")
}

/// Cuts a keys line to a width by leaving out whole keys from the middle: the first (what
/// Enter does) and the last two (help, quit) stay.
pub fn fit(mut line: Line<'static>, width: u16) -> Line<'static> {
    // Each key is three spans (separator, key, what), the first two.
    while line.width() > width as usize && line.spans.len() > 2 + 3 * 2 {
        let at = line.spans.len() - 3 * 3;
        line.spans.drain(at..at + 3);
    }
    line
}

/// A text field's content with a visible cursor (reverse video), masked when secret.
pub fn field_spans(
    value: &str,
    cursor: usize,
    focused: bool,
    secret: bool,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let shown: String = if secret {
        "•".repeat(value.chars().count())
    } else {
        value.to_string()
    };
    if !focused {
        return vec![Span::raw(shown)];
    }
    let chars: Vec<char> = shown.chars().collect();
    let before: String = chars[..cursor.min(chars.len())].iter().collect();
    let at: String = chars.get(cursor).map_or(" ".into(), |c| c.to_string());
    let after: String = chars
        .get(cursor + 1..)
        .map_or(String::new(), |r| r.iter().collect());
    let _ = theme;
    vec![
        Span::raw(before),
        Span::styled(
            at,
            Style::new().add_modifier(ratatui::style::Modifier::REVERSED),
        ),
        Span::raw(after),
    ]
}
