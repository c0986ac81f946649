"""Exact gzip pair lengths on a CUDA GPU: device checks and a training side resident on the device.

The kernels are in :mod:`nnzip._deflate_cuda` (numba-cuda); this module finds the device,
uploads a training side once (:class:`CudaPairLengths`) and computes blocks of pair lengths
with the same inputs and outputs as the CPU kernel's ``gzip_pair_cells``: rows of query
texts against every training text, or against per-row candidate lists (``search="rerank"``),
``-1`` where a pair is past the kernel's exact range so that the caller asks zlib.
:mod:`nnzip.lengths` decides when it is used (``device="cuda"``) and holds one
:class:`CudaPairLengths` per prepared training side.

:func:`check_device` raises one clear error (which of numba-cuda, the driver, a GPU or the
CUDA compiler is missing) before any work; a CUDA error during the work becomes a
:class:`~nnzip.errors.DeviceError` too. Under ``NUMBA_ENABLE_CUDASIM=1`` numba-cuda's
simulator stands in for the GPU: the same kernels run in Python threads, exact and very
slow (tests only).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager

import numba
import numpy as np

from . import _deflate
from .errors import ConfigError, DeviceError, InputError, MissingDependencyError

# Pairs per launch: about a second of work on a large GPU, small enough that a block of query
# rows' device arrays (heads 64 KiB, gram sets 48 KiB per row) stay a few hundred MiB.
_PAIRS_PER_LAUNCH = 1 << 24
_MAX_ROWS_PER_LAUNCH = 4096
INSTALL_HINT = "pip install 'nnzip[cuda]'"


def _numba_cuda_installed() -> bool:
    return importlib.util.find_spec("numba_cuda") is not None


def _simulated() -> bool:
    return bool(getattr(numba.config, "ENABLE_CUDASIM", 0))


def _driver_problem() -> str | None:
    """Why the CUDA driver library cannot be loaded, or None when it can."""
    from numba.cuda.cudadrv import driver
    from numba.cuda.cudadrv.error import CudaSupportError

    try:
        driver.find_driver()
    except CudaSupportError as exc:
        return " ".join(str(exc).split())
    return None


def _gpu_names() -> list[str]:
    """Names of the GPUs the driver sees (empty when it sees none or cannot start)."""
    from numba import cuda

    if not cuda.is_available():
        return []
    return [gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name) for gpu in cuda.gpus]


def _compiler_problem() -> str | None:
    """Why the CUDA compilers (NVVM and NVRTC, from a CUDA toolkit) cannot be loaded, or None when they can."""
    from numba.cuda.cudadrv import nvrtc, nvvm

    try:
        nvvm.NVVM()
        nvrtc.get_supported_ccs()  # type: ignore[attr-defined]  # asked by numba-cuda before compiling
    except Exception as exc:  # NvvmSupportError, a library not found, or an OSError from a broken one
        return " ".join(str(exc).split())
    return None


def check_device() -> str:
    """The name of the GPU that ``device="cuda"`` uses; raise naming what is missing.

    The GPU is the first one this process sees: on a machine with several, give each process
    its own with ``CUDA_VISIBLE_DEVICES`` (one Dask worker per GPU, see :mod:`nnzip.distributed`).

    Raises
    ------
    MissingDependencyError
        numba-cuda is not installed (``pip install 'nnzip[cuda]'``), or no CUDA toolkit
        provides its compiler (NVVM).
    DeviceError
        No CUDA driver is installed, or the driver sees no usable GPU.
    """
    if not _numba_cuda_installed():
        raise MissingDependencyError(f"device='cuda' needs numba-cuda, which is not installed: {INSTALL_HINT}")
    if _simulated():
        return "numba-cuda simulator (NUMBA_ENABLE_CUDASIM=1)"
    problem = _driver_problem()
    if problem is not None:
        raise DeviceError(f"device='cuda' needs an NVIDIA driver, and none could be loaded: {problem}")
    names = _gpu_names()
    if not names:
        raise DeviceError("device='cuda': the NVIDIA driver is installed but sees no usable GPU")
    problem = _compiler_problem()
    if problem is not None:
        raise MissingDependencyError(
            "device='cuda' needs the CUDA compiler NVVM, which numba-cuda cannot load: install a CUDA toolkit, "
            f"or pip install 'numba-cuda[cu12]' (or [cu13]) to match the driver ({problem})"
        )
    return names[0]


def gpu_in_use() -> tuple[str, str, str]:
    """``(host, visible device, GPU name)`` of the GPU this process would use, after :func:`check_device`.

    Two Dask workers on one host with the same first entry of ``CUDA_VISIBLE_DEVICES`` share a GPU.
    """
    name = check_device()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return socket.gethostname(), visible or "0", name


@contextmanager
def _device_errors(device_name: str) -> Iterator[None]:
    """A CUDA error (out of memory, a failed launch, a lost device) as one :class:`DeviceError` line."""
    if _simulated():
        yield
        return
    from numba.cuda.cudadrv.error import CudaDriverError, CudaRuntimeError, CudaSupportError

    try:
        yield
    except (CudaDriverError, CudaRuntimeError, CudaSupportError) as exc:
        raise DeviceError(f"the GPU ({device_name}) failed: {' '.join(str(exc).split())}") from None


def _device_put(cuda, array: np.ndarray, stream=0):
    """Copy to the device; an empty array becomes one zero element (no zero-size allocations)."""
    if array.size == 0:
        array = np.zeros((1,) * array.ndim, dtype=array.dtype)
    return cuda.to_device(np.ascontiguousarray(array), stream=stream)


def _query_window(xdata: np.ndarray, xoff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query text followed by the separator: ``x_i + b" "`` packed, and its offsets."""
    rows = len(xoff) - 1
    woff = xoff + np.arange(rows + 1, dtype=np.int64)
    xw = np.empty(len(xdata) + rows, dtype=np.uint8)
    keep = np.ones(len(xw), dtype=bool)
    keep[woff[1:] - 1] = False
    xw[keep] = xdata
    xw[~keep] = _deflate.SEP
    return xw, woff


class CudaPairLengths:
    """A training side on the GPU: ``len(gzip.compress(x + b" " + y, 9))`` for blocks of queries.

    The training texts and their kernel tables are uploaded once and reused by every call.
    It holds device memory, so it is never pickled: a pickled :class:`nnzip.lengths.TrainingSide`
    leaves it behind, and wherever the side is loaded (a Dask worker) it uploads its own.
    Calls from several threads take turns (one set of copy-back buffers).

    Parameters
    ----------
    data, offsets : ndarray
        The training texts packed (:func:`nnzip.lengths.pack`): ``uint8`` bytes and
        ``int64`` offsets.
    tables : ndarray of int32 of shape (len(data), 3), optional
        :func:`nnzip._deflate.y_tables` of the texts, if already built (a CPU search keeps
        them); built here with all CPU threads otherwise.
    threads_per_block : int, default=64
        Pairs per thread block (all of one query row); a multiple of 32.
    sort_columns : bool, default=True
        Give each warp training texts of about the same length (a row's texts shortest first).
        The lengths are the same either way; only the time differs.

    Attributes
    ----------
    device_name : str
        The GPU (or the simulator) the lengths are computed on.
    lengths : ndarray of int64
        Byte length of each training text.
    """

    def __init__(
        self,
        data: np.ndarray,
        offsets: np.ndarray,
        tables: np.ndarray | None = None,
        *,
        threads_per_block: int = 64,
        sort_columns: bool = True,
    ) -> None:
        valid = isinstance(threads_per_block, int) and not isinstance(threads_per_block, bool)
        if not valid or not 32 <= threads_per_block <= 1024 or threads_per_block % 32:
            raise ConfigError(f"threads_per_block must be a multiple of 32 from 32 to 1024, got {threads_per_block!r}")
        self.device_name = check_device()
        self.threads_per_block = threads_per_block
        self.sort_columns = sort_columns
        from numba import cuda

        self._cuda = cuda
        self._lock = threading.Lock()
        data = np.ascontiguousarray(data, dtype=np.uint8)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if tables is None or tables.shape[1] < 3:
            tables = _deflate.y_tables_parallel(data, offsets, numba.get_num_threads())
        elif tables.shape != (len(data), 3):
            raise InputError(f"tables must have shape ({len(data)}, 3), got {tables.shape}")
        self.lengths = np.diff(offsets)
        # every row takes the training texts shortest first: the threads of a warp then parse
        # pairs of about the same length and wait little for each other
        order = np.argsort(self.lengths, kind="stable") if sort_columns else np.arange(len(self.lengths))
        with _device_errors(self.device_name):
            self._check_memory(data.nbytes + offsets.nbytes + tables.nbytes + 4 * len(self.lengths))
            self._yd = _device_put(cuda, data)
            self._yoff = _device_put(cuda, offsets)
            self._ytab = _device_put(cuda, np.ascontiguousarray(tables, dtype=np.int32))
            self._order = _device_put(cuda, order.astype(np.int32)[None, :])
        self._pinned: list[np.ndarray | None] = [None, None]  # copy-back buffers, one per block in flight

    def __len__(self) -> int:
        return len(self.lengths)

    def __getstate__(self) -> dict:
        raise TypeError("CudaPairLengths holds GPU memory and is not pickled; pickle the TrainingSide it serves")

    def _check_memory(self, needed: int) -> None:
        if _simulated():
            return
        free, _ = self._cuda.current_context().get_memory_info()
        if needed > free:
            raise DeviceError(f"the training side needs {needed / 2**30:.1f} GiB of GPU memory; "
                              f"{self.device_name} has {free / 2**30:.1f} GiB free")

    def _rows_per_launch(self, n_cols: int) -> int:
        return int(max(1, min(_MAX_ROWS_PER_LAUNCH, _PAIRS_PER_LAUNCH // max(1, n_cols))))

    def iter_blocks(
        self, xdata: np.ndarray, xoff: np.ndarray, cols: np.ndarray | None = None
    ) -> Generator[tuple[int, np.ndarray], None, None]:
        """Yield ``(first row, lengths)`` for consecutive blocks of query rows, as the GPU finishes them.

        ``lengths[i, c]`` is the kernel's length of the pair of query ``first + i`` with
        training text ``c`` (or ``cols[first + i, c]``), ``-1`` past ``MAX_INPUT``. The next
        block is already running on the GPU while the caller works on the one yielded.
        """
        xdata = np.ascontiguousarray(xdata, dtype=np.uint8)
        xoff = np.ascontiguousarray(xoff, dtype=np.int64)
        n_rows = len(xoff) - 1
        if cols is not None:
            cols = np.asarray(cols)
            if cols.ndim != 2 or cols.shape[0] != n_rows:
                raise InputError(f"cols must have shape ({n_rows}, m), got {cols.shape}")
            if cols.size and (cols.min() < 0 or cols.max() >= len(self)):
                raise InputError(f"cols must hold training indices in [0, {len(self)})")
        n_cols = len(self) if cols is None else cols.shape[1]
        if n_rows == 0 or n_cols == 0:
            return
        with self._lock, _device_errors(self.device_name):
            yield from self._blocks(xdata, xoff, cols, n_rows, n_cols)

    def _blocks(self, xdata, xoff, cols, n_rows: int, n_cols: int) -> Iterator[tuple[int, np.ndarray]]:
        from . import _deflate_cuda as dc

        step = self._rows_per_launch(n_cols)
        stream = self._cuda.stream()
        pending: list[tuple[int, object, np.ndarray]] = []
        for b, lo in enumerate(range(0, n_rows, step)):
            hi = min(lo + step, n_rows)
            pending.append((lo, *self._launch(dc, xdata, xoff, cols, lo, hi, n_cols, stream, b % 2)))
            if len(pending) == 2:
                yield self._finish(*pending.pop(0))
        for item in pending:
            yield self._finish(*item)

    def _launch(self, dc, xdata, xoff, cols, lo, hi, n_cols, stream, slot):
        """Enqueue the row preparation, the pairs and the copy back of rows ``lo:hi``."""
        cuda = self._cuda
        rows = hi - lo
        sub = xoff[lo : hi + 1]
        xw, woff = _query_window(xdata[sub[0] : sub[-1]], sub - sub[0])
        d_xw = _device_put(cuda, xw, stream)
        d_woff = _device_put(cuda, woff, stream)
        d_xc = cuda.device_array(max(1, len(xw)), dtype=np.int32, stream=stream)
        heads = cuda.device_array((rows, 32768), dtype=np.uint16, stream=stream)
        grams = cuda.device_array((rows, 6, 1024), dtype=np.int64, stream=stream)
        rstate = cuda.device_array((rows, 7), dtype=np.int64, stream=stream)
        rfreq = cuda.device_array((rows, 316), dtype=np.int32, stream=stream)
        if cols is None:
            jidx = oidx = self._order
        else:
            block = np.ascontiguousarray(cols[lo:hi], dtype=np.int64)
            # each row's candidates shortest first, written back to their own columns
            if self.sort_columns:
                perm = np.argsort(self.lengths[block], axis=1, kind="stable")
            else:
                perm = np.broadcast_to(np.arange(n_cols), block.shape)
            jidx = _device_put(cuda, np.take_along_axis(block, perm, axis=1).astype(np.int32), stream)
            oidx = _device_put(cuda, perm.astype(np.int32), stream)
        out = cuda.device_array((rows, n_cols), dtype=np.int32, stream=stream)
        dc.rows_kernel[rows, dc.ROWS_TPB, stream](d_xw, d_woff, d_xc, heads, grams, rstate, rfreq)
        tpb = self.threads_per_block
        dc.pairs_kernel[((n_cols + tpb - 1) // tpb, rows), tpb, stream](
            d_xw, d_woff, d_xc, heads, grams, rstate, rfreq, self._yd, self._yoff, self._ytab, jidx, oidx, out
        )
        buffer = self._pinned[slot]
        if buffer is None or buffer.size < rows * n_cols:
            buffer = self._pinned[slot] = cuda.pinned_array(rows * n_cols, dtype=np.int32)
        host = buffer[: rows * n_cols].reshape(rows, n_cols)
        out.copy_to_host(host, stream=stream)
        done = cuda.event()
        done.record(stream)
        return done, host

    @staticmethod
    def _finish(lo: int, done, host: np.ndarray) -> tuple[int, np.ndarray]:
        done.synchronize()
        return lo, host.astype(np.int64)

    def pair_cells(self, xdata: np.ndarray, xoff: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Kernel lengths of ``x_i + b" " + y`` for every query ``i`` of ``xdata``/``xoff`` (packed).

        Parameters
        ----------
        xdata, xoff : ndarray
            The query texts packed (:func:`nnzip.lengths.pack`).
        cols : ndarray of int of shape (n_queries, m), optional
            Training indices per query (candidate lists); every training text when omitted.

        Returns
        -------
        ndarray of int64 of shape (n_queries, m or len(self))
            ``len(gzip.compress(x + b" " + y, 9))``, or ``-1`` for a pair longer than
            ``MAX_INPUT`` bytes (the caller computes it with zlib), as the CPU kernel's
            ``gzip_pair_cells``.
        """
        n_rows = len(xoff) - 1
        out = np.empty((n_rows, len(self) if cols is None else np.shape(cols)[1]), dtype=np.int64)
        for lo, block in self.iter_blocks(xdata, xoff, cols):
            out[lo : lo + len(block)] = block
        return out


def warmup() -> None:
    """Compile the GPU kernels (two texts on the device, all pairs and candidate lists);
    numba-cuda compiles a kernel on its first launch."""
    data = np.frombuffer(b"warm up thegpu kernels", dtype=np.uint8)
    offsets = np.array([0, 11, 22], dtype=np.int64)
    pairs = CudaPairLengths(data, offsets)
    pairs.pair_cells(data, offsets)
    pairs.pair_cells(data, offsets, np.zeros((2, 1), dtype=np.int64))
