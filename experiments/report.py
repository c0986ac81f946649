"""Tables (CSV, Markdown) and plots built only from an experiment's result files and their per-item files.

The report reads every file in ``<results>/<name>/runs/``: run files (JSON) and the per-item
files they name (:mod:`experiments.per_item`). A run file that cannot be read (cut short by a
crash or a copy) is named in one line and left out; a file that is not a run file is ignored
with a note; the rest is reported. Statistics come from :mod:`experiments.analysis`.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnzip.fileio import atomic_write
from nnzip.metrics import mean_interval

from .analysis import Analysis, analyse, comparisons, rerank_agreement, rerank_runs
from .config import CONFIG_DIR, ROOT
from .per_item import SUFFIX, DamagedFile, read_json
from .runner import RESULTS_DIR

GROUP = ("dataset", "model", "variant", "compressor", "shots", "remove_duplicates")
COLUMNS = ("experiment", *GROUP, "seed", "n_train", "n_test", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
           "macro_f1", "top_k_tie_accuracy", "accuracy_with_duplicates", "n_test_with_duplicates",
           "index_order_accuracy_expected", "index_order_accuracy_min_bound", "index_order_accuracy_max_bound",
           "n_order_dependent", "seconds", "us_per_pair", "duplicates", "per_item", "status", "reason")
# what makes a JSON file a run file
RUN_KEYS = ("experiment", "dataset", "model", "variant", "status")


@dataclass
class RunFiles:
    """What an experiment's ``runs/`` folder holds.

    Attributes
    ----------
    runs : list of dict
        The run files' contents, each with ``_file`` (its path), sorted for stable tables.
    damaged : list of str
        One line per run file that could not be read (left out of the tables).
    ignored : list of str
        One line per file that is not a run file nor a per-item file a run names.
    """

    runs: list[dict] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def scan_runs(name: str, results_dir: Path = RESULTS_DIR) -> RunFiles:
    """Read every run file of an experiment; name the damaged ones and the files that are not run files."""
    folder = Path(results_dir) / name / "runs"
    out = RunFiles()
    if not folder.is_dir():
        return out
    referenced, others = set(), []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".json" or not path.is_file():
            others.append(path)
            continue
        try:
            run = read_json(path)
        except DamagedFile as exc:
            out.damaged.append(f"{exc}: damaged run file, left out of the tables")
            continue
        lacking = [key for key in RUN_KEYS if key not in run] if isinstance(run, dict) else ["object"]
        if lacking:
            out.ignored.append(f"{path}: not a run file (no {', '.join(lacking)}), ignored")
            continue
        run["_file"] = path
        out.runs.append(run)
        if isinstance(run.get("per_item"), str):
            referenced.add(run["per_item"])
    orphans = [p for p in others if p.name.endswith(SUFFIX) and p.name not in referenced]
    for path in others:
        if path.name not in referenced and path not in orphans:
            out.ignored.append(f"{path}: not a run file, ignored")
    if orphans:
        # left by a run whose run file was never written or is damaged: the runner redoes such runs
        out.ignored.append(f"{folder}: {len(orphans)} per-item file{'s' * (len(orphans) > 1)} that no run file "
                           f"names (first: {orphans[0].name}), ignored")
    out.runs.sort(key=lambda r: tuple(_order(r.get(c)) for c in (*GROUP, "seed")))
    return out


def load_runs(name: str, results_dir: Path = RESULTS_DIR) -> list[dict]:
    """Every readable run file of an experiment, sorted for stable tables (see :func:`scan_runs`)."""
    return scan_runs(name, results_dir).runs


def _order(value) -> tuple:
    """Numbers by value (5 shots before 10), everything else by text, numbers first."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def _span(low: float | None, high: float | None, digits: int = 3) -> str:
    return "" if low is None or high is None else f"{low:.{digits}f}–{high:.{digits}f}"


def _spread(values: list[float]) -> tuple[str, str]:
    """``("mean ± sd", "t interval")`` over seeds, or the single value and no interval."""
    r = mean_interval(values)
    if r.std is None:
        return f"{r.mean:.4f}", ""
    return f"{r.mean:.4f} ± {r.std:.4f}", _span(r.low, r.high)


def summarize(runs: list[dict], analysis: Analysis | None = None) -> list[dict]:
    """One row per group (dataset, model, variant, ...): one seed as it is, several as mean ± sd (ddof=1).

    With ``analysis``, each row also gets ``ci`` (one seed: the Clopper–Pearson interval of its
    accuracy; several: the t interval of the mean over seeds) and, for gzip-kNN rows, the
    distance-tie figures under the index-ordered convention (means over seeds).
    """
    analysis = analysis or Analysis()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[tuple(r.get(c) for c in GROUP)].append(r)
    rows = []
    for key, members in groups.items():
        row = dict(zip(GROUP, key))
        ok = [m for m in members if m.get("status") == "ok"]
        row["seeds"] = len(ok)
        row["_runs"] = ok
        if not ok:
            row["status"] = "not run: " + members[0].get("reason", "")
            rows.append(row)
            continue
        row["status"] = "ok"
        for metric in ("accuracy", "macro_f1", "top_k_tie_accuracy", "accuracy_with_duplicates"):
            vals = [m[metric] for m in ok if m.get(metric) is not None]
            row[metric] = _spread(vals)[0] if vals else ""
            row[f"{metric}_mean"] = float(np.mean(vals)) if vals else None
            row[f"{metric}_std"] = mean_interval(vals).std if vals else None
        stats = [analysis.stats.get(id(m)) for m in ok]
        if len(ok) == 1 and stats[0] is not None:
            row["ci_low"], row["ci_high"] = stats[0].low, stats[0].high
            row["ci"] = _span(stats[0].low, stats[0].high) + ("" if stats[0].from_items else " *")
            row["ci_from_items"] = stats[0].from_items
        elif len(ok) > 1:
            spread = mean_interval([m["accuracy"] for m in ok])
            row["ci_low"], row["ci_high"], row["ci"] = spread.low, spread.high, _span(spread.low, spread.high)
        if not all(s is not None and s.from_items for s in stats):
            row["per_item"] = "aggregates only"
        ties = [s.tie for s in stats if s is not None and s.tie is not None]
        if ties and len(ties) == len(ok):
            mean = {key: float(np.mean([t[key] for t in ties])) for key in
                    ("accuracy_expected", "accuracy_min_bound", "accuracy_max_bound", "n_order_dependent")}
            row["tie_expected"] = f"{mean['accuracy_expected']:.4f}"
            row["tie_bounds"] = _span(mean["accuracy_min_bound"], mean["accuracy_max_bound"], 4)
            count = mean["n_order_dependent"]
            row["tie_dependent"] = f"{count:.0f}" if len(ties) == 1 else f"{count:.1f}"
        row["seconds"] = f"{np.mean([m['seconds'] for m in ok]):.1f}"
        us = [m["us_per_pair"] for m in ok if m.get("us_per_pair") is not None]
        row["us_per_pair"] = round(float(np.mean(us)), 2) if us else None
        row["n_train"], row["n_test"], row["duplicates"] = ok[0]["n_train"], ok[0]["n_test"], ok[0].get("duplicates")
        row["search"], row["n_candidates"] = ok[0].get("search"), ok[0].get("n_candidates")
        # trained models say where (GPU or CPU) and from which checkpoint
        row["device"] = ", ".join(sorted({m["device"] for m in ok if m.get("device")})) or None
        row["checkpoint"] = ", ".join(sorted({m["checkpoint"] for m in ok if m.get("checkpoint")})) or None
        rows.append(row)
    return rows


HEADERS = {"ci": "95% CI", "per_item": "per-item file", "tie_expected": "index order: expected accuracy",
           "tie_bounds": "index order: bounds", "tie_dependent": "index order: items it decides"}


def _md_table(rows: list[dict], columns: list[str]) -> str:
    out = ["| " + " | ".join(HEADERS.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in columns) + " |")
    return "\n".join(out)


def _with_ci(row: dict | None, metric: str) -> str:
    if row is None or row.get(metric) is None:
        return "—"
    if metric != "accuracy_mean" or row.get("ci_low") is None:
        return f"{row[metric]:.3f}"
    mark = "" if row.get("ci_from_items", True) else " *"
    return f"{row[metric]:.3f} ({_span(row['ci_low'], row['ci_high'])}){mark}"


# gzip-kNN variants of the side-by-side table; runs from before distance_ties (nnzip 0.1) were
# named without it and used the index-ordered convention: they stand in for "index" rows
LEGACY = {"k=2 index nearest": "k=2 nearest"}


def _pick(by: dict, dataset: str, model: str, variant: str) -> dict | None:
    row = by.get((dataset, model, variant))
    if row is None and model == "gzip-knn" and variant in LEGACY:
        row = by.get((dataset, model, LEGACY[variant]))
    return row


def _paper_table(summary: list[dict]) -> str:
    """Ours next to the paper's reported figures: one row per dataset with a full-data gzip-kNN run."""
    ref = tomllib.loads((ROOT / "paper_reference.toml").read_text())
    by = {(r["dataset"], r["model"], r["variant"]): r for r in summary
          if r["status"] == "ok" and not r["shots"] and r.get("compressor") in (None, "gzip")
          and not r["remove_duplicates"] and not r.get("search")}
    ours = [("gzip-knn", "k=2 index nearest", "top_k_tie_accuracy_mean"),
            ("gzip-knn", "k=2 split nearest", "accuracy_mean"), ("gzip-knn", "k=3 split decrement", "accuracy_mean"),
            ("gzip-knn", "k=2 index nearest", "accuracy_mean"), ("jaccard-knn", "default", "accuracy_mean"),
            ("embedding-knn", "default", "accuracy_mean"), ("tfidf-logreg", "default", "accuracy_mean"),
            ("tfidf-svm", "default", "accuracy_mean"), ("zstd-dict", "default", "accuracy_mean"),
            ("transformer", "default", "accuracy_mean")]
    lines = ["| dataset | test items | paper: gzip (top-2 scoring) | ours: gzip top-2 tie metric (index order) | "
             "ours: gzip k=2 nearest | ours: gzip k=3 decrement | ours: gzip k=2 nearest, index order | "
             "ours: jaccard-knn | ours: embedding-knn | ours: tfidf-logreg | ours: tfidf-svm | ours: zstd-dict | "
             "ours: fine-tuned transformer | paper: BERT |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in sorted({d for d, m, _ in by if m == "gzip-knn"}):
        gzip_rows = [_pick(by, name, "gzip-knn", v) for v in ("k=2 split nearest", "k=2 index nearest")]
        anchor = next((r for r in gzip_rows if r is not None), None)
        if anchor is None:
            continue
        paper = ref["datasets"].get(name, {})
        figures = " | ".join(_with_ci(_pick(by, name, m, v), metric) for m, v, metric in ours)
        lines.append(f"| {name} | {anchor['n_test']} | {paper.get('gzip', '—')} | {figures} | "
                     f"{paper.get('bert', '—')} |")
    return "\n".join(lines) + (
        f"\n\nPaper figures: {ref['source']}; — where the paper has no figure or the row was not run. Ours: accuracy "
        "(95% CI, exact Clopper–Pearson on the test items; `*`: counted from the run's aggregates, the run having no "
        "per-item file). gzip k=2 nearest and k=3 decrement: `distance_ties=\"split\"` (nnzip's default, "
        "independent of the training order); `index order`: the training texts tied at the k-th distance taken in "
        "the order of the training file as shipped, as the paper's code and nnzip 0.1 do (for a run from before "
        "`distance_ties`, its `k=2 nearest` row).\n")


def _fewshot_table(summary: list[dict]) -> str:
    """Accuracy per dataset and shot count, one column per model (gzip-kNN: k=2 nearest, chosen
    beforehand, not by its test accuracy): mean ± sample sd over the seeds and the t interval of the mean."""
    best: dict[tuple, dict] = {}
    for r in summary:
        if r["status"] == "ok" and r["shots"] and not r["remove_duplicates"] and r.get("compressor") in (None, "gzip"):
            key = (r["dataset"], r["shots"], r["model"])
            if r["model"] != "gzip-knn":
                best[key] = r
            elif r["variant"] == "k=2 split nearest" or (r["variant"] == LEGACY["k=2 index nearest"]
                                                         and key not in best):
                best[key] = r  # a results folder from before distance_ties: its k=2 nearest (index order)
    models = sorted({k[2] for k in best}, key=lambda m: (m != "gzip-knn", m))
    names = ["gzip-knn k=2 nearest" if m == "gzip-knn" else m for m in models]
    lines = ["| dataset | shots | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(models)]
    for dataset, shots in sorted({k[:2] for k in best}, key=lambda k: (k[0], k[1])):
        cells = []
        for m in models:
            group = best.get((dataset, shots, m))
            if group is None:
                cells.append("—")
                continue
            spread = mean_interval([run["accuracy"] for run in group["_runs"]])
            cell = f"{spread.mean:.3f}"
            if spread.std is not None:
                cell += f" ± {spread.std:.3f} ({_span(spread.low, spread.high)})"
            cells.append(cell)
        lines.append(f"| {dataset} | {shots} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\nMean accuracy over the seeds ± their sample standard deviation (ddof=1), and in "
                               "parentheses the 95% t interval of the mean over the seeds; — where not run. Cells with "
                               "several seeds get no paired test (their spread is the comparison).\n")


def _plot_fewshot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in summary if r["shots"] and r["status"] == "ok"})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.4), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        series = defaultdict(list)
        for r in summary:
            if r["dataset"] == name and r["status"] == "ok" and r["shots"]:
                label = r["model"] if r["variant"] == "default" else f"{r['model']} {r['variant']}"
                series[label].append((r["shots"], r["accuracy_mean"], r["accuracy_std"]))
        for label, pts in sorted(series.items()):
            pts.sort()
            # one seed has no spread: no error bar
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] or 0.0 for p in pts], marker="o",
                        capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("training examples per class")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    # one legend for every panel, below them, so that it hides no points
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 8), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_compressors(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in sorted({r["dataset"] for r in summary}):
        # k=1; a results folder from before distance_ties has its "k=1 nearest" (index order) instead
        pts: list[dict] = []
        for variant in ("k=1 split nearest", "k=1 nearest"):
            pts = pts or [r for r in summary if r["dataset"] == name and r["status"] == "ok" and r["us_per_pair"]
                          and r["variant"] == variant]
        ax.scatter([r["us_per_pair"] for r in pts], [r["accuracy_mean"] for r in pts], label=name)
        for r in pts:
            ax.annotate(r["compressor"], (r["us_per_pair"], r["accuracy_mean"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("wall µs per pair (2 cores)")
    ax.set_ylabel("accuracy (k=1)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _raw_config(name: str) -> dict:
    """The shipped config's keys as written (the report needs no data: no schema check here), {} if unreadable."""
    path = CONFIG_DIR / f"{name}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _missing(name: str, runs: list[dict]) -> list[str]:
    """Units of the config (dataset, model, shots) that have no result file, e.g. runs a GPU's time did not cover."""
    cfg = _raw_config(name)
    have = {(r["dataset"], r["model"], r.get("shots")) for r in runs if r.get("experiment") == name}
    out = []
    for model in cfg.get("models", ["gzip-knn"]) if cfg else ():
        for dataset in cfg.get("datasets", []):
            lacking = [s for s in cfg.get("shots") or [None] if (dataset, model, s) not in have]
            if lacking:
                shots = "" if lacking == [None] else " at " + ", ".join(map(str, lacking)) + " shots"
                out.append(f"{model} on {dataset}{shots}")
    return out


def _included(name: str) -> list[str]:
    included = _raw_config(name).get("include_results", [])
    return [n for n in included if isinstance(n, str)] if isinstance(included, list) else []


def _agreement(runs: list[dict], summary: list[dict], analysis: Analysis) -> list[dict]:
    """Rerank against the exact search, from both runs' stored neighbours; fills rerank rows' ``agreement``."""
    found: dict[int, tuple[dict, dict]] = {}
    for exact in (r for r in runs if r.get("status") == "ok" and r["model"] == "gzip-knn" and not r.get("search")):
        for rerank in rerank_runs(exact, runs):
            result = rerank_agreement(rerank, exact, analysis)
            if result is not None:
                found[id(rerank)] = (exact, result)
    table = []
    for row in summary:
        if row.get("search") == "rerank" and len(row["_runs"]) == 1 and id(row["_runs"][0]) in found:
            rerank = row["_runs"][0]
            exact, result = found[id(rerank)]
            row["agreement"] = f"{result['agreement']:.4f} ({result['n']} items)"
            table.append({"dataset": row["dataset"], "variant": rerank["variant"], "items": result["n"],
                          "agreement": f"{result['agreement']:.4f}",
                          "nearest_found": f"{result['nearest_found']:.4f}"})
    return table


def _p(p: float | None) -> str:
    return "—" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _comparisons_table(rows: list[dict]) -> str:
    lines = ["| dataset | model A | model B | test items | accuracy A | accuracy B | A − B | only A right | "
             "only B right | p (exact McNemar) | A against B |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        def num(key: str, fmt: str, r: dict = r) -> str:
            return "—" if r.get(key) is None else format(r[key], fmt)

        lines.append(f"| {r['dataset']} | {r['a']} | {r['b']} | {num('n', 'd')} | {num('accuracy_a', '.4f')} | "
                     f"{num('accuracy_b', '.4f')} | {num('difference', '+.4f')} | {num('a_only', 'd')} | "
                     f"{num('b_only', 'd')} | {_p(r.get('p_value'))} | {r['verdict']} |")
    return "\n".join(lines) + (
        "\n\nEach pair is scored on the same test items (matched by their row in the test split). The p-value is "
        "the exact McNemar test (a binomial test of the items only one model gets right); the verdict is `better` or "
        "`worse` at p < 0.05, else `not significant`. Each test stands on its own: no correction for the number of "
        "comparisons. `aggregates only`: a run without per-item output (its accuracies are shown, untested).\n")


def _csv_rows(runs: list[dict], analysis: Analysis) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for run in runs:
        stats = analysis.stats.get(id(run))
        extra: dict = {}
        if stats is not None:
            extra = {"accuracy_ci_low": round(stats.low, 6), "accuracy_ci_high": round(stats.high, 6)}
            if stats.tie is not None:
                extra |= {f"index_order_{key}": stats.tie[key] for key in
                          ("accuracy_expected", "accuracy_min_bound", "accuracy_max_bound")}
                extra["n_order_dependent"] = stats.tie["n_order_dependent"]
        w.writerow({**run, **extra})
    return out.getvalue()


def _write_text(path: Path, text: str) -> None:
    def write(f) -> None:
        f.write(text)

    atomic_write(path, write)


def build_report(name: str, results_dir: Path = RESULTS_DIR, say: Callable[[str], object] | None = None) -> list[Path]:
    """Write ``<name>.csv``, ``<name>.md`` and any plots from the run files; return their paths.

    ``say`` receives one line per damaged run file, per file that is not a run file and per
    per-item file that could not be used (they are listed in the Markdown too).
    """
    results_dir = Path(results_dir)
    found = scan_runs(name, results_dir)
    for other in _included(name):
        more = scan_runs(other, results_dir)
        found.runs += more.runs
        found.damaged += more.damaged
        found.ignored += more.ignored
    runs = found.runs
    say = say or (lambda note: None)
    for note in found.damaged + found.ignored:
        say(note)
    if not runs:
        damaged = f" ({len(found.damaged)} damaged)" if found.damaged else ""
        raise FileNotFoundError(f"no result files for experiment {name!r} under {results_dir / name / 'runs'}{damaged}")
    analysis = analyse(runs)
    for note in analysis.notes:
        say(note)
    written = []
    csv_path = results_dir / f"{name}.csv"
    _write_text(csv_path, _csv_rows(runs, analysis))
    written.append(csv_path)

    summary = summarize(runs, analysis)
    columns = ["dataset", "model", "variant", "compressor", "shots", "n_train", "n_test", "seeds", "accuracy", "ci",
               "macro_f1", "top_k_tie_accuracy", "seconds", "us_per_pair", "status"]
    if any(r.get("tie_expected") for r in summary):
        columns[columns.index("top_k_tie_accuracy") + 1:columns.index("top_k_tie_accuracy") + 1] = [
            "tie_expected", "tie_bounds", "tie_dependent"]
    if any(r.get("remove_duplicates") for r in summary):
        columns[columns.index("accuracy"):columns.index("accuracy")] = ["duplicates", "accuracy_with_duplicates"]
        # these searches are usually full_data's, read back from the block cache: their times say nothing
        columns = [c for c in columns if c not in ("seconds", "us_per_pair")]
    if any(r.get("device") for r in summary):
        columns[columns.index("seconds"):columns.index("seconds")] = ["device"]
    if any(r.get("per_item") for r in summary):
        columns.insert(columns.index("status"), "per_item")
    agreement = _agreement(runs, summary, analysis)
    if agreement:
        columns.insert(columns.index("ci") + 1, "agreement")
    commands = sorted({" ".join(r["argv"]) for r in runs if isinstance(r.get("argv"), list)})
    with_machine = [r for r in runs if isinstance(r.get("machine"), dict)]
    machines = sorted({f"{r['machine'].get('cpu')}, {r['machine'].get('cores')} cores" for r in with_machine})
    m = with_machine[0]["machine"] if with_machine else {}
    dates = sorted({str(r["date"]) for r in runs if r.get("date")})
    commits = sorted({str(r["machine"].get("git")) for r in with_machine})
    md = [
        f"# Experiment `{name}`\n",
        f"Produced by: {'; '.join(f'`{c}`' for c in commands)}  ",
        f"Machine{'s' if len(machines) > 1 else ''}: {'; '.join(machines)}; Python {m.get('python')}; "
        f"nnzip {m.get('nnzip')} (git {', '.join(commits)}); "
        f"date {', '.join(dates)}.\n",
        "`top_k_tie_accuracy` is the paper's scoring (correct if the true label is among the tied top classes): "
        "an upper bound, not the accuracy of any classifier. gzip-kNN `seconds` is the one neighbour search shared "
        "by all its k/tie-break rows (fit + search, all cores).\n",
        "`95% CI`: with one seed, the exact (Clopper–Pearson) interval of the accuracy on the test items scored, "
        "counted from the run's per-item file (`*`: from its aggregates, the run having none); it covers the "
        "sampling of test items only. With several seeds, `accuracy` is the mean ± the sample standard deviation "
        "(ddof=1) and the interval is the t interval of the mean over the seeds (how much the drawn training texts "
        "move it, on the same test items).\n",
    ]
    if any(r.get("tie_expected") for r in summary):
        md.append("`index order` columns (gzip-kNN rows, from the stored neighbours with every item tied at the k-th "
                  "distance; `nnzip.metrics.tie_order_effect`): under the convention of the paper's code and nnzip "
                  "<= 0.1, tied training texts enter the k nearest in training-file order. `expected accuracy` is the "
                  "exact mean over all training orders, `bounds` hold for every order, and `items it decides` counts "
                  "the test items whose prediction the order can change (means over seeds for several seeds).\n")
    if any(r.get("per_item") for r in summary):
        md.append("`aggregates only`: a row whose run has no usable per-item file (a run made before per-item "
                  "output, a GPU row kept as aggregates, or a damaged file named below): its figures are the run "
                  "file's, its interval is computed from them (`*`) and it takes part in no paired test.\n")
    legacy = sorted({r["variant"] for r in summary if r["model"] == "gzip-knn" and r["status"] == "ok"
                     and not any("distance_ties" in m for m in r["_runs"])})
    if legacy:
        md.append(f"gzip-kNN variants named without a distance-tie rule ({', '.join(f'`{v}`' for v in legacy)}) come "
                  "from runs made before `distance_ties` (nnzip <= 0.1): tied training texts were taken in "
                  "training-file order, as `distance_ties=\"index\"` does.\n")
    trained = [r for r in summary if r.get("checkpoint")]
    if trained:
        checkpoints = ", ".join(sorted({r["checkpoint"] for r in trained}))
        md.append(f"`transformer` rows fine-tune {checkpoints} on the device named in the row (GPU rows in bf16 "
                  "autocast); their `seconds` are fine-tuning plus prediction on that device, "
                  "not comparable with the CPU rows' seconds. Parameters: the config's `model_params` and "
                  "`model_params_for`, also in each result file. GPU rows come from `bash experiments/run_on_gpu.sh` "
                  "(data and weights packed by `python -m experiments.device_bundle`).\n")
    if any(r.get("search") == "rerank" for r in summary):
        md.append("Variants named `rerank M=...` use `search=\"rerank\"`: a first stage proposes M training texts per "
                  "query and only those are ranked by the exact gzip NCD (`benchmarks/rerank.md`). `agreement`: "
                  "share of the row's predictions equal to the exact search's (same k and tie rule), on the test "
                  "items both runs scored, from their per-item files. `us_per_pair` divides the search time by "
                  "all n_test x n_train pairs.\n")
    limits = sorted({(r["dataset"], r.get("limit_test")) for r in runs if r.get("limit_test")})
    if limits:
        md.append("Seeded test subsamples: " + ", ".join(f"{d}: {n} items" for d, n in limits) + ".\n")
    if found.damaged or found.ignored or analysis.notes:
        md.append("Files left out or ignored by this report:\n")
        md += [f"- {note}" for note in found.damaged + found.ignored + analysis.notes] + [""]
    # the paper's protocol only: full training sets, gzip, duplicates kept
    protocol = all(r.get("compressor") in (None, "gzip") and not r["shots"] and not r["remove_duplicates"]
                   for r in summary)
    if protocol and any(r["model"] == "gzip-knn" for r in summary) and (ROOT / "paper_reference.toml").exists():
        table = _paper_table(summary)
        if table.split("\n\n")[0].count("\n") > 1:  # a row below the header
            md += ["## Side by side with the paper\n", table]
    missing = _missing(name, runs)
    if missing:
        md.append("Not run yet (no result file; the README says why): " + "; ".join(missing) + ".\n")
    if any(r["shots"] for r in summary):
        md += ["## By shot count\n", _fewshot_table(summary)]
    compared = comparisons(runs, analysis)
    if compared:
        md += ["## Paired comparisons\n", _comparisons_table(compared)]
    if agreement:
        md += ["## Rerank against the exact search\n",
               _md_table(agreement, ["dataset", "variant", "items", "agreement", "nearest_found"]),
               "\n`nearest_found`: share of the items whose nearest distance under rerank is the exact search's "
               "(the exact nearest, or a text tied with it, was among the candidates).\n"]
    md += ["## All rows\n", _md_table(summary, columns), ""]
    if any(r["shots"] for r in summary):
        png = results_dir / f"{name}.png"
        _plot_fewshot(summary, png)
        md.append(f"![accuracy vs shots]({png.name})\n")
        written.append(png)
    elif len({r["compressor"] for r in summary if r.get("compressor")}) > 1:
        png = results_dir / f"{name}.png"
        _plot_compressors(summary, png)
        md.append(f"![accuracy vs speed]({png.name})\n")
        written.append(png)
    md_path = results_dir / f"{name}.md"
    _write_text(md_path, "\n".join(md))
    written.append(md_path)
    return written
