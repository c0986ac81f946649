"""The block cache (nnzip.cache) when its folder cannot be written: one warning, and the run goes on."""

import numpy as np
import pytest

from nnzip.cache import BlockCache

PETS = ["the cat sat on the mat", "my dog chased the cat", "a kitten and a puppy play", "the dog barked at the cat"]
MONEY = ["stocks fell sharply today", "the market rallied on earnings", "bond yields rose again",
         "shares of the bank fell"]


def test_read_only_cache_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    import nnzip
    import nnzip.fileio as fileio

    X, Y = [f"query {i} cats" for i in range(6)], [f"train {j} dogs or money" for j in range(5)]
    want = nnzip.nearest_neighbors(X, Y, 2)
    monkeypatch.setattr(fileio, "_create_temp", lambda d, n: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.warns(RuntimeWarning) as record:
        got = nnzip.nearest_neighbors(X, Y, 2, block_size=2, cache_dir=tmp_path / "c")
    assert len(record) == 1 and "is not used" in str(record[0].message)
    assert np.array_equal(got[1], want[1])


def test_cache_store_failure_mid_run_warns_once(tmp_path):
    cache = BlockCache(tmp_path / "c")
    assert cache.check_writable()
    (tmp_path / "c").rmdir()
    (tmp_path / "c").write_text("now a file")
    with pytest.warns(RuntimeWarning, match="is not used") as record:
        cache.store("ab" * 32, x=np.arange(3))
        cache.store("cd" * 32, x=np.arange(3))
    assert len(record) == 1 and not cache.enabled and cache.load("ab" * 32) is None


def test_cache_dir_that_is_a_file_warns_once(tmp_path):
    import nnzip

    f = tmp_path / "file"
    f.write_text("not a folder")
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1, cache_dir=f).fit(PETS + MONEY, ["p"] * 4 + ["m"] * 4)
    with pytest.warns(RuntimeWarning, match="is not a folder") as record:
        pred = clf.predict([PETS[0], MONEY[0]])
    assert len(record) == 1 and pred.tolist() == ["p", "m"]
    assert f.read_text() == "not a folder"


def test_embedding_cache_that_cannot_be_written_warns(tmp_path, tiny_encoder):
    from nnzip.baselines import EmbeddingKNN

    f = tmp_path / "file"
    f.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="is not a folder"):
        model = EmbeddingKNN(tiny_encoder, n_neighbors=1, cache_dir=f, max_length=16).fit(PETS, ["p", "q"] * 2)
    assert model.train_embeddings_.shape == (4, 32) and f.read_text() == "not a folder"
