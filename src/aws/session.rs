//! The AWS session a run acts through: aws-config's standard credential chain (environment,
//! profiles, SSO, `credential_process`, instance roles), with the runbook's region, profile and
//! role (with an MFA code when the role needs one), the identity it acts as, and the service
//! clients actions use.

use std::fmt::{self, Display};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use jiff::Timestamp;

use super::ec2::Ec2Api;
use super::iam::IamApi;
use super::route53::Route53Api;
use super::s3::S3Api;
use super::ssm::SsmApi;
use super::sts::StsApi;
use super::{AwsError, BoxFuture};

/// Where and as whom AWS steps act, from the runbook's `aws` section and the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<String>,
    pub session_duration: Option<Duration>,
    pub expected_account: Option<String>,
    /// The MFA device whose code assuming the role needs (runbook `aws.mfa_serial`).
    pub mfa_serial: Option<String>,
    /// The MFA code given on the command line (`--mfa-code`).
    pub mfa_code: Option<String>,
    /// Whether the terminal is there: to ask for an MFA code, and for interactive actions.
    pub terminal: bool,
    /// A session to use instead of connecting (tests use fakes through it).
    pub preset: Preset,
}

/// A session made beforehand, used instead of connecting to AWS.
#[derive(Clone, Default)]
pub struct Preset(pub Option<Arc<Aws>>);

impl fmt::Debug for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Preset(..)"
        } else {
            "None"
        })
    }
}

impl PartialEq for Preset {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Preset {}

/// The identity AWS steps act as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub region: String,
}

/// An error returned by AWS through a service trait, with the permission the call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The IAM permission of the call, e.g. `iam:CreateUser`.
    pub permission: &'static str,
    /// AWS's error code, when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    /// An error of the given code (fakes use this).
    pub fn new(permission: &'static str, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            permission,
            code: Some(code.to_string()),
            message: message.into(),
        }
    }

    /// From an SDK error.
    pub fn sdk<E>(permission: &'static str, err: SdkError<E, HttpResponse>) -> ApiError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string).or_else(|| match status {
            Some(s) if s >= 500 => Some("InternalFailure".to_string()),
            _ => None,
        });
        let message = err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
        ApiError {
            permission,
            code,
            message,
        }
    }

    /// Whether AWS answered with this code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// What time it is, and how to wait: real, or moved by hand in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock for tests: it shows a set time, and sleeping moves it forward at once.
pub struct FixedClock {
    now: Mutex<Timestamp>,
}

impl FixedClock {
    pub fn new(now: Timestamp) -> FixedClock {
        FixedClock {
            now: Mutex::new(now),
        }
    }
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()> {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = now
            .checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
            .unwrap_or(*now);
        Box::pin(tokio::task::yield_now())
    }
}

/// The services actions act through.
#[derive(Clone)]
pub struct Services {
    pub sts: Arc<dyn StsApi>,
    pub iam: Arc<dyn IamApi>,
    pub ec2: Arc<dyn Ec2Api>,
    pub ssm: Arc<dyn SsmApi>,
    pub route53: Arc<dyn Route53Api>,
    pub s3: Arc<dyn S3Api>,
}

impl Services {
    /// The official SDK clients for a configuration.
    pub fn sdk(config: &aws_config::SdkConfig) -> Services {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            // A custom endpoint (moto, MinIO, a VPC endpoint) is addressed by path.
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Services {
            sts: Arc::new(aws_sdk_sts::Client::new(config)),
            iam: Arc::new(aws_sdk_iam::Client::new(config)),
            ec2: Arc::new(aws_sdk_ec2::Client::new(config)),
            ssm: Arc::new(aws_sdk_ssm::Client::new(config)),
            route53: Arc::new(aws_sdk_route53::Client::new(config)),
            s3: Arc::new(aws_sdk_s3::Client::from_conf(s3)),
        }
    }
}

/// A connected session.
pub struct Aws {
    pub config: aws_config::SdkConfig,
    pub settings: AwsSettings,
    services: Services,
    clock: Arc<dyn Clock>,
    poll_every: Duration,
    workdir: Mutex<Option<PathBuf>>,
}

impl Aws {
    /// Loads configuration and credentials through the standard chain. Retries follow
    /// aws-config's standard retry configuration (3 attempts with backoff on throttling and
    /// server errors; `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE` change it).
    pub async fn connect(settings: AwsSettings) -> Result<Arc<Aws>, AwsError> {
        if let Some(aws) = &settings.preset.0 {
            return Ok(aws.clone());
        }
        let region = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new("us-east-1"));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let mut config = loader.load().await;
        if let Some(role) = &settings.assume_role {
            let provider = match &settings.mfa_serial {
                Some(serial) => {
                    let provider = MfaRole {
                        sts: aws_sdk_sts::Client::new(&config),
                        role: role.clone(),
                        serial: serial.clone(),
                        duration: settings.session_duration,
                        code: Mutex::new(settings.mfa_code.clone()),
                        prompt: settings.terminal,
                        profile: settings.profile.clone(),
                        cache: tokio::sync::Mutex::new(None),
                    };
                    // Asked now, before the first step, so that a missing code is said plainly.
                    provider.credentials().await?;
                    SharedCredentialsProvider::new(provider)
                }
                None => {
                    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
                        .session_name("stepwise")
                        .configure(&config);
                    if let Some(d) = settings.session_duration {
                        builder = builder.session_length(d);
                    }
                    SharedCredentialsProvider::new(builder.build().await)
                }
            };
            config = config.into_builder().credentials_provider(provider).build();
        }
        let services = Services::sdk(&config);
        Ok(Arc::new(Aws {
            config,
            settings,
            services,
            clock: Arc::new(SystemClock),
            poll_every: Duration::from_secs(5),
            workdir: Mutex::new(None),
        }))
    }

    /// A session over given services (fakes in tests), with a clock and a polling interval.
    pub fn with_services(
        settings: AwsSettings,
        services: Services,
        clock: Arc<dyn Clock>,
        poll_every: Duration,
    ) -> Aws {
        let region = settings
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        Aws {
            config: aws_config::SdkConfig::builder()
                .region(Region::new(region))
                .behavior_version(BehaviorVersion::latest())
                .build(),
            settings,
            services,
            clock,
            poll_every,
            workdir: Mutex::new(None),
        }
    }

    /// The region steps act in.
    pub fn region(&self) -> String {
        self.config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    pub fn sts(&self) -> &dyn StsApi {
        self.services.sts.as_ref()
    }
    pub fn iam(&self) -> &dyn IamApi {
        self.services.iam.as_ref()
    }
    pub fn ec2(&self) -> &dyn Ec2Api {
        self.services.ec2.as_ref()
    }
    pub fn ssm(&self) -> &dyn SsmApi {
        self.services.ssm.as_ref()
    }
    pub fn route53(&self) -> &dyn Route53Api {
        self.services.route53.as_ref()
    }
    pub fn s3(&self) -> &dyn S3Api {
        self.services.s3.as_ref()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// How often waiting actions look again.
    pub fn poll_every(&self) -> Duration {
        self.poll_every
    }

    pub async fn sleep(&self, d: Duration) {
        self.clock.sleep(d).await
    }

    /// Sets the directory relative paths resolve against (the run's workdir).
    pub fn set_workdir(&self, dir: PathBuf) {
        *self.workdir.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    /// A path relative to the run's workdir.
    pub fn path(&self, p: &str) -> PathBuf {
        let base = self
            .workdir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        base.join(p)
    }

    /// Reads who the session acts as.
    pub async fn identity(&self) -> Result<Identity, AwsError> {
        let id = self
            .sts()
            .get_caller_identity()
            .await
            .map_err(|e| self.fail("sts.get_caller_identity", e))?;
        Ok(Identity {
            account: id.account,
            arn: id.arn,
            user_id: id.user_id,
            region: self.region(),
        })
    }

    /// Turns an error from AWS into one that says what to do: the permission that was
    /// denied, how to refresh credentials, or that AWS was throttling.
    pub fn fail(&self, action: &str, e: ApiError) -> AwsError {
        classify(
            action,
            e.permission,
            e.code,
            e.message,
            self.settings.profile.as_deref(),
        )
    }

    /// Environment variables with the session's credentials and region, for a child process
    /// (the `aws` CLI) that must act as the same identity.
    pub async fn child_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("AWS_REGION".to_string(), self.region())];
        if let Some(p) = self.config.credentials_provider()
            && let Ok(c) = p.provide_credentials().await
        {
            env.push(("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_string()));
            env.push((
                "AWS_SECRET_ACCESS_KEY".into(),
                c.secret_access_key().to_string(),
            ));
            if let Some(t) = c.session_token() {
                env.push(("AWS_SESSION_TOKEN".into(), t.to_string()));
            }
        }
        env
    }
}

/// Codes AWS uses for throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
];

/// Codes of errors on AWS's side.
const SERVER: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// Codes of credentials that are expired, invalid or missing.
const CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "InvalidToken",
    "TokenRefreshRequired",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
];

/// Names the error and adds the hint that applies to it.
pub fn classify(
    action: &str,
    permission: &str,
    code: Option<String>,
    message: impl Display,
    profile: Option<&str>,
) -> AwsError {
    let message = message.to_string();
    let lower = message.to_lowercase();
    let login = match profile {
        Some(p) => format!("aws sso login --profile {p}"),
        None => "aws sso login --profile PROFILE".into(),
    };
    let (code, hint) = match code.as_deref() {
        Some(c)
            if c.contains("AccessDenied")
                || c == "UnauthorizedOperation"
                || c == "AuthorizationError"
                || c == "UnauthorizedAccess" =>
        {
            (
                c.to_string(),
                Some(format!(
                    "the identity lacks the permission `{permission}`; ask an administrator for it, or act as a role that has it, then retry the step"
                )),
            )
        }
        Some(c) if CREDENTIALS.contains(&c) => (
            c.to_string(),
            Some(format!(
                "the credentials are expired or invalid: refresh them (e.g. `{login}`) and retry the step (`stepwise resume RUN`); nothing is lost"
            )),
        ),
        Some(c) if THROTTLING.contains(&c) => (
            c.to_string(),
            Some("AWS is throttling requests (they were already retried with backoff): wait a minute and retry the step".into()),
        ),
        Some(c) if SERVER.contains(&c) => (
            c.to_string(),
            Some("AWS had an error on its side (the request was already retried with backoff): retry the step later".into()),
        ),
        Some(c @ ("NoSuchEntity" | "NoSuchEntityException" | "NotFound" | "ResourceNotFoundException")) => (
            c.to_string(),
            Some("check the name, the account and the region; earlier steps may not have created it".into()),
        ),
        Some(c) => (c.to_string(), None),
        None if lower.contains("credential") || lower.contains("token") => (
            "NoCredentials".to_string(),
            Some(format!(
                "no usable AWS credentials: log in (e.g. `{login}`) or set AWS_PROFILE, then retry the step; nothing is lost"
            )),
        ),
        None if lower.contains("dispatch")
            || lower.contains("connect")
            || lower.contains("timeout") =>
        {
            (
                "ConnectionFailed".to_string(),
                Some("AWS could not be reached: check the network, the region and AWS_ENDPOINT_URL, then retry the step".into()),
            )
        }
        None => ("Error".to_string(), None),
    };
    AwsError {
        action: action.to_string(),
        code,
        message,
        hint,
    }
}

/// A role assumed with an MFA code: the session is kept until it is about to expire, and a new
/// code is asked for then (at the terminal, or refused with how to give one).
struct MfaRole {
    sts: aws_sdk_sts::Client,
    role: String,
    serial: String,
    duration: Option<Duration>,
    /// The code from `--mfa-code`, used once.
    code: Mutex<Option<String>>,
    prompt: bool,
    profile: Option<String>,
    cache: tokio::sync::Mutex<Option<Credentials>>,
}

impl fmt::Debug for MfaRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRole")
            .field("role", &self.role)
            .field("serial", &self.serial)
            .finish()
    }
}

impl MfaRole {
    async fn credentials(&self) -> Result<Credentials, AwsError> {
        let action = "aws.assume_role";
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(60))
        {
            return Ok(c.clone());
        }
        let given = self.code.lock().unwrap_or_else(|p| p.into_inner()).take();
        let code = match given {
            Some(c) => c,
            None if self.prompt => ask_mfa(&self.serial)
                .ok_or_else(|| AwsError::new(action, "MfaCodeNeeded", "no MFA code was typed"))?,
            None => {
                let why = if cache.is_some() {
                    "the MFA session expired"
                } else {
                    "there is no terminal to ask for it"
                };
                return Err(AwsError::new(
                    action,
                    "MfaCodeNeeded",
                    format!(
                        "assuming {} needs a code from the MFA device {}, and {why}",
                        self.role, self.serial
                    ),
                )
                .hint("give the device's current code with `--mfa-code CODE` (e.g. `stepwise resume RUN --mfa-code 123456`); the step is retried and nothing is lost"));
            }
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .role_session_name("stepwise")
            .serial_number(&self.serial)
            .token_code(code.trim())
            .set_duration_seconds(self.duration.map(|d| d.as_secs() as i32))
            .send()
            .await
            .map_err(|e| {
                let e = ApiError::sdk("sts:AssumeRole", e);
                classify(
                    action,
                    e.permission,
                    e.code,
                    e.message,
                    self.profile.as_deref(),
                )
            })?;
        let c = out.credentials().ok_or_else(|| {
            AwsError::new(
                action,
                "NoCredentials",
                "AssumeRole returned no credentials",
            )
        })?;
        let expiry =
            SystemTime::UNIX_EPOCH + Duration::from_secs(c.expiration().secs().max(0) as u64);
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expiry),
            "stepwise-mfa",
        );
        *cache = Some(creds.clone());
        Ok(creds)
    }
}

impl ProvideCredentials for MfaRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(|e| CredentialsError::provider_error(e.to_string()))
        })
    }
}

/// Asks for an MFA code at the terminal.
fn ask_mfa(serial: &str) -> Option<String> {
    use std::io::Write;
    eprint!("MFA code for {serial}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    let code = line.trim().to_string();
    (!code.is_empty()).then_some(code)
}
