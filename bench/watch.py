#!/usr/bin/env python3
"""Benchmark `berth watch` against the tools people use today (issue 12).

What it measures, for `berth watch --json --no-history` as root and as an
unprivileged user (uid 65534), and for the anchors in the SAME run,
interleaved round by round (the order rotates each round):

    ss -E -t -n -H          destroy events, closes only (root here)
    tcpstates -4            libbpf-tools (Debian package libbpf-tools; root, tracefs)
    netstat -tnc            net-tools, a table polled every second

1. Miss rate of opens and closes of short-lived loopback connections (each
   under 1 ms: connect, 16 bytes each way, FIN) at 1,000/s and ~10,000/s
   (the rate the generator reached is reported), from bench/tools/loadgen.c.
   A connection counts as a close seen by berth when a `connection-closed`
   event names its client port (as local or remote port, with the
   generator's server port on the other side), and as an open seen when a
   `connection-opened` or a `connection-closed` event names it (a close with
   `open_seen: false` stands for both). ss -E reports closes only; tcpstates
   opens (-> ESTABLISHED) and closes (-> CLOSE); netstat opens (seen
   ESTABLISHED in a table) and closes (seen in a closing state, TIME_WAIT
   included, which lingers 60 s: netstat sees the remnant, not the close).
2. CPU of each watcher over the load window (utime+stime of its pid, from
   /proc/PID/stat) as % of one core; VmRSS and VmHWM at the end of the load;
   for berth, the latency of close events: `time_unix_us` of the event minus
   the generator's close time (CLOCK_REALTIME µs, logged per connection),
   p50/p99, and the same for the time the line reached this script.
3. RSS growth: berth under 100 conn/s for --rss-minutes (default 2), VmRSS
   sampled every 10 s; growth per event, extrapolated to an hour.
4. Idle cost: berth with no load, then beside sockfarm.py farms of 2-3 sizes
   (the largest 41,001 sockets): CPU per interval (1 s, berth's default).
5. Medians over --rounds interleaved rounds and the ratio of berth to each
   anchor. --busy keeps the second core busy (a spinning loadgen pinned to
   the last CPU) during all of it.

As root the whole bench re-runs itself in a private network namespace
(unshare -n, lo up), so that other programs' loopback traffic neither adds
events nor CPU to the watchers (tcpstates traces every namespace: its CPU
includes whatever else runs on the machine). --no-netns uses the machine's
own. tracefs is mounted at /sys/kernel/tracing if absent (and unmounted at
the end). Every process started here is stopped by its pid; every loop and
wait is bounded.

Usage:
    bench/watch.py                         # 3 rounds, target/release/berth
    bench/watch.py --rounds 5 --busy
    bench/watch.py --quick                 # 1 round, short windows, no RSS/idle runs

Needs: python3, gcc, a release build (cargo build --release) with `berth
watch`; ss (iproute2), tcpstates (libbpf-tools), netstat (net-tools),
setpriv (util-linux) where available (a missing one is skipped and said).
Results: a table on stdout and JSON in bench/results/watch-TIMESTAMP.json.
Exit status 0 when berth meets the issue's targets, 1 when it misses one,
2 when berth could not be measured at all.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import cpu_ticks, default_sockfarm, fmt, log, median, memory_kib, quantile, reexec_in_netns, wait_for
from benchlib import slope as linear_slope  # rss_run() has a local named slope

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOADGEN_SRC = os.path.join(HERE, "tools", "loadgen.c")
TRACEFS = "/sys/kernel/tracing"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOBODY = 65534
ALL_WATCHERS = ["berth", "berth-unpriv", "ss", "tcpstates", "netstat"]
PAYLOAD = 16  # bytes each way per connection
FLUSH_CONNECTIONS = 300  # after each run: 600 ss lines, more than a 4 KiB stdio block

# Closing states netstat can show for a connection that has ended.
CLOSING_STATES = {"FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "CLOSE"}

# Targets from the issue (Performance).
TARGET_CPU_1K = 5.0  # % of one core at 1,000/s
TARGET_RSS_1H_MIB = 20.0
TARGET_LATENCY_P50_MS = 10.0


# ---------------------------------------------------------------- processes


class Watched:
    """A started process: its pid, where its output goes, and a bounded stop."""

    def __init__(self, name, argv, out_path, read_lines=False, keep_lines=True):
        self.name = name
        self.keep_lines = keep_lines
        self.argv = argv
        self.out_path = out_path
        self.lines = []  # (arrival time in µs, line) when read_lines
        self.count = 0
        self.ready = threading.Event()
        self.err_path = out_path + ".err"
        self.err = open(self.err_path, "w")
        if read_lines:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL,
                                         bufsize=0)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        else:
            self.out = open(out_path, "w")
            self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)
            self.reader = None
        self.pid = self.proc.pid

    def _read(self):
        stream = self.proc.stdout
        pending = b""
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            now = time.time_ns() // 1000
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                self.count += 1
                if self.keep_lines:
                    self.lines.append((now, raw))
                if not self.ready.is_set() and b'"started"' in raw:
                    self.ready.set()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, grace=5.0):
        """sig to the pid, then SIGKILL after `grace` seconds; returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"  {self.name} (pid {self.pid}) ignored {signal.Signals(sig).name}; SIGKILL")
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.reader:
            self.reader.join(timeout=10)
        else:
            self.out.close()
        self.err.close()
        return self.proc.returncode

    def stderr_text(self, limit=600):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-limit:].strip()
        except OSError:
            return ""


def sockstat_tcp():
    """This namespace's TCP counts from /proc/net/sockstat (inuse, tw, ...):
    TIME_WAIT remnants of earlier runs still cost every table walk."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    words = line.split()[1:]
                    return {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    except (OSError, ValueError):
        pass
    return None


# ---------------------------------------------------------------- the load


def build_loadgen(work):
    gcc = shutil.which("gcc")
    if not gcc:
        sys.exit("bench/watch.py needs gcc for bench/tools/loadgen.c (apt-get install gcc)")
    binary = os.path.join(work, "loadgen")
    subprocess.run([gcc, "-O2", "-Wall", "-o", binary, LOADGEN_SRC], check=True, timeout=120)
    return binary


def run_load(loadgen, rate, seconds, work, tag):
    """Runs loadgen conn at `rate` for `seconds`; returns its server port,
    {client_port: close_us}, the number of connections, the rate reached and
    how many client ports were used twice."""
    count = max(1, int(rate * seconds))
    log_path = os.path.join(work, f"gen-{tag}.log")
    argv = [loadgen, "conn", "-n", str(count), "-r", str(rate), "-d", str(PAYLOAD), "-T", str(seconds + 10),
            "-o", log_path]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    server_port = None
    reached = None
    for line in done.stdout.splitlines():
        if line.startswith("LPORT "):
            server_port = int(line.split()[1])
        elif line.startswith("GEN "):
            fields = dict(f.split("=", 1) for f in line.split()[1:])
            reached = float(fields["rate"].rstrip("/s"))
    closes = {}
    reused = 0
    with open(log_path) as f:
        for line in f:
            port, _opened, closed = line.split()
            if int(port) in closes:
                reused += 1
            closes[int(port)] = int(closed)
    os.unlink(log_path)
    return server_port, closes, count, reached, reused


# ---------------------------------------------------------------- the watchers


class Setup:
    """What can run here, and why not where it cannot."""

    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.skipped = {}
        self.root = os.geteuid() == 0
        self.mounted_tracefs = False
        self.berth = None
        self.berth_unpriv = None
        self.tools = {}
        self.find_berth()
        self.find_anchors()

    def find_berth(self):
        berth = os.path.abspath(self.args.berth)
        if not os.access(berth, os.X_OK):
            why = f"no berth binary at {berth} (cargo build --release)"
            self.skipped["berth"] = self.skipped["berth-unpriv"] = why
            return
        probe = subprocess.run([berth, "watch", "--help"], capture_output=True, text=True, timeout=20)
        if probe.returncode != 0:
            why = f"{berth} has no `watch` command yet ({probe.stderr.strip().splitlines()[-1:]})"
            self.skipped["berth"] = self.skipped["berth-unpriv"] = why
            return
        self.berth = berth
        # --no-history comes with the history; a build from before it has no history to skip.
        self.watch_args = ["watch", "--json"] + (["--no-history"] if "--no-history" in probe.stdout else [])
        if not self.root:
            self.skipped["berth-unpriv"] = "the bench runs unprivileged already (its `berth` row is the unprivileged one)"
            return
        setpriv = shutil.which("setpriv")
        if not setpriv:
            self.skipped["berth-unpriv"] = "needs setpriv (apt-get install util-linux)"
            return
        # uid 65534 must be able to read the binary: a copy in a 0755 directory.
        private = tempfile.mkdtemp(prefix="berth-bench-bin-")
        os.chmod(private, 0o755)
        copy = os.path.join(private, "berth")
        shutil.copy2(berth, copy)
        os.chmod(copy, 0o755)
        self.berth_unpriv = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", copy]
        self.unpriv_dir = private

    def find_anchors(self):
        ss = shutil.which("ss")
        if not ss:
            self.skipped["ss"] = "needs ss (apt-get install iproute2)"
        elif not self.root:
            self.skipped["ss"] = "ss -E is run as root only here (the bench is unprivileged)"
        else:
            # ss has no SIGINT handler, so its last stdio block is lost at the stop: each
            # run ends with a flush load (see measure) rather than making ss line-buffered,
            # which would cost it a write per line and inflate its CPU.
            self.tools["ss"] = [ss, "-E", "-t", "-n", "-H"]
        tcpstates = shutil.which("tcpstates") or ("/usr/sbin/tcpstates" if os.access("/usr/sbin/tcpstates", os.X_OK) else None)
        if not tcpstates:
            self.skipped["tcpstates"] = "needs tcpstates (apt-get install libbpf-tools)"
        elif not self.root:
            self.skipped["tcpstates"] = "tcpstates needs root (BPF)"
        elif not self.ensure_tracefs():
            self.skipped["tcpstates"] = f"tracefs is not mounted at {TRACEFS} and mounting it failed"
        else:
            self.tools["tcpstates"] = [tcpstates, "-4"]
        netstat = shutil.which("netstat")
        if not netstat:
            self.skipped["netstat"] = "needs netstat (apt-get install net-tools)"
        else:
            self.tools["netstat"] = [netstat, "-tnc"]
        for name in self.args.watchers:
            if name not in ALL_WATCHERS:
                sys.exit(f"unknown watcher {name!r}; choose from {','.join(ALL_WATCHERS)}")
        for name in ALL_WATCHERS:
            if name not in self.args.watchers:
                self.skipped.setdefault(name, "left out (--watchers)")

    def ensure_tracefs(self):
        if os.path.exists(os.path.join(TRACEFS, "events")):
            return True
        done = subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACEFS], capture_output=True, text=True, timeout=20)
        if done.returncode == 0:
            self.mounted_tracefs = True
            return True
        log(f"mount tracefs: {done.stderr.strip()}")
        return False

    def cleanup(self):
        if self.mounted_tracefs:
            subprocess.run(["umount", TRACEFS], timeout=20)
            self.mounted_tracefs = False
        if self.berth_unpriv:
            shutil.rmtree(self.unpriv_dir, ignore_errors=True)

    def runnable(self):
        out = []
        for name in self.args.watchers:
            if name in self.skipped:
                continue
            out.append(name)
        return out

    def start(self, name, tag):
        out = os.path.join(self.work, f"{tag}-{name}.out")
        if name == "berth":
            w = Watched(name, [self.berth] + self.watch_args, out, read_lines=True)
        elif name == "berth-unpriv":
            w = Watched(name, self.berth_unpriv + self.watch_args, out, read_lines=True)
        else:
            w = Watched(name, self.tools[name], out)
        if not self.wait_ready(w):
            code = w.stop(signal.SIGKILL)
            raise RuntimeError(f"{name} did not become ready (exit {code}): {w.stderr_text()}")
        return w

    def wait_ready(self, w):
        if w.name.startswith("berth"):
            return w.ready.wait(timeout=20) and w.alive()
        if w.name == "tcpstates":
            # Attached once it holds a bpf_link and polls its perf buffer (an
            # epoll fd): its header line sits in a stdio buffer, no use as a signal.
            ok = wait_for(lambda: not w.alive() or {"anon_inode:bpf_link", "anon_inode:[eventpoll]"} <= fd_kinds(w.pid), 60)
            time.sleep(0.2)
            return ok and w.alive()
        if w.name == "netstat":
            return wait_for(lambda: os.path.getsize(w.out_path) > 0 or not w.alive(), 5) and w.alive()
        time.sleep(0.5)  # ss -E: joined once it runs; no signal to wait for
        return w.alive()


# ---------------------------------------------------------------- what each saw


def fd_kinds(pid):
    """What the descriptors of a process point at (anon_inode:..., paths)."""
    kinds = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                kinds.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    return kinds


def port_of(endpoint):
    if isinstance(endpoint, dict):
        return endpoint.get("port")
    return None


def berth_seen(w, server_port, closes):
    """Opens and closes berth reported for the generator's connections, close
    latencies (event stamp and line arrival, ms), and stream facts."""
    opened, closed = set(), set()
    stamp_ms, arrival_ms = [], []
    missed = 0
    summary = None
    bad = 0
    for arrival, raw in w.lines:
        try:
            event = json.loads(raw)
        except ValueError:
            bad += 1
            continue
        kind = event.get("kind")
        if kind == "missed":
            missed += 1
            continue
        if kind == "summary":
            summary = event
            continue
        if kind not in ("connection-opened", "connection-closed"):
            continue
        local, remote = port_of(event.get("local")), port_of(event.get("remote"))
        if remote == server_port and local in closes:
            client, client_side = local, True
        elif local == server_port and remote in closes:
            client, client_side = remote, False
        else:
            continue
        opened.add(client)
        if kind == "connection-closed":
            closed.add(client)
            if client_side:
                stamp = event.get("time_unix_us")
                if isinstance(stamp, int):
                    stamp_ms.append((stamp - closes[client]) / 1000.0)
                arrival_ms.append((arrival - closes[client]) / 1000.0)
    return {
        "opened": opened,
        "closed": closed,
        "latency_stamp_ms": stamp_ms,
        "latency_arrival_ms": arrival_ms,
        "missed_events": missed,
        "unparsed_lines": bad,
        "summary": summary,
        "lines": w.count,
    }


def split_port(address):
    host, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


def ss_seen(path, server_port, closes):
    closed = set()
    with open(path, errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5:
                continue
            local, peer = split_port(fields[3]), split_port(fields[4])
            if peer == server_port and local in closes:
                closed.add(local)
            elif local == server_port and peer in closes:
                closed.add(peer)
    return {"opened": None, "closed": closed}


def tcpstates_seen(path, server_port, closes):
    opened, closed = set(), set()
    with open(path, errors="replace") as f:
        for line in f:
            fields = line.split()
            # SKADDR PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS
            if len(fields) < 11 or fields[8] != "->":
                continue
            try:
                lport, rport = int(fields[4]), int(fields[6])
            except ValueError:
                continue
            if rport == server_port and lport in closes:
                client = lport
            elif lport == server_port and rport in closes:
                client = rport
            else:
                continue
            if fields[9] == "ESTABLISHED":
                opened.add(client)
            elif fields[9] == "CLOSE":
                closed.add(client)
    return {"opened": opened, "closed": closed}


def netstat_seen(path, server_port, closes):
    opened, closed = set(), set()
    with open(path, errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 6 or not fields[0].startswith("tcp"):
                continue
            local, peer, state = split_port(fields[3]), split_port(fields[4]), fields[5]
            if peer == server_port and local in closes:
                client = local
            elif local == server_port and peer in closes:
                client = peer
            else:
                continue
            if state == "ESTABLISHED":
                opened.add(client)
            elif state in CLOSING_STATES:
                closed.add(client)
    # A close is not an event netstat reports: a closing state in a table is
    # mostly the TIME_WAIT remnant, there for 60 s. Kept apart, not as closes seen.
    return {"opened": opened, "closed": None, "remnants": closed}


def miss_pct(seen, total):
    if seen is None:
        return None
    return 100.0 * (total - len(seen)) / total if total else None


# ---------------------------------------------------------------- one measured run


def measure(setup, loadgen, name, rate, seconds, tag):
    before = sockstat_tcp()
    w = setup.start(name, tag)
    try:
        time.sleep(0.3)
        t0, c0 = time.monotonic(), cpu_ticks(w.pid)
        server_port, closes, count, reached, reused = run_load(loadgen, rate, seconds, setup.work, tag)
        t1, c1 = time.monotonic(), cpu_ticks(w.pid)
        rss, hwm = memory_kib(w.pid)
        # A few hundred connections on another listener after the window: they push the
        # measured load's lines out of stdio buffers (ss and netstat are stopped by a
        # signal that loses the last block). Not counted, not in the CPU window.
        subprocess.run([loadgen, "conn", "-n", str(FLUSH_CONNECTIONS), "-T", "10"], capture_output=True, timeout=30)
        time.sleep(1.2)  # the last events, and one more netstat table
        alive = w.alive()
    finally:
        code = w.stop()
    run = {
        "watcher": name,
        "rate_asked": rate,
        "rate_reached": reached,
        "connections": count,
        "distinct_client_ports": len(closes),
        "client_ports_reused": reused,
        "server_port": server_port,
        "cpu_pct": 100.0 * (c1 - c0) / CLK_TCK / (t1 - t0),
        "window_s": t1 - t0,
        "rss_kib": rss,
        "hwm_kib": hwm,
        "alive_after_load": alive,
        "sockstat_tcp_before": before,
        "exit_code": code,
    }
    if name.startswith("berth"):
        seen = berth_seen(w, server_port, closes)
        run["missed_events"] = seen["missed_events"]
        run["unparsed_lines"] = seen["unparsed_lines"]
        run["lines"] = seen["lines"]
        run["summary"] = seen["summary"]
        for key in ("latency_stamp_ms", "latency_arrival_ms"):
            values = seen[key]
            run[key] = {"n": len(values), "p50": quantile(values, 0.5), "p99": quantile(values, 0.99),
                        "max": max(values) if values else None}
    elif name == "ss":
        seen = ss_seen(w.out_path, server_port, closes)
    elif name == "tcpstates":
        seen = tcpstates_seen(w.out_path, server_port, closes)
    else:
        seen = netstat_seen(w.out_path, server_port, closes)
    run["opens_missed_pct"] = miss_pct(seen["opened"], len(closes))
    run["closes_missed_pct"] = miss_pct(seen["closed"], len(closes))
    if "remnants" in seen:
        run["closing_state_seen_pct"] = 100.0 * len(seen["remnants"]) / len(closes) if closes else None
    if not setup.args.keep_output:
        for path in (w.out_path, w.err_path):
            if os.path.exists(path):
                os.unlink(path)
    if code not in (0, None) and name.startswith("berth"):
        run["stderr"] = w.stderr_text()
    return run


def summarize(runs, watchers, rates):
    table = {}
    for rate in rates:
        for name in watchers:
            mine = [r for r in runs if r["watcher"] == name and r["rate_asked"] == rate]
            if not mine:
                continue
            row = {
                "runs": len(mine),
                "time_wait_before": median([(r.get("sockstat_tcp_before") or {}).get("tw") for r in mine]),
                "rate_reached": median([r["rate_reached"] for r in mine]),
                "opens_missed_pct": median([r["opens_missed_pct"] for r in mine]),
                "opens_missed_pct_max": max((r["opens_missed_pct"] for r in mine if r["opens_missed_pct"] is not None), default=None),
                "closes_missed_pct": median([r["closes_missed_pct"] for r in mine]),
                "closes_missed_pct_max": max((r["closes_missed_pct"] for r in mine if r["closes_missed_pct"] is not None), default=None),
                "cpu_pct": median([r["cpu_pct"] for r in mine]),
                "rss_mib": median([r["rss_kib"] / 1024 if r["rss_kib"] else None for r in mine]),
                "hwm_mib": median([r["hwm_kib"] / 1024 if r["hwm_kib"] else None for r in mine]),
                "died": sum(1 for r in mine if not r["alive_after_load"]),
            }
            if any("closing_state_seen_pct" in r for r in mine):
                row["closing_state_seen_pct"] = median([r.get("closing_state_seen_pct") for r in mine])
            if name.startswith("berth"):
                row["latency_stamp_p50_ms"] = median([r["latency_stamp_ms"]["p50"] for r in mine])
                row["latency_stamp_p99_ms"] = median([r["latency_stamp_ms"]["p99"] for r in mine])
                row["latency_arrival_p50_ms"] = median([r["latency_arrival_ms"]["p50"] for r in mine])
                row["latency_arrival_p99_ms"] = median([r["latency_arrival_ms"]["p99"] for r in mine])
                row["missed_events"] = sum(r["missed_events"] for r in mine)
            table[f"{name}@{rate}"] = row
    return table


def print_table(table, watchers, rates):
    print()
    print(f"{'watcher':<13} {'asked/s':>7} {'reached/s':>9} {'opens missed %':>15} {'closes missed %':>16} "
          f"{'CPU %':>6} {'RSS MiB':>7} {'HWM MiB':>7} {'TW':>6} {'close latency ms p50/p99':>25}")
    for rate in rates:
        for name in watchers:
            row = table.get(f"{name}@{rate}")
            if not row:
                continue
            opens = "n/a" if row["opens_missed_pct"] is None else f"{row['opens_missed_pct']:.2f} (max {row['opens_missed_pct_max']:.2f})"
            closes = "n/a" if row["closes_missed_pct"] is None else f"{row['closes_missed_pct']:.2f} (max {row['closes_missed_pct_max']:.2f})"
            latency = ""
            if name.startswith("berth"):
                latency = (f"{fmt(row['latency_stamp_p50_ms'], '.2f')}/{fmt(row['latency_stamp_p99_ms'], '.2f')}"
                           f" (line {fmt(row['latency_arrival_p50_ms'], '.1f')}/{fmt(row['latency_arrival_p99_ms'], '.1f')})")
            died = f"  died in {row['died']} of {row['runs']} runs" if row["died"] else ""
            if "closing_state_seen_pct" in row:
                latency = f"(in a closing state: {fmt(row['closing_state_seen_pct'], '.1f')}%)"
            print(f"{name:<13} {rate:>7} {fmt(row['rate_reached'], '.0f'):>9} {opens:>15} {closes:>16} "
                  f"{fmt(row['cpu_pct']):>6} {fmt(row['rss_mib']):>7} {fmt(row['hwm_mib']):>7} "
                  f"{fmt(row['time_wait_before'], '.0f'):>6} {latency:>25}{died}")
    print("(TW: TIME_WAIT sockets in the namespace when the watcher started, median; every table walk pays for them)")


def ratios(table, watchers, rates):
    """berth's CPU over each anchor's, and the miss rates side by side."""
    out = {}
    for rate in rates:
        for mine in ("berth", "berth-unpriv"):
            b = table.get(f"{mine}@{rate}")
            if not b:
                continue
            for anchor in ("ss", "tcpstates", "netstat"):
                a = table.get(f"{anchor}@{rate}")
                if not a or anchor not in watchers:
                    continue
                out[f"{mine}/{anchor}@{rate}"] = {
                    "cpu_ratio": (b["cpu_pct"] / a["cpu_pct"]) if a["cpu_pct"] else None,
                    "closes_missed_pct": [b["closes_missed_pct"], a["closes_missed_pct"]],
                    "opens_missed_pct": [b["opens_missed_pct"], a["opens_missed_pct"]],
                }
    return out


# ---------------------------------------------------------------- RSS over time, idle cost


def rss_run(setup, loadgen, minutes):
    """berth under 100 conn/s for `minutes`, VmRSS every 10 s."""
    seconds = int(minutes * 60)
    w = Watched("berth", [setup.berth] + setup.watch_args,
                os.path.join(setup.work, "rss-berth.out"), read_lines=True, keep_lines=False)
    gen = None
    samples = []
    try:
        if not w.ready.wait(timeout=20):
            raise RuntimeError(f"berth did not start: {w.stderr_text()}")
        gen = subprocess.Popen([loadgen, "conn", "-n", str(100 * seconds), "-r", "100", "-d", str(PAYLOAD),
                                "-T", str(seconds + 10)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        for _ in range(seconds // 10 + 2):
            rss, hwm = memory_kib(w.pid)
            samples.append({"t_s": time.monotonic() - started, "events": w.count, "rss_kib": rss, "hwm_kib": hwm})
            if gen.poll() is not None or time.monotonic() - started > seconds + 15:
                break
            time.sleep(10)
    finally:
        if gen is not None and gen.poll() is None:
            gen.send_signal(signal.SIGTERM)
            try:
                gen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gen.kill()
                gen.wait(timeout=5)
        w.stop()
    usable = [s for s in samples if s["rss_kib"] is not None]
    if len(usable) < 3:
        return {"samples": samples, "error": "too few samples"}
    # Least squares of RSS against events, from the second sample (after start-up);
    # and from the first minute on, once the TIME_WAIT remnants (60 s) are in a steady
    # state: the extrapolation uses the latter when there are enough samples.
    def fit(chosen):
        xs = [s["events"] for s in chosen]
        ys = [s["rss_kib"] * 1024 for s in chosen]
        return linear_slope(xs, ys)

    whole = usable[1:]
    steady = [s for s in usable if s["t_s"] >= 60]
    slope_whole = fit(whole)
    slope_steady = fit(steady) if len(steady) >= 3 else None
    slope = slope_steady if slope_steady is not None else slope_whole
    span = whole[-1]["t_s"] - whole[0]["t_s"]
    events_per_s = (whole[-1]["events"] - whole[0]["events"]) / span if span > 0 else 0
    last = usable[-1]["rss_kib"] / 1024
    remaining_s = max(0.0, 3600 - usable[-1]["t_s"])
    hour = last + max(0.0, slope or 0) * events_per_s * remaining_s / (1 << 20)
    return {
        "minutes": minutes,
        "samples": samples,
        "events_per_s": events_per_s,
        "growth_bytes_per_event": slope,
        "growth_bytes_per_event_whole_run": slope_whole,
        "growth_bytes_per_event_after_1_min": slope_steady,
        "rss_first_mib": whole[0]["rss_kib"] / 1024,
        "rss_last_mib": last,
        "rss_1h_extrapolated_mib": hour,
    }


def idle_cost(setup, seconds, sizes):
    """berth's CPU with no load, and beside sockfarm farms of each size
    (1,000 listeners + C connections: 1,000 + 2C sockets), as root and as
    uid 65534 where both run (the farm is root's: only root resolves its owners)."""
    results = []
    farms = [0] + sizes
    sockfarm = setup.args.sockfarm
    if sizes and not os.path.exists(sockfarm):
        setup.skipped["idle-farm"] = f"no sockfarm at {sockfarm} (--sockfarm PATH)"
        farms = [0]
    for conns in farms:
        farm = None
        ready = os.path.join(setup.work, f"farm-{conns}.json")
        entry = {"farm_conns": conns, "sockets": 0, "sockstat_tcp": sockstat_tcp()}
        try:
            if conns:
                farm = subprocess.Popen([sys.executable, sockfarm, "-L", "1000", "-C", str(conns), "-P", "100",
                                         "--base-port", "24000", "--ready-file", ready, "--setup-timeout", "180",
                                         "--max-seconds", "900", "-q"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if not wait_for(lambda: os.path.exists(ready) or farm.poll() is not None, 200, 0.2) or farm.poll() is not None:
                    err = farm.stderr.read().decode(errors="replace")[-300:] if farm.poll() is not None else "timed out"
                    entry["error"] = f"sockfarm did not get ready: {err}"
                    results.append(entry)
                    continue
                with open(ready) as f:
                    described = json.load(f)
                entry["sockets"] = described.get("sockets") or (1000 + 2 * conns)
            entry["sockstat_tcp"] = sockstat_tcp()
            for name in [n for n in ("berth", "berth-unpriv") if n in setup.runnable()]:
                w = setup.start(name, f"idle-{conns}")
                try:
                    time.sleep(2.0)  # past the first full snapshot
                    t0, c0 = time.monotonic(), cpu_ticks(w.pid)
                    time.sleep(seconds)
                    t1, c1 = time.monotonic(), cpu_ticks(w.pid)
                    rss, hwm = memory_kib(w.pid)
                finally:
                    w.stop()
                cpu_s = (c1 - c0) / CLK_TCK
                entry[name] = {"window_s": t1 - t0, "cpu_pct": 100 * cpu_s / (t1 - t0),
                               "cpu_ms_per_interval": 1000 * cpu_s / (t1 - t0), "rss_kib": rss, "hwm_kib": hwm}
        except RuntimeError as e:
            entry["error"] = str(e)
        finally:
            if farm is not None and farm.poll() is None:
                farm.send_signal(signal.SIGTERM)
                try:
                    farm.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    farm.kill()
                    farm.wait(timeout=10)
        results.append(entry)
    return results


# ---------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians over them)")
    p.add_argument("--seconds", type=float, default=3.0, help="load window at 1,000/s")
    p.add_argument("--fast-rate", type=int, default=10000, help="the high rate asked of the generator")
    p.add_argument("--fast-seconds", type=float, default=1.5,
                   help="load window at the high rate (keep rate x seconds under the ephemeral port range)")
    p.add_argument("--rss-minutes", type=float, default=2.0, help="length of the 100/s RSS run (0: skip)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="idle window per farm size (0: skip)")
    p.add_argument("--farm-sizes", default="5000,10000,20000",
                   help="sockfarm connection counts (1,000 listeners + 2C sockets; 20000 gives 41,001)")
    p.add_argument("--sockfarm", default=default_sockfarm(), help="path of sockfarm.py")
    p.add_argument("--watchers", default=",".join(ALL_WATCHERS))
    p.add_argument("--busy", action="store_true", help="keep the second core busy with a spinning process")
    p.add_argument("--no-netns", action="store_true", help="as root, stay in the machine's network namespace")
    p.add_argument("--max-tw", type=int, default=None,
                   help="in the private namespace, set net.ipv4.tcp_max_tw_buckets (0: no TIME_WAIT remnants, "
                        "to tell a watcher's per-event cost from the cost of walking remnants)")
    p.add_argument("--quick", action="store_true", help="1 round, 1.5 s windows, no RSS or idle runs")
    p.add_argument("--keep-output", action="store_true", help="keep each watcher's raw output in the work dir")
    p.add_argument("--out", help="results JSON (default bench/results/watch-TIMESTAMP.json)")
    args = p.parse_args(argv)
    args.watchers = [w for w in args.watchers.split(",") if w]
    args.farm_sizes = [int(s) for s in args.farm_sizes.split(",") if s]
    if args.quick:
        args.rounds, args.seconds, args.fast_seconds, args.rss_minutes, args.idle_seconds = 1, 1.5, 1.0, 0, 0
    if args.rounds < 1 or args.rounds > 50:
        p.error("--rounds must be 1..50")
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() == 0 and not args.no_netns and not os.environ.get("BERTH_BENCH_IN_NETNS"):
        code = reexec_in_netns(__file__, argv, interrupt_timeout=60)
        if code is not None:
            return code
    if args.max_tw is not None:
        if not os.environ.get("BERTH_BENCH_IN_NETNS"):
            sys.exit("--max-tw changes a sysctl: only inside the private namespace (as root, without --no-netns)")
        with open("/proc/sys/net/ipv4/tcp_max_tw_buckets", "w") as f:
            f.write(str(args.max_tw))
    work = tempfile.mkdtemp(prefix="berth-bench-watch-")
    setup = Setup(args, work)
    spinner = None
    started = time.time()
    try:
        loadgen = build_loadgen(work)
        if args.busy:
            last_cpu = max(os.sched_getaffinity(0))
            spinner = subprocess.Popen([loadgen, "spin", "-T", "7200"], stdout=subprocess.DEVNULL,
                                       preexec_fn=lambda: os.sched_setaffinity(0, {last_cpu}))
        watchers = setup.runnable()
        rates = [1000, args.fast_rate]
        windows = {1000: args.seconds, args.fast_rate: args.fast_seconds}
        for name, why in setup.skipped.items():
            log(f"skipped: {name}: {why}")
        # Idle and RSS first, on a table without the TIME_WAIT remnants of the load rounds.
        rss = None
        idle = None
        if setup.berth and args.idle_seconds > 0:
            log(f"idle cost: {args.idle_seconds} s per farm size {[0] + args.farm_sizes}")
            idle = idle_cost(setup, args.idle_seconds, args.farm_sizes)
        elif args.idle_seconds > 0:
            setup.skipped["idle"] = setup.skipped.get("berth", "no berth")
        if setup.berth and args.rss_minutes > 0:
            log(f"RSS run: 100/s for {args.rss_minutes} min")
            rss = rss_run(setup, loadgen, args.rss_minutes)
        elif args.rss_minutes > 0:
            setup.skipped["rss"] = setup.skipped.get("berth", "no berth")
        runs = []
        for round_no in range(args.rounds):
            for rate in rates:
                shift = round_no % max(1, len(watchers))
                order = watchers[shift:] + watchers[:shift]
                for name in order:
                    tag = f"r{round_no}-{rate}"
                    try:
                        run = measure(setup, loadgen, name, rate, windows[rate], tag)
                    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                        log(f"  round {round_no + 1} {name} at {rate}/s failed: {e}")
                        runs.append({"watcher": name, "rate_asked": rate, "round": round_no, "error": str(e)})
                        continue
                    run["round"] = round_no
                    runs.append(run)
                    log(f"round {round_no + 1}/{args.rounds} {name:<12} {rate:>5}/s reached {fmt(run['rate_reached'], '.0f')}/s: "
                        f"opens missed {fmt(run['opens_missed_pct'], '.2f')}% closes missed {fmt(run['closes_missed_pct'], '.2f')}% "
                        f"CPU {run['cpu_pct']:.1f}% (TIME_WAIT before: {(run['sockstat_tcp_before'] or {}).get('tw')})")
        good = [r for r in runs if "error" not in r]
        table = summarize(good, watchers, rates)
    finally:
        if spinner is not None:
            spinner.send_signal(signal.SIGTERM)
            try:
                spinner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                spinner.kill()
                spinner.wait(timeout=5)
        setup.cleanup()
        if not args.keep_output:
            shutil.rmtree(work, ignore_errors=True)

    print_table(table, watchers, rates)
    compared = ratios(table, watchers, rates)
    if compared:
        print()
        for key, value in compared.items():
            print(f"{key:<28} CPU ratio {fmt(value['cpu_ratio'], '.2f')}   closes missed % {fmt(value['closes_missed_pct'][0], '.2f')} vs "
                  f"{fmt(value['closes_missed_pct'][1], '.2f')}   opens missed % {fmt(value['opens_missed_pct'][0], '.2f')} vs "
                  f"{fmt(value['opens_missed_pct'][1], '.2f')}")
    if rss:
        print()
        if "error" in rss:
            print(f"RSS run: {rss['error']}")
        else:
            print(f"RSS at 100/s for {rss['minutes']} min ({rss['events_per_s']:.0f} events/s): {rss['rss_first_mib']:.1f} -> "
                  f"{rss['rss_last_mib']:.1f} MiB, growth {fmt(rss['growth_bytes_per_event'], '.1f')} B/event "
                  f"(whole run {fmt(rss['growth_bytes_per_event_whole_run'], '.1f')}, after the first minute "
                  f"{fmt(rss['growth_bytes_per_event_after_1_min'], '.1f')}), "
                  f"extrapolated to 1 h: {rss['rss_1h_extrapolated_mib']:.1f} MiB")
    if idle:
        print()
        for entry in idle:
            if "error" in entry:
                print(f"idle, farm {entry['farm_conns']}: {entry['error']}")
                continue
            for name in ("berth", "berth-unpriv"):
                m = entry.get(name)
                if m:
                    print(f"idle {name:<12} {entry['sockets']:>6} farm sockets: CPU {m['cpu_pct']:.2f}% "
                          f"({m['cpu_ms_per_interval']:.1f} ms per 1 s interval), RSS {m['rss_kib'] / 1024:.1f} MiB, "
                          f"HWM {m['hwm_kib'] / 1024:.1f} MiB")
    for name, why in setup.skipped.items():
        print(f"skipped: {name}: {why}")

    checks = targets(table, rss, args.fast_rate)
    if checks:
        print()
        for text, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")

    results = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "uid": os.geteuid(),
        "netns": "private" if os.environ.get("BERTH_BENCH_IN_NETNS") else "machine's own",
        "busy": args.busy,
        "berth": setup.berth,
        "berth_command": getattr(setup, "watch_args", None),
        "args": {k: v for k, v in vars(args).items()},
        "skipped": setup.skipped,
        "runs": runs,
        "summary": table,
        "ratios": compared,
        "rss": rss,
        "idle": idle,
        "checks": [{"target": t, "ok": ok} for t, ok in checks],
    }
    out = args.out or os.path.join(HERE, "results", time.strftime("watch-%Y%m%dT%H%M%SZ.json", time.gmtime(started)))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1, default=str)
    print(f"\nresults: {out}")
    if not setup.berth:
        return 2
    return 0 if all(ok for _, ok in checks) else 1


def targets(table, rss, fast):
    checks = []
    for mine in ("berth", "berth-unpriv"):
        for rate in (1000, fast):
            row = table.get(f"{mine}@{rate}")
            if not row:
                continue
            checks.append((f"{mine} misses no close at {rate}/s (worst run {fmt(row['closes_missed_pct_max'], '.3f')}%)",
                           row["closes_missed_pct_max"] == 0))
            checks.append((f"{mine} misses no open at {rate}/s (worst run {fmt(row['opens_missed_pct_max'], '.3f')}%)",
                           row["opens_missed_pct_max"] == 0))
        row = table.get(f"{mine}@1000")
        if row:
            checks.append((f"{mine} CPU at 1,000/s {fmt(row['cpu_pct'])}% <= {TARGET_CPU_1K}%", row["cpu_pct"] <= TARGET_CPU_1K))
            p50 = row.get("latency_stamp_p50_ms")
            checks.append((f"{mine} close latency p50 {fmt(p50, '.2f')} ms < {TARGET_LATENCY_P50_MS} ms",
                           p50 is not None and p50 < TARGET_LATENCY_P50_MS))
        row, ss = table.get(f"{mine}@{fast}"), table.get(f"ss@{fast}")
        if row and ss:
            checks.append((f"{mine} CPU at {fast}/s {fmt(row['cpu_pct'])}% <= ss -E's {fmt(ss['cpu_pct'])}%",
                           row["cpu_pct"] <= ss["cpu_pct"]))
    if rss and "error" not in rss:
        checks.append((f"berth RSS after 1 h at 100/s (extrapolated) {rss['rss_1h_extrapolated_mib']:.1f} MiB <= {TARGET_RSS_1H_MIB} MiB",
                       rss["rss_1h_extrapolated_mib"] <= TARGET_RSS_1H_MIB))
    return checks


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
