"""The rules of nnzip.validation: labels, texts, counts and the parameter constraints."""

from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pytest

from nnzip.errors import ConfigError, InputError
from nnzip.validation import (
    N_JOBS,
    PATH,
    InstanceOf,
    Interval,
    IsCallable,
    Options,
    as_bytes,
    as_texts,
    check_labels,
    check_n_neighbors,
    resolve_n_jobs,
    validate_params,
)

# ---- labels ------------------------------------------------------------------------------------

BAD_LABELS = [
    ([0, "0"], r"y\[1\]: label '0' is a str but y\[0\] has the int label 0"),
    ([7, "x"], r"y\[1\]: label 'x' is a str"),
    ([1.0, 2.0], r"y\[0\]: label 1.0 is a float"),
    (["a", float("nan")], r"y\[1\]: label nan is a float"),
    (["a", None], r"y\[1\]: label None is a NoneType"),
    ([["a"], ["b"]], r"y\[0\]: label \['a'\] is a list"),
    ([{"a": 1}, {"b": 2}], r"y\[0\]: label \{'a': 1\} is a dict"),
    ([1, True], r"y\[1\]: label True is a bool but y\[0\] has the int label 1"),
    (np.array([0.5, 1.5]), r"y\[0\]: label .*0.5.* is a float64"),
    # labels that would not survive being written and read back
    (["ok", "a\ud83d"], r"y\[1\]: label 'a\\ud83d' is not valid Unicode: it holds a lone surrogate"),
    (np.array(["ok", "\udc00"]), r"y\[1\]: label '\\udc00' is not valid Unicode"),
    ([1, 2**64], r"y\[1\]: label 18446744073709551616 does not fit in 64 bits"),
    ([-(2**63) - 1, 0], r"y\[0\]: label -9223372036854775809 does not fit in 64 bits"),
    (np.array([2**63, 1], dtype=np.uint64), r"y\[0\]: label 9223372036854775808 does not fit in 64 bits"),
    ({"a", "b"}, r"y must be an ordered sequence of labels .* got a set"),
    ((x for x in "ab"), r"y must be an ordered sequence of labels .* got a generator"),
]


@pytest.mark.parametrize("y, match", BAD_LABELS)
def test_label_rules(y, match):
    with pytest.raises(InputError, match=match):
        check_labels(y, 2)


@pytest.mark.parametrize("y", [[0, 1], np.array([3, 4], dtype=np.int32), ["a", "b"], [True, False],
                               np.array(["x", "y"]), [np.int64(5), 6], [2**63 - 1, -(2**63)], ["😀", "é"],
                               np.array([2**63 - 1, 0], dtype=np.uint64), (0, 1)])
def test_good_labels_keep_their_type(y):
    classes, codes = check_labels(y, 2)
    assert classes.dtype != object and codes.tolist() in ([0, 1], [1, 0])
    assert type(classes.tolist()[0]) is type(np.asarray(y).tolist()[0])


# ---- texts and counts --------------------------------------------------------------------------


def test_texts_are_checked_alike_for_bytes_and_str_models():
    assert as_bytes(["é", b"x"]) == ["é".encode(), b"x"] and as_texts(["é", "é".encode()]) == ["é", "é"]
    for check in (as_bytes, as_texts):
        with pytest.raises(InputError, match=r"X\[1\] is float, expected str or bytes"):
            check(["a", 1.5], "X")
        with pytest.raises(InputError, match="one-dimensional"):
            check(np.array([["a", "b"]]), "X")
    assert as_bytes([], allow_empty=True) == []
    with pytest.raises(InputError, match=r"X\[0\] is not valid UTF-8 at byte 0"):
        as_texts([b"\xff"], "X")
    for check in (as_bytes, as_texts):  # a lone surrogate is refused alike, by models that tokenize too
        with pytest.raises(InputError, match=r"^X\[1\] is not valid Unicode at character 2: a lone surrogate"):
            check(["ok", "ab\ud83d"], "X")


def test_counts():
    assert resolve_n_jobs(None) == 1 and resolve_n_jobs(-1) >= 1 and resolve_n_jobs(np.int64(2)) == 2
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="n_jobs must be a non-zero int or None"):
            resolve_n_jobs(bad)
    assert check_n_neighbors(np.int32(3), 3) == 3
    with pytest.raises(InputError, match="k=4 is larger than the number of training items \\(3\\)"):
        check_n_neighbors(4, 3, "k")


# ---- parameter constraints ---------------------------------------------------------------------


@pytest.mark.parametrize("constraint, good, bad, words", [
    (Interval(Integral, 1, None), [1, np.int64(7)], [0, 1.0, True, "1"], "a positive int"),
    (Interval(Integral, 0, None), [0, 5], [-1, np.float64(2)], "a non-negative int"),
    (Interval(Integral, 1, 22), [1, 22], [0, 23], "an int from 1 to 22"),
    (Interval(Real, 0, None, closed="neither"), [1e-9, 3, np.float32(2)], [0, -1, float("nan"), float("inf"), False],
     "a positive number"),
    (Interval(Real, 0, 1, closed="left"), [0, 0.5], [1, 1.0, -0.1], "in [0, 1)"),
    (Interval(Real, 0, 1), [0, 1], [1.5], "in [0, 1]"),
    (Options(("auto", True, False)), ["auto", True, False], [1, 0, "yes", None], "one of 'auto', True, False"),
    (IsCallable("bytes -> int"), [len, lambda b: 0], ["len", None], "a callable bytes -> int"),
    (InstanceOf(str, "a name"), ["x"], [b"x", 1], "a name"),
    (N_JOBS[0], [1, -1, np.int64(4)], [0, True, 1.0], "a non-zero int"),
    (PATH[0], ["c", Path("c"), "."], ["", b"c", None, 3], "a non-empty path"),
])
def test_constraints(constraint, good, bad, words):
    assert all(constraint.is_satisfied_by(v) for v in good)
    assert not any(constraint.is_satisfied_by(v) for v in bad)
    assert constraint.describe() == words


def test_messages_name_the_parameter_and_what_it_may_be():
    constraints = {"mode": [Options(("fast", "exact")), IsCallable()], "k": [Interval(Integral, 1, None), None]}
    validate_params(constraints, {"mode": "fast", "k": None, "other": object()})  # unconstrained: not checked
    with pytest.raises(ConfigError, match=r"^unknown mode 'slow'; choose one of fast, exact or a callable$"):
        validate_params(constraints, {"mode": "slow"})
    with pytest.raises(ConfigError, match=r"^mode must be one of 'fast', 'exact' or a callable, got 3$"):
        validate_params(constraints, {"mode": 3})
    with pytest.raises(ConfigError, match=r"^k must be a positive int or None, got 0$"):
        validate_params(constraints, {"k": 0})
