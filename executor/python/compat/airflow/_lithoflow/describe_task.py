"""One task of a DAG -> its table in the description's ``toml`` and its ``tasks`` entry.

Split from ``describe.py`` (which calls :class:`TaskDescriber`); the rules are those of
``scheduler/migrate/src/convert/{args,task,sensor,runtime2}.rs``.
"""

import datetime as _dt
import os
import weakref

from airflow._lithoflow.describe import (
    _CALLBACKS, _COMMON_KEYS, _DEFAULTS, _EXECUTOR_KEYS, _ID, _LITHOPS_KEYS, _MAP_KEYS,
    _MAP_REDUCE_KEYS, _MISSING, _RULE_ALIASES, _SENSOR_COMMON, _SENSOR_DEFAULTS, _SENSOR_OWN,
    _TRIGGER_KEYS, _TRIGGER_RULES, IGNORED_TASK_ARGS, NotJson, _asset_kind, _asset_uri,
    _callback_list, _convert, _explicit, _ids, _is_xcomarg, _line, _notset, _Problem, _seconds,
    _templated, _xcom_source, callable_info, to_json,
)

# ------------------------------------------------------------------------------------------------
# One task
# ------------------------------------------------------------------------------------------------

_KIND_BY_CLASS = {
    "PythonOperator": "python", "_PythonDecoratedOperator": "python",
    "BranchPythonOperator": "branch", "_BranchPythonDecoratedOperator": "branch",
    "ShortCircuitOperator": "short_circuit", "_ShortCircuitDecoratedOperator": "short_circuit",
    "BashOperator": "bash", "_BashDecoratedOperator": "taskflow_bash",
    "EmptyOperator": "empty", "DummyOperator": "empty", "ExternalTaskMarker": "empty",
    "LatestOnlyOperator": "latest_only", "TriggerDagRunOperator": "trigger_dag_run",
    "PythonVirtualenvOperator": "virtualenv", "ExternalPythonOperator": "virtualenv",
    "_PythonVirtualenvDecoratedOperator": "virtualenv", "_PythonExternalDecoratedOperator": "virtualenv",
    "BranchPythonVirtualenvOperator": "branch_virtualenv", "BranchExternalPythonOperator": "branch_virtualenv",
    "PythonSensor": "sensor:python", "_DecoratedSensorOperator": "sensor:python",
    "BashSensor": "sensor:bash", "FileSensor": "sensor:file", "FileSensorAsync": "sensor:file",
    "ExternalTaskSensor": "sensor:external_task", "ExternalTaskSensorAsync": "sensor:external_task",
    "TimeDeltaSensor": "sensor:time_delta", "TimeDeltaSensorAsync": "sensor:time_delta",
    "DateTimeSensor": "sensor:date_time", "DateTimeSensorAsync": "sensor:date_time",
    "TimeSensor": "sensor:time", "TimeSensorAsync": "sensor:time", "S3KeySensor": "sensor:s3_key",
    "LithopsCallAsyncOperator": "call_async", "CloudbuttonCallAsyncOperator": "call_async",
    "LithopsMapOperator": "map", "CloudbuttonMapOperator": "map",
    "LithopsMapReduceOperator": "map_reduce", "CloudbuttonMapReduceOperator": "map_reduce",
}
_VENV_ARGS = ("requirements", "python_version", "system_site_packages", "pip_install_options",
              "index_urls", "venv_cache_path", "use_dill", "serializer", "python", "expect_airflow",
              "expect_pendulum", "string_args", "inherit_env", "env_vars")


# Operators' own defaults (Airflow 2.10's), which equal lithoflow's: not written.
_KNOWN_DEFAULTS = {
    "recursive": False, "fs_conn_id": "fs_default", "check_existence": False, "allowed_states": ["success"],
    "skipped_states": [], "wildcard_match": False, "aws_conn_id": "aws_default", "append_env": False,
    "reset_dag_run": False, "wait_for_completion": False, "skip_when_already_exists": False,
    "poke_interval": 60.0, "templates_dict": {}, "env": {}, "op_kwargs": {}, "op_args": [],
}


_KINDS = weakref.WeakKeyDictionary()
_IGNORED_SET = frozenset(IGNORED_TASK_ARGS)


def _kind(task):
    """The task's ``_lithoflow_kind``, which depends on its class only (unless overridden on the
    instance): computed once per class."""
    cls = type(task)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = getattr(task, "_lithoflow_kind", None) or guess_kind(task)
        try:
            _KINDS[cls] = kind
        except TypeError:
            pass
    return kind


def guess_kind(task):
    """The task's kind when the object does not say (``_lithoflow_kind``)."""
    if getattr(task, "_lithoflow_unsupported", False):
        return "unsupported"
    for cls in type(task).__mro__:
        kind = _KIND_BY_CLASS.get(cls.__name__)
        if kind is not None:
            if cls is not type(task) and cls.__name__ not in ("EmptyOperator", "DummyOperator"):
                if hasattr(type(task), "poke") and "poke" in type(task).__dict__:
                    return "custom_sensor"
                if "execute" in type(task).__dict__:
                    return "custom"
            return kind
    if any(c.__name__ == "BaseSensorOperator" for c in type(task).__mro__):
        return "custom_sensor"
    return "custom"


class TaskDescriber:
    def __init__(self, d, task):
        self.d = d
        self.task = task
        # Plain attributes straight from the instance (getattr only for properties and class
        # attributes): most of a task's values are read here.
        self.attrs = getattr(task, "__dict__", {})
        self.tid = str(task.task_id)
        self.line = _line(task) or d.line
        self.explicit = _explicit(task)
        mapped = getattr(task, "_lithoflow_mapped", None)
        self.mapped = mapped if isinstance(mapped, dict) else None
        partial = (self.mapped or {}).get("partial") or getattr(task, "partial_kwargs", None) or {}
        self.partial = partial if isinstance(partial, dict) else {}
        self.kind = self.attrs.get("_lithoflow_kind_override") or _kind(task)
        # Arguments given per mapped instance (`expand`), never written as fixed ones.
        self.mapped_names = set((self.mapped or {}).get("expand") or ())
        self.table = {}
        self.callables = {}
        self.ignored = []
        self.exts = self.fields = None  # template_ext and template_fields, read once

    # -- reading arguments -------------------------------------------------------------------

    def problem(self, message, severity="error"):
        self.d.finding(self.line, "task %r: %s" % (self.tid, message), severity)

    def get(self, name, default=None):
        v = self.attrs.get(name, _MISSING)
        if v is _MISSING:
            v = getattr(self.task, name, _MISSING)
        if (v is _MISSING or v is None) and self.partial and name in self.partial:
            v = self.partial[name]
        if v is _MISSING or v is None or v.__class__.__name__ == "ArgNotSet":
            return default
        return v

    def given(self, name):
        if name in self.partial:
            return True
        if self.explicit is not None:
            return name in self.explicit
        return True

    def put(self, key, name, how, default=_MISSING, attr=None):
        """Writes the operator's value of ``name`` under ``key`` unless it is None or the default:
        the value, not whether it was given, counts (a file may set `task.retries = 3` later)."""
        if name in self.mapped_names:
            return
        v = self.get(attr or name)
        if v is None:
            return
        if default is _MISSING:
            default = _KNOWN_DEFAULTS.get(name, _MISSING)
        if default is not _MISSING and (v is default or (
                isinstance(v, bool) == isinstance(default, bool) and _seconds(v) == default)):
            return
        try:
            self.table[key] = _convert(self.template_file(name, v), how)
        except (NotJson, _Problem) as e:
            self.problem("`%s` is %s, which TOML cannot hold" % (name, e))

    def template_file(self, name, v):
        """A templated field's strings that name a file of ``template_ext`` (at any depth of a
        dict, list or tuple, as Airflow's ``render_template`` recurses) are the files' text."""
        if self.exts is None:
            self.exts = tuple(self.get("template_ext") or ())
            self.fields = tuple(self.get("template_fields") or ()) if self.exts else ()
        if not self.exts or name not in self.fields:
            return v
        return self._read_templates(name, v, self.exts, 0)

    def _read_templates(self, name, v, exts, depth):
        if isinstance(v, str):
            return self._template_text(name, v) if v.endswith(exts) else v
        if depth > 20:
            return v
        if isinstance(v, dict):
            return {k: self._read_templates(name, x, exts, depth + 1) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(self._read_templates(name, x, exts, depth + 1) for x in v)
        return v

    def _template_text(self, name, v):
        folders = [os.path.dirname(self.d.path)]
        tsp = getattr(self.d.dag, "template_searchpath", None)
        if isinstance(tsp, str):
            tsp = [tsp]
        folders.extend(str(p) for p in (tsp or ()))
        for folder in folders:
            candidate = os.path.join(folder, v)
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8") as f:
                    return f.read()
        self.problem("`%s` names the template file %r, found neither beside the DAG file nor in "
                     "template_searchpath (Airflow fails the task with TemplateNotFound)" % (name, v), "warning")
        return v

    def fn_ref(self, key, name, attr=None):
        fn = self.get(name)
        if fn is None:
            return
        if not callable(fn):
            self.problem("`%s` is not callable" % name)
            return
        self.table[key] = self.d.ref(self.tid, attr or name)
        self.callables[name] = callable_info(fn)

    # -- the description ---------------------------------------------------------------------

    def describe(self):
        kind = self.kind
        t = self.table
        if not _ID.match(self.tid):
            self.problem("the task id is not a valid lithoflow id (^[A-Za-z0-9_.-]+$, at most 250 characters)")
        unsupported = kind == "unsupported" or bool(getattr(self.task, "_lithoflow_unsupported", False))
        if unsupported:
            kind = "unsupported"
        if kind.startswith("sensor:") or kind == "custom_sensor":
            t["type"] = "sensor"
            t["sensor"] = "python" if kind == "custom_sensor" else kind.split(":", 1)[1]
        else:
            t["type"] = {"branch": "branch", "short_circuit": "short_circuit", "bash": "bash", "empty": "empty",
                         "latest_only": "branch", "trigger_dag_run": "trigger_dag_run", "custom_branch": "branch",
                         "branch_virtualenv": "branch", "call_async": "call_async", "map": "map",
                         "map_reduce": "map_reduce"}.get(kind, "python")
        self.common()
        handler = {"python": self.python, "branch": self.python, "short_circuit": self.python,
                   "bash": self.bash, "empty": lambda: None, "latest_only": self.latest_only,
                   "trigger_dag_run": self.trigger, "virtualenv": self.virtualenv,
                   "branch_virtualenv": self.virtualenv, "taskflow_bash": self.taskflow_bash,
                   "call_async": self.lithops, "map": self.lithops, "map_reduce": self.lithops,
                   "custom": self.custom, "custom_sensor": self.custom, "custom_branch": self.custom,
                   "unsupported": self.unsupported}
        if t["type"] == "sensor" and kind != "custom_sensor":
            self.sensor(t["sensor"])
        else:
            handler.get(kind, self.custom)()
        if self.mapped:
            self.expand()
        upstream = sorted(_ids(getattr(self.task, "upstream_task_ids", ())))
        if upstream:
            t["upstream"] = upstream
        self.ignore()
        cls = type(self.task)
        info = {
            "line": self.line or 1,
            "operator": getattr(self.task, "_lithoflow_operator", None) or cls.__name__,
            "operator_module": getattr(self.task, "_lithoflow_operator_module", None) or cls.__module__,
            "unsupported": unsupported,
            "custom": kind in ("custom", "custom_sensor", "custom_branch"),
            "kind": kind,
            "ignored": self.ignored,
            "callables": self.callables,
        }
        return t, info

    def common(self):
        t = self.table
        # Read whether given or not: as_teardown() and decorators set it after construction.
        rule = self.get("trigger_rule", "all_success")
        rule = getattr(rule, "value", rule)
        rule = _RULE_ALIASES.get(rule, rule)
        if rule == "all_done_setup_success":
            # A teardown task (as_teardown, @teardown): Airflow's setup/teardown scoping
            # (clearing, a teardown's failure not failing the run) has no lithoflow equivalent.
            self.problem("a teardown task runs as trigger_rule all_done: lithoflow has no setup/"
                         "teardown scoping (its failure fails the run unless another leaf succeeds)",
                         "warning")
            rule = "all_done"
        if rule not in _TRIGGER_RULES:
            self.problem("trigger_rule %r is not one lithoflow knows" % (rule,))
        elif rule != "all_success":
            t["trigger_rule"] = rule
        for name, how in _COMMON_KEYS:
            if name == "max_active_tis_per_dag" and self.get(name) is None:
                self.put(name, "task_concurrency", how)
                continue
            self.put(name, name, how, _DEFAULTS.get(name, _MISSING))
        weight = t.get("weight_rule")
        if weight is not None and weight not in ("downstream", "upstream", "absolute"):
            self.problem("weight_rule %r: lithoflow has Airflow's weight rules downstream, upstream and "
                         "absolute" % (weight,))
            t.pop("weight_rule")
        for name in ("outlets", "inlets"):
            items = self.get(name) or []
            if not isinstance(items, (list, tuple)):
                items = [items]
            out = []
            for a in items:
                kind = _asset_kind(a)
                if kind == "one":
                    try:
                        out.append(_asset_uri(a))
                    except _Problem as e:
                        self.problem("%s: %s" % (name, e))
                elif kind == "alias":
                    self.problem("%s: asset aliases (AssetAlias, DatasetAlias) are not supported: the alias is "
                                 "dropped and no asset event is emitted through it" % name, "warning")
                elif kind is not None:
                    self.problem("%s holds %s, which only a schedule may hold" % (name, type(a).__name__))
                else:
                    self.problem("%s: a %s is not an Asset or Dataset; Airflow keeps it as lineage only, it "
                                 "is dropped" % (name, type(a).__name__), "warning")
            if out:
                t[name] = out
        for name in _CALLBACKS:
            fns = _callback_list(self.get(name))
            if fns:
                t[name] = [self.d.ref(self.tid, "%s_%d" % (name, i)) for i in range(len(fns))]
                for i, fn in enumerate(fns):
                    self.callables["%s_%d" % (name, i)] = callable_info(fn)
        if t["type"] in ("python", "branch", "short_circuit", "call_async", "map", "map_reduce") \
                and self.explicit is not None:
            for name, how in _EXECUTOR_KEYS:
                src = "config" if name == "lithops_config" and self.given("config") and not self.given(name) else name
                if self.given(src) and not (name == "timeout" and t["type"] not in ("call_async", "map", "map_reduce")):
                    self.put(name, src, how)

    def ignore(self):
        dag = self.d.dag
        if not self.explicit:
            return
        for name in sorted(self.explicit & _IGNORED_SET):
            if self.kind in ("virtualenv", "branch_virtualenv") and name in _VENV_ARGS:
                continue
            v = self.get(name)
            if v is None or v is False or v == [] or v == {} or _notset(v):
                continue
            if name in ("start_date", "end_date") and _same_instant(v, getattr(dag, name, None),
                                                                    (getattr(dag, "default_args", None) or {}).get(name)):
                continue
            if name == "params" and not _own_params(v, getattr(dag, "params", None)):
                continue
            self.ignored.append({"name": name, "line": self.line or 1})

    # -- arguments of the callables ----------------------------------------------------------------

    def split_args(self, args):
        """(JSON op_args, {position: task id}); NotJson/_Problem for what TOML cannot say."""
        plain, src = [], {}
        for i, a in enumerate(args):
            if _is_xcomarg(a):
                s = _xcom_source(a)
                if s is None or s[1] != "return_value":
                    raise _Problem("an XComArg other than a task's return value")
                src[str(i)] = s[0]
            else:
                plain.append(_templated(a))
        return plain, src

    def split_kwargs(self, kwargs):
        plain, src = {}, {}
        for k, a in kwargs.items():
            if not isinstance(k, str):
                raise NotJson("a keyword that is not a string")
            if _is_xcomarg(a):
                s = _xcom_source(a)
                if s is None or s[1] != "return_value":
                    raise _Problem("an XComArg other than a task's return value")
                src[k] = s[0]
            else:
                plain[k] = _templated(a)
        return plain, src

    def call_args(self, attr, live_ok=True):
        """The callable's reference and its op_args/op_kwargs (the ``call`` shim when they are not JSON)."""
        t = self.table
        fn = self.get("python_callable")
        if fn is not None:
            self.callables["python_callable"] = callable_info(fn)
        args = self.get("op_args") or []
        kwargs = self.get("op_kwargs") or {}
        mapped = self.mapped_names
        if "op_args" in mapped or not isinstance(args, (list, tuple)):
            args = []
        if "op_kwargs" in mapped or not isinstance(kwargs, dict):
            kwargs = {}
        # A mapped argument is given per instance, not fixed.
        kwargs = {k: v for k, v in kwargs.items() if k not in mapped}
        args = self.template_file("op_args", list(args))
        kwargs = self.template_file("op_kwargs", kwargs)
        try:
            op_args, args_from = self.split_args(list(args))
            op_kwargs, kwargs_from = self.split_kwargs(dict(kwargs))
        except (NotJson, _Problem, TypeError) as e:
            if not live_ok:
                self.problem("the callable's arguments hold %s, which TOML cannot hold" % e)
                t["python_callable"] = self.d.ref(self.tid, attr)
                return
            # The worker calls the callable with the live arguments (XComArgs resolved there).
            t["python_callable"] = self.d.ref(self.tid, "call")
            return
        t["python_callable"] = self.d.ref(self.tid, attr)
        if op_args:
            t["op_args"] = op_args
        if args_from:
            t["op_args_from_task"] = args_from
        if op_kwargs:
            t["op_kwargs"] = op_kwargs
        if kwargs_from:
            t["op_kwargs_from_task"] = kwargs_from

    def python(self):
        self.call_args("python_callable")
        self.put("templates_dict", "templates_dict", "table")
        self.put("show_return_value_in_logs", "show_return_value_in_logs", "bool", True)
        if self.kind == "short_circuit":
            self.put("ignore_downstream_trigger_rules", "ignore_downstream_trigger_rules", "bool", True)

    def virtualenv(self):
        self.call_args("virtualenv", live_ok=False)
        self.put("templates_dict", "templates_dict", "table")

    def taskflow_bash(self):
        self.call_args("taskflow_bash", live_ok=False)

    def latest_only(self):
        self.table["python_callable"] = self.d.ref(self.tid, "latest_only")

    def unsupported(self):
        self.table["python_callable"] = self.d.ref(self.tid, "unsupported")

    def bash(self):
        cmd = None if "bash_command" in self.mapped_names else self.template_file("bash_command", self.get("bash_command"))
        if cmd is None and "bash_command" not in self.mapped_names:
            self.problem("BashOperator without `bash_command`")
        elif cmd is not None:
            try:
                self.table["bash_command"] = _convert(cmd, "str")
            except (NotJson, _Problem) as e:
                self.problem("`bash_command` is %s" % e)
        self.put("env", "env", "table")
        self.put("append_env", "append_env", "bool", False)
        self.put("cwd", "cwd", "str")
        codes = self.get("skip_on_exit_code", self.get("skip_exit_code"))
        if codes is None:
            codes = []
        elif isinstance(codes, int) and not isinstance(codes, bool):
            codes = [codes]
        elif isinstance(codes, (list, tuple, set, frozenset)):
            codes = sorted(int(c) for c in codes) if isinstance(codes, (set, frozenset)) else [int(c) for c in codes]
        if isinstance(codes, list) and codes != [99]:
            self.table["skip_on_exit_code"] = codes

    def sensor(self, kind):
        for name, how in _SENSOR_COMMON:
            self.put(name, name, how, _SENSOR_DEFAULTS.get(name, _MISSING))
        if kind == "python":
            self.call_args("python_callable")
        for name, how in _SENSOR_OWN.get(kind, ()):
            v = self.get(name)
            if kind == "external_task" and name == "execution_delta" and isinstance(v, _dt.timedelta) \
                    and v < _dt.timedelta(0):
                self.problem("execution_delta is negative: lithoflow's execution_delta is a duration back "
                             "in time; compute the date with execution_date_fn")
                continue
            if kind == "external_task" and name == "external_task_ids" and self.table.get("external_task_id"):
                continue
            self.put(name, name, how, [] if name == "failed_states" else _MISSING)
        if kind == "external_task":
            self.fn_ref("execution_date_fn", "execution_date_fn")
        if kind == "time" and isinstance(self.table.get("target_time"), str):
            self.table["target_time"] = self.table["target_time"].split(".")[0][:8]

    def trigger(self):
        for name, how in _TRIGGER_KEYS:
            src = name
            if name == "logical_date" and self.get("logical_date") is None:
                src = "execution_date"
            self.put(name, src, how, ["failed"] if name == "failed_states" else _MISSING)
        if self.get("python_callable") is not None:
            self.problem("TriggerDagRunOperator's python_callable (Airflow 1.10) has no equivalent: pass "
                         "the payload as `conf`, and put a short_circuit task before the trigger")

    def lithops(self):
        """The Lithops plugin's operators, read from their attributes (the plugin's names and the
        README's are both accepted by the operator, which keeps one attribute for each)."""
        t = self.table
        kind = self.kind
        plain = lambda name, how, default=None: self.value(name, name, how, default)  # noqa: E731
        if kind == "call_async":
            self.fn_ref("func", "func")
            plain("data", "any", {})
            plain("data_from_task", "any", {})
        else:
            self.fn_ref("map_function", "map_function")
            plain("map_iterdata", "any")
            plain("iterdata_from_task", "any")
            self.value("extra_params", "extra_args" if self.get("extra_params") is None else "extra_params", "any")
            for name, how in _MAP_KEYS:
                plain(name, how, {"remote_invocation": False, "invoke_pool_threads": 500}.get(name))
            if kind == "map_reduce":
                self.fn_ref("reduce_function", "reduce_function")
                for name, how in _MAP_REDUCE_KEYS:
                    plain(name, how, False if how == "bool" else None)
        plain("async_invoke", "bool", False)
        plain("get_result", "bool", True)
        plain("clean_data", "bool", False)
        config = dict(self.get("lithops_config") or {})
        # The newer plugin's executor settings go into the task's lithops_config, as migrate writes them.
        for name, v in (self.get("_executor_params") or {}).items():
            if name in ("backend", "storage", "runtime", "remote_invoker") and v is not None:
                inner = config.get("lithops") if isinstance(config.get("lithops"), dict) else {}
                if name not in config and name not in inner:
                    config[name] = v
            elif name in ("type", "rabbitmq_monitor", "workers") and v is not None:
                self.ignored.append({"name": name, "line": self.line or 1})
        if config:
            try:
                t["lithops_config"] = to_json(config)
            except NotJson as e:
                self.problem("`lithops_config` is %s, which TOML cannot hold" % e)
        plain("extra_env", "table", {})
        plain("runtime_memory", "int")
        plain("timeout", "duration")
        plain("include_modules", "strs", [])
        plain("exclude_modules", "strs", [])

    def value(self, key, name, how, default=None):
        """Writes attribute ``name`` under ``key`` when it is set and not ``default``."""
        v = self.get(name)
        if v is None or v == default and type(v) is type(default):
            return
        try:
            self.table[key] = _convert(v, how)
        except (NotJson, _Problem) as e:
            self.problem("`%s` is %s, which TOML cannot hold" % (name, e))

    def custom(self):
        """A user-written operator or sensor: its JSON template fields go to the worker, which sets
        them on the live operator and calls execute/poke."""
        fields = {}
        for name in tuple(self.get("template_fields") or ()):
            v = self.get(name)
            try:
                fields[name] = _templated(self.template_file(name, v))
            except (NotJson, _Problem):
                continue
        attr = "poke" if self.kind == "custom_sensor" else "execute"
        self.table["python_callable"] = self.d.ref(self.tid, attr)
        self.table["op_args"] = [fields]
        if self.kind == "custom_sensor":
            for name, how in _SENSOR_COMMON:
                self.put(name, name, how, _SENSOR_DEFAULTS.get(name, _MISSING))

    # -- dynamic task mapping ------------------------------------------------------------------------

    def expand(self):
        t = self.table
        m = self.mapped
        if t["type"] not in ("python", "bash", "call_async"):
            self.problem("mapping a %s task (.partial().expand()) is not supported: lithoflow maps python, "
                         "bash and call_async tasks" % t["type"])
            return
        exp = m.get("expand") or {}
        if exp:
            out = {}
            for name, v in exp.items():
                try:
                    out[str(name)] = self.map_source(v)
                except (NotJson, _Problem) as e:
                    self.problem("expand `%s`: %s" % (name, e))
            t["expand"] = out
            # A mapped argument is not also a fixed one.
            kw = t.get("op_kwargs")
            if isinstance(kw, dict):
                for name in out:
                    kw.pop(name, None)
                if not kw:
                    t.pop("op_kwargs")
            if "op_args" in out:
                t.pop("op_args", None)
        ek = m.get("expand_kwargs")
        if ek is not None:
            try:
                t["expand_kwargs"] = self.map_source(ek, kwargs=True)
            except (NotJson, _Problem) as e:
                self.problem("expand_kwargs: %s" % e)

    def map_source(self, v, kwargs=False):
        if _is_xcomarg(v):
            s = _xcom_source(v)
            if s is None:
                raise _Problem("a derived XComArg (.map/.zip/.concat) is not supported")
            if s[1] != "return_value":
                raise _Problem("an XComArg of key %r (lithoflow maps over a task's return value)" % s[1])
            return s[0]
        if isinstance(v, dict) and not kwargs:
            return [[to_json(k), _templated(x)] for k, x in v.items()]
        if isinstance(v, (list, tuple)):
            items = [_templated(x) for x in v]
            if kwargs and not all(isinstance(x, dict) for x in items):
                raise _Problem("each element of expand_kwargs must be a dict of arguments")
            return items
        raise _Problem("a %s (Airflow maps over a list, a dict or a task's result)" % type(v).__name__)


def _own_params(task_params, dag_params):
    """Whether a task's params hold more than the DAG's (Airflow merges the DAG's into them)."""
    try:
        tk = set(task_params.keys())
        dk = set(dag_params.keys()) if dag_params is not None else set()
    except Exception:  # noqa: BLE001
        return bool(task_params)
    return bool(tk - dk)


def _same_instant(v, *others):
    """Whether the datetime ``v`` is one of ``others`` (a naive one read in UTC)."""
    def utc(d):
        if isinstance(d, _dt.datetime) and (d.tzinfo is None or d.utcoffset() is None):
            return d.replace(tzinfo=_dt.timezone.utc)
        return d
    try:
        return any(o is not None and utc(v) == utc(o) for o in others)
    except TypeError:
        return False
