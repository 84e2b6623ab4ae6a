#!/usr/bin/env python3
"""bench/proxy.py: `berth proxy` against nginx's TLS reverse proxy and Caddy (issue 15).

One backend, nginx serving a 1 KiB file (GET /file) over plain http on a
loopback port, and three TLS fronts to it, each started afresh in every
round and measured alone:

  berth   target/release/berth proxy BACKEND --port P -q (its own CA, made in
          a temporary XDG_DATA_HOME; clients trust berth/ca/root.pem there);
  nginx   a TLS reverse proxy (listen ssl http2, proxy_pass to an upstream
          with keepalive), worker_processes = the number of cores, with a
          leaf made by `berth ca cert localhost 127.0.0.1 ::1` from the same CA;
  caddy   caddy reverse-proxy --from https://localhost:P --to 127.0.0.1:BACKEND
          --internal-certs (Debian's caddy 2.6; its own CA in a temporary
          XDG_DATA_HOME, trusted through pki/authorities/local/root.crt);

and the backend itself over plain http (`direct`) as the reference.

For each front and round: the time from spawn to the first trusted answer
(curl --cacert ROOT), VmRSS summed over its processes one second after that
(idle), then wrk -t2 -c64 -dDURATION --latency on https://localhost:P/file
three times: keep-alive; with `Connection: close` as wrk does it (wrk keeps
its SSL object and so offers the last session again: the server may resume
it); and `Connection: close` with every session dropped (full handshakes).
req/s, p99, socket errors, and the front's CPU (utime+stime summed over its
processes) per request, which the machine's other load disturbs less than
req/s does (for `direct`, the backend's own), and wrk's own CPU per request
(its rusage); wrk runs with bench/tools/tlscount.c preloaded,
which counts the TLS handshakes it completed and how many resumed a session,
so the handshakes per request are measured, not assumed. The backend's
stub_status `accepts` says how many connections the front opened to it.
Peak memory: VmHWM summed over the front's processes (nginx: master and
workers) after the three loads, and the largest VmRSS sum sampled every
100 ms under load. Fronts rotate their order each round (berth, nginx,
caddy, direct; then nginx, caddy, direct, berth; ...). Figures are medians
over the rounds; ratios are berth's median over the rival's.

Then --startups runs (default 10) of "nothing to the first trusted answer"
with the CA already made: spawn berth proxy, curl --cacert root.pem every
few ms until a 200 (bounded at 10 s); nginx and Caddy the same, as context.

--busy keeps the last CPU busy meanwhile (a python spin loop pinned there).

Needs root: the script re-runs itself in a private network and mount
namespace (unshare -n -m, lo up), so the fronts' ports, Caddy's :80 redirect
listener and the traffic are the namespace's alone; there it mounts empty
tmpfs over /usr/local/share/ca-certificates and /etc/ssl/certs, because
`caddy reverse-proxy --internal-certs` installs its root into the system
trust store (it runs update-ca-certificates): in the namespace that lands in
the tmpfs and is gone when the run ends; the script checks before and after
that the machine's trust directories did not change, and never starts Caddy
unless those mounts are in place. curl gets --capath on an empty directory,
so only the root it is given counts.

Needs python3, gcc (for the shim), wrk, nginx, caddy and curl (apt-get
install wrk nginx caddy curl; a caddy.service the package starts is not
used), and a release build: cargo build --release. Whatever front is missing
is skipped with the reason. Results: a table on stdout and JSON in
bench/results/proxy-TIMESTAMP.json (--out). Exit status 0 when berth meets
the issue's targets, 1 when it misses one, 2 when berth was not measured.
Standard library only.
"""

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHIM_SRC = os.path.join(HERE, "tools", "tlscount.c")
TRUST_DIRS = ("/usr/local/share/ca-certificates", "/etc/ssl/certs")
FRONTS = ("berth", "nginx", "caddy")
LOADS = ("keepalive", "close", "close_full")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []
SPAWNED = [0]


# ---------------------------------------------------------------- processes


def spawn(name, argv, work, env=None, preexec=None):
    """A process in a session of its own, stdout and stderr to work/NAME-N.log."""
    SPAWNED[0] += 1
    log_path = os.path.join(work, f"{name}-{SPAWNED[0]}.log")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, preexec_fn=preexec)
    proc.name, proc.log_path = name, log_path
    STARTED.append(proc)
    return proc


def stop(proc, timeout=5):
    """SIGTERM to the process group, SIGKILL after `timeout` s; reaps the leader."""
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except OSError:
                pass
            try:
                proc.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by a leader that is gone
    except OSError:
        pass
    if proc in STARTED:
        STARTED.remove(proc)


def stop_all():
    for proc in list(STARTED):
        stop(proc, timeout=2)


def read_log(proc):
    try:
        with open(proc.log_path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def tree_cpu_ticks(pid):
    """utime + stime summed over pid and its descendants (workers that exit are not counted)."""
    total = 0
    for p in tree(pid):
        try:
            total += benchlib.cpu_ticks(p)
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_memory(pid):
    """VmRSS and VmHWM in KiB, each summed over pid and its descendants."""
    rss = hwm = 0
    for p in tree(pid):
        r, h = benchlib.memory_kib(p)
        rss += r or 0
        hwm += h or 0
    return rss, hwm


# ---------------------------------------------------------------- trust store guard


def trust_fingerprint():
    """Names, sizes, mtimes and link targets under the trust directories."""
    digest = hashlib.sha256()
    for top in TRUST_DIRS:
        for base, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(base, name)
                try:
                    st = os.lstat(path)
                    target = os.readlink(path) if os.path.islink(path) else ""
                except OSError:
                    continue
                digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{target}\n".encode())
    return digest.hexdigest()


def tmpfs_mounted(path):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[4] == path and fields[sep + 1] == "tmpfs":
                return True
    return False


def shield_trust_store():
    """In our private mount namespace: empty tmpfs over the trust directories.
    True when every one of them is such a mount afterwards."""
    for path in TRUST_DIRS:
        if os.path.isdir(path) and not tmpfs_mounted(path):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "berth-bench", path], check=False, timeout=10)
    return all(tmpfs_mounted(p) for p in TRUST_DIRS if os.path.isdir(p))


# ---------------------------------------------------------------- configs


def nginx_common(prefix):
    for sub in ("logs", "temp", "html"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    temp = os.path.join(prefix, "temp")
    return (f"daemon off;\nmaster_process on;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log warn;\n"
            f"worker_rlimit_nofile 65536;\nevents {{ worker_connections 8192; }}\n"), (
            f"  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  keepalive_requests 1000000;\n")


def backend_config(prefix, port, workers):
    top, http = nginx_common(prefix)
    html = os.path.join(prefix, "html")
    with open(os.path.join(html, "file"), "wb") as f:
        f.write(bytes(range(97, 123)) * 39 + b"abcdefghi\n")  # 1024 bytes
    return (f"worker_processes {workers};\n{top}http {{\n{http}  default_type application/octet-stream;\n"
            f"  server {{\n    listen 127.0.0.1:{port};\n    root {html};\n"
            f"    location = / {{ return 200 \"ok\\n\"; }}\n"
            f"    location = /stub_status {{ stub_status; }}\n  }}\n}}\n")


def front_config(prefix, port, backend_port, cert, key, workers):
    top, http = nginx_common(prefix)
    return (f"worker_processes {workers};\n{top}http {{\n{http}"
            f"  upstream backend {{\n    server 127.0.0.1:{backend_port};\n    keepalive 64;\n"
            f"    keepalive_requests 1000000;\n  }}\n"
            f"  server {{\n    listen 127.0.0.1:{port} ssl http2;\n    listen [::1]:{port} ssl http2;\n"
            f"    server_name localhost;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
            f"    location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n"
            f"      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n"
            f"      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            f"      proxy_set_header X-Forwarded-Proto $scheme;\n"
            f"      proxy_set_header X-Forwarded-Host $host;\n    }}\n  }}\n}}\n")


# ---------------------------------------------------------------- clients


def curl_status(url, cacert, capath, timeout=2.0):
    """HTTP status of a GET through curl trusting only `cacert` (0 on failure)."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout),
            "--cacert", cacert, "--capath", capath, url]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return 0
    return int(out.stdout) if out.returncode == 0 and out.stdout.isdigit() else 0


def first_trusted_answer(proc, url, cacert, capath, timeout=10.0):
    """ms from `proc.started` to the first 200 through curl --cacert, or None."""
    deadline = proc.started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if os.path.exists(cacert) and curl_status(url, cacert, capath, timeout=1.0) == 200:
            return (time.monotonic() - proc.started) * 1000
        time.sleep(0.005)
    return None


def backend_accepts(port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stub_status", timeout=5) as r:
            text = r.read().decode()
        return int(text.splitlines()[2].split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wrk(url, seconds, work, shim, close=False, fresh=False):
    argv = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    count_file = os.path.join(work, "tlscount.txt")
    if os.path.exists(count_file):
        os.remove(count_file)
    env = dict(os.environ, TLSCOUNT_OUT=count_file, TLSCOUNT_FRESH="1" if fresh else "0")
    if shim and url.startswith("https:"):
        env["LD_PRELOAD"] = shim
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)  # wrk's, the only child reaped
    text = out.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if out.returncode != 0 or not rate:
        return {"error": (out.stderr or text).strip()[-400:]}
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    result = {"rps": float(rate.group(1)), "p99_ms": float(p99.group(1)) * scale,
              "requests": int(re.search(r"(\d+) requests in", text).group(1)), "non_2xx": 0, "socket_errors": 0}
    result["client_cpu_s"] = client_cpu
    result["client_cpu_us_per_request"] = client_cpu * 1e6 / result["requests"] if result["requests"] else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        result["non_2xx"] = int(non2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        result["socket_errors"] = sum(int(g) for g in errors.groups())
    if os.path.exists(count_file):
        with open(count_file) as f:
            m = re.match(r"handshakes (\d+) resumed (\d+)", f.read())
        if m:
            result["handshakes"], result["resumed"] = int(m.group(1)), int(m.group(2))
    return result


def build_shim(work):
    gcc = shutil.which("gcc")
    if not gcc:
        benchlib.log("no gcc: wrk's handshakes are not counted and close_full is wrk's own close")
        return None
    path = os.path.join(work, "tlscount.so")
    subprocess.run([gcc, "-O2", "-Wall", "-shared", "-fPIC", "-o", path, SHIM_SRC, "-ldl"], check=True, timeout=120)
    return path


# ---------------------------------------------------------------- fronts


class Setup:
    """Everything the fronts share: ports, dirs, CA files."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.cores = os.cpu_count() or 2
        self.capath = os.path.join(work, "empty-capath")
        os.makedirs(self.capath, exist_ok=True)
        self.berth_home = os.path.join(work, "berth-home")
        self.caddy_home = os.path.join(work, "caddy-home")
        self.berth_ca = os.path.join(self.berth_home, ".local", "share", "berth", "ca")
        self.caddy_root = os.path.join(self.caddy_home, ".local", "share", "caddy", "pki", "authorities", "local",
                                       "root.crt")
        self.nginx_cert = self.nginx_key = self.nginx_root = None
        self.backend_port = None
        self.skipped = {}

    def home_env(self, home):
        env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "LD_PRELOAD")}
        env.update(HOME=home, XDG_DATA_HOME=os.path.join(home, ".local", "share"),
                   XDG_CONFIG_HOME=os.path.join(home, ".config"), XDG_CACHE_HOME=os.path.join(home, ".cache"),
                   XDG_STATE_HOME=os.path.join(home, ".local", "state"))
        for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            os.makedirs(env[key], exist_ok=True)
        return env

    def start(self, front):
        """Spawns one front on a free port: (process, url root, cacert)."""
        port = benchlib.free_port()
        if front == "berth":
            argv = [self.args.berth, "proxy", str(self.backend_port), "--port", str(port), "-q"]
            proc = spawn("berth", argv, self.work, env=self.home_env(self.berth_home))
            cacert = os.path.join(self.berth_ca, "root.pem")
        elif front == "nginx":
            prefix = os.path.join(self.work, f"nginx-front-{port}")
            conf = os.path.join(prefix, "nginx.conf")
            os.makedirs(prefix, exist_ok=True)
            with open(conf, "w") as f:
                f.write(front_config(prefix, port, self.backend_port, self.nginx_cert, self.nginx_key, self.cores))
            proc = spawn("nginx", [self.args.nginx, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "logs",
                                                                                                  "error.log")],
                         self.work)
            cacert = self.nginx_root
        elif front == "caddy":
            if not shield_trust_store():
                raise RuntimeError("the trust directories are not shielded: Caddy not started")
            argv = [self.args.caddy, "reverse-proxy", "--from", f"https://localhost:{port}",
                    "--to", f"127.0.0.1:{self.backend_port}", "--internal-certs"]
            proc = spawn("caddy", argv, self.work, env=self.home_env(self.caddy_home))
            cacert = self.caddy_root
        else:
            raise ValueError(front)
        proc.started = time.monotonic()
        proc.port = port
        return proc, f"https://localhost:{port}", cacert


def berth_has_proxy(berth):
    try:
        out = subprocess.run([berth, "proxy", "--help"], capture_output=True, text=True, timeout=20)
        return out.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def make_openssl_leaf(work):
    """Stand-in CA and leaf for nginx while berth has no `ca cert` (development only)."""
    d = os.path.join(work, "openssl-ca")
    os.makedirs(d, exist_ok=True)
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=bench root", "-keyout", f"{d}/root-key.pem", "-out", f"{d}/root.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
        "-keyout", f"{d}/leaf-key.pem", "-out", f"{d}/leaf.csr")
    with open(f"{d}/ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{d}/leaf.csr", "-CA", f"{d}/root.pem", "-CAkey", f"{d}/root-key.pem",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext", "-out", f"{d}/leaf.pem")
    return f"{d}/leaf.pem", f"{d}/leaf-key.pem", f"{d}/root.pem"


def prepare(setup):
    """Backend up, berth's CA made, nginx's leaf issued, Caddy's CA made; returns the fronts to run."""
    args, work = setup.args, setup.work
    setup.backend_port = benchlib.free_port()
    prefix = os.path.join(work, "backend")
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(backend_config(prefix, setup.backend_port, setup.cores))
    backend = spawn("backend", [args.nginx, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "logs", "error.log")],
                    work)
    if not benchlib.wait_for(lambda: backend_accepts(setup.backend_port) is not None, 10):
        raise RuntimeError(f"the backend nginx did not start: {read_log(backend)[-400:]}")
    setup.backend = backend
    fronts = []
    want = [f for f in args.fronts.split(",") if f]

    if "berth" in want:
        if not os.access(args.berth, os.X_OK):
            setup.skipped["berth"] = f"{args.berth} is missing: cargo build --release"
        elif not berth_has_proxy(args.berth):
            setup.skipped["berth"] = f"{args.berth} has no `proxy` command (build main's newest)"
        else:
            proc, url, cacert = setup.start("berth")  # makes the CA
            ms = first_trusted_answer(proc, url + "/", cacert, setup.capath, timeout=30)
            text = read_log(proc)
            stop(proc)
            if ms is None:
                setup.skipped["berth"] = f"berth proxy gave no trusted answer: {text.strip()[-400:]}"
            else:
                setup.berth_first_start_ms = ms
                setup.berth_ready_line = next((l for l in text.splitlines() if "https://localhost:" in l), None)
                fronts.append("berth")
    if "nginx" in want:
        if not shutil.which(args.nginx):
            setup.skipped["nginx"] = f"no {args.nginx} (apt-get install nginx)"
        elif "berth" in fronts:
            cert = os.path.join(work, "nginx-leaf.pem")
            key = os.path.join(work, "nginx-leaf-key.pem")
            out = subprocess.run([args.berth, "ca", "cert", "localhost", "127.0.0.1", "::1", "--cert-file", cert,
                                  "--key-file", key], capture_output=True, text=True, timeout=60,
                                 env=setup.home_env(setup.berth_home), cwd=work)
            if out.returncode != 0:
                setup.skipped["nginx"] = f"berth ca cert failed: {out.stderr.strip()[-400:]}"
            else:
                setup.nginx_cert, setup.nginx_key = cert, key
                setup.nginx_root = os.path.join(setup.berth_ca, "root.pem")
                setup.nginx_leaf_from = "berth ca cert"
        else:
            setup.nginx_cert, setup.nginx_key, setup.nginx_root = make_openssl_leaf(work)
            setup.nginx_leaf_from = "openssl (berth not measured)"
        if setup.nginx_cert:
            fronts.append("nginx")
    if "caddy" in want:
        if not shutil.which(args.caddy):
            setup.skipped["caddy"] = f"no {args.caddy} (apt-get install caddy)"
        elif not shield_trust_store():
            setup.skipped["caddy"] = "the trust directories could not be shielded (needs the private mount namespace)"
        else:
            proc, url, cacert = setup.start("caddy")  # makes its CA, "installs" it into the tmpfs
            ms = first_trusted_answer(proc, url + "/", cacert, setup.capath, timeout=60)
            text = read_log(proc)
            stop(proc)
            if ms is None:
                setup.skipped["caddy"] = f"caddy gave no trusted answer: {text.strip()[-400:]}"
            else:
                setup.caddy_first_start_ms = ms
                fronts.append("caddy")
    for name, why in setup.skipped.items():
        benchlib.log(f"skipped {name}: {why}")
    return fronts


# ---------------------------------------------------------------- measuring


def measure_front(setup, front, shim):
    """One front, fresh: start, idle RSS, three loads, peak RSS."""
    args, work = setup.args, setup.work
    proc, url, cacert = setup.start(front)
    result = {"port": proc.port}
    try:
        result["start_ms"] = first_trusted_answer(proc, url + "/", cacert, setup.capath, timeout=30)
        if result["start_ms"] is None:
            result["error"] = f"no trusted answer: {read_log(proc).strip()[-400:]}"
            return result
        time.sleep(1.0)
        result["idle_rss_kib"], result["idle_hwm_kib"] = tree_memory(proc.pid)
        result["processes"] = len(tree(proc.pid))
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.wait(0.1):
                peak[0] = max(peak[0], tree_memory(proc.pid)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            for load in LOADS:
                before = backend_accepts(setup.backend_port)
                ticks = tree_cpu_ticks(proc.pid)
                entry = wrk(url + "/file", args.duration, work, shim, close=load != "keepalive",
                            fresh=load == "close_full")
                ticks = tree_cpu_ticks(proc.pid) - ticks
                after = backend_accepts(setup.backend_port)
                if entry.get("requests"):
                    entry["cpu_s"] = ticks / CLK_TCK
                    entry["cpu_us_per_request"] = ticks / CLK_TCK * 1e6 / entry["requests"]
                if before is not None and after is not None:
                    entry["backend_accepts"] = after - before - 1  # the second stub_status read
                result[load] = entry
                if "error" in entry:
                    benchlib.log(f"  {front} {load}: wrk failed: {entry['error']}")
        finally:
            done.set()
            sampler.join()
        result["peak_rss_kib"] = peak[0]
        result["peak_hwm_kib"] = tree_memory(proc.pid)[1]
        if proc.poll() is not None:
            result["error"] = f"exited during the run: {read_log(proc).strip()[-400:]}"
    finally:
        stop(proc)
    return result


def measure_direct(setup):
    url = f"http://127.0.0.1:{setup.backend_port}/file"
    result = {}
    for load in ("keepalive", "close"):
        before = backend_accepts(setup.backend_port)
        ticks = tree_cpu_ticks(setup.backend.pid)
        entry = wrk(url, setup.args.duration, setup.work, None, close=load == "close")
        ticks = tree_cpu_ticks(setup.backend.pid) - ticks
        after = backend_accepts(setup.backend_port)
        if entry.get("requests"):
            entry["cpu_s"] = ticks / CLK_TCK
            entry["cpu_us_per_request"] = ticks / CLK_TCK * 1e6 / entry["requests"]
        if before is not None and after is not None:
            entry["backend_accepts"] = after - before - 1
        result[load] = entry
    return result


def startups(setup, fronts, runs):
    """ms from spawn to the first 200 through curl --cacert, `runs` times per front."""
    found = {f: [] for f in fronts}
    for run in range(runs):
        for front in fronts[run % len(fronts):] + fronts[:run % len(fronts)]:
            proc, url, cacert = setup.start(front)
            try:
                found[front].append(first_trusted_answer(proc, url + "/", cacert, setup.capath, timeout=10))
            finally:
                stop(proc)
    return found


def start_spinner(work):
    last_cpu = max(os.sched_getaffinity(0))
    proc = spawn("spinner", [sys.executable, "-c", "while True: pass"], work,
                 preexec=lambda: os.sched_setaffinity(0, {last_cpu}))
    proc.cpu = last_cpu
    return proc


# ---------------------------------------------------------------- figures


def get(entry, path):
    for key in path:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry


FIGURES = {"start_ms": ("start_ms",), "idle_rss_kib": ("idle_rss_kib",), "peak_hwm_kib": ("peak_hwm_kib",),
           "peak_rss_kib": ("peak_rss_kib",)}
for _load in LOADS:
    for _key in ("rps", "p99_ms", "cpu_us_per_request", "client_cpu_us_per_request", "socket_errors", "non_2xx",
                 "handshakes", "resumed", "requests", "backend_accepts"):
        FIGURES[f"{_load}.{_key}"] = (_load, _key)


def paired_ratios(rounds, fronts):
    """{"berth/RIVAL": {figure: median over the rounds of berth's value / the rival's in that round}}:
    the two ran minutes apart at most, so a drift in the machine's load cancels more than across rounds."""
    out = {}
    for rival in fronts:
        if rival == "berth" or "berth" not in fronts:
            continue
        found = {}
        for name, path in FIGURES.items():
            values = []
            for r in rounds:
                a, b = get(r.get("berth"), path), get(r.get(rival), path)
                if a is not None and b:
                    values.append(a / b)
            found[name] = benchlib.median(values)
        out[f"berth/{rival}"] = found
    return out


def medians(rounds, fronts):
    """{front: {figure: median}} over the rounds that have the figure."""
    out = {}
    for front in list(fronts) + ["direct"]:
        runs = [r[front] for r in rounds if front in r]
        out[front] = {}
        for name, path in FIGURES.items():
            out[front][name] = benchlib.median([get(r, path) for r in runs])
        for load in LOADS:
            ratios = [get(r, (load, "handshakes")) / get(r, (load, "requests")) for r in runs
                      if get(r, (load, "handshakes")) is not None and get(r, (load, "requests"))]
            resumed = [get(r, (load, "resumed")) / get(r, (load, "handshakes")) for r in runs
                       if get(r, (load, "resumed")) is not None and get(r, (load, "handshakes"))]
            out[front][f"{load}.handshakes_per_request"] = benchlib.median(ratios)
            out[front][f"{load}.resumed_share"] = benchlib.median(resumed)
    return out


ROWS = [
    ("keep-alive req/s", "keepalive.rps", ".0f", 1),
    ("keep-alive p99 ms", "keepalive.p99_ms", ".2f", 1),
    ("  front CPU us/request", "keepalive.cpu_us_per_request", ".1f", 1),
    ("  wrk's CPU us/request", "keepalive.client_cpu_us_per_request", ".1f", 1),
    ("close (wrk's own) req/s", "close.rps", ".0f", 1),
    ("close (wrk's own) p99 ms", "close.p99_ms", ".2f", 1),
    ("  front CPU us/request", "close.cpu_us_per_request", ".1f", 1),
    ("  wrk's CPU us/request", "close.client_cpu_us_per_request", ".1f", 1),
    ("  handshakes/request", "close.handshakes_per_request", ".3f", 1),
    ("  of them resumed", "close.resumed_share", ".0%", 1),
    ("close, full handshakes req/s", "close_full.rps", ".0f", 1),
    ("close, full handshakes p99 ms", "close_full.p99_ms", ".2f", 1),
    ("  front CPU us/request", "close_full.cpu_us_per_request", ".1f", 1),
    ("  wrk's CPU us/request", "close_full.client_cpu_us_per_request", ".1f", 1),
    ("  handshakes/request", "close_full.handshakes_per_request", ".3f", 1),
    ("  of them resumed", "close_full.resumed_share", ".0%", 1),
    ("socket errors (keep-alive)", "keepalive.socket_errors", ".0f", 1),
    ("socket errors (close, full)", "close_full.socket_errors", ".0f", 1),
    ("backend conns (keep-alive)", "keepalive.backend_accepts", ".0f", 1),
    ("backend conns (close, full)", "close_full.backend_accepts", ".0f", 1),
    ("RSS idle MiB", "idle_rss_kib", ".1f", 1 / 1024),
    ("RSS peak, VmHWM sum MiB", "peak_hwm_kib", ".1f", 1 / 1024),
    ("RSS peak, sampled MiB", "peak_rss_kib", ".1f", 1 / 1024),
    ("start to 1st trusted 200 ms", "startup_ms", ".0f", 1),
]


def fmt_value(value, spec, scale):
    if value is None:
        return "-"
    return format(value * scale if not spec.endswith("%") else value, spec)


def ratio(med, a, b, key):
    x, y = med.get(a, {}).get(key), med.get(b, {}).get(key)
    return x / y if x is not None and y else None


def targets(med, paired):
    """(text, ratio of the medians, wanted, met, median of the per-round ratios) for each of the
    issue's targets; met is judged on the ratio of the medians."""
    found = []

    def add(text, key, rival, wanted, higher_is_better):
        r = ratio(med, "berth", rival, key)
        by_round = paired.get(f"berth/{rival}", {}).get(key)
        if r is None:
            found.append((text, None, wanted, None, by_round))
        else:
            found.append((text, r, wanted, r >= wanted if higher_is_better else r <= wanted, by_round))

    add("keep-alive req/s >= 1.0x nginx", "keepalive.rps", "nginx", 1.0, True)
    add("keep-alive req/s >= 2.5x caddy", "keepalive.rps", "caddy", 2.5, True)
    add("one handshake per request (close, full handshakes) req/s >= 1.0x nginx", "close_full.rps", "nginx", 1.0,
        True)
    add("keep-alive p99 <= nginx's", "keepalive.p99_ms", "nginx", 1.0, False)
    add("RSS idle <= caddy's", "idle_rss_kib", "caddy", 1.0, False)
    start = med.get("berth", {}).get("startup_ms")
    found.append(("start to the first trusted answer < 3 s", start and start / 3000, 1.0,
                  None if start is None else start < 3000, None))
    return found


def print_report(results, med, fronts):
    args = results["args"]
    print(f"\nberth proxy vs nginx and Caddy ({'last CPU busy' if args['busy'] else 'quiet'}; "
          f"wrk -t2 -c64 -d{args['duration']}s --latency https://localhost:P/file, 1 KiB; "
          f"medians of {args['rounds']} rounds; {results['netns']} network namespace; "
          f"load average {results['loadavg_start']:.2f} -> {results['loadavg_end']:.2f})")
    cols = list(fronts) + ["direct"]
    header = f"{'figure':<32}" + "".join(f"{c:>10}" for c in cols)
    if "berth" in fronts:
        header += "".join(f"{'berth/' + r:>13}" for r in fronts if r != "berth")
    print(header)
    for label, key, spec, scale in ROWS:
        if all(med.get(c, {}).get(key) is None for c in cols):
            continue
        line = f"{label:<32}" + "".join(f"{fmt_value(med.get(c, {}).get(key), spec, scale):>10}" for c in cols)
        if "berth" in fronts and "%" not in spec and "handshakes/request" not in label and "conns" not in label \
                and "errors" not in label:
            line += "".join(f"{benchlib.fmt(ratio(med, 'berth', r, key), '.2f') + 'x':>13}"
                            for r in fronts if r != "berth")
        print(line)
    print("\ntargets (issue 15):")
    for text, r, wanted, met, by_round in results["targets"]:
        state = "not measured" if met is None else ("met" if met else "NOT MET")
        shown = "-" if r is None else (f"{r * 3:.2f} s" if "3 s" in text else f"{r:.3f}x")
        paired = f" (median of the per-round ratios {by_round:.3f}x)" if by_round is not None else ""
        print(f"  {text}: {shown}{paired} -> {state}")
    for name, why in results["skipped"].items():
        print(f"skipped {name}: {why}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--startups", type=int, default=10, help="runs of start to the first trusted answer")
    parser.add_argument("--busy", action="store_true", help="keep the last CPU busy with a pinned spin loop")
    parser.add_argument("--fronts", default=",".join(FRONTS))
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "release", "berth"))
    parser.add_argument("--nginx", default="nginx")
    parser.add_argument("--caddy", default="caddy")
    parser.add_argument("--out", help="results file (default bench/results/proxy-TIMESTAMP.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")
    parser.add_argument("--report", metavar="FILE",
                        help="no run: the table of a results file again (its medians, ratios and targets rewritten)")
    args = parser.parse_args()
    if args.report:
        with open(args.report) as f:
            return summarize(json.load(f), args.report)
    # Ctrl-C and kill end the run through the finally blocks (even when started
    # in the background, where the shell leaves SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if not os.environ.get("BERTH_BENCH_IN_NETNS"):
        if os.geteuid() != 0:
            sys.exit("bench/proxy.py needs root (sudo): it runs in a private network and mount namespace")
        for tool in ("wrk", "curl", "unshare", "ip", "mount"):
            if not shutil.which(tool):
                sys.exit(f"bench/proxy.py needs {tool} (apt-get install wrk curl iproute2 util-linux)")
        before = trust_fingerprint()
        env = dict(os.environ, BERTH_BENCH_IN_NETNS="1")
        shell = 'ip link set lo up && exec "$@"'
        child = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", shell, "sh",
                                  sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env=env)
        code = None
        try:
            code = child.wait()
        except BaseException:  # Ctrl-C, SIGTERM: the child stops what it started
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)
            raise
        finally:
            after = trust_fingerprint()
            print(f"the machine's trust directories ({', '.join(TRUST_DIRS)}): "
                  f"{'unchanged' if before == after else 'CHANGED'}", flush=True)
        return code if before == after else 3

    work = tempfile.mkdtemp(prefix="berth-bench-proxy-")
    os.chmod(work, 0o755)  # nginx's workers (nobody) read the backend's file and the configs' dirs
    results = {"args": vars(args), "netns": "private", "cores": os.cpu_count(), "loadavg_start": os.getloadavg()[0],
               "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": []}
    fronts = []
    try:
        if not shield_trust_store():
            benchlib.log("could not mount tmpfs over the trust directories: Caddy will be skipped")
        shim = build_shim(work)
        setup = Setup(args, work)
        fronts = prepare(setup)
        results["versions"] = versions(args)
        results["backend_port"] = setup.backend_port
        results["skipped"] = setup.skipped
        results["nginx_leaf_from"] = getattr(setup, "nginx_leaf_from", None)
        results["berth_ready_line"] = getattr(setup, "berth_ready_line", None)
        results["first_start_ms"] = {"berth": getattr(setup, "berth_first_start_ms", None),
                                     "caddy": getattr(setup, "caddy_first_start_ms", None)}
        spinner = start_spinner(work) if args.busy else None
        if spinner:
            benchlib.log(f"busy: a python spin loop pinned to CPU {spinner.cpu}")
        order = list(fronts) + ["direct"]
        for index in range(args.rounds):
            this = order[index % len(order):] + order[:index % len(order)]
            entry = {"order": this}
            for front in this:
                benchlib.log(f"round {index + 1}/{args.rounds}: {front}")
                entry[front] = measure_direct(setup) if front == "direct" else measure_front(setup, front, shim)
                if "error" in entry[front]:
                    benchlib.log(f"  {front}: {entry[front]['error']}")
            results["rounds"].append(entry)
        benchlib.log(f"start to the first trusted answer, {args.startups} runs each")
        results["startup_ms"] = startups(setup, fronts, args.startups) if fronts else {}
        if spinner:
            stop(spinner)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C or the parent's SIGTERM: cleanup goes on
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all()
        if args.keep:
            benchlib.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results["loadavg_end"] = os.getloadavg()[0]
    results["fronts"] = fronts
    out = args.out
    if not out:
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        out = os.path.join(HERE, "results", f"proxy-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    return summarize(results, out)


def summarize(results, out):
    """Medians, ratios and targets into `results`, the table printed, the file written; the exit status."""
    fronts = results.get("fronts") or [f for f in FRONTS if any(f in r for r in results["rounds"])]
    med = medians(results["rounds"], fronts)
    for front, values in results.get("startup_ms", {}).items():
        med[front]["startup_ms"] = benchlib.median(values)
    results["medians"] = med
    results["ratios"] = {f"berth/{rival}": {key: ratio(med, "berth", rival, key) for key in med.get("berth", {})}
                         for rival in fronts if rival != "berth" and "berth" in fronts}
    results["paired_ratios"] = paired_ratios(results["rounds"], fronts)
    results["targets"] = targets(med, results["paired_ratios"])
    print_report(results, med, fronts)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {out}")
    if "berth" not in fronts:
        return 2
    return 0 if all(t[3] for t in results["targets"] if t[3] is not None) else 1


def versions(args):
    found = {}
    for name, argv in (("berth", [args.berth, "--version"]), ("nginx", [args.nginx, "-v"]),
                       ("caddy", [args.caddy, "version"]), ("wrk", ["wrk", "-v"]), ("curl", ["curl", "--version"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            found[name] = ((out.stdout or "") + (out.stderr or "")).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            found[name] = None
    try:
        found["berth_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return found


if __name__ == "__main__":
    sys.exit(main())
