"""The neighbour search on a Dask cluster (joblib's dask backend): same results as local, on the workers.

Everything runs on 127.0.0.1: one module-wide ``LocalCluster`` of two worker processes with
one thread each, and, for the command line, a real ``dask scheduler`` and two ``dask worker``
processes started here and stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed", reason="needs the distributed extra: pip install 'nnzip[distributed]'")

import nnzip  # noqa: E402
from nnzip.cache import BlockCache  # noqa: E402
from nnzip.cli import cli  # noqa: E402
from nnzip.distributed import WORKER_ENV, active_client, connect, local_cluster  # noqa: E402
from nnzip.errors import ConfigError, MissingDependencyError  # noqa: E402
from nnzip.validation import resolve_n_jobs  # noqa: E402

TOPICS = {
    "sport": "match goal team player season coach league score win cup",
    "tech": "software computer chip network data users phone internet digital code",
    "money": "market shares bank profit prices investors economy growth rate deal",
}


def _corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Seeded short texts whose words lean towards their label's topic."""
    rng = np.random.default_rng(seed)
    common = "the a of to and in on for with said this that year new".split()
    texts, labels = [], []
    for _ in range(n):
        label = list(TOPICS)[rng.integers(len(TOPICS))]
        words = TOPICS[label].split() * 2 + common
        texts.append(" ".join(rng.choice(words, rng.integers(8, 40))))
        labels.append(label)
    return texts, labels


X_TRAIN, Y_TRAIN = _corpus(160, seed=1)
X_TEST, Y_TEST = _corpus(40, seed=2)
COMPRESSORS = ["gzip", "lz4"]  # the numba kernel and a Python compressor


@pytest.fixture(scope="module")
def client():
    """``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on 127.0.0.1, as ``--scheduler local:2``."""
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        yield client


def _nnzip_tasks(stream, name: str = "compute_block") -> list[dict]:
    return [t for t in stream.data if str(t["key"]).startswith(f"nnzip-{name}-")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_nearest_neighbors_on_the_cluster_equal_local(client, compressor):
    want = nnzip.nearest_neighbors(X_TEST, X_TRAIN, 3, compressor=compressor)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = nnzip.nearest_neighbors(X_TEST, X_TRAIN, 3, compressor=compressor, block_size=4)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    tasks = _nnzip_tasks(stream)
    assert len(tasks) == len(X_TEST) // 4  # every block ran as a task ...
    assert {t["worker"] for t in tasks} <= set(client.scheduler_info()["workers"])  # ... on a worker


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_pairwise_on_the_cluster_equal_local(client, compressor):
    want_len = nnzip.pairwise_compressed_len(X_TEST[:9], X_TRAIN, compressor=compressor)
    want = nnzip.pairwise_distances(X_TEST[:9], X_TRAIN, compressor=compressor, metric="cdm")
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got_len = nnzip.pairwise_compressed_len(X_TEST[:9], X_TRAIN, compressor=compressor)
        got = nnzip.pairwise_distances(X_TEST[:9], X_TRAIN, compressor=compressor, metric="cdm")
    np.testing.assert_array_equal(got_len, want_len)
    np.testing.assert_array_equal(got, want)
    assert len(_nnzip_tasks(stream, "pair_task")) >= 2


def test_python_compressor_lengths_go_through_joblib_to_the_cluster(client):
    want = nnzip.compressed_len(X_TRAIN, "lz4")
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = nnzip.compressed_len(X_TRAIN, "lz4")
    np.testing.assert_array_equal(got, want)
    assert any("python_lengths" in str(t["key"]) for t in stream.data)


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_classifier_on_the_cluster_equals_local(client, compressor):
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=3, compressor=compressor).fit(X_TRAIN, Y_TRAIN)
    want = clf.predict(X_TEST), clf.predict_proba(X_TEST), clf.kneighbors(X_TEST), clf.score(X_TEST, Y_TEST)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = clf.predict(X_TEST), clf.predict_proba(X_TEST), clf.kneighbors(X_TEST), clf.score(X_TEST, Y_TEST)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2][1], want[2][1])
    np.testing.assert_array_equal(got[2][0], want[2][0])
    assert got[3] == want[3]
    assert len(_nnzip_tasks(stream)) >= 4  # one search per call, each at least one task


def test_rerank_both_stages_on_the_cluster(client):
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=2, search="rerank", n_candidates=20).fit(X_TRAIN, Y_TRAIN)
    want = clf.kneighbors(X_TEST)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = clf.kneighbors(X_TEST)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert _nnzip_tasks(stream)  # the first stage is inside the scattered search: it ran there too


def test_grid_search_under_the_dask_backend(client):
    from sklearn.model_selection import GridSearchCV

    grid = {"n_neighbors": [1, 3], "tie_break": ["nearest", "lowest"]}
    want = GridSearchCV(nnzip.NCDKNeighborsClassifier(), grid, cv=2).fit(X_TRAIN, Y_TRAIN)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = GridSearchCV(nnzip.NCDKNeighborsClassifier(), grid, cv=2).fit(X_TRAIN, Y_TRAIN)
    np.testing.assert_array_equal(got.cv_results_["mean_test_score"], want.cv_results_["mean_test_score"])
    assert got.best_params_ == want.best_params_
    assert stream.data  # the fits and scores ran on the workers (each searching there, serially)


def test_without_the_dask_backend_nothing_is_sent(client):
    assert active_client() is None
    with joblib.parallel_config(backend="threading"):
        assert active_client() is None
    with distributed.get_task_stream(client) as stream:
        nnzip.nearest_neighbors(X_TEST, X_TRAIN, 2, block_size=4)
    assert not stream.data
    with joblib.parallel_config(backend="dask"):
        assert active_client() is client


def test_workers_run_the_serial_kernel(client):
    # inside a task n_jobs=-1 resolves to one: no numba parallel code on workers
    assert client.submit(resolve_n_jobs, -1, pure=False).result() == 1
    assert set(client.run(lambda: os.environ.get("NUMBA_NUM_THREADS")).values()) == {"1"}


def test_interrupted_on_the_client_resumes_from_the_cache(client, tmp_path, monkeypatch):
    want = nnzip.nearest_neighbors(X_TEST, X_TRAIN, 2)
    store = BlockCache.store
    stored = []

    def interrupt_at_the_third(self, key, **arrays):
        if len(stored) == 2:
            raise KeyboardInterrupt
        stored.append(key)
        return store(self, key, **arrays)

    monkeypatch.setattr(BlockCache, "store", interrupt_at_the_third)
    with joblib.parallel_config(backend="dask"), pytest.raises(KeyboardInterrupt):
        nnzip.nearest_neighbors(X_TEST, X_TRAIN, 2, block_size=2, cache_dir=tmp_path)
    monkeypatch.setattr(BlockCache, "store", store)
    # the unfinished tasks were cancelled, not left running
    deadline = time.monotonic() + 10
    while client.run_on_scheduler(lambda dask_scheduler: [k for k in dask_scheduler.tasks if "nnzip" in str(k)]):
        assert time.monotonic() < deadline, "tasks of the interrupted run are still on the scheduler"
        time.sleep(0.1)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = nnzip.nearest_neighbors(X_TEST, X_TRAIN, 2, block_size=2, cache_dir=tmp_path)
    assert len(_nnzip_tasks(stream)) == len(X_TEST) // 2 - 2  # cached blocks are not submitted
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_a_worker_lost_mid_run_changes_nothing(client, tmp_path, monkeypatch):
    X, Y = X_TEST[:20], X_TRAIN[:80]
    want = nnzip.nearest_neighbors(X, Y, 2, compressor="lzma")
    store = BlockCache.store
    killed = []

    def kill_a_busy_worker_on_first_result(self, key, **arrays):
        if not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            killed.append((busy[0], len(client.processing()[busy[0]])))
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)  # the worker process dies; its nanny starts a fresh one
        return store(self, key, **arrays)

    monkeypatch.setattr(BlockCache, "store", kill_a_busy_worker_on_first_result)
    with joblib.parallel_config(backend="dask"):
        got = nnzip.nearest_neighbors(X, Y, 2, compressor="lzma", block_size=1, cache_dir=tmp_path)
    assert killed and killed[0][1] >= 1  # it died with work assigned
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert killed[0][0] not in client.scheduler_info()["workers"]
    # the last test on this cluster: no need to wait for the nanny's fresh worker


def test_connect_local_starts_and_stops_a_cluster():
    with connect("local:1") as client:
        assert active_client() is client
        assert set(client.run(lambda: os.environ.get("NUMBA_NUM_THREADS")).values()) == {"1"}
        assert client.scheduler_info()["address"].startswith("tcp://127.0.0.1:")
    assert client.status == "closed"
    assert active_client() is None


@pytest.mark.parametrize("address", ["local:0", "local:x", "", "local"])
def test_connect_rejects_bad_addresses(address):
    with pytest.raises(ConfigError, match="local:N|tcp://"), connect(address):
        pass


def test_a_scheduler_without_workers_is_one_error():
    with distributed.LocalCluster(n_workers=0, processes=False, host="127.0.0.1", protocol="tcp",
                                  dashboard_address=None) as empty:
        with pytest.raises(ConfigError, match="has no workers.*dask worker"):
            with connect(empty.scheduler_address, wait_for_workers=0.5):
                pass


def test_missing_extra_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "nnzip\[distributed\]"'), connect("local:1"):
        pass
    result = CliRunner().invoke(cli, ["classify", "--scheduler", "local:1"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        'Error: running on a Dask cluster needs the distributed extra: pip install "nnzip[distributed]"'
    ]


def test_unreachable_scheduler_is_one_line_quickly(monkeypatch):
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("NNZIP_SCHEDULER", address)
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["classify"])
    assert time.monotonic() - start < 15
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach the Dask scheduler at {address}"), lines


def test_experiments_take_the_scheduler_option():
    from experiments.__main__ import main

    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0 and "--scheduler" in result.output


def _write_tsv(path, texts, labels) -> str:
    path.write_text("".join(f"{y}\t{x}\n" for x, y in zip(texts, labels)))
    return str(path)


def test_cli_against_a_real_scheduler_and_workers(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, **WORKER_ENV}
    # the workers run this interpreter, so they import this checkout's nnzip
    cmds = [[sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"]]
    cmds += [[sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--host", "127.0.0.1",
              "--no-dashboard", "--no-nanny"]] * 2
    procs = []
    try:
        for cmd in cmds:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if len(procs) == 1:
                time.sleep(0.5)
        with distributed.Client(address, timeout=30) as watcher:
            watcher.wait_for_workers(2, timeout=60)
            train = _write_tsv(tmp_path / "train.tsv", X_TRAIN, Y_TRAIN)
            test = _write_tsv(tmp_path / "test.tsv", X_TEST, Y_TEST)
            runner = CliRunner()
            base = ["classify", "--train", train, "--test", test, "-k", "3", "--quiet", "--no-cache"]
            local = runner.invoke(cli, [*base, "--output", str(tmp_path / "local.csv")], catch_exceptions=False)
            remote = runner.invoke(cli, [*base, "--output", str(tmp_path / "remote.csv"), "--scheduler", address],
                                   catch_exceptions=False)
            assert local.exit_code == 0 and remote.exit_code == 0, (local.output, remote.output)
            assert (tmp_path / "remote.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
            ran = watcher.run(
                lambda dask_worker: sum("nnzip-compute_block" in str(entry[0]) for entry in dask_worker.state.log))
            assert sum(ran.values()) > 0, ran
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_zstd_dict_on_the_cluster_equals_local(client):
    from nnzip import ZstdDictionaryClassifier

    clf = ZstdDictionaryClassifier(n_jobs=2).fit(X_TRAIN, Y_TRAIN)
    want = clf.compressed_lengths(X_TEST)
    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
        got = clf.compressed_lengths(X_TEST)
    np.testing.assert_array_equal(got, want)
    assert any("column_lengths" in str(t["key"]) for t in stream.data)  # the dictionaries travelled as bytes


def _group_is_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("scheduler", [[], ["--scheduler", "local:2"]], ids=["here", "local:2"])
def test_ctrl_c_with_a_local_cluster_looks_like_without(tmp_path, scheduler):
    """A real Ctrl-C: SIGINT to the whole foreground process group, as a terminal sends it (workers included)."""
    x_train, y_train = _corpus(600, seed=3)
    x_test, y_test = _corpus(300, seed=4)
    train = _write_tsv(tmp_path / "train.tsv", x_train, y_train)
    test = _write_tsv(tmp_path / "test.tsv", x_test, y_test)
    cache = tmp_path / "cache"
    env = {**os.environ, "NNZIP_BLOCK_PAIRS": "600"}  # one test text per block: 300 blocks
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnzip", "classify", "--train", train, "--test", test, "-q", "--cache-dir", str(cache),
         "--output", str(tmp_path / "p.csv"), *scheduler],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.rglob("*.npz"))) < 2:  # the search is under way (on the workers, with a scheduler)
            assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert stdout == ""
    # exactly the line a run without a scheduler ends with: no traceback, no log line, from any worker
    assert stderr == f"Interrupted: finished blocks are kept in {cache}; rerun the same command to resume\n"
    assert not (tmp_path / "p.csv").exists()
    assert _group_is_gone(proc.pid, timeout=30), "worker processes outlived the interrupted command"



def test_ctrl_c_while_a_local_cluster_starts_stops_it_then_interrupts(monkeypatch):
    """A Ctrl-C (delivered to this process) while LocalCluster starts is held back: the cluster starts, is stopped,
    and only then KeyboardInterrupt is raised (never a half-started cluster left to fail at exit)."""
    events = []

    class Starting:
        def __init__(self, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while starting
            time.sleep(0.1)
            events.append("started")

        def close(self):
            events.append("closed")

    monkeypatch.setattr(distributed, "LocalCluster", Starting)
    with pytest.raises(KeyboardInterrupt):
        local_cluster(2)
    assert events == ["started", "closed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C acts again afterwards
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@pytest.mark.parametrize("where", ["Client", "wait_for_workers"])
def test_ctrl_c_after_the_local_cluster_started_stops_it(monkeypatch, where):
    """Ctrl-C between the cluster's start and the work (connecting, waiting for workers) stops what was started."""
    events = []

    class Cluster:
        scheduler_address = "tcp://127.0.0.1:1"

        def close(self):
            events.append("cluster closed")

    class Client:
        def __init__(self, address, timeout):
            if where == "Client":
                raise KeyboardInterrupt

        def wait_for_workers(self, n, timeout):
            raise KeyboardInterrupt

        def close(self):
            events.append("client closed")

    monkeypatch.setattr("nnzip.distributed.local_cluster", lambda n: Cluster())
    monkeypatch.setattr(distributed, "Client", Client)
    with pytest.raises(KeyboardInterrupt), connect("local:2"):
        pass
    assert events == (["cluster closed"] if where == "Client" else ["client closed", "cluster closed"])


def test_the_sync_cancel_race_record_is_dropped_and_nothing_else():
    import logging

    from nnzip.distributed import _drop_sync_cancel_race, _SyncCancelRace

    _drop_sync_cancel_race()
    _drop_sync_cancel_race()  # once per process
    logger = logging.getLogger("tornado.application")
    (race,) = [f for f in logger.filters if isinstance(f, _SyncCancelRace)]

    def record(msg):
        return logging.LogRecord("tornado.application", logging.ERROR, __file__, 1, msg, None, None)

    assert not race.filter(record(_SyncCancelRace.RACE + " at 0x7f>)"))
    assert race.filter(record("Exception in callback functools.partial(<function other at 0x7f>)"))
