"""The pairwise functions (nnzip.pairwise): lengths and distances against gzip and the formulas, bad input."""

import bz2
import gzip
import lzma
import zlib

import numpy as np
import pytest

import nnzip
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
        ("lzma", lambda b: len(lzma.compress(b, filters=[{"id": lzma.FILTER_LZMA2, "preset": 9,
                                                          "dict_size": 1 << 20}]))),
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


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts, exc, match",
    [
        ([], InputError, "empty"),
        (["ok", None], InputError, r"X\[1\] is NoneType"),
        (["ok", 3], InputError, r"X\[1\] is int"),
        ("a single string", InputError, "single str"),
        (None, InputError, "sequence"),
        (["bad \ud800 surrogate"], InputError, r"X\[0\] is not valid Unicode at character 4"),
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


def test_compressor_returning_garbage_is_reported():
    with pytest.raises(ValueError, match="expected a non-negative int"):
        nnzip.compressed_len(["a"], compressor=lambda b: -1)
    with pytest.raises(ValueError, match="length 0"):
        nnzip.pairwise_distances(["a"], ["b"], compressor=lambda b: 0)


def test_get_compressor_wraps_callables():
    comp = get_compressor(len)
    assert not comp.kernel and not comp.cacheable
    assert comp.length(b"abc") == 3
