"""The write paths through apache-airflow-client 2.10 (`/api/v1`) with Airflow 2.10's
semantics (`airflow/api/common/mark_tasks.py`, `DAG.set_task_instance_state`): a run
set to failed or success while a task runs (the try is stopped), a failed task set to
success (its upstream_failed downstream runs, the run succeeds), `dry_run`, upstream /
downstream / future, notes, delete, and the event log of these actions.
Fixture: dags/wr_flow.toml."""

import unittest

from common import v1_client, wait_for

from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DAGRunApi
from airflow_client.client.api.event_log_api import EventLogApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.set_dag_run_note import SetDagRunNote
from airflow_client.client.model.set_task_instance_note import SetTaskInstanceNote
from airflow_client.client.model.update_dag_run_state import UpdateDagRunState
from airflow_client.client.model.update_task_instance import UpdateTaskInstance
from airflow_client.client.model.update_task_instances_state import UpdateTaskInstancesState
from airflow_client.client.model.update_task_state import UpdateTaskState

DAG = "wr_flow"


class V1Writes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = v1_client()
        cls.runs = DAGRunApi(cls.client)
        cls.tis = TaskInstanceApi(cls.client)
        cls.dags = DAGApi(cls.client)
        cls.events = EventLogApi(cls.client)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def trigger(self, run_id):
        self.runs.post_dag_run(DAG, DAGRun(dag_run_id=run_id))

    def ti(self, run_id, task_id):
        return self.tis.get_task_instance(DAG, run_id, task_id).state.value

    def wait_ti(self, run_id, task_id, state):
        wait_for(f"{run_id}.{task_id} {state}", lambda: self.ti(run_id, task_id) == state)

    def wait_run(self, run_id, state):
        wait_for(
            f"{run_id} {state}",
            lambda: self.runs.get_dag_run(DAG, run_id).state.value == state,
        )

    def event_names(self, run_id):
        logs = self.events.get_event_logs(dag_id=DAG, run_id=run_id, limit=100)
        return [(e.event, e.owner) for e in logs.event_logs]

    def test_a_running_run_set_to_failed_fails_the_running_task_and_skips_the_rest(self):
        self.trigger("stop_me")
        self.wait_ti("stop_me", "hold", "running")
        run = self.runs.update_dag_run_state(
            DAG, "stop_me", UpdateDagRunState(state="failed")
        )
        self.assertEqual(run.state.value, "failed")
        self.wait_run("stop_me", "failed")
        self.assertEqual(self.ti("stop_me", "hold"), "failed")
        self.assertEqual(self.ti("stop_me", "tail"), "skipped")
        self.assertIn(("api.update_dag_run_state", "api"), self.event_names("stop_me"))
        self.assertIn(("api.post_dag_run", "api"), self.event_names("stop_me"))

    def test_a_running_run_set_to_success_sets_every_task_instance_success(self):
        self.trigger("finish_me")
        self.wait_ti("finish_me", "hold", "running")
        self.runs.update_dag_run_state(DAG, "finish_me", UpdateDagRunState(state="success"))
        self.wait_run("finish_me", "success")
        for task in ("hold", "tail", "gate", "after"):
            self.assertEqual(self.ti("finish_me", task), "success", task)

    def test_a_failed_task_set_to_success_lets_its_downstream_run(self):
        self.trigger("fail_1")
        self.wait_ti("fail_1", "after", "upstream_failed")
        # A dry run lists the instance and changes nothing.
        dry = self.tis.patch_task_instance(
            DAG,
            "fail_1",
            "gate",
            UpdateTaskInstance(dry_run=True, new_state=UpdateTaskState("success")),
        )
        self.assertEqual(dry.task_id, "gate")
        self.assertEqual(self.ti("fail_1", "gate"), "failed")
        self.tis.patch_task_instance(
            DAG,
            "fail_1",
            "gate",
            UpdateTaskInstance(dry_run=False, new_state=UpdateTaskState("success")),
        )
        self.assertEqual(self.ti("fail_1", "gate"), "success")
        # Airflow clears the failed downstream instances: `after` runs and succeeds.
        self.wait_ti("fail_1", "after", "success")
        self.runs.update_dag_run_state(DAG, "fail_1", UpdateDagRunState(state="success"))
        self.wait_run("fail_1", "success")
        self.assertIn(("api.patch_task_instance", "api"), self.event_names("fail_1"))

    def test_upstream_downstream_and_future_reach_the_relatives_and_later_runs(self):
        for run_id in ("fail_a", "fail_b"):
            self.trigger(run_id)
            self.wait_ti(run_id, "after", "upstream_failed")
        refs = self.dags.post_set_task_instances_state(
            DAG,
            UpdateTaskInstancesState(
                dag_run_id="fail_a",
                task_id="gate",
                new_state=UpdateTaskState("skipped"),
                # Airflow 2.10's schema requires all four (`SetTaskInstanceStateFormSchema`).
                include_upstream=False,
                include_downstream=True,
                include_future=True,
                include_past=False,
                dry_run=True,
            ),
        )
        got = sorted((r.dag_run_id, r.task_id) for r in refs.task_instances)
        self.assertIn(("fail_a", "gate"), got)
        self.assertIn(("fail_a", "after"), got)
        self.assertIn(("fail_b", "gate"), got)
        self.assertNotIn(("fail_a", "hold"), got)
        self.assertEqual(self.ti("fail_b", "gate"), "failed")
        for run_id in ("fail_a", "fail_b"):
            self.runs.update_dag_run_state(DAG, run_id, UpdateDagRunState(state="failed"))

    def test_notes_and_delete(self):
        self.trigger("noted")
        self.wait_ti("noted", "gate", "success")
        run = self.runs.set_dag_run_note(DAG, "noted", SetDagRunNote(note="checked by ops"))
        self.assertEqual(run.note, "checked by ops")
        ti = self.tis.set_task_instance_note(
            DAG, "noted", "gate", SetTaskInstanceNote(note="fine")
        )
        self.assertEqual(ti.note, "fine")
        self.assertEqual(self.runs.get_dag_run(DAG, "noted").note, "checked by ops")
        self.runs.delete_dag_run(DAG, "noted")
        with self.assertRaises(Exception) as e:
            self.runs.get_dag_run(DAG, "noted")
        self.assertEqual(e.exception.status, 404)
        names = self.event_names("noted")
        for event in ("api.set_dag_run_note", "api.set_task_instance_note", "api.delete_dag_run"):
            self.assertIn((event, "api"), names)


if __name__ == "__main__":
    unittest.main()
