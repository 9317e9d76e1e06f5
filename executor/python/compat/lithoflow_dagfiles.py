"""The worker side of `.py` DAG files: the modules ``lithoflow_dagfile_<hex>`` a task of an
Airflow DAG file names as its callable's module.

A task of a `.py` DAG runs like a TOML ``python`` task: the worker imports a module and
calls a function of it. The module is ``lithoflow_dagfile_<hex of the DAG file's name>``
(UTF-8, lowercase hex; the file's folder is on the worker's ``sys.path``; or of its path
relative to a ``sys.path`` entry, ``team_a/etl.py``, which tells apart two ``etl.py`` in
different subfolders of the DAGs folder); the function is
``t_<hex dag_id>_<hex task_id>_<attr>`` for a task and ``d_<hex dag_id>_<attr>`` for the
DAG (docs/airflow-runtime.md lists each ``attr``; ``airflow/_lithoflow/shims.py`` makes
them).

Importing this module installs a meta path finder for those names. Finding one, it looks
for the file in the ``sys.path`` entries and imports the DAG file as Airflow's workers do
(Airflow 2.10 ``DagBag.process_file``: a fresh module ``unusual_prefix_<sha1 of the
path>_<stem>``, with lithoflow's ``airflow`` package first on ``sys.path``); the DAGs it
defines are collected as the loader collects them (module-level DAG objects, including
those bound through ``globals()`` in loops and factories, and the ``with DAG``/``@dag``
ones Airflow registers itself). The synthetic module's ``__file__`` is the DAG file, so
the runtime's reload on a changed mtime (``_load_module`` in lithoflow_runtime.py)
re-imports it: ``importlib.reload`` finds it again here and imports the DAG file anew.
A module the DAG file uses from its folder or the DAGs folder (a helper beside it, also
one another DAG file imported first) that changed on disk re-imports the DAG file too
(checked at most once a second), as Airflow's workers, which parse the file in a fresh
process for every try, would see the new helper.

The functions come from the module's ``__getattr__`` (PEP 562): the tasks are looked up in
the live DAG objects, so lambdas, closures and functions made in factory loops are the
very objects the DAG file made, as in Airflow where workers re-parse the DAG file.
"""

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import re
import sys
import threading
import time

import lithoflow_dagcontext  # beside this file, on sys.path with it

PREFIX = "lithoflow_dagfile_"
COMPAT = os.path.dirname(os.path.abspath(__file__))
FALLBACK = os.path.join(COMPAT, "_fallback")
# How often (seconds) the helper modules' mtimes are checked, as the runtime checks the
# DAG file's own (RELOAD_CHECK_S there).
HELPER_CHECK_S = 1.0

_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")
_lock = threading.RLock()


def module_name_for(filename):
    """The synthetic module's name for a DAG file's name or its path relative to the DAGs
    folder, with ``/`` between folders (``etl.py`` -> ``lithoflow_dagfile_65746c2e7079``)."""
    return PREFIX + filename.encode("utf-8").hex()


def function_name_for(dag_id, attr, task_id=None):
    """The function name of a task's (or with ``task_id=None`` the DAG's) ``attr``."""
    if task_id is None:
        return "d_%s_%s" % (dag_id.encode("utf-8").hex(), attr)
    return "t_%s_%s_%s" % (dag_id.encode("utf-8").hex(), task_id.encode("utf-8").hex(), attr)


def _unhex(text):
    if not _HEX.match(text):
        return None
    try:
        return bytes.fromhex(text).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def airflow_module_name(path):
    """Airflow 2.10's ``get_unique_dag_module_name``: ``unusual_prefix_<sha1>_<stem>`` (the
    loader names the module the same way)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return "unusual_prefix_%s_%s" % (
        hashlib.sha1(path.encode("utf-8")).hexdigest(),
        re.sub(r"[.-]", "_", stem),
    )


def _ensure_sys_path():
    """lithoflow's ``airflow`` first on sys.path (so ``import airflow`` means ours even
    where a real Airflow is installed), the pendulum fallback last. An ``airflow`` imported
    from elsewhere before (a TOML task's module in the same warm worker importing a real
    Airflow) is forgotten, so the DAG file imports ours."""
    if sys.path[:1] != [COMPAT]:
        try:
            sys.path.remove(COMPAT)
        except ValueError:
            pass
        sys.path.insert(0, COMPAT)
    if os.path.isdir(FALLBACK) and FALLBACK not in sys.path:
        sys.path.append(FALLBACK)
    loaded = sys.modules.get("airflow")
    if loaded is not None and not _ours(loaded):
        for name in [n for n in sys.modules if n == "airflow" or n.startswith("airflow.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def _ours(module):
    paths = [getattr(module, "__file__", None)] + list(getattr(module, "__path__", None) or [])
    return any(isinstance(p, str) and _under(os.path.abspath(p), COMPAT) for p in paths)


_dag_context = lithoflow_dagcontext.dag_context
_dag_classes = lithoflow_dagcontext.dag_classes


def _is_dag(o, classes):
    if classes and isinstance(o, classes):
        return True
    # A DAG class the package did not load (a file defining its own minimal DAG): by its
    # name and Airflow's attributes.
    t = type(o)
    return t.__name__ == "DAG" and isinstance(t.__dict__.get("__module__"), str) and _has_dag_attrs(o)


def _has_dag_attrs(o):
    try:
        return isinstance(o.dag_id, str) and isinstance(o.task_dict, dict)
    except Exception:  # noqa: BLE001 -- an object whose attributes raise is no DAG
        return False


def collect_dags(module, ctx=None):
    """``{dag_id: dag}``: the module's attributes that are DAGs (Airflow 2.10's
    ``DagBag._process_modules``), then the ones Airflow's ``DagContext`` registered while the
    module ran (``with DAG`` blocks and ``@dag`` calls; Airflow 3 takes those too)."""
    classes = _dag_classes()
    found = {}
    if ctx is not None:
        for entry in list(getattr(ctx, "autoregistered_dags", ()) or ()):
            dag = entry[0] if isinstance(entry, tuple) else entry
            if _is_dag(dag, classes):
                found.setdefault(dag.dag_id, dag)
    for o in list(module.__dict__.values()):
        if _is_dag(o, classes):
            found[o.dag_id] = o
    for d in found.values():
        try:
            d.fileloc = module.__file__
            d._lithoflow_file_dags = found  # the file's other DAGs (an @asset's inlets)
        except Exception:  # noqa: BLE001 -- a read-only fileloc stays as it is
            pass
    return found


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class DagFile:
    """One imported DAG file: its module, its DAGs, the helper modules it imported from its
    folder (with their mtimes) and the shims made for it so far."""

    def __init__(self, path):
        self.path = path
        self.module = None
        self.dags = {}
        self.helpers = {}  # module name -> (file, mtime_ns)
        self.checked = time.monotonic()
        self.cache = {}

    def roots(self):
        """The folders whose modules count as the DAG file's own: its folder, and every
        sys.path entry it lies under (the DAGs folder, when the file is in a subfolder)."""
        roots = {os.path.dirname(self.path)}
        for entry in sys.path:
            if isinstance(entry, str) and entry and entry not in (COMPAT, FALLBACK):
                entry = os.path.abspath(entry)
                if _under(self.path, entry) and os.path.dirname(entry) != entry:
                    roots.add(entry)
        return sorted(roots)

    def load(self):
        """Imports the DAG file anew (Airflow's ``DagBag.process_file``)."""
        _ensure_sys_path()
        # A helper imported by an earlier import of this file is imported again: the
        # file sees the helpers as they are now.
        for name in self.helpers:
            sys.modules.pop(name, None)
        self.helpers = {}
        self.cache = {}
        self.dags = {}
        linecache.checkcache(self.path)
        importlib.invalidate_caches()
        mod_name = airflow_module_name(self.path)
        sys.modules.pop(mod_name, None)
        with open(self.path, "rb") as f:
            source = f.read()
        # Not SourceFileLoader.exec_module: its bytecode cache is keyed by whole seconds of
        # mtime and the size, so a file edited twice within a second could run stale code.
        code = compile(source, self.path, "exec", dont_inherit=True)
        loader = importlib.machinery.SourceFileLoader(mod_name, self.path)
        spec = importlib.util.spec_from_file_location(mod_name, self.path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        try:
            # Imported before the file runs, so Airflow's DagContext registers the file's
            # `with DAG` blocks and `@dag` calls (a bare `my_dag()` binds no name).
            import airflow.models.dag  # noqa: F401
        except Exception:  # noqa: BLE001 -- an incomplete package: the file's own import says why
            pass
        before = set(sys.modules)
        host = _host()
        saved_loading = (getattr(host, "DAG_FILE", None), getattr(host, "DAGS_FOLDER", None))
        ctx = _dag_context()
        sys.modules[mod_name] = module
        try:
            if host is not None and hasattr(host, "set_loading"):
                try:
                    host.set_loading(self.path, self.roots()[0], _airflow_version(source))
                except TypeError:  # a host without the version argument
                    host.set_loading(self.path, self.roots()[0])
            if ctx is not None:
                ctx.current_autoregister_module_name = mod_name
                ctx.autoregistered_dags.clear()
            exec(code, module.__dict__)
            ctx = ctx or _dag_context()  # the file may have imported the package first
            self.dags = collect_dags(module, ctx)
        except BaseException:
            sys.modules.pop(mod_name, None)
            raise
        finally:
            if ctx is not None:
                ctx.current_autoregister_module_name = None
                try:
                    ctx.autoregistered_dags.clear()
                except Exception:  # noqa: BLE001
                    pass
            if host is not None and hasattr(host, "set_loading"):
                host.set_loading(*saved_loading)
            self.helpers = self._helpers((set(sys.modules) - before - {mod_name}) | _referenced(module))
            self.checked = time.monotonic()
        self.module = module
        return module

    def _helpers(self, names):
        roots = self.roots()
        found = {}
        for name in names:
            m = sys.modules.get(name)
            f = getattr(m, "__file__", None)
            if not isinstance(f, str):
                continue
            f = os.path.abspath(f)
            if _under(f, COMPAT) or f == self.path or not any(_under(f, r) for r in roots):
                continue
            if name.startswith((PREFIX, "unusual_prefix_")):  # another DAG file
                continue
            try:
                found[name] = (f, os.stat(f).st_mtime_ns)
            except OSError:
                found[name] = (f, None)
        return found

    def helpers_changed(self):
        """Whether a helper module changed on disk (checked at most once a second)."""
        now = time.monotonic()
        if now - self.checked < HELPER_CHECK_S:
            return False
        self.checked = now
        for f, mtime in self.helpers.values():
            try:
                if os.stat(f).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False


def _referenced(module):
    """The modules the DAG module's globals name: module objects, and the modules of its
    functions and classes (a helper another DAG file imported first is not new to this
    import, and is this file's helper all the same)."""
    names = set()
    for value in list(vars(module).values()):
        if isinstance(value, type(module)):
            names.add(value.__name__)
        else:
            owner = getattr(value, "__module__", None) if callable(value) else None
            if isinstance(owner, str):
                names.add(owner)
    return {n for n in names if n in sys.modules}


def _airflow_version(source):
    """The Airflow version whose defaults the file gets, by the loader's rule (Airflow 3 when
    it imports airflow.sdk or airflow.providers.standard, else ``[airflow] default_version``,
    which the worker reads from ``LITHOFLOW_AIRFLOW_DEFAULT_VERSION``, 2 when unset)."""
    default = os.environ.get("LITHOFLOW_AIRFLOW_DEFAULT_VERSION", "2")
    try:
        from lithoflow_loader import _airflow_version as loader_rule
    except Exception:  # noqa: BLE001 -- without the loader: the default
        return 3 if default.strip() == "3" else 2
    return loader_rule(source, default)[0]


def _host():
    try:
        from airflow._lithoflow import host
    except Exception:  # noqa: BLE001 -- the package is incomplete: no host to tell
        return None
    return host


def _missing(message):
    """A function that raises `message` when called: a name that resolves to nothing (an
    unknown DAG or task) must fail the task with a message saying why, where the runtime's
    own `has no function` would not."""

    def missing(*args, **kwargs):
        raise _exceptions().AirflowException(message)

    missing.__qualname__ = missing.__name__ = "missing"
    return missing


def _raiser(exc):
    """A function that raises `exc` (a failure while resolving a name: ``getattr`` may only
    raise AttributeError, or the runtime's inspection of the function would fail)."""

    def failed(*args, **kwargs):
        raise exc

    failed.__qualname__ = failed.__name__ = "failed"
    return failed


def _exceptions():
    try:
        import airflow.exceptions as exc
    except Exception:  # noqa: BLE001 -- the package is incomplete
        from airflow._lithoflow import shims

        return shims.fallback_exceptions()
    return exc


def resolve(dagfile, name):
    """The callable ``name`` (``t_...``/``d_...``) of an imported DAG file."""
    from airflow._lithoflow import shims

    if name.startswith("t_"):
        parts = name.split("_", 3)
        if len(parts) != 4:
            return None
        dag_id, task_id, attr = _unhex(parts[1]), _unhex(parts[2]), parts[3]
        if dag_id is None or task_id is None or not attr:
            return None
    elif name.startswith("d_"):
        parts = name.split("_", 2)
        if len(parts) != 3:
            return None
        dag_id, task_id, attr = _unhex(parts[1]), None, parts[2]
        if dag_id is None or not attr:
            return None
    else:
        return None
    dag = dagfile.dags.get(dag_id)
    if dag is None:
        return _missing(
            "DAG %r could not be found in %s; either it does not exist or it failed to parse "
            "(the DAGs it defines here: %s)"
            % (dag_id, dagfile.path, ", ".join(sorted(map(repr, dagfile.dags))) or "none")
        )
    task = None
    if task_id is not None:
        task = dag.task_dict.get(task_id)
        if task is None:
            return _missing("Task %s not found in DAG %r (%s)" % (task_id, dag_id, dagfile.path))
    try:
        return shims.shim(dag, task, attr)
    except LookupError as e:
        return _missing(str(e.args[0]) if e.args else str(e))
    except Exception as e:  # noqa: BLE001 -- raised when the task runs, with its class
        return _raiser(e)


class _Loader(importlib.abc.Loader):
    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with _lock:
            dagfile = DagFile(self.path)
            previous = module.__dict__.get("_lithoflow_dagfile")
            if previous is not None:  # importlib.reload: its helpers are imported again
                dagfile.helpers = previous.helpers
            dagfile.load()
            _attach(module, dagfile)


def _attach(module, dagfile):
    module.__file__ = dagfile.path
    module._lithoflow_dagfile = dagfile
    module._lithoflow_dags = dagfile.dags

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError("module %r has no attribute %r" % (module.__name__, name))
        with _lock:
            current = module.__dict__.get("_lithoflow_dagfile", dagfile)
            if current.helpers_changed():
                fresh = DagFile(current.path)
                fresh.helpers = current.helpers
                try:
                    fresh.load()
                except Exception as e:  # noqa: BLE001 -- the task fails with it; retried next time
                    return _raiser(e)
                _attach(module, fresh)
                return getattr(module, name)
            if name in current.cache:
                return current.cache[name]
            found = resolve(current, name)
            if found is None:
                try:
                    return getattr(current.module, name)
                except AttributeError:
                    raise AttributeError(
                        "module %r (%s) has no attribute %r" % (module.__name__, current.path, name)
                    ) from None
            current.cache[name] = found
            return found

    module.__getattr__ = __getattr__


class DagFileFinder(importlib.abc.MetaPathFinder):
    """Finds ``lithoflow_dagfile_<hex>`` in the ``sys.path`` entries."""

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(PREFIX) or "." in name:
            return None
        filename = _unhex(name[len(PREFIX):])
        # The file's name, or its path relative to a sys.path entry (the DAGs folder), which
        # tells apart files of the same name in different subfolders.
        if not filename or filename.startswith("/") or "\\" in filename:
            return None
        if any(part in ("", ".", "..") for part in filename.split("/")):
            return None
        for entry in sys.path:
            if not isinstance(entry, str) or entry in (COMPAT, FALLBACK):
                continue
            candidate = os.path.abspath(os.path.join(entry or os.getcwd(), *filename.split("/")))
            if os.path.isfile(candidate):
                spec = importlib.util.spec_from_loader(name, _Loader(candidate), origin=candidate)
                spec.has_location = True
                return spec
        return None


FINDER = DagFileFinder()


def install():
    """Installs the finder (once)."""
    if not any(isinstance(f, DagFileFinder) for f in sys.meta_path):
        sys.meta_path.append(FINDER)
    _ensure_sys_path()


install()
