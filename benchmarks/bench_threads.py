"""Thread scaling of the gzip kernel: one thread against two on the same calls, side by side.

    NNZIP_DATA_DIR=../shared/data python benchmarks/bench_threads.py

* a 20 x 1,000 call on AG News test texts (the texts of ``bench_ncd.py``);
* a 5 x 250 call on 20 Newsgroups test texts (long);
* one R8 query against five copies of R8's training set (27,425 texts), as a
  ``pairwise_compressed_len`` call (which encodes and packs the 27,425 texts on every call,
  one thread, and builds their hash chains) and as ``predict`` of a fitted
  ``NCDKNeighborsClassifier`` (packed once, at fit; 8 other queries predicted first, so
  that its kernel tables are built, as in a classifier in use).

Each call runs with ``n_jobs=1`` and ``n_jobs=2`` alternately, ``--repeat`` times; the best
time of each is kept and their ratio printed.  Results are checked equal between the two.
"""

from __future__ import annotations

import time

import numpy as np

import nnzip
from nnzip.data import load_local

from _common import data_args


def best_times(X, Y, repeat: int) -> tuple[float, float]:
    ref = nnzip.pairwise_compressed_len(X, Y, n_jobs=1)
    assert (nnzip.pairwise_compressed_len(X, Y, n_jobs=2) == ref).all()
    best = {1: np.inf, 2: np.inf}
    for _ in range(repeat):
        for jobs in (1, 2):
            start = time.perf_counter()
            nnzip.pairwise_compressed_len(X, Y, n_jobs=jobs)
            best[jobs] = min(best[jobs], time.perf_counter() - start)
    return best[1], best[2]


def main() -> None:
    args, ag, news = data_args(__doc__)
    nnzip.warmup()
    r8 = load_local("r8")
    calls = {
        "AG News 20 x 1,000": (ag[:20], ag[1000:2000]),
        "20news 5 x 250": (news[:5], news[1000:1250]),
        "one R8 query x 27,425": (r8.X_test[:1], r8.X_train * 5),
    }
    for name, (X, Y) in calls.items():
        t1, t2 = best_times(X, Y, args.repeat)
        n = len(X) * len(Y)
        print(f"{name}: 1 thread {t1 * 1e3:.1f} ms ({t1 / n * 1e6:.2f} us/pair), "
              f"2 threads {t2 * 1e3:.1f} ms, {t1 / t2:.2f}x", flush=True)
    clf = nnzip.NCDKNeighborsClassifier(n_jobs=-1).fit(r8.X_train * 5, r8.y_train * 5)
    clf.predict(r8.X_test[1:9])  # a classifier in use: 8 query rows served, its kernel tables built
    query = r8.X_test[:1]
    best = {1: np.inf, 2: np.inf}
    for _ in range(args.repeat):
        for jobs in (1, 2):
            clf.set_params(n_jobs=jobs)
            start = time.perf_counter()
            clf.predict(query)
            best[jobs] = min(best[jobs], time.perf_counter() - start)
    print(f"predict of one R8 query, fitted on 27,425 texts: 1 thread {best[1] * 1e3:.1f} ms, "
          f"2 threads {best[2] * 1e3:.1f} ms, {best[1] / best[2]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
