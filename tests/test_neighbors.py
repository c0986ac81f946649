"""Neighbour selection and the vote (nnzip.neighbors), against slow independent references."""

from collections import Counter

import numpy as np
import pytest

import nnzip
from nnzip import vote
from nnzip.neighbors import block_top_k, class_scores, neighbor_weights, tied_vote, top_k
from nnzip.tied_neighbors import TiedNeighbors


def ref_vote(label_row, tie_break):
    """Slow reference of the deterministic tie-break rules on one query (labels nearest first)."""
    counts = Counter(label_row)
    top = max(counts.values())
    tied = sorted(c for c, n in counts.items() if n == top)
    if len(tied) == 1:
        return tied[0]
    if tie_break == "lowest":
        return tied[0]
    if tie_break == "nearest":
        return next(label for label in label_row if label in tied)
    if tie_break == "decrement":
        return ref_vote(label_row[:-1], "decrement")
    raise AssertionError(tie_break)


def ref_tied_vote(row, k, distance_ties, tie_break, weights="uniform"):
    """Slow reference of the order-free vote on one query: ``row`` holds (distance, label) of every
    training item up to its k-th distance, in any order. Exact fractions for uniform weights."""
    from fractions import Fraction

    dists = sorted(d for d, _ in row)
    kth = dists[k - 1]
    r = k - sum(d < kth for d in dists)
    t = sum(d == kth for d in dists)

    def weight(d):
        w = Fraction(1) if weights == "uniform" else 1.0 / d
        return w * Fraction(r, t) if distance_ties == "split" and d == kth else w

    def totals(entries):
        out = {}
        for d, label in entries:
            out[label] = out.get(label, 0) + weight(d)
        return out

    def leaders(scores):
        top = max(scores.values())
        close = weights != "uniform"  # float weights: ties within rounding
        return sorted(c for c, v in scores.items() if v == top or (close and abs(v - top) <= 1e-12 * top))

    tied = leaders(totals(row))
    if len(tied) == 1 or tie_break == "lowest":
        return tied[0]
    if tie_break == "nearest":
        # the class whose sorted member distances come first (a shorter list runs out: infinity)
        key = {c: sorted(d for d, label in row if label == c) for c in tied}
        longest = max(len(v) for v in key.values())
        return min(tied, key=lambda c: ([*key[c], *[float("inf")] * (longest - len(key[c]))], c))
    assert tie_break == "decrement"
    groups = sorted({d for d, _ in row})
    while len(groups) > 1:
        groups.pop()
        kept = [(d, label) for d, label in row if d <= groups[-1]]
        scores = totals(kept)
        if len(leaders(scores)) == 1:
            return leaders(scores)[0]
        tied = leaders(scores)
    nearest = {label for d, label in row if d == groups[0]}
    return min(c for c in tied if c in nearest)


@pytest.mark.parametrize("tie_break", ["lowest", "nearest", "decrement"])
def test_vote_matches_reference(tie_break):
    rng = np.random.default_rng(3)
    dist = np.sort(rng.random((500, 5)), axis=1)
    codes = rng.integers(0, 4, (500, 5))
    got, scores = vote(dist, codes, 4, tie_break=tie_break)
    want = [ref_vote(list(c), tie_break) for c in codes]
    assert got.tolist() == want
    assert scores.sum(axis=1).tolist() == [5.0] * 500


def test_vote_k2_nearest_equals_1nn_and_lowest_is_biased():
    dist = np.array([[0.1, 0.2], [0.1, 0.2]])
    codes = np.array([[1, 0], [0, 1]])
    assert vote(dist, codes, 2, tie_break="nearest")[0].tolist() == [1, 0]
    assert vote(dist, codes, 2, tie_break="lowest")[0].tolist() == [0, 0]
    assert vote(dist, codes, 2, tie_break="decrement")[0].tolist() == [1, 0]


def test_vote_random_is_reproducible_and_only_picks_tied_classes():
    dist = np.tile([0.1, 0.2, 0.3, 0.4], (2000, 1))
    codes = np.tile([2, 0, 2, 0], (2000, 1))
    a = vote(dist, codes, 3, tie_break="random", random_state=7)[0]
    b = vote(dist, codes, 3, tie_break="random", random_state=7)[0]
    assert a.tolist() == b.tolist()
    assert set(a.tolist()) == {0, 2}
    assert 0.45 < (a == 0).mean() < 0.55


def test_distance_weights_follow_sklearn():
    dist = np.array([[0.1, 0.5, 0.6], [0.0, 0.2, 0.0]])
    codes = np.array([[0, 1, 1], [1, 0, 2]])
    pred, scores = vote(dist, codes, 3, weights="distance")
    assert pred.tolist() == [0, 1]  # 10 > 2 + 1.67; the two exact matches tie, the nearest wins
    assert scores[0].tolist() == pytest.approx([10.0, 2 + 1 / 0.6, 0.0])
    assert scores[1].tolist() == [0.0, 1.0, 1.0]


def test_unknown_tie_break_lists_valid_ones():
    with pytest.raises(ValueError, match="choose one of nearest, decrement, random, lowest"):
        vote(np.zeros((1, 1)), np.zeros((1, 1), int), 1, tie_break="first")


def test_top_k_and_block_top_k_equal_the_tied_structure_and_a_stable_argsort():
    rng = np.random.default_rng(4)
    dist = rng.integers(0, 4, (37, 11)) / 4.0  # many exact ties
    want = TiedNeighbors.from_distances(dist, 5)
    first = np.argsort(dist, axis=1, kind="stable")[:, :5]
    blocked = [block_top_k(lambda rows: dist[rows], len(dist), 11, 5, n_jobs) for n_jobs in (None, 2)]
    for got in (top_k(dist, 5), *blocked):
        assert got.indptr.tolist() == want.indptr.tolist() and got.indices.tolist() == want.indices.tolist()
        assert got.distances.tolist() == want.distances.tolist() and got.n_neighbors == 5
        assert np.array_equal(got.top_k()[1], first)
    with pytest.raises(nnzip.InputError, match="nan"):
        top_k(np.array([[0.1, np.nan]]), 1)


# ---- the order-free vote (tied_vote) -------------------------------------------------------------


def tiny_rows(rng, n, n_train, values=(0.1, 0.25, 0.5, 0.5, 0.75)):
    return rng.choice(np.array(values), size=(n, n_train))


@pytest.mark.parametrize("distance_ties", ["split", "all"])
@pytest.mark.parametrize("tie_break", ["lowest", "nearest", "decrement"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_tied_vote_matches_reference(distance_ties, tie_break, weights):
    rng = np.random.default_rng(11)
    for k in (1, 2, 3, 5):
        D = tiny_rows(rng, 300, 9)
        y = rng.integers(0, 3, 9)
        nb = TiedNeighbors.from_distances(D, k)
        got, scores = tied_vote(nb, y, 3, distance_ties=distance_ties, tie_break=tie_break, weights=weights)
        for i in range(len(D)):
            d, idx = nb.row(i)
            row = list(zip(d.tolist(), y[idx].tolist()))
            assert got[i] == ref_tied_vote(row, k, distance_ties, tie_break, weights), (k, i, row)
        if weights == "uniform":
            total = k if distance_ties == "split" else nb.row_lengths
            np.testing.assert_allclose(scores.sum(axis=1), total, rtol=1e-12)


def test_tied_vote_examples():
    # k=2: one "a" nearer, then "b" and "c" tied at the 2nd distance for the one place left
    nb = TiedNeighbors.from_distances(np.array([[0.1, 0.3, 0.3, 0.9]]), 2)
    y = np.array([0, 1, 2, 0])
    split = tied_vote(nb, y, 3, distance_ties="split")
    assert split[1].tolist() == [[1.0, 0.5, 0.5]] and split[0].tolist() == [0]
    every = tied_vote(nb, y, 3, distance_ties="all", tie_break="lowest")
    assert every[1].tolist() == [[1.0, 1.0, 1.0]] and every[0].tolist() == [0]
    # "nearest": a and b tie on votes and on their nearest member; b's second one is nearer
    nb = TiedNeighbors.from_distances(np.array([[0.1, 0.1, 0.4, 0.3, 0.5, 0.5]]), 5)
    y = np.array([0, 1, 0, 1, 2, 2])
    assert tied_vote(nb, y, 3, distance_ties="all")[1].tolist() == [[2.0, 2.0, 2.0]]
    assert tied_vote(nb, y, 3, distance_ties="all")[0].tolist() == [1]
    # "decrement" drops the farthest group (c's two texts), a and b still tie, then a's 0.4: b wins
    assert tied_vote(nb, y, 3, distance_ties="all", tie_break="decrement")[0].tolist() == [1]
    with pytest.raises(nnzip.ConfigError, match="index"):
        tied_vote(nb, y, 3, distance_ties="index")


@pytest.mark.parametrize("weights", ["uniform", "distance", "inverse", "rank"])
def test_split_is_the_average_over_training_orders_of_the_index_ordered_vote(weights):
    """Brute force over every permutation of small training sets: the class totals of distance_ties="split"
    equal the mean of the index-ordered vote's, for uniform, distance and row-wise callable weights."""
    import itertools

    callables = {"inverse": lambda d: 1.0 / (1.0 + d),
                 "rank": lambda d: np.broadcast_to(1.0 / np.arange(1, d.shape[1] + 1), d.shape).copy()}
    w = callables.get(weights, weights)
    rng = np.random.default_rng(5)
    for n_train, k in [(5, 1), (5, 2), (6, 3), (6, 4)]:
        D = tiny_rows(rng, 6, n_train, (0.0, 0.25, 0.5, 0.5)) if weights == "distance" else tiny_rows(rng, 6, n_train)
        y = rng.integers(0, 3, n_train)
        nb = TiedNeighbors.from_distances(D, k)
        perms = list(itertools.permutations(range(n_train)))
        mean = np.zeros((len(D), 3))
        for p in perms:
            dist, idx = nb.top_k(order=p)
            mean += class_scores(y[idx], neighbor_weights(dist, w), 3)
        mean /= len(perms)
        split = tied_vote(nb, y, 3, distance_ties="split", weights=w)[1]
        np.testing.assert_allclose(split, mean, rtol=1e-12, atol=1e-12)


def test_with_k_is_the_search_for_a_smaller_k():
    rng = np.random.default_rng(6)
    D = tiny_rows(rng, 50, 12)
    big = TiedNeighbors.from_distances(D, 7)
    for k in range(1, 8):
        small, want = big.with_k(k), TiedNeighbors.from_distances(D, k)
        assert small.n_neighbors == k and small.indptr.tolist() == want.indptr.tolist()
        assert small.indices.tolist() == want.indices.tolist() and small.distances.tolist() == want.distances.tolist()
    with pytest.raises(nnzip.InputError, match="larger"):
        big.with_k(8)


def test_exclude_self_reorder_take_and_concatenate():
    rng = np.random.default_rng(7)
    D = tiny_rows(rng, 10, 10)
    nb = TiedNeighbors.from_distances(D, 3)
    without = nb.exclude_self()
    masked = D.copy()
    masked[np.arange(10), np.arange(10)] = np.inf
    want = TiedNeighbors.from_distances(masked, 2)
    assert without.indices.tolist() == want.indices.tolist() and without.n_neighbors == 2
    rows, items = rng.permutation(10), rng.permutation(10)
    moved = nb.reorder(rows, items)
    inverse = np.argsort(items)
    again = TiedNeighbors.from_distances(D[rows][:, inverse], 3)
    assert moved.indices.tolist() == again.indices.tolist() and moved.distances.tolist() == again.distances.tolist()
    joined = TiedNeighbors.concatenate([nb.take([0, 1]), nb.take(np.arange(10) >= 2)])
    assert joined.indices.tolist() == nb.indices.tolist()


def test_random_rule_is_keyed_by_seed_and_content_not_position():
    nb = TiedNeighbors.from_distances(np.tile([0.2, 0.2, 0.2, 0.9], (400, 1)), 1)
    y = np.array([0, 1, 2, 0])
    keys = [f"text {i}".encode() for i in range(400)]

    def draw(rows, seed=3, order=None):
        names = keys if order is None else [keys[j] for j in order]
        return tied_vote(nb, y, 3, tie_break="random", random_state=seed, keys=lambda r: [names[i] for i in r])[0]

    a = draw(None)
    assert set(a.tolist()) == {0, 1, 2} and 0.25 < np.mean(a == 1) < 0.42
    assert draw(None).tolist() == a.tolist()  # the same seed, the same draws
    assert draw(None, seed=4).tolist() != a.tolist()
    order = np.random.default_rng(0).permutation(400)
    assert draw(None, order=order).tolist() == a[order].tolist()  # each text keeps its draw wherever it stands
    # without texts, the neighbourhood is the key: identical neighbourhoods draw alike
    same = tied_vote(nb, y, 3, tie_break="random", random_state=3)[0]
    assert len(set(same.tolist())) == 1
