#!/usr/bin/env python3
"""The soak benchmark's fast mode (bench/soak/run.sh --fast RUNS): hours of every-minute
runs in minutes, and the scheduler's memory at rest measured against the runs done.

    fast.py --bin BIN --dags DIR --work DIR --runtime PYTHON --runs 3000 [--every 500]
            [--rest 15] [--env NAME=VALUE ...] --json OUT [--markdown OUT]

Starts `BIN scheduler` on a copy of the soak DAGs with a fresh LITHOFLOW_HOME, then
triggers runs through the API as fast as they finish (one active run per DAG; the DAGs'
own every-minute runs come on top) while doing the soak's round of API requests every
second. Every --every finished runs it stops triggering, waits for the active runs to
end, lets the scheduler rest --rest seconds and samples its memory from /proc (VmRSS and
its RssAnon part, the heap and other private memory) and the state folder's size. At the
end every run must have succeeded.

A scheduler whose memory at rest grows with the runs it has done leaks (or its allocator
keeps what it freed); the soak's every-minute DAGs make 300 runs an hour, so 3,000 runs
here stand for ten hours of the 30-minute soak. --env sets a variable for the scheduler
(for example MIMALLOC_PURGE_DELAY=1000 to see mimalloc's default purging).
Never fails on a memory figure; exits 1 if the scheduler could not run or a run failed.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lfdaemon as lf  # noqa: E402
import soak  # noqa: E402

P = "soak-fast"


def status_mib(pid):
    """VmRSS and RssAnon of a process, MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                out[key] = int(value.split()[0]) / 1024
    return out["VmRSS"], out["RssAnon"]


def count(api, state):
    return api.get_json(f"/api/v1/dags/~/dagRuns?limit=1&state={state}")["total_entries"]


def active_by_dag(api):
    out = {}
    for state in ("queued", "running"):
        for r in api.get_json(f"/api/v1/dags/~/dagRuns?limit=100&state={state}")["dag_runs"]:
            out[r["dag_id"]] = out.get(r["dag_id"], 0) + 1
    return out


def main():
    ap = soak.common_args(__doc__)
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--rest", type=float, default=15)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_args()

    for kv in a.env:
        name, _, value = kv.partition("=")
        os.environ[name] = value
    dags, home, dag_ids, sched_log = soak.prepare(a)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = lf.loadavg()
    p, api, _ = lf.start_scheduler(a.bin, dags, home, sched_log, len(dag_ids), P)
    points = []  # (runs finished, VmRSS MiB, RssAnon MiB, state KiB, seconds)
    lat = {}
    t0 = time.monotonic()

    def rest_sample(done):
        while active_by_dag(api):
            time.sleep(0.2)
        time.sleep(a.rest)
        rss, anon = status_mib(p.pid)
        points.append((done, rss, anon, lf.du_kb(os.path.join(home, "state")), time.monotonic() - t0))
        lf.log(P, f"{done:6d} runs: at rest {rss:6.1f} MiB (RssAnon {anon:5.1f} MiB), "
               f"{time.monotonic() - t0:6.0f} s, load {lf.fmt_load(lf.loadavg())}")

    ok = True
    try:
        rest_sample(0)
        next_mark = a.every
        last_round = 0.0
        while True:
            if p.poll() is not None:
                lf.log(P, f"the scheduler exited ({p.returncode}); see {sched_log}")
                ok = False
                break
            done = count(api, "success") + count(api, "failed")
            if done >= next_mark:
                rest_sample(done)
                next_mark += a.every
                if done >= a.runs:
                    break
                continue
            active = active_by_dag(api)
            for d in dag_ids:
                if not active.get(d):
                    api.post_json(f"/api/v1/dags/{d}/dagRuns", {})
            if time.monotonic() - last_round >= 1:
                soak.api_round(api, lat)
                last_round = time.monotonic()
            time.sleep(0.1)
        failed = count(api, "failed") if ok else None
    finally:
        lf.stop_scheduler(p)
        api.close()
    if failed:
        ok = False
    after = [(x[0], x[2]) for x in points[1:]]
    slope = None
    if len(after) > 1:
        # KB of RssAnon per 1,000 runs (least squares), from the first mark on.
        n = len(after)
        mx = sum(x for x, _ in after) / n
        my = sum(y for _, y in after) / n
        sxx = sum((x - mx) ** 2 for x, _ in after)
        slope = sum((x - mx) * (y - my) for x, y in after) / sxx * 1000 * 1024 if sxx else 0.0
    doc = {
        "started": started,
        "runs": points[-1][0] if points else 0,
        "failed": failed,
        "env": a.env,
        "rest_s": a.rest,
        "load_start": load0,
        "load_end": lf.loadavg(),
        "points": points,
        "anon_slope_kb_per_1000_runs": slope,
        "api": {k: lf.summary(v) for k, v in lat.items() if k != "errors"},
        "api_errors": lat.get("errors", []),
    }
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    lines = [
        f"soak --fast: {doc['runs']} runs of {len(dag_ids)} DAGs triggered as fast as they finish, "
        f"started {started}{' with ' + ' '.join(a.env) if a.env else ''}; failed runs: {failed}; "
        f"load average {lf.fmt_load(load0)} at the start, {lf.fmt_load(doc['load_end'])} at the end",
        "",
        f"| runs done | scheduler RSS at rest ({a.rest:g} s idle) | of it RssAnon | state folder | elapsed |",
        "|---|---|---|---|---|",
    ]
    for done, rss, anon, state_kb, secs in points:
        lines.append(f"| {done:,} | {rss:.1f} MiB | {anon:.1f} MiB | {state_kb / 1024:.1f} MiB | {secs:.0f} s |")
    if slope is not None:
        lines += ["", f"RssAnon at rest, slope from {after[0][0]:,} runs on: {slope:+,.0f} KB per 1,000 runs"]
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
