"""The nearest-neighbour search over a compression distance: :class:`NCDIndex` and :func:`nearest_neighbors`.

``NCDIndex(...).fit(train_texts)`` prepares the training side once (its distinct texts packed in
byte order, their compressed lengths, and for ``search="rerank"`` the fitted first stage);
``.tied_neighbors(X, k)`` then finds the ``k`` nearest training texts of each query and every
training text tied with the k-th, block by block of query rows, so a search of ``n_x x n_y``
pairs holds only ``O(n_y + block)`` numbers in memory.

Identical training texts are at the same distance from every query, so the search runs over
the distinct texts, sorted by their bytes, each counting as many times as it occurs: nothing
in it (the first stage's choice among equal scores included) depends on the order of the
training set, and copies are compressed once. Each finished
block can be kept in an on-disk cache (:mod:`nnzip.cache`) from which an interrupted run
resumes, and under ``joblib.parallel_config(backend="dask")`` the blocks run as tasks on a
Dask cluster (:mod:`nnzip.distributed`). Lengths come from :mod:`nnzip.lengths`, on the CPU or
(``device="cuda"``) a GPU: the same blocks, lengths and results either way.
"""

from __future__ import annotations

import bisect
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from . import _deflate, _distances, _ngrams, cuda_backend
from .cache import BlockCache, make_key, text_digest
from .candidates import DEFAULT_N_CANDIDATES, CandidateIndex
from .compressors import COMPRESSOR_CONSTRAINTS, Compressor, get_compressor
from .distributed import active_client, block_rows, run_blocks, split_rows
from .errors import ConfigError, InputError
from .lengths import (
    DEVICE_CONSTRAINTS,
    NO_COLS,
    TrainingSide,
    check_device,
    kernel_matches_zlib,
    numba_threads,
    pack,
    pair_block,
    runtime_zlib_report,
    text_lengths,
    use_kernel,
    work_items,
)
from .neighbors import tied_rows
from .pairwise import METRICS, CompressorLike, TextsLike, lengths_to_distances
from .tied_neighbors import TiedNeighbors
from .validation import (
    N_JOBS,
    PATH,
    POSITIVE_INT,
    VERBOSE,
    Interval,
    Options,
    TextEstimator,
    as_bytes,
    check_lengths,
    check_n_neighbors,
    check_params,
    resolve_n_jobs,
    validate_params,
)

SEARCHES = ("exact", "rerank")
#: What a cached block holds: per query row, the distinct training texts up to its k-th distance
#: (counted with multiplicity), as CSR ``indptr``/``indices``/``distances``, sorted by (distance, text).
TIE_FORMAT = "tied-csr-distinct-texts-v1"


def check_n_candidates(n_candidates: int | None, k: int | None, search: str) -> None:
    """``n_candidates`` is for ``search="rerank"`` only, and the k nearest must be among the candidates."""
    if n_candidates is not None and search != "rerank":
        raise ConfigError(f"n_candidates={n_candidates} is used only with search='rerank' (search={search!r} "
                          "compresses every pair); leave it out, or set search='rerank'")
    if n_candidates is not None and k is not None and n_candidates < k:
        raise ConfigError(
            f"n_candidates={n_candidates} is smaller than k={k}: the k nearest must be among the candidates")


@dataclass
class BlockCount:
    """Blocks of the searches run inside :func:`count_blocks`: all of them, and those read from the cache."""

    blocks: int = 0
    from_cache: int = 0


_BLOCK_COUNT: ContextVar[BlockCount | None] = ContextVar("nnzip_block_count", default=None)


@contextmanager
def count_blocks() -> Iterator[BlockCount]:
    """Count the blocks of every search run in the ``with`` block (a rerun's may all come from the cache)."""
    count = BlockCount()
    token = _BLOCK_COUNT.set(count)
    try:
        yield count
    finally:
        _BLOCK_COUNT.reset(token)


@dataclass
class _Search:
    """What every block of one search shares: small to ship, except ``side`` (sent once)."""

    comp: Compressor
    metric: str
    side: TrainingSide  # the distinct training texts, in byte order
    copies: np.ndarray  # how many training items each of them stands for
    k: int
    first_stage: CandidateIndex | None
    n_candidates: int  # candidates chosen by the first stage's estimate (its width adds the forced ones)
    side_digest: str | None
    device: str = "cpu"  # where pair lengths are computed; not in key_parts: the lengths are the same
    exclude_copies: bool = False  # leave out the training texts equal to each query

    @property
    def cols_per_row(self) -> int:
        """Pairs compressed per query."""
        return len(self.side) if self.first_stage is None else self.first_stage.width(self.n_candidates)

    def key_parts(self) -> tuple:
        """What, besides the query texts, identifies a block's result in the cache."""
        parts: tuple = (TIE_FORMAT, self.comp.name, self.metric, self.k, self.side_digest)
        if self.first_stage is not None:
            parts += ("rerank", self.n_candidates, self.first_stage.cache_token())
        if self.exclude_copies:
            parts += ("exclude-copies",)
        return parts

    def duplicates(self, xs: list[bytes]) -> np.ndarray:
        """Per query, the distinct training text equal to it (-1 where there is none)."""
        texts = self.side.texts
        out = np.full(len(xs), -1, dtype=np.int64)
        for i, x in enumerate(xs):
            j = bisect.bisect_left(texts, x)
            if j < len(texts) and texts[j] == x:
                out[i] = j
        return out


Block = tuple[np.ndarray, np.ndarray, np.ndarray]  # CSR (indptr, distinct text ids, distances), TIE_FORMAT


def _compute_block(
    search: _Search, xs: list[bytes], n_jobs: int, progress: Callable[[int], object] | None = None
) -> Block:
    """The distinct training texts up to each query's k-th distance (one block of queries), by (distance, text)."""
    side, comp = search.side, search.comp
    cx = text_lengths(comp, xs, n_jobs)
    cols = None
    own = search.duplicates(xs) if search.first_stage is not None or search.exclude_copies else None
    if search.first_stage is not None:
        cols = search.first_stage.candidates(xs, search.n_candidates, n_jobs=n_jobs, x_lengths=cx, include=own)
    cxy = pair_block(comp, xs, side, n_jobs, cols, device=search.device, progress=progress)
    assert side.lengths is not None  # measured in fit
    cy = side.lengths if cols is None else side.lengths[cols]
    dist = lengths_to_distances(cxy, cx, cy, METRICS[search.metric], comp)
    if search.exclude_copies:
        # the query's own text is out of its neighbours: never at or before any k-th distance
        assert own is not None
        hit = np.flatnonzero(own >= 0)
        if cols is None:
            dist[hit, own[hit]] = np.inf
        else:
            dist[cols == own[:, None]] = np.inf
    return tied_rows(dist, search.k, search.copies, cols)


def _search_blocks(
    search: _Search, xs: list[bytes], jobs: int, rows: int, cache: BlockCache | None, verbose: int
) -> Block:
    """Run a search block by block, reading finished blocks from ``cache`` and storing new ones.

    Blocks already in the cache are read, never recomputed or submitted; the others run
    through :func:`nnzip.distributed.run_blocks` (here, or on a Dask cluster). Each block is
    stored as soon as its result arrives, so an interrupted run (Ctrl-C, a crash, a killed
    process) loses at most the blocks it was computing.
    """
    m = search.cols_per_row
    starts, blocks = split_rows(xs, rows)
    results: list[Block | None] = [None] * len(blocks)
    keys: list[str | None] = [None] * len(blocks)
    with tqdm(
        total=len(xs) * m,
        unit="pair",
        unit_scale=True,
        desc="NCD neighbours",
        disable=None if verbose else True,
        smoothing=0.1,
    ) as bar:
        todo = []
        key_parts = search.key_parts() if cache is not None else ()
        for b, block in enumerate(blocks):
            if cache is not None:
                keys[b] = make_key(*key_parts, text_digest(block))
                results[b] = _cached_block(cache.load(keys[b]), len(block), len(search.side))  # type: ignore[arg-type]
            if results[b] is None:
                todo.append(b)
            else:
                bar.update(len(block) * m)
        if (count := _BLOCK_COUNT.get()) is not None:
            count.blocks += len(blocks)
            count.from_cache += len(blocks) - len(todo)
        # closed on the way out, so an error or Ctrl-C here cancels the cluster's pending tasks
        work = run_blocks(_compute_block, search, [blocks[b] for b in todo], jobs, client=active_client(),
                          pairs_per_row=m, progress=bar.update)
        with closing(work) as done:
            for t, result in done:
                b = todo[t]
                if cache is not None:
                    indptr, ids, dist = result
                    cache.store(keys[b], indptr=indptr, indices=ids, distances=dist)  # type: ignore[arg-type]
                results[b] = result
    parts = [r for r in results if r is not None]
    if not parts:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    offsets = np.cumsum([0] + [p[1].size for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p[0][1:] + o for p, o in zip(parts, offsets)])
    return indptr, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def _cached_block(found: dict[str, np.ndarray] | None, n_rows: int, n_texts: int) -> Block | None:
    """A block read from the cache, if it has the shape of this one (else it is recomputed)."""
    if found is None or set(found) != {"indptr", "indices", "distances"}:
        return None
    indptr, ids, dist = found["indptr"], found["indices"], found["distances"]
    if (indptr.shape != (n_rows + 1,) or indptr[0] != 0 or indptr[-1] != ids.size or ids.shape != dist.shape
            or (ids.size and (ids.min() < 0 or ids.max() >= n_texts))):
        return None
    return indptr.astype(np.int64), ids.astype(np.int64), dist.astype(np.float64)


def _open_cache(comp: Compressor, cache_dir: str | os.PathLike | None) -> BlockCache | None:
    if cache_dir is None:
        return None
    if not comp.cacheable:
        warnings.warn(
            f"cache_dir ignored: the callable compressor {comp.name} cannot be identified by content",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    cache = BlockCache(cache_dir)
    return cache if cache.check_writable() else None  # warned once; compute as if no cache was given


class NCDIndex(TextEstimator):
    """Nearest-neighbour index of texts under a compression distance (the search of gzip + kNN).

    ``fit`` prepares the training texts once; :meth:`tied_neighbors` finds the nearest of them
    for each query together with every training text tied with the k-th (nothing in the
    search depends on the order of the training texts), and :meth:`kneighbors` returns exactly
    k of them, ties by training index. Memory is ``O(n_train + block_size * n_train)`` whatever
    the number of queries.

    Parameters
    ----------
    compressor : str or callable, default="gzip"
        ``"gzip"`` (``len(gzip.compress(t, 9))``), ``"zlib"``, ``"bz2"``, ``"lzma"``,
        ``"zstd"``, ``"lz4"``, or a callable ``bytes -> int`` giving a compressed length.
    metric : {"ncd", "cdm", "clm"}, default="ncd"
        See :func:`nnzip.pairwise_distances`.
    search : {"exact", "rerank"}, default="exact"
        ``"exact"`` (the published method) compresses every (query, training text) pair.
        ``"rerank"`` lets a first stage fitted on the training texts (an exact byte 6-gram
        index that estimates how many bytes gzip saves on each pair, :mod:`nnzip.candidates`)
        propose ``n_candidates`` distinct training texts per query, plus every training text
        shorter than its 6 bytes (which it cannot estimate) and any training text equal to
        the query, and ranks those by the exact distance: the same distances and tie
        handling, among the candidates, with fewer pairs compressed. Its choice among equal
        estimates goes by the texts' bytes, never their position, and copies of one text are
        in or out together.
    n_candidates : int, default=None
        Candidates per query chosen by the estimate with ``search="rerank"`` (None:
        :data:`nnzip.candidates.DEFAULT_N_CANDIDATES`; a search for more neighbours than that
        takes that many); with another search it is an error, never ignored. Measured recall and
        agreement: ``benchmarks/rerank.md``.
    n_jobs : int, default=None
        Threads for ``gzip``, worker processes otherwise (None: 1, -1: all cores). Under
        ``joblib.parallel_config(backend="dask")`` the blocks run on the Dask cluster instead.
    cache_dir : str or path, default=None
        Keep each finished block here, keyed by the content of its texts, the training texts
        (as a set with multiplicities: a reordered training set reads the same blocks),
        compressor, metric, k, search mode, nnzip version and a fingerprint of the search's
        code (:func:`nnzip.cache.code_fingerprint`); a rerun reads finished blocks
        back and an interrupted run resumes, recomputing at most the block it was in. Not used
        with a user callable compressor, whose name does not identify it.
    block_size : int, default=None
        Query rows per block; by default about a quarter of a million pairs per block
        (:data:`nnzip.distributed.PAIRS_PER_BLOCK`), here and on a Dask cluster alike.
    verbose : int, default=0
        Show a progress bar (when stderr is a terminal) if non-zero.
    device : {"cpu", "cuda"}, default="cpu"
        Where the pair lengths of ``gzip`` and ``zlib`` are computed: nnzip's CPU kernel, or
        its CUDA twin on an NVIDIA GPU (``pip install "nnzip[cuda]"``), the training side held
        in GPU memory from the first search on. The lengths are the same, so are the results
        and the cache (either device resumes the other's blocks); single lengths, the first
        stage of ``search="rerank"`` and the choice of neighbours and ties stay on the CPU.
        Checked in ``fit`` and in each search, before any work: where the search runs, so on a Dask cluster on every
        worker (one worker per GPU, see :mod:`nnzip.distributed`).

    Attributes
    ----------
    train_texts_ : list of bytes
        UTF-8 training texts.
    train_lengths_ : ndarray of int64
        Compressed length of each training text.
    n_distinct_ : int
        Distinct training texts (the search's columns).
    candidate_index_ : CandidateIndex or None
        The first stage with ``search="rerank"``, fitted on the distinct training texts (None
        when every search is exact).
    n_candidates_ : int
        Distinct training texts per query the first stage proposes, the forced ones included
        (0 for an exact search).
    n_samples_fit_ : int
        Number of training texts.

    Examples
    --------
    >>> from nnzip import NCDIndex
    >>> index = NCDIndex().fit(["the cat sat on the mat", "stocks fell sharply today"])
    >>> distances, indices = index.kneighbors(["a cat on a mat"], 1)
    >>> indices.tolist()
    [[0]]
    >>> index.tied_neighbors(["a cat on a mat"], 1).indices.tolist()
    [0]
    """

    _parameter_constraints: dict = {
        "compressor": COMPRESSOR_CONSTRAINTS,
        "metric": [Options(METRICS)],
        "search": [Options(SEARCHES)],
        "n_candidates": [*POSITIVE_INT, None],
        "n_jobs": N_JOBS,
        "cache_dir": PATH,
        "block_size": [Interval(Integral, 1, None), None],
        "verbose": VERBOSE,
        "device": DEVICE_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        compressor: str | Callable[[bytes], int] = "gzip",
        metric: str = "ncd",
        search: str = "exact",
        n_candidates: int | None = None,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        block_size: int | None = None,
        verbose: int = 0,
        device: str = "cpu",
    ) -> None:
        self.compressor = compressor
        self.metric = metric
        self.search = search
        self.n_candidates = n_candidates
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.block_size = block_size
        self.verbose = verbose
        self.device = device

    def _validate_params(self) -> None:
        super()._validate_params()
        check_n_candidates(self.n_candidates, None, self.search)
        check_device(get_compressor(self.compressor), self.device)

    def fit(self, X: TextsLike, y: None = None, *, lengths: np.ndarray | None = None) -> NCDIndex:
        """Prepare the training texts: encoded, packed, measured, and the first stage fitted.

        Parameters
        ----------
        X : sequence of str or bytes
            Training texts.
        y : None
            Ignored.
        lengths : ndarray of shape (n_samples,), optional
            ``C(y)`` of each training text, when already known.

        Returns
        -------
        self : NCDIndex
        """
        self._validate_params()
        texts = as_bytes(X, "X")
        lengths = check_lengths(lengths, len(texts), "lengths")
        comp = get_compressor(self.compressor)
        jobs = resolve_n_jobs(self.n_jobs)
        distinct, inverse = _distinct(texts)
        by_text = np.argsort(inverse, kind="stable")  # training items grouped by distinct text, by index
        copies = np.bincount(inverse, minlength=len(distinct))
        self._items_ptr = np.concatenate([[0], np.cumsum(copies)]).astype(np.int64)
        self._items = by_text.astype(np.int64)
        self._copies = copies.astype(np.int64)
        self._text_of = inverse  # each training item's distinct text
        given = None if lengths is None else lengths[by_text[self._items_ptr[:-1]]]
        with runtime_zlib_report("fit"):
            self._side = TrainingSide(distinct, given).with_lengths(comp, jobs)
        self._side_digest: str | None = None
        self.train_texts_ = texts
        self.train_lengths_: np.ndarray = self._side.lengths[inverse]  # type: ignore[index]  # measured just now
        self.n_samples_fit_ = len(texts)
        self.n_distinct_ = len(distinct)
        self._fit_first_stage(jobs)
        return self

    def _fit_first_stage(self, n_jobs: int) -> None:
        """The rerank first stage on the distinct training texts (None when every search is exact)."""
        self._estimate_m = 0
        self.candidate_index_ = None
        if self.search == "rerank":
            self._estimate_m = DEFAULT_N_CANDIDATES if self.n_candidates is None else int(self.n_candidates)
            if self._estimate_m < self.n_distinct_:
                self.candidate_index_ = CandidateIndex(n_jobs=n_jobs).fit(self._side.texts, self._side.lengths)  # type: ignore[arg-type]
        self.n_candidates_ = 0
        if self.candidate_index_ is not None:
            self.n_candidates_ = self.candidate_index_.width(self._estimate_m)
            # every distinct text a candidate: that is the exact search, and it is run as such
            if self.n_candidates_ >= self.n_distinct_:
                self.candidate_index_, self.n_candidates_ = None, 0

    def _check_items(self) -> None:
        """Raise ValueError unless the item arrays (read from a file) describe the training side."""
        n, copies, items, ptr = self.n_samples_fit_, self._copies, self._items, self._items_ptr
        if not all(isinstance(a, np.ndarray) and a.dtype == np.int64 and a.ndim == 1 for a in (copies, items, ptr)):
            raise ValueError("the training items are not int64 vectors")
        if (len(copies) != len(self._side) or self.n_distinct_ != len(copies) or (copies.size and copies.min() < 1)
                or int(copies.sum()) != n or not np.array_equal(ptr, np.concatenate([[0], np.cumsum(copies)]))
                or not np.array_equal(np.sort(items), np.arange(n))):
            raise ValueError("the training items do not match the distinct training texts")

    def _inverse(self) -> np.ndarray:
        """The distinct text of each training item (the inverse of ``_items`` grouped by ``_items_ptr``)."""
        inverse = np.empty(self.n_samples_fit_, dtype=np.int64)
        inverse[self._items] = np.repeat(np.arange(len(self._copies)), self._copies)
        return inverse

    def __getstate__(self) -> dict:
        # the training texts and lengths are kept once, in the training side (the distinct texts,
        # packed) and the item arrays; the first stage is rebuilt from them, like the kernel's
        # tables: a saved model holds no index arrays that a kernel would read without bounds checks
        state = super().__getstate__()
        return {k: v for k, v in state.items()
                if k not in ("train_texts_", "train_lengths_", "_side_digest", "candidate_index_", "_estimate_m",
                             "n_candidates_")}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "_side" in state:
            self._side_digest = None
            self._check_items()
            inverse = self._inverse()
            texts = self._side.texts
            self.train_texts_ = [texts[i] for i in inverse.tolist()]
            self.train_lengths_ = self._side.lengths[inverse]  # type: ignore[index]
            self._fit_first_stage(resolve_n_jobs(self.n_jobs))

    def _search(self, k: int, cache: BlockCache | None, exclude_copies: bool = False) -> _Search:
        """The search for the ``k`` nearest: rerank with at least ``k`` candidates, or exact.

        Leaving out the query's own text, the first stage proposes one more: the own text (which
        it always includes) and the ``m`` best-estimated others.
        """
        m = max(self._estimate_m, k) + int(exclude_copies)
        first_stage = self.candidate_index_
        if first_stage is not None and first_stage.width(m) >= self.n_distinct_:
            first_stage = None
        if cache is not None and self._side_digest is None:
            # once per fitted index, for cache keys: the training texts as a multiset
            self._side_digest = text_digest([*self._side.texts, self._copies.tobytes()])
        comp = get_compressor(self.compressor)
        return _Search(comp, self.metric, self._side, self._copies, k, first_stage,
                       m if first_stage is not None else 0, self._side_digest, device=self.device,
                       exclude_copies=exclude_copies)

    def _expand(self, block: Block, k: int) -> TiedNeighbors:
        """From distinct texts to training items: each entry becomes the items of its text, by index."""
        indptr, ids, dist = block
        counts = self._copies[ids]
        entry = np.repeat(np.arange(ids.size), counts)
        within = np.arange(entry.size) - np.repeat(np.cumsum(counts) - counts, counts)
        items = self._items[self._items_ptr[ids][entry] + within]
        d = dist[entry]
        rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))[entry]
        order = np.lexsort((items, d, rows))
        new = np.zeros_like(indptr)
        np.cumsum(np.bincount(rows, minlength=indptr.size - 1), out=new[1:])
        return TiedNeighbors(new, items[order], d[order], k, self.n_samples_fit_)

    def tied_neighbors(self, X: TextsLike | None, n_neighbors: int, *, exclude_copies: bool = False) -> TiedNeighbors:
        """The ``n_neighbors`` nearest training texts of each query and every training text tied with the k-th.

        Parameters
        ----------
        X : sequence of str or bytes, or None
            Query (test) texts; None: the training texts, each without itself.
        n_neighbors : int
            k, ``1 <= k <= n_samples_fit_`` (one less with ``X=None``; with ``exclude_copies``,
            at most the training items left once a query's copies are out). With
            ``search="rerank"`` the ties are those among the candidates.
        exclude_copies : bool, default=False
            Leave out every training text identical to the query. With ``X=None`` this is
            leave-one-out that leaves out each training text's whole group of identical texts,
            so that no copy of a text votes for it (without it, ``X=None`` leaves out only the
            item itself, as scikit-learn's ``kneighbors()`` does, and its copies stay at the
            distance of the text to itself). A rerank search then proposes the own text and the
            ``n_candidates`` best-estimated others.

        Returns
        -------
        TiedNeighbors
            Rows ordered by (distance, training index). The same training texts at the same
            distances under any order of the training set.
        """
        check_is_fitted(self)
        if X is None and not exclude_copies:
            k = check_n_neighbors(n_neighbors, self.n_samples_fit_ - 1, "n_neighbors")
            return self.tied_neighbors(self.train_texts_, k + 1).exclude_self()
        k = check_n_neighbors(n_neighbors, None, "n_neighbors")
        check_device(get_compressor(self.compressor), self.device)  # where the blocks will run, as they start
        cache = _open_cache(get_compressor(self.compressor), self.cache_dir)
        search = self._search(k, cache, exclude_copies)
        # without X: the distinct texts as queries (copies have the same neighbours), rows expanded to items
        xs = self._side.texts if X is None else as_bytes(X, "X")
        left = self.n_samples_fit_
        if exclude_copies:
            own = search.duplicates(xs)
            left -= int(self._copies[own[own >= 0]].max(initial=0))
        if k > left:
            raise InputError(f"n_neighbors={k} is larger than the training items left once a query's copies are "
                             f"left out ({left} of {self.n_samples_fit_})" if left < self.n_samples_fit_ else
                             f"n_neighbors={k} is larger than the number of training items ({left})")
        rows = self.block_size or block_rows(search.cols_per_row)
        with runtime_zlib_report("search"):
            found = _search_blocks(search, xs, resolve_n_jobs(self.n_jobs), rows, cache, self.verbose)
        tied = self._expand(found, k)
        return tied if X is not None else tied.take(self._text_of)

    def kneighbors(self, X: TextsLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest training texts of each query, ties at the k-th distance by training index.

        The distances are the same under any order of the training set; which of several
        texts tied at the k-th distance are returned follows the training index (all of them:
        :meth:`tied_neighbors`; an order-free cut: the classifiers' ``kneighbors``).

        Parameters
        ----------
        X : sequence of str or bytes
            Query (test) texts.
        k : int
            Number of neighbours, ``1 <= k <= n_samples_fit_``.

        Returns
        -------
        distances : ndarray of float64 of shape (len(X), k)
        indices : ndarray of int64 of shape (len(X), k)
            Indices into the training texts, nearest first, ties by index.
        """
        check_is_fitted(self)
        return self.tied_neighbors(X, check_n_neighbors(k, self.n_samples_fit_, "k")).top_k()

    def estimate_seconds(self, X: TextsLike, *, seed: int = 0) -> float:
        """Wall time the pairs of an exact search of ``X`` would take, from a short calibration.

        Times a seeded sample of queries against a sample of the distinct training texts (a
        fraction of a second: up to 8 x 256 pairs on the CPU, about a million on a GPU, which a
        smaller call would not fill) and scales by the number of pairs the search compresses;
        preparing the training side (the gzip kernel's per-text tables, which a search of that
        many queries builds once, see :meth:`nnzip.lengths.TrainingSide.tables`; on a GPU also
        its upload) is timed on the sample first and scaled by the number of distinct training
        texts. On the CPU it is this machine's time; with ``device="cuda"`` under a Dask cluster
        it is timed on one worker's GPU and divided by the number of workers. Call :func:`warmup`
        first, or the estimate includes compiling the kernels.
        """
        check_is_fitted(self)
        comp = get_compressor(self.compressor)
        jobs = resolve_n_jobs(self.n_jobs)
        xs, ys = as_bytes(X, "X"), self._side.texts  # the search pairs each query with the distinct texts
        rng = np.random.default_rng(seed)
        n_y = min(4096 if self.device == "cuda" else 256, len(ys))
        n_x = min(max(8, (1 << 20) // n_y) if self.device == "cuda" else 8, len(xs))
        qx = [xs[i] for i in rng.choice(len(xs), n_x, replace=False)]
        qy = [ys[i] for i in rng.choice(len(ys), n_y, replace=False)]
        client = active_client() if self.device == "cuda" else None
        if client is None:
            prepare, per_pair = _calibrate(comp, qx, qy, jobs, self.device, len(xs))
        else:  # the GPUs are the workers': time one of them, and share the pairs out among all
            prepare, per_pair = client.submit(_calibrate, comp, qx, qy, 1, self.device, len(xs), pure=False).result()
            per_pair /= max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        return per_pair * len(xs) * len(ys) + prepare * len(ys)


def _calibrate(comp: Compressor, qx: list[bytes], qy: list[bytes], jobs: int, device: str,
               n_queries: int) -> tuple[float, float]:
    """Seconds per training text to prepare a side, and per pair, on ``device`` (see ``estimate_seconds``)."""
    side = TrainingSide(qy)
    start = time.perf_counter()
    if device == "cuda":
        side.on_device(jobs)
    elif use_kernel(comp):
        side.tables(jobs, n_queries)  # the mode the whole search will run in
    prepare = (time.perf_counter() - start) / len(side)
    start = time.perf_counter()
    pair_block(comp, qx, side, jobs, device=device)
    return prepare, (time.perf_counter() - start) / (len(qx) * len(side))


def duration_text(seconds: float) -> str:
    """A duration as people read an estimate: ``"40 s"``, ``"12 min"``, ``"2.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _distinct(texts: list[bytes]) -> tuple[list[bytes], np.ndarray]:
    """The distinct texts in byte order, and the position of each text among them."""
    arr = np.empty(len(texts), dtype=object)
    arr[:] = texts
    distinct, inverse = np.unique(arr, return_inverse=True)
    return distinct.tolist(), inverse.reshape(-1).astype(np.int64)


def nearest_neighbors(
    X: TextsLike,
    Y: TextsLike,
    k: int,
    *,
    compressor: CompressorLike = "gzip",
    metric: str = "ncd",
    n_jobs: int | None = None,
    y_lengths: np.ndarray | None = None,
    block_size: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    verbose: int = 0,
    search: str = "exact",
    n_candidates: int | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest training texts of each query: ``NCDIndex(...).fit(Y).kneighbors(X, k)``.

    Every input is checked before any text is compressed. See :class:`NCDIndex` for the
    parameters.

    Parameters
    ----------
    X : sequence of str or bytes
        Query (test) texts.
    Y : sequence of str or bytes
        Training texts.
    k : int
        Number of neighbours, ``1 <= k <= len(Y)``; with ``search="rerank"`` at most ``n_candidates``.
    y_lengths : ndarray of shape (len(Y),), optional
        ``compressed_len(Y)`` if already known.

    Returns
    -------
    distances : ndarray of float64 of shape (len(X), k)
    indices : ndarray of int64 of shape (len(X), k)
        Indices into ``Y``.
    """
    index = NCDIndex(compressor=compressor, metric=metric, search=search, n_candidates=n_candidates, n_jobs=n_jobs,
                     cache_dir=cache_dir, block_size=block_size, verbose=verbose, device=device)
    check_params(index)
    xs, ys = as_bytes(X, "X"), as_bytes(Y, "Y")
    check_n_neighbors(k, len(ys), "k")
    check_n_candidates(n_candidates, k, search)
    return index.fit(ys, lengths=check_lengths(y_lengths, len(ys), "y_lengths")).kneighbors(xs, k)


#: kernels :func:`warmup` leaves to their first use (the explanation's parse), so a search never waits for them
ON_DEMAND_KERNELS = frozenset({"deflate_tokens"})


def kernels_need_compiling() -> bool:
    """Whether :func:`warmup` will compile kernels (a first run, or changed kernels) instead of loading them.

    Reads numba's on-disk cache index of every public kernel, for this machine's CPU; a few
    milliseconds. ``False`` when it cannot tell (numba's cache internals are not public API).
    """
    from numba.core.dispatcher import Dispatcher

    try:
        for module in (_deflate, _distances, _ngrams):
            for name, kernel in vars(module).items():
                if isinstance(kernel, Dispatcher) and not name.startswith("_") and name not in ON_DEMAND_KERNELS:
                    dispatcher: Any = kernel  # the cache's internals are not typed
                    cpu = dispatcher.targetctx.codegen().magic_tuple()
                    if not any(key[1] == cpu for key in dispatcher._cache._cache_file._load_index()):
                        return True
    except (AttributeError, TypeError, IndexError, OSError):
        return False
    return False


def warmup(device: str = "cpu") -> None:
    """Compile (or load from numba's cache) every kernel and run the zlib self-test.

    With ``device="cuda"`` also the GPU kernels (checked first; with an active Dask client,
    on every worker, whose GPUs the search uses), so that a search does not count their
    compilation (tens of seconds) in its time.
    """
    validate_params({"device": DEVICE_CONSTRAINTS}, {"device": device})
    data, offsets = pack([b"warm up", b"the kernels"])
    _deflate.gzip_lengths(data, offsets)
    _deflate.gzip_lengths_parallel(data, offsets, 1)
    _deflate.gzip_pair_lengths(data, offsets, data, offsets)
    items = work_items(2, 2, 1)
    out = np.empty((2, 2), dtype=np.int64)
    tables = _deflate.y_tables(data, offsets)
    _deflate.y_tables_parallel(data, offsets, 1, 1)
    _deflate.y_tables(data, offsets, 1)
    _deflate.gzip_pair_cells(data, offsets, data, offsets, tables, NO_COLS, items, out)
    _deflate.gzip_pair_cells_parallel(data, offsets, data, offsets, tables, np.zeros((2, 2), np.int64), items, 1, out)
    one = np.ones((1, 1), np.int64)
    d = _distances.distances_from_lengths(one, np.ones(1, np.int64), np.ones(1, np.int64), 0)
    _distances.distances_from_lengths_rows(one, np.ones(1, np.int64), one, 0)
    _distances.tied_top_k(d, 1, np.ones(1, np.int64), np.zeros((0, 0), np.int64))
    _distances.tied_top_k(d, 1, np.ones(1, np.int64), np.zeros((1, 1), np.int64))
    # the rerank first stage's kernels, serial and parallel
    index = CandidateIndex(n_frequent=64).fit([b"warm up the", b"kernels up"] * 32, np.full(64, 30))
    index.candidates([b"warm up"], 2, 1, include=np.zeros(1, np.int64))
    index.candidates([b"warm up"] * 16, 2, 2, include=np.zeros(16, np.int64))
    with numba_threads(2):
        _ngrams.distinct_grams_parallel(data, offsets, 5, 1)
    kernel_matches_zlib()
    if device == "cuda":
        check_device(get_compressor("gzip"), device)
        client = active_client()
        if client is None:
            cuda_backend.warmup()
        else:
            client.run(cuda_backend.warmup)

