#!/usr/bin/env python3
"""Measurement helper of the run benchmark (bench/runs/run.sh).

    runs.py lithoflow --bin BIN --dags DIR --dag DAG_ID --kind chain|fanout|stamp
                      --runs N [--warmup W] [--runtime PYTHON] --homes DIR --json OUT
        Runs `BIN --dags-folder DIR dags test DAG_ID -o json` W times untimed, then N times
        timed, each with a fresh LITHOFLOW_HOME whose lithoflow.toml sets
        `[localhost] runtime = PYTHON`. After each run it reads
        `tasks states-for-dag-run DAG_ID RUN_ID -o json` and computes the hops:
          chain   start_date(t[k+1]) - end_date(t[k]) for every edge of the chain;
          fanout  start_date(child) - end_date(root) for every child, and
                  start_date(join) - max(end_date(children));
          stamp   a chain whose calls return [i, time.time()] taken inside Python: besides
                  the recorded hops, the gap between consecutive calls as Python saw them.
        Also: wall time of the process, its CPU time (with its Python workers), start-up
        (process launch to the first task's start) and tear-down (last task's end to exit).

    runs.py airflow --airflow BIN --dag DAG_ID --date DATE --runs N --db SQLITE --json OUT
        Times `BIN dags test DAG_ID DATE` N times (environment from the caller), then reads
        the task instances of the run from Airflow's SQLite database for the same hops.

    runs.py report --dir DIR [--markdown OUT]
        Prints the table from the JSON files written by the commands above.

Percentiles are nearest-rank. Times in the JSON files are seconds.
"""

import argparse
import datetime as dt
import json
import math
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time


# ---------------------------------------------------------------------------------------
# small helpers


def pct(xs, p):
    """Nearest-rank percentile."""
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
        "p99": pct(xs, 99),
        "min": min(xs),
        "max": max(xs),
        "mean": statistics.fmean(xs),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_busy():
    """(busy jiffies, total jiffies) of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy, busy + v[3] + v[4]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def parse_ts(text):
    """RFC 3339 (lithoflow) or SQLite's 'YYYY-MM-DD HH:MM:SS.ffffff[+00:00]' (Airflow)."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    t = text.strip().replace(" ", "T", 1)
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    d = dt.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()


def chain_hops(tis):
    """tis: {task_id: (start, end)}; the chain is the task ids in sorted order."""
    ids = sorted(tis)
    return [tis[b][0] - tis[a][1] for a, b in zip(ids, ids[1:])]


# ---------------------------------------------------------------------------------------
# lithoflow


def lithoflow_once(a, home, timed):
    # A new folder per run, and nothing deleted between runs: on this machine's ext4
    # (no journal), inodes freed in the last minute are skipped one by one when new ones
    # are allocated (recently_deleted()), so deleting a previous run's ~7,000 files right
    # before a run makes every file it creates slower. run.sh deletes the homes at the end.
    if os.path.exists(home):
        raise SystemExit(f"{home} exists; runs.py never reuses a LITHOFLOW_HOME")
    os.makedirs(home)
    with open(os.path.join(home, "lithoflow.toml"), "w") as f:
        f.write("# bench/runs: the real interpreter, not a pyenv shim\n")
        f.write(f"[localhost]\nruntime = {json.dumps(a.runtime)}\n")
    env = dict(os.environ, LITHOFLOW_HOME=home)
    env.pop("RUST_LOG", None)
    cmd = [a.bin, "--dags-folder", a.dags, "dags", "test", a.dag, "-o", "json"]
    snap0, load0, cpu0 = cpu_busy(), loadavg(), children_cpu()
    launched = time.time()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    exited = time.time()
    cpu = children_cpu() - cpu0
    snap1, load1 = cpu_busy(), loadavg()
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"`{' '.join(cmd)}` exited with {p.returncode}")
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    if doc["state"] != "success":
        raise SystemExit(f"{a.dag}: run {doc['run_id']} ended {doc['state']}: {doc.get('note')}")
    if not timed:
        return None
    run_id = doc["run_id"]
    q = subprocess.run(
        [a.bin, "--dags-folder", a.dags, "tasks", "states-for-dag-run", a.dag, run_id, "-o", "json"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True,
    )
    rows = json.loads(q.stdout)
    tis = {r["task_id"]: (parse_ts(r["start_date"]), parse_ts(r["end_date"])) for r in rows}
    bad = [r["task_id"] for r in rows if r["state"] != "success"]
    if bad:
        raise SystemExit(f"{a.dag}: tasks not successful: {bad[:5]}")
    ncpu = os.cpu_count() or 1
    busy = (snap1[0] - snap0[0]) / max(1, snap1[1] - snap0[1]) * ncpu
    first_start = min(s for s, _ in tis.values())
    last_end = max(e for _, e in tis.values())
    out = {
        "run_id": run_id,
        "tasks": len(tis),
        "wall_s": wall,
        "cpu_s": cpu,
        "startup_s": first_start - launched,
        "span_s": last_end - first_start,
        "teardown_s": exited - last_end,
        "loadavg_before": load0,
        "loadavg_after": load1,
        "other_cpus": max(0.0, busy - cpu / wall),
    }
    if a.kind in ("chain", "stamp"):
        hops = chain_hops(tis)
        out["hops"] = stats(hops)
        out["hops_raw"] = [round(h, 6) for h in hops]
        ids = sorted(tis)
        out["cycle"] = stats([tis[y][1] - tis[x][1] for x, y in zip(ids, ids[1:])])
        if a.kind == "stamp":
            by_id = {t["task_id"]: t["return_value"] for t in doc["tasks"]}
            ids = sorted(by_id)
            stamps = [by_id[i][1] for i in ids]
            gaps = [b - a_ for a_, b in zip(stamps, stamps[1:])]
            out["call_gaps"] = stats(gaps)
            out["call_gaps_raw"] = [round(g, 6) for g in gaps]
            # Where the gap goes: Python call -> task end recorded, and task start
            # recorded -> Python call.
            out["call_to_end"] = stats([tis[i][1] - by_id[i][1] for i in ids])
            out["start_to_call"] = stats([by_id[i][1] - tis[i][0] for i in ids])
    else:
        root_end = tis["root"][1]
        kids = [k for k in tis if k not in ("root", "join")]
        out["children"] = len(kids)
        out["root_to_child_start"] = stats([tis[k][0] - root_end for k in kids])
        out["root_to_child_end"] = stats([tis[k][1] - root_end for k in kids])
        last_kid_end = max(tis[k][1] for k in kids)
        out["children_span_s"] = last_kid_end - root_end
        if "join" in tis:
            out["join_hop_s"] = tis["join"][0] - last_kid_end
    return out


def cmd_lithoflow(a):
    os.makedirs(a.homes, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    label = a.label or a.dag

    def home(kind, i):
        return os.path.join(a.homes, f"{label}-{stamp}-{kind}{i}")

    for i in range(a.warmup):
        lithoflow_once(a, home("warmup", i), timed=False)
    runs = []
    for i in range(a.runs):
        r = lithoflow_once(a, home("run", i), timed=True)
        runs.append(r)
        line = f"  {label} run {i + 1}/{a.runs}: wall {r['wall_s']:.3f} s"
        if "hops" in r:
            line += f", hop median {r['hops']['median'] * 1e3:.2f} ms p99 {r['hops']['p99'] * 1e3:.2f} ms"
        if "call_gaps" in r:
            line += f", call-to-call median {r['call_gaps']['median'] * 1e3:.2f} ms p99 {r['call_gaps']['p99'] * 1e3:.2f} ms"
        if "root_to_child_start" in r:
            s = r["root_to_child_start"]
            line += f", root->child start median {s['median'] * 1e3:.2f} ms p99 {s['p99'] * 1e3:.2f} ms"
        line += f" (other work ~{r['other_cpus']:.2f} CPUs)"
        print(line, flush=True)
    doc = {"tool": "lithoflow", "dag": a.dag, "label": label, "kind": a.kind, "runtime": a.runtime,
           "homes": os.path.abspath(a.homes), "warmup": a.warmup, "runs": runs}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)


# ---------------------------------------------------------------------------------------
# Airflow


def airflow_log_times(path):
    """{task_id: time} of the "[DAG TEST] starting" and "[DAG TEST] end task" log lines."""
    import re
    pat = re.compile(r"^\[(\d{4}-\d\d-\d\dT[\d:.]+)([+-]\d{4})\].*\[DAG TEST\] (starting|end task) task_id=(\S+)")
    start, end = {}, {}
    with open(path, errors="replace") as f:
        for line in f:
            m = pat.match(line)
            if not m:
                continue
            ts, off, what, task = m.groups()
            t = parse_ts(ts + off[:3] + ":" + off[3:])
            (start if what == "starting" else end).setdefault(task, t)
    return start, end


def cmd_airflow(a):
    runs = []
    for i in range(a.runs):
        snap0, load0, cpu0 = cpu_busy(), loadavg(), children_cpu()
        launched = time.time()
        t0 = time.perf_counter()
        with open(a.log, "w") as log:
            p = subprocess.run([a.airflow, "dags", "test", a.dag, a.date],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t0
        exited = time.time()
        cpu = children_cpu() - cpu0
        snap1, load1 = cpu_busy(), loadavg()
        if p.returncode != 0:
            with open(a.log) as f:
                sys.stderr.write(f.read()[-3000:])
            raise SystemExit(f"airflow dags test exited with {p.returncode} (log: {a.log})")
        con = sqlite3.connect(a.db)
        run_id, state = con.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (a.dag,)
        ).fetchone()
        rows = con.execute(
            "SELECT task_id, state, start_date, end_date FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (a.dag, run_id),
        ).fetchall()
        con.close()
        if state != "success" or any(r[1] != "success" for r in rows):
            raise SystemExit(f"airflow run {run_id} ended {state} (log: {a.log})")
        # `dags test` in 2.10 records no start_date (it runs _run_raw_task in process), so
        # the hops come from its log lines "[DAG TEST] end task task_id=X" and
        # "[DAG TEST] starting task_id=Y" (millisecond timestamps); the per-task cycle
        # from the recorded end_dates (microseconds).
        ends = {r[0]: parse_ts(r[3]) for r in rows}
        log_start, log_end = airflow_log_times(a.log)
        ids = sorted(ends)
        hops = [log_start[b] - log_end[x] for x, b in zip(ids, ids[1:]) if b in log_start and x in log_end]
        cycle = [ends[b] - ends[x] for x, b in zip(ids, ids[1:])]
        execs = [log_end[t] - log_start[t] for t in ids if t in log_start and t in log_end]
        first_start = min(log_start.values()) if log_start else None
        last_end = max(ends.values())
        ncpu = os.cpu_count() or 1
        busy = (snap1[0] - snap0[0]) / max(1, snap1[1] - snap0[1]) * ncpu
        r = {
            "run_id": run_id,
            "tasks": len(rows),
            "wall_s": wall,
            "cpu_s": cpu,
            "per_task_s": wall / len(rows),
            "startup_s": (first_start - launched) if first_start else None,
            "span_s": (last_end - first_start) if first_start else None,
            "teardown_s": exited - last_end,
            "task_exec": stats(execs),
            "hops": stats(hops),
            "hops_raw": [round(h, 6) for h in hops],
            "cycle": stats(cycle),
            "loadavg_before": load0,
            "loadavg_after": load1,
            "other_cpus": max(0.0, busy - cpu / wall),
        }
        runs.append(r)
        print(f"  airflow run {i + 1}/{a.runs}: wall {wall:.1f} s ({r['per_task_s']:.2f} s per task), "
              f"hop median {r['hops']['median'] * 1e3:.0f} ms p99 {r['hops']['p99'] * 1e3:.0f} ms, "
              f"task cycle median {r['cycle']['median'] * 1e3:.0f} ms, start-up {r['startup_s']:.1f} s "
              f"(other work ~{r['other_cpus']:.2f} CPUs)", flush=True)
    with open(a.json, "w") as f:
        json.dump({"tool": "airflow", "dag": a.dag, "runs": runs}, f, indent=1)


# ---------------------------------------------------------------------------------------
# report


def med(runs, *path):
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
            if v is None:
                break
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None


def pooled(runs, key):
    xs = [x for r in runs for x in r.get(key, [])]
    return stats(xs)


def ms(x):
    if x is None:
        return "-"
    x *= 1e3
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def sec(x):
    if x is None:
        return "-"
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def cmd_report(a):
    def load(name):
        p = os.path.join(a.dir, name)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    c100, c1000, fan, stamp, af, c1000t, fant = (load(n) for n in (
        "lithoflow-chain_100.json", "lithoflow-chain_1000.json", "lithoflow-fanout_1000.json",
        "lithoflow-stamp_1000.json", "airflow-chain_100.json",
        "lithoflow-chain_1000-tmpfs.json", "lithoflow-fanout_1000-tmpfs.json"))
    rows = []  # (measure, value, target/note)

    def verdict(ok):
        return "met" if ok else "NOT met"

    if af:
        r = af["runs"]
        rows.append(("Airflow 2.10.5 `dags test`, chain of 100: wall (median)",
                     sec(med(r, "wall_s")), f"{len(r)} runs: " + ", ".join(f"{x['wall_s']:.1f}" for x in r) + " s"))
        rows.append(("  per task (wall / 100)", sec(med(r, "per_task_s")), ""))
        rows.append(("  hop end -> next start: median / p99 (median over runs)",
                     f"{ms(med(r, 'hops', 'median'))} / {ms(med(r, 'hops', 'p99'))}",
                     "from the [DAG TEST] log lines (ms resolution)"))
        rows.append(("  task cycle end -> next end: median / p99",
                     f"{ms(med(r, 'cycle', 'median'))} / {ms(med(r, 'cycle', 'p99'))}",
                     f"start-up (launch -> first task) {sec(med(r, 'startup_s'))}"))
    if c100:
        r = c100["runs"]
        rows.append(("lithoflow `dags test`, chain of 100: wall (median)",
                     sec(med(r, "wall_s")), f"{len(r)} runs, min {sec(min(x['wall_s'] for x in r))} max {sec(max(x['wall_s'] for x in r))}"))
        rows.append(("  hop end -> next start: median / p99 (median over runs)",
                     f"{ms(med(r, 'hops', 'median'))} / {ms(med(r, 'hops', 'p99'))}", ""))
        rows.append(("  task cycle end -> next end: median / p99",
                     f"{ms(med(r, 'cycle', 'median'))} / {ms(med(r, 'cycle', 'p99'))}",
                     f"start-up (launch -> first task) {sec(med(r, 'startup_s'))}"))
    if af and c100:
        ratio = med(af["runs"], "wall_s") / med(c100["runs"], "wall_s")
        rows.append(("RATIO airflow / lithoflow, chain of 100 (wall medians)", f"{ratio:.0f}x", ""))
        cr = med(af["runs"], "cycle", "median") / med(c100["runs"], "cycle", "median")
        rows.append(("RATIO airflow / lithoflow, task cycle (medians)", f"{cr:.0f}x",
                     "per task in a chain, without the start-up"))
    if c1000:
        r = c1000["runs"]
        w = med(r, "wall_s")
        rows.append(("lithoflow `dags test`, chain of 1,000: wall (median)", sec(w),
                     f"target < 5 s: {verdict(w < 5)}; {len(r)} runs, min {sec(min(x['wall_s'] for x in r))} max {sec(max(x['wall_s'] for x in r))}"))
        hm, hp = med(r, "hops", "median"), med(r, "hops", "p99")
        rows.append(("  hop median (median over runs)", ms(hm), f"target < 2 ms: {verdict(hm < 0.002)} (recorded dates; see the call-to-call gap)"))
        rows.append(("  hop p99 (median over runs)", ms(hp), f"target < 10 ms: {verdict(hp < 0.010)}"))
        p = pooled(r, "hops_raw")
        rows.append(("  hops pooled over all runs: median / p99 / max",
                     f"{ms(p['median'])} / {ms(p['p99'])} / {ms(p['max'])}", f"{p['n']} hops"))
        rows.append(("  task cycle end -> next end: median / p99",
                     f"{ms(med(r, 'cycle', 'median'))} / {ms(med(r, 'cycle', 'p99'))}", ""))
        rows.append(("  start-up / tasks span / tear-down (medians)",
                     f"{sec(med(r, 'startup_s'))} / {sec(med(r, 'span_s'))} / {sec(med(r, 'teardown_s'))}",
                     f"CPU per run {sec(med(r, 'cpu_s'))}"))
    if c1000t:
        r = c1000t["runs"]
        rows.append(("  same, LITHOFLOW_HOME on tmpfs: wall / hop median / hop p99 (medians)",
                     f"{sec(med(r, 'wall_s'))} / {ms(med(r, 'hops', 'median'))} / {ms(med(r, 'hops', 'p99'))}",
                     f"{len(r)} runs; the difference is the cost of the disk (state, logs, job data)"))
    if stamp:
        r = stamp["runs"]
        rows.append(("lithoflow chain of 1,000 returning time.time(): call-to-call gap median / p99",
                     f"{ms(med(r, 'call_gaps', 'median'))} / {ms(med(r, 'call_gaps', 'p99'))}",
                     f"Python call k -> call k+1 (one full task cycle); recorded hop {ms(med(r, 'hops', 'median'))}"))
        rows.append(("  recorded start -> Python call / Python call -> recorded end (medians)",
                     f"{ms(med(r, 'start_to_call', 'median'))} / {ms(med(r, 'call_to_end', 'median'))}",
                     f"wall {sec(med(r, 'wall_s'))}"))
    if fan:
        r = fan["runs"]
        rows.append(("lithoflow `dags test`, fan-out root >> 1,000 >> join: wall (median)",
                     sec(med(r, "wall_s")), f"{len(r)} runs, min {sec(min(x['wall_s'] for x in r))} max {sec(max(x['wall_s'] for x in r))}"))
        rows.append(("  root end -> child start: median / p99 (median over runs)",
                     f"{ms(med(r, 'root_to_child_start', 'median'))} / {ms(med(r, 'root_to_child_start', 'p99'))}",
                     "one dispatch batch: all children share one start_date"))
        rows.append(("  root end -> child end: median / p99 / last",
                     f"{sec(med(r, 'root_to_child_end', 'median'))} / {sec(med(r, 'root_to_child_end', 'p99'))} / {sec(med(r, 'children_span_s'))}",
                     f"last child end -> join start {ms(med(r, 'join_hop_s'))}"))
    if fant:
        r = fant["runs"]
        rows.append(("  same, LITHOFLOW_HOME on tmpfs: wall (median)", sec(med(r, "wall_s")),
                     f"{len(r)} runs; root end -> child start median {ms(med(r, 'root_to_child_start', 'median'))}"))
    loads = []
    for d in (c100, c1000, fan, stamp, af, c1000t, fant):
        if d:
            loads += [x["loadavg_before"][0] for x in d["runs"]]
    others = []
    for d in (c100, c1000, fan, stamp, c1000t, fant):
        if d:
            others += [x["other_cpus"] for x in d["runs"]]

    w0 = max(len(x[0]) for x in rows) if rows else 10
    w1 = max(len(x[1]) for x in rows) if rows else 10
    lines = [f"{'measure'.ljust(w0)}  {'value'.ljust(w1)}  note", "-" * (w0 + w1 + 40)]
    for m, v, n in rows:
        lines.append(f"{m.ljust(w0)}  {v.ljust(w1)}  {n}")
    if loads:
        lines.append(f"load average (1 min) before the runs: median {statistics.median(loads):.2f}, "
                     f"max {max(loads):.2f} on {os.cpu_count()} CPUs")
    if others:
        lines.append(f"other processes' CPU use during the lithoflow runs: median ~{statistics.median(others):.2f} CPUs, "
                     f"max ~{max(others):.2f}")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        md = ["| measure | value | note |", "|---|---|---|"]
        for m, v, n in rows:
            md.append(f"| {m.replace('|', '/')} | {v} | {n} |")
        md += ["", lines[-2] if len(lines) > 2 else "", lines[-1] if len(lines) > 2 else ""]
        with open(a.markdown, "w") as f:
            f.write("\n".join(md) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("lithoflow")
    l.add_argument("--bin", required=True)
    l.add_argument("--dags", required=True)
    l.add_argument("--dag", required=True)
    l.add_argument("--kind", choices=["chain", "fanout", "stamp"], required=True)
    l.add_argument("--runs", type=int, default=5)
    l.add_argument("--warmup", type=int, default=1)
    l.add_argument("--runtime", default=sys.executable)
    l.add_argument("--homes", required=True, help="a new LITHOFLOW_HOME per run is made in here")
    l.add_argument("--label", help="name of the workload in the output (default: the DAG id)")
    l.add_argument("--json", required=True)
    f = sub.add_parser("airflow")
    f.add_argument("--airflow", required=True)
    f.add_argument("--dag", required=True)
    f.add_argument("--date", default="2026-11-01")
    f.add_argument("--runs", type=int, default=3)
    f.add_argument("--db", required=True)
    f.add_argument("--log", required=True)
    f.add_argument("--json", required=True)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--markdown")
    a = ap.parse_args()
    {"lithoflow": cmd_lithoflow, "airflow": cmd_airflow, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
