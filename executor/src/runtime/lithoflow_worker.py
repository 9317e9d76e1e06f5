"""lithoflow's local worker: serves the framed protocol on its pipes (``lithoflow_runtime``
runs each call; ``python3 -u <folder>/lithoflow_start.py --worker`` imports this module and
runs ``main``, from the folder the host writes once per content hash, ``runtime-<hash>/`` in the
user's cache folder (``~/.cache/lithoflow/``) or in ``$LITHOFLOW_HOME/python/``, beside
``lithoflow_runtime.py`` and ``lithoflow.py``).

Requests, each a JSON document framed by a 4-byte big-endian length, on stdin:

* ``{"type": "job", "job": 7, "module": "m", "function": "f", "sys_path": [...],
  "extra_env": {...}, "exclude_modules": [...], "memory_mb": null}``: a job's settings,
  sent once per worker before its first calls; kept (the last ``JOBS_KEPT`` of them, the
  host keeps the same count and sends a header again when it dropped it).
* ``{"type": "calls", "job": 7, "calls": [["00003", 3, [args...]], ["00004", 4,
  [args...], {kwargs...}], {"call_id": "00005", "call_index": 5, "args": [...],
  "kwargs": {...}, "obj": {...}}, ...]}``: a chunk of calls of that job, run one after
  the other, answered in order. A plain call is a list (call id, call index, positional
  arguments, and keyword arguments when there are any: cheap to decode); a call with an
  object part or an Airflow context is a dict. A chunk of plain calls with consecutive
  indices and no keyword arguments comes as a range instead, ``{"type": "calls", "job":
  7, "from": 3, "args": [[args...], [args...], ...]}``: the calls 3, 4, ... with those
  positional arguments; ``"arg": [a, b, ...]`` instead of ``"args"`` when each call
  has exactly one argument (one value less to decode per call). A call's id is always
  its index zero-padded to five digits (``"00003"``), so a range needs none. Every answer frame is written after a mark on file
  descriptor 2 (``END_MARK`` and the id of the last call it answers, so the host gives
  what went there to that call).

  A call that fails, prints (through ``sys.stdout``/``sys.stderr``), asks the host
  something, or runs outside the fast path (``run_plain``) is answered by its own
  ``{"type": "result", ...}`` frame, and so is a successful plain call with no answers
  buffered before it that is the chunk's last or took ``BATCH_CALL_S`` or more (a
  one-call chunk's call, a call of a job's own). The other successful plain calls of a
  chunk are answered together, in ONE frame (``Worker.flush``)::

      {"type": "results", "calls": [[3, 1200, <result JSON>], ...]}

  each entry the call's index, its duration in nanoseconds (an integer: cheaper to
  write than a float) and its return value. Those
  answers are buffered and written: at the chunk's end; before any other frame (an
  output frame, a request, another call's own result); and after a call that ends
  ``BATCH_WRITE_S`` or more after the last write, so a long chunk still reports
  progress; a call that took ``BATCH_CALL_S`` or more is written at once, with the
  buffered answers before it. When the buffer stops being empty, the worker first
  writes ``{"type": "buffered", "call_id": "00003"}`` (the call whose answer waits). A
  worker killed while answers wait loses them: the host runs the chunk's unanswered
  calls again, each alone (local.rs); killed with an empty buffer, the call it was
  running is the first unanswered one.
* ``{"type": "call", ...}`` with every setting (the Lambda payload) and
  ``{"type": "inspect", ...}``, one at a time.
"""

import collections
import io
import itertools
import os
import struct
import sys
import threading
import time
import types

# The runtime's own modules are imported with bytecode caching on, even where the
# environment turns it off (PYTHONDONTWRITEBYTECODE): their folder is written once per
# content hash, so the first worker leaves `__pycache__` there and every later start
# reads it (about 10 ms less per start). A cache that cannot be written (a read-only
# folder) or is damaged is ignored by the import system: the source is used instead.
# The user's modules are imported as the environment says.
_dont_write_bytecode = sys.dont_write_bytecode
sys.dont_write_bytecode = False
try:
    import lithoflow_runtime as rt

    rt._lithoflow_module()
finally:
    sys.dont_write_bytecode = _dont_write_bytecode

# How many job headers a worker keeps: `JOBS_KEPT` in local.rs.
JOBS_KEPT = 32
# The longest a finished call's answer waits in a chunk's buffer (see ``run_plain``).
BATCH_WRITE_S = 0.002
# Only the answers of calls shorter than this wait in the buffer: about what writing an
# answer at once costs (two write syscalls, and the host's wake-up), so a longer call
# gains little from waiting, and its answer leaves the worker before the next call
# starts (a crash then never makes a finished call of the chunk run again).
BATCH_CALL_S = 0.000005


def _die_with_host(fd):
    """Kills this worker's process group as soon as its host is gone.

    The host (the scheduler, or a `tasks test`) holds the only write end of the pipe
    on ``fd``; the kernel closes it when the host exits or is killed, SIGKILL included.
    A thread waits for that hang-up (poll with no events asked for reports only
    POLLHUP and POLLERR, so it never reads a byte of the protocol) and then kills the
    whole group: the function running now and anything it started, so that no user
    code goes on running on behalf of a host that will run the task again when it
    restarts. The host puts each worker in a group of its own; it closes the pipe of a
    worker it no longer wants too, and kills that group itself.
    """
    import select
    import signal

    def watch():
        poller = select.poll()
        poller.register(fd, 0)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            if any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in events):
                break
        try:
            if os.getpgrp() == os.getpid():
                os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="lithoflow-host-watch", daemon=True).start()


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
        rt.faulthandler.enable(file=sys.stderr)
        _die_with_host(self.inp.fileno())
        self.pending = []
        # Answers of finished plain calls not yet written (``flush``), each a tuple: call
        # index, duration in ns, result (an int, or its JSON text). Appended by the main
        # thread without a lock (a list's append and slice deletion are atomic); written
        # by whichever thread writes the next frame.
        self.batch = []
        self.jobs = collections.OrderedDict()
        self._request_lock = threading.Lock()
        self._request_id = 0
        lf = rt._lithoflow_module()
        if lf is not None:
            lf._host = self.request

    def _read_frame(self):
        head = self.inp.read(4)
        if len(head) < 4:
            return None
        (n,) = struct.unpack(">I", head)
        body = self.inp.read(n)
        if len(body) < n:
            return None
        return rt.json.loads(body)

    def read(self):
        if self.pending:
            return self.pending.pop(0)
        return self._read_frame()

    def request(self, op, body):
        """Asks the host and waits for its answer: ``(ok, value or message)``. Frames
        that come first (the next calls of a batch) are kept for ``read``. One request
        at a time, whichever thread of the function asks."""
        with self._request_lock:
            self._request_id += 1
            rid = self._request_id
            msg = dict(body)
            msg.update({"type": "request", "id": rid, "op": op})
            try:
                self.write(msg)
            except (TypeError, ValueError) as e:
                return False, "the request cannot be sent as JSON: %s" % e
            while True:
                frame = self._read_frame()
                if frame is None:
                    # The host is gone; `_die_with_host` ends this process.
                    return False, "the host closed the connection"
                if frame.get("type") == "answer" and frame.get("id") == rid:
                    break
                self.pending.append(frame)
        if frame.get("ok"):
            return True, frame.get("value")
        return False, str(frame.get("error") or "the host refused the request")

    # Results (this thread) and output (``_Streamer``'s timer) share the pipe.
    _write_lock = threading.Lock()

    def write(self, obj):
        self.write_body(rt.encode(obj).encode())

    def write_body(self, body):
        """Writes one frame, after the buffered answers (they are older)."""
        with self._write_lock:
            if self.batch:
                self._write_batch()
            self.out.write(struct.pack(">I", len(body)) + body)

    def flush(self):
        """Writes the buffered answers as one ``results`` frame, if there are any."""
        if self.batch:
            with self._write_lock:
                if self.batch:
                    self._write_batch()

    def _write_batch(self):
        # Holding `_write_lock`; the main thread may append meanwhile. The mark names the
        # frame's last call: raw output on the worker's file descriptors 1 and 2 since
        # the last mark goes to that call.
        batch = self.batch
        n = len(batch)
        if not n:
            return
        items = batch[:n]
        del batch[:n]
        body = (
            ('{"type":"results","calls":[' + ",".join(["[%d,%d,%s]"] * n) + "]}")
            % tuple(itertools.chain.from_iterable(items))
        ).encode()
        os.write(2, b"%s%05d\n" % (rt.END_MARK, items[-1][0]))
        self.out.write(struct.pack(">I", len(body)) + body)

    def mark(self, call_id):
        """Marks where the output of call ``call_id`` on file descriptors 1 and 2 ends
        (written before its result), so the host can give it to that call. Writes the
        buffered answers first: they come before this call's."""
        self.flush()
        try:
            sys.__stderr__.flush()
        except Exception:
            pass
        os.write(2, b"%s%s\n" % (rt.END_MARK, call_id.encode() if isinstance(call_id, str) else str(call_id).encode()))

    def keep_job(self, req):
        self.jobs[req.get("job")] = req
        while len(self.jobs) > JOBS_KEPT:
            self.jobs.popitem(last=False)

    def run_calls(self, req):
        """Runs a chunk of calls; False when the worker must exit after it."""
        job = self.jobs.get(req.get("job"))
        start, single = req.get("from"), type(req.get("arg")) is list
        if type(start) is int and (single or type(req.get("args")) is list):
            calls = req["arg"] if single else req["args"]
        else:
            start, single, calls = None, False, req.get("calls") or []
        if job is not None and _plain(job):
            return self.run_plain(job, calls, start, single)
        if start is not None:
            calls = [[_call_id(i), i, [a] if single else a] for i, a in enumerate(calls, start)]
        last = None
        for call in calls:
            call = _call_dict(call)
            last = call.get("call_id")
            if job is None:
                resp = {
                    "type": "result", "call_id": last, "ok": False,
                    "error": {"kind": "protocol", "type": "protocol", "traceback": "",
                              "message": "the worker has no settings for job %r" % (req.get("job"),)},
                }
            else:
                resp = rt.run_call(call, job)
            self.mark(last)
            self.write_body(_result_body(resp))
            if resp.get("restart"):
                return False
        return True

    def run_plain(self, job, calls, start=None, single=False):
        """Runs a chunk of calls of a job that sets no environment, memory limit or
        excluded modules: what ``rt.run_call`` does, with the function loaded once per
        chunk and nothing else done per call but the call (a call with an object or an
        Airflow context takes ``rt.run_call``). The answers of the calls that return
        without printing are buffered and written together (see the module's
        docstring); any other call is answered by its own frame, after them. The calls of
        a chunk share one call state (``lf._call``, not a dict per call): a function that
        asks for its context gets it built for its call, and it is dropped after the call
        (its outlet events sent first). The chunk's calls print to the streams set once
        for the chunk (set again after a call that replaced them or took the general
        path); a call's duration runs from the end of the previous one's bookkeeping
        (one clock reading per call). ``calls`` are compact calls, or with ``start`` the
        positional arguments of the calls ``start``, ``start + 1``, ... (a range chunk),
        whose ids are made only where a frame names them; with ``single``, each call's
        one argument itself. False when the worker must exit."""
        try:
            rt._add_sys_path(job.get("sys_path"))
            func = rt._load_function(job["module"], job["function"])
        except BaseException:
            func = None
        takes_id = _takes_id(func)
        streamer = rt._STREAMER
        lf = rt._lithoflow_module()
        out, err = streamer.stdout, streamer.stderr
        clock = time.perf_counter_ns
        write, mark, flush = self.write_body, self.mark, self.flush
        batch = self.batch
        add = batch.append
        returned = rt._returned
        batch_call_ns = int(BATCH_CALL_S * 1e9)
        batch_write_ns = int(BATCH_WRITE_S * 1e9)
        saved_out, saved_err = sys.stdout, sys.stderr
        plain = {"raw": None, "context": None, "lambda": False}
        last = None
        # The chunk's last call: by its index in a range (whose arguments may be equal
        # small integers, one object), by identity otherwise (each call is a new list).
        final = calls[-1] if calls else None
        final_index = start + len(calls) - 1 if start is not None else None
        ranged = start is not None
        index = start - 1 if ranged else None
        single = single and ranged
        # A call of one argument, which the function takes as it is.
        direct = single and not takes_id
        streamer.begin()
        counts = streamer.counts
        sys.stdout, sys.stderr = out, err
        if lf is not None:
            # `lf._begin_call(None)`, inlined: the chunk's one call state (not a dict per
            # call), whose context is built if a function asks for it and dropped after
            # its call.
            lf._call = plain
        last_write = started = clock()
        try:
            for call in calls:
                if ranged:
                    # A range's calls need only their arguments checked.
                    index += 1
                    last, args, kwargs = None, call, None
                    fast = func is not None and (single or type(args) is list)
                else:
                    kwargs = None
                    if type(call) is list and len(call) == 3:
                        last, index, args = call
                    elif type(call) is list and len(call) == 4:
                        last, index, args, kwargs = call
                    else:
                        last = call.get("call_id") if type(call) is dict else None
                        index = None
                    fast = (func is not None and type(index) is int and type(last) is str
                            and last.isdigit() and type(args) is list
                            and (kwargs is None or type(kwargs) is dict))
                if not fast:
                    if ranged:
                        last = _call_id(index)
                        call = [last, index, [args] if single else args]
                    sys.stdout, sys.stderr = saved_out, saved_err
                    streamer.end()
                    flush()
                    resp = rt.run_call(_call_dict(call), job)
                    mark(last)
                    write(_result_body(resp))
                    if resp.get("restart"):
                        return False
                    streamer.begin()
                    counts = streamer.counts
                    sys.stdout, sys.stderr = out, err
                    if lf is not None:
                        lf._call = plain
                    last_write = started = clock()
                    continue
                try:
                    if takes_id:
                        args, kwargs = rt._bind(func, [args] if single else args, kwargs or {}, index)
                    try:
                        if direct:
                            result = func(args)
                        else:
                            result = func(*args, **kwargs) if kwargs else func(*args)
                    except MemoryError as e:
                        raise rt.FunctionError(
                            "memory", "function exceeded its memory limit of None MB (runtime_memory)", e
                        ) from None
                    except TypeError as e:
                        if e.__traceback__ is not None and e.__traceback__.tb_next is None:
                            binding = rt._binding_error(func, [args] if direct else args, kwargs or {})
                            if binding is not None:
                                raise binding from None
                        raise
                    if lf is not None and (plain["context"] is not None or lf._call is not plain):
                        ctx = lf._call
                        if ctx is not None and ctx.get("context"):
                            lf._send_outlet_events()
                        plain["context"] = None
                        lf._call = plain
                    encoded = result if type(result) is int else returned(result)
                except BaseException as e:
                    sys.stdout, sys.stderr = saved_out, saved_err
                    last = last or _call_id(index)
                    error, restart = rt._error_of(e)
                    plain["context"] = None
                    if lf is not None:
                        lf._end_call()
                    resp = {"type": "result", "call_id": last, "ok": False, "restart": restart,
                            "error": error, "duration_s": (clock() - started) / 1e9,
                            "stdout": "", "stderr": ""}
                    if streamer.parts:
                        streamer.end()
                    mark(last)
                    write(_result_body(resp))
                    if restart:
                        streamer.end()
                        return False
                    streamer.begin()
                    counts = streamer.counts
                    sys.stdout, sys.stderr = out, err
                    if lf is not None:
                        lf._call = plain
                    last_write = started = clock()
                    continue
                now = clock()
                took = now - started
                started = now
                if counts["stdout"] or counts["stderr"] or sys.stdout is not out or sys.stderr is not err:
                    # It printed (or replaced the streams): what it printed (sent after
                    # the buffered answers), then its own answer. Each call may print up
                    # to MAX_CAPTURE of its own.
                    last = last or _call_id(index)
                    if streamer.parts:
                        streamer.end()
                    mark(last)
                    write(
                        (
                            '{"type":"result","call_id":"%s","ok":true,"restart":false,"duration_s":%r,"result":%s}'
                            % (last, took / 1e9, encoded)
                        ).encode()
                    )
                    streamer.begin()
                    counts = streamer.counts
                    sys.stdout, sys.stderr = out, err
                    last_write = started = clock()
                    continue
                if not batch:
                    if (index == final_index if ranged else call is final) or took >= batch_call_ns:
                        # Nothing buffered, and this answer would be written at once
                        # anyway (the chunk's last call, or a long one): one frame of its
                        # own rather than a notice that answers wait, then the answers.
                        last = last or _call_id(index)
                        mark(last)
                        write(
                            (
                                '{"type":"result","call_id":"%s","ok":true,"restart":false,"duration_s":%r,"result":%s}'
                                % (last, took / 1e9, encoded)
                            ).encode()
                        )
                        last_write = now
                        continue
                    # The host must know that a crash from now on may lose answers.
                    write(b'{"type":"buffered","call_id":"%05d"}' % index)
                add((index, took, encoded))
                if took >= batch_call_ns or now - last_write >= batch_write_ns:
                    flush()
                    last_write = now
        finally:
            sys.stdout, sys.stderr = saved_out, saved_err
            if lf is not None:
                lf._call = None  # `lf._end_call()`, inlined: between chunks, no call runs
        streamer.end()
        flush()
        return True

    def serve(self):
        rt._STREAMER = rt._Streamer(self.write)
        self.write(
            {
                "type": "hello",
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "executable": sys.executable,
                "runtime_version": rt.RUNTIME_VERSION,
            }
        )
        while True:
            req = self.read()
            if req is None:
                return
            kind = req.get("type")
            if kind == "calls":
                if not self.run_calls(req):
                    return
                continue
            if kind == "job":
                self.keep_job(req)
                continue
            resp = rt.handle(req)
            if kind == "call":
                self.mark(req.get("call_id"))
            self.write(resp)
            if resp.get("restart"):
                return


def _plain(job):
    """Whether a job's calls need nothing set around them (see ``run_plain``)."""
    return not job.get("extra_env") and not job.get("memory_mb") and not job.get("exclude_modules")


def _takes_id(func):
    """Whether the function has a parameter named ``id`` (it gets the call's index). A
    plain function's code says so without ``inspect``, which a worker then never
    imports; anything else (wrapped, a class, a builtin) asks its signature."""
    if func is None:
        return False
    code = getattr(func, "__code__", None)
    if (
        type(func) is types.FunctionType
        and code is not None
        and not hasattr(func, "__wrapped__")
        and not hasattr(func, "__signature__")
    ):
        return "id" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    sig = rt._signature(func)
    return sig is not None and "id" in sig.parameters


def _call_id(index):
    """The id of call ``index``: its index, zero-padded to five digits (the host's
    ``call_id``: a range chunk's calls carry none)."""
    return "%05d" % index


def _call_dict(call):
    """A call in the chunk's compact form, ``[call_id, call_index, args]`` or
    ``[call_id, call_index, args, kwargs]``, as the request dict ``rt.run_call`` takes."""
    if type(call) is list:
        return {
            "call_id": call[0] if len(call) > 0 else None,
            "call_index": call[1] if len(call) > 1 else 0,
            "args": call[2] if len(call) > 2 else [],
            "kwargs": call[3] if len(call) > 3 else {},
        }
    return call if type(call) is dict else {"call_id": None}


def _quoted(call_id):
    """A call id as JSON: the host's ids are digits."""
    if isinstance(call_id, str) and call_id.isdigit():
        return '"' + call_id + '"'
    return rt.json.dumps(call_id)


def _result_body(resp):
    """A call's result frame body; a successful call's without a generic encoder."""
    result = resp.get("result")
    if resp.get("ok") and isinstance(result, rt._Raw) and not resp.get("stdout") and not resp.get("stderr"):
        return (
            '{"type":"result","call_id":%s,"ok":true,"restart":false,"duration_s":%r,"result":%s}'
            % (_quoted(resp.get("call_id")), resp.get("duration_s", 0.0), result)
        ).encode()
    return rt.encode(resp).encode()


def main():
    """Serves the protocol on this process's pipes until stdin closes."""
    sys.argv = [sys.argv[0]]
    _Worker().serve()


if __name__ == "__main__":
    main()
