//! Polling: a `check` step or a checking AWS action with `wait` is tried again, every
//! `every`, until it passes or `timeout` has gone by.

use super::*;
use crate::runbook::model::Wait;

/// Whether there is time for another try after `elapsed`.
pub(super) fn again(w: &Wait, elapsed: Duration) -> bool {
    elapsed + w.every.0 <= w.timeout.0
}

/// The line that says a try did not pass and when the next one is.
pub(super) fn line(why: &str, tries: u32, elapsed: Duration, w: &Wait) -> String {
    format!(
        "{why} (try {tries}, {} elapsed); next try in {}",
        humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
        w.every
    )
}

impl Engine {
    /// Waits until the next try; the attempt to end with when the run is stopped meanwhile.
    pub(super) async fn until_next_try(&self, w: &Wait) -> Option<Attempt> {
        tokio::select! {
            _ = tokio::time::sleep(w.every.0) => None,
            _ = self.cancel.cancelled() => Some(Attempt {
                message: Some("interrupted while waiting".into()),
                ..Attempt::new(Status::Interrupted)
            }),
        }
    }
}
