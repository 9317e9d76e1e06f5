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

COMPAT = os.path.dirname(os.path.abspath(__file__))
if sys.path[:1] != [COMPAT]:
    sys.path.insert(0, COMPAT)

PROTOCOL_VERSION = 1
# Seconds the parent waits after the time limit before it kills the child's process group (the
# child raises the timeout itself first; a loop in C code or a handler swallowing it ends here).
KILL_GRACE_S = 2.0
# The parent's own sanity bound when a request has no time limit.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 2048

_REAL_EXIT = os._exit


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

    def onerror(name):
        failures.append(name)

    for info in pkgutil.walk_packages(airflow.__path__, "airflow.", onerror=onerror):
        if info.name in sys.modules:
            continue
        try:
            __import__(info.name)
        except BaseException as e:  # noqa: BLE001 -- one broken module must not stop warming
            failures.append("%s: %s: %s" % (info.name, type(e).__name__, e))
    # What a DAG file and the description commonly use, imported once here.
    for name in ("datetime", "json", "traceback", "hashlib", "importlib.util", "functools", "inspect",
                 "re", "textwrap", "pendulum", "logging", "random", "uuid", "collections", "itertools"):
        try:
            __import__(name)
        except ImportError:
            pass
    return failures


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
        self.preloaded = set(sys.modules)
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
        for name, mod in list(sys.modules.items()):
            if name in self.preloaded:
                continue
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
            data = json.dumps(result, default=_json_default, separators=(",", ":"))
        except BaseException as e:  # noqa: BLE001
            data = json.dumps(self.error_result(e), default=str, separators=(",", ":"))
        _write_all(self.out_fd, b"R" + data.encode("utf-8", "surrogatepass") + b"\n")

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
        loader.exec_module(module)

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


def _dag_context():
    for name in ("airflow.models.dag", "airflow.sdk.definitions._internal.contextmanager", "airflow.sdk"):
        mod = sys.modules.get(name)
        ctx = getattr(mod, "DagContext", None) if mod is not None else None
        if ctx is not None and hasattr(ctx, "autoregistered_dags"):
            return ctx
    return None


def _dag_classes():
    classes = []
    for name in ("airflow.models.dag", "airflow.sdk", "airflow"):
        mod = sys.modules.get(name)
        cls = getattr(mod, "DAG", None) if mod is not None else None
        if isinstance(cls, type) and cls not in classes:
            classes.append(cls)
    return tuple(classes)


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


def _child_main(req, out_fd, ans_fd, started):
    """Runs in the forked child; never returns."""
    code = 0
    try:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        child = _Child(req, out_fd, ans_fd, started)

        def exit_hook(status=0):
            # os._exit from the DAG file: report what was imported, then leave as asked.
            if os.getpid() == child.pid:
                try:
                    child.send(b"M", {"modules": child.modules()})
                except BaseException:  # noqa: BLE001
                    pass
            _REAL_EXIT(status)

        os._exit = exit_hook
        child.run()
    except BaseException:  # noqa: BLE001
        code = 70
    _REAL_EXIT(code)


# ----------------------------------------------------------------------------------------------
# The parent: serves requests, runs children, relays lookups.
# ----------------------------------------------------------------------------------------------


class _Running:
    __slots__ = ("req", "id", "pid", "out_r", "ans_w", "pidfd", "buf", "deadline", "started",
                 "done", "where", "modules", "status")

    def __init__(self, req, pid, out_r, ans_w, pidfd, deadline, started):
        self.req = req
        self.id = req.get("id")
        self.pid = pid
        self.out_r = out_r
        self.ans_w = ans_w
        self.pidfd = pidfd
        self.buf = b""
        self.deadline = deadline
        self.started = started
        self.done = False
        self.where = None
        self.modules = []
        self.status = None


class Loader:
    def __init__(self, proto_in, proto_out, max_children):
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.max_children = max(1, max_children)
        self.sel = selectors.DefaultSelector()
        try:
            self.sel.register(proto_in, selectors.EVENT_READ, ("stdin", None))
            self.stdin_polled = True
        except PermissionError:  # a regular file (epoll refuses it): always readable
            self.stdin_polled = False
        self.in_buf = b""
        self.queue = []
        self.running = {}
        self.eof = False
        self.has_pidfd = hasattr(os, "pidfd_open")

    def emit(self, obj):
        self.emit_raw(json.dumps(obj, default=_json_default, separators=(",", ":")).encode() + b"\n")

    def emit_raw(self, data):
        _write_all(self.proto_out, data)

    def serve(self):
        self.emit({"op": "ready", "version": PROTOCOL_VERSION})
        while not (self.eof and not self.running and not self.queue):
            while self.queue and len(self.running) < self.max_children:
                self.start(self.queue.pop(0))
            timeout = None
            if self.running:
                now = time.monotonic()
                timeout = max(0.0, min(r.deadline for r in self.running.values()) - now)
                if not self.has_pidfd:
                    timeout = min(timeout, 0.05)
            if not self.stdin_polled and not self.eof:
                self.read_stdin()
                continue
            events = self.sel.select(timeout)
            for key, _ in events:
                what, run = key.data
                if what == "stdin":
                    self.read_stdin()
                elif what == "out":
                    self.read_child(run)
                elif what == "exit":
                    self.child_exited(run)
            now = time.monotonic()
            for run in list(self.running.values()):
                if not self.has_pidfd and not run.done:
                    self.poll_exit(run)
                if not run.done and now >= run.deadline:
                    self.kill_timeout(run)
        return 0

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
            msg["_received"] = time.monotonic()
            self.queue.append(msg)
        elif op == "answer":
            self.answer(msg)
        elif op == "shutdown":
            self.eof = True
            self.queue.clear()
            try:
                self.sel.unregister(self.proto_in)
            except (KeyError, ValueError):
                pass
        elif op == "ping":
            self.emit({"op": "pong", "id": msg.get("id")})
        else:
            self.emit({"id": msg.get("id"), "op": "error", "message": "unknown op %r" % (op,)})

    def answer(self, msg):
        for run in self.running.values():
            if run.id == msg.get("id") and not run.done and run.ans_w is not None:
                try:
                    _write_all(run.ans_w, json.dumps(msg, separators=(",", ":")).encode() + b"\n")
                except OSError:
                    pass
                return

    # -- children --------------------------------------------------------------------------------

    def start(self, req):
        started = req.pop("_received", time.monotonic())
        out_r, out_w = os.pipe()
        ans_r, ans_w = os.pipe()
        try:
            timeout_s = float(req.get("timeout_s") or 0)
        except (TypeError, ValueError):
            timeout_s = 0.0
            req["timeout_s"] = 0
        pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(ans_w)
            for fd in self.child_close_fds():
                try:
                    os.close(fd)
                except OSError:
                    pass
            _child_main(req, out_w, ans_r, started)
        os.close(out_w)
        os.close(ans_r)
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
        deadline = time.monotonic() + (timeout_s if timeout_s > 0 else DEFAULT_TIMEOUT_S * 10) + KILL_GRACE_S
        run = _Running(req, pid, out_r, ans_w, pidfd, deadline, started)
        os.set_blocking(out_r, False)
        self.running[pid] = run
        self.sel.register(out_r, selectors.EVENT_READ, ("out", run))
        if pidfd is not None:
            self.sel.register(pidfd, selectors.EVENT_READ, ("exit", run))

    def child_close_fds(self):
        fds = [self.proto_in, self.proto_out]
        for run in self.running.values():
            fds.extend(fd for fd in (run.out_r, run.ans_w, run.pidfd) if fd is not None)
        try:
            fds.append(self.sel.fileno())
        except (AttributeError, ValueError):
            pass
        return fds

    def read_child(self, run):
        while True:
            try:
                chunk = os.read(run.out_r, 1 << 20)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                # EOF: the child and everything it forked are gone; the exit says why.
                self.unregister(run.out_r)
                if not run.done and not self.has_pidfd:
                    self.poll_exit(run, block=True)
                elif not run.done and run.pidfd is None:
                    self.poll_exit(run, block=True)
                break
            run.buf += chunk
            self.parse_child(run)
            if run.done:
                return

    def parse_child(self, run):
        while not run.done and b"\n" in run.buf:
            line, run.buf = run.buf.split(b"\n", 1)
            tag, body = line[:1], line[1:]
            if tag == b"R":
                self.emit_raw(body + b"\n")
                self.finish(run)
                return
            try:
                msg = json.loads(body)
            except ValueError:
                continue
            if tag == b"L":
                msg["id"] = run.id
                self.emit(msg)
            elif tag == b"W":
                run.where = (msg.get("file"), msg.get("line"))
            elif tag == b"M":
                run.modules = msg.get("modules") or []

    def unregister(self, fd):
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def finish(self, run, status=None):
        """The answer was written: kill what is left of the child's process group, reap, close."""
        run.done = True
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except OSError:
            pass
        if run.status is None:
            try:
                _, run.status = os.waitpid(run.pid, 0)
            except ChildProcessError:
                pass
        for fd in (run.out_r, run.ans_w, run.pidfd):
            if fd is None:
                continue
            self.unregister(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        self.running.pop(run.pid, None)

    def poll_exit(self, run, block=False):
        try:
            pid, status = os.waitpid(run.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = run.pid, 0
        if pid == 0:
            return
        run.status = status
        self.after_exit(run)

    def child_exited(self, run):
        if run.done:
            return
        try:
            pid, status = os.waitpid(run.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = run.pid, 0
        if pid == 0:
            return
        run.status = status
        self.after_exit(run)

    def after_exit(self, run):
        # The result may still sit in the pipe: read it before deciding the child crashed.
        if not run.done:
            self.drain(run)
        if run.done:
            return
        status = run.status or 0
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            if sig == signal.SIGKILL:
                message = ("the process loading the DAG file was killed by SIGKILL (out of memory? "
                           "the memory limit is %s MB)" % run.req.get("memory_mb", DEFAULT_MEMORY_MB))
            else:
                message = "the process loading the DAG file was killed by %s" % name
            self.error(run, "crash", "Signal", message)
        else:
            code = os.WEXITSTATUS(status)
            self.error(run, "crash", "ProcessExit",
                       "the DAG file ended the process loading it with exit status %d "
                       "(os._exit?) before it finished loading" % code)

    def drain(self, run):
        while True:
            try:
                chunk = os.read(run.out_r, 1 << 20)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            run.buf += chunk
        self.parse_child(run)

    def kill_timeout(self, run):
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(run.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            _, run.status = os.waitpid(run.pid, 0)
        except ChildProcessError:
            run.status = 0
        self.drain(run)
        if run.done:
            return
        path = os.path.abspath(str(run.req.get("path", "")))
        message = "DagBag import timeout for %s after %ss." % (path, float(run.req.get("timeout_s") or 0))
        err = {"kind": "timeout", "type": "AirflowTaskTimeout", "file": path}
        if run.where and run.where[1]:
            err["file"], err["line"] = run.where
            message += " The file was running %s:%s." % run.where
        err["message"] = message
        err["traceback"] = message
        self.result_error(run, err)

    def error(self, run, kind, type_, message):
        path = os.path.abspath(str(run.req.get("path", "")))
        err = {"kind": kind, "type": type_, "message": message, "file": path, "traceback": message}
        self.result_error(run, err)

    def result_error(self, run, err):
        elapsed = round((time.monotonic() - run.started) * 1000.0, 3)
        self.emit({"id": run.id, "op": "result", "ok": False, "error": err, "modules": run.modules,
                   "elapsed_ms": elapsed})
        self.finish(run)


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
    gc.collect()
    gc.freeze()  # the children do not touch (copy) the warm heap's pages when they collect
    try:
        n = int(os.environ.get("LITHOFLOW_LOADER_CHILDREN", "2"))
    except ValueError:
        n = 2
    return Loader(proto_in, proto_out, n).serve()


if __name__ == "__main__":
    sys.exit(main())
