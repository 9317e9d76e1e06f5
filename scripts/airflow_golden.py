#!/usr/bin/env python3
"""Ground truth for the Airflow DAG-file corpus, from a real Airflow.

    /work/venvs/af2/bin/python scripts/airflow_golden.py [--run] [FILE.py ...]
    /work/venvs/af3/bin/python scripts/airflow_golden.py [--run] [FILE.py ...]

Run with the interpreter of a venv holding a real Airflow: 2.10.x for the Airflow 1.10/2
files, 3.1.x for the files that import `airflow.sdk` or `airflow.providers.standard`
(each run skips the files of the other major version). With no FILE, every `*.py` file
directly in tests/fixtures/airflow_py/ that Airflow's safe mode would read. For each file
it writes tests/fixtures/airflow_py/golden/<stem>.json:

    {"file": "x.py", "airflow": "2.10.5", "shims": [...], "stubbed_providers": [...],
     "import_error": null | {"type": "...", "message": "..."},
     "dags": [{"dag_id", "tasks": [sorted ids], "edges": [[up, down], ...],
               "operators": {task_id: task_type}, "schedule": "...", "catchup": bool}],
     "runs": {dag_id: {"state": "success", "tasks": {"t" or "t[i]": {"state", "xcom"}}}}}

`runs` is written with --run, for the DAGs in RUNNABLE only (self-contained: no network,
no other DAG), from `dag.test()` on a throw-away SQLite database.

What the real Airflow cannot import by itself is filled in, and the golden says so:
- `shims`: the Lithops plugin's operators (`airflow.operators.lithops_airflow_plugin`,
  `airflow.operators.cloudbutton_airflow_plugin`, as Airflow 1.10's plugin manager exposed
  them) are stand-ins with the plugin's constructor arguments, subclasses of the real
  BaseOperator (so ids and edges are Airflow's own); Airflow 1.10's flat
  `from airflow.operators import BashOperator` is mapped to the 2.x classes.
- `stubbed_providers`: a provider package that is not installed (google, cncf.kubernetes,
  ...) or an operator its installed version no longer has is a stand-in BaseOperator
  subclass of the same name and module, accepting any argument: the structure is what
  Airflow computes, the class name is the one the file imports.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "airflow_py"
GOLDEN = CORPUS / "golden"

# DAGs run with dag.test() under --run: self-contained (no network, no other DAG's runs,
# no interpreter other than this one).
RUNNABLE = {
    "af1_classic",
    "af1_operators_package",
    "af1_sensor_subclass",
    "af2_classic_etl",
    "af3_sdk_dag",
    "af3_sdk_producer",
    "af3_standard_providers",
    "branching",
    "callbacks",
    "chain_helpers",
    "custom_operators",
    "dynamic_loop_fileid",
    "factory_orders",
    "helper_sales",
    "helper_width",
    "mapping_dynamic",
    "mixed_classic_taskflow",
    "params_templates",
    "sensors_core",
    "taskflow_basic",
    "taskflow_unbound",
    "taskflow_variants",
    "taskgroups_nested",
    "trigger_rules",
    "variables_parse_time",
}

# Provider packages the golden may stand in for when they are not installed.
STUBBABLE = ("google", "cncf", "amazon", "postgres", "snowflake", "databricks", "sqlite")


def airflow3_file(text: str) -> bool:
    return "airflow.sdk" in text or "airflow.providers.standard" in text


def safe_mode_dag_file(text: str) -> bool:
    low = text.lower()
    return "airflow" in low and "dag" in low


class ProviderStubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path: a provider module no other finder has becomes a stub."""

    def __init__(self, base):
        self.base = base
        self.used: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if len(parts) < 3 or parts[:2] != ["airflow", "providers"] or parts[2] not in STUBBABLE:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        base = self.base
        used = self.used
        name = module.__name__
        module.__path__ = []

        def __getattr__(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            used.add(name)

            def __init__(self, *args, **kwargs):
                known = {"task_id", "dag", "trigger_rule", "retries", "retry_delay", "task_group",
                         "default_args", "owner", "pool", "queue", "params"}
                base.__init__(self, **{k: v for k, v in kwargs.items() if k in known})

            cls = type(attr, (base,), {"__init__": __init__, "__module__": name})
            setattr(module, attr, cls)
            return cls

        module.__getattr__ = __getattr__


def install_shims(text: str, shims: list[str]):
    """The Lithops plugin's operators and Airflow 1.10's flat operator imports."""
    import airflow.operators as ops

    if airflow3_file(text):
        from airflow.sdk import BaseOperator
    else:
        from airflow.models.baseoperator import BaseOperator

    class LithopsOperator(BaseOperator):
        ui_color = "#c4daff"

        def __init__(self, type=None, config=None, backend=None, storage=None, runtime=None,
                     runtime_memory=None, rabbitmq_monitor=None, workers=None, remote_invoker=None,
                     async_invoke=False, get_result=True, **kwargs):
            self.lithops_config = config or {}
            super().__init__(**kwargs)

    class CallAsync(LithopsOperator):
        def __init__(self, func, data=None, data_from_task=None, extra_env=None, timeout=None,
                     include_modules=(), exclude_modules=(), **kwargs):
            self.func, self.data, self.data_from_task = func, data, data_from_task
            super().__init__(**kwargs)

    class Map(LithopsOperator):
        def __init__(self, map_function, map_iterdata=None, iterdata_from_task=None, extra_args=None,
                     extra_params=None, extra_env=None, chunk_size=None, chunk_n=None, timeout=None,
                     invoke_pool_threads=500, include_modules=(), exclude_modules=(), **kwargs):
            self.map_function = map_function
            super().__init__(**kwargs)

    class MapReduce(LithopsOperator):
        def __init__(self, map_function, reduce_function, map_iterdata=None, iterdata_from_task=None,
                     extra_args=None, extra_params=None, extra_env=None, map_runtime_memory=None,
                     reduce_runtime_memory=None, chunk_size=None, chunk_n=None, timeout=None,
                     invoke_pool_threads=500, reducer_one_per_object=False, reducer_wait_local=False,
                     include_modules=(), exclude_modules=(), **kwargs):
            self.map_function, self.reduce_function = map_function, reduce_function
            super().__init__(**kwargs)

    for plugin, prefix in (("lithops_airflow_plugin", "Lithops"), ("cloudbutton_airflow_plugin", "Cloudbutton")):
        if plugin not in text:
            continue
        mod = types.ModuleType(f"airflow.operators.{plugin}")
        for suffix, base in (("CallAsyncOperator", CallAsync), ("MapOperator", Map),
                             ("MapReduceOperator", MapReduce)):
            cls = type(prefix + suffix, (base,), {"__module__": mod.__name__})
            setattr(mod, cls.__name__, cls)
        sys.modules[mod.__name__] = mod
        setattr(ops, plugin, mod)
        shims.append(f"airflow.operators.{plugin}: stand-ins with the Lithops plugin's arguments")

    if "from airflow.operators import" in text:
        from airflow.operators.bash import BashOperator
        from airflow.operators.empty import EmptyOperator
        from airflow.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator

        ops.BashOperator = BashOperator
        ops.DummyOperator = EmptyOperator
        ops.PythonOperator = PythonOperator
        ops.BranchPythonOperator = BranchPythonOperator
        ops.ShortCircuitOperator = ShortCircuitOperator
        shims.append("from airflow.operators import X: Airflow 1.10's flat names mapped to the 2.x classes")


def describe(dag) -> dict:
    tasks = sorted(dag.task_dict)
    edges = sorted([t, d] for t in tasks for d in dag.task_dict[t].downstream_task_ids)
    operators = {t: dag.task_dict[t].task_type for t in tasks}
    try:
        schedule = dag.timetable.summary
    except Exception:  # noqa: BLE001 - informative only
        schedule = None
    return {
        "dag_id": dag.dag_id,
        "tasks": tasks,
        "edges": edges,
        "operators": operators,
        "schedule": schedule,
        "catchup": bool(dag.catchup),
    }


def jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def run_dag(dag) -> dict:
    dr = dag.test()
    tasks = {}
    for ti in dr.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        xcom = None
        if ti.state == "success":
            if ti.map_index < 0:
                xcom = ti.xcom_pull(task_ids=ti.task_id)
            else:
                xcom = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
        tasks[key] = {"state": str(ti.state), "xcom": jsonable(xcom)}
    return {"state": str(dr.state), "tasks": dict(sorted(tasks.items()))}


def golden_for(path: Path, run: bool) -> dict:
    import airflow
    from airflow.models.dagbag import DagBag

    text = path.read_text()
    shims: list[str] = []
    install_shims(text, shims)
    if airflow3_file(text):
        from airflow.sdk import BaseOperator
    else:
        from airflow.models.baseoperator import BaseOperator
    stubs = ProviderStubs(BaseOperator)
    sys.meta_path.append(stubs)
    try:
        bag = DagBag(dag_folder=str(path), include_examples=False, safe_mode=False)
    finally:
        sys.meta_path.remove(stubs)
    out = {
        "file": path.name,
        "airflow": airflow.__version__,
        "shims": shims,
        "stubbed_providers": sorted(stubs.used),
        "import_error": None,
        "dags": [],
    }
    errors = dict(bag.import_errors)
    if errors:
        message = next(iter(errors.values()))
        last = [line for line in message.strip().splitlines() if line.strip()][-1]
        kind, _, rest = last.partition(":")
        out["import_error"] = {"type": kind.strip().rsplit(".", 1)[-1], "message": rest.strip()}
    dags = [bag.dags[d] for d in sorted(bag.dags)]
    out["dags"] = [describe(d) for d in dags]
    if run:
        runs = {}
        for d in dags:
            if d.dag_id in RUNNABLE:
                try:
                    runs[d.dag_id] = run_dag(d)
                except Exception as e:  # noqa: BLE001 - recorded, never hidden
                    runs[d.dag_id] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
        out["runs"] = runs
    return out


def prepare_home(run: bool) -> None:
    """A throw-away AIRFLOW_HOME (SQLite, migrated: parse-time Variable.get reads it) with
    the corpus as its DAGs folder."""
    home = Path(tempfile.mkdtemp(prefix="airflow-golden-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    # The DAGs folder: the corpus without hostile/ (Airflow 3's dag.test() parses the whole
    # folder, and hostile/hard_exit.py would end this process).
    dags = home / "dags"
    dags.mkdir()
    for entry in CORPUS.iterdir():
        if entry.name not in ("hostile", "golden"):
            (dags / entry.name).symlink_to(entry)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    # Airflow's default connection for FileSensor (`airflow db reset` creates it; `db migrate`
    # on a new database does not).
    os.environ["AIRFLOW_CONN_FS_DEFAULT"] = json.dumps({"conn_type": "fs", "extra": {"path": "/"}})
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "30")
    airflow_bin = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow_bin), "db", "migrate"], check=True, capture_output=True)
    sys.path.insert(0, str(CORPUS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--run", action="store_true", help="also run the RUNNABLE DAGs with dag.test()")
    args = parser.parse_args()
    prepare_home(args.run)
    import airflow

    major = int(airflow.__version__.split(".")[0])
    files = args.files or sorted(p for p in CORPUS.glob("*.py") if safe_mode_dag_file(p.read_text()))
    GOLDEN.mkdir(exist_ok=True)
    for path in files:
        path = path.resolve()
        text = path.read_text()
        if (3 if airflow3_file(text) else 2) != major:
            continue
        result = golden_for(path, args.run)
        (GOLDEN / f"{path.stem}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        err = result["import_error"]
        print(f"{path.name}: {len(result['dags'])} DAGs, "
              f"{sum(len(d['tasks']) for d in result['dags'])} tasks"
              + (f", import error {err['type']}" if err else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
