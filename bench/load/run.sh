#!/usr/bin/env bash
# Load benchmark: `lithoflow scheduler` with 1,000 DAGs in its folder, 100 concurrent runs
# and a map of 100,000 calls at once, while other processes request its API back to back.
#
#   bench/load/run.sh [--no-build] [--quick] [--reps N] [--runs N] [--big N] [--hold S]
#                     [--clients N] [--dags N] [--no-lithops] [--lithops-calls N]
#                     [--lithops-runs N] [--wait SECONDS]
#
# The folder (bench/.work/load/dags): --dags files (default 1,000): bench/gen_dags.py's
# DAGs of 20 tasks, paused at creation (no scheduled runs), plus 10 load_* DAGs for the
# concurrent runs (call_async >> [map of 100, bash `sleep --hold`] >> map_reduce >>
# call_async; max_active_runs = 1000, so the per-DAG limit never binds; there is no global
# limit on runs), load_bigmap (a map of --big calls, default 100,000, over a task's list)
# and load_ratio (the same with --lithops-calls calls).
#
# Each repetition (--reps, default 3) starts the release binary with a fresh
# LITHOFLOW_HOME (bench/.work/load/home, mode 0700) and: samples the scheduler's RSS and
# its Python workers' RSS every second; starts --clients (default 2) latency clients,
# separate processes that GET API routes back to back (/dags, /dags/~/dagRuns, a DAG's
# runs, a run's task instances, the big map's task instances with progress and its
# calls, a log, /health); after 10 s idle triggers the big map and --runs runs (default
# 100) through the API; counts the running runs from the API every 0.5 s until every run
# has ended; then checks that no state was lost (every run succeeded, every task instance
# is there, every XCom is right, the big map's XCom holds every result in order), again
# after restarting the scheduler, and with the CLI once it is stopped. On the quiet
# scheduler: load_ratio 3 times and the big map once more.
#
# Lithops 3.8.0 (bench/.work/lithops-venv, as bench/executor and bench/aws) runs the
# load_ratio map (add(x, y=1) over --lithops-calls elements, default 1,000; --lithops-runs
# runs, default 1) on its localhost backend with bench/executor/lithops_bench.py; the
# ratio is printed. Lithops starts a process per call (~0.15-0.6 s each on this machine),
# so 100,000 calls would take hours: it is measured at --lithops-calls, lithoflow at both.
#
# Prints the figures; never fails on a time. Exit status: 0 figures printed; 1 a lithoflow
# step failed; 3 Lithops could not be installed or run (lithoflow's figures are printed).
# --quick: 1 repetition, 20 runs, a map of 10,000, 10 s hold, no Lithops (a smoke test).
# Environment: PYTHON (default python3) runs the driver and is the workers' runtime.
set -euo pipefail

REPS=3
RUNS=100
BIG=100000
HOLD=45
CLIENTS=2
DAGS=1000
BUILD=1
LITHOPS=1
LITHOPS_CALLS=1000
LITHOPS_RUNS=1
WAIT=300
LITHOPS_VERSION=3.8.0

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --quick) REPS=1; RUNS=20; BIG=10000; HOLD=10; LITHOPS=0 ;;
        --reps) REPS="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --big) BIG="$2"; shift ;;
        --hold) HOLD="$2"; shift ;;
        --clients) CLIENTS="$2"; shift ;;
        --dags) DAGS="$2"; shift ;;
        --no-lithops) LITHOPS=0 ;;
        --lithops-calls) LITHOPS_CALLS="$2"; shift ;;
        --lithops-runs) LITHOPS_RUNS="$2"; shift ;;
        --wait) WAIT="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="$ROOT/bench/.work"
W="$WORK/load"
OUT="$W/results"
BIN="$ROOT/target/release/lithoflow"
PY="${PYTHON:-python3}"
HELPER="$ROOT/bench/load/load_bench.py"
mkdir -p "$W" "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/results.md
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
T_START=$(date +%s)

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_machine
bench_release_binary "$BUILD"
bench_runtime ", worker_processes = CPUs ($(nproc))"

say "generating the DAGs"
"$PY" bench/gen_dags.py --out "$W/gen" --dags "$DAGS" --tasks 20
"$PY" "$HELPER" dags --out "$W/dags" --gen-src "$W/gen" --total "$DAGS" --hold "$HOLD" \
    --big "$BIG" --ratio-n "$LITHOPS_CALLS"
if ! "$BIN" dags validate "$W/dags" > "$OUT/validate.log" 2>&1; then
    tail -n 40 "$OUT/validate.log"
    echo "ABORT: generated DAG files in $W/dags are not valid" >&2
    exit 1
fi
tail -n 1 "$OUT/validate.log"

# Lithops (before the quiet check: installing is not timed).
LITHOPS_STATUS="not run (--no-lithops)"
VENV="$WORK/lithops-venv"
if [ "$LITHOPS" = 1 ]; then
    LITHOPS_STATUS=""
    if ! "$VENV/bin/python" -c "import lithops, sys; sys.exit(lithops.__version__ != '$LITHOPS_VERSION')" 2>/dev/null; then
        say "installing lithops==$LITHOPS_VERSION into $VENV"
        if ! { [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"; } \
            || ! "$VENV/bin/python" -m pip install -q "lithops==$LITHOPS_VERSION" > "$OUT/lithops-install.log" 2>&1; then
            LITHOPS_STATUS="FAILED: pip install lithops==$LITHOPS_VERSION (see $OUT/lithops-install.log)"
        fi
    fi
fi

# Wait for a quiet machine: other engineers' builds and tests, another benchmark's Lithops.
# (Our own shell is skipped: its command line may contain "lithops"; so are lithoflow's
# own workers, whose command line holds the runtime's source, which names Lithops: the
# soak benchmark may be running beside this one.)
busy_pids() {
    local self p cmd
    self=$(tr '\0' ' ' < /proc/$$/cmdline)
    for p in $({ pgrep -f -i lithops; pgrep -x cargo; pgrep -x rustc; } 2>/dev/null | sort -u); do
        cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null ) || continue  # gone already
        case "$cmd" in *"lithoflow's Python runtime"*) continue ;; esac
        [ -n "$cmd" ] && [ "$cmd" != "$self" ] && echo "$p"
    done
}
waited=0
while [ -n "$(busy_pids)" ] && [ "$waited" -lt "$WAIT" ]; do
    if [ "$waited" = 0 ]; then
        say "waiting (up to ${WAIT}s) for other work to end (Lithops, cargo, rustc):"
        busy_pids | xargs -r ps -o pid=,args= -p | cut -c1-150 || true
    fi
    sleep 10
    waited=$((waited + 10))
done
if [ -n "$(busy_pids)" ]; then
    echo "WARNING: other work still running after ${WAIT}s; measuring anyway (figures are noisy):"
    busy_pids | xargs -r ps -o pid=,args= -p | cut -c1-150 || true
elif [ "$waited" -gt 0 ]; then
    echo "waited ${waited}s"
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average before measuring: $LOAD_BEFORE"

for rep in $(seq "$REPS"); do
    say "repetition $rep of $REPS: $RUNS runs + a map of $BIG calls, $CLIENTS latency clients (log: $OUT/run-$rep.scheduler.log)"
    "$PY" "$HELPER" run --bin "$BIN" --dags "$W/dags" --home "$W/home" --runtime "$RUNTIME" \
        --json "$OUT/run-$rep.json" --label "$rep" --runs "$RUNS" --big "$BIG" \
        --ratio-n "$LITHOPS_CALLS" --clients "$CLIENTS"
done

if [ "$LITHOPS" = 1 ] && [ -z "$LITHOPS_STATUS" ]; then
    say "Lithops $LITHOPS_VERSION localhost: map of $LITHOPS_CALLS calls x $LITHOPS_RUNS (a process per call; this takes minutes)"
    cat > "$W/lithops.yaml" <<EOF
lithops:
  backend: localhost
  storage: localhost
  log_level: WARNING
  include_modules: none
localhost:
  runtime: $VENV/bin/python
  worker_processes: $(nproc)
EOF
    # As bench/executor: Python's default bytecode caching (this machine's environment turns
    # it off, which makes every Lithops task process compile Lithops), caches under .work,
    # and the function module on PYTHONPATH (lithops_bench.py adds bench/executor).
    if ! (unset PYTHONDONTWRITEBYTECODE; export PYTHONPYCACHEPREFIX="$WORK/pycache" LITHOPS_CONFIG_FILE="$W/lithops.yaml"; \
          cd bench/executor && "$VENV/bin/python" lithops_bench.py inproc --maps "$LITHOPS_CALLS:$LITHOPS_RUNS" \
            --roundtrips 0 --mapreduce "" --json "$OUT/lithops.json") 2> "$OUT/lithops.log"; then
        LITHOPS_STATUS="FAILED: lithops_bench.py (see $OUT/lithops.log)"
    else
        LITHOPS_STATUS=ok
        grep '^\[lithops_bench\]' "$OUT/lithops.log" || true
    fi
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average after: $LOAD_AFTER"

"$PY" - "$OUT/meta.json" <<EOF
import json, sys
json.dump({
    "date": "$STARTED", "commit": "$COMMIT", "lithoflow": "$("$BIN" --version)",
    "python": "$("$RUNTIME" --version 2>&1)", "cpus": $(nproc), "clients": $CLIENTS,
    "ratio_n": $LITHOPS_CALLS, "lithops_status": """$LITHOPS_STATUS""",
    "load before": "$LOAD_BEFORE", "load after": "$LOAD_AFTER",
    "script time": "$(( $(date +%s) - T_START )) s",
}, open(sys.argv[1], "w"))
EOF
say "RESULTS: load, release build, $(nproc) CPUs, $STARTED, commit $COMMIT; load average $LOAD_BEFORE before, $LOAD_AFTER after"
"$PY" "$HELPER" report --dir "$OUT" --markdown "$OUT/results.md"
[ "$LITHOPS_STATUS" = ok ] || echo "lithops: $LITHOPS_STATUS"
echo "raw data: $OUT/*.json (every latency and RSS sample), scheduler logs $OUT/*.scheduler.log; tables: $OUT/results.md"
case "$LITHOPS_STATUS" in FAILED*) exit 3 ;; esac
exit 0
