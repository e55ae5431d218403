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
                let recorded = inputs
                    .iter()
                    .map(|(k, (v, secret))| {
                        let value = if *secret {
                            InputValue::Secret { secret: true }
                        } else {
                            InputValue::Value { value: v.clone() }
                        };
                        (k.clone(), value)
                    })
                    .collect();
                self.step_state(i).inputs = Some(recorded);
                self.finish(i, Attempt::new(Status::Succeeded), hash, started)
            }
            Err(e) => self.finish(i, Attempt::failed(e), hash, started),
        }
    }
}
