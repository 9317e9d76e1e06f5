#!/usr/bin/env bash
# Benchmark of a task's requests to the scheduler: `Variable.get` (and `xcom_pull`,
# `xcom_push`) from inside a task function, each a round trip over the worker protocol
# to the scheduler's state database and back.
#
#   bench/runtime/run.sh [--no-build] [--debug] [--calls N] [--runs N] [--no-airflow]
#
# Then Airflow 2.10's Variable.get in the same script (installed into
# bench/.work/airflow-venv-runtime unless AIRFLOW_VENV names a venv that has it), and the
# ratio of the medians.
#
# One `dags test` of a DAG whose call_async function times N (--calls, default 2000) calls
# of each request with time.perf_counter() and returns the durations; --runs (default 5)
# such runs, each in a fresh LITHOFLOW_HOME with `[localhost] runtime` = the real
# interpreter. Prints the median, p90 and p99 round trip of each request over all calls
# of all runs, beside a plain Python function call for scale. Release build unless
# --debug (target/debug, for a quick look; figures not for quoting). It never fails on a
# time. Exit status: 0 figures printed, 1 a step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
BUILD=1
PROFILE=release
CALLS=2000
RUNS=5
AIRFLOW=1
AIRFLOW_VERSION=2.10.5
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --debug) PROFILE=debug; BUILD=0 ;;
        --calls) CALLS="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --no-airflow) AIRFLOW=0 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
    shift
done
BIN="$ROOT/target/$PROFILE/lithoflow"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_machine
if [ "$PROFILE" = release ]; then
    bench_release_binary "$BUILD"
else
    [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
    echo "binary:     $BIN (debug build: figures not for quoting)"
fi
bench_runtime ""

WORK="$ROOT/bench/.work/runtime"
rm -rf "$WORK"
mkdir -p "$WORK/dags"
cat > "$WORK/dags/rt_bench.py" <<'PYEOF'
import time

from lithoflow import Variable, get_current_context


def noop():
    return None


def timed(n):
    ti = get_current_context()["ti"]
    Variable.set("bench_threshold", "10")
    ti.xcom_push(key="seed", value=[1, 2, 3])
    out = {}
    for name, f in [
        ("python function call", noop),
        ("Variable.get", lambda: Variable.get("bench_threshold")),
        ("ti.xcom_pull", lambda: ti.xcom_pull(key="seed")),
        ("ti.xcom_push", lambda: ti.xcom_push(key="k", value=1)),
    ]:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        out[name] = times
    return out
PYEOF
cat > "$WORK/dags/rt_bench.toml" <<TOMLEOF
[tasks.timed]
type = "call_async"
func = "rt_bench:timed"
data = { n = $CALLS }
TOMLEOF

say "$RUNS runs of $CALLS calls of each request"
ALL="$WORK/all.jsonl"
: > "$ALL"
for i in $(seq 1 "$RUNS"); do
    HOME_DIR="$WORK/home-$i"
    mkdir -p "$HOME_DIR" && chmod 700 "$HOME_DIR"
    printf '[localhost]\nruntime = "%s"\n' "$RUNTIME" > "$HOME_DIR/lithoflow.toml"
    LITHOFLOW_HOME="$HOME_DIR" "$BIN" --dags-folder "$WORK/dags" dags test rt_bench -o json \
        > "$WORK/run-$i.json" 2> "$WORK/run-$i.err" || { cat "$WORK/run-$i.err" >&2; exit 1; }
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); t=[t for t in d["tasks"] if t["task_id"]=="timed"][0]; assert t["state"]=="success", t; print(json.dumps(t["return_value"]))' "$WORK/run-$i.json" >> "$ALL"
    echo "run $i done"
done

say "round trip per request (microseconds: median, p90, p99 over $((CALLS * RUNS)) calls)"
"$PY" - "$ALL" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
names = list(runs[0])
print("%-22s %10s %10s %10s" % ("request", "median", "p90", "p99"))
for name in names:
    xs = sorted(x for r in runs for x in r[name])
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
    print("%-22s %10.1f %10.1f %10.1f" % (name, 1e6 * statistics.median(xs), 1e6 * q(0.9), 1e6 * q(0.99)))
PYEOF

# Airflow beside it: a task's `Variable.get` in Airflow 2.10 is a query of the metadata
# database through its ORM (sqlite here, in one process: the cheapest Airflow can do).
[ "$AIRFLOW" = 1 ] || { echo "Airflow: not run (--no-airflow)"; exit 0; }
VENV="${AIRFLOW_VENV:-$ROOT/bench/.work/airflow-venv-runtime}"
if [ ! -x "$VENV/bin/airflow" ]; then
    say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes)"
    { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } \
        > "$WORK/airflow-install.log" 2>&1 || { tail -n 20 "$WORK/airflow-install.log"; echo "Airflow: FAILED to install"; exit 1; }
fi
export AIRFLOW_HOME="$WORK/airflow-home" AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$WORK/airflow-home/airflow.db"
mkdir -p "$AIRFLOW_HOME"
"$VENV/bin/airflow" db migrate > "$WORK/airflow-db.log" 2>&1 || { tail -n 20 "$WORK/airflow-db.log"; exit 1; }
say "Airflow $AIRFLOW_VERSION: Variable.get, $((CALLS * RUNS)) calls in one process (microseconds)"
"$VENV/bin/python" - "$((CALLS * RUNS))" "$ALL" <<'PYEOF'
import json, statistics, sys, time
from airflow.models import Variable
n = int(sys.argv[1])
Variable.set("bench_threshold", "10")
xs = []
for _ in range(n):
    t = time.perf_counter()
    Variable.get("bench_threshold")
    xs.append(time.perf_counter() - t)
xs.sort()
q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
af = statistics.median(xs)
print("%-22s %10.1f %10.1f %10.1f" % ("Variable.get (Airflow)", 1e6 * af, 1e6 * q(0.9), 1e6 * q(0.99)))
ours = statistics.median(sorted(x for l in open(sys.argv[2]) for x in json.loads(l)["Variable.get"]))
print("ratio airflow / lithoflow (medians): %.1fx" % (af / ours))
PYEOF
