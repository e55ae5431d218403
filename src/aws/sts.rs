//! STS actions.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, Aws, AwsError, BoxFuture, Outcome, check_typed, params};
use crate::runbook::yaml::{Node, Pos};

/// `sts.get_caller_identity`: who the session acts as. Read-only.
pub struct GetCallerIdentity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

impl Action for GetCallerIdentity {
    fn name(&self) -> &'static str {
        "sts.get_caller_identity"
    }
    fn summary(&self) -> &'static str {
        "read the account, ARN and user id the session acts as"
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["account", "arn", "user_id"]
    }
    fn read_only(&self) -> bool {
        true
    }
    fn check_params(&self, with: Option<&Node>) -> Vec<(Pos, String)> {
        check_typed::<NoParams>(with)
    }
    fn request(&self, _params: &Value) -> Value {
        json!({ "service": "sts", "operation": "GetCallerIdentity" })
    }
    fn apply<'a>(&'a self, aws: &'a Aws, p: &'a Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        Box::pin(async move {
            let _: NoParams = params(self.name(), p)?;
            let id = aws.identity().await?;
            Ok(Outcome {
                summary: format!("acting as {} in account {}", id.arn, id.account),
                result: json!({ "account": id.account, "arn": id.arn, "user_id": id.user_id }),
                changed: false,
            })
        })
    }
}
