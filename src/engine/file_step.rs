//! `file` steps as the engine runs them; the change itself is planned and applied in `file`.

use super::*;

impl Engine {
    /// A file step's diff; in a dry run, the keys it would set in a file an earlier step
    /// would create.
    pub(super) fn preview_file(
        &self,
        i: usize,
        step: &crate::runbook::Step,
        ctx: &minijinja::Value,
        dry: bool,
    ) -> Result<String, String> {
        let spec = step.file.as_ref().ok_or("not a file step")?;
        match file::plan(spec, self.plan.runbook_of(i), &self.state.workdir, ctx) {
            Ok(c) if c.changed() => Ok(c.diff()),
            Ok(c) => Ok(format!("{} is already as wanted", c.shown)),
            Err(_) if dry && !spec.set.is_empty() => {
                let path = template::render(&spec.path, ctx).unwrap_or_else(|_| spec.path.clone());
                let mut body = format!("in {path} (not there yet), set:");
                for (k, v) in &spec.set {
                    // `current` is what the earlier step will leave there.
                    let mut local = serde_json::Map::new();
                    local.insert("current".into(), Value::String(format!("<current {k}>")));
                    let local = minijinja::context! {
                        ..minijinja::Value::from_serialize(local), ..ctx.clone()
                    };
                    let v = context::render_value(v, &local).unwrap_or_else(|_| v.clone());
                    body.push_str(&format!("\n  {k}: {v}"));
                }
                Ok(body)
            }
            Err(e) => Err(e.message()),
        }
    }

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
