"""Compressed lengths, compression distances and streaming nearest-neighbour search.

``gzip`` runs in nnzip's numba kernel on threads; other compressors and user callables run in
joblib worker processes. Pairwise work is done in blocks of query rows so that a neighbour
search over ``n_x x n_y`` pairs holds only ``O(n_y + block)`` numbers in memory, and each
finished block can be kept in an on-disk cache from which an interrupted run resumes.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import joblib
import numba
import numpy as np
from tqdm.auto import tqdm

from . import _kernels
from .cache import BlockCache, make_key, text_digest
from .compressors import Compressor, as_bytes, checked_length, get_compressor, kernel_matches_zlib, pack
from .errors import ConfigError, InputError

METRICS = {"ncd": _kernels.NCD, "cdm": _kernels.CDM, "clm": _kernels.CLM}
# A block of the pair matrix holds about this many pairs (int64 lengths + float64 distances).
_PAIRS_PER_BLOCK = 1 << 21


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


def _python_pair_rows(comp: Compressor, xs: list[bytes], ys: list[bytes]) -> np.ndarray:
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
        out = _kernels.gzip_lengths(*pack(texts))
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
    """The training side of a pairwise computation: bytes, packed once."""

    def __init__(self, texts: list[bytes]) -> None:
        self.texts = texts
        self.data, self.offsets = pack(texts)


def _pair_block(comp: Compressor, xs: list[bytes], ys: _Side, n_jobs: int) -> np.ndarray:
    """``C(x + " " + y)`` for every ``x`` in ``xs`` and ``y`` in ``ys``."""
    if _use_kernel(comp):
        xd, xo = pack(xs)
        if n_jobs == 1 or len(xs) == 1:
            out = _kernels.gzip_pair_lengths(xd, xo, ys.data, ys.offsets)
        else:
            with _numba_threads(n_jobs):
                chunks = min(len(xs), 4 * n_jobs)
                out = _kernels.gzip_pair_lengths_parallel(xd, xo, ys.data, ys.offsets, chunks)
        for i, j in np.argwhere(out < 0):  # pairs past the kernel's exact range: zlib itself
            out[i, j] = checked_length(comp, xs[i] + b" " + ys.texts[j])
        return out
    if n_jobs == 1 or len(xs) * len(ys.texts) < 2048:
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


def _check_lengths(lengths: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if lengths is None:
        return None
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {lengths.shape}")
    return lengths


def _distances(cxy: np.ndarray, cx: np.ndarray, cy: np.ndarray, code: int, comp: Compressor) -> np.ndarray:
    dist = _kernels.distances_from_lengths(cxy, cx, cy, code)
    if np.isnan(dist).any():
        raise InputError(f"compressor {comp.name} returned length 0, so a distance is undefined")
    return dist


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
    return _pair_block(comp, xs, _Side(ys), resolve_n_jobs(n_jobs))


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
    return _distances(_pair_block(comp, xs, _Side(ys), jobs), cx, cy, code, comp)


def _compute_block(
    comp: Compressor, code: int, xs: list[bytes], side: _Side, cy: np.ndarray, k: int, n_jobs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` neighbours of the queries ``xs`` among all of ``side``."""
    cx = _lengths(comp, xs, n_jobs)
    dist = _distances(_pair_block(comp, xs, side, n_jobs), cx, cy, code, comp)
    return _kernels.stable_top_k(dist, k)


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
        Threads for ``gzip``, worker processes otherwise (None: 1, -1: all cores).
    y_lengths : ndarray of shape (len(Y),), optional
        ``compressed_len(Y)`` if already known (a fitted classifier keeps it).
    block_size : int, optional
        Query rows per block; by default about two million pairs per block.
    cache_dir : path, optional
        Keep each finished block here, keyed by the content of its texts, the training
        texts, compressor, metric, k and nnzip version; a rerun reads finished blocks back
        and an interrupted run resumes, recomputing at most the block it was in.
        Not used with a user callable compressor, whose name does not identify it.
    verbose : int
        Show a progress bar (when stderr is a terminal) if non-zero.

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
    if block_size is None:
        block_size = max(jobs, math.ceil(_pairs_per_block() / len(ys)))
    elif isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise InputError(f"block_size must be a positive int, got {block_size!r}")
    cy = _check_lengths(y_lengths, len(ys), "y_lengths")
    if cy is None:
        cy = _lengths(comp, ys, jobs)
    side = _Side(ys)

    cache = None
    if cache_dir is not None:
        if comp.cacheable:
            cache = BlockCache(cache_dir)
            y_digest = text_digest(ys)
            if not cache.check_writable():  # warned once; compute as if no cache was given
                cache = None
        else:
            warnings.warn(
                f"cache_dir ignored: the callable compressor {comp.name} cannot be identified by content",
                RuntimeWarning,
                stacklevel=2,
            )

    dist = np.empty((len(xs), k), dtype=np.float64)
    idx = np.empty((len(xs), k), dtype=np.int64)
    with tqdm(
        total=len(xs) * len(ys), unit="pair", unit_scale=True, desc="NCD neighbours", disable=None if verbose else True
    ) as bar:
        for lo in range(0, len(xs), block_size):
            block = xs[lo : lo + block_size]
            rows = slice(lo, lo + len(block))
            found = None
            if cache is not None:
                key = make_key("neighbors", comp.name, metric, k, y_digest, text_digest(block))
                found = cache.load(key)
                if found is not None and found["indices"].shape != (len(block), k):
                    found = None
            if found is None:
                d, i = _compute_block(comp, code, block, side, cy, k, jobs)
                if cache is not None:
                    cache.store(key, distances=d, indices=i)
            else:
                d, i = found["distances"], found["indices"]
            dist[rows], idx[rows] = d, i
            bar.update(len(block) * len(ys))
    return dist, idx


def warmup() -> None:
    """Compile (or load from numba's cache) every kernel and run the zlib self-test."""
    data, offsets = pack([b"warm up", b"the kernels"])
    _kernels.gzip_lengths(data, offsets)
    _kernels.gzip_pair_lengths(data, offsets, data, offsets)
    _kernels.gzip_pair_lengths_parallel(data, offsets, data, offsets, 1)
    d = _kernels.distances_from_lengths(np.ones((1, 1), np.int64), np.ones(1, np.int64), np.ones(1, np.int64), 0)
    _kernels.stable_top_k(d, 1)
    kernel_matches_zlib()
