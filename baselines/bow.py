"""Bag-of-words baselines, built from scikit-learn parts.

* :class:`CountCosineKNN`: token counts + cosine kNN (Raschka's comparison with gzip).
* :class:`JaccardKNN`: Jaccard distance between sets of lower-cased tokens longer than three
  characters (Opitz's "BoW-kNN").
* :class:`TfidfLogReg`: TF-IDF + logistic regression (the paper's TFIDF+LR row).
* :class:`TfidfSVM`: TF-IDF + linear SVM (Opitz's trained bag-of-words).

The kNN models vote through :func:`nnzip.vote`, exactly like the compression classifier.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import cosine_distances
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from nnzip import _kernels
from nnzip.compressors import as_texts
from nnzip.neighbors import KNeighborsVoteMixin, check_n_neighbors, check_tie_break, check_weights

# Query rows per block of the dense distance matrix: bounds memory on large test sets.
_BLOCK_ROWS = 1024


class _TextEstimator(ClassifierMixin, BaseEstimator):
    """Declares text input to scikit-learn."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


class _SparseKNN(KNeighborsVoteMixin, _TextEstimator):
    """kNN over a sparse bag-of-words matrix; subclasses give the vectorizer and the distance."""

    def _vectorizer(self) -> CountVectorizer:
        raise NotImplementedError

    def _block_distances(self, queries: sparse.csr_matrix, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y):
        """Fit the vocabulary on the training texts and store their vectors and labels.

        Parameters
        ----------
        X : sequence of str or bytes
            Training texts.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        self
        """
        check_n_neighbors(self.n_neighbors)
        check_tie_break(self.tie_break)
        check_weights(self.weights)
        texts = as_texts(X, "X")
        self._fit_labels(y, len(texts))
        self.vectorizer_ = self._vectorizer()
        self.train_matrix_ = self.vectorizer_.fit_transform(texts).tocsr()
        self.n_samples_fit_ = len(texts)
        return self

    def kneighbors(self, X, n_neighbors: int | None = None, return_distance: bool = True):
        """The nearest training items of each query (ties by training index).

        Parameters
        ----------
        X : sequence of str or bytes
            Queries.
        n_neighbors : int, optional
            Defaults to ``n_neighbors``.
        return_distance : bool, default=True
            Whether to return the distances too.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance`` is true.
        indices : ndarray of shape (n_queries, n_neighbors)
        """
        check_is_fitted(self)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors, self.n_samples_fit_)
        texts = as_texts(X, "X")
        queries = self.vectorizer_.transform(texts).tocsr()
        dist = np.empty((queries.shape[0], k))
        idx = np.empty((queries.shape[0], k), dtype=np.int64)
        for lo in range(0, queries.shape[0], _BLOCK_ROWS):
            block = slice(lo, lo + _BLOCK_ROWS)
            d = np.ascontiguousarray(self._block_distances(queries[block], texts[block]), dtype=np.float64)
            dist[block], idx[block] = _kernels.stable_top_k(d, k)
        return (dist, idx) if return_distance else idx


class CountCosineKNN(_SparseKNN):
    """Token counts (CountVectorizer) + cosine-distance kNN.

    Parameters
    ----------
    n_neighbors : int, default=2
        Neighbours that vote.
    max_features : int or None, default=10000
        Vocabulary size (Raschka used 10,000).
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        See :func:`nnzip.vote`.
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights.
    random_state : int or None, default=None
        Seed for ``tie_break="random"``.
    """

    def __init__(self, n_neighbors=2, max_features=10000, tie_break="nearest", weights="uniform", random_state=None):
        self.n_neighbors = n_neighbors
        self.max_features = max_features
        self.tie_break = tie_break
        self.weights = weights
        self.random_state = random_state

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(max_features=self.max_features)

    def _block_distances(self, queries, texts):
        return cosine_distances(queries, self.train_matrix_)


class JaccardKNN(_SparseKNN):
    """Jaccard distance between token sets + kNN (Opitz's "BoW-kNN").

    Tokens are lower-cased runs of word characters longer than three characters, so
    punctuation and short function words are dropped. Two texts without any such token are
    at distance 1.

    Parameters
    ----------
    n_neighbors : int, default=2
        Neighbours that vote.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        See :func:`nnzip.vote`.
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights.
    random_state : int or None, default=None
        Seed for ``tie_break="random"``.
    """

    def __init__(self, n_neighbors=2, tie_break="nearest", weights="uniform", random_state=None):
        self.n_neighbors = n_neighbors
        self.tie_break = tie_break
        self.weights = weights
        self.random_state = random_state

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(binary=True, lowercase=True, token_pattern=r"(?u)\b\w{4,}\b")

    def _block_distances(self, queries, texts):
        inter = (queries @ self.train_matrix_.T).toarray().astype(np.float64)
        # a query's set includes words the training vocabulary lacks: they enlarge the union
        analyzer = self.vectorizer_.build_analyzer()
        q_size = np.array([[len(set(analyzer(t)))] for t in texts], dtype=np.float64)
        t_size = np.asarray(self.train_matrix_.sum(axis=1), dtype=np.float64).T
        union = q_size + t_size - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(union > 0, inter / union, 0.0)
        return 1.0 - sim


class _TfidfLinear(_TextEstimator):
    """TF-IDF features + a linear model, fitted as one scikit-learn pipeline."""

    def _model(self):
        raise NotImplementedError

    def fit(self, X, y):
        """Fit TF-IDF and the linear model.

        Parameters
        ----------
        X : sequence of str or bytes
            Training texts.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        self
        """
        texts = as_texts(X, "X")
        vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=self.max_features, ngram_range=self.ngram_range)
        self.pipeline_ = Pipeline([("tfidf", vectorizer), ("model", self._model())]).fit(texts, y)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted label of each text."""
        check_is_fitted(self)
        return self.pipeline_.predict(as_texts(X, "X"))

    def decision_function(self, X) -> np.ndarray:
        """Linear scores of each text (see scikit-learn's linear models)."""
        check_is_fitted(self)
        return self.pipeline_.decision_function(as_texts(X, "X"))


class TfidfLogReg(_TfidfLinear):
    """TF-IDF (sublinear tf) + logistic regression.

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation strength.
    max_features : int or None, default=None
        Vocabulary size limit.
    ngram_range : tuple, default=(1, 1)
        Word n-grams.
    max_iter : int, default=1000
        Solver iterations.
    random_state : int or None, default=None
        Passed to the solver.
    """

    def __init__(self, C=10.0, max_features=None, ngram_range=(1, 1), max_iter=1000, random_state=None):
        self.C = C
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self):
        return LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self)
        return self.pipeline_.predict_proba(as_texts(X, "X"))


class TfidfSVM(_TfidfLinear):
    """TF-IDF (sublinear tf) + linear SVM (one-vs-rest).

    ``predict_proba`` is the softmax of the decision scores: it ranks classes like the SVM
    does but is not calibrated.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    max_features : int or None, default=None
        Vocabulary size limit.
    ngram_range : tuple, default=(1, 1)
        Word n-grams.
    random_state : int or None, default=None
        Passed to the solver.
    """

    def __init__(self, C=1.0, max_features=None, ngram_range=(1, 1), random_state=None):
        self.C = C
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.random_state = random_state

    def _model(self):
        return LinearSVC(C=self.C, random_state=self.random_state)

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of the decision scores, columns in ``classes_`` order (not calibrated)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:  # binary: one score for classes_[1]
            scores = np.column_stack([-scores, scores])
        return softmax(scores, axis=1)
