"""Distances from compressed lengths and the stable top-k (nnzip._distances) against slow formulas."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnzip import _distances as K


def test_distances_per_cell_equal_per_column():
    gen = np.random.default_rng(5)
    cx, cy = gen.integers(20, 400, 4), gen.integers(20, 400, 6)
    cxy = gen.integers(30, 700, (4, 6))
    for metric in (K.NCD, K.CDM, K.CLM):
        np.testing.assert_array_equal(
            K.distances_from_lengths_rows(cxy, cx, np.tile(cy, (4, 1)), metric),
            K.distances_from_lengths(cxy, cx, cy, metric),
        )


def slow_distance(c_xy, c_x, c_y, metric):
    if metric == K.NCD:
        return (c_xy - min(c_x, c_y)) / max(c_x, c_y)
    if metric == K.CDM:
        return c_xy / (c_x + c_y)
    return 1 - (c_x + c_y - c_xy) / c_xy


@pytest.mark.parametrize("metric", [K.NCD, K.CDM, K.CLM])
def test_distances_from_lengths_match_formulas(metric):
    gen = np.random.default_rng(3)
    cx = gen.integers(20, 400, 7)
    cy = gen.integers(20, 400, 9)
    cxy = gen.integers(30, 700, (7, 9))
    got = K.distances_from_lengths(cxy, cx, cy, metric)
    expected = [[slow_distance(cxy[i, j], cx[i], cy[j], metric) for j in range(9)] for i in range(7)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)


def test_zero_denominator_gives_nan():
    got = K.distances_from_lengths(np.zeros((1, 1), np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), K.NCD)
    assert np.isnan(got[0, 0])


def oracle_tied(dist, k, weight, cols):
    """Slow reference: expand every id into its copies, take the k-th distance, keep what is at most it."""
    out = []
    for r, row in enumerate(dist.tolist()):
        ids = list(range(len(row))) if cols is None else cols[r].tolist()
        copies = sorted(d for d, j in zip(row, ids) for _ in range(weight[j]))
        kth = copies[k - 1]
        out.append(sorted((d, j) for d, j in zip(row, ids) if d <= kth))
    return out


def check_tied(dist, k, weight=None, cols=None):
    n_ids = dist.shape[1] if cols is None else int(cols.max()) + 1
    w = np.ones(n_ids, dtype=np.int64) if weight is None else weight
    indptr, ids, d = K.tied_top_k(dist, k, w, np.zeros((0, 0), np.int64) if cols is None else cols)
    want = oracle_tied(dist, k, w, cols)
    assert indptr.tolist() == np.cumsum([0] + [len(r) for r in want]).tolist()
    got = [list(zip(d[a:b].tolist(), ids[a:b].tolist())) for a, b in zip(indptr[:-1], indptr[1:])]
    assert got == want


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("inf")]), min_size=6, max_size=6),
             min_size=0, max_size=5),
    st.integers(1, 6),
)
def test_tied_top_k_matches_the_oracle_and_tied_neighbors(rows, k):
    dist = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
    check_tied(dist, k)
    if len(rows):
        from nnzip.tied_neighbors import TiedNeighbors

        indptr, ids, d = K.tied_top_k(dist, k, np.ones(6, np.int64), np.zeros((0, 0), np.int64))
        want = TiedNeighbors.from_distances(dist, k)
        assert indptr.tolist() == want.indptr.tolist()
        assert ids.tolist() == want.indices.tolist() and d.tolist() == want.distances.tolist()
        # its first k per row are the stable argsort's
        first = ids[indptr[:-1, None] + np.arange(k)]
        assert first.tolist() == np.argsort(dist, axis=1, kind="stable")[:, :k].tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9]), min_size=5, max_size=5), min_size=1, max_size=4),
    st.lists(st.integers(1, 4), min_size=8, max_size=8),
    st.integers(1, 9),
    st.data(),
)
def test_tied_top_k_counts_multiplicities_and_takes_candidate_ids(rows, weight, k, data):
    """Ids standing for several items (copies of one text), and cells naming their id (candidate lists)."""
    dist = np.array(rows)
    w = np.array(weight, dtype=np.int64)
    cols = np.array([sorted(data.draw(st.lists(st.integers(0, 7), min_size=5, max_size=5, unique=True)))
                     for _ in rows], dtype=np.int64)
    k = min(k, int(w[cols].sum(axis=1).min()))
    check_tied(dist, k, w, cols)
    check_tied(dist, min(k, int(w[:5].sum())), w[:5].copy())


def test_tied_top_k_keeps_every_duplicate_of_the_kth():
    dist = np.array([[0.5, 0.2, 0.5, 0.5, 0.9, 0.2]])
    indptr, ids, d = K.tied_top_k(dist, 3, np.ones(6, np.int64), np.zeros((0, 0), np.int64))
    assert ids.tolist() == [1, 5, 0, 2, 3] and d.tolist() == [0.2, 0.2, 0.5, 0.5, 0.5]
    # one id standing for three items fills k=3 by itself
    indptr, ids, d = K.tied_top_k(dist, 3, np.array([1, 3, 1, 1, 1, 1]), np.zeros((0, 0), np.int64))
    assert ids.tolist() == [1, 5]
