//! IAM: users, group membership, inline policies, access keys, roles and instance profiles.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::flex::{self, choice};
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, CHECK_FAILED, OrFail, Outcome, Params,
    Planned, Typed, canonical_json, days_between, diff_json, policy_json,
};

mod api;
mod keys;
mod roles;
mod users;

pub use api::*;
pub use keys::*;
pub use roles::*;
pub use users::*;

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(CreateUser),
        Box::new(AddUserToGroup),
        Box::new(UserInGroup),
        Box::new(PutUserPolicy),
        Box::new(CreateAccessKey),
        Box::new(CheckAccessKeyAge),
        Box::new(DeactivateAccessKey),
        Box::new(DeleteAccessKey),
        Box::new(CreateRole),
        Box::new(AttachRolePolicy),
        Box::new(CreateInstanceProfile),
    ]
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn tag_list(tags: &IndexMap<String, String>) -> Value {
    tags.iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect()
}

/// A password that meets IAM's default and common account policies: 24 characters with
/// upper and lower case letters, digits and symbols.
pub(super) fn new_password() -> String {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"#%^*_+-=@[]{}",
    ];
    let mut random = [0u8; 48];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut random);
    }
    let mut out: Vec<u8> = (0..24)
        .map(|i| {
            let set = SETS[i % 4];
            set[random[i] as usize % set.len()]
        })
        .collect();
    // Shuffle so that the classes are not in a fixed order.
    for i in (1..out.len()).rev() {
        let j = random[24 + i] as usize % (i + 1);
        out.swap(i, j);
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_every_class() {
        let p = new_password();
        assert_eq!(p.len(), 24);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert_ne!(p, new_password());
    }
}
