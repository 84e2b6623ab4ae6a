"""Helpers the bench scripts share (standard library only).

The scripts are run as `python3 bench/X.py` from any directory; Python puts
the script's own directory (bench/) first on sys.path, so `import benchlib`
finds this file.
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(message):
    print(message, file=sys.stderr, flush=True)


def default_sockfarm(fallbacks=()):
    """../shared/bench/sockfarm.py beside the checkout; from a git worktree
    elsewhere, beside the main checkout (the one holding the .git directory);
    then each of `fallbacks`. The first that exists, else the first candidate."""
    candidates = [os.path.join(ROOT, "..", "shared", "bench", "sockfarm.py")]
    try:
        common = subprocess.run(["git", "-C", ROOT, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if common:
            candidates.append(os.path.join(os.path.dirname(common), "..", "shared", "bench", "sockfarm.py"))
    except (OSError, subprocess.SubprocessError):
        pass
    candidates.extend(fallbacks)
    for candidate in candidates:
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return os.path.normpath(candidates[0])


def reexec_in_netns(script, argv, interrupt_timeout):
    """As root: `script` with `argv` again in a private network namespace (lo up);
    returns its exit status, or None when unshare or ip is missing. On Ctrl-C the
    child gets SIGINT and up to `interrupt_timeout` seconds to finish."""
    unshare = shutil.which("unshare")
    ip = shutil.which("ip")
    if not unshare or not ip:
        log("no unshare/ip: running in the machine's own network namespace")
        return None
    shell = f'{ip} link set lo up && exec "$@"'
    env = dict(os.environ, BERTH_BENCH_IN_NETNS="1")
    proc = subprocess.Popen([unshare, "--net", "sh", "-c", shell, "sh", sys.executable, os.path.abspath(script)] + argv,
                            env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=interrupt_timeout)


# ---------------------------------------------------------------- /proc


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory_kib(pid):
    """VmRSS and VmHWM in KiB (None when the process is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    found[key] = int(value.split()[0])
    except OSError:
        return None, None
    return found.get("VmRSS"), found.get("VmHWM")


# ---------------------------------------------------------------- waiting, ports


def wait_for(check, timeout, step=0.05):
    """Polls check() until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def free_port():
    """A loopback port that was free a moment ago (bound to port 0, read back, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- figures


def quantile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def slope(xs, ys):
    """Least-squares slope of ys against xs, over the pairs with neither None
    (None with fewer than 2 such pairs or all xs equal)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 2:
        return None
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    var = sum((x - mx) ** 2 for x, _ in pairs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pairs) / var


def fmt(value, spec=".1f", none="-"):
    return none if value is None else format(value, spec)
