"""Tables (CSV, Markdown) and plots built only from an experiment's result files."""

from __future__ import annotations

import csv
import json
import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np

from .runner import CONFIG_DIR, RESULTS_DIR, ROOT

# agreement of search="rerank" with the exact search, measured by benchmarks/bench_rerank.py
RERANK_BENCH = ROOT.parent / "benchmarks" / "rerank.json"

GROUP = ("dataset", "model", "variant", "compressor", "shots", "remove_duplicates")
COLUMNS = ("experiment", *GROUP, "seed", "n_train", "n_test", "accuracy", "macro_f1", "top_k_tie_accuracy",
           "accuracy_with_duplicates", "n_test_with_duplicates", "seconds", "us_per_pair", "duplicates", "status",
           "reason")


def load_runs(name: str, results_dir: Path = RESULTS_DIR) -> list[dict]:
    """Every run file of an experiment, sorted for stable tables."""
    runs = [json.loads(p.read_text()) for p in sorted((Path(results_dir) / name / "runs").glob("*.json"))]
    return sorted(runs, key=lambda r: tuple(_order(r.get(c)) for c in (*GROUP, "seed")))


def _order(value) -> tuple:
    """Numbers by value (5 shots before 10), everything else by text, numbers first."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def summarize(runs: list[dict]) -> list[dict]:
    """One row per group (dataset, model, variant, ...), mean ± std over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[tuple(r.get(c) for c in GROUP)].append(r)
    rows = []
    for key, members in groups.items():
        row = dict(zip(GROUP, key))
        ok = [m for m in members if m.get("status") == "ok"]
        row["seeds"] = len(ok)
        if not ok:
            row["status"] = "not run: " + members[0].get("reason", "")
            rows.append(row)
            continue
        row["status"] = "ok"
        for metric in ("accuracy", "macro_f1", "top_k_tie_accuracy", "accuracy_with_duplicates"):
            vals = [m[metric] for m in ok if m.get(metric) is not None]
            row[metric] = _mean_std(vals) if vals else ""
            row[f"{metric}_mean"] = float(np.mean(vals)) if vals else None
            row[f"{metric}_std"] = float(np.std(vals)) if vals else None
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


def _md_table(rows: list[dict], columns: list[str]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in columns) + " |")
    return "\n".join(out)


def _paper_table(summary: list[dict]) -> str:
    """Ours next to the paper's reported figures: one row per dataset with a full-data gzip-kNN run."""
    ref = tomllib.loads((ROOT / "paper_reference.toml").read_text())
    by = {(r["dataset"], r["model"], r["variant"]): r for r in summary
          if r["status"] == "ok" and not r["shots"] and r.get("compressor") in (None, "gzip")
          and not r["remove_duplicates"]}
    ours = [("gzip-knn", "k=2 nearest", "top_k_tie_accuracy_mean"), ("gzip-knn", "k=2 nearest", "accuracy_mean"),
            ("gzip-knn", "k=3 decrement", "accuracy_mean"), ("jaccard-knn", "default", "accuracy_mean"),
            ("embedding-knn", "default", "accuracy_mean"), ("tfidf-logreg", "default", "accuracy_mean"),
            ("tfidf-svm", "default", "accuracy_mean"), ("zstd-dict", "default", "accuracy_mean"),
            ("transformer", "default", "accuracy_mean")]
    lines = ["| dataset | test items | paper: gzip (top-2 scoring) | ours: gzip top-2 tie metric | "
             "ours: gzip k=2 nearest | ours: gzip k=3 decrement | ours: jaccard-knn | ours: embedding-knn | "
             "ours: tfidf-logreg | ours: tfidf-svm | ours: zstd-dict | ours: fine-tuned transformer | paper: BERT |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in sorted({d for d, m, v in by if m == "gzip-knn" and v == "k=2 nearest"}):
        paper = ref["datasets"].get(name, {})
        cells = [by[(name, m, v)][metric] if (name, m, v) in by else None for m, v, metric in ours]
        figures = " | ".join("—" if c is None else f"{c:.3f}" for c in cells)
        n_test = by[(name, "gzip-knn", "k=2 nearest")]["n_test"]
        lines.append(f"| {name} | {n_test} | {paper.get('gzip', '—')} | {figures} | {paper.get('bert', '—')} |")
    return "\n".join(lines) + (f"\n\nPaper figures: {ref['source']}; — where the paper has no figure or the row "
                               "was not run.\n")


def _fewshot_table(summary: list[dict]) -> str:
    """Mean accuracy per dataset and shot count, one column per model (gzip-kNN: its best variant)."""
    best: dict[tuple, float] = {}
    for r in summary:
        if r["status"] == "ok" and r["shots"] and not r["remove_duplicates"] and r.get("compressor") in (None, "gzip"):
            key = (r["dataset"], r["shots"], r["model"])
            best[key] = max(best.get(key, -1.0), r["accuracy_mean"])
    models = sorted({k[2] for k in best}, key=lambda m: (m != "gzip-knn", m))
    names = ["gzip-knn (best variant)" if m == "gzip-knn" else m for m in models]
    lines = ["| dataset | shots | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(models)]
    for dataset, shots in sorted({k[:2] for k in best}, key=lambda k: (k[0], k[1])):
        cells = ["—" if (dataset, shots, m) not in best else f"{best[(dataset, shots, m)]:.3f}" for m in models]
        lines.append(f"| {dataset} | {shots} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nMean accuracy over the seeds; — where not run.\n"


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
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3,
                        label=label)
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
        pts = [r for r in summary if r["dataset"] == name and r["status"] == "ok" and r["us_per_pair"]
               and r["variant"] == "k=1 nearest"]
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


def _missing(name: str, runs: list[dict]) -> list[str]:
    """Units of the config (dataset, model, shots) that have no result file, e.g. runs a GPU's time did not cover."""
    path = CONFIG_DIR / f"{name}.toml"
    if not path.exists():
        return []
    cfg = tomllib.loads(path.read_text())
    have = {(r["dataset"], r["model"], r.get("shots")) for r in runs if r.get("experiment") == name}
    out = []
    for model in cfg.get("models", ["gzip-knn"]):
        for dataset in cfg.get("datasets", []):
            lacking = [s for s in cfg.get("shots") or [None] if (dataset, model, s) not in have]
            if lacking:
                shots = "" if lacking == [None] else " at " + ", ".join(map(str, lacking)) + " shots"
                out.append(f"{model} on {dataset}{shots}")
    return out


def _included(name: str) -> list[str]:
    path = CONFIG_DIR / f"{name}.toml"
    return tomllib.loads(path.read_text()).get("include_results", []) if path.exists() else []


def _rerank_agreement(summary: list[dict]) -> bool:
    """Fill ``agreement`` of rerank rows from the rerank benchmark's results; True if any."""
    if not RERANK_BENCH.exists():
        return False
    bench = {(r["dataset"], r["n_candidates"]): r for r in json.loads(RERANK_BENCH.read_text())["rows"]}
    found = False
    for row in summary:
        b = bench.get((row["dataset"], row.get("n_candidates")))
        if row.get("search") == "rerank" and b is not None:
            row["agreement"] = f"{b['agreement']:.4f} ({b['n_test']} items)"
            found = True
    return found


def build_report(name: str, results_dir: Path = RESULTS_DIR) -> list[Path]:
    """Write ``<name>.csv``, ``<name>.md`` and any plots from the run files; return their paths."""
    results_dir = Path(results_dir)
    runs = load_runs(name, results_dir)
    for other in _included(name):
        runs += load_runs(other, results_dir)
    if not runs:
        raise FileNotFoundError(f"no result files for experiment {name!r} under {results_dir / name / 'runs'}")
    written = []
    csv_path = results_dir / f"{name}.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(runs)
    written.append(csv_path)

    summary = summarize(runs)
    columns = ["dataset", "model", "variant", "compressor", "shots", "n_train", "n_test", "seeds", "accuracy",
               "macro_f1", "top_k_tie_accuracy", "seconds", "us_per_pair", "status"]
    if any(r.get("remove_duplicates") for r in summary):
        columns[columns.index("accuracy"):columns.index("accuracy")] = ["duplicates", "accuracy_with_duplicates"]
        # these searches are usually full_data's, read back from the block cache: their times say nothing
        columns = [c for c in columns if c not in ("seconds", "us_per_pair")]
    if any(r.get("device") for r in summary):
        columns[columns.index("seconds"):columns.index("seconds")] = ["device"]
    if _rerank_agreement(summary):
        columns.insert(columns.index("accuracy") + 1, "agreement")
    commands = sorted({" ".join(r["argv"]) for r in runs if r.get("argv")})
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" for r in runs if r.get("machine")})
    m = runs[0]["machine"]
    dates = sorted({r["date"] for r in runs})
    commits = sorted({r["machine"]["git"] for r in runs if r.get("machine")})
    md = [
        f"# Experiment `{name}`\n",
        f"Produced by: {'; '.join(f'`{c}`' for c in commands)}  ",
        f"Machine{'s' if len(machines) > 1 else ''}: {'; '.join(machines)}; Python {m['python']}; "
        f"nnzip {m['nnzip']} (git {', '.join(commits)}); "
        f"date {', '.join(dates)}.\n",
        "`top_k_tie_accuracy` is the paper's scoring (correct if the true label is among the tied top classes): "
        "an upper bound, not the accuracy of any classifier. gzip-kNN `seconds` is the one neighbour search shared "
        "by all its k/tie-break rows (fit + search, all cores).\n",
    ]
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
                  "share of predictions (k=2, nearest) equal to the exact search's, measured by "
                  "`benchmarks/bench_rerank.py` on the test items stated. `us_per_pair` divides the search time by "
                  "all n_test x n_train pairs.\n")
    limits = sorted({(r["dataset"], r.get("limit_test")) for r in runs if r.get("limit_test")})
    if limits:
        md.append("Seeded test subsamples: " + ", ".join(f"{d}: {n} items" for d, n in limits) + ".\n")
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
    md_path.write_text("\n".join(md))
    written.append(md_path)
    return written
