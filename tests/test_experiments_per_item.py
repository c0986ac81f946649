"""Per-item output of the experiment runs: what the sidecars hold, when a run is done, and the reader's checks."""

import gzip
import hashlib
import json
import shutil

import numpy as np
import pytest

import nnzip
from experiments import per_item, runner
from experiments.config import load_config
from experiments.per_item import DamagedFile, read_run, read_sidecar, run_is_done
from experiments.report import build_report, load_runs, scan_runs
from experiments.runner import Runner, _train_test
from nnzip.baselines.bow import CountCosineKNN
from nnzip.data import load_bbc
from nnzip.tied_neighbors import TiedNeighbors

CONFIG = """
description = "per-item"
datasets = ["bbc"]
models = ["gzip-knn", "tfidf-logreg", "count-cosine-knn"]
knn_variants = [[1, "nearest"], [2, "nearest"], [3, "decrement"], [2, "random"]]
not_run = { transformer = "no GPU in the test" }
"""
LIMIT = 20


def make_runner(folder, text=CONFIG, limit=LIMIT, **kwargs):
    path = folder / "tiny.toml"
    if not path.exists():
        path.write_text(text)
    return Runner(load_config(path), folder / "results", limit, cache_dir=folder / "cache", **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished quick run of CONFIG on BBC (read-only: tests that change it work on a copy)."""
    folder = tmp_path_factory.mktemp("per_item")
    assert make_runner(folder).run() == 6
    return folder


@pytest.fixture
def copy(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def runs_of(folder):
    return {(r["model"], r["variant"]): r for r in load_runs("tiny", folder / "results")}


def test_every_run_names_an_intact_sidecar_and_gzip_variants_share_one(finished):
    runs = runs_of(finished)
    assert runs[("transformer", "default")]["per_item"] is None
    assert runs[("transformer", "default")]["per_item_reason"] == "not run: no GPU in the test"
    ok = [r for r in runs.values() if r["status"] == "ok"]
    assert len(ok) == 6
    for run in ok:
        path = run["_file"].parent / run["per_item"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == run["per_item_sha256"]
        assert path.name.endswith(run["per_item_sha256"][:16] + ".jsonl.gz") and run["per_item_rows"] == LIMIT
        assert run_is_done(run["_file"])
    assert len({r["per_item"] for r in ok if r["model"] == "gzip-knn"}) == 1
    assert len({r["per_item"] for r in ok}) == 3


def test_sidecars_hold_the_test_rows_labels_and_predictions(finished):
    cfg = load_config(finished / "tiny.toml")
    ds = _train_test(cfg, "bbc", LIMIT, None, 0)
    full = load_bbc()
    assert [full.X_test[i] for i in ds.test_rows] == ds.X_test  # rows of the test split as loaded
    for (model, variant), run in runs_of(finished).items():
        if run["status"] != "ok":
            continue
        item = read_sidecar(run["_file"], run)
        assert item.index.tolist() == ds.test_rows.tolist() and item.true.tolist() == ds.y_test
        assert not item.duplicate.any() or model  # BBC repeats some articles; the flag is per item
        assert item.duplicate.tolist() == [t in set(ds.X_train) for t in ds.X_test]
        assert item.correct(variant).mean() == pytest.approx(run["accuracy"])
        if model == "gzip-knn":
            k, tie_break = run["k"], run["tie_break"]
            clf = nnzip.NCDKNeighborsClassifier(n_neighbors=k, tie_break=tie_break, random_state=0)
            assert item.predicted[variant].tolist() == clf.fit(ds.X_train, ds.y_train).predict(ds.X_test).tolist()


def test_gzip_neighbours_are_the_exact_ones_with_every_boundary_tie(finished):
    ds = _train_test(load_config(finished / "tiny.toml"), "bbc", LIMIT, None, 0)
    run = runs_of(finished)[("gzip-knn", "k=3 split decrement")]
    item = read_sidecar(run["_file"], run)
    expected = TiedNeighbors.from_distances(nnzip.pairwise_distances(ds.X_test, ds.X_train), 3)
    assert item.indptr.tolist() == expected.indptr.tolist()
    assert item.neighbors.tolist() == ds.train_rows[expected.indices].tolist()
    assert item.distances.tolist() == expected.distances.tolist()  # exact float64, through JSON and back
    assert item.neighbor_labels.tolist() == np.asarray(ds.y_train)[expected.indices].tolist()
    for k in (1, 2, 3):
        nb, y_train = item.tied_neighbors(k)
        reference = TiedNeighbors.from_distances(nnzip.pairwise_distances(ds.X_test, ds.X_train), k)
        assert nb.row_lengths.tolist() == reference.row_lengths.tolist()
        assert nb.distances.tolist() == reference.distances.tolist()
        assert y_train[nb.indices].tolist() == np.asarray(ds.y_train)[reference.indices].tolist()


def test_knn_baselines_keep_their_neighbours_with_ties(finished):
    ds = _train_test(load_config(finished / "tiny.toml"), "bbc", LIMIT, None, 0)
    run = runs_of(finished)[("count-cosine-knn", "default")]
    item = read_sidecar(run["_file"], run)
    model = CountCosineKNN(random_state=0, n_jobs=-1).fit(ds.X_train, ds.y_train)
    dist, idx = model.kneighbors(ds.X_test, n_neighbors=len(ds.X_train))
    for i in range(item.n):
        lo, hi = item.indptr[i], item.indptr[i + 1]
        boundary = dist[i, 1]  # the model's k is 2
        assert hi - lo == int((dist[i] <= boundary).sum()) >= 2
        assert sorted(item.neighbors[lo:hi].tolist()) == sorted(idx[i][dist[i] <= boundary].tolist())


def test_few_shot_sidecars_point_into_the_full_training_file(tmp_path):
    text = ('datasets = ["bbc"]\nmodels = ["gzip-knn"]\nknn_variants = [[1, "nearest"], [3, "decrement"]]\n'
            "shots = [2]\nseeds = [0, 1]\n")
    make_runner(tmp_path, text, limit=8).run()
    full = load_bbc()
    cfg = load_config(tmp_path / "tiny.toml")
    for run in load_runs("tiny", tmp_path / "results"):
        item = read_sidecar(run["_file"], run)
        ds = _train_test(cfg, "bbc", 8, 2, run["seed"])
        assert [full.y_test[i] for i in item.index] == item.true.tolist()
        assert set(item.neighbors.tolist()) <= set(ds.train_rows.tolist())
        assert [full.y_train[i] for i in item.neighbors] == item.neighbor_labels.tolist()
        assert len(ds.train_rows) == 10 and [full.X_train[i] for i in ds.train_rows] == ds.X_train


def test_a_finished_run_is_not_redone(copy):
    assert make_runner(copy).run() == 0


@pytest.mark.parametrize(
    ("damage", "redone"),
    [
        ("delete the gzip sidecar", 4),
        ("corrupt the gzip sidecar", 4),
        ("cut a run file in half", 1),
        ("a run file from before per-item output", 1),
    ],
)
def test_a_run_without_an_intact_sidecar_is_redone(copy, damage, redone):
    runs = runs_of(copy)
    gzip_sidecar = copy / "results" / "tiny" / "runs" / runs[("gzip-knn", "k=1 split nearest")]["per_item"]
    logreg = runs[("tfidf-logreg", "default")]["_file"]
    if damage == "delete the gzip sidecar":
        gzip_sidecar.unlink()
    elif damage == "corrupt the gzip sidecar":
        data = bytearray(gzip_sidecar.read_bytes())
        data[len(data) // 2] ^= 0xFF
        gzip_sidecar.write_bytes(bytes(data))
    elif damage == "cut a run file in half":
        logreg.write_bytes(logreg.read_bytes()[: logreg.stat().st_size // 2])
    else:
        run = json.loads(logreg.read_text())
        for key in ("per_item", "per_item_sha256", "per_item_rows"):
            del run[key]
        logreg.write_text(json.dumps(run))
    assert make_runner(copy).run() == redone
    assert all(run_is_done(r["_file"]) for r in runs_of(copy).values())
    assert gzip_sidecar.exists()  # the same rows again: the same name


def test_a_run_that_keeps_aggregates_on_purpose_is_done(copy):
    logreg = runs_of(copy)[("tfidf-logreg", "default")]["_file"]
    run = json.loads(logreg.read_text()) | {"per_item": None, "per_item_reason": "GPU run"}
    logreg.write_text(json.dumps(run))
    assert run_is_done(logreg) and make_runner(copy).run() == 0


def test_the_sidecar_is_written_before_the_run_file_that_names_it(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "write_json", crash)
    r = make_runner(tmp_path, 'datasets = ["bbc"]\nmodels = ["tfidf-logreg"]\n')
    with pytest.raises(KeyboardInterrupt):
        r.run()
    runs_dir = tmp_path / "results" / "tiny" / "runs"
    assert [p.name.endswith(".jsonl.gz") for p in runs_dir.iterdir()] == [True]
    found = scan_runs("tiny", tmp_path / "results")
    assert not found.runs and "1 per-item file that no run file names" in found.ignored[0]
    monkeypatch.undo()
    assert make_runner(tmp_path).run() == 1


def rewrite_sidecar(run_file, rows_text: bytes, **changes):
    """Replace a run's sidecar with other bytes and record their checksum, as if written so."""
    run = read_run(run_file)
    path = run_file.parent / run["per_item"]
    path.write_bytes(rows_text)
    run |= {"per_item_sha256": hashlib.sha256(rows_text).hexdigest(), **changes}
    run_file.write_text(json.dumps(run))
    return read_run(run_file)


def sidecar_lines(run_file):
    run = read_run(run_file)
    return gzip.decompress((run_file.parent / run["per_item"]).read_bytes()).decode().splitlines()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("checksum", "its checksum differs"),
        ("rows", "20 lines, the run file says 21"),
        ("field", "line 1 has no 'true'"),
        ("truncated", "damaged"),
        ("variant", "no prediction for the run's variant"),
        ("neighbours", "neighbors, distances and neighbor_labels must be lists of one length"),
        ("missing", "cannot be read"),
    ],
)
def test_the_reader_names_a_damaged_sidecar(copy, damage, message):
    run_file = runs_of(copy)[("gzip-knn", "k=2 split nearest")]["_file"]
    lines = sidecar_lines(run_file)
    run = read_run(run_file)
    if damage == "checksum":
        run_file.write_text(json.dumps(run | {"per_item_sha256": "0" * 64}))
        run = read_run(run_file)
    elif damage == "rows":
        run = rewrite_sidecar(run_file, gzip.compress("\n".join(lines).encode()), per_item_rows=21)
    elif damage == "field":
        first = json.loads(lines[0])
        del first["true"]
        run = rewrite_sidecar(run_file, gzip.compress("\n".join([json.dumps(first), *lines[1:]]).encode()))
    elif damage == "truncated":
        data = gzip.compress("\n".join(lines).encode())
        run = rewrite_sidecar(run_file, data[: len(data) // 2])
    elif damage == "variant":
        run_file.write_text(json.dumps(run | {"variant": "k=9 split nearest"}))
        run = read_run(run_file)
    elif damage == "neighbours":
        first = json.loads(lines[0])
        first["distances"] = first["distances"][:-1]
        run = rewrite_sidecar(run_file, gzip.compress("\n".join([json.dumps(first), *lines[1:]]).encode()))
    else:
        (run_file.parent / run["per_item"]).unlink()
    with pytest.raises(DamagedFile, match=message) as info:
        read_sidecar(run_file, run)
    assert run["per_item"] in str(info.value)
    assert not run_is_done(run_file)


def test_item_rows_refuse_columns_of_other_lengths():
    with pytest.raises(per_item.InputError, match="one entry per test item"):
        per_item.item_rows([0, 1], ["a", "b"], [False, False], {"default": ["a"]})


def test_the_report_reads_the_sidecars_it_is_given(finished, tmp_path):
    shutil.copytree(finished / "results", tmp_path / "results")
    build_report("tiny", tmp_path / "results")
    assert "95% CI" in (tmp_path / "results" / "tiny.md").read_text()
