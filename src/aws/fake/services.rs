//! Fake SSM (an agent that comes online after a while), Route53 (changes that stay PENDING) and S3.

#![allow(clippy::unwrap_used)]

use super::*;

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
    pub(super) session: Arc<FakeSession>,
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
    pub(super) session: Arc<FakeSession>,
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
    pub(super) session: Arc<FakeSession>,
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
