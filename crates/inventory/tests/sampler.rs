//! The Sampler over real sockets: a listener opened, a client connected,
//! both ends closed, the listener closed, each seen as exactly those events.
//!
//! Each step is sampled by hand (`Sampler::sample`) once the kernel is known
//! to be in the state the step describes, so no event depends on timing.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use berth_inventory::diff::{Change, Event};
use berth_inventory::sampler::{Kernel, Sampler};
use berth_inventory::{collect, Query, SocketState};

fn query(port: u16) -> Query {
    Query { udp: false, port: Some(port), tcp_counters: false, ..Query::default() }
}

/// (what, local port, remote port) of each event.
fn summary(events: &[Event]) -> Vec<(Change, u16, Option<u16>)> {
    events.iter().map(|e| (e.change.clone(), e.socket.local.port(), e.socket.remote.map(|r| r.port()))).collect()
}

/// Waits (bounded: 5 s) until no connection on `port` is left but TIME_WAIT.
fn wait_connections_gone(port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let snapshot = collect(&query(port)).expect("a snapshot");
        let live = snapshot.sockets.iter().any(|s| s.remote.is_some() && s.state != SocketState::TimeWait);
        if !live {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the connections on port {port} did not close within 5 s");
}

#[test]
fn a_listener_a_connection_and_their_ends_in_order() {
    // A port nothing holds: bound and released (the kernel picked it).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut sampler = Sampler::new(Kernel::new(query(port)), Duration::from_millis(50));
    assert!(sampler.sample().expect("the first sample").is_empty(), "the first sample has no events");

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("bind the port again");
    let opened = sampler.sample().expect("a sample");
    assert_eq!(summary(&opened), vec![(Change::ListenerOpened, port, None)]);
    let me = std::process::id();
    assert!(opened[0].socket.owners.iter().any(|o| o.pid == me), "the listener's owner is this process");

    // Sampled while the connection waits in the accept queue (its server
    // end has no inode and no owner yet), then again once accepted: the same
    // connection, now held by this process.
    let client = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    let client_port = client.local_addr().unwrap().port();
    let connected = sampler.sample().expect("a sample");
    let (server, _) = listener.accept().expect("accept");
    let accepted = sampler.sample().expect("a sample");
    assert_eq!(summary(&accepted), vec![(Change::OwnersChanged { from: vec![] }, port, Some(client_port))]);
    assert!(accepted[0].socket.owners.iter().any(|o| o.pid == me), "accept() gave it to this process");
    // Sorted by socket key: the lower local port first.
    let mut expected =
        vec![(Change::ConnectionOpened, port, Some(client_port)), (Change::ConnectionOpened, client_port, Some(port))];
    expected.sort_by_key(|(_, local, _)| *local);
    assert_eq!(summary(&connected), expected);

    drop(client);
    drop(server);
    wait_connections_gone(port);
    let closed = sampler.sample().expect("a sample");
    let mut expected =
        vec![(Change::ConnectionClosed, port, Some(client_port)), (Change::ConnectionClosed, client_port, Some(port))];
    expected.sort_by_key(|(_, local, _)| *local);
    assert_eq!(summary(&closed), expected);

    drop(listener);
    assert_eq!(summary(&sampler.sample().expect("a sample")), vec![(Change::ListenerClosed, port, None)]);
    assert!(sampler.sample().expect("a sample").is_empty(), "nothing else happened");
}
