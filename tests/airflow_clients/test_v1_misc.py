"""`/api/v1` variables, connections, pools, import errors, event logs, dagStats, config,
health, version, plugins, providers and DAG warnings through apache-airflow-client 2.10.x:
every answer deserialised by the client, values checked."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from common import DAGS_FOLDER, raw, v1_client, wait_for  # noqa: E402

from airflow_client.client.api import (  # noqa: E402
    config_api,
    connection_api,
    dag_stats_api,
    dag_warning_api,
    event_log_api,
    import_error_api,
    monitoring_api,
    plugin_api,
    pool_api,
    provider_api,
    variable_api,
)
from airflow_client.client.exceptions import ApiException  # noqa: E402
from airflow_client.client.model.connection import Connection  # noqa: E402
from airflow_client.client.model.pool import Pool  # noqa: E402
from airflow_client.client.model.variable import Variable  # noqa: E402

DAG = "misc_stats"


class V1Misc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = v1_client()

    def test_variables(self):
        api = variable_api.VariableApi(self.api)
        made = api.post_variables(Variable(key="v1m_plain", value="42", description="answer"))
        self.assertEqual((made.key, made.value, made.description), ("v1m_plain", "42", "answer"))
        api.post_variables(Variable(key="v1m_api_password", value="hunter2"))
        got = api.get_variable("v1m_plain")
        self.assertEqual(got.value, "42")
        self.assertEqual(got.description, "answer")
        # A variable whose key looks secret is answered masked.
        self.assertEqual(api.get_variable("v1m_api_password").value, "***")
        listed = api.get_variables(limit=1000)
        keys = [v.key for v in listed.variables]
        self.assertIn("v1m_plain", keys)
        self.assertEqual(listed.total_entries, len(keys))
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(
            [v.key for v in api.get_variables(order_by="-key", limit=1000).variables],
            sorted(keys, reverse=True),
        )
        patched = api.patch_variable(
            "v1m_plain", Variable(key="v1m_plain", value="43"), update_mask=["value"]
        )
        self.assertEqual((patched.value, patched.description), ("43", "answer"))
        api.delete_variable("v1m_plain")
        with self.assertRaises(ApiException) as e:
            api.get_variable("v1m_plain")
        self.assertEqual(e.exception.status, 404)
        # Airflow's query strings are strict.
        status, _, _ = raw("GET", "/api/v1/variables?bogus=1")
        self.assertEqual(status, 400)
        events = event_log_api.EventLogApi(self.api).get_event_logs(
            included_events="api.variable.create,api.variable.edit,api.variable.delete", limit=1000
        )
        names = [e.event for e in events.event_logs]
        self.assertIn("api.variable.create", names)
        self.assertIn("api.variable.edit", names)
        self.assertIn("api.variable.delete", names)
        for e in events.event_logs:
            self.assertNotIn("hunter2", e.extra or "")
            self.assertEqual(e.owner, "api")

    def test_connections(self):
        api = connection_api.ConnectionApi(self.api)
        made = api.post_connection(
            Connection(
                connection_id="v1m_db",
                conn_type="postgres",
                host="db.example",
                port=5432,
                login="me",
                password="s3cret",
                schema="public",
                extra=json.dumps({"sslmode": "require", "api_token": "t0k"}),
                description="the db",
            )
        )
        self.assertEqual(made.connection_id, "v1m_db")
        got = api.get_connection("v1m_db")
        self.assertEqual(
            (got.conn_type, got.host, got.port, got.login, got.schema, got.description),
            ("postgres", "db.example", 5432, "me", "public", "the db"),
        )
        self.assertNotIn("password", got.to_dict())
        extra = json.loads(got.extra)
        self.assertEqual(extra["sslmode"], "require")
        self.assertEqual(extra["api_token"], "***")
        _, _, text = raw("GET", "/api/v1/connections/v1m_db")
        self.assertNotIn("s3cret", text)
        with self.assertRaises(ApiException) as e:
            api.post_connection(Connection(connection_id="v1m_db", conn_type="http"))
        self.assertEqual(e.exception.status, 409)
        listed = api.get_connections(limit=1000)
        item = [c for c in listed.connections if c.connection_id == "v1m_db"][0]
        self.assertEqual((item.host, item.port), ("db.example", 5432))
        patched = api.patch_connection(
            "v1m_db",
            Connection(connection_id="v1m_db", conn_type="postgres", port=6543),
            update_mask=["port"],
        )
        self.assertEqual((patched.port, patched.host), (6543, "db.example"))
        # Testing connections is off, as Airflow's default.
        with self.assertRaises(ApiException) as e:
            api.test_connection(Connection(connection_id="v1m_db", conn_type="postgres"))
        self.assertEqual(e.exception.status, 403)
        api.delete_connection("v1m_db")
        with self.assertRaises(ApiException) as e:
            api.get_connection("v1m_db")
        self.assertEqual(e.exception.status, 404)
        names = [
            e.event
            for e in event_log_api.EventLogApi(self.api)
            .get_event_logs(event="api.connection.create", limit=1000)
            .event_logs
        ]
        self.assertEqual(names, ["api.connection.create"])

    def test_pools(self):
        api = pool_api.PoolApi(self.api)
        made = api.post_pool(Pool(name="v1m_pool", slots=3, description="three"))
        self.assertEqual((made.name, made.slots, made.open_slots), ("v1m_pool", 3, 3))
        self.assertEqual(made.occupied_slots, 0)
        self.assertFalse(made.include_deferred)
        default = api.get_pool("default_pool")
        self.assertEqual(default.name, "default_pool")
        self.assertEqual(default.slots, 128)
        names = [p.name for p in api.get_pools(limit=1000).pools]
        self.assertIn("default_pool", names)
        self.assertIn("v1m_pool", names)
        patched = api.patch_pool("v1m_pool", Pool(name="v1m_pool", slots=5), update_mask=["slots"])
        self.assertEqual((patched.slots, patched.description), (5, "three"))
        api.delete_pool("v1m_pool")
        with self.assertRaises(ApiException) as e:
            api.get_pool("v1m_pool")
        self.assertEqual(e.exception.status, 404)
        events = [
            e.event
            for e in event_log_api.EventLogApi(self.api)
            .get_event_logs(included_events="api.post_pool,api.patch_pool,api.delete_pool", limit=1000)
            .event_logs
        ]
        self.assertEqual(sorted(events), ["api.delete_pool", "api.patch_pool", "api.post_pool"])

    def test_event_logs_filters_and_get(self):
        api = event_log_api.EventLogApi(self.api)
        variable_api.VariableApi(self.api).post_variables(Variable(key="v1m_ev", value="1"))
        page = api.get_event_logs(event="api.variable.create", limit=1000)
        entry = [e for e in page.event_logs if json.loads(e.extra or "{}").get("key") == "v1m_ev"]
        self.assertEqual(len(entry), 1)
        one = api.get_event_log(entry[0].event_log_id)
        self.assertEqual(one.event, "api.variable.create")
        self.assertEqual(one.when, entry[0].when)
        self.assertIsNone(one.dag_id)
        everything = api.get_event_logs(limit=1000)
        ids = [e.event_log_id for e in everything.event_logs]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(everything.total_entries, len(ids))
        newest = api.get_event_logs(order_by="-event_log_id", limit=1)
        self.assertEqual(newest.event_logs[0].event_log_id, max(ids))
        self.assertEqual(newest.total_entries, len(ids))
        none = api.get_event_logs(excluded_events=",".join({e.event for e in everything.event_logs}))
        self.assertEqual(none.event_logs, [])
        after = api.get_event_logs(after=one.when.isoformat(), limit=1000)
        self.assertNotIn(one.event_log_id, [e.event_log_id for e in after.event_logs])
        with self.assertRaises(ApiException) as e:
            api.get_event_log(10**12)
        self.assertEqual(e.exception.status, 404)

    def test_dag_stats_count_runs_by_state(self):
        status, _, text = raw("POST", f"/api/v1/dags/{DAG}/dagRuns", {"dag_run_id": "v1m_run"})
        self.assertEqual(status, 200, text)

        def stats():
            got = dag_stats_api.DagStatsApi(self.api).get_dag_stats(dag_ids=DAG)
            counts = {s.state: s.count for s in got.dags[0].stats}
            return got if counts.get("success", 0) >= 1 else None

        got = wait_for("the run to succeed", stats)
        self.assertEqual(got.total_entries, 1)
        self.assertEqual(got.dags[0].dag_id, DAG)
        self.assertEqual([s.state for s in got.dags[0].stats], ["queued", "running", "success", "failed"])
        unknown = dag_stats_api.DagStatsApi(self.api).get_dag_stats(dag_ids="no_such_dag")
        self.assertEqual((unknown.dags, unknown.total_entries), ([], 0))
        trig = event_log_api.EventLogApi(self.api).get_event_logs(dag_id=DAG, event="trigger")
        self.assertTrue(all(e.dag_id == DAG for e in trig.event_logs))

    def test_import_errors(self):
        bad = os.path.join(DAGS_FOLDER, "misc_broken.toml")
        with open(bad, "w") as f:
            f.write("[tasks.a]\ntype = 'bash'\nbash_command = \n")
        try:
            api = import_error_api.ImportErrorApi(self.api)

            def found():
                errs = api.get_import_errors(limit=1000).import_errors
                return [e for e in errs if e.filename.endswith("misc_broken.toml")]

            err = wait_for("the import error", found)[0]
            self.assertIn("misc_broken.toml", err.stack_trace)
            self.assertIsNotNone(err.timestamp)
            one = api.get_import_error(err.import_error_id)
            self.assertEqual(one.filename, err.filename)
        finally:
            os.remove(bad)

    def test_monitoring(self):
        health = monitoring_api.MonitoringApi(self.api).get_health()
        self.assertEqual(health.metadatabase.status.value, "healthy")
        self.assertEqual(health.scheduler.status.value, "healthy")
        self.assertIsNotNone(health.scheduler.latest_scheduler_heartbeat)
        self.assertIsNone(health.triggerer.status)
        # Airflow 2's health answers without a token; nothing else does.
        status, _, text = raw("GET", "/api/v1/health", token=None)
        self.assertEqual(status, 200, text)
        status, _, _ = raw("GET", "/api/v1/version", token=None)
        self.assertEqual(status, 401)
        status, _, _ = raw("GET", "/api/v1/variables", token=None)
        self.assertEqual(status, 401)
        version = monitoring_api.MonitoringApi(self.api).get_version()
        self.assertRegex(version.version, r"^\d+\.\d+\.\d+")

    def test_config(self):
        api = config_api.ConfigApi(self.api)
        conf = api.get_config()
        sections = {s.name: {o.key: o.value for o in s.options} for s in conf.sections}
        self.assertIn("core", sections)
        self.assertTrue(sections["core"]["dags_folder"].endswith(os.path.basename(DAGS_FOLDER)))
        one = api.get_config(section="core")
        self.assertEqual([s.name for s in one.sections], ["core"])
        value = api.get_value("core", "dags_folder")
        self.assertEqual(value.sections[0].options[0].value, sections["core"]["dags_folder"])
        with self.assertRaises(ApiException) as e:
            api.get_config(section="no_such_section")
        self.assertEqual(e.exception.status, 404)

    def test_plugins_providers_warnings(self):
        plugins = plugin_api.PluginApi(self.api).get_plugins()
        self.assertEqual((plugins.plugins, plugins.total_entries), ([], 0))
        providers = provider_api.ProviderApi(self.api).get_providers()
        # The 2.10 client types this answer as any JSON.
        self.assertEqual(providers, {"providers": [], "total_entries": 0})
        warnings = dag_warning_api.DagWarningApi(self.api).get_dag_warnings(dag_id=DAG)
        self.assertEqual((warnings.dag_warnings, warnings.total_entries), ([], 0))


if __name__ == "__main__":
    unittest.main()
