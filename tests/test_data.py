"""Data loading: embedded BBC, file formats, local folders and the hub path (mocked offline)."""

import gzip

import pytest

from nnzip import data
from nnzip.errors import InputError


def test_bbc_is_complete_deterministic_and_stratified():
    a, b = data.load_bbc(), data.load_bbc()
    assert len(a.X_train) + len(a.X_test) == 2225
    assert (len(a.X_train), len(a.X_test)) == (1780, 445)
    assert a.X_test == b.X_test and a.y_train == b.y_train
    assert sorted(set(a.y_train)) == list(data.BBC_CLASSES)
    share = a.y_test.count("sports") / len(a.y_test)
    assert share == pytest.approx(511 / 2225, abs=0.01)


def test_tsv_splits_on_newline_only(tmp_path):
    p = tmp_path / "d.tsv.gz"
    p.write_bytes(gzip.compress("a\tone\x85still one\x0cand more\nb\ttwo\n".encode()))
    texts, labels = data.read_tsv(p)
    assert texts == ["one\x85still one\x0cand more", "two"] and labels == ["a", "b"]


def test_parquet_and_missing_label_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["x", "y"], "label": [1, 2]}), p)
    assert data.read_file(p) == (["x", "y"], [1, 2])
    pq.write_table(pa.table({"text": ["x"]}), p)
    assert data.read_file(p) == (["x"], None)
    p.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read Parquet file"):
        data.read_file(p)


def test_bad_jsonl_names_the_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        data.read_file(p)


def test_partial_local_dataset_says_what_is_missing(monkeypatch, tmp_path):
    (tmp_path / "partial" / "half").mkdir(parents=True)
    (tmp_path / "partial" / "half" / "test.tsv.gz").write_bytes(gzip.compress(b"a\tx\n"))
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))
    assert "half" in data.local_datasets()
    with pytest.raises(InputError, match="only its test set is available"):
        data.load_local("half")


def test_hub_path_converts_class_labels(monkeypatch):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    fake = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]}, features=features),
        test=datasets.Dataset.from_dict({"text": ["fine"], "label": [1]}, features=features),
    )
    calls = []
    monkeypatch.delenv("NNZIP_DATA_DIR", raising=False)  # else the local imdb folder wins
    monkeypatch.setattr(datasets, "load_dataset", lambda name: calls.append(name) or fake)
    ds = data.load_dataset("imdb")
    assert calls == ["imdb"]
    assert ds.X_train == ["good", "bad"] and ds.y_train == ["pos", "neg"] and ds.y_test == ["pos"]
    with pytest.raises(InputError, match="no label column 'topic'"):
        data.load_hub("imdb", label_col="topic")


def test_duplicate_report():
    assert data.duplicate_report(["a", "b", "c"], ["a", "z", "a", "q"]) == (2, 0.5)


@pytest.mark.integration
def test_local_r8_matches_manifest(data_dir):
    ds = data.load_local("r8")
    assert (len(ds.X_train), len(ds.X_test)) == (5485, 2189)
    assert data.duplicate_report(ds.X_train, ds.X_test)[0] == 4
