"""Compressors by name, and the process pool that runs the ones written in Python.

``C(t)`` is the length in bytes of the compressed UTF-8 encoding of ``t``. ``gzip`` (the
default) is exactly ``len(gzip.compress(t, compresslevel=9))``; nnzip computes it with its
numba kernel (:mod:`nnzip.lengths` decides when), which emulates zlib's level-9 deflate
without emitting any bits. Every other compressor, and a user's callable, runs here: in this
process for small jobs, else in joblib worker processes (:func:`pool_lengths`,
:func:`pool_pairs`), which under ``joblib.parallel_config(backend="dask")`` are Dask tasks.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np

from .errors import InputError
from .validation import IsCallable, Options, validate_params


def _gzip_len(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _zlib_len(data: bytes) -> int:
    return len(zlib.compress(data, 9))


def _bz2_len(data: bytes) -> int:
    return len(bz2.compress(data, 9))


# Preset 9 would reserve a 64 MiB dictionary, whose set-up costs ~37 ms per call; texts are far
# shorter than 1 MiB, and on 150 random 20news pairs the lengths equalled preset 9's (0.4 ms per call).
_LZMA_FILTERS = ({"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20},)


def _lzma_len(data: bytes) -> int:
    return len(lzma.compress(data, filters=_LZMA_FILTERS))


@functools.cache
def _zstd() -> Any:
    import zstandard

    return zstandard.ZstdCompressor(level=19)


def _zstd_len(data: bytes) -> int:
    return len(_zstd().compress(data))


def _lz4_len(data: bytes) -> int:
    import lz4.block

    return len(lz4.block.compress(data, mode="high_compression", compression=12, store_size=False))


@dataclass(frozen=True)
class Compressor:
    """A named length function ``bytes -> int``.

    Attributes
    ----------
    name : str
        Registry name, or ``module.qualname`` of a user callable.
    length : callable
        Returns the compressed length of a byte string.
    kernel : bool
        Whether nnzip's compiled kernel computes it (``gzip``, and ``zlib``: the same deflate
        stream in a 2-byte header and 4-byte trailer instead of gzip's 10 and 8).
    kernel_offset : int
        Added to the kernel's gzip length (``zlib``: -12).
    cacheable : bool
        Whether the name identifies the function's behaviour, so that results may be cached
        on disk under it (false for user callables).
    """

    name: str
    length: Callable[[bytes], int]
    kernel: bool = False
    cacheable: bool = True
    kernel_offset: int = 0


COMPRESSORS: dict[str, Compressor] = {
    "gzip": Compressor("gzip", _gzip_len, kernel=True),
    "zlib": Compressor("zlib", _zlib_len, kernel=True, kernel_offset=-12),
    "bz2": Compressor("bz2", _bz2_len),
    "lzma": Compressor("lzma", _lzma_len),
    "zstd": Compressor("zstd", _zstd_len),
    "lz4": Compressor("lz4", _lz4_len),
}


#: What a ``compressor`` parameter may be, in every estimator and function that takes one.
COMPRESSOR_CONSTRAINTS: list = [Options(COMPRESSORS), IsCallable("bytes -> int")]


def get_compressor(compressor: str | Callable[[bytes], int] | Compressor) -> Compressor:
    """Resolve a compressor name or a user callable ``bytes -> int``.

    Raises
    ------
    ConfigError
        For an unknown name, naming the valid ones.
    """
    if isinstance(compressor, Compressor):
        return compressor
    validate_params({"compressor": COMPRESSOR_CONSTRAINTS}, {"compressor": compressor})
    if isinstance(compressor, str):
        return COMPRESSORS[compressor]
    name = f"{getattr(compressor, '__module__', '?')}.{getattr(compressor, '__qualname__', repr(compressor))}"
    return Compressor(name, compressor, kernel=False, cacheable=False)


def checked_length(compressor: Compressor, data: bytes) -> int:
    """Call a compressor's length function and check that it returned a non-negative int."""
    value = compressor.length(data)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"compressor {compressor.name} returned {value!r}; expected a non-negative int")
    return int(value)


# ---- the process pool for compressors written in Python --------------------------------------

# Below this many texts (pairs), one process is faster than starting a pool.
_POOL_MIN_TEXTS = 64
_POOL_MIN_PAIRS = 2048


def _python_lengths(comp: Compressor, texts: list[bytes]) -> np.ndarray:
    return np.array([checked_length(comp, t) for t in texts], dtype=np.int64)


def _python_pair_rows(comp: Compressor, xs: list[bytes], ys: Sequence[bytes]) -> np.ndarray:
    out = np.empty((len(xs), len(ys)), dtype=np.int64)
    for i, x in enumerate(xs):
        xs_ = x + b" "
        for j, y in enumerate(ys):
            out[i, j] = checked_length(comp, xs_ + y)
    return out


def _python_pair_lists(comp: Compressor, xs: list[bytes], rows: list[list[bytes]]) -> np.ndarray:
    return np.vstack([_python_pair_rows(comp, [x], r) for x, r in zip(xs, rows)])


def _chunks(n: int, parts: int) -> list[slice]:
    parts = max(1, min(n, parts))
    return [slice(p * n // parts, (p + 1) * n // parts) for p in range(parts)]


def pool_lengths(comp: Compressor, texts: list[bytes], n_jobs: int) -> np.ndarray:
    """``C(t)`` of each text with a Python compressor, on ``n_jobs`` worker processes."""
    if n_jobs == 1 or len(texts) < _POOL_MIN_TEXTS:
        return _python_lengths(comp, texts)
    parts = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_python_lengths)(comp, texts[s]) for s in _chunks(len(texts), 4 * n_jobs)
    )
    return np.concatenate(parts)


def pool_pairs(
    comp: Compressor, xs: list[bytes], ys: Sequence[bytes], n_jobs: int, cols: np.ndarray | None = None
) -> np.ndarray:
    """``C(x + " " + y)`` with a Python compressor, on ``n_jobs`` worker processes.

    Every ``x`` in ``xs`` with every ``y`` in ``ys``; with ``cols`` (shape ``(len(xs), m)``),
    cell ``(i, c)`` pairs ``xs[i]`` with ``ys[cols[i, c]]``.
    """
    n_cols = len(ys) if cols is None else cols.shape[1]
    small = n_jobs == 1 or len(xs) * n_cols < _POOL_MIN_PAIRS
    if cols is not None:
        rows = [[ys[j] for j in row] for row in cols]
        if small:
            return _python_pair_lists(comp, xs, rows)
        parts = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(_python_pair_lists)(comp, xs[s], rows[s]) for s in _chunks(len(xs), n_jobs)
        )
        return np.vstack(parts)
    if small:
        return _python_pair_rows(comp, xs, ys)
    if len(xs) >= n_jobs:  # rows to share out; else a few long rows: share out their columns
        parts = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(_python_pair_rows)(comp, xs[s], ys) for s in _chunks(len(xs), n_jobs)
        )
        return np.vstack(parts)
    parts = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_python_pair_rows)(comp, xs, ys[s]) for s in _chunks(len(ys), n_jobs)
    )
    return np.hstack(parts)
