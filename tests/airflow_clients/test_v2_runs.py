"""DAG runs through apache-airflow-client 3.1 (`/api/v2`), as Airflow 3.1's public API
answers them: trigger (`logical_date` required, may be null), get, list with the
`run_after`/`logical_date`/date-range filters and `order_by`, `~`, the batch list, and
the write paths (PATCH state and note, clear, delete). Fixtures: dags/dr_basic.toml
(succeeds), dags/dr_failing.toml (fails)."""

import datetime
import json
import unittest

from common import raw, v2_client, wait_for

from airflow_client.client.api import DagRunApi
from airflow_client.client.exceptions import ApiException
from airflow_client.client.models import (
    DAGRunClearBody,
    DAGRunPatchBody,
    DAGRunsBatchBody,
    TriggerDAGRunPostBody,
)

UTC = datetime.timezone.utc


def day(n):
    return datetime.datetime(2025, 1, n, tzinfo=UTC)


class V2Runs(unittest.TestCase):
    """Three runs of dr_basic (logical dates 2025-01-01..03) and one of dr_failing
    (2025-01-04), made once and finished before the tests look at them."""

    @classmethod
    def setUpClass(cls):
        cls.client = v2_client()
        cls.api = DagRunApi(cls.client)
        for n in (1, 2, 3):
            cls.api.trigger_dag_run(
                "dr_basic",
                TriggerDAGRunPostBody(dag_run_id=f"dr{n}", logical_date=day(n), conf={"greeting": f"g{n}"}),
            )
        cls.api.trigger_dag_run("dr_failing", TriggerDAGRunPostBody(dag_run_id="boom", logical_date=day(4)))
        for dag, run in [("dr_basic", "dr1"), ("dr_basic", "dr2"), ("dr_basic", "dr3"), ("dr_failing", "boom")]:
            wait_for(
                f"{dag}/{run} to finish",
                lambda dag=dag, run=run: cls.api.get_dag_run(dag, run).state.value in ("success", "failed"),
            )

    def ids(self, collection):
        return [r.dag_run_id for r in collection.dag_runs]

    def test_finished_run_as_airflow_shows_it(self):
        r = self.api.get_dag_run("dr_basic", "dr2")
        self.assertEqual(r.state.value, "success")
        self.assertEqual(r.logical_date, day(2))
        self.assertEqual((r.data_interval_start, r.data_interval_end), (day(2), day(2)))
        self.assertEqual(r.run_type.value, "manual")
        self.assertEqual(r.triggered_by.value, "rest_api")
        self.assertEqual(r.conf, {"greeting": "g2"})
        self.assertEqual(r.dag_display_name, "dr_basic")
        self.assertEqual(len(r.dag_versions), 1)
        self.assertEqual(r.dag_versions[0].dag_id, "dr_basic")
        self.assertLessEqual(r.start_date, r.end_date)
        self.assertAlmostEqual(r.duration, (r.end_date - r.start_date).total_seconds(), places=3)
        self.assertLessEqual(r.run_after, r.start_date)
        self.assertEqual(self.api.get_dag_run("dr_failing", "boom").state.value, "failed")
        with self.assertRaises(ApiException) as e:
            self.api.get_dag_run("dr_basic", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_trigger_body_as_airflow_3_reads_it(self):
        r = self.api.trigger_dag_run(
            "dr_basic",
            TriggerDAGRunPostBody(
                dag_run_id="with_note",
                logical_date=day(20),
                data_interval_start=day(19),
                data_interval_end=day(20),
                note="from a script",
            ),
        )
        self.assertEqual(r.note, "from a script")
        self.assertEqual((r.data_interval_start, r.data_interval_end), (day(19), day(20)))
        self.assertEqual(r.state.value, "queued")
        # `logical_date` may be null (lithoflow then uses the run's run_after).
        auto = self.api.trigger_dag_run("dr_basic", TriggerDAGRunPostBody(logical_date=None))
        self.assertTrue(auto.dag_run_id.startswith("manual__2"), auto.dag_run_id)
        self.assertEqual(auto.run_type.value, "manual")
        # ... but required.
        status, _, text = raw("POST", "/api/v2/dags/dr_basic/dagRuns", {"dag_run_id": "x"})
        self.assertEqual(status, 422, text)
        status, _, text = raw(
            "POST", "/api/v2/dags/dr_basic/dagRuns", {"logical_date": None, "execution_date": None}
        )
        self.assertEqual(status, 422, text)
        status, _, text = raw(
            "POST", "/api/v2/dags/dr_basic/dagRuns", {"logical_date": day(1).isoformat()}
        )
        self.assertEqual(status, 409, text)
        self.assertIn("detail", json.loads(text))

    def test_list_order_and_filters(self):
        got = self.api.get_dag_runs("dr_basic", logical_date_lte=day(3))
        self.assertEqual(self.ids(got), ["dr1", "dr2", "dr3"])
        newest = self.api.get_dag_runs("dr_basic", logical_date_lte=day(3), order_by=["-logical_date"])
        self.assertEqual(self.ids(newest), ["dr3", "dr2", "dr1"])
        strict = self.api.get_dag_runs("dr_basic", logical_date_gt=day(1), logical_date_lt=day(3))
        self.assertEqual(self.ids(strict), ["dr2"])
        page = self.api.get_dag_runs("dr_basic", logical_date_lte=day(3), limit=1, offset=2)
        self.assertEqual((self.ids(page), page.total_entries), (["dr3"], 3))
        failed = self.api.get_dag_runs("~", state=["failed"])
        self.assertIn("boom", self.ids(failed))
        self.assertTrue(all(r.state.value == "failed" for r in failed.dag_runs))
        manual = self.api.get_dag_runs("dr_basic", run_type=["scheduled"])
        self.assertEqual(manual.total_entries, 0)
        # run_after is the time of each trigger, in order.
        after = self.api.get_dag_runs(
            "dr_basic",
            run_after_gte=self.api.get_dag_run("dr_basic", "dr2").run_after,
            logical_date_lte=day(3),
        )
        self.assertEqual(self.ids(after), ["dr2", "dr3"])
        ends = {r: self.api.get_dag_run("dr_basic", r).end_date for r in ("dr1", "dr2", "dr3")}
        ended = self.api.get_dag_runs("dr_basic", end_date_lte=ends["dr2"], logical_date_lte=day(3))
        self.assertEqual(self.ids(ended), [r for r in ends if ends[r] <= ends["dr2"]])
        pattern = self.api.get_dag_runs("dr_basic", run_id_pattern="dr", logical_date_lte=day(3))
        self.assertEqual(pattern.total_entries, 3)
        every = self.api.get_dag_runs("~", logical_date_gte=day(1), logical_date_lte=day(4))
        self.assertEqual(self.ids(every), ["dr1", "dr2", "dr3", "boom"])
        status, _, text = raw("GET", "/api/v2/dags/dr_basic/dagRuns?state=done")
        self.assertEqual(status, 422, text)

    def test_batch_list(self):
        got = self.api.get_list_dag_runs_batch(
            "~",
            DAGRunsBatchBody(dag_ids=["dr_basic", "dr_failing"], logical_date_gte=day(1), logical_date_lte=day(4)),
        )
        self.assertEqual(self.ids(got), ["dr1", "dr2", "dr3", "boom"])
        failed = self.api.get_list_dag_runs_batch("~", DAGRunsBatchBody(dag_ids=["dr_failing"], states=["failed"]))
        self.assertEqual(self.ids(failed), ["boom"])
        paged = self.api.get_list_dag_runs_batch(
            "~",
            DAGRunsBatchBody(dag_ids=["dr_basic"], logical_date_lte=day(3), order_by="-logical_date", page_limit=2),
        )
        self.assertEqual((self.ids(paged), paged.total_entries), (["dr3", "dr2"], 3))
        status, _, text = raw("POST", "/api/v2/dags/~/dagRuns/list", {"nope": 1})
        self.assertEqual(status, 422, text)


class V2RunWrites(unittest.TestCase):
    """The write paths: each test triggers its own run of dr_basic."""

    @classmethod
    def setUpClass(cls):
        cls.client = v2_client()
        cls.api = DagRunApi(cls.client)

    def finished(self, run_id, n):
        self.api.trigger_dag_run(
            "dr_basic",
            TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=datetime.datetime(2025, 3, n, tzinfo=UTC)),
        )
        wait_for(f"{run_id} to succeed", lambda: self.api.get_dag_run("dr_basic", run_id).state.value == "success")

    def test_patch_note_and_state(self):
        self.finished("w_patch", 1)
        r = self.api.patch_dag_run("dr_basic", "w_patch", DAGRunPatchBody(note="looked at"))
        self.assertEqual(r.note, "looked at")
        r = self.api.patch_dag_run("dr_basic", "w_patch", DAGRunPatchBody(state="failed"), update_mask=["state"])
        self.assertEqual(r.state.value, "failed")
        self.assertEqual(r.note, "looked at")
        status, _, text = raw("PATCH", "/api/v2/dags/dr_basic/dagRuns/w_patch", {"state": "running"})
        self.assertEqual(status, 422, text)

    def test_clear(self):
        self.finished("w_clear", 2)
        dry = self.api.clear_dag_run("dr_basic", "w_clear", DAGRunClearBody(dry_run=True))
        tis = dry.actual_instance.task_instances
        self.assertEqual(sorted(t.task_id for t in tis), ["first", "second"])
        self.assertTrue(all(t.state.value == "success" for t in tis))
        self.assertEqual(self.api.get_dag_run("dr_basic", "w_clear").state.value, "success")
        self.api.clear_dag_run("dr_basic", "w_clear", DAGRunClearBody(dry_run=False))
        wait_for(
            "the cleared run to run again",
            lambda: (lambda r: r.state.value == "success" and r.queued_at > r.run_after)(
                self.api.get_dag_run("dr_basic", "w_clear")
            ),
        )

    def test_wait_streams_the_state_until_the_run_ends_with_its_results(self):
        self.api.trigger_dag_run(
            "dr_basic",
            TriggerDAGRunPostBody(dag_run_id="w_wait", logical_date=datetime.datetime(2025, 3, 4, tzinfo=UTC)),
        )
        got = self.api.wait_dag_run_until_finished("dr_basic", "w_wait", interval=0.05, result=["second", "nope"])
        # Airflow's answer has no content type: the client reads one line as JSON, more as text.
        lines = [got] if isinstance(got, dict) else [json.loads(l) for l in got.splitlines()]
        self.assertEqual(lines[-1], {"state": "success", "results": {"second": "done"}}, got)
        for earlier in lines[:-1]:
            self.assertIn(earlier["state"], ("queued", "running"), got)
            self.assertNotIn("results", earlier)
        # A finished run answers one line at once; without `result`, no results.
        status, headers, text = raw("GET", "/api/v2/dags/dr_basic/dagRuns/w_wait/wait?interval=1")
        self.assertEqual((status, text), (200, '{"state": "success"}\n'.replace(": ", ":")), headers)
        status, _, text = raw("GET", "/api/v2/dags/dr_basic/dagRuns/nope/wait?interval=1")
        self.assertEqual(status, 404, text)
        status, _, text = raw("GET", "/api/v2/dags/dr_basic/dagRuns/w_wait/wait?interval=0")
        self.assertEqual(status, 422, text)

    def test_delete(self):
        self.finished("w_delete", 3)
        self.api.delete_dag_run("dr_basic", "w_delete")
        with self.assertRaises(ApiException) as e:
            self.api.get_dag_run("dr_basic", "w_delete")
        self.assertEqual(e.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
