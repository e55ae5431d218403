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

/// A call's result, as a future that is ready at once.
macro_rules! ready {
    ($e:expr) => {{
        let r = $e;
        Box::pin(async move { r })
    }};
}

mod compute;
mod identity;
mod services;

pub use compute::*;
pub use identity::*;
pub use services::*;
