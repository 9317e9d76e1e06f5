#!/usr/bin/env python3
"""The soak benchmark's driver (bench/soak/run.sh).

    soak.py --bin BIN --dags DIR --work DIR --runtime PYTHON [--minutes 30]
            [--rss-every 10] [--api-every 5] [--no-thp] --json OUT [--markdown OUT]

Copies the every-minute DAGs of DIR into WORK/dags, starts `BIN scheduler` on them with a
fresh LITHOFLOW_HOME (WORK/home, mode 0700) and lets it run for --minutes. Meanwhile:

  * every --rss-every seconds (default 10): the scheduler's RSS, and apart from it the
    summed RSS of its Python workers, from /proc;
  * every --api-every seconds (default 5): one round of API requests, each timed by the
    client over a keep-alive connection: /api/v1/health, /api/v1/dags,
    /api/v1/dags/~/dagRuns?limit=100, the latest soak_lithops run, its task instances, and
    the calls of the latest finished map_1000 task (1,000 call records);
  * every minute: a progress line (elapsed, RSS, runs so far, load average).

Then it lists every run through the API, checks that each finished one succeeded with every
task instance present and successful, stops the scheduler with SIGTERM and prints: RSS
median over the first 5 minutes, median over the last 5 minutes, max, least-squares slope
(KB/hour, over the whole run and after the first 5 minutes), the same for the workers, the
runs completed and failed, the state folder's size, and the API latency percentiles.
--no-thp starts the scheduler with transparent huge pages disabled (prctl
PR_SET_THP_DISABLE before exec), to tell the allocator's huge pages from lithoflow's own
memory. Never fails on a time or a memory figure; exits 1 only if the scheduler could not
run.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lfdaemon as lf  # noqa: E402

P = "soak"


def log(msg):
    lf.log(P, msg)


def mib(kb):
    return kb / 1024


def rss_figures(samples, col, total_s, window=300):
    """Median of the first and last `window` seconds, max, slopes (KB/hour)."""
    pts = [(s[0], s[col]) for s in samples]
    if not pts:
        return None
    first = [v for t, v in pts if t <= window]
    last = [v for t, v in pts if t >= total_s - window]
    after = [(t, v) for t, v in pts if t > window]
    return {
        "first5_median_kb": statistics.median(first) if first else None,
        "last5_median_kb": statistics.median(last) if last else None,
        "max_kb": max(v for _, v in pts),
        "min_kb": min(v for _, v in pts),
        "slope_kb_per_h": lf.slope_per_hour(pts),
        "slope_after5_kb_per_h": lf.slope_per_hour(after) if len(after) > 1 else None,
        "samples": len(pts),
    }


def api_round(api, lat):
    """One round of timed GETs; latencies (seconds) go into lat[route]."""

    def get(route, path):
        status, body, secs = api.request("GET", path)
        lat.setdefault(route, []).append(secs)
        if status != 200:
            lat.setdefault("errors", []).append(f"{status} {path}")
            return None
        return body

    get("health", "/api/v1/health")
    get("dags", "/api/v1/dags")
    get("runs (all DAGs)", "/api/v1/dags/~/dagRuns?limit=100")
    body = get("runs (one DAG)", "/api/v1/dags/soak_lithops/dagRuns?limit=1")
    runs = json.loads(body)["dag_runs"] if body else []
    if runs:
        get("task instances", f"/api/v1/dags/soak_lithops/dagRuns/{lf.quote(runs[0]['dag_run_id'])}/taskInstances")
    body = get("runs (one DAG)", "/api/v1/dags/soak_map_1000/dagRuns?limit=3&state=success")
    runs = json.loads(body)["dag_runs"] if body else []
    if runs:
        get("calls (1,000)", f"/api/v1/dags/soak_map_1000/dagRuns/{lf.quote(runs[0]['dag_run_id'])}"
            "/taskInstances/map_1000/calls?limit=100")


def common_args(doc):
    """The options every soak driver takes: --bin, --dags, --work, --runtime, --json,
    --markdown."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--bin", "--dags", "--work", "--runtime", "--json"):
        ap.add_argument(name, required=True)
    ap.add_argument("--markdown")
    return ap


def prepare(a):
    """Copies the DAGs to WORK/dags and makes a fresh home WORK/home; returns
    (dags folder, home, DAG ids, scheduler log path)."""
    dags = os.path.join(a.work, "dags")
    home = os.path.join(a.work, "home")
    if os.path.isdir(dags):
        shutil.rmtree(dags)
    shutil.copytree(a.dags, dags, ignore=shutil.ignore_patterns("__pycache__"))
    dag_ids = sorted(n[:-5] for n in os.listdir(dags) if n.endswith(".toml"))
    lf.fresh_home(home, a.runtime)
    sched_log = os.path.join(a.work, "scheduler.log")
    if os.path.exists(sched_log):
        os.remove(sched_log)
    return dags, home, dag_ids, sched_log


def main():
    ap = common_args(__doc__)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rss-every", type=float, default=10)
    ap.add_argument("--api-every", type=float, default=5)
    ap.add_argument("--no-thp", action="store_true",
                    help="disable transparent huge pages for the scheduler (PR_SET_THP_DISABLE)")
    a = ap.parse_args()

    dags, home, dag_ids, sched_log = prepare(a)
    n_dags = len(dag_ids)

    started_utc = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = lf.loadavg()
    p, api, info = lf.start_scheduler(a.bin, dags, home, sched_log, n_dags, P, no_thp=a.no_thp)
    mem = lf.MemSampler(p.pid, a.rss_every)
    mem.start()
    state_kb0 = lf.du_kb(os.path.join(home, "state"))
    total = a.minutes * 60
    lat = {}
    loads = [(0.0, load0)]
    next_api = next_min = 0.0
    t0 = time.monotonic()
    ok = True
    try:
        while True:
            el = time.monotonic() - t0
            if el >= total:
                break
            if p.poll() is not None:
                log(f"the scheduler exited ({p.returncode}) after {el:.0f} s; see {sched_log}")
                ok = False
                break
            if el >= next_api:
                try:
                    api_round(api, lat)
                except OSError as e:
                    lat.setdefault("errors", []).append(str(e))
                next_api += a.api_every
            if el >= next_min:
                s = mem.sample()
                try:
                    n_runs = api.get_json("/api/v1/dags/~/dagRuns?limit=1")["total_entries"]
                except (OSError, RuntimeError):
                    n_runs = "?"
                la = lf.loadavg()
                loads.append((el, la))
                log(f"{el / 60:5.1f} min: scheduler {mib(s[1]):6.1f} MiB, workers {mib(s[2]):5.1f} MiB "
                    f"({s[3]}), runs {n_runs}, load {lf.fmt_load(la)}")
                next_min += 60
            time.sleep(max(0.0, min(next_api, next_min, total) - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0
        mem.stop()
        # Every run, and every task instance of the finished ones.
        runs = lf.all_runs(api) if ok else []
        by_state = {}
        for r in runs:
            by_state[r["state"]] = by_state.get(r["state"], 0) + 1
        problems = []
        ti_count = 0
        for r in runs:
            if r["state"] not in ("success", "failed"):
                continue
            tis = api.get_json(f"/api/v1/dags/{r['dag_id']}/dagRuns/{lf.quote(r['dag_run_id'])}/taskInstances")
            ti_count += tis["total_entries"]
            dag_tasks = api.get_json(f"/api/v1/dags/{r['dag_id']}/tasks")["total_entries"]
            if tis["total_entries"] != dag_tasks:
                problems.append(f"{r['dag_id']} {r['dag_run_id']}: {tis['total_entries']} task instances, DAG has {dag_tasks}")
            bad = [t["task_id"] for t in tis["task_instances"] if t["state"] != "success"]
            if bad or r["state"] != "success":
                problems.append(f"{r['dag_id']} {r['dag_run_id']}: run {r['state']}, tasks not successful: {bad}")
        state_kb1 = lf.du_kb(os.path.join(home, "state"))
    finally:
        stop_s, code = lf.stop_scheduler(p)
        mem.stop()
        api.close()
    load1 = lf.loadavg()
    errors = lat.pop("errors", [])
    doc = {
        "started": started_utc,
        "minutes": elapsed / 60,
        "no_thp": a.no_thp,
        "rss_every": a.rss_every,
        "api_every": a.api_every,
        "dags": n_dags,
        "startup": {k: info[k] for k in ("api_up", "dags_listed")},
        "load_start": load0,
        "load_end": load1,
        "loads": loads,
        "scheduler_rss": rss_figures(mem.samples, 1, elapsed),
        "workers_rss": rss_figures(mem.samples, 2, elapsed),
        "scheduler_thp": rss_figures(mem.samples, 6, elapsed),
        "scheduler_cpu_s": mem.samples[-1][5] if mem.samples else None,
        "samples": mem.samples,
        "runs": len(runs),
        "runs_by_state": by_state,
        "task_instances_checked": ti_count,
        "problems": problems,
        "state_kb": [state_kb0, state_kb1],
        "api": {k: lf.summary(v) for k, v in lat.items()},
        "api_all": lf.summary([x for v in lat.values() for x in v]),
        "api_errors": errors,
        "sigterm_exit": [stop_s, code],
    }
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    report(doc, a.markdown)
    return 0 if ok else 1


def report(d, markdown=None):
    lines = []
    say = lines.append
    s, w = d["scheduler_rss"], d["workers_rss"]
    say(f"soak: {d['minutes']:.1f} min, {d['dags']} every-minute DAGs, started {d['started']}"
        f"{' (transparent huge pages disabled for the scheduler)' if d.get('no_thp') else ''}; "
        f"load average {lf.fmt_load(d['load_start'])} at the start, {lf.fmt_load(d['load_end'])} at the end")
    say("")
    say(f"| RSS (sampled every {d['rss_every']:g} s) | first 5 min, median | last 5 min, median | max | slope, whole run | slope after 5 min |")
    say("|---|---|---|---|---|---|")
    thp = d.get("scheduler_thp")
    rows = [("scheduler", s), ("Python workers (sum)", w)]
    if thp and thp["max_kb"]:
        rows.insert(1, ("of the scheduler's RSS: transparent huge pages", thp))
    for name, r in rows:
        if not r:
            continue
        after = r["slope_after5_kb_per_h"]
        say(f"| {name} | {mib(r['first5_median_kb']):.1f} MiB | {mib(r['last5_median_kb']):.1f} MiB | "
            f"{mib(r['max_kb']):.1f} MiB | {r['slope_kb_per_h']:+,.0f} KB/h | "
            f"{'n/a' if after is None else f'{after:+,.0f} KB/h'} |")
    say("")
    by = ", ".join(f"{k} {v}" for k, v in sorted(d["runs_by_state"].items()))
    failed = d["runs_by_state"].get("failed", 0)
    say(f"runs: {d['runs']} ({by}); failed: {'none' if not failed else failed}; "
        f"task instances checked: {d['task_instances_checked']}; problems: {len(d['problems'])}")
    for pr in d["problems"][:10]:
        say(f"  problem: {pr}")
    say(f"state folder: {d['state_kb'][0] / 1024:.1f} MiB at the start, {d['state_kb'][1] / 1024:.1f} MiB at the end; "
        f"scheduler CPU {d['scheduler_cpu_s'] or 0:.1f} s; SIGTERM -> exit {d['sigterm_exit'][0]:.2f} s (code {d['sigterm_exit'][1]})")
    say("")
    say(f"| API request (a round every {d['api_every']:g} s) | n | p50 | p95 | p99 | max |")
    say("|---|---|---|---|---|---|")
    for route, x in list(d["api"].items()) + [("all", d["api_all"])]:
        if x:
            say(f"| {route} | {x['n']} | {x['p50'] * 1e3:.2f} ms | {x['p95'] * 1e3:.2f} ms | "
                f"{x['p99'] * 1e3:.2f} ms | {x['max'] * 1e3:.2f} ms |")
    if d["api_errors"]:
        say(f"API errors: {len(d['api_errors'])}, first: {d['api_errors'][0]}")
    text = "\n".join(lines)
    print(text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
