//! The IAM service boundary: what the actions need of IAM, and the SDK client behind it.

use super::*;

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

pub(super) fn ts(d: Option<&aws_sdk_iam::primitives::DateTime>) -> Timestamp {
    d.and_then(|d| Timestamp::from_second(d.secs()).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `None` when IAM says there is no such thing.
pub(super) fn found<T>(r: Result<T, ApiError>) -> ApiResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn role_of(r: &aws_sdk_iam::types::Role) -> Role {
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

pub(super) fn profile_of(p: &aws_sdk_iam::types::InstanceProfile) -> InstanceProfile {
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
