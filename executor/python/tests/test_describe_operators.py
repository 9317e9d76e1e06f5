"""Each operator and decorator kind of the spec's table as its TOML task (type, keys, the
callable reference the worker resolves), loaded through the real loader."""

import unittest

from tests.test_loader_support import DescribeCase, lithoflow_binary, validate_toml

CLASSIC = """
from datetime import datetime, timedelta, time as dtime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.dummy import DummyOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.python import (BranchPythonOperator, PythonOperator, PythonVirtualenvOperator,
                                      ShortCircuitOperator)
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sensors.bash import BashSensor
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.python import PythonSensor
from airflow.sensors.time_delta import TimeDeltaSensor
from airflow.sensors.time_sensor import TimeSensor


def produce():
    return [1, 2]


def consume(x, y=1, **context):
    return x


with DAG("classic", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    py = PythonOperator(task_id="py", python_callable=produce)
    args = PythonOperator(task_id="args", python_callable=consume, op_args=[1], op_kwargs={"y": py.output},
                          templates_dict={"day": "{{ ds }}"}, show_return_value_in_logs=False)
    live = PythonOperator(task_id="live", python_callable=consume, op_kwargs={"x": datetime(2026, 1, 1)})
    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "e")
    short = ShortCircuitOperator(task_id="short", python_callable=lambda: True, ignore_downstream_trigger_rules=False)
    venv = PythonVirtualenvOperator(task_id="venv", python_callable=produce, requirements=["six"])
    bash = BashOperator(task_id="bash", bash_command="echo {{ ds }}", env={"A": "1"}, append_env=True,
                        cwd="/tmp", skip_on_exit_code=[99, 100])
    pulls = BashOperator(task_id="pulls", bash_command=py.output)
    e = EmptyOperator(task_id="e")
    d = DummyOperator(task_id="d")
    marker = ExternalTaskMarker(task_id="marker", external_dag_id="o", external_task_id="t")
    latest = LatestOnlyOperator(task_id="latest")
    trig = TriggerDagRunOperator(task_id="trig", trigger_dag_id="other", conf={"day": "{{ ds }}"},
                                 wait_for_completion=True, poke_interval=10, execution_date="{{ ds }}")
    fs = FileSensor(task_id="fs", filepath="/data/in.csv", poke_interval=5, timeout=60, mode="reschedule")
    ets = ExternalTaskSensor(task_id="ets", external_dag_id="up", external_task_id="t",
                             execution_delta=timedelta(hours=1), allowed_states=["success"])
    ets2 = ExternalTaskSensor(task_id="ets2", external_dag_id="up", external_task_id="t", allowed_states=["success", "skipped"],
                              failed_states=["failed"])
    etf = ExternalTaskSensor(task_id="etf", external_dag_id="up", execution_date_fn=lambda dt: dt)
    tds = TimeDeltaSensor(task_id="tds", delta=timedelta(minutes=5))
    dts = DateTimeSensor(task_id="dts", target_time=datetime(2026, 1, 2, 3, 4))
    ts = TimeSensor(task_id="ts", target_time=dtime(6, 30))
    bs = BashSensor(task_id="bs", bash_command="test -f x", retry_exit_code=1)
    ps = PythonSensor(task_id="ps", python_callable=lambda a: True, op_kwargs={"a": 1}, soft_fail=True)
    s3 = S3KeySensor(task_id="s3", bucket_key=["a/b", "c"], bucket_name="bk", wildcard_match=True)
    mapped = PythonOperator.partial(task_id="mapped", python_callable=consume).expand(op_args=[[1], [2]])
    mapped_up = PythonOperator.partial(task_id="mapped_up", python_callable=consume).expand(op_kwargs=py.output)
    bash_mapped = BashOperator.partial(task_id="bash_mapped").expand(bash_command=["echo 1", "echo 2"])
    branch >> [e, d]
"""

TASKFLOW = """
from datetime import datetime
from airflow.decorators import dag, task, task_group
from airflow.utils.task_group import TaskGroup
from airflow.operators.empty import EmptyOperator


@dag(start_date=datetime(2026, 1, 1), schedule=None)
def flow():
    @task
    def extract():
        return {"a": 1}

    @task(multiple_outputs=True, retries=2)
    def transform(data, factor=2):
        return {"total": 1}

    @task.branch
    def choose():
        return "joined"

    @task.short_circuit
    def cond():
        return True

    @task.bash
    def cmd():
        return "echo 1"

    @task.sensor(poke_interval=30, timeout=100, mode="reschedule")
    def wait():
        return True

    @task.virtualenv(requirements=["six"])
    def venv():
        return 1

    @task
    def pick(value):
        return value

    @task_group
    def grp(x):
        return transform(x)

    data = extract()
    transform(data, factor=3)
    grp(data)
    pick(transform.override(task_id="keyed")(data)["total"])
    choose() >> EmptyOperator(task_id="joined")
    cond() >> cmd()
    wait() >> venv()
    transform.expand(data=[1, 2])
    transform.partial(factor=5).expand(data=extract())
    with TaskGroup("tg"):
        EmptyOperator(task_id="inner")


flow()
"""

LITHOPS = """
from datetime import datetime
from airflow import DAG
from airflow.operators.lithops_airflow_plugin import (LithopsCallAsyncOperator, LithopsMapOperator,
                                                     LithopsMapReduceOperator)
from airflow.operators.cloudbutton_airflow_plugin import CloudbuttonMapOperator
from my_functions import add, mult

with DAG("lith", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    a = LithopsCallAsyncOperator(task_id="add_task_1", func=add, data={"x": 1, "y": 3},
                                 config={"lithops": {"backend": "localhost"}}, backend="localhost",
                                 storage="localhost", runtime_memory=512, timeout=60)
    b = LithopsCallAsyncOperator(task_id="add_task_2", func=add, data={"x": 4}, data_from_task={"y": "add_task_1"})
    m = LithopsMapOperator(task_id="map_task", map_function=add, map_iterdata=[1, 2, 3], extra_params={"y": 1},
                           chunk_n=2)
    mr = LithopsMapReduceOperator(task_id="mr", map_function=add, iterdata_from_task="map_task",
                                  reduce_function=mult, reducer_one_per_object=True, async_invoke=True)
    cb = CloudbuttonMapOperator(task_id="cb", map_function=add, map_iterdata=[1], extra_args=[5])
    a >> b >> m >> mr
"""


class ClassicOperatorsTest(DescribeCase):
    def setUp(self):
        super().setUp()
        self.d = self.one(CLASSIC)
        self.t = self.d["toml"]["tasks"]

    def r(self, task_id, attr):
        return self.ref("classic", task_id, attr)

    def test_python_operators(self):
        t = self.t
        self.assertEqual(t["py"], {"type": "python", "python_callable": self.r("py", "python_callable")})
        self.assertEqual(t["args"], {"type": "python", "python_callable": self.r("args", "python_callable"),
                                     "op_args": [1], "op_kwargs_from_task": {"y": "py"},
                                     "templates_dict": {"day": "{{ ds }}"}, "show_return_value_in_logs": False,
                                     "upstream": ["py"]})
        self.assertEqual(t["live"], {"type": "python", "python_callable": self.r("live", "call")})
        self.assertEqual(t["branch"], {"type": "branch", "python_callable": self.r("branch", "python_callable")})
        self.assertEqual(t["short"]["type"], "short_circuit")
        self.assertIs(t["short"]["ignore_downstream_trigger_rules"], False)
        self.assertEqual(t["venv"], {"type": "python", "python_callable": self.r("venv", "virtualenv")})
        info = self.d["tasks"]
        self.assertEqual(info["py"]["callables"]["python_callable"]["qualname"], "produce")
        self.assertEqual(info["branch"]["callables"]["python_callable"]["kind"], "lambda")
        self.assertEqual((info["venv"]["kind"], info["venv"]["ignored"]), ("virtualenv", []))

    def test_bash_empty_latest_only_trigger(self):
        t = self.t
        self.assertEqual(t["bash"], {"type": "bash", "bash_command": "echo {{ ds }}", "env": {"A": "1"},
                                     "append_env": True, "cwd": "/tmp", "skip_on_exit_code": [99, 100]})
        self.assertEqual(t["pulls"], {"type": "bash", "bash_command": "{{ ti.xcom_pull(task_ids='py') }}",
                                      "upstream": ["py"]})
        self.assertEqual(t["e"], {"type": "empty", "upstream": ["branch"]})
        self.assertEqual(t["d"]["type"], "empty")
        self.assertEqual(t["marker"], {"type": "empty"})
        self.assertEqual(t["latest"], {"type": "branch", "python_callable": self.r("latest", "latest_only")})
        self.assertEqual(t["trig"], {"type": "trigger_dag_run", "trigger_dag_id": "other",
                                     "conf": {"day": "{{ ds }}"}, "logical_date": "{{ ds }}",
                                     "wait_for_completion": True, "poke_interval": 10})

    def test_sensors(self):
        t = self.t
        self.assertEqual(t["fs"], {"type": "sensor", "sensor": "file", "poke_interval": 5, "timeout": 60,
                                   "mode": "reschedule", "filepath": "/data/in.csv"})
        self.assertEqual(t["ets"], {"type": "sensor", "sensor": "external_task", "external_dag_id": "up",
                                    "external_task_id": "t", "execution_delta": 3600})
        self.assertEqual((t["ets2"]["allowed_states"], t["ets2"]["failed_states"]), (["success", "skipped"], ["failed"]))
        self.assertEqual(t["etf"]["execution_date_fn"], self.r("etf", "execution_date_fn"))
        self.assertEqual(t["tds"], {"type": "sensor", "sensor": "time_delta", "delta": 300})
        self.assertEqual(t["dts"], {"type": "sensor", "sensor": "date_time", "target_time": "2026-01-02T03:04:00"})
        self.assertEqual(t["ts"], {"type": "sensor", "sensor": "time", "target_time": "06:30:00"})
        self.assertEqual(t["bs"], {"type": "sensor", "sensor": "bash", "bash_command": "test -f x", "retry_exit_code": 1})
        self.assertEqual(t["ps"], {"type": "sensor", "sensor": "python", "soft_fail": True,
                                   "python_callable": self.r("ps", "python_callable"), "op_kwargs": {"a": 1}})
        self.assertEqual(t["s3"], {"type": "sensor", "sensor": "s3_key", "bucket_key": ["a/b", "c"],
                                   "bucket_name": "bk", "wildcard_match": True})

    def test_mapped_operators(self):
        t = self.t
        self.assertEqual(t["mapped"]["expand"], {"op_args": [[1], [2]]})
        self.assertEqual(t["mapped_up"]["expand"], {"op_kwargs": "py"})
        self.assertEqual(t["mapped_up"]["python_callable"], self.r("mapped_up", "python_callable"))
        self.assertEqual(t["bash_mapped"], {"type": "bash", "expand": {"bash_command": ["echo 1", "echo 2"]}})

    def test_no_findings(self):
        self.assertEqual(self.d["findings"], [])

    @unittest.skipUnless(lithoflow_binary(), "needs a lithoflow binary ($LITHOFLOW_BIN or target/debug/lithoflow)")
    def test_toml_is_accepted(self):
        code, out = validate_toml(self.d["toml"], self.folder)
        self.assertEqual(code, 0, out)


class TaskflowTest(DescribeCase):
    def setUp(self):
        super().setUp()
        self.d = self.one(TASKFLOW)
        self.t = self.d["toml"]["tasks"]

    def r(self, task_id, attr):
        return self.ref("flow", task_id, attr)

    def test_the_dag_comes_from_the_decorated_function(self):
        self.assertEqual(self.d["dag_id"], "flow")
        # The line of the call that built the DAG (`flow()`).
        self.assertEqual(self.d["line"], TASKFLOW.strip("\n").splitlines().index("flow()") + 1)

    def test_task_arguments_and_groups(self):
        t = self.t
        self.assertEqual(t["extract"], {"type": "python", "python_callable": self.r("extract", "python_callable")})
        self.assertEqual(t["transform"], {"type": "python", "retries": 2, "multiple_outputs": True,
                                          "python_callable": self.r("transform", "python_callable"),
                                          "op_args_from_task": {"0": "extract"}, "op_kwargs": {"factor": 3},
                                          "upstream": ["extract"]})
        self.assertEqual(t["grp.transform"]["op_args_from_task"], {"0": "extract"})
        self.assertEqual(t["tg.inner"], {"type": "empty"})
        self.assertEqual(self.d["tasks"]["transform"]["callables"]["python_callable"]["kind"], "nested")

    def test_a_keyed_xcom_argument_calls_with_live_arguments(self):
        self.assertEqual(self.t["pick"], {"type": "python", "python_callable": self.r("pick", "call"),
                                          "upstream": ["keyed"]})

    def test_decorator_variants(self):
        t = self.t
        self.assertEqual(t["choose"], {"type": "branch", "python_callable": self.r("choose", "python_callable")})
        self.assertEqual(t["cond"]["type"], "short_circuit")
        self.assertEqual(t["cmd"], {"type": "python", "python_callable": self.r("cmd", "taskflow_bash"),
                                    "upstream": ["cond"]})
        self.assertEqual(t["wait"], {"type": "sensor", "sensor": "python", "poke_interval": 30, "timeout": 100,
                                     "mode": "reschedule", "python_callable": self.r("wait", "python_callable")})
        self.assertEqual(t["venv"]["python_callable"], self.r("venv", "virtualenv"))
        kinds = {k: v["kind"] for k, v in self.d["tasks"].items()}
        self.assertEqual((kinds["cmd"], kinds["wait"], kinds["venv"]), ("taskflow_bash", "sensor:python", "virtualenv"))

    def test_mapping(self):
        t = self.t
        self.assertEqual(t["transform__1"]["expand"], {"data": [1, 2]})
        self.assertEqual(t["transform__2"]["expand"], {"data": "extract__1"})
        self.assertEqual(t["transform__2"]["op_kwargs"], {"factor": 5})

    @unittest.skipUnless(lithoflow_binary(), "needs a lithoflow binary ($LITHOFLOW_BIN or target/debug/lithoflow)")
    def test_toml_is_accepted(self):
        code, out = validate_toml(self.d["toml"], self.folder)
        self.assertEqual(code, 0, out)


class TemplateFilesTest(DescribeCase):
    def test_files_of_template_ext_are_read_at_any_depth(self):
        self.write("sql/q.sql", "select {{ ds }}")
        self.write("run.sh", "echo {{ ds }}")
        d = self.one("""
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

with DAG("tf", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="p", python_callable=print, templates_dict={"query": "sql/q.sql"},
                   op_kwargs={"files": ["sql/q.sql", "keep.txt"]}, templates_exts=[".sql"])
    BashOperator(task_id="b", bash_command="run.sh")
    BashOperator(task_id="as_is", bash_command="run.sh ")
    BashOperator(task_id="missing", bash_command="nowhere.sh")
""")
        t = d["toml"]["tasks"]
        self.assertEqual(t["p"]["templates_dict"], {"query": "select {{ ds }}"})
        self.assertEqual(t["p"]["op_kwargs"], {"files": ["select {{ ds }}", "keep.txt"]})
        self.assertEqual(d["tasks"]["p"]["ignored"], [])
        self.assertEqual((t["b"]["bash_command"], t["as_is"]["bash_command"]), ("echo {{ ds }}", "run.sh "))
        self.assertEqual(t["missing"]["bash_command"], "nowhere.sh")
        self.assertEqual([(f["severity"], f["line"]) for f in d["findings"]], [("warning", 11)])


class SetupTeardownTest(DescribeCase):
    def test_a_teardown_runs_as_all_done_with_a_warning(self):
        d = self.one("""
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("st", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    create = EmptyOperator(task_id="create")
    work = EmptyOperator(task_id="work")
    delete = EmptyOperator(task_id="delete")
    create >> work >> delete.as_teardown(setups=create)
""")
        self.assertEqual(d["toml"]["tasks"]["delete"]["trigger_rule"], "all_done")
        self.assertEqual(d["toml"]["tasks"]["delete"]["upstream"], ["create", "work"])
        self.assertEqual([(f["severity"], f["line"]) for f in d["findings"]], [("warning", 8)])


class LithopsOperatorsTest(DescribeCase):
    def setUp(self):
        super().setUp()
        self.write("my_functions.py", "def add(x, y):\n    return x + y\n\n\ndef mult(results):\n    return results\n")
        self.d = self.one(LITHOPS)
        self.t = self.d["toml"]["tasks"]

    def r(self, task_id, attr):
        return self.ref("lith", task_id, attr)

    def test_call_async(self):
        t = self.t
        self.assertEqual(t["add_task_1"], {
            "type": "call_async", "func": self.r("add_task_1", "func"), "data": {"x": 1, "y": 3},
            "lithops_config": {"lithops": {"backend": "localhost"}, "storage": "localhost"},
            "runtime_memory": 512, "timeout": 60})
        self.assertEqual(t["add_task_2"]["data_from_task"], {"y": "add_task_1"})
        info = self.d["tasks"]["add_task_1"]["callables"]["func"]
        self.assertEqual((info["kind"], info["module"], info["qualname"]), ("function", "my_functions", "add"))

    def test_map_and_map_reduce_under_both_names(self):
        t = self.t
        self.assertEqual(t["map_task"], {"type": "map", "map_function": self.r("map_task", "map_function"),
                                         "map_iterdata": [1, 2, 3], "extra_params": {"y": 1}, "chunk_n": 2,
                                         "upstream": ["add_task_2"]})
        self.assertEqual(t["mr"], {"type": "map_reduce", "map_function": self.r("mr", "map_function"),
                                   "iterdata_from_task": "map_task", "reduce_function": self.r("mr", "reduce_function"),
                                   "reducer_one_per_object": True, "async_invoke": True, "upstream": ["map_task"]})
        self.assertEqual(t["cb"]["extra_params"], [5])
        self.assertEqual(self.d["tasks"]["cb"]["operator"], "CloudbuttonMapOperator")

    @unittest.skipUnless(lithoflow_binary(), "needs a lithoflow binary ($LITHOFLOW_BIN or target/debug/lithoflow)")
    def test_toml_is_accepted(self):
        code, out = validate_toml(self.d["toml"], self.folder)
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
