"""``nnzip`` command line: the happy paths and every bad input named in the issue."""

import csv
import gzip
import json
import os
import re

import pytest
from click.testing import CliRunner

from nnzip.cli import cli

PETS = ["the cat sat on the mat", "my dog chased the cat", "a kitten and a puppy play", "the dog barked at the cat"]
MONEY = ["stocks fell sharply today", "the market rallied on earnings", "bond yields rose again",
         "shares of the bank fell"]


def write_tsv(path, labels, texts, gz=False):
    body = "".join(f"{lab}\t{t}\n" for lab, t in zip(labels, texts)).encode()
    path.write_bytes(gzip.compress(body) if gz else body)
    return str(path)


@pytest.fixture
def files(tmp_path):
    train = write_tsv(tmp_path / "train.tsv.gz", ["pets"] * 4 + ["money"] * 4, PETS + MONEY, gz=True)
    test = write_tsv(tmp_path / "test.tsv", ["pets", "money", "pets"],
                     ["a cat and a dog", "stock market shares fell", PETS[0]])
    return train, test


def run(*args):
    # catch_exceptions=False: an exception that is not turned into a one-line error fails the test
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_classify_files_writes_predictions_and_metrics(files, tmp_path):
    train, test = files
    out, js = tmp_path / "pred.csv", tmp_path / "m.json"
    r = run("classify", "--train", train, "--test", test, "-k", "1", "--output", str(out), "--metrics-json", str(js))
    assert r.exit_code == 0, r.output
    assert "accuracy 1.0000" in r.output
    assert "exact duplicates shared by train and test: 1 (33.33% of test)" in r.output
    assert "Warning: 33.3% of test texts also occur in the training set" in r.output
    rows = list(csv.DictReader(out.open()))
    assert [r["predicted"] for r in rows] == ["pets", "money", "pets"]
    assert rows[2]["true"] == "pets" and float(rows[0]["neighbor_distance"]) > 0
    m = json.loads(js.read_text())
    assert {"accuracy", "macro_f1", "top_k_tie_accuracy", "n_train", "n_test", "seconds"} <= set(m)
    assert m["n_train"] == 8 and m["n_test"] == 3 and m["accuracy"] == 1.0


def test_unlabelled_test_file_gives_predictions_only(files, tmp_path):
    train, _ = files
    test = tmp_path / "unlabelled.txt"
    test.write_text("a cat on a mat\nfalling shares\n")
    out = tmp_path / "p.csv"
    r = run("classify", "--train", train, "--test", str(test), "-k", "1", "--output", str(out), "-q")
    assert r.exit_code == 0, r.output
    assert "no labels in the test set: predictions only" in r.output
    assert list(csv.DictReader(out.open()))[0].keys() == {"id", "predicted", "neighbor_distance"}


def test_csv_jsonl_with_columns(tmp_path):
    train = tmp_path / "train.csv"
    with train.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["body", "topic"])
        w.writerows([[t, "pets"] for t in PETS] + [[t, "money"] for t in MONEY])
    test = tmp_path / "test.jsonl"
    test.write_text("\n".join(json.dumps({"body": t, "topic": "pets"}) for t in ["the cat sat", "a dog"]) + "\n")
    r = run("classify", "--train", str(train), "--test", str(test), "--text-col", "body", "--label-col", "topic",
            "-k", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output
    r = run("classify", "--train", str(train), "--test", str(test), "--text-col", "text")
    assert r.exit_code == 1
    assert "no text column 'text'; columns are body, topic" in r.output


def test_other_models_through_the_same_command(files):
    train, test = files
    r = run("classify", "--train", train, "--test", test, "--model", "tfidf-logreg", "-q")
    assert r.exit_code == 0, r.output
    assert "top-" not in r.output  # the paper's tie metric belongs to kNN models only


def test_default_job_runs_on_embedded_bbc():
    r = run("classify", "--model", "tfidf-svm")
    assert r.exit_code == 0, r.output
    assert "bbc: 1780 train, 445 test, 5 classes" in r.output
    assert float(re.search(r"^accuracy ([0-9.]+)", r.output, re.M).group(1)) > 0.9


def test_datasets_lists_local_and_known(monkeypatch, tmp_path):
    (tmp_path / "mine").mkdir()
    write_tsv(tmp_path / "mine" / "train.tsv.gz", ["a"], ["x"], gz=True)
    write_tsv(tmp_path / "mine" / "test.tsv.gz", ["a"], ["x"], gz=True)
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))
    r = run("datasets")
    assert r.exit_code == 0
    assert "bbc" in r.output and "mine" in r.output and "ag_news" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train", "missing.tsv", "--test", "missing.tsv"], "file not found: missing.tsv"),
        (["-k", "0"], "Invalid value for '-k'"),
        (["--tie-break", "first"], "'first' is not one of 'nearest', 'decrement', 'random', 'lowest'"),
        (["--compressor", "rar"], "'rar' is not one of 'gzip', 'zlib'"),
        (["--metric", "l2"], "'l2' is not one of 'ncd', 'cdm', 'clm'"),
        (["--train", "x.tsv"], "--train and --test go together"),
    ],
)
def test_bad_options_are_one_line_errors(args, message):
    r = run("classify", *args)
    assert r.exit_code != 0
    assert message in r.output
    assert len([line for line in r.output.splitlines() if line.startswith("Error:")]) == 1


def test_bad_files(tmp_path, files):
    train, test = files
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"pets\tfine line\nmoney\tbad \xff byte\n")
    r = run("classify", "--train", str(bad), "--test", test)
    assert r.exit_code == 1 and "line 2 is not valid UTF-8" in r.output and "--encoding-errors replace" in r.output
    r = run("classify", "--train", str(bad), "--test", test, "--encoding-errors", "replace", "-k", "1", "-q")
    assert r.exit_code == 0, r.output

    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    r = run("classify", "--train", str(empty), "--test", test)
    assert r.exit_code == 1 and "training set is empty" in r.output

    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("pets\ta cat\nno tab here\n")
    r = run("classify", "--train", str(mixed), "--test", test)
    assert r.exit_code == 1 and "line 2 has no TAB" in r.output

    r = run("classify", "--train", train, "--test", test, "-k", "9")
    assert r.exit_code == 1 and "larger than the training set (8 items)" in r.output


def test_single_class_warns(tmp_path, files):
    _, test = files
    one = write_tsv(tmp_path / "one.tsv", ["pets"] * 3, PETS[:3])
    r = run("classify", "--train", one, "--test", test, "-k", "1", "-q")
    assert r.exit_code == 0
    assert "Warning: only one class ('pets')" in r.output


def test_failed_run_writes_no_output(tmp_path, files):
    train, _ = files
    out = tmp_path / "pred.csv"
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"pets\t\xff\n")
    r = run("classify", "--train", train, "--test", str(bad), "--output", str(out))
    assert r.exit_code == 1
    assert not out.exists() and not list(tmp_path.glob(".pred.csv*"))


def test_extremely_long_line_works(tmp_path, files):
    train, _ = files
    long = tmp_path / "long.tsv"
    long.write_text("pets\t" + "the cat sat on the mat and purred " * 4000 + "\n")
    r = run("classify", "--train", train, "--test", str(long), "-k", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output


def test_hub_dataset_offline_says_how_to_use_local_files():
    pytest.importorskip("datasets")
    r = run("classify", "--dataset", "no-such-user/no-such-dataset")
    assert r.exit_code == 1
    assert "could not load 'no-such-user/no-such-dataset' from the Hugging Face hub" in r.output
    assert "--train/--test" in r.output and "NNZIP_DATA_DIR" in r.output


def test_local_dataset_by_name(monkeypatch, tmp_path):
    (tmp_path / "tiny").mkdir()
    write_tsv(tmp_path / "tiny" / "train.tsv.gz", ["pets"] * 4 + ["money"] * 4, PETS + MONEY, gz=True)
    write_tsv(tmp_path / "tiny" / "test.tsv.gz", ["pets"], ["the cat"], gz=True)
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))
    r = run("classify", "--dataset", "tiny", "-k", "1")
    assert r.exit_code == 0, r.output
    assert "tiny: 8 train, 1 test, 2 classes" in r.output


def test_rerank_search_from_the_command_line(files, tmp_path):
    train, test = files
    outs = {}
    modes = (["--search", "exact"], ["--search", "rerank", "--n-candidates", "3"],
             ["--search", "rerank", "--n-candidates", "8"])
    for mode in modes:
        out = tmp_path / f"{'-'.join(mode)}.csv"
        r = run("classify", "--train", train, "--test", test, "-k", "1", "--no-cache", "--output", str(out), *mode)
        assert r.exit_code == 0, r.output
        outs[" ".join(mode)] = out.read_text()
    # every training text a candidate: the exact search, byte for byte
    assert outs["--search rerank --n-candidates 8"] == outs["--search exact"]


def test_rerank_needs_at_least_k_candidates(files):
    train, test = files
    r = run("classify", "--train", train, "--test", test, "-k", "2", "--search", "rerank", "--n-candidates", "1")
    assert r.exit_code == 1
    assert r.output.strip() == "Error: n_candidates=1 is smaller than k=2: the k nearest must be among the candidates"


def test_long_exact_run_prints_an_estimate_and_the_alternative(files, monkeypatch):
    from nnzip import NCDIndex

    monkeypatch.setattr(NCDIndex, "estimate_seconds", lambda *a, **kw: 3 * 3600.0)
    train, test = files
    r = run("classify", "--train", train, "--test", test, "-k", "1", "--no-cache")
    assert r.exit_code == 0, r.output
    assert "exact search of 24 pairs: about 3.0 h here" in r.output and "--search rerank" in r.output
    monkeypatch.setattr(NCDIndex, "estimate_seconds", lambda *a, **kw: 5.0)
    assert "about" not in run("classify", "--train", train, "--test", test, "-k", "1", "--no-cache").output


def test_transformer_from_the_command_line_with_a_step_bar(files, tmp_path, tiny_encoder):
    train, test = files
    r = run("classify", "--train", train, "--test", test, "--model", "transformer", "--checkpoint", tiny_encoder,
            "--max-epochs", "2", "--max-length", "16", "--metrics-json", str(tmp_path / "m.json"))
    assert r.exit_code == 0, r.output
    assert re.search(r"accuracy \d\.\d{4}", r.output)
    # one bar over every planned step (8 texts: 1 step per epoch after the validation split), with its ETA
    assert re.search(r"fine-tuning, epoch 2/2: 100%\|.*\| 2/2 \[", r.output)
    figures = json.loads((tmp_path / "m.json").read_text())
    assert figures["model"] == "transformer" and figures["device"] == "cpu: cpu"
    assert figures["checkpoint"] == tiny_encoder
    assert figures["max_epochs"] == 2 and figures["max_length"] == 16 and figures["epochs_run"] == 2
    assert "k" not in figures and "compressor" not in figures  # kNN options are not the transformer's


@pytest.mark.parametrize("args, message", [
    (["--max-epochs", "2"], "--model gzip-knn does not take --max-epochs; leave it out; of the model options it takes "
                            "-k, --distance-ties, --tie-break, --compressor, --metric, --search, --n-candidates, "
                            "--n-jobs, --random-state, --cache-dir, --no-cache"),
    (["--model", "tfidf-logreg", "-k", "3", "--search", "rerank"],
     "--model tfidf-logreg does not take -k, --search; leave them out; of the model options it takes --random-state"),
    (["--model", "zstd-dict", "--no-cache"], "--model zstd-dict does not take --no-cache"),
    (["--model", "jaccard-knn", "--cache-dir", "c"], "--model jaccard-knn does not take --cache-dir"),
    (["--model", "tfidf-svm", "--n-jobs", "2"], "--model tfidf-svm does not take --n-jobs"),
    (["--model", "tfidf-svm", "--distance-ties", "all"], "--model tfidf-svm does not take --distance-ties"),
])
def test_an_option_the_model_does_not_take_is_an_error(files, args, message):
    train, test = files
    r = run("classify", "--train", train, "--test", test, *args)
    assert r.exit_code == 2 and f"Error: {message}" in r.output, r.output
    assert len([line for line in r.output.splitlines() if line.startswith("Error:")]) == 1


def test_option_defaults_and_environment_are_not_errors(files, tmp_path, monkeypatch):
    train, test = files
    monkeypatch.setenv("NNZIP_CACHE_DIR", str(tmp_path / "c"))  # a setting for every run, not this model's option
    r = run("classify", "--train", train, "--test", test, "--model", "tfidf-logreg", "--random-state", "3", "-q")
    assert r.exit_code == 0, r.output


def test_transformer_checkpoint_that_cannot_load_is_one_line(files, tmp_path):
    pytest.importorskip("transformers")
    train, test = files
    r = run("classify", "--train", train, "--test", test, "--model", "transformer",
            "--checkpoint", str(tmp_path / "nowhere"))
    assert r.exit_code == 1
    assert "cannot load the checkpoint" in r.output and "sentence-transformers/all-MiniLM-L6-v2" in r.output
    assert len([line for line in r.output.splitlines() if line.startswith("Error:")]) == 1


@pytest.mark.parametrize("command", [[], ["classify"], ["datasets"]])
def test_every_command_has_help_under_both_names(command):
    for flag in ("-h", "--help"):
        r = run(*command, flag)
        assert r.exit_code == 0 and r.output.startswith("Usage: ")


def test_bad_model_parameters_fail_before_anything_is_read():
    r = run("classify", "--train", "missing.tsv", "--test", "missing.tsv", "--random-state", "-1")
    assert r.exit_code == 1
    assert r.output.strip() == ("Error: random_state must be an int from 0 to 4294967295, a numpy RandomState or None, "
                                "got -1")


# ---- a new user's first minutes: compiling, a cached rerun ----------------------------------------


def test_a_first_run_says_it_compiles_and_keeps_it_out_of_the_seconds(files, monkeypatch):
    from nnzip import evaluate

    monkeypatch.setattr(evaluate, "kernels_need_compiling", lambda: True)
    train, test = files
    r = CliRunner().invoke(cli, ["classify", "--train", train, "--test", test, "-k", "1", "--no-cache"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    note = lines.index("compiling kernels, first run only (a minute or so; not counted in the seconds) ...")
    assert re.fullmatch(r"kernels compiled in \d+ s", lines[note + 1])
    assert "accuracy" in r.stdout and "compiling" not in r.stdout
    quiet = run("classify", "--train", train, "--test", test, "-k", "1", "--no-cache", "-q")
    assert "compiling" not in quiet.output


def test_kernels_need_compiling_reads_numbas_cache(tmp_path):
    import subprocess
    import sys

    from nnzip.index import kernels_need_compiling, warmup

    warmup()
    assert kernels_need_compiling() is False  # compiled (or loaded) here: in numba's cache
    # an empty numba cache: a first run (only the check runs in the child; nothing is compiled)
    code = "from nnzip.index import kernels_need_compiling; print(kernels_need_compiling())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}, timeout=300)
    assert child.stdout.strip() == "True", child.stderr


def test_a_rerun_from_the_cache_says_so(files, tmp_path, monkeypatch):
    monkeypatch.setenv("NNZIP_BLOCK_PAIRS", "8")  # one test text per block: 3 blocks
    train, test = files
    args = ["classify", "--train", train, "--test", test, "-k", "1", "--cache-dir", str(tmp_path / "c"), "-q",
            "--metrics-json", str(tmp_path / "m.json")]
    first = run(*args)
    assert first.exit_code == 0 and "from the cache" not in first.output
    again = run(*args)
    assert re.search(r"\(\d+\.\d s; all 3 blocks from the cache, --no-cache recomputes\)$", again.output.strip())
    assert json.loads((tmp_path / "m.json").read_text())["blocks_from_cache"] == 3
    next((tmp_path / "c").rglob("*.npz")).unlink()
    partly = run(*args)
    assert re.search(r"\(\d+\.\d s; 2 of 3 blocks from the cache\)$", partly.output.strip())
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["blocks"], m["blocks_from_cache"]) == (3, 2)


def test_classify_says_when_the_file_order_would_decide_predictions(tmp_path):
    """A class-sorted training file whose texts tie at the nearest distance across classes (issue 22 §2)."""
    train = write_tsv(tmp_path / "train.tsv", ["a"] * 3 + ["b"] * 3, ["ok", "yes", "hi", "no", "on", "ko"])
    test = write_tsv(tmp_path / "test.tsv", ["a", "b", "a", "b"], ["x", "n", "o", "hey"])
    js = tmp_path / "m.json"
    r = run("classify", "--train", train, "--test", test, "-k", "1", "--metrics-json", str(js))
    assert r.exit_code == 0, r.output
    line = [ln for ln in r.output.splitlines() if "tied at the k-th distance" in ln]
    assert len(line) == 1 and line[0].startswith("Warning: ")
    m = json.loads(js.read_text())
    order = m["training_order"]
    assert m["distance_ties"] == "split" and order["n_neighbors"] == 1 and order["n_queries"] == 4
    assert order["n_order_dependent"] >= 1 and order["n_mixed_ties"] >= order["n_order_dependent"]
    assert order["accuracy_min_bound"] <= order["accuracy_expected"] <= order["accuracy_max_bound"]
    share = order["n_order_dependent"] / 4
    assert f"{order['n_order_dependent']} test items ({share:.1%})" in line[0]
    assert f"accuracy would be {order['accuracy_expected']:.4f} on average" in line[0]
    assert "distance_ties='split' does not depend on it" in line[0]
    r = run("classify", "--train", train, "--test", test, "-k", "1", "--distance-ties", "index")
    assert "distance_ties='index' lets the file order decide them" in r.output
    # no ties across classes: no line
    r = run("classify", "--train", write_tsv(tmp_path / "t2.tsv", ["a", "b"], ["the cat sat", "stocks fell"]),
            "--test", write_tsv(tmp_path / "q2.tsv", ["a"], ["the cat sat on"]), "-k", "1")
    assert r.exit_code == 0 and "tied at the k-th distance" not in r.output


MORE = ["pets", "money"] * 3, ["my cat naps", "banks fell today", "the puppy sat", "shares rose", "a cat and a dog",
                               "stocks fell sharply today"]


@pytest.fixture
def larger(tmp_path, files):
    """14 training texts (one of them twice), enough for k = 1, 2, 3, 5, 7, 9 by leave-one-out."""
    labels, texts = ["pets"] * 4 + ["money"] * 4 + MORE[0], PETS + MONEY + MORE[1]
    return write_tsv(tmp_path / "larger.tsv", labels, texts), files[1]


def test_k_auto_chooses_k_by_leave_one_out_and_records_it(larger, tmp_path):
    train, test = larger
    js = tmp_path / "m.json"
    r = run("classify", "--train", train, "--test", test, "-k", "auto", "--no-cache", "--metrics-json", str(js))
    assert r.exit_code == 0, r.output
    m = json.loads(js.read_text())
    chosen = m["k_selection"]
    assert m["k"] == "auto" and chosen["n_neighbors"] == chosen["best_params"]["n_neighbors"]
    assert [c["n_neighbors"] for c in chosen["candidates"]] == [1, 2, 3, 5, 7, 9]
    assert chosen["scoring"] == "accuracy" and chosen["n_items"] == 14
    assert chosen["best_score"] == max(c["score"] for c in chosen["candidates"])
    assert "leave-one-out search of 13 x 13 distinct training texts: about" in r.output
    assert (f"k={chosen['n_neighbors']} chosen by leave-one-out on the training set: accuracy "
            f"{chosen['best_score']:.4f} over 14 items, of 6 candidates") in r.output
    assert f"top-{chosen['n_neighbors']} tie metric" in r.output
    assert "rank_score" not in r.output
    table = run("classify", "--train", train, "--test", test, "-k", "auto", "--no-cache", "-q", "-v").output
    assert "n_neighbors  distance_ties  tie_break  weights   score  rank_score" in table
    assert len(re.findall(r"^\*", table, flags=re.M)) == 1


def test_k_auto_with_rerank_and_its_errors(larger, tmp_path):
    train, test = larger
    r = run("classify", "--train", train, "--test", test, "-k", "auto", "--search", "rerank", "--n-candidates", "9",
            "--no-cache", "-q")
    assert r.exit_code == 0 and "\naccuracy " in r.output, r.output
    r = run("classify", "--train", train, "--test", test, "-k", "auto", "--search", "rerank", "--n-candidates", "3")
    assert r.output.strip() == "Error: n_candidates=3 is smaller than k=9: the k nearest must be among the candidates"
    r = run("classify", "--train", train, "--test", test, "-k", "auto", "--model", "tfidf-svm")
    assert r.exit_code == 2 and "--model tfidf-svm does not take -k" in r.output, r.output
    r = run("classify", "--train", train, "--test", test, "-k", "many")
    assert r.exit_code == 2 and "'many' is neither a positive int nor 'auto'" in r.output
    small = write_tsv(tmp_path / "small.tsv", ["pets", "money", "pets"], PETS[:2] + MONEY[:1])
    r = run("classify", "--train", small, "--test", test, "-k", "auto")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == ("Error: n_neighbors=9 (the largest candidate) is larger than the "
                                                 "training items left for leave-one-out (2 of 3)")
