"""k-nearest neighbours: selecting them with their ties, and voting with explicit, selectable tie rules.

Every kNN model in nnzip (the NCD classifier and the bag-of-words/embedding baselines) selects
its neighbours here (:func:`top_k`, :func:`block_top_k`: the k nearest of each query *and every
training item tied with the k-th*, a :class:`~nnzip.tied_neighbors.TiedNeighbors`) and predicts
through :func:`tied_vote` (or, for the index-ordered convention of nnzip <= 0.1, :func:`vote`),
so that ties are resolved the same way whatever the distance. :class:`KNeighborsVoteMixin` gives
them ``tied_neighbors``, ``kneighbors``, ``predict``, ``predict_proba`` and ``vote`` and declares
their common parameters once.

How the vote treats distance ties (``distance_ties``) and ties for the most votes (``tie_break``)
is written once, in :func:`tied_vote`.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _distances
from .errors import ConfigError, InputError
from .tied_neighbors import TiedNeighbors
from .validation import (
    POSITIVE_INT,
    RANDOM_STATE,
    IsCallable,
    Options,
    as_bytes,
    check_labels,
    check_n_neighbors,
    validate_params,
)

TIE_BREAKS = ("nearest", "decrement", "random", "lowest")
WEIGHTS = ("uniform", "distance")
#: How the training texts tied at the k-th nearest distance take part in the vote (see :func:`tied_vote`).
DISTANCE_TIES = ("split", "all", "index")
#: The parameters of a vote, as every kNN model declares them.
VOTE_CONSTRAINTS: dict = {
    "distance_ties": [Options(DISTANCE_TIES)],
    "tie_break": [Options(TIE_BREAKS)],
    "weights": [Options(WEIGHTS), IsCallable()],
    "random_state": RANDOM_STATE,
}
#: Distance cells per block of query rows in :func:`block_top_k` (32 MiB of float64): bounds memory.
BLOCK_CELLS = 1 << 22
_NO_COLS = np.zeros((0, 0), dtype=np.int64)


def tied_rows(
    dist: np.ndarray, k: int, weight: np.ndarray | None = None, cols: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, every column at most as far as the k-th nearest, as CSR ``(indptr, ids, distances)``.

    The dispatch of :func:`nnzip._distances.tied_top_k`: rows sorted by (distance, id).

    Parameters
    ----------
    dist : ndarray of shape (n_rows, m)
        Distances; no NaN.
    k : int
        Neighbours, counted with multiplicity (``weight``).
    weight : ndarray of int64, optional
        How many items each id stands for (default: one each).
    cols : ndarray of int64 of shape (n_rows, m), optional
        Id of each cell, ascending along each row (default: the column).
    """
    dist = np.ascontiguousarray(dist, dtype=np.float64)
    if np.isnan(dist).any():
        raise InputError("the distances contain nan")
    n_ids = dist.shape[1] if cols is None else (int(cols.max()) + 1 if cols.size else 0)
    w = np.ones(n_ids, dtype=np.int64) if weight is None else np.ascontiguousarray(weight, dtype=np.int64)
    c = _NO_COLS if cols is None else np.ascontiguousarray(cols, dtype=np.int64)
    return _distances.tied_top_k(dist, k, w, c)


def top_k(dist: np.ndarray, k: int) -> TiedNeighbors:
    """The ``k`` nearest columns of each row of a distance matrix, with every column tied with the k-th.

    Every neighbour search in nnzip selects its neighbours here (or in :func:`tied_rows`).

    Parameters
    ----------
    dist : array-like of shape (n_rows, n_train)
        Distances; no NaN.
    k : int
        Neighbours, ``1 <= k <= n_train``.

    Returns
    -------
    TiedNeighbors
        Its first ``k`` entries per row are ``np.argsort(dist, kind="stable")[:, :k]``.
    """
    dist = np.asarray(dist, dtype=np.float64)
    k = check_n_neighbors(k, dist.shape[1])
    indptr, ids, d = tied_rows(dist, k)
    return TiedNeighbors(indptr, ids, d, k, dist.shape[1])


def block_top_k(
    distances: Callable[[slice], np.ndarray], n_queries: int, n_train: int, k: int, n_jobs: int | None = None
) -> TiedNeighbors:
    """The ``k`` nearest training items of every query with their ties, one block of query rows at a time.

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
    TiedNeighbors
    """
    rows = max(1, BLOCK_CELLS // max(n_train, 1))
    blocks = [slice(lo, min(lo + rows, n_queries)) for lo in range(0, n_queries, rows)]

    def one(block: slice) -> TiedNeighbors:
        return top_k(distances(block), k)

    # threads: scipy/BLAS products and the numba kernel release the GIL, and nothing is copied
    parts = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(b) for b in blocks)
    if not parts:
        return TiedNeighbors(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0), k, n_train)
    return TiedNeighbors.concatenate(parts)


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
    """Predict a class per query from exactly k neighbours, positions deciding (the index-ordered convention).

    This is the vote of ``distance_ties="index"`` (nnzip <= 0.1, the paper's code): it sees
    the k neighbours a search that orders ties by training index returned, so its result
    depends on the training order wherever differently-labelled texts tie at the k-th distance,
    and ``"nearest"`` and ``"random"`` look at positions too. The order-free vote is
    :func:`tied_vote`.

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


def _entry_weights(neighbors: TiedNeighbors, weights: str | Callable, distance_ties: str) -> np.ndarray:
    """Vote weight of each entry of ``neighbors``: its distance group shares its places' weights equally.

    A row's places are its first k entries (``"split"``) or all of them (``"all"``); a place
    weighs what ``weights`` gives it (scikit-learn's semantics, on the row's distances). The
    entries of a group of equal distance share the total weight of the places the group
    occupies, in equal parts, so no entry's weight depends on where the training order put it.
    """
    d, indptr, rows = neighbors.distances, neighbors.indptr, neighbors.rows
    lengths = neighbors.row_lengths
    place = np.zeros(d.size, dtype=np.float64)
    if distance_ties == "split":
        cells = indptr[:-1, None] + np.arange(neighbors.n_neighbors)
        place[cells.ravel()] = neighbor_weights(d[cells], weights).ravel()
    elif weights == "uniform":
        place[:] = 1.0
    elif weights == "distance":
        zero = d <= 0
        exact_rows = np.bincount(rows[zero], minlength=lengths.size) > 0  # an exact match decides
        with np.errstate(divide="ignore"):
            place = np.where(exact_rows[rows], zero.astype(np.float64), 1.0 / d)
    else:  # a callable weighs rectangular blocks: rows of one length together
        for length in np.unique(lengths):
            cells = indptr[np.flatnonzero(lengths == length), None] + np.arange(length)
            place[cells.ravel()] = neighbor_weights(d[cells], weights).ravel()
    new_group = np.ones(d.size, dtype=bool)
    new_group[1:] = (rows[1:] != rows[:-1]) | (d[1:] != d[:-1])
    group = np.cumsum(new_group) - 1
    return (np.bincount(group, weights=place) / np.bincount(group))[group]


def _levels(neighbors: TiedNeighbors, codes: np.ndarray, values: np.ndarray, rows: np.ndarray, n_classes: int):
    """For the queries ``rows``: class totals of ``values`` over their distance groups, cumulated.

    Returns ``(totals, n_groups)``: ``totals[i, j]`` is the per-class sum over the first ``j + 1``
    distance groups of query ``rows[i]`` (shape ``(len(rows), max groups, n_classes)``).
    """
    d, indptr = neighbors.distances, neighbors.indptr
    lo, hi = indptr[rows], indptr[rows + 1]
    lens = hi - lo
    take = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
    local = np.repeat(np.arange(rows.size), lens)
    dd = d[take]
    new_group = np.ones(take.size, dtype=bool)
    new_group[1:] = (local[1:] != local[:-1]) | (dd[1:] != dd[:-1])
    group = np.cumsum(new_group) - 1
    n_groups = np.bincount(local[new_group], minlength=rows.size)
    first = np.cumsum(n_groups) - n_groups
    level = group - first[local]
    depth = int(n_groups.max(initial=0))
    totals = np.zeros((rows.size, depth, n_classes))
    np.add.at(totals, (local, level, codes[take]), values[take])
    return np.cumsum(totals, axis=1), n_groups


def _seed_bytes(random_state) -> bytes:
    """The key of the random tie rule's draws: the seed itself, or one draw from a generator."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, (bool, np.bool_)):
        return str(int(random_state)).encode()
    return str(check_random_state(random_state).randint(np.iinfo(np.int64).max, dtype=np.int64)).encode()


def neighborhood_keys(neighbors: TiedNeighbors, codes: np.ndarray, rows: np.ndarray) -> list[bytes]:
    """Per query of ``rows``, bytes that identify its neighbourhood without training positions.

    The (distance, class) pairs of its row, sorted: the same for the same query text wherever
    it stands, and under any training order. The random tie rule's key when the query texts
    are not at hand.
    """
    out = []
    for i in rows.tolist():
        lo, hi = neighbors.indptr[i], neighbors.indptr[i + 1]
        d, c = neighbors.distances[lo:hi], codes[lo:hi]
        o = np.lexsort((c, d))
        out.append(d[o].tobytes() + c[o].astype(np.int64).tobytes())
    return out


def tied_vote(
    neighbors: TiedNeighbors,
    train_codes: np.ndarray,
    n_classes: int,
    *,
    distance_ties: str = "split",
    tie_break: str = "nearest",
    weights: str | Callable = "uniform",
    random_state: int | np.random.RandomState | None = None,
    keys: Callable[[np.ndarray], list[bytes]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict a class per query from its k nearest and every training item tied with the k-th.

    Nothing here looks at a training item's position: the result is the same under any order of
    the training set (and of the queries).

    Parameters
    ----------
    neighbors : TiedNeighbors
        The neighbour structure; its ``n_neighbors`` is the k of the vote.
    train_codes : ndarray of int of shape (n_samples_fit,)
        Class index (into the sorted classes) of each training item.
    n_classes : int
        Number of classes.
    distance_ties : {"split", "all"}
        How the items tied at the k-th distance vote. ``"split"``: the ``r`` places left after
        the strictly nearer items are shared equally by the ``t`` tied items (weight ``r / t``
        each, times its ``weights`` weight), so the total weight stays k and the class totals
        are the average, over all training orders, of those of the index-ordered vote
        (:func:`vote`). ``"all"`` (R's ``class::knn``): every tied item counts fully. In both,
        items at one distance share the weight of the places they occupy equally (for a
        callable ``weights`` that weighs by rank, too).
    tie_break : {"nearest", "decrement", "random", "lowest"}
        How a tie for the most votes is resolved, without positions: ``"nearest"``: the tied
        class whose nearest member is closest; if equal, the one whose next nearest is closer,
        and so on (a class that runs out of members loses); then the classes' order.
        ``"decrement"``: drop the whole farthest distance group until the tie is gone (the
        classes' order among those still tied in the nearest group). ``"random"``: uniform
        among the tied classes, drawn from a hash keyed by ``random_state`` and the query's
        content (``keys``), so the same text gets the same answer wherever it stands.
        ``"lowest"``: the first tied class in the classes' order.
    weights : {"uniform", "distance"} or callable
        Weight of a place, as in scikit-learn (a callable weighs each row of distances on its own).
    random_state : int, RandomState or None
        Key of ``tie_break="random"``: an int gives the same draws in every call; otherwise one
        number drawn from the generator keys the call.
    keys : callable, optional
        ``keys(rows)``: bytes identifying each query of ``rows`` by content (e.g. its text).
        Default: :func:`neighborhood_keys`.

    Returns
    -------
    codes : ndarray of int64 of shape (n_queries,)
        Predicted class index per query.
    scores : ndarray of shape (n_queries, n_classes)
        Vote weight per class.
    """
    validate_params(VOTE_CONSTRAINTS, {"distance_ties": distance_ties, "tie_break": tie_break, "weights": weights})
    if distance_ties == "index":
        raise ConfigError('tied_vote votes without positions; distance_ties="index" is nnzip.neighbors.vote')
    n = neighbors.n_queries
    codes = np.asarray(train_codes, dtype=np.int64)[neighbors.indices]
    w = _entry_weights(neighbors, weights, distance_ties)
    scores = np.bincount(neighbors.rows * n_classes + codes, weights=w, minlength=n * n_classes).reshape(n, n_classes)
    tied = _tied(scores)
    pred = tied.argmax(axis=1)  # the first tied class: "lowest", and where there is no tie
    rows = np.flatnonzero(tied.sum(axis=1) > 1)
    if tie_break == "lowest" or not rows.size:
        return pred, scores
    cand = tied[rows]
    if tie_break == "random":
        seed = _seed_bytes(random_state)
        names = (keys or (lambda r: neighborhood_keys(neighbors, codes, r)))(rows)
        for i, (row, name) in enumerate(zip(cand, names)):
            draw = int.from_bytes(hashlib.blake2b(name, digest_size=8, key=seed[:64]).digest(), "little")
            pred[rows[i]] = np.flatnonzero(row)[(draw * int(row.sum())) >> 64]
        return pred, scores
    if tie_break == "nearest":
        # members per class up to each distance: the most members up to the first distance where
        # the tied classes differ is the class whose sorted member distances come first
        counts, n_groups = _levels(neighbors, codes, np.ones_like(w), rows, n_classes)
        for j in range(counts.shape[1]):
            act = (n_groups > j) & (cand.sum(axis=1) > 1)
            c = counts[act, j]
            best = np.where(cand[act], c, -1.0).max(axis=1, keepdims=True)
            cand[act] &= c == best
        pred[rows] = cand.argmax(axis=1)
        return pred, scores
    # decrement: scores over the nearest j groups, j falling, until one class leads
    totals, n_groups = _levels(neighbors, codes, w, rows, n_classes)
    done = np.zeros(rows.size, dtype=bool)
    for j in range(totals.shape[1] - 2, -1, -1):
        act = ~done & (n_groups - 1 > j)
        if not act.any():
            continue
        sub = _tied(totals[act, j])
        unique = sub.sum(axis=1) == 1
        idx = np.flatnonzero(act)
        pred[rows[idx[unique]]] = sub[unique].argmax(axis=1)
        done[idx[unique]] = True
        cand[idx[~unique]] = sub[~unique]
    left = ~done  # still tied in the nearest group: the first of those classes there
    present = totals[left, 0] > 0
    first = np.where((cand[left] & present).any(axis=1, keepdims=True), cand[left] & present, cand[left])
    pred[rows[left]] = first.argmax(axis=1)
    return pred, scores


def content_order(texts, codes: np.ndarray) -> np.ndarray:
    """Training items sorted by (text, label, index): a permutation for :meth:`TiedNeighbors.top_k`.

    Cutting a group of tied items in this order keeps the same texts (with the same labels)
    under any training order; only identical copies with the same label are told apart by
    index. Without texts (``None``), by label, then index.
    """
    n = len(codes)
    if texts is None:
        rank = np.zeros(n, dtype=np.int64)
    else:
        # str sort in code-point order, bytes in byte order: the same order for the same texts
        rank = np.unique(np.asarray(list(texts) + [None], dtype=object)[:-1], return_inverse=True)[1]
    return np.lexsort((np.arange(n), codes, rank.reshape(-1)))


class KNeighborsVoteMixin:
    """``tied_neighbors``, ``kneighbors``, ``vote``, ``predict`` and ``predict_proba`` of a kNN classifier.

    The estimator has the parameters of :data:`VOTE_CONSTRAINTS` and ``n_neighbors`` (declared
    here in ``_parameter_constraints``, which it extends), calls :meth:`_fit_labels` in ``fit``
    (storing ``classes_``, ``_y``, the class index of each training item, and the order that
    cuts ties by content) and sets ``n_samples_fit_``, and implements ``_tied_neighbors(X, k)``:
    the ``k`` nearest training items of each query with every item tied with the k-th, a
    :class:`~nnzip.tied_neighbors.TiedNeighbors` (e.g. from :func:`block_top_k`).
    """

    _parameter_constraints: dict = {"n_neighbors": POSITIVE_INT, **VOTE_CONSTRAINTS}
    # set by the estimator's __init__ and fit
    n_neighbors: int
    distance_ties: str
    tie_break: str
    weights: str | Callable
    random_state: Any
    classes_: np.ndarray
    _y: np.ndarray
    _content_order: np.ndarray
    n_samples_fit_: int

    def _fit_labels(self, y, n_samples: int, texts=None) -> None:
        """Store the labels and the content order; ``texts``: the training texts (None: none kept)."""
        self.classes_, self._y = check_labels(y, n_samples)
        self._content_order = content_order(texts, self._y)
        if len(self.classes_) == 1:
            warnings.warn(
                f"only one class ({self.classes_.tolist()[0]!r}) in the training labels: every prediction will be it",
                UserWarning,
                stacklevel=3,
            )

    def _tied_neighbors(self, X, k: int) -> TiedNeighbors:
        raise NotImplementedError

    def _training_queries(self):
        """The training items as queries, for ``X=None``."""
        raise InputError(f"kneighbors needs X: {type(self).__name__} does not keep its training texts")

    def _query_keys(self, X) -> list[bytes] | None:
        """Bytes identifying each query by content (the random tie rule's key), or None."""
        return as_bytes(X, "X")

    def tied_neighbors(self, X=None, n_neighbors: int | None = None) -> TiedNeighbors:
        """The k nearest training items of each query and every training item tied with the k-th.

        One search serves several k: ``tied_neighbors(X, 5).with_k(2)`` is ``tied_neighbors(X, 2)``.

        Parameters
        ----------
        X : sequence of str or bytes (or what the model takes), optional
            Queries. When omitted (models that keep their training texts), the neighbours of
            each training item other than itself.
        n_neighbors : int, optional
            k; defaults to the constructor's ``n_neighbors``.

        Returns
        -------
        TiedNeighbors
            Rows ordered by (distance, training index); see :meth:`vote` and :meth:`kneighbors`.
        """
        check_is_fitted(self)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors)
        if X is None:
            check_n_neighbors(k, self.n_samples_fit_ - 1)
            return self._tied_neighbors(self._training_queries(), k + 1).exclude_self()
        check_n_neighbors(k, self.n_samples_fit_)
        return self._tied_neighbors(X, k)

    def cut_ties(self, neighbors: TiedNeighbors) -> tuple[np.ndarray, np.ndarray]:
        """Exactly k neighbours per query from a :class:`~nnzip.tied_neighbors.TiedNeighbors`, as ``kneighbors`` does.

        With ``distance_ties="index"`` the first k by (distance, training index), as nnzip <= 0.1;
        otherwise the items tied at the k-th distance are cut by content: by (distance, training
        text, label), and only between identical copies with the same label by index. The
        distances, and which texts and labels are returned, are then the same under any order
        of the training set. (``metric="precomputed"`` has no texts: by label, then index.)

        Returns
        -------
        distances : ndarray of shape (n_queries, k)
        indices : ndarray of int64 of shape (n_queries, k)
        """
        check_is_fitted(self)
        return neighbors.top_k(None if self.distance_ties == "index" else self._content_order)

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """The k nearest training items of each query (ties at the k-th distance cut: :meth:`cut_ties`).

        Parameters
        ----------
        X, n_neighbors
            As in :meth:`tied_neighbors`.
        return_distance : bool, default=True
            Whether to return the distances too.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance`` is true.
        indices : ndarray of int64 of shape (n_queries, n_neighbors)
            Indices of the neighbours in the training set, nearest first. Every training item
            tied with the returned ones is in :meth:`tied_neighbors`.
        """
        dist, idx = self.cut_ties(self.tied_neighbors(X, n_neighbors))
        return (dist, idx) if return_distance else idx

    def vote(self, neighbors: TiedNeighbors, X=None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted labels and vote shares from a neighbour structure found by :meth:`tied_neighbors`.

        Lets a caller that needs the neighbours too (e.g. for the paper's top-k tie metric, or
        several k from one search with ``neighbors.with_k(k)``) search once and predict from
        the same result. The structure's ``n_neighbors`` is the k of the vote; the model's
        ``distance_ties``, ``tie_break``, ``weights`` and ``random_state`` decide (see
        :func:`tied_vote`, and :func:`vote` for ``distance_ties="index"``).

        Parameters
        ----------
        neighbors : TiedNeighbors
            The neighbours of each query in this model's training set.
        X : sequence, optional
            The queries themselves: ``tie_break="random"`` keys each draw by the query's text
            (without ``X``, by its neighbourhood: its (distance, label) pairs).

        Returns
        -------
        labels : ndarray of shape (n_queries,)
            Predicted labels.
        proba : ndarray of shape (n_queries, n_classes)
            Vote shares, columns in ``classes_`` order.
        """
        check_is_fitted(self)
        if not isinstance(neighbors, TiedNeighbors):
            raise InputError(f"vote takes a TiedNeighbors (from tied_neighbors), got {type(neighbors).__name__}")
        if neighbors.n_samples_fit != self.n_samples_fit_:
            raise InputError(f"the neighbours are from a training set of {neighbors.n_samples_fit} items; this model "
                             f"has {self.n_samples_fit_}")
        if self.distance_ties == "index":
            distances, indices = neighbors.top_k()
            codes, scores = vote(distances, self._y[indices], len(self.classes_), tie_break=self.tie_break,
                                 weights=self.weights, random_state=self.random_state)
        else:
            keys = None
            if X is not None and self.tie_break == "random":
                texts = self._query_keys(X)
                if texts is not None:
                    if len(texts) != neighbors.n_queries:
                        raise InputError(f"X has {len(texts)} queries but the neighbours {neighbors.n_queries}")
                    keys = lambda rows: [hashlib.sha256(texts[i]).digest() for i in rows.tolist()]  # noqa: E731
            codes, scores = tied_vote(neighbors, self._y, len(self.classes_), distance_ties=self.distance_ties,
                                      tie_break=self.tie_break, weights=self.weights,
                                      random_state=self.random_state, keys=keys)
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
        return self.vote(self.tied_neighbors(X), X)[0]

    def predict_proba(self, X) -> np.ndarray:
        """Vote share of each class among the neighbours of each query in ``X``, columns in ``classes_`` order.

        With ``distance_ties="split"`` and uniform or distance weights, this is the average over
        every order of the training set of the index-ordered vote's shares.

        Returns
        -------
        ndarray of shape (n_queries, n_classes)
        """
        return self.vote(self.tied_neighbors(X), X)[1]
