//! s3 (in progress).

use super::Action;

pub trait S3Api: Send + Sync {}

impl S3Api for aws_sdk_s3::Client {}

pub fn actions() -> Vec<Box<dyn Action>> {
    Vec::new()
}
