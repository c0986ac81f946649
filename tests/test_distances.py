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


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("nan")]), min_size=6, max_size=6),
             min_size=1, max_size=5),
    st.integers(1, 6),
)
def test_stable_top_k_equals_stable_argsort(rows, k):
    dist = np.array(rows)
    got_d, got_i = K.stable_top_k(dist, k)
    expected_i = np.argsort(dist, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(got_i, expected_i)
    np.testing.assert_array_equal(got_d, np.take_along_axis(dist, expected_i, axis=1))
