"""The worker side of `.py` DAG files (compat/lithoflow_dagfiles.py and
compat/airflow/_lithoflow/shims.py), driven through the real runtime
(executor/src/runtime/lithoflow_runtime.py's ``run_call``), as a worker runs a task.

The DAG files here are written by each test with a small stand-in of Airflow's classes
(``test_shims_support.STANDIN``), so they test the worker side alone; test_shims_airflow.py
runs DAG files written against lithoflow's ``airflow`` package."""

import datetime
import os
import sys
import unittest

from tests import test_shims_support as kit


class CallablesTest(kit.ShimCase):
    def test_lambda_gets_its_args_and_context_names(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("lam")
Task(dag, "t", python_callable=lambda x, ds: "%s:%s" % (x, ds))
""")
        resp = self.call(path, "lam", "t", "python_callable", args=[7])
        self.assertOk(resp, "7:2026-01-02")

    def test_closures_made_in_a_factory_loop_keep_their_own_values(self):
        path = self.dag_file(kit.STANDIN + """
def make(dag_id, factor):
    dag = DAG(dag_id)
    for i in range(3):
        def fn(x, i=i):
            return x * factor + i
        Task(dag, "t%d" % i, python_callable=fn)
    return dag

for n in (1, 2):
    globals()["dag_%d" % n] = make("factory_%d" % n, n * 10)
""")
        self.assertOk(self.call(path, "factory_2", "t1", "python_callable", args=[3]), 61)
        self.assertOk(self.call(path, "factory_1", "t2", "python_callable", args=[3]), 32)

    def test_partials_bound_methods_and_callable_objects(self):
        path = self.dag_file(kit.STANDIN + """
import functools
class Job:
    def __init__(self, base):
        self.base = base
    def run(self, x, ds):
        return [self.base + x, ds]
    def __call__(self, x, run_id):
        return [self.base * x, run_id]
def scaled(factor, x, ti):
    return factor * x + ti.try_number
dag = DAG("shapes")
Task(dag, "method", python_callable=Job(10).run)
Task(dag, "object", python_callable=Job(3))
Task(dag, "partial", python_callable=functools.partial(scaled, 100))
""")
        self.assertOk(self.call(path, "shapes", "method", "python_callable", args=[1]), [11, "2026-01-02"])
        self.assertOk(self.call(path, "shapes", "object", "python_callable", args=[2]),
                      [6, "scheduled__2026-01-02T00:00:00+00:00"])
        self.assertOk(self.call(path, "shapes", "partial", "python_callable", args=[2]), 201)

    def test_the_context_has_the_live_dag_and_task(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("live")

def fn(dag, task, ti, **kwargs):
    from lithoflow import get_current_context
    ctx = get_current_context()
    return [dag.dag_id, sorted(dag.task_dict), task.task_id, task.retries,
            ti.task is task, ctx["task"] is task, kwargs["dag"] is dag if "dag" in kwargs else None,
            "templates_dict" in kwargs]

Task(dag, "a", python_callable=fn, retries=3)
Task(dag, "b", python_callable=fn)
""")
        self.assertOk(
            self.call(path, "live", "a", "python_callable"),
            ["live", ["a", "b"], "a", 3, True, True, None, True],
        )

    def test_a_function_taking_kwargs_gets_the_live_objects_there(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("kw")
Task(dag, "t", python_callable=lambda **kw: [kw["dag"].dag_id, kw["task"].task_id, kw["ds"], kw["x"]])
""")
        self.assertOk(self.call(path, "kw", "t", "python_callable", kwargs={"x": 1}), ["kw", "t", "2026-01-02", 1])

    def test_exceptions_keep_their_class_names(self):
        path = self.dag_file(kit.STANDIN + """
from airflow.exceptions import AirflowSkipException, AirflowFailException
dag = DAG("exc")
def skip():
    raise AirflowSkipException("not today")
def fail():
    raise AirflowFailException("never")
Task(dag, "skip", python_callable=skip)
Task(dag, "fail", python_callable=fail)
""")
        self.assertError(self.call(path, "exc", "skip", "python_callable"), "AirflowSkipException", "not today")
        resp = self.call(path, "exc", "fail", "python_callable")
        self.assertError(resp, "AirflowFailException", "never")
        # The traceback starts in the DAG file: the worker's plumbing is left out.
        tb = resp["error"]["traceback"].splitlines()
        self.assertEqual(tb[0], "Traceback (most recent call last):")
        self.assertIn('%s", line ' % os.path.basename(path), tb[1])
        self.assertNotIn("shims.py", resp["error"]["traceback"])

    def test_call_uses_the_live_op_args_and_pulls_xcom_args(self):
        path = self.dag_file(kit.STANDIN + """
import datetime
dag = DAG("calls")
up = Task(dag, "up")
def fn(when, values, data, ds, templates_dict):
    return [when.year, sorted(values), data, ds, templates_dict]
Task(dag, "t", python_callable=fn, op_args=[datetime.date(2020, 5, 1)],
     op_kwargs={"values": {3, 1}, "data": PlainXComArg(up, "return_value")})
""")
        self.host.xcoms[("up", "return_value")] = [42]
        self.assertOk(self.call(path, "calls", "t", "call"), [2020, [1, 3], 42, "2026-01-02", None])

    def test_call_takes_the_rendered_json_entries_over_the_live_ones(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("mixed")
def fn(day, values, ds):
    return [day, sorted(values), ds]
Task(dag, "t", python_callable=fn, op_kwargs={"day": "{{ ds }}", "values": {2, 1}})
""")
        self.assertOk(self.call(path, "mixed", "t", "call", kwargs={"day": "2026-01-02"}),
                      ["2026-01-02", [1, 2], "2026-01-02"])

    def test_raw_callables(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("raw")
def double(x):
    return 2 * x
Task(dag, "m", map_function=double)
""")
        self.assertOk(self.call(path, "raw", "m", "map_function", args=[21], context=None), 42)

    def test_execution_date_fn_gets_a_datetime_and_returns_text(self):
        path = self.dag_file(kit.STANDIN + """
import datetime
dag = DAG("ext")
Task(dag, "one", execution_date_fn=lambda dt: dt - datetime.timedelta(hours=1))
def several(dt, ds, context):
    return [dt.replace(hour=h) for h in (1, 2)] + [context["ds"] == ds]
Task(dag, "many", execution_date_fn=several)
""")
        self.assertOk(self.call(path, "ext", "one", "execution_date_fn", args=["2026-01-02T00:00:00+00:00"]),
                      "2026-01-01T23:00:00+00:00")
        self.assertOk(self.call(path, "ext", "many", "execution_date_fn", args=["2026-01-02T00:00:00+00:00"]),
                      ["2026-01-02T01:00:00+00:00", "2026-01-02T02:00:00+00:00", True])

    def test_an_unknown_dag_or_task_fails_saying_why(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("known")
Task(dag, "t", python_callable=lambda: 1)
""")
        self.assertError(self.call(path, "nope", "t", "python_callable"), "AirflowException",
                         "DAG 'nope' could not be found")
        self.assertError(self.call(path, "known", "zz", "python_callable"), "AirflowException",
                         "Task zz not found")
        self.assertError(self.call(path, "known", "t", "no_such_attr"), "AirflowException", "no_such_attr")

    def test_unsupported_operator_names_its_class_and_module(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("unsup")
class BigQueryInsertJobOperator(Task):
    pass
BigQueryInsertJobOperator.__module__ = "airflow.providers.google.cloud.operators.bigquery"
BigQueryInsertJobOperator(dag, "bq")
""")
        self.assertError(
            self.call(path, "unsup", "bq", "unsupported"), "AirflowException",
            "BigQueryInsertJobOperator (from airflow.providers.google.cloud.operators.bigquery) is a "
            "provider operator lithoflow does not implement; this DAG needs it: keep the DAG on "
            "Airflow or replace the task",
        )

    def test_an_airflow_imported_from_elsewhere_gives_way_to_ours(self):
        # In a worker of its own (a fresh process): a module named `airflow` from another
        # folder was imported first (a real Airflow a TOML task's module used).
        elsewhere = os.path.join(self.tmp, "site", "airflow")
        os.makedirs(elsewhere)
        with open(os.path.join(elsewhere, "__init__.py"), "w") as f:
            f.write("REAL = True\n")
        path = self.dag_file('''
import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator
import airflow
with DAG("ours", start_date=datetime.datetime(2026, 1, 1)):
    PythonOperator(task_id="t", python_callable=lambda: [airflow.__file__, hasattr(airflow, "REAL")])
''')
        script = kit.worker_script(
            "import sys; sys.path.insert(0, %r); import airflow; assert airflow.REAL" % os.path.dirname(elsewhere),
            path, "ours", "t", "python_callable",
        )
        out = kit.run_python(script)
        self.assertTrue(out[0].startswith(kit.COMPAT), out)
        self.assertFalse(out[1])

    def test_a_file_in_a_subfolder_is_named_by_its_relative_path(self):
        a = self.dag_file(kit.STANDIN + 'dag = DAG("same_a")\nTask(dag, "t", python_callable=lambda: "a")\n',
                          name="team_a/etl_same.py")
        b = self.dag_file(kit.STANDIN + 'dag = DAG("same_b")\nTask(dag, "t", python_callable=lambda: "b")\n',
                          name="team_b/etl_same.py")
        self.assertOk(self.call(a, "same_a", "t", "python_callable", relative=True), "a")
        self.assertOk(self.call(b, "same_b", "t", "python_callable", relative=True), "b")


class OperatorsTest(kit.ShimCase):
    CUSTOM = kit.STANDIN + """
import os
class MyOperator(BaseOperator):
    template_fields = ("sql", "target")
    def __init__(self, sql, target, **kw):
        super().__init__(**kw)
        self.sql = sql
        self.target = target
        self.rows = object()  # not JSON: stays as it is
    def pre_execute(self, context):
        self.seen = ["pre"]
    def execute(self, context):
        self.seen.append("execute")
        self.render_template_fields(context)
        return [self.sql, self.target, context["ds"], context["task"] is self, context["dag"].dag_id,
                context["ti"].task is self, self.seen, self.rows is not None]
    def post_execute(self, context, result=None):
        with open(os.environ["POST_FILE"], "w") as f:
            f.write(repr(result[0]))

dag = DAG("custom")
MyOperator(dag=dag, task_id="op", sql="select {{ ds }}", target="t1")
MyOperator(dag=dag, task_id="quiet", sql="x", target="y", do_xcom_push=False)
"""

    def test_custom_operator_runs_with_rendered_fields(self):
        path = self.dag_file(self.CUSTOM)
        post = os.path.join(self.tmp, "post.txt")
        resp = self.call(path, "custom", "op", "execute", args=[{"sql": "select 2026-01-02", "target": "t1"}],
                         env={"POST_FILE": post})
        self.assertOk(resp, ["select 2026-01-02", "t1", "2026-01-02", True, "custom", True, ["pre", "execute"], True])
        with open(post) as f:
            self.assertEqual(f.read(), "'select 2026-01-02'")
        # The live operator keeps its own values: a try sets them on a copy.
        resp = self.call(path, "custom", "op", "execute", args=[{"sql": "select 2026-01-03", "target": "t2"}],
                         env={"POST_FILE": post})
        self.assertEqual(kit.result(resp)[:2], ["select 2026-01-03", "t2"])
        dagfile = sys.modules[kit.module_name(path)]._lithoflow_dagfile
        self.assertEqual(dagfile.dags["custom"].task_dict["op"].sql, "select {{ ds }}")

    def test_xcom_args_inside_rendered_fields_keep_their_values(self):
        path = self.dag_file(kit.STANDIN + """
class Load(BaseOperator):
    template_fields = ("spec",)
    def execute(self, context):
        return self.spec
dag = DAG("native")
up = Task(dag, "up")
Load(dag, "load", spec={"rows": PlainXComArg(up), "day": "{{ ds }}", "keys": [PlainXComArg(up, "k"), "x"]})
""")
        self.host.xcoms[("up", "return_value")] = [[1, 2]]
        self.host.xcoms[("up", "k")] = [{"a": 1}]
        rendered = {"rows": "[1, 2]", "day": "2026-01-02", "keys": ["{'a': 1}", "x"]}
        self.assertOk(self.call(path, "native", "load", "execute", args=[{"spec": rendered}]),
                      {"rows": [1, 2], "day": "2026-01-02", "keys": [{"a": 1}, "x"]})

    def test_do_xcom_push_false_returns_none(self):
        path = self.dag_file(self.CUSTOM)
        resp = self.call(path, "custom", "quiet", "execute", args=[{"sql": "x", "target": "y"}],
                         env={"POST_FILE": os.path.join(self.tmp, "p")})
        self.assertOk(resp, None)

    def test_custom_sensor_pokes(self):
        path = self.dag_file(kit.STANDIN + """
import os
class PokeReturnValue:
    def __init__(self, is_done, xcom_value=None):
        self.is_done = is_done
        self.xcom_value = xcom_value

class FileCountSensor(BaseOperator):
    template_fields = ("folder",)
    def __init__(self, folder, want, **kw):
        super().__init__(**kw)
        self.folder = folder
        self.want = want
    def poke(self, context):
        n = len(os.listdir(self.folder))
        if self.want == "value":
            return PokeReturnValue(n >= 1, xcom_value=n)
        return n >= self.want

dag = DAG("sensing")
FileCountSensor(dag=dag, task_id="s", folder="{{ var.value.folder }}", want=2)
FileCountSensor(dag=dag, task_id="v", folder="{{ var.value.folder }}", want="value")
""")
        folder = os.path.join(self.tmp, "watched")
        os.makedirs(folder)
        self.assertOk(self.call(path, "sensing", "s", "poke", args=[{"folder": folder}]), False)
        for name in ("a", "b"):
            open(os.path.join(folder, name), "w").close()
        self.assertOk(self.call(path, "sensing", "s", "poke", args=[{"folder": folder}]), True)
        self.assertOk(
            self.call(path, "sensing", "v", "poke", args=[{"folder": folder}]),
            {"__lithoflow_poke_return_value__": True, "is_done": True, "xcom_value": 2},
        )

    def test_branch_operator_subclass_returns_its_branches(self):
        path = self.dag_file(kit.STANDIN + """
class BaseBranchOperator(BaseOperator):
    def execute(self, context):
        raise RuntimeError("the shim calls choose_branch")
BaseBranchOperator.__module__ = "airflow.operators.branch"

class Weekday(BaseBranchOperator):
    def choose_branch(self, context):
        return ["monday"] if context["ds"] == "2026-01-02" else ["other"]

dag = DAG("br")
Weekday(dag, "pick")
""")
        self.assertOk(self.call(path, "br", "pick", "execute", args=[{}]), ["monday"])

    def test_a_deferring_operator_fails_saying_why(self):
        path = self.dag_file(kit.STANDIN + """
class TaskDeferred(BaseException):
    pass
class Waits(BaseOperator):
    def execute(self, context):
        raise TaskDeferred()
dag = DAG("defers")
Waits(dag, "w")
""")
        self.assertError(self.call(path, "defers", "w", "execute", args=[{}]), "AirflowException",
                         "Waits deferred itself")

    def test_op_kwargs_are_in_the_current_context(self):
        path = self.dag_file(kit.STANDIN + """
def fn(x):
    from lithoflow import get_current_context
    return get_current_context()["x"]
dag = DAG("merge")
Task(dag, "t", python_callable=fn, op_kwargs={"x": "{{ ds }}"})
""")
        self.assertOk(self.call(path, "merge", "t", "python_callable", kwargs={"x": "2026-01-02"}), "2026-01-02")

    def test_taskflow_bash(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("bashes")
Task(dag, "echo", python_callable=lambda word: "echo first; echo %s-$AIRFLOW_CTX_TASK_ID-$EXTRA" % word,
     env={"EXTRA": "x"})
Task(dag, "skip", python_callable=lambda: "exit 99")
Task(dag, "fail", python_callable=lambda: "echo oops; exit 3")
Task(dag, "empty", python_callable=lambda: "  ")
Task(dag, "cwd", python_callable=lambda: "pwd", cwd=CWD)
""".replace("CWD", repr(self.tmp)))
        resp = self.call(path, "bashes", "echo", "taskflow_bash", args=["hi"])
        self.assertOk(resp, "hi-echo-x")
        self.assertIn("first\n", resp["stdout"])
        self.assertError(self.call(path, "bashes", "skip", "taskflow_bash"), "AirflowSkipException",
                         "Bash command returned exit code 99. Skipping.")
        self.assertError(self.call(path, "bashes", "fail", "taskflow_bash"), "AirflowException",
                         "Bash command failed. The command returned a non-zero exit code 3.")
        self.assertError(self.call(path, "bashes", "empty", "taskflow_bash"), "TypeError",
                         "must be a non-empty string")
        self.assertOk(self.call(path, "bashes", "cwd", "taskflow_bash"), os.path.realpath(self.tmp))

    def test_latest_only(self):
        path = self.dag_file(kit.STANDIN + """
dag = DAG("latest")
lo = Task(dag, "latest_only")
lo.downstream_task_ids = {"b", "a"}
""")
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)

        def ctx(run_type, start, end):
            c = kit.context("latest", "latest_only")
            c["dag_run"]["run_type"] = run_type
            c["data_interval_start"] = start.isoformat()
            c["data_interval_end"] = end.isoformat()
            return c

        # The latest interval: the next one has not ended.
        self.assertOk(self.call(path, "latest", "latest_only", "latest_only",
                                context=ctx("scheduled", now - 1.5 * day, now - 0.5 * day)), ["a", "b"])
        # An older one (catchup): nothing downstream.
        self.assertOk(self.call(path, "latest", "latest_only", "latest_only",
                                context=ctx("scheduled", now - 5 * day, now - 4 * day)), [])
        # A manual run: everything.
        self.assertOk(self.call(path, "latest", "latest_only", "latest_only",
                                context=ctx("manual", now - 5 * day, now - 4 * day)), ["a", "b"])
        # An asset-triggered run: no next interval, everything.
        self.assertOk(self.call(path, "latest", "latest_only", "latest_only",
                                context=ctx("asset_triggered", now - 5 * day, now - 4 * day)), ["a", "b"])

    def test_callbacks_by_index_see_the_live_task(self):
        path = self.dag_file(kit.STANDIN + """
import os
def first(context):
    pass
def second(context):
    with open(os.environ["CB_FILE"], "w") as f:
        f.write("%s %s %s" % (context["task"].task_id, context["task"].retries, context["dag"].dag_id))
def dag_failed(context):
    with open(os.environ["CB_FILE"], "w") as f:
        f.write("dag %s %s" % (context["task"].task_id, context["task"].retries))
dag = DAG("cbs", on_failure_callback=dag_failed)
Task(dag, "t", python_callable=lambda: 1, on_failure_callback=[first, second], retries=4)
""")
        cb = os.path.join(self.tmp, "cb.txt")
        self.assertOk(self.call(path, "cbs", "t", "on_failure_callback_1", positional=True,
                                env={"CB_FILE": cb}), None)
        with open(cb) as f:
            self.assertEqual(f.read(), "t 4 cbs")
        self.assertOk(self.call(path, "cbs", None, "on_failure_callback_0", positional=True,
                                env={"CB_FILE": cb}), None)
        with open(cb) as f:
            self.assertEqual(f.read(), "dag t 4")
        self.assertError(self.call(path, "cbs", "t", "on_failure_callback_2", positional=True),
                         "AirflowException", "has no on_failure_callback number 2")


class ReloadTest(kit.ShimCase):
    def test_a_changed_dag_file_is_imported_again(self):
        body = kit.STANDIN + 'dag = DAG("re")\nTask(dag, "t", python_callable=lambda: VALUE)\nVALUE = %r\n'
        path = self.dag_file(body % "before")
        self.assertOk(self.call(path, "re", "t", "python_callable"), "before")
        self.rewrite(path, body % "after!")
        with kit.reload_at_once():
            self.assertOk(self.call(path, "re", "t", "python_callable"), "after!")

    def test_a_broken_edit_fails_the_task_and_a_fix_recovers(self):
        body = kit.STANDIN + 'dag = DAG("fix")\nTask(dag, "t", python_callable=lambda: %s)\n'
        path = self.dag_file(body % "'one'")
        self.assertOk(self.call(path, "fix", "t", "python_callable"), "one")
        with kit.reload_at_once():
            self.rewrite(path, body % "'two' +")
            resp = self.call(path, "fix", "t", "python_callable")
            self.assertFalse(resp["ok"])
            self.assertEqual(resp["error"]["type"], "SyntaxError")
            self.rewrite(path, body % "'three'")
            self.assertOk(self.call(path, "fix", "t", "python_callable"), "three")

    def test_a_changed_helper_module_is_imported_again(self):
        helper = os.path.join(self.tmp, "shim_helper_%s.py" % self.id_suffix)
        with open(helper, "w") as f:
            f.write("VALUE = 1\n")
        path = self.dag_file(kit.STANDIN + """
import shim_helper_SUFFIX as helper
dag = DAG("helped")
Task(dag, "t", python_callable=lambda: helper.VALUE)
""".replace("SUFFIX", self.id_suffix))
        self.assertOk(self.call(path, "helped", "t", "python_callable"), 1)
        self.rewrite(helper, "VALUE = 2\n")
        with kit.reload_at_once():
            self.assertOk(self.call(path, "helped", "t", "python_callable"), 2)

    def test_a_helper_another_dag_file_imported_first_is_followed_too(self):
        os.makedirs(os.path.join(self.tmp, "common_%s" % self.id_suffix))
        pkg = os.path.join(self.tmp, "common_%s" % self.id_suffix)
        open(os.path.join(pkg, "__init__.py"), "w").close()
        util = os.path.join(pkg, "util.py")
        with open(util, "w") as f:
            f.write("def value():\n    return 1\n")
        body = kit.STANDIN + """
from common_SUFFIX.util import value
dag = DAG("DAG_ID")
Task(dag, "t", python_callable=lambda: value())
""".replace("SUFFIX", self.id_suffix)
        first = self.dag_file(body.replace("DAG_ID", "first"), name="first_%s.py" % self.id_suffix)
        second = self.dag_file(body.replace("DAG_ID", "second"), name="second_%s.py" % self.id_suffix)
        self.assertOk(self.call(first, "first", "t", "python_callable"), 1)
        self.assertOk(self.call(second, "second", "t", "python_callable"), 1)
        self.rewrite(util, "def value():\n    return 2\n")
        with kit.reload_at_once():
            self.assertOk(self.call(second, "second", "t", "python_callable"), 2)
            self.assertOk(self.call(first, "first", "t", "python_callable"), 2)

    def test_a_dag_file_that_raises_is_an_import_error(self):
        path = self.dag_file(kit.STANDIN + "raise ValueError('broken at parse')\n")
        resp = self.call(path, "x", "t", "python_callable")
        self.assertFalse(resp["ok"])
        self.assertEqual(resp["error"]["kind"], "import_error")
        self.assertIn("ValueError: broken at parse", resp["error"]["message"])
        self.assertIn(os.path.basename(path), resp["error"]["traceback"])


if __name__ == "__main__":
    unittest.main()
