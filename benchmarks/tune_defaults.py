"""Choose the defaults of ``search="rerank"`` and ``ZstdDictionaryClassifier`` on validation splits of training sets.

Run from the repository root (needs the benchmark data, see README):

    NNZIP_DATA_DIR=../shared/data python benchmarks/tune_defaults.py --test

Writes ``benchmarks/tune_defaults.md`` (the grids, every figure, the choice) and
``benchmarks/tune_defaults.json``. Nothing in the choice reads a test set: ``--test``, after
both choices are made, scores the chosen zstd-dict setting once on the full test sets, for the
record (rerank's test figures come from the experiments' rerun, hours of exact search).

Validation splits
-----------------
For each dataset, :func:`_common.validation_split` draws a stratified, seeded (seed 0) set of
training items as validation items; the other training items are what the model is fitted on
(the index, the dictionaries). 200 validation items for the rerank part (20news, IMDb, R8: the
exact search of 200 items is 2.2 and 5 million long pairs, as much as the shared 2-core machine
allowed; at 0.99 a setting may miss at most 2 of 200 items), 500 for zstd-dict (R8, MR, Ohsumed,
20news, IMDb).

Rerank
------
The exact NCD of every (validation item, distinct training text) pair is computed once per
dataset (cached under ``benchmarks/.cache``). For each first-stage setting ``s`` (gram length
``ngram`` x ``offset``, the hand-chosen constants of :class:`nnzip.candidates.CandidateIndex`;
``n_frequent`` changes its speed, not its candidates) and candidate count ``M``, the first stage
proposes each validation item's candidates as :class:`nnzip.NCDIndex` does (fitted on the distinct
training texts in byte order; short texts and a text equal to the query forced in), and the
rerank neighbours are the exact nearest among them, ties kept. At the current defaults this
reproduces ``NCDKNeighborsClassifier(search="rerank")``'s predictions, which the script checks.
Agreement: the share of validation items predicted as by the exact search, for each kNN variant of
``experiments/configs/full_rerank.toml`` (default ``distance_ties="split"``).

Rule, fixed before any result was seen:

1. ``a(s, M)``: the smallest agreement over 20news and IMDb (the datasets rerank is meant for)
   and over the kNN variants.
2. ``M*(s)``: the smallest ``M`` of the grid with ``a(s, M) >= 0.99``.
3. The first-stage setting is the ``s`` with the smallest ``M*(s)``; ties: the larger sum of
   ``a(s, M)`` over the grid, then the current default, then the smaller ``ngram``, then the
   smaller ``offset``.
4. ``n_candidates``'s default is ``M*`` of that setting. If no setting reaches 0.99 at any ``M``:
   the largest ``M``, the setting with the largest ``a`` there, and the results say the bar was
   missed.

R8 (short texts, cheap) is reported beside them and not used in the rule.

zstd-dict
---------
Every setting of the grid (levels 3, 9, 12 x 1, 3, 5 raw dictionaries per class; a cut raw and
two trained ones; levels 13 and up were left out: level 19 took over 2 minutes per fit on 20news
in a timing run) is fitted on the rest of the training set and predicts the validation items (2
threads; seconds: fit + predict, one run, in this process). Rule, fixed before any result was seen:

1. a setting that fails on any dataset (e.g. zstd cannot train a dictionary on a small class) is out;
2. its score is its mean validation accuracy over the five datasets (each weighs the same);
3. settings within 0.005 of the best score count as tied with it; of those, the one with the
   smallest total seconds over the five datasets is chosen.

``temperature`` keeps its own choice on R8's training set (``benchmarks/zstd_dict.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nnzip  # noqa: E402
from nnzip import NNZipError, ZstdDictionaryClassifier  # noqa: E402
from nnzip.candidates import DEFAULT_N_CANDIDATES, CandidateIndex  # noqa: E402
from nnzip.data import load_local  # noqa: E402
from nnzip.evaluate import machine, write_json  # noqa: E402
from nnzip.neighbors import top_k  # noqa: E402
from nnzip.pairwise import check_metric, lengths_to_distances  # noqa: E402
from nnzip.validation import as_bytes  # noqa: E402

from _common import carve  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
SEED = 0

RERANK_DATASETS = ("20news", "imdb", "r8")
RULE_DATASETS = ("20news", "imdb")
RERANK_VAL = 200
N_CANDIDATES = (64, 128, 256, 512, 1024)
NGRAMS = (4, 5, 6)
OFFSETS = (0.0, 24.0, 48.0, 96.0)
AGREEMENT_BAR = 0.99
# the config's variants under the default distance_ties="split" ([k, tie_break] or [k, tie_break, "split"])
VARIANTS: list[tuple[int, str]] = [
    (int(v[0]), str(v[1]))
    for v in tomllib.loads((HERE.parent / "experiments/configs/full_rerank.toml").read_text())["knn_variants"]
    if len(v) == 2 or v[2] == "split"]
K_MAX = max(k for k, _ in VARIANTS)
ROWS_PER_CALL = 20  # validation rows per exact pair call: the progress bar moves

ZSTD_DATASETS = ("r8", "mr", "ohsumed", "20news", "imdb")
ZSTD_VAL = 500
ZSTD_TOLERANCE = 0.005
ZSTD_KEYS = ("level", "dicts_per_class", "dict_size", "dict_type")
# levels 13 and up build binary-tree matchers over each dictionary: level 19 took over 2 minutes
# per fit on 20news in a timing run, beyond this script's budget on a shared 2-core machine
ZSTD_LEVELS = (3, 9, 12)


def _zstd(level: int, per: int, size: int | None = None, kind: str = "raw") -> dict:
    # every parameter of the grid given, so the grid does not move when the code's defaults do
    return dict(zip(ZSTD_KEYS, (level, per, size, kind)))


ZSTD_GRID: list[tuple[str, dict]] = [
    *[(f"level {lv}, {d} per class", _zstd(lv, d)) for lv in ZSTD_LEVELS for d in (1, 3, 5)],
    ("level 9, 3 per class, raw last 64 KiB", _zstd(9, 3, 65_536)),
    ("level 9, 1 per class, trained 110 KiB", _zstd(9, 1, None, "trained")),
    ("level 9, 3 per class, trained 110 KiB", _zstd(9, 3, None, "trained")),
]
def current_defaults() -> dict:
    """The defaults in the code now (what the choice is compared with)."""
    first = CandidateIndex().get_params()
    zstd = ZstdDictionaryClassifier().get_params()
    return {"ngram": int(first["ngram"]), "offset": float(first["offset"]), "n_candidates": DEFAULT_N_CANDIDATES,
            "zstd": {k: zstd[k] for k in ZSTD_KEYS}}


# ---------------------------------------------------------------- the selection rules

def choose_rerank(rows: list[dict], default: tuple[int, float], bar: float = AGREEMENT_BAR,
                  datasets: tuple[str, ...] = RULE_DATASETS) -> dict:
    """Apply the rerank rule of the module docstring to per-(dataset, ngram, offset, M) figures.

    Parameters
    ----------
    rows : list of dict
        Keys ``dataset``, ``ngram``, ``offset``, ``n_candidates`` and ``agreement`` (a dict of
        agreement per kNN variant). Rows of other datasets are ignored.
    default : (int, float)
        The current ``(ngram, offset)``, preferred among otherwise equal settings.

    Returns
    -------
    dict
        ``ngram``, ``offset``, ``n_candidates``, ``agreement`` (``a`` there), ``met`` (the bar was
        reached) and ``a`` (``{(ngram, offset): {M: a}}``, every setting).
    """
    a: dict[tuple[int, float], dict[int, float]] = {}
    seen: dict[tuple[int, float, int], set] = {}
    for r in rows:
        if r["dataset"] not in datasets:
            continue
        s, m = (int(r["ngram"]), float(r["offset"])), int(r["n_candidates"])
        worst = min(r["agreement"].values())
        a.setdefault(s, {})[m] = min(a.get(s, {}).get(m, 1.0), worst)
        seen.setdefault((*s, m), set()).add(r["dataset"])
    if not a:
        raise ValueError("no figures for the rule's datasets")
    missing = [key for key, names in seen.items() if set(datasets) - names]
    if missing:
        raise ValueError(f"settings without figures on every rule dataset: {missing}")

    def m_star(s):
        met = [m for m, v in a[s].items() if v >= bar]
        return min(met) if met else None

    reached = [s for s in a if m_star(s) is not None]
    if reached:
        key = lambda s: (m_star(s), -sum(a[s].values()), s != default, s[0], s[1])  # noqa: E731
        s = min(reached, key=key)
        m = m_star(s)
    else:
        m = max(max(v) for v in a.values())
        s = min((s for s in a if m in a[s]), key=lambda s: (-a[s][m], s != default, s[0], s[1]))
    assert m is not None
    return {"ngram": s[0], "offset": s[1], "n_candidates": m, "agreement": a[s][m], "met": bool(reached), "a": a}


def choose_zstd(rows: list[dict], tolerance: float = ZSTD_TOLERANCE) -> dict:
    """Apply the zstd-dict rule of the module docstring to per-(setting, dataset) figures.

    Parameters
    ----------
    rows : list of dict
        Keys ``setting`` (a label), ``params``, ``dataset``, and ``accuracy`` and ``seconds``, or
        ``error``.

    Returns
    -------
    dict
        ``setting``, ``params``, ``score`` (mean accuracy), ``seconds`` (total), ``best`` (the
        best score of all) and ``scores`` (``{setting: (score, seconds)}`` of the eligible ones).
    """
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r)
    n_datasets = len({r["dataset"] for r in rows})
    scores = {
        s: (float(np.mean([r["accuracy"] for r in rs])), float(sum(r["seconds"] for r in rs)))
        for s, rs in by.items()
        if len(rs) == n_datasets and not any("error" in r for r in rs)
    }
    if not scores:
        raise ValueError("no setting ran on every dataset")
    best = max(v[0] for v in scores.values())
    tied = [s for s, v in scores.items() if v[0] >= best - tolerance]
    s = min(tied, key=lambda s: (scores[s][1], -scores[s][0]))
    return {"setting": s, "params": by[s][0]["params"], "score": scores[s][0], "seconds": scores[s][1],
            "best": best, "scores": scores}


# ---------------------------------------------------------------- rerank figures

def _distinct(texts: list[bytes]) -> tuple[list[bytes], np.ndarray]:
    """Distinct texts in byte order (as NCDIndex searches them), and each item's one."""
    distinct = sorted(set(texts))
    where = {t: i for i, t in enumerate(distinct)}
    return distinct, np.array([where[t] for t in texts], dtype=np.int64)


def exact_distances(name: str, xs: list[bytes], distinct: list[bytes], cx: np.ndarray, cy: np.ndarray,
                    n_jobs: int) -> np.ndarray:
    """NCD of every (validation item, distinct training text) pair; cached in ``benchmarks/.cache``."""
    from nnzip import get_compressor, pairwise_compressed_len

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"tune_{name}_val{len(xs)}_seed{SEED}_ncd.npy"
    if path.exists():
        found = np.load(path)
        if found.shape == (len(xs), len(distinct)):
            return found
    cxy = np.empty((len(xs), len(distinct)), dtype=np.int64)
    with tqdm(total=len(xs) * len(distinct), unit="pair", unit_scale=True, desc=f"{name}: exact NCD") as bar:
        for lo in range(0, len(xs), ROWS_PER_CALL):
            rows = slice(lo, min(lo + ROWS_PER_CALL, len(xs)))
            cxy[rows] = pairwise_compressed_len(xs[rows], distinct, n_jobs=n_jobs)
            bar.update((rows.stop - rows.start) * len(distinct))
    dist = lengths_to_distances(cxy, cx, cy, check_metric("ncd"), get_compressor("gzip"))
    np.save(path, dist)
    return dist


def rerank_distances(first: CandidateIndex, xs: list[bytes], m: int, cx: np.ndarray, include: np.ndarray,
                     dist_items: np.ndarray, inverse: np.ndarray, n_jobs: int) -> tuple[np.ndarray, int, float]:
    """What ``search="rerank"`` sees: the exact distances of each query's candidates, inf elsewhere.

    ``first`` is fitted on the distinct training texts in byte order (``_distinct``), ``include``
    names the distinct text equal to each query (-1: none), ``dist_items`` has the training items as
    columns and ``inverse`` maps them to their distinct text. Returns the matrix, the width
    (candidates per query, forced ones included) and the first stage's seconds.
    """
    start = time.perf_counter()
    cols = first.candidates(xs, m, n_jobs=n_jobs, x_lengths=cx, include=include)
    seconds = time.perf_counter() - start
    keep = np.zeros((len(xs), len(first.n_grams_)), dtype=bool)
    keep[np.arange(len(xs))[:, None], cols] = True
    return np.where(keep[:, inverse], dist_items, np.inf), cols.shape[1], seconds


def _predict(dist: np.ndarray, codes: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Prediction (class index) of every kNN variant from one distance matrix (items as columns)."""
    neighbors = top_k(dist, K_MAX)
    return {f"k={k} {t}": nnzip.tied_vote(neighbors.with_k(k), codes, n_classes, tie_break=t)[0]
            for k, t in VARIANTS}


def rerank_figures(name: str, n_val: int, defaults: dict, n_jobs: int) -> tuple[list[dict], dict, dict]:
    """Agreement with the exact search of every (first stage, M) on one dataset's validation split.

    Returns the rows, the split's figures, and what :func:`check_against_classifier` needs.
    """
    ds = carve(load_local(name), n_val, SEED)
    classes, codes = np.unique(np.asarray(ds.y_train), return_inverse=True)
    y_val = np.searchsorted(classes, np.asarray(ds.y_test))
    train = as_bytes(ds.X_train, "X")
    xs = as_bytes(ds.X_test, "X")
    distinct, inverse = _distinct(train)
    cy = nnzip.compressed_len(distinct, n_jobs=n_jobs)
    cx = nnzip.compressed_len(xs, n_jobs=n_jobs)
    dist_items = exact_distances(name, xs, distinct, cx, cy, n_jobs)[:, inverse]
    exact = _predict(dist_items, codes, len(classes))
    nearest = dist_items.min(axis=1)
    where = {t: i for i, t in enumerate(distinct)}
    include = np.array([where.get(x, -1) for x in xs], dtype=np.int64)
    info = {"dataset": name, "n_fit": len(train), "n_distinct": len(distinct), "n_val": len(xs),
            "n_classes": len(classes), "accuracy_exact": {v: float(np.mean(p == y_val)) for v, p in exact.items()},
            "val_equal_to_a_training_text": int((include >= 0).sum())}
    rows, check = [], {"ds": ds, "classes": classes, "pred": None}
    settings = [(g, o, m) for g in NGRAMS for o in OFFSETS for m in N_CANDIDATES if m < len(distinct)]
    first = None
    for g, o, m in tqdm(settings, desc=f"{name}: first stages", unit="setting"):
        if first is None or first.ngram != g:
            start = time.perf_counter()
            first = CandidateIndex(g, n_jobs=n_jobs).fit(distinct, cy)
            fit_s = time.perf_counter() - start
        first.set_params(offset=o)
        dist, width, first_s = rerank_distances(first, xs, m, cx, include, dist_items, inverse, n_jobs)
        pred = _predict(dist, codes, len(classes))
        if (g, o, m) == (defaults["ngram"], defaults["offset"], defaults["n_candidates"]):
            check["pred"] = pred
        rows.append({
            "dataset": name, "ngram": g, "offset": o, "n_candidates": m, "width": width,
            "agreement": {v: float(np.mean(pred[v] == exact[v])) for v in exact},
            "accuracy_rerank": {v: float(np.mean(pred[v] == y_val)) for v in exact},
            "nearest_found": float(np.mean(dist.min(axis=1) == nearest)),
            "first_stage_fit_s": fit_s, "first_stage_query_s": first_s,
        })
    return rows, info, check


def check_against_classifier(check: dict, n_jobs: int) -> dict:
    """The real ``search="rerank"`` classifier at the code's defaults predicts as the emulation does."""
    if check["pred"] is None:
        return {"checked": False, "why": "the code's defaults are not in the grid"}
    ds = check["ds"]
    k, t = VARIANTS[0]
    clf = nnzip.NCDKNeighborsClassifier(k, tie_break=t, search="rerank", n_jobs=n_jobs).fit(ds.X_train, ds.y_train)
    pred = clf.predict(ds.X_test)
    emulated = check["classes"][check["pred"][f"k={k} {t}"]]
    if not np.array_equal(pred, emulated):
        raise SystemExit(f"{ds.name}: the emulated rerank differs from NCDKNeighborsClassifier(search='rerank') on "
                         f"{int(np.sum(pred != emulated))} validation items; figures not written")
    return {"checked": True, "variant": f"k={k} {t}", "accuracy": float(np.mean(pred == np.asarray(ds.y_test)))}


# ---------------------------------------------------------------- zstd-dict figures

def zstd_figures(name: str, n_val: int, n_jobs: int) -> tuple[list[dict], dict]:
    """Validation accuracy and seconds of every zstd-dict setting on one dataset."""
    ds = carve(load_local(name), n_val, SEED)
    y = np.asarray(ds.y_test)
    rows = []
    for label, params in tqdm(ZSTD_GRID, desc=f"{name}: zstd-dict", unit="setting"):
        row: dict = {"dataset": name, "setting": label, "params": params}
        start = time.perf_counter()
        try:
            clf = ZstdDictionaryClassifier(**params, n_jobs=n_jobs).fit(ds.X_train, ds.y_train)
            pred = clf.predict(ds.X_test)
        except NNZipError as exc:
            row["error"] = str(exc)
        else:
            row["seconds"] = time.perf_counter() - start
            row["accuracy"] = float(np.mean(pred == y))
        rows.append(row)
    return rows, {"dataset": name, "n_fit": len(ds.X_train), "n_val": len(ds.X_test)}


def zstd_test(params: dict, n_jobs: int) -> list[dict]:
    """The chosen setting on the full training and test sets, once (not used for the choice)."""
    out = []
    for name in ZSTD_DATASETS:
        ds = load_local(name)
        start = time.perf_counter()
        pred = ZstdDictionaryClassifier(**params, n_jobs=n_jobs).fit(ds.X_train, ds.y_train).predict(ds.X_test)
        out.append({"dataset": name, "n_train": len(ds.X_train), "n_test": len(ds.X_test),
                    "accuracy": float(np.mean(pred == np.asarray(ds.y_test))),
                    "seconds": time.perf_counter() - start})
    return out


# ---------------------------------------------------------------- report

def _fmt_offset(o: float) -> str:
    return f"{o:g}"


def report(args, m: dict, defaults: dict, rr_rows, rr_info, rr_choice, checks, zs_rows, zs_info, zs_choice,
           test_rows) -> str:
    doc = __doc__.split("Validation splits\n-----------------\n", 1)[1]
    lines = [
        "# Defaults chosen on validation splits of the training sets",
        "",
        f"Command: `NNZIP_DATA_DIR=../shared/data python benchmarks/tune_defaults.py {' '.join(args.argv)}`".rstrip()
        + "  ",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs while this ran), Python {m['python']}, "
        f"zlib {m['zlib']}; nnzip {m['nnzip']}; date {datetime.date.today().isoformat()}. Wall times are noisy.",
        "",
        "## How (from the script's docstring; the rules were fixed before any result was seen)",
        "",
        "### Validation splits",
        "",
        doc.strip(),
        "",
        "## Rerank: the choice",
        "",
        f"Defaults in the code before this run: ngram={defaults['ngram']}, offset={_fmt_offset(defaults['offset'])}, "
        f"n_candidates={defaults['n_candidates']}.",
        "",
        f"**Chosen: ngram={rr_choice['ngram']}, offset={_fmt_offset(rr_choice['offset'])}, "
        f"n_candidates={rr_choice['n_candidates']}** (a = {rr_choice['agreement']:.4f}"
        + ("" if rr_choice["met"] else f"; no setting reached {AGREEMENT_BAR} at any M: bar missed") + ").",
        "",
        "Splits: " + "; ".join(f"{i['dataset']}: {i['n_val']} validation items against {i['n_fit']} training items "
                               f"({i['n_distinct']} distinct; {i['val_equal_to_a_training_text']} validation items "
                               "equal a training text)" for i in rr_info) + ".",
        "",
        "Check against the real classifier at the code's defaults: " + "; ".join(
            f"{c['dataset']}: " + (f"same predictions ({c['variant']}, accuracy {c['accuracy']:.4f})" if c["checked"]
                                   else c["why"]) for c in checks) + ".",
        "",
        "Exact search on the validation items, accuracy per kNN variant: " + "; ".join(
            f"{i['dataset']}: " + ", ".join(f"{v} {a:.4f}" for v, a in i["accuracy_exact"].items()) for i in rr_info)
        + ".",
        "",
        "## Rerank: every setting",
        "",
        "agreement: the smallest over the kNN variants of the share of validation items predicted as by the exact "
        "search; 1-NN found: the exact nearest distance is among the candidates; a: the rule's figure (the "
        f"smallest agreement over {' and '.join(RULE_DATASETS)}); first stage s: proposing the candidates of every "
        "validation item (fit excluded), summed over the datasets.",
        "",
    ]
    names = [i["dataset"] for i in rr_info]
    head = "| ngram | offset | M | " + " | ".join(f"{n} agreement | {n} 1-NN found" for n in names) + \
        " | a | first stage s |"
    lines += [head, "|" + "---:|" * (4 + 2 * len(names)) + "---:|"]
    index = {(r["dataset"], r["ngram"], r["offset"], r["n_candidates"]): r for r in rr_rows}
    for g in NGRAMS:
        for o in OFFSETS:
            for mm in N_CANDIDATES:
                cells, secs = [], 0.0
                for n in names:
                    r = index.get((n, g, o, mm))
                    if r is None:
                        cells.append("| |")
                        continue
                    cells.append(f"{min(r['agreement'].values()):.4f} | {r['nearest_found']:.4f}")
                    secs += r["first_stage_query_s"]
                a = rr_choice["a"].get((g, o), {}).get(mm)
                mark = "**" if (g, o, mm) == (rr_choice["ngram"], rr_choice["offset"], rr_choice["n_candidates"]) \
                    else ""
                lines.append(f"| {g} | {_fmt_offset(o)} | {mm} | " + " | ".join(cells) +
                             f" | {mark}{'' if a is None else f'{a:.4f}'}{mark} | {secs:.1f} |")
    lines += ["", f"At the chosen first stage (ngram={rr_choice['ngram']}, offset={_fmt_offset(rr_choice['offset'])})"
              ", agreement and validation accuracy per kNN variant:", "",
              "| dataset | M | variant | agreement | accuracy rerank | accuracy exact |",
              "|---|---:|---|---:|---:|---:|"]
    for i in rr_info:
        for mm in N_CANDIDATES:
            r = index.get((i["dataset"], rr_choice["ngram"], rr_choice["offset"], mm))
            if r is None:
                continue
            for v in r["agreement"]:
                lines.append(f"| {i['dataset']} | {mm} | {v} | {r['agreement'][v]:.4f} | "
                             f"{r['accuracy_rerank'][v]:.4f} | {i['accuracy_exact'][v]:.4f} |")
    zd = defaults["zstd"]
    lines += [
        "",
        "## zstd-dict: the choice",
        "",
        "Defaults in the code before this run: " + ", ".join(f"{k}={v!r}" for k, v in zd.items()) + ".",
        "",
        f"**Chosen: {zs_choice['setting']}** (" + ", ".join(f"{k}={v!r}" for k, v in
                                                         {**zd, **zs_choice['params']}.items()) +
        f"; mean validation accuracy {zs_choice['score']:.4f}, best of all {zs_choice['best']:.4f}, "
        f"{zs_choice['seconds']:.1f} s in all).",
        "",
        "Splits: " + "; ".join(f"{i['dataset']}: {i['n_val']} validation items against {i['n_fit']} training items"
                               for i in zs_info) + ".",
        "",
        "| setting | " + " | ".join(f"{i['dataset']} accuracy | s" for i in zs_info) + " | mean accuracy | total s |",
        "|---|" + "---:|" * (2 * len(zs_info) + 2),
    ]
    for label, _ in ZSTD_GRID:
        cells = []
        for i in zs_info:
            r = next(r for r in zs_rows if r["setting"] == label and r["dataset"] == i["dataset"])
            cells.append(f"error: {r['error']} | " if "error" in r else f"{r['accuracy']:.4f} | {r['seconds']:.1f}")
        score = zs_choice["scores"].get(label)
        tail = "out | |" if score is None else f"{score[0]:.4f} | {score[1]:.1f} |"
        bold = "**" if label == zs_choice["setting"] else ""
        lines.append(f"| {bold}{label}{bold} | " + " | ".join(cells) + f" | {tail}")
    if test_rows:
        lines += ["", "## Test figures of the chosen zstd-dict setting (measured once, after the choice)", "",
                  "Full training and test sets, 2 threads.", "",
                  "| dataset | train | test | accuracy | seconds |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {t['dataset']} | {t['n_train']} | {t['n_test']} | {t['accuracy']:.4f} | {t['seconds']:.1f} |"
                  for t in test_rows]
    lines += ["", "Rerank's test figures with the chosen defaults: the experiments' rerun (`experiments/configs/"
              "full_rerank.toml`, and `benchmarks/bench_rerank.py`).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--rerank-datasets", nargs="+", default=list(RERANK_DATASETS))
    parser.add_argument("--zstd-datasets", nargs="+", default=list(ZSTD_DATASETS))
    parser.add_argument("--rerank-val", type=int, default=RERANK_VAL, help="validation items (rerank datasets)")
    parser.add_argument("--zstd-val", type=int, default=ZSTD_VAL, help="validation items (zstd-dict datasets)")
    parser.add_argument("--test", action="store_true", help="after the choice, score the chosen zstd-dict setting "
                                                            "once on the full test sets")
    parser.add_argument("--output", type=Path, default=HERE / "tune_defaults.md")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    missing = set(RULE_DATASETS) - set(args.rerank_datasets)
    if missing:
        parser.error(f"the rerank rule needs {sorted(missing)}")
    defaults = current_defaults()
    nnzip.warmup()
    rr_rows, rr_info, checks = [], [], []
    for name in args.rerank_datasets:
        rows, info, check = rerank_figures(name, args.rerank_val, defaults, args.n_jobs)
        checks.append({"dataset": name, **check_against_classifier(check, args.n_jobs)})
        rr_rows += rows
        rr_info.append(info)
        print(json.dumps(info), flush=True)
    rr_choice = choose_rerank(rr_rows, (defaults["ngram"], defaults["offset"]))
    zs_rows, zs_info = [], []
    for name in args.zstd_datasets:
        rows, info = zstd_figures(name, args.zstd_val, args.n_jobs)
        zs_rows += rows
        zs_info.append(info)
    zs_choice = choose_zstd(zs_rows)
    test_rows = zstd_test({**defaults["zstd"], **zs_choice["params"]}, args.n_jobs) if args.test else []
    m = machine()
    text = report(args, m, defaults, rr_rows, rr_info, rr_choice, checks, zs_rows, zs_info, zs_choice, test_rows)
    args.output.write_text(text)
    rr_public = {**rr_choice, "a": {f"ngram={g} offset={o:g}": v for (g, o), v in rr_choice["a"].items()}}
    write_json(args.output.with_suffix(".json"), {
        "argv": args.argv, "machine": m, "date": datetime.date.today().isoformat(), "seed": SEED,
        "defaults_before": defaults, "rerank": {"rows": rr_rows, "splits": rr_info, "checks": checks,
                                                "choice": rr_public},
        "zstd": {"rows": zs_rows, "splits": zs_info, "choice": zs_choice}, "zstd_test": test_rows})
    print(f"rerank: ngram={rr_choice['ngram']} offset={rr_choice['offset']:g} n_candidates={rr_choice['n_candidates']}"
          f" (before: {defaults['ngram']}, {defaults['offset']:g}, {defaults['n_candidates']})")
    print(f"zstd-dict: {zs_choice['setting']} (before: {defaults['zstd']})")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
