"""Where the microseconds of one gzip-kernel pair go: parse against final-block Huffman build.

    NNZIP_DATA_DIR=../shared/data python benchmarks/profile_kernel.py

For AG News (20 x 1,000) and 20 Newsgroups (5 x 250) test texts, one thread: the whole
pair (``gzip_pair_cells``), and the final block's tree work alone, replayed on the very
symbol frequencies the pairs ended with (literal/length tree, distance tree, and the
rest of ``_flush_block``: ``scan_tree`` and the bit-length tree).  The parse (with the
per-pair set-up) is the difference.  Best of ``--repeat``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nnzip import _deflate as K
from nnzip.lengths import pack

from _common import best_of, data_args


@njit(cache=False)
def _final_blocks(xdata, xoff, ydata, yoff):
    """Each pair's final-block frequency rows (literal/length, distance), as the kernel leaves them."""
    n_x, n_y = xoff.shape[0] - 1, yoff.shape[0] - 1
    lf = np.zeros((n_x * n_y, K._L_CODES), dtype=np.int64)
    df = np.zeros((n_x * n_y, K._D_CODES), dtype=np.int64)
    win, st, tw, acc, heads, chain, grams = K._workspace()
    for i in range(n_x):
        for j in range(n_y):
            # a single pair through the kernel's own code; its tree rows are read back below
            x = xdata[xoff[i] : xoff[i + 1]]
            y = ydata[yoff[j] : yoff[j + 1]]
            n = x.shape[0] + 1 + y.shape[0]
            if n > K.MAX_INPUT:  # past the kernel's range: no frequencies to replay
                continue
            win[: x.shape[0]] = x
            win[x.shape[0]] = K.SEP
            win[x.shape[0] + 1 : n] = y
            win[n : n + K._PAD] = 0
            K._start_text(st, tw, heads)
            K._chain_text(win, 0, n - 2, heads, st[K._S_XGEN], chain, False)
            K._parse(win, n, n + K._PAD, st, tw, acc, chain, 0, grams, K._NO_TAB, heads)
            lf[i * n_y + j] = tw[K._T_LFREQ, : K._L_CODES]
            df[i * n_y + j] = tw[K._T_DFREQ, : K._D_CODES]
    return lf, df


@njit(cache=False)
def _replay(lf, df, part):
    """Run the final block's tree work on every recorded frequency table; ``part`` picks which."""
    tw = np.zeros((K._N_TREE_ROWS, K._HEAP_SIZE + 2), dtype=np.int64)
    acc = np.zeros(2, dtype=np.int64)
    total = 0
    for r in range(lf.shape[0]):
        tw[K._T_LFREQ, : K._L_CODES] = lf[r]
        tw[K._T_DFREQ, : K._D_CODES] = df[r]
        if part == 0:
            total += K._flush_block(tw, 1 << 20, 0, acc)
        elif part == 1:
            total += K._build_tree(
                tw[K._T_LFREQ], tw[K._T_LLEN], tw[K._T_LDAD], tw[K._T_HEAP], tw[K._T_ORDER], tw[K._T_BLCOUNT],
                K._L_CODES, K._STATIC_LTREE_LEN, True, K._EXTRA_LBITS, 257, 15, acc,
            )
        elif part == 2:
            total += K._build_tree(
                tw[K._T_DFREQ], tw[K._T_DLEN], tw[K._T_DDAD], tw[K._T_HEAP], tw[K._T_ORDER], tw[K._T_BLCOUNT],
                K._D_CODES, K._STATIC_DTREE_LEN, True, K._EXTRA_DBITS, 0, 15, acc,
            )
    return total


def best(fn, repeat):
    fn()  # compile and warm the caches first
    return best_of(fn, repeat)


def profile(name, X, Y, repeat):
    Xb, Yb = [x.encode() for x in X], [y.encode() for y in Y]
    xd, xo = pack(Xb)
    yd, yo = pack(Yb)
    n = len(X) * len(Y)
    items = np.array([(i, 0, len(Y)) for i in range(len(X))], dtype=np.int64)
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    cols = np.zeros((0, 0), dtype=np.int64)
    tables = K.y_tables(yd, yo)  # built once per training set (nnzip.lengths.TrainingSide keeps them): not timed
    total = best(lambda: K.gzip_pair_cells(xd, xo, yd, yo, tables, cols, items, out), repeat) / n * 1e6
    lf, df = _final_blocks(xd, xo, yd, yo)
    flush = best(lambda: _replay(lf, df, 0), repeat) / n * 1e6
    ltree = best(lambda: _replay(lf, df, 1), repeat) / n * 1e6
    dtree = best(lambda: _replay(lf, df, 2), repeat) / n * 1e6
    row = {"name": name, "total": total, "parse": total - flush, "final": flush, "ltree": ltree, "dtree": dtree,
           "rest": flush - ltree - dtree}
    print(f"{name}: {total:.2f} us/pair = parse and set-up {total - flush:.2f} + final block {flush:.2f} "
          f"(literal/length tree {ltree:.2f}, distance tree {dtree:.2f}, "
          f"scan_tree + bit-length tree {flush - ltree - dtree:.2f})", flush=True)
    return row


def table(rows) -> str:
    """Markdown table of :func:`profile` rows."""
    lines = [
        "| texts | µs per pair | parse + set-up | final block | of which literal/length tree | distance tree "
        "| scan_tree + bit-length tree |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['total']:.2f} | {r['parse']:.2f} | {r['final']:.2f} | {r['ltree']:.2f} | "
                     f"{r['dtree']:.2f} | {r['rest']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    args, ag, news = data_args(__doc__)
    rows = [profile("AG News 20 x 1,000", ag[:20], ag[1000:2000], args.repeat),
            profile("20news 5 x 250", news[:5], news[1000:1250], args.repeat)]
    print(table(rows))


if __name__ == "__main__":
    main()
