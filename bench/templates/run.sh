#!/usr/bin/env bash
# Template rendering benchmark: 1,000 templated tasks rendering Airflow's context names,
# date arithmetic and macros; prints the median time per task render. See bench/README.md
# ("templates").
#
#   bench/templates/run.sh [--tasks 1000] [--rounds 7] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=1
args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        *) args+=("$a") ;;
    esac
done
if [ "$build" = 1 ]; then
    CARGO_TARGET_DIR=target cargo build --release --manifest-path bench/programs/Cargo.toml --bin bench_templates >&2
fi
exec target/release/bench_templates "${args[@]}"
