"""The closing table of bench/aws/run.sh: lithoflow's Event-invocation submit rate and
client CPU per call beside Lithops', on the same targets, from the JSON the two sides
wrote (medians of the timed jobs).

    compare.py WORK_DIR
"""

import json
import os
import statistics
import sys


def load(work, name):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def main():
    work = sys.argv[1]
    rows = []
    version = None
    for target in ["trivial", "emulator"]:
        ours, theirs = load(work, target), load(work, "lithops-" + target)
        if not ours or not theirs:
            continue
        version = theirs["lithops_version"]
        for o in ours["submit"]:
            pool = o["invoke_pool_threads"]
            t = next((t for t in theirs["submit"] if t["invoke_pool_threads"] == pool), None)
            if t is None:
                continue
            rate = statistics.median(s["submit_rate"] for s in o["samples"])
            cpu = statistics.median(s["cpu_mark_s"] / s["calls"] for s in o["samples"])
            their_rate = t["median_submit_rate"]
            their_cpu = t["median_cpu_per_call_s"]
            rows.append(
                f"| {target} | {pool} | {o['samples'][0]['calls']} | **{rate:.0f}/s** | {their_rate:.0f}/s "
                f"| **{rate / their_rate:.1f}x** | {cpu * 1e6:.0f} µs | {their_cpu * 1e6:.0f} µs "
                f"| {their_cpu / cpu:.1f}x |"
            )
    if not rows:
        return
    print(f"### lithoflow beside Lithops {version}: Event-invocation submit rate (medians)\n")
    print(
        "| target | invoke_pool_threads | calls | lithoflow | Lithops | rate ratio "
        "| lithoflow CPU/call | Lithops CPU/call | Lithops CPU / lithoflow CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()


if __name__ == "__main__":
    main()
