"""The compressed-lengths layer (nnzip.lengths): kernel work items, the prepared training side, the zlib fallback."""

import gzip
import pickle

import numpy as np
import pytest

import nnzip
from nnzip import index as index_module
from nnzip import lengths
from nnzip.compressors import get_compressor

X_CACHE = [f"query text {i} about cats and dogs" * (i % 3 + 1) for i in range(20)]
Y_CACHE = [f"training text {j} on markets or pets" * (j % 4 + 1) for j in range(15)]
TEXTS = ["the cat sat on the mat", "stocks fell sharply in early trading", "", "a", "the dog sat on the log"]


def gz(b: bytes) -> int:
    return len(gzip.compress(b, 9))


@pytest.fixture
def other_zlib(monkeypatch):
    """A runtime whose gzip compresses differently from the reference zlib (as zlib-ng does): bz2 here."""
    import bz2
    import dataclasses

    from nnzip.compressors import COMPRESSORS

    fake = dataclasses.replace(COMPRESSORS["gzip"], length=lambda data: len(bz2.compress(data, 9)))
    assert lengths.kernel_matches_zlib()  # the real runtime here is the reference
    lengths.kernel_matches_zlib.cache_clear()
    monkeypatch.setitem(COMPRESSORS, "gzip", fake)
    yield fake
    lengths.kernel_matches_zlib.cache_clear()


def test_another_runtime_zlib_keeps_the_reference_lengths_and_counts_what_it_computes(other_zlib):
    with pytest.warns(RuntimeWarning, match="keeps the kernel's reference lengths"):
        assert not lengths.kernel_matches_zlib()
    # lengths in the kernel's range are the reference zlib's, not the runtime's
    assert nnzip.compressed_len(TEXTS).tolist() == [gz(t.encode()) for t in TEXTS]
    got = nnzip.pairwise_compressed_len(TEXTS[:2], TEXTS[:3])
    assert got.tolist() == [[gz(f"{x} {y}".encode()) for y in TEXTS[:3]] for x in TEXTS[:2]]
    # beyond the kernel's range only the runtime's zlib can say, and the count is reported once per call
    long = "".join(f"{i:x} words of a very long text " for i in range(4000))
    assert len(long) > lengths._deflate.MAX_INPUT
    with pytest.warns(RuntimeWarning, match=r"pairwise_compressed_len: 2 compressed lengths .* not the reference"):
        got = nnzip.pairwise_compressed_len(TEXTS[:2], [TEXTS[0], long])
    assert got[:, 0].tolist() == [gz(f"{x} {TEXTS[0]}".encode()) for x in TEXTS[:2]]
    assert got[:, 1].tolist() == [other_zlib.length(f"{x} {long}".encode()) for x in TEXTS[:2]]
    index = nnzip.NCDIndex()
    with pytest.warns(RuntimeWarning, match="fit: 1 compressed lengths"):
        index.fit([TEXTS[0], TEXTS[1], long])
    with pytest.warns(RuntimeWarning, match="search: 3 compressed lengths"):
        index.kneighbors(TEXTS[:3], 1)


def test_the_reference_runtime_reports_nothing(recwarn):
    long = "".join(f"{i:x} words of a very long text " for i in range(4000))
    got = nnzip.pairwise_compressed_len(TEXTS[:1], [long])
    assert got.tolist() == [[gz(f"{TEXTS[0]} {long}".encode())]]
    assert not [w for w in recwarn if "compressed lengths" in str(w.message)]


def test_single_query_is_split_across_threads():
    items = lengths.work_items(1, 5000, 2)
    assert len(items) >= 8 and (items[:, 0] == 0).all()
    assert items[0, 1] == 0 and items[-1, 2] == 5000 and (items[1:, 1] == items[:-1, 2]).all()
    assert len(lengths.work_items(100, 5000, 1)) == 100  # one thread: whole rows
    many = lengths.work_items(100, 5000, 2)  # several: small column ranges for dynamic sharing
    assert (many[:, 2] - many[:, 1]).max() <= 512 and np.bincount(many[:, 0]).min() > 1
    Y = [f"training text {j} " * (j % 5 + 1) for j in range(300)]
    one = nnzip.pairwise_compressed_len(["a single query text"], Y, n_jobs=2)
    assert one.tolist() == [[gz(f"a single query text {y}".encode()) for y in Y]]


def test_fitted_classifier_does_not_repack_training_texts(monkeypatch):
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1).fit(Y_CACHE, [j % 3 for j in range(len(Y_CACHE))])
    packed = []
    real_pack = lengths.pack
    monkeypatch.setattr(lengths, "pack", lambda texts: packed.append(len(texts)) or real_pack(texts))
    monkeypatch.setattr(index_module, "text_digest", lambda texts: pytest.fail("training texts hashed again"))
    clf.predict(X_CACHE[:3])
    assert packed and set(packed) == {3}  # the queries only, never the training side


def test_training_side_builds_its_kernel_tables_once_it_has_served_enough_queries(monkeypatch):
    """A fitted classifier first uses only its texts' hash chains, then the full y tables once it
    has served ``TABLE_ROWS`` query rows; the tables are built once and give the same lengths."""
    monkeypatch.setattr(lengths, "TABLE_ROWS", 4)
    built = []
    real = lengths._deflate.y_tables_parallel
    monkeypatch.setattr(lengths._deflate, "y_tables_parallel", lambda *a: built.append(a[-1]) or real(*a))
    Y = [f"training text {j} " * (j % 5 + 1) + "the cat sat on the mat " * (j % 3) for j in range(40)]
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1).fit(Y, [j % 3 for j in range(len(Y))])
    queries = [f"query {i} the cat sat on the log " * (i + 1) for i in range(3)]
    first = clf.predict(queries)  # 3 rows served: chains only
    assert built == [1]
    second = clf.predict(queries)  # 6 rows: the tables are built now ...
    third = clf.predict(queries)  # ... and kept
    assert built == [1, 3]
    assert first.tolist() == second.tolist() == third.tolist()
    side = lengths.TrainingSide([y.encode() for y in Y])
    side.tables(1, 100)
    want = [[gz(f"{x} {y}".encode()) for y in Y] for x in queries]
    got = lengths.pair_block(get_compressor("gzip"), [x.encode() for x in queries], side, 2)
    assert got.tolist() == want
    assert pickle.loads(pickle.dumps(side))._tables is None  # not pickled: rebuilt where needed
    monkeypatch.setattr(lengths, "TABLE_BYTES", 12 * side.data.nbytes - 1)  # tables too big: chains only
    big = lengths.TrainingSide([y.encode() for y in Y])
    assert big.tables(1, 100).shape[1] == 1
    assert lengths.pair_block(get_compressor("gzip"), [x.encode() for x in queries], big, 1).tolist() == want


def test_python_compressors_share_rows_or_columns_and_candidate_lists_out_alike():
    """The process pool gives the serial lengths whether it shares out rows, columns or candidate lists."""
    comp = get_compressor("bz2")
    xs = [f"query {i} ".encode() * (i % 4 + 1) for i in range(40)]
    side = lengths.TrainingSide([f"train {j} ".encode() * (j % 3 + 1) for j in range(70)])
    want = np.array([[comp.length(x + b" " + y) for y in side.texts] for x in xs])
    assert np.array_equal(lengths.pair_block(comp, xs, side, 2), want)  # rows shared out
    assert np.array_equal(lengths.pair_block(comp, xs[:1], side, 2), want[:1])  # one row: columns shared out
    cols = np.array([[(3 * i + c) % 70 for c in range(60)] for i in range(40)])
    got = lengths.pair_block(comp, xs, side, 2, cols)
    assert np.array_equal(got, np.take_along_axis(want, cols, axis=1))
    assert np.array_equal(lengths.text_lengths(comp, side.texts, 2), [comp.length(y) for y in side.texts])
