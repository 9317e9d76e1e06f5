"""Loads a generated folder of Airflow DAG files with lithoflow's loader processes and prints
how long it took, cold (the loader processes start inside the measured time).

    python3 executor/python/tests/bench_loader.py [--files 1000] [--tasks 20] [--loaders 2]

Not a test (no timed assertion): a figure for docs and reviews.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.join(os.path.dirname(HERE), "compat")
LOADER = os.path.join(COMPAT, "lithoflow_loader.py")

TEMPLATE = '''"""Generated benchmark DAG {n}."""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator


def work(x, **context):
    return x * 2


default_args = {{"owner": "bench", "retries": 1, "retry_delay": timedelta(minutes=1)}}

with DAG(
    dag_id="bench_{n:04d}",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args=default_args,
    tags=["bench"],
) as dag:
    start = EmptyOperator(task_id="start")
    previous = start
    for i in range({half}):
        b = BashOperator(task_id=f"bash_{{i}}", bash_command=f"echo {{i}}")
        p = PythonOperator(task_id=f"py_{{i}}", python_callable=work, op_kwargs={{"x": i}})
        previous >> b >> p
        previous = p
    end = EmptyOperator(task_id="end")
    previous >> end
'''


def generate(folder, files, tasks):
    half = max(0, (tasks - 2) // 2)
    for n in range(files):
        with open(os.path.join(folder, "bench_%04d.py" % n), "w") as f:
            f.write(TEMPLATE.format(n=n, half=half))


def run(folder, loaders, timeout_s=30, memory_mb=2048):
    # Cold: no byte code cached from an earlier run.
    shutil.rmtree(os.path.join(folder, "__pycache__"), ignore_errors=True)
    paths = sorted(os.path.join(folder, p) for p in os.listdir(folder) if p.endswith(".py"))
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") or k.startswith("LITHOFLOW_LOADER_")}
    cpu0 = os.times()
    started = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-u", LOADER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         cwd=folder, env=env)
        for _ in range(loaders)
    ]
    # Each loader gets its share up front (the scheduler's pool keeps each one busy likewise).
    for i, p in enumerate(procs):
        lines = []
        for j, path in enumerate(paths[i::loaders]):
            lines.append(json.dumps({"id": "%d-%d" % (i, j), "op": "load", "path": path, "dags_folder": folder,
                                     "default_version": 2, "timeout_s": timeout_s, "memory_mb": memory_mb}))
        p.stdin.write(("\n".join(lines) + "\n").encode())
        p.stdin.flush()
    ok = failed = dags = tasks = 0
    first_error = None
    for i, p in enumerate(procs):
        want = len(paths[i::loaders])
        while want:
            msg = json.loads(p.stdout.readline())
            if msg.get("op") != "result":
                continue
            want -= 1
            if msg["ok"]:
                ok += 1
                dags += len(msg["dags"])
                tasks += sum(len(d["tasks"]) for d in msg["dags"])
            else:
                failed += 1
                first_error = first_error or msg["error"]
    elapsed = time.monotonic() - started
    for p in procs:
        p.stdin.close()
        p.wait()
    cpu1 = os.times()
    cpu = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)
    load = os.getloadavg()[0]
    return {"files": len(paths), "ok": ok, "failed": failed, "dags": dags, "tasks": tasks,
            "loaders": loaders, "seconds": round(elapsed, 3),
            # CPU seconds of the loaders and their children: the figure to compare on a busy machine.
            "cpu_seconds": round(cpu, 3), "load_average_1m": round(load, 2), "first_error": first_error}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--loaders", type=int, default=2)
    ap.add_argument("--folder", help="an existing folder of DAG files (else a generated one)")
    args = ap.parse_args()
    folder = args.folder
    tmp = None
    if folder is None:
        tmp = folder = tempfile.mkdtemp(prefix="lithoflow-bench-")
        generate(folder, args.files, args.tasks)
    try:
        print(json.dumps(run(os.path.abspath(folder), args.loaders)))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
