"""Real users' files and real users' mistakes (issue 13): each kind of bad input and what nnzip does.

``CASES`` is the table of the documentation's "Reliability" page (``docs/cli/reliability.md``):
``test_docs_table_is_the_cases`` checks that the page shows exactly these rows, and
``test_case`` runs every row that is a command through the CLI (with ``catch_exceptions=False``,
so an unexpected exception fails the test instead of being swallowed). Rows answered by a
dedicated test name it in ``covered_by``. Print the table with ``python tests/test_reliability.py``.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nnzip import data
from nnzip.cache import BlockCache
from nnzip.errors import InputError
from nnzip.models import MODELS, make_model

from test_validation import BAD_LABELS

PETS = ["the cat sat on the mat", "my dog chased the cat", "a kitten and a puppy play", "the dog barked at the cat"]
MONEY = ["stocks fell sharply today", "the market rallied on earnings", "bond yields rose again",
         "shares of the bank fell"]
TEST = [("pets", "a cat and a dog"), ("money", "stock market shares fell")]
TEST_TEXTS = [t for _, t in TEST]
TABLE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli" / "reliability.md"


def tsv(path: Path, rows, *, bom=False, eol="\n", gz=False) -> str:
    body = ("\ufeff" if bom else "") + "".join(f"{lab}\t{t}{eol}" for lab, t in rows)
    raw = body.encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return str(path)


def jsonl(path: Path, rows, *, bom=False) -> str:
    body = ("\ufeff" if bom else "") + "".join(json.dumps({"text": t, "label": lab}) + "\n" for lab, t in rows)
    path.write_text(body, encoding="utf-8")
    return str(path)


def csv_file(path: Path, rows, *, bom=False, eol="\n") -> str:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f, lineterminator=eol)
        w.writerow(["text", "label"])
        w.writerows([t, lab] for lab, t in rows)
    return str(path)


TRAIN = [("pets", t) for t in PETS] + [("money", t) for t in MONEY]


def make_train_tsv(tmp: Path) -> str:
    return tsv(tmp / "train.tsv", TRAIN)


def make_test_tsv(tmp: Path) -> str:
    return tsv(tmp / "test.tsv", TEST)


@dataclass
class Case:
    """One kind of bad input: what it is, what nnzip does, and how the test provokes it."""

    kind: str
    does: str
    args: Callable[[Path], list[str]] | None = None  # CLI arguments after "classify", built in tmp_path
    exit_code: int = 1
    says: str = ""  # appears in the output
    check: Callable[[Path, str], None] | None = None  # further checks on tmp_path and the output
    covered_by: str = ""  # the test that checks a row without CLI arguments


def _same_bytes(name: str, want: Callable[[Path], bytes]) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        assert (tmp / name).read_bytes() == want(tmp), f"{name} was changed"

    return check


def _int_label_outputs(tmp: Path, out: str) -> None:
    rows = list(csv.DictReader((tmp / "p.csv").open()))
    assert [r["predicted"] for r in rows] == ["0", "1"] and [r["true"] for r in rows] == ["0", "1"]
    m = json.loads((tmp / "m.json").read_text())
    assert m["accuracy"] == 1.0 and m["n_test"] == 2


def _bom_crlf(tmp: Path) -> list[str]:
    return ["--train", tsv(tmp / "train.tsv", TRAIN, bom=True, eol="\r\n"),
            "--test", csv_file(tmp / "test.csv", TEST, bom=True, eol="\r\n"), "-k", "1"]


def _cache_entry_is_folder(tmp: Path) -> list[str]:
    from click.testing import CliRunner

    from nnzip.cli import cli

    args = ["--train", make_train_tsv(tmp), "--test", make_test_tsv(tmp), "-k", "1", "--cache-dir", str(tmp / "c")]
    assert CliRunner().invoke(cli, ["classify", *args], catch_exceptions=False).exit_code == 0
    entry = next((tmp / "c").rglob("*.npz"))
    entry.unlink()
    entry.mkdir()
    return args


def _socket(tmp: Path) -> str:
    with socket.socket(socket.AF_UNIX) as sock:  # its file stays after it is closed
        sock.bind(str(tmp / "sock"))
    return str(tmp / "sock")


def _output_untouched_symlink(tmp: Path) -> list[str]:
    train = make_train_tsv(tmp)
    (tmp / "link.tsv").symlink_to(train)
    return ["--train", train, "--test", make_test_tsv(tmp), "--output", str(tmp / "link.tsv")]


CASES = [
    Case("Integer labels (`{\"label\": 0}`, the Hugging Face convention)",
         "kept as ints: predictions, metrics, `--output` and `--metrics-json` work",
         lambda t: ["--train", jsonl(t / "train.jsonl", [(i // 4, x) for i, x in enumerate(PETS + MONEY)]),
                    "--test", jsonl(t / "test.jsonl", [(0, "a cat and a dog"), (1, "stock market shares fell")]),
                    "-k", "1", "--output", str(t / "p.csv"), "--metrics-json", str(t / "m.json")],
         0, "accuracy 1.0000", _int_label_outputs),
    Case("Labels of mixed types (`0` and `\"0\"`, `7` and `\"x\"`)",
         "error naming the row, before any compression",
         lambda t: ["--train", jsonl(t / "train.jsonl", [(0, "a"), ("0", "b")]), "--test", make_test_tsv(t)],
         1, "row 2: label '0' is a str but row 1 has the int label 0"),
    Case("Float, NaN, `null`, list or dict labels",
         "error naming the row (labels are str, int or bool, all of one type)",
         lambda t: ["--train", jsonl(t / "train.jsonl", [("a", "x"), (float("nan"), "y")]), "--test", make_test_tsv(t)],
         1, "row 2: label nan is a float"),
    Case("A UTF-8 byte-order mark (TSV, CSV, JSON lines; gzip'd too)",
         "dropped by every reader", _bom_crlf, 0, "2 classes"),
    Case("Windows line ends (CRLF)",
         "a line ends at `\\n` with an optional `\\r` before it, in every format; a lone `\\r` inside a text is kept",
         _bom_crlf, 0, "accuracy 1.0000", covered_by="test_readers_round_trip"),
    Case("A CSV field longer than 131,072 characters", "read (the csv field limit is raised while reading)",
         lambda t: ["--train", make_train_tsv(t), "--test", csv_file(t / "long.csv", [("pets", "cat " * 50000)]),
                    "-k", "1"],
         0, "8 train, 1 test"),
    Case("A suffix in capitals (`.CSV`, `.Tsv.GZ`)", "recognised: suffixes are case-insensitive",
         lambda t: ["--train", tsv(t / "TRAIN.Tsv.GZ", TRAIN, gz=True), "--test", csv_file(t / "TEST.CSV", TEST),
                    "-k", "1"], 0, "accuracy 1.0000"),
    Case("A `.json` file", "read as JSON lines, or as one JSON array of objects",
         lambda t: ["--train", make_train_tsv(t), "--test", str(t / "test.json"), "-k", "1"], 0, "accuracy 1.0000",
         covered_by="test_json_array_and_json_lines"),
    Case("An unknown suffix (`.xlsx`, none)", "error naming the formats nnzip reads",
         lambda t: ["--train", make_train_tsv(t), "--test", str(t / "test.xlsx")], 1, "cannot tell the file format"),
    Case("Bytes that are not UTF-8", "error naming the line; `--encoding-errors replace` proceeds",
         lambda t: ["--train", make_train_tsv(t), "--test", str(t / "bad.tsv")], 1, "line 1 is not valid UTF-8",
         covered_by="test_bad_files"),
    Case("An unlabelled test file whose texts contain a TAB",
         "error: none of its \"labels\" is a training label, and why that happens (never a silent accuracy 0)",
         lambda t: ["--train", make_train_tsv(t),
                    "--test", tsv(t / "test.tsv", [("a cat", "and a dog"), ("shares", "fell")])],
         1, "none of the 2 test labels"),
    Case("Test labels that never occur in training", "warning with their number; the others are scored",
         lambda t: ["--train", make_train_tsv(t), "--test", tsv(t / "test.tsv", TEST + [("birds", "a parrot")]),
                    "-k", "1"],
         0, "1 of 3 test items have a label that never occurs in training"),
    Case("`--output` equal to `--train` or `--test` (also through a symlink)",
         "error before anything is read; the input is untouched", _output_untouched_symlink, 1,
         "is an input file", _same_bytes("train.tsv", lambda t: "".join(f"{a}\t{b}\n" for a, b in TRAIN).encode())),
    Case("`--output` equal to `--metrics-json`", "error before anything is read",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--output", str(t / "o"),
                    "--metrics-json", f"{t}/./o"], 1, "are the same file"),
    Case("An output under a path whose parent is a file, or not writable", "error before anything is computed",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t),
                    "--output", str(t / "train.tsv" / "p.csv")],
         1, "cannot be written"),
    Case("An output in a folder that does not exist", "the folder is created; files get the user's umask",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "-k", "1",
                    "--output", str(t / "new" / "p.csv")],
         0, "accuracy", lambda t, out: (t / "new" / "p.csv").is_file(), covered_by="test_outputs_get_the_umask"),
    Case("A `--cache-dir` that cannot be written (read-only, or under a file)",
         "one warning, then the run goes on without the cache",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "-k", "1", "--cache-dir",
                    str(t / "train.tsv" / "cache")], 0, "Warning: cache"),
    Case("A cache entry replaced by a folder", "warning; the block is recomputed and the run goes on",
         _cache_entry_is_folder, 0, "not a file; recomputing it"),
    Case("`cache_dir` given as a file in the Python API", "one warning, then computed without the cache",
         covered_by="test_cache_dir_that_is_a_file_warns_once"),
    Case("`--dataset` with an unknown name", "error listing the local datasets and what else was tried",
         lambda t: ["--dataset", "no-such-dataset"], 1, "'no-such-dataset'", covered_by="test_unknown_dataset"),
    Case("`--dataset` naming a local set that has only a test set", "error saying only its test set is present",
         covered_by="test_partial_local_dataset_says_what_is_missing"),
    Case("Texts that are not strings (`None`, numbers), in any model's `fit`/`predict`",
         "`InputError` naming the item, the same for gzip-kNN and every baseline",
         covered_by="test_every_model_raises_the_same_errors"),
    Case("Bad labels given to a classifier's `fit` (Python API)", "`InputError` before any compression",
         covered_by="test_label_rules_are_checked_before_compression"),
    Case("Ctrl-C during a run", "exit status 130 and one line; finished blocks stay in the cache and a rerun resumes",
         covered_by="test_sigkill_and_sigint_resume_identically"),
    Case("The process killed (`kill -9`, power cut) during a run",
         "a rerun recomputes only unfinished blocks and gives byte-identical predictions",
         covered_by="test_sigkill_and_sigint_resume_identically"),
    # issue 23: every input checked before the work, every output written safely
    Case("An option the chosen model does not take (`-k` for `tfidf-logreg`, `--max-epochs` for `gzip-knn`)",
         "error naming the options and those the model takes; never ignored",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--model", "tfidf-logreg", "-k", "3"],
         2, "--model tfidf-logreg does not take -k", covered_by="test_an_option_the_model_does_not_take_is_an_error"),
    Case("`--n-candidates` without `--search rerank`", "error before anything is read (it is never ignored)",
         lambda t: ["--train", str(t / "missing.tsv"), "--test", make_test_tsv(t), "--n-candidates", "64"],
         1, "n_candidates=64 is used only with search='rerank'"),
    Case("`--random-state -1` (with `--tie-break random`)", "error before anything is read",
         lambda t: ["--train", str(t / "missing.tsv"), "--test", make_test_tsv(t), "--tie-break", "random",
                    "--random-state", "-1"], 1, "random_state must be an int from 0 to 4294967295"),
    Case("`--cache-dir \"\"`", "error (an empty path would put cache folders in the working directory)",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--cache-dir", ""],
         1, "cache_dir must be a non-empty path or None, got ''"),
    Case("`--text-col` equal to `--label-col`", "error: name two different columns",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--text-col", "label"],
         1, "the text column and the label column are both 'label'"),
    Case("A label holding a lone surrogate (half an emoji: `\"\\ud83d\"` in JSON)",
         "error naming the row, before any compression (it could not be written to `--output`)",
         lambda t: ["--train", jsonl(t / "train.jsonl", [("ok", "the cat"), ("a\ud83d", "stocks fell")]),
                    "--test", make_test_tsv(t), "--output", str(t / "p.csv")],
         1, "row 2: label 'a\\ud83d' is not valid Unicode: it holds a lone surrogate"),
    Case("Integer labels beyond 64 bits", "error naming the row; give such labels as str",
         lambda t: ["--train", jsonl(t / "train.jsonl", [(1, "the cat"), (2**64, "stocks fell")]),
                    "--test", make_test_tsv(t)], 1, "row 2: label 18446744073709551616 does not fit in 64 bits"),
    Case("Texts that are not an ordered sequence (`set`, `dict` or a dict view, a generator) or 2-D (an array, "
         "a DataFrame), in any model's `fit`/`predict`", "`InputError` naming what was given, for every model",
         covered_by="test_unordered_or_2d_texts_are_refused_by_every_model"),
    Case("A corrupt, truncated or not gzip'd `.gz` (`--train`/`--test`, or a `--dataset` under `NNZIP_DATA_DIR`)",
         "error naming the file", lambda t: ["--train", str(t / "cut.tsv.gz"), "--test", make_test_tsv(t)],
         1, "cut.tsv.gz is not a complete gzip file", covered_by="test_corrupt_dataset_under_data_dir_is_one_line"),
    Case("A path whose name is too long (an input or an output)", "error before anything is read",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--output", str(t / ("p" * 300))],
         1, "the name is too long", covered_by="test_names_too_long_are_one_line_before_anything_is_read"),
    Case("An output name that fits but whose temporary sibling would not",
         "the temporary name is shortened to fit; it is created and removed before the work as a check",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "-k", "1",
                    "--output", str(t / ("p" * 251 + ".csv"))], 0, "accuracy 1.0000",
         covered_by="test_long_names_are_refused_before_the_work_and_temporary_names_fit"),
    Case("A CSV header (or JSON object, Parquet schema) naming the text or label column twice",
         "error naming the column (other repeated columns are not read, and fine)",
         lambda t: ["--train", str(t / "twice.csv"), "--test", make_test_tsv(t)], 1,
         "the header names the column 'text' 2 times", covered_by="test_a_column_named_twice_is_an_error_naming_it"),
    Case("`--output -` or `--metrics-json -`",
         "written to stdout, and the figures line goes to stderr; both `-` is an error",
         covered_by="test_output_dash_is_stdout_and_the_figures_go_to_stderr"),
    Case("`--output /dev/stdout` (a link to a pipe), or any pipe, terminal or character device",
         "written straight to that stream, never renamed over", covered_by=(
             "test_output_dev_stdout_is_written_to_the_pipe_never_replaced")),
    Case("An output that is a socket, block device or folder", "error before anything is read",
         lambda t: ["--train", make_train_tsv(t), "--test", make_test_tsv(t), "--output", _socket(t)], 1,
         "sock is not a regular file, a pipe or a terminal", covered_by="test_output_path_checks"),
    Case("An output that is a symbolic link to a file", "the file it names is replaced; the link stays a link",
         covered_by="test_the_rename_replaces_only_regular_files"),
    Case("Ctrl-C with `--scheduler local:2`",
         "the same one line and exit status 130 as without a scheduler; the workers never see the Ctrl-C",
         covered_by="test_ctrl_c_with_a_local_cluster_looks_like_without"),
    Case("A model file saved with `--device cuda`, used on a machine without a GPU",
         "one line naming what is missing and `nnzip predict --device cpu` (the same results), before any work",
         covered_by="test_a_model_fitted_on_a_gpu_says_how_to_run_it_on_the_cpu"),
    Case("An experiment config with an unknown key, a wrong type or range (`shots = [0]`, `seeds = [\"a\"]`), "
         "an unknown name, or a model parameter the model does not take",
         "one line naming the file and the key, before any run",
         covered_by="test_each_mistake_is_one_line_naming_the_file_and_the_key"),
    Case("An experiment config that is not UTF-8, or a folder given as the config",
         "one line naming the file", covered_by="test_a_config_that_is_not_utf8_is_one_line"),
    Case("An experiment run file cut in half, or a stray file in `runs/`",
         "`report` names the damaged file in one line, ignores the stray one with a note, and reports the rest",
         covered_by="test_a_run_file_cut_in_half_is_named_and_the_rest_reported"),
    Case("An experiment run whose per-item file is missing or damaged",
         "a rerun redoes it; `report` names it and shows its aggregates only",
         covered_by="test_a_run_without_an_intact_sidecar_is_redone"),
]


def render_table() -> str:
    lines = ["| bad input | what nnzip does |", "|---|---|"]
    lines += [f"| {c.kind} | {c.does} |" for c in CASES]
    return "\n".join(lines)


def test_docs_table_is_the_cases():
    text = TABLE_PAGE.read_text(encoding="utf-8")
    start, end = "<!-- reliability table: python tests/test_reliability.py -->", "<!-- end of reliability table -->"
    assert start in text and end in text, f"the reliability table markers are missing from {TABLE_PAGE}"
    shown = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert shown == render_table(), f"{TABLE_PAGE} differs from CASES: regenerate with python tests/test_reliability.py"


def test_every_covering_test_exists():
    for case in CASES:
        if case.covered_by:
            found = [f for f in Path(__file__).parent.glob("test_*.py") if f"def {case.covered_by}(" in f.read_text()]
            assert found, f"{case.kind}: no test named {case.covered_by}"


def _invoke(args: list[str]):
    from click.testing import CliRunner

    from nnzip.cli import cli

    return CliRunner().invoke(cli, ["classify", *args], catch_exceptions=False)


@pytest.mark.parametrize("case", [c for c in CASES if c.args], ids=lambda c: c.kind[:40])
def test_case(case, tmp_path):
    (tmp_path / "bad.tsv").write_bytes(b"pets\t\xff\n")
    (tmp_path / "cut.tsv.gz").write_bytes(gzip.compress(b"pets\tthe cat sat\n" * 50)[:40])
    (tmp_path / "twice.csv").write_text("text,label,text\nthe cat,pets,a dog\n")
    (tmp_path / "test.json").write_text(json.dumps([{"text": t, "label": lab} for lab, t in TEST]))
    args = case.args(tmp_path)
    r = _invoke(args)
    assert r.exit_code == case.exit_code, r.output
    assert case.says in r.output
    assert "Traceback" not in r.output
    if case.exit_code:
        errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, r.output
    if case.check:
        assert case.check(tmp_path, r.output) is not False


# ---- every model: labels and texts ---------------------------------------------------------------

def _fittable_models():
    return [m for m in MODELS if m not in ("transformer", "embedding-knn")]


@pytest.mark.parametrize("model", _fittable_models())
@pytest.mark.parametrize("y, match", BAD_LABELS[:4])
def test_label_rules_are_checked_before_compression(model, y, match, monkeypatch):
    from nnzip import lengths

    def no_work(*args, **kwargs):
        raise AssertionError("compression ran before the labels were checked")

    monkeypatch.setattr(lengths, "text_lengths", no_work)
    with pytest.raises(InputError, match=match):
        make_model(model, strict=False, n_neighbors=1).fit(["a text", "another text"], y)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("X, match", [(["ok", None], r"X\[1\] is NoneType"), (["ok", 3], r"X\[1\] is int"),
                                      ("one string", "single str")])
def test_every_model_raises_the_same_errors(model, X, match):
    with pytest.raises(InputError, match=match):
        make_model(model).fit(X, ["a", "b"])


def _generator():
    return (t for t in ["a text", "another text"])


UNORDERED = [
    ({"a text", "another text"}, r"^X must be an ordered sequence of texts \(list, tuple, 1-D numpy array or pandas "
                                 r"Series\), got a set: its order is not the order of the labels"),
    (frozenset({"a text", "another text"}), "got a frozenset: its order is not the order of the labels"),
    ({"a text": 0, "another text": 1}, "got a dict: its order"),
    ({0: "a text", 1: "another text"}.values(), "got a dict_values: its order"),
    ({"a text": 0, "another text": 1}.keys(), "got a dict_keys: its order"),
    (_generator(), r"got a generator; pass list\(\.\.\.\) of it"),
    (iter(["a text", "another text"]), r"got a list_iterator; pass list"),
    (map(str, ["a text", "another text"]), "got a map"),
    (np.array([["a text", "another text"]]), r"^X must be one-dimensional \(one item per sample\), got an ndarray of "
                                             r"shape \(1, 2\)"),
    (np.array("a text"), r"got an ndarray of shape \(\)"),
    (None, "got a NoneType"),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("X, match", UNORDERED, ids=lambda v: type(v).__name__)
def test_unordered_or_2d_texts_are_refused_by_every_model(model, X, match):
    with pytest.raises(InputError, match=match):
        make_model(model).fit(X, ["a", "b"])


@pytest.mark.parametrize("model", _fittable_models())
def test_predict_and_labels_follow_the_same_order_rule(model):
    import pandas as pd

    X, y = PETS + MONEY, ["pets"] * 4 + ["money"] * 4
    clf = make_model(model, strict=False, n_neighbors=1, dicts_per_class=1).fit(X, y)
    want = clf.predict(TEST_TEXTS).tolist()
    # every ordered form gives the same result: tuple, numpy array, pandas Series (texts and labels)
    for form in (tuple, np.array, pd.Series):
        again = make_model(model, strict=False, n_neighbors=1, dicts_per_class=1).fit(form(X), form(y))
        assert again.predict(form(TEST_TEXTS)).tolist() == want
    with pytest.raises(InputError, match="X must be an ordered sequence of texts .* got a set"):
        clf.predict(set(TEST_TEXTS))
    with pytest.raises(InputError, match="X must be one-dimensional .* got a DataFrame of shape \\(2, 1\\)"):
        clf.predict(pd.DataFrame({"text": TEST_TEXTS}))
    with pytest.raises(InputError, match="y must be an ordered sequence of labels .* got a set"):
        make_model(model, strict=False, n_neighbors=1).fit(["a text", "another text"], {"a", "b"})


# ---- the command line: errors, debugging switch, python -m ----------------------------------------


def test_raise_errors_switch_reraises(tmp_path, monkeypatch):
    args = ["--train", make_train_tsv(tmp_path), "--test", str(tmp_path / "x.xlsx")]
    assert _invoke(args).exit_code == 1
    monkeypatch.setenv("NNZIP_RAISE_ERRORS", "1")
    with pytest.raises(InputError, match="cannot tell the file format"):
        _invoke(args)


def _nnzip(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "nnzip", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_python_m_nnzip_and_one_line_errors_without_traceback(tmp_path):
    r = _nnzip("classify", "--train", make_train_tsv(tmp_path), "--test", str(tmp_path / "nope.tsv"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: file not found: {tmp_path / 'nope.tsv'}"


# ---- outputs that are streams: stdout, pipes ------------------------------------------------------


def _want_csv(tmp: Path) -> bytes:
    """The predictions of the standard small job, written to a regular file."""
    r = _invoke(["--train", make_train_tsv(tmp), "--test", make_test_tsv(tmp), "-k", "1", "-q", "--no-cache",
                 "--output", str(tmp / "want.csv")])
    assert r.exit_code == 0, r.output
    return (tmp / "want.csv").read_bytes()


def test_output_dash_is_stdout_and_the_figures_go_to_stderr(tmp_path, monkeypatch):
    want = _want_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = _invoke(["--train", "train.tsv", "--test", "test.tsv", "-k", "1", "--no-cache", "--output", "-"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == want  # stdout holds the CSV and nothing else
    assert "accuracy 1.0000" in r.stderr and "predictions written to stdout" in r.stderr
    assert not (tmp_path / "-").exists()
    r = _invoke(["--train", "train.tsv", "--test", "test.tsv", "-k", "1", "-q", "--no-cache", "--metrics-json", "-"])
    assert json.loads(r.stdout)["accuracy"] == 1.0 and "accuracy 1.0000" in r.stderr
    r = _invoke(["--train", "train.tsv", "--test", "test.tsv", "--output", "-", "--metrics-json", "-"])
    assert r.exit_code == 1 and r.output.strip() == (
        "Error: --output and --metrics-json both go to stdout; give all but one of them a file name")


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(path.read_bytes()), daemon=True)
    reader.start()
    return reader, got


@pytest.mark.parametrize("stdout_is_the_pipe", [False, True], ids=["pipe", "stdout"])
def test_output_dev_stdout_is_written_to_the_pipe_never_replaced(tmp_path, stdout_is_the_pipe):
    """``--output /dev/stdout > pipe`` as root, built as a link to a FIFO in tmp_path (the real /dev is not touched)."""
    want = _want_csv(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "stdout").symlink_to(tmp_path / "fifo")
    reader, got = _fifo_reader(tmp_path / "fifo")
    args = [sys.executable, "-m", "nnzip", "classify", "--train", str(tmp_path / "train.tsv"),
            "--test", str(tmp_path / "test.tsv"), "-k", "1", "--no-cache", "--output", str(tmp_path / "stdout")]
    if stdout_is_the_pipe:  # the process's stdout is that pipe: the CSV goes there, the figures line to stderr
        with open(tmp_path / "fifo", "wb") as pipe:
            r = subprocess.run(args, stdout=pipe, stderr=subprocess.PIPE, text=True, timeout=300)
    else:
        r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert got == [want]
    assert (tmp_path / "stdout").is_symlink() and stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)
    assert ("accuracy 1.0000" in r.stderr) == stdout_is_the_pipe
    assert not list(tmp_path.glob(".*.tmp"))


# ---- interrupted runs resume ---------------------------------------------------------------------


@pytest.mark.parametrize("cache", [True, False])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch, cache):
    from nnzip import index

    real, done = index._compute_block, []

    def ctrl_c_in_second_block(*args):
        if done:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args)

    monkeypatch.setattr(index, "_compute_block", ctrl_c_in_second_block)
    monkeypatch.setenv("NNZIP_BLOCK_PAIRS", "8")  # one test text per block
    caching = ["--cache-dir", str(tmp_path / "c")] if cache else ["--no-cache"]
    r = _invoke(["--train", make_train_tsv(tmp_path), "--test", make_test_tsv(tmp_path), "-k", "1", "--n-jobs", "1",
                 "-q", *caching, "--output", str(tmp_path / "p.csv")])
    assert r.exit_code == 130
    want = (f"Interrupted: finished blocks are kept in {tmp_path / 'c'}; rerun the same command to resume" if cache
            else "Interrupted: no cache was in use, so a rerun starts over")
    assert r.output.strip().splitlines() == [want]
    assert not (tmp_path / "p.csv").exists()
    assert len(list(tmp_path.rglob("*.npz"))) == (1 if cache else 0)


def _bbc_files(tmp: Path) -> tuple[str, str]:
    ds = data.load_bbc()
    train = tsv(tmp / "train.tsv", [(lab, t[:1000].replace("\n", " ").replace("\t", " "))
                                    for lab, t in zip(ds.y_train[:300], ds.X_train[:300])])
    test = tsv(tmp / "test.tsv", [(lab, t[:1000].replace("\n", " ").replace("\t", " "))
                                  for lab, t in zip(ds.y_test[:150], ds.X_test[:150])])
    return train, test


N_BLOCKS = 10  # 150 test texts, 300 training texts, 4,500 pairs (15 rows) per block


def _start(tmp: Path, cache: Path, out: Path) -> subprocess.Popen:
    train, test = str(tmp / "train.tsv"), str(tmp / "test.tsv")
    env = {**os.environ, "NNZIP_BLOCK_PAIRS": str(15 * 300)}
    return subprocess.Popen(
        [sys.executable, "-m", "nnzip", "classify", "--train", train, "--test", test, "-k", "2", "--n-jobs", "1",
         "-q", "--cache-dir", str(cache), "--output", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_after_two_blocks(proc: subprocess.Popen, cache: Path, sig: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(cache.rglob("*.npz"))) < 2:
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(sig)


def test_sigkill_and_sigint_resume_identically(tmp_path):
    _bbc_files(tmp_path)
    # the reference: one uninterrupted run without a cache (in this process: one interpreter start less)
    ref = _invoke(["--train", str(tmp_path / "train.tsv"), "--test", str(tmp_path / "test.tsv"), "-k", "2",
                   "--n-jobs", "1", "-q", "--no-cache", "--output", str(tmp_path / "ref.csv")])
    assert ref.exit_code == 0, ref.output
    want = (tmp_path / "ref.csv").read_bytes()

    for sig, code in [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)]:
        cache, out = tmp_path / f"cache-{sig}", tmp_path / f"out-{sig}.csv"
        proc = _start(tmp_path, cache, out)
        _signal_after_two_blocks(proc, cache, sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == code, stderr
        assert not out.exists()  # no partial predictions
        if sig == signal.SIGINT:
            assert "Traceback" not in stderr
            assert stderr.strip().splitlines()[-1] == (
                f"Interrupted: finished blocks are kept in {cache}; rerun the same command to resume")
        kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.rglob("*.npz")}
        assert 2 <= len(kept) < N_BLOCKS, "the run was not interrupted mid-way"
        for p in kept:  # every entry under a real name is complete (its checksum holds)
            assert BlockCache(cache).load(p.stem) is not None
        again = _start(tmp_path, cache, out)
        assert again.wait(timeout=300) == 0, again.communicate()
        assert out.read_bytes() == want  # byte-identical predictions
        after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.rglob("*.npz")}
        assert len(after) == N_BLOCKS
        # every block finished before the interruption was read back, not recomputed: the rerun computed
        # only the block that was in progress and those never started
        assert all(after[p] == v for p, v in kept.items())


if __name__ == "__main__":
    print(render_table())
