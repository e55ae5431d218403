//! ec2 (in progress).

use super::Action;

pub trait Ec2Api: Send + Sync {}

impl Ec2Api for aws_sdk_ec2::Client {}

pub fn actions() -> Vec<Box<dyn Action>> {
    Vec::new()
}
