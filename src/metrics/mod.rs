//! `berth metrics`: the machine's listeners, sockets, bytes per port and
//! audit findings as Prometheus series, so that a fleet is watched by
//! Prometheus (and alerted on by Alertmanager, drawn by Grafana) while
//! berth stays the one that knows each machine's ports.
//!
//! One module per job:
//! - [`exporter`]: reads the system for one exposition, shared by scrapes
//!   that overlap, and keeps what outlives a scrape;
//! - [`series`]: what is exported, with bounded labels only;
//! - [`owners`]: the listeners' owners, cached between scrapes (the pass
//!   over /proc is the expensive part of a snapshot);
//! - [`bytes`]: bytes per listening port as counters that never go back,
//!   from open connections and the kernel's close messages;
//! - [`audit_runner`]: the periodic audit behind `berth_audit_*`;
//! - [`exposition`]: OpenMetrics or the classic text, by Accept;
//! - [`handler`]: `/metrics` on berth's HTTP core;
//! - [`textfile`]: node_exporter's textfile collector, written atomically.
//!
//! docs/metrics.md is the reference of every series.

pub mod audit_runner;
pub mod bytes;
pub mod exporter;
pub mod exposition;
pub mod handler;
pub mod owners;
pub mod series;
pub mod textfile;
