//! EC2: finding a VPC, subnet or security group by name; launching, waiting for, stopping,
//! starting and terminating an instance.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::flex::{self, choice};
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, OrFail, Outcome, Params, Planned, Typed,
    poll,
};

// ---------------------------------------------------------------------------------------------
// The service boundary

/// A VPC, subnet or security group, as found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    /// Its Name tag.
    pub name: Option<String>,
    /// A security group's own name.
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
}

impl Found {
    fn shown(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = &self.group_name {
            parts.push(format!("group name {g}"));
        }
        parts.push(match &self.name {
            Some(n) => format!("Name {n}"),
            None => "no Name tag".into(),
        });
        if let Some(v) = &self.vpc_id {
            parts.push(v.clone());
        }
        if let Some(z) = &self.availability_zone {
            parts.push(z.clone());
        }
        format!("{} ({})", self.id, parts.join(", "))
    }
}

/// The kinds of thing found by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vpc,
    Subnet,
    SecurityGroup,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Vpc => "VPC",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "security group",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub name: Option<String>,
    /// pending, running, stopping, stopped, shutting-down, terminated
    pub state: String,
    pub private_ip: Option<String>,
    pub instance_type: String,
}

/// What to launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub ami: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub security_group_ids: Vec<String>,
    /// An instance profile name or ARN.
    pub instance_profile: Option<String>,
    /// The root volume: its device, size (GiB) and type.
    pub root_device: String,
    pub volume_size: Option<i32>,
    pub volume_type: String,
    /// Every tag, Name first.
    pub tags: IndexMap<String, String>,
    /// Base64.
    pub user_data: Option<String>,
}

/// The EC2 calls stepwise makes.
pub trait Ec2Api: Send + Sync {
    /// Things whose Name tag (or, for security groups, group name) matches `pattern` (`*`
    /// wildcards); with no pattern, all of them. `vpc` narrows to one VPC.
    fn find<'a>(
        &'a self,
        kind: Kind,
        pattern: Option<&'a str>,
        vpc: Option<&'a str>,
    ) -> BoxFuture<'a, ApiResult<Vec<Found>>>;
    /// Instances with this Name tag that are not terminated (or being terminated).
    fn instances_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Instance>>>;
    /// One instance; `None` when there is no such instance.
    fn instance<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Instance>>>;
    /// The root device name of an image, when it can be read.
    fn root_device<'a>(&'a self, ami: &'a str) -> BoxFuture<'a, ApiResult<Option<String>>>;
    fn run_instance<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, ApiResult<Instance>>;
    /// Stops, starts or terminates; returns the state the instance went to.
    fn change_state<'a>(&'a self, id: &'a str, to: Wanted) -> BoxFuture<'a, ApiResult<String>>;
}

choice!(
    /// A state an instance can be brought to.
    Wanted { Running = "running", Stopped = "stopped", Terminated = "terminated" }
);

impl Wanted {
    /// States that count as there or on the way there.
    fn reached_or_going(self, state: &str) -> bool {
        match self {
            Wanted::Running => matches!(state, "pending" | "running"),
            Wanted::Stopped => matches!(state, "stopping" | "stopped"),
            Wanted::Terminated => matches!(state, "shutting-down" | "terminated"),
        }
    }
    /// States from which this one cannot come by waiting.
    fn unreachable_from(self, state: &str) -> bool {
        match self {
            Wanted::Running => matches!(
                state,
                "stopping" | "stopped" | "shutting-down" | "terminated"
            ),
            Wanted::Stopped => matches!(state, "shutting-down" | "terminated"),
            Wanted::Terminated => false,
        }
    }
}

fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value().map(str::to_string))
}

fn filter(name: &str, values: &[&str]) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn instance_of(i: &aws_sdk_ec2::types::Instance) -> Instance {
    Instance {
        id: i.instance_id().unwrap_or_default().to_string(),
        name: name_tag(i.tags()),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        private_ip: i.private_ip_address().map(str::to_string),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
    }
}

impl Ec2Api for aws_sdk_ec2::Client {
    fn find<'a>(
        &'a self,
        kind: Kind,
        pattern: Option<&'a str>,
        vpc: Option<&'a str>,
    ) -> BoxFuture<'a, ApiResult<Vec<Found>>> {
        Box::pin(async move {
            let mut filters = Vec::new();
            if let Some(v) = vpc {
                filters.push(filter("vpc-id", &[v]));
            }
            let with_name = |f: &str| {
                let mut all = filters.clone();
                if let Some(p) = pattern {
                    all.push(filter(f, &[p]));
                }
                all
            };
            let mut out: Vec<Found> = Vec::new();
            match kind {
                Kind::Vpc => {
                    let vpcs = self
                        .describe_vpcs()
                        .set_filters(Some(with_name("tag:Name")))
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| ApiError::sdk("ec2:DescribeVpcs", e))?;
                    out.extend(vpcs.iter().map(|v| Found {
                        id: v.vpc_id().unwrap_or_default().into(),
                        name: name_tag(v.tags()),
                        ..Found::default()
                    }));
                }
                Kind::Subnet => {
                    let subnets = self
                        .describe_subnets()
                        .set_filters(Some(with_name("tag:Name")))
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| ApiError::sdk("ec2:DescribeSubnets", e))?;
                    out.extend(subnets.iter().map(|s| Found {
                        id: s.subnet_id().unwrap_or_default().into(),
                        name: name_tag(s.tags()),
                        vpc_id: s.vpc_id().map(str::to_string),
                        availability_zone: s.availability_zone().map(str::to_string),
                        ..Found::default()
                    }));
                }
                Kind::SecurityGroup => {
                    // By group name, and by Name tag.
                    let keys: &[&str] = if pattern.is_some() {
                        &["group-name", "tag:Name"]
                    } else {
                        &["group-name"]
                    };
                    for key in keys {
                        let groups = self
                            .describe_security_groups()
                            .set_filters(Some(with_name(key)))
                            .into_paginator()
                            .items()
                            .send()
                            .try_collect()
                            .await
                            .map_err(|e| ApiError::sdk("ec2:DescribeSecurityGroups", e))?;
                        for g in &groups {
                            let id = g.group_id().unwrap_or_default();
                            if out.iter().any(|f| f.id == id) {
                                continue;
                            }
                            out.push(Found {
                                id: id.into(),
                                name: name_tag(g.tags()),
                                group_name: g.group_name().map(str::to_string),
                                vpc_id: g.vpc_id().map(str::to_string),
                                ..Found::default()
                            });
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    fn instances_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Instance>>> {
        Box::pin(async move {
            let reservations = self
                .describe_instances()
                .filters(filter("tag:Name", &[name]))
                .filters(filter(
                    "instance-state-name",
                    &["pending", "running", "stopping", "stopped"],
                ))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| ApiError::sdk("ec2:DescribeInstances", e))?;
            Ok(reservations
                .iter()
                .flat_map(|r| r.instances())
                .map(instance_of)
                .collect())
        })
    }

    fn instance<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Instance>>> {
        Box::pin(async move {
            let out = self
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| ApiError::sdk("ec2:DescribeInstances", e));
            match out {
                Ok(o) => Ok(o
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .next()
                    .map(instance_of)),
                Err(e)
                    if e.code
                        .as_deref()
                        .is_some_and(|c| c.starts_with("InvalidInstanceID")) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
    }

    fn root_device<'a>(&'a self, ami: &'a str) -> BoxFuture<'a, ApiResult<Option<String>>> {
        Box::pin(async move {
            match self.describe_images().image_ids(ami).send().await {
                Ok(o) => Ok(o
                    .images()
                    .first()
                    .and_then(|i| i.root_device_name().map(str::to_string))),
                Err(e) => {
                    let e = ApiError::sdk("ec2:DescribeImages", e);
                    if e.code
                        .as_deref()
                        .is_some_and(|c| c.starts_with("InvalidAMIID"))
                    {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    fn run_instance<'a>(&'a self, l: &'a Launch) -> BoxFuture<'a, ApiResult<Instance>> {
        use aws_sdk_ec2::types::{
            BlockDeviceMapping, EbsBlockDevice, IamInstanceProfileSpecification, InstanceType,
            ResourceType, Tag, TagSpecification, VolumeType,
        };
        Box::pin(async move {
            let tags: Vec<Tag> = l
                .tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let spec = |r: ResourceType| {
                TagSpecification::builder()
                    .resource_type(r)
                    .set_tags(Some(tags.clone()))
                    .build()
            };
            let mut req = self
                .run_instances()
                .image_id(&l.ami)
                .instance_type(InstanceType::from(l.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .subnet_id(&l.subnet_id)
                .set_security_group_ids(Some(l.security_group_ids.clone()))
                .block_device_mappings(
                    BlockDeviceMapping::builder()
                        .device_name(&l.root_device)
                        .ebs(
                            EbsBlockDevice::builder()
                                .set_volume_size(l.volume_size)
                                .volume_type(VolumeType::from(l.volume_type.as_str()))
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .tag_specifications(spec(ResourceType::Instance))
                .tag_specifications(spec(ResourceType::Volume))
                .set_user_data(l.user_data.clone());
            if let Some(p) = &l.instance_profile {
                let b = IamInstanceProfileSpecification::builder();
                req = req.iam_instance_profile(if p.starts_with("arn:") {
                    b.arn(p).build()
                } else {
                    b.name(p).build()
                });
            }
            let out = req
                .send()
                .await
                .map_err(|e| ApiError::sdk("ec2:RunInstances", e))?;
            out.instances().first().map(instance_of).ok_or_else(|| {
                ApiError::new("ec2:RunInstances", "NoInstance", "AWS returned no instance")
            })
        })
    }

    fn change_state<'a>(&'a self, id: &'a str, to: Wanted) -> BoxFuture<'a, ApiResult<String>> {
        Box::pin(async move {
            let state = |c: Option<&aws_sdk_ec2::types::InstanceState>| {
                c.and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default()
            };
            Ok(match to {
                Wanted::Stopped => {
                    let o = self
                        .stop_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(|e| ApiError::sdk("ec2:StopInstances", e))?;
                    state(
                        o.stopping_instances()
                            .first()
                            .and_then(|c| c.current_state()),
                    )
                }
                Wanted::Running => {
                    let o = self
                        .start_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(|e| ApiError::sdk("ec2:StartInstances", e))?;
                    state(
                        o.starting_instances()
                            .first()
                            .and_then(|c| c.current_state()),
                    )
                }
                Wanted::Terminated => {
                    let o = self
                        .terminate_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(|e| ApiError::sdk("ec2:TerminateInstances", e))?;
                    state(
                        o.terminating_instances()
                            .first()
                            .and_then(|c| c.current_state()),
                    )
                }
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(FindVpc),
        Box::new(FindSubnet),
        Box::new(FindSecurityGroup),
        Box::new(LaunchInstance),
        Box::new(WaitInstance),
        Box::new(ChangeState::<0>),
        Box::new(ChangeState::<1>),
        Box::new(ChangeState::<2>),
    ]
}

// --- finding by name

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    name: String,
}
impl Params for NameParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameInVpcParams {
    name: String,
    #[serde(default)]
    vpc_id: Option<String>,
}
impl Params for NameInVpcParams {}

/// Exactly one match, or an error that lists what there is.
async fn find_one(
    aws: &Aws,
    action: &str,
    kind: Kind,
    name: &str,
    vpc: Option<&str>,
) -> Result<Found, AwsError> {
    let found = aws
        .ec2()
        .find(kind, Some(name), vpc)
        .await
        .or_fail(aws, action)?;
    let within = vpc.map(|v| format!(" in {v}")).unwrap_or_default();
    let by = if kind == Kind::SecurityGroup {
        "a group name or Name tag"
    } else {
        "a Name tag"
    };
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        0 => {
            let all = aws.ec2().find(kind, None, vpc).await.or_fail(aws, action)?;
            let listed = if all.is_empty() {
                "there are none".to_string()
            } else {
                let mut shown: Vec<String> = all.iter().take(20).map(Found::shown).collect();
                if all.len() > 20 {
                    shown.push(format!("and {} more", all.len() - 20));
                }
                format!("there are: {}", shown.join("; "))
            };
            Err(AwsError::new(
                action,
                "NotFound",
                format!(
                    "no {} with {by} matching `{name}`{within} in {}; {listed}",
                    kind.noun(),
                    aws.region()
                ),
            )
            .hint("check `name` (`*` matches any characters), the account and the region"))
        }
        n => Err(AwsError::new(
            action,
            "AmbiguousMatch",
            format!(
                "{n} {}s match `{name}`{within}: {}",
                kind.noun(),
                found
                    .iter()
                    .map(Found::shown)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .hint(if vpc.is_none() && kind != Kind::Vpc {
            "make `name` match only one, or give `vpc_id`"
        } else {
            "make `name` match only one"
        })),
    }
}

pub struct FindVpc;

impl Typed for FindVpc {
    const NAME: &'static str = "ec2.find_vpc";
    const SUMMARY: &'static str = "find the one VPC whose Name tag matches (`*` wildcards)";
    const OUTPUTS: &'static [&'static str] = &["vpc_id", "name"];
    const READ_ONLY: bool = true;
    type P = NameParams;

    fn request(&self, p: &NameParams) -> Value {
        json!({ "service": "ec2", "operation": "DescribeVpcs",
                "Filters": [{ "Name": "tag:Name", "Values": [p.name] }] })
    }
    async fn plan(&self, aws: &Aws, p: &NameParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }
    async fn apply(&self, aws: &Aws, p: &NameParams) -> Result<Outcome, AwsError> {
        let f = find_one(aws, Self::NAME, Kind::Vpc, &p.name, None).await?;
        Ok(Outcome::unchanged(
            format!("found VPC {}", f.shown()),
            json!({ "vpc_id": f.id, "name": f.name.unwrap_or_default() }),
        ))
    }
}

pub struct FindSubnet;

impl Typed for FindSubnet {
    const NAME: &'static str = "ec2.find_subnet";
    const SUMMARY: &'static str =
        "find the one subnet whose Name tag matches (`*` wildcards), optionally in a VPC";
    const OUTPUTS: &'static [&'static str] = &["subnet_id", "vpc_id", "availability_zone", "name"];
    const READ_ONLY: bool = true;
    type P = NameInVpcParams;

    fn request(&self, p: &NameInVpcParams) -> Value {
        let mut filters = vec![json!({ "Name": "tag:Name", "Values": [p.name] })];
        if let Some(v) = &p.vpc_id {
            filters.push(json!({ "Name": "vpc-id", "Values": [v] }));
        }
        json!({ "service": "ec2", "operation": "DescribeSubnets", "Filters": filters })
    }
    async fn plan(&self, aws: &Aws, p: &NameInVpcParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }
    async fn apply(&self, aws: &Aws, p: &NameInVpcParams) -> Result<Outcome, AwsError> {
        let f = find_one(aws, Self::NAME, Kind::Subnet, &p.name, p.vpc_id.as_deref()).await?;
        Ok(Outcome::unchanged(
            format!("found subnet {}", f.shown()),
            json!({ "subnet_id": f.id, "vpc_id": f.vpc_id.unwrap_or_default(),
                    "availability_zone": f.availability_zone.unwrap_or_default(),
                    "name": f.name.unwrap_or_default() }),
        ))
    }
}

pub struct FindSecurityGroup;

impl Typed for FindSecurityGroup {
    const NAME: &'static str = "ec2.find_security_group";
    const SUMMARY: &'static str = "find the one security group whose group name or Name tag matches (`*` wildcards), optionally in a VPC";
    const OUTPUTS: &'static [&'static str] = &["group_id", "group_name", "vpc_id"];
    const READ_ONLY: bool = true;
    type P = NameInVpcParams;

    fn request(&self, p: &NameInVpcParams) -> Value {
        let vpc: Vec<Value> = p
            .vpc_id
            .iter()
            .map(|v| json!({ "Name": "vpc-id", "Values": [v] }))
            .collect();
        let with = |key: &str| {
            let mut f = vpc.clone();
            f.push(json!({ "Name": key, "Values": [p.name] }));
            json!({ "operation": "DescribeSecurityGroups", "Filters": f })
        };
        json!({ "service": "ec2", "requests": [with("group-name"), with("tag:Name")] })
    }
    async fn plan(&self, aws: &Aws, p: &NameInVpcParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }
    async fn apply(&self, aws: &Aws, p: &NameInVpcParams) -> Result<Outcome, AwsError> {
        let f = find_one(
            aws,
            Self::NAME,
            Kind::SecurityGroup,
            &p.name,
            p.vpc_id.as_deref(),
        )
        .await?;
        Ok(Outcome::unchanged(
            format!("found security group {}", f.shown()),
            json!({ "group_id": f.id, "group_name": f.group_name.unwrap_or_default(),
                    "vpc_id": f.vpc_id.unwrap_or_default() }),
        ))
    }
}

// --- ec2.launch_instance

fn gp3() -> String {
    "gp3".into()
}

pub struct LaunchInstance;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchParams {
    name: String,
    ami: String,
    instance_type: String,
    subnet_id: String,
    #[serde(default, deserialize_with = "flex::list")]
    security_group_ids: Vec<String>,
    #[serde(default)]
    instance_profile: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_u64")]
    volume_size: Option<u64>,
    #[serde(default = "gp3")]
    volume_type: String,
    #[serde(default, deserialize_with = "flex::tags")]
    tags: IndexMap<String, String>,
    #[serde(default)]
    user_data: Option<String>,
}

impl Params for LaunchParams {
    fn check(&self) -> Result<(), String> {
        if let Some(s) = self.volume_size
            && !(1..=65_536).contains(&s)
            && s != 0
        {
            return Err(format!(
                "volume_size is {s} GiB: EBS volumes are 1 to 65536 GiB"
            ));
        }
        const TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];
        if !TYPES.contains(&self.volume_type.as_str()) && !self.volume_type.contains("{{") {
            return Err(format!(
                "volume_type `{}` is not an EBS volume type\nhint: expected one of {}",
                self.volume_type,
                TYPES.join(", ")
            ));
        }
        if self.tags.contains_key("Name") {
            return Err("tags: `Name` comes from `name`; leave it out of `tags`".into());
        }
        Ok(())
    }
}

impl LaunchParams {
    fn all_tags(&self) -> IndexMap<String, String> {
        let mut tags = IndexMap::new();
        tags.insert("Name".to_string(), self.name.clone());
        tags.extend(self.tags.clone());
        tags
    }

    fn shown(&self) -> String {
        let mut s = format!(
            "launch a {} named {} from {} in {}",
            self.instance_type, self.name, self.ami, self.subnet_id
        );
        if let Some(size) = self.volume_size {
            s.push_str(&format!(
                " with a {size} GiB {} root volume",
                self.volume_type
            ));
        }
        if let Some(p) = &self.instance_profile {
            s.push_str(&format!(", instance profile {p}"));
        }
        s
    }
}

/// `None` when no instance of that name exists; an error when several do.
async fn existing(aws: &Aws, action: &str, name: &str) -> Result<Option<Instance>, AwsError> {
    let found = aws.ec2().instances_named(name).await.or_fail(aws, action)?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        n => Err(AwsError::new(
            action,
            "AmbiguousMatch",
            format!(
                "{n} instances are named {name}: {}",
                found
                    .iter()
                    .map(|i| format!("{} ({})", i.id, i.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hint("terminate the extra ones, or give this instance another name")),
    }
}

fn instance_result(i: &Instance) -> Value {
    json!({ "instance_id": i.id, "private_ip": i.private_ip.clone().unwrap_or_default(),
            "state": i.state })
}

impl Typed for LaunchInstance {
    const NAME: &'static str = "ec2.launch_instance";
    const SUMMARY: &'static str = "launch an instance (no key pair), unless one with the same Name tag exists and is not terminated";
    const OUTPUTS: &'static [&'static str] = &["instance_id", "private_ip", "state"];
    const READ_ONLY: bool = false;
    type P = LaunchParams;

    fn request(&self, p: &LaunchParams) -> Value {
        let tags: Vec<Value> = p
            .all_tags()
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let mut ebs = json!({ "VolumeType": p.volume_type, "DeleteOnTermination": true });
        if let Some(s) = p.volume_size {
            ebs["VolumeSize"] = json!(s);
        }
        let mut req = json!({
            "service": "ec2", "operation": "RunInstances",
            "ImageId": p.ami, "InstanceType": p.instance_type, "MinCount": 1, "MaxCount": 1,
            "SubnetId": p.subnet_id, "SecurityGroupIds": p.security_group_ids,
            "BlockDeviceMappings": [{ "DeviceName": "(the image's root device)", "Ebs": ebs }],
            "TagSpecifications": [
                { "ResourceType": "instance", "Tags": tags },
                { "ResourceType": "volume", "Tags": tags },
            ],
        });
        if let Some(ip) = &p.instance_profile {
            req["IamInstanceProfile"] = if ip.starts_with("arn:") {
                json!({ "Arn": ip })
            } else {
                json!({ "Name": ip })
            };
        }
        if let Some(u) = &p.user_data {
            req["UserData"] = json!(format!("(base64 of {} bytes)", u.len()));
        }
        req
    }

    async fn plan(&self, aws: &Aws, p: &LaunchParams) -> Result<Planned, AwsError> {
        Ok(match existing(aws, Self::NAME, &p.name).await? {
            Some(i) => Planned::as_wanted(format_args!(
                "instance {} named {} exists ({}); no launch",
                i.id, p.name, i.state
            )),
            None => Planned::would(p.shown()),
        })
    }

    async fn apply(&self, aws: &Aws, p: &LaunchParams) -> Result<Outcome, AwsError> {
        if let Some(i) = existing(aws, Self::NAME, &p.name).await? {
            return Ok(Outcome::unchanged(
                format!(
                    "instance {} named {} already exists and is {}: not launching another",
                    i.id, p.name, i.state
                ),
                instance_result(&i),
            ));
        }
        let root_device = aws
            .ec2()
            .root_device(&p.ami)
            .await
            .or_fail(aws, Self::NAME)?
            .unwrap_or_else(|| "/dev/xvda".into());
        let launch = Launch {
            ami: p.ami.clone(),
            instance_type: p.instance_type.clone(),
            subnet_id: p.subnet_id.clone(),
            security_group_ids: p.security_group_ids.clone(),
            instance_profile: p.instance_profile.clone(),
            root_device,
            volume_size: p.volume_size.map(|s| s as i32),
            volume_type: p.volume_type.clone(),
            tags: p.all_tags(),
            user_data: p.user_data.as_deref().map(|u| base64(u.as_bytes())),
        };
        let i = aws
            .ec2()
            .run_instance(&launch)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!(
                "launched {} ({} named {}, {}{})",
                i.id,
                p.instance_type,
                p.name,
                i.state,
                i.private_ip
                    .as_deref()
                    .map(|ip| format!(", private IP {ip}"))
                    .unwrap_or_default()
            ),
            instance_result(&i),
        ))
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// --- ec2.wait_instance

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

pub struct WaitInstance;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    instance_id: String,
    state: Wanted,
    #[serde(default = "ten_minutes", deserialize_with = "flex::duration")]
    timeout: Duration,
}
impl Params for WaitParams {}

async fn current(aws: &Aws, action: &str, id: &str) -> Result<Instance, AwsError> {
    aws.ec2()
        .instance(id)
        .await
        .or_fail(aws, action)?
        .ok_or_else(|| {
            AwsError::new(
                action,
                "InvalidInstanceID.NotFound",
                format!("there is no instance {id} in {}", aws.region()),
            )
            .hint("check `instance_id`, the account and the region")
        })
}

impl Typed for WaitInstance {
    const NAME: &'static str = "ec2.wait_instance";
    const SUMMARY: &'static str =
        "wait until an instance is running, stopped or terminated (polls; fails after `timeout`)";
    const OUTPUTS: &'static [&'static str] = &["state", "private_ip"];
    const READ_ONLY: bool = true;
    type P = WaitParams;

    fn request(&self, p: &WaitParams) -> Value {
        json!({ "service": "ec2", "operation": "DescribeInstances", "InstanceIds": [p.instance_id],
                "until": { "state": p.state.as_str(),
                           "timeout": humantime::format_duration(p.timeout).to_string() } })
    }

    async fn plan(&self, aws: &Aws, p: &WaitParams) -> Result<Planned, AwsError> {
        let i = current(aws, Self::NAME, &p.instance_id).await?;
        Ok(Planned::read(if i.state == p.state.as_str() {
            format!("instance {} is {} now", i.id, i.state)
        } else {
            format!(
                "instance {} is {} now; would wait until it is {}",
                i.id, i.state, p.state
            )
        }))
    }

    async fn apply(&self, aws: &Aws, p: &WaitParams) -> Result<Outcome, AwsError> {
        let waited = poll(aws, p.timeout, || async move {
            let i = current(aws, Self::NAME, &p.instance_id).await?;
            if i.state == p.state.as_str() {
                return Ok(Ok(i));
            }
            if p.state.unreachable_from(&i.state) {
                return Err(AwsError::new(
                    Self::NAME,
                    "UnexpectedState",
                    format!(
                        "instance {} is {}: it will not become {} by waiting",
                        i.id, i.state, p.state
                    ),
                ));
            }
            Ok(Err(i.state))
        })
        .await?;
        match waited {
            Ok(i) => Ok(Outcome::unchanged(
                format!("instance {} is {}", i.id, i.state),
                json!({ "state": i.state, "private_ip": i.private_ip.unwrap_or_default() }),
            )),
            Err(now) => Err(AwsError::new(
                Self::NAME,
                "Timeout",
                format!(
                    "instance {} is still {now} after waiting {} for it to be {}",
                    p.instance_id,
                    humantime::format_duration(p.timeout),
                    p.state
                ),
            )
            .hint("look at the instance in the console (state reason, status checks, system log); the step can be retried, or given a longer `timeout`")),
        }
    }
}

// --- ec2.stop_instance, ec2.start_instance, ec2.terminate_instance

/// Stop (0), start (1) or terminate (2) an instance.
pub struct ChangeState<const W: u8>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParams {
    instance_id: String,
}
impl Params for InstanceParams {}

impl<const W: u8> ChangeState<W> {
    const WANTED: Wanted = match W {
        0 => Wanted::Stopped,
        1 => Wanted::Running,
        _ => Wanted::Terminated,
    };
    /// A terminated instance cannot be stopped or started.
    fn gone(i: &Instance) -> Option<AwsError> {
        (W != 2 && matches!(i.state.as_str(), "terminated" | "shutting-down")).then(|| {
            AwsError::new(
                Self::NAME,
                "IncorrectInstanceState",
                format!(
                    "instance {} is {}: it cannot be {}",
                    i.id,
                    i.state,
                    if W == 0 { "stopped" } else { "started" }
                ),
            )
            .hint("launch a new instance (`ec2.launch_instance`)")
        })
    }

    const VERB: &'static str = match W {
        0 => "stop",
        1 => "start",
        _ => "terminate",
    };
}

impl<const W: u8> Typed for ChangeState<W> {
    const NAME: &'static str = match W {
        0 => "ec2.stop_instance",
        1 => "ec2.start_instance",
        _ => "ec2.terminate_instance",
    };
    const SUMMARY: &'static str = match W {
        0 => "stop an instance, unless it is stopped or stopping",
        1 => "start an instance, unless it is running or pending",
        _ => "terminate an instance, unless it is terminated or shutting down",
    };
    const OUTPUTS: &'static [&'static str] = &["state"];
    const READ_ONLY: bool = false;
    type P = InstanceParams;

    fn request(&self, p: &InstanceParams) -> Value {
        let op = match W {
            0 => "StopInstances",
            1 => "StartInstances",
            _ => "TerminateInstances",
        };
        json!({ "service": "ec2", "operation": op, "InstanceIds": [p.instance_id] })
    }

    async fn plan(&self, aws: &Aws, p: &InstanceParams) -> Result<Planned, AwsError> {
        let i = current(aws, Self::NAME, &p.instance_id).await?;
        Ok(if Self::WANTED.reached_or_going(&i.state) {
            Planned::as_wanted(format_args!("instance {} is {}", i.id, i.state))
        } else if let Some(e) = Self::gone(&i) {
            Planned::refuse(e.message)
        } else {
            Planned::would(format_args!(
                "{} instance {} (now {})",
                Self::VERB,
                i.id,
                i.state
            ))
        })
    }

    async fn apply(&self, aws: &Aws, p: &InstanceParams) -> Result<Outcome, AwsError> {
        let i = current(aws, Self::NAME, &p.instance_id).await?;
        if Self::WANTED.reached_or_going(&i.state) {
            return Ok(Outcome::unchanged(
                format!("instance {} is already {}", i.id, i.state),
                json!({ "state": i.state }),
            ));
        }
        if let Some(e) = Self::gone(&i) {
            return Err(e);
        }
        let state = aws
            .ec2()
            .change_state(&i.id, Self::WANTED)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!(
                "asked instance {} to {} (was {}, now {state})",
                i.id,
                Self::VERB,
                i.state
            ),
            json!({ "state": state }),
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"#!/bin/bash\n"), "IyEvYmluL2Jhc2gK");
    }
}
