"""Class-dictionary compression classifier: which class's zstd dictionary compresses a text smallest.

The method of ftcc (one zstd dictionary per class; a text belongs to the class whose dictionary
compresses it best). It compresses each query once per dictionary instead of once per training
text, so it runs in seconds where exact gzip-kNN takes minutes to hours.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import zstandard
from joblib import Parallel, delayed
from scipy.special import softmax
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .errors import InputError
from .validation import (
    N_JOBS,
    POSITIVE_INT,
    VERBOSE,
    Interval,
    Options,
    TextClassifier,
    as_bytes,
    check_labels,
    resolve_n_jobs,
)

DICT_TYPES = ("raw", "trained")
# zstd's own default size of a trained dictionary (zstd --train, --maxdict)
TRAINED_DICT_SIZE = 112_640
# training texts of one dictionary are joined with this byte, as gzip-kNN joins a pair
_SEPARATOR = b" "
# queries per parallel task (one dictionary each): a new zstd context costs about as much as a few
# hundred compressions (it sizes and clears its tables for the dictionary), so tasks are long
_CHUNK = 2048


def _compressor(zdict):
    # frames without checksum, content size or dictionary id: those bytes are the same for every
    # class (or, for a trained dictionary's id, vary with the id) and only blur the comparison
    return zstandard.ZstdCompressor(
        dict_data=zdict, write_checksum=False, write_content_size=False, write_dict_id=False
    )


class _PreparedDict:
    """One dictionary with its compression tables precomputed once, on first use.

    Pickles as its bytes (zstd objects do not pickle), so that joblib can ship it to another
    process or a Dask worker, where it is prepared again on first use.
    """

    def __init__(self, data: bytes, raw: bool, level: int) -> None:
        self.data, self.raw, self.level = data, raw, level
        self._zdict: zstandard.ZstdCompressionDict | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zdict": None}

    def zdict(self):
        if self._zdict is None:
            kind = zstandard.DICT_TYPE_RAWCONTENT if self.raw else zstandard.DICT_TYPE_FULLDICT
            zdict = zstandard.ZstdCompressionDict(self.data, dict_type=kind)
            zdict.precompute_compress(level=self.level)
            self._zdict = zdict
        return self._zdict


def _column_lengths(texts: list[bytes], prepared: _PreparedDict) -> list[int]:
    """Compressed length of each text with one dictionary, through one compressor."""
    compress = _compressor(prepared.zdict()).compress
    return [len(compress(t)) for t in texts]


class ZstdDictionaryClassifier(TextClassifier):
    """Compression classifier with one or more zstd dictionaries per class (ftcc's method).

    ``fit`` splits each class's training texts round-robin into ``dicts_per_class`` groups
    (the class's 1st, ``dicts_per_class + 1``-th, ... text go to the first group) and builds a
    zstd dictionary from each group. A query's length for class ``c`` is

    ``L_c(x) = mean over the dictionaries d of class c of len(zstd(x, dictionary=d))``

    in bytes (zstd frames written without checksum, content size and dictionary id). The
    predicted class is the one with the smallest ``L_c(x)``; ties go to the first class in
    ``classes_`` order. (The mean ranks classes exactly as the sum does, and keeps the scale of
    ``temperature`` independent of ``dicts_per_class``.)

    Parameters
    ----------
    level : int, default=9
        zstd compression level, 1 to 22.
    dicts_per_class : int, default=3
        Dictionaries per class. Every class needs at least this many training texts.
    dict_size : int or None, default=None
        Bytes per dictionary. With ``dict_type="raw"`` the group's joined texts are cut to their
        last ``dict_size`` bytes (zstd matches the end of a dictionary most cheaply); ``None``
        keeps them whole. With ``dict_type="trained"`` the size of the trained dictionary;
        ``None`` means zstd's default of 112,640 bytes.
    dict_type : {"raw", "trained"}, default="raw"
        ``"raw"``: the group's texts joined by a space, used as raw-content dictionary
        (``zstandard.DICT_TYPE_RAWCONTENT``). ``"trained"``: a dictionary trained on the
        group's texts with ``zstandard.train_dictionary`` (COVER). Raw content is the more
        accurate on R8 (``benchmarks/zstd_dict.md``).
    temperature : float, default=8.0
        Scale, in bytes, of the softmax in :meth:`predict_proba`. The default had the lowest
        log loss of 0.25 to 8 on a held-out third of R8's training set (``benchmarks/zstd_dict.md``).
    n_jobs : int, default=None
        Threads compressing queries (zstd releases the GIL); -1 means all cores.
    verbose : int, default=0
        Show a progress bar on terminals when non-zero.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    dictionaries_ : list of bytes
        The dictionaries, ``dicts_per_class`` per class in ``classes_`` order: raw content, or
        zstd's dictionary format for ``"trained"``. Compressors are rebuilt from these bytes
        after unpickling.
    dictionary_class_ : ndarray of int64 of shape (n_classes * dicts_per_class,)
        Index into ``classes_`` of each dictionary's class.
    n_samples_fit_ : int
        Number of training texts.

    Notes
    -----
    Each dictionary is prepared once (``precompute_compress``) and every compressor of one
    dictionary shares it. A raw dictionary longer than zstd's window at ``level`` (4 MiB at
    level 9) is matched only through its last window's worth of bytes; more dictionaries per
    class keep every text within reach.

    Examples
    --------
    >>> from nnzip import ZstdDictionaryClassifier
    >>> clf = ZstdDictionaryClassifier(dicts_per_class=1).fit(
    ...     ["the cat sat on the mat", "stocks fell sharply today"], ["pets", "finance"])
    >>> clf.predict(["the cat sat on a mat"]).tolist()
    ['pets']
    """

    _parameter_constraints: dict = {
        "level": [Interval(Integral, 1, zstandard.MAX_COMPRESSION_LEVEL)],
        "dicts_per_class": POSITIVE_INT,
        "dict_size": [*POSITIVE_INT, None],
        "dict_type": [Options(DICT_TYPES)],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": N_JOBS,
        "verbose": VERBOSE,
    }

    def __init__(
        self,
        level: int = 9,
        *,
        dicts_per_class: int = 3,
        dict_size: int | None = None,
        dict_type: str = "raw",
        temperature: float = 8.0,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.level = level
        self.dicts_per_class = dicts_per_class
        self.dict_size = dict_size
        self.dict_type = dict_type
        self.temperature = temperature
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y) -> None:
        """Build the class dictionaries."""
        texts = as_bytes(X, "X")
        classes, codes = check_labels(y, len(texts))
        per = int(self.dicts_per_class)
        counts = np.bincount(codes, minlength=len(classes))
        short = [(c, n) for c, n in zip(classes.tolist(), counts.tolist()) if n < per]
        if short:
            listed = ", ".join(f"{c!r} ({n})" for c, n in short)
            raise InputError(
                f"dicts_per_class={per} needs at least {per} training texts per class; too few in {listed}")
        dictionaries = []
        for code, label in enumerate(classes.tolist()):
            members = np.flatnonzero(codes == code)
            for g in range(per):
                dictionaries.append(self._build([texts[i] for i in members[g::per]], label))
        self.classes_ = classes
        self.dictionaries_ = dictionaries
        self.dictionary_class_ = np.repeat(np.arange(len(classes), dtype=np.int64), per)
        self.n_samples_fit_ = len(texts)
        self._zdicts: list[_PreparedDict] | None = None

    def _build(self, group: list[bytes], label) -> bytes:
        """One dictionary's bytes from a group of training texts."""
        if self.dict_type == "raw":
            content = _SEPARATOR.join(group)
            return content if self.dict_size is None else content[-int(self.dict_size):]
        size = TRAINED_DICT_SIZE if self.dict_size is None else int(self.dict_size)
        try:
            samples: list[bytes | bytearray | memoryview] = list(group)
            return zstandard.train_dictionary(size, samples, level=int(self.level)).as_bytes()
        except zstandard.ZstdError as exc:
            raise InputError(
                f"zstd could not train a {size}-byte dictionary on {len(group)} texts of class {label!r} ({exc}); "
                "use dict_type='raw', fewer dicts_per_class or a smaller dict_size"
            ) from None

    def _prepared(self) -> list[_PreparedDict]:
        """The dictionaries with precomputed compression tables, built once (before any thread starts)."""
        zdicts = getattr(self, "_zdicts", None)
        if zdicts is None:
            zdicts = [_PreparedDict(data, self.dict_type == "raw", int(self.level)) for data in self.dictionaries_]
            for zdict in zdicts:
                zdict.zdict()
            self._zdicts = zdicts
        return zdicts

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_zdicts", None)  # zstd objects do not pickle; rebuilt from dictionaries_ on use
        return state

    def compressed_lengths(self, X) -> np.ndarray:
        """Compressed length of each query in ``X`` (sequence of str or bytes) with each dictionary.

        Returns
        -------
        ndarray of int64 of shape (n_queries, n_classes * dicts_per_class)
            Columns in ``dictionaries_`` order (see ``dictionary_class_``).
        """
        check_is_fitted(self)
        texts = as_bytes(X, "X")
        zdicts = self._prepared()
        tasks = [(j, lo) for j in range(len(zdicts)) for lo in range(0, len(texts), _CHUNK)]
        # zstd compresses with the GIL released: threads use every core and share the prepared dictionaries
        parallel = Parallel(n_jobs=resolve_n_jobs(self.n_jobs), prefer="threads", return_as="generator")
        results = parallel(delayed(_column_lengths)(texts[lo : lo + _CHUNK], zdicts[j]) for j, lo in tasks)
        out = np.empty((len(texts), len(zdicts)), dtype=np.int64)
        with tqdm(total=len(texts) * len(zdicts), unit="text", unit_scale=True, desc="zstd dictionaries",
                  disable=None if self.verbose else True) as bar:
            for (j, lo), column in zip(tasks, results):
                out[lo : lo + len(column), j] = column
                bar.update(len(column))
        return out

    def class_lengths(self, X) -> np.ndarray:
        """``L_c(x)``: mean compressed length of each query over each class's dictionaries.

        Returns
        -------
        ndarray of float64 of shape (n_queries, n_classes)
        """
        check_is_fitted(self)
        lengths = self.compressed_lengths(X)
        per = len(self.dictionaries_) // len(self.classes_)
        return lengths.reshape(len(lengths), len(self.classes_), per).mean(axis=2)

    def predict(self, X) -> np.ndarray:
        """The class whose dictionaries compress each query in ``X`` smallest (ties: first in ``classes_``).

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        check_is_fitted(self)
        return self.classes_[self.class_lengths(X).argmin(axis=1)]

    def decision_function(self, X) -> np.ndarray:
        """Negative class lengths ``-L_c(x)`` in bytes: the larger, the likelier.

        Returns
        -------
        ndarray of shape (n_queries, n_classes), or (n_queries,) with two classes
            With two classes, as in scikit-learn, one score for ``classes_[1]``:
            ``L_0(x) - L_1(x)``, positive when the second class compresses the query smaller.
        """
        check_is_fitted(self)
        scores = -self.class_lengths(X)
        if len(self.classes_) == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of negative length differences.

        ``p_c(x) = softmax_c(-(L_c(x) - min_c' L_c'(x)) / temperature)``: each byte a class's
        dictionaries need beyond the best class's divides its odds by ``e ** (1 / temperature)``.
        These are scores for ranking and thresholds, not calibrated probabilities.

        Returns
        -------
        ndarray of shape (n_queries, n_classes)
            Columns in ``classes_`` order; rows sum to 1.
        """
        check_is_fitted(self)
        L = self.class_lengths(X)
        return softmax(-(L - L.min(axis=1, keepdims=True)) / float(self.temperature), axis=1)
