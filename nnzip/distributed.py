"""Blocks of query rows, and where they run: here, or on a Dask cluster through joblib's ``dask`` backend.

Pairwise work is cut into blocks of query rows (:func:`block_rows`): one block is one entry of
the on-disk cache and one task on a cluster. :func:`run_blocks` is the one place that decides
where blocks run. Inside ``with joblib.parallel_config(backend="dask"):`` (after
``distributed.Client(...)``), or inside :func:`connect`, blocks go to the cluster instead of
running on local threads: the training side is scattered once to every worker, each task
carries one block of query texts and returns only that block's top-k (or, for
:func:`nnzip.pairwise_distances`, its rows of lengths). Without the dask backend nothing
Dask-related here is used, and ``distributed`` is never imported.

With ``device="cuda"`` each worker computes its blocks' pair lengths on its own GPU: the
training side travels without GPU state, and each worker uploads it to its GPU at its first
block (:meth:`nnzip.lengths.TrainingSide.on_device`). Run one worker per GPU, each seeing only
its own (``CUDA_VISIBLE_DEVICES=i dask worker ADDRESS --nthreads 1``, or dask-cuda's
``dask cuda worker`` / ``LocalCUDACluster``, which set it); :func:`check_on_workers` runs the
device check on every worker before any block.

Running on a cluster needs the ``distributed`` extra: ``pip install "nnzip[distributed]"``.
"""

from __future__ import annotations

import logging
import math
import multiprocessing.resource_tracker
import os
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import joblib

from .errors import ConfigError, MissingDependencyError, NNZipError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

INSTALL_HINT = 'pip install "nnzip[distributed]"'
T = TypeVar("T")

# Environment of the workers nnzip starts itself (``local:N``). Workers only ever run nnzip's
# serial kernels (see run_blocks), so one numba thread is all they need; the variable also
# keeps any other numba code on them from starting one thread per core in every worker
# process. Dask's nanny already limits OMP/MKL/OpenBLAS, but it does not know numba.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

#: Pairs in a block of query rows (one cache entry; one task on a Dask cluster): a few seconds
#: of work, so an interrupted run loses little and tasks spread evenly over workers. Local and
#: cluster runs use the same blocks, so either resumes the other's cache.
PAIRS_PER_BLOCK = 1 << 18


def pairs_per_block() -> int:
    """Pairs per block: ``$NNZIP_BLOCK_PAIRS`` if set (tests use small blocks), else :data:`PAIRS_PER_BLOCK`."""
    value = os.environ.get("NNZIP_BLOCK_PAIRS", "")
    return int(value) if value.isdigit() and int(value) > 0 else PAIRS_PER_BLOCK


def block_rows(pairs_per_row: int) -> int:
    """Query rows per block when each row holds ``pairs_per_row`` pairs (about :func:`pairs_per_block` pairs)."""
    return max(1, math.ceil(pairs_per_block() / pairs_per_row))


def split_rows(xs: list[bytes], rows: int) -> tuple[list[int], list[list[bytes]]]:
    """Blocks of ``rows`` query texts: their first row numbers and their texts."""
    starts = list(range(0, len(xs), rows))
    return starts, [xs[lo : lo + rows] for lo in starts]


def in_dask_task() -> bool:
    """Whether this code runs inside a task on a Dask worker (then nnzip computes here, serially)."""
    if sys.modules.get("distributed") is None:  # no worker without distributed loaded
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def active_client() -> Client | None:
    """The Dask client of joblib's active backend, or ``None`` to compute locally.

    ``None`` when the active joblib backend is not ``dask``, and inside a task already running
    on a Dask worker (``GridSearchCV`` under the dask backend runs each fit/score there): such
    a task computes its search itself, serially, rather than submitting tasks and waiting on
    them from a worker thread.
    """
    dask_backend = sys.modules.get("joblib._dask")
    if dask_backend is None:  # joblib imports it when the dask backend is first configured
        return None
    backend, _ = joblib.parallel.get_active_backend()
    if not isinstance(backend, dask_backend.DaskDistributedBackend) or in_dask_task():
        return None
    return backend.client


def run_blocks(
    fn: Callable[..., Any],
    shared: object,
    blocks: Sequence[list[bytes]],
    n_jobs: int,
    *,
    client: Client | None = None,
    pairs_per_row: int = 0,
    progress: Callable[[int], object] | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """Yield ``(b, fn(shared, blocks[b], n_jobs, progress))`` for every block, as each finishes.

    Here, in order, on ``n_jobs`` threads or processes (``client`` None), or as tasks on a Dask
    cluster (``client`` from :func:`active_client`), where ``shared`` is sent to each worker
    once and results arrive in completion order. ``progress`` gets pairs done: from inside
    ``fn`` locally, per finished block (``len(block) * pairs_per_row``) on a cluster. Close the
    iterator (``contextlib.closing``) to cancel a cluster's pending tasks on an error or Ctrl-C.
    """
    if client is None:
        for b, block in enumerate(blocks):
            yield b, fn(shared, block, n_jobs, progress)
        return

    def done(b: int) -> None:
        if progress is not None:
            progress(len(blocks[b]) * pairs_per_row)

    yield from _run_on_cluster(client, fn, shared, blocks, done)


def _run_on_cluster(
    client: Client,
    fn: Callable[..., Any],
    shared: object,
    blocks: Sequence[list[bytes]],
    on_done: Callable[[int], object] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(b, fn(shared, blocks[b], 1))`` for every block as its task finishes on the cluster.

    ``shared`` (the prepared training side, the first-stage index) is scattered once and
    replicated to every worker (``broadcast=True``), so no task carries it; each task carries
    only its block of query texts. A task lost with its worker is rerun by the scheduler on
    another worker (the replicas of ``shared`` survive there); the caller sees nothing but the
    result. That is the scheduler's own rescheduling, not ``retries`` (which reruns tasks that
    raised): a task is given up only after killing ``distributed.scheduler.allowed-failures``
    workers (3 by default), and then the search fails with ``KilledWorker``. When the consumer
    stops early (an error, Ctrl-C), the tasks not yet finished are cancelled.

    Every task runs with ``n_jobs=1``: nnzip's serial kernels, never numba's ``parallel=True``
    twins. That is the one configuration that is safe whatever the workers look like: numba's
    default ``workqueue`` threading layer aborts the process when two threads enter parallel
    code at once (a worker with ``--nthreads 2`` would do exactly that), and Dask's nanny caps
    OMP/MKL/OpenBLAS threads but not numba's, so a parallel kernel would start one thread per
    core in every worker process on top of the worker's own threads. The serial kernels
    release the GIL (``nogil=True``), so a worker with several threads still uses them all;
    parallelism comes from the number of blocks in flight, one per worker thread.

    Parameters
    ----------
    client : distributed.Client
    fn : callable
        ``fn(shared, block, n_jobs)``; a module-level function (pickled by reference).
    shared : object
        What every block needs, sent to every worker once.
    blocks : sequence of list of bytes
        Query texts per task.
    on_done : callable, optional
        Called with the block number as each result arrives (progress).
    """
    if not blocks:
        return
    # a list of one item: scatter would split a bare tuple or list into one future per element
    [shared_future] = client.scatter([shared], broadcast=True, hash=False)
    run = uuid.uuid4().hex[:12]
    name = getattr(fn, "__name__", "block").strip("_")
    futures = {
        client.submit(fn, shared_future, block, 1, key=f"nnzip-{name}-{run}-{b}", pure=False): b
        for b, block in enumerate(blocks)
    }
    from distributed import as_completed

    try:
        for future in as_completed(futures):
            b = futures[future]
            result = future.result()
            future.release()
            if on_done is not None:
                on_done(b)
            yield b, result
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
        shared_future.release()


def check_on_workers(client: Client, check: Callable[[], T]) -> dict[str, T]:
    """Run ``check()`` on every worker of the cluster before any task; its error names the worker.

    For what a worker must have that the client need not (``device="cuda"``: a GPU on every
    worker, none on the client). Returns each worker's result by address.

    Raises
    ------
    NNZipError
        The first worker's error, of the same class, its message prefixed with the worker's
        address; a worker's other exceptions as :class:`ConfigError`.
    """
    results = client.run(check, on_error="return")
    for address, result in sorted(results.items()):
        if isinstance(result, NNZipError):
            raise type(result)(f"on worker {address}: {result}")
        if isinstance(result, BaseException):
            raise ConfigError(f"on worker {address}: {type(result).__name__}: {result}")
    return results


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(f"running on a Dask cluster needs the distributed extra: {INSTALL_HINT}") from None
    return distributed


_LOCAL = re.compile(r"local:(\d+)")


@contextmanager
def _ctrl_c_held_back() -> Iterator[list[int]]:
    """Hold Ctrl-C back while a local cluster starts: workers never see it, and this process acts on it after.

    Ctrl-C in a terminal signals every process of the foreground group, the workers too, and
    each would print its own ``KeyboardInterrupt`` traceback. Processes and threads inherit
    the signal mask, so SIGINT is blocked in this thread while the cluster's threads and
    worker processes start (and those its nannies start later, from its threads): only this
    process ever sees it. A ``KeyboardInterrupt`` in the middle of starting would leave a half
    started cluster that fails to close at exit with tracebacks of its own, so a Ctrl-C
    meanwhile (delivered to any thread) is only recorded in the list yielded: the caller
    stops what it started and raises ``KeyboardInterrupt`` then.
    """
    caught: list[int] = []
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield caught
        return
    # started first: starting it later, from the cluster's thread, unblocks SIGINT in that thread
    # (Python < 3.14 restores the mask with SIG_UNBLOCK), and its workers would see Ctrl-C again
    multiprocessing.resource_tracker.ensure_running()
    handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield caught
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a SIGINT still pending is recorded here
        signal.signal(signal.SIGINT, handler)


def local_cluster(n_workers: int):
    """A ``LocalCluster`` of ``n_workers`` processes with one thread each, on 127.0.0.1 only.

    No dashboard; the scheduler's small HTTP server (health, metrics) takes a free port
    rather than 8787, which another cluster on this machine may hold. Ctrl-C reaches only
    this process, which stops the cluster, never the workers themselves; pressed while the
    cluster starts, it takes effect once it has started (it is then stopped, and
    ``KeyboardInterrupt`` raised).
    """
    distributed = _import_distributed()
    with _ctrl_c_held_back() as ctrl_c:
        cluster = distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, env=WORKER_ENV,
            # none of the workers' own log lines: a task's failure reaches the client as its error,
            # and what they log at ERROR is shutdown chatter (a heartbeat to a scheduler that has
            # just closed, after a Ctrl-C)
            silence_logs=logging.CRITICAL + 1,
        )
        if ctrl_c:  # pressed while it started: stop it (Ctrl-C still held back) and stop here
            cluster.close()
    if ctrl_c:
        raise KeyboardInterrupt
    return cluster


@contextmanager
def connect(address: str, *, timeout: float = 5.0, wait_for_workers: float = 10.0) -> Iterator[Client]:
    """Connect to a Dask scheduler (or start a local cluster) and make it joblib's backend.

    Inside the ``with`` block every nnzip search, and everything else that uses joblib, runs
    on the cluster; on leaving it the client is closed (and a local cluster shut down).

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` of a running ``dask scheduler``, or ``local:N`` to start a
        ``LocalCluster`` of ``N`` worker processes with one thread each on 127.0.0.1.
    timeout : float
        Seconds to wait for the scheduler to answer.
    wait_for_workers : float
        Seconds to wait for at least one worker to join.

    Yields
    ------
    distributed.Client

    Raises
    ------
    MissingDependencyError
        When ``distributed`` is not installed (the message names the pip command).
    ConfigError
        For a malformed ``local:N``, a scheduler that cannot be reached in ``timeout`` seconds,
        or one without workers.

    Examples
    --------
    >>> with connect("local:2"):                                   # doctest: +SKIP
    ...     clf.predict(X_test)
    """
    distributed = _import_distributed()
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"scheduler must be tcp://HOST:PORT or local:N, got {address!r}")
    address = address.strip()
    local = _LOCAL.fullmatch(address)
    if address.startswith("local") and (local is None or int(local.group(1)) < 1):
        raise ConfigError(f"scheduler {address!r}: write local:N with N >= 1 worker processes")
    _drop_sync_cancel_race()
    with _quiet_logs(distributed):
        cluster = local_cluster(int(local.group(1))) if local is not None else None
    client = None
    try:  # from here on, whatever was started is stopped on the way out (an error, Ctrl-C, the end)
        if cluster is not None:
            address = cluster.scheduler_address
        with _quiet_logs(distributed):
            try:
                client = distributed.Client(address, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}") from None
        try:
            client.wait_for_workers(1, timeout=wait_for_workers)
        except TimeoutError:
            raise ConfigError(
                f"the Dask scheduler at {address} has no workers after {wait_for_workers:g} s; "
                f"start some with: dask worker {address} --nthreads 1"
            ) from None
        with joblib.parallel_config(backend="dask", client=client):
            yield client
    finally:
        with _quiet_logs(distributed):
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()


class _SyncCancelRace(logging.Filter):
    """Drops the one log record of a race in ``distributed.utils.sync``: a Ctrl-C that lands
    before its future exists makes its cancel callback fail with a NameError, which the event
    loop (in its own thread, possibly after the client closed) logs with a traceback. The Ctrl-C
    itself is handled as always; every other record passes."""

    RACE = "Exception in callback functools.partial(<function sync.<locals>.cancel"

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.RACE)


def _drop_sync_cancel_race() -> None:
    """Install :class:`_SyncCancelRace` on tornado's callback logger, once per process."""
    logger = logging.getLogger("tornado.application")
    if not any(isinstance(f, _SyncCancelRace) for f in logger.filters):
        logger.addFilter(_SyncCancelRace())


@contextmanager
def _quiet_logs(distributed) -> Iterator[None]:
    """Keep distributed's own log lines (connection retries, shutdown chatter) off the terminal;
    what went wrong is reported as one nnzip error instead."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # its shutdown races are logged as CRITICAL too
    try:
        yield
    finally:
        logger.setLevel(level)
