"""The description of `.py` DAGs (compat/airflow/_lithoflow/describe.py): the DAG's own
arguments with Airflow 2's or 3's defaults, schedules, time zones, callbacks, what is ignored,
which DAG objects a file defines, and Airflow's bag-time errors; loaded through the real loader."""

import os
import unittest

from tests.test_loader_support import DescribeCase, lithoflow_binary, validate_toml

HEAD = """
from datetime import datetime, timedelta, timezone
from airflow import DAG
from airflow.models.baseoperator import BaseOperator


class Op(BaseOperator):
    template_fields = ("msg",)

    def __init__(self, msg="", **kwargs):
        super().__init__(**kwargs)
        self.msg = msg

    def execute(self, context):
        return self.msg
"""

UTC_2026 = {"$datetime": "2026-01-01T00:00:00+00:00"}


class DagDefaultsTest(DescribeCase):
    def test_airflow_2_defaults_are_written_out(self):
        d = self.one(HEAD + """
with DAG("v2", start_date=datetime(2026, 1, 1)) as dag:
    Op(task_id="t")
""")
        self.assertEqual(d["airflow_version"], 2)
        self.assertIn("default_version = 2", d["version_reason"])
        t = d["toml"]
        self.assertEqual(t["dag_id"], "v2")
        self.assertEqual(t["start_date"], UTC_2026)
        self.assertEqual((t["schedule"], t["timetable"], t["catchup"]), ("1d", "cron_data_interval", True))
        self.assertEqual((t["timezone"], t["is_paused_upon_creation"], t["max_active_runs"], t["max_active_tasks"]),
                         ("UTC", True, 16, 16))
        self.assertEqual(d["line"], 16)
        self.assertEqual(d["tasks"]["t"]["line"], 17)

    def test_airflow_3_defaults_from_the_configured_version(self):
        d = self.one(HEAD + """
with DAG("v3") as dag:
    Op(task_id="t")
""", version=3)
        self.assertEqual(d["airflow_version"], 3)
        self.assertIn("default_version = 3", d["version_reason"])
        t = d["toml"]
        self.assertNotIn("schedule", t)
        self.assertEqual((t["timetable"], t["catchup"]), ("cron_trigger", False))
        self.assertNotIn("start_date", t)

    def test_cron_schedule_per_version(self):
        text = HEAD + """
with DAG("c", schedule="30 6 * * mon-fri", start_date=datetime(2026, 1, 1), catchup=False) as dag:
    Op(task_id="t")
"""
        t2 = self.one(text)["toml"]
        t3 = self.one(text, version=3)["toml"]
        self.assertEqual((t2["schedule"], t2["timetable"], t2["catchup"]), ("30 6 * * mon-fri", "cron_data_interval", False))
        self.assertEqual((t3["schedule"], t3["timetable"]), ("30 6 * * mon-fri", "cron_trigger"))

    def test_schedule_interval_timedelta_and_presets(self):
        dags = self.describe(HEAD + """
start = datetime(2026, 1, 1)
a = DAG("delta", schedule_interval=timedelta(hours=6), start_date=start)
b = DAG("once", schedule="@once", start_date=start)
c = DAG("cont", schedule="@continuous", start_date=start, max_active_runs=1)
d = DAG("manual", schedule=None, start_date=start)
e = DAG("daily", schedule="@daily", start_date=start)
""")
        t = {x["dag_id"]: x["toml"] for x in dags}
        self.assertEqual(t["delta"]["schedule"], "6h")
        self.assertEqual(t["delta"]["timetable"], "cron_data_interval")
        self.assertEqual(t["once"]["schedule"], "@once")
        self.assertEqual((t["cont"]["schedule"], t["cont"]["max_active_runs"]), ("@continuous", 1))
        self.assertNotIn("schedule", t["manual"])
        self.assertEqual(t["daily"]["schedule"], "@daily")

    def test_explicit_timetables(self):
        dags = self.describe(HEAD + """
from airflow.timetables.trigger import CronTriggerTimetable
from airflow.timetables.interval import CronDataIntervalTimetable
a = DAG("trig", schedule=CronTriggerTimetable("0 1 * * *", timezone="UTC"), start_date=datetime(2026, 1, 1))
b = DAG("data", schedule=CronDataIntervalTimetable("0 2 * * *", "UTC"), start_date=datetime(2026, 1, 1))
""", version=3)
        t = {x["dag_id"]: x["toml"] for x in dags}
        self.assertEqual((t["trig"]["schedule"], t["trig"]["timetable"]), ("0 1 * * *", "cron_trigger"))
        self.assertEqual((t["data"]["schedule"], t["data"]["timetable"]), ("0 2 * * *", "cron_data_interval"))

    def test_custom_timetable_is_a_warning_and_the_dag_manual(self):
        d = self.one(HEAD + """
from airflow.timetables.base import Timetable

class Mine(Timetable):
    pass

dag = DAG("custom_tt", timetable=Mine(), start_date=datetime(2026, 1, 1))
""")
        self.assertEqual([f["severity"] for f in d["findings"]], ["warning"])
        self.assertIn("Mine", d["findings"][0]["message"])
        self.assertIn("runs only when triggered", d["findings"][0]["message"])
        self.assertEqual(d["findings"][0]["line"], d["line"])
        self.assertNotIn("schedule", d["toml"])

    def test_dataset_or_time_schedule_keeps_the_timetable(self):
        d = self.one(HEAD + """
from airflow.datasets import Dataset
from airflow.timetables.datasets import DatasetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

dag = DAG("ds_or_time", start_date=datetime(2026, 1, 1),
          schedule=DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"),
                                         datasets=[Dataset("s3://b/x")]))
""")
        self.assertEqual(d["toml"]["schedule"], "0 1 * * 3")
        self.assertEqual(d["toml"]["timetable"], "cron_trigger")
        self.assertEqual([f["severity"] for f in d["findings"]], ["warning"])
        self.assertIn("asset condition does not trigger", d["findings"][0]["message"])

    def test_asset_alias_outlet_is_dropped_with_a_warning(self):
        d = self.one(HEAD + """
from airflow.datasets import DatasetAlias
from airflow.operators.empty import EmptyOperator

with DAG("alias_out", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="t", outlets=[DatasetAlias("a1")])
""")
        self.assertEqual([f["severity"] for f in d["findings"]], ["warning"])
        self.assertNotIn("outlets", d["toml"]["tasks"]["t"])

    def test_dataset_schedule(self):
        d = self.one(HEAD + """
from airflow.datasets import Dataset
dag = DAG("ds", schedule=[Dataset("s3://bucket/raw.csv"), Dataset("asset://orders")], start_date=datetime(2026, 1, 1))
""")
        self.assertEqual([(a if isinstance(a, str) else a["uri"]).rstrip("/") for a in d["toml"]["schedule"]],
                         ["s3://bucket/raw.csv", "asset://orders"])
        self.assertEqual(d["findings"], [])

    def test_named_zone_start_date(self):
        d = self.one(HEAD + """
from zoneinfo import ZoneInfo
dag = DAG("ams", schedule="0 2 * * *", start_date=datetime(2026, 7, 1, tzinfo=ZoneInfo("Europe/Amsterdam")))
""")
        t = d["toml"]
        self.assertEqual(t["timezone"], "Europe/Amsterdam")
        self.assertEqual(t["start_date"], {"$datetime": "2026-06-30T22:00:00+00:00"})

    def test_fixed_offset_start_date_leaves_the_zone_to_the_parser(self):
        d = self.one(HEAD + """
dag = DAG("fixed", schedule=None, start_date=datetime(2026, 1, 1, 6, tzinfo=timezone(timedelta(hours=2))))
""")
        self.assertNotIn("timezone", d["toml"])
        self.assertEqual(d["toml"]["start_date"], {"$datetime": "2026-01-01T04:00:00+00:00"})

    def test_start_date_from_default_args(self):
        d = self.one(HEAD + """
with DAG("da", schedule="@daily", default_args={"start_date": datetime(2026, 1, 1), "retries": 3}) as dag:
    Op(task_id="t")
""")
        self.assertEqual(d["toml"]["start_date"], UTC_2026)
        self.assertEqual(d["toml"]["tasks"]["t"]["retries"], 3)
        self.assertEqual(d["tasks"]["t"]["ignored"], [])

    def test_scalars(self):
        d = self.one(HEAD + """
dag = DAG("s", description="about", schedule=None, start_date=datetime(2026, 1, 1), end_date=datetime(2026, 2, 1),
          concurrency=4, max_active_runs=2, dagrun_timeout=timedelta(minutes=90), tags=["b", "a"],
          is_paused_upon_creation=False, render_template_as_native_obj=True, catchup=False)
""")
        t = d["toml"]
        self.assertEqual((t["description"], t["max_active_tasks"], t["max_active_runs"], t["dagrun_timeout"]),
                         ("about", 4, 2, 5400))
        self.assertEqual((t["tags"], t["is_paused_upon_creation"], t["render_template_as_native_obj"]),
                         (["b", "a"], False, True))
        self.assertEqual(t["end_date"], {"$datetime": "2026-02-01T00:00:00+00:00"})

    def test_params(self):
        d = self.one(HEAD + """
from airflow.models.param import Param
dag = DAG("p", schedule=None, start_date=datetime(2026, 1, 1),
          params={"n": 3, "name": Param("x", type="string"), "items": [1, 2], "opt": Param(None, type=["null", "string"])})
""")
        self.assertEqual(d["toml"]["params"], {"n": 3, "name": "x", "items": [1, 2]})

    def test_catchup_without_start_date_in_airflow_3_is_an_import_error(self):
        self.write("nostart.py", HEAD + """
dag = DAG("nostart", schedule="@daily", catchup=True)
""")
        res = self.loader.load("nostart.py", default_version=3)
        self.assertFalse(res["ok"])
        self.assertEqual((res["error"]["type"], res["error"]["line"]), ("ValueError", 16))

class DagArgumentsTest(DescribeCase):
    def test_callbacks_are_references_with_callable_info(self):
        d = self.one(HEAD + """
def alert(context):
    pass

dag = DAG("cb", schedule=None, start_date=datetime(2026, 1, 1), on_failure_callback=alert,
          on_success_callback=[alert, lambda c: None])
""")
        t = d["toml"]
        self.assertEqual(t["on_failure_callback"], [self.ref("cb", None, "on_failure_callback_0")])
        self.assertEqual(t["on_success_callback"], [self.ref("cb", None, "on_success_callback_0"),
                                                    self.ref("cb", None, "on_success_callback_1")])
        info = d["callables"]
        self.assertEqual((info["on_failure_callback_0"]["kind"], info["on_failure_callback_0"]["qualname"]),
                         ("function", "alert"))
        self.assertEqual(info["on_success_callback_1"]["kind"], "lambda")
        self.assertEqual(info["on_failure_callback_0"]["file"], os.path.join(self.folder, "dag_file.py"))

    def test_ignored_arguments(self):
        d = self.one(HEAD + """
dag = DAG("ign", schedule=None, start_date=datetime(2026, 1, 1), access_control={"team": {"can_read"}},
          doc_md="# doc", default_view="graph", owner_links={"me": "https://x"})
""")
        self.assertEqual(sorted(i["name"] for i in d["ignored"]),
                         ["access_control", "default_view", "doc_md", "owner_links"])
        self.assertTrue(all(i["line"] == d["line"] for i in d["ignored"]))

    def test_macros_and_filters(self):
        d = self.one(HEAD + """
def next_monday(ds):
    return ds

dag = DAG("mac", schedule=None, start_date=datetime(2026, 1, 1),
          user_defined_macros={"project": "analytics", "next_monday": next_monday},
          user_defined_filters={"shout": next_monday, "bad": lambda s: s})
""")
        mod = "lithoflow_dagfile_" + "dag_file.py".encode().hex()
        self.assertEqual(d["toml"]["user_defined_macros"],
                         {"project": "analytics", "next_monday": {"callable": mod + ":next_monday"}})
        self.assertEqual(d["toml"]["user_defined_filters"], {"shout": mod + ":next_monday"})
        self.assertEqual(len(d["findings"]), 1)
        self.assertIn("bad", d["findings"][0]["message"])

    def test_parse_time_variable_reads(self):
        d = self.one(HEAD + """
from airflow.models import Variable
bucket = Variable.get("bucket", default_var="fallback")
dag = DAG("pt", schedule=None, start_date=datetime(2026, 1, 1))
""")
        self.assertEqual(len(d["parse_time"]), 1)
        self.assertIn("bucket", d["parse_time"][0]["what"])
        self.assertEqual(d["parse_time"][0]["line"], 17)

    def test_parse_time_clock_reads(self):
        d = self.describe(HEAD + """
from airflow.utils.dates import days_ago
from airflow.decorators import task
import time

NOW = datetime.now()

def factory(i):
    return DAG("f%d" % i, start_date=datetime.utcnow() - timedelta(days=i), schedule=None)

def never_called():
    return datetime.now()

@task
def runs_later():
    return time.time()

made = factory(1)
other = DAG("other", start_date=days_ago(2), schedule=None)
""")[0]
        self.assertEqual(d["parse_time"], [{"what": "datetime.now()", "line": 20},
                                           {"what": "datetime.utcnow()", "line": 23},
                                           {"what": "days_ago()", "line": 33}])


class VersionTest(DescribeCase):
    def test_a_file_importing_the_standard_provider_gets_airflow_3(self):
        d = self.one("""
from datetime import datetime
from airflow import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("std") as dag:
    EmptyOperator(task_id="e")
""")
        self.assertEqual(d["airflow_version"], 3)
        self.assertIn("airflow.providers.standard (line 3)", d["version_reason"])
        self.assertNotIn("schedule", d["toml"])
        self.assertEqual((d["toml"]["catchup"], d["toml"]["timetable"]), (False, "cron_trigger"))


class CollectionTest(DescribeCase):
    def test_dags_from_loops_factories_and_unbound_with_blocks(self):
        dags = self.describe(HEAD + """
def make(dag_id):
    dag = DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1))
    Op(task_id="t", dag=dag)
    return dag

for n in range(3):
    globals()["generated_%d" % n] = make("gen_%d" % n)

with DAG("unbound", schedule=None, start_date=datetime(2026, 1, 1)):
    Op(task_id="only")

def hidden():
    return DAG("never_seen", schedule=None, start_date=datetime(2026, 1, 1))

hidden()
""")
        self.assertEqual(sorted(d["dag_id"] for d in dags), ["gen_0", "gen_1", "gen_2", "unbound"])

    def test_duplicate_dag_id_in_one_file_keeps_the_later(self):
        self.write("dup.py", HEAD + """
a = DAG("same", schedule=None, start_date=datetime(2026, 1, 1), description="first")
b = DAG("same", schedule=None, start_date=datetime(2026, 1, 1), description="second")
""")
        res = self.loader.load("dup.py")
        self.assertEqual([d["toml"].get("description") for d in res["dags"]], ["second"])
        self.assertEqual(len(res["warnings"]), 1)

    def test_a_cycle_is_an_import_error(self):
        self.write("cycle.py", HEAD + """
with DAG("cyc", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    a = Op(task_id="a")
    b = Op(task_id="b")
    a >> b >> a
""")
        res = self.loader.load("cycle.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["type"], "AirflowDagCycleException")
        self.assertIn("Cycle detected in DAG: cyc", res["error"]["message"])

    def test_a_file_in_a_subfolder_is_named_by_its_relative_path(self):
        d = self.describe(HEAD + """
with DAG("sub", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    Op(task_id="t")
""", name="team_a/etl.py")[0]
        self.assertEqual(d["toml"]["tasks"]["t"]["python_callable"], self.ref("sub", "t", "execute", name="team_a/etl.py"))
        self.assertTrue(d["toml"]["tasks"]["t"]["python_callable"].startswith(
            "lithoflow_dagfile_" + "team_a/etl.py".encode().hex() + ":"))

    def test_a_file_without_dags_is_fine(self):
        self.assertEqual(self.describe("# airflow dag helpers\nX = 1\n"), [])


class TaskCommonTest(DescribeCase):
    def test_default_args_and_common_keys(self):
        d = self.one(HEAD + """
default_args = {"owner": "team", "retries": 2, "retry_delay": timedelta(seconds=90), "queue": "q",
                "email": ["a@b.c"], "email_on_failure": False, "start_date": datetime(2026, 1, 1)}
with DAG("com", schedule=None, default_args=default_args) as dag:
    a = Op(task_id="a", retries=5, trigger_rule="all_done", pool="p", pool_slots=2, priority_weight=7,
           weight_rule="absolute", execution_timeout=timedelta(milliseconds=1500), depends_on_past=True,
           do_xcom_push=False, max_active_tis_per_dag=2, retry_exponential_backoff=True,
           max_retry_delay=timedelta(hours=1))
    b = Op(task_id="b", trigger_rule="none_failed_min_one_success")
    c = Op(task_id="c")
    [a, b] >> c
""")
        t = d["toml"]["tasks"]
        self.assertEqual(t["a"], {
            "type": "python", "trigger_rule": "all_done", "retries": 5, "retry_delay": 90,
            "retry_exponential_backoff": True, "max_retry_delay": 3600, "execution_timeout": "1500ms",
            "depends_on_past": True, "do_xcom_push": False, "owner": "team", "pool": "p", "pool_slots": 2,
            "priority_weight": 7, "weight_rule": "absolute", "max_active_tis_per_dag": 2,
            "python_callable": self.ref("com", "a", "execute"), "op_args": [{"msg": ""}]})
        self.assertEqual(t["b"]["trigger_rule"], "none_failed_min_one_success")
        self.assertEqual(t["c"]["upstream"], ["a", "b"])
        self.assertEqual(sorted(i["name"] for i in d["tasks"]["a"]["ignored"]), ["email", "queue"])

    def test_outlets_and_callbacks(self):
        d = self.one(HEAD + """
from airflow.datasets import Dataset

def on_fail(context):
    pass

with DAG("out", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"on_failure_callback": on_fail}) as dag:
    Op(task_id="t", outlets=[Dataset("s3://b/k")], on_retry_callback=[on_fail, on_fail])
""")
        t = d["toml"]["tasks"]["t"]
        self.assertEqual(t["outlets"], ["s3://b/k"])
        self.assertEqual(t["on_failure_callback"], [self.ref("out", "t", "on_failure_callback_0")])
        self.assertEqual(t["on_retry_callback"], [self.ref("out", "t", "on_retry_callback_0"),
                                                  self.ref("out", "t", "on_retry_callback_1")])
        self.assertEqual(d["tasks"]["t"]["callables"]["on_retry_callback_1"]["qualname"], "on_fail")

    def test_invalid_task_id_for_lithoflow_is_a_finding(self):
        d = self.one(HEAD + """
with DAG("ids", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    Op(task_id="caf\u00e9")
""")
        self.assertEqual([f["severity"] for f in d["findings"]], ["error"])


class CustomOperatorTest(DescribeCase):
    def test_custom_operator_fields_and_template_files(self):
        self.write("query.sql", "select '{{ ds }}'\n")
        d = self.one(HEAD + """
class Sql(BaseOperator):
    template_fields = ("sql", "params_list", "when")
    template_ext = (".sql",)

    def __init__(self, sql, params_list=(), when=None, **kwargs):
        super().__init__(**kwargs)
        self.sql, self.params_list, self.when = sql, list(params_list), when

    def execute(self, context):
        return self.sql

with DAG("cust", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    Sql(task_id="q", sql="query.sql", params_list=[1, "{{ ds }}"], when=datetime(2026, 1, 1))
""")
        t = d["toml"]["tasks"]["q"]
        self.assertEqual(t["python_callable"], self.ref("cust", "q", "execute"))
        self.assertEqual(t["op_args"], [{"sql": "select '{{ ds }}'\n", "params_list": [1, "{{ ds }}"]}])
        info = d["tasks"]["q"]
        self.assertEqual((info["operator"], info["custom"], info["unsupported"]), ("Sql", True, False))

    def test_custom_sensor(self):
        d = self.one(HEAD + """
from airflow.sensors.base import BaseSensorOperator

class Ready(BaseSensorOperator):
    template_fields = ("target",)

    def __init__(self, target, **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def poke(self, context):
        return True

with DAG("sens", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    Ready(task_id="r", target="x", poke_interval=30, timeout=600, mode="reschedule")
""")
        t = d["toml"]["tasks"]["r"]
        self.assertEqual((t["type"], t["sensor"], t["python_callable"]), ("sensor", "python", self.ref("sens", "r", "poke")))
        self.assertEqual((t["poke_interval"], t["timeout"], t["mode"]), (30, 600, "reschedule"))
        self.assertEqual(t["op_args"], [{"target": "x"}])

    def test_custom_branch_operator(self):
        d = self.one(HEAD + """
from airflow.operators.branch import BaseBranchOperator

class Pick(BaseBranchOperator):
    def choose_branch(self, context):
        return "a"

with DAG("cbr", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    Pick(task_id="pick") >> [Op(task_id="a"), Op(task_id="b")]
""")
        t = d["toml"]["tasks"]["pick"]
        self.assertEqual((t["type"], t["python_callable"]), ("branch", self.ref("cbr", "pick", "execute")))
        self.assertEqual((d["tasks"]["pick"]["kind"], d["tasks"]["pick"]["custom"]), ("custom_branch", True))

    def test_unsupported_provider_operator(self):
        d = self.one(HEAD + """
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

with DAG("prov", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    BigQueryInsertJobOperator(task_id="bq", configuration={"query": {"query": "select 1"}})
""")
        t = d["toml"]["tasks"]["bq"]
        info = d["tasks"]["bq"]
        self.assertEqual((t["type"], t["python_callable"]), ("python", self.ref("prov", "bq", "unsupported")))
        self.assertEqual((info["operator"], info["unsupported"]), ("BigQueryInsertJobOperator", True))
        self.assertEqual(info["operator_module"], "airflow.providers.google.cloud.operators.bigquery")


@unittest.skipUnless(lithoflow_binary(), "needs a lithoflow binary ($LITHOFLOW_BIN or target/debug/lithoflow)")
class TomlAcceptedTest(DescribeCase):
    """The descriptions' TOML passes `lithoflow dags validate`, as the scheduler parses it."""

    def test_every_dag_of_a_mixed_file_validates(self):
        self.write("query.sql", "select 1\n")
        dags = self.describe(HEAD + """
from zoneinfo import ZoneInfo
from airflow.datasets import Dataset
from airflow.models.param import Param
from airflow.sensors.base import BaseSensorOperator
from airflow.providers.postgres.operators.postgres import PostgresOperator


class Wait(BaseSensorOperator):
    def poke(self, context):
        return True


def cb(context):
    pass


default_args = {"owner": "o", "retries": 1, "retry_delay": timedelta(minutes=2), "queue": "q",
                "on_failure_callback": cb, "start_date": datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))}
with DAG("mixed", schedule="0 3 * * *", default_args=default_args, params={"n": Param(2, type="integer")},
         tags=["x"], dagrun_timeout=timedelta(hours=2), on_success_callback=cb) as dag:
    a = Op(task_id="a", msg="{{ ds }}", outlets=[Dataset("s3://b/k")], pool_slots=2,
           execution_timeout=timedelta(seconds=1.5))
    w = Wait(task_id="w", poke_interval=timedelta(seconds=5), mode="reschedule", soft_fail=True)
    p = PostgresOperator(task_id="pg", sql="query.sql")
    a >> w >> p

second = DAG("second", schedule=timedelta(hours=6), start_date=datetime(2026, 1, 1), catchup=False)
third = DAG("third", schedule=[Dataset("s3://b/k")], start_date=datetime(2026, 1, 1))
""")
        self.assertEqual(len(dags), 3)
        for d in dags:
            self.assertEqual([f for f in d["findings"] if f["severity"] == "error"], [], d["dag_id"])
            code, out = validate_toml(d["toml"], self.folder)
            self.assertEqual(code, 0, "%s:\n%s" % (d["dag_id"], out))


if __name__ == "__main__":
    unittest.main()
