"""A content-addressed on-disk cache of computed array blocks.

Each entry is one ``.npz`` file named by a hash of everything that determines its content
(texts, compressor, metric, k, nnzip version, and a fingerprint of the code that computes it:
:func:`code_fingerprint`), so a changed kernel or tie convention never reads another's blocks.
Files are written to a temporary name and renamed, so a crash never leaves a half-written
entry under a real name; each file also stores a SHA-256 of its arrays, so a truncated or
corrupted file is detected, reported and recomputed rather than trusted.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .fileio import atomic_write, writable_dir_problem

_FORMAT = 2
#: The modules (under ``nnzip``) whose code determines what a cached search block holds: the
#: deflate kernel and the lengths layer (with the compressors), distances and the tied top-k (the
#: selection of each block's tied neighbours and their container), the n-gram kernels and the rerank
#: first stage, and the search itself (its block format and tie convention).
#: The GPU's kernel and host side count too: a block's key does not name the device that computed it
#: (both give the same lengths, so either resumes the other's blocks), so it covers every device's code.
FINGERPRINTED = ("_deflate", "_deflate_cuda", "cuda_backend", "_distances", "_ngrams", "compressors", "lengths",
                 "pairwise", "candidates", "neighbors", "tied_neighbors", "index")
#: The modules whose code determines what a saved model predicts: the search and, besides it, the
#: neighbour structure, the votes and tie rules, the estimators and the baselines (a model file
#: records their fingerprint, :mod:`nnzip.persistence`).
MODEL_CODE = FINGERPRINTED + ("classifier", "dictionary", "baselines.bow",
                              "baselines.embedding", "baselines.transformer")


def module_source(name: str) -> Path | None:
    """The source file of the module ``nnzip.<name>``, or None when there is none (a frozen build)."""
    try:
        spec = importlib.util.find_spec(f"{__package__}.{name}")
    except ImportError:
        return None
    origin = None if spec is None else spec.origin
    return Path(origin) if origin and origin.endswith(".py") else None


@functools.cache
def code_fingerprint(modules: tuple[str, ...] = FINGERPRINTED) -> str:
    """SHA-256 of the source of ``modules`` (names under ``nnzip``) and of the runtime zlib's version.

    The default, :data:`FINGERPRINTED`, keys the block cache; a saved model records that of
    :data:`MODEL_CODE`. The zlib version counts because inputs beyond the deflate kernel's
    exact range are compressed by the runtime's zlib.
    """
    h = hashlib.sha256(f"zlib {zlib.ZLIB_RUNTIME_VERSION}".encode())
    for name in modules:
        h.update(b"\0" + name.encode() + b"\0")
        source = module_source(name)
        try:
            h.update(source.read_bytes() if source is not None else b"unreadable")
        except OSError:  # no source shipped: the version has to do
            h.update(b"unreadable")
    return h.hexdigest()


def text_digest(texts: Iterable[bytes]) -> str:
    """SHA-256 of a sequence of byte strings (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(len(t).to_bytes(8, "little"))
        h.update(t)
    return h.hexdigest()


def make_key(*parts: object) -> str:
    """Cache key from the nnzip version, the cache format, :func:`code_fingerprint` and ``parts``."""
    h = hashlib.sha256(f"nnzip {__version__} format {_FORMAT} code {code_fingerprint()}".encode())
    for p in parts:
        h.update(b"\0")
        h.update(str(p).encode())
    return h.hexdigest()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$NNZIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnzip``, else ``~/.cache/nnzip``."""
    if os.environ.get("NNZIP_CACHE_DIR"):
        return Path(os.environ["NNZIP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nnzip"


class BlockCache:
    """Load and store named groups of arrays under a directory.

    A cache is an aid, never a reason to fail or to lose work: if the directory cannot be
    written (read-only, a file, a full disk) the cache warns once and turns itself off, and
    the caller computes as if there were no cache.

    Parameters
    ----------
    directory : str or Path
        Where entries live; created on first store (or by :meth:`check_writable`).

    Attributes
    ----------
    enabled : bool
        False once the cache found it cannot write; then ``load`` and ``store`` do nothing.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.enabled = True

    def path(self, key: str) -> Path:
        """File of the entry ``key``."""
        return self.directory / key[:2] / f"{key}.npz"

    def _disable(self, reason: str) -> None:
        if self.enabled:
            self.enabled = False
            warnings.warn(f"cache {self.directory} is not used: {reason}; continuing without it",
                          RuntimeWarning, stacklevel=3)

    def check_writable(self) -> bool:
        """Create the directory and try writing in it; warn once and turn the cache off if that fails.

        Call before long work so that a bad cache directory is reported up front.

        Returns
        -------
        bool
            Whether the cache is usable.
        """
        if self.enabled:
            problem = writable_dir_problem(self.directory)
            if problem:
                self._disable(problem)
        return self.enabled

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or ``None`` if absent or damaged (damage is warned about)."""
        path = self.path(key)
        if not self.enabled or not (path.exists() or path.is_symlink()):
            return None
        if not path.is_file():
            warnings.warn(f"ignoring cache entry {path}: not a file; recomputing it", RuntimeWarning, stacklevel=2)
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
            stored = str(arrays.pop("__checksum__"))
            if stored != _checksum(arrays):
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"ignoring damaged cache file {path} ({exc}); recomputing it", RuntimeWarning, stacklevel=2)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache: the entry stays, and is recomputed each time
            return None
        return arrays

    def store(self, key: str, **arrays: np.ndarray) -> None:
        """Write ``arrays`` under ``key`` atomically; on failure warn once and turn the cache off."""
        if not self.enabled:
            return
        checksum = np.array(_checksum(arrays))
        try:
            payload: dict[str, Any] = {"__checksum__": checksum, **arrays}
            atomic_write(self.path(key), lambda f: np.savez(f, **payload), binary=True, fsync=True)
        except OSError as exc:
            self._disable(f"writing {self.path(key)} failed ({exc.strerror or exc})")
