"""lithoflow's DAG-file loader process: imports Airflow DAG files (.py) and describes their DAGs.

Started by the scheduler as ``python3 -u <compat>/lithoflow_loader.py`` with a cleared environment,
cwd = the DAGs folder. The protocol (docs/airflow-runtime.md, "The loader process") is one JSON
object per line on stdin/stdout:

- on start: ``{"op": "ready", "version": 1}``;
- request ``{"id": 7, "op": "load", "path": ..., "dags_folder": ..., "default_version": 2,
  "timeout_s": 30, "memory_mb": 2048}`` -> ``{"id": 7, "op": "result", "ok": true|false, ...}``;
- while a file loads, a parse-time ``Variable.get``/``get_connection`` is relayed as
  ``{"id": 7, "op": "lookup", "what": "variable"|"connection", "key": "k"}``; the answer comes on
  stdin as ``{"id": 7, "op": "answer", "found": true, "value": ...}``;
- ``{"op": "shutdown"}`` or EOF: exit 0.

The parent imports the compatibility package once (warm) and forks a child per file (several may
run at once: ``LITHOFLOW_LOADER_CHILDREN``, default 2). The child runs in its own process group
with ``RLIMIT_AS`` and a time limit (``SIGALRM`` as Airflow's ``dagbag_import_timeout`` does, then
``SIGKILL`` of the group as a backstop), stdin on /dev/null and stdout on stderr, so nothing the
DAG file does can reach the protocol stream or harm the parent. The child talks to the parent over
a pipe: tagged lines ``R`` (the result, already in its final form), ``L`` (a lookup), ``W`` (the
line running when the time limit fired) and ``M`` (the modules imported so far, sent before the
file ends the process with ``os._exit``).
"""

import gc
import json
import os
import resource
import selectors
import signal
import sys
import time
import types

COMPAT = os.path.dirname(os.path.abspath(__file__))
if sys.path[:1] != [COMPAT]:
    sys.path.insert(0, COMPAT)
# Stand-ins for what Airflow always installs (pendulum) at the END of sys.path: an installed
# one wins.
FALLBACK = os.path.join(COMPAT, "_fallback")
if FALLBACK not in sys.path:
    sys.path.append(FALLBACK)

import lithoflow_dagcontext  # noqa: E402 -- from COMPAT, put on sys.path above

PROTOCOL_VERSION = 1
# Seconds the parent waits after the time limit before it kills the child's process group (the
# child raises the timeout itself first; a loop in C code or a handler swallowing it ends here).
KILL_GRACE_S = 2.0
# The parent's own sanity bound when a request has no time limit.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 2048
# How many files one child may load in turn (1: a fresh fork for every file). A child goes on to
# the next file only when the last one loaded without error and left no thread, no process and no
# change to what files share; it then forgets the file's modules and registries (_State).
DEFAULT_REUSE = 32

_REAL_EXIT = os._exit
_DEBUG = bool(os.environ.get("LITHOFLOW_LOADER_DEBUG"))
# The modules the warm parent imported (a child reports only the ones it imported itself).
_PRELOADED = None


def _warm():
    """Imports the whole compatibility package once, so a child never imports it again."""
    failures = []
    _airflow_version(b"", 2)  # compiles its pattern once, here
    try:
        import airflow  # noqa: F401 -- ours: COMPAT is first on sys.path
    except Exception as e:  # the package is incomplete or broken: say so, keep serving
        failures.append("airflow: %s: %s" % (type(e).__name__, e))
        return failures
    import pkgutil

    for info in pkgutil.walk_packages(airflow.__path__, "airflow.", onerror=failures.append):
        if info.name in sys.modules:
            continue
        try:
            __import__(info.name)
        except BaseException as e:  # noqa: BLE001 -- one broken module must not stop warming
            failures.append("%s: %s: %s" % (info.name, type(e).__name__, e))
    # copy/deepcopy caches `__slotnames__` on a class the first time one of its objects is
    # copied (default_args, params): cached here, so a child's copying changes no shared class.
    import copyreg

    for name, mod in list(sys.modules.items()):
        if name.split(".", 1)[0] != "airflow":
            continue
        for v in list(getattr(mod, "__dict__", {}).values()):
            if isinstance(v, type) and v.__module__ == name:
                try:
                    copyreg._slotnames(v)
                except Exception:  # noqa: BLE001 -- a class that refuses it is left alone
                    pass
    # What a DAG file and the description commonly use, imported once here.
    for name in ("datetime", "json", "traceback", "hashlib", "importlib.util", "functools", "inspect",
                 "re", "textwrap", "pendulum", "logging", "random", "uuid", "collections", "itertools",
                 "dateutil.relativedelta", "dateutil.parser", "dateutil.tz", "zoneinfo"):
        try:
            __import__(name)
        except ImportError:
            pass
    return failures


# A DAG built (and described) once in the parent before any fork: the first construction of an
# operator, a DAG or a description fills caches (signatures, lazy imports) that every child would
# otherwise fill again (lithoflow_loader_warmup.py). Nothing of it stays registered.
_WARM_DAG_FILE = os.path.join(COMPAT, "lithoflow_loader_warmup.py")


def _warm_dag():
    """Builds and describes _WARM_DAG in the parent, then forgets it."""
    import types

    name = "lithoflow_loader_warm_up"
    module = types.ModuleType(name)
    module.__file__ = _WARM_DAG_FILE
    sys.modules[name] = module
    ctx = _dag_context()
    try:
        if ctx is not None:
            ctx.current_autoregister_module_name = name
        with open(_WARM_DAG_FILE, encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        from airflow._lithoflow import describe

        describe.describe_dags(_collect_dags(module, ctx), module=module, path=module.__file__,
                               dags_folder=COMPAT, version=2)
        json.dumps(describe.describe_dags(_collect_dags(module, None), module=module, path=module.__file__,
                                          dags_folder=COMPAT, version=3))
    except Exception as e:  # noqa: BLE001 -- an incomplete package only makes children slower
        sys.stderr.write("lithoflow loader: warm-up DAG failed: %s: %s\n" % (type(e).__name__, e))
    finally:
        sys.modules.pop(name, None)
        if ctx is not None:
            ctx.current_autoregister_module_name = None
            try:
                ctx.autoregistered_dags.clear()
                ctx._context_managed_dags.clear()
            except Exception:  # noqa: BLE001
                pass
        host = _host()
        if host is not None:
            try:
                host.PARSE_TIME_READS.clear()
            except Exception:  # noqa: BLE001
                pass


# ----------------------------------------------------------------------------------------------
# The child: imports one file and writes one result.
# ----------------------------------------------------------------------------------------------


class LoaderTimeout(BaseException):
    """The time limit fired while the file was importing (Airflow's AirflowTaskTimeout)."""


def _timeout_class():
    try:
        from airflow.exceptions import AirflowTaskTimeout

        if issubclass(AirflowTaskTimeout, BaseException):
            return AirflowTaskTimeout
    except Exception:  # noqa: BLE001
        pass
    return LoaderTimeout


class _Child:
    """The state of the child process for one request."""

    def __init__(self, req, out_fd, ans_fd, started):
        self.req = req
        self.id = req.get("id")
        self.path = os.path.abspath(str(req.get("path", "")))
        self.dags_folder = os.path.abspath(str(req.get("dags_folder") or os.path.dirname(self.path)))
        self.out_fd = out_fd
        self.ans_fd = ans_fd
        self.ans_buf = b""
        self.started = started
        self.pid = os.getpid()
        self.preloaded = _PRELOADED if _PRELOADED is not None else frozenset(sys.modules)
        self.timeout_s = float(req.get("timeout_s") or 0)
        self.timeout_cls = LoaderTimeout

    # -- talking to the parent --------------------------------------------------------------

    def send(self, tag, obj):
        data = tag + json.dumps(obj, default=_json_default, separators=(",", ":")).encode() + b"\n"
        _write_all(self.out_fd, data)

    def lookup(self, what, key):
        """Relays a parse-time Variable/Connection read to the scheduler; the value or None."""
        self.send(b"L", {"id": self.id, "op": "lookup", "what": str(what), "key": str(key)})
        while b"\n" not in self.ans_buf:
            chunk = os.read(self.ans_fd, 65536)
            if not chunk:
                return None
            self.ans_buf += chunk
        line, self.ans_buf = self.ans_buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except ValueError:
            return None
        if not msg.get("found"):
            return None
        return msg.get("value")

    # -- the modules of the DAGs folder ----------------------------------------------------------

    def modules(self):
        folder = self.dags_folder.rstrip(os.sep) + os.sep
        out = []
        seen = set()
        for name in sys.modules.keys() - self.preloaded:
            mod = sys.modules.get(name)
            f = getattr(mod, "__file__", None)
            if not f or not isinstance(f, str):
                continue
            f = os.path.abspath(f)
            if f == self.path or f in seen or not f.startswith(folder):
                continue
            seen.add(f)
            try:
                mtime = os.stat(f).st_mtime_ns
            except OSError:
                continue
            out.append({"path": f, "mtime_ns": mtime})
        out.sort(key=lambda m: m["path"])
        return out

    # -- the time limit ------------------------------------------------------------------------

    def on_alarm(self, _signum, frame):
        where = _frame_where(frame, self.path, self.dags_folder)
        if where:
            try:
                self.send(b"W", {"file": where[0], "line": where[1]})
            except OSError:
                pass
        raise self.timeout_cls(self.timeout_message())

    def timeout_message(self):
        return "DagBag import timeout for %s after %ss." % (self.path, float(self.timeout_s))

    # -- the work ------------------------------------------------------------------------------

    def run(self):
        req = self.req
        memory_mb = req.get("memory_mb", DEFAULT_MEMORY_MB)
        if memory_mb:
            limit = int(memory_mb) * 1024 * 1024
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            except (ValueError, OSError):
                pass
        self.timeout_cls = _timeout_class()
        if self.timeout_s > 0:
            signal.signal(signal.SIGALRM, self.on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            result = self.load()
        except BaseException as e:  # noqa: BLE001 -- everything the file does ends as a result
            result = self.error_result(e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result["elapsed_ms"] = round((time.monotonic() - self.started) * 1000.0, 3)
        if os.getpid() != self.pid:  # a fork made by the DAG file came back here: not ours to say
            _REAL_EXIT(0)
        try:
            data = json.dumps(result, default=_json_default, separators=(",", ":"), check_circular=False)
        except BaseException as e:  # noqa: BLE001
            data = json.dumps(self.error_result(e), default=str, separators=(",", ":"))
        _write_all(self.out_fd, b"R" + data.encode("utf-8", "surrogatepass") + b"\n")
        return bool(result.get("ok"))

    def load(self):
        import importlib.machinery
        import importlib.util

        path = self.path
        for folder in (self.dags_folder, os.path.dirname(path)):
            if folder not in sys.path:
                sys.path.insert(1, folder)
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as e:
            return self.error_result(e)
        version, reason = _airflow_version(source, self.req.get("default_version", 2))

        host = _host()
        if host is not None:
            setter = getattr(host, "set_loader_lookup", None)
            if setter is not None:
                setter(self.lookup)
            # Tell the host which file loads (it decides the line a task or DAG is reported at).
            loading = getattr(host, "set_loading", None)
            if loading is not None:
                loading(path, self.dags_folder)
            try:
                host.AIRFLOW_VERSION = version
            except Exception:  # noqa: BLE001
                pass
        ctx = _dag_context()
        mod_name = _module_name(path)
        if ctx is not None:
            ctx.current_autoregister_module_name = mod_name
            try:
                ctx.autoregistered_dags.clear()
            except Exception:  # noqa: BLE001
                pass
        sys.modules.pop(mod_name, None)
        loader = importlib.machinery.SourceFileLoader(mod_name, path)
        spec = importlib.util.spec_from_loader(mod_name, loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        # The DAG file's byte code is not cached (the file is read again only when it changed;
        # its helpers' byte code is, as Python always does).
        dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            code = loader.get_code(mod_name)
        finally:
            sys.dont_write_bytecode = dont_write
        exec(code, module.__dict__)

        dags = _collect_dags(module, ctx)
        from airflow._lithoflow import describe

        descriptions, warnings = describe.describe_dags(
            dags, module=module, path=path, dags_folder=self.dags_folder, version=version,
            version_reason=reason,
        )
        return {"id": self.id, "op": "result", "ok": True, "dags": descriptions,
                "modules": self.modules(), "warnings": warnings}

    def error_result(self, exc):
        kind = "exception"
        if isinstance(exc, (LoaderTimeout, self.timeout_cls)) and not isinstance(exc, Exception):
            kind = "timeout"
        elif isinstance(exc, MemoryError):
            kind = "memory"
        elif isinstance(exc, SyntaxError):
            kind = "syntax"
        err = {"kind": kind, "type": type(exc).__name__}
        try:
            err["message"] = str(exc) if not isinstance(exc, SyntaxError) else (exc.msg or str(exc))
        except BaseException:  # noqa: BLE001
            err["message"] = "<unprintable %s>" % type(exc).__name__
        if kind == "memory" and not err["message"]:
            err["message"] = "the DAG file exceeded the loader's memory limit (%s MB)" % self.req.get(
                "memory_mb", DEFAULT_MEMORY_MB)
        tb = exc.__traceback__
        while tb is not None and _ours(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        frames = []
        t = tb
        while t is not None:
            frames.append((t.tb_frame.f_code.co_filename, t.tb_lineno))
            t = t.tb_next
        if isinstance(exc, SyntaxError) and exc.filename:
            err["file"] = os.path.abspath(exc.filename)
            err["line"] = exc.lineno or 1
            if exc.offset:
                err["column"] = exc.offset
        else:
            where = _pick_frame(frames, self.path, self.dags_folder)
            if where:
                err["file"], err["line"] = where
            else:
                err["file"] = self.path
        if kind == "timeout":
            line = err.get("line")
            err["message"] = self.timeout_message() + (
                " The file was running %s:%s." % (err["file"], line) if line else "")
        try:
            err["traceback"] = _format_traceback(exc, tb)
        except BaseException:  # noqa: BLE001
            err["traceback"] = "%s: %s" % (err["type"], err["message"])
        try:
            modules = self.modules()
        except BaseException:  # noqa: BLE001
            modules = []
        return {"id": self.id, "op": "result", "ok": False, "error": err, "modules": modules}


def _format_traceback(exc, tb):
    """Python's traceback text without the loader's own frames (the time limit's handler)."""
    import traceback

    frames = [f for f in traceback.extract_tb(tb) if not _ours(f.filename)]
    text = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return text if isinstance(exc, SyntaxError) else "Traceback (most recent call last):\n" + text
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text


def _json_default(o):
    return repr(o)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _ours(filename):
    return filename == __file__ or filename.startswith("<frozen importlib") or filename == _LOADER_FILE


_LOADER_FILE = os.path.abspath(__file__)


def _pick_frame(frames, path, dags_folder):
    """The innermost frame in the DAG file, else in the DAGs folder, else the innermost."""
    for f, line in reversed(frames):
        if os.path.abspath(f) == path:
            return path, line
    folder = dags_folder.rstrip(os.sep) + os.sep
    for f, line in reversed(frames):
        if os.path.abspath(f).startswith(folder):
            return os.path.abspath(f), line
    if frames:
        f, line = frames[-1]
        return f, line
    return None


def _frame_where(frame, path, dags_folder):
    frames = []
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    frames = [f for f in frames if not _ours(f[0])]
    return _pick_frame(frames, path, dags_folder)


def _module_name(path):
    import hashlib
    import re

    stem = os.path.splitext(os.path.basename(path))[0]
    return "unusual_prefix_%s_%s" % (hashlib.sha1(path.encode("utf-8")).hexdigest(), re.sub(r"[.-]", "_", stem))


_V3_IMPORT = None


def _airflow_version(source, default_version):
    """(2 or 3, why): Airflow 3 when the file imports airflow.sdk or airflow.providers.standard."""
    global _V3_IMPORT
    import re

    if _V3_IMPORT is None:
        _V3_IMPORT = re.compile(
            rb"^[ \t]*(?:from[ \t]+airflow\.(sdk|providers\.standard)\b"
            rb"|import[ \t]+airflow\.(sdk|providers\.standard)\b"
            rb"|from[ \t]+airflow(?:\.providers)?[ \t]+import[ \t]+\(?[ \t\w,]*\b(sdk|standard)\b)",
            re.M,
        )
    m = _V3_IMPORT.search(source)
    if m:
        what = (m.group(1) or m.group(2) or m.group(3)).decode()
        what = "airflow.sdk" if what == "sdk" else "airflow.providers.standard"
        line = source.count(b"\n", 0, m.start()) + 1
        return 3, "the file imports %s (line %d): Airflow 3's defaults" % (what, line)
    try:
        v = int(default_version)
    except (TypeError, ValueError):
        v = 2
    v = 3 if v == 3 else 2
    return v, ("the file does not import airflow.sdk or airflow.providers.standard: "
               "[airflow] default_version = %d" % v)


def _host():
    try:
        from airflow._lithoflow import host

        return host
    except Exception:  # noqa: BLE001
        return None


_dag_context = lithoflow_dagcontext.dag_context
_dag_classes = lithoflow_dagcontext.dag_classes


def _collect_dags(module, ctx):
    """Airflow's DagBag rule: module-level attributes that are DAGs, plus the auto-registered ones
    (`with DAG` blocks and `@dag` calls of this module), in the order they were created."""
    classes = _dag_classes()
    found = []
    seen = set()
    if classes:
        for o in list(module.__dict__.values()):
            if isinstance(o, classes) and id(o) not in seen:
                seen.add(id(o))
                found.append(o)
    if ctx is not None:
        for entry in list(getattr(ctx, "autoregistered_dags", ()) or ()):
            dag = entry[0] if isinstance(entry, tuple) else entry
            if id(dag) not in seen:
                seen.add(id(dag))
                found.append(dag)
        ctx.current_autoregister_module_name = None
    for d in found:
        try:
            d.fileloc = module.__file__
        except Exception:  # noqa: BLE001
            pass
    found.sort(key=lambda d: (getattr(d, "_lithoflow_line", None) or 0, str(getattr(d, "dag_id", ""))))
    return found


# Warm modules whose globals a DAG file may well change (set or replace a name): compared in full
# after each file; the other warm modules and the compatibility package's classes by their size.
_WATCHED_MODULES = frozenset((
    "sys", "os", "builtins", "datetime", "time", "json", "logging", "socket", "ssl", "random", "warnings",
    "tempfile", "importlib", "functools", "airflow", "airflow.models", "airflow.models.baseoperator",
    "airflow.models.dag", "airflow.models.variable", "airflow.models.connection", "airflow.configuration",
    "airflow.hooks.base", "airflow.utils.dates", "airflow.utils.timezone", "airflow.decorators",
    "airflow.operators.python", "airflow.operators.bash", "airflow.sensors.base",
))


def _plain_count(namespace):
    """The names of a module's namespace that are not modules (its submodules)."""
    return sum(1 for v in list(namespace.values()) if not isinstance(v, types.ModuleType))


class _State:
    """What a DAG file may change in the child's process, taken before the first file, to put it
    back (or to retire the child) before the next file: a reused child must look fresh."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP", "SIGCHLD", "SIGUSR1",
                                                 "SIGUSR2", "SIGPIPE") if hasattr(signal, n))

    def __init__(self):
        import builtins

        self.path = list(sys.path)
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.environ = dict(os.environ)
        self.cwd = os.getcwd()
        self.handlers = {s: signal.getsignal(s) for s in self.SIGNALS}
        self.modules = {n: sys.modules.get(n) for n in (_PRELOADED or ())}
        self.builtins = dict(builtins.__dict__)
        # The namespaces every file shares: the warm modules' globals and the compat package's
        # classes; a file that sets or replaces anything in them (sys.x = ..., a monkeypatched
        # operator) leaves a process that is not fresh.
        # Compared in full: _WATCHED_MODULES; the other warm modules and the compatibility
        # package's classes by size (an added or deleted name shows).
        self.namespaces = []
        self.sizes = []
        for name, mod in self.modules.items():
            d = getattr(mod, "__dict__", None)
            if not isinstance(d, dict) or name == "__main__" or mod is sys.modules.get(__name__):
                continue
            if name in _WATCHED_MODULES:
                self.namespaces.append((d, dict(d)))
            else:
                self.sizes.append((d, len(d), _plain_count(d)))
            if name.split(".", 1)[0] == "airflow":
                # Its classes by size: an attribute added (or deleted) shows.
                self.sizes.extend((v.__dict__, len(v.__dict__), None) for v in list(d.values())
                                  if isinstance(v, type) and v.__module__ == name)

    def clean(self, child):
        """Whether the process can load another file: the file left no thread, no process and
        no change to what every file shares; None if so, else why not."""
        import builtins
        import threading

        try:
            tasks = len(os.listdir("/proc/self/task"))  # threads started from C too
        except OSError:
            tasks = 1
        if threading.active_count() != 1 or tasks != 1:
            return "threads"
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    return "child processes"
        except ChildProcessError:
            pass
        if sys.meta_path != self.meta_path or sys.path_hooks != self.path_hooks:
            return "import hooks"
        if any(signal.getsignal(s) != h for s, h in self.handlers.items()):
            return "signal handlers"
        if any(sys.modules.get(n) is not m for n, m in self.modules.items()):
            return "replaced modules"
        if builtins.__dict__ != self.builtins:
            return "builtins"
        for live, size, plain in self.sizes:
            # A submodule imported for the first time becomes an attribute of its package
            # (`import dateutil.tz` sets `dateutil.tz`): that is not a change a file made.
            if len(live) != size and (plain is None or _plain_count(live) != plain):
                return "changed shared modules"
        for live, copy in self.namespaces:
            if live != copy:
                return "changed shared modules"
        return None

    def restore(self, child):
        """Forgets the file: its modules from the DAGs folder, the DAG registries, and what it
        changed in sys.path, the environment and the working folder."""
        import importlib
        import linecache

        folders = tuple(f.rstrip(os.sep) + os.sep for f in (child.dags_folder, os.path.dirname(child.path)))
        for name in list(sys.modules.keys() - self.modules.keys()):
            mod = sys.modules.get(name)
            f = getattr(mod, "__file__", None)
            paths = [f] if isinstance(f, str) else [p for p in (getattr(mod, "__path__", None) or ()) if isinstance(p, str)]
            if name.startswith("unusual_prefix_") or not paths or any(
                    os.path.abspath(p).startswith(folders) for p in paths):
                del sys.modules[name]
        sys.path[:] = self.path
        if os.environ != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        ctx = _dag_context()
        if ctx is not None:
            ctx.current_autoregister_module_name = None
            for attr in ("autoregistered_dags", "_context_managed_dags"):
                try:
                    getattr(ctx, attr).clear()
                except Exception:  # noqa: BLE001
                    pass
        tg = sys.modules.get("airflow.utils.task_group")
        tgc = getattr(tg, "TaskGroupContext", None) if tg is not None else None
        if tgc is not None:
            try:
                tgc._context_managed_task_group = None
                tgc._previous_context_managed_task_groups = []
            except Exception:  # noqa: BLE001
                pass
        host = _host()
        if host is not None:
            # The loader itself set the host's loading state: put every global of it back.
            for live, copy in self.namespaces:
                if live is host.__dict__:
                    live.update(copy)
            for attr in ("PARSE_TIME_READS", "_LOCAL_VARIABLES"):
                try:
                    getattr(host, attr).clear()
                except Exception:  # noqa: BLE001
                    pass
        importlib.invalidate_caches()
        linecache.clearcache()


def _child_main(req, out_fd, ans_fd, req_fd, started, max_files):
    """Runs in the forked child: loads ``req``, then (when the file left the process clean) the
    next requests the parent sends on ``req_fd``, up to ``max_files``; never returns."""
    code = 0
    try:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # A short-lived process: collect young objects less often (the limit bounds memory).
        gc.set_threshold(20000, 50, 100)
        current = []

        def exit_hook(status=0):
            # os._exit from the DAG file: report what was imported, then leave as asked.
            if current and os.getpid() == current[0].pid:
                try:
                    current[0].send(b"M", {"modules": current[0].modules()})
                except BaseException:  # noqa: BLE001
                    pass
            _REAL_EXIT(status)

        os._exit = exit_hook
        state = _State()
        buf = b""
        for n in range(max(1, max_files)):
            child = _Child(req, out_fd, ans_fd, started)
            current[:] = [child]
            ok = child.run()
            if os.getpid() != child.pid or not ok or n + 1 >= max_files:
                break
            state.restore(child)
            why = state.clean(child)
            if why is not None:
                if _DEBUG:
                    sys.stderr.write("lithoflow loader: a new process after %s: %s\n" % (child.path, why))
                break
            if n % 8 == 7:
                gc.collect()
            _write_all(out_fd, b"K\n")
            while b"\n" not in buf:
                chunk = os.read(req_fd, 1 << 16)
                if not chunk:
                    _REAL_EXIT(0)
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            started = req.pop("_started", None) or time.monotonic()
    except BaseException:  # noqa: BLE001
        code = 70
    _REAL_EXIT(code)


# ----------------------------------------------------------------------------------------------
# The parent: serves requests, runs children, relays lookups.
# ----------------------------------------------------------------------------------------------


class _Proc:
    """A child process as the parent sees it: busy with one request, cleaning up after it, or
    idle (waiting for the next request on its request pipe)."""

    __slots__ = ("pid", "out_r", "ans_w", "req_w", "pidfd", "buf", "key", "served", "state", "req",
                 "id", "started", "deadline", "where", "modules", "status", "gone")

    def __init__(self, pid, out_r, ans_w, req_w, pidfd, key):
        self.pid = pid
        self.out_r = out_r
        self.ans_w = ans_w
        self.req_w = req_w
        self.pidfd = pidfd
        self.buf = b""
        self.key = key
        self.served = 0
        self.state = "busy"
        self.req = None
        self.id = None
        self.started = 0.0
        self.deadline = float("inf")
        self.where = None
        self.modules = []
        self.status = None
        self.gone = False

    def take(self, req, started):
        self.req = req
        self.id = req.get("id")
        self.started = started
        self.state = "busy"
        self.where = None
        self.modules = []
        timeout_s = _timeout_of(req)
        self.deadline = time.monotonic() + (timeout_s if timeout_s > 0 else DEFAULT_TIMEOUT_S * 10) + KILL_GRACE_S


def _timeout_of(req):
    try:
        return float(req.get("timeout_s") or 0)
    except (TypeError, ValueError):
        req["timeout_s"] = 0
        return 0.0


def _key_of(req):
    return (req.get("memory_mb", DEFAULT_MEMORY_MB), str(req.get("dags_folder") or ""))


class Loader:
    def __init__(self, proto_in, proto_out, max_children, max_files=1):
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.max_children = max(1, max_children)
        self.max_files = max(1, max_files)
        self.sel = selectors.DefaultSelector()
        try:
            self.sel.register(proto_in, selectors.EVENT_READ, ("stdin", None))
            self.stdin_polled = True
        except PermissionError:  # a regular file (epoll refuses it): always readable
            self.stdin_polled = False
        self.in_buf = b""
        self.queue = []
        self.procs = {}
        self.eof = False
        self.has_pidfd = hasattr(os, "pidfd_open")

    def emit(self, obj):
        self.emit_raw(json.dumps(obj, default=_json_default, separators=(",", ":")).encode() + b"\n")

    def emit_raw(self, data):
        _write_all(self.proto_out, data)

    def busy(self):
        return any(p.state != "idle" for p in self.procs.values())

    def serve(self):
        self.emit({"op": "ready", "version": PROTOCOL_VERSION})
        while True:
            self.dispatch()
            if self.eof and not self.queue and not self.busy():
                break
            timeout = None
            if self.procs:
                now = time.monotonic()
                deadline = min(p.deadline for p in self.procs.values())
                if deadline != float("inf"):
                    timeout = max(0.0, deadline - now)
                if not self.has_pidfd:
                    timeout = 0.05 if timeout is None else min(timeout, 0.05)
            if not self.stdin_polled and not self.eof:
                self.read_stdin()
                continue
            for key, _ in self.sel.select(timeout):
                what, proc = key.data
                if what == "stdin":
                    self.read_stdin()
                elif proc.gone:
                    continue
                elif what == "out":
                    self.read_child(proc)
                elif what == "exit":
                    self.child_exited(proc)
            now = time.monotonic()
            for proc in list(self.procs.values()):
                if not self.has_pidfd and not proc.gone:
                    self.poll_exit(proc)
                if not proc.gone and now >= proc.deadline:
                    self.kill_timeout(proc)
        for proc in list(self.procs.values()):
            self.close(proc)
        return 0

    def dispatch(self):
        while self.queue:
            req = self.queue[0]
            idle = [p for p in self.procs.values() if p.state == "idle" and p.key == _key_of(req)]
            if idle:
                self.queue.pop(0)
                self.send(idle[0], req)
            elif len(self.procs) < self.max_children:
                self.queue.pop(0)
                self.spawn(req)
            elif any(p.state == "idle" for p in self.procs.values()):
                # An idle child for another folder or memory limit: make room.
                self.close(next(p for p in self.procs.values() if p.state == "idle"))
            else:
                break

    # -- stdin -----------------------------------------------------------------------------------

    def read_stdin(self):
        try:
            chunk = os.read(self.proto_in, 1 << 20)
        except InterruptedError:
            return
        if not chunk:
            self.eof = True
            self.unregister(self.proto_in)
            return
        self.in_buf += chunk
        while b"\n" in self.in_buf:
            line, self.in_buf = self.in_buf.split(b"\n", 1)
            if line.strip():
                self.handle(line)

    def handle(self, line):
        try:
            msg = json.loads(line)
        except ValueError as e:
            self.emit({"op": "error", "message": "not a JSON line: %s" % e})
            return
        if not isinstance(msg, dict):
            self.emit({"op": "error", "message": "a request is a JSON object"})
            return
        op = msg.get("op")
        if op == "load":
            msg["_started"] = time.monotonic()
            self.queue.append(msg)
        elif op == "answer":
            self.answer(msg)
        elif op == "shutdown":
            self.eof = True
            self.queue.clear()
            self.unregister(self.proto_in)
        elif op == "ping":
            self.emit({"op": "pong", "id": msg.get("id")})
        else:
            self.emit({"id": msg.get("id"), "op": "error", "message": "unknown op %r" % (op,)})

    def answer(self, msg):
        for proc in self.procs.values():
            if proc.state == "busy" and proc.id == msg.get("id"):
                try:
                    _write_all(proc.ans_w, json.dumps(msg, separators=(",", ":")).encode() + b"\n")
                except OSError:
                    pass
                return

    # -- children --------------------------------------------------------------------------------

    def spawn(self, req):
        started = req.pop("_started", time.monotonic())
        out_r, out_w = os.pipe()
        ans_r, ans_w = os.pipe()
        req_r, req_w = os.pipe()
        _timeout_of(req)
        pid = os.fork()
        if pid == 0:
            for fd in (out_r, ans_w, req_w, *self.child_close_fds()):
                try:
                    os.close(fd)
                except OSError:
                    pass
            _child_main(req, out_w, ans_r, req_r, started, self.max_files)
        for fd in (out_w, ans_r, req_r):
            os.close(fd)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        pidfd = None
        if self.has_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                pidfd = None
        if _DEBUG:
            sys.stderr.write("lithoflow loader: child %d for %s\n" % (pid, req.get("path")))
        proc = _Proc(pid, out_r, ans_w, req_w, pidfd, _key_of(req))
        proc.take(req, started)
        os.set_blocking(out_r, False)
        self.procs[pid] = proc
        self.sel.register(out_r, selectors.EVENT_READ, ("out", proc))
        if pidfd is not None:
            self.sel.register(pidfd, selectors.EVENT_READ, ("exit", proc))

    def send(self, proc, req):
        started = req.get("_started") or time.monotonic()
        proc.take(req, started)
        try:
            _write_all(proc.req_w, json.dumps(req, separators=(",", ":")).encode() + b"\n")
        except OSError:
            pass  # the child is gone: its exit answers the request
        req.pop("_started", None)

    def child_close_fds(self):
        fds = [self.proto_in, self.proto_out]
        for proc in self.procs.values():
            fds.extend(fd for fd in (proc.out_r, proc.ans_w, proc.req_w, proc.pidfd) if fd is not None)
        try:
            fds.append(self.sel.fileno())
        except (AttributeError, ValueError):
            pass
        return fds

    def read_child(self, proc):
        while not proc.gone:
            try:
                chunk = os.read(proc.out_r, 1 << 20)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                # EOF: the child and everything it forked are gone; the exit says why.
                self.unregister(proc.out_r)
                if proc.pidfd is None:
                    self.poll_exit(proc, block=True)
                break
            proc.buf += chunk
            self.parse_child(proc)

    def parse_child(self, proc):
        while not proc.gone and b"\n" in proc.buf:
            line, proc.buf = proc.buf.split(b"\n", 1)
            tag, body = line[:1], line[1:]
            if tag == b"R":
                if proc.state == "busy":
                    self.emit_raw(body + b"\n")
                    proc.served += 1
                    proc.state = "cleaning"
                    proc.req = None
                    proc.deadline = time.monotonic() + KILL_GRACE_S * 5
                    if proc.served >= self.max_files:
                        self.close(proc)
                continue
            if tag == b"K":
                if proc.state == "cleaning":
                    proc.state = "idle"
                    proc.deadline = float("inf")
                continue
            try:
                msg = json.loads(body)
            except ValueError:
                continue
            if proc.state != "busy":
                continue
            if tag == b"L":
                msg["id"] = proc.id
                self.emit(msg)
            elif tag == b"W":
                proc.where = (msg.get("file"), msg.get("line"))
            elif tag == b"M":
                proc.modules = msg.get("modules") or []

    def unregister(self, fd):
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def close(self, proc):
        """Ends a child: kills what is left of its process group, reaps it, closes its pipes."""
        if proc.gone:
            return
        proc.gone = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if proc.status is None:
            try:
                _, proc.status = os.waitpid(proc.pid, 0)
            except ChildProcessError:
                pass
        for fd in (proc.out_r, proc.ans_w, proc.req_w, proc.pidfd):
            if fd is None:
                continue
            self.unregister(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        self.procs.pop(proc.pid, None)

    def poll_exit(self, proc, block=False):
        try:
            pid, status = os.waitpid(proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = proc.pid, 0
        if pid == 0:
            return
        proc.status = status
        self.after_exit(proc)

    def child_exited(self, proc):
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = proc.pid, 0
        if pid == 0:
            return
        proc.status = status
        self.after_exit(proc)

    def after_exit(self, proc):
        # The result may still sit in the pipe: read it before deciding the child crashed.
        self.drain(proc)
        if proc.state != "busy":
            self.close(proc)
            return
        status = proc.status or 0
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            if sig == signal.SIGKILL:
                message = ("the process loading the DAG file was killed by SIGKILL (out of memory? "
                           "the memory limit is %s MB)" % proc.req.get("memory_mb", DEFAULT_MEMORY_MB))
            else:
                message = "the process loading the DAG file was killed by %s" % name
            self.error(proc, "crash", "Signal", message)
        else:
            code = os.WEXITSTATUS(status)
            self.error(proc, "crash", "ProcessExit",
                       "the DAG file ended the process loading it with exit status %d "
                       "(os._exit?) before it finished loading" % code)

    def drain(self, proc):
        while True:
            try:
                chunk = os.read(proc.out_r, 1 << 20)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            proc.buf += chunk
        self.parse_child(proc)

    def kill_timeout(self, proc):
        if proc.state != "busy":
            self.close(proc)
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            _, proc.status = os.waitpid(proc.pid, 0)
        except ChildProcessError:
            proc.status = 0
        self.drain(proc)
        if proc.state != "busy":
            self.close(proc)
            return
        path = os.path.abspath(str(proc.req.get("path", "")))
        message = "DagBag import timeout for %s after %ss." % (path, float(proc.req.get("timeout_s") or 0))
        err = {"kind": "timeout", "type": "AirflowTaskTimeout", "file": path}
        if proc.where and proc.where[1]:
            err["file"], err["line"] = proc.where
            message += " The file was running %s:%s." % proc.where
        err["message"] = message
        err["traceback"] = message
        self.result_error(proc, err)

    def error(self, proc, kind, type_, message):
        path = os.path.abspath(str(proc.req.get("path", "")))
        err = {"kind": kind, "type": type_, "message": message, "file": path, "traceback": message}
        self.result_error(proc, err)

    def result_error(self, proc, err):
        elapsed = round((time.monotonic() - proc.started) * 1000.0, 3)
        self.emit({"id": proc.id, "op": "result", "ok": False, "error": err, "modules": proc.modules,
                   "elapsed_ms": elapsed})
        proc.state = "cleaning"
        self.close(proc)


def main():
    # The protocol gets its own descriptors; fd 0 becomes /dev/null and fd 1 becomes stderr, so
    # the DAG files (and anything they start) can neither read requests nor write into answers.
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    try:
        sys.stdout = open(1, "w", buffering=1, closefd=False)
    except OSError:
        pass
    failures = _warm()
    if failures:
        sys.stderr.write("lithoflow loader: could not import %d compat module(s): %s\n"
                         % (len(failures), "; ".join(failures[:5])))
    global _PRELOADED
    if not failures:
        _warm_dag()
    _PRELOADED = frozenset(sys.modules)
    gc.collect()
    gc.freeze()  # the children do not touch (copy) the warm heap's pages when they collect
    return Loader(proto_in, proto_out, _env_int("LITHOFLOW_LOADER_CHILDREN", 2),
                  _env_int("LITHOFLOW_LOADER_REUSE", DEFAULT_REUSE)).serve()


def _env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


if __name__ == "__main__":
    sys.exit(main())
