//! `include` steps: another runbook's steps, with its inputs resolved from `with`.

use super::*;

impl Engine {
    /// An include step: resolves the inputs its runbook receives; its steps follow in the plan.
    pub(super) fn include(&mut self, i: usize, hash: &str) -> Result<Flow, EngineError> {
        let started = Instant::now();
        let Some((child, _)) = self.plan.steps[i].include else {
            return self.finish(
                i,
                Attempt::failed("the included runbook was not loaded"),
                hash,
                started,
            );
        };
        match self
            .values
            .resolve_scope_inputs(&self.plan, &self.state, child, false)
        {
            Ok(inputs) => {
                self.step_state(i).inputs = Some(context::recorded(&inputs));
                self.finish(i, Attempt::new(Status::Succeeded), hash, started)
            }
            Err(e) => self.finish(i, Attempt::failed(e), hash, started),
        }
    }
}
