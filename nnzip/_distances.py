"""Numba kernels: compression distances from compressed lengths, and the k nearest of each row with their ties.

Array in, array out; no scikit-learn, no click. Every nearest-neighbour search in nnzip (the
NCD index, precomputed distance matrices, the baselines' dense distances) selects its
neighbours with :func:`tied_top_k`: the k nearest of each row *and every column tied with the
k-th*, so that no choice among tied columns is made here (:mod:`nnzip.neighbors` decides).
"""

import numpy as np
from numba import njit

NCD, CDM, CLM = 0, 1, 2  # metric codes for distances_from_lengths


@njit(cache=True, nogil=True, inline="always")
def _distance(a, b, c, metric):
    if metric == NCD:
        lo = a if a < b else b
        hi = a if a > b else b
        return (c - lo) / hi if hi != 0 else np.nan
    if metric == CDM:
        return c / (a + b) if a + b != 0 else np.nan
    return 1.0 - (a + b - c) / c if c != 0 else np.nan


@njit(cache=True, nogil=True)
def distances_from_lengths(cxy, cx, cy, metric):
    """Distances from compressed lengths: ``cxy[i, j] = C(x_i y_j)``, ``cx[i]``, ``cy[j]``.

    ``metric`` is ``NCD`` (normalized compression distance), ``CDM`` (compression-based
    dissimilarity, ``C(xy) / (C(x) + C(y))``) or ``CLM`` (``1 - (C(x) + C(y) - C(xy)) / C(xy)``).
    A zero denominator gives ``nan``; the caller reports it.
    """
    n_x, n_y = cxy.shape
    out = np.empty((n_x, n_y), dtype=np.float64)
    for i in range(n_x):
        for j in range(n_y):
            out[i, j] = _distance(cx[i], cy[j], cxy[i, j], metric)
    return out


@njit(cache=True, nogil=True)
def distances_from_lengths_rows(cxy, cx, cy, metric):
    """Same as :func:`distances_from_lengths` with a length per cell: ``cy[i, j]`` (candidate lists)."""
    n_x, n_y = cxy.shape
    out = np.empty((n_x, n_y), dtype=np.float64)
    for i in range(n_x):
        for j in range(n_y):
            out[i, j] = _distance(cx[i], cy[i, j], cxy[i, j], metric)
    return out


@njit(cache=True, nogil=True, inline="always")
def _id(cols, r, c):
    return c if cols.shape[0] == 0 else cols[r, c]


@njit(cache=True, nogil=True, inline="always")
def _insert(dists, values, lo, end, d, v):
    """Put ``(d, v)`` into the sorted ``dists[lo:end]`` (``values`` alongside), after its equals."""
    pos = end
    while pos > lo and d < dists[pos - 1]:
        dists[pos] = dists[pos - 1]
        values[pos] = values[pos - 1]
        pos -= 1
    dists[pos] = d
    values[pos] = v


@njit(cache=True, nogil=True)
def _kth(dist, r, k, weight, cols, buf_d, buf_w):
    """The k-th smallest distance of row ``r``, a column counting ``weight[id]`` times.

    ``buf_d``/``buf_w`` (``k + 1`` entries) keep the smallest distances seen, sorted, cut after
    the first prefix whose weight reaches ``k``: its last entry is then the k-th so far, and a
    column is looked at again only if it is strictly nearer.
    """
    size = 0
    total = 0
    for c in range(dist.shape[1]):
        d = dist[r, c]
        if total >= k and not d < buf_d[size - 1]:
            continue
        w = weight[_id(cols, r, c)]
        _insert(buf_d, buf_w, 0, size, d, w)
        size += 1
        total += w
        if total >= k:
            cum = 0
            keep = 0
            while cum < k:
                cum += buf_w[keep]
                keep += 1
            size = keep
            total = cum
    return buf_d[size - 1]


@njit(cache=True, nogil=True)
def tied_top_k(dist, k, weight, cols):
    """Every column at most as far as the k-th nearest, per row, sorted by (distance, id).

    Parameters
    ----------
    dist : float64 array of shape (n, m)
        Distances; no NaN (the caller checks).
    k : int
        Neighbours, counted with multiplicity: the k-th distance of a row is the smallest ``t``
        such that the weights of its columns at distance ``<= t`` add up to at least ``k``
        (at least ``k`` in every row, which the caller ensures).
    weight : int64 array
        Multiplicity of each id, at least 1 (how many training items it stands for).
    cols : int64 array of shape (n, m), or of shape (0, 0)
        Id of each cell, ascending along each row; shape (0, 0): the id of a cell is its column.

    Returns
    -------
    indptr : int64 array of shape (n + 1,)
        Row ``i`` is ``ids[indptr[i]:indptr[i + 1]]``.
    ids : int64 array
        Ids of the columns at distance ``<=`` the row's k-th, by (distance, id).
    distances : float64 array
        Their distances.

    With weights of 1 the first ``k`` entries of a row are ``np.argsort(row, kind="stable")[:k]``
    and the rest are the columns tied with the k-th.
    """
    n, m = dist.shape
    buf_d = np.empty(k + 1, dtype=np.float64)
    buf_w = np.empty(k + 1, dtype=np.int64)
    kth = np.empty(n, dtype=np.float64)
    below = np.zeros(n, dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        t = _kth(dist, r, k, weight, cols, buf_d, buf_w)
        kth[r] = t
        n_le = 0
        for c in range(m):
            d = dist[r, c]
            if d <= t:
                n_le += 1
                if d < t:
                    below[r] += 1
        indptr[r + 1] = indptr[r] + n_le
    ids = np.empty(indptr[n], dtype=np.int64)
    out = np.empty(indptr[n], dtype=np.float64)
    for r in range(n):
        t = kth[r]
        lo = indptr[r]
        n_below = 0
        tie = lo + below[r]
        for c in range(m):
            d = dist[r, c]
            if d > t:
                continue
            j = _id(cols, r, c)
            if d == t:  # ties with the k-th come after the nearer ones, in id order
                ids[tie] = j
                out[tie] = d
                tie += 1
                continue
            # fewer than k are strictly nearer: an insertion sort, stable (ids ascend with c)
            _insert(out, ids, lo, lo + n_below, d, j)
            n_below += 1
    return indptr, ids, out
