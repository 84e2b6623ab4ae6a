#!/usr/bin/env python3
"""Benchmark a full `berth audit` of a machine with about 50 listeners.

The load: sockfarm.py's listeners (sockets that accept at the kernel level
and never answer: the worst case for a prober, which must wait for each of
them) plus real services started here on loopback: redis-server,
memcached, nginx, prometheus-node-exporter, a python3 http.server, and
`berth serve` and `berth echo`. The script counts the TCP listeners the
audit saw (from `berth ls`), then times, interleaved:

    berth audit --json --fail-on none                  (the target: under 3 s)
    nmap -sT -sV --version-light -p PORTS -n 127.0.0.1 (the anchor: a service
                                                        scan of the same ports)

nmap only says what each port speaks; the audit does that and every check
on top (firewall walk, HTTP rebinding/CORS/WebSocket probes, no-auth
probes, TLS, owners), so the ratio shows what the extra work costs.

As root everything runs inside a network namespace the script creates and
removes, so that only the script's listeners are audited (other programs on
a shared machine open and close listeners all the time). --no-netns audits
the machine's own loopback instead.

Usage:
    bench/audit.py                      # 5 runs each, target/release/berth
    bench/audit.py --runs 9 --farm 40

Needs: python3, nmap, redis-server, memcached, nginx,
prometheus-node-exporter (apt-get install ...; missing ones are left out
and said), a release build (cargo build --release). Exit status 0 when the
median audit takes under 3 s, 1 otherwise.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOCKFARM = os.path.join(ROOT, "..", "shared", "bench", "sockfarm.py")
TARGET_SECONDS = 3.0
NETNS = "berth-bench-audit"


class Services:
    """Real services on loopback, each stopped by its pid at the end."""

    def __init__(self, prefix, berth, scratch):
        self.prefix = prefix
        self.berth = berth
        self.scratch = scratch
        self.children = []
        self.started = []
        self.missing = []

    def start(self, name, argv, port, needs=None):
        if needs and not shutil.which(needs):
            self.missing.append(name)
            return
        child = subprocess.Popen(self.prefix + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd=self.scratch)
        self.children.append(child)
        if port and not self.wait(port):
            self.missing.append(name + " (did not start)")
            return
        self.started.append(name)

    def wait(self, port):
        probe = [sys.executable, "-c", f"""
import socket, time, sys
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)"""]
        return subprocess.run(self.prefix + probe).returncode == 0

    def stop(self):
        """SIGTERM each by its pid, then SIGKILL what is left after 5 s."""
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def start_services(services, scratch):
    berth = services.berth
    redis, memcached, nginx, exporter, python_http, serve, echo = (free_port() for _ in range(7))
    services.start("redis-server", ["redis-server", "--port", str(redis), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", scratch], redis, needs="redis-server")
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    services.start("memcached", ["memcached", "-l", "127.0.0.1", "-p", str(memcached), "-U", "0"] + user, memcached,
                   needs="memcached")
    conf = os.path.join(scratch, "nginx.conf")
    with open(conf, "w") as f:
        # One process (no master), so stopping it by its pid leaves no worker behind.
        f.write(f"""daemon off; master_process off; worker_processes 1; pid {scratch}/nginx.pid; error_log stderr;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {scratch}; proxy_temp_path {scratch};
  fastcgi_temp_path {scratch}; uwsgi_temp_path {scratch}; scgi_temp_path {scratch};
  server {{ listen 127.0.0.1:{nginx}; root {scratch}; }} }}
""")
    services.start("nginx", ["nginx", "-c", conf, "-e", "stderr"], nginx, needs="nginx")
    services.start("prometheus-node-exporter",
                   ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter}"], exporter,
                   needs="prometheus-node-exporter")
    services.start("python3 http.server", [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(python_http)],
                   python_http)
    services.start("berth serve", [berth, "serve", scratch, "--port", str(serve)], serve)
    services.start("berth echo", [berth, "echo", str(echo)], echo)


def timed(argv):
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--farm", type=int, default=43, help="sockfarm listeners (default 43)")
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    parser.add_argument("--no-netns", action="store_true")
    args = parser.parse_args()
    berth = os.path.abspath(args.berth)
    if not os.path.exists(berth):
        sys.exit(f"{berth} not found: cargo build --release first")

    use_netns = os.geteuid() == 0 and not args.no_netns
    prefix = ["ip", "netns", "exec", NETNS] if use_netns else []
    if use_netns:
        subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "add", NETNS], check=True)
        subprocess.run(prefix + ["ip", "link", "set", "lo", "up"], check=True)

    scratch = tempfile.mkdtemp(prefix="berth-bench-audit-")
    os.chmod(scratch, 0o755)
    services = Services(prefix, berth, scratch)
    farm = None
    try:
        ready = os.path.join(scratch, "farm.json")
        base = 21000 + os.getpid() % 20000
        farm = subprocess.Popen(prefix + [sys.executable, SOCKFARM, "--listeners", str(args.farm), "--conns", "0",
                                          "--base-port", str(base), "--ready-file", ready, "--quiet",
                                          "--max-seconds", "600"])
        deadline = time.monotonic() + 30
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(ready):
            sys.exit("sockfarm did not get ready within 30 s")
        start_services(services, scratch)

        ls = subprocess.run(prefix + [berth, "ls", "-t", "--json"], stdout=subprocess.PIPE, check=True)
        listeners = [s for s in json.loads(ls.stdout) if s["state"] == "LISTEN"]
        ports = sorted({s["local"]["port"] for s in listeners})
        print(f"load: {len(ports)} TCP listening ports ({args.farm} sockfarm, services: "
              f"{', '.join(services.started)})" + (f"; left out: {', '.join(services.missing)}" if services.missing else ""))
        print(f"where: {'network namespace ' + NETNS if use_netns else 'the machine loopback'}")

        audit = prefix + [berth, "audit", "--json", "--fail-on", "none"]
        nmap = prefix + ["nmap", "-sT", "-sV", "--version-light", "-n", "-p", ",".join(map(str, ports)), "127.0.0.1"]
        have_nmap = shutil.which("nmap") is not None
        audit_times, nmap_times = [], []
        findings = None
        for run in range(args.runs):
            order = [("audit", audit), ("nmap", nmap)] if run % 2 == 0 else [("nmap", nmap), ("audit", audit)]
            for name, argv in order:
                if name == "nmap" and not have_nmap:
                    continue
                seconds, result = timed(argv)
                if name == "audit":
                    if result.returncode != 0:
                        sys.exit(f"berth audit exited {result.returncode}: {result.stderr.decode(errors='replace')}")
                    findings = json.loads(result.stdout)
                    audit_times.append(seconds)
                else:
                    nmap_times.append(seconds)
                print(f"  run {run + 1}: {name:5} {seconds:7.3f} s")

        audit_median = statistics.median(audit_times)
        print()
        print(f"berth audit median: {audit_median:.3f} s over {len(audit_times)} runs "
              f"(target < {TARGET_SECONDS:.1f} s); {len(findings)} findings")
        by_id = {}
        for finding in findings:
            by_id[finding["id"]] = by_id.get(finding["id"], 0) + 1
        print("findings by check: " + ", ".join(f"{k} {v}" for k, v in sorted(by_id.items())))
        if nmap_times:
            nmap_median = statistics.median(nmap_times)
            print(f"nmap -sT -sV --version-light median: {nmap_median:.3f} s")
            print(f"ratio berth audit / nmap service scan: {audit_median / nmap_median:.2f}")
        return 0 if audit_median < TARGET_SECONDS else 1
    finally:
        services.stop()
        if farm:
            farm.kill()
            farm.wait()
        shutil.rmtree(scratch, ignore_errors=True)
        if use_netns:
            subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
