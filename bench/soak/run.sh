#!/usr/bin/env bash
# Soak benchmark: `lithoflow scheduler` running every-minute DAGs for a long time.
#
#   bench/soak/run.sh [MINUTES] [--no-build] [--rss-every SECONDS] [--api-every SECONDS]
#                     [--no-thp]
#   bench/soak/run.sh --fast RUNS [--no-build] [--every N] [--env NAME=VALUE]
#
# The DAGs are bench/soak/dags/: the example DAGs of dags/ (call_async, map, map_reduce,
# the three operators chained) with `schedule = "* * * * *"`, plus one with a map of 1,000
# calls over a task's result; five runs a minute. They are copied to
# bench/.work/soak/dags and run by the release binary with a fresh LITHOFLOW_HOME
# (bench/.work/soak/home, mode 0700) for MINUTES (default 30).
#
# Measured: the scheduler's RSS every --rss-every seconds (default 10) and, apart from it,
# its Python workers'; one round of API requests every --api-every seconds (default 5).
# Printed: RSS median over the first and the last 5 minutes, max, least-squares slope in
# KB/hour; runs completed and failed (every finished run's task instances are checked);
# API latency percentiles; load average. It never fails on a time or a memory figure.
# --no-thp runs the scheduler with transparent huge pages disabled (prctl
# PR_SET_THP_DISABLE), which shows how much of its RSS is the allocator's huge pages.
# --fast RUNS (bench/soak/fast.py): the same DAGs triggered through the API as fast as
# they finish, with the scheduler's memory at rest sampled every --every runs (default
# 500): ten hours of the soak's runs (3,000) in about half an hour. --env passes a
# variable to the scheduler (e.g. MIMALLOC_PURGE_DELAY=1000, mimalloc's own default).
#
# Exit status: 0 figures printed; 1 a step failed (build, validation, the scheduler).
# Environment: PYTHON (default python3) runs the driver and is the workers' runtime.
set -euo pipefail

MINUTES=30
BUILD=1
RSS_EVERY=10
API_EVERY=5
NO_THP=()
FAST=""
EVERY=500
ENVS=()

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --rss-every) RSS_EVERY="$2"; shift ;;
        --api-every) API_EVERY="$2"; shift ;;
        --no-thp) NO_THP=(--no-thp) ;;
        --fast|--every|--env)
            if [ $# -lt 2 ]; then echo "$1 needs a value" >&2; usage >&2; exit 1; fi
            case "$1" in
                --fast) FAST="$2" ;;
                --every) EVERY="$2" ;;
                --env) ENVS+=(--env "$2") ;;
            esac
            shift ;;
        -h|--help) usage; exit 0 ;;
        [0-9]*) MINUTES="$1" ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

if [ -n "$FAST" ]; then
    case "$FAST$EVERY" in
        *[!0-9]*) echo "--fast and --every take a number of runs (got --fast $FAST --every $EVERY)" >&2; exit 1 ;;
    esac
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
W="$ROOT/bench/.work/soak"
BIN="$ROOT/target/release/lithoflow"
PY="${PYTHON:-python3}"
mkdir -p "$W"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_machine
bench_release_binary "$BUILD"
bench_runtime ""

if ! "$BIN" dags validate bench/soak/dags > "$W/validate.log" 2>&1; then
    cat "$W/validate.log"
    echo "ABORT: bench/soak/dags is not valid" >&2
    exit 1
fi

if [ -n "$FAST" ]; then
    W="$W-fast"
    mkdir -p "$W"
    say "soak --fast: $FAST runs, memory at rest every $EVERY runs"
    "$PY" bench/soak/fast.py --bin "$BIN" --dags bench/soak/dags --work "$W" --runtime "$RUNTIME" \
        --runs "$FAST" --every "$EVERY" "${ENVS[@]}" --json "$W/results.json" --markdown "$W/results.md"
    echo
    echo "raw data: $W/results.json, scheduler log $W/scheduler.log; table: $W/results.md"
    exit 0
fi

say "soak: $MINUTES min (RSS every ${RSS_EVERY}s, API every ${API_EVERY}s; progress every minute)"
"$PY" bench/soak/soak.py --bin "$BIN" --dags bench/soak/dags --work "$W" --runtime "$RUNTIME" \
    --minutes "$MINUTES" --rss-every "$RSS_EVERY" --api-every "$API_EVERY" \
    "${NO_THP[@]}" --json "$W/results.json" --markdown "$W/results.md"
echo
echo "raw data: $W/results.json (every RSS sample), scheduler log $W/scheduler.log; tables: $W/results.md"
