"""The search index (nnzip.NCDIndex, nearest_neighbors): exact top-k, ties, the block cache, rerank, estimates."""

import gzip
import zlib

import numpy as np
import pytest
from test_pairwise import TEXTS

import nnzip
from nnzip import index as index_module
from nnzip import lengths


def gz(b: bytes) -> int:
    return len(gzip.compress(b, 9))


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


@pytest.mark.parametrize("k, match",
                         [(0, "positive"), (5, "larger than the number of training items"), (1.5, "positive")])
def test_bad_k(k, match):
    with pytest.raises(ValueError, match=match):
        nnzip.nearest_neighbors(["a"], ["b", "c", "d"], k)


# ---- on-disk cache -----------------------------------------------------------------------


def _count_blocks(monkeypatch):
    """Record the size of every block the search computes (blocks read from the cache are not)."""
    calls = []
    real = index_module._compute_block

    def counting(search, xs, *args, **kwargs):
        calls.append(len(xs))
        return real(search, xs, *args, **kwargs)

    monkeypatch.setattr(index_module, "_compute_block", counting)
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
    real = index_module._compute_block
    done = []

    def crash_on_third(*args, **kwargs):
        if len(done) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C in block 3
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(index_module, "_compute_block", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 2, block_size=4, cache_dir=tmp_path)
    monkeypatch.setattr(index_module, "_compute_block", real)
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


@pytest.mark.parametrize("search, n_candidates, match", [
    ("fast", None, "unknown search 'fast'; choose one of exact, rerank"),
    ("rerank", 1, "n_candidates=1 is smaller than k=2"),
    ("rerank", 0, "n_candidates must be a positive int"),
    ("exact", 64, r"^n_candidates=64 is used only with search='rerank' \(search='exact' compresses every pair\)"),
])
def test_bad_search_settings(search, n_candidates, match):
    with pytest.raises(nnzip.ConfigError, match=match):
        nnzip.nearest_neighbors(["a"], ["b", "c", "d"], 2, search=search, n_candidates=n_candidates)
    # the same rules in the index and the classifier, before any text is compressed
    with pytest.raises(nnzip.ConfigError, match=match.replace("k=2", "k=")):
        nnzip.NCDKNeighborsClassifier(2, search=search, n_candidates=n_candidates).fit(["b", "c", "d"], [0, 1, 0])
    if "k=" not in match:  # the index has no k
        with pytest.raises(nnzip.ConfigError, match=match):
            nnzip.NCDIndex(search=search, n_candidates=n_candidates).fit(["b", "c", "d"])


def test_rerank_with_every_candidate_is_exact():
    exact = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3)
    rerank = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3, search="rerank", n_candidates=len(Y_CACHE))
    assert np.array_equal(exact[0], rerank[0]) and np.array_equal(exact[1], rerank[1])


def test_rerank_ranks_its_candidates_exactly(monkeypatch):
    """Whatever the first stage proposes, the result is the exact top-k among those candidates."""
    from nnzip.candidates import CandidateIndex

    proposed = {}
    real = CandidateIndex.candidates

    def spy(self, xs, m, n_jobs=1, x_lengths=None, include=None):
        cols = real(self, xs, m, n_jobs, x_lengths, include)
        proposed.update({x: row for x, row in zip(xs, cols)})
        return cols

    monkeypatch.setattr(CandidateIndex, "candidates", spy)
    index = nnzip.NCDIndex(search="rerank", n_candidates=6, block_size=7).fit(Y_CACHE)
    dist, idx = index.kneighbors(X_CACHE, 3)
    tied = index.tied_neighbors(X_CACHE, 3)
    full = nnzip.pairwise_distances(X_CACHE, Y_CACHE)
    # the first stage names distinct texts in byte order
    distinct = sorted({y.encode() for y in Y_CACHE})
    for r, x in enumerate(X_CACHE):
        cols = proposed[x.encode()]
        assert len(set(cols.tolist())) == 6 and cols.min() >= 0 and cols.max() < len(distinct)
        items = [j for j, y in enumerate(Y_CACHE) if y.encode() in {distinct[c] for c in cols}]
        order = sorted(items, key=lambda j: (full[r, j], j))
        assert idx[r].tolist() == order[:3]
        assert dist[r].tolist() == [full[r, j] for j in order[:3]]
        # every candidate tied with the third is there too, and nothing else
        kth = full[r, order[2]]
        assert tied.row(r)[1].tolist() == [j for j in order if full[r, j] <= kth]


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
    updates = []

    class Bar:  # stands in for tqdm: records what the search reports
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def update(self, n: int) -> None:
            updates.append(n)

    monkeypatch.setattr(index_module, "tqdm", Bar)
    monkeypatch.setattr(lengths, "PAIRS_PER_CALL", 2 * len(Y_CACHE))
    nnzip.NCDIndex(block_size=len(X_CACHE)).fit(Y_CACHE).kneighbors(X_CACHE, 2)  # one block, ten kernel calls
    assert updates == [2 * len(Y_CACHE)] * 10


def test_estimate_scales_with_the_number_of_pairs():
    nnzip.warmup()
    small = nnzip.NCDIndex().fit(Y_CACHE[:5]).estimate_seconds(X_CACHE[:4], seed=1)
    # distinct training texts: copies of one text are compressed once, and do not count
    large = nnzip.NCDIndex().fit([f"{y} {i}" for i in range(100) for y in Y_CACHE[:5]]).estimate_seconds(
        X_CACHE[:4] * 50, seed=1)
    assert small > 0 and large > small


# ---- the index object ------------------------------------------------------------------------


def test_index_is_what_nearest_neighbors_and_the_classifier_use():
    index = nnzip.NCDIndex(n_jobs=2).fit(Y_CACHE)
    dist, idx = index.kneighbors(X_CACHE, 3)
    want = nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 3)
    assert np.array_equal(dist, want[0]) and np.array_equal(idx, want[1])
    assert index.n_samples_fit_ == len(Y_CACHE) and index.candidate_index_ is None and index.n_candidates_ == 0
    assert index.train_lengths_.tolist() == [gz(y.encode()) for y in Y_CACHE]
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=3).fit(Y_CACHE, [j % 2 for j in range(len(Y_CACHE))])
    assert isinstance(clf.index_, nnzip.NCDIndex)
    assert np.array_equal(clf.kneighbors(X_CACHE)[1], idx)


def test_index_pickles_its_texts_and_lengths_not_kernel_tables():
    import pickle

    index = nnzip.NCDIndex(search="rerank", n_candidates=5).fit(Y_CACHE)
    before = index.kneighbors(X_CACHE * 2, 2)  # enough query rows to build the kernel tables
    raw = pickle.dumps(index)
    assert len(raw) < 4 * sum(len(y) for y in Y_CACHE) + 200_000  # texts, lengths and the first stage's arrays
    again = pickle.loads(raw)
    after = again.kneighbors(X_CACHE * 2, 2)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_rerank_for_more_neighbours_than_candidates_takes_that_many():
    index = nnzip.NCDIndex(search="rerank", n_candidates=3).fit(Y_CACHE)
    dist, idx = index.kneighbors(X_CACHE, 5)  # 5 candidates per query: still the exact top-5 among them
    assert dist.shape == (len(X_CACHE), 5) and (np.diff(dist, axis=1) >= 0).all()
    exact = nnzip.NCDIndex(search="rerank", n_candidates=len(Y_CACHE)).fit(Y_CACHE).kneighbors(X_CACHE, 5)
    assert np.array_equal(exact[1], nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 5)[1])


def test_bad_index_parameters_fail_before_any_compression(monkeypatch):
    from nnzip import lengths

    monkeypatch.setattr(lengths, "text_lengths", lambda *a: pytest.fail("compressed before the check"))
    for params, match in [({"compressor": "rar"}, "unknown compressor 'rar'"),
                          ({"block_size": 0}, "block_size must be"),
                          ({"n_jobs": 0}, "n_jobs must be a non-zero int"),
                          ({"metric": "l2"}, "unknown metric 'l2'")]:
        with pytest.raises(nnzip.ConfigError, match=match):
            nnzip.NCDIndex(**params).fit(Y_CACHE)
    with pytest.raises(nnzip.InputError, match="k=0|k must be a positive int"):
        nnzip.nearest_neighbors(X_CACHE, Y_CACHE, 0)


def test_cache_is_keyed_by_the_code_and_shared_by_reorderings_of_the_training_set(tmp_path, monkeypatch):
    from nnzip import cache as cache_module

    for modules in (cache_module.FINGERPRINTED, cache_module.MODEL_CODE):  # no part of it goes unread
        assert all(cache_module.module_source(name).is_file() for name in modules)  # type: ignore[union-attr]
    first = nnzip.NCDIndex(block_size=5, cache_dir=tmp_path).fit(Y_CACHE).tied_neighbors(X_CACHE, 3)
    calls = _count_blocks(monkeypatch)
    n = len(Y_CACHE)
    again = nnzip.NCDIndex(block_size=5, cache_dir=tmp_path).fit(Y_CACHE[::-1]).tied_neighbors(X_CACHE, 3)
    assert calls == []  # the same texts in another order: the same blocks, read back
    back = again.reorder(np.arange(len(X_CACHE)), n - 1 - np.arange(n))
    assert back.indices.tolist() == first.indices.tolist() and back.distances.tolist() == first.distances.tolist()
    # another kernel (or tie convention) never reads these blocks
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "another kernel")
    nnzip.NCDIndex(block_size=5, cache_dir=tmp_path).fit(Y_CACHE).tied_neighbors(X_CACHE, 3)
    assert calls == [5, 5, 5, 5]


def test_every_module_the_search_imports_keys_the_cache():
    """A block holds what the search's code computes: every nnzip module it imports counts,
    but for those that only check, name errors or place work (no part of a block's content)."""
    import ast
    from pathlib import Path

    from nnzip import cache as cache_module

    infrastructure = {"errors", "validation", "cache", "_version", "distributed"}
    seen, todo = set(), ["index"]
    while todo:
        name = todo.pop()
        seen.add(name)
        tree = ast.parse(Path(cache_module.module_source(name)).read_text())  # type: ignore[arg-type]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found = [node.module] if node.module else [alias.name for alias in node.names]
                todo += [m for m in found if m not in seen and m not in infrastructure and m not in todo]
    assert seen - set(cache_module.FINGERPRINTED) == set()


def test_duplicate_training_texts_are_compressed_once():
    Y = Y_CACHE[:6] * 3
    index = nnzip.NCDIndex().fit(Y)
    assert index.n_distinct_ == 6 and index.train_lengths_.tolist() == [gz(y.encode()) for y in Y]
    full = nnzip.pairwise_distances(X_CACHE, Y)
    got = index.tied_neighbors(X_CACHE, 4)
    want = nnzip.TiedNeighbors.from_distances(full, 4)
    assert got.indices.tolist() == want.indices.tolist() and got.distances.tolist() == want.distances.tolist()


def test_exclude_copies_leaves_out_the_query_text_and_is_keyed_apart_in_the_cache(tmp_path):
    from nnzip import NCDIndex, TiedNeighbors, pairwise_distances

    train = ["the cat", "the cat", "a dog", "the cat sat", "a dog", "stocks fell", "bonds fell"]
    queries = ["the cat", "a dog", "cats", "bonds fell"]
    index = NCDIndex(cache_dir=tmp_path, block_size=2).fit(train)
    D = pairwise_distances(queries, train)
    for q, x in enumerate(queries):
        D[q, [j for j, t in enumerate(train) if t == x]] = np.inf
    for k in (1, 2, 4):
        want = TiedNeighbors.from_distances(D, k)
        for _ in range(2):  # computed, then read back from the cache
            got = index.tied_neighbors(queries, k, exclude_copies=True)
            assert got.indptr.tolist() == want.indptr.tolist() and got.indices.tolist() == want.indices.tolist()
            assert np.array_equal(got.distances, want.distances)
    # the same queries without exclude_copies find their copies first (not the cached blocks above)
    plain = index.tied_neighbors(queries, 2)
    assert plain.row(0)[1].tolist() == [0, 1] and plain.row(1)[1].tolist() == [2, 4]
    with pytest.raises(nnzip.InputError, match=r"larger than the training items left once a query's copies are left "
                                               r"out \(5 of 7\)"):
        index.tied_neighbors(queries, 6, exclude_copies=True)
    assert index.tied_neighbors(["zebra"], 7, exclude_copies=True).row_lengths.tolist() == [7]
