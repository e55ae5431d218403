//! The runbook format, version 1, as Rust types.
//!
//! These types are the single definition of the format: runbooks are read into them, and the
//! JSON Schema in `assets/` is generated from them. Field names are fixed by the format.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub use crate::syntax::duration::Duration;

use super::yaml::{Pos, SPANNED, SPANNED_FIELDS};

/// A runbook file: a procedure as a list of steps, with the inputs it needs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "stepwise runbook",
    description = "A stepwise runbook, format version 1."
)]
pub struct RunbookDoc {
    /// Format version; always 1.
    #[schemars(range(min = 1, max = 1))]
    pub stepwise: u32,
    /// Short identifier of the runbook, e.g. `route53-cname`.
    pub id: Spanned<String>,
    /// One-line title shown in lists and headers.
    pub title: String,
    /// What the procedure is for (markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How runs are named, as a template, e.g. `"{{ inputs.deployment }}-hub"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<Spanned<String>>,
    /// Values the procedure needs, checked before anything runs.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, Input>,
    /// Defaults for AWS steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsDefaults>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A value the person gives when a run starts (or an included runbook receives).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What the value is and where to find it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default value; may be a template over earlier inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Spanned<String>>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Spanned<String>>,
    /// The only values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// A secret is never written to disk and is masked wherever it would be shown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// Whether a value must be given; defaults to true when there is no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// Defaults for every AWS step of the runbook.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsDefaults {
    /// Region, e.g. `us-east-1` (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Spanned<String>>,
    /// Named profile from the AWS config (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Spanned<String>>,
    /// Role ARN to assume for AWS steps (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<Spanned<String>>,
    /// Length of the assumed-role session, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<Duration>,
    /// ARN or serial of the MFA device whose code assuming the role needs (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<Spanned<String>>,
    /// The account the runbook must act on; any other is refused (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Spanned<String>>,
}

/// One step of a runbook. Exactly one of `manual`, `run`, `check`, `aws`, `file`, `include`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id within the runbook: lowercase letters, digits, `-` and `_`.
    pub id: Spanned<String>,
    /// One-line title.
    pub title: String,
    /// Why this step exists (markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Instructions for a person (markdown); a person confirms when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    /// A bash script, run with `-e -o pipefail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// A read-only bash script whose exit status decides; with `wait`, polled until it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// A native AWS action by name, e.g. `sts.get_caller_identity`; parameters in `with`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<Spanned<String>>,
    /// Write a file from a template, or change keys in a YAML or JSON file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Box<FileSpec>>,
    /// Another runbook file (relative to this one); its steps run nested under this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Spanned<String>>,

    /// Parameters of an `aws` action, or inputs of an `include`; string values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<IndexMap<String, serde_json::Value>>")]
    pub with: Option<Box<serde_json::Value>>,
    /// Environment variables for `run` and `check` (templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Working directory for `run` and `check`, relative to where the run was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The command needs the terminal (an editor, `aws ssm start-session`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub interactive: bool,
    /// Poll a `check` (or a checking `aws` action) until it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Questions for a `manual` step; each answer becomes an output of the same name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub prompts: IndexMap<String, Prompt>,
    /// Items a person ticks off in a `manual` step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,

    /// Run the step only when this expression is true, e.g. `inputs.env == "prod"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<String>>,
    /// A read-only bash script; when it succeeds the step is recorded as already satisfied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if: Option<String>,
    /// How `stepwise check` re-checks the finished step: `false` (not at all: what it made
    /// true is not meant to last), or a read-only bash script whose exit status says whether
    /// it still holds. By default a `check` runs again, an `aws` action reads the current state,
    /// a `file` is compared, and a `run` step's `skip_if` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<Recheck>,
    /// Named values the step produces, for later steps as `{{ steps.<id>.<name> }}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, Option<OutputSpec>>,
    /// Text the person must type to let this step change anything (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub danger: Option<String>,
    /// Try again on failure: a count, or `{times, delay}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Longest time one attempt may take, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// A failure of this step is recorded, and the run goes on.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continue_on_error: bool,
    /// Run the step once for each item of a list (a template giving items separated by commas
    /// or new lines, or a JSON list); `{{ item }}` is the current one. Each output becomes the
    /// items' values joined by `, `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// For an `aws` step: a role ARN to act as for this step only (a template), over the
    /// runbook's `aws.assume_role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<String>,
}

/// The step kinds, by their field name.
pub const KINDS: &[&str] = &["manual", "run", "check", "aws", "file", "include"];

/// Which kind a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Manual,
    Run,
    Check,
    Aws,
    File,
    Include,
}

impl StepKind {
    /// The field name that introduces the kind.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Manual => "manual",
            StepKind::Run => "run",
            StepKind::Check => "check",
            StepKind::Aws => "aws",
            StepKind::File => "file",
            StepKind::Include => "include",
        }
    }
}

impl Step {
    /// The kinds this step declares (a valid step declares exactly one).
    pub fn kinds(&self) -> Vec<StepKind> {
        let mut kinds = Vec::new();
        if self.manual.is_some() {
            kinds.push(StepKind::Manual);
        }
        if self.run.is_some() {
            kinds.push(StepKind::Run);
        }
        if self.check.is_some() {
            kinds.push(StepKind::Check);
        }
        if self.aws.is_some() {
            kinds.push(StepKind::Aws);
        }
        if self.file.is_some() {
            kinds.push(StepKind::File);
        }
        if self.include.is_some() {
            kinds.push(StepKind::Include);
        }
        kinds
    }

    /// The step's kind; validation guarantees there is exactly one.
    pub fn kind(&self) -> StepKind {
        self.kinds().first().copied().unwrap_or(StepKind::Manual)
    }
}

/// Writes a file, or changes keys in one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The file to write or change, relative to where the run was started (a template).
    pub path: String,
    /// The whole new content (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A template file, relative to the runbook, rendered as the whole new content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Spanned<String>>,
    /// Keys to set in an existing YAML or JSON file: `a.b[0].c: value`. Values are templates in
    /// which `current` is the value there now.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub set: IndexMap<String, serde_json::Value>,
    /// `yaml` or `json`; by default from the file's extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    /// Unix permissions of a new file, e.g. `"0600"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// How a file with keys to `set` is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Yaml,
    Json,
}

/// How a waiting check is polled.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// Time between two tries, e.g. `30s`.
    pub every: Duration,
    /// Give up after this long, e.g. `3d`.
    pub timeout: Duration,
}

/// A question a `manual` step asks; the answer becomes an output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    /// The question, e.g. "Paste the hub's EXTERNAL-IP".
    pub prompt: String,
    /// A regular expression the whole answer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Spanned<String>>,
    /// The only answers allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The answer is a secret: never on disk, masked when shown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
}

/// Where an output's value comes from. With neither `regex` nor `json`, a `run` step's value is
/// the line `NAME=value` its script wrote to `$STEPWISE_OUTPUT`, and an `aws` step's value is the
/// result field of the same name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// A regular expression over stdout; the first capture group (or the whole match) is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
    /// A JSON path (RFC 9535) over stdout parsed as JSON, or over an AWS result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Spanned<String>>,
    /// The value is a secret: kept in memory for later steps of this run, never on disk.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// What the value is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How often a failed step is tried again, and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retry {
    /// Tries after the first one.
    pub times: u32,
    /// Wait between tries.
    #[serde(default)]
    pub delay: Option<Duration>,
}

impl<'de> Deserialize<'de> for Retry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Retry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of tries, or a mapping with `times` and `delay`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Retry, E> {
                let times = u32::try_from(v).map_err(|_| E::custom("retry count too large"))?;
                Ok(Retry { times, delay: None })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Retry, E> {
                let v =
                    u64::try_from(v).map_err(|_| E::custom("retry count must not be negative"))?;
                self.visit_u64(v)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Retry, A::Error> {
                let mut retry = Retry {
                    times: 0,
                    delay: None,
                };
                let mut times = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "times" => times = Some(map.next_value::<u32>()?),
                        "delay" => retry.delay = Some(map.next_value::<Duration>()?),
                        other => return Err(de::Error::unknown_field(other, &["times", "delay"])),
                    }
                }
                retry.times = times.ok_or_else(|| de::Error::missing_field("times"))?;
                Ok(retry)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Retry {
    fn schema_name() -> Cow<'static, str> {
        "Retry".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<Duration>();
        json_schema!({
            "description": "Tries after the first failure: a count, or `{times, delay}`.",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                {
                    "type": "object",
                    "properties": { "times": { "type": "integer", "minimum": 0 }, "delay": duration },
                    "required": ["times"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// How a finished step is re-checked (`recheck:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// `false`: the step is not re-checked.
    Off,
    /// `true`, a script, or `{run, warn_before}`.
    On {
        /// A read-only bash script (a template) whose exit status 0 says what the step made
        /// true holds; without it, the step is re-checked its kind's own way.
        run: Option<String>,
        /// How long before what the step made true expires the check warns (a script says
        /// when it expires by writing `expires=TIME` or `days_left=N` to `$STEPWISE_OUTPUT`).
        warn_before: Option<Duration>,
    },
}

impl Recheck {
    /// The script, when there is one.
    pub fn script(&self) -> Option<&str> {
        match self {
            Recheck::On { run: Some(s), .. } => Some(s),
            _ => None,
        }
    }

    /// The warning threshold, when one is set.
    pub fn warn_before(&self) -> Option<std::time::Duration> {
        match self {
            Recheck::On {
                warn_before: Some(d),
                ..
            } => Some(d.0),
            _ => None,
        }
    }
}

impl Serialize for Recheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Recheck::Off => s.serialize_bool(false),
            Recheck::On {
                run: None,
                warn_before: None,
            } => s.serialize_bool(true),
            Recheck::On {
                run: Some(text),
                warn_before: None,
            } => s.serialize_str(text),
            Recheck::On { run, warn_before } => {
                let mut m = s.serialize_map(None)?;
                if let Some(run) = run {
                    m.serialize_entry("run", run)?;
                }
                if let Some(w) = warn_before {
                    m.serialize_entry("warn_before", w)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Recheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Recheck;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`false`, `true`, a read-only bash script, or a mapping with `run` and `warn_before`",
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Recheck, E> {
                Ok(if v {
                    Recheck::On {
                        run: None,
                        warn_before: None,
                    }
                } else {
                    Recheck::Off
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Recheck, E> {
                self.visit_string(v.to_string())
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Recheck, E> {
                Ok(Recheck::On {
                    run: Some(v),
                    warn_before: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Recheck, A::Error> {
                let (mut run, mut warn_before) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "run" => run = Some(map.next_value::<String>()?),
                        "warn_before" => warn_before = Some(map.next_value::<Duration>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["run", "warn_before"]));
                        }
                    }
                }
                Ok(Recheck::On { run, warn_before })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Recheck {
    fn schema_name() -> Cow<'static, str> {
        "Recheck".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<Duration>();
        json_schema!({
            "description": "How `stepwise check` re-checks the finished step: `false` (not at all), `true` (its kind's own way), a read-only bash script whose exit status says whether it still holds, or `{run, warn_before}`: the script (optional) and how long before what the step made true expires the check warns.",
            "oneOf": [
                { "type": "boolean" },
                { "type": "string" },
                {
                    "type": "object",
                    "properties": { "run": { "type": "string" }, "warn_before": duration },
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A value together with the position it was written at in the runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

impl<T> Spanned<T> {
    /// A value with no source position (made by code, not read from a file).
    pub fn new(value: T) -> Self {
        Spanned {
            pos: Pos::default(),
            value,
        }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                let mut pos = Pos::default();
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "$line" => pos.line = map.next_value::<u64>()? as usize,
                        "$col" => pos.col = map.next_value::<u64>()? as usize,
                        _ => value = Some(map.next_value::<T>()?),
                    }
                }
                let value = value.ok_or_else(|| de::Error::custom("missing value"))?;
                Ok(Spanned { pos, value })
            }
        }
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, V(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
