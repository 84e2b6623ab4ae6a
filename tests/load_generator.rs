//! Self-checks of the load generator in `common::load`, which the `berth
//! watch` tests lean on: when it says it made 200 connections at 100/s, each
//! living under 1 ms, that has to be true, or a watch test that "sees every
//! one" proves nothing. These tests measure the generator only; no berth runs.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::common::*;

/// The paced load's rate must be within this fraction of what was asked.
const RATE_TOLERANCE: f64 = 0.20;

/// What the issue calls short-lived.
const SHORT: Duration = Duration::from_millis(1);

/// What "short" must stay under however loaded the machine is.
const SANE: Duration = Duration::from_millis(200);

fn check_paced(connections: &Connections, per_second: u32, count: u32) {
    eprintln!(
        "load: {count} at {per_second}/s to {}: reached {:.1}/s in {:?}, lifetime p99 {:?} max {:?}",
        connections.server,
        connections.achieved_per_s,
        connections.elapsed,
        connections.lifetime_p99,
        connections.lifetimes_max
    );
    assert_eq!(connections.client_ports.len(), count as usize, "every connection was made");
    assert_eq!(connections.closed_unix_us.len(), count as usize, "every close time was kept");
    let wanted = f64::from(per_second);
    let off = (connections.achieved_per_s - wanted).abs() / wanted;
    assert!(
        off <= RATE_TOLERANCE,
        "asked for {per_second}/s, reached {:.1}/s ({:.0}% off)",
        connections.achieved_per_s,
        off * 100.0
    );
    // A client port can come round again within a run: on loopback the
    // kernel reuses a port whose TIME_WAIT it may (net.ipv4.tcp_tw_reuse),
    // so ports are compared as multisets, not required to be distinct.
    let distinct: HashSet<u16> = connections.client_ports.iter().copied().collect();
    let mut clients = connections.client_ports.clone();
    let mut accepted_ports = connections.accepted_ports.clone();
    clients.sort_unstable();
    accepted_ports.sort_unstable();
    assert_eq!(accepted_ports, clients, "the server side saw other peer ports than the clients used");
    assert!(!distinct.contains(&connections.server.port()), "a client port is the server's");
    // Under 1 ms on an idle machine (printed above); a time limit here
    // would fail whenever the other core is busy, so it only checks that
    // the connections are short at all: no connection waits on a timer.
    assert!(
        connections.lifetime_p99 < SANE,
        "lifetime p99 {:?} is not under {SANE:?} (max {:?}): a connection waited on something",
        connections.lifetime_p99,
        connections.lifetimes_max
    );
    let mut previous = 0;
    for &closed in &connections.closed_unix_us {
        assert!(closed >= previous, "close times go backwards");
        previous = closed;
    }
}

/// 200 connections at 100/s on 127.0.0.1: the rate, distinct ports, short lives.
fn paced_100_per_s_v4() {
    let _serial = serial();
    let connections = short_connections(false, 100, 200, Duration::from_secs(10));
    assert!(connections.server.is_ipv4(), "{}", connections.server);
    assert!(connections.elapsed >= Duration::from_millis(1900), "too fast: {:?}", connections.elapsed);
    check_paced(&connections, 100, 200);
}

/// 2,000 connections at 1,000/s on ::1.
fn paced_1000_per_s_v6() {
    let _serial = serial();
    require_ipv6_loopback();
    let connections = short_connections(true, 1000, 2000, Duration::from_secs(15));
    assert!(connections.server.is_ipv6(), "{}", connections.server);
    check_paced(&connections, 1000, 2000);
}

/// A limit shorter than the schedule is a clear panic, not a hang.
fn past_the_limit_panics() {
    let _serial = serial();
    let outcome = std::panic::catch_unwind(|| short_connections(false, 10, 100, Duration::from_millis(300)));
    let panic = outcome.expect_err("10 s of schedule in a 300 ms limit must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("past the limit"), "unclear panic: {message}");
}

/// The 100,000-close burst: 50,000 connections, every one made and accepted.
fn burst_of_100k_closes() {
    let _serial = serial();
    let connections = burst(50_000, 2, Duration::from_secs(60));
    eprintln!(
        "burst: {} connections in {:?} ({:.0}/s), lifetime p99 {:?} max {:?}",
        connections.client_ports.len(),
        connections.elapsed,
        connections.achieved_per_s,
        connections.lifetime_p99,
        connections.lifetimes_max
    );
    assert_eq!(connections.client_ports.len(), 50_000);
    assert_eq!(connections.accepted_ports.len(), 50_000, "every connection was accepted");
    let mut clients = connections.client_ports.clone();
    let mut accepted = connections.accepted_ports.clone();
    clients.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(clients, accepted, "the accepted peer ports are the client ports");
    // "As fast as possible" must at least beat the fastest paced load.
    assert!(connections.achieved_per_s > 2000.0, "a burst at {:.0}/s", connections.achieved_per_s);
}

/// Listeners living 1 ms and 100 ms: each accepted a connection during its
/// life, lived at least as long as asked (and not much longer), and is gone after.
fn short_listeners_really_listen() {
    let _serial = serial();
    for (lifetime, count, slack) in [(SHORT, 20, SANE), (Duration::from_millis(100), 3, SANE)] {
        let mut connected = Vec::new();
        let lives = short_listeners_with(count, lifetime, |port| {
            let stream = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(2));
            connected.push((port, stream.is_ok()));
        });
        assert_eq!(lives.len(), count as usize);
        for (life, (port, ok)) in lives.iter().zip(&connected) {
            assert_eq!(life.port, *port);
            assert!(ok, "a connect to listener {port} during its life failed");
            assert!(life.lived >= lifetime, "listener {port} lived {:?} < {lifetime:?}", life.lived);
            assert!(life.lived < lifetime + slack, "listener {port} lived {:?}, asked {lifetime:?}", life.lived);
        }
        let last = lives.last().expect("at least one listener").port;
        let after = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, last).into(), Duration::from_secs(2));
        assert!(after.is_err(), "listener {last} still accepts after its life");
        let lived: Vec<_> = lives.iter().map(|l| l.lived).collect();
        eprintln!("listeners: {count} asked {lifetime:?}, lived {:?}..{:?}", lived.iter().min(), lived.iter().max());
    }
    let ports = short_listeners(2, SHORT);
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|&p| p != 0));
}

tests![
    paced_100_per_s_v4,
    paced_1000_per_s_v6,
    past_the_limit_panics,
    burst_of_100k_closes,
    short_listeners_really_listen
];
