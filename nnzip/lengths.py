"""Compressed lengths in bulk: the one layer that decides how ``C(t)`` and ``C(x + " " + y)`` are computed.

``gzip`` and ``zlib`` run in nnzip's numba deflate kernel (:mod:`nnzip._deflate`) on threads:
it reproduces the reference zlib's level-9 deflate, so lengths are the same on every platform,
also where Python links another deflate (zlib-ng; :func:`kernel_matches_zlib`). Every other
compressor, and a user's callable, runs in the process pool of :mod:`nnzip.compressors`. Inputs
longer than the kernel's exact range are computed with the runtime's zlib; where that zlib is
not the reference, :func:`runtime_zlib_report` says how many lengths came from it.

With ``device="cuda"`` the pair lengths of ``gzip`` and ``zlib`` come from the CUDA twin of
the kernel instead (:mod:`nnzip.cuda_backend`), with the same ``-1`` cells filled by zlib and
the same offsets: the lengths, and so every result and cache entry, are the same on either
device. Single lengths ``C(t)`` stay on the CPU (one pass over the texts, next to one per pair).

The neighbour search (:mod:`nnzip.index`), the pairwise functions (:mod:`nnzip.pairwise`) and
the rerank first stage (:mod:`nnzip.candidates`) all take their lengths from here: this is the
single place where the device is chosen (:func:`pair_block`).

The training side of a search is prepared once (:class:`TrainingSide`): encoded, packed into
one byte array, measured, and given the kernel's per-text tables once it has served enough
queries to pay for them.
"""

from __future__ import annotations

import functools
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import numba
import numpy as np

from . import _deflate, cuda_backend
from .compressors import COMPRESSORS, Compressor, checked_length, pool_lengths, pool_pairs
from .distributed import active_client, check_on_workers
from .errors import ConfigError
from .validation import Options, validate_params

if TYPE_CHECKING:  # pragma: no cover
    from .cuda_backend import CudaPairLengths

#: Query rows a training side serves before the gzip kernel's per-text tables are built for it ...
TABLE_ROWS = 8
#: ... unless they would take more bytes than this (12 bytes per byte of training text).
TABLE_BYTES = 4 << 30
# Below this many texts one thread is faster than starting the parallel kernel.
_PARALLEL_MIN_TEXTS = 64
#: Pairs per CPU call of :func:`pair_block`: short enough that a progress bar moves and Ctrl-C
#: is honoured within a second or so, long enough that call overhead is nothing. A GPU call
#: takes a whole block (launches of up to ``cuda_backend._PAIRS_PER_LAUNCH`` pairs).
PAIRS_PER_CALL = 1 << 15

#: Where pair lengths are computed: nnzip's CPU kernel (threads), or the CUDA kernel on a GPU.
DEVICES = ("cpu", "cuda")
#: What a ``device`` parameter may be, in every estimator and function that takes one.
DEVICE_CONSTRAINTS: list = [Options(DEVICES)]


@contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run numba's parallel kernels on ``n`` threads inside the block; the previous number is restored."""
    previous = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def pack(texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate byte strings into one ``uint8`` array with ``int64`` offsets (``n + 1`` of them)."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(texts), dtype=np.uint8)
    return data, offsets


def _self_test_inputs() -> list[bytes]:
    """Inputs that exercise every branch of the kernel: empty, short, repetitive, binary-like,
    multi-block and a window slide."""
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
    deflate (zlib-ng, Intel's, Cloudflare's) compresses differently. nnzip then keeps the
    kernel's reference lengths, so its figures do not change with the platform, and warns once;
    inputs beyond the kernel's exact range can only come from this zlib, and are counted
    (:func:`runtime_zlib_report`).
    """
    gzip_len = COMPRESSORS["gzip"].length
    samples = _self_test_inputs()
    data, offsets = pack(samples)
    got = _deflate.gzip_lengths(data, offsets)
    pairs = _deflate.gzip_pair_lengths(data, offsets[:3], data, offsets)
    want = [gzip_len(s) for s in samples]
    want_pairs = [[gzip_len(x + b" " + y) for y in samples] for x in samples[:2]]
    ok = all(g == w or g == -1 for g, w in zip(got.tolist(), want))
    ok = ok and all(g == w or g == -1 for gr, wr in zip(pairs.tolist(), want_pairs) for g, w in zip(gr, wr))
    if not ok:
        warnings.warn(
            f"this Python's zlib ({zlib.ZLIB_RUNTIME_VERSION}) compresses differently from the reference "
            "zlib that nnzip's kernel emulates; nnzip keeps the kernel's reference lengths, the same on every "
            f"platform (only inputs over {_deflate.MAX_INPUT:,} bytes need this zlib, and are counted)",
            RuntimeWarning,
            stacklevel=3,
        )
    return ok


_runtime_lengths = 0  # lengths taken from a runtime zlib that is not the reference, so far


def _runtime_zlib(comp: Compressor, data: bytes) -> int:
    """A kernel compressor's length of an input beyond the kernel's range: the runtime's zlib."""
    global _runtime_lengths
    if not kernel_matches_zlib():
        _runtime_lengths += 1
    return checked_length(comp, data)


@contextmanager
def runtime_zlib_report(what: str) -> Iterator[None]:
    """Warn once, after the block, how many of its lengths came from a runtime zlib that is not the reference.

    ``what`` names the work (``"search"``, ...). Lengths computed on Dask workers are not counted.
    """
    start = _runtime_lengths
    yield
    n = _runtime_lengths - start
    if n:
        warnings.warn(
            f"{what}: {n:,} compressed lengths (inputs over {_deflate.MAX_INPUT:,} bytes, beyond the kernel's exact "
            f"range) came from this Python's zlib ({zlib.ZLIB_RUNTIME_VERSION}), which is not the reference zlib: "
            "they may differ from the reference lengths",
            RuntimeWarning,
            stacklevel=3,
        )


def check_device(comp: Compressor, device: str) -> None:
    """Whether pair lengths of ``comp`` can be computed on ``device`` here; raise if not, before any work.

    ``"cpu"`` always can. ``"cuda"`` needs a compressor of the deflate kernel (``gzip``,
    ``zlib``; the GPU reproduces the reference zlib's lengths, as the CPU kernel does) and
    numba-cuda, a driver, a GPU and the CUDA compiler: here, or under a Dask cluster (joblib's
    ``dask`` backend) on every worker, where the blocks then run.

    Raises
    ------
    ConfigError
        An unknown device, or a compressor the GPU does not compute.
    DeviceError, MissingDependencyError
        From :func:`nnzip.cuda_backend.check_device`, naming what is missing (and on which worker).
    """
    validate_params({"device": DEVICE_CONSTRAINTS}, {"device": device})
    if device == "cpu":
        return
    if not comp.kernel:
        raise ConfigError(f"device='cuda' computes gzip and zlib lengths only; compressor {comp.name} "
                          "runs on the CPU: use device='cpu'")
    client = active_client()
    if client is None:
        cuda_backend.check_device()
        return
    workers: dict = {}
    for address, gpu in check_on_workers(client, cuda_backend.gpu_in_use).items():
        workers.setdefault(gpu[:2], []).append(address)
    shared = [f"{', '.join(sorted(w))} share GPU {gpu} of {host}" for (host, gpu), w in workers.items() if len(w) > 1]
    if shared:
        warnings.warn(f"device='cuda': workers {'; '.join(shared)}; start one worker per GPU "
                      "(CUDA_VISIBLE_DEVICES=i dask worker ... --nthreads 1, or dask-cuda's LocalCUDACluster)",
                      RuntimeWarning, stacklevel=3)


def use_kernel(comp: Compressor) -> bool:
    """Whether ``comp``'s lengths come from the deflate kernel (else from the process pool)."""
    return comp.kernel


def text_lengths(comp: Compressor, texts: list[bytes], n_jobs: int) -> np.ndarray:
    """``C(t)`` of each text, on ``n_jobs`` threads (kernel) or worker processes (Python compressors)."""
    if not use_kernel(comp):
        return pool_lengths(comp, texts, n_jobs)
    data, offsets = pack(texts)
    if n_jobs == 1 or len(texts) < _PARALLEL_MIN_TEXTS:
        out = _deflate.gzip_lengths(data, offsets)
    else:
        with numba_threads(n_jobs):
            out = _deflate.gzip_lengths_parallel(data, offsets, n_jobs)
    out[out >= 0] += comp.kernel_offset
    for i in np.flatnonzero(out < 0):  # longer than the kernel's exact range: zlib itself
        out[i] = _runtime_zlib(comp, texts[i])
    return out


class TrainingSide:
    """The training side of a search, prepared once: UTF-8 texts, packed, with their lengths.

    A fitted index keeps one, so a search neither re-encodes nor re-packs the training set.
    Pickled or saved (a fitted model saved, the side scattered to Dask workers) it keeps its
    packed texts and lengths only, as three arrays: the list of texts is rebuilt from them in
    a fraction of a second, and the kernel's tables (12 bytes per byte of text) where they are
    first needed.
    Its copy on the GPU (:meth:`on_device`) is not kept either: each process (each Dask worker)
    that computes pairs with ``device="cuda"`` uploads the side to its own GPU once.

    Parameters
    ----------
    texts : list of bytes
        The training texts.
    lengths : ndarray of int64, optional
        ``C(y)`` of each text, when known.
    """

    def __init__(self, texts: list[bytes], lengths: np.ndarray | None = None) -> None:
        self.texts = texts
        self.data, self.offsets = pack(texts)
        self.lengths = lengths
        self._tables: np.ndarray | None = None
        self._rows = 0
        self._device: CudaPairLengths | None = None
        self._device_lock = threading.Lock()  # one upload, whatever the number of threads asking

    def __len__(self) -> int:
        return len(self.texts)

    def __getstate__(self) -> dict:
        return {"data": self.data, "offsets": self.offsets, "lengths": self.lengths}

    def __setstate__(self, state: dict) -> None:
        data, offsets = np.asarray(state["data"], dtype=np.uint8), np.asarray(state["offsets"], dtype=np.int64)
        raw = data.tobytes()
        self.__init__([raw[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())],  # type: ignore[misc]
                      state["lengths"])

    def tables(self, n_jobs: int, rows: int) -> np.ndarray:
        """The gzip kernel's per-text tables for a call with ``rows`` query texts, kept for later calls.

        Every pair with a text reuses what depends on that text alone (``_deflate.y_tables``).
        Building them (12 bytes per byte of text) costs about as much as 1 to 20 query rows, so a
        training set gets them once it has served :data:`TABLE_ROWS` query rows, and only its hash
        chains (``_deflate.y_tables`` column 0: 4 bytes per byte, a few ns per byte) before that, or if
        the tables would take more than :data:`TABLE_BYTES`.
        """
        self._rows += rows
        columns = 3 if self._rows >= TABLE_ROWS and 12 * self.data.nbytes <= TABLE_BYTES else 1
        if self._tables is None or self._tables.shape[1] < columns:
            with numba_threads(n_jobs):
                self._tables = _deflate.y_tables_parallel(self.data, self.offsets, n_jobs, columns)
        return self._tables

    def on_device(self, n_jobs: int) -> CudaPairLengths:
        """This side on the GPU (:class:`nnzip.cuda_backend.CudaPairLengths`), uploaded on first use.

        The kernel's tables are built on the CPU (``n_jobs`` threads) with all three columns,
        copied to the GPU, and not kept here.
        """
        with self._device_lock:
            if self._device is None:
                tables = self._tables
                if tables is None or tables.shape[1] < 3:
                    if n_jobs == 1:  # serial: inside a Dask task no parallel kernel may run
                        tables = _deflate.y_tables(self.data, self.offsets, 3)
                    else:
                        with numba_threads(n_jobs):
                            tables = _deflate.y_tables_parallel(self.data, self.offsets, n_jobs, 3)
                self._device = cuda_backend.CudaPairLengths(self.data, self.offsets, tables)
            return self._device

    def with_lengths(self, comp: Compressor, n_jobs: int) -> TrainingSide:
        """Compute ``C(y)`` for every text unless known; returns ``self``."""
        if self.lengths is None:
            self.lengths = text_lengths(comp, self.texts, n_jobs)
        return self


NO_COLS = np.zeros((0, 0), dtype=np.int64)  # the kernel's "no candidate lists": every training text


def work_items(n_rows: int, n_cols: int, n_jobs: int) -> np.ndarray:
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


def _cpu_cells(xs: list[bytes], ys: TrainingSide, tables: np.ndarray, n_jobs: int, cols: np.ndarray | None,
               out: np.ndarray) -> None:
    """The CPU kernel's lengths of one call's rows into ``out`` (``-1`` past its exact range)."""
    xd, xo = pack(xs)
    kcols = NO_COLS if cols is None else np.ascontiguousarray(cols, dtype=np.int64)
    items = work_items(len(xs), out.shape[1], n_jobs)
    if n_jobs == 1 or len(items) == 1:
        _deflate.gzip_pair_cells(xd, xo, ys.data, ys.offsets, tables, kcols, items, out)
    else:
        with numba_threads(n_jobs):
            workers = min(len(items), n_jobs)
            _deflate.gzip_pair_cells_parallel(xd, xo, ys.data, ys.offsets, tables, kcols, items, workers, out)


def pair_block(
    comp: Compressor,
    xs: list[bytes],
    ys: TrainingSide,
    n_jobs: int,
    cols: np.ndarray | None = None,
    *,
    device: str = "cpu",
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """``C(x + " " + y)`` for every ``x`` in ``xs`` and ``y`` in ``ys`` (or ``y`` in ``ys[cols[i]]``).

    With ``cols`` (shape ``(len(xs), m)``), cell ``(i, c)`` pairs ``xs[i]`` with ``ys[cols[i, c]]``.
    On the CPU the rows are computed in calls of about :data:`PAIRS_PER_CALL` pairs; on the GPU
    (``device="cuda"``, checked by :func:`check_device`) in launches of millions, the next
    running while this thread takes the last one's lengths. ``progress`` gets the pairs done
    after each call or launch.
    """
    n_cols = len(ys) if cols is None else cols.shape[1]
    out = np.empty((len(xs), n_cols), dtype=np.int64)
    kernel = use_kernel(comp)  # device="cuda" is checked to need it
    if not out.size:
        return out
    if device == "cuda":
        xd, xo = pack(xs)
        with closing(ys.on_device(n_jobs).iter_blocks(xd, xo, cols)) as blocks:
            for lo, cells in blocks:
                out[lo : lo + len(cells)] = cells
                if progress is not None:
                    progress(len(cells) * n_cols)
    else:
        tables = ys.tables(n_jobs, len(xs)) if kernel else None
        step = max(1, PAIRS_PER_CALL // max(1, n_cols))
        for lo in range(0, len(xs), step):
            rows = slice(lo, min(lo + step, len(xs)))
            sub = None if cols is None else cols[rows]
            if tables is not None:
                _cpu_cells(xs[rows], ys, tables, n_jobs, sub, out[rows])
            else:
                out[rows] = pool_pairs(comp, xs[rows], ys.texts, n_jobs, sub)
            if progress is not None:
                progress((rows.stop - rows.start) * n_cols)
    if kernel:
        out[out >= 0] += comp.kernel_offset
        for i, c in np.argwhere(out < 0):  # pairs past the kernel's exact range: zlib itself
            j = c if cols is None else cols[i, c]
            out[i, c] = _runtime_zlib(comp, xs[i] + b" " + ys.texts[j])
    return out
