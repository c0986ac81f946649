"""Numba kernels: the exact length of zlib's level-9 deflate, and distances from lengths.

Array in, array out; no scikit-learn, no click.  The deflate kernel emulates zlib's
``deflate_slow`` (lazy matching, hash chains, block flushes every 16,383 symbols) and the
block-type choice of ``_tr_flush_block`` (stored / fixed / dynamic Huffman, with zlib's own
heap-based tree construction and length limiting), counting bits instead of emitting them.
The result equals ``len(gzip.compress(data, 9))`` for every input of at most
``MAX_INPUT`` bytes, where zlib never slides its window; longer inputs get ``-1`` and the
caller computes them with zlib.

Speed comes from three places:

* no output bits, no CRC, no 64 KiB hash-table clearing: each hash head carries a
  generation number, so a new text starts with a counter increment;
* for a pair ``x + b" " + y`` the parse of ``x`` does not depend on ``y`` until a match
  comparison or hash insertion first reads a byte of ``y``; that prefix is parsed once per
  test text, checkpointed, and every pair resumes from the checkpoint;
* work items (a row of test text, or a range of its columns, so that even one query keeps
  every thread busy) go to ``prange`` workers (threads, no pickling) that take the next item
  from a shared atomic counter, so no thread idles while another holds a backlog;
* zlib's ``longest_match`` tricks: the bytes at the current best length's end are compared
  first, then 8 bytes at a time (an unaligned load and a trailing-zero count).
"""

import numpy as np
from numba import njit, prange, types
from llvmlite import ir
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
_S_UNDO = 7
_S_XGEN = 8
_S_PGEN = 9
_N_STATE = 10

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
    if stored_len + 4 <= opt_lenb:
        return ((bits + 3 + 7) & ~7) + 32 + 8 * stored_len
    if static_lenb == opt_lenb:
        return bits + 3 + static_len
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


@njit(cache=True, nogil=True)
def _parse(win, n, known, st, tw, acc, head_x, head_p, prev, undo):
    """Run ``deflate_slow`` from the state in ``st`` over ``win[:n]``.

    In prefix mode (``known < n``) only ``win[:known]`` is fixed: the parse stops, without
    changing anything, at the first step whose outcome could depend on a byte at or beyond
    ``known``, and returns 0.  Otherwise it finishes the stream and returns the deflate
    length in bytes.  Hash heads written in prefix mode go to ``head_x``, in pair mode to
    ``head_p``; each entry is the ``int32`` ``generation << 16 | position`` and entries of an older
    generation read as empty, so a new text or pair needs no clearing.  Pair-mode writes that overwrite a prefix ``prev``
    slot are logged in ``undo`` for the caller to roll back.
    """
    prefix = known < n
    xgen = st[_S_XGEN]
    pgen = st[_S_PGEN]
    p = st[_S_STRSTART]
    match_length = st[_S_MATCH_LENGTH]
    match_start = st[_S_MATCH_START]
    available = st[_S_AVAILABLE]
    block_start = st[_S_BLOCK_START]
    symbols = st[_S_SYMBOLS]
    bits = st[_S_BITS]
    n_undo = st[_S_UNDO]
    lfreq = tw[_T_LFREQ]
    dfreq = tw[_T_DFREQ]
    max_insert = n - 3
    while True:
        lookahead = n - p
        if lookahead == 0:
            break
        h = -1
        hash_head = 0
        if lookahead >= 3:
            if p + 2 >= known:
                break
            h = ((np.int64(win[p]) << 10) ^ (np.int64(win[p + 1]) << 5) ^ np.int64(win[p + 2])) & _WMASK
            e = head_p[h]
            if (e >> _GEN_SHIFT) == pgen:
                hash_head = e & _WMASK_POS
            else:
                e = head_x[h]
                if (e >> _GEN_SHIFT) == xgen:
                    hash_head = e & _WMASK_POS
        prev_length = match_length
        prev_match = match_start
        new_length = 2
        new_start = match_start
        if hash_head != 0 and prev_length < _MAX_MATCH and p - hash_head <= _MAX_DIST:
            # longest_match: the first chain entry with the longest match wins.
            chain = _MAX_CHAIN if prev_length < _GOOD_LENGTH else _MAX_CHAIN >> 2
            best = prev_length
            nice = _MAX_MATCH if lookahead >= _MAX_MATCH else lookahead
            limit = p - _MAX_DIST if p > _MAX_DIST else 0
            lim = known - p
            if lim > _MAX_MATCH:
                lim = _MAX_MATCH
            b0 = win[p]
            b1 = win[p + 1]
            # zlib's order: the bytes at the current best length's end first (most
            # candidates fail there), then bytes 0 and 1
            se1 = win[np.uint64(p + best - 1)]
            se = win[np.uint64(p + best)]
            cur = hash_head
            opened = False
            while True:
                # unsigned indices: no negative-index fix-ups in the hottest loop
                uc = np.uint64(cur)
                if (
                    best >= lim
                    or (win[uc + np.uint64(best)] == se and win[uc + np.uint64(best - 1)] == se1)
                ) and win[uc] == b0 and win[uc + np.uint64(1)] == b1:
                    # bytes 2 are equal: same hash, same bytes 0 and 1; then 8 bytes at a time
                    i = 3
                    while True:
                        if i + 8 > lim:
                            while i < lim and win[np.uint64(cur + i)] == win[np.uint64(p + i)]:
                                i += 1
                            break
                        diff = _load64(win, cur + i) ^ _load64(win, p + i)
                        if diff != 0:
                            i += np.int64(_cttz(diff) >> np.uint64(3))
                            break
                        i += 8
                    if i == lim and lim < _MAX_MATCH:
                        opened = True
                        break
                    if i > best:
                        new_start = cur
                        best = i
                        if i >= nice:
                            break
                        if best < lim:
                            se1 = win[np.uint64(p + best - 1)]
                            se = win[np.uint64(p + best)]
                cur = prev[np.uint64(cur & _WMASK)]
                if cur <= limit:
                    break
                chain -= 1
                if chain == 0:
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
        if h >= 0:
            slot = p & _WMASK
            if not prefix and p > _WMASK:
                undo[n_undo, 0] = slot
                undo[n_undo, 1] = prev[slot]
                n_undo += 1
            prev[slot] = hash_head
            if prefix:
                head_x[h] = (xgen << _GEN_SHIFT) | p
            else:
                head_p[h] = (pgen << _GEN_SHIFT) | p
        match_start = new_start
        match_length = new_length
        if emit:
            lfreq[257 + _LENGTH_CODE[prev_length - 3]] += 1
            dfreq[_DIST_CODE[p - 2 - prev_match]] += 1
            symbols += 1
            end = p + prev_length - 1
            q = p + 1
            stop = end if end <= max_insert + 1 else max_insert + 1
            # zlib's rolling hash: shifting by 5 per byte pushes the oldest byte out of the mask
            hq = (np.uint64(win[np.uint64(q)]) << np.uint64(5)) ^ np.uint64(win[np.uint64(q + 1)])
            while q < stop:
                hq = ((hq << np.uint64(5)) ^ np.uint64(win[np.uint64(q + 2)])) & np.uint64(_WMASK)
                slot = np.uint64(q & _WMASK)
                ex = head_x[hq]
                head = ex & _WMASK_POS if (ex >> _GEN_SHIFT) == xgen else 0
                if prefix:
                    head_x[hq] = (xgen << _GEN_SHIFT) | q
                else:
                    if q > _WMASK:
                        undo[n_undo, 0] = slot
                        undo[n_undo, 1] = prev[slot]
                        n_undo += 1
                    ep = head_p[hq]
                    if (ep >> _GEN_SHIFT) == pgen:
                        head = ep & _WMASK_POS
                    head_p[hq] = (pgen << _GEN_SHIFT) | q
                prev[slot] = head
                q += 1
            available = 0
            match_length = 2
            p = end
            if symbols == _SYM_LIMIT:
                bits = _flush_block(tw, p - block_start, bits, acc)
                _reset_block(tw)
                block_start = p
                symbols = 0
        elif available:
            lfreq[win[p - 1]] += 1
            symbols += 1
            if symbols == _SYM_LIMIT:
                bits = _flush_block(tw, p - block_start, bits, acc)
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
    st[_S_UNDO] = n_undo
    if p < n:
        return 0
    if available:
        lfreq[win[p - 1]] += 1
    bits = _flush_block(tw, p - block_start, bits, acc)
    return (bits + 7) >> 3


@njit(cache=True, nogil=True)
def _workspace():
    win = np.zeros(MAX_INPUT + 1 + _PAD, dtype=np.uint8)
    st = np.zeros(_N_STATE, dtype=np.int64)
    tw = np.zeros((_N_TREE_ROWS, _HEAP_SIZE + 2), dtype=np.int64)
    acc = np.zeros(2, dtype=np.int64)
    head_x = np.zeros(32768, dtype=np.int32)  # 128 KiB each: both stay in L2 with the window
    head_p = np.zeros(32768, dtype=np.int32)
    prev = np.zeros(32768, dtype=np.int32)
    undo = np.zeros((MAX_INPUT + 1, 2), dtype=np.int64)
    return win, st, tw, acc, head_x, head_p, prev, undo


@njit(cache=True, nogil=True)
def _next_generation(st, slot, heads):
    """Start a new generation of hash heads; on counter overflow clear them instead."""
    if st[slot] >= _MAX_GEN:
        heads[:] = 0
        st[slot] = 0
    st[slot] += 1


@njit(cache=True, nogil=True)
def _start_text(st, tw, head_x):
    _next_generation(st, _S_XGEN, head_x)
    st[_S_STRSTART] = 0
    st[_S_MATCH_LENGTH] = 2
    st[_S_MATCH_START] = 0
    st[_S_AVAILABLE] = 0
    st[_S_BLOCK_START] = 0
    st[_S_SYMBOLS] = 0
    st[_S_BITS] = 0
    st[_S_UNDO] = 0
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
def _take(counter, step, hi):
    """The next ``step`` work items ``[t, t_end)`` from the shared ``counter``; ``t >= hi`` when none
    are left, and at once for a serial caller (empty ``counter``: it held all its items from the start)."""
    if counter.shape[0] == 0:
        return hi, hi
    t = _fetch_add(counter, step)
    return t, min(t + step, hi)


@njit(cache=True, nogil=True)
def _single_lengths(data, offsets, lo, hi, step, counter, out):
    """``out[i]`` for texts ``lo <= i < hi``; a non-empty ``counter`` shares them out as in ``_pair_cells``."""
    win, st, tw, acc, head_x, head_p, prev, undo = _workspace()
    i, i_end = (lo, lo) if counter.shape[0] > 0 else (lo, hi)  # shared: nothing in hand until the first take
    while True:
        if i == i_end:
            i, i_end = _take(counter, step, hi)
            if i >= hi:
                break
        a = offsets[i]
        n = offsets[i + 1] - a
        if n > MAX_INPUT:
            out[i] = -1
        else:
            win[:n] = data[a : a + n]
            win[n : n + _PAD] = 0
            _start_text(st, tw, head_x)
            _next_generation(st, _S_PGEN, head_p)
            out[i] = _parse(win, n, n + _PAD, st, tw, acc, head_x, head_p, prev, undo) + GZIP_OVERHEAD
        i += 1


@njit(cache=True, nogil=True)
def _pair_cells(xdata, xoff, ydata, yoff, cols, items, lo, hi, step, counter, out):
    """Fill ``out[i, c] = C(x_i + b" " + y_j)`` for work items.

    ``items[t] = (i, c0, c1)`` covers the cells ``c0 <= c < c1`` of row ``i``; the training
    text of cell ``c`` is ``j = cols[i, c]`` when ``cols`` has columns (candidate lists), else
    ``j = c``.  Consecutive items of one row share the parse of ``x_i``.  With an empty
    ``counter`` (serial callers) the items ``lo <= t < hi`` are done in order; otherwise the caller's workers
    share ``counter`` and each takes the next ``step`` items until none are left (dynamic
    scheduling: no thread idles while another still holds a long queue).
    """
    win, st, tw, acc, head_x, head_p, prev, undo = _workspace()
    indexed = cols.shape[1] > 0
    saved_state = np.zeros(_N_STATE, dtype=np.int64)
    saved_lfreq = np.zeros(_L_CODES, dtype=np.int64)
    saved_dfreq = np.zeros(_D_CODES, dtype=np.int64)
    lfreq = tw[_T_LFREQ]
    dfreq = tw[_T_DFREQ]
    parsed = -1
    t, t_end = (lo, lo) if counter.shape[0] > 0 else (lo, hi)  # shared: nothing in hand until the first take
    while True:
        if t == t_end:
            t, t_end = _take(counter, step, hi)
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
            _start_text(st, tw, head_x)
            _next_generation(st, _S_PGEN, head_p)
            # Parse the part of x that no train text can change; n is only an upper bound here.
            _parse(win, MAX_INPUT + _PAD, nx + 1, st, tw, acc, head_x, head_p, prev, undo)
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
            pgen = st[_S_PGEN]
            st[:] = saved_state
            st[_S_PGEN] = pgen
            _next_generation(st, _S_PGEN, head_p)
            lfreq[:_L_CODES] = saved_lfreq
            dfreq[:_D_CODES] = saved_dfreq
            out[i, c] = _parse(win, n, n + _PAD, st, tw, acc, head_x, head_p, prev, undo) + GZIP_OVERHEAD
            for u in range(st[_S_UNDO] - 1, -1, -1):
                prev[undo[u, 0]] = undo[u, 1]


@njit(cache=True, nogil=True)
def gzip_lengths(data, offsets):
    """``len(gzip.compress(t, 9))`` for each text ``t = data[offsets[i]:offsets[i+1]]``.

    Texts longer than ``MAX_INPUT`` bytes get ``-1``.
    """
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    _single_lengths(data, offsets, 0, n, 1, np.zeros(0, dtype=np.int64), out)
    return out


_TEXTS_PER_TAKE = 16  # texts a worker of gzip_lengths_parallel takes at a time


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
def gzip_pair_cells(xdata, xoff, ydata, yoff, cols, items, out):
    """Fill ``out`` for every work item (see ``_pair_cells``), one thread.

    Pairs longer than ``MAX_INPUT`` bytes get ``-1``.
    """
    _pair_cells(xdata, xoff, ydata, yoff, cols, items, 0, items.shape[0], 1, np.zeros(0, dtype=np.int64), out)


@njit(cache=True, nogil=True, parallel=True)
def gzip_pair_cells_parallel(xdata, xoff, ydata, yoff, cols, items, n_workers, out):
    """Same as :func:`gzip_pair_cells` with ``n_workers`` parallel workers.

    The workers take the items one at a time from a shared counter, so they all finish
    within about one item of each other whatever the items cost.
    """
    counter = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):
        _pair_cells(xdata, xoff, ydata, yoff, cols, items, 0, items.shape[0], 1, counter, out)


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
    _pair_cells(xdata, xoff, ydata, yoff, _NO_COLS, items, 0, n_x, 1, np.zeros(0, dtype=np.int64), out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def gzip_pair_lengths_parallel(xdata, xoff, ydata, yoff, n_workers):
    """Same as :func:`gzip_pair_lengths`, rows shared out to ``n_workers`` parallel workers."""
    n_x, n_y = xoff.shape[0] - 1, yoff.shape[0] - 1
    out = np.empty((n_x, n_y), dtype=np.int64)
    items = _row_items(n_x, n_y)
    counter = np.zeros(1, dtype=np.int64)
    for _ in prange(n_workers):
        _pair_cells(xdata, xoff, ydata, yoff, _NO_COLS, items, 0, n_x, 1, counter, out)
    return out


NCD, CDM, CLM = 0, 1, 2  # metric codes for distances_from_lengths


@njit(cache=True, nogil=True, inline="always")
def _distance(a, b, c, metric):
    if metric == NCD:
        lo = a if a < b else b
        hi = a if a > b else b
        return (c - lo) / hi if hi != 0 else np.nan
    if metric == CDM:
        return c / (a + b) if a + b != 0 else np.nan
    return 1.0 - (a + b - c) / c if c != 0 else np.nan


@njit(cache=True, nogil=True)
def distances_from_lengths(cxy, cx, cy, metric):
    """Distances from compressed lengths: ``cxy[i, j] = C(x_i y_j)``, ``cx[i]``, ``cy[j]``.

    ``metric`` is ``NCD`` (normalized compression distance), ``CDM`` (compression-based
    dissimilarity, ``C(xy) / (C(x) + C(y))``) or ``CLM`` (``1 - (C(x) + C(y) - C(xy)) / C(xy)``).
    A zero denominator gives ``nan``; the caller reports it.
    """
    n_x, n_y = cxy.shape
    out = np.empty((n_x, n_y), dtype=np.float64)
    for i in range(n_x):
        for j in range(n_y):
            out[i, j] = _distance(cx[i], cy[j], cxy[i, j], metric)
    return out


@njit(cache=True, nogil=True)
def distances_from_lengths_rows(cxy, cx, cy, metric):
    """Same as :func:`distances_from_lengths` with a length per cell: ``cy[i, j]`` (candidate lists)."""
    n_x, n_y = cxy.shape
    out = np.empty((n_x, n_y), dtype=np.float64)
    for i in range(n_x):
        for j in range(n_y):
            out[i, j] = _distance(cx[i], cy[i, j], cxy[i, j], metric)
    return out


@njit(cache=True, nogil=True)
def stable_top_k(dist, k):
    """The ``k`` smallest entries of each row, ordered by (distance, column index).

    Equivalent to ``np.argsort(dist, kind="stable")[:, :k]`` in O(n k) per row; ``nan``
    sorts last, as in numpy.
    """
    n, m = dist.shape
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)
    for r in range(n):
        filled = 0
        for j in range(m):
            d = dist[r, j]
            if filled == k:
                worst = out_d[r, k - 1]
                # a later column wins only with a strictly smaller distance; nan never does
                if not (d < worst or (np.isnan(worst) and not np.isnan(d))):
                    continue
                pos = k - 1
            else:
                pos = filled
                filled += 1
            while pos > 0 and (d < out_d[r, pos - 1] or (np.isnan(out_d[r, pos - 1]) and not np.isnan(d))):
                out_d[r, pos] = out_d[r, pos - 1]
                out_i[r, pos] = out_i[r, pos - 1]
                pos -= 1
            out_d[r, pos] = d
            out_i[r, pos] = j
    return out_d, out_i


# --- first stage of search="rerank": character n-gram containment over an inverted index ---


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


_GROUP = 8  # queries that share one pass over the training texts' bit rows (cache reuse)


@njit(cache=True, nogil=True)
def _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, m, lo, hi, out):
    """Rows ``lo <= q < hi`` of :func:`top_candidates`."""
    n_y, n_words = ybits.shape
    shared = np.zeros((_GROUP, n_y), dtype=np.float64)
    qbits = np.zeros((_GROUP, n_words), dtype=np.uint64)
    score = np.empty(n_y, dtype=np.float64)
    chosen = np.empty(m, dtype=np.int64)
    for g0 in range(lo, hi, _GROUP):
        g1 = min(hi, g0 + _GROUP)
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
def top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, m):
    """The ``m`` training texts with the highest estimated similarity to each query, sorted by index.

    Query ``q`` holds the gram ids ``qids[qoff[q]:qoff[q + 1]]`` (``-1``: in no training
    text).  A gram ``g`` with ``col[g] >= 0`` is frequent: bit ``col[g]`` of the row
    ``ybits[d]`` says whether text ``d`` has it.  Otherwise it occurs in the training
    texts ``docs[ptr[g]:ptr[g + 1]]``.  With ``s`` the number of grams query and text
    share, text ``d`` scores ``(offset + s * yscale[d]) / max(ynorm[d], qnorm[q])`` (0
    when the denominator is 0); the ``m`` best per query are returned, ties by training
    index.
    """
    n_q = qoff.shape[0] - 1
    out = np.empty((n_q, m), dtype=np.int64)
    _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, m, 0, n_q, out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def top_candidates_parallel(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, m, n_chunks):
    """Same as :func:`top_candidates`, queries split into ``n_chunks`` parallel chunks."""
    n_q = qoff.shape[0] - 1
    out = np.empty((n_q, m), dtype=np.int64)
    for c in prange(n_chunks):
        lo, hi = c * n_q // n_chunks, (c + 1) * n_q // n_chunks
        _top_candidates(qids, qoff, qnorm, col, ptr, docs, ybits, ynorm, yscale, offset, m, lo, hi, out)
    return out
