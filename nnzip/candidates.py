"""The first stage of ``search="rerank"``: propose the training texts gzip will find nearest.

A query's exact neighbours are those whose text gzip can encode mostly as back-references into
the query. A cheap proxy of that: ``o``, the share of the training text's distinct character
5-grams that also occur in the query, scaled by ``min(1, C(y) / C(x))``; the estimated
distance is ``1 - o * min(1, C(y) / C(x))``. The ``n_candidates`` training texts with the
smallest estimate are ranked by the exact distance afterwards (:mod:`nnzip.engine`).
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from . import __version__

DEFAULT_N_CANDIDATES = 128


class CandidateIndex:
    """Character n-gram containment index over the training texts.

    Parameters
    ----------
    ngram : int, default=5
        Character n-gram length.
    n_features : int, default=2**20
        Hashed feature space.
    n_jobs : int, default=1
        Unused for now (kept for the engine's call signature).
    """

    def __init__(self, ngram: int = 5, n_features: int = 1 << 20, n_jobs: int = 1) -> None:
        self.ngram = ngram
        self.n_features = n_features
        self.n_jobs = n_jobs

    def _vectorizer(self) -> HashingVectorizer:
        return HashingVectorizer(
            analyzer="char", ngram_range=(self.ngram, self.ngram), lowercase=False, binary=True,
            norm=None, alternate_sign=False, n_features=self.n_features, dtype=np.float32,
        )

    def fit(self, texts: list[bytes], lengths: np.ndarray) -> CandidateIndex:
        """Index the training texts and their compressed lengths."""
        Y = self._vectorizer().transform(t.decode("utf-8", "replace") for t in texts)
        self.Yt_ = Y.T.tocsr()
        self.y_grams_ = np.maximum(np.asarray(Y.sum(axis=1)).ravel(), 1.0)
        self.y_lengths_ = np.asarray(lengths, dtype=np.float64)
        return self

    def cache_token(self) -> str:
        """Identifies this first stage's behaviour in cache keys."""
        return hashlib.sha256(f"{__version__} containment {self.ngram} {self.n_features}".encode()).hexdigest()[:16]

    def candidates(self, xs: list[bytes], m: int, n_jobs: int = 1) -> np.ndarray:
        """The ``m`` training indices with the smallest estimated distance per query, sorted by index."""
        from .engine import _lengths
        from .compressors import get_compressor

        X = self._vectorizer().transform(x.decode("utf-8", "replace") for x in xs)
        cx = _lengths(get_compressor("gzip"), xs, 1).astype(np.float64)
        shared = (X @ self.Yt_).toarray()
        score = shared / self.y_grams_[None, :] * np.minimum(1.0, self.y_lengths_[None, :] / cx[:, None])
        m = min(m, score.shape[1])
        top = np.argpartition(-score, m - 1, axis=1)[:, :m]
        return np.sort(top, axis=1).astype(np.int64)
