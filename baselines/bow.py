"""Bag-of-words baselines, built from scikit-learn parts.

* :class:`CountCosineKNN`: token counts + cosine kNN (Raschka's comparison with gzip).
* :class:`JaccardKNN`: Jaccard distance between sets of lower-cased tokens longer than three
  characters (Opitz's "BoW-kNN").
* :class:`TfidfLogReg`: TF-IDF + logistic regression (the paper's TFIDF+LR row).
* :class:`TfidfSVM`: TF-IDF + linear SVM (Opitz's trained bag-of-words).

The kNN models select and vote through :mod:`nnzip.neighbors`, exactly like the compression
classifier, so a tie is resolved the same way whatever the distance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
from scipy import sparse
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import pairwise_distances
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from nnzip.neighbors import KNeighborsVoteMixin, block_top_k
from nnzip.tied_neighbors import TiedNeighbors
from nnzip.validation import (
    N_JOBS,
    POSITIVE_INT,
    RANDOM_STATE,
    InstanceOf,
    Interval,
    TextClassifier,
    as_texts,
    check_labels,
)

# Opitz's normalisation splits words at these characters (normalize.string2set in his code).
_SPLIT_PUNCT = str.maketrans({c: " " for c in ".,?!"})


def _opitz_preprocess(text: str) -> str:
    """Lower-case and split at ``. , ? !`` as Opitz does (module level so that models pickle)."""
    return text.lower().translate(_SPLIT_PUNCT)


class _SparseKNN(KNeighborsVoteMixin, TextClassifier):
    """kNN over a sparse bag-of-words matrix; subclasses give the vectorizer and the distance."""

    def _vectorizer(self) -> CountVectorizer:
        raise NotImplementedError

    def _distances(self, queries: sparse.csr_matrix, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, X, y) -> None:
        """Fit the vocabulary on the training texts and store their vectors and labels."""
        texts = as_texts(X, "X")
        self._fit_labels(y, len(texts), texts)
        self.vectorizer_ = self._vectorizer()
        self.train_matrix_ = self.vectorizer_.fit_transform(texts).tocsr()
        self.n_samples_fit_ = len(texts)

    def _tied_neighbors(self, X: Sequence[str], k: int) -> TiedNeighbors:
        texts = as_texts(X, "X")
        queries = self.vectorizer_.transform(texts).tocsr()
        n_fit = self.n_samples_fit_
        return block_top_k(lambda b: self._distances(queries[b], texts[b]), len(texts), n_fit, k, self.n_jobs)


class CountCosineKNN(_SparseKNN):
    """Token counts (``CountVectorizer``) + cosine-distance kNN.

    Parameters
    ----------
    n_neighbors : int, default=2
        Neighbours that vote.
    max_features : int or None, default=10000
        Vocabulary size: the most frequent training tokens (Raschka used 10,000).
    distance_ties, tie_break, weights, random_state
        The vote, as in every kNN model of nnzip (see :class:`nnzip.NCDKNeighborsClassifier`
        and :func:`nnzip.neighbors.tied_vote`; defaults ``"split"``, ``"nearest"``,
        ``"uniform"``, ``None``): the texts tied at the k-th distance share the places left.
    n_jobs : int or None, default=None
        Threads for the distance blocks (joblib semantics).

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    vectorizer_ : CountVectorizer
        The fitted vectorizer.
    train_matrix_ : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        Token counts of the training texts.
    """

    _parameter_constraints: dict = {
        **KNeighborsVoteMixin._parameter_constraints,
        "max_features": [*POSITIVE_INT, None],
        "n_jobs": N_JOBS,
    }

    def __init__(
        self,
        n_neighbors: int = 2,
        *,
        max_features: int | None = 10000,
        distance_ties: str = "split",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        n_jobs: int | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.max_features = max_features
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(max_features=self.max_features)

    def _distances(self, queries: sparse.csr_matrix, texts: list[str]) -> np.ndarray:
        # a text without any known token is at distance 1 from everything
        return pairwise_distances(queries, self.train_matrix_, metric="cosine")


class JaccardKNN(_SparseKNN):
    """Jaccard distance between token sets + kNN (Opitz's "BoW-kNN").

    A text's set holds its lower-cased whitespace-separated tokens longer than three
    characters, after ``. , ? !`` are replaced by spaces (Opitz's ``string2set``). The distance
    is ``1 - |A ∩ B| / max(1, |A ∪ B|)``, so two texts without any such token are at distance 1.
    Intersections are sparse products of binary token matrices.

    Parameters
    ----------
    n_neighbors : int, default=2
        Neighbours that vote.
    distance_ties, tie_break, weights, random_state
        The vote, as in every kNN model of nnzip (see :class:`nnzip.NCDKNeighborsClassifier`
        and :func:`nnzip.neighbors.tied_vote`; defaults ``"split"``, ``"nearest"``,
        ``"uniform"``, ``None``): the texts tied at the k-th distance share the places left.
    n_jobs : int or None, default=None
        Threads for the distance blocks (joblib semantics).

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    vectorizer_ : CountVectorizer
        The fitted binary vectorizer.
    train_matrix_ : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        Token sets of the training texts (0/1).
    """

    _parameter_constraints: dict = {**KNeighborsVoteMixin._parameter_constraints, "n_jobs": N_JOBS}

    def __init__(
        self,
        n_neighbors: int = 2,
        *,
        distance_ties: str = "split",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        n_jobs: int | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(
            binary=True, preprocessor=_opitz_preprocess, token_pattern=r"(?u)\S{4,}", dtype=np.int32
        )

    def _distances(self, queries: sparse.csr_matrix, texts: list[str]) -> np.ndarray:
        inter = (queries @ self.train_matrix_.T).toarray().astype(np.float64)
        # the query's own set counts words the training vocabulary lacks: they enlarge the union
        analyzer = self.vectorizer_.build_analyzer()
        q_size = np.array([len(set(analyzer(t))) for t in texts], dtype=np.float64)[:, None]
        t_size = np.asarray(self.train_matrix_.sum(axis=1), dtype=np.float64).T
        union = q_size + t_size - inter
        return 1.0 - inter / np.maximum(union, 1.0)


class _TfidfLinear(TextClassifier):
    """TF-IDF features (sublinear tf) + a linear model, fitted as one scikit-learn pipeline."""

    def _model(self) -> BaseEstimator:
        raise NotImplementedError

    def _fit(self, X, y) -> None:
        """Fit TF-IDF and the linear model."""
        texts = as_texts(X, "X")
        classes, codes = check_labels(y, len(texts))
        vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=self.max_features, ngram_range=self.ngram_range)
        # fit on class indices so that classes_ is np.unique(y) whatever the model does with labels
        self.pipeline_ = Pipeline([("tfidf", vectorizer), ("model", self._model())]).fit(texts, codes)
        self.classes_ = classes

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """Predicted label of each text in ``X`` (sequence of str or bytes).

        Returns
        -------
        ndarray of shape (n_texts,)
        """
        check_is_fitted(self)
        return self.classes_[self.pipeline_.predict(as_texts(X, "X"))]

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        """Linear scores of each text, as scikit-learn's linear models give them.

        Returns
        -------
        ndarray of shape (n_texts,) for two classes (score of ``classes_[1]``), else (n_texts, n_classes)
        """
        check_is_fitted(self)
        return self.pipeline_.decision_function(as_texts(X, "X"))


class TfidfLogReg(_TfidfLinear):
    """TF-IDF (sublinear tf) + logistic regression.

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation strength (TF-IDF rows are L2-normalised, so a weak penalty fits).
    max_features : int or None, default=None
        Vocabulary size limit.
    ngram_range : tuple of int, default=(1, 1)
        Word n-gram range.
    max_iter : int, default=1000
        Solver iterations.
    random_state : int or None, default=None
        Passed to the solver.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted TF-IDF + model pipeline (trained on class indices).
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_features": [*POSITIVE_INT, None],
        "ngram_range": [InstanceOf(tuple, "a tuple (min_n, max_n)")],
        "max_iter": POSITIVE_INT,
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        C: float = 10.0,
        *,
        max_features: int | None = None,
        ngram_range: tuple[int, int] = (1, 1),
        max_iter: int = 1000,
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order.

        Returns
        -------
        ndarray of shape (n_texts, n_classes)
        """
        check_is_fitted(self)
        return self.pipeline_.predict_proba(as_texts(X, "X"))


class TfidfSVM(_TfidfLinear):
    """TF-IDF (sublinear tf) + linear SVM (one-vs-rest ``LinearSVC``).

    ``predict_proba`` is the softmax of the decision scores (for two classes, of ``(-s, s)``):
    it ranks classes as the SVM does and is cheap, but it is not calibrated. Wrap the model in
    ``sklearn.calibration.CalibratedClassifierCV`` when calibrated probabilities matter.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    max_features : int or None, default=None
        Vocabulary size limit.
    ngram_range : tuple of int, default=(1, 1)
        Word n-gram range.
    random_state : int or None, default=None
        Passed to the solver.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted TF-IDF + model pipeline (trained on class indices).
    """

    _parameter_constraints: dict = {
        key: value for key, value in TfidfLogReg._parameter_constraints.items() if key != "max_iter"
    }

    def __init__(
        self,
        C: float = 1.0,
        *,
        max_features: int | None = None,
        ngram_range: tuple[int, int] = (1, 1),
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.random_state = random_state

    def _model(self) -> LinearSVC:
        return LinearSVC(C=self.C, random_state=self.random_state)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Softmax of the decision scores, columns in ``classes_`` order (not calibrated).

        Returns
        -------
        ndarray of shape (n_texts, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:  # two classes: one score, for classes_[1]
            scores = np.column_stack([-scores, scores])
        return softmax(scores, axis=1)
