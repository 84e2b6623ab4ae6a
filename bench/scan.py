#!/usr/bin/env python3
"""Benchmark `berth scan` against nmap's TCP connect scan of 127.0.0.1.

Both scan all 65,535 TCP ports of 127.0.0.1, several times, interleaved
(berth, nmap, nmap, berth, ...: the order alternates so that drift in the
machine's speed hits both alike). The script opens a few listeners of its
own first, so there is something to find, and checks that every run of
both tools found exactly the same open ports. It prints each run, the
medians, and the ratio berth / nmap (the target is at most 0.5).

    nmap -sT -p- --min-rate 100000 -n 127.0.0.1      (the anchor, as in the issue)
    berth scan --json                                (all ports of 127.0.0.1 by default)

As root, both run inside a network namespace the script makes (and
removes), so that only the script's own listeners are there: on a shared
machine other programs open and close loopback listeners all the time, and
a port that opens between two scans would look like a disagreement. The
kernel's work per port is the same there. --no-netns scans the machine's
own loopback instead.

Usage:
    bench/scan.py                        # 7 runs each, target/release/berth
    bench/scan.py --runs 11 --berth target/release/berth --listeners 20

Needs: python3, nmap (apt-get install nmap), a release build of berth
(cargo build --release). Wall time is measured here around each whole
process, output captured. Exit status 0 when the ports agree and the ratio
meets the target, 1 otherwise.
"""

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET_RATIO = 0.5
NMAP = ["nmap", "-sT", "-p-", "--min-rate", "100000", "-n", "-oG", "-", "127.0.0.1"]


def open_listeners(count):
    """`count` listening sockets on 127.0.0.1, ports chosen by the kernel."""
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        sockets.append(s)
    return sockets


def timed(argv):
    """Runs argv; returns (wall seconds, CPU seconds (user + system), stdout, stderr, exit status)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = child.communicate(timeout=120)
    # communicate() reaped the child; its rusage is in our children's totals.
    wall = time.perf_counter() - start
    return wall, stdout.decode(errors="replace"), stderr.decode(errors="replace"), child.returncode


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def berth_ports(stdout):
    return {entry["port"] for entry in json.loads(stdout) if entry["state"] == "open"}


def nmap_ports(stdout):
    ports = set()
    for line in stdout.splitlines():
        if "Ports:" in line:
            for port, state in re.findall(r"(\d+)/(\w+)/tcp", line):
                if state == "open":
                    ports.add(int(port))
    return ports


def listening_now(port):
    """Is something really listening on 127.0.0.1:port (or a wildcard) right now?"""
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], stdout=subprocess.PIPE, check=False).stdout
    return bool(out.strip())


def run_in_namespace(args):
    """Runs this script again inside a new network namespace; returns its exit status."""
    name = f"berth-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        print(f"(in network namespace {name}: only this script's listeners are there)", flush=True)
        argv = ["ip", "netns", "exec", name, sys.executable, os.path.abspath(__file__), "--inside", name,
                "--berth", args.berth, "--runs", str(args.runs), "--listeners", str(args.listeners)]
        return subprocess.run(argv, check=False).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--listeners", type=int, default=10, help="listeners this script opens on 127.0.0.1")
    parser.add_argument("--no-netns", action="store_true", help="scan this namespace's loopback, not a fresh one")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.berth = os.path.abspath(args.berth)
    if os.geteuid() == 0 and not args.no_netns and not args.inside:
        sys.exit(run_in_namespace(args))

    if not os.access(args.berth, os.X_OK):
        sys.exit(f"{args.berth} is not there: run cargo build --release first")
    if subprocess.run(["nmap", "--version"], stdout=subprocess.DEVNULL, check=False).returncode != 0:
        sys.exit("nmap is not installed: apt-get install nmap")

    listeners = open_listeners(args.listeners)
    ours = {s.getsockname()[1] for s in listeners}
    berth = [args.berth, "scan", "--json"]

    # One untimed run each: page cache, and the kernel's first-touch costs.
    timed(berth)
    timed(NMAP)

    times = {"berth": [], "nmap": []}
    cpu = {"berth": [], "nmap": []}
    found = {"berth": [], "nmap": []}
    notes = []
    for run in range(args.runs):
        order = ["berth", "nmap"] if run % 2 == 0 else ["nmap", "berth"]
        for tool in order:
            before = children_cpu()
            wall, stdout, stderr, status = timed(berth if tool == "berth" else NMAP)
            cpu[tool].append(children_cpu() - before)
            if tool == "berth" and status not in (0, 1):
                sys.exit(f"berth failed (exit {status}): {stderr.strip()}")
            ports = berth_ports(stdout) if tool == "berth" else nmap_ports(stdout)
            times[tool].append(wall)
            found[tool].append(ports)
            for line in stderr.splitlines():
                if tool == "berth" and "note:" in line:
                    notes.append(line.strip())
        print(f"run {run + 1}: berth {times['berth'][-1]:.3f} s ({len(found['berth'][-1])} open), "
              f"nmap {times['nmap'][-1]:.3f} s ({len(found['nmap'][-1])} open)", flush=True)

    # Agreement: ports both saw in every run, and anything either saw otherwise.
    agree = True
    for run, (b, n) in enumerate(zip(found["berth"], found["nmap"]), start=1):
        if not ours <= b:
            agree = False
            print(f"run {run}: berth missed our listeners {sorted(ours - b)}")
        if not ours <= n:
            print(f"run {run}: nmap missed our listeners {sorted(ours - n)}")
        for port in sorted(b ^ n):
            who = "berth only" if port in b else "nmap only"
            why = "listening now" if listening_now(port) else "not listening (a self-connection, or it closed)"
            print(f"run {run}: port {port}: {who}; {why}")
            if port in b or listening_now(port):
                agree = False

    berth_median = statistics.median(times["berth"])
    nmap_median = statistics.median(times["nmap"])
    pairwise = statistics.median(b / n for b, n in zip(times["berth"], times["nmap"]))
    print()
    print(f"open ports found: berth {sorted(found['berth'][-1])}")
    print(f"                  nmap  {sorted(found['nmap'][-1])}")
    print(f"same open ports in every run: {'yes' if agree else 'NO'}"
          + ("" if agree else " (see above)"))
    print(f"berth scan --json             median {berth_median:.3f} s over {args.runs} runs "
          f"(min {min(times['berth']):.3f}, max {max(times['berth']):.3f})")
    print(f"nmap -sT -p- --min-rate 100000 median {nmap_median:.3f} s over {args.runs} runs "
          f"(min {min(times['nmap']):.3f}, max {max(times['nmap']):.3f})")
    ratio = berth_median / nmap_median
    print(f"ratio berth / nmap: {ratio:.2f} (of medians), {pairwise:.2f} (median of pairwise); "
          f"target at most {TARGET_RATIO}")
    print(f"CPU time (user + system) medians: berth {statistics.median(cpu['berth']):.3f} s, "
          f"nmap {statistics.median(cpu['nmap']):.3f} s "
          f"(berth uses every core; other load on the machine slows its wall time first)")
    if notes:
        print(f"berth's notes (last run): {notes[-1]}")
    for s in listeners:
        s.close()
    sys.exit(0 if agree and ratio <= TARGET_RATIO else 1)


if __name__ == "__main__":
    main()
