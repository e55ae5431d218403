//! Recording a step's state: each change goes to the run store durably before the engine
//! moves on; a finished step and the next one's start share one write.

use super::*;

impl Engine {
    /// Writes the state and a journal entry; nothing moves on until both are on disk.
    pub(super) fn record(
        &mut self,
        what: &str,
        index: Option<usize>,
        result: Option<&str>,
    ) -> Result<(), StoreError> {
        self.state.updated_at = Timestamp::now();
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let key = index.map(|i| self.plan.steps[i].key.clone());
        let masked = result.map(|r| self.values.secrets().mask(r).into_owned());
        store.record(&self.state, what, key.as_deref(), masked.as_deref())?;
        self.unsaved = false;
        for event in std::mem::take(&mut self.held) {
            self.emit(event);
        }
        Ok(())
    }

    /// Records that a step finished, to be written with the next write, which comes before
    /// anything else happens: the next step's start, a wait for a person, or the end of the
    /// run. A finished step and the start of the next one thus share one durable write,
    /// without the run moving on before its progress is on disk.
    pub(super) fn record_soon(
        &mut self,
        what: &str,
        index: usize,
        result: Option<&str>,
        event: Event,
    ) -> Result<(), StoreError> {
        self.state.updated_at = Timestamp::now();
        let Some(store) = self.store.as_mut() else {
            self.emit(event);
            return Ok(());
        };
        let key = &self.plan.steps[index].key;
        let masked = result.map(|r| self.values.secrets().mask(r).into_owned());
        store.journal(what, Some(key), masked.as_deref())?;
        self.unsaved = true;
        self.held.push(event);
        Ok(())
    }

    /// Writes what `record_soon` left in memory.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        if !self.unsaved {
            return Ok(());
        }
        self.state.updated_at = Timestamp::now();
        if let Some(store) = self.store.as_mut() {
            store.save(&self.state)?;
        }
        self.unsaved = false;
        for event in std::mem::take(&mut self.held) {
            self.emit(event);
        }
        Ok(())
    }

    pub(super) fn finished_event(&self, index: usize, elapsed: Duration) {
        let st = self
            .state
            .steps
            .get(&self.plan.steps[index].key)
            .cloned()
            .unwrap_or_default();
        self.emit(Event::StepFinished {
            index,
            status: st.status,
            outputs: st.outputs,
            elapsed,
            exit_code: st.exit_code,
            message: st.message,
        });
    }

    /// Records how a step ended and decides whether the run goes on.
    pub(super) fn finish(
        &mut self,
        i: usize,
        attempt: Attempt,
        hash: &str,
        started: Instant,
    ) -> Result<Flow, EngineError> {
        let key = self.key(i);
        let attempt = self.with_cut_log(i, attempt);
        let continue_on_error = self.plan.step(i).continue_on_error;
        let mut shown = IndexMap::new();
        let mut outputs = IndexMap::new();
        let mut secret_names = Vec::new();
        for (name, (value, secret)) in &attempt.outputs {
            // An output that holds a secret's value is a secret too.
            if *secret || self.values.secrets().appears_in(value) {
                self.values.set_secret_output(&key, name, value);
                secret_names.push(name.clone());
                shown.insert(name.clone(), Value::String(MASK.into()));
                // A `for_each` step showed each item's secret as it came.
                let per_item = self.plan.step(i).for_each.is_some();
                if self.terminal == Terminal::Available
                    && matches!(self.mode, Mode::Real)
                    && !per_item
                {
                    self.held.push(Event::SecretOnce {
                        index: i,
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            } else {
                outputs.insert(name.clone(), Value::String(value.clone()));
                shown.insert(name.clone(), Value::String(value.clone()));
            }
        }
        let message = attempt
            .message
            .map(|m| self.values.secrets().mask(&m).into_owned());
        {
            let st = self.step_state(i);
            st.status = attempt.status;
            st.exit_code = attempt.exit_code;
            st.finished_at = Some(Timestamp::now());
            st.outputs = outputs;
            st.secret_outputs = secret_names;
            st.definition_hash = hash.to_string();
            st.message = message.clone();
            st.continued = attempt.status == Status::Failed && continue_on_error;
            st.pgid = None;
            st.pgid_started = None;
        }
        // What the step was, kept for a diff if the runbook changes under it: written when it
        // ends, masked with every secret known by then (its own secret outputs too).
        if attempt.status.is_done()
            && let Some(store) = &self.store
        {
            store.keep_definition(hash, || {
                self.values
                    .secrets()
                    .mask(&self.plan.definition(i))
                    .into_owned()
            });
        }
        let what = format!("step.{}", attempt.status.as_str());
        let event = Event::StepFinished {
            index: i,
            status: attempt.status,
            outputs: shown,
            elapsed: started.elapsed(),
            exit_code: attempt.exit_code,
            message: message.clone(),
        };
        let goes_on = moved_past(&self.plan, i, attempt.status);
        if goes_on {
            self.record_soon(&what, i, message.as_deref(), event)?;
        } else {
            self.record(&what, Some(i), message.as_deref())?;
            self.emit(event);
        }
        Ok(match attempt.status {
            Status::Failed if continue_on_error => Flow::Next,
            Status::Failed => Flow::Stop(RunOutcome::Failed { key }),
            Status::Interrupted => Flow::Stop(RunOutcome::Interrupted { key: Some(key) }),
            Status::Waiting => Flow::Stop(RunOutcome::Waiting { key }),
            _ => Flow::Next,
        })
    }

    /// Says so, in the output and in the step's message, when the step's log was cut (the
    /// disk was full): the log does not hold all the step printed.
    pub(super) fn with_cut_log(&self, i: usize, mut attempt: Attempt) -> Attempt {
        let Some(store) = &self.store else {
            return attempt;
        };
        let path = store.log_path(&self.plan.steps[i].key);
        let Some(why) = outputs::take_cut(&path) else {
            return attempt;
        };
        let cut = format!(
            "the log {} was cut ({why}): it lacks the step's later output",
            path.display()
        );
        self.emit(Event::Output {
            index: i,
            stream: Stream::Info,
            line: cut.clone(),
        });
        attempt.message = Some(match attempt.message.take() {
            Some(m) => format!("{m}\n{cut}"),
            None => cut,
        });
        attempt
    }

    pub(super) fn skip_with_children(
        &mut self,
        i: usize,
        reason: &str,
        hash: &str,
    ) -> Result<(), EngineError> {
        let end = self.plan.include(i).map_or(i + 1, |(_, end)| end);
        for j in i..end {
            let hash = if j == i {
                hash.to_string()
            } else {
                self.plan.hash(j).to_string()
            };
            let st = self.step_state(j);
            st.status = Status::Skipped;
            st.definition_hash = hash;
            st.message = Some(reason.to_string());
            self.record("step.skipped", Some(j), Some(reason))?;
            self.finished_event(j, Duration::ZERO);
        }
        Ok(())
    }
}
