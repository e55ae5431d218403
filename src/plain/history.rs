//! `stepwise log`, `rm` and `prune`: a run's history read back, and housekeeping.

use std::io::{IsTerminal, Seek, SeekFrom, Write};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::{Error, Result, exit};
use crate::out::{errln, outln};
use crate::state::{self, Entry, StoreError};

/// How often `--follow` looks for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// `stepwise log RUN [STEP]`: the journal as a timeline (or JSON lines), or a step's output.
pub fn log(run: &str, step: Option<&str>, json: bool, follow: bool) -> Result<i32> {
    // Said before anything is printed: a run that does not exist.
    let st = state::peek(run)?;
    match step {
        Some(step) => step_log(&st, step, follow),
        None => journal(run, json, follow),
    }
}

/// One journal entry as a line: when (local time), who and where, what, the step, the result.
pub fn entry_line(e: &Entry, tz: &TimeZone) -> String {
    let when = e.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S");
    let mut line = format!(
        "{when}  {}@{} (pid {})  {:<18}",
        e.user, e.host, e.pid, e.what
    );
    if let Some(step) = &e.step {
        line.push_str(&format!(" {step}"));
    }
    if let Some(result) = &e.result {
        let mut lines = result.lines();
        line.push_str(&format!("  {}", lines.next().unwrap_or_default()));
        if lines.next().is_some() {
            line.push_str(" ...");
        }
    }
    line.trim_end().to_string()
}

/// Prints what `more` reads: once, or with `follow` again every `FOLLOW_EVERY` while a process
/// drives the run, and once more after it has gone (what it wrote last is in then).
fn printing(run: &str, follow: bool, mut more: impl FnMut() -> Result<()>) -> Result<i32> {
    loop {
        let driven = follow && state::driver(run).is_some();
        more()?;
        if !driven || crate::out::stdout_gone() {
            return Ok(exit::OK);
        }
        // Each look at an S3 store is a few requests: a slower pace there.
        let every = if state::remote::chosen().is_some() {
            FOLLOW_EVERY * 10
        } else {
            FOLLOW_EVERY
        };
        std::thread::sleep(every);
    }
}

fn journal(run: &str, json: bool, follow: bool) -> Result<i32> {
    let tz = TimeZone::system();
    let mut from = 0;
    let mut bad_seen = 0;
    printing(run, follow, || {
        let (entries, next, bad) = state::journal(run, from)?;
        for e in &entries {
            if json {
                outln!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                outln!("{}", entry_line(e, &tz));
            }
        }
        if bad > bad_seen {
            errln!(
                "warning: {} line(s) of the journal are not entries and were left out",
                bad - bad_seen
            );
            bad_seen = bad;
        }
        from = next;
        Ok(())
    })
}

fn step_log(run: &state::RunState, step: &str, follow: bool) -> Result<i32> {
    if !run.steps.contains_key(step) {
        let known: Vec<&str> = run.steps.keys().map(String::as_str).collect();
        return Err(Error::Usage(crate::runbook::load::unknown(
            "step", step, &known,
        )));
    }
    let path = state::step_log(&run.name, step)?;
    let mut from = 0;
    printing(&run.name, follow, || {
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                f.seek(SeekFrom::Start(from)).map_err(|e| io(&path, e))?;
                let mut out = crate::out::Stdout::lock();
                // Streamed: a log of gigabytes is never all in memory.
                from += std::io::copy(&mut f, &mut out).map_err(|e| io(&path, e))?;
                let _ = out.flush();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        Ok(())
    })
}

fn io(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Store(StoreError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// `stepwise rm RUN...`: removes each run; an unfinished one only when a person says so (asked
/// at the terminal) or with `--force`; a run a process drives never.
pub fn rm(runs: &[String], force: bool) -> Result<i32> {
    let mut status = exit::OK;
    for name in runs {
        let code = match remove_one(name, force) {
            Ok(()) => exit::OK,
            Err(e) => {
                errln!("{}", crate::error::error_text(&e));
                e.exit_code()
            }
        };
        status = status.max(code);
    }
    Ok(status)
}

/// `stepwise prune --older-than D [--completed]`: removes runs not updated for `D`.
pub fn prune(older_than: Duration, completed: bool, force: bool) -> Result<i32> {
    let cutoff = Timestamp::now()
        .checked_sub(
            jiff::SignedDuration::try_from(older_than).unwrap_or(jiff::SignedDuration::MAX),
        )
        .unwrap_or(Timestamp::MIN);
    let mut names = Vec::new();
    for run in state::list()?.into_iter().flatten() {
        if run.updated_at >= cutoff {
            continue;
        }
        if completed && super::summary(&run).status != "completed" {
            continue;
        }
        names.push(run.name);
    }
    if names.is_empty() {
        outln!("no run to remove");
        return Ok(exit::OK);
    }
    rm(&names, force)
}

fn remove_one(name: &str, force: bool) -> Result<()> {
    let st = state::peek(name);
    let summary = st.as_ref().ok().map(super::summary);
    if let Some(s) = &summary
        && s.status != "completed"
        && !force
    {
        let what = format!(
            "run `{name}` is not finished ({}/{} done, {})",
            s.done, s.total, s.status
        );
        if !confirmed(&format!("{what}; remove it? [y/N] ")) {
            return Err(Error::Refused {
                what: format!("{what}; it was not removed"),
                hint: "`--force` removes it without asking".into(),
            });
        }
    }
    match st {
        Ok(_) | Err(StoreError::Unfinished { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    state::remove(name)?;
    outln!("removed {name}");
    Ok(())
}

/// Asks a yes-or-no question at the terminal; no terminal is a no.
fn confirmed(question: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    crate::out::eprint(format_args!("{question}"));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok()
        && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Who confirmed each manual step done, from the journal: the last such entry of each step.
pub(super) fn confirmations(run: &str) -> std::collections::HashMap<String, Entry> {
    let mut by_step = std::collections::HashMap::new();
    if let Ok((entries, _, _)) = state::journal(run, 0) {
        for e in entries {
            if let (Some(step), Some(result)) = (&e.step, &e.result)
                && result.starts_with("confirmed done by a person")
            {
                by_step.insert(step.clone(), e.clone());
            }
        }
    }
    by_step
}

/// The lines under a step in `stepwise status`: its attempts and how long the last took, its
/// outputs (a secret one by its name only), who confirmed it.
pub(super) fn step_details(
    st: &state::StepState,
    confirmed: Option<&Entry>,
    tz: &TimeZone,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut took = Vec::new();
    if st.attempts > 1 {
        took.push(format!("{} attempts", st.attempts));
    }
    if let (Some(a), Some(b)) = (st.started_at, st.finished_at)
        && let Ok(d) = b.duration_since(a).try_into()
    {
        let d: Duration = d;
        took.push(format!(
            "took {}",
            humantime::format_duration(Duration::from_millis(d.as_millis() as u64))
        ));
    }
    if let Some(code) = st.exit_code {
        took.push(format!("exit {code}"));
    }
    if !took.is_empty() {
        lines.push(took.join(", "));
    }
    for (k, v) in &st.outputs {
        lines.push(format!("{k} = {}", crate::engine::scalar(v)));
    }
    for k in &st.secret_outputs {
        lines.push(format!("{k} = (secret, not kept)"));
    }
    if let Some(e) = confirmed {
        lines.push(format!(
            "confirmed by {}@{} at {}",
            e.user,
            e.host,
            e.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S")
        ));
    }
    lines
}

/// `stepwise unlock RUN [--force]`: takes a run's lock from a process that stopped renewing it.
pub fn unlock(run: &str, force: bool) -> Result<i32> {
    match state::unlock(run, force)? {
        Some(holder) => outln!("unlocked run `{run}`: took the lock from {holder}"),
        None if state::remote::chosen().is_none() => {
            outln!("no process holds run `{run}` (a local run's lock ends with its process)")
        }
        None => outln!("run `{run}` is not locked"),
    }
    Ok(exit::OK)
}

/// The S3 store `push` and `pull` move runs to and from.
fn store_given(what: &str) -> Result<&'static state::remote::Store> {
    state::remote::chosen().ok_or_else(|| Error::Refused {
        what: format!(
            "`{what}` moves a run between this machine and a run store, and none was given"
        ),
        hint: "name it with --store s3://BUCKET/PREFIX (or STEPWISE_STORE)".into(),
    })
}

/// `stepwise push RUN --store s3://...`: moves a run from this machine to the store.
pub fn push(run: &str) -> Result<i32> {
    let store = store_given("push")?;
    match state::push(store, run) {
        Err(StoreError::Exists(_)) => {
            return Err(Error::Refused {
                what: format!(
                    "{} already has a run `{run}`; it was not pushed",
                    store.url()
                ),
                hint: format!(
                    "remove that one first (`stepwise rm {run} --store {}`), or pull it here under another home",
                    store.url()
                ),
            });
        }
        other => other?,
    }
    outln!(
        "moved run `{run}` to {}; carry on anywhere with `stepwise resume {run} --store {}`",
        store.url(),
        store.url()
    );
    Ok(exit::OK)
}

/// `stepwise pull RUN --store s3://...`: moves a run from the store to this machine.
pub fn pull(run: &str) -> Result<i32> {
    let store = store_given("pull")?;
    match state::pull(store, run) {
        Err(StoreError::Exists(_)) => {
            return Err(Error::Refused {
                what: format!("this machine already has a run `{run}`; it was not pulled"),
                hint: format!(
                    "remove the one here first (`stepwise rm {run}`), or resume it in the store (`stepwise resume {run} --store {}`)",
                    store.url()
                ),
            });
        }
        other => other?,
    }
    outln!(
        "moved run `{run}` from {} to this machine; carry on with `stepwise resume {run}`",
        store.url()
    );
    Ok(exit::OK)
}
