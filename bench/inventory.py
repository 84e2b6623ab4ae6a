#!/usr/bin/env python3
"""Benchmark `berth ls` and `berth who` against ss, lsof and netstat.

For each load, ../shared/bench/sockfarm.py builds a reproducible set of
loopback sockets; then every command runs several times, interleaved
(berth, rival, berth, rival, ...) so that drift in the machine's speed hits
both alike. Wall time and peak memory come from the kernel's accounting of
each finished child: wall time measured here, peak memory from
/usr/bin/time (its "Maximum resident set size"; measuring it from Python
would count the forked Python's own memory). Medians and the berth/rival ratios
are printed, with the targets from the issue beside them.

Usage:
    bench/inventory.py                   # all three loads, 5 runs each
    bench/inventory.py --loads small     # one load
    bench/inventory.py --runs 9 --berth target/release/berth

Needs: python3, ss (iproute2), lsof, netstat (net-tools), a release build
of berth (`cargo build --release`). Run as root so every tool sees every
owner (the comparison is unfair otherwise: lsof and ss skip what they
cannot read).
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOCKFARM = os.path.join(ROOT, "..", "shared", "bench", "sockfarm.py")

LOADS = {
    # name: (listeners, connections, processes)
    "small": (100, 1000, 20),
    "large": (1000, 20000, 100),
    "scale": (1000, 50000, 100),
}

# (load, berth command, rival command) -> target ratio (berth / rival at most)
TARGETS = {
    ("large", "ls -a -t", "ss -tanp"): 0.5,
    ("large", "who PORT", "ss -tlnp sport"): 0.5,
    ("large", "who PORT", "lsof -iTCP:PORT"): 0.2,
    ("scale", "ls -a -t", "ss -tanp"): 0.1,
    ("scale", "ls -a -t", "lsof -iTCP"): 0.3,
}
MEMORY_TARGETS = {("large", "ls -a -t", "ss -tanp"): 2.0}


TIME_OUTPUT = tempfile.NamedTemporaryFile(prefix="berth-bench-", suffix=".time", delete=False).name
atexit.register(lambda: os.path.exists(TIME_OUTPUT) and os.unlink(TIME_OUTPUT))


def run_once(argv):
    """Runs argv with output discarded; returns (wall seconds, peak KiB, exit status)."""
    start = time.perf_counter()
    status = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", TIME_OUTPUT] + argv,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(TIME_OUTPUT) as f:
        lines = [l for l in f.read().split() if l.isdigit()]
    return wall, int(lines[-1]) if lines else 0, status


def count_lines(argv):
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
    return out.decode(errors="replace")


def start_farm(load, ready_file):
    listeners, conns, procs = LOADS[load]
    argv = [
        sys.executable, SOCKFARM, "-L", str(listeners), "-C", str(conns), "-P", str(procs),
        "--ready-file", ready_file, "--max-seconds", "1800", "-q",
    ]
    farm = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline:
        if os.path.exists(ready_file) and os.path.getsize(ready_file) > 0:
            try:
                with open(ready_file) as f:
                    return farm, json.load(f)
            except json.JSONDecodeError:
                pass
        if farm.poll() is not None:
            raise SystemExit(f"sockfarm exited early: {farm.stderr.read().decode()}")
        time.sleep(0.2)
    farm.kill()
    raise SystemExit("sockfarm did not get ready within 180 s")


def stop_farm(farm):
    farm.send_signal(signal.SIGTERM)
    try:
        farm.wait(timeout=60)
    except subprocess.TimeoutExpired:
        farm.kill()
        farm.wait()


def bench_pair(name_a, argv_a, name_b, argv_b, runs):
    """Interleaved runs after one warm-up of each; returns medians and pairwise ratios."""
    run_once(argv_a)
    run_once(argv_b)
    a_wall, b_wall, a_mem, b_mem, ratios = [], [], [], [], []
    for i in range(runs):
        order = [(argv_a, a_wall, a_mem), (argv_b, b_wall, b_mem)]
        if i % 2:
            order.reverse()
        for argv, walls, mems in order:
            wall, mem, _ = run_once(argv)
            walls.append(wall)
            mems.append(mem)
        ratios.append(a_wall[-1] / b_wall[-1])
    return {
        "a": name_a, "b": name_b,
        "a_wall": statistics.median(a_wall), "b_wall": statistics.median(b_wall),
        "a_mem": statistics.median(a_mem), "b_mem": statistics.median(b_mem),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios), "ratio_max": max(ratios),
    }


def check_complete(berth, load):
    """The listing must hold the same TCP sockets as ss's."""
    ss = count_lines(["ss", "-tanH"]).strip().splitlines()
    ours = json.loads(count_lines([berth, "ls", "-a", "-t", "--json"]))
    return len(ours), len(ss)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", default="small,large,scale", help="comma-separated: small, large, scale")
    parser.add_argument("--runs", type=int, default=5, help="counted runs per command (default 5)")
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    for tool in ("ss", "lsof", "/usr/bin/time"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install iproute2 lsof net-tools time)")
    if not os.path.exists(args.berth):
        raise SystemExit(f"{args.berth} not found: run cargo build --release first")
    if os.geteuid() != 0:
        print("warning: not root: lsof and ss see fewer owners than berth would as root", file=sys.stderr)

    results = []
    for load in args.loads.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            farm, info = start_farm(load, os.path.join(tmp, "ready.json"))
            try:
                low, high = info["listen_ports"]
                port = str((low + high) // 2)
                ours, theirs = check_complete(args.berth, load)
                listeners, conns, procs = LOADS[load]
                print(f"\n== load {load}: {listeners} listeners + {conns} connections in {procs} processes "
                      f"({info['tcp_sockets']} TCP sockets); berth lists {ours}, ss lists {theirs}")
                b = args.berth
                pairs = [
                    ("ls -a -t", [b, "ls", "-a", "-t"], "ss -tanp", ["ss", "-tanp"]),
                    ("ls -a -t", [b, "ls", "-a", "-t"], "lsof -iTCP", ["lsof", "-nP", "-iTCP"]),
                    ("who PORT", [b, "who", port], "ss -tlnp sport", ["ss", "-tlnp", f"sport = :{port}"]),
                    ("who PORT", [b, "who", port], "lsof -iTCP:PORT", ["lsof", "-nP", f"-iTCP:{port}"]),
                ]
                if shutil.which("netstat") and load != "scale":
                    pairs.append(("ls -a -t", [b, "ls", "-a", "-t"], "netstat -tanp", ["netstat", "-tanp"]))
                print(f"{'berth':<10} {'rival':<16} {'berth s':>8} {'rival s':>8} {'ratio':>6} "
                      f"{'(min-max)':>13} {'target':>7} {'berth KiB':>10} {'rival KiB':>10} {'mem':>5}")
                for name_a, argv_a, name_b, argv_b in pairs:
                    r = bench_pair(name_a, argv_a, name_b, argv_b, args.runs)
                    r["load"] = load
                    target = TARGETS.get((load, name_a, name_b))
                    mem_target = MEMORY_TARGETS.get((load, name_a, name_b))
                    verdict = "" if target is None else (f"≤{target}" + (" ok" if r["ratio"] <= target else " MISS"))
                    mem_ratio = r["a_mem"] / r["b_mem"]
                    mem_verdict = f"{mem_ratio:.2f}" + ("" if mem_target is None else
                                                         (" ok" if mem_ratio <= mem_target else " MISS"))
                    r["target"], r["mem_ratio"] = target, mem_ratio
                    results.append(r)
                    print(f"{name_a:<10} {name_b:<16} {r['a_wall']:8.3f} {r['b_wall']:8.3f} {r['ratio']:6.3f} "
                          f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) {verdict:>9} {r['a_mem']:10.0f} "
                          f"{r['b_mem']:10.0f} {mem_verdict}")
            finally:
                stop_farm(farm)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
