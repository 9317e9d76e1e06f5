"""Variables, connections and configuration through airflow._lithoflow.host in its three
modes: loading (the loader's lookup; reads recorded with the DAG file's line), running
(lithoflow's worker runtime module) and plain (AIRFLOW_VAR_*/AIRFLOW_CONN_* in the
environment)."""

import importlib.util
import json
import os
import sys

from tests.test_authoring_support import AuthoringCase

from airflow._lithoflow import host

RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "src", "runtime", "lithoflow.py")


class PlainModeTest(AuthoringCase):
    def test_environment_variables_and_connections(self):
        d = self.load("""
import datetime
from airflow import DAG
from airflow.models import Variable
from airflow.hooks.base import BaseHook
from airflow.configuration import conf
bucket = Variable.get("bucket")
cfg = Variable.get("cfg", deserialize_json=True)
missing = Variable.get("missing", default_var="fallback")
db = BaseHook.get_connection("my_db")
js = BaseHook.get_connection("js")
tz = conf.get("core", "default_timezone")
catchup = conf.getboolean("scheduler", "catchup_by_default")
custom = conf.get("custom", "key", fallback="fb")
dag = DAG("d", start_date=datetime.datetime(2024, 1, 1))
""", env={
            "AIRFLOW_VAR_BUCKET": "my-bucket",
            "AIRFLOW_VAR_CFG": '{"a": [1, 2]}',
            "AIRFLOW_CONN_MY_DB": "postgres://user:p%40ss@db.example.com:5432/analytics?sslmode=require",
            "AIRFLOW_CONN_JS": json.dumps({"conn_type": "http", "host": "api.example.com", "port": 443}),
        })
        m = d.module
        self.assertEqual((m.bucket, m.cfg, m.missing), ("my-bucket", {"a": [1, 2]}, "fallback"))
        self.assertEqual((m.db.conn_type, m.db.login, m.db.password, m.db.host, m.db.port, m.db.schema),
                         ("postgres", "user", "p@ss", "db.example.com", 5432, "analytics"))
        self.assertEqual(m.db.extra_dejson, {"sslmode": "require"})
        self.assertEqual(m.db.get_uri(), "postgres://user:p%40ss@db.example.com:5432/analytics?sslmode=require")
        self.assertEqual((m.js.conn_type, m.js.host, m.js.port), ("http", "api.example.com", 443))
        self.assertEqual((m.tz, m.catchup, m.custom), ("utc", True, "fb"))

    def test_missing_variable_and_connection_fail_as_in_airflow(self):
        with self.assertRaisesRegex(KeyError, "Variable nope does not exist"):
            self.load("from airflow.models import Variable\nVariable.get('nope')\n")
        with self.assertRaises(Exception) as ctx:
            self.load("from airflow.hooks.base import BaseHook\nBaseHook.get_connection('nope')\n")
        self.assertEqual(type(ctx.exception).__name__, "AirflowNotFoundException")
        self.assertEqual(str(ctx.exception), "The conn_id `nope` isn't defined")
        with self.assertRaisesRegex(Exception, r"section/key \[core/nope\] not found in config"):
            self.load("from airflow.configuration import conf\nconf.get('core', 'nope')\n")


class LoadingModeTest(AuthoringCase):
    def test_loader_lookup_answers_and_reads_are_recorded(self):
        asked = []

        def lookup(op, key):
            asked.append((op, key))
            if (op, key) == ("variable", "n"):
                return "3"
            if (op, key) == ("connection", "api"):
                return {"conn_id": "api", "conn_type": "http", "host": "h", "login": None, "password": "s",
                        "schema": None, "port": 8080, "extra": '{"a": 1}'}
            return None

        host.set_loader_lookup(lookup)
        self.addCleanup(host.set_loader_lookup, None)
        d = self.load("""import datetime
from airflow import DAG
from airflow.models import Variable
from airflow.hooks.base import BaseHook

n = int(Variable.get("n"))
conn = BaseHook.get_connection("api")
other = Variable.get("other", default_var=None)
dag = DAG("d", start_date=datetime.datetime(2024, 1, 1))
""")
        self.assertEqual(asked, [("variable", "n"), ("connection", "api"), ("variable", "other")])
        self.assertEqual((d.module.n, d.module.conn.host, d.module.conn.port, d.module.conn.extra_dejson),
                         (3, "h", 8080, {"a": 1}))
        self.assertEqual(host.mode(), "loading")
        reads = [(r["what"], r["line"], r["found"]) for r in host.PARSE_TIME_READS]
        self.assertEqual(reads, [
            ("Variable.get('n')", 6, True),
            ("BaseHook.get_connection('api')", 7, True),
            ("Variable.get('other')", 8, False),
        ])


class RunningModeTest(AuthoringCase):
    def test_delegates_to_the_worker_runtime(self):
        spec = importlib.util.spec_from_file_location("lithoflow", RUNTIME)
        runtime = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(runtime)
        previous = sys.modules.get("lithoflow")
        sys.modules["lithoflow"] = runtime
        self.addCleanup(lambda: sys.modules.pop("lithoflow", None) if previous is None
                        else sys.modules.__setitem__("lithoflow", previous))
        requests = []

        def ask(op, body):
            requests.append((op, body))
            if op == "variable_get":
                return True, {"value": "v1"} if body["key"] == "k" else None
            if op == "connection_get":
                return True, {"conn_id": "c", "conn_type": "postgres", "host": "h", "login": "u",
                              "password": "p", "schema": "s", "port": 1, "extra": None}
            return True, None

        runtime._host = ask
        self.assertEqual(host.mode(), "running")
        from airflow.hooks.base import BaseHook
        from airflow.models import Variable

        self.assertEqual(Variable.get("k"), "v1")
        self.assertEqual(Variable.get("absent", default_var="d"), "d")
        conn = BaseHook.get_connection("c")
        self.assertEqual((conn.conn_type, conn.host, conn.login, conn.password, conn.port), ("postgres", "h", "u", "p", 1))
        self.assertEqual([op for op, _ in requests], ["variable_get", "variable_get", "connection_get"])
