"""Exact gzip NCD on a GPU against the CPU kernel and zlib, side by side on one machine (issue 24).

On the GPU machine (data packed here by ``experiments.device_bundle pack-texts``; see
``benchmarks/gpu.md`` for the exact steps)::

    bash benchmarks/gpu/run.sh BUNDLE OUT 480

Here, to test the plumbing on tiny slices with numba-cuda's simulator::

    NUMBA_ENABLE_CUDASIM=1 NNZIP_DATA_DIR=../shared/data \
        python benchmarks/gpu/bench_gpu.py --tiny --output /tmp/gpu.json

Parts, in this order, each skipped (and the skip recorded) when what is left of ``--seconds``
would not cover it:

1. **exactness**: the GPU kernel's lengths (``nnzip.cuda_backend.CudaPairLengths``) of seeded
   real pairs (AG News test x test, 20news test x train with its longest texts among the
   queries, IMDb test x train; 1.6M pairs) against ``len(gzip.compress(x + b" " + y, 9))``
   computed by zlib itself in one process per core; pairs past the kernel's range must be -1;
2. **pairs per second** on AG News and 20news pairs: ``nnzip.lengths.pair_block`` with
   ``device="cuda"`` against the same call on the CPU kernel with every core, each on as many
   query rows as fill a few seconds, the training side's one-off preparation (tables, upload)
   timed apart; the GPU's launch choices (threads per block, training texts sorted by length
   or not) on one AG News slice; and the integrated search (``NCDIndex(device="cuda")``) on an
   AG News slice with the default blocks (about 256k pairs, one cache entry each, the same as
   on the CPU) and with blocks of 16M pairs, to show what the default block size costs;
3. **full R8**, exact, end to end (texts in, labels out, k=2, ties to the nearest):
   ``NCDKNeighborsClassifier(device="cuda")`` and ``device="cpu"`` (all cores), predictions
   (``distance_ties="split"``) compared one by one;
4. **full IMDb** (25,000 x 25,000 = 625M pairs) end to end on the GPU (``NCDIndex(device="cuda")``,
   fit, ``tied_neighbors``, a vote under each convention of distance ties), projected from slices
   first with the default blocks and with 16M-pair blocks; the full run takes the faster
   (recorded); accuracy on all test texts and on the experiments' seeded 2,500 (whose CPU
   figure is in ``experiments/results/full_data.csv``), and the neighbours and boundary ties of
   16 seeded rows checked against the CPU kernel.

Results go to ``--output`` (JSON, rewritten after every part) and a Markdown summary beside it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"ag_news_pairs_per_s": 1e7, "gpu_over_cpu": 50.0, "imdb_seconds": 120.0, "r8_seconds": 5.0}
BIG_BLOCK_PAIRS = 1 << 24  # the GPU's launch size: one block, one launch
_TEXTS: dict[str, tuple[list[bytes], list[bytes]]] = {}  # what the zlib workers read (inherited at fork)


def _zlib_row(task: tuple[str, int]) -> tuple[str, int, np.ndarray]:
    name, i = task
    xs, ys = _TEXTS[name]
    x = xs[i] + b" "
    return name, i, np.array([len(gzip.compress(x + y, 9, mtime=0)) for y in ys], dtype=np.int64)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


class Report:
    """The results dict, written (JSON and Markdown) after every part."""

    def __init__(self, path: Path, argv: list[str]) -> None:
        self.path = path
        self.data: dict = {"command": " ".join(["python", *argv]), "parts": {}, "skipped": {}, "errors": {}}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=float))
        self.path.with_suffix(".md").write_text(markdown(self.data))


def load(name: str, split: str, tiny: int) -> tuple[list[bytes], list[str]]:
    from nnzip.data import local_datasets, read_tsv

    texts, labels = read_tsv(local_datasets()[name] / f"{split}.tsv.gz")
    if tiny:
        texts, labels = texts[:tiny], labels[:tiny]
    return [t.encode() for t in texts], labels


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def recorded_cpu_accuracy(dataset: str) -> dict | None:
    """The CPU figure of the experiments (k=2, ties to the nearest) for ``dataset``, if recorded."""
    path = ROOT / "experiments" / "results" / "full_data.csv"
    if not path.exists():
        return None
    for row in csv.DictReader(path.open()):
        if (row["experiment"], row["dataset"], row["model"], row["variant"]) == (
                "full_data", dataset, "gzip-knn", "k=2 nearest"):
            return {"accuracy": float(row["accuracy"]), "n_test": int(row["n_test"]), "n_train": int(row["n_train"])}
    return None


# --- parts ---------------------------------------------------------------------------------


def exactness_sets(args) -> dict[str, tuple[list[bytes], list[bytes]]]:
    """Seeded real pairs: (queries, training texts) per dataset, 1.6M pairs in all."""
    rng = np.random.default_rng(0)
    sets = {}
    ag, _ = load("ag_news", "test", args.tiny)
    sets["ag_news"] = ([ag[i] for i in rng.choice(len(ag), args.rows(100), replace=False)], ag)
    news_test, _ = load("20news", "test", args.tiny)
    news_train, _ = load("20news", "train", args.tiny)
    # pairs past 32 KiB and past the exact range
    longest = np.argsort([len(t) for t in news_test])[::-1][: args.rows(6)]
    rest = np.setdiff1d(np.arange(len(news_test)), longest)
    others = rng.choice(rest, min(len(rest), args.rows(24)), replace=False)
    sets["20news"] = ([news_test[i] for i in [*longest, *others]], news_train)
    imdb_test, _ = load("imdb", "test", args.tiny)
    imdb_train, _ = load("imdb", "train", args.tiny)
    sets["imdb"] = ([imdb_test[i] for i in rng.choice(len(imdb_test), args.rows(20), replace=False)], imdb_train)
    return sets


def exactness(args, report, budget, pool, cores):
    from nnzip import cuda_backend
    from nnzip._deflate import MAX_INPUT
    from nnzip.lengths import pack

    sets = _TEXTS
    got = {}
    for name, (xs, ys) in sets.items():
        pairs = cuda_backend.CudaPairLengths(*pack(ys))
        got[name], _ = timed(pairs.pair_cells, *pack(xs))
    # zlib: one process per core (forked with the texts), rows as they come; stop waiting when this part's time is up
    deadline = time.perf_counter() + min(args.zlib_seconds, budget.left() - 60)
    start = time.perf_counter()
    tasks = [(name, i) for name, (xs, _) in sets.items() for i in range(len(xs))]
    want = {name: np.full((len(xs), len(ys)), -2, dtype=np.int64) for name, (xs, ys) in sets.items()}
    pending = [pool.apply_async(_zlib_row, (t,)) for t in tasks]
    for p in pending:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        try:
            name, i, row = p.get(timeout=remaining)
        except multiprocessing.TimeoutError:
            break
        want[name][i] = row
    seconds = time.perf_counter() - start
    out = {"zlib_processes": cores, "zlib_seconds": seconds, "datasets": {}}
    total = equal = 0
    for name, (xs, ys) in sets.items():
        done = want[name][:, 0] != -2
        n = np.array([[len(x) + 1 + len(y) for y in ys] for x in xs])[done]
        g, w = got[name][done], want[name][done]
        in_range = n <= MAX_INPUT
        bad = np.argwhere(in_range & (g != w))
        out["datasets"][name] = {
            "rows_checked": int(done.sum()), "rows": len(xs), "pairs_checked": int(in_range.sum()),
            "equal": int((in_range & (g == w)).sum()), "past_exact_range": int((~in_range).sum()),
            "past_range_marked_-1": bool(np.all(g[~in_range] == -1)), "first_mismatches": bad[:5].tolist(),
        }
        total += int(in_range.sum())
        equal += int((in_range & (g == w)).sum())
    out["pairs_checked"], out["equal"] = total, equal
    out["exact"] = total == equal and all(d["past_range_marked_-1"] for d in out["datasets"].values())
    report.data["parts"]["exactness"] = out
    print(f"exactness: {equal:,} of {total:,} pairs equal to zlib ({seconds:.0f} s of zlib on {cores} processes)",
          flush=True)


def _rate(fn, rows: int, n_cols: int, fill: float, max_rows: int) -> dict:
    """Time ``fn(r)`` on ``rows`` rows, then on as many as fill about ``fill`` seconds."""
    _, t = timed(fn, rows)
    r = int(min(max_rows, max(rows, rows * fill / max(t, 1e-3))))
    if r > rows:
        _, t = timed(fn, r)
        rows = r
    return {"rows": rows, "cols": n_cols, "pairs": rows * n_cols, "seconds": t, "pairs_per_s": rows * n_cols / t}


class PairRows:
    """``pair_block`` of the first ``r`` queries against a prepared training side, on one device."""

    def __init__(self, xs: list[bytes], side, cores: int, device: str) -> None:
        from nnzip import get_compressor

        self.xs, self.side, self.cores, self.device = xs, side, cores, device
        self.comp = get_compressor("gzip")

    def __call__(self, r: int) -> None:
        from nnzip.lengths import pair_block

        pair_block(self.comp, self.xs[:r], self.side, self.cores, device=self.device)


def throughput(args, report, budget, cores):
    from nnzip import NCDIndex, cuda_backend
    from nnzip.lengths import TABLE_ROWS, TrainingSide, pack

    out = report.data["parts"].setdefault("throughput", {})
    for name, (xsplit, ysplit) in {"ag_news": ("test", "test"), "20news": ("test", "train")}.items():
        if budget.left() < 90:
            report.data["skipped"][f"throughput {name}"] = f"{budget.left():.0f} s left"
            continue
        xs, _ = load(name, xsplit, args.tiny)
        ys, _ = load(name, ysplit, args.tiny)
        gpu_side = TrainingSide(ys)
        _, side_s = timed(gpu_side.on_device, cores)  # y tables on the CPU + upload, once per training set
        gpu_rows = PairRows(xs, gpu_side, cores, "cuda")
        gpu_rows(min(len(xs), 2))  # warm
        gpu = _rate(gpu_rows, args.rows(64), len(ys), args.fill, len(xs))
        gpu["training_side_seconds"] = side_s
        # the CPU kernel on every core, its training-side tables built first (as a search keeps them)
        cpu_side = TrainingSide(ys)
        _, tables_s = timed(cpu_side.tables, cores, TABLE_ROWS)
        cpu_rows = PairRows(xs, cpu_side, cores, "cpu")
        cpu_rows(min(len(xs), cores))  # warm
        cpu = _rate(cpu_rows, min(len(xs), args.rows(4 * cores)), len(ys), args.fill, len(xs))
        cpu["tables_seconds"] = tables_s
        ratio = gpu["pairs_per_s"] / cpu["pairs_per_s"]
        out[name] = {"gpu": gpu, "cpu": cpu, "cpu_cores": cores, "gpu_over_cpu": ratio,
                     "mean_pair_bytes": mean_pair_bytes(xs, ys)}
        print(f"{name}: GPU {gpu['pairs_per_s']:.3g} pairs/s, CPU ({cores} cores) {cpu['pairs_per_s']:.3g} pairs/s, "
              f"x{ratio:.1f}", flush=True)
        report.save()
        if name != "ag_news" or budget.left() < 120:
            continue
        rows = min(len(xs), args.rows(256))
        xd, xo = pack(xs[:rows])
        variants = {}
        for tpb, sort in ((32, True), (64, True), (128, True), (256, True), (64, False)):
            p = cuda_backend.CudaPairLengths(gpu_side.data, gpu_side.offsets, threads_per_block=tpb, sort_columns=sort)
            p.pair_cells(xd, xo[:3])
            _, t = timed(p.pair_cells, xd, xo)
            variants[f"tpb={tpb}{'' if sort else ' unsorted'}"] = rows * len(ys) / t
            del p
        out["ag_news_launch_choices_pairs_per_s"] = variants
        # the integrated search: fit, then tied_neighbors with the default blocks and with blocks of one launch
        rows = min(len(xs), args.rows(1024))
        index = NCDIndex(device="cuda", n_jobs=cores).fit(ys)
        index.tied_neighbors(xs[:2], 2)  # upload
        search = {}
        n_cols = index.n_distinct_  # the search pairs each query with the distinct training texts
        for label, block in (("default blocks", None), ("16M-pair blocks", max(1, BIG_BLOCK_PAIRS // n_cols))):
            index.set_params(block_size=block)
            _, t = timed(index.tied_neighbors, xs[:rows], 2)
            search[label] = rows * n_cols / t
        out["ag_news_search_pairs_per_s"] = search
        report.save()


def _predict(index, xs: list[bytes], classes: np.ndarray, codes: np.ndarray):
    """One search (k=2 with its boundary ties), then a prediction under nnzip's default convention of
    distance ties (``split``) and under nnzip <= 0.1's (``index``: what the CPU figures of
    experiments/results/full_data.csv were made with, unless rerun), vote ties to the nearest."""
    from nnzip import tied_vote, vote

    tied = index.tied_neighbors(xs, 2)
    dist, idx = tied.top_k()  # the first k by (distance, training index): the index-ordered convention
    preds = {"split": classes[tied_vote(tied, codes, len(classes), tie_break="nearest")[0]],
             "index": classes[vote(dist, codes[idx], len(classes), tie_break="nearest")[0]]}
    return preds, tied


def r8_end_to_end(args, report, budget, cores):
    """Full R8, texts in and labels out, with the classifier on the GPU and on every CPU core."""
    from nnzip import NCDKNeighborsClassifier

    xs, y_test = load("r8", "test", args.tiny)
    ys, y_train = load("r8", "train", args.tiny)
    out: dict = {"n_test": len(xs), "n_train": len(ys), "rows": len(xs)}
    truth = np.asarray(y_test, dtype=object)
    texts = [x.decode() for x in xs], [y.decode() for y in ys]
    start = time.perf_counter()  # fit, search, vote: what predict does, the search kept for the second vote
    clf = NCDKNeighborsClassifier(n_neighbors=2, tie_break="nearest", n_jobs=cores, device="cuda")
    tied = clf.fit(texts[1], y_train).tied_neighbors(texts[0])
    pred = clf.vote(tied, texts[0])[0]
    out["gpu_seconds"] = time.perf_counter() - start
    preds = {"split": pred, "index": clf.set_params(distance_ties="index").vote(tied, texts[0])[0]}
    out["gpu_accuracy"] = float(np.mean(pred == truth))
    out["gpu_accuracy_by_convention"] = {c: float(np.mean(p == truth)) for c, p in preds.items()}
    _compare_recorded(out, "r8", preds, truth, np.arange(len(xs)), len(xs), report)
    print(f"r8 end to end on the GPU: {len(xs):,} x {len(ys):,} in {out['gpu_seconds']:.1f} s, "
          f"accuracy {out['gpu_accuracy']:.4f}", flush=True)
    report.save()
    cpu_estimate = estimate_cpu_seconds(report, xs, ys)
    reserve = 150 if "imdb" in args.parts else 20  # the full IMDb run comes after
    if budget.left() > (1.5 * cpu_estimate if cpu_estimate else 120) + reserve:
        start = time.perf_counter()
        cpu = NCDKNeighborsClassifier(n_neighbors=2, tie_break="nearest", n_jobs=cores)
        cpu_pred = cpu.fit(texts[1], y_train).predict(texts[0])
        out["cpu_seconds"] = time.perf_counter() - start
        out["cpu_accuracy"] = float(np.mean(cpu_pred == truth))
        out["predictions_identical"] = bool(np.array_equal(cpu_pred.astype(object), pred.astype(object)))
        print(f"r8 end to end on {cores} CPU cores: {out['cpu_seconds']:.1f} s; "
              f"same predictions: {out['predictions_identical']}", flush=True)
    else:
        report.data["skipped"]["r8 on the CPU"] = f"estimated {cpu_estimate or 0:.0f} s, {budget.left():.0f} s left"
    report.data["parts"]["r8_end_to_end"] = out


def imdb_end_to_end(args, report, budget, cores):
    """Full IMDb on the GPU, projected first; the seeded 2,500 when the full search would not fit."""
    from nnzip import NCDIndex

    xs, y_test = load("imdb", "test", args.tiny)
    ys, y_train = load("imdb", "train", args.tiny)
    classes, codes = np.unique(y_train, return_inverse=True)
    out: dict = {"n_test": len(xs), "n_train": len(ys)}
    # project from slices: the first search uploads the training side; then one slice per block size
    index, fit_s = timed(NCDIndex(device="cuda", n_jobs=cores).fit, ys)
    out["n_distinct_train"] = index.n_distinct_
    probe = max(1, min(len(xs) - 2, args.rows(200)))
    _, upload_s = timed(index.tied_neighbors, xs[:2], 2)
    blocks = {"default": None, "16M pairs": max(1, BIG_BLOCK_PAIRS // index.n_distinct_)}
    per_row = {}
    for label, block in blocks.items():
        index.set_params(block_size=block)
        _, t = timed(index.tied_neighbors, xs[2 : 2 + probe], 2)
        per_row[label] = t / probe
    out["projected_seconds"] = {label: fit_s + upload_s + r * len(xs) for label, r in per_row.items()}
    best = min(per_row, key=per_row.__getitem__)
    out["block_size"] = best
    del index
    rows = np.arange(len(xs))
    projected = out["projected_seconds"][best]
    if projected > budget.left() - 45:
        subsample = seeded_subsample(len(xs))
        if fit_s + upload_s + per_row[best] * len(subsample) < budget.left() - 45:
            rows = subsample
            report.data["skipped"]["full imdb"] = (f"projected {projected:.0f} s, {budget.left():.0f} s left: "
                                                   f"ran the seeded {len(rows)}")
        else:
            report.data["skipped"]["imdb end to end"] = f"projected {projected:.0f} s, {budget.left():.0f} s left"
            report.data["parts"]["imdb_end_to_end"] = out
            return
    queries = [xs[i] for i in rows]
    start = time.perf_counter()
    index = NCDIndex(device="cuda", n_jobs=cores, block_size=blocks[best]).fit(ys)
    preds, tied = _predict(index, queries, classes, codes)
    out["gpu_seconds"] = time.perf_counter() - start
    out["rows"] = len(rows)
    truth = np.asarray(y_test, dtype=object)[rows]
    out["gpu_accuracy"] = float(np.mean(preds["split"] == truth))
    out["gpu_accuracy_by_convention"] = {c: float(np.mean(p == truth)) for c, p in preds.items()}
    _compare_recorded(out, "imdb", preds, truth, rows, len(xs), report)
    print(f"imdb end to end on the GPU: {len(rows):,} x {len(ys):,} in {out['gpu_seconds']:.1f} s "
          f"({best} blocks), accuracy {out['gpu_accuracy']:.4f}", flush=True)
    report.save()
    if budget.left() > 40:
        check = np.sort(np.random.default_rng(1).choice(len(rows), min(len(rows), 16), replace=False))
        cpu = NCDIndex(n_jobs=cores).fit(ys).tied_neighbors([queries[i] for i in check], 2)
        gpu = tied.take(check)
        out["cpu_kernel_rows_checked"] = len(check)
        out["cpu_kernel_same_neighbours"] = bool(np.array_equal(cpu.indptr, gpu.indptr) and np.array_equal(
            cpu.indices, gpu.indices) and np.array_equal(cpu.distances, gpu.distances))
    report.data["parts"]["imdb_end_to_end"] = out


def _compare_recorded(out: dict, name: str, preds: dict, truth, rows: np.ndarray, n_test: int, report) -> None:
    """The GPU's accuracy on the items of the recorded CPU run, when they were all searched, per
    convention of distance ties (the file does not say which one it was made with)."""
    recorded = recorded_cpu_accuracy(name)
    if recorded is None:
        return
    sub = seeded_subsample(n_test) if recorded["n_test"] < n_test else np.arange(n_test)
    where = np.searchsorted(rows, sub)
    if len(sub) and np.all(where < len(rows)) and np.array_equal(rows[np.minimum(where, len(rows) - 1)], sub):
        out["recorded_cpu"] = recorded
        acc = {c: float(np.mean(p[where] == truth[where])) for c, p in preds.items()}
        out["gpu_accuracy_on_recorded_items"] = acc
        out["recorded_cpu_matched_by"] = [c for c, a in acc.items() if abs(a - recorded["accuracy"]) < 5e-5]
        out["same_accuracy_as_recorded_cpu"] = bool(out["recorded_cpu_matched_by"])


def mean_pair_bytes(xs: list[bytes], ys: list[bytes]) -> float:
    return float(np.mean([len(x) for x in xs]) + np.mean([len(y) for y in ys]) + 1)


def estimate_cpu_seconds(report, xs: list[bytes], ys: list[bytes]) -> float | None:
    """The CPU kernel's time for all pairs of ``xs`` and ``ys``, from its AG News rate scaled by
    pair length (a parse costs about the same per byte); None before that rate is measured."""
    ag = report.data["parts"].get("throughput", {}).get("ag_news")
    if ag is None:
        return None
    per_pair = mean_pair_bytes(xs, ys) / ag["mean_pair_bytes"] / ag["cpu"]["pairs_per_s"]
    return len(xs) * len(ys) * per_pair


def seeded_subsample(n_test: int) -> np.ndarray:
    """The experiments' seeded IMDb test subsample (what its recorded CPU figure used)."""
    sys.path.insert(0, str(ROOT))
    from experiments.runner import test_subsample

    recorded = recorded_cpu_accuracy("imdb")
    return test_subsample(n_test, recorded["n_test"] if recorded else None)


# --- report --------------------------------------------------------------------------------


def markdown(d: dict) -> str:
    lines = ["# Exact gzip NCD on a GPU (issue 24)", "", f"Produced by: `{d.get('command', '')}`", ""]
    if d.get("tiny"):
        lines += ["**A plumbing test on the first texts of each file (`--tiny`): no figure here means anything.**", ""]
    m = d.get("machine", {})
    lines += [f"Machine: {m.get('gpu', '?')}; {m.get('cpu', '?')}, {m.get('cores', '?')} cores; "
              f"Python {m.get('python', '?')}, numba {m.get('numba', '?')}, numba-cuda {m.get('numba_cuda', '?')}, "
              f"zlib {m.get('zlib', '?')}; git {m.get('git', '?')}; {m.get('date', '')}", ""]
    parts = d.get("parts", {})
    if "exactness" in parts:
        e = parts["exactness"]
        lines += ["## Exactness against zlib", "",
                  f"{e['equal']:,} of {e['pairs_checked']:,} pairs equal to `len(gzip.compress(x + b' ' + y, 9))` "
                  f"(zlib in {e['zlib_processes']} processes, {e['zlib_seconds']:.0f} s).", "",
                  "| pairs of | rows checked | pairs | equal | past the exact range (-1, zlib's) |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in e["datasets"].items():
            lines.append(f"| {name} | {r['rows_checked']}/{r['rows']} | {r['pairs_checked']:,} | {r['equal']:,} | "
                         f"{r['past_exact_range']} |")
        lines.append("")
    if "throughput" in parts:
        t = parts["throughput"]
        lines += ["## Pairs per second", "",
                  "| pairs of | GPU pairs/s | CPU kernel pairs/s (cores) | GPU / CPU | GPU pairs timed | "
                  "GPU training side (s, once) |", "|---|---:|---:|---:|---:|---:|"]
        for name in ("ag_news", "20news"):
            if name in t:
                r = t[name]
                lines.append(f"| {name} | {r['gpu']['pairs_per_s']:.3g} | {r['cpu']['pairs_per_s']:.3g} "
                             f"({r['cpu_cores']}) | {r['gpu_over_cpu']:.1f} | {r['gpu']['pairs']:,} | "
                             f"{r['gpu']['training_side_seconds']:.2f} |")
        for key, title in (("ag_news_launch_choices_pairs_per_s", "AG News, launch choices (pairs/s)"),
                           ("ag_news_search_pairs_per_s", "AG News, the integrated search NCDIndex(device='cuda') "
                                                          "(pairs/s)")):
            if key in t:
                lines += ["", f"{title}: " + ", ".join(f"{k}: {v:.3g}" for k, v in t[key].items())]
        lines.append("")
    for name in ("r8", "imdb"):
        key = f"{name}_end_to_end"
        if key in parts:
            r = parts[key]
            lines += [f"## {name} end to end, exact (k=2, ties to the nearest)", ""]
            if "gpu_seconds" in r:
                lines.append(f"- GPU: {r['rows']:,} x {r['n_train']:,} in {r['gpu_seconds']:.1f} s, "
                             f"accuracy {r['gpu_accuracy']:.4f} (distance_ties='split')")
            for key2, label in (("gpu_accuracy_by_convention", "GPU accuracy by distance-tie convention"),
                                ("gpu_accuracy_on_recorded_items", "GPU accuracy on the recorded CPU run's items"),
                                ("same_accuracy_as_recorded_cpu", "the same as the recorded CPU figure"),
                                ("recorded_cpu_matched_by", "conventions that reproduce it"),
                                ("cpu_seconds", "CPU (same machine, all cores) seconds"),
                                ("cpu_accuracy", "CPU accuracy (distance_ties='split')"),
                                ("predictions_identical", "GPU and CPU predictions identical"),
                                ("cpu_kernel_same_neighbours",
                                 "neighbours and boundary ties equal to the CPU kernel's (rows checked)"),
                                ("n_distinct_train", "distinct training texts (the search's columns)"),
                                ("projected_seconds", "GPU projected for the full search (s), by block size"),
                                ("block_size", "blocks of the run")):
                if key2 in r:
                    lines.append(f"- {label}: {r[key2]}")
            if "recorded_cpu" in r:
                lines.append(f"- recorded CPU figure (experiments/results/full_data.csv): {r['recorded_cpu']}")
            lines.append("")
    if d.get("targets"):
        lines += ["## Targets", "", "| target | value | met |", "|---|---:|---|"]
        for k, v in d["targets"].items():
            lines.append(f"| {k} (target {v['target']}) | {v['value']} | {v['met']} |")
        lines.append("")
    for title, key in (("Skipped", "skipped"), ("Errors", "errors")):
        if d.get(key):
            lines += [f"## {title}", ""] + [f"- {k}: {v}" for k, v in d[key].items()] + [""]
    return "\n".join(lines)


def targets(d: dict) -> dict:
    p = d["parts"]
    out = {}

    def put(name, value, ok):
        out[name] = {"target": TARGETS[name], "value": value, "met": ok}

    t = p.get("throughput", {})
    if "ag_news" in t:
        rate = t["ag_news"]["gpu"]["pairs_per_s"]
        put("ag_news_pairs_per_s", rate, rate >= TARGETS["ag_news_pairs_per_s"])
        put("gpu_over_cpu", t["ag_news"]["gpu_over_cpu"], t["ag_news"]["gpu_over_cpu"] >= TARGETS["gpu_over_cpu"])
    for name, key in (("imdb", "imdb_seconds"), ("r8", "r8_seconds")):
        r = p.get(f"{name}_end_to_end", {})
        if "gpu_seconds" in r:
            full = r["rows"] == r["n_test"]
            value = r["gpu_seconds"] if full else f"not run in full (projected {r.get('projected_seconds')})"
            put(key, value, full and r["gpu_seconds"] <= TARGETS[key])
    return out


def machine_info() -> dict:
    import numba

    from nnzip.cuda_backend import check_device
    from nnzip.evaluate import machine

    info = machine()
    info["numba"] = numba.__version__
    try:
        from importlib.metadata import version

        info["numba_cuda"] = version("numba-cuda")
    except Exception:
        info["numba_cuda"] = "?"
    info["gpu"] = check_device()
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    info["platform"] = platform.platform()
    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        info["git"] = git.stdout.strip() or "?"
    except OSError:
        info["git"] = "?"
    return info


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "gpu" / "results.json")
    parser.add_argument("--seconds", type=float, default=480,
                        help="time for everything (parts that would overrun are skipped)")
    parser.add_argument("--zlib-seconds", type=float, default=75,
                        help="at most this long for zlib in the exactness part")
    parser.add_argument("--fill", type=float, default=8, help="seconds each pairs-per-second measurement runs")
    parser.add_argument("--tiny", type=int, nargs="?", const=12, default=0,
                        help="first N texts of each file and a few rows (plumbing test, e.g. in the simulator)")
    parser.add_argument("--parts", default="exactness,throughput,r8,imdb")
    args = parser.parse_args(argv)
    args.rows = (lambda n: max(1, min(n, 3))) if args.tiny else (lambda n: n)
    if args.tiny:
        args.fill = 0.5
    budget = Budget(args.seconds)
    if not os.environ.get("NNZIP_DATA_DIR"):
        raise SystemExit("Error: set NNZIP_DATA_DIR to the folder holding ag_news (partial), 20news, imdb and r8")
    from nnzip.errors import NNZipError

    report = Report(args.output, [sys.argv[0], *argv])
    report.data["tiny"] = args.tiny
    try:
        report.data["machine"] = machine_info()
    except NNZipError as exc:
        raise SystemExit(f"Error: {exc}") from None
    cores = os.cpu_count() or 1
    if "exactness" in args.parts:
        _TEXTS.update(exactness_sets(args))
    # zlib's processes are forked with the texts, before any numba thread or CUDA context exists
    pool = multiprocessing.get_context("fork").Pool(cores)
    import nnzip

    _, report.data["cpu_compile_seconds"] = timed(nnzip.warmup)
    _, report.data["gpu_compile_seconds"] = timed(nnzip.warmup, "cuda")
    print(f"compiled: CPU kernels {report.data['cpu_compile_seconds']:.0f} s, GPU kernels "
          f"{report.data['gpu_compile_seconds']:.0f} s ({report.data['machine']['gpu']})", flush=True)
    report.save()
    parts = {
        "exactness": (lambda: exactness(args, report, budget, pool, cores), 120),
        "throughput": (lambda: throughput(args, report, budget, cores), 90),
        "r8": (lambda: r8_end_to_end(args, report, budget, cores), 40),
        "imdb": (lambda: imdb_end_to_end(args, report, budget, cores), 60),
    }
    for name in args.parts.split(","):
        run, needs = parts[name]
        if budget.left() < needs:
            report.data["skipped"][name] = f"needs about {needs} s, {budget.left():.0f} s left"
        else:
            try:
                run()
            except Exception as exc:  # record it and go on: one failed part must not lose the others
                report.data["errors"][name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                traceback.print_exc()
            if name == "exactness":
                pool.terminate()
        report.data["targets"] = {} if args.tiny else targets(report.data)
        report.save()
    pool.terminate()
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
