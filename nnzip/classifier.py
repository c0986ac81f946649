"""The scikit-learn estimator: k-nearest neighbours over compression distances."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _kernels
from .compressors import as_bytes, get_compressor
from .engine import (
    _make_index,
    _open_cache,
    _Search,
    _Side,
    check_metric,
    check_search,
    resolve_n_jobs,
    search_side,
)
from .errors import InputError
from .neighbors import KNeighborsVoteMixin, check_n_neighbors, check_tie_break, check_weights


class NCDKNeighborsClassifier(KNeighborsVoteMixin, ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour classifier over a compression distance (gzip + kNN).

    The distance between a query ``x`` and a training text ``y`` is computed from compressed
    lengths, by default the normalized compression distance with gzip:
    ``NCD(x, y) = (C(x + " " + y) - min(C(x), C(y))) / max(C(x), C(y))``.

    Parameters
    ----------
    n_neighbors : int, default=2
        Number of neighbours that vote.
    compressor : str or callable, default="gzip"
        ``"gzip"``, ``"zlib"``, ``"bz2"``, ``"lzma"``, ``"zstd"``, ``"lz4"`` or a callable
        ``bytes -> int`` giving a compressed length.
    metric : {"ncd", "cdm", "clm", "precomputed"}, default="ncd"
        Compression distance, or ``"precomputed"`` to pass distance matrices as ``X``:
        ``fit`` takes an array with one row per training item, ``predict`` an array of shape
        ``(n_queries, n_train)``.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        How a tie for the most votes is resolved, see :func:`nnzip.vote`.
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights, as in :class:`sklearn.neighbors.KNeighborsClassifier`.
    n_jobs : int, default=None
        Threads (gzip) or worker processes (other compressors); -1 means all cores. Under
        ``joblib.parallel_config(backend="dask")`` the search runs on the Dask cluster
        instead (see :mod:`nnzip.distributed`).
    cache_dir : str or path, default=None
        On-disk cache of neighbour blocks; reruns and interrupted runs resume from it.
    random_state : int, RandomState instance or None, default=None
        Seed for ``tie_break="random"``.
    verbose : int, default=0
        Show a progress bar on terminals when non-zero.
    search : {"exact", "rerank"}, default="exact"
        ``"exact"`` compresses every (query, training text) pair: the published method.
        ``"rerank"`` lets a first stage fitted on the training texts (an exact byte 5-gram
        index that estimates how many bytes gzip saves on each pair, :mod:`nnzip.candidates`)
        propose ``n_candidates`` training texts per query, and ranks those by the exact
        distance: same distances, tie order and vote, only fewer pairs compressed.
    n_candidates : int, default=None
        Candidates per query with ``search="rerank"`` (None:
        :data:`nnzip.candidates.DEFAULT_N_CANDIDATES`); at least the training set size is
        the exact search. Measured recall and agreement per dataset and ``n_candidates``:
        ``benchmarks/rerank.md``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_samples_fit_ : int
        Number of training items.
    train_texts_ : list of bytes
        UTF-8 training texts (absent with ``metric="precomputed"``).
    train_lengths_ : ndarray of int64
        Compressed length of each training text (absent with ``metric="precomputed"``).
    n_features_in_ : int
        Only with ``metric="precomputed"``: columns of the fitted matrix.
    candidate_index_ : CandidateIndex or None
        The fitted first stage with ``search="rerank"`` (None for an exact search).

    Examples
    --------
    >>> from nnzip import NCDKNeighborsClassifier
    >>> clf = NCDKNeighborsClassifier(n_neighbors=1).fit(
    ...     ["the cat sat on the mat", "stocks fell sharply today"], ["pets", "finance"])
    >>> clf.predict(["a cat on a mat"]).tolist()
    ['pets']
    """

    def __init__(
        self,
        n_neighbors: int = 2,
        compressor: str | Callable[[bytes], int] = "gzip",
        metric: str = "ncd",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        search: str = "exact",
        n_candidates: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.compressor = compressor
        self.metric = metric
        self.tie_break = tie_break
        self.weights = weights
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose
        self.search = search
        self.n_candidates = n_candidates

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.metric == "precomputed":
            tags.input_tags.pairwise = True
        else:
            tags.input_tags.two_d_array = False
            tags.input_tags.string = True
        return tags

    def _check_params(self) -> None:
        check_n_neighbors(self.n_neighbors)
        if self.metric != "precomputed":
            check_metric(self.metric)
            get_compressor(self.compressor)
        check_tie_break(self.tie_break)
        check_weights(self.weights)
        check_search(self.search, self.n_candidates, self.n_neighbors)
        resolve_n_jobs(self.n_jobs)

    def fit(self, X, y) -> NCDKNeighborsClassifier:
        """Store the training texts, their labels and compressed lengths.

        Parameters
        ----------
        X : sequence of str or bytes, or array of shape (n_samples, n_samples)
            Training texts, or with ``metric="precomputed"`` a distance matrix.
        y : array-like of shape (n_samples,)
            Labels (str or int).

        Returns
        -------
        self : NCDKNeighborsClassifier
        """
        self._check_params()
        if self.metric == "precomputed":
            X = validate_data(self, X, dtype=np.float64, reset=True)
            n = X.shape[0]
        else:
            texts = as_bytes(X, "X")
            n = len(texts)
        self._fit_labels(y, n)
        if self.metric != "precomputed":
            comp = get_compressor(self.compressor)
            jobs = resolve_n_jobs(self.n_jobs)
            # encoded, packed and measured once here, not in every predict
            self._side = _Side(texts).with_lengths(comp, jobs)
            self.train_texts_ = texts
            self.train_lengths_ = self._side.lengths
            self.candidate_index_, self._n_candidates = _make_index(
                self.search, self._side, comp, self.n_candidates, self.n_neighbors, jobs
            )
        self.n_samples_fit_ = n
        return self

    def _neighbors(self, X, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.metric == "precomputed":
            D = validate_data(self, X, dtype=np.float64, reset=False)
            if np.isnan(D).any():
                raise InputError("the precomputed distance matrix contains nan")
            return _kernels.stable_top_k(np.ascontiguousarray(D), k)
        comp = get_compressor(self.compressor)
        index, m = self.candidate_index_, max(self._n_candidates, k)
        if m >= self.n_samples_fit_:  # kneighbors(n_neighbors=...) may ask for more than were fitted
            index, m = None, 0
        search = _Search(comp, check_metric(self.metric), self._side, k, index, m)
        return search_side(
            as_bytes(X, "X"),
            search,
            resolve_n_jobs(self.n_jobs),
            cache=_open_cache(comp, self.cache_dir),
            verbose=self.verbose,
        )

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """The nearest training items of each query.

        Parameters
        ----------
        X : sequence of str or bytes, or array of shape (n_queries, n_samples_fit_), optional
            Queries. When omitted, the neighbours of each training item other than itself.
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
            if self.metric == "precomputed":
                raise InputError("kneighbors(X=None) needs the training texts; pass X with metric='precomputed'")
            X = self.train_texts_
            k += 1
        if k > self.n_samples_fit_:
            raise InputError(
                f"n_neighbors={k - query_is_train} is larger than the number of training items "
                f"({self.n_samples_fit_ - query_is_train} available)"
            )
        dist, idx = self._neighbors(X, k)
        if query_is_train:
            # drop each item itself; where it is not among its own neighbours, drop the farthest
            own = idx == np.arange(len(idx))[:, None]
            own[~own.any(axis=1), -1] = True
            keep = ~own
            dist = dist[keep].reshape(len(idx), k - 1)
            idx = idx[keep].reshape(len(idx), k - 1)
        return (dist, idx) if return_distance else idx
