# shellcheck shell=bash
# Shared part of bench/peers/{maps,dags,curve}.sh, sourced by them: parses the common
# options, finds or builds the lithoflow binary and the real interpreter, and installs the
# peers into their own venvs under bench/.work (gitignored).
#
# Common options:
#   --bin PATH      the lithoflow binary to measure (default: `cargo build --release -p
#                   lithoflow-scheduler` of this work tree, then target/release/lithoflow);
#                   e.g. --bin /work/baseline/lithoflow-039cc73 for the "before" figures
#   --runs N        timed runs of each command (after one untimed warm-up); the biggest
#                   sizes get --big-runs (default 1) instead
#   --big-runs N    timed runs of the slow commands (1,000,000 calls, 100,000 tasks,
#                   Airflow's fan-out), with no warm-up
#   --timeout S     a run still going after S seconds is killed and reported as a timeout
#                   (default 600); --big-timeout S for the slow commands (default 900)
#   --skip GLOB     skip the commands whose label matches (repeatable; labels are
#                   TOOL-KIND-N: lithoflow-map-1000000, ray-map-*, airflow-*, ...)
#   --no-peers      lithoflow (and the floor) only: installs nothing
#   --quick         2 runs, 1 big run, short timeouts (a smoke test, figures not for quoting)
#   --out DIR       where the JSON of every command goes (default bench/.work/peers/results/<script>)
#
# Environment: PYTHON (default python3) runs the helpers and makes the venvs;
# AIRFLOW_VENV an existing Airflow 2.10.5 venv to use.

RUNS=5
BIG_RUNS=1
TIMEOUT=600
BIG_TIMEOUT=900
PEERS=1
BIN=""
OUT=""
SKIP=()

# The calling script's header comment, then the common options above.
peers_usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    echo
    awk '/^# Common options:/ { on = 1 } on && !/^#/ { exit } on' "$ROOT/bench/peers/common.sh" | sed 's/^# \{0,1\}//'
}

# peers_parse "$@": the common options; a script's own options are handled by its
# `extra_option NAME VALUE` function (return 0 = the option took VALUE, 2 = it took none,
# 1 = unknown) when it defines one.
peers_parse() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --bin) BIN="$2"; shift ;;
            --runs) RUNS="$2"; shift ;;
            --big-runs) BIG_RUNS="$2"; shift ;;
            --timeout) TIMEOUT="$2"; shift ;;
            --big-timeout) BIG_TIMEOUT="$2"; shift ;;
            --skip) SKIP+=("$2"); shift ;;
            --no-peers) PEERS=0 ;;
            --quick) RUNS=2; BIG_RUNS=1; TIMEOUT=120; BIG_TIMEOUT=180 ;;
            --out) OUT="$2"; shift ;;
            -h|--help) peers_usage; exit 0 ;;
            *)
                local rc=1
                if declare -F extra_option > /dev/null; then
                    extra_option "$1" "${2:-}" && rc=0 || rc=$?
                fi
                case "$rc" in
                    0) shift ;;
                    2) ;;
                    *) echo "unknown argument: $1" >&2; exit 1 ;;
                esac
                ;;
        esac
        shift
    done
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/peers"
WORK="$ROOT/bench/.work/peers"
PY="${PYTHON:-python3}"
MEASURE="$HERE/measure.py"
# Python's bytecode caches (this machine's environment turns them off, which makes every
# peer compile its whole package at every start): on for every command, kept under
# bench/.work rather than beside the sources.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$ROOT/bench/.work/pycache"
PEER_MISSING=()
LF_FAILED=0

# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"

# peers_setup SCRIPT: the machine header, the binary, the interpreter, the output folder.
peers_setup() {
    cd "$ROOT"
    OUT="${OUT:-$WORK/results/$1}"
    mkdir -p "$WORK" "$OUT"
    rm -f "$OUT"/*.json "$OUT"/results.md
    HOMES="$WORK/homes-$1.$$"
    trap 'delete_homes' EXIT
    bench_machine
    settle_after_deletes
    if [ -z "$BIN" ]; then
        BIN="$ROOT/target/release/lithoflow"
        bench_release_binary 1
    else
        bench_release_binary 0
    fi
    bench_runtime ""
    echo "runs:       $RUNS (slow commands: $BIG_RUNS), timeout ${TIMEOUT}s (slow: ${BIG_TIMEOUT}s)"
    echo "results:    $OUT"
}

# This machine's root filesystem is ext4 without a journal. There, for up to 6 minutes
# after many files were deleted, every new file and folder is slow to create: the kernel
# skips inode numbers freed in the last 60 s (360 s while their inode table block is
# dirty) and reads each one's inode to find that out (fs/ext4/ialloc.c,
# recently_deleted). A DAG run makes a log folder and file per try, so a chain of 10,000
# tasks measured right after another script deleted its homes took up to 3 times as long,
# almost all in the kernel. Each script deletes its homes when it ends and notes when;
# the next one waits until those 6 minutes have passed, and says so.
DELETES_NOTE="$WORK/.homes-deleted-at"
SETTLE_S=360

delete_homes() {
    [ -d "$HOMES" ] || return 0
    local n
    n=$(find "$HOMES" | wc -l)
    rm -rf "$HOMES"
    if [ "$n" -ge 10000 ]; then
        date +%s > "$DELETES_NOTE"
    fi
}

settle_after_deletes() {
    [ -f "$DELETES_NOTE" ] || return 0
    local at now left
    at=$(cat "$DELETES_NOTE" 2>/dev/null || echo 0)
    now=$(date +%s)
    left=$((at + SETTLE_S - now))
    if [ "$left" -gt 0 ]; then
        echo "settling:   a previous script deleted its homes $((now - at)) s ago; waiting ${left} s before"
        echo "            timing (ext4 without a journal creates files slowly for ${SETTLE_S} s after a mass delete)"
        sleep "$left"
    fi
}

skipped() {
    local g
    for g in "${SKIP[@]+"${SKIP[@]}"}"; do
        # shellcheck disable=SC2053
        [[ "$1" == $g ]] && return 0
    done
    return 1
}

# measure LABEL BIG(0|1) [measure.py run options] -- COMMAND...: one row of the table.
measure() {
    local label="$1" big="$2"
    shift 2
    if skipped "$label"; then
        echo "[$label] skipped (--skip)" >&2
        printf '{"label": "%s", "status": "skipped"}\n' "$label" > "$OUT/$label.json"
        return 0
    fi
    local runs="$RUNS" warm=1 timeout="$TIMEOUT"
    if [ "$big" = 1 ]; then runs="$BIG_RUNS"; warm=0; timeout="$BIG_TIMEOUT"; fi
    if ! "$PY" "$MEASURE" run --label "$label" --json "$OUT/$label.json" --runs "$runs" \
        --warmup "$warm" --timeout "$timeout" "$@"; then
        case "$label" in
            lithoflow-*) LF_FAILED=1 ;;
            *) PEER_MISSING+=("$label failed (see $OUT/$label.json)") ;;
        esac
    fi
}

# lf_measure LABEL BIG DAG_FOLDER -- ARGS...: `$BIN --dags-folder DAG_FOLDER ARGS...` in a
# fresh LITHOFLOW_HOME per run.
lf_measure() {
    local label="$1" big="$2" folder="$3"
    shift 4
    measure "$label" "$big" --lf-homes "$HOMES" --runtime "$RUNTIME" -- \
        "$BIN" --dags-folder "$folder" "$@"
}

# peer_venv NAME PIP_SPEC IMPORT: $WORK/../NAME with PIP_SPEC installed (installed now
# when `python -c "import IMPORT"` fails there); sets VENV_PY, or returns 1 with the
# reason in PEER_MISSING.
peer_venv() {
    local name="$1" spec="$2" mod="$3" venv="$ROOT/bench/.work/$1" log="$ROOT/bench/.work/peers/$1-install.log"
    VENV_PY="$venv/bin/python"
    if [ -x "$VENV_PY" ] && "$VENV_PY" -c "import $mod" 2> /dev/null; then
        echo "$name:$(printf '%*s' $((12 - ${#name})) '')$("$VENV_PY" -c "import importlib.metadata as m; print('$mod', m.version('${spec%%[<>=]*}'))" 2> /dev/null) in $venv"
        return 0
    fi
    say "installing $spec into $venv (log: $log)"
    if { "$RUNTIME" -m venv "$venv" && "$venv/bin/pip" install "$spec"; } > "$log" 2>&1 \
        && "$VENV_PY" -c "import $mod" 2>> "$log"; then
        echo "$name: installed"
        return 0
    fi
    tail -n 15 "$log"
    PEER_MISSING+=("$spec could not be installed (see $log)")
    return 1
}

# peers_end: prints why a peer is missing and exits 0, 1 (a lithoflow command failed) or
# 3 (a peer could not be installed or run; the rest was printed).
peers_end() {
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "raw data:   $OUT/*.json; table as Markdown: $OUT/results.md"
    local m
    for m in "${PEER_MISSING[@]+"${PEER_MISSING[@]}"}"; do echo "MISSING PEER: $m"; done
    [ "$LF_FAILED" = 0 ] || { echo "a lithoflow command failed (see above)"; exit 1; }
    [ "${#PEER_MISSING[@]}" = 0 ] || exit 3
    exit 0
}
