//! (Being written.)

use super::{Facts, Finding};

pub fn findings(_facts: &Facts) -> Vec<Finding> {
    Vec::new()
}
