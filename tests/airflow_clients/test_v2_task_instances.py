"""Task instances, their logs, XCom and clears through apache-airflow-client 3.1
(`/api/v2`), against the fixture DAG ti_basic.toml: every answer must deserialise
with the client's pydantic models, and the values must be Airflow's."""

import datetime
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

from airflow_client.client.api.task_instance_api import TaskInstanceApi  # noqa: E402
from airflow_client.client.api.x_com_api import XComApi  # noqa: E402
from airflow_client.client.exceptions import ApiException  # noqa: E402
from airflow_client.client.models import (  # noqa: E402
    ClearTaskInstancesBody,
    PatchTaskInstanceBody,
    TaskInstancesBatchBody,
)

DAG = "ti_basic"


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


def state(ti):
    return ti.state.value if ti.state is not None else None


class TaskInstancesV2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api = common.v2_client()
        cls.tis = TaskInstanceApi(api)
        cls.xcom = XComApi(api)
        trigger("v2r1")
        assert finished("v2r1") == "failed"

    def test_list_has_airflow_3_fields(self):
        got = self.tis.get_task_instances(DAG, "v2r1")
        self.assertEqual(got.total_entries, 6)
        tis = {(t.task_id, t.map_index): t for t in got.task_instances}
        produce = tis[("produce", -1)]
        self.assertEqual(state(produce), "success")
        self.assertEqual((produce.try_number, produce.max_tries), (1, 0))
        self.assertEqual(produce.dag_run_id, "v2r1")
        self.assertEqual(produce.dag_display_name, DAG)
        self.assertEqual(produce.pool, "default_pool")
        self.assertEqual(produce.pool_slots, 1)
        self.assertEqual(produce.priority_weight, 5)
        self.assertEqual(produce.queue, "default")
        self.assertEqual(produce.executor_config, "{}")
        self.assertTrue(produce.hostname)
        self.assertIsInstance(produce.run_after, datetime.datetime)
        self.assertIsInstance(produce.logical_date, datetime.datetime)
        self.assertEqual(len(produce.id), 36)
        flaky = tis[("flaky", -1)]
        self.assertEqual((state(flaky), flaky.try_number, flaky.max_tries), ("success", 2, 2))
        self.assertEqual(state(tis[("broken", -1)]), "failed")
        # Default order: map_index.
        self.assertEqual(got.task_instances[0].map_index, -1)
        self.assertEqual(got.task_instances[-1].map_index, 2)

    def test_filters_and_order(self):
        failed = self.tis.get_task_instances(DAG, "v2r1", state=["failed"])
        self.assertEqual([t.task_id for t in failed.task_instances], ["broken"])
        squares = self.tis.get_task_instances(DAG, "v2r1", task_id="square", order_by=["-map_index"])
        self.assertEqual([t.map_index for t in squares.task_instances], [2, 1, 0])
        retried = self.tis.get_task_instances(DAG, "v2r1", try_number=[2])
        self.assertEqual([t.task_id for t in retried.task_instances], ["flaky"])
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        self.assertEqual(
            self.tis.get_task_instances(DAG, "v2r1", start_date_gte=future).total_entries, 0
        )
        every = self.tis.get_task_instances("~", "~", limit=100)
        self.assertGreaterEqual(every.total_entries, 6)
        page = self.tis.get_task_instances(DAG, "v2r1", limit=2, offset=4)
        self.assertEqual((len(page.task_instances), page.total_entries), (2, 6))
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instances(DAG, "nope")
        self.assertEqual(e.exception.status, 404)

    def test_batch_one_and_mapped(self):
        got = self.tis.get_task_instances_batch(
            "~", "~", TaskInstancesBatchBody(dag_ids=[DAG], dag_run_ids=["v2r1"], task_ids=["square"])
        )
        self.assertEqual(sorted(t.map_index for t in got.task_instances), [0, 1, 2])
        one = self.tis.get_task_instance(DAG, "v2r1", "produce")
        self.assertEqual((one.task_id, one.map_index), ("produce", -1))
        mapped = self.tis.get_mapped_task_instance(DAG, "v2r1", "square", 1)
        self.assertEqual((mapped.map_index, state(mapped)), (1, "success"))
        listed = self.tis.get_mapped_task_instances(DAG, "v2r1", "square")
        self.assertEqual([t.map_index for t in listed.task_instances], [0, 1, 2])
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance(DAG, "v2r1", "square")
        self.assertEqual(e.exception.status, 404)

    def test_logs_are_structured(self):
        log = self.tis.get_log(DAG, "v2r1", "produce", 1)
        events = [m.event for m in log.content.actual_instance]
        self.assertIn("TI-PRODUCE-MARKER n=3", events)
        self.assertTrue(
            any(m.timestamp is not None for m in log.content.actual_instance), events
        )
        self.assertIsNone(log.continuation_token, "a finished try's log, read to its end")
        second = self.tis.get_log(DAG, "v2r1", "flaky", 2)
        self.assertIn("TI-FLAKY try 2", [m.event for m in second.content.actual_instance])
        mapped = self.tis.get_log(DAG, "v2r1", "square", 1, map_index=0)
        self.assertTrue(any("map_index 0" in m.event for m in mapped.content.actual_instance))
        with self.assertRaises(ApiException) as e:
            self.tis.get_log(DAG, "v2r1", "produce", 1, token="forged")
        self.assertEqual(e.exception.status, 400)

    def test_dependencies_of_finished_instances_are_empty(self):
        self.assertEqual(self.tis.get_task_instance_dependencies(DAG, "v2r1", "produce").dependencies, [])
        got = self.tis.get_task_instance_dependencies_by_map_index(DAG, "v2r1", "square", 0)
        self.assertEqual(got.dependencies, [])
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance_dependencies_by_map_index(DAG, "v2r1", "square", 99)
        self.assertEqual(e.exception.status, 404)

    def test_tries(self):
        flaky = self.tis.get_task_instance_tries(DAG, "v2r1", "flaky")
        self.assertEqual(
            [(t.try_number, state(t)) for t in flaky.task_instances],
            [(1, "failed"), (2, "success")]  # a retried try is history as failed (TaskInstanceHistory.record_ti),
        )
        first = self.tis.get_task_instance_try_details(DAG, "v2r1", "flaky", 1)
        self.assertEqual((first.try_number, state(first)), (1, "failed"))
        mapped = self.tis.get_mapped_task_instance_tries(DAG, "v2r1", "square", 2)
        self.assertEqual([(t.map_index, t.try_number) for t in mapped.task_instances], [(2, 1)])
        one = self.tis.get_mapped_task_instance_try_details(DAG, "v2r1", "square", 1, 0)
        self.assertEqual((one.map_index, state(one)), (0, "success"))
        with self.assertRaises(ApiException) as e:
            self.tis.get_task_instance_try_details(DAG, "v2r1", "flaky", 7)
        self.assertEqual(e.exception.status, 404)

    def test_xcom(self):
        got = self.xcom.get_xcom_entries(DAG, "v2r1", "produce")
        self.assertEqual(sorted(e.key for e in got.xcom_entries), ["meta", "return_value", "rows"])
        for e in got.xcom_entries:
            self.assertEqual((e.run_id, e.task_id, e.map_index), ("v2r1", "produce", -1))
        meta = self.xcom.get_xcom_entry(DAG, "produce", "v2r1", "meta")
        self.assertEqual(meta.actual_instance.value, {"source": "ti_fixture", "n": 3})
        text = self.xcom.get_xcom_entry(DAG, "produce", "v2r1", "rows", stringify=True)
        self.assertEqual(text.actual_instance.value, "30")
        square = self.xcom.get_xcom_entry(DAG, "square", "v2r1", "return_value", map_index=2)
        self.assertEqual(square.actual_instance.value, 9)
        keyed = self.xcom.get_xcom_entries("~", "~", "~", xcom_key="rows")
        self.assertIn((DAG, "v2r1"), [(e.dag_id, e.run_id) for e in keyed.xcom_entries])
        with self.assertRaises(ApiException) as e:
            self.xcom.get_xcom_entry(DAG, "produce", "v2r1", "nope")
        self.assertEqual(e.exception.status, 404)



class WritesV2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tis = TaskInstanceApi(common.v2_client())
        trigger("v2w1")
        assert finished("v2w1") == "failed"

    def test_patch_state(self):
        dry = self.tis.patch_task_instance_dry_run(
            DAG, "v2w1", "broken", PatchTaskInstanceBody(new_state="success")
        )
        self.assertEqual([t.task_id for t in dry.task_instances], ["broken"])
        self.assertEqual(state(self.tis.get_task_instance(DAG, "v2w1", "broken")), "failed")
        done = self.tis.patch_task_instance(
            DAG, "v2w1", "broken", PatchTaskInstanceBody(new_state="success")
        )
        self.assertEqual([state(t) for t in done.task_instances], ["success"])

    def test_bad_state_is_422(self):
        status, _, text = common.raw(
            "PATCH",
            f"/api/v2/dags/{DAG}/dagRuns/v2w1/taskInstances/broken",
            {"new_state": "running"},
        )
        self.assertEqual(status, 422, text)

    def test_note(self):
        got = self.tis.patch_task_instance(
            DAG, "v2w1", "produce", PatchTaskInstanceBody(note="looked at"), update_mask=["note"]
        )
        self.assertEqual([t.note for t in got.task_instances], ["looked at"])


class ClearV2(unittest.TestCase):
    def test_clear_defaults_are_airflows(self):
        tis = TaskInstanceApi(common.v2_client())
        trigger("v2c1")
        self.assertEqual(finished("v2c1"), "failed")
        dry = tis.post_clear_task_instances(DAG, ClearTaskInstancesBody(dag_run_id="v2c1"))
        self.assertEqual([t.task_id for t in dry.task_instances], ["broken"])
        self.assertEqual(state(tis.get_task_instance(DAG, "v2c1", "broken")), "failed")
        every = tis.post_clear_task_instances(
            DAG, ClearTaskInstancesBody(dag_run_id="v2c1", only_failed=False)
        )
        self.assertEqual(every.total_entries, 6)
        done = tis.post_clear_task_instances(
            DAG, ClearTaskInstancesBody(dag_run_id="v2c1", dry_run=False)
        )
        self.assertEqual([t.task_id for t in done.task_instances], ["broken"])

        def retried():
            t = tis.get_task_instance(DAG, "v2c1", "broken")
            return t if state(t) == "failed" and t.try_number == 2 else None

        self.assertEqual(common.wait_for("broken's second try", retried).max_tries, 1)
        status, _, text = common.raw(
            "POST", f"/api/v2/dags/{DAG}/clearTaskInstances", {"colour": "blue"}
        )
        self.assertEqual(status, 422, text)


if __name__ == "__main__":
    unittest.main()
