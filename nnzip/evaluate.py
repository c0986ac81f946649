"""The classify job: read, check, fit, predict, score and write, behind ``nnzip classify`` and the experiments.

:func:`classify` is the whole job; the command line and the experiments runner both call it.
:func:`score` is the one place where a run's figures are computed (accuracy, macro-F1, the
paper's top-k tie figure, what distance ties and the training order would do under the
index-ordered convention, and the rule that scores a test set without the texts it shares
with the training set).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score, f1_score

from . import data
from ._version import __version__
from .cache import BlockCache
from .data import Dataset, duplicate_mask
from .errors import ConfigError, InputError, Interrupted, NNZipError
from .fileio import check_output_paths, write_output
from .index import count_blocks, duration_text, kernels_need_compiling, warmup
from .metrics import tie_order_effect, top_k_tie_accuracy
from .models import make_model, model_params
from .tied_neighbors import TiedNeighbors
from .validation import check_labels, check_params

# models whose finished work stays in their cache_dir, and what it is (for the Ctrl-C message)
_KEPT = {"gzip-knn": "blocks", "embedding-knn": "embeddings"}
# a result file's name for each model parameter it records, when the model takes it
RECORDED = {"k": "n_neighbors", "distance_ties": "distance_ties", "tie_break": "tie_break", "compressor": "compressor",
            "metric": "metric", "checkpoint": "model_name", "max_epochs": "epochs", "max_length": "max_length"}
# an exact search estimated to take longer than this many seconds is announced, with the alternative
_ANNOUNCE_SECONDS = 60
# the training-order figures enumerate at most this many label sequences (else they are skipped)
_TIE_SEQUENCES = 1_000_000


@dataclass
class DataSpec:
    """Where a job's data comes from: a training and a test file, a dataset by name, or BBC News.

    Attributes
    ----------
    train, test : path or None
        Training file (labels required) and test file (labels optional), given together.
    dataset : str or None
        ``"bbc"``, a folder under ``$NNZIP_DATA_DIR``, or a Hugging Face hub name (without
        files or a name: the embedded BBC News split).
    text_col, label_col : str
        Columns of CSV, JSON-lines and Parquet files (and of hub datasets, when not the defaults).
    encoding_errors : {"strict", "replace"}
        What to do with bytes that are not UTF-8.
    """

    train: str | os.PathLike | None = None
    test: str | os.PathLike | None = None
    dataset: str | None = None
    text_col: str = "text"
    label_col: str = "label"
    encoding_errors: str = "strict"

    def __post_init__(self) -> None:
        if (self.train is None) != (self.test is None) or (self.train is not None and self.dataset is not None):
            raise ConfigError("give a training and a test file together, or a dataset name, not both")
        data.check_columns(self.text_col, self.label_col)

    def inputs(self) -> list[Path]:
        """The files the job reads (outputs must never be one of them)."""
        files = [Path(p) for p in (self.train, self.test) if p is not None]
        local = data.local_datasets()
        if self.dataset in local:
            files += [local[self.dataset] / f"{split}.tsv.gz" for split in ("train", "test")]
        return files

    def load(self) -> Dataset:
        """Read and check the data (:func:`nnzip.data.check_dataset`)."""
        if self.train is not None:
            return data.load_files(self.train, self.test, self.text_col, self.label_col, self.encoding_errors)  # type: ignore[arg-type]
        # hub datasets have their own default columns; pass ours only when they were changed
        return data.load_dataset(self.dataset or data.BBC_NAME, None if self.text_col == "text" else self.text_col,
                                 None if self.label_col == "label" else self.label_col, self.encoding_errors)


def _figures(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def tie_figures(ds: Dataset, tied: TiedNeighbors, keep: np.ndarray, tie_break: str = "nearest",
                weights="uniform") -> dict | None:
    """What the training order would do under the index-ordered convention, on the items ``keep``.

    The exact figures of :func:`nnzip.metrics.tie_order_effect` for the vote ``tie_break`` and
    ``weights``, plus ``n_mixed_ties``: test items with differently-labelled training texts
    tied at the k-th distance. ``None`` when there are too many label sequences to enumerate
    cheaply (more than ``_TIE_SEQUENCES``).
    """
    tied = tied.take(keep)
    labels = np.asarray(ds.y_train, dtype=object)[tied.indices]
    rows, at_kth = tied.rows, tied.distances == np.repeat(tied.boundary_distance, tied.row_lengths)
    first = np.full(tied.n_queries, None, dtype=object)
    first[rows[at_kth][::-1]] = labels[at_kth][::-1]  # one label at the k-th distance of each row
    mixed = np.bincount(rows[at_kth & (labels != first[rows])], minlength=tied.n_queries) > 0
    try:
        effect = tie_order_effect(tied, ds.y_train, np.asarray(ds.y_test, dtype=object)[keep].tolist(),
                                  tie_break=tie_break, weights=weights, max_sequences=_TIE_SEQUENCES)
    except NNZipError:
        return None
    return {**effect.summary(), "n_mixed_ties": int(mixed.sum())}


def score(ds: Dataset, predictions, neighbor_labels: np.ndarray | None = None, *,
          remove_duplicates: bool = False, tied: TiedNeighbors | None = None, tie_break: str = "nearest",
          weights="uniform") -> dict:
    """The figures of one run on the test part of ``ds``.

    Parameters
    ----------
    ds : Dataset
        The data the run used.
    predictions : array-like of shape (n_test,)
        Predicted label of each test item.
    neighbor_labels : ndarray of shape (n_test, k), optional
        Labels of each test item's nearest training items (kNN models), for the paper's
        top-k tie figure (:func:`nnzip.metrics.top_k_tie_accuracy`).
    remove_duplicates : bool, default=False
        Score only the test items whose text does not occur in the training set (exact
        duplicates are their own nearest neighbour), and give the figures on every item as
        ``accuracy_with_duplicates``, ``macro_f1_with_duplicates``, ``n_test_with_duplicates``.
    tied : TiedNeighbors, optional
        The kNN model's neighbours with their ties at the k-th distance, for the figures of
        the index-ordered convention (:func:`tie_figures`) under the vote ``tie_break`` and
        ``weights``.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``top_k_tie_accuracy`` (``None`` without test labels, the
        last also without neighbour labels), ``n_train``, ``n_test`` (items scored) and
        ``duplicates`` (test items whose text occurs in the training set); with ``tied`` and
        test labels, ``training_order``: :func:`tie_figures` (``None`` when skipped).
    """
    dup = duplicate_mask(ds.X_train, ds.X_test)
    keep = ~dup if remove_duplicates else np.ones(len(dup), dtype=bool)
    out: dict = {"accuracy": None, "macro_f1": None, "top_k_tie_accuracy": None, "n_train": len(ds.X_train),
                 "n_test": int(keep.sum()), "duplicates": int(dup.sum())}
    if ds.y_test is None:
        return out
    # labels were checked to be all str or all int (nnzip.validation.check_labels), so plain
    # arrays have a dtype scikit-learn's metrics understand; object arrays of ints do not
    y_true = np.asarray(ds.y_test)
    y_pred = np.asarray(np.asarray(predictions).tolist())
    out |= _figures(y_true[keep], y_pred[keep])
    if neighbor_labels is not None:
        out["top_k_tie_accuracy"] = top_k_tie_accuracy(y_true[keep].tolist(), neighbor_labels[keep])
    if tied is not None and keep.any():
        out["training_order"] = tie_figures(ds, tied, keep, tie_break, weights)
    if remove_duplicates:
        every = _figures(y_true, y_pred)
        out |= {"accuracy_with_duplicates": every["accuracy"], "macro_f1_with_duplicates": every["macro_f1"],
                "n_test_with_duplicates": len(y_true)}
    return out


@dataclass
class Evaluation:
    """A fitted model, its predictions on a test set and their figures.

    Attributes
    ----------
    model : estimator
        The fitted model (for a search that chose k, the search; its choice predicted).
    dataset : Dataset
        The data it was fitted and evaluated on.
    predictions : ndarray
        Predicted label per test item.
    neighbors : tuple of ndarray or None
        ``(distances, indices)`` of each test item's k nearest training items (kNN models; the
        model's ``kneighbors``).
    tied : TiedNeighbors or None
        The same with every training item tied at the k-th distance (kNN models).
    metrics : dict
        :func:`score`'s figures and ``seconds`` (fit and predict).
    fit_seconds, predict_seconds : float
        The two parts of ``seconds``.
    blocks, blocks_from_cache : int
        Blocks of query rows the neighbour search had, and how many of them it read back from
        the block cache (:func:`classify` of ``gzip-knn``; else 0).
    """

    model: BaseEstimator
    dataset: Dataset
    predictions: np.ndarray
    neighbors: tuple[np.ndarray, np.ndarray] | None
    tied: TiedNeighbors | None = None
    metrics: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    blocks: int = 0
    blocks_from_cache: int = 0

    @property
    def nearest_distance(self) -> np.ndarray | None:
        """Distance of each test item to its nearest training item (kNN models), else ``None``."""
        return None if self.neighbors is None else self.neighbors[0][:, 0]


def evaluate(model: BaseEstimator, ds: Dataset, *, remove_duplicates: bool = False,
             on_fitted: Callable[[BaseEstimator], object] | None = None) -> Evaluation:
    """Fit ``model`` on the training part of ``ds``, predict the test part and score it.

    A kNN model (one with ``tied_neighbors`` and ``vote``) searches once and predicts from those
    neighbours, which also gives the paper's top-k tie figure and the training-order figures
    (:func:`tie_figures`). ``on_fitted`` is called between fit and predict, outside the timed parts.
    """
    start = time.perf_counter()
    model.fit(ds.X_train, ds.y_train)
    fit_seconds = time.perf_counter() - start
    if on_fitted is not None:
        on_fitted(model)
    return predict_scored(model, ds, remove_duplicates=remove_duplicates, fit_seconds=fit_seconds)


def predict_scored(model: BaseEstimator, ds: Dataset, *, remove_duplicates: bool = False,
                   scored: Dataset | None = None, fit_seconds: float = 0.0) -> Evaluation:
    """Predict the test part of ``ds`` with a fitted model and score it: :func:`evaluate` after the fit.

    ``scored``: the data to score on when it differs from ``ds`` (a saved model: the training
    part as digests of the texts with the model's labels, :func:`nnzip.jobs.predict_saved`).
    """
    start = time.perf_counter()
    neighbors = neighbor_labels = tied = None
    scored = ds if scored is None else scored
    chosen = getattr(model, "best_estimator_", model)  # a search (k chosen by leave-one-out) predicts with its choice
    if hasattr(chosen, "tied_neighbors") and hasattr(chosen, "vote"):
        tied = chosen.tied_neighbors(ds.X_test)
        predictions = chosen.vote(tied, ds.X_test)[0]
        neighbors = chosen.cut_ties(tied)
        neighbor_labels = np.asarray(scored.y_train, dtype=object)[neighbors[1]]
    else:
        predictions = np.asarray(chosen.predict(ds.X_test))
    predict_seconds = time.perf_counter() - start
    vote_rule = {"tie_break": chosen.tie_break, "weights": chosen.weights} if tied is not None else {}
    metrics = {**score(scored, predictions, neighbor_labels, remove_duplicates=remove_duplicates, tied=tied,
                       **vote_rule),
               "seconds": round(fit_seconds + predict_seconds, 3)}
    if hasattr(model, "cv_results_"):
        metrics["k_selection"] = k_selection(model, fit_seconds)
    return Evaluation(model, ds, predictions, neighbors, tied, metrics, fit_seconds, predict_seconds)


def _name(value) -> str | int:
    """A parameter value as a result file records it (a callable by its name)."""
    return value if isinstance(value, (str, int)) else str(getattr(value, "__name__", repr(value)))


def k_selection(search, seconds: float) -> dict:
    """What a model that chose k by leave-one-out (:class:`nnzip.NCDKNeighborsClassifierCV`) found.

    Returns
    -------
    dict
        ``n_neighbors`` (the chosen k), ``best_params``, ``scoring``, ``best_score``, ``n_items``
        (items scored), ``seconds`` (its fit: the train x train search and the votes) and
        ``candidates``: per candidate its parameters, its score under each scorer and its rank.
    """
    results = search.cv_results_
    names = [key[len("mean_test_"):] for key in results if key.startswith("mean_test_")]
    candidates = []
    for i, params in enumerate(results["params"]):
        row: dict = {key: _name(value) for key, value in params.items()}
        for name in names:
            row[name] = float(results[f"mean_test_{name}"][i])
            row[f"rank_{name}"] = int(results[f"rank_test_{name}"][i])
        candidates.append(row)
    scoring = search.scoring
    several = isinstance(scoring, (list, tuple, set, dict))
    return {"n_neighbors": getattr(search, "n_neighbors_", None),
            "best_params": {key: _name(v) for key, v in getattr(search, "best_params_", {}).items()},
            "scoring": [_name(s) for s in scoring] if several else "accuracy" if scoring is None else _name(scoring),
            "best_score": getattr(search, "best_score_", None), "n_items": int(search.n_splits_),
            "seconds": round(seconds, 3), "candidates": candidates}


def k_selection_table(selection: dict) -> str:
    """The candidates of :func:`k_selection` as a text table, the chosen one marked."""
    rows = selection["candidates"]
    keys = [key for key in rows[0] if not key.startswith("rank_")] + [key for key in rows[0] if key.startswith("rank_")]
    chosen = selection["best_params"]
    cells = [[("*" if all(row.get(k) == v for k, v in chosen.items()) else "")] +
             [f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys] for row in rows]
    header = [""] + keys
    widths = [max(len(str(r[i])) for r in [header, *cells]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in [header, *cells])


def _announce_long_search(say: Callable[[str], object], ds: Dataset) -> Callable[[BaseEstimator], None]:
    """After fit: the time an exact search will take here, with the alternative, when it is long."""

    def announce(fitted) -> None:
        seconds = fitted.index_.estimate_seconds(ds.X_test)
        if seconds > _ANNOUNCE_SECONDS:
            say(f"exact search of {len(ds.X_test) * len(ds.X_train):,} pairs: about {duration_text(seconds)} here "
                "(finished blocks in the cache are not recomputed); --search rerank ranks only a few "
                "candidates per text by the exact distance, in a fraction of the time")

    return announce


def classify(
    model: str,
    data_from: Dataset | DataSpec,
    params: Mapping[str, object] | None = None,
    *,
    remove_duplicates: bool = False,
    output: str | os.PathLike | None = None,
    metrics_json: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    say: Callable[[str], object] | None = None,
) -> Evaluation:
    """The classify job: check everything, read the data, fit, predict, score, write.

    Everything that can be checked (model parameters, output paths, the cache folder, then
    the files and labels) is checked before the model is fitted.

    Parameters
    ----------
    model : str
        A model name (:data:`nnzip.models.MODELS`).
    data_from : Dataset or DataSpec
        The data, or where to read it.
    params : mapping, optional
        Model parameters; those the model does not take are dropped (one set of options for
        every model, see :func:`nnzip.models.make_model`).
    remove_duplicates : bool, default=False
        See :func:`score`.
    output : path, optional
        Write ``id, predicted[, true][, neighbor_distance]`` rows here as CSV, only if the run
        succeeds: ``-`` is stdout, a pipe or terminal is written straight, a file atomically
        (:func:`nnzip.fileio.write_output`).
    metrics_json : path, optional
        Write the figures here as JSON, with the model, dataset, recorded parameters
        (:data:`RECORDED`) and where a trained model ran (its ``run_info()``).
    report : path, optional
        Write an HTML report here (:func:`nnzip.report.write_report`; needs ``nnzip[report]``).
    say : callable, optional
        Receives notes for the person running the job (the data, duplicates, a long search
        ahead); with it, test texts shared with the training set above 1% are also warned about.

    Returns
    -------
    Evaluation

    Raises
    ------
    NNZipError
        For any problem found by the checks, before the model is fitted.
    Interrupted
        On Ctrl-C, saying where the finished work of the model was kept.
    """
    params = dict(params or {})
    clf = make_model(model, strict=False, **params)
    check_params(clf)
    inputs = data_from.inputs() if isinstance(data_from, DataSpec) else []
    # before reading anything: an output must not be an input or another output, and must be writable
    check_output_paths({"--output": output, "--metrics-json": metrics_json, "--report": report}, inputs)
    if report is not None:
        from .report import require_report_libraries

        require_report_libraries()
    takes = set(model_params(model))
    cache_dir = params.get("cache_dir") if "cache_dir" in takes else None
    if cache_dir and not BlockCache(cache_dir).check_writable():  # type: ignore[arg-type]
        cache_dir = None  # warned about once; the run goes on without it
        clf.set_params(cache_dir=None)
    ds = data_from.load() if isinstance(data_from, DataSpec) else data_from
    k = getattr(clf, "n_neighbors", None)
    if isinstance(k, int) and k > len(ds.X_train):  # (a search checks its candidates against leave-one-out)
        raise InputError(f"k={k} is larger than the training set ({len(ds.X_train)} items)")
    on_fitted = None
    if say is not None:
        _notes(say, model, ds)
    if model == "gzip-knn":
        _warmup(say, clf.device)  # compiling is never counted in the seconds
        if say is not None and clf.search == "exact":
            on_fitted = _announce_long_search(say, ds)
    try:
        with count_blocks() as count:
            ev = evaluate(clf, ds, remove_duplicates=remove_duplicates, on_fitted=on_fitted)
    except KeyboardInterrupt:
        raise Interrupted(cache_dir, _KEPT.get(model, "")) from None
    ev.blocks, ev.blocks_from_cache = count.blocks, count.from_cache
    if say is not None:
        note_ties(ev)
        chosen = ev.metrics.get("k_selection")
        if chosen is not None and chosen["n_neighbors"] is not None:
            best = "" if chosen["best_score"] is None else f"{chosen['scoring']} {chosen['best_score']:.4f} "
            say(f"k={chosen['n_neighbors']} chosen by leave-one-out on the training set: {best}over "
                f"{chosen['n_items']:,} items, of {len(chosen['candidates'])} candidates ({chosen['seconds']:.1f} s)")
    if output:
        write_predictions(output, ev)
    if metrics_json:
        recorded = {name: params[p] for name, p in RECORDED.items() if p in takes and params.get(p) is not None}
        info = clf.run_info() if hasattr(clf, "run_info") else {}
        blocks = {"blocks": ev.blocks, "blocks_from_cache": ev.blocks_from_cache} if ev.blocks else {}
        write_json(metrics_json, {**ev.metrics, "model": model, "dataset": ds.name, **info, **recorded, **blocks})
    if report:
        from .report import write_report

        write_report(report, ev, title=f"nnzip classify: {ds.name} with {model}", say=say)
    return ev


def _warmup(say: Callable[[str], object] | None, device: str) -> None:
    """Compile (or load) the kernels before the timed work, saying so when it is a first run's compile."""
    if say is None or not kernels_need_compiling():
        warmup(device)
        return
    say("compiling kernels, first run only (a minute or so; not counted in the seconds) ...")
    start = time.perf_counter()
    warmup(device)
    say(f"kernels compiled in {time.perf_counter() - start:.0f} s")


def _notes(say: Callable[[str], object], model: str, ds: Dataset) -> None:
    n_classes = len(check_labels(ds.y_train, len(ds.X_train))[0])  # the classes the model will see
    say(f"{ds.name}: {len(ds.X_train)} train, {len(ds.X_test)} test, {n_classes} classes; model {model}")
    for note in ds.notes:
        say(f"  {note}")
    dup = int(duplicate_mask(ds.X_train, ds.X_test).sum())
    share = dup / len(ds.X_test)
    say(f"exact duplicates shared by train and test: {dup} ({share:.2%} of test)")
    if share > 0.01:
        warnings.warn(f"{share:.1%} of test texts also occur in the training set; accuracy is inflated",
                      UserWarning, stacklevel=3)


def recorded_params(model: BaseEstimator) -> dict:
    """A fitted model's parameters that a result file records (:data:`RECORDED`), under the file's names
    (a saved model's: the classify job records those it was given)."""
    params = model.get_params(deep=False)
    return {name: params[p] for name, p in RECORDED.items() if params.get(p) is not None}


def note_ties(ev: Evaluation) -> None:
    """One line when the training order would decide more than 1% of the predictions (index-ordered)."""
    figures = ev.metrics.get("training_order")
    if not figures or figures["n_order_dependent"] <= 0.01 * figures["n_queries"]:
        return
    k, n = figures["n_neighbors"], figures["n_order_dependent"]
    distance_ties = getattr(ev.model, "best_estimator_", ev.model).distance_ties
    which = ("this run's distance_ties='index' lets the file order decide them" if distance_ties == "index"
             else f"this run's distance_ties={distance_ties!r} does not depend on it")
    warnings.warn(
        f"{n} test items ({n / figures['n_queries']:.1%}) have differently-labelled training texts tied at the "
        f"k-th distance (k={k}) that the file order would choose from; with the file order deciding (the paper's "
        f"convention) accuracy would be {figures['accuracy_expected']:.4f} on average over orders, between "
        f"{figures['accuracy_min_bound']:.4f} and {figures['accuracy_max_bound']:.4f}; {which}",
        UserWarning, stacklevel=3)


def _write(path: str | os.PathLike, write) -> None:
    try:
        write_output(path, write)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_predictions(path: str | os.PathLike, ev: Evaluation) -> None:
    """Write ``id, predicted[, true][, neighbor_distance]`` rows as CSV (atomically, or to stdout for ``-``)."""
    y_true = ev.dataset.y_test
    nearest = ev.nearest_distance
    header = ["id", "predicted"] + (["true"] if y_true is not None else [])
    header += ["neighbor_distance"] if nearest is not None else []

    def write(f) -> None:
        w = csv.writer(f)
        w.writerow(header)
        for i, pred in enumerate(ev.predictions):
            row = [i, pred] + ([y_true[i]] if y_true is not None else [])
            row += [f"{nearest[i]:.6f}"] if nearest is not None else []
            w.writerow(row)

    _write(path, write)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON (atomically, or to stdout for ``-``)."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    _write(path, lambda f: f.write(text))


def _json_default(value):
    # numpy scalars (an int label, a count) serialise as the Python value they hold
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def machine() -> dict:
    """Where figures were produced: CPU model, cores, Python, zlib and nnzip versions (for result files)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "nnzip": __version__}
