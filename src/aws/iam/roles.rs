//! Roles, their policies and instance profiles.

use super::*;

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
pub(super) fn role_diff(role: &Role, p: &CreateRoleParams) -> Vec<String> {
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

pub(super) fn max_secs(p: &CreateRoleParams) -> Option<i32> {
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
