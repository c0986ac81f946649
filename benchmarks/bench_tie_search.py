"""An exact gzip-kNN search with boundary ties against an earlier revision's, side by side.

    NNZIP_DATA_DIR=../shared/data python benchmarks/bench_tie_search.py d3d4440

The earlier revision's ``nnzip`` package is taken from git (``git archive REV nnzip``) into a
scratch folder. Worker processes, alternating between the two versions round by round, each
compile (or load) the kernels, then time ``NCDKNeighborsClassifier(n_neighbors=2, n_jobs=2)``:
``fit`` on MR's full training set (7,108 texts, class-sorted) and ``predict`` on the first
``--queries`` test texts. The current revision runs with ``distance_ties="index"`` (the earlier
revision's convention), and its predictions must be identical; its default (``"split"``) is
timed too. Also timed in one process: the top-k selection alone on a 256 x 7,108 block of MR
distances, the earlier ``stable_top_k`` against ``tied_top_k``. Best of ``--rounds`` each.
Writes ``benchmarks/bench_tie_search.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import best_of, read_texts  # noqa: E402


def worker(data: Path, n_queries: int, distance_ties: str | None) -> None:
    """Time fit + predict here, with whatever ``nnzip`` this process imports; print JSON."""
    import nnzip
    from nnzip.data import load_local

    nnzip.warmup()
    os.environ["NNZIP_DATA_DIR"] = str(data)
    ds = load_local("mr")
    X, y, Q = ds.X_train, ds.y_train, ds.X_test[:n_queries]
    params = {} if distance_ties is None else {"distance_ties": distance_ties}
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=2, n_jobs=2, **params)
    start = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - start
    clf.predict(Q[:8])  # the training side's kernel tables, built once by any classifier in use
    start = time.perf_counter()
    pred = clf.predict(Q)
    predict_s = time.perf_counter() - start
    digest = hashlib.sha256("\n".join(map(str, pred)).encode()).hexdigest()[:16]
    print(json.dumps({"fit": fit_s, "predict": predict_s, "predictions": digest, "file": nnzip.__file__}))


def run_worker(path: str | None, data: Path, n_queries: int, distance_ties: str | None) -> dict:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path
    cmd = [sys.executable, __file__, "--worker", "--data-dir", str(data), "--queries", str(n_queries)]
    if distance_ties:
        cmd += ["--distance-ties", distance_ties]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        sys.exit(f"Error: the worker failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def selection(old_folder: str, data: Path, repeat: int) -> tuple[float, float]:
    """Top-k of a 256 x 7,108 block of MR distances: the earlier kernel against tied_top_k (k=2)."""
    import importlib.util

    import nnzip
    from nnzip import _distances as new

    spec = importlib.util.spec_from_file_location("old_distances", Path(old_folder) / "nnzip/_distances.py")
    old = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(old)  # type: ignore[union-attr]
    D = nnzip.pairwise_distances(read_texts(data / "mr/test.tsv.gz", 256), read_texts(data / "mr/train.tsv.gz"),
                                 n_jobs=2)
    ones, none = np.ones(D.shape[1], np.int64), np.zeros((0, 0), np.int64)
    old.stable_top_k(D[:2], 2)
    new.tied_top_k(D[:2], 2, ones, none)
    return best_of(lambda: old.stable_top_k(D, 2), repeat), best_of(lambda: new.tied_top_k(D, 2, ones, none), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", default="d3d4440")
    parser.add_argument("--data-dir", default=os.environ.get("NNZIP_DATA_DIR"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distance-ties", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "bench_tie_search.md"))
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("set NNZIP_DATA_DIR or pass --data-dir")
    data = Path(args.data_dir).resolve()
    if args.worker:
        worker(data, args.queries, args.distance_ties)
        return
    archive = subprocess.run(["git", "archive", args.revision, "nnzip"], capture_output=True, cwd=ROOT)
    if archive.returncode:
        sys.exit(f"Error: cannot take nnzip/ at {args.revision!r} from git ({archive.stderr.decode().strip()})")
    old = tempfile.mkdtemp(prefix="nnzip_old_")
    tarfile.open(fileobj=BytesIO(archive.stdout)).extractall(old, filter="data")
    runs: dict[str, list[dict]] = {"earlier": [], "index": [], "split": []}
    for r in range(args.rounds):
        runs["earlier"].append(run_worker(old, data, args.queries, None))
        runs["index"].append(run_worker(None, data, args.queries, "index"))
        runs["split"].append(run_worker(None, data, args.queries, "split"))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['predict']:.2f} s" for k, v in runs.items()), flush=True)
    assert Path(runs["earlier"][0]["file"]).is_relative_to(old), "the earlier revision was not the one imported"
    same = {run["predictions"] for run in runs["earlier"] + runs["index"]}
    old_sel, new_sel = selection(old, data, 20)
    best = {k: (min(r["fit"] for r in v), min(r["predict"] for r in v)) for k, v in runs.items()}
    from nnzip.evaluate import machine

    info = machine()
    lines = [
        "# Exact search with boundary ties against the earlier revision",
        "",
        f"Command: `NNZIP_DATA_DIR=../shared/data python benchmarks/bench_tie_search.py {args.revision}`  ",
        f"Machine: {info['cpu']}, {info['cores']} cores, **shared with other jobs** (timings are noisy; the versions "
        f"alternate round by round and the best of {args.rounds} is shown), Python {info['python']}, "
        f"nnzip {info['nnzip']} against {args.revision}; date {datetime.date.today().isoformat()}.",
        "",
        f"MR: fit on the 7,108 training texts, predict the first {args.queries} test texts, "
        "`NCDKNeighborsClassifier(n_neighbors=2, n_jobs=2)`, kernels compiled before timing, the training "
        "side's kernel tables built before timing.",
        "",
        "| version | fit (s) | predict (s) |",
        "|---|---:|---:|",
        f"| {args.revision} (ties by training index) | {best['earlier'][0]:.2f} | {best['earlier'][1]:.2f} |",
        f"| this revision, `distance_ties=\"index\"` | {best['index'][0]:.2f} | {best['index'][1]:.2f} |",
        f"| this revision, `distance_ties=\"split\"` (default) | {best['split'][0]:.2f} | {best['split'][1]:.2f} |",
        "",
        f"Predictions of {args.revision} and of `distance_ties=\"index\"`: "
        f"{'identical' if len(same) == 1 else 'DIFFERENT'} in every run.",
        "",
        f"Top-k selection alone (k=2, a 256 x 7,108 block of MR distances, best of 20): {args.revision}'s "
        f"`stable_top_k` {old_sel * 1e3:.2f} ms, `tied_top_k` {new_sel * 1e3:.2f} ms; the search computed those "
        f"1.8 million distances in about {best['index'][1] * 256 / args.queries:.0f} s.",
        "",
        "All runs (fit, predict in seconds):",
        "",
        *[f"- {k}: " + "; ".join(f"{r['fit']:.2f}, {r['predict']:.2f}" for r in v) for k, v in runs.items()],
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    if len(same) != 1:
        sys.exit("Error: the predictions differ")


if __name__ == "__main__":
    main()
