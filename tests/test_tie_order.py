"""The neighbour structure with boundary ties and the exact statistics of training-order effects,
against brute force over every order of tiny training sets and against the real classifier."""

import itertools
import pickle
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnzip import NCDKNeighborsClassifier, pairwise_distances
from nnzip.data import load_local
from nnzip.errors import ConfigError, InputError
from nnzip.metrics import evaluate_order, tie_order_effect, top_k_tie_accuracy, top_k_tie_hits
from nnzip.neighbors import class_scores, neighbor_weights, vote
from nnzip.tied_neighbors import TiedNeighbors

TIE_BREAKS = ["nearest", "decrement", "random", "lowest"]
WEIGHTS = {
    "uniform": "uniform",
    "distance": "distance",
    "inverse": lambda d: 1.0 / (1.0 + d),
    # weighs by rank: the order inside the k matters even for "lowest" and "random"
    "rank": lambda d: np.broadcast_to(1.0 / np.arange(1, d.shape[1] + 1), d.shape).copy(),
}


# ---- slow oracles -----------------------------------------------------------------------------


def stable_top_k(D, k):
    """The k nearest columns of each row by (distance, column): a stable argsort."""
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, idx, axis=1), idx


def ref_structure(D, k):
    """Per row: every (distance, index) with distance <= the k-th smallest, sorted."""
    rows = []
    for row in D:
        kth = sorted(row.tolist())[k - 1]
        rows.append(sorted((d, j) for j, d in enumerate(row.tolist()) if d <= kth))
    return rows


def brute_force(D, y_train, y_test, k, tie_break, weights):
    """Outcomes of the index-ordered kNN under every permutation of the training set, exactly.

    Returns per-order-and-item chances of a right prediction (Fractions; for "random" the share
    of the tied classes that is right), the prediction (or tied set), and top-k tie hits.
    """
    classes = sorted(set(y_train))
    code = {c: i for i, c in enumerate(classes)}
    n_classes = len(classes)
    ytr = np.array([code[v] for v in y_train])
    truth = np.array([code.get(v, n_classes) for v in y_test])
    n, nq = D.shape[1], D.shape[0]
    perms = [np.array(p) for p in itertools.permutations(range(n))]
    # the k nearest when the training set is presented in order p, mapped back to file indices
    idx = np.concatenate([p[np.argsort(D[:, p], axis=1, kind="stable")[:, :k]] for p in perms])
    dist = np.take_along_axis(np.tile(D, (len(perms), 1)), idx, axis=1)
    codes = ytr[idx]
    t = np.tile(truth, len(perms))
    if tie_break == "random":
        scores = class_scores(codes, neighbor_weights(dist, weights), n_classes)
        tied = np.isclose(scores, scores.max(axis=1, keepdims=True), rtol=1e-12, atol=0.0)
        outcome = [frozenset(np.flatnonzero(r).tolist()) for r in tied]
        right = [Fraction(int(ti < n_classes and r[ti]), int(r.sum())) for r, ti in zip(tied, t)]
    else:
        pred = vote(dist, codes, n_classes, tie_break=tie_break, weights=weights)[0]
        outcome = pred.tolist()
        right = [Fraction(int(a == b)) for a, b in zip(pred, t)]
    top = []
    for row, ti in zip(codes.tolist(), t.tolist()):
        counts = Counter(row)
        top.append(Fraction(int(counts.get(ti, 0) == max(counts.values()))))
    shape = (len(perms), nq)
    return (
        perms,
        np.array(right, dtype=object).reshape(shape),
        np.array(outcome + [None], dtype=object)[:-1].reshape(shape),
        np.array(top, dtype=object).reshape(shape),
    )


def tiny_instance(rng, n_train, n_queries=5):
    """Distances from a few values (many ties, zeros included), 2-3 classes, an unknown test label."""
    values = np.array([0.0, 0.25, 0.5, 0.5, 0.75])[: rng.integers(2, 6)]
    D = rng.choice(values, size=(n_queries, n_train))
    y_train = rng.choice(["a", "b", "c"][: rng.integers(2, 4)], n_train).tolist()
    y_test = rng.choice(["a", "b", "c", "z"], n_queries).tolist()
    return D, y_train, y_test


def assert_matches_brute_force(D, y_train, y_test, k, tie_break, weights):
    perms, right, outcome, top = brute_force(D, y_train, y_test, k, tie_break, weights)
    nb = TiedNeighbors.from_distances(D, k)
    effect = tie_order_effect(nb, y_train, y_test, tie_break=tie_break, weights=weights)
    n_perm, nq = right.shape
    assert effect.accuracy_expected_exact == sum(right.sum(axis=0)) / (n_perm * nq)
    assert effect.accuracy_expected == float(effect.accuracy_expected_exact)
    assert effect.p_correct.tolist() == [float(x / n_perm) for x in right.sum(axis=0)]
    assert effect.p_correct_min.tolist() == [float(x) for x in right.min(axis=0)]
    assert effect.p_correct_max.tolist() == [float(x) for x in right.max(axis=0)]
    assert effect.accuracy_min_bound == float(sum(right.min(axis=0)) / nq)
    assert effect.accuracy_max_bound == float(sum(right.max(axis=0)) / nq)
    dependent = [len(set(outcome[:, i])) > 1 for i in range(nq)]
    assert effect.order_dependent.tolist() == dependent
    assert effect.n_order_dependent == sum(dependent)
    assert effect.n_correctness_order_dependent == int((right.min(axis=0) < right.max(axis=0)).sum())
    assert effect.top_k_tie_accuracy_expected_exact == sum(top.sum(axis=0)) / (n_perm * nq)
    assert effect.top_k_tie_p.tolist() == [float(x / n_perm) for x in top.sum(axis=0)]
    assert effect.top_k_tie_accuracy_min_bound == float(sum(top.min(axis=0)) / nq)
    assert effect.top_k_tie_accuracy_max_bound == float(sum(top.max(axis=0)) / nq)
    assert effect.top_k_tie_order_dependent.tolist() == [len(set(top[:, i])) > 1 for i in range(nq)]
    # prediction_proba: its right-class column is p_correct (up to rounding), rows sum to 1
    np.testing.assert_allclose(effect.prediction_proba.sum(axis=1), 1.0, rtol=1e-12)
    # single orders evaluated from the structure equal the brute force and lie in the bounds
    # (every order up to 120 of them, an even spread of about 120 beyond)
    step = max(1, n_perm // 120)
    for p, row, top_row in list(zip(perms, right, top))[::step]:
        ev = evaluate_order(nb, y_train, y_test, p, tie_break=tie_break, weights=weights, random_state=0)
        assert ev.p_correct.tolist() == [float(x) for x in row]
        assert ev.top_k_tie_hits.tolist() == [bool(x) for x in top_row]
        assert effect.accuracy_min_bound <= ev.accuracy_expected + 1e-15
        assert ev.accuracy_expected <= effect.accuracy_max_bound + 1e-15
    return effect


# ---- the structure ----------------------------------------------------------------------------


def test_structure_matches_reference_and_stable_top_k():
    rng = np.random.default_rng(0)
    D = rng.choice([0.0, 0.3, 0.3, 0.7, np.inf], size=(40, 9))
    for k in range(1, 10):
        nb = TiedNeighbors.from_distances(D, k)
        ref = ref_structure(D, k)
        assert nb.n_queries == 40 and nb.row_lengths.tolist() == [len(r) for r in ref]
        for i, row in enumerate(ref):
            dist, idx = nb.row(i)
            assert list(zip(dist.tolist(), idx.tolist())) == row
        assert nb.boundary_distance.tolist() == [r[k - 1][0] for r in ref]
        assert nb.n_below.tolist() == [sum(d < r[k - 1][0] for d, _ in r) for r in ref]
        want_d, want_i = stable_top_k(np.ascontiguousarray(D), k)
        got_d, got_i = nb.top_k()
        assert got_i.tolist() == want_i.tolist() and got_d.tolist() == want_d.tolist()


def test_top_k_under_an_order_is_the_search_on_the_reordered_training_set():
    rng = np.random.default_rng(1)
    D = rng.choice([0.1, 0.2, 0.2, 0.4], size=(30, 12))
    for k in (1, 2, 3, 5):
        nb = TiedNeighbors.from_distances(D, k)
        for _ in range(5):
            order = rng.permutation(12)
            want_d, pos = stable_top_k(np.ascontiguousarray(D[:, order]), k)
            got_d, got_i = nb.top_k(order)
            assert got_i.tolist() == order[pos].tolist() and got_d.tolist() == want_d.tolist()


def test_structure_is_read_only_and_leaves_the_callers_arrays_alone():
    D = np.array([[0.5, 0.2, 0.5, 0.9], [0.1, 0.1, 0.1, 0.1]])
    nb = TiedNeighbors.from_distances(D, 2)
    indptr = nb.indptr.copy()
    again = TiedNeighbors(indptr, nb.indices, nb.distances, 2, 4)
    assert indptr.flags.writeable and not again.indptr.flags.writeable
    with pytest.raises(ValueError):
        again.distances[0] = 0.0
    with pytest.raises(AttributeError):
        again.n_neighbors = 3
    assert again.row_lengths.tolist() == [3, 4]
    back = pickle.loads(pickle.dumps(again))
    assert not back.indices.flags.writeable and back.indices.tolist() == again.indices.tolist()


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 2], [0, 1], [0.1, 0.2], 3, 4), "fewer than n_neighbors=3"),
        (([0, 2], [1, 0], [0.1, 0.2], 1, 4), "beyond its k-th distance"),
        (([0, 2], [1, 0], [0.2, 0.2], 1, 4), "not ordered by"),
        (([0, 2], [0, 0], [0.2, 0.2], 2, 4), "not ordered by"),
        (([0, 2], [0, 1], [0.1, 0.3], 2, 4), None),
        (([1, 2], [0, 1], [0.1, 0.3], 1, 4), "start with 0"),
        (([0, 3], [0, 1], [0.1, 0.3], 1, 4), "indptr ends at 3"),
        (([0, 2], [0, 7], [0.1, 0.3], 2, 4), "range(4)"),
        (([0, 2], [0, 1], [0.1, np.nan], 2, 4), "nan"),
        (([0, 2], [0, 1], [0.1, 0.3], 0, 4), "positive int"),
        (([0, 2], [0, 1], [0.1, 0.3], 2, 1), "at least n_neighbors"),
        (([0, 2], [0.0, 1.0], [0.1, 0.3], 2, 4), "int64"),
    ],
)
def test_structure_checks_its_arrays(args, message):
    if message is None:
        assert TiedNeighbors(*args).n_queries == 1
        return
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TiedNeighbors(*args)


def test_builder_and_order_errors():
    with pytest.raises(InputError, match="larger than the number of training items"):
        TiedNeighbors.from_distances(np.zeros((2, 3)), 4)
    with pytest.raises(InputError, match="nan"):
        TiedNeighbors.from_distances(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(InputError, match="2-d"):
        TiedNeighbors.from_distances(np.zeros(3), 1)
    nb = TiedNeighbors.from_distances(np.zeros((2, 3)), 1)
    for order, message in [([0, 1], "permutation"), ([0, 1, 1], "missing"), ([0, 1, 5], "outside"),
                           ([0.0, 1.0, 2.0], "permutation")]:
        with pytest.raises(InputError, match=message):
            nb.top_k(order)
    assert TiedNeighbors.from_distances(np.zeros((0, 3)), 2).n_queries == 0


# ---- exact statistics against brute force over every order ------------------------------------


@pytest.mark.parametrize("weights", list(WEIGHTS))
@pytest.mark.parametrize("tie_break", TIE_BREAKS)
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_exact_statistics_equal_brute_force_over_all_orders(k, tie_break, weights):
    rng = np.random.default_rng(100 * k + 10 * TIE_BREAKS.index(tie_break) + list(WEIGHTS).index(weights))
    for n_train in (max(k, 3), 5, 6):
        D, y_train, y_test = tiny_instance(rng, n_train)
        assert_matches_brute_force(D, y_train, y_test, k, tie_break, WEIGHTS[weights])


@pytest.mark.parametrize("tie_break", TIE_BREAKS)
def test_exact_statistics_seven_items_three_classes(tie_break):
    rng = np.random.default_rng(7)
    D = rng.choice([0.2, 0.4, 0.4], size=(6, 7))
    y_train = ["a", "b", "c", "a", "b", "c", "a"]
    y_test = ["a", "b", "c", "a", "b", "z"]
    for k in (2, 3):
        effect = assert_matches_brute_force(D, y_train, y_test, k, tie_break, "uniform")
        assert effect.n_order_dependent > 0


def test_bounds_are_per_item_and_not_attained_by_one_order():
    """Two tied training items of two classes, two queries wanting opposite winners: each query
    is right under some order, but every order gets exactly one of them right."""
    D = np.array([[0.5, 0.5], [0.5, 0.5]])
    y_train, y_test = ["1", "0"], ["1", "0"]
    effect = tie_order_effect(TiedNeighbors.from_distances(D, 1), y_train, y_test)
    assert (effect.accuracy_min_bound, effect.accuracy_expected, effect.accuracy_max_bound) == (0.0, 0.5, 1.0)
    assert effect.p_correct_min.tolist() == [0.0, 0.0] and effect.p_correct_max.tolist() == [1.0, 1.0]
    nb = TiedNeighbors.from_distances(D, 1)
    assert {evaluate_order(nb, y_train, y_test, p).accuracy for p in ([0, 1], [1, 0])} == {0.5}
    assert effect.order_dependent_indices.tolist() == [0, 1]


def test_random_tie_break_expectation_is_uniform_over_the_tied_classes():
    # one query, k=2, its two nearest are one "a" and one "b" under every order: a vote tie
    D = np.array([[0.1, 0.1, 0.9]])
    effect = tie_order_effect(TiedNeighbors.from_distances(D, 2), ["a", "b", "c"], ["a"], tie_break="random")
    assert effect.accuracy_expected_exact == Fraction(1, 2)
    assert effect.p_correct_min.tolist() == [0.5] == effect.p_correct_max.tolist()
    assert not effect.order_dependent[0]  # the tied set is the same under every order
    assert effect.prediction_proba.tolist() == [[0.5, 0.5, 0.0]]
    # the classifier's draws (global generator or seeded) average to it
    nb = TiedNeighbors.from_distances(np.repeat(D, 4000, axis=0), 2)
    ev = evaluate_order(nb, ["a", "b", "c"], ["a"] * 4000, tie_break="random", random_state=3)
    assert ev.accuracy_expected == 0.5 and abs(ev.accuracy - 0.5) < 0.03


def test_labels_may_be_class_codes_and_unknown_test_labels_are_never_right():
    D = np.array([[0.1, 0.2, 0.2], [0.3, 0.3, 0.3]])
    nb = TiedNeighbors.from_distances(D, 1)
    by_label = tie_order_effect(nb, ["x", "y", "x"], ["x", "q"])
    by_code = tie_order_effect(nb, [0, 1, 0], [0, 5])
    assert by_label.summary()["accuracy_expected"] == by_code.summary()["accuracy_expected"] == 0.5
    assert by_label.p_correct.tolist() == [1.0, 0.0]
    assert by_label.prediction_proba[1].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_input_errors():
    nb = TiedNeighbors.from_distances(np.array([[0.1, 0.1]]), 1)
    with pytest.raises(InputError, match="TiedNeighbors"):
        tie_order_effect(np.zeros((1, 2)), ["a", "b"], ["a"])
    with pytest.raises(InputError, match="1 queries but y_test has 2"):
        tie_order_effect(nb, ["a", "b"], ["a", "b"])
    with pytest.raises(InputError, match="2 training items but y has 3"):
        tie_order_effect(nb, ["a", "b", "c"], ["a"])
    with pytest.raises(InputError, match="one type"):
        tie_order_effect(nb, ["a", "b"], [1])
    with pytest.raises(ConfigError, match="tie_break"):
        tie_order_effect(nb, ["a", "b"], ["a"], tie_break="coin")
    with pytest.raises(ConfigError, match="weights"):
        evaluate_order(nb, ["a", "b"], ["a"], weights="gaussian")
    with pytest.raises(ConfigError, match="max_sequences"):
        tie_order_effect(nb, ["a", "b"], ["a"], max_sequences=0)


def test_too_large_an_enumeration_is_refused_before_any_vote(monkeypatch):
    D = np.zeros((3, 40))
    y_train = list("abcdefghij") * 4
    nb = TiedNeighbors.from_distances(D, 4)

    def no_vote(*args, **kwargs):
        raise AssertionError("vote called before the size check")

    monkeypatch.setattr("nnzip.metrics.vote", no_vote)
    with pytest.raises(ConfigError, match=r"needs 30,000 label sequences.*query 0 alone needs 10,000 \(40 tied items "
                                          r"of 10 classes at its k-th distance for 4 of its k=4 places\)"):
        tie_order_effect(nb, y_train, ["a"] * 3, max_sequences=20_000)
    monkeypatch.undo()
    # "lowest" sees only label compositions: C(13, 4) = 715 per query
    assert tie_order_effect(nb, y_train, ["a"] * 3, tie_break="lowest", max_sequences=20_000).n_sequences == 3 * 715


def test_top_k_tie_hits_is_the_per_item_top_k_tie_accuracy():
    labels = [["a", "b"], ["a", "a"], ["b", "b"], ["b", "a"]]
    y = ["b", "a", "a", 3]
    assert top_k_tie_hits(y, labels).tolist() == [True, True, False, False]
    assert top_k_tie_accuracy(y, labels) == 0.5


# ---- properties -------------------------------------------------------------------------------


@st.composite
def instances(draw):
    n_train = draw(st.integers(2, 9))
    n_queries = draw(st.integers(1, 6))
    k = draw(st.integers(1, min(4, n_train)))
    values = st.sampled_from([0.0, 0.2, 0.4, 0.4, 0.6, np.inf])
    D = np.array(draw(st.lists(st.lists(values, min_size=n_train, max_size=n_train), min_size=n_queries,
                               max_size=n_queries)))
    y_train = draw(st.lists(st.sampled_from("abc"), min_size=n_train, max_size=n_train))
    y_test = draw(st.lists(st.sampled_from("abcd"), min_size=n_queries, max_size=n_queries))
    tie_break = draw(st.sampled_from(TIE_BREAKS))
    weights = draw(st.sampled_from(["uniform", "distance", "rank"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return D, y_train, y_test, k, tie_break, weights, seed


@settings(max_examples=150, deadline=None)
@given(instances())
def test_properties(instance):
    D, y_train, y_test, k, tie_break, weights, seed = instance
    w = WEIGHTS[weights]
    rng = np.random.default_rng(seed)
    nb = TiedNeighbors.from_distances(D, k)
    e = tie_order_effect(nb, y_train, y_test, tie_break=tie_break, weights=w)
    # bounds hold for the expectation, per item and for every order
    assert e.accuracy_min_bound <= e.accuracy_expected <= e.accuracy_max_bound
    assert e.top_k_tie_accuracy_min_bound <= e.top_k_tie_accuracy_expected <= e.top_k_tie_accuracy_max_bound
    assert (e.p_correct_min <= e.p_correct).all() and (e.p_correct <= e.p_correct_max).all()
    assert (e.p_correct_min[~e.order_dependent] == e.p_correct_max[~e.order_dependent]).all()
    assert e.n_correctness_order_dependent <= e.n_order_dependent
    np.testing.assert_allclose(e.prediction_proba.sum(axis=1), 1.0, rtol=1e-12)
    known = np.isin(y_test, e.classes)
    col = np.searchsorted(e.classes, np.array(y_test))
    np.testing.assert_allclose(e.p_correct[known], e.prediction_proba[known, col[known]], rtol=1e-12)
    ev = evaluate_order(nb, y_train, y_test, rng.permutation(len(y_train)), tie_break=tie_break, weights=w)
    assert (e.p_correct_min <= ev.p_correct).all() and (ev.p_correct <= e.p_correct_max).all()
    assert e.accuracy_min_bound <= ev.accuracy_expected <= e.accuracy_max_bound
    if weights == "uniform":  # the vote picks among the most frequent classes, which the top-k metric counts
        assert (e.top_k_tie_p >= e.p_correct - 1e-12).all()
    # nothing depends on the order of the training file itself ...
    perm = rng.permutation(len(y_train))
    e2 = tie_order_effect(TiedNeighbors.from_distances(D[:, perm], k), [y_train[i] for i in perm], y_test,
                          tie_break=tie_break, weights=w)
    for name in ("accuracy_expected_exact", "accuracy_min_bound", "accuracy_max_bound", "n_order_dependent",
                 "top_k_tie_accuracy_expected_exact", "top_k_tie_accuracy_min_bound", "n_top_k_tie_order_dependent"):
        assert getattr(e2, name) == getattr(e, name), name
    assert e2.p_correct.tolist() == e.p_correct.tolist()
    # ... and per-item figures follow the test items when they are permuted
    rows = rng.permutation(len(y_test))
    e3 = tie_order_effect(TiedNeighbors.from_distances(D[rows], k), y_train, [y_test[i] for i in rows],
                          tie_break=tie_break, weights=w)
    assert e3.accuracy_expected_exact == e.accuracy_expected_exact
    assert e3.p_correct.tolist() == e.p_correct[rows].tolist()
    assert e3.order_dependent.tolist() == e.order_dependent[rows].tolist()
    # a row whose tied groups are each of one label does not depend on the order
    for i in range(len(y_test)):
        dist, idx = nb.row(i)
        labels = np.array(y_train)[idx]
        if all(len(set(labels[dist == d])) == 1 for d in set(dist.tolist())):
            assert not e.order_dependent[i] and e.p_correct_min[i] == e.p_correct_max[i]


# ---- the given-order evaluator is the real classifier -----------------------------------------


@pytest.mark.parametrize("weights", list(WEIGHTS))
@pytest.mark.parametrize("tie_break", TIE_BREAKS)
def test_evaluate_order_equals_the_classifier_on_the_reordered_training_set(tie_break, weights):
    rng = np.random.default_rng(11)
    D = rng.choice([0.0, 0.3, 0.3, 0.6, 0.9], size=(60, 15))
    y_train = rng.choice(["x", "y", "z"], 15)
    y_test = rng.choice(["x", "y", "z"], 60).tolist()
    for k in (1, 2, 3, 4):
        nb = TiedNeighbors.from_distances(D, k)
        for order in (np.arange(15), np.arange(15)[::-1], rng.permutation(15)):
            clf = NCDKNeighborsClassifier(n_neighbors=k, metric="precomputed", tie_break=tie_break,
                                          distance_ties="index", weights=WEIGHTS[weights], random_state=5)
            clf.fit(np.zeros((15, 15)), y_train[order])
            ev = evaluate_order(nb, y_train, y_test, order, tie_break=tie_break, weights=WEIGHTS[weights],
                                random_state=5)
            assert ev.predicted.tolist() == clf.predict(D[:, order]).tolist()
            dist, pos = clf.kneighbors(D[:, order])
            assert ev.indices.tolist() == order[pos].tolist() and ev.distances.tolist() == dist.tolist()
            assert ev.accuracy == np.mean(ev.predicted == np.array(y_test))


def test_evaluate_order_equals_a_gzip_classifier_on_short_texts_with_many_ties():
    rng = np.random.default_rng(2)
    words = ["a", "b", "ab", "ba", "cat", "tac", "dog"]
    texts = [" ".join(rng.choice(words, rng.integers(1, 3))) for _ in range(50)]
    X_train, X_test = texts[:36], texts[36:]
    y_train = rng.choice(["p", "q", "r"], 36)
    y_test = rng.choice(["p", "q", "r"], 14).tolist()
    D = pairwise_distances(X_test, X_train)
    for k in (1, 2, 3):
        nb = TiedNeighbors.from_distances(D, k)
        assert (nb.row_lengths > k).sum() >= 4  # the point: ties at the k-th distance are common
        effect = tie_order_effect(nb, y_train, y_test)
        assert effect.n_order_dependent > 0
        for order in (np.arange(36), np.arange(36)[::-1], rng.permutation(36)):
            clf = NCDKNeighborsClassifier(n_neighbors=k, distance_ties="index")
            clf.fit([X_train[i] for i in order], y_train[order])
            ev = evaluate_order(nb, y_train, y_test, order)
            assert ev.predicted.tolist() == clf.predict(X_test).tolist()
            assert effect.accuracy_min_bound <= ev.accuracy <= effect.accuracy_max_bound


# ---- real data --------------------------------------------------------------------------------


@pytest.mark.integration
def test_mr_orders_from_the_structure_equal_the_classifier(data_dir):
    """MR, 300 seeded test items x the full (class-sorted) training set, k=1.

    As shipped and reversed, the accuracy computed from the structure equals the gzip
    classifier fitted on the file in that order; both lie within the exact bounds; and the
    exact expected accuracy agrees with the mean over 2,000 seeded shuffles within four
    standard errors of that mean.
    """
    ds = load_local("mr")
    keep = np.sort(np.random.default_rng(0).choice(len(ds.X_test), 300, replace=False))
    X_test = [ds.X_test[i] for i in keep]
    y_test = [ds.y_test[i] for i in keep]
    y_train = np.array(ds.y_train)
    nb = TiedNeighbors.from_distances(pairwise_distances(X_test, ds.X_train, n_jobs=2), 1)
    effect = tie_order_effect(nb, y_train, y_test)
    assert effect.n_order_dependent > 30  # MR's nearest distances are tied across classes often
    n = len(y_train)
    for order in (np.arange(n), np.arange(n)[::-1]):
        clf = NCDKNeighborsClassifier(n_neighbors=1, n_jobs=2, distance_ties="index")
        clf.fit([ds.X_train[i] for i in order], y_train[order])
        ev = evaluate_order(nb, y_train, y_test, order)
        assert ev.predicted.tolist() == clf.predict(X_test).tolist()
        assert effect.accuracy_min_bound <= ev.accuracy <= effect.accuracy_max_bound
    rng = np.random.default_rng(0)
    shuffled = np.array([evaluate_order(nb, y_train, y_test, rng.permutation(n)).accuracy for _ in range(2000)])
    sem = shuffled.std(ddof=1) / np.sqrt(shuffled.size)
    assert abs(shuffled.mean() - effect.accuracy_expected) <= 4 * sem
