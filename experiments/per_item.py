"""Per-item output of the experiment runs: the sidecar file beside each run JSON, written and read here.

A run file ``runs/<label>_<key>.json`` names its sidecar in the key ``per_item``, a path relative
to the run file (``null`` when the run keeps aggregates only, with the reason in
``per_item_reason``). The sidecar is JSON lines, gzip'd (``.jsonl.gz``), one object per test
item of the run, every item of the run's test sample (duplicates of training texts included):

``index`` (int)
    Row of the item in the test split as loaded, before any subsampling.
``true``
    Its label.
``duplicate`` (bool)
    Its exact text also occurs in the training set (left out of the scores of a
    ``remove_duplicates`` run).
``predicted`` (object)
    Predicted label by variant: ``{"default": label}``, or for a gzip-kNN search one entry per
    k/tie-break variant voted from it (``"k=2 nearest"``, ...). A run reads the entry named by
    its ``variant``.
``neighbors``, ``distances``, ``neighbor_labels`` (lists, kNN models only)
    The k nearest training items of the search and every item tied with the k-th distance
    (a :class:`nnzip.tied_neighbors.TiedNeighbors` row): rows of the training split as loaded
    (for few-shot runs, of the full training file the shots were drawn from), their distances
    as exact float64, and their labels, nearest first.

The gzip-kNN search of a unit (dataset, shots, seed, compressor) is shared by all its variants,
so is its sidecar: one file with one ``predicted`` entry per variant, not a copy of the
neighbours per variant.

When a run is finished: the sidecar is written first, atomically, under a name that ends in
the first 16 hex digits of its SHA-256 (so a file is never replaced by other content), then the
run file that names it, with ``per_item_sha256`` and ``per_item_rows``. A run is done when its
run file parses and its sidecar exists with that checksum, that row count and every field
(:func:`run_is_done`), or when it says ``per_item: null`` on purpose. Anything less is redone
by the runner and named as damaged by the report.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnzip.errors import InputError
from nnzip.fileio import atomic_write
from nnzip.tied_neighbors import TiedNeighbors

SUFFIX = ".jsonl.gz"
KNN_FIELDS = ("neighbors", "distances", "neighbor_labels")


class DamagedFile(InputError):
    """A run file or sidecar that cannot be read back as written; the message names the file."""


def item_rows(index: Sequence[int] | np.ndarray, true: Sequence, duplicate: Sequence[bool] | np.ndarray,
              predicted: Mapping[str, Sequence | np.ndarray], neighbors: TiedNeighbors | None = None,
              train_rows: Sequence[int] | np.ndarray | None = None, y_train: Sequence | None = None) -> list[dict]:
    """The sidecar's objects, one per test item.

    Parameters
    ----------
    index : sequence of int
        Row of each test item in the test split as loaded.
    true : sequence
        Test labels.
    duplicate : sequence of bool
        Whether each test text occurs in the training set.
    predicted : mapping
        Variant name to the predicted label of each test item.
    neighbors : TiedNeighbors, optional
        kNN models: the neighbour structure with boundary ties, indices into the training set
        the model was fitted on.
    train_rows : sequence of int, optional
        With ``neighbors``: row in the training split as loaded of each training item.
    y_train : sequence, optional
        With ``neighbors``: the training labels.
    """
    n = len(index)
    preds = {name: np.asarray(p).tolist() for name, p in predicted.items()}
    if any(len(p) != n for p in preds.values()) or len(true) != n or len(duplicate) != n:
        raise InputError("index, true, duplicate and every predicted column must have one entry per test item")
    rows = [{"index": int(i), "true": t, "duplicate": bool(d), "predicted": {name: p[j] for name, p in preds.items()}}
            for j, (i, t, d) in enumerate(zip(index, np.asarray(true).tolist(), duplicate))]
    if neighbors is not None:
        if neighbors.n_queries != n or train_rows is None or y_train is None:
            raise InputError("neighbors need one row per test item, and train_rows and y_train")
        rows_of = np.asarray(train_rows, dtype=np.int64)[neighbors.indices].tolist()
        labels = np.asarray(y_train)[neighbors.indices].tolist()
        dist = neighbors.distances.tolist()
        for row, lo, hi in zip(rows, neighbors.indptr[:-1].tolist(), neighbors.indptr[1:].tolist()):
            row |= {"neighbors": rows_of[lo:hi], "distances": dist[lo:hi], "neighbor_labels": labels[lo:hi]}
    return rows


def write_sidecar(runs_dir: Path, label: str, rows: list[dict]) -> dict:
    """Write ``rows`` as a sidecar in ``runs_dir``, atomically; return the keys its run files record.

    The name is ``<label>_<first 16 hex digits of the SHA-256>.jsonl.gz``: the same content
    always gets the same name, other content another one.
    """
    text = "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
    data = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)  # mtime=0: same rows, same bytes
    digest = hashlib.sha256(data).hexdigest()
    name = f"{label.replace('/', '-')}_{digest[:16]}{SUFFIX}"

    def write(f) -> None:
        f.write(data)

    atomic_write(Path(runs_dir) / name, write, binary=True)
    return {"per_item": name, "per_item_sha256": digest, "per_item_rows": len(rows)}


def no_sidecar(reason: str) -> dict:
    """The keys of a run file that keeps aggregates only, and why."""
    return {"per_item": None, "per_item_reason": reason}


def read_json(path: Path):
    """A JSON file's content.

    Raises
    ------
    DamagedFile
        When it is not UTF-8 JSON (e.g. cut short by a crash or a copy).
    """
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).split(":")[0]
        raise DamagedFile(f"{path}: not a readable JSON file ({reason})") from None


def read_run(path: Path) -> dict:
    """A run file's content (see :func:`read_json`); a JSON value that is not an object is damaged too."""
    run = read_json(path)
    if not isinstance(run, dict):
        raise DamagedFile(f"{path}: holds a JSON {type(run).__name__}, not an object")
    return run


def sidecar_path(run_path: Path, run: dict) -> Path | None:
    """Where a run's sidecar is (None when the run keeps aggregates only)."""
    name = run.get("per_item")
    return None if name is None else Path(run_path).parent / name


def _sidecar_bytes(run_path: Path, run: dict) -> bytes:
    path = sidecar_path(run_path, run)
    if path is None:
        raise DamagedFile(f"{run_path}: the run keeps no per-item file")
    if not isinstance(run.get("per_item"), str) or not isinstance(run.get("per_item_sha256"), str):
        raise DamagedFile(f"{run_path}: per_item and per_item_sha256 must be strings")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DamagedFile(f"{path}: per-item file of {Path(run_path).name} cannot be read ({exc.strerror})") from None
    if hashlib.sha256(data).hexdigest() != run["per_item_sha256"]:
        raise DamagedFile(f"{path}: its checksum differs from the one {Path(run_path).name} recorded")
    return data


def run_is_done(path: Path) -> bool:
    """Whether a run file exists, parses, and has its sidecar intact (:func:`read_sidecar` reads it
    without a complaint) or says it keeps aggregates only."""
    if not Path(path).is_file():
        return False
    try:
        run = read_run(path)
        if "per_item" not in run:  # a run file from before per-item output: redo it
            return False
        if run["per_item"] is None:
            return True
        read_sidecar(path, run)
    except DamagedFile:
        return False
    return True


def _is_label(value) -> bool:
    return isinstance(value, (str, int, bool))


def _check_row(row, number: int, variants: set | None, knn: bool | None) -> None:
    if not isinstance(row, dict):
        raise ValueError(f"line {number} is not a JSON object")
    for key in ("index", "true", "duplicate", "predicted"):
        if key not in row:
            raise ValueError(f"line {number} has no {key!r}")
    if isinstance(row["index"], bool) or not isinstance(row["index"], int) or row["index"] < 0:
        raise ValueError(f"line {number}: index must be a non-negative int")
    if not _is_label(row["true"]) or not isinstance(row["duplicate"], bool):
        raise ValueError(f"line {number}: true must be a label and duplicate a bool")
    pred = row["predicted"]
    if not isinstance(pred, dict) or not pred or not all(_is_label(v) for v in pred.values()):
        raise ValueError(f"line {number}: predicted must map variants to labels")
    if variants is not None and set(pred) != variants:
        raise ValueError(f"line {number}: predicted has variants {sorted(pred)}, line 1 has {sorted(variants)}")
    has = [key in row for key in KNN_FIELDS]
    if any(has) != all(has) or (knn is not None and any(has) != knn):
        raise ValueError(f"line {number}: neighbors, distances and neighbor_labels must be on every line or none")
    if all(has):
        nb, dist, labels = (row[key] for key in KNN_FIELDS)
        if not (isinstance(nb, list) and isinstance(dist, list) and isinstance(labels, list)
                and 0 < len(nb) == len(dist) == len(labels)):
            raise ValueError(f"line {number}: neighbors, distances and neighbor_labels must be lists of one length")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in nb):
            raise ValueError(f"line {number}: neighbors must be training rows (non-negative ints)")
        if not all(isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) for d in dist):
            raise ValueError(f"line {number}: distances must be finite numbers")


@dataclass(frozen=True, eq=False)
class PerItem:
    """A run's sidecar, read back and checked (:func:`read_sidecar`).

    Attributes
    ----------
    path : Path
        The sidecar.
    index : ndarray of int64 of shape (n,)
        Row of each test item in the test split as loaded.
    true : ndarray of shape (n,)
        Test labels.
    duplicate : ndarray of bool of shape (n,)
    predicted : dict of str to ndarray of shape (n,)
        Predicted labels by variant.
    indptr, neighbors, distances, neighbor_labels : ndarray or None
        kNN models: the neighbour rows as CSR (row ``i`` is ``indptr[i]:indptr[i + 1]``),
        each row ordered by (distance, training row).
    """

    path: Path
    index: np.ndarray
    true: np.ndarray
    duplicate: np.ndarray
    predicted: dict
    indptr: np.ndarray | None = None
    neighbors: np.ndarray | None = None
    distances: np.ndarray | None = None
    neighbor_labels: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of test items."""
        return self.index.size

    def correct(self, variant: str) -> np.ndarray:
        """Per item, whether the variant's prediction is right."""
        return self.predicted[variant] == self.true

    def tied_neighbors(self, k: int, rows: np.ndarray | None = None) -> tuple[TiedNeighbors, np.ndarray]:
        """The neighbour structure for a vote of ``k``, on some rows, with the labels it refers to.

        The sidecar holds the k nearest of the search (the largest k of its variants) and the
        items tied with them; for a smaller ``k`` a row keeps the items at or below its k-th
        distance, which include every item tied with the k-th (as :meth:`TiedNeighbors.with_k`
        cuts a structure). Training rows are renumbered 0, 1, ... in their order (the
        statistics depend on the labels and relative order only).

        Parameters
        ----------
        k : int
            Neighbours of the vote.
        rows : ndarray of bool of shape (n,), optional
            Test items to keep (all by default).

        Returns
        -------
        neighbors : TiedNeighbors
        y_train : ndarray
            The label of each renumbered training item.
        """
        if self.indptr is None or self.neighbors is None or self.distances is None or self.neighbor_labels is None:
            raise InputError(f"{self.path}: the run has no neighbours (not a kNN model)")
        keep_rows = np.ones(self.n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        lengths = np.diff(self.indptr)
        if (lengths[keep_rows] < k).any():
            raise InputError(f"{self.path}: some rows hold fewer than k={k} neighbours")
        row_of = np.repeat(np.arange(self.n), lengths)
        kth = self.distances[np.minimum(self.indptr[:-1] + k - 1, self.distances.size - 1)]
        keep = keep_rows[row_of] & (self.distances <= kth[row_of])
        kept_rows = row_of[keep]
        indptr = np.zeros(int(keep_rows.sum()) + 1, dtype=np.int64)
        np.cumsum(np.bincount(kept_rows, minlength=self.n)[keep_rows], out=indptr[1:])
        used, compact = np.unique(self.neighbors[keep], return_inverse=True)
        labels = np.empty(used.size, dtype=self.neighbor_labels.dtype)
        labels[compact] = self.neighbor_labels[keep]
        return TiedNeighbors(indptr, compact, self.distances[keep], k, max(int(used.size), k)), labels


def _as_array(values: list) -> np.ndarray:
    # one label type per file (nnzip's rule), so a plain array of str, int or bool
    return np.array(values) if values else np.array([], dtype=object)


def read_sidecar(run_path: Path, run: dict) -> PerItem:
    """Read and check a run's sidecar: checksum, row count, fields, and the run's variant.

    Raises
    ------
    DamagedFile
        Naming the file and the first problem.
    """
    data = _sidecar_bytes(run_path, run)
    path = sidecar_path(run_path, run)
    assert path is not None  # _sidecar_bytes checked it
    try:
        lines = gzip.decompress(data).decode("utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        expected = run.get("per_item_rows")
        if len(rows) != expected:
            raise ValueError(f"{len(rows)} lines, the run file says {expected}")
        if not rows:
            raise ValueError("no lines")
        variants = set(rows[0]["predicted"]) if isinstance(rows[0], dict) and "predicted" in rows[0] else None
        knn = isinstance(rows[0], dict) and "neighbors" in rows[0]
        for number, row in enumerate(rows, 1):
            _check_row(row, number, variants, knn)
        if run.get("variant") not in rows[0]["predicted"]:
            raise ValueError(f"no prediction for the run's variant {run.get('variant')!r}")
        index = np.array([row["index"] for row in rows], dtype=np.int64)
        if np.unique(index).size != index.size:
            raise ValueError("an index is listed twice")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise DamagedFile(f"{path}: per-item file of {Path(run_path).name} is damaged ({exc})") from None
    fields: dict = {}
    if knn:
        lengths = np.array([len(row["neighbors"]) for row in rows], dtype=np.int64)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        nb = np.array([i for row in rows for i in row["neighbors"]], dtype=np.int64)
        dist = np.array([d for row in rows for d in row["distances"]], dtype=np.float64)
        labels = _as_array([y for row in rows for y in row["neighbor_labels"]])
        # (distance, training row) within each row: the order TiedNeighbors keeps
        order = np.lexsort((nb, dist, np.repeat(np.arange(len(rows)), lengths)))
        used, inverse = np.unique(nb, return_inverse=True)
        by_row = np.empty(used.size, dtype=labels.dtype)
        by_row[inverse] = labels
        if (by_row[inverse] != labels).any():
            raise DamagedFile(f"{path}: per-item file of {Path(run_path).name} gives one training row two labels")
        fields = {"indptr": indptr, "neighbors": nb[order], "distances": dist[order], "neighbor_labels": labels[order]}
    return PerItem(
        path=path,
        index=index,
        true=_as_array([row["true"] for row in rows]),
        duplicate=np.array([row["duplicate"] for row in rows], dtype=bool),
        predicted={name: _as_array([row["predicted"][name] for row in rows]) for name in rows[0]["predicted"]},
        **fields,
    )
