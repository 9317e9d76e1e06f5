"""lithoflow's Python runtime: runs one function call per request.

The same code serves two hosts:

* a warm local worker (``python3 -c <this file> --worker``): requests and responses are
  JSON documents framed by a 4-byte big-endian length, requests on stdin, responses on
  the original stdout. Everything the function prints goes elsewhere (see ``_Worker``).
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
    {"type": "result", "call_id": "00003", "ok": false,
     "error": {"kind": "exception", "type": "ValueError", "message": "...",
               "traceback": "..."}, "restart": false, ...}

Error kinds: exception, module_not_found, import_error, function_not_found, binding,
not_json, memory, protocol.
"""

import contextlib
import faulthandler
import importlib
import inspect
import io
import json
import os
import struct
import sys
import time
import traceback

RUNTIME_VERSION = 1
END_MARK = b"\x1e\x1flithoflow-call-end:"
MAX_CAPTURE = 4 * 1024 * 1024
# "<string>" when started with `python3 -c`.
_THIS_FILE = globals().get("__file__", "<string>")

_modules = {}  # module name -> (file, mtime) at import
_checked = {}  # module name -> monotonic time of the last mtime check
RELOAD_CHECK_S = 1.0
_signatures = {}  # function -> inspect.Signature (or None), cached per function object


_NOTHING = frozenset()


class _Raw(str):
    """Already-encoded JSON, spliced into a response without decoding it again."""


def encode(obj):
    """Encodes a message; a `_Raw` result is appended as it is, not decoded and re-encoded."""
    raw = obj.get("result")
    if isinstance(raw, _Raw):
        rest = {k: v for k, v in obj.items() if k != "result"}
        text = json.dumps(rest, separators=(",", ":"), allow_nan=False)
        return text[:-1] + ',"result":' + raw + "}"
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


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


class CloudObject:
    """What a function with an `obj` parameter receives: one part of one object."""

    def __init__(self, spec):
        self.bucket = spec.get("bucket")
        self.key = spec.get("key")
        self.path = spec.get("path")
        self.part = spec.get("part")
        self.total_parts = spec.get("total_parts")
        start, end = spec["range"]
        self.data_byte_range = (start, end - 1)
        self.size = end - start
        self.data_stream = io.BufferedReader(_Range(self.path, start, end))

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


def _user_traceback(e):
    """The traceback of `e` without this runtime's own frames, so it starts in user code."""
    tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != _THIS_FILE]
    return (
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(tb))
        + "".join(traceback.format_exception_only(type(e), e))
    )


def run_call(req):
    """Runs one call request; always returns a response dict."""
    call_id = req.get("call_id")
    out, err = _Capture(), _Capture()
    started = time.perf_counter()
    resp = {"type": "result", "call_id": call_id, "ok": False, "restart": False}
    saved_out, saved_err = sys.stdout, sys.stderr
    try:
        _add_sys_path(req.get("sys_path"))
        excluded = req.get("exclude_modules")
        func = _load_function(req["module"], req["function"])
        args = req.get("args") or []
        kwargs = req.get("kwargs") or {}
        obj = req.get("obj")
        if obj is not None:
            kwargs["obj"] = CloudObject(obj)
        args, kwargs = _bind(func, args, kwargs, req.get("call_index", 0))
        extra_env = req.get("extra_env")
        memory_mb = req.get("memory_mb")
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
        try:
            encoded = json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise FunctionError(
                "not_json",
                "the function returned a value of type `%s` that JSON cannot hold: %s"
                % (type(result).__name__, e),
            ) from None
        resp["ok"] = True
        resp["result"] = _Raw(encoded)
    except FunctionError as e:
        resp["error"] = {
            "kind": e.kind,
            "type": type(e.exc).__name__ if e.exc is not None else e.kind,
            "message": e.message,
            "traceback": _user_traceback(e.exc) if e.exc is not None else "",
        }
        resp["restart"] = e.kind == "memory"
    except BaseException as e:  # the function raised (SystemExit and KeyboardInterrupt too)
        resp["error"] = {
            "kind": "exception",
            "type": type(e).__name__,
            "message": str(e),
            "traceback": _user_traceback(e),
        }
        resp["restart"] = isinstance(e, (SystemExit, KeyboardInterrupt))
    resp["duration_s"] = time.perf_counter() - started
    resp["stdout"] = out.getvalue()
    resp["stderr"] = err.getvalue()
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


def handler(event, context):
    """The AWS Lambda entry point: one request in, one response out."""
    return json.loads(encode(handle(event)))


class _Worker:
    """Serves framed requests on stdin until stdin closes."""

    def __init__(self):
        # The protocol owns the original stdout. File descriptor 1 is pointed at stderr,
        # so output written below Python's sys.stdout (C extensions, os.write(1, ...),
        # child processes) cannot corrupt the protocol stream.
        self.out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
        # The protocol owns stdin too; a function that reads stdin gets end-of-file.
        self.inp = os.fdopen(os.dup(0), "rb")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = io.TextIOWrapper(os.fdopen(0, "rb"))
        faulthandler.enable(file=sys.stderr)

    def read(self):
        head = self.inp.read(4)
        if len(head) < 4:
            return None
        (n,) = struct.unpack(">I", head)
        body = self.inp.read(n)
        if len(body) < n:
            return None
        return json.loads(body)

    def write(self, obj):
        body = encode(obj).encode()
        self.out.write(struct.pack(">I", len(body)) + body)

    def serve(self):
        self.write(
            {
                "type": "hello",
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "executable": sys.executable,
                "runtime_version": RUNTIME_VERSION,
            }
        )
        while True:
            req = self.read()
            if req is None:
                return
            resp = handle(req)
            if req.get("type") == "call":
                # Marks where this call's output on file descriptors 1 and 2 ends, so
                # the host can give each call exactly its own output.
                try:
                    sys.__stderr__.flush()
                except Exception:
                    pass
                os.write(2, END_MARK + str(req.get("call_id")).encode() + b"\n")
            self.write(resp)
            if resp.get("restart"):
                return


if __name__ == "__main__" and "--worker" in sys.argv:
    sys.argv = [sys.argv[0]]
    _Worker().serve()
