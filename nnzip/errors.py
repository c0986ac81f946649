"""Exceptions raised by nnzip for bad input; the CLI turns them into one-line errors."""


class NNZipError(Exception):
    """Base class of every error nnzip raises on purpose."""


class InputError(NNZipError, ValueError):
    """Texts, labels or files that cannot be used as given."""


class ConfigError(NNZipError, ValueError):
    """An unknown name or an out-of-range setting (compressor, metric, k, ...)."""


class DeviceError(NNZipError, RuntimeError):
    """``device="cuda"`` cannot run here: no NVIDIA driver, no GPU it can see, too little GPU
    memory, or the GPU failed during the work. Not a bad value but a machine that lacks
    something; a missing numba-cuda or CUDA compiler is a :class:`MissingDependencyError`."""


class MissingDependencyError(NNZipError, ImportError):
    """An optional extra is needed; the message names the pip command."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a job; says where its finished work was kept, so a rerun can resume.

    Attributes
    ----------
    cache_dir : path or None
        The folder holding the finished work (``None``: nothing was kept).
    kept : str
        What was kept there (``"blocks"``, ``"embeddings"``).
    """

    def __init__(self, cache_dir=None, kept: str = "") -> None:
        super().__init__(cache_dir, kept)
        self.cache_dir = cache_dir
        self.kept = kept
