"""Side-by-side timings behind the README's main-job and search figures (one process, one run).

    NNZIP_DATA_DIR=../shared/data python benchmarks/bench_main_job.py

* the main job (fit + predict of the embedded BBC split, k=2) with one thread and with all
  cores, best of ``--repeat``, kernels compiled first;
* full R8 (2,189 x 5,485) exact against ``search="rerank"`` (default M), end to end, with the
  share of identical predictions;
* one R8 query against five copies of the training set (27,425 texts) on one and two threads.
"""

from __future__ import annotations

import argparse

import numpy as np

import nnzip
from nnzip.data import load_bbc, load_local

from _common import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    nnzip.warmup()
    bbc = load_bbc()
    best: dict[int, float] = {}
    for _ in range(args.repeat):
        for jobs in (1, -1):
            clf = nnzip.NCDKNeighborsClassifier(n_jobs=jobs)
            seconds, acc = timed(lambda clf=clf: clf.fit(bbc.X_train, bbc.y_train).score(bbc.X_test, bbc.y_test))
            best[jobs] = min(best.get(jobs, np.inf), seconds)
            print(f"bbc main job, n_jobs={jobs}: {seconds:.1f} s, accuracy {acc:.4f}", flush=True)
    print(f"bbc best: one thread {best[1]:.1f} s, all cores {best[-1]:.1f} s ({best[1] / best[-1]:.2f}x)")

    r8 = load_local("r8")
    te, exact = timed(lambda: nnzip.NCDKNeighborsClassifier(n_jobs=-1).fit(r8.X_train, r8.y_train).predict(r8.X_test))
    clf = nnzip.NCDKNeighborsClassifier(n_jobs=-1, search="rerank")
    tr, rerank = timed(lambda: clf.fit(r8.X_train, r8.y_train).predict(r8.X_test))
    print(f"full r8: exact {te:.1f} s, rerank (M={clf.index_.n_candidates_}) {tr:.1f} s, {te / tr:.1f}x, "
          f"identical predictions {np.mean(exact == rerank):.4f}")

    query, many = r8.X_test[:1], r8.X_train * 5
    t1, _ = timed(lambda: nnzip.pairwise_compressed_len(query, many, n_jobs=1))
    t2, _ = timed(lambda: nnzip.pairwise_compressed_len(query, many, n_jobs=2))
    print(f"one query x {len(many)} texts: 1 thread {t1:.2f} s, 2 threads {t2:.2f} s ({t1 / t2:.2f}x)")


if __name__ == "__main__":
    main()
