"""Evaluation helpers that scikit-learn does not have.

Ordinary figures (accuracy, macro-F1) come from :mod:`sklearn.metrics`; this module adds the
paper's optimistic scoring, kept under a name that says what it is, and the exact statistics
of how distance ties and the training order move kNN results (:func:`tie_order_effect`,
:func:`evaluate_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb, factorial, perm

import numpy as np

from .errors import ConfigError, InputError
from .neighbors import VOTE_CONSTRAINTS, vote
from .tied_neighbors import TiedNeighbors
from .validation import check_label_values, check_labels, validate_params


def _top_k_tie_hits(truth: np.ndarray, neigh_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Whether each query's true class has the most votes among its neighbours (ties included).

    ``truth`` outside ``range(n_classes)`` (a class no neighbour can have) is never a hit.
    """
    n, k = neigh_codes.shape
    counts = np.zeros((n, n_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), k), neigh_codes.ravel()), 1)
    known = (truth >= 0) & (truth < n_classes)
    own = counts[np.arange(n), np.where(known, truth, 0)]
    return known & (own == counts.max(axis=1, initial=0))


def top_k_tie_hits(y_true: Sequence, neighbor_labels: Sequence[Sequence] | np.ndarray) -> np.ndarray:
    """Per query, whether its true label is *among* the labels tied for most neighbours.

    The per-item form of :func:`top_k_tie_accuracy` (same rule, same arguments).

    Returns
    -------
    ndarray of bool of shape (n_queries,)
    """
    labels = np.asarray(neighbor_labels, dtype=object)
    y = list(y_true)
    if labels.ndim != 2 or labels.shape[0] != len(y):
        raise ValueError(
            f"neighbor_labels must have shape (n_queries, k) with n_queries={len(y)}, got {labels.shape}"
        )
    codes: dict = {}  # labels compare as Python values do (as a Counter of them would)
    neigh = np.array([codes.setdefault(v, len(codes)) for v in labels.ravel().tolist()], dtype=np.int64)
    truth = np.array([codes.get(v, -1) for v in y], dtype=np.int64)
    return _top_k_tie_hits(truth, neigh.reshape(labels.shape), len(codes))


def top_k_tie_accuracy(y_true: Sequence, neighbor_labels: Sequence[Sequence] | np.ndarray) -> float:
    """Share of queries whose true label is *among* the classes tied for most votes.

    This reproduces the scoring of Jiang et al. (2023)'s code: with k=2 and two different
    neighbour labels, the query is counted correct if *either* label is right. It is **not**
    the accuracy of any classifier (no classifier can output both labels); it is an upper
    bound kept only to reproduce the paper's tables. Every neighbour counts once, whatever its
    distance.

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
    hits = top_k_tie_hits(y_true, neighbor_labels)
    if hits.size == 0:
        raise ValueError("top_k_tie_accuracy needs at least one query")
    return float(hits.mean())


# --- how distance ties and the training order move kNN results ---------------------------------
#
# Under the index-ordered convention the k nearest of a query are its training items below the
# k-th distance plus the first r (in file order) of its boundary group. Under a uniformly random
# file order, each distance group is in uniformly random order, independently of the others,
# and the vote sees only the (fixed) distances and the labels: a query's outcome is a function
# of its label sequence, whose chance is a multiset-draw probability (tie_order_effect, Notes).


_ORDER_FREE = ("lowest", "random")  # tie rules that look only at the per-class vote totals
_CHUNK = 1 << 15  # label sequences per vote call


@dataclass(frozen=True, eq=False)
class TieOrderEffect:
    """Exact statistics of a kNN result over all training orders (see :func:`tie_order_effect`).

    All figures are exact (no sampling); floats are the exact rationals rounded once.

    Attributes
    ----------
    n_neighbors : int
        k.
    tie_break : str
        The vote's tie rule.
    weights : str
        ``"uniform"``, ``"distance"`` or ``"callable"``.
    classes : ndarray of shape (n_classes,)
        Training classes, sorted (the columns of ``prediction_proba``).
    accuracy_expected : float
        Mean over test items of ``p_correct``: the accuracy expected under a uniformly random
        training order (and, for ``tie_break="random"``, the vote's draw).
    accuracy_expected_exact : fractions.Fraction
        The same, exactly.
    accuracy_min_bound, accuracy_max_bound : float
        Means of ``p_correct_min`` and ``p_correct_max``: every training order's accuracy
        lies in ``[accuracy_min_bound, accuracy_max_bound]``. Each item attains its own
        extreme under some order, but one order need not attain them for all items at once,
        so the true minimum and maximum over orders may lie strictly inside (they are bounds,
        not attained extremes).
    n_order_dependent : int
        Test items whose prediction depends on the training order: more than one class can be
        predicted (for ``tie_break="random"``: the set of tied classes it draws from changes).
    n_correctness_order_dependent : int
        Test items right under some order and wrong under another
        (``p_correct_min < p_correct_max``); at most ``n_order_dependent``.
    top_k_tie_accuracy_expected, top_k_tie_accuracy_min_bound, top_k_tie_accuracy_max_bound : float
        The same three for the paper's top-k tie metric (:func:`top_k_tie_accuracy`).
    top_k_tie_accuracy_expected_exact : fractions.Fraction
        Exact expected top-k tie metric.
    n_top_k_tie_order_dependent : int
        Test items whose top-k tie hit depends on the training order.
    p_correct : ndarray of float64 of shape (n_queries,)
        Per item, the probability that its prediction is right.
    p_correct_min, p_correct_max : ndarray of float64 of shape (n_queries,)
        Per item, the smallest and largest chance of being right under one training order
        (0 or 1 except for ``tie_break="random"``, where the vote's draw remains random).
    order_dependent : ndarray of bool of shape (n_queries,)
        Per item, whether its prediction depends on the order.
    top_k_tie_p : ndarray of float64 of shape (n_queries,)
        Per item, the probability of a top-k tie hit.
    top_k_tie_order_dependent : ndarray of bool of shape (n_queries,)
        Per item, whether its top-k tie hit depends on the order.
    prediction_proba : ndarray of float64 of shape (n_queries, n_classes)
        Per item, the probability of each predicted class.
    n_sequences : int
        Label sequences the computation enumerated (one per item without order-dependent ties).
    """

    n_neighbors: int
    tie_break: str
    weights: str
    classes: np.ndarray
    accuracy_expected: float
    accuracy_expected_exact: Fraction
    accuracy_min_bound: float
    accuracy_max_bound: float
    n_order_dependent: int
    n_correctness_order_dependent: int
    top_k_tie_accuracy_expected: float
    top_k_tie_accuracy_expected_exact: Fraction
    top_k_tie_accuracy_min_bound: float
    top_k_tie_accuracy_max_bound: float
    n_top_k_tie_order_dependent: int
    p_correct: np.ndarray
    p_correct_min: np.ndarray
    p_correct_max: np.ndarray
    order_dependent: np.ndarray
    top_k_tie_p: np.ndarray
    top_k_tie_order_dependent: np.ndarray
    prediction_proba: np.ndarray
    n_sequences: int

    @property
    def n_queries(self) -> int:
        """Number of test items."""
        return self.p_correct.size

    @property
    def order_dependent_indices(self) -> np.ndarray:
        """Indices of the test items whose prediction depends on the training order."""
        return np.flatnonzero(self.order_dependent)

    def summary(self) -> dict:
        """The aggregate figures as a JSON-ready dict (no per-item arrays, no fractions)."""
        keys = ("n_neighbors", "tie_break", "weights", "n_queries", "accuracy_expected", "accuracy_min_bound",
                "accuracy_max_bound", "n_order_dependent", "n_correctness_order_dependent",
                "top_k_tie_accuracy_expected", "top_k_tie_accuracy_min_bound", "top_k_tie_accuracy_max_bound",
                "n_top_k_tie_order_dependent")
        return {key: getattr(self, key) for key in keys}


@dataclass(frozen=True, eq=False)
class OrderEvaluation:
    """A kNN result for one training order under the index-ordered convention (:func:`evaluate_order`).

    Attributes
    ----------
    distances, indices : ndarray of shape (n_queries, n_neighbors)
        The k nearest under that order; indices into the training set in file order.
    predicted : ndarray of shape (n_queries,)
        Predicted labels, as the classifier fitted on the training set in that order predicts
        them (for ``tie_break="random"``: with the given ``random_state``).
    accuracy : float
        Share of ``predicted`` that is right.
    p_correct : ndarray of float64 of shape (n_queries,)
        Per item, the probability of a right prediction under this order: 0 or 1, except for
        ``tie_break="random"``, where it is the share of the tied classes that is right.
    accuracy_expected : float
        Mean of ``p_correct`` (equals ``accuracy`` unless ``tie_break="random"``).
    top_k_tie_hits : ndarray of bool of shape (n_queries,)
        Per item, the paper's top-k tie hit.
    top_k_tie_accuracy : float
        Mean of ``top_k_tie_hits``.
    """

    distances: np.ndarray
    indices: np.ndarray
    predicted: np.ndarray
    accuracy: float
    p_correct: np.ndarray
    accuracy_expected: float
    top_k_tie_hits: np.ndarray
    top_k_tie_accuracy: float


def _codes(neighbors: TiedNeighbors, y_train, y_test) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, training codes, test codes)``; a test label unknown to training gets ``n_classes``."""
    if not isinstance(neighbors, TiedNeighbors):
        raise InputError(f"neighbors must be a TiedNeighbors, got {type(neighbors).__name__}")
    classes, train_codes = check_labels(y_train, neighbors.n_samples_fit)
    test = check_label_values(y_test, "y_test[{}]".format)
    if len(test) != neighbors.n_queries:
        raise InputError(f"neighbors has {neighbors.n_queries} queries but y_test has {len(test)} labels")
    if not test:
        raise InputError("y_test is empty: these figures need at least one test item")
    arr = np.array(test)
    kinds = {classes.dtype.kind.replace("u", "i"), arr.dtype.kind.replace("u", "i")}
    if len(kinds) > 1:
        raise InputError(
            f"y_test labels are {arr.dtype} but y_train labels are {classes.dtype}; give both as one type"
        )
    pos = np.minimum(np.searchsorted(classes, arr), len(classes) - 1)
    truth = np.where(classes[pos] == arr, pos, len(classes))
    return classes, np.asarray(train_codes, dtype=np.int64), truth.astype(np.int64)


def _prediction_mask(dist: np.ndarray, codes: np.ndarray, n_classes: int, tie_break: str, weights) -> np.ndarray:
    """Per neighbour row, the classes the vote can predict, shape ``(n, n_classes)``.

    One class for the deterministic tie rules; for ``"random"`` the tied classes, among which
    it draws uniformly. Those are found through ``vote`` itself: ``tie_break="lowest"`` takes
    the smallest of the same tied classes, so with the classes renumbered to start at ``c`` it
    returns the first tied class from ``c`` on (cyclically); one call per tied class.
    """
    n = codes.shape[0]
    mask = np.zeros((n, n_classes), dtype=bool)
    if tie_break != "random":
        pred = vote(dist, codes, n_classes, tie_break=tie_break, weights=weights)[0]
        mask[np.arange(n), pred] = True
        return mask
    rows, start = np.arange(n), np.zeros(n, dtype=np.int64)
    while rows.size:
        shift = start[rows, None]
        first = vote(dist[rows], (codes[rows] - shift) % n_classes, n_classes, tie_break="lowest", weights=weights)[0]
        cls = (first + shift[:, 0]) % n_classes
        new = cls >= shift[:, 0]  # not wrapped round: a tied class not seen yet
        mask[rows[new], cls[new]] = True
        start[rows] = cls + 1
        rows = rows[new & (cls + 1 < n_classes)]
    return mask


def _distinct_sequences(counts: list[int], slots: int, ordered: bool) -> int:
    """How many distinct label sequences (``ordered``) or label compositions ``slots`` draws
    from a multiset with these label counts can give."""
    ways = [1] + [0] * slots  # ways[s]: outcomes of s draws from the labels seen so far
    for c in counts:
        new = [0] * (slots + 1)
        for s, w in enumerate(ways):
            for j in range(min(c, slots - s) + 1) if w else ():
                new[s + j] += w * (comb(s + j, j) if ordered else 1)  # where the j copies go
        ways = new
    return ways[slots]


def _group_draws(labels: np.ndarray, counts: np.ndarray, slots: int, ordered: bool):
    """Every outcome of drawing ``slots`` items in uniformly random order from one distance group.

    Returns ``(sequences, weights, total)``: the distinct label sequences (``ordered``), or one
    sorted sequence per label composition, with integer weights (an object array) and their
    total, so that ``weights / total`` are the exact probabilities.
    """
    # draw by draw: a label with c items left is drawn in c of the ways; for compositions only
    # sequences sorted by label are kept, each standing for its (slots! / prod m!) orderings
    seqs = np.zeros((1, 0), dtype=np.int64)
    w = np.array([1], dtype=object)
    left = counts[None, :].astype(np.int64)
    last = np.zeros(1, dtype=np.int64)
    for _ in range(slots):
        allowed = left > 0
        if not ordered:
            allowed &= np.arange(labels.size) >= last[:, None]
        rows, cols = np.nonzero(allowed)
        seqs = np.column_stack([seqs[rows], labels[cols]])
        w = w[rows] * left[rows, cols].astype(object)
        left = left[rows]
        left[np.arange(rows.size), cols] -= 1
        last = cols
    if not ordered:
        fact = np.array([factorial(i) for i in range(slots + 1)], dtype=object)
        w = w * (fact[slots] // np.prod(fact[counts[None, :] - left], axis=1))
    return seqs, w, perm(int(counts.sum()), slots)


def _row_groups(codes: np.ndarray, dist: np.ndarray, k: int, n_below: int) -> list:
    """``(labels, counts, places)`` of each distance group of one row, nearest first.

    The groups below the k-th distance come in whole; the boundary group fills the rest.
    """
    cuts = [0, *(np.flatnonzero(np.diff(dist[:n_below])) + 1).tolist(), n_below]
    spans = [(a, b, b - a) for a, b in zip(cuts[:-1], cuts[1:]) if b > a] + [(n_below, codes.size, k - n_below)]
    return [(*np.unique(codes[lo:hi], return_counts=True), places) for lo, hi, places in spans]


def _row_draws(groups: list, ordered: bool):
    """The label sequences of one row (its groups' outcomes concatenated), weights and total."""
    seqs, w, total = np.zeros((1, 0), dtype=np.int64), np.array([1], dtype=object), 1
    for labels, counts, places in groups:
        s, gw, gt = _group_draws(labels, counts, places, ordered)
        m, n = seqs.shape[0], s.shape[0]
        seqs = np.column_stack([np.repeat(seqs, n, axis=0), np.tile(s, (m, 1))])
        w = np.repeat(w, n) * np.tile(gw, m)
        total *= gt
    return seqs, w, total


def _exact_mean(numerators, denominators) -> Fraction:
    """Mean of ``numerators[i] / denominators[i]`` (Python ints), summed per denominator first."""
    by_den: dict[int, int] = {}
    for a, b in zip(numerators, denominators):
        by_den[int(b)] = by_den.get(int(b), 0) + int(a)
    return sum((Fraction(a, b) for b, a in by_den.items()), Fraction(0)) / len(numerators)


def _sequences(neighbors: TiedNeighbors, codes: np.ndarray, ordered: bool, max_sequences: int):
    """Every label sequence each query can get, as ``(row, codes, weight)`` sorted by row, and
    each row's weight total; rows whose distance groups are each of one label get one."""
    n, k = neighbors.n_queries, neighbors.n_neighbors
    rows = np.repeat(np.arange(n), neighbors.row_lengths)
    mixed = np.zeros(codes.size, dtype=bool)
    same_group = (rows[1:] == rows[:-1]) & (neighbors.distances[1:] == neighbors.distances[:-1])
    mixed[1:] = same_group & (codes[1:] != codes[:-1])
    random_rows = np.flatnonzero(np.bincount(rows[mixed], minlength=n)).tolist()
    n_below = neighbors.n_below
    groups, count = {}, np.ones(n, dtype=object)
    for i in random_rows:
        lo, hi = neighbors.indptr[i], neighbors.indptr[i + 1]
        groups[i] = _row_groups(codes[lo:hi], neighbors.distances[lo:hi], k, int(n_below[i]))
        count[i] = int(np.prod([_distinct_sequences(c.tolist(), p, ordered) for _, c, p in groups[i]], dtype=object))
    if count.sum() > max_sequences:
        worst = int(np.argmax(count))
        _, c, places = groups[worst][-1]
        raise ConfigError(
            f"exact enumeration needs {int(count.sum()):,} label sequences, more than max_sequences={max_sequences:,}; "
            f"query {worst} alone needs {count[worst]:,} ({c.sum()} tied items of {c.size} classes at its k-th "
            f"distance for {places} of its k={k} places); raise max_sequences (time and memory grow with it)"
        )
    fixed = np.ones(n, dtype=bool)
    fixed[random_rows] = False
    head = codes[neighbors.indptr[:-1, None] + np.arange(k)]
    seq_row, seq_codes, seq_w = [np.flatnonzero(fixed)], [head[fixed]], [np.ones(int(fixed.sum()), dtype=object)]
    total = np.ones(n, dtype=object)
    for i in random_rows:
        s, w, total[i] = _row_draws(groups[i], ordered)
        seq_row.append(np.full(s.shape[0], i))
        seq_codes.append(s)
        seq_w.append(w)
    rows = np.concatenate(seq_row)
    by_row = np.argsort(rows, kind="stable")
    return rows[by_row], np.concatenate(seq_codes)[by_row], np.concatenate(seq_w)[by_row], total


def _chunked(fn, *arrays):
    """``fn`` over row blocks of the arrays, results concatenated (bounds the vote's memory)."""
    n = arrays[0].shape[0]
    return np.concatenate([fn(*(a[lo:lo + _CHUNK] for a in arrays)) for lo in range(0, max(n, 1), _CHUNK)])


def tie_order_effect(
    neighbors: TiedNeighbors,
    y_train,
    y_test,
    *,
    tie_break: str = "nearest",
    weights: str | Callable = "uniform",
    max_sequences: int = 5_000_000,
) -> TieOrderEffect:
    """Exact effect of the training order on a kNN that orders distance ties by training index.

    Under the index-ordered convention (the paper's code, every public reimplementation, nnzip
    <= 0.1), the tied training items at a query's k-th distance get in by their position in
    the training file. This computes, over **all** training orders taken uniformly at random
    and without sampling, the expected accuracy, bounds on it that hold for every order, which
    test items depend on the order, and the same for the paper's top-k tie metric.

    Every prediction is made by :func:`nnzip.vote` on the label sequences a training order can
    give (see Notes), so it follows the tie rule exactly. ``tie_break="random"`` draws among the
    classes tied for most votes (from the global numpy generator when no ``random_state`` is
    given); its expectation is taken over that draw too: uniform over the tied classes.

    Parameters
    ----------
    neighbors : TiedNeighbors
        The neighbour structure with boundary ties; its ``n_neighbors`` is the k of the vote.
    y_train : array-like of shape (n_samples_fit,)
        Training labels (or class codes) in file order.
    y_test : array-like of shape (n_queries,)
        Test labels, of the same type; a label absent from training is never predicted.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        The vote's tie rule (:func:`nnzip.vote`).
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights. A callable must weigh each row of distances on its own (as
        scikit-learn's do): it is called on blocks of label sequences, not on the test set.
    max_sequences : int, default=5_000_000
        Most label sequences to enumerate in all; a larger task raises :class:`ConfigError`
        naming the costliest query before any vote is taken. Nothing is ever approximated.

    Returns
    -------
    TieOrderEffect

    Notes
    -----
    The k nearest of a query under the convention are all its training items below the k-th
    distance ``D_k`` plus the first ``r = k - (number below)``, in file order, of its boundary
    group (the items at ``D_k``). Under a uniformly random order the items of each distance
    group come in uniformly random order, independently between groups; the vote sees the
    neighbours' distances (the same under every order) and their labels. So a query's outcome
    depends only on its label sequence, and the chance that a group of ``g`` items with label
    counts ``c`` contributes the labels ``s_1 .. s_r`` (with ``m_l`` copies of label ``l``) is

        prod_l c_l (c_l - 1) ... (c_l - m_l + 1)  /  g (g - 1) ... (g - r + 1),

    a row's sequence being its groups' concatenated (groups below ``D_k`` drawn whole). These
    are summed as exact integers over a common denominator.

    A query whose distance groups (among its k nearest and the items tied with the k-th) each
    hold one label gets the same label sequence under every order: one vote. A query with a
    mixed group enumerates every distinct label sequence when the order inside the k matters
    (``"nearest"``, ``"decrement"``, or callable weights): at most ``L**r`` from a boundary
    group of ``L`` labels with ``r`` places to fill, times at most ``(k - r)!`` for the groups
    below it. ``"lowest"`` and ``"random"`` with ``"uniform"`` or ``"distance"`` weights see
    only per-class vote totals, so only label compositions are enumerated: at most
    ``C(L + r - 1, r)``. The size of a tied group does not matter, only its number of labels.
    Time is ``O(nnz)`` plus ``O(S k C)`` for ``S`` enumerated sequences and ``C`` classes
    (``C`` times more for ``"random"``); memory ``O(S (k + C))``.

    Examples
    --------
    >>> import numpy as np
    >>> from nnzip.tied_neighbors import TiedNeighbors
    >>> nb = TiedNeighbors.from_distances(np.array([[0.5, 0.5, 0.5, 0.9]]), 1)
    >>> effect = tie_order_effect(nb, ["a", "a", "b", "b"], ["a"])
    >>> effect.accuracy_expected_exact, effect.accuracy_min_bound, effect.accuracy_max_bound
    (Fraction(2, 3), 0.0, 1.0)
    """
    validate_params(VOTE_CONSTRAINTS, {"tie_break": tie_break, "weights": weights})
    if isinstance(max_sequences, bool) or not isinstance(max_sequences, (int, np.integer)) or max_sequences < 1:
        raise ConfigError(f"max_sequences must be a positive int, got {max_sequences!r}")
    classes, train_codes, truth = _codes(neighbors, y_train, y_test)
    n_classes, k, n = len(classes), neighbors.n_neighbors, neighbors.n_queries
    ordered = not (tie_break in _ORDER_FREE and isinstance(weights, str))
    seq_row, seq_codes, w, total = _sequences(neighbors, train_codes[neighbors.indices], ordered, max_sequences)
    starts = np.searchsorted(seq_row, np.arange(n))
    head_dist = neighbors.distances[neighbors.indptr[:-1, None] + np.arange(k)]
    t = truth[seq_row]
    mask = _chunked(lambda r, c: _prediction_mask(head_dist[r], c, n_classes, tie_break, weights), seq_row, seq_codes)
    top_hit = _chunked(lambda tt, c: _top_k_tie_hits(tt, c, n_classes), t, seq_codes)
    n_tied = mask.sum(axis=1)
    hit = (t < n_classes) & mask[np.arange(t.size), np.minimum(t, n_classes - 1)]
    # chance of a right prediction given the sequence, as an integer over lcm(1..C) (C: vote ties)
    scale = np.lcm.reduce(np.arange(1, n_classes + 1, dtype=object)) if tie_break == "random" else 1
    q = np.where(hit, scale // n_tied.astype(object), 0).astype(object)
    num = np.add.reduceat(w * q, starts)
    p_exact = [Fraction(int(a), int(b) * scale) for a, b in zip(num, total)]
    p_min = np.minimum.reduceat(q, starts)
    p_max = np.maximum.reduceat(q, starts)
    top_num = np.add.reduceat(np.where(top_hit, w, 0), starts)
    n_seq = np.diff(np.append(starts, seq_row.size))
    n_top = np.add.reduceat(top_hit.astype(np.int64), starts)
    changed = (mask != mask[starts[seq_row]]).any(axis=1)
    share = (w / total[seq_row]).astype(np.float64)
    proba = np.add.reduceat(mask / n_tied[:, None] * share[:, None], starts, axis=0)
    accuracy = _exact_mean([f.numerator for f in p_exact], [f.denominator for f in p_exact])
    top_accuracy = _exact_mean(top_num, total)
    order_dependent = np.bincount(seq_row[changed], minlength=n) > 0
    return TieOrderEffect(
        n_neighbors=k,
        tie_break=tie_break,
        weights=weights if isinstance(weights, str) else "callable",
        classes=classes,
        accuracy_expected=float(accuracy),
        accuracy_expected_exact=accuracy,
        accuracy_min_bound=float(_exact_mean(p_min, [scale] * n)),
        accuracy_max_bound=float(_exact_mean(p_max, [scale] * n)),
        n_order_dependent=int(order_dependent.sum()),
        n_correctness_order_dependent=int((p_min < p_max).sum()),
        top_k_tie_accuracy_expected=float(top_accuracy),
        top_k_tie_accuracy_expected_exact=top_accuracy,
        top_k_tie_accuracy_min_bound=float(np.mean(n_top == n_seq)),
        top_k_tie_accuracy_max_bound=float(np.mean(n_top > 0)),
        n_top_k_tie_order_dependent=int(((n_top > 0) & (n_top < n_seq)).sum()),
        p_correct=np.array([float(f) for f in p_exact]),
        p_correct_min=np.array([float(Fraction(int(a), scale)) for a in p_min]),
        p_correct_max=np.array([float(Fraction(int(a), scale)) for a in p_max]),
        order_dependent=order_dependent,
        top_k_tie_p=np.array([float(Fraction(int(a), int(b))) for a, b in zip(top_num, total)]),
        top_k_tie_order_dependent=(n_top > 0) & (n_top < n_seq),
        prediction_proba=proba,
        n_sequences=int(seq_row.size),
    )


def evaluate_order(
    neighbors: TiedNeighbors,
    y_train,
    y_test,
    order=None,
    *,
    tie_break: str = "nearest",
    weights: str | Callable = "uniform",
    random_state=None,
) -> OrderEvaluation:
    """A kNN result under the index-ordered convention for one given training order.

    What :class:`nnzip.NCDKNeighborsClassifier` (and every kNN that orders ties by training
    index) predicts when fitted on the training set in that order, computed from the neighbour
    structure alone: cheap enough to evaluate many orders (as shipped, reversed, shuffled).

    Parameters
    ----------
    neighbors : TiedNeighbors
        The neighbour structure with boundary ties.
    y_train : array-like of shape (n_samples_fit,)
        Training labels in file order.
    y_test : array-like of shape (n_queries,)
        Test labels.
    order : array-like of int of shape (n_samples_fit,), optional
        A permutation: ``order[p]`` is the training item at position ``p`` (the classifier is
        fitted on ``X_train[order]``, ``y_train[order]``). None: file order.
    tie_break, weights : see :func:`tie_order_effect`.
    random_state : int, RandomState or None
        For ``tie_break="random"``: the classifier's ``random_state``; the vote is taken on all
        queries at once, as the classifier's ``predict`` takes it, so the same seed gives the
        same draws.

    Returns
    -------
    OrderEvaluation
    """
    validate_params(VOTE_CONSTRAINTS, {"tie_break": tie_break, "weights": weights})
    classes, train_codes, truth = _codes(neighbors, y_train, y_test)
    n_classes = len(classes)
    dist, idx = neighbors.top_k(order)
    codes = train_codes[idx]
    pred = vote(dist, codes, n_classes, tie_break=tie_break, weights=weights, random_state=random_state)[0]
    mask = _prediction_mask(dist, codes, n_classes, tie_break, weights) if tie_break == "random" else None
    if mask is None:
        p = (pred == truth).astype(np.float64)
    else:
        known = truth < n_classes
        p = np.where(known & mask[np.arange(truth.size), np.minimum(truth, n_classes - 1)], 1.0 / mask.sum(axis=1), 0.0)
    top = _top_k_tie_hits(truth, codes, n_classes)
    correct = pred == truth
    return OrderEvaluation(
        distances=dist,
        indices=idx,
        predicted=classes[pred],
        accuracy=float(correct.mean()),
        p_correct=p,
        accuracy_expected=float(p.mean()),
        top_k_tie_hits=top,
        top_k_tie_accuracy=float(top.mean()),
    )


# --- uncertainty of measured figures ----------------------------------------------------------
#
# An accuracy measured on n test items is a binomial proportion; two models scored on the same
# items are compared on the items where exactly one of them is right (McNemar); a figure
# averaged over seeds (few-shot draws) spreads with the sample standard deviation.


def _check_count(value, name: str, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an int of at least {low}, got {value!r}")
    return int(value)


def _check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def accuracy_interval(n_correct: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of an accuracy of ``n_correct`` out of ``n``.

    The interval holds its coverage for every ``n`` and true accuracy (it is conservative, never
    too narrow), with no normal approximation; it is the "exact" interval of
    :func:`scipy.stats.binomtest`. It describes the sampling error of the test items only,
    taken as independent draws: not the variation between training sets or seeds.

    Parameters
    ----------
    n_correct : int
        Test items predicted right.
    n : int
        Test items scored, at least 1.
    confidence : float, default=0.95
        Confidence level.

    Returns
    -------
    low, high : float
        The bounds; ``low`` is 0 when ``n_correct`` is 0 and ``high`` is 1 when it is ``n``.

    Examples
    --------
    >>> low, high = accuracy_interval(0, 10)
    >>> low, round(high, 4)  # 1 - 0.025 ** (1 / 10)
    (0.0, 0.3085)
    """
    from scipy.stats import binomtest

    n = _check_count(n, "n", 1)
    n_correct = _check_count(n_correct, "n_correct", 0)
    if n_correct > n:
        raise InputError(f"n_correct={n_correct} is larger than n={n}")
    ci = binomtest(n_correct, n).proportion_ci(confidence_level=_check_confidence(confidence), method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class PairedComparison:
    """Two models scored on the same test items, with the exact McNemar test (:func:`mcnemar_exact`).

    Attributes
    ----------
    n : int
        Test items (pairs).
    accuracy_a, accuracy_b : float
        Accuracy of each model on them.
    difference : float
        ``accuracy_a - accuracy_b``; equals ``(a_only - b_only) / n``.
    a_only, b_only : int
        Items only model A gets right, and only model B gets right (the discordant pairs).
    p_value : float
        Two-sided exact McNemar p-value: the binomial test of ``a_only`` out of
        ``a_only + b_only`` against one half; 1 when there is no discordant pair.
    """

    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    a_only: int
    b_only: int
    p_value: float


def mcnemar_exact(correct_a, correct_b) -> PairedComparison:
    """Exact McNemar test of two models' per-item correctness on the same test items.

    Items both models get right, or both wrong, say nothing about which is better; under the
    null hypothesis (equal accuracy) each of the ``a_only + b_only`` discordant items is a fair
    coin, so ``a_only`` is Binomial(``a_only + b_only``, 1/2) and the two-sided p-value is
    :func:`scipy.stats.binomtest`'s. Exact for every count (no chi-squared approximation or
    continuity correction).

    Parameters
    ----------
    correct_a, correct_b : array-like of bool of shape (n,)
        Whether each model's prediction of item ``i`` is right; the same items in the same order.

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> r = mcnemar_exact([True] * 9 + [False], [False] * 9 + [True])
    >>> r.a_only, r.b_only, round(r.p_value, 6)  # 2 * (1 + 10) / 2**10
    (9, 1, 0.021484)
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    for name, arr in (("correct_a", a), ("correct_b", b)):
        if arr.ndim != 1 or arr.dtype != np.bool_:
            raise InputError(f"{name} must be a one-dimensional bool array, got {arr.dtype} of shape {arr.shape}")
    if a.shape != b.shape:
        raise InputError(f"correct_a has {a.size} items but correct_b has {b.size}: they must be the same items")
    if not a.size:
        raise InputError("mcnemar_exact needs at least one item")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    discordant = a_only + b_only
    p = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return PairedComparison(n=int(a.size), accuracy_a=float(a.mean()), accuracy_b=float(b.mean()),
                            difference=(a_only - b_only) / a.size, a_only=a_only, b_only=b_only, p_value=min(p, 1.0))


@dataclass(frozen=True)
class MeanInterval:
    """Mean, sample standard deviation and t interval of the mean of a few values (:func:`mean_interval`).

    Attributes
    ----------
    n : int
        Number of values.
    mean : float
    std : float or None
        Sample standard deviation (``ddof=1``); None for a single value.
    low, high : float or None
        Confidence interval of the mean (Student's t, ``n - 1`` degrees of freedom); None for a
        single value.
    """

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None


def mean_interval(values, *, confidence: float = 0.95) -> MeanInterval:
    """Mean of a few values (seeds), their sample standard deviation and the t interval of the mean.

    The standard deviation uses ``ddof=1`` (the unbiased variance of a sample, not of a whole
    population), so a few-shot spread over 5 seeds is not understated. The interval is
    ``mean ± t(1 - (1 - confidence) / 2, n - 1) * std / sqrt(n)``
    (:func:`scipy.stats.t.interval`), and assumes the values are independent draws.

    Parameters
    ----------
    values : array-like of float of shape (n,)
        At least one finite value.
    confidence : float, default=0.95

    Returns
    -------
    MeanInterval

    Examples
    --------
    >>> r = mean_interval([0.5, 0.6, 0.7])
    >>> round(r.mean, 6), round(r.std, 6), round(r.high - r.mean, 4)  # 4.3027 * 0.1 / sqrt(3)
    (0.6, 0.1, 0.2484)
    """
    from scipy.stats import t

    confidence = _check_confidence(confidence)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or not v.size or not np.isfinite(v).all():
        raise InputError(f"values must be a non-empty one-dimensional array of finite numbers, got shape {v.shape}")
    mean = float(v.mean())
    if v.size == 1:
        return MeanInterval(1, mean, None, None, None)
    std = float(v.std(ddof=1))
    if std == 0:
        return MeanInterval(int(v.size), mean, 0.0, mean, mean)
    low, high = t.interval(confidence, v.size - 1, loc=mean, scale=std / np.sqrt(v.size))
    return MeanInterval(int(v.size), mean, std, float(low), float(high))
