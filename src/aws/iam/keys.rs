//! Access keys: creating one, checking their age, deactivating and deleting them.

use super::*;

// --- access keys

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    user_name: String,
}

impl Params for UserParams {}

/// "(active, created 2026-01-01, 57 days old)"
pub(super) fn key_facts(k: &AccessKey, now: Timestamp) -> String {
    format!(
        "({}, created {}, {} days old)",
        if k.active { "active" } else { "inactive" },
        k.created.strftime("%Y-%m-%d"),
        days_between(k.created, now)
    )
}

pub(super) fn describe_keys(keys: &[AccessKey], now: Timestamp) -> String {
    keys.iter()
        .map(|k| format!("{} {}", k.id, key_facts(k, now)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// AWS allows two access keys per user.
pub(super) const KEY_LIMIT: usize = 2;

/// `iam.create_access_key`: a new key. Not idempotent by nature: every run makes a new key
/// (AWS shows a secret only once), so it refuses when the user already has two.
pub struct CreateAccessKey;

impl CreateAccessKey {
    fn full(keys: &[AccessKey], user: &str, now: Timestamp) -> Option<AwsError> {
        (keys.len() >= KEY_LIMIT).then(|| {
            AwsError::new(
                Self::NAME,
                "LimitExceeded",
                format!(
                    "{user} already has {} access keys, the most AWS allows: {}",
                    keys.len(),
                    describe_keys(keys, now)
                ),
            )
            .hint("deactivate and delete the key no longer in use (`iam.deactivate_access_key`, `iam.delete_access_key`), then retry the step")
        })
    }
}

impl Typed for CreateAccessKey {
    const NAME: &'static str = "iam.create_access_key";
    const NOT_RECHECKED: Option<&'static str> =
        Some("it makes a new key each time; `iam.check_access_key_age` re-checks the keys");
    const SUMMARY: &'static str = "create a new access key for an IAM user (not idempotent: each run makes a new key; refused when the user has 2)";
    const OUTPUTS: &'static [&'static str] = &["access_key_id", "secret_access_key"];
    const READ_ONLY: bool = false;
    type P = UserParams;

    fn request(&self, p: &UserParams) -> Value {
        json!({ "service": "iam", "operation": "CreateAccessKey", "UserName": p.user_name })
    }

    async fn plan(&self, aws: &Aws, p: &UserParams) -> Result<Planned, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let now = aws.clock().now();
        Ok(match Self::full(&keys, &p.user_name, now) {
            Some(e) => Planned::refuse(e.message),
            None if keys.is_empty() => Planned::would(format_args!(
                "create an access key for {} (it has none)",
                p.user_name
            )),
            None => Planned::would(format_args!(
                "create a second access key for {} (it has {})",
                p.user_name,
                describe_keys(&keys, now)
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &UserParams) -> Result<Outcome, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        if let Some(e) = Self::full(&keys, &p.user_name, aws.clock().now()) {
            return Err(e);
        }
        let key = aws
            .iam()
            .create_access_key(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Outcome::changed(
            format!(
                "created access key {} for {} (the secret is in the secret output `secret_access_key`; AWS shows it only once)",
                key.id, p.user_name
            ),
            json!({ "access_key_id": key.id, "secret_access_key": key.secret }),
        )
        .with_secret(&["secret_access_key"]))
    }
}

// --- iam.check_access_key_age

choice!(
    /// Which status fails the step.
    FailOn { Expired = "expired", Warning = "warning" }
);

/// A duration in days when it is whole days (`60d`).
pub(super) fn days_text(d: std::time::Duration) -> String {
    if d.as_secs().is_multiple_of(86_400) {
        format!("{}d", d.as_secs() / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

pub(super) fn default_max_age() -> std::time::Duration {
    std::time::Duration::from_secs(60 * 86_400)
}
pub(super) fn default_warn_before() -> std::time::Duration {
    std::time::Duration::from_secs(15 * 86_400)
}
pub(super) fn default_fail_on() -> FailOn {
    FailOn::Expired
}

pub struct CheckAccessKeyAge;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAgeParams {
    user_name: String,
    #[serde(default = "default_max_age", deserialize_with = "flex::duration")]
    max_age: std::time::Duration,
    #[serde(default = "default_warn_before", deserialize_with = "flex::duration")]
    warn_before: std::time::Duration,
    #[serde(default = "default_fail_on")]
    fail_on: FailOn,
}

impl Params for KeyAgeParams {}

/// The age of a user's keys against a limit.
pub(super) struct KeyAges {
    result: Value,
    status: &'static str,
    summary: String,
}

pub(super) fn key_ages(
    user: &str,
    keys: &[AccessKey],
    now: Timestamp,
    p: &KeyAgeParams,
) -> KeyAges {
    let max_days = (p.max_age.as_secs() / 86_400) as i64;
    let warn_days = (p.warn_before.as_secs() / 86_400) as i64;
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "status": if k.active { "Active" } else { "Inactive" },
                "created": k.created.to_string(),
                "age_days": days_between(k.created, now),
            })
        })
        .collect();
    let oldest = keys.iter().filter(|k| k.active).min_by_key(|k| k.created);
    let Some(oldest) = oldest else {
        return KeyAges {
            result: json!({ "oldest_key_id": "", "oldest_age_days": 0, "days_left": max_days,
                            "status": "ok", "keys": list }),
            status: "ok",
            summary: format!("{user} has no active access key"),
        };
    };
    let age = days_between(oldest.created, now);
    let left = max_days - age;
    let status = if left <= 0 {
        "expired"
    } else if left <= warn_days {
        "warning"
    } else {
        "ok"
    };
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_string()
        } else {
            format!("{n} days")
        }
    };
    let summary = match status {
        "expired" if left == 0 => format!(
            "key {} of {user} is {} old: it reached the {max_days}-day limit; rotate it now",
            oldest.id,
            days(age)
        ),
        "expired" => format!(
            "key {} of {user} is {} old: {} past the {max_days}-day limit; rotate it now",
            oldest.id,
            days(age),
            days(-left)
        ),
        _ => format!(
            "key {} of {user} is {} old: {} left before the {max_days}-day limit{}",
            oldest.id,
            days(age),
            days(left),
            if status == "warning" {
                " (warning: rotate it soon)"
            } else {
                ""
            }
        ),
    };
    KeyAges {
        result: json!({ "oldest_key_id": oldest.id, "oldest_age_days": age, "days_left": left,
                        "status": status, "keys": list }),
        status,
        summary,
    }
}

impl Typed for CheckAccessKeyAge {
    const NAME: &'static str = "iam.check_access_key_age";
    const SUMMARY: &'static str =
        "check how old a user's access keys are against a rotation limit (read-only)";
    const OUTPUTS: &'static [&'static str] = &[
        "oldest_key_id",
        "oldest_age_days",
        "days_left",
        "status",
        "keys",
    ];
    const READ_ONLY: bool = true;
    type P = KeyAgeParams;

    fn request(&self, p: &KeyAgeParams) -> Value {
        json!({ "service": "iam", "operation": "ListAccessKeys", "UserName": p.user_name,
                "max_age": days_text(p.max_age),
                "warn_before": days_text(p.warn_before),
                "fail_on": p.fail_on.as_str() })
    }

    async fn plan(&self, aws: &Aws, p: &KeyAgeParams) -> Result<Planned, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        Ok(Planned::read(
            key_ages(&p.user_name, &keys, aws.clock().now(), p).summary,
        ))
    }

    async fn apply(&self, aws: &Aws, p: &KeyAgeParams) -> Result<Outcome, AwsError> {
        let keys = aws
            .iam()
            .list_access_keys(&p.user_name)
            .await
            .or_fail(aws, Self::NAME)?;
        let ages = key_ages(&p.user_name, &keys, aws.clock().now(), p);
        let fails = match p.fail_on {
            FailOn::Expired => ages.status == "expired",
            FailOn::Warning => ages.status != "ok",
        };
        if fails {
            return Err(AwsError::new(Self::NAME, CHECK_FAILED, ages.summary).hint(
                "rotate the key: create a new one (`iam.create_access_key`), put it where it is used, then deactivate and delete the old one",
            ));
        }
        Ok(Outcome::unchanged(ages.summary, ages.result))
    }
}

// --- iam.deactivate_access_key, iam.delete_access_key

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyParams {
    user_name: String,
    access_key_id: String,
}

impl Params for KeyParams {}

async fn find_key(
    aws: &Aws,
    action: &str,
    p: &KeyParams,
) -> Result<(Option<AccessKey>, Vec<AccessKey>), AwsError> {
    let keys = aws
        .iam()
        .list_access_keys(&p.user_name)
        .await
        .or_fail(aws, action)?;
    Ok((keys.iter().find(|k| k.id == p.access_key_id).cloned(), keys))
}

pub struct DeactivateAccessKey;

impl Typed for DeactivateAccessKey {
    const NAME: &'static str = "iam.deactivate_access_key";
    const SUMMARY: &'static str = "make an access key inactive, unless it is";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = KeyParams;

    fn request(&self, p: &KeyParams) -> Value {
        json!({ "service": "iam", "operation": "UpdateAccessKey", "UserName": p.user_name,
                "AccessKeyId": p.access_key_id, "Status": "Inactive" })
    }

    async fn plan(&self, aws: &Aws, p: &KeyParams) -> Result<Planned, AwsError> {
        let now = aws.clock().now();
        Ok(match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) if !k.active => {
                Planned::as_wanted(format_args!("key {} is inactive", k.id))
            }
            (Some(k), _) => Planned::would(format_args!(
                "deactivate key {} of {} {}",
                k.id,
                p.user_name,
                key_facts(&k, now)
            )),
            (None, keys) => Planned::refuse(format_args!(
                "{} has no access key {} (its keys: {})",
                p.user_name,
                p.access_key_id,
                if keys.is_empty() {
                    "none".into()
                } else {
                    describe_keys(&keys, now)
                }
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &KeyParams) -> Result<Outcome, AwsError> {
        let now = aws.clock().now();
        match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) if !k.active => Ok(Outcome::unchanged(
                format!("key {} of {} is already inactive", k.id, p.user_name),
                json!({}),
            )),
            (Some(k), _) => {
                aws.iam()
                    .set_access_key_active(&p.user_name, &k.id, false)
                    .await
                    .or_fail(aws, Self::NAME)?;
                Ok(Outcome::changed(
                    format!("deactivated key {} of {}", k.id, p.user_name),
                    json!({}),
                ))
            }
            (None, keys) => Err(AwsError::new(
                Self::NAME,
                "NoSuchEntity",
                format!(
                    "{} has no access key {} (its keys: {})",
                    p.user_name,
                    p.access_key_id,
                    if keys.is_empty() {
                        "none".into()
                    } else {
                        describe_keys(&keys, now)
                    }
                ),
            )
            .hint("check `access_key_id` and `user_name`")),
        }
    }
}

pub struct DeleteAccessKey;

impl Typed for DeleteAccessKey {
    const NAME: &'static str = "iam.delete_access_key";
    const SUMMARY: &'static str = "delete an access key, unless it is gone";
    const OUTPUTS: &'static [&'static str] = &[];
    const READ_ONLY: bool = false;
    type P = KeyParams;

    fn request(&self, p: &KeyParams) -> Value {
        json!({ "service": "iam", "operation": "DeleteAccessKey", "UserName": p.user_name,
                "AccessKeyId": p.access_key_id })
    }

    async fn plan(&self, aws: &Aws, p: &KeyParams) -> Result<Planned, AwsError> {
        let now = aws.clock().now();
        Ok(match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) => Planned::would(format_args!(
                "delete key {} of {} {}",
                k.id,
                p.user_name,
                key_facts(&k, now)
            )),
            (None, _) => Planned::as_wanted(format_args!(
                "{} has no key {}",
                p.user_name, p.access_key_id
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &KeyParams) -> Result<Outcome, AwsError> {
        match find_key(aws, Self::NAME, p).await? {
            (Some(k), _) => {
                aws.iam()
                    .delete_access_key(&p.user_name, &k.id)
                    .await
                    .or_fail(aws, Self::NAME)?;
                Ok(Outcome::changed(
                    format!("deleted key {} of {}", k.id, p.user_name),
                    json!({}),
                ))
            }
            (None, _) => Ok(Outcome::unchanged(
                format!("key {} of {} is already gone", p.access_key_id, p.user_name),
                json!({}),
            )),
        }
    }
}
