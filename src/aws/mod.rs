//! Native AWS actions: the extension point through which `aws` steps act on an account.
//!
//! Each action is a type implementing `Action`: it checks its parameters when the runbook is
//! validated, describes the request it would send (for dry runs), and applies itself through
//! the official SDK. The `Registry` maps action names, as written in runbooks, to actions.

mod session;
mod sts;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use session::{Aws, AwsSettings, Identity};

use crate::runbook::yaml::{Node, Pos, from_node};

/// A boxed future, so that actions can be stored as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The error code of a checking action whose condition does not hold (yet); with `wait`, the
/// engine tries again.
pub const CHECK_FAILED: &str = "CheckFailed";

/// What applying an action did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Result fields, which become the step's outputs.
    pub result: Value,
    /// False when the wanted state already held and nothing was changed.
    pub changed: bool,
    /// One line saying what happened, for the log.
    pub summary: String,
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
    /// Checks the `with` parameters as written; each problem with where it is.
    fn check_params(&self, with: Option<&Node>) -> Vec<(Pos, String)>;
    /// The request it would send, with templates already resolved in `params`.
    fn request(&self, params: &Value) -> Value;
    /// Applies the action.
    fn apply<'a>(
        &'a self,
        aws: &'a Aws,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Outcome, AwsError>>;
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
}

/// The registry of actions.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        actions: vec![Box::new(sts::GetCallerIdentity)],
    })
}

/// Checks parameters written in a runbook against a typed parameter struct.
pub fn check_typed<P: DeserializeOwned>(with: Option<&Node>) -> Vec<(Pos, String)> {
    let empty = Node {
        pos: Pos::default(),
        kind: crate::runbook::yaml::NodeKind::Map(Vec::new()),
    };
    let node = with.filter(|n| !n.is_null()).unwrap_or(&empty);
    match from_node::<P>(node) {
        Ok(_) => Vec::new(),
        Err(e) => vec![(e.pos.unwrap_or(node.pos), e.message)],
    }
}

/// Reads resolved parameters into a typed struct.
pub fn params<P: DeserializeOwned>(action: &str, params: &Value) -> Result<P, AwsError> {
    let value = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(value).map_err(|e| AwsError {
        action: action.to_string(),
        code: "InvalidParameters".into(),
        message: e.to_string(),
        hint: None,
    })
}
