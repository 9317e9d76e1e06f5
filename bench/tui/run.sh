#!/usr/bin/env bash
# The terminal UI's rendering benchmark (tui/examples/render_bench.rs): 200 DAGs and
# 10,000 task instances, every view drawn into ratatui's TestBackend at 160x48; prints
# the median and p99 time per frame of each view and the peak resident memory, and
# exits 1 if a view's p99 reaches 16 ms or the peak reaches 50 MB.
#
# Usage: bench/tui/run.sh [FRAMES]   (default 500 frames per view)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p lithoflow-tui --example render_bench
exec target/release/examples/render_bench "${1:-500}"
