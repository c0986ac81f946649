"""Numba kernels of the first stage of ``search="rerank"``: byte n-gram containment over an inverted index.

Array in, array out; no scikit-learn, no click. :mod:`nnzip.candidates` builds the index and
calls these kernels.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


@njit(cache=True, nogil=True)
def _distinct_grams(data, offsets, n, slots, lo, hi, out, counts):
    """Distinct ``n``-byte grams of texts ``lo <= i < hi``, sorted, written from ``out[slots[i]]``.

    A gram of ``n <= 8`` bytes is packed big-endian into a ``uint64``, so grams compare
    exactly (no hashing).  ``counts[i]`` gets the number of distinct grams of text ``i``;
    its slot has room for all ``len - n + 1`` of its grams.
    """
    mask = np.uint64(0xFFFFFFFFFFFFFFFF) if n == 8 else (np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)
    for i in range(lo, hi):
        a = offsets[i]
        start = slots[i]
        g = slots[i + 1] - start
        if g <= 0:
            counts[i] = 0
            continue
        code = np.uint64(0)
        for p in range(n - 1):
            code = (code << np.uint64(8)) | np.uint64(data[a + p])
        for p in range(g):
            code = ((code << np.uint64(8)) | np.uint64(data[a + p + n - 1])) & mask
            out[start + p] = code
        out[start : start + g].sort()
        c = 1
        for p in range(1, g):
            if out[start + p] != out[start + c - 1]:
                out[start + c] = out[start + p]
                c += 1
        counts[i] = c


@njit(cache=True, nogil=True)
def _gram_slots(offsets, n):
    n_texts = offsets.shape[0] - 1
    slots = np.zeros(n_texts + 1, dtype=np.int64)
    for i in range(n_texts):
        slots[i + 1] = slots[i] + max(0, offsets[i + 1] - offsets[i] - n + 1)
    return slots


@njit(cache=True, nogil=True)
def _compact_grams(buf, slots, counts):
    n_texts = counts.shape[0]
    out_off = np.zeros(n_texts + 1, dtype=np.int64)
    for i in range(n_texts):
        out_off[i + 1] = out_off[i] + counts[i]
    out = np.empty(out_off[-1], dtype=np.uint64)
    for i in range(n_texts):
        out[out_off[i] : out_off[i + 1]] = buf[slots[i] : slots[i] + counts[i]]
    return out, out_off


@njit(cache=True, nogil=True)
def distinct_grams(data, offsets, n):
    """Distinct ``n``-byte grams (``1 <= n <= 8``) of each text, as sorted ``uint64`` codes.

    Returns ``(codes, gram_offsets)``: the grams of text ``i`` are
    ``codes[gram_offsets[i]:gram_offsets[i + 1]]``.  Texts shorter than ``n`` have none.
    """
    n_texts = offsets.shape[0] - 1
    slots = _gram_slots(offsets, n)
    buf = np.empty(slots[-1], dtype=np.uint64)
    counts = np.empty(n_texts, dtype=np.int64)
    _distinct_grams(data, offsets, n, slots, 0, n_texts, buf, counts)
    return _compact_grams(buf, slots, counts)


@njit(cache=True, nogil=True, parallel=True)
def distinct_grams_parallel(data, offsets, n, n_chunks):
    """Same as :func:`distinct_grams`, texts split into ``n_chunks`` parallel chunks."""
    n_texts = offsets.shape[0] - 1
    slots = _gram_slots(offsets, n)
    buf = np.empty(slots[-1], dtype=np.uint64)
    counts = np.empty(n_texts, dtype=np.int64)
    for c in prange(n_chunks):
        _distinct_grams(data, offsets, n, slots, c * n_texts // n_chunks, (c + 1) * n_texts // n_chunks, buf, counts)
    return _compact_grams(buf, slots, counts)


@njit(cache=True, nogil=True)
def gram_bits(doc, col, n_docs, n_words):
    """Bit rows: bit ``col[e]`` of row ``doc[e]`` set for every entry ``e`` with ``col[e] >= 0``."""
    bits = np.zeros((n_docs, n_words), dtype=np.uint64)
    for e in range(doc.shape[0]):
        c = col[e]
        if c >= 0:
            bits[doc[e], c >> 6] |= np.uint64(1) << np.uint64(c & 63)
    return bits


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a ``uint64`` (LLVM's ``ctpop``: one instruction where the CPU has it)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


GROUP = 8  # queries that share one pass over the training texts' bit rows (cache reuse)


@njit(cache=True, nogil=True)
def _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, forced, include, m, lo, hi, out):
    """Rows ``lo <= q < hi`` of :func:`top_candidates`."""
    n_y, n_words = ybits.shape
    shared = np.zeros((GROUP, n_y), dtype=np.float64)
    qbits = np.zeros((GROUP, n_words), dtype=np.uint64)
    score = np.empty(n_y, dtype=np.float64)
    chosen = np.empty(m, dtype=np.int64)
    for g0 in range(lo, hi, GROUP):
        g1 = min(hi, g0 + GROUP)
        qbits[:] = 0
        for q in range(g0, g1):
            for p in range(qoff[q], qoff[q + 1]):
                g = qids[p]
                if g >= 0 and col[g] >= 0:
                    c = col[g]
                    qbits[q - g0, c >> 6] |= np.uint64(1) << np.uint64(c & 63)
        # shared frequent grams: popcount of the AND of two bit rows
        for d in range(n_y):
            for q in range(g0, g1):
                s = np.uint64(0)
                for w in range(n_words):
                    s += _popcount(qbits[q - g0, w] & ybits[d, w])
                shared[q - g0, d] = s
        for q in range(g0, g1):
            acc = shared[q - g0]
            # shared rare grams: their posting lists
            for p in range(qoff[q], qoff[q + 1]):
                g = qids[p]
                if g >= 0 and col[g] < 0:
                    for e in range(ptr[g], ptr[g + 1]):
                        acc[docs[e]] += 1.0
            for d in range(n_y):
                den = max(ynorm[d], qnorm[q])
                score[d] = (offset + acc[d] * yscale[d]) / den if den > 0 else 0.0
            for d in forced:
                score[d] = np.inf
            if include[q] >= 0:
                score[include[q]] = np.inf
            # the m best scores; ties at the threshold by training index
            threshold = -np.partition(-score, m - 1)[m - 1]
            c = 0
            for d in range(n_y):
                if score[d] > threshold:
                    chosen[c] = d
                    c += 1
            for d in range(n_y):
                if c == m:
                    break
                if score[d] == threshold:
                    chosen[c] = d
                    c += 1
            out[q, :] = np.sort(chosen)


@njit(cache=True, nogil=True)
def top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, forced, include, m):
    """The ``m`` training texts with the highest estimated similarity to each query, sorted by index.

    Query ``q`` holds the gram ids ``qids[qoff[q]:qoff[q + 1]]`` (``-1``: in no training
    text).  A gram ``g`` with ``col[g] >= 0`` is frequent: bit ``col[g]`` of the row
    ``ybits[d]`` says whether text ``d`` has it.  Otherwise it occurs in the training
    texts ``docs[ptr[g]:ptr[g + 1]]``.  With ``s`` the number of grams query and text
    share, text ``d`` scores ``(offset + s * yscale[d]) / max(ynorm[d], qnorm[q])`` (0
    when the denominator is 0); the texts ``forced`` and ``include[q]`` (when not -1) score
    infinitely high. The ``m`` best per query are returned (``m`` at least the number of
    texts scoring infinitely high), ties by training index.
    """
    n_q = qoff.shape[0] - 1
    out = np.empty((n_q, m), dtype=np.int64)
    _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, forced, include, m, 0, n_q, out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def top_candidates_parallel(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, forced, include, m,
                            n_chunks):
    """Same as :func:`top_candidates`, queries split into ``n_chunks`` parallel chunks."""
    n_q = qoff.shape[0] - 1
    out = np.empty((n_q, m), dtype=np.int64)
    for c in prange(n_chunks):
        lo, hi = c * n_q // n_chunks, (c + 1) * n_q // n_chunks
        _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, forced, include, m, lo, hi,
                        out)
    return out
