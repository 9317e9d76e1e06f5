#!/usr/bin/env python3
"""Runs a command and records its wall time and the resident memory of its process tree.

    procmon.py --json OUT [--every 0.01] -- COMMAND ARGS...

Every `--every` seconds it reads /proc and sums VmRSS over every descendant of the command
(for lithoflow: its Python workers; for Lithops: its task processes); the peak of that
sum is reported, with the most descendants seen at once. The command's own peak RSS
comes from wait4(2) (ru_maxrss), which is exact. Sampling misses peaks shorter than the
interval. Writes {"wall_s", "exit", "root_peak_kb", "children_peak_kb",
"children_peak_count", "samples"}; the command's stdout and stderr pass through.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time


def ppid_map():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        out[int(name)] = int(rest[1])
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root):
    parents = ppid_map()
    children = {}
    for pid, pp in parents.items():
        children.setdefault(pp, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--every", type=float, default=0.01)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    peak = {"kb": 0, "count": 0, "samples": 0}
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)

    def sample():
        while not done.is_set():
            kids = descendants(proc.pid)
            total = sum(rss_kb(k) for k in kids)
            peak["samples"] += 1
            peak["kb"] = max(peak["kb"], total)
            peak["count"] = max(peak["count"], len(kids))
            done.wait(a.every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    thread.join()
    code = os.waitstatus_to_exitcode(status)
    with open(a.json, "w") as f:
        json.dump({
            "wall_s": wall,
            "exit": code,
            "root_peak_kb": ru.ru_maxrss,
            "children_peak_kb": peak["kb"],
            "children_peak_count": peak["count"],
            "samples": peak["samples"],
        }, f)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
