#!/usr/bin/env bash
# Benchmark of DAG runs: `lithoflow dags test` beside Airflow 2.10.5's `airflow dags test`.
#
#   bench/runs/run.sh [--no-airflow] [--no-build] [--quick]
#                     [--runs-100 N] [--runs-1000 N] [--runs-fanout N] [--runs-stamp N]
#                     [--runs-tmpfs N] [--no-tmpfs] [--airflow-runs N] [--wait-lithops SECONDS]
#                     [--settle SECONDS]
#
# Airflow   chain of 100 PythonOperator tasks calling noop_mod.noop(i), timed with
#           `airflow dags test bench_chain_100 2026-11-01` (--airflow-runs, default 3; about
#           30 s each here). SQLite, AIRFLOW_HOME=bench/.work/airflow-home-runs.
# lithoflow chain_100 (--runs-100, default 7), chain_1000 (--runs-1000, default 5),
#           fanout_1000 = root >> 1,000 >> join (--runs-fanout, default 5), and stamp_1000,
#           a chain of 1,000 whose calls return time.time() (--runs-stamp, default 3):
#           `lithoflow dags test DAG -o json`, release build, a fresh LITHOFLOW_HOME per run
#           with `[localhost] runtime` = the real interpreter, one untimed warm-up each.
#           Hop latency (a task's end_date -> its downstream task's start_date) from
#           `lithoflow tasks states-for-dag-run DAG RUN -o json`. chain_1000 and fanout_1000
#           again with LITHOFLOW_HOME on tmpfs (/dev/shm; --runs-tmpfs, default 3;
#           --no-tmpfs skips them): the difference is what the disk costs.
#
# Prints one table: wall-time medians, hop median and p99, the airflow/lithoflow ratio, and
# the load on the machine. It never fails on a time. Before timing it waits (up to
# --wait-lithops seconds, default 900) for another benchmark's Lithops processes and for
# other cargo/rustc processes to end, and until --settle seconds (default 360) have passed
# since the previous invocation deleted its LITHOFLOW_HOMEs (see the comment at $SETTLE_MARK).
# --quick: 2 runs each, no Airflow (a smoke test; figures not for quoting).
#
# Exit status: 0 figures printed; 1 a lithoflow step failed; 3 Airflow could not be
# installed or run (lithoflow's figures are still printed).
# Environment: PYTHON (default python3) runs the helpers and creates the Airflow venv.
set -euo pipefail

RUNS_100=7
RUNS_1000=5
RUNS_FANOUT=5
RUNS_STAMP=3
RUNS_TMPFS=3
TMPFS=1
AIRFLOW_RUNS=3
AIRFLOW=1
BUILD=1
WAIT_LITHOPS=900
SETTLE=360
AIRFLOW_VERSION=2.10.5
AIRFLOW_DATE=2026-11-01

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-airflow) AIRFLOW=0 ;;
        --no-build) BUILD=0 ;;
        --no-tmpfs) TMPFS=0 ;;
        --quick) RUNS_100=2; RUNS_1000=2; RUNS_FANOUT=2; RUNS_STAMP=1; RUNS_TMPFS=1; AIRFLOW=0 ;;
        --runs-100) RUNS_100="$2"; shift ;;
        --runs-1000) RUNS_1000="$2"; shift ;;
        --runs-fanout) RUNS_FANOUT="$2"; shift ;;
        --runs-stamp) RUNS_STAMP="$2"; shift ;;
        --runs-tmpfs) RUNS_TMPFS="$2"; shift ;;
        --airflow-runs) AIRFLOW_RUNS="$2"; shift ;;
        --wait-lithops) WAIT_LITHOPS="$2"; shift ;;
        --settle) SETTLE="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="$ROOT/bench/.work"
DAGS="$WORK/runs_dags"
AF_DAGS="$WORK/runs_airflow_dags"
OUT="$WORK/runs_results"
HOMES="$WORK/runs_homes"
BIN="$ROOT/target/release/lithoflow"
PY="${PYTHON:-python3}"
HELPER="$ROOT/bench/runs/runs.py"
mkdir -p "$WORK" "$OUT"
rm -f "$OUT"/*.json
# Each run gets a new LITHOFLOW_HOME under $HOMES (a chain_1000 run leaves ~6,000 files,
# 27 MB); nothing is deleted between runs. On this machine's ext4 (no journal) an inode
# freed less than 60 s ago (360 s while its inode-table block is dirty) is skipped, one by
# one, each time a new inode is allocated (fs/ext4/ialloc.c, recently_deleted()): right
# after a bulk delete, every file lithoflow creates costs more (perf: recently_deleted at
# 10-25% of the run's CPU samples; chain_1000 ~1 s slower). So the homes are deleted at the
# end, the time is noted in $SETTLE_MARK, and the next invocation waits until --settle
# seconds (default 360) have passed since then before timing.
SETTLE_MARK="$WORK/runs_homes.deleted_at"
if [ -e "$HOMES" ]; then
    rm -rf "$HOMES"
    date +%s > "$SETTLE_MARK"
fi

say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "date:       $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpus:       $(nproc)   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- scheduler executor 2>/dev/null || echo ' (+ uncommitted changes)')"

# 1. The release binary (cargo waits for the lock when someone else builds).
if [ "$BUILD" = 1 ]; then
    say "cargo build --release -p lithoflow-scheduler"
    cargo build --release -p lithoflow-scheduler
fi
[ -x "$BIN" ] || { echo "no release binary at $BIN" >&2; exit 1; }
echo "binary:     $BIN ($("$BIN" --version))"

# The real interpreter, so the workers do not start through a pyenv shim.
RUNTIME="$("$PY" -c 'import sys; print(sys.executable)')"
echo "runtime:    [localhost] runtime = \"$RUNTIME\" in each run's \$LITHOFLOW_HOME/lithoflow.toml ($("$RUNTIME" --version 2>&1))"

# 2. The DAGs.
say "generating the DAGs"
"$PY" bench/runs/gen_dags.py --out "$DAGS" --airflow-out "$AF_DAGS"
if ! "$BIN" dags validate "$DAGS" > "$OUT/validate.log" 2>&1; then
    cat "$OUT/validate.log"
    echo "ABORT: generated DAG files are not valid" >&2
    exit 1
fi
tail -n 1 "$OUT/validate.log"

# 3. Airflow's venv and database (before the quiet check: installing is not timed).
AF_STATUS="not run (--no-airflow)"
if [ "$AIRFLOW" = 1 ]; then
    AF_STATUS=""
    VENV=""
    for v in "$WORK/airflow-venv" "$WORK/airflow-venv-runs"; do
        if [ -x "$v/bin/airflow" ] && [ "$("$v/bin/airflow" version 2>/dev/null | tail -n 1)" = "$AIRFLOW_VERSION" ]; then
            VENV="$v"
            break
        fi
    done
    if [ -z "$VENV" ]; then
        VENV="$WORK/airflow-venv-runs"
        say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes; log: $OUT/airflow-install.log)"
        if ! { "$PY" -m venv "$VENV" \
               && "$VENV/bin/pip" install --upgrade pip \
               && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } > "$OUT/airflow-install.log" 2>&1; then
            tail -n 20 "$OUT/airflow-install.log"
            AF_STATUS="FAILED: pip install apache-airflow==$AIRFLOW_VERSION (see $OUT/airflow-install.log)"
        fi
    fi
    export AIRFLOW_HOME="$WORK/airflow-home-runs"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$AF_DAGS"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
    export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
    mkdir -p "$AIRFLOW_HOME"
    if [ -z "$AF_STATUS" ]; then
        echo "airflow:    $VENV ($("$VENV/bin/airflow" version 2>/dev/null | tail -n 1)), AIRFLOW_HOME=$AIRFLOW_HOME, SQLite"
        say "airflow db migrate"
        if ! "$VENV/bin/airflow" db migrate > "$OUT/airflow-migrate.log" 2>&1; then
            tail -n 20 "$OUT/airflow-migrate.log"
            AF_STATUS="FAILED: airflow db migrate (see $OUT/airflow-migrate.log)"
        fi
    fi
fi

# 4. Wait for a quiet machine: first for freed inodes to age (see $SETTLE_MARK above), then
# for another benchmark's Lithops processes and other engineers' builds (cargo/rustc).
if [ -f "$SETTLE_MARK" ]; then
    left=$(( $(cat "$SETTLE_MARK") + SETTLE - $(date +%s) ))
    if [ "$left" -gt 0 ]; then
        say "waiting ${left}s: the previous invocation deleted its LITHOFLOW_HOMEs less than ${SETTLE}s ago (ext4 recently_deleted; --settle)"
        sleep "$left"
    fi
fi
# (Our own shell and its subshells are skipped: their command line may contain "lithops",
# as in --wait-lithops.)
busy_pids() {
    local self p cmd
    self=$(tr '\0' ' ' < /proc/$$/cmdline)
    for p in $({ pgrep -f -i lithops; pgrep -x cargo; pgrep -x rustc; } 2>/dev/null | sort -u); do
        cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null ) || continue  # gone already
        [ -n "$cmd" ] && [ "$cmd" != "$self" ] && echo "$p"
    done
}
waited=0
while [ -n "$(busy_pids)" ] && [ "$waited" -lt "$WAIT_LITHOPS" ]; do
    if [ "$waited" = 0 ]; then
        say "waiting (up to ${WAIT_LITHOPS}s) for other work to end (Lithops, cargo, rustc):"
        busy_pids | xargs -r ps -o pid=,args= -p | cut -c1-150 || true
    fi
    sleep 10
    waited=$((waited + 10))
done
if [ -n "$(busy_pids)" ]; then
    echo "WARNING: other work still running after ${WAIT_LITHOPS}s; timing anyway (figures are noisy):"
    busy_pids | xargs -r ps -o pid=,args= -p | cut -c1-150 || true
elif [ "$waited" -gt 0 ]; then
    echo "waited ${waited}s"
fi
echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

# 5. lithoflow.
lf() {  # lf DAG KIND RUNS [HOMES LABEL]
    local homes="${4:-$HOMES}" label="${5:-$1}"
    say "lithoflow dags test $1: 1 warm-up, $3 timed runs (homes in $homes)"
    "$PY" "$HELPER" lithoflow --bin "$BIN" --dags "$DAGS" --dag "$1" --kind "$2" --runs "$3" \
        --warmup 1 --runtime "$RUNTIME" --homes "$homes" --label "$label" \
        --json "$OUT/lithoflow-$label.json"
}
lf chain_100 chain "$RUNS_100"
lf chain_1000 chain "$RUNS_1000"
lf fanout_1000 fanout "$RUNS_FANOUT"
lf stamp_1000 stamp "$RUNS_STAMP"
# The same two workloads with LITHOFLOW_HOME in memory: how much of the time is the disk.
if [ "$TMPFS" = 1 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TMPFS_HOMES="/dev/shm/lithoflow-bench-runs.$$"
    lf chain_1000 chain "$RUNS_TMPFS" "$TMPFS_HOMES" chain_1000-tmpfs
    lf fanout_1000 fanout "$RUNS_TMPFS" "$TMPFS_HOMES" fanout_1000-tmpfs
    rm -rf "$TMPFS_HOMES"
fi

# 6. Airflow.
if [ "$AIRFLOW" = 1 ] && [ -z "$AF_STATUS" ]; then
    say "airflow dags test bench_chain_100 $AIRFLOW_DATE: $AIRFLOW_RUNS timed runs (log of the last: $OUT/airflow-dags-test.log)"
    if "$PY" "$HELPER" airflow --airflow "$VENV/bin/airflow" --dag bench_chain_100 --date "$AIRFLOW_DATE" \
        --runs "$AIRFLOW_RUNS" --db "$AIRFLOW_HOME/airflow.db" --log "$OUT/airflow-dags-test.log" \
        --json "$OUT/airflow-chain_100.json"; then
        AF_STATUS=ok
    else
        AF_STATUS="FAILED: airflow dags test (see $OUT/airflow-dags-test.log)"
    fi
fi
echo "load average after timing: $(cut -d' ' -f1-3 /proc/loadavg)"

# 7. The table.
say "RESULTS: DAG runs, release build, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
"$PY" "$HELPER" report --dir "$OUT" --markdown "$OUT/results.md"
[ "$AF_STATUS" = ok ] || echo "airflow: $AF_STATUS"
echo "raw data:   $OUT/*.json (per run: wall, CPU, every hop); table as Markdown: $OUT/results.md"
rm -rf "$HOMES"
date +%s > "$SETTLE_MARK"
case "$AF_STATUS" in FAILED*) exit 3 ;; esac
exit 0
