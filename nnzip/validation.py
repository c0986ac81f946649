"""Every rule about what nnzip accepts, written once: texts, labels, ``n_jobs`` and estimator parameters.

* Texts: :func:`as_bytes` (compression models) and :func:`as_texts` (models that tokenize) give
  the same error for the same mistake in every model.
* Labels: :func:`check_label_values` and :func:`check_labels` (str, int or bool, all of one type).
* Counts: :func:`resolve_n_jobs` (scikit-learn's meaning of ``n_jobs``), :func:`check_n_neighbors`
  and :func:`check_lengths`.
* Parameters: each estimator declares its parameters once, in the class attribute
  ``_parameter_constraints`` (scikit-learn's idea and name), as lists of the constraints below;
  :class:`TextEstimator` checks them at the start of ``fit`` and :func:`check_params` before any
  work. scikit-learn's own ``_param_validation`` is private, so nnzip has these few classes.
  A problem is a :class:`~nnzip.errors.ConfigError` that names the parameter and what it may be.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView, Sequence
from collections.abc import Set as AbstractSet
from numbers import Integral, Real
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .distributed import in_dask_task
from .errors import ConfigError, InputError

# ---- parameter constraints ------------------------------------------------------------------


class Constraint:
    """A set of allowed values of a parameter, with the words that describe it in messages."""

    def is_satisfied_by(self, value: object) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _number(x: float) -> str:
    return f"{x:g}"


class Interval(Constraint):
    """Numbers of one kind between two bounds.

    Parameters
    ----------
    kind : Integral or Real
        ``Integral``: ints and numpy integers (never ``bool``); ``Real``: any finite number
        (never ``bool``).
    left, right : number or None
        Bounds; ``None`` is unbounded.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds belong to the interval (int intervals are always closed).
    """

    def __init__(self, kind: type, left: float | None, right: float | None, *, closed: str = "both") -> None:
        if kind not in (Integral, Real):
            raise TypeError("kind must be numbers.Integral or numbers.Real")
        self.kind, self.left, self.right = kind, left, right
        self.closed = "both" if kind is Integral else closed

    def is_satisfied_by(self, value: object) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        v = float(value)
        if self.kind is Real and not math.isfinite(v):
            return False
        if self.left is not None and (v < self.left or (v == self.left and self.closed in ("right", "neither"))):
            return False
        return not (
            self.right is not None and (v > self.right or (v == self.right and self.closed in ("left", "neither")))
        )

    def describe(self) -> str:
        left, right = self.left, self.right
        if self.kind is Integral:
            if right is not None:
                return f"an int <= {right}" if left is None else f"an int from {left} to {right}"
            if left is None:
                return "an int"
            return {0: "a non-negative int", 1: "a positive int"}.get(int(left), f"an int >= {left}")
        if left is None and right is None:
            return "a number"
        if right is None and left == 0:
            return "a non-negative number" if self.closed in ("both", "left") else "a positive number"
        if left is not None and right is not None:
            lo = "[" if self.closed in ("both", "left") else "("
            hi = "]" if self.closed in ("both", "right") else ")"
            return f"in {lo}{_number(left)}, {_number(right)}{hi}"
        if right is None:
            return f"a number {'>=' if self.closed in ('both', 'left') else '>'} {_number(left)}"  # type: ignore[arg-type]
        return f"a number {'<=' if self.closed in ('both', 'right') else '<'} {_number(right)}"


class Options(Constraint):
    """One of a fixed set of values (names, or values such as ``True``), listed in this order."""

    def __init__(self, options: Iterable[object]) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value: object) -> bool:
        # by type as well as value: 1 is not True, and 1.0 is not "1"
        return any(isinstance(value, type(o)) and value == o for o in self.options)

    def names(self) -> bool:
        """Whether every option is a string (then an unknown string is reported as an unknown name)."""
        return all(isinstance(o, str) for o in self.options)

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.options))


class IsCallable(Constraint):
    """Any callable; ``what`` says what it must compute (``"bytes -> int"``)."""

    def __init__(self, what: str = "") -> None:
        self.what = what

    def is_satisfied_by(self, value: object) -> bool:
        return callable(value)

    def describe(self) -> str:
        return f"a callable {self.what}".rstrip()


class InstanceOf(Constraint):
    """An instance of one of ``types``; ``what`` names them in messages."""

    def __init__(self, types: type | tuple[type, ...], what: str) -> None:
        self.types, self.what = types, what

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.what


class NonEmptyPath(Constraint):
    """A ``str`` or path-like naming a file or folder: never ``""``, which would mean the working directory."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, (str, os.PathLike)) and os.fspath(value) not in ("", b"")

    def describe(self) -> str:
        return "a non-empty path"


class NonZeroInt(Constraint):
    """A non-zero int: a worker count, ``-1`` for all cores (scikit-learn's ``n_jobs``)."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value != 0

    def describe(self) -> str:
        return "a non-zero int"


def grid_values(value: object) -> list:
    """The candidates of a :class:`Grid` parameter: the items of a list, tuple, range or 1-d array, else the value."""
    if isinstance(value, (list, tuple, range)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return list(value)
    return [value]


class Grid(Constraint):
    """A value ``constraints`` allow, or a non-empty list (tuple, range, 1-d array) of such values:
    the candidates of a parameter search."""

    def __init__(self, constraints: list) -> None:
        self.constraints = constraints

    def is_satisfied_by(self, value: object) -> bool:
        if isinstance(value, np.ndarray) and value.ndim != 1:
            return False
        values = grid_values(value)
        return bool(values) and all(satisfies(self.constraints, v) for v in values)

    def describe(self) -> str:
        return f"{_join([_describe(c) for c in self.constraints])}, or a non-empty list of them"


#: Constraint lists shared by many estimators.
N_JOBS: list = [NonZeroInt(), None]
RANDOM_STATE: list = [Interval(Integral, 0, 2**32 - 1), InstanceOf(np.random.RandomState, "a numpy RandomState"), None]
VERBOSE: list = [Interval(Integral, 0, None), InstanceOf((bool, np.bool_), "a bool")]
PATH: list = [NonEmptyPath(), None]
POSITIVE_INT: list = [Interval(Integral, 1, None)]
#: The constraint that checks nothing (scikit-learn's spelling), for values passed on unread.
NO_VALIDATION = "no_validation"


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(constraint: Constraint | None) -> str:
    return "None" if constraint is None else constraint.describe()


def satisfies(allowed: list, value: object) -> bool:
    """Whether one of the constraints ``allowed`` (``None`` for the value None) allows ``value``."""
    return any(value is None if c is None else c.is_satisfied_by(value) for c in allowed)


def validate_params(constraints: Mapping[str, list | str], params: Mapping[str, object]) -> None:
    """Check ``params`` against ``constraints``; raise a :class:`ConfigError` for the first bad one.

    Parameters
    ----------
    constraints : mapping
        Parameter name to a list of allowed kinds of value (:class:`Constraint` instances, or
        ``None`` for the value None), or to ``"no_validation"``. Parameters without an entry
        are not checked.
    params : mapping
        Parameter name to value.

    Raises
    ------
    ConfigError
        ``"unknown tie_break 'coin'; choose one of nearest, ..."`` for a string that is not one
        of the allowed names, else ``"n_neighbors must be a positive int, got 0"``.
    """
    for name, value in params.items():
        allowed = constraints.get(name, NO_VALIDATION)
        if isinstance(allowed, str):  # NO_VALIDATION
            continue
        if satisfies(allowed, value):
            continue
        named = [c for c in allowed if isinstance(c, Options) and c.names()]
        if isinstance(value, str) and named:
            others = [_describe(c) for c in allowed if c not in named]
            choices = ", ".join(str(o) for c in named for o in c.options)
            alternatives = f" or {_join(others)}" if others else ""
            raise ConfigError(f"unknown {name} {value!r}; choose one of {choices}{alternatives}")
        raise ConfigError(f"{name} must be {_join([_describe(c) for c in allowed])}, got {_show(value)}")


class TextEstimator(BaseEstimator):
    """Base of every nnzip estimator: texts in, parameters declared once.

    It declares one-dimensional string input to scikit-learn (``input_tags.string``, not
    ``two_d_array``) and checks ``_parameter_constraints`` in :meth:`_validate_params`, which a
    subclass calls first in ``fit`` (and may extend with rules that tie parameters together).
    """

    _parameter_constraints: dict = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _validate_params(self) -> None:
        validate_params(self._parameter_constraints, self.get_params(deep=False))


class TextClassifier(ClassifierMixin, TextEstimator):
    """Base of every nnzip classifier: ``fit`` checks the parameters first, then calls ``_fit(X, y)``."""

    def _fit(self, X: Any, y: Any) -> None:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> TextClassifier:
        """Fit the model on training texts and their labels; every parameter is checked first.

        Parameters
        ----------
        X : sequence of str or bytes
            Training texts (a distance matrix for ``NCDKNeighborsClassifier(metric="precomputed")``).
        y : array-like of shape (n_samples,)
            Labels: str, int or bool, all of one type.

        Returns
        -------
        self
            The fitted classifier.
        """
        self._validate_params()
        self._fit(X, y)
        return self


def check_params(estimator: BaseEstimator) -> None:
    """The parameter checks ``estimator.fit`` starts with, without fitting: call before long work.

    Raises
    ------
    ConfigError
        For the first parameter that breaks its estimator's constraints.
    """
    estimator._validate_params()


# ---- texts ----------------------------------------------------------------------------------


_ORDERED = "list, tuple, 1-D numpy array or pandas Series"


def _kind(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" or name == "ndarray" else f"a {name}"


def check_ordered(values: object, name: str, what: str = "texts") -> None:
    """``values`` must be one ordered sequence with a length: scikit-learn's rule for ``X`` and ``y``.

    A list, tuple, 1-D numpy array, pandas Series (or anything indexable with a length and
    one dimension) is accepted. Refused, naming what was given: a single string; a ``set``,
    ``dict`` or dict view, whose order is not the order of the labels (texts and labels would
    be paired wrongly); a generator or other iterator (read once, no length); anything of
    more than one dimension (a 2-D array, a DataFrame).

    Raises
    ------
    InputError
        ``"X must be an ordered sequence of texts (list, ...), got a set: ..."``.
    """
    if isinstance(values, (str, bytes)):
        single = type(values).__name__
        raise InputError(f"{name} must be a sequence of {what}, got a single {single}; wrap it in a list")
    shape = getattr(values, "shape", None)
    if getattr(values, "ndim", 1) != 1 or (isinstance(shape, tuple) and len(shape) != 1):
        raise InputError(f"{name} must be one-dimensional (one item per sample), got {_kind(values)} of shape {shape}")
    if isinstance(values, (AbstractSet, Mapping, MappingView)):
        raise InputError(
            f"{name} must be an ordered sequence of {what} ({_ORDERED}), got {_kind(values)}: its order is not the "
            "order of the labels, so texts and labels would be paired wrongly; pass a list in the right order")
    if isinstance(values, Iterator) or not all(hasattr(values, a) for a in ("__len__", "__getitem__", "__iter__")):
        hint = "; pass list(...) of it" if isinstance(values, Iterable) else ""
        raise InputError(f"{name} must be an ordered sequence of {what} ({_ORDERED}), got {_kind(values)}{hint}")


def _encode(t: str, name: str, i: int) -> bytes:
    try:
        return t.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{name}[{i}] is not valid Unicode at character {exc.start}: {_SURROGATE}") from None


_SURROGATE = "a lone surrogate (half of an emoji or other character cut in two), which no file can hold"


def _not_text(name: str, i: int, t: object) -> InputError:
    return InputError(f"{name}[{i}] is {type(t).__name__}, expected str or bytes")


def as_bytes(texts: Sequence[str | bytes], name: str = "texts", *, allow_empty: bool = False) -> list[bytes]:
    """Validate a sequence of texts and encode it as UTF-8 bytes.

    Parameters
    ----------
    texts : sequence of str or bytes
        A list, tuple, numpy array or pandas Series of texts. Empty strings are valid texts.
    name : str
        What the sequence is called in error messages.
    allow_empty : bool
        Whether a sequence with no texts is accepted.

    Raises
    ------
    InputError
        If ``texts`` is a single string or not a sequence, an item is not str/bytes, the
        sequence is empty (unless allowed) or a string cannot be encoded as UTF-8. Every model
        in nnzip (the baselines too) validates texts here or in :func:`as_texts`, so the same
        mistake gives the same error everywhere.
    """
    check_ordered(texts, name)
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            out.append(_encode(t, name, i))
        elif isinstance(t, (bytes, bytearray, memoryview)):
            out.append(bytes(t))
        else:
            raise _not_text(name, i, t)
    if not out and not allow_empty:
        raise InputError(f"{name} is empty: need at least one text")
    return out


def as_texts(texts: Sequence[str | bytes], name: str = "texts") -> list[str]:
    """Validate a sequence of texts for models that tokenize: ``str`` items, bytes decoded as UTF-8.

    Raises the same errors as :func:`as_bytes`.
    """
    check_ordered(texts, name)
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            if not t.isascii():
                _encode(t, name, i)  # the same texts as as_bytes accepts: no lone surrogates
            out.append(t)
        elif isinstance(t, (bytes, bytearray, memoryview)):
            try:
                out.append(bytes(t).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}[{i}] is not valid UTF-8 at byte {exc.start}") from None
        else:
            raise _not_text(name, i, t)
    if not out:
        raise InputError(f"{name} is empty: need at least one text")
    return out


# ---- labels ---------------------------------------------------------------------------------


def label_kind(value: object) -> str | None:
    """``"str"``, ``"int"`` or ``"bool"`` for a valid label, ``None`` for anything else."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    return None


_INT64 = (-(2**63), 2**63 - 1)


def _label_problem(value: object) -> str | None:
    """Why a label of a valid type cannot survive being written and read back, or ``None``."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"is not valid Unicode: it holds {_SURROGATE}"
    elif isinstance(value, (int, np.integer)) and not _INT64[0] <= int(value) <= _INT64[1]:
        return "does not fit in 64 bits (int labels must lie in [-2**63, 2**63 - 1]; give such labels as str)"
    return None


def check_label_values(y: Any, where: Callable[[int], str] = "y[{}]".format) -> list:
    """Check that labels are usable class names and return them as a list.

    The rules: every label is a ``str``, an ``int`` (numpy integers too) or a ``bool``, and
    all labels of one set have the same one of these types. Floats (``NaN`` included),
    ``None``, lists, dicts and bytes are refused, and so is a mix such as ``0`` and ``"0"``,
    which would otherwise be two different classes that print alike. ``True`` counts as a
    bool, not as the int 1. A label must also survive being written to a file and read back:
    a ``str`` holding a lone surrogate (half of an emoji, as a JSON file can spell it) and an
    ``int`` beyond 64 bits are refused, before any work rather than when the predictions
    are written.

    Parameters
    ----------
    y : sequence or ndarray of shape (n_samples,)
        Labels.
    where : callable, default=``"y[{}]".format``
        Names item ``i`` (0-based) in messages, e.g. ``lambda i: f"{path}: row {i + 1}"``.

    Returns
    -------
    list
        The labels.

    Raises
    ------
    InputError
        Naming the first bad item, or the first item whose type differs from the first item's.
    """
    if isinstance(y, np.ndarray):
        if y.ndim == 2 and y.shape[1] == 1:  # a column vector, as scikit-learn accepts
            y = y.ravel()
        if y.ndim != 1:
            raise InputError(f"labels must be one-dimensional, got an array of shape {y.shape}")
        if y.dtype.kind in "ib" or (y.dtype.kind == "u" and (not y.size or y.max() <= _INT64[1])):
            return y.tolist()  # one type, all representable, by construction
    # numpy strings and unsigned ints as the Python values they hold (and show in messages)
    labels = y.tolist() if isinstance(y, np.ndarray) and y.dtype.kind in "uU" else list(y)
    first = None
    for i, value in enumerate(labels):
        kind = label_kind(value)
        if kind is None:
            raise InputError(
                f"{where(i)}: label {_show_label(value)} is a {type(value).__name__}; labels must be str or int "
                "(or bool), all of one type"
            )
        if first is None:
            first = (i, kind, value)
        elif kind != first[1]:
            raise InputError(
                f"{where(i)}: label {value!r} is a {kind} but {where(first[0])} has the {first[1]} label "
                f"{first[2]!r}; all labels must have one type (convert them all to str, or all to int)"
            )
        problem = _label_problem(value)
        if problem:
            raise InputError(f"{where(i)}: label {_show_label(value)} {problem}")
    return labels


def _show_label(value: object) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


def check_labels(y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate classification labels; return ``(classes, codes)`` with ``classes = np.unique(y)``.

    Labels follow the rules of :func:`check_label_values` (str, int or bool, one type), in an
    ordered sequence (:func:`check_ordered`; a numpy column vector is accepted too). Every
    classifier in nnzip checks its labels here, in ``fit`` and before any work.

    Raises
    ------
    InputError
        If ``y`` is missing, not an ordered sequence, its length differs from ``n_samples``,
        or a label breaks the rules.
    """
    if y is None:
        raise InputError("y is required: this classifier needs training labels")
    if not isinstance(y, np.ndarray):
        check_ordered(y, "y", "labels")
    y = np.asarray(y) if not isinstance(y, np.ndarray) and hasattr(y, "to_numpy") else y  # pandas Series
    labels = check_label_values(y)
    if len(labels) != n_samples:
        raise InputError(f"X has {n_samples} training items but y has {len(labels)} labels")
    # a list of one type becomes an array of that type: int64, bool or str (never object)
    arr = np.array(labels) if labels else np.array([], dtype=object)
    return np.unique(arr, return_inverse=True)


# ---- counts ---------------------------------------------------------------------------------


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of workers for ``n_jobs`` with scikit-learn's meaning (None: 1, -1: all cores).

    Inside a task on a Dask worker it is 1: workers run nnzip's serial kernels only (see
    :func:`nnzip.distributed.run_blocks`).
    """
    validate_params({"n_jobs": N_JOBS}, {"n_jobs": n_jobs})
    if in_dask_task():
        return 1
    return max(1, int(joblib.effective_n_jobs(n_jobs)))


def check_n_neighbors(k: object, n_samples_fit: int | None = None, name: str = "n_neighbors") -> int:
    """A neighbour count asked for in a call: a positive int, at most the number of training items.

    Raises
    ------
    InputError
        Naming ``name`` and, when it is too large, the number of training items.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"{name} must be a positive int, got {k!r}")
    if n_samples_fit is not None and k > n_samples_fit:
        raise InputError(f"{name}={k} is larger than the number of training items ({n_samples_fit})")
    return int(k)


def check_lengths(lengths: object, n: int, name: str) -> np.ndarray | None:
    """Compressed lengths given by the caller, as int64 of shape ``(n,)`` (``None`` stays ``None``)."""
    if lengths is None:
        return None
    out = np.asarray(lengths, dtype=np.int64)
    if out.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {out.shape}")
    return out
