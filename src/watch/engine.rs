//! The watch engine: turns what the Samplers' diffs say and what the
//! kernel's destroy messages say into one stream of [`WatchEvent`]s, each
//! socket's open and close reported once.
//!
//! It is plain logic over its inputs (no kernel, no clock of its own): the
//! runner ([`super::run`]) feeds it the diff events of two
//! [`Sampler`](berth_inventory::sampler::Sampler)s and the closes read
//! from the destroy stream, in the order they happened, and the unit tests
//! feed it scripted Snapshots and closes the same way.
//!
//! # Two inputs, one story
//!
//! - Dumps (Snapshots at an interval) see every socket that lives longer
//!   than the interval, with its owner, uid and state. Listeners are dumped
//!   often (cheap: the kernel filters LISTEN), connections at `--interval`.
//! - Destroy messages report every socket's end within milliseconds, with
//!   addresses and final byte counters, but no owner, uid or inode.
//!
//! The engine keeps `live`, the sockets it has reported open. A dump's
//! "opened" is reported once and enters `live`; a destroy message for a
//! socket in `live` closes it (with the bytes and the lifetime since it was
//! first seen); a destroy message for a socket not in `live` is a socket
//! that opened and closed between two dumps: one `connection-closed` (or
//! `listener-closed`) event with `open_seen: false` stands for both. A
//! dump's "closed" for a socket still in `live` waits [`CLOSE_GRACE`] for
//! its destroy message (which carries more) before it is reported from the
//! dump; without a destroy stream it is reported at once.
//!
//! The runner drains the destroy messages that arrived before a dump
//! started before it applies that dump, and those that arrived during it
//! after, so a socket that closed while the dump was walking the table is
//! opened by the dump and closed by its message: never twice, never lost.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use rustc_hash::FxHashMap;

use super::event::{
    EventKind, EventOwner, EventSource, Lifetime, ListenerRef, MissedReason, MissedSpan, Owners, Previous, SocketFacts,
    Summary, WatchEvent,
};
use crate::analysis::report::Endpoint;
use berth_inventory::diff::{Change, Event as DiffEvent, SocketKey};
use berth_inventory::port_facts::PortFacts;
use berth_inventory::scope::{scope_of, BindScope};
use berth_inventory::{PortRanges, Protocol, Snapshot, Socket, SocketState};

/// How long a dump's "closed" waits for the socket's destroy message.
pub const CLOSE_GRACE: Duration = Duration::from_millis(250);

/// How long a closed listener is remembered, so that the port bound again
/// by another process or at another address reads as a change of owner or
/// scope.
const REBIND_MEMORY: Duration = Duration::from_secs(10);

/// One socket's end as the kernel reported it (a destroy message), or the
/// report that some were lost.
#[derive(Clone, Debug)]
pub enum CloseInput {
    /// The socket as the destroy message gives it (no owners, uid or inode).
    Closed { socket: Socket, at: SystemTime, instant: Instant },
    /// Messages were lost at this time.
    Overflow { at: SystemTime, reason: MissedReason },
}

/// Which Sampler a dump came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpKind {
    /// Listening TCP and every UDP socket, often, without owners (the
    /// runner looks the owners of new listeners up).
    Listeners,
    /// Every socket with its owners, at `--interval`.
    Full,
}

/// A socket the engine has reported open.
#[derive(Clone, Debug)]
struct Tracked {
    facts: SocketFacts,
    /// When a dump first saw it.
    first_seen: Instant,
    /// When the dump before that one started: it did not see the socket,
    /// so the socket is younger than this.
    younger_than: Option<Instant>,
    /// When a dump last saw it.
    last_seen: Instant,
    /// A dump no longer sees it: the close, unless its destroy message
    /// comes first.
    close_due: Option<CloseDue>,
    /// Byte counters from the last dump (the close from a dump reports these).
    bytes: (Option<u64>, Option<u64>),
}

/// How long a resetting end waits for its other end's message (and a
/// whole message for a resetting end), and how many may wait.
const RESET_PAIRING: Duration = Duration::from_millis(250);
const MAX_PENDING_RESETS: usize = 65_536;
const MAX_RECENT_ENDS: usize = 65_536;

/// How many dumps of each kind are remembered for lifetime bounds.
const DUMPS_REMEMBERED: usize = 8;

/// How a resetting end and its other end find each other: protocol,
/// namespace, the other end's local address, the resetting end's port.
type EndKey = (Protocol, u64, IpAddr, u16);

/// A resetting end's message, waiting for its other end.
#[derive(Clone, Debug)]
struct PendingReset {
    socket: Socket,
    at: SystemTime,
    instant: Instant,
}

/// How a late destroy message is recognised as the close a dump reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum LateKey {
    Cookie(u64),
    /// Sources without cookies: the addresses (no inode: messages have none).
    Address(SocketKey),
}

/// Events lost since `from`: the span ends with the first full dump taken
/// after the close feed caught up (`ready`), since messages may be lost
/// until the kernel's queue has been emptied.
#[derive(Clone, Copy, Debug)]
struct Gap {
    from: SystemTime,
    reason: MissedReason,
    ready: bool,
}

/// Which live listener a listener's destroy message stands for.
enum ListenerMatch {
    One(SocketKey),
    /// SO_REUSEPORT siblings at the same address.
    Several,
    None,
}

/// A close a dump reported, waiting for the socket's destroy message.
#[derive(Clone, Copy, Debug)]
struct CloseDue {
    /// When to report it from the dump.
    due: Instant,
    /// The dump that no longer saw the socket.
    dump_started: Instant,
    dump_time: SystemTime,
}

/// A listener that closed recently, for owner-changed and scope-changed.
#[derive(Clone, Debug)]
struct ClosedListener {
    at: Instant,
    local: Endpoint,
    scope: &'static str,
    owners: Owners,
}

/// The facts of the machine that events are described against: the last
/// full Snapshot's namespaces and port ranges (destroy messages carry none).
#[derive(Clone, Debug, Default)]
struct Context {
    interfaces: FxHashMap<u64, Vec<berth_inventory::Interface>>,
    port_ranges: PortRanges,
}

/// See the module docs.
#[derive(Debug)]
pub struct Engine {
    live: FxHashMap<SocketKey, Tracked>,
    /// The live listeners by (protocol, netns, port): for matching a
    /// listener's destroy message (which has no inode) and for finding the
    /// listener a connection belongs to.
    listeners_by_port: FxHashMap<(Protocol, u64, u16), Vec<SocketKey>>,
    recently_closed: FxHashMap<(Protocol, u64, u16), ClosedListener>,
    /// Messages that closed one of several SO_REUSEPORT siblings (sources
    /// without cookies), by address: the dump that says which is no late
    /// message to wait for.
    messages_used: FxHashMap<SocketKey, u32>,
    /// See `shared_owners`: the snapshot it holds owners of, and them by pid.
    owner_cache: std::cell::RefCell<(Option<Instant>, FxHashMap<u32, Owners>)>,
    /// The live sockets by cookie (destroy messages carry it).
    by_cookie: FxHashMap<u64, SocketKey>,
    /// Sockets whose close a dump reported (their message had not come):
    /// if it comes late, it is not a second close.
    dump_closed: FxHashMap<LateKey, Instant>,
    /// Resetting ends waiting for their other end's message, and recent
    /// whole messages waiting for a resetting end (see `reset_end`), by
    /// (protocol, netns, the other end's local address, the resetting end's port).
    pending_resets: FxHashMap<EndKey, Vec<PendingReset>>,
    recent_ends: FxHashMap<EndKey, (SocketAddr, SocketAddr, Instant)>,
    /// (start, finish) of the last dumps of each kind, for the lifetime
    /// bound of sockets no dump saw.
    listener_dumps: VecDeque<(Instant, Instant)>,
    full_dumps: VecDeque<(Instant, Instant)>,
    context: Context,
    /// When the last dump of each kind started.
    last_listener_dump: Option<Instant>,
    last_full_dump: Option<Instant>,
    /// Whether destroy messages are read (then dump closes wait for them).
    destroy_stream: bool,
    /// The last event time handled before an overflow, for its span.
    last_handled: Option<SystemTime>,
    /// An overflow waiting for the fresh dump that ends its span.
    open_gap: Option<Gap>,
    pub summary: Summary,
}

impl Engine {
    /// An engine; `destroy_stream` says whether closes will come from the
    /// kernel's destroy messages.
    pub fn new(destroy_stream: bool) -> Engine {
        Engine {
            live: FxHashMap::default(),
            listeners_by_port: FxHashMap::default(),
            recently_closed: FxHashMap::default(),
            by_cookie: FxHashMap::default(),
            owner_cache: Default::default(),
            messages_used: FxHashMap::default(),
            dump_closed: FxHashMap::default(),
            pending_resets: FxHashMap::default(),
            recent_ends: FxHashMap::default(),
            listener_dumps: VecDeque::new(),
            full_dumps: VecDeque::new(),
            context: Context::default(),
            last_listener_dump: None,
            last_full_dump: None,
            destroy_stream,
            last_handled: None,
            open_gap: None,
            summary: Summary::default(),
        }
    }

    /// Where the story starts: the first full Snapshot. Every socket in it
    /// is live; each listener is reported as `listener-present`.
    pub fn start(&mut self, snapshot: &Snapshot) -> Vec<WatchEvent> {
        self.learn_context(snapshot);
        self.last_full_dump = Some(snapshot.taken);
        self.last_listener_dump = Some(snapshot.taken);
        self.full_dumps.push_back((snapshot.taken, snapshot.taken));
        self.listener_dumps.push_back((snapshot.taken, snapshot.taken));
        let mut events = Vec::new();
        let mut sockets: Vec<&Socket> = snapshot.sockets.iter().filter(|s| s.state != SocketState::TimeWait).collect();
        sockets.sort_by_key(|s| s.key());
        for socket in sockets {
            let facts = self.facts(socket, Some(snapshot), true);
            self.track(socket, facts.clone(), snapshot.taken, None);
            if socket.state.is_listening() {
                events.push(WatchEvent::about(snapshot.taken_at, EventKind::ListenerPresent, EventSource::Dump, facts));
            }
        }
        events
    }

    /// A Snapshot with owners, taken now and then (the dumps carry none:
    /// finding owners walks every process's descriptors, the costly part
    /// of a read). Live sockets get owners they lacked, and a listener now
    /// held by other processes is an `owner-changed` event.
    pub fn on_owners(&mut self, snapshot: &Snapshot) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        for socket in &snapshot.sockets {
            if socket.owners.is_empty() {
                continue;
            }
            let key = socket.key();
            let Some(tracked) = self.live.get(&key) else { continue };
            let pids = |owners: &[EventOwner]| owners.iter().map(|o| o.pid).collect::<Vec<u32>>();
            let now: Vec<u32> = socket.owners.iter().map(|o| o.pid).collect();
            if pids(&tracked.facts.owners[..]) == now {
                continue;
            }
            let owners = self.shared_owners(socket, snapshot);
            let tracked = self.live.get_mut(&key).expect("just found");
            let before = std::mem::replace(&mut tracked.facts.owners, owners);
            if before.is_empty() || !socket.state.is_listening() {
                continue;
            }
            let previous = Previous { local: tracked.facts.local, scope: tracked.facts.scope, owners: before };
            let mut changed =
                WatchEvent::about(snapshot.taken_at, EventKind::OwnerChanged, EventSource::Dump, tracked.facts.clone());
            changed.previous = Some(previous);
            events.push(changed);
        }
        events
    }

    /// The owners of `socket`, one shared copy per single-owner process of
    /// the snapshot being read (the cache is emptied for each snapshot).
    fn shared_owners(&self, socket: &Socket, snapshot: &Snapshot) -> Owners {
        let mut cache = self.owner_cache.borrow_mut();
        if cache.0 != Some(snapshot.taken) {
            *cache = (Some(snapshot.taken), FxHashMap::default());
        }
        match socket.owners.as_slice() {
            [one] => cache.1.entry(one.pid).or_insert_with(|| owners_of(socket, snapshot)).clone(),
            _ => owners_of(socket, snapshot),
        }
    }

    /// How many sockets are live, listeners and connections.
    pub fn live_counts(&self) -> (usize, usize) {
        let listeners = self.live.values().filter(|t| t.facts.state.is_listening()).count();
        (listeners, self.live.len() - listeners)
    }

    /// A dump's diff. `snapshot` is the dump (the Sampler's latest), which
    /// ended at `finished`; `owners`, for a listener dump, a Snapshot with
    /// the owners of the listeners it opened (looked up by the runner), if any.
    pub fn on_dump(
        &mut self,
        kind: DumpKind,
        diff: &[DiffEvent],
        snapshot: &Snapshot,
        owners: Option<&Snapshot>,
        finished: Instant,
    ) -> Vec<WatchEvent> {
        let started = snapshot.taken;
        let log = match kind {
            DumpKind::Listeners => &mut self.listener_dumps,
            DumpKind::Full => &mut self.full_dumps,
        };
        log.push_back((started, finished));
        if log.len() > DUMPS_REMEMBERED {
            log.pop_front();
        }
        let previous_dump = match kind {
            DumpKind::Listeners => self.last_listener_dump.replace(started),
            DumpKind::Full => {
                self.learn_context(snapshot);
                self.last_full_dump.replace(started)
            }
        };
        let mut events = Vec::new();
        for event in diff {
            let socket = &event.socket;
            let listening = socket.state.is_listening();
            // Each Sampler speaks for its own sockets: listeners come from
            // the listener dumps (more often), connections and listeners'
            // owners from the full dumps.
            let ours = match (kind, &event.change) {
                (DumpKind::Listeners, Change::ListenerOpened | Change::ListenerClosed) => true,
                (DumpKind::Full, Change::ConnectionOpened | Change::ConnectionClosed) => true,
                (DumpKind::Full, Change::OwnersChanged { .. }) => listening,
                _ => false,
            };
            if !ours {
                continue;
            }
            let key = socket.key();
            match &event.change {
                Change::ListenerOpened | Change::ConnectionOpened => {
                    if self.live.contains_key(&key) {
                        continue;
                    }
                    let (socket, source_snapshot) = match owners.and_then(|o| find(o, &key)) {
                        Some(with_owners) => (with_owners, owners.expect("found in it")),
                        None => (socket, snapshot),
                    };
                    let facts = self.facts(socket, Some(source_snapshot), true);
                    self.track(socket, facts.clone(), started, previous_dump);
                    let opened_kind = if listening { EventKind::ListenerOpened } else { EventKind::ConnectionOpened };
                    let opened = WatchEvent::about(snapshot.taken_at, opened_kind, EventSource::Dump, facts);
                    let rebinds = if listening {
                        self.summary.listeners_opened += 1;
                        self.rebind_events(&opened)
                    } else {
                        self.summary.connections_opened += 1;
                        Vec::new()
                    };
                    events.push(opened);
                    events.extend(rebinds);
                }
                Change::ListenerClosed | Change::ConnectionClosed => {
                    if let Some(tracked) = self.live.get_mut(&key) {
                        if tracked.close_due.is_none() {
                            let due = if self.destroy_stream { started + CLOSE_GRACE } else { started };
                            tracked.close_due =
                                Some(CloseDue { due, dump_started: started, dump_time: snapshot.taken_at });
                        }
                    }
                }
                Change::OwnersChanged { .. } => {
                    let facts = self.facts(socket, Some(snapshot), true);
                    if let Some(tracked) = self.live.get_mut(&key) {
                        let previous = Previous {
                            local: tracked.facts.local,
                            scope: tracked.facts.scope,
                            owners: std::mem::take(&mut tracked.facts.owners),
                        };
                        tracked.facts.owners = facts.owners.clone();
                        let mut changed =
                            WatchEvent::about(snapshot.taken_at, EventKind::OwnerChanged, EventSource::Dump, facts);
                        changed.previous = Some(previous);
                        events.push(changed);
                    }
                }
                Change::StateChanged { .. } => {}
            }
        }
        // When each live socket was last seen, and (full dumps) the
        // counters of live connections, for closes reported from a dump.
        for socket in &snapshot.sockets {
            if kind == DumpKind::Listeners && !socket.state.is_listening() {
                continue;
            }
            if let Some(tracked) = self.live.get_mut(&socket.key()) {
                tracked.last_seen = started;
                // Seen again: a dump that missed it was wrong.
                tracked.close_due = None;
                if kind == DumpKind::Full {
                    tracked.bytes = bytes_of(socket);
                }
            }
        }
        // A gap ends with the first full dump after it: whatever was lost,
        // the table is known again.
        if kind == DumpKind::Full {
            if let Some(Gap { from, reason, .. }) = self.open_gap.take_if(|gap| gap.ready) {
                let mut missed = WatchEvent::of_berth(snapshot.taken_at, EventKind::Missed);
                missed.missed = Some(MissedSpan { from, to: snapshot.taken_at, reason });
                self.summary.missed_spans += 1;
                events.insert(0, missed);
            }
        }
        self.last_handled = Some(snapshot.taken_at);
        events
    }

    /// The close feed has no message waiting: a loss before now can be
    /// closed by the next full dump.
    pub fn caught_up(&mut self) {
        if let Some(gap) = &mut self.open_gap {
            gap.ready = true;
        }
    }

    /// Whether a fresh full dump is wanted now (after an overflow, once
    /// the close feed has caught up).
    pub fn wants_fresh_dump(&self) -> bool {
        self.open_gap.is_some_and(|gap| gap.ready)
    }

    /// One close from the destroy stream.
    pub fn on_close(&mut self, input: CloseInput) -> Vec<WatchEvent> {
        match input {
            CloseInput::Overflow { at, reason, .. } => {
                match &mut self.open_gap {
                    // Another loss before the span ended: the same span, not ready yet.
                    Some(gap) => gap.ready = false,
                    None => {
                        let from = self.last_handled.map_or(at, |last| last.min(at));
                        self.open_gap = Some(Gap { from, reason, ready: false });
                    }
                }
                Vec::new()
            }
            CloseInput::Closed { socket, at, instant } => {
                self.last_handled = Some(at);
                self.close_from_kernel(socket, at, instant)
            }
        }
    }

    /// Closes a dump reported whose destroy message did not come within
    /// [`CLOSE_GRACE`]; call it whenever time has passed.
    pub fn on_tick(&mut self, now: Instant) -> Vec<WatchEvent> {
        let mut due: Vec<SocketKey> = self
            .live
            .iter()
            .filter(|(_, t)| t.close_due.is_some_and(|close| close.due <= now))
            .map(|(key, _)| *key)
            .collect();
        due.sort();
        let mut events = Vec::new();
        for key in due {
            if let Some(tracked) = self.untrack(&key) {
                let close = tracked.close_due.expect("filtered on it");
                let mut facts = tracked.facts;
                facts.lifetime = Some(Lifetime {
                    at_least_ms: ms(tracked.last_seen.saturating_duration_since(tracked.first_seen)),
                    at_most_ms: tracked.younger_than.map(|t| ms(close.dump_started.saturating_duration_since(t))),
                });
                (facts.bytes_in, facts.bytes_out) = tracked.bytes;
                if facts.state.is_listening() {
                    facts.was_listening = Some(true);
                }
                let address = SocketKey { inode: 0, ..key };
                let used = self.messages_used.get_mut(&address).filter(|n| **n > 0);
                if let Some(used) = used {
                    // Its message came already (an SO_REUSEPORT sibling's).
                    *used -= 1;
                } else if self.destroy_stream {
                    // Keyed as its message will be: by cookie, or without an inode.
                    let late = if key.cookie != 0 { LateKey::Cookie(key.cookie) } else { LateKey::Address(address) };
                    self.dump_closed.insert(late, now);
                }
                events.push(self.closed_event(close.dump_time, EventSource::Dump, facts));
            }
        }
        if let Some(horizon) = now.checked_sub(RESET_PAIRING) {
            let before = self.pending_resets.values().map(Vec::len).sum::<usize>();
            self.pending_resets.retain(|_, waiting| {
                waiting.retain(|r| r.instant >= horizon);
                !waiting.is_empty()
            });
            let after = self.pending_resets.values().map(Vec::len).sum::<usize>();
            self.summary.unaddressed_closes += (before - after) as u64;
            self.recent_ends.retain(|_, (_, _, at)| *at >= horizon);
        }
        let horizon = now.checked_sub(REBIND_MEMORY);
        if let Some(horizon) = horizon {
            self.recently_closed.retain(|_, c| c.at >= horizon);
            self.dump_closed.retain(|_, at| *at >= horizon);
            self.messages_used.retain(|_, n| *n > 0);
        }
        events
    }

    /// The earliest instant [`on_tick`](Engine::on_tick) has work.
    pub fn next_due(&self) -> Option<Instant> {
        self.live.values().filter_map(|t| t.close_due.map(|close| close.due)).min()
    }

    /// The summary event at the end of a watch.
    pub fn summary_event(&self, at: SystemTime, watched: Duration) -> WatchEvent {
        let mut event = WatchEvent::of_berth(at, EventKind::Summary);
        let mut summary = self.summary.clone();
        summary.duration_ms = watched.as_millis() as u64;
        event.summary = Some(summary);
        event
    }

    // ------------------------------------------------------------ internals

    fn close_from_kernel(&mut self, socket: Socket, at: SystemTime, instant: Instant) -> Vec<WatchEvent> {
        // By cookie first: exact, whatever the message lost (the resetting
        // side's addresses), whichever SO_REUSEPORT sibling it was, and
        // never an earlier connection on the same four addresses.
        if socket.cookie != 0 {
            if let Some(key) = self.by_cookie.get(&socket.cookie).copied() {
                let tracked = self.untrack(&key).expect("indexed sockets are live");
                return vec![self.close_tracked(tracked, &socket, at, instant)];
            }
            if self.dump_closed.remove(&LateKey::Cookie(socket.cookie)).is_some() {
                return Vec::new();
            }
        }
        if socket.local.ip().is_unspecified() && socket.local.port() == 0 {
            // A socket created and never bound or used.
            self.summary.unaddressed_closes += 1;
            return Vec::new();
        }
        if let Some(remote) = socket.remote {
            if remote.port() == 0 {
                return self.reset_end(socket, at, instant);
            }
        }
        let listening = socket.remote.is_none();
        // Sources without cookies (/proc/net): by address.
        let key = if listening {
            match self.live_listener(&socket) {
                ListenerMatch::One(key) => Some(key),
                // SO_REUSEPORT siblings: which one closed is for the next
                // dump to say; this message is its close, used up.
                ListenerMatch::Several => {
                    *self.messages_used.entry(SocketKey { cookie: 0, ..socket.key() }).or_insert(0) += 1;
                    return Vec::new();
                }
                ListenerMatch::None => None,
            }
        } else {
            Some(SocketKey { cookie: 0, ..socket.key() })
        };
        if let Some(tracked) = key.and_then(|key| self.untrack(&key)) {
            return vec![self.close_tracked(tracked, &socket, at, instant)];
        }
        if self.dump_closed.remove(&LateKey::Address(SocketKey { cookie: 0, ..socket.key() })).is_some() {
            return Vec::new();
        }
        let mut events = Vec::new();
        if !listening {
            // The other end of a connection whose resetting end came first?
            events.extend(self.pair_reset(&socket));
            self.remember_end(&socket, instant);
        }
        events.push(self.close_unseen(&socket, at, instant));
        events
    }

    /// The close of a socket a dump saw: what the dump knew, with the
    /// message's counters (unless the message lost them, as the resetting
    /// side's does).
    fn close_tracked(&mut self, tracked: Tracked, message: &Socket, at: SystemTime, instant: Instant) -> WatchEvent {
        let mut facts = tracked.facts;
        facts.lifetime = Some(lifetime_since(instant, tracked.first_seen, tracked.younger_than));
        if facts.remote.is_some() {
            let addressed = message.remote.is_some_and(|r| r.port() != 0);
            (facts.bytes_in, facts.bytes_out) = if addressed { bytes_of(message) } else { tracked.bytes };
        } else {
            facts.was_listening = Some(facts.state.is_listening());
        }
        self.closed_event(at, EventSource::Destroy, facts)
    }

    /// A socket that opened and closed between two dumps: this one event
    /// says both.
    fn close_unseen(&mut self, socket: &Socket, at: SystemTime, instant: Instant) -> WatchEvent {
        let listening = socket.remote.is_none();
        let mut facts = self.facts(socket, None, false);
        let dumps = if listening { &self.listener_dumps } else { &self.full_dumps };
        facts.lifetime = Some(Lifetime { at_least_ms: 0.0, at_most_ms: unseen_since(dumps, instant).map(ms) });
        if listening {
            // A listener carries no data: its counters say nothing.
            facts.was_listening = None;
        } else {
            if socket.remote.is_some_and(|r| r.port() != 0)
                && socket.tcp_counters.as_ref().is_some_and(|c| c.bytes_sent.is_some())
            {
                (facts.bytes_in, facts.bytes_out) = bytes_of(socket);
            }
            self.summary.short_lived += 1;
        }
        self.closed_event(at, EventSource::Destroy, facts)
    }

    /// The message of a connection's resetting end (SO_LINGER 0, or an
    /// abort): the kernel clears its local address and peer port before
    /// the message is built, so only its local port and peer address are
    /// left. On this machine the other end's message names both: the two
    /// are paired, in whichever order they come, within [`RESET_PAIRING`].
    /// A refused connect and an accept-queue child reset with its listener
    /// look the same and have no other end: they are counted, not shown.
    fn reset_end(&mut self, socket: Socket, at: SystemTime, instant: Instant) -> Vec<WatchEvent> {
        let peer_ip = socket.remote.map(|r| r.ip()).filter(|ip| !ip.is_unspecified());
        let Some(peer_ip) = peer_ip.filter(|_| socket.local.ip().is_unspecified()) else {
            self.summary.unaddressed_closes += 1;
            return Vec::new();
        };
        let key = (socket.protocol, socket.netns, peer_ip, socket.local.port());
        if let Some((other_local, other_remote, _)) = self.recent_ends.remove(&key) {
            // Its counters were cleared with its addresses: none to report.
            let whole = Socket { local: other_remote, remote: Some(other_local), tcp_counters: None, ..socket };
            return vec![self.close_unseen(&whole, at, instant)];
        }
        if self.pending_resets.len() < MAX_PENDING_RESETS {
            self.pending_resets.entry(key).or_default().push(PendingReset { socket, at, instant });
        } else {
            self.summary.unaddressed_closes += 1;
        }
        Vec::new()
    }

    /// A waiting resetting end that `socket` (a whole message) is the other end of.
    fn pair_reset(&mut self, socket: &Socket) -> Option<WatchEvent> {
        let remote = socket.remote?;
        let key = (socket.protocol, socket.netns, socket.local.ip(), remote.port());
        let waiting = self.pending_resets.get_mut(&key)?;
        let reset = waiting.pop()?;
        if waiting.is_empty() {
            self.pending_resets.remove(&key);
        }
        let whole = Socket { local: remote, remote: Some(socket.local), tcp_counters: None, ..reset.socket };
        Some(self.close_unseen(&whole, reset.at, reset.instant))
    }

    /// Remembers a whole connection message for a resetting end that may
    /// come after it.
    fn remember_end(&mut self, socket: &Socket, instant: Instant) {
        if let Some(remote) = socket.remote {
            if self.recent_ends.len() < MAX_RECENT_ENDS {
                let key = (socket.protocol, socket.netns, socket.local.ip(), remote.port());
                self.recent_ends.insert(key, (socket.local, remote, instant));
            }
        }
    }

    /// The live listener a listener's destroy message stands for (it has
    /// no inode): the only live one at that address, if only one is.
    fn live_listener(&self, socket: &Socket) -> ListenerMatch {
        let Some(candidates) = self.listeners_by_port.get(&(socket.protocol, socket.netns, socket.local.port())) else {
            return ListenerMatch::None;
        };
        let mut at_address = candidates.iter().filter(|key| key.local == socket.local);
        match (at_address.next(), at_address.next()) {
            (Some(key), None) => ListenerMatch::One(*key),
            (Some(_), Some(_)) => ListenerMatch::Several,
            _ => ListenerMatch::None,
        }
    }

    fn closed_event(&mut self, at: SystemTime, source: EventSource, facts: SocketFacts) -> WatchEvent {
        let listening = facts.remote.is_none();
        if listening {
            self.summary.listeners_closed += 1;
            self.recently_closed.insert(
                (facts.protocol, facts.netns, facts.local.port),
                ClosedListener {
                    at: Instant::now(),
                    local: facts.local,
                    scope: facts.scope,
                    owners: facts.owners.clone(),
                },
            );
        } else {
            self.summary.connections_closed += 1;
        }
        let kind = if listening { EventKind::ListenerClosed } else { EventKind::ConnectionClosed };
        WatchEvent::about(at, kind, source, facts)
    }

    /// A listener opened on a port another process or another address held
    /// a moment ago: owner-changed and scope-changed.
    fn rebind_events(&mut self, opened: &WatchEvent) -> Vec<WatchEvent> {
        let Some(facts) = &opened.socket else { return Vec::new() };
        let Some(before) = self.recently_closed.remove(&(facts.protocol, facts.netns, facts.local.port)) else {
            return Vec::new();
        };
        let previous = Previous { local: before.local, scope: before.scope, owners: before.owners.clone() };
        let mut events = Vec::new();
        if before.scope != facts.scope {
            let mut changed = WatchEvent { kind: EventKind::ScopeChanged, ..opened.clone() };
            changed.previous = Some(previous.clone());
            events.push(changed);
        }
        let pids = |owners: &[EventOwner]| owners.iter().map(|o| o.pid).collect::<Vec<_>>();
        if !before.owners.is_empty() && !facts.owners.is_empty() && pids(&before.owners) != pids(&facts.owners) {
            let mut changed = WatchEvent { kind: EventKind::OwnerChanged, ..opened.clone() };
            changed.previous = Some(previous);
            events.push(changed);
        }
        events
    }

    fn track(&mut self, socket: &Socket, facts: SocketFacts, seen: Instant, younger_than: Option<Instant>) {
        let key = socket.key();
        if socket.state.is_listening() {
            self.listeners_by_port.entry((socket.protocol, socket.netns, socket.local.port())).or_default().push(key);
        }
        if key.cookie != 0 {
            self.by_cookie.insert(key.cookie, key);
        }
        self.live.insert(
            key,
            Tracked {
                facts,
                first_seen: seen,
                last_seen: seen,
                younger_than,
                close_due: None,
                bytes: bytes_of(socket),
            },
        );
    }

    fn untrack(&mut self, key: &SocketKey) -> Option<Tracked> {
        let tracked = self.live.remove(key)?;
        if key.cookie != 0 {
            self.by_cookie.remove(&key.cookie);
        }
        if key.remote.is_none() {
            let port_key = (key.protocol, key.netns, key.local.port());
            if let Some(keys) = self.listeners_by_port.get_mut(&port_key) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    self.listeners_by_port.remove(&port_key);
                }
            }
        }
        Some(tracked)
    }

    fn learn_context(&mut self, snapshot: &Snapshot) {
        self.context.port_ranges = snapshot.port_ranges.clone();
        self.context.interfaces = snapshot.namespaces.iter().map(|n| (n.inode, n.interfaces.clone())).collect();
    }

    /// The facts of a socket, described against `snapshot` (owners,
    /// processes, users) or, for a destroy message, against what the engine
    /// knows (scope, port facts, the listener it belongs to).
    fn facts(&self, socket: &Socket, snapshot: Option<&Snapshot>, open_seen: bool) -> SocketFacts {
        let interfaces = self.context.interfaces.get(&socket.netns).map(Vec::as_slice).unwrap_or(&[]);
        let bind_scope = scope_of(socket.local.ip(), interfaces);
        let scope = bind_scope.kind();
        let interface = match bind_scope {
            BindScope::Address { interface } => interface,
            _ => None,
        };
        let (owners, uid, user, inode) = match snapshot {
            Some(snapshot) => (
                self.shared_owners(socket, snapshot),
                Some(socket.uid),
                snapshot.users.get(&socket.uid).cloned(),
                (socket.inode != 0).then_some(socket.inode),
            ),
            None => (Owners::from([]), None, None, None),
        };
        SocketFacts {
            protocol: socket.protocol,
            family: socket.family,
            local: socket.local.into(),
            remote: socket.remote.map(Endpoint::from),
            state: socket.state,
            netns: socket.netns,
            inode,
            uid,
            user,
            v6only: snapshot.and(socket.v6only),
            scope,
            interface,
            port_facts: PortFacts::of(socket.local.port(), socket.protocol, &self.context.port_ranges),
            owners,
            listener: socket.remote.and_then(|remote| self.listener_of(socket, remote)),
            open_seen,
            lifetime: None,
            bytes_in: None,
            bytes_out: None,
            was_listening: None,
        }
    }

    /// The local listener a connection belongs to: one on its local port
    /// (it is the accepted end), else one on its remote port when the peer
    /// is on this machine (it is the client end).
    fn listener_of(&self, socket: &Socket, remote: SocketAddr) -> Option<ListenerRef> {
        let on_port = |port: u16, ip: IpAddr| {
            self.listeners_by_port.get(&(socket.protocol, socket.netns, port)).and_then(|keys| {
                keys.iter()
                    .filter_map(|key| self.live.get(key))
                    .find(|t| covers(t.facts.local.address, ip))
                    .map(|t| ListenerRef { local: t.facts.local, owners: t.facts.owners.clone() })
            })
        };
        if let Some(found) = on_port(socket.local.port(), socket.local.ip()) {
            return Some(found);
        }
        let interfaces = self.context.interfaces.get(&socket.netns).map(Vec::as_slice).unwrap_or(&[]);
        let peer_is_here = scope_of(remote.ip(), interfaces) != BindScope::Address { interface: None }
            && !remote.ip().is_unspecified();
        if peer_is_here {
            return on_port(remote.port(), remote.ip());
        }
        None
    }
}

/// Does a listener bound to `bound` take connections to `ip`?
fn covers(bound: IpAddr, ip: IpAddr) -> bool {
    let unmap = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    bound.is_unspecified() || unmap(bound) == unmap(ip)
}

fn find<'a>(snapshot: &'a Snapshot, key: &SocketKey) -> Option<&'a Socket> {
    snapshot.sockets.iter().find(|s| s.key() == *key)
}

fn owners_of(socket: &Socket, snapshot: &Snapshot) -> Owners {
    if socket.owners.is_empty() {
        return Owners::from([]);
    }
    socket
        .owners
        .iter()
        .map(|owner| {
            let process = snapshot.processes.get(&owner.pid);
            EventOwner {
                pid: owner.pid,
                name: process.map(|p| p.name.clone()),
                cmdline: process.map(|p| p.cmdline.clone()).unwrap_or_default(),
                uid: process.map(|p| p.uid),
                user: process.and_then(|p| p.user.clone()),
            }
        })
        .collect()
}

/// Payload bytes received and sent, from the socket's tcp_info.
fn bytes_of(socket: &Socket) -> (Option<u64>, Option<u64>) {
    match &socket.tcp_counters {
        Some(counters) => (counters.bytes_received, counters.bytes_sent),
        None => (None, None),
    }
}

fn lifetime_since(closed: Instant, first_seen: Instant, younger_than: Option<Instant>) -> Lifetime {
    Lifetime {
        at_least_ms: ms(closed.saturating_duration_since(first_seen)),
        at_most_ms: younger_than.map(|t| ms(closed.saturating_duration_since(t))),
    }
}

/// How long a socket no dump saw can have lived, closed as of `received`:
/// since the start of the last dump that had finished before its message
/// came (had it been there all that dump's walk, the dump would have seen
/// it). None when no dump finished before it.
fn unseen_since(dumps: &VecDeque<(Instant, Instant)>, received: Instant) -> Option<Duration> {
    dumps
        .iter()
        .rev()
        .find(|(_, finished)| *finished <= received)
        .map(|(started, _)| received.saturating_duration_since(*started))
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    //! The engine fed scripted Snapshots (through a scripted Sampler, as the
    //! runner feeds it the kernel's) and scripted close messages: every
    //! open and close once, whichever input saw it first.

    use super::*;
    use berth_inventory::builder::{plain_socket, SnapshotBuilder};
    use berth_inventory::sampler::{Sampler, Scripted};
    use berth_inventory::TcpCounters;

    /// A clock for scripts: instants and wall times `ms` after a fixed start.
    #[derive(Clone, Copy)]
    struct Clock {
        instant: Instant,
        wall: SystemTime,
    }

    impl Clock {
        fn new() -> Clock {
            Clock { instant: Instant::now(), wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_464_000) }
        }
        fn at(&self, ms: u64) -> (SystemTime, Instant) {
            (self.wall + Duration::from_millis(ms), self.instant + Duration::from_millis(ms))
        }
        fn snapshot(&self, ms: u64, build: SnapshotBuilder) -> Snapshot {
            let (wall, instant) = self.at(ms);
            build.taken_at(wall, instant).build()
        }
        /// The destroy message of a TCP socket at `ms`, with byte counters.
        fn closed(&self, ms: u64, local: &str, remote: Option<&str>, bytes: (u64, u64)) -> CloseInput {
            let (at, instant) = self.at(ms);
            let mut socket = plain_socket(Protocol::Tcp, local, remote, SocketState::Close, 0);
            socket.uid = 0;
            socket.tcp_counters = Some(Box::new(TcpCounters {
                bytes_received: Some(bytes.0),
                bytes_sent: Some(bytes.1),
                bytes_acked: Some(bytes.1),
                rtt_us: None,
            }));
            CloseInput::Closed { socket, at, instant }
        }
    }

    /// Feeds `snapshots` (full dumps) through a scripted Sampler; the first
    /// starts the engine.
    struct Script {
        clock: Clock,
        sampler: Sampler<Scripted>,
        engine: Engine,
        events: Vec<WatchEvent>,
    }

    impl Script {
        fn new(clock: Clock, destroy_stream: bool, snapshots: Vec<Snapshot>) -> Script {
            let mut sampler = Sampler::new(Scripted::new(snapshots), Duration::ZERO);
            sampler.sample().expect("a first snapshot");
            let mut engine = Engine::new(destroy_stream);
            let events = engine.start(sampler.latest().expect("sampled"));
            Script { clock, sampler, engine, events }
        }
        /// The next scripted snapshot as a full dump, then as a listener dump.
        fn dump(&mut self) {
            let diff = self.sampler.sample().expect("a scripted snapshot");
            let snapshot = self.sampler.latest().expect("sampled").clone();
            let finished = snapshot.taken;
            self.events.extend(self.engine.on_dump(DumpKind::Listeners, &diff, &snapshot, None, finished));
            self.events.extend(self.engine.on_dump(DumpKind::Full, &diff, &snapshot, None, finished));
        }
        fn close(&mut self, input: CloseInput) {
            self.events.extend(self.engine.on_close(input));
        }
        fn tick(&mut self, ms: u64) {
            let (_, instant) = self.clock.at(ms);
            self.events.extend(self.engine.on_tick(instant));
        }
        /// (kind, local port, remote port) of every event so far.
        fn story(&self) -> Vec<(EventKind, u16, Option<u16>)> {
            self.events
                .iter()
                .map(|e| {
                    let s = e.socket.as_ref();
                    (e.kind, s.map(|s| s.local.port).unwrap_or(0), s.and_then(|s| s.remote.map(|r| r.port)))
                })
                .collect()
        }
        fn last(&self) -> &SocketFacts {
            self.events.last().and_then(|e| e.socket.as_ref()).expect("an event about a socket")
        }
    }

    fn server() -> SnapshotBuilder {
        SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).owner(10, 4242).process(
            4242,
            "python3",
            &["python3", "-m", "http.server"],
        )
    }

    fn with_connection(builder: SnapshotBuilder) -> SnapshotBuilder {
        builder
            .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 11)
            .owner(11, 4242)
            .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 12)
    }

    #[test]
    fn a_connection_a_dump_saw_is_closed_once_by_its_destroy_message() {
        let clock = Clock::new();
        let snapshots = vec![
            clock.snapshot(0, server()),
            clock.snapshot(1000, with_connection(server())),
            clock.snapshot(2000, server()),
            clock.snapshot(3000, server()),
        ];
        let mut script = Script::new(clock, true, snapshots);
        assert_eq!(script.story(), vec![(EventKind::ListenerPresent, 8080, None)]);
        script.dump();
        script.close(script.clock.closed(1500, "127.0.0.1:8080", Some("127.0.0.1:50000"), (201, 300)));
        let closed = script.last().clone();
        assert!(closed.open_seen);
        assert_eq!((closed.bytes_in, closed.bytes_out), (Some(201), Some(300)));
        assert_eq!(closed.owners.first().map(|o| o.pid), Some(4242), "the owner the dump saw");
        let lifetime = closed.lifetime.expect("a lifetime");
        assert_eq!(lifetime.at_least_ms, 500.0);
        assert_eq!(lifetime.at_most_ms, Some(1500.0));
        script.close(script.clock.closed(1500, "127.0.0.1:50000", Some("127.0.0.1:8080"), (301, 200)));
        script.dump();
        script.tick(2500);
        script.dump();
        script.tick(3500);
        assert_eq!(
            script.story(),
            vec![
                (EventKind::ListenerPresent, 8080, None),
                (EventKind::ConnectionOpened, 8080, Some(50000)),
                (EventKind::ConnectionOpened, 50000, Some(8080)),
                (EventKind::ConnectionClosed, 8080, Some(50000)),
                (EventKind::ConnectionClosed, 50000, Some(8080)),
            ],
            "each open and close once, the dump that no longer sees them adds nothing"
        );
    }

    #[test]
    fn a_connection_between_two_dumps_is_one_event_with_what_is_known() {
        let clock = Clock::new();
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, server()), clock.snapshot(1000, server())]);
        script.close(script.clock.closed(400, "127.0.0.1:50001", Some("127.0.0.1:8080"), (101, 100)));
        let facts = script.last().clone();
        assert_eq!(script.events.last().map(|e| e.kind), Some(EventKind::ConnectionClosed));
        assert!(!facts.open_seen);
        assert!(facts.owners.is_empty(), "no owner is invented for a socket no dump saw");
        assert_eq!(facts.uid, None);
        assert_eq!(facts.inode, None);
        let listener = facts.listener.expect("the local listener it connected to");
        assert_eq!(listener.local.port, 8080);
        assert_eq!(listener.owners.first().map(|o| o.pid), Some(4242));
        assert_eq!(facts.lifetime.map(|l| l.at_most_ms), Some(Some(400.0)));
        script.dump();
        assert_eq!(script.engine.summary.short_lived, 1);
        assert_eq!(script.events.len(), 2, "nothing more: {:?}", script.story());
    }

    #[test]
    fn a_socket_that_closed_during_a_dump_is_opened_by_the_dump_and_closed_by_its_message() {
        let clock = Clock::new();
        let mut script = Script::new(
            clock,
            true,
            vec![
                clock.snapshot(0, server()),
                clock.snapshot(1000, with_connection(server())),
                clock.snapshot(2000, server()),
            ],
        );
        // The dump at 1000 saw the connection; its close at 1001 is read after the dump.
        script.dump();
        script.close(script.clock.closed(1001, "127.0.0.1:50000", Some("127.0.0.1:8080"), (1, 1)));
        script.close(script.clock.closed(1001, "127.0.0.1:8080", Some("127.0.0.1:50000"), (1, 1)));
        script.dump();
        script.tick(3000);
        let kinds: Vec<EventKind> = script.story().into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::ListenerPresent,
                EventKind::ConnectionOpened,
                EventKind::ConnectionOpened,
                EventKind::ConnectionClosed,
                EventKind::ConnectionClosed
            ]
        );
    }

    #[test]
    fn without_close_messages_a_dump_reports_the_close_itself() {
        let clock = Clock::new();
        let mut script = Script::new(
            clock,
            false,
            vec![clock.snapshot(0, with_connection(server())), clock.snapshot(1000, server())],
        );
        script.dump();
        script.tick(1000);
        let closes: Vec<&WatchEvent> = script.events.iter().filter(|e| e.kind == EventKind::ConnectionClosed).collect();
        assert_eq!(closes.len(), 2);
        assert!(closes.iter().all(|e| e.source == EventSource::Dump));
    }

    #[test]
    fn with_close_messages_a_dump_close_waits_for_one_then_goes_ahead() {
        let clock = Clock::new();
        let mut script = Script::new(
            clock,
            true,
            vec![clock.snapshot(0, with_connection(server())), clock.snapshot(1000, server())],
        );
        script.dump();
        script.tick(1100);
        assert!(script.events.iter().all(|e| e.kind != EventKind::ConnectionClosed), "within the grace");
        script.tick(1000 + CLOSE_GRACE.as_millis() as u64);
        assert_eq!(script.events.iter().filter(|e| e.kind == EventKind::ConnectionClosed).count(), 2);
    }

    #[test]
    fn a_listener_closes_by_its_message_though_the_message_has_no_inode() {
        let clock = Clock::new();
        let mut script =
            Script::new(clock, true, vec![clock.snapshot(0, server()), clock.snapshot(1000, SnapshotBuilder::new())]);
        script.close(script.clock.closed(500, "127.0.0.1:8080", None, (0, 0)));
        let facts = script.last().clone();
        assert_eq!(script.events.last().map(|e| e.kind), Some(EventKind::ListenerClosed));
        assert_eq!(facts.was_listening, Some(true));
        assert_eq!(facts.owners.first().map(|o| o.pid), Some(4242));
        script.dump();
        script.tick(2000);
        assert_eq!(script.events.iter().filter(|e| e.kind == EventKind::ListenerClosed).count(), 1);
    }

    #[test]
    fn a_listener_between_two_dumps_is_reported_and_not_called_a_listener_for_sure() {
        let clock = Clock::new();
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, SnapshotBuilder::new())]);
        script.close(script.clock.closed(30, "127.0.0.1:9999", None, (0, 0)));
        assert_eq!(script.story(), vec![(EventKind::ListenerClosed, 9999, None)]);
        let facts = script.last();
        assert_eq!(facts.was_listening, None);
        assert!(!facts.open_seen);
    }

    #[test]
    fn reuseport_siblings_wait_for_the_dump_to_say_which_closed() {
        let clock = Clock::new();
        let two = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).tcp_listener("127.0.0.1:8080", 20);
        let one = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 20);
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, two), clock.snapshot(1000, one)]);
        script.close(script.clock.closed(500, "127.0.0.1:8080", None, (0, 0)));
        assert_eq!(script.events.len(), 2, "only the two present: {:?}", script.story());
        script.dump();
        script.tick(1000 + CLOSE_GRACE.as_millis() as u64);
        let closed: Vec<&WatchEvent> = script.events.iter().filter(|e| e.kind == EventKind::ListenerClosed).collect();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].socket.as_ref().and_then(|s| s.inode), Some(10));
    }

    #[test]
    fn a_port_bound_again_beyond_loopback_is_a_scope_change() {
        let clock = Clock::new();
        let wide = SnapshotBuilder::new().tcp_listener("0.0.0.0:8080", 30).owner(30, 5151).process(
            5151,
            "node",
            &["node", "server.js"],
        );
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, server()), clock.snapshot(1000, wide)]);
        script.close(script.clock.closed(500, "127.0.0.1:8080", None, (0, 0)));
        script.dump();
        let kinds: Vec<EventKind> = script.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::ListenerPresent,
                EventKind::ListenerClosed,
                EventKind::ListenerOpened,
                EventKind::ScopeChanged,
                EventKind::OwnerChanged
            ]
        );
        let changed = &script.events[3];
        assert_eq!(changed.previous.as_ref().map(|p| p.scope), Some("loopback"));
        assert_eq!(changed.socket.as_ref().map(|s| s.scope), Some("all"));
        let owner = &script.events[4];
        assert_eq!(owner.previous.as_ref().and_then(|p| p.owners.first()).map(|o| o.pid), Some(4242));
    }

    /// A connection with its cookie, as netlink dumps give it.
    fn with_cookie(local: &str, remote: &str, inode: u64, cookie: u64) -> Socket {
        Socket { cookie, ..plain_socket(Protocol::Tcp, local, Some(remote), SocketState::Established, inode) }
    }

    #[test]
    fn the_resetting_side_is_matched_by_its_cookie_and_noise_is_counted_not_shown() {
        let clock = Clock::new();
        let live = server().socket(with_cookie("127.0.0.1:8080", "127.0.0.1:50000", 11, 501)).socket(with_cookie(
            "127.0.0.1:8080",
            "127.0.0.1:50001",
            13,
            503,
        ));
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, live), clock.snapshot(1000, server())]);
        // The accepted end of 50001 resets: addresses cleared but its port and
        // the peer's address; only its cookie says which of the two it is.
        let CloseInput::Closed { mut socket, at, instant } =
            clock.closed(100, "0.0.0.0:8080", Some("127.0.0.1:0"), (0, 0))
        else {
            unreachable!()
        };
        socket.cookie = 503;
        script.close(CloseInput::Closed { socket, at, instant });
        assert_eq!(script.last().remote.map(|r| r.port), Some(50001), "the one its cookie names");
        // A refused connect, and a socket never used.
        script.close(clock.closed(100, "0.0.0.0:50002", Some("127.0.0.1:0"), (0, 0)));
        script.close(clock.closed(100, "0.0.0.0:0", None, (0, 0)));
        script.tick(100 + RESET_PAIRING.as_millis() as u64 + 1);
        assert_eq!(script.engine.summary.unaddressed_closes, 2);
        assert_eq!(script.events.len(), 2, "{:?}", script.story());
    }

    #[test]
    fn a_short_connection_reset_by_one_end_is_two_closes_with_whole_addresses() {
        let clock = Clock::new();
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, server())]);
        // The client resets (SO_LINGER 0): its message first, then the server end's.
        script.close(clock.closed(10, "0.0.0.0:50010", Some("127.0.0.1:0"), (0, 0)));
        script.close(clock.closed(11, "127.0.0.1:8080", Some("127.0.0.1:50010"), (4, 4)));
        let mut story = script.story();
        story.sort();
        assert_eq!(
            story,
            vec![
                (EventKind::ListenerPresent, 8080, None),
                (EventKind::ConnectionClosed, 8080, Some(50010)),
                (EventKind::ConnectionClosed, 50010, Some(8080)),
            ]
        );
        let reset = script.events.iter().find(|e| e.local().is_some_and(|l| l.port() == 50010)).expect("the reset end");
        let facts = reset.socket.as_ref().expect("facts");
        assert_eq!((facts.bytes_in, facts.bytes_out), (None, None), "its counters were cleared: none invented");
        // The other order: the server end first.
        script.close(clock.closed(20, "127.0.0.1:8080", Some("127.0.0.1:50011"), (4, 4)));
        script.close(clock.closed(21, "0.0.0.0:50011", Some("127.0.0.1:0"), (0, 0)));
        assert!(script.events.iter().any(|e| e.local().is_some_and(|l| l.port() == 50011)));
        assert_eq!(script.engine.summary.unaddressed_closes, 0);
    }

    #[test]
    fn a_later_connection_on_the_same_four_addresses_is_a_new_socket() {
        let clock = Clock::new();
        let first = server().socket(with_cookie("127.0.0.1:50020", "127.0.0.1:8080", 21, 601));
        let second = server().socket(with_cookie("127.0.0.1:50020", "127.0.0.1:8080", 22, 602));
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, first), clock.snapshot(1000, second)]);
        let CloseInput::Closed { mut socket, at, instant } =
            clock.closed(500, "127.0.0.1:50020", Some("127.0.0.1:8080"), (1, 1))
        else {
            unreachable!()
        };
        socket.cookie = 601;
        script.close(CloseInput::Closed { socket, at, instant });
        script.dump();
        let kinds: Vec<EventKind> = script.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::ListenerPresent, EventKind::ConnectionClosed, EventKind::ConnectionOpened]);
        assert_eq!(script.events[2].socket.as_ref().and_then(|s| s.inode), Some(22), "the second one is opened");
    }

    #[test]
    fn a_listener_after_reuseport_siblings_closed_is_still_reported() {
        let clock = Clock::new();
        let two = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).tcp_listener("127.0.0.1:8080", 20);
        let mut script =
            Script::new(clock, true, vec![clock.snapshot(0, two), clock.snapshot(1000, SnapshotBuilder::new())]);
        script.close(clock.closed(500, "127.0.0.1:8080", None, (0, 0)));
        script.close(clock.closed(500, "127.0.0.1:8080", None, (0, 0)));
        script.dump();
        script.tick(1000 + CLOSE_GRACE.as_millis() as u64);
        // A short listener on the same address a moment later.
        script.close(clock.closed(1400, "127.0.0.1:8080", None, (0, 0)));
        let closes = script.events.iter().filter(|e| e.kind == EventKind::ListenerClosed).count();
        assert_eq!(closes, 3, "two siblings and the short one: {:?}", script.story());
    }

    #[test]
    fn an_overflow_is_a_missed_span_ended_by_the_next_full_dump() {
        let clock = Clock::new();
        let mut script = Script::new(clock, true, vec![clock.snapshot(0, server()), clock.snapshot(1000, server())]);
        script.close(script.clock.closed(100, "127.0.0.1:50003", Some("127.0.0.1:8080"), (1, 1)));
        let (at, _) = script.clock.at(200);
        script.close(CloseInput::Overflow { at, reason: MissedReason::KernelBuffer });
        assert!(!script.engine.wants_fresh_dump(), "not before the feed caught up");
        script.engine.caught_up();
        assert!(script.engine.wants_fresh_dump());
        script.dump();
        let missed = script.events.iter().find(|e| e.kind == EventKind::Missed).expect("a missed event");
        let span = missed.missed.expect("its span");
        assert_eq!(span.from, script.clock.at(100).0, "from the last event handled");
        assert_eq!(span.to, script.clock.at(1000).0, "to the fresh dump");
        assert!(!script.engine.wants_fresh_dump());
        assert_eq!(script.engine.summary.missed_spans, 1);
    }
}
