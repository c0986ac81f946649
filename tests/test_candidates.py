"""The first stage of search="rerank" (nnzip.candidates) against a slow oracle, and rerank end to end."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnzip
from nnzip.candidates import CandidateIndex
from nnzip.data import load_local

from test_ngrams import oracle_grams, text


def oracle_candidates(ys, y_len, xs, x_len, n, m, offset, include=None):
    """Score every training text in Python; texts shorter than n and ``include[i]`` first, then the best
    by (score desc, index), m + (number of short texts) in all (at most every text), sorted by index."""
    grams = [set(oracle_grams(y, n)) for y in ys]
    short = {j for j, y in enumerate(ys) if len(y) < n}
    width = min(len(ys), m + len(short))
    out = []
    for i, (x, cx) in enumerate(zip(xs, x_len)):
        gx = set(oracle_grams(x, n))
        forced = short | ({include[i]} if include is not None and include[i] >= 0 else set())
        score = []
        for g, cy in zip(grams, y_len):
            den = max(float(cy), float(cx))
            score.append((offset + len(g & gx) * (cy / max(len(g), 1.0))) / den if den > 0 else 0.0)
        best = sorted(range(len(ys)), key=lambda d: (d not in forced, -score[d], d))[:width]
        out.append(sorted(best))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(text, min_size=2, max_size=20),
    st.lists(text, min_size=1, max_size=6),
    st.integers(1, 4),
    st.data(),
)
def test_candidates_match_oracle(ys, xs, n, data):
    m = data.draw(st.sampled_from(sorted({1, len(ys) - 1, len(ys), max(1, len(ys) // 2)})))
    include = data.draw(st.lists(st.integers(-1, len(ys) - 1), min_size=len(xs), max_size=len(xs)))
    y_len = np.array([20 + len(y) // 2 for y in ys])
    x_len = np.array([20 + len(x) // 2 for x in xs])
    want = oracle_candidates(ys, y_len, xs, x_len, n, m, 48.0, include)
    # n_frequent=0: every gram in posting lists; 64: the frequent ones as bit rows
    for n_frequent in (0, 64):
        index = CandidateIndex(ngram=n, n_frequent=n_frequent).fit(ys, y_len)
        assert index.short_.tolist() == [j for j, y in enumerate(ys) if len(y) < n]
        for jobs in (1, 2):
            got = index.candidates(xs * 3, m, jobs, np.tile(x_len, 3), np.tile(include, 3))
            assert got.dtype == np.int64 and got.shape == (3 * len(xs), index.width(m))
            assert (np.diff(got, axis=1) > 0).all() and got.min() >= 0 and got.max() < len(ys)
            assert got.tolist() == want * 3


def test_candidates_are_split_into_bounded_calls(monkeypatch):
    from nnzip import candidates

    monkeypatch.setattr(candidates, "_QUERIES_PER_CALL", 3)
    ys = [f"text number {j} about {'cats' if j % 2 else 'dogs'}".encode() for j in range(40)]
    xs = [f"query {i} on cats and dogs".encode() for i in range(10)]
    index = CandidateIndex().fit(ys, nnzip.compressed_len(ys))
    split = index.candidates(xs, 7, 2)
    monkeypatch.setattr(candidates, "_QUERIES_PER_CALL", 256)
    assert np.array_equal(split, index.candidates(xs, 7, 1))


def test_rerank_keeps_tie_order_by_training_index():
    """Duplicate training texts are at exactly the same distance: the lower index comes first."""
    Y = ["the cat sat on the mat", "stocks fell", "the cat sat on the mat", "rain in spain", "the cat sat on the mat"]
    X = ["the cat sat on the mat today", "the cat sat on the mat"]
    exact = nnzip.nearest_neighbors(X, Y, 3)
    assert exact[1].tolist() == [[0, 2, 4], [0, 2, 4]]
    for m in (3, 4):
        dist, idx = nnzip.nearest_neighbors(X, Y, 3, search="rerank", n_candidates=m)
        assert np.array_equal(idx, exact[1]) and np.array_equal(dist, exact[0])
        assert (dist[:, 0] == dist[:, 2]).all()


def test_candidate_index_pickles():
    ys = [b"alpha beta", b"gamma delta", b"alpha gamma", b""]
    index = CandidateIndex().fit(ys, nnzip.compressed_len(ys))
    again = pickle.loads(pickle.dumps(index))
    assert again.cache_token() == index.cache_token()
    assert np.array_equal(again.candidates([b"alpha"], 2), index.candidates([b"alpha"], 2))


def test_classifier_rerank_pickles_and_predicts_the_same():
    X = [f"report {i} on {'grain' if i % 3 else 'oil'} prices and {'wheat' if i % 2 else 'crude'}" for i in range(60)]
    y = ["grain" if i % 3 else "oil" for i in range(60)]
    Q = [f"new {w} prices" for w in ("grain", "oil", "wheat", "crude", "gold")]
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=3, search="rerank", n_candidates=8).fit(X, y)
    assert clf.index_.candidate_index_ is not None and clf.index_.n_candidates_ == 8
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict(Q), clf.predict(Q))
    assert np.array_equal(again.kneighbors(Q)[1], clf.kneighbors(Q)[1])


@pytest.mark.parametrize("params, match", [
    ({"search": "fast"}, "unknown search 'fast'"),
    ({"search": "rerank", "n_candidates": 2}, "n_candidates=2 is smaller than k=3"),
    ({"search": "rerank", "n_candidates": 2.5}, "n_candidates must be a positive int"),
])
def test_classifier_bad_search_parameters(params, match):
    with pytest.raises(nnzip.ConfigError, match=match):
        nnzip.NCDKNeighborsClassifier(n_neighbors=3, **params).fit(["a", "b", "c", "d"], [0, 1, 0, 1])


def test_bad_ngram_is_one_clear_error():
    with pytest.raises(nnzip.ConfigError, match="ngram must be an int from 1 to 8"):
        CandidateIndex(ngram=9).fit([b"abc"], np.array([21]))


def test_rerank_with_every_candidate_is_exact_on_real_texts(data_dir):
    ds = load_local("r8")
    Y, X = ds.X_train[:300], ds.X_test[:60]
    exact = nnzip.nearest_neighbors(X, Y, 3, n_jobs=2)
    for m in (len(Y), len(Y) + 5):
        rerank = nnzip.nearest_neighbors(X, Y, 3, n_jobs=2, search="rerank", n_candidates=m)
        assert np.array_equal(exact[0], rerank[0]) and np.array_equal(exact[1], rerank[1])
    # fewer candidates than texts: the first stage runs, and finds the exact 1-NN of nearly every query
    dist, idx = nnzip.nearest_neighbors(X, Y, 3, n_jobs=2, search="rerank", n_candidates=64)
    assert np.mean(idx[:, 0] == exact[1][:, 0]) >= 0.95
    assert (dist[:, 0] >= exact[0][:, 0]).all()
