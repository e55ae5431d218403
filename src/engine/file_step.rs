//! `file` steps as the engine runs them; the change itself is planned and applied in `file`.

use super::*;

impl Engine {
    pub(super) async fn file_step(&mut self, i: usize) -> Attempt {
        let scope = self.plan.steps[i].scope;
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let step = self.plan.step(i).clone();
        let Some(spec) = &step.file else {
            return Attempt::failed("not a file step");
        };
        let change = match file::plan(spec, self.plan.runbook_of(i), &self.state.workdir, &ctx) {
            Ok(c) => c,
            Err(e) => return Attempt::failed(e),
        };
        let mut outputs = IndexMap::new();
        outputs.insert("path".to_string(), (change.shown.clone(), false));
        if !change.changed() {
            self.note(i, &format!("{} is already as wanted", change.shown));
            return Attempt {
                outputs,
                message: Some("already as wanted".into()),
                ..Attempt::new(Status::Satisfied)
            };
        }
        let diff = self.values.secrets().mask(&change.diff()).into_owned();
        self.note(i, &diff);
        let secret = self.values.secrets().mask(&change.new) != change.new.as_str();
        match file::apply(&change, spec.mode.as_deref(), secret) {
            Ok(()) => Attempt {
                outputs,
                ..Attempt::new(Status::Succeeded)
            },
            Err(e) => Attempt::failed(e),
        }
    }
}
