//! `manual` steps: instructions, a checklist and prompts for a person.

use super::*;

/// What the continue hint writes where an answer goes: never taken as one.
pub const ANSWER_PLACEHOLDER: &str = "<answer>";

/// A manual step's answers that were taken (by prompt: value, secret), the prompts not
/// answered, and the answers refused, and why.
type Answers = (IndexMap<String, (String, bool)>, Vec<String>, Vec<String>);

impl Engine {
    /// Checks the answers given to a manual step's prompts.
    fn answers(
        &mut self,
        step: &crate::runbook::Step,
        answers: &HashMap<String, String>,
    ) -> Answers {
        let mut missing = Vec::new();
        let mut problems = Vec::new();
        let mut outputs = IndexMap::new();
        for (name, prompt) in &step.prompts {
            if prompt.secret
                && let Some(v) = answers.get(name)
            {
                self.values.add_secret(v);
            }
            match answers.get(name) {
                None => missing.push(name.clone()),
                // The placeholder of the hint `--output STEP.NAME=<answer>`, given as it is.
                Some(value) if value == ANSWER_PLACEHOLDER => problems.push(format!(
                    "answer to `{name}`: `{ANSWER_PLACEHOLDER}` stands for your answer; give the answer itself"
                )),
                Some(value) => match check_value(
                    value,
                    prompt.pattern.as_ref().map(|p| p.value.as_str()),
                    &prompt.choices,
                ) {
                    Ok(()) => {
                        outputs.insert(name.clone(), (value.clone(), prompt.secret));
                    }
                    Err(e) => problems.push(format!("answer to `{name}`: {e}")),
                },
            }
        }
        (outputs, missing, problems)
    }

    /// A manual step: done when a person said so and answered its prompts.
    pub(super) fn manual(
        &mut self,
        i: usize,
        decisions: &Decisions,
        hash: &str,
    ) -> Result<Flow, EngineError> {
        let key = self.key(i);
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let answers = decisions.outputs.get(&key).cloned().unwrap_or_default();
        let (outputs, missing, problems) = self.answers(&step, &answers);
        if decisions.done.contains(&key) && missing.is_empty() && problems.is_empty() {
            let mut a = Attempt::new(Status::Succeeded);
            a.outputs = outputs;
            a.message = Some("confirmed done by a person".into());
            // Its time is from when it first waited for the person, as a resumed view shows it.
            let since = {
                let st = self.step_state(i);
                st.attempts += 1;
                *st.started_at.get_or_insert_with(Timestamp::now)
            };
            let waited = Timestamp::now()
                .duration_since(since)
                .try_into()
                .unwrap_or(Duration::ZERO);
            let started = Instant::now()
                .checked_sub(waited)
                .unwrap_or_else(Instant::now);
            return self.finish(i, a, hash, started);
        }
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let instructions = template::render(step.manual.as_deref().unwrap_or_default(), &ctx)
            .unwrap_or_else(|e| format!("(cannot resolve the instructions: {})", e.message()));
        let instructions = self.values.secrets().mask(&instructions).into_owned();
        let checklist: Vec<String> = step
            .checklist
            .iter()
            .map(|item| {
                let item = template::render(item, &ctx).unwrap_or_else(|_| item.clone());
                self.values.secrets().mask(&item).into_owned()
            })
            .collect();
        let problems: Vec<String> = problems
            .iter()
            .map(|p| self.values.secrets().mask(p).into_owned())
            .collect();
        let message = if !problems.is_empty() {
            problems.join("; ")
        } else if decisions.done.contains(&key) {
            format!("needs answers to: {}", missing.join(", "))
        } else {
            "waiting for a person".to_string()
        };
        let first = self.status_of(&key) != Status::Waiting;
        {
            let st = self.step_state(i);
            st.status = Status::Waiting;
            st.message = Some(message.clone());
            st.started_at.get_or_insert_with(Timestamp::now);
        }
        if first || decisions.done.contains(&key) {
            self.record("step.waiting", Some(i), Some(&message))?;
        }
        let prompts = step
            .prompts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.emit(Event::Waiting {
            index: i,
            need: Need::Manual {
                instructions,
                checklist,
                prompts,
                missing,
                problems,
            },
        });
        Ok(Flow::Stop(RunOutcome::Waiting { key }))
    }
}

/// A manual step's instructions, checklist and prompts.
pub(super) fn preview(
    step: &crate::runbook::Step,
    ctx: &minijinja::Value,
    done: bool,
) -> Result<String, String> {
    let text = template::render(step.manual.as_deref().unwrap_or_default(), ctx)?;
    let mut body = text.trim_end().to_string();
    // A step a person confirmed done had every item ticked.
    let tick = if done { "[x]" } else { "[ ]" };
    for item in &step.checklist {
        let item = template::render(item, ctx).unwrap_or_else(|_| item.clone());
        body.push_str(&format!("\n{tick} {item}"));
    }
    for (name, p) in &step.prompts {
        body.push_str(&format!(
            "\n? {} -> steps.{}.{name}",
            p.prompt, step.id.value
        ));
    }
    Ok(body)
}
