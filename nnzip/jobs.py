"""Fit once, use later: the jobs behind ``nnzip fit``, ``nnzip predict`` and ``nnzip explain``.

:func:`fit_job` reads a training set, fits a model and saves it (:mod:`nnzip.persistence`);
:func:`predict_job` loads it, classifies a file (labelled or not) and writes what
``nnzip classify`` writes; :func:`explain_job` explains one text (:mod:`nnzip.explain`). Like
the classify job, each checks everything it can (parameters, paths, the model file) before
the long work starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from . import data
from .classifier import RUN_SETTINGS
from .data import Dataset
from .errors import InputError
from .evaluate import Evaluation, note_ties, predict_scored, recorded_params, write_json, write_predictions
from .explain import Explanation, explain, is_knn, training_labels
from .fileio import check_output_paths, writable_dir_problem
from .index import warmup
from .models import make_model, model_params
from .persistence import SavedModel, open_model, save_model, text_digests
from .validation import check_params


def _say(say: Callable[[str], object] | None) -> Callable[[str], object]:
    return say if say is not None else (lambda msg: None)


def fit_job(
    model: str,
    *,
    train: str | os.PathLike | None = None,
    dataset: str | None = None,
    params: Mapping[str, object] | None = None,
    model_out: str | os.PathLike,
    text_col: str = "text",
    label_col: str = "label",
    encoding_errors: str = "strict",
    say: Callable[[str], object] | None = None,
) -> BaseEstimator:
    """Fit a model on a training file (or a dataset's training split) and save it to ``model_out``.

    Parameters
    ----------
    model : str
        A model name (:data:`nnzip.models.MODELS`).
    train : path, optional
        Training file (labels required), in any format :func:`nnzip.data.read_file` reads.
    dataset : str, optional
        Instead of ``train``: a dataset by name (its training split).
    params : mapping, optional
        Model parameters; those the model does not take are dropped (as in ``classify``).
    model_out : path
        The model file to write (a folder for the transformer); written only when fitting succeeds.
    text_col, label_col, encoding_errors
        As for ``classify``.
    say : callable, optional
        Receives notes for the person running the job.

    Returns
    -------
    estimator
        The fitted model, as saved.
    """
    say = _say(say)
    params = dict(params or {})
    clf = make_model(model, strict=False, **params)
    check_params(clf)
    if (train is None) == (dataset is None):
        raise InputError("give a training file (--train) or a dataset name (--dataset), one of them")
    out = Path(model_out)
    if model == "transformer":  # a folder: its own save
        if out.exists() and not out.is_dir():
            raise InputError(f"--model-out {out} is a file; the transformer is saved as a folder, give a folder name")
        problem = writable_dir_problem(out.parent, create=False)
        if problem:
            raise InputError(f"--model-out {out} cannot be written: {problem}")
    else:
        check_output_paths({"--model-out": out}, [train] if train is not None else [])
    if train is not None:
        X, y = data.load_training_file(train, text_col, label_col, encoding_errors)
        name = Path(train).name
    else:
        ds = data.load_dataset(dataset)  # type: ignore[arg-type]
        X, y, name = ds.X_train, ds.y_train, f"{ds.name} (training split)"
    k = getattr(clf, "n_neighbors", None)
    if isinstance(k, int) and k > len(X):  # a list of candidates (-k auto) is checked by the search itself
        raise InputError(f"k={k} is larger than the training set ({len(X)} items)")
    say(f"{name}: {len(X)} training texts, {len(set(y))} classes; model {model}")
    if model == "gzip-knn":
        warmup()
    start = time.perf_counter()
    clf.fit(X, y)
    if hasattr(clf, "best_estimator_"):  # -k auto: the file holds the model the leave-one-out search chose
        say(f"k={clf.n_neighbors_} ({', '.join(f'{k}={v}' for k, v in clf.best_params_.items() if k != 'n_neighbors')})"
            f" chosen by leave-one-out on the training set: {clf.best_score_:.4f}")
        clf = clf.best_estimator_
    if "cache_dir" in model_params(model):
        clf.set_params(cache_dir=None)  # where a run keeps its blocks is the run's choice, not the model's
    save_model(clf, out, training_texts=X)
    say(f"fitted in {time.perf_counter() - start:.1f} s; model written to {out}")
    return clf


def _apply_run_settings(model: BaseEstimator, settings: Mapping[str, object]) -> None:
    takes = model.get_params(deep=False)
    model.set_params(**{k: v for k, v in settings.items() if k in takes and k in RUN_SETTINGS})


def _digest_list(digests: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in digests]


def predict_saved(saved: SavedModel, ds: Dataset) -> Evaluation:
    """Predict the test part of ``ds`` with a loaded model and score it as ``classify`` does.

    ``ds.X_train`` is not used (the model is fitted); duplicates between the training set and
    the test texts are counted from the file's digests of the training texts. A kNN model's
    search keeps every training item tied with the k-th (``ev.tied``), from which it votes and
    the distance-tie figures are computed, as in the classify job.
    """
    model, digests = saved.model, saved.training_digests
    y_train = training_labels(model, np.arange(model.n_samples_fit_)).tolist() if is_knn(model) else []
    # the duplicates rule of score() on digests: equal texts have equal digests
    scored = Dataset(ds.name, [] if digests is None else _digest_list(digests), y_train,
                     ds.X_test if digests is None else _digest_list(text_digests(ds.X_test)), ds.y_test)
    ev = predict_scored(model, ds, scored=scored)
    if digests is None:  # unknown: the file has no digests of its training texts
        ev.metrics |= {"duplicates": None, "n_train": saved.header.get("n_samples_fit")}
    return ev


def predict_job(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    *,
    text_col: str = "text",
    label_col: str = "label",
    encoding_errors: str = "strict",
    settings: Mapping[str, object] | None = None,
    device: str | None = None,
    output: str | os.PathLike | None = None,
    metrics_json: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    say: Callable[[str], object] | None = None,
) -> Evaluation:
    """Classify a file with a saved model; score it when it has labels; write what was asked for.

    Parameters
    ----------
    model_path : path
        A file written by ``nnzip fit`` (:func:`nnzip.save_model`).
    input_path : path
        Texts to classify, labels optional, in any format ``classify`` reads.
    settings : mapping, optional
        Run settings for the loaded model: ``n_jobs``, ``cache_dir``, ``verbose``.
    device : str, optional
        Where the loaded model computes (:func:`nnzip.open_model`).
    output, metrics_json, report : path, optional
        Predictions (CSV), figures (JSON) and an HTML report (:func:`nnzip.report.write_report`).

    Returns
    -------
    Evaluation
        With ``metrics["accuracy"]`` ``None`` for an unlabelled file.
    """
    say = _say(say)
    outputs = {"--output": output, "--metrics-json": metrics_json, "--report": report}
    check_output_paths(outputs, [input_path, model_path])
    if report is not None:
        from .report import require_report_libraries

        require_report_libraries()
    saved = open_model(model_path, device=device)
    model = saved.model
    _apply_run_settings(model, dict(settings or {}))
    X, y = data.read_file(input_path, text_col, label_col, encoding_errors)
    if not X:
        raise InputError(f"{input_path}: no texts in it")
    classes = np.asarray(model.classes_).tolist()
    # the label rules of classify, against the model's classes (the texts are not needed for them)
    ds = data.check_dataset(Dataset(Path(input_path).name, [""] * len(classes), classes, X, y))
    ds = Dataset(ds.name, [], [], X, y)
    say(f"{ds.name}: {len(X)} texts{'' if y is not None else ' (no labels)'}; model {saved.name} from {model_path} "
        f"({saved.header.get('n_samples_fit')} training texts, {len(classes)} classes)")
    if saved.name == "gzip-knn":
        warmup()
    ev = predict_saved(saved, ds)
    note_ties(ev)
    if output:
        write_predictions(output, ev)
    if metrics_json:
        write_json(metrics_json, {**ev.metrics, "model": saved.name, "model_file": str(model_path),
                                  "dataset": ds.name, **recorded_params(model)})
    if report:
        from .report import write_report

        write_report(report, ev, title=f"nnzip predict: {ds.name} with {Path(model_path).name}",
                     say=say)
    return ev


def explain_job(
    model_path: str | os.PathLike,
    text: str | None = None,
    *,
    input_path: str | os.PathLike | None = None,
    row: int | None = None,
    text_col: str = "text",
    label_col: str = "label",
    encoding_errors: str = "strict",
    settings: Mapping[str, object] | None = None,
) -> Explanation:
    """Explain a saved kNN model's prediction for one text: given, or row ``row`` of a file.

    ``row`` is 0-based, the ``id`` of ``nnzip predict``'s output.
    """
    if (text is None) == (input_path is None):
        raise InputError("give the text to explain, or --input FILE with --row N, not both")
    if input_path is not None and row is None:
        raise InputError("--input needs --row N: which text of the file to explain (0-based, as predict's id)")
    if text is not None and row is not None:
        raise InputError("--row goes with --input")
    if text is not None and not text.strip():
        raise InputError("the text to explain is empty")
    saved = open_model(model_path)
    if not is_knn(saved.model):
        raise InputError(f"explain shows the nearest training texts of a kNN model; {model_path} holds a "
                         f"{saved.name} model, which does not classify by neighbours")
    if input_path is not None:
        X, _ = data.read_file(input_path, text_col, label_col, encoding_errors)
        if not 0 <= row < len(X):  # type: ignore[operator]
            raise InputError(f"--row {row} is out of range: {input_path} has {len(X)} texts (rows 0 to {len(X) - 1})")
        text = X[row]  # type: ignore[index]
    _apply_run_settings(saved.model, dict(settings or {}))
    return explain(saved.model, text)  # type: ignore[arg-type]
