//! Re-checking a finished run (`stepwise check`): the read-only part of every done step runs
//! again and says whether what the step made true still holds. Nothing that changes anything
//! runs: a `run` step takes part only through its `skip_if` or its `recheck` script, an AWS
//! action only reads (`Action::recheck`, or a read-only action), and a `file` step is compared.
//! Nothing is written to the step's log or state; the command records one journal entry and
//! the time of the check (see `last_check`).

use serde::Serialize;

use super::*;
use crate::runbook::Recheck;
use crate::state::{Held, LastCheck};

/// How long a re-checking script may take when its step sets no `timeout`.
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);

/// What re-checking one step found.
#[derive(Debug, Clone, Serialize)]
pub struct StepCheck {
    pub key: String,
    pub title: String,
    pub kind: &'static str,
    pub status: Held,
    /// What was found, or why it could not be told (secrets masked).
    pub text: String,
    /// What is there now, when it can be said in a line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// What the step made it (and wants it to be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<String>,
    /// A unified diff, wanted against current (a `file` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// How many days what the step made true still holds, when it says (an access key's age).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
}

/// What one look found, before it is put with its step.
struct Found {
    status: Held,
    text: String,
    current: Option<String>,
    wanted: Option<String>,
    diff: Option<String>,
    days_left: Option<i64>,
}

impl Found {
    fn new(status: Held, text: impl Into<String>) -> Found {
        Found {
            status,
            text: text.into(),
            current: None,
            wanted: None,
            diff: None,
            days_left: None,
        }
    }
}

impl Engine {
    /// Re-checks every step of the run, in plan order. A step found drifted that uses what an
    /// earlier step found, which could not be checked, is unknown too: with the wrong
    /// credentials, a zone not found is not a zone gone.
    pub async fn recheck_all(&mut self) -> Vec<StepCheck> {
        let mut all: Vec<StepCheck> = Vec::with_capacity(self.plan.steps.len());
        for i in 0..self.plan.steps.len() {
            if self.cancel.is_cancelled() {
                break;
            }
            let mut check = self.recheck(i).await;
            if check.status == Held::Drifted
                && let Some(j) = self
                    .used_steps(i)
                    .into_iter()
                    .find(|&j| all.get(j).is_some_and(|c| c.status == Held::Unknown))
            {
                check.status = Held::Unknown;
                check.text = format!(
                    "it uses what step `{}` found, which could not be checked; it says: {}",
                    all[j].key, check.text
                );
            }
            all.push(check);
        }
        all
    }

    /// The earlier steps whose outputs step `i` uses (`steps.ID...`, and `steps.INCLUDE.ID...`
    /// for a step of an included runbook).
    fn used_steps(&self, i: usize) -> Vec<usize> {
        // Ids and paths compared as templates spell them (`template::key`).
        let find = |scope: usize, id: &str| {
            (0..i).find(|&j| {
                self.plan.steps[j].scope == scope
                    && template::key(&self.plan.step(j).id.value) == id
            })
        };
        let mut texts = Vec::new();
        strings(
            &serde_json::to_value(self.plan.step(i)).unwrap_or_default(),
            &mut texts,
        );
        let mut used = Vec::new();
        for text in texts.iter().filter(|t| template::is_template(t)) {
            for path in template::references(text).unwrap_or_default() {
                let parts: Vec<String> = path.split('.').map(template::key).collect();
                if parts.first().map(String::as_str) != Some("steps") || parts.len() < 2 {
                    continue;
                }
                let Some(j) = find(self.plan.steps[i].scope, &parts[1]) else {
                    continue;
                };
                used.push(j);
                if let (Work::Include { scope, .. }, Some(inner)) =
                    (self.plan.work(j), parts.get(2))
                    && let Some(k) = find(scope, inner)
                {
                    used.push(k);
                }
            }
        }
        used
    }

    /// Re-checks one step: whether what it made true when it ran still holds.
    pub async fn recheck(&mut self, i: usize) -> StepCheck {
        let mut found = self.recheck_found(i).await;
        let changed = self
            .state
            .steps
            .get(&self.plan.steps[i].key)
            .is_some_and(|st| changed_since_it_ran(&self.plan, i, st));
        if changed && found.status != Held::Unchecked {
            found.text.push_str(
                "\n(the step changed in the runbook since it ran: it was checked as the runbook has it now)",
            );
        }
        let step = self.plan.step(i);
        let mask = |s: String| self.values.secrets().mask(&s).into_owned();
        StepCheck {
            key: self.key(i),
            title: step.title.clone(),
            kind: step.kind().name(),
            status: found.status,
            text: mask(found.text),
            current: found.current.map(mask),
            wanted: found.wanted.map(mask),
            diff: found.diff.map(mask),
            days_left: found.days_left,
        }
    }

    async fn recheck_found(&mut self, i: usize) -> Found {
        let status = self.status_of(&self.key(i));
        if status == Status::Skipped {
            return Found::new(Held::Unchecked, "it was skipped");
        }
        if !status.is_done() {
            return Found::new(
                Held::Unchecked,
                format!("not done: it is {}", status.as_str()),
            );
        }
        let step = self.plan.step(i).clone();
        let what = match (&step.recheck, self.plan.work(i)) {
            (Some(Recheck::Off), _) => {
                return Found::new(Held::Unchecked, "`recheck: false`: it is not re-checked");
            }
            (_, Work::Include { .. }) => {
                return Found::new(
                    Held::Unchecked,
                    "an include: its runbook's steps are re-checked each",
                );
            }
            (Some(r), _) if r.script().is_some() => {
                Look::Script("recheck", r.script().unwrap_or_default().to_string())
            }
            (_, Work::Check) => Look::Script("check", step.check.clone().unwrap_or_default()),
            (_, Work::Run) => match &step.skip_if {
                Some(s) => Look::Script("skip_if", s.clone()),
                None => {
                    return Found::new(
                        Held::Unchecked,
                        "a `run` step is re-checked only through its `skip_if` or a `recheck` script: its own script changes things",
                    );
                }
            },
            (_, Work::Manual) => {
                return Found::new(
                    Held::Unchecked,
                    "a manual step is re-checked only with a `recheck` script",
                );
            }
            (_, Work::File) => Look::File,
            (_, Work::Aws(action)) => match action.not_rechecked() {
                Some(why) => {
                    return Found::new(Held::Unchecked, format!("{}: {why}", action.name()));
                }
                None => Look::Aws(action),
            },
        };
        if !matches!(what, Look::Aws(_))
            && let Some(there) = self.state.driven_elsewhere()
        {
            return Found::new(
                Held::Unknown,
                format!(
                    "the run was last driven on {}: the files its steps made are there, not here",
                    there.host
                ),
            );
        }
        match step.for_each.clone() {
            None => self.look(i, &what).await,
            Some(list) => self.look_each(i, &what, &list).await,
        }
    }

    /// A `for_each` step: each item looked at; the worst decides, and each says its part.
    async fn look_each(&mut self, i: usize, what: &Look, list: &str) -> Found {
        let items = match self.items(i, list) {
            Ok(items) => items,
            Err(e) => return Found::new(Held::Unknown, e),
        };
        let mut parts = Vec::new();
        let mut worst = Held::Holds;
        let mut days_left: Option<i64> = None;
        for item in items {
            self.values.set_item(Some(item.clone()));
            let found = self.look(i, what).await;
            self.values.set_item(None);
            worst = worst.max(found.status);
            days_left = match (days_left, found.days_left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            parts.push(format!(
                "for {item}: {}: {}",
                found.status.as_str(),
                found.text
            ));
        }
        Found {
            days_left,
            ..Found::new(worst, parts.join("\n"))
        }
    }

    async fn look(&mut self, i: usize, what: &Look) -> Found {
        match what {
            Look::Script(field, text) => self.look_script(i, field, text).await,
            Look::File => self.look_file(i),
            Look::Aws(action) => self.look_aws(i, *action).await,
        }
    }

    /// A read-only script: exit status 0 is "still so".
    async fn look_script(&mut self, i: usize, field: &str, text: &str) -> Found {
        let unknown = |e: String| Found::new(Held::Unknown, e);
        let step = self.plan.step(i).clone();
        let limit = step.timeout.map_or(SCRIPT_LIMIT, |t| t.0);
        // Where the script may say when what it checks expires (`expires=`, `days_left=`).
        let said = match outputs::output_file() {
            Ok(f) => Said(f),
            Err(e) => return unknown(e),
        };
        let (exit, tail) = match self
            .read_only(i, field, text, Some(&said.0), Some(limit))
            .await
        {
            Ok(ran) => ran,
            Err(StepError::Bash(e)) => {
                return unknown(format!("`{field}`: bash could not run: {e}"));
            }
            Err(e) => return unknown(e.message()),
        };
        let lines = || {
            if tail.is_empty() {
                String::new()
            } else {
                format!("\n{}", tail.join("\n"))
            }
        };
        match exit {
            shell::Exit::Code(0) => {
                let passes = format!("`{field}` passes");
                match said.days_left(Timestamp::now()) {
                    Ok(Some(days)) => expiry(days, warn_before(&step), &passes),
                    Ok(None) => Found::new(Held::Holds, passes),
                    Err(e) => unknown(format!("{passes}, but {e}")),
                }
            }
            shell::Exit::Code(code) => Found::new(
                Held::Drifted,
                format!("`{field}` no longer passes (exit status {code}){}", lines()),
            ),
            shell::Exit::Signal(sig) => {
                unknown(format!("`{field}` was killed by signal {sig}{}", lines()))
            }
            shell::Exit::TimedOut => unknown(format!(
                "`{field}` did not end within {}",
                humantime::format_duration(limit)
            )),
            shell::Exit::Cancelled => unknown("interrupted".to_string()),
        }
    }

    /// A `file` step: the file as it is against what the step would write now.
    fn look_file(&self, i: usize) -> Found {
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
        let step = self.plan.step(i);
        let Some(spec) = &step.file else {
            return Found::new(Held::Unknown, "not a file step");
        };
        if let Some(later) = self.file_written_later(i) {
            return Found::new(
                Held::Unchecked,
                format!("step `{later}` changes the same file after it: that step is re-checked"),
            );
        }
        match file::plan(spec, self.plan.runbook_of(i), &self.state.workdir, &ctx) {
            Ok(c) if !c.changed() => Found::new(Held::Holds, format!("{} is as wanted", c.shown)),
            Ok(c) => {
                let text = match &c.old {
                    None => format!("{} is gone", c.shown),
                    Some(_) => format!(
                        "{} changed since the step wrote it (the diff goes from what is there to what the step wants)",
                        c.shown
                    ),
                };
                Found {
                    diff: Some(c.diff()),
                    ..Found::new(Held::Drifted, text)
                }
            }
            Err(e) => Found::new(Held::Unknown, e.message()),
        }
    }

    /// A later done `file` step of the run that writes the same file, whose content is then
    /// that step's to say.
    fn file_written_later(&self, i: usize) -> Option<String> {
        let path_of = |j: usize| -> Option<std::path::PathBuf> {
            let spec = self.plan.step(j).file.as_ref()?;
            let path = self.render_in(j, &spec.path).ok()?;
            std::path::absolute(self.state.workdir.join(path)).ok()
        };
        let mine = path_of(i)?;
        (i + 1..self.plan.steps.len())
            .filter(|&j| matches!(self.plan.work(j), Work::File))
            .filter(|&j| self.status_of(&self.key(j)).is_done())
            .find(|&j| path_of(j).as_ref() == Some(&mine))
            .map(|j| self.key(j))
    }

    /// An AWS step: a read-only action reads (and a checking one checks) again; any other
    /// says what applying it would do, and "nothing" is "still so".
    async fn look_aws(&mut self, i: usize, action: &'static dyn aws::Action) -> Found {
        let unknown = |e: String| Found::new(Held::Unknown, e);
        let step = self.plan.step(i).clone();
        let ctx = self
            .values
            .context(&self.plan, &self.state, self.plan.steps[i].scope, false);
        let params = match aws_step::params(&step, action, &ctx) {
            Ok(p) => p,
            Err(e) => return unknown(StepError::resolve("with", e).message()),
        };
        let aws = match self.connect_aws(i).await {
            Ok(aws) => aws,
            Err(e) => return unknown(e.message()),
        };
        if action.read_only() && !action.interactive() {
            // A waiting action (an instance running, an agent online) looks once.
            return match aws::once(action.apply(&aws, &params)).await {
                Ok(outcome) => read_again(outcome, warn_before(&step)),
                // A waiting action looked once (`aws::poll`), and what it waits for is not so.
                Err(e) if e.code == aws::LOOKED_ONCE => {
                    Found::new(Held::Drifted, format!("{}: {}", action.name(), e.message))
                }
                Err(e) if e.code == aws::CHECK_FAILED || e.code == "UnexpectedState" => {
                    Found::new(Held::Drifted, e.message)
                }
                Err(e) => unknown(e.to_string()),
            };
        }
        match action.recheck(&aws, &params).await {
            Err(e) if is_gone(&e.code) => {
                Found::new(Held::Drifted, format!("it is gone: {}", e.message))
            }
            Err(e) => unknown(e.to_string()),
            Ok(planned) => {
                let status = match planned.verdict {
                    aws::Verdict::AsWanted | aws::Verdict::Read => Held::Holds,
                    aws::Verdict::WouldChange | aws::Verdict::WouldRefuse => Held::Drifted,
                    aws::Verdict::Unknown => Held::Unknown,
                };
                Found {
                    current: planned.current,
                    wanted: planned.wanted,
                    ..Found::new(status, planned.text)
                }
            }
        }
    }

    /// Records a check of one step (from the terminal UI): a journal entry only.
    pub fn record_step_check(&mut self, check: &StepCheck) -> Result<(), StoreError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let first = check.text.lines().next().unwrap_or_default();
        let result = format!("{}: {first}", check.status.as_str());
        store.journal("step.checked", Some(&check.key), Some(&result))
    }
}

/// What a check of a whole run came to, as kept in its state, and said in a line for its
/// journal entry.
pub fn last_check(checks: &[StepCheck], at: Timestamp) -> (LastCheck, String) {
    let keys = |held: Held| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.status == held)
            .map(|c| c.key.clone())
            .collect()
    };
    let last = LastCheck {
        at,
        result: Held::overall(checks.iter().map(|c| c.status)),
        drifted: keys(Held::Drifted),
        unknown: keys(Held::Unknown),
        expiring: keys(Held::Expiring),
    };
    let holding = checks.iter().filter(|c| c.status == Held::Holds).count();
    let summary = format!("{}: {}", last.result.as_str(), last.summary(holding));
    (last, summary)
}

/// What a re-check looks at.
enum Look {
    /// A read-only script, and the field it comes from.
    Script(&'static str, String),
    File,
    Aws(&'static dyn aws::Action),
}

/// Every string in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Error codes that say what a step made or found is not there any more.
fn is_gone(code: &str) -> bool {
    code == "NoSuchEntity" || code.starts_with("NoSuch") || code.ends_with("NotFound")
}

/// The threshold a step's `recheck` sets.
fn warn_before(step: &crate::runbook::Step) -> Option<Duration> {
    step.recheck.as_ref().and_then(|r| r.warn_before())
}

/// What a step that expires in `days` comes to: drifted once expired, expiring within
/// `warn_before`, else holding; the text says when.
fn expiry(days: i64, warn_before: Option<Duration>, what: &str) -> Found {
    let within = warn_before.map_or(0, |d| (d.as_secs() / 86_400) as i64);
    let (status, when) = match days {
        ..0 => (Held::Drifted, format!("expired {} ago", days_text(-days))),
        0 => (Held::Drifted, "expires today".to_string()),
        n if n <= within => (Held::Expiring, format!("expires in {}", days_text(n))),
        n => (Held::Holds, format!("expires in {}", days_text(n))),
    };
    Found {
        days_left: Some(days),
        ..Found::new(status, format!("{when}: {what}"))
    }
}

fn days_text(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

/// A read-only action read again: it holds, and says how long it still does when its result
/// has `days_left`; `status: warning` (within the action's own `warn_before`) or the step's
/// `recheck.warn_before` make it expiring.
fn read_again(outcome: aws::Outcome, warn_before: Option<Duration>) -> Found {
    let days_left = outcome.result.get("days_left").and_then(Value::as_i64);
    let warning = outcome.result.get("status").and_then(Value::as_str) == Some("warning");
    let summary = outcome
        .summary
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    match days_left {
        Some(n) => {
            let mut found = expiry(n, warn_before, &summary);
            if warning && found.status == Held::Holds {
                found.status = Held::Expiring;
            }
            found
        }
        None => Found::new(Held::Holds, summary),
    }
}

/// The file a re-checking script may write `expires=TIME` or `days_left=N` to; removed when
/// dropped.
struct Said(std::path::PathBuf);

/// The most of that file read: a line or two is all it needs.
const SAID_LIMIT: u64 = 64 * 1024;

impl Said {
    /// How many whole days are left, if the script said.
    fn days_left(&self, now: Timestamp) -> Result<Option<i64>, String> {
        use std::io::Read;
        let mut text = String::new();
        if let Ok(f) = std::fs::File::open(&self.0) {
            let _ = f.take(SAID_LIMIT).read_to_string(&mut text);
        }
        let mut found = None;
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim();
            found = match k.trim() {
                "days_left" => Some(
                    v.parse::<i64>()
                        .map_err(|_| format!("`days_left={v}` is not a whole number of days"))?,
                ),
                "expires" => {
                    let at = expiry_time(v).ok_or_else(|| {
                        format!(
                            "`expires={v}` is not a time (RFC 3339, e.g. 2027-03-01T12:00:00Z, or a date, 2027-03-01)"
                        )
                    })?;
                    Some(
                        at.as_second()
                            .saturating_sub(now.as_second())
                            .div_euclid(86_400),
                    )
                }
                _ => found,
            };
        }
        Ok(found)
    }
}

impl Drop for Said {
    fn drop(&mut self) {
        outputs::remove_output_file(&self.0);
    }
}

/// A time as scripts write it: RFC 3339 (what the AWS CLI prints), or a date (midnight UTC).
fn expiry_time(text: &str) -> Option<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    let date: jiff::civil::Date = text.parse().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}
