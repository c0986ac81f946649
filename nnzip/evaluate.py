"""Fit a model on a dataset, predict its test set and score it: the job behind ``nnzip classify``."""

from __future__ import annotations

import csv
import json
import os
import platform
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from .data import Dataset
from .errors import InputError
from .fileio import atomic_write
from .metrics import top_k_tie_accuracy


@dataclass
class Evaluation:
    """Predictions and figures of one fitted model on one test set.

    Attributes
    ----------
    predictions : ndarray
        Predicted label per test item.
    nearest_distance : ndarray or None
        Distance to the nearest training item (kNN models only).
    metrics : dict
        ``accuracy``, ``macro_f1`` and ``top_k_tie_accuracy`` (``None`` without test labels,
        the last also for models that are not kNN), ``n_train``, ``n_test``, ``seconds``.
    """

    predictions: np.ndarray
    nearest_distance: np.ndarray | None
    metrics: dict


def evaluate(model, ds: Dataset) -> Evaluation:
    """Fit ``model`` on the training part of ``ds`` and evaluate it on the test part.

    A kNN model (one with ``kneighbors`` and ``vote``) searches once and predicts from those
    neighbours, which also gives the paper's top-k tie figure (see
    :func:`nnzip.metrics.top_k_tie_accuracy`).
    """
    start = time.perf_counter()
    model.fit(ds.X_train, ds.y_train)
    nearest = neighbor_labels = None
    if hasattr(model, "kneighbors") and hasattr(model, "vote"):
        dist, idx = model.kneighbors(ds.X_test)
        predictions = model.vote(dist, idx)[0]
        nearest = dist[:, 0]
        neighbor_labels = np.asarray(ds.y_train, dtype=object)[idx]
    else:
        predictions = np.asarray(model.predict(ds.X_test))
    seconds = time.perf_counter() - start
    metrics = {
        "accuracy": None,
        "macro_f1": None,
        "top_k_tie_accuracy": None,
        "n_train": len(ds.X_train),
        "n_test": len(ds.X_test),
        "seconds": round(seconds, 3),
    }
    if ds.y_test is not None:
        # labels were checked to be all str or all int (nnzip.neighbors.check_labels), so plain
        # arrays have a dtype scikit-learn's metrics understand; object arrays of ints do not
        y_true = np.asarray(ds.y_test)
        y_pred = np.asarray(predictions.tolist())
        metrics["accuracy"] = float(accuracy_score(y_true, y_pred))
        metrics["macro_f1"] = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
        if neighbor_labels is not None:
            metrics["top_k_tie_accuracy"] = top_k_tie_accuracy(ds.y_test, neighbor_labels)
    return Evaluation(predictions, nearest, metrics)


def _write(path: str | os.PathLike, write) -> None:
    try:
        atomic_write(path, write)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_predictions(path: str | os.PathLike, ev: Evaluation, y_true: list | None) -> None:
    """Write ``id, predicted[, true][, neighbor_distance]`` rows as CSV, atomically."""
    header = ["id", "predicted"] + (["true"] if y_true is not None else [])
    header += ["neighbor_distance"] if ev.nearest_distance is not None else []

    def write(f) -> None:
        w = csv.writer(f)
        w.writerow(header)
        for i, pred in enumerate(ev.predictions):
            row = [i, pred] + ([y_true[i]] if y_true is not None else [])
            row += [f"{ev.nearest_distance[i]:.6f}"] if ev.nearest_distance is not None else []
            w.writerow(row)

    _write(path, write)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    _write(path, lambda f: f.write(text))


def _json_default(value):
    # numpy scalars (an int label, a count) serialise as the Python value they hold
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def machine() -> dict:
    """Where figures were produced: CPU model, cores, Python, zlib and nnzip versions (for result files)."""
    from . import __version__

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "nnzip": __version__}
