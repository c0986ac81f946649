"""Baselines behind the same scikit-learn interface as the gzip classifier (import as ``nnzip.baselines``).

Bag-of-words models need only scikit-learn; :class:`EmbeddingKNN` and
:class:`TransformerClassifier` need the ``transformers`` extra, imported only when used.
"""

from .bow import CountCosineKNN, JaccardKNN, TfidfLogReg, TfidfSVM
from .embedding import EmbeddingKNN
from .transformer import TransformerClassifier

__all__ = ["CountCosineKNN", "EmbeddingKNN", "JaccardKNN", "TfidfLogReg", "TfidfSVM", "TransformerClassifier"]
