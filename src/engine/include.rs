//! `include` steps: another runbook's steps, with its inputs resolved from `with`.

use super::*;

impl Engine {
    /// The runbook an include step runs, with the inputs it would receive.
    pub(super) fn preview_include(&self, child: usize, dry: bool) -> Result<String, String> {
        let inputs = self
            .values
            .resolve_scope_inputs(&self.plan, &self.state, child, dry)?;
        let rb = &self.plan.scopes[child].runbook;
        let mut body = format!("include {} ({})", rb.path().display(), rb.doc.title);
        for (k, (v, secret)) in inputs {
            body.push_str(&format!(
                "\n  {k} = {}",
                if secret { MASK } else { v.as_str() }
            ));
        }
        Ok(body)
    }

    /// An include step: resolves the inputs its runbook receives; its steps follow in the plan.
    pub(super) fn include(&mut self, i: usize, hash: &str) -> Result<Flow, EngineError> {
        let started = Instant::now();
        let Some((child, _)) = self.plan.include(i) else {
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
