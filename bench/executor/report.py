#!/usr/bin/env python3
"""Prints the executor benchmark's table from the JSON files run.sh wrote.

    report.py WORK_DIR [--markdown OUT.md]

Reads, from WORK_DIR (missing files are shown as n/a):
    lithoflow-inproc.json        bench_executor (warm pool, in one process)
    cli-<dag>.hyperfine.json     `lithoflow tasks test` runs, whole process (hyperfine)
    cli-map-10000.mon.json       one monitored CLI run of the 10,000 map (RSS)
    lithops-inproc.json          lithops_bench.py inproc (one warm FunctionExecutor)
    lithops-inproc.mon.json      the same run's process-tree RSS
    lithops-e2e-<n>.hyperfine.json  lithops_bench.py e2e runs, whole process
    meta.json                    what was measured (commit, python, runs)
"""

import json
import os
import sys

TARGET_MAP_10K_S = 1.0
TARGET_ROUNDTRIP_S = 0.005
TARGET_RATIO_1K = 100.0


def load(work, name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def hf_median(doc):
    """(median, runs) of a hyperfine export."""
    if not doc:
        return None, 0
    r = doc["results"][0]
    return r["median"], len(r["times"])


def hf_min(doc):
    return min(doc["results"][0]["times"]) if doc else None


def dig(doc, *path):
    for p in path:
        if doc is None:
            return None
        doc = doc.get(p) if isinstance(doc, dict) else None
    return doc


def secs(x, ms=False):
    if x is None:
        return "n/a"
    if ms or x < 0.1:
        return "%.2f ms" % (x * 1e3)
    return "%.3f s" % x


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.0fx" % (a / b) if a / b >= 10 else "%.1fx" % (a / b)


def mib(kb):
    return "n/a" if kb is None else "%.1f MiB" % (kb / 1024)


def main():
    work = sys.argv[1]
    md_out = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--markdown" else None
    meta = load(work, "meta.json") or {}
    lf = load(work, "lithoflow-inproc.json")
    lt = load(work, "lithops-inproc.json")

    def lf_in(kind, n=None):
        if kind == "map":
            return dig(lf, "map", str(n), "median"), dig(lf, "map", str(n), "runs")
        if kind == "rt":
            return dig(lf, "call_async", "all", "median"), dig(lf, "call_async", "all", "runs")
        return dig(lf, "map_reduce", "times", "median"), dig(lf, "map_reduce", "times", "runs")

    def lt_in(kind, n=None):
        if kind == "map":
            return dig(lt, "map", str(n), "median"), dig(lt, "map", str(n), "runs")
        if kind == "rt":
            return dig(lt, "call_async", "median"), dig(lt, "call_async", "runs")
        return dig(lt, "map_reduce", "times", "median"), dig(lt, "map_reduce", "times", "runs")

    rows = []
    for n in (100, 1000, 10000):
        a, ar = lf_in("map", n)
        c, cr = hf_median(load(work, "cli-bench_map_%d.hyperfine.json" % n))
        l, lr = lt_in("map", n)
        e, er = hf_median(load(work, "lithops-e2e-%d.hyperfine.json" % n))
        rows.append(("map, %s calls" % format(n, ","), a, ar, c, cr, l, lr, e, er, False))
    a, ar = lf_in("rt")
    c, cr = hf_median(load(work, "cli-bench_call_async.hyperfine.json"))
    l, lr = lt_in("rt")
    rows.append(("call_async round trip", a, ar, c, cr, l, lr, None, 0, True))
    a, ar = lf_in("mr")
    c, cr = hf_median(load(work, "cli-bench_mapreduce_1000.hyperfine.json"))
    l, lr = lt_in("mr")
    rows.append(("map_reduce, 1,000 calls", a, ar, c, cr, l, lr, None, 0, False))

    head = ["workload", "lithoflow in-process", "lithoflow CLI e2e", "Lithops in-process",
            "Lithops e2e", "Lithops/lithoflow in-proc", "Lithops in-proc / lithoflow CLI"]
    table = []
    for name, a, ar, c, cr, l, lr, e, er, ms in rows:
        def cell(x, r):
            return secs(x, ms) + ("" if x is None else " (%s)" % (r or "?"))
        table.append([name, cell(a, ar), cell(c, cr), cell(l, lr), cell(e, er), ratio(l, a), ratio(l, c)])
    default_py, dpr = hf_median(load(work, "cli-default-python-bench_map_10000.hyperfine.json"))

    cli_mon = load(work, "cli-map-10000.mon.json")
    lt_mon = load(work, "lithops-inproc.mon.json")
    mem = dig(lf, "memory") or {}
    mem_rows = [
        ["lithoflow in-process, workers (sum), 10,000 map", mib(mem.get("workers_peak_kb")),
         "%s workers; idle after warm-up %s" % (mem.get("workers_seen", "?"), mib(mem.get("workers_idle_kb")))],
        ["lithoflow in-process, bench_executor process", mib(mem.get("self_hwm_kb")), "VmHWM at the end of all runs"],
        ["lithoflow CLI, workers (sum), 10,000 map", mib(dig(cli_mon, "children_peak_kb")),
         "%s processes, sampled every 10 ms" % dig(cli_mon, "children_peak_count")],
        ["lithoflow CLI, lithoflow process, 10,000 map", mib(dig(cli_mon, "root_peak_kb")), "ru_maxrss"],
        ["Lithops, task processes (sum), whole in-process run", mib(dig(lt_mon, "children_peak_kb")),
         "%s processes at most, sampled every 50 ms" % dig(lt_mon, "children_peak_count")],
        ["Lithops, driver process, whole in-process run", mib(dig(lt_mon, "root_peak_kb")), "ru_maxrss"],
    ]

    cli10k = rows[2][3]
    cli10k_min = hf_min(load(work, "cli-bench_map_10000.hyperfine.json"))
    rt = rows[3][1]
    r1k = (rows[1][5] / rows[1][3]) if rows[1][5] and rows[1][3] else None
    r1k_in = (rows[1][5] / rows[1][1]) if rows[1][5] and rows[1][1] else None
    targets = [
        ["10,000-call map end to end (CLI) < 1 s", "%s (min %s)" % (secs(cli10k), secs(cli10k_min)),
         "n/a" if cli10k is None else ("PASS" if cli10k < TARGET_MAP_10K_S else "FAIL")],
        ["call_async round trip median < 5 ms (in-process, warm)", secs(rt, True),
         "n/a" if rt is None else ("PASS" if rt < TARGET_ROUNDTRIP_S else "FAIL")],
        [">= 100x Lithops on the 1,000-call map (Lithops in-proc / lithoflow CLI)",
         "n/a" if r1k is None else "%.0fx" % r1k,
         "n/a" if r1k is None else ("PASS" if r1k >= TARGET_RATIO_1K else "FAIL")],
        ["  same, in-process against in-process", "n/a" if r1k_in is None else "%.0fx" % r1k_in,
         "n/a" if r1k_in is None else ("PASS" if r1k_in >= TARGET_RATIO_1K else "FAIL")],
    ]

    def render(rows_, header, md):
        if md:
            out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows_]
            return "\n".join(out)
        widths = [max(len(str(r[i])) for r in [header] + rows_) for i in range(len(header))]
        line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
        return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows_])

    def document(md):
        parts = []
        parts.append("lithoflow %s, %s workers, Python %s; Lithops %s. Medians; (runs) after each figure."
                     % (meta.get("lithoflow", "?"), dig(lf, "workers") or "?", meta.get("python_version", "?"),
                        meta.get("lithops_version") or "not run"))
        if meta.get("lithops_error"):
            parts.append("Lithops was not run: " + meta["lithops_error"])
        parts.append("Run %s to %s on %s CPUs; load average (1, 5, 15 min) %s at the start, %s at the end."
                     % (meta.get("started", "?"), meta.get("ended", "?"), meta.get("cpus", "?"),
                        meta.get("load_start", "?"), meta.get("load_end", "?")))
        parts.append(render(table, head, md))
        if default_py is not None:
            parts.append("lithoflow CLI, 10,000 map, default runtime `python3` from PATH (%s): %s (%d runs)"
                         % (meta.get("default_python", "?"), secs(default_py), dpr))
        parts.append(render(targets, ["target", "measured", "result"], md))
        parts.append(render(mem_rows, ["peak resident memory", "peak", "how"], md))
        return "\n\n".join(parts)

    print(document(False))
    if md_out:
        with open(md_out, "w") as f:
            f.write(document(True) + "\n")


if __name__ == "__main__":
    main()
