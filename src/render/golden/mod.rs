//! Golden tests: what every renderer prints (tables, reports, JSON) for
//! inputs built in code, pinned as insta snapshots in `snapshots/`.
//!
//! The inputs never come from this machine: Snapshots are made with
//! [`SnapshotBuilder`](berth_inventory::builder::SnapshotBuilder) (fixed
//! time, pids and users) and run through berth's own analysis, as the
//! commands do (`ls`, `who`, `kill`, `doctor`, scan's holders); where a
//! renderer takes the result of a probe of the network (`scan`, `probe`,
//! `audit`), that result is built in code. So the output is the same on
//! every run and every machine. They open no socket and send nothing:
//! every address in them is data, and those that are not loopback come
//! from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, RFC 5737), which are routed nowhere.
//!
//! They are unit tests, next to the renderers, rather than an integration
//! module: they build analysis and net results and use test-only support
//! (`analysis::doctor::tests_support`) that only code inside the crate can
//! reach, and narrowing `pub` to `pub(crate)` cannot break them.
//!
//! A change in what berth prints fails here, on purpose. When the change is
//! meant, review and accept the new output with `cargo insta review`
//! (cargo-insta), or rewrite the snapshots with
//! `INSTA_UPDATE=always cargo test --lib render::golden` and read the diff
//! of `snapshots/` before committing. Without a review tool insta writes a
//! `.snap.new` next to a snapshot that differs; under `CI=true` (as in
//! .ci/run) it writes nothing, and a missing or different snapshot fails.

mod audit;
mod doctor;
mod kill;
mod ls;
mod probe;
mod scan;
mod watch;
mod who;

use std::io;

use berth_inventory::builder::SnapshotBuilder;
use berth_inventory::Snapshot;

use super::style::Style;

/// A pipe: no colour, no width (nothing is cut).
const PIPE: Style = Style { color: false, width: None };

/// A terminal that takes colour, as wide as there is text.
const COLOUR: Style = Style { color: true, width: None };

/// A terminal 80 columns wide, without colour: the last column is cut.
const NARROW: Style = Style { color: false, width: Some(80) };

/// What `write` printed, as text. Escape sequences are shown as `\e[...m`,
/// so that a snapshot with colour reads as text.
fn printed(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("writing to memory");
    String::from_utf8(out).expect("renderers write UTF-8").replace('\u{1b}', "\\e")
}

/// Port 8080 free but for two TIME_WAIT remnants (`who`, `doctor`).
fn time_wait_only() -> Snapshot {
    SnapshotBuilder::new()
        .time_wait("127.0.0.1:8080", "127.0.0.1:49998")
        .time_wait("127.0.0.1:8080", "127.0.0.1:49999")
        .build()
}
