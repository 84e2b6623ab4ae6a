//! (Being written.)

use super::probe::Service;
use super::{Facts, Finding, Skipped};

pub fn findings(_facts: &Facts) -> (Vec<Finding>, Vec<Skipped>) {
    (Vec::new(), Vec::new())
}

pub fn check(_service: &Service, _facts: &Facts) -> Vec<Finding> {
    Vec::new()
}
