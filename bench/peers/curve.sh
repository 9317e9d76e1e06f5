#!/usr/bin/env bash
# DAG-size curve: lithoflow alone, a chain and a fan-out of call_async tasks at 1,000,
# 10,000 and 100,000 tasks: is the cost per task flat? (issue 21 §3)
#
#   bench/peers/curve.sh [--bin PATH] [--sizes 1000,10000,100000] [--kinds chain,fanout]
#                        [common options below]
#
# Each: BIN --dags-folder D dags test chain_N -o json (and fanout_N = root >> N >> join),
# a fresh LITHOFLOW_HOME per run, bench/runs/gen_dags.py's DAGs (noop(i) -> i). Prints
# wall time, CPU, µs per task (wall and CPU), peak RSS (the lithoflow process, and the
# whole tree with its workers) and bytes per task: peak RSS / tasks, and the slope
# (RSS(N) - RSS(previous N)) / (tasks(N) - tasks(previous N)), which leaves out the fixed
# part. The 100,000 sizes count as slow (--big-runs, --big-timeout: the starting commit's
# engine may take very long there; a run over the limit is reported as "timeout after X s").
# Exit status: 0 figures printed; 1 a lithoflow command failed (a timeout is not a failure).
set -euo pipefail

SIZES="1000,10000,100000"
KINDS="chain,fanout"
extra_option() {
    case "$1" in
        --sizes) SIZES="$2"; return 0 ;;
        --kinds) KINDS="$2"; return 0 ;;
    esac
    return 1
}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
peers_parse "$@"
peers_setup curve

DAGS="$WORK/curve_dags"
say "generating the DAGs (chain and fan-out of $SIZES)"
"$PY" "$HERE/gen.py" curve --out "$DAGS" --sizes "$SIZES"
echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

for kind in $(echo "$KINDS" | tr ',' ' '); do
    for n in $(echo "$SIZES" | tr ',' ' '); do
        big=0
        [ "$n" -ge 100000 ] && big=1
        say "$kind of $n tasks"
        lf_measure "lithoflow-$kind-$n" "$big" "$DAGS/${kind}_$n" -- dags test "${kind}_$n" -o json
    done
done

say "RESULTS: DAG-size curve, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), binary $BIN"
"$PY" "$HERE/report.py" curve --dir "$OUT" --markdown "$OUT/results.md"

# The floor of a chain on this disk: each task's end and the next one's start are made
# durable together, one flush per task, which no work on lithoflow's side can shorten.
"$RUNTIME" - "$HOMES" <<'PY'
import os, statistics, sys, time
path = os.path.join(sys.argv[1], "fsync-floor")
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
took = []
for _ in range(1000):
    t = time.perf_counter()
    os.write(fd, b"x" * 2048)
    os.fdatasync(fd)
    took.append(time.perf_counter() - t)
os.close(fd)
os.unlink(path)
print("\nFloor: a 2 KiB append made durable (fdatasync) on the homes' disk: %.0f µs (median of 1,000);"
      " a chain of N tasks flushes N times." % (statistics.median(took) * 1e6))
PY
peers_end
