"""Drives the real loader process (compat/lithoflow_loader.py) over its stdin/stdout protocol,
as the scheduler does, for test_loader*.py and test_describe*.py."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.join(os.path.dirname(HERE), "compat")
LOADER = os.path.join(COMPAT, "lithoflow_loader.py")


class Loader:
    """One loader process with a cleared environment, cwd = the DAGs folder."""

    def __init__(self, dags_folder, env=None):
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR")}
        base.update(env or {})
        self.folder = dags_folder
        # The loader's (and the DAG files') stderr, kept out of the test run's output.
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-u", LOADER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, cwd=dags_folder, env=base)
        self.next_id = 0
        self.pending = []
        ready = self.read()
        assert ready == {"op": "ready", "version": 1}, ready

    def send(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError("the loader closed its stdout (exit %s)" % self.proc.poll())
        return json.loads(line)

    def request(self, path, **kw):
        self.next_id += 1
        req = {"id": self.next_id, "op": "load", "path": os.path.join(self.folder, path),
               "dags_folder": self.folder, "default_version": 2, "timeout_s": 30, "memory_mb": 1024}
        req.update(kw)
        self.send(req)
        return self.next_id

    def result(self, rid, answers=None, lookups=None):
        """Reads until the result of request ``rid``; answers lookups from ``answers``
        ({(what, key): value}), recording them in ``lookups``."""
        while True:
            for i, msg in enumerate(self.pending):
                if msg.get("id") == rid:
                    return self.pending.pop(i)
            msg = self.read()
            if msg.get("op") == "lookup":
                if lookups is not None:
                    lookups.append(msg)
                key = (msg["what"], msg["key"])
                if answers is not None and key in answers:
                    self.send({"id": msg["id"], "op": "answer", "found": True, "value": answers[key]})
                else:
                    self.send({"id": msg["id"], "op": "answer", "found": False})
                continue
            if msg.get("op") == "result" and msg.get("id") == rid:
                return msg
            self.pending.append(msg)

    def load(self, path, answers=None, lookups=None, **kw):
        return self.result(self.request(path, **kw), answers, lookups)

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send({"op": "shutdown"})
            except OSError:
                pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.stderr.close()


class LoaderCase(unittest.TestCase):
    """A temporary DAGs folder and one loader process on it."""

    loader_env = None

    def setUp(self):
        self.folder = os.path.realpath(tempfile.mkdtemp(prefix="lithoflow-loader-test-"))
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.loader = Loader(self.folder, self.loader_env)
        self.addCleanup(self.loader.close)

    def write(self, name, text):
        path = os.path.join(self.folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
        return path

    def assertAlive(self):
        """The loader still answers: a good file loads after whatever came before."""
        self.write("alive_check.py", "# airflow dag\nX = 1\n")
        res = self.loader.load("alive_check.py")
        self.assertTrue(res["ok"], res)
        self.assertIsNone(self.loader.proc.poll())


# --- the description's `toml` as TOML text (what the scheduler does before parse_dag) ------------


def _toml_key(k):
    import re

    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else json.dumps(k)


def _toml_inline(v):
    if isinstance(v, dict) and set(v) == {"$datetime"}:
        return v["$datetime"]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_inline(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (_toml_key(k), _toml_inline(x)) for k, x in v.items()) + " }"
    raise TypeError("no TOML for %r" % (v,))


def toml_text(doc):
    """A description's ``toml`` object as a TOML file."""
    lines = []
    for k, v in doc.items():
        if k != "tasks":
            lines.append("%s = %s" % (_toml_key(k), _toml_inline(v)))
    for tid, table in (doc.get("tasks") or {}).items():
        lines.append("")
        lines.append("[tasks.%s]" % _toml_key(tid))
        for k, v in table.items():
            lines.append("%s = %s" % (_toml_key(k), _toml_inline(v)))
    return "\n".join(lines) + "\n"


def lithoflow_binary():
    """The lithoflow binary to check TOML with: $LITHOFLOW_BIN, else the repository's debug build."""
    candidates = [os.environ.get("LITHOFLOW_BIN"),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "target", "debug", "lithoflow")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def validate_toml(doc, folder):
    """Runs ``lithoflow dags validate`` on the description's TOML; (exit code, output)."""
    binary = lithoflow_binary()
    path = os.path.join(folder, "%s.toml" % doc["dag_id"])
    with open(path, "w") as f:
        f.write(toml_text(doc))
    p = subprocess.run([binary, "--dags-folder", folder, "dags", "validate", path], capture_output=True, text=True,
                       env=dict(os.environ, LITHOFLOW_HOME=folder), timeout=120)
    return p.returncode, p.stdout + p.stderr


class DescribeCase(LoaderCase):
    """Loads DAG files through the real loader and returns their descriptions."""

    def describe(self, text, name="dag_file.py", version=2, **kw):
        self.write(name, text)
        res = self.loader.load(name, default_version=version, **kw)
        self.assertTrue(res["ok"], res.get("error", res))
        return res["dags"]

    def one(self, text, **kw):
        dags = self.describe(text, **kw)
        self.assertEqual(len(dags), 1, [d["dag_id"] for d in dags])
        return dags[0]

    def ref(self, dag_id, task_id, attr, name="dag_file.py"):
        mod = "lithoflow_dagfile_" + name.encode().hex()
        if task_id is None:
            return "%s:d_%s_%s" % (mod, dag_id.encode().hex(), attr)
        return "%s:t_%s_%s_%s" % (mod, dag_id.encode().hex(), task_id.encode().hex(), attr)
