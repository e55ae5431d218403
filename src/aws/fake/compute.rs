//! A fake EC2: VPCs, subnets, groups, and instances whose states last as long as a test wants.

#![allow(clippy::unwrap_used)]

use super::*;

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
    pub(super) session: Arc<FakeSession>,
    pub state: Mutex<Ec2State>,
}

impl FakeEc2 {
    pub fn state(&self) -> MutexGuard<'_, Ec2State> {
        lock(&self.state)
    }
}

/// EC2's filter patterns: `*` is any run of characters, `?` one.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
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
