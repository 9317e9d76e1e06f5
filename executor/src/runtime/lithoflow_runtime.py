"""lithoflow's Python runtime: runs one function call per request.

The same code serves two hosts:

* a warm local worker (``lithoflow_worker.py`` beside this file imports it): requests and
  responses are JSON documents framed by a 4-byte big-endian length, requests on stdin,
  responses on the original stdout. Everything the function prints goes elsewhere (see
  ``_Worker`` there). The worker gets a job's settings once and its calls in chunks
  (``run_call(call, job)``).
* AWS Lambda: ``handler(event, context)`` takes one request dict and returns the response
  dict.

Request (type "call")::

    {"type": "call", "call_id": "00003", "call_index": 3,
     "module": "my_functions", "function": "add",
     "args": [1], "kwargs": {"y": 1}, "extra_env": {}, "sys_path": ["/dags"],
     "memory_mb": null, "obj": null}

Response::

    {"type": "result", "call_id": "00003", "ok": true, "result": 2,
     "stdout": "", "stderr": "", "duration_s": 0.0001}

A local worker sends what a call prints while it runs, before the call's result, and
leaves the result's "stdout" and "stderr" empty (see ``_Streamer``)::

    {"type": "output", "parts": [["stdout", "line\n"], ["stderr", "warning\n"]]}
    {"type": "result", "call_id": "00003", "ok": false,
     "error": {"kind": "exception", "type": "ValueError", "message": "...",
               "traceback": "..."}, "restart": false, ...}

Error kinds: exception, module_not_found, import_error, function_not_found, binding,
not_json, memory, input (an object part cannot be read), protocol.

While a call runs on a local worker, the function may ask the host for something (a
variable, a connection, an XCom value, its context: the ``lithoflow`` module users import,
``lithoflow.py``), and the call waits for the host's answer::

    {"type": "request", "id": 1, "op": "variable_get", "key": "threshold"}
    {"type": "answer", "id": 1, "ok": true, "value": {"value": "10"}}

The answer comes on stdin, where a batch's next call requests may already wait; those
are kept for later (``_Worker.pending`` in ``lithoflow_worker.py``).
"""

import contextlib
import faulthandler
import importlib
import io
import json
import os
import struct
import sys
import threading
import time


class _Lazy:
    """A module imported when it is first used: ``inspect`` (and what it imports) costs
    several milliseconds of every worker's start, and a map's fast path never needs it."""

    def __init__(self, name):
        self._lazy_name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._lazy_name)
        globals()[self._lazy_name] = module
        return getattr(module, attr)


inspect = _Lazy("inspect")

RUNTIME_VERSION = 1
END_MARK = b"\x1e\x1flithoflow-call-end:"
MAX_CAPTURE = 4 * 1024 * 1024
# "<string>" when run from source given on a command line.
_THIS_FILE = globals().get("__file__", "<string>")

_modules = {}  # module name -> (file, mtime) at import
_checked = {}  # module name -> monotonic time of the last mtime check
RELOAD_CHECK_S = 1.0
# The modules of Airflow DAG files' tasks (executor/python/compat/lithoflow_dagfiles.py).
DAGFILE_PREFIX = "lithoflow_dagfile_"
_signatures = {}  # function -> inspect.Signature (or None), cached per function object


_NOTHING = frozenset()

# The `lithoflow` module users import (`from lithoflow import Variable`): the file
# `lithoflow.py` beside this one, locally (the worker imports it when it starts) and on
# Lambda.
_lithoflow = None
_LITHOFLOW_FILE = "<lithoflow>"


def _install_lithoflow(source):
    """Makes the `lithoflow` module from its source (a host that runs this file without
    the module beside it)."""
    global _lithoflow
    import types

    module = types.ModuleType("lithoflow")
    module.__file__ = _LITHOFLOW_FILE
    exec(compile(source, _LITHOFLOW_FILE, "exec"), module.__dict__)
    sys.modules["lithoflow"] = module
    _lithoflow = module


def _lithoflow_module():
    """The `lithoflow` module: the installed one, else the file beside this runtime."""
    global _lithoflow
    if _lithoflow is None:
        try:
            import lithoflow as module
        except ImportError:
            return None
        _lithoflow = module
    return _lithoflow


class _Raw(str):
    """Already-encoded JSON, spliced into a response without decoding it again."""


POKE_RETURN_VALUE_KEY = "__lithoflow_poke_return_value__"


def _poke_return_value(result):
    """A sensor callable's ``PokeReturnValue`` (lithoflow's, or Airflow's own class) as
    JSON the scheduler reads; any other value as it is."""
    cls = type(result)
    if cls.__name__ == "PokeReturnValue" and hasattr(result, "is_done"):
        return {
            POKE_RETURN_VALUE_KEY: True,
            "is_done": bool(result.is_done),
            "xcom_value": getattr(result, "xcom_value", None),
        }
    return result


def encode(obj):
    """Encodes a message; a `_Raw` result is appended as it is, not decoded and re-encoded."""
    raw = obj.get("result")
    if isinstance(raw, _Raw):
        rest = {k: v for k, v in obj.items() if k != "result"}
        text = json.dumps(rest, separators=(",", ":"), allow_nan=False)
        return text[:-1] + ',"result":' + raw + "}"
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


_encode_value = json.JSONEncoder(allow_nan=False).encode


class FunctionError(Exception):
    """A call that could not run for a reason named by `kind`."""

    def __init__(self, kind, message, exc=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.exc = exc


_last_sys_path = None


def _add_sys_path(paths):
    global _last_sys_path
    if paths == _last_sys_path:
        return
    for p in reversed(paths or []):
        if p not in sys.path:
            sys.path.insert(0, p)
    _last_sys_path = paths


def _load_module(name):
    """Imports a module once; re-imports it when its file changed on disk."""
    module = sys.modules.get(name)
    if module is not None and name in _modules:
        now = time.monotonic()
        if now - _checked.get(name, 0.0) < RELOAD_CHECK_S:
            return module
        _checked[name] = now
        path, mtime = _modules[name]
        try:
            if path and os.stat(path).st_mtime_ns != mtime:
                importlib.invalidate_caches()
                module = importlib.reload(module)
                _modules[name] = (path, os.stat(path).st_mtime_ns)
        except OSError:
            pass
        return module
    if name.startswith(DAGFILE_PREFIX) and "lithoflow_dagfiles" not in sys.modules:
        # A task of an Airflow DAG file (.py): lithoflow_dagfiles (in the compatibility
        # package, on sys.path for such tasks) installs the finder that imports the file.
        try:
            importlib.import_module("lithoflow_dagfiles")
        except ImportError as e:
            raise FunctionError(
                "module_not_found",
                "module `%s` is a task of an Airflow DAG file, and lithoflow's Airflow "
                "compatibility package cannot be imported (%s); searched sys.path: %s"
                % (name, e, json.dumps(sys.path)),
            ) from None
    try:
        importlib.invalidate_caches()
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing = e.name or name
        if name == missing or name.startswith(missing + "."):
            raise FunctionError(
                "module_not_found",
                "module `%s` not found; searched sys.path: %s" % (name, json.dumps(sys.path)),
            ) from None
        raise FunctionError(
            "import_error",
            "importing module `%s` failed: %s: %s" % (name, type(e).__name__, e),
            e,
        ) from None
    except Exception as e:  # the module itself raised while importing
        raise FunctionError(
            "import_error",
            "importing module `%s` failed: %s: %s" % (name, type(e).__name__, e),
            e,
        ) from None
    path = getattr(module, "__file__", None)
    try:
        _modules[name] = (path, os.stat(path).st_mtime_ns if path else None)
    except OSError:
        _modules[name] = (path, None)
    return module


class _Excluded:
    """A meta path finder that hides `exclude_modules` from the function while it runs."""

    def __init__(self):
        self.names = _NOTHING
        self.hidden = {}

    def find_spec(self, name, path=None, target=None):
        if self.names and (name in self.names or name.split(".")[0] in self.names):
            raise ModuleNotFoundError("module `%s` is excluded by exclude_modules" % name, name=name)
        return None

    def hide(self, names):
        """Takes excluded modules (and their submodules) out of sys.modules for a call."""
        self.names = names
        self.hidden = {
            k: m for k, m in sys.modules.items() if k in names or k.split(".")[0] in names
        }
        for k in self.hidden:
            del sys.modules[k]

    def restore(self):
        self.names = _NOTHING
        sys.modules.update(self.hidden)
        self.hidden = {}


_excluded = _Excluded()
sys.meta_path.insert(0, _excluded)


def _load_function(module_name, function_name):
    module = _load_module(module_name)
    func = getattr(module, function_name, None)
    if func is None or not callable(func):
        where = getattr(module, "__file__", None) or module_name
        what = "has no function" if func is None else "has a non-callable attribute"
        raise FunctionError(
            "function_not_found", "module `%s` (%s) %s `%s`" % (module_name, where, what, function_name)
        )
    return func


def _describe(func):
    try:
        return "%s%s" % (func.__name__, inspect.signature(func))
    except (TypeError, ValueError):
        return getattr(func, "__name__", repr(func))


class _Range(io.RawIOBase):
    """A readable stream over bytes [start, end) of a local file."""

    def __init__(self, path, start, end):
        super().__init__()
        self._f = open(path, "rb")
        self._f.seek(start)
        self._left = max(0, end - start)

    def readable(self):
        return True

    def readinto(self, b):
        if self._left <= 0:
            return 0
        n = self._f.readinto(memoryview(b)[: min(len(b), self._left)])
        self._left -= n
        return n

    def close(self):
        self._f.close()
        super().close()


_s3_client = None


def _s3():
    """A boto3 S3 client, made once. boto3 finds the endpoint (AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_S3), region and credentials itself, as on Lambda; path-style
    addressing when an endpoint is set, as S3-compatible servers need."""
    global _s3_client
    if _s3_client is None:
        import boto3
        from botocore.config import Config

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"max_attempts": 6, "mode": "standard"},
        )
        _s3_client = boto3.client("s3", config=config)
    return _s3_client


def _s3_range(bucket, key, start, end):
    """A readable stream over bytes [start, end) of an S3 object (one ranged GET)."""
    if end <= start:
        return io.BytesIO(b"")
    try:
        resp = _s3().get_object(Bucket=bucket, Key=key, Range="bytes=%d-%d" % (start, end - 1))
    except Exception as e:
        raise FunctionError(
            "input",
            "cannot read bytes %d-%d of s3://%s/%s: %s: %s" % (start, end - 1, bucket, key, type(e).__name__, e),
        ) from None
    return io.BufferedReader(_Body(resp["Body"]))


class _Body(io.RawIOBase):
    """A raw stream over a boto3 StreamingBody, so the function gets the same buffered
    stream (read, readline, iteration by line) as for a local file."""

    def __init__(self, body):
        super().__init__()
        self._body = body

    def readable(self):
        return True

    def readinto(self, b):
        data = self._body.read(len(b))
        n = len(data)
        memoryview(b)[:n] = data
        return n

    def close(self):
        try:
            self._body.close()
        finally:
            super().close()


class CloudObject:
    """What a function with an `obj` parameter receives: one part of one object.

    The part's bytes come inline (`data_b64`: an S3 part the host read for a local
    worker), from a local file (`path`), or from S3 (`bucket`: the runtime reads its range
    itself, as on Lambda).
    """

    def __init__(self, spec):
        self.bucket = spec.get("bucket")
        self.key = spec.get("key")
        self.path = spec.get("path")
        self.part = spec.get("part")
        self.total_parts = spec.get("total_parts")
        start, end = spec["range"]
        self.data_byte_range = (start, end - 1)
        self.size = end - start
        inline = spec.get("data_b64")
        if inline is not None:
            import base64

            self.data_stream = io.BytesIO(base64.b64decode(inline))
        elif self.path is not None:
            self.data_stream = io.BufferedReader(_Range(self.path, start, end))
        elif self.bucket is not None:
            self.data_stream = _s3_range(self.bucket, self.key, start, end)
        else:
            raise FunctionError("input", "object part %r names no file, bucket or data" % (self.key,))

    def __repr__(self):
        return "CloudObject(key=%r, part=%r/%r, range=%r)" % (
            self.key, self.part, self.total_parts, self.data_byte_range,
        )


def _signature(func):
    try:
        return _signatures[func]
    except KeyError:
        pass
    except TypeError:  # unhashable callable
        return None
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        sig = None
    _signatures[func] = sig
    return sig


def _binding_error(func, args, kwargs):
    """Why `func(*args, **kwargs)` cannot bind, or None if it can."""
    sig = _signature(func)
    if sig is None:
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        return FunctionError(
            "binding",
            "cannot call %s with arguments %s and keyword arguments %s: %s"
            % (_describe(func), json.dumps(args, default=str)[:300], json.dumps(sorted(kwargs))[:300], e),
        )
    return None


def _bind(func, args, kwargs, call_index):
    sig = _signature(func)
    if sig is None:
        return args, kwargs
    if "id" in sig.parameters and "id" not in kwargs:
        # As in Lithops, `id` is left out when arguments bind: positional values go to
        # the other parameters, and `id` gets the call's index.
        names = [
            p.name
            for p in sig.parameters.values()
            if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name != "id"
        ]
        named = dict(zip(names, args))
        twice = sorted(set(named) & set(kwargs))
        if twice:
            raise FunctionError(
                "binding",
                "cannot call %s with arguments %s and keyword arguments %s: multiple values for argument '%s'"
                % (_describe(func), json.dumps(args, default=str)[:300], json.dumps(sorted(kwargs))[:300], twice[0]),
            )
        args = args[len(named):]
        kwargs = {**named, **kwargs, "id": call_index}
    return args, kwargs


def _bind_airflow(func, args, kwargs, context):
    """Airflow's PythonOperator binding (`KeywordParameters.determine`): `op_kwargs`
    win over the context; a function taking `**kwargs` gets the whole context, any other
    only the context values it names; a context name bound by a positional argument is
    an error, as in Airflow."""
    sig = _signature(func)
    if sig is None:
        return args, kwargs
    names = list(sig.parameters)
    for name in names[: len(args)]:
        if name in context:
            raise FunctionError(
                "binding",
                "the key %r in args is a part of kwargs and therefore reserved" % name,
            )
    merged = dict(context)
    merged.update(kwargs)
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return args, merged
    positional = set(names[: len(args)])
    chosen = {k: v for k, v in merged.items() if k in sig.parameters and k not in positional}
    for k in kwargs:
        # An op_kwargs name the function does not take is an error, as in Python.
        chosen.setdefault(k, kwargs[k])
    return args, chosen


@contextlib.contextmanager
def _env(extra):
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _memory_limit(mb):
    """Limits the data segment (heap and anonymous mappings) to `mb` MB while a call runs."""
    if not mb:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class _Capture(io.StringIO):
    def write(self, s):
        if self.tell() < MAX_CAPTURE:
            return super().write(s)
        return len(s)


class _Streamer:
    """A local worker's output of the running call, sent to the host as it is printed.

    Line-buffered and coalesced: a write that ends a line is sent at once unless the last
    frame left less than ``DELAY`` ago; anything else waits at most ``DELAY`` (a timer
    thread sends it), or until ``LIMIT`` characters are waiting. A call that prints
    nothing sends no frame. Everything waiting is sent before the call's result, so the
    host gives each call exactly its own output, and what a call printed up to ``DELAY``
    before it was killed (its timeout) has already left the worker.
    """

    DELAY = 0.02
    LIMIT = 64 * 1024

    def __init__(self, send):
        self.send = send
        self.cond = threading.Condition()
        self.parts = []
        self.size = 0
        self.counts = {"stdout": 0, "stderr": 0}
        self.last = 0.0
        self.due = None
        self.active = False
        self.timer = None
        self.stdout = _Stream(self, "stdout")
        self.stderr = _Stream(self, "stderr")

    def begin(self):
        with self.cond:
            self.active = True
            self.counts = {"stdout": 0, "stderr": 0}
        if self.timer is None:
            # Started before the call's memory limit applies; without a thread, waiting
            # output is sent at the next line or the call's end.
            try:
                self.timer = threading.Thread(target=self._run, name="lithoflow-output", daemon=True)
                self.timer.start()
            except RuntimeError:
                self.timer = False

    def end(self):
        with self.cond:
            self._send()
            self.active = False

    def add(self, stream, s, flush=False):
        with self.cond:
            if not self.active:
                return
            n = self.counts[stream]
            if n >= MAX_CAPTURE:
                return
            if s:
                s = s[: MAX_CAPTURE - n]
                self.counts[stream] = n + len(s)
                if self.parts and self.parts[-1][0] == stream:
                    self.parts[-1][1].append(s)
                else:
                    self.parts.append((stream, [s]))
                self.size += len(s)
            if not self.parts:
                return
            now = time.monotonic()
            if self.size >= self.LIMIT or ((flush or "\n" in s) and now - self.last >= self.DELAY):
                self._send(now)
            elif self.due is None:
                self.due = now + self.DELAY
                self.cond.notify()

    def _send(self, now=None):
        self.due = None
        if not self.parts:
            return
        parts = [[stream, "".join(texts)] for stream, texts in self.parts]
        self.parts = []
        self.size = 0
        self.last = time.monotonic() if now is None else now
        self.send({"type": "output", "parts": parts})

    def _run(self):
        with self.cond:
            while True:
                if self.due is None:
                    self.cond.wait()
                    continue
                delay = self.due - time.monotonic()
                if delay > 0:
                    self.cond.wait(delay)
                else:
                    try:
                        self._send()
                    except Exception:  # the host is gone; the main thread sees it too
                        self.parts = []


class _Stream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` of a call on a local worker."""

    def __init__(self, streamer, name):
        super().__init__()
        self._streamer = streamer
        self._name = name

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        n = len(s)
        if _lithoflow is not None and _lithoflow._secrets:
            s = _lithoflow._redact(s)
        self._streamer.add(self._name, s)
        return n

    def flush(self):
        self._streamer.add(self._name, "", flush=True)


# Set by a local worker: calls stream their output instead of returning it.
_STREAMER = None
# Set on AWS Lambda, where a call cannot ask the host for anything.
_ON_LAMBDA = False


# The compatibility package's files that run a .py DAG file's task around its user code.
_DAGFILE_PLUMBING = ("lithoflow_dagfiles.py", "lithoflow_venv.py", os.path.join("_lithoflow", "shims.py"))


def _user_traceback(e):
    """The traceback of `e` without this runtime's own frames, so it starts in user code
    (nor the frames of a .py DAG task's plumbing, unless the error was raised there)."""
    import traceback  # only when a call failed: about 2 ms of every worker's start

    # The worker script beside this file runs plain calls itself (`run_plain`).
    worker = os.path.join(os.path.dirname(_THIS_FILE), "lithoflow_worker.py")
    mine = (_THIS_FILE, worker, _LITHOFLOW_FILE, getattr(_lithoflow, "__file__", _LITHOFLOW_FILE))
    tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename not in mine]
    if tb and not tb[-1].filename.endswith(_DAGFILE_PLUMBING):
        tb = [f for f in tb if not f.filename.endswith(_DAGFILE_PLUMBING)]
    return (
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(tb))
        + "".join(traceback.format_exception_only(type(e), e))
    )


def _error_of(e):
    """A failed call's ``error`` and whether its worker must restart: a `FunctionError`
    by its kind, anything else as the exception the function raised."""
    if isinstance(e, FunctionError):
        error = {
            "kind": e.kind,
            "type": type(e.exc).__name__ if e.exc is not None else e.kind,
            "message": e.message,
            "traceback": _user_traceback(e.exc) if e.exc is not None else "",
        }
        return error, e.kind == "memory"
    error = {
        "kind": "exception",
        "type": type(e).__name__,
        "message": str(e),
        "traceback": _user_traceback(e),
    }
    return error, isinstance(e, (SystemExit, KeyboardInterrupt))


def _returned(result):
    """A function's return value as JSON text (`not_json` when JSON cannot hold it)."""
    result = _poke_return_value(result)
    kind = type(result)
    if kind is int:
        return int.__repr__(result)
    if result is None:
        return "null"
    try:
        return _encode_value(result)
    except (TypeError, ValueError) as e:
        raise FunctionError(
            "not_json",
            "the function returned a value of type `%s` that JSON cannot hold: %s"
            % (type(result).__name__, e),
        ) from None


def run_call(req, job=None):
    """Runs one call request; always returns a response dict. ``job`` holds the
    job-wide settings (module, function, sys_path, extra_env, exclude_modules,
    memory_mb) when a local worker got them once for the job; else ``req`` has them."""
    if job is None:
        job = req
    call_id = req.get("call_id")
    streamer = _STREAMER
    if streamer is None:
        out, err = _Capture(), _Capture()
    else:
        out, err = streamer.stdout, streamer.stderr
        streamer.begin()
    started = time.perf_counter()
    resp = {"type": "result", "call_id": call_id, "ok": False, "restart": False}
    saved_out, saved_err = sys.stdout, sys.stderr
    context = req.get("airflow_context")
    lf = _lithoflow_module()
    if lf is not None:
        lf._begin_call(context, on_lambda=_ON_LAMBDA)
    try:
        _add_sys_path(job.get("sys_path"))
        excluded = job.get("exclude_modules")
        func = _load_function(job["module"], job["function"])
        args = req.get("args") or []
        kwargs = req.get("kwargs") or {}
        obj = req.get("obj")
        if obj is not None:
            kwargs["obj"] = CloudObject(obj)
        if context is not None and req.get("context_positional"):
            # An Airflow callback: the whole context is its one argument.
            args = [lf._callback_context() if lf is not None else dict(context)]
            kwargs = {}
        elif context is not None:
            if lf is not None:
                context = lf._context_of_call()
            args, kwargs = _bind_airflow(func, args, kwargs, context)
        else:
            args, kwargs = _bind(func, args, kwargs, req.get("call_index", 0))
        extra_env = job.get("extra_env")
        memory_mb = job.get("memory_mb")
        env = _env(extra_env) if extra_env else None
        limit = _memory_limit(memory_mb) if memory_mb else None
        try:
            if env is not None:
                env.__enter__()
            if excluded:
                _excluded.hide(frozenset(excluded))
            sys.stdout, sys.stderr = out, err
            if limit is not None:
                limit.__enter__()
            try:
                result = func(*args, **kwargs)
            except MemoryError as e:
                raise FunctionError(
                    "memory",
                    "function exceeded its memory limit of %s MB (runtime_memory)" % memory_mb,
                    e,
                ) from None
            except TypeError as e:
                # Raised at the call itself (not inside the function): the arguments do not bind.
                if e.__traceback__ is not None and e.__traceback__.tb_next is None:
                    binding = _binding_error(func, args, kwargs)
                    if binding is not None:
                        raise binding from None
                raise
            finally:
                if limit is not None:
                    limit.__exit__(None, None, None)
        finally:
            sys.stdout, sys.stderr = saved_out, saved_err
            if excluded:
                _excluded.restore()
            if env is not None:
                env.__exit__(None, None, None)
            if obj is not None:
                kwargs["obj"].data_stream.close()
        if lf is not None:
            # `outlet_events[asset].extra` set by the callable, for its outlets' events.
            lf._send_outlet_events()
        resp["result"] = _Raw(_returned(result))
        resp["ok"] = True
    except BaseException as e:  # the function raised (SystemExit and KeyboardInterrupt too)
        resp["error"], resp["restart"] = _error_of(e)
    if lf is not None:
        lf._end_call()
    resp["duration_s"] = time.perf_counter() - started
    if streamer is None:
        resp["stdout"] = out.getvalue()
        resp["stderr"] = err.getvalue()
    else:
        streamer.end()
        resp["stdout"] = resp["stderr"] = ""
    return resp


def run_inspect(req):
    """Describes a function's parameters, so the host can bind arguments and detect `obj`."""
    try:
        _add_sys_path(req.get("sys_path"))
        func = _load_function(req["module"], req["function"])
        try:
            sig = inspect.signature(func)
            params = [
                {"name": p.name, "kind": p.kind.name, "has_default": p.default is not inspect.Parameter.empty}
                for p in sig.parameters.values()
            ]
        except (TypeError, ValueError):
            params = []
        return {"type": "inspected", "ok": True, "params": params, "signature": _describe(func)}
    except FunctionError as e:
        return {"type": "inspected", "ok": False, "error": {"kind": e.kind, "type": e.kind, "message": e.message, "traceback": ""}}


def handle(req):
    kind = req.get("type")
    if kind == "call":
        return run_call(req)
    if kind == "inspect":
        return run_inspect(req)
    if kind == "ping":
        return {"type": "pong"}
    return {
        "type": "result",
        "call_id": req.get("call_id"),
        "ok": False,
        "error": {"kind": "protocol", "type": "protocol", "message": "unknown request type %r" % (kind,), "traceback": ""},
    }


# --- AWS Lambda ------------------------------------------------------------------------
#
# On Lambda a call request carries an "aws" section the local workers never see:
#
#     {"bucket": "b", "s3_endpoint": null,
#      "modules": {"key": "lithoflow.modules/<sha256>.zip", "sha256": "<sha256>"},
#      "prefix": "lithoflow.jobs/<job>/<run>/map/00003",   # this call's objects
#      "status": true,    # write <prefix>/status.json (the whole answer)
#      "init": true,      # write <prefix>/init (its body: "request") when the call starts
#      "request": "<sha256 of the request>",   # named by both, so a restarted scheduler
#                                              # adopts only answers to the same request
#      "response_limit": 6275072,   # larger answers go to <prefix>/output.json
#      "timeout_s": 60.0,
#      "wait_for": {"prefix": ".../map/", "call_ids": ["00000", ...], "cancel_key": "..."}}
#
# "wait_for" makes the call a reducer that waits, here, for its map calls' status objects
# and gets their results as its first argument. A request {"type": "invoker"} makes this
# function the remote invoker: it reads a phase's requests from S3 and makes their Event
# invocations from inside the cloud.

MODULES_DIR = "lithoflow-modules"
_active_modules = None  # the extracted modules folder on sys.path
_endpoint_clients = {}  # s3 endpoint -> boto3 client


class _CallTimeout(BaseException):
    """Raised in the function when its call's time is up (a BaseException, so user code
    catching Exception cannot swallow it)."""


def _lambda_s3(aws):
    endpoint = aws.get("s3_endpoint")
    if not endpoint:
        return _s3()
    client = _endpoint_clients.get(endpoint)
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 6, "mode": "standard"}),
        )
        _endpoint_clients[endpoint] = client
    return client


def _put(aws, key, body):
    _lambda_s3(aws).put_object(Bucket=aws["bucket"], Key=key, Body=body)


def _use_modules(aws):
    """Puts the job's modules archive on sys.path: downloaded and extracted once per
    container (to /tmp/lithoflow-modules/<sha256>), then reused by every warm call."""
    global _active_modules
    ref = aws.get("modules")
    if not ref:
        return None
    import shutil
    import tempfile
    import zipfile

    root = os.path.join(tempfile.gettempdir(), MODULES_DIR)
    folder = os.path.join(root, ref["sha256"])
    if not os.path.isdir(folder):
        try:
            os.makedirs(root, exist_ok=True)
            data = _lambda_s3(aws).get_object(Bucket=aws["bucket"], Key=ref["key"])["Body"].read()
            tmp = tempfile.mkdtemp(prefix=ref["sha256"] + ".", dir=root)
            zipfile.ZipFile(io.BytesIO(data)).extractall(tmp)
        except Exception as e:
            raise FunctionError(
                "import_error",
                "cannot fetch the function modules from s3://%s/%s: %s: %s"
                % (aws.get("bucket"), ref.get("key"), type(e).__name__, e),
            ) from None
        try:
            os.rename(tmp, folder)
        except OSError:  # another process of this container extracted it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    if _active_modules != folder:
        if _active_modules is not None:
            # Another archive (the DAG folder changed): forget what was imported from
            # the old one, so the new modules are imported.
            old = _active_modules + os.sep
            for name, module in list(sys.modules.items()):
                if (getattr(module, "__file__", None) or "").startswith(old):
                    del sys.modules[name]
                    _modules.pop(name, None)
                    _checked.pop(name, None)
            while _active_modules in sys.path:
                sys.path.remove(_active_modules)
        importlib.invalidate_caches()
        _active_modules = folder
    return folder


def _remaining_s(context):
    try:
        return context.get_remaining_time_in_millis() / 1000.0
    except Exception:
        return None


def _wait_for_maps(aws, wf, context):
    """Waits for the status objects of the map calls a reducer reduces; returns their
    results in order. A failed map call, or the job's cancel mark, stops the wait."""
    s3 = _lambda_s3(aws)
    bucket, prefix, ids = aws["bucket"], wf["prefix"], list(wf["call_ids"])
    results = {}
    pause = 0.1
    while True:
        existing = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            existing.update(o["Key"] for o in page.get("Contents", []))
        progressed = False
        for cid in ids:
            key = prefix + cid + "/status.json"
            if cid in results or key not in existing:
                continue
            status = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if not status.get("ok"):
                err = status.get("error") or {}
                raise FunctionError(
                    "cancelled",
                    "map call %d failed (%s: %s), so the reducer does not run"
                    % (int(cid), err.get("type"), err.get("message")),
                )
            results[cid] = status.get("result")
            progressed = True
        if len(results) == len(ids):
            return [results[cid] for cid in ids]
        cancel_key = wf.get("cancel_key")
        if cancel_key:
            try:
                s3.head_object(Bucket=bucket, Key=cancel_key)
                raise FunctionError("cancelled", "the job stopped while the reducer waited for its map calls")
            except FunctionError:
                raise
            except Exception:
                pass
        remaining = _remaining_s(context)
        if remaining is not None and remaining < 3.0:
            raise FunctionError(
                "timeout",
                "the reducer waited for its map calls until its Lambda function's timeout; %d of %d results had arrived"
                % (len(results), len(ids)),
            )
        time.sleep(pause)
        pause = 0.1 if progressed else min(pause * 1.5, 1.0)


@contextlib.contextmanager
def _alarm(seconds):
    """Raises _CallTimeout in the call after `seconds` (main thread only, as on Lambda;
    elsewhere the host's own deadline applies)."""
    import signal
    import threading

    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise _CallTimeout("the call exceeded its timeout of %gs on AWS Lambda" % seconds)

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _failure(req, kind, message, exc_type=None, tb=""):
    return {
        "type": "inspected" if req.get("type") == "inspect" else "result",
        "call_id": req.get("call_id"),
        "ok": False,
        "restart": False,
        "error": {"kind": kind, "type": exc_type or kind, "message": message, "traceback": tb},
        "stdout": "",
        "stderr": "",
        "duration_s": 0.0,
    }


def _run_lambda(event, aws, context):
    """Runs one request on Lambda: modules, start mark, remote wait, time limit.

    The answer names the request it answers ("request"), and says when the function was
    never reached ("unrun": the modules could not be fetched, a reducer's wait was cut
    short): a restarted scheduler invokes such a call again, and adopts any other."""
    global _ON_LAMBDA
    _ON_LAMBDA = True
    prefix = aws.get("prefix")
    saved_out, saved_err = sys.stdout, sys.stderr
    entered = False
    try:
        if aws.get("init") and prefix:
            _put(aws, prefix + "/init", (aws.get("request") or "").encode())
        folder = _use_modules(aws)
        if folder:
            event["sys_path"] = [folder]
        # Lambda enforces the function's memory itself.
        event["memory_mb"] = None
        wf = aws.get("wait_for")
        if wf and event.get("type") == "call":
            event["args"] = [_wait_for_maps(aws, wf, context)] + list(event.get("args") or [])
        limit = aws.get("timeout_s") or 0
        remaining = _remaining_s(context)
        if remaining is not None:
            # Stop the call cleanly before Lambda kills the function.
            cap = max(remaining - 1.5, 0.1)
            limit = min(limit, cap) if limit else cap
        with _alarm(limit):
            entered = True
            resp = handle(event)
    except _CallTimeout as e:
        resp = _failure(event, "timeout", str(e), "TimeoutError")
    except FunctionError as e:
        resp = _failure(event, e.kind, e.message)
    except Exception as e:  # the runtime's own trouble (S3 unreachable, ...)
        import traceback

        resp = _failure(event, "protocol", "the lithoflow runtime failed on Lambda: %s: %s" % (type(e).__name__, e),
                        tb=traceback.format_exc())
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
    err = resp.get("error")
    if isinstance(err, dict) and err.get("type") == "_CallTimeout":
        # The time limit fired inside the function: the traceback shows where it was.
        err["kind"] = "timeout"
        err["type"] = "TimeoutError"
        err["traceback"] = (err.get("traceback") or "").replace(
            "lithoflow_runtime._CallTimeout", "TimeoutError"
        ).replace("_CallTimeout", "TimeoutError")
    if aws.get("request"):
        resp["request"] = aws["request"]
    if not entered:
        resp["unrun"] = True
    return resp


def _run_invoker(event, context):
    """The remote invoker: reads a phase's requests from S3 and makes their Event
    invocations from inside the cloud, retrying throttling with backoff."""
    import concurrent.futures
    import random

    aws = event.get("aws") or {}
    try:
        spec = json.loads(_lambda_s3(aws).get_object(Bucket=aws["bucket"], Key=aws["key"])["Body"].read())
        import boto3
        from botocore.config import Config
    except Exception as e:
        return {"type": "invoker_failed", "error": "cannot read the calls from s3://%s/%s: %s: %s"
                % (aws.get("bucket"), aws.get("key"), type(e).__name__, e)}
    function, calls = spec["function"], spec["calls"]
    threads = max(1, int(spec.get("threads") or 64))
    client = boto3.client(
        "lambda",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=threads),
    )
    remaining = _remaining_s(context)
    deadline = time.time() + (max(remaining - 5.0, 1.0) if remaining is not None else 600.0)

    def invoke(i):
        pause, attempts = 0.1, 0
        while True:
            attempts += 1
            try:
                client.invoke(FunctionName=function, InvocationType="Event", Payload=calls[i].encode())
                return None
            except Exception as e:
                response = getattr(e, "response", None) or {}
                code = (response.get("Error") or {}).get("Code", "")
                status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
                retry = (
                    status is None
                    or status == 429
                    or status >= 500
                    or code in ("TooManyRequestsException", "ServiceException", "ResourceNotReadyException")
                )
                if not retry:
                    return "%s: %s" % (code or type(e).__name__, e)
                if time.time() + pause > deadline:
                    return "still failing after %d attempts: %s" % (attempts, e)
                time.sleep(pause / 2 + random.random() * pause / 2)
                pause = min(pause * 2, 10.0)

    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, max(1, len(calls)))) as pool:
        for i, error in enumerate(pool.map(invoke, range(len(calls)))):
            if error:
                failed.append({"index": i, "error": error})
    return {"type": "invoked", "invoked": len(calls) - len(failed), "failed": failed}


def handler(event, context):
    """The AWS Lambda entry point: one request in, one response out.

    Exceptions in user code come back in the response with their type, message and
    traceback (Lambda's own error reporting is not used: it loses the traceback on some
    hosts). An answer larger than the request's `response_limit` is written to S3 and
    a reference to it is returned instead.
    """
    if not isinstance(event, dict):
        return {"type": "result", "ok": False, "error": {"kind": "protocol", "type": "protocol",
                "message": "the request is not a JSON object", "traceback": ""}}
    kind = event.get("type")
    if kind == "ping":
        return {"type": "pong", "runtime_version": RUNTIME_VERSION, "python": sys.version.split()[0]}
    if kind == "invoker":
        return _run_invoker(event, context)
    aws = event.pop("aws", None)
    if not aws:
        return json.loads(encode(handle(event)))
    resp = _run_lambda(event, aws, context)
    body = encode(resp)
    prefix = aws.get("prefix")
    if aws.get("status") and prefix:
        _put(aws, prefix + "/status.json", body.encode())
    limit = aws.get("response_limit") or 0
    decoded = json.loads(body)
    # Lambda re-encodes the answer with spaces after separators, so measure that (only
    # when it can be near the limit).
    if limit and prefix and len(body) * 2 > limit and len(json.dumps(decoded)) > limit:
        key = prefix + "/output.json"
        _put(aws, key, body.encode())
        return {
            "type": resp.get("type", "result"),
            "call_id": resp.get("call_id"),
            "ok": resp.get("ok"),
            "offloaded": {"bucket": aws["bucket"], "key": key, "size": len(body)},
        }
    return decoded
