"""Full exact searches on 2 cores: R8 timed end to end, IMDb projected from a seeded sample.

    NNZIP_DATA_DIR=../shared/data python benchmarks/bench_exact_full.py

* full R8 (2,189 test x 5,485 train), ``NCDKNeighborsClassifier(n_jobs=-1)`` fit + predict,
  exact search, kernels compiled first;
* IMDb: ``--imdb-test`` seeded test texts against ``--imdb-train`` seeded training texts
  with ``pairwise_compressed_len(n_jobs=-1)``; seconds per pair times 25,000 x 25,000 is
  the projection of the full exact search.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nnzip
from nnzip.data import load_local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb-test", type=int, default=100)
    parser.add_argument("--imdb-train", type=int, default=2500)
    parser.add_argument("--skip-r8", action="store_true")
    args = parser.parse_args()
    nnzip.warmup()
    if not args.skip_r8:
        r8 = load_local("r8")
        start = time.perf_counter()
        pred = nnzip.NCDKNeighborsClassifier(n_jobs=-1).fit(r8.X_train, r8.y_train).predict(r8.X_test)
        seconds = time.perf_counter() - start
        print(f"full r8 exact (2,189 x 5,485), 2 cores: {seconds:.1f} s, accuracy {np.mean(pred == r8.y_test):.4f}",
              flush=True)
    imdb = load_local("imdb")
    rng = np.random.default_rng(0)
    X = [imdb.X_test[i] for i in rng.choice(len(imdb.X_test), args.imdb_test, replace=False)]
    Y = [imdb.X_train[i] for i in rng.choice(len(imdb.X_train), args.imdb_train, replace=False)]
    start = time.perf_counter()
    nnzip.pairwise_compressed_len(X, Y, n_jobs=-1)
    per_pair = (time.perf_counter() - start) / (len(X) * len(Y))
    full = per_pair * len(imdb.X_test) * len(imdb.X_train)
    print(f"imdb {len(X)} x {len(Y)} seeded sample, 2 cores: {per_pair * 1e6:.2f} us/pair; "
          f"full exact search ({len(imdb.X_test):,} x {len(imdb.X_train):,}) projected {full / 3600:.2f} h", flush=True)


if __name__ == "__main__":
    main()
