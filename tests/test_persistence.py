"""Saved models: fit once, predict later, exactly as classify does; safe and honest loading."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import skops.io as sio

from nnzip import NCDIndex, NCDKNeighborsClassifier, load_model, save_model
from nnzip.cache import MODEL_CODE, code_fingerprint
from nnzip.errors import InputError
from nnzip.evaluate import DataSpec, classify
from nnzip.jobs import fit_job, predict_job
from nnzip.models import MODELS, make_model
from nnzip.neighbors import DISTANCE_TIES
from nnzip.persistence import DIGESTS, HEADER, TRUSTED_TYPES, check_fitted_state, open_model

RNG = np.random.default_rng(7)
TOPICS = {
    "cats": ["the cat sat on the mat", "a kitten purrs softly", "cats chase mice at night", "my cat sleeps all day"],
    "money": ["stocks fell sharply today", "the bank raised interest rates", "markets rally on earnings",
              "bond yields climb again"],
    "sport": ["the striker scored twice", "a late goal won the match", "the team lost the final",
              "fans cheered loudly"],
}


def sample(n: int) -> tuple[list[str], list[str]]:
    X, y = [], []
    for i in range(n):
        label = list(TOPICS)[i % 3]
        words = " ".join(RNG.choice(TOPICS[label], 2))
        X.append(f"{words} {RNG.choice(['again', 'now', 'then', 'too'])}")
        y.append(label)
    return X, y


X_TRAIN, Y_TRAIN = sample(60)
X_TEST, Y_TEST = sample(24)
X_TEST[0] = X_TRAIN[3]  # a duplicate, for the leakage count


def write_tsv(path, X, y=None) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for i, x in enumerate(X):
            f.write(f"{y[i]}\t{x}\n" if y is not None else f"{x}\n")
    return str(path)


@pytest.fixture
def files(tmp_path):
    return write_tsv(tmp_path / "train.tsv", X_TRAIN, Y_TRAIN), write_tsv(tmp_path / "test.tsv", X_TEST, Y_TEST)


def model_params(name: str, request) -> dict:
    params = {"n_neighbors": 3, "n_jobs": 1, "random_state": 0, "verbose": 0, "cache_dir": None}
    if name in ("embedding-knn", "transformer"):
        encoder = request.getfixturevalue("tiny_encoder")
        params["model_name"] = encoder
        params |= {"max_length": 16, "batch_size": 16}
        if name == "transformer":
            params |= {"epochs": 1}
    return params


@pytest.mark.parametrize(("name", "search"), [(name, "exact") for name in MODELS] + [("gzip-knn", "rerank")])
def test_predictions_after_loading_equal_classify(name, search, files, tmp_path, request):
    train, test = files
    params = {**model_params(name, request), "search": search, "n_candidates": 5 if search == "rerank" else None}
    ev = classify(name, DataSpec(train, test), params)
    out = tmp_path / ("model" if name == "transformer" else "model.nnzip")
    fit_job(name, train=train, params=params, model_out=out)
    again = predict_job(out, test, settings={"n_jobs": 1})
    assert again.predictions.tolist() == ev.predictions.tolist()
    for key in ("accuracy", "macro_f1", "top_k_tie_accuracy", "n_train", "n_test", "duplicates"):
        assert again.metrics[key] == ev.metrics[key], key
    assert again.metrics.get("training_order") == ev.metrics.get("training_order")
    assert ev.metrics["duplicates"] >= 1
    if ev.neighbors is not None:
        assert np.array_equal(again.neighbors[0], ev.neighbors[0])
        assert np.array_equal(again.neighbors[1], ev.neighbors[1])


# five copies of one text for three places (k=3), labelled so that the distance-tie rules disagree:
# split gives cats 1.8 against money 1.2, all cats 3 against 2, index the first three (money twice)
TIE_TEXT = "the tie text nobody else has"
TIE_LABELS = ["money", "money", "cats", "cats", "cats"]


@pytest.mark.parametrize("name", ["gzip-knn", "count-cosine-knn"])
@pytest.mark.parametrize("rule", DISTANCE_TIES)
def test_distance_ties_are_recorded_and_round_trip(name, rule, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", X_TRAIN + [TIE_TEXT] * 5, Y_TRAIN + TIE_LABELS)
    test = write_tsv(tmp_path / "test.tsv", [TIE_TEXT] + X_TEST, ["money"] + Y_TEST)
    params = {"n_neighbors": 3, "distance_ties": rule, "n_jobs": 1, "cache_dir": None, "verbose": 0}
    ev = classify(name, DataSpec(train, test), params)
    assert ev.predictions[0] == ("money" if rule == "index" else "cats")  # the rule decides this one
    out = tmp_path / "model.nnzip"
    fit_job(name, train=train, params=params, model_out=out)
    saved = open_model(out)
    assert saved.header["params"]["distance_ties"] == rule and saved.model.distance_ties == rule
    with pytest.warns(UserWarning, match=f"the file order would choose from.*distance_ties={rule!r}"):
        again = predict_job(out, test, settings={"n_jobs": 1}, metrics_json=tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["distance_ties"] == rule
    assert again.predictions.tolist() == ev.predictions.tolist()
    for a, b in ((again.tied.indptr, ev.tied.indptr), (again.tied.indices, ev.tied.indices),
                 (again.tied.distances, ev.tied.distances), (again.neighbors[1], ev.neighbors[1])):
        assert np.array_equal(a, b)
    assert again.metrics["training_order"] == ev.metrics["training_order"]
    assert ev.metrics["training_order"]["n_order_dependent"] >= 1
    X = [TIE_TEXT] + X_TEST
    assert np.array_equal(saved.model.predict_proba(X), ev.model.predict_proba(X))


def test_damaged_training_items_are_refused():
    index = make_model("gzip-knn").fit(X_TRAIN + X_TRAIN[:5], Y_TRAIN + Y_TRAIN[:5]).index_
    state = index.__getstate__()
    assert "train_texts_" not in state and "candidate_index_" not in state
    for change in ({"_items": index._items[::-1][1:]}, {"_copies": index._copies + 1},
                   {"_items": np.zeros_like(index._items)}):
        fresh = NCDIndex.__new__(NCDIndex)
        with pytest.raises(ValueError, match="training items"):
            fresh.__setstate__({**state, **change})
    fresh = NCDIndex.__new__(NCDIndex)
    fresh.__setstate__(state)
    assert fresh.train_texts_ == index.train_texts_ and np.array_equal(fresh.train_lengths_, index.train_lengths_)


def test_kernel_tables_are_not_stored(tmp_path):
    texts = [f"some training text number {i} " * 20 for i in range(200)]
    clf = NCDKNeighborsClassifier().fit(texts, [str(i % 2) for i in range(200)])
    clf.predict(texts[:20])  # builds the kernel's tables (20 rows > TABLE_ROWS)
    assert clf.index_._side._tables is not None
    path = tmp_path / "m.nnzip"
    save_model(clf, path)
    with zipfile.ZipFile(path) as zf:
        schema = zf.read("schema.json").decode()
        stored = sum(i.file_size for i in zf.infolist())
    assert "_tables" not in schema and "candidate_index_" not in schema and "train_texts_" not in schema
    text_bytes = sum(len(t) for t in texts)
    assert stored < 2 * text_bytes + 200_000  # texts once (12 bytes per byte of text would be the tables)
    loaded = load_model(path)
    assert loaded.index_._side._tables is None
    assert loaded.train_texts_ == [t.encode() for t in texts] and loaded.train_texts_ is loaded.index_.train_texts_
    assert np.array_equal(loaded.predict(texts[:20]), clf.predict(texts[:20]))


def test_file_records_what_it_is(tmp_path):
    path = tmp_path / "m.nnzip"
    fit_job("gzip-knn", train=write_tsv(tmp_path / "t.tsv", X_TRAIN, Y_TRAIN), params={"n_neighbors": 2},
            model_out=path)
    saved = open_model(path)
    h = saved.header
    assert h["model"] == "gzip-knn" and h["params"]["n_neighbors"] == 2 and h["params"]["cache_dir"] is None
    assert h["environment"]["nnzip"] and h["code_fingerprint"] == code_fingerprint(MODEL_CODE)
    assert h["classes"] == ["cats", "money", "sport"] and h["n_samples_fit"] == 60
    assert len(h["probe"]["texts"]) == 8 and len(h["probe"]["scores"]) == 8 + 64
    assert saved.training_digests.shape == (60, 16)


# ---- bad files ------------------------------------------------------------------------------


@pytest.fixture
def saved_file(tmp_path):
    path = tmp_path / "m.nnzip"
    save_model(make_model("gzip-knn", n_neighbors=2).fit(X_TRAIN, Y_TRAIN), path)
    return path


def rewrite(path, out, header_change=None, drop=(), replace=None):
    """Copy a model file, changing its header or members."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name in drop:
                continue
            data = src.read(name)
            if name == HEADER and header_change:
                header = json.loads(data)
                header_change(header)
                data = json.dumps(header).encode()
            if replace and name in replace:
                data = replace[name]
            dst.writestr(name, data)
    return out


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="model file not found"):
        load_model(tmp_path / "nope.nnzip")
    with pytest.raises(InputError, match="is a folder, not an nnzip model file"):
        load_model(tmp_path)


def test_model_from_another_version_is_refused(saved_file, tmp_path):
    def older(h):
        h["environment"]["nnzip"] = "0.0.9"
        h["environment"]["scikit-learn"] = "1.5.0"
        h["code_fingerprint"] = "0123456789abcdef"

    other = rewrite(saved_file, tmp_path / "old.nnzip", older)
    with pytest.raises(InputError) as err:
        load_model(other)
    message = str(err.value)
    assert "saved by nnzip 0.0.9 with other kernel, search or voting code" in message
    assert "0123456789abcdef" in message and "scikit-learn 1.5.0 then" in message and "\n" not in message


def test_other_versions_with_the_same_code_load_with_a_warning(saved_file, tmp_path):
    def renamed(h):
        h["environment"]["nnzip"] = "0.0.9"

    other = rewrite(saved_file, tmp_path / "renamed.nnzip", renamed)
    with pytest.warns(UserWarning, match="nnzip 0.0.9 then.*its probe outputs agree here"):
        model = load_model(other)
    assert model.predict(X_TEST).tolist() == load_model(saved_file).predict(X_TEST).tolist()


def test_a_model_that_computes_differently_here_is_refused(saved_file, tmp_path):
    def moved(h):
        h["probe"]["scores"][0] += 1

    with pytest.raises(InputError, match="computes differently here than when it was saved"):
        load_model(rewrite(saved_file, tmp_path / "moved.nnzip", moved))


def test_newer_format_is_refused(saved_file, tmp_path):
    def newer(h):
        h["format"] = 99

    with pytest.raises(InputError, match="of format 99; this nnzip .* reads format 1"):
        load_model(rewrite(saved_file, tmp_path / "new.nnzip", newer))


@pytest.mark.parametrize("damage", ["text", "truncated", "no header", "bad header", "no schema", "bad digests",
                                    "bad payload"])
def test_damaged_or_foreign_files_are_one_error(saved_file, tmp_path, damage):
    bad = tmp_path / "bad.nnzip"
    raw = saved_file.read_bytes()
    if damage == "text":
        bad.write_text("label\ttext\n")
    elif damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "no header":
        rewrite(saved_file, bad, drop=(HEADER,))
    elif damage == "bad header":
        rewrite(saved_file, bad, replace={HEADER: b"{not json"})
    elif damage == "no schema":
        rewrite(saved_file, bad, drop=("schema.json",))
    elif damage == "bad digests":
        rewrite(saved_file, bad, replace={DIGESTS: b"\x93NUMPY garbage"})
    else:
        with zipfile.ZipFile(saved_file) as zf:
            schema = json.loads(zf.read("schema.json"))
        schema["content"]["content"]["n_neighbors"] = {"__class__": "bogus"}
        rewrite(saved_file, bad, replace={"schema.json": json.dumps(schema).encode()})
    with pytest.raises(InputError, match="is not an nnzip model file, or it is damaged") as err:
        load_model(bad)
    assert "\n" not in str(err.value)


def test_untrusted_types_are_refused_before_anything_is_built(saved_file, tmp_path):
    # a file whose payload holds a function nnzip does not trust (what a crafted file would do)
    clf = make_model("gzip-knn", n_neighbors=2, weights=lambda d: 1 / (1 + d)).fit(X_TRAIN, Y_TRAIN)
    payload = sio.dumps(clf)
    with zipfile.ZipFile(saved_file) as zf:
        header = zf.read(HEADER)
    buf = io.BytesIO(payload)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(HEADER, header)
    bad = tmp_path / "crafted.nnzip"
    bad.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="holds types nnzip does not load .*lambda"):
        load_model(bad)


def test_saving_a_user_function_is_refused(tmp_path):
    clf = make_model("gzip-knn", weights=lambda d: 1 / (1 + d)).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match="cannot hold safely"):
        save_model(clf, tmp_path / "m.nnzip")
    assert not (tmp_path / "m.nnzip").exists()
    with pytest.raises(InputError, match="not fitted"):
        save_model(make_model("gzip-knn"), tmp_path / "m.nnzip")


def test_inconsistent_state_is_caught():
    clf = make_model("gzip-knn").fit(X_TRAIN, Y_TRAIN)
    clf._y = clf._y + 5
    with pytest.raises(InputError, match="training labels do not match its classes"):
        check_fitted_state(clf)
    bow = make_model("count-cosine-knn").fit(X_TRAIN, Y_TRAIN)
    bow.train_matrix_.indices[0] = 10**6
    with pytest.raises(InputError, match="training matrix is inconsistent"):
        check_fitted_state(bow)


def test_trusted_types_are_only_nnzip_and_scipy_sparse():
    assert all(t.startswith("nnzip.") or t.startswith("scipy.sparse.") for t in TRUSTED_TYPES)


def test_existing_model_is_replaced_only_when_complete(saved_file, tmp_path):
    before = saved_file.read_bytes()
    clf = make_model("gzip-knn", weights=lambda d: d).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError):
        save_model(clf, saved_file)
    assert saved_file.read_bytes() == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved_file)


def test_run_settings_given_after_loading_reach_the_search(tmp_path):
    """n_jobs, cache_dir and verbose set on a loaded model are those its searches run with."""
    X, y = sample(12)
    path = tmp_path / "model.nnzip"
    save_model(NCDKNeighborsClassifier(n_neighbors=1).fit(X, y), path)
    model = load_model(path)
    before = model.predict(X[:3])
    model.set_params(n_jobs=2, cache_dir=str(tmp_path / "cache"), verbose=0)
    assert model.predict(X[:3]).tolist() == before.tolist()
    assert (model.index_.n_jobs, model.index_.cache_dir) == (2, str(tmp_path / "cache"))
    assert any((tmp_path / "cache").rglob("*")), "the search did not use the cache it was given"
