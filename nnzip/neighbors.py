"""k-nearest neighbours: selecting them, and voting with explicit, selectable tie-breaking.

Every kNN model in nnzip (the NCD classifier and the bag-of-words/embedding baselines) selects
its neighbours with :func:`top_k` (ties by training index) and predicts through :func:`vote`,
so that a tie is resolved the same way whatever the distance. :class:`KNeighborsVoteMixin`
gives them ``kneighbors``, ``predict``, ``predict_proba`` and ``vote`` and declares their
common parameters once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _distances
from .errors import ConfigError, InputError
from .validation import (
    POSITIVE_INT,
    RANDOM_STATE,
    IsCallable,
    Options,
    check_labels,
    check_n_neighbors,
    validate_params,
)

TIE_BREAKS = ("nearest", "decrement", "random", "lowest")
WEIGHTS = ("uniform", "distance")
#: The parameters of a vote, as every kNN model declares them.
VOTE_CONSTRAINTS: dict = {
    "tie_break": [Options(TIE_BREAKS)],
    "weights": [Options(WEIGHTS), IsCallable()],
    "random_state": RANDOM_STATE,
}
#: Distance cells per block of query rows in :func:`block_top_k` (32 MiB of float64): bounds memory.
BLOCK_CELLS = 1 << 22


def top_k(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest columns of each row of a distance matrix, ordered by (distance, column).

    Equivalent to ``np.argsort(dist, kind="stable")[:, :k]``; ``nan`` sorts last. Every
    neighbour search in nnzip selects its neighbours here.

    Returns
    -------
    distances : ndarray of float64 of shape (n_rows, k)
    indices : ndarray of int64 of shape (n_rows, k)
    """
    return _distances.stable_top_k(np.ascontiguousarray(dist, dtype=np.float64), k)


def block_top_k(
    distances: Callable[[slice], np.ndarray], n_queries: int, n_train: int, k: int, n_jobs: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest training items of every query, one block of query rows at a time.

    Parameters
    ----------
    distances : callable
        Maps a slice of query rows to their dense distance block of shape ``(rows, n_train)``.
    n_queries, n_train : int
        Matrix shape.
    k : int
        Neighbours per query.
    n_jobs : int or None
        Blocks computed in parallel threads (joblib semantics; ``None`` is one).

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
        Nearest first; equal distances ordered by training index (a stable sort).
    indices : ndarray of int64 of shape (n_queries, k)
    """
    rows = max(1, BLOCK_CELLS // max(n_train, 1))
    blocks = [slice(lo, min(lo + rows, n_queries)) for lo in range(0, n_queries, rows)]

    def one(block: slice) -> tuple[np.ndarray, np.ndarray]:
        return top_k(distances(block), k)

    # threads: scipy/BLAS products and the numba kernel release the GIL, and nothing is copied
    parts = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(b) for b in blocks)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def neighbor_weights(dist: np.ndarray, weights: str | Callable) -> np.ndarray:
    """Vote weight of each neighbour, following scikit-learn's ``weights`` semantics.

    With ``"distance"`` a neighbour weighs ``1 / d``; in a row where some neighbour has a
    distance of 0 or less, only those neighbours vote (an exact match decides).
    """
    dist = np.asarray(dist, dtype=np.float64)
    if weights == "uniform":
        return np.ones_like(dist)
    if weights == "distance":
        zero = dist <= 0
        with np.errstate(divide="ignore"):
            w = 1.0 / dist
        rows = zero.any(axis=1)
        w[rows] = zero[rows].astype(np.float64)
        return w
    w = np.asarray(cast(Callable, weights)(dist), dtype=np.float64)
    if w.shape != dist.shape:
        raise ConfigError(f"weights callable returned shape {w.shape}, expected {dist.shape}")
    return w


def class_scores(neigh_codes: np.ndarray, w: np.ndarray, n_classes: int) -> np.ndarray:
    """Sum of neighbour weights per class: array of shape ``(n_queries, n_classes)``."""
    n = neigh_codes.shape[0]
    scores = np.zeros((n, n_classes), dtype=np.float64)
    np.add.at(scores, (np.repeat(np.arange(n), neigh_codes.shape[1]), neigh_codes.ravel()), w.ravel())
    return scores


def _tied(scores: np.ndarray) -> np.ndarray:
    """Boolean mask of the classes sharing the top score in each row (float-tolerant)."""
    top = scores.max(axis=1, keepdims=True)
    return np.isclose(scores, top, rtol=1e-12, atol=0.0)


def vote(
    neigh_dist: np.ndarray,
    neigh_codes: np.ndarray,
    n_classes: int,
    *,
    tie_break: str = "nearest",
    weights: str | Callable = "uniform",
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict a class per query from its neighbours.

    Parameters
    ----------
    neigh_dist : ndarray of shape (n_queries, k)
        Distances to the neighbours, nearest first (ties already ordered by training index).
    neigh_codes : ndarray of int of shape (n_queries, k)
        Class index (into ``classes_``, which is sorted) of each neighbour.
    n_classes : int
        Number of classes.
    tie_break : {"nearest", "decrement", "random", "lowest"}
        How a tie for the most votes is resolved: ``"nearest"`` takes the tied class whose
        nearest member comes first; ``"decrement"`` drops the farthest neighbour until the
        tie is gone; ``"random"`` draws uniformly among the tied classes; ``"lowest"`` takes
        the smallest class (the original paper code's bias, kept for reproduction).
    weights : {"uniform", "distance"} or callable
        Vote weight of each neighbour, as in scikit-learn.
    random_state : int, RandomState or None
        Seed for ``tie_break="random"``.

    Returns
    -------
    codes : ndarray of int of shape (n_queries,)
        Predicted class index per query.
    scores : ndarray of shape (n_queries, n_classes)
        Vote weight per class (uniform weights: vote counts).
    """
    validate_params(VOTE_CONSTRAINTS, {"tie_break": tie_break, "weights": weights})
    neigh_codes = np.asarray(neigh_codes, dtype=np.int64)
    w = neighbor_weights(neigh_dist, weights)
    scores = class_scores(neigh_codes, w, n_classes)
    tied = _tied(scores)
    if tie_break == "lowest":
        return tied.argmax(axis=1), scores
    if tie_break == "random":
        rng = check_random_state(random_state)
        draw = rng.random_sample(scores.shape)
        return np.where(tied, draw, -1.0).argmax(axis=1), scores
    if tie_break == "nearest":
        n, k = neigh_codes.shape
        # rank of each class's nearest member among the neighbours (k where it has none)
        first = np.full((n, n_classes), k, dtype=np.int64)
        rows = np.repeat(np.arange(n), k)
        np.minimum.at(first, (rows, neigh_codes.ravel()), np.tile(np.arange(k), n))
        return np.where(tied, first, k + 1).argmin(axis=1), scores
    codes = np.full(neigh_codes.shape[0], -1, dtype=np.int64)
    for kk in range(neigh_codes.shape[1], 0, -1):
        open_rows = codes < 0
        if not open_rows.any():
            break
        sub = class_scores(neigh_codes[open_rows, :kk], w[open_rows, :kk], n_classes)
        sub_tied = _tied(sub)
        unique = sub_tied.sum(axis=1) == 1
        idx = np.flatnonzero(open_rows)[unique]
        codes[idx] = sub_tied[unique].argmax(axis=1)
    # rows still open had only zero-weight neighbours at every k: fall back to the nearest class
    left = codes < 0
    codes[left] = neigh_codes[left, 0]
    return codes, scores


class KNeighborsVoteMixin:
    """``kneighbors``, ``vote``, ``predict`` and ``predict_proba`` of a kNN classifier.

    The estimator has the parameters of :data:`VOTE_CONSTRAINTS` and ``n_neighbors`` (declared
    here in ``_parameter_constraints``, which it extends), stores ``classes_`` (sorted labels),
    ``_y`` (class index of each training item) and ``n_samples_fit_`` in ``fit`` (the first two
    via :meth:`_fit_labels`), and implements ``_kneighbors(X, k)``: the ``k`` nearest training
    items of each query, ordered by (distance, training index).
    """

    _parameter_constraints: dict = {"n_neighbors": POSITIVE_INT, **VOTE_CONSTRAINTS}
    # set by the estimator's __init__ and fit
    n_neighbors: int
    tie_break: str
    weights: str | Callable
    random_state: Any
    classes_: np.ndarray
    _y: np.ndarray
    n_samples_fit_: int

    def _fit_labels(self, y, n_samples: int) -> None:
        self.classes_, self._y = check_labels(y, n_samples)
        if len(self.classes_) == 1:
            warnings.warn(
                f"only one class ({self.classes_.tolist()[0]!r}) in the training labels: every prediction will be it",
                UserWarning,
                stacklevel=3,
            )

    def _kneighbors(self, X, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _training_queries(self):
        """The training items as queries, for ``kneighbors(X=None)``."""
        raise InputError(f"kneighbors needs X: {type(self).__name__} does not keep its training texts")

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """The nearest training items of each query.

        Parameters
        ----------
        X : sequence of str or bytes (or what the model takes), optional
            Queries. When omitted (models that keep their training texts), the neighbours of
            each training item other than itself.
        n_neighbors : int, optional
            Defaults to the constructor's ``n_neighbors``.
        return_distance : bool, default=True
            Whether to return the distances too.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance`` is true.
        indices : ndarray of int64 of shape (n_queries, n_neighbors)
            Indices of the neighbours in the training set, nearest first, ties by index.
        """
        check_is_fitted(self)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors)
        query_is_train = X is None
        if query_is_train:
            X = self._training_queries()
        check_n_neighbors(k, self.n_samples_fit_ - query_is_train)
        dist, idx = self._kneighbors(X, k + query_is_train)
        if query_is_train:
            # drop each item itself; where it is not among its own neighbours, drop the farthest
            own = idx == np.arange(len(idx))[:, None]
            own[~own.any(axis=1), -1] = True
            keep = ~own
            dist = dist[keep].reshape(len(idx), k)
            idx = idx[keep].reshape(len(idx), k)
        return (dist, idx) if return_distance else idx

    def vote(self, distances: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted labels and vote shares from neighbours found by ``kneighbors``.

        Lets a caller that needs the neighbours too (e.g. for the paper's top-k tie metric)
        search once and predict from the same result.

        Returns
        -------
        labels : ndarray of shape (n_queries,)
            Predicted labels.
        proba : ndarray of shape (n_queries, n_classes)
            Vote shares, columns in ``classes_`` order.
        """
        check_is_fitted(self)
        codes, scores = vote(
            distances,
            self._y[indices],
            len(self.classes_),
            tie_break=self.tie_break,
            weights=self.weights,
            random_state=self.random_state,
        )
        totals = scores.sum(axis=1, keepdims=True)
        # a row whose neighbours all weigh 0 (a callable weight) gets its predicted class
        empty = totals[:, 0] == 0
        scores[empty, codes[empty]] = 1.0
        totals[empty] = 1.0
        return self.classes_[codes], scores / totals

    def predict(self, X) -> np.ndarray:
        """Predicted label of each query in ``X`` (what ``kneighbors`` takes).

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        return self.vote(*self.kneighbors(X))[0]

    def predict_proba(self, X) -> np.ndarray:
        """Vote share of each class among the neighbours of each query in ``X``, columns in ``classes_`` order.

        Returns
        -------
        ndarray of shape (n_queries, n_classes)
        """
        return self.vote(*self.kneighbors(X))[1]
