"""Compressed lengths and compression distances between texts: the pairwise functions of the public API.

:func:`compressed_len` gives ``C(t)``, :func:`pairwise_compressed_len` ``C(x + " " + y)`` and
:func:`pairwise_distances` the distance of every pair (:data:`METRICS`). They return whole
matrices; :class:`nnzip.NCDIndex` and :func:`nnzip.nearest_neighbors` find neighbours without
ever holding one. Under ``joblib.parallel_config(backend="dask")`` the pairs run as blocks of
query rows on the Dask cluster (:mod:`nnzip.distributed`); with ``device="cuda"`` on a GPU
(:mod:`nnzip.lengths`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing

import numpy as np

from . import _distances
from .compressors import Compressor, get_compressor
from .distributed import active_client, block_rows, run_blocks, split_rows
from .errors import InputError
from .lengths import TrainingSide, check_device, pair_block, runtime_zlib_report, text_lengths
from .validation import Options, as_bytes, resolve_n_jobs, validate_params

#: Distances by name: the kernel's code of each (:mod:`nnzip._distances`).
METRICS = {"ncd": _distances.NCD, "cdm": _distances.CDM, "clm": _distances.CLM}

TextsLike = Sequence[str | bytes]
CompressorLike = str | Callable[[bytes], int]


def check_metric(metric: str) -> int:
    """Kernel code of a metric name; raise a :class:`~nnzip.errors.ConfigError` naming the valid ones."""
    validate_params({"metric": [Options(METRICS)]}, {"metric": metric})
    return METRICS[metric]


def lengths_to_distances(
    cxy: np.ndarray, cx: np.ndarray, cy: np.ndarray, code: int, comp: Compressor
) -> np.ndarray:
    """Distances from lengths: ``cxy[i, j] = C(x_i y_j)``, ``cx[i]``, and ``cy`` per column (1-D) or
    per cell (2-D, for candidate lists); a zero length that leaves a distance undefined is an error."""
    kernel = _distances.distances_from_lengths if cy.ndim == 1 else _distances.distances_from_lengths_rows
    dist = kernel(cxy, cx, cy, code)
    if np.isnan(dist).any():
        raise InputError(f"compressor {comp.name} returned length 0, so a distance is undefined")
    return dist


def _pair_task(shared: tuple[Compressor, TrainingSide, str], xs: list[bytes], n_jobs: int, progress=None) -> np.ndarray:
    comp, side, device = shared
    return pair_block(comp, xs, side, n_jobs, device=device)


def _pairs(comp: Compressor, xs: list[bytes], side: TrainingSide, jobs: int, device: str) -> np.ndarray:
    """``C(x + " " + y)`` for every pair: one call here, or blocks of rows on a Dask cluster."""
    client = active_client()
    rows = len(xs) if client is None else block_rows(len(side))
    starts, blocks = split_rows(xs, rows)
    out = np.empty((len(xs), len(side)), dtype=np.int64)
    with closing(run_blocks(_pair_task, (comp, side, device), blocks, jobs, client=client)) as results:
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
        shipping them). Single lengths have no ``device``: they stay on the CPU, one pass
        over the texts next to one per pair.

    Returns
    -------
    ndarray of int64 of shape (n_texts,)
    """
    comp = get_compressor(compressor)
    texts = as_bytes(texts, "texts")
    with runtime_zlib_report("compressed_len"):
        return text_lengths(comp, texts, resolve_n_jobs(n_jobs))


def pairwise_compressed_len(
    X: TextsLike, Y: TextsLike, compressor: CompressorLike = "gzip", n_jobs: int | None = None, *, device: str = "cpu"
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
    device : {"cpu", "cuda"}, default="cpu"
        Where the pairs of ``gzip`` and ``zlib`` are compressed: the CPU kernel, or its CUDA
        twin on an NVIDIA GPU (the same lengths); checked before any work, see
        :class:`nnzip.NCDIndex`.

    Returns
    -------
    ndarray of int64 of shape (len(X), len(Y))
    """
    comp = get_compressor(compressor)
    check_device(comp, device)
    xs, ys = as_bytes(X, "X"), as_bytes(Y, "Y")
    with runtime_zlib_report("pairwise_compressed_len"):
        return _pairs(comp, xs, TrainingSide(ys), resolve_n_jobs(n_jobs), device)


def pairwise_distances(
    X: TextsLike,
    Y: TextsLike | None = None,
    compressor: CompressorLike = "gzip",
    metric: str = "ncd",
    n_jobs: int | None = None,
    *,
    device: str = "cpu",
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
    device : {"cpu", "cuda"}, default="cpu"
        See :func:`pairwise_compressed_len`.

    Returns
    -------
    ndarray of float64 of shape (len(X), len(Y))
    """
    comp = get_compressor(compressor)
    code = check_metric(metric)
    check_device(comp, device)
    jobs = resolve_n_jobs(n_jobs)
    xs = as_bytes(X, "X")
    ys = xs if Y is None else as_bytes(Y, "Y")
    with runtime_zlib_report("pairwise_distances"):
        cx = text_lengths(comp, xs, jobs)
        cy = cx if Y is None else text_lengths(comp, ys, jobs)
        return lengths_to_distances(_pairs(comp, xs, TrainingSide(ys), jobs, device), cx, cy, code, comp)
