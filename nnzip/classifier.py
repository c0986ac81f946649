"""The scikit-learn estimators: k-nearest neighbours over compression distances, searched by an NCDIndex, and
the same with k chosen by leave-one-out on the training set."""

from __future__ import annotations

import inspect
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.utils import check_array
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .compressors import get_compressor
from .errors import ConfigError, InputError
from .index import NCDIndex, check_n_candidates, duration_text, warmup
from .lengths import check_device
from .neighbors import KNeighborsVoteMixin, content_order, top_k
from .pairwise import METRICS
from .tied_neighbors import TiedNeighbors
from .validation import (
    Grid,
    InstanceOf,
    IsCallable,
    Options,
    TextClassifier,
    as_bytes,
    check_labels,
    grid_values,
    validate_params,
)

#: Parameters that change how a model runs but none of its results (run settings, not model settings).
RUN_SETTINGS = ("n_jobs", "cache_dir", "verbose", "device")


def _input_tags(tags, metric: str):
    """Tags of a text model, or of one fitted on a precomputed distance matrix."""
    if metric == "precomputed":
        tags.input_tags.pairwise = True
        tags.input_tags.two_d_array = True
        tags.input_tags.string = False
    return tags


class NCDKNeighborsClassifier(KNeighborsVoteMixin, TextClassifier):
    """k-nearest-neighbour classifier over a compression distance (gzip + kNN).

    The distance between a query ``x`` and a training text ``y`` is computed from compressed
    lengths, by default the normalized compression distance with gzip:
    ``NCD(x, y) = (C(x + " " + y) - min(C(x), C(y))) / max(C(x), C(y))``.

    Parameters
    ----------
    n_neighbors : int, default=2
        Number of neighbours that vote.
    compressor : str or callable, default="gzip"
        ``"gzip"``, ``"zlib"``, ``"bz2"``, ``"lzma"``, ``"zstd"``, ``"lz4"`` or a callable
        ``bytes -> int`` giving a compressed length.
    metric : {"ncd", "cdm", "clm", "precomputed"}, default="ncd"
        Compression distance, or ``"precomputed"`` to pass distance matrices as ``X``:
        ``fit`` takes an array with one row per training item, ``predict`` an array of shape
        ``(n_queries, n_train)``.
    distance_ties : {"split", "all", "index"}, default="split"
        How the training texts tied at the k-th nearest distance vote (compression distances
        take few distinct values, so such ties are common). ``"split"``: every text at the
        k-th distance takes part; the ``r`` places left after the strictly nearer texts are
        shared equally by the ``t`` tied texts (weight ``r / t`` each, times its ``weights``
        weight), so the total weight stays k and the vote is the average over all training
        orders of the index-ordered one. ``"all"``: each tied text counts fully (R's
        ``class::knn``). ``"index"``: the first of them by training index take the places;
        depends on training order; reproduces nnzip <= 0.1 figures. See
        :func:`nnzip.neighbors.tied_vote`.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        How a tie for the most votes is resolved: ``"nearest"``, the tied class whose nearest
        member is closest (then the next nearest, ...; then the classes' order);
        ``"decrement"``, drop the farthest distance group until the tie is gone;
        ``"random"``, a draw keyed by ``random_state`` and the query's text; ``"lowest"``, the
        classes' order. See :func:`nnzip.neighbors.tied_vote` (and :func:`nnzip.vote` for
        ``distance_ties="index"``, where positions decide as in nnzip <= 0.1).
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights, as in :class:`sklearn.neighbors.KNeighborsClassifier`.
    n_jobs : int, default=None
        Threads (gzip) or worker processes (other compressors); -1 means all cores. Under
        ``joblib.parallel_config(backend="dask")`` the search runs on the Dask cluster
        instead (see :mod:`nnzip.distributed`).
    cache_dir : str or path, default=None
        On-disk cache of neighbour blocks; reruns and interrupted runs resume from it (see
        :class:`nnzip.NCDIndex`).
    random_state : int, RandomState instance or None, default=None
        Seed for ``tie_break="random"``.
    verbose : int, default=0
        Show a progress bar on terminals when non-zero.
    search : {"exact", "rerank"}, default="exact"
        ``"exact"`` compresses every (query, training text) pair: the published method;
        ``"rerank"`` ranks only the candidates a first stage proposes, by the exact distance
        (same distances and tie handling among them, fewer pairs). See :class:`nnzip.NCDIndex`.
    n_candidates : int, default=None
        Candidates per query with ``search="rerank"`` (an error with ``search="exact"``); see
        :class:`nnzip.NCDIndex`.
    device : {"cpu", "cuda"}, default="cpu"
        Where the pair lengths are computed: the CPU, or an NVIDIA GPU (``gzip`` and ``zlib``;
        same lengths, so the same predictions). See :class:`nnzip.NCDIndex`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_samples_fit_ : int
        Number of training items.
    index_ : NCDIndex
        The fitted search over the training texts (absent with ``metric="precomputed"``): its
        ``train_texts_``, ``train_lengths_`` and, for ``search="rerank"``, ``candidate_index_``.
    train_texts_ : list of bytes
        UTF-8 training texts, ``index_.train_texts_`` (absent with ``metric="precomputed"``).
    train_lengths_ : ndarray of int64
        Compressed length of each training text, ``index_.train_lengths_`` (absent with
        ``metric="precomputed"``).
    n_features_in_ : int
        Only with ``metric="precomputed"``: columns of the fitted matrix.

    Examples
    --------
    >>> from nnzip import NCDKNeighborsClassifier
    >>> clf = NCDKNeighborsClassifier(n_neighbors=1).fit(
    ...     ["the cat sat on the mat", "stocks fell sharply today"], ["pets", "finance"])
    >>> clf.predict(["a cat on a mat"]).tolist()
    ['pets']
    """

    _parameter_constraints: dict = {
        **KNeighborsVoteMixin._parameter_constraints,
        **{k: v for k, v in NCDIndex._parameter_constraints.items() if k != "block_size"},
        "metric": [Options((*METRICS, "precomputed"))],
    }

    def __init__(
        self,
        n_neighbors: int = 2,
        *,
        compressor: str | Callable[[bytes], int] = "gzip",
        metric: str = "ncd",
        distance_ties: str = "split",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        search: str = "exact",
        n_candidates: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.compressor = compressor
        self.metric = metric
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose
        self.search = search
        self.n_candidates = n_candidates
        self.device = device

    def __sklearn_tags__(self):
        return _input_tags(super().__sklearn_tags__(), self.metric)

    def _validate_params(self) -> None:
        super()._validate_params()
        check_n_candidates(self.n_candidates, self.n_neighbors, self.search)
        if self.metric != "precomputed":  # a precomputed matrix needs no device
            check_device(get_compressor(self.compressor), self.device)

    def _fit(self, X, y) -> None:
        """Store the training texts, their labels and compressed lengths (in :attr:`index_`)."""
        if self.metric == "precomputed":
            X = validate_data(self, X, dtype=np.float64, reset=True)
            self._fit_labels(y, X.shape[0])  # no texts: ties are cut by label, then index
            self.n_samples_fit_ = X.shape[0]
            return
        index = NCDIndex(compressor=self.compressor, metric=self.metric, search=self.search,
                         n_candidates=self.n_candidates, n_jobs=self.n_jobs, cache_dir=self.cache_dir,
                         verbose=self.verbose, device=self.device)
        texts = as_bytes(X, "X")
        self._fit_labels(y, len(texts), texts)
        # encoded, packed and measured once here, not in every predict
        self.index_ = index.fit(texts)
        self.train_texts_ = self.index_.train_texts_
        self.train_lengths_ = self.index_.train_lengths_
        self.n_samples_fit_ = len(texts)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k not in ("train_texts_", "train_lengths_")}  # kept in index_

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "index_" in state:
            self.train_texts_ = self.index_.train_texts_
            self.train_lengths_ = self.index_.train_lengths_

    def _training_queries(self):
        if self.metric == "precomputed":
            raise InputError("kneighbors(X=None) needs the training texts; pass X with metric='precomputed'")
        return self.train_texts_

    def _query_keys(self, X) -> list[bytes] | None:
        return None if self.metric == "precomputed" else super()._query_keys(X)

    def _tied_neighbors(self, X, k: int) -> TiedNeighbors:
        if self.metric != "precomputed":
            # settings that change no result follow the estimator's, also when set after fit
            # (a loaded model run with other workers, cache or device)
            settings = {name: getattr(self, name) for name in RUN_SETTINGS}
            if settings != {name: getattr(self.index_, name) for name in RUN_SETTINGS}:
                self.index_.set_params(**settings)
            return self.index_.tied_neighbors(X, k)
        D = validate_data(self, X, dtype=np.float64, reset=False)
        if np.isnan(D).any():
            raise InputError("the precomputed distance matrix contains nan")
        return top_k(D, k)


#: The vote's parameters that :class:`NCDKNeighborsClassifierCV` searches: each a value or a list of candidates.
GRID_PARAMS = ("n_neighbors", "distance_ties", "tie_break", "weights")
_SHARED_PARAMS = tuple(p for p in NCDKNeighborsClassifier._parameter_constraints if p not in GRID_PARAMS)


class _LeaveOneOutPredictions(ClassifierMixin, BaseEstimator):
    """What a scikit-learn scorer is given: an estimator whose ``predict``/``predict_proba`` of the
    training indices ``X`` are their leave-one-out predictions (RidgeCV scores its leave-one-out
    values through such an identity estimator too)."""

    def __init__(self, labels: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> None:
        self.labels = labels
        self.proba = proba
        self.classes = classes

    @property
    def classes_(self) -> np.ndarray:
        return self.classes

    def fit(self, X, y=None) -> _LeaveOneOutPredictions:
        return self

    def predict(self, X) -> np.ndarray:
        return self.labels[np.asarray(X)]

    def predict_proba(self, X) -> np.ndarray:
        return self.proba[np.asarray(X)]


def _refitted(cv: NCDKNeighborsClassifierCV) -> bool:
    """``available_if`` condition of the chosen model's methods, as in scikit-learn's searches."""
    if not cv.refit:
        raise AttributeError(f"{type(cv).__name__}(refit=False) keeps no model to predict with; refit=True (or a "
                             "scorer name, or a callable) keeps the best candidate")
    return True


def _rank(scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the best score, equal scores sharing the smallest rank, NaN last (as scikit-learn's searches)."""
    if np.isnan(scores).all():
        return np.ones(scores.size, dtype=np.int32)
    filled = np.nan_to_num(scores, nan=np.nanmin(scores) - 1)
    return rankdata(-filled, method="min").astype(np.int32)


class NCDKNeighborsClassifierCV(TextClassifier):
    """:class:`NCDKNeighborsClassifier` with ``n_neighbors`` (and the tie rules) chosen by leave-one-out.

    One train x train neighbour search for the largest candidate k
    (:meth:`NCDIndex.tied_neighbors` with ``X=None, exclude_copies=True``) gives every training
    text its nearest other training texts with their ties; every candidate (a k and a tie rule)
    then votes from it for every training item, and a scikit-learn scorer scores those
    leave-one-out predictions against the training labels. The best candidate's model keeps the
    fitted index (the training side and its tables), so nothing is fitted twice. Scikit-learn's
    ``...CV`` convention (``RidgeCV``, ``LogisticRegressionCV``) with the fitted attributes of its
    searches (``cv_results_``, ``best_params_``, ...).

    Leave-one-out leaves out a text's whole group of identical training texts: a copy of a text
    is at the distance of the text to itself, nearer than anything else, and would vote for it
    (every item of the group is still scored, each against its own label, so copies with
    conflicting labels count as they are). With ``metric="precomputed"`` there are no texts to
    compare, and each item leaves out only itself.

    Parameters
    ----------
    n_neighbors : int or list of int, default=(1, 2, 3, 5, 7, 9)
        Candidate k; each at most the number of training items outside the largest group of
        identical texts.
    compressor, metric, n_jobs, cache_dir, random_state, verbose, search, n_candidates
        As in :class:`NCDKNeighborsClassifier`, shared by every candidate. ``verbose`` also
        prints (to stderr) the estimated time of the train x train search before it starts.
    distance_ties : str or list of str, default="split"
        Candidate ``distance_ties`` rules (see :class:`NCDKNeighborsClassifier`).
        ``"index"`` depends on the training order, and so does the choice it takes part in.
    tie_break : str or list of str, default="nearest"
        Candidate ``tie_break`` rules.
    weights : str, callable or list of them, default="uniform"
        Candidate ``weights``.
    scoring : str, callable, list, tuple, set or dict, default=None
        How leave-one-out predictions are scored, as in scikit-learn's searches: a scorer name
        (``"accuracy"``, ``"f1_macro"``, ``"neg_log_loss"``, ... :func:`sklearn.metrics.get_scorer_names`),
        a scorer ``scorer(estimator, X, y)`` (from a metric ``f(y_true, y_pred)``:
        ``sklearn.metrics.make_scorer(f)``), several of them (a list of names, or a dict of
        name to scorer; then ``refit`` names the one that chooses), or None: accuracy. The
        scorer is given an estimator whose ``predict``/``predict_proba`` of ``X``, an array of
        training indices, are their leave-one-out predictions and vote shares; the score is
        that of all the training items' predictions together (as ``cross_val_predict`` and
        then the metric), not a mean over one-item folds.
    refit : bool, str or callable, default=True
        As in :class:`sklearn.model_selection.GridSearchCV`: True keeps the best candidate as
        ``best_estimator_`` (for several scorers, name the one that chooses); a callable takes
        ``cv_results_`` and returns the index of the candidate to keep; False keeps no model
        (``predict`` is then not available).
    compressor, metric, n_jobs, cache_dir, random_state, verbose, search, n_candidates, device
        As in :class:`NCDKNeighborsClassifier` (one value each; ``n_candidates`` covers the
        largest candidate k).

    Attributes
    ----------
    n_neighbors_ : int
        The chosen k.
    best_params_ : dict
        The chosen candidate: ``n_neighbors``, ``distance_ties``, ``tie_break``, ``weights``.
    best_score_ : float
        Its leave-one-out score (not set with a callable ``refit``).
    best_index_ : int
        Its position in ``cv_results_``. Candidates are ordered by k (ascending), then by the
        order of the ``distance_ties``, ``tie_break`` and ``weights`` lists; of candidates with
        equal scores the first is chosen, i.e. the smallest k.
    best_estimator_ : NCDKNeighborsClassifier
        The chosen model, fitted (sharing this object's ``index_``); only with ``refit``.
    cv_results_ : dict of ndarray
        One entry per candidate, as scikit-learn's searches: ``params`` (list of dict),
        ``param_<name>`` (masked arrays), ``mean_test_<scorer>`` (the leave-one-out score;
        ``mean_test_score`` for a single scorer) and ``rank_test_<scorer>``.
    scorer_ : callable
        The scorer (for several, a scikit-learn multimetric scorer).
    multimetric_ : bool
        Whether several scorers were given.
    n_splits_ : int
        Leave-one-out folds: the number of training items.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_samples_fit_ : int
        Number of training items.
    index_ : NCDIndex
        The fitted search over the training texts (absent with ``metric="precomputed"``).
    n_features_in_ : int
        Only with ``metric="precomputed"``: columns of the fitted matrix.

    Examples
    --------
    >>> from nnzip import NCDKNeighborsClassifierCV
    >>> texts = ["the cat sat", "a cat sat down", "the dog sat", "stocks fell", "shares fell", "bonds fell"]
    >>> clf = NCDKNeighborsClassifierCV(n_neighbors=(1, 3)).fit(texts, ["pet"] * 3 + ["money"] * 3)
    >>> clf.n_neighbors_, clf.cv_results_["mean_test_score"].tolist()
    (1, [1.0, 1.0])
    >>> clf.predict(["a cat sat on the mat"]).tolist()
    ['pet']
    """

    _parameter_constraints: dict = {
        **NCDKNeighborsClassifier._parameter_constraints,
        **{name: [Grid(NCDKNeighborsClassifier._parameter_constraints[name])] for name in GRID_PARAMS},
        "scoring": [InstanceOf(str, "a scorer name"), IsCallable("scorer(estimator, X, y)"),
                    InstanceOf((list, tuple, set, dict), "a list or dict of scorers"), None],
        "refit": [InstanceOf((bool, np.bool_), "a bool"), InstanceOf(str, "a scorer name"),
                  IsCallable("cv_results -> index")],
    }

    def __init__(
        self,
        n_neighbors: int | Sequence[int] = (1, 2, 3, 5, 7, 9),
        *,
        compressor: str | Callable[[bytes], int] = "gzip",
        metric: str = "ncd",
        distance_ties: str | Sequence[str] = "split",
        tie_break: str | Sequence[str] = "nearest",
        weights: str | Callable | Sequence[str | Callable] = "uniform",
        scoring: str | Callable | Sequence[str] | dict | None = None,
        refit: bool | str | Callable = True,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        search: str = "exact",
        n_candidates: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.compressor = compressor
        self.metric = metric
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose
        self.search = search
        self.n_candidates = n_candidates
        self.device = device

    def __sklearn_tags__(self):
        return _input_tags(super().__sklearn_tags__(), self.metric)

    # ---- parameters -------------------------------------------------------------------------

    def _validate_params(self) -> None:
        for name in GRID_PARAMS:
            value = getattr(self, name)
            values = grid_values(value)
            if len(values) == 1 and values[0] is value:
                continue  # one value: checked with the others below
            for i, v in enumerate(values):  # name the candidate that is wrong
                validate_params({f"{name}[{i}]": NCDKNeighborsClassifier._parameter_constraints[name]},
                                {f"{name}[{i}]": v})
            for i, v in enumerate(values):
                if any(v is w or (not callable(v) and v == w) for w in values[:i]):
                    raise ConfigError(f"{name} lists {v!r} twice")
        super()._validate_params()
        check_n_candidates(self.n_candidates, max(grid_values(self.n_neighbors)), self.search)
        self._scorer()

    def _candidates(self) -> list[dict]:
        """Every candidate, by k, then in the order of the other lists (the first of equal scores wins)."""
        return [{"n_neighbors": int(k), "distance_ties": d, "tie_break": t, "weights": w}
                for k in sorted(grid_values(self.n_neighbors)) for d in grid_values(self.distance_ties)
                for t in grid_values(self.tie_break) for w in grid_values(self.weights)]

    def _scorer(self) -> tuple[Callable, list[str]]:
        """scikit-learn's scorer for ``scoring``, and the names of its scores; checks ``refit`` against them."""
        scoring = self.scoring
        several = isinstance(scoring, (list, tuple, set, dict))
        names = list(scoring) if several else []  # type: ignore[arg-type]
        for s in list(scoring.values()) if isinstance(scoring, dict) else names if several else [scoring]:
            if isinstance(s, str) and s not in get_scorer_names():
                raise ConfigError(f"unknown scoring {s!r}: not a scikit-learn scorer name "
                                  "(sklearn.metrics.get_scorer_names() lists them)")
            if callable(s):
                try:
                    inspect.signature(s).bind(None, None, None)
                except TypeError:
                    raise ConfigError(f"scoring {s!r} does not take (estimator, X, y): a scorer is what "
                                      "sklearn.metrics.make_scorer makes of a metric f(y_true, y_pred)") from None
                except ValueError:
                    pass  # no signature to read (a builtin): called as it is
        if several and not names:
            raise ConfigError("scoring is empty: give a scorer name, a list of names or a dict of scorers")
        try:
            scorer = check_scoring(self, scoring)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"scoring: {exc}") from None
        if names:
            if self.refit is True or (isinstance(self.refit, str) and self.refit not in names):
                raise ConfigError(f"refit must name the scorer that chooses ({', '.join(map(str, names))}), be a "
                                  f"callable, or be False with several scorers; got {self.refit!r}")
        return scorer, [str(n) for n in names] or ["score"]

    # ---- fit --------------------------------------------------------------------------------

    def _fit(self, X, y) -> None:
        """Fit one model, search train x train once, score every candidate by leave-one-out."""
        candidates = self._candidates()
        k_max = candidates[-1]["n_neighbors"]
        scorer, names = self._scorer()
        model = NCDKNeighborsClassifier(**{p: getattr(self, p) for p in _SHARED_PARAMS}, **candidates[0])
        model.set_params(n_neighbors=k_max)
        if self.metric == "precomputed":
            D = check_array(X, dtype=np.float64)
            if D.shape[0] != D.shape[1]:
                raise InputError(f"leave-one-out needs the square matrix of training x training distances, "
                                 f"got shape {D.shape}")
            texts, largest = None, 1
        else:
            texts = as_bytes(X, "X")
            largest = max(Counter(texts).values())
        classes, codes = check_labels(y, len(D) if texts is None else len(texts))
        n = codes.size
        if k_max > n - largest:
            copies = f"; the most-copied text occurs {largest} times and leaves with its copies" if largest > 1 else ""
            which = " (the largest candidate)" if len(candidates) > 1 else ""
            raise InputError(f"n_neighbors={k_max}{which} is larger than the training items left for leave-one-out "
                             f"({n - largest} of {n}{copies})")
        y_true = classes[codes]
        # scored in content order (text, label): the same sums, bit for bit, under any training order
        items = content_order(texts, codes)
        # a scorer that cannot score these labels fails now, not after the search
        try:
            scorer(_LeaveOneOutPredictions(y_true, np.eye(len(classes))[codes], classes), items, y_true[items])
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ConfigError(f"scoring {self.scoring!r} cannot score these labels: {exc}") from None
        model.fit(X if texts is None else texts, y)
        if texts is None:
            tied = top_k(D, k_max + 1).exclude_self()
        else:
            if self.verbose:
                self._announce(model.index_)
            tied = model.index_.tied_neighbors(None, k_max, exclude_copies=True)
        by_k = {k: tied.with_k(k) for k in {c["n_neighbors"] for c in candidates}}
        scores = {name: np.empty(len(candidates)) for name in names}
        for i, params in enumerate(candidates):
            labels, proba = model.set_params(**params).vote(by_k[params["n_neighbors"]], texts)
            value = scorer(_LeaveOneOutPredictions(labels, proba, classes), items, y_true[items])
            for name in names:
                scores[name][i] = value[name] if isinstance(value, dict) else value
        self.cv_results_ = self._results(candidates, scores)
        self.scorer_ = scorer
        self.multimetric_ = isinstance(self.scoring, (list, tuple, set, dict))
        self.n_splits_ = n
        self.classes_ = classes
        self.n_samples_fit_ = n
        if texts is None:
            self.n_features_in_ = model.n_features_in_
        else:
            self.index_ = model.index_
        self._select(candidates, names, model)

    def _results(self, candidates: list[dict], scores: dict[str, np.ndarray]) -> dict:
        results: dict = {"params": candidates}
        for name in GRID_PARAMS:
            column = np.ma.MaskedArray(np.empty(len(candidates), dtype=np.int64 if name == "n_neighbors" else object),
                                       mask=False)
            for i, params in enumerate(candidates):
                column[i] = params[name]
            results[f"param_{name}"] = column
        for name, values in scores.items():
            results[f"mean_test_{name}"] = values
            results[f"rank_test_{name}"] = _rank(values)
        return results

    def _select(self, candidates: list[dict], names: list[str], model: NCDKNeighborsClassifier) -> None:
        """``best_*`` and ``n_neighbors_`` as scikit-learn's searches set them; the chosen model when refitting."""
        if callable(self.refit):
            best = self.refit(self.cv_results_)
            if isinstance(best, (bool, np.bool_)) or not isinstance(best, (int, np.integer)):
                raise ConfigError(f"refit returned {best!r}; it must return the index of a candidate (an int)")
            if not 0 <= best < len(candidates):
                raise ConfigError(f"refit returned {best}; there are {len(candidates)} candidates")
        elif self.refit or not self.multimetric_:
            metric = self.refit if isinstance(self.refit, str) and self.multimetric_ else names[0]
            best = int(self.cv_results_[f"rank_test_{metric}"].argmin())  # the first of equal ranks: smallest k
            self.best_score_ = float(self.cv_results_[f"mean_test_{metric}"][best])
        else:
            return
        self.best_index_ = int(best)
        self.best_params_ = candidates[self.best_index_]
        self.n_neighbors_ = self.best_params_["n_neighbors"]
        if self.refit:
            self.best_estimator_ = model.set_params(**self.best_params_)

    def _announce(self, index: NCDIndex) -> None:
        """Print the estimated time of the train x train search (``verbose``), before it starts."""
        warmup()  # so that the estimate does not time compiling
        n = index.n_distinct_
        share = n / index.n_samples_fit_ if index.candidate_index_ is None else (index.n_candidates_ + 1) / n
        seconds = index.estimate_seconds(index.train_texts_) * share
        how = (f"{n:,} x {n:,} distinct training texts" if index.candidate_index_ is None
               else f"{n:,} distinct training texts x {index.n_candidates_ + 1} candidates (rerank)")
        print(f"leave-one-out search of {how}: about {duration_text(seconds)} here", file=sys.stderr)

    # ---- the chosen model ---------------------------------------------------------------------

    @available_if(_refitted)
    def tied_neighbors(self, X=None, n_neighbors: int | None = None) -> TiedNeighbors:
        """:meth:`NCDKNeighborsClassifier.tied_neighbors` of the chosen model (k: ``n_neighbors_``)."""
        check_is_fitted(self)
        return self.best_estimator_.tied_neighbors(X, n_neighbors)

    @available_if(_refitted)
    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """:meth:`NCDKNeighborsClassifier.kneighbors` of the chosen model."""
        check_is_fitted(self)
        return self.best_estimator_.kneighbors(X, n_neighbors, return_distance)

    @available_if(_refitted)
    def cut_ties(self, neighbors: TiedNeighbors) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`NCDKNeighborsClassifier.cut_ties` of the chosen model."""
        check_is_fitted(self)
        return self.best_estimator_.cut_ties(neighbors)

    @available_if(_refitted)
    def vote(self, neighbors: TiedNeighbors, X=None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`NCDKNeighborsClassifier.vote` of the chosen model."""
        check_is_fitted(self)
        return self.best_estimator_.vote(neighbors, X)

    @available_if(_refitted)
    def predict(self, X) -> np.ndarray:
        """Predicted label of each query, by the chosen model."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_refitted)
    def predict_proba(self, X) -> np.ndarray:
        """Vote shares of each query, by the chosen model; columns in ``classes_`` order."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)
