//! `stepwise check`: re-checks finished runs and reports, step by step, what still holds.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsSettings;
use crate::engine::context::InputValues;
use crate::engine::{Engine, Event, Mode, StepCheck, Values, last_check};
use crate::error::{Error, Result, exit};
use crate::out::{errln, outln};
use crate::prepare;
use crate::runbook::Plan;
use crate::state::{self, Held, RunState, RunStore};

/// What `stepwise check` was asked.
pub struct Asked {
    pub runs: Vec<String>,
    pub all: bool,
    pub json: bool,
    pub quiet: bool,
    pub inputs: Vec<String>,
    pub aws: AwsSettings,
}

/// The report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    checked_at: Timestamp,
    /// What every run came to: `holds`, `expiring`, `unknown` or `drifted`.
    result: Held,
    exit_code: i32,
    runs: Vec<RunCheck>,
}

/// One run's check.
#[derive(Debug, Serialize)]
struct RunCheck {
    name: String,
    runbook: String,
    result: Held,
    /// Whether every step of the run is done (an unfinished run is checked as far as it got).
    completed: bool,
    /// The AWS account its AWS steps were checked in, and as whom.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    /// Why the run could not be checked at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    steps: Vec<StepCheck>,
    /// Inputs not kept (secrets) and not given again with `-i`: the steps that need them
    /// are unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_given: Vec<String>,
    /// The inputs given with `-i` that its runbook declares.
    #[serde(skip)]
    used: Vec<String>,
    /// Ctrl-C stopped the check.
    #[serde(skip)]
    interrupted: bool,
}

/// The exit status a result comes to.
pub fn exit_status(result: Held) -> i32 {
    match result {
        Held::Unchecked | Held::Holds => exit::OK,
        Held::Expiring => exit::EXPIRING,
        Held::Unknown => exit::UNKNOWN,
        Held::Drifted => exit::DRIFTED,
    }
}

/// `stepwise check`.
pub fn check(asked: Asked) -> Result<i32> {
    prepare::block_on(check_all(asked))
}

async fn check_all(asked: Asked) -> Result<i32> {
    let names = which(&asked)?;
    if names.is_empty() && !asked.json {
        if !asked.quiet {
            outln!("no finished runs to check");
        }
        return Ok(exit::OK);
    }
    let given = prepare::pairs(&asked.inputs, "NAME=VALUE")?;
    let mut runs = Vec::new();
    for name in &names {
        let run = check_run(name, &given, &asked.aws).await;
        if !asked.json {
            print_run(&run, asked.quiet);
        }
        let interrupted = run.interrupted;
        runs.push(run);
        if interrupted {
            break;
        }
    }
    for (name, _) in &given {
        if !runs.iter().any(|r| r.used.contains(name)) {
            errln!("warning: input `{name}` is an input of none of the runs checked");
        }
    }
    let result = Held::overall(runs.iter().map(|r| r.result));
    let code = if runs.iter().any(|r| r.interrupted) {
        exit::INTERRUPTED
    } else {
        exit_status(result)
    };
    if asked.json {
        let report = Report {
            checked_at: Timestamp::now(),
            result,
            exit_code: code,
            runs,
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if !asked.quiet || code != exit::OK {
        let counts: Vec<String> = [Held::Holds, Held::Expiring, Held::Unknown, Held::Drifted]
            .iter()
            .filter_map(|h| {
                let n = runs.iter().filter(|r| r.result == *h).count();
                (n > 0).then(|| format!("{n} {}", h.as_str()))
            })
            .collect();
        let plural = if runs.len() == 1 { "" } else { "s" };
        outln!("{} run{plural} checked: {}", runs.len(), counts.join(", "));
    }
    Ok(code)
}

/// The runs to check: those named (each must exist), or with `--all` every finished one.
fn which(asked: &Asked) -> Result<Vec<String>> {
    if !asked.all {
        for name in &asked.runs {
            // A run that is not there: exit status 2, as for `status`; nothing is checked.
            state::peek(name)?;
        }
        return Ok(asked.runs.clone());
    }
    let mut names = Vec::new();
    for run in state::list()? {
        match run {
            Ok(st) if st.current().is_none() => names.push(st.name),
            Ok(_) => {}
            Err(e) => errln!("warning: unreadable run: {e}"),
        }
    }
    Ok(names)
}

/// Checks one run, holding its lock while it does; what cannot be checked at all is said in
/// the run's `error`.
async fn check_run(name: &str, given: &[(String, String)], aws: &AwsSettings) -> RunCheck {
    let mut run = RunCheck {
        name: name.to_string(),
        runbook: String::new(),
        result: Held::Unknown,
        completed: false,
        account: None,
        arn: None,
        error: None,
        steps: Vec::new(),
        not_given: Vec::new(),
        used: Vec::new(),
        interrupted: false,
    };
    if let Err(e) = check_into(&mut run, given, aws).await {
        run.result = Held::Unknown;
        run.error = Some(e.message());
        // Not opened (another process drives it): which runbook, and how far, as last saved.
        if run.runbook.is_empty()
            && let Ok(st) = state::peek(name)
        {
            run.runbook = st.runbook.id.clone();
            run.completed = st.current().is_none();
        }
    }
    run
}

async fn check_into(
    run: &mut RunCheck,
    given: &[(String, String)],
    aws: &AwsSettings,
) -> Result<()> {
    let (mut store, mut state) = RunStore::open(&run.name)?;
    run.runbook = state.runbook.id.clone();
    run.completed = state.current().is_none();
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
    let plan = prepare::load(&prepare::runbook_path(&state, &cwd))?;
    run.used = given
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| plan.root().doc.inputs.contains_key(k))
        .collect();
    let (inputs, missing) = inputs_for(&plan, &state, given)?;
    run.not_given = missing;
    // The engine sees the steps as the runbook has them now; what is written is the state as
    // it was, with the check.
    let mut seen = state.clone();
    prepare::follow_plan(&mut seen, &plan);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut engine = Engine::new(
        plan,
        Mode::Real,
        seen,
        None,
        Values::new(&run.name, inputs),
        tx,
        CancellationToken::new(),
    )
    .with_aws_settings(aws.clone());
    let cancel = engine.cancel_token();
    let stop = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    run.steps = engine.recheck_all().await;
    stop.abort();
    let interrupted = engine.cancel_token().is_cancelled();
    drop(engine);
    while let Some(event) = rx.recv().await {
        if let Event::Identity(id) = event {
            run.account = Some(id.account);
            run.arn = Some(id.arn);
        }
    }
    if interrupted {
        // A check cut short says nothing of the steps it did not reach: not recorded.
        run.interrupted = true;
        return Err(Error::Other(
            "interrupted: the check was stopped, and nothing was recorded".into(),
        ));
    }
    let (last, summary) = last_check(&run.steps, Timestamp::now());
    run.result = last.result;
    state.last_check = Some(last);
    store.record(&state, "run.checked", None, Some(&summary))?;
    Ok(())
}

/// The inputs a run's check uses: as recorded, and those given again (`-i`) that its
/// runbook declares, each checked against its pattern and choices. Inputs that are not kept
/// (secrets) and not given again are left out, and named: the steps that need them are
/// unknown.
fn inputs_for(
    plan: &Plan,
    st: &RunState,
    given: &[(String, String)],
) -> Result<(InputValues, Vec<String>)> {
    let doc = &plan.root().doc;
    let mine: Vec<(String, String)> = given
        .iter()
        .filter(|(k, _)| doc.inputs.contains_key(k))
        .cloned()
        .collect();
    for (k, v) in &mine {
        let spec = &doc.inputs[k];
        if let Some(problem) = prepare::input_problem(k, spec, v, spec.secret) {
            return Err(Error::Usage(problem));
        }
    }
    if let Ok(inputs) = prepare::resolve_inputs(plan, &mine, &st.inputs, false, false) {
        return Ok((inputs, Vec::new()));
    }
    let inputs = known_inputs(st, &mine);
    let missing = doc
        .inputs
        .keys()
        .filter(|k| !inputs.contains_key(*k))
        .cloned()
        .collect();
    Ok((inputs, missing))
}

/// The inputs as recorded, and as given again, without checking them.
fn known_inputs(st: &RunState, given: &[(String, String)]) -> InputValues {
    let mut out: InputValues = IndexMap::new();
    for (name, value) in &st.inputs {
        if let state::InputValue::Value { value } = value {
            out.insert(name.clone(), (value.clone(), false));
        }
    }
    for (name, value) in given {
        out.insert(name.clone(), (value.clone(), true));
    }
    out
}

/// A run's report, as lines.
fn print_run(run: &RunCheck, quiet: bool) {
    if quiet && matches!(run.result, Held::Holds | Held::Unchecked) {
        return;
    }
    let unfinished = if run.completed { "" } else { ", unfinished" };
    outln!(
        "{} ({}{unfinished}): {}",
        run.name,
        run.runbook,
        run.result.as_str()
    );
    if let (Some(account), Some(arn)) = (&run.account, &run.arn) {
        outln!("  AWS account {account}, as {arn}");
    }
    if let Some(e) = &run.error {
        for (n, line) in e.lines().enumerate() {
            let lead = if n == 0 { "error: " } else { "" };
            outln!("  {lead}{line}");
        }
    }
    for name in &run.not_given {
        outln!(
            "  input `{name}` is not kept (a secret): the steps that need it are unknown; give it with `-i {name}=VALUE`"
        );
    }
    let width = run.steps.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for s in &run.steps {
        if quiet && matches!(s.status, Held::Holds | Held::Unchecked) {
            continue;
        }
        let mut lines = s.text.lines();
        outln!(
            "  {:9}  {:width$}  {}",
            s.status.as_str(),
            s.key,
            lines.next().unwrap_or_default()
        );
        let pad = " ".repeat(width + 15);
        for line in lines {
            outln!("{pad}{line}");
        }
        if let (Some(current), Some(wanted)) = (&s.current, &s.wanted)
            && s.status == Held::Drifted
        {
            outln!("{pad}current: {current}");
            outln!("{pad}wanted:  {wanted}");
        }
        if let Some(diff) = &s.diff {
            for line in diff.lines() {
                outln!("{pad}{line}");
            }
        }
    }
}
