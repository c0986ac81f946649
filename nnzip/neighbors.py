"""k-nearest-neighbour voting with explicit, selectable tie-breaking.

Every kNN model in nnzip (the NCD classifier and the bag-of-words/embedding baselines)
predicts through :func:`vote`, so that a tie is resolved the same way whatever the distance.
"""

from __future__ import annotations

from collections.abc import Callable

import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .errors import ConfigError, InputError

TIE_BREAKS = ("nearest", "decrement", "random", "lowest")
WEIGHTS = ("uniform", "distance")


def check_tie_break(tie_break: str) -> str:
    """Return ``tie_break`` if it is a known mode, else raise a :class:`ConfigError` listing them."""
    if tie_break not in TIE_BREAKS:
        raise ConfigError(f"unknown tie_break {tie_break!r}; choose one of {', '.join(TIE_BREAKS)}")
    return tie_break


def check_weights(weights: str | Callable) -> str | Callable:
    """Return ``weights`` if it is ``"uniform"``, ``"distance"`` or a callable, else raise."""
    if callable(weights) or weights in WEIGHTS:
        return weights
    raise ConfigError(f"unknown weights {weights!r}; choose 'uniform', 'distance' or a callable")


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
    w = np.asarray(weights(dist), dtype=np.float64)
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
    check_tie_break(tie_break)
    neigh_codes = np.asarray(neigh_codes, dtype=np.int64)
    w = neighbor_weights(neigh_dist, check_weights(weights))
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


def _label_kind(value: object) -> str | None:
    """``"str"``, ``"int"`` or ``"bool"`` for a valid label, ``None`` for anything else."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    return None


def check_label_values(y, where: Callable[[int], str] = "y[{}]".format) -> list:
    """Check that labels are usable class names and return them as a list.

    The rules: every label is a ``str``, an ``int`` (numpy integers too) or a ``bool``, and
    all labels of one set have the same one of these types. Floats (``NaN`` included),
    ``None``, lists, dicts and bytes are refused, and so is a mix such as ``0`` and ``"0"``,
    which would otherwise be two different classes that print alike. ``True`` counts as a
    bool, not as the int 1.

    Parameters
    ----------
    y : sequence or ndarray of shape (n_samples,)
        Labels.
    where : callable, default=``"y[{}]".format``
        Names item ``i`` (0-based) in messages, e.g. ``lambda i: f"{path}: row {i + 1}"``.

    Returns
    -------
    list
        The labels.

    Raises
    ------
    InputError
        Naming the first bad item, or the first item whose type differs from the first item's.
    """
    if isinstance(y, np.ndarray):
        if y.ndim == 2 and y.shape[1] == 1:  # a column vector, as scikit-learn accepts
            y = y.ravel()
        if y.ndim != 1:
            raise InputError(f"labels must be one-dimensional, got an array of shape {y.shape}")
        if y.dtype.kind in "iubU":  # one type by construction: no per-item check needed
            return y.tolist()
    labels = list(y)
    first = None
    for i, value in enumerate(labels):
        kind = _label_kind(value)
        if kind is None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InputError(
                f"{where(i)}: label {shown} is a {type(value).__name__}; labels must be str or int "
                "(or bool), all of one type"
            )
        if first is None:
            first = (i, kind, value)
        elif kind != first[1]:
            raise InputError(
                f"{where(i)}: label {value!r} is a {kind} but {where(first[0])} has the {first[1]} label "
                f"{first[2]!r}; all labels must have one type (convert them all to str, or all to int)"
            )
    return labels


def check_labels(y, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate classification labels; return ``(classes, codes)`` with ``classes = np.unique(y)``.

    Labels follow the rules of :func:`check_label_values` (str, int or bool, one type). Every
    classifier in nnzip checks its labels here, in ``fit`` and before any work.

    Raises
    ------
    InputError
        If ``y`` is missing, its length differs from ``n_samples``, or a label breaks the rules.
    """
    if y is None:
        raise InputError("y is required: this classifier needs training labels")
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise InputError(f"y must be a sequence of labels, got {type(y).__name__}")
    y = np.asarray(y) if not isinstance(y, np.ndarray) and hasattr(y, "to_numpy") else y  # pandas Series
    labels = check_label_values(y)
    if len(labels) != n_samples:
        raise InputError(f"X has {n_samples} training items but y has {len(labels)} labels")
    # a list of one type becomes an array of that type: int64, bool or str (never object)
    arr = np.array(labels) if labels else np.array([], dtype=object)
    return np.unique(arr, return_inverse=True)


class KNeighborsVoteMixin:
    """``predict``/``predict_proba``/``vote`` for a classifier that implements ``kneighbors``.

    The estimator stores ``classes_`` (sorted labels) and ``_y`` (class index of each training
    item) in ``fit`` via :meth:`_fit_labels`, and has ``tie_break``, ``weights`` and
    ``random_state`` parameters.
    """

    def _fit_labels(self, y, n_samples: int) -> None:
        self.classes_, self._y = check_labels(y, n_samples)
        if len(self.classes_) == 1:
            warnings.warn(
                f"only one class ({self.classes_.tolist()[0]!r}) in the training labels: every prediction will be it",
                UserWarning,
                stacklevel=3,
            )

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
        """Predicted label of each query.

        Parameters
        ----------
        X : sequence of str or bytes (or what ``kneighbors`` takes)
            Queries.

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        return self.vote(*self.kneighbors(X))[0]

    def predict_proba(self, X) -> np.ndarray:
        """Vote share of each class among the neighbours, columns in ``classes_`` order.

        Parameters
        ----------
        X : sequence of str or bytes (or what ``kneighbors`` takes)
            Queries.

        Returns
        -------
        ndarray of shape (n_queries, n_classes)
        """
        return self.vote(*self.kneighbors(X))[1]


def check_n_neighbors(k, n_samples_fit: int | None = None, name: str = "n_neighbors") -> int:
    """Validate a neighbour count: a positive int no larger than the training set."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"{name} must be a positive int, got {k!r}")
    if n_samples_fit is not None and k > n_samples_fit:
        raise InputError(f"{name}={k} is larger than the number of training items ({n_samples_fit})")
    return int(k)
