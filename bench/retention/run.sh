#!/usr/bin/env bash
# Retention benchmark: listing a DAG's latest runs with 10,000 and 100,000 runs of
# history (whole history against the index), the API at 100,000 runs, and `lithoflow db
# clean` of 100,000 runs through a running scheduler with its memory at rest before and
# after. See bench/README.md ("retention") and docs/reliability.md.
#
#   bench/retention/run.sh [--sizes 10000,100000] [--repeats 31] [--settle 15] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=1
args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        *) args+=("$a") ;;
    esac
done
if [ "$build" = 1 ]; then
    cargo build --release -p lithoflow-scheduler >&2
    CARGO_TARGET_DIR=target cargo build --release --manifest-path bench/programs/Cargo.toml --bin bench_retention >&2
fi
work="$root/bench/.work/retention"
mkdir -p "$work"
exec python3 bench/retention/retention.py --lithoflow "$root/target/release/lithoflow" \
    --bench "$root/target/release/bench_retention" --work "$work" "${args[@]}"
