#!/usr/bin/env python3
"""The peers and the physical floor of the map benchmark (bench/peers/maps.sh).

    peer_maps.py pool     --n N [--func inc|burn]   multiprocessing.Pool(2).map(func, range(N))
    peer_maps.py ray      --n N [--func inc|burn]   ray.init(num_cpus=2); ray.get([f.remote(x) ...])
    peer_maps.py raybatch --n N [--func inc|burn]   Ray, the calls in 8 chunks (Pool.map's default
                                                    chunksize for 2 processes: ceil(N / 8))
    peer_maps.py loop     --n N [--func inc|burn]   [func(x) for x in range(N)] in this process
    peer_maps.py pipe     --n N                     N one-byte round trips over two os.pipe()s
                                                    between this process and a forked child

Each checks its results and prints one JSON line on stdout: {"inner_s": the calls alone,
without the interpreter's start-up and the pool's or Ray's set-up, ...}; `pipe` adds
"rtt_us", the round trip in microseconds. The whole process is timed by measure.py.
`ray` and `raybatch` need the Ray venv's interpreter.
"""

import argparse
import json
import math
import os
import sys
import time


def inc(x):
    """The trivial call: x + 1."""
    return x + 1


def burn(x):
    """20 ms of this thread's CPU time, then x + 1 (as bench/peers/gen.py's peers_funcs.burn)."""
    t0 = time.thread_time()
    while time.thread_time() - t0 < 0.02:
        pass
    return x + 1


def inc_chunk(xs):
    return [x + 1 for x in xs]


def burn_chunk(xs):
    return [burn(x) for x in xs]


def check(results, n):
    if len(results) != n or results[0] != 1 or results[-1] != n:
        sys.exit(f"wrong results: {len(results)} of {n}")


def run_pool(n, func):
    import multiprocessing

    t0 = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        t1 = time.perf_counter()
        out = pool.map(func, range(n))
        t2 = time.perf_counter()
    check(out, n)
    return {"inner_s": t2 - t1, "setup_s": t1 - t0}


def run_ray(n, func, batched):
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    t1 = time.perf_counter()
    if batched:
        f = ray.remote(inc_chunk if func is inc else burn_chunk)
        size = max(1, math.ceil(n / 8))
        parts = ray.get([f.remote(list(range(s, min(n, s + size)))) for s in range(0, n, size)])
        out = [y for part in parts for y in part]
    else:
        f = ray.remote(func)
        out = ray.get([f.remote(x) for x in range(n)])
    t2 = time.perf_counter()
    check(out, n)
    ray.shutdown()
    return {"inner_s": t2 - t1, "setup_s": t1 - t0}


def run_loop(n, func):
    t0 = time.perf_counter()
    out = [func(x) for x in range(n)]
    t1 = time.perf_counter()
    check(out, n)
    return {"inner_s": t1 - t0, "per_call_us": (t1 - t0) / n * 1e6}


def run_pipe(n):
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(to_child_w)
        os.close(to_parent_r)
        while True:
            b = os.read(to_child_r, 1)
            if not b or b == b"q":
                os._exit(0)
            os.write(to_parent_w, b)
    os.close(to_child_r)
    os.close(to_parent_w)
    for _ in range(min(1000, n)):  # warm-up
        os.write(to_child_w, b"x")
        os.read(to_parent_r, 1)
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(to_child_w, b"x")
        os.read(to_parent_r, 1)
    t1 = time.perf_counter()
    os.write(to_child_w, b"q")
    os.waitpid(pid, 0)
    return {"inner_s": t1 - t0, "rtt_us": (t1 - t0) / n * 1e6}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["pool", "ray", "raybatch", "loop", "pipe"])
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--func", choices=["inc", "burn"], default="inc")
    a = p.parse_args()
    func = inc if a.func == "inc" else burn
    if a.mode == "pool":
        out = run_pool(a.n, func)
    elif a.mode in ("ray", "raybatch"):
        out = run_ray(a.n, func, a.mode == "raybatch")
    elif a.mode == "loop":
        out = run_loop(a.n, func)
    else:
        out = run_pipe(a.n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
