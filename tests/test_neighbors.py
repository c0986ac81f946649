"""Neighbour selection and the vote (nnzip.neighbors), against slow independent references."""

from collections import Counter

import numpy as np
import pytest

from nnzip import vote
from nnzip.neighbors import block_top_k, top_k


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


def test_top_k_and_block_top_k_equal_a_stable_argsort():
    rng = np.random.default_rng(4)
    dist = rng.integers(0, 4, (37, 11)) / 4.0  # many exact ties
    want = np.argsort(dist, axis=1, kind="stable")[:, :5]
    d, i = top_k(dist, 5)
    assert np.array_equal(i, want) and np.array_equal(d, np.take_along_axis(dist, want, axis=1))
    for n_jobs in (None, 2):
        d2, i2 = block_top_k(lambda rows: dist[rows], len(dist), dist.shape[1], 5, n_jobs)
        assert np.array_equal(i2, want) and np.array_equal(d2, d)
