//! Odd owners: the listener itself is fine, but who holds it is not.
//!
//! - `owner.deleted-executable`: the process runs an executable that was
//!   deleted or replaced on disk after it started. After an upgrade that is
//!   a daemon still running old (maybe vulnerable) code; otherwise it is a
//!   classic sign of malware that deletes its own file. Static: it judges
//!   /proc/PID/exe as [`Machine::gather`] read it through the inventory.
//! - `owner.split-loopback`: one process holds `127.0.0.1:P` and another
//!   `[::1]:P`. `localhost` resolves to both, so a client reaches whichever
//!   address it tries first; a process of another user can take the traffic
//!   (and the secrets) meant for the real service. Static.
//! - `owner.root-http`: a root process answers `GET /` with 2xx and no
//!   authentication. Anything that can reach it (every local user, any web
//!   page through the browser's weaknesses) drives a root process. Probing.
//!
//! Without root, processes of other users cannot be read; the checks say
//! so (a [`Skipped`]) rather than pass silently.

use crate::analysis::plural;
use crate::analysis::unseen::unseen_holder;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::probe::Service;
use super::{list_words, Check, CheckInfo, Finding, Listener, Machine, ProcessRef, Severity, Skipped};
use berth_inventory::processes::Executable;
use berth_inventory::scope;
use berth_inventory::Protocol;

/// `owner.deleted-executable`: one finding per listener whose owner runs a
/// deleted or replaced executable.
pub struct DeletedExecutable;

impl Check for DeletedExecutable {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "owner.deleted-executable",
            summary: "a listener's executable was deleted or replaced on disk since it started",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        let mut findings = Vec::new();
        for listener in &machine.facts.listeners {
            let odd: Vec<(&ProcessRef, &Executable)> = listener
                .owners
                .iter()
                .filter_map(|owner| match machine.executables.get(&owner.pid) {
                    Some(Ok(exe)) if exe.deleted || exe.replaced() => Some((owner, exe)),
                    // Fine, unreadable (see `skipped`), gone since the
                    // snapshot, or a process without an executable.
                    _ => None,
                })
                .collect();
            findings.extend(deleted_finding(listener, &odd));
        }
        findings
    }

    /// Owners berth cannot see, or whose executable it cannot read.
    fn skipped(&self, machine: &Machine) -> Option<Skipped> {
        let facts = machine.facts;
        let mut unreadable: Vec<String> = Vec::new();
        for owner in facts.listeners.iter().flat_map(|l| &l.owners) {
            if let Some(Err(std::io::ErrorKind::PermissionDenied)) = machine.executables.get(&owner.pid) {
                let label = owner.label();
                if !unreadable.contains(&label) {
                    unreadable.push(label);
                }
            }
        }
        let ownerless = facts.listeners.iter().filter(|l| l.owners.is_empty()).count();
        let mut reasons = Vec::new();
        if !facts.root && ownerless > 0 {
            reasons.push(unread_listeners(ownerless, facts.unseen_processes));
        }
        if !unreadable.is_empty() {
            let shown: Vec<String> = unreadable.iter().take(5).cloned().collect();
            let more = unreadable.len().saturating_sub(shown.len());
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            reasons.push(format!("the executable of {}{more} cannot be read", list_words(&shown)));
        }
        if reasons.is_empty() {
            return None;
        }
        Some(Skipped {
            check: "owner.deleted-executable".into(),
            reason: format!("{}, so their executables were not checked", reasons.join("; ")),
            remedy: (!facts.root).then(|| "sudo berth audit".into()),
        })
    }
}

/// `owner.split-loopback`: per TCP port, the holders of `127.0.0.1:P` and
/// of `[::1]:P` are different processes.
pub struct SplitLoopback;

impl Check for SplitLoopback {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "owner.split-loopback",
            summary:
                "different processes hold 127.0.0.1:PORT and [::1]:PORT, so localhost clients may reach the wrong one",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        split_loopback(&machine.facts.listeners)
    }
}

/// `owner.root-http`: a root process serving HTTP without authentication.
pub struct RootHttp;

impl Check for RootHttp {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "owner.root-http",
            summary: "a root-owned process serves an unauthenticated HTTP API",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        root_http(service).into_iter().collect()
    }

    /// Listeners whose owner berth cannot see: whether root holds them is unknown.
    fn skipped(&self, machine: &Machine) -> Option<Skipped> {
        let facts = machine.facts;
        let ownerless = facts.listeners.iter().filter(|l| l.owners.is_empty()).count();
        (!facts.root && ownerless > 0).then(|| Skipped {
            check: "owner.root-http".into(),
            reason: format!(
                "{}, so whether root serves them was not checked",
                unread_listeners(ownerless, facts.unseen_processes)
            ),
            remedy: Some("sudo berth audit".into()),
        })
    }
}

/// The finding for a listener whose owners in `odd` run a deleted or
/// replaced executable (None when there are none).
fn deleted_finding(listener: &Listener, odd: &[(&ProcessRef, &Executable)]) -> Option<Finding> {
    let (first, exe) = odd.first()?;
    let replaced = exe.replaced();
    let title = if replaced {
        format!("{} runs {}, which was replaced on disk after it started", first.label(), exe.path)
    } else {
        format!("{} runs a deleted executable ({})", first.label(), exe.path)
    };
    let mut finding = Finding::new("owner.deleted-executable", Severity::Medium, title).on(listener);
    finding.process = Some((*first).clone());
    for (owner, exe) in odd.iter().take(5) {
        let mark = if exe.deleted { " (deleted)" } else { "" };
        finding.evidence.push(format!("/proc/{}/exe -> {}{mark}", owner.pid, exe.path));
        match &exe.on_disk {
            Some(file) if exe.replaced() => finding.evidence.push(format!(
                "pid {} runs inode {} on device {}, but {} is now inode {} on device {} ({} bytes, modified {})",
                owner.pid,
                exe.running.inode,
                exe.running.device,
                exe.path,
                file.inode,
                file.device,
                file.size,
                time_text(file.modified)
            )),
            _ => finding.evidence.push(format!("nothing is at {} any more", exe.path)),
        }
    }
    if odd.len() > 5 {
        finding.evidence.push(format!("and {} more processes holding this socket", odd.len() - 5));
    }
    finding.evidence.push(format!("it listens on {}", listener.places()));
    finding.fix = match &first.systemd_unit {
        Some(unit) => format!(
            "restart it so it runs the file on disk (systemctl restart {unit}), or find out what changed {} if no upgrade did",
            exe.path
        ),
        None => format!(
            "restart {} (pid {}) so it runs the file on disk, or find out what changed {} if no upgrade did",
            first.name, first.pid, exe.path
        ),
    };
    Some(finding)
}

fn time_text(unix: i64) -> String {
    match u64::try_from(unix) {
        Ok(secs) if secs < 253_402_300_800 => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
        }
        _ => format!("@{unix}"),
    }
}

/// Takes traffic for 127.0.0.1 (bound to it, to 0.0.0.0, or to dual-stack ::).
fn takes_v4_loopback(listener: &Listener) -> bool {
    listener.addresses.iter().any(|ip| match scope::unmapped(*ip) {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_unspecified() && listener.takes_ipv4,
    })
}

/// Takes traffic for ::1 (bound to it or to ::).
fn takes_v6_loopback(listener: &Listener) -> bool {
    listener.addresses.iter().any(|ip| match ip {
        IpAddr::V6(v6) => *v6 == Ipv6Addr::LOCALHOST || (v6.is_unspecified() && listener.takes_ipv6),
        IpAddr::V4(_) => false,
    })
}

/// "2 listeners belong to processes berth cannot read (5 processes of
/// other users)": why the owner checks skipped some listeners.
fn unread_listeners(ownerless: usize, unseen_processes: usize) -> String {
    let listeners = plural(ownerless, "listener belongs to a process", "listeners belong to processes");
    format!(
        "{listeners} berth cannot read ({})",
        plural(unseen_processes, "process of another user", "processes of other users")
    )
}

/// Who holds a listener, for the evidence.
fn holder(listener: &Listener) -> String {
    match listener.owners.first() {
        Some(owner) if listener.owners.len() > 1 => {
            format!("{} and {}", owner.label(), plural(listener.owners.len() - 1, "other process", "other processes"))
        }
        Some(owner) => owner.label(),
        None => format!("{} (socket uid {})", unseen_holder(listener.owner_status), listener.socket_uid),
    }
}

/// The two listeners share no process (one unseen and one seen counts as
/// different; two unseen ones are one listener already).
fn different_processes(a: &Listener, b: &Listener) -> bool {
    !a.owners.iter().any(|p| b.owners.iter().any(|q| q.pid == p.pid))
}

/// The owner.split-loopback findings.
fn split_loopback(listeners: &[Listener]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut ports: Vec<u16> = listeners.iter().filter(|l| l.protocol == Protocol::Tcp).map(|l| l.port).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let on_port: Vec<&Listener> =
            listeners.iter().filter(|l| l.protocol == Protocol::Tcp && l.port == port).collect();
        let v4: Vec<&Listener> = on_port.iter().copied().filter(|l| takes_v4_loopback(l)).collect();
        let v6: Vec<&Listener> = on_port.iter().copied().filter(|l| takes_v6_loopback(l)).collect();
        // A v4 holder and a v6 holder that are different processes, one of
        // them holding only its side. (Processes that each hold both, as a
        // SO_REUSEPORT group does, share the load; that is not a split.)
        let mut pairs: Vec<(&Listener, &Listener)> = Vec::new();
        for a in &v4 {
            for b in &v6 {
                let one_sided = !takes_v6_loopback(a) || !takes_v4_loopback(b);
                if !std::ptr::eq(*a, *b) && one_sided && different_processes(a, b) {
                    pairs.push((a, b));
                }
            }
        }
        let Some((a, b)) = pairs.first() else { continue };
        let other_user = a.socket_uid != b.socket_uid;
        let severity = if other_user { Severity::High } else { Severity::Medium };
        let mut finding = Finding::new(
            "owner.split-loopback",
            severity,
            format!("different processes hold 127.0.0.1:{port} and [::1]:{port}"),
        )
        .on(a)
        .evidence(format!("127.0.0.1:{port} goes to {} (bound to {})", holder(a), a.places()))
        .evidence(format!("[::1]:{port} goes to {} (bound to {})", holder(b), b.places()))
        .evidence(format!(
            "localhost resolves to both addresses, so a client of localhost:{port} reaches either, depending on which it tries first"
        ))
        .fix(format!(
            "make one program listen on both 127.0.0.1 and ::1 and stop the other (berth who {port} shows both)"
        ));
        if other_user {
            finding.evidence.push(format!(
                "the sockets belong to different users (uid {} and uid {}): one can receive what clients meant for the other",
                a.socket_uid, b.socket_uid
            ));
        }
        let mut addresses = a.addresses.clone();
        addresses.extend(b.addresses.iter().copied());
        addresses.sort();
        addresses.dedup();
        finding.addresses = addresses;
        findings.push(finding);
    }
    findings
}

/// The owner.root-http finding: every process holding the socket runs as
/// root, and `GET /` is answered 2xx without asking for authentication.
fn root_http(service: &Service) -> Option<Finding> {
    let listener = service.listener;
    if !service.is_http() || listener.owners.is_empty() || listener.owners.iter().any(|p| p.uid != 0) {
        return None;
    }
    let baseline = service.baseline.as_ref()?;
    let status = baseline.head.status;
    if !(200..300).contains(&status) || baseline.header("WWW-Authenticate").is_some() {
        return None;
    }
    let owner = listener.owners.first()?;
    let severity = if listener.loopback_only() { Severity::Medium } else { Severity::High };
    let mut finding = Finding::new(
        "owner.root-http",
        severity,
        format!("{} serves HTTP without authentication as root", owner.label()),
    )
    .on(listener)
    .evidence(format!("{} runs as root (uid 0): {}", owner.label(), owner.command))
    .evidence(format!(
        "GET {}/ answered {} {} without asking for authentication (no WWW-Authenticate){}",
        service.url(),
        status,
        baseline.head.reason,
        baseline.header("Server").map(|s| format!(", Server: {s}")).unwrap_or_default()
    ));
    if !listener.loopback_only() {
        finding.evidence.push(format!("it is bound beyond loopback: {}", listener.places()));
    } else {
        finding.evidence.push("every local user and process can reach it on loopback".into());
    }
    finding.fix = match &owner.systemd_unit {
        // berth's own server, which the audit recommends elsewhere: the
        // advice is how to run it, not to replace it.
        _ if is_berth_serve(owner) => "run berth serve as your own user: `berth serve DIR` without sudo (started with sudo, berth serve drops to the user who ran sudo once its port is bound), or require authentication with --token".into(),
        Some(unit) => format!(
            "run it as an unprivileged user (User= in {unit}, or drop privileges after binding), or require authentication"
        ),
        None => "run it as an unprivileged user (or drop privileges after binding), or require authentication".into(),
    };
    Some(finding)
}

/// Is this process `berth serve`? (berth's name and program, and `serve`
/// among its arguments: global options may come first.)
fn is_berth_serve(owner: &ProcessRef) -> bool {
    let mut words = owner.command.split(' ');
    let program = words.next().unwrap_or_default();
    owner.name == "berth" && program.rsplit('/').next() == Some("berth") && words.any(|w| w == "serve")
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_inventory::scope::BindScope;

    #[test]
    fn berth_serve_is_recognised() {
        let with = |name: &str, command: &str| ProcessRef { name: name.into(), command: command.into(), ..owner(1, 0) };
        assert!(is_berth_serve(&with("berth", "berth serve ./site")));
        assert!(is_berth_serve(&with("berth", "/usr/local/bin/berth --color never serve -p 80")));
        assert!(!is_berth_serve(&with("berth", "berth echo 7000")));
        assert!(!is_berth_serve(&with("python3", "python3 -m http.server")));
    }

    fn owner(pid: u32, uid: u32) -> ProcessRef {
        ProcessRef {
            pid,
            name: format!("p{pid}"),
            user: None,
            uid,
            command: String::new(),
            container: None,
            systemd_unit: None,
        }
    }

    fn listener(port: u16, addresses: &[IpAddr], owners: Vec<ProcessRef>, uid: u32) -> Listener {
        Listener {
            protocol: Protocol::Tcp,
            port,
            addresses: addresses.to_vec(),
            scope: BindScope::Loopback,
            takes_ipv4: addresses.iter().any(|a| a.is_ipv4()),
            takes_ipv6: addresses.iter().any(|a| a.is_ipv6()),
            owners,
            socket_uid: uid,
            owner_status: crate::analysis::unseen::OwnerStatus::Unknown,
        }
    }

    #[test]
    fn the_unread_listeners_are_counted_in_words() {
        assert_eq!(
            unread_listeners(1, 1),
            "1 listener belongs to a process berth cannot read (1 process of another user)"
        );
        assert_eq!(
            unread_listeners(2, 5),
            "2 listeners belong to processes berth cannot read (5 processes of other users)"
        );
    }

    #[test]
    fn an_unseen_holder_reads_as_everywhere_else() {
        let mut unseen = listener(80, &[V4], Vec::new(), 0);
        unseen.owner_status = crate::analysis::unseen::OwnerStatus::Hidden;
        assert_eq!(holder(&unseen), "another user's process, seen only by root (socket uid 0)");
        assert_eq!(unseen.owner_name(), "another user's process, seen only by root");
    }

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    #[test]
    fn split_loopback_needs_two_processes() {
        let split =
            [listener(5000, &[V4], vec![owner(1, 1000)], 1000), listener(5000, &[V6], vec![owner(2, 1000)], 1000)];
        let found = split_loopback(&split);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].id, found[0].severity, found[0].port),
            ("owner.split-loopback", Severity::Medium, Some(5000))
        );
        assert_eq!(found[0].addresses, vec![V4, V6]);

        let users = [listener(5000, &[V4], vec![owner(1, 1000)], 1000), listener(5000, &[V6], Vec::new(), 0)];
        assert_eq!(split_loopback(&users)[0].severity, Severity::High);

        let one = [listener(5000, &[V4, V6], vec![owner(1, 1000)], 1000)];
        assert!(split_loopback(&one).is_empty());
        let other_ports = [listener(5000, &[V4], vec![owner(1, 0)], 0), listener(5001, &[V6], vec![owner(2, 0)], 0)];
        assert!(split_loopback(&other_ports).is_empty());
        // Two processes sharing both sockets (SO_REUSEPORT): not a split.
        let shared = [
            listener(5000, &[V4, V6], vec![owner(1, 1000)], 1000),
            listener(5000, &[V4, V6], vec![owner(2, 1000)], 1000),
        ];
        assert!(split_loopback(&shared).is_empty());
        // A wildcard holder on one side counts.
        let wild = [
            listener(5000, &[IpAddr::V4(Ipv4Addr::UNSPECIFIED)], vec![owner(1, 0)], 0),
            listener(5000, &[V6], vec![owner(2, 1000)], 1000),
        ];
        assert_eq!(split_loopback(&wild)[0].severity, Severity::High);
    }
}
