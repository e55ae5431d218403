//! Route53: finding a hosted zone, reading a record, and pointing a CNAME somewhere.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::flex;
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, OrFail, Outcome, Params, Planned, Typed,
    poll,
};

// ---------------------------------------------------------------------------------------------
// The service boundary

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// With the trailing dot.
    pub name: String,
    pub private: bool,
}

/// An alias record's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub zone_id: String,
    pub dns_name: String,
    pub evaluate_health: bool,
}

/// A record set (simple routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// With the trailing dot.
    pub name: String,
    pub kind: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub alias: Option<Alias>,
}

impl Record {
    fn shown(&self) -> String {
        match &self.alias {
            Some(a) => format!("{} alias to {}", self.kind, a.dns_name),
            None => format!(
                "{} {}{}",
                self.kind,
                self.values.join(", "),
                self.ttl.map(|t| format!(" (TTL {t})")).unwrap_or_default()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    Upsert,
    Delete,
}

/// A change submitted, and where it stands (`PENDING`, `INSYNC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    pub id: String,
    pub status: String,
}

/// The Route53 calls stepwise makes.
pub trait Route53Api: Send + Sync {
    /// Zones of exactly this name (public and private).
    fn zones_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Zone>>>;
    /// A zone by id; `None` when there is none.
    fn zone<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Zone>>>;
    /// The record sets of exactly this name, of every type.
    fn records_named<'a>(
        &'a self,
        zone_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Vec<Record>>>;
    fn change_records<'a>(
        &'a self,
        zone_id: &'a str,
        changes: &'a [(ChangeAction, Record)],
        comment: &'a str,
    ) -> BoxFuture<'a, ApiResult<ChangeInfo>>;
    fn get_change<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<ChangeInfo>>;
}

/// A DNS name as Route53 keeps it: lower case, with the trailing dot, `\052` read as `*`.
pub fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_lowercase().replace("\\052", "*");
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

mod sdk;
use sdk::bare_zone_id;

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(FindZone),
        Box::new(GetRecord),
        Box::new(UpsertCname),
    ]
}

/// The one zone of a name, or an error listing the candidates.
async fn zone_named(
    aws: &Aws,
    action: &str,
    name: &str,
    private: Option<bool>,
) -> Result<Zone, AwsError> {
    let zones: Vec<Zone> = aws
        .route53()
        .zones_named(name)
        .await
        .or_fail(aws, action)?
        .into_iter()
        .filter(|z| private.is_none_or(|p| p == z.private))
        .collect();
    let kind = |z: &Zone| if z.private { "private" } else { "public" };
    match zones.len() {
        1 => Ok(zones.into_iter().next().expect("one zone")),
        0 => Err(AwsError::new(
            action,
            "NoSuchHostedZone",
            format!("there is no hosted zone {}", fqdn(name)),
        )
        .hint("check the zone's name and the account (Route53 zones are often in a network account: check the profile)")),
        _ => Err(AwsError::new(
            action,
            "AmbiguousMatch",
            format!(
                "{} hosted zones are named {}: {}",
                zones.len(),
                fqdn(name),
                zones
                    .iter()
                    .map(|z| format!("{} ({})", z.id, kind(z)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hint("give `zone_id` instead, or (for route53.find_zone) `private: true` or `false`")),
    }
}

/// The zone a step names, by id or by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
    name: String,
    #[serde(rename = "type", default = "cname")]
    kind: String,
}

fn cname() -> String {
    "CNAME".into()
}

fn one_zone(zone_id: &Option<String>, zone_name: &Option<String>) -> Result<(), String> {
    match (zone_id, zone_name) {
        (Some(_), Some(_)) => Err("give `zone_id` or `zone_name`, not both".into()),
        (None, None) => Err("missing parameter: `zone_id` or `zone_name`".into()),
        _ => Ok(()),
    }
}

impl Params for RecordParams {
    fn check(&self) -> Result<(), String> {
        one_zone(&self.zone_id, &self.zone_name)
    }
}

async fn resolve_zone(
    aws: &Aws,
    action: &str,
    zone_id: &Option<String>,
    zone_name: &Option<String>,
) -> Result<Zone, AwsError> {
    match (zone_id, zone_name) {
        (Some(id), _) => {
            let id = bare_zone_id(id);
            aws.route53()
                .zone(&id)
                .await
                .or_fail(aws, action)?
                .ok_or_else(|| {
                    AwsError::new(
                        action,
                        "NoSuchHostedZone",
                        format!("there is no hosted zone {id}"),
                    )
                    .hint("check `zone_id` and the account")
                })
        }
        (None, Some(name)) => zone_named(aws, action, name, None).await,
        (None, None) => Err(AwsError::new(
            action,
            "InvalidParameters",
            "missing parameter: `zone_id` or `zone_name`",
        )),
    }
}

/// The record's name, which must be inside the zone.
fn in_zone(action: &str, name: &str, zone: &Zone) -> Result<String, AwsError> {
    let n = fqdn(name);
    if n == zone.name || n.ends_with(&format!(".{}", zone.name)) {
        Ok(n)
    } else {
        Err(AwsError::new(
            action,
            "InvalidParameters",
            format!("{n} is not inside the zone {}", zone.name),
        )
        .hint(format!(
            "write the full name, e.g. `hub.{}`",
            zone.name.trim_end_matches('.')
        )))
    }
}

// --- route53.find_zone

pub struct FindZone;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindZoneParams {
    name: String,
    #[serde(default, deserialize_with = "opt_bool")]
    private: Option<bool>,
}

fn opt_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    flex::bool(d).map(Some)
}

impl Params for FindZoneParams {}

impl Typed for FindZone {
    const NAME: &'static str = "route53.find_zone";
    const SUMMARY: &'static str = "find the hosted zone of a name";
    const OUTPUTS: &'static [&'static str] = &["zone_id", "name", "private"];
    const READ_ONLY: bool = true;
    type P = FindZoneParams;

    fn request(&self, p: &FindZoneParams) -> Value {
        json!({ "service": "route53", "operation": "ListHostedZonesByName", "DNSName": fqdn(&p.name) })
    }
    async fn plan(&self, aws: &Aws, p: &FindZoneParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }
    async fn apply(&self, aws: &Aws, p: &FindZoneParams) -> Result<Outcome, AwsError> {
        let z = zone_named(aws, Self::NAME, &p.name, p.private).await?;
        Ok(Outcome::unchanged(
            format!(
                "found {} zone {} ({})",
                if z.private { "private" } else { "public" },
                z.name,
                z.id
            ),
            json!({ "zone_id": z.id, "name": z.name, "private": z.private }),
        ))
    }
}

// --- route53.get_record

pub struct GetRecord;

impl Typed for GetRecord {
    const NAME: &'static str = "route53.get_record";
    const SUMMARY: &'static str =
        "read a DNS record (its value and TTL; exists: false when there is none)";
    const OUTPUTS: &'static [&'static str] = &["exists", "value", "ttl", "type"];
    const READ_ONLY: bool = true;
    type P = RecordParams;

    fn request(&self, p: &RecordParams) -> Value {
        json!({ "service": "route53", "operation": "ListResourceRecordSets",
                "HostedZoneId": p.zone_id.clone().unwrap_or_else(|| format!("(the zone {})", p.zone_name.clone().unwrap_or_default())),
                "StartRecordName": fqdn(&p.name), "StartRecordType": p.kind.to_uppercase() })
    }
    async fn plan(&self, aws: &Aws, p: &RecordParams) -> Result<Planned, AwsError> {
        Ok(Planned::read(Typed::apply(self, aws, p).await?.summary))
    }
    async fn apply(&self, aws: &Aws, p: &RecordParams) -> Result<Outcome, AwsError> {
        let zone = resolve_zone(aws, Self::NAME, &p.zone_id, &p.zone_name).await?;
        let name = in_zone(Self::NAME, &p.name, &zone)?;
        let kind = p.kind.to_uppercase();
        let records = aws
            .route53()
            .records_named(&zone.id, &name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(match records.iter().find(|r| r.kind == kind) {
            Some(r) => Outcome::unchanged(
                format!("{name} is {}", r.shown()),
                json!({ "exists": true, "type": kind,
                        "value": r.alias.as_ref().map(|a| a.dns_name.clone()).unwrap_or_else(|| r.values.join(",")),
                        "ttl": r.ttl.map(|t| t.to_string()).unwrap_or_default() }),
            ),
            None => Outcome::unchanged(
                format!(
                    "{name} has no {kind} record{}",
                    if records.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (it has: {})",
                            records
                                .iter()
                                .map(Record::shown)
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    }
                ),
                json!({ "exists": false, "type": kind, "value": "", "ttl": "" }),
            ),
        })
    }
}

// --- route53.upsert_cname

pub struct UpsertCname;

fn ttl_300() -> u64 {
    300
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertParams {
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
    name: String,
    value: String,
    #[serde(default = "ttl_300", deserialize_with = "flex::u64")]
    ttl: u64,
    #[serde(default, deserialize_with = "flex::bool")]
    replace: bool,
    /// How long to wait for the change to be in effect (INSYNC).
    #[serde(default = "five_minutes", deserialize_with = "flex::duration")]
    timeout: Duration,
}

impl Params for UpsertParams {
    fn check(&self) -> Result<(), String> {
        one_zone(&self.zone_id, &self.zone_name)?;
        if self.ttl > 2_147_483_647 {
            return Err(format!("ttl {} is too large", self.ttl));
        }
        Ok(())
    }
}

/// What upserting would do, from the records there are now.
enum Step {
    AsWanted(Record),
    Create,
    Change { current: Record },
    Replace { others: Vec<Record> },
    Refuse(String),
}

impl UpsertCname {
    fn wanted(name: &str, p: &UpsertParams) -> Record {
        Record {
            name: name.to_string(),
            kind: "CNAME".into(),
            ttl: Some(p.ttl as i64),
            values: vec![p.value.trim().to_string()],
            alias: None,
        }
    }

    fn decide(records: &[Record], wanted: &Record, p: &UpsertParams) -> Step {
        let same = |v: &str| fqdn(v) == fqdn(&wanted.values[0]);
        let others: Vec<Record> = records
            .iter()
            .filter(|r| r.kind != "CNAME")
            .cloned()
            .collect();
        if let Some(c) = records.iter().find(|r| r.kind == "CNAME") {
            let points_here = c.alias.is_none() && c.values.len() == 1 && same(&c.values[0]);
            if points_here && c.ttl == wanted.ttl {
                return Step::AsWanted(c.clone());
            }
            if !points_here && !p.replace {
                return Step::Refuse(format!(
                    "{} is a CNAME to {}, not {}; give `replace: true` to point it elsewhere",
                    wanted.name,
                    c.alias
                        .as_ref()
                        .map(|a| a.dns_name.clone())
                        .unwrap_or_else(|| c.values.join(", ")),
                    wanted.values[0]
                ));
            }
            return Step::Change { current: c.clone() };
        }
        if others.is_empty() {
            return Step::Create;
        }
        if !p.replace {
            return Step::Refuse(format!(
                "{} has {}: a CNAME cannot sit beside other records; give `replace: true` to replace them",
                wanted.name,
                others
                    .iter()
                    .map(Record::shown)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        Step::Replace { others }
    }

    /// The zone, the record wanted, what to do, and the records of that name now.
    async fn look(
        aws: &Aws,
        p: &UpsertParams,
    ) -> Result<(Zone, Record, Step, Vec<Record>), AwsError> {
        let zone = resolve_zone(aws, Self::NAME, &p.zone_id, &p.zone_name).await?;
        let name = in_zone(Self::NAME, &p.name, &zone)?;
        if name == zone.name {
            return Err(AwsError::new(
                Self::NAME,
                "InvalidParameters",
                format!("{name} is the zone's apex, which cannot be a CNAME"),
            ));
        }
        let records = aws
            .route53()
            .records_named(&zone.id, &name)
            .await
            .or_fail(aws, Self::NAME)?;
        let wanted = Self::wanted(&name, p);
        let step = Self::decide(&records, &wanted, p);
        Ok((zone, wanted, step, records))
    }

    fn side_by_side(current: &str, wanted: &Record) -> String {
        format!("  current: {current}\n  wanted:  {}", wanted.shown())
    }
}

impl Typed for UpsertCname {
    const NAME: &'static str = "route53.upsert_cname";
    const SUMMARY: &'static str =
        "point a CNAME at a value (create or change it), then wait until the change is in effect";
    const OUTPUTS: &'static [&'static str] = &["change_id", "status"];
    const READ_ONLY: bool = false;
    const DANGER: Option<&'static str> = Some("changes DNS");
    type P = UpsertParams;

    fn request(&self, p: &UpsertParams) -> Value {
        let mut req = json!({
            "service": "route53", "operation": "ChangeResourceRecordSets",
            "HostedZoneId": p.zone_id.clone().unwrap_or_else(|| format!("(the zone {})", p.zone_name.clone().unwrap_or_default())),
            "ChangeBatch": { "Changes": [{ "Action": "UPSERT", "ResourceRecordSet": {
                "Name": fqdn(&p.name), "Type": "CNAME", "TTL": p.ttl,
                "ResourceRecords": [{ "Value": p.value }] } }] },
            "then": format!("GetChange until INSYNC (at most {})", humantime::format_duration(p.timeout)),
        });
        if p.replace {
            req["replace"] =
                json!("records of another type of that name are deleted in the same change");
        }
        req
    }

    async fn plan(&self, aws: &Aws, p: &UpsertParams) -> Result<Planned, AwsError> {
        let (_, wanted, step, records) = Self::look(aws, p).await?;
        let now = if records.is_empty() {
            "(no record)".to_string()
        } else {
            records
                .iter()
                .map(Record::shown)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let shown = wanted.shown();
        Ok(match step {
            Step::AsWanted(c) => {
                Planned::as_wanted(format_args!("{} is {}", wanted.name, c.shown()))
            }
            Step::Create => Planned::would(format_args!(
                "create {}:\n{}",
                wanted.name,
                Self::side_by_side("(no record)", &wanted)
            )),
            Step::Change { current } => Planned::would(format_args!(
                "change {}:\n{}",
                wanted.name,
                Self::side_by_side(&current.shown(), &wanted)
            )),
            Step::Replace { others } => Planned::would(format_args!(
                "replace the records of {}:\n{}",
                wanted.name,
                Self::side_by_side(
                    &others
                        .iter()
                        .map(Record::shown)
                        .collect::<Vec<_>>()
                        .join("; "),
                    &wanted
                )
            )),
            Step::Refuse(why) => Planned::refuse(why),
        }
        .values(now, shown))
    }

    async fn apply(&self, aws: &Aws, p: &UpsertParams) -> Result<Outcome, AwsError> {
        let (zone, wanted, step, _) = Self::look(aws, p).await?;
        let (changes, was) = match step {
            Step::AsWanted(c) => {
                return Ok(Outcome::unchanged(
                    format!("{} is already {}", wanted.name, c.shown()),
                    json!({ "change_id": "", "status": "INSYNC" }),
                ));
            }
            Step::Refuse(why) => {
                return Err(AwsError::new(Self::NAME, "RecordConflict", why)
                    .hint("check the name, or give `replace: true` if the record should change"));
            }
            Step::Create => (
                vec![(ChangeAction::Upsert, wanted.clone())],
                "(no record)".to_string(),
            ),
            Step::Change { current } => (
                vec![(ChangeAction::Upsert, wanted.clone())],
                current.shown(),
            ),
            Step::Replace { others } => {
                let was = others
                    .iter()
                    .map(Record::shown)
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut changes: Vec<(ChangeAction, Record)> = others
                    .into_iter()
                    .map(|r| (ChangeAction::Delete, r))
                    .collect();
                changes.push((ChangeAction::Upsert, wanted.clone()));
                (changes, was)
            }
        };
        let info = aws
            .route53()
            .change_records(&zone.id, &changes, "stepwise route53.upsert_cname")
            .await
            .or_fail(aws, Self::NAME)?;
        let waited = poll(aws, p.timeout, || async {
            if info.status == "INSYNC" {
                return Ok(Ok(info.clone()));
            }
            let now = aws
                .route53()
                .get_change(&info.id)
                .await
                .or_fail(aws, Self::NAME)?;
            if now.status == "INSYNC" {
                Ok(Ok(now))
            } else {
                Ok(Err(now.status))
            }
        })
        .await?;
        match waited {
            Ok(done) => Ok(Outcome::changed(
                format!(
                    "{}: {} -> {} (change {}, {})",
                    wanted.name,
                    was,
                    wanted.shown(),
                    done.id,
                    done.status
                ),
                json!({ "change_id": done.id, "status": done.status }),
            )),
            Err(status) => Err(AwsError::new(
                Self::NAME,
                "Timeout",
                format!(
                    "change {} to {} was submitted but is still {status} after waiting {}",
                    info.id,
                    wanted.name,
                    humantime::format_duration(p.timeout)
                ),
            )
            .hint(format!(
                "Route53 usually applies changes within a minute; look with `aws route53 get-change --id {}`. Retrying the step is safe: it is satisfied once the record is as wanted",
                info.id
            ))),
        }
    }
}
