#!/usr/bin/env python3
"""Writes the DAGs the end-to-end CLI part of the executor benchmark runs.

    gen_dags.py OUT_DIR [--maps 100,1000,10000] [--mapreduce 1000]

Each DAG gets its own folder (OUT_DIR/<dag_id>/), holding the DAG file and a copy of
bench_functions.py, so that `lithoflow tasks test --dags-folder OUT_DIR/<dag_id> ...`
reads only that DAG:

    bench_map_<N>        task `map`:        add(x, y=1) over x = 0..N-1
    bench_mapreduce_<N>  task `mapreduce`:  the same map, then total(results)
    bench_call_async     task `call`:       add(x=1, y=1)
"""

import argparse
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def iterdata(n):
    # 20 numbers a line keeps the file readable and the line count small.
    rows = [", ".join(str(i) for i in range(s, min(n, s + 20))) for s in range(0, n, 20)]
    return "[\n    " + ",\n    ".join(rows) + ",\n]" if rows else "[]"


def write(out, dag_id, body):
    folder = os.path.join(out, dag_id)
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(HERE, "bench_functions.py"), folder)
    with open(os.path.join(folder, dag_id + ".toml"), "w") as f:
        f.write(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--maps", default="100,1000,10000")
    p.add_argument("--mapreduce", default="1000")
    a = p.parse_args()
    head = 'description = "{}"\nis_paused_upon_creation = false\ntags = ["bench"]\n\n'
    for n in (int(x) for x in a.maps.split(",") if x):
        write(a.out, "bench_map_%d" % n, head.format("executor bench: a map of %d calls add(x, y=1)" % n)
              + '[tasks.map]\ntype = "map"\nmap_function = "bench_functions:add"\n'
              + "extra_params = { y = 1 }\nmap_iterdata = " + iterdata(n) + "\n")
    for n in (int(x) for x in a.mapreduce.split(",") if x):
        write(a.out, "bench_mapreduce_%d" % n,
              head.format("executor bench: a map_reduce of %d calls, reducer total(results)" % n)
              + '[tasks.mapreduce]\ntype = "map_reduce"\nmap_function = "bench_functions:add"\n'
              + 'reduce_function = "bench_functions:total"\n'
              + "extra_params = { y = 1 }\nmap_iterdata = " + iterdata(n) + "\n")
    write(a.out, "bench_call_async", head.format("executor bench: one call add(x=1, y=1)")
          + '[tasks.call]\ntype = "call_async"\nfunc = "bench_functions:add"\ndata = { x = 1, y = 1 }\n')


if __name__ == "__main__":
    main()
