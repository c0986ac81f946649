"""Compressed lengths, compression distances and streaming nearest-neighbour search.

``gzip`` runs in nnzip's numba kernel on threads; other compressors and user callables run in
joblib worker processes. Pairwise work is done in blocks of query rows so that a neighbour
search over ``n_x x n_y`` pairs holds only ``O(n_y + block)`` numbers in memory, and each
finished block can be kept in an on-disk cache from which an interrupted run resumes.

Under ``joblib.parallel_config(backend="dask")`` the same blocks run as tasks on a Dask
cluster (:func:`_run_blocks`, :mod:`nnzip.distributed`).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass

import joblib
import numba
import numpy as np
from tqdm.auto import tqdm

from . import _kernels
from .cache import BlockCache, make_key, text_digest
from .compressors import Compressor, as_bytes, checked_length, get_compressor, kernel_matches_zlib, pack
from .distributed import active_client, in_dask_task
from .errors import ConfigError, InputError

METRICS = {"ncd": _kernels.NCD, "cdm": _kernels.CDM, "clm": _kernels.CLM}
# A block of query rows (one cache entry; one task on a Dask cluster) holds about this many
# pairs: a few seconds of work, so an interrupted run loses little and tasks spread evenly
# over workers. Local and cluster runs use the same blocks, so either resumes the other's cache.
_PAIRS_PER_BLOCK = 1 << 18
_TABLE_ROWS = 8  # query rows a training set serves before the gzip kernel's y tables are built
_TABLE_BYTES = 4 << 30  # ... unless they would take more (12 bytes per byte of training text)


def _pairs_per_block() -> int:
    """Pairs per block: ``$NNZIP_BLOCK_PAIRS`` if set (tests use small blocks), else ``_PAIRS_PER_BLOCK``."""
    value = os.environ.get("NNZIP_BLOCK_PAIRS", "")
    return int(value) if value.isdigit() and int(value) > 0 else _PAIRS_PER_BLOCK


TextsLike = Sequence[str | bytes]
CompressorLike = str | Callable[[bytes], int]


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of workers for ``n_jobs`` with scikit-learn's meaning (None: 1, -1: all cores)."""
    if n_jobs is not None and (not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0):
        raise ConfigError(f"n_jobs must be a non-zero int or None, got {n_jobs!r}")
    if in_dask_task():  # a task on a Dask worker: serial kernels only (see nnzip.distributed.run_blocks)
        return 1
    return max(1, int(joblib.effective_n_jobs(n_jobs)))


def check_metric(metric: str) -> int:
    """Kernel code of a metric name; raise a :class:`ConfigError` naming the valid ones."""
    try:
        return METRICS[metric]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}") from None


@contextmanager
def _numba_threads(n: int) -> Iterator[None]:
    previous = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _use_kernel(comp: Compressor) -> bool:
    return comp.kernel and kernel_matches_zlib()


def _python_lengths(comp: Compressor, texts: list[bytes]) -> np.ndarray:
    return np.array([checked_length(comp, t) for t in texts], dtype=np.int64)


def _python_pair_rows(comp: Compressor, xs: list[bytes], ys: Sequence[bytes]) -> np.ndarray:
    out = np.empty((len(xs), len(ys)), dtype=np.int64)
    for i, x in enumerate(xs):
        xs_ = x + b" "
        for j, y in enumerate(ys):
            out[i, j] = checked_length(comp, xs_ + y)
    return out


def _chunks(n: int, parts: int) -> list[slice]:
    parts = max(1, min(n, parts))
    return [slice(p * n // parts, (p + 1) * n // parts) for p in range(parts)]


def _lengths(comp: Compressor, texts: list[bytes], n_jobs: int) -> np.ndarray:
    if _use_kernel(comp):
        data, offsets = pack(texts)
        if n_jobs == 1 or len(texts) < 64:
            out = _kernels.gzip_lengths(data, offsets)
        else:
            with _numba_threads(n_jobs):
                out = _kernels.gzip_lengths_parallel(data, offsets, n_jobs)
        out[out >= 0] += comp.kernel_offset
        for i in np.flatnonzero(out < 0):  # longer than the kernel's exact range: zlib itself
            out[i] = checked_length(comp, texts[i])
        return out
    if n_jobs == 1 or len(texts) < 64:
        return _python_lengths(comp, texts)
    parts = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_python_lengths)(comp, texts[s]) for s in _chunks(len(texts), 4 * n_jobs)
    )
    return np.concatenate(parts)


class _Side:
    """The training side of a search, prepared once: UTF-8 texts, packed, with their lengths.

    A fitted classifier keeps one, so ``predict`` neither re-encodes nor re-packs nor
    re-hashes the training set.
    """

    def __init__(self, texts: list[bytes], lengths: np.ndarray | None = None) -> None:
        self.texts = texts
        self.data, self.offsets = pack(texts)
        self.lengths = lengths
        self._digest: str | None = None
        self._tables: np.ndarray | None = None
        self._rows = 0

    def __len__(self) -> int:
        return len(self.texts)

    def __getstate__(self) -> dict:
        # the packed copy doubles what is pickled (a fitted classifier, the side scattered to
        # Dask workers); it is rebuilt from the texts in a fraction of a second, and the
        # kernel's tables (12 bytes per byte of text) where they are first needed
        return {"texts": self.texts, "lengths": self.lengths, "_digest": self._digest}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.data, self.offsets = pack(self.texts)
        self._tables = None
        self._rows = 0

    def tables(self, n_jobs: int, rows: int) -> np.ndarray:
        """The gzip kernel's per-text tables for a call with ``rows`` query texts, kept for later calls.

        Every pair with a text reuses what depends on that text alone (``_kernels.y_tables``).
        Building them (12 bytes per byte of text) costs about as much as 1 to 20 query rows, so a
        training set gets them once it has served ``_TABLE_ROWS`` query rows, and only its hash
        chains (``_kernels.y_tables`` column 0: 4 bytes per byte, a few ns per byte) before that, or if
        the tables would take more than ``_TABLE_BYTES``.
        """
        self._rows += rows
        columns = 3 if self._rows >= _TABLE_ROWS and 12 * self.data.nbytes <= _TABLE_BYTES else 1
        if self._tables is None or self._tables.shape[1] < columns:
            with _numba_threads(n_jobs):
                self._tables = _kernels.y_tables_parallel(self.data, self.offsets, n_jobs, columns)
        return self._tables

    @property
    def digest(self) -> str:
        """Content hash of the texts (cache keys); computed on first use."""
        if self._digest is None:
            self._digest = text_digest(self.texts)
        return self._digest

    def with_lengths(self, comp: Compressor, n_jobs: int) -> _Side:
        """Compute ``C(y)`` for every text unless known; returns ``self``."""
        if self.lengths is None:
            self.lengths = _lengths(comp, self.texts, n_jobs)
        return self


_NO_COLS = np.zeros((0, 0), dtype=np.int64)


def _work_items(n_rows: int, n_cols: int, n_jobs: int) -> np.ndarray:
    """Kernel work items ``(row, first column, end column)``.

    One item per row on one thread. With several, rows are cut into column ranges of
    16 to 512 cells, about 64 items per thread in all: the kernel's workers take items
    from a shared counter, so all of them finish within one small item of each other,
    a single query included. A worker parses a query text once per row it works on,
    which is small next to the pairs it then computes.
    """
    size = n_cols
    if n_jobs > 1:
        size = max(16, min(512, n_rows * n_cols // (64 * n_jobs)))
    pieces = max(1, -(-n_cols // max(1, size)))
    bounds = [c * n_cols // pieces for c in range(pieces + 1)]
    items = np.empty((n_rows * pieces, 3), dtype=np.int64)
    items[:, 0] = np.repeat(np.arange(n_rows), pieces)
    items[:, 1] = np.tile(bounds[:-1], n_rows)
    items[:, 2] = np.tile(bounds[1:], n_rows)
    return items


def _pair_block(comp: Compressor, xs: list[bytes], ys: _Side, n_jobs: int, cols: np.ndarray | None = None) -> np.ndarray:
    """``C(x + " " + y)`` for every ``x`` in ``xs`` and ``y`` in ``ys`` (or ``y`` in ``ys[cols[i]]``).

    With ``cols`` (shape ``(len(xs), m)``), cell ``(i, c)`` pairs ``xs[i]`` with ``ys[cols[i, c]]``.
    """
    n_cols = len(ys) if cols is None else cols.shape[1]
    if _use_kernel(comp):
        xd, xo = pack(xs)
        out = np.empty((len(xs), n_cols), dtype=np.int64)
        kcols = _NO_COLS if cols is None else np.ascontiguousarray(cols, dtype=np.int64)
        items = _work_items(len(xs), n_cols, n_jobs)
        tables = ys.tables(n_jobs, len(xs))
        if n_jobs == 1 or len(items) == 1:
            _kernels.gzip_pair_cells(xd, xo, ys.data, ys.offsets, tables, kcols, items, out)
        else:
            with _numba_threads(n_jobs):
                workers = min(len(items), n_jobs)
                _kernels.gzip_pair_cells_parallel(xd, xo, ys.data, ys.offsets, tables, kcols, items, workers, out)
        out[out >= 0] += comp.kernel_offset
        for i, c in np.argwhere(out < 0):  # pairs past the kernel's exact range: zlib itself
            j = c if cols is None else cols[i, c]
            out[i, c] = checked_length(comp, xs[i] + b" " + ys.texts[j])
        return out
    if cols is not None:
        rows = [[ys.texts[j] for j in row] for row in cols]
        if n_jobs == 1 or len(xs) * n_cols < 2048:
            return np.vstack([_python_pair_rows(comp, [x], r) for x, r in zip(xs, rows)])
        parts = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(_python_pair_lists)(comp, xs[s], rows[s]) for s in _chunks(len(xs), n_jobs)
        )
        return np.vstack(parts)
    if n_jobs == 1 or len(xs) * n_cols < 2048:
        return _python_pair_rows(comp, xs, ys.texts)
    if len(xs) >= n_jobs:
        parts = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(_python_pair_rows)(comp, xs[s], ys.texts) for s in _chunks(len(xs), n_jobs)
        )
        return np.vstack(parts)
    parts = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_python_pair_rows)(comp, xs, ys.texts[s]) for s in _chunks(len(ys.texts), n_jobs)
    )
    return np.hstack(parts)


def _python_pair_lists(comp: Compressor, xs: list[bytes], rows: list[list[bytes]]) -> np.ndarray:
    return np.vstack([_python_pair_rows(comp, [x], r) for x, r in zip(xs, rows)])


def _check_lengths(lengths: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if lengths is None:
        return None
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {lengths.shape}")
    return lengths


def _distances(cxy: np.ndarray, cx: np.ndarray, cy: np.ndarray, code: int, comp: Compressor) -> np.ndarray:
    """Distances from lengths; ``cy`` per column (1-D) or per cell (2-D, candidate lists)."""
    kernel = _kernels.distances_from_lengths if cy.ndim == 1 else _kernels.distances_from_lengths_rows
    dist = kernel(cxy, cx, cy, code)
    if np.isnan(dist).any():
        raise InputError(f"compressor {comp.name} returned length 0, so a distance is undefined")
    return dist


def _block_size(pairs_per_row: int) -> int:
    """Default query rows per block (about ``_pairs_per_block()`` pairs)."""
    return max(1, math.ceil(_pairs_per_block() / pairs_per_row))


def _split(xs: list[bytes], block_size: int) -> tuple[list[int], list[list[bytes]]]:
    starts = list(range(0, len(xs), block_size))
    return starts, [xs[lo : lo + block_size] for lo in starts]


def _run_blocks(
    fn: Callable[..., object],
    shared: object,
    blocks: Sequence[list[bytes]],
    jobs: int,
    client: object = None,
    pairs_per_row: int = 0,
    progress: Callable[[int], object] | None = None,
) -> Iterator[tuple[int, object]]:
    """Yield ``(b, fn(shared, blocks[b], n_jobs, progress))`` for every block, as each finishes.

    The one place that decides where blocks run: here, in order, on ``jobs`` threads or
    processes (``client`` None), or as tasks on a Dask cluster (``client`` from
    :func:`nnzip.distributed.active_client`), where ``shared`` is sent to each worker once and
    results arrive in completion order. ``progress`` gets pairs done: from inside ``fn``
    locally, per finished block (``len(block) * pairs_per_row``) on a cluster.
    """
    if client is None:
        for b, block in enumerate(blocks):
            yield b, fn(shared, block, jobs, progress)
        return
    from .distributed import run_blocks

    def done(b: int) -> None:
        if progress is not None:
            progress(len(blocks[b]) * pairs_per_row)

    yield from run_blocks(client, fn, shared, blocks, done)


def _pair_task(shared: tuple[Compressor, _Side], xs: list[bytes], n_jobs: int, progress=None) -> np.ndarray:
    comp, side = shared
    return _pair_block(comp, xs, side, n_jobs)


def _pairs(comp: Compressor, xs: list[bytes], side: _Side, jobs: int) -> np.ndarray:
    """``C(x + " " + y)`` for every pair: one call here, or blocks of rows on a Dask cluster."""
    client = active_client()
    block_size = len(xs) if client is None else _block_size(len(side))
    starts, blocks = _split(xs, block_size)
    out = np.empty((len(xs), len(side)), dtype=np.int64)
    with closing(_run_blocks(_pair_task, (comp, side), blocks, jobs, client)) as results:
        for b, cxy in results:
            out[starts[b] : starts[b] + len(blocks[b])] = cxy
    return out


def compressed_len(texts: TextsLike, compressor: CompressorLike = "gzip", n_jobs: int | None = None) -> np.ndarray:
    """Compressed length ``C(t)`` of each text.

    Parameters
    ----------
    texts : sequence of str or bytes
        Texts; ``str`` is encoded as UTF-8.
    compressor : str or callable
        ``"gzip"`` (``len(gzip.compress(t, 9))``), ``"zlib"``, ``"bz2"``, ``"lzma"``,
        ``"zstd"``, ``"lz4"``, or a callable ``bytes -> int``.
    n_jobs : int or None
        Worker processes for compressors without a compiled kernel (None: 1, -1: all cores).
        Under ``joblib.parallel_config(backend="dask")`` those run on the Dask cluster through
        joblib; gzip lengths stay on local threads (one pass over the texts, cheaper than
        shipping them).

    Returns
    -------
    ndarray of int64 of shape (n_texts,)
    """
    comp = get_compressor(compressor)
    return _lengths(comp, as_bytes(texts, "texts"), resolve_n_jobs(n_jobs))


def pairwise_compressed_len(
    X: TextsLike, Y: TextsLike, compressor: CompressorLike = "gzip", n_jobs: int | None = None
) -> np.ndarray:
    """``C(x + " " + y)`` for every query ``x`` in ``X`` and training text ``y`` in ``Y``.

    The query comes first, then one space, then the training text: the order of the
    original paper's code (gzip lengths are not symmetric).

    Parameters
    ----------
    X, Y : sequence of str or bytes
        Query texts and training texts.
    compressor : str or callable
        See :func:`compressed_len`.
    n_jobs : int or None
        Threads for ``gzip``, worker processes otherwise (None: 1, -1: all cores).

    Returns
    -------
    ndarray of int64 of shape (len(X), len(Y))
    """
    comp = get_compressor(compressor)
    xs, ys = as_bytes(X, "X"), as_bytes(Y, "Y")
    return _pairs(comp, xs, _Side(ys), resolve_n_jobs(n_jobs))


def pairwise_distances(
    X: TextsLike,
    Y: TextsLike | None = None,
    compressor: CompressorLike = "gzip",
    metric: str = "ncd",
    n_jobs: int | None = None,
) -> np.ndarray:
    """Compression distance between every query in ``X`` and every text in ``Y``.

    Parameters
    ----------
    X : sequence of str or bytes
        Query texts.
    Y : sequence of str or bytes, optional
        Training texts; ``X`` itself when omitted.
    compressor : str or callable
        See :func:`compressed_len`.
    metric : {"ncd", "cdm", "clm"}
        ``ncd``: ``(C(xy) - min(C(x), C(y))) / max(C(x), C(y))``; ``cdm``:
        ``C(xy) / (C(x) + C(y))``; ``clm``: ``1 - (C(x) + C(y) - C(xy)) / C(xy)``.
    n_jobs : int or None
        See :func:`pairwise_compressed_len`.

    Returns
    -------
    ndarray of float64 of shape (len(X), len(Y))
    """
    comp = get_compressor(compressor)
    code = check_metric(metric)
    jobs = resolve_n_jobs(n_jobs)
    xs = as_bytes(X, "X")
    ys = xs if Y is None else as_bytes(Y, "Y")
    cx = _lengths(comp, xs, jobs)
    cy = cx if Y is None else _lengths(comp, ys, jobs)
    return _distances(_pairs(comp, xs, _Side(ys), jobs), cx, cy, code, comp)


SEARCHES = ("exact", "rerank")


def check_search(search: str, n_candidates: int | None, k: int) -> None:
    """Validate ``search`` and ``n_candidates``; raise a :class:`ConfigError` naming the problem."""
    if search not in SEARCHES:
        raise ConfigError(f"unknown search {search!r}; choose one of {', '.join(SEARCHES)}")
    if n_candidates is None:
        return
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, (int, np.integer)) or n_candidates < 1:
        raise ConfigError(f"n_candidates must be a positive int or None, got {n_candidates!r}")
    if n_candidates < k:
        raise ConfigError(f"n_candidates={n_candidates} is smaller than k={k}: the k nearest must be among the candidates")


@dataclass
class _Search:
    """What every block of one search shares: small to ship, except ``side`` (sent once)."""

    comp: Compressor
    code: int
    side: _Side
    k: int
    index: object = None  # a fitted first stage (nnzip.candidates) for search="rerank"
    n_candidates: int = 0

    @property
    def cols_per_row(self) -> int:
        """Pairs compressed per query."""
        return len(self.side) if self.index is None else self.n_candidates

    def key_parts(self) -> tuple:
        """What, besides the query texts, identifies a block's result in the cache."""
        parts = ("neighbors", self.comp.name, _METRIC_NAMES[self.code], self.k, self.side.digest)
        if self.index is not None:
            parts += ("rerank", self.n_candidates, self.index.cache_token())
        return parts


_METRIC_NAMES = {code: name for name, code in METRICS.items()}
# One kernel call covers about this many pairs: short enough that the progress bar moves
# and Ctrl-C is honoured within a second or so, long enough that call overhead is nothing.
_PAIRS_PER_CALL = 1 << 15


def _compute_block(
    search: _Search, xs: list[bytes], n_jobs: int, progress: Callable[[int], object] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` neighbours of the queries ``xs`` (one block), ordered by (distance, training index)."""
    side, comp = search.side, search.comp
    cx = _lengths(comp, xs, n_jobs)
    cols = None if search.index is None else search.index.candidates(xs, search.n_candidates, n_jobs=n_jobs, x_lengths=cx)
    m = search.cols_per_row
    cxy = np.empty((len(xs), m), dtype=np.int64)
    step = max(1, _PAIRS_PER_CALL // m)
    for lo in range(0, len(xs), step):
        rows = slice(lo, min(lo + step, len(xs)))
        cxy[rows] = _pair_block(comp, xs[rows], side, n_jobs, None if cols is None else cols[rows])
        if progress is not None:
            progress((rows.stop - rows.start) * m)
    cy = side.lengths if cols is None else side.lengths[cols]
    dist, pos = _kernels.stable_top_k(_distances(cxy, cx, cy, search.code, comp), search.k)
    # candidates are sorted by training index, so ties among them stay in training-index order
    return (dist, pos) if cols is None else (dist, np.take_along_axis(cols, pos, axis=1))


def _search_blocks(
    search: _Search,
    xs: list[bytes],
    jobs: int,
    block_size: int,
    cache: BlockCache | None,
    verbose: int,
    client: object = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a search block by block, reading finished blocks from ``cache`` and storing new ones.

    Blocks already in the cache are read, never recomputed or submitted; the others run
    through :func:`_run_blocks` (here, or on a Dask cluster with ``client``). Each block is
    stored as soon as its result arrives, so an interrupted run (Ctrl-C, a crash, a killed
    process) loses at most the blocks it was computing.
    """
    k = search.k
    m = search.cols_per_row
    dist = np.empty((len(xs), k), dtype=np.float64)
    idx = np.empty((len(xs), k), dtype=np.int64)
    starts, blocks = _split(xs, block_size)
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
        if cache is not None:
            key_parts = search.key_parts()
        for b, (lo, block) in enumerate(zip(starts, blocks)):
            found = None
            if cache is not None:
                keys[b] = make_key(*key_parts, text_digest(block))
                found = cache.load(keys[b])
                if found is not None and found["indices"].shape != (len(block), k):
                    found = None
            if found is None:
                todo.append(b)
            else:
                dist[lo : lo + len(block)], idx[lo : lo + len(block)] = found["distances"], found["indices"]
                bar.update(len(block) * m)
        # closed on the way out, so an error or Ctrl-C here cancels the cluster's pending tasks
        with closing(_run_blocks(_compute_block, search, [blocks[b] for b in todo], jobs, client, m, bar.update)) as results:
            for t, (d, i) in results:
                b = todo[t]
                if cache is not None:
                    cache.store(keys[b], distances=d, indices=i)
                lo = starts[b]
                dist[lo : lo + len(d)], idx[lo : lo + len(d)] = d, i
    return dist, idx


def _open_cache(comp: Compressor, cache_dir: str | os.PathLike | None) -> BlockCache | None:
    if cache_dir is None:
        return None
    if not comp.cacheable:
        warnings.warn(
            f"cache_dir ignored: the callable compressor {comp.name} cannot be identified by content",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    cache = BlockCache(cache_dir)
    return cache if cache.check_writable() else None  # warned once; compute as if no cache was given


def _make_index(search: str, side: _Side, comp: Compressor, n_candidates: int | None, k: int, jobs: int):
    """The fitted first stage for ``search="rerank"``, or ``None`` when the search is exact.

    ``n_candidates`` at least the training set size means every text is a candidate: that is
    the exact search, and it is run as such.
    """
    if search == "exact":
        return None, 0
    from .candidates import DEFAULT_N_CANDIDATES, CandidateIndex

    m = DEFAULT_N_CANDIDATES if n_candidates is None else int(n_candidates)
    m = max(m, k)
    if m >= len(side):
        return None, 0
    return CandidateIndex(n_jobs=jobs).fit(side.texts, side.lengths), m


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
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest training texts of each query, computed in blocks of query rows.

    Only one block of the distance matrix exists at a time, so memory is
    ``O(len(Y) + block_size * len(Y))`` whatever ``len(X)``. Neighbours are ordered by
    distance, ties by training index, so results are deterministic.

    Parameters
    ----------
    X : sequence of str or bytes
        Query (test) texts.
    Y : sequence of str or bytes
        Training texts.
    k : int
        Number of neighbours, ``1 <= k <= len(Y)``.
    compressor : str or callable
        See :func:`compressed_len`.
    metric : {"ncd", "cdm", "clm"}
        See :func:`pairwise_distances`.
    n_jobs : int or None
        Threads for ``gzip``, worker processes otherwise (None: 1, -1: all cores). Under
        ``joblib.parallel_config(backend="dask")`` the blocks run on the Dask cluster instead
        (see :mod:`nnzip.distributed`).
    y_lengths : ndarray of shape (len(Y),), optional
        ``compressed_len(Y)`` if already known (a fitted classifier keeps it).
    block_size : int, optional
        Query rows per block; by default about two million pairs per block (a quarter of a
        million on a Dask cluster, where each block is one task).
    cache_dir : path, optional
        Keep each finished block here, keyed by the content of its texts, the training
        texts, compressor, metric, k, search mode and nnzip version; a rerun reads finished
        blocks back and an interrupted run resumes, recomputing at most the block it was in.
        Not used with a user callable compressor, whose name does not identify it.
    verbose : int
        Show a progress bar (when stderr is a terminal) if non-zero.
    search : {"exact", "rerank"}
        ``"exact"`` (default, the published method) compresses every (query, training text)
        pair. ``"rerank"`` lets a cheap first stage propose ``n_candidates`` training texts
        per query and ranks only those by the exact distance (see :mod:`nnzip.candidates`).
    n_candidates : int, optional
        Candidates per query for ``search="rerank"``; default
        :data:`nnzip.candidates.DEFAULT_N_CANDIDATES`. At least ``len(Y)`` is the exact search.

    Returns
    -------
    distances : ndarray of float64 of shape (len(X), k)
    indices : ndarray of int64 of shape (len(X), k)
        Indices into ``Y``.
    """
    comp = get_compressor(compressor)
    code = check_metric(metric)
    jobs = resolve_n_jobs(n_jobs)
    xs, ys = as_bytes(X, "X"), as_bytes(Y, "Y")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive int, got {k!r}")
    if k > len(ys):
        raise InputError(f"k={k} is larger than the number of training texts ({len(ys)})")
    check_search(search, n_candidates, k)
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1):
        raise InputError(f"block_size must be a positive int, got {block_size!r}")
    cache = _open_cache(comp, cache_dir)
    side = _Side(ys, _check_lengths(y_lengths, len(ys), "y_lengths")).with_lengths(comp, jobs)
    index, m = _make_index(search, side, comp, n_candidates, k, jobs)
    return search_side(
        xs, _Search(comp, code, side, int(k), index, m), jobs, block_size=block_size, cache=cache, verbose=verbose
    )


def search_side(
    xs: list[bytes],
    search: _Search,
    jobs: int,
    *,
    block_size: int | None = None,
    cache: BlockCache | None = None,
    verbose: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a prepared search (the classifier's path: training side and first stage built in ``fit``).

    Under ``joblib.parallel_config(backend="dask")`` its blocks run on the Dask cluster.
    """
    client = active_client()
    if block_size is None:
        block_size = _block_size(search.cols_per_row)
    return _search_blocks(search, xs, jobs, block_size, cache, verbose, client)


def estimate_seconds(
    X: TextsLike, Y: TextsLike, *, compressor: CompressorLike = "gzip", n_jobs: int | None = None, seed: int = 0
) -> float:
    """Wall time an exact search of ``X`` against ``Y`` would take here, from a short calibration.

    Times a seeded sample of up to 8 queries against up to 256 training texts (a fraction of
    a second) and scales by the number of pairs; the gzip kernel's training-side tables, which
    a search of that many queries builds once (see ``_Side.tables``), are timed on the sample
    first and scaled by the number of training texts. Call :func:`warmup` first, or the
    estimate includes compiling the kernels.
    """
    comp = get_compressor(compressor)
    jobs = resolve_n_jobs(n_jobs)
    xs, ys = as_bytes(X, "X"), as_bytes(Y, "Y")
    rng = np.random.default_rng(seed)
    qx = [xs[i] for i in rng.choice(len(xs), min(8, len(xs)), replace=False)]
    qy = _Side([ys[i] for i in rng.choice(len(ys), min(256, len(ys)), replace=False)])
    start = time.perf_counter()
    if _use_kernel(comp):
        qy.tables(jobs, len(xs))  # the mode the whole search will run in
    prepare = (time.perf_counter() - start) / len(qy)
    start = time.perf_counter()
    _pair_block(comp, qx, qy, jobs)
    per_pair = (time.perf_counter() - start) / (len(qx) * len(qy))
    return per_pair * len(xs) * len(ys) + prepare * len(ys)


def warmup() -> None:
    """Compile (or load from numba's cache) every kernel and run the zlib self-test."""
    data, offsets = pack([b"warm up", b"the kernels"])
    _kernels.gzip_lengths(data, offsets)
    _kernels.gzip_lengths_parallel(data, offsets, 1)
    _kernels.gzip_pair_lengths(data, offsets, data, offsets)
    items = _work_items(2, 2, 1)
    out = np.empty((2, 2), dtype=np.int64)
    tables = _kernels.y_tables(data, offsets)
    _kernels.y_tables_parallel(data, offsets, 1, 1)
    _kernels.y_tables(data, offsets, 1)
    _kernels.gzip_pair_cells(data, offsets, data, offsets, tables, _NO_COLS, items, out)
    _kernels.gzip_pair_cells_parallel(data, offsets, data, offsets, tables, np.zeros((2, 2), np.int64), items, 1, out)
    one = np.ones((1, 1), np.int64)
    d = _kernels.distances_from_lengths(one, np.ones(1, np.int64), np.ones(1, np.int64), 0)
    _kernels.distances_from_lengths_rows(one, np.ones(1, np.int64), one, 0)
    _kernels.stable_top_k(d, 1)
    from .candidates import CandidateIndex  # the rerank first stage's kernels, serial and parallel

    index = CandidateIndex(n_frequent=64).fit([b"warm up the", b"kernels up"] * 32, np.full(64, 30))
    index.candidates([b"warm up"], 2, 1)
    index.candidates([b"warm up"] * 16, 2, 2)
    with _numba_threads(2):
        _kernels.distinct_grams_parallel(data, offsets, 5, 1)
    kernel_matches_zlib()
