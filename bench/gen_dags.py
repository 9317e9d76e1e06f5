#!/usr/bin/env python3
"""Generate a folder of realistic lithoflow DAG files (TOML) for benchmarks.

Every DAG is built from a seeded random generator, so the same arguments always give
byte-identical files. With --airflow-out the same DAGs are also written as Airflow
Python files (PythonOperator tasks, same ids, same edges, same settings), so the two
schedulers parse equivalent work.

    python3 bench/gen_dags.py --out bench/.work/dags_1000 --dags 1000 --tasks 20 \
        [--airflow-out bench/.work/airflow_dags_1000] [--seed 42]

What a generated DAG holds (docs/dag-format.md describes the format):
  * top level: dag_id, description, schedule (cron strings and presets, a few
    manual-only and @once DAGs), start_date, catchup, max_active_runs,
    max_active_tasks, dagrun_timeout, tags, sometimes timezone, end_date, params,
    timetable and [lithops_config];
  * [default_args]: owner, retries, retry_delay, execution_timeout, sometimes
    retry_exponential_backoff / max_retry_delay;
  * N tasks mixing call_async (~50%), map (~30%) and map_reduce (~20%), with
    `upstream` edges, `data_from_task` (call_async fed by a scalar result) and
    `iterdata_from_task` (map/map_reduce over a map task's list), plus per-task
    overrides (retries, trigger_rule, timeout, runtime_memory, extra_env, ...).

Functions live in `bench_functions.py`, written next to the DAG files.
"""

import argparse
import json
import os
import random
import shutil
import sys

FUNCTIONS_PY = '''"""Functions the generated benchmark DAGs call (lithoflow and Airflow alike)."""


def add(x, y=0, **_):
    """Return x + y."""
    return x + y


def scale(x, factor=2, **_):
    """Return x * factor."""
    return x * factor


def total(results):
    """Reducer: the sum of the map results."""
    return sum(results)


def largest(results):
    """Reducer: the largest map result."""
    return max(results)


def map_call(func, iterdata, extra=None, reduce=None):
    """Airflow side: run `func` over `iterdata` (optionally reduce), like a Lithops map."""
    fn = globals()[func]
    extra = extra or {}
    out = [fn(x, **extra) for x in iterdata]
    return globals()[reduce](out) if reduce else out
'''

SCHEDULES = [
    "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
    "*/5 * * * *", "*/15 * * * *", "0 */2 * * *", "30 6 * * 1-5", "0 0 1,15 * *",
    "15 3 * * 0", "0 9-17 * * 1-5", "45 23 * * *", "0 12 * * 6,0", "@once", None,
]
TAG_POOL = ["etl", "reporting", "ml", "lithops", "finance", "marketing", "ingest",
            "daily", "hourly", "team-a", "team-b", "critical", "experimental", "s3"]
OWNERS = ["data-eng", "analytics", "ml-platform", "airflow", "ops"]
VERBS = ["extract", "load", "clean", "score", "join", "enrich", "aggregate", "export",
         "validate", "index", "resize", "parse", "dedupe", "train", "publish"]
TIMEZONES = ["Europe/Amsterdam", "America/New_York", "Asia/Tokyo", "UTC"]
TRIGGER_RULES = ["all_success", "all_done", "one_success", "none_failed",
                 "none_failed_min_one_success", "all_failed", "always"]
DURATIONS = {"30s": 30, "1m": 60, "2m": 120, "5m": 300, "10m": 600, "15m": 900,
             "30m": 1800, "1h": 3600, "2h": 7200, "1h30m": 5400}


def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string for our ASCII text


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def make_dag(i, n_tasks, rnd):
    """One DAG as a plain dict: the single source both writers render."""
    dag = {"dag_id": f"bench_dag_{i:04d}"}
    dag["description"] = f"benchmark DAG {i}: {n_tasks} Lithops tasks"
    dag["schedule"] = SCHEDULES[i % len(SCHEDULES)]
    dag["start_date"] = (2026, 1 + i % 12, 1 + i % 28)
    if i % 7 == 0:
        dag["end_date"] = (2028, 12, 31)
    if i % 5 == 0:
        dag["timezone"] = TIMEZONES[i % len(TIMEZONES)]
    if i % 4 == 0:
        dag["timetable"] = "cron_data_interval" if i % 8 == 0 else "cron_trigger"
    dag["catchup"] = False
    dag["is_paused_upon_creation"] = i % 3 != 0
    dag["max_active_runs"] = rnd.choice([1, 1, 2, 4, 16])
    dag["max_active_tasks"] = rnd.choice([4, 8, 16, 32])
    dag["dagrun_timeout"] = rnd.choice(["1h", "2h", "30m", "1h30m"])
    dag["tags"] = sorted(rnd.sample(TAG_POOL, rnd.randint(1, 4)))
    if i % 2 == 0:
        dag["params"] = {"n": rnd.randint(1, 100), "env": rnd.choice(["prod", "staging"])}
    if i % 6 == 0:
        dag["lithops_config"] = {"backend": "localhost", "storage": "localhost"}
    default_args = {
        "owner": rnd.choice(OWNERS),
        "retries": rnd.randint(0, 3),
        "retry_delay": rnd.choice(["30s", "1m", "5m"]),
        "execution_timeout": rnd.choice(["10m", "15m", "30m"]),
    }
    if i % 3 == 0:
        default_args["retry_exponential_backoff"] = 2.0
        default_args["max_retry_delay"] = "1h"
    dag["default_args"] = default_args

    tasks = []
    scalar_tasks = []  # tasks whose result is a number (call_async, map_reduce)
    list_tasks = []    # tasks whose result is a list (map)
    for k in range(n_tasks):
        # The first two tasks are always a call_async and a map, so later tasks have
        # something of each kind to reference.
        if k == 0:
            ty = "call_async"
        elif k == 1:
            ty = "map"
        else:
            r = rnd.random()
            ty = "call_async" if r < 0.5 else ("map" if r < 0.8 else "map_reduce")
        t = {"task_id": f"{VERBS[(i + k) % len(VERBS)]}_{k:02d}", "type": ty}
        refs = set()
        if ty == "call_async":
            t["func"] = rnd.choice(["bench_functions:add", "bench_functions:scale"])
            if t["func"].endswith(":add"):
                if scalar_tasks and rnd.random() < 0.6:
                    src = rnd.choice(scalar_tasks)
                    t["data"] = {"x": rnd.randint(0, 99)}
                    t["data_from_task"] = {"y": src}
                    refs.add(src)
                else:
                    t["data"] = {"x": rnd.randint(0, 99), "y": rnd.randint(0, 99)}
            else:
                t["data"] = {"x": rnd.randint(0, 99), "factor": rnd.randint(2, 5)}
        else:
            t["map_function"] = "bench_functions:add"
            if list_tasks and rnd.random() < 0.5:
                src = rnd.choice(list_tasks)
                t["iterdata_from_task"] = src
                refs.add(src)
            else:
                t["map_iterdata"] = [rnd.randint(0, 9) for _ in range(rnd.randint(3, 8))]
            t["extra_params"] = {"y": rnd.randint(1, 5)}
            if ty == "map_reduce":
                t["reduce_function"] = rnd.choice(["bench_functions:total",
                                                   "bench_functions:largest"])
                if rnd.random() < 0.3:
                    t["map_runtime_memory"] = rnd.choice([256, 512])
                    t["reduce_runtime_memory"] = 1024
            elif rnd.random() < 0.2:
                t["invoke_pool_threads"] = rnd.choice([32, 64, 128])
        # Plain upstream edges to earlier tasks not already referenced through data.
        if k > 0:
            earlier = [x["task_id"] for x in tasks if x["task_id"] not in refs]
            n_up = rnd.choice([0, 1, 1, 2]) if not refs else rnd.choice([0, 0, 1])
            ups = sorted(rnd.sample(earlier, min(n_up, len(earlier))))
            if ups:
                t["upstream"] = ups
        # Per-task overrides of default_args and Lithops parameters.
        r = rnd.random()
        if r < 0.15:
            t["retries"] = rnd.randint(0, 5)
        elif r < 0.25 and (refs or "upstream" in t):
            t["trigger_rule"] = rnd.choice(TRIGGER_RULES)
        elif r < 0.35:
            t["timeout"] = rnd.choice(["2m", "5m"])
            t["runtime_memory"] = rnd.choice([256, 512, 1024, 2048])
        elif r < 0.40:
            t["extra_env"] = {"STAGE": rnd.choice(["prod", "staging"]), "LEVEL": str(k)}
        elif r < 0.45:
            t["owner"] = rnd.choice(OWNERS)
        t["deps"] = sorted(refs | set(t.get("upstream", [])))
        tasks.append(t)
        (list_tasks if ty == "map" else scalar_tasks).append(t["task_id"])
    dag["tasks"] = tasks
    return dag


def render_toml(dag):
    out = ["# Generated by bench/gen_dags.py; do not edit.",
           f"dag_id = {toml_str(dag['dag_id'])}",
           f"description = {toml_str(dag['description'])}"]
    if dag["schedule"] is not None:
        out.append(f"schedule = {toml_str(dag['schedule'])}")
    if "timetable" in dag:
        out.append(f"timetable = {toml_str(dag['timetable'])}")
    y, m, d = dag["start_date"]
    if "timezone" in dag:
        out.append(f"start_date = {y:04d}-{m:02d}-{d:02d}T00:00:00")
        out.append(f"timezone = {toml_str(dag['timezone'])}")
    else:
        out.append(f"start_date = {y:04d}-{m:02d}-{d:02d}T00:00:00Z")
    if "end_date" in dag:
        y, m, d = dag["end_date"]
        out.append(f"end_date = {y:04d}-{m:02d}-{d:02d}")
    for key in ("catchup", "is_paused_upon_creation", "max_active_runs",
                "max_active_tasks", "dagrun_timeout", "tags"):
        out.append(f"{key} = {toml_value(dag[key])}")
    if "params" in dag:
        out.append(f"params = {toml_value(dag['params'])}")
    out.append("")
    out.append("[default_args]")
    for k, v in dag["default_args"].items():
        out.append(f"{k} = {toml_value(v)}")
    if "lithops_config" in dag:
        out.append("")
        out.append("[lithops_config]")
        for k, v in dag["lithops_config"].items():
            out.append(f"{k} = {toml_value(v)}")
    for t in dag["tasks"]:
        out.append("")
        out.append(f"[tasks.{t['task_id']}]")
        for k, v in t.items():
            if k in ("task_id", "deps"):
                continue
            out.append(f"{k} = {toml_value(v)}")
    return "\n".join(out) + "\n"


def render_airflow(dag):
    """The same DAG as an Airflow 2 Python file."""
    secs = lambda s: DURATIONS[s]  # noqa: E731
    da = dag["default_args"]
    default_args = {
        "owner": da["owner"],
        "retries": da["retries"],
    }
    lines = [
        "# Generated by bench/gen_dags.py; do not edit.",
        "from datetime import timedelta",
        "",
        "import pendulum",
        "from airflow import DAG",
        "from airflow.operators.python import PythonOperator",
        "",
        "from bench_functions import add, map_call, scale",
        "",
        "default_args = {",
        f"    'owner': {da['owner']!r},",
        f"    'retries': {da['retries']},",
        f"    'retry_delay': timedelta(seconds={secs(da['retry_delay'])}),",
        f"    'execution_timeout': timedelta(seconds={secs(da['execution_timeout'])}),",
    ]
    if "retry_exponential_backoff" in da:
        lines.append("    'retry_exponential_backoff': True,")
        lines.append(f"    'max_retry_delay': timedelta(seconds={secs(da['max_retry_delay'])}),")
    lines.append("}")
    lines.append("")
    tz = dag.get("timezone", "UTC")
    y, m, d = dag["start_date"]
    args = [
        f"dag_id={dag['dag_id']!r}",
        f"description={dag['description']!r}",
        f"schedule={dag['schedule']!r}",
        f"start_date=pendulum.datetime({y}, {m}, {d}, tz={tz!r})",
    ]
    if "end_date" in dag:
        y2, m2, d2 = dag["end_date"]
        args.append(f"end_date=pendulum.datetime({y2}, {m2}, {d2}, tz={tz!r})")
    args += [
        f"catchup={dag['catchup']!r}",
        f"is_paused_upon_creation={dag['is_paused_upon_creation']!r}",
        f"max_active_runs={dag['max_active_runs']}",
        f"max_active_tasks={dag['max_active_tasks']}",
        f"dagrun_timeout=timedelta(seconds={secs(dag['dagrun_timeout'])})",
        f"tags={dag['tags']!r}",
        "default_args=default_args",
        # XCom pulls in op_kwargs render as Python values (lists, numbers), not strings.
        "render_template_as_native_obj=True",
    ]
    if "params" in dag:
        args.append(f"params={dag['params']!r}")
    lines.append("with DAG(")
    lines += [f"    {a}," for a in args]
    lines.append(") as dag:")
    var = {}
    for n, t in enumerate(dag["tasks"]):
        v = f"t{n:02d}"
        var[t["task_id"]] = v
        kw = [f"task_id={t['task_id']!r}"]
        if t["type"] == "call_async":
            fn = t["func"].split(":")[1]
            op_kwargs = dict(t["data"])
            for arg, src in t.get("data_from_task", {}).items():
                op_kwargs[arg] = "{{ ti.xcom_pull(task_ids='%s') }}" % src
            kw += [f"python_callable={fn}", f"op_kwargs={op_kwargs!r}"]
        else:
            op_kwargs = {"func": t["map_function"].split(":")[1]}
            if "map_iterdata" in t:
                op_kwargs["iterdata"] = t["map_iterdata"]
            else:
                op_kwargs["iterdata"] = "{{ ti.xcom_pull(task_ids='%s') }}" % t["iterdata_from_task"]
            op_kwargs["extra"] = t["extra_params"]
            if "reduce_function" in t:
                op_kwargs["reduce"] = t["reduce_function"].split(":")[1]
            kw += ["python_callable=map_call", f"op_kwargs={op_kwargs!r}"]
        if "retries" in t:
            kw.append(f"retries={t['retries']}")
        if "trigger_rule" in t:
            kw.append(f"trigger_rule={t['trigger_rule']!r}")
        if "timeout" in t:
            kw.append(f"execution_timeout=timedelta(seconds={secs(t['timeout'])})")
        # extra_env, runtime_memory and chunking have no PythonOperator equivalent.
        if "owner" in t:
            kw.append(f"owner={t['owner']!r}")
        lines.append(f"    {v} = PythonOperator(")
        lines += [f"        {a}," for a in kw]
        lines.append("    )")
    lines.append("")
    for t in dag["tasks"]:
        for dep in t["deps"]:
            lines.append(f"    {var[dep]} >> {var[t['task_id']]}")
    return "\n".join(lines) + "\n"


def write_folder(path, files):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    for name, text in files:
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the TOML DAG files (recreated)")
    ap.add_argument("--dags", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--airflow-out", help="also write the DAGs as Airflow Python files here")
    a = ap.parse_args()
    if a.tasks < 2:
        sys.exit("--tasks must be at least 2")
    rnd = random.Random(a.seed)
    dags = [make_dag(i, a.tasks, rnd) for i in range(a.dags)]
    toml_files = [(f"{d['dag_id']}.toml", render_toml(d)) for d in dags]
    write_folder(a.out, toml_files + [("bench_functions.py", FUNCTIONS_PY)])
    size = sum(len(t) for _, t in toml_files)
    print(f"wrote {len(dags)} DAG files x {a.tasks} tasks to {a.out} "
          f"({size / 1e6:.1f} MB of TOML)")
    if a.airflow_out:
        py_files = [(f"{d['dag_id']}.py", render_airflow(d)) for d in dags]
        # .airflowignore keeps DagBag from importing the functions module as a DAG file.
        write_folder(a.airflow_out, py_files + [("bench_functions.py", FUNCTIONS_PY),
                                                (".airflowignore", "bench_functions\\.py\n")])
        print(f"wrote {len(dags)} Airflow DAG files to {a.airflow_out}")


if __name__ == "__main__":
    main()
