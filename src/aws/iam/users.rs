//! Users: creating one (with a console password), group membership, inline policies.

use super::*;

// --- iam.create_user

pub struct CreateUser;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserParams {
    user_name: String,
    #[serde(default, deserialize_with = "flex::bool")]
    console_password: bool,
    #[serde(default = "yes", deserialize_with = "flex::bool")]
    password_reset_required: bool,
    #[serde(default, deserialize_with = "flex::tags")]
    tags: IndexMap<String, String>,
}

impl Params for CreateUserParams {}

impl Typed for CreateUser {
    const NAME: &'static str = "iam.create_user";
    const SUMMARY: &'static str = "create an IAM user (and a console password), unless it exists";
    const OUTPUTS: &'static [&'static str] = &["user_name", "arn", "password"];
    const READ_ONLY: bool = false;
    type P = CreateUserParams;

    fn request(&self, p: &CreateUserParams) -> Value {
        let mut req =
            json!({ "service": "iam", "operation": "CreateUser", "UserName": p.user_name });
        if !p.tags.is_empty() {
            req["Tags"] = tag_list(&p.tags);
        }
        if p.console_password {
            req["then"] = json!([{
                "operation": "CreateLoginProfile",
                "UserName": p.user_name,
                "Password": "(generated: the secret output `password`)",
                "PasswordResetRequired": p.password_reset_required,
            }]);
        }
        req
    }

    async fn plan(&self, aws: &Aws, p: &CreateUserParams) -> Result<Planned, AwsError> {
        let user = aws
            .iam()
            .get_user(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(match user {
            None if p.console_password => Planned::would(format_args!(
                "create user {} with a console password",
                p.user_name
            )),
            None => Planned::would(format_args!("create user {}", p.user_name)),
            Some(u) if p.console_password => {
                let has = aws
                    .iam()
                    .has_login_profile(&p.user_name)
                    .await
                    .or_fail(aws, Self::NAME)?;
                if has {
                    Planned::as_wanted(format_args!(
                        "user {} exists with a console password",
                        u.arn
                    ))
                } else {
                    Planned::would(format_args!(
                        "give the existing user {} a console password",
                        u.arn
                    ))
                }
            }
            Some(u) => Planned::as_wanted(format_args!("user {} exists", u.arn)),
        })
    }

    async fn apply(&self, aws: &Aws, p: &CreateUserParams) -> Result<Outcome, AwsError> {
        let iam = aws.iam();
        let (user, created) = match iam.get_user(&p.user_name).await.or_fail(aws, Self::NAME)? {
            Some(u) => (u, false),
            None => (
                iam.create_user(&p.user_name, &p.tags)
                    .await
                    .or_fail(aws, Self::NAME)?,
                true,
            ),
        };
        let mut result = json!({ "user_name": user.name, "arn": user.arn });
        let mut login = false;
        if p.console_password
            && !iam
                .has_login_profile(&p.user_name)
                .await
                .or_fail(aws, Self::NAME)?
        {
            let password = new_password();
            iam.create_login_profile(&p.user_name, &password, p.password_reset_required)
                .await
                .or_fail(aws, Self::NAME)?;
            result["password"] = json!(password);
            login = true;
        }
        let summary = match (created, login) {
            (true, true) => format!(
                "created user {} with a console password (in the secret output `password`: later steps of this run can use it, e.g. to store it; it is never written to disk)",
                user.arn
            ),
            (true, false) => format!("created user {}", user.arn),
            (false, true) => format!(
                "user {} existed; gave it a console password (in the secret output `password`: later steps of this run can use it; it is never written to disk)",
                user.arn
            ),
            (false, false) => format!("user {} already exists: nothing to do", user.arn),
        };
        let outcome = if created || login {
            Outcome::changed(summary, result)
        } else {
            Outcome::unchanged(summary, result)
        };
        Ok(outcome.with_secret(&["password"]))
    }
}

// --- iam.add_user_to_group

pub struct AddUserToGroup;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipParams {
    user_name: String,
    group_name: String,
}

impl Params for MembershipParams {}

impl Typed for AddUserToGroup {
    const NAME: &'static str = "iam.add_user_to_group";
    const SUMMARY: &'static str = "add an IAM user to a group, unless it is a member";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = MembershipParams;

    fn request(&self, p: &MembershipParams) -> Value {
        json!({ "service": "iam", "operation": "AddUserToGroup", "UserName": p.user_name, "GroupName": p.group_name })
    }

    async fn plan(&self, aws: &Aws, p: &MembershipParams) -> Result<Planned, AwsError> {
        let groups = aws
            .iam()
            .groups_for_user(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(if groups.contains(&p.group_name) {
            Planned::as_wanted(format_args!("{} is in {}", p.user_name, p.group_name))
        } else {
            Planned::would(format_args!(
                "add {} to {} (now in: {})",
                p.user_name,
                p.group_name,
                list_or_none(&groups)
            ))
        })
    }

    async fn apply(&self, aws: &Aws, p: &MembershipParams) -> Result<Outcome, AwsError> {
        let groups = aws
            .iam()
            .groups_for_user(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        if groups.contains(&p.group_name) {
            return Ok(Outcome::unchanged(
                format!("{} is already in {}", p.user_name, p.group_name),
                json!({}),
            ));
        }
        aws.iam()
            .add_user_to_group(&p.user_name, &p.group_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!("added {} to {}", p.user_name, p.group_name),
            json!({}),
        ))
    }
}

pub(super) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

// --- iam.user_in_group

pub struct UserInGroup;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInGroupParams {
    user_name: String,
    group_name: String,
    #[serde(default = "yes", deserialize_with = "flex::bool")]
    member: bool,
}

impl Params for UserInGroupParams {}

impl UserInGroup {
    async fn check(aws: &Aws, p: &UserInGroupParams) -> Result<(bool, String), AwsError> {
        let groups = aws
            .iam()
            .groups_for_user(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let member = groups.contains(&p.group_name);
        let text = match (member, p.member) {
            (true, true) => format!("{} is in {}, as wanted", p.user_name, p.group_name),
            (false, false) => format!("{} is not in {}, as wanted", p.user_name, p.group_name),
            (false, true) => format!("{} is not in {} yet", p.user_name, p.group_name),
            (true, false) => format!("{} is still in {}", p.user_name, p.group_name),
        };
        Ok((member, text))
    }
}

impl Typed for UserInGroup {
    const NAME: &'static str = "iam.user_in_group";
    const SUMMARY: &'static str =
        "check that an IAM user is (or is not) in a group; with `wait`, poll until it holds";
    const OUTPUTS: &'static [&'static str] = &["member"];
    const READ_ONLY: bool = true;
    type P = UserInGroupParams;

    fn request(&self, p: &UserInGroupParams) -> Value {
        json!({ "service": "iam", "operation": "ListGroupsForUser", "UserName": p.user_name,
                "expect": { "group": p.group_name, "member": p.member } })
    }

    async fn plan(&self, aws: &Aws, p: &UserInGroupParams) -> Result<Planned, AwsError> {
        let (member, text) = Self::check(aws, p).await?;
        Ok(Planned::read(if member == p.member {
            format!("check passes now: {text}")
        } else {
            format!("check does not pass now: {text}")
        }))
    }

    async fn apply(&self, aws: &Aws, p: &UserInGroupParams) -> Result<Outcome, AwsError> {
        let (member, text) = Self::check(aws, p).await?;
        if member != p.member {
            return Err(AwsError::new(Self::NAME, CHECK_FAILED, text));
        }
        Ok(Outcome::unchanged(text, json!({ "member": member })))
    }
}

// --- iam.put_user_policy

pub struct PutUserPolicy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUserPolicyParams {
    user_name: String,
    policy_name: String,
    #[serde(deserialize_with = "flex::json_doc")]
    policy_document: Value,
}

impl Params for PutUserPolicyParams {}

impl PutUserPolicy {
    async fn current(aws: &Aws, p: &PutUserPolicyParams) -> Result<Option<Value>, AwsError> {
        aws.iam()
            .get_user_policy(&p.user_name, &p.policy_name)
            .await
            .or_fail(aws, Self::NAME)
    }
}

impl Typed for PutUserPolicy {
    const NAME: &'static str = "iam.put_user_policy";
    const SUMMARY: &'static str =
        "set an inline policy of an IAM user, unless it already has that document";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = PutUserPolicyParams;

    fn request(&self, p: &PutUserPolicyParams) -> Value {
        json!({ "service": "iam", "operation": "PutUserPolicy", "UserName": p.user_name,
                "PolicyName": p.policy_name, "PolicyDocument": p.policy_document })
    }

    async fn plan(&self, aws: &Aws, p: &PutUserPolicyParams) -> Result<Planned, AwsError> {
        let wanted = canonical_json(&p.policy_document);
        Ok(match Self::current(aws, p).await? {
            None => Planned::would(format_args!(
                "add the inline policy {} to {}",
                p.policy_name, p.user_name
            )),
            Some(c) if canonical_json(&c) == wanted => Planned::as_wanted(format_args!(
                "{} has the inline policy {} with this document",
                p.user_name, p.policy_name
            )),
            Some(c) => Planned::would(format_args!(
                "change the inline policy {} of {}:\n{}",
                p.policy_name,
                p.user_name,
                diff_json(&c, &p.policy_document)
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &PutUserPolicyParams) -> Result<Outcome, AwsError> {
        let current = Self::current(aws, p).await?;
        if current.as_ref().map(canonical_json) == Some(canonical_json(&p.policy_document)) {
            return Ok(Outcome::unchanged(
                format!(
                    "{} already has the inline policy {} with this document",
                    p.user_name, p.policy_name
                ),
                json!({}),
            ));
        }
        let doc = serde_json::to_string(&p.policy_document).unwrap_or_default();
        aws.iam()
            .put_user_policy(&p.user_name, &p.policy_name, &doc)
            .await
            .or_fail(aws, Self::NAME)?;
        let verb = if current.is_some() {
            "replaced"
        } else {
            "added"
        };
        Ok(Outcome::changed(
            format!(
                "{verb} the inline policy {} of {}",
                p.policy_name, p.user_name
            ),
            json!({}),
        ))
    }
}
