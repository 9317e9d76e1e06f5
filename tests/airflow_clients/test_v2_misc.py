"""`/api/v2` variables, connections, pools (one by one and in bulk), import errors,
event logs, dagStats, config, health, version, plugins, providers and DAG warnings
through apache-airflow-client 3.x: every answer deserialised by the client, values
checked."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from common import DAGS_FOLDER, raw, v2_client, wait_for  # noqa: E402

from airflow_client.client.api import (  # noqa: E402
    config_api,
    connection_api,
    dag_stats_api,
    dag_warning_api,
    event_log_api,
    import_error_api,
    monitor_api,
    plugin_api,
    pool_api,
    provider_api,
    variable_api,
    version_api,
)
from airflow_client.client.exceptions import ApiException  # noqa: E402
from airflow_client.client.models import (  # noqa: E402
    BulkBodyConnectionBody,
    BulkBodyPoolBody,
    BulkBodyVariableBody,
    ConnectionBody,
    PoolBody,
    PoolPatchBody,
    VariableBody,
)

DAG = "misc_stats"


class V2Misc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = v2_client()

    def events(self, **kw):
        return event_log_api.EventLogApi(self.api).get_event_logs(limit=100, **kw)

    def test_variables(self):
        api = variable_api.VariableApi(self.api)
        made = api.post_variable(VariableBody(key="v2m_plain", value="42", description="answer"))
        self.assertEqual((made.key, made.value, made.description), ("v2m_plain", "42", "answer"))
        self.assertFalse(made.is_encrypted)
        with self.assertRaises(ApiException) as e:
            api.post_variable(VariableBody(key="v2m_plain", value="1"))
        self.assertEqual(e.exception.status, 409)
        api.post_variable(VariableBody(key="v2m_db_password", value="hunter2"))
        self.assertEqual(api.get_variable("v2m_db_password").value, "***")
        api.post_variable(VariableBody(key="v2m_json", value={"user": "u", "api_key": "k"}))
        self.assertEqual(json.loads(api.get_variable("v2m_json").value), {"user": "u", "api_key": "***"})
        listed = api.get_variables(limit=100, variable_key_pattern="v2m_")
        self.assertEqual(
            sorted(v.key for v in listed.variables), ["v2m_db_password", "v2m_json", "v2m_plain"]
        )
        self.assertEqual(listed.total_entries, 3)
        self.assertNotIn("hunter2", json.dumps([v.to_dict() for v in listed.variables]))
        desc = api.get_variables(order_by=["-key"], variable_key_pattern="v2m_")
        self.assertEqual([v.key for v in desc.variables], ["v2m_plain", "v2m_json", "v2m_db_password"])
        patched = api.patch_variable(
            "v2m_plain", VariableBody(key="v2m_plain", value="43"), update_mask=["value"]
        )
        self.assertEqual((patched.value, patched.description), ("43", "answer"))
        api.delete_variable("v2m_plain")
        with self.assertRaises(ApiException) as e:
            api.get_variable("v2m_plain")
        self.assertEqual(e.exception.status, 404)
        self.assertEqual(json.loads(e.exception.body)["detail"], "The Variable with key: `v2m_plain` was not found")
        names = {e.event for e in self.events(event_pattern="variable").event_logs}
        self.assertTrue({"post_variable", "patch_variable", "delete_variable"} <= names, names)
        for e in self.events(event_pattern="variable").event_logs:
            self.assertNotIn("hunter2", e.extra or "")
        # Strict bodies: an unknown field is 422.
        status, _, _ = raw("POST", "/api/v2/variables", {"key": "x", "value": "1", "bogus": 1})
        self.assertEqual(status, 422)

    def test_bulk_variables(self):
        api = variable_api.VariableApi(self.api)
        api.post_variable(VariableBody(key="v2b_a", value="1"))
        body = BulkBodyVariableBody.from_dict(
            {
                "actions": [
                    {"action": "create", "entities": [{"key": "v2b_a", "value": "x"}, {"key": "v2b_b", "value": "2"}]},
                    {
                        "action": "create",
                        "entities": [{"key": "v2b_a", "value": "9"}, {"key": "v2b_c", "value": "3"}],
                        "action_on_existence": "overwrite",
                    },
                    {"action": "update", "entities": [{"key": "v2b_zz", "value": "1"}]},
                    {"action": "delete", "entities": ["v2b_c", "v2b_nope"], "action_on_non_existence": "skip"},
                ]
            }
        )
        got = api.bulk_variables(body)
        self.assertEqual(sorted(got.create.success), ["v2b_a", "v2b_c"])
        self.assertEqual(got.create.errors[0]["status_code"], 409)
        self.assertIn("v2b_a", got.create.errors[0]["error"])
        self.assertEqual(got.update.success, [])
        self.assertEqual(got.update.errors[0]["status_code"], 404)
        self.assertEqual(got.delete.success, ["v2b_c"])
        self.assertEqual(api.get_variable("v2b_a").value, "9")
        with self.assertRaises(ApiException):
            api.get_variable("v2b_b")
        with self.assertRaises(ApiException):
            api.get_variable("v2b_c")
        self.assertIn("bulk_variables", {e.event for e in self.events(event="bulk_variables").event_logs})

    def test_connections(self):
        api = connection_api.ConnectionApi(self.api)
        made = api.post_connection(
            ConnectionBody(
                connection_id="v2m_db",
                conn_type="postgres",
                host="db.example",
                port=5432,
                login="me",
                password="s3cret",
                var_schema="public",
                extra=json.dumps({"sslmode": "require", "api_token": "t0k"}),
            )
        )
        self.assertEqual(made.connection_id, "v2m_db")
        self.assertIsNone(made.password)
        got = api.get_connection("v2m_db")
        self.assertEqual(
            (got.conn_type, got.host, got.port, got.login, got.var_schema),
            ("postgres", "db.example", 5432, "me", "public"),
        )
        self.assertIsNone(got.password)
        self.assertEqual(json.loads(got.extra), {"sslmode": "require", "api_token": "***"})
        _, _, text = raw("GET", "/api/v2/connections?connection_id_pattern=v2m")
        self.assertNotIn("s3cret", text)
        self.assertNotIn("t0k", text)
        listed = api.get_connections(connection_id_pattern="v2m_")
        self.assertEqual([c.connection_id for c in listed.connections], ["v2m_db"])
        patched = api.patch_connection(
            "v2m_db", ConnectionBody(connection_id="v2m_db", conn_type="postgres", port=6543), update_mask=["port"]
        )
        self.assertEqual((patched.port, patched.host), (6543, "db.example"))
        bulk = api.bulk_connections(
            BulkBodyConnectionBody.from_dict(
                {
                    "actions": [
                        {"action": "create", "entities": [{"connection_id": "v2m_http", "conn_type": "http"}]},
                        {"action": "delete", "entities": ["v2m_db"]},
                    ]
                }
            )
        )
        self.assertEqual((bulk.create.success, bulk.delete.success), (["v2m_http"], ["v2m_db"]))
        self.assertEqual(api.get_connection("v2m_http").conn_type, "http")
        with self.assertRaises(ApiException) as e:
            api.test_connection(ConnectionBody(connection_id="v2m_http", conn_type="http"))
        self.assertEqual(e.exception.status, 403)
        # A variable key with a slash, percent-encoded by the client.
        variable_api.VariableApi(self.api).post_variable(VariableBody(key="v2m/slash", value="s"))
        self.assertEqual(variable_api.VariableApi(self.api).get_variable("v2m/slash").value, "s")
        variable_api.VariableApi(self.api).delete_variable("v2m/slash")
        api.delete_connection("v2m_http")
        with self.assertRaises(ApiException) as e:
            api.get_connection("v2m_http")
        self.assertEqual(e.exception.status, 404)
        for e in self.events(event_pattern="connection").event_logs:
            self.assertNotIn("s3cret", e.extra or "")
            self.assertNotIn("t0k", e.extra or "")

    def test_pools(self):
        api = pool_api.PoolApi(self.api)
        made = api.post_pool(PoolBody(name="v2m_pool", slots=3, description="three"))
        self.assertEqual((made.name, made.slots, made.open_slots, made.occupied_slots), ("v2m_pool", 3, 3, 0))
        self.assertEqual(api.get_pool("default_pool").slots, 128)
        listed = api.get_pools(pool_name_pattern="v2m")
        self.assertEqual([p.name for p in listed.pools], ["v2m_pool"])
        patched = api.patch_pool("v2m_pool", PoolPatchBody(slots=5), update_mask=["slots"])
        self.assertEqual((patched.slots, patched.description), (5, "three"))
        with self.assertRaises(ApiException) as e:
            api.patch_pool("default_pool", PoolPatchBody(description="x"), update_mask=["description"])
        self.assertEqual(e.exception.status, 400)
        with self.assertRaises(ApiException) as e:
            api.delete_pool("default_pool")
        self.assertEqual(e.exception.status, 400)
        bulk = api.bulk_pools(
            BulkBodyPoolBody.from_dict(
                {
                    "actions": [
                        {"action": "update", "entities": [{"name": "v2m_pool", "slots": 7}]},
                        {"action": "create", "entities": [{"name": "v2m_pool2", "slots": 1}]},
                        {"action": "delete", "entities": ["v2m_pool2", "v2m_pool"]},
                    ]
                }
            )
        )
        self.assertEqual(bulk.update.success, ["v2m_pool"])
        self.assertEqual(sorted(bulk.delete.success), ["v2m_pool", "v2m_pool2"])
        self.assertEqual(api.get_pools(pool_name_pattern="v2m").total_entries, 0)
        names = {e.event for e in self.events(event_pattern="pool").event_logs}
        self.assertTrue({"post_pool", "patch_pool", "bulk_pools"} <= names, names)

    def test_event_logs(self):
        api = event_log_api.EventLogApi(self.api)
        variable_api.VariableApi(self.api).post_variable(VariableBody(key="v2e_ev", value="1"))
        mine = [e for e in self.events(event="post_variable").event_logs if '"v2e_ev"' in (e.extra or "")]
        self.assertEqual(len(mine), 1)
        one = api.get_event_log(mine[0].event_log_id)
        self.assertEqual((one.event, one.owner, one.when), ("post_variable", "api", mine[0].when))
        everything = api.get_event_logs(limit=100)
        ids = [e.event_log_id for e in everything.event_logs]
        self.assertEqual(ids, sorted(ids))
        newest = api.get_event_logs(order_by=["-event_log_id"], limit=1)
        self.assertEqual(newest.event_logs[0].event_log_id, max(ids))
        only = api.get_event_logs(included_events=["post_variable"], limit=100)
        self.assertTrue(all(e.event == "post_variable" for e in only.event_logs))
        none = api.get_event_logs(excluded_events=sorted({e.event for e in everything.event_logs}))
        self.assertEqual(none.event_logs, [])
        with self.assertRaises(ApiException) as e:
            api.get_event_log(10**12)
        self.assertEqual(e.exception.status, 404)

    def test_dag_stats(self):
        status, _, text = raw("POST", f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None})
        if status not in (200, 201):
            status, _, text = raw("POST", f"/api/v1/dags/{DAG}/dagRuns", {"dag_run_id": "v2m_run"})
        self.assertIn(status, (200, 201), text)
        api = dag_stats_api.DagStatsApi(self.api)

        def stats():
            got = api.get_dag_stats(dag_ids=[DAG])
            if not got.dags:
                return None
            counts = {s.state.value: s.count for s in got.dags[0].stats}
            return got if counts.get("success", 0) >= 1 else None

        got = wait_for("the run to succeed", stats)
        self.assertEqual((got.total_entries, got.dags[0].dag_id), (1, DAG))
        self.assertEqual([s.state.value for s in got.dags[0].stats], ["queued", "running", "success", "failed"])
        self.assertEqual(api.get_dag_stats(dag_ids=["no_such_dag"]).dags, [])

    def test_import_errors(self):
        bad = os.path.join(DAGS_FOLDER, "misc_broken_v2.toml")
        with open(bad, "w") as f:
            f.write("[tasks.a]\ntype = 'bash'\nbash_command = \n")
        try:
            api = import_error_api.ImportErrorApi(self.api)

            def found():
                return api.get_import_errors(filename_pattern="misc_broken_v2").import_errors

            err = wait_for("the import error", found)[0]
            self.assertTrue(err.filename.endswith("misc_broken_v2.toml"))
            self.assertIn("misc_broken_v2.toml", err.stack_trace)
            self.assertEqual(api.get_import_error(err.import_error_id).filename, err.filename)
        finally:
            os.remove(bad)

    def test_monitor_version_and_auth(self):
        health = monitor_api.MonitorApi(self.api).get_health()
        self.assertEqual((health.metadatabase.status, health.scheduler.status), ("healthy", "healthy"))
        self.assertIsNotNone(health.scheduler.latest_scheduler_heartbeat)
        self.assertRegex(version_api.VersionApi(self.api).get_version().version, r"^\d+\.\d+\.\d+")
        for path in ("/api/v2/monitor/health", "/api/v2/version"):
            status, _, text = raw("GET", path, token=None)
            self.assertEqual(status, 200, text)
        status, _, text = raw("GET", "/api/v2/variables", token=None)
        self.assertEqual((status, json.loads(text)), (401, {"detail": "Not authenticated"}))
        status, _, _ = raw("GET", "/api/v2/variables", token="wrong")
        self.assertEqual(status, 403)

    def test_config(self):
        api = config_api.ConfigApi(self.api)
        conf = api.get_config()
        sections = {s.name: {o.key: o.value.actual_instance for o in s.options} for s in conf.sections}
        self.assertEqual(sections["core"]["dags_folder"], DAGS_FOLDER)
        self.assertEqual([s.name for s in api.get_config(section="dags").sections], ["dags"])
        one = api.get_config_value("core", "dags_folder")
        self.assertEqual(one.sections[0].options[0].value.actual_instance, DAGS_FOLDER)
        status, headers, text = raw("GET", "/api/v2/config?section=core", accept="text/plain")
        self.assertEqual(status, 200)
        self.assertTrue(text.startswith("[core]\n"), text)
        with self.assertRaises(ApiException) as e:
            api.get_config(section="nope")
        self.assertEqual(e.exception.status, 404)

    def test_plugins_providers_warnings(self):
        plugins = plugin_api.PluginApi(self.api).get_plugins()
        self.assertEqual((plugins.plugins, plugins.total_entries), ([], 0))
        providers = provider_api.ProviderApi(self.api).get_providers()
        self.assertEqual((providers.providers, providers.total_entries), ([], 0))
        warnings = dag_warning_api.DagWarningApi(self.api).list_dag_warnings(dag_id=DAG)
        self.assertEqual((warnings.dag_warnings, warnings.total_entries), ([], 0))


if __name__ == "__main__":
    unittest.main()
