#!/usr/bin/env python3
"""Benchmark `berth metrics` against node_exporter (issue 13, Performance).

In the SAME run, at three socket loads built with ../shared/bench/sockfarm.py
(default: nothing extra; 500 listeners + 2,000 connections = 4,500 sockets in
10 processes; 5,000 listeners + 20,000 connections = 45,000 sockets in 100
processes), this script starts, each on its own free loopback port:

    berth metrics --listen 127.0.0.1:0 --audit-every 0   (port read from its stderr line)
    prometheus-node-exporter                             (default collectors)
    prometheus-node-exporter --collector.tcpstat         (counts TCP states)

and scrapes each one's /metrics over HTTP, interleaved (berth, node_exporter,
node_exporter+tcpstat, berth, ...): --warmup rounds first (not counted), then
--rounds measured rounds, with --gap seconds between scrapes (an exporter is
idle between two of Prometheus's scrapes). Each scrape is timed whole: from
before connect() to the last byte (the server closes: `Connection: close`),
plain text format 0.0.4, no compression. It reports per exporter and load:

  - scrape time median and p90 (ms), and berth's ratio to each node_exporter
    (the ratio of the medians);
  - VmRSS after the rounds and VmHWM (from /proc/PID/status);
  - CPU per scrape: the utime+stime delta (all threads, /proc/PID/stat) over
    the measured rounds divided by the rounds;
  - the number of series in a scrape (non-comment lines), and berth's own
    berth_scrape_duration_seconds of its last scrape;
  - the socket count actually present (/proc/net/sockstat TCP/UDP inuse,
    TIME_WAIT, and the farm's own count);
  - how the scrape time grows with sockets: a least-squares slope over the
    loads, in ms per 10,000 sockets.

Exporters are restarted at each load (fresh RSS). --busy keeps the second
core busy during the whole run with a spinning python process pinned to the
last CPU (berth and node_exporter are not pinned), as a developer laptop
often is. --profile also records berth with `perf record -g` during
--profile-scrapes scrapes at the largest load and prints the top 10 symbols
by self time (needs perf).

As root the bench re-runs itself in a private network namespace (unshare -n,
lo up) so the loads are exact and other programs' sockets don't count
(--no-netns to use the machine's own). Every process started here is stopped
by its pid in a finally block; the farm is removed after each load. Nothing is
written outside a temporary directory (removed at the end) unless --out FILE.

Usage:
    sudo python3 bench/metrics.py                 # 3 loads, 3 warm-up + 30 rounds each
    sudo python3 bench/metrics.py --busy
    sudo python3 bench/metrics.py --profile       # + perf top 10 of berth at the largest load
    python3 bench/metrics.py --quick              # 2 loads (0, 4.5k), 1 + 5 rounds: a smoke test

Needs: python3 (standard library only), a release build with `berth metrics`
(cargo build --release), Debian's prometheus-node-exporter, sockfarm.py; perf
for --profile. Output: a table on stdout, then one JSON line (prefix
`RESULT `). Exit status 0 when berth meets the issue's targets (scrape at
~4.5k sockets <= 1.0x node_exporter default; at ~45k <= node_exporter with
tcpstat; VmRSS <= node_exporter default's at each load), 1 when it misses one,
2 when something could not be measured at all.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (cpu_ticks, default_sockfarm, fmt, free_port, log, median, memory_kib, quantile,
                      reexec_in_netns, slope, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
EXPORTERS = ["berth", "ne", "ne+tcpstat"]
LABELS = {"berth": "berth metrics", "ne": "node_exporter", "ne+tcpstat": "node_exporter+tcpstat"}
# listeners:connections:processes per load (sockets = listeners + 2 x connections)
DEFAULT_LOADS = "0:0:0,500:2000:10,5000:20000:100"


# ---------------------------------------------------------------- /proc


def sockstat():
    """This namespace's /proc/net/sockstat and sockstat6 as {"TCP": {...}, "UDP": {...}, ...}."""
    out = {}
    for path in ("/proc/net/sockstat", "/proc/net/sockstat6"):  # keys TCP, UDP, ... and TCP6, UDP6, ...
        try:
            with open(path) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    words = rest.split()
                    out[key] = {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
        except (OSError, ValueError):
            pass
    return out


def socket_count(stat):
    """TCP + UDP sockets in use (IPv4 and IPv6), plus TIME_WAIT remnants."""
    total = 0
    for key in ("TCP", "UDP", "TCP6", "UDP6"):
        total += stat.get(key, {}).get("inuse", 0)
    return total + stat.get("TCP", {}).get("tw", 0)


# ---------------------------------------------------------------- HTTP


def decode_chunked(data):
    body = bytearray()
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            return bytes(body)
        body += data[pos:pos + size]
        pos += size + 2


def scrape(port, timeout):
    """GET /metrics, timed from before connect() to the last byte.
    Returns (seconds, status, body bytes)."""
    request = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: berth-bench\r\n"
               "Accept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n").encode()
    chunks = []
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        while True:
            data = s.recv(1 << 18)
            if not data:
                break
            chunks.append(data)
    elapsed = time.perf_counter() - t0
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise RuntimeError(f"no HTTP header in {len(raw)} bytes")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = decode_chunked(body)
    return elapsed, status, body


def count_series(body):
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def berth_own_duration(body):
    match = re.search(rb"^berth_scrape_duration_seconds(?:\{[^}]*\})? ([0-9.eE+-]+)", body, re.M)
    return float(match.group(1)) if match else None


# ---------------------------------------------------------------- processes


class Proc:
    """A started process: its pid, its stderr in a file, and a bounded stop by pid."""

    def __init__(self, name, argv, work, env=None, preexec=None):
        self.name = name
        self.argv = argv
        self.port = None
        safe = re.sub(r"[^A-Za-z0-9]+", "-", name)
        self.err_path = os.path.join(work, f"{safe}-{time.monotonic_ns()}.err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=env, preexec_fn=preexec)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self, limit=800):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, grace=10.0):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.err.close()


def wait_port(proc, port, timeout=15.0):
    def ok():
        if not proc.alive():
            return True
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    wait_for(ok, timeout, 0.05)
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited ({proc.proc.returncode}): {proc.stderr_text()}")


def start_berth(args, work):
    p = Proc("berth", [args.berth, "metrics", "--listen", "127.0.0.1:0", "--audit-every", "0"], work)
    pattern = re.compile(r"berth: metrics on http://127\.0\.0\.1:(\d+)/metrics")
    found = {}

    def ready():
        match = pattern.search(p.stderr_text(100000))
        if match:
            found["port"] = int(match.group(1))
            return True
        return not p.alive()

    wait_for(ready, 30.0, 0.02)
    if "port" not in found:
        text = p.stderr_text()
        p.stop()
        raise RuntimeError(f"berth metrics did not print its address (exit {p.proc.returncode}): {text.strip()}")
    p.port = found["port"]
    wait_port(p, p.port)
    return p


def start_node_exporter(args, work, name, extra):
    last = None
    for _ in range(3):  # the free port may be taken between the check and the bind: retry
        port = free_port()
        p = Proc(name, [args.node_exporter, f"--web.listen-address=127.0.0.1:{port}"] + extra, work)
        try:
            wait_port(p, port)
            p.port = port
            return p
        except RuntimeError as e:
            last = e
            p.stop()
    raise RuntimeError(f"{name} did not start: {last}")


def start_farm(args, work, listeners, conns, procs):
    ready = os.path.join(work, f"farm-{listeners}-{conns}.json")
    argv = [sys.executable, args.sockfarm, "-L", str(listeners), "-C", str(conns), "-P", str(max(1, procs)),
            "--base-port", str(args.base_port), "--ready-file", ready, "--setup-timeout", "300",
            "--max-seconds", "3600", "-q"]
    farm = Proc("sockfarm", argv, work)
    wait_for(lambda: os.path.exists(ready) or not farm.alive(), 320, 0.2)
    if not os.path.exists(ready):
        text = farm.stderr_text()
        farm.stop()
        raise RuntimeError(f"sockfarm did not get ready: {text.strip() or 'timed out'}")
    with open(ready) as f:
        farm.info = json.load(f)
    return farm


def start_spinner(work):
    """A python busy loop pinned to the last CPU: the 'second core busy' of --busy."""
    last_cpu = max(os.sched_getaffinity(0))
    p = Proc("spinner", [sys.executable, "-c", "while True: pass"], work,
             preexec=lambda: os.sched_setaffinity(0, {last_cpu}))
    p.cpu = last_cpu
    return p


# ---------------------------------------------------------------- the measurement


def measure_load(args, work, level):
    """One load: farm up, three exporters up, warm-up and measured rounds, numbers."""
    listeners, conns, procs = level
    entry = {"listeners": listeners, "conns": conns, "procs": procs, "farm_sockets": 0}
    started = []
    farm = None
    try:
        if listeners or conns:
            log(f"load: sockfarm -L {listeners} -C {conns} -P {procs} ...")
            farm = start_farm(args, work, listeners, conns, procs)
            started.append(farm)
            entry["farm_sockets"] = farm.info.get("sockets")
            entry["farm_setup_s"] = farm.info.get("setup_seconds")
        time.sleep(1.0)
        stat = sockstat()
        entry["sockstat"] = stat
        entry["sockets"] = socket_count(stat)
        log(f"load: {entry['sockets']} sockets in this namespace (sockstat TCP {stat.get('TCP')}, "
            f"UDP {stat.get('UDP')}, TCP6 {stat.get('TCP6')}, UDP6 {stat.get('UDP6')})")
        procs_by_name = {}
        procs_by_name["berth"] = start_berth(args, work)
        started.append(procs_by_name["berth"])
        procs_by_name["ne"] = start_node_exporter(args, work, "ne", [])
        started.append(procs_by_name["ne"])
        procs_by_name["ne+tcpstat"] = start_node_exporter(args, work, "ne+tcpstat", ["--collector.tcpstat"])
        started.append(procs_by_name["ne+tcpstat"])
        times = {name: [] for name in EXPORTERS}
        series = {}
        sizes = {}
        last_body = {}

        def one(name):
            p = procs_by_name[name]
            elapsed, status, body = scrape(p.port, args.timeout)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {body[:300]!r}")
            series[name] = count_series(body)
            sizes[name] = len(body)
            last_body[name] = body
            return elapsed

        for _ in range(args.warmup):
            for name in EXPORTERS:
                one(name)
                time.sleep(args.gap)
        cpu0 = {name: cpu_ticks(p.pid) for name, p in procs_by_name.items()}
        t0 = time.monotonic()
        for round_no in range(args.rounds):
            for name in EXPORTERS:
                times[name].append(one(name))
                time.sleep(args.gap)
        wall = time.monotonic() - t0
        cpu1 = {name: cpu_ticks(p.pid) for name, p in procs_by_name.items()}
        memory = {name: memory_kib(p.pid) for name, p in procs_by_name.items()}
        entry["sockets_after"] = socket_count(sockstat())
        entry["wall_s"] = wall
        for name in EXPORTERS:
            ms = [1000 * t for t in times[name]]
            rss, hwm = memory[name]
            entry[name] = {
                "scrape_ms_median": median(ms),
                "scrape_ms_p90": quantile(ms, 0.9),
                "scrape_ms_min": min(ms),
                "scrape_ms_max": max(ms),
                "cpu_ms_per_scrape": 1000 * (cpu1[name] - cpu0[name]) / CLK_TCK / args.rounds,
                "rss_kib": rss,
                "hwm_kib": hwm,
                "series": series.get(name),
                "body_bytes": sizes.get(name),
                "scrapes_ms": [round(v, 3) for v in ms],
            }
        own = berth_own_duration(last_body.get("berth", b""))
        entry["berth"]["own_scrape_duration_ms"] = None if own is None else 1000 * own
        b = entry["berth"]["scrape_ms_median"]
        entry["ratio_vs_ne"] = b / entry["ne"]["scrape_ms_median"]
        entry["ratio_vs_ne_tcpstat"] = b / entry["ne+tcpstat"]["scrape_ms_median"]
        if args.profile and level == args.loads[-1]:
            entry["profile"] = profile_berth(args, work, procs_by_name["berth"])
    finally:
        for p in reversed(started):
            p.stop()
    return entry


def profile_berth(args, work, berth):
    """perf record -g on berth's pid during --profile-scrapes scrapes; the top 10 symbols by self time."""
    perf = shutil.which("perf")
    if not perf:
        return {"error": "no perf (apt-get install linux-perf)"}
    data = os.path.join(work, "berth.perf.data")
    rec = Proc("perf", [perf, "record", "-g", "-F", str(args.profile_freq), "-p", str(berth.pid), "-o", data], work)
    try:
        time.sleep(1.0)
        ms = []
        for _ in range(args.profile_scrapes):
            elapsed, status, _ = scrape(berth.port, args.timeout)
            ms.append(1000 * elapsed)
    finally:
        rec.stop(sig=signal.SIGINT, grace=60)
    report = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                             "--percent-limit", "0.5", "-g", "none"],
                            capture_output=True, text=True, timeout=300)
    top = []
    for line in report.stdout.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*?)(\s+-\s+-)?\s*$", line)
        if match:
            top.append({"self_pct": float(match.group(1)), "dso": match.group(2),
                        "space": "kernel" if match.group(3) == "k" else "user", "symbol": match.group(4)})
        if len(top) == 10:
            break
    samples = re.search(r"^# Samples: (\S+)", report.stdout, re.M)
    return {"scrapes": args.profile_scrapes, "scrape_ms_median": median(ms), "samples": samples.group(1) if samples else None,
            "top10": top, "stderr": report.stderr[-300:] if not top else ""}


# ---------------------------------------------------------------- output


def print_table(loads):
    print(f"{'sockets':>8} {'exporter':<22} {'median ms':>9} {'p90 ms':>8} {'CPU ms/scrape':>13} "
          f"{'RSS MiB':>8} {'HWM MiB':>8} {'series':>7} {'berth/this':>10}")
    for entry in loads:
        if "error" in entry:
            print(f"{entry.get('sockets', '?'):>8} error: {entry['error']}")
            continue
        for name in EXPORTERS:
            m = entry[name]
            ratio = ""
            if name == "ne":
                ratio = f"{entry['ratio_vs_ne']:.2f}x"
            elif name == "ne+tcpstat":
                ratio = f"{entry['ratio_vs_ne_tcpstat']:.2f}x"
            print(f"{entry['sockets']:>8} {LABELS[name]:<22} {fmt(m['scrape_ms_median'], '.2f'):>9} "
                  f"{fmt(m['scrape_ms_p90'], '.2f'):>8} {fmt(m['cpu_ms_per_scrape'], '.2f'):>13} "
                  f"{fmt(m['rss_kib'] / 1024 if m['rss_kib'] else None):>8} "
                  f"{fmt(m['hwm_kib'] / 1024 if m['hwm_kib'] else None):>8} {m['series'] or '-':>7} {ratio:>10}")
        own = entry["berth"].get("own_scrape_duration_ms")
        print(f"{'':>8} (berth's own berth_scrape_duration_seconds: {fmt(own, '.2f')} ms; "
              f"farm {entry['farm_sockets']} sockets in {entry['procs']} procs)")


def targets(loads, args):
    """The issue's targets: scrape at ~4.5k <= 1.0x ne; at ~45k <= ne+tcpstat; RSS <= ne's."""
    checks = []
    good = [e for e in loads if "error" not in e]
    for entry in good:
        n = entry["sockets"]
        if abs(n - 4500) <= 1500:
            checks.append((f"scrape at {n} sockets: berth {entry['berth']['scrape_ms_median']:.2f} ms <= 1.0x node_exporter "
                           f"{entry['ne']['scrape_ms_median']:.2f} ms ({entry['ratio_vs_ne']:.2f}x)",
                           entry["ratio_vs_ne"] <= 1.0))
        if abs(n - 45000) <= 15000:
            checks.append((f"scrape at {n} sockets: berth {entry['berth']['scrape_ms_median']:.2f} ms <= node_exporter+tcpstat "
                           f"{entry['ne+tcpstat']['scrape_ms_median']:.2f} ms ({entry['ratio_vs_ne_tcpstat']:.2f}x)",
                           entry["ratio_vs_ne_tcpstat"] <= 1.0))
        b, ne = entry["berth"]["rss_kib"], entry["ne"]["rss_kib"]
        if b and ne:
            checks.append((f"RSS at {n} sockets: berth {b / 1024:.1f} MiB <= node_exporter {ne / 1024:.1f} MiB", b <= ne))
    return checks


# ---------------------------------------------------------------- main


def parse_loads(text):
    loads = []
    for part in text.split(","):
        bits = [int(b) for b in part.split(":")]
        if len(bits) == 2:
            bits.append(max(1, (bits[0] + 2 * bits[1]) // 450))
        if len(bits) != 3 or min(bits) < 0:
            raise ValueError(part)
        loads.append(tuple(bits))
    return loads


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    p.add_argument("--node-exporter", default=NODE_EXPORTER)
    p.add_argument("--sockfarm", default=default_sockfarm(fallbacks=["/work/shared/bench/sockfarm.py"]), help="path of sockfarm.py")
    p.add_argument("--loads", default=DEFAULT_LOADS,
                   help="comma-separated LISTENERS:CONNS:PROCS per load (sockets = L + 2C); default " + DEFAULT_LOADS)
    p.add_argument("--base-port", type=int, default=20000, help="first farm listener port")
    p.add_argument("--rounds", type=int, default=30, help="measured interleaved rounds per load")
    p.add_argument("--warmup", type=int, default=3, help="warm-up rounds per load (not counted)")
    p.add_argument("--gap", type=float, default=0.05, help="seconds between two scrapes")
    p.add_argument("--timeout", type=float, default=60.0, help="per-scrape socket timeout (s)")
    p.add_argument("--busy", action="store_true", help="keep the last CPU busy with a pinned spinning process")
    p.add_argument("--profile", action="store_true", help="perf record -g berth during scrapes at the largest load")
    p.add_argument("--profile-scrapes", type=int, default=50)
    p.add_argument("--profile-freq", type=int, default=999, help="perf sampling frequency (Hz)")
    p.add_argument("--no-netns", action="store_true", help="as root, stay in the machine's network namespace")
    p.add_argument("--quick", action="store_true", help="loads 0 and 4.5k only, 1 warm-up + 5 rounds")
    p.add_argument("--out", help="also write the full results (every scrape time) as JSON to this file")
    args = p.parse_args(argv)
    try:
        args.loads = parse_loads(args.loads)
    except ValueError as e:
        p.error(f"--loads: cannot read {e}")
    if args.quick:
        args.loads, args.rounds, args.warmup = args.loads[:2], 5, 1
    if not 1 <= args.rounds <= 1000:
        p.error("--rounds must be 1..1000")
    if not 1 <= args.profile_scrapes <= 1000:
        p.error("--profile-scrapes must be 1..1000")
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() == 0 and not args.no_netns and not os.environ.get("BERTH_BENCH_IN_NETNS"):
        code = reexec_in_netns(__file__, argv, interrupt_timeout=120)
        if code is not None:
            return code
    for what, path in (("berth", args.berth), ("node_exporter", args.node_exporter)):
        if not os.access(path, os.X_OK):
            log(f"no {what} at {path}")
            return 2
    if any(l or c for l, c, _ in args.loads) and not os.path.exists(args.sockfarm):
        log(f"no sockfarm at {args.sockfarm} (--sockfarm PATH)")
        return 2
    work = tempfile.mkdtemp(prefix="berth-bench-metrics-")
    started = time.time()
    loadavg_at_start = os.getloadavg()
    spinner = None
    loads = []
    try:
        if args.busy:
            spinner = start_spinner(work)
            log(f"busy: a python spin loop pinned to CPU {spinner.cpu} (pid {spinner.pid})")
        for level in args.loads:
            try:
                entry = measure_load(args, work, level)
            except (RuntimeError, OSError, ValueError) as e:
                log(f"load {level} failed: {e}")
                entry = {"listeners": level[0], "conns": level[1], "procs": level[2], "error": str(e)}
            loads.append(entry)
            if "error" not in entry:
                log(f"  {entry['sockets']} sockets: berth {entry['berth']['scrape_ms_median']:.2f} ms, "
                    f"node_exporter {entry['ne']['scrape_ms_median']:.2f} ms, "
                    f"+tcpstat {entry['ne+tcpstat']['scrape_ms_median']:.2f} ms")
    finally:
        if spinner is not None:
            spinner.stop()
        shutil.rmtree(work, ignore_errors=True)

    netns = "private" if os.environ.get("BERTH_BENCH_IN_NETNS") else "the machine's own"
    busy = "; busy: last CPU spinning" if args.busy else ""
    print(f"load average {loadavg_at_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"{netns} network namespace{busy}; {args.warmup} warm-up + {args.rounds} rounds per load")
    print_table(loads)
    good = [e for e in loads if "error" not in e]
    growth = {}
    if len(good) >= 2:
        xs = [e["sockets"] for e in good]
        print()
        for name in EXPORTERS:
            s = slope(xs, [e[name]["scrape_ms_median"] for e in good])
            growth[name] = None if s is None else 10000 * s
            r = slope(xs, [e[name]["rss_kib"] for e in good])
            growth[name + "_rss_kib"] = None if r is None else 10000 * r
            print(f"growth {LABELS[name]:<22} {fmt(growth[name], '.2f')} ms per 10k sockets, "
                  f"RSS {fmt(growth[name + '_rss_kib'], '.0f')} KiB per 10k sockets")
    profile = next((e["profile"] for e in good if "profile" in e), None)
    if profile:
        print()
        if "error" in profile:
            print(f"profile: {profile['error']}")
        else:
            print(f"profile: berth during {profile['scrapes']} scrapes at {good[-1]['sockets']} sockets "
                  f"(median {fmt(profile['scrape_ms_median'], '.2f')} ms, {profile['samples']} samples), top 10 by self time:")
            for item in profile["top10"]:
                print(f"  {item['self_pct']:6.2f}%  {item['dso']:<20} {item['symbol']}")
            if not profile["top10"]:
                print(f"  (perf report gave nothing: {profile['stderr']})")
    checks = targets(loads, args)
    if checks:
        print()
        for text, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")

    summary = {
        "bench": "metrics",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(v, 2) for v in loadavg_at_start],
        "loadavg_at_end": [round(v, 2) for v in os.getloadavg()],
        "netns": "private" if os.environ.get("BERTH_BENCH_IN_NETNS") else "machine's own",
        "busy": args.busy,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "loads": [{k: (v if k not in EXPORTERS else {kk: vv for kk, vv in v.items() if kk != "scrapes_ms"})
                   for k, v in e.items() if k not in ("sockstat", "profile")} for e in loads],
        "growth_ms_per_10k_sockets": {k: v for k, v in growth.items() if not k.endswith("_rss_kib")},
        "profile_top10": profile.get("top10") if profile else None,
        "checks": [{"target": t, "ok": ok} for t, ok in checks],
    }
    print("\nRESULT " + json.dumps(summary, separators=(",", ":"), default=str))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "loads": loads, "args": {k: v for k, v in vars(args).items()}},
                      f, indent=1, default=str)
    if len(good) < len(loads) or not good:
        return 2
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
