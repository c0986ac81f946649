"""Per-pair cost of computing C(x + " " + y): the paper's loop, the usual fixes, zlib at its best, nnzip.

Run from the repository root (needs the benchmark data, see README):

    NNZIP_DATA_DIR=../shared/data python benchmarks/bench_ncd.py --output benchmarks/results.md

Every method runs in this one process on the same texts.  The (c) row times zlib's own
deflate in a C loop (``deflateReset`` + ``deflate`` per pair, compiled here with the system
C compiler when one and ``zlib.h`` are present) so that no Python overhead is charged to
zlib.  The (e) rows are the best public exact approach, Ken Schutte's copy-prefix
(gzip-knn): a raw deflate stream fed the test text and the space once per row, copied per
pair (``compressobj.copy()`` in Python, ``deflateCopy`` in the C loop).  Peak memory of a
2,000 x 25,000 neighbour search is measured in a child process.
The npc-gzip row appears when that package is importable; it pins ``numpy<2``, so install
it beside nnzip with ``pip install --no-deps npc-gzip`` (its compressor needs only ``gzip``).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gzip
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

import nnzip
from nnzip import lengths
from nnzip.compressors import get_compressor
from nnzip.evaluate import machine as machine_info
from nnzip.lengths import pack

import profile_kernel
from _common import best_of, read_texts

C_LOOP = r"""
#include <string.h>
#include <zlib.h>
/* Compressed gzip length of x_i + " " + y_j for every pair, one z_stream reused throughout. */
int pair_lengths(const unsigned char *xd, const long *xo, int nx, const unsigned char *yd,
                 const long *yo, int ny, long *out, unsigned char *buf, long bufsize,
                 unsigned char *outbuf, long outsize) {
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (deflateInit2(&s, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    for (int i = 0; i < nx; i++) {
        long lx = xo[i + 1] - xo[i];
        memcpy(buf, xd + xo[i], lx);
        buf[lx] = ' ';
        for (int j = 0; j < ny; j++) {
            long ly = yo[j + 1] - yo[j];
            if (lx + 1 + ly > bufsize) return -2;
            memcpy(buf + lx + 1, yd + yo[j], ly);
            deflateReset(&s);
            s.next_in = buf; s.avail_in = lx + 1 + ly;
            s.next_out = outbuf; s.avail_out = outsize;
            if (deflate(&s, Z_FINISH) != Z_STREAM_END) return -3;
            out[(long)i * ny + j] = s.total_out;
        }
    }
    deflateEnd(&s);
    return 0;
}

/* Ken Schutte's copy-prefix approach: a raw deflate stream fed x_i + " " once per row, then
   deflateCopy (a full copy of the ~256 KB state) and deflate(y_j, Z_FINISH) per pair; the
   gzip length is the raw length + 18 (10-byte header, CRC32, ISIZE). */
int copy_lengths(const unsigned char *xd, const long *xo, int nx, const unsigned char *yd,
                 const long *yo, int ny, long *out, unsigned char *buf, long bufsize,
                 unsigned char *outbuf, long outsize) {
    z_stream base, s;
    memset(&base, 0, sizeof(base));
    if (deflateInit2(&base, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    for (int i = 0; i < nx; i++) {
        long lx = xo[i + 1] - xo[i];
        if (lx + 1 > bufsize) return -2;
        memcpy(buf, xd + xo[i], lx);
        buf[lx] = ' ';
        deflateReset(&base);
        base.next_in = buf; base.avail_in = lx + 1;
        base.next_out = outbuf; base.avail_out = outsize;
        if (deflate(&base, Z_NO_FLUSH) != Z_OK) return -3;
        for (int j = 0; j < ny; j++) {
            long ly = yo[j + 1] - yo[j];
            if (deflateCopy(&s, &base) != Z_OK) return -4;
            s.next_in = (unsigned char *)(yd + yo[j]); s.avail_in = ly;
            s.next_out = outbuf; s.avail_out = outsize;
            if (deflate(&s, Z_FINISH) != Z_STREAM_END) return -3;
            out[(long)i * ny + j] = s.total_out + 18;
            deflateEnd(&s);
        }
    }
    deflateEnd(&base);
    return 0;
}
"""


C_RESET = "(c) zlib in C: deflateReset + deflate per pair"
COPY_PY = "(e) copy-prefix: raw compressobj fed x + b' ' once, .copy() + compress(y) + flush() per pair"
C_COPY = "(e) copy-prefix in C: deflateCopy + deflate(y) per pair"


def paper_loop(X: list[str], Y: list[str]) -> np.ndarray:
    """The original code: compress the train text and the concatenation for every pair."""
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    for i, x in enumerate(X):
        len(gzip.compress(x.encode()))
        for j, y in enumerate(Y):
            len(gzip.compress(y.encode()))
            out[i, j] = len(gzip.compress(" ".join([x, y]).encode()))
    return out


def cached_loop(X: list[str], Y: list[str]) -> np.ndarray:
    """Train lengths computed once, ``gzip.compress`` per pair (npc-gzip, Raschka)."""
    [len(gzip.compress(y.encode())) for y in Y]
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            out[i, j] = len(gzip.compress((x + " " + y).encode()))
    return out


def compressobj_loop(X: list[bytes], Y: list[bytes]) -> np.ndarray:
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            out[i, j] = len(c.compress(x + b" " + y)) + len(c.flush())
    return out


def copy_prefix_loop(X: list[bytes], Y: list[bytes]) -> np.ndarray:
    """Ken Schutte's gzip-knn: one raw deflate stream per test text, ``.copy()`` per pair.

    The stream is fed ``x + b" "`` once; each pair copies it and adds ``y``.  The gzip
    length is the prefix's output so far + the copy's output + 18 (header, CRC32, ISIZE).
    """
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    for i, x in enumerate(X):
        base = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        head = len(base.compress(x + b" ")) + 18
        for j, y in enumerate(Y):
            c = base.copy()
            out[i, j] = head + len(c.compress(y)) + len(c.flush())
    return out


def build_c_loop(workdir: Path):
    """Compile the zlib C loops; ``None`` when no compiler or zlib headers are available.

    Returns the ``deflateReset`` loop and the ``deflateCopy`` (copy-prefix) loop.
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/zlib.h").exists():
        return None
    src = workdir / "zloop.c"
    lib = workdir / "zloop.so"
    src.write_text(C_LOOP)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", str(src), "-o", str(lib), "-lz"], check=True)
    lib = ctypes.CDLL(str(lib))
    return lib.pair_lengths, lib.copy_lengths


def c_loop(fn, X: list[bytes], Y: list[bytes]) -> np.ndarray:
    xd, xo = pack(X)
    yd, yo = pack(Y)
    out = np.empty((len(X), len(Y)), dtype=np.int64)
    size = max(map(len, X)) + 1 + max(map(len, Y))
    buf = np.empty(size, dtype=np.uint8)
    outbuf = np.empty(2 * size + 1024, dtype=np.uint8)

    def ptr(a):
        return a.ctypes.data_as(ctypes.c_void_p)

    rc = fn(
        ptr(xd), ptr(xo), len(X), ptr(yd), ptr(yo), len(Y), ptr(out),
        ptr(buf), ctypes.c_long(size), ptr(outbuf), ctypes.c_long(outbuf.size),
    )
    if rc != 0:
        raise RuntimeError(f"C loop failed with {rc}")
    return out


def npc_gzip_loop(X: list[str], Y: list[str]):
    """The ``npc-gzip`` package's own per-pair routine, if it is installed."""
    try:
        from npc_gzip.compressors.gzip_compressor import GZipCompressor
    except ImportError:
        return None
    comp = GZipCompressor()
    [comp.get_compressed_length(y) for y in Y]
    for x in X:
        for y in Y:
            comp.get_compressed_length(" ".join([x, y]))
    return True


def python_compressor_loop(compress, X: list[bytes], Y: list[bytes]) -> None:
    for x in X:
        for y in Y:
            len(compress(x + b" " + y))


def per_pair_table(X: list[str], Y: list[str], repeat: int, workdir: Path) -> list[tuple[str, float]]:
    Xb = [x.encode() for x in X]
    Yb = [y.encode() for y in Y]
    n_pairs = len(X) * len(Y)
    reference = np.array([[len(gzip.compress(x + b" " + y, 9)) for y in Yb] for x in Xb])
    rows: list[tuple[str, float]] = []

    def add(name, seconds):
        rows.append((name, seconds / n_pairs * 1e6))
        print(f"  {name}: {rows[-1][1]:.2f} us/pair", file=sys.stderr, flush=True)

    add("(a) paper's loop: gzip.compress of train text and of the pair, every pair",
        best_of(lambda: paper_loop(X, Y), 1))
    add("(b) cached train lengths + gzip.compress per pair (npc-gzip / Raschka style)",
        best_of(lambda: cached_loop(X, Y), repeat))
    if npc_gzip_loop(X[:1], Y[:1]) is not None:
        add("(b') npc-gzip package, GZipCompressor per pair", best_of(lambda: npc_gzip_loop(X, Y), 1))
    add("(c) zlib.compressobj loop in Python", best_of(lambda: compressobj_loop(Xb, Yb), repeat))
    assert (copy_prefix_loop(Xb, Yb) == reference).all(), "copy-prefix disagrees with gzip.compress"
    add(f"{COPY_PY} (Ken Schutte's gzip-knn)", best_of(lambda: copy_prefix_loop(Xb, Yb), repeat))
    fns = build_c_loop(workdir)
    if fns is not None:
        reset_fn, copy_fn = fns
        assert (c_loop(reset_fn, Xb, Yb) == reference).all()
        add(C_RESET, best_of(lambda: c_loop(reset_fn, Xb, Yb), repeat))
        assert (c_loop(copy_fn, Xb, Yb) == reference).all(), "C copy-prefix disagrees with gzip.compress"
        add(C_COPY, best_of(lambda: c_loop(copy_fn, Xb, Yb), repeat))
    nnzip.warmup()
    for n_jobs in (1, 2):
        got = nnzip.pairwise_compressed_len(X, Y, n_jobs=n_jobs)
        assert (got == reference).all(), "nnzip disagrees with gzip.compress"
        add(f"(d) nnzip gzip kernel, one `pairwise_compressed_len` call, n_jobs={n_jobs}",
            best_of(lambda n_jobs=n_jobs: nnzip.pairwise_compressed_len(X, Y, n_jobs=n_jobs), repeat))
    # A training side as a fitted classifier or a search over many queries holds it: packed,
    # with the kernel's y tables built once (timed apart, one thread).
    side = lengths.TrainingSide(Yb)
    start = time.perf_counter()
    side.tables(1, lengths.TABLE_ROWS)
    build_ms = (time.perf_counter() - start) * 1e3
    comp = get_compressor("gzip")
    for n_jobs in (1, 2):
        assert (lengths.pair_block(comp, Xb, side, n_jobs) == reference).all(), "nnzip disagrees with gzip.compress"
        add(f"(f) nnzip gzip kernel, training side prepared once (y tables: {build_ms:.0f} ms for "
            f"{len(Y):,} texts, one thread), n_jobs={n_jobs}",
            best_of(lambda n_jobs=n_jobs: lengths.pair_block(comp, Xb, side, n_jobs), repeat))
    return rows


def compressor_table(X: list[str], Y: list[str]) -> list[tuple[str, float]]:
    rows = []
    n_pairs = len(X) * len(Y)
    for name in ("zlib", "bz2", "lzma", "zstd", "lz4"):
        nnzip.pairwise_compressed_len(X[:1], Y[:2], compressor=name)
        seconds = best_of(lambda name=name: nnzip.pairwise_compressed_len(X, Y, compressor=name, n_jobs=1), 1)
        rows.append((f"nnzip {name}, n_jobs=1", seconds / n_pairs * 1e6))
        print(f"  {name}: {rows[-1][1]:.2f} us/pair", file=sys.stderr, flush=True)
    return rows


def peak_memory_child(data_dir: str, n_test: int, n_train: int, chars: int) -> None:
    """Run in a child process: a streaming neighbour search and its peak RSS."""
    X = [t[:chars] for t in read_texts(Path(data_dir) / "imdb/test.tsv.gz", n_test)]
    Y = [t[:chars] for t in read_texts(Path(data_dir) / "imdb/train.tsv.gz", n_train)]
    nnzip.warmup()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    dist, idx = nnzip.nearest_neighbors(X, Y, 3, n_jobs=-1)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{before / 1024:.0f} {peak / 1024:.0f} {seconds:.1f} {dist.shape[0]}")


def machine() -> str:
    m = machine_info()
    return f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, zlib {m['zlib']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("NNZIP_DATA_DIR"))
    parser.add_argument("--n-test", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-test", type=int, default=2000)
    parser.add_argument("--memory-train", type=int, default=25000)
    parser.add_argument("--memory-chars", type=int, default=256, help="texts truncated to this many characters")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("set NNZIP_DATA_DIR or pass --data-dir (the folder holding partial/ag_news, imdb, 20news)")
    if args.memory_child:
        peak_memory_child(args.data_dir, args.memory_test, args.memory_train, args.memory_chars)
        return
    data = Path(args.data_dir)
    ag = read_texts(data / "partial/ag_news/test.tsv.gz")
    ag_x, ag_y = ag[: args.n_test], ag[1000 : 1000 + args.n_train]
    news = read_texts(data / "20news/test.tsv.gz", 2000)
    news_x, news_y = news[: max(2, args.n_test // 4)], news[1000 : 1000 + args.n_train // 4]

    sections = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"AG News: {len(ag_x)} x {len(ag_y)} pairs", file=sys.stderr)
        ag_rows = per_pair_table(ag_x, ag_y, args.repeat, Path(tmp))
        print(f"20 Newsgroups: {len(news_x)} x {len(news_y)} pairs", file=sys.stderr)
        news_rows = per_pair_table(news_x, news_y, args.repeat, Path(tmp))
    print("Profile of one pair (one thread)", file=sys.stderr)
    prof_rows = [profile_kernel.profile("AG News", ag_x, ag_y, args.repeat),
                 profile_kernel.profile("20 Newsgroups", news_x, news_y, args.repeat)]
    print("Other compressors on AG News", file=sys.stderr)
    comp_rows = compressor_table(ag_x[:5], ag_y[:200])

    def table(title, rows, mean_chars):
        base = {name[:3]: us for name, us in rows}
        named = dict(rows)
        anchors = [name for name in (C_RESET, C_COPY) if name in named]
        lines = [
            f"### {title} (mean {mean_chars:.0f} characters per text)",
            "",
            "| method | µs per pair | pairs per second | speed-up vs (a) |"
            + "".join(f" vs {'C reset' if a == C_RESET else 'C copy-prefix'} |" for a in anchors),
            "|---|---:|---:|---:|" + "---:|" * len(anchors),
        ]
        for name, us in rows:
            lines.append(
                f"| {name} | {us:.2f} | {1e6 / us:,.0f} | {base['(a)'] / us:.1f}x |"
                + "".join(f" {named[a] / us:.2f}x |" for a in anchors)
            )
        return "\n".join(lines)

    sections.append(table("AG News test texts", ag_rows, np.mean([len(t) for t in ag_x + ag_y])))
    sections.append(table("20 Newsgroups test texts (long)", news_rows, np.mean([len(t) for t in news_x + news_y])))
    sections.append(
        "### Where a pair's microseconds go (nnzip, one thread, same texts)\n\n"
        "`benchmarks/profile_kernel.py`: the whole pair through `gzip_pair_cells`, and the final block's "
        "tree work replayed alone on the symbol frequencies the pairs ended with; the parse (with the "
        "per-pair set-up) is the difference. Before and after the last two rounds of kernel work: "
        "[kernel_round2.md](kernel_round2.md), [kernel_round3.md](kernel_round3.md).\n\n"
        + profile_kernel.table(prof_rows)
    )
    sections.append(
        "### Other compressors (AG News, 5 x 200 pairs, Python compressors in one process)\n\n"
        "| compressor | µs per pair |\n|---|---:|\n"
        + "\n".join(f"| {name} | {us:.1f} |" for name, us in comp_rows)
    )
    if not args.skip_memory:
        print("Peak memory of a neighbour search (child process)", file=sys.stderr)
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", "--data-dir", args.data_dir,
             "--memory-test", str(args.memory_test), "--memory-train", str(args.memory_train),
             "--memory-chars", str(args.memory_chars)],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        before, peak, seconds, rows = out
        full = args.memory_test * args.memory_train * 8 / 2**20
        sections.append(
            f"### Memory: {args.memory_test:,} x {args.memory_train:,} neighbour search, k=3, n_jobs=-1\n\n"
            f"IMDb texts cut to {args.memory_chars} characters. Peak resident memory {peak} MiB "
            f"({before} MiB before the search: interpreter, data, compiled kernels); "
            f"the full float64 distance matrix alone would be {full:,.0f} MiB. Took {seconds} s."
        )
    header = (
        "# NCD engine benchmark\n\n"
        f"Machine: {machine()}. Date: {datetime.date.today()}. nnzip {nnzip.__version__}. "
        f"Load average (1 min) before the runs {load_before:.1f}, after {os.getloadavg()[0]:.1f}: "
        "on a shared machine compare rows of one table, not seconds across runs.\n\n"
        "Command: `NNZIP_DATA_DIR=../shared/data python benchmarks/bench_ncd.py --output benchmarks/results.md`\n\n"
        "Every nnzip row was checked pair for pair against `len(gzip.compress(x + b' ' + y, 9))` before timing. "
        "The npc-gzip row (when present) is the package installed with `pip install --no-deps npc-gzip` "
        "(it pins numpy<2).\n"
    )
    report = header + "\n" + "\n\n".join(sections) + "\n"
    print(report)
    if args.output:
        args.output.write_text(report)


if __name__ == "__main__":
    main()
