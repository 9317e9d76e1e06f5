"""Tasks of a `.py` DAG file in a real warm worker process (``python3 -c <runtime> --worker
<lithoflow source>``, as the executor starts one), over its framed protocol: the worker
imports the DAG file through lithoflow_dagfiles, streams what the task prints, and asks the
host for XComs while the task runs."""

import json
import os
import struct
import subprocess
import sys
import unittest

from tests import test_shims_support as kit


class Worker:
    """One worker process; `call` sends a request and answers its host requests."""

    def __init__(self):
        # As the executor starts a worker: the runtime's files, as it writes them
        # (`lithoflow_worker.py` beside `lithoflow_runtime.py` and `lithoflow.py`).
        self.proc = subprocess.Popen(
            [sys.executable, "-u", os.path.join(kit.RUNTIME_DIR, "lithoflow_worker.py"), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        hello = self.read()
        assert hello["type"] == "hello", hello

    def read(self):
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise AssertionError("the worker ended")
        (n,) = struct.unpack(">I", head)
        return json.loads(self.proc.stdout.read(n))

    def write(self, obj):
        body = json.dumps(obj).encode()
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()

    def call(self, req, xcoms=None):
        """Sends `req`; returns (result frame, printed output)."""
        self.write(req)
        printed = []
        while True:
            frame = self.read()
            if frame["type"] == "output":
                printed.extend(text for stream, text in frame["parts"] if stream == "stdout")
            elif frame["type"] == "request":
                assert frame["op"] == "xcom_pull", frame
                values = [(xcoms or {}).get((q["task_id"], q["key"])) for q in frame["queries"]]
                self.write({"type": "answer", "id": frame["id"], "ok": True, "value": values})
            elif frame["type"] == "result":
                return frame, "".join(printed)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


class WorkerTest(kit.ShimCase):
    def setUp(self):
        super().setUp()
        self.worker = Worker()

    def tearDown(self):
        self.worker.close()
        super().tearDown()

    def request(self, path, dag_id, task_id, attr, args=()):
        return {
            "type": "call", "call_id": "00001", "call_index": 0,
            "module": kit.module_name(path), "function": kit.function_name(dag_id, task_id, attr),
            "args": list(args), "kwargs": {}, "sys_path": [kit.COMPAT, os.path.dirname(path)],
            "airflow_context": kit.context(dag_id, task_id),
        }

    def test_taskflow_tasks_in_a_worker(self):
        path = self.dag_file('''
import datetime
from airflow.decorators import dag, task

@dag(start_date=datetime.datetime(2026, 1, 1), schedule=None)
def in_worker():
    @task
    def produce():
        print("producing")
        return [1, 2, 3]

    @task
    def consume(values, ti=None):
        pulled = ti.xcom_pull(task_ids="produce")
        print("consumed", values, pulled)
        return sum(values) + sum(pulled)

    @task.bash
    def shout():
        return "echo one; echo two"

    consume(produce()) >> shout()

in_worker()
''')
        resp, printed = self.worker.call(self.request(path, "in_worker", "produce", "python_callable"))
        self.assertTrue(resp["ok"], resp)
        self.assertEqual(resp["result"], [1, 2, 3])
        self.assertEqual(printed, "producing\n")
        resp, printed = self.worker.call(
            self.request(path, "in_worker", "consume", "python_callable", args=[[1, 2, 3]]),
            xcoms={("produce", "return_value"): [[1, 2, 3]]},
        )
        self.assertTrue(resp["ok"], resp)
        self.assertEqual(resp["result"], 12)
        self.assertEqual(printed, "consumed [1, 2, 3] [1, 2, 3]\n")
        resp, printed = self.worker.call(self.request(path, "in_worker", "shout", "taskflow_bash"))
        self.assertTrue(resp["ok"], resp)
        self.assertEqual(resp["result"], "two")
        self.assertEqual(printed, "one\ntwo\n")


if __name__ == "__main__":
    unittest.main()
