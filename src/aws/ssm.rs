//! SSM: waiting for an instance's agent, running commands on it, opening a Session Manager
//! session, and reading and writing parameters.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::flex::{self, choice};
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, OrFail, Outcome, Params, Planned, Typed,
    poll,
};

// ---------------------------------------------------------------------------------------------
// The service boundary

/// An instance's SSM agent as SSM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Online, ConnectionLost, Inactive
    pub ping_status: String,
    pub agent_version: Option<String>,
    pub platform: Option<String>,
}

/// A command on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Pending, InProgress, Delayed, Success, Cancelled, TimedOut, Failed, Cancelling
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl Invocation {
    fn finished(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Delayed" | "Cancelling" | ""
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub value: String,
    /// String, StringList, SecureString
    pub kind: String,
    pub version: i64,
}

/// The SSM calls stepwise makes.
pub trait SsmApi: Send + Sync {
    /// The instance's agent; `None` when it has not registered with SSM.
    fn agent<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, ApiResult<Option<Agent>>>;
    /// Sends shell commands (AWS-RunShellScript); returns the command id.
    fn send_command<'a>(
        &'a self,
        instance_id: &'a str,
        commands: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, ApiResult<String>>;
    /// How the command is doing on the instance; `None` before SSM knows of it there.
    fn invocation<'a>(
        &'a self,
        command_id: &'a str,
        instance_id: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Invocation>>>;
    /// A parameter; `None` when there is none.
    fn get_parameter<'a>(
        &'a self,
        name: &'a str,
        decrypt: bool,
    ) -> BoxFuture<'a, ApiResult<Option<Parameter>>>;
    /// Writes a parameter; returns its new version.
    fn put_parameter<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        kind: &'a str,
        overwrite: bool,
    ) -> BoxFuture<'a, ApiResult<i64>>;
}

impl SsmApi for aws_sdk_ssm::Client {
    fn agent<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, ApiResult<Option<Agent>>> {
        use aws_sdk_ssm::types::InstanceInformationStringFilter;
        Box::pin(async move {
            let filter = InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .values(instance_id)
                .build()
                .map_err(|e| {
                    ApiError::new(
                        "ssm:DescribeInstanceInformation",
                        "InvalidFilter",
                        e.to_string(),
                    )
                })?;
            let o = self
                .describe_instance_information()
                .filters(filter)
                .send()
                .await
                .map_err(|e| ApiError::sdk("ssm:DescribeInstanceInformation", e))?;
            Ok(o.instance_information_list().first().map(|i| Agent {
                ping_status: i
                    .ping_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                agent_version: i.agent_version().map(str::to_string),
                platform: i.platform_name().map(str::to_string),
            }))
        })
    }

    fn send_command<'a>(
        &'a self,
        instance_id: &'a str,
        commands: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, ApiResult<String>> {
        Box::pin(async move {
            let o = self
                .send_command()
                .instance_ids(instance_id)
                .document_name("AWS-RunShellScript")
                .parameters("commands", commands.to_vec())
                .parameters(
                    "executionTimeout",
                    vec![timeout.as_secs().clamp(1, 172_800).to_string()],
                )
                .comment("stepwise ssm.run_command")
                .send()
                .await
                .map_err(|e| ApiError::sdk("ssm:SendCommand", e))?;
            Ok(o.command()
                .and_then(|c| c.command_id())
                .unwrap_or_default()
                .to_string())
        })
    }

    fn invocation<'a>(
        &'a self,
        command_id: &'a str,
        instance_id: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Invocation>>> {
        Box::pin(async move {
            match self
                .get_command_invocation()
                .command_id(command_id)
                .instance_id(instance_id)
                .send()
                .await
            {
                Ok(o) => Ok(Some(Invocation {
                    status: o
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    stdout: o.standard_output_content().unwrap_or_default().to_string(),
                    stderr: o.standard_error_content().unwrap_or_default().to_string(),
                    exit_code: o.response_code(),
                })),
                Err(e) => {
                    let e = ApiError::sdk("ssm:GetCommandInvocation", e);
                    if e.is("InvocationDoesNotExist") {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    fn get_parameter<'a>(
        &'a self,
        name: &'a str,
        decrypt: bool,
    ) -> BoxFuture<'a, ApiResult<Option<Parameter>>> {
        Box::pin(async move {
            match self
                .get_parameter()
                .name(name)
                .with_decryption(decrypt)
                .send()
                .await
            {
                Ok(o) => Ok(o.parameter().map(|p| Parameter {
                    value: p.value().unwrap_or_default().to_string(),
                    kind: p
                        .r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    version: p.version(),
                })),
                Err(e) => {
                    let e = ApiError::sdk("ssm:GetParameter", e);
                    if e.is("ParameterNotFound") {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    fn put_parameter<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        kind: &'a str,
        overwrite: bool,
    ) -> BoxFuture<'a, ApiResult<i64>> {
        Box::pin(async move {
            let o = self
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::from(kind))
                .overwrite(overwrite)
                .send()
                .await
                .map_err(|e| ApiError::sdk("ssm:PutParameter", e))?;
            Ok(o.version())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(WaitOnline),
        Box::new(RunCommand),
        Box::new(StartSession),
        Box::new(GetParameter),
        Box::new(PutParameter),
    ]
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

// --- ssm.wait_online

pub struct WaitOnline;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitOnlineParams {
    instance_id: String,
    #[serde(default = "ten_minutes", deserialize_with = "flex::duration")]
    timeout: Duration,
}
impl Params for WaitOnlineParams {}

fn agent_shown(a: &Option<Agent>) -> String {
    match a {
        None => "not registered with SSM yet".into(),
        Some(a) => a.ping_status.clone(),
    }
}

impl Typed for WaitOnline {
    const NAME: &'static str = "ssm.wait_online";
    const SUMMARY: &'static str =
        "wait until an instance's SSM agent is online (polls; fails after `timeout`)";
    const OUTPUTS: &'static [&'static str] = &["ping_status", "agent_version"];
    const READ_ONLY: bool = true;
    type P = WaitOnlineParams;

    fn request(&self, p: &WaitOnlineParams) -> Value {
        json!({ "service": "ssm", "operation": "DescribeInstanceInformation",
                "Filters": [{ "Key": "InstanceIds", "Values": [p.instance_id] }],
                "until": { "PingStatus": "Online",
                           "timeout": humantime::format_duration(p.timeout).to_string() } })
    }

    async fn plan(&self, aws: &Aws, p: &WaitOnlineParams) -> Result<Planned, AwsError> {
        let a = aws
            .ssm()
            .agent(&p.instance_id)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Planned::read(format!(
            "the SSM agent of {} is {} now",
            p.instance_id,
            agent_shown(&a)
        )))
    }

    async fn apply(&self, aws: &Aws, p: &WaitOnlineParams) -> Result<Outcome, AwsError> {
        let waited = poll(aws, p.timeout, || async {
            let a = aws
                .ssm()
                .agent(&p.instance_id)
                .await
                .or_fail(aws, Self::NAME)?;
            match a {
                Some(a) if a.ping_status == "Online" => Ok(Ok(a)),
                other => Ok(Err(agent_shown(&other))),
            }
        })
        .await?;
        match waited {
            Ok(a) => Ok(Outcome::unchanged(
                format!(
                    "the SSM agent of {} is online{}",
                    p.instance_id,
                    a.agent_version
                        .as_deref()
                        .map(|v| format!(" (agent {v})"))
                        .unwrap_or_default()
                ),
                json!({ "ping_status": a.ping_status, "agent_version": a.agent_version.unwrap_or_default() }),
            )),
            Err(now) => Err(AwsError::new(
                Self::NAME,
                "Timeout",
                format!(
                    "the SSM agent of {} is still {now} after waiting {}",
                    p.instance_id,
                    humantime::format_duration(p.timeout)
                ),
            )
            .hint("the instance needs the SSM agent running, an instance profile allowing SSM (e.g. AmazonSSMManagedInstanceCore) and a route to SSM (NAT or VPC endpoints); the step can be retried")),
        }
    }
}

// --- ssm.run_command

pub struct RunCommand;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCommandParams {
    instance_id: String,
    #[serde(deserialize_with = "flex::list_lines")]
    commands: Vec<String>,
    #[serde(default = "ten_minutes", deserialize_with = "flex::duration")]
    timeout: Duration,
}

impl Params for RunCommandParams {
    fn check(&self) -> Result<(), String> {
        if self.commands.is_empty() {
            return Err("commands: give at least one command".into());
        }
        Ok(())
    }
}

/// The last lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Typed for RunCommand {
    const NAME: &'static str = "ssm.run_command";
    const NOT_RECHECKED: Option<&'static str> =
        Some("it runs its command each time: there is no state to re-check");
    const SUMMARY: &'static str = "run shell commands on an instance through SSM and wait for them (not idempotent: the commands run each time)";
    const OUTPUTS: &'static [&'static str] = &["status", "stdout", "stderr", "command_id"];
    const READ_ONLY: bool = false;
    const SCRIPTS: &'static [&'static str] = &["commands"];
    type P = RunCommandParams;

    fn request(&self, p: &RunCommandParams) -> Value {
        json!({ "service": "ssm", "operation": "SendCommand", "InstanceIds": [p.instance_id],
                "DocumentName": "AWS-RunShellScript",
                "Parameters": { "commands": p.commands,
                                "executionTimeout": [p.timeout.as_secs().to_string()] },
                "then": "GetCommandInvocation until it ends" })
    }

    async fn plan(&self, aws: &Aws, p: &RunCommandParams) -> Result<Planned, AwsError> {
        let agent = match aws.ssm().agent(&p.instance_id).await {
            Ok(a) => format!("its SSM agent is {}", agent_shown(&a)),
            Err(e) => format!("its SSM agent could not be read: {}", e.message),
        };
        Ok(Planned::would(format_args!(
            "run {} command{} on {} ({agent})",
            p.commands.len(),
            if p.commands.len() == 1 { "" } else { "s" },
            p.instance_id
        )))
    }

    async fn apply(&self, aws: &Aws, p: &RunCommandParams) -> Result<Outcome, AwsError> {
        let id = aws
            .ssm()
            .send_command(&p.instance_id, &p.commands, p.timeout)
            .await
            .or_fail(aws, Self::NAME)?;
        // SSM's own execution timeout ends the command; wait a little longer for it to say so.
        let waited = poll(aws, p.timeout + Duration::from_secs(60), || async {
            match aws
                .ssm()
                .invocation(&id, &p.instance_id)
                .await
                .or_fail(aws, Self::NAME)?
            {
                Some(i) if i.finished() => Ok(Ok(i)),
                Some(i) => Ok(Err(i.status)),
                None => Ok(Err("not delivered yet".to_string())),
            }
        })
        .await?;
        let inv = match waited {
            Ok(i) => i,
            Err(now) => {
                return Err(AwsError::new(
                    Self::NAME,
                    "Timeout",
                    format!(
                        "command {id} on {} is still {now} after waiting {}",
                        p.instance_id,
                        humantime::format_duration(p.timeout)
                    ),
                )
                .hint(format!("look with `aws ssm get-command-invocation --command-id {id} --instance-id {}`; the commands may still be running", p.instance_id)));
            }
        };
        let result = json!({ "status": inv.status, "stdout": inv.stdout, "stderr": inv.stderr,
                             "command_id": id });
        if inv.status != "Success" {
            let mut message = format!(
                "command {id} on {} ended {} (exit code {})",
                p.instance_id, inv.status, inv.exit_code
            );
            for (what, text) in [("stderr", &inv.stderr), ("stdout", &inv.stdout)] {
                if !text.trim().is_empty() {
                    message.push_str(&format!("\nlast lines of {what}:\n{}", tail(text, 20)));
                }
            }
            return Err(AwsError::new(Self::NAME, "CommandFailed", message));
        }
        let mut summary = format!("command {id} on {} succeeded", p.instance_id);
        let shown: Vec<&str> = inv.stdout.lines().collect();
        for line in shown.iter().take(200) {
            summary.push_str(&format!("\n| {line}"));
        }
        if shown.len() > 200 {
            summary.push_str(&format!(
                "\n({} more lines in the output `stdout`)",
                shown.len() - 200
            ));
        }
        Ok(Outcome::changed(summary, result))
    }
}

// --- ssm.start_session

pub struct StartSession;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    instance_id: String,
    /// The instance's region; by default the session's.
    #[serde(default)]
    region: Option<String>,
}
impl Params for SessionParams {}

/// The code of an error that only a terminal can fix.
pub const NEEDS_TERMINAL: &str = "NeedsTerminal";

impl StartSession {
    fn command(aws: &Aws, p: &SessionParams) -> Vec<String> {
        vec![
            "aws".into(),
            "ssm".into(),
            "start-session".into(),
            "--target".into(),
            p.instance_id.clone(),
            "--region".into(),
            p.region.clone().unwrap_or_else(|| aws.region()),
        ]
    }

    /// What must be there before the terminal is handed over.
    fn preflight(aws: &Aws, p: &SessionParams) -> Result<(), AwsError> {
        if crate::process::on_path("session-manager-plugin").is_none() {
            return Err(AwsError::new(
                Self::NAME,
                "SessionManagerPluginMissing",
                "the Session Manager plugin (`session-manager-plugin`) is not on PATH; `aws ssm start-session` needs it to open a session",
            )
            .hint("install it: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html (macOS: `brew install --cask session-manager-plugin`; Debian/Ubuntu: the session-manager-plugin .deb from that page; Red Hat/Amazon Linux: the .rpm), check with `session-manager-plugin --version`, then retry the step"));
        }
        if crate::process::on_path("aws").is_none() {
            return Err(AwsError::new(
                Self::NAME,
                "AwsCliMissing",
                "the AWS CLI (`aws`) is not on PATH; ssm.start_session runs `aws ssm start-session`",
            )
            .hint("install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html, then retry the step"));
        }
        if !aws.settings.terminal {
            return Err(AwsError::new(
                Self::NAME,
                NEEDS_TERMINAL,
                "an SSM session needs a terminal, and there is none",
            )
            .hint(format!(
                "resume the run in a terminal, or open the session yourself (`{}`) and mark the step done with `--done`",
                Self::command(aws, p).join(" ")
            )));
        }
        Ok(())
    }
}

impl Typed for StartSession {
    const NAME: &'static str = "ssm.start_session";
    const NOT_RECHECKED: Option<&'static str> =
        Some("an interactive session: there is no state to re-check");
    const SUMMARY: &'static str = "open an interactive Session Manager session on an instance (hands the terminal to `aws ssm start-session`)";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    const INTERACTIVE: bool = true;
    type P = SessionParams;

    fn request(&self, p: &SessionParams) -> Value {
        json!({ "service": "ssm", "operation": "StartSession", "Target": p.instance_id,
                "runs": format!("aws ssm start-session --target {} --region {}", p.instance_id,
                    p.region.as_deref().unwrap_or("(the session's region)")),
                "interactive": "the terminal is handed to the session until it ends" })
    }

    async fn plan(&self, aws: &Aws, p: &SessionParams) -> Result<Planned, AwsError> {
        match Self::preflight(aws, p) {
            Err(e) if e.code != NEEDS_TERMINAL => Ok(Planned::refuse(e)),
            _ => Ok(Planned::would(format_args!(
                "open a session on {} with `{}`",
                p.instance_id,
                Self::command(aws, p).join(" ")
            ))),
        }
    }

    async fn apply(&self, aws: &Aws, p: &SessionParams) -> Result<Outcome, AwsError> {
        Self::preflight(aws, p)?;
        let argv = Self::command(aws, p);
        let env = aws.child_env().await;
        let status = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(env)
            .env_remove("AWS_PROFILE")
            .status()
            .await
            .map_err(|e| {
                AwsError::new(
                    Self::NAME,
                    "SessionFailed",
                    format!("cannot start `aws`: {e}"),
                )
            })?;
        if !status.success() {
            return Err(AwsError::new(
                Self::NAME,
                "SessionFailed",
                format!("`{}` ended with {status}", argv.join(" ")),
            )
            .hint("its own message above says why; the step can be retried"));
        }
        Ok(Outcome::changed(
            format!("the session on {} ended", p.instance_id),
            json!({}),
        ))
    }
}

// --- ssm.get_parameter, ssm.put_parameter

pub struct GetParameter;

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParameterParams {
    name: String,
    #[serde(default = "yes", deserialize_with = "flex::bool")]
    decrypt: bool,
}
impl Params for GetParameterParams {}

impl Typed for GetParameter {
    const NAME: &'static str = "ssm.get_parameter";
    const SUMMARY: &'static str = "read a parameter (a SecureString's value is a secret output)";
    const OUTPUTS: &'static [&'static str] = &["value", "type", "version"];
    const READ_ONLY: bool = true;
    type P = GetParameterParams;

    fn request(&self, p: &GetParameterParams) -> Value {
        json!({ "service": "ssm", "operation": "GetParameter", "Name": p.name,
                "WithDecryption": p.decrypt })
    }

    async fn plan(&self, aws: &Aws, p: &GetParameterParams) -> Result<Planned, AwsError> {
        let got = aws
            .ssm()
            .get_parameter(&p.name, false)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Planned::read(match got {
            Some(v) => format!("{} exists ({}, version {})", p.name, v.kind, v.version),
            None => format!("there is no parameter {}", p.name),
        }))
    }

    async fn apply(&self, aws: &Aws, p: &GetParameterParams) -> Result<Outcome, AwsError> {
        let v = aws
            .ssm()
            .get_parameter(&p.name, p.decrypt)
            .await
            .or_fail(aws, Self::NAME)?
            .ok_or_else(|| {
                AwsError::new(
                    Self::NAME,
                    "ParameterNotFound",
                    format!("there is no parameter {} in {}", p.name, aws.region()),
                )
                .hint("check the name (it starts with `/` when it has a path), the account and the region")
            })?;
        let secret = v.kind == "SecureString";
        let outcome = Outcome::unchanged(
            format!(
                "read {} ({}, version {}){}",
                p.name,
                v.kind,
                v.version,
                if secret {
                    ": its value is a secret output"
                } else {
                    ""
                }
            ),
            json!({ "value": v.value, "type": v.kind, "version": v.version }),
        );
        Ok(if secret {
            outcome.with_secret(&["value"])
        } else {
            outcome
        })
    }
}

choice!(
    /// The types of parameter that can be written.
    Kind { String = "String", SecureString = "SecureString" }
);

fn string_kind() -> Kind {
    Kind::String
}

pub struct PutParameter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutParameterParams {
    name: String,
    value: String,
    #[serde(rename = "type", default = "string_kind")]
    kind: Kind,
    #[serde(default, deserialize_with = "flex::bool")]
    overwrite: bool,
}
impl Params for PutParameterParams {}

enum Put {
    AsWanted(i64),
    Create,
    Change(Parameter),
    Refuse(Parameter),
}

impl PutParameter {
    async fn look(aws: &Aws, p: &PutParameterParams) -> Result<Put, AwsError> {
        let now = aws
            .ssm()
            .get_parameter(&p.name, true)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(match now {
            None => Put::Create,
            Some(v) if v.value == p.value && v.kind == p.kind.as_str() => Put::AsWanted(v.version),
            Some(v) if p.overwrite => Put::Change(v),
            Some(v) => Put::Refuse(v),
        })
    }

    fn shown(p: &PutParameterParams, v: &str) -> String {
        if p.kind == Kind::SecureString {
            "(a secret value)".into()
        } else {
            format!("{v:?}")
        }
    }

    fn refusal(p: &PutParameterParams, v: &Parameter) -> AwsError {
        AwsError::new(
            Self::NAME,
            "ParameterAlreadyExists",
            format!(
                "{} exists ({}, version {}) with another value",
                p.name, v.kind, v.version
            ),
        )
        .hint("give `overwrite: true` to replace its value")
    }
}

impl Typed for PutParameter {
    const NAME: &'static str = "ssm.put_parameter";
    const SUMMARY: &'static str =
        "write a parameter (String or SecureString), unless it has that value";
    const OUTPUTS: &'static [&'static str] = &["version"];
    const READ_ONLY: bool = false;
    type P = PutParameterParams;

    fn request(&self, p: &PutParameterParams) -> Value {
        let value = if p.kind == Kind::SecureString {
            json!("********")
        } else {
            json!(p.value)
        };
        json!({ "service": "ssm", "operation": "PutParameter", "Name": p.name, "Value": value,
                "Type": p.kind.as_str(), "Overwrite": p.overwrite })
    }

    async fn plan(&self, aws: &Aws, p: &PutParameterParams) -> Result<Planned, AwsError> {
        Ok(match Self::look(aws, p).await? {
            Put::AsWanted(v) => {
                Planned::as_wanted(format_args!("{} has this value (version {v})", p.name))
            }
            Put::Create => Planned::would(format_args!("create {} ({})", p.name, p.kind)),
            Put::Change(v) => Planned::would(format_args!(
                "change {} ({} version {}):\n  current: {}\n  wanted:  {}",
                p.name,
                v.kind,
                v.version,
                Self::shown(p, &v.value),
                Self::shown(p, &p.value)
            )),
            Put::Refuse(v) => Planned::refuse(Self::refusal(p, &v)),
        })
    }

    async fn apply(&self, aws: &Aws, p: &PutParameterParams) -> Result<Outcome, AwsError> {
        let overwrite = match Self::look(aws, p).await? {
            Put::AsWanted(v) => {
                return Ok(Outcome::unchanged(
                    format!("{} already has this value (version {v})", p.name),
                    json!({ "version": v }),
                ));
            }
            Put::Refuse(v) => return Err(Self::refusal(p, &v)),
            Put::Create => false,
            Put::Change(_) => true,
        };
        let version = aws
            .ssm()
            .put_parameter(&p.name, &p.value, p.kind.as_str(), overwrite)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!(
                "{} {} ({}, version {version})",
                if overwrite { "changed" } else { "created" },
                p.name,
                p.kind
            ),
            json!({ "version": version }),
        ))
    }
}
