"""The neighbour structure with boundary ties: the k nearest training items of each query and
every training item tied with the k-th.

Compression distances take few distinct values, so the k-th smallest distance of a query is
often shared by several training items. Which of them a kNN that orders ties by training index
keeps depends on the order of the training file. :class:`TiedNeighbors` keeps all of them, so
that what any training order would select, and the statistics of it over all orders
(:func:`nnzip.metrics.tie_order_effect`), can be computed from one search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .validation import check_n_neighbors


def _frozen(values, dtype, name: str) -> np.ndarray:
    """A read-only one-dimensional view of ``values`` as ``dtype`` (the caller's array stays writable)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.can_cast(arr.dtype, dtype, casting="same_kind"):
        raise InputError(f"{name} must hold {np.dtype(dtype).name} values, got {arr.dtype}")
    view = arr.astype(dtype, copy=False).view()
    view.flags.writeable = False
    return view


def check_order(order, n: int) -> np.ndarray:
    """Validate a training order: a permutation of ``range(n)``; return it as int64.

    ``order[p]`` is the training item at position ``p`` of the training set as presented
    (the classifier is fitted on ``X_train[order]``).
    """
    if order is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(order)
    if arr.ndim != 1 or arr.shape[0] != n or (arr.size and arr.dtype.kind not in "iu"):
        raise InputError(f"order must be a permutation of range({n}) as a 1-d int array, got shape {arr.shape}")
    arr = arr.astype(np.int64)
    seen = np.zeros(n, dtype=bool)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InputError(f"order must be a permutation of range({n}); it holds values outside it")
    seen[arr] = True
    if not seen.all():
        raise InputError(f"order must be a permutation of range({n}); {int(n - seen.sum())} items are missing")
    return arr


@dataclass(frozen=True, eq=False)
class TiedNeighbors:
    """The k nearest training items of each query plus every item tied with the k-th, as CSR.

    Row ``i`` holds every training item ``j`` whose distance ``d(i, j)`` is at most the k-th
    smallest distance ``D_k(i)`` of query ``i`` (smallest counted with multiplicity), ordered
    by (distance, training index). A row has at least ``n_neighbors`` entries; its first
    ``n_neighbors`` are what a kNN that orders ties by training index returns for the
    training set in file order, and every entry after them has distance ``D_k(i)``.

    Under any other training order, the k nearest are again within the row: all its items at
    distances below ``D_k(i)``, and from its *boundary group* (the items at ``D_k(i)``) the
    ones that come first in that order (:meth:`top_k`).

    Parameters
    ----------
    indptr : ndarray of int64 of shape (n_queries + 1,)
        Row ``i`` is ``indices[indptr[i]:indptr[i + 1]]``.
    indices : ndarray of int64 of shape (nnz,)
        Training indices (into the training set in file order).
    distances : ndarray of float64 of shape (nnz,)
        Distance of each entry; no NaN.
    n_neighbors : int
        k.
    n_samples_fit : int
        Number of training items.

    Raises
    ------
    InputError
        If the arrays do not form such a structure (shapes, ranges, row order, short rows, or
        entries past the boundary distance).

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0.5, 0.2, 0.5, 0.9]])
    >>> nb = TiedNeighbors.from_distances(D, 2)
    >>> nb.indices.tolist(), nb.distances.tolist()
    ([1, 0, 2], [0.2, 0.5, 0.5])
    >>> nb.top_k(order=[2, 1, 0, 3])[1].tolist()
    [[1, 2]]
    """

    indptr: np.ndarray
    indices: np.ndarray
    distances: np.ndarray
    n_neighbors: int
    n_samples_fit: int

    def __post_init__(self) -> None:
        k = check_n_neighbors(self.n_neighbors)
        n = self.n_samples_fit
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < k:
            raise InputError(f"n_samples_fit must be an int of at least n_neighbors={k}, got {n!r}")
        indptr = _frozen(self.indptr, np.int64, "indptr")
        indices = _frozen(self.indices, np.int64, "indices")
        distances = _frozen(self.distances, np.float64, "distances")
        for name, value in (("indptr", indptr), ("indices", indices), ("distances", distances),
                            ("n_neighbors", k), ("n_samples_fit", int(n))):
            object.__setattr__(self, name, value)
        if indptr.size < 1 or indptr[0] != 0:
            raise InputError("indptr must start with 0 and have n_queries + 1 entries")
        if indptr[-1] != indices.size or indices.size != distances.size:
            raise InputError(
                f"indptr ends at {indptr[-1]} but indices has {indices.size} and distances {distances.size} entries"
            )
        lengths = np.diff(indptr)
        if (lengths < k).any():
            row = int(np.flatnonzero(lengths < k)[0])
            raise InputError(f"row {row} has {lengths[row]} entries, fewer than n_neighbors={k}")
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise InputError(f"indices must lie in range({n})")
        if np.isnan(distances).any():
            raise InputError("distances contain nan")
        rows = self._rows()
        same_row = rows[1:] == rows[:-1]
        d0, d1, i0, i1 = distances[:-1], distances[1:], indices[:-1], indices[1:]
        bad = same_row & ~((d0 < d1) | ((d0 == d1) & (i0 < i1)))
        if bad.any():
            raise InputError(f"row {rows[1:][bad][0]} is not ordered by (distance, index) without repeats")
        if (distances > np.repeat(self.boundary_distance, lengths)).any():
            row = int(rows[distances > np.repeat(self.boundary_distance, lengths)][0])
            raise InputError(f"row {row} has entries beyond its k-th distance")

    def __reduce__(self):
        # rebuilt through __init__ on unpickling: checked and read-only again
        return type(self), (self.indptr, self.indices, self.distances, self.n_neighbors, self.n_samples_fit)

    @classmethod
    def from_distances(cls, D, n_neighbors: int) -> TiedNeighbors:
        """Reference builder from a dense distance matrix (exact, O(n_queries n_train log)).

        Parameters
        ----------
        D : array-like of shape (n_queries, n_train)
            Distances; no NaN. Ties are exact equality of the float64 values.
        n_neighbors : int
            k, at most ``n_train``.

        Returns
        -------
        TiedNeighbors
        """
        D = np.asarray(D, dtype=np.float64)
        if D.ndim != 2:
            raise InputError(f"D must be a 2-d distance matrix, got shape {D.shape}")
        k = check_n_neighbors(n_neighbors, D.shape[1])
        if np.isnan(D).any():
            raise InputError("the distance matrix contains nan")
        kth = np.partition(D, k - 1, axis=1)[:, k - 1] if D.shape[0] else np.empty(0)
        rows, cols = np.nonzero(D <= kth[:, None])  # row-major: columns ascending in each row
        dist = D[rows, cols]
        order = np.lexsort((cols, dist, rows))
        indptr = np.zeros(D.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=D.shape[0]), out=indptr[1:])
        return cls(indptr, cols[order], dist[order], k, D.shape[1])

    @property
    def n_queries(self) -> int:
        """Number of queries (rows)."""
        return self.indptr.size - 1

    @property
    def row_lengths(self) -> np.ndarray:
        """Entries per row: ``n_neighbors`` plus the tied items beyond it."""
        return np.diff(self.indptr)

    @property
    def boundary_distance(self) -> np.ndarray:
        """The k-th smallest distance of each query, shape (n_queries,)."""
        return self.distances[self.indptr[:-1] + self.n_neighbors - 1]

    @property
    def n_below(self) -> np.ndarray:
        """Per row, how many entries lie strictly below the boundary distance (always < k)."""
        below = self.distances < np.repeat(self.boundary_distance, self.row_lengths)
        return np.bincount(self._rows()[below], minlength=self.n_queries)

    def _rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_queries), np.diff(self.indptr))

    @property
    def rows(self) -> np.ndarray:
        """The query (row) of each entry, shape (nnz,)."""
        return self._rows()

    def with_k(self, n_neighbors: int) -> TiedNeighbors:
        """The structure for a smaller k: each row cut after the items tied with its new k-th.

        Every training item up to a row's k-th distance is in the row, for any k up to
        ``n_neighbors``, so one search serves several k.

        Parameters
        ----------
        n_neighbors : int
            The new k, at most ``self.n_neighbors``.

        Returns
        -------
        TiedNeighbors
        """
        k = check_n_neighbors(n_neighbors, self.n_neighbors)
        if k == self.n_neighbors:
            return self
        return _cut(self.indptr, self.indices, self.distances, k, self.n_samples_fit)

    def exclude_self(self) -> TiedNeighbors:
        """For the training items as queries (row ``i`` is item ``i``): each row without the item
        itself, for ``n_neighbors - 1``.

        Returns
        -------
        TiedNeighbors
            The neighbours of each training item other than itself, ``n_neighbors - 1`` of them
            with their ties.
        """
        if self.n_queries != self.n_samples_fit or self.n_neighbors < 2:
            raise InputError("exclude_self needs the training items as queries and n_neighbors >= 2")
        keep = self.indices != self._rows()
        indptr = np.zeros_like(self.indptr)
        np.cumsum(np.bincount(self._rows()[keep], minlength=self.n_queries), out=indptr[1:])
        return _cut(indptr, self.indices[keep], self.distances[keep], self.n_neighbors - 1, self.n_samples_fit)

    def reorder(self, rows, items) -> TiedNeighbors:
        """The same neighbours with the queries and training items renumbered.

        Parameters
        ----------
        rows : array-like of int of shape (n_queries,)
            New row ``i`` is old row ``rows[i]`` (a permutation).
        items : array-like of int of shape (n_samples_fit,)
            Old training index ``j`` becomes ``items[j]`` (a permutation).

        Returns
        -------
        TiedNeighbors
            Rows sorted by (distance, new index) again.
        """
        picked = self.take(check_order(rows, self.n_queries))
        idx = check_order(items, self.n_samples_fit)[picked.indices]
        order = np.lexsort((idx, picked.distances, picked._rows()))
        return TiedNeighbors(picked.indptr, idx[order], picked.distances[order], self.n_neighbors, self.n_samples_fit)

    def take(self, rows) -> TiedNeighbors:
        """The rows ``rows`` (an int array, or a boolean mask of the queries), in that order."""
        rows = np.arange(self.n_queries)[np.asarray(rows)]
        lengths = self.row_lengths[rows]
        take = np.repeat(self.indptr[rows] - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return TiedNeighbors(indptr, self.indices[take], self.distances[take], self.n_neighbors, self.n_samples_fit)

    @classmethod
    def concatenate(cls, parts: list[TiedNeighbors]) -> TiedNeighbors:
        """The rows of several structures (same k, same training set), one after the other."""
        if not parts:
            raise InputError("concatenate needs at least one TiedNeighbors")
        first = parts[0]
        if any(p.n_neighbors != first.n_neighbors or p.n_samples_fit != first.n_samples_fit for p in parts):
            raise InputError("concatenate needs structures of the same n_neighbors and training set")
        offsets = np.cumsum([0] + [p.indices.size for p in parts[:-1]])
        indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets)])
        return cls(indptr, np.concatenate([p.indices for p in parts]), np.concatenate([p.distances for p in parts]),
                   first.n_neighbors, first.n_samples_fit)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, indices)`` of row ``i``."""
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.distances[lo:hi], self.indices[lo:hi]

    def top_k(self, order=None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of each query when ties are ordered by position in a given training order.

        This is what a kNN that orders neighbours by (distance, training index) returns when it
        is fitted on the training set in that order, with its indices mapped back to file order.

        Parameters
        ----------
        order : array-like of int of shape (n_samples_fit,), optional
            A permutation: ``order[p]`` is the training item at position ``p``. None: file order.

        Returns
        -------
        distances : ndarray of float64 of shape (n_queries, n_neighbors)
        indices : ndarray of int64 of shape (n_queries, n_neighbors)
            Training indices in file order, nearest first.
        """
        order = check_order(order, self.n_samples_fit)
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        k = self.n_neighbors
        sort = np.lexsort((position[self.indices], self.distances, self._rows()))
        take = sort[(self.indptr[:-1, None] + np.arange(k)).ravel()]
        return self.distances[take].reshape(-1, k), self.indices[take].reshape(-1, k)


def _cut(indptr: np.ndarray, indices: np.ndarray, distances: np.ndarray, k: int, n_samples_fit: int) -> TiedNeighbors:
    """Rows sorted by (distance, index), each holding every item up to its k-th distance at least:
    keep in each row what lies at most at its k-th distance."""
    lengths = np.diff(indptr)
    if (lengths < k).any():
        raise InputError(f"a row has fewer than n_neighbors={k} entries")
    kth = distances[indptr[:-1] + k - 1]
    keep = distances <= np.repeat(kth, lengths)
    rows = np.repeat(np.arange(lengths.size), lengths)
    new = np.zeros_like(indptr)
    np.cumsum(np.bincount(rows[keep], minlength=lengths.size), out=new[1:])
    return TiedNeighbors(new, indices[keep], distances[keep], k, n_samples_fit)
