//! Colours and symbols. With `NO_COLOR` set, nothing is coloured: statuses still differ by
//! symbol, and the selection and banners use reverse video.

use ratatui::style::{Color, Modifier, Style};

use crate::state::Status;

/// How things look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

/// Frames of the spinner of a running step.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Theme {
    /// Colours unless `NO_COLOR` is set to something (https://no-color.org).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// The symbol of a status (the spinner frame for a running step).
    pub fn symbol(status: Status, tick: u64) -> &'static str {
        match status {
            Status::Pending => "·",
            Status::Running => SPINNER[(tick % SPINNER.len() as u64) as usize],
            Status::Succeeded => "✓",
            Status::Failed => "✗",
            Status::Skipped => "»",
            Status::Satisfied => "≡",
            Status::Interrupted => "!",
            Status::Waiting => "?",
        }
    }

    /// The style of a status.
    pub fn status(&self, status: Status) -> Style {
        match status {
            Status::Pending => self.dim(),
            Status::Running => self.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Status::Succeeded => self.fg(Color::Green),
            Status::Failed => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Status::Skipped => self.dim(),
            Status::Satisfied => self.fg(Color::Blue),
            Status::Interrupted => self.fg(Color::Magenta).add_modifier(Modifier::BOLD),
            Status::Waiting => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        }
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn heading(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn code(&self) -> Style {
        self.fg(Color::LightYellow)
    }

    pub fn link(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn stderr(&self) -> Style {
        self.fg(Color::LightRed)
    }

    pub fn info(&self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::ITALIC)
    }

    /// The selected row.
    /// Secondary text (paths, counts, times) on a row that may be the selected one: dim on an
    /// ordinary row; on the selected row, light on its dark background, never grey on grey.
    pub fn dim_in(&self, base: Style, selected: bool) -> Style {
        if selected && self.color {
            base.fg(Color::Gray)
        } else {
            self.dim().patch(base)
        }
    }

    /// A line of code or of a unified diff: added lines green, removed ones red.
    pub fn diff_line(&self, line: &str) -> Style {
        if line.starts_with('+') && !line.starts_with("+++") {
            self.ok()
        } else if line.starts_with('-') && !line.starts_with("---") {
            self.error()
        } else {
            self.code()
        }
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// A search match.
    pub fn found(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Yellow).fg(Color::Black)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// The border of a pane; brighter when it has the focus.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan)
        } else {
            self.dim()
        }
    }

    /// The dry-run banner and danger dialogs.
    pub fn alarm(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
}
