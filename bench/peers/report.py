#!/usr/bin/env python3
"""Prints the tables of bench/peers/*.sh from the JSON files measure.py wrote.

    report.py maps|dags|curve --dir DIR [--markdown OUT]

Labels are TOOL-KIND-N (lithoflow-map-100000, ray-map-10000, airflow-chain-100, ...).
Every figure is a median over the timed runs (their number in brackets), except peak RSS,
the highest of the runs. "top" is the largest single process (wait4's ru_maxrss, as
/usr/bin/time -v), "tree" the sum over the command's process tree sampled from /proc.
"""

import argparse
import glob
import json
import os

TOOLS_MAPS = ["lithoflow", "pool", "ray", "raybatch", "loop"]
NAMES = {
    "lithoflow": "`lithoflow tasks test`",
    "lithoflow-dags": "`lithoflow dags test`",
    "pool": "`multiprocessing.Pool(2).map`",
    "ray": "Ray, `ray.get([f.remote(x) ...])`",
    "raybatch": "Ray, 8 chunks",
    "loop": "Python loop (floor, no IPC)",
    "airflow": "Airflow 2.10 `dags test`",
    "prefect": "Prefect 3 flow",
    "dagster": "Dagster `execute_in_process`",
}


def load(d):
    out = {}
    for path in glob.glob(os.path.join(d, "*.json")):
        with open(path) as f:
            doc = json.load(f)
        if isinstance(doc, dict) and "label" in doc:
            tool, kind, n = doc["label"].rsplit("-", 2)
            out[(tool, kind, int(n))] = doc
    return out


def secs(s):
    if s is None:
        return "n/a"
    if s < 1:
        return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def mib(kb):
    return f"{kb / 1024:.0f} MiB" if kb else "n/a"


def state(doc):
    """None when there are figures, else the reason there are none."""
    if doc is None:
        return "not run"
    if doc["status"] == "skipped":
        return "skipped"
    if not doc.get("runs"):
        if doc["status"] == "timeout":
            fr = doc.get("failed_run", {})
            so_far = (f" ({secs(fr['cpu_s'])} CPU, peak RSS {mib(fr['rss_top_kb'])} by then)"
                      if fr.get("rss_top_kb") else "")
            return f"timeout after {doc['timeout_s']:g} s" + so_far
        fr = doc.get("failed_run", {})
        tail = [ln for ln in fr.get("stderr_tail", "").splitlines() if ln.strip()]
        why = f"failed after {secs(fr['wall_s'])}, exit {fr['exit']}" if fr else "failed"
        return why + (f": `{tail[-1].strip()[:120]}`" if tail else "")
    return None


def wall(doc):
    return None if state(doc) else doc["median_wall_s"]


def cpu(doc):
    return None if state(doc) else doc["median_cpu_s"]


def row_figs(doc):
    """wall (runs), CPU, top RSS, tree RSS."""
    why = state(doc)
    if why:
        return [f"**{why}**", "", "", ""]
    extra = " (later run timed out)" if doc["status"] == "timeout" else ""
    return [f"**{secs(doc['median_wall_s'])}** ({len(doc['runs'])}){extra}", secs(doc["median_cpu_s"]),
            mib(doc["peak_rss_top_kb"]), mib(doc["peak_rss_tree_kb"])]


def ratio(a, b):
    if a is None or b is None or b == 0:
        return ""
    x = a / b
    return f"{x:.2g}x" if x < 1 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def other_load(data):
    xs = [d["median_other_cpus"] for d in data.values() if d.get("runs")]
    if not xs:
        return ""
    return (f"Other work on the machine during the timed runs (CPUs busy besides the command): "
            f"median {sorted(xs)[len(xs) // 2]:.1f}, max {max(xs):.1f} of the rows' medians.")


def maps(data):
    out = []
    rows = []
    for kind in ("map", "burn"):
        for n in sorted({n for (t, k, n) in data if k == kind}):
            lf = wall(data.get(("lithoflow", kind, n)))
            lf_cpu = cpu(data.get(("lithoflow", kind, n)))
            for tool in TOOLS_MAPS:
                doc = data.get((tool, kind, n))
                if doc is None:
                    continue
                w = wall(doc)
                inner = doc.get("inner", {}).get("inner_s") if w is not None else None
                per = f"{w / n * 1e6:.1f}" if w is not None else ""
                work = f"{n:,} x " + ("inc(x)" if kind == "map" else "20 ms CPU")
                rows.append([work, NAMES[tool]] + row_figs(doc)
                            + [per, secs(inner) if inner is not None else "",
                               "" if tool == "lithoflow" else ratio(lf, w),
                               "" if tool == "lithoflow" else ratio(lf_cpu, cpu(doc))])
    out.append(table(["calls", "command", "wall, median (runs)", "CPU", "peak RSS top", "peak RSS tree",
                      "µs/call (wall)", "calls alone (in-process)", "lithoflow ÷ this (wall)",
                      "lithoflow ÷ this (CPU)"], rows))
    pipe = data.get(("pipe", "rtt", 100000))
    if pipe and not state(pipe):
        out.append(f"\nFloor: a one-byte round trip between two Python processes over `os.pipe()`: "
                   f"**{pipe['inner']['rtt_us']:.1f} µs** (median of {len(pipe['runs'])} runs of 100,000).")
    return out


def dags(data):
    rows = []
    for kind in ("chain", "fanout"):
        for n in sorted({n for (t, k, n) in data if k == kind}):
            tasks = n if kind == "chain" else n + 2
            lf = wall(data.get(("lithoflow", kind, n)))
            lf_cpu = cpu(data.get(("lithoflow", kind, n)))
            for tool in ("lithoflow", "dagster", "prefect", "airflow"):
                doc = data.get((tool, kind, n))
                if doc is None:
                    continue
                w = wall(doc)
                what = f"chain of {n}" if kind == "chain" else f"root >> {n:,} >> join"
                inner = doc.get("inner", {}).get("inner_s") if w is not None else None
                rows.append([what, NAMES["lithoflow-dags" if tool == "lithoflow" else tool]] + row_figs(doc)
                            + [f"{w / tasks * 1000:.2f}" if w is not None else "",
                               secs(inner) if inner is not None else "",
                               "" if tool == "lithoflow" else ratio(w, lf),
                               "" if tool == "lithoflow" else ratio(cpu(doc), lf_cpu)])
    return [table(["DAG", "command", "wall, median (runs)", "CPU", "peak RSS top", "peak RSS tree",
                   "ms/task (wall)", "run alone (in-process)", "this ÷ lithoflow (wall)",
                   "this ÷ lithoflow (CPU)"], rows)]


def curve(data):
    rows = []
    for kind in ("chain", "fanout"):
        prev = None
        for n in sorted({n for (t, k, n) in data if k == kind and t == "lithoflow"}):
            doc = data[("lithoflow", kind, n)]
            tasks = n if kind == "chain" else n + 2
            what = f"chain of {n:,}" if kind == "chain" else f"root >> {n:,} >> join"
            why = state(doc)
            if why:
                rows.append([what, f"**{why}**", "", "", "", "", "", "", ""])
                continue
            w, c, top = doc["median_wall_s"], doc["median_cpu_s"], doc["peak_rss_top_kb"] * 1024
            slope = ""
            if prev:
                slope = f"{(top - prev[1]) / (tasks - prev[0]):,.0f}"
            rows.append([what, f"**{secs(w)}** ({len(doc['runs'])})", secs(c),
                         f"**{w / tasks * 1e6:,.0f}**", f"{c / tasks * 1e6:,.0f}",
                         mib(doc["peak_rss_top_kb"]), mib(doc["peak_rss_tree_kb"]),
                         f"{top / tasks:,.0f}", slope])
            prev = (tasks, top)
    return [table(["DAG", "wall, median (runs)", "CPU", "µs/task (wall)", "µs/task (CPU)",
                   "peak RSS top", "peak RSS tree", "bytes/task (peak top / tasks)",
                   "bytes/task (slope from the previous size)"], rows)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["maps", "dags", "curve"])
    p.add_argument("--dir", required=True)
    p.add_argument("--markdown")
    a = p.parse_args()
    data = load(a.dir)
    parts = {"maps": maps, "dags": dags, "curve": curve}[a.what](data)
    load_line = other_load(data)
    if load_line:
        parts.append("\n" + load_line)
    text = "\n".join(parts) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
