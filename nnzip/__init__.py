"""nnzip: compression-based text classification (gzip + kNN), exact, fast and honestly measured.

Nothing is computed, compiled or downloaded at import; :func:`warmup` compiles the kernels
ahead of a timed run.
"""

__version__ = "0.1.0"  # before the imports: the cache module keys entries by it

from .classifier import NCDKNeighborsClassifier
from .compressors import COMPRESSORS, get_compressor
from .dictionary import ZstdDictionaryClassifier
from .engine import compressed_len, nearest_neighbors, pairwise_compressed_len, pairwise_distances, warmup
from .errors import ConfigError, InputError, MissingDependencyError, NNZipError
from .metrics import evaluate_order, tie_order_effect, top_k_tie_accuracy, top_k_tie_hits
from .neighbors import TIE_BREAKS, vote
from .tied_neighbors import TiedNeighbors

__all__ = [
    "COMPRESSORS",
    "TIE_BREAKS",
    "ZstdDictionaryClassifier",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "NCDKNeighborsClassifier",
    "NNZipError",
    "TiedNeighbors",
    "__version__",
    "compressed_len",
    "evaluate_order",
    "get_compressor",
    "nearest_neighbors",
    "pairwise_compressed_len",
    "pairwise_distances",
    "tie_order_effect",
    "top_k_tie_accuracy",
    "top_k_tie_hits",
    "vote",
    "warmup",
]
