#!/usr/bin/env python3
"""Prefect 3 and Dagster runs of the DAG benchmark (bench/peers/dags.sh).

    peer_dags.py prefect chain N    a flow calling N tasks noop(i) one after the other
    peer_dags.py prefect fanout N   a flow: root, then N tasks submitted after it
                                    (wait_for=[root]), then join (wait_for=all N)
    peer_dags.py dagster chain N    a job of N ops t0000 >> t0001 >> ..., execute_in_process()
    peer_dags.py dagster fanout N   a job root >> N ops >> join, execute_in_process()

Every task is noop(i) -> i, as in lithoflow's DAGs (bench/runs/gen_dags.py): the benchmark
measures the orchestration, not the work. Both run with their defaults: Prefect 3 without
a configured server (it starts its temporary local server; PREFECT_HOME is set by the
caller) and the default thread-pool task runner; Dagster's in-process executor with an
ephemeral instance. Prints one JSON line {"inner_s": the run alone, "tasks": ...}; run
with the venv's interpreter of the tool.
"""

import json
import sys
import time


def noop(i):
    return i


def prefect_run(kind, n):
    from prefect import flow, task

    t_noop = task(noop, name="noop")

    @flow(name=f"bench_{kind}_{n}")
    def chain_flow():
        for i in range(n):
            t_noop(i)
        return n

    @flow(name=f"bench_{kind}_{n}")
    def fanout_flow():
        root = t_noop.submit(-1)
        kids = [t_noop.submit(i, wait_for=[root]) for i in range(n)]
        join = t_noop.submit(n, wait_for=kids)
        join.result()
        for k in kids:
            k.result()
        return n + 2

    t0 = time.perf_counter()
    tasks = (chain_flow if kind == "chain" else fanout_flow)()
    return {"inner_s": time.perf_counter() - t0, "tasks": tasks}


def dagster_run(kind, n):
    from dagster import In, Nothing, job, op

    def make(name, i):
        @op(name=name, ins={"after": In(Nothing)})
        def _op():
            return noop(i)

        return _op

    if kind == "chain":
        width = max(4, len(str(n - 1)))
        ops = [make(f"t{i:0{width}d}", i) for i in range(n)]

        @job(name=f"bench_chain_{n}")
        def the_job():
            prev = ops[0]()
            for o in ops[1:]:
                prev = o(after=prev)
    else:
        width = max(4, len(str(n - 1)))
        root_op = make("root", -1)
        kid_ops = [make(f"c{i:0{width}d}", i) for i in range(n)]
        join_op = make("join", n)

        @job(name=f"bench_fanout_{n}")
        def the_job():
            r = root_op()
            join_op(after=[k(after=r) for k in kid_ops])

    t0 = time.perf_counter()
    res = the_job.execute_in_process()
    inner = time.perf_counter() - t0
    if not res.success:
        sys.exit("dagster run failed")
    steps = sum(1 for e in res.all_events if e.event_type_value == "STEP_SUCCESS")
    return {"inner_s": inner, "tasks": steps}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("prefect", "dagster") or sys.argv[2] not in ("chain", "fanout"):
        sys.exit(__doc__)
    tool, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = prefect_run(kind, n) if tool == "prefect" else dagster_run(kind, n)
    want = n if kind == "chain" else n + 2
    if out["tasks"] != want:
        sys.exit(f"{tool} ran {out['tasks']} tasks, expected {want}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
