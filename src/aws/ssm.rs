//! ssm (in progress).

use super::Action;

pub trait SsmApi: Send + Sync {}

impl SsmApi for aws_sdk_ssm::Client {}

pub fn actions() -> Vec<Box<dyn Action>> {
    Vec::new()
}
