//! The JSON line of an event about a socket, written by hand: at 10,000
//! short connections a second `watch --json` writes 20,000 of these lines
//! a second, and serde's generic path (every key escaped, a map for the
//! flattened fields) was a quarter of berth's CPU. The bytes are exactly
//! what serde_json writes through [`super::json`]'s escaping (a unit test
//! compares the two on every kind of event, hostile strings included), so
//! the schema stays the one `WatchEvent`'s Serialize defines; berth's own
//! events (started, missed, summary: a few per run) still go through serde.

use std::io::{self, Write};

use super::json::write_safe_fragment;
use crate::analysis::report::Endpoint;
use crate::watch::event::{unix_micros_of, EventOwner, EventSource, SocketFacts, WatchEvent};
use berth_inventory::Family;

/// Appends the line for `event` (which is about `facts`) to `out`, newline included.
pub fn write_socket_event(out: &mut Vec<u8>, event: &WatchEvent, facts: &SocketFacts) -> io::Result<()> {
    out.extend_from_slice(b"{\"time\":\"");
    write!(out, "{}", humantime::format_rfc3339_micros(event.time))?;
    out.extend_from_slice(b"\",\"time_unix_us\":");
    number(out, unix_micros_of(event.time_unix));
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(event.kind.word().as_bytes());
    out.extend_from_slice(b"\",\"source\":\"");
    out.extend_from_slice(match event.source {
        EventSource::Dump => b"dump",
        EventSource::Destroy => b"destroy",
        EventSource::Berth => b"berth",
    });
    out.extend_from_slice(b"\",\"protocol\":\"");
    out.extend_from_slice(facts.protocol.name().as_bytes());
    out.extend_from_slice(b"\",\"family\":\"");
    out.extend_from_slice(match facts.family {
        Family::V4 => b"ipv4",
        Family::V6 => b"ipv6",
    });
    out.extend_from_slice(b"\",\"local\":");
    endpoint(out, &facts.local)?;
    out.extend_from_slice(b",\"remote\":");
    match &facts.remote {
        Some(remote) => endpoint(out, remote)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"state\":\"");
    out.extend_from_slice(facts.state.name().as_bytes());
    out.extend_from_slice(b"\",\"netns\":");
    number(out, facts.netns);
    out.extend_from_slice(b",\"inode\":");
    optional_number(out, facts.inode);
    out.extend_from_slice(b",\"uid\":");
    optional_number(out, facts.uid.map(u64::from));
    out.extend_from_slice(b",\"user\":");
    optional_string(out, facts.user.as_deref())?;
    out.extend_from_slice(b",\"v6only\":");
    optional_bool(out, facts.v6only);
    out.extend_from_slice(b",\"scope\":");
    string(out, facts.scope)?;
    out.extend_from_slice(b",\"interface\":");
    optional_string(out, facts.interface.as_deref())?;
    out.extend_from_slice(b",\"port_class\":");
    // A unit enum in kebab-case: serde's own word for it.
    serde_json::to_writer(&mut *out, &facts.port_facts.port_class).map_err(io::Error::other)?;
    out.extend_from_slice(b",\"ephemeral\":");
    boolean(out, facts.port_facts.ephemeral);
    out.extend_from_slice(b",\"reserved\":");
    boolean(out, facts.port_facts.reserved);
    out.extend_from_slice(b",\"service\":");
    optional_string(out, facts.port_facts.service)?;
    out.extend_from_slice(b",\"owners\":");
    owners(out, &facts.owners)?;
    out.extend_from_slice(b",\"listener\":");
    match &facts.listener {
        Some(listener) => {
            out.extend_from_slice(b"{\"local\":");
            endpoint(out, &listener.local)?;
            out.extend_from_slice(b",\"owners\":");
            owners(out, &listener.owners)?;
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"open_seen\":");
    boolean(out, facts.open_seen);
    out.extend_from_slice(b",\"lifetime\":");
    match &facts.lifetime {
        Some(lifetime) => {
            out.extend_from_slice(b"{\"at_least_ms\":");
            float(out, lifetime.at_least_ms)?;
            out.extend_from_slice(b",\"at_most_ms\":");
            match lifetime.at_most_ms {
                Some(at_most) => float(out, at_most)?,
                None => out.extend_from_slice(b"null"),
            }
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"bytes_in\":");
    optional_number(out, facts.bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    optional_number(out, facts.bytes_out);
    out.extend_from_slice(b",\"was_listening\":");
    optional_bool(out, facts.was_listening);
    out.extend_from_slice(b",\"previous\":");
    match &event.previous {
        Some(previous) => {
            out.extend_from_slice(b"{\"local\":");
            endpoint(out, &previous.local)?;
            out.extend_from_slice(b",\"scope\":");
            string(out, previous.scope)?;
            out.extend_from_slice(b",\"owners\":");
            owners(out, &previous.owners)?;
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"alert\":");
    match &event.alert {
        Some(alert) => {
            out.extend_from_slice(b"{\"name\":");
            string(out, alert.name.word())?;
            out.extend_from_slice(b",\"reason\":");
            string(out, &alert.reason)?;
            out.extend_from_slice(b",\"event_kind\":");
            string(out, alert.event_kind.word())?;
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

fn endpoint(out: &mut Vec<u8>, endpoint: &Endpoint) -> io::Result<()> {
    out.extend_from_slice(b"{\"address\":\"");
    write!(out, "{}", endpoint.address)?;
    out.extend_from_slice(b"\",\"port\":");
    number(out, u64::from(endpoint.port));
    out.push(b'}');
    Ok(())
}

fn owners(out: &mut Vec<u8>, owners: &[EventOwner]) -> io::Result<()> {
    out.push(b'[');
    for (n, owner) in owners.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"pid\":");
        number(out, u64::from(owner.pid));
        out.extend_from_slice(b",\"name\":");
        optional_string(out, owner.name.as_deref())?;
        out.extend_from_slice(b",\"cmdline\":[");
        for (n, arg) in owner.cmdline.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            string(out, arg)?;
        }
        out.extend_from_slice(b"],\"uid\":");
        optional_number(out, owner.uid.map(u64::from));
        out.extend_from_slice(b",\"user\":");
        optional_string(out, owner.user.as_deref())?;
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn optional_number(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => number(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn optional_bool(out: &mut Vec<u8>, b: Option<bool>) {
    match b {
        Some(b) => boolean(out, b),
        None => out.extend_from_slice(b"null"),
    }
}

/// As serde_json writes an f64 (its shortest round-trip form).
fn float(out: &mut Vec<u8>, f: f64) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &f).map_err(io::Error::other)
}

fn optional_string(out: &mut Vec<u8>, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => string(out, s),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

/// A JSON string as serde_json escapes it (`"`, `\`, C0 controls), with
/// the pieces between those escapes passed through berth's terminal-safe
/// escaping, as [`super::json`]'s formatter does.
fn string(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        // The escapes are ASCII, so `at` is on a character boundary.
        write_safe_fragment(out, &s[start..at])?;
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.extend_from_slice(escape);
        }
        start = at + 1;
    }
    write_safe_fragment(out, &s[start..])?;
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::event::{AlertFacts, AlertName, EventKind, Lifetime, ListenerRef, Previous};
    use berth_inventory::port_facts::{PortClass, PortFacts};
    use berth_inventory::{Protocol, SocketState};
    use std::time::{Duration, SystemTime};

    fn hostile(text: &str) -> EventOwner {
        EventOwner {
            pid: 4_294_967_295,
            name: Some(text.to_string()),
            cmdline: vec![text.to_string(), String::new(), "plain".into(), "日本\u{7f}".into()],
            uid: Some(0),
            user: None,
        }
    }

    fn by_serde(event: &WatchEvent) -> Vec<u8> {
        let mut out = Vec::new();
        super::super::json::write_line(&mut out, event).expect("serde writes");
        out
    }

    #[test]
    fn the_same_bytes_as_serde_for_every_shape_and_hostile_text() {
        let texts = [
            "plain",
            "quote\" back\\slash\nnew\ttab\r\u{8}\u{c}\u{1}\u{1f}",
            "ev\u{202e}il\u{9b}2J\u{2028}é日\u{e0041}\u{7f}",
            "\u{7f}only del",
            "",
        ];
        let addresses: [std::net::IpAddr; 4] = [
            "127.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
            "::ffff:127.0.0.1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
        ];
        for (n, text) in texts.iter().enumerate() {
            let address = addresses[n % addresses.len()];
            let facts = SocketFacts {
                protocol: if n % 2 == 0 { Protocol::Tcp } else { Protocol::Udp },
                family: if address.is_ipv4() { Family::V4 } else { Family::V6 },
                local: Endpoint { address, port: 65535 },
                remote: (n % 2 == 0).then_some(Endpoint { address, port: 1 }),
                state: if n % 2 == 0 { SocketState::Close } else { SocketState::Unconnected },
                netns: u64::MAX,
                inode: (n % 3 == 0).then_some(12345),
                uid: (n % 3 == 1).then_some(1000),
                user: Some(text.to_string()),
                v6only: [None, Some(true), Some(false)][n % 3],
                scope: ["loopback", "all", "address"][n % 3],
                interface: Some(text.to_string()),
                port_facts: PortFacts {
                    port_class: [PortClass::WellKnown, PortClass::Registered, PortClass::Dynamic][n % 3],
                    ephemeral: n % 2 == 0,
                    reserved: n % 2 == 1,
                    service: (n % 2 == 0).then_some("http"),
                },
                owners: vec![hostile(text), EventOwner::default()].into(),
                listener: (n % 2 == 0)
                    .then(|| ListenerRef { local: Endpoint { address, port: 80 }, owners: vec![hostile(text)].into() }),
                open_seen: n % 2 == 1,
                lifetime: [
                    None,
                    Some(Lifetime { at_least_ms: 0.0, at_most_ms: None }),
                    Some(Lifetime { at_least_ms: 0.1 + 0.2, at_most_ms: Some(1e-7) }),
                    Some(Lifetime { at_least_ms: 824.359, at_most_ms: Some(1.5e300) }),
                ][n % 4],
                bytes_in: (n % 2 == 0).then_some(u64::MAX),
                bytes_out: (n % 2 == 0).then_some(0),
                was_listening: [None, Some(true), Some(false)][n % 3],
            };
            let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_768_464_000_123_456_789 + n as u64);
            let mut event = WatchEvent::about(time, EventKind::ConnectionClosed, EventSource::Destroy, facts.clone());
            if n % 2 == 1 {
                event.previous =
                    Some(Previous { local: facts.local, scope: "loopback", owners: vec![hostile(text)].into() });
                event = event.alert(AlertName::Policy, text.to_string());
            } else {
                event.alert = Some(AlertFacts {
                    name: AlertName::Exposed,
                    reason: String::new(),
                    event_kind: EventKind::ListenerOpened,
                });
            }
            let mut fast = Vec::new();
            write_socket_event(&mut fast, &event, &facts).expect("writes");
            assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&by_serde(&event)), "text {text:?}");
        }
    }
}
