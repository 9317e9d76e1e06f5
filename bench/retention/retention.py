#!/usr/bin/env python3
"""Retention benchmark driver (bench/retention/run.sh): one every-minute DAG's history of
10,000 then 100,000 runs, each with a task instance, an XCom value, a log file and a job
storage folder (filled by `bench_retention fill`).

Prints, as medians over repeats:
- listing the DAG's latest 100 runs in the store, the old way (decode and sort the whole
  history) and through the index, at 10,000 and 100,000 runs (`bench_retention list`);
- through a running scheduler's API at 100,000 runs: `GET /dags/{id}/dagRuns?limit=100`,
  `GET /dags/{id}` (5 recent runs) and `GET /dags`;
- `lithoflow db clean` of the 100,000 runs through that scheduler: its time, and the
  scheduler's resident memory at rest before, after, and after a restart; the state,
  logs and storage folders' sizes before and after.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import lfdaemon as lf  # noqa: E402

P = "retention"
DAG = "every_minute"


def sh(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{cmd} failed ({r.returncode}): {r.stderr}")
    return r


def rss_at_rest(pid, settle):
    """VmRSS and RssAnon (KiB) after `settle` seconds with nothing to do."""
    time.sleep(settle)
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                fields[k] = int(v.split()[0])
    return fields


def api_median(api, path, repeats):
    api.request("GET", path)
    secs = []
    for _ in range(repeats):
        status, _, s = api.request("GET", path)
        assert status == 200, (path, status)
        secs.append(s * 1000)
    return statistics.median(secs), max(secs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lithoflow", required=True)
    ap.add_argument("--bench", required=True, help="the bench_retention binary")
    ap.add_argument("--work", required=True)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--settle", type=float, default=15.0)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    home = os.path.join(a.work, "home")
    dags = os.path.join(a.work, "dags")
    lf.fresh_home(home, sys.executable)
    for d in ("state", "logs", "storage"):
        # Private, as every lithoflow command makes them (the scheduler refuses others).
        os.makedirs(os.path.join(home, d), mode=0o700)
        os.chmod(os.path.join(home, d), 0o700)
    os.makedirs(dags, exist_ok=True)
    with open(os.path.join(dags, f"{DAG}.toml"), "w") as f:
        # Paused: the scheduler creates no run while the benchmark measures it.
        f.write('schedule = "* * * * *"\nstart_date = 2020-01-01T00:00:00Z\n'
                'catchup = false\nis_paused_upon_creation = true\n\n'
                '[tasks.add]\ntype = "empty"\n')
    results = {"lists": []}
    for n in sizes:
        t = time.monotonic()
        sh([a.bench, "fill", "--home", home, "--dag", DAG, "--runs", str(n)])
        lf.log(P, f"filled to {n} runs in {time.monotonic() - t:.1f} s")
        r = json.loads(sh([a.bench, "list", "--home", home, "--dag", DAG,
                           "--repeats", str(a.repeats)]).stdout)
        results["lists"].append(r)
        lf.log(P, f"{n} runs, latest 100: whole history {r['scan_ms']['median']:.2f} ms, "
               f"index {r['index_ms']['median']:.3f} ms (medians of {a.repeats}), "
               f"{r['ratio_scan_over_index']:.0f}x")
    sizes_before = {d: lf.du_kb(os.path.join(home, d)) for d in ("state", "logs", "storage")}
    log_path = os.path.join(a.work, "scheduler.log")
    p, api, _ = lf.start_scheduler(a.lithoflow, dags, home, log_path, 1, P)
    rest_before = rss_at_rest(p.pid, a.settle)
    api_figs = {
        "dagRuns_limit_100": api_median(api, f"/api/v1/dags/{DAG}/dagRuns?limit=100", a.repeats),
        "dag": api_median(api, f"/api/v1/dags/{DAG}", a.repeats),
        "dags": api_median(api, "/api/v1/dags", a.repeats),
    }
    for k, (med, mx) in api_figs.items():
        lf.log(P, f"API at {sizes[-1]} runs: {k} median {med:.2f} ms (max {mx:.2f})")
    env = dict(os.environ, LITHOFLOW_HOME=home)
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    t = time.monotonic()
    out = sh([a.lithoflow, "--dags-folder", dags, "db", "clean", "--clean-before-timestamp",
              tomorrow, "-y", "-o", "json"], env=env).stdout
    clean_s = time.monotonic() - t
    report = json.loads(out)
    lf.log(P, f"db clean through the scheduler: {clean_s:.1f} s, removed {report['dag_runs']} runs, "
           f"{report['log_files']} log files, {report['job_storage_files']} job storage files, "
           f"kept {report['kept_latest']}")
    rest_after = rss_at_rest(p.pid, a.settle)
    after_list = api_median(api, f"/api/v1/dags/{DAG}/dagRuns?limit=100", a.repeats)
    api.close()
    lf.stop_scheduler(p)
    p, api, _ = lf.start_scheduler(a.lithoflow, dags, home, log_path, 1, P)
    rest_restart = rss_at_rest(p.pid, a.settle)
    api.close()
    lf.stop_scheduler(p)
    sizes_after = {d: lf.du_kb(os.path.join(home, d)) for d in ("state", "logs", "storage")}
    mib = lambda kb: f"{kb / 1024:.1f} MiB"  # noqa: E731
    lf.log(P, f"scheduler RSS at rest (VmRSS, RssAnon): before {mib(rest_before['VmRSS'])}, "
           f"{mib(rest_before['RssAnon'])}; after the clean {mib(rest_after['VmRSS'])}, "
           f"{mib(rest_after['RssAnon'])}; after a restart {mib(rest_restart['VmRSS'])}, "
           f"{mib(rest_restart['RssAnon'])}")
    lf.log(P, "folders before -> after: " + ", ".join(
        f"{d} {mib(sizes_before[d])} -> {mib(sizes_after[d])}" for d in sizes_before))
    results.update(api=api_figs, api_after_clean=after_list, clean_s=clean_s, report=report,
                   rss_before=rest_before, rss_after=rest_after, rss_restart=rest_restart,
                   sizes_before=sizes_before, sizes_after=sizes_after)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
