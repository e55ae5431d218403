//! A fake IAM: users, groups, policies, access keys of any age, roles.

#![allow(clippy::unwrap_used)]

use super::*;

// --- IAM

#[derive(Default, Clone)]
pub struct FakeUser {
    pub groups: Vec<String>,
    pub login: bool,
    pub policies: BTreeMap<String, Value>,
    pub keys: Vec<AccessKey>,
    pub tags: IndexMap<String, String>,
}

#[derive(Default)]
pub struct IamState {
    pub users: BTreeMap<String, FakeUser>,
    pub roles: BTreeMap<String, Role>,
    pub attached: BTreeMap<String, Vec<String>>,
    pub profiles: BTreeMap<String, InstanceProfile>,
    pub next_key: usize,
}

pub struct FakeIam {
    pub(super) session: Arc<FakeSession>,
    pub(super) clock: Arc<FixedClock>,
    pub state: Mutex<IamState>,
}

impl FakeIam {
    pub fn state(&self) -> MutexGuard<'_, IamState> {
        lock(&self.state)
    }
    /// Adds a user.
    pub fn add_user(&self, name: &str) {
        self.state().users.entry(name.to_string()).or_default();
    }
    /// Adds an access key created at a given time; returns its id.
    pub fn add_key(&self, user: &str, created: Timestamp, active: bool) -> String {
        let mut st = self.state();
        st.next_key += 1;
        let id = format!("AKIAFAKE{:012}", st.next_key);
        st.users
            .entry(user.to_string())
            .or_default()
            .keys
            .push(AccessKey {
                id: id.clone(),
                active,
                created,
            });
        id
    }
    fn user_arn(name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:user/{name}")
    }
    fn no_user(p: &'static str, name: &str) -> ApiError {
        ApiError::new(
            p,
            "NoSuchEntity",
            format!("The user with name {name} cannot be found."),
        )
    }
    fn with_user<T>(
        &self,
        p: &'static str,
        name: &str,
        f: impl FnOnce(&mut FakeUser) -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.session.check(p)?;
        let mut st = self.state();
        let u = st
            .users
            .get_mut(name)
            .ok_or_else(|| Self::no_user(p, name))?;
        f(u)
    }
}

impl IamApi for FakeIam {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Option<User>>> {
        ready!(self.session.check("iam:GetUser").map(|_| {
            self.state().users.get(user).map(|_| User {
                name: user.into(),
                arn: Self::user_arn(user),
            })
        }))
    }
    fn create_user<'a>(
        &'a self,
        user: &'a str,
        tags: &'a IndexMap<String, String>,
    ) -> BoxFuture<'a, ApiResult<User>> {
        ready!((|| {
            self.session.check("iam:CreateUser")?;
            let mut st = self.state();
            if st.users.contains_key(user) {
                return Err(ApiError::new(
                    "iam:CreateUser",
                    "EntityAlreadyExists",
                    format!("User with name {user} already exists."),
                ));
            }
            st.users.insert(
                user.into(),
                FakeUser {
                    tags: tags.clone(),
                    ..FakeUser::default()
                },
            );
            Ok(User {
                name: user.into(),
                arn: Self::user_arn(user),
            })
        })())
    }
    fn has_login_profile<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<bool>> {
        ready!(self.with_user("iam:GetLoginProfile", user, |u| Ok(u.login)))
    }
    fn create_login_profile<'a>(
        &'a self,
        user: &'a str,
        _password: &'a str,
        _reset_required: bool,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.with_user("iam:CreateLoginProfile", user, |u| {
            u.login = true;
            Ok(())
        }))
    }
    fn groups_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<String>>> {
        ready!(self.with_user("iam:ListGroupsForUser", user, |u| Ok(u.groups.clone())))
    }
    fn add_user_to_group<'a>(
        &'a self,
        user: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.with_user("iam:AddUserToGroup", user, |u| {
            if !u.groups.iter().any(|g| g == group) {
                u.groups.push(group.into());
            }
            Ok(())
        }))
    }
    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Value>>> {
        ready!(self.with_user("iam:GetUserPolicy", user, |u| Ok(
            u.policies.get(policy).cloned()
        )))
    }
    fn put_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.with_user("iam:PutUserPolicy", user, |u| {
            let doc = serde_json::from_str(document).map_err(|e| {
                ApiError::new(
                    "iam:PutUserPolicy",
                    "MalformedPolicyDocument",
                    e.to_string(),
                )
            })?;
            u.policies.insert(policy.into(), doc);
            Ok(())
        }))
    }
    fn list_access_keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<Vec<AccessKey>>> {
        ready!(self.with_user("iam:ListAccessKeys", user, |u| Ok(u.keys.clone())))
    }
    fn create_access_key<'a>(&'a self, user: &'a str) -> BoxFuture<'a, ApiResult<NewAccessKey>> {
        ready!((|| {
            self.session.check("iam:CreateAccessKey")?;
            let now = self.clock.now();
            let mut st = self.state();
            st.next_key += 1;
            let id = format!("AKIAFAKE{:012}", st.next_key);
            let u = st
                .users
                .get_mut(user)
                .ok_or_else(|| Self::no_user("iam:CreateAccessKey", user))?;
            if u.keys.len() >= 2 {
                return Err(ApiError::new(
                    "iam:CreateAccessKey",
                    "LimitExceeded",
                    "Cannot exceed quota for AccessKeysPerUser: 2",
                ));
            }
            u.keys.push(AccessKey {
                id: id.clone(),
                active: true,
                created: now,
            });
            Ok(NewAccessKey {
                id,
                secret: "fakeSecretKey0123456789abcdefghijklmnopq".into(),
            })
        })())
    }
    fn set_access_key_active<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
        active: bool,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.with_user("iam:UpdateAccessKey", user, |u| {
            match u.keys.iter_mut().find(|k| k.id == key) {
                Some(k) => {
                    k.active = active;
                    Ok(())
                }
                None => Err(ApiError::new(
                    "iam:UpdateAccessKey",
                    "NoSuchEntity",
                    "no such key",
                )),
            }
        }))
    }
    fn delete_access_key<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.with_user("iam:DeleteAccessKey", user, |u| {
            u.keys.retain(|k| k.id != key);
            Ok(())
        }))
    }
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, ApiResult<Option<Role>>> {
        ready!(
            self.session
                .check("iam:GetRole")
                .map(|_| self.state().roles.get(role).cloned())
        )
    }
    fn create_role<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<Role>> {
        ready!((|| {
            self.session.check("iam:CreateRole")?;
            let r = Role {
                name: role.into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                trust_policy: serde_json::from_str(trust_policy).unwrap_or(Value::Null),
                description: description.map(str::to_string),
                max_session_secs: Some(max_session_secs.unwrap_or(3600)),
            };
            self.state().roles.insert(role.into(), r.clone());
            Ok(r)
        })())
    }
    fn update_trust_policy<'a>(
        &'a self,
        role: &'a str,
        trust_policy: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!((|| {
            self.session.check("iam:UpdateAssumeRolePolicy")?;
            if let Some(r) = self.state().roles.get_mut(role) {
                r.trust_policy = serde_json::from_str(trust_policy).unwrap_or(Value::Null);
            }
            Ok(())
        })())
    }
    fn update_role<'a>(
        &'a self,
        role: &'a str,
        description: Option<&'a str>,
        max_session_secs: Option<i32>,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!((|| {
            self.session.check("iam:UpdateRole")?;
            if let Some(r) = self.state().roles.get_mut(role) {
                if let Some(d) = description {
                    r.description = Some(d.into());
                }
                if let Some(m) = max_session_secs {
                    r.max_session_secs = Some(m);
                }
            }
            Ok(())
        })())
    }
    fn attached_role_policies<'a>(
        &'a self,
        role: &'a str,
    ) -> BoxFuture<'a, ApiResult<Vec<String>>> {
        ready!(
            self.session
                .check("iam:ListAttachedRolePolicies")
                .map(|_| { self.state().attached.get(role).cloned().unwrap_or_default() })
        )
    }
    fn attach_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy_arn: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.session.check("iam:AttachRolePolicy").map(|_| {
            self.state()
                .attached
                .entry(role.into())
                .or_default()
                .push(policy_arn.into());
        }))
    }
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<InstanceProfile>>> {
        ready!(
            self.session.check("iam:GetInstanceProfile").map(|_| self
                .state()
                .profiles
                .get(name)
                .cloned())
        )
    }
    fn create_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<InstanceProfile>> {
        ready!(self.session.check("iam:CreateInstanceProfile").map(|_| {
            let ip = InstanceProfile {
                name: name.into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:instance-profile/{name}"),
                roles: Vec::new(),
            };
            self.state().profiles.insert(name.into(), ip.clone());
            ip
        }))
    }
    fn add_role_to_instance_profile<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
    ) -> BoxFuture<'a, ApiResult<()>> {
        ready!(self.session.check("iam:AddRoleToInstanceProfile").map(|_| {
            if let Some(ip) = self.state().profiles.get_mut(name) {
                ip.roles.push(role.into());
            }
        }))
    }
}
