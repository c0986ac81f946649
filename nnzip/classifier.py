"""The scikit-learn estimator: k-nearest neighbours over compression distances, searched by an NCDIndex."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from sklearn.utils.validation import validate_data

from .compressors import get_compressor
from .errors import InputError
from .index import NCDIndex, check_n_candidates
from .lengths import check_device
from .neighbors import KNeighborsVoteMixin, top_k
from .pairwise import METRICS
from .tied_neighbors import TiedNeighbors
from .validation import Options, TextClassifier, as_bytes


class NCDKNeighborsClassifier(KNeighborsVoteMixin, TextClassifier):
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
    distance_ties : {"split", "all", "index"}, default="split"
        How the training texts tied at the k-th nearest distance vote (compression distances
        take few distinct values, so such ties are common). ``"split"``: every text at the
        k-th distance takes part; the ``r`` places left after the strictly nearer texts are
        shared equally by the ``t`` tied texts (weight ``r / t`` each, times its ``weights``
        weight), so the total weight stays k and the vote is the average over all training
        orders of the index-ordered one. ``"all"``: each tied text counts fully (R's
        ``class::knn``). ``"index"``: the first of them by training index take the places;
        depends on training order; reproduces nnzip <= 0.1 figures. See
        :func:`nnzip.neighbors.tied_vote`.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        How a tie for the most votes is resolved: ``"nearest"``, the tied class whose nearest
        member is closest (then the next nearest, ...; then the classes' order);
        ``"decrement"``, drop the farthest distance group until the tie is gone;
        ``"random"``, a draw keyed by ``random_state`` and the query's text; ``"lowest"``, the
        classes' order. See :func:`nnzip.neighbors.tied_vote` (and :func:`nnzip.vote` for
        ``distance_ties="index"``, where positions decide as in nnzip <= 0.1).
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights, as in :class:`sklearn.neighbors.KNeighborsClassifier`.
    n_jobs : int, default=None
        Threads (gzip) or worker processes (other compressors); -1 means all cores. Under
        ``joblib.parallel_config(backend="dask")`` the search runs on the Dask cluster
        instead (see :mod:`nnzip.distributed`).
    cache_dir : str or path, default=None
        On-disk cache of neighbour blocks; reruns and interrupted runs resume from it (see
        :class:`nnzip.NCDIndex`).
    random_state : int, RandomState instance or None, default=None
        Seed for ``tie_break="random"``.
    verbose : int, default=0
        Show a progress bar on terminals when non-zero.
    search : {"exact", "rerank"}, default="exact"
        ``"exact"`` compresses every (query, training text) pair: the published method;
        ``"rerank"`` ranks only the candidates a first stage proposes, by the exact distance
        (same distances and tie handling among them, fewer pairs). See :class:`nnzip.NCDIndex`.
    n_candidates : int, default=None
        Candidates per query with ``search="rerank"`` (an error with ``search="exact"``); see
        :class:`nnzip.NCDIndex`.
    device : {"cpu", "cuda"}, default="cpu"
        Where the pair lengths are computed: the CPU, or an NVIDIA GPU (``gzip`` and ``zlib``;
        same lengths, so the same predictions). See :class:`nnzip.NCDIndex`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_samples_fit_ : int
        Number of training items.
    index_ : NCDIndex
        The fitted search over the training texts (absent with ``metric="precomputed"``): its
        ``train_texts_``, ``train_lengths_`` and, for ``search="rerank"``, ``candidate_index_``.
    train_texts_ : list of bytes
        UTF-8 training texts, ``index_.train_texts_`` (absent with ``metric="precomputed"``).
    train_lengths_ : ndarray of int64
        Compressed length of each training text, ``index_.train_lengths_`` (absent with
        ``metric="precomputed"``).
    n_features_in_ : int
        Only with ``metric="precomputed"``: columns of the fitted matrix.

    Examples
    --------
    >>> from nnzip import NCDKNeighborsClassifier
    >>> clf = NCDKNeighborsClassifier(n_neighbors=1).fit(
    ...     ["the cat sat on the mat", "stocks fell sharply today"], ["pets", "finance"])
    >>> clf.predict(["a cat on a mat"]).tolist()
    ['pets']
    """

    _parameter_constraints: dict = {
        **KNeighborsVoteMixin._parameter_constraints,
        **{k: v for k, v in NCDIndex._parameter_constraints.items() if k != "block_size"},
        "metric": [Options((*METRICS, "precomputed"))],
    }

    def __init__(
        self,
        n_neighbors: int = 2,
        *,
        compressor: str | Callable[[bytes], int] = "gzip",
        metric: str = "ncd",
        distance_ties: str = "split",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        search: str = "exact",
        n_candidates: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.compressor = compressor
        self.metric = metric
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose
        self.search = search
        self.n_candidates = n_candidates
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.metric == "precomputed":
            tags.input_tags.pairwise = True
            tags.input_tags.two_d_array = True
            tags.input_tags.string = False
        return tags

    def _validate_params(self) -> None:
        super()._validate_params()
        check_n_candidates(self.n_candidates, self.n_neighbors, self.search)
        if self.metric != "precomputed":  # a precomputed matrix needs no device
            check_device(get_compressor(self.compressor), self.device)

    def _fit(self, X, y) -> None:
        """Store the training texts, their labels and compressed lengths (in :attr:`index_`)."""
        if self.metric == "precomputed":
            X = validate_data(self, X, dtype=np.float64, reset=True)
            self._fit_labels(y, X.shape[0])  # no texts: ties are cut by label, then index
            self.n_samples_fit_ = X.shape[0]
            return
        index = NCDIndex(compressor=self.compressor, metric=self.metric, search=self.search,
                         n_candidates=self.n_candidates, n_jobs=self.n_jobs, cache_dir=self.cache_dir,
                         verbose=self.verbose, device=self.device)
        texts = as_bytes(X, "X")
        self._fit_labels(y, len(texts), texts)
        # encoded, packed and measured once here, not in every predict
        self.index_ = index.fit(texts)
        self.train_texts_ = self.index_.train_texts_
        self.train_lengths_ = self.index_.train_lengths_
        self.n_samples_fit_ = len(texts)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k not in ("train_texts_", "train_lengths_")}  # kept in index_

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "index_" in state:
            self.train_texts_ = self.index_.train_texts_
            self.train_lengths_ = self.index_.train_lengths_

    def _training_queries(self):
        if self.metric == "precomputed":
            raise InputError("kneighbors(X=None) needs the training texts; pass X with metric='precomputed'")
        return self.train_texts_

    def _query_keys(self, X) -> list[bytes] | None:
        return None if self.metric == "precomputed" else super()._query_keys(X)

    def _tied_neighbors(self, X, k: int) -> TiedNeighbors:
        if self.metric != "precomputed":
            return self.index_.tied_neighbors(X, k)
        D = validate_data(self, X, dtype=np.float64, reset=False)
        if np.isnan(D).any():
            raise InputError("the precomputed distance matrix contains nan")
        return top_k(D, k)
