"""Lithops' own invocation path, measured beside lithoflow's by bench/aws/run.sh.

    lithops_submit.py --endpoint URL --calls N --pools 64,500 --repeats R [--deploy] --json OUT

Uses Lithops' real AWS Lambda backend class (`AWSLambdaBackend.invoke` of the installed
lithops package: a botocore-SigV4-signed `POST .../invocations` with
`X-Amz-Invocation-Type: Event` over its urllib3 session) from a
`ThreadPoolExecutor(invoke_pool_threads)`, one call per invocation, as Lithops'
`FaaSInvoker` submits the calls of a map; the payload has the fields and about the size
of `Invoker._create_payload`'s. The backend signs for `lambda.<region>.amazonaws.com`;
its session's `send` is pointed at URL instead, which is the only change to its code path.

With --deploy (the emulator), a function with the name Lithops would use is created
first, with reserved concurrency 0 so accepted calls never execute (as the lithoflow
side of the benchmark does). Prints one line per timed job on stderr and writes the
samples to --json: submit rate (first submit to every call accepted) and the process's
CPU time (user + system) over that window.
"""

import argparse
import io
import json
import statistics
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import lithops
from lithops.serverless.backends.aws_lambda.aws_lambda import AWSLambdaBackend

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lithoflow"
RUNTIME = "default-runtime-v311"
MEMORY = 256


def backend_for(endpoint):
    config = {
        "user_agent": "lithops/%s" % lithops.__version__,
        "region": REGION,
        "execution_role": ROLE,
        "access_key_id": "test",
        "secret_access_key": "test",
        "account_id": "000000000000",
        "user_id": "AIDABENCHLITHOPS",
    }
    backend = AWSLambdaBackend(config, internal_storage=None)
    send = backend.session.send
    prefix = "https://%s" % backend.host

    def redirected(request):
        request.url = endpoint + request.url[len(prefix):]
        return send(request)

    backend.session.send = redirected
    return backend


def deploy(endpoint, name):
    import boto3

    lam = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return None\n")
    try:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="handler.handler",
            Code={"ZipFile": buf.getvalue()},
            MemorySize=MEMORY,
            Timeout=60,
        )
    except lam.exceptions.ResourceConflictException:
        pass
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)


def payload(call_index, total):
    """The shape and size of Lithops' `Invoker._create_payload` for one call."""
    return {
        "config": {
            "lithops": {"backend": "aws_lambda", "storage": "aws_s3", "mode": "serverless"},
            "aws": {"region": REGION},
            "aws_lambda": {
                "execution_role": ROLE,
                "runtime": RUNTIME,
                "runtime_memory": MEMORY,
                "runtime_timeout": 180,
                "invoke_pool_threads": 64,
                "max_workers": 1000,
                "worker_processes": 1,
            },
            "aws_s3": {"storage_bucket": "lithops-bench", "region": REGION},
        },
        "chunksize": 1,
        "log_level": "INFO",
        "func_name": "ident",
        "func_key": "lithops.jobs/a1b2c3-0/aaaabbbbccccdddd.func.pickle",
        "data_key": "lithops.jobs/a1b2c3-0/M000/aggdata.pickle",
        "extra_env": {},
        "total_calls": total,
        "execution_timeout": 175,
        "data_byte_ranges": [[call_index * 64, call_index * 64 + 63]],
        "executor_id": "a1b2c3-0",
        "job_id": "M000",
        "job_key": "a1b2c3-0-M000",
        "max_workers": 1000,
        "call_ids": ["%05d" % call_index],
        "host_submit_tstamp": time.time(),
        "lithops_version": lithops.__version__,
        "runtime_name": RUNTIME,
        "runtime_memory": MEMORY,
        "worker_processes": 1,
    }


def one_job(backend, pool, calls):
    """Submits `calls` Event invocations on a pool of `pool` threads; returns (seconds
    until every call was accepted, CPU seconds of this process over that window)."""
    failures = []

    def invoke(i):
        try:
            backend.invoke(RUNTIME, MEMORY, payload(i, calls))
        except Exception as e:  # noqa: BLE001 - counted and reported below
            failures.append(repr(e))

    with ThreadPoolExecutor(max_workers=pool) as ex:
        cpu0, t0 = time.process_time(), time.perf_counter()
        list(ex.map(invoke, range(calls)))
        t1, cpu1 = time.perf_counter(), time.process_time()
    if failures:
        raise SystemExit("%d invocations failed, e.g. %s" % (len(failures), failures[0]))
    return t1 - t0, cpu1 - cpu0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--pools", default="64,500")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--deploy", action="store_true")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    backend = backend_for(args.endpoint)
    if args.deploy:
        deploy(args.endpoint, backend._format_function_name(RUNTIME, MEMORY))
    series = []
    for pool in [int(p) for p in args.pools.split(",")]:
        one_job(backend, pool, args.calls)  # warm-up
        samples = []
        for _ in range(max(1, args.repeats)):
            wall, cpu = one_job(backend, pool, args.calls)
            samples.append({"calls": args.calls, "window_s": wall, "cpu_s": cpu,
                            "submit_rate": args.calls / wall})
            print("[lithops %s] submit, invoke_pool_threads %d: %.0f calls/s (%d calls in %.3fs); CPU %.3fs"
                  % (lithops.__version__, pool, args.calls / wall, args.calls, wall, cpu),
                  file=sys.stderr)
        series.append({
            "invoke_pool_threads": pool,
            "median_submit_rate": statistics.median(s["submit_rate"] for s in samples),
            "median_cpu_per_call_s": statistics.median(s["cpu_s"] / s["calls"] for s in samples),
            "samples": samples,
        })
    with open(args.json, "w") as f:
        json.dump({"lithops_version": lithops.__version__, "submit": series}, f, indent=2)


if __name__ == "__main__":
    main()
