//! The AWS session a run acts through: aws-config's standard credential chain (environment,
//! profiles, SSO, `credential_process`, instance roles), with the runbook's region, profile and
//! role, and the identity it acts as.

use std::fmt::Display;

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::AwsError;

/// Where and as whom AWS steps act, from the runbook's `aws` section and the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<String>,
    pub session_duration: Option<std::time::Duration>,
    pub expected_account: Option<String>,
}

/// The identity AWS steps act as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub region: String,
}

/// A connected session.
pub struct Aws {
    pub config: aws_config::SdkConfig,
    pub settings: AwsSettings,
}

impl Aws {
    /// Loads configuration and credentials through the standard chain.
    pub async fn connect(settings: AwsSettings) -> Result<Aws, AwsError> {
        let region = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new("us-east-1"));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let mut config = loader.load().await;
        if let Some(role) = &settings.assume_role {
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("stepwise")
                .configure(&config);
            if let Some(d) = settings.session_duration {
                builder = builder.session_length(d);
            }
            let provider = builder.build().await;
            config = config
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        Ok(Aws { config, settings })
    }

    /// The region steps act in.
    pub fn region(&self) -> String {
        self.config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// An STS client.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }

    /// Reads who the session acts as.
    pub async fn identity(&self) -> Result<Identity, AwsError> {
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.error("sts.get_caller_identity", "sts:GetCallerIdentity", e))?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            user_id: out.user_id().unwrap_or_default().to_string(),
            region: self.region(),
        })
    }

    /// Turns an SDK error into one that says what to do: the permission that was denied, or how
    /// to refresh credentials.
    pub fn error<E, R>(&self, action: &str, permission: &str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_string);
        let message = err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
        classify(
            action,
            permission,
            code,
            message,
            self.settings.profile.as_deref(),
        )
    }
}

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
        Some(c) if c.contains("AccessDenied") || c == "UnauthorizedOperation" => (
            c.to_string(),
            Some(format!("the identity lacks the permission `{permission}`; ask an administrator for it, or act as a role that has it")),
        ),
        Some(c @ ("ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "InvalidClientTokenId" | "UnrecognizedClientException")) => (
            c.to_string(),
            Some(format!("the credentials are expired or invalid: refresh them (e.g. `{login}`) and retry the step; nothing is lost")),
        ),
        Some(c) => (c.to_string(), None),
        None if lower.contains("credential") || lower.contains("token") => (
            "NoCredentials".to_string(),
            Some(format!("no usable AWS credentials: log in (e.g. `{login}`) or set AWS_PROFILE, then retry the step; nothing is lost")),
        ),
        None if lower.contains("dispatch") || lower.contains("connect") || lower.contains("timeout") => (
            "ConnectionFailed".to_string(),
            Some("AWS could not be reached: check the network, the region and AWS_ENDPOINT_URL, then retry the step".into()),
        ),
        None => ("Error".to_string(), None),
    };
    AwsError {
        action: action.to_string(),
        code,
        message,
        hint,
    }
}
