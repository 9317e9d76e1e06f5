"""DAG objects -> the description the scheduler reads (docs/airflow-runtime.md, "The loader process").

The loader calls :func:`describe_dags` in the process that imported the DAG file. Each DAG
becomes ``{"dag_id", "line", "airflow_version", "version_reason", "toml", "tasks", "ignored",
"parse_time", "findings"}``; ``toml`` is a lithoflow TOML DAG file as JSON (exactly the keys of
docs/dag-format.md, date-times as ``{"$datetime": RFC 3339}``, durations as integer seconds or
``"<n>ms"``), which the scheduler runs through the same parser as a ``.toml`` file.

The mapping from Airflow's arguments to lithoflow's keys is the one ``lithoflow migrate`` uses
(``scheduler/migrate/src/convert/{dag,args,task,sensor,runtime2}.rs``), applied here to the
values the DAG file computed. Python callables become references
``lithoflow_dagfile_<hex(file name)>:t_<hex(dag_id)>_<hex(task_id)>_<attr>`` (``d_<hex(dag_id)>_<attr>``
for the DAG's) that the worker resolves by importing the DAG file again
(``airflow/_lithoflow/shims.py``), so lambdas, closures and nested functions run as in Airflow.
"""

import ast
import datetime as _dt
import functools
import inspect
import math
import os
import re
import sys
import types

# Airflow arguments lithoflow has no meaning for: accepted, listed by `dags show` as ignored.
IGNORED_TASK_ARGS = (
    "queue", "sla", "email", "email_on_failure", "email_on_retry", "executor", "executor_config",
    "run_as_user", "resources", "doc", "doc_md", "doc_rst", "doc_json", "doc_yaml",
    "task_display_name", "ui_color", "ui_fgcolor", "owner_links", "provide_context",
    "ignore_first_depends_on_past", "output_encoding", "wait_for_downstream",
    "wait_for_past_depends_before_skipping", "retry_policy", "params", "start_date", "end_date",
    "pre_execute", "post_execute", "do_xcom_push_on_failure", "logger_name", "allow_nested_operators",
    "deferrable", "poll_interval", "start_from_trigger", "trigger_kwargs", "never_fail", "verify",
    "openlineage_inject_parent_info", "fail_when_dag_is_paused", "check_fn", "use_regex",
    "metadata_keys", "requirements", "python_version", "system_site_packages", "pip_install_options",
    "index_urls", "venv_cache_path", "use_dill", "serializer", "python", "expect_airflow",
    "expect_pendulum", "string_args", "skip_on_exit_code_is_none", "inherit_env", "on_kill",
)
IGNORED_DAG_ARGS = (
    "doc_md", "default_view", "orientation", "owner_links", "dag_display_name", "access_control",
    "jinja_environment_kwargs", "sla_miss_callback", "template_undefined", "fail_stop", "fail_fast",
    "max_consecutive_failed_dag_runs", "deadline", "disable_bundle_versioning",
)

# Every task key that holds a plain value, with how it is written (scheduler/dag/src/keys/table.rs).
_COMMON_KEYS = (
    ("retries", "int"), ("retry_delay", "duration"), ("retry_exponential_backoff", "number"),
    ("max_retry_delay", "duration"), ("execution_timeout", "duration"),
    ("depends_on_past", "bool"), ("do_xcom_push", "bool"), ("multiple_outputs", "bool"),
    ("owner", "str"), ("pool", "str"), ("pool_slots", "int"), ("priority_weight", "int"),
    ("weight_rule", "str"), ("max_active_tis_per_dag", "int"), ("max_active_tis_per_dagrun", "int"),
    ("map_index_template", "str"),
)
# lithoflow's (and Airflow's) defaults: a value equal to these need not be written.
_DEFAULTS = {
    "retries": 0, "retry_delay": 300.0, "retry_exponential_backoff": False, "max_retry_delay": None,
    "execution_timeout": None, "depends_on_past": False, "do_xcom_push": True,
    "multiple_outputs": False, "owner": "airflow", "pool": "default_pool", "pool_slots": 1,
    "priority_weight": 1, "weight_rule": "downstream", "max_active_tis_per_dag": None,
    "max_active_tis_per_dagrun": None, "map_index_template": None, "trigger_rule": "all_success",
}
_EXECUTOR_KEYS = (("lithops_config", "table"), ("extra_env", "table"), ("runtime_memory", "int"),
                  ("timeout", "duration"), ("include_modules", "strs"), ("exclude_modules", "strs"))
_LITHOPS_KEYS = (("async_invoke", "bool"), ("get_result", "bool"), ("clean_data", "bool"))
_MAP_KEYS = (("chunk_size", "int"), ("chunk_n", "int"), ("remote_invocation", "bool"),
             ("invoke_pool_threads", "int"))
_MAP_REDUCE_KEYS = (("map_runtime_memory", "int"), ("reduce_runtime_memory", "int"),
                    ("reducer_one_per_object", "bool"), ("reducer_wait_local", "bool"))
_SENSOR_COMMON = (("poke_interval", "duration"), ("timeout", "duration"), ("soft_fail", "bool"),
                  ("mode", "str"), ("exponential_backoff", "bool"), ("max_wait", "duration"),
                  ("silent_fail", "bool"))
_SENSOR_DEFAULTS = {"poke_interval": 60.0, "timeout": 604800.0, "soft_fail": False, "mode": "poke",
                    "exponential_backoff": False, "max_wait": None, "silent_fail": False}
_SENSOR_OWN = {
    "python": (("templates_dict", "table"),),
    "bash": (("bash_command", "str"), ("env", "table"), ("cwd", "str"), ("retry_exit_code", "int")),
    "file": (("filepath", "str"), ("recursive", "bool"), ("fs_conn_id", "str")),
    "external_task": (("external_dag_id", "str"), ("external_task_id", "str"),
                      ("external_task_ids", "strs"), ("external_task_group_id", "str"),
                      ("allowed_states", "strs"), ("skipped_states", "strs"), ("failed_states", "strs"),
                      ("execution_delta", "duration"), ("check_existence", "bool")),
    "time_delta": (("delta", "duration"),),
    "date_time": (("target_time", "str"),),
    "time": (("target_time", "str"),),
    "s3_key": (("bucket_key", "strs_or_str"), ("bucket_name", "str"), ("wildcard_match", "bool"),
               ("aws_conn_id", "str")),
}
_TRIGGER_KEYS = (("trigger_dag_id", "str"), ("trigger_run_id", "str"), ("conf", "table"),
                 ("logical_date", "str"), ("reset_dag_run", "bool"), ("wait_for_completion", "bool"),
                 ("poke_interval", "duration"), ("allowed_states", "strs"), ("failed_states", "strs"),
                 ("skip_when_already_exists", "bool"))
_TRIGGER_RULES = ("all_success", "all_failed", "all_done", "all_done_min_one_success", "all_skipped",
                  "one_success", "one_failed", "one_done", "none_failed", "none_failed_min_one_success",
                  "none_skipped", "always")
_RULE_ALIASES = {"dummy": "always", "none_failed_or_skipped": "none_failed_min_one_success"}
_CALLBACKS = ("on_execute_callback", "on_success_callback", "on_failure_callback", "on_retry_callback",
              "on_skipped_callback")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


MANUAL = " the DAG is loaded without a schedule: it runs only when triggered"


class NotJson(Exception):
    """A value TOML (JSON) cannot hold."""


class _Problem(Exception):
    """A value of an argument the description cannot write: a finding at the task's line."""


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def describe_dags(dags, module=None, path=None, dags_folder=None, version=2, version_reason=""):
    """The descriptions of ``dags`` (DAG objects) and the file's warnings.

    Raises Airflow's errors the DagBag raises for a DAG (a cycle: AirflowDagCycleException), which
    the loader reports as the file's import error, as Airflow does.
    """
    path = os.path.abspath(path or getattr(module, "__file__", "") or "")
    warnings = []
    parse_time = _parse_time_reads() + clock_reads(path)
    parse_time.sort(key=lambda r: r["line"])
    out = []
    seen = {}
    for dag in dags:
        validate = getattr(dag, "validate", None)
        if callable(validate):
            validate()
        check_cycle(dag)
        d = _DagDescriber(dag, path, dags_folder, version, version_reason, parse_time).describe()
        if d["dag_id"] in seen:
            # Airflow's DagBag keeps one DAG per id; within one file the last one bagged wins.
            warnings.append({"line": d["line"], "message": "the DAG id %r is defined twice in this file "
                             "(also at line %s); the later one is kept" % (d["dag_id"], seen[d["dag_id"]]["line"])})
            out = [o for o in out if o["dag_id"] != d["dag_id"]]
        seen[d["dag_id"]] = d
        out.append(d)
    return out, warnings


def _parse_time_reads():
    try:
        from airflow._lithoflow import host
    except Exception:  # noqa: BLE001
        return []
    reads = []
    for r in getattr(host, "PARSE_TIME_READS", None) or ():
        if isinstance(r, dict) and r.get("what"):
            reads.append({"what": str(r["what"]), "line": r.get("line") or 0})
    return reads


_CLOCK = re.compile(r"\b(?:(?:datetime|date|pendulum|timezone|dt)\s*\.\s*(?:now|utcnow|today|yesterday|tomorrow)"
                    r"|time\s*\.\s*time|days_ago)\s*\(")


def clock_reads(path):
    """Values the DAG file computes from the clock while it is parsed (module level and the
    factories it calls, not inside functions that only run later), as ``parse_time`` entries:
    a TOML copy of the DAG would freeze them."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError):
        return []
    if not _CLOCK.search(source):
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    # Calls inside a function body run when it is called: at parse time only if the module
    # calls that function (a factory, a @dag function); task callables run later.
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    out = []

    def visit(node, live):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, live and child.name in called and not _decorated_task(child))
            elif isinstance(child, ast.Lambda):
                continue
            else:
                if live and isinstance(child, ast.Call):
                    text = ast.get_source_segment(source, child.func) or ""
                    if _CLOCK.match(text.replace(" ", "") + "("):
                        out.append({"what": "%s()" % text.replace(" ", ""), "line": child.lineno})
                visit(child, live)

    visit(tree, True)
    return out


def _decorated_task(fn):
    """Whether ``fn`` is a TaskFlow task (its body runs on the worker, not at parse time)."""
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        text = getattr(target, "attr", None) or getattr(target, "id", None) or ""
        if text in ("task", "branch", "short_circuit", "bash", "sensor", "virtualenv", "external_python",
                    "python", "docker", "kubernetes", "branch_virtualenv", "branch_external_python"):
            return True
        base = getattr(target, "value", None)
        if getattr(base, "id", None) == "task" or getattr(base, "attr", None) == "task":
            return True
    return False


def check_cycle(dag):
    """Airflow's ``check_cycle`` (airflow/utils/dag_cycle_tester.py): raises on a cycle."""
    tasks = _task_dict(dag)
    state = {}
    for start in tasks:
        if start in state:
            continue
        stack = [(start, iter(sorted(_ids(getattr(tasks[start], "downstream_task_ids", ())))))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if nxt not in tasks:
                continue
            s = state.get(nxt)
            if s == 1:
                raise _cycle_error("Cycle detected in DAG: %s. Faulty task: %s" % (dag.dag_id, nxt))
            if s is None:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(_ids(getattr(tasks[nxt], "downstream_task_ids", ()))))))


def _cycle_error(message):
    try:
        from airflow.exceptions import AirflowDagCycleException

        return AirflowDagCycleException(message)
    except Exception:  # noqa: BLE001
        return ValueError(message)


def _task_dict(dag):
    td = getattr(dag, "task_dict", None)
    if isinstance(td, dict):
        return td
    return {t.task_id: t for t in getattr(dag, "tasks", ())}


def _ids(v):
    return [str(x) for x in (v or ())]


def _hex(s):
    return str(s).encode("utf-8").hex()


def module_of_file(path, dags_folder=None):
    """The module name under which the worker imports the DAG file ``path``: the hex of its name,
    or, in a subfolder of the DAGs folder, of its path relative to it with ``/`` between folders
    (two files of one name in different subfolders are then two modules in a warm worker; the
    DAGs folder is on the call's ``sys.path``)."""
    name = os.path.basename(path)
    if dags_folder:
        rel = os.path.relpath(path, dags_folder)
        if not rel.startswith(os.pardir + os.sep) and rel != os.pardir and not os.path.isabs(rel):
            name = rel.replace(os.sep, "/")
    return "lithoflow_dagfile_" + _hex(name)


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------

_INT_MAX = 2 ** 63 - 1


def to_json(v, depth=0):
    """A value as JSON, or NotJson: TOML has no null, so None inside a container is refused too."""
    if depth > 50:
        raise NotJson("nested too deep")
    if v is None:
        raise NotJson("None")
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if -_INT_MAX - 1 <= v <= _INT_MAX:
            return int(v)
        raise NotJson("an integer beyond 64 bits")
    if isinstance(v, float):
        if math.isfinite(v):
            return float(v)
        raise NotJson("a float that is nan or inf")
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [to_json(x, depth + 1) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise NotJson("a dict key that is not a string (%r)" % (k,))
            out[k] = to_json(x, depth + 1)
        return out
    if _is_param(v):
        return to_json(_param_value(v), depth + 1)
    raise NotJson("a %s" % type(v).__name__)


def _is_param(v):
    return type(v).__name__ == "Param" and hasattr(v, "value")


def _param_value(p):
    try:
        value = p.value
    except Exception:  # noqa: BLE001 -- Airflow's Param.value raises without a default
        return None
    if _notset(value):
        return None
    return value


def _notset(v):
    return type(v).__name__ == "ArgNotSet"


def _is_xcomarg(v):
    return any(c.__name__ in ("XComArg", "PlainXComArg") for c in type(v).__mro__)


def _xcom_source(v):
    """(task_id, key) of a plain XComArg, or None for a derived one (.map, .zip, ...)."""
    op = getattr(v, "operator", None)
    key = getattr(v, "key", "return_value")
    if op is None or getattr(op, "task_id", None) is None:
        return None
    return str(op.task_id), (key if isinstance(key, str) else "return_value")


def _xcom_template(v):
    src = _xcom_source(v)
    if src is None:
        raise _Problem("a derived XComArg (.map/.zip/.concat) cannot be written as a template")
    tid, key = src
    if key == "return_value":
        return "{{ ti.xcom_pull(task_ids='%s') }}" % tid
    return "{{ ti.xcom_pull(task_ids='%s', key='%s') }}" % (tid, key)


def _templated(v, depth=0):
    """A templated field's value as JSON, XComArgs as their xcom_pull templates."""
    if _is_xcomarg(v):
        return _xcom_template(v)
    if isinstance(v, (list, tuple)) and depth < 50:
        return [_templated(x, depth + 1) for x in v]
    if isinstance(v, dict) and depth < 50:
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise NotJson("a dict key that is not a string (%r)" % (k,))
            out[k] = _templated(x, depth + 1)
        return out
    return to_json(v, depth)


def duration(v):
    """A timedelta (or a number of seconds) as lithoflow's duration: seconds, or "<n>ms"."""
    if isinstance(v, _dt.timedelta):
        us = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    elif isinstance(v, bool):
        raise NotJson("a boolean where a duration was expected")
    elif isinstance(v, (int, float)) and math.isfinite(v):
        us = int(round(v * 1_000_000))
    else:
        raise NotJson("a %s where a timedelta was expected" % type(v).__name__)
    if us < 0:
        raise NotJson("a negative duration")
    if us % 1_000_000 == 0:
        return us // 1_000_000
    if us % 1000 == 0:
        return "%dms" % (us // 1000)
    return "%dus" % us


def _seconds(v):
    if isinstance(v, _dt.timedelta):
        return v.total_seconds()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def zone_name(tz):
    """The IANA name of a tzinfo, "UTC", or None for a fixed offset."""
    if tz is None:
        return None
    for attr in ("key", "name", "zone"):
        n = getattr(tz, attr, None)
        if isinstance(n, str) and n and not n.startswith(("+", "-")):
            return "UTC" if n in ("UTC", "Etc/UTC", "utc", "Z", "GMT", "Etc/GMT") else n
    try:
        off = tz.utcoffset(None)
    except Exception:  # noqa: BLE001
        off = None
    if tz is _dt.timezone.utc or off == _dt.timedelta(0) and str(tz) in ("UTC", "UTC+00:00"):
        return "UTC"
    return None


def datetime_value(d):
    """A datetime as ``{"$datetime": RFC 3339}`` (a naive one read in UTC, as Airflow does)."""
    if isinstance(d, _dt.datetime):
        if d.tzinfo is None or d.utcoffset() is None:
            d = d.replace(tzinfo=_dt.timezone.utc)
        text = _dt.datetime.isoformat(d)
        return {"$datetime": text}
    if isinstance(d, _dt.date):
        return {"$datetime": _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc).isoformat()}
    raise NotJson("a %s where a datetime was expected" % type(d).__name__)


def _convert(v, how):
    """A plain key's value written as ``how`` says; NotJson when it cannot be."""
    if how == "duration":
        return duration(v)
    if how == "bool":
        if isinstance(v, bool):
            return v
        raise NotJson("a %s where a boolean was expected" % type(v).__name__)
    if how == "int":
        if isinstance(v, int) and not isinstance(v, bool):
            return to_json(v)
        raise NotJson("a %s where an integer was expected" % type(v).__name__)
    if how == "number":
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return float(v)
        raise NotJson("a %s where a number was expected" % type(v).__name__)
    if how == "str":
        if isinstance(v, str):
            return v
        if _is_xcomarg(v):
            return _xcom_template(v)
        if hasattr(v, "value") and isinstance(getattr(v, "value"), str):  # an Enum (TriggerRule...)
            return v.value
        if isinstance(v, _dt.datetime):
            return v.isoformat()
        if isinstance(v, _dt.time):
            return v.isoformat()
        raise NotJson("a %s where a string was expected" % type(v).__name__)
    if how == "strs":
        if isinstance(v, str):
            return [v]
        if isinstance(v, (list, tuple, set, frozenset)):
            items = sorted(v) if isinstance(v, (set, frozenset)) else list(v)
            return [_convert(x, "str") for x in items]
        raise NotJson("a %s where a list of strings was expected" % type(v).__name__)
    if how == "strs_or_str":
        if isinstance(v, (list, tuple)):
            return _convert(v, "strs")
        return _convert(v, "str")
    if how == "table":
        j = _templated(v)
        if not isinstance(j, dict):
            raise NotJson("a %s where a dict was expected" % type(v).__name__)
        return j
    return _templated(v)


# ------------------------------------------------------------------------------------------------
# Callables
# ------------------------------------------------------------------------------------------------


def callable_info(fn):
    """What kind of callable ``fn`` is and where it is defined (for migrate)."""
    info = {"kind": "function", "module": None, "qualname": None, "file": None, "line": None}
    target = fn
    if isinstance(fn, functools.partial):
        info["kind"] = "partial"
        target = fn.func
    elif isinstance(fn, type):
        info["kind"] = "class"
    elif isinstance(fn, types.MethodType):
        info["kind"] = "method"
        target = fn.__func__
    elif isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        info["kind"] = "builtin"
    elif not isinstance(fn, types.FunctionType):
        call = getattr(type(fn), "__call__", None)
        info["kind"] = "method" if call is not None else "function"
        target = call if isinstance(call, types.FunctionType) else fn
    target = inspect.unwrap(target) if isinstance(target, types.FunctionType) else target
    info["module"] = getattr(target, "__module__", None)
    info["qualname"] = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if info["kind"] == "function" and isinstance(target, types.FunctionType):
        q = target.__qualname__
        if target.__name__ == "<lambda>":
            info["kind"] = "lambda"
        elif "<locals>" in q:
            info["kind"] = "closure" if target.__closure__ else "nested"
        elif "." in q:
            info["kind"] = "method"
    code = getattr(target, "__code__", None)
    if code is not None:
        info["file"] = os.path.abspath(code.co_filename)
        info["line"] = code.co_firstlineno
    else:
        try:
            info["file"] = os.path.abspath(inspect.getsourcefile(target) or "") or None
            info["line"] = inspect.getsourcelines(target)[1]
        except (TypeError, OSError):
            pass
    return info


def _callback_list(v):
    if v is None or _notset(v):
        return []
    if isinstance(v, (list, tuple)):
        return [x for x in v if x is not None]
    return [v]


# ------------------------------------------------------------------------------------------------
# One DAG
# ------------------------------------------------------------------------------------------------


class _DagDescriber:
    def __init__(self, dag, path, dags_folder, version, version_reason, parse_time):
        self.dag = dag
        self.path = path
        self.dags_folder = dags_folder
        self.version = 3 if version == 3 else 2
        self.version_reason = version_reason
        self.parse_time = parse_time
        self.module = module_of_file(path, dags_folder)
        self.dag_id = str(getattr(dag, "dag_id", ""))
        self.line = _line(dag)
        self.findings = []
        self.ignored = []
        self.explicit = _explicit(dag)

    def finding(self, line, message, severity="error"):
        self.findings.append({"line": line or self.line, "severity": severity, "message": message})

    def ref(self, task_id, attr):
        if task_id is None:
            return "%s:d_%s_%s" % (self.module, _hex(self.dag_id), attr)
        return "%s:t_%s_%s_%s" % (self.module, _hex(self.dag_id), _hex(task_id), attr)

    def given(self, name):
        if self.explicit is not None:
            return name in self.explicit
        return True

    def describe(self):
        dag = self.dag
        toml = {"dag_id": self.dag_id}
        if not _ID.match(self.dag_id):
            self.finding(self.line, "dag_id %r is not a valid lithoflow id (^[A-Za-z0-9_.-]+$, at most "
                         "250 characters)" % self.dag_id)
        desc = getattr(dag, "description", None)
        if isinstance(desc, str) and desc:
            toml["description"] = desc
        self.dates_and_schedule(toml)
        self.dag_scalars(toml)
        self.dag_params(toml)
        self.dag_macros(toml)
        callables = {}
        for name in ("on_success_callback", "on_failure_callback"):
            fns = _callback_list(getattr(dag, name, None))
            if fns:
                toml[name] = [self.ref(None, "%s_%d" % (name, i)) for i in range(len(fns))]
                for i, fn in enumerate(fns):
                    callables["%s_%d" % (name, i)] = callable_info(fn)
        for name in IGNORED_DAG_ARGS:
            if self.given(name) and _truthy_attr(dag, name):
                self.ignored.append({"name": name, "line": self.line})
        if getattr(dag, "fail_stop", False) or getattr(dag, "fail_fast", False):
            self.finding(self.line, "fail_stop=True (stop the run at the first failure) is not supported: "
                         "the run continues after a failure", "warning")
        from airflow._lithoflow.describe_task import TaskDescriber

        tasks = {}
        toml_tasks = {}
        td = _task_dict(dag)
        order = sorted(td.values(), key=lambda t: (_line(t) or 0, str(t.task_id)))
        for task in order:
            tid = str(task.task_id)
            try:
                table, info = TaskDescriber(self, task).describe()
            except _Problem as e:
                self.finding(_line(task), "task %r: %s" % (tid, e))
                continue
            toml_tasks[tid] = table
            tasks[tid] = info
        toml["tasks"] = toml_tasks
        out = {
            "dag_id": self.dag_id,
            "line": self.line or 1,
            "airflow_version": self.version,
            "version_reason": self.version_reason,
            "toml": toml,
            "tasks": tasks,
            "ignored": self.ignored,
            "parse_time": list(self.parse_time),
            "findings": self.findings,
        }
        if callables:
            out["callables"] = callables
        fileloc = getattr(dag, "fileloc", None)
        if isinstance(fileloc, str):
            out["fileloc"] = fileloc
        return out

    # -- dates, schedule, time zone ---------------------------------------------------------

    def dates_and_schedule(self, toml):
        dag = self.dag
        default_args = getattr(dag, "default_args", None) or {}
        start = getattr(dag, "start_date", None) or default_args.get("start_date")
        end = getattr(dag, "end_date", None) or default_args.get("end_date")
        tz = getattr(dag, "timezone", None)
        if start is not None and not isinstance(start, _dt.datetime) and isinstance(start, _dt.date):
            start = _dt.datetime(start.year, start.month, start.day)
        if tz is None and isinstance(start, _dt.datetime):
            tz = start.tzinfo
        zone = zone_name(tz) if tz is not None else "UTC"
        if start is not None:
            try:
                toml["start_date"] = datetime_value(start)
            except NotJson as e:
                self.finding(self.line, "start_date: %s" % e)
                start = None
        if end is not None:
            try:
                toml["end_date"] = datetime_value(end)
            except NotJson as e:
                self.finding(self.line, "end_date: %s" % e)
        if zone is not None:
            toml["timezone"] = zone
        elif tz is not None and isinstance(start, _dt.datetime) and start.tzinfo is not None:
            # A fixed offset: the parser takes it from start_date; only a different one needs saying.
            try:
                if tz.utcoffset(None) != start.utcoffset():
                    self.finding(self.line, "the DAG's fixed-offset time zone differs from start_date's")
            except Exception:  # noqa: BLE001
                pass
        self.schedule(toml, start, zone)

    def schedule(self, toml, start, zone):
        v2 = self.version == 2
        cron_tt = "cron_data_interval" if v2 else "cron_trigger"
        raw, given = _schedule_argument(self.dag, self.explicit)
        # The DAG's value (the compat DAG applies the version's default; a file may set it later).
        catchup = getattr(self.dag, "catchup", None)
        if not isinstance(catchup, bool):
            catchup = v2
        toml["catchup"] = catchup
        if not given:
            if v2:
                toml["schedule"] = "1d"
                toml["timetable"] = "cron_data_interval"
            else:
                toml["timetable"] = "cron_trigger"
        else:
            self.schedule_value(toml, raw, cron_tt, zone)
        periodic = isinstance(toml.get("schedule"), (str, int)) and toml.get("schedule") not in ("@once", "@continuous")
        if catchup and periodic and start is None:
            # Airflow's timetables never schedule such a DAG (no earliest date with catchup).
            self.finding(self.line, "catchup is on with a schedule but the DAG has no start_date: Airflow "
                         "never schedules it; it is written as manual-only", "warning")
            toml.pop("schedule", None)

    def schedule_value(self, toml, raw, cron_tt, zone):
        """The schedule as TOML keys. What lithoflow cannot schedule is a warning and the
        DAG is loaded manual-only: its tasks and edges are what they are in Airflow, and a
        trigger runs it."""
        if raw is None:
            toml["timetable"] = cron_tt
            return
        if isinstance(raw, str):
            s = raw.strip()
            toml["schedule"] = s
            toml["timetable"] = cron_tt
            if s == "@continuous" and not (self.explicit is None or "max_active_runs" in self.explicit):
                toml["max_active_runs"] = 1
            return
        if isinstance(raw, _dt.timedelta):
            try:
                d = duration(raw)
            except NotJson as e:
                self.finding(self.line, "schedule: %s" % e)
                return
            if raw <= _dt.timedelta(0):
                self.finding(self.line, "schedule: a timedelta schedule must be longer than zero")
                return
            toml["schedule"] = d if isinstance(d, str) else _schedule_text(d)
            toml["timetable"] = cron_tt
            return
        assets = _asset_schedule(raw)
        if assets is not None:
            if isinstance(assets, _Problem):
                self.finding(self.line, "schedule: %s;%s" % (assets, MANUAL), "warning")
            else:
                toml["schedule"] = assets
            return
        name = type(raw).__name__
        if name.endswith("Timetable") or getattr(raw, "_lithoflow_kind", None) == "asset_or_time":
            self.timetable(toml, raw, name, zone)
            return
        if name == "relativedelta":
            self.finding(self.line, "schedule: a relativedelta schedule (calendar months/years) is not "
                         "supported (a cron expression such as @monthly is);" + MANUAL, "warning")
            return
        self.finding(self.line, "schedule: a %s is not a schedule lithoflow supports (a cron string, a "
                     "preset, a timedelta, None, assets or Airflow's built-in timetables);%s" % (name, MANUAL),
                     "warning")

    def timetable(self, toml, tt, name, zone):
        expr = _first_attr(tt, ("_expression", "expression", "cron", "_cron"))
        delta = _first_attr(tt, ("_delta", "delta"))
        tz = _first_attr(tt, ("_timezone", "timezone"))
        if name in ("NullTimetable",):
            toml["timetable"] = "cron_trigger" if self.version == 3 else "cron_data_interval"
            return
        if name == "OnceTimetable":
            toml["schedule"] = "@once"
        elif name == "ContinuousTimetable":
            toml["schedule"] = "@continuous"
        elif name in ("CronDataIntervalTimetable", "CronTriggerTimetable") and isinstance(expr, str):
            toml["schedule"] = expr
            toml["timetable"] = "cron_data_interval" if name.startswith("CronData") else "cron_trigger"
            tz_name = zone_name(tz) if tz is not None and not isinstance(tz, str) else tz
            if tz_name and tz_name != (zone or "UTC"):
                if "start_date" not in toml:
                    toml["timezone"] = tz_name
                else:
                    self.finding(self.line, "the timetable's zone %r differs from start_date's: lithoflow "
                                 "has one `timezone` per DAG" % tz_name)
            interval = _first_attr(tt, ("_interval", "interval"))
            if isinstance(interval, _dt.timedelta) and interval:
                self.finding(self.line, "CronTriggerTimetable's interval is not supported (data intervals "
                             "of cron_trigger runs are empty)", "warning")
            return
        elif name in ("DeltaDataIntervalTimetable", "DeltaTriggerTimetable") and isinstance(delta, _dt.timedelta):
            d = duration(delta)
            toml["schedule"] = d if isinstance(d, str) else _schedule_text(d)
            toml["timetable"] = "cron_data_interval" if name.startswith("DeltaData") else "cron_trigger"
            return
        elif name in ("DatasetTriggeredTimetable", "AssetTriggeredTimetable"):
            cond = _first_attr(tt, ("asset_condition", "dataset_condition"))
            assets = _asset_schedule(cond)
            if assets is None or isinstance(assets, _Problem):
                self.finding(self.line, "schedule: %s;%s" % (assets or "an asset condition lithoflow cannot read",
                                                             MANUAL), "warning")
            else:
                toml["schedule"] = assets
            return
        elif getattr(tt, "_lithoflow_kind", None) == "asset_or_time" and getattr(tt, "timetable", None) is not None:
            # DatasetOrTimeSchedule / AssetOrTimeSchedule: lithoflow's schedule is one or the
            # other, so the time part is kept and the asset part reported.
            inner = tt.timetable
            self.finding(self.line, "schedule: %s runs on its timetable or on its assets; lithoflow keeps "
                         "the timetable (%s) and the asset condition does not trigger runs"
                         % (name, type(inner).__name__), "warning")
            self.timetable(toml, inner, type(inner).__name__, zone)
            return
        else:
            self.finding(self.line, "schedule: the timetable %s is not supported (custom timetables, "
                         "EventsTimetable, MultipleCronTriggerTimetable);%s" % (name, MANUAL), "warning")
            toml.setdefault("timetable", "cron_trigger" if self.version == 3 else "cron_data_interval")
            return
        toml.setdefault("timetable", "cron_trigger" if self.version == 3 else "cron_data_interval")

    # -- the rest of the DAG's arguments --------------------------------------------------------

    def dag_scalars(self, toml):
        dag = self.dag
        paused = getattr(dag, "is_paused_upon_creation", None)
        toml["is_paused_upon_creation"] = paused if isinstance(paused, bool) else True
        for key, attrs in (("max_active_runs", ("max_active_runs",)),
                           ("max_active_tasks", ("max_active_tasks", "concurrency"))):
            if key in toml:
                continue
            value = _first_attr(dag, attrs)
            toml[key] = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 16
        timeout = getattr(dag, "dagrun_timeout", None)
        if timeout is not None:
            try:
                toml["dagrun_timeout"] = duration(timeout)
            except NotJson as e:
                self.finding(self.line, "dagrun_timeout: %s" % e)
        tags = getattr(dag, "tags", None)
        if tags:
            try:
                toml["tags"] = _convert(list(sorted(tags)) if isinstance(tags, (set, frozenset)) else tags, "strs")
            except NotJson as e:
                self.finding(self.line, "tags: %s" % e)
        native = getattr(dag, "render_template_as_native_obj", False)
        if native is True:
            toml["render_template_as_native_obj"] = True

    def dag_params(self, toml):
        params = getattr(self.dag, "params", None)
        if not params:
            return
        out = {}
        items = params.items() if hasattr(params, "items") else ()
        # ParamsDict keeps Param objects in __dict; its items() gives the values.
        raw = getattr(params, "_ParamsDict__dict", None)
        if isinstance(raw, dict):
            items = raw.items()
        for k, v in items:
            value = _param_value(v) if _is_param(v) else v
            if value is None:
                continue
            try:
                out[str(k)] = to_json(value)
            except NotJson as e:
                # The DAG runs; a template that reads this param fails with a clear message.
                self.finding(self.line, "params[%r] holds %s, which TOML cannot hold: the param is left "
                             "out" % (k, e), "warning")
        if out:
            toml["params"] = out

    def dag_macros(self, toml):
        for name in ("user_defined_macros", "user_defined_filters"):
            value = getattr(self.dag, name, None)
            if not value:
                continue
            out = {}
            for k, v in value.items():
                if callable(v) and not isinstance(v, type):
                    ref = self.module_ref(v)
                    if ref is None:
                        self.finding(self.line, "%s[%r]: only functions defined at module level can be "
                                     "used as macros and filters" % (name, k))
                        continue
                    out[k] = {"callable": ref} if name == "user_defined_macros" else ref
                elif name == "user_defined_macros":
                    try:
                        out[k] = to_json(v)
                    except NotJson as e:
                        self.finding(self.line, "%s[%r] holds %s, which TOML cannot hold: it is left out"
                                     % (name, k, e), "warning")
                else:
                    self.finding(self.line, "%s[%r] is not a function" % (name, k))
            if out:
                toml[name] = out

    def module_ref(self, fn):
        """``module:function`` for a module-level function (the DAG file's: through its worker module)."""
        if not isinstance(fn, types.FunctionType):
            return None
        q = fn.__qualname__
        if "." in q or "<" in q or not q.isidentifier():
            return None
        code_file = os.path.abspath(fn.__code__.co_filename)
        if code_file == self.path:
            return "%s:%s" % (self.module, q)
        mod = fn.__module__ or ""
        if not mod or mod.startswith("unusual_prefix_") or mod == "__main__":
            return None
        return "%s:%s" % (mod, q)


def _schedule_text(seconds):
    """A duration schedule in its largest whole unit: 86400 -> "1d", 21600 -> "6h"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _schedule_argument(dag, explicit):
    """(value, given) of the DAG's schedule as the file gave it (schedule, schedule_interval or
    timetable; Airflow 2 takes timetable, else schedule_interval, else schedule)."""
    raw = getattr(dag, "_lithoflow_schedule", None)
    names = ("timetable", "schedule_interval", "schedule")
    if explicit is not None:
        given = [n for n in names if n in explicit]
        if not given:
            return None, False
    if raw is not None and not _notset(raw):
        return (None if _notset(raw) else raw), True
    for attr in ("schedule", "schedule_interval"):
        v = getattr(dag, attr, _MISSING)
        if v is _MISSING or _notset(v):
            continue
        if type(v).__name__.endswith("Timetable") or v is None or isinstance(v, (str, _dt.timedelta)):
            return v, True
        if _asset_schedule(v) is not None or type(v).__name__ == "relativedelta":
            return v, True
    tt = getattr(dag, "timetable", None)
    if tt is not None:
        return tt, True
    return None, explicit is not None


_MISSING = object()


def _asset_uri(a):
    uri = getattr(a, "uri", None)
    name = getattr(a, "name", None)
    group = getattr(a, "group", None)
    extra = getattr(a, "extra", None)
    if not isinstance(uri, str) or not uri:
        if isinstance(name, str) and name:
            return {"name": name}
        raise _Problem("an asset without a URI")
    if (isinstance(name, str) and name and name != uri) or (isinstance(group, str) and group not in ("", "asset")) or extra:
        t = {"uri": uri}
        if isinstance(name, str) and name and name != uri:
            t["name"] = name
        if isinstance(group, str) and group and group != "asset":
            t["group"] = group
        if extra:
            try:
                t["extra"] = to_json(dict(extra))
            except NotJson as e:
                raise _Problem("an asset's extra is %s" % e)
        return t
    return uri


def _asset_kind(v):
    names = [c.__name__ for c in type(v).__mro__]
    if any(n in ("AssetAlias", "DatasetAlias") for n in names):
        return "alias"
    if any(n in ("AssetAll", "DatasetAll") for n in names):
        return "all"
    if any(n in ("AssetAny", "DatasetAny") for n in names):
        return "any"
    if any(n in ("Asset", "Dataset", "Model") for n in names):
        return "one"
    return None


def _asset_expr(v):
    kind = _asset_kind(v)
    if kind == "alias":
        raise _Problem("asset aliases (AssetAlias, DatasetAlias) are not supported")
    if kind == "one":
        return _asset_uri(v)
    if kind in ("all", "any"):
        objs = _first_attr(v, ("objects", "datasets", "assets"))
        return {kind: [_asset_expr(o) for o in (objs or ())]}
    raise _Problem("a %s in an asset schedule" % type(v).__name__)


def _asset_schedule(v):
    """An asset schedule as TOML (a list, a condition table), None when ``v`` is no asset
    schedule, or a _Problem."""
    try:
        kind = _asset_kind(v)
        if kind == "one":
            return [_asset_uri(v)]
        if kind == "all":
            return _asset_expr(v)["all"]
        if kind in ("any", "alias"):
            return _asset_expr(v)
        if isinstance(v, (list, tuple)) and v and all(_asset_kind(x) for x in v):
            return [_asset_expr(x) for x in v]
    except _Problem as e:
        return e
    return None


def _first_attr(obj, names):
    for n in names:
        v = getattr(obj, n, _MISSING)
        if v is not _MISSING and not _notset(v):
            return v
    return None


def _truthy_attr(obj, name):
    v = getattr(obj, name, None)
    if _notset(v):
        return False
    try:
        return bool(v)
    except Exception:  # noqa: BLE001
        return True


def _line(obj):
    line = getattr(obj, "_lithoflow_line", None)
    return line if isinstance(line, int) else None


def _explicit(obj):
    e = getattr(obj, "_lithoflow_explicit", None)
    if isinstance(e, (set, frozenset)):
        return e
    if isinstance(e, (list, tuple, dict)):
        return set(e)
    return None
