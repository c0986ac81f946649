"""Issue 22 §1: every kNN model gives the same predictions, vote shares and neighbour distances when
the training set (labels alike) or the test set is permuted, for every tie rule and weighting, with
the exact search and rerank; and rerank proposes short texts and copies of the query."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import nnzip
from nnzip import NCDIndex, NCDKNeighborsClassifier
from nnzip.baselines import CountCosineKNN, EmbeddingKNN, JaccardKNN
from nnzip.data import load_local

TIE_BREAKS = ["nearest", "decrement", "random", "lowest"]
WEIGHTS = {"uniform": "uniform", "distance": "distance", "inverse": lambda d: 1.0 / (1.0 + d)}
# short texts from a few words: gzip NCD then takes few distinct values, so ties are everywhere
WORDS = ["a", "an", "the", "cat", "dog", "sat", "no", "ok", "film", "good", "bad", "fun", "it's", "dull"]
# every training set holds these too, so the bag-of-words models always have a vocabulary
ANCHORS = [("good film", "pos"), ("dull film", "neg")]
short_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


def variants():
    for distance_ties in ("split", "all"):
        for tie_break in TIE_BREAKS:
            for weights in WEIGHTS:
                yield {"distance_ties": distance_ties, "tie_break": tie_break, "weights": WEIGHTS[weights]}


def outcome(model, X, X_train):
    """Per variant of the vote: predictions, vote shares and the k neighbours' distances and (text, label)s,
    all from one search, as predict / predict_proba / kneighbors compute them."""
    tied = model.tied_neighbors(X)
    out = []
    texts = np.array(X_train + [None], dtype=object)[:-1]
    labels = model.classes_[model._y]
    for params in variants():
        voter = model.set_params(**params)
        pred, proba = voter.vote(tied, X)
        dist, idx = voter.cut_ties(tied)
        out.append((pred, proba, dist, texts[idx], labels[idx]))
    return out


def assert_same(a, b, rows=None):
    for (pa, qa, da, ta, la), (pb, qb, db, tb, lb) in zip(a, b):
        rows_b = slice(None) if rows is None else rows
        assert pa.tolist() == pb[rows_b].tolist()
        assert np.array_equal(qa, qb[rows_b])  # bit for bit
        assert np.array_equal(da, db[rows_b])
        assert ta.tolist() == tb[rows_b].tolist() and la.tolist() == lb[rows_b].tolist()


def check_permutations(make, X_train, y_train, X_test, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.permutation(len(X_train)), rng.permutation(len(X_test))
    k = int(rng.integers(1, min(4, len(X_train)) + 1))
    model = make(k).fit(X_train, y_train)
    base = outcome(model, X_test, X_train)
    moved_train = [X_train[i] for i in p]
    moved = make(k).fit(moved_train, [y_train[i] for i in p])
    assert_same(base, outcome(moved, X_test, moved_train))  # training set permuted, labels alike
    assert_same(outcome(model, [X_test[i] for i in q], X_train), base, rows=q)  # test set permuted
    # predict, predict_proba and kneighbors are the same computation
    params = dict(list(variants())[seed % 24])
    model.set_params(**params)
    moved.set_params(**params)
    assert model.predict(X_test).tolist() == moved.predict(X_test).tolist()
    assert np.array_equal(model.predict_proba(X_test), moved.predict_proba(X_test))
    assert np.array_equal(model.kneighbors(X_test)[0], moved.kneighbors(X_test)[0])


labelled = st.lists(st.tuples(short_text, st.sampled_from(["pos", "neg", "meh"])), min_size=4, max_size=24)
MODELS = {
    "gzip exact": lambda k: NCDKNeighborsClassifier(k, random_state=3),
    "gzip rerank": lambda k: NCDKNeighborsClassifier(k, search="rerank", n_candidates=max(k, 3), random_state=3),
    "count-cosine": lambda k: CountCosineKNN(k, random_state=3),
    "jaccard": lambda k: JaccardKNN(k, random_state=3),
}


@pytest.mark.filterwarnings("ignore:only one class")
@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(train=labelled, test=st.lists(short_text, min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_permuting_training_or_test_set_changes_nothing(name, train, test, seed):
    X_train, y_train = [t for t, _ in train + ANCHORS], [label for _, label in train + ANCHORS]
    check_permutations(MODELS[name], X_train, y_train, test, seed)


def test_embedding_knn_is_order_free(tiny_encoder):
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, rng.integers(1, 4))) for _ in range(30)]
    labels = rng.choice(["pos", "neg"], 30).tolist()
    make = lambda k: EmbeddingKNN(tiny_encoder, n_neighbors=k, max_length=16, random_state=3)  # noqa: E731
    for seed in range(3):
        check_permutations(make, texts[:22], labels[:22], texts[22:] + texts[:3], seed)


@pytest.mark.integration
def test_mr_sentences_cut_short_are_order_free(data_dir):
    """Real sentences cut to a few words: many ties at every k, across classes."""
    ds = load_local("mr")
    rng = np.random.default_rng(1)
    pick = rng.choice(len(ds.X_train), 120, replace=False)
    X = [" ".join(ds.X_train[i].split()[: rng.integers(1, 4)]) for i in pick]
    y = [ds.y_train[i] for i in pick]
    for make in MODELS.values():
        check_permutations(make, X[:90], y[:90], X[90:], seed=7)


def test_index_convention_depends_on_the_order_and_the_default_does_not():
    """The point of the default: with a class-sorted file, index-ordered k=1 follows the file."""
    X = ["ok", "ok", "no", "no"]
    y = ["a", "a", "b", "b"]
    query = ["hi"]  # gzip finds "ok" and "no" equally far from it
    d = nnzip.pairwise_distances(query, X)
    assert d[0, 0] == d[0, 2]
    first = NCDKNeighborsClassifier(1, distance_ties="index").fit(X, y).predict(query)
    flipped = NCDKNeighborsClassifier(1, distance_ties="index").fit(X[::-1], y[::-1]).predict(query)
    assert first.tolist() != flipped.tolist()
    for ties in ("split", "all"):
        a = NCDKNeighborsClassifier(1, distance_ties=ties).fit(X, y)
        b = NCDKNeighborsClassifier(1, distance_ties=ties).fit(X[::-1], y[::-1])
        assert a.predict(query).tolist() == b.predict(query).tolist() == ["a"]  # label order breaks the 1-1 tie
        assert a.predict_proba(query).tolist() == [[0.5, 0.5]]  # shares: split r/t each, or all counted fully


def test_rerank_proposes_short_texts_and_copies_of_the_query():
    """Issue 23 §5: a chat training set plus 50 emoji; the query "😀" is "emoji" for rerank as for exact."""
    chat = [f"{w} {i}" for i in range(60) for w in ("ok then", "no way", "hi there", "yes please")]
    X = ["ok", "no", "hi", "yes"] * 100 + chat + ["😀"] * 50
    y = ["chat"] * (400 + len(chat)) + ["emoji"] * 50
    for search in ("exact", "rerank"):
        clf = NCDKNeighborsClassifier(2, search=search, n_candidates=8).fit(X, y)
        assert clf.predict(["😀"]).tolist() == ["emoji"], search
    index = clf.index_
    assert index.n_distinct_ == 5 + len(chat) and index.candidate_index_ is not None
    assert index.n_candidates_ == 8 + 5  # the estimate's 8 and the five texts shorter than 5 bytes
    # a long query with a copy in the training set: the copy is proposed whatever its estimate
    long_x = X[-51]
    tied = index.tied_neighbors([long_x], 1)
    assert X[tied.indices[0]] == long_x and tied.distances[0] == nnzip.pairwise_distances([long_x], [long_x])[0, 0]


def test_tied_neighbors_api_on_index_and_classifier():
    X = ["the cat", "the cat", "a dog", "the cat sat", "a dog ran", "stocks fell"]
    y = [0, 0, 1, 0, 1, 2]
    index = NCDIndex().fit(X)
    tied = index.tied_neighbors(["the cat"], 1)
    assert sorted(tied.indices.tolist()) == [0, 1] and tied.n_neighbors == 1  # both copies tie at the 1st
    assert index.kneighbors(["the cat"], 1)[1].tolist() == [[0]]  # kneighbors: the first by index
    full = nnzip.pairwise_distances(["the cat", "a dog"], X)
    want = nnzip.TiedNeighbors.from_distances(full, 3)
    got = index.tied_neighbors(["the cat", "a dog"], 3)
    assert got.indices.tolist() == want.indices.tolist() and got.distances.tolist() == want.distances.tolist()
    assert index.tied_neighbors(["the cat", "a dog"], 5).with_k(3).indices.tolist() == want.indices.tolist()
    own = index.tied_neighbors(None, 2)
    D = nnzip.pairwise_distances(X, X)
    D[np.arange(6), np.arange(6)] = np.inf
    assert own.indices.tolist() == nnzip.TiedNeighbors.from_distances(D, 2).indices.tolist()
    clf = NCDKNeighborsClassifier(2).fit(X, y)
    assert clf.tied_neighbors().indices.tolist() == own.indices.tolist()
    assert clf.tied_neighbors(["the cat", "a dog"], 3).indices.tolist() == want.indices.tolist()
    with pytest.raises(nnzip.InputError, match="TiedNeighbors"):
        clf.vote(clf.kneighbors(["a dog"]))
    with pytest.raises(nnzip.InputError, match="training set of 3 items; this model has 6"):
        clf.vote(nnzip.TiedNeighbors.from_distances(np.zeros((1, 3)), 1))
    assert clone(clf).get_params()["distance_ties"] == "split"
    with pytest.raises(nnzip.ConfigError, match="unknown distance_ties 'first'; choose one of split, all, index"):
        NCDKNeighborsClassifier(distance_ties="first").fit(X, y)
