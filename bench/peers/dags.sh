#!/usr/bin/env bash
# DAG benchmark: `lithoflow dags test` beside Airflow 2.10 `airflow dags test`, Prefect 3
# and Dagster's in-process executor, in one script (issue 21 §3).
#
#   bench/peers/dags.sh [--bin PATH] [--chain N] [--fanout N] [--no-airflow] [--no-prefect]
#                       [--no-dagster] [common options below]
#
# Workloads (every task is noop(i) -> i): a chain of --chain tasks (default 100,
# t0000 >> t0001 >> ...) and a fan-out root >> --fanout tasks (default 1,000) >> join.
# Commands, each a whole process timed from launch to exit:
#   lithoflow  BIN --dags-folder D dags test chain_100 -o json (call_async tasks,
#              bench/runs/gen_dags.py's DAGs; a fresh LITHOFLOW_HOME per run)
#   airflow    airflow dags test bench_chain_100 2026-11-01 (PythonOperator per task;
#              SQLite, SequentialExecutor, AIRFLOW_HOME=bench/.work/peers/airflow-home;
#              reuses bench/.work/airflow-venv when it holds Airflow 2.10.5)
#   prefect    peer_dags.py prefect chain 100: a flow calling the tasks one after the other;
#              fan-out: .submit() with wait_for (PREFECT_HOME=bench/.work/peers/prefect-home;
#              no server configured, so Prefect starts its temporary local server)
#   dagster    peer_dags.py dagster chain 100: a job of ops, job.execute_in_process()
# Airflow's fan-out (about a minute or more a run) counts as slow: --big-runs runs.
# Prints the medians, CPU, peak RSS, ms per task and each peer's time divided by lithoflow's.
# Exit status: 0 figures printed; 1 a lithoflow command failed; 3 a peer could not be
# installed or run (the rest is printed).
set -euo pipefail

CHAIN=100
FANOUT=1000
AIRFLOW=1
PREFECT=1
DAGSTER=1
AIRFLOW_VERSION=2.10.5
AIRFLOW_DATE=2026-11-01
extra_option() {
    case "$1" in
        --chain) CHAIN="$2"; return 0 ;;
        --fanout) FANOUT="$2"; return 0 ;;
        --no-airflow) AIRFLOW=0; return 2 ;;
        --no-prefect) PREFECT=0; return 2 ;;
        --no-dagster) DAGSTER=0; return 2 ;;
    esac
    return 1
}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
peers_parse "$@"
peers_setup dags
[ "$PEERS" = 1 ] || { AIRFLOW=0; PREFECT=0; DAGSTER=0; }

DAGS="$WORK/dags_dags"
AF_DAGS="$WORK/dags_airflow"
say "generating the DAGs (chain_$CHAIN, fanout_$FANOUT)"
"$PY" "$HERE/gen.py" dags --out "$DAGS" --airflow-out "$AF_DAGS" --chain "$CHAIN" --fanout "$FANOUT"
for d in "chain_$CHAIN" "fanout_$FANOUT"; do
    "$BIN" dags validate "$DAGS/$d" > /dev/null
done

# The peers' venvs (installing is not timed).
if [ "$PREFECT" = 1 ]; then
    peer_venv prefect-venv "prefect>=3,<4" prefect && PREFECT_PY="$VENV_PY" || PREFECT=0
fi
if [ "$DAGSTER" = 1 ]; then
    peer_venv dagster-venv "dagster" dagster && DAGSTER_PY="$VENV_PY" || DAGSTER=0
fi
if [ "$AIRFLOW" = 1 ]; then
    AF_VENV=""
    for v in ${AIRFLOW_VENV:-} "$ROOT/bench/.work/airflow-venv" "$ROOT/bench/.work/airflow-venv-runs"; do
        if [ -x "$v/bin/airflow" ] && [ "$("$v/bin/airflow" version 2> /dev/null | tail -n 1)" = "$AIRFLOW_VERSION" ]; then
            AF_VENV="$v"
            break
        fi
    done
    if [ -z "$AF_VENV" ]; then
        peer_venv airflow-venv "apache-airflow==$AIRFLOW_VERSION" airflow && AF_VENV="$ROOT/bench/.work/airflow-venv" || AIRFLOW=0
    fi
fi
if [ "$AIRFLOW" = 1 ]; then
    export AIRFLOW_HOME="$WORK/airflow-home"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$AF_DAGS"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
    export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
    mkdir -p "$AIRFLOW_HOME"
    echo "airflow:    $AF_VENV ($("$AF_VENV/bin/airflow" version 2> /dev/null | tail -n 1)), AIRFLOW_HOME=$AIRFLOW_HOME, SQLite"
    if ! "$AF_VENV/bin/airflow" db migrate > "$OUT/airflow-migrate.log" 2>&1; then
        tail -n 20 "$OUT/airflow-migrate.log"
        PEER_MISSING+=("airflow db migrate failed (see $OUT/airflow-migrate.log)")
        AIRFLOW=0
    fi
fi
if [ "$PREFECT" = 1 ]; then
    export PREFECT_HOME="$WORK/prefect-home"
    mkdir -p "$PREFECT_HOME"
fi
echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

PD="$HERE/peer_dags.py"
for kind in chain fanout; do
    if [ "$kind" = chain ]; then n="$CHAIN"; else n="$FANOUT"; fi
    say "$kind of $n tasks"
    lf_measure "lithoflow-$kind-$n" 0 "$DAGS/${kind}_$n" -- dags test "${kind}_$n" -o json
    if [ "$DAGSTER" = 1 ]; then
        measure "dagster-$kind-$n" 0 --inner -- "$DAGSTER_PY" "$PD" dagster "$kind" "$n"
    fi
    if [ "$PREFECT" = 1 ]; then
        measure "prefect-$kind-$n" 0 --inner -- "$PREFECT_PY" "$PD" prefect "$kind" "$n"
    fi
    if [ "$AIRFLOW" = 1 ]; then
        big=0
        [ "$kind" = fanout ] && [ "$n" -ge 1000 ] && big=1
        measure "airflow-$kind-$n" "$big" -- "$AF_VENV/bin/airflow" dags test "bench_${kind}_$n" "$AIRFLOW_DATE"
        # `airflow dags test` can exit 0 with failed tasks: count the successes of its run.
        if [ -f "$OUT/airflow-$kind-$n.json" ] && ! grep -q '"status": "skipped"' "$OUT/airflow-$kind-$n.json" \
            && ! "$PY" - "$AIRFLOW_HOME/airflow.db" "bench_${kind}_$n" "$n" "$kind" <<'PYEOF'
import sqlite3, sys
db, dag, n, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
want = n if kind == "chain" else n + 2
got = sqlite3.connect(db).execute(
    "select count(*) from task_instance where dag_id = ? and state = 'success'", (dag,)).fetchone()[0]
if got != want:
    sys.exit(f"airflow: {dag}: {got} of {want} task instances succeeded")
print(f"airflow:    {dag}: {got} of {want} task instances succeeded (last run)")
PYEOF
        then
            PEER_MISSING+=("airflow dags test bench_${kind}_$n: not every task succeeded")
        fi
    fi
done

say "RESULTS: DAG runs, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), binary $BIN"
"$PY" "$HERE/report.py" dags --dir "$OUT" --markdown "$OUT/results.md"
peers_end
