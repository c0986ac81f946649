"""Compressors by name, input validation and packing of texts into flat byte arrays.

``C(t)`` is the length in bytes of the compressed UTF-8 encoding of ``t``. ``gzip`` (the
default) is exactly ``len(gzip.compress(t, compresslevel=9))``; nnzip computes it with its
numba kernel, which emulates zlib's level-9 deflate without emitting any bits.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, InputError


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
def _zstd() -> object:
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


def get_compressor(compressor: str | Callable[[bytes], int] | Compressor) -> Compressor:
    """Resolve a compressor name or a user callable ``bytes -> int``.

    Raises
    ------
    ConfigError
        For an unknown name, naming the valid ones.
    """
    if isinstance(compressor, Compressor):
        return compressor
    if isinstance(compressor, str):
        try:
            return COMPRESSORS[compressor]
        except KeyError:
            raise ConfigError(
                f"unknown compressor {compressor!r}; choose one of {', '.join(COMPRESSORS)} "
                "or pass a callable bytes -> int"
            ) from None
    if callable(compressor):
        name = f"{getattr(compressor, '__module__', '?')}.{getattr(compressor, '__qualname__', repr(compressor))}"
        return Compressor(name, compressor, kernel=False, cacheable=False)
    raise ConfigError(f"compressor must be a name or a callable bytes -> int, got {type(compressor).__name__}")


def checked_length(compressor: Compressor, data: bytes) -> int:
    """Call a compressor's length function and check that it returned a non-negative int."""
    value = compressor.length(data)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"compressor {compressor.name} returned {value!r}; expected a non-negative int")
    return int(value)


def _check_sequence(texts, name: str) -> None:
    if isinstance(texts, (str, bytes)):
        raise InputError(f"{name} must be a sequence of texts, got a single {type(texts).__name__}; wrap it in a list")
    if texts is None or not hasattr(texts, "__len__") or not hasattr(texts, "__iter__"):
        raise InputError(f"{name} must be a sequence of str or bytes, got {type(texts).__name__}")
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise InputError(f"{name} must be one-dimensional (one text per item), got an array of shape {texts.shape}")


def _not_text(name: str, i: int, t: object) -> InputError:
    return InputError(f"{name}[{i}] is {type(t).__name__}, expected str or bytes")


def as_bytes(texts: Sequence[str | bytes], name: str = "texts", *, allow_empty: bool = False) -> list[bytes]:
    """Validate a sequence of texts and encode it as UTF-8 bytes.

    Parameters
    ----------
    texts : sequence of str or bytes
        A list, tuple, numpy array or pandas Series of texts. Empty strings are valid texts.
    name : str
        What the sequence is called in error messages.
    allow_empty : bool
        Whether a sequence with no texts is accepted.

    Raises
    ------
    InputError
        If ``texts`` is a single string or not a sequence, an item is not str/bytes, the
        sequence is empty (unless allowed) or a string cannot be encoded as UTF-8. Every model
        in nnzip (the baselines too) validates texts here or in :func:`as_texts`, so the same
        mistake gives the same error everywhere.
    """
    _check_sequence(texts, name)
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            try:
                out.append(t.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise InputError(f"{name}[{i}] cannot be encoded as UTF-8: {exc.reason}") from None
        elif isinstance(t, (bytes, bytearray, memoryview)):
            out.append(bytes(t))
        else:
            raise _not_text(name, i, t)
    if not out and not allow_empty:
        raise InputError(f"{name} is empty: need at least one text")
    return out


def as_texts(texts: Sequence[str | bytes], name: str = "texts") -> list[str]:
    """Validate a sequence of texts for models that tokenize: ``str`` items, bytes decoded as UTF-8.

    Raises the same errors as :func:`as_bytes`.
    """
    _check_sequence(texts, name)
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            out.append(t)
        elif isinstance(t, (bytes, bytearray, memoryview)):
            try:
                out.append(bytes(t).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}[{i}] is not valid UTF-8 at byte {exc.start}") from None
        else:
            raise _not_text(name, i, t)
    if not out:
        raise InputError(f"{name} is empty: need at least one text")
    return out


def pack(texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate byte strings into one ``uint8`` array with ``int64`` offsets (``n + 1`` of them)."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(texts), dtype=np.uint8)
    return data, offsets


# Inputs that exercise every branch of the kernel: empty, short, repetitive, binary-like,
# multi-block and a window slide.
def _self_test_inputs() -> list[bytes]:
    rng = np.random.default_rng(0)
    words = [b"gzip", b"knn", b"text", b"compression", b"distance", b"the", b"a", b"of"]
    prose = b" ".join(words[i] for i in rng.integers(0, len(words), 9000))
    return [
        b"",
        b"a",
        b"ab" * 200,
        bytes(rng.integers(0, 256, 3000, dtype=np.uint8)),
        bytes(rng.integers(0, 4, 70000, dtype=np.uint8)),
        prose,
    ]


@functools.cache
def kernel_matches_zlib() -> bool:
    """Whether the kernel reproduces this Python's ``gzip.compress`` on a fixed set of inputs.

    The kernel emulates the reference zlib's deflate; a Python linked against a different
    deflate (zlib-ng, Intel's, Cloudflare's) compresses differently. Then nnzip warns once
    and computes ``gzip`` lengths with zlib itself, so lengths stay what ``gzip.compress`` gives.
    """
    from . import _kernels

    samples = _self_test_inputs()
    data, offsets = pack(samples)
    got = _kernels.gzip_lengths(data, offsets)
    pairs = _kernels.gzip_pair_lengths(data, offsets[:3], data, offsets)
    want = [_gzip_len(s) for s in samples]
    want_pairs = [[_gzip_len(x + b" " + y) for y in samples] for x in samples[:2]]
    ok = all(g == w or g == -1 for g, w in zip(got.tolist(), want))
    ok = ok and all(g == w or g == -1 for gr, wr in zip(pairs.tolist(), want_pairs) for g, w in zip(gr, wr))
    if not ok:
        warnings.warn(
            f"this Python's zlib ({zlib.ZLIB_RUNTIME_VERSION}) compresses differently from the reference "
            "zlib that nnzip's kernel emulates; computing gzip lengths with zlib itself (slower, still exact)",
            RuntimeWarning,
            stacklevel=3,
        )
    return ok
