//! `berth watch`: every listener and connection as it comes and goes.
//!
//! - [`event`]: what is reported (the JSON Lines schema of docs/json.md),
//!   and what the history keeps;
//! - [`engine`]: the Samplers' diffs and the kernel's destroy messages
//!   turned into one stream of events, each open and close once;
//! - [`runner`]: the live loop (dumps at their intervals, the close feed,
//!   the proc trigger), and where events go (filters, screen, alerts, history);
//! - [`closes`]: the close feed (destroy messages, on reader threads);
//! - [`proc_trigger`]: process exec/exit as a trigger for an early dump;
//! - [`alerts`]: `--alert` and `--exec`.

pub mod alerts;
pub mod closes;
pub mod engine;
pub mod event;
pub mod proc_trigger;
pub mod runner;
