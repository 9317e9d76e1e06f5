#!/usr/bin/env python3
"""Helpers for the benchmarks that drive a running `lithoflow scheduler` (bench/load,
bench/soak): start and stop the daemon in a fresh LITHOFLOW_HOME, talk to its API over a
keep-alive connection with each request timed, sample resident memory from /proc, and
summarize numbers. Standard library only; imported by the drivers, not run alone.
"""

import atexit
import http.client
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Every scheduler this process started: stopped at exit if still running, so a driver
# that fails (or gets SIGTERM) leaves no daemon behind on its LITHOFLOW_HOME.
_STARTED = []


def _cleanup():
    for p in _STARTED:
        if p.poll() is None:
            stop_scheduler(p, timeout=30)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))


def log(prefix, msg):
    print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# numbers


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100)."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[max(1, math.ceil(p / 100 * len(xs))) - 1]


def summary(xs):
    if not xs:
        return None
    return {
        "n": len(xs),
        "p50": pct(xs, 50),
        "p95": pct(xs, 95),
        "p99": pct(xs, 99),
        "max": max(xs),
        "mean": statistics.fmean(xs),
    }


def slope_per_hour(points):
    """Least-squares slope of [(t_seconds, value)], in value units per hour."""
    if len(points) < 2:
        return float("nan")
    mt = statistics.fmean(t for t, _ in points)
    mv = statistics.fmean(v for _, v in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return float("nan")
    return sum((t - mt) * (v - mv) for t, v in points) / den * 3600


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def fmt_load(la):
    return " ".join(f"{x:.2f}" for x in la)


# ---------------------------------------------------------------------------------------
# processes and memory


def _ppids():
    """{pid: ppid} of every live process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        out[int(name)] = int(rest[1])
    return out


def descendants(root):
    kids = {}
    for pid, ppid in _ppids().items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], list(kids.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_kb(pid):
    """VmRSS of a process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def anon_huge_kb(pid):
    """AnonHugePages of a process in KiB: its memory in transparent huge pages."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_s(pid):
    """utime + stime of a live process, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0.0
    rest = s[s.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


class MemSampler(threading.Thread):
    """Samples every `every` seconds: the scheduler's RSS, and the summed RSS and count
    of its Python worker processes (descendants whose name starts with `python`);
    other children (bash tasks) are counted apart; the scheduler's CPU seconds and the
    part of its RSS in transparent huge pages."""

    def __init__(self, pid, every=1.0):
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.t0 = time.monotonic()
        self.samples = []  # (t, scheduler_kb, workers_kb, n_workers, other_kb, cpu_s, thp_kb)
        self._halt = threading.Event()

    def sample(self):
        kids = descendants(self.pid)
        workers = [p for p in kids if comm(p).startswith("python")]
        others = [p for p in kids if p not in workers]
        return (
            round(time.monotonic() - self.t0, 3),
            rss_kb(self.pid),
            sum(rss_kb(p) for p in workers),
            len(workers),
            sum(rss_kb(p) for p in others),
            cpu_s(self.pid),
            anon_huge_kb(self.pid),
        )

    def run(self):
        while not self._halt.is_set():
            s = self.sample()
            if s[1]:
                self.samples.append(s)
            self._halt.wait(self.every)

    def stop(self):
        self._halt.set()
        self.join(5)

    def now(self):
        return time.monotonic() - self.t0


# ---------------------------------------------------------------------------------------
# the daemon and its API


class Api:
    """One keep-alive HTTP connection to the daemon's API; every request is timed."""

    def __init__(self, port, token, timeout=120):
        self.port = port
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"}
        self.conn = None

    def request(self, method, path, body=None):
        """(status, body bytes, seconds). Reconnects once if the connection dropped."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                t = time.perf_counter()
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                out = r.read()
                return r.status, out, time.perf_counter() - t
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path):
        status, body, _ = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def post_json(self, path, body):
        status, out, secs = self.request("POST", path, body)
        if status != 200:
            raise RuntimeError(f"POST {path}: {status} {out[:300]!r}")
        return json.loads(out), secs

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def fresh_home(home, runtime, extra_toml=""):
    """A new LITHOFLOW_HOME with mode 0700 (the scheduler refuses group/other access)
    whose lithoflow.toml sets the workers' interpreter."""
    if os.path.isdir(home):
        shutil.rmtree(home)
    os.makedirs(home, mode=0o700)
    os.chmod(home, 0o700)  # makedirs' mode is masked by the umask
    with open(os.path.join(home, "lithoflow.toml"), "w") as f:
        f.write(f"[localhost]\nruntime = {json.dumps(runtime)}\n{extra_toml}")


def _thp_disable():
    """In the child before exec: prctl(PR_SET_THP_DISABLE), which execve keeps."""
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_THP_DISABLE) failed")


def start_scheduler(binary, dags, home, log_path, expect_dags, prefix, wait=300, no_thp=False):
    """Starts `binary --dags-folder dags scheduler --api-port 0` with LITHOFLOW_HOME=home
    (already made by fresh_home or left by an earlier start), waits until the API answers
    and lists `expect_dags` DAGs. Returns (Popen, Api, {"api_up": s, "dags_listed": s}).
    no_thp: transparent huge pages disabled for the process (PR_SET_THP_DISABLE)."""
    env = dict(os.environ, LITHOFLOW_HOME=home)
    env.pop("RUST_LOG", None)
    logf = open(log_path, "a")
    t0 = time.monotonic()
    p = subprocess.Popen(
        [binary, "--dags-folder", dags, "scheduler", "--api-port", "0"],
        env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_thp_disable if no_thp else None,
    )
    logf.close()
    _STARTED.append(p)
    info_path = os.path.join(home, "scheduler.json")
    info = token = None
    while info is None:
        if p.poll() is not None:
            raise SystemExit(f"the scheduler exited ({p.returncode}) while starting; see {log_path}")
        if time.monotonic() - t0 > wait:
            raise SystemExit(f"no {info_path} after {wait} s; see {log_path}")
        try:
            with open(info_path) as f:
                info = json.load(f)
            if info.get("pid") != p.pid:
                info = None
                raise ValueError("a stale scheduler.json")
            with open(os.path.join(home, "api-token")) as f:
                token = f.read().strip()
        except (OSError, ValueError):
            info = None
            time.sleep(0.01)
    api = Api(info["port"], token)
    while True:
        try:
            if api.request("GET", "/api/v1/health")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.01)
    t_api = time.monotonic() - t0
    while True:
        n = api.get_json("/api/v1/dags?limit=1")["total_entries"]
        if n >= expect_dags:
            break
        if time.monotonic() - t0 > wait:
            raise SystemExit(f"the API lists {n} DAGs after {wait} s, expected {expect_dags}; see {log_path}")
        time.sleep(0.02)
    t_ready = time.monotonic() - t0
    log(prefix, f"scheduler pid {p.pid}, port {info['port']}: API up after {t_api:.2f} s, "
        f"{expect_dags} DAGs listed after {t_ready:.2f} s")
    return p, api, {"api_up": t_api, "dags_listed": t_ready, "port": info["port"], "token": token}


def stop_scheduler(p, timeout=60):
    """SIGTERM, then SIGKILL to its session after `timeout`. Returns (seconds, exit code)."""
    t0 = time.monotonic()
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    took = time.monotonic() - t0
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers of its session, if any
    except ProcessLookupError:
        pass
    return took, p.returncode


def all_runs(api, dag_id="~"):
    """Every run of a DAG (or of all DAGs with `~`), paging through the API."""
    out, offset = [], 0
    while True:
        d = api.get_json(f"/api/v1/dags/{dag_id}/dagRuns?limit=1000&offset={offset}")
        out += d["dag_runs"]
        offset += len(d["dag_runs"])
        if not d["dag_runs"] or offset >= d["total_entries"]:
            return out


def quote(s):
    from urllib.parse import quote as q
    return q(s, safe="")


def du_kb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks // 2
            except OSError:
                pass
    return total
