#!/usr/bin/env python3
"""Benchmark `berth serve` against Debian's nginx and `python3 -m http.server`.

Every server runs on loopback in the same run, measured with wrk (2 threads,
64 connections, keep-alive, 10 s by default), interleaved over several runs
(the order rotates), with a short warm-up per server. Prints medians, the
ratio berth/rival (the median of the per-run ratios) and each server's peak
memory (VmHWM; for nginx the sum over the master and its workers).

Needs wrk, nginx and python3 (`apt-get install wrk nginx`) and a release
build (`cargo build --release`). Run from anywhere:

    python3 bench/serve.py                 # 3 runs of 10 s per server and file
    python3 bench/serve.py --runs 5 --duration 5

nginx is configured as Debian configures a static server: 2 workers,
access_log off, sendfile on, tcp_nopush on, with keepalive_requests raised
so that it keeps its connections as berth does ("nginx"). A second nginx
("nginx-cache") also keeps open file descriptors and their metadata
(open_file_cache, checked every 60 s), the tuning nginx offers for the job
berth's file cache does; it is reported without a target. berth runs with
--quiet (no log line per request, like nginx's access_log off).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    # name, path, rivals, metric, targets {rival: minimum ratio}
    ("1 KiB", "/1k.bin", ["nginx", "nginx-cache", "python"], "requests", {"nginx": 1.0, "python": 50.0}),
    ("1 MiB", "/1m.bin", ["nginx", "nginx-cache"], "bytes", {"nginx": 0.8}),
]


def wait_for_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def peak_memory_kib(pid):
    """VmHWM of pid plus its children (nginx workers), in KiB."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    def __init__(self, name, proc, port):
        self.name, self.proc, self.port = name, proc, port

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if self.name != "berth" else signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_berth(binary, site):
    proc = subprocess.Popen(
        [binary, "serve", site, "--port", "0", "--quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line or "")
        if match:
            port = int(match.group(1))
            wait_for_port(port, proc)
            return Server("berth", proc, port)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("berth serve did not print its URL")


def start_nginx(site, workdir, name="nginx", extra=""):
    port = free_port()
    workdir = os.path.join(workdir, name)
    os.mkdir(workdir)
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"""worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    {extra}
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {site};
    }}
}}
"""
        )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [nginx, "-c", conf, "-e", f"{workdir}/nginx-error.log", "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return Server(name, proc, port)


def start_python(site):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", site],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return Server("python", proc, port)


def wrk(url, duration, threads, connections):
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if not rps or not total:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    seconds = float(total.group(2)) * {"ms": 0.001, "s": 1, "m": 60}.get(total.group(3), 1)
    size = float(total.group(4)) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}[total.group(5)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)),
        "bytes_per_s": size / seconds,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    parser.add_argument("--no-python", action="store_true", help="skip python3 -m http.server")
    args = parser.parse_args()

    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    if not os.access(args.berth, os.X_OK):
        raise SystemExit(f"{args.berth} not found: run cargo build --release first")

    workdir = tempfile.mkdtemp(prefix="berth-bench-serve-")
    servers = []
    try:
        site = os.path.join(workdir, "site")
        os.mkdir(site)
        with open(os.path.join(site, "1k.bin"), "wb") as f:
            f.write(os.urandom(1024))
        with open(os.path.join(site, "1m.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        # nginx's workers run as nobody when started as root.
        for path in (workdir, site):
            os.chmod(path, 0o755)
        for name in ("1k.bin", "1m.bin"):
            os.chmod(os.path.join(site, name), 0o644)

        started = {
            "berth": start_berth(args.berth, site),
            "nginx": start_nginx(site, workdir),
            "nginx-cache": start_nginx(
                site, workdir, "nginx-cache", "open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s;"
            ),
        }
        if not args.no_python:
            started["python"] = start_python(site)
        servers = list(started.values())

        results = {}  # (case, server) -> list of wrk results
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.runs} runs, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        for name, path, rivals, _, _ in CASES:
            for server in ["berth"] + rivals:
                if server in started:
                    wrk(started[server].url(path), 1, args.threads, args.connections)  # warm-up
        for run in range(args.runs):
            for name, path, rivals, _, _ in CASES:
                order = ["berth"] + [r for r in rivals if r in started]
                shift = run % len(order)
                for server in order[shift:] + order[:shift]:
                    result = wrk(started[server].url(path), args.duration, args.threads, args.connections)
                    results.setdefault((name, server), []).append(result)
                    print(
                        f"  run {run + 1} {name:>5} {server:<11} {result['rps']:>10.0f} req/s "
                        f"{result['bytes_per_s'] / 1e9:>6.2f} GB/s"
                        + (f"  non-2xx {result['non2xx']}" if result["non2xx"] else "")
                        + (f"  socket errors {result['socket_errors']}" if result["socket_errors"] else ""),
                        flush=True,
                    )

        memory = {name: peak_memory_kib(server.proc.pid) for name, server in started.items()}
        print()
        print("| file | server | req/s (median) | GB/s (median) | berth / rival | target | peak memory |")
        print("|---|---|---|---|---|---|---|")
        failed = False
        for name, path, rivals, metric, targets in CASES:
            key = "rps" if metric == "requests" else "bytes_per_s"
            berth_runs = results[(name, "berth")]
            for server in ["berth"] + [r for r in rivals if r in started]:
                runs = results[(name, server)]
                rps = statistics.median(r["rps"] for r in runs)
                gbps = statistics.median(r["bytes_per_s"] for r in runs) / 1e9
                if server == "berth":
                    ratio_text, target_text = "", ""
                else:
                    ratio = statistics.median(b[key] / r[key] for b, r in zip(berth_runs, runs) if r[key] > 0)
                    target = targets.get(server)
                    ok = target is None or ratio >= target
                    failed |= not ok
                    ratio_text = f"{ratio:.2f}x ({'req/s' if key == 'rps' else 'bytes/s'})"
                    target_text = f">= {target}x {'ok' if ok else 'MISSED'}" if target else ""
                print(
                    f"| {name} | {server} | {rps:,.0f} | {gbps:.2f} | {ratio_text} | {target_text} | "
                    f"{memory[server] / 1024:.1f} MiB |"
                )
        errors = sum(r["non2xx"] for runs in results.values() for r in runs)
        if errors:
            print(f"warning: {errors} responses were not 2xx/3xx")
        return 1 if failed else 0
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
