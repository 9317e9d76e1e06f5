"""DAGs, tasks and DAG sources through apache-airflow-client 2.10 (`/api/v1`), as
Airflow 2.10's stable REST API answers them (fixtures: dags/dr_*.toml)."""

import json
import unittest

from common import raw, v1_client


def header(headers, name):
    """A response header, whatever the case of its name."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")

from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.model.dag import DAG

OURS = ["dr_basic", "dr_delta", "dr_failing", "dr_sched"]


class V1Dags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = v1_client()
        cls.api = DAGApi(cls.client)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_list_filters_orders_and_pages(self):
        got = self.api.get_dags(dag_id_pattern="dr_")
        self.assertEqual([d.dag_id for d in got.dags], OURS)
        self.assertEqual(got.total_entries, 4)
        desc = self.api.get_dags(dag_id_pattern="DR_", order_by="-dag_id")
        self.assertEqual([d.dag_id for d in desc.dags], list(reversed(OURS)))
        page = self.api.get_dags(dag_id_pattern="dr_", limit=2, offset=1)
        self.assertEqual([d.dag_id for d in page.dags], OURS[1:3])
        self.assertEqual(page.total_entries, 4)
        tagged = self.api.get_dags(dag_id_pattern="dr_", tags=["scheduled", "quick"])
        self.assertEqual([d.dag_id for d in tagged.dags], ["dr_basic", "dr_sched"])
        paused = self.api.get_dags(dag_id_pattern="dr_", paused=True)
        self.assertEqual([d.dag_id for d in paused.dags], ["dr_delta", "dr_sched"])
        active = self.api.get_dags(dag_id_pattern="dr_", only_active=False)
        self.assertEqual(active.total_entries, 4)

    def test_fields_keeps_only_those(self):
        status, _, text = raw("GET", "/api/v1/dags?dag_id_pattern=dr_basic&fields=dag_id&fields=is_paused")
        self.assertEqual(status, 200, text)
        body = json.loads(text)
        self.assertEqual(body["dags"], [{"dag_id": "dr_basic", "is_paused": False}])
        status, _, text = raw("GET", "/api/v1/dags?fields=nope")
        self.assertEqual(status, 400, text)

    def test_unknown_parameter_is_400(self):
        status, headers, text = raw("GET", "/api/v1/dags?dag_id=dr_basic")
        self.assertEqual(status, 400, text)
        self.assertIn("problem+json", header(headers, "Content-Type"))
        status, _, text = raw("GET", "/api/v1/dags?order_by=description")
        self.assertEqual(status, 400, text)

    def test_one_dag_as_airflow_shows_it(self):
        d = self.api.get_dag("dr_basic")
        self.assertEqual(d.dag_id, "dr_basic")
        self.assertEqual(d.dag_display_name, "dr_basic")
        self.assertEqual(d.description, "dags/runs fixture: two quick tasks")
        self.assertFalse(d.is_paused)
        self.assertTrue(d.is_active)
        self.assertFalse(d.is_subdag)
        self.assertEqual(d.owners, ["dr_owner"])
        self.assertEqual(sorted(t.name for t in d.tags), ["dagsruns", "quick"])
        self.assertIsNone(d.schedule_interval)
        self.assertEqual(d.timetable_description, "Never, external triggers only")
        self.assertTrue(d.fileloc.endswith("dr_basic.toml"))
        self.assertTrue(d.file_token)
        self.assertIsNone(d.next_dagrun)
        self.assertEqual(d.max_active_runs, 16)

    def test_schedule_interval_objects(self):
        daily = self.api.get_dag("dr_sched")
        self.assertEqual(daily.schedule_interval.type, "CronExpression")
        self.assertEqual(daily.schedule_interval.value, "@daily")
        self.assertTrue(daily.is_paused)
        self.assertIsNotNone(daily.next_dagrun)
        self.assertEqual(daily.next_dagrun.hour, 0)
        delta = self.api.get_dag("dr_delta")
        self.assertEqual(delta.schedule_interval.type, "TimeDelta")
        self.assertEqual(
            (delta.schedule_interval.days, delta.schedule_interval.seconds), (0, 6 * 3600)
        )

    def test_details(self):
        d = self.api.get_dag_details("dr_sched")
        self.assertEqual(d.dag_id, "dr_sched")
        self.assertFalse(d.catchup)
        self.assertEqual(d.timezone, "UTC")
        self.assertEqual(d.start_date.year, 2026)
        # The 2.10 client cannot read the object-valued fields of a DAGDetail as
        # attributes (its allOf schema; Airflow's own answers fail the same way), so a
        # script reads them through to_dict().
        whole = d.to_dict()
        self.assertEqual(whole["dag_run_timeout"]["seconds"], 3600)
        self.assertEqual(whole["schedule_interval"]["value"], "@daily")
        self.assertEqual(d.concurrency, 16)
        self.assertTrue(d.is_paused_upon_creation)
        basic = self.api.get_dag_details("dr_basic")
        self.assertEqual(basic.params["greeting"]["value"], "hello")
        with self.assertRaises(Exception) as e:
            self.api.get_dag_details("dr_nope")
        self.assertEqual(e.exception.status, 404)

    def test_tasks_and_one_task(self):
        tasks = self.api.get_tasks("dr_basic").tasks
        self.assertEqual([t.task_id for t in tasks], ["first", "second"])
        first = tasks[0]
        self.assertEqual(first.downstream_task_ids, ["second"])
        self.assertEqual(first.owner, "dr_owner")
        self.assertEqual(first.retries, 2)
        self.assertEqual(first.retry_delay.seconds, 30)
        self.assertEqual(first.execution_timeout.seconds, 600)
        self.assertEqual(first.pool, "default_pool")
        self.assertEqual(first.trigger_rule.value, "all_success")
        self.assertEqual(first.weight_rule.value, "downstream")
        self.assertFalse(first.is_mapped)
        self.assertEqual(first.class_ref.class_name, "bash")
        by_weight = self.api.get_tasks("dr_basic", order_by="-priority_weight").tasks
        self.assertEqual([t.task_id for t in by_weight], ["second", "first"])
        second = self.api.get_task("dr_basic", "second")
        self.assertEqual(second.priority_weight, 3)
        self.assertEqual(second.downstream_task_ids, [])
        with self.assertRaises(Exception) as e:
            self.api.get_task("dr_basic", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_source_by_file_token(self):
        token = self.api.get_dag("dr_failing").file_token
        src = self.api.get_dag_source(token)
        self.assertIn('bash_command = "exit 3"', src["content"])
        status, headers, text = raw(
            "GET", f"/api/v1/dagSources/{token}", accept="text/plain"
        )
        self.assertEqual(status, 200)
        self.assertIn("text/plain", header(headers, "Content-Type"))
        self.assertIn('bash_command = "exit 3"', text)
        # A token of a file no DAG comes from is refused.
        bad = "/etc/passwd".encode().hex()
        status, _, _ = raw("GET", f"/api/v1/dagSources/{bad}")
        self.assertEqual(status, 404)

    def test_pause_one_and_in_bulk(self):
        got = self.api.patch_dag("dr_failing", DAG(is_paused=True), update_mask=["is_paused"])
        self.assertTrue(got.is_paused)
        self.assertTrue(self.api.get_dag("dr_failing").is_paused)
        got = self.api.patch_dag("dr_failing", DAG(is_paused=False))
        self.assertFalse(got.is_paused)
        bulk = self.api.patch_dags("dr_delta", DAG(is_paused=False))
        self.assertEqual([d.dag_id for d in bulk.dags], ["dr_delta"])
        self.assertFalse(bulk.dags[0].is_paused)
        self.assertFalse(self.api.get_dag("dr_delta").is_paused)
        again = self.api.patch_dags("dr_delta", DAG(is_paused=True), update_mask=["is_paused"])
        self.assertTrue(again.dags[0].is_paused)
        status, _, text = raw(
            "PATCH", "/api/v1/dags/dr_delta?update_mask=description", {"is_paused": True}
        )
        self.assertEqual(status, 400, text)


if __name__ == "__main__":
    unittest.main()
