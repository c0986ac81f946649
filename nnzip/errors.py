"""Exceptions raised by nnzip for bad input; the CLI turns them into one-line errors."""


class NNZipError(Exception):
    """Base class of every error nnzip raises on purpose."""


class InputError(NNZipError, ValueError):
    """Texts, labels or files that cannot be used as given."""


class ConfigError(NNZipError, ValueError):
    """An unknown name or an out-of-range setting (compressor, metric, k, ...)."""


class MissingDependencyError(NNZipError, ImportError):
    """An optional extra is needed; the message names the pip command."""
