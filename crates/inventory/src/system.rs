//! Read-only facts about the machine's network settings, for `berth doctor`:
//! interface flags and addresses, how `localhost` resolves, the sysctls
//! under /proc/sys that change what loopback and ports do, and descriptor
//! limits. Sockets are not read here (that is the Snapshot's job); this
//! module only reads settings, once, and never changes any.

use std::fs;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use super::interfaces::interface_states;
pub use super::interfaces::InterfaceState;

/// A line of /etc/hosts that names `localhost`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsEntry {
    /// 1-based line number, for messages.
    pub line: usize,
    /// The address as written (it may not parse).
    pub address: String,
    /// Every name on the line, as written.
    pub names: Vec<String>,
}

/// A file that may be missing or unreadable, which doctor reports differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileFact<T> {
    /// The file was read; what was taken from it.
    Read(T),
    /// The file does not exist.
    Missing,
    /// It exists but could not be read: the path and the error.
    Unreadable(String),
}

/// IPv6 switches: net.ipv6.conf.{all,default,lo}.disable_ipv6.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Settings {
    /// False when the kernel has no IPv6 at all (no /proc/sys/net/ipv6).
    pub available: bool,
    /// net.ipv6.conf.all.disable_ipv6 (None: unreadable); writing it sets
    /// every interface's, so true means IPv6 was turned off everywhere.
    pub disabled_all: Option<bool>,
    /// net.ipv6.conf.default.disable_ipv6: the setting interfaces created
    /// from now on start with.
    pub disabled_default: Option<bool>,
    /// net.ipv6.conf.lo.disable_ipv6: set, ::1 is gone.
    pub disabled_lo: Option<bool>,
}

/// net.ipv4.conf.NAME.{route_localnet,rp_filter,accept_local} of one
/// entry under /proc/sys/net/ipv4/conf (`all`, `default`, or an interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConf {
    /// `all`, `default`, or the interface's name.
    pub name: String,
    /// route_localnet: 1 lets packets to or from 127.0.0.0/8 be routed
    /// (and DNAT'ed to loopback) instead of dropped as martians.
    pub route_localnet: Option<u32>,
    /// rp_filter: reverse-path filtering, 0 off, 1 strict, 2 loose (RFC 3704).
    pub rp_filter: Option<u32>,
    /// accept_local: 1 accepts packets that arrive with a local source address.
    pub accept_local: Option<u32>,
}

/// Open-file limits: berth's own RLIMIT_NOFILE (inherited from the shell
/// that started it, so the same as what that shell's other programs get)
/// and the system-wide ceilings. `u64::MAX` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileLimits {
    /// The soft RLIMIT_NOFILE: one more than the highest descriptor number
    /// a process may open.
    pub soft: Option<u64>,
    /// The hard RLIMIT_NOFILE: how far the soft limit may be raised
    /// without privilege.
    pub hard: Option<u64>,
    /// fs.file-max: open files the whole system may have.
    pub file_max: Option<u64>,
    /// fs.file-nr's first field: open files now, system-wide.
    pub file_open: Option<u64>,
    /// fs.nr_open: the highest RLIMIT_NOFILE anyone may set.
    pub nr_open: Option<u64>,
}

/// Everything `doctor` reads about the system besides sockets and firewall rules.
#[derive(Clone, Debug)]
pub struct SystemFacts {
    /// The calling process's effective uid.
    pub euid: u32,
    /// CAP_NET_BIND_SERVICE in berth's effective set (inherited like the uid).
    pub can_bind_privileged: bool,
    /// Every interface with its flags and addresses.
    pub interfaces: Vec<InterfaceState>,
    /// What getaddrinfo("localhost") returns, in its order (duplicates removed).
    pub localhost: Result<Vec<IpAddr>, String>,
    /// /etc/hosts lines naming localhost.
    pub hosts: FileFact<Vec<HostsEntry>>,
    /// The `hosts:` line of /etc/nsswitch.conf (None: the file has none).
    pub nsswitch_hosts: FileFact<Option<String>>,
    /// Whether the kernel has IPv6, and its disable_ipv6 switches.
    pub ipv6: Ipv6Settings,
    /// `all`, `default`, then every interface, by name.
    pub ipv4_conf: Vec<InterfaceConf>,
    /// net.ipv4.ip_unprivileged_port_start.
    pub unprivileged_port_start: Option<u16>,
    /// Open-file limits.
    pub limits: FileLimits,
}

/// Reads every fact. Cheap: a few small files, one getifaddrs, one
/// getaddrinfo (which may ask DNS if nsswitch says so).
pub fn collect() -> SystemFacts {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    SystemFacts {
        euid,
        can_bind_privileged: euid == 0 || has_net_bind_service(),
        interfaces: interface_states(),
        localhost: resolve_localhost(),
        hosts: read_file("/etc/hosts", localhost_entries),
        nsswitch_hosts: read_file("/etc/nsswitch.conf", nsswitch_hosts_line),
        ipv6: ipv6_settings(),
        ipv4_conf: ipv4_conf(),
        unprivileged_port_start: read_number("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .and_then(|n| u16::try_from(n).ok()),
        limits: file_limits(),
    }
}

fn read_file<T>(path: &str, parse: impl FnOnce(&str) -> T) -> FileFact<T> {
    match fs::read_to_string(path) {
        Ok(text) => FileFact::Read(parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileFact::Missing,
        Err(e) => FileFact::Unreadable(format!("{path}: {e}")),
    }
}

/// A sysctl or other /proc file holding one number.
fn read_number(path: impl AsRef<Path>) -> Option<u64> {
    fs::read_to_string(path).ok()?.split_ascii_whitespace().next()?.parse().ok()
}

/// getaddrinfo("localhost") through the C library, as clients call it, so
/// /etc/hosts, nsswitch.conf and gai.conf (RFC 6724 ordering) all count.
fn resolve_localhost() -> Result<Vec<IpAddr>, String> {
    let addresses = ("localhost", 0).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut ordered: Vec<IpAddr> = Vec::new();
    for address in addresses {
        if !ordered.contains(&address.ip()) {
            ordered.push(address.ip());
        }
    }
    Ok(ordered)
}

/// The /etc/hosts entries one of whose names is `localhost` (any case) or
/// `localhost.<domain>`.
fn localhost_entries(text: &str) -> Vec<HostsEntry> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let content = line.split('#').next().unwrap_or("");
            let mut fields = content.split_ascii_whitespace();
            let address = fields.next()?;
            let names: Vec<String> = fields.map(str::to_string).collect();
            let names_localhost = names.iter().any(|n| {
                let lower = n.to_ascii_lowercase();
                lower == "localhost" || lower.starts_with("localhost.")
            });
            names_localhost.then(|| HostsEntry { line: index + 1, address: address.to_string(), names })
        })
        .collect()
}

/// The sources after `hosts:` in nsswitch.conf, e.g. `files dns`.
fn nsswitch_hosts_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let content = line.split('#').next().unwrap_or("").trim();
        let rest = content.strip_prefix("hosts")?.trim_start().strip_prefix(':')?;
        Some(rest.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
    })
}

fn ipv6_settings() -> Ipv6Settings {
    let flag = |name: &str| read_number(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6")).map(|n| n != 0);
    Ipv6Settings {
        available: Path::new("/proc/sys/net/ipv6").exists(),
        disabled_all: flag("all"),
        disabled_default: flag("default"),
        disabled_lo: flag("lo"),
    }
}

/// Every entry of /proc/sys/net/ipv4/conf: `all` and `default` first.
fn ipv4_conf() -> Vec<InterfaceConf> {
    let base = Path::new("/proc/sys/net/ipv4/conf");
    let mut names: Vec<String> = fs::read_dir(base)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort_by_key(|name| (name != "all", name != "default", name.clone()));
    names
        .into_iter()
        .map(|name| {
            let value = |key: &str| read_number(base.join(&name).join(key)).and_then(|n| u32::try_from(n).ok());
            InterfaceConf {
                route_localnet: value("route_localnet"),
                rp_filter: value("rp_filter"),
                accept_local: value("accept_local"),
                name,
            }
        })
        .collect()
}

fn file_limits() -> FileLimits {
    // SAFETY: getrlimit fills the struct we pass.
    let (soft, hard) = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let value = |v: libc::rlim_t| if v == libc::RLIM_INFINITY { u64::MAX } else { v };
            (Some(value(limit.rlim_cur)), Some(value(limit.rlim_max)))
        } else {
            (None, None)
        }
    };
    FileLimits {
        soft,
        hard,
        file_max: read_number("/proc/sys/fs/file-max"),
        file_open: read_number("/proc/sys/fs/file-nr"),
        nr_open: read_number("/proc/sys/fs/nr_open"),
    }
}

/// CAP_NET_BIND_SERVICE (bit 10) in CapEff of /proc/self/status.
fn has_net_bind_service() -> bool {
    const CAP_NET_BIND_SERVICE: u32 = 10;
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim().to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_BIND_SERVICE) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_entries_naming_localhost() {
        let text = "127.0.0.1\tlocalhost # loopback\n::1 localhost ip6-localhost\n# 203.0.113.1 localhost\n\
                    127.0.1.1 myhost\n203.0.113.3 LOCALHOST.localdomain\n";
        let entries = localhost_entries(text);
        assert_eq!(entries.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(), ["127.0.0.1", "::1", "203.0.113.3"]);
        assert_eq!(entries[1].line, 2);
        assert_eq!(entries[1].names, ["localhost", "ip6-localhost"]);
    }

    #[test]
    fn nsswitch_hosts() {
        let text = "passwd: files\n# hosts: dns\nhosts:   files mdns4_minimal [NOTFOUND=return] dns  # c\n";
        assert_eq!(nsswitch_hosts_line(text).as_deref(), Some("files mdns4_minimal [NOTFOUND=return] dns"));
        assert_eq!(nsswitch_hosts_line("passwd: files\n"), None);
        assert_eq!(nsswitch_hosts_line("hostsx: dns\n"), None);
    }

    #[test]
    fn loopback_is_listed_with_its_flags() {
        let interfaces = interface_states();
        if let Some(lo) = interfaces.iter().find(|i| i.name == "lo") {
            assert!(lo.loopback);
        }
    }
}
