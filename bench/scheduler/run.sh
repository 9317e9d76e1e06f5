#!/usr/bin/env bash
# Scheduler-daemon benchmark: `lithoflow scheduler` beside Airflow 2.10.5's `airflow scheduler`.
#
#   bench/scheduler/run.sh [--no-airflow] [--no-build] [--quick]
#                          [--lf-runs N] [--airflow-runs N] [--airflow-chain-runs N]
#                          [--default-pickups N] [--pickup-cap SECONDS]
#                          [--api-requests N] [--wait SECONDS]
#
# 1. New-DAG pickup: a DAG file is renamed into the watched folder of a running scheduler;
#    time until `GET /api/v1/dags` lists it (lithoflow, --lf-runs trials, default 15, with 3
#    DAGs and with 1,000 DAGs in the folder) or until Airflow's DB has it active and
#    serialized (tuned parsing: DAG_DIR_LIST_INTERVAL=5 + MIN_FILE_PROCESS_INTERVAL=0,
#    --airflow-runs trials, default 5; Airflow's defaults, 300 s / 30 s: --default-pickups
#    trials, default 1). Airflow waits are capped at --pickup-cap (default 120) and reported
#    as "> N s".
# 2. Trigger -> success of `one_task` (one trivial call_async / PythonOperator) and `chain_10`
#    (ten in a chain): `lithoflow dags trigger` (through the running daemon's API) and a
#    direct POST, then polling GET .../dagRuns/{run_id} (--lf-runs trials each); Airflow
#    (default settings, SequentialExecutor): `airflow dags trigger`, then polling dag_run
#    in its SQLite DB (--airflow-runs trials for one_task after a warm-up,
#    --airflow-chain-runs for chain_10, default 5; each about a minute).
# 3. API latency with the 1,000 DAG files of bench/gen_dags.py loaded (made paused, so no
#    scheduled runs start): p50/p99 of GET /api/v1/health and /api/v1/dags (--api-requests,
#    default 300) and /api/v1/dags?limit=1000 (a third as many), keep-alive and new
#    connection per request, timed by the client (Python http.client).
#
# Also: start-up, idle CPU, RSS and SIGTERM-to-exit of each daemon, and the other work on
# the machine during each timed part. Before timing it waits (up to --wait seconds,
# default 300) for other cargo/rustc/Lithops processes to end. Never fails on a time.
# --quick: few trials, no Airflow (a smoke test; figures not for quoting).
#
# Exit status: 0 figures printed; 1 a lithoflow step failed; 3 Airflow could not be
# installed or run (lithoflow's figures are still printed).
# Environment: PYTHON (default python3) runs the helper, is the workers' runtime and
# creates the Airflow venv.
set -euo pipefail

LF_RUNS=15
AIRFLOW_RUNS=5
AIRFLOW_CHAIN_RUNS=5
DEFAULT_PICKUPS=1
PICKUP_CAP=120
API_REQUESTS=300
IDLE=10
AIRFLOW=1
BUILD=1
WAIT=300
AIRFLOW_VERSION=2.10.5

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-airflow) AIRFLOW=0 ;;
        --no-build) BUILD=0 ;;
        --quick) LF_RUNS=3; API_REQUESTS=50; IDLE=2; AIRFLOW=0 ;;
        --lf-runs) LF_RUNS="$2"; shift ;;
        --airflow-runs) AIRFLOW_RUNS="$2"; shift ;;
        --airflow-chain-runs) AIRFLOW_CHAIN_RUNS="$2"; shift ;;
        --default-pickups) DEFAULT_PICKUPS="$2"; shift ;;
        --pickup-cap) PICKUP_CAP="$2"; shift ;;
        --api-requests) API_REQUESTS="$2"; shift ;;
        --wait) WAIT="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="$ROOT/bench/.work"
W="$WORK/scheduler"
OUT="$W/results"
BIN="$ROOT/target/release/lithoflow"
PY="${PYTHON:-python3}"
HELPER="$ROOT/bench/scheduler/sched_bench.py"
mkdir -p "$W" "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/results.md
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
T_START=$(date +%s)

say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "date:       $STARTED"
echo "cpus:       $(nproc)   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- scheduler executor 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "commit:     $COMMIT"

# 1. The release binary (cargo waits for the lock when someone else builds).
if [ "$BUILD" = 1 ]; then
    say "cargo build --release -p lithoflow-scheduler"
    cargo build --release -p lithoflow-scheduler
fi
[ -x "$BIN" ] || { echo "no release binary at $BIN" >&2; exit 1; }
echo "binary:     $BIN ($("$BIN" --version))"

# The real interpreter, so the workers do not start through a pyenv shim.
RUNTIME="$("$PY" -c 'import sys; print(sys.executable)')"
echo "runtime:    [localhost] runtime = \"$RUNTIME\" ($("$RUNTIME" --version 2>&1))"

# 2. The DAGs: one_task and chain_10 for both tools; 1,000 generated DAGs for the API part.
say "generating the DAGs"
"$PY" bench/gen_dags.py --out "$W/gen_1000" --dags 1000 --tasks 20
"$PY" "$HELPER" dags --lithoflow "$W/lf_dags" --airflow "$W/af_dags" \
    --big "$W/lf_dags_1000" --big-src "$W/gen_1000"
for d in "$W/lf_dags" "$W/lf_dags_1000"; do
    if ! "$BIN" dags validate "$d" > "$OUT/validate.log" 2>&1; then
        cat "$OUT/validate.log"
        echo "ABORT: generated DAG files in $d are not valid" >&2
        exit 1
    fi
done

# 3. Airflow's venv and a migrated database (before the quiet check: not timed). Reuses
# bench/.work/airflow-venv (bench/dags_list.sh) or airflow-venv-runs (bench/runs/run.sh)
# when its `airflow version` is 2.10.5, else creates bench/.work/airflow-venv-scheduler.
AF_STATUS="not run (--no-airflow)"
if [ "$AIRFLOW" = 1 ]; then
    AF_STATUS=""
    VENV=""
    for v in "$WORK/airflow-venv" "$WORK/airflow-venv-runs" "$WORK/airflow-venv-scheduler"; do
        if [ -x "$v/bin/airflow" ] && [ "$("$v/bin/airflow" version 2>/dev/null | tail -n 1)" = "$AIRFLOW_VERSION" ]; then
            VENV="$v"
            break
        fi
    done
    if [ -z "$VENV" ]; then
        VENV="$WORK/airflow-venv-scheduler"
        say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes; log: $OUT/airflow-install.log)"
        if ! { "$PY" -m venv "$VENV" \
               && "$VENV/bin/pip" install --upgrade pip \
               && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } > "$OUT/airflow-install.log" 2>&1; then
            tail -n 20 "$OUT/airflow-install.log"
            AF_STATUS="FAILED: pip install apache-airflow==$AIRFLOW_VERSION (see $OUT/airflow-install.log)"
        fi
    fi
    export AIRFLOW_HOME="$W/airflow-home"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$W/af_dags"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
    export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
    export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
    # The scheduler's log server defaults to port 8793 (lithoflow's default API port too).
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT
    if [ -z "$AF_STATUS" ]; then
        echo "airflow:    $VENV ($("$VENV/bin/airflow" version 2>/dev/null | tail -n 1)), AIRFLOW_HOME=$AIRFLOW_HOME, SQLite, SequentialExecutor"
        # A migrated empty DB is kept as a template (migrating takes ~30 s); each invocation
        # starts from a copy of it.
        TEMPLATE="$W/airflow-template.db"
        rm -rf "$AIRFLOW_HOME"
        mkdir -p "$AIRFLOW_HOME"
        if [ "$(cat "$TEMPLATE.version" 2>/dev/null)" != "$AIRFLOW_VERSION" ]; then
            say "airflow db migrate (template database)"
            if "$VENV/bin/airflow" db migrate > "$OUT/airflow-migrate.log" 2>&1; then
                cp "$AIRFLOW_HOME/airflow.db" "$TEMPLATE"
                echo "$AIRFLOW_VERSION" > "$TEMPLATE.version"
            else
                tail -n 20 "$OUT/airflow-migrate.log"
                AF_STATUS="FAILED: airflow db migrate (see $OUT/airflow-migrate.log)"
            fi
        else
            cp "$TEMPLATE" "$AIRFLOW_HOME/airflow.db"
        fi
    fi
fi

# 4. Wait for a quiet machine: other engineers' builds and tests, another benchmark's Lithops.
# (Our own shell is skipped: its command line may contain "lithops".)
busy_pids() {
    local self p cmd
    self=$(tr '\0' ' ' < /proc/$$/cmdline)
    for p in $({ pgrep -f -i lithops; pgrep -x cargo; pgrep -x rustc; } 2>/dev/null | sort -u); do
        cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null ) || continue  # gone already
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
    echo "WARNING: other work still running after ${WAIT}s; timing anyway (figures are noisy):"
    busy_pids | xargs -r ps -o pid=,args= -p | cut -c1-150 || true
elif [ "$waited" -gt 0 ]; then
    echo "waited ${waited}s"
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average before timing: $LOAD_BEFORE"

# 5. lithoflow: the small folder (pickup, triggers), then 1,000 DAGs (pickup, trigger, API).
say "lithoflow scheduler, $(ls "$W/lf_dags" | grep -c '\.toml$') DAGs: idle ${IDLE}s, $LF_RUNS pickups, $LF_RUNS triggers of each DAG by CLI and by POST"
"$PY" "$HELPER" lithoflow --bin "$BIN" --runtime "$RUNTIME" --dags "$W/lf_dags" --home "$W/lf_home" \
    --label small --json "$OUT/lithoflow-small.json" --log "$OUT/lithoflow-small.log" \
    --idle "$IDLE" --pickups "$LF_RUNS" --triggers "$LF_RUNS" --chain-triggers "$LF_RUNS"
say "lithoflow scheduler, 1,000 generated DAGs (+ one_task): idle ${IDLE}s, $LF_RUNS pickups, $(( (LF_RUNS + 1) / 2 )) triggers, API x $API_REQUESTS"
"$PY" "$HELPER" lithoflow --bin "$BIN" --runtime "$RUNTIME" --dags "$W/lf_dags_1000" --home "$W/lf_home_1000" \
    --label 1000 --json "$OUT/lithoflow-1000.json" --log "$OUT/lithoflow-1000.log" \
    --idle "$IDLE" --pickups "$LF_RUNS" --triggers $(( (LF_RUNS + 1) / 2 )) --api-requests "$API_REQUESTS"

# 6. Airflow: defaults (pickup capped, then the triggers), then tuned parsing (pickups).
AF_VER=""
if [ "$AIRFLOW" = 1 ] && [ -z "$AF_STATUS" ]; then
    AF_VER="$("$VENV/bin/airflow" version 2>/dev/null | tail -n 1)"
    say "airflow scheduler, default parsing settings: idle ${IDLE}s, $DEFAULT_PICKUPS pickup(s) (cap ${PICKUP_CAP}s), one_task 1 warm-up + $AIRFLOW_RUNS, chain_10 x $AIRFLOW_CHAIN_RUNS (log: $OUT/airflow-default.log)"
    if "$PY" "$HELPER" airflow --airflow "$VENV/bin/airflow" --dags "$W/af_dags" --mode default \
        --json "$OUT/airflow-default.json" --log "$OUT/airflow-default.log" --idle "$IDLE" \
        --pickups "$DEFAULT_PICKUPS" --pickup-cap "$PICKUP_CAP" \
        --triggers "$AIRFLOW_RUNS" --chain-triggers "$AIRFLOW_CHAIN_RUNS"; then
        AF_STATUS=ok
    else
        AF_STATUS="FAILED: airflow scheduler, defaults (see $OUT/airflow-default.log)"
    fi
    say "airflow scheduler, tuned parsing (DAG_DIR_LIST_INTERVAL=5, MIN_FILE_PROCESS_INTERVAL=0): idle ${IDLE}s, $AIRFLOW_RUNS pickups (log: $OUT/airflow-tuned.log)"
    if ! "$PY" "$HELPER" airflow --airflow "$VENV/bin/airflow" --dags "$W/af_dags" --mode tuned \
        --json "$OUT/airflow-tuned.json" --log "$OUT/airflow-tuned.log" --idle "$IDLE" \
        --pickups "$AIRFLOW_RUNS" --pickup-cap "$PICKUP_CAP"; then
        AF_STATUS="FAILED: airflow scheduler, tuned (see $OUT/airflow-tuned.log)"
    fi
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average after timing: $LOAD_AFTER"

# 7. The tables.
"$PY" - "$OUT/meta.json" <<EOF
import json, sys
json.dump({
    "date": "$STARTED", "commit": "$COMMIT", "lithoflow": "$("$BIN" --version)",
    "airflow": "$AF_VER" or None, "python": "$("$RUNTIME" --version 2>&1)",
    "cpus": $(nproc), "load before": "$LOAD_BEFORE", "load after": "$LOAD_AFTER",
    "script time": "$(( $(date +%s) - T_START )) s",
}, open(sys.argv[1], "w"))
EOF
say "RESULTS: scheduler daemons, release build, $(nproc) CPUs, $STARTED"
"$PY" "$HELPER" report --dir "$OUT" --markdown "$OUT/results.md"
[ "$AF_STATUS" = ok ] || echo "airflow: $AF_STATUS"
echo "raw data: $OUT/*.json (every sample), daemon logs $OUT/*.log; table as Markdown: $OUT/results.md"
case "$AF_STATUS" in FAILED*) exit 3 ;; esac
exit 0
