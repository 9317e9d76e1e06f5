"""Issue 20's acceptance script for `/api/v1`, with apache-airflow-client 2.10.0: what a
team's monitoring/ops script does against Airflow 2.10, unchanged, every value checked.

The steps run in order (unittest sorts them by name) and build on each other, as one
script would: list the DAGs, set a variable that makes `mon_etl`'s report fail, trigger a
run with conf, logical date and note, watch it fail, list runs by state and date, task
instances across runs (`~`), read logs and XCom, fix the variable, clear only the failed
task so the run succeeds, trigger a second run, pause and unpause, clean up.
Expected values are Airflow 2.10.5's (api_connexion/endpoints/*.py, schemas/*.py).
Only the DAG ids `mon_*` are looked at (other files' DAGs share the folder).
"""

import datetime as dt
import unittest

import airflow_client.client as client
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DAGRunApi
from airflow_client.client.api.event_log_api import EventLogApi
from airflow_client.client.api.monitoring_api import MonitoringApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.variable_api import VariableApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.model.clear_dag_run import ClearDagRun
from airflow_client.client.model.clear_task_instances import ClearTaskInstances
from airflow_client.client.model.dag import DAG
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.list_dag_runs_form import ListDagRunsForm
from airflow_client.client.model.list_task_instance_form import ListTaskInstanceForm
from airflow_client.client.model.set_dag_run_note import SetDagRunNote
from airflow_client.client.model.variable import Variable

import common

UTC = dt.timezone.utc
DAG_ID = "mon_etl"
FAILING_RUN = "mon_nightly_fix"
FAILING_DATE = dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
SECOND_DATE = dt.datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
# Airflow 2.10's run id for a trigger without one: DagRun.generate_run_id(MANUAL, date).
SECOND_RUN = "manual__2026-11-02T06:30:00+00:00"
TASKS = ["extract", "flaky", "load", "report"]


def finished_run(api, run_id):
    """Waits until the run has finished; the run."""

    def check():
        run = api.get_dag_run(DAG_ID, run_id)
        return run if str(run.state) in ("success", "failed") else None

    return common.wait_for(f"run {run_id} to finish", check)


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = common.v1_client()
        cls.dags = DAGApi(cls.api)
        cls.runs = DAGRunApi(cls.api)
        cls.tis = TaskInstanceApi(cls.api)
        cls.xcom = XComApi(cls.api)
        cls.variables = VariableApi(cls.api)

    # -- health and DAGs ---------------------------------------------------------------

    def test_01_health(self):
        health = MonitoringApi(self.api).get_health()
        self.assertEqual(str(health.metadatabase.status), "healthy")
        self.assertEqual(str(health.scheduler.status), "healthy")

    def test_02_list_dags(self):
        def both():
            got = self.dags.get_dags(tags=["monitoring"], order_by="-dag_id")
            ids = [d.dag_id for d in got.dags]
            return got if {"mon_etl", "mon_paused"} <= set(ids) else None

        got = common.wait_for("the monitoring DAGs", both)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused", "mon_etl"])
        self.assertEqual(got.total_entries, 2)
        etl, paused = got.dags[1], got.dags[0]
        self.assertFalse(etl.is_paused)
        self.assertTrue(paused.is_paused)
        self.assertTrue(etl.is_active)
        self.assertEqual(etl.owners, ["ops"])
        self.assertEqual(sorted(t.name for t in etl.tags), ["etl", "monitoring"])
        self.assertEqual(
            etl.description, "monitoring fixture: XCom, a retried task, a failure a variable switches"
        )
        self.assertTrue(etl.fileloc.endswith("mon_etl.toml"), etl.fileloc)
        self.assertTrue(etl.file_token)
        # schedule=None: no schedule_interval; @daily: a CronExpression.
        self.assertIsNone(etl.schedule_interval)
        self.assertEqual(paused.schedule_interval.type, "CronExpression")
        self.assertEqual(paused.schedule_interval.value, "@daily")
        self.assertEqual(etl.timetable_description, "Never, external triggers only")
        # dag_id_pattern and only_active, as dashboards filter.
        got = self.dags.get_dags(dag_id_pattern="mon_pa", only_active=True)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused"])
        got = self.dags.get_dags(tags=["monitoring"], paused=True)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused"])

    def test_03_get_dag(self):
        dag = self.dags.get_dag(DAG_ID)
        self.assertEqual(dag.dag_id, DAG_ID)
        self.assertFalse(dag.is_paused)
        self.assertEqual(dag.max_active_runs, 16)

    # -- variables ---------------------------------------------------------------------

    def test_04_variables_crud(self):
        created = self.variables.post_variables(
            Variable(key="mon_block_report", value="yes", description="blocks mon_etl's report")
        )
        self.assertEqual((created.key, created.value), ("mon_block_report", "yes"))
        got = self.variables.get_variable("mon_block_report")
        self.assertEqual(got.value, "yes")
        self.assertEqual(got.description, "blocks mon_etl's report")
        listed = self.variables.get_variables(limit=1000)
        keys = [v.key for v in listed.variables]
        self.assertIn("mon_block_report", keys)
        self.assertEqual(listed.total_entries, len(keys))
        # A secret-looking key never gives its value back: "***" (Airflow 2.10 returns it;
        # lithoflow never does, as Airflow 3.1 does not).
        self.variables.post_variables(Variable(key="mon_api_key", value="s3cr3t-v@lue"))
        self.assertEqual(self.variables.get_variable("mon_api_key").value, "***")
        self.variables.delete_variable("mon_api_key")
        with self.assertRaises(client.ApiException) as e:
            self.variables.get_variable("mon_api_key")
        self.assertEqual(e.exception.status, 404)

    # -- a run that fails ----------------------------------------------------------------

    def test_05_trigger_with_conf_logical_date_and_note(self):
        run = self.runs.post_dag_run(
            DAG_ID,
            DAGRun(
                dag_run_id=FAILING_RUN,
                logical_date=FAILING_DATE,
                conf={"rows": 5},
                note="nightly fix-up, triggered by the ops script",
            ),
        )
        self.assertEqual(run.dag_id, DAG_ID)
        self.assertEqual(run.dag_run_id, FAILING_RUN)
        self.assertEqual(run.logical_date, FAILING_DATE)
        self.assertEqual(run.execution_date, FAILING_DATE)
        self.assertEqual(run.conf, {"rows": 5})
        self.assertEqual(run.note, "nightly fix-up, triggered by the ops script")
        self.assertEqual(run.run_type, "manual")
        self.assertTrue(run.external_trigger)
        self.assertEqual(str(run.state), "queued")
        # The same run id again: 409.
        with self.assertRaises(client.ApiException) as e:
            self.runs.post_dag_run(DAG_ID, DAGRun(dag_run_id=FAILING_RUN))
        self.assertEqual(e.exception.status, 409)

    def test_06_the_run_fails_on_report(self):
        run = finished_run(self.runs, FAILING_RUN)
        self.assertEqual(str(run.state), "failed")
        self.assertIsNotNone(run.start_date)
        self.assertIsNotNone(run.end_date)
        self.assertEqual(run.conf, {"rows": 5})

    def test_07_runs_by_state_and_date(self):
        failed = self.runs.get_dag_runs(DAG_ID, state=["failed"])
        self.assertEqual([r.dag_run_id for r in failed.dag_runs], [FAILING_RUN])
        self.assertEqual(failed.total_entries, 1)
        self.assertEqual(self.runs.get_dag_runs(DAG_ID, state=["success"]).dag_runs, [])
        in_window = self.runs.get_dag_runs(
            DAG_ID,
            execution_date_gte=dt.datetime(2026, 10, 31, tzinfo=UTC),
            execution_date_lte=dt.datetime(2026, 11, 1, 12, tzinfo=UTC),
        )
        self.assertEqual([r.dag_run_id for r in in_window.dag_runs], [FAILING_RUN])
        after = self.runs.get_dag_runs(DAG_ID, execution_date_gte=dt.datetime(2026, 11, 1, 1, tzinfo=UTC))
        self.assertEqual(after.dag_runs, [])
        # Failed runs of every DAG (`~`), as an alerting script asks.
        everywhere = self.runs.get_dag_runs("~", state=["failed"], limit=1000)
        self.assertIn((DAG_ID, FAILING_RUN), [(r.dag_id, r.dag_run_id) for r in everywhere.dag_runs])

    def test_08_task_instances_of_the_failed_run(self):
        tis = self.tis.get_task_instances(DAG_ID, FAILING_RUN)
        by_id = {ti.task_id: ti for ti in tis.task_instances}
        self.assertEqual(sorted(by_id), TASKS)
        self.assertEqual(tis.total_entries, 4)
        states = {t: str(ti.state) for t, ti in by_id.items()}
        self.assertEqual(
            states, {"extract": "success", "flaky": "success", "load": "success", "report": "failed"}
        )
        flaky = by_id["flaky"]
        # Failed once, succeeded on the retry: Airflow 2.10 counts try_number 2 of max_tries 1.
        self.assertEqual((flaky.try_number, flaky.max_tries), (2, 1))
        report = by_id["report"]
        self.assertEqual((report.try_number, report.max_tries), (1, 0))
        for ti in tis.task_instances:
            self.assertEqual(ti.dag_run_id, FAILING_RUN)
            self.assertEqual(ti.map_index, -1)
            self.assertEqual(ti.pool, "default_pool")
            self.assertEqual(ti.pool_slots, 1)
            self.assertEqual(ti.queue, "default")
            self.assertTrue(ti.hostname)
            self.assertIsNotNone(ti.start_date)
            self.assertIsNotNone(ti.end_date)
            self.assertGreaterEqual(ti.duration, 0)
            self.assertEqual(ti.execution_date, run_date_text(FAILING_DATE))
        # One task instance.
        one = self.tis.get_task_instance(DAG_ID, FAILING_RUN, "report")
        self.assertEqual(str(one.state), "failed")

    def test_09_tries_of_the_retried_task(self):
        tries = self.tis.get_task_instance_tries(DAG_ID, FAILING_RUN, "flaky")
        got = [(t.try_number, str(t.state)) for t in tries.task_instances]
        self.assertEqual(got, [(1, "failed"), (2, "success")])
        self.assertEqual(tries.total_entries, 2)

    def test_10_logs(self):
        # JSON (the client asks for application/json): {content, continuation_token}.
        first = self.tis.get_log(DAG_ID, FAILING_RUN, "flaky", 1, full_content=True)
        self.assertIn("flaky try 1", first.content)
        self.assertNotIn("flaky try 2", first.content)
        second = self.tis.get_log(DAG_ID, FAILING_RUN, "flaky", 2, full_content=True)
        self.assertIn("flaky try 2", second.content)
        report = self.tis.get_log(DAG_ID, FAILING_RUN, "report", 1)
        self.assertIn("report blocked: variable mon_block_report is 'yes'", report.content)
        self.assertTrue(report.continuation_token)
        # Following the log with the token the last answer gave.
        more = self.tis.get_log(DAG_ID, FAILING_RUN, "report", 1, token=report.continuation_token)
        self.assertIsInstance(more.content, str)
        extract = self.tis.get_log(DAG_ID, FAILING_RUN, "extract", 1, full_content=True)
        self.assertIn("extracted 5 rows", extract.content)
        # text/plain, as `curl` and log shippers read it.
        status, headers, text = common.raw(
            "GET",
            f"/api/v1/dags/{DAG_ID}/dagRuns/{FAILING_RUN}/taskInstances/extract/logs/1?full_content=true",
            accept="text/plain",
        )
        self.assertEqual(status, 200, text)
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        self.assertTrue(content_type.startswith("text/plain"), headers)
        self.assertIn("extracted 5 rows", text)

    def test_11_xcom(self):
        entries = self.xcom.get_xcom_entries(DAG_ID, FAILING_RUN, "extract")
        self.assertEqual(sorted(e.key for e in entries.xcom_entries), ["return_value", "row_count"])
        self.assertEqual(entries.total_entries, 2)
        for e in entries.xcom_entries:
            self.assertEqual((e.dag_id, e.task_id, e.map_index), (DAG_ID, "extract", -1))
            self.assertTrue(e.timestamp)
            self.assertEqual(e.execution_date, run_date_text(FAILING_DATE))
        # stringify (default true): the value as text, as Airflow's str(value).
        count = self.xcom.get_xcom_entry(DAG_ID, FAILING_RUN, "extract", "row_count")
        self.assertEqual(count.value, "5")
        # stringify=false: the stored JSON value itself.
        value = self.xcom.get_xcom_entry(DAG_ID, FAILING_RUN, "extract", "return_value", stringify=False)
        self.assertEqual(value.value["source"], "mon")
        self.assertEqual([r["id"] for r in value.value["rows"]], [1, 2, 3, 4, 5])
        loaded = self.xcom.get_xcom_entry(DAG_ID, FAILING_RUN, "load", "return_value", stringify=False)
        self.assertEqual(loaded.value, 150)
        # Every XCom of the DAG's runs (`~` for the run and the task).
        across = self.xcom.get_xcom_entries(DAG_ID, "~", "~")
        self.assertEqual(
            sorted((e.task_id, e.key) for e in across.xcom_entries),
            [("extract", "return_value"), ("extract", "row_count"), ("flaky", "return_value"),
             ("load", "return_value")],
        )
        with self.assertRaises(client.ApiException) as e:
            self.xcom.get_xcom_entry(DAG_ID, FAILING_RUN, "extract", "no_such_key")
        self.assertEqual(e.exception.status, 404)

    # -- fix, clear, and the run succeeds --------------------------------------------------

    def test_12_clear_dry_run_only_failed_by_default(self):
        self.variables.patch_variable(
            "mon_block_report", Variable(key="mon_block_report", value="no"), update_mask=["value"]
        )
        self.assertEqual(self.variables.get_variable("mon_block_report").value, "no")
        # Airflow 2.10's defaults: dry_run true, only_failed true.
        dry = self.dags.post_clear_task_instances(DAG_ID, ClearTaskInstances(dag_run_id=FAILING_RUN))
        self.assertEqual([(t.task_id, t.dag_run_id) for t in dry.task_instances], [("report", FAILING_RUN)])
        everything = self.dags.post_clear_task_instances(
            DAG_ID, ClearTaskInstances(dag_run_id=FAILING_RUN, only_failed=False, dry_run=True)
        )
        self.assertEqual(sorted(t.task_id for t in everything.task_instances), TASKS)
        # Nothing changed.
        self.assertEqual(str(self.runs.get_dag_run(DAG_ID, FAILING_RUN).state), "failed")

    def test_13_clear_the_failed_task_and_the_run_succeeds(self):
        cleared = self.dags.post_clear_task_instances(
            DAG_ID, ClearTaskInstances(dag_run_id=FAILING_RUN, dry_run=False)
        )
        self.assertEqual([t.task_id for t in cleared.task_instances], ["report"])
        run = finished_run(self.runs, FAILING_RUN)
        self.assertEqual(str(run.state), "success")
        tis = {ti.task_id: ti for ti in self.tis.get_task_instances(DAG_ID, FAILING_RUN).task_instances}
        self.assertEqual({t: str(ti.state) for t, ti in tis.items()}, {t: "success" for t in TASKS})
        # Only report ran again: its second try; a clear raises max_tries (try_number + retries).
        self.assertEqual((tis["report"].try_number, tis["report"].max_tries), (2, 1))
        self.assertEqual(tis["extract"].try_number, 1)
        self.assertEqual(tis["flaky"].try_number, 2)
        tries = self.tis.get_task_instance_tries(DAG_ID, FAILING_RUN, "report")
        self.assertEqual([(t.try_number, str(t.state)) for t in tries.task_instances], [(1, "failed"), (2, "success")])
        log = self.tis.get_log(DAG_ID, FAILING_RUN, "report", 2, full_content=True)
        self.assertIn("report sent", log.content)

    def test_14_note(self):
        run = self.runs.set_dag_run_note(DAG_ID, FAILING_RUN, SetDagRunNote(note="fixed: mon_block_report"))
        self.assertEqual(run.note, "fixed: mon_block_report")
        self.assertEqual(self.runs.get_dag_run(DAG_ID, FAILING_RUN).note, "fixed: mon_block_report")

    # -- a second run; runs and task instances across runs ----------------------------------

    def test_15_trigger_without_run_id(self):
        run = self.runs.post_dag_run(DAG_ID, DAGRun(logical_date=SECOND_DATE, conf={"rows": 2}))
        self.assertEqual(run.dag_run_id, SECOND_RUN)
        self.assertIsNone(run.note)
        run = finished_run(self.runs, SECOND_RUN)
        self.assertEqual(str(run.state), "success")
        # The same logical date again: 409, as Airflow's (dag_id, execution_date) is unique.
        with self.assertRaises(client.ApiException) as e:
            self.runs.post_dag_run(DAG_ID, DAGRun(dag_run_id="another", logical_date=SECOND_DATE))
        self.assertEqual(e.exception.status, 409)

    def test_16_runs_order_and_batch(self):
        runs = self.runs.get_dag_runs(DAG_ID)
        # Airflow's default order: oldest first.
        self.assertEqual([r.dag_run_id for r in runs.dag_runs], [FAILING_RUN, SECOND_RUN])
        newest = self.runs.get_dag_runs(DAG_ID, order_by="-execution_date", limit=1)
        self.assertEqual([r.dag_run_id for r in newest.dag_runs], [SECOND_RUN])
        self.assertEqual(newest.total_entries, 2)
        since = self.runs.get_dag_runs(DAG_ID, execution_date_gte=dt.datetime(2026, 11, 2, tzinfo=UTC))
        self.assertEqual([r.dag_run_id for r in since.dag_runs], [SECOND_RUN])
        started = self.runs.get_dag_runs(DAG_ID, start_date_gte=dt.datetime(2000, 1, 1, tzinfo=UTC))
        self.assertEqual(started.total_entries, 2)
        batch = self.runs.get_dag_runs_batch(
            ListDagRunsForm(dag_ids=[DAG_ID], states=["success"], order_by="execution_date")
        )
        self.assertEqual([r.dag_run_id for r in batch.dag_runs], [FAILING_RUN, SECOND_RUN])

    def test_17_task_instances_across_runs(self):
        across = self.tis.get_task_instances(DAG_ID, "~", limit=1000)
        self.assertEqual(across.total_entries, 8)
        self.assertEqual(
            sorted((t.dag_run_id, t.task_id) for t in across.task_instances),
            sorted((r, t) for r in (FAILING_RUN, SECOND_RUN) for t in TASKS),
        )
        retried = self.tis.get_task_instances(DAG_ID, "~", state=["success"], execution_date_gte=SECOND_DATE)
        self.assertEqual(sorted(t.task_id for t in retried.task_instances), TASKS)
        every = self.tis.get_task_instances("~", "~", limit=1000)
        self.assertEqual(len([t for t in every.task_instances if t.dag_id == DAG_ID]), 8)
        batch = self.tis.get_task_instances_batch(
            ListTaskInstanceForm(dag_ids=[DAG_ID], task_ids=["flaky"], state=["success"])
        )
        self.assertEqual(sorted(t.dag_run_id for t in batch.task_instances), [FAILING_RUN, SECOND_RUN])
        self.assertEqual([t.try_number for t in batch.task_instances], [2, 2])
        count = self.xcom.get_xcom_entry(DAG_ID, SECOND_RUN, "extract", "row_count")
        self.assertEqual(count.value, "2")

    def test_18_clear_a_whole_run_dry(self):
        # The client declares no model for this answer (a TaskInstanceCollection when dry).
        dry = self.runs.clear_dag_run(DAG_ID, SECOND_RUN, ClearDagRun(dry_run=True))
        self.assertEqual(sorted(t["task_id"] for t in dry["task_instances"]), TASKS)
        self.assertEqual(str(self.runs.get_dag_run(DAG_ID, SECOND_RUN).state), "success")

    # -- pause / unpause --------------------------------------------------------------------

    def test_19_unpause_and_pause(self):
        dag = self.dags.patch_dag("mon_paused", DAG(is_paused=False), update_mask=["is_paused"])
        self.assertFalse(dag.is_paused)
        self.assertFalse(self.dags.get_dag("mon_paused").is_paused)

        # Unpaused, the scheduler creates the latest tick's run (catchup off), as Airflow.
        def scheduled():
            runs = self.runs.get_dag_runs("mon_paused", state=["success"])
            return runs.dag_runs or None

        runs = common.wait_for("mon_paused's scheduled run to succeed", scheduled)
        self.assertEqual(runs[0].run_type, "scheduled")
        self.assertFalse(runs[0].external_trigger)
        self.assertTrue(runs[0].dag_run_id.startswith("scheduled__"), runs[0].dag_run_id)
        dag = self.dags.patch_dag("mon_paused", DAG(is_paused=True), update_mask=["is_paused"])
        self.assertTrue(dag.is_paused)
        got = self.dags.get_dags(tags=["monitoring"], paused=True)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused"])

    # -- the audit trail and cleanup ---------------------------------------------------------

    def test_20_event_log(self):
        logs = EventLogApi(self.api).get_event_logs(dag_id=DAG_ID, limit=1000)
        self.assertGreaterEqual(logs.total_entries, 3)  # two triggers and a clear at least
        for e in logs.event_logs:
            self.assertEqual(e.dag_id, DAG_ID)
            self.assertTrue(e.event)
            self.assertIsNotNone(e.when)
            self.assertNotIn("s3cr3t", str(e.extra))

    def test_21_delete_the_variable(self):
        self.variables.delete_variable("mon_block_report")
        with self.assertRaises(client.ApiException) as e:
            self.variables.get_variable("mon_block_report")
        self.assertEqual(e.exception.status, 404)


def run_date_text(d):
    """A date as the API writes it (`2026-11-01T00:00:00+00:00`)."""
    return d.isoformat()


if __name__ == "__main__":
    unittest.main()
