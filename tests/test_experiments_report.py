"""The experiments report: statistics from the per-item files, and what it does with files it cannot use."""

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import nnzip
from experiments.__main__ import main
from experiments.config import load_config
from experiments.per_item import read_sidecar
from experiments.report import build_report, load_runs
from experiments.runner import Runner, _train_test
from nnzip.metrics import accuracy_interval, mcnemar_exact, tie_order_effect
from nnzip.tied_neighbors import TiedNeighbors

CONFIG = """
description = "report"
datasets = ["bbc"]
models = ["gzip-knn", "tfidf-logreg", "zstd-dict"]
knn_variants = [[1, "nearest"], [2, "nearest"], [2, "lowest"]]
"""
LIMIT = 30


def run_config(folder, name, text, limit):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return Runner(load_config(path), folder / "results", limit, cache_dir=folder / "cache").run()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    assert run_config(folder, "tiny", CONFIG, LIMIT) == 5
    return folder


@pytest.fixture
def results(finished, tmp_path):
    """A copy of the finished results (and their config beside them), to damage."""
    shutil.copytree(finished, tmp_path / "run", ignore=shutil.ignore_patterns("cache"))
    return tmp_path / "run" / "results"


def report(results):
    """``python -m experiments report tiny``: (exit code, stdout lines, warning lines, Markdown)."""
    result = CliRunner().invoke(main, ["report", "tiny", "--results-dir", str(results)], catch_exceptions=False)
    md = (results / "tiny.md").read_text() if (results / "tiny.md").exists() else ""
    warnings = [line for line in result.stderr.splitlines() if line]
    return result.exit_code, result.stdout.splitlines(), warnings, md


def table_row(md, *cells):
    """The Markdown table line that starts with these cells."""
    start = "| " + " | ".join(cells) + " |"
    (line,) = [line for line in md.splitlines() if line.startswith(start)]
    return [c.strip() for c in line.strip("|").split("|")]


def runs_by_variant(results):
    return {(r["model"], r["variant"]): r for r in load_runs("tiny", results)}


def test_report_shows_intervals_tie_figures_and_paired_tests(results):
    code, out, warnings, md = report(results)
    assert code == 0 and not warnings and out[0].startswith("wrote ")
    runs = runs_by_variant(results)
    header = [c.strip() for c in md.split("## All rows")[1].splitlines()[2].strip("|").split("|")]
    for (model, variant), run in runs.items():
        row = dict(zip(header, table_row(md, "bbc", model, variant)))
        n_correct = round(run["accuracy"] * LIMIT)
        low, high = accuracy_interval(n_correct, LIMIT)
        assert row["95% CI"] == f"{low:.3f}–{high:.3f}"
    # tie figures against the exact structure built from the full distance matrix
    ds = _train_test(load_config(results.parent / "tiny.toml"), "bbc", LIMIT, None, 0)
    D = nnzip.pairwise_distances(ds.X_test, ds.X_train)
    for variant, k, tie_break in (("k=1 split nearest", 1, "nearest"), ("k=2 split lowest", 2, "lowest")):
        effect = tie_order_effect(TiedNeighbors.from_distances(D, k), ds.y_train, ds.y_test, tie_break=tie_break)
        row = dict(zip(header, table_row(md, "bbc", "gzip-knn", variant)))
        assert row["index order: expected accuracy"] == f"{effect.accuracy_expected:.4f}"
        assert row["index order: bounds"] == f"{effect.accuracy_min_bound:.4f}–{effect.accuracy_max_bound:.4f}"
        assert row["index order: items it decides"] == str(effect.n_order_dependent)
    # McNemar on the same items, from each run's own predictions
    gzip_run, logreg = runs[("gzip-knn", "k=2 split nearest")], runs[("tfidf-logreg", "default")]
    a, b = read_sidecar(gzip_run["_file"], gzip_run), read_sidecar(logreg["_file"], logreg)
    expected = mcnemar_exact(a.correct("k=2 split nearest"), b.correct("default"))
    cells = table_row(md, "bbc", "gzip-knn k=2 split nearest", "tfidf-logreg")
    assert cells[3] == str(LIMIT) and cells[6] == f"{expected.difference:+.4f}"
    assert cells[7:9] == [str(expected.a_only), str(expected.b_only)]
    word = ("better" if expected.difference > 0 else "worse") if expected.p_value < 0.05 else "not significant"
    assert cells[10] == word
    assert table_row(md, "bbc", "gzip-knn k=2 split nearest", "zstd-dict")
    with (results / "tiny.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["accuracy_ci_low"]) <= float(r["accuracy"]) <= float(r["accuracy_ci_high"]) for r in rows)


def test_a_run_file_cut_in_half_is_named_and_the_rest_reported(results):
    run = runs_by_variant(results)[("tfidf-logreg", "default")]
    logreg = run["_file"]
    logreg.write_bytes(logreg.read_bytes()[: logreg.stat().st_size // 2])
    code, out, warnings, md = report(results)
    assert code == 0, out
    damaged = [w for w in warnings if "damaged" in w]
    assert len(damaged) == 1 and damaged[0].startswith(f"Warning: {logreg}: not a readable JSON file (")
    assert damaged[0].endswith("): damaged run file, left out of the tables")
    # its per-item file is now named by no run file: one note, not an error
    assert [w for w in warnings if w not in damaged] == [
        f"Warning: {logreg.parent}: 1 per-item file that no run file names (first: {run['per_item']}), ignored"]
    assert str(logreg) in md and "damaged run file" in md
    assert "| bbc | tfidf-logreg |" not in md.split("## All rows")[1]
    assert table_row(md, "bbc", "gzip-knn", "k=2 split nearest") and table_row(md, "bbc", "zstd-dict", "default")


def test_files_that_are_not_run_files_are_ignored_with_a_note(results):
    runs_dir = results / "tiny" / "runs"
    (runs_dir / "notes.json").write_text(json.dumps({"hello": 1}))
    (runs_dir / "list.json").write_text("[1, 2]")
    (runs_dir / "README.txt").write_text("scratch")
    (runs_dir / "old").mkdir()
    code, out, warnings, md = report(results)
    assert code == 0
    assert sorted(w.split("runs/")[1] for w in warnings) == [
        "README.txt: not a run file, ignored",
        "list.json: not a run file (no object), ignored",
        "notes.json: not a run file (no experiment, dataset, model, variant, status), ignored",
        "old: not a run file, ignored",
    ]
    assert len([line for line in md.split("## All rows")[1].splitlines() if line.startswith("| bbc")]) == 5


def test_a_damaged_per_item_file_leaves_aggregates_only(results):
    run = runs_by_variant(results)[("tfidf-logreg", "default")]
    sidecar = run["_file"].parent / run["per_item"]
    sidecar.write_bytes(sidecar.read_bytes()[:-10])
    code, _, warnings, md = report(results)
    assert code == 0 and len(warnings) == 1
    assert str(sidecar) in warnings[0] and "checksum" in warnings[0] and "aggregates are shown" in warnings[0]
    low, high = accuracy_interval(round(run["accuracy"] * LIMIT), LIMIT)
    assert f"{low:.3f}–{high:.3f} *" in table_row(md, "bbc", "tfidf-logreg", "default")
    assert table_row(md, "bbc", "gzip-knn k=2 split nearest", "tfidf-logreg")[-1] == "aggregates only"


def test_runs_kept_as_aggregates_get_intervals_and_no_tests(results):
    # a transformer row computed on a GPU before per-item output, marked as such
    template = runs_by_variant(results)[("tfidf-logreg", "default")]
    gpu = {k: v for k, v in template.items() if not k.startswith(("_", "per_item"))}
    gpu |= {"model": "transformer", "accuracy": 27 / 30, "per_item": None,
            "per_item_reason": "GPU run made before per-item output"}
    (results / "tiny" / "runs" / "bbc_transformer_default_0_x.json").write_text(json.dumps(gpu))
    code, _, warnings, md = report(results)
    assert code == 0 and not warnings
    low, high = accuracy_interval(27, 30)
    assert f"{low:.3f}–{high:.3f} *" in table_row(md, "bbc", "transformer", "default")
    cells = table_row(md, "bbc", "gzip-knn k=2 split nearest", "transformer")
    assert cells[-1] == "aggregates only" and cells[5] == f"{27 / 30:.4f}"


def test_run_files_from_before_per_item_output_are_aggregates_only(results):
    # a gzip-kNN run file of nnzip 0.1 (no per_item, no distance_ties, the old variant name) beside new runs
    template = runs_by_variant(results)[("gzip-knn", "k=2 split nearest")]
    old = {k: v for k, v in template.items()
           if not k.startswith(("_", "per_item")) and k not in ("distance_ties", "training_order")}
    old |= {"variant": "k=2 nearest", "accuracy": 24 / 30}
    (results / "tiny" / "runs" / "bbc_gzip-knn_k=2 nearest_0_old.json").write_text(json.dumps(old))
    code, _, warnings, md = report(results)
    assert code == 0 and not warnings
    cells = table_row(md, "bbc", "gzip-knn", "k=2 nearest")
    low, high = accuracy_interval(24, 30)
    assert f"{low:.3f}–{high:.3f} *" in cells and cells[-2:] == ["aggregates only", "ok"]
    assert "variants named without a distance-tie rule (`k=2 nearest`)" in md
    # the new rows keep their per-item statistics and paired tests; the old one is in no test
    assert table_row(md, "bbc", "gzip-knn", "k=2 split nearest")[-2:] == ["", "ok"]
    assert table_row(md, "bbc", "gzip-knn k=2 split nearest", "tfidf-logreg")[-1] != "aggregates only"
    assert "gzip-knn k=2 nearest |" not in md


def test_only_damaged_run_files_is_one_error_line(results):
    for path in (results / "tiny" / "runs").glob("*.json"):
        path.write_text("{")
    result = CliRunner().invoke(main, ["report", "tiny", "--results-dir", str(results)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 7 and all("damaged run file" in line for line in lines[:5])
    assert "3 per-item files that no run file names" in lines[5]
    assert lines[-1].startswith("Error: no result files for experiment 'tiny'") and lines[-1].endswith("(5 damaged)")


def test_rerank_agreement_comes_from_both_runs_stored_neighbours(finished, tmp_path, monkeypatch):
    shutil.copytree(finished / "cache", tmp_path / "cache")
    exact = 'description = "exact"\ndatasets = ["bbc"]\nmodels = ["gzip-knn"]\n' \
            'knn_variants = [[1, "nearest"], [2, "nearest"]]\ninclude_results = ["rr"]\n'
    rerank = 'description = "rerank"\ndatasets = ["bbc"]\nmodels = ["gzip-knn"]\n' \
             'knn_variants = [[1, "nearest"], [2, "nearest"]]\ngzip_params = { search = "rerank", n_candidates = 3 }\n'
    assert run_config(tmp_path, "rr", rerank, None) == 2  # the whole test set
    assert run_config(tmp_path, "exact", exact, 12) == 2  # a seeded sample of it
    monkeypatch.setattr("experiments.report.CONFIG_DIR", tmp_path)
    build_report("exact", tmp_path / "results")
    md = (tmp_path / "results" / "exact.md").read_text()
    ds = _train_test(load_config(tmp_path / "exact.toml"), "bbc", 12, None, 0)
    for k in (1, 2):
        exact_clf = nnzip.NCDKNeighborsClassifier(n_neighbors=k).fit(ds.X_train, ds.y_train)
        rerank_clf = nnzip.NCDKNeighborsClassifier(n_neighbors=k, search="rerank", n_candidates=3)
        rerank_clf.fit(ds.X_train, ds.y_train)
        same = np.mean(exact_clf.predict(ds.X_test) == rerank_clf.predict(ds.X_test))
        cells = table_row(md, "bbc", f"k={k} split nearest rerank M=3")
        assert cells[2:4] == ["12", f"{same:.4f}"]
        assert table_row(md, "bbc", f"gzip-knn k={k} split nearest rerank M=3", "exact search")[3] == "12"
