//! The Route53 SDK client behind `Route53Api`.

use super::*;

pub(super) fn bare_zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

fn record_of(r: &aws_sdk_route53::types::ResourceRecordSet) -> Record {
    Record {
        name: fqdn(r.name()),
        kind: r.r#type().as_str().to_string(),
        ttl: r.ttl(),
        values: r
            .resource_records()
            .iter()
            .map(|v| v.value().to_string())
            .collect(),
        alias: r.alias_target().map(|a| Alias {
            zone_id: a.hosted_zone_id().to_string(),
            dns_name: a.dns_name().to_string(),
            evaluate_health: a.evaluate_target_health(),
        }),
    }
}

fn build_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        "route53:ChangeResourceRecordSets",
        "InvalidChangeBatch",
        e.to_string(),
    )
}

impl Route53Api for aws_sdk_route53::Client {
    fn zones_named<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ApiResult<Vec<Zone>>> {
        Box::pin(async move {
            let wanted = fqdn(name);
            let mut out = Vec::new();
            let mut start: Option<(String, Option<String>)> = Some((wanted.clone(), None));
            // Zones are listed in name order from `wanted`: stop at the first other name.
            while let Some((dns, zid)) = start.take() {
                let o = self
                    .list_hosted_zones_by_name()
                    .dns_name(dns)
                    .set_hosted_zone_id(zid)
                    .send()
                    .await
                    .map_err(|e| ApiError::sdk("route53:ListHostedZonesByName", e))?;
                let mut other = false;
                for z in o.hosted_zones() {
                    if fqdn(z.name()) == wanted {
                        out.push(Zone {
                            id: bare_zone_id(z.id()),
                            name: fqdn(z.name()),
                            private: z.config().is_some_and(|c| c.private_zone()),
                        });
                    } else {
                        other = true;
                    }
                }
                if o.is_truncated() && !other {
                    start = o
                        .next_dns_name()
                        .map(|n| (n.to_string(), o.next_hosted_zone_id().map(str::to_string)));
                }
            }
            Ok(out)
        })
    }

    fn zone<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<Option<Zone>>> {
        Box::pin(async move {
            match self.get_hosted_zone().id(id).send().await {
                Ok(o) => Ok(o.hosted_zone().map(|z| Zone {
                    id: bare_zone_id(z.id()),
                    name: fqdn(z.name()),
                    private: z.config().is_some_and(|c| c.private_zone()),
                })),
                Err(e) => {
                    let e = ApiError::sdk("route53:GetHostedZone", e);
                    if e.is("NoSuchHostedZone") {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    fn records_named<'a>(
        &'a self,
        zone_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ApiResult<Vec<Record>>> {
        Box::pin(async move {
            let wanted = fqdn(name);
            let o = self
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .start_record_name(&wanted)
                .max_items(100)
                .send()
                .await
                .map_err(|e| ApiError::sdk("route53:ListResourceRecordSets", e))?;
            Ok(o.resource_record_sets()
                .iter()
                .map(record_of)
                .filter(|r| r.name == wanted)
                .collect())
        })
    }

    fn change_records<'a>(
        &'a self,
        zone_id: &'a str,
        changes: &'a [(ChangeAction, Record)],
        comment: &'a str,
    ) -> BoxFuture<'a, ApiResult<ChangeInfo>> {
        use aws_sdk_route53::types::{
            AliasTarget, Change, ChangeAction as A, ChangeBatch, ResourceRecord, ResourceRecordSet,
            RrType,
        };
        Box::pin(async move {
            let mut batch = ChangeBatch::builder().comment(comment);
            for (action, r) in changes {
                let mut set = ResourceRecordSet::builder()
                    .name(&r.name)
                    .r#type(RrType::from(r.kind.as_str()))
                    .set_ttl(r.ttl);
                for v in &r.values {
                    set = set.resource_records(
                        ResourceRecord::builder()
                            .value(v)
                            .build()
                            .map_err(build_err)?,
                    );
                }
                if let Some(a) = &r.alias {
                    set = set.alias_target(
                        AliasTarget::builder()
                            .hosted_zone_id(&a.zone_id)
                            .dns_name(&a.dns_name)
                            .evaluate_target_health(a.evaluate_health)
                            .build()
                            .map_err(build_err)?,
                    );
                }
                let action = match action {
                    ChangeAction::Upsert => A::Upsert,
                    ChangeAction::Delete => A::Delete,
                };
                batch = batch.changes(
                    Change::builder()
                        .action(action)
                        .resource_record_set(set.build().map_err(build_err)?)
                        .build()
                        .map_err(build_err)?,
                );
            }
            let o = self
                .change_resource_record_sets()
                .hosted_zone_id(zone_id)
                .change_batch(batch.build().map_err(build_err)?)
                .send()
                .await
                .map_err(|e| ApiError::sdk("route53:ChangeResourceRecordSets", e))?;
            let info = o.change_info();
            Ok(ChangeInfo {
                id: info
                    .map(|c| c.id().trim_start_matches("/change/").to_string())
                    .unwrap_or_default(),
                status: info
                    .map(|c| c.status().as_str().to_string())
                    .unwrap_or_default(),
            })
        })
    }

    fn get_change<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ApiResult<ChangeInfo>> {
        Box::pin(async move {
            let o = self
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| ApiError::sdk("route53:GetChange", e))?;
            Ok(ChangeInfo {
                id: id.to_string(),
                status: o
                    .change_info()
                    .map(|c| c.status().as_str().to_string())
                    .unwrap_or_default(),
            })
        })
    }
}
