"""Numba kernels: compression distances from compressed lengths, and the stable top-k of each row.

Array in, array out; no scikit-learn, no click. Every nearest-neighbour search in nnzip (the
NCD index, precomputed distance matrices, the baselines' dense distances) selects its
neighbours with :func:`stable_top_k`, so ties are ordered by column (training) index everywhere.
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


@njit(cache=True, nogil=True)
def stable_top_k(dist, k):
    """The ``k`` smallest entries of each row, ordered by (distance, column index).

    Equivalent to ``np.argsort(dist, kind="stable")[:, :k]`` in O(n k) per row; ``nan``
    sorts last, as in numpy.
    """
    n, m = dist.shape
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)
    for r in range(n):
        filled = 0
        for j in range(m):
            d = dist[r, j]
            if filled == k:
                worst = out_d[r, k - 1]
                # a later column wins only with a strictly smaller distance; nan never does
                if not (d < worst or (np.isnan(worst) and not np.isnan(d))):
                    continue
                pos = k - 1
            else:
                pos = filled
                filled += 1
            while pos > 0 and (d < out_d[r, pos - 1] or (np.isnan(out_d[r, pos - 1]) and not np.isnan(d))):
                out_d[r, pos] = out_d[r, pos - 1]
                out_i[r, pos] = out_i[r, pos - 1]
                pos -= 1
            out_d[r, pos] = d
            out_i[r, pos] = j
    return out_d, out_i
