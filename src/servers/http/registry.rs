//! The open connections: each one's state and deadline, the sweeper that
//! enforces the deadlines, and the cap on how many are open at once.
//!
//! Each connection records its state (idle between requests, reading a
//! head, writing a response) and a deadline with two atomic stores per
//! transition; a sweeper thread wakes a few times a second and shuts down
//! the sockets whose deadline passed, which wakes their tasks with EOF or
//! EPIPE. So timeouts cost no timer per request.
//!
//! At the cap, a new connection is not refused: the connection that has
//! waited longest without a complete request (idle, or still sending its
//! head) is closed to make room, so a flood of idle connections cannot keep
//! real requests out. Only when every connection is busy writing a
//! response does [`Registry::admit`] refuse.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::server::Limits;

/// Where a connection is in its life; only the sweeper and the cap set Closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum State {
    /// No bytes of a next request yet (a new or kept-alive connection).
    Idle = 0,
    /// Part of a request head has arrived.
    Reading = 1,
    /// A response is being written.
    Writing = 2,
    /// Its socket has been shut down (timeout or eviction).
    Closing = 3,
}

impl State {
    fn from_u8(value: u8) -> State {
        match value {
            0 => State::Idle,
            1 => State::Reading,
            2 => State::Writing,
            _ => State::Closing,
        }
    }
}

struct Slot {
    fd: RawFd,
    state: AtomicU8,
    /// When it entered Idle or Reading (ms on the registry clock): the
    /// longest-waiting one is closed first at the cap.
    since: AtomicU64,
    deadline: AtomicU64,
}

struct Slots {
    slots: Vec<Option<Arc<Slot>>>,
    free: Vec<usize>,
    /// Connections not yet Closing: what the cap counts.
    live: usize,
}

pub(super) struct Registry {
    slots: Mutex<Slots>,
    limits: Limits,
    started: Instant,
    /// Milliseconds since `started`, updated by the sweeper: a clock the
    /// request path reads with one load.
    now: AtomicU64,
    tick: Duration,
}

impl Registry {
    pub(super) fn new(limits: Limits) -> Registry {
        let shortest = limits.header_timeout.min(limits.idle_timeout).min(limits.send_timeout);
        Registry {
            slots: Mutex::new(Slots { slots: Vec::new(), free: Vec::new(), live: 0 }),
            limits,
            started: Instant::now(),
            now: AtomicU64::new(0),
            tick: (shortest / 8).clamp(Duration::from_millis(10), Duration::from_millis(250)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    /// The deadline `timeout` from now, on the registry clock (one tick
    /// later, as the clock is up to a tick behind).
    pub(super) fn deadline(&self, timeout: Duration) -> u64 {
        self.now() + timeout.as_millis() as u64 + self.tick.as_millis() as u64
    }

    /// Registers a new connection, making room at the cap by closing the
    /// connection that has waited longest for a request. None: every
    /// connection is busy writing.
    pub(super) fn admit(this: &Arc<Registry>, fd: RawFd) -> Option<SlotGuard> {
        let mut slots = this.lock();
        let mut attempts = 0;
        while slots.live >= this.limits.max_connections {
            attempts += 1;
            if attempts > 4 {
                return None;
            }
            let victim = slots
                .slots
                .iter()
                .flatten()
                .filter(|s| matches!(State::from_u8(s.state.load(Ordering::Acquire)), State::Idle | State::Reading))
                .min_by_key(|s| s.since.load(Ordering::Relaxed))
                .cloned();
            let victim = victim?;
            if victim.close_if(&[State::Idle, State::Reading]) {
                slots.live -= 1;
            }
        }
        let now = this.now();
        let slot = Arc::new(Slot {
            fd,
            state: AtomicU8::new(State::Idle as u8),
            since: AtomicU64::new(now),
            deadline: AtomicU64::new(this.deadline(this.limits.header_timeout)),
        });
        let index = match slots.free.pop() {
            Some(index) => {
                slots.slots[index] = Some(slot.clone());
                index
            }
            None => {
                slots.slots.push(Some(slot.clone()));
                slots.slots.len() - 1
            }
        };
        slots.live += 1;
        Some(SlotGuard { slot, index, registry: this.clone() })
    }

    pub(super) fn sweep_forever(&self) {
        loop {
            std::thread::sleep(self.tick);
            let now = self.started.elapsed().as_millis() as u64;
            self.now.store(now, Ordering::Relaxed);
            let mut slots = self.lock();
            let mut closed = 0;
            for slot in slots.slots.iter().flatten() {
                if now >= slot.deadline.load(Ordering::Acquire)
                    && slot.close_if(&[State::Idle, State::Reading, State::Writing])
                {
                    closed += 1;
                }
            }
            slots.live -= closed;
        }
    }
}

impl Slot {
    fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves to Closing from one of `from` and shuts the socket down: reads
    /// see EOF (so a slow head can still get its 408); a stalled write also
    /// fails. Only called with the registry locked, so `fd` is still ours.
    fn close_if(&self, from: &[State]) -> bool {
        let current = self.state();
        if !from.contains(&current) {
            return false;
        }
        if self
            .state
            .compare_exchange(current as u8, State::Closing as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let how = if current == State::Writing { libc::SHUT_RDWR } else { libc::SHUT_RD };
        // SAFETY: the registry is locked and the slot still registered, so the
        // connection has not closed its descriptor yet.
        unsafe { libc::shutdown(self.fd, how) };
        true
    }
}

/// A connection's entry in the registry; dropping it leaves.
pub(super) struct SlotGuard {
    slot: Arc<Slot>,
    index: usize,
    registry: Arc<Registry>,
}

impl SlotGuard {
    /// Moves from `from` to `to` with a new deadline; false if the
    /// connection was closed meanwhile (then the task just ends).
    pub(super) fn enter(&self, from: State, to: State, deadline: u64) -> bool {
        let slot = &self.slot;
        slot.deadline.store(deadline, Ordering::Release);
        if matches!(to, State::Idle | State::Reading) {
            slot.since.store(self.registry.now(), Ordering::Relaxed);
        }
        slot.state.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Pushes the deadline out (progress while writing).
    pub(super) fn extend(&self, deadline: u64) {
        self.slot.deadline.store(deadline, Ordering::Release);
    }

    pub(super) fn deadline(&self) -> u64 {
        self.slot.deadline.load(Ordering::Relaxed)
    }

    pub(super) fn state(&self) -> State {
        self.slot.state()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut slots = self.registry.lock();
        if self.slot.state() != State::Closing {
            slots.live -= 1;
        }
        slots.slots[self.index] = None;
        slots.free.push(self.index);
    }
}
