//! Output sent to a front end and not yet shown, so that the engine can wait for it.
//!
//! The engine's events go out on an unbounded channel. A step can print faster than a front end
//! shows its lines (a terminal, a pipe nobody reads): without a limit, the lines waiting would
//! fill memory. A front end that counts the lines it has shown lets the engine wait while too
//! many are waiting, so that memory stays flat whatever a step prints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// The most output, in bytes, sent and not yet shown before the engine waits.
const MAX_WAITING: usize = 4 * 1024 * 1024;

/// Bytes of output lines sent and not yet shown.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: AtomicUsize,
    shown: Notify,
}

fn cost(line: &str) -> usize {
    line.len() + 1
}

impl Backlog {
    /// A line went out.
    pub(super) fn sent(&self, line: &str) {
        self.bytes.fetch_add(cost(line), Ordering::Relaxed);
    }

    /// The front end has shown a line it was sent.
    pub fn shown(&self, line: &str) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(cost(line)))
            });
        self.shown.notify_one();
    }

    /// Waits until there is room for more output, or nobody is left to show it. False when
    /// the run is being stopped and there is no room: the line is not shown (it is in the
    /// step's log), so that a slow front end does not hold the stop up.
    pub(super) async fn room<T>(
        &self,
        events: &mpsc::UnboundedSender<T>,
        cancel: &CancellationToken,
    ) -> bool {
        while self.bytes.load(Ordering::Relaxed) > MAX_WAITING && !events.is_closed() {
            // `notify_one` keeps a wakeup for a waiter that comes later; the timeout only
            // notices a front end gone.
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_millis(100), self.shown.notified()) => {}
                _ = cancel.cancelled() => return false,
            }
        }
        true
    }
}
