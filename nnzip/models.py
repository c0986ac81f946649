"""Every model by name, so the CLI and the experiments treat gzip-kNN and the baselines alike.

Classes are imported when first asked for: naming a model costs nothing, and the optional
extras (torch, transformers) are needed only to fit the models that use them.

The kNN models (``gzip-knn``, ``count-cosine-knn``, ``jaccard-knn``, ``embedding-knn``) all
take ``n_neighbors``, ``tie_break``, ``weights``, ``n_jobs`` and ``random_state``;
``zstd-dict`` (one zstd dictionary per class) takes ``n_jobs`` and ``verbose`` of the common ones.
"""

from __future__ import annotations

import importlib
import inspect

from sklearn.base import BaseEstimator

from .errors import ConfigError

# name -> (module, class); baselines ship as the nnzip.baselines package
_REGISTRY = {
    "gzip-knn": ("nnzip.classifier", "NCDKNeighborsClassifier"),
    "count-cosine-knn": ("nnzip.baselines.bow", "CountCosineKNN"),
    "jaccard-knn": ("nnzip.baselines.bow", "JaccardKNN"),
    "tfidf-logreg": ("nnzip.baselines.bow", "TfidfLogReg"),
    "tfidf-svm": ("nnzip.baselines.bow", "TfidfSVM"),
    "embedding-knn": ("nnzip.baselines.embedding", "EmbeddingKNN"),
    "transformer": ("nnzip.baselines.transformer", "TransformerClassifier"),
    "zstd-dict": ("nnzip.dictionary", "ZstdDictionaryClassifier"),
}
MODELS = tuple(_REGISTRY)
#: Models that choose k themselves when given ``n_neighbors="auto"``: name -> (module, class) of their
#: ``...CV`` estimator, which scores its default candidates by leave-one-out on the training set.
AUTO_K = {"gzip-knn": ("nnzip.classifier", "NCDKNeighborsClassifierCV")}


def model_class(name: str, *, auto_k: bool = False) -> type[BaseEstimator]:
    """The estimator class behind a model name (with ``auto_k``: the one that chooses k, :data:`AUTO_K`).

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the valid ones), or ``auto_k`` for a model without it.
    """
    try:
        module, cls = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    if auto_k:
        if name not in AUTO_K:
            raise ConfigError(f"k='auto' (chosen by leave-one-out) is for {', '.join(AUTO_K)}; give model {name!r} "
                              "a number")
        module, cls = AUTO_K[name]
    return getattr(importlib.import_module(module), cls)


def model_params(name: str, *, auto_k: bool = False) -> tuple[str, ...]:
    """Names of the constructor parameters of a model, in signature order."""
    return tuple(inspect.signature(model_class(name, auto_k=auto_k).__init__).parameters)[1:]


def make_model(name: str, *, strict: bool = True, **params) -> BaseEstimator:
    """Build a model by name.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.
    strict : bool, default=True
        Reject parameters the model does not take (see :func:`model_params`). With ``False``
        they are dropped silently, so that one set of options (``n_neighbors``, ``compressor``,
        ``n_jobs``, ``cache_dir``, ...) can be passed to every model.
    **params
        Constructor parameters. ``n_neighbors="auto"`` builds the model's estimator that
        chooses k by leave-one-out (:data:`AUTO_K`) with its default candidates.

    Returns
    -------
    estimator
        An unfitted scikit-learn estimator.

    Raises
    ------
    ConfigError
        For an unknown name, or with ``strict=True`` a parameter the model does not take.
    """
    auto_k = isinstance(params.get("n_neighbors"), str) and params["n_neighbors"] == "auto"
    if auto_k:
        params = {k: v for k, v in params.items() if k != "n_neighbors"}
    accepted = model_params(name, auto_k=auto_k)
    unknown = sorted(set(params) - set(accepted))
    if unknown and strict:
        raise ConfigError(f"model {name!r} takes no parameter {', '.join(unknown)}; it takes {', '.join(accepted)}")
    return model_class(name, auto_k=auto_k)(**{k: v for k, v in params.items() if k in accepted})


def name_of(estimator: BaseEstimator) -> str | None:
    """The model name of an estimator's class (``"gzip-knn"``, ...), ``None`` for a class not in the registry."""
    cls = type(estimator)
    for name, (module, cls_name) in _REGISTRY.items():
        if cls.__module__ == module and cls.__name__ == cls_name:
            return name
    return None
