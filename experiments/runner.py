"""Run an experiment config: one JSON result file per (dataset, model, variant, shots, seed).

Each run is nnzip's classify job (:func:`nnzip.evaluate.classify`) on the config's data, scored
by :func:`nnzip.evaluate.score`. Finished runs are skipped on a rerun (unless ``overwrite``),
and gzip neighbour searches go through the index's block cache, so an interrupted experiment
resumes where it stopped. Tables and plots are built from the result files only
(:mod:`experiments.report`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nnzip.candidates import DEFAULT_N_CANDIDATES
from nnzip.compressors import COMPRESSORS
from nnzip.data import Dataset, load_bbc, load_local, local_datasets, read_tsv
from nnzip.errors import ConfigError
from nnzip.evaluate import classify, score, write_json
from nnzip.evaluate import machine as machine_info
from nnzip.models import MODELS
from nnzip.neighbors import TIE_BREAKS

ROOT = Path(__file__).resolve().parent
CONFIG_DIR = ROOT / "configs"
RESULTS_DIR = ROOT / "results"
CACHE_DIR = ROOT / ".cache"

KEYS = {
    "description": str,
    "datasets": list,
    "models": list,
    "knn_variants": list,
    "compressors": list,
    "shots": list,
    "seeds": list,
    "limit_test": int,
    "limit_test_for": dict,
    "remove_duplicates": bool,
    "not_run": dict,
    "model_params": dict,
    "model_params_for": dict,
    "n_jobs": int,
    "gzip_params": dict,
    "include_results": list,
}
DEFAULT_VARIANTS = [[1, "nearest"], [2, "nearest"], [2, "decrement"], [2, "random"], [2, "lowest"], [3, "decrement"],
                    [3, "random"]]


@dataclasses.dataclass
class Config:
    """A validated experiment config (see ``experiments/configs/*.toml``)."""

    name: str
    description: str = ""
    datasets: list = dataclasses.field(default_factory=list)
    models: list = dataclasses.field(default_factory=lambda: ["gzip-knn"])
    knn_variants: list = dataclasses.field(default_factory=lambda: [list(v) for v in DEFAULT_VARIANTS])
    compressors: list = dataclasses.field(default_factory=lambda: ["gzip"])
    shots: list = dataclasses.field(default_factory=list)
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    limit_test: int | None = None
    limit_test_for: dict = dataclasses.field(default_factory=dict)
    remove_duplicates: bool = False
    not_run: dict = dataclasses.field(default_factory=dict)
    model_params: dict = dataclasses.field(default_factory=dict)
    # per model and dataset, parameters on top of model_params (e.g. a transformer's max_length)
    model_params_for: dict = dataclasses.field(default_factory=dict)
    n_jobs: int = -1
    # extra NCDKNeighborsClassifier parameters of the gzip-knn runs (e.g. search="rerank")
    gzip_params: dict = dataclasses.field(default_factory=dict)
    # other experiments whose runs this one's report shows too
    include_results: list = dataclasses.field(default_factory=list)


def known_datasets() -> list[str]:
    """Names a config may use: ``bbc`` and the local ``$NNZIP_DATA_DIR`` datasets."""
    return ["bbc", *local_datasets()]


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML config; every problem is a :class:`ConfigError` naming the key."""
    path = Path(path)
    if not path.exists() and (CONFIG_DIR / f"{path}.toml").exists():
        path = CONFIG_DIR / f"{path}.toml"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
        raise ConfigError(f"no experiment config {str(path)!r}; available: {available}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    for key, value in raw.items():
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}; allowed keys: {', '.join(KEYS)}")
        if not isinstance(value, KEYS[key]):
            raise ConfigError(f"{path}: {key} must be a {KEYS[key].__name__}, got {type(value).__name__}")
    cfg = Config(name=path.stem, **raw)
    if not cfg.datasets:
        raise ConfigError(f"{path}: datasets is empty")
    known = known_datasets()
    for name in cfg.datasets:
        if name not in known:
            raise ConfigError(
                f"{path}: unknown dataset {name!r}; known here: {', '.join(known)} (set NNZIP_DATA_DIR for local data)"
            )
    for model in [*cfg.models, *cfg.not_run]:
        if model not in MODELS:
            raise ConfigError(f"{path}: unknown model {model!r}; choose from {', '.join(MODELS)}")
    for model, per_dataset in cfg.model_params_for.items():
        if model not in MODELS:
            raise ConfigError(f"{path}: model_params_for: unknown model {model!r}; choose from {', '.join(MODELS)}")
        if not isinstance(per_dataset, dict) or not all(isinstance(v, dict) for v in per_dataset.values()):
            raise ConfigError(f"{path}: model_params_for.{model} must map dataset names to tables of parameters")
        for name in per_dataset:
            if name not in cfg.datasets:
                raise ConfigError(f"{path}: model_params_for.{model}: {name!r} is not one of the config's datasets")
    for comp in cfg.compressors:
        if comp not in COMPRESSORS:
            raise ConfigError(f"{path}: unknown compressor {comp!r}; choose from {', '.join(COMPRESSORS)}")
    for variant in cfg.knn_variants:
        if len(variant) != 2 or not isinstance(variant[0], int) or variant[0] < 1 or variant[1] not in TIE_BREAKS:
            raise ConfigError(
                f"{path}: knn_variants entries are [k, tie_break] with tie_break in {TIE_BREAKS}; got {variant!r}")
    return cfg


def _train_test(cfg: Config, name: str, limit: int | None, shots: int | None, seed: int) -> Dataset:
    """The dataset for one run: a seeded test subsample and, for few-shot runs, seeded shots."""
    if name == "bbc":
        ds = load_bbc()
    elif (local_datasets()[name] / "train.tsv.gz").exists():
        ds = load_local(name)
    else:
        if not shots:
            raise ConfigError(f"{name} has only a test set locally: use it in a few-shot config (shots = [...])")
        # no training set offline: draw the shots from one seeded half of the test set, evaluate on the other
        X, y = read_tsv(local_datasets()[name] / "test.tsv.gz")
        order = np.random.default_rng(10_000 + seed).permutation(len(X))
        half = len(X) // 2
        ds = Dataset(
            name,
            [X[i] for i in order[:half]],
            [y[i] for i in order[:half]],
            [X[i] for i in order[half:]],
            [y[i] for i in order[half:]],
            ["shots drawn from one seeded half of the test set, evaluated on the other half"],
        )
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
    if limit is not None and limit < len(ds.X_test):
        keep = test_subsample(len(ds.X_test), limit)
        ds.X_test = [ds.X_test[i] for i in keep]
        ds.y_test = [ds.y_test[i] for i in keep]
        ds.notes.append(f"seeded subsample of {limit} test items")
    return ds


def test_subsample(n_test: int, limit: int | None) -> np.ndarray:
    """Indices of the seeded test subsample of ``limit`` items (all items when ``limit`` is None or
    not smaller). One subsample per dataset (not per seed), so every row is scored on the same items."""
    if limit is None or limit >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(0).choice(n_test, limit, replace=False))


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
    """Runs every unit of a config, skipping those whose result file exists.

    Parameters
    ----------
    cfg : Config
        The experiment.
    results_dir : Path
        Where ``<name>/runs/*.json`` go.
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
        for what, picked, allowed in (("model", models, cfg.models), ("dataset", datasets, cfg.datasets),
                                      ("shots", shots, cfg.shots)):
            unknown = sorted(set(picked or ()) - set(allowed), key=str)
            if unknown:
                raise ConfigError(f"{cfg.name} has no {what} {', '.join(map(str, unknown))}; "
                                  f"it has {', '.join(map(str, allowed)) or 'none'}")
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
        if self.limit_test is not None:
            return self.limit_test
        return self.cfg.limit_test_for.get(dataset, self.cfg.limit_test)

    def model_params(self, model: str, dataset: str) -> dict:
        """The config's parameters of ``model`` on ``dataset``: ``model_params`` updated by ``model_params_for``."""
        return {**self.cfg.model_params.get(model, {}), **self.cfg.model_params_for.get(model, {}).get(dataset, {})}

    def key_spec(self, spec: dict) -> dict:
        """Everything that changes a run's result: the unit (dataset, model, variant, shots, seed,
        compressor, duplicates rule), the test subsample size actually used and the config's
        model parameters. Worker counts and cache folders change no result and are left out."""
        return {**spec, "limit_test": self.test_limit(spec["dataset"]),
                "model_params": self.model_params(spec["model"], spec["dataset"])}

    def _path(self, spec: dict) -> Path:
        key = hashlib.sha256(json.dumps(self.key_spec(spec), sort_keys=True).encode()).hexdigest()[:16]
        fields = ("dataset", "model", "variant", "shots", "seed")
        label = "_".join(str(spec[k]) for k in fields if spec.get(k) is not None)
        return self.runs_dir / f"{label.replace('/', '-')}_{key}.json"

    def _write(self, spec: dict, result: dict) -> None:
        payload = {
            "experiment": self.cfg.name,
            **spec,
            **result,
            "limit_test": self.test_limit(spec["dataset"]),
            "argv": self.argv,
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
        }
        write_json(self._path(spec), payload)

    def _done(self, spec: dict) -> bool:
        return not self.overwrite and self._path(spec).exists()

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
            self._write(spec, {**ev.metrics, "fit_seconds": round(ev.fit_seconds, 3),
                               "predict_seconds": round(ev.predict_seconds, 3), **info, "status": "ok",
                               "params": {k: repr(v) for k, v in params.items()}})
            self.computed += 1
        for model, reason in self.cfg.not_run.items() if set(self.models) == set(self.cfg.models) else ():
            spec = self._base(dataset, shots, seed, model, "default")
            if not self._done(spec):
                self._write(spec, {"status": "not run", "reason": reason})

    def _dataset(self, dataset: str, shots: int | None, seed: int) -> Dataset:
        return _train_test(self.cfg, dataset, self.test_limit(dataset), shots, seed)

    def _gzip(self, dataset: str, shots: int | None, seed: int, ds: Dataset | None) -> Dataset | None:
        """All k/tie-break variants of gzip-kNN from one neighbour search per compressor."""
        k_max = max(v[0] for v in self.cfg.knn_variants)
        params = dict(self.cfg.gzip_params)
        # only non-default searches are named in the spec, so existing result files keep their names
        extra, suffix = {}, ""
        if params.get("search", "exact") != "exact":
            m = params.get("n_candidates") or DEFAULT_N_CANDIDATES
            extra, suffix = {"search": params["search"], "n_candidates": m}, f" {params['search']} M={m}"
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
            labels = np.asarray(ds.y_train, dtype=object)
            for spec, k, tb in todo:
                voter = ev.model.set_params(n_neighbors=k, tie_break=tb, random_state=seed)
                tied = ev.tied.with_k(k)
                pred = voter.vote(tied, ds.X_test)[0]
                idx = voter.cut_ties(tied)[1]
                # us_per_pair: wall time per (test, train) pair of the task, whatever the search compressed
                result = {**score(ds, pred, labels[idx], remove_duplicates=self.cfg.remove_duplicates, tied=tied,
                                  tie_break=tb),
                          "seconds": round(seconds, 3),
                          "us_per_pair": round(1e6 * seconds / (len(ds.X_train) * len(ds.X_test)), 3),
                          "status": "ok"}
                self._write(spec, result)
                self.computed += 1
        return ds
