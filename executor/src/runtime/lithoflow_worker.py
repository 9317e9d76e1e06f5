"""lithoflow's local worker: serves the framed protocol on its pipes (``lithoflow_runtime``
runs each call; this file is what ``python3 -u <folder>/lithoflow_worker.py --worker``
starts, from the folder the host writes once per content hash under
``$LITHOFLOW_HOME/python/runtime-<hash>/``, beside ``lithoflow_runtime.py`` and
``lithoflow.py``).

Requests, each a JSON document framed by a 4-byte big-endian length, on stdin:

* ``{"type": "job", "job": 7, "module": "m", "function": "f", "sys_path": [...],
  "extra_env": {...}, "exclude_modules": [...], "memory_mb": null}``: a job's settings,
  sent once per worker before its first calls; kept (the last ``JOBS_KEPT`` of them, the
  host keeps the same count and sends a header again when it dropped it).
* ``{"type": "calls", "job": 7, "calls": [{"call_id": "00003", "call_index": 3,
  "args": [...], "kwargs": {...}}, ...]}``: a chunk of calls of that job, run one after
  the other. Each call's result frame is written as the call ends, after a mark on file
  descriptor 2 (``END_MARK``, so the host gives what went there to the call that wrote
  it): the results of the calls before one that crashes the worker are never lost, and
  the host times each call from the previous one's result.
* ``{"type": "call", ...}`` with every setting (the Lambda payload) and
  ``{"type": "inspect", ...}``, one at a time.
"""

import collections
import io
import os
import struct
import sys
import threading
import time

import lithoflow_runtime as rt

# How many job headers a worker keeps: `JOBS_KEPT` in local.rs.
JOBS_KEPT = 32


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
        with self._write_lock:
            self.out.write(struct.pack(">I", len(body)) + body)

    def mark(self, call_id):
        """Marks where the output of call ``call_id`` on file descriptors 1 and 2 ends
        (written before its result), so the host can give it to that call."""
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
        calls = req.get("calls") or []
        if job is not None and _plain(job):
            return self.run_plain(job, calls)
        last = None
        for call in calls:
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

    def run_plain(self, job, calls):
        """Runs a chunk of calls of a job that sets no environment, memory limit or
        excluded modules: what ``rt.run_call`` does, with the function loaded once per
        chunk and nothing else done per call but the call (a call with an object or an
        Airflow context takes ``rt.run_call``). False when the worker must exit."""
        try:
            rt._add_sys_path(job.get("sys_path"))
            func = rt._load_function(job["module"], job["function"])
        except BaseException:
            func = None
        sig = rt._signature(func) if func is not None else None
        takes_id = sig is not None and "id" in sig.parameters
        streamer = rt._STREAMER
        lf = rt._lithoflow_module()
        out, err = streamer.stdout, streamer.stderr
        perf_counter = time.perf_counter
        write = self.write_body
        lock, out_write, pack = self._write_lock, self.out.write, struct.pack
        # The worker runs with -u: sys.__stderr__ holds nothing to flush before a mark.
        os_write, end_mark = os.write, rt.END_MARK
        mark = self.mark
        last = None
        streamer.begin()
        for call in calls:
            last = call.get("call_id")
            if func is None or type(last) is not str or "obj" in call or "airflow_context" in call:
                streamer.end()
                resp = rt.run_call(call, job)
                mark(last)
                write(_result_body(resp))
                if resp.get("restart"):
                    return False
                streamer.begin()
                continue
            counts = streamer.counts
            if counts["stdout"] or counts["stderr"]:
                # Each call may print up to MAX_CAPTURE of its own.
                streamer.begin()
            started = perf_counter()
            if lf is not None:
                lf._begin_call(None)
            saved_out, saved_err = sys.stdout, sys.stderr
            args = call.get("args") or []
            kwargs = call.get("kwargs") or {}
            try:
                if takes_id:
                    args, kwargs = rt._bind(func, args, kwargs, call.get("call_index", 0))
                sys.stdout, sys.stderr = out, err
                try:
                    result = func(*args, **kwargs)
                except MemoryError as e:
                    raise rt.FunctionError(
                        "memory", "function exceeded its memory limit of None MB (runtime_memory)", e
                    ) from None
                except TypeError as e:
                    if e.__traceback__ is not None and e.__traceback__.tb_next is None:
                        binding = rt._binding_error(func, args, kwargs)
                        if binding is not None:
                            raise binding from None
                    raise
                finally:
                    sys.stdout, sys.stderr = saved_out, saved_err
                if lf is not None:
                    lf._send_outlet_events()
                encoded = int.__repr__(result) if type(result) is int else rt._returned(result)
            except BaseException as e:
                error, restart = rt._error_of(e)
                if lf is not None:
                    lf._end_call()
                resp = {"type": "result", "call_id": last, "ok": False, "restart": restart,
                        "error": error, "duration_s": perf_counter() - started,
                        "stdout": "", "stderr": ""}
                if streamer.parts:
                    streamer.end()
                    streamer.begin()
                mark(last)
                write(_result_body(resp))
                if restart:
                    streamer.end()
                    return False
                continue
            if lf is not None:
                lf._end_call()
            took = perf_counter() - started
            if streamer.parts:
                # What it printed goes before its result.
                streamer.end()
                streamer.begin()
            body = (
                '{"type":"result","call_id":%s,"ok":true,"restart":false,"duration_s":%r,"result":%s}'
                % (_quoted(last), took, encoded)
            ).encode()
            os_write(2, end_mark + last.encode() + b"\n")
            with lock:
                out_write(pack(">I", len(body)) + body)
        streamer.end()
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


if __name__ == "__main__":
    sys.argv = [sys.argv[0]]
    _Worker().serve()
