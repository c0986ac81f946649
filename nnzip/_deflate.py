"""Numba kernel: the exact length of zlib's level-9 deflate, alone and for pairs ``x + b" " + y``.

Array in, array out; no scikit-learn, no click.  The deflate kernel emulates zlib's
``deflate_slow`` (lazy matching, hash chains, block flushes every 16,383 symbols) and the
block-type choice of ``_tr_flush_block`` (stored / fixed / dynamic Huffman, with zlib's own
heap-based tree construction and length limiting), counting bits instead of emitting them.
The result equals ``len(gzip.compress(data, 9))`` for every input of at most
``MAX_INPUT`` bytes, where zlib never slides its window; longer inputs get ``-1`` and the
caller computes them with zlib.

Speed comes from these places:

* no output bits, no CRC, no hash tables written during the parse: zlib inserts every
  position up to ``n - 3`` into its hash chains whatever the parse does, so each position's
  chain (the earlier positions with the same hash) is fixed before the parse starts;
* for a pair ``x + b" " + y`` the parse of ``x`` does not depend on ``y`` until a match
  comparison or a hash first reads a byte of ``y``; that prefix is parsed once per test text,
  checkpointed, and every pair resumes from the checkpoint;
* what depends on a training text alone is computed once per text (:func:`y_tables`): its
  own hash chains, and for each position the longest match among the text's own earlier
  positions, so a pair's parse searches only the candidates in ``x`` for ``y``'s positions;
* gram sets of ``x + b" "`` (which 3- to 8-byte strings occur in it) end a search in ``x``
  as soon as no candidate left can beat the best match found (:func:`_x_stop`);
* work items (a row of test text, or a range of its columns, so that even one query keeps
  every thread busy) go to ``prange`` workers (threads, no pickling) that take the next item
  from a shared atomic counter, so no thread idles while another holds a backlog;
* zlib's ``longest_match`` tricks: the bytes at the current best length's end are compared
  first, then 8 bytes at a time (an unaligned load and a trailing-zero count).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

GZIP_OVERHEAD = 18  # 10-byte gzip header + CRC32 + ISIZE
MAX_INPUT = 65273  # zlib slides its window once strstart reaches 32768 + 32506
SEP = 32  # b" ": the byte between test and train text

_WMASK = 32767
_MAX_MATCH = 258
_MAX_DIST = 32506  # w_size - MIN_LOOKAHEAD
_TOO_FAR = 4096
_MAX_CHAIN = 4096
_GOOD_LENGTH = 32
_SYM_LIMIT = 16383  # lit_bufsize - 1 symbols per block
_PAD = 300  # zero bytes after the data: zlib zeroes what its match loop may read there
_HEAP_SIZE = 573  # 2 * L_CODES + 1
_L_CODES = 286
_D_CODES = 30
_BL_CODES = 19
_END_BLOCK = 256
_WMASK_POS = 0xFFFF  # low half of a hash-head entry: the position (inputs stay below 65,536 bytes)
_GEN_SHIFT = 16
_MAX_GEN = 32766  # generations fit the high half of an int32 entry; then the table is cleared
_HEAP_TOP = np.int64(1) << 62  # sorts after every real heap node

_EXTRA_LBITS = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0],
    dtype=np.int64,
)
_EXTRA_DBITS = np.array(
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13],
    dtype=np.int64,
)
_EXTRA_BLBITS = np.array([0] * 16 + [2, 3, 7], dtype=np.int64)
_BL_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15], dtype=np.int64)
_STATIC_LTREE_LEN = np.array([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8, dtype=np.int64)
_STATIC_DTREE_LEN = np.full(_D_CODES, 5, dtype=np.int64)
_NO_STREE = np.zeros(1, dtype=np.int64)
_STORED, _FIXED, _DYNAMIC = 0, 1, 2  # block types, as deflate's BTYPE


def _length_code_table() -> np.ndarray:
    """Map ``match length - 3`` (0..255) to its length code (0..28), as zlib's ``_length_code``."""
    table = np.zeros(256, dtype=np.int64)
    length = 0
    for code in range(28):
        for _ in range(1 << int(_EXTRA_LBITS[code])):
            table[length] = code
            length += 1
    table[255] = 28  # length 258 has its own code
    return table


def _dist_code_table() -> np.ndarray:
    """Map ``distance - 1`` (0..32767) to its distance code (0..29)."""
    table = np.zeros(32768, dtype=np.int64)
    base = 0
    for code in range(_D_CODES):
        span = 1 << int(_EXTRA_DBITS[code])
        table[base : base + span] = code
        base += span
    return table


_LENGTH_CODE = _length_code_table()
_DIST_CODE = _dist_code_table()

# Slots of the integer state vector that a parse reads and writes.
_S_STRSTART = 0
_S_MATCH_LENGTH = 1
_S_MATCH_START = 2
_S_AVAILABLE = 3
_S_BLOCK_START = 4
_S_SYMBOLS = 5
_S_BITS = 6
_S_XGEN = 7
_S_YB = 8  # in a pair: where y starts in the training data
_S_HSEP = 9  # in a pair: the hashes of the two positions that straddle the separator
_S_HEND = 10
_N_STATE = 11

# Rows of the tree workspace.
_T_LFREQ, _T_LLEN, _T_LDAD, _T_DFREQ, _T_DLEN, _T_DDAD = 0, 1, 2, 3, 4, 5
_T_BFREQ, _T_BLEN, _T_BDAD, _T_ORDER, _T_HEAP, _T_BLCOUNT = 6, 7, 8, 9, 10, 11
_N_TREE_ROWS = 12


@intrinsic
def _load64(typingctx, arr, idx):
    """The 8 bytes ``arr[idx:idx + 8]`` of a ``uint8`` array as one little-endian ``uint64``.

    An unaligned load, no bounds check: the caller keeps ``idx + 8 <= len(arr)``.
    """
    sig = types.uint64(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.int64)
        ptr = builder.gep(ary.data, [index])
        ptr64 = builder.bitcast(ptr, ir.IntType(64).as_pointer())
        return builder.load(ptr64, align=1)

    return sig, codegen


@intrinsic
def _cttz(typingctx, x):
    """Trailing zero bits of a non-zero ``uint64`` (one instruction: ``tzcnt``/``bsf``)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _smaller_child(heap, j):
    """Index and node of the smaller of the children ``j`` and ``j + 1`` (the right one on equal
    keys, as zlib's ``smaller()``)."""
    c = heap[j]
    r = heap[j + np.uint64(1)]
    right = (r >> 10) <= (c >> 10)
    return j | np.uint64(right), (r if right else c)


@njit(cache=True, nogil=True)
def _pqdownheap(heap, heap_len, k):
    """zlib's ``pqdownheap`` on packed nodes ``freq << 16 | depth << 10 | node``.

    Comparing ``node >> 10`` is zlib's ``smaller()``: frequency first, then the shallower
    subtree, equal keys counting as smaller.  ``heap[heap_len + 1]`` must hold ``_HEAP_TOP``
    so that a missing right child is never chosen.
    """
    # Unsigned indices spare numba's negative-index fix-ups; the child choice is branch-free.
    k = np.uint64(k)
    last = np.uint64(heap_len)
    v = heap[k]
    key = v >> 10
    while True:
        j = k << np.uint64(1)
        if j > last:
            break
        j, c = _smaller_child(heap, j)
        if key <= (c >> 10):
            break
        heap[k] = c
        k = j
    heap[k] = v


@njit(cache=True, nogil=True)
def _pqdownheap_bottom_up(heap, heap_len):
    """``_pqdownheap(heap, heap_len, 1)`` for a root that was the heap's last node.

    Such a node usually sinks to the bottom, so the hole goes down the path of smaller
    children first (no comparison with the node on the way) and the node then climbs back
    over the children not smaller than it.  The path does not depend on the node and the
    children on it only grow, so the node lands where ``_pqdownheap`` puts it: above the
    first child whose key is greater than or equal to its own.
    """
    last = np.uint64(heap_len)
    v = heap[1]
    key = v >> 10
    k = np.uint64(1)
    while True:
        j = k << np.uint64(1)
        if j > last:
            break
        j, heap[k] = _smaller_child(heap, j)
        k = j
    while k > np.uint64(1):
        up = heap[k >> np.uint64(1)]
        if (up >> 10) < key:
            break
        heap[k] = up
        k >>= np.uint64(1)
    heap[k] = v


@njit(cache=True, nogil=True)
def _build_tree(freq, length, dad, heap, order, bl_count, elems, stree, has_stree, extra, base, max_length, acc):
    """zlib's ``build_tree`` + ``gen_bitlen``: code lengths and the block's bit costs.

    ``acc[0]`` accumulates the dynamic-block bits (``opt_len``), ``acc[1]`` the fixed-block
    bits (``static_len``).  ``order`` receives the nodes in the order zlib stores them at the
    top of its heap array.  Returns ``max_code``, the largest symbol with a code.
    """
    heap_len = 0
    max_code = -1
    # Branch-free on purpose: which symbols occur is unpredictable.
    for n in range(elems):
        f = freq[n]
        heap[heap_len + 1] = (f << 16) | n
        used = f != 0
        heap_len += used
        max_code = n if used else max_code
        length[n] = 0
    # Deflate needs at least two codes in every tree.
    while heap_len < 2:
        if max_code < 2:
            max_code += 1
            node = max_code
        else:
            node = 0
        heap_len += 1
        heap[heap_len] = (1 << 16) | node
        freq[node] = 1
        acc[0] -= 1
        if has_stree:
            acc[1] -= stree[node]
    heap[heap_len + 1] = _HEAP_TOP
    for k in range(heap_len // 2, 0, -1):
        _pqdownheap(heap, heap_len, k)
    node = elems
    n_order = 0
    while True:
        a = heap[1]
        heap[1] = heap[heap_len]
        heap[heap_len] = _HEAP_TOP
        heap_len -= 1
        _pqdownheap_bottom_up(heap, heap_len)
        b = heap[1]
        order[n_order] = a & 1023
        order[n_order + 1] = b & 1023
        n_order += 2
        depth_a = (a >> 10) & 63
        depth_b = (b >> 10) & 63
        depth = (depth_a if depth_a >= depth_b else depth_b) + 1
        dad[a & 1023] = node
        dad[b & 1023] = node
        heap[1] = (((a >> 16) + (b >> 16)) << 16) | (depth << 10) | node
        node += 1
        _pqdownheap(heap, heap_len, 1)
        if heap_len < 2:
            break
    root = heap[1] & 1023

    # gen_bitlen: depths become lengths, walking from the root down, clipped at max_length.
    for bits in range(16):
        bl_count[bits] = 0
    length[root] = 0
    overflow = 0
    for h in range(n_order - 1, -1, -1):
        n = order[h]
        bits = length[dad[n]] + 1
        if bits > max_length:
            bits = max_length
            overflow += 1
        length[n] = bits
        if n > max_code:
            continue
        bl_count[bits] += 1
        xbits = extra[n - base] if n >= base else 0
        f = freq[n]
        acc[0] += f * (bits + xbits)
        if has_stree:
            acc[1] += f * (stree[n] + xbits)
    if overflow == 0:
        return max_code
    # Rebalance the over-long codes, then hand lengths out again in zlib's heap order.
    while True:
        bits = max_length - 1
        while bl_count[bits] == 0:
            bits -= 1
        bl_count[bits] -= 1
        bl_count[bits + 1] += 2
        bl_count[max_length] -= 1
        overflow -= 2
        if overflow <= 0:
            break
    h = 0
    for bits in range(max_length, 0, -1):
        n = bl_count[bits]
        while n != 0:
            m = order[h] if h < n_order else root
            h += 1
            if m > max_code:
                continue
            if length[m] != bits:
                acc[0] += (bits - length[m]) * freq[m]
                length[m] = bits
            n -= 1
    return max_code


@njit(cache=True, nogil=True)
def _scan_tree(length, max_code, bl_freq):
    """zlib's ``scan_tree``: count the run-length codes that describe one tree's lengths."""
    prevlen = -1
    nextlen = length[0]
    count = 0
    max_count = 7
    min_count = 4
    if nextlen == 0:
        max_count = 138
        min_count = 3
    for n in range(max_code + 1):
        curlen = nextlen
        nextlen = length[n + 1] if n < max_code else 0xFFFF
        count += 1
        if count < max_count and curlen == nextlen:
            continue
        elif count < min_count:
            bl_freq[curlen] += count
        elif curlen != 0:
            if curlen != prevlen:
                bl_freq[curlen] += 1
            bl_freq[16] += 1
        elif count <= 10:
            bl_freq[17] += 1
        else:
            bl_freq[18] += 1
        count = 0
        prevlen = curlen
        if nextlen == 0:
            max_count = 138
            min_count = 3
        elif curlen == nextlen:
            max_count = 6
            min_count = 3
        else:
            max_count = 7
            min_count = 4


@njit(cache=True, nogil=True)
def _flush_block(tw, stored_len, bits, acc):
    """Bits after emitting the current block the way ``_tr_flush_block`` chooses to.

    ``tw`` holds the block's symbol frequencies; they are left modified (the caller resets).
    ``acc[2:6]`` receive the block's type (``_STORED``, ``_FIXED``, ``_DYNAMIC``), its largest
    literal/length and distance codes and ``max_blindex``, for :func:`_record_block`.
    """
    acc[0] = 0
    acc[1] = 0
    heap = tw[_T_HEAP]
    order = tw[_T_ORDER]
    bl_count = tw[_T_BLCOUNT]
    l_max = _build_tree(
        tw[_T_LFREQ], tw[_T_LLEN], tw[_T_LDAD], heap, order, bl_count,
        _L_CODES, _STATIC_LTREE_LEN, True, _EXTRA_LBITS, 257, 15, acc,
    )
    d_max = _build_tree(
        tw[_T_DFREQ], tw[_T_DLEN], tw[_T_DDAD], heap, order, bl_count,
        _D_CODES, _STATIC_DTREE_LEN, True, _EXTRA_DBITS, 0, 15, acc,
    )
    bl_freq = tw[_T_BFREQ]
    for i in range(_BL_CODES):
        bl_freq[i] = 0
    _scan_tree(tw[_T_LLEN], l_max, bl_freq)
    _scan_tree(tw[_T_DLEN], d_max, bl_freq)
    bl_len = tw[_T_BLEN]
    _build_tree(
        bl_freq, bl_len, tw[_T_BDAD], heap, order, bl_count,
        _BL_CODES, _NO_STREE, False, _EXTRA_BLBITS, 0, 7, acc,
    )
    max_blindex = _BL_CODES - 1
    while max_blindex >= 3:
        if bl_len[_BL_ORDER[max_blindex]] != 0:
            break
        max_blindex -= 1
    opt_len = acc[0] + 3 * (max_blindex + 1) + 14
    static_len = acc[1]
    opt_lenb = (opt_len + 3 + 7) >> 3
    static_lenb = (static_len + 3 + 7) >> 3
    if static_lenb <= opt_lenb:
        opt_lenb = static_lenb
    acc[3] = l_max
    acc[4] = d_max
    acc[5] = max_blindex
    if stored_len + 4 <= opt_lenb:
        acc[2] = _STORED
        return ((bits + 3 + 7) & ~7) + 32 + 8 * stored_len
    if static_lenb == opt_lenb:
        acc[2] = _FIXED
        return bits + 3 + static_len
    acc[2] = _DYNAMIC
    return bits + 3 + opt_len


@njit(cache=True, nogil=True)
def _reset_block(tw):
    lfreq = tw[_T_LFREQ]
    dfreq = tw[_T_DFREQ]
    for i in range(_L_CODES):
        lfreq[i] = 0
    for i in range(_D_CODES):
        dfreq[i] = 0
    lfreq[_END_BLOCK] = 1


@njit(cache=True, nogil=True, inline="always")
def _hash3(win, q):
    """zlib's hash of the 3 bytes at ``q`` (its rolling ``UPDATE_HASH`` after three bytes)."""
    return ((np.int64(win[q]) << 10) ^ (np.int64(win[q + 1]) << 5) ^ np.int64(win[q + 2])) & _WMASK


@njit(cache=True, nogil=True, inline="always")
def _head(heads, gen, h):
    """The position stored under hash ``h`` in generation ``gen``; 0 (zlib's NIL) if none."""
    e = heads[h]
    return e & _WMASK_POS if (e >> _GEN_SHIFT) == gen else 0


@njit(cache=True, nogil=True)
def _chain_text(win, lo, hi, heads, gen, chain, keep_hash):
    """``chain[q]`` = the last position before ``q`` with the same hash, for ``lo <= q < hi``.

    The positions are added to ``heads`` (generation ``gen``) in order, as zlib inserts them.
    A position first of its hash gets 0 (zlib's NIL), or ``-1 - hash`` with ``keep_hash``.
    """
    for q in range(lo, hi):
        h = _hash3(win, q)
        e = heads[h]
        heads[h] = (gen << _GEN_SHIFT) | q
        if (e >> _GEN_SHIFT) == gen:
            chain[q] = e & _WMASK_POS
        else:
            chain[q] = -1 - h if keep_hash else 0


@njit(cache=True, nogil=True)
def _pair_start(win, nx, n, ytab, b, heads, chain, st):
    """Set up the chains of ``x + b" " + y`` (``y`` at ``b`` in the training data) for ``_parse``.

    ``chain[:nx - 1]`` (the positions inside ``x + b" "``) and ``heads`` (their last position per
    hash, generation ``st[_S_XGEN]``) come from the query. The two positions that straddle the
    separator get their ``chain`` entries here, and their hashes go to ``st``. With full
    :func:`y_tables` the positions of ``y`` are looked up when the parse reaches them
    (:func:`_y_prev`); with its column 0 alone they are filled in here.
    """
    xgen = st[_S_XGEN]
    last = n - 3  # zlib inserts positions up to strstart + lookahead - MIN_MATCH
    h_sep = -1  # hash of position nx (the separator), -1 when not inserted
    h_end = -1  # hash of position nx - 1 (x's last byte)
    if nx >= 1 and nx - 1 <= last:
        h_end = _hash3(win, nx - 1)
        chain[nx - 1] = _head(heads, xgen, h_end)
    if nx <= last:
        h_sep = _hash3(win, nx)
        chain[nx] = nx - 1 if h_sep == h_end else _head(heads, xgen, h_sep)
    st[_S_YB] = b
    st[_S_HSEP] = h_sep
    st[_S_HEND] = h_end
    if ytab.shape[1] == 1:
        # hash chains only: the parse walks y's candidates itself, through chain[]
        base = nx + 1
        for q in range(base, last + 1):
            chain[q] = _y_prev(ytab, b, base, q, h_sep, h_end, heads, xgen)


@njit(cache=True, nogil=True, inline="always")
def _y_prev(ytab, yb, base, p, h_sep, h_end, heads, xgen):
    """``chain[p]`` for a position ``p >= base`` of ``y``: from ``y``'s own chain if it has an
    earlier position with the hash, else the separator's two positions, else ``x``'s last."""
    link = ytab[yb + p - base, 0]
    if link >= 0:
        return base + link
    return _x_prev(-1 - link, base, h_sep, h_end, heads, xgen)


@njit(cache=True, nogil=True, inline="always")
def _x_prev(h, base, h_sep, h_end, heads, xgen):
    """The last position before ``y`` (which starts at ``base``) with hash ``h``."""
    if h == h_sep:
        return base - 1
    if h == h_end:
        return base - 2
    return _head(heads, xgen, h)


@njit(cache=True, nogil=True, inline="always")
def _match_length(win, cur, p, lim):
    """How many bytes ``win[cur:]`` and ``win[p:]`` share, at most ``lim``, for a chain candidate
    ``cur`` whose bytes 0 and 1 equal ``p``'s (byte 2 then does too: same hash); 8 bytes at a time."""
    i = 3
    while True:
        if i + 8 > lim:
            while i < lim and win[np.uint64(cur + i)] == win[np.uint64(p + i)]:
                i += 1
            return i
        diff = _load64(win, cur + i) ^ _load64(win, p + i)
        if diff != 0:
            return i + np.int64(_cttz(diff) >> np.uint64(3))
        i += 8


_GRAM_MAX = 8  # longest n-gram kept in the gram sets (one 8-byte load)
_GRAM_BITS = 16  # bits per gram set: 8 KiB each


@njit(cache=True, nogil=True, inline="always")
def _gram_bit(win, q, k):
    """Slot of the ``k`` bytes at ``q`` (``3 <= k <= 8``) in a gram set (a multiplicative hash)."""
    g = _load64(win, q)
    if k < 8:
        g &= (np.uint64(1) << np.uint64(8 * k)) - np.uint64(1)
    return (g * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _GRAM_BITS)


@njit(cache=True, nogil=True)
def _x_grams(win, nx, grams):
    """Fill ``grams[k - 3]`` with the ``k``-grams of ``win[:nx + 1]`` (``x + b" "``) for ``3 <= k <= 8``."""
    grams[:] = 0
    for k in range(3, _GRAM_MAX + 1):
        row = grams[k - 3]
        for q in range(nx + 2 - k):
            s = _gram_bit(win, q, k)
            row[s >> np.uint64(6)] |= np.uint64(1) << (s & np.uint64(63))


@njit(cache=True, nogil=True, inline="always")
def _x_stop(win, p, best, base, grams):
    """Chain candidates below the returned position cannot beat a match of length ``best`` at ``p``.

    A candidate ``q < base`` (in ``x + b" "``, which ends at ``base``) matches ``win[p:]`` for
    ``L`` bytes of which ``min(L, base - q)`` lie inside ``x + b" "``. If the ``best + 1``
    bytes at ``p`` occur nowhere in ``x + b" "`` (their gram bit is clear; a hash collision only
    sets bits, so it can only keep a candidate), then for ``q < base - best`` we have
    ``base - q > best`` and so ``L <= best``. Returns 0 (keep every candidate) otherwise.
    """
    k = best + 1
    if k > _GRAM_MAX or k < 3:
        return 0
    s = _gram_bit(win, p, k)
    if grams[k - 3, s >> np.uint64(6)] & (np.uint64(1) << (s & np.uint64(63))):
        return 0
    return base - best


# Columns of deflate_tokens' arrays.
_K_POS, _K_LENGTH, _K_DIST, _K_BITS, _K_BLOCK = 0, 1, 2, 3, 4
_B_START, _B_END, _B_TYPE, _B_HEADER, _B_TOKENS, _B_BITS = 0, 1, 2, 3, 4, 5


@njit(cache=True, nogil=True)
def _record_token(rec, pos, length, dist):
    """Append a token of a recording parse: a literal (``length`` 1, ``dist`` 0) or a match."""
    tokens, _, count = rec
    t = count[0]
    tokens[t, _K_POS] = pos
    tokens[t, _K_LENGTH] = length
    tokens[t, _K_DIST] = dist
    tokens[t, _K_BITS] = 0
    tokens[t, _K_BLOCK] = count[1]
    count[0] = t + 1


@njit(cache=True, nogil=True)
def _tree_bits(tw, l_max, d_max):
    """Bits of a dynamic block's code-length description after its 3 + 14 + 3 per code length header
    bits: the run-length codes of both trees (counted afresh: ``_build_tree`` may have given an
    unused code a frequency of 1) times their lengths plus extra bits."""
    counts = np.zeros(_BL_CODES, dtype=np.int64)
    _scan_tree(tw[_T_LLEN], l_max, counts)
    _scan_tree(tw[_T_DLEN], d_max, counts)
    bl_len = tw[_T_BLEN]
    total = 0
    for c in range(_BL_CODES):
        total += counts[c] * (bl_len[c] + _EXTRA_BLBITS[c])
    return total


@njit(cache=True, nogil=True)
def _record_block(rec, win, tw, acc, start, end, bits_before, bits_after):
    """Close a block of a recording parse: each of its tokens' bits under the codes ``_flush_block``
    chose (``acc[2:6]``, ``tw``), and the block's header bits, counted independently of its total
    (``bits_after - bits_before``) so that the two can be checked against each other. A stored
    block's tokens become one literal per byte, as the stream holds them.

    The header holds everything that is not a token: the 3 block-type bits, for a stored block
    the padding to a byte and the 32 bits of its length, for a Huffman block the end-of-block
    code, and for a dynamic one the description of its codes.
    """
    tokens, blocks, count = rec
    kind = acc[2]
    if kind == _STORED:
        # the stream holds the block's bytes as they are: whatever the parse matched, each byte
        # is written (and explained) as itself; the block has as many bytes as the parse had
        # tokens or more, and every token covers one byte or more, so the rows fit
        for q in range(start, end):
            t = count[2] + q - start
            tokens[t, _K_POS] = q
            tokens[t, _K_LENGTH] = 1
            tokens[t, _K_DIST] = 0
            tokens[t, _K_BLOCK] = count[1]
        count[0] = count[2] + end - start
    if kind == _DYNAMIC:
        llen = tw[_T_LLEN]
        dlen = tw[_T_DLEN]
    else:
        llen = _STATIC_LTREE_LEN
        dlen = _STATIC_DTREE_LEN
    token_bits = 0
    for t in range(count[2], count[0]):
        length = tokens[t, _K_LENGTH]
        if kind == _STORED:
            cost = 8
        elif tokens[t, _K_DIST] == 0:
            cost = llen[win[tokens[t, _K_POS]]]
        else:
            lc = _LENGTH_CODE[length - 3]
            dc = _DIST_CODE[tokens[t, _K_DIST] - 1]
            cost = llen[257 + lc] + _EXTRA_LBITS[lc] + dlen[dc] + _EXTRA_DBITS[dc]
        tokens[t, _K_BITS] = cost
        token_bits += cost
    if kind == _STORED:
        header = ((bits_before + 3 + 7) & ~7) - bits_before + 32
    elif kind == _FIXED:
        header = 3 + llen[_END_BLOCK]
    else:
        header = 3 + 14 + 3 * (acc[5] + 1) + _tree_bits(tw, acc[3], acc[4]) + llen[_END_BLOCK]
    b = count[1]
    blocks[b, _B_START] = start
    blocks[b, _B_END] = end
    blocks[b, _B_TYPE] = kind
    blocks[b, _B_HEADER] = header
    blocks[b, _B_TOKENS] = token_bits
    blocks[b, _B_BITS] = bits_after - bits_before
    count[1] = b + 1
    count[2] = count[0]


@njit(cache=True, nogil=True)
def _parse(win, n, known, st, tw, acc, chain, base, grams, ytab, heads, rec):
    """Run ``deflate_slow`` from the state in ``st`` over ``win[:n]``.

    ``chain[p]`` holds, for every position ``p`` the parse may reach, the last earlier
    position with the same hash (0, zlib's NIL, if none). zlib inserts every position up to
    ``n - 3`` whatever the parse, so the chains are fixed before the parse starts and the
    parse itself writes no hash table.

    In prefix mode (``known < n``) only ``win[:known]`` is fixed: the parse stops, without
    changing anything, at the first step whose outcome could depend on a byte at or beyond
    ``known``, and returns 0.  Otherwise it finishes the stream and returns the deflate
    length in bytes.

    In a pair, ``base`` is where ``y`` starts and ``grams`` holds :func:`_x_grams` of
    ``x + b" "``: the walk of a chain stops as soon as no candidate left in it can beat the
    best match found (see :func:`_x_stop`). ``base = 0`` turns this off.

    ``rec`` is ``None`` when only the length is wanted; numba then compiles the parse without
    any of the recording below (the branches on ``rec is not None`` are pruned before typing).
    :func:`deflate_tokens` passes the arrays of :func:`_record_token` and :func:`_record_block`
    to get every token and block of a whole-text parse.
    """
    tabled = ytab.shape[1] > 1
    lazy = base > 0 and tabled  # y's chain entries are looked up, not in chain[]
    yb = st[_S_YB]
    h_sep = st[_S_HSEP]
    h_end = st[_S_HEND]
    xgen = st[_S_XGEN]
    p = st[_S_STRSTART]
    match_length = st[_S_MATCH_LENGTH]
    match_start = st[_S_MATCH_START]
    available = st[_S_AVAILABLE]
    block_start = st[_S_BLOCK_START]
    symbols = st[_S_SYMBOLS]
    bits = st[_S_BITS]
    lfreq = tw[_T_LFREQ]
    dfreq = tw[_T_DFREQ]
    while True:
        lookahead = n - p
        if lookahead == 0:
            break
        hash_head = 0
        if lookahead >= 3:
            if p + 2 >= known:
                break
            hash_head = _y_prev(ytab, yb, base, p, h_sep, h_end, heads, xgen) if lazy and p >= base else chain[p]
        prev_length = match_length
        prev_match = match_start
        new_length = 2
        new_start = match_start
        if hash_head != 0 and prev_length < _MAX_MATCH and p - hash_head <= _MAX_DIST:
            # longest_match: the first chain entry with the longest match wins.
            chain_left = _MAX_CHAIN if prev_length < _GOOD_LENGTH else _MAX_CHAIN >> 2
            best = prev_length
            nice = _MAX_MATCH if lookahead >= _MAX_MATCH else lookahead
            limit = p - _MAX_DIST if p > _MAX_DIST else 0
            lim = known - p
            if lim > _MAX_MATCH:
                lim = _MAX_MATCH
            cur = hash_head
            walk = True
            opened = False
            in_x = False
            x_stop = 0
            if cur >= base and tabled:
                # The chain starts with y's own positions, whose matches do not depend on x:
                # y's table has their best, and how many there are (see _y_tables).
                r = yb + p - base
                packed = ytab[r, 1]
                ylen = packed & 511
                ycount = (packed >> 9) & 8191
                ystart = ytab[r, 2] & 0xFFFF
                if ycount > chain_left:
                    # the smaller budget ends inside y: the best of its first candidates
                    ylen = packed >> 22
                    ycount = chain_left
                    ystart = (ytab[r, 2] >> 16) & 0xFFFF
                if not (ylen >= nice and ylen <= best):
                    if ylen > best:
                        best = ylen
                        new_start = base + ystart
                    if ylen >= nice and ylen == best:
                        walk = False  # zlib stops at a match of nice length
                    elif ycount == chain_left:
                        walk = False  # the chain budget ends inside y
                    else:
                        chain_left -= ycount
                        # the chain goes on before y: where a first position of y with p's hash would
                        cur = _x_prev(_hash3(win, p), base, h_sep, h_end, heads, xgen)
                        walk = cur > limit
            b0 = win[p]
            b1 = win[p + 1]
            # zlib's order: the bytes at the current best length's end first (most
            # candidates fail there), then bytes 0 and 1
            se1 = win[np.uint64(p + best - 1)]
            se = win[np.uint64(p + best)]
            while walk:
                if cur < base and not in_x:
                    # the walk leaves y: from here on a candidate can only win if y's next
                    # best + 1 bytes occur in x + b" " (or its match runs on into y)
                    in_x = True
                    x_stop = _x_stop(win, p, best, base, grams)
                    if cur < x_stop:
                        break
                # unsigned indices: no negative-index fix-ups in the hottest loop
                uc = np.uint64(cur)
                if (
                    best >= lim
                    or (win[uc + np.uint64(best)] == se and win[uc + np.uint64(best - 1)] == se1)
                ) and win[uc] == b0 and win[uc + np.uint64(1)] == b1:
                    i = _match_length(win, cur, p, lim)
                    if i == lim and lim < _MAX_MATCH:
                        opened = True
                        break
                    if i > best:
                        new_start = cur
                        best = i
                        if i >= nice:
                            break
                        if in_x:
                            x_stop = max(x_stop, _x_stop(win, p, best, base, grams))
                        if best < lim:
                            se1 = win[np.uint64(p + best - 1)]
                            se = win[np.uint64(p + best)]
                cur = _y_prev(ytab, yb, base, cur, h_sep, h_end, heads, xgen) if lazy and cur >= base else chain[uc]
                if cur <= limit or cur < x_stop:
                    break
                chain_left -= 1
                if chain_left == 0:
                    break
            if opened:
                break
            new_length = best if best <= lookahead else lookahead
            if new_length == 3 and p - new_start > _TOO_FAR:
                new_length = 2
        emit = prev_length >= 3 and new_length <= prev_length
        if emit and p + prev_length >= known:
            break
        # The step is fixed: commit it.
        match_start = new_start
        match_length = new_length
        if emit:
            lfreq[257 + _LENGTH_CODE[prev_length - 3]] += 1
            dfreq[_DIST_CODE[p - 2 - prev_match]] += 1
            symbols += 1
            if rec is not None:
                _record_token(rec, p - 1, prev_length, p - 1 - prev_match)
            # the match's other positions are in the chains already: skip past them
            p += prev_length - 1
            available = 0
            match_length = 2
            if symbols == _SYM_LIMIT:
                before = bits
                bits = _flush_block(tw, p - block_start, bits, acc)
                if rec is not None:
                    _record_block(rec, win, tw, acc, block_start, p, before, bits)
                _reset_block(tw)
                block_start = p
                symbols = 0
        elif available:
            lfreq[win[p - 1]] += 1
            symbols += 1
            if rec is not None:
                _record_token(rec, p - 1, 1, 0)
            if symbols == _SYM_LIMIT:
                before = bits
                bits = _flush_block(tw, p - block_start, bits, acc)
                if rec is not None:
                    _record_block(rec, win, tw, acc, block_start, p, before, bits)
                _reset_block(tw)
                block_start = p
                symbols = 0
            p += 1
        else:
            available = 1
            p += 1
    st[_S_STRSTART] = p
    st[_S_MATCH_LENGTH] = match_length
    st[_S_MATCH_START] = match_start
    st[_S_AVAILABLE] = available
    st[_S_BLOCK_START] = block_start
    st[_S_SYMBOLS] = symbols
    st[_S_BITS] = bits
    if p < n:
        return 0
    if available:
        lfreq[win[p - 1]] += 1
        if rec is not None:
            _record_token(rec, p - 1, 1, 0)
    before = bits
    bits = _flush_block(tw, p - block_start, bits, acc)
    if rec is not None:
        _record_block(rec, win, tw, acc, block_start, p, before, bits)
    return (bits + 7) >> 3


@njit(cache=True, nogil=True)
def _workspace():
    win = np.zeros(MAX_INPUT + 1 + _PAD, dtype=np.uint8)
    st = np.zeros(_N_STATE, dtype=np.int64)
    tw = np.zeros((_N_TREE_ROWS, _HEAP_SIZE + 2), dtype=np.int64)
    acc = np.zeros(6, dtype=np.int64)  # see _flush_block
    heads = np.zeros(32768, dtype=np.int32)  # 128 KiB: stays in L2 with the window and the chains
    chain = np.zeros(MAX_INPUT + 1, dtype=np.int32)
    grams = np.zeros((_GRAM_MAX - 2, 1 << (_GRAM_BITS - 6)), dtype=np.uint64)
    return win, st, tw, acc, heads, chain, grams


@njit(cache=True, nogil=True)
def _next_generation(st, slot, heads):
    """Start a new generation of hash heads; on counter overflow clear them instead."""
    if st[slot] >= _MAX_GEN:
        heads[:] = 0
        st[slot] = 0
    st[slot] += 1


@njit(cache=True, nogil=True)
def _start_text(st, tw, heads):
    _next_generation(st, _S_XGEN, heads)
    st[_S_STRSTART] = 0
    st[_S_MATCH_LENGTH] = 2
    st[_S_MATCH_START] = 0
    st[_S_AVAILABLE] = 0
    st[_S_BLOCK_START] = 0
    st[_S_SYMBOLS] = 0
    st[_S_BITS] = 0
    _reset_block(tw)


@intrinsic
def _fetch_add(typingctx, counter, delta):
    """Atomically add ``delta`` to ``counter[0]``; returns the value before (LLVM ``atomicrmw``)."""
    sig = types.int64(counter, delta)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        value = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.atomic_rmw("add", ary.data, value, "seq_cst")

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _first(lo, hi, counter):
    """The items in hand at the start: all of ``[lo, hi)`` for a serial caller, none for a shared ``counter``."""
    return (lo, lo) if counter.shape[0] > 0 else (lo, hi)


@njit(cache=True, nogil=True, inline="always")
def _advance(t, t_end, counter, step, hi):
    """The item to do next and the end of the items in hand, taking more when those run out;
    ``t >= hi`` when none are left."""
    if t == t_end:
        return _take(counter, step, hi)
    return t, t_end


@njit(cache=True, nogil=True, inline="always")
def _take(counter, step, hi):
    """The next ``step`` work items ``[t, t_end)`` from the shared ``counter``; ``t >= hi`` when none
    are left, and at once for a serial caller (empty ``counter``: it held all its items from the start)."""
    if counter.shape[0] == 0:
        return hi, hi
    t = _fetch_add(counter, step)
    return t, min(t + step, hi)


_TEXTS_PER_TAKE = 16  # texts a worker of gzip_lengths_parallel or y_tables_parallel takes at a time
_NO_TAB = np.zeros((0, 1), dtype=np.int32)  # no y tables: _parse walks every chain itself


@njit(cache=True, nogil=True)
def _single_lengths(data, offsets, lo, hi, step, counter, out):
    """``out[i]`` for texts ``lo <= i < hi``; a non-empty ``counter`` shares them out as in ``_pair_cells``."""
    win, st, tw, acc, heads, chain, grams = _workspace()
    i, i_end = _first(lo, hi, counter)
    while True:
        i, i_end = _advance(i, i_end, counter, step, hi)
        if i >= hi:
            break
        a = offsets[i]
        n = offsets[i + 1] - a
        if n > MAX_INPUT:
            out[i] = -1
        else:
            win[:n] = data[a : a + n]
            win[n : n + _PAD] = 0
            _start_text(st, tw, heads)
            _chain_text(win, 0, n - 2, heads, st[_S_XGEN], chain, False)
            out[i] = _parse(win, n, n + _PAD, st, tw, acc, chain, 0, grams, _NO_TAB, heads, None) + GZIP_OVERHEAD
        i += 1


@njit(cache=True, nogil=True)
def _y_tables(data, offsets, lo, hi, step, counter, out):
    """:func:`y_tables` for texts ``lo <= i < hi`` (``counter`` as in ``_pair_cells``); only
    column 0 if ``out`` has one column."""
    full = out.shape[1] > 1
    win, st, _, _, heads, _, _ = _workspace()
    i, i_end = _first(lo, hi, counter)
    while True:
        i, i_end = _advance(i, i_end, counter, step, hi)
        if i >= hi:
            break
        a = offsets[i]
        n = offsets[i + 1] - a
        i += 1
        if n > MAX_INPUT:  # no pair with it is in the kernel's range
            continue
        win[:n] = data[a : a + n]
        win[n : n + _PAD] = 0  # as in a pair: zeros after y
        _next_generation(st, _S_XGEN, heads)
        links = out[a : a + n, 0]
        # first of its hash in the text: keep the hash, for the pair to go on into x
        _chain_text(win, 0, n - 2, heads, st[_S_XGEN], links, True)
        if not full:
            continue
        for q in range(n - 2):
            r = a + q
            link = links[q]
            if link < 0:
                out[r, 1] = 0
                out[r, 2] = 0
                continue
            # longest_match over the text's own earlier positions, as _parse walks them
            # from best = 2 within zlib's largest budget: the first longest match, and
            # the number of candidates (the walk stops early at a match of nice length)
            nice = _MAX_MATCH if n - q >= _MAX_MATCH else n - q
            best = 2
            cand = 0
            count = 0
            far = q - _MAX_DIST if q >= _MAX_DIST else -1  # as _parse's limit, in the text's positions
            short = 2  # the same within the budget zlib uses after a match of 32 or more
            short_cand = 0
            b0 = win[q]
            b1 = win[q + 1]
            se1 = win[q + 1]
            se = win[q + 2]
            c = link
            while True:
                count += 1
                if win[c + best] == se and win[c + best - 1] == se1 and win[c] == b0 and win[c + 1] == b1:
                    k = _match_length(win, c, q, _MAX_MATCH)
                    if k > best:
                        best = k
                        cand = c
                        if k >= nice:
                            break
                        se1 = win[q + best - 1]
                        se = win[q + best]
                if count == _MAX_CHAIN >> 2:
                    short = best
                    short_cand = cand
                if count == _MAX_CHAIN:
                    break
                nxt = out[a + c, 0]
                if nxt <= far:  # none left in the text, or past zlib's distance limit
                    break
                c = nxt
            out[r, 1] = (best if best > 2 else 0) | (count << 9) | ((short if short > 2 else 0) << 22)
            out[r, 2] = cand | (short_cand << 16)  # positions below 65,536 (MAX_INPUT)


@njit(cache=True, nogil=True)
def y_tables(data, offsets, columns=3):
    """What every pair with a training text can take from the text alone.

    For a position ``q`` of text ``j`` (all but its last two), row ``offsets[j] + q`` holds:

    0. the last earlier position of the text with the same 3-byte hash ``h``, or ``-1 - h``
       if none (the text's own hash chain, see :func:`_y_prev`);
    1. ``L | m << 9 | S << 22``: ``m`` the number of those earlier positions (at most 4096,
       zlib's chain budget) and ``L`` the longest match among them (0 if under 3), found by
       walking them in zlib's order; the walk stops at the first match of nice length.
       ``S`` is ``L`` over the first 1024 only (zlib's budget after a match of 32 or more);
    2. ``c | s << 16``: ``c`` the first of them with the longest match ``L``, ``s`` the first
       with ``S`` (12 bytes per byte of text in all).

    A pair's parse then takes its longest-match search over ``y``'s own positions from
    row 1 and 2 and walks only the candidates in ``x``. With ``columns=1`` only column 0 is
    built, at a fraction of the cost: each pair's parse then walks ``y``'s candidates itself
    (for training texts that few queries will meet).
    """
    out = np.zeros((data.shape[0], columns), dtype=np.int32)
    n = offsets.shape[0] - 1
    _y_tables(data, offsets, 0, n, 1, np.zeros(0, dtype=np.int64), out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def y_tables_parallel(data, offsets, n_workers, columns=3):
    """Same as :func:`y_tables`, texts shared out to ``n_workers`` parallel workers."""
    out = np.zeros((data.shape[0], columns), dtype=np.int32)
    n = offsets.shape[0] - 1
    counter = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):
        _y_tables(data, offsets, 0, n, _TEXTS_PER_TAKE, counter, out)
    return out


@njit(cache=True, nogil=True)
def _pair_cells(xdata, xoff, ydata, yoff, ytab, cols, items, lo, hi, step, counter, out):
    """Fill ``out[i, c] = C(x_i + b" " + y_j)`` for work items.

    ``items[t] = (i, c0, c1)`` covers the cells ``c0 <= c < c1`` of row ``i``; the training
    text of cell ``c`` is ``j = cols[i, c]`` when ``cols`` has columns (candidate lists), else
    ``j = c``; ``ytab`` is :func:`y_tables` (all its columns, or column 0 alone) of the training texts.  Consecutive items of one row
    share the parse of ``x_i``.  With an empty ``counter`` (serial callers) the items
    ``lo <= t < hi`` are done in order; otherwise the caller's workers share ``counter`` and each
    takes the next ``step`` items until none are left (dynamic scheduling: no thread idles while
    another still holds a long queue).
    """
    win, st, tw, acc, heads, chain, grams = _workspace()
    indexed = cols.shape[1] > 0
    saved_state = np.zeros(_N_STATE, dtype=np.int64)
    saved_lfreq = np.zeros(_L_CODES, dtype=np.int64)
    saved_dfreq = np.zeros(_D_CODES, dtype=np.int64)
    lfreq = tw[_T_LFREQ]
    dfreq = tw[_T_DFREQ]
    parsed = -1
    t, t_end = _first(lo, hi, counter)
    while True:
        t, t_end = _advance(t, t_end, counter, step, hi)
        if t >= hi:
            break
        i = items[t, 0]
        c0 = items[t, 1]
        c1 = items[t, 2]
        t += 1
        a = xoff[i]
        nx = xoff[i + 1] - a
        if nx + 1 > MAX_INPUT:
            out[i, c0:c1] = -1
            continue
        if i != parsed:
            win[:nx] = xdata[a : a + nx]
            win[nx] = SEP
            _start_text(st, tw, heads)
            # the positions whose 3 bytes lie inside x + b" ", then the part of x's parse that
            # no train text can change; n is only an upper bound here
            _chain_text(win, 0, nx - 1, heads, st[_S_XGEN], chain, False)
            _parse(win, MAX_INPUT + _PAD, nx + 1, st, tw, acc, chain, 0, grams, _NO_TAB, heads, None)
            _x_grams(win, nx, grams)
            saved_state[:] = st
            saved_lfreq[:] = lfreq[:_L_CODES]
            saved_dfreq[:] = dfreq[:_D_CODES]
            parsed = i
        for c in range(c0, c1):
            j = cols[i, c] if indexed else c
            b = yoff[j]
            ny = yoff[j + 1] - b
            n = nx + 1 + ny
            if n > MAX_INPUT:
                out[i, c] = -1
                continue
            win[nx + 1 : n] = ydata[b : b + ny]
            win[n : n + _PAD] = 0
            st[:] = saved_state
            _pair_start(win, nx, n, ytab, b, heads, chain, st)
            lfreq[:_L_CODES] = saved_lfreq
            dfreq[:_D_CODES] = saved_dfreq
            out[i, c] = _parse(win, n, n + _PAD, st, tw, acc, chain, nx + 1, grams, ytab, heads, None) + GZIP_OVERHEAD


@njit(cache=True, nogil=True)
def gzip_lengths(data, offsets):
    """``len(gzip.compress(t, 9))`` for each text ``t = data[offsets[i]:offsets[i+1]]``.

    Texts longer than ``MAX_INPUT`` bytes get ``-1``.
    """
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    _single_lengths(data, offsets, 0, n, 1, np.zeros(0, dtype=np.int64), out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def gzip_lengths_parallel(data, offsets, n_workers):
    """Same as :func:`gzip_lengths`, texts shared out to ``n_workers`` parallel workers."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    counter = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):
        _single_lengths(data, offsets, 0, n, _TEXTS_PER_TAKE, counter, out)
    return out


@njit(cache=True, nogil=True)
def gzip_pair_cells(xdata, xoff, ydata, yoff, ytab, cols, items, out):
    """Fill ``out`` for every work item (see ``_pair_cells``), one thread.

    ``ytab`` is :func:`y_tables` of the training texts (all its columns or column 0). Pairs longer than ``MAX_INPUT`` bytes get ``-1``.
    """
    _pair_cells(xdata, xoff, ydata, yoff, ytab, cols, items, 0, items.shape[0], 1, np.zeros(0, dtype=np.int64), out)


@njit(cache=True, nogil=True, parallel=True)
def gzip_pair_cells_parallel(xdata, xoff, ydata, yoff, ytab, cols, items, n_workers, out):
    """Same as :func:`gzip_pair_cells` with ``n_workers`` parallel workers.

    The workers take the items one at a time from a shared counter, so they all finish
    within about one item of each other whatever the items cost.
    """
    counter = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):
        _pair_cells(xdata, xoff, ydata, yoff, ytab, cols, items, 0, items.shape[0], 1, counter, out)


@njit(cache=True, nogil=True)
def _row_items(n_x, n_y):
    items = np.empty((n_x, 3), dtype=np.int64)
    for i in range(n_x):
        items[i, 0] = i
        items[i, 1] = 0
        items[i, 2] = n_y
    return items


_NO_COLS = np.zeros((0, 0), dtype=np.int64)


@njit(cache=True, nogil=True)
def gzip_pair_lengths(xdata, xoff, ydata, yoff):
    """``len(gzip.compress(x_i + b" " + y_j, 9))`` for all pairs, one thread.

    Pairs longer than ``MAX_INPUT`` bytes get ``-1``.
    """
    n_x, n_y = xoff.shape[0] - 1, yoff.shape[0] - 1
    out = np.empty((n_x, n_y), dtype=np.int64)
    items = _row_items(n_x, n_y)
    _pair_cells(xdata, xoff, ydata, yoff, y_tables(ydata, yoff), _NO_COLS, items, 0, n_x, 1, np.zeros(0, dtype=np.int64), out)
    return out


@njit(cache=True, nogil=True)
def deflate_tokens(text):
    """The parse zlib's level-9 deflate makes of ``text``, token by token, with every token's cost.

    The parse of one pair ``x + b" " + y`` is the parse of that text: the pair kernels emulate
    exactly this parse, only faster. This entry point records it (a separate compilation of the
    parse; the length kernels are compiled without the recording).

    Parameters
    ----------
    text : ndarray of uint8
        At most ``MAX_INPUT`` bytes.

    Returns
    -------
    length : int
        ``len(gzip.compress(text, 9))``, or -1 (and empty arrays) for a longer text.
    tokens : ndarray of int64 of shape (n_tokens, 5)
        Per token, in order: its position in ``text``, its length (1 for a literal), the
        distance back to the copy's source (0 for a literal), its bits under its block's final
        codes (code plus extra bits), and its block's number. These are the tokens the gzip
        stream holds: a stored block's bytes are literals of 8 bits each, whatever the parse
        found in them.
    blocks : ndarray of int64 of shape (n_blocks, 6)
        Per block: first and end position, type (0 stored, 1 fixed, 2 dynamic Huffman),
        header bits (see ``_record_block``), the sum of its tokens' bits, and its bits as
        the length computation counts them. For every block header + tokens = bits, and
        ``(sum of bits + 7) // 8 + GZIP_OVERHEAD == length``.
    """
    n = text.shape[0]
    tokens = np.zeros((max(n, 1), 5), dtype=np.int64)
    blocks = np.zeros((n // _SYM_LIMIT + 2, 6), dtype=np.int64)
    count = np.zeros(3, dtype=np.int64)  # tokens, blocks, first token of the open block
    if n > MAX_INPUT:
        return -1, tokens[:0], blocks[:0]
    win, st, tw, acc, heads, chain, grams = _workspace()
    win[:n] = text
    win[n : n + _PAD] = 0
    _start_text(st, tw, heads)
    _chain_text(win, 0, n - 2, heads, st[_S_XGEN], chain, False)
    length = _parse(win, n, n + _PAD, st, tw, acc, chain, 0, grams, _NO_TAB, heads, (tokens, blocks, count))
    return length + GZIP_OVERHEAD, tokens[: count[0]].copy(), blocks[: count[1]].copy()
