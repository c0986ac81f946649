"""k chosen by leave-one-out on R8's full training set (NCDKNeighborsClassifierCV), and what it gives on the test set.

Run from the repository root (needs the benchmark data, see README):

    NNZIP_DATA_DIR=../shared/data python benchmarks/cv_r8.py

One exact train x train gzip NCD search of R8's training set (each text against every other,
copies of a text left out together) scores every candidate (k, tie_break) by leave-one-out
accuracy; one exact test x train search then gives every candidate's test accuracy, so the
chosen model can be compared with k=2 (the paper's k) and with the best candidate in hindsight.
Writes ``benchmarks/cv_r8.md`` (``--dataset`` for another local dataset, ``--n-train`` for a
seeded subsample of the training set).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import nnzip  # noqa: E402
from nnzip.data import load_local  # noqa: E402
from nnzip.evaluate import machine  # noqa: E402

GRID = {"n_neighbors": (1, 2, 3, 5, 7, 9), "tie_break": ("nearest", "decrement")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="r8")
    parser.add_argument("--n-train", type=int, help="seeded subsample of the training set (default: all of it)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "cv_r8.md"))
    args = parser.parse_args()
    ds = load_local(args.dataset)
    X_train, y_train = ds.X_train, ds.y_train
    if args.n_train:
        keep = np.sort(np.random.default_rng(0).choice(len(X_train), args.n_train, replace=False))
        X_train, y_train = [X_train[i] for i in keep], [y_train[i] for i in keep]
    copies = Counter(X_train)
    in_groups = [i for i, t in enumerate(X_train) if copies[t] > 1]
    conflicting = {t for t in copies if copies[t] > 1 and len({y_train[i] for i in in_groups if X_train[i] == t}) > 1}

    nnzip.warmup()
    index = nnzip.NCDIndex(n_jobs=args.n_jobs).fit(X_train)
    # what the estimator prints before its search (verbose): the exact search's pairs among the distinct texts
    estimate = index.estimate_seconds(X_train) * index.n_distinct_ / index.n_samples_fit_

    cv = nnzip.NCDKNeighborsClassifierCV(**GRID, n_jobs=args.n_jobs, verbose=1)
    start = time.perf_counter()
    cv.fit(X_train, y_train)
    loo_seconds = time.perf_counter() - start

    model = cv.best_estimator_
    chosen = dict(cv.best_params_)
    start = time.perf_counter()
    tied = model.tied_neighbors(ds.X_test, max(GRID["n_neighbors"]))
    test_seconds = time.perf_counter() - start
    test_acc = []
    for params in cv.cv_results_["params"]:
        pred = model.set_params(**params).vote(tied.with_k(params["n_neighbors"]), ds.X_test)[0]
        test_acc.append(float(accuracy_score(np.asarray(ds.y_test), pred)))
    model.set_params(**chosen)
    best = int(np.argmax(test_acc))
    k2 = next(i for i, p in enumerate(cv.cv_results_["params"])
              if p["n_neighbors"] == 2 and p["tie_break"] == "nearest")

    m = machine()
    n, d = len(X_train), index.n_distinct_
    command = f"NNZIP_DATA_DIR=../shared/data python benchmarks/cv_r8.py --dataset {args.dataset}" + (
        f" --n-train {args.n_train}" if args.n_train else "") + f" --n-jobs {args.n_jobs}"
    lines = [
        f"# k chosen by leave-one-out on {args.dataset.upper()}: NCDKNeighborsClassifierCV",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs, so times are indicative), Python "
        f"{m['python']}, zlib {m['zlib']}; nnzip {m['nnzip']}; date {datetime.date.today().isoformat()}; "
        f"n_jobs={args.n_jobs}.",
        "",
        f"Training set: {n:,} items{' (seeded subsample)' if args.n_train else ' (all of it)'}, {d:,} distinct texts; "
        f"{len(in_groups)} items in {sum(1 for t in copies if copies[t] > 1)} groups of identical texts "
        f"(largest {max(copies.values())}), {len(conflicting)} of the groups with conflicting labels. "
        f"Leave-one-out leaves out a text's whole group, so a copy never votes for its text; each item is scored "
        f"against its own label. Test set: {len(ds.X_test):,} items.",
        "",
        f"- Train x train exact search and the votes of {len(cv.cv_results_['params'])} candidates "
        f"(`fit`): **{loo_seconds:.0f} s** for {d:,} x {d:,} = {d * d:,} pairs "
        f"(estimate printed before it: {nnzip.index.duration_text(estimate)}).",
        f"- Test x train exact search (k up to {max(GRID['n_neighbors'])}, reused for every candidate): "
        f"{test_seconds:.0f} s; the chosen model reuses the fitted training side (no second fit).",
        f"- Chosen: k={cv.n_neighbors_}, tie_break={chosen['tie_break']!r} (leave-one-out accuracy "
        f"{cv.best_score_:.4f}); its test accuracy **{test_acc[cv.best_index_]:.4f}**, against "
        f"**{test_acc[k2]:.4f}** for k=2, tie_break='nearest' (the paper's k) and {test_acc[best]:.4f} for the best "
        f"candidate in hindsight (k={cv.cv_results_['params'][best]['n_neighbors']}, "
        f"{cv.cv_results_['params'][best]['tie_break']!r}).",
        "",
        "Every candidate (distance_ties='split', weights='uniform'; ties between candidates go to the smallest k):",
        "",
        "| k | tie_break | leave-one-out accuracy (train) | rank | test accuracy |",
        "|---:|---|---:|---:|---:|",
    ]
    for i, params in enumerate(cv.cv_results_["params"]):
        mark = " (chosen)" if i == cv.best_index_ else ""
        lines.append(f"| {params['n_neighbors']} | {params['tie_break']}{mark} | "
                     f"{cv.cv_results_['mean_test_score'][i]:.4f} | {cv.cv_results_['rank_test_score'][i]} | "
                     f"{test_acc[i]:.4f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
