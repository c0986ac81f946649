"""Accuracy and wall time of ZstdDictionaryClassifier settings on full benchmark datasets.

Run from the repository root (needs the benchmark data, see README), through the bench lock:

    NNZIP_DATA_DIR=../shared/data flock /tmp/nnzip-bench.lock \\
        python benchmarks/bench_zstd_dict.py --output benchmarks/zstd_dict.md

Every setting is fitted on the full training set and predicts the full test set; the time is
fit + predict, best of ``--repeats`` runs, in this one process. R8 gets the whole grid; the
other datasets the settings that decide the defaults. The temperature of ``predict_proba`` is
chosen on R8's training set only (a seeded two-thirds / one-third split), never on its test set.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss

from nnzip import NNZipError, ZstdDictionaryClassifier
from nnzip.data import load_local
from nnzip.evaluate import machine as machine_info

DEFAULTS = {"level": 9, "dicts_per_class": 3, "dict_type": "raw", "dict_size": None}
# (label, parameters that differ from the defaults, n_jobs)
GRID = [
    ("default", {}, -1),
    ("default, one thread", {}, 1),
    ("1 per class", {"dicts_per_class": 1}, -1),
    ("5 per class", {"dicts_per_class": 5}, -1),
    ("level 3", {"level": 3}, -1),
    ("level 19", {"level": 19}, -1),
    ("1 per class, level 19", {"dicts_per_class": 1, "level": 19}, -1),
    ("5 per class, level 19", {"dicts_per_class": 5, "level": 19}, -1),
    ("raw, last 64 KiB", {"dict_size": 65_536}, -1),
    ("raw, last 256 KiB", {"dict_size": 262_144}, -1),
    ("trained 110 KiB, 1 per class", {"dict_type": "trained", "dicts_per_class": 1}, -1),
    ("trained 110 KiB", {"dict_type": "trained"}, -1),
    ("trained 32 KiB", {"dict_type": "trained", "dict_size": 32_768}, -1),
]
CORE = ("default", "1 per class", "5 per class", "trained 110 KiB")
TEMPERATURES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def run(ds, params: dict, n_jobs: int, repeats: int) -> tuple[float, float]:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        clf = ZstdDictionaryClassifier(**params, n_jobs=n_jobs).fit(ds.X_train, ds.y_train)
        pred = clf.predict(ds.X_test)
        best = min(best, time.perf_counter() - start)
    return float(np.mean(pred == np.asarray(ds.y_test))), best


def temperature_table(ds) -> list[str]:
    order = np.random.default_rng(0).permutation(len(ds.X_train))
    cut = 2 * len(order) // 3
    fit_idx, val_idx = order[:cut], order[cut:]
    clf = ZstdDictionaryClassifier(n_jobs=-1).fit([ds.X_train[i] for i in fit_idx], [ds.y_train[i] for i in fit_idx])
    X_val = [ds.X_train[i] for i in val_idx]
    y_val = [ds.y_train[i] for i in val_idx]
    rows = ["| temperature (bytes) | log loss |", "|---:|---:|"]
    for t in TEMPERATURES:
        proba = clf.set_params(temperature=t).predict_proba(X_val)
        rows.append(f"| {t} | {log_loss(y_val, proba, labels=clf.classes_):.4f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["r8", "ohsumed", "mr", "20news", "imdb"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    lines = [
        "# ZstdDictionaryClassifier settings",
        "",
        f"Produced by `NNZIP_DATA_DIR=../shared/data flock /tmp/nnzip-bench.lock python benchmarks/bench_zstd_dict.py "
        f"--datasets {' '.join(args.datasets)} --repeats {args.repeats}` on {datetime.date.today().isoformat()}; "
        f"machine: {machine_info()['cpu']}, {machine_info()['cores']} cores.",
        "",
        "Full training and test sets. Seconds: fit + predict, best of the repeats (test sets under 3,000 "
        "items) or one run (the others), all cores unless the row says one thread. "
        f"Defaults: {', '.join(f'{k}={v!r}' for k, v in DEFAULTS.items())}.",
        "",
        "| dataset | train | test | setting | accuracy | seconds |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name in args.datasets:
        ds = load_local(name)
        repeats = args.repeats if len(ds.X_test) < 3000 else 1
        for label, params, n_jobs in GRID:
            if name != "r8" and label not in CORE:
                continue
            try:
                acc, seconds = run(ds, {**DEFAULTS, **params}, n_jobs, repeats)
            except NNZipError as exc:  # e.g. too few texts in a class to train a dictionary
                row = f"| {name} | {len(ds.X_train)} | {len(ds.X_test)} | {label} | error: {exc} | |"
            else:
                row = f"| {name} | {len(ds.X_train)} | {len(ds.X_test)} | {label} | {acc:.4f} | {seconds:.2f} |"
            print(row, flush=True)
            lines.append(row)
    if "r8" in args.datasets:
        lines += ["", "## predict_proba temperature", "",
                  "Log loss on a seeded third of R8's training set, dictionaries built from the other two thirds "
                  "(default settings):", "", *temperature_table(load_local("r8"))]
        print("\n".join(lines[-len(TEMPERATURES) - 2:]))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
