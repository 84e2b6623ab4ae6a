//! Snapshots over time: a [`Sampler`] takes a [`Snapshot`] at an interval
//! and says what changed since the last one ([`diff`](crate::diff)).
//!
//! Where the snapshots come from is a [`Source`]: the kernel ([`Kernel`],
//! [`collect`] with a query) or, in tests of the code that consumes the
//! events, a script of snapshots built in code ([`Scripted`], with
//! [`SnapshotBuilder`](crate::builder::SnapshotBuilder)),
//! the way bandwhich injects its OS input: the consumer cannot tell them
//! apart, so it is tested without a kernel and beside real-socket tests.
//!
//! ```no_run
//! use std::time::Duration;
//! use berth_inventory::sampler::{Kernel, Sampler};
//! use berth_inventory::Query;
//!
//! let mut sampler = Sampler::new(Kernel::new(Query::default()), Duration::from_secs(1));
//! for _ in 0..3 {
//!     for event in sampler.next_sample()? {
//!         println!("{:?} {}", event.change, event.socket.local);
//!     }
//! }
//! # Ok::<(), berth_inventory::InventoryError>(())
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::diff::{diff, Event};
use crate::{collect, InventoryError, Query, Snapshot};

/// Where a [`Sampler`] gets its snapshots.
pub trait Source {
    /// One snapshot, now.
    fn snapshot(&mut self) -> Result<Snapshot, InventoryError>;
}

/// The kernel, asked the same query every time.
#[derive(Clone, Debug)]
pub struct Kernel {
    query: Query,
}

impl Kernel {
    /// Snapshots of what `query` selects.
    pub fn new(query: Query) -> Kernel {
        Kernel { query }
    }
}

impl Source for Kernel {
    fn snapshot(&mut self) -> Result<Snapshot, InventoryError> {
        collect(&self.query)
    }
}

/// Snapshots given in advance, handed out in order; when they run out, the
/// last one again (nothing changes any more).
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    script: VecDeque<Snapshot>,
    last: Option<Snapshot>,
}

impl Scripted {
    /// The snapshots to hand out, first first.
    pub fn new(script: impl IntoIterator<Item = Snapshot>) -> Scripted {
        Scripted { script: script.into_iter().collect(), last: None }
    }
}

impl Source for Scripted {
    fn snapshot(&mut self) -> Result<Snapshot, InventoryError> {
        if let Some(next) = self.script.pop_front() {
            self.last = Some(next);
        }
        self.last.clone().ok_or_else(|| InventoryError::SourceFailed("the script has no snapshots".into()))
    }
}

/// Takes snapshots from a [`Source`] at an interval and turns each into the
/// events since the one before. The first snapshot has no events: it is
/// where the story starts.
#[derive(Debug)]
pub struct Sampler<S: Source> {
    source: S,
    interval: Duration,
    latest: Option<Snapshot>,
    /// When the next sample is due (the interval counts from the start of
    /// the last one, so the time a snapshot takes does not add up).
    due: Option<Instant>,
}

impl<S: Source> Sampler<S> {
    /// A sampler over `source`, one snapshot per `interval`.
    pub fn new(source: S, interval: Duration) -> Sampler<S> {
        Sampler { source, interval, latest: None, due: None }
    }

    /// Takes a snapshot now and returns the events since the last one.
    pub fn sample(&mut self) -> Result<Vec<Event>, InventoryError> {
        self.due = Some(Instant::now() + self.interval);
        let snapshot = self.source.snapshot()?;
        let events = match &self.latest {
            Some(before) => diff(before, &snapshot),
            None => Vec::new(),
        };
        self.latest = Some(snapshot);
        Ok(events)
    }

    /// Waits until the next sample is due (at once for the first), then
    /// takes it: [`sample`](Sampler::sample) at the interval.
    pub fn next_sample(&mut self) -> Result<Vec<Event>, InventoryError> {
        if let Some(due) = self.due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.sample()
    }

    /// The last snapshot taken, if any.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.latest.as_ref()
    }

    /// The interval between samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::SnapshotBuilder;
    use crate::diff::Change;
    use crate::SocketState;

    #[test]
    fn a_scripted_listener_and_its_client_come_and_go() {
        let empty = SnapshotBuilder::new().build();
        let listening = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).build();
        let connected = SnapshotBuilder::new()
            .tcp_listener("127.0.0.1:8080", 10)
            .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 11)
            .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 12)
            .build();
        let script = Scripted::new([empty.clone(), listening.clone(), connected, listening, empty]);
        let mut sampler = Sampler::new(script, Duration::from_millis(1));
        let mut seen = Vec::new();
        for _ in 0..6 {
            for event in sampler.next_sample().expect("a scripted snapshot") {
                seen.push((event.change, event.socket.local.port(), event.socket.remote.map(|r| r.port())));
            }
        }
        assert_eq!(
            seen,
            vec![
                (Change::ListenerOpened, 8080, None),
                (Change::ConnectionOpened, 8080, Some(50000)),
                (Change::ConnectionOpened, 50000, Some(8080)),
                (Change::ConnectionClosed, 8080, Some(50000)),
                (Change::ConnectionClosed, 50000, Some(8080)),
                (Change::ListenerClosed, 8080, None),
            ]
        );
        assert!(sampler.latest().expect("a snapshot").sockets.is_empty());
    }

    #[test]
    fn an_empty_script_is_an_error_not_a_panic() {
        let mut sampler = Sampler::new(Scripted::default(), Duration::ZERO);
        assert!(sampler.sample().is_err());
    }
}
