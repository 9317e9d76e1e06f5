# shellcheck shell=bash
# Shared steps of the bench scripts, sourced after they parsed their options:
#   source "$ROOT/bench/lib.sh"
# Each function prints what it found, in the "== machine" header style of the scripts.

say() { printf '\n== %s\n' "$*"; }

# The machine, the load average and the commit (with a mark when scheduler/ or executor/
# have uncommitted changes); sets COMMIT.
bench_machine() {
    say "machine"
    echo "date:       $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpus:       $(nproc)   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- scheduler executor 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "commit:     $COMMIT"
}

# Builds the release binary when $1 is 1, then checks that $BIN exists and prints its
# version.
bench_release_binary() {
    if [ "$1" = 1 ]; then
        say "cargo build --release -p lithoflow-scheduler"
        cargo build --release -p lithoflow-scheduler
    fi
    [ -x "$BIN" ] || { echo "no release binary at $BIN" >&2; exit 1; }
    echo "binary:     $BIN ($("$BIN" --version))"
}

# The real interpreter behind $PY, so the workers do not start through a pyenv shim;
# sets RUNTIME.
bench_runtime() {
    RUNTIME="$("$PY" -c 'import sys; print(sys.executable)')"
    echo "runtime:    [localhost] runtime = \"$RUNTIME\" ($("$RUNTIME" --version 2>&1))$1"
}
