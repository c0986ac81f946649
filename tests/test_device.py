"""``device="cuda"``: the device checks and their errors (no GPU needed), and the library's GPU
paths run in numba-cuda's simulator against the CPU's results.

The simulated runs happen in child processes (``tests/_cuda_sim.py search``; numba reads
``NUMBA_ENABLE_CUDASIM`` at its first import, so this process keeps the real numba-cuda):
exact and rerank searches with their boundary ties (``tied_neighbors``), the cache read back
across devices, the classifier under each rule for distance ties, the pairwise functions,
progress and pickling; with ``--dask``, the same search on a local cluster whose two
worker processes each use their own (simulated) GPU.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from click.testing import CliRunner

import nnzip
from nnzip import _deflate, cuda_backend, index, lengths
from nnzip.cli import cli
from nnzip.errors import ConfigError, DeviceError, MissingDependencyError, NNZipError
from nnzip.lengths import pack

from _cuda_sim import search_texts

HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA,
                                      reason="numba-cuda is not installed (pip install 'nnzip[cuda]')")
NO_GPU = "device='cuda': the NVIDIA driver is installed but sees no usable GPU"
PETS = ["the cat sat on the mat", "my dog chased the cat", "stocks fell sharply today", "the market rallied"]
LABELS = ["pets", "pets", "money", "money"]


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a usable GPU, whatever it has."""

    def missing() -> str:
        raise DeviceError(NO_GPU)

    monkeypatch.setattr(cuda_backend, "check_device", missing)


@pytest.fixture
def a_gpu(monkeypatch):
    """This machine as one with a GPU (for the checks only: nothing may run on it)."""
    monkeypatch.setattr(cuda_backend, "check_device", lambda: "NVIDIA H200")


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any compressed length is computed."""

    def work(*args, **kwargs):
        raise AssertionError("lengths were computed before the device check")

    for name in ("text_lengths", "pair_block"):
        monkeypatch.setattr(index, name, work)
    monkeypatch.setattr(lengths, "pair_block", work)
    monkeypatch.setattr(lengths, "text_lengths", work)
    monkeypatch.setattr(nnzip.pairwise, "text_lengths", work)
    monkeypatch.setattr(nnzip.pairwise, "_pairs", work)


# --- what check_device names ---------------------------------------------------------------


def test_missing_numba_cuda_is_named(monkeypatch):
    monkeypatch.setattr(cuda_backend, "_numba_cuda_installed", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"numba-cuda.*pip install 'nnzip\[cuda\]'"):
        cuda_backend.check_device()


@needs_numba_cuda
@pytest.mark.parametrize(
    "driver_problem, gpus, message",
    [
        ("CUDA driver library cannot be found.", None, "needs an NVIDIA driver.*cannot be found"),
        (None, [], "driver is installed but sees no usable GPU"),
    ],
)
def test_missing_driver_or_gpu_is_named(monkeypatch, driver_problem, gpus, message):
    monkeypatch.setattr(cuda_backend, "_simulated", lambda: False)
    monkeypatch.setattr(cuda_backend, "_driver_problem", lambda: driver_problem)
    monkeypatch.setattr(cuda_backend, "_gpu_names", lambda: gpus)
    with pytest.raises(DeviceError, match=message):
        cuda_backend.check_device()


@needs_numba_cuda
def test_a_gpu_is_found(monkeypatch):
    monkeypatch.setattr(cuda_backend, "_simulated", lambda: False)
    monkeypatch.setattr(cuda_backend, "_driver_problem", lambda: None)
    monkeypatch.setattr(cuda_backend, "_gpu_names", lambda: ["NVIDIA H200", "NVIDIA H200"])
    monkeypatch.setattr(cuda_backend, "_compiler_problem", lambda: None)
    assert cuda_backend.check_device() == "NVIDIA H200"


@needs_numba_cuda
def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setattr(cuda_backend, "_simulated", lambda: False)
    monkeypatch.setattr(cuda_backend, "_driver_problem", lambda: None)
    monkeypatch.setattr(cuda_backend, "_gpu_names", lambda: ["NVIDIA H200"])
    monkeypatch.setattr(cuda_backend, "_compiler_problem", lambda: "libNVVM cannot be found.")
    with pytest.raises(MissingDependencyError, match=r"NVVM.*numba-cuda\[cu12\].*cannot be found"):
        cuda_backend.check_device()


def test_this_machine_gives_one_line_or_a_device():
    """On the machine running the tests: a device name, or one line saying what is missing."""
    try:
        name = cuda_backend.check_device()
    except NNZipError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert isinstance(name, str) and name


def test_the_training_side_is_not_uploaded_without_a_device(no_gpu, monkeypatch):
    def no_tables(*args, **kwargs):
        raise AssertionError("the training side's tables were built before the device check")

    monkeypatch.setattr(_deflate, "y_tables_parallel", no_tables)
    data, offsets = pack([b"some training text", b"another one"])
    with pytest.raises(DeviceError, match="no usable GPU"):
        cuda_backend.CudaPairLengths(data, offsets)


@pytest.mark.parametrize("tpb", [0, 48, 2048, True, "64"])
def test_bad_launch_configuration_is_refused(tpb):
    data, offsets = pack([b"text"])
    with pytest.raises(ConfigError, match="threads_per_block"):
        cuda_backend.CudaPairLengths(data, offsets, threads_per_block=tpb)


# --- device selection in the library, before any work ----------------------------------------


ENTRY_POINTS = {
    "NCDIndex.fit": lambda **kw: nnzip.NCDIndex(**kw).fit(PETS),
    "classifier.fit": lambda **kw: nnzip.NCDKNeighborsClassifier(1, **kw).fit(PETS, LABELS),
    "nearest_neighbors": lambda **kw: nnzip.nearest_neighbors(PETS[:2], PETS, 1, **kw),
    "pairwise_compressed_len": lambda **kw: nnzip.pairwise_compressed_len(PETS[:2], PETS, **kw),
    "pairwise_distances": lambda **kw: nnzip.pairwise_distances(PETS[:2], PETS, **kw),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_unknown_device_is_named(entry, no_work):
    with pytest.raises(ConfigError, match="unknown device 'gpu'; choose one of cpu, cuda"):
        ENTRY_POINTS[entry](device="gpu")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_gpu_is_one_error_before_any_work(entry, no_gpu, no_work):
    with pytest.raises(DeviceError, match="no usable GPU"):
        ENTRY_POINTS[entry](device="cuda")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("compressor", ["bz2", "lz4", len])
def test_compressors_the_gpu_does_not_compute_are_refused(entry, compressor, a_gpu, no_work):
    name = "builtins.len" if compressor is len else compressor
    with pytest.raises(ConfigError, match=f"computes gzip and zlib lengths only; compressor {name} runs on the CPU"):
        ENTRY_POINTS[entry](device="cuda", compressor=compressor)


def test_a_python_with_another_zlib_may_use_the_gpu(a_gpu, monkeypatch):
    """The GPU gives the reference zlib's lengths, as the CPU kernel does, whatever this Python links."""
    monkeypatch.setattr(lengths, "kernel_matches_zlib", lambda: False)
    lengths.check_device(nnzip.get_compressor("gzip"), "cuda")


def test_a_search_checks_its_device_again_when_it_starts(a_gpu, monkeypatch):
    """A GPU gone between fit and kneighbors is an error before the first block."""
    fitted = nnzip.NCDIndex(device="cuda").fit(PETS)
    monkeypatch.setattr(cuda_backend, "check_device", lambda: (_ for _ in ()).throw(DeviceError(NO_GPU)))
    monkeypatch.setattr(index, "pair_block", lambda *a, **k: pytest.fail("a block started"))
    with pytest.raises(DeviceError, match="no usable GPU"):
        fitted.kneighbors(PETS[:1], 1)


def test_a_precomputed_matrix_needs_no_device(no_gpu):
    distances = nnzip.pairwise_distances(PETS, PETS)
    clf = nnzip.NCDKNeighborsClassifier(1, metric="precomputed", device="cuda").fit(distances, LABELS)
    assert clf.predict(distances).tolist() == LABELS


def test_warmup_checks_the_device(no_gpu):
    nnzip.warmup()  # the CPU needs nothing
    with pytest.raises(DeviceError, match="no usable GPU"):
        nnzip.warmup("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        nnzip.warmup("tpu")


def test_the_gpu_copy_of_a_training_side_is_never_pickled(a_gpu, monkeypatch):
    class Uploaded:  # stands in for CudaPairLengths: holds "device memory", refuses pickling
        def __init__(self, *args) -> None:
            pass

        __getstate__ = cuda_backend.CudaPairLengths.__getstate__

    monkeypatch.setattr(cuda_backend, "CudaPairLengths", Uploaded)
    fitted = nnzip.NCDIndex(device="cuda").fit(PETS)
    side = fitted._side
    assert isinstance(side.on_device(1), Uploaded) and side.on_device(2) is side.on_device(1)  # uploaded once
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(side._device)
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded._side._device is None and loaded.get_params() == fitted.get_params()


# --- the command line -------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_without_a_gpu_is_one_line_before_reading_anything(no_gpu):
    r = run("classify", "--train", "missing.tsv", "--test", "missing.tsv", "--device", "cuda")
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: {NO_GPU}"


def test_cli_on_this_machine_runs_or_says_what_is_missing(tmp_path):
    """The real check: on a machine without a GPU (CI) one line naming what is missing."""
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("".join(f"{y}\t{x}\n" for x, y in zip(PETS, LABELS)))
    test.write_text(f"pets\t{PETS[0]}\n")
    r = run("classify", "--train", str(train), "--test", str(test), "-k", "1", "--device", "cuda", "--quiet")
    try:
        cuda_backend.check_device()
    except NNZipError as exc:
        assert r.exit_code == 1 and r.output.strip() == f"Error: {exc}"
    else:
        assert r.exit_code == 0 and r.output.startswith("accuracy 1.0000")


def test_cli_device_reaches_the_model_only_when_given(monkeypatch, tmp_path):
    seen = []

    class Stop(NNZipError):
        pass

    def classify(model, data_from, params, **kwargs):
        seen.append(params)
        raise Stop("stopped")

    monkeypatch.setattr(nnzip.evaluate, "classify", classify)
    run("classify", "--device", "cpu")
    run("classify", "--model", "transformer")  # torch picks its own device unless told
    assert seen[0]["device"] == "cpu" and "device" not in seen[1]
    assert run("classify", "--device", "gpu").exit_code == 2


def _saved(tmp_path, model="gzip-knn"):
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("".join(f"{y}\t{x}\n" for x, y in zip(PETS, LABELS)))
    test.write_text(f"pets\t{PETS[0]}\n")
    path = tmp_path / "model.nnzip"
    r = run("fit", "--train", str(train), "--model", model, *(["-k", "1"] if model == "gzip-knn" else []),
            "--model-out", str(path), "--quiet")
    assert r.exit_code == 0, r.output
    return str(path), str(test)


def test_predict_runs_a_saved_model_where_told(no_gpu, tmp_path):
    path, test = _saved(tmp_path)
    r = run("predict", "--model", path, "--input", test, "--device", "cuda", "--quiet")
    assert r.exit_code == 1 and r.output.strip() == f"Error: {NO_GPU}"
    r = run("predict", "--model", path, "--input", test, "--device", "cpu", "--quiet")
    assert r.exit_code == 0 and r.output.startswith("accuracy 1.0000")
    path, test = _saved(tmp_path, "tfidf-logreg")
    r = run("predict", "--model", path, "--input", test, "--device", "cpu")
    assert r.exit_code == 1 and r.output.strip() == f"Error: {path}: a tfidf-logreg model has no device to choose"


def test_a_model_fitted_on_a_gpu_says_how_to_run_it_on_the_cpu(no_gpu, monkeypatch, tmp_path):
    from nnzip import persistence

    path, test = _saved(tmp_path)
    load = persistence._load_zip

    def fitted_on_a_gpu(*args):
        return load(*args).set_params(device="cuda")

    monkeypatch.setattr(persistence, "_load_zip", fitted_on_a_gpu)
    r = run("predict", "--model", path, "--input", test, "--quiet")
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert r.output.startswith(f"Error: {NO_GPU}") and "nnzip predict --device cpu" in r.output
    r = run("predict", "--model", path, "--input", test, "--device", "cpu", "--quiet")
    assert r.exit_code == 0 and r.output.startswith("accuracy 1.0000")
    assert nnzip.open_model(path, device="cpu").model.device == "cpu"


# --- on a cluster: every worker is checked, each uses its own GPU -----------------------------


@pytest.fixture(scope="module")
def threaded_cluster():
    """An in-process cluster (its workers see this process's monkeypatches)."""
    distributed = pytest.importorskip("distributed", reason="needs the distributed extra")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_on_a_cluster_the_workers_are_checked_and_named(threaded_cluster, no_gpu):
    with joblib.parallel_config(backend="dask", client=threaded_cluster):
        with pytest.raises(DeviceError, match=f"^on worker (tcp|inproc)://.*: {NO_GPU}$"):
            nnzip.NCDIndex(device="cuda").fit(PETS)
        with pytest.raises(DeviceError, match="^on worker"):
            nnzip.pairwise_distances(PETS, device="cuda")


_COMPILED: list[int] = []


def _compile() -> None:  # module level: the workers call this function, not a copy
    _COMPILED.append(1)


def test_on_a_cluster_the_workers_compile_and_time_their_gpus(threaded_cluster, a_gpu, monkeypatch):
    monkeypatch.setattr(cuda_backend, "warmup", _compile)
    monkeypatch.setattr(index, "_calibrate", lambda comp, qx, qy, jobs, device, n: (0.0, 1.0))
    _COMPILED.clear()
    with joblib.parallel_config(backend="dask", client=threaded_cluster):
        with pytest.warns(RuntimeWarning, match="share GPU 0 of"):
            nnzip.warmup("cuda")
        assert len(_COMPILED) == 2  # once per worker
        with pytest.warns(RuntimeWarning, match="share GPU 0 of"):
            fitted = nnzip.NCDIndex(device="cuda").fit(PETS)
        # one second a pair on one worker's GPU, the pairs shared by two
        assert fitted.estimate_seconds(PETS[:3]) == 3 * 4 / 2


@pytest.mark.parametrize("visible, shared", [(("0", "1", "0"), "tcp://a, tcp://c share GPU 0 of h1"),
                                             (("0", "1", "2"), None)])
def test_workers_sharing_a_gpu_are_warned_about(visible, shared, monkeypatch, recwarn):
    gpus = {f"tcp://{w}": ("h1", v, "NVIDIA H200") for w, v in zip("abc", visible)}
    gpus["tcp://d"] = ("h2", "0", "NVIDIA H200")  # another host's GPU 0 is another GPU
    monkeypatch.setattr(lengths, "active_client", lambda: object())
    monkeypatch.setattr(lengths, "check_on_workers", lambda client, check: gpus)
    lengths.check_device(nnzip.get_compressor("gzip"), "cuda")
    messages = [str(w.message) for w in recwarn if "share GPU" in str(w.message)]
    if shared is None:
        assert not messages
    else:
        assert len(messages) == 1 and f"workers {shared}; start one worker per GPU" in messages[0]


# --- the GPU paths in the simulator -------------------------------------------------------------


def _simulate(tmp_path: Path, *flags: str) -> dict[str, np.ndarray]:
    if not HAS_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (pip install 'nnzip[cuda]')")
    out = tmp_path / "out.npz"
    helper = Path(__file__).with_name("_cuda_sim.py")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, str(helper), "search", str(out), *flags], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(out) as result:
        return {key: result[key] for key in result.files}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return _simulate(tmp_path_factory.mktemp("cuda_search"))


def _cpu_search(k: int, xs=None, **kwargs):
    queries, ys, _ = search_texts()
    return nnzip.NCDIndex(**kwargs).fit(ys).kneighbors(queries if xs is None else xs, k)


def test_simulated_exact_search_equals_the_cpu(simulated):
    dist, idx = _cpu_search(3)
    assert np.array_equal(simulated["exact_idx"], idx) and np.array_equal(simulated["exact_dist"], dist)
    assert simulated["cuda_blocks"].tolist() == [6, 6, 6, 2]  # the blocks of block_size=6, computed on the GPU


def test_simulated_cache_is_shared_by_both_devices(simulated):
    dist, idx = _cpu_search(3)
    assert simulated["computed_on_reading_cuda_cache"] == 0  # the CPU read every block the GPU wrote
    assert np.array_equal(simulated["cpu_read_idx"], idx) and np.array_equal(simulated["cpu_read_dist"], dist)
    assert simulated["computed_on_reading_cpu_cache"] == 0  # and the GPU every block the CPU wrote
    assert np.array_equal(simulated["cuda_read_idx"], idx[:12, :2])


def test_simulated_rerank_equals_the_cpu(simulated):
    dist, idx = _cpu_search(2, search="rerank", n_candidates=5)
    assert np.array_equal(simulated["rerank_idx"], idx) and np.array_equal(simulated["rerank_dist"], dist)


@pytest.mark.parametrize("search", ["exact", "rerank"])
def test_simulated_tied_neighbors_equal_the_cpu(simulated, search):
    """Every training item tied with the k-th, the duplicate training text's two items included."""
    xs, ys, _ = search_texts()
    params = {"search": "rerank", "n_candidates": 5} if search == "rerank" else {}
    want = nnzip.NCDIndex(**params).fit(ys).tied_neighbors(xs, 2)
    assert np.array_equal(simulated[f"tied_{search}_indptr"], want.indptr)
    assert np.array_equal(simulated[f"tied_{search}_indices"], want.indices)
    assert np.array_equal(simulated[f"tied_{search}_dist"], want.distances)
    assert (want.row_lengths > 2).any()  # the set has boundary ties to get right


@pytest.mark.parametrize("ties", ["split", "all", "index"])
def test_simulated_classifier_equals_the_cpu(simulated, ties):
    xs, ys, labels = search_texts()
    clf = nnzip.NCDKNeighborsClassifier(2, distance_ties=ties).fit(ys, labels)
    assert simulated[f"predictions_{ties}"].tolist() == clf.predict(xs).tolist()
    assert np.array_equal(simulated[f"proba_{ties}"], clf.predict_proba(xs))


def test_simulated_pairwise_functions_equal_zlib_and_the_cpu(simulated):
    xs, ys, _ = search_texts()
    want = [[len(zlib.compress(f"{x} {y}".encode(), 9)) for y in ys[:5]] for x in xs[:6]]
    assert simulated["pairs_zlib"].tolist() == want
    assert np.array_equal(simulated["distances"], nnzip.pairwise_distances(xs[:5], ys[:6], metric="cdm"))


def test_simulated_progress_counts_every_pair_launch_by_launch(simulated):
    xs, ys, _ = search_texts()
    want = [[len(gzip.compress(f"{x} {y}".encode(), 9, mtime=0)) for y in ys[:10]] for x in xs[:9]]
    assert simulated["progress_cells"].tolist() == want
    assert simulated["progress_updates"].tolist() == [40, 40, 10]  # launches of 4 rows of 10 pairs


def test_simulated_gpu_copy_is_not_pickled(simulated):
    assert simulated["side_pickled_without_device"]
    assert "not pickled" in str(simulated["device_copy_pickle_error"])
    assert simulated["estimate_seconds"] > 0


@pytest.mark.slow
def test_simulated_search_on_a_cluster_uses_each_workers_gpu(tmp_path):
    """Two worker processes, each with its own (simulated) GPU: the training side, used on the
    client's GPU first, is scattered without its device copy and uploaded again by each worker."""
    pytest.importorskip("distributed", reason="needs the distributed extra")
    result = _simulate(tmp_path, "--dask")
    assert result["gpus"].tolist() == ["numba-cuda simulator (NUMBA_ENABLE_CUDASIM=1)"] * 2
    dist, idx = _cpu_search(3)
    assert np.array_equal(result["dask_idx"], idx) and np.array_equal(result["dask_dist"], dist)
    assert np.array_equal(result["local_idx"], idx[:2, :2])
    xs, ys, _ = search_texts()
    assert np.array_equal(result["dask_pairs"], nnzip.pairwise_compressed_len(xs[:4], ys[:5]))
