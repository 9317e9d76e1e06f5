"""Airflow's parse-time errors, with Airflow 2.10's exception classes and messages:
duplicate ids, bad ids, cycles (as the DagBag checks them), a task in two DAGs."""

from tests.test_authoring_support import AuthoringCase

HEAD = """
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup
START = datetime.datetime(2024, 1, 1)
"""


class ErrorsTest(AuthoringCase):
    def check(self, body, exc_name, message, version=2):
        with self.assertRaises(Exception) as ctx:
            self.load(HEAD + body, version=version)
        self.assertEqual(type(ctx.exception).__name__, exc_name, str(ctx.exception))
        self.assertEqual(str(ctx.exception), message)

    def test_duplicate_task_id(self):
        self.check("""
with DAG("d", start_date=START) as dag:
    EmptyOperator(task_id="a")
    EmptyOperator(task_id="a")
""", "DuplicateTaskIdFound", "Task id 'a' has already been added to the DAG")

    def test_duplicate_task_id_through_dag_argument(self):
        self.check("""
dag = DAG("d", start_date=START)
EmptyOperator(task_id="a", dag=dag)
EmptyOperator(task_id="a", dag=dag)
""", "DuplicateTaskIdFound", "Task id 'a' has already been added to the DAG")

    def test_duplicate_group_and_group_task_collisions(self):
        self.check("""
with DAG("d", start_date=START) as dag:
    with TaskGroup("g"):
        pass
    with TaskGroup("g"):
        pass
""", "DuplicateTaskIdFound", "group_id 'g' has already been added to the DAG")
        self.check("""
with DAG("d", start_date=START) as dag:
    EmptyOperator(task_id="g")
    with TaskGroup("g"):
        pass
""", "DuplicateTaskIdFound", "group_id 'g' has already been added to the DAG")
        self.check("""
with DAG("d", start_date=START) as dag:
    with TaskGroup("g"):
        pass
    EmptyOperator(task_id="g")
""", "DuplicateTaskIdFound", "Task id 'g' has already been added to the DAG")

    def test_bad_ids(self):
        self.check("""
with DAG("d", start_date=START) as dag:
    EmptyOperator(task_id="a b")
""", "AirflowException",
            "The key 'a b' has to be made of alphanumeric characters, dashes, dots and underscores exclusively")
        self.check("dag = DAG('bad id!', start_date=START)\n", "AirflowException",
                   "The key 'bad id!' has to be made of alphanumeric characters, dashes, dots and underscores exclusively")
        self.check("""
with DAG("d", start_date=START) as dag:
    TaskGroup("a.b")
""", "AirflowException", "The key 'a.b' has to be made of alphanumeric characters, dashes and underscores exclusively")
        self.check("dag = DAG('x' * 251, start_date=START)\n", "AirflowException",
                   "The key has to be less than 250 characters")

    def test_cycle_is_found_as_the_dagbag_finds_it(self):
        loaded = self.load(HEAD + """
with DAG("d", start_date=START) as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a
""")
        from airflow.utils.dag_cycle_tester import check_cycle

        with self.assertRaises(Exception) as ctx:
            check_cycle(loaded.only())
        self.assertEqual(type(ctx.exception).__name__, "AirflowDagCycleException")
        self.assertRegex(str(ctx.exception), r"^Cycle detected in DAG: d\. Faulty task: [ab]$")
        with self.assertRaises(Exception):
            loaded.only().check_cycle()

    def test_task_in_two_dags(self):
        self.check("""
one = DAG("one", start_date=START)
two = DAG("two", start_date=START)
t = EmptyOperator(task_id="t", dag=one)
t.dag = two
""", "AirflowException", "The DAG assigned to <Task(EmptyOperator): t> can not be changed.")
        with self.assertRaisesRegex(Exception, "^Tried to set relationships between tasks in more than one DAG"):
            self.load(HEAD + """
one = DAG("one", start_date=START)
two = DAG("two", start_date=START)
EmptyOperator(task_id="a", dag=one) >> EmptyOperator(task_id="b", dag=two)
""")

    def test_relationships_without_any_dag(self):
        with self.assertRaisesRegex(Exception, "^Tried to create relationships between tasks that don't have DAGs yet"):
            self.load(HEAD + "EmptyOperator(task_id='a') >> EmptyOperator(task_id='b')\n")

    def test_task_group_outside_a_dag(self):
        self.check("TaskGroup('g')\n", "AirflowException", "TaskGroup can only be used inside a dag")

    def test_bad_trigger_rule_and_positional_arguments(self):
        with self.assertRaisesRegex(Exception, "The trigger_rule must be one of .*'d.t'; received 'sometimes'."):
            self.load(HEAD + """
with DAG("d", start_date=START) as dag:
    EmptyOperator(task_id="t", trigger_rule="sometimes")
""")
        self.check("""
with DAG("d", start_date=START) as dag:
    EmptyOperator("t")
""", "AirflowException", "Use keyword arguments when initializing operators")

    def test_fail_stop_needs_all_success(self):
        self.check("""
with DAG("d", start_date=START, fail_stop=True) as dag:
    EmptyOperator(task_id="t", trigger_rule="all_done")
""", "FailStopDagInvalidTriggerRule", "A 'fail-stop' dag can only have all_success trigger rule")

    def test_bag_time_validation(self):
        loaded = self.load(HEAD + """
d1 = DAG("d1", start_date=START, schedule="@daily")
d1.schedule_interval = "@hourly"
d2 = DAG("d2", start_date=START, schedule="@daily")
d2.schedule_interval = "0 0 * * *" if False else "@daily"
with DAG("d3", start_date=START, schedule=None) as d3:
    s = EmptyOperator(task_id="s").as_setup()
    s >> EmptyOperator(task_id="w", trigger_rule="all_done")
""")
        with self.assertRaises(Exception) as ctx:
            loaded["d1"].validate()
        self.assertEqual(type(ctx.exception).__name__, "AirflowDagInconsistent")
        self.assertEqual(str(ctx.exception),
                         "inconsistent schedule: timetable '@daily' does not match schedule_interval '@hourly'")
        loaded["d2"].validate()
        with self.assertRaisesRegex(ValueError, "^Setup tasks must be followed with trigger rule ALL_SUCCESS.$"):
            loaded["d3"].validate()

    def test_unknown_dag_argument(self):
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'schedulle'"):
            self.load(HEAD + "dag = DAG('d', start_date=START, schedulle='@daily')\n")

    def test_sensor_checks(self):
        with self.assertRaisesRegex(Exception, "The mode must be one of \\['poke', 'reschedule'\\],'d .t'; received 'sometimes'."):
            self.load(HEAD + """
from airflow.sensors.python import PythonSensor
with DAG("d", start_date=START) as dag:
    PythonSensor(task_id="t", python_callable=bool, mode="sometimes")
""")
        with self.assertRaisesRegex(Exception, "Operator arg `poke_interval` must be timedelta object or a non-negative number"):
            self.load(HEAD + """
from airflow.sensors.python import PythonSensor
with DAG("d", start_date=START) as dag:
    PythonSensor(task_id="t", python_callable=bool, poke_interval=-1)
""")
