"""Statistics of an experiment's runs, computed from their per-item files, for the report.

* Accuracy intervals: exact Clopper–Pearson (:func:`nnzip.metrics.accuracy_interval`) on the
  test items a run scored, from the items its sidecar marks right; a run without per-item
  output (the GPU transformer rows so far) gets the same interval from its aggregates
  (accuracy × items is the count), and is marked so.
* Several seeds (few-shot): mean, sample standard deviation (ddof=1) and the t interval of the
  mean over the seeds (:func:`nnzip.metrics.mean_interval`).
* Paired comparisons on the same test items: exact McNemar p-values
  (:func:`nnzip.metrics.mcnemar_exact`), with a verdict word.
* gzip-kNN rows: the exact effect of distance ties under the index-ordered convention
  (:func:`nnzip.metrics.tie_order_effect`) from the stored neighbours with boundary ties.
* Rerank against the exact search: agreement of predictions on the test items both runs share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnzip.errors import ConfigError, InputError
from nnzip.metrics import accuracy_interval, mcnemar_exact, tie_order_effect

from .per_item import DamagedFile, PerItem, read_sidecar

ALPHA = 0.05
# gzip-kNN variants compared with the baselines: the paper's k=2, and k=3 with the decrement rule
REFERENCE_VARIANTS = ("k=2 split nearest", "k=3 split decrement")
OPPONENTS = ("zstd-dict", "tfidf-logreg", "tfidf-svm", "transformer")


@dataclass
class RunStats:
    """What the report computes for one run.

    Attributes
    ----------
    n, n_correct : int
        Test items scored and items right.
    low, high : float
        95% Clopper–Pearson interval of the accuracy.
    from_items : bool
        Counted from the per-item file (False: from the run's aggregates).
    tie : dict or None
        gzip-kNN runs: :meth:`nnzip.metrics.TieOrderEffect.summary`.
    """

    n: int
    n_correct: int
    low: float
    high: float
    from_items: bool
    tie: dict | None = None


@dataclass
class Analysis:
    """Per-item files and statistics of a set of runs; ``notes`` says what could not be used."""

    items: dict[int, PerItem] = field(default_factory=dict)  # by id() of the run dict
    stats: dict[int, RunStats] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def item(self, run: dict) -> PerItem | None:
        return self.items.get(id(run))


def scored(run: dict, item: PerItem) -> np.ndarray:
    """The test items a run's scores count: all, or those without a training duplicate."""
    return ~item.duplicate if run.get("remove_duplicates") else np.ones(item.n, dtype=bool)


def _from_aggregates(run: dict) -> RunStats | None:
    n, acc = run.get("n_test"), run.get("accuracy")
    if not isinstance(n, int) or n < 1 or not isinstance(acc, (int, float)):
        return None
    k = round(acc * n)
    return RunStats(n, k, *accuracy_interval(k, n), from_items=False)


def _tie_effect(run: dict, item: PerItem, keep: np.ndarray) -> dict | None:
    if run.get("model") != "gzip-knn" or item.indptr is None or not isinstance(run.get("k"), int):
        return None
    nb, y_train = item.tied_neighbors(run["k"], keep)
    effect = tie_order_effect(nb, y_train, item.true[keep], tie_break=run["tie_break"],
                              weights=run.get("weights", "uniform"))
    return effect.summary()


def analyse(runs: list[dict]) -> Analysis:
    """Read the sidecar of every finished run and compute its :class:`RunStats`.

    A sidecar that cannot be read, or whose figures differ from its run file's, is named in
    ``notes`` and the run falls back to its aggregates.
    """
    out = Analysis()
    cache: dict[tuple[Path, str | None], PerItem] = {}
    for run in runs:
        if run.get("status") != "ok":
            continue
        stats = _from_aggregates(run)
        if isinstance(run.get("per_item"), str):
            try:
                key = (run["_file"].parent / run["per_item"], run.get("per_item_sha256"))
                item = cache.get(key) or read_sidecar(run["_file"], run)
                cache[key] = item
                if run["variant"] not in item.predicted:
                    raise DamagedFile(f"{item.path}: no prediction for the variant of {run['_file'].name}")
                keep = scored(run, item)
                right = item.correct(run["variant"])[keep]
                if stats is None or right.size != stats.n or int(right.sum()) != stats.n_correct:
                    raise DamagedFile(f"{item.path}: its predictions do not give the accuracy and item count of "
                                      f"{run['_file'].name}")
                stats = RunStats(int(right.size), int(right.sum()), stats.low, stats.high, from_items=True)
                out.items[id(run)] = item
                try:
                    stats.tie = _tie_effect(run, item, keep)
                except ConfigError as exc:  # an enumeration too large to do exactly: say so, never approximate
                    out.notes.append(f"{run['_file'].name}: distance-tie figures not computed ({exc})")
            except (DamagedFile, InputError) as exc:
                out.notes.append(f"{exc}; its aggregates are shown, its intervals from them and no paired test")
        if stats is not None:
            out.stats[id(run)] = stats
    return out


def verdict(p_value: float, difference: float, alpha: float = ALPHA) -> str:
    """``"better"`` or ``"worse"`` (the first model against the second) when ``p_value < alpha``,
    else ``"not significant"``."""
    if p_value < alpha:
        return "better" if difference > 0 else "worse"
    return "not significant"


def _paired(a: PerItem, run_a: dict, b: PerItem, run_b: dict):
    """Correctness of two runs on the test items both scored, matched by test row."""
    keep_a, keep_b = scored(run_a, a), scored(run_b, b)
    common, ia, ib = np.intersect1d(a.index[keep_a], b.index[keep_b], assume_unique=True, return_indices=True)
    ra = np.flatnonzero(keep_a)[ia]
    rb = np.flatnonzero(keep_b)[ib]
    return ra, rb


def compare(run_a: dict, run_b: dict, analysis: Analysis) -> dict:
    """One row of the comparisons table: ``run_a`` against ``run_b`` on the same test items."""
    a, b = analysis.item(run_a), analysis.item(run_b)
    row = {"dataset": run_a["dataset"], "a": _name(run_a), "b": _name(run_b)}
    if a is None or b is None:
        sa, sb = analysis.stats.get(id(run_a)), analysis.stats.get(id(run_b))
        acc_a = None if sa is None else sa.n_correct / sa.n
        acc_b = None if sb is None else sb.n_correct / sb.n
        diff = None if acc_a is None or acc_b is None else acc_a - acc_b
        return row | {"n": None, "accuracy_a": acc_a, "accuracy_b": acc_b, "difference": diff, "a_only": None,
                      "b_only": None, "p_value": None, "verdict": "aggregates only"}
    ra, rb = _paired(a, run_a, b, run_b)
    if not ra.size:
        return row | {"n": 0, "verdict": "no common test items"}
    result = mcnemar_exact(a.correct(run_a["variant"])[ra], b.correct(run_b["variant"])[rb])
    return row | {"n": result.n, "accuracy_a": result.accuracy_a, "accuracy_b": result.accuracy_b,
                  "difference": result.difference, "a_only": result.a_only, "b_only": result.b_only,
                  "p_value": result.p_value, "verdict": verdict(result.p_value, result.difference)}


def _name(run: dict) -> str:
    return "gzip-knn " + run["variant"] if run["model"] == "gzip-knn" else run["model"]


def _exact_gzip(run: dict) -> bool:
    return run["model"] == "gzip-knn" and run.get("compressor") in (None, "gzip") and run.get("search") is None


def comparisons(runs: list[dict], analysis: Analysis) -> list[dict]:
    """gzip-kNN against zstd-dict, TF-IDF + LR/SVM and the transformer, and rerank against exact.

    On every dataset with runs of one seed on the full training sets (few-shot cells have
    several seeds: their spread is reported instead).
    """
    ok = [r for r in runs if r.get("status") == "ok" and not r.get("shots")]
    rows = []
    for dataset in sorted({r["dataset"] for r in ok}):
        here = [r for r in ok if r["dataset"] == dataset]
        for reference in REFERENCE_VARIANTS:
            refs = [r for r in here if _exact_gzip(r) and r["variant"] == reference]
            for ref in refs:
                for model in OPPONENTS:
                    rows += [compare(ref, r, analysis) for r in here if r["model"] == model
                             and r.get("remove_duplicates") == ref.get("remove_duplicates")]
        for exact in (r for r in here if _exact_gzip(r)):
            for rerank in rerank_runs(exact, here):
                rows.append(compare(rerank, exact, analysis) | {"b": "exact search"})
    return rows


def rerank_runs(exact: dict, runs: list[dict]) -> list[dict]:
    """The runs of ``search="rerank"`` with the same k/tie-break variant and unit as an exact run."""
    return [r for r in runs if r["model"] == "gzip-knn" and r.get("search") == "rerank"
            and r["variant"].startswith(exact["variant"] + " rerank") and r["dataset"] == exact["dataset"]
            and r.get("compressor") == exact.get("compressor") and r.get("shots") == exact.get("shots")
            and r.get("seed") == exact.get("seed") and r.get("remove_duplicates") == exact.get("remove_duplicates")]


def rerank_agreement(rerank: dict, exact: dict, analysis: Analysis) -> dict | None:
    """Agreement of a rerank run with the exact run on the test items both hold (None without per-item files).

    ``agreement``: share of identical predictions; ``nearest_found``: share of items whose
    nearest distance is the exact search's (the exact nearest, or one tied with it, was a
    candidate).
    """
    a, b = analysis.item(rerank), analysis.item(exact)
    if a is None or b is None or a.indptr is None or b.indptr is None:
        return None
    ra, rb = _paired(a, rerank, b, exact)
    if not ra.size:
        return None
    same = a.predicted[rerank["variant"]][ra] == b.predicted[exact["variant"]][rb]
    nearest = a.distances[a.indptr[:-1]][ra] == b.distances[b.indptr[:-1]][rb]  # type: ignore[index]
    return {"n": int(ra.size), "agreement": float(same.mean()), "nearest_found": float(nearest.mean())}
