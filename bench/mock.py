#!/usr/bin/env python3
"""bench/mock.py: berth mock against Prism, httpmock and json-server (issue 14).

Measured in one run, tools interleaved (the order rotates each round),
medians printed with berth's ratio to each rival:

1. throughput: wrk -t2 -c64 (10 s; --quick 3 s), GET /pets answered from
   an example (bench/fixtures/petstore-examples.yaml; httpmock and
   json-server are given the same body in their own formats): req/s, p99,
   and the most RSS seen under the load;
2. a generated answer: berth --dynamic against prism mock -d;
3. start-up to the first answer: spawn, then GET every millisecond until
   a 200 (10 runs, --quick 5);
4. a large real spec (--large-spec, default DigitalOcean's public API,
   thousands of $ref'd files, if extracted at /tmp/do-openapi): berth's
   and Prism's start-up, berth's RSS under load on GET /v2/account.

--busy keeps the second core busy meanwhile (a developer's laptop).
Rivals come from --rivals DIR (default /tmp/mock-rivals):
  npm install --prefix /tmp/mock-rivals @stoplight/prism-cli json-server
  cargo install httpmock --features standalone --root /tmp/mock-rivals/cargo
Whatever is missing is skipped with the reason. Standard library only;
wrk from Debian (apt-get install wrk).
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPEC = os.path.join(HERE, "fixtures", "petstore-examples.yaml")
BODY = '[{"id":1,"name":"doggie","tag":"dog"},{"id":2,"name":"kitty","tag":"cat"}]'


def get_ok(port, path, headers=""):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode())
            return s.recv(16).startswith(b"HTTP/1.1 2")
    except OSError:
        return False


class Tool:
    def __init__(self, name, command, path="/pets", cwd=None, headers=""):
        self.name, self.command, self.path, self.cwd, self.headers = name, command, path, cwd, headers

    def start(self, port):
        argv = [a.replace("{port}", str(port)) for a in self.command]
        process = subprocess.Popen(argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        return process

    def first_answer(self, timeout=60):
        """Milliseconds from spawn to the first 2xx, and the process."""
        port = benchlib.free_port()
        started = time.monotonic()
        process = self.start(port)
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                return None, process, port
            if get_ok(port, self.path, self.headers):
                return (time.monotonic() - started) * 1000, process, port
            time.sleep(0.001)
        return None, process, port


def stop(process):
    try:
        os.killpg(process.pid, 9)
    except OSError:
        pass
    process.wait(timeout=10)


def wrk(port, path, seconds, headers):
    argv = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    for header in headers:
        argv[1:1] = ["-H", header]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, float(p99.group(1)) * scale, int(errors.group(1)) if errors else 0


def under_load(tool, seconds, headers=()):
    """req/s, p99 ms and peak RSS KiB of one tool under wrk."""
    ms, process, port = tool.first_answer()
    if ms is None:
        stop(process)
        return None
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss, _ = benchlib.memory_kib(process.pid)
            peak[0] = max(peak[0], rss or 0)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        rate, p99, errors = wrk(port, tool.path, seconds, list(headers))
    finally:
        done.set()
        sampler.join()
        stop(process)
    return {"rps": rate, "p99_ms": p99, "rss_kib": peak[0], "errors": errors}


def busy_core():
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--rivals", default="/tmp/mock-rivals")
    parser.add_argument("--large-spec", default="/tmp/do-openapi/specification/DigitalOcean-public.v2.yaml")
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3, 1
    if not shutil.which("wrk"):
        sys.exit("bench/mock.py needs wrk: apt-get install wrk")
    if not os.path.exists(args.berth):
        sys.exit(f"{args.berth} is missing: cargo build --release")

    work = tempfile.mkdtemp(prefix="berth-bench-mock-")
    with open(os.path.join(work, "pets.yaml"), "w") as f:
        f.write("when:\n  method: GET\n  path: /pets\nthen:\n  status: 200\n  header:\n"
                "    - name: content-type\n      value: application/json\n"
                f"  body: '{BODY}'\n")
    with open(os.path.join(work, "db.json"), "w") as f:
        json.dump({"pets": json.loads(BODY)}, f)

    bin_dir = os.path.join(args.rivals, "node_modules", ".bin")
    tools = {"berth": Tool("berth", [args.berth, "mock", SPEC, "--port", "{port}", "-q", "--no-reload"])}
    rivals = {
        "httpmock": (os.path.join(args.rivals, "cargo", "bin", "httpmock"),
                     lambda p: Tool("httpmock", [p, "-p", "{port}", "-m", work, "-d"])),
        "prism": (os.path.join(bin_dir, "prism"), lambda p: Tool("prism", [p, "mock", SPEC, "-p", "{port}", "-h", "127.0.0.1"])),
        "json-server": (os.path.join(bin_dir, "json-server"),
                        lambda p: Tool("json-server", [p, "--port", "{port}", os.path.join(work, "db.json")])),
    }
    for name, (path, make) in rivals.items():
        if os.path.exists(path):
            tools[name] = make(path)
        else:
            benchlib.log(f"skipped {name}: {path} is missing (see this script's docstring)")
    dynamic = {"berth": Tool("berth -d", [args.berth, "mock", SPEC, "--port", "{port}", "-q", "--no-reload", "--dynamic"])}
    if "prism" in tools:
        dynamic["prism"] = Tool("prism -d", [tools["prism"].command[0], "mock", SPEC, "-d", "-p", "{port}", "-h", "127.0.0.1"])

    busy = busy_core() if args.busy else None
    results = {"busy": args.busy, "duration_s": args.duration, "rounds": args.rounds,
               "throughput": {}, "dynamic": {}, "startup_ms": {}, "large": {}}
    try:
        names = list(tools)
        for round_index in range(args.rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in order:
                benchlib.log(f"round {round_index + 1}: {name} under wrk")
                result = under_load(tools[name], args.duration)
                if result:
                    results["throughput"].setdefault(name, []).append(result)
            for name in list(dynamic)[round_index % len(dynamic):] + list(dynamic)[:round_index % len(dynamic)]:
                benchlib.log(f"round {round_index + 1}: {dynamic[name].name} under wrk")
                result = under_load(dynamic[name], args.duration)
                if result:
                    results["dynamic"].setdefault(name, []).append(result)
        starts = 5 if args.quick else 10
        for run in range(starts):
            for name in names[run % len(names):] + names[:run % len(names)]:
                ms, process, _ = tools[name].first_answer()
                stop(process)
                if ms is not None:
                    results["startup_ms"].setdefault(name, []).append(ms)
        if os.path.exists(args.large_spec):
            cwd = os.path.dirname(args.large_spec)
            spec_dir = cwd
            files = sum(1 for _, _, fs in os.walk(spec_dir) for f in fs if f.endswith((".yml", ".yaml")))
            refs = 0
            for base, _, fs in os.walk(spec_dir):
                for f in fs:
                    if f.endswith((".yml", ".yaml")):
                        with open(os.path.join(base, f), errors="replace") as text:
                            refs += text.read().count("$ref")
            results["large"] = {"spec": args.large_spec, "yaml_files": files, "refs": refs}
            auth = "Authorization: Bearer x\r\n"
            large = {"berth": Tool("berth", [args.berth, "mock", args.large_spec, "--port", "{port}", "-q", "--no-reload"],
                                   path="/v2/account", headers=auth)}
            if "prism" in tools:
                large["prism"] = Tool("prism", [tools["prism"].command[0], "mock", args.large_spec, "-p", "{port}", "-h", "127.0.0.1"],
                                      path="/v2/account", headers=auth)
            for run in range(3 if args.quick else 5):
                for name, tool in large.items():
                    ms, process, _ = tool.first_answer(timeout=120)
                    stop(process)
                    results["large"].setdefault(f"{name}_startup_ms", []).append(ms)
            loaded = under_load(large["berth"], args.duration, headers=["Authorization: Bearer x"])
            results["large"]["berth_under_load"] = loaded
        else:
            benchlib.log(f"skipped the large spec: {args.large_spec} is missing (see the docstring)")
    finally:
        if busy:
            stop(busy)
        shutil.rmtree(work, ignore_errors=True)

    def med(values, key=None):
        values = [v[key] if key else v for v in values if v is not None and (key is None or v.get(key) is not None)]
        return statistics.median(values) if values else None

    print(f"\nberth mock vs rivals ({'second core busy' if args.busy else 'quiet'}; "
          f"wrk -t2 -c64 -d{args.duration}s, medians of {args.rounds} rounds)")
    print(f"{'tool':<14}{'req/s':>10}{'p99 ms':>9}{'RSS MiB':>9}{'non-2xx':>9}{'start ms':>10}")
    for name, runs in results["throughput"].items():
        start = med(results["startup_ms"].get(name, []))
        print(f"{name:<14}{med(runs, 'rps'):>10.0f}{med(runs, 'p99_ms'):>9.2f}{med(runs, 'rss_kib') / 1024:>9.1f}"
              f"{med(runs, 'errors'):>9.0f}{benchlib.fmt(start):>10}")
    berth = results["throughput"].get("berth")
    for name, runs in results["throughput"].items():
        if name != "berth" and berth:
            rss = med(runs, 'rss_kib')
            rss_ratio = f"{med(berth, 'rss_kib') / rss:.2f}x" if rss else "-"
            print(f"  berth / {name}: {med(berth, 'rps') / med(runs, 'rps'):.2f}x req/s, RSS {rss_ratio}")
    for name, runs in results["dynamic"].items():
        print(f"generated, {name:<10}{med(runs, 'rps'):>10.0f} req/s  p99 {med(runs, 'p99_ms'):.2f} ms")
    if "berth" in results["dynamic"] and "prism" in results["dynamic"]:
        ratio = med(results["dynamic"]["berth"], "rps") / med(results["dynamic"]["prism"], "rps")
        print(f"  berth -d / prism -d: {ratio:.1f}x")
    if results["large"]:
        large = results["large"]
        print(f"large spec {large['spec']}: {large['yaml_files']} YAML files, {large['refs']} $refs")
        for key in ("berth_startup_ms", "prism_startup_ms"):
            if key in large:
                values = [v for v in large[key] if v is not None]
                print(f"  {key}: {benchlib.fmt(med(values)) if values else 'no answer'}"
                      f" ({len(values)} of {len(large[key])} runs answered)")
        if large.get("berth_under_load"):
            loaded = large["berth_under_load"]
            print(f"  berth under load: {loaded['rps']:.0f} req/s, p99 {loaded['p99_ms']:.2f} ms, RSS {loaded['rss_kib'] / 1024:.1f} MiB")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(HERE, "results", f"mock-{stamp}.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
