"""Tasks of DAG files written against lithoflow's ``airflow`` package, run on the worker
through the real runtime: the import paths and classes real DAG files use."""

import os
import sys
import unittest

from tests import test_shims_support as kit


class ClassicTest(kit.ShimCase):
    def test_python_operators_lambdas_and_factory_dags(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

def build(dag_id, n):
    with DAG(dag_id, start_date=datetime.datetime(2026, 1, 1), schedule="@daily",
             default_args={"retries": 2}) as dag:
        prev = None
        for i in range(n):
            t = PythonOperator(task_id="step_%d" % i, python_callable=lambda i=i, **ctx: [i, ctx["ds"], ctx["task"].retries])
            if prev is not None:
                prev >> t
            prev = t
    return dag

for name, n in (("alpha", 2), ("beta", 3)):
    globals()["dag_" + name] = build("factory_" + name, n)
''')
        self.assertOk(self.call(path, "factory_beta", "step_2", "python_callable"), [2, "2026-01-02", 2])
        self.assertOk(self.call(path, "factory_alpha", "step_0", "python_callable"), [0, "2026-01-02", 2])

    def test_an_unbound_with_dag_block_is_found(self):
        path = self.dag_file('''
import datetime
from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator

with DAG("unbound", start_date=datetime.datetime(2026, 1, 1), schedule=None):
    PythonOperator(task_id="t", python_callable=lambda: "found")
''')
        self.assertOk(self.call(path, "unbound", "t", "python_callable"), "found")

    def test_custom_operator_with_template_fields_and_an_xcom_arg(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.operators.python import PythonOperator

class Report(BaseOperator):
    template_fields = ("title", "rows")
    template_ext = (".sql",)

    def __init__(self, title, rows, **kwargs):
        super().__init__(**kwargs)
        self.title = title
        self.rows = rows

    def execute(self, context):
        context["ti"].xcom_push(key="title", value=self.title)
        return {"title": self.title, "rows": self.rows, "task": context["task"].task_id,
                "owner": self.owner, "retries": self.retries}

with DAG("reports", start_date=datetime.datetime(2026, 1, 1), default_args={"owner": "ann", "retries": 1}) as dag:
    rows = PythonOperator(task_id="rows", python_callable=lambda: [1, 2])
    Report(task_id="report", title="Report {{ ds }}", rows=rows.output)
''')
        self.host.xcoms[("rows", "return_value")] = [[1, 2]]
        resp = self.call(path, "reports", "report", "execute", args=[{"title": "Report 2026-01-02"}])
        self.assertOk(resp, {"title": "Report 2026-01-02", "rows": [1, 2], "task": "report", "owner": "ann", "retries": 1})
        self.assertEqual(self.host.pushed, [("title", "Report 2026-01-02")])
        # The scheduler rendered the XComArg's template to text: the worker gives the value.
        resp = self.call(path, "reports", "report", "execute",
                         args=[{"title": "Report 2026-01-02", "rows": "[1, 2]"}])
        self.assertEqual(kit.result(resp)["rows"], [1, 2])

    def test_custom_sensor(self):
        path = self.dag_file('''
import datetime, os
from airflow import DAG
from airflow.sensors.base import BaseSensorOperator, PokeReturnValue

class CountSensor(BaseSensorOperator):
    template_fields = ("folder",)

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder

    def poke(self, context):
        n = len(os.listdir(self.folder))
        return PokeReturnValue(is_done=n > 0, xcom_value=n)

with DAG("sensors", start_date=datetime.datetime(2026, 1, 1)) as dag:
    CountSensor(task_id="wait", folder="{{ params.folder }}", poke_interval=5, mode="reschedule")
''')
        folder = os.path.join(self.tmp, "in")
        os.makedirs(folder)
        self.assertOk(self.call(path, "sensors", "wait", "poke", args=[{"folder": folder}]),
                      {"__lithoflow_poke_return_value__": True, "is_done": False, "xcom_value": 0})
        open(os.path.join(folder, "x"), "w").close()
        self.assertOk(self.call(path, "sensors", "wait", "poke", args=[{"folder": folder}]),
                      {"__lithoflow_poke_return_value__": True, "is_done": True, "xcom_value": 1})

    def test_exceptions_from_airflow_exceptions_keep_their_names(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.exceptions import AirflowSensorTimeout
from airflow.models.baseoperator import BaseOperator

class Late(BaseOperator):
    def execute(self, context):
        raise AirflowSensorTimeout("too late")

with DAG("late", start_date=datetime.datetime(2026, 1, 1)) as dag:
    Late(task_id="t")
''')
        self.assertError(self.call(path, "late", "t", "execute", args=[{}]), "AirflowSensorTimeout", "too late")



class TaskFlowTest(kit.ShimCase):
    def test_a_bare_dag_call_and_task_functions(self):
        path = self.dag_file('''
import pendulum
from airflow.decorators import dag, task

@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     default_args={"retries": 1})
def etl_flow():
    @task
    def extract():
        return {"a": 1, "b": 2}

    @task(multiple_outputs=False)
    def total(data: dict, ds=None, ti=None, dag=None):
        return [sum(data.values()), ds, ti.task.task_id, ti.task.retries, dag.dag_id]

    total(extract())

etl_flow()
''')
        self.assertOk(self.call(path, "etl_flow", "extract", "python_callable"), {"a": 1, "b": 2})
        self.assertOk(self.call(path, "etl_flow", "total", "python_callable", args=[{"a": 1, "b": 2}]),
                      [3, "2026-01-02", "total", 1, "etl_flow"])

    def test_groups_prefix_task_ids(self):
        path = self.dag_file('''
import datetime
from airflow.models.dag import DAG
from airflow.decorators import task, task_group
from airflow.utils.task_group import TaskGroup

with DAG("grouped", start_date=datetime.datetime(2026, 1, 1), schedule=None) as dag:
    with TaskGroup("outer"):
        @task_group
        def inner():
            @task
            def leaf(x):
                return x + 1
            return leaf(1)
        inner()
''')
        self.assertOk(self.call(path, "grouped", "outer.inner.leaf", "python_callable", args=[41]), 42)

    def test_task_bash_sensor_and_run_if(self):
        path = self.dag_file('''
import datetime, os
from airflow.decorators import dag, task
from airflow.sensors.base import PokeReturnValue

@dag(start_date=datetime.datetime(2026, 1, 1), schedule=None)
def variants():
    @task.bash(env={"WHO": "bash"}, append_env=True)
    def hello(name):
        return "echo start; echo hello $WHO $AIRFLOW_CTX_DAG_ID " + name

    @task.sensor(poke_interval=1, timeout=10, mode="reschedule")
    def ready(folder):
        return PokeReturnValue(is_done=os.path.isdir(folder), xcom_value=folder)

    @task.run_if(lambda context: context["params"].get("size") == 99)
    @task
    def gated():
        return "ran"

    hello("ann")
    ready("/")
    gated()

variants()
''')
        self.assertOk(self.call(path, "variants", "hello", "taskflow_bash", args=["ann"]), "hello bash variants ann")
        self.assertOk(self.call(path, "variants", "ready", "python_callable", args=["/"]),
                      {"__lithoflow_poke_return_value__": True, "is_done": True, "xcom_value": "/"})
        self.assertError(self.call(path, "variants", "gated", "python_callable"), "AirflowSkipException", "")

    def test_task_virtualenv_decorator_is_stripped(self):
        path = self.dag_file('''
import datetime
from airflow.decorators import dag, task

@dag(start_date=datetime.datetime(2026, 1, 1), schedule=None)
def isolated():
    @task.virtualenv(
        requirements=[],
        system_site_packages=False,
        venv_cache_path=CACHE,
    )
    def in_venv(n, ds=None):
        import sys
        return [n * 2, ds, sys.prefix != sys.base_prefix]

    in_venv(21)

isolated()
'''.replace("CACHE", repr(os.path.join(self.tmp, "venvs"))))
        self.assertOk(self.call(path, "isolated", "in_venv", "virtualenv", args=[21]), [42, "2026-01-02", True])

    def test_airflow_3_sdk_imports(self):
        path = self.dag_file('''
from airflow.sdk import DAG, task, get_current_context

with DAG(dag_id="three", schedule=None) as dag:
    @task
    def where():
        ctx = get_current_context()
        return [ctx["task"].task_id, ctx["dag"].catchup]

    where()
''')
        # Airflow 3's defaults, as the loader gave them (catchup off).
        self.assertOk(self.call(path, "three", "where", "python_callable"), ["where", False])

    def test_asset_functions_get_their_assets(self):
        path = self.dag_file('''
from airflow.sdk import asset

@asset(uri="s3://bucket/raw", schedule=None)
def raw():
    return 1

@asset(uri="s3://bucket/clean", schedule=raw)
def clean(self, context, raw, limit=5):
    return [self.name, self.uri, raw.name, raw.uri, context["task"].task_id, limit]
''')
        self.assertOk(self.call(path, "clean", "clean", "python_callable"),
                      ["clean", "s3://bucket/clean", "raw", "s3://bucket/raw", "clean", 5])


class OperatorsTest(kit.ShimCase):
    def test_latest_only_and_unsupported_providers(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.empty import EmptyOperator
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

with DAG("ops", start_date=datetime.datetime(2026, 1, 1), schedule="@daily") as dag:
    latest = LatestOnlyOperator(task_id="latest_only")
    latest >> [EmptyOperator(task_id="b"), EmptyOperator(task_id="a")]
    BigQueryInsertJobOperator(task_id="bq", configuration={})
''')
        ctx = kit.context("ops", "latest_only")
        ctx["dag_run"]["run_type"] = "manual"
        self.assertOk(self.call(path, "ops", "latest_only", "latest_only", context=ctx), ["a", "b"])
        ctx["dag_run"]["run_type"] = "scheduled"
        self.assertOk(self.call(path, "ops", "latest_only", "latest_only", context=ctx), [])
        self.assertError(
            self.call(path, "ops", "bq", "unsupported"), "AirflowException",
            "BigQueryInsertJobOperator (from airflow.providers.google.cloud.operators.bigquery) is a "
            "provider operator lithoflow does not implement",
        )

    def test_lithops_operators_give_their_functions(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.operators.lithops_airflow_plugin import LithopsMapOperator

def square(x):
    return x * x

with DAG("lithops", start_date=datetime.datetime(2026, 1, 1)) as dag:
    LithopsMapOperator(task_id="squares", map_function=square, map_iterdata=[1, 2, 3])
''')
        self.assertOk(self.call(path, "lithops", "squares", "map_function", args=[7], context=None), 49)


class MoreTest(kit.ShimCase):
    def test_mapped_tasks(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.decorators import task
from airflow.models.baseoperator import BaseOperator

class Upload(BaseOperator):
    template_fields = ("bucket", "key")
    def __init__(self, bucket, key, **kwargs):
        super().__init__(**kwargs)
        self.bucket = bucket
        self.key = key
    def execute(self, context):
        return "%s/%s" % (self.bucket, self.key)

with DAG("mapped", start_date=datetime.datetime(2026, 1, 1)) as dag:
    @task
    def double(x, factor=2):
        return x * factor

    double.partial(factor=3).expand(x=[1, 2, 3])
    Upload.partial(task_id="upload", bucket="b-{{ ds_nodash }}").expand(key=["k1", "k2"])
''')
        self.assertOk(self.call(path, "mapped", "double", "python_callable", kwargs={"x": 2, "factor": 3}), 6)
        self.assertOk(self.call(path, "mapped", "upload", "execute", args=[{"bucket": "b-20260102"}],
                                kwargs={"key": "k2"}), "b-20260102/k2")

    def test_xcom_args_nested_in_op_kwargs_keep_their_values(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG("nested", start_date=datetime.datetime(2026, 1, 1)) as dag:
    a = PythonOperator(task_id="a", python_callable=lambda: [1, 2])
    b = PythonOperator(task_id="b", python_callable=lambda: {"k": "v"})
    PythonOperator(task_id="c", python_callable=lambda inputs, label: [inputs, label],
                   op_kwargs={"inputs": {"a": a.output, "b": [b.output]}, "label": "{{ ds }}"})
''')
        self.host.xcoms[("a", "return_value")] = [[1, 2]]
        self.host.xcoms[("b", "return_value")] = [{"k": "v"}]
        # As the scheduler renders the templates the description wrote for them: to text.
        kwargs = {"inputs": {"a": "[1, 2]", "b": ["{'k': 'v'}"]}, "label": "2026-01-02"}
        self.assertOk(self.call(path, "nested", "c", "python_callable", kwargs=kwargs),
                      [{"a": [1, 2], "b": [{"k": "v"}]}, "2026-01-02"])

    def test_a_generator_task_yields_outlet_event_extras(self):
        path = self.dag_file('''
import datetime
from airflow import DAG, Dataset
from airflow.datasets.metadata import Metadata
from airflow.decorators import task

ds = Dataset("s3://bucket/out.txt")
with DAG("yields", start_date=datetime.datetime(2026, 1, 1)) as dag:
    @task(outlets=[ds])
    def produce():
        yield Metadata(ds, {"rows": 3})
        yield "something else"
        return "done"
    produce()
''')
        resp = self.call(path, "yields", "produce", "python_callable")
        self.assertOk(resp, "done")
        self.assertIn("Ignoring unknown data of <class 'str'>", resp["stdout"])
        self.assertEqual(self.host.extras, [("s3://bucket/out.txt", {"rows": 3})])

    def test_airflow_1_10_imports_and_provide_context(self):
        path = self.dag_file('''
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from airflow.operators.dummy_operator import DummyOperator

def report(**kwargs):
    return [kwargs["ds"], kwargs["dag"].dag_id, kwargs["task"].task_id, kwargs["params"]["size"]]

dag = DAG("old_style", default_args={"owner": "me", "start_date": datetime(2019, 1, 1),
                                     "retry_delay": timedelta(minutes=5)},
          schedule_interval="@daily")
start = DummyOperator(task_id="start", dag=dag)
run = PythonOperator(task_id="report", python_callable=report, provide_context=True, dag=dag)
start >> run
''')
        self.assertOk(self.call(path, "old_style", "report", "python_callable"),
                      ["2026-01-02", "old_style", "report", 3])

    def test_classic_virtualenv_and_external_python_operators(self):
        path = self.dag_file('''
import datetime, sys
from airflow import DAG
from airflow.operators.python import (PythonVirtualenvOperator, ExternalPythonOperator,
                                      BranchPythonVirtualenvOperator)

def in_env(a, b=0):
    import sys
    return [a + b, sys.prefix != sys.base_prefix]

def pick():
    return "left"

with DAG("envs", start_date=datetime.datetime(2026, 1, 1)) as dag:
    PythonVirtualenvOperator(task_id="venv", python_callable=in_env, op_args=[1], op_kwargs={"b": 2},
                             requirements=[], system_site_packages=False, venv_cache_path=CACHE)
    ExternalPythonOperator(task_id="external", python=sys.executable, python_callable=in_env, op_args=[5])
    BranchPythonVirtualenvOperator(task_id="branch", python_callable=pick, requirements=[],
                                   system_site_packages=False, venv_cache_path=CACHE)
'''.replace("CACHE", repr(os.path.join(self.tmp, "venvs"))))
        self.assertOk(self.call(path, "envs", "venv", "virtualenv", args=[1], kwargs={"b": 2}), [3, True])
        self.assertOk(self.call(path, "envs", "external", "virtualenv", args=[5]), [5, sys.prefix != sys.base_prefix])
        self.assertOk(self.call(path, "envs", "branch", "virtualenv"), "left")

    def test_task_callbacks_with_the_package(self):
        path = self.dag_file('''
import datetime, os
from airflow import DAG
from airflow.operators.bash import BashOperator

def note(context):
    with open(os.environ["NOTE"], "w") as f:
        f.write("%s %s %s" % (context["task"].task_id, context["task"].bash_command, context["exception"]))

with DAG("notes", start_date=datetime.datetime(2026, 1, 1),
         default_args={"on_failure_callback": note}) as dag:
    BashOperator(task_id="b", bash_command="exit 1")
''')
        note = os.path.join(self.tmp, "note.txt")
        ctx = kit.context("notes", "b")
        ctx["exception"] = {"type": "AirflowException", "message": "Bash command failed."}
        self.assertOk(self.call(path, "notes", "b", "on_failure_callback_0", positional=True,
                                context=ctx, env={"NOTE": note}), None)
        with open(note) as f:
            self.assertEqual(f.read(), "b exit 1 Bash command failed.")


class DescriptionTest(kit.ShimCase):
    """Every callable a DAG file's description names (describe.py, what the scheduler runs)
    resolves on the worker to a function of the live task."""

    def test_every_reference_resolves(self):
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.decorators import task
from airflow.models.baseoperator import BaseOperator
from airflow.operators.python import PythonOperator, BranchPythonOperator
from airflow.operators.latest_only import LatestOnlyOperator

def on_fail(context):
    pass

class Custom(BaseOperator):
    template_fields = ("x",)
    def __init__(self, x, **kw):
        super().__init__(**kw)
        self.x = x
    def execute(self, context):
        return self.x

for n in (1, 2):
    with DAG("described_%d" % n, start_date=datetime.datetime(2026, 1, 1),
             on_failure_callback=on_fail, default_args={"on_retry_callback": [on_fail, on_fail]}) as dag:
        a = PythonOperator(task_id="a", python_callable=lambda n=n: n)
        b = BranchPythonOperator(task_id="b", python_callable=lambda: "c")
        c = Custom(task_id="c", x="{{ ds }}")
        d = LatestOnlyOperator(task_id="d")
        odd = PythonOperator(task_id="odd", python_callable=lambda s: sorted(s), op_args=[{3, 1}])

        @task.bash
        def e():
            return "echo e"

        a >> b >> [c, d] >> e() >> odd
    globals()["dag_%d" % n] = dag
''')
        import re

        self.assertOk(self.call(path, "described_2", "a", "python_callable"), 2)
        from airflow._lithoflow import describe

        module = sys.modules[kit.module_name(path)]
        dags = list(module._lithoflow_dags.values())
        descriptions, _ = describe.describe_dags(dags, path=path, dags_folder=self.tmp)
        text = repr(descriptions)
        refs = sorted(set(re.findall(r"(lithoflow_dagfile_[0-9a-f]+):([td]_[0-9a-z_]+)", text)))
        attrs = {re.sub(r"^t_[0-9a-f]+_[0-9a-f]+_|^d_[0-9a-f]+_", "", fn) for _, fn in refs}
        self.assertTrue({"python_callable", "call", "execute", "latest_only", "taskflow_bash",
                         "on_failure_callback_0", "on_retry_callback_1"} <= attrs, attrs)
        for mod, fn in refs:
            self.assertEqual(mod, kit.module_name(path))
            func = getattr(module, fn)
            self.assertNotIn(func.__name__, ("missing", "failed"), fn)


if __name__ == "__main__":
    unittest.main()
