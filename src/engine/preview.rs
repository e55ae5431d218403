//! What a step would do, for a dry run, a danger confirmation and the detail pane.

use super::*;

impl Engine {
    /// What a step would do, with everything resolved that can be; a `for_each` step shows
    /// each item.
    pub(super) async fn describe(&mut self, i: usize) -> Preview {
        let Some(list) = self.plan.step(i).for_each.clone() else {
            return self.describe_once(i).await;
        };
        let items = match self.items(i, &list) {
            Ok(items) => items,
            Err(e) => {
                let mut p = self.describe_once(i).await;
                p.problem = Some(e);
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
        let dry = self.is_dry();
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
                Err(e) => preview.problem = Some(StepError::resolve("danger", e).message()),
            }
        }
        let result = match self.plan.work(i) {
            Work::Manual => manual::preview(&step, &ctx, self.status_of(&self.key(i)).is_done()),
            Work::Run | Work::Check => self.preview_script(&step, &ctx),
            Work::Aws(action) => self.preview_aws(i, action, &step, &ctx, dry).await,
            Work::File => self.preview_file(i, &step, &ctx, dry),
            Work::Include { scope, .. } => self.preview_include(scope, dry),
        };
        match result {
            Ok(body) => preview.body = self.values.secrets().mask(&body).into_owned(),
            Err(e) => preview.problem = Some(self.values.secrets().mask(&e).into_owned()),
        }
        preview
    }

    /// In a dry run with `--with-checks`, what a read-only look says now: a `check` runs, an
    /// AWS action reads the current state. Other kinds change things, so they are not tried.
    pub(super) async fn check_now(&mut self, i: usize, preview: &mut Preview) {
        if needs_earlier(&preview.body) {
            preview
                .body
                .push_str("\n=> not checked: it needs values that earlier steps would produce");
            return;
        }
        let verdict = match self.plan.work(i) {
            Work::Check => self.check_passes_now(i).await,
            Work::Aws(action) => self.aws_now(i, action).await,
            _ => return,
        };
        preview.body = format!("{}\n=> {verdict}", preview.body);
    }
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
