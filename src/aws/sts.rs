//! STS: who the session acts as.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Aws, AwsError, BoxFuture, Outcome, Params, Planned, Typed};

/// What `GetCallerIdentity` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// The STS calls stepwise makes.
pub trait StsApi: Send + Sync {
    fn get_caller_identity(&self) -> BoxFuture<'_, ApiResult<CallerIdentity>>;
}

impl StsApi for aws_sdk_sts::Client {
    fn get_caller_identity(&self) -> BoxFuture<'_, ApiResult<CallerIdentity>> {
        Box::pin(async move {
            let out = self
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| ApiError::sdk("sts:GetCallerIdentity", e))?;
            Ok(CallerIdentity {
                account: out.account().unwrap_or_default().to_string(),
                arn: out.arn().unwrap_or_default().to_string(),
                user_id: out.user_id().unwrap_or_default().to_string(),
            })
        })
    }
}

/// `sts.get_caller_identity`: who the session acts as. Read-only.
pub struct GetCallerIdentity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {}

impl Typed for GetCallerIdentity {
    const NAME: &'static str = "sts.get_caller_identity";
    const SUMMARY: &'static str = "read the account, ARN and user id the session acts as";
    const OUTPUTS: &'static [&'static str] = &["account", "arn", "user_id"];
    const READ_ONLY: bool = true;
    type P = NoParams;

    fn request(&self, _: &NoParams) -> Value {
        json!({ "service": "sts", "operation": "GetCallerIdentity" })
    }

    async fn plan(&self, aws: &Aws, p: &NoParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }

    async fn apply(&self, aws: &Aws, _: &NoParams) -> Result<Outcome, AwsError> {
        let id = aws.identity().await?;
        Ok(Outcome::unchanged(
            format!("acting as {} in account {}", id.arn, id.account),
            json!({ "account": id.account, "arn": id.arn, "user_id": id.user_id }),
        ))
    }
}
