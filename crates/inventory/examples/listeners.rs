//! A small `ss -tlnp` on berth-inventory: the listening sockets of this
//! network namespace, their queues, and the processes holding them.
//!
//! ```text
//! cargo run -p berth-inventory --example listeners              # TCP, like ss -tlnp
//! cargo run -p berth-inventory --example listeners -- --udp     # and UDP, like ss -tulnp
//! cargo run -p berth-inventory --example listeners -- --proc    # read /proc/net, not netlink
//! ```
//!
//! Without root, the sockets of other users' processes are listed with no
//! process: their /proc/PID/fd cannot be read. The count goes to stderr.

use std::process::ExitCode;

use berth_inventory::{collect, Query, Snapshot, Socket, SocketState, SourceChoice};

fn main() -> ExitCode {
    let mut udp = false;
    let mut source = SourceChoice::Auto;
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "-u" | "--udp" => udp = true,
            "--proc" => source = SourceChoice::Proc,
            "--netlink" => source = SourceChoice::Netlink,
            other => {
                eprintln!("listeners: unknown argument {other:?} (known: --udp, --proc, --netlink)");
                return ExitCode::from(2);
            }
        }
    }

    // Listening TCP sockets (the kernel filters them) and, with --udp, the
    // bound UDP ones; no TCP counters, which a listing does not show.
    let query = Query { udp, ..Query::listeners(source) };
    let snapshot = match collect(&query) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            eprintln!("listeners: {error}");
            return ExitCode::FAILURE;
        }
    };

    let mut sockets: Vec<&Socket> = snapshot.sockets.iter().filter(|s| s.state.is_listening()).collect();
    sockets.sort_by_key(|s| (s.protocol, s.local.port(), s.local.ip()));

    let width = sockets.iter().map(|s| s.local.to_string().len()).max().unwrap_or(0).max("Local Address:Port".len());
    println!("{:<5} {:<6} {:>6} {:>6} {:<width$}  Process", "Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port");
    for socket in sockets {
        // For a listener, Recv-Q is the accept queue and Send-Q the
        // backlog limit, as ss shows them (the limit is netlink only).
        let send_q = socket.listen_backlog.unwrap_or(socket.send_queue);
        let line = format!(
            "{:<5} {:<6} {:>6} {:>6} {:<width$}  {}",
            socket.protocol.name(),
            if socket.state == SocketState::Listen { "LISTEN" } else { "UNCONN" },
            socket.recv_queue,
            send_q,
            socket.local.to_string(),
            users(&snapshot, socket),
        );
        println!("{}", line.trim_end());
    }

    let visibility = &snapshot.visibility;
    if let Some(reason) = &visibility.netlink_fallback_reason {
        eprintln!("listeners: read /proc/net because netlink failed: {reason}");
    }
    if visibility.unreadable_processes > 0 {
        eprintln!(
            "listeners: {} processes could not be read (not root): their sockets show no process",
            visibility.unreadable_processes
        );
    }
    ExitCode::SUCCESS
}

/// `users:(("sshd",pid=812,fd=3),...)`, as ss writes the owners.
fn users(snapshot: &Snapshot, socket: &Socket) -> String {
    if socket.owners.is_empty() {
        return String::new();
    }
    let mut entries: Vec<String> = Vec::new();
    for owner in &socket.owners {
        let name = snapshot.processes.get(&owner.pid).map_or("?", |p| p.name.as_str());
        for fd in &owner.fds {
            entries.push(format!("(\"{name}\",pid={},fd={fd})", owner.pid));
        }
    }
    format!("users:({})", entries.join(","))
}
