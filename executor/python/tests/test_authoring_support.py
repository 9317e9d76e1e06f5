"""Helpers for the authoring API's tests (compat/airflow): import a DAG file's text as the
loader does (in this process, with lithoflow's ``airflow`` first on ``sys.path``) and
collect its DAGs with Airflow 2.10's DagBag rule."""

import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

COMPAT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compat")
if sys.path[0] != COMPAT:
    sys.path.insert(0, COMPAT)

import airflow  # noqa: E402  -- lithoflow's, from COMPAT
from airflow._lithoflow import host  # noqa: E402
from airflow.models.dag import DAG, DagContext  # noqa: E402

assert os.path.dirname(os.path.dirname(airflow.__file__)) == COMPAT, airflow.__file__


class Loaded:
    """What a DAG file defined: ``dags`` by id, the module, the file's path."""

    def __init__(self, module, dags, path):
        self.module = module
        self.dags = dags
        self.path = path

    def __getitem__(self, dag_id):
        return self.dags[dag_id]

    def only(self):
        assert len(self.dags) == 1, sorted(self.dags)
        return next(iter(self.dags.values()))


class AuthoringCase(unittest.TestCase):
    """A test that imports DAG files' text (``self.load(text)``)."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="lithoflow-authoring-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self._count = 0

    def write(self, name, text):
        path = os.path.join(self.folder, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def load(self, text, version=2, name=None, env=None):
        """Imports ``text`` as a DAG file of the DAGs folder and returns ``Loaded``."""
        self._count += 1
        name = name or f"dag_file_{self._count}.py"
        path = self.write(name, text)
        mod_name = f"unusual_prefix_test_{id(self)}_{self._count}_{name[:-3]}"
        saved_env = {}
        for k, v in (env or {}).items():
            saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        host.set_loading(path, self.folder, airflow_version=version)
        host.PARSE_TIME_READS.clear()
        DagContext.current_autoregister_module_name = mod_name
        DagContext.autoregistered_dags.clear()
        sys.path.insert(1, self.folder)
        try:
            loader = importlib.machinery.SourceFileLoader(mod_name, path)
            spec = importlib.util.spec_from_loader(mod_name, loader)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            loader.exec_module(module)
            found = {}
            for o in list(module.__dict__.values()):
                if isinstance(o, DAG):
                    found[o.dag_id] = o
            for dag, _mod in list(DagContext.autoregistered_dags):
                found.setdefault(dag.dag_id, dag)
            return Loaded(module, found, path)
        finally:
            sys.path.remove(self.folder)
            DagContext.current_autoregister_module_name = None
            DagContext.autoregistered_dags.clear()
            host.set_loading(None, None, airflow_version=2)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def edges(self, dag):
        """Every (upstream, downstream) task-id pair of the DAG, sorted."""
        return sorted((up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids)

    def assertEdges(self, dag, expected):
        self.assertEqual(self.edges(dag), sorted(expected))
        # Airflow keeps both directions in step.
        down = sorted((t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids)
        self.assertEqual(down, sorted(expected))
