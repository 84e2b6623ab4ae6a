//! `berth audit`: findings of every severity grouped worst first (with
//! their process, container or unit, evidence and fix; one about a whole
//! port, one about the machine), checks that could not run, no findings,
//! text from outside escaped, colour, the JSON and the SARIF log. The
//! findings are built in code, as the checks (which probe live services
//! and read /proc) would make them, and sorted as the audit sorts them.

use std::net::IpAddr;

use berth_inventory::Protocol;

use super::{printed, COLOUR, PIPE};
use crate::audit::{Finding, Outcome, ProcessRef, Severity, Skipped};
use crate::render::audit::{write_report, write_sarif};
use crate::render::json;

fn process(pid: u32, name: &str, user: Option<&str>, uid: u32, command: &str) -> ProcessRef {
    ProcessRef {
        pid,
        name: name.into(),
        user: user.map(str::to_string),
        uid,
        command: command.into(),
        container: None,
        systemd_unit: None,
    }
}

/// `finding` about TCP `port` on `addresses`, held by `process`.
fn tcp(port: u16, addresses: &[&str], process: Option<ProcessRef>, finding: Finding) -> Finding {
    Finding {
        protocol: Some(Protocol::Tcp),
        port: Some(port),
        addresses: addresses.iter().map(|a| a.parse::<IpAddr>().expect("an address")).collect(),
        process,
        ..finding
    }
}

/// Findings of every severity, two checks that could not run fully, and a
/// header and a process name from outside with control and bidi characters.
fn outcome() -> Outcome {
    let redis = ProcessRef {
        container: Some("docker 4f2c9a1b7e3d5f60812a9b4c3d2e1f00aabbccddeeff00112233445566778899".into()),
        ..process(2500, "redis-server", None, 999, "redis-server *:6379")
    };
    let postgres = ProcessRef {
        systemd_unit: Some("postgresql@16-main.service".into()),
        ..process(
            911,
            "postgres",
            Some("postgres"),
            105,
            "/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main",
        )
    };
    let python = process(4242, "python3", Some("alice"), 1000, "python3 -m http.server 8080");
    let hostile = process(6666, "ev\u{202e}il\u{1b}[2J", Some("alice"), 1000, "./ev\u{202e}il");
    let mut outcome = Outcome {
        findings: vec![
            tcp(
                22,
                &["0.0.0.0"],
                None,
                Finding::new("exposure.listener", Severity::Low, "sshd listens on all interfaces")
                    .evidence("bound to 0.0.0.0: reachable at 198.51.100.5 (eth0)")
                    .fix("bind it to 127.0.0.1 if only this machine needs it, or allow it in the firewall on purpose"),
            ),
            tcp(
                6379,
                &["0.0.0.0"],
                Some(redis),
                Finding::new("noauth.redis", Severity::Critical, "Redis answers without a password, on all interfaces")
                    .evidence("PING answered +PONG without AUTH")
                    .evidence("protected-mode is off")
                    .fix("set requirepass (or ACL users) and bind 127.0.0.1"),
            ),
            tcp(
                5432,
                &["::", "0.0.0.0"],
                Some(postgres),
                Finding::new("exposure.sensitive", Severity::High, "PostgreSQL listens beyond loopback")
                    .evidence("bound to [::] and 0.0.0.0")
                    .fix("listen_addresses = 'localhost' in postgresql.conf"),
            ),
            tcp(
                8080,
                &["127.0.0.1"],
                Some(python),
                Finding::new("http.dns-rebinding", Severity::High, "an HTTP service answers any Host name")
                    .evidence("GET / with Host: rebind.example.test answered 200 OK")
                    .fix("answer only Host: localhost and 127.0.0.1 (berth serve does), or require a token"),
            ),
            // About the port, whatever address: Docker publishes it.
            tcp(
                80,
                &[],
                None,
                Finding::new(
                    "reach.docker-proxy",
                    Severity::Medium,
                    "port 80 is published by Docker, past INPUT firewall rules",
                )
                .evidence("docker-proxy -host-port 80 -container-ip 198.51.100.17 -container-port 80")
                .fix("publish on 127.0.0.1 only: docker run -p 127.0.0.1:80:80"),
            ),
            // About the machine: no port at all.
            Finding::new(
                "reach.route-localnet",
                Severity::High,
                "route_localnet=1 on eth0: other hosts can reach 127.0.0.1",
            )
            .evidence("net.ipv4.conf.eth0.route_localnet = 1")
            .fix("sysctl -w net.ipv4.conf.eth0.route_localnet=0"),
            // Text from outside (a header, a process name), and no fix.
            tcp(
                3000,
                &["::1"],
                Some(hostile),
                Finding::new("http.cors-reflected", Severity::Medium, "an HTTP service reflects any Origin\u{1b}[2J")
                    .evidence("Access-Control-Allow-Origin: https://ev\u{202e}il.example.test"),
            ),
            tcp(
                8443,
                &["127.0.0.1"],
                None,
                Finding::new("tls.untrusted", Severity::Info, "a self-signed certificate on a loopback service")
                    .evidence("issuer CN=localhost is the subject")
                    .fix("use a certificate from a local CA: berth ca"),
            ),
        ],
        skipped: vec![
            Skipped {
                check: "reach.firewall".into(),
                reason: "reading firewall rules needs root".into(),
                remedy: Some("run: sudo berth audit".into()),
            },
            Skipped { check: "probe".into(), reason: "--no-probe: no service was contacted".into(), remedy: None },
        ],
    };
    outcome.sort();
    outcome
}

#[test]
fn findings_worst_first_with_what_could_not_be_checked() {
    insta::assert_snapshot!(printed(|out| write_report(out, &outcome(), 9, &PIPE)));
}

#[test]
fn findings_in_colour() {
    insta::assert_snapshot!(printed(|out| write_report(out, &outcome(), 9, &COLOUR)));
}

#[test]
fn no_findings() {
    insta::assert_snapshot!(printed(|out| write_report(out, &Outcome::default(), 1, &PIPE)));
}

#[test]
fn json_of_the_findings() {
    insta::assert_snapshot!(printed(|out| json::write_array(out, &outcome().findings)));
}

#[test]
fn sarif() {
    // The log names berth's version; the snapshot should not change with it.
    let version = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    let log = printed(|out| write_sarif(out, &outcome()));
    assert_eq!(log.matches(&version).count(), 1, "the driver's version, once");
    insta::assert_snapshot!(log.replace(&version, "\"version\": \"<berth's version>\""));
}
