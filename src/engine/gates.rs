//! What stands between a step and its work: `when`, `skip_if`, a terminal for an interactive
//! step, and `danger`'s typed confirmation. Each gate says what it decided as a `Verdict`;
//! `settle` carries the verdict out as the mode says: recorded in a real run, shown in a dry
//! run. The gates are written once for both.

use super::*;

/// What a gate before a step's work decided.
pub(super) enum Verdict {
    /// The step goes on to its work.
    Go,
    /// The step goes on; a dry run shows this under what it would do.
    Note(String),
    /// The step is skipped, with an include's steps.
    Skip(String),
    /// The step is already satisfied; its work is not needed.
    Satisfied(String),
    /// The step fails before its work.
    Fail(String),
    /// A dry run cannot tell whether the step would run, and says why.
    Undecided(String),
    /// The step waits for a person.
    Wait { message: String, need: Need },
}

/// The gates, in the order a step meets them.
#[derive(Clone, Copy)]
pub(super) enum Gate {
    When,
    SkipIf,
    /// Checked after `skip_if`: an interactive step already satisfied needs no terminal.
    Terminal,
    Danger,
}

impl Gate {
    pub(super) const ALL: [Gate; 4] = [Gate::When, Gate::SkipIf, Gate::Terminal, Gate::Danger];
}

impl Engine {
    pub(super) fn is_dry(&self) -> bool {
        matches!(self.mode, Mode::DryRun { .. })
    }

    /// What one gate decides about step `i`.
    pub(super) async fn gate(
        &mut self,
        gate: Gate,
        i: usize,
        decisions: &Decisions,
    ) -> Result<Verdict, EngineError> {
        Ok(match gate {
            Gate::When => self.when_gate(i),
            Gate::SkipIf => self.skip_if_gate(i).await,
            Gate::Terminal => self.terminal_gate(i),
            Gate::Danger => self.danger_gate(i, decisions).await?,
        })
    }

    /// Carries out a verdict: in a real run it is recorded (and may end the step's turn with
    /// a flow of its own); in a dry run it goes into what the step would do.
    pub(super) fn settle(
        &mut self,
        i: usize,
        verdict: Verdict,
        hash: &str,
        started: Instant,
        shown: &mut Option<Preview>,
    ) -> Result<Option<Flow>, EngineError> {
        if let Some(preview) = shown {
            match verdict {
                Verdict::Go => return Ok(None),
                Verdict::Note(note) => {
                    preview.body = format!("{}\n{note}", preview.body);
                    return Ok(None);
                }
                Verdict::Skip(reason) => preview.skip = Some(format!("would be skipped: {reason}")),
                Verdict::Satisfied(text)
                | Verdict::Fail(text)
                | Verdict::Undecided(text)
                | Verdict::Wait { message: text, .. } => preview.skip = Some(text),
            }
            return Ok(Some(Flow::Next));
        }
        match verdict {
            Verdict::Go | Verdict::Note(_) => Ok(None),
            Verdict::Skip(reason) => {
                self.skip_with_children(i, &reason, hash)?;
                Ok(Some(Flow::Next))
            }
            Verdict::Satisfied(text) => {
                let mut a = Attempt::new(Status::Satisfied);
                a.message = Some(text);
                self.finish(i, a, hash, started).map(Some)
            }
            Verdict::Fail(text) | Verdict::Undecided(text) => self
                .finish(i, Attempt::failed(text), hash, started)
                .map(Some),
            Verdict::Wait { message, need } => {
                let st = self.step_state(i);
                st.status = Status::Waiting;
                st.message = Some(message.clone());
                self.record("step.waiting", Some(i), Some(&message))?;
                self.emit(Event::Waiting { index: i, need });
                Ok(Some(Flow::Stop(RunOutcome::Waiting { key: self.key(i) })))
            }
        }
    }

    /// `when`: a false condition skips the step (an include's steps with it). A dry run
    /// decides it with placeholders for what earlier steps would produce, and shows the values
    /// it read.
    fn when_gate(&self, i: usize) -> Verdict {
        let Some(when) = &self.plan.step(i).when else {
            return Verdict::Go;
        };
        let dry = self.is_dry();
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, dry);
        let values = if dry {
            let values = preview::when_values(&when.value, &ctx);
            self.values.secrets().mask(&values).into_owned()
        } else {
            String::new()
        };
        match template::eval_condition(&when.value, &ctx) {
            Ok(true) => Verdict::Go,
            Ok(false) => Verdict::Skip(format!("`when: {}` is false{values}", when.value)),
            Err(e) if dry => Verdict::Undecided(format!(
                "`when: {}` cannot be decided yet{values}: {}",
                when.value,
                e.message()
            )),
            Err(e) => Verdict::Fail(format!("cannot evaluate `when`: {}", e.message())),
        }
    }

    /// `skip_if`: a script that passes makes the step satisfied without running it. A dry run
    /// runs it only with `--with-checks`, and only when it needs no value of an earlier step;
    /// otherwise it shows it.
    async fn skip_if_gate(&mut self, i: usize) -> Verdict {
        let Some(script) = self.plan.step(i).skip_if.clone() else {
            return Verdict::Go;
        };
        let (passed, not_checked) = match self.mode {
            Mode::Real => ("already satisfied: `skip_if` passed", None),
            Mode::DryRun { with_checks } => {
                let shown = self
                    .render_script(i, &script, true)
                    .map(|s| s.shown(|v| self.values.secrets().mask(v)));
                let placeholders = shown.as_ref().map_or(true, |s| preview::needs_earlier(s));
                if !with_checks {
                    let shown = shown.as_deref().unwrap_or(&script).trim();
                    return Verdict::Note(format!("(skipped if this passes: {shown})"));
                }
                if placeholders {
                    return Verdict::Undecided(
                        "`skip_if` not checked: it needs values that earlier steps would produce"
                            .into(),
                    );
                }
                (
                    "already satisfied: `skip_if` passes",
                    Some("`skip_if` could not be checked"),
                )
            }
        };
        match self.skip_check(i, &script).await {
            Ok(true) => Verdict::Satisfied(passed.into()),
            Ok(false) => Verdict::Go,
            Err(e) => match not_checked {
                Some(what) => Verdict::Undecided(format!("{what}: {}", e.message())),
                None => Verdict::Fail(e.message()),
            },
        }
    }

    /// An interactive script waits for a terminal when none is there.
    fn terminal_gate(&self, i: usize) -> Verdict {
        if self.is_dry()
            || !matches!(self.plan.work(i), Work::Run)
            || !self.plan.step(i).interactive
            || self.terminal == Terminal::Available
        {
            return Verdict::Go;
        }
        Verdict::Wait {
            message: "needs a terminal".into(),
            need: Need::Terminal,
        }
    }

    /// `danger`: the step waits, showing what it would change, until the person typed its
    /// confirmation text. A dry run shows the text in the step's preview instead.
    async fn danger_gate(
        &mut self,
        i: usize,
        decisions: &Decisions,
    ) -> Result<Verdict, EngineError> {
        let Some(text) = self.plan.step(i).danger.clone() else {
            return Ok(Verdict::Go);
        };
        if self.is_dry() {
            return Ok(Verdict::Go);
        }
        let key = self.key(i);
        let text = match self.render_in(i, &text) {
            Ok(t) => t,
            Err(e) => return Ok(Verdict::Fail(StepError::resolve("danger", e).message())),
        };
        if decisions.confirm.get(&key).map(String::as_str) == Some(text.as_str()) {
            self.record(
                "step.confirmed",
                Some(i),
                Some("a person typed the confirmation"),
            )?;
            return Ok(Verdict::Go);
        }
        let described = self.describe(i).await;
        let preview = match described.problem {
            Some(p) if described.body.is_empty() => format!("(cannot show the change: {p})"),
            _ => described.body,
        };
        let mismatched = decisions.confirm.contains_key(&key);
        let message = if mismatched {
            "the confirmation typed does not match; nothing was changed"
        } else {
            "needs a typed confirmation"
        };
        Ok(Verdict::Wait {
            message: message.into(),
            need: Need::Danger {
                text,
                preview,
                mismatched,
            },
        })
    }
}
