//! What `berth kill PORT` would stop, and what it refuses to stop and why;
//! the report of what was done, and whether the ports are free at the end.
//! Pure functions over Snapshots: the command asks, signals and samples,
//! fills the [`KillReport`], and render prints it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::unseen::UnseenCounts;
use super::who::{who, WhoReport};
use crate::printable::shell_word;
use berth_inventory::target::PortTarget;
use berth_inventory::{Container, Snapshot, SocketState};

/// Who is asking: the facts the refusals depend on.
#[derive(Clone, Debug)]
pub struct Requester {
    pub uid: u32,
    /// berth's pid and its ancestors' (its shell, its terminal, ...).
    pub protected_pids: Vec<u32>,
}

/// A process `kill` will signal.
#[derive(Clone, Debug, Serialize)]
pub struct Victim {
    pub pid: u32,
    pub name: String,
    pub cmdline: Vec<String>,
    pub user: Option<String>,
    pub start_time: Option<u64>,
    /// The start in clock ticks since boot, what the pid-reuse check
    /// compares (see `ProcessHandle::open`); None when the process was not
    /// seen in /proc.
    #[serde(skip)]
    pub start_ticks: Option<u64>,
    pub systemd_unit: Option<String>,
    /// The ports (of those asked) it holds.
    pub ports: Vec<u16>,
}

/// Why a holder is left alone.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Refusal {
    /// pid 1: stopping init brings the machine (or container) down.
    Init,
    /// A kernel thread: it cannot be killed and holds no port of its own.
    KernelThread,
    /// berth itself or one of its ancestors (the shell that runs it).
    Ancestor,
    /// Another user's process, and berth is not root.
    OtherUser { user: Option<String>, uid: u32 },
    /// A process inside a container: stop the container, not its process.
    Container { container: Container, command: String },
    /// Docker's userland proxy publishing a container's port.
    DockerProxy { container_address: Option<String>, command: String },
}

impl Refusal {
    /// One line saying why, and what to do instead (`target` as the user
    /// named the port, for the command to run instead).
    pub fn explain(&self, target: &str) -> String {
        match self {
            Refusal::Init => "pid 1 (init) is never stopped: it would take the whole system down".into(),
            Refusal::KernelThread => "a kernel thread cannot be stopped with a signal".into(),
            Refusal::Ancestor => "it is berth itself or the shell running it".into(),
            Refusal::OtherUser { user, uid } => format!(
                "it belongs to {}; stopping it needs root: sudo berth kill {}",
                user.clone().unwrap_or_else(|| format!("uid {uid}")),
                shell_word(target)
            ),
            Refusal::Container { container, command } => format!(
                "it runs in {} container {}; stopping the process would leave the container to restart it: {command}",
                container.runtime,
                short_id(&container.id)
            ),
            Refusal::DockerProxy { container_address, command } => format!(
                "it is Docker's proxy publishing container {} (killing it leaves the container running): {command}",
                container_address.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// A holder left alone.
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub pid: u32,
    pub name: String,
    #[serde(flatten)]
    pub refusal: Refusal,
}

/// The plan for one port.
#[derive(Clone, Debug, Serialize)]
pub struct PortPlan {
    pub target: String,
    pub port: u16,
    pub held: bool,
    /// pids to stop (see `KillPlan::victims`).
    pub stop: Vec<u32>,
    pub refused: Vec<Refused>,
    /// Processes using the port only as the local end of an outgoing
    /// connection: they do not hold it against a server, and are spared.
    pub spared_clients: Vec<u32>,
    /// Sockets on the port whose holder is invisible (other users' when not root).
    pub unseen: UnseenCounts,
    pub time_wait: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct KillPlan {
    pub ports: Vec<PortPlan>,
    pub victims: BTreeMap<u32, Victim>,
}

impl KillPlan {
    pub fn is_empty(&self) -> bool {
        self.victims.is_empty()
    }
}

pub fn plan(targets: &[PortTarget], snapshot: &Snapshot, requester: &Requester) -> KillPlan {
    let mut victims: BTreeMap<u32, Victim> = BTreeMap::new();
    let mut ports = Vec::with_capacity(targets.len());
    for target in targets {
        let report: WhoReport = who(target, snapshot);
        let mut port_plan = PortPlan {
            target: target.text.clone(),
            port: target.port,
            held: report.held,
            stop: Vec::new(),
            refused: Vec::new(),
            spared_clients: Vec::new(),
            unseen: report.unseen,
            time_wait: report.time_wait,
        };
        for holder in &report.holders {
            let owner = &holder.process;
            let pid = owner.pid;
            if holder.bindings.is_empty() && holder.connections.established + holder.connections.other == 0 {
                port_plan.spared_clients.push(pid);
                continue;
            }
            let process = snapshot.processes.get(&pid);
            let name = owner.display_name();
            if let Some(refusal) = refusal_for(pid, snapshot, requester, target.port) {
                port_plan.refused.push(Refused { pid, name, refusal });
                continue;
            }
            port_plan.stop.push(pid);
            victims
                .entry(pid)
                .or_insert_with(|| Victim {
                    pid,
                    name,
                    cmdline: owner.cmdline.to_vec(),
                    user: owner.user.map(str::to_string),
                    start_time: process.and_then(|p| p.start_time),
                    start_ticks: process.map(|p| p.start_ticks),
                    systemd_unit: owner.systemd_unit.map(str::to_string),
                    ports: Vec::new(),
                })
                .ports
                .push(target.port);
        }
        ports.push(port_plan);
    }
    KillPlan { ports, victims }
}

fn refusal_for(pid: u32, snapshot: &Snapshot, requester: &Requester, port: u16) -> Option<Refusal> {
    if pid == 1 {
        return Some(Refusal::Init);
    }
    let process = snapshot.processes.get(&pid);
    if let Some(p) = process {
        if pid == 2 || (p.ppid == 2 && p.cmdline.is_empty()) {
            return Some(Refusal::KernelThread);
        }
    }
    if requester.protected_pids.contains(&pid) {
        return Some(Refusal::Ancestor);
    }
    if let Some(p) = process {
        if p.name == "docker-proxy" {
            let container_address = argument_after(&p.cmdline, "-container-ip")
                .map(|ip| format!("{ip}:{}", argument_after(&p.cmdline, "-container-port").unwrap_or("?")));
            return Some(Refusal::DockerProxy {
                container_address,
                command: format!("docker stop $(docker ps -q --filter publish={port})"),
            });
        }
        if let Some(container) = &p.container {
            let id = short_id(&container.id);
            let command = match container.runtime.as_str() {
                "docker" => format!("docker stop {id}"),
                "podman" => format!("podman stop {id}"),
                "containerd" | "cri-o" | "kubernetes" => format!("crictl stop {id}"),
                "lxc" => format!("lxc-stop -n {id}"),
                other => format!("stop the {other} container {id}"),
            };
            return Some(Refusal::Container { container: container.clone(), command });
        }
        if requester.uid != 0 && p.uid != requester.uid {
            return Some(Refusal::OtherUser { user: p.user.clone(), uid: p.uid });
        }
    }
    None
}

/// What happened to one process.
#[derive(Clone, Debug, Serialize)]
pub struct Signalled {
    pub pid: u32,
    pub signal: String,
    /// It had exited by the end.
    pub exited: bool,
    /// SIGKILL was sent after the timeout (--force).
    pub forced: bool,
    /// It was already gone (or its pid reused) when berth came to signal it.
    pub already_gone: bool,
}

/// The state of one port at the end.
#[derive(Clone, Debug, Serialize)]
pub struct PortOutcome {
    pub target: String,
    pub port: u16,
    pub free: bool,
    /// Processes holding it after all (restarted by a supervisor, ignored the signal, ...).
    pub held_by: Vec<u32>,
}

/// The plan, the signals sent and the ports' state at the end: what `kill`
/// prints as it goes, and as one JSON object with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct KillReport {
    pub dry_run: bool,
    pub plan: KillPlan,
    pub signalled: Vec<Signalled>,
    pub outcome: Vec<PortOutcome>,
}

/// True when no live socket (TIME_WAIT aside) in `snapshot` holds any of the targets.
pub fn ports_free(targets: &[PortTarget], snapshot: &Snapshot) -> bool {
    !snapshot.sockets.iter().any(|s| s.state != SocketState::TimeWait && targets.iter().any(|t| t.matches_local(s)))
}

/// Each target's state in `snapshot`: free, or held by which processes
/// (TIME_WAIT remnants hold nothing).
pub fn outcomes(targets: &[PortTarget], snapshot: &Snapshot) -> Vec<PortOutcome> {
    targets
        .iter()
        .map(|target| {
            let live: Vec<_> = snapshot
                .sockets
                .iter()
                .filter(|s| s.state != SocketState::TimeWait && target.matches_local(s))
                .collect();
            let mut held_by: Vec<u32> = live.iter().flat_map(|s| s.owners.iter().map(|o| o.pid)).collect();
            held_by.sort_unstable();
            held_by.dedup();
            PortOutcome { target: target.text.clone(), port: target.port, free: live.is_empty(), held_by }
        })
        .collect()
}

/// The value after `flag` in a command line (`-container-ip ADDRESS`).
fn argument_after<'a>(cmdline: &'a [String], flag: &str) -> Option<&'a str> {
    cmdline.iter().position(|a| a == flag).and_then(|i| cmdline.get(i + 1)).map(String::as_str)
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}
