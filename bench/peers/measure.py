#!/usr/bin/env python3
"""Runs one command repeatedly and records what each run cost (bench/peers/*.sh).

    measure.py run --label LABEL --json OUT [--runs N] [--warmup W] [--timeout S]
                   [--lf-homes DIR --runtime PYTHON] [--env K=V ...] [--inner]
                   -- COMMAND ARGS...

Per run: the wall time of the whole command (start-up and exit included); the CPU time
(user + system) of its whole process tree (measure.py is a child subreaper, so the
processes the command does not wait for, such as lithoflow's Python workers, are reaped
here and counted; what is still running 2 s after the command exits is killed; and the
larger of that and the sum of every process's own CPU time as last sampled, which
counts the children of a process that ignores SIGCHLD, as Ray's raylet); the peak RSS of the largest single process (wait4's
ru_maxrss, what `/usr/bin/time -v` prints as "Maximum resident set size"); the peak of
the RSS summed over the whole process tree (the command and every descendant, read from
/proc every 20 ms: peaks shorter than that are missed) with the most processes seen; and
how many CPUs *other* work kept busy meanwhile (/proc/stat minus this run's CPU).

--lf-homes DIR: each run (warm-ups included) gets a new LITHOFLOW_HOME under DIR whose
lithoflow.toml sets `[localhost] runtime = PYTHON` (the real interpreter, not a pyenv
shim), as bench/runs/runs.py does. Homes are never reused nor deleted here (the caller
deletes DIR at the end: see bench/runs/run.sh on ext4's recently_deleted()).

--timeout S: a run still going after S seconds is killed (its process group and every
descendant found) and recorded as a timeout; no further runs of that label are made.
A run that exits non-zero is recorded as failed with the tail of its stderr, and
measure.py exits 1. --inner: the command's last stdout line is JSON that the command
measured itself (e.g. the time of the calls without the interpreter's start-up); it is
kept as "inner". Without --inner stdout goes to /dev/null (a map of 1,000,000 calls
prints 1,000,000 results).

Writes {"label", "cmd", "runs": [...], "status": "ok"|"timeout"|"failed", ...} to OUT and
prints a one-line summary on stderr.
"""

import argparse
import ctypes
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "executor"))
from procmon import descendants  # noqa: E402  (bench/executor/procmon.py)


def cpu_busy():
    """(busy jiffies, total jiffies) of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy, busy + v[3] + v[4]


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def become_subreaper():
    """prctl(PR_SET_CHILD_SUBREAPER): the command's orphans (workers it did not wait for,
    daemons that double-forked) become this process's children, so their CPU time is
    counted when they are reaped and none outlives its run."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_all(grace):
    """Reaps every child left (see become_subreaper), waiting up to `grace` seconds for
    them to exit on their own before killing them."""
    deadline = time.monotonic() + grace
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() > deadline:
            for p in descendants(os.getpid()):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            deadline = float("inf")
        time.sleep(0.01)


def children_cpu():
    """(user, system) CPU seconds of every reaped child so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def new_home(base, label, runtime):
    os.makedirs(base, exist_ok=True)
    home = tempfile.mkdtemp(prefix=label + ".", dir=base)
    with open(os.path.join(home, "lithoflow.toml"), "w") as f:
        f.write("# bench/peers: the real interpreter, not a pyenv shim\n")
        f.write(f"[localhost]\nruntime = {json.dumps(runtime)}\n")
    return home


CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def stat_of(pid):
    """(user + system CPU ticks, RSS in KiB) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[11]) + int(rest[12]), int(rest[21]) * PAGE_KB


def kill_tree(pid, seen):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for p in set(seen) | set(descendants(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def once(a, cmd, env):
    """One run; returns a dict (status ok / timeout / failed)."""
    if a.lf_homes:
        env = dict(env, LITHOFLOW_HOME=new_home(a.lf_homes, a.label, a.runtime))
    out_f = tempfile.TemporaryFile() if a.inner else subprocess.DEVNULL
    err_f = tempfile.TemporaryFile()
    peak = {"kb": 0, "procs": 0}
    seen = set()
    done = threading.Event()
    snap0, load0, cpu0 = cpu_busy(), loadavg(), children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                            start_new_session=True)

    ticks = {}

    def sample():
        while not done.is_set():
            kids = descendants(proc.pid)
            seen.update(kids)
            total = 0
            for pid in [proc.pid] + kids:
                st = stat_of(pid)
                if st:
                    ticks[pid] = max(ticks.get(pid, 0), st[0])
                    total += st[1]
            peak["kb"] = max(peak["kb"], total)
            peak["procs"] = max(peak["procs"], 1 + len(kids))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = None
    timed_out = threading.Event()
    if a.timeout:
        def expire():
            timed_out.set()
            kill_tree(proc.pid, seen)
        timer = threading.Timer(a.timeout, expire)
        timer.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if timer:
        timer.cancel()
    done.set()
    sampler.join()
    # What the command left running (workers exiting after it, a Ray daemon that outlived
    # its driver) gets 2 s to end, then is killed, so it neither skews the next run nor
    # stays behind; its CPU time counts.
    reap_all(2.0)
    snap1 = cpu_busy()
    # Reaped processes' CPU time (rusage) misses the children of a process that ignores
    # SIGCHLD (auto-reaped, e.g. Ray's raylet); the sum of each process's own CPU time as
    # last sampled misses up to 20 ms per process. The larger of the two is kept.
    cpu1 = children_cpu()
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    cpu_reaped = user + system
    cpu_sampled = sum(ticks.values()) / CLK_TCK
    cpu = max(cpu_reaped, cpu_sampled)
    ncpu = os.cpu_count() or 1
    busy = (snap1[0] - snap0[0]) / max(1, snap1[1] - snap0[1]) * ncpu
    code = os.waitstatus_to_exitcode(status)
    r = {
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_reaped_s": cpu_reaped,
        "user_reaped_s": user,
        "sys_reaped_s": system,
        "cpu_sampled_s": cpu_sampled,
        "rss_top_kb": ru.ru_maxrss,
        "rss_tree_kb": peak["kb"],
        "procs": peak["procs"],
        "exit": code,
        "loadavg_before": load0,
        "other_cpus": round(max(0.0, busy - cpu / wall), 2),
    }
    if "LITHOFLOW_HOME" in env and a.lf_homes:
        r["home"] = env["LITHOFLOW_HOME"]
    if timed_out.is_set():
        r["status"] = "timeout"
    elif code != 0:
        err_f.seek(0)
        r["status"] = "failed"
        r["stderr_tail"] = err_f.read()[-3000:].decode(errors="replace")
    else:
        r["status"] = "ok"
        if a.inner:
            out_f.seek(0)
            lines = out_f.read().decode(errors="replace").strip().splitlines()
            try:
                r["inner"] = json.loads(lines[-1])
            except (IndexError, ValueError):
                r["status"] = "failed"
                r["stderr_tail"] = "no JSON line on stdout: " + (lines[-1][:300] if lines else "(empty)")
    return r


def fmt_s(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def cmd_run(a, cmd):
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    doc = {"label": a.label, "cmd": cmd, "timeout_s": a.timeout, "runs": [], "warmups": 0}
    status = "ok"
    for i in range(a.warmup + a.runs):
        r = once(a, cmd, env)
        warm = i < a.warmup
        if r["status"] != "ok":
            status = r["status"]
            doc["failed_run"] = r
            break
        if warm:
            doc["warmups"] += 1
        else:
            doc["runs"].append(r)
    doc["status"] = status
    ok = doc["runs"]
    if ok:
        doc["median_wall_s"] = statistics.median(r["wall_s"] for r in ok)
        doc["median_cpu_s"] = statistics.median(r["cpu_s"] for r in ok)
        doc["peak_rss_top_kb"] = max(r["rss_top_kb"] for r in ok)
        doc["peak_rss_tree_kb"] = max(r["rss_tree_kb"] for r in ok)
        doc["median_other_cpus"] = statistics.median(r["other_cpus"] for r in ok)
        inner = [r["inner"] for r in ok if "inner" in r]
        if inner:
            doc["inner"] = {k: statistics.median(x[k] for x in inner)
                            for k in inner[0] if isinstance(inner[0][k], (int, float))}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    line = f"[{a.label}] "
    if ok:
        line += (f"{len(ok)} runs: median {fmt_s(doc['median_wall_s'])} wall, "
                 f"{fmt_s(doc['median_cpu_s'])} CPU, peak RSS {doc['peak_rss_top_kb'] / 1024:.0f} MiB "
                 f"(tree {doc['peak_rss_tree_kb'] / 1024:.0f} MiB), other work {doc['median_other_cpus']:.1f} CPUs")
    if status == "timeout":
        line += f" TIMEOUT after {a.timeout:g} s"
    elif status == "failed":
        fr = doc["failed_run"]
        line += f" FAILED (exit {fr['exit']}): {fr.get('stderr_tail', '')[-600:]}"
    print(line, file=sys.stderr, flush=True)
    return 1 if status == "failed" else 0


def main():
    become_subreaper()
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--label", required=True)
    r.add_argument("--json", required=True)
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--warmup", type=int, default=1)
    r.add_argument("--timeout", type=float, default=0)
    r.add_argument("--lf-homes")
    r.add_argument("--runtime")
    r.add_argument("--env", action="append", default=[])
    r.add_argument("--inner", action="store_true")
    a = p.parse_args(argv)
    if not cmd:
        p.error("no command after --")
    if a.lf_homes and not a.runtime:
        p.error("--lf-homes needs --runtime")
    sys.exit(cmd_run(a, cmd))


if __name__ == "__main__":
    main()
