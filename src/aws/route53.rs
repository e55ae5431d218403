//! route53 (in progress).

use super::Action;

pub trait Route53Api: Send + Sync {}

impl Route53Api for aws_sdk_route53::Client {}

pub fn actions() -> Vec<Box<dyn Action>> {
    Vec::new()
}
