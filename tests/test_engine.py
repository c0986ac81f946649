"""Public engine API: lengths, distances, streaming top-k, compressors, caching, bad input."""

import bz2
import gzip
import lzma
import pickle
import zlib

import numpy as np
import pytest

import nnzip
from nnzip import engine
from nnzip.compressors import get_compressor
from nnzip.errors import InputError

TEXTS = [
    "the cat sat on the mat",
    "stocks fell sharply in early trading",
    "",
    "a",
    "the dog sat on the log",
    "shares rose after the earnings report",
    "héllo wörld ✓ unicode",
    "the cat sat on the mat",
]


def gz(b: bytes) -> int:
    return len(gzip.compress(b, 9))


def ref_distance(cxy: int, cx: int, cy: int, metric: str) -> float:
    if metric == "ncd":
        return (cxy - min(cx, cy)) / max(cx, cy)
    if metric == "cdm":
        return cxy / (cx + cy)
    return 1 - (cx + cy - cxy) / cxy


def test_compressed_len_matches_gzip():
    got = nnzip.compressed_len(TEXTS)
    assert got.dtype == np.int64
    assert got.tolist() == [gz(t.encode()) for t in TEXTS]


def test_pairwise_compressed_len_order_is_test_space_train():
    X, Y = TEXTS[:3], TEXTS[3:]
    got = nnzip.pairwise_compressed_len(X, Y, n_jobs=2)
    want = [[gz(f"{x} {y}".encode()) for y in Y] for x in X]
    assert got.shape == (3, len(Y))
    assert got.tolist() == want


@pytest.mark.parametrize(
    "name, fn",
    [
        ("zlib", lambda b: len(zlib.compress(b, 9))),
        ("bz2", lambda b: len(bz2.compress(b, 9))),
        ("lzma", lambda b: len(lzma.compress(b, filters=[{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}]))),
    ],
)
def test_python_compressors_match_their_library(name, fn):
    got = nnzip.pairwise_compressed_len(TEXTS[:2], TEXTS, compressor=name)
    assert got.tolist() == [[fn(f"{x} {y}".encode()) for y in TEXTS] for x in TEXTS[:2]]


@pytest.mark.parametrize("name", ["zstd", "lz4"])
def test_other_compressors_give_positive_lengths(name):
    lengths = nnzip.compressed_len(TEXTS, compressor=name)
    assert (lengths > 0).all()
    assert lengths[1] > lengths[3]  # a sentence compresses to more than one letter


def test_callable_compressor_and_process_pool_agree_with_serial():
    def length(b: bytes) -> int:
        return len(zlib.compress(b, 1))

    X = [f"text number {i} " * (i % 7 + 1) for i in range(40)]
    Y = [f"train {j} words" * (j % 5 + 1) for j in range(60)]
    serial = nnzip.pairwise_compressed_len(X, Y, compressor=length, n_jobs=1)
    pooled = nnzip.pairwise_compressed_len(X, Y, compressor=length, n_jobs=2)
    assert serial.tolist() == pooled.tolist()
    assert serial[0, 0] == length(f"{X[0]} {Y[0]}".encode())


@pytest.mark.parametrize("metric", ["ncd", "cdm", "clm"])
def test_distances_match_pure_python_formula(metric):
    X = [t for t in TEXTS if t]
    d = nnzip.pairwise_distances(X, TEXTS, metric=metric)
    for i, x in enumerate(X):
        for j, y in enumerate(TEXTS):
            want = ref_distance(gz(f"{x} {y}".encode()), gz(x.encode()), gz(y.encode()), metric)
            assert d[i, j] == pytest.approx(want, rel=1e-12)
    assert np.isfinite(d).all()


def test_ncd_of_a_text_with_itself_is_small():
    text = "compression distance " * 20
    d = nnzip.pairwise_distances([text, "unrelated words about markets"], [text])
    assert d[0, 0] < 0.2
    assert d[0, 0] < d[1, 0]


def test_pairwise_distances_default_y_is_x():
    d = nnzip.pairwise_distances(TEXTS[:4])
    assert d.shape == (4, 4)
    assert np.allclose(d, nnzip.pairwise_distances(TEXTS[:4], TEXTS[:4]))


def test_long_texts_fall_back_to_zlib_exactly():
    rng = np.random.default_rng(1)
    long_text = bytes(rng.integers(97, 123, 70000, dtype=np.uint8))
    X = [long_text, b"short"]
    got = nnzip.pairwise_compressed_len(X, [b"y", long_text[:100]], n_jobs=2)
    assert got.tolist() == [[gz(x + b" " + y) for y in [b"y", long_text[:100]]] for x in X]
    assert nnzip.compressed_len([long_text]).tolist() == [gz(long_text)]


def test_streaming_top_k_equals_stable_argsort_of_full_matrix():
    rng = np.random.default_rng(0)
    words = ["gzip", "knn", "text", "ncd", "zip", "cat", "dog", "market"]
    X = [" ".join(rng.choice(words, rng.integers(1, 8))) for _ in range(23)]
    Y = [" ".join(rng.choice(words, rng.integers(1, 8))) for _ in range(31)] + X[:3]
    full = nnzip.pairwise_distances(X, Y)
    want_idx = np.argsort(full, axis=1, kind="stable")[:, :5]
    for block_size in (1, 4, 100):
        dist, idx = nnzip.nearest_neighbors(X, Y, 5, block_size=block_size, n_jobs=2)
        assert idx.tolist() == want_idx.tolist()
        assert np.array_equal(dist, np.take_along_axis(full, want_idx, axis=1))


def test_ties_are_ordered_by_training_index():
    Y = ["same text", "other", "same text", "same text"]
    dist, idx = nnzip.nearest_neighbors(["same text"], Y, 3)
    assert idx.tolist() == [[0, 2, 3]]
    assert dist[0, 0] == dist[0, 1] == dist[0, 2]


def test_nearest_neighbors_uses_given_train_lengths():
    Y = TEXTS[:5]
    lengths = nnzip.compressed_len(Y)
    a = nnzip.nearest_neighbors(TEXTS, Y, 2, y_lengths=lengths)
    b = nnzip.nearest_neighbors(TEXTS, Y, 2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="y_lengths must have shape"):
        nnzip.nearest_neighbors(TEXTS, Y, 2, y_lengths=lengths[:3])


def test_kernel_self_test_failure_falls_back_to_zlib(monkeypatch):
    from nnzip import compressors

    monkeypatch.setattr(engine, "kernel_matches_zlib", lambda: False)
    called = []
    monkeypatch.setattr(engine._kernels, "gzip_pair_cells", lambda *a: called.append(a))
    got = nnzip.pairwise_compressed_len(TEXTS[:2], TEXTS[:3])
    assert not called
    assert got.tolist() == [[gz(f"{x} {y}".encode()) for y in TEXTS[:3]] for x in TEXTS[:2]]
    assert compressors.kernel_matches_zlib()  # the real kernel agrees with this Python's zlib


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts, exc, match",
    [
        ([], InputError, "empty"),
        (["ok", None], InputError, r"X\[1\] is NoneType"),
        (["ok", 3], InputError, r"X\[1\] is int"),
        ("a single string", InputError, "single str"),
        (None, InputError, "sequence"),
        (["bad \ud800 surrogate"], InputError, "UTF-8"),
    ],
)
def test_bad_texts_raise_clear_errors(texts, exc, match):
    with pytest.raises(exc, match=match):
        nnzip.pairwise_compressed_len(texts, ["y"])


def test_empty_strings_are_valid_texts():
    assert nnzip.pairwise_compressed_len([""], [""]).tolist() == [[gz(b" ")]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"compressor": "brotli"}, "unknown compressor 'brotli'; choose one of gzip, zlib"),
        ({"metric": "euclid"}, "unknown metric 'euclid'; choose one of ncd, cdm, clm"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_unknown_settings_name_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nnzip.pairwise_distances(["a"], ["b"], **kwargs)


@pytest.mark.parametrize("k, match", [(0, "positive"), (5, "larger than the number of training texts"), (1.5, "positive")])
def test_bad_k(k, match):
    with pytest.raises(ValueError, match=match):
        nnzip.nearest_neighbors(["a"], ["b", "c", "d"], k)


def test_compressor_returning_garbage_is_reported():
    with pytest.raises(ValueError, match="expected a non-negative int"):
        nnzip.compressed_len(["a"], compressor=lambda b: -1)
    with pytest.raises(ValueError, match="length 0"):
        nnzip.pairwise_distances(["a"], ["b"], compressor=lambda b: 0)


def test_get_compressor_wraps_callables():
    comp = get_compressor(len)
    assert not comp.kernel and not comp.cacheable
    assert comp.length(b"abc") == 3


# ---- on-disk cache -----------------------------------------------------------------------


def _count_blocks(monkeypatch):
    calls = []
    real = engine._compute_block

    def counting(search, xs, *args, **kwargs):
        calls.append(len(xs))
        return real(search, xs, *args, **kwargs)

    monkeypatch.setattr(engine, "_compute_block", counting)
    return calls


X_CACHE = [f"query text {i} about cats and dogs" * (i % 3 + 1) for i in range(20)]
Y_CACHE = [f"training text {j} on markets or pets" * (j % 4 + 1) for j in range(15)]


def test_cache_hit_recomputes_nothing_and_gives_same_result(tmp_path, monkeypatch):
    first = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, block_size=4, cache_dir=tmp_path)
    calls = _count_blocks(monkeypatch)
    again = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, block_size=4, cache_dir=tmp_path)
    assert calls == []
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    # a different metric is a different entry
    nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, block_size=4, cache_dir=tmp_path, metric="cdm")
    assert len(calls) == 5


def test_resume_after_crash_recomputes_at_most_one_block(tmp_path, monkeypatch):
    real = engine._compute_block
    done = []

    def crash_on_third(*args, **kwargs):
        if len(done) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C in block 3
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_compute_block", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=4, cache_dir=tmp_path)
    monkeypatch.setattr(engine, "_compute_block", real)
    calls = _count_blocks(monkeypatch)
    resumed = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=4, cache_dir=tmp_path)
    assert len(calls) == 3  # 5 blocks, 2 finished before the crash
    fresh = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=4)
    assert np.array_equal(resumed[1], fresh[1])
    assert not list(tmp_path.rglob("*.tmp"))  # no half-written file left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_cache_file_is_detected_and_recomputed(tmp_path, monkeypatch, damage):
    want = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.npz"))
    assert len(files) == 2
    raw = files[0].read_bytes()
    if damage == "truncate":
        files[0].write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        # change one stored distance without touching the zip structure: find the array bytes
        with np.load(files[0]) as f:
            d = f["distances"]
        pos = raw.find(d.tobytes())
        assert pos > 0
        changed = bytearray(raw)
        changed[pos] ^= 0x01
        files[0].write_bytes(bytes(changed))
    else:
        files[0].write_bytes(b"not a cache file")
    calls = _count_blocks(monkeypatch)
    with pytest.warns(RuntimeWarning, match="damaged cache file"):
        got = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path)
    assert len(calls) == 1
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_callable_compressor_is_not_cached(tmp_path):
    with pytest.warns(RuntimeWarning, match="cache_dir ignored"):
        nnzip.nearest_neighbors(["a b"], ["a", "b"], 1, compressor=lambda b: len(zlib.compress(b)), cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.npz"))


# ---- work split and candidate re-ranking ---------------------------------------------------


def test_single_query_is_split_across_threads():
    items = engine._work_items(1, 5000, 2)
    assert len(items) >= 8 and (items[:, 0] == 0).all()
    assert items[0, 1] == 0 and items[-1, 2] == 5000 and (items[1:, 1] == items[:-1, 2]).all()
    assert len(engine._work_items(100, 5000, 1)) == 100  # one thread: whole rows
    many = engine._work_items(100, 5000, 2)  # several: small column ranges for dynamic sharing
    assert (many[:, 2] - many[:, 1]).max() <= 512 and np.bincount(many[:, 0]).min() > 1
    Y = [f"training text {j} " * (j % 5 + 1) for j in range(300)]
    one = nnzip.pairwise_compressed_len(["a single query text"], Y, n_jobs=2)
    assert one.tolist() == [[gz(f"a single query text {y}".encode()) for y in Y]]


@pytest.mark.parametrize("search, n_candidates, match", [
    ("fast", None, "unknown search 'fast'; choose one of exact, rerank"),
    ("rerank", 1, "n_candidates=1 is smaller than k=2"),
    ("rerank", 0, "n_candidates must be a positive int"),
])
def test_bad_search_settings(search, n_candidates, match):
    with pytest.raises(nnzip.ConfigError, match=match):
        nnzip.nearest_neighbors(["a"], ["b", "c", "d"], 2, search=search, n_candidates=n_candidates)


def test_rerank_with_every_candidate_is_exact():
    exact = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3)
    rerank = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, search="rerank", n_candidates=len(Y_CACHE))
    assert np.array_equal(exact[0], rerank[0]) and np.array_equal(exact[1], rerank[1])


def test_rerank_ranks_its_candidates_exactly(monkeypatch):
    """Whatever the first stage proposes, the result is the exact top-k among those candidates."""
    from nnzip.candidates import CandidateIndex

    proposed = {}
    real = CandidateIndex.candidates

    def spy(self, xs, m, n_jobs=1, x_lengths=None):
        cols = real(self, xs, m, n_jobs, x_lengths)
        proposed.update({x: row for x, row in zip(xs, cols)})
        return cols

    monkeypatch.setattr(CandidateIndex, "candidates", spy)
    dist, idx = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, search="rerank", n_candidates=6, block_size=7)
    full = nnzip.pairwise_distances(X_CACHE, Y_CACHE)
    for r, x in enumerate(X_CACHE):
        cols = proposed[x.encode()]
        assert len(set(cols.tolist())) == 6 and cols.min() >= 0 and cols.max() < len(Y_CACHE)
        order = sorted(cols.tolist(), key=lambda j: (full[r, j], j))[:3]
        assert idx[r].tolist() == order
        assert dist[r].tolist() == [full[r, j] for j in order]


def test_rerank_cache_is_keyed_by_search_mode(tmp_path, monkeypatch):
    exact = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path)
    calls = _count_blocks(monkeypatch)
    nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path, search="rerank", n_candidates=4)
    assert len(calls) == 2
    nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path, search="rerank", n_candidates=5)
    assert len(calls) == 4
    again = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=10, cache_dir=tmp_path)
    assert len(calls) == 4 and np.array_equal(again[1], exact[1])


def test_progress_moves_within_a_block(monkeypatch):
    monkeypatch.setattr(engine, "_PAIRS_PER_CALL", 2 * len(Y_CACHE))
    updates = []
    search = engine._Search(get_compressor("gzip"), 0, engine._Side([y.encode() for y in Y_CACHE]).with_lengths(get_compressor("gzip"), 1), 2)
    engine._compute_block(search, [x.encode() for x in X_CACHE], 1, updates.append)
    assert updates == [2 * len(Y_CACHE)] * 10


def test_estimate_scales_with_the_number_of_pairs():
    nnzip.warmup()
    small = engine.estimate_seconds(X_CACHE[:4], Y_CACHE[:5], seed=1)
    large = engine.estimate_seconds(X_CACHE[:4] * 50, Y_CACHE[:5] * 100, seed=1)
    assert small > 0 and large > small


def test_fitted_classifier_does_not_repack_training_texts(monkeypatch):
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1).fit(Y_CACHE, [j % 3 for j in range(len(Y_CACHE))])
    packed = []
    real_pack = engine.pack
    monkeypatch.setattr(engine, "pack", lambda texts: packed.append(len(texts)) or real_pack(texts))
    monkeypatch.setattr(engine, "text_digest", lambda texts: pytest.fail("training texts hashed again"))
    clf.predict(X_CACHE[:3])
    assert packed and set(packed) == {3}  # the queries only, never the training side


def test_training_side_builds_its_kernel_tables_once_it_has_served_enough_queries(monkeypatch):
    """A fitted classifier first uses only its texts' hash chains, then the full y tables once it
    has served ``_TABLE_ROWS`` query rows; the tables are built once and give the same lengths."""
    monkeypatch.setattr(engine, "_TABLE_ROWS", 4)
    built = []
    real = engine._kernels.y_tables_parallel
    monkeypatch.setattr(engine._kernels, "y_tables_parallel", lambda *a: built.append(a[-1]) or real(*a))
    Y = [f"training text {j} " * (j % 5 + 1) + "the cat sat on the mat " * (j % 3) for j in range(40)]
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1).fit(Y, [j % 3 for j in range(len(Y))])
    queries = [f"query {i} the cat sat on the log " * (i + 1) for i in range(3)]
    first = clf.predict(queries)  # 3 rows served: chains only
    assert built == [1]
    second = clf.predict(queries)  # 6 rows: the tables are built now ...
    third = clf.predict(queries)  # ... and kept
    assert built == [1, 3]
    assert first.tolist() == second.tolist() == third.tolist()
    side = engine._Side([y.encode() for y in Y])
    side.tables(1, 100)
    want = [[gz(f"{x} {y}".encode()) for y in Y] for x in queries]
    got = engine._pair_block(get_compressor("gzip"), [x.encode() for x in queries], side, 2)
    assert got.tolist() == want
    assert pickle.loads(pickle.dumps(side))._tables is None  # not pickled: rebuilt where needed
    monkeypatch.setattr(engine, "_TABLE_BYTES", 12 * side.data.nbytes - 1)  # tables too big: chains only
    big = engine._Side([y.encode() for y in Y])
    assert big.tables(1, 100).shape[1] == 1
    assert engine._pair_block(get_compressor("gzip"), [x.encode() for x in queries], big, 1).tolist() == want
