//! In-memory fakes of the service traits, for tests of what an emulator cannot show: time
//! passing (a key 57 days old), states that last (an instance that stays pending, a DNS change
//! that stays PENDING, an SSM agent that comes online after a while), and credentials that
//! expire in the middle of a run.
//!
//! `Fakes::new()` gives every service; `Fakes::aws()` a session over them, and
//! `Fakes::settings()` engine settings that use that session instead of connecting.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use indexmap::IndexMap;
use jiff::Timestamp;
use serde_json::Value;

use super::ec2::{self, Ec2Api, Found, Instance, Launch};
use super::iam::{AccessKey, IamApi, InstanceProfile, NewAccessKey, Role, User};
use super::route53::{self, ChangeInfo, Record, Route53Api, Zone};
use super::s3::S3Api;
use super::ssm::{Agent, Invocation, Parameter, SsmApi};
use super::sts::{CallerIdentity, StsApi};
use super::{
    ApiError, ApiResult, Aws, AwsSettings, BoxFuture, Clock, FixedClock, Preset, Services,
};

pub const ACCOUNT: &str = "123456789012";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The credentials every fake checks: they can be made to expire after some calls, and
/// "refreshed"; single permissions can be denied.
#[derive(Default)]
pub struct FakeSession {
    calls: AtomicUsize,
    expire_at: Mutex<Option<usize>>,
    denied: Mutex<HashSet<String>>,
}

impl FakeSession {
    /// Every call after the next `n` fails with `ExpiredToken`.
    pub fn expire_after(&self, n: usize) {
        *lock(&self.expire_at) = Some(self.calls.load(Ordering::SeqCst) + n);
    }
    /// Expire now.
    pub fn expire(&self) {
        self.expire_after(0)
    }
    /// New credentials: nothing expires.
    pub fn refresh(&self) {
        *lock(&self.expire_at) = None;
    }
    /// Calls needing this permission fail with `AccessDenied`.
    pub fn deny(&self, permission: &str) {
        lock(&self.denied).insert(permission.to_string());
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn check(&self, permission: &'static str) -> ApiResult<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if lock(&self.expire_at).is_some_and(|at| n >= at) {
            return Err(ApiError::new(
                permission,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        if lock(&self.denied).contains(permission) {
            return Err(ApiError::new(
                permission,
                "AccessDenied",
                format!(
                    "User: arn:aws:iam::{ACCOUNT}:user/tester is not authorized to perform: {permission}"
                ),
            ));
        }
        Ok(())
    }
}

/// Every fake service, sharing one session and one clock.
pub struct Fakes {
    pub session: Arc<FakeSession>,
    pub clock: Arc<FixedClock>,
    pub iam: Arc<FakeIam>,
    pub ec2: Arc<FakeEc2>,
    pub ssm: Arc<FakeSsm>,
    pub route53: Arc<FakeRoute53>,
    pub s3: Arc<FakeS3>,
    sts: Arc<FakeSts>,
}

impl Default for Fakes {
    fn default() -> Self {
        Self::new()
    }
}

impl Fakes {
    pub fn new() -> Fakes {
        let session = Arc::new(FakeSession::default());
        let clock = Arc::new(FixedClock::new(
            "2026-01-01T00:00:00Z".parse().expect("a timestamp"),
        ));
        Fakes {
            iam: Arc::new(FakeIam {
                session: session.clone(),
                clock: clock.clone(),
                state: Mutex::default(),
            }),
            ec2: Arc::new(FakeEc2 {
                session: session.clone(),
                state: Mutex::default(),
            }),
            ssm: Arc::new(FakeSsm {
                session: session.clone(),
                state: Mutex::default(),
            }),
            route53: Arc::new(FakeRoute53 {
                session: session.clone(),
                state: Mutex::default(),
            }),
            s3: Arc::new(FakeS3 {
                session: session.clone(),
                objects: Mutex::default(),
            }),
            sts: Arc::new(FakeSts {
                session: session.clone(),
            }),
            session,
            clock,
        }
    }

    /// A session over the fakes. Waiting actions look again every 10 s of the fake clock,
    /// which moves at once.
    pub fn aws(&self) -> Arc<Aws> {
        self.aws_with(AwsSettings::default())
    }

    /// A session over the fakes with settings (a profile, for the hints that name it).
    pub fn aws_with(&self, settings: AwsSettings) -> Arc<Aws> {
        let services = Services {
            sts: self.sts.clone(),
            iam: self.iam.clone(),
            ec2: self.ec2.clone(),
            ssm: self.ssm.clone(),
            route53: self.route53.clone(),
            s3: self.s3.clone(),
        };
        let clock: Arc<dyn Clock> = self.clock.clone();
        Arc::new(Aws::with_services(
            settings,
            services,
            clock,
            Duration::from_secs(10),
        ))
    }

    /// Engine settings that make AWS steps use `aws` instead of connecting.
    pub fn settings(aws: &Arc<Aws>) -> AwsSettings {
        AwsSettings {
            preset: Preset(Some(aws.clone())),
            ..AwsSettings::default()
        }
    }
}

// --- STS

pub struct FakeSts {
    session: Arc<FakeSession>,
}

impl StsApi for FakeSts {
    fn get_caller_identity(&self) -> BoxFuture<'_, ApiResult<CallerIdentity>> {
        Box::pin(async move {
            self.session.check("sts:GetCallerIdentity")?;
            Ok(CallerIdentity {
                account: ACCOUNT.into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:user/tester"),
                user_id: "AIDATESTER".into(),
            })
        })
    }
}

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
    session: Arc<FakeSession>,
    clock: Arc<FixedClock>,
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

macro_rules! ready {
    ($e:expr) => {{
        let r = $e;
        Box::pin(async move { r })
    }};
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

// --- EC2, SSM, Route53, S3 (filled in with their actions)

/// A launched instance and how it moves on.
#[derive(Clone)]
pub struct FakeInstance {
    pub instance: Instance,
    pub launch: Launch,
    /// Looks at a pending instance before it is running; `None`: it stays pending.
    pub pending_looks: Option<usize>,
}

#[derive(Default)]
pub struct Ec2State {
    pub vpcs: Vec<Found>,
    pub subnets: Vec<Found>,
    pub groups: Vec<Found>,
    pub instances: Vec<FakeInstance>,
    /// How many looks new instances stay pending for (`None`: for ever).
    pub pending_looks: Option<usize>,
}

pub struct FakeEc2 {
    session: Arc<FakeSession>,
    pub state: Mutex<Ec2State>,
}

impl FakeEc2 {
    pub fn state(&self) -> MutexGuard<'_, Ec2State> {
        lock(&self.state)
    }
}

/// EC2's filter patterns: `*` is any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let re = format!(
        "^{}$",
        regex::escape(pattern)
            .replace("\\*", ".*")
            .replace("\\?", ".")
    );
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(text))
}

impl Ec2Api for FakeEc2 {
    fn find<'a>(
        &'a self,
        kind: ec2::Kind,
        pattern: Option<&'a str>,
        vpc: Option<&'a str>,
    ) -> BoxFuture<'a, ApiResult<Vec<Found>>> {
        ready!((|| {
            self.session.check("ec2:Describe")?;
            let st = self.state();
            let all = match kind {
                ec2::Kind::Vpc => &st.vpcs,
                ec2::Kind::Subnet => &st.subnets,
                ec2::Kind::SecurityGroup => &st.groups,
            };
            Ok(all
                .iter()
                .filter(|f| vpc.is_none() || f.vpc_id.as_deref() == vpc)
                .filter(|f| {
                    pattern.is_none_or(|p| {
                        f.name.as_deref().is_some_and(|n| glob(p, n))
                            || f.group_name.as_deref().is_some_and(|n| glob(p, n))
                    })
                })
                .cloned()
                .collect())
        })())
    }
    fn instances_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Instance>>> {
        ready!(self.session.check("ec2:DescribeInstances").map(|_| {
            self.state()
                .instances
                .iter()
                .filter(|i| i.instance.name.as_deref() == Some(name))
                .filter(|i| !matches!(i.instance.state.as_str(), "terminated" | "shutting-down"))
                .map(|i| i.instance.clone())
                .collect()
        }))
    }
    fn instance<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Instance>>> {
        ready!(self.session.check("ec2:DescribeInstances").map(|_| {
            let mut st = self.state();
            let i = st.instances.iter_mut().find(|i| i.instance.id == id)?;
            let shown = i.instance.clone();
            match i.instance.state.as_str() {
                "pending" => match &mut i.pending_looks {
                    Some(0) => i.instance.state = "running".into(),
                    Some(n) => *n -= 1,
                    None => {}
                },
                "stopping" => i.instance.state = "stopped".into(),
                "shutting-down" => i.instance.state = "terminated".into(),
                _ => {}
            }
            Some(shown)
        }))
    }
    fn root_device<'a>(&'a self, _ami: &'a str) -> BoxFuture<'a, ApiResult<Option<String>>> {
        ready!(self.session.check("ec2:DescribeImages").map(|_| None))
    }
    fn run_instance<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, ApiResult<Instance>> {
        ready!(self.session.check("ec2:RunInstances").map(|_| {
            let mut st = self.state();
            let instance = Instance {
                id: format!("i-{:017x}", st.instances.len() + 1),
                name: launch.tags.get("Name").cloned(),
                state: "pending".into(),
                private_ip: Some(format!("10.0.0.{}", st.instances.len() + 10)),
                instance_type: launch.instance_type.clone(),
            };
            let pending_looks = st.pending_looks;
            st.instances.push(FakeInstance {
                instance: instance.clone(),
                launch: launch.clone(),
                pending_looks,
            });
            instance
        }))
    }
    fn change_state<'a>(
        &'a self,
        id: &'a str,
        to: ec2::Wanted,
    ) -> BoxFuture<'a, ApiResult<String>> {
        ready!(self.session.check("ec2:ChangeState").and_then(|_| {
            let mut st = self.state();
            let i = st
                .instances
                .iter_mut()
                .find(|i| i.instance.id == id)
                .ok_or_else(|| {
                    ApiError::new(
                        "ec2:ChangeState",
                        "InvalidInstanceID.NotFound",
                        "no instance",
                    )
                })?;
            i.instance.state = match to {
                ec2::Wanted::Running => "pending",
                ec2::Wanted::Stopped => "stopping",
                ec2::Wanted::Terminated => "shutting-down",
            }
            .into();
            Ok(i.instance.state.clone())
        }))
    }
}

#[derive(Default)]
pub struct SsmState {
    /// Agents by instance: looks before it is Online (`None`: never).
    pub agents: BTreeMap<String, Option<usize>>,
    /// Commands sent: (command id, instance, commands).
    pub sent: Vec<(String, String, Vec<String>)>,
    /// What every command ends with (status, stdout, stderr); Success with no output by default.
    pub result: Option<(String, String, String)>,
    pub parameters: BTreeMap<String, Parameter>,
}

pub struct FakeSsm {
    session: Arc<FakeSession>,
    pub state: Mutex<SsmState>,
}

impl FakeSsm {
    pub fn state(&self) -> MutexGuard<'_, SsmState> {
        lock(&self.state)
    }
}

impl SsmApi for FakeSsm {
    fn agent<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, ApiResult<Option<Agent>>> {
        ready!(
            self.session
                .check("ssm:DescribeInstanceInformation")
                .map(|_| {
                    let mut st = self.state();
                    let looks = st.agents.get_mut(instance_id)?;
                    let status = match looks {
                        Some(0) => "Online",
                        Some(n) => {
                            *n -= 1;
                            "ConnectionLost"
                        }
                        None => "ConnectionLost",
                    };
                    Some(Agent {
                        ping_status: status.into(),
                        agent_version: Some("3.3.0.0".into()),
                        platform: Some("Amazon Linux".into()),
                    })
                })
        )
    }
    fn send_command<'a>(
        &'a self,
        instance_id: &'a str,
        commands: &'a [String],
        _timeout: Duration,
    ) -> BoxFuture<'a, ApiResult<String>> {
        ready!(self.session.check("ssm:SendCommand").map(|_| {
            let mut st = self.state();
            let id = format!("cmd-{}", st.sent.len() + 1);
            st.sent
                .push((id.clone(), instance_id.to_string(), commands.to_vec()));
            id
        }))
    }
    fn invocation<'a>(
        &'a self,
        command_id: &'a str,
        _instance_id: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Invocation>>> {
        ready!(self.session.check("ssm:GetCommandInvocation").map(|_| {
            let st = self.state();
            st.sent.iter().find(|(id, _, _)| id == command_id)?;
            let (status, stdout, stderr) = st
                .result
                .clone()
                .unwrap_or_else(|| ("Success".into(), String::new(), String::new()));
            Some(Invocation {
                exit_code: if status == "Success" { 0 } else { 1 },
                status,
                stdout,
                stderr,
            })
        }))
    }
    fn get_parameter<'a>(
        &'a self,
        name: &'a str,
        _decrypt: bool,
    ) -> BoxFuture<'a, ApiResult<Option<Parameter>>> {
        ready!(
            self.session.check("ssm:GetParameter").map(|_| self
                .state()
                .parameters
                .get(name)
                .cloned())
        )
    }
    fn put_parameter<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        kind: &'a str,
        _overwrite: bool,
    ) -> BoxFuture<'a, ApiResult<i64>> {
        ready!(self.session.check("ssm:PutParameter").map(|_| {
            let mut st = self.state();
            let version = st.parameters.get(name).map_or(1, |p| p.version + 1);
            st.parameters.insert(
                name.into(),
                Parameter {
                    value: value.into(),
                    kind: kind.into(),
                    version,
                },
            );
            version
        }))
    }
}

#[derive(Default)]
pub struct Route53State {
    pub zones: Vec<Zone>,
    /// Records by zone id.
    pub records: Vec<(String, Record)>,
    /// Changes by id: looks before INSYNC (`None`: PENDING for ever).
    pub changes: BTreeMap<String, Option<usize>>,
    /// How many looks new changes stay PENDING for (`None`: for ever).
    pub pending_looks: Option<usize>,
}

pub struct FakeRoute53 {
    session: Arc<FakeSession>,
    pub state: Mutex<Route53State>,
}

impl FakeRoute53 {
    pub fn state(&self) -> MutexGuard<'_, Route53State> {
        lock(&self.state)
    }
    /// Adds a public zone; returns its id.
    pub fn add_zone(&self, name: &str) -> String {
        let mut st = self.state();
        let id = format!("Z{:08}", st.zones.len() + 1);
        st.zones.push(Zone {
            id: id.clone(),
            name: route53::fqdn(name),
            private: false,
        });
        id
    }
}

impl Route53Api for FakeRoute53 {
    fn zones_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Zone>>> {
        ready!(
            self.session
                .check("route53:ListHostedZonesByName")
                .map(|_| {
                    self.state()
                        .zones
                        .iter()
                        .filter(|z| z.name == route53::fqdn(name))
                        .cloned()
                        .collect()
                })
        )
    }
    fn zone<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Zone>>> {
        ready!(
            self.session.check("route53:GetHostedZone").map(|_| self
                .state()
                .zones
                .iter()
                .find(|z| z.id == id)
                .cloned())
        )
    }
    fn records_named<'a>(
        &'a self,
        zone_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Vec<Record>>> {
        ready!(
            self.session
                .check("route53:ListResourceRecordSets")
                .map(|_| {
                    self.state()
                        .records
                        .iter()
                        .filter(|(z, r)| z == zone_id && r.name == route53::fqdn(name))
                        .map(|(_, r)| r.clone())
                        .collect()
                })
        )
    }
    fn change_records<'a>(
        &'a self,
        zone_id: &'a str,
        changes: &'a [(route53::ChangeAction, Record)],
        _comment: &'a str,
    ) -> BoxFuture<'a, ApiResult<ChangeInfo>> {
        ready!(
            self.session
                .check("route53:ChangeResourceRecordSets")
                .map(|_| {
                    let mut st = self.state();
                    for (action, r) in changes {
                        st.records.retain(|(z, x)| {
                            !(z == zone_id && x.name == r.name && x.kind == r.kind)
                        });
                        if *action == route53::ChangeAction::Upsert {
                            st.records.push((zone_id.to_string(), r.clone()));
                        }
                    }
                    let id = format!("C{:08}", st.changes.len() + 1);
                    let looks = st.pending_looks;
                    st.changes.insert(id.clone(), looks);
                    ChangeInfo {
                        id,
                        status: "PENDING".into(),
                    }
                })
        )
    }
    fn get_change<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<ChangeInfo>> {
        ready!(self.session.check("route53:GetChange").map(|_| {
            let mut st = self.state();
            let status = match st.changes.get_mut(id) {
                Some(Some(0)) => "INSYNC",
                Some(Some(n)) => {
                    *n -= 1;
                    "PENDING"
                }
                _ => "PENDING",
            };
            ChangeInfo {
                id: id.to_string(),
                status: status.into(),
            }
        }))
    }
}

pub struct FakeS3 {
    session: Arc<FakeSession>,
    pub objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl FakeS3 {
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        lock(&self.objects).insert((bucket.into(), key.into()), body.to_vec());
    }
}

impl S3Api for FakeS3 {
    fn get_object<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Vec<u8>>>> {
        ready!(self.session.check("s3:GetObject").map(|_| {
            lock(&self.objects)
                .get(&(bucket.to_string(), key.to_string()))
                .cloned()
        }))
    }
}
