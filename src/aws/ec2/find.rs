//! Finding a VPC, a subnet or a security group by its name.

use super::*;

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
