#!/usr/bin/env bash
# Benchmark: `lithoflow dags list` over 1,000 generated DAG files of 20 tasks each,
# optionally beside Airflow 2.10.5's `airflow dags list` over the same DAGs in Python.
#
#   bench/dags_list.sh [--airflow] [--runs N] [--airflow-runs N] [--dags N] [--tasks N]
#                      [--no-build]
#
# Prints figures (min / median / p90 wall time, CPU time, peak RSS, and with --airflow the
# airflow/lithoflow ratio of medians); it never fails on a time. Target from the issue:
# median under 0.5 s on the 2-core bench machine, release build. See bench/README.md.
#
# Exit status: 0 when the figures were printed; 1 when a step (build, generation,
# validation, a timed command) failed; 3 when --airflow was asked for but Airflow could not
# be installed or run (lithoflow's figures are still printed first).
#
# Environment: PYTHON (default python3) runs the helpers and creates the Airflow venv;
# BENCH_NO_HYPERFINE=1 times with the Python loop (bench/timing.py) instead of hyperfine.
set -euo pipefail

RUNS=20
WARMUP=2
AIRFLOW=0
AIRFLOW_RUNS=3
AIRFLOW_WARMUP=1
DAGS=1000
TASKS=20
BUILD=1
AIRFLOW_VERSION=2.10.5

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --airflow) AIRFLOW=1 ;;
        --runs) RUNS="$2"; shift ;;
        --airflow-runs) AIRFLOW_RUNS="$2"; shift ;;
        --dags) DAGS="$2"; shift ;;
        --tasks) TASKS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done
if [ "$RUNS" -lt 15 ]; then
    echo "--runs must be at least 15 (medians over repeated runs)" >&2
    exit 1
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="bench/.work"
DAG_DIR="$WORK/dags_${DAGS}"
AF_DAG_DIR="$WORK/airflow_dags_${DAGS}"
BIN="$ROOT/target/release/lithoflow"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"

say() { printf '\n== %s\n' "$*"; }
json_get() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
fmt_s() { "$PY" -c 'import sys; s=float(sys.argv[1]); print(f"{s*1000:.1f} ms" if s < 1 else f"{s:.3f} s" if s < 10 else f"{s:.2f} s")' "$1"; }

say "machine"
echo "date:       $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpus:       $(nproc)   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- scheduler executor 2>/dev/null || echo ' (+ uncommitted changes)')"

# 1. The release binary.
if [ "$BUILD" = 1 ]; then
    say "cargo build --release -p lithoflow-scheduler"
    cargo build --release -p lithoflow-scheduler
fi
[ -x "$BIN" ] || { echo "no release binary at $BIN" >&2; exit 1; }
echo "binary:     $BIN ($("$BIN" --version))"

# 2. The DAG files, and the check that every one of them is valid.
say "generating $DAGS DAG files x $TASKS tasks"
GEN_ARGS=(--out "$DAG_DIR" --dags "$DAGS" --tasks "$TASKS")
[ "$AIRFLOW" = 1 ] && GEN_ARGS+=(--airflow-out "$AF_DAG_DIR")
"$PY" bench/gen_dags.py "${GEN_ARGS[@]}"

say "lithoflow dags validate $DAG_DIR"
if ! "$BIN" dags validate "$DAG_DIR" > "$WORK/validate.log" 2>&1; then
    tail -n 40 "$WORK/validate.log"
    echo "ABORT: generated DAG files are not valid (full report: $WORK/validate.log)" >&2
    exit 1
fi
tail -n 1 "$WORK/validate.log"
LISTED=$("$BIN" --dags-folder "$DAG_DIR" dags list -o json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
if [ "$LISTED" != "$DAGS" ]; then
    echo "ABORT: dags list shows $LISTED DAGs, expected $DAGS" >&2
    exit 1
fi
echo "dags list shows $LISTED DAGs"

# 3. Timing. hyperfine if present (installed with apt-get when we can), else a Python loop.
# BENCH_NO_HYPERFINE=1 forces the Python loop (to check that path).
have_hyperfine() { [ "${BENCH_NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine > /dev/null; }
if [ "${BENCH_NO_HYPERFINE:-0}" != 1 ] && ! command -v hyperfine > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    say "installing hyperfine"
    if ! { apt-get update -qq && apt-get install -y -qq hyperfine; } > "$WORK/apt.log" 2>&1; then
        echo "could not install hyperfine (see $WORK/apt.log); using the Python timing loop"
    fi
fi

# time_cmd NAME WARMUP RUNS 'COMMAND' -> $WORK/NAME.json (summary), prints a line.
time_cmd() {
    local name="$1" warmup="$2" runs="$3" cmd="$4"
    if have_hyperfine; then
        hyperfine --style basic --warmup "$warmup" --runs "$runs" \
            --export-json "$WORK/$name.hyperfine.json" "$cmd"
        "$PY" bench/timing.py hyperfine --json "$WORK/$name.json" "$WORK/$name.hyperfine.json"
    else
        "$PY" bench/timing.py run --warmup "$warmup" --runs "$runs" --json "$WORK/$name.json" -- "$cmd"
    fi
}

# CPU use of the whole machine, to tell a quiet run from one that shared the CPUs with
# other work (a concurrent cargo build easily doubles the wall time on 2 cores).
# cpu_snap -> "busy_jiffies total_jiffies wall_seconds"
cpu_snap() {
    awk '/^cpu / {busy=$2+$3+$4+$7+$8+$9; total=busy+$5+$6} END {printf "%d %d ", busy, total}' /proc/stat
    date +%s.%N
}
# background_load NAME WARMUP RUNS "SNAP_BEFORE" "SNAP_AFTER" -> prints, sets BG_CPUS
background_load() {
    BG_CPUS=$("$PY" - "$WORK/$1.json" "$2" "$3" "$4" "$5" "$(nproc)" <<'PYEOF'
import json, sys
summary, warmup, runs = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
b0, t0, w0 = map(float, sys.argv[4].split())
b1, t1, w1 = map(float, sys.argv[5].split())
ncpu = int(sys.argv[6])
busy = (b1 - b0) / (t1 - t0) * ncpu            # CPUs busy on average, all processes
ours = summary["cpu"] * (warmup + runs) / (w1 - w0)  # CPUs the benchmarked command used
print(f"{max(0.0, busy - ours):.2f}")
PYEOF
)
    echo "background load during these runs: ~$BG_CPUS of $(nproc) CPUs busy with other work"
}

# peak_rss NAME RUNS 'COMMAND' -> sets RSS_KB (max over runs).
peak_rss() {
    local name="$1" runs="$2" cmd="$3" i kb
    if [ -x /usr/bin/time ]; then
        : > "$WORK/$name.rss.txt"
        for i in $(seq "$runs"); do
            /usr/bin/time -v sh -c "$cmd" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}' >> "$WORK/$name.rss.txt"
        done
        RSS_KB=$(sort -n "$WORK/$name.rss.txt" | tail -n 1)
    else
        "$PY" bench/timing.py rss --runs "$runs" --json "$WORK/$name.rss.json" -- "$cmd" > /dev/null
        RSS_KB=$(json_get "$WORK/$name.rss.json" rss_kb)
    fi
}

LF_CMD="$BIN --dags-folder $DAG_DIR dags list -o json > /dev/null"
say "lithoflow dags list: $WARMUP warmups, $RUNS runs"
echo "command: $LF_CMD"
SNAP0=$(cpu_snap)
time_cmd lithoflow "$WARMUP" "$RUNS" "$LF_CMD"
background_load lithoflow "$WARMUP" "$RUNS" "$SNAP0" "$(cpu_snap)"
LF_BG="$BG_CPUS"
peak_rss lithoflow 5 "$LF_CMD"
LF_RSS_KB="$RSS_KB"
LF_MIN=$(json_get "$WORK/lithoflow.json" min)
LF_MED=$(json_get "$WORK/lithoflow.json" median)
LF_P90=$(json_get "$WORK/lithoflow.json" p90)
LF_CPU=$(json_get "$WORK/lithoflow.json" cpu)

# 4. Airflow, on request.
AF_STATUS="not run (pass --airflow)"
AF_MED=""
if [ "$AIRFLOW" = 1 ]; then
    AF_STATUS=""
    VENV="$WORK/airflow-venv"
    export AIRFLOW_HOME="$ROOT/$WORK/airflow-home"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/$AF_DAG_DIR"
    mkdir -p "$AIRFLOW_HOME"
    if [ ! -x "$VENV/bin/airflow" ] || [ "$("$VENV/bin/airflow" version 2>/dev/null | tail -n 1)" != "$AIRFLOW_VERSION" ]; then
        say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (several minutes; log: $WORK/airflow-install.log)"
        if ! { "$PY" -m venv "$VENV" \
               && "$VENV/bin/pip" install --upgrade pip \
               && "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION"; } > "$WORK/airflow-install.log" 2>&1; then
            tail -n 20 "$WORK/airflow-install.log"
            AF_STATUS="FAILED: pip install apache-airflow==$AIRFLOW_VERSION failed (see $WORK/airflow-install.log)"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        say "airflow db migrate (AIRFLOW_HOME=$AIRFLOW_HOME)"
        if ! "$VENV/bin/airflow" db migrate > "$WORK/airflow-migrate.log" 2>&1; then
            tail -n 20 "$WORK/airflow-migrate.log"
            AF_STATUS="FAILED: airflow db migrate failed (see $WORK/airflow-migrate.log)"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        AF_LISTED="?"
        if "$VENV/bin/airflow" dags list -o json > "$WORK/airflow-list.json" 2> "$WORK/airflow-list.log"; then
            # Airflow logs a few INFO lines to stdout before the JSON; count the JSON line.
            AF_LISTED=$("$PY" -c '
import json, sys
for line in reversed(open(sys.argv[1]).read().splitlines()):
    if line.startswith("["):
        try:
            print(len(json.loads(line)))
            break
        except ValueError:
            pass
else:
    print("?")' "$WORK/airflow-list.json")
        fi
        if [ "$AF_LISTED" != "$DAGS" ]; then
            tail -n 20 "$WORK/airflow-list.log"
            AF_STATUS="FAILED: airflow dags list shows $AF_LISTED DAGs, expected $DAGS (see $WORK/airflow-list.log)"
        fi
    fi
    if [ -z "$AF_STATUS" ]; then
        echo "airflow dags list shows $AF_LISTED DAGs"
        AF_CMD="$VENV/bin/airflow dags list -o json > /dev/null"
        say "airflow dags list: $AIRFLOW_WARMUP warmup, $AIRFLOW_RUNS runs (DagBag parses every file)"
        echo "command: $AF_CMD"
        SNAP0=$(cpu_snap)
        time_cmd airflow "$AIRFLOW_WARMUP" "$AIRFLOW_RUNS" "$AF_CMD"
        background_load airflow "$AIRFLOW_WARMUP" "$AIRFLOW_RUNS" "$SNAP0" "$(cpu_snap)"
        AF_BG="$BG_CPUS"
        peak_rss airflow 1 "$AF_CMD"
        AF_RSS_KB="$RSS_KB"
        AF_MED=$(json_get "$WORK/airflow.json" median)
        AF_CPU=$(json_get "$WORK/airflow.json" cpu)
        AF_STATUS="ok"
    fi
fi

# 5. The figures.
say "RESULTS: dags list over $DAGS DAG files x $TASKS tasks (release build, $(nproc) CPUs)"
printf 'lithoflow   min %s   median %s   p90 %s   (%s runs)\n' \
    "$(fmt_s "$LF_MIN")" "$(fmt_s "$LF_MED")" "$(fmt_s "$LF_P90")" "$RUNS"
printf 'lithoflow   CPU per run (user+sys) %s   peak RSS %.1f MiB\n' \
    "$(fmt_s "$LF_CPU")" "$("$PY" -c "print($LF_RSS_KB/1024)")"
"$PY" -c "m=$LF_MED; print(f'target      median < 0.5 s: {\"met\" if m < 0.5 else \"NOT met\"} ({m:.3f} s)')"
noise_line() {  # noise_line WHAT CPUS
    printf 'noise       ~%s CPUs of other work during the %s runs' "$2" "$1"
    "$PY" -c "import sys; sys.exit(0 if $2 >= 0.3 else 1)" \
        && printf ' (a busy machine: re-run when it is quiet)\n' || printf ' (quiet)\n'
}
noise_line lithoflow "$LF_BG"
if [ "$AF_STATUS" = ok ]; then
    printf 'airflow     median %s   (%s runs)   CPU per run (user+sys) %s   peak RSS %.1f MiB\n' \
        "$(fmt_s "$AF_MED")" "$AIRFLOW_RUNS" "$(fmt_s "$AF_CPU")" "$("$PY" -c "print($AF_RSS_KB/1024)")"
    "$PY" -c "print(f'ratio       airflow / lithoflow (medians): {$AF_MED / $LF_MED:.0f}x')"
    noise_line airflow "$AF_BG"
else
    echo "airflow     $AF_STATUS"
fi
echo "raw data:   $WORK/lithoflow.json${AF_MED:+ $WORK/airflow.json}"
case "$AF_STATUS" in FAILED*) exit 3 ;; esac
exit 0
