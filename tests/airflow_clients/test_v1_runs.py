"""DAG runs through apache-airflow-client 2.10 (`/api/v1`), as Airflow 2.10's stable
REST API answers them: trigger, get, list with Airflow's filters and `order_by`, `~`,
the batch list, and the write paths (state, note, clear, delete). Fixtures:
dags/dr_basic.toml (succeeds), dags/dr_failing.toml (fails)."""

import datetime
import json
import unittest

from common import raw, v1_client, wait_for

from airflow_client.client.api.dag_run_api import DAGRunApi
from airflow_client.client.model.clear_dag_run import ClearDagRun
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.dag_state import DagState
from airflow_client.client.model.list_dag_runs_form import ListDagRunsForm
from airflow_client.client.model.set_dag_run_note import SetDagRunNote
from airflow_client.client.model.update_dag_run_state import UpdateDagRunState

UTC = datetime.timezone.utc


def day(n):
    return datetime.datetime(2025, 1, n, tzinfo=UTC)


class V1Runs(unittest.TestCase):
    """Three runs of dr_basic (logical dates 2025-01-01..03) and one of dr_failing
    (2025-01-04), made once and finished before the tests look at them."""

    @classmethod
    def setUpClass(cls):
        cls.client = v1_client()
        cls.api = DAGRunApi(cls.client)
        for n in (1, 2, 3):
            cls.api.post_dag_run(
                "dr_basic",
                DAGRun(dag_run_id=f"dr{n}", logical_date=day(n), conf={"greeting": f"g{n}"}),
            )
        cls.api.post_dag_run("dr_failing", DAGRun(dag_run_id="boom", logical_date=day(4)))
        for dag, run in [("dr_basic", "dr1"), ("dr_basic", "dr2"), ("dr_basic", "dr3"), ("dr_failing", "boom")]:
            wait_for(
                f"{dag}/{run} to finish",
                lambda dag=dag, run=run: cls.api.get_dag_run(dag, run).state.value
                in ("success", "failed"),
            )

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def ids(self, collection):
        return [r.dag_run_id for r in collection.dag_runs]

    def test_finished_run_as_airflow_shows_it(self):
        r = self.api.get_dag_run("dr_basic", "dr2")
        self.assertEqual(r.state.value, "success")
        self.assertEqual(r.dag_id, "dr_basic")
        self.assertEqual(r.logical_date, day(2))
        self.assertEqual(r.execution_date, day(2))
        self.assertEqual(r.data_interval_start, day(2))
        self.assertEqual(r.data_interval_end, day(2))
        self.assertEqual(r.run_type, "manual")
        self.assertTrue(r.external_trigger)
        self.assertEqual(r.conf, {"greeting": "g2"})
        self.assertIsNone(r.note)
        self.assertIsNotNone(r.start_date)
        self.assertIsNotNone(r.end_date)
        self.assertLessEqual(r.start_date, r.end_date)
        self.assertEqual(r.last_scheduling_decision, r.end_date)
        failed = self.api.get_dag_run("dr_failing", "boom")
        self.assertEqual(failed.state.value, "failed")
        with self.assertRaises(Exception) as e:
            self.api.get_dag_run("dr_basic", "nope")
        self.assertEqual(e.exception.status, 404)

    def test_trigger_with_execution_date_note_and_default_id(self):
        when = datetime.datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
        status, _, text = raw(
            "POST",
            "/api/v1/dags/dr_basic/dagRuns",
            {"execution_date": when.isoformat(), "note": "from a script", "conf": {"greeting": "hey"}},
        )
        self.assertEqual(status, 200, text)
        body = json.loads(text)
        self.assertEqual(body["dag_run_id"], "manual__2025-06-01T12:30:00+00:00")
        self.assertEqual(body["execution_date"], "2025-06-01T12:30:00+00:00")
        self.assertEqual(body["logical_date"], "2025-06-01T12:30:00+00:00")
        self.assertEqual(body["note"], "from a script")
        self.assertEqual(body["state"], "queued")
        got = self.api.get_dag_run("dr_basic", body["dag_run_id"])
        self.assertEqual(got.note, "from a script")
        self.assertEqual(got.conf, {"greeting": "hey"})
        # Airflow answers 409 to a second run of a logical date.
        status, _, text = raw("POST", "/api/v1/dags/dr_basic/dagRuns", {"logical_date": when.isoformat()})
        self.assertEqual(status, 409, text)
        # The two names of the logical date must agree.
        status, _, text = raw(
            "POST",
            "/api/v1/dags/dr_basic/dagRuns",
            {"logical_date": "2025-06-02T00:00:00+00:00", "execution_date": "2025-06-03T00:00:00+00:00"},
        )
        self.assertEqual(status, 400, text)
        # A data interval is given whole or not at all.
        status, _, text = raw(
            "POST",
            "/api/v1/dags/dr_basic/dagRuns",
            {"logical_date": "2025-06-04T00:00:00+00:00", "data_interval_start": "2025-06-03T00:00:00+00:00"},
        )
        self.assertEqual(status, 400, text)
        # Fields a client cannot set are refused, as Airflow's schema refuses them.
        status, _, text = raw("POST", "/api/v1/dags/dr_basic/dagRuns", {"state": "success"})
        self.assertEqual(status, 400, text)

    def test_trigger_with_data_interval_through_the_client(self):
        r = self.api.post_dag_run(
            "dr_basic",
            DAGRun(
                dag_run_id="with_interval",
                logical_date=day(20),
                data_interval_start=day(19),
                data_interval_end=day(20),
                note="interval",
            ),
        )
        self.assertEqual((r.data_interval_start, r.data_interval_end), (day(19), day(20)))
        self.assertEqual(r.note, "interval")

    def test_default_order_is_oldest_first(self):
        got = self.api.get_dag_runs("dr_basic", execution_date_lte=day(3))
        # (The other tests' runs have later logical dates.)
        self.assertEqual(self.ids(got), ["dr1", "dr2", "dr3"])
        self.assertEqual(got.total_entries, 3)
        newest = self.api.get_dag_runs("dr_basic", execution_date_lte=day(3), order_by="-execution_date")
        self.assertEqual(self.ids(newest), ["dr3", "dr2", "dr1"])
        by_id = self.api.get_dag_runs("dr_basic", execution_date_lte=day(3), order_by="-dag_run_id")
        self.assertEqual(self.ids(by_id), ["dr3", "dr2", "dr1"])
        page = self.api.get_dag_runs("dr_basic", execution_date_lte=day(3), limit=1, offset=1)
        self.assertEqual(self.ids(page), ["dr2"])
        self.assertEqual(page.total_entries, 3)

    def test_date_and_state_filters(self):
        mid = self.api.get_dag_runs("dr_basic", execution_date_gte=day(2), execution_date_lte=day(3))
        self.assertEqual(self.ids(mid), ["dr2", "dr3"])
        # The runs run side by side: what each bound selects is computed from their
        # recorded times.
        runs = {r: self.api.get_dag_run("dr_basic", r) for r in ("dr1", "dr2", "dr3")}
        bound = runs["dr2"].start_date
        first = self.api.get_dag_runs("dr_basic", start_date_lte=bound, execution_date_lte=day(3))
        self.assertEqual(self.ids(first), [r for r in runs if runs[r].start_date <= bound])
        self.assertIn("dr2", self.ids(first))
        bound = runs["dr2"].end_date
        later = self.api.get_dag_runs("dr_basic", end_date_gte=bound, execution_date_lte=day(3))
        self.assertEqual(self.ids(later), [r for r in runs if runs[r].end_date >= bound])
        self.assertIn("dr2", self.ids(later))
        updated = self.api.get_dag_runs(
            "dr_basic", updated_at_gte=datetime.datetime(2000, 1, 1, tzinfo=UTC), execution_date_lte=day(3)
        )
        self.assertEqual(updated.total_entries, 3)
        none = self.api.get_dag_runs("dr_basic", updated_at_lte=datetime.datetime(2000, 1, 1, tzinfo=UTC))
        self.assertEqual(none.total_entries, 0)
        failed = self.api.get_dag_runs("~", state=["failed"])
        self.assertIn("boom", self.ids(failed))
        self.assertTrue(all(r.state.value == "failed" for r in failed.dag_runs))
        ok = self.api.get_dag_runs("dr_basic", state=["success"], execution_date_lte=day(3))
        self.assertEqual(self.ids(ok), ["dr1", "dr2", "dr3"])

    def test_every_dag_with_tilde(self):
        every = self.api.get_dag_runs("~", execution_date_gte=day(1), execution_date_lte=day(4))
        self.assertEqual(
            [(r.dag_id, r.dag_run_id) for r in every.dag_runs],
            [("dr_basic", "dr1"), ("dr_basic", "dr2"), ("dr_basic", "dr3"), ("dr_failing", "boom")],
        )

    def test_batch_list(self):
        got = self.api.get_dag_runs_batch(
            ListDagRunsForm(dag_ids=["dr_basic", "dr_failing"], execution_date_gte=day(1), execution_date_lte=day(4))
        )
        self.assertEqual(self.ids(got), ["dr1", "dr2", "dr3", "boom"])
        failed = self.api.get_dag_runs_batch(
            ListDagRunsForm(dag_ids=["dr_basic", "dr_failing"], states=["failed"], execution_date_lte=day(4))
        )
        self.assertEqual(self.ids(failed), ["boom"])
        paged = self.api.get_dag_runs_batch(
            ListDagRunsForm(
                dag_ids=["dr_basic"],
                execution_date_lte=day(3),
                order_by="-execution_date",
                page_limit=2,
                page_offset=0,
            )
        )
        self.assertEqual(self.ids(paged), ["dr3", "dr2"])
        self.assertEqual(paged.total_entries, 3)

    def test_fields_and_strict_parameters(self):
        status, _, text = raw("GET", "/api/v1/dags/dr_basic/dagRuns/dr1?fields=state&fields=execution_date")
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text), {"state": "success", "execution_date": "2025-01-01T00:00:00+00:00"})
        status, _, text = raw("GET", "/api/v1/dags/dr_basic/dagRuns?run_type=manual")
        self.assertEqual(status, 400, text)
        status, _, text = raw("GET", "/api/v1/dags/dr_basic/dagRuns?order_by=nope")
        self.assertEqual(status, 400, text)
        status, _, text = raw("GET", "/api/v1/dags/dr_basic/dagRuns?execution_date_gte=yesterday")
        self.assertEqual(status, 400, text)


class V1RunWrites(unittest.TestCase):
    """The write paths: each test triggers its own run of dr_basic."""

    @classmethod
    def setUpClass(cls):
        cls.client = v1_client()
        cls.api = DAGRunApi(cls.client)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def finished(self, run_id, n):
        self.api.post_dag_run("dr_basic", DAGRun(dag_run_id=run_id, logical_date=datetime.datetime(2025, 3, n, tzinfo=UTC)))
        return wait_for(
            f"{run_id} to succeed",
            lambda: self.api.get_dag_run("dr_basic", run_id).state.value == "success" and True,
        )

    def test_set_note(self):
        self.finished("w_note", 1)
        r = self.api.set_dag_run_note("dr_basic", "w_note", SetDagRunNote(note="looked at"))
        self.assertEqual(r.note, "looked at")
        self.assertEqual(self.api.get_dag_run("dr_basic", "w_note").note, "looked at")

    def test_set_state_failed_then_queued(self):
        self.finished("w_state", 2)
        r = self.api.update_dag_run_state("dr_basic", "w_state", UpdateDagRunState(state="failed"))
        self.assertEqual(r.state.value, "failed")
        self.assertEqual(self.api.get_dag_run("dr_basic", "w_state").state.value, "failed")
        status, _, text = raw("PATCH", "/api/v1/dags/dr_basic/dagRuns/w_state", {"state": "running"})
        self.assertEqual(status, 400, text)

    def test_clear_dry_run_then_for_real(self):
        self.finished("w_clear", 3)
        dry = self.api.clear_dag_run("dr_basic", "w_clear", ClearDagRun(dry_run=True))
        self.assertEqual(sorted(t["task_id"] for t in dry["task_instances"]), ["first", "second"])
        self.assertEqual(self.api.get_dag_run("dr_basic", "w_clear").state.value, "success")
        self.api.clear_dag_run("dr_basic", "w_clear", ClearDagRun(dry_run=False))
        wait_for(
            "the cleared run to run again",
            lambda: self.api.get_dag_run("dr_basic", "w_clear").state.value == "success"
            and self.api.get_dag_run("dr_basic", "w_clear").queued_at
            > self.api.get_dag_run("dr_basic", "w_clear").run_after,
        )

    def test_delete(self):
        self.finished("w_delete", 4)
        self.api.delete_dag_run("dr_basic", "w_delete")
        with self.assertRaises(Exception) as e:
            self.api.get_dag_run("dr_basic", "w_delete")
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(Exception) as e:
            self.api.delete_dag_run("dr_basic", "w_delete")
        self.assertEqual(e.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
