#!/usr/bin/env bash
# Map benchmark: `lithoflow tasks test` of a DAG with one `map` task beside
# multiprocessing.Pool(2).map, Ray and the physical floor, in one script (issue 21 §3).
#
#   bench/peers/maps.sh [--bin PATH] [--sizes 10000,100000,1000000] [--burn N] [--no-ray]
#                       [common options below]
#
# Workloads: a map of N calls inc(x) = x + 1 over x = 0..N-1 for each N of --sizes, and
# --burn calls (default 200) of burn(x): 20 ms of CPU each. Commands, each a whole process
# timed from launch to exit (start-up included):
#   lithoflow   BIN --dags-folder D tasks test map_N m   (map_iterdata = [0, .., N-1] in
#               the TOML; a fresh LITHOFLOW_HOME per run, 2 local workers, stdout to /dev/null)
#   pool        python3 peer_maps.py pool: multiprocessing.Pool(2).map(inc, range(N))
#   ray         ray-venv python peer_maps.py ray: ray.init(num_cpus=2), ray.get([f.remote(x) ..])
#   raybatch    the same with the calls in 8 chunks (Pool.map's default chunksize)
#   loop        python3 peer_maps.py loop: [inc(x) for x in range(N)] (the floor: no IPC)
#   pipe        one-byte round trips between two processes over os.pipe() (the floor of a
#               call sent to another process and answered): µs per round trip
# The largest size (1,000,000) counts as slow: --big-runs runs, --big-timeout. Ray's
# unbatched 1,000,000 would take over ten minutes here (64.7 s for 100,000): skipped unless
# --ray-million. Prints the medians, the peak RSS (largest process, and the whole tree),
# CPU, µs per call, and lithoflow's wall time divided by each peer's.
# Exit status: 0 figures printed; 1 a lithoflow command failed; 3 a peer could not be
# installed or run (the rest is printed).
set -euo pipefail

SIZES="10000,100000,1000000"
BURN=200
RAY=1
RAY_MILLION=0
extra_option() {
    case "$1" in
        --sizes) SIZES="$2"; return 0 ;;
        --burn) BURN="$2"; return 0 ;;
        --no-ray) RAY=0; return 2 ;;
        --ray-million) RAY_MILLION=1; return 2 ;;
    esac
    return 1
}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
peers_parse "$@"
peers_setup maps

if [ "$PEERS" = 1 ] && [ "$RAY" = 1 ]; then
    peer_venv ray-venv "ray" ray && RAY_PY="$VENV_PY" || RAY=0
else
    RAY=0
fi

say "generating the DAGs (map_N: $SIZES; burn_$BURN)"
DAGS="$WORK/maps_dags"
"$PY" "$HERE/gen.py" maps --out "$DAGS" --sizes "$SIZES" --burn "$BURN"
echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

MAX=$(echo "$SIZES" | tr ',' '\n' | sort -n | tail -n 1)
PM="$HERE/peer_maps.py"
one_size() {  # one_size N FUNC KIND
    local n="$1" func="$2" kind="$3" big=0
    [ "$n" = "$MAX" ] && [ "$n" -ge 1000000 ] && big=1
    say "$kind of $n calls $func(x)"
    lf_measure "lithoflow-$kind-$n" "$big" "$DAGS/${kind}_$n" -- tasks test "${kind}_$n" m -o json
    if [ "$PEERS" = 1 ]; then
        measure "pool-$kind-$n" "$big" --inner -- "$RUNTIME" "$PM" pool --n "$n" --func "$func"
        if [ "$RAY" = 1 ]; then
            if [ "$big" = 1 ] && [ "$RAY_MILLION" = 0 ]; then
                SKIP+=("ray-$kind-$n")
            fi
            measure "ray-$kind-$n" "$big" --inner -- "$RAY_PY" "$PM" ray --n "$n" --func "$func"
            measure "raybatch-$kind-$n" "$big" --inner -- "$RAY_PY" "$PM" raybatch --n "$n" --func "$func"
        fi
    fi
    measure "loop-$kind-$n" "$big" --inner -- "$RUNTIME" "$PM" loop --n "$n" --func "$func"
}
for n in $(echo "$SIZES" | tr ',' ' '); do
    one_size "$n" inc map
done
[ "$BURN" -gt 0 ] && one_size "$BURN" burn burn
say "the floor: a pipe round trip between two Python processes"
measure pipe-rtt-100000 0 --inner -- "$RUNTIME" "$PM" pipe --n 100000

say "RESULTS: maps, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), binary $BIN"
"$PY" "$HERE/report.py" maps --dir "$OUT" --markdown "$OUT/results.md"
peers_end
