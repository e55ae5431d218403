//! IAM: users, group membership, inline policies, access keys, roles and instance profiles.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::flex::{self, choice};
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, CHECK_FAILED, OrFail, Outcome, Params,
    Planned, Typed, canonical_json, days_between, diff_json, policy_json,
};

// ---------------------------------------------------------------------------------------------
// The service boundary

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
    pub created: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessKey {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub description: Option<String>,
    pub max_session_secs: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfile {
    pub name: String,
    pub arn: String,
    pub roles: Vec<String>,
}

/// The IAM calls stepwise makes. "Not found" is `None`, not an error.
pub trait IamApi: Send + Sync {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Option<User>>>;
    fn create_user<'a>(
        &'a self,
        user: &'a str,
        tags: &'a IndexMap<String, String>,
    ) -> BoxFuture<'a, ApiResult<User>>;
    fn has_login_profile<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<bool>>;
    fn create_login_profile<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
        reset_required: bool,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn groups_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<String>>>;
    fn add_user_to_group<'a>(
        &'a self,
        user: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Value>>>;
    fn put_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn list_access_keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<AccessKey>>>;
    fn create_access_key<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<NewAccessKey>>;
    fn set_access_key_active<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
        active: bool,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn delete_access_key<'a>(&'a self, user: &'a str, key: &'a str)
    -> BoxFuture<'a, ApiResult<()>>;
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, ApiResult<Option<Role>>>;
    fn create_role<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<Role>>;
    fn update_trust_policy<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn update_role<'a>(
        &'a self,
        role: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn attached_role_policies<'a>(&'a self, role: &'a str)
    -> BoxFuture<'a, ApiResult<Vec<String>>>;
    fn attach_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy_arn: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>>;
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<InstanceProfile>>>;
    fn create_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<InstanceProfile>>;
    fn add_role_to_instance_profile<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>>;
}

fn ts(d: Option<&aws_sdk_iam::primitives::DateTime>) -> Timestamp {
    d.and_then(|d| Timestamp::from_second(d.secs()).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `None` when IAM says there is no such thing.
fn found<T>(r: Result<T, ApiError>) -> ApiResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

fn role_of(r: &aws_sdk_iam::types::Role) -> Role {
    Role {
        name: r.role_name().to_string(),
        arn: r.arn().to_string(),
        trust_policy: r
            .assume_role_policy_document()
            .map(policy_json)
            .unwrap_or(Value::Null),
        description: r.description().map(str::to_string),
        max_session_secs: r.max_session_duration(),
    }
}

fn profile_of(p: &aws_sdk_iam::types::InstanceProfile) -> InstanceProfile {
    InstanceProfile {
        name: p.instance_profile_name().to_string(),
        arn: p.arn().to_string(),
        roles: p
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
    }
}

impl IamApi for aws_sdk_iam::Client {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Option<User>>> {
        Box::pin(async move {
            let r = self
                .get_user()
                .user_name(user)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:GetUser", e));
            Ok(found(r)?.and_then(|o| {
                o.user().map(|u| User {
                    name: u.user_name().to_string(),
                    arn: u.arn().to_string(),
                })
            }))
        })
    }

    fn create_user<'a>(
        &'a self,
        user: &'a str,
        tags: &'a IndexMap<String, String>,
    ) -> BoxFuture<'a, ApiResult<User>> {
        Box::pin(async move {
            let mut req = self.create_user().user_name(user);
            for (k, v) in tags {
                let tag = aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| ApiError::new("iam:TagUser", "InvalidTag", e.to_string()))?;
                req = req.tags(tag);
            }
            let out = req
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:CreateUser", e))?;
            let u = out.user();
            Ok(User {
                name: user.to_string(),
                arn: u.map(|u| u.arn().to_string()).unwrap_or_default(),
            })
        })
    }

    fn has_login_profile<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<bool>> {
        Box::pin(async move {
            let r = self
                .get_login_profile()
                .user_name(user)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:GetLoginProfile", e));
            Ok(found(r)?.is_some())
        })
    }

    fn create_login_profile<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
        reset_required: bool,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.create_login_profile()
                .user_name(user)
                .password(password)
                .password_reset_required(reset_required)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:CreateLoginProfile", e))?;
            Ok(())
        })
    }

    fn groups_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<String>>> {
        Box::pin(async move {
            let groups = self
                .list_groups_for_user()
                .user_name(user)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| ApiError::sdk("iam:ListGroupsForUser", e))?;
            Ok(groups.iter().map(|g| g.group_name().to_string()).collect())
        })
    }

    fn add_user_to_group<'a>(
        &'a self,
        user: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.add_user_to_group()
                .user_name(user)
                .group_name(group)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:AddUserToGroup", e))?;
            Ok(())
        })
    }

    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Value>>> {
        Box::pin(async move {
            let r = self
                .get_user_policy()
                .user_name(user)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:GetUserPolicy", e));
            Ok(found(r)?.map(|o| policy_json(o.policy_document())))
        })
    }

    fn put_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.put_user_policy()
                .user_name(user)
                .policy_name(policy)
                .policy_document(document)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:PutUserPolicy", e))?;
            Ok(())
        })
    }

    fn list_access_keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<AccessKey>>> {
        Box::pin(async move {
            let out = self
                .list_access_keys()
                .user_name(user)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:ListAccessKeys", e))?;
            Ok(out
                .access_key_metadata()
                .iter()
                .map(|k| AccessKey {
                    id: k.access_key_id().unwrap_or_default().to_string(),
                    active: k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                    created: ts(k.create_date()),
                })
                .collect())
        })
    }

    fn create_access_key<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<NewAccessKey>> {
        Box::pin(async move {
            let out = self
                .create_access_key()
                .user_name(user)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:CreateAccessKey", e))?;
            let k = out.access_key().ok_or_else(|| {
                ApiError::new("iam:CreateAccessKey", "NoKey", "AWS returned no key")
            })?;
            Ok(NewAccessKey {
                id: k.access_key_id().to_string(),
                secret: k.secret_access_key().to_string(),
            })
        })
    }

    fn set_access_key_active<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
        active: bool,
    ) -> BoxFuture<'a, ApiResult<()>> {
        use aws_sdk_iam::types::StatusType;
        Box::pin(async move {
            self.update_access_key()
                .user_name(user)
                .access_key_id(key)
                .status(if active {
                    StatusType::Active
                } else {
                    StatusType::Inactive
                })
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:UpdateAccessKey", e))?;
            Ok(())
        })
    }

    fn delete_access_key<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.delete_access_key()
                .user_name(user)
                .access_key_id(key)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:DeleteAccessKey", e))?;
            Ok(())
        })
    }

    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, ApiResult<Option<Role>>> {
        Box::pin(async move {
            let r = self
                .get_role()
                .role_name(role)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:GetRole", e));
            Ok(found(r)?.and_then(|o| o.role().map(role_of)))
        })
    }

    fn create_role<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<Role>> {
        Box::pin(async move {
            let out = self
                .create_role()
                .role_name(role)
                .assume_role_policy_document(trust_policy)
                .set_description(description.map(str::to_string))
                .set_max_session_duration(max_session_secs)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:CreateRole", e))?;
            out.role()
                .map(role_of)
                .ok_or_else(|| ApiError::new("iam:CreateRole", "NoRole", "AWS returned no role"))
        })
    }

    fn update_trust_policy<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.update_assume_role_policy()
                .role_name(role)
                .policy_document(trust_policy)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:UpdateAssumeRolePolicy", e))?;
            Ok(())
        })
    }

    fn update_role<'a>(
        &'a self,
        role: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.update_role()
                .role_name(role)
                .set_description(description.map(str::to_string))
                .set_max_session_duration(max_session_secs)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:UpdateRole", e))?;
            Ok(())
        })
    }

    fn attached_role_policies<'a>(
        &'a self,
        role: &'a str,
    ) -> BoxFuture<'a, ApiResult<Vec<String>>> {
        Box::pin(async move {
            let items = self
                .list_attached_role_policies()
                .role_name(role)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| ApiError::sdk("iam:ListAttachedRolePolicies", e))?;
            Ok(items
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect())
        })
    }

    fn attach_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy_arn: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:AttachRolePolicy", e))?;
            Ok(())
        })
    }

    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<InstanceProfile>>> {
        Box::pin(async move {
            let r = self
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:GetInstanceProfile", e));
            Ok(found(r)?.and_then(|o| o.instance_profile().map(profile_of)))
        })
    }

    fn create_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<InstanceProfile>> {
        Box::pin(async move {
            let out = self
                .create_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:CreateInstanceProfile", e))?;
            out.instance_profile().map(profile_of).ok_or_else(|| {
                ApiError::new(
                    "iam:CreateInstanceProfile",
                    "NoInstanceProfile",
                    "AWS returned no instance profile",
                )
            })
        })
    }

    fn add_role_to_instance_profile<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            self.add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .map_err(|e| ApiError::sdk("iam:AddRoleToInstanceProfile", e))?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(CreateUser),
        Box::new(AddUserToGroup),
        Box::new(UserInGroup),
        Box::new(PutUserPolicy),
        Box::new(CreateAccessKey),
        Box::new(CheckAccessKeyAge),
        Box::new(DeactivateAccessKey),
        Box::new(DeleteAccessKey),
        Box::new(CreateRole),
        Box::new(AttachRolePolicy),
        Box::new(CreateInstanceProfile),
    ]
}

fn yes() -> bool {
    true
}

fn tag_list(tags: &IndexMap<String, String>) -> Value {
    tags.iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect()
}

/// A password that meets IAM's default and common account policies: 24 characters with
/// upper and lower case letters, digits and symbols.
fn new_password() -> String {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"#%^*_+-=@[]{}",
    ];
    let mut random = [0u8; 48];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut random);
    }
    let mut out: Vec<u8> = (0..24)
        .map(|i| {
            let set = SETS[i % 4];
            set[random[i] as usize % set.len()]
        })
        .collect();
    // Shuffle so that the classes are not in a fixed order.
    for i in (1..out.len()).rev() {
        let j = random[24 + i] as usize % (i + 1);
        out.swap(i, j);
    }
    String::from_utf8(out).unwrap_or_default()
}

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

fn list_or_none(items: &[String]) -> String {
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

// --- access keys

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    user_name: String,
}

impl Params for UserParams {}

/// "(active, created 2026-01-01, 57 days old)"
fn key_facts(k: &AccessKey, now: Timestamp) -> String {
    format!(
        "({}, created {}, {} days old)",
        if k.active { "active" } else { "inactive" },
        k.created.strftime("%Y-%m-%d"),
        days_between(k.created, now)
    )
}

fn describe_keys(keys: &[AccessKey], now: Timestamp) -> String {
    keys.iter()
        .map(|k| format!("{} {}", k.id, key_facts(k, now)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// AWS allows two access keys per user.
const KEY_LIMIT: usize = 2;

/// `iam.create_access_key`: a new key. Not idempotent by nature: every run makes a new key
/// (AWS shows a secret only once), so it refuses when the user already has two.
pub struct CreateAccessKey;

impl CreateAccessKey {
    fn full(keys: &[AccessKey], user: &str, now: Timestamp) -> Option<AwsError> {
        (keys.len() >= KEY_LIMIT).then(|| {
            AwsError::new(
                Self::NAME,
                "LimitExceeded",
                format!(
                    "{user} already has {} access keys, the most AWS allows: {}",
                    keys.len(),
                    describe_keys(keys, now)
                ),
            )
            .hint("deactivate and delete the key no longer in use (`iam.deactivate_access_key`, `iam.delete_access_key`), then retry the step")
        })
    }
}

impl Typed for CreateAccessKey {
    const NAME: &'static str = "iam.create_access_key";
    const SUMMARY: &'static str = "create a new access key for an IAM user (not idempotent: each run makes a new key; refused when the user has 2)";
    const OUTPUTS: &'static [&'static str] = &["access_key_id", "secret_access_key"];
    const READ_ONLY: bool = false;
    type P = UserParams;

    fn request(&self, p: &UserParams) -> Value {
        json!({ "service": "iam", "operation": "CreateAccessKey", "UserName": p.user_name })
    }

    async fn plan(&self, aws: &Aws, p: &UserParams) -> Result<Planned, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let now = aws.clock().now();
        Ok(match Self::full(&keys, &p.user_name, now) {
            Some(e) => Planned::refuse(e.message),
            None if keys.is_empty() => Planned::would(format_args!(
                "create an access key for {} (it has none)",
                p.user_name
            )),
            None => Planned::would(format_args!(
                "create a second access key for {} (it has {})",
                p.user_name,
                describe_keys(&keys, now)
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &UserParams) -> Result<Outcome, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        if let Some(e) = Self::full(&keys, &p.user_name, aws.clock().now()) {
            return Err(e);
        }
        let key = aws
            .iam()
            .create_access_key(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!(
                "created access key {} for {} (the secret is in the secret output `secret_access_key`; AWS shows it only once)",
                key.id, p.user_name
            ),
            json!({ "access_key_id": key.id, "secret_access_key": key.secret }),
        )
        .with_secret(&["secret_access_key"]))
    }
}

// --- iam.check_access_key_age

choice!(
    /// Which status fails the step.
    FailOn { Expired = "expired", Warning = "warning" }
);

/// A duration in days when it is whole days (`60d`).
fn days_text(d: std::time::Duration) -> String {
    if d.as_secs().is_multiple_of(86_400) {
        format!("{}d", d.as_secs() / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn default_max_age() -> std::time::Duration {
    std::time::Duration::from_secs(60 * 86_400)
}
fn default_warn_before() -> std::time::Duration {
    std::time::Duration::from_secs(15 * 86_400)
}
fn default_fail_on() -> FailOn {
    FailOn::Expired
}

pub struct CheckAccessKeyAge;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAgeParams {
    user_name: String,
    #[serde(default = "default_max_age", deserialize_with = "flex::duration")]
    max_age: std::time::Duration,
    #[serde(default = "default_warn_before", deserialize_with = "flex::duration")]
    warn_before: std::time::Duration,
    #[serde(default = "default_fail_on")]
    fail_on: FailOn,
}

impl Params for KeyAgeParams {}

/// The age of a user's keys against a limit.
struct KeyAges {
    result: Value,
    status: &'static str,
    summary: String,
}

fn key_ages(user: &str, keys: &[AccessKey], now: Timestamp, p: &KeyAgeParams) -> KeyAges {
    let max_days = (p.max_age.as_secs() / 86_400) as i64;
    let warn_days = (p.warn_before.as_secs() / 86_400) as i64;
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "status": if k.active { "Active" } else { "Inactive" },
                "created": k.created.to_string(),
                "age_days": days_between(k.created, now),
            })
        })
        .collect();
    let oldest = keys.iter().filter(|k| k.active).min_by_key(|k| k.created);
    let Some(oldest) = oldest else {
        return KeyAges {
            result: json!({ "oldest_key_id": "", "oldest_age_days": 0, "days_left": max_days,
                            "status": "ok", "keys": list }),
            status: "ok",
            summary: format!("{user} has no active access key"),
        };
    };
    let age = days_between(oldest.created, now);
    let left = max_days - age;
    let status = if left <= 0 {
        "expired"
    } else if left <= warn_days {
        "warning"
    } else {
        "ok"
    };
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_string()
        } else {
            format!("{n} days")
        }
    };
    let summary = match status {
        "expired" if left == 0 => format!(
            "key {} of {user} is {} old: it reached the {max_days}-day limit; rotate it now",
            oldest.id,
            days(age)
        ),
        "expired" => format!(
            "key {} of {user} is {} old: {} past the {max_days}-day limit; rotate it now",
            oldest.id,
            days(age),
            days(-left)
        ),
        _ => format!(
            "key {} of {user} is {} old: {} left before the {max_days}-day limit{}",
            oldest.id,
            days(age),
            days(left),
            if status == "warning" {
                " (warning: rotate it soon)"
            } else {
                ""
            }
        ),
    };
    KeyAges {
        result: json!({ "oldest_key_id": oldest.id, "oldest_age_days": age, "days_left": left,
                        "status": status, "keys": list }),
        status,
        summary,
    }
}

impl Typed for CheckAccessKeyAge {
    const NAME: &'static str = "iam.check_access_key_age";
    const SUMMARY: &'static str =
        "check how old a user's access keys are against a rotation limit (read-only)";
    const OUTPUTS: &'static [&'static str] = &[
        "oldest_key_id",
        "oldest_age_days",
        "days_left",
        "status",
        "keys",
    ];
    const READ_ONLY: bool = true;
    type P = KeyAgeParams;

    fn request(&self, p: &KeyAgeParams) -> Value {
        json!({ "service": "iam", "operation": "ListAccessKeys", "UserName": p.user_name,
                "max_age": days_text(p.max_age),
                "warn_before": days_text(p.warn_before),
                "fail_on": p.fail_on.as_str() })
    }

    async fn plan(&self, aws: &Aws, p: &KeyAgeParams) -> Result<Planned, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Planned::read(
            key_ages(&p.user_name, &keys, aws.clock().now(), p).summary,
        ))
    }

    async fn apply(&self, aws: &Aws, p: &KeyAgeParams) -> Result<Outcome, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let ages = key_ages(&p.user_name, &keys, aws.clock().now(), p);
        let fails = match p.fail_on {
            FailOn::Expired => ages.status == "expired",
            FailOn::Warning => ages.status != "ok",
        };
        if fails {
            return Err(AwsError::new(Self::NAME, CHECK_FAILED, ages.summary).hint(
                "rotate the key: create a new one (`iam.create_access_key`), put it where it is used, then deactivate and delete the old one",
            ));
        }
        Ok(Outcome::unchanged(ages.summary, ages.result))
    }
}

// --- iam.deactivate_access_key, iam.delete_access_key

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyParams {
    user_name: String,
    access_key_id: String,
}

impl Params for KeyParams {}

async fn find_key(
    aws: &Aws,
    action: &str,
    p: &KeyParams,
) -> Result<(Option<AccessKey>, Vec<AccessKey>), AwsError> {
    let keys = aws
        .iam()
        .list_access_keys(&p.user_name)
        .await
        .or_fail(aws, action)?;
    Ok((keys.iter().find(|k| k.id == p.access_key_id).cloned(), keys))
}

pub struct DeactivateAccessKey;

impl Typed for DeactivateAccessKey {
    const NAME: &'static str = "iam.deactivate_access_key";
    const SUMMARY: &'static str = "make an access key inactive, unless it is";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = KeyParams;

    fn request(&self, p: &KeyParams) -> Value {
        json!({ "service": "iam", "operation": "UpdateAccessKey", "UserName": p.user_name,
                "AccessKeyId": p.access_key_id, "Status": "Inactive" })
    }

    async fn plan(&self, aws: &Aws, p: &KeyParams) -> Result<Planned, AwsError> {
        let now = aws.clock().now();
        Ok(match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) if !k.active => {
                Planned::as_wanted(format_args!("key {} is inactive", k.id))
            }
            (Some(k), _) => Planned::would(format_args!(
                "deactivate key {} of {} {}",
                k.id,
                p.user_name,
                key_facts(&k, now)
            )),
            (None, keys) => Planned::refuse(format_args!(
                "{} has no access key {} (its keys: {})",
                p.user_name,
                p.access_key_id,
                if keys.is_empty() {
                    "none".into()
                } else {
                    describe_keys(&keys, now)
                }
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &KeyParams) -> Result<Outcome, AwsError> {
        let now = aws.clock().now();
        match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) if !k.active => Ok(Outcome::unchanged(
                format!("key {} of {} is already inactive", k.id, p.user_name),
                json!({}),
            )),
            (Some(k), _) => {
                aws.iam()
                    .set_access_key_active(&p.user_name, &k.id, false)
                    .await
                    .or_fail(aws, Self::NAME)?;
                Ok(Outcome::changed(
                    format!("deactivated key {} of {}", k.id, p.user_name),
                    json!({}),
                ))
            }
            (None, keys) => Err(AwsError::new(
                Self::NAME,
                "NoSuchEntity",
                format!(
                    "{} has no access key {} (its keys: {})",
                    p.user_name,
                    p.access_key_id,
                    if keys.is_empty() {
                        "none".into()
                    } else {
                        describe_keys(&keys, now)
                    }
                ),
            )
            .hint("check `access_key_id` and `user_name`")),
        }
    }
}

pub struct DeleteAccessKey;

impl Typed for DeleteAccessKey {
    const NAME: &'static str = "iam.delete_access_key";
    const SUMMARY: &'static str = "delete an access key, unless it is gone";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = KeyParams;

    fn request(&self, p: &KeyParams) -> Value {
        json!({ "service": "iam", "operation": "DeleteAccessKey", "UserName": p.user_name,
                "AccessKeyId": p.access_key_id })
    }

    async fn plan(&self, aws: &Aws, p: &KeyParams) -> Result<Planned, AwsError> {
        let now = aws.clock().now();
        Ok(match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) => Planned::would(format_args!(
                "delete key {} of {} {}",
                k.id,
                p.user_name,
                key_facts(&k, now)
            )),
            (None, _) => Planned::as_wanted(format_args!(
                "{} has no key {}",
                p.user_name, p.access_key_id
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &KeyParams) -> Result<Outcome, AwsError> {
        match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) => {
                aws.iam()
                    .delete_access_key(&p.user_name, &k.id)
                    .await
                    .or_fail(aws, Self::NAME)?;
                Ok(Outcome::changed(
                    format!("deleted key {} of {}", k.id, p.user_name),
                    json!({}),
                ))
            }
            (None, _) => Ok(Outcome::unchanged(
                format!("key {} of {} is already gone", p.access_key_id, p.user_name),
                json!({}),
            )),
        }
    }
}

// --- iam.create_role

pub struct CreateRole;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleParams {
    role_name: String,
    #[serde(deserialize_with = "flex::json_doc")]
    trust_policy: Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_duration")]
    max_session_duration: Option<std::time::Duration>,
    #[serde(default, deserialize_with = "flex::bool")]
    update: bool,
}

impl Params for CreateRoleParams {
    fn check(&self) -> Result<(), String> {
        match self.max_session_duration {
            Some(d) if d.as_secs() != 0 && !(3600..=43_200).contains(&d.as_secs()) => Err(format!(
                "max_session_duration is {}: IAM allows 1h to 12h",
                humantime::format_duration(d)
            )),
            _ => Ok(()),
        }
    }
}

/// How an existing role differs from the wanted one.
fn role_diff(role: &Role, p: &CreateRoleParams) -> Vec<String> {
    let mut out = Vec::new();
    let wanted = canonical_json(&p.trust_policy);
    let current = canonical_json(&role.trust_policy);
    if wanted != current {
        out.push(format!(
            "trust policy:\n{}",
            diff_json(&role.trust_policy, &p.trust_policy)
        ));
    }
    if let Some(d) = &p.description
        && role.description.as_deref() != Some(d.as_str())
    {
        out.push(format!(
            "description: {:?} -> {d:?}",
            role.description.as_deref().unwrap_or("")
        ));
    }
    if let Some(m) = max_secs(p)
        && role.max_session_secs != Some(m)
    {
        out.push(format!(
            "max_session_duration: {}s -> {m}s",
            role.max_session_secs.unwrap_or(3600)
        ));
    }
    out
}

fn max_secs(p: &CreateRoleParams) -> Option<i32> {
    p.max_session_duration.map(|d| d.as_secs() as i32)
}

impl Typed for CreateRole {
    const NAME: &'static str = "iam.create_role";
    const SUMMARY: &'static str = "create an IAM role with a trust policy; an existing role with another policy is changed only with `update: true`";
    const OUTPUTS: &'static [&'static str] = &["arn", "role_name"];
    const READ_ONLY: bool = false;
    type P = CreateRoleParams;

    fn request(&self, p: &CreateRoleParams) -> Value {
        let mut req = json!({ "service": "iam", "operation": "CreateRole", "RoleName": p.role_name,
                              "AssumeRolePolicyDocument": p.trust_policy });
        if let Some(d) = &p.description {
            req["Description"] = json!(d);
        }
        if let Some(m) = max_secs(p) {
            req["MaxSessionDuration"] = json!(m);
        }
        if p.update {
            req["if it exists with other settings"] = json!("UpdateAssumeRolePolicy / UpdateRole");
        }
        req
    }

    async fn plan(&self, aws: &Aws, p: &CreateRoleParams) -> Result<Planned, AwsError> {
        let role = aws
            .iam()
            .get_role(&p.role_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(match role {
            None => Planned::would(format_args!("create role {}", p.role_name)),
            Some(r) => {
                let diff = role_diff(&r, p);
                if diff.is_empty() {
                    Planned::as_wanted(format_args!("role {} exists with this trust policy", r.arn))
                } else if p.update {
                    Planned::would(format_args!("update role {}:\n{}", r.arn, diff.join("\n")))
                } else {
                    Planned::refuse(format_args!(
                        "role {} exists with other settings (give `update: true` to change them):\n{}",
                        r.arn,
                        diff.join("\n")
                    ))
                }
            }
        })
    }

    async fn apply(&self, aws: &Aws, p: &CreateRoleParams) -> Result<Outcome, AwsError> {
        let iam = aws.iam();
        let trust = serde_json::to_string(&p.trust_policy).unwrap_or_default();
        let Some(role) = iam.get_role(&p.role_name).await.or_fail(aws, Self::NAME)? else {
            let r = iam
                .create_role(&p.role_name, &trust, p.description.as_deref(), max_secs(p))
                .await
                .or_fail(aws, Self::NAME)?;
            return Ok(Outcome::changed(
                format!("created role {}", r.arn),
                json!({ "arn": r.arn, "role_name": r.name }),
            ));
        };
        let result = json!({ "arn": role.arn, "role_name": role.name });
        let diff = role_diff(&role, p);
        if diff.is_empty() {
            return Ok(Outcome::unchanged(
                format!("role {} already exists with this trust policy", role.arn),
                result,
            ));
        }
        if !p.update {
            return Err(AwsError::new(
                Self::NAME,
                "RoleDiffers",
                format!(
                    "role {} exists with other settings:\n{}",
                    role.arn,
                    diff.join("\n")
                ),
            )
            .hint("give the step `update: true` to change the role to what the runbook says, or fix the runbook"));
        }
        if canonical_json(&role.trust_policy) != canonical_json(&p.trust_policy) {
            iam.update_trust_policy(&p.role_name, &trust)
                .await
                .or_fail(aws, Self::NAME)?;
        }
        let desc_differs = p
            .description
            .as_ref()
            .is_some_and(|d| role.description.as_deref() != Some(d.as_str()));
        let max_differs = max_secs(p).is_some_and(|m| role.max_session_secs != Some(m));
        if desc_differs || max_differs {
            iam.update_role(&p.role_name, p.description.as_deref(), max_secs(p))
                .await
                .or_fail(aws, Self::NAME)?;
        }
        Ok(Outcome::changed(
            format!("updated role {}:\n{}", role.arn, diff.join("\n")),
            result,
        ))
    }
}

// --- iam.attach_role_policy

pub struct AttachRolePolicy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachParams {
    role_name: String,
    #[serde(deserialize_with = "flex::list")]
    policy_arns: Vec<String>,
}

impl Params for AttachParams {
    fn check(&self) -> Result<(), String> {
        match self
            .policy_arns
            .iter()
            .find(|a| !a.starts_with("arn:") && !a.contains("{{"))
        {
            Some(a) => Err(format!(
                "policy_arns: `{a}` is not an ARN\nhint: managed policies are named by ARN, e.g. `arn:aws:iam::aws:policy/ReadOnlyAccess`"
            )),
            None => Ok(()),
        }
    }
}

impl AttachRolePolicy {
    async fn missing(aws: &Aws, p: &AttachParams) -> Result<Vec<String>, AwsError> {
        let attached = aws
            .iam()
            .attached_role_policies(&p.role_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(p.policy_arns
            .iter()
            .filter(|a| !attached.contains(a))
            .cloned()
            .collect())
    }
}

impl Typed for AttachRolePolicy {
    const NAME: &'static str = "iam.attach_role_policy";
    const SUMMARY: &'static str = "attach managed policies to a role, unless attached";
    const OUTPUTS: &'static [&'static str] = &["attached"];
    const READ_ONLY: bool = false;
    type P = AttachParams;

    fn request(&self, p: &AttachParams) -> Value {
        let calls: Vec<Value> = p
            .policy_arns
            .iter()
            .map(|a| json!({ "operation": "AttachRolePolicy", "RoleName": p.role_name, "PolicyArn": a }))
            .collect();
        json!({ "service": "iam", "requests": calls })
    }

    async fn plan(&self, aws: &Aws, p: &AttachParams) -> Result<Planned, AwsError> {
        let missing = Self::missing(aws, p).await?;
        Ok(if missing.is_empty() {
            Planned::as_wanted(format_args!("all policies are attached to {}", p.role_name))
        } else {
            Planned::would(format_args!(
                "attach to {}: {}",
                p.role_name,
                missing.join(", ")
            ))
        })
    }

    async fn apply(&self, aws: &Aws, p: &AttachParams) -> Result<Outcome, AwsError> {
        let missing = Self::missing(aws, p).await?;
        for arn in &missing {
            aws.iam()
                .attach_role_policy(&p.role_name, arn)
                .await
                .or_fail(aws, Self::NAME)?;
        }
        Ok(if missing.is_empty() {
            Outcome::unchanged(
                format!("all policies are already attached to {}", p.role_name),
                json!({ "attached": "" }),
            )
        } else {
            Outcome::changed(
                format!("attached to {}: {}", p.role_name, missing.join(", ")),
                json!({ "attached": missing.join(",") }),
            )
        })
    }
}

// --- iam.create_instance_profile

pub struct CreateInstanceProfile;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    name: String,
    role_name: String,
}

impl Params for ProfileParams {}

impl CreateInstanceProfile {
    fn other_role(p: &ProfileParams, ip: &InstanceProfile) -> Option<AwsError> {
        ip.roles
            .iter()
            .find(|r| **r != p.role_name)
            .map(|r| {
                AwsError::new(
                    Self::NAME,
                    "InstanceProfileHasOtherRole",
                    format!(
                        "instance profile {} holds the role {r}, not {} (an instance profile holds one role)",
                        ip.arn, p.role_name
                    ),
                )
                .hint(format!("remove it first (`aws iam remove-role-from-instance-profile --instance-profile-name {} --role-name {r}`), or use another profile name", ip.name))
            })
    }
}

impl Typed for CreateInstanceProfile {
    const NAME: &'static str = "iam.create_instance_profile";
    const SUMMARY: &'static str =
        "create an instance profile holding a role, unless it exists with that role";
    const OUTPUTS: &'static [&'static str] = &["arn", "name"];
    const READ_ONLY: bool = false;
    type P = ProfileParams;

    fn request(&self, p: &ProfileParams) -> Value {
        json!({ "service": "iam", "requests": [
            { "operation": "CreateInstanceProfile", "InstanceProfileName": p.name },
            { "operation": "AddRoleToInstanceProfile", "InstanceProfileName": p.name, "RoleName": p.role_name },
        ]})
    }

    async fn plan(&self, aws: &Aws, p: &ProfileParams) -> Result<Planned, AwsError> {
        let ip = aws
            .iam()
            .get_instance_profile(&p.name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(match ip {
            None => Planned::would(format_args!(
                "create instance profile {} with role {}",
                p.name, p.role_name
            )),
            Some(ip) => match Self::other_role(p, &ip) {
                Some(e) => Planned::refuse(e.message),
                None if ip.roles.is_empty() => Planned::would(format_args!(
                    "add role {} to the existing instance profile {}",
                    p.role_name, ip.arn
                )),
                None => Planned::as_wanted(format_args!(
                    "instance profile {} holds {}",
                    ip.arn, p.role_name
                )),
            },
        })
    }

    async fn apply(&self, aws: &Aws, p: &ProfileParams) -> Result<Outcome, AwsError> {
        let iam = aws.iam();
        let (ip, created) = match iam
            .get_instance_profile(&p.name)
            .await
            .or_fail(aws, Self::NAME)?
        {
            Some(ip) => (ip, false),
            None => (
                iam.create_instance_profile(&p.name)
                    .await
                    .or_fail(aws, Self::NAME)?,
                true,
            ),
        };
        if let Some(e) = Self::other_role(p, &ip) {
            return Err(e);
        }
        let result = json!({ "arn": ip.arn, "name": ip.name });
        if ip.roles.contains(&p.role_name) {
            return Ok(Outcome::unchanged(
                format!("instance profile {} already holds {}", ip.arn, p.role_name),
                result,
            ));
        }
        iam.add_role_to_instance_profile(&p.name, &p.role_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let what = if created { "created" } else { "completed" };
        Ok(Outcome::changed(
            format!(
                "{what} instance profile {} with role {}",
                ip.arn, p.role_name
            ),
            result,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_every_class() {
        let p = new_password();
        assert_eq!(p.len(), 24);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert_ne!(p, new_password());
    }
}
