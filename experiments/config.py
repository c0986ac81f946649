"""The experiment config: one declarative schema (pydantic), checked in full before any run starts.

A config is a TOML file (``configs/<name>.toml``; the experiment is named by the file). Every
key, type, range and name is checked here, once: unknown keys, wrong types, out-of-range values,
datasets, models, compressors and tie rules that do not exist, and model parameters the model
does not take or whose values its own ``_parameter_constraints`` refuse. A problem is one
:class:`~nnzip.errors.ConfigError` naming the file and the key (``Error: ...`` on the command line).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from nnzip.compressors import COMPRESSORS
from nnzip.data import local_datasets
from nnzip.errors import ConfigError
from nnzip.models import MODELS, make_model
from nnzip.neighbors import DISTANCE_TIES, TIE_BREAKS
from nnzip.validation import N_JOBS, RANDOM_STATE, check_params

ROOT = Path(__file__).resolve().parent
CONFIG_DIR = ROOT / "configs"



class KnnVariant(NamedTuple):
    """One gzip-kNN vote of a config's ``knn_variants``: ``[k, tie_break]`` or ``[k, tie_break, distance_ties]``
    (``distance_ties`` defaults to ``"split"``, the classifier's default)."""

    k: int
    tie_break: str
    distance_ties: str = "split"

    @property
    def name(self) -> str:
        """The run's ``variant``: ``"k=2 split nearest"`` (runs from before ``distance_ties``, nnzip 0.1,
        are ``"k=2 nearest"`` and used the index-ordered convention)."""
        return f"k={self.k} {self.distance_ties} {self.tie_break}"


DEFAULT_VARIANTS = [KnnVariant(*v) for v in ((1, "nearest"), (2, "nearest"), (2, "decrement"), (2, "random"),
                                             (2, "lowest"), (3, "decrement"), (3, "random"), (2, "nearest", "index"))]
# parameters the runner sets itself, and from which key: a config that sets them is refused
RUNNER_SETS = {"random_state": "seeds", "n_jobs": "the top-level n_jobs", "cache_dir": "--cache-dir"}
GZIP_RUNNER_SETS = {**RUNNER_SETS, "n_neighbors": "knn_variants", "tie_break": "knn_variants",
                    "distance_ties": "knn_variants", "compressor": "compressors"}
# keys the loader fills in from the file itself
_FROM_FILE = ("name", "path")


def known_datasets() -> list[str]:
    """Names a config may use: ``bbc`` and the local ``$NNZIP_DATA_DIR`` datasets."""
    return ["bbc", *local_datasets()]


def _one_of(choices, what: str):
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
        return value

    return AfterValidator(check)


def _known_dataset(value: str) -> str:
    known = known_datasets()
    if value not in known:
        raise ValueError(
            f"unknown dataset {value!r}; known here: {', '.join(known)} (set NNZIP_DATA_DIR for local data)")
    return value


def _shot_count(value: int) -> int:
    if value < 1:
        raise ValueError(f"a shot count is a number of training texts per class, at least 1, got {value}; "
                         "leave shots out to use the full training sets")
    return value


def _seed(value: int) -> int:
    if not RANDOM_STATE[0].is_satisfied_by(value):
        raise ValueError(f"a seed is {RANDOM_STATE[0].describe()}, got {value}")
    return value


def _n_jobs(value: int) -> int:
    if not N_JOBS[0].is_satisfied_by(value):
        raise ValueError(f"must be a non-zero int (-1: all cores), got {value}")
    return value


def _unique(values: list) -> list:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        shown = list(seen[0]) if isinstance(seen[0], tuple) else seen[0]
        raise ValueError(f"{shown!r} is listed twice")
    return values


def _knn_variant(value: Any) -> KnnVariant:
    shape = "[k, tie_break] or [k, tie_break, distance_ties]"
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise ValueError(f"an entry is {shape}, got {value!r}")
    k, tie_break, *rest = value
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int of at least 1, got {k!r} (an entry is {shape})")
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"unknown tie_break {tie_break!r}; choose from {', '.join(TIE_BREAKS)}")
    if rest and rest[0] not in DISTANCE_TIES:
        raise ValueError(f"unknown distance_ties {rest[0]!r}; choose from {', '.join(DISTANCE_TIES)}")
    return KnnVariant(k, tie_break, *rest)


def _arrays_as_tuples(params: dict) -> dict:
    # TOML has no tuples; estimators take pairs such as ngram_range as tuples
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


PositiveInt = Annotated[StrictInt, Field(ge=1)]
DatasetName = Annotated[StrictStr, AfterValidator(_known_dataset)]
ModelName = Annotated[StrictStr, _one_of(MODELS, "model")]
CompressorName = Annotated[StrictStr, _one_of(tuple(COMPRESSORS), "compressor")]
TieBreak = Annotated[StrictStr, _one_of(TIE_BREAKS, "tie_break")]
Params = Annotated[dict[StrictStr, Any], AfterValidator(_arrays_as_tuples)]


class Config(BaseModel):
    """A validated experiment config (see ``experiments/configs/*.toml`` and the README).

    Every TOML key is a field below; ``name`` and ``path`` come from the file itself.
    """

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    path: Path | None = None
    description: StrictStr = ""
    datasets: Annotated[list[DatasetName], Field(min_length=1), AfterValidator(_unique)]
    models: Annotated[list[ModelName], Field(min_length=1), AfterValidator(_unique)] = ["gzip-knn"]
    # gzip-kNN variants: [k, tie_break] or [k, tie_break, distance_ties], all voted from one neighbour search
    knn_variants: Annotated[list[Annotated[Any, AfterValidator(_knn_variant)]], Field(min_length=1),
                            AfterValidator(_unique)] = list(DEFAULT_VARIANTS)
    compressors: Annotated[list[CompressorName], Field(min_length=1), AfterValidator(_unique)] = ["gzip"]
    # training texts per class; empty: the full training sets
    shots: Annotated[list[Annotated[StrictInt, AfterValidator(_shot_count)]], AfterValidator(_unique)] = []
    seeds: Annotated[list[Annotated[StrictInt, AfterValidator(_seed)]], Field(min_length=1),
                     AfterValidator(_unique)] = [0]
    limit_test: PositiveInt | None = None
    limit_test_for: dict[StrictStr, PositiveInt] = {}
    remove_duplicates: StrictBool = False
    # models listed in the tables as not run, with the reason
    not_run: dict[ModelName, StrictStr] = {}
    model_params: dict[ModelName, Params] = {}
    # per model and dataset, parameters on top of model_params (e.g. a transformer's max_length)
    model_params_for: dict[ModelName, dict[StrictStr, Params]] = {}
    n_jobs: Annotated[StrictInt, AfterValidator(_n_jobs)] = -1
    # extra NCDKNeighborsClassifier parameters of the gzip-knn runs (e.g. search="rerank")
    gzip_params: Params = {}
    # other experiments whose runs this one's report shows too
    include_results: Annotated[list[StrictStr], AfterValidator(_unique)] = []

    @model_validator(mode="after")
    def _names_agree(self) -> Config:
        """The checks that tie keys together; each message starts with the key it is about."""
        for dataset in self.limit_test_for:
            if dataset not in self.datasets:
                raise ValueError(f"limit_test_for: {dataset!r} is not one of the config's datasets")
        for model in self.not_run:
            if model in self.models:
                raise ValueError(f"not_run: {model!r} is also in models")
        if not self.shots:
            for dataset in self.datasets:
                if dataset != "bbc" and not (local_datasets()[dataset] / "train.tsv.gz").exists():
                    raise ValueError(f"datasets: {dataset!r} has only a test set locally: use it in a few-shot "
                                     "config (shots = [...])")
        for model, per_dataset in self.model_params_for.items():
            for dataset in per_dataset:
                if dataset not in self.datasets:
                    raise ValueError(f"model_params_for.{model}: {dataset!r} is not one of the config's datasets")
        for key, params in (("model_params", self.model_params), ("model_params_for", self.model_params_for)):
            for model in params:
                if model == "gzip-knn":
                    raise ValueError(f"{key}.gzip-knn: gzip-knn's parameters go in gzip_params")
                if model not in self.models:
                    raise ValueError(f"{key}.{model}: {model!r} is not one of the config's models")
        for model in self.models:
            if model == "gzip-knn":
                k_max = max(v.k for v in self.knn_variants)
                _check_model_params("gzip_params", model, self.gzip_params, GZIP_RUNNER_SETS, n_neighbors=k_max)
                continue
            datasets_of: list[str | None] = [*self.model_params_for.get(model, {})] or [None]
            for name in datasets_of:
                where = f"model_params.{model}" if name is None else f"model_params_for.{model}.{name}"
                _check_model_params(where, model, self.params(model, name), RUNNER_SETS)
        if self.gzip_params and "gzip-knn" not in self.models:
            raise ValueError("gzip_params: gzip-knn is not one of the config's models")
        for other in self.include_results:
            if other == self.name or other not in config_names(self.path):
                raise ValueError(f"include_results: no other experiment named {other!r}; "
                                 f"choose from {', '.join(n for n in config_names(self.path) if n != self.name)}")
        return self

    def params(self, model: str, dataset: str | None) -> dict:
        """The config's parameters of ``model`` on ``dataset``: ``model_params`` updated by ``model_params_for``."""
        return {**self.model_params.get(model, {}), **self.model_params_for.get(model, {}).get(dataset or "", {})}

    def test_limit(self, dataset: str) -> int | None:
        """The config's test subsample size of a dataset (None: every test item)."""
        return self.limit_test_for.get(dataset, self.limit_test)

    def check_picks(self, models=None, datasets=None, shots=None) -> None:
        """Refuse a ``--model``/``--dataset``/``--shots`` pick that is not part of the config.

        Raises
        ------
        ConfigError
            Naming the option, the value and the file.
        """
        for option, picked, allowed in (("--model", models, self.models), ("--dataset", datasets, self.datasets),
                                        ("--shots", shots, self.shots)):
            unknown = sorted(set(picked or ()) - set(allowed), key=str)
            if unknown:
                raise ConfigError(f"{self.path or self.name}: {option} {', '.join(map(str, unknown))}: "
                                  f"not in the config; it has {', '.join(map(str, allowed)) or 'none'}")


def _check_model_params(where: str, model: str, params: dict, runner_sets: dict, **fixed) -> None:
    """Names the model takes, not set by the runner, with values its own constraints accept."""
    for name in params:
        if name in runner_sets:
            raise ValueError(f"{where}: {name} is set by the runner from {runner_sets[name]}; remove it")
    try:
        check_params(make_model(model, strict=True, **fixed, **params))
    except ConfigError as exc:
        raise ValueError(f"{where}: {exc}") from None


def config_names(path: Path | None = None) -> list[str]:
    """Names of the shipped experiments, and of the configs beside ``path``."""
    folders = {CONFIG_DIR} | ({path.parent} if path is not None else set())
    return sorted({p.stem for folder in folders for p in folder.glob("*.toml")})


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error) -> str:
    where = _where(error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(k for k in Config.model_fields if k not in _FROM_FILE)
        return f"unknown key {where!r}; allowed keys: {allowed}"
    if error["type"] == "value_error":
        text = str(error["ctx"]["error"])
    elif error["type"] == "too_short":
        text = "must not be empty"
    elif error["type"] == "missing":
        text = "missing" if isinstance(error["loc"][-1], int) else "required key is missing"
    else:
        shown = repr(error["input"])
        text = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return f"{where}: {text}" if where else text


def validate(raw: dict, path: Path) -> Config:
    """Check a parsed config against the schema; the first problem is one :class:`ConfigError` line."""
    for key in _FROM_FILE:
        if key in raw:
            raise ConfigError(f"{path}: unknown key {key!r} (an experiment is named by its file, {path.stem!r})")
    try:
        return Config.model_validate({**raw, "name": path.stem, "path": path})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: {_message(errors[0])}{more}") from None


def resolve(name: str | Path) -> Path:
    """The config file for a name in ``configs/`` or a path to a TOML file."""
    path = Path(name)
    if not path.is_file() and (CONFIG_DIR / f"{name}.toml").is_file():
        return CONFIG_DIR / f"{name}.toml"
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not an experiment config (a .toml file)")
    if not path.exists():
        raise ConfigError(f"no experiment config {str(path)!r}; available: {', '.join(config_names())}")
    return path


def load_config(name: str | Path) -> Config:
    """Read and validate a TOML config (a name in ``configs/`` or a path).

    Raises
    ------
    ConfigError
        One line naming the file and the key: a missing file or a folder, bytes that are not
        UTF-8, invalid TOML, or anything the schema (:class:`Config`) refuses.
    """
    path = resolve(name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (line {line}); save the config as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return validate(raw, path)
