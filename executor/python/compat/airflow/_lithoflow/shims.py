"""The callables a worker runs for the tasks of Airflow DAG files (.py).

A task of a `.py` DAG names ``lithoflow_dagfile_<hex>:t_<hex dag_id>_<hex task_id>_<attr>``
(``lithoflow_dagfiles.py`` imports the DAG file and asks :func:`shim` for the callable of
``attr`` of the live task); the DAG's callbacks are ``d_<hex dag_id>_<attr>``. Each ``attr``:

- ``python_callable``: the task's callable, with its own signature (``__wrapped__``), so the
  runtime's Airflow binding passes only the context names it takes; the context gets the
  live ``dag`` and ``task`` (and ``ti.task``), as Airflow's does.
- ``call``: a PythonOperator whose ``op_args``/``op_kwargs`` are not JSON: the callable with
  the live ones (XComArgs in them pulled), bound as Airflow's ``KeywordParameters.determine``.
- ``execute``: a user ``BaseOperator`` subclass, called as ``f(fields, **context)``: the
  rendered template fields set on a copy of the operator (Airflow's
  ``prepare_for_execution``), then ``pre_execute``, ``execute(context)``, ``post_execute``.
- ``poke``: a user ``BaseSensorOperator`` subclass: ``f(fields, **context)`` ->
  ``poke(context)``.
- ``virtualenv``: PythonVirtualenvOperator, ExternalPythonOperator, ``@task.virtualenv``,
  ``@task.external_python`` and their branch forms: the callable's source runs in a cached
  virtual environment (or the given interpreter); arguments and result travel as JSON
  (``lithoflow_venv.py``, beside ``lithoflow_dagfiles.py`` in the compatibility folder).
- ``taskflow_bash``: ``@task.bash``: the function's returned command runs with bash.
- ``latest_only``: LatestOnlyOperator as a branch callable.
- ``unsupported``: a provider operator lithoflow does not implement: fails saying so.
- ``func``, ``map_function``, ``reduce_function``: the raw callable (Lithops' binding).
- ``execution_date_fn``: ExternalTaskSensor's, called as Airflow calls it (a datetime in,
  datetimes out as ISO 8601 text for the scheduler).
- ``on_<event>_callback_<i>``: the i-th callback, its context with the live ``dag``/``task``.

The helpers :func:`run_bash` and :func:`call_python` are what Airflow's ``BashOperator.execute``
and ``PythonOperator.execute`` do, for operator classes whose ``execute`` a user subclass calls
through ``super()``. Rendering templates happens in the scheduler, before the call:
``render_template_fields`` and ``render_template`` called by user code change nothing.
"""

import copy
import datetime
import functools
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile

_COMPAT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CALLBACK = re.compile(r"^(on_(?:execute|success|failure|retry|skipped)_callback|sla_miss_callback)_(\d+)$")
RAW_CALLABLES = ("func", "map_function", "reduce_function")
_MISSING = object()


# --- exceptions --------------------------------------------------------------------------

_FALLBACK = None


def fallback_exceptions():
    """Airflow's exception classes, by name, when the package's own cannot be imported (the
    engine keys on the class names)."""
    global _FALLBACK
    if _FALLBACK is None:
        import types

        class AirflowException(Exception):
            pass

        class AirflowSkipException(AirflowException):
            pass

        class AirflowFailException(AirflowException):
            pass

        _FALLBACK = types.SimpleNamespace(
            AirflowException=AirflowException,
            AirflowSkipException=AirflowSkipException,
            AirflowFailException=AirflowFailException,
        )
    return _FALLBACK


def _exc(name):
    try:
        import airflow.exceptions as exceptions

        cls = getattr(exceptions, name, None)
        if cls is not None:
            return cls
    except Exception:  # noqa: BLE001 -- the package is incomplete
        pass
    return getattr(fallback_exceptions(), name)


# --- the task's arguments and the context ------------------------------------------------


def arg(task, name, default=None):
    """An operator argument: the attribute, else (a ``.partial().expand()`` task) its partial
    arguments (Airflow's ``MappedOperator.partial_kwargs``, lithoflow's
    ``_lithoflow_mapped["partial"]``)."""
    try:
        value = getattr(task, name)
    except AttributeError:
        value = _MISSING
    if value is not _MISSING:
        return value
    for holder in (getattr(task, "partial_kwargs", None), (getattr(task, "_lithoflow_mapped", None) or {}).get("partial")):
        if isinstance(holder, dict) and name in holder:
            return holder[name]
    return default


def _lithoflow():
    mod = sys.modules.get("lithoflow")
    if mod is None:
        try:
            import lithoflow as mod
        except ImportError:
            return None
    return mod


def current_context(fallback=None):
    """The running call's context dict (``lithoflow.get_current_context()``: the same object
    the runtime bound the callable's arguments from), else `fallback`."""
    lf = _lithoflow()
    if lf is not None and getattr(lf, "_call", None) is not None:
        return lf.get_current_context()
    return fallback if fallback is not None else {}


def _conf():
    try:
        from airflow.configuration import conf
    except Exception:  # noqa: BLE001 -- not in the package (yet)
        return None
    return conf


def live_context(ctx, dag, task):
    """Puts the live ``dag`` and ``task`` in the context (and ``ti.task``), as Airflow's
    context has them; returns the values they replaced."""
    old = {"dag": ctx.get("dag"), "task": ctx.get("task")}
    ctx["dag"] = dag
    if task is not None:
        ctx["task"] = task
        for key in ("ti", "task_instance"):
            ti = ctx.get(key)
            if ti is not None:
                try:
                    ti.task = task
                except Exception:  # noqa: BLE001 -- a read-only ti keeps its task
                    pass
                if not hasattr(ti, "render_templates"):
                    try:
                        ti.render_templates = lambda *a, **k: task
                    except Exception:  # noqa: BLE001
                        pass
    if "conf" not in ctx:
        conf = _conf()
        if conf is not None:
            ctx["conf"] = conf
    return old


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _complete(fn, args, kwargs, ctx, old):
    """The runtime bound `fn`'s arguments from the context before the live objects were in
    it: the ones it bound from the old values get the live ones, and context names added
    since (``dag``, ``task``, ``conf``, ``templates_dict``) are bound as the runtime would."""
    for key, before in old.items():
        if before is not None and kwargs.get(key, _MISSING) is before:
            kwargs[key] = ctx[key]
    sig = _signature(fn)
    if sig is None:
        return kwargs
    params = sig.parameters
    positional = set(list(params)[: len(args)])
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        for key, value in ctx.items():
            if key not in kwargs and key not in positional:
                kwargs[key] = value
        return kwargs
    for name, p in params.items():
        if (
            name not in kwargs
            and name not in positional
            and name in ctx
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ):
            kwargs[name] = ctx[name]
    return kwargs


def determine_kwargs(fn, args, context):
    """Airflow's ``KeywordParameters.determine`` (airflow/utils/operator_helpers.py): a
    function taking ``**kwargs`` gets the whole context, any other the names it takes; a
    context name taken by a positional argument is an error."""
    sig = _signature(fn)
    if sig is None:
        return dict(context)
    for name in list(sig.parameters)[: len(args)]:
        if name in context:
            raise ValueError(f"The key {name!r} in args is a part of kwargs and therefore reserved.")
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(context)
    return {k: context[k] for k in sig.parameters if k in context}


def _is_xcom_arg(value):
    return type(value).__name__.endswith("XComArg") and (
        hasattr(value, "operator") or hasattr(value, "callables") or hasattr(value, "args")
    )


def _resolve_xcom_arg(value, ctx):
    """Airflow 2.10's ``resolve`` of a PlainXComArg (the value pulled from this run), a
    MapXComArg (``.map(f)``), a ZipXComArg (``.zip(...)``) and a ConcatXComArg (``.concat``)."""
    import itertools

    name = type(value).__name__
    if hasattr(value, "operator"):
        ti = ctx.get("ti")
        if ti is None:
            raise _exc("AirflowException")("an XComArg needs the task instance of a running task")
        return ti.xcom_pull(task_ids=value.operator.task_id, key=getattr(value, "key", "return_value"))
    if name == "MapXComArg":
        items = _resolve_xcom_arg(value.arg, ctx)
        for f in value.callables:
            items = [f(v) for v in items] if isinstance(items, (list, tuple)) else \
                {k: f(v) for k, v in items.items()}
        return items
    parts = [_resolve_xcom_arg(a, ctx) for a in value.args]
    if name == "ZipXComArg":
        fill = getattr(value, "fillvalue", _MISSING)
        if fill is _MISSING or type(fill).__name__ == "ArgNotSet":
            return [list(t) for t in zip(*parts)]
        return [list(t) for t in itertools.zip_longest(*parts, fillvalue=fill)]
    return [v for part in parts for v in part]


def resolve_xcom_args(value, ctx):
    """`value` with each XComArg (``task.output``, a ``@task``'s result) replaced by the
    value it stands for, pulled from this run (Airflow's ``XComArg.resolve``)."""
    if _is_xcom_arg(value):
        return _resolve_xcom_arg(value, ctx)
    if isinstance(value, list):
        return [resolve_xcom_args(v, ctx) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_xcom_args(v, ctx) for v in value)
    if isinstance(value, dict):
        return {k: resolve_xcom_args(v, ctx) for k, v in value.items()}
    return value


def _has_xcom_arg(value):
    if _is_xcom_arg(value):
        return True
    if isinstance(value, dict):
        return any(_has_xcom_arg(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_xcom_arg(v) for v in value)
    return False


def _native(live, rendered, ctx):
    """The rendered value, with each place where the live value holds an XComArg given the
    value it resolves to: Airflow resolves an XComArg in a templated field to the value
    itself (a list stays a list), where the scheduler rendered a template to text."""
    if _is_xcom_arg(live):
        # Text is what a template rendered to; any other value came as the value itself.
        return _resolve_xcom_arg(live, ctx) if isinstance(rendered, str) else rendered
    if isinstance(live, dict) and isinstance(rendered, dict):
        return {k: _native(live[k], v, ctx) if k in live else v for k, v in rendered.items()}
    if isinstance(live, (list, tuple)) and isinstance(rendered, list) and len(live) == len(rendered):
        out = [_native(a, b, ctx) for a, b in zip(live, rendered)]
        return tuple(out) if isinstance(live, tuple) else out
    return rendered


def _wraps(run, fn):
    """`run` with `fn`'s name, docs and signature (``__wrapped__``)."""
    functools.update_wrapper(run, fn)
    run.__wrapped__ = fn
    return run


# --- python_callable, call ---------------------------------------------------------------


def run_callable(fn, args, kwargs, ctx):
    """Airflow 2.10's ``ExecutionCallableRunner.run``: a generator function is run to its
    end, each ``Metadata`` it yields adding its extra to the outlet event of its asset; the
    value is what the generator returns. Any other function is simply called."""
    if not inspect.isgeneratorfunction(fn):
        return fn(*args, **kwargs)
    result = None

    def _run():
        nonlocal result
        result = yield from fn(*args, **kwargs)

    for item in _run():
        if type(item).__name__ == "Metadata" and hasattr(item, "uri") and hasattr(item, "extra"):
            events = ctx.get("outlet_events")
            if events is not None:
                events[item.uri].extra.update(item.extra or {})
            if getattr(item, "alias_name", None):
                print("Ignoring the asset alias %r of a yielded Metadata: lithoflow has no asset aliases"
                      % item.alias_name)
            continue
        print("Ignoring unknown data of %r received from task" % type(item))
    return result


def run_around(task, ctx, call):
    """Airflow's order around an operator's ``execute``: ``pre_execute(context)`` (its
    ``pre_execute=`` hook; ``@task.run_if``/``@task.skip_if`` skip there), the call,
    ``post_execute(context, result)``."""
    pre = getattr(task, "pre_execute", None)
    if callable(pre):
        pre(context=ctx)
    result = call()
    post = getattr(task, "post_execute", None)
    if callable(post):
        post(context=ctx, result=result)
    return result


def native_args(task, args, kwargs, ctx):
    """The call's arguments with the XComArgs nested in the live ``op_args``/``op_kwargs``
    given their values, where the scheduler rendered their templates to text (a mapped
    task's arguments are the scheduler's, one map index's)."""
    if getattr(task, "_lithoflow_mapped", None):
        return args, kwargs
    live_args = arg(task, "op_args") or ()
    if _has_xcom_arg(live_args):
        args = tuple(_native(list(live_args), list(args), ctx)) if len(live_args) == len(args) else args
    live_kwargs = arg(task, "op_kwargs") or {}
    for key, live in live_kwargs.items():
        if key in kwargs and _has_xcom_arg(live):
            kwargs[key] = _native(live, kwargs[key], ctx)
    return args, kwargs


def _asset_named(dag, name):
    """The Asset of that name among the outlets of the tasks of the DAG file's DAGs
    (Airflow asks its database), else an Asset of that name."""
    dags = getattr(dag, "_lithoflow_file_dags", None) or {getattr(dag, "dag_id", None): dag}
    for d in [dag] + [d for d in dags.values() if d is not dag]:
        for t in getattr(d, "task_dict", {}).values():
            for a in getattr(t, "outlets", None) or ():
                if getattr(a, "name", None) == name and getattr(a, "uri", None):
                    return a
    from airflow.datasets import Asset

    return Asset(name=name)


def asset_kwargs(fn, task, dag, ctx):
    """Airflow 3's ``_AssetMainOperator.determine_kwargs`` (an ``@asset`` function): a
    parameter with a default gets it, ``self`` the asset the function makes, ``context``
    the context, any other the asset of that name."""
    out = {}
    sig = _signature(fn)
    for key, param in (sig.parameters.items() if sig is not None else ()):
        if param.default is not inspect.Parameter.empty:
            out[key] = param.default
        elif key == "self":
            out[key] = _asset_named(dag, getattr(task, "_definition_name", None) or task.task_id)
        elif key == "context":
            out[key] = ctx
        else:
            out[key] = _asset_named(dag, key)
    return out


def python_callable(dag, task):
    fn = arg(task, "python_callable")
    if not callable(fn):
        raise LookupError("task %r has no python_callable" % task.task_id)
    is_asset = getattr(type(task), "custom_operator_name", None) == "@asset"

    def run(*args, **kwargs):
        ctx = current_context()
        if is_asset:
            live_context(ctx, dag, task)
            kw = asset_kwargs(fn, task, dag, ctx)
            return run_around(task, ctx, lambda: run_callable(fn, (), kw, ctx))
        args, kwargs = native_args(task, args, kwargs, ctx)
        old = live_context(ctx, dag, task)
        ctx.setdefault("templates_dict", None)
        # Airflow's PythonOperator.execute merges op_kwargs into the context
        # (context_merge), so get_current_context() has them too.
        for key in arg(task, "op_kwargs") or ():
            if key in kwargs:
                ctx[key] = kwargs[key]
        kwargs = _complete(fn, args, kwargs, ctx, old)
        return run_around(task, ctx, lambda: run_callable(fn, args, kwargs, ctx))

    return _wraps(run, fn)


def call_python(fn, op_args, op_kwargs, context):
    """Airflow 2.10's ``PythonOperator.execute``/``execute_callable``: ``op_kwargs`` merged
    into the context, the callable given the context names it takes."""
    merged = dict(context)
    merged.update(op_kwargs or {})
    op_args = list(op_args or [])
    return run_callable(fn, op_args, determine_kwargs(fn, op_args, merged), context)


def call(dag, task):
    fn = arg(task, "python_callable")
    if not callable(fn):
        raise LookupError("task %r has no python_callable" % task.task_id)

    def run(**context):
        ctx = current_context(context)
        # The op_kwargs entries the scheduler passed (those JSON holds, rendered) win over
        # the live ones, whose templates nobody rendered; a context value is not one.
        rendered = {k: v for k, v in context.items() if k not in ctx or v is not ctx[k]}
        live_context(ctx, dag, task)
        ctx.setdefault("templates_dict", context.get("templates_dict"))
        op_args = resolve_xcom_args(list(arg(task, "op_args") or []), ctx)
        op_kwargs = resolve_xcom_args(dict(arg(task, "op_kwargs") or {}), ctx)
        for key in op_kwargs:
            if key in rendered:
                op_kwargs[key] = _native(arg(task, "op_kwargs")[key], rendered[key], ctx)
        return run_around(task, ctx, lambda: call_python(fn, op_args, op_kwargs, ctx))

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "call")
    return run


# --- user operators and sensors ----------------------------------------------------------


def _no_render(*args, **kwargs):
    """Templates are rendered by the scheduler before the call; nothing is left to render."""
    return None


def prepare(task):
    """A copy of the operator for this try (Airflow's ``prepare_for_execution``), so what a
    try sets on it does not outlive the try in a warm worker."""
    try:
        prepared = getattr(task, "prepare_for_execution", None)
        op = prepared() if callable(prepared) else copy.copy(task)
    except Exception:  # noqa: BLE001 -- an operator that cannot be copied runs as it is
        op = task
    try:
        op.render_template_fields = _no_render
        op.render_template = lambda content, *args, **kwargs: content
    except Exception:  # noqa: BLE001
        pass
    return op


def _set_fields(op, fields, ctx, given=None):
    """Sets the rendered template fields on the operator; `given` are the call's keyword
    arguments, where a mapped task's expanded values for this map index come."""
    fields = fields if isinstance(fields, dict) else {}
    for name, value in fields.items():
        live = getattr(op, name, None)
        if _has_xcom_arg(live):
            value = _native(live, value, ctx)
        setattr(op, name, value)
    mapped = getattr(op, "_lithoflow_mapped", None) or {}
    for name in mapped.get("expand") or ():
        if given is not None and name in given:
            setattr(op, name, given[name])
    # A templated field that stayed out of `fields` (not JSON) keeps its live value, its
    # XComArgs pulled as Airflow's rendering resolves them; a mapped task's mapped values
    # are the scheduler's to give (one per map index).
    if mapped.get("expand_kwargs") is not None:
        return
    expanded = set(mapped.get("expand") or ())
    for name in getattr(op, "template_fields", ()) or ():
        if name in fields or name in expanded:
            continue
        value = getattr(op, name, None)
        try:
            resolved = resolve_xcom_args(value, ctx)
        except Exception:  # noqa: BLE001 -- left as it is
            continue
        if resolved is not value:
            try:
                setattr(op, name, resolved)
            except Exception:  # noqa: BLE001
                pass


def _defined_by_airflow(cls, name):
    for base in cls.__mro__:
        if name in base.__dict__:
            return (base.__module__ or "").startswith("airflow.")
    return True


def execute(dag, task):
    def run(fields, **context):
        ctx = current_context(context)
        op = prepare(task)
        live_context(ctx, dag, op)
        _set_fields(op, fields, ctx, context)
        choose = getattr(op, "choose_branch", None)

        def call():
            try:
                if callable(choose) and _defined_by_airflow(type(op), "execute"):
                    # A BaseBranchOperator subclass: Airflow's execute follows choose_branch.
                    return choose(ctx)
                return run_callable(op.execute, (ctx,), {}, ctx)
            except BaseException as e:  # TaskDeferred is a BaseException, as in Airflow
                _no_deferral(op, e)
                raise

        result = run_around(op, ctx, call)
        if not getattr(op, "do_xcom_push", True):
            return None
        return result

    run.__name__ = run.__qualname__ = "execute"
    return run


def _no_deferral(op, exc):
    """An operator that defers (``self.defer(...)``, Airflow's ``TaskDeferred``) needs
    Airflow's triggerer, which lithoflow does not have: fail saying so."""
    if type(exc).__name__ == "TaskDeferred":
        raise _exc("AirflowException")(
            "%s deferred itself (self.defer(...)): deferrable operators need Airflow's triggerer, "
            "which lithoflow does not have; run it with deferrable=False (a sensor: mode='reschedule')"
            % type(op).__name__
        ) from None


def poke(dag, task):
    def run(fields, **context):
        ctx = current_context(context)
        op = prepare(task)
        live_context(ctx, dag, op)
        _set_fields(op, fields, ctx, context)
        try:
            return op.poke(ctx)
        except BaseException as e:  # TaskDeferred is a BaseException, as in Airflow
            _no_deferral(op, e)
            raise

    run.__name__ = run.__qualname__ = "poke"
    return run


# --- bash --------------------------------------------------------------------------------


def airflow_ctx_env(context):
    """Airflow's ``context_to_airflow_vars(context, in_env_var_format=True)``."""
    env = {}
    dag = context.get("dag")
    task = context.get("task")
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    owner = getattr(task, "owner", None)
    email = getattr(task, "email", None)
    values = {
        "AIRFLOW_CTX_DAG_OWNER": owner,
        "AIRFLOW_CTX_DAG_ID": getattr(dag, "dag_id", None),
        "AIRFLOW_CTX_TASK_ID": getattr(task, "task_id", None),
        "AIRFLOW_CTX_EXECUTION_DATE": context.get("logical_date") or getattr(dag_run, "logical_date", None),
        "AIRFLOW_CTX_TRY_NUMBER": getattr(ti, "try_number", None),
        "AIRFLOW_CTX_DAG_RUN_ID": getattr(dag_run, "run_id", None) or context.get("run_id"),
        "AIRFLOW_CTX_DAG_EMAIL": email,
    }
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            env[key] = value.isoformat()
        elif isinstance(value, (list, tuple)):
            env[key] = ",".join(map(str, value))
        else:
            env[key] = str(value)
    return env


def _kill(proc):
    try:
        proc.kill()
        proc.wait()
    except Exception:  # noqa: BLE001 -- gone already
        pass


def _stream(cmd, env, cwd, encoding="utf-8"):
    """Runs `cmd` (Airflow's ``SubprocessHook.run_command``), its stdout and stderr together
    printed line by line (the task's log); returns (exit code, last line). Unlike Airflow it
    stays in the worker's process group (no ``setsid``), so a try stopped by its timeout or
    cancelled, which kills that group, stops the command and what it started too."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=cwd, env=env,
    )
    line = ""
    try:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(encoding, errors="backslashreplace").rstrip()
            sys.stdout.write(line + "\n")
        proc.wait()
    except BaseException:
        _kill(proc)
        raise
    finally:
        proc.stdout.close()
    return proc.returncode, line


def _exit_codes(value, default):
    if value is None:
        return list(default)
    if isinstance(value, int):
        return [value]
    try:
        return list(value)
    except TypeError:
        return list(default)


def run_bash(command, context, env=None, append_env=False, cwd=None, skip_on_exit_code=99,
             output_encoding="utf-8"):
    """Airflow 2.10's ``BashOperator.execute``: ``bash -c command`` (in a temporary folder
    when `cwd` is None), the environment ``env`` (the worker's when None; added to it with
    `append_env`) and the ``AIRFLOW_CTX_*`` variables; the last line of output is the value;
    an exit code in `skip_on_exit_code` skips, any other non-zero one fails."""
    bash = shutil.which("bash") or "bash"
    if cwd is not None:
        if not os.path.exists(cwd):
            raise _exc("AirflowException")(f"Can not find the cwd: {cwd}")
        if not os.path.isdir(cwd):
            raise _exc("AirflowException")(f"The cwd {cwd} must be a directory")
    system_env = dict(os.environ)
    if env is None:
        full_env = system_env
    elif append_env:
        system_env.update(env)
        full_env = system_env
    else:
        full_env = dict(env)
    full_env.update(airflow_ctx_env(context))
    full_env = {str(k): str(v) for k, v in full_env.items()}
    if cwd is None:
        with tempfile.TemporaryDirectory(prefix="airflowtmp") as tmp:
            code, line = _stream([bash, "-c", command], full_env, tmp, output_encoding)
    else:
        code, line = _stream([bash, "-c", command], full_env, cwd, output_encoding)
    if code in _exit_codes(skip_on_exit_code, [99]):
        raise _exc("AirflowSkipException")(f"Bash command returned exit code {code}. Skipping.")
    if code != 0:
        raise _exc("AirflowException")(
            f"Bash command failed. The command returned a non-zero exit code {code}."
        )
    return line


def taskflow_bash(dag, task):
    fn = arg(task, "python_callable")
    if not callable(fn):
        raise LookupError("task %r has no python_callable" % task.task_id)

    def run(*args, **kwargs):
        ctx = current_context()
        args, kwargs = native_args(task, args, kwargs, ctx)
        old = live_context(ctx, dag, task)
        kwargs = _complete(fn, args, kwargs, ctx, old)

        def call():
            command = fn(*args, **kwargs)
            if not isinstance(command, str) or command.strip() == "":
                raise TypeError("The returned value from the TaskFlow callable must be a non-empty string.")
            return run_bash(
                command, ctx,
                env=arg(task, "env"),
                append_env=bool(arg(task, "append_env", False)),
                cwd=arg(task, "cwd"),
                skip_on_exit_code=arg(task, "skip_on_exit_code", 99),
                output_encoding=arg(task, "output_encoding", "utf-8") or "utf-8",
            )

        result = run_around(task, ctx, call)
        if not getattr(task, "do_xcom_push", True):
            return None
        return result

    return _wraps(run, fn)


# --- LatestOnlyOperator ------------------------------------------------------------------


def _as_datetime(value):
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, str):
        try:
            d = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d if d.tzinfo else d.replace(tzinfo=datetime.timezone.utc)
    return None


def latest_window(ctx):
    """The next run's data interval ``(left, right]`` Airflow 2.10's LatestOnlyOperator
    compares the clock with (``dag.next_dagrun_info(dag.get_run_data_interval(dag_run))``),
    approximated from this run: after an interval ``[start, end)`` the next one is taken as
    ``[end, end + (end - start))`` (exact for ``timedelta`` schedules and regular crons);
    with a zero-length interval (``cron_trigger``), the window runs to the next tick
    (``next_execution_date``). None when no run follows."""
    dag_run = ctx.get("dag_run")
    start = _as_datetime(ctx.get("data_interval_start") or getattr(dag_run, "data_interval_start", None))
    end = _as_datetime(ctx.get("data_interval_end") or getattr(dag_run, "data_interval_end", None))
    if start is None or end is None:
        return None
    if end > start:
        return end, end + (end - start)
    nxt = _as_datetime(ctx.get("next_execution_date"))
    if nxt is None or nxt <= end:
        return None
    return end, nxt


def latest_only(dag, task):
    def run(**context):
        ctx = current_context(context)
        live_context(ctx, dag, task)
        everything = sorted(task.downstream_task_ids)
        dag_run = ctx.get("dag_run")
        run_type = getattr(dag_run, "run_type", None) or ctx.get("run_type")
        if run_type == "manual" or getattr(dag_run, "external_trigger", False) is True:
            print("Externally triggered DAG_Run: allowing execution to proceed.")
            return everything
        # An asset-triggered run's timetable has no next interval (Airflow's
        # DatasetTriggeredTimetable.next_dagrun_info is None): it proceeds.
        window = None if run_type in ("asset_triggered", "dataset_triggered") else latest_window(ctx)
        if window is None:
            print("Last scheduled execution: allowing execution to proceed.")
            return everything
        left, right = window
        now = datetime.datetime.now(datetime.timezone.utc)
        print("Checking latest only with left_window: %s right_window: %s now: %s" % (left, right, now))
        if not left < now <= right:
            print("Not latest execution, skipping downstream.")
            return []
        print("Latest, allowing execution to proceed.")
        return everything

    run.__name__ = run.__qualname__ = "latest_only"
    return run


# --- ExternalTaskSensor's execution_date_fn ----------------------------------------------


def _iso(value):
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).isoformat()
    return value


def execution_date_fn(dag, task):
    """Airflow 2.10's ``ExternalTaskSensor._handle_execution_date_fn``: the function gets the
    logical date (a datetime) and the context names it takes (``context`` too, the whole
    context; never ``logical_date``/``execution_date`` again); the scheduler passes the
    logical date as text and reads back text, so datetimes returned become ISO 8601."""
    fn = arg(task, "execution_date_fn")
    if not callable(fn):
        raise LookupError("task %r has no callable execution_date_fn" % task.task_id)

    def run(given=None, /, **context):
        ctx = current_context(context)
        live_context(ctx, dag, task)
        when = _as_datetime(given) or given
        if isinstance(ctx.get("logical_date"), datetime.datetime) and ctx["logical_date"] == when:
            when = ctx["logical_date"]  # the context's own object (pendulum's when installed)
        kwargs = {k: v for k, v in ctx.items() if k not in ("execution_date", "logical_date")}
        kwargs["context"] = ctx
        value = fn(when, **determine_kwargs(fn, [when], kwargs))
        if isinstance(value, (list, tuple)):
            return [_iso(v) for v in value]
        return _iso(value)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "execution_date_fn")
    return run


# --- unsupported operators ---------------------------------------------------------------


def unsupported(dag, task):
    cls = type(task)
    name = getattr(task, "_lithoflow_operator", None) or getattr(cls, "custom_operator_name", None) or cls.__name__
    module = getattr(task, "_lithoflow_operator_module", None) or cls.__module__
    message = (
        "%s (from %s) is a provider operator lithoflow does not implement; this DAG needs it: "
        "keep the DAG on Airflow or replace the task" % (name, module)
    )

    def run(*args, **kwargs):
        raise _exc("AirflowException")(message)

    run.__name__ = run.__qualname__ = "unsupported"
    return run


# --- callbacks ---------------------------------------------------------------------------


def _callbacks(holder, name):
    value = arg(holder, name) if holder is not None else None
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def callback(dag, task, name, index):
    found = _callbacks(task if task is not None else dag, name)
    if index >= len(found) or not callable(found[index]):
        owner = "task %r" % task.task_id if task is not None else "DAG %r" % dag.dag_id
        raise LookupError("%s has no %s number %d (it has %d)" % (owner, name, index, len(found)))
    fn = found[index]

    def run(context=None, *args, **kwargs):
        ctx = context if isinstance(context, dict) else current_context()
        live = task
        if live is None:
            # A DAG callback's context is that of a task instance of the run (Airflow's
            # DagRun.handle_dag_callback): its live task, when the context names one.
            tid = getattr(ctx.get("task"), "task_id", None) or ctx.get("task_id")
            live = dag.task_dict.get(tid) if isinstance(tid, str) else None
        live_context(ctx, dag, live)
        return fn(ctx, *args, **kwargs)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", name)
    return run


# --- the dispatcher ----------------------------------------------------------------------


def shim(dag, task, attr):
    """The callable for `attr` of `task` (or with `task` None, of `dag`); LookupError when
    there is none."""
    m = _CALLBACK.match(attr)
    if m is not None:
        return callback(dag, task, m.group(1), int(m.group(2)))
    if task is None:
        raise LookupError("DAG %r has no callable %r" % (dag.dag_id, attr))
    if attr in _TASK_SHIMS:
        return _TASK_SHIMS[attr](dag, task)
    if attr in RAW_CALLABLES:
        fn = arg(task, attr)
        if not callable(fn):
            raise LookupError("task %r has no callable %s" % (task.task_id, attr))
        return fn
    raise LookupError("lithoflow has no callable %r for task %r" % (attr, task.task_id))


def _virtualenv(dag, task):
    import lithoflow_venv

    return lithoflow_venv.virtualenv(dag, task)


_TASK_SHIMS = {
    "python_callable": python_callable,
    "call": call,
    "execute": execute,
    "poke": poke,
    "virtualenv": _virtualenv,
    "taskflow_bash": taskflow_bash,
    "latest_only": latest_only,
    "execution_date_fn": execution_date_fn,
    "unsupported": unsupported,
}
