"""The CUDA pair-length kernels (nnzip._deflate_cuda), run in numba-cuda's simulator.

No GPU is needed: the kernels run under ``NUMBA_ENABLE_CUDASIM=1`` in two child processes
(``tests/_cuda_sim.py``; numba reads the variable at its first import, so this process keeps
the real numba-cuda), on seeded pairs built to reach every path of the deflate emulation.
Every pair must equal ``len(gzip.compress(x + b" " + y, 9))`` and the CPU kernel, and every
statement of the kernel module must have run (line tracing of the simulated threads). The
library's ``device="cuda"`` paths and the device checks are tested in ``test_device.py``.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnzip import _deflate, cuda_backend
from nnzip.lengths import pack

MAX_INPUT = _deflate.MAX_INPUT
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA,
                                      reason="numba-cuda is not installed (pip install 'nnzip[cuda]')")

VOCAB = (
    "the of and to in is was for on that with as by at from his her they were be this which an are have had not but "
    "one all their has been new can more when who will would there what about up out into only other time some could "
    "than them these two may first then do any like my now"
).split()


def natural(rng, n: int) -> bytes:
    """``n`` bytes of words from a small vocabulary: many matches of every length."""
    words = []
    size = 0
    while size < n:
        words.append(VOCAB[rng.integers(len(VOCAB))])
        size += len(words[-1]) + 1
    return " ".join(words).encode()[:n]


def no_repeat(rng, n: int) -> bytes:
    """``n`` bytes (no control bytes, no space) in which no 3-byte string occurs twice: deflate
    finds no match, so every byte is one literal symbol."""
    alphabet = np.arange(33, 256)
    out = bytearray(rng.choice(alphabet, 2).astype(np.uint8).tobytes())
    seen = set()
    for b in rng.choice(alphabet, 4 * n + 100).tolist():
        if len(out) == n:
            break
        t = (out[-2], out[-1], b)
        if t not in seen:
            seen.add(t)
            out.append(b)
    assert len(out) == n
    return bytes(out)


def binary_words(rng, n: int) -> bytes:
    """Three 40-byte words over ``ab`` in random order: hash chains of thousands of positions and
    matches of 32 or more, where zlib's chain budget drops to 1,024."""
    words = [rng.choice(np.frombuffer(b"ab", np.uint8), 40).tobytes() for _ in range(3)]
    out = bytearray()
    while len(out) < n:
        out += words[rng.integers(3)]
    return bytes(out[:n])


def bl_overflow(rng) -> bytes:
    """Literals only (``b" " + text``: x empty) whose code lengths' run-length codes come
    1, 1, 2, 3, ..., 55 times: zlib's bit-length tree would need 9 bits and is cut to 7
    (``gen_bitlen``'s overflow path)."""
    classes = ((5, 4), (8, 5), (13, 9), (21, 7), (34, 10), (55, 8))  # (symbols, code length), Kraft sum 1
    lengths = [length for count, length in classes for _ in range(count)]
    lengths.remove(10)  # end of block
    lengths.remove(10)  # the separator, byte 32
    layout: list[int | None] = [None] * 148  # bytes 148..255 unused: one run of 108 zero lengths
    for z in (20, 60, 90, *range(120, 130)):  # three single zeros and one run of 10
        layout[z] = 0
    layout[32] = 10
    left = {length: lengths.count(length) for length in set(lengths)}
    for i in range(148):
        if layout[i] is None:  # never two neighbours of one length: each length's count is its own
            layout[i] = max((n, length) for length, n in left.items() if n and length != layout[i - 1])[1]
            left[layout[i]] -= 1
    counts = {b: 2 ** (10 - length) for b, length in enumerate(layout) if length}
    counts[32] -= 1  # the separator is its one occurrence
    pool = [b for b, c in counts.items() for _ in range(c)]
    for _ in range(100):  # an order in which no 3-byte string occurs twice
        rest = list(pool)
        out = [32]
        seen: set[tuple[int, ...]] = set()
        while rest:
            for _ in range(200):
                j = int(rng.integers(len(rest)))
                t = (*out[-2:], rest[j])
                if len(t) < 3 or t not in seen:
                    seen.add(t)
                    out.append(rest.pop(j))
                    break
            else:
                break
        if not rest:
            return bytes(out[1:])
    raise AssertionError("no arrangement without a repeated 3-byte string")


def fuzz_text(rng) -> bytes:
    kind = rng.integers(5)
    n = int(rng.integers(0, 400))
    if kind == 0:
        return rng.integers(0, 256, n).astype(np.uint8).tobytes()
    if kind == 1:
        return rng.choice(np.frombuffer(b"abc ", np.uint8), n).tobytes()
    if kind == 2:
        return natural(rng, n)
    if kind == 3:
        unit = rng.integers(0, 256, int(rng.integers(1, 12))).astype(np.uint8).tobytes()
        return (unit * (n // len(unit) + 1))[:n]
    return "ünïcödé ✓ 中文 текст ".encode() * int(rng.integers(0, 8))


def cases() -> dict[str, tuple[list[bytes], list[bytes], np.ndarray | None]]:
    """Groups of ``(queries, training texts, cols)``: all pairs, or ``cols`` per query (rerank)."""
    rng = np.random.default_rng(0)
    uni = "héllo wörld ✓ 中文 ünïcödé ".encode()
    g: dict[str, tuple[list[bytes], list[bytes], np.ndarray | None]] = {}
    # empty, one byte, the separator byte, repeats (matches of 258, opened into y), non-ASCII, all byte values
    xs = [b"", b"a", b" ", b"abc", b"hello world", b"abcabcabcabcabcabc", b"a" * 600, natural(rng, 400),
          uni * 5, bytes(range(256)), b"the cat sat on the mat the cat sat", b"xyzxyzxyzxyz"]
    ys = [b"", b"b", b" ", b"abc", b"world hello", b"abcabc" * 20, b"a" * 700, natural(rng, 500),
          uni * 3, bytes(range(255, -1, -1)), b"on the mat the cat sat" * 4, b"xyz" * 90 + b"q"]
    g["small"] = (xs, ys, None)
    g["rerank"] = (xs, ys, rng.integers(0, len(ys), size=(len(xs), 5)))  # repeated columns too
    g["fuzz"] = ([fuzz_text(rng) for _ in range(12)], [fuzz_text(rng) for _ in range(14)], None)
    # chains longer than both budgets (4,096 and 1,024 after a match of 32) in y, and the rest of
    # a 1,024 budget spent in x
    g["budget"] = ([b"", binary_words(rng, 300), natural(rng, 200)],
                   [binary_words(rng, 3000), binary_words(rng, 9000), binary_words(rng, 34000), natural(rng, 3000)],
                   None)
    s = no_repeat(rng, 200000)
    x0 = s[:10]
    m = 16383 - 1 - (len(x0) + 1)  # literals before a copy that is the block's 16,383rd symbol
    f = s[20:]
    y_flush_after_match = f[:m] + f[100:120] + f[m + 30 : m + 80]
    x_flushes_alone = s[40000:57000]  # 17,000 literals: the query's own parse flushes a stored block
    g["split"] = ([x0, x_flushes_alone, b""], [y_flush_after_match, s[60000:60100], bl_overflow(rng)],
                  np.array([[0], [1], [2]]))
    # distances: x = "z" + A + "EXT1" + filler, with A again at 2000, B at 40, C at 100, D near its end
    a, b, c, d = bytes(range(1, 9)), bytes(range(9, 15)), bytes(range(15, 19)), bytes(range(19, 23))
    nx = 32001
    x = bytearray((b"z" + a + b"EXT1" + s[70000:110000])[:nx])
    x[40:46], x[100:104], x[2000:2008], x[nx - 3000 : nx - 2996] = b, c, a, d
    fy = s[120000:]
    ys = [fy[:t] + a + b"EXT1" + fy[1000:1100] for t in (504, 505, 506)]  # the longer A at 32,505..32,507
    ys += [fy[2000 : 2000 + dist - nx - 1 + 40] + b + fy[3000:3100] for dist in (32506, 32507)]  # chain head
    ys += [c[:3] + b"\x1f" + fy[4000:4100], d[:3] + b"\x1f" + fy[5000:5100]]  # 3 bytes beyond / within 4,096
    g["distance"] = ([bytes(x)], ys, None)
    # pairs of exactly MAX_INPUT bytes and one more; a query too long for any pair
    y_max = natural(rng, MAX_INPUT - len(x0) - 1)
    g["range"] = ([x0, s[:MAX_INPUT]], [y_max, y_max + b"!", b""], np.array([[0, 1], [2, 0]]))
    g["range_x"] = ([s[: MAX_INPUT - 1]], [b"", b"a"], None)  # a query of MAX_INPUT - 1 bytes
    return g


def zlib_lengths(xs, ys, cols):
    want = np.array([[len(gzip.compress(x + b" " + y, 9, mtime=0)) for y in ys] for x in xs], dtype=np.int64)
    return want if cols is None else np.take_along_axis(want, cols, axis=1)


# Two child processes, about the same simulated work each (the CI machine has 2 cores): the two
# groups with a 32 KiB and a 64 KiB query, traced line by line, take about as long as all the others.
SHARDS = (("small", "rerank", "fuzz", "budget", "split", "range"), ("distance", "range_x"))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """``(cases, results, traced lines)`` from the simulated kernels."""
    if not HAS_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (pip install 'nnzip[cuda]')")
    folder = tmp_path_factory.mktemp("cuda_sim")
    groups = cases()
    procs = []
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    helper = Path(__file__).with_name("_cuda_sim.py")
    for k, shard in enumerate(SHARDS):
        arrays = {}
        for name in shard:
            xs, ys, cols = groups[name]
            arrays[f"x{name}_data"], arrays[f"x{name}_off"] = pack(xs)
            arrays[f"y{name}_data"], arrays[f"y{name}_off"] = pack(ys)
            if cols is not None:
                arrays[f"cols{name}"] = cols
        np.savez(folder / f"in{k}.npz", **arrays)
        # small launches (40 pairs): several blocks of rows in flight through the copy-back pipeline
        cmd = [sys.executable, str(helper), "kernel", str(folder / f"in{k}.npz"), str(folder / f"out{k}.npz"),
               "--trace", "--pairs-per-launch", "40"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results, lines = {}, set()
    for k, proc in enumerate(procs):
        output = proc.communicate()[0]
        assert proc.returncode == 0, output
        with np.load(folder / f"out{k}.npz") as out:
            results.update({key[len("out") :]: out[key] for key in out.files if key.startswith("out")})
            lines |= set(out["lines"].tolist())
    return groups, results, lines


GROUPS = [name for shard in SHARDS for name in shard]


@needs_numba_cuda
@pytest.mark.parametrize("name", GROUPS)
def test_simulated_lengths_equal_zlib(simulated, name):
    groups, results, _ = simulated
    xs, ys, cols = groups[name]
    got = results[name]
    want = zlib_lengths(xs, ys, cols)
    n = np.array([[len(x) + 1 + len(y) for y in ys] for x in xs])
    if cols is not None:
        n = np.take_along_axis(n, cols, axis=1)
    assert got.shape == want.shape
    assert np.array_equal(got == -1, n > MAX_INPUT)  # -1 exactly past the kernel's range
    assert np.array_equal(got[n <= MAX_INPUT], want[n <= MAX_INPUT])


@needs_numba_cuda
@pytest.mark.parametrize("name", GROUPS)
def test_simulated_lengths_equal_cpu_kernel(simulated, name):
    groups, results, _ = simulated
    xs, ys, cols = groups[name]
    xd, xo = pack(xs)
    yd, yo = pack(ys)
    kcols = np.zeros((0, 0), np.int64) if cols is None else np.ascontiguousarray(cols, dtype=np.int64)
    out = np.empty(results[name].shape, dtype=np.int64)
    items = np.array([[i, 0, out.shape[1]] for i in range(len(xs))], dtype=np.int64)
    _deflate.gzip_pair_cells(xd, xo, yd, yo, _deflate.y_tables(yd, yo), kcols, items, out)
    assert np.array_equal(results[name], out)


@needs_numba_cuda
def test_every_kernel_statement_ran(simulated):
    """Each statement of nnzip/_deflate_cuda.py ran in some simulated thread: the cases reach every path
    (block splits after a literal and after a match, stored/fixed/dynamic blocks, code-length
    limiting, both chain budgets, the distance limits, the gram-set stop, the query's prefix
    parse stopping at y, rows and pairs past the exact range, ...)."""
    _, _, lines = simulated
    source = Path(cuda_backend.__file__).with_name("_deflate_cuda.py").read_text()
    missed = []
    for fn in ast.parse(source).body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.stmt) or node is fn:
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # docstring
            # a compound statement runs when its condition does (traced on the condition's lines)
            head = getattr(node, "test", None) or getattr(node, "iter", None)
            end = head.end_lineno if head is not None else node.end_lineno
            if not lines & set(range(node.lineno, end + 1)):
                missed.append(f"{fn.name}:{node.lineno}")
    assert not missed


def test_cases_reach_the_sizes_they_name():
    """The edge cases are where they are meant to be (cheap checks on the inputs themselves)."""
    groups = cases()
    xs, ys, cols = groups["range"]
    assert len(xs[0]) + 1 + len(ys[0]) == MAX_INPUT and len(xs[1]) + 1 > MAX_INPUT
    assert len(groups["range_x"][0][0]) + 1 == MAX_INPUT
    xs, ys, _ = groups["distance"]
    assert [len(xs[0]) + 1 + y.index(bytes(range(1, 9))) - 1 for y in ys[:3]] == [32505, 32506, 32507]
    assert [len(xs[0]) + 1 + y.index(bytes(range(9, 15))) - 40 for y in ys[3:5]] == [32506, 32507]
    x_flush, y_flush = groups["split"][0][0], groups["split"][1][0]
    assert len(x_flush) + 1 + y_flush.rindex(y_flush[100:120]) + 1 == 16383  # the copy is symbol 16,383


@needs_numba_cuda
def test_kernels_compile_for_hopper(monkeypatch):
    """The real compiler accepts the kernels (the simulator runs them as plain Python, so this is
    what catches a construct numba-cuda cannot type or lower). Needs NVVM, not a GPU."""
    from numba import cuda
    from numba.cuda import dispatcher

    from nnzip import _deflate_cuda as dc

    problem = cuda_backend._compiler_problem()
    if problem is not None:  # no CUDA toolkit (libnvvm) on this machine
        pytest.skip(f"the CUDA compilers (NVVM, NVRTC) are not available here: {problem[:120]}")
    # device functions are compiled for the current device; there is none, so name Hopper's
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: type("Device", (), {"compute_capability": (9, 0)})())
    arrays = "uint8[::1], int64[::1], int32[::1], uint16[:, ::1], int64[:, :, ::1], int64[:, ::1], int32[:, ::1]"
    rows = f"void({arrays})"
    pairs = f"void({arrays}, uint8[::1], int64[::1], int32[:, ::1], int32[:, ::1], int32[:, ::1], int32[:, ::1])"
    for kernel, sig in ((dc.rows_kernel, rows), (dc.pairs_kernel, pairs)):
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        assert ".target sm_90" in ptx


@pytest.mark.slow
@pytest.mark.integration
@needs_numba_cuda
def test_gpu_benchmark_runs_end_to_end_in_the_simulator(data_dir, tmp_path):
    """benchmarks/gpu/bench_gpu.py on the first 3 texts of each file: every part runs (the
    end-to-end parts through NCDIndex(device="cuda")), the results file is written and its checks
    hold (its figures mean nothing at this size)."""
    import json

    script = Path(__file__).parents[1] / "benchmarks" / "gpu" / "bench_gpu.py"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "NNZIP_DATA_DIR": str(data_dir)}
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(script), "--tiny", "3", "--output", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["errors"] == {} and result["skipped"] == {} and result["tiny"] == 3
    assert result["parts"]["exactness"]["exact"] and result["parts"]["exactness"]["pairs_checked"] > 0
    assert set(result["parts"]["throughput"]) >= {"ag_news", "20news", "ag_news_launch_choices_pairs_per_s",
                                                  "ag_news_search_pairs_per_s"}
    assert result["parts"]["r8_end_to_end"]["predictions_identical"]
    imdb = result["parts"]["imdb_end_to_end"]
    assert imdb["cpu_kernel_same_neighbours"] and set(imdb["gpu_accuracy_by_convention"]) == {"split", "index"}
    assert "plumbing test" in out.with_suffix(".md").read_text()
