//! Plain mode: engine events printed as lines, and the `runs` and `status` listings.
//!
//! This is the front end for scripts, CI and terminals where the UI is not wanted. It reads
//! the same events the terminal UI reads.

mod check;
mod history;
mod status;
pub use check::{Asked, check, exit_status};
use history::{confirmations, step_details};
pub use history::{entry_line, log, prune, pull, push, rm, unlock};
pub use status::status;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::scalar;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::engine::{Backlog, Event, Need, RunOutcome, Stream};
use crate::error::{Result, exit};
use crate::out::{errln, outln};
use crate::runbook::{Plan, StepKind};
use crate::state::{self, InputValue, RunState, Status};

/// Prints engine events as lines on stdout.
pub struct Printer {
    plan: Arc<Plan>,
    run: String,
    dry: bool,
    /// Counts the output lines printed, so that the engine waits for a slow stdout.
    backlog: Option<Arc<Backlog>>,
}

/// What the run waits for, kept to say at the end how to continue.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub index: usize,
    pub need: Need,
}

impl Printer {
    /// A printer for a run.
    pub fn new(plan: Arc<Plan>, run: String, dry: bool) -> Printer {
        Printer {
            plan,
            run,
            dry,
            backlog: None,
        }
    }

    /// Counts the output lines printed in `backlog`.
    pub fn with_backlog(mut self, backlog: Arc<Backlog>) -> Printer {
        self.backlog = Some(backlog);
        self
    }

    /// The first lines: which run, which runbook, which mode.
    pub fn header(&self, state: &RunState, resuming: bool) {
        let rb = self.plan.root();
        if self.dry {
            outln!(
                "DRY RUN of {} ({}): nothing will be changed",
                rb.path().display(),
                rb.doc.title
            );
        } else if resuming {
            outln!(
                "resuming run {} of {} ({}): {}/{} done",
                self.run,
                rb.path().display(),
                rb.doc.title,
                state.done(),
                state.steps.len()
            );
        } else {
            outln!(
                "run {} of {} ({})",
                self.run,
                rb.path().display(),
                rb.doc.title
            );
        }
    }

    fn label(&self, index: usize) -> String {
        let ps = &self.plan.steps[index];
        let step = self.plan.step(index);
        let indent = "  ".repeat(ps.depth);
        format!(
            "{indent}[{}/{}] {}: {}",
            index + 1,
            self.plan.steps.len(),
            ps.key,
            step.title
        )
    }

    /// The step's description: why it is there.
    fn why(&self, out: &mut impl std::io::Write, index: usize) {
        let Some(description) = &self.plan.step(index).description else {
            return;
        };
        let pad = self.indent(index);
        for (n, line) in description.trim_end().lines().enumerate() {
            let lead = if n == 0 { "why: " } else { "     " };
            let _ = writeln!(out, "{pad}{lead}{line}");
        }
    }

    fn indent(&self, index: usize) -> String {
        "  ".repeat(self.plan.steps[index].depth + 1)
    }

    /// Prints events until the engine is gone; returns what the run waits for, if anything.
    pub async fn consume(self, mut rx: mpsc::UnboundedReceiver<Event>) -> Option<Waiting> {
        use std::io::Write;
        let mut waiting = None;
        let mut started = vec![false; self.plan.steps.len()];
        while let Some(event) = rx.recv().await {
            let mut out = crate::out::Stdout::lock();
            let _ = match event {
                Event::Identity(id) => writeln!(
                    out,
                    "AWS: acting as {} in account {} ({})",
                    id.arn, id.account, id.region
                ),
                // Only to a terminal: redirected output may end up in a file.
                Event::SecretOnce { index, name, value } if std::io::stdout().is_terminal() => {
                    writeln!(
                        out,
                        "{}secret {name}: {value}\n{}  (shown this once: it is kept in memory for this run only, never on disk)",
                        self.indent(index),
                        self.indent(index)
                    )
                }
                Event::SecretOnce { index, name, .. } => writeln!(
                    out,
                    "{}secret {name} not shown: the output is not a terminal",
                    self.indent(index)
                ),
                Event::StepStarted { index, attempt, .. } => {
                    started[index] = true;
                    let again = if attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    writeln!(out, "{}{again}", self.label(index))
                }
                Event::Output {
                    index,
                    stream,
                    line,
                } => {
                    let mark = match stream {
                        Stream::Stdout => "|",
                        Stream::Stderr => "!",
                        Stream::Info => "-",
                    };
                    let written = writeln!(out, "{}{mark} {line}", self.indent(index));
                    if let Some(b) = &self.backlog {
                        b.shown(&line);
                    }
                    written
                }
                Event::StepFinished {
                    index,
                    status,
                    outputs,
                    elapsed,
                    message,
                    ..
                } => {
                    if !started[index] {
                        let _ = writeln!(out, "{}", self.label(index));
                    }
                    self.finished(&mut out, index, status, &outputs, elapsed, message)
                }
                Event::Waiting { index, need } => {
                    let _ = writeln!(out, "{}", self.label(index));
                    self.why(&mut out, index);
                    let _ = self.need(&mut out, index, &need);
                    waiting = Some(Waiting { index, need });
                    Ok(())
                }
                // The terminal is not the printer's to lend: dropping the acknowledgement
                // lets an interactive step go on.
                Event::Terminal { .. } => Ok(()),
                Event::Preview { index, preview } => self.preview(&mut out, index, &preview),
            };
        }
        crate::out::flush();
        waiting
    }

    /// How a step ended, with its message and outputs.
    fn finished(
        &self,
        out: &mut impl std::io::Write,
        index: usize,
        status: crate::state::Status,
        outputs: &indexmap::IndexMap<String, serde_json::Value>,
        elapsed: Duration,
        message: Option<String>,
    ) -> std::io::Result<()> {
        let mut line = format!("{}= {}", self.indent(index), status.as_str());
        if !elapsed.is_zero() {
            line.push_str(&format!(" in {}", short_duration(elapsed)));
        }
        if let Some(m) = message {
            line.push_str(&format!(": {}", m.lines().next().unwrap_or_default()));
            for extra in m.lines().skip(1) {
                line.push_str(&format!("\n{}  {extra}", self.indent(index)));
            }
        }
        for (k, v) in outputs {
            line.push_str(&format!("\n{}  {k} = {}", self.indent(index), scalar(v)));
        }
        writeln!(out, "{line}")
    }

    /// What a step waits for a person to do.
    fn need(
        &self,
        out: &mut impl std::io::Write,
        index: usize,
        need: &Need,
    ) -> std::io::Result<()> {
        let pad = self.indent(index);
        match need {
            Need::Manual {
                instructions,
                checklist,
                prompts,
                problems,
                ..
            } => {
                for p in problems {
                    writeln!(out, "{pad}! {p}")?;
                }
                writeln!(out, "{pad}? waiting for a person:")?;
                for l in instructions.trim_end().lines() {
                    writeln!(out, "{pad}  {l}")?;
                }
                for item in checklist {
                    writeln!(out, "{pad}  [ ] {item}")?;
                }
                for (name, p) in prompts {
                    writeln!(out, "{pad}  answer: {} ({name})", p.prompt)?;
                }
                Ok(())
            }
            Need::Danger {
                text,
                preview,
                mismatched,
            } => {
                if *mismatched {
                    writeln!(
                        out,
                        "{pad}! the confirmation given with --confirm does not match; nothing was changed"
                    )?;
                }
                writeln!(out, "{pad}? DANGER: this step changes things; it will do:")?;
                for l in preview.lines() {
                    writeln!(out, "{pad}  {l}")?;
                }
                writeln!(out, "{pad}  to go ahead, type the confirmation: {text}")
            }
            Need::Interrupted { last_output } => {
                writeln!(
                    out,
                    "{pad}? interrupted: the process running this step stopped before it finished; it may have half-happened"
                )?;
                for l in last_output {
                    writeln!(out, "{pad}  | {l}")?;
                }
                Ok(())
            }
            Need::StillRunning { pgid, last_output } => {
                writeln!(
                    out,
                    "{pad}? still running: the stepwise process driving this step stopped, but its processes (process group {pgid}) go on; it is not started again beside them"
                )?;
                for l in last_output {
                    writeln!(out, "{pad}  | {l}")?;
                }
                Ok(())
            }
            Need::Changed { diff } => {
                writeln!(
                    out,
                    "{pad}? this finished step's definition changed since it ran; review it"
                )?;
                match diff {
                    Some(diff) => {
                        for l in diff.lines() {
                            writeln!(out, "{pad}  {l}")?;
                        }
                        Ok(())
                    }
                    None => writeln!(
                        out,
                        "{pad}  (its definition as it ran was not kept: no diff to show)"
                    ),
                }
            }
            Need::Terminal => writeln!(out, "{pad}? this step is interactive and needs a terminal"),
        }
    }

    /// What a step would do, in a dry run.
    fn preview(
        &self,
        out: &mut impl std::io::Write,
        index: usize,
        preview: &crate::engine::Preview,
    ) -> std::io::Result<()> {
        let step = self.plan.step(index);
        let pad = self.indent(index);
        writeln!(out, "{} ({})", self.label(index), step.kind().name())?;
        self.why(out, index);
        if let Some(skip) = &preview.skip {
            writeln!(out, "{pad}- {skip}")?;
        }
        if let Some(d) = &preview.danger {
            writeln!(out, "{pad}- DANGER: a person must type `{d}` to confirm")?;
        }
        if let Some(p) = &preview.problem {
            writeln!(out, "{pad}- cannot render yet: {p}")?;
        }
        let verb = match step.kind() {
            StepKind::Manual => "a person would be asked to:",
            StepKind::Run => "would run:",
            StepKind::Check => "would check (read-only):",
            StepKind::Aws => "would send:",
            StepKind::File => "would change:",
            StepKind::Include => "would include:",
        };
        if !preview.body.is_empty() {
            writeln!(out, "{pad}{verb}")?;
            for l in preview.body.lines() {
                writeln!(out, "{pad}  {l}")?;
            }
        }
        Ok(())
    }
}

fn short_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// Prints how the run ended and how to go on; returns the exit status.
pub fn finish(
    run: &str,
    state: &RunState,
    outcome: &RunOutcome,
    waiting: Option<&Waiting>,
    dry: bool,
) -> i32 {
    if dry {
        outln!("dry run complete: nothing was changed and no run was recorded");
        return exit::OK;
    }
    let progress = format!("{}/{} done", state.done(), state.steps.len());
    match outcome {
        RunOutcome::Completed => outln!("run {run} completed ({progress})"),
        RunOutcome::Failed { key } => {
            outln!("run {run} stopped: step {key} failed ({progress})");
            outln!(
                "  fix the cause, then `stepwise resume {run}` runs it again; or `--skip {key}=REASON` to go past it"
            );
        }
        RunOutcome::Interrupted { key } => {
            let at = key
                .as_deref()
                .map(|k| format!(" at {k}"))
                .unwrap_or_default();
            outln!("run {run} interrupted{at} ({progress}); state is saved");
            if let Some(k) = key {
                outln!(
                    "  `stepwise resume {run}` will ask whether to --rerun {k}, mark it --done, or --skip it"
                );
            }
        }
        RunOutcome::Waiting { key } => {
            outln!("run {run} is waiting at {key} ({progress}); state is saved");
            outln!("  to continue: {}", continue_hint(run, key, waiting));
        }
    }
    crate::error::run_status(outcome)
}

fn continue_hint(run: &str, key: &str, waiting: Option<&Waiting>) -> String {
    let base = format!("stepwise resume {run}");
    match waiting.map(|w| &w.need) {
        Some(Need::Manual { prompts, .. }) => {
            let mut s = format!("{base} --done {key}");
            for (name, _) in prompts {
                s.push_str(&format!(" --output {key}.{name}=<answer>"));
            }
            s
        }
        Some(Need::Danger { text, .. }) => format!(
            "{base} --confirm {key}={}",
            crate::runbook::script::word(text)
        ),
        Some(Need::Interrupted { .. }) => {
            format!("{base} --rerun {key}   (or --done {key}, or --skip {key}=REASON)")
        }
        Some(Need::StillRunning { .. }) => format!(
            "{base} --wait-orphan   (waits for them to end), or --stop-orphan (stops them); add --rerun {key}, --done {key} or --skip {key}=REASON to decide in the same go"
        ),
        Some(Need::Changed { .. }) => {
            format!("{base} --rerun {key}   (or --done {key} to keep its result)")
        }
        Some(Need::Terminal) => {
            format!("{base} in a terminal (or do it yourself and pass --done {key})")
        }
        None => base,
    }
}

/// A run as listed by `stepwise runs --json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub runbook: state::RunbookRef,
    pub done: usize,
    pub total: usize,
    /// `completed`, `waiting`, `failed`, `interrupted`, `running` or `in_progress`. `running`
    /// only while a process drives the run; a step found running without one is `interrupted`.
    pub status: &'static str,
    pub current_step: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// What `stepwise check` found when it last re-checked the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<state::LastCheck>,
}

/// "checked 2 days ago: drifted", for a run that was re-checked.
pub fn checked(s: &RunSummary, now: Timestamp) -> Option<String> {
    let c = s.last_check.as_ref()?;
    Some(format!("checked {}: {}", ago(c.at, now), c.result.as_str()))
}

/// Whether a process of a step's recorded process group still runs; not known here for a
/// run last driven on another machine (its processes are there).
fn group_alive(st: &RunState, s: &state::StepState) -> Option<bool> {
    if st.driven_elsewhere().is_some() {
        return None;
    }
    let group = crate::engine::group::Group {
        pgid: s.pgid?,
        started: s.pgid_started?,
    };
    Some(group.alive())
}

/// Whether a run is driven now, and whether its current step's processes still run.
#[derive(Debug, Serialize)]
pub struct Driving {
    /// A stepwise process drives the run now (holds its lock).
    pub driven: bool,
    /// Which one, as its lock file names it (`pid N by USER@HOST since TIME`).
    pub driver: Option<String>,
    /// For a current step that recorded its process group: whether a process of that group
    /// still runs (with `driven` false: processes left running by a stepwise that died).
    pub group_alive: Option<bool>,
}

/// Asks whether a run is driven now (without taking its lock), and looks at the process group
/// of its current step.
pub fn driving(st: &RunState) -> Driving {
    let driver = state::driver(&st.name);
    Driving {
        driven: driver.is_some(),
        driver,
        group_alive: st.current().and_then(|(_, s)| group_alive(st, s)),
    }
}

/// A run as listed by `stepwise runs --json`.
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    summary: RunSummary,
    #[serde(flatten)]
    driving: Driving,
}

/// Summarises a run's progress (asking whether a process drives it).
pub fn summary(st: &RunState) -> RunSummary {
    summarise(st, state::driver(&st.name).is_some())
}

/// Summarises a run's progress, `driven` or not by a process now.
fn summarise(st: &RunState, driven: bool) -> RunSummary {
    let current = st.current();
    let status = match current.map(|(_, s)| s.status) {
        None => "completed",
        Some(Status::Waiting) => "waiting",
        Some(Status::Failed) => "failed",
        Some(Status::Interrupted) => "interrupted",
        Some(Status::Running) if driven => "running",
        // Nothing drives it: the process that did died.
        Some(Status::Running) => "interrupted",
        Some(_) => "in_progress",
    };
    RunSummary {
        name: st.name.clone(),
        runbook: st.runbook.clone(),
        done: st.done(),
        total: st.steps.len(),
        status,
        current_step: current.map(|(k, _)| k.to_string()),
        created_at: st.created_at,
        updated_at: st.updated_at,
        last_check: st.last_check.clone(),
    }
}

/// "2 days ago".
pub fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    let (n, unit) = match secs {
        0..=59 => return "just now".into(),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// One line of progress: "7/12 done, waiting at request-exemption".
pub fn progress(s: &RunSummary) -> String {
    let mut text = format!("{}/{} done", s.done, s.total);
    match (&s.current_step, s.status) {
        (None, _) => text.push_str(", completed"),
        (Some(k), "in_progress") => text.push_str(&format!(", next: {k}")),
        (Some(k), status) => text.push_str(&format!(", {status} at {k}")),
    }
    text
}

/// `progress`, and what is left running when no stepwise drives the run.
fn progress_driven(s: &RunSummary, d: &Driving) -> String {
    let mut text = progress(s);
    if !d.driven && d.group_alive == Some(true) {
        text.push_str(" (no stepwise drives it, but its processes still run)");
    }
    text
}

/// `stepwise runs`. A run whose state cannot be read is listed as unreadable, with the path
/// and why (on stderr with `--json`, whose list holds readable runs only).
pub fn runs(json: bool, names: bool) -> Result<i32> {
    if names {
        for st in state::list().unwrap_or_default().into_iter().flatten() {
            outln!("{}", st.name);
        }
        return Ok(exit::OK);
    }
    let now = Timestamp::now();
    let mut summaries = Vec::new();
    let mut unreadable = Vec::new();
    for run in state::list()? {
        match run {
            Ok(st) => {
                let driving = driving(&st);
                summaries.push(Listed {
                    summary: summarise(&st, driving.driven),
                    driving,
                })
            }
            Err(e) => unreadable.push(e),
        }
    }
    if json {
        for e in &unreadable {
            errln!("warning: unreadable run: {}", e);
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&summaries).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    if summaries.is_empty() && unreadable.is_empty() {
        outln!("no runs yet; start one with `stepwise run RUNBOOK`");
        return Ok(exit::OK);
    }
    let names: Vec<String> = unreadable.iter().map(unreadable_name).collect();
    let width = summaries
        .iter()
        .map(|l| l.summary.name.len())
        .chain(names.iter().map(String::len))
        .max()
        .unwrap_or(4)
        .max(4);
    let rb_width = summaries
        .iter()
        .map(|l| l.summary.runbook.id.len())
        .max()
        .unwrap_or(7)
        .max(7);
    outln!("{:width$}  {:rb_width$}  PROGRESS", "RUN", "RUNBOOK");
    for Listed {
        summary: s,
        driving,
    } in &summaries
    {
        let checked = checked(s, now)
            .map(|c| format!(", {c}"))
            .unwrap_or_default();
        outln!(
            "{:width$}  {:rb_width$}  {}, {}{checked}",
            s.name,
            s.runbook.id,
            progress_driven(s, driving),
            ago(s.updated_at, now)
        );
    }
    for (name, e) in names.iter().zip(&unreadable) {
        outln!("{name:width$}  {:rb_width$}  unreadable: {}", "?", e);
    }
    Ok(exit::OK)
}

/// The name of an unreadable run: its folder's.
fn unreadable_name(e: &state::StoreError) -> String {
    use state::StoreError;
    if let StoreError::Unfinished { dir } = e {
        return dir
            .file_name()
            .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned());
    }
    let path = match e {
        StoreError::Corrupt { path, .. }
        | StoreError::UnknownVersion { path, .. }
        | StoreError::Io { path, .. } => path,
        _ => return "?".into(),
    };
    path.ends_with("state.json")
        .then(|| path.parent().and_then(|d| d.file_name()))
        .flatten()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "?".into())
}

/// One step as shown by `stepwise status --json`.
#[derive(Debug, Serialize)]
pub struct StepStatus {
    pub key: String,
    pub title: Option<String>,
    pub kind: Option<StepKind>,
    pub depth: usize,
    #[serde(flatten)]
    pub state: state::StepState,
    /// The step's definition changed since it ran.
    pub changed: bool,
    /// For a step that recorded its process group (`pgid`): whether a process of that group
    /// still runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_alive: Option<bool>,
}

/// A step's line in `stepwise status`: its status, key, title, and what is odd about it.
fn step_line(s: &StepStatus, driving: &Driving) -> String {
    let indent = "  ".repeat(s.depth);
    let mut line = format!("{indent}{:<11} {}", s.state.status.as_str(), s.key);
    if let Some(t) = &s.title {
        line.push_str(&format!("  {t}"));
    }
    if s.changed {
        line.push_str("  [changed since it ran]");
    }
    let found_running = s.state.status == Status::Running;
    match (&driving.driver, s.group_alive, s.state.pgid) {
        (Some(driver), _, _) if found_running => {
            line.push_str(&format!("  [driven by {driver}]"));
        }
        (None, Some(true), Some(pgid)) => line.push_str(&format!(
            "  [no stepwise drives it; its processes (process group {pgid}) still run]"
        )),
        (None, _, _) if found_running => {
            line.push_str("  [no stepwise drives it: the one that did stopped before it finished]");
        }
        _ => {}
    }
    if let Some(m) = &s.state.message {
        line.push_str(&format!("  ({})", m.lines().next().unwrap_or_default()));
    }
    line
}

/// `stepwise status RUN --json`.
#[derive(Debug, Serialize)]
pub struct RunStatus {
    #[serde(flatten)]
    pub summary: RunSummary,
    #[serde(flatten)]
    pub driving: Driving,
    pub workdir: std::path::PathBuf,
    pub inputs: indexmap::IndexMap<String, InputValue>,
    pub steps: Vec<StepStatus>,
}
