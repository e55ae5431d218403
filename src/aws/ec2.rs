//! EC2: finding a VPC, subnet or security group by name; launching, waiting for, stopping,
//! starting and terminating an instance.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::flex::{self, choice};
use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, OrFail, Outcome, Params, Planned, Typed,
    poll,
};

mod api;
mod find;
mod instances;

pub use api::*;
pub use find::*;
pub use instances::*;

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![
        Box::new(FindVpc),
        Box::new(FindSubnet),
        Box::new(FindSecurityGroup),
        Box::new(LaunchInstance),
        Box::new(WaitInstance),
        Box::new(ChangeState::<0>),
        Box::new(ChangeState::<1>),
        Box::new(ChangeState::<2>),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"#!/bin/bash\n"), "IyEvYmluL2Jhc2gK");
    }
}
