"""nnzip.metrics: the paper's scoring, kept under its own name, and the uncertainty of measured figures."""

import math
import statistics

import numpy as np
import pytest
from scipy.stats import beta, binom, t

from nnzip import top_k_tie_accuracy
from nnzip.errors import ConfigError, InputError
from nnzip.metrics import accuracy_interval, mcnemar_exact, mean_interval


def test_top_k_tie_accuracy_counts_either_tied_label():
    labels = [["a", "b"], ["a", "a"], ["b", "a"], ["c", "c"]]
    assert top_k_tie_accuracy(["b", "a", "a", "b"], labels) == 0.75
    with pytest.raises(ValueError, match="shape"):
        top_k_tie_accuracy(["a"], labels)


# --- uncertainty of measured figures ---------------------------------------------------------


def clopper_pearson(k, n, confidence=0.95):
    """The textbook formula: beta quantiles (Clopper and Pearson 1934)."""
    a = 1 - confidence
    low = 0.0 if k == 0 else beta.ppf(a / 2, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(1 - a / 2, k + 1, n - k)
    return low, high


def test_accuracy_interval_by_hand_at_the_edges():
    # k = 0 and k = n have closed forms: 1 - (a/2)^(1/n) and (a/2)^(1/n)
    assert accuracy_interval(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)), abs=1e-12)
    assert accuracy_interval(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0), abs=1e-12)
    assert accuracy_interval(1, 1) == pytest.approx((0.025, 1.0), abs=1e-12)
    assert accuracy_interval(0, 1) == pytest.approx((0.0, 0.975), abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 445, 2500])
def test_accuracy_interval_matches_the_beta_quantile_formula(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        for confidence in (0.9, 0.95, 0.99):
            assert accuracy_interval(k, n, confidence=confidence) == pytest.approx(
                clopper_pearson(k, n, confidence), abs=1e-9)


def test_accuracy_interval_covers_at_least_its_level():
    # exact coverage for n = 25 over a grid of true accuracies: never below 95%
    n = 25
    bounds = [accuracy_interval(k, n) for k in range(n + 1)]
    for p in np.linspace(0.01, 0.99, 99):
        coverage = sum(binom.pmf(k, n, p) for k, (lo, hi) in enumerate(bounds) if lo <= p <= hi)
        assert coverage >= 0.95 - 1e-12


@pytest.mark.parametrize(
    ("args", "error"),
    [((0, 0), InputError), ((5, 4), InputError), ((-1, 4), InputError), ((True, 4), InputError),
     ((1.0, 4), InputError)],
)
def test_accuracy_interval_refuses_impossible_counts(args, error):
    with pytest.raises(error):
        accuracy_interval(*args)
    with pytest.raises(ConfigError, match="confidence"):
        accuracy_interval(1, 2, confidence=1.0)


def mcnemar_formula(a_only, b_only):
    """Two-sided exact McNemar: twice the smaller binomial tail, at most 1 (statsmodels' mcnemar(exact=True))."""
    m = a_only + b_only
    return 1.0 if m == 0 else min(1.0, 2 * binom.cdf(min(a_only, b_only), m, 0.5))


def paired(a_only, b_only, both=0, neither=0):
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_by_hand():
    r = mcnemar_exact(*paired(9, 1, both=5, neither=5))
    assert (r.n, r.a_only, r.b_only) == (20, 9, 1)
    assert r.p_value == pytest.approx(2 * (1 + 10) / 2**10)  # P(X <= 1) for Binomial(10, 1/2), both tails
    assert r.accuracy_a == 14 / 20 and r.accuracy_b == 6 / 20 and r.difference == pytest.approx(8 / 20)
    assert mcnemar_exact(*paired(5, 0)).p_value == pytest.approx(2 / 32)
    assert mcnemar_exact(*paired(3, 3, both=4)).p_value == 1.0
    # no discordant pair: nothing to tell the models apart
    none = mcnemar_exact(*paired(0, 0, both=3, neither=2))
    assert none.p_value == 1.0 and none.difference == 0.0


def test_mcnemar_matches_the_binomial_tail_formula_and_is_symmetric():
    for a_only in range(0, 13):
        for b_only in range(0, 13):
            r = mcnemar_exact(*paired(a_only, b_only, both=2))
            assert r.p_value == pytest.approx(mcnemar_formula(a_only, b_only), rel=1e-12)
            swapped = mcnemar_exact(*paired(a_only, b_only, both=2)[::-1])
            assert swapped.p_value == pytest.approx(r.p_value) and swapped.difference == -r.difference


def test_mcnemar_refuses_what_cannot_be_paired():
    with pytest.raises(InputError, match="same items"):
        mcnemar_exact(np.array([True, False]), np.array([True]))
    with pytest.raises(InputError, match="bool"):
        mcnemar_exact(np.array([1, 0]), np.array([0, 1]))
    with pytest.raises(InputError, match="at least one item"):
        mcnemar_exact(np.array([], dtype=bool), np.array([], dtype=bool))


def test_mean_interval_uses_the_sample_standard_deviation_and_student_t():
    values = [0.874, 0.812, 0.901, 0.866, 0.917]
    r = mean_interval(values)
    assert r.n == 5 and r.mean == pytest.approx(statistics.fmean(values))
    assert r.std == pytest.approx(statistics.stdev(values))  # ddof=1
    half = t.ppf(0.975, 4) * statistics.stdev(values) / math.sqrt(5)
    assert (r.low, r.high) == pytest.approx((r.mean - half, r.mean + half))
    by_hand = mean_interval([0.5, 0.6, 0.7])
    assert by_hand.std == pytest.approx(0.1) and by_hand.high - by_hand.mean == pytest.approx(4.302653 * 0.1 / 3**0.5)
    assert mean_interval([0.5, 0.6, 0.7], confidence=0.9).high < by_hand.high


def test_mean_interval_of_one_value_or_equal_values():
    one = mean_interval([0.7])
    assert (one.mean, one.std, one.low, one.high) == (0.7, None, None, None)
    same = mean_interval([0.5, 0.5, 0.5])
    assert (same.std, same.low, same.high) == (0.0, 0.5, 0.5)
    for bad in ([], [[0.1, 0.2]], [0.1, float("nan")]):
        with pytest.raises(InputError):
            mean_interval(bad)
