"""The experiment config schema: every mistake is one line naming the file and the key, before any run."""

import pytest
from click.testing import CliRunner

from experiments.__main__ import main
from experiments.config import CONFIG_DIR, load_config
from nnzip.errors import ConfigError

BASE = 'datasets = ["bbc"]\n'
LOGREG = BASE + 'models = ["tfidf-logreg"]\n'


def write(tmp_path, text, name="tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(tmp_path, path, *args):
    """The CLI's answer to a bad config: exit 1, one line starting with "Error:", nothing written."""
    results = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(path), "--results-dir", str(results), *args],
                                catch_exceptions=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert not results.exists()  # refused before any run started
    return lines[0]


CASES = [
    # the cases
    ("shots=[0]", BASE + "shots = [0]\n", "shots[0]: a shot count is a number of training texts per class, at least 1, "
                                          "got 0; leave shots out to use the full training sets"),
    ("shots=[-5]", BASE + "shots = [-5]\n", "shots[0]: a shot count is a number of training texts per class"),
    ('seeds=["a"]', BASE + 'seeds = ["a"]\n', "seeds[0]: input should be a valid integer, got 'a'"),
    ("limit_test=-1", BASE + "limit_test = -1\n", "limit_test: input should be greater than or equal to 1, got -1"),
    ("gzip_params n_neighbors", BASE + "gzip_params = { n_neighbors = 3 }\n",
     "gzip_params: n_neighbors is set by the runner from knn_variants; remove it"),
    ("misspelt model parameter", LOGREG + "model_params = { tfidf-logreg = { Cc = 0.001 } }\n",
     "model_params.tfidf-logreg: model 'tfidf-logreg' takes no parameter Cc; it takes C, max_features"),
    # relatives
    ("unknown key", BASE + 'model = ["gzip-knn"]\n', "unknown key 'model'; allowed keys: description, datasets"),
    ("name key", BASE + 'name = "other"\n', "unknown key 'name' (an experiment is named by its file, 'tiny')"),
    ("unknown dataset", 'datasets = ["nope"]\n', "datasets[0]: unknown dataset 'nope'"),
    ("no datasets", 'description = "x"\n', "datasets: required key is missing"),
    ("empty datasets", "datasets = []\n", "datasets: must not be empty"),
    ("datasets not a list", 'datasets = "bbc"\n', "datasets: input should be a valid list, got 'bbc'"),
    ("dataset twice", 'datasets = ["bbc", "bbc"]\n', "datasets: 'bbc' is listed twice"),
    ("unknown model", BASE + 'models = ["gzip-knn", "bert"]\n', "models[1]: unknown model 'bert'; choose from"),
    ("unknown compressor", BASE + 'compressors = ["brotli"]\n', "compressors[0]: unknown compressor 'brotli'"),
    ("k of 0", BASE + 'knn_variants = [[0, "nearest"]]\n', "knn_variants[0]: k must be an int of at least 1, got 0"),
    ("unknown tie rule", BASE + 'knn_variants = [[2, "closest"]]\n',
     "knn_variants[0]: unknown tie_break 'closest'; choose from nearest, decrement, random, lowest"),
    ("unknown distance-tie rule", BASE + 'knn_variants = [[2, "nearest", "first"]]\n',
     "knn_variants[0]: unknown distance_ties 'first'; choose from split, all, index"),
    ("variant without a tie rule", BASE + "knn_variants = [[2]]\n",
     "knn_variants[0]: an entry is [k, tie_break] or [k, tie_break, distance_ties], got [2]"),
    ("the same variant twice", BASE + 'knn_variants = [[2, "nearest"], [2, "nearest", "split"]]\n',
     "knn_variants: [2, 'nearest', 'split'] is listed twice"),
    ("distance_ties in gzip_params", BASE + 'gzip_params = { distance_ties = "all" }\n',
     "gzip_params: distance_ties is set by the runner from knn_variants; remove it"),
    ("seed out of range", BASE + "seeds = [-1]\n", "seeds[0]: a seed is an int from 0 to 4294967295, got -1"),
    ("shots twice", BASE + "shots = [5, 5]\n", "shots: 5 is listed twice"),
    ("limit_test a float", BASE + "limit_test = 1.5\n", "limit_test: input should be a valid integer, got 1.5"),
    ("limit_test_for another dataset", BASE + "limit_test_for = { r8 = 10 }\n",
     "limit_test_for: 'r8' is not one of the config's datasets"),
    ("flag not a bool", BASE + "remove_duplicates = 1\n", "remove_duplicates: input should be a valid boolean, got 1"),
    ("n_jobs 0", BASE + "n_jobs = 0\n", "n_jobs: must be a non-zero int (-1: all cores), got 0"),
    ("not_run and run", BASE + 'not_run = { gzip-knn = "why" }\n', "not_run: 'gzip-knn' is also in models"),
    ("parameter out of range", LOGREG + "model_params = { tfidf-logreg = { C = -1 } }\n",
     "model_params.tfidf-logreg: C must be a positive number, got -1"),
    ("parameter of the wrong type", LOGREG + 'model_params = { tfidf-logreg = { max_iter = "many" } }\n',
     "model_params.tfidf-logreg: max_iter must be a positive int, got 'many'"),
    ("runner's seed", LOGREG + "model_params = { tfidf-logreg = { random_state = 3 } }\n",
     "model_params.tfidf-logreg: random_state is set by the runner from seeds; remove it"),
    ("runner's cache", BASE + 'models = ["embedding-knn"]\nmodel_params = { embedding-knn = { cache_dir = "x" } }\n',
     "model_params.embedding-knn: cache_dir is set by the runner from --cache-dir"),
    ("parameters of a model not run", BASE + "model_params = { tfidf-svm = { C = 1.0 } }\n",
     "model_params.tfidf-svm: 'tfidf-svm' is not one of the config's models"),
    ("gzip-knn in model_params", BASE + "model_params = { gzip-knn = { weights = \"distance\" } }\n",
     "model_params.gzip-knn: gzip-knn's parameters go in gzip_params"),
    ("unknown model in model_params", BASE + "model_params = { bert = { x = 1 } }\n",
     "model_params.bert: unknown model 'bert'"),
    ("per-dataset parameter", LOGREG + "model_params_for = { tfidf-logreg = { bbc = { Cc = 1.0 } } }\n",
     "model_params_for.tfidf-logreg.bbc: model 'tfidf-logreg' takes no parameter Cc"),
    ("parameters of another dataset", LOGREG + "model_params_for = { tfidf-logreg = { r8 = { C = 1.0 } } }\n",
     "model_params_for.tfidf-logreg: 'r8' is not one of the config's datasets"),
    ("transformer value", BASE + 'models = ["transformer"]\nmodel_params = { transformer = { lr = 0 } }\n',
     "model_params.transformer: lr must be a positive number, got 0"),
    ("gzip tie rule by name", BASE + 'gzip_params = { weights = "far" }\n', "gzip_params: unknown weights 'far'"),
    ("gzip compressor by the runner", BASE + 'gzip_params = { compressor = "bz2" }\n',
     "gzip_params: compressor is set by the runner from compressors"),
    ("too few candidates", BASE + 'gzip_params = { search = "rerank", n_candidates = 2 }\n',
     "gzip_params: n_candidates=2 is smaller than k=3"),
    ("gzip_params without gzip-knn", LOGREG + 'gzip_params = { search = "rerank" }\n',
     "gzip_params: gzip-knn is not one of the config's models"),
    ("include an unknown experiment", BASE + 'include_results = ["nope"]\n',
     "include_results: no other experiment named 'nope'"),
    ("include itself", BASE + 'include_results = ["tiny"]\n', "include_results: no other experiment named 'tiny'"),
    ("invalid TOML", "datasets = [\n", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_line_naming_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)
    assert one_line_error(tmp_path, path).startswith(f"Error: {path}: {message}")


def test_several_mistakes_are_counted_on_the_line_of_the_first(tmp_path):
    path = write(tmp_path, 'datasets = ["bbc"]\nshots = [0]\nseeds = ["a"]\nlimit_test = -1\n')
    with pytest.raises(ConfigError, match=r"shots\[0\]: .* \(and 2 more problems\)$"):
        load_config(path)


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('datasets = ["bbc"]\ndescription = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.toml: not UTF-8 text \(line 2\); save the config as UTF-8"):
        load_config(path)
    assert "not UTF-8" in one_line_error(tmp_path, path)


def test_a_folder_given_as_the_config_is_one_line(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder, not an experiment config"):
        load_config(folder)
    assert "is a folder" in one_line_error(tmp_path, folder)


def test_a_missing_config_lists_the_shipped_ones(tmp_path):
    line = one_line_error(tmp_path, tmp_path / "absent.toml")
    assert "no experiment config" in line and "full_data" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "bert"], "--model bert: not in the config; it has gzip-knn, tfidf-logreg"),
        (["--dataset", "r8"], "--dataset r8: not in the config; it has bbc"),
        (["--shots", "0"], "--shots 0: not in the config; it has 2, 4"),
        (["--shots", "7"], "--shots 7: not in the config; it has 2, 4"),
    ],
)
def test_cli_picks_outside_the_config_are_one_line(tmp_path, args, message):
    path = write(tmp_path, BASE + 'models = ["gzip-knn", "tfidf-logreg"]\nshots = [2, 4]\n')
    assert one_line_error(tmp_path, path, *args) == f"Error: {path}: {message}"


def test_valid_configs_give_the_parameters_the_models_take(tmp_path):
    path = write(tmp_path, LOGREG + "model_params = { tfidf-logreg = { ngram_range = [1, 2], C = 0.5 } }\n"
                 "model_params_for = { tfidf-logreg = { bbc = { C = 2.0 } } }\n")
    cfg = load_config(path)
    # TOML arrays become the tuples the estimators take; model_params_for wins per dataset
    assert cfg.params("tfidf-logreg", "bbc") == {"ngram_range": (1, 2), "C": 2.0}
    assert cfg.name == "tiny" and cfg.path == path and cfg.seeds == [0] and cfg.shots == []
    defaults = load_config(write(tmp_path, BASE, "defaults"))
    assert defaults.models == ["gzip-knn"] and defaults.compressors == ["gzip"] and len(defaults.knn_variants) == 8
    assert [v.name for v in defaults.knn_variants][-2:] == ["k=3 split random", "k=2 index nearest"]


def fake_data_dir(tmp_path, monkeypatch):
    """Stand-in folders for the benchmark datasets the shipped configs name (AG News: test set only)."""
    for name in ["r8", "mr", "ohsumed", "20news", "imdb"]:
        (tmp_path / name).mkdir(parents=True)
        for split in ("train", "test"):
            (tmp_path / name / f"{split}.tsv.gz").write_bytes(b"")
    (tmp_path / "partial" / "ag_news").mkdir(parents=True)
    (tmp_path / "partial" / "ag_news" / "test.tsv.gz").write_bytes(b"")
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path))


def test_every_shipped_config_validates(tmp_path, monkeypatch):
    fake_data_dir(tmp_path / "data", monkeypatch)
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    assert {"full_data", "fewshot", "compressors", "leakage", "full_rerank"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg.name == name and cfg.datasets


def test_a_dataset_without_a_training_set_needs_shots(tmp_path, monkeypatch):
    fake_data_dir(tmp_path / "data", monkeypatch)
    path = write(tmp_path, 'datasets = ["ag_news"]\n')
    with pytest.raises(ConfigError, match="datasets: 'ag_news' has only a test set locally: use it in a few-shot"):
        load_config(path)
    assert load_config(write(tmp_path, 'datasets = ["ag_news"]\nshots = [5]\n', "few")).shots == [5]
