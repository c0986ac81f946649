"""What running the search on Dask costs: full R8, local threads against a LocalCluster of processes.

Run from the repository root (needs the benchmark data and the distributed extra):

    NNZIP_DATA_DIR=../shared/data flock /tmp/nnzip-bench.lock \
        python benchmarks/bench_dask.py --output benchmarks/dask.md

The exact k=3 search of the R8 test set against its training set (2,189 x 5,485 pairs) runs
alternately on this process's numba threads (``n_jobs=2``) and, under
``joblib.parallel_config(backend="dask")``, on a ``LocalCluster`` of 2 worker processes x 1
thread (the same 2 cores); best of ``--repeat`` each, kernels compiled beforehand on both
sides, and the two results are checked identical. The report gives the throughput ratio, the
bytes each task and the scattered training side take when pickled, per-task compute times
from Dask's task stream, and the wall time those figures imply on more workers.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

import joblib
import numpy as np

import nnzip
from nnzip.data import load_local
from nnzip.distributed import block_rows, local_cluster, split_rows
from nnzip.evaluate import machine as machine_info
from nnzip.validation import as_bytes

K = 3


def run_local(X, Y, n_jobs: int):
    start = time.perf_counter()
    out = nnzip.nearest_neighbors(X, Y, K, n_jobs=n_jobs)
    return time.perf_counter() - start, out


def run_dask(client, X, Y):
    import distributed

    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        start = time.perf_counter()
        out = nnzip.nearest_neighbors(X, Y, K)
        seconds = time.perf_counter() - start
    tasks = [t for t in stream.data if str(t["key"]).startswith("nnzip-compute_block-")]
    compute = [sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute") for t in tasks]
    return seconds, out, compute


def shipped_bytes(X, Y) -> dict:
    """Pickled sizes of what one search sends: the training side once per worker, a block per task.

    The training side is measured as the fitted index (its texts, their lengths and settings),
    which is what the scattered search holds.
    """
    xs = as_bytes(X)
    index = nnzip.NCDIndex().fit(Y)
    rows = block_rows(len(Y))
    _, blocks = split_rows(xs, rows)
    d, i = index.kneighbors(blocks[0], K)
    return {
        "side": len(pickle.dumps(index, protocol=5)),
        "rows_per_task": rows,
        "tasks": len(blocks),
        "block": statistics.mean(len(pickle.dumps(b, protocol=5)) for b in blocks),
        "result": len(pickle.dumps((d, i), protocol=5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("NNZIP_DATA_DIR"))
    parser.add_argument("--dataset", default="r8")
    parser.add_argument("--limit-test", type=int, help="only the first N test texts (a quick check)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("set NNZIP_DATA_DIR or pass --data-dir")
    os.environ["NNZIP_DATA_DIR"] = args.data_dir
    import distributed

    ds = load_local(args.dataset)
    X, Y = ds.X_test[: args.limit_test], ds.X_train
    print(f"{args.dataset}: {len(X)} x {len(Y)} pairs", file=sys.stderr)
    nnzip.warmup()
    sizes = shipped_bytes(X, Y)
    local_times, dask_times, computes = [], [], []
    load_before = os.getloadavg()[0]
    with local_cluster(args.workers) as cluster, distributed.Client(cluster) as client:
        client.run(nnzip.warmup)
        for _ in range(args.repeat):
            t, want = run_local(X, Y, args.workers)
            local_times.append(t)
            print(f"  local {args.workers} threads: {t:.1f} s", file=sys.stderr)
            t, got, compute = run_dask(client, X, Y)
            dask_times.append(t)
            computes.append(compute)
            print(f"  dask {args.workers} workers x 1 thread: {t:.1f} s ({len(compute)} tasks)", file=sys.stderr)
            if not (np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])):
                raise SystemExit("the Dask result differs from the local one")
    load_after = os.getloadavg()[0]
    best_local, best_dask = min(local_times), min(dask_times)
    compute = computes[dask_times.index(best_dask)]
    total = sum(compute)
    pairs = len(X) * len(Y)
    m = machine_info()
    lines = [
        "# nnzip on Dask: what distribution costs",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared), Python {m['python']}, dask {distributed.__version__}. "
        f"Date: {datetime.date.today()}. nnzip {nnzip.__version__}.",
        "",
        "Command: `NNZIP_DATA_DIR=../shared/data flock /tmp/nnzip-bench.lock python benchmarks/bench_dask.py "
        f"--repeat {args.repeat}{'' if args.limit_test is None else f' --limit-test {args.limit_test}'} "
        "--output benchmarks/dask.md`",
        "",
        f"Exact k={K} search of {args.dataset} test x train ({len(X):,} x {len(Y):,} = {pairs:,} pairs), run "
        f"alternately {args.repeat} times each, best kept; results identical every time. "
        f"Load average (1 min) before the runs {load_before:.1f}, after {load_after:.1f}: on a shared "
        "machine, compare the two rows of one run, not seconds across runs.",
        "",
        "| run | best wall, s | all runs, s | pairs per second |",
        "|---|---:|---:|---:|",
        f"| local, numba threads, n_jobs={args.workers} | {best_local:.1f} | "
        f"{', '.join(f'{t:.1f}' for t in local_times)} | {pairs / best_local:,.0f} |",
        f"| LocalCluster, {args.workers} worker processes x 1 thread | {best_dask:.1f} | "
        f"{', '.join(f'{t:.1f}' for t in dask_times)} | {pairs / best_dask:,.0f} |",
        "",
        f"**Throughput ratio, Dask / local: {best_local / best_dask:.3f}** (target >= 0.85).",
        "",
        "## What is shipped",
        "",
        "| item | pickled size | how often |",
        "|---|---:|---|",
        f"| training side + search settings (the fitted `NCDIndex`: {len(Y):,} texts, their lengths, compressor, "
        "metric) | "
        f"{sizes['side'] / 2**20:.2f} MiB | once per worker (`scatter(broadcast=True)`) |",
        f"| query block ({sizes['rows_per_task']} texts) | {sizes['block'] / 2**10:.1f} KiB (mean) | "
        f"once per task, {sizes['tasks']} tasks |",
        f"| result (top-{K} distances and indices of the block) | {sizes['result'] / 2**10:.1f} KiB | once per task |",
        "",
        "## Per-task compute time (Dask task stream, best Dask run)",
        "",
        f"{len(compute)} tasks: median {statistics.median(compute):.2f} s, min {min(compute):.2f} s, "
        f"max {max(compute):.2f} s, total {total:.1f} worker-seconds "
        f"({total / best_dask / args.workers:.0%} of {args.workers} workers' wall time busy computing).",
        "",
        "## Expected wall time on more workers",
        "",
        "From the measured per-task times: N worker threads (one per core) take at least the total "
        "compute divided by N, and never less than the longest task; with more workers than tasks the "
        "extra ones idle. Add the broadcast of the training side (its size x N over the network, once).",
        "",
        "| worker threads N | expected wall, s (max(total / N, longest task)) | speed-up vs local 2 threads |",
        "|---:|---:|---:|",
    ]
    for n in (2, 4, 8, 16, 32, 64):
        wall = max(total / n, max(compute))
        lines.append(f"| {n} | {wall:.1f} | {best_local / wall:.1f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        args.output.write_text(report)


if __name__ == "__main__":
    main()
