#!/usr/bin/env bash
# Benchmark of Airflow DAG files (.py) on lithoflow, beside Airflow 2.10 in the same script:
#
#   bench/pydags/run.sh [--no-build] [--debug] [--runs N] [--airflow-runs N] [--dags N]
#                       [--tasks N] [--edits N] [--no-airflow]
#
# 1. Cold load: `lithoflow dags list -o json` over N (default 1,000) generated `.py` DAG
#    files of 20 tasks each (bench/gen_dags.py's Airflow twin of the TOML benchmark DAGs:
#    one PythonOperator per task, `>>` edges, pendulum start dates), each run in a fresh
#    LITHOFLOW_HOME (the compatibility package unpacked, loader processes started, every
#    file imported). --runs (default 5) timed runs after one warmup: min / median / max.
#    Target from the issue: under 3 s.
# 2. Airflow 2.10.5's `airflow dags list -o json` on the same files (DagBag imports every
#    file), --airflow-runs (default 3) runs after one warmup, and the ratio of the medians.
#    Airflow comes from AIRFLOW_VENV, else bench/.work/airflow-venv (installed there when
#    missing, as bench/dags_list.sh does).
# 3. Edit to visible: a `lithoflow scheduler` on the same folder; --edits (default 10) times
#    a task appended to one `.py` file, and the time until `GET /api/v1/dags/<id>/tasks`
#    shows it (bench/pydags/edit.py): median and max. Target: under 1 s.
#
# Release build unless --debug (target/debug, figures not for quoting). It never fails on
# a time. Exit status: 0 figures printed, 1 a step failed, 3 Airflow could not be
# installed or run (lithoflow's figures are still printed).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
BUILD=1
PROFILE=release
RUNS=5
AIRFLOW_RUNS=3
DAGS=1000
TASKS=20
EDITS=10
AIRFLOW=1
AIRFLOW_VERSION=2.10.5
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --debug) PROFILE=debug; BUILD=0 ;;
        --runs) RUNS="$2"; shift ;;
        --airflow-runs) AIRFLOW_RUNS="$2"; shift ;;
        --dags) DAGS="$2"; shift ;;
        --tasks) TASKS="$2"; shift ;;
        --edits) EDITS="$2"; shift ;;
        --no-airflow) AIRFLOW=0 ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

WORK="$ROOT/bench/.work/pydags"
PYDAGS="$WORK/dags_py_$DAGS"
mkdir -p "$WORK"
fmt_s() { "$PY" -c 'import sys; s=float(sys.argv[1]); print(f"{s*1000:.0f} ms" if s < 1 else f"{s:.2f} s")' "$1"; }
json_get() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

say "generating $DAGS Airflow DAG files x $TASKS tasks"
"$PY" bench/gen_dags.py --out "$WORK/toml_unused" --dags "$DAGS" --tasks "$TASKS" --airflow-out "$PYDAGS"
rm -rf "$WORK/toml_unused"
echo "$(find "$PYDAGS" -name '*.py' | wc -l) .py files, $(du -sh "$PYDAGS" | cut -f1)"

# A fresh home per run: nothing cached from an earlier run.
lf_list() {
    local home
    home="$(mktemp -d "$WORK/home.XXXXXX")"
    chmod 700 "$home"
    printf '[localhost]\nruntime = "%s"\n' "$RUNTIME" > "$home/lithoflow.toml"
    LITHOFLOW_HOME="$home" "$BIN" --dags-folder "$PYDAGS" dags list -o json
    rm -rf "$home"
}

say "lithoflow dags list: check"
LISTED=$(lf_list | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
if [ "$LISTED" != "$DAGS" ]; then
    home="$(mktemp -d "$WORK/home.XXXXXX")"; chmod 700 "$home"
    LITHOFLOW_HOME="$home" "$BIN" --dags-folder "$PYDAGS" dags list-import-errors | head -n 30
    rm -rf "$home"
    echo "ABORT: lithoflow dags list shows $LISTED DAGs, expected $DAGS" >&2
    exit 1
fi
echo "lithoflow dags list shows $LISTED DAGs"

say "lithoflow dags list, cold (fresh LITHOFLOW_HOME): 1 warmup, $RUNS runs"
# The same steps as lf_list, as one sh command for timing.py.
LF_CMD="H=\$(mktemp -d '$WORK/home.XXXXXX') && chmod 700 \$H && printf '[localhost]\\nruntime = \"%s\"\\n' '$RUNTIME' > \$H/lithoflow.toml && LITHOFLOW_HOME=\$H '$BIN' --dags-folder '$PYDAGS' dags list -o json > /dev/null; rc=\$?; rm -rf \$H; exit \$rc"
echo "command: $LF_CMD"
"$PY" bench/timing.py run --warmup 1 --runs "$RUNS" --json "$WORK/lithoflow.json" -- "$LF_CMD"
LF_MED=$(json_get "$WORK/lithoflow.json" median)

AF_STATUS="not run (--no-airflow)"
AF_MED=""
if [ "$AIRFLOW" = 1 ]; then
    AF_STATUS=""
    VENV="${AIRFLOW_VENV:-$ROOT/bench/.work/airflow-venv}"
    if [ ! -x "$VENV/bin/airflow" ]; then
        say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes)"
        if ! { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } \
            > "$WORK/airflow-install.log" 2>&1; then
            tail -n 20 "$WORK/airflow-install.log"
            AF_STATUS="FAILED: pip install apache-airflow==$AIRFLOW_VERSION (see $WORK/airflow-install.log)"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        export AIRFLOW_HOME="$WORK/airflow-home"
        export AIRFLOW__CORE__LOAD_EXAMPLES=False
        export AIRFLOW__CORE__DAGS_FOLDER="$PYDAGS"
        rm -rf "$AIRFLOW_HOME"
        mkdir -p "$AIRFLOW_HOME"
        say "airflow db migrate (AIRFLOW_HOME=$AIRFLOW_HOME; $("$VENV/bin/airflow" version 2>/dev/null | tail -n 1))"
        if ! "$VENV/bin/airflow" db migrate > "$WORK/airflow-db.log" 2>&1; then
            tail -n 20 "$WORK/airflow-db.log"
            AF_STATUS="FAILED: airflow db migrate (see $WORK/airflow-db.log)"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        AF_LISTED=$("$VENV/bin/airflow" dags list -o json 2> "$WORK/airflow-list.log" | "$PY" -c '
import json, sys
for line in reversed(sys.stdin.read().splitlines()):
    if line.startswith("["):
        try:
            print(len(json.loads(line)))
            break
        except ValueError:
            pass
else:
    print("?")')
        if [ "$AF_LISTED" != "$DAGS" ]; then
            tail -n 20 "$WORK/airflow-list.log"
            AF_STATUS="FAILED: airflow dags list shows $AF_LISTED DAGs, expected $DAGS"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        say "airflow dags list: 1 warmup, $AIRFLOW_RUNS runs"
        "$PY" bench/timing.py run --warmup 1 --runs "$AIRFLOW_RUNS" --json "$WORK/airflow.json" \
            -- "$VENV/bin/airflow dags list -o json > /dev/null 2>&1"
        AF_MED=$(json_get "$WORK/airflow.json" median)
        AF_STATUS=ok
    fi
fi

say "edit to visible: a scheduler on the $DAGS files, $EDITS edits"
"$PY" bench/pydags/edit.py "$BIN" "$PYDAGS" "$WORK/edit-home" "$RUNTIME" "$DAGS" "$EDITS" "$WORK/edit.json"
# The edits changed the files: regenerate next time (gen_dags.py recreates the folder).

say "RESULTS ($DAGS .py DAG files x $TASKS tasks, $PROFILE build, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf 'lithoflow dags list (cold)   min %s   median %s   max %s   (%s runs)\n' \
    "$(fmt_s "$(json_get "$WORK/lithoflow.json" min)")" "$(fmt_s "$LF_MED")" \
    "$(fmt_s "$(json_get "$WORK/lithoflow.json" max)")" "$RUNS"
"$PY" -c "m=$LF_MED; print(f'target                       median < 3 s: {\"met\" if m < 3 else \"NOT met\"}')"
if [ "$AF_STATUS" = ok ]; then
    printf 'airflow dags list            median %s   (%s runs)\n' "$(fmt_s "$AF_MED")" "$AIRFLOW_RUNS"
    "$PY" -c "print(f'ratio                        airflow / lithoflow (medians): {$AF_MED / $LF_MED:.1f}x')"
else
    echo "airflow                      $AF_STATUS"
fi
"$PY" - "$WORK/edit.json" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"scheduler ready              {e['ready_s']:.2f} s after start ({len(e['latencies_s'])} edits follow)")
print(f"edit -> visible in the API   median {e['p50'] * 1000:.0f} ms   max {e['max'] * 1000:.0f} ms   "
      f"target < 1 s: {'met' if e['p50'] < 1 else 'NOT met'}")
PYEOF
echo "raw data: $WORK/lithoflow.json ${AF_MED:+$WORK/airflow.json }$WORK/edit.json"
case "$AF_STATUS" in FAILED*) exit 3 ;; esac
exit 0
