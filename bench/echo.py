#!/usr/bin/env python3
"""Benchmark `berth echo` (TCP) against socat and a threaded Python echo server.

Each server runs on a loopback port; one client pushes VOLUME bytes through
it and reads them all back (sender and receiver on two threads, 4 MiB
buffers, the GIL released in the socket calls). Throughput is bytes echoed
per second of wall time. Servers are measured interleaved (berth, socat,
python, berth, ...) and medians and ratios are printed; berth's peak memory
comes from /proc/PID/status VmHWM at the end.

Targets (issue 4): berth at least 2.5x socat (`socat TCP-LISTEN:P,fork
EXEC:cat`), and no less than the threaded Python server.

Usage: bench/echo.py [--runs 5] [--mib 1024] [--berth target/release/berth]
Needs socat (apt-get install socat) and a release build of berth.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PYTHON_ECHO = r"""
import socket, socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            n = self.request.recv_into(buf)
            if not n:
                break
            self.request.sendall(view[:n])
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
server = Server(("127.0.0.1", int(sys.argv[1])), Echo)
server.serve_forever()
"""


def wait_listening(port, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {deadline} s")


def push(port, volume):
    """Sends `volume` bytes and reads them back; returns seconds taken."""
    chunk = memoryview(os.urandom(4 << 20))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def sender():
        left = volume
        while left > 0:
            n = min(left, len(chunk))
            sock.sendall(chunk[:n])
            left -= n
        sock.shutdown(socket.SHUT_WR)

    buffer = bytearray(4 << 20)
    start = time.perf_counter()
    thread = threading.Thread(target=sender)
    thread.start()
    received = 0
    while received < volume:
        n = sock.recv_into(buffer)
        if n == 0:
            break
        received += n
    elapsed = time.perf_counter() - start
    thread.join()
    sock.close()
    if received != volume:
        raise SystemExit(f"port {port}: {received} bytes came back of {volume}")
    return elapsed


def cpu_seconds(pid):
    """utime + stime of the process and its reaped children (socat forks one per client)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=1024, help="MiB pushed through per run (default 1024)")
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    args = parser.parse_args()
    if not shutil.which("socat"):
        raise SystemExit("socat is not installed (apt-get install socat)")
    if not os.path.exists(args.berth):
        raise SystemExit(f"{args.berth} not found: run cargo build --release first")
    volume = args.mib << 20

    ports = {name: free_port() for name in ("berth", "socat", "python")}
    servers = {
        "berth": subprocess.Popen([args.berth, "echo", str(ports["berth"]), "--tcp"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "socat": subprocess.Popen(["socat", f"TCP-LISTEN:{ports['socat']},bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "python": subprocess.Popen([sys.executable, "-c", PYTHON_ECHO, str(ports["python"])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    try:
        for port in ports.values():
            wait_listening(port)
        for name in servers:
            push(ports[name], 16 << 20)  # warm-up
        times = {name: [] for name in servers}
        cpu = {name: [] for name in servers}
        for i in range(args.runs):
            order = list(servers)
            if i % 2:
                order.reverse()
            for name in order:
                before = cpu_seconds(servers[name].pid)
                times[name].append(push(ports[name], volume))
                # socat's per-client child is reaped shortly after the close.
                time.sleep(0.2)
                cpu[name].append(cpu_seconds(servers[name].pid) - before)
        rate = {name: volume / statistics.median(t) / 1e9 for name, t in times.items()}
        print(f"TCP echo, {args.mib} MiB per run, {args.runs} runs, one client (GB/s, median):")
        for name in servers:
            print(f"  {name:<7} {rate[name]:6.2f} GB/s   (min-max {volume / max(times[name]) / 1e9:.2f}-"
                  f"{volume / min(times[name]) / 1e9:.2f})")
        gib = volume / (1 << 30)
        print("server CPU seconds per GiB echoed (median; lower is leaner, independent of the client's speed):")
        for name in servers:
            print(f"  {name:<7} {statistics.median(cpu[name]) / gib:6.3f} s/GiB")
        print(f"  berth/socat  {rate['berth'] / rate['socat']:.2f}x  (target >= 2.5)")
        print(f"  berth/python {rate['berth'] / rate['python']:.2f}x  (target >= 1.0)")
        print(f"  berth peak memory {peak_kib(servers['berth'].pid)} KiB")
    finally:
        for server in servers.values():
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
