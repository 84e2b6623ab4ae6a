//! Facts about this machine that tests compare berth's output with: who
//! we are, our processes, the kernel's settings, the tools installed.

use std::ffi::CStr;

use super::harness;

pub fn our_pid() -> u64 {
    u64::from(std::process::id())
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The user name of a uid, as the C library gives it.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r fills `passwd` with pointers into `buffer`, used before it is dropped.
    unsafe {
        let mut passwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut passwd, buffer.as_mut_ptr(), buffer.len(), &mut result);
        if rc != 0 || result.is_null() || passwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(passwd.pw_name).to_string_lossy().into_owned())
    }
}

/// Our own command line, as /proc shows it.
pub fn own_cmdline() -> Vec<String> {
    let bytes = std::fs::read("/proc/self/cmdline").expect("read /proc/self/cmdline");
    bytes.split(|&b| b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect()
}

/// The kernel's short name (comm) of a process.
pub fn comm_of(pid: u64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("read comm").trim_end().to_string()
}

/// net.ipv4.ip_local_port_range.
pub fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("read port range");
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().expect("port number"));
    (parts.next().expect("low"), parts.next().expect("high"))
}

/// True when berth can read firewall rules here: nft or iptables-save is
/// installed (what berth itself looks for).
pub fn firewall_tools_installed() -> bool {
    harness::find_program("nft").is_some() || harness::find_program("iptables-save").is_some()
}

/// net.ipv4.ip_unprivileged_port_start: the lowest port a user without
/// CAP_NET_BIND_SERVICE may bind (1024 when it cannot be read).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024)
}
