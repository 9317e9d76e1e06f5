#!/usr/bin/env python3
"""Measurement helper of the scheduler-daemon benchmark (bench/scheduler/run.sh).

    sched_bench.py dags --lithoflow DIR --airflow DIR [--big DIR --big-src DIR]
        Writes the DAGs: `one_task` (one call_async / PythonOperator calling
        noop_mod.noop(i=1)) and `chain_10` (ten of them in a chain), manual-only, not
        paused; noop_mod.py beside them. With --big: copies the gen_dags.py folder
        --big-src to --big with every DAG made paused at creation (so no scheduled runs
        start while the API is timed) and adds one_task.

    sched_bench.py lithoflow --bin BIN --runtime PY --dags DIR --home DIR --label L
                   --json OUT [--pickups N] [--triggers N] [--chain-triggers N]
                   [--api-requests N] [--api-big-requests N] [--idle S]
        Starts `BIN --dags-folder DIR scheduler --api-port 0` (LITHOFLOW_HOME=DIR, recreated,
        with `[localhost] runtime = PY`), waits until the API answers and lists every DAG,
        then measures what was asked (each part skipped when its count is 0): idle CPU,
        new-DAG pickup, trigger -> success for one_task and chain_10 (through
        `lithoflow dags trigger` and through a direct POST), API latency of
        /api/v1/health, /api/v1/dags and /api/v1/dags?limit=1000. SIGTERM at the end.

    sched_bench.py airflow --airflow BIN --dags DIR --home DIR --mode default|tuned
                   --json OUT [--pickups N] [--pickup-cap S] [--triggers N]
                   [--chain-triggers N] [--trigger-cap S] [--idle S]
        The same with `airflow scheduler` (environment from the caller: AIRFLOW_HOME,
        SQLite, SequentialExecutor). `tuned` sets DAG_DIR_LIST_INTERVAL=5 and
        MIN_FILE_PROCESS_INTERVAL=0; `default` leaves Airflow's 300 s / 30 s. A new DAG
        counts as picked up when the metadata DB has it active and serialized; runs are
        followed in the DB's dag_run table.

    sched_bench.py report --dir DIR [--markdown OUT]
        Prints the tables from the JSON files the commands above wrote.

Times are seconds in the JSON files; percentiles are nearest-rank. "CPU" of a scheduler
is the CPU time of its whole process tree (reaped children included) over a window.
Every trial waits a random 0-0.5 s (lithoflow) or 0-1 s (Airflow) first, so trials do not
phase-lock with a periodic folder scan.
"""

import argparse
import datetime as dt
import http.client
import json
import math
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(msg):
    print(f"[sched_bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# numbers


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[max(1, math.ceil(p / 100 * len(xs))) - 1]


def stats(xs):
    if not xs:
        return None
    return {
        "n": len(xs),
        "median": statistics.median(xs),
        "p90": pct(xs, 90),
        "p99": pct(xs, 99),
        "min": min(xs),
        "max": max(xs),
        "mean": statistics.fmean(xs),
    }


# ---------------------------------------------------------------------------------------
# processes


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest  # rest[0] = field 3 (state)


def tree(root):
    """root and its live descendants."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(name)
        if st:
            kids.setdefault(int(st[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu(root):
    """CPU seconds of the tree: utime + stime + reaped children's, of every live member."""
    total = 0
    for p in tree(root):
        st = _stat(p)
        if st:
            total += sum(int(x) for x in st[11:15])
    return total / CLK


def tree_rss_mib(root):
    total = 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KB
        except OSError:
            pass
    return total / 1024


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK


def own_cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Window:
    """CPU over a span: the scheduler tree's, and other work on the machine (everything
    busy minus the tree, this helper and the commands it ran)."""

    def __init__(self, pid):
        self.pid = pid
        self.t = time.monotonic()
        self.tree = tree_cpu(pid)
        self.busy = machine_busy()
        self.own = own_cpu()

    def end(self):
        wall = time.monotonic() - self.t
        tree_d = tree_cpu(self.pid) - self.tree
        other = machine_busy() - self.busy - tree_d - (own_cpu() - self.own)
        return {
            "wall": wall,
            "cpu": tree_d,
            "cpu_per_s": tree_d / wall if wall else 0,
            "other_cpus": max(0.0, other / wall) if wall else 0,
        }


def stop_process(p, timeout=45):
    """SIGTERM to the process, then to its session; SIGKILL to the session after timeout.
    Returns the seconds until it exited."""
    t0 = time.monotonic()
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {p.pid} did not stop within {timeout}s of SIGTERM; killing its group")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    took = time.monotonic() - t0
    # Leftovers of the session we created (Airflow's log server, parsing processes).
    try:
        os.killpg(p.pid, signal.SIGTERM)
        time.sleep(1)
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return took


# ---------------------------------------------------------------------------------------
# DAG files

NOOP_MOD = '''"""Trivial functions for the scheduler benchmark (bench/scheduler)."""


def noop(i):
    """Return i."""
    return i
'''


def lf_dag(n, desc):
    out = [
        "# Generated by bench/scheduler/sched_bench.py; do not edit.",
        f'description = "{desc}"',
        "is_paused_upon_creation = false",
        'tags = ["bench"]',
        "",
    ]
    for i in range(n):
        out.append(f"[tasks.t{i:02d}]")
        out.append('type = "call_async"')
        out.append('func = "noop_mod:noop"')
        out.append(f"data = {{ i = {i} }}")
        if i:
            out.append(f'upstream = ["t{i - 1:02d}"]')
        out.append("")
    return "\n".join(out)


def af_dag(dag_id, n, desc):
    return f'''# Generated by bench/scheduler/sched_bench.py; do not edit.
"""{desc}"""
import pendulum
from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.python import PythonOperator

from noop_mod import noop

with DAG(
    dag_id="{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["bench"],
) as dag:
    tasks = [
        PythonOperator(task_id=f"t{{i:02d}}", python_callable=noop, op_kwargs={{"i": i}})
        for i in range({n})
    ]
    chain(*tasks)
'''


def write_atomic(path, text):
    tmp = os.path.join(os.path.dirname(path), "_tmp_" + os.path.basename(path) + ".part")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_dags(a):
    for d in (a.lithoflow, a.airflow):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    for d in (a.lithoflow, a.airflow):
        write_atomic(os.path.join(d, "noop_mod.py"), NOOP_MOD)
    write_atomic(os.path.join(a.lithoflow, "one_task.toml"), lf_dag(1, "bench: one call_async task"))
    write_atomic(os.path.join(a.lithoflow, "chain_10.toml"), lf_dag(10, "bench: chain of 10 call_async tasks"))
    write_atomic(os.path.join(a.airflow, ".airflowignore"), "noop_mod\n")
    write_atomic(os.path.join(a.airflow, "one_task.py"), af_dag("one_task", 1, "one PythonOperator"))
    write_atomic(os.path.join(a.airflow, "chain_10.py"), af_dag("chain_10", 10, "chain of 10 PythonOperators"))
    if a.big:
        if os.path.isdir(a.big):
            shutil.rmtree(a.big)
        os.makedirs(a.big)
        n = 0
        for name in sorted(os.listdir(a.big_src)):
            src = os.path.join(a.big_src, name)
            with open(src) as f:
                text = f.read()
            if name.endswith(".toml"):
                text = text.replace("is_paused_upon_creation = false", "is_paused_upon_creation = true")
                n += 1
            with open(os.path.join(a.big, name), "w") as f:
                f.write(text)
        write_atomic(os.path.join(a.big, "noop_mod.py"), NOOP_MOD)
        write_atomic(os.path.join(a.big, "one_task.toml"), lf_dag(1, "bench: one call_async task"))
        log(f"{a.big}: {n} generated DAGs (all paused at creation) + one_task")


# ---------------------------------------------------------------------------------------
# lithoflow


class Api:
    """One keep-alive connection to the daemon's API."""

    def __init__(self, port, token):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.conn = None

    def request(self, method, path, body=None, fresh=False):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if fresh or self.conn is None:
                if self.conn is not None:
                    self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                out = r.read()
                if fresh:
                    self.conn.close()
                    self.conn = None
                return r.status, out
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError

    def get_json(self, path):
        status, body = self.request("GET", path)
        return status, (json.loads(body) if body else None)


def lf_start(a):
    if os.path.isdir(a.home):
        shutil.rmtree(a.home)
    os.makedirs(a.home, mode=0o700)
    with open(os.path.join(a.home, "lithoflow.toml"), "w") as f:
        f.write(f'[localhost]\nruntime = "{a.runtime}"\n')
    env = dict(os.environ, LITHOFLOW_HOME=a.home)
    logf = open(a.log, "w")
    t0 = time.monotonic()
    p = subprocess.Popen(
        [a.bin, "--dags-folder", a.dags, "scheduler", "--api-port", "0"],
        env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )
    info_path = os.path.join(a.home, "scheduler.json")
    info = None
    while info is None:
        if p.poll() is not None:
            raise SystemExit(f"the scheduler exited ({p.returncode}) while starting; see {a.log}")
        if time.monotonic() - t0 > 120:
            raise SystemExit(f"no {info_path} after 120 s; see {a.log}")
        try:
            with open(info_path) as f:
                info = json.load(f)
            with open(os.path.join(a.home, "api-token")) as f:
                token = f.read().strip()
        except (OSError, ValueError):
            info = None
            time.sleep(0.005)
    api = Api(info["port"], token)
    while True:
        try:
            if api.request("GET", "/api/v1/health")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.005)
    t_health = time.monotonic() - t0
    expected = len([n for n in os.listdir(a.dags) if n.endswith(".toml")])
    while True:
        _, d = api.get_json("/api/v1/dags?limit=1")
        if d["total_entries"] >= expected:
            break
        if time.monotonic() - t0 > 300:
            raise SystemExit(f"the API lists {d['total_entries']} DAGs, expected {expected}")
        time.sleep(0.005)
    t_ready = time.monotonic() - t0
    log(f"lithoflow scheduler pid {p.pid}, port {info['port']}: API up after {t_health:.3f} s, "
        f"{expected} DAGs listed after {t_ready:.3f} s")
    return p, api, env, {"api_up": t_health, "dags_listed": t_ready, "dags": expected}


def lf_pickup(a, api, n, label):
    out = []
    for k in range(n + 1):  # the first one is a warm-up
        dag_id = f"pickup_{label}_{k:03d}"
        text = lf_dag(1, f"bench: pickup {k}")
        path = os.path.join(a.dags, dag_id + ".toml")
        tmp = os.path.join(a.dags, "_tmp_" + dag_id + ".part")
        with open(tmp, "w") as f:
            f.write(text)
        time.sleep(random.uniform(0, 0.5))
        t0 = time.perf_counter()
        os.replace(tmp, path)
        while True:
            status, d = api.get_json(f"/api/v1/dags?dag_id_pattern={dag_id}")
            if status == 200 and any(x["dag_id"] == dag_id for x in d["dags"]):
                break
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"{dag_id} not listed after 60 s")
            time.sleep(0.005)
        took = time.perf_counter() - t0
        if k:
            out.append(took)
    return out


def parse_ts(s):
    if not s:
        return None
    s = s.replace("Z", "+00:00")
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t


def lf_trigger(a, api, env, dag_id, n, label, via):
    """Trigger -> success seen, n times after one warm-up."""
    rows = []
    for k in range(n + 1):
        run_id = f"bench_{label}_{via}_{k:03d}"
        time.sleep(random.uniform(0, 0.5))
        t0 = time.perf_counter()
        if via == "cli":
            r = subprocess.run(
                [a.bin, "--dags-folder", a.dags, "dags", "trigger", dag_id, "-r", run_id],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            if r.returncode != 0:
                raise SystemExit(f"lithoflow dags trigger {dag_id} failed: {r.stderr.strip()}")
        else:
            status, body = api.request("POST", f"/api/v1/dags/{dag_id}/dagRuns", {"dag_run_id": run_id})
            if status != 200:
                raise SystemExit(f"POST dagRuns {dag_id}: {status} {body[:300]!r}")
        t1 = time.perf_counter()
        polls = 0
        while True:
            status, d = api.get_json(f"/api/v1/dags/{dag_id}/dagRuns/{run_id}")
            polls += 1
            if status == 200 and d["state"] in ("success", "failed"):
                break
            if status not in (200, 404):
                raise SystemExit(f"GET run {run_id}: {status} {d}")
            if time.perf_counter() - t1 > 120:
                raise SystemExit(f"{dag_id} run {run_id} not finished after 120 s: {d}")
            time.sleep(0.001)
        t2 = time.perf_counter()
        if d["state"] != "success":
            raise SystemExit(f"{dag_id} run {run_id} ended {d['state']}")
        ra, sd, ed = parse_ts(d["run_after"]), parse_ts(d["start_date"]), parse_ts(d["end_date"])
        row = {
            "total": t2 - t0,
            "trigger": t1 - t0,
            "after_trigger": t2 - t1,
            "queued": (sd - ra).total_seconds() if sd and ra else None,
            "run": (ed - sd).total_seconds() if ed and sd else None,
            "polls": polls,
        }
        if k:
            rows.append(row)
    return rows


def summarize_rows(rows):
    keys = rows[0].keys() if rows else []
    return {k: stats([r[k] for r in rows if r[k] is not None]) for k in keys if k != "polls"}


def lf_api(api, reqs):
    """p50/p99 of a few GETs, keep-alive and new connection each."""
    out = {}
    paths = [
        ("health", "/api/v1/health", reqs),
        ("dags", "/api/v1/dags", reqs),
        ("dags_limit_1000", "/api/v1/dags?limit=1000", max(20, reqs // 3)),
    ]
    for name, path, n in paths:
        for fresh in (False, True):
            times = []
            size = 0
            for i in range(n + 10):  # 10 warm-ups
                t0 = time.perf_counter()
                status, body = api.request("GET", path, fresh=fresh)
                took = time.perf_counter() - t0
                if status != 200:
                    raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
                if i >= 10:
                    times.append(took)
                size = len(body)
            key = f"{name}{'_newconn' if fresh else ''}"
            out[key] = dict(stats(times), bytes=size, path=path, new_connection=fresh)
            log(f"GET {path} ({'new connection each' if fresh else 'keep-alive'}): "
                f"p50 {out[key]['median'] * 1e3:.2f} ms, p99 {out[key]['p99'] * 1e3:.2f} ms, {size} bytes")
    return out


def cmd_lithoflow(a):
    random.seed(a.seed)
    res = {"tool": "lithoflow", "label": a.label, "dags_folder": a.dags,
           "version": subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip()}
    p, api, env, startup = lf_start(a)
    res["startup"] = startup
    try:
        time.sleep(1)
        if a.idle > 0:
            w = Window(p.pid)
            time.sleep(a.idle)
            res["idle"] = w.end()
            log(f"idle {a.idle:.0f} s: {res['idle']['cpu_per_s'] * 100:.1f}% of a CPU")
        res["rss_mib_idle"] = tree_rss_mib(p.pid)
        if a.pickups:
            w = Window(p.pid)
            xs = lf_pickup(a, api, a.pickups, a.label)
            res["pickup"] = dict(stats(xs), samples=xs, window=w.end())
            log(f"pickup: median {res['pickup']['median'] * 1e3:.0f} ms over {len(xs)} "
                f"(min {min(xs) * 1e3:.0f}, max {max(xs) * 1e3:.0f})")
        trig = {}
        for dag_id, n in (("one_task", a.triggers), ("chain_10", a.chain_triggers)):
            if not n:
                continue
            for via in ("cli", "api"):
                w = Window(p.pid)
                rows = lf_trigger(a, api, env, dag_id, n, a.label, via)
                trig[f"{dag_id}/{via}"] = {"summary": summarize_rows(rows), "rows": rows, "window": w.end()}
                s = trig[f"{dag_id}/{via}"]["summary"]
                log(f"{dag_id} via {via}: trigger -> success median {s['total']['median'] * 1e3:.0f} ms "
                    f"(trigger {s['trigger']['median'] * 1e3:.1f} ms, run {s['run']['median'] * 1e3:.0f} ms)")
        res["trigger"] = trig
        if a.api_requests:
            w = Window(p.pid)
            res["api"] = lf_api(api, a.api_requests)
            res["api_window"] = w.end()
        res["rss_mib_end"] = tree_rss_mib(p.pid)
    finally:
        res["stop"] = stop_process(p)
    with open(a.log) as f:
        lines = f.read().splitlines()
    res["log_lines"] = len(lines)
    res["log_warnings"] = [l for l in lines if any(w in l.lower() for w in ("warn", "error", "panic"))][:20]
    res["exit_code"] = p.returncode
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


# ---------------------------------------------------------------------------------------
# Airflow


class AfDb:
    def __init__(self, path):
        self.path = path

    def query(self, sql, args=()):
        for _ in range(50):
            try:
                c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
                try:
                    return c.execute(sql, args).fetchall()
                finally:
                    c.close()
            except sqlite3.OperationalError as e:
                last = e
                time.sleep(0.05)
        raise last

    def dag_ready(self, dag_id, since=None):
        rows = self.query(
            "SELECT d.last_parsed_time FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = ? AND d.is_active = 1", (dag_id,))
        if not rows:
            return False
        if since is None:
            return True
        t = parse_ts(rows[0][0])
        return t is not None and t >= since

    def run(self, dag_id, run_id):
        rows = self.query(
            "SELECT state, queued_at, start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id))
        return rows[0] if rows else None


def af_env(mode, airflow):
    env = dict(os.environ)
    # The SequentialExecutor runs `airflow tasks run ...` found on PATH.
    env["PATH"] = os.path.dirname(os.path.abspath(airflow)) + os.pathsep + env.get("PATH", "")
    if mode == "tuned":
        env["AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL"] = "5"
        env["AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"] = "0"
    else:
        env.pop("AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL", None)
        env.pop("AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL", None)
    return env


def af_alive(p, log_path):
    if p.poll() is not None:
        raise SystemExit(f"airflow scheduler exited ({p.returncode}); see {log_path}")


def af_pickup(a, p, db, n, cap):
    out = []
    for k in range(n):
        dag_id = f"pickup_{a.mode}_{k:03d}"
        path = os.path.join(a.dags, dag_id + ".py")
        tmp = os.path.join(a.dags, "_tmp_" + dag_id + ".part")
        with open(tmp, "w") as f:
            f.write(af_dag(dag_id, 1, f"pickup {k}"))
        time.sleep(random.uniform(0, 1))
        t0 = time.perf_counter()
        os.replace(tmp, path)
        took = None
        while time.perf_counter() - t0 < cap:
            af_alive(p, a.log)
            if db.dag_ready(dag_id):
                took = time.perf_counter() - t0
                break
            time.sleep(0.05)
        log(f"airflow ({a.mode}) pickup {k}: " + (f"{took:.2f} s" if took is not None else f"> {cap:.0f} s (timeout)"))
        out.append(took)
    return out


def af_trigger(a, p, db, env, dag_id, n, warmup, cap):
    rows = []
    for k in range(n + warmup):
        run_id = f"bench_{a.mode}_{k:03d}"
        time.sleep(random.uniform(0, 1))
        t0 = time.perf_counter()
        r = subprocess.run([a.airflow, "dags", "trigger", dag_id, "-r", run_id], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"airflow dags trigger {dag_id} failed: {r.stderr.strip()[-500:]}")
        t1 = time.perf_counter()
        row = None
        while time.perf_counter() - t0 < cap:
            af_alive(p, a.log)
            row = db.run(dag_id, run_id)
            if row and row[0] in ("success", "failed"):
                break
            time.sleep(0.05)
        t2 = time.perf_counter()
        if not row or row[0] not in ("success", "failed"):
            log(f"airflow {dag_id} {run_id}: not finished after {cap:.0f} s ({row})")
            rows.append({"total": None, "trigger": t1 - t0, "after_trigger": None, "queued": None,
                         "run": None, "timeout": cap})
            continue
        if row[0] != "success":
            raise SystemExit(f"airflow {dag_id} run {run_id} ended {row[0]}")
        qa, sd, ed = parse_ts(row[1]), parse_ts(row[2]), parse_ts(row[3])
        d = {
            "total": t2 - t0,
            "trigger": t1 - t0,
            "after_trigger": t2 - t1,
            "queued": (sd - qa).total_seconds() if sd and qa else None,
            "run": (ed - sd).total_seconds() if ed and sd else None,
        }
        log(f"airflow {dag_id} {run_id}{' (warm-up)' if k < warmup else ''}: {d['total']:.2f} s "
            f"(trigger command {d['trigger']:.2f} s)")
        if k >= warmup:
            rows.append(d)
    return rows


def cmd_airflow(a):
    random.seed(a.seed)
    env = af_env(a.mode, a.airflow)
    db = AfDb(os.path.join(env["AIRFLOW_HOME"], "airflow.db"))
    res = {"tool": "airflow", "mode": a.mode,
           "settings": {k: env.get(k) for k in env if k.startswith("AIRFLOW__")}}
    res["version"] = subprocess.run([a.airflow, "version"], env=env, capture_output=True,
                                    text=True).stdout.strip().splitlines()[-1]
    expected = sorted(n[:-3] for n in os.listdir(a.dags) if n.endswith(".py") and n != "noop_mod.py"
                      and not n.startswith("pickup_"))
    since = dt.datetime.now(dt.timezone.utc)
    logf = open(a.log, "w")
    t0 = time.monotonic()
    p = subprocess.Popen([a.airflow, "scheduler"], env=env, stdout=logf, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        while not all(db.dag_ready(d, since) for d in expected):
            if p.poll() is not None:
                raise SystemExit(f"airflow scheduler exited ({p.returncode}); see {a.log}")
            if time.monotonic() - t0 > 400:
                raise SystemExit(f"airflow scheduler: {expected} not parsed after 400 s; see {a.log}")
            time.sleep(0.1)
        res["startup"] = {"dags_parsed": time.monotonic() - t0, "dags": len(expected)}
        log(f"airflow scheduler ({a.mode}) pid {p.pid}: {expected} parsed after {res['startup']['dags_parsed']:.1f} s")
        time.sleep(2)
        if a.idle > 0:
            w = Window(p.pid)
            time.sleep(a.idle)
            res["idle"] = w.end()
            log(f"idle {a.idle:.0f} s: {res['idle']['cpu_per_s'] * 100:.1f}% of a CPU")
        res["rss_mib_idle"] = tree_rss_mib(p.pid)
        if a.pickups:
            w = Window(p.pid)
            xs = af_pickup(a, p, db, a.pickups, a.pickup_cap)
            res["pickup"] = {"samples": xs, "cap": a.pickup_cap, "window": w.end(),
                             "timeouts": sum(x is None for x in xs)}
            done = [x for x in xs if x is not None]
            if done and not res["pickup"]["timeouts"]:
                res["pickup"].update(stats(done))
            elif done:
                # Median with the timeouts counted as "above the cap".
                res["pickup"]["median"] = statistics.median([x if x is not None else math.inf for x in xs])
        trig = {}
        for dag_id, n, warm in (("one_task", a.triggers, 1), ("chain_10", a.chain_triggers, 0)):
            if not n:
                continue
            w = Window(p.pid)
            rows = af_trigger(a, p, db, env, dag_id, n, warm, a.trigger_cap)
            ok = [r for r in rows if r["total"] is not None]
            trig[f"{dag_id}/cli"] = {"summary": summarize_rows(ok), "rows": rows, "window": w.end(),
                                     "timeouts": len(rows) - len(ok)}
        res["trigger"] = trig
        res["rss_mib_end"] = tree_rss_mib(p.pid)
    finally:
        res["stop"] = stop_process(p, timeout=60)
    res["exit_code"] = p.returncode
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


# ---------------------------------------------------------------------------------------
# report


def sec(x):
    if x is None:
        return "–"
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def ratio(a, b):
    if a is None or b is None or not b or a == math.inf:
        return "–"
    r = a / b
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def cmd_report(a):
    small = load(a.dir, "lithoflow-small.json")
    big = load(a.dir, "lithoflow-1000.json")
    aft = load(a.dir, "airflow-tuned.json")
    afd = load(a.dir, "airflow-default.json")
    meta = load(a.dir, "meta.json") or {}
    L = []

    def table(head, rows):
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            L.append("| " + " | ".join(r) + " |")
        L.append("")

    def pick(d, *path):
        for k in path:
            if d is None:
                return None
            d = d.get(k) if isinstance(d, dict) else None
        return d

    # 1. pickup
    rows = []
    base = pick(small, "pickup", "median")
    if small and small.get("pickup"):
        s = small["pickup"]
        rows.append([f"lithoflow, {small['startup']['dags']:,} DAGs in the folder",
                     f"**{sec(s['median'])}**", f"{sec(s['min'])} / {sec(s['max'])}", str(s["n"]), "1x"])
    if big and big.get("pickup"):
        s = big["pickup"]
        rows.append([f"lithoflow, {big['startup']['dags']:,} DAGs in the folder",
                     f"**{sec(s['median'])}**", f"{sec(s['min'])} / {sec(s['max'])}", str(s["n"]),
                     ratio(s["median"], base)])
    for af, what in ((aft, "tuned: DAG_DIR_LIST_INTERVAL=5, MIN_FILE_PROCESS_INTERVAL=0"),
                     (afd, "defaults: 300 s / 30 s")):
        if af and af.get("pickup"):
            s = af["pickup"]
            done = [x for x in s["samples"] if x is not None]
            n = len(s["samples"])
            if s["timeouts"] == n:
                med, rng = f"**> {s['cap']:.0f} s**", f"all {n} timed out"
                r = f"> {ratio(s['cap'], base)}"
            else:
                med = f"**{sec(s['median'])}**" if s.get("median", math.inf) != math.inf else f"**> {s['cap']:.0f} s**"
                rng = f"{sec(min(done))} / " + (f"> {s['cap']:.0f} s" if s["timeouts"] else sec(max(done)))
                r = ratio(s.get("median"), base)
            rows.append([f"Airflow {af['version']}, {what}", med, rng, str(n), r])
    if rows:
        L.append("New-DAG pickup (file renamed into the folder -> listed by the API / active and "
                 "serialized in Airflow's DB):")
        L.append("")
        table(["", "median", "min / max", "n", "vs lithoflow"], rows)

    # 2. trigger -> success
    rows = []
    for dag_id, what in (("one_task", "one task"), ("chain_10", "chain of 10")):
        lf_cli = pick(small, "trigger", f"{dag_id}/cli", "summary")
        lf_api = pick(small, "trigger", f"{dag_id}/api", "summary")
        af = pick(aft, "trigger", f"{dag_id}/cli") or pick(afd, "trigger", f"{dag_id}/cli")
        af_s = af["summary"] if af else None
        for label, s in (("lithoflow, `dags trigger` (CLI -> API)", lf_cli),
                         ("lithoflow, POST dagRuns", lf_api)):
            if s:
                rows.append([what, label, f"**{sec(s['total']['median'])}**", sec(s["trigger"]["median"]),
                             sec(s["queued"]["median"]), sec(s["run"]["median"]),
                             f"{sec(s['total']['min'])} / {sec(s['total']['max'])}", str(s["total"]["n"]), ""])
        if af_s and af_s.get("total"):
            s = af_s
            to = f" (+{af['timeouts']} timed out)" if af.get("timeouts") else ""
            rows.append([what, "Airflow, `airflow dags trigger` (default parsing settings)", f"**{sec(s['total']['median'])}**",
                         sec(s["trigger"]["median"]), sec(pick(s, "queued", "median")),
                         sec(pick(s, "run", "median")),
                         f"{sec(s['total']['min'])} / {sec(s['total']['max'])}", str(s["total"]["n"]) + to,
                         ratio(s["total"]["median"], pick(lf_cli, "total", "median"))])
    big_one = pick(big, "trigger", "one_task/cli", "summary")
    big_api = pick(big, "trigger", "one_task/api", "summary")
    nbig = f"{big['startup']['dags']:,}" if big else ""
    for label, s in ((f"lithoflow, `dags trigger`, {nbig} DAGs in the folder", big_one),
                     (f"lithoflow, POST dagRuns, {nbig} DAGs in the folder", big_api)):
        if s:
            rows.append(["one task", label, f"**{sec(s['total']['median'])}**", sec(s["trigger"]["median"]),
                         sec(s["queued"]["median"]), sec(s["run"]["median"]),
                         f"{sec(s['total']['min'])} / {sec(s['total']['max'])}", str(s["total"]["n"]), ""])
    if rows:
        L.append("Trigger -> success (client-side: trigger command start -> success seen by polling; "
                 "trigger = the command/request alone; queued = run start_date - run_after (lithoflow) "
                 "or queued_at (Airflow); "
                 "run = end_date - start_date, both as the scheduler recorded them):")
        L.append("")
        table(["DAG", "how", "median", "trigger", "queued", "run", "min / max", "n", "Airflow / lithoflow CLI"], rows)

    # 3. API
    api = pick(big, "api")
    if api:
        L.append(f"API latency, client-side (Python http.client), {big['startup']['dags']:,} DAGs loaded:")
        L.append("")
        rows = []
        for key, s in api.items():
            rows.append([f"GET {s['path']}", "new connection" if s["new_connection"] else "keep-alive",
                         f"{s['median'] * 1e3:.2f} ms", f"**{s['p99'] * 1e3:.2f} ms**",
                         f"{s['max'] * 1e3:.1f} ms", str(s["n"]), f"{s['bytes'] / 1024:.0f} KiB"])
        table(["request", "connection", "p50", "p99", "max", "n", "response"], rows)

    # 4. the daemons themselves
    rows = []
    for d, what in ((small, "lithoflow, small folder"), (big, "lithoflow, large folder")):
        if d:
            rows.append([what, f"{sec(d['startup']['dags_listed'])} (API up {sec(d['startup']['api_up'])})",
                         f"{pick(d, 'idle', 'cpu_per_s') * 100:.1f}%" if d.get("idle") else "–",
                         f"{d['rss_mib_idle']:.0f} MiB", f"{d['rss_mib_end']:.0f} MiB",
                         sec(d["stop"])])
    for d, what in ((afd, "Airflow, defaults"), (aft, "Airflow, tuned")):
        if d:
            rows.append([what, f"{sec(d['startup']['dags_parsed'])} (DAGs parsed)",
                         f"{pick(d, 'idle', 'cpu_per_s') * 100:.1f}%" if d.get("idle") else "–",
                         f"{d['rss_mib_idle']:.0f} MiB", f"{d.get('rss_mib_end', 0):.0f} MiB", sec(d["stop"])])
    if rows:
        L.append("The daemons (process tree: lithoflow with its 2 Python workers; Airflow with its "
                 "DAG processor, log server and parsing processes):")
        L.append("")
        table(["", "start -> DAGs served", "idle CPU", "RSS idle", "RSS at end", "SIGTERM -> exit"], rows)

    # noise
    noise = []
    for d in (small, big, afd, aft):
        if not d:
            continue
        ws = [d.get("idle"), pick(d, "pickup", "window"), d.get("api_window")]
        ws += [t.get("window") for t in (d.get("trigger") or {}).values()]
        for w in ws:
            if w:
                noise.append(w["other_cpus"])
    if noise:
        L.append(f"Other work on the machine during the timed parts: median {statistics.median(noise):.2f} CPUs, "
                 f"max {max(noise):.2f} CPUs (of {os.cpu_count()}).")
    for d in (small, big):
        if d and d.get("log_warnings"):
            L.append(f"lithoflow log ({d['label']}): {len(d['log_warnings'])} warning/error lines, e.g. "
                     f"`{d['log_warnings'][0][:200]}`")
    if meta:
        L.append("")
        L.append(", ".join(f"{k}: {v}" for k, v in meta.items()))
    text = "\n".join(L)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("dags")
    d.add_argument("--lithoflow", required=True)
    d.add_argument("--airflow", required=True)
    d.add_argument("--big")
    d.add_argument("--big-src")

    lf = sub.add_parser("lithoflow")
    lf.add_argument("--bin", required=True)
    lf.add_argument("--runtime", required=True)
    lf.add_argument("--dags", required=True)
    lf.add_argument("--home", required=True)
    lf.add_argument("--label", required=True)
    lf.add_argument("--json", required=True)
    lf.add_argument("--log", required=True)
    lf.add_argument("--pickups", type=int, default=0)
    lf.add_argument("--triggers", type=int, default=0)
    lf.add_argument("--chain-triggers", type=int, default=0)
    lf.add_argument("--api-requests", type=int, default=0)
    lf.add_argument("--idle", type=float, default=0)
    lf.add_argument("--seed", type=int, default=1)

    af = sub.add_parser("airflow")
    af.add_argument("--airflow", required=True)
    af.add_argument("--dags", required=True)
    af.add_argument("--mode", choices=["default", "tuned"], required=True)
    af.add_argument("--json", required=True)
    af.add_argument("--log", required=True)
    af.add_argument("--pickups", type=int, default=0)
    af.add_argument("--pickup-cap", type=float, default=120)
    af.add_argument("--triggers", type=int, default=0)
    af.add_argument("--chain-triggers", type=int, default=0)
    af.add_argument("--trigger-cap", type=float, default=300)
    af.add_argument("--idle", type=float, default=0)
    af.add_argument("--seed", type=int, default=2)

    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--markdown")

    a = ap.parse_args()
    {"dags": cmd_dags, "lithoflow": cmd_lithoflow, "airflow": cmd_airflow, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
