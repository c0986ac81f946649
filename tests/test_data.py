"""Data loading: embedded BBC, file formats, local folders and the hub path (mocked offline)."""

import csv
import gzip
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnzip import data
from nnzip.errors import InputError, NNZipError


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


# ---- readers: a fuzz test, and what every reader does -----------------------------------------

# texts as people have them: any character, newlines and TABs where the format can carry them
# the characters that break readers come often: line ends, TAB, quotes, commas, BOM, NEL, spaces
_any_text = st.text(st.one_of(st.sampled_from(list('\r\n\t",\ufeff\x85 ')),
                              st.characters(blacklist_categories=("Cs",))), max_size=30)
# a label never starts a TSV with U+FEFF: that is a byte-order mark, dropped by design
_label = st.one_of(st.integers(-5, 5),
                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\t\r\ufeff"),
                           min_size=1, max_size=8))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(_any_text, _label), min_size=1, max_size=6),
    fmt=st.sampled_from(["tsv", "csv", "jsonl", "tsv.gz", "CSV.GZ", "Jsonl"]),
    bom=st.booleans(),
    crlf=st.booleans(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_readers_round_trip(tmp_path, rows, fmt, bom, crlf, quoting):
    """Written by the usual tools, read back identical, or a clean InputError, never another exception."""
    eol = "\r\n" if crlf else "\n"
    base = fmt.lower().removesuffix(".gz")
    if base == "tsv":  # a TSV cannot carry a newline or TAB in a text, nor a '\r' just before its line end
        rows = [(t.replace("\n", " ").replace("\t", " ").rstrip("\r"), str(lab)) for t, lab in rows]
        body = "".join(f"{lab}\t{t}{eol}" for t, lab in rows)
    elif base == "csv":  # CSV labels are strings; a '\r\n' inside a quoted field is a line end too
        rows = [(t.replace("\r\n", "\n"), str(lab)) for t, lab in rows]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=eol, quoting=quoting)
        writer.writerows([("text", "label"), *[(t, lab) for t, lab in rows]])
        body = out.getvalue()
    else:  # JSON escapes every control character, so anything goes
        labels = [lab for _, lab in rows]
        if len({type(v) for v in labels}) > 1:  # mixed types are an error by design: make them one type
            rows = [(t, str(lab)) for t, lab in rows]
        body = "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=bool(crlf)) + eol for t, lab in rows)
    raw = (("\ufeff" if bom else "") + body).encode("utf-8")
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(gzip.compress(raw) if fmt.lower().endswith(".gz") else raw)
    texts, labels = data.read_file(path)  # well-formed input: no error at all
    want_texts = [t for t, _ in rows]
    if base == "tsv" and labels is None:  # no TAB anywhere cannot happen: each line has one
        pytest.fail("a labelled TSV was read as unlabelled")
    assert texts == want_texts
    assert labels == [lab for _, lab in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=60),
                     st.lists(st.sampled_from([b"\t", b"\n", b"\r", b'"', b",", b"{", b"}", b"[", b"]", b":",
                                               b'"text"', b'"label"', b"text,label", b"\xef\xbb\xbf", b"\xff",
                                               b"0", b"1.5", b"null", b"a"]), max_size=20).map(b"".join)),
       suffix=st.sampled_from([".tsv", ".txt", ".csv", ".jsonl", ".json", ".tsv.gz", ".parquet"]),
       cut=st.one_of(st.none(), st.integers(0, 80)))
def test_readers_never_fail_uncleanly(tmp_path, raw, suffix, cut):
    """Arbitrary bytes under any supported name (a .gz also cut short): texts and labels, or a clean InputError."""
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(gzip.compress(raw)[:cut] if suffix.endswith(".gz") else raw)
    try:
        texts, labels = data.read_file(path)
    except NNZipError:  # an InputError, or for Parquet without pyarrow a MissingDependencyError
        return
    assert all(isinstance(t, str) for t in texts)
    assert labels is None or len(labels) == len(texts)


def test_lone_carriage_return_is_kept_and_crlf_is_a_line_end(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_bytes(b"a\tone\rstill one\r\nb\ttwo\r\n")
    assert data.read_file(p) == (["one\rstill one", "two"], ["a", "b"])
    p = tmp_path / "d.csv"
    p.write_bytes(b'text,label\r\n"one\rstill one",a\r\n"two\r\nlines",b\r\n')
    assert data.read_file(p) == (["one\rstill one", "two\nlines"], ["a", "b"])
    p.write_bytes(b"text,label\r\none\runquoted,a\r\n")  # csv.writer leaves a lone \r unquoted
    assert data.read_file(p) == (["one\runquoted"], ["a"])


def test_json_array_and_json_lines(tmp_path):
    p = tmp_path / "d.JSON"
    p.write_text(json.dumps([{"text": "x", "label": 1}, {"text": "y", "label": 2}]))
    assert data.read_file(p) == (["x", "y"], [1, 2])
    p.write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 2}\n')
    assert data.read_file(p) == (["x", "y"], [1, 2])
    p.write_text("[1, 2]")
    with pytest.raises(InputError, match="item 1 of the JSON array is not an object"):
        data.read_file(p)


@pytest.mark.parametrize("name", ["d.xlsx", "d", "d.parquet.gz", "d.gz"])
def test_unknown_suffix_names_the_formats(tmp_path, name):
    with pytest.raises(InputError, match=r"cannot tell the file format.*\.tsv.*\.csv.*\.jsonl.*\.parquet"):
        data.read_file(tmp_path / name)


def test_unknown_dataset(monkeypatch, tmp_path):
    (tmp_path / "mine").mkdir()
    for split in ("train", "test"):
        (tmp_path / "mine" / f"{split}.tsv.gz").write_bytes(gzip.compress(b"pets\ta cat\nmoney\tshares fell\n"))
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(NNZipError, match=r"no dataset 'nope' here \(not 'bbc'; local datasets under \$NNZIP_DATA_DIR: "
                                         r"mine\).*nnzip\[datasets\]"):
        data.load_dataset("nope")


# ---- damaged and odd files: one line naming the file ----------------------------------------------

GOOD_TSV = b"pets\tthe cat sat on the mat\nmoney\tstocks fell sharply today\n" * 20


def _damaged_gzips() -> dict[str, bytes]:
    whole = gzip.compress(GOOD_TSV)
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF  # a bad block: zlib.error (or a CRC mismatch: BadGzipFile)
    return {"truncated": whole[: len(whole) // 2], "flipped": bytes(flipped), "not gzip": GOOD_TSV,
            "header only": whole[:10], "empty": b"", "bad header": b"\x1f\x8b" + b"\x00" * 20}


@pytest.mark.parametrize("kind", list(_damaged_gzips()))
def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path, kind):
    path = tmp_path / "train.tsv.gz"
    path.write_bytes(_damaged_gzips()[kind])
    if kind == "empty":  # an empty .gz is an empty file (gzip reads it as such): the empty training set
        with pytest.raises(InputError, match="the training set is empty"):
            data.load_files(path, path)
        return
    with pytest.raises(InputError, match=rf"^{path} is not a complete gzip file \(.+\); check it with gzip -t$"):
        data.read_file(path)


def test_corrupt_dataset_under_data_dir_is_one_line(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from nnzip.cli import cli

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "train.tsv.gz").write_bytes(gzip.compress(GOOD_TSV)[:-12])  # cut before its trailer
    (tmp_path / "broken" / "test.tsv.gz").write_bytes(gzip.compress(GOOD_TSV))
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(cli, ["classify", "--dataset", "broken", "-q"], catch_exceptions=False)
    assert r.exit_code == 1
    assert r.output.strip() == (f"Error: {tmp_path / 'broken' / 'train.tsv.gz'} is not a complete gzip file "
                                "(Compressed file ended before the end-of-stream marker was reached); check it with "
                                "gzip -t")


def test_names_too_long_are_one_line_before_anything_is_read(tmp_path, monkeypatch):
    good = tmp_path / "good.tsv"
    good.write_bytes(GOOD_TSV)
    long = tmp_path / ("x" * 300 + ".tsv")

    def never(*args, **kwargs):
        raise AssertionError("a file was read before both names were checked")

    monkeypatch.setattr(data, "read_file", never)
    for train, test in ((long, good), (good, long)):
        with pytest.raises(InputError, match=rf"^cannot read {long}: the name is too long for the file system"):
            data.load_files(train, test)
    with pytest.raises(InputError, match=f"^file not found: {tmp_path / 'missing.tsv'}$"):
        data.load_files(good, tmp_path / "missing.tsv")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_a_column_named_twice_is_an_error_naming_it(tmp_path, fmt):
    path = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        path.write_text("text,label,text\nthe cat,pets,a dog\nstocks,money,bonds\n")
        where = "the header"
    elif fmt == "jsonl":
        path.write_text('{"text": "the cat", "label": "pets"}\n{"label": "money", "text": "x", "text": "y"}\n')
        where = "line 2"
    elif fmt == "json":
        path.write_text('[{"text": "the cat", "label": "pets", "label": "money"}]')
        where = "an object"
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table([pa.array(["the cat"]), pa.array(["pets"]), pa.array(["x"])],
                                names=["text", "label", "label"]), path)
        where = "the schema"
    column = "label" if fmt in ("json", "parquet") else "text"
    with pytest.raises(InputError, match=rf"^{path}: {where} names the column '{column}' 2 times; nnzip cannot tell"):
        data.read_file(path)


def test_repeated_columns_nnzip_does_not_read_are_fine(tmp_path):
    # a spreadsheet export with trailing empty columns names "" twice; a nested object may repeat keys
    (tmp_path / "d.csv").write_text("text,label,,\nthe cat,pets,,\n")
    assert data.read_file(tmp_path / "d.csv") == (["the cat"], ["pets"])
    (tmp_path / "d.jsonl").write_text('{"text": "the cat", "label": "pets", "meta": {"a": 1, "a": 2}, "x": 1, "x": 2}')
    assert data.read_file(tmp_path / "d.jsonl") == (["the cat"], ["pets"])


def test_text_and_label_column_must_differ(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\nthe cat,pets\n")
    with pytest.raises(InputError, match="^the text column and the label column are both 'label'; name two different"):
        data.read_file(tmp_path / "d.csv", text_col="label", label_col="label")
