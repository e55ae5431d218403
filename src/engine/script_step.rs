//! `run` and `check` steps, and `skip_if`: a script resolved with its values in its
//! environment (see `runbook::script`), started held at its gate, streamed, its outputs taken.

use super::*;

/// How many of a read-only script's last output lines are kept, and how long each may be.
const TAIL_LINES: usize = 10;
const TAIL_WIDTH: usize = 300;

impl Engine {
    /// A script as bash would read it, with its environment; secrets masked.
    pub(super) fn preview_script(
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

    /// Whether a `check` passes now (a dry run's `--with-checks`).
    pub(super) async fn check_passes_now(&mut self, i: usize) -> String {
        let a = self.script(i, None).await;
        match a.status {
            Status::Succeeded => "check passes now".to_string(),
            _ => format!("check does not pass now: {}", a.message.unwrap_or_default()),
        }
    }

    /// Resolves a script in a step's scope: its text refers to its values, which go in its
    /// environment (see `runbook::script`).
    pub(super) fn render_script(
        &self,
        i: usize,
        text: &str,
        dry: bool,
    ) -> Result<script::Script, String> {
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, dry);
        script::render(text, &ctx)
    }

    pub(super) async fn skip_check(&mut self, i: usize, script: &str) -> Result<bool, StepError> {
        // The check may take a while: what is recorded so far goes to disk first.
        self.flush()?;
        let timeout = self.plan.step(i).timeout.map(|t| t.0);
        let (exit, _) = self.read_only(i, "skip_if", script, None, timeout).await?;
        Ok(matches!(exit, shell::Exit::Code(0)))
    }

    /// Runs a read-only script of step `i` (`skip_if`, a re-check) to its end, in the step's
    /// `cwd` and `env`, with `$STEPWISE_OUTPUT` at `output` (else `/dev/null`). Its output is
    /// not shown; its last lines are kept, each cut short (a script may write gigabytes).
    pub(super) async fn read_only(
        &mut self,
        i: usize,
        field: &str,
        text: &str,
        output: Option<&std::path::Path>,
        timeout: Option<Duration>,
    ) -> Result<(shell::Exit, Vec<String>), StepError> {
        let dry = self.is_dry();
        let script = self
            .render_script(i, text, dry)
            .map_err(|e| StepError::resolve(field, e))?;
        let step = self.plan.step(i).clone();
        let mut env = self.script_env(i, &step.env, output)?;
        env.extend(script.vars);
        let (tx, mut rx) = shell::lines();
        let run = shell::run(
            shell::Script {
                source: &script.source,
                env,
                cwd: self.cwd(i)?,
                timeout,
                capture: false,
            },
            tx,
            &self.cancel,
        );
        // Taken as it comes (the channel is bounded); only the last lines are kept.
        let tail = async {
            let mut tail = std::collections::VecDeque::new();
            while let Some((stream, line)) = rx.recv().await {
                if matches!(stream, Stream::Info) {
                    continue;
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.chars().take(TAIL_WIDTH).collect::<String>());
            }
            tail
        };
        let (ran, tail) = tokio::join!(run, tail);
        let (exit, _) = ran.map_err(StepError::Bash)?;
        Ok((exit, tail.into()))
    }

    /// The working directory of a step.
    pub(super) fn cwd(&self, i: usize) -> Result<PathBuf, StepError> {
        let step = self.plan.step(i);
        let base = self.state.workdir.clone();
        let Some(cwd) = &step.cwd else {
            return Ok(base);
        };
        let cwd = self
            .render_in(i, cwd)
            .map_err(|e| StepError::resolve("cwd", e))?;
        Ok(base.join(cwd))
    }

    /// The environment of a script: the step's `env`, and where to write outputs.
    pub(super) fn script_env(
        &self,
        i: usize,
        env: &IndexMap<String, String>,
        output_file: Option<&std::path::Path>,
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut out = vec![
            ("STEPWISE_RUN".to_string(), self.state.name.clone()),
            ("STEPWISE_STEP".to_string(), self.key(i)),
            (
                "STEPWISE_RUNBOOK_DIR".to_string(),
                // Absolute, also for a runbook given by a relative path.
                self.state
                    .workdir
                    .join(self.plan.runbook_of(i).dir())
                    .display()
                    .to_string(),
            ),
        ];
        let output =
            output_file.map_or_else(|| "/dev/null".to_string(), |f| f.display().to_string());
        out.push(("STEPWISE_OUTPUT".to_string(), output));
        for (k, v) in env {
            let v = self
                .render_in(i, v)
                .map_err(|e| StepError::resolve(format!("env.{k}"), e))?;
            out.push((k.clone(), v));
        }
        Ok(out)
    }

    /// Resolves a `run` or `check` step's script, environment and working directory.
    pub(super) fn prepare(&self, i: usize) -> Result<Prepared, StepError> {
        let step = self.plan.step(i);
        let source = step
            .run
            .as_deref()
            .or(step.check.as_deref())
            .unwrap_or_default();
        let dry = self.is_dry();
        let script = self
            .render_script(i, source, dry)
            .map_err(|e| StepError::Other(format!("cannot resolve the script: {e}")))?;
        // Only a step that declares outputs gets a file to write them to.
        let output_file = (!step.outputs.is_empty())
            .then(outputs::output_file)
            .transpose()?;
        let mut prepared = Prepared {
            source: script.source,
            env: Vec::new(),
            cwd: PathBuf::new(),
            timeout: step.timeout.map(|t| t.0),
            output_file,
            capture: step
                .outputs
                .values()
                .flatten()
                .any(|o| o.regex.is_some() || o.json.is_some()),
        };
        prepared.env = self.script_env(i, &step.env, prepared.output_file.as_deref())?;
        prepared.env.extend(script.vars);
        prepared.cwd = self.cwd(i)?;
        Ok(prepared)
    }

    /// Runs a `run` or `check` script, streaming its output, and extracts its outputs. `early`
    /// is the script already resolved and started, held until now. A check with `wait` is
    /// polled until it passes or its time is up.
    pub(super) async fn script(
        &mut self,
        i: usize,
        early: Option<(Prepared, shell::Held)>,
    ) -> Attempt {
        let step = self.plan.step(i).clone();
        let (prepared, mut held) = match early {
            Some((p, h)) => (p, Some(h)),
            None => match self.prepare(i) {
                Ok(p) => (p, None),
                Err(e) => return Attempt::failed(e),
            },
        };
        if step.interactive {
            return self.interactive_script(i, &prepared).await;
        }
        let mut log = self.step_log(i);
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let mut attempt = self
                .script_once(i, &step, &prepared, held.take(), &mut log)
                .await;
            if let (Some(w), Status::Failed) = (&step.wait, attempt.status)
                && matches!(self.plan.work(i), Work::Check)
            {
                let elapsed = started.elapsed();
                if poll::again(w, elapsed) {
                    let line = poll::line("check not passing yet", tries, elapsed, w);
                    log.line(Stream::Info, &line);
                    self.emit(Event::Output {
                        index: i,
                        stream: Stream::Info,
                        line,
                    });
                    if let Some(stopped) = self.until_next_try(w).await {
                        return stopped;
                    }
                    continue;
                }
                attempt.message = Some(format!("still failing after waiting {}", w.timeout));
            }
            return attempt;
        }
    }

    /// An interactive script: the terminal is handed to it; its output is not read.
    async fn interactive_script(&mut self, i: usize, prepared: &Prepared) -> Attempt {
        let lease = self.lend_terminal(i).await;
        let exit = shell::run_interactive(shell::Script {
            capture: false,
            ..prepared.script()
        })
        .await;
        drop(lease);
        prepared.remove_output_file();
        match exit {
            Ok(shell::Exit::Code(0)) => Attempt::new(Status::Succeeded),
            Ok(shell::Exit::Code(c)) => Attempt {
                exit_code: Some(c),
                ..Attempt::failed(format!("exited with status {c}"))
            },
            Ok(other) => Attempt::failed(format!("ended: {other:?}")),
            Err(e) => Attempt::failed(StepError::Bash(e)),
        }
    }

    /// One run of a script (started here, or `held` at its gate already), to its end.
    async fn script_once(
        &mut self,
        i: usize,
        step: &crate::runbook::Step,
        prepared: &Prepared,
        held: Option<shell::Held>,
        log: &mut outputs::StepLog,
    ) -> Attempt {
        let started_bash = match held {
            Some(h) => Ok(h),
            None => shell::spawn(&prepared.script()),
        };
        let held_bash = match started_bash {
            Ok(h) => h,
            Err(e) => {
                prepared.remove_output_file();
                return Attempt::failed(StepError::Bash(e));
            }
        };
        if let Err(e) = self.record_group(i, &held_bash) {
            prepared.remove_output_file();
            return Attempt::failed(e);
        }
        // Output of a step with secret outputs is held back until the secrets are known, so
        // that they are masked even on the first line that shows them.
        let hold = step
            .outputs
            .values()
            .any(|o| o.as_ref().is_some_and(|o| o.secret));
        let (tx, rx) = shell::lines();
        let run = shell::wait(held_bash, tx, &self.cancel);
        let (result, (held, not_held)) = tokio::join!(run, self.stream(i, rx, hold, log));
        let attempt = match result {
            Ok((exit, stdout)) => exit_attempt(
                exit,
                &stdout,
                step,
                prepared.output_file.as_deref(),
                prepared.timeout,
            ),
            Err(e) => Attempt::failed(StepError::Bash(e)),
        };
        prepared.remove_output_file();
        for (_, (value, secret)) in &attempt.outputs {
            if *secret {
                self.values.add_secret(value);
            }
        }
        self.show_held(i, held, not_held, log);
        attempt
    }

    /// A script started here (a retry, a poll, an item) has its process group on disk before
    /// it passes its gate, as the first one has with the "running" state.
    fn record_group(&mut self, i: usize, held: &shell::Held) -> Result<(), String> {
        let Some(g) = held.pid().and_then(group::Group::of) else {
            return Ok(());
        };
        let st = self.step_state(i);
        if st.pgid == Some(g.pgid) && st.pgid_started == Some(g.started) {
            return Ok(());
        }
        st.pgid = Some(g.pgid);
        st.pgid_started = Some(g.started);
        self.unsaved = true;
        self.flush()
            .map_err(|e| format!("cannot record the step's process group: {e}"))
    }

    /// Shows and logs a script's lines as they come, masked; or, with `hold`, keeps them (up
    /// to `MAX_HELD` bytes) to show once the secrets are known. Returns the lines kept and how
    /// many were not.
    async fn stream(
        &self,
        i: usize,
        mut rx: mpsc::Receiver<(Stream, String)>,
        hold: bool,
        log: &mut outputs::StepLog,
    ) -> (Vec<(Stream, String)>, usize) {
        let mut held = Vec::new();
        let mut held_bytes = 0;
        let mut not_held = 0;
        while let Some((stream, line)) = rx.recv().await {
            if hold {
                if held_bytes + line.len() <= MAX_HELD {
                    held_bytes += line.len();
                    held.push((stream, line));
                } else {
                    not_held += 1;
                }
                continue;
            }
            let line = self.values.secrets().mask(&line).into_owned();
            log.line(stream, &line);
            if let Some(b) = &self.backlog
                && !b.room(&self.events, &self.cancel).await
            {
                continue;
            }
            self.emit(Event::Output {
                index: i,
                stream,
                line,
            });
        }
        (held, not_held)
    }

    /// Shows and logs the lines held back, now masked with the step's own secrets too.
    fn show_held(
        &self,
        i: usize,
        mut held: Vec<(Stream, String)>,
        not_held: usize,
        log: &mut outputs::StepLog,
    ) {
        if not_held > 0 {
            held.push((
                Stream::Info,
                format!(
                    "{not_held} more lines were not kept: a step with secret outputs keeps its output until the secrets are known, at most {} MiB of it",
                    MAX_HELD / (1024 * 1024)
                ),
            ));
        }
        for (stream, line) in held {
            let line = self.values.secrets().mask(&line).into_owned();
            log.line(stream, &line);
            self.emit(Event::Output {
                index: i,
                stream,
                line,
            });
        }
    }
}

/// A `run` or `check` script, resolved and ready to start.
pub(super) struct Prepared {
    source: String,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    timeout: Option<Duration>,
    output_file: Option<PathBuf>,
    /// Outputs are taken from stdout (by regex or JSON path): it is kept.
    capture: bool,
}

/// How a script ended, as an attempt: its outputs when it succeeded.
fn exit_attempt(
    exit: shell::Exit,
    stdout: &str,
    step: &crate::runbook::Step,
    output_file: Option<&std::path::Path>,
    timeout: Option<Duration>,
) -> Attempt {
    let mut attempt = match exit {
        shell::Exit::Code(0) => match outputs::extract(&step.outputs, stdout, output_file) {
            Ok(outputs) => Attempt {
                outputs,
                ..Attempt::new(Status::Succeeded)
            },
            Err(e) => Attempt {
                exit_code: Some(0),
                ..Attempt::failed(e)
            },
        },
        shell::Exit::Code(c) => Attempt {
            exit_code: Some(c),
            ..Attempt::failed(format!("exited with status {c}"))
        },
        shell::Exit::Signal(s) => Attempt::failed(format!("killed by signal {s}")),
        shell::Exit::TimedOut => Attempt::failed(format!(
            "timed out after {}; its process group was stopped",
            humantime::format_duration(timeout.unwrap_or_default())
        )),
        shell::Exit::Cancelled => Attempt {
            message: Some("interrupted; its process group was stopped".into()),
            ..Attempt::new(Status::Interrupted)
        },
    };
    if attempt.status == Status::Succeeded {
        attempt.exit_code = Some(0);
    }
    attempt
}

impl Prepared {
    /// Removes the file the script wrote its outputs to (it has been read).
    fn remove_output_file(&self) {
        if let Some(f) = &self.output_file {
            let _ = std::fs::remove_file(f);
        }
    }

    pub(super) fn script(&self) -> shell::Script<'_> {
        shell::Script {
            source: &self.source,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            timeout: self.timeout,
            capture: self.capture,
        }
    }
}

impl Drop for Prepared {
    /// The output file goes with the script, however the step ended.
    fn drop(&mut self) {
        if let Some(f) = &self.output_file {
            outputs::remove_output_file(f);
        }
    }
}

/// The most output a step with secret outputs keeps until its secrets are known.
pub(super) const MAX_HELD: usize = 16 * 1024 * 1024;
