#!/usr/bin/env bash
# Benchmark of dynamic task mapping: a mapped python task of N instances (one task
# instance each: its own state, try, log and XCom, each a call on the local workers)
# against a `map` task of N calls (one task instance, one executor job), both over the
# same upstream list of N elements, on a release build.
#
#   bench/mapping/run.sh [--no-build] [--debug] [--n N] [--runs N] [--airflow-n N] [--no-airflow]
#
# --n (default 10000) elements, --runs (default 3) runs of each DAG, each `dags test` in
# a fresh LITHOFLOW_HOME with `[localhost] runtime` = the real interpreter. Prints each
# run's wall time, the medians, and the per-instance overhead of mapping: (median mapped
# wall - median map wall) / N. Release build unless --debug (figures not for quoting).
# Then Airflow 2.10's `airflow dags test` of a mapped @task of --airflow-n (default 300)
# instances (installed into bench/.work/airflow-venv-mapping unless AIRFLOW_VENV names a
# venv that has it; sqlite, in one process) beside lithoflow's mapped task of as many.
# It never fails on a time. Exit status: 0 figures printed, 1 a step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
BUILD=1
PROFILE=release
N=10000
RUNS=3
AIRFLOW=1
AIRFLOW_N=300
AIRFLOW_VERSION=2.10.5
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --debug) PROFILE=debug; BUILD=0 ;;
        --n) N="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --airflow-n) AIRFLOW_N="$2"; shift ;;
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

WORK="$ROOT/bench/.work/mapping"
rm -rf "$WORK"
mkdir -p "$WORK/dags"
cat > "$WORK/dags/map_bench.py" <<'PYEOF'
def make(n):
    return list(range(int(n)))


def one(x):
    return x + 1
PYEOF
cat > "$WORK/dags/mapped_bench.toml" <<TOMLEOF
[tasks.make]
type = "python"
python_callable = "map_bench:make"
op_kwargs = { n = $N }

[tasks.each]
type = "python"
python_callable = "map_bench:one"
expand = { x = "make" }
TOMLEOF
cat > "$WORK/dags/map_task_bench.toml" <<TOMLEOF
[tasks.make]
type = "python"
python_callable = "map_bench:make"
op_kwargs = { n = $N }

[tasks.each]
type = "map"
map_function = "map_bench:one"
iterdata_from_task = { x = "make" }
TOMLEOF

TIMES="$WORK/times.txt"
: > "$TIMES"
for dag in mapped_bench map_task_bench; do
    say "$RUNS runs of $dag ($N elements)"
    for i in $(seq 1 "$RUNS"); do
        HOME_DIR="$WORK/home-$dag-$i"
        mkdir -p "$HOME_DIR" && chmod 700 "$HOME_DIR"
        printf '[localhost]\nruntime = "%s"\n' "$RUNTIME" > "$HOME_DIR/lithoflow.toml"
        start=$("$PY" -c 'import time; print(time.time())')
        LITHOFLOW_HOME="$HOME_DIR" "$BIN" --dags-folder "$WORK/dags" dags test "$dag" -o json \
            > "$WORK/$dag-$i.json" 2> "$WORK/$dag-$i.err" || { tail -n 20 "$WORK/$dag-$i.err" >&2; exit 1; }
        end=$("$PY" -c 'import time; print(time.time())')
        "$PY" - "$WORK/$dag-$i.json" "$N" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert d["state"] == "success", d["state"]
each = [t for t in d["tasks"] if t["task_id"] == "each"]
if len(each) == 1:
    assert each[0]["return_value"] == list(range(1, n + 1))
else:
    assert [t["return_value"] for t in each] == list(range(1, n + 1)), "results"
PYEOF
        wall=$("$PY" -c "print(round($end - $start, 3))")
        echo "$dag $wall" >> "$TIMES"
        echo "run $i: ${wall}s"
        rm -rf "$HOME_DIR"
    done
done

say "wall time of one run of the DAG (seconds, median of $RUNS) and per-instance overhead"
"$PY" - "$TIMES" "$N" <<'PYEOF'
import statistics, sys
n = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    dag, wall = line.split()
    runs.setdefault(dag, []).append(float(wall))
mapped = statistics.median(runs["mapped_bench"])
map_task = statistics.median(runs["map_task_bench"])
print("%-44s %8.2f s   (%.0f us per instance)" % ("mapped python task, %d instances" % n, mapped, 1e6 * mapped / n))
print("%-44s %8.2f s   (%.0f us per call)" % ("`map` task, %d calls" % n, map_task, 1e6 * map_task / n))
print("per-instance overhead of mapping: %.0f us ((mapped - map) / N); ratio %.1fx" % (1e6 * (mapped - map_task) / n, mapped / map_task))
PYEOF

# Airflow beside it: `airflow dags test` of a mapped @task (its scheduler loop and task
# runner in one process, sqlite), and lithoflow's `dags test` of a mapped task of as many.
[ "$AIRFLOW" = 1 ] || { echo "Airflow: not run (--no-airflow)"; exit 0; }
VENV="${AIRFLOW_VENV:-$ROOT/bench/.work/airflow-venv-mapping}"
if [ ! -x "$VENV/bin/airflow" ]; then
    say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes)"
    { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } \
        > "$WORK/airflow-install.log" 2>&1 || { tail -n 20 "$WORK/airflow-install.log"; echo "Airflow: FAILED to install"; exit 1; }
fi
export AIRFLOW_HOME="$WORK/airflow-home" AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$WORK/airflow-home/airflow.db"
export AIRFLOW__CORE__DAGS_FOLDER="$WORK/airflow-dags"
mkdir -p "$AIRFLOW_HOME" "$WORK/airflow-dags"
cat > "$WORK/airflow-dags/af_mapping.py" <<PYEOF
import pendulum
from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def af_mapping():
    @task
    def make():
        return list(range($AIRFLOW_N))

    @task
    def one(x):
        return x + 1

    one.expand(x=make())


af_mapping()
PYEOF
"$VENV/bin/airflow" db migrate > "$WORK/airflow-db.log" 2>&1 || { tail -n 20 "$WORK/airflow-db.log"; exit 1; }
say "Airflow $AIRFLOW_VERSION: airflow dags test of a mapped task of $AIRFLOW_N instances"
AF_TIMES="$WORK/af-times.txt"
: > "$AF_TIMES"
for i in $(seq 1 "$RUNS"); do
    start=$("$PY" -c 'import time; print(time.time())')
    "$VENV/bin/airflow" dags test af_mapping "2026-01-0${i}T00:00:00+00:00" > "$WORK/af-$i.log" 2>&1 \
        || { tail -n 20 "$WORK/af-$i.log"; exit 1; }
    end=$("$PY" -c 'import time; print(time.time())')
    grep -q "state=success" "$WORK/af-$i.log" || { tail -n 20 "$WORK/af-$i.log"; echo "Airflow run $i did not succeed"; exit 1; }
    echo "airflow $("$PY" -c "print(round($end - $start, 3))")" >> "$AF_TIMES"
    echo "run $i: $(tail -n 1 "$AF_TIMES" | cut -d' ' -f2)s"
done
sed -i "s/op_kwargs = { n = $N }/op_kwargs = { n = $AIRFLOW_N }/" "$WORK/dags/mapped_bench.toml"
for i in $(seq 1 "$RUNS"); do
    HOME_DIR="$WORK/home-small-$i"
    mkdir -p "$HOME_DIR" && chmod 700 "$HOME_DIR"
    printf '[localhost]\nruntime = "%s"\n' "$RUNTIME" > "$HOME_DIR/lithoflow.toml"
    start=$("$PY" -c 'import time; print(time.time())')
    LITHOFLOW_HOME="$HOME_DIR" "$BIN" --dags-folder "$WORK/dags" dags test mapped_bench -o json > /dev/null 2>&1
    end=$("$PY" -c 'import time; print(time.time())')
    echo "lithoflow $("$PY" -c "print(round($end - $start, 3))")" >> "$AF_TIMES"
    rm -rf "$HOME_DIR"
done
"$PY" - "$AF_TIMES" "$AIRFLOW_N" <<'PYEOF'
import statistics, sys
n = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    who, wall = line.split()
    runs.setdefault(who, []).append(float(wall))
af, lf = statistics.median(runs["airflow"]), statistics.median(runs["lithoflow"])
print("%-44s %8.2f s   (%.0f ms per instance)" % ("Airflow dags test, %d mapped instances" % n, af, 1e3 * af / n))
print("%-44s %8.2f s   (%.0f ms per instance)" % ("lithoflow dags test, %d mapped instances" % n, lf, 1e3 * lf / n))
print("ratio airflow / lithoflow (medians): %.1fx" % (af / lf))
PYEOF
