//! `berth free`: the ports it prints really are free, and outside the
//! kernel's ephemeral range unless asked otherwise.

use std::net::{TcpListener, UdpSocket};

use crate::common::*;
use serde_json::Value;

fn ports_from(stdout: &str) -> Vec<u16> {
    stdout.lines().map(|l| l.trim().parse().unwrap_or_else(|_| panic!("not a port: {l:?}"))).collect()
}

fn prints_bindable_ports_outside_the_ephemeral_range() {
    let _serial = serial();
    let (low, high) = ephemeral_range();
    let (code, stdout, stderr) = run_berth(&["free", "-n", "5"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let ports = ports_from(&stdout);
    assert_eq!(ports.len(), 5);
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "distinct ports: {ports:?}");
    for port in ports {
        assert!(port >= 49152, "{port} is in IANA's dynamic range");
        assert!(!(low..=high).contains(&port), "{port} is outside the ephemeral range {low}-{high}");
        TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{port} binds on 127.0.0.1: {e}"));
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            TcpListener::bind(("::1", port)).unwrap_or_else(|e| panic!("{port} binds on ::1: {e}"));
        }
    }
}

fn udp_and_both() {
    let _serial = serial();
    let (code, stdout, stderr) = run_berth(&["free", "--udp"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let port = ports_from(&stdout)[0];
    UdpSocket::bind(("127.0.0.1", port)).expect("free for UDP");

    let (code, stdout, stderr) = run_berth(&["free", "--both", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["protocols"], serde_json::json!(["tcp", "udp"]));
    let port = report["ports"][0].as_u64().unwrap() as u16;
    let _tcp = TcpListener::bind(("127.0.0.1", port)).expect("free for TCP");
    let _udp = UdpSocket::bind(("127.0.0.1", port)).expect("and for UDP");
}

fn a_taken_port_is_never_offered() {
    let _serial = serial();
    // A one-port range holding a listener: nothing to offer.
    let (listener, port) = listener_v4();
    let range = format!("{port}-{port}");
    let (code, stdout, stderr) = run_berth(&["free", "--range", &range], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("--range"), "says how to widen it: {stderr}");
    drop(listener);

    // The same port bound only on ::1 is taken too (both families are checked).
    if let Ok(v6) = TcpListener::bind("[::1]:0") {
        let port = v6.local_addr().unwrap().port();
        let range = format!("{port}-{port}");
        let (code, _, stderr) = run_berth(&["free", "--range", &range], &[]);
        assert_eq!(code, 1, "{stderr}");
    }
}

fn a_chosen_range_is_respected() {
    let _serial = serial();
    let port = released_port();
    let range = format!("{port}-{port}");
    let (code, stdout, stderr) = run_berth(&["free", "--range", &range], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ports_from(&stdout), vec![port]);
}

fn bad_input_is_refused() {
    let _serial = serial();
    for bad in [
        &["free", "--range", "9-1"][..],
        &["free", "--range", "abc"],
        &["free", "--range", "0-10"],
        &["free", "--range", "1-70000"],
        &["free", "-n", "0"],
        &["free", "-n", "100000"],
        &["free", "--bind", "nonsense"],
        &["free", "--udp", "--both"],
    ] {
        let (code, stdout, stderr) = run_berth(bad, &[]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stdout.is_empty(), "{bad:?}");
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: {stderr}");
        assert!(stderr.starts_with("berth: ") && !stderr.contains("panicked"), "{bad:?}: {stderr}");
    }
}

tests![
    prints_bindable_ports_outside_the_ephemeral_range,
    udp_and_both,
    a_taken_port_is_never_offered,
    a_chosen_range_is_respected,
    bad_input_is_refused,
];
