//! Native AWS actions: the extension point through which `aws` steps act on an account.
//!
//! Each action is a type implementing `Action`: it checks its parameters when the runbook is
//! validated, describes the request it would send (for dry runs), reads the current state to
//! say what it would do (`plan`, for dry runs with `--with-checks` and the UI), and applies
//! itself. Actions that change things are idempotent where AWS allows it: when the wanted state
//! already holds they change nothing and say so (`Outcome::changed` is false).
//!
//! Actions reach AWS through one small trait per service (`IamApi`, `Ec2Api`, ...), implemented
//! for the official SDK clients and, for tests, by in-memory fakes (`fake`). The `Registry`
//! maps action names, as written in runbooks, to actions.

pub mod ec2;
#[doc(hidden)]
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
mod flex;
pub mod iam;
pub mod route53;
pub mod s3;
mod session;
pub mod ssm;
pub mod sts;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use session::{ApiError, classify};
pub use session::{Aws, AwsSettings, Clock, FixedClock, Identity, Preset, Services, SystemClock};

use crate::syntax::yaml::{Node, Pos, from_node};

/// A boxed future, so that actions can be stored as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a call through a service trait.
pub type ApiResult<T> = Result<T, ApiError>;

/// The error code of a checking action whose condition does not hold (yet); with `wait`, the
/// engine tries again.
pub const CHECK_FAILED: &str = "CheckFailed";

/// The error code of a waiting action that looked once (`once`) and found what it waits for
/// not there now; its message says what is there (`it is pending now`).
pub const LOOKED_ONCE: &str = "LookedOnce";

/// What applying an action did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Result fields, which become the step's outputs.
    pub result: Value,
    /// False when the wanted state already held and nothing was changed.
    pub changed: bool,
    /// What happened, for the log: one line, sometimes followed by details.
    pub summary: String,
    /// Names of result fields that are secret: masked, and never written to disk.
    pub secret: Vec<String>,
}

impl Outcome {
    /// Something was changed.
    pub fn changed(summary: impl Into<String>, result: Value) -> Outcome {
        Outcome {
            result,
            changed: true,
            summary: summary.into(),
            secret: Vec::new(),
        }
    }

    /// The wanted state already held (or the action only read).
    pub fn unchanged(summary: impl Into<String>, result: Value) -> Outcome {
        Outcome {
            changed: false,
            ..Outcome::changed(summary, result)
        }
    }

    /// Marks result fields as secret.
    pub fn with_secret(mut self, names: &[&str]) -> Outcome {
        self.secret.extend(names.iter().map(|s| s.to_string()));
        self
    }
}

/// What an action would do, found by reading the current state without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub verdict: Verdict,
    /// Says it for a person: "would create user ada", "already as wanted: ...", a diff.
    pub text: String,
    /// What is there now, when the action can say it in a line (`stepwise check` shows it
    /// beside `wanted`).
    pub current: Option<String>,
    /// What applying would make it.
    pub wanted: Option<String>,
}

/// The kind of thing an action would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to change.
    AsWanted,
    /// It would create or change something (the text says what, with a diff when it helps).
    WouldChange,
    /// It would refuse (the text says why, and how to go ahead).
    WouldRefuse,
    /// A read-only action: what it read.
    Read,
    /// The current state could not be read ahead (it depends on what earlier steps do).
    Unknown,
}

impl Planned {
    /// With what is there now and what is wanted, each in a line.
    pub fn values(mut self, current: impl Into<String>, wanted: impl Into<String>) -> Planned {
        self.current = Some(current.into());
        self.wanted = Some(wanted.into());
        self
    }

    pub fn as_wanted(text: impl fmt::Display) -> Planned {
        Planned {
            verdict: Verdict::AsWanted,
            text: format!("already as wanted: {text}"),
            current: None,
            wanted: None,
        }
    }
    pub fn would(text: impl fmt::Display) -> Planned {
        Planned {
            verdict: Verdict::WouldChange,
            text: format!("would {text}"),
            current: None,
            wanted: None,
        }
    }
    pub fn refuse(text: impl fmt::Display) -> Planned {
        Planned {
            verdict: Verdict::WouldRefuse,
            text: format!("would refuse: {text}"),
            current: None,
            wanted: None,
        }
    }
    pub fn read(text: impl fmt::Display) -> Planned {
        Planned {
            verdict: Verdict::Read,
            text: text.to_string(),
            current: None,
            wanted: None,
        }
    }
    pub fn unknown(text: impl fmt::Display) -> Planned {
        Planned {
            verdict: Verdict::Unknown,
            text: text.to_string(),
            current: None,
            wanted: None,
        }
    }
}

/// An AWS error, said so that a person knows what to do next.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action}: {code}: {message}{}", hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
pub struct AwsError {
    pub action: String,
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl AwsError {
    /// An error found by the action itself (not returned by AWS).
    pub fn new(action: &str, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            action: action.to_string(),
            code: code.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> AwsError {
        self.hint = Some(hint.into());
        self
    }
}

/// One native AWS action.
pub trait Action: Send + Sync {
    /// The name runbooks use, e.g. `sts.get_caller_identity`.
    fn name(&self) -> &'static str;
    /// One line on what the action does.
    fn summary(&self) -> &'static str;
    /// The outputs it produces.
    fn outputs(&self) -> &'static [&'static str];
    /// Whether the action only reads (it can run in a dry run with `--with-checks`).
    fn read_only(&self) -> bool;
    /// Why a step using the action must have a `danger` confirmation, if it must.
    fn danger(&self) -> Option<&'static str> {
        None
    }
    /// Whether the action takes the terminal (an interactive session).
    fn interactive(&self) -> bool {
        false
    }
    /// Why what the action did is not re-checked (`stepwise check`), when it is not: it does
    /// something new each time it runs, so there is no state to hold.
    fn not_rechecked(&self) -> Option<&'static str> {
        None
    }
    /// The parameters that are shell scripts (run by a shell elsewhere): their template values
    /// are put in quoted, as data, where they stand.
    fn scripts(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks the `with` parameters as written; each problem with where it is.
    fn check_params(&self, with: Option<&Node>) -> Vec<(Pos, String)>;
    /// The request it would send, with templates already resolved in `params`.
    fn request(&self, params: &Value) -> Value;
    /// Reads the current state and says what applying would do; changes nothing.
    fn plan<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Planned, AwsError>>;
    /// As `plan`, for a step that ran: what is missing is said as an error (it was there
    /// when the step ran), not as something an earlier step may still create.
    fn recheck<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Planned, AwsError>>;
    /// Applies the action.
    fn apply<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Outcome, AwsError>>;
}

impl fmt::Debug for dyn Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of an action: read from `with`, and checked beyond their types.
pub trait Params: DeserializeOwned + Send + Sync {
    /// Rules that types cannot say (e.g. exactly one of two fields).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// An action written against its typed parameters; every such type is an `Action`.
pub trait Typed: Send + Sync + 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    const OUTPUTS: &'static [&'static str];
    const READ_ONLY: bool;
    const DANGER: Option<&'static str> = None;
    const INTERACTIVE: bool = false;
    const NOT_RECHECKED: Option<&'static str> = None;
    const SCRIPTS: &'static [&'static str] = &[];
    type P: Params;

    /// The request, as shown in a dry run.
    fn request(&self, p: &Self::P) -> Value;
    /// What applying would do. Read-only actions read.
    fn plan(
        &self,
        aws: &Aws,
        p: &Self::P,
    ) -> impl Future<Output = Result<Planned, AwsError>> + Send;
    fn apply(
        &self,
        aws: &Aws,
        p: &Self::P,
    ) -> impl Future<Output = Result<Outcome, AwsError>> + Send;
}

impl<T: Typed> Action for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn summary(&self) -> &'static str {
        T::SUMMARY
    }
    fn outputs(&self) -> &'static [&'static str] {
        T::OUTPUTS
    }
    fn read_only(&self) -> bool {
        T::READ_ONLY
    }
    fn danger(&self) -> Option<&'static str> {
        T::DANGER
    }
    fn interactive(&self) -> bool {
        T::INTERACTIVE
    }
    fn not_rechecked(&self) -> Option<&'static str> {
        T::NOT_RECHECKED
    }
    fn scripts(&self) -> &'static [&'static str] {
        T::SCRIPTS
    }
    fn check_params(&self, with: Option<&Node>) -> Vec<(Pos, String)> {
        check_typed::<T::P>(with)
    }
    fn request(&self, params: &Value) -> Value {
        match parse::<T::P>(T::NAME, params) {
            Ok(p) => Typed::request(self, &p),
            Err(e) => {
                serde_json::json!({ "action": T::NAME, "parameters": params, "problem": e.message })
            }
        }
    }
    fn plan<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Planned, AwsError>> {
        Box::pin(async move {
            match Action::recheck(self, aws, params).await {
                // In a dry run, what is missing may be what an earlier step would create.
                Err(e) if e.code == "NoSuchEntity" => Ok(Planned::unknown(format!(
                    "cannot tell yet: {} (an earlier step may create it)",
                    e.message
                ))),
                other => other,
            }
        })
    }
    fn recheck<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Planned, AwsError>> {
        Box::pin(async move {
            let p = parse::<T::P>(T::NAME, params)?;
            Typed::plan(self, aws, &p).await
        })
    }
    fn apply<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        Box::pin(async move {
            let p = parse::<T::P>(T::NAME, params)?;
            Typed::apply(self, aws, &p).await
        })
    }
}

/// All the actions, by name.
pub struct Registry {
    actions: Vec<Box<dyn Action>>,
}

impl Registry {
    /// The action of that name.
    pub fn get(&self, name: &str) -> Option<&dyn Action> {
        self.actions
            .iter()
            .find(|a| a.name() == name)
            .map(|a| a.as_ref())
    }

    /// The names of all actions.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.actions.iter().map(|a| a.name())
    }

    /// All actions, in the order they are documented.
    pub fn all(&self) -> impl Iterator<Item = &dyn Action> + '_ {
        self.actions.iter().map(|a| a.as_ref())
    }
}

/// The registry of actions.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut actions: Vec<Box<dyn Action>> = vec![Box::new(sts::GetCallerIdentity)];
        actions.extend(iam::actions());
        actions.extend(ec2::actions());
        actions.extend(ssm::actions());
        actions.extend(route53::actions());
        actions.extend(s3::actions());
        Registry { actions }
    })
}

/// Checks parameters written in a runbook against a typed parameter struct.
pub fn check_typed<P: Params>(with: Option<&Node>) -> Vec<(Pos, String)> {
    let empty = Node {
        pos: Pos::default(),
        kind: crate::syntax::yaml::NodeKind::Map(Vec::new()),
    };
    let node = with.filter(|n| !n.is_null()).unwrap_or(&empty);
    match from_node::<P>(node) {
        Ok(p) => match p.check() {
            Ok(()) => Vec::new(),
            Err(e) => vec![(node.pos, e)],
        },
        Err(e) => vec![(e.pos.unwrap_or(node.pos), wording(e.message))],
    }
}

/// serde speaks of fields; a runbook's `with` holds parameters.
fn wording(message: String) -> String {
    match message.strip_prefix("missing field ") {
        Some(rest) => format!("missing parameter {rest}"),
        None => message,
    }
}

/// Reads resolved parameters into a typed struct, by the same rules as validation.
pub fn parse<P: Params>(action: &str, params: &Value) -> Result<P, AwsError> {
    let value = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    };
    let node = flex::node_of(&value);
    let p: P = from_node::<P>(&node).map_err(|e| {
        AwsError::new(action, "InvalidParameters", wording(e.message))
            .hint("check the step's `with` values as resolved (a dry run shows them)")
    })?;
    p.check()
        .map_err(|e| AwsError::new(action, "InvalidParameters", e))?;
    Ok(p)
}

/// A JSON document in a canonical form, so that two documents can be compared: keys sorted,
/// and a single-item list equal to its item where IAM treats them alike (`Action`,
/// `Resource`, `Principal` values...).
pub fn canonical_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical_json(&m[k])))
                    .collect(),
            )
        }
        Value::Array(items) if items.len() == 1 => canonical_json(&items[0]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical_json).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// A JSON document with its keys sorted, as written otherwise (for showing differences).
pub fn sorted_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_json(&m[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// A unified diff of two JSON documents (keys sorted), for plans.
pub fn diff_json(current: &Value, wanted: &Value) -> String {
    diff_text(
        "current",
        "wanted",
        &pretty(&sorted_json(current)),
        &pretty(&sorted_json(wanted)),
    )
}

/// A unified diff of two texts, for plans.
pub fn diff_text(old_label: &str, new_label: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

/// A JSON document as pretty text, ending with a newline (for diffs).
pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Decodes `%XX` escapes (IAM returns policy documents URL-encoded).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as AWS returns it (URL-encoded or not) as JSON.
pub fn policy_json(s: &str) -> Value {
    serde_json::from_str(s)
        .or_else(|_| serde_json::from_str(&percent_decode(s)))
        .unwrap_or_else(|_| Value::String(s.to_string()))
}

/// How long ago, in whole days.
pub fn days_between(from: jiff::Timestamp, to: jiff::Timestamp) -> i64 {
    (to.as_second() - from.as_second()).div_euclid(86_400)
}

tokio::task_local! {
    /// Set while an action only looks once (`once`).
    static LOOK_ONCE: ();
}

/// Runs an action's future so that a waiting action looks once instead of waiting: a re-check
/// asks whether its condition holds now.
pub async fn once<F: Future>(f: F) -> F::Output {
    LOOK_ONCE.scope((), f).await
}

/// Waits for a condition, polling `check` every `aws.poll_every()` until it returns a value
/// or `timeout` has passed; `check` returns `Err(what it is now)` while not there yet.
pub async fn poll<T, F, Fut>(
    aws: &Aws,
    timeout: std::time::Duration,
    mut check: F,
) -> Result<Result<T, String>, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, AwsError>>,
{
    let started = aws.clock().now();
    loop {
        match check().await? {
            Ok(v) => return Ok(Ok(v)),
            // Looking once, what it is now is the answer: the condition does not hold.
            Err(now) if LOOK_ONCE.try_with(|_| ()).is_ok() => {
                return Err(AwsError::new("", LOOKED_ONCE, format!("it is {now} now")));
            }
            Err(now) => {
                let elapsed = aws.clock().now().duration_since(started);
                let elapsed = std::time::Duration::try_from(elapsed).unwrap_or_default();
                if elapsed + aws.poll_every() > timeout {
                    return Ok(Err(now));
                }
                aws.sleep(aws.poll_every()).await;
            }
        }
    }
}

/// Turns an error from a service call into the action's error.
pub trait OrFail<T> {
    fn or_fail(self, aws: &Aws, action: &str) -> Result<T, AwsError>;
}

impl<T> OrFail<T> for ApiResult<T> {
    fn or_fail(self, aws: &Aws, action: &str) -> Result<T, AwsError> {
        self.map_err(|e| aws.fail(action, e))
    }
}
