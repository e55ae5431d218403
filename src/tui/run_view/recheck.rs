//! `C` in the run view: re-checks the selected done step as `stepwise check` does (read-only,
//! with a journal entry), and keeps what it found for the detail pane.

use super::*;

impl RunView {
    /// Asks the engine to re-check the selected step, if it is done.
    pub(super) fn recheck(&mut self) -> Vec<Effect> {
        let i = self.selected;
        if self.dry {
            self.error = Some("a dry run changed nothing: there is nothing to re-check".into());
            return Vec::new();
        }
        if !self.steps[i].status.is_done() {
            self.error = Some(format!(
                "step {} is not done: there is nothing to re-check yet",
                self.plan.steps[i].key
            ));
            return Vec::new();
        }
        self.error = None;
        self.rechecks.insert(i, None);
        vec![Effect::Engine(Command::Recheck(i))]
    }

    /// What re-checking a step found.
    pub(super) fn rechecked(&mut self, index: usize, check: StepCheck) {
        if index < self.steps.len() {
            self.rechecks.insert(index, Some(check));
        }
    }
}
