"""The version of nnzip: read by the package, the cache keys and ``pyproject.toml``."""

__version__ = "0.2.0"
