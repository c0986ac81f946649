"""``nnzip fit``, ``nnzip predict`` and ``nnzip explain`` from the command line, bad input included."""

import csv
import json
import zipfile

import pytest
from click.testing import CliRunner

from nnzip.cli import cli
from nnzip.persistence import HEADER

PETS = ["the cat sat on the mat", "a dog chased the cat", "my kitten sleeps on the mat", "the puppy barks at cats"]
MONEY = ["stock markets fell sharply", "the bank raised interest rates", "shares rallied on earnings",
         "bond yields climb as markets fall"]


def write_tsv(path, labels, texts):
    path.write_text("".join(f"{y}\t{x}\n" if y is not None else f"{x}\n" for y, x in zip(labels, texts)),
                    encoding="utf-8")
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error(r, *fragments):
    assert r.exit_code != 0, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in r.output


@pytest.fixture
def model(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["pets"] * 4 + ["money"] * 4, PETS + MONEY)
    path = tmp_path / "model.nnzip"
    r = run("fit", "--train", train, "-k", "1", "--model-out", path)
    assert r.exit_code == 0, r.output
    assert "model written to" in r.output and path.is_file()
    return path


@pytest.mark.parametrize("command", ["fit", "predict", "explain"])
def test_every_command_has_help(command):
    for flag in ("-h", "--help"):
        r = run(command, flag)
        assert r.exit_code == 0 and r.output.startswith("Usage: ")


def test_fit_predict_labelled_and_unlabelled(model, tmp_path):
    test = write_tsv(tmp_path / "test.tsv", ["pets", "money"], ["a cat on a mat", "markets fell"])
    out, js = tmp_path / "pred.csv", tmp_path / "m.json"
    r = run("predict", "--model", model, "--input", test, "--output", out, "--metrics-json", js)
    assert r.exit_code == 0, r.output
    assert "accuracy 1.0000" in r.output
    rows = list(csv.DictReader(out.open()))
    assert [row["predicted"] for row in rows] == ["pets", "money"] and rows[0]["true"] == "pets"
    figures = json.loads(js.read_text())
    assert figures["accuracy"] == 1.0 and figures["model"] == "gzip-knn" and figures["duplicates"] == 0
    plain = write_tsv(tmp_path / "plain.txt", [None, None], ["a cat on a mat", "the bank"])
    r = run("predict", "--model", model, "--input", plain, "-q")
    assert r.exit_code == 0 and r.output.startswith("no labels in the test set: predictions only (2 items")


def test_fit_with_the_same_options_as_classify(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["pets"] * 4 + ["money"] * 4, PETS + MONEY)
    for model in ("tfidf-logreg", "zstd-dict", "jaccard-knn"):
        out = tmp_path / f"{model}.nnzip"
        r = run("fit", "--train", train, "--model", model, "--model-out", out, "-q")
        assert r.exit_code == 0, r.output
        assert r.output.strip() == str(out)
    one_error(run("fit", "--train", train, "-k", "20", "--model-out", tmp_path / "m.nnzip"), "k=20 is larger")
    one_error(run("fit", "--train", train, "--model-out", train), "is an input file")
    assert not (tmp_path / "m.nnzip").exists()


def test_explain_a_text_and_a_row(model, tmp_path):
    r = run("explain", "--model", model, "a cat sat on the mat")
    assert r.exit_code == 0, r.output
    assert "Predicted: pets" in r.output and "copied from the query" in r.output
    assert "\x1b[" not in r.output  # not a terminal: plain
    test = write_tsv(tmp_path / "test.tsv", ["pets", "money"], ["a cat on a mat", "markets fell"])
    r = run("explain", "--model", model, "--input", test, "--row", 1, "--json")
    assert r.exit_code == 0, r.output
    ex = json.loads(r.output)
    assert ex["query"] == "markets fell" and ex["predicted"] == "money"
    nb = ex["neighbors"][0]
    assert nb["label"] == "money" and nb["reuse"]["length"]["compressed_bytes"] == nb["compressed_pair"]


def test_explain_in_a_terminal_highlights():
    from nnzip.explain import explain, render_text
    from nnzip.models import make_model

    clf = make_model("gzip-knn", n_neighbors=1).fit(PETS + MONEY, ["pets"] * 4 + ["money"] * 4)
    import click

    text = render_text(explain(clf, "the cat sat on the mat again"), style=click.style)
    assert "\x1b[32m" in text  # reused spans in green


# ---- bad input: one line each ---------------------------------------------------------------


def test_missing_model_file(tmp_path):
    one_error(run("explain", "--model", tmp_path / "none.nnzip", "a text"), "model file not found")
    test = write_tsv(tmp_path / "t.tsv", ["a"], ["x"])
    one_error(run("predict", "--model", tmp_path / "none.nnzip", "--input", test), "model file not found")


def test_model_pointing_at_a_folder(tmp_path):
    one_error(run("explain", "--model", tmp_path, "a text"), "is a folder, not an nnzip model file")


def test_model_from_another_version(model, tmp_path):
    other = tmp_path / "old.nnzip"
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(other, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == HEADER:
                header = json.loads(data)
                header["environment"]["nnzip"] = "0.0.1"
                header["code_fingerprint"] = "ffffffffffffffff"
                data = json.dumps(header).encode()
            dst.writestr(name, data)
    one_error(run("explain", "--model", other, "a text"), "saved by nnzip 0.0.1", "could differ", "nnzip 0.0.1 then")


def test_damaged_and_non_model_files(model, tmp_path):
    broken = tmp_path / "broken.nnzip"
    broken.write_bytes(model.read_bytes()[:300])
    one_error(run("explain", "--model", broken, "a text"), "not an nnzip model file, or it is damaged")
    text = tmp_path / "train.tsv"
    one_error(run("explain", "--model", text, "a text"), "not an nnzip model file", "not a zip archive")


def test_row_out_of_range_and_empty_text(model, tmp_path):
    test = write_tsv(tmp_path / "test.tsv", ["pets", "money"], ["a cat", "markets"])
    one_error(run("explain", "--model", model, "--input", test, "--row", 2), "--row 2 is out of range",
              "has 2 texts (rows 0 to 1)")
    one_error(run("explain", "--model", model, "--input", test, "--row", -1), "--row -1 is out of range")
    one_error(run("explain", "--model", model, ""), "the text to explain is empty")
    one_error(run("explain", "--model", model, "--input", test), "--input needs --row")
    one_error(run("explain", "--model", model), "give the text to explain")
    empty_row = write_tsv(tmp_path / "e.tsv", [None, None], ["a cat", "  "])
    one_error(run("explain", "--model", model, "--input", empty_row, "--row", 1), "empty")


def test_explain_needs_a_knn_model(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["pets"] * 4 + ["money"] * 4, PETS + MONEY)
    out = tmp_path / "lr.nnzip"
    assert run("fit", "--train", train, "--model", "tfidf-logreg", "--model-out", out).exit_code == 0
    one_error(run("explain", "--model", out, "a cat"), "holds a tfidf-logreg model", "does not classify by neighbours")


def test_report_path_that_cannot_be_written_fails_first(model, tmp_path):
    test = write_tsv(tmp_path / "test.tsv", ["pets"], ["a cat"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_error(run("predict", "--model", model, "--input", test, "--report", blocker / "r.html"), "--report",
              "cannot be written")
    one_error(run("predict", "--model", model, "--input", test, "--report", test), "--report", "is an input file")
    one_error(run("predict", "--model", model, "--input", test, "--report", model), "is an input file")
    one_error(run("predict", "--model", model, "--input", test, "--report", tmp_path), "--report", "is a directory")


def test_fit_on_a_dataset_by_name(tmp_path):
    out = tmp_path / "bbc.nnzip"
    r = run("fit", "--dataset", "bbc", "--model-out", out)
    assert r.exit_code == 0, r.output
    assert "bbc (training split): 1780 training texts, 5 classes" in r.output
    one_error(run("fit", "--dataset", "bbc", "--train", out, "--model-out", tmp_path / "x.nnzip"),
              "one of them")
    one_error(run("fit", "--model-out", tmp_path / "x.nnzip"), "give a training file (--train) or a dataset name")


def test_fit_k_auto_saves_the_model_leave_one_out_chose(tmp_path):
    from nnzip import NCDKNeighborsClassifierCV
    from nnzip.persistence import load_model

    # the default candidates go up to k=9: leave-one-out needs more than 9 other texts
    X = PETS + ["a parrot talks all day", "the hamster runs in its wheel"] + MONEY + [
        "the dollar weakened against the euro", "inflation data surprised traders"]
    y = ["pets"] * 6 + ["money"] * 6
    train = write_tsv(tmp_path / "train.tsv", y, X)
    out = tmp_path / "auto.nnzip"
    r = run("fit", "--train", train, "-k", "auto", "--model-out", out)
    assert r.exit_code == 0, r.output
    cv = NCDKNeighborsClassifierCV().fit(X, y)
    assert f"k={cv.n_neighbors_} " in r.output and "chosen by leave-one-out" in r.output
    saved = load_model(out)
    assert saved.get_params()["n_neighbors"] == cv.n_neighbors_
    test = ["a cat on a mat", "markets fell"]
    assert saved.predict(test).tolist() == cv.predict(test).tolist()
