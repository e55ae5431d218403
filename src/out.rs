//! Printing to stdout and stderr that never panics.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`stepwise runs | head -1`),
//! which would kill a run in the middle and leave its state behind. Here a write that fails
//! (the reader has gone, or a redirect's disk is full) ends printing quietly for the rest of
//! the process: the command goes on to its normal end and exits with its own status; only
//! its printing stops.
//!
//! Both streams carry values from outside (a step's output, an AWS tag, a file), which may hold
//! terminal control sequences: an OSC 52 clipboard write, a clear-screen, a carriage return
//! that hides what came before it. Every control character but the new line and the tab is
//! written escaped (`\x1b`), so the terminal shows it and never obeys it.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed; nothing more is printed there.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Prints to stdout like `println!`, stopping quietly once stdout is gone.
macro_rules! outln {
    () => {
        $crate::out::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints to stderr like `eprintln!`, without panicking when stderr is gone.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::eprint(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, outln};

/// A message with its hint, if any, on a line of its own (`hint: ...`): how every layer's
/// error is said to a person.
pub fn with_hint(what: String, hint: Option<String>) -> String {
    match hint {
        Some(h) => format!("{what}\nhint: {h}"),
        None => what,
    }
}

/// Writes to stdout, unless a write already failed.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = Stdout::lock().write_fmt(args);
}

/// Writes to stderr, ignoring a failure: there is nowhere left to report it.
pub fn eprint(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let _ = io::stderr().lock().write_all(&neutralised(text.as_bytes()));
}

/// The bytes with every terminal control character but `\n` and `\t` escaped: C0 controls,
/// DEL, and the C1 controls (`U+0080` to `U+009F`, two bytes in UTF-8).
pub fn neutralised(buf: &[u8]) -> Cow<'_, [u8]> {
    let control = |b: u8| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f;
    let c1 = |i: usize| buf[i] == 0xc2 && buf.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n));
    if !(0..buf.len()).any(|i| control(buf[i]) || c1(i)) {
        return Cow::Borrowed(buf);
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    let mut i = 0;
    while i < buf.len() {
        if control(buf[i]) {
            out.extend_from_slice(format!("\\x{:02x}", buf[i]).as_bytes());
        } else if c1(i) {
            out.extend_from_slice(format!("\\u{{{:x}}}", buf[i + 1]).as_bytes());
            i += 1;
        } else {
            out.push(buf[i]);
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Sends what is buffered for stdout; called before the process exits.
pub fn flush() {
    let _ = Stdout::lock().flush();
}

/// Whether stdout has gone (a write to it failed).
pub fn stdout_gone() -> bool {
    STDOUT_GONE.load(Ordering::Relaxed)
}

/// Stdout, locked, for a run of writes. Writes always succeed: once one fails, it and all
/// later ones are dropped.
pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    /// Locks stdout.
    pub fn lock() -> Stdout {
        Stdout(io::stdout().lock())
    }

    fn gone<T>(&self, ok: T, result: io::Result<T>) -> io::Result<T> {
        match result {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(_) => {
                STDOUT_GONE.store(true, Ordering::Relaxed);
                Ok(ok)
            }
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if stdout_gone() {
            return Ok(buf.len());
        }
        let result = self.0.write_all(&neutralised(buf)).map(|()| buf.len());
        self.gone(buf.len(), result)
    }

    fn flush(&mut self) -> io::Result<()> {
        if stdout_gone() {
            return Ok(());
        }
        let result = self.0.flush();
        self.gone((), result)
    }
}

#[cfg(test)]
mod tests {
    use super::neutralised;

    fn shown(s: &str) -> String {
        String::from_utf8(neutralised(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn control_sequences_are_shown_escaped() {
        assert_eq!(
            shown("a\x1b]52;c;aGk=\x07b\x1b[2Jc\rd\u{9b}31m\x7f"),
            "a\\x1b]52;c;aGk=\\x07b\\x1b[2Jc\\x0dd\\u{9b}31m\\x7f"
        );
        // New lines, tabs and other characters stay as they are.
        assert_eq!(shown("x\ty\nzé€"), "x\ty\nzé€");
        assert!(matches!(
            neutralised(b"plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
