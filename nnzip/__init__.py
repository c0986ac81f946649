"""nnzip: compression-based text classification (gzip + kNN), exact, fast and honestly measured.

Nothing is computed, compiled or downloaded at import; :func:`warmup` compiles the kernels
ahead of a timed run.
"""

from ._version import __version__
from .classifier import NCDKNeighborsClassifier, NCDKNeighborsClassifierCV
from .compressors import COMPRESSORS, get_compressor
from .dictionary import ZstdDictionaryClassifier
from .errors import ConfigError, InputError, MissingDependencyError, NNZipError
from .index import NCDIndex, nearest_neighbors, warmup
from .metrics import evaluate_order, tie_order_effect, top_k_tie_accuracy, top_k_tie_hits
from .neighbors import DISTANCE_TIES, TIE_BREAKS, tied_vote, vote
from .pairwise import METRICS, compressed_len, pairwise_compressed_len, pairwise_distances
from .tied_neighbors import TiedNeighbors

__all__ = [
    "COMPRESSORS",
    "DISTANCE_TIES",
    "METRICS",
    "TIE_BREAKS",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "NCDIndex",
    "NCDKNeighborsClassifier",
    "NCDKNeighborsClassifierCV",
    "NNZipError",
    "TiedNeighbors",
    "ZstdDictionaryClassifier",
    "__version__",
    "compressed_len",
    "evaluate_order",
    "get_compressor",
    "nearest_neighbors",
    "pairwise_compressed_len",
    "pairwise_distances",
    "tie_order_effect",
    "top_k_tie_accuracy",
    "tied_vote",
    "top_k_tie_hits",
    "vote",
    "warmup",
]
