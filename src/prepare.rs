//! Preparing a run, below both front ends: the plan, the inputs (given, recorded, defaults or
//! asked), the run's name, its new or resumed state and the decisions given on the command
//! line. `stepwise run` and `resume` in plain mode and the terminal UI start runs through here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsSettings;
use crate::cli::RunArgs;
use crate::engine::context::{InputValues, derived_secret, env_value, holds_secret, input_ctx};
use crate::engine::{Decisions, Engine, Event, Mode, Orphan, Terminal, Values, check_value};
use crate::error::{Error, Result};
use crate::runbook::{self, Plan, template};
use crate::state::{self, InputValue, RunState, RunStore, RunbookRef, StepState};

/// Runs a future on the runtime the commands use, and ends the runtime promptly after.
pub fn block_on(f: impl std::future::Future<Output = Result<i32>>) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(f);
    // A task still blocked (writing to a stdout nobody reads) does not keep the process.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
}

pub fn load(file: &Path) -> Result<Arc<Plan>> {
    runbook::load(file).map(Arc::new).map_err(Error::Invalid)
}

/// Parses `NAME=VALUE` arguments.
pub fn pairs(args: &[String], what: &str) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("`{a}`: expected {what}")))
        })
        .collect()
}

/// The person's decisions given on the command line.
fn decisions(args: &RunArgs) -> Result<Decisions> {
    let mut d = Decisions {
        done: args.done.iter().cloned().collect(),
        rerun: args.rerun.iter().cloned().collect(),
        orphan: if args.stop_orphan {
            Some(Orphan::Stop)
        } else if args.wait_orphan {
            Some(Orphan::Wait)
        } else {
            None
        },
        ..Decisions::default()
    };
    for s in &args.skip {
        let (step, reason) = s.split_once('=').unwrap_or((s, "no reason given"));
        d.skip.insert(step.to_string(), reason.to_string());
    }
    d.confirm = pairs(&args.confirm, "STEP=TEXT")?.into_iter().collect();
    for (k, v) in pairs(&args.outputs, "STEP.NAME=VALUE")? {
        let (step, name) = k
            .rsplit_once('.')
            .ok_or_else(|| Error::Usage(format!("`{k}`: expected STEP.NAME=VALUE")))?;
        d.outputs
            .entry(step.to_string())
            .or_default()
            .insert(name.to_string(), v);
    }
    Ok(d)
}

fn aws_settings(args: &RunArgs) -> AwsSettings {
    AwsSettings {
        region: args.region.clone(),
        profile: args.profile.clone(),
        mfa_code: args.mfa_code.clone(),
        ..AwsSettings::default()
    }
}

/// Whether a person is at a terminal to answer questions (stdin and stderr are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for an input at the terminal.
fn ask(name: &str, spec: &runbook::Input) -> Option<String> {
    let question = match &spec.description {
        Some(d) => format!("{name} ({}): ", d.lines().next().unwrap_or_default()),
        None => format!("{name}: "),
    };
    if spec.secret {
        rpassword::prompt_password(question).ok()
    } else {
        crate::out::eprint(format_args!("{question}"));
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// Works out the root inputs: given on the command line, recorded (for a resume), defaults,
/// asked at the terminal (when `ask`), or placeholders in a dry run. All problems are reported
/// together.
pub fn resolve_inputs(
    plan: &Plan,
    given: &[(String, String)],
    recorded: &IndexMap<String, InputValue>,
    dry: bool,
    ask_missing: bool,
) -> Result<InputValues> {
    let doc = &plan.root().doc;
    let mut problems = Vec::new();
    for (k, _) in given {
        if !doc.inputs.contains_key(k) {
            let known: Vec<&str> = doc.inputs.keys().map(String::as_str).collect();
            problems.push(runbook::load::unknown("input", k, &known));
        }
    }
    let env = env_value();
    let mut out = InputValues::new();
    for (name, spec) in &doc.inputs {
        let mut derived = false;
        let value = if let Some((_, v)) = given.iter().rev().find(|(k, _)| k == name) {
            Some(v.clone())
        } else if let Some(InputValue::Value { value }) = recorded.get(name) {
            Some(value.clone())
        } else if let Some(d) = &spec.default {
            match template::render(&d.value, &input_ctx(&out, &env, "")) {
                Ok(v) => {
                    // A default made from a secret is a secret: not kept, made again on resume.
                    derived = derived_secret(&d.value, &v, &out);
                    Some(v)
                }
                Err(e) => {
                    problems.push(format!(
                        "input `{name}`: its default cannot be resolved: {}",
                        e.message()
                    ));
                    None
                }
            }
        } else if dry {
            Some(format!("<inputs.{name}>"))
        } else if ask_missing && interactive() {
            ask(name, spec)
        } else {
            None
        };
        match value {
            Some(v) => {
                let secret = spec.secret || derived || holds_secret(&v, &out);
                if !(dry && v.starts_with("<inputs."))
                    && let Some(problem) = input_problem(name, spec, &v, secret)
                {
                    problems.push(problem);
                }
                out.insert(name.clone(), (v, secret));
            }
            None => {
                if spec.required.unwrap_or(true) {
                    let again = matches!(recorded.get(name), Some(InputValue::Secret { .. }));
                    let why = if again {
                        "is secret and was not kept; give it again"
                    } else {
                        "is required"
                    };
                    let desc = spec
                        .description
                        .as_deref()
                        .map(|d| format!(" ({})", d.lines().next().unwrap_or_default()))
                        .unwrap_or_default();
                    problems.push(format!(
                        "input `{name}`{desc} {why}\nhint: pass it with `--input {name}=VALUE`"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Usage(problems.join("\n")))
    }
}

/// What is wrong with an input's value, against its pattern and choices; a secret's value is
/// not shown in it.
pub fn input_problem(
    name: &str,
    spec: &runbook::Input,
    value: &str,
    secret: bool,
) -> Option<String> {
    let pattern = spec.pattern.as_ref().map(|p| p.value.as_str());
    let e = check_value(value, pattern, &spec.choices).err()?;
    let e = if secret {
        "the value does not match its pattern or choices".to_string()
    } else {
        e
    };
    Some(format!("input `{name}`: {e}"))
}

/// Puts a run's steps in the order the plan has them now: a step added to the runbook starts
/// pending, and one taken out of it is dropped.
pub fn follow_plan(state: &mut RunState, plan: &Plan) {
    let mut old = std::mem::take(&mut state.steps);
    state.steps = plan
        .steps
        .iter()
        .map(|s| (s.key.clone(), old.shift_remove(&s.key).unwrap_or_default()))
        .collect();
}

/// The run's name: given, from the runbook's `run_name`, or the runbook id and the time.
pub fn run_name(plan: &Plan, given: Option<String>, inputs: &InputValues) -> Result<String> {
    if let Some(name) = given {
        return Ok(name);
    }
    if let Some(t) = &plan.root().doc.run_name {
        let ctx = input_ctx(inputs, &env_value(), "");
        let name = template::render(&t.value, &ctx)
            .map_err(|e| Error::Usage(format!("`run_name`: {}", e.message())))?;
        let name = state::slug(&name);
        if !name.is_empty() {
            return Ok(name);
        }
    }
    let now = Timestamp::now().strftime("%Y%m%d-%H%M%S");
    Ok(format!("{}-{now}", state::slug(&plan.root().doc.id.value)))
}

fn new_state(plan: &Plan, name: &str, inputs: &InputValues) -> Result<RunState> {
    let root = plan.root();
    let now = Timestamp::now();
    let path = std::fs::canonicalize(root.path()).unwrap_or_else(|_| root.path().to_path_buf());
    let workdir = std::env::current_dir()
        .map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
    Ok(RunState {
        version: state::STATE_VERSION,
        name: name.to_string(),
        runbook: RunbookRef {
            path,
            id: root.doc.id.value.clone(),
            title: root.doc.title.clone(),
            hash: root.hash(),
        },
        workdir,
        created_at: now,
        updated_at: now,
        inputs: crate::engine::context::recorded(inputs),
        driven_on: None,
        last_check: None,
        steps: plan
            .steps
            .iter()
            .map(|s| (s.key.clone(), StepState::default()))
            .collect(),
    })
}

/// A run ready to be driven: what `run` and `resume` set up before the first step.
pub struct Prepared {
    pub plan: Arc<Plan>,
    pub mode: Mode,
    pub state: RunState,
    /// None in a dry run, which records nothing.
    pub store: Option<RunStore>,
    pub values: Values,
    /// Decisions given on the command line.
    pub decisions: Decisions,
    pub aws: AwsSettings,
    pub resuming: bool,
}

impl Prepared {
    /// Whether this is a dry run.
    pub fn dry(&self) -> bool {
        matches!(self.mode, Mode::DryRun { .. })
    }

    /// The run's engine, the events it will send, and the decisions to apply: how either front
    /// end gets going.
    pub fn engine(self, terminal: Terminal) -> (Engine, mpsc::UnboundedReceiver<Event>, Decisions) {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Engine::new(
            self.plan,
            self.mode,
            self.state,
            self.store,
            self.values,
            tx,
            CancellationToken::new(),
        )
        .with_aws_settings(self.aws)
        .with_terminal(terminal);
        (engine, rx, self.decisions)
    }
}

/// Sets up a new run (creates its folder, unless dry). Inputs come from `--input`, then
/// `extra` (which wins), defaults, or are asked at the terminal when `ask` is set.
pub fn prepare_start(
    plan: Arc<Plan>,
    mode: Mode,
    name: Option<String>,
    args: &RunArgs,
    extra: &[(String, String)],
    ask: bool,
) -> Result<Prepared> {
    let dry = matches!(mode, Mode::DryRun { .. });
    let mut given = pairs(&args.inputs, "NAME=VALUE")?;
    given.extend_from_slice(extra);
    let inputs = resolve_inputs(&plan, &given, &IndexMap::new(), dry, ask)?;
    let name = run_name(&plan, name, &inputs)?;
    let decisions = decisions(args)?;
    let mut state = new_state(&plan, &name, &inputs)?;
    let store = if dry {
        None
    } else {
        if state::exists(&name) {
            return Err(state::StoreError::Exists(name).into());
        }
        // Where it is driven: recorded for a run that is made (a dry run writes nothing).
        state.driven_on = Some(state::Place::here(state.workdir.clone()));
        Some(RunStore::create(&state)?)
    };
    let values = Values::new(&name, inputs);
    Ok(Prepared {
        plan,
        mode,
        state,
        store,
        values,
        decisions,
        aws: aws_settings(args),
        resuming: false,
    })
}

/// The runbook of a run, here. For a run last driven on another machine: at the same path
/// when it is there, else at the same place relative to where the run was driven (the same
/// checkout, cloned here) from `cwd`.
pub fn runbook_path(st: &RunState, cwd: &Path) -> PathBuf {
    let path = &st.runbook.path;
    let Some(there) = st.driven_elsewhere() else {
        return path.clone();
    };
    if path.is_file() {
        return path.clone();
    }
    match path.strip_prefix(&there.workdir) {
        Ok(relative) => cwd.join(relative),
        Err(_) => path.clone(),
    }
}

/// What to say of a run last driven on another machine; `None` when it was driven here.
pub fn driven_elsewhere(st: &RunState) -> Option<String> {
    let there = st.driven_elsewhere()?;
    Some(format!(
        "run `{}` was last driven on {} ({}, in {}); the files its steps wrote are there, \
         not here, and its relative paths will resolve in this folder",
        st.name,
        there.host,
        there.home.display(),
        there.workdir.display()
    ))
}

/// A run last driven on another machine goes on here only when the person says so: at the
/// terminal, or with `--moved`.
fn carry_on_here(st: &RunState, moved: bool, ask: bool) -> Result<()> {
    let Some(what) = driven_elsewhere(st) else {
        return Ok(());
    };
    let name = &st.name;
    if moved {
        crate::out::errln!("{what}");
        return Ok(());
    }
    if ask && interactive() {
        crate::out::eprint(format_args!("{what}\ngo on here? [y/N] "));
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    Err(Error::Refused {
        what,
        hint: carry_on_hint(name),
    })
}

/// How to go on with a run last driven on another machine, once a person is sure.
pub fn carry_on_hint(name: &str) -> String {
    format!("be sure nothing of it still runs there, then `stepwise resume {name} --moved`")
}

/// Opens a run to go on with it (takes its lock). Inputs are as recorded, replaced by
/// `--input` and then `extra`; secret inputs, which are not kept, come from those or are asked
/// at the terminal when `ask` is set.
pub fn prepare_resume(
    name: &str,
    args: &RunArgs,
    extra: &[(String, String)],
    ask: bool,
) -> Result<Prepared> {
    let peeked = state::peek(name)?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
    let runbook = runbook_path(&peeked, &cwd);
    let plan = load(&runbook)?;
    let (mut store, mut state) = RunStore::open(name)?;
    if let Some(there) = state.driven_elsewhere().cloned() {
        carry_on_here(&state, args.moved, ask)?;
        // Its steps' processes, if any still run, are there: not to be looked for here.
        for st in state.steps.values_mut() {
            st.pgid = None;
            st.pgid_started = None;
        }
        state.workdir = cwd.clone();
        state.runbook.path = runbook;
        let from = format!("from {} ({}) to here", there.host, there.home.display());
        store.journal("run.moved", None, Some(&from))?;
    }
    state.driven_on = Some(state::Place::here(state.workdir.clone()));
    let mut given = pairs(&args.inputs, "NAME=VALUE")?;
    given.extend_from_slice(extra);
    let inputs = resolve_inputs(&plan, &given, &state.inputs, false, ask)?;
    state.inputs = crate::engine::context::recorded(&inputs);
    if state.runbook.hash != plan.root().hash() {
        state.runbook.hash = plan.root().hash();
        store.journal(
            "run.runbook_changed",
            None,
            Some("the runbook changed since the run started"),
        )?;
    }
    follow_plan(&mut state, &plan);
    store.journal("run.resumed", None, None)?;
    let decisions = decisions(args)?;
    let values = Values::new(name, inputs);
    Ok(Prepared {
        plan,
        mode: Mode::Real,
        state,
        store: Some(store),
        values,
        decisions,
        aws: aws_settings(args),
        resuming: true,
    })
}
