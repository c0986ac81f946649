"""The first stage of ``search="rerank"``: propose the training texts gzip will find nearest.

``NCD(x, y) = 1 - saving / max(C(x), C(y))`` with ``saving = C(x) + C(y) - C(x + " " + y)``:
the bytes gzip saves by compressing the two texts together. The first stage estimates that
saving and ranks training texts by ``estimate / max(C(x), C(y))``:

``saving ~ offset + (s / g(y)) * C(y)``

where ``g(y)`` is the number of distinct ``n``-byte grams of ``y``, ``s`` the number of them
that also occur in the query (the share of ``y`` gzip can copy from ``x``), and ``offset``
(default 48 bytes) what any two texts save together: one gzip header and trailer (18 bytes)
and common short strings. Without the offset this is the estimate ``1 - (s / g(y)) *
min(1, C(y) / C(x))``; the offset mostly helps short texts, whose nearest neighbours often
share no gram at all (measured in ``benchmarks/rerank.md``).

Grams are exact (``n <= 8`` bytes packed into an integer, no hashing). The most frequent
grams are kept as bit rows (one bit per text and gram) and counted with popcounts; the rest
in posting lists. For each query the shared counts with every training text are
accumulated in numba (:func:`nnzip._ngrams.top_candidates`), queries in parallel; memory is
``O(n_train)`` per thread, never a dense ``n_test x n_train`` matrix.

Texts shorter than ``n`` bytes have no gram, so the estimate cannot see them; they are always
proposed (tweets, SMS and titles hold many), and so is a training text equal to the query (the
caller names it). The ``n_candidates`` best-scored training texts of each query, and those, are
then ranked by the exact distance (:class:`nnzip.NCDIndex`). :class:`nnzip.NCDIndex` fits the
first stage on its distinct training texts in byte order, so the choice among equal scores
(by training index here) is a choice by content.
"""

from __future__ import annotations

import hashlib
from numbers import Integral, Real

import numpy as np

from . import _ngrams
from ._version import __version__
from .compressors import get_compressor
from .lengths import numba_threads, pack, text_lengths
from .validation import POSITIVE_INT, Interval, TextEstimator

#: Candidates per query when ``n_candidates`` is not given: chosen with the first stage's ``ngram``
#: and ``offset`` on validation splits of the 20news and IMDb training sets (no test item), the
#: smallest M whose predictions agree with the exact search's on at least 99% of the validation
#: items, for every kNN variant of the experiments (``benchmarks/tune_defaults.md``).
DEFAULT_N_CANDIDATES = 1024
# queries scored per kernel call: bounds the per-call memory of the id arrays
_QUERIES_PER_CALL = 256


def _grams(texts: list[bytes], n: int, n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
    data, offsets = pack(texts)
    if n_jobs == 1 or len(texts) < 64:
        return _ngrams.distinct_grams(data, offsets, n)
    with numba_threads(n_jobs):
        return _ngrams.distinct_grams_parallel(data, offsets, n, min(len(texts), 4 * n_jobs))


class CandidateIndex(TextEstimator):
    """Exact byte n-gram index of the training texts: bit rows for frequent grams, posting lists for the rest.

    Parameters
    ----------
    ngram : int, default=6
        Gram length in bytes, 1 to 8 (the default, and ``offset``'s, chosen on validation splits:
        ``benchmarks/tune_defaults.md``).
    n_frequent : int, default=4096
        The most frequent grams (by the number of training texts that have them) are kept
        as one bit per (text, gram) and counted with popcounts; their posting lists would
        be most of the work. Rounded up to a multiple of 64.
    offset : float, default=48.0
        Bytes any two texts are assumed to save by being compressed together.
    n_jobs : int, default=1
        Threads for building the index (:meth:`candidates` takes its own ``n_jobs``).

    Attributes
    ----------
    vocab_ : ndarray of uint64
        Sorted distinct grams of the training texts.
    col_ : ndarray of int32
        Bit column of each gram of ``vocab_`` if frequent, else -1.
    ptr_, docs_ : ndarray of int64, ndarray of int32
        Posting lists of the other grams: ``vocab_[g]`` occurs in training texts
        ``docs_[ptr_[g]:ptr_[g + 1]]``.
    bits_ : ndarray of uint64 of shape (n_train, n_frequent / 64)
        Which frequent grams each training text has.
    n_grams_ : ndarray of float64
        Distinct grams per training text, ``g(y)``.
    lengths_ : ndarray of float64
        Compressed length of each training text, ``C(y)``.
    short_ : ndarray of int64
        The training texts shorter than ``ngram`` bytes, proposed for every query.
    """

    _parameter_constraints: dict = {
        "ngram": [Interval(Integral, 1, 8)],
        "n_frequent": [Interval(Integral, 0, None)],
        "offset": [Interval(Real, None, None)],
        "n_jobs": POSITIVE_INT,
    }

    def __init__(self, ngram: int = 6, *, n_frequent: int = 4096, offset: float = 48.0, n_jobs: int = 1) -> None:
        self.ngram = ngram
        self.n_frequent = n_frequent
        self.offset = offset
        self.n_jobs = n_jobs

    def fit(self, texts: list[bytes], lengths: np.ndarray) -> CandidateIndex:
        """Index the training texts (UTF-8 bytes) and their compressed lengths."""
        self._validate_params()
        n_y = len(texts)
        codes, offsets = _grams(texts, self.ngram, int(self.n_jobs))
        counts = np.diff(offsets)
        doc = np.repeat(np.arange(n_y, dtype=np.int32), counts)
        order = np.argsort(codes)  # by gram; the order within a posting list does not matter
        codes, doc = codes[order], doc[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)
        df = np.diff(np.r_[starts, len(codes)])
        n_words = -(-int(self.n_frequent) // 64)
        # the most frequent grams (ties by gram) get bit columns, if shared by two texts at least
        top = np.argsort(-df, kind="stable")[: 64 * n_words]
        top = top[df[top] > 1]
        col = np.full(len(df), -1, dtype=np.int32)
        col[top] = np.arange(len(top), dtype=np.int32)
        gram_col = np.repeat(col, df)
        frequent_row = gram_col >= 0
        bits = _ngrams.gram_bits(doc, gram_col, n_y, max(n_words, 1))
        sparse_df = np.where(col >= 0, 0, df)
        self.vocab_ = codes[starts]
        self.col_ = col
        self.ptr_ = np.r_[0, np.cumsum(sparse_df)].astype(np.int64)
        self.docs_ = doc[~frequent_row]
        self.bits_ = bits
        self.n_grams_ = counts.astype(np.float64)
        self.lengths_ = np.asarray(lengths, dtype=np.float64)
        self.short_ = np.flatnonzero(counts == 0).astype(np.int64)
        return self

    def width(self, m: int) -> int:
        """Candidates per query for ``m`` chosen by the estimate: with the short texts, at most all."""
        return min(len(self.n_grams_), int(m) + len(self.short_))

    def cache_token(self) -> str:
        """Identifies this first stage's behaviour (parameters and version) in cache keys."""
        # n_frequent changes the speed, not the candidates
        text = f"{__version__} gram-saving-v4-short-and-equal ngram={self.ngram} offset={float(self.offset)!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _ids(self, codes: np.ndarray) -> np.ndarray:
        if not len(self.vocab_):
            return np.full(len(codes), -1, dtype=np.int64)
        pos = np.searchsorted(self.vocab_, codes)
        pos[pos == len(self.vocab_)] = 0
        return np.where(self.vocab_[pos] == codes, pos, -1)

    def candidates(self, xs: list[bytes], m: int, n_jobs: int = 1, x_lengths: np.ndarray | None = None,
                   include: np.ndarray | None = None) -> np.ndarray:
        """For each query: the training texts shorter than ``ngram``, ``include``, and the best-estimated rest.

        Parameters
        ----------
        xs : list of bytes
            Queries.
        m : int
            Candidates per query chosen by the estimate, ``1 <= m <= n_train``.
        n_jobs : int
            Threads.
        x_lengths : ndarray of int64, optional
            ``C(x)`` of each query, when known.
        include : ndarray of int64 of shape (len(xs),), optional
            A training text to propose for each query whatever its estimate (-1: none), e.g.
            one equal to the query; it takes one of the ``m`` places.

        Returns
        -------
        ndarray of int64 of shape (len(xs), width(m))
            Distinct training indices, each row sorted ascending: :data:`short_`, ``include`` and
            the best-estimated others (ties by training index).
        """
        if x_lengths is None:
            x_lengths = text_lengths(get_compressor("gzip"), xs, n_jobs)
        cx = np.asarray(x_lengths, dtype=np.float64)
        yscale = self.lengths_ / np.maximum(self.n_grams_, 1.0)
        forced = np.full(len(xs), -1, dtype=np.int64) if include is None else np.asarray(include, dtype=np.int64)
        m = self.width(m)
        out = np.empty((len(xs), m), dtype=np.int64)
        for lo in range(0, len(xs), _QUERIES_PER_CALL):
            block = xs[lo : lo + _QUERIES_PER_CALL]
            codes, qoff = _grams(block, self.ngram, n_jobs)
            args = (self._ids(codes), qoff, cx[lo : lo + len(block)], self.col_, self.ptr_, self.docs_,
                    self.bits_, self.lengths_, yscale, float(self.offset), self.short_, forced[lo : lo + len(block)], m)
            if n_jobs == 1 or len(block) <= _ngrams.GROUP:
                out[lo : lo + len(block)] = _ngrams.top_candidates(*args)
            else:
                with numba_threads(n_jobs):
                    chunks = min(-(-len(block) // _ngrams.GROUP), 4 * n_jobs)
                    out[lo : lo + len(block)] = _ngrams.top_candidates_parallel(*args, chunks)
        return out
