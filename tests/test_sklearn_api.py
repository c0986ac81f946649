"""Every nnzip estimator against scikit-learn's conventions: tags, data-free checks, parameters declared once."""

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks

import nnzip
from nnzip import NCDIndex, NCDKNeighborsClassifier, NCDKNeighborsClassifierCV, ZstdDictionaryClassifier
from nnzip.baselines import CountCosineKNN, EmbeddingKNN, JaccardKNN, TfidfLogReg, TfidfSVM, TransformerClassifier
from nnzip.candidates import CandidateIndex
from nnzip.validation import NO_VALIDATION, check_params

CLASSIFIERS = [NCDKNeighborsClassifier, NCDKNeighborsClassifierCV, ZstdDictionaryClassifier, CountCosineKNN, JaccardKNN,
               TfidfLogReg, TfidfSVM, EmbeddingKNN, TransformerClassifier]
ESTIMATORS = [*CLASSIFIERS, NCDIndex, CandidateIndex]
TEXTS = ["the cat sat on the mat", "stocks fell sharply today", "a kitten and a puppy", "bond yields rose again"]
LABELS = ["pets", "money", "pets", "money"]


@pytest.mark.parametrize("estimator", CLASSIFIERS)
def test_string_input_is_declared_through_tags(estimator):
    tags = estimator().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.estimator_type == "classifier"


# scikit-learn's checks that need no numeric data; parametrize_with_checks would skip nearly all
# of the rest for a string-input estimator.
DATA_FREE_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
]


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
def test_sklearn_data_free_checks(check, estimator):
    getattr(estimator_checks, check)(estimator.__name__, estimator())


# checks with numeric data run against the precomputed-distance form of the estimator
PRECOMPUTED_CHECKS = ["check_estimators_unfitted", "check_fit_check_is_fitted", "check_classifiers_classes"]


@pytest.mark.parametrize("estimator", [NCDKNeighborsClassifier, NCDKNeighborsClassifierCV])
@pytest.mark.parametrize("check", PRECOMPUTED_CHECKS)
def test_sklearn_checks_precomputed(check, estimator):
    est = estimator(n_neighbors=1, metric="precomputed")
    getattr(estimator_checks, check)(estimator.__name__, est)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_parameters_are_declared_once_keyword_only_after_the_first(estimator):
    params = list(inspect.signature(estimator.__init__).parameters.values())[1:]
    assert set(estimator._parameter_constraints) == {p.name for p in params}
    first_positional = 0 if estimator is NCDIndex else 1
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:first_positional])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[first_positional:])


def _fit(est):
    if isinstance(est, CandidateIndex):
        return est.fit([t.encode() for t in TEXTS], np.full(len(TEXTS), 30))
    if isinstance(est, NCDIndex):
        return est.fit(TEXTS)
    return est.fit(TEXTS, LABELS)


class BadType:
    """A value no parameter takes."""


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_parameter_is_checked_before_any_work(estimator, monkeypatch):
    from nnzip import lengths

    monkeypatch.setattr(lengths, "text_lengths", lambda *a: pytest.fail("compressed before the checks"))
    for name, allowed in estimator._parameter_constraints.items():
        if allowed == NO_VALIDATION:
            continue
        est = estimator().set_params(**{name: BadType()})
        with pytest.raises(nnzip.ConfigError, match=rf"^{name} must be .*, got <"):
            check_params(est)
        with pytest.raises(nnzip.ConfigError, match=rf"^{name} must be"):
            _fit(clone(est))


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if "random_state" in e._parameter_constraints])
def test_a_negative_seed_is_refused(estimator):
    with pytest.raises(nnzip.ConfigError, match="random_state must be an int from 0 to 4294967295"):
        check_params(estimator(random_state=-1))
