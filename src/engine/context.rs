//! The values templates see: inputs, earlier steps' outputs, the environment and the run.
//!
//! Secret inputs and secret outputs are kept here, in memory only. In a dry run, values that
//! only a real earlier step could produce are shown as readable placeholders such as
//! `<steps.launch.instance_id>`, so later steps still render.

use std::collections::HashMap;

use indexmap::IndexMap;
use minijinja::Value as Ctx;
use serde_json::{Map, Value, json};

use super::Secrets;
use crate::aws::AwsSettings;
use crate::runbook::load::declared_outputs;
use crate::runbook::{Plan, Work, script, template};
use crate::state::{InputValue, RunState};

/// Input values by name, each with whether it is secret.
pub type InputValues = IndexMap<String, (String, bool)>;

/// Values known to the run, beyond what its state records.
#[derive(Debug, Clone, Default)]
pub struct Values {
    run_name: String,
    inputs: InputValues,
    secret_outputs: HashMap<(String, String), String>,
    secrets: Secrets,
    env: Value,
    /// The current item of a `for_each` step.
    item: Option<String>,
}

impl Values {
    /// Values for a run with the given root inputs.
    pub fn new(run_name: &str, inputs: InputValues) -> Values {
        let mut secrets = Secrets::default();
        for (value, secret) in inputs.values() {
            if *secret {
                secrets.add(value);
            }
        }
        Values {
            run_name: run_name.to_string(),
            inputs,
            secret_outputs: HashMap::new(),
            secrets,
            env: env_value(),
            item: None,
        }
    }

    /// The secrets known so far.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Sets (or clears) the item a `for_each` step is at; templates see it as `item`.
    pub fn set_item(&mut self, item: Option<String>) {
        self.item = item;
    }

    /// Remembers a secret value, to mask it from now on.
    pub fn add_secret(&mut self, value: &str) {
        self.secrets.add(value);
    }

    /// Keeps a secret output in memory for later steps of this process.
    pub fn set_secret_output(&mut self, key: &str, name: &str, value: &str) {
        self.secrets.add(value);
        self.secret_outputs
            .insert((key.to_string(), name.to_string()), value.to_string());
    }

    /// The inputs a scope sees: the run's inputs for the root runbook; for an included one, the
    /// include step's `with` resolved in the including runbook, and its own defaults.
    pub fn resolve_scope_inputs(
        &self,
        plan: &Plan,
        state: &RunState,
        scope: usize,
        dry: bool,
    ) -> Result<InputValues, String> {
        let Some(parent) = plan.scopes[scope].parent else {
            return Ok(self.inputs.clone());
        };
        let parent_scope = plan.steps[parent].scope;
        let parent_ctx = self.context(plan, state, parent_scope, dry);
        let with = plan
            .step(parent)
            .with
            .as_deref()
            .cloned()
            .unwrap_or(Value::Null);
        let runbook = &plan.scopes[scope].runbook;
        let parent_secret = |text: &str| {
            // A value passed in is secret when it carries a secret of the including scope.
            self.secrets.appears_in(text)
        };
        let mut out = InputValues::new();
        for (name, spec) in &runbook.doc.inputs {
            let mut derived = false;
            let given = with.get(name);
            let value = match given {
                Some(v) => {
                    let rendered = render_value(v, &parent_ctx)?;
                    Some(match rendered {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                }
                None => match &spec.default {
                    Some(d) => {
                        let ctx = input_ctx(&out, &self.env, &self.run_name);
                        let value = template::render(&d.value, &ctx)
                            .map_err(|e| format!("default of input `{name}`: {}", e.message()))?;
                        derived |= derived_secret(&d.value, &value, &out);
                        Some(value)
                    }
                    None => None,
                },
            };
            let Some(value) = value else {
                if spec.required.unwrap_or(true) {
                    return Err(format!(
                        "input `{name}` of `{}` has no value",
                        runbook.path().display()
                    ));
                }
                continue;
            };
            if !dry || !value.contains('<') {
                super::check_value(
                    &value,
                    spec.pattern.as_ref().map(|p| p.value.as_str()),
                    &spec.choices,
                )
                .map_err(|e| format!("input `{name}` of `{}`: {e}", runbook.path().display()))?;
            }
            let secret = spec.secret || derived || parent_secret(&value);
            out.insert(name.clone(), (value, secret));
        }
        Ok(out)
    }

    /// The template context of a scope.
    pub fn context(&self, plan: &Plan, state: &RunState, scope: usize, dry: bool) -> Ctx {
        let inputs = self
            .resolve_scope_inputs(plan, state, scope, dry)
            .unwrap_or_default();
        let mut input_map = Map::new();
        for (k, (v, _)) in &inputs {
            input_map.insert(template::key(k), Value::String(v.clone()));
        }
        let steps = self.steps_of(plan, state, scope, dry, "steps.");
        let mut ctx = json!({
            "inputs": input_map,
            "steps": steps,
            "env": self.env,
            "run": { "name": self.run_name },
        });
        if let Some(item) = &self.item {
            ctx["item"] = Value::String(item.clone());
        }
        Ctx::from_serialize(ctx)
    }

    fn steps_of(
        &self,
        plan: &Plan,
        state: &RunState,
        scope: usize,
        dry: bool,
        prefix: &str,
    ) -> Map<String, Value> {
        let mut steps = Map::new();
        for (j, ps) in plan.steps.iter().enumerate() {
            if ps.scope != scope {
                continue;
            }
            let step = plan.step(j);
            let id = &step.id.value;
            if let Work::Include { scope: child, .. } = ps.work {
                let nested = self.steps_of(plan, state, child, dry, &format!("{prefix}{id}."));
                steps.insert(template::key(id), Value::Object(nested));
                continue;
            }
            let mut outputs = Map::new();
            if let Some(st) = state.steps.get(&ps.key) {
                for (k, v) in &st.outputs {
                    outputs.insert(template::key(k), v.clone());
                }
                for name in &st.secret_outputs {
                    let value = match self.secret_outputs.get(&(ps.key.clone(), name.clone())) {
                        Some(v) => v.clone(),
                        // Rendering this fails with a message that says what to do.
                        None => template::lost_secret(&ps.key, name),
                    };
                    outputs.insert(template::key(name), Value::String(value));
                }
            }
            if dry {
                for name in declared_outputs(step) {
                    outputs
                        .entry(template::key(&name))
                        .or_insert_with(|| Value::String(format!("<{prefix}{id}.{name}>")));
                }
            }
            if !outputs.is_empty() {
                steps.insert(template::key(id), Value::Object(outputs));
            }
        }
        steps
    }

    /// AWS settings for a step: the command line's, over the runbook's `aws` section.
    pub fn aws_settings(
        &self,
        plan: &Plan,
        state: &RunState,
        scope: usize,
        cli: &AwsSettings,
    ) -> Result<AwsSettings, String> {
        let mut settings = AwsSettings::default();
        let mut scopes = vec![0];
        if scope != 0 {
            scopes.push(scope);
        }
        for s in scopes {
            let Some(aws) = &plan.scopes[s].runbook.doc.aws else {
                continue;
            };
            let ctx = self.context(plan, state, s, false);
            let r = |v: &Option<crate::runbook::model::Spanned<String>>| -> Result<Option<String>, String> {
                v.as_ref()
                    .map(|v| template::render(&v.value, &ctx).map_err(|e| format!("runbook `aws` settings: {}", e.message())))
                    .transpose()
            };
            settings.region = r(&aws.region)?.or(settings.region);
            settings.profile = r(&aws.profile)?.or(settings.profile);
            settings.assume_role = r(&aws.assume_role)?.or(settings.assume_role);
            settings.expected_account = r(&aws.account)?.or(settings.expected_account);
            settings.session_duration = aws
                .session_duration
                .map(|d| d.0)
                .or(settings.session_duration);
        }
        if cli.region.is_some() {
            settings.region = cli.region.clone();
        }
        if cli.profile.is_some() {
            settings.profile = cli.profile.clone();
        }
        if cli.assume_role.is_some() {
            settings.assume_role = cli.assume_role.clone();
        }
        Ok(settings)
    }
}

/// Inputs as the run's state records them: a secret's value left out.
pub fn recorded(inputs: &InputValues) -> IndexMap<String, InputValue> {
    inputs
        .iter()
        .map(|(k, (v, secret))| {
            let value = if *secret {
                InputValue::Secret { secret: true }
            } else {
                InputValue::Value { value: v.clone() }
            };
            (k.clone(), value)
        })
        .collect()
}

/// Whether a value rendered from `template` is secret: it used a secret input, or it holds a
/// secret input's value. What is derived from a secret is a secret.
pub fn derived_secret(template_text: &str, value: &str, inputs: &InputValues) -> bool {
    let used = template::input_names(template_text);
    let uses_secret = inputs
        .iter()
        .any(|(k, (_, secret))| *secret && used.contains(&template::key(k)));
    uses_secret || holds_secret(value, inputs)
}

/// Whether a value holds the value of a secret input.
pub fn holds_secret(value: &str, inputs: &InputValues) -> bool {
    let mut secrets = Secrets::default();
    for (v, secret) in inputs.values() {
        if *secret {
            secrets.add(v);
        }
    }
    secrets.appears_in(value)
}

/// The context in which input defaults render: earlier inputs, the environment, the run.
pub fn input_ctx(inputs: &InputValues, env: &Value, run_name: &str) -> Ctx {
    let map: Map<String, Value> = inputs
        .iter()
        .map(|(k, (v, _))| (template::key(k), Value::String(v.clone())))
        .collect();
    Ctx::from_serialize(json!({ "inputs": map, "env": env, "run": { "name": run_name } }))
}

/// The process environment as template values.
pub fn env_value() -> Value {
    Value::Object(
        std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// Renders an AWS action's `with`: every string, and the parameters that are shell scripts
/// with each value quoted where it stands, so that it is data for the shell that runs them.
pub fn render_params(with: &Value, scripts: &[&str], ctx: &Ctx) -> Result<Value, String> {
    let Value::Object(map) = with else {
        return render_value(with, ctx);
    };
    let script = |v: &Value| -> Result<Value, String> {
        let one = |s: &str| script::render(s, ctx).map(|s| Value::String(s.inline()));
        match v {
            Value::String(s) => one(s),
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => one(s),
                    other => render_value(other, ctx),
                })
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => render_value(other, ctx),
        }
    };
    map.iter()
        .map(|(k, v)| {
            let rendered = if scripts.contains(&k.as_str()) {
                script(v)?
            } else {
                render_value(v, ctx)?
            };
            Ok((k.clone(), rendered))
        })
        .collect::<Result<_, String>>()
        .map(Value::Object)
}

/// Renders every string inside a JSON value.
pub fn render_value(value: &Value, ctx: &Ctx) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(template::render(s, ctx)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
