"""PythonVirtualenvOperator, ExternalPythonOperator, ``@task.virtualenv``,
``@task.external_python`` and their branch forms on the worker: the ``virtualenv`` callable
of ``airflow/_lithoflow/shims.py`` (docs/airflow-runtime.md, "Tasks of Airflow DAG files on
the worker").

The function's source runs in a script (Airflow 2.10's ``python_virtualenv_script.jinja2``)
by the interpreter of a cached virtual environment made per requirement set (``python -m
venv`` and pip, under a file lock), or by the interpreter ExternalPythonOperator names.
Arguments and value travel as JSON, where Airflow pickles them.
"""

import ast
import datetime
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from airflow._lithoflow.shims import (
    _complete,
    _exc,
    _exit_codes,
    _signature,
    _stream,
    _wraps,
    arg,
    current_context,
    live_context,
    native_args,
    run_around,
)

_COMPAT = os.path.dirname(os.path.abspath(__file__))


# --- PythonVirtualenvOperator, ExternalPythonOperator ------------------------------------

# Airflow 2.10's _BasePythonVirtualenvOperator.BASE_SERIALIZABLE_CONTEXT_KEYS (text) and
# PENDULUM_SERIALIZABLE_CONTEXT_KEYS (datetimes), and "params" (JSON) of its
# AIRFLOW_SERIALIZABLE_CONTEXT_KEYS: the context values a virtualenv task's function can get.
# The other Airflow objects of that set (dag, dag_run, task, macros, conf) are pickled by
# Airflow; lithoflow passes arguments as JSON and cannot.
VENV_TEXT_KEYS = frozenset({
    "ds", "ds_nodash", "expanded_ti_count", "inlets", "map_index_template", "next_ds",
    "next_ds_nodash", "outlets", "prev_ds", "prev_ds_nodash", "run_id", "task_instance_key_str",
    "test_mode", "tomorrow_ds", "tomorrow_ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz",
    "yesterday_ds", "yesterday_ds_nodash",
})
VENV_DATE_KEYS = frozenset({
    "data_interval_end", "data_interval_start", "execution_date", "logical_date",
    "next_execution_date", "prev_data_interval_end_success", "prev_data_interval_start_success",
    "prev_execution_date", "prev_execution_date_success", "prev_start_date_success",
    "prev_end_date_success",
})
VENV_KEYS = VENV_TEXT_KEYS | VENV_DATE_KEYS | {"params", "templates_dict"}

_TASK_DECORATOR_ENDS = (
    ".virtualenv", ".external_python", ".branch_virtualenv", ".branch_external_python",
    ".skip_if", ".run_if",
)


def _is_task_decorator(text):
    name = text.split("(", 1)[0].strip()
    return (
        name in ("task", "setup", "teardown")
        or name.startswith("task.")
        or name.endswith(_TASK_DECORATOR_ENDS)
    )


def strip_task_decorators(source):
    """The function's source without its ``@task...``/``@setup``/``@teardown`` decorators
    (Airflow's ``remove_task_decorator``, airflow/utils/decorators.py); other decorators stay."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if node is None:
        return source
    lines = source.splitlines(True)
    drop = set()
    for dec in node.decorator_list:
        if _is_task_decorator(ast.get_source_segment(source, dec) or ""):
            drop.update(range(dec.lineno - 1, dec.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def python_source(fn):
    """Airflow's ``get_python_source``: the dedented source of the function, its task
    decorators removed."""
    name = getattr(fn, "__name__", None)
    if not inspect.isfunction(fn) or name == "<lambda>":
        raise ValueError("PythonVirtualenvOperator only supports functions for python_callable arg")
    if inspect.isgeneratorfunction(fn):
        raise ValueError("PythonVirtualenvOperator does not support using 'yield' in python_callable")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        raise _exc("AirflowException")(
            "the source of %s cannot be read to run it in a virtual environment: %s" % (name, e)
        ) from None
    return strip_task_decorators(source)


def _requirements(task):
    value = arg(task, "requirements")
    if not value:
        return []
    if isinstance(value, str):
        # A requirements file (Airflow's template_ext ".txt"): its lines.
        if value.endswith(".txt"):
            for folder in _template_folders(task):
                path = os.path.join(folder, value)
                if os.path.isfile(path):
                    with open(path, encoding="utf-8") as f:
                        return sorted(
                            line.strip() for line in f
                            if line.strip() and not line.strip().startswith("#")
                        )
        return [value]
    return sorted(str(r) for r in value)


def _template_folders(task):
    dag = getattr(task, "dag", None)
    folders = []
    fileloc = getattr(dag, "fileloc", None)
    if isinstance(fileloc, str):
        folders.append(os.path.dirname(fileloc))
    search = getattr(dag, "template_searchpath", None)
    if isinstance(search, str):
        folders.append(search)
    elif isinstance(search, (list, tuple)):
        folders.extend(str(s) for s in search)
    return folders


def venv_cache_root(task):
    """Where virtual environments are kept: the task's ``venv_cache_path``, else
    ``$LITHOFLOW_VENV_CACHE``, else ``$LITHOFLOW_HOME/venvs``, else
    ``~/.cache/lithoflow/venvs`` (the temporary folder when that cannot be made)."""
    given = arg(task, "venv_cache_path")
    if given:
        return os.fspath(given)
    if os.environ.get("LITHOFLOW_VENV_CACHE"):
        return os.environ["LITHOFLOW_VENV_CACHE"]
    if os.environ.get("LITHOFLOW_HOME"):
        return os.path.join(os.environ["LITHOFLOW_HOME"], "venvs")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lithoflow", "venvs")


def _base_python(python_version):
    """The interpreter a virtual environment is made from: ``python<version>`` (as Airflow
    runs it), or this worker's own interpreter when no version is asked or it is this one's."""
    if python_version is None or str(python_version) == "":
        return sys.executable
    v = str(python_version)
    mine = ("%d" % sys.version_info[0], "%d.%d" % sys.version_info[:2])
    found = shutil.which("python" + v)
    if found:
        return found
    if v in mine:
        return sys.executable
    raise _exc("AirflowException")(
        "python_version=%r: no interpreter python%s on PATH to make the virtual environment with" % (v, v)
    )


_VERSIONS = {}


def _python_version(python):
    """An interpreter's full version (``3.11.7``), asked once per interpreter."""
    if python not in _VERSIONS:
        if python == sys.executable:
            _VERSIONS[python] = "%d.%d.%d" % sys.version_info[:3]
        else:
            _VERSIONS[python] = subprocess.run(
                [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                capture_output=True, text=True, check=False,
            ).stdout.strip() or python
    return _VERSIONS[python]


def _run_checked(cmd, what):
    code, line = _stream(cmd, None, None)
    if code != 0:
        raise RuntimeError("%s exited with code %d: %s" % (what, code, line))


def ensure_venv(task):
    """The cached virtual environment of the task's requirement set (made with ``python -m
    venv`` and pip, under a lock so workers do not race; Airflow's
    ``_ensure_venv_cache_exists``): its folder, keyed by a hash of the interpreter's
    version, the requirements, ``system_site_packages``, pip options and index URLs."""
    import fcntl

    requirements = _requirements(task)
    system_site_packages = bool(arg(task, "system_site_packages", True))
    pip_options = list(arg(task, "pip_install_options") or [])
    index_urls = arg(task, "index_urls")
    if isinstance(index_urls, str):
        index_urls = [index_urls]
    index_urls = list(index_urls or [])
    base = _base_python(arg(task, "python_version"))
    version = _python_version(base)
    key = json.dumps({
        "python_version": version,
        "requirements_list": requirements,
        "system_site_packages": system_site_packages,
        "pip_install_options": pip_options,
        "index_urls": index_urls,
    }, sort_keys=True)
    root = venv_cache_root(task)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:  # a read-only home (AWS Lambda): the temporary folder
        root = os.path.join(tempfile.gettempdir(), "lithoflow-venvs")
        os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "venv-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16])
    marker = os.path.join(path, "install_complete_marker.json")
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(marker, encoding="utf-8") as f:
                if f.read() == key:
                    return path
        except OSError:
            pass
        if os.path.exists(path):
            shutil.rmtree(path, ignore_errors=True)
        try:
            cmd = [base, "-m", "venv", path]
            if system_site_packages:
                cmd.append("--system-site-packages")
            if not requirements:
                cmd.append("--without-pip")
            print("Creating a virtual environment in %s" % path)
            _run_checked(cmd, "python -m venv")
            if requirements:
                pip = [os.path.join(path, "bin", "python"), "-m", "pip", "install"] + pip_options
                if index_urls:
                    pip += ["--index-url", index_urls[0]]
                    for url in index_urls[1:]:
                        pip += ["--extra-index-url", url]
                _run_checked(pip + requirements, "pip install")
            with open(marker, "w", encoding="utf-8") as f:
                f.write(key)
        except Exception as e:  # noqa: BLE001 -- a half-made environment is removed
            shutil.rmtree(path, ignore_errors=True)
            raise _exc("AirflowException")(
                f"Unable to create new virtual environment in {path}: {e}"
            ) from None
    return path


_SCRIPT_HEAD = '''\
import sys
import json as _lithoflow_json
_lithoflow_compat = %(compat)r
if _lithoflow_compat:
    sys.path.insert(0, _lithoflow_compat[0])
    sys.path.append(_lithoflow_compat[1])


def _lithoflow_decode(o):
    if len(o) == 1 and "$datetime" in o:
        import datetime as _lithoflow_dt
        d = _lithoflow_dt.datetime.fromisoformat(o["$datetime"])
        try:
            import pendulum as _lithoflow_pendulum
            return _lithoflow_pendulum.instance(d)
        except Exception:
            return d
    if len(o) == 1 and "$date" in o:
        import datetime as _lithoflow_dt
        return _lithoflow_dt.date.fromisoformat(o["$date"])
    return o

# Script
'''

_SCRIPT_TAIL = '''
with open(sys.argv[1], "r") as _lithoflow_file:
    arg_dict = _lithoflow_json.load(_lithoflow_file, object_hook=_lithoflow_decode)

# Read string args
with open(sys.argv[3], "r") as file:
    virtualenv_string_args = list(map(lambda x: x.strip(), list(file)))

try:
    res = %(name)s(*arg_dict["args"], **arg_dict["kwargs"])
except Exception as e:
    with open(sys.argv[4], "w") as file:
        file.write(str(e))
    raise

# Write output
if res is not None:
    try:
        _lithoflow_text = _lithoflow_json.dumps(res, allow_nan=False)
    except (TypeError, ValueError) as e:
        with open(sys.argv[4], "w") as file:
            file.write(
                "the function returned a value of type %%s that JSON cannot hold (lithoflow returns "
                "a virtualenv task's value as JSON, where Airflow pickles it): %%s" %% (type(res).__name__, e)
            )
        raise
    with open(sys.argv[2], "w") as file:
        file.write(_lithoflow_text)
'''


def _encode(value):
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    raise TypeError("a value of type %s" % type(value).__name__)


def run_in_python(python, fn, args, kwargs, string_args=(), env_vars=None, inherit_env=True,
                  skip_on_exit_code=None, with_airflow=True):
    """Airflow 2.10's ``_execute_python_callable_in_subprocess``: the function's source in a
    script run by `python`, its arguments read from a file, its value written to one. JSON
    stands in for Airflow's pickle/dill/cloudpickle: arguments and value must be JSON
    (datetimes are passed, and arrive as datetimes)."""
    source = python_source(fn)
    try:
        doc = json.dumps({"args": list(args), "kwargs": kwargs}, default=_encode, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise _exc("AirflowException")(
            "the arguments of %s cannot be passed to its virtual environment: lithoflow passes "
            "them as JSON (Airflow pickles them), and %s is not JSON" % (fn.__name__, e)
        ) from None
    compat = [_COMPAT, os.path.join(_COMPAT, "_fallback")] if with_airflow else None
    script = _SCRIPT_HEAD % {"compat": compat} + source + _SCRIPT_TAIL % {"name": fn.__name__}
    with tempfile.TemporaryDirectory(prefix="venv-call") as tmp:
        paths = [os.path.join(tmp, n) for n in ("script.py", "script.in", "script.out",
                                                "string_args.txt", "termination.log")]
        script_path, in_path, out_path, string_path, term_path = paths
        for path, text in ((script_path, script), (in_path, doc),
                           (string_path, "\n".join(map(str, string_args or [])))):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        env = dict(os.environ) if inherit_env else {}
        if env_vars:
            env.update({str(k): str(v) for k, v in env_vars.items()})
        cmd = [os.fspath(python), script_path, in_path, out_path, string_path, term_path]
        code, _ = _stream(cmd, env, None)
        skip = _exit_codes(skip_on_exit_code, [])
        if code != 0:
            if code in skip:
                raise _exc("AirflowSkipException")(f"Process exited with code {code}. Skipping.")
            message = ""
            try:
                with open(term_path, encoding="utf-8") as f:
                    message = f.read()
            except OSError:
                pass
            if message:
                raise _exc("AirflowException")(f"Process returned non-zero exit status {code}.\n{message}")
            raise subprocess.CalledProcessError(code, cmd)
        if 0 in skip:
            raise _exc("AirflowSkipException")("Process exited with code 0. Skipping.")
        try:
            with open(out_path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            return None
        return json.loads(text) if text else None


def _external_python(python):
    if not os.path.exists(python):
        raise ValueError(f"Python Path '{python}' must exists")
    if not os.path.isfile(python):
        raise ValueError(f"Python Path '{python}' must be a file")
    if not os.path.isabs(python):
        raise ValueError(f"Python Path '{python}' must be an absolute path.")
    return python


def virtualenv(dag, task):
    fn = arg(task, "python_callable")
    if not callable(fn):
        raise LookupError("task %r has no python_callable" % task.task_id)

    def run(*args, **kwargs):
        ctx = current_context()
        args, kwargs = native_args(task, args, kwargs, ctx)
        old = live_context(ctx, dag, task)
        kwargs = _complete(fn, args, kwargs, ctx, old)
        own = set((arg(task, "op_kwargs") or {}).keys())
        sig = _signature(fn)
        named = set(sig.parameters) if sig is not None else set()
        passed = {}
        for key, value in kwargs.items():
            if key in own or key not in ctx or key in VENV_KEYS:
                passed[key] = value
            elif key in named:
                raise _exc("AirflowException")(
                    "%s takes the context value %r, which cannot reach a virtual environment: "
                    "lithoflow passes the arguments as JSON (Airflow pickles them); take a "
                    "value JSON holds instead (ds, ts, run_id, logical_date, params...)"
                    % (getattr(fn, "__name__", "the function"), key)
                )
        if ctx.get("templates_dict"):
            passed["templates_dict"] = ctx["templates_dict"]
        python = arg(task, "python")
        if isinstance(python, str) and python:
            python = _external_python(python)
            with_airflow = bool(arg(task, "expect_airflow", True))
        else:
            python = os.path.join(ensure_venv(task), "bin", "python")
            with_airflow = bool(arg(task, "system_site_packages", True)) or any(
                str(r).startswith("apache-airflow") for r in _requirements(task)
            )
        result = run_around(task, ctx, lambda: run_in_python(
            python, fn, args, passed,
            string_args=arg(task, "string_args") or [],
            env_vars=arg(task, "env_vars"),
            inherit_env=bool(arg(task, "inherit_env", True)),
            skip_on_exit_code=arg(task, "skip_on_exit_code"),
            with_airflow=with_airflow,
        ))
        if not getattr(task, "do_xcom_push", True):
            return None
        return result

    return _wraps(run, fn)
