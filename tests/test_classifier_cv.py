"""Issue 25 §3: NCDKNeighborsClassifierCV chooses k (and the tie rules) by leave-one-out on the training set,
from one train x train search, leaving out a text's identical copies; checked against a brute-force oracle."""

import gzip
import pickle

import numpy as np
import pytest
from sklearn.metrics import f1_score, make_scorer

import nnzip
from nnzip import NCDIndex, NCDKNeighborsClassifier, NCDKNeighborsClassifierCV, TiedNeighbors

# 30 short texts; "the cat sat" occurs three times with conflicting labels, "stocks fell" twice
# with agreeing labels, "a dog" twice with conflicting labels
TRAIN = [
    ("the cat sat", "pet"), ("the cat sat", "pet"), ("the cat sat", "money"), ("a cat sat down", "pet"),
    ("the dog sat", "pet"), ("a dog", "pet"), ("a dog", "money"), ("dogs and cats play", "pet"),
    ("my cat naps", "pet"), ("the kitten sat", "pet"), ("a puppy and a cat", "pet"), ("cat", "pet"),
    ("the dog barked", "pet"), ("pets sat still", "pet"), ("stocks fell", "money"), ("stocks fell", "money"),
    ("shares fell", "money"), ("bonds fell today", "money"), ("markets fell", "money"), ("banks fell", "money"),
    ("the market rallied", "money"), ("stocks rose", "money"), ("shares rose today", "money"),
    ("bond yields rose", "money"), ("the bank sat", "money"), ("fell", "money"), ("the cat fell", "pet"),
    ("tea sat", "tea"), ("green tea", "tea"), ("the tea cat", "tea"),
]
X = [t for t, _ in TRAIN]
Y = [lab for _, lab in TRAIN]
TEST = ["a cat", "stocks", "the dog ran", "tea time", "markets rose"]


def C(text: str) -> int:
    return len(gzip.compress(text.encode(), 9))


def ncd_matrix(queries, train):
    """The full NCD matrix, query first, straight from gzip."""
    return np.array([[(C(f"{x} {y}") - min(C(x), C(y))) / max(C(x), C(y)) for y in train] for x in queries])


def oracle_vote(dist, labels, k, distance_ties, tie_break):
    """One leave-one-out vote by hand: ``dist`` and ``labels`` of the items that may vote (uniform weights)."""
    order = sorted(range(len(dist)), key=lambda j: dist[j])
    kth = dist[order[k - 1]]
    near = [j for j in order if dist[j] < kth]
    tied = [j for j in order if dist[j] == kth]
    share = (k - len(near)) / len(tied) if distance_ties == "split" else 1.0
    score: dict = {}
    for j in near:
        score[labels[j]] = score.get(labels[j], 0.0) + 1.0
    for j in tied:
        score[labels[j]] = score.get(labels[j], 0.0) + share
    top = max(score.values())
    best = sorted(c for c, s in score.items() if np.isclose(s, top, rtol=1e-12, atol=0))
    if len(best) == 1 or tie_break == "lowest":
        return best[0]
    # nearest: the class whose sorted member distances come first (running out loses)
    members = {c: sorted(dist[j] for j in near + tied if labels[j] == c) + [np.inf] for c in best}
    return min(best, key=lambda c: (members[c], c))


def oracle_loo(texts, labels, k, distance_ties, tie_break, D=None, leave_copies=True):
    D = ncd_matrix(texts, texts) if D is None else D
    out = []
    for i in range(len(texts)):
        keep = [j for j in range(len(texts)) if j != i and not (leave_copies and texts[j] == texts[i])]
        out.append(oracle_vote([D[i, j] for j in keep], [labels[j] for j in keep], k, distance_ties, tie_break))
    return out


class Recorder:
    """A scorer that keeps the leave-one-out predictions it is shown (and scores accuracy)."""

    def __init__(self):
        self.seen = []

    def __call__(self, estimator, X, y):
        pred = np.empty(len(X), dtype=object)
        pred[X] = estimator.predict(X)  # X: training indices, in content order
        self.seen.append(pred.tolist())
        return float(np.mean(pred[X] == y))


ORACLE_GRID = {"n_neighbors": (1, 2, 3, 4, 5, 7), "distance_ties": ("split", "all"), "tie_break": ("lowest", "nearest")}


def test_leave_one_out_predictions_equal_a_brute_force_oracle_with_copies_left_out():
    rec = Recorder()
    cv = NCDKNeighborsClassifierCV(**ORACLE_GRID, scoring=rec).fit(X, Y)
    D = ncd_matrix(X, X)
    assert len(rec.seen) == 1 + len(cv.cv_results_["params"])  # a dry run of the scorer, then every candidate
    for params, seen, score in zip(cv.cv_results_["params"], rec.seen[1:], cv.cv_results_["mean_test_score"]):
        want = oracle_loo(X, Y, params["n_neighbors"], params["distance_ties"], params["tie_break"], D)
        assert seen == want, params
        assert score == pytest.approx(np.mean(np.array(want) == np.array(Y)), abs=1e-12)
    best = cv.cv_results_["mean_test_score"].max()
    assert cv.best_score_ == best
    assert cv.best_index_ == int(np.flatnonzero(cv.cv_results_["mean_test_score"] == best)[0])
    assert cv.n_neighbors_ == cv.best_params_["n_neighbors"] == cv.cv_results_["params"][cv.best_index_]["n_neighbors"]


def test_copies_never_vote_for_their_text_and_the_choice_is_documented_against_main():
    index = NCDIndex().fit(X)
    groups = {t: [j for j, u in enumerate(X) if u == t] for t in X}
    D = ncd_matrix(X, X)
    for k in (1, 3, 6):
        out = index.tied_neighbors(None, k, exclude_copies=True)
        masked = D.copy()
        for i, t in enumerate(X):
            masked[i, groups[t]] = np.inf
        want = TiedNeighbors.from_distances(masked, k)
        assert out.indptr.tolist() == want.indptr.tolist() and out.indices.tolist() == want.indices.tolist()
        assert np.array_equal(out.distances, want.distances)
        for i in range(len(X)):
            assert not set(out.row(i)[1].tolist()) & set(groups[X[i]])
    # X=None without exclude_copies leaves out the item only: its copies are its nearest neighbours
    plain = index.tied_neighbors(None, 1)
    assert set(plain.row(0)[1].tolist()) <= set(groups["the cat sat"]) - {0}
    # the conflicting copies are each scored against their own label: the three "the cat sat" items
    # (pet, pet, money) get one prediction, right for two of them
    rec = Recorder()
    NCDKNeighborsClassifierCV(n_neighbors=1, scoring=rec).fit(X, Y)
    pred = rec.seen[-1]
    assert pred[0] == pred[1] == pred[2] and pred[5] == pred[6]


def test_one_item_per_text_leaves_out_the_item_only_and_precomputed_leaves_out_itself():
    texts = list(dict.fromkeys(X))
    labels = [Y[X.index(t)] for t in texts]
    D = ncd_matrix(texts, texts)
    for params in ({"n_neighbors": 3, "distance_ties": "split", "tie_break": "nearest"},
                   {"n_neighbors": 2, "distance_ties": "all", "tie_break": "lowest"}):
        rule = (params["n_neighbors"], params["distance_ties"], params["tie_break"])
        want = oracle_loo(texts, labels, *rule, D=D)
        rec = Recorder()
        NCDKNeighborsClassifierCV(**params, scoring=rec).fit(texts, labels)
        assert rec.seen[-1] == want
        # a precomputed matrix has no texts: each item leaves out only itself (copies stay)
        rec = Recorder()
        full = ncd_matrix(X, X)
        NCDKNeighborsClassifierCV(**params, metric="precomputed", scoring=rec).fit(full, Y)
        assert rec.seen[-1] == oracle_loo(X, Y, *rule, D=full, leave_copies=False)


def test_ties_between_candidates_go_to_the_smallest_k_then_the_first_listed_rule():
    cv = NCDKNeighborsClassifierCV(n_neighbors=(7, 2, 1), tie_break=("lowest", "nearest")).fit(X, Y)
    params = cv.cv_results_["params"]
    assert [p["n_neighbors"] for p in params] == [1, 1, 2, 2, 7, 7]
    assert [p["tie_break"] for p in params] == ["lowest", "nearest"] * 3
    scores, ranks = cv.cv_results_["mean_test_score"], cv.cv_results_["rank_test_score"]
    assert ranks.tolist() == [1 + int((scores > s).sum()) for s in scores]
    assert cv.best_index_ == int(np.flatnonzero(ranks == 1)[0])
    # a constant scorer ties them all: the first candidate, k=1 with the first rule
    flat = NCDKNeighborsClassifierCV(n_neighbors=(7, 2, 1), tie_break=("lowest", "nearest"),
                                     scoring=lambda est, X, y: 0.5).fit(X, Y)
    assert flat.best_params_ == {"n_neighbors": 1, "distance_ties": "split", "tie_break": "lowest",
                                 "weights": "uniform"}


def test_the_chosen_model_is_a_fitted_classifier_that_shares_the_one_index(monkeypatch):
    fits = []
    original = NCDIndex.fit
    monkeypatch.setattr(NCDIndex, "fit", lambda self, *a, **kw: fits.append(1) or original(self, *a, **kw))
    cv = NCDKNeighborsClassifierCV(n_neighbors=(1, 3, 5), tie_break=("nearest", "decrement")).fit(X, Y)
    assert len(fits) == 1
    best = cv.best_estimator_
    assert isinstance(best, NCDKNeighborsClassifier) and best.index_ is cv.index_
    assert {k: best.get_params()[k] for k in cv.best_params_} == cv.best_params_
    direct = NCDKNeighborsClassifier(**cv.best_params_).fit(X, Y)
    assert cv.predict(TEST).tolist() == direct.predict(TEST).tolist()
    assert np.array_equal(cv.predict_proba(TEST), direct.predict_proba(TEST))
    for a, b in zip(cv.kneighbors(TEST), direct.kneighbors(TEST)):
        assert np.array_equal(a, b)
    tied, want = cv.tied_neighbors(TEST), direct.tied_neighbors(TEST)
    assert tied.n_neighbors == cv.n_neighbors_ and np.array_equal(tied.indices, want.indices)
    assert cv.vote(tied, TEST)[0].tolist() == direct.vote(want, TEST)[0].tolist()
    assert cv.classes_.tolist() == ["money", "pet", "tea"] and cv.n_samples_fit_ == cv.n_splits_ == len(X)
    assert cv.score(X, Y) == direct.score(X, Y)
    restored = pickle.loads(pickle.dumps(cv))
    assert restored.predict(TEST).tolist() == cv.predict(TEST).tolist()


def test_the_same_choice_and_table_under_any_training_order():
    grid = {"n_neighbors": (1, 2, 3, 5), "distance_ties": ("split", "all"),
            "tie_break": ("nearest", "decrement", "random", "lowest"), "weights": ("uniform", "distance")}
    base = NCDKNeighborsClassifierCV(**grid, random_state=5, scoring=["accuracy", "f1_macro", "neg_log_loss"],
                                     refit="f1_macro").fit(X, Y)
    for seed in range(3):
        p = np.random.default_rng(seed).permutation(len(X))
        moved = NCDKNeighborsClassifierCV(**grid, random_state=5, scoring=["accuracy", "f1_macro", "neg_log_loss"],
                                          refit="f1_macro").fit([X[i] for i in p], [Y[i] for i in p])
        assert moved.n_neighbors_ == base.n_neighbors_ and moved.best_params_ == base.best_params_
        for key, value in base.cv_results_.items():
            if key == "params":
                assert moved.cv_results_[key] == value
            else:
                assert np.array_equal(np.asarray(moved.cv_results_[key]), np.asarray(value)), key
        assert moved.predict(TEST).tolist() == base.predict(TEST).tolist()


def test_rerank_leaves_out_copies_and_with_every_candidate_is_the_exact_search():
    exact = NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), tie_break=("nearest", "lowest")).fit(X, Y)
    wide = NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), tie_break=("nearest", "lowest"), search="rerank",
                                     n_candidates=40).fit(X, Y)
    assert np.array_equal(wide.cv_results_["mean_test_score"], exact.cv_results_["mean_test_score"])
    narrow = NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), search="rerank", n_candidates=3).fit(X, Y)
    assert narrow.index_.candidate_index_ is not None and narrow.predict(TEST).shape == (len(TEST),)
    # the own text is proposed and left out, so the k nearest come from 3 other candidates
    tied = narrow.index_.tied_neighbors(None, 3, exclude_copies=True)
    full = exact.index_.tied_neighbors(None, 3, exclude_copies=True)
    for i in range(len(X)):
        assert not {j for j in tied.row(i)[1].tolist() if X[j] == X[i]}
        assert tied.boundary_distance[i] >= full.boundary_distance[i]
    # far better than chance (3 random candidates of 29 almost never hold a text's 3 nearest)
    assert (tied.boundary_distance == full.boundary_distance).mean() > 0.25


def test_refit_as_in_scikit_learn():
    off = NCDKNeighborsClassifierCV(n_neighbors=(1, 2), refit=False).fit(X, Y)
    assert not hasattr(off, "predict") and not hasattr(off, "best_estimator_")
    assert off.best_params_["n_neighbors"] == off.n_neighbors_ and hasattr(off, "best_score_")
    several = NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), scoring={"acc": "accuracy", "f1": "f1_macro"},
                                        refit="f1").fit(X, Y)
    assert several.multimetric_ and several.best_score_ == several.cv_results_["mean_test_f1"].max()
    assert set(several.cv_results_) >= {"mean_test_acc", "rank_test_acc", "mean_test_f1", "rank_test_f1"}
    quiet = NCDKNeighborsClassifierCV(n_neighbors=(1, 2), scoring=["accuracy", "f1_macro"], refit=False).fit(X, Y)
    assert not hasattr(quiet, "best_params_") and not hasattr(quiet, "n_neighbors_")
    last = NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), refit=lambda results: 2).fit(X, Y)
    assert last.n_neighbors_ == 3 and not hasattr(last, "best_score_") and last.predict(TEST).shape == (5,)
    with pytest.raises(nnzip.ConfigError, match="refit returned 7; there are 3 candidates"):
        NCDKNeighborsClassifierCV(n_neighbors=(1, 2, 3), refit=lambda results: 7).fit(X, Y)
    f1 = NCDKNeighborsClassifierCV(n_neighbors=(1, 2), scoring=make_scorer(f1_score, average="macro")).fit(X, Y)
    assert f1.best_score_ == pytest.approx(max(f1_score(Y, oracle_loo(X, Y, k, "split", "nearest"), average="macro")
                                               for k in (1, 2)))


class Boom:
    def __call__(self, *args):
        pytest.fail("compressed before the checks")


@pytest.mark.parametrize(("params", "message"), [
    ({"n_neighbors": ()}, r"^n_neighbors must be a positive int, or a non-empty list of them, got \(\)$"),
    ({"n_neighbors": (1, 0)}, r"^n_neighbors\[1\] must be a positive int, got 0$"),
    ({"n_neighbors": (3, 3)}, "^n_neighbors lists 3 twice$"),
    ({"tie_break": ("nearest", "coin")}, r"^unknown tie_break\[1\] 'coin'; choose one of nearest, "),
    ({"weights": []}, "^weights must be one of 'uniform', 'distance' or a callable, or a non-empty list of them"),
    ({"scoring": "acc"}, "^unknown scoring 'acc': not a scikit-learn scorer name"),
    ({"scoring": ["accuracy", "acc"]}, "^unknown scoring 'acc'"),
    ({"scoring": f1_score}, r"does not take \(estimator, X, y\): a scorer is what sklearn.metrics.make_scorer makes"),
    ({"scoring": ["accuracy", "f1_macro"]}, "^refit must name the scorer that chooses"),
    ({"scoring": "r2"}, "^scoring 'r2' cannot score these labels"),
    ({"n_neighbors": (1, 29)}, r"^n_neighbors=29 \(the largest candidate\) is larger than the training items left "
                               r"for leave-one-out \(27 of 30; the most-copied text occurs 3 times"),
    ({"search": "rerank", "n_candidates": 2, "n_neighbors": (1, 3)}, "^n_candidates=2 is smaller than k=3"),
])
def test_bad_parameters_are_one_error_before_any_work(params, message, monkeypatch):
    from nnzip import lengths

    monkeypatch.setattr(lengths, "text_lengths", Boom())
    with pytest.raises(nnzip.NNZipError, match=message):
        NCDKNeighborsClassifierCV(**params).fit(X, Y)


def test_k_up_to_the_items_outside_the_largest_group_of_copies():
    cv = NCDKNeighborsClassifierCV(n_neighbors=27).fit(X, Y)
    assert cv.n_neighbors_ == 27
    with pytest.raises(nnzip.InputError, match=r"larger than the training items left for leave-one-out \(2 of 3\)$"):
        NCDKNeighborsClassifierCV(n_neighbors=3).fit(["a", "b", "c"], ["x", "y", "x"])


def test_verbose_prints_the_estimate_before_the_search(capsys):
    NCDKNeighborsClassifierCV(n_neighbors=(1, 2), verbose=1).fit(X, Y)
    err = capsys.readouterr().err
    assert "leave-one-out search of 26 x 26 distinct training texts: about " in err
    rerank = NCDKNeighborsClassifierCV(n_neighbors=(1, 2), verbose=1, search="rerank", n_candidates=3).fit(X, Y)
    width = rerank.index_.candidate_index_.width(3 + 1)  # the own text is proposed too, then left out
    assert f"26 distinct training texts x {width} candidates (rerank)" in capsys.readouterr().err
    NCDKNeighborsClassifierCV(n_neighbors=(1, 2)).fit(X, Y)
    assert capsys.readouterr().err == ""


def test_scikit_learn_conventions_by_hand(tmp_path):
    import joblib
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    cv = NCDKNeighborsClassifierCV(n_neighbors=[1, 3], tie_break=("nearest", "lowest"), scoring="f1_macro")
    params = cv.get_params()
    assert cv.fit(X, Y) is cv
    assert cv.get_params() == params and clone(cv).get_params() == params and not hasattr(clone(cv), "classes_")
    joblib.dump(cv, tmp_path / "cv.joblib")
    assert joblib.load(tmp_path / "cv.joblib").predict(TEST).tolist() == cv.predict(TEST).tolist()
    assert isinstance(cv.cv_results_["param_n_neighbors"], np.ma.MaskedArray)
    assert cv.cv_results_["param_n_neighbors"].dtype == np.int64 and cv.cv_results_["rank_test_score"].dtype == np.int32
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [x.lower() for x in xs])), ("knn", clone(cv))])
    assert pipe.fit(X, Y).predict([t.upper() for t in TEST]).tolist() == cv.predict(TEST).tolist()
