"""Shared fixtures: real-data location and isolated cache/config directories."""

import os
from pathlib import Path

import pytest


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
