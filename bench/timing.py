#!/usr/bin/env python3
"""Timing helpers for the bench scripts: a fallback timing loop and summaries.

    timing.py run --runs N --warmup W --json OUT -- 'shell command'
        Runs the command (through /bin/sh) W times untimed, then N times timed; per run it
        records wall time and, through wait4(2), the child's user+system CPU time and peak
        RSS. Used when hyperfine is not installed.

    timing.py hyperfine --json OUT HYPERFINE_JSON
        Converts hyperfine's --export-json file into the same summary.

    timing.py rss --runs N --json OUT -- 'shell command'
        Peak RSS only, through wait4(2), for machines without /usr/bin/time.

Every mode prints a one-line summary and writes a JSON summary (seconds, KiB) that the
shell script reads back: {"runs", "min", "median", "p90", "max", "mean", "cpu", "rss_kb"}.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import time


def pct(sorted_xs, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(1, math.ceil(p / 100 * len(sorted_xs)))
    return sorted_xs[k - 1]


def summary(walls, cpus=None, rss=None):
    xs = sorted(walls)
    out = {
        "runs": len(xs),
        "min": xs[0],
        "median": statistics.median(xs),
        "p90": pct(xs, 90),
        "max": xs[-1],
        "mean": statistics.fmean(xs),
        "times": walls,
    }
    if cpus:
        out["cpu"] = statistics.median(cpus)
    if rss:
        out["rss_kb"] = max(rss)
        out["rss_kb_median"] = statistics.median(rss)
    return out


def run_once(cmd):
    """Wall time, user+sys CPU seconds and peak RSS (KiB) of one run of `cmd`."""
    t0 = time.perf_counter()
    p = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"timing.py: command exited with {p.returncode}: {cmd}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def parse(argv):
    opts, cmd = {}, None
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], " ".join(argv[i + 1:])
    it = iter(argv)
    rest = []
    for a in it:
        if a.startswith("--"):
            opts[a[2:]] = next(it)
        else:
            rest.append(a)
    return opts, rest, cmd


def fmt(s):
    if s < 1:
        return f"{s * 1000:.1f} ms"
    return f"{s:.3f} s" if s < 10 else f"{s:.2f} s"


def main():
    mode, (opts, rest, cmd) = sys.argv[1], parse(sys.argv[2:])
    if mode == "run":
        runs, warmup = int(opts.get("runs", 15)), int(opts.get("warmup", 2))
        for _ in range(warmup):
            run_once(cmd)
        walls, cpus, rss = [], [], []
        for _ in range(runs):
            w, c, r = run_once(cmd)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
        s = summary(walls, cpus, rss)
    elif mode == "hyperfine":
        with open(rest[0]) as f:
            r = json.load(f)["results"][0]
        s = summary(r["times"])
        s["cpu"] = r["user"] + r["system"]  # hyperfine reports means only
    elif mode == "rss":
        rss = [run_once(cmd)[2] for _ in range(int(opts.get("runs", 5)))]
        s = {"rss_kb": max(rss), "rss_kb_median": statistics.median(rss), "runs": len(rss)}
        print(f"peak RSS {s['rss_kb'] / 1024:.1f} MiB over {len(rss)} runs")
        with open(opts["json"], "w") as f:
            json.dump(s, f, indent=1)
        return
    else:
        sys.exit(f"timing.py: unknown mode {mode}")
    with open(opts["json"], "w") as f:
        json.dump(s, f, indent=1)
    print(f"{s['runs']} runs: min {fmt(s['min'])}  median {fmt(s['median'])}  "
          f"p90 {fmt(s['p90'])}  max {fmt(s['max'])}")


if __name__ == "__main__":
    main()
