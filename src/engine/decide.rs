//! What a person decides about steps the run cannot go past alone: interrupted, changed and
//! left-running steps, and `--done`, `--skip`, `--rerun` given on the command line.

use super::*;

impl Engine {
    /// Steps that a person must decide about before the run can go on: steps interrupted by a
    /// crash, and finished steps whose definition changed since they ran.
    pub fn pending_decisions(&self) -> Vec<(usize, Need)> {
        let mut out = Vec::new();
        for (i, ps) in self.plan.steps.iter().enumerate() {
            let Some(st) = self.state.steps.get(&ps.key) else {
                continue;
            };
            match st.status {
                Status::Running | Status::Interrupted => {
                    let last_output = self.last_output(&ps.key, 10);
                    let need = match left_running(st) {
                        Some(g) => Need::StillRunning {
                            pgid: g.pgid,
                            last_output,
                        },
                        None => Need::Interrupted { last_output },
                    };
                    out.push((i, need));
                }
                Status::Succeeded | Status::Satisfied
                    if changed_since_it_ran(&self.plan, i, st) =>
                {
                    let diff = self.store.as_ref().and_then(|_| {
                        let old = crate::state::definition(&self.state.name, &st.definition_hash)?;
                        Some(
                            similar::TextDiff::from_lines(
                                old.as_str(),
                                &*self.values.secrets().mask(&self.plan.definition(i)),
                            )
                            .unified_diff()
                            .context_radius(2)
                            .header("as it ran", "as it is now")
                            .to_string(),
                        )
                    });
                    out.push((i, Need::Changed { diff }));
                }
                _ => {}
            }
        }
        out
    }

    /// The last lines of a step's log from its last attempt, read from its end: a log may be
    /// large.
    pub fn last_output(&self, key: &str, n: usize) -> Vec<String> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let mut lines = tail(&store.log_path(key), n);
        let mark = format!("stepwise: {}", super::ATTEMPT_MARK);
        if let Some(at) = lines.iter().rposition(|l| {
            l.strip_prefix(&mark)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        }) {
            lines.drain(..=at);
        }
        lines
    }

    /// Marks steps found `running` (the process driving them died) as interrupted, and forgets
    /// the process groups of steps whose processes have ended since.
    pub fn mark_interrupted(&mut self) -> Result<(), StoreError> {
        for i in 0..self.plan.steps.len() {
            let Some(st) = self.state.steps.get(&self.plan.steps[i].key) else {
                continue;
            };
            let group = left_running(st);
            let (running, recorded) = (st.status == Status::Running, st.pgid.is_some());
            if group.is_none() && recorded {
                let st = self.step_state(i);
                st.pgid = None;
                st.pgid_started = None;
                if !running {
                    st.message = Some("the process driving this step stopped before it finished, and its processes have ended since; it may have half-happened".into());
                }
                self.unsaved = true;
            }
            if !running {
                continue;
            }
            let st = self.step_state(i);
            st.status = Status::Interrupted;
            let result = match group {
                Some(g) => {
                    st.message = Some(format!(
                        "the process driving this step stopped before it finished; its processes (process group {}) are still running",
                        g.pgid
                    ));
                    format!(
                        "found running after the last process stopped; its process group {} is still running",
                        g.pgid
                    )
                }
                None => {
                    st.message = Some("the process running this step stopped before it finished; it may have half-happened".into());
                    "found running after the last process stopped".to_string()
                }
            };
            self.record("step.interrupted", Some(i), Some(&result))?;
        }
        self.flush()
    }

    /// Carries out what a person chose about steps whose processes were left running by a
    /// stepwise that died: waits for them to end, or stops them. Each choice is journaled.
    pub async fn settle_orphans(&mut self, choice: Orphan) -> Result<(), EngineError> {
        for i in 0..self.plan.steps.len() {
            let Some(group) = self
                .state
                .steps
                .get(&self.plan.steps[i].key)
                .and_then(left_running)
            else {
                continue;
            };
            let pgid = group.pgid;
            let ended = match choice {
                Orphan::Wait => {
                    self.record(
                        "step.orphan_wait",
                        Some(i),
                        Some(&format!("a person chose to wait for its processes left running (process group {pgid}) to end")),
                    )?;
                    self.note(
                        i,
                        &format!(
                            "waiting for its processes left running (process group {pgid}) to end"
                        ),
                    );
                    if !group.wait(&self.cancel).await {
                        return Ok(());
                    }
                    "its processes left running ended (how they ended is not known)"
                }
                Orphan::Stop => {
                    self.record(
                        "step.orphan_stop",
                        Some(i),
                        Some(&format!("a person chose to stop its processes left running (process group {pgid})")),
                    )?;
                    self.note(
                        i,
                        &format!(
                            "stopping its processes left running (process group {pgid}): SIGTERM, then SIGKILL after {}s",
                            group::GRACE.as_secs()
                        ),
                    );
                    if !group.stop().await {
                        return Err(EngineError::WontStop {
                            key: self.key(i),
                            pgid,
                        });
                    }
                    "its processes left running were stopped by a person"
                }
            };
            let st = self.step_state(i);
            st.pgid = None;
            st.pgid_started = None;
            st.message = Some(format!("{ended}; the step may have half-happened"));
            self.record("step.orphan_ended", Some(i), Some(ended))?;
            self.note(i, ended);
        }
        Ok(())
    }

    /// Applies a person's decisions about interrupted, changed, failed or waiting steps.
    pub fn apply_decisions(&mut self, decisions: &Decisions) -> Result<(), EngineError> {
        let mentioned = decisions
            .done
            .iter()
            .chain(decisions.skip.keys())
            .chain(decisions.rerun.iter())
            .chain(decisions.confirm.keys())
            .chain(decisions.outputs.keys());
        for key in mentioned {
            if self.plan.index_of(key).is_none() {
                let known: Vec<&str> = self.plan.steps.iter().map(|s| s.key.as_str()).collect();
                return Err(EngineError::Decision(crate::runbook::load::unknown(
                    "step", key, &known,
                )));
            }
        }
        for i in 0..self.plan.steps.len() {
            let key = self.key(i);
            let decided = decisions.rerun.contains(&key)
                || decisions.done.contains(&key)
                || decisions.skip.contains_key(&key);
            if decided && let Some(g) = self.state.steps.get(&key).and_then(left_running) {
                return Err(EngineError::StillRunning { key, pgid: g.pgid });
            }
        }
        for i in 0..self.plan.steps.len() {
            let key = self.key(i);
            let hash = self.plan.hash(i).to_string();
            let manual = matches!(self.plan.work(i), Work::Manual);
            let status = self.status_of(&key);
            if decisions.rerun.contains(&key) {
                let st = self.step_state(i);
                *st = StepState {
                    attempts: st.attempts,
                    ..StepState::default()
                };
                self.record("step.rerun", Some(i), Some("a person chose to re-run it"))?;
            } else if let Some(reason) = decisions.skip.get(&key) {
                // Skipping an include skips the steps inside it too.
                self.skip_with_children(i, &format!("skipped by a person: {reason}"), &hash)?;
            } else if decisions.done.contains(&key) && !manual {
                let changed = status.is_done();
                let st = self.step_state(i);
                st.definition_hash = hash;
                if changed {
                    self.record(
                        "step.reviewed",
                        Some(i),
                        Some("a person kept the result after the step changed"),
                    )?;
                } else {
                    st.status = Status::Succeeded;
                    st.message = Some("marked done by a person".into());
                    st.finished_at = Some(Timestamp::now());
                    self.record("step.marked_done", Some(i), Some("marked done by a person"))?;
                    self.finished_event(i, Duration::ZERO);
                }
            }
        }
        Ok(())
    }
}

/// The process group a step left running when the process driving it died, if it still runs.
pub(super) fn left_running(st: &StepState) -> Option<group::Group> {
    let group = group::Group {
        pgid: st.pgid?,
        started: st.pgid_started?,
    };
    group.alive().then_some(group)
}

/// The last `n` lines of a file, reading no more than such lines can take.
pub(super) fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    // A logged line is a piece of at most `MAX_LINE` bytes, a prefix and a newline.
    let most = (n as u64 + 1) * (shell::MAX_LINE as u64 + 64);
    let start = len.saturating_sub(most);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(most).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // Read from the middle of a line.
        lines.remove(0);
    }
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
