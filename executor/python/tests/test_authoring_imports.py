"""The import paths real DAG files use (Airflow 1.10, 2, 3; the Lithops plugin; providers
lithoflow does not implement) and what kind of lithoflow task each operator is."""

from tests.test_authoring_support import AuthoringCase


class Airflow110Test(AuthoringCase):
    def test_operator_modules_and_package_imports(self):
        loaded = self.load("""
import airflow
from datetime import timedelta
from airflow import DAG
from airflow.operators.python_operator import PythonOperator, BranchPythonOperator
from airflow.operators.bash_operator import BashOperator
from airflow.operators.dummy_operator import DummyOperator
from airflow.operators import BashOperator as PackageBash, PythonOperator as PackagePython
from airflow.contrib.sensors.file_sensor import FileSensor
from airflow.sensors.external_task_sensor import ExternalTaskSensor
from airflow.utils.decorators import apply_defaults
from airflow.models import BaseOperator, Variable

class Custom(BaseOperator):
    @apply_defaults
    def __init__(self, my_arg, *args, **kwargs):
        super(Custom, self).__init__(*args, **kwargs)
        self.my_arg = my_arg

    def execute(self, context):
        return self.my_arg

args = {"owner": "me", "start_date": airflow.utils.dates.days_ago(2), "provide_context": True,
        "retries": 1, "retry_delay": timedelta(minutes=5)}
dag = DAG(dag_id="legacy", default_args=args, schedule_interval="0 0 * * *")
t1 = PythonOperator(task_id="py", python_callable=lambda **kw: 1, provide_context=True, dag=dag)
t2 = BashOperator(task_id="sh", bash_command="date", dag=dag)
t3 = DummyOperator(task_id="nop", dag=dag)
t4 = PackageBash(task_id="sh2", bash_command="date", dag=dag)
t5 = FileSensor(task_id="wait", filepath="/tmp/x", poke_interval=30, dag=dag)
t6 = ExternalTaskSensor(task_id="ext", external_dag_id="other", external_task_id="t", dag=dag)
t7 = Custom(task_id="custom", my_arg=3, dag=dag)
t8 = BranchPythonOperator(task_id="br", python_callable=lambda: "py", dag=dag)
t1.set_downstream(t2)
t2 >> [t3, t4]
""")
        dag = loaded["legacy"]
        self.assertIs(loaded.module.PackageBash, loaded.module.BashOperator)
        kinds = {t.task_id: t._lithoflow_kind for t in dag.tasks}
        self.assertEqual(kinds, {
            "py": "python", "sh": "bash", "nop": "empty", "sh2": "bash", "wait": "sensor:file",
            "ext": "sensor:external_task", "custom": "custom", "br": "branch",
        })
        # Airflow 2.10 maps DummyOperator to EmptyOperator.
        self.assertEqual(dag.get_task("nop").task_type, "EmptyOperator")
        self.assertEqual(dag.get_task("custom").retries, 1)
        self.assertEqual(dag.get_task("custom").owner, "me")
        self.assertEqual(dag.get_task("wait").poke_interval, 30)
        self.assertEqual(dag.get_task("ext").external_task_ids, ["t"])
        self.assertEqual(dag.schedule_interval, "0 0 * * *")
        self.assertEdges(dag, [("py", "sh"), ("sh", "nop"), ("sh", "sh2")])

    def test_contrib_and_provider_operators_load_as_unsupported(self):
        dag = self.load("""
from datetime import datetime
from airflow import DAG
from airflow.contrib.operators.awsbatch_operator import AWSBatchOperator
from airflow.providers.postgres.operators.postgres import PostgresOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.http.sensors.http import HttpSensor

with DAG("prov", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    b = AWSBatchOperator(task_id="batch", job_name="j", job_definition="d", job_queue="q", overrides={})
    p = PostgresOperator(task_id="pg", sql="select 1", postgres_conn_id="db", retries=2)
    k = KubernetesPodOperator(task_id="pod", image="python", name="x", in_cluster=True)
    s = S3KeySensor(task_id="s3", bucket_key="s3://b/k", aws_conn_id="aws")
    h = HttpSensor(task_id="http", endpoint="/", poke_interval=5)
    b >> p >> k >> s >> h
""").only()
        kinds = {t.task_id: (t._lithoflow_kind, t._lithoflow_unsupported, type(t).__name__, type(t).__module__)
                 for t in dag.tasks}
        self.assertEqual(kinds["batch"], ("unsupported", True, "BatchOperator", "airflow.providers.amazon.aws.operators.batch"))
        self.assertEqual(kinds["pg"], ("unsupported", True, "PostgresOperator", "airflow.providers.postgres.operators.postgres"))
        self.assertEqual(kinds["pod"][0:3], ("unsupported", True, "KubernetesPodOperator"))
        self.assertEqual(kinds["s3"][0:2], ("sensor:s3_key", False))
        self.assertEqual(kinds["http"][0:2], ("unsupported", True))
        self.assertEqual(dag.get_task("pg").retries, 2)
        self.assertEqual(dag.get_task("pg").sql, "select 1")
        self.assertEqual(dag.get_task("http").poke_interval, 5)
        self.assertEqual(dag.get_task("s3").bucket_key, "s3://b/k")
        with self.assertRaisesRegex(Exception, "PostgresOperator \\(from airflow.providers.postgres.operators.postgres\\) "
                                               "is a provider operator lithoflow does not implement"):
            dag.get_task("pg").execute({})

    def test_airflow_1_10_plugin_operators_load_as_unsupported(self):
        dag = self.load("""
from datetime import datetime
from airflow import DAG
from airflow.operators import GithubToS3Operator
from airflow.operators.spark_plugin import SparkSubmitPluginOperator
dag = DAG("plug", start_date=datetime(2024, 1, 1), schedule_interval=None)
a = GithubToS3Operator(task_id="a", github_conn_id="gh", dag=dag)
b = SparkSubmitPluginOperator(task_id="b", application="x.py", dag=dag)
a >> b
""").only()
        self.assertEqual({t.task_id: (t._lithoflow_kind, type(t).__module__) for t in dag.tasks},
                         {"a": ("unsupported", "airflow.operators"), "b": ("unsupported", "airflow.operators.spark_plugin")})
        self.assertEdges(dag, [("a", "b")])

    def test_unknown_provider_and_missing_module_are_import_errors(self):
        with self.assertRaises(ModuleNotFoundError):
            self.load("from airflow.providers.nonexistent.operators.x import XOperator\n")
        with self.assertRaises(ModuleNotFoundError):
            self.load("import airflow\nimport not_a_module_anywhere\n")
        with self.assertRaises(ImportError):
            self.load("from airflow.operators.python import NoSuchOperator\n")


class Airflow2Test(AuthoringCase):
    def test_taskflow_and_classic_mixed(self):
        dag = self.load("""
from airflow.decorators import dag, task
from airflow.operators.python import PythonOperator, ShortCircuitOperator, PythonVirtualenvOperator, ExternalPythonOperator, BranchPythonVirtualenvOperator
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sensors.python import PythonSensor
from airflow.sensors.time_delta import TimeDeltaSensor
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.time_sensor import TimeSensor
from airflow.sensors.bash import BashSensor
from airflow.sensors.external_task import ExternalTaskMarker
import datetime

def venv_fn():
    return 1

@dag(schedule="@daily", start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["x"])
def mixed():
    @task
    def a():
        return 1
    @task.branch
    def br():
        return "a"
    @task.short_circuit
    def sc():
        return True
    @task.bash
    def sh():
        return "echo hi"
    @task.sensor(poke_interval=10, timeout=60, mode="reschedule")
    def wait():
        return True
    @task.virtualenv(requirements=["six"])
    def venv():
        return 1
    @task.external_python(python="/usr/bin/python3")
    def ext():
        return 1
    @task.branch_virtualenv(requirements=[])
    def bv():
        return "a"
    @task.branch_external_python(python="/usr/bin/python3")
    def be():
        return "a"
    @task.docker(image="python:3")
    def dock():
        return 1
    a(); br(); sc(); sh(); wait(); venv(); ext(); bv(); be(); dock()
    PythonOperator(task_id="po", python_callable=print)
    ShortCircuitOperator(task_id="sco", python_callable=lambda: True)
    PythonVirtualenvOperator(task_id="pvo", python_callable=venv_fn, requirements="six")
    ExternalPythonOperator(task_id="epo", python="/usr/bin/python3", python_callable=venv_fn)
    BranchPythonVirtualenvOperator(task_id="bpvo", python_callable=venv_fn)
    LatestOnlyOperator(task_id="latest")
    TriggerDagRunOperator(task_id="trig", trigger_dag_id="other", conf={"a": 1})
    PythonSensor(task_id="ps", python_callable=lambda: True)
    TimeDeltaSensor(task_id="tds", delta=datetime.timedelta(hours=1))
    DateTimeSensor(task_id="dts", target_time=datetime.datetime(2024, 1, 2))
    TimeSensor(task_id="ts", target_time=datetime.time(6, 0))
    BashSensor(task_id="bs", bash_command="true")
    ExternalTaskMarker(task_id="etm", external_dag_id="o", external_task_id="t")

mixed()
""").only()
        kinds = {t.task_id: t._lithoflow_kind for t in dag.tasks}
        self.assertEqual(kinds, {
            "a": "python", "br": "branch", "sc": "short_circuit", "sh": "taskflow_bash", "wait": "sensor:python",
            "venv": "virtualenv", "ext": "virtualenv", "bv": "branch_virtualenv", "be": "branch_virtualenv",
            "dock": "unsupported", "po": "python", "sco": "short_circuit", "pvo": "virtualenv", "epo": "virtualenv",
            "bpvo": "branch_virtualenv", "latest": "latest_only", "trig": "trigger_dag_run", "ps": "sensor:python",
            "tds": "sensor:time_delta", "dts": "sensor:date_time", "ts": "sensor:time", "bs": "sensor:bash",
            "etm": "empty",
        })
        self.assertEqual(dag.get_task("wait").mode, "reschedule")
        self.assertEqual(dag.get_task("wait").poke_interval, 10.0)
        self.assertEqual(dag.get_task("venv").requirements, ["six"])
        self.assertEqual(dag.get_task("pvo").requirements, ["six"])
        self.assertEqual(dag.get_task("ext").python, "/usr/bin/python3")
        self.assertEqual(dag.get_task("dts").target_time, "2024-01-02T00:00:00")
        self.assertEqual(dag.get_task("a").task_type, "_PythonDecoratedOperator")
        self.assertEqual(dag.get_task("a").custom_operator_name, "@task")
        self.assertEqual(dag.tags, ["x"])
        self.assertFalse(dag.catchup)

    def test_custom_operators_and_sensors(self):
        dag = self.load("""
from datetime import datetime
from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.sensors.base import BaseSensorOperator
from airflow.operators.python import PythonOperator
from airflow.operators.branch import BaseBranchOperator

class Hello(BaseOperator):
    template_fields = ("name",)
    template_ext = (".sql",)
    def __init__(self, name, **kwargs):
        super().__init__(**kwargs)
        self.name = name
    def execute(self, context):
        return self.name

class Wait(BaseSensorOperator):
    def poke(self, context):
        return True

class MyPython(PythonOperator):
    pass

class MyPythonOverride(PythonOperator):
    def execute(self, context):
        return 2

class Pick(BaseBranchOperator):
    def choose_branch(self, context):
        return "h"

with DAG("custom", start_date=datetime(2024, 1, 1), schedule=None, default_args={"retries": 4}) as dag:
    h = Hello(task_id="h", name="world")
    w = Wait(task_id="w", timeout=5)
    p = MyPython(task_id="p", python_callable=print)
    q = MyPythonOverride(task_id="q", python_callable=print)
    b = Pick(task_id="b")
""").only()
        kinds = {t.task_id: t._lithoflow_kind for t in dag.tasks}
        self.assertEqual(kinds, {"h": "custom", "w": "custom_sensor", "p": "python", "q": "custom", "b": "custom_branch"})
        h = dag.get_task("h")
        self.assertEqual((h.name, h.template_fields, h.template_ext, h.retries), ("world", ("name",), (".sql",), 4))
        self.assertEqual(h._lithoflow_explicit, {"task_id", "name", "retries"})
        self.assertEqual(dag.get_task("w").timeout, 5.0)


class Airflow3Test(AuthoringCase):
    def test_sdk_and_standard_provider(self):
        dag = self.load("""
from airflow.sdk import DAG, dag, task, task_group, TaskGroup, Asset, Param, chain, Label, Variable, get_current_context
from airflow.sdk.bases.operator import BaseOperator
from airflow.sdk.bases.sensor import BaseSensorOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

orders = Asset("s3://bucket/orders")

@dag(schedule=orders, tags=["v3"])
def v3(limit: int = 5):
    start = EmptyOperator(task_id="start")
    sh = BashOperator(task_id="sh", bash_command="echo {{ params.limit }}")
    f = FileSensor(task_id="f", filepath="/tmp/x", deferrable=True)
    @task(outlets=[Asset("summary")])
    def summarize(n):
        return n
    chain(start, sh, Label("then"), f, summarize(limit))

v3()
""", version=3).only()
        self.assertEqual(dag.dag_id, "v3")
        self.assertEqual(dag.params["limit"], 5)
        self.assertEqual(dag.timetable._lithoflow_kind, "asset")
        self.assertEqual(dag.timetable.asset_condition.uri, "s3://bucket/orders")
        self.assertFalse(dag.catchup)
        self.assertEdges(dag, [("start", "sh"), ("sh", "f"), ("f", "summarize")])
        self.assertEqual(dag.get_task("summarize").outlets[0].name, "summary")
        # @dag's parameters reach tasks as DagParams.
        from airflow.models.param import DagParam

        self.assertIsInstance(dag.get_task("summarize").op_args[0], DagParam)
        self.assertEqual(dag.get_task("summarize").op_args[0]._name, "limit")

    def test_asset_decorator_makes_a_dag(self):
        loaded = self.load("""
from airflow.sdk import asset

@asset(schedule="@daily")
def raw_orders():
    return [1, 2]
""", version=3)
        dag = loaded["raw_orders"]
        self.assertEqual(sorted(dag.task_dict), ["raw_orders"])
        self.assertEqual(dag.get_task("raw_orders").outlets[0].name, "raw_orders")
        self.assertEqual(dag.timetable._lithoflow_kind, "cron_trigger")


class LithopsPluginTest(AuthoringCase):
    def test_lithops_and_cloudbutton_operators(self):
        self.write("my_functions.py", "def add(x, y):\n    return x + y\n\ndef total(results):\n    return sum(results)\n")
        dag = self.load("""
from airflow import DAG
from airflow.utils.dates import days_ago
from airflow.operators.lithops_airflow_plugin import LithopsCallAsyncOperator, LithopsMapOperator, LithopsMapReduceOperator
from airflow.operators.cloudbutton_airflow_plugin import CloudbuttonMapOperator, CloudbuttonAsyncOperator, CloudbuttonMapReduceOperator
from my_functions import add, total

dag = DAG(dag_id="lithops", default_args={"owner": "lithops", "start_date": days_ago(2)}, schedule_interval=None)
one = LithopsCallAsyncOperator(task_id="one", func=add, data={"x": 1, "y": 3}, dag=dag, lithops_config={"lithops": {}})
two = LithopsCallAsyncOperator(task_id="two", func=add, data={"x": 4}, data_from_task={"y": "one"}, dag=dag)
m = LithopsMapOperator(task_id="m", map_function=add, map_iterdata=[1, 2, 3], extra_params={"y": 1},
                       chunk_n=2, invoke_pool_threads=8, runtime_memory=512, dag=dag)
mr = LithopsMapReduceOperator(task_id="mr", map_function=add, reduce_function=total, iterdata_from_task="m",
                              extra_args={"y": 1}, map_runtime_memory=256, reduce_runtime_memory=1024,
                              reducer_one_per_object=True, timeout=60, dag=dag)
cb = CloudbuttonMapOperator(task_id="cb", map_function=add, map_iterdata=[1], cloudbutton_engine_config={"a": 1},
                            extra_args=(1,), dag=dag)
ca = CloudbuttonAsyncOperator(task_id="ca", func=add, data={"x": 1, "y": 2}, dag=dag)
cmr = CloudbuttonMapReduceOperator(task_id="cmr", map_function=add, reduce_function=total, map_iterdata=[1], dag=dag)
one >> two >> m >> mr >> [cb, ca, cmr]
""").only()
        kinds = {t.task_id: t._lithoflow_kind for t in dag.tasks}
        self.assertEqual(kinds, {"one": "call_async", "two": "call_async", "m": "map", "mr": "map_reduce",
                                 "cb": "map", "ca": "call_async", "cmr": "map_reduce"})
        m = dag.get_task("m")
        self.assertEqual((m.map_iterdata, m.extra_args, m.chunk_n, m.invoke_pool_threads, m.runtime_memory),
                         ([1, 2, 3], {"y": 1}, 2, 8, 512))
        mr = dag.get_task("mr")
        self.assertEqual((mr.iterdata_from_task, mr.reduce_function.__name__, mr.reduce_runtime_memory,
                          mr.reducer_one_per_object, mr.timeout), ("m", "total", 1024, True, 60))
        self.assertEqual(dag.get_task("two").data_from_task, {"y": "one"})
        self.assertEqual(dag.get_task("one").lithops_config, {"lithops": {}})
        self.assertEqual(dag.get_task("cb").lithops_config, {"a": 1})
        self.assertEqual(dag.get_task("one").owner, "lithops")
        pywren = self.load("""
import airflow
from airflow.operators.pywren_ibm_cloud_airflow import IBMPyWrenCallAsyncOperator, IBMPyWrenMapOperator, IBMPyWrenMapReduceOperator
from my_functions import add, total
dag = airflow.models.DAG(dag_id="pw", default_args={"start_date": airflow.utils.dates.days_ago(2)}, schedule_interval=None)
a = IBMPyWrenCallAsyncOperator(task_id="a", func=add, data={"x": 1, "y": 2}, dag=dag)
m = IBMPyWrenMapOperator(task_id="m", map_function=add, map_iterdata=[1], extra_args=[1], dag=dag)
r = IBMPyWrenMapReduceOperator(task_id="r", map_function=add, map_iterdata=[1], reduce_function=total,
                               pywren_executor_config={"runtime_memory": 2048}, dag=dag)
a >> m >> r
""").only()
        self.assertEqual({t.task_id: t._lithoflow_kind for t in pywren.tasks}, {"a": "call_async", "m": "map", "r": "map_reduce"})
        self.assertEqual(pywren.get_task("r").lithops_config, {"runtime_memory": 2048})
        with self.assertRaisesRegex(Exception, "At least map_iterdata or iterdata_from_task must be set"):
            self.load("""
from datetime import datetime
from airflow import DAG
from airflow.operators.lithops_airflow_plugin import LithopsMapOperator
with DAG("x", start_date=datetime(2024, 1, 1)) as dag:
    LithopsMapOperator(task_id="m", map_function=print)
""")
