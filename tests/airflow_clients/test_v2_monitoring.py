"""Issue 20's acceptance script for `/api/v2`, with apache-airflow-client 3.1.8: what a
team's monitoring/ops script does against Airflow 3.1, unchanged, every value checked.

The same story as test_v1_monitoring.py, in Airflow 3's words: list the DAGs, set a
variable that makes `mon_etl`'s report fail, trigger a run with conf, logical date and
note, watch it fail, list runs by state and date, task instances across runs (`~`), read
logs and XCom, fix the variable, clear only the failed task so the run succeeds, trigger a
second run, pause and unpause, clean up. Expected values are Airflow 3.1.8's
(api_fastapi/core_api/routes/public/*.py, datamodels/*.py). Only the DAG ids `mon_*` are
looked at (other files' DAGs share the folder).
"""

import datetime as dt
import unittest

import airflow_client.client as client
from airflow_client.client import (
    ClearTaskInstancesBody,
    DAGApi,
    DAGPatchBody,
    DagRunApi,
    DAGRunClearBody,
    DAGRunPatchBody,
    DAGRunsBatchBody,
    EventLogApi,
    MonitorApi,
    TaskInstanceApi,
    TaskInstancesBatchBody,
    TriggerDAGRunPostBody,
    VariableApi,
    VariableBody,
    XComApi,
)

import common

UTC = dt.timezone.utc
DAG_ID = "mon_etl"
FAILING_RUN = "mon_nightly_fix"
FAILING_DATE = dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
SECOND_DATE = dt.datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
TASKS = ["extract", "flaky", "load", "report"]


def state(x):
    """An enum's value (the client gives enums), or None."""
    return None if x is None else getattr(x, "value", x)


def log_text(resp):
    """The text of a log answer: Airflow 3.1 sends a list of structured messages (each
    with `event`), or a list of lines when its handler cannot parse them."""
    items = getattr(resp.content, "actual_instance", resp.content)
    return "\n".join(i if isinstance(i, str) else i.event for i in items)


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = common.v2_client()
        cls.dags = DAGApi(cls.api)
        cls.runs = DagRunApi(cls.api)
        cls.tis = TaskInstanceApi(cls.api)
        cls.xcom = XComApi(cls.api)
        cls.variables = VariableApi(cls.api)
        cls.second_run = None

    def finished_run(self, run_id):
        def check():
            run = self.runs.get_dag_run(DAG_ID, run_id)
            return run if state(run.state) in ("success", "failed") else None

        return common.wait_for(f"run {run_id} to finish", check)

    # -- health and DAGs ---------------------------------------------------------------

    def test_01_health(self):
        health = MonitorApi(self.api).get_health()
        self.assertEqual(health.metadatabase.status, "healthy")
        self.assertEqual(health.scheduler.status, "healthy")
        self.assertIsNotNone(health.scheduler.latest_scheduler_heartbeat)

    def test_02_list_dags(self):
        def both():
            got = self.dags.get_dags(tags=["monitoring"], order_by=["-dag_id"])
            ids = [d.dag_id for d in got.dags]
            return got if {"mon_etl", "mon_paused"} <= set(ids) else None

        got = common.wait_for("the monitoring DAGs", both)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused", "mon_etl"])
        self.assertEqual(got.total_entries, 2)
        etl, paused = got.dags[1], got.dags[0]
        self.assertFalse(etl.is_paused)
        self.assertTrue(paused.is_paused)
        self.assertFalse(etl.is_stale)
        self.assertEqual(etl.owners, ["ops"])
        self.assertEqual(sorted(t.name for t in etl.tags), ["etl", "monitoring"])
        self.assertEqual(
            etl.description, "monitoring fixture: XCom, a retried task, a failure a variable switches"
        )
        self.assertTrue(etl.fileloc.endswith("mon_etl.toml"), etl.fileloc)
        self.assertTrue(etl.file_token)
        # schedule=None: no summary; @daily: its cron expression (CronMixin.summary).
        self.assertIsNone(etl.timetable_summary)
        self.assertEqual(etl.timetable_description, "Never, external triggers only")
        self.assertEqual(paused.timetable_summary, "0 0 * * *")
        got = self.dags.get_dags(dag_id_pattern="mon_pa", exclude_stale=True)
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
        created = self.variables.post_variable(
            VariableBody(key="mon_block_report", value="yes", description="blocks mon_etl's report")
        )
        self.assertEqual((created.key, created.value), ("mon_block_report", "yes"))
        got = self.variables.get_variable("mon_block_report")
        self.assertEqual(got.value, "yes")
        self.assertEqual(got.description, "blocks mon_etl's report")
        listed = self.variables.get_variables(limit=100, variable_key_pattern="mon_")
        self.assertEqual([(v.key, v.value) for v in listed.variables], [("mon_block_report", "yes")])
        self.assertEqual(listed.total_entries, 1)
        # The same key again: 409.
        with self.assertRaises(client.ApiException) as e:
            self.variables.post_variable(VariableBody(key="mon_block_report", value="again"))
        self.assertEqual(e.exception.status, 409)
        # A secret-looking key never gives its value back: "***", as Airflow 3.1's
        # VariableResponse.redact_val answers it.
        self.variables.post_variable(VariableBody(key="mon_api_key", value="s3cr3t-v@lue"))
        self.assertEqual(self.variables.get_variable("mon_api_key").value, "***")
        self.variables.delete_variable("mon_api_key")
        with self.assertRaises(client.ApiException) as e:
            self.variables.get_variable("mon_api_key")
        self.assertEqual(e.exception.status, 404)

    # -- a run that fails ----------------------------------------------------------------

    def test_05_trigger_with_conf_logical_date_and_note(self):
        run = self.runs.trigger_dag_run(
            DAG_ID,
            TriggerDAGRunPostBody(
                dag_run_id=FAILING_RUN,
                logical_date=FAILING_DATE,
                conf={"rows": 5},
                note="nightly fix-up, triggered by the ops script",
            ),
        )
        self.assertEqual(run.dag_id, DAG_ID)
        self.assertEqual(run.dag_run_id, FAILING_RUN)
        self.assertEqual(run.logical_date, FAILING_DATE)
        self.assertEqual(run.conf, {"rows": 5})
        self.assertEqual(run.note, "nightly fix-up, triggered by the ops script")
        self.assertEqual(state(run.run_type), "manual")
        self.assertEqual(state(run.state), "queued")
        # A manual run's interval is the empty one at its logical date (NullTimetable).
        self.assertEqual((run.data_interval_start, run.data_interval_end), (FAILING_DATE, FAILING_DATE))
        self.assertIsNotNone(run.run_after)
        with self.assertRaises(client.ApiException) as e:
            self.runs.trigger_dag_run(
                DAG_ID, TriggerDAGRunPostBody(dag_run_id=FAILING_RUN, logical_date=None)
            )
        self.assertEqual(e.exception.status, 409)

    def test_06_the_run_fails_on_report(self):
        run = self.finished_run(FAILING_RUN)
        self.assertEqual(state(run.state), "failed")
        self.assertIsNotNone(run.start_date)
        self.assertIsNotNone(run.end_date)
        self.assertGreaterEqual(run.duration, 0)
        self.assertEqual(run.conf, {"rows": 5})

    def test_07_runs_by_state_and_date(self):
        failed = self.runs.get_dag_runs(DAG_ID, state=["failed"])
        self.assertEqual([r.dag_run_id for r in failed.dag_runs], [FAILING_RUN])
        self.assertEqual(failed.total_entries, 1)
        self.assertEqual(self.runs.get_dag_runs(DAG_ID, state=["success"]).dag_runs, [])
        in_window = self.runs.get_dag_runs(
            DAG_ID,
            logical_date_gte=dt.datetime(2026, 10, 31, tzinfo=UTC),
            logical_date_lt=dt.datetime(2026, 11, 1, 12, tzinfo=UTC),
        )
        self.assertEqual([r.dag_run_id for r in in_window.dag_runs], [FAILING_RUN])
        after = self.runs.get_dag_runs(DAG_ID, logical_date_gt=FAILING_DATE)
        self.assertEqual(after.dag_runs, [])
        everywhere = self.runs.get_dag_runs("~", state=["failed"], limit=100)
        self.assertIn((DAG_ID, FAILING_RUN), [(r.dag_id, r.dag_run_id) for r in everywhere.dag_runs])

    def test_08_task_instances_of_the_failed_run(self):
        tis = self.tis.get_task_instances(DAG_ID, FAILING_RUN)
        by_id = {ti.task_id: ti for ti in tis.task_instances}
        self.assertEqual(sorted(by_id), TASKS)
        self.assertEqual(tis.total_entries, 4)
        states = {t: state(ti.state) for t, ti in by_id.items()}
        self.assertEqual(
            states, {"extract": "success", "flaky": "success", "load": "success", "report": "failed"}
        )
        self.assertEqual((by_id["flaky"].try_number, by_id["flaky"].max_tries), (2, 1))
        self.assertEqual((by_id["report"].try_number, by_id["report"].max_tries), (1, 0))
        for ti in tis.task_instances:
            self.assertEqual(ti.dag_run_id, FAILING_RUN)
            self.assertEqual(ti.logical_date, FAILING_DATE)
            self.assertEqual(ti.map_index, -1)
            self.assertEqual(ti.pool, "default_pool")
            self.assertEqual(ti.pool_slots, 1)
            self.assertEqual(ti.queue, "default")
            self.assertTrue(ti.hostname)
            self.assertTrue(ti.id)
            self.assertIsNotNone(ti.start_date)
            self.assertIsNotNone(ti.end_date)
            self.assertGreaterEqual(ti.duration, 0)
        ids = [ti.id for ti in tis.task_instances]
        self.assertEqual(len(set(ids)), 4)
        failed = self.tis.get_task_instances(DAG_ID, FAILING_RUN, state=["failed"])
        self.assertEqual([t.task_id for t in failed.task_instances], ["report"])
        one = self.tis.get_task_instance(DAG_ID, FAILING_RUN, "report")
        self.assertEqual(state(one.state), "failed")

    def test_09_tries_of_the_retried_task(self):
        tries = self.tis.get_task_instance_tries(DAG_ID, FAILING_RUN, "flaky")
        self.assertEqual(
            [(t.try_number, state(t.state)) for t in tries.task_instances], [(1, "failed"), (2, "success")]
        )
        self.assertEqual(tries.total_entries, 2)

    def test_10_logs(self):
        first = log_text(self.tis.get_log(DAG_ID, FAILING_RUN, "flaky", 1, full_content=True))
        self.assertIn("flaky try 1", first)
        self.assertNotIn("flaky try 2", first)
        second = log_text(self.tis.get_log(DAG_ID, FAILING_RUN, "flaky", 2, full_content=True))
        self.assertIn("flaky try 2", second)
        report = self.tis.get_log(DAG_ID, FAILING_RUN, "report", 1)
        self.assertIn("report blocked: variable mon_block_report is 'yes'", log_text(report))
        if report.continuation_token:  # Airflow 3.1 sends none once the log has ended.
            more = self.tis.get_log(DAG_ID, FAILING_RUN, "report", 1, token=report.continuation_token)
            self.assertIsInstance(log_text(more), str)
        extract = log_text(self.tis.get_log(DAG_ID, FAILING_RUN, "extract", 1, full_content=True))
        self.assertIn("extracted 5 rows", extract)
        with self.assertRaises(client.ApiException) as e:
            self.tis.get_log(DAG_ID, FAILING_RUN, "extract", 7)
        self.assertEqual(e.exception.status, 404)

    def test_11_xcom(self):
        entries = self.xcom.get_xcom_entries(DAG_ID, FAILING_RUN, "extract")
        self.assertEqual(sorted(e.key for e in entries.xcom_entries), ["return_value", "row_count"])
        self.assertEqual(entries.total_entries, 2)
        for e in entries.xcom_entries:
            self.assertEqual((e.dag_id, e.task_id, e.run_id, e.map_index), (DAG_ID, "extract", FAILING_RUN, -1))
            self.assertIsNotNone(e.timestamp)
            self.assertEqual(e.logical_date, FAILING_DATE)
        # Airflow 3.1's default: the stored JSON value itself (XComResponseNative).
        count = self.xcom.get_xcom_entry(DAG_ID, "extract", FAILING_RUN, "row_count").actual_instance
        self.assertEqual(count.value, 5)
        value = self.xcom.get_xcom_entry(DAG_ID, "extract", FAILING_RUN, "return_value").actual_instance
        self.assertEqual(value.value["source"], "mon")
        self.assertEqual([r["id"] for r in value.value["rows"]], [1, 2, 3, 4, 5])
        text = self.xcom.get_xcom_entry(
            DAG_ID, "load", FAILING_RUN, "return_value", stringify=True
        ).actual_instance
        self.assertEqual(text.value, "150")
        across = self.xcom.get_xcom_entries(DAG_ID, "~", "~")
        self.assertEqual(
            sorted((e.task_id, e.key) for e in across.xcom_entries),
            [("extract", "return_value"), ("extract", "row_count"), ("flaky", "return_value"),
             ("load", "return_value")],
        )
        with self.assertRaises(client.ApiException) as e:
            self.xcom.get_xcom_entry(DAG_ID, "extract", FAILING_RUN, "no_such_key")
        self.assertEqual(e.exception.status, 404)

    # -- fix, clear, and the run succeeds --------------------------------------------------

    def test_12_clear_dry_run_only_failed_by_default(self):
        patched = self.variables.patch_variable(
            "mon_block_report", VariableBody(key="mon_block_report", value="no"), update_mask=["value"]
        )
        self.assertEqual(patched.value, "no")
        self.assertEqual(patched.description, "blocks mon_etl's report")
        # Airflow 3.1's defaults: dry_run true, only_failed true.
        dry = self.tis.post_clear_task_instances(DAG_ID, ClearTaskInstancesBody(dag_run_id=FAILING_RUN))
        self.assertEqual([(t.task_id, t.dag_run_id) for t in dry.task_instances], [("report", FAILING_RUN)])
        self.assertEqual(dry.total_entries, 1)
        everything = self.tis.post_clear_task_instances(
            DAG_ID, ClearTaskInstancesBody(dag_run_id=FAILING_RUN, only_failed=False)
        )
        self.assertEqual(sorted(t.task_id for t in everything.task_instances), TASKS)
        self.assertEqual(state(self.runs.get_dag_run(DAG_ID, FAILING_RUN).state), "failed")

    def test_13_clear_the_failed_task_and_the_run_succeeds(self):
        cleared = self.tis.post_clear_task_instances(
            DAG_ID, ClearTaskInstancesBody(dag_run_id=FAILING_RUN, dry_run=False)
        )
        self.assertEqual([t.task_id for t in cleared.task_instances], ["report"])
        run = self.finished_run(FAILING_RUN)
        self.assertEqual(state(run.state), "success")
        tis = {ti.task_id: ti for ti in self.tis.get_task_instances(DAG_ID, FAILING_RUN).task_instances}
        self.assertEqual({t: state(ti.state) for t, ti in tis.items()}, {t: "success" for t in TASKS})
        self.assertEqual((tis["report"].try_number, tis["report"].max_tries), (2, 1))
        self.assertEqual(tis["extract"].try_number, 1)
        self.assertEqual(tis["flaky"].try_number, 2)
        tries = self.tis.get_task_instance_tries(DAG_ID, FAILING_RUN, "report")
        self.assertEqual(
            [(t.try_number, state(t.state)) for t in tries.task_instances], [(1, "failed"), (2, "success")]
        )
        self.assertIn("report sent", log_text(self.tis.get_log(DAG_ID, FAILING_RUN, "report", 2, full_content=True)))

    def test_14_note(self):
        run = self.runs.patch_dag_run(
            DAG_ID, FAILING_RUN, DAGRunPatchBody(note="fixed: mon_block_report"), update_mask=["note"]
        )
        self.assertEqual(run.note, "fixed: mon_block_report")
        self.assertEqual(state(run.state), "success")
        self.assertEqual(self.runs.get_dag_run(DAG_ID, FAILING_RUN).note, "fixed: mon_block_report")

    # -- a second run; runs and task instances across runs ----------------------------------

    def test_15_trigger_without_run_id(self):
        run = self.runs.trigger_dag_run(
            DAG_ID, TriggerDAGRunPostBody(logical_date=SECOND_DATE, conf={"rows": 2})
        )
        # Airflow 3.1 names a manual run after its run_after (now unless given).
        self.assertEqual(run.dag_run_id, f"manual__{run.run_after.isoformat()}")
        self.assertEqual(run.logical_date, SECOND_DATE)
        self.assertIsNone(run.note)
        type(self).second_run = run.dag_run_id
        run = self.finished_run(run.dag_run_id)
        self.assertEqual(state(run.state), "success")

    def test_16_runs_order_and_batch(self):
        second = self.second_run
        self.assertIsNotNone(second, "test_15 did not trigger the second run")
        runs = self.runs.get_dag_runs(DAG_ID)
        # Airflow's default order: id, i.e. creation.
        self.assertEqual([r.dag_run_id for r in runs.dag_runs], [FAILING_RUN, second])
        newest = self.runs.get_dag_runs(DAG_ID, order_by=["-logical_date"], limit=1)
        self.assertEqual([r.dag_run_id for r in newest.dag_runs], [second])
        self.assertEqual(newest.total_entries, 2)
        since = self.runs.get_dag_runs(DAG_ID, logical_date_gte=dt.datetime(2026, 11, 2, tzinfo=UTC))
        self.assertEqual([r.dag_run_id for r in since.dag_runs], [second])
        started = self.runs.get_dag_runs(DAG_ID, start_date_gte=dt.datetime(2000, 1, 1, tzinfo=UTC))
        self.assertEqual(started.total_entries, 2)
        batch = self.runs.get_list_dag_runs_batch(
            "~", DAGRunsBatchBody(dag_ids=[DAG_ID], states=["success"], order_by="logical_date")
        )
        self.assertEqual([r.dag_run_id for r in batch.dag_runs], [FAILING_RUN, second])

    def test_17_task_instances_across_runs(self):
        second = self.second_run
        self.assertIsNotNone(second, "test_15 did not trigger the second run")
        across = self.tis.get_task_instances(DAG_ID, "~", limit=100)
        self.assertEqual(across.total_entries, 8)
        self.assertEqual(
            sorted((t.dag_run_id, t.task_id) for t in across.task_instances),
            sorted((r, t) for r in (FAILING_RUN, second) for t in TASKS),
        )
        later = self.tis.get_task_instances(DAG_ID, "~", state=["success"], logical_date_gte=SECOND_DATE)
        self.assertEqual(sorted(t.task_id for t in later.task_instances), TASKS)
        every = self.tis.get_task_instances("~", "~", limit=100)
        self.assertEqual(len([t for t in every.task_instances if t.dag_id == DAG_ID]), 8)
        batch = self.tis.get_task_instances_batch(
            "~", "~", TaskInstancesBatchBody(dag_ids=[DAG_ID], task_ids=["flaky"], state=["success"])
        )
        self.assertEqual(sorted(t.dag_run_id for t in batch.task_instances), sorted([FAILING_RUN, second]))
        self.assertEqual([t.try_number for t in batch.task_instances], [2, 2])
        count = self.xcom.get_xcom_entry(DAG_ID, "extract", second, "row_count").actual_instance
        self.assertEqual(count.value, 2)

    def test_18_clear_a_whole_run_dry(self):
        self.assertIsNotNone(self.second_run, "test_15 did not trigger the second run")
        dry = self.runs.clear_dag_run(DAG_ID, self.second_run, DAGRunClearBody(dry_run=True)).actual_instance
        self.assertEqual(sorted(t.task_id for t in dry.task_instances), TASKS)
        self.assertEqual(state(self.runs.get_dag_run(DAG_ID, self.second_run).state), "success")

    # -- pause / unpause --------------------------------------------------------------------

    def test_19_unpause_and_pause(self):
        dag = self.dags.patch_dag("mon_paused", DAGPatchBody(is_paused=False), update_mask=["is_paused"])
        self.assertFalse(dag.is_paused)
        self.assertFalse(self.dags.get_dag("mon_paused").is_paused)

        def scheduled():
            runs = self.runs.get_dag_runs("mon_paused", state=["success"])
            return runs.dag_runs or None

        runs = common.wait_for("mon_paused's scheduled run to succeed", scheduled)
        self.assertEqual(state(runs[0].run_type), "scheduled")
        self.assertTrue(runs[0].dag_run_id.startswith("scheduled__"), runs[0].dag_run_id)
        dag = self.dags.patch_dag("mon_paused", DAGPatchBody(is_paused=True), update_mask=["is_paused"])
        self.assertTrue(dag.is_paused)
        got = self.dags.get_dags(tags=["monitoring"], paused=True)
        self.assertEqual([d.dag_id for d in got.dags], ["mon_paused"])

    # -- the audit trail and cleanup ---------------------------------------------------------

    def test_20_event_log(self):
        logs = EventLogApi(self.api).get_event_logs(dag_id=DAG_ID, limit=100)
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


if __name__ == "__main__":
    unittest.main()
