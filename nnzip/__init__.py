"""nnzip: compression-based text classification (gzip + kNN), exact, fast and honestly measured.

Nothing is computed, compiled or downloaded at import; :func:`warmup` compiles the kernels
ahead of a timed run.
"""

from ._version import __version__
from .classifier import NCDKNeighborsClassifier, NCDKNeighborsClassifierCV
from .compressors import COMPRESSORS, get_compressor
from .dictionary import ZstdDictionaryClassifier
from .errors import ConfigError, DeviceError, InputError, MissingDependencyError, NNZipError
from .index import NCDIndex, nearest_neighbors, warmup
from .metrics import evaluate_order, tie_order_effect, top_k_tie_accuracy, top_k_tie_hits
from .neighbors import DISTANCE_TIES, TIE_BREAKS, tied_vote, vote
from .pairwise import METRICS, compressed_len, pairwise_compressed_len, pairwise_distances
from .persistence import load_model, open_model, save_model
from .tied_neighbors import TiedNeighbors

__all__ = [
    "COMPRESSORS",
    "DISTANCE_TIES",
    "METRICS",
    "TIE_BREAKS",
    "ConfigError",
    "DeviceError",
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
    "load_model",
    "nearest_neighbors",
    "open_model",
    "pairwise_compressed_len",
    "pairwise_distances",
    "save_model",
    "tie_order_effect",
    "top_k_tie_accuracy",
    "tied_vote",
    "top_k_tie_hits",
    "vote",
    "warmup",
]
