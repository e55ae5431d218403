//! Printing to stdout and stderr that never panics.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`stepwise runs | head -1`),
//! which would kill a run in the middle and leave its state behind. Here a write that fails
//! (the reader has gone, or a redirect's disk is full) ends printing quietly for the rest of
//! the process: the command goes on to its normal end and exits with its own status; only
//! its printing stops.

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

/// Writes to stdout, unless a write already failed.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = Stdout::lock().write_fmt(args);
}

/// Writes to stderr, ignoring a failure: there is nowhere left to report it.
pub fn eprint(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
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
        let result = self.0.write(buf);
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
