#!/usr/bin/env python3
"""The time from an edit of an Airflow DAG file (.py) to a running `lithoflow scheduler`
showing the change through its API. Used by bench/pydags/run.sh; standard library only.

    edit.py BINARY DAGS_FOLDER HOME RUNTIME EXPECT_DAGS EDITS OUT.json

Starts the scheduler on DAGS_FOLDER in a fresh HOME, waits until the API lists
EXPECT_DAGS DAGs, then EDITS times: appends a task `edit_<i>` to one of the files (whole:
written beside it and renamed, as an editor or `git checkout` does), and polls
`GET /api/v1/dags/<id>/tasks` every 5 ms until the task is there. Prints and writes each
latency (seconds, from just before the rename to the first answer that has the task).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lfdaemon  # noqa: E402


def main():
    binary, dags, home, runtime, expect, edits, out = sys.argv[1:8]
    expect, edits = int(expect), int(edits)
    lfdaemon.fresh_home(home, runtime)
    p, api, ready = lfdaemon.start_scheduler(
        binary, dags, home, os.path.join(home, "scheduler.log"), expect, "edit", wait=600
    )
    files = sorted(f for f in os.listdir(dags) if f.endswith(".py") and f != "bench_functions.py")
    latencies = []
    try:
        for i in range(edits):
            name = files[(i * 37) % len(files)]
            dag_id = name[:-3]
            path = os.path.join(dags, name)
            with open(path) as f:
                text = f.read()
            text += (
                f"\n    PythonOperator(task_id='edit_{i}', python_callable=add, "
                f"op_kwargs={{'x': {i}, 'y': 1}})\n"
            )
            tmp = os.path.join(dags, f".{name}.edit")
            with open(tmp, "w") as f:
                f.write(text)
            t0 = time.monotonic()
            os.rename(tmp, path)
            while True:
                status, body, _ = api.request("GET", f"/api/v1/dags/{dag_id}/tasks")
                if status == 200 and any(
                    t["task_id"] == f"edit_{i}" for t in json.loads(body)["tasks"]
                ):
                    break
                if time.monotonic() - t0 > 120:
                    raise SystemExit(f"edit {i} of {name} not seen after 120 s")
                time.sleep(0.005)
            latencies.append(time.monotonic() - t0)
            lfdaemon.log("edit", f"{name}: task edit_{i} seen after {latencies[-1] * 1000:.0f} ms")
    finally:
        lfdaemon.stop_scheduler(p)
    result = {"ready_s": ready["dags_listed"], "latencies_s": latencies, **lfdaemon.summary(latencies)}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
