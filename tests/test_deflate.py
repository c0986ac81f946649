"""The numba deflate-length kernel (nnzip._deflate) against its oracle, ``len(gzip.compress(data, 9))``."""

import gzip
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnzip import _deflate as K


def gzip_len(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def pack(texts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in texts])
    data = np.frombuffer(b"".join(texts) or b"\0", dtype=np.uint8).copy()
    return data, offsets


def expected_single(data: bytes) -> int:
    return gzip_len(data) if len(data) <= K.MAX_INPUT else -1


def expected_pair(x: bytes, y: bytes) -> int:
    joined = x + b" " + y
    return gzip_len(joined) if len(joined) <= K.MAX_INPUT else -1


def kernel_single(texts: list[bytes]) -> np.ndarray:
    return K.gzip_lengths(*pack(texts))


def kernel_pairs(X: list[bytes], Y: list[bytes]) -> np.ndarray:
    return K.gzip_pair_lengths(*pack(X), *pack(Y))


rng = random.Random(1951)
EDGE_CASES = {
    "empty": b"",
    "one byte": b"a",
    "two bytes": b"ab",
    "NUL run": b"\0" * 5000,
    "one char 258": b"x" * 258,
    "one char 259": b"x" * 259,
    "one char 4096": b"z" * 4096,
    "period 3": b"abc" * 3000,
    "binary 257": bytes(rng.getrandbits(8) for _ in range(257)),
    "binary 4095": bytes(rng.getrandbits(8) for _ in range(4095)),
    # more than 16,383 literals: several blocks, stored blocks among them
    "binary 20000": bytes(rng.getrandbits(8) for _ in range(20000)),
    "two letters 32767": bytes(rng.choice(b"ab") for _ in range(32767)),
    "two letters 32769": bytes(rng.choice(b"ab") for _ in range(32769)),
    "text 40000": bytes(rng.choice(b"etaoin shrdlu") for _ in range(40000)),
    "largest exact": bytes(rng.choice(b"abcdefgh ") for _ in range(K.MAX_INPUT)),
    "first too long": bytes(rng.choice(b"abcdefgh ") for _ in range(K.MAX_INPUT + 1)),
    "65536+": b"q" * 70000,
    "unicode": "naïve café — 東京 ✓ 🙂".encode() * 40,
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_single_length_edge_cases(name):
    data = EDGE_CASES[name]
    assert kernel_single([data])[0] == expected_single(data)


def test_edge_case_pairs_including_window_wrap():
    """Pairs longer than 32 KiB: zlib's distance limit inside y's own table and across x."""
    X = [EDGE_CASES[k] for k in ("text 40000", "two letters 32767", "empty", "one char 258", "binary 20000")]
    Y = [EDGE_CASES[k] for k in ("empty", "period 3", "two letters 32769", "one byte", "unicode")] + [X[0][:300]]
    got = kernel_pairs(X, Y)
    expected = np.array([[expected_pair(x, y) for y in Y] for x in X])
    np.testing.assert_array_equal(got, expected)


def test_too_long_inputs_are_flagged_not_guessed():
    assert kernel_single([EDGE_CASES["first too long"]])[0] == -1
    x = b"a" * (K.MAX_INPUT - 1)
    got = kernel_pairs([x], [b"", b"b", b"bc"])
    assert got[0, 0] == gzip_len(x + b" ")
    assert got[0, 1] == -1 and got[0, 2] == -1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_single_length_equals_gzip_for_any_bytes(data):
    assert kernel_single([data])[0] == gzip_len(data)


repetitive = st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=6), st.integers(0, 2000))
texts = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=400).map(str.encode),
    repetitive,
    st.text(alphabet="ab ", max_size=1200).map(str.encode),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=5), st.lists(texts, min_size=1, max_size=5))
def test_pair_lengths_equal_gzip_of_concatenation(X, Y):
    got = kernel_pairs(X, Y)
    expected = np.array([[expected_pair(x, y) for y in Y] for x in X])
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(texts, min_size=1, max_size=7), st.lists(texts, min_size=1, max_size=4), st.integers(1, 8))
def test_parallel_twin_equals_serial(X, Y, n_workers):
    """Whole rows shared out to parallel workers, with tables built in parallel: the serial lengths."""
    serial = kernel_pairs(X, Y)
    items = np.array([(i, 0, len(Y)) for i in range(len(X))], dtype=np.int64)
    parallel = np.full((len(X), len(Y)), -7, dtype=np.int64)
    ytab = K.y_tables_parallel(*pack(Y), n_workers)
    K.gzip_pair_cells_parallel(*pack(X), *pack(Y), ytab, np.zeros((0, 0), np.int64), items, n_workers, parallel)
    np.testing.assert_array_equal(serial, parallel)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(texts, min_size=1, max_size=4),
    st.lists(texts, min_size=2, max_size=6),
    st.integers(1, 4),
    st.integers(1, 5),
    st.data(),
)
def test_pair_cells_with_candidates_and_split_rows(X, Y, m, pieces, data):
    """Any candidate lists, rows cut into column ranges, any chunking: the oracle's lengths."""
    m = min(m, len(Y))
    cols = np.array([sorted(data.draw(st.permutations(range(len(Y))))[:m]) for _ in X], dtype=np.int64)
    bounds = sorted({0, m, *data.draw(st.lists(st.integers(0, m), max_size=pieces))})
    items = np.array([(i, lo, hi) for i in range(len(X)) for lo, hi in zip(bounds, bounds[1:])], dtype=np.int64)
    want = np.array([[expected_pair(X[i], Y[j]) for j in row] for i, row in enumerate(cols)])
    out = np.full((len(X), m), -7, dtype=np.int64)
    ytab = K.y_tables(*pack(Y))
    K.gzip_pair_cells(*pack(X), *pack(Y), ytab, cols, items, out)
    np.testing.assert_array_equal(out, want)
    out[:] = -7
    K.gzip_pair_cells_parallel(*pack(X), *pack(Y), ytab, cols, items, data.draw(st.integers(1, len(items))), out)
    np.testing.assert_array_equal(out, want)
    # without candidate lists, cell c is training text c
    full = np.full((len(X), len(Y)), -7, dtype=np.int64)
    items_full = np.array([(i, 0, len(Y)) for i in range(len(X))], dtype=np.int64)
    K.gzip_pair_cells_parallel(*pack(X), *pack(Y), ytab, np.zeros((0, 0), np.int64), items_full, 2, full)
    np.testing.assert_array_equal(full, kernel_pairs(X, Y))


def test_parallel_single_lengths_equal_serial():
    sample = [t for t in EDGE_CASES.values()][:10] + [b"abc", b""]
    data, offsets = pack(sample)
    np.testing.assert_array_equal(K.gzip_lengths_parallel(data, offsets, 3), K.gzip_lengths(data, offsets))


def test_repeated_pairs_do_not_leak_state():
    """The same pair computed after other pairs gives the same length."""
    X = [b"the cat sat on the mat", b"", b"mat the on sat cat the" * 20]
    Y = [b"the dog sat on the log", b"the cat sat on the mat", b"", b"the dog sat on the log"]
    got = kernel_pairs(X, Y)
    np.testing.assert_array_equal(got[:, 0], got[:, 3])
    np.testing.assert_array_equal(got, [[expected_pair(x, y) for y in Y] for x in X])


def test_generation_counter_overflow_clears_heads():
    st_ = np.zeros(K._N_STATE, dtype=np.int64)
    heads = np.full(32768, 7, dtype=np.int32)
    st_[K._S_XGEN] = K._MAX_GEN
    K._next_generation(st_, K._S_XGEN, heads)
    assert st_[K._S_XGEN] == 1
    assert not heads.any()


def test_texts_past_the_generation_limit_stay_exact():
    """More texts than there are hash-head generations, through one workspace: as queries, as
    training texts (their tables) and alone."""
    X = [b"abc def abc 12"]
    Y = [f"{j} abc {j % 7} def {j * 31 % 1000}".encode() for j in range(K._MAX_GEN + 300)]
    got = kernel_pairs(X, Y)
    np.testing.assert_array_equal(got[0], [expected_pair(X[0], y) for y in Y])
    np.testing.assert_array_equal(kernel_pairs(Y, X)[:, 0], [expected_pair(y, X[0]) for y in Y])
    np.testing.assert_array_equal(kernel_single(Y), [gzip_len(y) for y in Y])


def slow_y_tables(text: bytes) -> np.ndarray:
    """What :func:`K.y_tables` should hold, from the definitions: chains by brute force, match
    lengths byte by byte (zeros after the text, as in a pair), zlib's budgets and limits."""
    def h(q):
        return ((text[q] << 10) ^ (text[q + 1] << 5) ^ text[q + 2]) & 32767

    padded = text + bytes(K._PAD)
    rows = np.zeros((len(text), 3), dtype=np.int64)
    for q in range(len(text) - 2):
        same = [c for c in range(q - 1, -1, -1) if h(c) == h(q)]
        if not same:
            rows[q] = (-1 - h(q), 0, 0)
            continue
        nice = min(K._MAX_MATCH, len(text) - q)
        far = q - K._MAX_DIST if q >= K._MAX_DIST else -1
        best, cand, count, short, short_cand = 2, 0, 0, 2, 0
        for c in same:
            if count > 0 and c <= far:
                break
            count += 1
            n = 0
            while n < K._MAX_MATCH and padded[c + n] == padded[q + n]:
                n += 1
            if n > best and n >= 3:
                best, cand = n, c
            if count == K._MAX_CHAIN >> 2:
                short, short_cand = best, cand
            if best >= nice or count == K._MAX_CHAIN:
                break
        lengths = (best if best > 2 else 0) | count << 9 | (short if short > 2 else 0) << 22
        rows[q] = (same[0], lengths, cand | short_cand << 16)
    return rows.astype(np.int32)  # column 2 wraps past 32,767 as the kernel's int32 does


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(alphabet="ab ", max_size=400).map(str.encode)),
                min_size=1, max_size=4))
def test_y_tables_equal_their_definition(Y):
    data, offsets = pack(Y)
    got = K.y_tables(data, offsets)
    np.testing.assert_array_equal(K.y_tables_parallel(data, offsets, 3), got)
    np.testing.assert_array_equal(K.y_tables(data, offsets, 1)[:, 0], got[:, 0])  # the chains alone
    for j, y in enumerate(Y):
        rows = got[offsets[j] : offsets[j + 1]]
        want = slow_y_tables(y)
        np.testing.assert_array_equal(rows[: max(0, len(y) - 2)], want[: max(0, len(y) - 2)])


def test_pairs_through_every_path_of_the_y_tables():
    """Training texts whose chains outrun zlib's 1,024-candidate budget after a match of 32 or more,
    and texts past zlib's 32,506-byte distance limit, after short and long queries."""
    gen = random.Random(7)
    runs = b"".join(b"ab" * gen.randint(16, 60) + bytes([gen.choice(b"cdef")]) for _ in range(200))
    far = bytes(gen.choice(b"etaoin shrdlu") for _ in range(34000))
    X = [b"", b"ab", b"abab cd " * 50, far[:3000]]
    Y = [runs, far, far[:32600], runs[:5000] + far[:500]]
    got = kernel_pairs(X, Y)
    np.testing.assert_array_equal(got, [[expected_pair(x, y) for y in Y] for x in X])


def read_texts(path, n):
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")[:-1]
    return [line.split("\t", 1)[1].encode() for line in lines[:n]]


@pytest.mark.parametrize("dataset", ["partial/ag_news/test", "r8/train", "mr/test"])
def test_every_pair_of_real_texts(data_dir, dataset):
    texts = read_texts(data_dir / f"{dataset}.tsv.gz", 150)
    X, Y = texts[:60], texts[60:]
    got = kernel_pairs(X, Y)
    expected = np.array([[expected_pair(x, y) for y in Y] for x in X])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(kernel_single(texts), [gzip_len(t) for t in texts])


@pytest.mark.slow
def test_long_real_texts(data_dir):
    texts = read_texts(data_dir / "20news/train.tsv.gz", 400)
    texts.sort(key=len)
    X, Y = texts[-12:], texts[::40]
    got = kernel_pairs(X, Y)
    expected = np.array([[expected_pair(x, y) for y in Y] for x in X])
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2)), min_size=2, max_size=120))
def test_bottom_up_downheap_equals_zlib_downheap(keys):
    """After zlib's pqremove the bottom-up sift leaves the heap exactly as pqdownheap does (ties included)."""
    n = len(keys)
    heap = np.full(n + 2, K._HEAP_TOP, dtype=np.int64)
    for i, (freq, depth) in enumerate(keys):
        heap[i + 1] = (freq << 16) | (depth << 10) | i
    for k in range(n // 2, 0, -1):
        K._pqdownheap(heap, n, k)
    heap[1] = heap[n]
    heap[n] = K._HEAP_TOP
    want, got = heap.copy(), heap.copy()
    K._pqdownheap(want, n - 1, 1)
    K._pqdownheap_bottom_up(got, n - 1)
    np.testing.assert_array_equal(got, want)
