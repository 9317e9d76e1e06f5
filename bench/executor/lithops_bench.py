#!/usr/bin/env python3
"""The Lithops side of the executor benchmark (bench/executor/run.sh).

Runs the same workloads as lithoflow's bench_executor, with Lithops' localhost backend and
localhost storage (configured by the YAML file that LITHOPS_CONFIG_FILE names), over the
same functions (bench_functions.add and bench_functions.total):

    lithops_bench.py inproc --maps 100:3,1000:1 --roundtrips 20 --mapreduce 1000:1 --json OUT
        One FunctionExecutor for everything, warmed up by one untimed call first (so the
        runtime metadata is known), then: maps of N calls add(x, y=1), each timed from
        submit to get_result; sequential call_async + get_result round trips; map_reduce
        with the reducer total(results). Writes a JSON summary.

    lithops_bench.py e2e --n 100
        What a one-shot command does: start, import lithops, make a FunctionExecutor, run one
        map of N calls, check the results, exit. Timed from outside (whole process).

Each map element is {"x": i, "y": 1}, so add gets y=1 as a keyword, as lithoflow's
extra_params = {y = 1} gives it. (Lithops' dict extra_args would pass the dict's keys.)

The function module is not shipped with the job: run.sh's config sets
`include_modules: none`, and this script puts its own folder on PYTHONPATH, which the task
processes inherit, so they import bench_functions as lithoflow's workers do. Lithops'
default (ship the module; every task process writes it to
/tmp/lithops-<user>/modules/<job_key>/ before importing it) races when two task
processes of one job start together: one truncates the file while the other imports
it, and the call fails with "AttributeError: Can't get attribute 'add' on <module
'bench_functions' ...>" (seen here with Lithops 3.8.0 on the first 100-call map).
"""

import argparse
import json
import os
import statistics
import sys
import time


def summary(xs):
    s = sorted(xs)
    if not s:
        return None
    return {
        "runs": len(s),
        "min": s[0],
        "median": statistics.median(s),
        "max": s[-1],
        "times": xs,
    }


def log(msg):
    print("[lithops_bench] " + msg, file=sys.stderr, flush=True)


def settle(fe, limit=30.0):
    """Waits, untimed, until Lithops' localhost job manager thread of the last job has ended.

    Lithops 3.8.0 localhost v2 race: get_result() tears the consumer threads down
    (clear -> finish -> _teardown) while the job manager thread may still be alive; an
    invoke() in that window sees a live job manager, so start_manager() does not start
    the consumers again and the new job's tasks are never run (the driver waits for
    ever). Waiting for the manager to be gone before the next submit avoids it.
    """
    backend = getattr(fe, "compute_handler", None)
    deadline = time.monotonic() + limit
    while getattr(backend, "job_manager", None) is not None:
        if time.monotonic() > deadline:
            log("warning: Lithops' job manager is still running after %.0fs" % limit)
            return
        time.sleep(0.001)


def iterdata(n):
    return [{"x": i, "y": 1} for i in range(n)]


def check_map(result, n):
    if list(result) != list(range(1, n + 1)):
        raise SystemExit("a Lithops map of %d returned wrong results" % n)


def parse_pairs(text):
    """'100:3,1000:1' -> [(100, 3), (1000, 1)]"""
    out = []
    for item in filter(None, text.split(",")):
        n, _, r = item.partition(":")
        out.append((int(n), int(r or 1)))
    return out


def inproc(args):
    import lithops
    from bench_functions import add, total

    t0 = time.perf_counter()
    fe = lithops.FunctionExecutor()
    fut = fe.call_async(add, {"x": 1, "y": 1})
    assert fe.get_result(fut, show_progressbar=False) == 2
    warm = time.perf_counter() - t0
    log("FunctionExecutor ready and warmed up in %.2fs" % warm)
    doc = {"lithops": lithops.__version__, "executor_ready_s": warm, "map": {}}

    for n, repeats in parse_pairs(args.maps):
        times = []
        for r in range(repeats):
            settle(fe)
            t = time.perf_counter()
            fs = fe.map(add, iterdata(n))
            result = fe.get_result(fs, show_progressbar=False)
            times.append(time.perf_counter() - t)
            check_map(result, n)
            log("map %d (run %d/%d): %.2fs" % (n, r + 1, repeats, times[-1]))
            fe.clean()
        doc["map"][str(n)] = summary(times)

    trips = []
    for i in range(args.roundtrips):
        settle(fe)
        t = time.perf_counter()
        fut = fe.call_async(add, {"x": i, "y": 1})
        v = fe.get_result(fut, show_progressbar=False)
        trips.append(time.perf_counter() - t)
        if v != i + 1:
            raise SystemExit("call_async add(%d, y=1) returned %r" % (i, v))
    if trips:
        doc["call_async"] = summary(trips)
        log("call_async round trip: median %.3fs" % doc["call_async"]["median"])
    fe.clean()

    mr = []
    for n, repeats in parse_pairs(args.mapreduce):
        for r in range(repeats):
            settle(fe)
            t = time.perf_counter()
            fs = fe.map_reduce(add, iterdata(n), total)
            v = fe.get_result(fs, show_progressbar=False)
            mr.append(time.perf_counter() - t)
            if v != n * (n + 1) // 2:
                raise SystemExit("map_reduce returned %r" % (v,))
            log("map_reduce %d (run %d/%d): %.2fs" % (n, r + 1, repeats, mr[-1]))
            fe.clean()
        doc["map_reduce"] = {"calls": n, "times": summary(mr)}
    with open(args.json, "w") as f:
        json.dump(doc, f)


def e2e(args):
    import lithops
    from bench_functions import add

    fe = lithops.FunctionExecutor()
    t = time.perf_counter()
    result = fe.get_result(fe.map(add, iterdata(args.n)), show_progressbar=False)
    check_map(result, args.n)
    log("map %d: %.2fs (process total from outside)" % (args.n, time.perf_counter() - t))
    fe.clean()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, here)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("inproc")
    a.add_argument("--maps", default="100:3,1000:1")
    a.add_argument("--roundtrips", type=int, default=20)
    a.add_argument("--mapreduce", default="1000:1")
    a.add_argument("--json", required=True)
    b = sub.add_parser("e2e")
    b.add_argument("--n", type=int, default=100)
    args = p.parse_args()
    {"inproc": inproc, "e2e": e2e}[args.mode](args)


if __name__ == "__main__":
    main()
