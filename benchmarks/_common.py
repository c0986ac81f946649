"""What the benchmark scripts share: the staged data, validation splits, timing, the kernel scripts' options."""

from __future__ import annotations

import argparse
import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_texts(path: Path, n: int | None = None) -> list[str]:
    """The texts of a staged ``label<TAB>text`` file (gzip'd), split on ``\\n`` only; the first ``n`` if given."""
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")[:-1]
    return [line.split("\t", 1)[1] for line in lines[:n]]


def validation_split(y, size: int, seed: int = 0) -> tuple[Any, Any]:
    """Rows of a training set split into (fit rows, validation rows): stratified by ``y``, seeded, disjoint.

    ``size`` validation rows, drawn class by class in proportion (scikit-learn's
    ``train_test_split(stratify=y)``); both index arrays sorted. Settings tuned on the
    validation rows never see a test item.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    fit, val = train_test_split(rows, test_size=size, random_state=seed, stratify=np.asarray(y))
    return np.sort(fit), np.sort(val)


def carve(ds: Any, size: int, seed: int = 0) -> Any:
    """A :class:`nnzip.data.Dataset` made of ``ds``'s training set only: ``size`` validation items
    (:func:`validation_split`) as its test set, the remaining training items as its training set."""
    from nnzip.data import Dataset

    fit, val = validation_split(ds.y_train, size, seed)
    return Dataset(
        name=f"{ds.name} (validation)",
        X_train=[ds.X_train[i] for i in fit], y_train=[ds.y_train[i] for i in fit],
        X_test=[ds.X_train[i] for i in val], y_test=[ds.y_train[i] for i in val],
        notes=[f"{size} of the {len(ds.X_train)} training items (stratified, seed {seed}) against the other "
               f"{len(fit)}; no test item"],
    )


def orders(n: int, seed: int = 7) -> dict[str, Any]:
    """The training-file orders the tie scripts compare: as shipped, reversed, shuffled with ``seed``."""
    import numpy as np

    return {
        "as shipped": np.arange(n),
        "reversed": np.arange(n)[::-1].copy(),
        f"shuffled (seed {seed})": np.random.default_rng(seed).permutation(n),
    }


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, and what it returned."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def mr_out_args(doc: str, default_out: Path) -> argparse.Namespace:
    """Option ``--out`` (the Markdown file to write, ``default_out`` by default) of the scripts on
    full MR; exits with one line unless ``$NNZIP_DATA_DIR`` is set."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", default=str(default_out), help="Markdown file to write.")
    args = parser.parse_args()
    if not os.environ.get("NNZIP_DATA_DIR"):
        raise SystemExit("Error: set NNZIP_DATA_DIR to the folder holding mr/{train,test}.tsv.gz")
    return args


def data_args(doc: str) -> tuple[argparse.Namespace, list[str], list[str]]:
    """Options ``--data-dir`` (default ``$NNZIP_DATA_DIR``) and ``--repeat``, and the AG News and
    20news test texts the kernel benchmarks time."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("NNZIP_DATA_DIR"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("set NNZIP_DATA_DIR or pass --data-dir")
    data = Path(args.data_dir)
    return args, read_texts(data / "partial/ag_news/test.tsv.gz"), read_texts(data / "20news/test.tsv.gz", 2000)
