"""What the worker-side tests share (test_shims*.py): the real runtime, run in this process
(``run_call``, as a warm worker runs a request), DAG files written to a temporary folder,
and a host answering XCom pulls. Holds no tests itself."""

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
COMPAT = os.path.join(PYTHON_DIR, "compat")
RUNTIME_DIR = os.path.join(os.path.dirname(PYTHON_DIR), "src", "runtime")

# A stand-in of Airflow's classes, with Airflow's attribute names (an airflow dag file).
STANDIN = '''
class DAG:
    def __init__(self, dag_id, on_failure_callback=None, on_success_callback=None):
        self.dag_id = dag_id
        self.task_dict = {}
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback


class BaseOperator:
    template_fields = ()

    def __init__(self, dag=None, task_id=None, **kwargs):
        self.dag = dag
        self.task_id = task_id
        self.retries = 0
        self.do_xcom_push = True
        self.upstream_task_ids = set()
        self.downstream_task_ids = set()
        for k, v in kwargs.items():
            setattr(self, k, v)
        dag.task_dict[task_id] = self


class Task(BaseOperator):
    pass


class PlainXComArg:
    def __init__(self, operator, key="return_value"):
        self.operator = operator
        self.key = key
'''

_RT = None


def runtime():
    """lithoflow_runtime.py, loaded once (with the `lithoflow` module beside it importable)."""
    global _RT
    if _RT is None:
        if RUNTIME_DIR not in sys.path:
            sys.path.append(RUNTIME_DIR)
        spec = importlib.util.spec_from_file_location("lithoflow_runtime", os.path.join(RUNTIME_DIR, "lithoflow_runtime.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _RT = module
    return _RT


def module_name(path, root=None):
    name = os.path.relpath(path, root).replace(os.sep, "/") if root else os.path.basename(path)
    return "lithoflow_dagfile_" + name.encode("utf-8").hex()


def function_name(dag_id, task_id, attr):
    if task_id is None:
        return "d_%s_%s" % (dag_id.encode().hex(), attr)
    return "t_%s_%s_%s" % (dag_id.encode().hex(), task_id.encode().hex(), attr)


def context(dag_id, task_id):
    """The context JSON the scheduler sends with a python task (a scheduled run of 2026-01-02)."""
    return {
        "dag_id": dag_id, "task_id": task_id, "run_id": "scheduled__2026-01-02T00:00:00+00:00",
        "ds": "2026-01-02", "ds_nodash": "20260102", "ts": "2026-01-02T00:00:00+00:00",
        "logical_date": "2026-01-02T00:00:00+00:00",
        "data_interval_start": "2026-01-02T00:00:00+00:00",
        "data_interval_end": "2026-01-03T00:00:00+00:00",
        "dag_run": {"run_type": "scheduled", "run_id": "scheduled__2026-01-02T00:00:00+00:00", "conf": {}},
        "ti": {"try_number": 1, "map_index": -1},
        "task": {"task_id": task_id},
        "params": {"size": 3},
    }


def result(resp):
    if not resp.get("ok"):
        raise AssertionError("the call failed: %s" % json.dumps(resp.get("error"), indent=1))
    return json.loads(resp["result"])


class Host:
    """Answers what a call asks the host (XCom pulls) from `xcoms`: (task_id, key) -> [values]."""

    def __init__(self):
        self.xcoms = {}
        self.pushed = []
        self.extras = []

    def __call__(self, op, body):
        if op == "xcom_pull":
            return True, [self.xcoms.get((q["task_id"], q["key"])) for q in body["queries"]]
        if op == "xcom_push":
            self.pushed.append((body["key"], body["value"]))
            return True, None
        if op == "outlet_event_extra":
            self.extras.append((body["uri"], body["extra"]))
            return True, None
        return False, "the test host does not answer %s" % op


@contextlib.contextmanager
def reload_at_once():
    """The runtime's and lithoflow_dagfiles' once-a-second mtime checks made every call."""
    import lithoflow_dagfiles

    rt = runtime()
    saved = rt.RELOAD_CHECK_S, lithoflow_dagfiles.HELPER_CHECK_S
    rt.RELOAD_CHECK_S = lithoflow_dagfiles.HELPER_CHECK_S = 0.0
    try:
        yield
    finally:
        rt.RELOAD_CHECK_S, lithoflow_dagfiles.HELPER_CHECK_S = saved


def worker_script(setup, path, dag_id, task_id, attr):
    """A Python program that runs `setup`, then one call of the runtime, and prints its
    result as JSON: a call in a process of its own."""
    req = {
        "type": "call", "call_id": "00000", "module": module_name(path),
        "function": function_name(dag_id, task_id, attr), "args": [], "kwargs": {},
        "sys_path": [COMPAT, os.path.dirname(path)], "airflow_context": context(dag_id, task_id),
    }
    return "\n".join([
        setup,
        "import importlib.util, json, sys",
        "sys.path.append(%r)" % RUNTIME_DIR,
        "spec = importlib.util.spec_from_file_location('lithoflow_runtime', %r)"
        % os.path.join(RUNTIME_DIR, "lithoflow_runtime.py"),
        "rt = importlib.util.module_from_spec(spec)",
        "spec.loader.exec_module(rt)",
        "resp = rt.run_call(%r)" % (req,),
        "print(json.dumps(resp.get('result') and json.loads(resp['result']) if resp['ok'] else resp))",
    ])


def run_python(script):
    """Runs `script` with this interpreter; its last line of output, decoded from JSON."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError("the program failed (%d): %s" % (done.returncode, done.stderr))
    return json.loads(done.stdout.strip().splitlines()[-1])


_DEFAULT = object()


class ShimCase(unittest.TestCase):
    """A temporary DAGs folder per test; `call` runs a request through the runtime."""

    def setUp(self):
        self.rt = runtime()
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="lithoflow-shims-"))
        self.id_suffix = uuid.uuid4().hex[:10]
        self.host = Host()
        self.lf = self.rt._lithoflow_module()
        self.lf._host = self.host
        self.names = []

    def tearDown(self):
        self.lf._host = None
        for name in self.names:
            sys.modules.pop(name, None)
            self.rt._modules.pop(name, None)
            self.rt._checked.pop(name, None)
        for p in list(sys.path):
            if isinstance(p, str) and p.startswith(self.tmp):
                sys.path.remove(p)
        self.rt._last_sys_path = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def dag_file(self, text, name=None):
        """Writes a DAG file (a unique name unless `name` is given) and returns its path."""
        name = name or "shimdag_%s_%s.py" % (self._testMethodName[-20:], self.id_suffix)
        path = os.path.join(self.tmp, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def rewrite(self, path, text):
        """Rewrites a file with an mtime one second later than before."""
        st = os.stat(path)
        with open(path, "w") as f:
            f.write(text)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    def call(self, path, dag_id, task_id, attr, args=(), kwargs=None, context=_DEFAULT,
             positional=False, env=None, relative=False):
        root = self.tmp if relative else os.path.dirname(path)
        module = module_name(path, self.tmp if relative else None)
        self.names.append(module)
        if context is _DEFAULT:
            context = globals()["context"](dag_id, task_id or "t")
        req = {
            "type": "call", "call_id": "00000", "call_index": 0,
            "module": module, "function": function_name(dag_id, task_id, attr),
            "args": list(args), "kwargs": dict(kwargs or {}),
            "extra_env": dict(env or {}), "sys_path": [COMPAT, root],
            "airflow_context": context, "context_positional": positional,
        }
        return self.rt.run_call(req)

    def assertOk(self, resp, expected):
        self.assertEqual(result(resp), expected)

    def assertError(self, resp, type_name, fragment):
        self.assertFalse(resp.get("ok"), "the call succeeded: %r" % (resp.get("result"),))
        err = resp["error"]
        self.assertEqual(err["type"], type_name, json.dumps(err, indent=1))
        self.assertIn(fragment, err["message"])
