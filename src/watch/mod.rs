#![allow(dead_code)] // until the engine (next commits) uses every item
//! `berth watch`: every listener and connection as it comes and goes.
//!
//! - [`event`]: what is reported (the JSON Lines schema of docs/json.md),
//!   and what the history keeps.
pub mod event;
