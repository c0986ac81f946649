"""numba-cuda kernels: the exact length of zlib's level-9 deflate of ``x + b" " + y`` for many pairs.

The CUDA twin of the CPU kernel's pair path (:mod:`nnzip._deflate`): the same emulation of
zlib's ``deflate_slow`` (hash chains fixed before the parse, lazy matching, the 4,096/1,024
chain budgets, the 32,506 distance limit, the 4,096 ``TOO_FAR`` rule, blocks flushed every
16,383 symbols) and of ``_tr_flush_block`` (stored / fixed / dynamic, zlib's heap-ordered
Huffman build and length limiting), counting bits instead of writing them. Every length
equals ``len(gzip.compress(x + b" " + y, 9))``; a pair longer than ``MAX_INPUT`` bytes gets
``-1`` and the caller computes it with zlib.

How work maps to the device, and why:

* **Training side, resident.** The training texts (``yd``, ``yoff``) and their per-text
  tables (``ytab``, :func:`nnzip._deflate.y_tables` with all three columns: 12 bytes per
  byte) are copied to device memory once and read by every launch. With them a pair's parse
  never walks a training text's own hash chain: it takes the longest match among ``y``'s own
  earlier positions from the table and walks only the candidates in ``x``.
* **One thread block per query row for the row's preparation** (:func:`rows_kernel`): the
  block clears the row's hash heads and gram sets; then threads 1 to 6 each fill the gram set
  of one length (no atomics: each owns its set) while thread 0 builds the row's hash chains
  and parses the part of ``x + b" "`` that no training text can change (the checkpoint of
  the CPU kernel). This is a few steps per byte of the query, against one parse of ``y`` for
  each of thousands of pairs. The row's state, symbol counts, chains, heads and gram sets
  stay in device memory for the pairs.
* **One thread per pair** (:func:`pairs_kernel`): grid ``(ceil(m / TPB), rows)``, so the
  threads of a block share one query row, whose arrays (a few tens of KiB) then sit in L1/L2
  for all of them, and consecutive threads take consecutive training texts in the order the
  caller gives (sorted by length, so that the 32 threads of a warp parse texts of about the
  same length and wait little for each other). A pair's parse is sequential by nature (each
  step's lazy-match decision depends on the previous one) and branchy, and the final block's
  Huffman build is a chain of heap operations: neither splits usefully over the lanes of a
  warp, so a pair gets one thread and the GPU's width goes to the number of pairs. Each
  thread keeps its symbol counts and its Huffman workspace (about 5.6 KiB) in local memory;
  nothing goes back to the host per pair.
* **No window copies.** A pair's bytes are read where they lie: ``x + b" "`` from the row's
  copy, ``y`` from the training data, zeros past the end (:func:`_byte`); only 3-byte
  hashes, candidate comparisons and n-gram lookups read bytes, and they read few.

The parse and the Huffman build follow the CPU kernel's functions line for line, in a thread's
own types: a ``uint32`` heap, ``uint8`` code lengths, ``int16`` tree links, code tables
computed instead of read (a warp's lanes would serialise on divergent constant reads), which
keeps a thread's workspace at 5.5 KiB of local memory where the CPU kernel's is 55 KiB.

Only plain numba-cuda features are used (local arrays, ``syncthreads``, no shared memory, no
atomics, no llvm intrinsics), so the kernels run unchanged under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) that CI uses.
Values are cast to ``int64`` on reading, so the simulator's numpy arithmetic and the compiled
code agree (numpy keeps a small integer type where numba widens).
"""

import numpy as np
from numba import cuda

from ._deflate import GZIP_OVERHEAD, MAX_INPUT

# zlib's level-9 parameters and deflate's code-space sizes (the CPU kernel uses the same).
_WMASK = 32767
_MAX_MATCH = 258
_MAX_DIST = 32506  # w_size - MIN_LOOKAHEAD
_TOO_FAR = 4096
_MAX_CHAIN = 4096
_GOOD_LENGTH = 32
_SYM_LIMIT = 16383  # lit_bufsize - 1 symbols per block
_L_CODES = 286
_D_CODES = 30
_BL_CODES = 19
_END_BLOCK = 256
_PAD = 300  # the zero bytes after a pair that a parse may read (as the CPU kernel's window)

# Sizes of a thread's Huffman workspace: the literal/length tree has 286 leaves and at most
# 285 inner nodes; the heap holds the leaves plus a sentinel after the last.
_NODES = 2 * _L_CODES + 1
_D_NODES = 2 * _D_CODES + 1
_BL_NODES = 2 * _BL_CODES + 1
_HEAP = _L_CODES + 2
_HEAP_TOP = 0xFFFFFFFF  # sorts after every node packed as freq << 16 | depth << 10 | node
_TREE_L, _TREE_D, _TREE_BL = 0, 1, 2

# The n-gram sets of x + b" " (3- to 8-byte strings that occur in it): one bit per slot. Any
# slot function serves (a collision only keeps a candidate); this one needs no 64-bit multiply.
_GRAM_MAX = 8
_GRAM_SLOTS = 65521  # a prime: a gram's slot is its bytes as a base-257 number modulo it
_GRAM_WORDS = 1024  # int64 words per gram length: 65,536 bits

_N_HEADS = 32768
_N_STATE = 7  # strstart, match_length, match_start, available, block_start, symbols, bits
_BL_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15], dtype=np.int64)

ROWS_TPB = 128  # threads of a row-preparation block


# --- the bytes and hash chains of a pair -------------------------------------------------


@cuda.jit(device=True)
def _byte(xw, wa, nx, yd, ys, n, q):
    """Byte ``q`` of ``x + b" " + y``: ``x + b" "`` at ``xw[wa:]``, ``y`` at ``yd[ys + nx + 1:]``,
    zero from ``n`` on (``n = nx + 1`` reads ``x + b" "`` alone)."""
    if q <= nx:
        return np.int64(xw[wa + q])
    if q < n:
        return np.int64(yd[ys + q])
    return np.int64(0)


@cuda.jit(device=True)
def _hash3(xw, wa, nx, yd, ys, n, q):
    """zlib's hash of the 3 bytes at ``q``."""
    b0 = _byte(xw, wa, nx, yd, ys, n, q)
    b1 = _byte(xw, wa, nx, yd, ys, n, q + 1)
    b2 = _byte(xw, wa, nx, yd, ys, n, q + 2)
    return ((b0 << 10) ^ (b1 << 5) ^ b2) & _WMASK


@cuda.jit(device=True)
def _x_link(xc, wa, nx, c_end, c_sep, q):
    """The last position before ``q`` with ``q``'s hash, for ``q`` in ``x + b" "`` (0: none).

    Positions inside ``x`` come from the row's chains; the two whose 3 bytes reach into ``y``
    (``nx - 1`` and ``nx``) from the pair's own ``c_end`` and ``c_sep``.
    """
    if q < nx - 1:
        return np.int64(xc[wa + q])
    if q == nx - 1:
        return c_end
    return c_sep


@cuda.jit(device=True)
def _x_prev(h, base, h_sep, h_end, heads, r):
    """The last position before ``y`` (which starts at ``base``) with hash ``h`` (0: none)."""
    if h == h_sep:
        return base - 1
    if h == h_end:
        return base - 2
    return np.int64(heads[r, h])


@cuda.jit(device=True)
def _y_link(ytab, yb, base, q, h_sep, h_end, heads, r):
    """The same for a position ``q >= base`` of ``y``: from ``y``'s own chain (its table's
    column 0) if it has an earlier position with the hash, else the last one before ``y``."""
    link = np.int64(ytab[yb + q - base, 0])
    if link >= 0:
        return base + link
    return _x_prev(-1 - link, base, h_sep, h_end, heads, r)


@cuda.jit(device=True)
def _match_length(xw, wa, nx, yd, ys, n, cur, p, lim):
    """How many bytes the strings at ``cur`` and ``p`` share, at most ``lim``, for a chain
    candidate ``cur`` whose first 2 bytes equal ``p``'s (the third then does too: same hash)."""
    i = 3
    while i < lim and _byte(xw, wa, nx, yd, ys, n, cur + i) == _byte(xw, wa, nx, yd, ys, n, p + i):
        i += 1
    return i


@cuda.jit(device=True)
def _gram_slot(xw, wa, nx, yd, ys, n, q, k):
    """Slot of the ``k`` bytes at ``q`` in a gram set."""
    h = np.int64(0)
    for t in range(k):
        h = (h * 257 + _byte(xw, wa, nx, yd, ys, n, q + t)) % _GRAM_SLOTS
    return h


@cuda.jit(device=True)
def _x_stop(xw, wa, nx, yd, ys, n, p, best, base, grams, r):
    """Chain candidates below the returned position cannot beat a match of length ``best`` at ``p``.

    As the CPU kernel's ``_x_stop``: a candidate ``q < base - best`` in ``x + b" "`` can match
    more than ``best`` bytes only if the ``best + 1`` bytes at ``p`` occur in ``x + b" "``; if
    their gram bit is clear (a slot collision only sets bits) those candidates are done.
    Returns 0 (keep every candidate) otherwise.
    """
    k = best + 1
    if k > _GRAM_MAX or k < 3:
        return np.int64(0)
    s = _gram_slot(xw, wa, nx, yd, ys, n, p, k)
    if (np.int64(grams[r, k - 3, s >> 6]) >> (s & 63)) & 1:
        return np.int64(0)
    return base - best


# --- codes and the Huffman build of zlib's trees.c ----------------------------------------


@cuda.jit(device=True)
def _bit_length(v):
    """Number of bits of ``v > 0``."""
    b = 0
    while v != 0:
        v >>= 1
        b += 1
    return b


@cuda.jit(device=True)
def _length_code(lm3):
    """Length code (0..28) of a match of length ``lm3 + 3``, as zlib's ``_length_code``."""
    if lm3 < 8:
        return lm3
    if lm3 == 255:
        return 28  # length 258 has its own code
    e = _bit_length(lm3) - 3  # extra bits
    return 4 + 4 * e + ((lm3 >> e) & 3)


@cuda.jit(device=True)
def _dist_code(d):
    """Distance code (0..29) of distance ``d + 1``, as zlib's ``d_code``."""
    if d < 4:
        return d
    b = _bit_length(d) - 1
    return 2 * b + ((d >> (b - 1)) & 1)


@cuda.jit(device=True)
def _extra_bits(tree, n):
    """Extra bits of symbol ``n`` of a tree (trees.c's ``extra_lbits``/``extra_dbits``/``extra_blbits``)."""
    if tree == _TREE_L:
        if n < 265 or n == 285:
            return 0
        return (n - 261) >> 2
    if tree == _TREE_D:
        return 0 if n < 4 else (n - 2) >> 1
    if n == 16:
        return 2
    if n == 17:
        return 3
    if n == 18:
        return 7
    return 0


@cuda.jit(device=True)
def _static_len(tree, n):
    """Code length of symbol ``n`` in the fixed trees."""
    if tree == _TREE_D:
        return 5
    if n < 144:
        return 8
    if n < 256:
        return 9
    if n < 280:
        return 7
    return 8


@cuda.jit(device=True)
def _smaller_child(heap, j):
    """Index and node of the smaller of the children ``j`` and ``j + 1`` (the right one on equal
    keys, as zlib's ``smaller()``)."""
    c = np.int64(heap[j])
    r = np.int64(heap[j + 1])
    if (r >> 10) <= (c >> 10):
        return j + 1, r
    return j, c


@cuda.jit(device=True)
def _pqdownheap(heap, heap_len, k):
    """zlib's ``pqdownheap`` on nodes packed as ``freq << 16 | depth << 10 | node``; keys
    compare by ``node >> 10`` (frequency, then depth) and ``heap[heap_len + 1]`` is ``_HEAP_TOP``."""
    v = np.int64(heap[k])
    key = v >> 10
    while True:
        j = k << 1
        if j > heap_len:
            break
        j, c = _smaller_child(heap, j)
        if key <= (c >> 10):
            break
        heap[k] = c
        k = j
    heap[k] = v


@cuda.jit(device=True)
def _pqdownheap_bottom_up(heap, heap_len):
    """``_pqdownheap(heap, heap_len, 1)`` for a root that was the heap's last node: the hole
    goes down the smaller children first, then the node climbs back (see the CPU kernel)."""
    v = np.int64(heap[1])
    key = v >> 10
    k = 1
    while True:
        j = k << 1
        if j > heap_len:
            break
        j, c = _smaller_child(heap, j)
        heap[k] = c
        k = j
    while k > 1:
        up = np.int64(heap[k >> 1])
        if (up >> 10) < key:
            break
        heap[k] = up
        k >>= 1
    heap[k] = v


@cuda.jit(device=True)
def _build_tree(freq, length, dad, heap, order, bl_count, elems, tree, max_length, acc):
    """zlib's ``build_tree`` + ``gen_bitlen``: code lengths and the block's bit costs.

    ``acc[0]`` accumulates the dynamic-block bits (``opt_len``), ``acc[1]`` the fixed-block
    bits (``static_len``, literal/length and distance trees only). Returns ``max_code``.
    """
    stree = tree != _TREE_BL
    heap_len = 0
    max_code = -1
    for n in range(elems):
        f = np.int64(freq[n])
        length[n] = 0
        if f != 0:
            heap_len += 1
            heap[heap_len] = (f << 16) | n
            max_code = n
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
        if stree:
            acc[1] -= _static_len(tree, node)
    heap[heap_len + 1] = _HEAP_TOP
    for k in range(heap_len // 2, 0, -1):
        _pqdownheap(heap, heap_len, k)
    node = elems
    n_order = 0
    while True:
        a = np.int64(heap[1])
        heap[1] = heap[heap_len]
        heap[heap_len] = _HEAP_TOP
        heap_len -= 1
        _pqdownheap_bottom_up(heap, heap_len)
        b = np.int64(heap[1])
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
    root = np.int64(heap[1]) & 1023

    # gen_bitlen: depths become lengths, walking from the root down, clipped at max_length.
    for bits in range(16):
        bl_count[bits] = 0
    length[root] = 0
    overflow = 0
    for h in range(n_order - 1, -1, -1):
        n = np.int64(order[h])
        bits = np.int64(length[np.int64(dad[n])]) + 1
        if bits > max_length:
            bits = max_length
            overflow += 1
        length[n] = bits
        if n > max_code:
            continue
        bl_count[bits] += 1
        xbits = _extra_bits(tree, n)
        f = np.int64(freq[n])
        acc[0] += f * (bits + xbits)
        if stree:
            acc[1] += f * (_static_len(tree, n) + xbits)
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
        n = np.int64(bl_count[bits])
        while n != 0:
            m = np.int64(order[h]) if h < n_order else root
            h += 1
            if m > max_code:
                continue
            old = np.int64(length[m])
            if old != bits:
                acc[0] += (bits - old) * np.int64(freq[m])
                length[m] = bits
            n -= 1
    return max_code


@cuda.jit(device=True)
def _scan_tree(length, max_code, bl_freq):
    """zlib's ``scan_tree``: count the run-length codes that describe one tree's lengths."""
    prevlen = -1
    nextlen = np.int64(length[0])
    count = 0
    max_count = 7
    min_count = 4
    if nextlen == 0:
        max_count = 138
        min_count = 3
    for n in range(max_code + 1):
        curlen = nextlen
        nextlen = np.int64(length[n + 1]) if n < max_code else np.int64(0xFFFF)
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


@cuda.jit(device=True)
def _flush_block(lfreq, dfreq, bfreq, llen, dlen, blen, dad, heap, order, bl_count, acc, stored_len, bits):
    """Bits after emitting the current block the way ``_tr_flush_block`` chooses to
    (stored, fixed or dynamic). The symbol counts are left modified: the caller resets them."""
    acc[0] = 0
    acc[1] = 0
    l_max = _build_tree(lfreq, llen, dad, heap, order, bl_count, _L_CODES, _TREE_L, 15, acc)
    d_max = _build_tree(dfreq, dlen, dad, heap, order, bl_count, _D_CODES, _TREE_D, 15, acc)
    for i in range(_BL_CODES):
        bfreq[i] = 0
    _scan_tree(llen, l_max, bfreq)
    _scan_tree(dlen, d_max, bfreq)
    _build_tree(bfreq, blen, dad, heap, order, bl_count, _BL_CODES, _TREE_BL, 7, acc)
    max_blindex = _BL_CODES - 1
    while max_blindex >= 3:
        if blen[_BL_ORDER[max_blindex]] != 0:
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


@cuda.jit(device=True)
def _reset_block(lfreq, dfreq):
    for i in range(_L_CODES):
        lfreq[i] = 0
    for i in range(_D_CODES):
        dfreq[i] = 0
    lfreq[_END_BLOCK] = 1


# --- the parse ---------------------------------------------------------------------------


@cuda.jit(device=True)
def _parse(
    pair, xw, wa, nx, yd, ys, n_data, n, known, xc, c_end, c_sep, heads, r, grams, ytab, yb, h_sep, h_end,
    st, lfreq, dfreq, bfreq, llen, dlen, blen, dad, heap, order, bl_count, acc,
):
    """Run ``deflate_slow`` from the state in ``st``, as the CPU kernel's ``_parse``.

    Bytes come from :func:`_byte` with ``n_data`` bytes known to be data. Prefix mode
    (``pair`` false, no ``y``): ``n`` is only an upper bound, ``known = nx + 1``, and the parse
    stops, without changing anything, at the first step whose outcome could depend on a byte
    of ``y``; returns 0. Pair mode: ``y`` starts at ``base = nx + 1``, its positions' chain
    links and own longest matches come from ``ytab`` (rows from ``yb``), the walk of a chain
    into ``x`` stops early through the row's gram sets (:func:`_x_stop`); the parse finishes
    the stream and returns the deflate length in bytes.
    """
    base = nx + 1 if pair else 0
    p = st[0]
    match_length = st[1]
    match_start = st[2]
    available = st[3]
    block_start = st[4]
    symbols = st[5]
    bits = st[6]
    while True:
        lookahead = n - p
        if lookahead == 0:
            break
        hash_head = np.int64(0)
        if lookahead >= 3:
            if p + 2 >= known:
                break
            if pair and p >= base:
                hash_head = _y_link(ytab, yb, base, p, h_sep, h_end, heads, r)
            else:
                hash_head = _x_link(xc, wa, nx, c_end, c_sep, p)
        prev_length = match_length
        prev_match = match_start
        new_length = np.int64(2)
        new_start = match_start
        if hash_head != 0 and prev_length < _MAX_MATCH and p - hash_head <= _MAX_DIST:
            # longest_match: the first chain entry with the longest match wins.
            chain_left = _MAX_CHAIN if prev_length < _GOOD_LENGTH else _MAX_CHAIN >> 2
            best = prev_length
            nice = _MAX_MATCH if lookahead >= _MAX_MATCH else lookahead
            limit = p - _MAX_DIST if p > _MAX_DIST else 0
            lim = known - p if known - p < _MAX_MATCH else _MAX_MATCH
            cur = hash_head
            walk = True
            opened = False
            in_x = False
            x_stop = np.int64(0)
            if pair and cur >= base:
                # y's own candidates first: its table has their best match and their number
                t = yb + p - base
                packed = np.int64(ytab[t, 1])
                starts = np.int64(ytab[t, 2])
                ylen = packed & 511
                ycount = (packed >> 9) & 8191
                ystart = starts & 0xFFFF
                if ycount > chain_left:
                    # the smaller budget ends inside y: the best of its first candidates
                    ylen = packed >> 22
                    ycount = chain_left
                    ystart = (starts >> 16) & 0xFFFF
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
                        cur = _x_prev(_hash3(xw, wa, nx, yd, ys, n_data, p), base, h_sep, h_end, heads, r)
                        walk = cur > limit
            b0 = _byte(xw, wa, nx, yd, ys, n_data, p)
            b1 = _byte(xw, wa, nx, yd, ys, n_data, p + 1)
            # zlib's order: the bytes at the current best length's end first, then bytes 0 and 1
            se1 = _byte(xw, wa, nx, yd, ys, n_data, p + best - 1)
            se = _byte(xw, wa, nx, yd, ys, n_data, p + best)
            while walk:
                if cur < base and not in_x:
                    # the walk leaves y: from here on a candidate can only win if y's next
                    # best + 1 bytes occur in x + b" " (or its match runs on into y)
                    in_x = True
                    x_stop = _x_stop(xw, wa, nx, yd, ys, n_data, p, best, base, grams, r)
                    if cur < x_stop:
                        break
                if (
                    best >= lim
                    or (
                        _byte(xw, wa, nx, yd, ys, n_data, cur + best) == se
                        and _byte(xw, wa, nx, yd, ys, n_data, cur + best - 1) == se1
                    )
                ) and _byte(xw, wa, nx, yd, ys, n_data, cur) == b0 and _byte(xw, wa, nx, yd, ys, n_data, cur + 1) == b1:
                    i = _match_length(xw, wa, nx, yd, ys, n_data, cur, p, lim)
                    if i == lim and lim < _MAX_MATCH:
                        opened = True
                        break
                    if i > best:
                        new_start = cur
                        best = i
                        if i >= nice:
                            break
                        if in_x:
                            stop = _x_stop(xw, wa, nx, yd, ys, n_data, p, best, base, grams, r)
                            x_stop = stop if stop > x_stop else x_stop
                        if best < lim:
                            se1 = _byte(xw, wa, nx, yd, ys, n_data, p + best - 1)
                            se = _byte(xw, wa, nx, yd, ys, n_data, p + best)
                if pair and cur >= base:
                    cur = _y_link(ytab, yb, base, cur, h_sep, h_end, heads, r)
                else:
                    cur = _x_link(xc, wa, nx, c_end, c_sep, cur)
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
        block_end = -1  # where the block ends when this step fills it
        if emit:
            lfreq[257 + _length_code(prev_length - 3)] += 1
            dfreq[_dist_code(p - 2 - prev_match)] += 1
            symbols += 1
            # the match's other positions are in the chains already: skip past them
            p += prev_length - 1
            available = 0
            match_length = 2
            if symbols == _SYM_LIMIT:
                block_end = p
        elif available:
            lfreq[_byte(xw, wa, nx, yd, ys, n_data, p - 1)] += 1
            symbols += 1
            if symbols == _SYM_LIMIT:
                block_end = p  # zlib flushes before it moves on to the next byte
            p += 1
        else:
            available = 1
            p += 1
        if block_end >= 0:
            # one flush call for both cases: a GPU inlines each call of this large function
            bits = _flush_block(
                lfreq, dfreq, bfreq, llen, dlen, blen, dad, heap, order, bl_count, acc, block_end - block_start, bits
            )
            _reset_block(lfreq, dfreq)
            block_start = block_end
            symbols = 0
    st[0] = p
    st[1] = match_length
    st[2] = match_start
    st[3] = available
    st[4] = block_start
    st[5] = symbols
    st[6] = bits
    if p < n:
        return np.int64(0)
    if available:
        lfreq[_byte(xw, wa, nx, yd, ys, n_data, p - 1)] += 1
    bits = _flush_block(lfreq, dfreq, bfreq, llen, dlen, blen, dad, heap, order, bl_count, acc, p - block_start, bits)
    return (bits + 7) >> 3


@cuda.jit(device=True)
def _run(
    pair, xw, wa, nx, yd, ys, n_data, n, known, xc, c_end, c_sep, heads, r, grams, ytab, yb, h_sep, h_end, rstate, rfreq
):
    """:func:`_parse` in a thread's own workspace (local memory): a pair resumes from its row's
    saved parse (``rstate[r]``, ``rfreq[r]``); a row's prefix parse starts afresh and is saved there."""
    st = cuda.local.array(_N_STATE, np.int64)
    lfreq = cuda.local.array(_L_CODES, np.int32)
    dfreq = cuda.local.array(_D_CODES, np.int32)
    bfreq = cuda.local.array(_BL_CODES, np.int32)
    llen = cuda.local.array(_NODES, np.uint8)
    dlen = cuda.local.array(_D_NODES, np.uint8)
    blen = cuda.local.array(_BL_NODES, np.uint8)
    dad = cuda.local.array(_NODES, np.int16)
    order = cuda.local.array(_NODES, np.int16)
    heap = cuda.local.array(_HEAP, np.uint32)
    bl_count = cuda.local.array(16, np.int32)
    acc = cuda.local.array(2, np.int64)
    if pair:
        for i in range(_N_STATE):
            st[i] = rstate[r, i]
        for i in range(_L_CODES):
            lfreq[i] = rfreq[r, i]
        for i in range(_D_CODES):
            dfreq[i] = rfreq[r, _L_CODES + i]
    else:
        for i in range(_N_STATE):
            st[i] = 0
        st[1] = 2  # match_length
        _reset_block(lfreq, dfreq)
    length = _parse(
        pair, xw, wa, nx, yd, ys, n_data, n, known, xc, c_end, c_sep, heads, r, grams, ytab, yb, h_sep, h_end,
        st, lfreq, dfreq, bfreq, llen, dlen, blen, dad, heap, order, bl_count, acc,
    )
    if not pair:
        for i in range(_N_STATE):
            rstate[r, i] = st[i]
        for i in range(_L_CODES):
            rfreq[r, i] = lfreq[i]
        for i in range(_D_CODES):
            rfreq[r, _L_CODES + i] = dfreq[i]
    return length


# --- kernels -----------------------------------------------------------------------------


@cuda.jit
def rows_kernel(xw, woff, xc, heads, grams, rstate, rfreq):
    """Prepare query row ``r = blockIdx.x`` (one block per row) for :func:`pairs_kernel`.

    ``x_r + b" "`` is ``xw[woff[r]:woff[r + 1]]``. Fills, for the row: ``xc[woff[r] + q]`` the
    hash chain of each position ``q < nx - 1``; ``heads[r, h]`` the last of those positions with
    hash ``h`` (0: none); ``grams[r, k - 3]`` the gram set of its ``k``-byte strings
    (``3 <= k <= 8``); ``rstate[r]`` and ``rfreq[r]`` (286 literal/length then 30 distance
    counts) the state of the parse of ``x_r + b" "`` up to its first step that depends on ``y``.
    Rows longer than ``MAX_INPUT`` are skipped (each of their pairs is too).
    """
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    wa = np.int64(woff[r])
    nx = np.int64(woff[r + 1]) - wa - 1
    if nx + 1 > MAX_INPUT:
        return
    for h in range(t, _N_HEADS, nt):
        heads[r, h] = 0
    for w in range(t, (_GRAM_MAX - 2) * _GRAM_WORDS, nt):
        grams[r, w // _GRAM_WORDS, w % _GRAM_WORDS] = 0
    cuda.syncthreads()
    if 1 <= t <= _GRAM_MAX - 2:
        # threads 1 to 6 each own the gram set of one length: plain ORs, no atomics
        k = t + 2
        for q in range(nx + 2 - k):
            s = _gram_slot(xw, wa, nx, xw, -1, nx + 1, q, k)
            grams[r, k - 3, s >> 6] |= np.int64(1) << (s & 63)
    if t != 0:
        return
    # thread 0: the row's hash chains and heads, then its parse up to the first step that depends on y
    for q in range(nx - 1):
        h = _hash3(xw, wa, nx, xw, -1, nx + 1, q)
        xc[wa + q] = heads[r, h]
        heads[r, h] = q
    _run(False, xw, wa, nx, xw, -1, nx + 1, MAX_INPUT + _PAD, nx + 1, xc, 0, 0, heads, r, grams, rstate, 0, -1, -1,
         rstate, rfreq)


@cuda.jit
def pairs_kernel(xw, woff, xc, heads, grams, rstate, rfreq, yd, yoff, ytab, jidx, oidx, out):
    """``out[r, oidx[., c]] = len(gzip.compress(x_r + b" " + y_j, 9))`` with ``j = jidx[., c]``.

    Thread ``c = blockIdx.x * blockDim.x + threadIdx.x`` of row ``r = blockIdx.y``; ``jidx``
    and ``oidx`` have one row per query row, or one row that all query rows share. The row
    arrays come from :func:`rows_kernel`, ``ytab`` is :func:`nnzip._deflate.y_tables` (three
    columns) of the training texts ``yd``/``yoff``. Pairs longer than ``MAX_INPUT`` get ``-1``.
    """
    c = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    if c >= jidx.shape[1]:
        return
    jr = r if jidx.shape[0] > 1 else 0
    j = np.int64(jidx[jr, c])
    o = np.int64(oidx[jr, c])
    wa = np.int64(woff[r])
    nx = np.int64(woff[r + 1]) - wa - 1
    yb = np.int64(yoff[j])
    ny = np.int64(yoff[j + 1]) - yb
    n = nx + 1 + ny
    if n > MAX_INPUT:
        out[r, o] = -1
        return
    ys = yb - (nx + 1)
    # the chains of the two positions that straddle the separator, and their hashes
    last = n - 3
    h_sep = np.int64(-1)
    h_end = np.int64(-1)
    c_end = np.int64(0)
    c_sep = np.int64(0)
    if nx >= 1 and nx - 1 <= last:
        h_end = _hash3(xw, wa, nx, yd, ys, n, nx - 1)
        c_end = np.int64(heads[r, h_end])
    if nx <= last:
        h_sep = _hash3(xw, wa, nx, yd, ys, n, nx)
        c_sep = nx - 1 if h_sep == h_end else np.int64(heads[r, h_sep])
    length = _run(True, xw, wa, nx, yd, ys, n, n, n + _PAD, xc, c_end, c_sep, heads, r, grams, ytab, yb, h_sep, h_end,
                  rstate, rfreq)
    out[r, o] = length + GZIP_OVERHEAD
