"""Real pairs against ``gzip.compress``: 20news incl. pairs past 32 KiB (zlib's distance limit), R8, MR, Ohsumed, IMDb.

    NNZIP_DATA_DIR=../shared/data python benchmarks/check_exact_real.py

Seeded samples: 12 x 70 20news test texts (6 of the longest as queries, 10 of the longest
among the training side), and 10 x 200 test x train texts of R8, MR, Ohsumed and IMDb, all
through ``pairwise_compressed_len(n_jobs=2)`` (the dynamic-scheduling path), twice: with the
training texts' hash chains only (what a call with few queries uses) and with their full
kernel tables (``nnzip.lengths.TABLE_ROWS`` set to 0).  Prints the share of pairs equal to
``len(gzip.compress(x + b" " + y, 9))``.
"""

import gzip
import os
from pathlib import Path

import numpy as np

import nnzip
from nnzip import lengths

from _common import read_texts


def share_equal(xs: list[str], ys: list[str]) -> tuple[int, float, int]:
    """Pairs, share equal (both kernel modes together), longest pair in bytes."""
    want = np.array([[len(gzip.compress((x + " " + y).encode(), 9)) for y in ys] for x in xs])
    equal = []
    for table_rows in (10**9, 0):  # hash chains only; full y tables
        lengths.TABLE_ROWS = table_rows
        equal.append(nnzip.pairwise_compressed_len(xs, ys, n_jobs=2) == want)
    longest = max(len((x + " " + y).encode()) for x in xs for y in ys)
    return 2 * want.size, float(np.mean(equal)), longest


def main() -> None:
    if not os.environ.get("NNZIP_DATA_DIR"):
        raise SystemExit("Error: set NNZIP_DATA_DIR to the folder holding 20news, r8, mr, ohsumed and imdb")
    data = Path(os.environ["NNZIP_DATA_DIR"])
    rng = np.random.default_rng(0)
    news = read_texts(data / "20news/test.tsv.gz")
    order = np.argsort([len(t.encode()) for t in news])
    xs = [news[i] for i in order[-60:-54]] + [news[i] for i in rng.choice(len(news), 6, replace=False)]
    ys = [news[i] for i in rng.choice(len(news), 60, replace=False)] + [news[i] for i in order[-40:-30]]
    n, share, longest = share_equal(xs, ys)
    print(f"20news: {n} pairs, {share:.4f} equal, longest pair {longest:,} bytes")
    for name in ("r8", "mr", "ohsumed", "imdb"):
        train, test = read_texts(data / f"{name}/train.tsv.gz"), read_texts(data / f"{name}/test.tsv.gz")
        xs = [test[i] for i in rng.choice(len(test), 10, replace=False)]
        ys = [train[i] for i in rng.choice(len(train), 200, replace=False)]
        n, share, _ = share_equal(xs, ys)
        print(f"{name}: {n} pairs, {share:.4f} equal")


if __name__ == "__main__":
    main()
