"""DAGs, tasks, DAG sources and versions through apache-airflow-client 3.1
(`/api/v2`), as Airflow 3.1's public API answers them (fixtures: dags/dr_*.toml)."""

import json
import unittest

from common import raw, v2_client

from airflow_client.client.api import DAGApi, DagSourceApi, DagVersionApi, TaskApi
from airflow_client.client.exceptions import ApiException
from airflow_client.client.models import DAGPatchBody

OURS = ["dr_basic", "dr_delta", "dr_failing", "dr_sched"]


class V2Dags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = v2_client()
        cls.dags = DAGApi(cls.client)
        cls.tasks = TaskApi(cls.client)

    def test_list_filters_orders_and_pages(self):
        got = self.dags.get_dags(dag_id_pattern="dr_")
        self.assertEqual([d.dag_id for d in got.dags], OURS)
        self.assertEqual(got.total_entries, 4)
        desc = self.dags.get_dags(dag_id_pattern="dr_", order_by=["-dag_id"])
        self.assertEqual([d.dag_id for d in desc.dags], list(reversed(OURS)))
        page = self.dags.get_dags(dag_id_pattern="dr_", limit=2, offset=2)
        self.assertEqual([d.dag_id for d in page.dags], OURS[2:])
        any_tag = self.dags.get_dags(dag_id_pattern="dr_", tags=["quick", "scheduled"])
        self.assertEqual([d.dag_id for d in any_tag.dags], ["dr_basic", "dr_sched"])
        all_tags = self.dags.get_dags(
            dag_id_pattern="dr_", tags=["dagsruns", "quick"], tags_match_mode="all"
        )
        self.assertEqual([d.dag_id for d in all_tags.dags], ["dr_basic"])
        paused = self.dags.get_dags(dag_id_pattern="dr_", paused=True)
        self.assertEqual([d.dag_id for d in paused.dags], ["dr_delta", "dr_sched"])
        owned = self.dags.get_dags(dag_id_pattern="dr_", owners=["dr_owner"])
        self.assertEqual([d.dag_id for d in owned.dags], ["dr_basic"])
        # Unknown parameters are ignored, as FastAPI does.
        status, _, text = raw("GET", "/api/v2/dags?dag_id_pattern=dr_basic&nonsense=1")
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text)["total_entries"], 1)
        status, _, text = raw("GET", "/api/v2/dags?order_by=description")
        self.assertEqual(status, 400, text)

    def test_one_dag(self):
        d = self.dags.get_dag("dr_sched")
        self.assertEqual(d.dag_id, "dr_sched")
        self.assertEqual(d.dag_display_name, "dr_sched")
        self.assertTrue(d.is_paused)
        self.assertFalse(d.is_stale)
        self.assertEqual(d.timetable_summary, "0 0 * * *")  # Airflow 3 expands cron presets
        self.assertEqual(d.owners, ["airflow"])
        self.assertEqual(sorted(t.name for t in d.tags), ["dagsruns", "scheduled"])
        self.assertEqual(d.tags[0].dag_id, "dr_sched")
        self.assertEqual(d.next_dagrun_logical_date.hour, 0)
        self.assertEqual(d.relative_fileloc, "dr_sched.toml")
        self.assertTrue(d.file_token)
        self.assertEqual(d.max_active_tasks, 16)
        manual = self.dags.get_dag("dr_basic")
        self.assertIsNone(manual.timetable_summary)  # DAGResponse turns "None" into null
        self.assertEqual(manual.timetable_description, "Never, external triggers only")
        self.assertIsNone(manual.next_dagrun_logical_date)
        with self.assertRaises(ApiException) as e:
            self.dags.get_dag("dr_nope")
        self.assertEqual(e.exception.status, 404)

    def test_details(self):
        d = self.dags.get_dag_details("dr_sched")
        self.assertFalse(d.catchup)
        self.assertEqual(d.dag_run_timeout, "PT1H")
        self.assertEqual(d.timezone, "UTC")
        self.assertEqual(d.start_date.year, 2026)
        self.assertEqual(d.concurrency, 16)
        self.assertEqual(d.latest_dag_version.version_number, 1)
        basic = self.dags.get_dag_details("dr_basic")
        self.assertEqual(basic.params["greeting"]["value"], "hello")
        self.assertIsNone(basic.dag_run_timeout)

    def test_tasks(self):
        got = self.tasks.get_tasks("dr_basic")
        self.assertEqual(got.total_entries, 2)
        first, second = got.tasks
        self.assertEqual((first.task_id, second.task_id), ("first", "second"))
        self.assertEqual(first.downstream_task_ids, ["second"])
        self.assertEqual(first.retries, 2)
        self.assertEqual(first.retry_delay.seconds, 30)
        self.assertEqual(first.execution_timeout.seconds, 600)
        self.assertEqual(first.owner, "dr_owner")
        self.assertEqual(first.trigger_rule, "all_success")
        self.assertEqual(second.priority_weight, 3)
        by_weight = self.tasks.get_tasks("dr_basic", order_by="-priority_weight")
        self.assertEqual([t.task_id for t in by_weight.tasks], ["second", "first"])
        one = self.tasks.get_task("dr_basic", "second")
        self.assertEqual(one.task_id, "second")
        with self.assertRaises(ApiException) as e:
            self.tasks.get_task("dr_basic", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_source_and_versions(self):
        src = DagSourceApi(self.client).get_dag_source("dr_failing")
        self.assertIn('bash_command = "exit 3"', src.content)
        self.assertEqual(src.dag_id, "dr_failing")
        status, _, text = raw("GET", "/api/v2/dagSources/dr_failing", accept="text/plain")
        self.assertEqual(status, 200)
        self.assertIn('bash_command = "exit 3"', text)
        versions = DagVersionApi(self.client).get_dag_versions("dr_basic")
        self.assertEqual(versions.total_entries, 1)
        self.assertEqual(versions.dag_versions[0].dag_id, "dr_basic")
        one = DagVersionApi(self.client).get_dag_version("dr_basic", 1)
        self.assertEqual(one.id, versions.dag_versions[0].id)

    def test_pause_one_and_in_bulk(self):
        got = self.dags.patch_dag("dr_failing", DAGPatchBody(is_paused=True))
        self.assertTrue(got.is_paused)
        self.assertTrue(self.dags.get_dag("dr_failing").is_paused)
        got = self.dags.patch_dag("dr_failing", DAGPatchBody(is_paused=False), update_mask=["is_paused"])
        self.assertFalse(got.is_paused)
        bulk = self.dags.patch_dags(DAGPatchBody(is_paused=False), dag_id_pattern="dr_delta")
        self.assertEqual([d.dag_id for d in bulk.dags], ["dr_delta"])
        self.assertFalse(self.dags.get_dag("dr_delta").is_paused)
        self.dags.patch_dags(DAGPatchBody(is_paused=True), dag_id_pattern="dr_delta")
        self.assertTrue(self.dags.get_dag("dr_delta").is_paused)
        # Unknown body fields are 422 (`extra="forbid"`).
        status, _, text = raw("PATCH", "/api/v2/dags/dr_delta", {"is_paused": True, "owners": []})
        self.assertEqual(status, 422, text)
        status, _, text = raw("PATCH", "/api/v2/dags/dr_delta?update_mask=owners", {"is_paused": True})
        self.assertEqual(status, 400, text)


if __name__ == "__main__":
    unittest.main()
