"""The class-dictionary zstd classifier against lengths computed with ``zstandard`` directly."""

import pickle

import joblib
import numpy as np
import pytest
import zstandard
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score

from nnzip import ConfigError, InputError, ZstdDictionaryClassifier, dictionary
from nnzip.cli import cli
from nnzip.models import make_model

PETS = ["the cat sat on the mat", "my dog chased the cat", "a kitten and a puppy play", "the dog barked at the cat",
        "cats and dogs sleep all day", "the puppy chewed my shoe"]
MONEY = ["stocks fell sharply today", "the market rallied on earnings", "bond yields rose again",
         "shares of the bank fell", "investors sold their stocks", "the central bank raised rates"]
SPORT = ["the team won the final", "a late goal decided the match", "the striker scored twice",
         "fans cheered the winning team", "the coach praised his players", "the match ended in a draw"]
X_TRAIN = PETS + MONEY + SPORT
Y_TRAIN = ["pets"] * 6 + ["money"] * 6 + ["sport"] * 6
X_TEST = ["a cat and a dog", "stock market shares fell", "the team scored a goal", "the puppy sat", "", "bank rates",
          "ünïcödé tëxt and the cat"]


def ref_class_lengths(train, labels, test, level, per, dict_type="raw", dict_size=None):
    """Slow reference: per class, round-robin groups, a fresh zstd compressor per (text, dictionary)."""
    classes = sorted(set(labels))
    out = np.zeros((len(test), len(classes)))
    for c, cls in enumerate(classes):
        members = [t.encode() for t, lab in zip(train, labels) if lab == cls]
        for g in range(per):
            group = members[g::per]
            if dict_type == "raw":
                content = b" ".join(group)
                if dict_size is not None:
                    content = content[len(content) - dict_size:] if len(content) > dict_size else content
                zdict = zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            else:
                trained = zstandard.train_dictionary(dict_size, group, level=level)
                zdict = zstandard.ZstdCompressionDict(trained.as_bytes(), dict_type=zstandard.DICT_TYPE_FULLDICT)
            for i, x in enumerate(test):
                comp = zstandard.ZstdCompressor(level=level, dict_data=zdict, write_checksum=False,
                                                write_content_size=False, write_dict_id=False)
                out[i, c] += len(comp.compress(x.encode()))
    return np.array(classes), out / per


@pytest.mark.parametrize(("level", "per", "dict_size"), [(9, 1, None), (3, 2, None), (19, 3, None), (9, 3, 40)])
def test_raw_dictionaries_match_reference(level, per, dict_size):
    classes, L = ref_class_lengths(X_TRAIN, Y_TRAIN, X_TEST, level, per, dict_size=dict_size)
    clf = ZstdDictionaryClassifier(level=level, dicts_per_class=per, dict_size=dict_size).fit(X_TRAIN, Y_TRAIN)
    assert clf.classes_.tolist() == classes.tolist()
    assert np.array_equal(clf.class_lengths(X_TEST), L)
    assert np.array_equal(clf.decision_function(X_TEST), -L)
    assert clf.predict(X_TEST).tolist() == classes[L.argmin(axis=1)].tolist()
    proba = clf.predict_proba(X_TEST)
    want = np.exp(-(L - L.min(axis=1, keepdims=True)) / 8.0)  # the default temperature, in bytes
    assert np.allclose(proba, want / want.sum(axis=1, keepdims=True))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == L.argmin(axis=1)).all()


def test_trained_dictionaries_match_reference():
    rng = np.random.default_rng(0)
    words = np.array("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split())
    train, labels = [], []
    for cls, vocab in (("a", words[:6]), ("b", words[6:])):
        for _ in range(60):
            train.append(" ".join(rng.choice(vocab, 12)))
            labels.append(cls)
    test = [" ".join(rng.choice(words[:6], 10)), " ".join(rng.choice(words[6:], 10))]
    classes, L = ref_class_lengths(train, labels, test, 9, 2, "trained", 1024)
    clf = ZstdDictionaryClassifier(dicts_per_class=2, dict_type="trained", dict_size=1024).fit(train, labels)
    assert np.array_equal(clf.class_lengths(test), L)
    assert clf.predict(test).tolist() == ["a", "b"]
    # binary: one score for classes_[1], positive when it compresses smaller
    assert np.array_equal(clf.decision_function(test), L[:, 0] - L[:, 1])


def test_compressed_lengths_layout_and_threads_agree(monkeypatch):
    clf = ZstdDictionaryClassifier(dicts_per_class=2).fit(X_TRAIN, Y_TRAIN)
    lengths = clf.compressed_lengths(X_TEST * 100)
    assert lengths.shape == (700, 6) and lengths.dtype == np.int64
    assert clf.dictionary_class_.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(lengths[:7], lengths[-7:])  # the same text, the same length, wherever it sits
    monkeypatch.setattr(dictionary, "_CHUNK", 64)  # many tasks per dictionary, the last one short
    assert np.array_equal(clf.set_params(n_jobs=2).compressed_lengths(X_TEST * 100), lengths)
    # a raw dictionary is the round-robin group joined by spaces; classes_ sorted: money first
    assert clf.dictionaries_[:2] == [" ".join(MONEY[0::2]).encode(), " ".join(MONEY[1::2]).encode()]


def test_ties_go_to_the_first_class():
    clf = ZstdDictionaryClassifier(dicts_per_class=1).fit(["same text", "same text"], ["b", "a"])
    assert clf.predict(["same text", "other"]).tolist() == ["a", "a"]
    assert clf.predict_proba(["same text"]).tolist() == [[0.5, 0.5]]


def test_pickle_and_joblib_round_trips_keep_predictions(tmp_path):
    clf = ZstdDictionaryClassifier(dicts_per_class=2, temperature=4.0).fit(X_TRAIN, Y_TRAIN)
    before = clf.predict_proba(X_TEST)
    data = pickle.dumps(clf)
    assert b"zstandard" not in data  # dictionaries travel as bytes, never as zstd objects
    restored = pickle.loads(data)
    assert np.array_equal(restored.predict_proba(X_TEST), before)
    joblib.dump(clf, tmp_path / "m.joblib")
    assert joblib.load(tmp_path / "m.joblib").predict(X_TEST).tolist() == clf.predict(X_TEST).tolist()
    unfitted = pickle.loads(pickle.dumps(ZstdDictionaryClassifier(level=3)))
    assert unfitted.get_params() == ZstdDictionaryClassifier(level=3).get_params()


def test_refit_replaces_the_dictionaries():
    clf = ZstdDictionaryClassifier(dicts_per_class=1).fit(X_TRAIN, Y_TRAIN)
    clf.predict(X_TEST)
    clf.fit(PETS + MONEY, ["x"] * 6 + ["y"] * 6)
    assert clf.classes_.tolist() == ["x", "y"] and clf.predict(["the cat"]).tolist() == ["x"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"level": 0}, ConfigError, "level must be an int from 1 to 22"),
        ({"level": 23}, ConfigError, "level must be an int from 1 to 22"),
        ({"level": 9.0}, ConfigError, "level must be an int"),
        ({"dicts_per_class": 0}, ConfigError, "dicts_per_class must be a positive int"),
        ({"dicts_per_class": True}, ConfigError, "dicts_per_class must be a positive int"),
        ({"dicts_per_class": 7}, InputError, r"dicts_per_class=7 needs at least 7 training texts per class; too few in "
                                             r"'money' \(6\), 'pets' \(6\), 'sport' \(6\)"),
        ({"dict_size": 0}, ConfigError, "dict_size must be a positive int"),
        ({"dict_type": "cover"}, ConfigError, "unknown dict_type 'cover'; choose one of raw, trained"),
        ({"temperature": 0}, ConfigError, "temperature must be a positive number"),
        ({"temperature": float("nan")}, ConfigError, "temperature must be a positive number"),
        ({"n_jobs": 0}, ConfigError, "n_jobs must be a non-zero int"),
        ({"dict_type": "trained", "dicts_per_class": 1}, InputError,
         "could not train a 112640-byte dictionary on 6 texts of class"),
    ],
)
def test_bad_parameters_fail_in_fit_with_one_clear_error(params, error, message):
    clf = ZstdDictionaryClassifier(**params)  # __init__ only stores them
    with pytest.raises(error, match=message):
        clf.fit(X_TRAIN, Y_TRAIN)


def test_bad_input_and_unfitted():
    with pytest.raises(NotFittedError):
        ZstdDictionaryClassifier().predict(X_TEST)
    clf = ZstdDictionaryClassifier(dicts_per_class=1)
    with pytest.raises(InputError, match="18 training items but y has 17"):
        clf.fit(X_TRAIN, Y_TRAIN[:-1])
    with pytest.raises(InputError, match="empty"):
        clf.fit([], [])
    with pytest.raises(InputError, match="single str"):
        clf.fit("one text", ["a"])
    with pytest.raises(InputError, match=r"X\[1\] is NoneType"):
        clf.fit(["a", None], ["a", "b"])
    with pytest.raises(InputError, match="is a float64; labels must be str or int"):
        clf.fit(X_TRAIN, np.linspace(0, 1, 18))
    clf.fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match=r"X\[0\] is int"):
        clf.predict([3])


def test_integer_labels_bytes_texts_clone_and_cross_val():
    clf = ZstdDictionaryClassifier(dicts_per_class=1)
    assert clone(clf).get_params() == clf.get_params()
    fitted = clf.fit([t.encode() for t in X_TRAIN], [0] * 6 + [1] * 6 + [2] * 6)
    assert fitted is clf and fitted.predict([b"a cat and a dog"]).tolist() == [0]
    assert clf.get_params() == ZstdDictionaryClassifier(dicts_per_class=1).get_params()  # fit changed no parameter
    scores = cross_val_score(ZstdDictionaryClassifier(dicts_per_class=1), X_TRAIN, Y_TRAIN, cv=3)
    assert scores.shape == (3,)


# tags and scikit-learn's data-free checks: tests/test_classifier.py, for every text estimator


def test_registered_as_zstd_dict_and_takes_the_common_options():
    clf = make_model("zstd-dict", strict=False, n_neighbors=2, n_jobs=2, random_state=0, verbose=0, dicts_per_class=1)
    assert isinstance(clf, ZstdDictionaryClassifier) and clf.n_jobs == 2 and clf.dicts_per_class == 1


def test_cli_classify_with_zstd_dict(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("".join(f"{lab}\t{t}\n" for lab, t in zip(Y_TRAIN, X_TRAIN)))
    test = tmp_path / "test.tsv"
    test.write_text("pets\ta cat and a dog\nmoney\tstock market shares fell\nsport\tthe team scored a goal\n")
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(cli, ["classify", "--train", str(train), "--test", str(test), "--model", "zstd-dict",
                                      "--output", str(out), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    want = ZstdDictionaryClassifier().fit(X_TRAIN, Y_TRAIN).predict(X_TEST[:3]).tolist()
    assert [line.split(",")[1] for line in out.read_text().splitlines()[1:]] == want
    accuracy = np.mean(np.array(want) == np.array(["pets", "money", "sport"]))
    assert f"accuracy {accuracy:.4f}" in result.output
