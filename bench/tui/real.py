#!/usr/bin/env python3
"""The terminal UI against a real scheduler holding 200 DAGs and 10,000 task instances.

Writes 200 DAGs of five chained call_async tasks, starts `lithoflow scheduler` on them
(its own LITHOFLOW_HOME, a free API port), triggers 10 runs of each through the API
(2,000 runs, 10,000 task instances) and waits until every run succeeded. Then runs
`lithoflow tui` in a pseudo-terminal of 160x48, walks it through every view (DAG list,
grid, graph, task instance, log, help) and reports the UI process's resident memory
(VmRSS now, VmHWM peak) and how long the first screen of DAGs took to appear.

    python3 bench/tui/real.py [--lithoflow target/debug/lithoflow] [--dags 200] [--runs 10]

Only the standard library: pty, json, urllib.
"""

import argparse
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

FUNCS = "def step(x):\n    return x + 1\n"


def write_dags(folder, n):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "bench_tui.py"), "w") as f:
        f.write(FUNCS)
    for i in range(n):
        lines = [
            f'description = "benchmark DAG {i}"',
            "is_paused_upon_creation = false",
            f'tags = ["bench", "{"even" if i % 2 == 0 else "odd"}"]',
            "",
        ]
        prev = None
        for t in "abcde":
            lines.append(f"[tasks.{t}]")
            lines.append('type = "call_async"')
            lines.append('func = "bench_tui:step"')
            if prev:
                lines.append(f'data_from_task = {{ x = "{prev}" }}')
            else:
                lines.append("data = { x = 1 }")
            lines.append("")
            prev = t
        with open(os.path.join(folder, f"dag_{i:04}.toml"), "w") as f:
            f.write("\n".join(lines))


def api(port, token, method, path, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lithoflow", default="target/debug/lithoflow")
    ap.add_argument("--dags", type=int, default=200)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    binary = os.path.abspath(args.lithoflow)
    work = tempfile.mkdtemp(prefix="lithoflow-tui-bench-")
    dags, home = os.path.join(work, "dags"), os.path.join(work, "home")
    write_dags(dags, args.dags)
    env = dict(os.environ, LITHOFLOW_HOME=home)
    for v in ("RUST_LOG", "LITHOFLOW_LOG", "LITHOFLOW_DAGS_FOLDER"):
        env.pop(v, None)
    sched = subprocess.Popen(
        [binary, "--dags-folder", dags, "scheduler", "--api-port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "scheduler.log"), "w"),
    )
    try:
        info = os.path.join(home, "scheduler.json")
        while not os.path.exists(info):
            time.sleep(0.1)
        port = json.load(open(info))["port"]
        token = open(os.path.join(home, "api-token")).read().strip()
        while api(port, token, "GET", "/dags?limit=1")["total_entries"] < args.dags:
            time.sleep(0.2)
        t0 = time.time()
        for i in range(args.dags):
            for r in range(args.runs):
                api(port, token, "POST", f"/dags/dag_{i:04}/dagRuns", {"dag_run_id": f"r{r}"})
        want = args.dags * args.runs
        while True:
            done = api(port, token, "GET", "/dags/~/dagRuns?state=success&limit=1")["total_entries"]
            failed = api(port, token, "GET", "/dags/~/dagRuns?state=failed&limit=1")["total_entries"]
            if done + failed >= want:
                break
            time.sleep(1)
        print(f"state: {args.dags} DAGs, {want} runs ({failed} failed), "
              f"{want * 5} task instances, made in {time.time() - t0:.0f} s")

        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(env)
            os.environ["TERM"] = "xterm-256color"
            os.execv(binary, [binary, "--dags-folder", dags, "tui"])
        import fcntl
        import struct
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        seen = b""
        start = time.time()

        def pump(secs):
            nonlocal seen
            end = time.time() + secs
            while time.time() < end:
                r, _, _ = select.select([fd], [], [], 0.05)
                if r:
                    try:
                        seen += os.read(fd, 65536)
                    except OSError:
                        return

        while b"dag_0001" not in seen and time.time() - start < 30:
            pump(0.05)
        first_screen = time.time() - start
        pump(1)
        steps = [("DAG list", ""), ("grid", "\r"), ("graph", "g"), ("grid", "g"),
                 ("task instance", "jj\r"), ("log", "l"), ("help", "?"), ("DAG list", "\x1b1")]
        peak_step = ("", 0)
        for name, keys in steps:
            for c in keys:
                os.write(fd, c.encode())
                pump(0.1)
            pump(1.5)
            rss = status_kb(pid, "VmRSS:")
            if rss > peak_step[1]:
                peak_step = (name, rss)
            print(f"  {name:<14} VmRSS {rss / 1024:6.1f} MB")
        # Scroll through the whole DAG list, as someone looking for a DAG would.
        for _ in range(40):
            os.write(fd, b"\x1b[6~")
            pump(0.05)
        pump(1)
        hwm = status_kb(pid, "VmHWM:")
        rss = status_kb(pid, "VmRSS:")
        print(f"lithoflow tui: first screen of DAGs after {first_screen * 1000:.0f} ms; "
              f"VmRSS {rss / 1024:.1f} MB, peak (VmHWM) {hwm / 1024:.1f} MB")
        os.write(fd, b"q")
        pump(2)
        _, st = os.waitpid(pid, 0)
        print(f"lithoflow tui exited with {os.waitstatus_to_exitcode(st)}")
        ok = hwm < 50 * 1024
        print(f"target < 50 MB: {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        sched.send_signal(signal.SIGTERM)
        try:
            sched.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sched.kill()
            sched.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
