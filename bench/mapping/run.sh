#!/usr/bin/env bash
# Benchmark of dynamic task mapping: a mapped python task of N instances (one task
# instance each: its own state, try, log and XCom, each a call on the local workers)
# against a `map` task of N calls (one task instance, one executor job), both over the
# same upstream list of N elements, on a release build.
#
#   bench/mapping/run.sh [--no-build] [--debug] [--n N] [--runs N]
#
# --n (default 10000) elements, --runs (default 3) runs of each DAG, each `dags test` in
# a fresh LITHOFLOW_HOME with `[localhost] runtime` = the real interpreter. Prints each
# run's wall time, the medians, and the per-instance overhead of mapping: (median mapped
# wall - median map wall) / N. Release build unless --debug (figures not for quoting).
# It never fails on a time. Exit status: 0 figures printed, 1 a step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
BUILD=1
PROFILE=release
N=10000
RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --debug) PROFILE=debug; BUILD=0 ;;
        --n) N="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
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
