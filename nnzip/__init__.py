"""nnzip: compression-based text classification (gzip + kNN), exact, fast and honestly measured.

Nothing is computed, compiled or downloaded at import; :func:`warmup` compiles the kernels
ahead of a timed run.
"""

from ._version import __version__
from .classifier import NCDKNeighborsClassifier
from .compressors import COMPRESSORS, get_compressor
from .dictionary import ZstdDictionaryClassifier
from .errors import ConfigError, InputError, MissingDependencyError, NNZipError
from .index import NCDIndex, nearest_neighbors, warmup
from .metrics import top_k_tie_accuracy
from .neighbors import TIE_BREAKS, vote
from .pairwise import METRICS, compressed_len, pairwise_compressed_len, pairwise_distances

__all__ = [
    "COMPRESSORS",
    "METRICS",
    "TIE_BREAKS",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "NCDIndex",
    "NCDKNeighborsClassifier",
    "NNZipError",
    "ZstdDictionaryClassifier",
    "__version__",
    "compressed_len",
    "get_compressor",
    "nearest_neighbors",
    "pairwise_compressed_len",
    "pairwise_distances",
    "top_k_tie_accuracy",
    "vote",
    "warmup",
]
