//! The terminal: raw mode and the alternate screen while the UI runs, restored on every way
//! out (leaving, an error, a panic), and handed to interactive steps and taken back.

use std::io::{self, Stdout, Write};
use std::sync::Once;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, EventStream};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::event_loop::Host;

/// Puts the terminal back as it was: raw mode off, main screen, cursor shown.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )
}

/// Restores the terminal before a panic's message is printed, so that it is readable.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The real terminal, owned while the UI runs; dropping it restores the terminal.
pub struct TermHost {
    /// Key presses; None while an interactive step has the terminal.
    events: Option<EventStream>,
}

impl TermHost {
    /// Takes the terminal: raw mode, alternate screen, the panic hook.
    pub fn new() -> io::Result<TermHost> {
        install_panic_hook();
        if let Err(e) = enter() {
            restore();
            return Err(e);
        }
        Ok(TermHost {
            events: Some(EventStream::new()),
        })
    }

    /// A ratatui terminal drawing on stdout.
    pub fn terminal(&self) -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
        Terminal::new(CrosstermBackend::new(io::stdout()))
    }
}

impl Drop for TermHost {
    fn drop(&mut self) {
        self.events = None;
        restore();
    }
}

impl Host for TermHost {
    async fn input(&mut self) -> Option<io::Result<crossterm::event::Event>> {
        match &mut self.events {
            Some(s) => s.next().await,
            None => std::future::pending().await,
        }
    }

    fn suspend(&mut self, note: &str) -> io::Result<()> {
        // Stop reading keys first: they are the step's now.
        self.events = None;
        restore();
        let mut out = io::stdout();
        writeln!(out, "{note}")?;
        out.flush()
    }

    fn resume(&mut self) -> io::Result<()> {
        enter()?;
        self.events = Some(EventStream::new());
        Ok(())
    }

    fn copy(&mut self, text: &str) {
        use crossterm::clipboard::CopyToClipboard;
        let _ = execute!(io::stdout(), CopyToClipboard::to_clipboard_from(text));
    }
}
