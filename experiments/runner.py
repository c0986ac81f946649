"""Run an experiment config: one JSON result file per (dataset, model, variant, shots, seed).

Each run is nnzip's classify job (:func:`nnzip.evaluate.classify`) on the config's data, scored
by :func:`nnzip.evaluate.score`, and keeps its per-item output in a sidecar beside its result
file (:mod:`experiments.per_item`). Finished runs are skipped on a rerun (unless ``overwrite``),
and gzip neighbour searches go through the index's block cache, so an interrupted experiment
resumes where it stopped. Tables and plots are built from the result files only
(:mod:`experiments.report`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nnzip.candidates import DEFAULT_N_CANDIDATES
from nnzip.data import Dataset, duplicate_mask, load_bbc, load_local, local_datasets, read_tsv
from nnzip.evaluate import classify, score, write_json
from nnzip.evaluate import machine as machine_info
from nnzip.tied_neighbors import TiedNeighbors

from .config import ROOT, Config, KnnVariant
from .per_item import item_rows, no_sidecar, run_is_done, write_sidecar

RESULTS_DIR = ROOT / "results"
CACHE_DIR = ROOT / ".cache"
# gzip_params that change no result, and those already named in a rerank run's spec
_NOT_IN_KEY = ("verbose", "search", "n_candidates")


@dataclass
class Drawn(Dataset):
    """A run's data, with where each item came from.

    Attributes
    ----------
    train_rows, test_rows : ndarray of int64
        Row of each training and test item in its split as loaded (before shots were drawn or
        the test set subsampled). A dataset with only a test set locally draws both from it.
    """

    train_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _train_test(cfg: Config, name: str, limit: int | None, shots: int | None, seed: int) -> Drawn:
    """The dataset for one run: a seeded test subsample and, for few-shot runs, seeded shots."""
    if name == "bbc" or (local_datasets()[name] / "train.tsv.gz").exists():
        ds = load_bbc() if name == "bbc" else load_local(name)
        train_rows, test_rows = np.arange(len(ds.X_train)), np.arange(len(ds.X_test))
    else:
        # no training set offline (the config check allows this in few-shot configs only): draw
        # the shots from one seeded half of the test set, evaluate on the other
        X, y = read_tsv(local_datasets()[name] / "test.tsv.gz")
        order = np.random.default_rng(10_000 + seed).permutation(len(X))
        train_rows, test_rows = order[:len(X) // 2], order[len(X) // 2:]
        ds = Dataset(name, [X[i] for i in train_rows], [y[i] for i in train_rows], [X[i] for i in test_rows],
                     [y[i] for i in test_rows],
                     ["shots drawn from one seeded half of the test set, evaluated on the other half"])
    if shots:
        rng = np.random.default_rng(seed)
        labels = np.array(ds.y_train, dtype=object)
        picked = []
        for cls in sorted(set(ds.y_train)):
            members = np.flatnonzero(labels == cls)
            picked += rng.choice(members, min(shots, len(members)), replace=False).tolist()
        picked.sort()
        ds.X_train = [ds.X_train[i] for i in picked]
        ds.y_train = [ds.y_train[i] for i in picked]
        train_rows = train_rows[picked]
    if limit is not None and limit < len(ds.X_test):
        keep = test_subsample(len(ds.X_test), limit)
        ds.X_test = [ds.X_test[i] for i in keep]
        ds.y_test = [ds.y_test[i] for i in keep] if ds.y_test is not None else None
        test_rows = test_rows[keep]
        ds.notes.append(f"seeded subsample of {limit} test items")
    return Drawn(ds.name, ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.notes,
                 train_rows=np.asarray(train_rows, dtype=np.int64), test_rows=np.asarray(test_rows, dtype=np.int64))


def test_subsample(n_test: int, limit: int | None) -> np.ndarray:
    """Indices of the seeded test subsample of ``limit`` items (all items when ``limit`` is None or
    not smaller). One subsample per dataset (not per seed), so every row is scored on the same items."""
    if limit is None or limit >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(0).choice(n_test, limit, replace=False))


def knn_votes(model, tied: TiedNeighbors, X_test: list, y_train: list, variants: Sequence[KnnVariant],
              seed: int) -> dict[str, Vote]:
    """Every variant's vote from one kNN search: the runner's one use of the kNN voting API.

    ``tied`` holds each test item's k nearest and every training item tied with the k-th, for
    the largest k of the variants (:meth:`~nnzip.neighbors.KNeighborsVoteMixin.tied_neighbors`);
    each variant votes from ``tied.with_k(k)`` with its own ``distance_ties`` and ``tie_break``.

    Parameters
    ----------
    model : estimator
        The fitted kNN model that searched (its parameters are changed to each variant's).
    tied : TiedNeighbors
        Its neighbours of the test items with boundary ties.
    X_test : list
        The test texts (``tie_break="random"`` keys its draws by them).
    y_train : list
        The training labels.
    variants : sequence of KnnVariant
        What to vote; a k above the search's is voted with the search's k (a few-shot
        training set smaller than k).
    seed : int
        ``random_state`` of the votes.

    Returns
    -------
    dict
        Variant name to its :class:`Vote`.
    """
    labels = np.asarray(y_train, dtype=object)
    out = {}
    for v in variants:
        nb = tied.with_k(min(v.k, tied.n_neighbors))
        voter = model.set_params(n_neighbors=nb.n_neighbors, distance_ties=v.distance_ties, tie_break=v.tie_break,
                                 random_state=seed)
        out[v.name] = Vote(voter.vote(nb, X_test)[0], labels[voter.cut_ties(nb)[1]], nb)
    return out


@dataclass(frozen=True)
class Vote:
    """One variant's vote (:func:`knn_votes`).

    Attributes
    ----------
    predicted : ndarray
        Predicted label of each test item.
    nearest_labels : ndarray of shape (n_test, k)
        Labels of the k neighbours the model returns (``kneighbors``), for the paper's top-k tie figure.
    tied : TiedNeighbors
        The neighbours of the vote's k with boundary ties (for the training-order figures).
    """

    predicted: np.ndarray
    nearest_labels: np.ndarray
    tied: TiedNeighbors


def machine() -> dict:
    """Where the results were produced, with the git commit of the checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                             check=False).stdout.strip()
    except OSError:
        sha = ""
    # a copy of the tree sent elsewhere (a GPU machine's) is told its commit by whoever sent it:
    # its own .git, if any, may be older than the files that run
    return {**machine_info(), "git": os.environ.get("NNZIP_GIT_COMMIT") or sha}


class Runner:
    """Runs every unit of a config, skipping those whose result file (and its sidecar) is complete.

    Parameters
    ----------
    cfg : Config
        The experiment.
    results_dir : Path
        Where ``<name>/runs/*.json`` and their sidecars go.
    limit_test : int, optional
        Overrides the config's ``limit_test`` (quick mode).
    overwrite : bool
        Recompute finished runs.
    cache_dir : Path
        Engine block cache for the gzip neighbour searches.
    models, datasets, shots : sequence, optional
        Run only these models / datasets / shot counts of the config (all when None); the
        result files are the same as those of a full run.
    """

    def __init__(self, cfg: Config, results_dir: Path = RESULTS_DIR, limit_test: int | None = None,
                 overwrite: bool = False, cache_dir: Path = CACHE_DIR, argv: list[str] | None = None,
                 models=None, datasets=None, shots=None) -> None:
        cfg.check_picks(models, datasets, shots)
        self.models = list(models) if models else list(cfg.models)
        self.datasets = list(datasets) if datasets else list(cfg.datasets)
        self.shots = list(shots) if shots else list(cfg.shots)
        self.cfg = cfg
        self.runs_dir = Path(results_dir) / cfg.name / "runs"
        self.limit_test = limit_test
        self.overwrite = overwrite
        self.cache_dir = Path(cache_dir)
        self.argv = argv if argv is not None else sys.argv
        self.computed = 0

    def test_limit(self, dataset: str) -> int | None:
        """Test subsample size of a dataset: the quick-mode override, else the config's (None: all items)."""
        return self.limit_test if self.limit_test is not None else self.cfg.test_limit(dataset)

    def model_params(self, model: str, dataset: str) -> dict:
        """The config's parameters of ``model`` on ``dataset`` (:meth:`Config.params`)."""
        return self.cfg.params(model, dataset)

    def key_spec(self, spec: dict) -> dict:
        """Everything that changes a run's result: the unit (dataset, model, variant, shots, seed,
        compressor, duplicates rule), the test subsample size actually used and the config's
        model parameters. Worker counts and cache folders change no result and are left out."""
        return {**spec, "limit_test": self.test_limit(spec["dataset"]),
                "model_params": self.model_params(spec["model"], spec["dataset"])}

    def _label(self, spec: dict) -> str:
        fields = ("dataset", "model", "variant", "shots", "seed")
        return "_".join(str(spec[k]) for k in fields if spec.get(k) is not None).replace("/", "-")

    def _path(self, spec: dict) -> Path:
        key = hashlib.sha256(json.dumps(self.key_spec(spec), sort_keys=True).encode()).hexdigest()[:16]
        return self.runs_dir / f"{self._label(spec)}_{key}.json"

    def _write(self, spec: dict, result: dict, per_item: dict) -> None:
        """The run file, after its sidecar (``per_item``: :func:`write_sidecar`'s or :func:`no_sidecar`'s keys)."""
        payload = {
            "experiment": self.cfg.name,
            **spec,
            **result,
            **per_item,
            "limit_test": self.test_limit(spec["dataset"]),
            "argv": self.argv,
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
        }
        write_json(self._path(spec), payload)

    def _done(self, spec: dict) -> bool:
        return not self.overwrite and run_is_done(self._path(spec))

    def units(self) -> list[tuple[str, int | None, int]]:
        """(dataset, shots, seed) combinations, in order."""
        shots = self.shots or [None]
        seeds = self.cfg.seeds if self.cfg.shots else self.cfg.seeds[:1]
        return [(d, s, seed) for d in self.datasets for s in shots for seed in seeds]

    def run(self) -> int:
        """Run everything not yet done; returns the number of runs computed now."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for dataset, shots, seed in tqdm(self.units(), desc=self.cfg.name, unit="unit"):
            self._unit(dataset, shots, seed)
        return self.computed

    def _base(self, dataset: str, shots: int | None, seed: int, model: str, variant: str) -> dict:
        return {"dataset": dataset, "shots": shots, "seed": seed, "model": model, "variant": variant,
                "remove_duplicates": self.cfg.remove_duplicates}

    def _rows(self, ds: Drawn, predicted: dict, neighbors: TiedNeighbors | None = None) -> list[dict]:
        """The sidecar's rows of a run (kNN models: with the neighbours, ties included)."""
        return item_rows(ds.test_rows, ds.y_test or [], duplicate_mask(ds.X_train, ds.X_test), predicted,
                         neighbors, ds.train_rows, ds.y_train)

    def _unit(self, dataset: str, shots: int | None, seed: int) -> None:
        ds = None
        for model in self.models:
            if model == "gzip-knn":
                ds = self._gzip(dataset, shots, seed, ds)
                continue
            spec = self._base(dataset, shots, seed, model, "default")
            if self._done(spec):
                continue
            ds = ds or self._dataset(dataset, shots, seed)
            params = {"random_state": seed, "n_jobs": self.cfg.n_jobs, **self.model_params(model, dataset)}
            # models that cache their own work (embedding-knn) keep it beside the block cache
            ev = classify(model, ds, {"cache_dir": self.cache_dir / model, **params},
                          remove_duplicates=self.cfg.remove_duplicates)
            # models trained on a device (the transformer) say which, with the checkpoint and epochs run
            info = ev.model.run_info() if hasattr(ev.model, "run_info") else {}
            # kNN models keep their neighbours with boundary ties (ev.tied; None for the others)
            sidecar = write_sidecar(self.runs_dir, self._label(spec),
                                    self._rows(ds, {"default": ev.predictions}, ev.tied))
            self._write(spec, {**ev.metrics, "fit_seconds": round(ev.fit_seconds, 3),
                               "predict_seconds": round(ev.predict_seconds, 3), **info, "status": "ok",
                               "params": {k: repr(v) for k, v in params.items()}}, sidecar)
            self.computed += 1
        for model, reason in self.cfg.not_run.items() if set(self.models) == set(self.cfg.models) else ():
            spec = self._base(dataset, shots, seed, model, "default")
            if not self._done(spec):
                self._write(spec, {"status": "not run", "reason": reason}, no_sidecar("not run: " + reason))

    def _dataset(self, dataset: str, shots: int | None, seed: int) -> Drawn:
        return _train_test(self.cfg, dataset, self.test_limit(dataset), shots, seed)

    def _gzip(self, dataset: str, shots: int | None, seed: int, ds: Drawn | None) -> Drawn | None:
        """All variants of gzip-kNN from one neighbour search per compressor, one sidecar per search."""
        variants = self.cfg.knn_variants
        params = dict(self.cfg.gzip_params)
        # only non-default settings are named in the spec, so existing result files keep their names
        extra, suffix = {}, ""
        if params.get("search", "exact") != "exact":
            m = params.get("n_candidates") or DEFAULT_N_CANDIDATES
            extra, suffix = {"search": params["search"], "n_candidates": m}, f" {params['search']} M={m}"
        others = {k: v for k, v in params.items() if k not in _NOT_IN_KEY}
        if others:
            extra["gzip_params"] = others
        for comp in self.cfg.compressors:
            specs = {v.name + suffix: self._base(dataset, shots, seed, "gzip-knn", v.name + suffix)
                     | {"compressor": comp, "distance_ties": v.distance_ties} | extra for v in variants}
            todo = [v for v in variants if not self._done(specs[v.name + suffix])]
            if not todo:
                continue
            ds = ds or self._dataset(dataset, shots, seed)
            # one search, for the largest k (with its boundary ties); every variant votes from it
            ev = classify("gzip-knn", ds, {"n_neighbors": min(max(v.k for v in variants), len(ds.X_train)),
                                           "compressor": comp, "n_jobs": self.cfg.n_jobs, "cache_dir": self.cache_dir,
                                           "verbose": 1, **params})
            assert ev.tied is not None  # a kNN model's classify job keeps its neighbours
            seconds = ev.fit_seconds + ev.predict_seconds
            votes = knn_votes(ev.model, ev.tied, ds.X_test, ds.y_train, variants, seed)
            label = "_".join(str(p) for p in (dataset, "gzip-knn", comp + suffix, shots, seed) if p is not None)
            sidecar = write_sidecar(self.runs_dir, label, self._rows(
                ds, {name + suffix: vote.predicted for name, vote in votes.items()}, ev.tied))
            weights = params.get("weights", "uniform")
            for v in todo:
                vote = votes[v.name]
                # us_per_pair: wall time per (test, train) pair of the task, whatever the search compressed
                result = {**score(ds, vote.predicted, vote.nearest_labels, remove_duplicates=self.cfg.remove_duplicates,
                                  tied=vote.tied, tie_break=v.tie_break, weights=weights),
                          "k": vote.tied.n_neighbors, "tie_break": v.tie_break, "weights": weights,
                          "seconds": round(seconds, 3),
                          "us_per_pair": round(1e6 * seconds / (len(ds.X_train) * len(ds.X_test)), 3),
                          "status": "ok"}
                self._write(specs[v.name + suffix], result, sidecar)
                self.computed += 1
        return ds
