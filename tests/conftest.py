"""Shared fixtures: real-data location and isolated cache/config directories."""

import os
from pathlib import Path

import pytest

from nnzip.baselines import _hf


@pytest.fixture
def data_dir() -> Path:
    """The benchmark data folder named by ``NNZIP_DATA_DIR``; skip the test when it is unset."""
    value = os.environ.get("NNZIP_DATA_DIR")
    if not value:
        pytest.skip("NNZIP_DATA_DIR is not set: real benchmark data unavailable")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"NNZIP_DATA_DIR={value} is not a directory")
    return path


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's cache and config folders."""
    home = tmp_path_factory.mktemp("nnzip_home")
    monkeypatch.setenv("NNZIP_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A folder holding a tiny random BERT encoder and the MiniLM tokenizer (offline)."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    if _hf.bundled_minilm() is None:
        pytest.skip("the offline MiniLM package (tokenizer files) is not installed")
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    transformers.set_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(_hf.bundled_minilm()).save_pretrained(folder)
    return str(folder)
