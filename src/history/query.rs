//! What `berth history` asks of the file: the events, what listened at a
//! time, every listener ever seen, the busiest peers of a port.
//!
//! The time range and the port narrow in SQL (the indexes on time and on
//! local port); for the listener views the owner filters (`--pid`,
//! `--process`, `--exposed`) apply to the answer, not to the events read,
//! since a listener's close (from the kernel's destroy message) carries no
//! owner and must still end what it closes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use serde::Serialize;

use super::codec::{self, Stored, SELECT};
use super::recorder::writer_running;
use super::{schema, HistoryError};
use crate::analysis::report::Endpoint;
use crate::watch::event::{time_of_unix_micros, unix_micros_of, EventKind, EventOwner, SocketFacts, WatchEvent};
use berth_inventory::scope::is_loopback;
use berth_inventory::{Family, Protocol};

/// The filters every view takes (those of `ls`, and a time range).
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Local or remote port (or the port of the connection's listener).
    pub port: Option<u16>,
    pub pid: Option<u32>,
    /// Substring of an owner's name or argv[0], any case.
    pub process: Option<String>,
    pub tcp: bool,
    pub udp: bool,
    /// Only sockets bound beyond loopback.
    pub exposed: bool,
}

impl HistoryFilter {
    fn wants(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Tcp => self.tcp || !self.udp,
            Protocol::Udp => self.udp || !self.tcp,
        }
    }

    /// Does an owner list pass `--pid` and `--process`?
    fn owners_match(&self, owners: &[EventOwner]) -> bool {
        if let Some(pid) = self.pid {
            if !owners.iter().any(|o| o.pid == pid) {
                return false;
            }
        }
        if let Some(wanted) = &self.process {
            let wanted = wanted.to_lowercase();
            let named = owners.iter().any(|o| {
                crate::analysis::filter::process_named(
                    &wanted,
                    o.name.as_deref(),
                    o.cmdline.first().map(String::as_str),
                )
            });
            if !named {
                return false;
            }
        }
        true
    }

    /// Does an event pass every filter but the time?
    fn event_matches(&self, event: &WatchEvent) -> bool {
        let Some(socket) = &event.socket else {
            // berth's own events (started, missed, summary) are about no socket.
            return self.port.is_none() && self.pid.is_none() && self.process.is_none() && !self.exposed;
        };
        if !self.wants(socket.protocol) {
            return false;
        }
        if let Some(port) = self.port {
            let on_port = socket.local.port == port
                || socket.remote.is_some_and(|r| r.port == port)
                || socket.listener.as_ref().is_some_and(|l| l.local.port == port);
            if !on_port {
                return false;
            }
        }
        let owners_ok = self.owners_match(&socket.owners)
            || socket.listener.as_ref().is_some_and(|l| !l.owners.is_empty() && self.owners_match(&l.owners));
        if (self.pid.is_some() || self.process.is_some()) && !owners_ok {
            return false;
        }
        !(self.exposed && is_loopback(socket.local.address))
    }
}

/// The reader of one history file.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

/// A listener and who held it, at a time or over the history.
#[derive(Clone, Debug, Serialize)]
pub struct ListenerSeen {
    pub protocol: Protocol,
    pub family: Family,
    pub netns: u64,
    pub local: Endpoint,
    pub scope: &'static str,
    pub interface: Option<String>,
    /// Who held it (at the time asked, or last seen).
    pub owners: Vec<EventOwner>,
    /// Every process seen holding it (listeners view), first seen first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<EventOwner>>,
    #[serde(serialize_with = "rfc3339")]
    pub first_seen: SystemTime,
    #[serde(serialize_with = "unix_us")]
    pub first_seen_unix_us: SystemTime,
    /// Null while it is still open in a running watch.
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_seen: Option<SystemTime>,
    #[serde(serialize_with = "unix_us_opt")]
    pub last_seen_unix_us: Option<SystemTime>,
    /// Open in the watch that is still running (listeners), or at the time asked (at).
    pub open: bool,
    /// The run that saw it last.
    pub run: i64,
}

/// A remote address and what it did with a port.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    pub protocol: Protocol,
    pub port: u16,
    pub remote_address: String,
    pub connections: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(serialize_with = "rfc3339")]
    pub last_seen: SystemTime,
    #[serde(serialize_with = "unix_us")]
    pub last_seen_unix_us: SystemTime,
}

/// An event as `history events --json` prints it: the watch's event and its run.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEvent {
    pub run: i64,
    #[serde(flatten)]
    pub event: WatchEvent,
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_micros(*time))
}

fn unix_us<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(unix_micros_of(*time))
}

fn rfc3339_opt<S: serde::Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

fn unix_us_opt<S: serde::Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => unix_us(t, s),
        None => s.serialize_none(),
    }
}

/// A run's last moment: its end, or (killed) its last heartbeat.
#[derive(Clone, Copy, Debug)]
struct RunSpan {
    last: i64,
    ended: bool,
}

fn micros(time: SystemTime) -> i64 {
    i64::try_from(unix_micros_of(time)).unwrap_or(i64::MAX)
}

/// Which socket an event is about, for following a listener over time.
type ListenerKey = (Protocol, u64, std::net::IpAddr, u16);

fn key_of(socket: &SocketFacts) -> ListenerKey {
    (socket.protocol, socket.netns, socket.local.address, socket.local.port)
}

/// The kinds that say something about a listener, in SQL.
const LISTENER_KINDS: &str =
    "('listener-present', 'listener-opened', 'listener-closed', 'owner-changed', 'scope-changed')";

impl History {
    /// Opens the file for reading; a missing file is [`HistoryError::Missing`].
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        Ok(History { conn: schema::open_for_reading(path)?, path: path.to_path_buf() })
    }

    fn sqlite(&self) -> impl FnOnce(rusqlite::Error) -> HistoryError + '_ {
        HistoryError::sqlite(&self.path)
    }

    /// Rows of `SELECT` with `conditions` (and their values), oldest first.
    fn select(&self, conditions: &[String], values: Vec<Value>) -> Result<Vec<Stored>, HistoryError> {
        let mut rows = Vec::new();
        self.scan(conditions, values, |stored| {
            rows.push(stored);
            Ok::<(), HistoryError>(())
        })?;
        Ok(rows)
    }

    /// Calls `each` with the rows of `SELECT` with `conditions`, oldest
    /// first, as they are read. An error of `each` stops the reading.
    fn scan<E: From<HistoryError>>(
        &self,
        conditions: &[String],
        values: Vec<Value>,
        mut each: impl FnMut(Stored) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut sql = format!("SELECT {SELECT} FROM events e");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY e.time_us, e.id");
        let mut statement = self.conn.prepare(&sql).map_err(self.sqlite())?;
        let rows = statement.query_map(params_from_iter(values), codec::event_of).map_err(self.sqlite())?;
        for row in rows {
            each(row.map_err(self.sqlite())?)?;
        }
        Ok(())
    }

    /// The SQL narrowing by time, port and protocol (the rest is [`HistoryFilter::event_matches`]).
    fn narrowing(
        filter: &HistoryFilter,
        until: Option<SystemTime>,
        local_port_only: bool,
    ) -> (Vec<String>, Vec<Value>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if let Some(since) = filter.since {
            values.push(Value::Integer(micros(since)));
            conditions.push(format!("e.time_us >= ?{}", values.len()));
        }
        if let Some(until) = until {
            values.push(Value::Integer(micros(until)));
            conditions.push(format!("e.time_us <= ?{}", values.len()));
        }
        if let Some(port) = filter.port {
            values.push(Value::Integer(i64::from(port)));
            let n = values.len();
            conditions.push(if local_port_only {
                format!("e.local_port = ?{n}")
            } else {
                format!("(e.local_port = ?{n} OR e.remote_port = ?{n} OR e.listener_port = ?{n})")
            });
        }
        if filter.tcp != filter.udp {
            conditions.push(format!("e.protocol = '{}'", if filter.tcp { "tcp" } else { "udp" }));
        }
        (conditions, values)
    }

    /// The events that pass `filter`, oldest first, in memory (tests).
    #[cfg(test)]
    pub fn events(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEvent>, crate::error::Error> {
        let mut events = Vec::new();
        self.each_event(filter, |event| {
            events.push(event);
            Ok(())
        })?;
        Ok(events)
    }

    /// Calls `each` with every event that passes `filter`, oldest first, as
    /// they are read (a week of a busy machine does not fit in memory);
    /// returns how many. An error of `each` (a write) stops the reading.
    pub fn each_event(
        &self,
        filter: &HistoryFilter,
        mut each: impl FnMut(HistoryEvent) -> Result<(), crate::error::Error>,
    ) -> Result<usize, crate::error::Error> {
        let (conditions, values) = Self::narrowing(filter, filter.until, false);
        let mut count = 0;
        self.scan(&conditions, values, |stored| {
            if filter.event_matches(&stored.event) {
                each(HistoryEvent { run: stored.run, event: stored.event })?;
                count += 1;
            }
            Ok::<(), crate::error::Error>(())
        })?;
        Ok(count)
    }

    fn runs(&self) -> Result<BTreeMap<i64, RunSpan>, HistoryError> {
        let mut statement = self.conn.prepare("SELECT id, heartbeat_us, ended_us FROM runs").map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |row| {
                let ended: Option<i64> = row.get(2)?;
                Ok((row.get::<_, i64>(0)?, RunSpan { last: ended.unwrap_or(row.get(1)?), ended: ended.is_some() }))
            })
            .map_err(self.sqlite())?;
        rows.collect::<Result<BTreeMap<_, _>, _>>().map_err(self.sqlite())
    }

    /// The listener events (open, present, close, owner and scope
    /// changes) on the filter's port and protocol up to `until`, oldest first.
    fn listener_events(&self, filter: &HistoryFilter, until: Option<SystemTime>) -> Result<Vec<Stored>, HistoryError> {
        let narrow = HistoryFilter { since: None, ..filter.clone() };
        // A listener's own events: those on its local port.
        let (mut conditions, values) = Self::narrowing(&narrow, until, true);
        conditions.push(format!("e.kind IN {LISTENER_KINDS}"));
        conditions.push("e.state IN ('LISTEN', 'UNCONN')".to_string());
        let rows = self.select(&conditions, values)?;
        Ok(rows)
    }

    /// What listened at `at` (on the filter's port), and who held it: the
    /// latest listener-present or -opened at or before `at`, not closed
    /// after it by `at`, in a run that was still going at `at`.
    pub fn at(&self, at: SystemTime, filter: &HistoryFilter) -> Result<Vec<ListenerSeen>, HistoryError> {
        let mut runs = self.runs()?;
        // The run a watch is still writing goes on until now, however
        // quiet it has been since its last heartbeat.
        if writer_running(&self.path).is_some() {
            if let Some(run) = runs.values_mut().next_back().filter(|r| !r.ended) {
                run.last = i64::MAX;
            }
        }
        let t = micros(at);
        let mut open: BTreeMap<ListenerKey, ListenerSeen> = BTreeMap::new();
        for stored in self.listener_events(filter, Some(at))? {
            let Some(socket) = &stored.event.socket else { continue };
            let key = key_of(socket);
            match stored.event.kind {
                EventKind::ListenerPresent | EventKind::ListenerOpened => {
                    open.insert(key, seen_from(&stored, socket));
                }
                EventKind::ListenerClosed => {
                    open.remove(&key);
                }
                EventKind::OwnerChanged | EventKind::ScopeChanged => match open.get_mut(&key) {
                    Some(seen) if !socket.owners.is_empty() => seen.owners = socket.owners.to_vec(),
                    Some(_) => {}
                    None if stored.event.kind == EventKind::ScopeChanged => {
                        open.insert(key, seen_from(&stored, socket));
                    }
                    None => {}
                },
                _ => {}
            }
        }
        let mut answer: Vec<ListenerSeen> = open
            .into_values()
            .filter(|seen| runs.get(&seen.run).is_some_and(|r| r.last >= t))
            .filter(|seen| seen_matches(filter, seen))
            .map(|mut seen| {
                seen.open = true;
                seen
            })
            .collect();
        sort_listeners(&mut answer);
        Ok(answer)
    }

    /// Every listener ever seen (in the time range), with its owners, when
    /// it was first and last seen, and whether it is open in a watch still running.
    pub fn listeners(&self, filter: &HistoryFilter) -> Result<Vec<ListenerSeen>, HistoryError> {
        let runs = self.runs()?;
        let running = writer_running(&self.path).is_some();
        let latest_run = runs.keys().next_back().copied();
        let mut all: BTreeMap<ListenerKey, (ListenerSeen, bool)> = BTreeMap::new();
        for stored in self.listener_events(filter, filter.until)? {
            let Some(socket) = &stored.event.socket else { continue };
            let in_range = filter.since.is_none_or(|since| stored.event.time >= since);
            let key = key_of(socket);
            let time = stored.event.time;
            let entry = all.entry(key).or_insert_with(|| {
                let mut seen = seen_from(&stored, socket);
                seen.processes = Some(Vec::new());
                (seen, false)
            });
            let (seen, seen_in_range) = entry;
            *seen_in_range |= in_range;
            seen.run = stored.run;
            seen.last_seen = Some(time);
            seen.last_seen_unix_us = Some(time);
            seen.scope = socket.scope;
            seen.interface = socket.interface.clone();
            if !socket.owners.is_empty() {
                seen.owners = socket.owners.to_vec();
                let processes = seen.processes.get_or_insert_with(Vec::new);
                for owner in socket.owners.iter() {
                    if !processes.iter().any(|p| p.pid == owner.pid && p.name == owner.name) {
                        processes.push(owner.clone());
                    }
                }
            }
            seen.open = stored.event.kind != EventKind::ListenerClosed;
        }
        let mut answer: Vec<ListenerSeen> = all
            .into_values()
            .filter(|(_, in_range)| *in_range)
            .map(|(mut seen, _)| {
                // Open: its last event opened it, in the run that is still
                // going. A run that ended (or was killed) closed nothing:
                // its last sighting is its run's last moment.
                let run = runs.get(&seen.run);
                let still_listening = seen.open;
                seen.open = seen.open && running && Some(seen.run) == latest_run && run.is_some_and(|r| !r.ended);
                if seen.open {
                    seen.last_seen = None;
                    seen.last_seen_unix_us = None;
                } else if let Some(run) = run.filter(|_| still_listening) {
                    // Still listening when its run stopped watching: seen until then.
                    let last = time_of_unix_micros(u64::try_from(run.last).unwrap_or(0));
                    seen.last_seen = Some(last);
                    seen.last_seen_unix_us = Some(last);
                }
                seen
            })
            .filter(|seen| seen_matches(filter, seen))
            .collect();
        sort_listeners(&mut answer);
        Ok(answer)
    }

    /// The busiest peers of `port` (its accepted connections' remote
    /// addresses): connections, bytes, last seen; most connections first.
    pub fn peers(&self, port: u16, filter: &HistoryFilter) -> Result<Vec<Peer>, HistoryError> {
        let narrow = HistoryFilter { port: Some(port), ..filter.clone() };
        let (mut conditions, values) = Self::narrowing(&narrow, filter.until, true);
        conditions.push("e.kind IN ('connection-opened', 'connection-closed')".to_string());
        conditions.push("e.remote_address IS NOT NULL".to_string());
        let mut peers: BTreeMap<(Protocol, String), (Peer, u64, u64)> = BTreeMap::new();
        // Aggregated as read: a week of connections does not fit in memory.
        self.scan(&conditions, values, |stored| {
            if !filter.event_matches(&stored.event) {
                return Ok::<(), HistoryError>(());
            }
            let Some(socket) = &stored.event.socket else { return Ok(()) };
            let Some(remote) = socket.remote else { return Ok(()) };
            let address = remote.address.to_string();
            let time = stored.event.time;
            let (peer, opened, closes_seen_open) =
                peers.entry((socket.protocol, address.clone())).or_insert_with(|| {
                    (
                        Peer {
                            protocol: socket.protocol,
                            port,
                            remote_address: address,
                            connections: 0,
                            bytes_in: 0,
                            bytes_out: 0,
                            last_seen: time,
                            last_seen_unix_us: time,
                        },
                        0,
                        0,
                    )
                });
            peer.last_seen = time;
            peer.last_seen_unix_us = time;
            match stored.event.kind {
                EventKind::ConnectionOpened => *opened += 1,
                _ => {
                    // A close stands for its connection; one whose open was
                    // seen was counted by that open already.
                    peer.connections += 1;
                    if socket.open_seen {
                        *closes_seen_open += 1;
                    }
                    peer.bytes_in += socket.bytes_in.unwrap_or(0);
                    peer.bytes_out += socket.bytes_out.unwrap_or(0);
                }
            }
            Ok(())
        })?;
        let mut answer: Vec<Peer> = peers
            .into_values()
            .map(|(mut peer, opened, closes_seen_open)| {
                // Opens not yet closed, besides the closes.
                peer.connections += opened.saturating_sub(closes_seen_open);
                peer
            })
            .collect();
        answer.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(b.last_seen.cmp(&a.last_seen))
                .then(a.remote_address.cmp(&b.remote_address))
        });
        Ok(answer)
    }
}

fn seen_from(stored: &Stored, socket: &SocketFacts) -> ListenerSeen {
    let time = stored.event.time;
    ListenerSeen {
        protocol: socket.protocol,
        family: socket.family,
        netns: socket.netns,
        local: socket.local,
        scope: socket.scope,
        interface: socket.interface.clone(),
        owners: socket.owners.to_vec(),
        processes: None,
        first_seen: time,
        first_seen_unix_us: time,
        last_seen: Some(time),
        last_seen_unix_us: Some(time),
        open: false,
        run: stored.run,
    }
}

fn seen_matches(filter: &HistoryFilter, seen: &ListenerSeen) -> bool {
    if filter.exposed && is_loopback(seen.local.address) {
        return false;
    }
    if filter.pid.is_none() && filter.process.is_none() {
        return true;
    }
    filter.owners_match(&seen.owners) || seen.processes.as_ref().is_some_and(|p| filter.owners_match(p))
}

fn sort_listeners(listeners: &mut [ListenerSeen]) {
    listeners.sort_by(|a, b| {
        (a.local.port, a.protocol, a.netns, a.local.address).cmp(&(b.local.port, b.protocol, b.netns, b.local.address))
    });
}
