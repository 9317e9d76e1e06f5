#!/usr/bin/env bash
# Benchmark of waiting sensors: N sensors (default 1,000: --runs R runs of a DAG of
# --tasks T file sensors) wait at once under `lithoflow scheduler`, in reschedule mode
# (default) or poke mode (--mode poke), poking every --interval seconds (default 5).
#
#   bench/sensors/run.sh [--no-build] [--debug] [--runs 10] [--tasks 100]
#                        [--mode reschedule|poke] [--interval 5] [--window 30]
#
# Once every sensor has poked and waits, it samples the scheduler's process for
# --window seconds (default 30): its CPU (user + sys seconds per second of wall time,
# from /proc/<pid>/stat), its resident memory (VmRSS, VmHWM), and the Python workers:
# how many exist and how many used CPU during the window (busy; a waiting sensor holds
# none). Then it makes each run's condition true (one flag file per run) and prints the
# median and p90 time from the flag's creation to each sensor's success (end_date), which
# is about half a poke interval by design. Airflow is not run here: in poke mode each
# waiting sensor holds a worker slot (a Celery/local executor process) for its whole
# wait, so 1,000 poke-mode sensors need 1,000 slots; see bench/README.md.
#
# Release build unless --debug. It never fails on a time. Exit status: 0 figures
# printed, 1 a step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD=1
PROFILE=release
RUNS=10
TASKS=100
MODE=reschedule
INTERVAL=5
WINDOW=30
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --debug) PROFILE=debug; BUILD=0 ;;
        --runs) RUNS="$2"; shift ;;
        --tasks) TASKS="$2"; shift ;;
        --mode) MODE="$2"; shift ;;
        --interval) INTERVAL="$2"; shift ;;
        --window) WINDOW="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
    shift
done
BIN="$ROOT/target/$PROFILE/lithoflow"
PY="${PYTHON:-python3}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_machine
bench_release_binary "$BUILD"
TOTAL=$((RUNS * TASKS))
echo "sensors:    $TOTAL ($RUNS runs x $TASKS file sensors), mode = $MODE, poke_interval = ${INTERVAL}s"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lithoflow-bench-sensors.XXXXXX")"
SCHED_PID=""
cleanup() {
    if [ -n "$SCHED_PID" ]; then kill "$SCHED_PID" 2>/dev/null || true; wait "$SCHED_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
HOME_DIR="$WORK/home"; DAGS="$WORK/dags"; FLAGS="$WORK/flags"
mkdir -p "$HOME_DIR" "$DAGS" "$FLAGS"
chmod 700 "$HOME_DIR"
RUNTIME="$("$PY" -c 'import sys; print(sys.executable)')"
printf '[lithops]\nbackend = "localhost"\n\n[localhost]\nruntime = "%s"\n' "$RUNTIME" >"$HOME_DIR/lithoflow.toml"
{
    printf 'dag_id = "waits"\nis_paused_upon_creation = false\nmax_active_runs = %d\nmax_active_tasks = %d\n\n' "$RUNS" "$TASKS"
    printf '[default_args]\nmode = "%s"\npoke_interval = %d\ntimeout = "2h"\n' "$MODE" "$INTERVAL"
    for i in $(seq 1 "$TASKS"); do
        printf '\n[tasks.s%d]\ntype = "sensor"\nsensor = "file"\nfilepath = "%s/{{ run_id }}"\n' "$i" "$FLAGS"
    done
} >"$DAGS/waits.toml"

export LITHOFLOW_HOME="$HOME_DIR"
for r in $(seq 1 "$RUNS"); do
    "$BIN" --dags-folder "$DAGS" dags trigger waits -r "r$r" >/dev/null
done
"$BIN" --dags-folder "$DAGS" scheduler --api-port 0 2>"$WORK/scheduler.log" &
SCHED_PID=$!
for _ in $(seq 1 600); do [ -s "$HOME_DIR/scheduler.json" ] && break; sleep 0.1; done
PORT="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$HOME_DIR/scheduler.json")"
TOKEN="$(cat "$HOME_DIR/api-token")"
api() { curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"; }

# Waiting: every sensor has poked at least once (running or up_for_reschedule).
say "waiting for $TOTAL sensors to start waiting"
started=$(date +%s.%N)
while :; do
    waiting=0
    for r in $(seq 1 "$RUNS"); do
        n=$(api "/api/v1/dags/waits/dagRuns/r$r/taskInstances?limit=10000" | "$PY" -c '
import json,sys
tis=json.load(sys.stdin)["task_instances"]
print(sum(1 for t in tis if t["state"] in ("running","up_for_reschedule")))')
        waiting=$((waiting + n))
    done
    [ "$waiting" -ge "$TOTAL" ] && break
    sleep 1
done
echo "all waiting after $("$PY" -c "import time,sys; print(round(time.time()-float(sys.argv[1]),1))" "$started") s"
# One more interval so every sensor is in its steady state of pokes.
sleep "$INTERVAL"

say "sampling the scheduler for ${WINDOW}s while they wait"
"$PY" - "$SCHED_PID" "$WINDOW" <<'EOF'
import os, sys, time
pid, window = int(sys.argv[1]), float(sys.argv[2])
tick = os.sysconf("SC_CLK_TCK")

def cpu(p):
    with open(f"/proc/{p}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def children(p):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == p:
                        out.append(int(d))
            except OSError:
                pass
    return out

def mem(p, key):
    with open(f"/proc/{p}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0

workers = [c for c in children(pid) if "python" in open(f"/proc/{c}/cmdline").read()]
w0 = {w: cpu(w) for w in workers}
c0, t0 = cpu(pid), time.time()
rss = []
while time.time() - t0 < window:
    time.sleep(1)
    rss.append(mem(pid, "VmRSS"))
c1, t1 = cpu(pid), time.time()
busy = sum(1 for w in workers if os.path.exists(f"/proc/{w}") and cpu(w) - w0[w] > 0.05)
print(f"scheduler CPU: {(c1 - c0) / (t1 - t0):.3f} s/s (user+sys per wall second)")
print(f"scheduler RSS: {max(rss):.1f} MiB max over the window, {mem(pid, 'VmHWM'):.1f} MiB peak")
print(f"python workers: {len(workers)} started, {busy} busy during the window")
EOF

say "making the conditions true: one flag per run"
: >"$WORK/flagged"
for r in $(seq 1 "$RUNS"); do
    : >"$FLAGS/r$r"
    printf 'r%d %s\n' "$r" "$(date -u +%Y-%m-%dT%H:%M:%S.%N+00:00)" >>"$WORK/flagged"
done
for r in $(seq 1 "$RUNS"); do
    while :; do
        s=$(api "/api/v1/dags/waits/dagRuns/r$r" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')
        [ "$s" = success ] || [ "$s" = failed ] && break
        sleep 0.5
    done
done
for r in $(seq 1 "$RUNS"); do
    api "/api/v1/dags/waits/dagRuns/r$r/taskInstances?limit=10000" >"$WORK/tis-r$r.json"
done
"$PY" - "$WORK" "$RUNS" <<'EOF'
import json, sys, statistics
from datetime import datetime
work, runs = sys.argv[1], int(sys.argv[2])

def parse(s):
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        frac, tz = rest[:-6], rest[-6:]
        s = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    return datetime.fromisoformat(s)

flagged = dict(line.split() for line in open(f"{work}/flagged"))
lat, states = [], {}
for r in range(1, runs + 1):
    t0 = parse(flagged[f"r{r}"])
    for t in json.load(open(f"{work}/tis-r{r}.json"))["task_instances"]:
        states[t["state"]] = states.get(t["state"], 0) + 1
        if t["state"] == "success" and t.get("end_date"):
            lat.append((parse(t["end_date"]) - t0).total_seconds())
lat.sort()
print(f"states: {states}")
print(f"condition true -> success: median {statistics.median(lat):.2f} s, p90 {lat[int(len(lat) * 0.9) - 1]:.2f} s, max {lat[-1]:.2f} s over {len(lat)} sensors")
EOF
