//! One [`WatchEvent`] as one row of `events`, and the row back as the
//! event (what `berth history events --json` prints: the schema of
//! `berth watch --json`).
//!
//! What does not come back exactly: a state the kernel numbered beyond
//! what berth knows reads back as `UNKNOWN` (0), and `NEW_SYN_RECV` as
//! `SYN_RECV` (they print alike); a port's service name is looked up again.

use std::net::IpAddr;

use rusqlite::types::Value;
use rusqlite::Row;
use serde_json::json;

use crate::analysis::report::Endpoint;
use crate::watch::event::{
    time_of_unix_micros, unix_micros_of, AlertFacts, AlertName, EventKind, EventOwner, EventSource, Lifetime,
    ListenerRef, MissedReason, MissedSpan, Previous, SocketFacts, Summary, WatchEvent, Watching,
};
use berth_inventory::port_facts::{PortClass, PortFacts};
use berth_inventory::services::service_name;
use berth_inventory::{Family, Protocol, SocketState};

/// The columns [`values`] fills, in its order (after `run_id`).
pub const COLUMNS: &str = "time_us, kind, source, protocol, family, netns, local_address, local_port, \
     remote_address, remote_port, state, inode, uid, user, scope, interface, ephemeral, reserved, pid, process, \
     owners, listener_address, listener_port, listener_owners, open_seen, lifetime_min_ms, lifetime_max_ms, \
     bytes_in, bytes_out, was_listening, alert, alert_reason, alert_event_kind, extra, v6only";

/// How many columns [`COLUMNS`] names.
pub const COLUMN_COUNT: usize = 35;

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn opt_text(s: Option<impl Into<String>>) -> Value {
    s.map_or(Value::Null, text)
}

fn int(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

fn opt_int(n: Option<impl Into<i64>>) -> Value {
    n.map_or(Value::Null, int)
}

/// u64 into SQLite's i64 (inodes and byte counts never reach 2^63; a
/// larger one saturates rather than wraps).
fn big(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn owners_json(owners: &[EventOwner]) -> String {
    serde_json::to_string(owners).unwrap_or_else(|_| "[]".to_string())
}

/// The row's values for `event`, in [`COLUMNS`] order.
pub fn values(event: &WatchEvent) -> Vec<Value> {
    let mut row = Vec::with_capacity(COLUMN_COUNT);
    row.push(big(unix_micros_of(event.time)));
    row.push(text(event.kind.word()));
    row.push(text(source_word(event.source)));
    match &event.socket {
        Some(s) => {
            row.push(text(s.protocol.name()));
            row.push(text(family_word(s.family)));
            row.push(big(s.netns));
            row.push(text(s.local.address.to_string()));
            row.push(int(s.local.port));
            row.push(opt_text(s.remote.map(|r| r.address.to_string())));
            row.push(opt_int(s.remote.map(|r| r.port)));
            row.push(text(s.state.name()));
            row.push(s.inode.map_or(Value::Null, big));
            row.push(opt_int(s.uid));
            row.push(opt_text(s.user.clone()));
            row.push(text(s.scope));
            row.push(opt_text(s.interface.clone()));
            row.push(int(s.port_facts.ephemeral));
            row.push(int(s.port_facts.reserved));
            row.push(opt_int(s.owners.first().map(|o| o.pid)));
            row.push(opt_text(s.owners.first().and_then(|o| o.name.clone())));
            row.push(text(owners_json(&s.owners)));
            row.push(opt_text(s.listener.as_ref().map(|l| l.local.address.to_string())));
            row.push(opt_int(s.listener.as_ref().map(|l| l.local.port)));
            row.push(opt_text(s.listener.as_ref().map(|l| owners_json(&l.owners))));
            row.push(int(s.open_seen));
            row.push(s.lifetime.map_or(Value::Null, |l| Value::Real(l.at_least_ms)));
            row.push(s.lifetime.and_then(|l| l.at_most_ms).map_or(Value::Null, Value::Real));
            row.push(s.bytes_in.map_or(Value::Null, big));
            row.push(s.bytes_out.map_or(Value::Null, big));
            row.push(opt_int(s.was_listening));
        }
        None => row.extend(std::iter::repeat_n(Value::Null, 27)),
    }
    match &event.alert {
        Some(a) => {
            row.push(text(a.name.word()));
            row.push(text(a.reason.clone()));
            row.push(text(a.event_kind.word()));
        }
        None => row.extend(std::iter::repeat_n(Value::Null, 3)),
    }
    row.push(opt_text(extra(event)));
    row.push(opt_int(event.socket.as_ref().and_then(|s| s.v6only)));
    debug_assert_eq!(row.len(), COLUMN_COUNT);
    row
}

/// The JSON of what is only shown: previous, missed, watching, summary.
fn extra(event: &WatchEvent) -> Option<String> {
    let mut object = serde_json::Map::new();
    if let Some(p) = &event.previous {
        object.insert(
            "previous".into(),
            json!({"address": p.local.address.to_string(), "port": p.local.port, "scope": p.scope, "owners": p.owners}),
        );
    }
    if let Some(m) = &event.missed {
        object.insert(
            "missed".into(),
            json!({"from_us": unix_micros_of(m.from), "to_us": unix_micros_of(m.to), "reason": m.reason}),
        );
    }
    if let Some(w) = &event.watching {
        object.insert("watching".into(), json!(w));
    }
    if let Some(s) = &event.summary {
        object.insert("summary".into(), json!(s));
    }
    (!object.is_empty()).then(|| serde_json::Value::Object(object).to_string())
}

pub fn source_word(source: EventSource) -> &'static str {
    match source {
        EventSource::Dump => "dump",
        EventSource::Destroy => "destroy",
        EventSource::Berth => "berth",
    }
}

fn family_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

pub fn protocol_of(word: &str) -> Option<Protocol> {
    match word {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// The `&'static str` scope words of [`SocketFacts::scope`].
pub fn scope_of(word: &str) -> &'static str {
    match word {
        "loopback" => "loopback",
        "all" => "all",
        "address" => "address",
        _ => "unknown",
    }
}

fn state_of(protocol: Protocol, name: &str) -> SocketState {
    SocketState::from_name(protocol, name).unwrap_or(SocketState::Unknown(0))
}

/// Owners from their JSON (an unreadable array is no owners).
pub fn owners_of(json: Option<String>) -> Vec<EventOwner> {
    json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default()
}

fn ip_of(text: Option<String>) -> Option<IpAddr> {
    text.and_then(|t| t.parse().ok())
}

fn endpoint(address: Option<String>, port: Option<i64>) -> Option<Endpoint> {
    Some(Endpoint { address: ip_of(address)?, port: u16::try_from(port?).ok()? })
}

fn u64_of(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

/// The columns [`event_of`] reads, in its order.
pub const SELECT: &str = "e.id, e.run_id, e.time_us, e.kind, e.source, e.protocol, e.family, e.netns, \
     e.local_address, e.local_port, e.remote_address, e.remote_port, e.state, e.inode, e.uid, e.user, e.scope, \
     e.interface, e.ephemeral, e.reserved, e.owners, e.listener_address, e.listener_port, e.listener_owners, \
     e.open_seen, e.lifetime_min_ms, e.lifetime_max_ms, e.bytes_in, e.bytes_out, e.was_listening, e.alert, \
     e.alert_reason, e.alert_event_kind, e.extra, e.v6only";

/// A stored event: its row id, its run, and the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub id: i64,
    pub run: i64,
    pub event: WatchEvent,
}

/// The event of a row selected with [`SELECT`].
pub fn event_of(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let id: i64 = row.get(0)?;
    let run: i64 = row.get(1)?;
    let time = time_of_unix_micros(u64_of(row.get(2)?).unwrap_or(0));
    let kind_word: String = row.get(3)?;
    let kind = EventKind::from_word(&kind_word).unwrap_or(EventKind::Missed);
    let source = match row.get::<_, String>(4)?.as_str() {
        "dump" => EventSource::Dump,
        "destroy" => EventSource::Destroy,
        _ => EventSource::Berth,
    };
    let protocol: Option<String> = row.get(5)?;
    let socket = match protocol.as_deref().and_then(protocol_of) {
        Some(protocol) => {
            let local = endpoint(row.get(8)?, row.get(9)?)
                .unwrap_or(Endpoint { address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port: 0 });
            let family = match row.get::<_, Option<String>>(6)?.as_deref() {
                Some("ipv6") => Family::V6,
                _ => Family::V4,
            };
            let scope: Option<String> = row.get(16)?;
            let state: Option<String> = row.get(12)?;
            let listener = endpoint(row.get(21)?, row.get(22)?)
                .map(|local| ListenerRef { local, owners: owners_of(row.get(23).ok().flatten()).into() });
            let lifetime_min: Option<f64> = row.get(25)?;
            let lifetime_max: Option<f64> = row.get(26)?;
            let ephemeral: Option<bool> = row.get(18)?;
            let reserved: Option<bool> = row.get(19)?;
            Some(SocketFacts {
                protocol,
                family,
                local,
                remote: endpoint(row.get(10)?, row.get(11)?),
                state: state_of(protocol, state.as_deref().unwrap_or("")),
                netns: u64_of(row.get(7)?).unwrap_or(0),
                inode: u64_of(row.get(13)?),
                uid: row.get::<_, Option<i64>>(14)?.and_then(|n| u32::try_from(n).ok()),
                user: row.get(15)?,
                v6only: row.get(34)?,
                scope: scope_of(scope.as_deref().unwrap_or("")),
                interface: row.get(17)?,
                port_facts: PortFacts {
                    port_class: PortClass::of(local.port),
                    ephemeral: ephemeral.unwrap_or(false),
                    reserved: reserved.unwrap_or(false),
                    service: service_name(local.port, protocol),
                },
                owners: owners_of(row.get(20)?).into(),
                listener,
                open_seen: row.get::<_, Option<bool>>(24)?.unwrap_or(true),
                lifetime: lifetime_min.map(|at_least_ms| Lifetime { at_least_ms, at_most_ms: lifetime_max }),
                bytes_in: u64_of(row.get(27)?),
                bytes_out: u64_of(row.get(28)?),
                was_listening: row.get(29)?,
            })
        }
        None => None,
    };
    let alert_name: Option<String> = row.get(30)?;
    let alert = alert_name.and_then(|name| {
        let name = match name.as_str() {
            "exposed" => AlertName::Exposed,
            "new" => AlertName::New,
            "policy" => AlertName::Policy,
            _ => return None,
        };
        let reason: Option<String> = row.get(31).ok().flatten();
        let event_kind: Option<String> = row.get(32).ok().flatten();
        Some(AlertFacts {
            name,
            reason: reason.unwrap_or_default(),
            event_kind: event_kind.as_deref().and_then(EventKind::from_word).unwrap_or(EventKind::ListenerOpened),
        })
    });
    let extra: Option<String> = row.get(33)?;
    let extra: serde_json::Value = extra.and_then(|e| serde_json::from_str(&e).ok()).unwrap_or_default();
    let mut event = WatchEvent::of_berth(time, kind);
    event.source = source;
    event.socket = socket;
    event.alert = alert;
    event.previous = previous_of(&extra["previous"]);
    event.missed = missed_of(&extra["missed"]);
    event.watching = serde_json::from_value::<Watching>(extra["watching"].clone()).ok();
    event.summary = serde_json::from_value::<Summary>(extra["summary"].clone()).ok();
    Ok(Stored { id, run, event })
}

fn previous_of(value: &serde_json::Value) -> Option<Previous> {
    let address = value["address"].as_str()?.parse().ok()?;
    let port = u16::try_from(value["port"].as_u64()?).ok()?;
    Some(Previous {
        local: Endpoint { address, port },
        scope: scope_of(value["scope"].as_str().unwrap_or("")),
        owners: serde_json::from_value(value["owners"].clone()).unwrap_or_default(),
    })
}

fn missed_of(value: &serde_json::Value) -> Option<MissedSpan> {
    Some(MissedSpan {
        from: time_of_unix_micros(value["from_us"].as_u64()?),
        to: time_of_unix_micros(value["to_us"].as_u64()?),
        reason: serde_json::from_value::<MissedReason>(value["reason"].clone()).ok()?,
    })
}
