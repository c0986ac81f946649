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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nnzip.candidates import DEFAULT_N_CANDIDATES
from nnzip.data import Dataset, duplicate_mask, load_bbc, load_local, local_datasets, read_tsv
from nnzip.evaluate import Evaluation, classify, score, write_json
from nnzip.evaluate import machine as machine_info
from nnzip.tied_neighbors import TiedNeighbors

from .config import ROOT, Config
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


def knn_votes(ev: Evaluation, X_test: list, y_train: list, variants: Mapping[str, tuple[int, str]], seed: int
              ) -> tuple[TiedNeighbors, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A kNN run's neighbour structure with boundary ties, and each variant's votes from its one search.

    The runner's one dependence on the kNN API that issue 22 changes (every kNN model gets
    ``distance_ties``, a ``tied_neighbors(X)`` method and a ``vote`` that takes a
    :class:`TiedNeighbors`): adapt here when it is merged. Until then the structure comes from
    ``kneighbors`` asked for more neighbours, 2k, then 4k, ... on the rows whose last one is
    still at the k-th distance, until every row's tied group is closed (exact, at the cost of
    extra searches, kept in the block cache like any other); a rerank search ranks only its
    candidates, so its tied groups are those among the candidates. Votes use the k nearest
    ordered by (distance, training index), as the classifier predicts today.

    Parameters
    ----------
    ev : Evaluation
        The classify job of a fitted kNN model (its ``neighbors`` are the k nearest of the search).
    X_test : list
        The test texts searched.
    y_train : list
        The training labels.
    variants : mapping
        Variant name to ``(k, tie_break)``, each k at most the search's.
    seed : int
        ``random_state`` of the votes.

    Returns
    -------
    neighbors : TiedNeighbors
        The search's k nearest and every training item tied with the k-th.
    votes : dict
        Variant name to ``(predicted labels, labels of its k nearest)`` (the latter for the
        paper's top-k tie figure).
    """
    model = ev.model
    dist, idx = ev.neighbors  # type: ignore[misc]
    k = dist.shape[1]
    cap = model.n_samples_fit_
    if getattr(model, "search", "exact") == "rerank":
        cap = min(cap, model.n_candidates or DEFAULT_N_CANDIDATES)
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    todo, kk = np.arange(len(X_test)), k
    while todo.size:
        kk = min(cap, 2 * kk)
        d, i = model.kneighbors([X_test[j] for j in todo], n_neighbors=kk)
        kth = d[:, k - 1]
        closed = (kk == cap) | (d[:, -1] > kth)
        for r in np.flatnonzero(closed):
            keep = d[r] <= kth[r]
            rows[int(todo[r])] = (d[r][keep], i[r][keep])
        todo = todo[~closed]
    indptr = np.zeros(len(X_test) + 1, dtype=np.int64)
    np.cumsum([rows[j][0].size for j in range(len(X_test))], out=indptr[1:])
    distances = np.concatenate([rows[j][0] for j in range(len(X_test))])
    indices = np.concatenate([rows[j][1] for j in range(len(X_test))])
    neighbors = TiedNeighbors(indptr, indices, distances, k, model.n_samples_fit_)
    labels = np.asarray(y_train, dtype=object)
    votes = {}
    for name, (k_vote, tie_break) in variants.items():
        voter = model.set_params(n_neighbors=k_vote, tie_break=tie_break, random_state=seed)
        votes[name] = (voter.vote(dist[:, :k_vote], idx[:, :k_vote])[0], labels[idx[:, :k_vote]])
    return neighbors, votes


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
            nb = None if ev.neighbors is None else knn_votes(ev, ds.X_test, ds.y_train, {}, seed)[0]
            sidecar = write_sidecar(self.runs_dir, self._label(spec), self._rows(ds, {"default": ev.predictions}, nb))
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
        """All k/tie-break variants of gzip-kNN from one neighbour search per compressor, one sidecar per search."""
        k_max = max(k for k, _ in self.cfg.knn_variants)
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
            specs = [
                (self._base(dataset, shots, seed, "gzip-knn", f"k={k} {tb}{suffix}") | {"compressor": comp} | extra,
                 k, tb)
                for k, tb in self.cfg.knn_variants
            ]
            todo = [s for s in specs if not self._done(s[0])]
            if not todo:
                continue
            ds = ds or self._dataset(dataset, shots, seed)
            k_fit = min(k_max, len(ds.X_train))
            # one search for every variant: the largest k, voted again for each k and tie-break
            ev = classify("gzip-knn", ds, {"n_neighbors": k_fit, "compressor": comp, "n_jobs": self.cfg.n_jobs,
                                           "cache_dir": self.cache_dir, "verbose": 1, **params})
            seconds = ev.fit_seconds + ev.predict_seconds
            nb, votes = knn_votes(ev, ds.X_test, ds.y_train, {s["variant"]: (k, tb) for s, k, tb in specs}, seed)
            label = "_".join(str(p) for p in (dataset, "gzip-knn", comp + suffix, shots, seed) if p is not None)
            predicted = {name: pred for name, (pred, _) in votes.items()}
            sidecar = write_sidecar(self.runs_dir, label, self._rows(ds, predicted, nb))
            for spec, k, tb in todo:
                pred, nearest_labels = votes[spec["variant"]]
                # us_per_pair: wall time per (test, train) pair of the task, whatever the search compressed
                result = {**score(ds, pred, nearest_labels, remove_duplicates=self.cfg.remove_duplicates),
                          "k": k, "tie_break": tb, "weights": params.get("weights", "uniform"),
                          "seconds": round(seconds, 3),
                          "us_per_pair": round(1e6 * seconds / (len(ds.X_train) * len(ds.X_test)), 3),
                          "status": "ok"}
                self._write(spec, result, sidecar)
                self.computed += 1
        return ds
