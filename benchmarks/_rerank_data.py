"""Datasets and cached exact references for ``bench_rerank.py`` (kept apart so tuning scripts share them)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import nnzip
from nnzip.data import Dataset, load_bbc, load_local

CACHE = Path(__file__).resolve().parent / ".cache"
DATASETS = ["r8", "ohsumed", "mr", "bbc", "20news", "imdb"]
# exact search of the whole test set takes 20+ minutes on 2 cores for these: a seeded sample
SAMPLE = {"20news": 400, "imdb": 400}
K_REF = 10  # exact neighbours kept per query (recall@k for k <= K_REF)


def load(name: str, sample: int | None = None) -> Dataset:
    """The dataset, its test set cut to a seeded sample (the experiments runner's scheme)."""
    ds = load_bbc() if name == "bbc" else load_local(name)
    if sample is not None and sample < len(ds.X_test):
        keep = np.sort(np.random.default_rng(0).choice(len(ds.X_test), sample, replace=False))
        ds.X_test = [ds.X_test[i] for i in keep]
        ds.y_test = [ds.y_test[i] for i in keep]
    return ds


def exact_reference(name: str, ds: Dataset, n_jobs: int = 2) -> dict:
    """Exact top-``K_REF`` neighbours of every test item and the search's wall time, cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"exact_{name}_{len(ds.X_test)}.npz"
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    nnzip.warmup()
    start = time.perf_counter()
    dist, idx = nnzip.nearest_neighbors(ds.X_test, ds.X_train, K_REF, n_jobs=n_jobs, verbose=1)
    seconds = time.perf_counter() - start
    out = {"distances": dist, "indices": idx, "seconds": np.float64(seconds)}
    np.savez(path, **out)
    return out


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or DATASETS:
        ref = exact_reference(name, load(name, SAMPLE.get(name)))
        print(name, f"{float(ref['seconds']):.1f} s", flush=True)
