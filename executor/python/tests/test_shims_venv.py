"""PythonVirtualenvOperator / ExternalPythonOperator / @task.virtualenv on the worker
(shims.py's ``virtualenv``, compat/lithoflow_venv.py): a cached virtual environment per
requirement set (made with ``python -m venv``; ``--without-pip`` when nothing is to be
installed, which keeps these tests fast), the function's source run there, arguments and
value as JSON."""

import contextlib
import io
import os
import sys
import threading
import unittest

from tests import test_shims_support as kit

DECORATORS = kit.STANDIN + """
import sys

class _TaskDecorators:
    def _make(self, **kwargs):
        def decorate(fn):
            Task(dag, fn.__name__, python_callable=fn, **kwargs)
            return fn
        return decorate
    virtualenv = _make
    external_python = _make

task = _TaskDecorators()

dag = DAG("venvs")
"""


class VirtualenvTest(kit.ShimCase):
    def setUp(self):
        super().setUp()
        self.cache = os.path.join(self.tmp, "venv-cache")

    def venv_dag(self, body):
        return self.dag_file((DECORATORS + body).replace("CACHE", repr(self.cache)))

    def venvs(self):
        return sorted(n for n in os.listdir(self.cache) if not n.endswith(".lock"))

    def test_decorated_function_runs_in_a_cached_venv(self):
        path = self.venv_dag('''
@task.virtualenv(
    requirements=[],
    system_site_packages=False,
    venv_cache_path=CACHE,
)
def compute(x, ds, logical_date, params, y=1):
    import sys
    return {"x": x * 2 + y, "ds": ds, "year": logical_date.year, "type": type(logical_date).__name__,
            "size": params["size"], "prefix": sys.prefix}
''')
        out = kit.result(self.call(path, "venvs", "compute", "virtualenv", args=[20], kwargs={"y": 2}))
        self.assertEqual(
            {k: v for k, v in out.items() if k != "prefix"},
            {"x": 42, "ds": "2026-01-02", "year": 2026, "type": "datetime", "size": 3},
        )
        self.assertTrue(out["prefix"].startswith(self.cache), out["prefix"])
        self.assertEqual(len(self.venvs()), 1)
        # The same requirement set reuses the environment.
        again = kit.result(self.call(path, "venvs", "compute", "virtualenv", args=[1]))
        self.assertEqual(again["prefix"], out["prefix"])
        self.assertEqual(len(self.venvs()), 1)

    def test_classic_operator_with_string_args_and_the_compat_package(self):
        path = self.venv_dag('''
def classic(a, b):
    import airflow.exceptions
    return [a, b, virtualenv_string_args, airflow.exceptions.__file__]

Task(dag, "classic", python_callable=classic, requirements=[], system_site_packages=True,
     venv_cache_path=CACHE, string_args=["one", "two"], op_kwargs={"b": "B"})
''')
        out = kit.result(self.call(path, "venvs", "classic", "virtualenv", args=["A"], kwargs={"b": "B"}))
        self.assertEqual(out[:3], ["A", "B", ["one", "two"]])
        self.assertTrue(out[3].startswith(kit.COMPAT), out[3])

    def test_failures_skips_and_values_json_cannot_hold(self):
        path = self.venv_dag('''
def boom():
    raise ValueError("bad input")

def leave():
    import sys
    sys.exit(3)

def odd():
    return {1, 2}

def wants_ti(ti):
    return 1

for fn in (boom, leave, odd, wants_ti):
    Task(dag, fn.__name__, python_callable=fn, requirements=[], system_site_packages=False,
         venv_cache_path=CACHE, skip_on_exit_code=3)
''')
        self.assertError(self.call(path, "venvs", "boom", "virtualenv"), "AirflowException",
                         "Process returned non-zero exit status 1.\nbad input")
        self.assertError(self.call(path, "venvs", "leave", "virtualenv"), "AirflowSkipException",
                         "Process exited with code 3. Skipping.")
        self.assertError(self.call(path, "venvs", "odd", "virtualenv"), "AirflowException",
                         "JSON cannot hold")
        self.assertError(self.call(path, "venvs", "wants_ti", "virtualenv"), "AirflowException",
                         "context value 'ti'")

    def test_external_python_runs_the_given_interpreter(self):
        path = self.venv_dag('''
@task.external_python(python=PYTHON)
def where(n):
    import sys
    return [n, sys.executable]
'''.replace("PYTHON", repr(sys.executable)))
        self.assertOk(self.call(path, "venvs", "where", "virtualenv", args=[5]), [5, sys.executable])
        self.assertFalse(os.path.exists(self.cache))

    def test_two_workers_build_one_venv(self):
        path = self.venv_dag('''
def f():
    return 1
Task(dag, "f", python_callable=f, requirements=[], system_site_packages=False, venv_cache_path=CACHE)
''')
        self.call(path, "venvs", "f", "virtualenv")  # imports the DAG file
        import lithoflow_venv

        module = sys.modules[kit.module_name(path)]
        task = module._lithoflow_dags["venvs"].task_dict["f"]
        import shutil
        shutil.rmtree(self.cache)
        found = []
        threads = [threading.Thread(target=lambda: found.append(lithoflow_venv.ensure_venv(task))) for _ in range(3)]
        with contextlib.redirect_stdout(io.StringIO()) as out:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(out.getvalue().count("Creating a virtual environment"), 1)
        self.assertEqual(len(set(found)), 1)
        self.assertEqual(len(self.venvs()), 1)
        self.assertTrue(os.path.isfile(os.path.join(found[0], "install_complete_marker.json")))


class SourceTest(unittest.TestCase):
    def test_task_decorators_are_stripped_and_others_kept(self):
        sys.path.insert(0, kit.COMPAT) if kit.COMPAT not in sys.path else None
        import lithoflow_venv

        source = (
            "@task.virtualenv(\n"
            "    requirements=['x==1'],\n"
            ")\n"
            "@functools.lru_cache\n"
            "@setup\n"
            "def f(a):\n"
            "    return a\n"
        )
        self.assertEqual(lithoflow_venv.strip_task_decorators(source), "@functools.lru_cache\ndef f(a):\n    return a\n")


if __name__ == "__main__":
    unittest.main()
