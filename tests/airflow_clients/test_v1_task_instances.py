"""Task instances, their logs, XCom and clears through apache-airflow-client 2.10
(`/api/v1`), against the fixture DAG ti_basic.toml: every answer must deserialise
with the client's strict models, and the values must be Airflow's."""

import datetime
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

from airflow_client.client.api import dag_api, task_instance_api, x_com_api  # noqa: E402
from airflow_client.client.exceptions import ApiException  # noqa: E402
from airflow_client.client.model.clear_task_instances import ClearTaskInstances  # noqa: E402
from airflow_client.client.model.list_task_instance_form import ListTaskInstanceForm  # noqa: E402
from airflow_client.client.model.task_state import TaskState  # noqa: E402
from airflow_client.client.model.set_task_instance_note import SetTaskInstanceNote  # noqa: E402
from airflow_client.client.model.update_task_instance import UpdateTaskInstance  # noqa: E402
from airflow_client.client.model.update_task_state import UpdateTaskState  # noqa: E402

DAG = "ti_basic"


def client():
    api = common.v1_client()
    # apache-airflow-client 2.x sends only Basic auth; the token goes as a header.
    api.set_default_header("Authorization", f"Bearer {common.TOKEN}")
    return api


def trigger(run_id):
    status, _, text = common.raw(
        "POST", f"/api/v1/dags/{DAG}/dagRuns", {"dag_run_id": run_id}
    )
    assert status == 200, text


def run_state(run_id):
    status, _, text = common.raw("GET", f"/api/v1/dags/{DAG}/dagRuns/{run_id}")
    return json.loads(text)["state"] if status == 200 else None


def finished(run_id):
    return common.wait_for(
        f"run {run_id} to finish",
        lambda: run_state(run_id) if run_state(run_id) in ("success", "failed") else None,
    )


class TaskInstancesV1(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = client()
        cls.tis = task_instance_api.TaskInstanceApi(cls.api)
        cls.xcom = x_com_api.XComApi(cls.api)
        cls.dags = dag_api.DAGApi(cls.api)
        trigger("r1")
        # broken fails, so the run fails once everything else is done.
        assert finished("r1") == "failed"

    def by_key(self, collection):
        return {(t.task_id, t.map_index): t for t in collection.task_instances}

    def test_list_has_every_field_with_airflows_meaning(self):
        got = self.tis.get_task_instances(DAG, "r1")
        self.assertEqual(got.total_entries, 6)
        tis = self.by_key(got)
        self.assertEqual(
            sorted(tis),
            [
                ("broken", -1),
                ("flaky", -1),
                ("produce", -1),
                ("square", 0),
                ("square", 1),
                ("square", 2),
            ],
        )
        produce = tis[("produce", -1)]
        self.assertEqual(str(produce.state), "success")
        self.assertEqual(produce.try_number, 1)
        self.assertEqual(produce.max_tries, 0, "Airflow's max_tries: the retries")
        self.assertEqual(produce.dag_id, DAG)
        self.assertEqual(produce.dag_run_id, "r1")
        self.assertEqual(produce.pool, "default_pool")
        self.assertEqual(produce.pool_slots, 1)
        # downstream weight rule: its own 2 and one for each of its 3 downstream tasks.
        self.assertEqual(produce.priority_weight, 5)
        self.assertEqual(produce.queue, "default")
        self.assertEqual(produce.operator, "python")
        self.assertTrue(produce.hostname, "the host its try ran on")
        self.assertTrue(produce.unixname)
        self.assertIsNone(produce.sla_miss)
        self.assertEqual(produce.rendered_fields, {})
        self.assertIsNone(produce.trigger)
        self.assertIsNone(produce.triggerer_job)
        self.assertIsNone(produce.note)
        self.assertIsNone(produce.executor)
        self.assertEqual(produce.executor_config, "{}")
        self.assertEqual(produce.task_display_name, "produce")
        self.assertGreaterEqual(produce.duration, 0)
        datetime.datetime.fromisoformat(produce.execution_date)
        datetime.datetime.fromisoformat(produce.start_date)
        datetime.datetime.fromisoformat(produce.end_date)

        flaky = tis[("flaky", -1)]
        self.assertEqual(str(flaky.state), "success")
        self.assertEqual(flaky.try_number, 2, "its first try failed")
        self.assertEqual(flaky.max_tries, 2, "retries = 2")
        broken = tis[("broken", -1)]
        self.assertEqual(str(broken.state), "failed")
        self.assertEqual((broken.try_number, broken.max_tries), (1, 0))
        for i in range(3):
            self.assertEqual(str(tis[("square", i)].state), "success")

    def test_filters(self):
        failed = self.tis.get_task_instances(DAG, "r1", state=["failed"])
        self.assertEqual(
            [t.task_id for t in failed.task_instances], ["broken"], failed
        )
        every = self.tis.get_task_instances(DAG, "r1", state=["success", "failed"])
        self.assertEqual(every.total_entries, 6)
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", duration_gte=3600.0).total_entries, 0
        )
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", pool=["default_pool"]).total_entries, 6
        )
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", pool=["other"]).total_entries, 0
        )
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", queue=["default"]).total_entries, 6
        )
        future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", start_date_gte=future).total_entries, 0
        )
        self.assertEqual(
            self.tis.get_task_instances(DAG, "r1", execution_date_gte=future).total_entries,
            0,
        )
        past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertEqual(
            self.tis.get_task_instances(
                DAG, "r1", end_date_gte=past, updated_at_gte=past
            ).total_entries,
            6,
        )
        page = self.tis.get_task_instances(DAG, "r1", limit=2, offset=1)
        self.assertEqual((len(page.task_instances), page.total_entries), (2, 6))

    def test_tilde_lists_across_dags_and_runs(self):
        got = self.tis.get_task_instances("~", "~", limit=1000)
        mine = [t for t in got.task_instances if t.dag_id == DAG and t.dag_run_id == "r1"]
        self.assertEqual(len(mine), 6)
        runs = self.tis.get_task_instances(DAG, "~", state=["failed"])
        self.assertIn(("broken", "r1"), [(t.task_id, t.dag_run_id) for t in runs.task_instances])

    def test_batch_list(self):
        got = self.tis.get_task_instances_batch(
            ListTaskInstanceForm(dag_ids=[DAG], dag_run_ids=["r1"], task_ids=["square"])
        )
        self.assertEqual(
            sorted(t.map_index for t in got.task_instances), [0, 1, 2], got
        )
        failed = self.tis.get_task_instances_batch(
            ListTaskInstanceForm(dag_ids=[DAG], state=[TaskState("failed")])
        )
        self.assertTrue(all(t.task_id == "broken" for t in failed.task_instances))
        self.assertGreaterEqual(failed.total_entries, 1)

    def test_one_and_mapped_instances(self):
        produce = self.tis.get_task_instance(DAG, "r1", "produce")
        self.assertEqual((produce.task_id, produce.map_index), ("produce", -1))
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance(DAG, "r1", "square")
        self.assertEqual(e.exception.status, 400)
        one = self.tis.get_mapped_task_instance(DAG, "r1", "square", 1)
        self.assertEqual((one.map_index, str(one.state)), (1, "success"))
        mapped = self.tis.get_mapped_task_instances(DAG, "r1", "square", order_by="-map_index")
        self.assertEqual([t.map_index for t in mapped.task_instances], [2, 1, 0])
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance(DAG, "r1", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_logs_as_json_with_a_continuation_token_and_as_text(self):
        log = self.tis.get_log(DAG, "r1", "produce", 1)
        self.assertIn("TI-PRODUCE-MARKER n=3", log.content)
        self.assertTrue(log.continuation_token)
        more = self.tis.get_log(DAG, "r1", "produce", 1, token=log.continuation_token)
        self.assertEqual(more.content, "", "nothing after the end")
        again = self.tis.get_log(
            DAG, "r1", "produce", 1, token=log.continuation_token, full_content=True
        )
        self.assertEqual(again.content, log.content)
        first = self.tis.get_log(DAG, "r1", "flaky", 1)
        self.assertIn("TI-FLAKY try 1", first.content)
        self.assertIn("first try fails on purpose", first.content)
        second = self.tis.get_log(DAG, "r1", "flaky", 2)
        self.assertIn("TI-FLAKY try 2", second.content)
        mapped = self.tis.get_log(DAG, "r1", "square", 1, map_index=2)
        self.assertIn("map_index 2", mapped.content)
        status, headers, text = common.raw(
            "GET",
            f"/api/v1/dags/{DAG}/dagRuns/r1/taskInstances/produce/logs/1",
            accept="text/plain",
        )
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"), headers)
        self.assertIn("TI-PRODUCE-MARKER", text)
        with self.assertRaises(ApiException) as e:
            self.tis.get_log(DAG, "r1", "produce", 1, token="forged")
        self.assertEqual(e.exception.status, 400)
        with self.assertRaises(ApiException) as e:
            self.tis.get_log(DAG, "r1", "produce", 5)
        self.assertEqual(e.exception.status, 404)

    def test_xcom_list_and_get(self):
        got = self.xcom.get_xcom_entries(DAG, "r1", "produce")
        self.assertEqual(
            sorted(e.key for e in got.xcom_entries), ["meta", "return_value", "rows"]
        )
        for e in got.xcom_entries:
            self.assertEqual((e.dag_id, e.task_id, e.map_index), (DAG, "produce", -1))
            datetime.datetime.fromisoformat(e.timestamp)
            datetime.datetime.fromisoformat(e.execution_date)
        rows = self.xcom.get_xcom_entry(DAG, "r1", "produce", "rows")
        self.assertEqual(rows.value, "30", "stringified, as Airflow 2.10's default")
        native = self.xcom.get_xcom_entry(DAG, "r1", "produce", "meta", stringify=False)
        self.assertEqual(native.value, {"source": "ti_fixture", "n": 3})
        text = self.xcom.get_xcom_entry(DAG, "r1", "produce", "meta", deserialize=True)
        self.assertEqual(text.value, "{'source': 'ti_fixture', 'n': 3}")
        square = self.xcom.get_xcom_entry(
            DAG, "r1", "square", "return_value", map_index=2, stringify=False
        )
        self.assertEqual((square.value, square.map_index), (9, 2))
        only = self.xcom.get_xcom_entries(DAG, "r1", "square", map_index=1)
        self.assertEqual([(e.key, e.map_index) for e in only.xcom_entries], [("return_value", 1)])
        keyed = self.xcom.get_xcom_entries("~", "~", "~", xcom_key="rows", limit=1000)
        self.assertIn(
            (DAG, "produce"), [(e.dag_id, e.task_id) for e in keyed.xcom_entries]
        )
        self.assertTrue(all(e.key == "rows" for e in keyed.xcom_entries))
        with self.assertRaises(ApiException) as e:
            self.xcom.get_xcom_entry(DAG, "r1", "produce", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_dependencies_of_finished_instances_are_empty(self):
        self.assertEqual(self.tis.get_task_instance_dependencies(DAG, "r1", "produce").dependencies, [])
        got = self.tis.get_mapped_task_instance_dependencies(DAG, "r1", "square", 0)
        self.assertEqual(got.dependencies, [])
        with self.assertRaises(ApiException) as e:
            self.tis.get_mapped_task_instance_dependencies(DAG, "r1", "square", 99)
        self.assertEqual(e.exception.status, 404)

    def test_tries(self):
        flaky = self.tis.get_task_instance_tries(DAG, "r1", "flaky")
        self.assertEqual(
            [(t.try_number, str(t.state)) for t in flaky.task_instances],
            [(1, "failed"), (2, "success")]  # a retried try is history as failed (TaskInstanceHistory.record_ti),
        )
        self.assertEqual(flaky.total_entries, 2)
        first = self.tis.get_task_instance_try_details(DAG, "r1", "flaky", 1)
        self.assertEqual((first.try_number, str(first.state)), (1, "failed"))
        datetime.datetime.fromisoformat(first.end_date)
        second = self.tis.get_task_instance_try_details(DAG, "r1", "flaky", 2)
        self.assertEqual(str(second.state), "success")
        newest = self.tis.get_task_instance_tries(DAG, "r1", "flaky", order_by="-try_number")
        self.assertEqual([t.try_number for t in newest.task_instances], [2, 1])
        mapped = self.tis.get_mapped_task_instance_tries(DAG, "r1", "square", 1)
        self.assertEqual(
            [(t.map_index, t.try_number) for t in mapped.task_instances], [(1, 1)]
        )
        one = self.tis.get_mapped_task_instance_try_details(DAG, "r1", "square", 2, 1)
        self.assertEqual((one.map_index, str(one.state)), (2, "success"))
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance_try_details(DAG, "r1", "flaky", 3)
        self.assertEqual(e.exception.status, 404)

    def test_unknown_query_parameters_are_refused(self):
        status, _, _ = common.raw(
            "GET", f"/api/v1/dags/{DAG}/dagRuns/r1/taskInstances?colour=blue"
        )
        self.assertEqual(status, 400)



class WritesV1(unittest.TestCase):
    """Setting states and notes, on a run of their own."""

    @classmethod
    def setUpClass(cls):
        cls.tis = task_instance_api.TaskInstanceApi(client())
        trigger("w1")
        assert finished("w1") == "failed"

    def test_a_patch_is_a_dry_run_by_default(self):
        ref = self.tis.patch_task_instance(
            DAG, "w1", "broken", UpdateTaskInstance(new_state=UpdateTaskState("success"))
        )
        self.assertEqual((ref.task_id, ref.dag_run_id, ref.dag_id), ("broken", "w1", DAG))
        datetime.datetime.fromisoformat(ref.execution_date)
        self.assertEqual(str(self.tis.get_task_instance(DAG, "w1", "broken").state), "failed")
        mapped = self.tis.patch_mapped_task_instance(
            DAG,
            "w1",
            "square",
            1,
            update_task_instance=UpdateTaskInstance(new_state=UpdateTaskState("failed")),
        )
        self.assertEqual(mapped.task_id, "square")
        status, _, text = common.raw(
            "PATCH",
            f"/api/v1/dags/{DAG}/dagRuns/w1/taskInstances/broken",
            {"new_state": "running"},
        )
        self.assertEqual(status, 400, text)

    def test_patch_state(self):
        self.tis.patch_task_instance(
            DAG,
            "w1",
            "broken",
            UpdateTaskInstance(dry_run=False, new_state=UpdateTaskState("success")),
        )
        ti = self.tis.get_task_instance(DAG, "w1", "broken")
        self.assertEqual(str(ti.state), "success")

    def test_set_note(self):
        got = self.tis.set_task_instance_note(
            DAG, "w1", "produce", SetTaskInstanceNote(note="checked by hand")
        )
        self.assertEqual(got.note, "checked by hand")
        self.assertEqual(self.tis.get_task_instance(DAG, "w1", "produce").note, "checked by hand")


class ClearV1(unittest.TestCase):
    """Its own run, so clearing does not disturb the reads above."""

    def test_clear_defaults_are_airflows(self):
        api = client()
        dags = dag_api.DAGApi(api)
        tis = task_instance_api.TaskInstanceApi(api)
        trigger("c1")
        self.assertEqual(finished("c1"), "failed")
        # No only_failed, no dry_run: Airflow's defaults are true and true.
        dry = dags.post_clear_task_instances(DAG, ClearTaskInstances(dag_run_id="c1"))
        self.assertEqual(
            [(t.task_id, t.dag_run_id) for t in dry.task_instances], [("broken", "c1")]
        )
        datetime.datetime.fromisoformat(dry.task_instances[0].execution_date)
        self.assertEqual(str(tis.get_task_instance(DAG, "c1", "broken").state), "failed")
        every = dags.post_clear_task_instances(
            DAG, ClearTaskInstances(dag_run_id="c1", only_failed=False)
        )
        self.assertEqual(len(every.task_instances), 6)
        pair = dags.post_clear_task_instances(
            DAG,
            ClearTaskInstances(dag_run_id="c1", only_failed=False, task_ids=["produce"],
                               include_downstream=True),
        )
        self.assertEqual(
            sorted(t.task_id for t in pair.task_instances),
            ["broken", "flaky", "produce", "square", "square", "square"],
        )
        # A [task_id, map_index] pair names one mapped instance.
        status, _, text = common.raw(
            "POST",
            f"/api/v1/dags/{DAG}/clearTaskInstances",
            {"dag_run_id": "c1", "only_failed": False, "task_ids": [["square", 1]]},
        )
        self.assertEqual(status, 200, text)
        self.assertEqual(
            [(t["task_id"]) for t in json.loads(text)["task_instances"]], ["square"]
        )
        # Really clear the failed one: it runs again and fails again, one try more.
        done = dags.post_clear_task_instances(
            DAG, ClearTaskInstances(dag_run_id="c1", dry_run=False)
        )
        self.assertEqual([t.task_id for t in done.task_instances], ["broken"])

        def retried():
            t = tis.get_task_instance(DAG, "c1", "broken")
            return t if str(t.state) == "failed" and t.try_number == 2 else None

        broken = common.wait_for("broken's second try", retried)
        self.assertEqual(broken.max_tries, 1, "a clear raises max_tries to try_number + retries")
        self.assertEqual(str(tis.get_task_instance(DAG, "c1", "produce").state), "success")
        self.assertEqual(finished("c1"), "failed")
        # Both tries are in its history: the one before the clear, and the new one.
        tries = tis.get_task_instance_tries(DAG, "c1", "broken")
        self.assertEqual(
            [(t.try_number, str(t.state)) for t in tries.task_instances],
            [(1, "failed"), (2, "failed")],
        )

    def test_bad_clear_bodies_are_400(self):
        for body in (
            {"only_failed": True, "only_running": True},
            {"dag_run_id": "c1", "start_date": "2026-01-01T00:00:00+00:00"},
            {"colour": "blue"},
        ):
            status, _, text = common.raw(
                "POST", f"/api/v1/dags/{DAG}/clearTaskInstances", body
            )
            self.assertEqual(status, 400, (body, text))


if __name__ == "__main__":
    unittest.main()
