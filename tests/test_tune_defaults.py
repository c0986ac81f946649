"""benchmarks/tune_defaults.py: the validation carve, the rerank emulation and both selection rules."""

from collections import Counter

import numpy as np
import pytest

import nnzip
from benchmarks._common import carve, validation_split
from benchmarks.tune_defaults import (
    VARIANTS,
    _distinct,
    choose_rerank,
    choose_zstd,
    rerank_distances,
)
from nnzip.candidates import CandidateIndex
from nnzip.data import Dataset
from nnzip.neighbors import top_k


def _labels(rng, counts: dict) -> list:
    y = [c for c, n in counts.items() for _ in range(n)]
    return [y[i] for i in rng.permutation(len(y))]


# ---------------------------------------------------------------- the carve


def test_validation_split_is_stratified_seeded_and_disjoint():
    rng = np.random.default_rng(3)
    y = _labels(rng, {"a": 600, "b": 300, "c": 90, "d": 10})
    fit, val = validation_split(y, 200, seed=0)
    assert len(val) == 200 and len(fit) == len(y) - 200
    assert not set(fit) & set(val) and set(fit) | set(val) == set(range(len(y)))
    assert list(val) == sorted(val) and list(fit) == sorted(fit)
    got = Counter(y[i] for i in val)
    for c, n in Counter(y).items():
        assert abs(got[c] - 200 * n / len(y)) <= 1, (c, got[c])
    again = validation_split(y, 200, seed=0)
    assert np.array_equal(again[1], val) and np.array_equal(again[0], fit)
    assert not np.array_equal(validation_split(y, 200, seed=1)[1], val)


def test_carve_uses_the_training_set_only():
    rng = np.random.default_rng(4)
    y_train = _labels(rng, {"x": 80, "y": 40})
    ds = Dataset("toy", [f"train {i} {c}" for i, c in enumerate(y_train)], y_train,
                 [f"test {i}" for i in range(30)], ["x"] * 30)
    part = carve(ds, 30, seed=0)
    assert len(part.X_test) == 30 and len(part.X_train) == 90
    assert set(part.X_test) | set(part.X_train) == set(ds.X_train)
    assert not set(part.X_test) & set(part.X_train)
    assert not set(part.X_test) & set(ds.X_test)
    # labels travel with their texts
    label = dict(zip(ds.X_train, ds.y_train))
    assert all(label[t] == c for t, c in zip(part.X_test + part.X_train, part.y_test + part.y_train))
    assert Counter(part.y_test) == Counter({"x": 20, "y": 10})
    assert "no test item" in part.notes[0]


# ---------------------------------------------------------------- the rerank emulation


def test_rerank_emulation_predicts_as_the_classifier():
    rng = np.random.default_rng(5)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "rho"]
    make = lambda n: " ".join(rng.choice(words, n))  # noqa: E731
    train = [make(int(rng.integers(4, 30))) for _ in range(150)] + ["ab", "x", "alpha beta"]
    train += train[:10]  # copies of a text are in or out together
    y = [int(rng.integers(0, 3)) for _ in train]
    queries = [make(int(rng.integers(3, 25))) for _ in range(40)] + [train[3], "ab"]
    m = 12
    texts = [t.encode() for t in train]
    xs = [q.encode() for q in queries]
    distinct, inverse = _distinct(texts)
    cy = nnzip.compressed_len(distinct)
    cx = nnzip.compressed_len(xs)
    dist_items = nnzip.pairwise_distances(xs, distinct)[:, inverse]
    where = {t: i for i, t in enumerate(distinct)}
    include = np.array([where.get(x, -1) for x in xs])
    first = CandidateIndex().fit(distinct, cy)
    dist, width, _ = rerank_distances(first, xs, m, cx, include, dist_items, inverse, 1)
    assert width == first.width(m) and np.isfinite(dist).sum(axis=1).min() >= m
    classes, codes = np.unique(y, return_inverse=True)
    for k, tie_break in VARIANTS:
        clf = nnzip.NCDKNeighborsClassifier(k, tie_break=tie_break, search="rerank", n_candidates=m).fit(train, y)
        emulated = nnzip.tied_vote(top_k(dist, k), codes, len(classes), tie_break=tie_break)[0]
        assert np.array_equal(clf.predict(queries), classes[emulated])
        # and the search really is narrower than the exact one somewhere
    exact = nnzip.tied_vote(top_k(dist_items, 2), codes, len(classes))[0]
    assert np.isinf(dist).any() and exact.shape == (len(queries),)


# ---------------------------------------------------------------- the rerank rule


def _rr(dataset, ngram, offset, m, *agreements):
    return {"dataset": dataset, "ngram": ngram, "offset": offset, "n_candidates": m,
            "agreement": {f"v{i}": a for i, a in enumerate(agreements)}}


def _grid(values: dict, datasets=("20news", "imdb")) -> list[dict]:
    """values: {(ngram, offset): {M: (agreement per dataset...)}}, one variant each."""
    return [_rr(d, g, o, m, a[i]) for (g, o), by_m in values.items() for m, a in by_m.items()
            for i, d in enumerate(datasets)]


def test_rerank_rule_takes_the_smallest_m_meeting_the_bar_on_every_dataset_and_variant():
    rows = _grid({(5, 48.0): {64: (0.97, 0.99), 128: (0.995, 0.985), 256: (0.99, 1.0), 512: (1.0, 1.0)}})
    # a second variant below the bar at 256 on one dataset pushes M to 512
    rows.append(_rr("imdb", 5, 48.0, 256, 1.0, 0.98))
    rows[-1]["agreement"] = {"v0": 1.0, "v1": 0.98}
    # R8 is not a rule dataset: its poor figures do not count
    rows += [_rr("r8", 5, 48.0, m, 0.5) for m in (64, 128, 256, 512)]
    choice = choose_rerank(rows, (5, 48.0))
    assert (choice["ngram"], choice["offset"], choice["n_candidates"], choice["met"]) == (5, 48.0, 512, True)
    assert choice["a"][(5, 48.0)][256] == 0.98


def test_rerank_rule_prefers_smaller_m_then_larger_area_then_the_default():
    rows = _grid({
        (5, 48.0): {64: (0.95, 0.95), 128: (0.99, 0.99), 256: (1.0, 1.0)},
        (4, 0.0): {64: (0.96, 0.97), 128: (0.99, 0.995), 256: (1.0, 1.0)},  # same M*, larger sum
        (6, 96.0): {64: (0.9, 0.9), 128: (0.98, 0.99), 256: (1.0, 1.0)},  # M* = 256
    })
    choice = choose_rerank(rows, (5, 48.0))
    assert (choice["ngram"], choice["offset"], choice["n_candidates"]) == (4, 0.0, 128)
    # equal sums: the current default wins, whatever its n-gram
    rows = _grid({(6, 24.0): {64: (0.95, 0.95), 128: (0.99, 1.0)}, (4, 0.0): {64: (0.95, 0.95), 128: (0.99, 1.0)}})
    assert choose_rerank(rows, (6, 24.0))["ngram"] == 6
    # neither the default: the smaller n-gram
    assert choose_rerank(rows, (5, 48.0))["ngram"] == 4
    # a smaller M* beats a larger area
    rows = _grid({(5, 48.0): {64: (0.99, 0.99), 128: (0.99, 0.99)}, (4, 0.0): {64: (0.98, 1.0), 128: (1.0, 1.0)}})
    assert choose_rerank(rows, (4, 0.0))[("n_candidates")] == 64
    assert choose_rerank(rows, (4, 0.0))["ngram"] == 5


def test_rerank_rule_says_when_the_bar_is_missed():
    rows = _grid({(5, 48.0): {128: (0.9, 0.95), 256: (0.95, 0.97)}, (4, 0.0): {128: (0.93, 0.93), 256: (0.96, 0.98)}})
    choice = choose_rerank(rows, (5, 48.0))
    assert not choice["met"]
    assert (choice["ngram"], choice["n_candidates"], choice["agreement"]) == (4, 256, 0.96)


def test_rerank_rule_needs_every_rule_dataset():
    rows = [_rr("20news", 5, 48.0, 128, 1.0)]
    with pytest.raises(ValueError, match="every rule dataset"):
        choose_rerank(rows, (5, 48.0))
    with pytest.raises(ValueError, match="no figures"):
        choose_rerank([_rr("r8", 5, 48.0, 128, 1.0)], (5, 48.0))


# ---------------------------------------------------------------- the zstd-dict rule


def _zs(setting, dataset, accuracy=None, seconds=None, error=None):
    row = {"setting": setting, "params": {"name": setting}, "dataset": dataset}
    if error is None:
        row.update(accuracy=accuracy, seconds=seconds)
    else:
        row["error"] = error
    return row


def test_zstd_rule_best_mean_accuracy_ties_to_the_cheaper():
    rows = [
        _zs("slow best", "a", 0.90, 10.0), _zs("slow best", "b", 0.70, 10.0),  # mean 0.800
        _zs("cheap close", "a", 0.89, 1.0), _zs("cheap close", "b", 0.706, 1.0),  # mean 0.798: tied
        _zs("cheaper worse", "a", 0.88, 0.5), _zs("cheaper worse", "b", 0.70, 0.5),  # mean 0.790: not tied
        _zs("failed", "a", 0.99, 0.1), _zs("failed", "b", error="cannot train"),  # out
    ]
    choice = choose_zstd(rows)
    assert choice["setting"] == "cheap close"
    assert choice["best"] == pytest.approx(0.80) and choice["score"] == pytest.approx(0.798)
    assert "failed" not in choice["scores"]
    assert choose_zstd(rows, tolerance=0.001)["setting"] == "slow best"
    assert choose_zstd(rows, tolerance=0.02)["setting"] == "cheaper worse"


def test_zstd_rule_needs_a_setting_that_ran_everywhere():
    with pytest.raises(ValueError, match="no setting"):
        choose_zstd([_zs("x", "a", error="no"), _zs("x", "b", 0.5, 1.0)])
    # a setting missing a dataset is out
    rows = [_zs("x", "a", 0.9, 1.0), _zs("y", "a", 0.8, 1.0), _zs("y", "b", 0.8, 1.0)]
    assert choose_zstd(rows)["setting"] == "y"


def test_report_renders_every_setting_and_the_choice():
    import argparse

    from benchmarks.tune_defaults import N_CANDIDATES, NGRAMS, OFFSETS, ZSTD_GRID, current_defaults, report

    variants = {f"k={k} {t}": 0.995 for k, t in VARIANTS}
    rr_rows = [{"dataset": d, "ngram": g, "offset": o, "n_candidates": m, "width": m, "agreement": dict(variants),
                "accuracy_rerank": dict(variants), "nearest_found": 0.99, "first_stage_fit_s": 1.0,
                "first_stage_query_s": 0.5}
               for d in ("20news", "imdb") for g in NGRAMS for o in OFFSETS for m in N_CANDIDATES]
    rr_info = [{"dataset": d, "n_fit": 100, "n_distinct": 99, "n_val": 20, "n_classes": 2,
                "accuracy_exact": dict(variants), "val_equal_to_a_training_text": 0} for d in ("20news", "imdb")]
    defaults = current_defaults()
    rr_choice = choose_rerank(rr_rows, (defaults["ngram"], defaults["offset"]))
    checks = [{"dataset": "20news", "checked": True, "variant": "k=1 nearest", "accuracy": 0.5},
              {"dataset": "imdb", "checked": False, "why": "not in the grid"}]
    zs_rows = [{"dataset": d, "setting": label, "params": params, "accuracy": 0.8, "seconds": 1.0}
               for d in ("r8", "mr") for label, params in ZSTD_GRID]
    zs_rows[-1] = {**zs_rows[-1], "error": "cannot train"}
    del zs_rows[-1]["accuracy"], zs_rows[-1]["seconds"]
    zs_info = [{"dataset": d, "n_fit": 100, "n_val": 20} for d in ("r8", "mr")]
    zs_choice = choose_zstd(zs_rows)
    test_rows = [{"dataset": "r8", "n_train": 100, "n_test": 50, "accuracy": 0.9, "seconds": 1.0}]
    machine = {"cpu": "cpu", "cores": 2, "python": "3", "zlib": "1", "nnzip": "0"}
    text = report(argparse.Namespace(argv=["--test"]), machine, defaults, rr_rows, rr_info, rr_choice, checks,
                  zs_rows, zs_info, zs_choice, test_rows)
    assert f"n_candidates={rr_choice['n_candidates']}**" in text
    assert text.count("\n| 5 | 48 |") == len(N_CANDIDATES)
    assert "error: cannot train" in text and "| out |" in text
    assert "Rule, fixed before any result was seen" in text and "measured once, after the choice" in text
    assert f"**{zs_choice['setting']}**" in text
