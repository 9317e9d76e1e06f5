#!/usr/bin/env bash
# Runs every fuzz target of tests/it/fuzz.rs for N seconds each (default 600), in release
# mode, all targets at once, and prints each target's cases, cases per second and findings.
# Findings are minimized and saved under target/fuzz-findings/<target>/; copy one into
# tests/fuzz/<target>/ once it is fixed, so every later run replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: dag protocol partition migrate
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(dag protocol partition migrate)
fi
declare -A test_of=(
    [dag]=fuzz::fuzz_dag_parser
    [protocol]=fuzz::fuzz_protocol_decoder
    [partition]=fuzz::fuzz_partitioner
    [migrate]=fuzz::fuzz_migrate_parser
)

cargo build --release --tests -p lithoflow-tests
log_dir="target/fuzz-logs"
mkdir -p "$log_dir"
pids=()
for t in "${targets[@]}"; do
    name="${test_of[$t]:?unknown fuzz target $t (dag protocol partition migrate)}"
    LITHOFLOW_FUZZ_SECS="$secs" cargo test --release -q -p lithoflow-tests --test it "$name" \
        -- --exact --nocapture >"$log_dir/$t.log" 2>&1 &
    pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        status=1
    fi
    grep -E '^fuzz ' "$log_dir/${targets[$i]}.log" || {
        echo "fuzz ${targets[$i]}: no report, see $log_dir/${targets[$i]}.log"
        status=1
    }
done
if [ "$status" -eq 0 ]; then
    echo "fuzz: all targets ran clean for ${secs}s each"
else
    echo "fuzz: findings or failures; logs in $log_dir, inputs in target/fuzz-findings"
fi
exit "$status"
