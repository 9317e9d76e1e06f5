"""The loader process (compat/lithoflow_loader.py): its protocol, and hostile DAG files that
each end as an error result while the loader keeps serving."""

import os
import signal
import time
import unittest

from tests.test_loader_support import LoaderCase


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
    return True


def _wait_until(cond, limit_s=20.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class HostileFilesTest(LoaderCase):
    def test_infinite_loop_is_a_timeout_naming_the_running_line(self):
        self.write("loop.py", """
            # airflow dag
            x = 0
            while True:
                x += 1
            """)
        res = self.loader.load("loop.py", timeout_s=1)
        self.assertFalse(res["ok"])
        err = res["error"]
        self.assertEqual(err["kind"], "timeout")
        self.assertTrue(err["message"].startswith(
            "DagBag import timeout for %s after 1.0s." % os.path.join(self.folder, "loop.py")), err)
        self.assertEqual(err["file"], os.path.join(self.folder, "loop.py"))
        self.assertIn(err["line"], (3, 4))
        self.assertNotIn("lithoflow_loader.py", err["traceback"])
        self.assertAlive()

    def test_a_loop_that_swallows_the_timeout_is_killed(self):
        self.write("stubborn.py", """
            # airflow dag
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
            """)
        res = self.loader.load("stubborn.py", timeout_s=1)
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["kind"], "timeout")
        self.assertIn("after 1.0s", res["error"]["message"])
        self.assertAlive()

    def test_two_gigabyte_allocation_is_a_memory_error(self):
        self.write("alloc.py", """
            # airflow dag
            big = bytearray(2 * 1024 ** 3)
            """)
        res = self.loader.load("alloc.py", memory_mb=2048)
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["kind"], "memory")
        self.assertEqual(res["error"]["type"], "MemoryError")
        self.assertEqual(res["error"]["line"], 2)
        self.assertAlive()

    def test_os_exit_is_a_crash_and_still_reports_modules(self):
        self.write("helper_mod.py", "VALUE = 1\n")
        self.write("osexit.py", """
            # airflow dag
            import os
            import helper_mod
            os._exit(3)
            """)
        res = self.loader.load("osexit.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["kind"], "crash")
        self.assertIn("exit status 3", res["error"]["message"])
        self.assertEqual([m["path"] for m in res["modules"]], [os.path.join(self.folder, "helper_mod.py")])
        self.assertAlive()

    def test_killed_by_a_signal_is_a_crash(self):
        self.write("segv.py", """
            # airflow dag
            import os, signal
            os.kill(os.getpid(), signal.SIGSEGV)
            """)
        res = self.loader.load("segv.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["kind"], "crash")
        self.assertIn("SIGSEGV", res["error"]["message"])
        self.assertAlive()

    def test_sys_exit_is_an_exception(self):
        self.write("sysexit.py", """
            # airflow dag
            import sys
            sys.exit(4)
            """)
        res = self.loader.load("sysexit.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["kind"], "exception")
        self.assertEqual(res["error"]["type"], "SystemExit")
        self.assertEqual(res["error"]["line"], 3)
        self.assertAlive()

    def test_syntax_error_has_line_and_column(self):
        self.write("syntax.py", """
            # airflow dag
            x = 1
            def broken(:
                pass
            """)
        res = self.loader.load("syntax.py")
        self.assertFalse(res["ok"])
        err = res["error"]
        self.assertEqual((err["kind"], err["type"]), ("syntax", "SyntaxError"))
        self.assertEqual((err["file"], err["line"], err["column"]), (os.path.join(self.folder, "syntax.py"), 3, 12))
        self.assertIn("def broken(:", err["traceback"])
        self.assertAlive()

    def test_syntax_error_in_an_imported_module_names_that_module(self):
        self.write("lib/bad.py", "def f(:\n    pass\n")
        self.write("lib/__init__.py", "")
        self.write("uses_bad.py", "# airflow dag\nfrom lib import bad\n")
        res = self.loader.load("uses_bad.py")
        self.assertEqual(res["error"]["kind"], "syntax")
        self.assertEqual(res["error"]["file"], os.path.join(self.folder, "lib", "bad.py"))
        self.assertEqual(res["error"]["line"], 1)
        self.assertIn(os.path.join(self.folder, "lib", "__init__.py"), [m["path"] for m in res["modules"]])

    def test_missing_module_is_a_module_not_found_error(self):
        self.write("missing.py", """
            # airflow dag
            import os
            import lithoflow_surely_missing_package.sub
            """)
        res = self.loader.load("missing.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["type"], "ModuleNotFoundError")
        self.assertEqual(res["error"]["line"], 3)
        self.assertIn("lithoflow_surely_missing_package", res["error"]["message"])
        self.assertAlive()

    def test_exception_in_a_helper_points_at_the_dag_file_line(self):
        self.write("helpers.py", "def boom():\n    return 1 / 0\n")
        self.write("calls.py", """
            # airflow dag
            import helpers

            helpers.boom()
            """)
        res = self.loader.load("calls.py")
        err = res["error"]
        self.assertEqual((err["type"], err["message"]), ("ZeroDivisionError", "division by zero"))
        self.assertEqual((err["file"], err["line"]), (os.path.join(self.folder, "calls.py"), 4))
        self.assertIn('helpers.py", line 2, in boom', err["traceback"])
        self.assertEqual([m["path"] for m in res["modules"]], [os.path.join(self.folder, "helpers.py")])

    def test_prints_never_reach_the_protocol(self):
        self.write("prints.py", """
            # airflow dag
            import os, sys
            print("hello from the DAG file")
            os.write(1, b'{"id": 1, "op": "result", "ok": false}\\n')
            sys.stdout.flush()
            data = sys.stdin.read()
            """)
        res = self.loader.load("prints.py")
        self.assertTrue(res["ok"], res)
        self.assertEqual(res["dags"], [])
        self.assertAlive()

    def test_children_of_the_file_are_killed_with_its_process_group(self):
        pidfile = os.path.join(self.folder, "pids.txt")
        self.write("forks.py", """
            # airflow dag
            import os, subprocess
            p = subprocess.Popen(["sleep", "1000"])
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(1000)
            with open(%r, "w") as f:
                f.write("%%d %%d" %% (p.pid, pid))
            """ % pidfile)
        res = self.loader.load("forks.py")
        self.assertTrue(res["ok"], res)
        with open(pidfile) as f:
            pids = [int(x) for x in f.read().split()]
        self.assertTrue(_wait_until(lambda: not any(_alive(p) for p in pids)), pids)
        self.assertAlive()

    def test_a_fork_that_returns_into_the_loader_answers_once(self):
        self.write("forks_back.py", """
            # airflow dag
            import os
            os.fork()
            """)
        res = self.loader.load("forks_back.py")
        self.assertTrue(res["ok"], res)
        self.assertAlive()
        self.assertEqual(self.loader.pending, [])


class ProtocolTest(LoaderCase):
    def test_lookups_are_relayed_and_answered(self):
        self.write("lookups.py", """
            # airflow dag
            from airflow._lithoflow import host
            bucket = host.get_variable("bucket")
            missing = host.get_variable("nope")
            conn = host.get_connection("pg")
            assert bucket == "b-1", bucket
            assert missing is None
            assert conn["host"] == "db.example" and conn["port"] == 5432, conn
            """)
        lookups = []
        answers = {("variable", "bucket"): "b-1",
                   ("connection", "pg"): {"conn_id": "pg", "conn_type": "postgres", "host": "db.example",
                                          "port": 5432}}
        res = self.loader.load("lookups.py", answers=answers, lookups=lookups)
        self.assertTrue(res["ok"], res)
        self.assertEqual([(m["what"], m["key"]) for m in lookups],
                         [("variable", "bucket"), ("variable", "nope"), ("connection", "pg")])
        self.assertTrue(all(m["id"] == res["id"] for m in lookups))

    def test_modules_of_the_dags_folder_are_reported_with_mtimes(self):
        self.write("common/__init__.py", "")
        self.write("common/util.py", "import json\nVALUE = 2\n")
        self.write("sibling.py", "X = 1\n")
        path = self.write("uses.py", """
            # airflow dag
            from common import util
            import sibling
            """)
        res = self.loader.load("uses.py")
        self.assertTrue(res["ok"], res)
        paths = [m["path"] for m in res["modules"]]
        self.assertEqual(paths, sorted(os.path.join(self.folder, p)
                                       for p in ("common/__init__.py", "common/util.py", "sibling.py")))
        self.assertNotIn(path, paths)
        util = os.path.join(self.folder, "common", "util.py")
        self.assertEqual([m["mtime_ns"] for m in res["modules"] if m["path"] == util],
                         [os.stat(util).st_mtime_ns])

    def test_each_load_starts_from_the_warm_state(self):
        self.write("sets.py", """
            # airflow dag
            import sys
            assert not hasattr(sys, "lithoflow_test_marker"), "state leaked from another file"
            sys.lithoflow_test_marker = True
            """)
        for _ in range(3):
            self.assertTrue(self.loader.load("sets.py")["ok"])

    def test_requests_may_be_pipelined_and_answers_name_their_request(self):
        self.write("slow.py", "# airflow dag\nimport time\ntime.sleep(0.3)\n")
        self.write("fast.py", "# airflow dag\nX = 1\n")
        ids = [self.loader.request("slow.py"), self.loader.request("fast.py"), self.loader.request("fast.py")]
        results = [self.loader.result(i) for i in ids]
        self.assertEqual([r["id"] for r in results], ids)
        self.assertTrue(all(r["ok"] for r in results))
        self.assertTrue(all(isinstance(r["elapsed_ms"], float) for r in results))

    def test_the_file_runs_under_airflows_module_name(self):
        self.write("named-file.py", """
            # airflow dag
            import hashlib, os
            expected = "unusual_prefix_%s_named_file" % hashlib.sha1(os.path.abspath(__file__).encode()).hexdigest()
            assert __name__ == expected, (__name__, expected)
            """)
        self.assertTrue(self.loader.load("named-file.py")["ok"])

    def test_sys_path_has_compat_first_then_the_folders(self):
        self.write("sub/where.py", """
            # airflow dag
            import os, sys
            import airflow
            assert os.path.basename(sys.path[0]) == "compat", sys.path[:3]
            assert os.path.dirname(__file__) in sys.path and os.getcwd() in sys.path, sys.path
            assert list(airflow.__path__)[0].startswith(sys.path[0]), airflow.__path__
            """)
        self.write("sub/sibling_in_sub.py", "X = 1\n")
        res = self.loader.load("sub/where.py")
        self.assertTrue(res["ok"], res)

    def test_pendulum_is_there_installed_or_not(self):
        self.write("pend.py", """
            # airflow dag
            import sys, pendulum
            start = pendulum.datetime(2026, 1, 1, tz="Europe/Amsterdam")
            assert start.utcoffset().total_seconds() == 3600
            assert sys.path[-1].endswith("_fallback") or "_fallback" not in pendulum.__file__
            """)
        res = self.loader.load("pend.py")
        self.assertTrue(res["ok"], res)

    def test_no_environment_secrets_reach_the_file(self):
        os.environ["LITHOFLOW_TEST_SECRET"] = "s3cr3t"
        self.addCleanup(os.environ.pop, "LITHOFLOW_TEST_SECRET", None)
        self.write("env.py", "# airflow dag\nimport os\nassert 'LITHOFLOW_TEST_SECRET' not in os.environ\n")
        self.assertTrue(self.loader.load("env.py")["ok"])

    def test_shutdown_ends_the_loader(self):
        self.loader.send({"op": "shutdown"})
        self.assertEqual(self.loader.proc.wait(timeout=30), 0)

    def test_eof_ends_the_loader(self):
        self.loader.proc.stdin.close()
        self.assertEqual(self.loader.proc.wait(timeout=30), 0)

    def test_bad_lines_get_an_error_and_the_loader_goes_on(self):
        self.loader.proc.stdin.write(b"not json\n")
        self.loader.proc.stdin.flush()
        msg = self.loader.read()
        self.assertEqual(msg["op"], "error")
        self.assertAlive()


class ReuseTest(LoaderCase):
    """A child loads several files in turn only when each leaves it as fresh as a new fork."""

    loader_env = {"LITHOFLOW_LOADER_CHILDREN": "1"}

    def load_ok(self, name):
        res = self.loader.load(name)
        self.assertTrue(res["ok"], res)
        return res

    def test_modules_of_the_dags_folder_are_imported_afresh_for_each_file(self):
        self.write("state_mod.py", "SEEN = []\n")
        self.write("uses_state.py", """
            # airflow dag
            import os, state_mod
            assert state_mod.SEEN == [], "module state leaked from another file"
            state_mod.SEEN.append(1)
            """)
        for _ in range(3):
            res = self.load_ok("uses_state.py")
            self.assertEqual([m["path"] for m in res["modules"]], [os.path.join(self.folder, "state_mod.py")])

    def test_sys_path_environment_and_cwd_are_put_back(self):
        self.write("changes.py", """
            # airflow dag
            import os, sys
            assert "/lithoflow/nowhere" not in sys.path
            assert "LITHOFLOW_TEST_VAR" not in os.environ
            assert os.getcwd() != "/"
            sys.path.append("/lithoflow/nowhere")
            os.environ["LITHOFLOW_TEST_VAR"] = "1"
            os.chdir("/")
            """)
        for _ in range(3):
            self.load_ok("changes.py")

    def test_a_changed_helper_is_read_again(self):
        self.write("helper_v.py", "VERSION = 1\n")
        self.write("reads_v.py", "# airflow dag\nimport helper_v\nVERSION = helper_v.VERSION\n"
                   "assert VERSION == int(open(helper_v.__file__).read().split('=')[1])\n")
        self.load_ok("reads_v.py")
        self.write("helper_v.py", "VERSION = 22\n")
        self.load_ok("reads_v.py")

    def test_threads_and_processes_left_behind_retire_the_child(self):
        self.write("threads.py", """
            # airflow dag
            import threading, time
            threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
            """)
        self.write("no_threads.py", """
            # airflow dag
            import os, threading
            assert threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1
            """)
        self.write("spawns.py", "# airflow dag\nimport subprocess\nsubprocess.Popen(['sleep', '1000'])\n")
        self.write("no_children.py", """
            # airflow dag
            import os
            try:
                os.waitpid(-1, os.WNOHANG)
                raise AssertionError("a child process of another file is still here")
            except ChildProcessError:
                pass
            """)
        for first, second in (("threads.py", "no_threads.py"), ("spawns.py", "no_children.py")):
            self.load_ok(first)
            self.load_ok(second)

    def test_dag_registries_start_empty(self):
        self.write("one_dag.py", """
            # airflow dag
            from datetime import datetime
            from airflow import DAG
            from airflow.models.dag import DagContext
            assert not DagContext.autoregistered_dags and DagContext.get_current_dag() is None
            with DAG("only_%d" % id(DagContext), schedule=None, start_date=datetime(2026, 1, 1)):
                pass
            """)
        for _ in range(3):
            self.assertEqual(len(self.load_ok("one_dag.py")["dags"]), 1)


class ForkPerFileTest(HostileFilesTest):
    """The hostile files again with a fresh fork for every file (LITHOFLOW_LOADER_REUSE=1)."""

    loader_env = {"LITHOFLOW_LOADER_REUSE": "1"}


class VersionTest(LoaderCase):
    def test_airflow_version_from_the_files_imports(self):
        import importlib.util

        spec = importlib.util.spec_from_file_location("lithoflow_loader_under_test", os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compat", "lithoflow_loader.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        v = mod._airflow_version
        self.assertEqual(v(b"from airflow.sdk import DAG, task\n", 2)[0], 3)
        self.assertIn("airflow.sdk (line 2)", v(b"import os\nfrom airflow.sdk import dag\n", 2)[1])
        self.assertEqual(v(b"from airflow.providers.standard.operators.python import PythonOperator\n", 2)[0], 3)
        self.assertEqual(v(b"import airflow.sdk\n", 2)[0], 3)
        self.assertEqual(v(b"from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n", 2),
                         (2, "the file does not import airflow.sdk or airflow.providers.standard: "
                             "[airflow] default_version = 2"))
        self.assertEqual(v(b"from airflow import DAG\n", 3)[0], 3)
        self.assertEqual(v(b"# from airflow.sdk import DAG\nx = 'airflow.sdk'\n", 2)[0], 2)


if __name__ == "__main__":
    unittest.main()
