"""The experiment runner in quick mode on the embedded BBC data: tables, plots, validation, resume."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

import nnzip
from experiments.__main__ import main
from experiments.config import load_config
from experiments.report import build_report, load_runs
from experiments.runner import Runner, _train_test
from nnzip import distributed, index
from nnzip.data import duplicate_mask, load_bbc
from nnzip.errors import ConfigError

TINY = """
description = "tiny"
datasets = ["bbc"]
models = ["gzip-knn", "tfidf-logreg"]
knn_variants = [[1, "nearest"], [2, "nearest"], [2, "lowest"]]
not_run = { transformer = "no GPU in the test" }
"""


def write_config(tmp_path, text, name="tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def run(tmp_path, text=TINY, limit=12, **kwargs):
    cfg = load_config(write_config(tmp_path, text))
    runner = Runner(cfg, tmp_path / "results", limit, cache_dir=tmp_path / "cache", **kwargs)
    return cfg, runner, runner.run()


def test_quick_run_writes_runs_tables_and_matches_the_classifier(tmp_path):
    cfg, _, computed = run(tmp_path)
    assert computed == 4  # three gzip variants from one search, one tf-idf run
    runs = {(r["model"], r["variant"]): r for r in load_runs("tiny", tmp_path / "results")}
    assert runs[("transformer", "default")]["status"] == "not run"

    ds = _train_test(cfg, "bbc", 12, None, 0)
    assert runs[("gzip-knn", "k=1 split nearest")]["n_test"] == len(ds.X_test) == 12
    for variant, k, tie_break in [("k=1 split nearest", 1, "nearest"), ("k=2 split lowest", 2, "lowest")]:
        clf = nnzip.NCDKNeighborsClassifier(n_neighbors=k, tie_break=tie_break).fit(ds.X_train, ds.y_train)
        assert runs[("gzip-knn", variant)]["accuracy"] == pytest.approx(clf.score(ds.X_test, ds.y_test))
    # the paper's top-2 scoring can only be at least the accuracy of any k=2 vote
    k2 = runs[("gzip-knn", "k=2 split lowest")]
    assert k2["top_k_tie_accuracy"] >= k2["accuracy"]

    paths = build_report("tiny", tmp_path / "results")
    assert {p.name for p in paths} == {"tiny.csv", "tiny.md"}
    with (tmp_path / "results" / "tiny.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 5
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "not run: no GPU in the test" in md and "bbc: 12 items" in md


def test_few_shot_run_draws_seeded_shots_and_plots(tmp_path):
    text = TINY.replace('models = ["gzip-knn", "tfidf-logreg"]', 'models = ["gzip-knn"]')
    text += "shots = [2, 4]\nseeds = [0, 1]\n"
    cfg, _, computed = run(tmp_path, text, limit=8)
    assert computed == 2 * 2 * 3
    runs = load_runs("tiny", tmp_path / "results")
    assert {r["n_train"] for r in runs if r["status"] == "ok"} == {2 * 5, 4 * 5}
    assert _train_test(cfg, "bbc", 8, 2, 1).X_train == _train_test(cfg, "bbc", 8, 2, 1).X_train
    assert _train_test(cfg, "bbc", 8, 2, 0).X_train != _train_test(cfg, "bbc", 8, 2, 1).X_train
    paths = build_report("tiny", tmp_path / "results")
    png = tmp_path / "results" / "tiny.png"
    assert png in paths and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "±" in md
    # one row per dataset and shot count, gzip-kNN at k=2 nearest (fixed, not picked on the test set)
    assert "| bbc | 2 | " in md and "| bbc | 4 | " in md and "gzip-knn k=2 nearest" in md


def test_leakage_run_scores_without_and_with_the_duplicated_test_items(tmp_path):
    text = TINY.replace('[[1, "nearest"], [2, "nearest"], [2, "lowest"]]', '[[1, "nearest"]]')
    text += "remove_duplicates = true\n"
    cfg, _, computed = run(tmp_path, text, limit=60)
    assert computed == 2
    ds = _train_test(cfg, "bbc", 60, None, 0)
    dup = duplicate_mask(ds.X_train, ds.X_test)
    assert 0 < dup.sum() < 60  # BBC News repeats articles across the split
    X_kept = [t for t, d in zip(ds.X_test, dup) if not d]
    y_kept = [y for y, d in zip(ds.y_test, dup) if not d]
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1).fit(ds.X_train, ds.y_train)
    gzip_run = next(r for r in load_runs("tiny", tmp_path / "results") if r["model"] == "gzip-knn")
    assert gzip_run["duplicates"] == dup.sum() and gzip_run["n_test"] == 60 - dup.sum()
    assert gzip_run["accuracy"] == pytest.approx(clf.score(X_kept, y_kept))
    assert gzip_run["accuracy_with_duplicates"] == pytest.approx(clf.score(ds.X_test, ds.y_test))
    build_report("tiny", tmp_path / "results")
    assert "accuracy_with_duplicates" in (tmp_path / "results" / "tiny.md").read_text()


def test_resume_after_interruption_recomputes_only_unfinished_blocks(tmp_path, monkeypatch):
    # blocks of 3 test texts (a query is paired with each distinct training text once): the 12-item
    # quick run has 4 of them
    monkeypatch.setattr(distributed, "PAIRS_PER_BLOCK", 3 * len(set(load_bbc().X_train)))
    real = index._compute_block
    calls = []

    def crash_in_third_block(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(index, "_compute_block", crash_in_third_block)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path)
    assert not list((tmp_path / "results" / "tiny" / "runs").glob("*.json"))

    calls.clear()
    # the search of k=2 (the variants' largest k) resumes; the search for boundary ties runs after it
    monkeypatch.setattr(index, "_compute_block", lambda search, *a, **kw: calls.append(search.k) or real(search, *a,
                                                                                                          **kw))
    _, _, computed = run(tmp_path)
    assert calls.count(2) == 2 and computed == 4
    resumed = {(r["model"], r["variant"]): r.get("accuracy") for r in load_runs("tiny", tmp_path / "results")}

    calls.clear()
    _, _, computed = run(tmp_path)
    assert computed == 0 and not calls  # everything finished: nothing recomputed

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    run(fresh_dir)
    fresh = {(r["model"], r["variant"]): r.get("accuracy") for r in load_runs("tiny", fresh_dir / "results")}
    assert resumed == fresh


def test_overwrite_recomputes(tmp_path):
    run(tmp_path)
    _, _, computed = run(tmp_path, overwrite=True)
    assert computed == 4


def test_cli_runs_a_named_config_and_reports(tmp_path):
    path = write_config(tmp_path, TINY)
    args = ["--results-dir", str(tmp_path / "r")]
    result = CliRunner().invoke(main, ["run", str(path), "--limit-test", "6", "--cache-dir", str(tmp_path / "c"),
                                       *args])
    assert result.exit_code == 0, result.output
    assert "4 runs computed" in result.output
    assert (tmp_path / "r" / "tiny.md").exists()
    assert CliRunner().invoke(main, ["report", "tiny", *args]).exit_code == 0
    missing = CliRunner().invoke(main, ["report", "absent", *args])
    assert missing.exit_code == 1 and "no result files" in missing.output
    unknown = CliRunner().invoke(main, ["run", "no_such_config", *args])
    assert unknown.exit_code == 1 and "full_data" in unknown.output  # lists the shipped configs


def test_run_files_record_how_they_were_made(tmp_path):
    run(tmp_path, limit=4)
    record = json.loads(next((tmp_path / "results" / "tiny" / "runs").glob("bbc_gzip-knn*.json")).read_text())
    assert record["machine"]["cores"] >= 1 and record["machine"]["nnzip"] == nnzip.__version__
    assert record["limit_test"] == 4 and record["date"]
    assert np.isfinite(record["us_per_pair"]) and record["us_per_pair"] > 0


def test_embedding_runs_keep_their_embeddings_in_the_cache_dir(tmp_path, tiny_encoder):
    text = (
        'description = "embeddings"\ndatasets = ["bbc"]\nmodels = ["embedding-knn"]\nshots = [2]\n'
        f'[model_params.embedding-knn]\nmodel_name = "{tiny_encoder}"\nmax_length = 16\n'
    )
    cfg, runner, computed = run(tmp_path, text, limit=4)
    assert computed == 1
    ds = _train_test(cfg, "bbc", 4, 2, 0)
    files = list((tmp_path / "cache" / "embedding-knn").rglob("*.npy"))
    assert len(files) == len(set(ds.X_train) | set(ds.X_test))
    first = load_runs("tiny", tmp_path / "results")[0]
    # a rerun reads the embeddings back and scores the same
    _, _, again = run(tmp_path, text, limit=4, overwrite=True)
    assert again == 1 and len(list((tmp_path / "cache" / "embedding-knn").rglob("*.npy"))) == len(files)
    assert load_runs("tiny", tmp_path / "results")[0]["accuracy"] == first["accuracy"]


LOGREG = 'description = "keys"\ndatasets = ["bbc"]\nmodels = ["tfidf-logreg"]\n'


def test_a_quick_run_is_not_reused_by_a_full_run(tmp_path):
    _, _, computed = run(tmp_path, LOGREG, limit=6)
    assert computed == 1
    _, _, computed = run(tmp_path, LOGREG, limit=None)  # the full test set: a different result, not the quick one
    assert computed == 1
    runs = load_runs("tiny", tmp_path / "results")
    full = _train_test(load_config(write_config(tmp_path, LOGREG)), "bbc", None, None, 0)
    assert sorted(r["n_test"] for r in runs) == [6, len(full.X_test)]
    assert run(tmp_path, LOGREG, limit=6)[2] == 0 and run(tmp_path, LOGREG, limit=None)[2] == 0
    # the config's own limit and the same --limit-test are one and the same run
    assert run(tmp_path, LOGREG + "limit_test = 6\n", limit=None)[2] == 0


def test_changed_model_params_are_a_new_run(tmp_path):
    run(tmp_path, LOGREG, limit=6)
    _, _, computed = run(tmp_path, LOGREG + "[model_params.tfidf-logreg]\nC = 0.5\n", limit=6)
    assert computed == 1
    assert sorted(r["params"].get("C", "") for r in load_runs("tiny", tmp_path / "results")) == ["", "0.5"]


def test_rerank_runs_are_named_apart_and_match_the_classifier(tmp_path):
    """gzip_params adds search/n_candidates to the spec (new files); exact runs keep their names."""
    cfg, _, _ = run(tmp_path, TINY.replace('models = ["gzip-knn", "tfidf-logreg"]', 'models = ["gzip-knn"]'))
    exact_files = sorted(p.name for p in (tmp_path / "results" / "tiny" / "runs").glob("*.json"))
    rerank = TINY.replace('models = ["gzip-knn", "tfidf-logreg"]', 'models = ["gzip-knn"]') + (
        'gzip_params = { search = "rerank", n_candidates = 40 }\n')
    cfg, _, computed = run(tmp_path, rerank)
    assert computed == 3
    files = sorted(p.name for p in (tmp_path / "results" / "tiny" / "runs").glob("*.json"))
    assert set(exact_files) < set(files) and len(files) == len(exact_files) + 3
    runs = {r["variant"]: r for r in load_runs("tiny", tmp_path / "results")}
    got = runs["k=1 split nearest rerank M=40"]
    assert got["search"] == "rerank" and got["n_candidates"] == 40
    ds = _train_test(cfg, "bbc", 12, None, 0)
    clf = nnzip.NCDKNeighborsClassifier(n_neighbors=1, search="rerank", n_candidates=40).fit(ds.X_train, ds.y_train)
    assert got["accuracy"] == pytest.approx(clf.score(ds.X_test, ds.y_test))
    build_report("tiny", tmp_path / "results")
    assert "k=1 split nearest rerank M=40" in (tmp_path / "results" / "tiny.md").read_text()


TRANSFORMER = """
description = "tiny transformer"
datasets = ["bbc"]
models = ["transformer", "tfidf-logreg"]
shots = [2]
seeds = [0]
model_params_for.transformer = {{ bbc = {{ max_length = 16 }} }}

[model_params.transformer]
model_name = "{encoder}"
epochs = 2
max_steps = 3
batch_size = 5
validation_fraction = 0.0
verbose = 0
"""


def test_transformer_row_records_device_checkpoint_and_seconds(tmp_path, tiny_encoder, monkeypatch):
    text = TRANSFORMER.format(encoder=tiny_encoder)
    cfg, runner, computed = run(tmp_path, text, limit=6, models=["transformer"])
    assert computed == 1  # --model picked the transformer only
    (row,) = load_runs("tiny", tmp_path / "results")
    assert row["model"] == "transformer" and row["status"] == "ok" and row["n_train"] == 2 * 5 and row["n_test"] == 6
    assert row["device"] == "cpu: cpu" and row["checkpoint"] == tiny_encoder and row["bf16"] is False
    assert row["steps"] == 3 and row["epochs_run"] == 2  # 2 steps per epoch: max_steps stopped epoch 2 after one
    assert row["fit_seconds"] > 0 and row["predict_seconds"] > 0
    # each of the three is rounded to 3 decimals: their sum may differ by up to 1.5e-3
    assert row["seconds"] >= row["fit_seconds"] + row["predict_seconds"] - 2e-3
    # the per-dataset parameters reach the model and are part of the run's key
    assert "max_length': 16" in str(row["params"]) or row["params"]["max_length"] == "16"
    assert runner.key_spec({"dataset": "bbc", "model": "transformer"})["model_params"]["max_length"] == 16
    monkeypatch.setattr("experiments.report.CONFIG_DIR", tmp_path)  # where the test's tiny.toml is
    build_report("tiny", tmp_path / "results")
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "cpu: cpu" in md and tiny_encoder in md
    # the part of the config that --model left out is listed, not silently absent
    assert "Not run yet (no result file; the README says why): tfidf-logreg on bbc at 2 shots." in md


def test_run_picks_part_of_a_config_and_names_what_is_not_in_it(tmp_path, tiny_encoder):
    text = TRANSFORMER.format(encoder=tiny_encoder)
    cfg = load_config(write_config(tmp_path, text))
    with pytest.raises(ConfigError, match="tiny.toml: --model gzip-knn: not in the config; it has transformer"):
        Runner(cfg, tmp_path / "results", models=["gzip-knn"])
    with pytest.raises(ConfigError, match="--shots 7: not in the config; it has 2"):
        Runner(cfg, tmp_path / "results", shots=[7])
    result = CliRunner().invoke(main, ["run", str(tmp_path / "tiny.toml"), "--results-dir", str(tmp_path / "r"),
                                       "--limit-test", "6", "--model", "tfidf-logreg", "--shots", "2"])
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in load_runs("tiny", tmp_path / "r")] == ["tfidf-logreg"]
    bad = write_config(tmp_path, text.replace("bbc = {", "r8 = {"), "bad")
    with pytest.raises(ConfigError, match="not one of the config's datasets"):
        load_config(bad)
