#!/usr/bin/env bash
# The aws_lambda backend's client side: invocation submit rate, a 1,000-call map end to
# end, and the CPU time of the lithoflow process, against the ministack emulator and
# against a trivial local endpoint that answers instantly (issue 6's performance
# requirement). The measuring is done by bench/programs/src/bin/bench_lambda.rs.
#
#   bench/aws/run.sh [--no-build] [--repeats N] [--quick] [--no-emulator] [--no-trivial] [--no-lithops]
#                    [--emulator-calls N] [--trivial-calls N] [--pools LIST]
#                    [--wait SECONDS]
#
# trivial    a fake Lambda + S3 endpoint inside the benchmark process (its own thread,
#            its CPU subtracted): --trivial-calls (5,000) Event invocations per job for
#            the submit rate, invoke_pool_threads 64 and 500; then maps of as many
#            synchronous calls, 64 and 500. The function shipped is
#            bench/aws/functions/lambda_bench.py (nothing runs it).
# emulator   ministack on a free port (installed by scripts/install-emulator.sh), the
#            runtime deployed (as `lithoflow runtime deploy`): --emulator-calls (1,000)
#            Event invocations per job, 64 and 500, with the function's reserved
#            concurrency at 0 so the accepted calls never execute; then a map of 1,000
#            synchronous calls of builtins:abs, invoke_pool_threads 64.
#
# lithops   the same submit-rate measure of Lithops itself (lithops==3.8.0 from PyPI into
#            bench/.work/lithops-venv): its AWSLambdaBackend.invoke from a
#            ThreadPoolExecutor(invoke_pool_threads), against the same trivial endpoint
#            (bench_lambda --target serve) and the same emulator (bench/aws/lithops_submit.py);
#            the closing table gives lithoflow / Lithops ratios. --no-lithops skips it.
#
# Every figure is the median of --repeats (5) timed jobs after one warm-up job.
# --quick: 3 repeats, 1,000 calls on the trivial endpoint (a smoke test).
# Before timing, waits up to --wait (300) seconds while cargo or rustc processes run.
# Results: bench/.work/aws/{trivial,emulator}.{md,json}, results.md (both tables).
#
# Exit status: 0 when every figure was printed, 1 when a step failed.
set -euo pipefail

BUILD=1
REPEATS=5
EMULATOR=1
TRIVIAL=1
LITHOPS=1
EMU_CALLS=1000
TRIVIAL_CALLS=5000
POOLS=64,500
WAIT=300

usage() { sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --repeats) REPEATS="$2"; shift ;;
        --quick) REPEATS=3; TRIVIAL_CALLS=1000 ;;
        --no-emulator) EMULATOR=0 ;;
        --no-trivial) TRIVIAL=0 ;;
        --no-lithops) LITHOPS=0 ;;
        --emulator-calls) EMU_CALLS="$2"; shift ;;
        --trivial-calls) TRIVIAL_CALLS="$2"; shift ;;
        --pools) POOLS="$2"; shift ;;
        --wait) WAIT="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
W="$ROOT/bench/.work/aws"
mkdir -p "$W"
rm -f "$W"/*.json "$W"/*.md "$W"/*.log
say() { echo "== $*" >&2; }

# ---- build -------------------------------------------------------------------------
# bench_lambda is a package of its own (bench/programs, outside the workspace), built into
# the workspace's target dir so it reuses the compiled AWS SDK.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/bench_lambda"
if [ "$BUILD" = 1 ]; then
    say "cargo build --release --manifest-path bench/programs/Cargo.toml --bin bench_lambda"
    CARGO_TARGET_DIR="$TARGET" cargo build --release --manifest-path bench/programs/Cargo.toml --bin bench_lambda
fi
[ -x "$BIN" ] || { echo "missing $BIN (run without --no-build)" >&2; exit 1; }

# ---- Lithops, for the baseline ------------------------------------------------------
LITHOPS_PY="$W/../lithops-venv/bin/python"
if [ "$LITHOPS" = 1 ] && ! "$LITHOPS_PY" -c 'import lithops, boto3' 2>/dev/null; then
    say "installing lithops==3.8.0 into bench/.work/lithops-venv"
    python3 -m venv "$W/../lithops-venv"
    "$LITHOPS_PY" -m pip install --quiet 'lithops==3.8.0' 'boto3>=1.35'
fi

# Lithops' submit rate against ENDPOINT: lithops_part NAME CALLS ENDPOINT [--deploy]
lithops_part() {
    local name="$1" calls="$2" endpoint="$3"; shift 3
    "$LITHOPS_PY" "$ROOT/bench/aws/lithops_submit.py" --endpoint "$endpoint" --calls "$calls" \
        --pools "$POOLS" --repeats "$REPEATS" --json "$W/$name.json" "$@" 2> >(tee "$W/$name.log" >&2)
}

# ---- wait for a quiet machine ----------------------------------------------------
waited=0
while pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null; do
    if [ "$waited" -ge "$WAIT" ]; then
        say "cargo/rustc still running after ${WAIT}s; measuring anyway (figures will be noisy)"
        break
    fi
    [ "$waited" = 0 ] && say "waiting for cargo/rustc to finish (up to ${WAIT}s)"
    sleep 5
    waited=$((waited + 5))
done

# /proc/stat busy and total jiffies, for "other work" during a part.
cpu_jiffies() { awk '/^cpu /{ print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat; }

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_LAMBDA AWS_PROFILE

NOTES="$W/notes.md"
{
    echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- started: $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"
} > "$NOTES"

# Runs the example, recording the machine's other CPU work (busy CPUs minus this
# process's own use is not separable here, so the total busy CPUs are given).
run_part() {
    local name="$1"; shift
    local before after start end rc=0
    before="$(cpu_jiffies)"; start="$(date +%s.%N)"
    "$BIN" "$@" --repeats "$REPEATS" --json "$W/$name.json" > "$W/$name.md" 2> >(tee "$W/$name.log" >&2) || rc=$?
    after="$(cpu_jiffies)"; end="$(date +%s.%N)"
    python3 - "$before" "$after" "$start" "$end" "$name" >> "$NOTES" <<'EOF'
import sys
b, a = [list(map(int, x.split())) for x in sys.argv[1:3]]
busy = (a[0] - b[0]) / max(1, a[1] - b[1])
secs = float(sys.argv[4]) - float(sys.argv[3])
print(f"- {sys.argv[5]}: {secs:.0f} s, machine {busy * 100:.0f}% busy on average over the part (all CPUs, this benchmark included)")
EOF
    cat "$W/$name.md"
    [ "$rc" = 0 ] || echo "!! $name failed (exit $rc); see $W/$name.log" >&2
    return "$rc"
}

status=0

# ---- trivial endpoint -------------------------------------------------------------
if [ "$TRIVIAL" = 1 ]; then
    say "trivial local endpoint: $TRIVIAL_CALLS calls per job, invoke_pool_threads $POOLS"
    run_part trivial --target trivial --submit-calls "$TRIVIAL_CALLS" --map-calls "$TRIVIAL_CALLS" \
        --pools "$POOLS" --map-pools "$POOLS" \
        --functions "$ROOT/bench/aws/functions" --func lambda_bench:ident || status=1
    if [ "$LITHOPS" = 1 ]; then
        say "Lithops against the same trivial endpoint: $TRIVIAL_CALLS calls per job, invoke_pool_threads $POOLS"
        coproc SERVE { "$BIN" --target serve; }
        read -r line <&"${SERVE[0]}"
        lithops_part lithops-trivial "$TRIVIAL_CALLS" "${line#URL }" || status=1
        exec {SERVE[1]}>&-
        wait "$SERVE_PID" 2>/dev/null || true
    fi
fi

# ---- emulator ----------------------------------------------------------------------
EMU_PID=""
stop_emulator() {
    if [ -n "$EMU_PID" ]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
        EMU_PID=""
    fi
}
trap stop_emulator EXIT

if [ "$EMULATOR" = 1 ]; then
    bash scripts/install-emulator.sh
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$W/emu-tmp"
    # LAMBDA_ACCOUNT_CONCURRENCY bounds the warm worker processes the emulator starts
    # (one per concurrent execution; its default scales with the machine's memory, ~560
    # here): the synchronous map keeps 64 in flight.
    say "starting ministack on 127.0.0.1:$PORT"
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$PORT" SERVICES=s3,lambda,iam,sts,logs LOG_LEVEL=WARNING \
        LAMBDA_ACCOUNT_CONCURRENCY=80 TMPDIR="$W/emu-tmp" \
        .emu/venv/bin/ministack > "$W/ministack.log" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 1 600); do
        curl -fsS "http://127.0.0.1:$PORT/_ministack/ready" >/dev/null 2>&1 && break
        kill -0 "$EMU_PID" 2>/dev/null || { echo "ministack exited:" >&2; cat "$W/ministack.log" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$PORT/_ministack/ready" >/dev/null || { echo "ministack is not ready" >&2; exit 1; }
    say "emulator: $EMU_CALLS Event calls per job (invoke_pool_threads $POOLS), map of 1,000 (64)"
    run_part emulator --target emulator --endpoint "http://127.0.0.1:$PORT" --emulator-pid "$EMU_PID" \
        --submit-calls "$EMU_CALLS" --pools "$POOLS" --map-calls 1000 --map-pools 64 || status=1
    if [ "$LITHOPS" = 1 ]; then
        say "Lithops against the same emulator: $EMU_CALLS Event calls per job, invoke_pool_threads $POOLS"
        lithops_part lithops-emulator "$EMU_CALLS" "http://127.0.0.1:$PORT" --deploy || status=1
    fi
    stop_emulator
fi

# lithoflow beside Lithops: medians of the submit rate and of the client CPU per call.
python3 "$ROOT/bench/aws/compare.py" "$W" > "$W/compare.md"

{
    echo "# bench/aws/run.sh results"
    echo
    cat "$NOTES"
    for part in trivial emulator compare; do
        [ -f "$W/$part.md" ] && cat "$W/$part.md"
    done
} > "$W/results.md"
say "results: $W/results.md"
cat "$NOTES" >&2
exit "$status"
