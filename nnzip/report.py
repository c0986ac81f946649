"""One self-contained HTML page about a run: ``nnzip classify --report`` and ``nnzip predict --report``.

The page holds the figures, per-class precision, recall and F1 (scikit-learn), a confusion
matrix drawn by matplotlib and inlined as a PNG data URI, the leakage (test texts that are
also training texts) and distance-tie figures (those the run computed: the ``training_order``
figures of :func:`nnzip.evaluate.tie_figures`, from the run's neighbours with every training
text tied at the k-th distance), and a sample of misclassified texts with those neighbours,
the substrings gzip reused highlighted (:func:`nnzip.explain.pair_reuse`). CSS is inline and
nothing is loaded from the network. The page comes from a Jinja2 template with autoescaping:
every text in it is escaped.

Needs the ``report`` extra (Jinja2 and matplotlib): :func:`require_report_libraries`.
"""

from __future__ import annotations

import base64
import datetime
import io
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._version import __version__
from .errors import InputError, MissingDependencyError
from .explain import DISTANCE_TIE_RULES, is_knn, pair_reuse, training_labels
from .fileio import atomic_write
from .models import name_of
from .neighbors import vote_weights

if TYPE_CHECKING:
    from .data import Dataset
    from .tied_neighbors import TiedNeighbors


class Evaluation(Protocol):
    """What a report reads of a run: :class:`nnzip.evaluate.Evaluation` (the classify job's and predict's)."""

    model: Any
    dataset: Dataset
    predictions: np.ndarray
    neighbors: tuple[np.ndarray, np.ndarray] | None
    tied: TiedNeighbors | None
    metrics: dict


#: Misclassified test texts shown (a seeded sample when there are more).
SAMPLE_SIZE = 12
_TEXT_CHARS = 2000  # characters of a text shown on the page
_ROW_CAP = 20  # neighbours shown per example (the k nearest and those tied with the k-th)
_TEMPLATE = "report.html.j2"


def require_report_libraries() -> None:
    """Check that Jinja2 and matplotlib can be imported (before any long work).

    Raises
    ------
    MissingDependencyError
        Naming the pip command.
    """
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f'HTML reports need Jinja2 and matplotlib ({exc.name} is missing): pip install "nnzip[report]"') from None


def confusion_png(y_true, y_pred, labels: list) -> str:
    """The confusion matrix as a ``data:image/png;base64,...`` URI (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    size = min(4 + 0.45 * len(labels), 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    try:
        ConfusionMatrixDisplay.from_predictions(
            y_true, y_pred, labels=labels, display_labels=[str(c) for c in labels], ax=ax, colorbar=False,
            cmap="Blues", xticks_rotation="vertical", values_format="d",
            text_kw={"fontsize": 8 if len(labels) > 12 else 10})
        ax.set_title("Confusion matrix (rows: true class, columns: predicted)")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS] + f" … ({len(text) - _TEXT_CHARS} more characters)"


def _cut_segments(segs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out, shown = [], 0
    for text, kind in segs:
        if shown >= _TEXT_CHARS:
            total = sum(len(t) for t, _ in segs)
            out.append((f" … ({total - shown} more characters)", ""))
            break
        part = text[: _TEXT_CHARS - shown]
        out.append((part, kind))
        shown += len(part)
    return out


def _as_str(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)


def _training_texts(ev: Evaluation):
    if ev.dataset.X_train:
        return ev.dataset.X_train
    return getattr(ev.model, "train_texts_", None)


def _per_class(y_true, y_pred, labels: list) -> list[dict]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return [{"label": str(c), "precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
            for i, c in enumerate(labels)]


def _tie_figures(ev: Evaluation) -> dict | None:
    """The distance-tie figures of the run: how many rows have a tie at the k-th distance beyond
    the k places, and the run's ``training_order`` figures (the index-ordered convention)."""
    tied = ev.tied
    if tied is None or not is_knn(ev.model):
        return None
    rule = ev.model.distance_ties
    return {"k": tied.n_neighbors, "n": tied.n_queries, "labelled": ev.dataset.y_test is not None,
            "distance_ties": rule, "rule": DISTANCE_TIE_RULES[rule],
            "with_boundary_ties": int((tied.row_lengths > tied.n_neighbors).sum()),
            # absent: no labels; None: too many label sequences to enumerate (nothing is approximated)
            "computed": "training_order" in ev.metrics, "order": ev.metrics.get("training_order")}


def _sample(ev: Evaluation, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Rows shown: misclassified ones when labelled (a seeded sample), else a sample of all."""
    n = len(ev.predictions)
    if ev.dataset.y_test is not None:
        wrong = np.flatnonzero(np.asarray(ev.dataset.y_test, dtype=object) != np.asarray(ev.predictions, dtype=object))
        rows = wrong
    else:
        rows = np.arange(n)
    if len(rows) > SAMPLE_SIZE:
        rows = np.sort(rng.choice(rows, SAMPLE_SIZE, replace=False))
    return rows, ev.dataset.y_test is not None


def _rows(ev: Evaluation, i: int) -> tuple[list, list, list, list]:
    """Neighbours of test item ``i``: distances, indices, whether at the k-th distance beyond
    the k places (tied), vote weights (shares); all tied ones when the run has them."""
    if ev.tied is not None:
        tied = ev.tied.take(np.array([i]))
        dist, idx = tied.row(0)
        k = tied.n_neighbors
        boundary = dist == tied.boundary_distance[0]
        w = vote_weights(tied, ev.model.weights, ev.model.distance_ties)
        w = w / (w.sum() or 1.0)
        tied_mark = (boundary & (len(dist) > k)).tolist()
        return dist.tolist(), idx.tolist(), tied_mark, w.tolist()
    assert ev.neighbors is not None
    dist, idx = ev.neighbors[0][i], ev.neighbors[1][i]
    return dist.tolist(), idx.tolist(), [False] * len(idx), [None] * len(idx)


def _examples(ev: Evaluation, rows: np.ndarray) -> list[dict]:
    model = ev.model
    train_texts = _training_texts(ev)
    reuse = getattr(getattr(model, "index_", None), "compressor", None) in ("gzip", "zlib")
    examples = []
    for i in rows.tolist():
        query = _as_str(ev.dataset.X_test[i])
        item: dict = {"id": i, "query": [(_cut(query), "")], "predicted": str(ev.predictions[i]),
                      "true": None if ev.dataset.y_test is None else str(ev.dataset.y_test[i]), "neighbors": [],
                      "more": 0}
        if ev.neighbors is not None:
            dist, idx, tied, weight = _rows(ev, i)
            item["more"] = max(0, len(idx) - _ROW_CAP)
            used = np.zeros(len(query.encode("utf-8")), dtype=bool)
            for rank, (d, j, t, w) in enumerate(zip(dist, idx, tied, weight), 1):
                if rank > _ROW_CAP:
                    break
                nb: dict = {"rank": rank, "index": j, "label": str(training_labels(model, np.array([j]))[0]),
                            "distance": d, "tied": t, "weight": w, "segments": None, "figures": None}
                if train_texts is not None:
                    y = _as_str(train_texts[j])
                    nb["segments"] = [(_cut(y), "")]
                    if reuse:
                        try:
                            parse = pair_reuse(query.encode("utf-8"), y.encode("utf-8"))
                        except InputError as exc:
                            nb["note"] = str(exc)
                        else:
                            nb["segments"] = _cut_segments(parse.train_segments())
                            nb["figures"] = parse.train_figures()
                            used |= parse.query_used
                item["neighbors"].append(nb)
            if used.any():
                from .explain import segments

                item["query"] = _cut_segments(segments(query.encode("utf-8"), used.astype(np.int8), ("", "used")))
        examples.append(item)
    return examples


def render_report(ev: Evaluation, *, title: str = "nnzip report") -> str:
    """The report page as a string (see the module's description).

    Parameters
    ----------
    ev : Evaluation
        A run: ``classify``'s, or ``predict``'s on a saved model.
    title : str
        The page's title.
    """
    require_report_libraries()
    import jinja2

    m = ev.metrics
    labelled = ev.dataset.y_test is not None
    classes = [c for c in np.asarray(getattr(ev.model, "classes_", [])).tolist()]
    labels: list = []
    per_class, confusion = [], None
    if labelled:
        y_true = np.asarray(ev.dataset.y_test)
        y_pred = np.asarray(np.asarray(ev.predictions).tolist())
        labels = sorted(set(classes) | set(y_true.tolist()) | set(y_pred.tolist()), key=lambda c: (str(type(c)), c))
        per_class = _per_class(y_true, y_pred, labels)
        confusion = confusion_png(y_true, y_pred, labels)
    rows, misclassified = _sample(ev, np.random.default_rng(0))
    params = {k: v for k, v in ev.model.get_params(deep=False).items() if k not in ("verbose", "cache_dir", "n_jobs")}
    env = jinja2.Environment(loader=jinja2.PackageLoader("nnzip", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(_TEMPLATE).render(
        title=title, created=datetime.datetime.now().isoformat(timespec="seconds"), version=__version__,
        model=name_of(ev.model) or type(ev.model).__name__, params=params, dataset=ev.dataset.name, metrics=m,
        labelled=labelled, classes=[str(c) for c in classes], per_class=per_class, confusion=confusion,
        ties=_tie_figures(ev), examples=_examples(ev, rows), misclassified=misclassified,
        n_wrong=int((np.asarray(ev.dataset.y_test, dtype=object) != np.asarray(ev.predictions, dtype=object)).sum())
        if labelled else None,
        sample_size=SAMPLE_SIZE, is_knn=is_knn(ev.model),
    )


def write_report(path: str | os.PathLike, ev: Evaluation, *, title: str = "nnzip report",
                 say: Callable[[str], object] | None = None) -> None:
    """Write :func:`render_report`'s page to ``path``, atomically.

    Raises
    ------
    InputError
        When the file cannot be written.
    """
    page = render_report(ev, title=title)

    def write(f) -> None:
        f.write(page)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if say is not None:
        say(f"report written to {path}")
