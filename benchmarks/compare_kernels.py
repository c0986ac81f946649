"""An earlier commit's gzip kernel against this one, per pair, side by side in one process.

    NNZIP_DATA_DIR=../shared/data python benchmarks/compare_kernels.py 8b4c4fd

The old kernel module is taken from git (``git show REV:nnzip/_deflate.py``, or
``nnzip/_kernels.py`` for revisions before the kernels were split by concept) into a scratch
folder and imported beside the current one. For AG News (20 x 1,000), 20 Newsgroups
(5 x 250), R8 (10 x 1,000) and IMDb (5 x 500) test texts, one thread, both kernels get the
same work items (whole rows) and alternate call by call, best of ``--repeat``; their lengths
are checked equal first. The current kernel gets its training texts' y tables, built once
beforehand (as a fitted classifier or a search of many queries has them); how long they took
is printed apart.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nnzip import _deflate as K
from nnzip.lengths import pack

from _common import data_args, read_texts

KERNEL_FILES = ("nnzip/_deflate.py", "nnzip/_kernels.py")  # today's name first, then the name before the split


def load_old(rev: str, folder: Path):
    for name in KERNEL_FILES:
        shown = subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent.parent)
        if shown.returncode == 0:
            break
    else:
        sys.exit(f"Error: no {' or '.join(KERNEL_FILES)} at {rev!r} in this repository ({shown.stderr.strip()})")
    source = shown.stdout
    (folder / "old_kernels.py").write_text(source)
    sys.path.insert(0, str(folder))
    return importlib.import_module("old_kernels")


def compare(name, old, X, Y, repeat: int) -> None:
    xd, xo = pack([x.encode() for x in X])
    yd, yo = pack([y.encode() for y in Y])
    items = np.array([(i, 0, len(Y)) for i in range(len(X))], dtype=np.int64)
    cols = np.zeros((0, 0), dtype=np.int64)
    out_old = np.empty((len(X), len(Y)), dtype=np.int64)
    out_new = np.empty_like(out_old)
    start = time.perf_counter()
    tables = K.y_tables(yd, yo)
    build = time.perf_counter() - start
    if len(inspect.signature(old.gzip_pair_cells.py_func).parameters) == 7:
        run_old = lambda: old.gzip_pair_cells(xd, xo, yd, yo, cols, items, out_old)  # noqa: E731
    else:  # an old kernel that takes y tables too
        old_tables = old.y_tables(yd, yo)
        run_old = lambda: old.gzip_pair_cells(xd, xo, yd, yo, old_tables, cols, items, out_old)  # noqa: E731
    run_new = lambda: K.gzip_pair_cells(xd, xo, yd, yo, tables, cols, items, out_new)  # noqa: E731
    run_old()
    run_new()
    assert (out_old == out_new).all(), "the two kernels disagree"
    best = {"old": np.inf, "new": np.inf}
    for _ in range(repeat):
        for key, fn in (("old", run_old), ("new", run_new)):
            t = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t)
    n = len(X) * len(Y)
    print(f"| {name} | {best['old'] / n * 1e6:.2f} | {best['new'] / n * 1e6:.2f} | {best['old'] / best['new']:.2f}x | "
          f"{build * 1e3:.0f} ms |", flush=True)


def main() -> None:
    rev = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if rev is None:
        sys.exit("usage: compare_kernels.py REV [--repeat N] [--data-dir DIR]")
    sys.argv.remove(rev)
    args, ag, news = data_args(__doc__)
    data = Path(args.data_dir)
    r8 = read_texts(data / "r8/test.tsv.gz")
    imdb = read_texts(data / "imdb/test.tsv.gz", 3000)
    K.y_tables(*pack([b"compile the table kernel first"]))
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(rev, Path(tmp))
        print(f"| texts | {rev}, µs per pair | this kernel, µs per pair | speed-up | y tables, built once |")
        print("|---|---:|---:|---:|---:|")
        compare("AG News 20 x 1,000", old, ag[:20], ag[1000:2000], args.repeat)
        compare("20news 5 x 250", old, news[:5], news[1000:1250], args.repeat)
        compare("R8 10 x 1,000", old, r8[:10], r8[1000:2000], args.repeat)
        compare("IMDb 5 x 500", old, imdb[:5], imdb[1000:1500], args.repeat)


if __name__ == "__main__":
    main()
