"""Run the CUDA code in numba-cuda's simulator, in a process of its own.

    NUMBA_ENABLE_CUDASIM=1 python tests/_cuda_sim.py kernel CASES.npz OUT.npz [--trace] [--pairs-per-launch N]
    NUMBA_ENABLE_CUDASIM=1 python tests/_cuda_sim.py search OUT.npz [--dask]

numba reads ``NUMBA_ENABLE_CUDASIM`` when it is first imported, so the simulated kernels run
in a child process and the test process keeps the real numba-cuda.

``kernel``: ``CASES.npz`` holds groups ``g`` of ``x{g}_data, x{g}_off, y{g}_data, y{g}_off``
and optionally ``cols{g}``; ``OUT.npz`` gets ``out{g}`` (``CudaPairLengths.pair_cells``) and,
with ``--trace``, ``lines``: the line numbers of ``nnzip/_deflate_cuda.py`` that ran.
``--pairs-per-launch`` makes the blocks of query rows small, so that several are in flight at once.

``search``: the library with ``device="cuda"`` (:func:`search`) on the texts of
:func:`search_texts`; ``OUT.npz`` gets its results, which the tests compare with the CPU's.
``--dask`` runs the search on a local Dask cluster of two worker processes instead.
"""

import pickle
import sys
import tempfile
import threading

import numpy as np

MAX_INPUT = 65273  # nnzip._deflate.MAX_INPUT, not imported here: numba must see the variable first


def _direct_device_calls(module_name: str) -> None:
    """Let the simulator call the device functions of ``module_name`` directly.

    The simulator wraps every device-function call in a swap of the function module's
    ``cuda`` global, which scans all the module's globals (tens of microseconds a call, most
    of a simulated pair's time). Inside a kernel of the same module the swap is already in
    place, so calling the Python function itself changes nothing but the time.
    """
    try:
        from numba.cuda.simulator.kernel import FakeCUDAKernel
    except ImportError:  # another simulator layout: run at its own speed
        return
    call = FakeCUDAKernel.__call__

    def fast_call(self, *args):
        fn = getattr(self, "fn", None)
        if getattr(self, "_device", False) and getattr(fn, "__module__", None) == module_name:
            return fn(*args)
        return call(self, *args)

    FakeCUDAKernel.__call__ = fast_call


def kernel(argv: list[str]) -> None:
    from nnzip import _deflate_cuda, cuda_backend

    if "--pairs-per-launch" in argv:
        cuda_backend._PAIRS_PER_LAUNCH = int(argv[argv.index("--pairs-per-launch") + 1])
    cases = np.load(argv[0])
    lines: set[int] = set()
    source = _deflate_cuda.__file__

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            lines.add(frame.f_lineno)
        return tracer

    if "--trace" in argv:
        threading.settrace(tracer)  # the simulator runs each CUDA thread in a Python thread
    out = {}
    groups = sorted({key[1:-5] for key in cases.files if key.startswith("x") and key.endswith("_data")})
    for g in groups:
        pairs = cuda_backend.CudaPairLengths(cases[f"y{g}_data"], cases[f"y{g}_off"])
        cols = cases[f"cols{g}"] if f"cols{g}" in cases.files else None
        out[f"out{g}"] = pairs.pair_cells(cases[f"x{g}_data"], cases[f"x{g}_off"], cols)
    threading.settrace(None)
    np.savez(argv[1], lines=np.array(sorted(lines), dtype=np.int64), **out)


def search_texts() -> tuple[list[str], list[str], list[str]]:
    """Short seeded queries, training texts and labels; the last query is one byte past the
    kernel's exact range alone, so each of its pairs is computed by zlib."""
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat dog ran far away stocks fell sharply today market news ünï ✓".split()

    def text(n: int) -> str:
        return " ".join(rng.choice(words, n))

    xs = [text(int(rng.integers(0, 12))) for _ in range(19)] + ["q" * MAX_INPUT]
    ys = [text(int(rng.integers(1, 12))) for _ in range(20)]
    ys[7] = ys[3]  # a duplicate: one distinct text standing for two training items
    xs[5] = ys[12]  # a query equal to a training text (rerank must include it)
    labels = [("pets", "markets")[int("stock" in y or "market" in y)] for y in ys]
    return xs, ys, labels


def search(out_path: str, on_cluster: bool) -> None:
    """The library's ``device="cuda"`` paths in the simulator; their results into ``out_path``."""
    import joblib

    import nnzip
    from nnzip import cuda_backend, distributed, index, lengths
    from nnzip.compressors import get_compressor

    xs, ys, labels = search_texts()
    out: dict[str, np.ndarray] = {}
    nnzip.warmup()
    if on_cluster:
        fitted = nnzip.NCDIndex(device="cuda", block_size=6).fit(ys)
        local = fitted.kneighbors(xs[:2], 2)  # the client's own GPU first: the side then holds a device copy
        with distributed.connect("local:2") as client:
            with joblib.parallel_config(backend="dask", client=client):
                out["gpus"] = np.array(sorted(distributed.check_on_workers(client, cuda_backend.check_device).values()))
                nnzip.warmup("cuda")
                out["dask_dist"], out["dask_idx"] = fitted.kneighbors(xs, 3)
                out["dask_pairs"] = nnzip.pairwise_compressed_len(xs[:4], ys[:5], device="cuda")
        out["local_dist"], out["local_idx"] = local
        np.savez(out_path, **out)
        return

    nnzip.warmup("cuda")
    computed = []  # (device, rows) of every block whose lengths were computed
    pair_block = index.pair_block

    def counted(comp, xs_, side, n_jobs, cols=None, *, device="cpu", progress=None):
        computed.append((device, len(xs_)))
        return pair_block(comp, xs_, side, n_jobs, cols, device=device, progress=progress)

    index.pair_block = counted
    with tempfile.TemporaryDirectory() as cache:
        # exact: written to the cache by the GPU, read back by the CPU (nothing computed), and
        # the reverse on other queries
        out["exact_dist"], out["exact_idx"] = nnzip.NCDIndex(device="cuda", cache_dir=cache, block_size=6).fit(
            ys).kneighbors(xs, 3)
        out["cuda_blocks"] = np.array([rows for device, rows in computed if device == "cuda"])
        computed.clear()
        cpu_read = nnzip.NCDIndex(device="cpu", cache_dir=cache, block_size=6).fit(ys).kneighbors(xs, 3)
        out["cpu_read_dist"], out["cpu_read_idx"] = cpu_read
        out["computed_on_reading_cuda_cache"] = np.array(len(computed))
        nnzip.NCDIndex(device="cpu", cache_dir=cache, block_size=6).fit(ys).kneighbors(xs[:12], 2)
        computed.clear()
        out["cuda_read_dist"], out["cuda_read_idx"] = nnzip.NCDIndex(
            device="cuda", cache_dir=cache, block_size=6).fit(ys).kneighbors(xs[:12], 2)
        out["computed_on_reading_cpu_cache"] = np.array(len(computed))
    index.pair_block = pair_block
    # every training item tied with the k-th, exact and rerank (the GPU computes the candidates'
    # pairs: the cols form)
    for name, params in (("exact", {}), ("rerank", {"search": "rerank", "n_candidates": 5})):
        tied = nnzip.NCDIndex(device="cuda", **params).fit(ys).tied_neighbors(xs, 2)
        out[f"tied_{name}_indptr"], out[f"tied_{name}_indices"] = tied.indptr, tied.indices
        out[f"tied_{name}_dist"] = tied.distances
    out["rerank_dist"], out["rerank_idx"] = nnzip.NCDIndex(device="cuda", search="rerank", n_candidates=5).fit(
        ys).kneighbors(xs, 2)
    out["estimate_seconds"] = np.array(nnzip.NCDIndex(device="cuda").fit(ys).estimate_seconds(xs[:3]))
    for ties in ("split", "all", "index"):
        clf = nnzip.NCDKNeighborsClassifier(2, distance_ties=ties, device="cuda").fit(ys, labels)
        out[f"predictions_{ties}"] = clf.predict(xs).astype(str)
        out[f"proba_{ties}"] = clf.predict_proba(xs)
    # the pairwise functions, zlib's offset included
    out["pairs_zlib"] = nnzip.pairwise_compressed_len(xs[:6], ys[:5], compressor="zlib", device="cuda")
    out["distances"] = nnzip.pairwise_distances(xs[:5], ys[:6], metric="cdm", device="cuda")
    # progress: one update per launch of rows, all pairs counted
    cuda_backend._PAIRS_PER_LAUNCH = 40
    updates: list[int] = []
    side = lengths.TrainingSide([y.encode() for y in ys[:10]])
    queries = [x.encode() for x in xs[:9]]
    out["progress_cells"] = lengths.pair_block(get_compressor("gzip"), queries, side, 1, device="cuda",
                                               progress=updates.append)
    out["progress_updates"] = np.array(updates)
    # nothing device-side is pickled: the side drops its GPU copy, which refuses to be pickled
    loaded = pickle.loads(pickle.dumps(side))
    out["side_pickled_without_device"] = np.array(side._device is not None and loaded._device is None)
    try:
        pickle.dumps(side._device)
    except TypeError as exc:
        out["device_copy_pickle_error"] = np.array(str(exc))
    np.savez(out_path, **out)


def main(argv: list[str]) -> None:
    from nnzip import _deflate_cuda

    _direct_device_calls(_deflate_cuda.__name__)
    if argv[0] == "kernel":
        kernel(argv[1:])
    elif argv[0] == "search":
        search(argv[1], "--dask" in argv)
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}: kernel or search")


if __name__ == "__main__":
    main(sys.argv[1:])
