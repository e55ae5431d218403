//! What a step would do, for a dry run, a danger confirmation and the detail pane.

use super::*;

impl Engine {
    /// What a step would do, with everything resolved that can be; a `for_each` step shows
    /// each item.
    pub(super) async fn describe(&mut self, i: usize) -> Preview {
        let Some(list) = self.plan.step(i).for_each.clone() else {
            return self.describe_once(i).await;
        };
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, dry);
        let items = match template::render(&list, &ctx) {
            Ok(rendered) => split_items(&rendered),
            Err(e) => {
                let mut p = self.describe_once(i).await;
                p.problem = Some(format!("cannot resolve `for_each`: {e}"));
                return p;
            }
        };
        let mut combined = Preview {
            skip: None,
            body: String::new(),
            danger: None,
            problem: None,
        };
        for item in items {
            self.values.set_item(Some(item.clone()));
            let p = self.describe_once(i).await;
            self.values.set_item(None);
            if !combined.body.is_empty() {
                combined.body.push('\n');
            }
            let body: Vec<String> = p.body.lines().map(|l| format!("  {l}")).collect();
            combined
                .body
                .push_str(&format!("for {item}:\n{}", body.join("\n")));
            combined.danger = combined.danger.or(p.danger);
            combined.problem = combined.problem.or(p.problem);
        }
        combined
    }

    /// What one step (or one item of it) would do: each kind says it its own way.
    pub(super) async fn describe_once(&mut self, i: usize) -> Preview {
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let dry = matches!(self.mode, Mode::DryRun { .. });
        let ctx = self.values.context(&self.plan, &self.state, scope, dry);
        let mut preview = Preview {
            skip: None,
            body: String::new(),
            danger: None,
            problem: None,
        };
        if let Some(d) = &step.danger {
            match template::render(d, &ctx) {
                Ok(t) => preview.danger = Some(t),
                Err(e) => preview.problem = Some(format!("cannot resolve `danger`: {e}")),
            }
        }
        let result = match step.kind() {
            StepKind::Manual => preview_manual(&step, &ctx),
            StepKind::Run | StepKind::Check => self.preview_script(&step, &ctx),
            StepKind::Aws => self.preview_aws(i, &step, &ctx, dry).await,
            StepKind::File => self.preview_file(i, &step, &ctx, dry),
            StepKind::Include => self.preview_include(i, dry),
        };
        match result {
            Ok(body) => preview.body = self.values.secrets().mask(&body).into_owned(),
            Err(e) => preview.problem = Some(self.values.secrets().mask(&e).into_owned()),
        }
        preview
    }

    /// A script as bash would read it, with its environment; secrets masked.
    fn preview_script(
        &self,
        step: &crate::runbook::Step,
        ctx: &minijinja::Value,
    ) -> Result<String, String> {
        let source = step
            .run
            .as_deref()
            .or(step.check.as_deref())
            .unwrap_or_default();
        let s = script::render(source, ctx)?;
        let mut body = s
            .shown(|v| self.values.secrets().mask(v))
            .trim_end()
            .to_string();
        for (k, v) in &step.env {
            if let Ok(v) = template::render(v, ctx) {
                let v = script::shown_word(&self.values.secrets().mask(&v));
                body = format!("{k}={v}\n{body}");
            }
        }
        if step.interactive {
            body.push_str("\n(interactive: runs with the terminal)");
        }
        Ok(body)
    }

    /// The request an action would send; before a change that needs a typed confirmation,
    /// what is there now beside what is wanted.
    async fn preview_aws(
        &mut self,
        i: usize,
        step: &crate::runbook::Step,
        ctx: &minijinja::Value,
        dry: bool,
    ) -> Result<String, String> {
        let action = self.plan.action(i).ok_or("unknown action")?;
        let params = context::render_params(
            step.with.as_deref().unwrap_or(&Value::Null),
            action.scripts(),
            ctx,
        )?;
        let req = action.request(&params);
        let mut body = serde_json::to_string_pretty(&req).unwrap_or_default();
        if !dry && action.danger().is_some() {
            let now = match self.connect_aws(i).await {
                Ok(aws) => action
                    .plan(&aws, &params)
                    .await
                    .map(|p| p.text)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            body.push_str(&match now {
                Ok(text) => format!("\n=> {text}"),
                Err(e) => format!("\n=> (cannot read the current state: {e})"),
            });
        }
        Ok(body)
    }

    /// A file step's diff; in a dry run, the keys it would set in a file an earlier step
    /// would create.
    fn preview_file(
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
            Err(e) => Err(e),
        }
    }

    /// The runbook an include step runs, with the inputs it would receive.
    fn preview_include(&self, i: usize, dry: bool) -> Result<String, String> {
        let (child, _) = self.plan.steps[i]
            .include
            .ok_or("the included runbook was not loaded")?;
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

    /// Goes through every step and shows what it would do; changes nothing, writes nothing.
    pub(super) async fn dry_run(&mut self) {
        let with_checks = matches!(self.mode, Mode::DryRun { with_checks: true });
        for i in 0..self.plan.steps.len() {
            if self.cancel.is_cancelled() {
                return;
            }
            let step = self.plan.step(i).clone();
            let scope = self.plan.steps[i].scope;
            let mut preview = self.describe(i).await;
            if let (Some(when), Some(holds)) = (&step.when, self.when_holds(i, true)) {
                let ctx = self.values.context(&self.plan, &self.state, scope, true);
                let values = when_values(&when.value, &ctx);
                let values = self.values.secrets().mask(&values).into_owned();
                match holds {
                    Ok(false) => {
                        preview.skip = Some(format!(
                            "would be skipped: `when: {}` is false{values}",
                            when.value
                        ))
                    }
                    Ok(true) => {}
                    Err(e) => {
                        preview.skip = Some(format!(
                            "`when: {}` cannot be decided yet{values}: {e}",
                            when.value
                        ))
                    }
                }
            }
            if let Some(script) = &step.skip_if {
                let shown = self
                    .render_script(i, script, true)
                    .map(|s| s.shown(|v| self.values.secrets().mask(v)));
                let placeholders = shown.as_ref().map_or(true, |s| needs_earlier(s));
                if with_checks && placeholders {
                    preview.skip = Some(
                        "`skip_if` not checked: it needs values that earlier steps would produce"
                            .into(),
                    );
                } else if with_checks {
                    preview.skip = match self.skip_check(i, script).await {
                        Ok(true) => Some("already satisfied: `skip_if` passes".into()),
                        Ok(false) => None,
                        Err(e) => Some(format!("`skip_if` could not be checked: {e}")),
                    };
                } else if preview.skip.is_none() {
                    preview.body = format!(
                        "{}\n(skipped if this passes: {})",
                        preview.body,
                        shown.as_deref().unwrap_or(script).trim()
                    );
                }
            }
            if with_checks && preview.skip.is_none() {
                self.dry_check(i, &step, &mut preview).await;
            }
            self.emit(Event::Preview { index: i, preview });
        }
    }

    /// In a dry run with `--with-checks`, runs read-only checks and read-only AWS actions.
    pub(super) async fn dry_check(
        &mut self,
        i: usize,
        step: &crate::runbook::Step,
        preview: &mut Preview,
    ) {
        if needs_earlier(&preview.body) {
            preview
                .body
                .push_str("\n=> not checked: it needs values that earlier steps would produce");
            return;
        }
        match step.kind() {
            StepKind::Check => {
                let a = self.script(i, None).await;
                let verdict = match a.status {
                    Status::Succeeded => "check passes now".to_string(),
                    _ => format!("check does not pass now: {}", a.message.unwrap_or_default()),
                };
                preview.body = format!("{}\n=> {verdict}", preview.body);
            }
            StepKind::Aws => {
                // Every action reads the current state and says what it would do.
                let Some(action) = self.plan.action(i) else {
                    return;
                };
                let scope = self.plan.steps[i].scope;
                let ctx = self.values.context(&self.plan, &self.state, scope, true);
                let params = match context::render_params(
                    step.with.as_deref().unwrap_or(&Value::Null),
                    action.scripts(),
                    &ctx,
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        preview.body = format!("{}\n=> not checked: {e}", preview.body);
                        return;
                    }
                };
                // Values that only earlier steps would produce may hide in masked parameters.
                if needs_earlier(&params.to_string()) {
                    preview.body.push_str(
                        "\n=> not checked: it needs values that earlier steps would produce",
                    );
                    return;
                }
                let verdict = match self.connect_aws(i).await {
                    Err(e) => format!("not checked: {e}"),
                    Ok(aws) => match action.plan(&aws, &params).await {
                        Ok(planned) => planned.text,
                        Err(e) => format!("not checked: {e}"),
                    },
                };
                let verdict = self.values.secrets().mask(&verdict).into_owned();
                preview.body = format!("{}\n=> {verdict}", preview.body);
            }
            _ => {}
        }
    }
}

/// A manual step's instructions, checklist and prompts.
fn preview_manual(step: &crate::runbook::Step, ctx: &minijinja::Value) -> Result<String, String> {
    let text = template::render(step.manual.as_deref().unwrap_or_default(), ctx)?;
    let mut body = text.trim_end().to_string();
    for item in &step.checklist {
        let item = template::render(item, ctx).unwrap_or_else(|_| item.clone());
        body.push_str(&format!("\n[ ] {item}"));
    }
    for (name, p) in &step.prompts {
        body.push_str(&format!(
            "\n? {} -> steps.{}.{name}",
            p.prompt, step.id.value
        ));
    }
    Ok(body)
}

/// The values a `when` expression reads, as a dry run shows them: ` (inputs.env = "dev")`.
pub(super) fn when_values(expr: &str, ctx: &minijinja::Value) -> String {
    let Ok(paths) = template::references(&format!("{{{{ {expr} }}}}")) else {
        return String::new();
    };
    let shown: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let v = template::render(&format!("{{{{ {path} }}}}"), ctx).ok()?;
            Some(format!("{path} = {}", serde_json::Value::String(v)))
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(", "))
    }
}

/// Whether a dry-run rendering still holds placeholders for values only a real run would have.
pub(super) fn needs_earlier(text: &str) -> bool {
    text.contains("<steps.") || text.contains("<inputs.")
}
