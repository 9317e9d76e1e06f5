"""default_args as Airflow's apply_defaults applies them, @dag params, schedules and
timetables per Airflow version, and the lithoflow bookkeeping the description reads."""

import datetime

from tests.test_authoring_support import AuthoringCase

HEAD = """
import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup
START = datetime.datetime(2024, 1, 1)
"""


class DefaultArgsTest(AuthoringCase):
    def test_precedence_explicit_group_dag(self):
        dag = self.load(HEAD + """
default_args = {"retries": 1, "owner": "dag", "queue": "q", "pool": "dagpool"}
with DAG("d", start_date=START, schedule=None, default_args=default_args) as dag:
    plain = EmptyOperator(task_id="plain")
    explicit = EmptyOperator(task_id="explicit", retries=5)
    with TaskGroup("g", default_args={"retries": 2, "owner": "group"}):
        in_group = EmptyOperator(task_id="in_group")
        with TaskGroup("inner", default_args={"owner": "inner"}):
            nested = EmptyOperator(task_id="nested")
        own = EmptyOperator(task_id="own", default_args={"retries": 9})
        explicit_in_group = EmptyOperator(task_id="explicit_in_group", retries=0)
""").only()
        got = {t.task_id: (t.retries, t.owner, t.pool) for t in dag.tasks}
        self.assertEqual(got, {
            "plain": (1, "dag", "dagpool"),
            "explicit": (5, "dag", "dagpool"),
            "g.in_group": (2, "group", "dagpool"),
            "g.inner.nested": (2, "inner", "dagpool"),
            "g.own": (9, "group", "dagpool"),
            "g.explicit_in_group": (0, "group", "dagpool"),
        })
        self.assertEqual(dag.get_task("plain")._lithoflow_explicit, {"task_id", "retries", "owner", "queue", "pool"})
        self.assertEqual(dag.get_task("g.explicit_in_group")._lithoflow_explicit,
                         {"task_id", "retries", "owner", "queue", "pool"})

    def test_defaults_only_fill_arguments_of_the_signature(self):
        dag = self.load(HEAD + """
default_args = {"bash_command": "echo default", "not_an_argument": 1, "env": {"A": "1"}}
with DAG("d", start_date=START, schedule=None, default_args=default_args) as dag:
    b = BashOperator(task_id="b")
    e = EmptyOperator(task_id="e")
""").only()
        self.assertEqual(dag.get_task("b").bash_command, "echo default")
        self.assertEqual(dag.get_task("b").env, {"A": "1"})
        self.assertFalse(hasattr(dag.get_task("e"), "bash_command"))
        self.assertEqual(dag.get_task("e")._lithoflow_explicit, {"task_id"})

    def test_start_date_and_params_from_default_args(self):
        dag = self.load(HEAD + """
default_args = {"start_date": datetime.datetime(2023, 5, 1), "params": {"p": 1}}
dag = DAG("d", default_args=default_args, schedule="@daily", params={"q": 2})
t = EmptyOperator(task_id="t", dag=dag, params={"r": 3})
""").only()
        # Airflow 2.10 leaves dag.start_date unset when default_args holds a datetime (its tasks get it).
        self.assertIsNone(dag.start_date)
        self.assertEqual(dict(dag.params), {"q": 2, "p": 1})
        self.assertNotIn("params", dag.default_args)
        t = dag.get_task("t")
        self.assertEqual(t.start_date, datetime.datetime(2023, 5, 1, tzinfo=datetime.timezone.utc))
        self.assertEqual({k: t.params[k] for k in t.params}, {"q": 2, "p": 1, "r": 3})

    def test_taskflow_default_args_fill_function_arguments(self):
        dag = self.load(HEAD + """
from airflow.decorators import task
with DAG("d", start_date=START, schedule=None, default_args={"region": "eu", "retries": 2}) as dag:
    @task
    def f(region, other=1):
        return region
    f()
""").only()
        t = dag.get_task("f")
        self.assertEqual((t.op_kwargs, t.retries), ({"region": "eu"}, 2))

    def test_missing_required_argument(self):
        with self.assertRaisesRegex(Exception, "^missing keyword argument 'python_callable'$"):
            self.load(HEAD + """
from airflow.operators.python import PythonOperator
with DAG("d", start_date=START, schedule=None) as dag:
    PythonOperator(task_id="p")
""")

    def test_invalid_argument_is_refused(self):
        with self.assertRaisesRegex(Exception, "Invalid arguments were passed to EmptyOperator \\(task_id: e\\). "
                                               "Invalid arguments were:\n\\*\\*kwargs: \\{'colour': 'red'\\}"):
            self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    EmptyOperator(task_id="e", colour="red")
""")


class DagDecoratorTest(AuthoringCase):
    def test_params_from_function_arguments(self):
        loaded = self.load("""
import datetime
from airflow.decorators import dag, task
from airflow.models.param import Param

@dag(start_date=datetime.datetime(2024, 1, 1), schedule=None, params={"extra": Param(3, type="integer")})
def pipeline(email: str = "a@b.c", count=2):
    \"\"\"Docs of the DAG.\"\"\"
    @task
    def send(to, n):
        return to

    send(email, n=count)

first = pipeline()
second = pipeline.__wrapped__ if False else None
renamed = dag(dag_id="renamed", start_date=datetime.datetime(2024, 1, 1), schedule=None)(lambda: None)()
""")
        d = loaded["pipeline"]
        self.assertEqual(dict(d.params), {"extra": 3, "email": "a@b.c", "count": 2})
        self.assertEqual(d.params.get_param("extra").schema, {"type": "integer"})
        self.assertEqual(d.doc_md, "Docs of the DAG.")
        self.assertEqual(sorted(loaded.dags), ["pipeline", "renamed"])
        self.assertEqual(d._lithoflow_explicit, {"dag_id", "start_date", "schedule", "params"})
        send = d.get_task("send")
        self.assertEqual([a._name for a in send.op_args], ["email"])
        self.assertEqual(send.op_kwargs["n"]._name, "count")

    def test_dag_created_in_factory_through_globals(self):
        loaded = self.load("""
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

def make(dag_id, n):
    dag = DAG(dag_id, start_date=datetime.datetime(2024, 1, 1), schedule="@hourly")
    prev = None
    for i in range(n):
        t = EmptyOperator(task_id=f"t{i}", dag=dag)
        if prev:
            prev >> t
        prev = t
    return dag

for name, n in [("a", 2), ("b", 3)]:
    globals()[f"dag_{name}"] = make(f"factory_{name}", n)
""")
        self.assertEqual(sorted(loaded.dags), ["factory_a", "factory_b"])
        self.assertEdges(loaded["factory_b"], [("t0", "t1"), ("t1", "t2")])


class ScheduleTest(AuthoringCase):
    def test_airflow_2_defaults(self):
        d = self.load(HEAD + """
with DAG("d", start_date=START) as dag:
    EmptyOperator(task_id="t")
""").only()
        self.assertEqual(d.timetable._lithoflow_kind, "delta_data_interval")
        self.assertEqual(d.schedule_interval, datetime.timedelta(days=1))
        self.assertTrue(d.catchup)
        from airflow._lithoflow.core import NOTSET

        self.assertIs(d._lithoflow_schedule, NOTSET)

    def test_airflow_3_defaults(self):
        d = self.load(HEAD + """
with DAG("d") as dag:
    EmptyOperator(task_id="t")
""", version=3).only()
        self.assertEqual(d.timetable._lithoflow_kind, "none")
        self.assertFalse(d.catchup)

    def test_schedule_forms(self):
        loaded = self.load(HEAD + """
from airflow.timetables.trigger import CronTriggerTimetable
from airflow.timetables.events import EventsTimetable
from airflow.timetables.interval import DeltaDataIntervalTimetable
from airflow.datasets import Dataset
a = DAG("cron", start_date=START, schedule_interval="*/5 * * * *")
b = DAG("delta", start_date=START, schedule=datetime.timedelta(hours=2))
c = DAG("preset", start_date=START, schedule="@once")
d = DAG("tt", start_date=START, timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"))
e = DAG("events", start_date=START, schedule=EventsTimetable(event_dates=[START]))
f = DAG("data", start_date=START, schedule=[Dataset("s3://a"), Dataset("s3://b")])
g = DAG("cond", start_date=START, schedule=(Dataset("s3://a") | Dataset("s3://b")) & Dataset("s3://c"))
h = DAG("none", schedule=None)
""")
        kinds = {k: v.timetable._lithoflow_kind for k, v in loaded.dags.items()}
        self.assertEqual(kinds, {"cron": "cron_data_interval", "delta": "delta_data_interval", "preset": "once",
                                 "tt": "cron_trigger", "events": "events", "data": "asset", "cond": "asset",
                                 "none": "none"})
        self.assertEqual(loaded["cron"]._lithoflow_schedule, "*/5 * * * *")
        cond = loaded["cond"].timetable.asset_condition
        self.assertEqual(type(cond).__name__, "DatasetAll")
        self.assertEqual(type(cond.objects[0]).__name__, "DatasetAny")
        self.assertEqual(loaded["tt"]._lithoflow_explicit, {"dag_id", "start_date", "timetable"})

    def test_airflow_3_cron_is_a_trigger(self):
        d = self.load(HEAD + """
dag = DAG("d", schedule="0 3 * * *")
""", version=3).only()
        self.assertEqual(d.timetable._lithoflow_kind, "cron_trigger")

    def test_schedule_checks(self):
        with self.assertRaisesRegex(ValueError, "DAG is missing the start_date parameter"):
            self.load(HEAD + "dag = DAG('d', schedule='@daily')\n")
        with self.assertRaisesRegex(ValueError, "At most one allowed for args 'schedule_interval', 'timetable', and 'schedule'."):
            self.load(HEAD + "dag = DAG('d', start_date=START, schedule='@daily', schedule_interval='@daily')\n")
        with self.assertRaisesRegex(Exception, "DAG is not allowed to define a Schedule"):
            self.load(HEAD + """
from airflow.models.param import Param
dag = DAG('d', start_date=START, schedule='@daily', params={"p": Param(type="string")})
""")


class Airflow3DagTest(AuthoringCase):
    def test_airflow_3_refuses_airflow_2_arguments(self):
        with self.assertRaisesRegex(TypeError, "DAG.__init__\\(\\) got an unexpected keyword argument 'schedule_interval'"):
            self.load(HEAD + "dag = DAG('d', schedule_interval='@daily', start_date=START)\n", version=3)
        with self.assertRaisesRegex(TypeError, "Invalid arguments were passed to EmptyOperator \\(task_id: t\\)"):
            self.load(HEAD + """
with DAG("d") as dag:
    EmptyOperator(task_id="t", task_concurrency=2)
""", version=3)

    def test_airflow_3_start_date_from_default_args_and_catchup_check(self):
        d = self.load(HEAD + """
dag = DAG("d", schedule="@daily", default_args={"start_date": START})
""", version=3).only()
        self.assertEqual(d.start_date, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
        with self.assertRaisesRegex(ValueError, "^start_date is required when catchup=True$"):
            self.load(HEAD + "dag = DAG('d', schedule='@daily', catchup=True)\n", version=3)
        # A schedule without a start date is fine in Airflow 3 when catchup is off.
        self.load(HEAD + "dag = DAG('d', schedule='@daily')\n", version=3)


class LinesTest(AuthoringCase):
    def test_lines_of_dags_tasks_and_groups(self):
        d = self.load("""import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

def helper(dag):
    return EmptyOperator(task_id="made_in_helper", dag=dag)

dag = DAG(
    "d",
    start_date=datetime.datetime(2024, 1, 1),
)
a = EmptyOperator(task_id="a", dag=dag)
with TaskGroup("g", dag=dag) as g:
    b = EmptyOperator(task_id="b", dag=dag)
c = helper(dag)
""").only()
        self.assertEqual(d._lithoflow_line, 9)
        self.assertEqual(d.get_task("a")._lithoflow_line, 13)
        self.assertEqual(d.get_task("g.b")._lithoflow_line, 15)
        self.assertEqual(d.task_group_dict["g"]._lithoflow_line, 14)
        # Innermost frame in the DAG file: the helper's line.
        self.assertEqual(d.get_task("made_in_helper")._lithoflow_line, 7)

    def test_lines_of_objects_made_in_a_helper_module(self):
        self.write("factory_mod.py", """import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator


def make(dag_id):
    dag = DAG(dag_id, start_date=datetime.datetime(2024, 1, 1))
    EmptyOperator(task_id="t", dag=dag)
    return dag
""")
        loaded = self.load("""from factory_mod import make

first = make("one")
second = make("two")
""")
        # The innermost frame in the DAG file: where the factory was called.
        self.assertEqual((loaded["one"]._lithoflow_line, loaded["two"]._lithoflow_line), (3, 4))
        self.assertEqual(loaded["two"].get_task("t")._lithoflow_line, 4)
        self.assertTrue(loaded["one"].fileloc.endswith("factory_mod.py"))
