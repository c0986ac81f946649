"""A content-addressed on-disk cache of computed array blocks.

Each entry is one ``.npz`` file named by a hash of everything that determines its content
(texts, compressor, metric, k, nnzip version). Files are written to a temporary name and
renamed, so a crash never leaves a half-written entry under a real name; each file also
stores a SHA-256 of its arrays, so a truncated or corrupted file is detected, reported and
recomputed rather than trusted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from . import __version__

_FORMAT = 1


def text_digest(texts: Iterable[bytes]) -> str:
    """SHA-256 of a sequence of byte strings (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(len(t).to_bytes(8, "little"))
        h.update(t)
    return h.hexdigest()


def make_key(*parts: object) -> str:
    """Cache key from the nnzip version, the cache format and ``parts``."""
    h = hashlib.sha256(f"nnzip {__version__} format {_FORMAT}".encode())
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

    Parameters
    ----------
    directory : str or Path
        Where entries live; created on first store.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """File of the entry ``key``."""
        return self.directory / key[:2] / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or ``None`` if absent or damaged (damage is warned about)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
            stored = str(arrays.pop("__checksum__"))
            if stored != _checksum(arrays):
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"ignoring damaged cache file {path} ({exc}); recomputing it", RuntimeWarning, stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return arrays

    def store(self, key: str, **arrays: np.ndarray) -> None:
        """Write ``arrays`` under ``key`` atomically."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __checksum__=np.array(_checksum(arrays)), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
