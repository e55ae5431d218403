//! The EC2 service boundary: what the actions need of EC2, and the SDK client behind it.

use super::*;

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
    pub(super) fn shown(&self) -> String {
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
    pub(super) fn noun(self) -> &'static str {
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
    pub(super) fn reached_or_going(self, state: &str) -> bool {
        match self {
            Wanted::Running => matches!(state, "pending" | "running"),
            Wanted::Stopped => matches!(state, "stopping" | "stopped"),
            Wanted::Terminated => matches!(state, "shutting-down" | "terminated"),
        }
    }
    /// States from which this one cannot come by waiting.
    pub(super) fn unreachable_from(self, state: &str) -> bool {
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

pub(super) fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value().map(str::to_string))
}

pub(super) fn filter(name: &str, values: &[&str]) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

pub(super) fn instance_of(i: &aws_sdk_ec2::types::Instance) -> Instance {
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
