"""Evaluation helpers that scikit-learn does not have.

Ordinary figures (accuracy, macro-F1) come from :mod:`sklearn.metrics`; this module only adds
the paper's optimistic scoring, kept under a name that says what it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def top_k_tie_accuracy(y_true: Sequence, neighbor_labels: Sequence[Sequence] | np.ndarray) -> float:
    """Share of queries whose true label is *among* the classes tied for most votes.

    This reproduces the scoring of Jiang et al. (2023)'s code: with k=2 and two different
    neighbour labels, the query is counted correct if *either* label is right. It is **not**
    the accuracy of any classifier (no classifier can output both labels); it is an upper
    bound kept only to reproduce the paper's tables.

    Parameters
    ----------
    y_true : sequence of shape (n_queries,)
        True labels.
    neighbor_labels : array-like of shape (n_queries, k)
        Labels of the k nearest training items of each query.

    Returns
    -------
    float
        The share in [0, 1].
    """
    labels = np.asarray(neighbor_labels, dtype=object)
    y = list(y_true)
    if labels.ndim != 2 or labels.shape[0] != len(y):
        raise ValueError(
            f"neighbor_labels must have shape (n_queries, k) with n_queries={len(y)}, got {labels.shape}"
        )
    if len(y) == 0:
        raise ValueError("top_k_tie_accuracy needs at least one query")
    hits = 0
    for truth, row in zip(y, labels):
        counts = Counter(row.tolist())
        top = max(counts.values())
        hits += counts.get(truth, 0) == top
    return hits / len(y)
