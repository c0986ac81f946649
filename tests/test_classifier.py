"""The estimator (nnzip.NCDKNeighborsClassifier), against slow independent references."""

import gzip
import os
import pickle
from collections import Counter

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import nnzip
from nnzip import NCDKNeighborsClassifier, top_k_tie_accuracy
from nnzip.data import load_local
from nnzip.errors import InputError

from test_neighbors import ref_tied_vote, ref_vote

PETS = ["the cat sat on the mat", "my dog chased the cat", "a kitten and a puppy play", "the dog barked at the cat"]
MONEY = ["stocks fell sharply today", "the market rallied on earnings", "bond yields rose again",
         "shares of the bank fell"]
X_TRAIN = PETS + MONEY
Y_TRAIN = ["pets"] * 4 + ["money"] * 4
X_TEST = ["a cat and a dog", "stock market shares fell", "the puppy sat", "bond yields rose"]
Y_TEST = ["pets", "money", "pets", "money"]


# ---- estimator -------------------------------------------------------------------------------


def test_fit_predict_proba_kneighbors_score():
    clf = NCDKNeighborsClassifier(n_neighbors=1).fit(X_TRAIN, Y_TRAIN)
    assert clf.classes_.tolist() == ["money", "pets"]
    assert clf.predict(X_TEST).tolist() == Y_TEST
    proba = clf.predict_proba(X_TEST)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1)
    assert (proba.argmax(axis=1) == np.searchsorted(clf.classes_, Y_TEST)).all()
    dist, idx = clf.kneighbors(X_TEST, n_neighbors=3)
    assert dist.shape == idx.shape == (4, 3)
    assert (np.diff(dist, axis=1) >= 0).all()
    assert clf.kneighbors(X_TEST, return_distance=False).tolist() == idx[:, :1].tolist()
    assert clf.score(X_TEST, Y_TEST) == 1.0
    assert clf.train_lengths_.tolist() == [len(gzip.compress(t.encode(), 9)) for t in X_TRAIN]


def test_kneighbors_without_x_excludes_each_item_itself():
    clf = NCDKNeighborsClassifier(n_neighbors=2).fit(X_TRAIN, Y_TRAIN)
    idx = clf.kneighbors(return_distance=False)
    assert idx.shape == (8, 2)
    assert not (idx == np.arange(8)[:, None]).any()


def test_integer_labels_and_bytes_texts():
    clf = NCDKNeighborsClassifier(n_neighbors=1).fit([t.encode() for t in X_TRAIN], [1] * 4 + [0] * 4)
    assert clf.predict([t.encode() for t in X_TEST]).tolist() == [1, 0, 1, 0]


def test_not_fitted_and_bad_input():
    clf = NCDKNeighborsClassifier()
    with pytest.raises(NotFittedError):
        clf.predict(X_TEST)
    with pytest.raises(ValueError, match="8 training items but y has 7"):
        clf.fit(X_TRAIN, Y_TRAIN[:-1])
    with pytest.raises(ValueError, match="empty"):
        clf.fit([], [])
    with pytest.raises(ValueError, match="n_neighbors must be a positive int"):
        NCDKNeighborsClassifier(n_neighbors=0).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ValueError, match="larger than the number of training items"):
        NCDKNeighborsClassifier(n_neighbors=9).fit(X_TRAIN, Y_TRAIN).predict(X_TEST)
    with pytest.raises(ValueError, match="unknown compressor"):
        NCDKNeighborsClassifier(compressor="rar").fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match=r"y\[0\]: label .*0\.0.* is a float64; labels must be str or int"):
        NCDKNeighborsClassifier().fit(X_TRAIN, np.linspace(0, 1, 8))


def test_single_class_warns_but_works():
    with pytest.warns(UserWarning, match="only one class"):
        clf = NCDKNeighborsClassifier(n_neighbors=1).fit(PETS, ["pets"] * 4)
    assert clf.predict(MONEY).tolist() == ["pets"] * 4


def test_precomputed_matches_text_path():
    D_train = nnzip.pairwise_distances(X_TRAIN)
    D_test = nnzip.pairwise_distances(X_TEST, X_TRAIN)
    pre = NCDKNeighborsClassifier(n_neighbors=3, metric="precomputed").fit(D_train, Y_TRAIN)
    txt = NCDKNeighborsClassifier(n_neighbors=3).fit(X_TRAIN, Y_TRAIN)
    assert pre.predict(D_test).tolist() == txt.predict(X_TEST).tolist()
    assert np.array_equal(pre.kneighbors(D_test)[1], txt.kneighbors(X_TEST)[1])
    assert pre.__sklearn_tags__().input_tags.pairwise
    with pytest.raises(ValueError, match="features"):
        pre.predict(D_test[:, :3])


def test_clone_pickle_pipeline_gridsearch_cross_val():
    clf = NCDKNeighborsClassifier(n_neighbors=1, tie_break="lowest")
    assert clone(clf).get_params() == clf.get_params()
    fitted = clf.fit(X_TRAIN, Y_TRAIN)
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.predict(X_TEST).tolist() == fitted.predict(X_TEST).tolist()
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [x.lower() for x in xs])), ("knn", clone(clf))])
    assert pipe.fit(X_TRAIN, Y_TRAIN).score([x.upper() for x in X_TEST], Y_TEST) == 1.0
    search = GridSearchCV(
        NCDKNeighborsClassifier(), {"n_neighbors": [1, 2, 3], "tie_break": ["nearest", "lowest"]}, cv=2
    ).fit(X_TRAIN, Y_TRAIN)
    assert search.best_params_["n_neighbors"] in (1, 2, 3)
    scores = cross_val_score(NCDKNeighborsClassifier(n_neighbors=1), X_TRAIN, Y_TRAIN, cv=2)
    assert scores.shape == (2,) and (scores >= 0.5).all()


# ---- real data: exact agreement with a slow pure-Python reference ------------------------------


def _ref_distances(test, train):
    c_train = [len(gzip.compress(t.encode(), 9)) for t in train]
    rows = []
    for x in test:
        cx = len(gzip.compress(x.encode(), 9))
        rows.append([(len(gzip.compress(f"{x} {y}".encode(), 9)) - min(cx, cy)) / max(cx, cy)
                     for y, cy in zip(train, c_train)])
    return np.array(rows)


@pytest.mark.integration
def test_r8_accuracies_match_slow_reference(data_dir):
    """All tie-break figures on R8 equal an independent reference (subset unless NNZIP_FULL_TESTS=1)."""
    ds = load_local("r8")
    test_idx = np.arange(len(ds.X_test))
    if os.environ.get("NNZIP_FULL_TESTS") != "1":
        test_idx = np.random.default_rng(0).choice(len(ds.X_test), 120, replace=False)
    X_test = [ds.X_test[i] for i in test_idx]
    y_test = [ds.y_test[i] for i in test_idx]
    D = _ref_distances(X_test, ds.X_train)
    ref_idx = np.argsort(D, axis=1, kind="stable")[:, :3]
    labels = np.array(ds.y_train, dtype=object)
    classes = sorted(set(ds.y_train))
    code = {c: i for i, c in enumerate(classes)}

    def ref_accuracy(k, distance_ties, tie_break):
        if distance_ties == "index":
            preds = [ref_vote([code[lab] for lab in labels[row[:k]]], tie_break) for row in ref_idx]
        else:
            preds = []
            for row in D:
                kth = np.sort(row)[k - 1]
                tied = [(d, code[labels[j]]) for j, d in enumerate(row.tolist()) if d <= kth]
                preds.append(ref_tied_vote(tied, k, distance_ties, tie_break))
        return np.mean(np.array([classes[p] for p in preds]) == np.array(y_test))

    clf = NCDKNeighborsClassifier(n_neighbors=3, n_jobs=2, distance_ties="index").fit(ds.X_train, ds.y_train)
    dist, idx = clf.kneighbors(X_test)
    assert idx.tolist() == ref_idx.tolist()
    tied = clf.tied_neighbors(X_test)
    variants = [(1, "nearest"), (2, "nearest"), (2, "decrement"), (2, "lowest"), (3, "nearest"), (3, "decrement")]
    for distance_ties in ("index", "split", "all"):
        for k, tie_break in variants:
            voter = clf.set_params(n_neighbors=k, tie_break=tie_break, distance_ties=distance_ties)
            pred = voter.vote(tied.with_k(k), X_test)[0]
            assert np.mean(pred == np.array(y_test)) == ref_accuracy(k, distance_ties, tie_break), (k, tie_break)
    assert top_k_tie_accuracy(y_test, labels[idx[:, :2]]) == np.mean(
        [y in {lab for lab, n in Counter(labels[row[:2]]).items() if n == max(Counter(labels[row[:2]]).values())}
         for y, row in zip(y_test, ref_idx)]
    )
