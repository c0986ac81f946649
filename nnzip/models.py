"""Every model by name, so the CLI and the experiments treat gzip-kNN and the baselines alike."""

from __future__ import annotations

import inspect

from sklearn.base import BaseEstimator

from .errors import ConfigError

MODELS = (
    "gzip-knn",
    "count-cosine-knn",
    "jaccard-knn",
    "tfidf-logreg",
    "tfidf-svm",
    "embedding-knn",
    "transformer",
)


def model_class(name: str) -> type[BaseEstimator]:
    """The estimator class behind a model name (imports optional dependencies lazily)."""
    if name == "gzip-knn":
        from .classifier import NCDKNeighborsClassifier

        return NCDKNeighborsClassifier
    if name in ("count-cosine-knn", "jaccard-knn", "tfidf-logreg", "tfidf-svm"):
        from .baselines import bow

        return {
            "count-cosine-knn": bow.CountCosineKNN,
            "jaccard-knn": bow.JaccardKNN,
            "tfidf-logreg": bow.TfidfLogReg,
            "tfidf-svm": bow.TfidfSVM,
        }[name]
    if name == "embedding-knn":
        from .baselines.embedding import EmbeddingKNN

        return EmbeddingKNN
    if name == "transformer":
        from .baselines.transformer import TransformerClassifier

        return TransformerClassifier
    raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def model_params(name: str) -> tuple[str, ...]:
    """Names of the constructor parameters of a model."""
    return tuple(inspect.signature(model_class(name).__init__).parameters)[1:]


def make_model(name: str, *, strict: bool = True, **params) -> BaseEstimator:
    """Build a model by name.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.
    strict : bool, default=True
        Reject parameters the model does not take; with ``False`` they are dropped, so that one
        set of options (``n_neighbors``, ``tie_break``, ``n_jobs``, ...) can be passed to every model.
    **params
        Constructor parameters.
    """
    accepted = model_params(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown and strict:
        raise ConfigError(f"model {name!r} takes no parameter {', '.join(unknown)}; it takes {', '.join(accepted)}")
    return model_class(name)(**{k: v for k, v in params.items() if k in accepted})
