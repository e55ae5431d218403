//! Instances: launching one, waiting for it, stopping, starting and terminating it.

use super::*;

// --- ec2.launch_instance

pub(super) fn gp3() -> String {
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

pub(super) fn instance_result(i: &Instance) -> Value {
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

pub(super) fn ten_minutes() -> Duration {
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
