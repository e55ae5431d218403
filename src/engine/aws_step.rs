//! `aws` steps: connecting once (identity, account check, assumed roles), then the action.

use super::*;

impl Engine {
    /// Connects to AWS once, and reads and checks the identity before the first AWS step.
    pub(super) async fn connect_aws(&mut self, i: usize) -> Result<Arc<Aws>, StepError> {
        let scope = self.plan.steps[i].scope;
        let mut settings =
            self.values
                .aws_settings(&self.plan, &self.state, scope, &self.aws_settings)?;
        if let Some(role) = self.plan.step(i).assume_role.clone() {
            let role = self
                .render_in(i, &role)
                .map_err(|e| StepError::resolve("assume_role", e))?;
            settings.assume_role = Some(role);
        }
        let key = format!(
            "{:?}",
            (
                &settings.region,
                &settings.profile,
                &settings.assume_role,
                &settings.session_duration,
                &settings.expected_account
            )
        );
        if let Some(aws) = self.sessions.get(&key) {
            self.aws = Some(aws.clone());
            return Ok(aws.clone());
        }
        // The MFA device (the included runbook's over the root's), and what only the command
        // line and the front end know.
        for s in [0, scope] {
            if let Some(serial) = self.plan.scopes[s]
                .runbook
                .doc
                .aws
                .as_ref()
                .and_then(|a| a.mfa_serial.as_ref())
            {
                let ctx = self.values.context(&self.plan, &self.state, s, false);
                settings.mfa_serial = Some(
                    template::render(&serial.value, &ctx)
                        .map_err(|e| StepError::resolve("aws.mfa_serial", e))?,
                );
            }
        }
        settings.mfa_code = self.aws_settings.mfa_code.clone();
        settings.terminal = self.terminal == Terminal::Available;
        settings.preset = self.aws_settings.preset.clone();
        // Asking for an MFA code needs the terminal (a front end lends it).
        let asks = settings.terminal
            && settings.assume_role.is_some()
            && settings.mfa_serial.is_some()
            && settings.mfa_code.is_none();
        let lease = if asks {
            Some(self.lend_terminal(i).await)
        } else {
            None
        };
        let aws = Aws::connect(settings.clone()).await;
        drop(lease);
        let aws = aws?;
        aws.set_workdir(self.state.workdir.clone());
        let identity = aws.identity().await?;
        self.emit(Event::Identity(identity.clone()));
        if let Some(expected) = &settings.expected_account
            && expected != &identity.account
        {
            return Err(StepError::WrongAccount {
                account: identity.account.clone(),
                arn: identity.arn.clone(),
                expected: expected.clone(),
            });
        }
        self.sessions.insert(key, aws.clone());
        self.aws = Some(aws.clone());
        Ok(aws)
    }

    /// The request an action would send; before a change that needs a typed confirmation,
    /// what is there now beside what is wanted.
    pub(super) async fn preview_aws(
        &mut self,
        i: usize,
        action: &'static dyn aws::Action,
        step: &crate::runbook::Step,
        ctx: &minijinja::Value,
        dry: bool,
    ) -> Result<String, String> {
        let params = params(step, action, ctx)?;
        let req = action.request(&params);
        let mut body = serde_json::to_string_pretty(&req).unwrap_or_default();
        if !dry && action.danger().is_some() {
            let now = match self.connect_aws(i).await {
                Ok(aws) => action
                    .plan(&aws, &params)
                    .await
                    .map(|p| p.text)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.message()),
            };
            body.push_str(&match now {
                Ok(text) => format!("\n=> {text}"),
                Err(e) => format!("\n=> (cannot read the current state: {e})"),
            });
        }
        Ok(body)
    }

    /// What an action says it would do, having read the current state (a dry run's
    /// `--with-checks`); every action only reads in `plan`.
    pub(super) async fn aws_now(&mut self, i: usize, action: &'static dyn aws::Action) -> String {
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let ctx = self.values.context(&self.plan, &self.state, scope, true);
        let params = match params(&step, action, &ctx) {
            Ok(p) => p,
            Err(e) => return format!("not checked: {e}"),
        };
        // Values that only earlier steps would produce may hide in masked parameters.
        if preview::needs_earlier(&params.to_string()) {
            return "not checked: it needs values that earlier steps would produce".into();
        }
        let verdict = match self.connect_aws(i).await {
            Err(e) => format!("not checked: {}", e.message()),
            Ok(aws) => match action.plan(&aws, &params).await {
                Ok(planned) => planned.text,
                Err(e) => format!("not checked: {e}"),
            },
        };
        self.values.secrets().mask(&verdict).into_owned()
    }

    pub(super) async fn aws_step(&mut self, i: usize, action: &'static dyn aws::Action) -> Attempt {
        let step = self.plan.step(i).clone();
        let scope = self.plan.steps[i].scope;
        let ctx = self.values.context(&self.plan, &self.state, scope, false);
        let params = match params(&step, action, &ctx) {
            Ok(p) => p,
            Err(e) => return Attempt::failed(StepError::resolve("with", e)),
        };
        let aws = match self.connect_aws(i).await {
            Ok(a) => a,
            Err(e) => return Attempt::failed(e),
        };
        // An interactive action (an SSM session) has the terminal while it runs.
        let lease = if action.interactive() && self.terminal == Terminal::Available {
            Some(self.lend_terminal(i).await)
        } else {
            None
        };
        let result = match self.apply_polled(i, &step, action, &aws, &params).await {
            Ok(result) => result,
            Err(ended) => return ended,
        };
        drop(lease);
        match result {
            Ok(outcome) => self.outcome_attempt(i, &step, action, outcome),
            Err(e) => Attempt::failed(e),
        }
    }

    /// Applies an action; a checking action with `wait` is polled until it passes or its time
    /// is up, and `timeout` bounds each try. `Err` is the attempt a stop or a timeout ends with.
    async fn apply_polled(
        &mut self,
        i: usize,
        step: &crate::runbook::Step,
        action: &dyn aws::Action,
        aws: &Aws,
        params: &Value,
    ) -> Result<Result<aws::Outcome, aws::AwsError>, Attempt> {
        let started = Instant::now();
        let limit = step.timeout.map_or(Duration::MAX, |t| t.0);
        let mut tries = 0u32;
        loop {
            tries += 1;
            let result = tokio::select! {
                r = tokio::time::timeout(limit, action.apply(aws, params)) => match r {
                    Ok(r) => r,
                    Err(_) => return Err(Attempt::failed(format!("{}: no answer within {}", action.name(), humantime::format_duration(limit)))),
                },
                _ = self.cancel.cancelled() => {
                    return Err(Attempt { message: Some("interrupted while waiting for AWS".into()), ..Attempt::new(Status::Interrupted) });
                }
            };
            match (&result, &step.wait) {
                (Err(e), Some(w)) if e.code == aws::CHECK_FAILED => {
                    let elapsed = started.elapsed();
                    if !poll::again(w, elapsed) {
                        return Err(Attempt::failed(format!(
                            "{e}\nstill not passing after waiting {}",
                            w.timeout
                        )));
                    }
                    self.note(i, &poll::line(&e.message, tries, elapsed, w));
                    if let Some(stopped) = self.until_next_try(w).await {
                        return Err(stopped);
                    }
                }
                _ => return Ok(result),
            }
        }
    }

    /// What an action's result makes of the step: its outputs, and whether it changed
    /// anything (a read-only action always succeeds).
    fn outcome_attempt(
        &mut self,
        i: usize,
        step: &crate::runbook::Step,
        action: &dyn aws::Action,
        outcome: aws::Outcome,
    ) -> Attempt {
        match outputs::from_result(
            &step.outputs,
            action.outputs(),
            &outcome.result,
            &outcome.secret,
        ) {
            Ok(outputs) => {
                let status = if action.read_only() || outcome.changed {
                    Status::Succeeded
                } else {
                    Status::Satisfied
                };
                for (_, (v, secret)) in &outputs {
                    if *secret {
                        self.values.add_secret(v);
                    }
                }
                self.note(i, &outcome.summary);
                Attempt {
                    outputs,
                    // The first line; details were shown and logged above.
                    message: outcome.summary.lines().next().map(str::to_string),
                    ..Attempt::new(status)
                }
            }
            Err(e) => {
                self.note(i, &outcome.summary);
                Attempt::failed(e)
            }
        }
    }
}

/// An AWS step's `with`, resolved for its action (its scripts' values quoted in place).
pub(super) fn params(
    step: &crate::runbook::Step,
    action: &dyn aws::Action,
    ctx: &minijinja::Value,
) -> Result<Value, String> {
    context::render_params(
        step.with.as_deref().unwrap_or(&Value::Null),
        action.scripts(),
        ctx,
    )
}
