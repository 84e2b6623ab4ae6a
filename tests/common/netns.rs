//! Network namespaces: one made and deleted per test ([`NetnsGuard`]), and
//! two joined by a veth pair ([`Link`]) as a "remote" host that no traffic
//! leaves the machine to reach.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use super::harness::{require_program, require_root};

/// A network namespace made with `ip netns add`, deleted on drop.
pub struct NetnsGuard {
    pub name: String,
}

impl NetnsGuard {
    /// `ip netns add berth-test-<pid>-<tag>` and `ip -n NAME link set lo up`.
    pub fn create(tag: &str) -> NetnsGuard {
        let guard = NetnsGuard::add(tag);
        let (ok, err) = ip(&["-n", &guard.name, "link", "set", "lo", "up"]);
        assert!(ok, "ip -n {} link set lo up failed: {err}", guard.name);
        guard
    }

    /// `ip netns add berth-test-<pid>-<tag>` alone: a namespace as the
    /// kernel makes it, lo down and without addresses.
    pub fn add(tag: &str) -> NetnsGuard {
        require_root("network namespaces");
        require_program("ip", "iproute2");
        let name = format!("berth-test-{}-{tag}", std::process::id());
        // A leftover from a crashed earlier run with the same pid: remove it.
        let _ = ip(&["netns", "del", &name]);
        let (ok, err) = ip(&["netns", "add", &name]);
        assert!(ok, "ip netns add {name} failed: {err}");
        NetnsGuard { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `ip netns exec NAME`: the wrapper that runs a program (berth, with
    /// [`run_berth_wrapped`](super::run_berth_wrapped)) inside the namespace.
    pub fn exec(&self) -> [&str; 4] {
        ["ip", "netns", "exec", self.name.as_str()]
    }
}

/// Runs `body` on a thread that entered the namespace: sockets it creates
/// live in that namespace for as long as they are open.
pub fn in_netns<T: Send + 'static>(netns: &NetnsGuard, body: impl FnOnce() -> T + Send + 'static) -> T {
    let path = netns.path();
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    std::thread::spawn(move || {
        // SAFETY: setns on a descriptor we own; CLONE_NEWNET changes this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        body()
    })
    .join()
    // The body's own panic (or skip) goes on as it was, not as a new one.
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let (ok, err) = ip(&["netns", "del", &self.name]);
        if !ok {
            eprintln!("warning: ip netns del {} failed: {err}", self.name);
        }
    }
}

/// The address of namespace A on the link of a [`Link`].
pub const A_ADDR: &str = "198.51.100.1";

/// Two namespaces joined by a veth pair: A (198.51.100.1 on ra0) and B
/// (198.51.100.2 on rb0).
pub struct Link {
    pub a: NetnsGuard,
    pub b: NetnsGuard,
}

impl Link {
    pub fn new(tag: &str) -> Link {
        let a = NetnsGuard::create(&format!("{tag}a"));
        let b = NetnsGuard::create(&format!("{tag}b"));
        for args in [
            vec![
                "-n",
                a.name.as_str(),
                "link",
                "add",
                "ra0",
                "type",
                "veth",
                "peer",
                "name",
                "rb0",
                "netns",
                b.name.as_str(),
            ],
            vec!["-n", a.name.as_str(), "addr", "add", "198.51.100.1/24", "dev", "ra0"],
            vec!["-n", b.name.as_str(), "addr", "add", "198.51.100.2/24", "dev", "rb0"],
            vec!["-n", a.name.as_str(), "link", "set", "ra0", "up"],
            vec!["-n", b.name.as_str(), "link", "set", "rb0", "up"],
        ] {
            let (ok, err) = ip(&args);
            assert!(ok, "ip {args:?}: {err}");
        }
        Link { a, b }
    }

    /// Runs a program inside A; panics with its stderr on failure.
    pub fn in_a(&self, args: &[&str]) {
        run_in(&self.a, args);
    }

    /// Can B open a TCP connection to A's address at `port`?
    pub fn b_connects(&self, port: u16) -> bool {
        self.b_connects_to(A_ADDR, port)
    }

    /// Can B open a TCP connection to `address`:`port` (1.5 s at most)?
    pub fn b_connects_to(&self, address: &str, port: u16) -> bool {
        let script =
            "import socket,sys\ns=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\ns.close()";
        let status = Command::new("ip")
            .args(["netns", "exec", &self.b.name, "python3", "-c", script, address, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run python3 in B");
        status.success()
    }

    /// Makes B send packets for 127.0.0.1 to A over the link, as an
    /// attacker on the same network does (CVE-2020-8558): B's local table
    /// moves behind a rule that routes 127.0.0.1/32 via A.
    pub fn b_routes_loopback_to_a(&self) {
        let b = self.b.name.as_str();
        for args in [
            vec!["-n", b, "rule", "add", "pref", "100", "lookup", "local"],
            vec!["-n", b, "rule", "del", "pref", "0"],
            vec!["-n", b, "rule", "add", "pref", "10", "to", "127.0.0.1/32", "lookup", "200"],
            vec![
                "-n",
                b,
                "route",
                "add",
                "127.0.0.1/32",
                "via",
                A_ADDR,
                "dev",
                "rb0",
                "src",
                "198.51.100.2",
                "table",
                "200",
            ],
        ] {
            let (ok, err) = ip(&args);
            assert!(ok, "ip {args:?}: {err}");
        }
        run_in(&self.b, &["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
        run_in(&self.b, &["sysctl", "-qw", "net.ipv4.conf.rb0.route_localnet=1"]);
    }
}

pub fn run_in(netns: &NetnsGuard, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ip netns exec");
    assert!(out.status.success(), "{args:?} in {} failed: {}", netns.name, String::from_utf8_lossy(&out.stderr));
}

/// Runs `ip ARGS`; (success, stderr).
pub fn ip(args: &[&str]) -> (bool, String) {
    match Command::new("ip").args(args).stdin(Stdio::null()).output() {
        Ok(out) => (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(e) => (false, format!("cannot run ip: {e}")),
    }
}

/// Runs `body` in a network namespace of its own when the tests run as
/// root, else here. In it no other program on the machine can connect to
/// the test's listeners: another test run's `berth audit` or `scan`, which
/// connect to every listener they see, once took a slot of a small echo
/// --max-clients, or was the first connection a test server accepted.
/// Threads and processes that `body` starts are in the namespace too:
/// both inherit it from the thread that starts them.
pub fn isolated<T: Send + 'static>(tag: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    if !super::is_root() {
        return body();
    }
    let netns = NetnsGuard::create(tag);
    in_netns(&netns, body)
}
