//! `--alert`: which events are worth a person's attention, and `--exec`,
//! the command each alert is handed to.
//!
//! Alerts are judged on listeners a dump saw open (`listener-opened`), with
//! their owners; `policy` also on the listeners there at the start. A TCP
//! socket bound beyond loopback that lived only between two listener dumps
//! (100 ms at most by default) raises `exposed` too, saying that the
//! kernel cannot tell whether it listened or was only bound, and without an
//! owner (no dump saw it).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;

use super::event::{AlertName, EventKind, SocketFacts, WatchEvent};
use crate::analysis::unseen::OwnerStatus;
use crate::audit::listeners::{Listener, ProcessRef};
use crate::audit::policy::{self, Policy};
use crate::stderr::say;
use berth_inventory::scope::BindScope;
use berth_inventory::{Family, PortRanges, Protocol};

/// At most this many `--exec` commands run at once; an alert beyond it is
/// printed but not handed on (and berth says so).
const MAX_RUNNING: usize = 8;

/// How long berth waits at exit for `--exec` commands still running.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What `--alert` asked for.
#[derive(Debug, Default)]
pub struct AlertRules {
    pub exposed: bool,
    pub new: bool,
    pub policy: Option<Policy>,
}

/// The alert rules, with what `new` remembers of this run.
#[derive(Debug)]
pub struct Alerts {
    rules: AlertRules,
    /// (protocol, port) of every listener seen in this run (the history
    /// knows the ones before it).
    seen_ports: FxHashSet<(Protocol, u16)>,
    ephemeral: (u16, u16),
}

impl Alerts {
    pub fn new(rules: AlertRules, ranges: &PortRanges) -> Alerts {
        Alerts { rules, seen_ports: FxHashSet::default(), ephemeral: ranges.ephemeral }
    }

    /// The machine's ephemeral range (UDP sockets in it are clients, as the audit judges them).
    pub fn set_ranges(&mut self, ranges: &PortRanges) {
        self.ephemeral = ranges.ephemeral;
    }

    /// The alerts `event` raises (each an `alert` event); `seen_before`
    /// says whether the history saw a port listening before this run.
    pub fn check(&mut self, event: &WatchEvent, seen_before: impl Fn(Protocol, u16) -> bool) -> Vec<WatchEvent> {
        let Some(facts) = &event.socket else { return Vec::new() };
        let port_key = (facts.protocol, facts.local.port);
        let client_udp = facts.protocol == Protocol::Udp && (self.ephemeral.0..=self.ephemeral.1).contains(&port_key.1);
        match event.kind {
            EventKind::ListenerPresent => {
                self.seen_ports.insert(port_key);
                // The policy expects what it expects from the start on.
                match &self.rules.policy {
                    Some(policy) if !client_udp => policy::unexpected_reason(policy, &listener_of(facts))
                        .map(|reason| vec![event.alert(AlertName::Policy, reason)])
                        .unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            // A TCP socket bound beyond loopback that opened and closed
            // between two listener reads: maybe a listener (the kernel's
            // message cannot say), reachable while it lived.
            EventKind::ListenerClosed
                if self.rules.exposed
                    && !facts.open_seen
                    && facts.protocol == Protocol::Tcp
                    && facts.scope != "loopback" =>
            {
                vec![event.alert(
                    AlertName::Exposed,
                    format!(
                        "a TCP socket bound to {} (listening, or only bound: it lived between two reads) was reachable from {}",
                        facts.local.socket_addr(),
                        if facts.scope == "all" { "every interface" } else { "a network address" }
                    ),
                )]
            }
            EventKind::ListenerOpened if !client_udp => {
                let mut alerts = Vec::new();
                if self.rules.exposed && facts.scope != "loopback" {
                    alerts.push(event.alert(AlertName::Exposed, exposed_reason(facts)));
                }
                let first_time = self.seen_ports.insert(port_key) && !seen_before(port_key.0, port_key.1);
                if self.rules.new && first_time {
                    alerts.push(event.alert(
                        AlertName::New,
                        format!("{} port {} was never seen listening before", facts.protocol.name(), port_key.1),
                    ));
                }
                if let Some(policy) = &self.rules.policy {
                    if let Some(reason) = policy::unexpected_reason(policy, &listener_of(facts)) {
                        alerts.push(event.alert(AlertName::Policy, reason));
                    }
                }
                alerts
            }
            _ => Vec::new(),
        }
    }
}

fn exposed_reason(facts: &SocketFacts) -> String {
    let reach = match facts.scope {
        "all" => "every interface".to_string(),
        _ => match &facts.interface {
            Some(name) => format!("the network on {name}"),
            None => "a network address".to_string(),
        },
    };
    let who = facts
        .owners
        .first()
        .and_then(|o| o.name.clone())
        .map(|name| format!("{name} listens"))
        .unwrap_or_else(|| "a listener".to_string());
    format!("{who} on {} {}: reachable from {reach}", facts.protocol.name(), facts.local.socket_addr())
}

/// The listener as the audit's policy judges it.
fn listener_of(facts: &SocketFacts) -> Listener {
    let scope = match facts.scope {
        "loopback" => BindScope::Loopback,
        "all" => BindScope::All,
        _ => BindScope::Address { interface: facts.interface.clone() },
    };
    let dual_stack = facts.family == Family::V6 && facts.local.address.is_unspecified();
    Listener {
        protocol: facts.protocol,
        port: facts.local.port,
        addresses: vec![facts.local.address],
        scope,
        takes_ipv4: facts.family == Family::V4 || dual_stack,
        takes_ipv6: facts.family == Family::V6,
        owners: facts
            .owners
            .iter()
            .map(|o| ProcessRef {
                pid: o.pid,
                name: o.name.clone().unwrap_or_default(),
                user: o.user.clone(),
                uid: o.uid.unwrap_or(u32::MAX),
                command: o.cmdline.join(" "),
                container: None,
                systemd_unit: None,
            })
            .collect(),
        socket_uid: facts.uid.unwrap_or(u32::MAX),
        owner_status: if facts.owners.is_empty() { OwnerStatus::Unknown } else { OwnerStatus::Owned },
    }
}

/// `--exec CMD`: each alert runs `sh -c CMD` with the alert as JSON on its
/// stdin and BERTH_* variables; berth does not wait for it (the watch goes
/// on), reaps it later, and waits a little for the last ones at exit.
#[derive(Debug)]
pub struct Exec {
    command: String,
    running: Vec<(Child, Instant)>,
    /// Alerts not handed on because MAX_RUNNING were running.
    pub skipped: u64,
}

impl Exec {
    pub fn new(command: String) -> Exec {
        Exec { command, running: Vec::new(), skipped: 0 }
    }

    /// Hands `alert` to a new run of the command.
    pub fn run(&mut self, alert: &WatchEvent) {
        self.reap();
        if self.running.len() >= MAX_RUNNING {
            self.skipped += 1;
            say!(
                "berth: note: --exec not run for an alert: {MAX_RUNNING} earlier runs of it are still going (it should finish quickly)"
            );
            return;
        }
        let json = match serde_json::to_vec(alert) {
            Ok(json) => json,
            Err(e) => {
                say!("berth: note: --exec not run: the alert did not serialize ({e})");
                return;
            }
        };
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(&self.command).stdin(Stdio::piped()).stdout(Stdio::null());
        for (name, value) in variables(alert) {
            command.env(name, value);
        }
        match command.spawn() {
            Ok(mut child) => {
                // The JSON is small (far below a pipe's buffer), so this
                // write does not wait on the command; a command that does
                // not read its stdin only loses it.
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(&json);
                    let _ = stdin.write_all(b"\n");
                }
                self.running.push((child, Instant::now()));
            }
            Err(e) => say!("berth: note: --exec could not start /bin/sh: {e}"),
        }
    }

    /// Collects the runs that ended, and says which failed.
    pub fn reap(&mut self) {
        self.running.retain_mut(|(child, _)| match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    say!("berth: note: --exec command ended with {status}");
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }

    /// At exit: waits up to EXIT_WAIT for the runs still going.
    pub fn finish(&mut self) {
        let deadline = Instant::now() + EXIT_WAIT;
        while !self.running.is_empty() && Instant::now() < deadline {
            self.reap();
            std::thread::sleep(Duration::from_millis(20));
        }
        if !self.running.is_empty() {
            say!(
                "berth: note: {} --exec run(s) still going after {}s; left running",
                self.running.len(),
                EXIT_WAIT.as_secs()
            );
        }
    }
}

/// The BERTH_* variables an `--exec` command gets.
fn variables(alert: &WatchEvent) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if let Some(facts) = &alert.alert {
        vars.push(("BERTH_ALERT", facts.name.word().to_string()));
        vars.push(("BERTH_EVENT", facts.event_kind.word().to_string()));
        vars.push(("BERTH_REASON", facts.reason.clone()));
    }
    if let Some(socket) = &alert.socket {
        vars.push(("BERTH_PROTOCOL", socket.protocol.name().to_string()));
        vars.push(("BERTH_ADDRESS", socket.local.address.to_string()));
        vars.push(("BERTH_PORT", socket.local.port.to_string()));
        vars.push(("BERTH_SCOPE", socket.scope.to_string()));
        if let Some(owner) = socket.owners.first() {
            vars.push(("BERTH_PID", owner.pid.to_string()));
            if let Some(name) = &owner.name {
                vars.push(("BERTH_PROCESS", name.clone()));
            }
        }
    }
    vars.push(("BERTH_TIME", humantime::format_rfc3339_micros(alert.time).to_string()));
    vars
}
