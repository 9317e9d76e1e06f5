#!/usr/bin/env bash
# Executor benchmark: lithoflow's warm-worker executor beside Lithops' localhost backend,
# same trivial functions (bench/executor/bench_functions.py), same Python interpreter.
#
#   bench/executor/run.sh [--rev REV] [--no-build] [--no-lithops] [--runs N] [--repeats N]
#                         [--lithops-100-runs N] [--lithops-1000-runs N]
#                         [--lithops-mapreduce-runs N] [--lithops-e2e-runs N] [--quick]
#
# lithoflow, in-process  bench/programs/src/bin/bench_executor.rs: one FunctionExecutor, warm
#                        pool; maps of 100/1,000/10,000 add(x, y=1), 20 sequential
#                        call_async round trips (x --repeats sets), map_reduce of 1,000.
# lithoflow, CLI e2e     `lithoflow tasks test DAG TASK -o json` on generated DAGs (one DAG
#                        per workload), whole process incl. worker spawn; hyperfine, --runs.
# Lithops, in-process    bench/executor/lithops_bench.py inproc: one warm FunctionExecutor,
#                        maps of 100 (--lithops-100-runs) and 1,000 (--lithops-1000-runs),
#                        20 round trips, map_reduce of 1,000 (--lithops-mapreduce-runs).
# Lithops, e2e           lithops_bench.py e2e --n 100, whole process (--lithops-e2e-runs).
# Memory                 worker-pool and process peak RSS (see README.md).
#
# --rev REV builds lithoflow from `git archive REV` (in bench/.work/executor/src, with its
# own target dir) instead of the work tree; the benchmark program is copied in if REV lacks it.
# --quick: fewer runs, no Lithops 1,000-call runs (a smoke test, figures not for quoting).
# Lithops (pinned: LITHOPS_VERSION, default 3.8.0) is installed into bench/.work/lithops-venv.
#
# Exit status: 0 when every figure was printed; 1 when a lithoflow step failed; 3 when
# Lithops could not be installed or run (lithoflow's figures are still printed).
set -euo pipefail

REV=""
BUILD=1
LITHOPS=1
RUNS=10
REPEATS=7
LT100=3
LT1000=1
LTMR=1
LTE2E=3
LITHOPS_VERSION="${LITHOPS_VERSION:-3.8.0}"

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --rev) REV="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --no-lithops) LITHOPS=0 ;;
        --runs) RUNS="$2"; shift ;;
        --repeats) REPEATS="$2"; shift ;;
        --lithops-100-runs) LT100="$2"; shift ;;
        --lithops-1000-runs) LT1000="$2"; shift ;;
        --lithops-mapreduce-runs) LTMR="$2"; shift ;;
        --lithops-e2e-runs) LTE2E="$2"; shift ;;
        --quick) RUNS=3; REPEATS=3; LT100=1; LT1000=0; LTMR=0; LTE2E=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/bench/executor"
W="$ROOT/bench/.work/executor"
VENV="$ROOT/bench/.work/lithops-venv"
mkdir -p "$W"
rm -f "$W"/*.json "$W"/results.md
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
say() { echo "== $*" >&2; }

# Python's default is to write bytecode caches. This machine's environment turns that
# off (PYTHONDONTWRITEBYTECODE=1), which makes every Lithops task process compile the
# Lithops package from source; both sides run with Python's default instead.
unset PYTHONDONTWRITEBYTECODE
# ... but not next to the sources: every bytecode cache goes under bench/.work.
export PYTHONPYCACHEPREFIX="$ROOT/bench/.work/pycache"

# ---- build -------------------------------------------------------------------------
if [ -n "$REV" ]; then
    SHA="$(git rev-parse --short "$REV")"
    # Always the same folder, so the shared target dir keeps its dependencies and cargo
    # rebuilds (and re-links) lithoflow when the revision changes. Files are touched after
    # extraction: git archive dates them to the commit, which could look older than the
    # binaries of another revision built there before.
    SRC="$W/src"
    TARGET="$W/target"
    if [ "$(cat "$W/src.rev" 2>/dev/null)" != "$SHA" ]; then
        rm -rf "$SRC" "$W/src.rev"
        mkdir -p "$SRC"
        git archive "$SHA" | tar -x -C "$SRC"
        find "$SRC" -type f -exec touch {} +
        BUILD=1
    fi
    # Revisions before the benchmark programs moved to bench/programs have their own
    # bench_executor, as an example of lithoflow-executor; others get this one.
    if [ ! -f "$SRC/bench/programs/Cargo.toml" ] && [ ! -f "$SRC/executor/examples/bench_executor.rs" ]; then
        mkdir -p "$SRC/bench/programs"
        cp -r "$ROOT/bench/programs/Cargo.toml" "$ROOT/bench/programs/Cargo.lock" \
            "$ROOT/bench/programs/src" "$SRC/bench/programs/"
        BUILD=1
    fi
    LITHOFLOW_DESC="$SHA (git archive)"
else
    SRC="$ROOT"
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
    LITHOFLOW_DESC="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- executor scheduler bench/programs 2>/dev/null || echo '+uncommitted changes')"
fi
# bench_executor is a package of its own (bench/programs, outside the workspace), built
# into the same target dir; older revisions build it as an example of lithoflow-executor.
if [ -f "$SRC/bench/programs/Cargo.toml" ]; then
    BENCH="$TARGET/release/bench_executor"
    BENCH_BUILD=(--manifest-path bench/programs/Cargo.toml --bin bench_executor)
else
    BENCH="$TARGET/release/examples/bench_executor"
    BENCH_BUILD=(-p lithoflow-executor --example bench_executor)
fi
if [ "$BUILD" = 1 ]; then
    say "building lithoflow and bench_executor (release) from $SRC"
    (cd "$SRC" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p lithoflow-scheduler --bin lithoflow)
    (cd "$SRC" && CARGO_TARGET_DIR="$TARGET" cargo build --release "${BENCH_BUILD[@]}")
    if [ -n "$REV" ]; then echo "$SHA" > "$W/src.rev"; fi
fi
LITHOFLOW="$TARGET/release/lithoflow"
for b in "$LITHOFLOW" "$BENCH"; do
    [ -x "$b" ] || { echo "missing $b (build it, or drop --no-build)" >&2; exit 1; }
done

# ---- Python: one interpreter for both sides ---------------------------------------
# A venv of the system Python (no packages of its own for lithoflow to import: its
# runtime needs only the standard library). Lithops is installed into it.
BASE_PY="$(python3 -c 'import sys; print(sys.executable)')"
LITHOPS_ERROR=""
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$BASE_PY" -m venv "$VENV"
fi
PY="$VENV/bin/python"
if [ "$LITHOPS" = 1 ]; then
    if ! "$PY" -c "import lithops, sys; sys.exit(lithops.__version__ != '$LITHOPS_VERSION')" 2>/dev/null; then
        say "installing lithops==$LITHOPS_VERSION into $VENV"
        if ! "$PY" -m pip install -q "lithops==$LITHOPS_VERSION" > "$W/lithops-install.log" 2>&1; then
            LITHOPS_ERROR="pip install lithops==$LITHOPS_VERSION failed: $(tail -1 "$W/lithops-install.log")"
        fi
    fi
fi
PY_VERSION="$("$PY" -c 'import sys; print(sys.version.split()[0])')"
DEFAULT_PY="$(command -v python3 || echo none)"

# ---- lithoflow, in-process ----------------------------------------------------------
say "lithoflow in-process (bench_executor, $REPEATS repeats)"
"$BENCH" --python "$PY" --functions "$HERE" --sizes 100,1000,10000 --repeats "$REPEATS" \
    --roundtrips 20 --roundtrip-sets "$REPEATS" --mapreduce 1000 --mapreduce-repeats "$REPEATS" \
    > "$W/lithoflow-inproc.json"

# ---- lithoflow, CLI end to end ----------------------------------------------------------
DAGS="$W/dags"
rm -rf "$DAGS"
python3 "$HERE/gen_dags.py" "$DAGS" --maps 100,1000,10000 --mapreduce 1000
HOME_PY="$W/home"           # lithoflow.toml: [localhost] runtime = the venv's python
HOME_DEFAULT="$W/home-default"  # no lithoflow.toml: runtime `python3` from PATH
rm -rf "$HOME_PY" "$HOME_DEFAULT"
mkdir -p "$HOME_PY" "$HOME_DEFAULT"
printf '[localhost]\nruntime = "%s"\n' "$PY" > "$HOME_PY/lithoflow.toml"

task_of() {
    case "$1" in
        bench_map_*) echo map ;;
        bench_mapreduce_*) echo mapreduce ;;
        *) echo call ;;
    esac
}
cli_cmd() { # DAG: the command line (no spaces in paths; hyperfine -N splits on blanks)
    echo "$LITHOFLOW tasks test --dags-folder $DAGS/$1 $1 $(task_of "$1") -o json"
}
check_cli() { # DAG EXPECTED_PYTHON_EXPR
    local out
    out="$(LITHOFLOW_HOME="$HOME_PY" $(cli_cmd "$1") 2>/dev/null)"
    python3 -c "
import json, sys
d = json.loads(sys.argv[1]); v = d['return_value']
assert d['state'] == 'success', d
assert $2, 'wrong return value for $1'
" "$out"
}
say "checking the CLI's results"
check_cli bench_map_100 "v == list(range(1, 101))"
check_cli bench_map_10000 "v == list(range(1, 10001))"
check_cli bench_mapreduce_1000 "v == 500500"
check_cli bench_call_async "v == 2"

for dag in bench_map_100 bench_map_1000 bench_map_10000 bench_mapreduce_1000 bench_call_async; do
    say "lithoflow CLI: $dag ($RUNS runs)"
    LITHOFLOW_HOME="$HOME_PY" hyperfine -N --style basic --warmup 1 --runs "$RUNS" \
        --export-json "$W/cli-$dag.hyperfine.json" "$(cli_cmd "$dag")" > /dev/null
done
say "lithoflow CLI: bench_map_10000 with the default runtime ($DEFAULT_PY)"
LITHOFLOW_HOME="$HOME_DEFAULT" hyperfine -N --style basic --warmup 1 --runs "$(( RUNS < 5 ? RUNS : 5 ))" \
    --export-json "$W/cli-default-python-bench_map_10000.hyperfine.json" \
    "$(cli_cmd bench_map_10000)" > /dev/null
say "lithoflow CLI: bench_map_10000 under procmon (memory)"
# shellcheck disable=SC2046
LITHOFLOW_HOME="$HOME_PY" python3 "$HERE/procmon.py" --json "$W/cli-map-10000.mon.json" --every 0.01 -- \
    $(cli_cmd bench_map_10000) > /dev/null 2>&1

# ---- Lithops ------------------------------------------------------------------------------
LITHOPS_STATUS=0
LITHOPS_VER=""
if [ "$LITHOPS" = 1 ] && [ -z "$LITHOPS_ERROR" ]; then
    cat > "$W/lithops.yaml" <<EOF
lithops:
  backend: localhost
  storage: localhost
  log_level: WARNING
  include_modules: none
localhost:
  runtime: $PY
  worker_processes: $(nproc)
EOF
    export LITHOPS_CONFIG_FILE="$W/lithops.yaml"
    LITHOPS_VER="$("$PY" -c 'import lithops; print(lithops.__version__)')"
    MAPS="100:$LT100"
    if [ "$LT1000" -gt 0 ]; then MAPS="$MAPS,1000:$LT1000"; fi
    MR=""
    if [ "$LTMR" -gt 0 ]; then MR="1000:$LTMR"; fi
    say "Lithops in-process (maps $MAPS, 20 round trips, map_reduce ${MR:-none}); this takes long"
    if ! (cd "$HERE" && python3 procmon.py --json "$W/lithops-inproc.mon.json" --every 0.05 -- \
            "$PY" lithops_bench.py inproc --maps "$MAPS" --roundtrips 20 --mapreduce "$MR" \
            --json "$W/lithops-inproc.json") 2> "$W/lithops-inproc.log"; then
        LITHOPS_ERROR="lithops_bench.py inproc failed: $(grep -v '^\[lithops_bench\]' "$W/lithops-inproc.log" | tail -1)"
    fi
    if [ -z "$LITHOPS_ERROR" ] && [ "$LTE2E" -gt 0 ]; then
        say "Lithops e2e: map of 100 ($LTE2E runs)"
        (cd "$HERE" && hyperfine --style basic --runs "$LTE2E" \
            --export-json "$W/lithops-e2e-100.hyperfine.json" \
            "$PY lithops_bench.py e2e --n 100" > /dev/null) \
            || LITHOPS_ERROR="lithops_bench.py e2e failed"
    fi
elif [ "$LITHOPS" = 0 ]; then
    LITHOPS_ERROR="skipped (--no-lithops)"
fi
if [ -n "$LITHOPS_ERROR" ] && [ "$LITHOPS" = 1 ]; then LITHOPS_STATUS=3; fi

python3 - "$W/meta.json" <<EOF
import json, sys
json.dump({
    "lithoflow": "$LITHOFLOW_DESC",
    "python": "$PY",
    "python_version": "$PY_VERSION",
    "default_python": "$DEFAULT_PY",
    "lithops_version": "$LITHOPS_VER" or None,
    "lithops_error": """$LITHOPS_ERROR""" or None,
    "runs": $RUNS, "repeats": $REPEATS,
    "started": "$STARTED", "ended": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "load_start": "$LOAD_START", "load_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
    "cpus": $(nproc),
}, open(sys.argv[1], "w"))
EOF
echo
python3 "$HERE/report.py" "$W" --markdown "$W/results.md"
echo
echo "(JSON and a Markdown copy of the table in $W)"
exit "$LITHOPS_STATUS"
