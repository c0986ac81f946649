"""Why a text got its label: its nearest training texts, the vote, the ties, and what gzip reused.

:func:`explain` takes a fitted kNN model and one text. It lists the ``k`` nearest training
texts with their labels and distances, how the vote went (and whether a tie between classes
or between distances decided it), and for a gzip (or zlib) model what the compressor actually
reused: the deflate parse of ``x + " " + y`` (query first, as every distance is computed) as
zlib's level 9 makes it, token by token (:func:`pair_reuse`, from the kernel's recording parse
``_deflate.deflate_tokens``). The bytes of the training text that the parse copied from the
query are what made the pair compress well; those copied from the training text itself, or
written as literals, cost bits whatever the query. The tokens' bits plus each block's header
bits are exactly the compressed length, so this is gzip's own account, not a heuristic.

Rendering: :meth:`Explanation.to_dict` (JSON) and :func:`render_text` (a terminal).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from . import _deflate
from .errors import InputError
from .lengths import kernel_matches_zlib
from .metrics import tie_order_effect
from .models import name_of
from .neighbors import DISTANCE_TIES, vote_weights
from .validation import as_bytes

#: Kinds of a training text's bytes in a pair's parse.
LITERAL, FROM_QUERY, FROM_ITSELF = "literal", "query", "itself"
_KINDS = (LITERAL, FROM_QUERY, FROM_ITSELF)
# characters of a training text shown in the terminal before it is cut
_SHOWN_CHARS = 1500


def training_labels(model: BaseEstimator, indices: np.ndarray) -> np.ndarray:
    """Labels of training items of a fitted kNN model, by index."""
    return model.classes_[model._y[indices]]  # the kNN mixin's class codes


def is_knn(model: BaseEstimator) -> bool:
    """Whether ``model`` votes among nearest training items (``kneighbors`` and ``vote``)."""
    return hasattr(model, "kneighbors") and hasattr(model, "vote")


# ---- the parse of one pair ------------------------------------------------------------------


@dataclass
class PairParse:
    """The deflate parse of ``x + b" " + y`` and what it says about ``y`` (the training text).

    Attributes
    ----------
    query, train : bytes
        ``x`` and ``y``.
    compressed : int
        ``len(gzip.compress(x + b" " + y, 9))``.
    tokens : ndarray of int64 of shape (n_tokens, 5)
        ``_deflate.deflate_tokens``: position, length, distance (0: literal), bits, block.
    blocks : ndarray of int64 of shape (n_blocks, 6)
        Start, end, type, header bits, token bits, bits.
    train_kind : ndarray of int8 of shape (len(y),)
        Per byte of ``y``: 0 written as a literal, 1 copied from the query (or the separator),
        2 copied from earlier in ``y`` itself.
    query_used : ndarray of bool of shape (len(x),)
        Bytes of ``x`` that some byte of ``y`` was copied from.
    """

    query: bytes
    train: bytes
    compressed: int
    tokens: np.ndarray
    blocks: np.ndarray
    train_kind: np.ndarray
    query_used: np.ndarray

    @property
    def base(self) -> int:
        """Where ``y`` starts in the pair."""
        return len(self.query) + 1

    def bit_budget(self) -> dict:
        """How the compressed length is made up, in bits: tokens, block headers, padding, gzip wrapper.

        ``tokens + headers + padding + 8 * wrapper_bytes == 8 * compressed`` exactly.
        """
        tokens = int(self.tokens[:, 3].sum())
        headers = int(self.blocks[:, 3].sum())
        deflate_bits = tokens + headers
        padding = -deflate_bits % 8
        return {"token_bits": tokens, "header_bits": headers, "padding_bits": padding,
                "wrapper_bytes": _deflate.GZIP_OVERHEAD, "compressed_bytes": self.compressed}

    def train_figures(self) -> dict:
        """Bytes of ``y`` by kind, and the bits of the tokens that start in ``y``, by kind."""
        counts = np.bincount(self.train_kind, minlength=3)
        starts = self.tokens[self.tokens[:, 0] >= self.base]
        src_in_query = (starts[:, 0] - starts[:, 2]) < self.base
        kind = np.where(starts[:, 2] == 0, 0, np.where(src_in_query, 1, 2))
        bits = np.bincount(kind, weights=starts[:, 3], minlength=3).astype(np.int64)
        return {
            "train_bytes": len(self.train),
            "bytes_from_query": int(counts[1]), "bytes_from_itself": int(counts[2]), "bytes_literal": int(counts[0]),
            "matches_from_query": int(((kind == 1)).sum()),
            "bits_from_query": int(bits[1]), "bits_from_itself": int(bits[2]), "bits_literal": int(bits[0]),
        }

    def train_segments(self) -> list[tuple[str, str]]:
        """The training text as ``(text, kind)`` runs, kind one of ``"literal"``, ``"query"``, ``"itself"``."""
        return segments(self.train, self.train_kind, _KINDS)

    def query_segments(self) -> list[tuple[str, str]]:
        """The query as ``(text, kind)`` runs: ``"used"`` where the training text copied from it, else ``""``."""
        return segments(self.query, self.query_used.astype(np.int8), ("", "used"))


def pair_reuse(x: bytes, y: bytes) -> PairParse:
    """The deflate parse of ``x + b" " + y`` with what each byte of ``y`` was made from.

    Raises
    ------
    InputError
        When the pair is longer than the kernel's exact range (``_deflate.MAX_INPUT`` bytes),
        or this Python's zlib compresses differently from the zlib the kernel emulates (then
        the parse would not be this zlib's).
    """
    text = x + b" " + y
    if len(text) > _deflate.MAX_INPUT:
        raise InputError(f"the pair is {len(text):,} bytes; gzip's parse is explained up to "
                         f"{_deflate.MAX_INPUT:,} bytes (where zlib starts to slide its window)")
    if not kernel_matches_zlib():
        raise InputError("this Python's zlib compresses differently from the reference zlib that nnzip's kernel "
                         "emulates, so the kernel's parse would not be this zlib's")
    length, tokens, blocks = _deflate.deflate_tokens(np.frombuffer(text, dtype=np.uint8).copy())
    base = len(x) + 1
    token_of = np.repeat(np.arange(len(tokens)), tokens[:, 1])  # the token covering each byte
    dist = tokens[token_of, 2]
    pos = np.arange(len(text))
    source = pos - dist
    kind = np.where(dist == 0, 0, np.where(source < base, 1, 2)).astype(np.int8)
    used = np.zeros(len(x), dtype=bool)
    copied = source[base:][kind[base:] == 1]
    used[copied[copied < len(x)]] = True
    return PairParse(x, y, int(length), tokens, blocks, kind[base:], used)


def segments(raw: bytes, kinds: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """Split ``raw`` (UTF-8) into runs of characters of one kind: a character's kind is its first byte's."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    if not len(arr):
        return []
    starts = np.flatnonzero((arr & 0xC0) != 0x80)  # characters start at bytes that do not continue one
    if not len(starts) or starts[0] != 0:
        starts = np.r_[0, starts]
    char_kind = kinds[starts]
    cut = np.r_[0, np.flatnonzero(np.diff(char_kind)) + 1]
    bounds = np.r_[starts[cut], len(arr)]
    return [(raw[a:b].decode("utf-8", "replace"), names[int(kinds[a])]) for a, b in zip(bounds[:-1], bounds[1:])]


# ---- one query ------------------------------------------------------------------------------

#: Tied neighbours beyond this many get no parse (they are listed, with label and distance).
MAX_PARSED = 50


@dataclass
class Neighbor:
    """One of the nearest training texts of a query, or one tied with the k-th.

    ``in_k``: among the k that ``kneighbors`` returns (the model's cut of the tie);
    ``at_boundary``: at the k-th distance; ``weight``: its share of the vote's total weight
    under the model's ``distance_ties`` (0 for a tied text the vote leaves out).
    """

    rank: int
    index: int
    label: object
    distance: float
    in_k: bool
    at_boundary: bool
    weight: float
    text: str | None = None
    parse: PairParse | None = None


@dataclass
class Explanation:
    """How a kNN model classified one text (see :func:`explain`).

    Attributes
    ----------
    model : str
        The model's name.
    query : str
        The text.
    predicted : label
        The model's prediction.
    n_neighbors, distance_ties, tie_break, weights : int, str, str, str
        The vote's settings.
    neighbors : list of Neighbor
        The k nearest and every training text tied with the k-th, by (distance, training
        index) (``model.tied_neighbors``), with their parse for gzip models.
    votes : dict
        Vote share of each class (``predict_proba``'s row).
    vote_tie : list
        The classes tied for the most votes, between which ``tie_break`` decided (empty when
        one class had the most).
    boundary_distance : float
        The k-th distance.
    n_below : int
        Training texts strictly nearer than the k-th distance.
    tied_beyond : int
        Training texts at the k-th distance beyond the k places (``t - r``: ``t`` texts at it
        share ``r = k - n_below`` places).
    tied_labels : dict
        Labels of every training text at the k-th distance, counted.
    by_distance_ties : dict
        The prediction under each ``distance_ties`` rule (the model's other settings kept).
    order_dependent : bool
        Whether, with the training order deciding the tie (``distance_ties="index"``), another
        order would predict another class.
    prediction_over_orders : dict
        Share of all training orders predicting each class under ``"index"`` (exact,
        :func:`nnzip.tie_order_effect`).
    notes : list of str
        What could not be explained and why.
    """

    model: str
    query: str
    predicted: object
    n_neighbors: int
    distance_ties: str
    tie_break: str
    weights: str
    neighbors: list[Neighbor]
    votes: dict
    vote_tie: list
    boundary_distance: float
    n_below: int
    tied_beyond: int
    tied_labels: dict
    by_distance_ties: dict
    order_dependent: bool
    prediction_over_orders: dict
    query_compressed: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def distance_tie_decided(self) -> bool:
        """Whether the texts tied at the k-th distance decided the label: more of them than places,
        and how they are counted (the ``distance_ties`` rule, or the order under ``"index"``) changes it."""
        rules_differ = len({str(v) for v in self.by_distance_ties.values()}) > 1
        return self.tied_beyond > 0 and (rules_differ or self.order_dependent)

    @property
    def decided_by(self) -> list[str]:
        """What decided the label beyond the plain majority: ``"distance tie"``, ``"vote tie"`` (or none)."""
        return ["distance tie"] * self.distance_tie_decided + ["vote tie"] * bool(self.vote_tie)

    def to_dict(self) -> dict:
        """JSON-ready form; spans are character offsets into each training text."""
        neighbors = []
        for nb in self.neighbors:
            item: dict = {"rank": nb.rank, "index": nb.index, "label": _plain(nb.label), "distance": nb.distance,
                          "in_k": nb.in_k, "at_boundary": nb.at_boundary, "weight": nb.weight, "text": nb.text}
            if nb.parse is not None:
                spans, at = [], 0
                for text, kind in nb.parse.train_segments():
                    spans.append({"start": at, "end": at + len(text), "kind": kind})
                    at += len(text)
                item["compressed_pair"] = nb.parse.compressed
                item["reuse"] = {**nb.parse.train_figures(), "spans": spans, "length": nb.parse.bit_budget()}
            neighbors.append(item)
        return {
            "model": self.model, "query": self.query, "query_compressed": self.query_compressed,
            "predicted": _plain(self.predicted), "n_neighbors": self.n_neighbors,
            "distance_ties": self.distance_ties, "tie_break": self.tie_break, "weights": self.weights,
            "decided_by": self.decided_by,
            "votes": {str(k): v for k, v in self.votes.items()},
            "vote_tie": [_plain(c) for c in self.vote_tie],
            "distance_tie": {"boundary_distance": self.boundary_distance, "nearer": self.n_below,
                             "places_at_boundary": self.n_neighbors - self.n_below,
                             "tied_beyond_k": self.tied_beyond,
                             "tied_labels": {str(k): v for k, v in self.tied_labels.items()},
                             "decided": self.distance_tie_decided,
                             "prediction_by_distance_ties": {k: _plain(v) for k, v in self.by_distance_ties.items()},
                             "order_dependent": self.order_dependent,
                             "prediction_over_orders": {str(k): v for k, v in self.prediction_over_orders.items()}},
            "neighbors": neighbors, "notes": self.notes,
        }


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _explains_reuse(model: BaseEstimator) -> str | None:
    """Why gzip's reuse cannot be shown for ``model``, or ``None`` when it can."""
    index = getattr(model, "index_", None)
    if index is None:
        return f"{name_of(model) or type(model).__name__} is not a compression model: no compressor to explain"
    if index.compressor not in ("gzip", "zlib"):
        return f"the compressor is {index.compressor!r}; what it reused is shown for gzip and zlib (deflate) only"
    return None


def _count(labels) -> dict:
    out: dict = {}
    for label in labels:
        out[_plain(label)] = out.get(_plain(label), 0) + 1
    return out


def explain(model: BaseEstimator, text: str | bytes, *, reuse: bool = True) -> Explanation:
    """Explain the prediction of a fitted kNN model for one text.

    One search (``model.tied_neighbors``) gives the k nearest training texts and every one tied
    with the k-th; the model votes from it as ``predict`` does.

    Parameters
    ----------
    model : estimator
        A fitted kNN model (``gzip-knn``, ``count-cosine-knn``, ``jaccard-knn``, ``embedding-knn``).
    text : str or bytes
        The text to classify (not empty).
    reuse : bool, default=True
        For gzip and zlib models, parse each pair (the first :data:`MAX_PARSED` neighbours) to
        show what the compressor reused.

    Returns
    -------
    Explanation

    Raises
    ------
    InputError
        For an empty text or a model that does not vote among neighbours.
    """
    if not is_knn(model):
        raise InputError(f"explain shows the nearest training texts of a kNN model; "
                         f"{name_of(model) or type(model).__name__} does not classify by neighbours")
    (raw,) = as_bytes([text], "the text")
    if not raw.strip():
        raise InputError("the text to explain is empty")
    query = raw.decode("utf-8", "replace")
    nb = model.tied_neighbors([raw])
    predicted_arr, proba = model.vote(nb, [raw])
    predicted = predicted_arr[0]
    classes = model.classes_
    votes = {_plain(c): float(p) for c, p in zip(classes, proba[0]) if p > 0}
    vote_tie = [_plain(c) for c, p in zip(classes, proba[0]) if np.isclose(p, proba[0].max(), rtol=1e-12, atol=0.0)]
    by_rule = {}
    for rule in DISTANCE_TIES:
        other = copy.copy(model)  # the same fitted search, another vote rule
        other.distance_ties = rule
        by_rule[rule] = _plain(other.vote(nb, [raw])[0][0])
    row_dist, row_idx = nb.row(0)
    k = int(model.n_neighbors)
    boundary = float(nb.boundary_distance[0])
    at_boundary = row_dist == boundary
    weight = vote_weights(nb, model.weights, model.distance_ties)
    weight = weight / (weight.sum() or 1.0)
    in_k = set(model.cut_ties(nb)[1][0].tolist())
    effect = tie_order_effect(nb, training_labels(model, np.arange(nb.n_samples_fit)), [predicted],
                              tie_break=model.tie_break, weights=model.weights)
    over_orders = {_plain(c): float(p) for c, p in zip(effect.classes, effect.prediction_proba[0]) if p > 0}
    train_texts = getattr(model, "train_texts_", None)
    why_not = _explains_reuse(model) if reuse else "not asked for"
    notes = [] if why_not is None else [f"what the compressor reused is not shown: {why_not}"]
    if why_not is None and len(row_idx) > MAX_PARSED:
        notes.append(f"what gzip reused is shown for the first {MAX_PARSED} of the {len(row_idx)} neighbours")
    neighbors = []
    for rank, (d, j) in enumerate(zip(row_dist.tolist(), row_idx.tolist()), 1):
        y = None if train_texts is None else train_texts[j]
        parse = None
        if why_not is None and y is not None and rank <= MAX_PARSED:
            try:
                parse = pair_reuse(raw, y)
            except InputError as exc:
                notes.append(f"neighbour {rank}: {exc}")
        neighbors.append(Neighbor(rank, int(j), _plain(training_labels(model, np.array([j]))[0]), float(d),
                                  j in in_k, bool(at_boundary[rank - 1]), float(weight[rank - 1]),
                                  None if y is None else y.decode("utf-8", "replace"), parse))
    query_len = None
    if why_not is None:
        from .pairwise import compressed_len

        query_len = int(compressed_len([raw], compressor=model.index_.compressor)[0])
    n_below = int((~at_boundary).sum())
    return Explanation(
        model=name_of(model) or type(model).__name__, query=query, predicted=_plain(predicted), n_neighbors=k,
        distance_ties=str(model.distance_ties), tie_break=str(model.tie_break), weights=str(model.weights),
        neighbors=neighbors, votes=votes, vote_tie=vote_tie if len(vote_tie) > 1 else [],
        boundary_distance=boundary, n_below=n_below, tied_beyond=int(len(row_idx) - k),
        tied_labels=_count(training_labels(model, row_idx[at_boundary])), by_distance_ties=by_rule,
        order_dependent=bool(effect.order_dependent[0]), prediction_over_orders=over_orders,
        query_compressed=query_len, notes=notes)


# ---- terminal --------------------------------------------------------------------------------

_TIE_RULES = {
    "nearest": "the tied class whose nearest members are closest wins",
    "decrement": "the farthest neighbours are dropped until one class leads",
    "random": "a seeded draw among the tied classes",
    "lowest": "the first tied class in the classes' order wins",
}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


#: What each ``distance_ties`` rule does with the training texts tied at the k-th distance.
DISTANCE_TIE_RULES = {
    "split": "the places left at the k-th distance are shared equally by the texts tied there",
    "all": "every text tied at the k-th distance counts fully",
    "index": "the first texts tied at the k-th distance in training-file order take the places left",
}


def _distance_tie_lines(ex: Explanation) -> list[str]:
    k, r = ex.n_neighbors, ex.n_neighbors - ex.n_below
    t = r + ex.tied_beyond
    if not ex.tied_beyond:
        return [f"Distance tie: none (the {_ordinal(k)} distance {ex.boundary_distance:.6g} is not shared beyond "
                "the k nearest)"]
    labels = ", ".join(f"{c} ×{n}" for c, n in ex.tied_labels.items())
    rule = DISTANCE_TIE_RULES[ex.distance_ties] + (f" (each counts {r}/{t})" if ex.distance_ties == "split" else "")
    line = (f"Distance tie: {t} training texts at the {_ordinal(k)} distance {ex.boundary_distance:.6g} "
            f"(labels there: {labels}) for the {r} place(s) left after {ex.n_below} nearer; "
            f"distance_ties={ex.distance_ties!r}: {rule}.")
    rules = ", ".join(f"{name} → {label}" for name, label in ex.by_distance_ties.items())
    if ex.order_dependent:
        shares = ", ".join(f"{c} {p:.3g}" for c, p in ex.prediction_over_orders.items())
        orders = (" With the file order deciding ('index'), another training order could change it "
                  f"(share of orders: {shares}).")
    else:
        orders = " No training order changes the prediction under 'index'."
    return [line, f"  Prediction under each distance_ties rule: {rules}.{orders}"]


def render_text(ex: Explanation, style: Callable[..., str] = lambda text, **kw: text) -> str:
    """The explanation for a terminal; ``style(text, fg=..., bold=..., underline=...)`` marks reused spans
    (``click.style``; the default leaves the text plain)."""
    lines = [f"Query{f' (C = {ex.query_compressed} bytes)' if ex.query_compressed else ''}: {_cut(ex.query)}"]
    lines.append(f"Predicted: {style(str(ex.predicted), bold=True)}   ({ex.model}, k={ex.n_neighbors}, "
                 f"distance_ties={ex.distance_ties}, tie_break={ex.tie_break}, weights={ex.weights})")
    shares = ", ".join(f"{c} {v:.3g}" for c, v in sorted(ex.votes.items(), key=lambda kv: -kv[1]))
    vote = f"Vote shares: {shares}"
    if ex.vote_tie:
        vote += (f" — a tie between {', '.join(map(str, ex.vote_tie))}, decided by tie_break={ex.tie_break}: "
                 f"{_TIE_RULES.get(ex.tie_break, '')}")
    lines.append(vote)
    lines.extend(_distance_tie_lines(ex))
    decided = {"distance tie": f"the distance tie (distance_ties={ex.distance_ties})",
               "vote tie": f"the vote tie (tie_break={ex.tie_break})"}
    lines.append("Decided by: " + (" and ".join(decided[d] for d in ex.decided_by) if ex.decided_by
                                   else "the majority of the nearest texts (no tie decided it)"))
    lines.append("")
    lines.append("Nearest training texts and every one tied with the k-th (query first in every pair; "
                 + style("reused from the query", fg="green", bold=True) + ", "
                 + style("repeated from the text itself", fg="cyan") + ", plain: literals):")
    for nb in ex.neighbors:
        head = f"{nb.rank:>3}. #{nb.index}  {nb.label}  distance {nb.distance:.6g}  vote weight {nb.weight:.3g}"
        if nb.at_boundary and ex.tied_beyond:
            head += "  [tied at the k-th distance" + ("" if nb.in_k else "; not among the k kneighbors returns") + "]"
        if nb.parse is not None:
            head += f"  C(x + ' ' + y) = {nb.parse.compressed} bytes"
        lines.append(head)
        if nb.parse is not None:
            f = nb.parse.train_figures()
            budget = nb.parse.bit_budget()
            lines.append(f"     of its {f['train_bytes']} bytes: {f['bytes_from_query']} copied from the query "
                         f"({f['matches_from_query']} matches, {f['bits_from_query']} bits), {f['bytes_from_itself']} "
                         f"from itself ({f['bits_from_itself']} bits), {f['bytes_literal']} as literals "
                         f"({f['bits_literal']} bits)")
            lines.append(f"     the pair's {budget['compressed_bytes']} bytes = ({budget['token_bits']} token bits + "
                         f"{budget['header_bits']} block-header bits + {budget['padding_bits']} padding) / 8 + "
                         f"{budget['wrapper_bytes']} gzip header and trailer bytes")
            shown, body = 0, []
            for text, kind in nb.parse.train_segments():
                part = text[: max(0, _SHOWN_CHARS - shown)]
                shown += len(part)
                if kind == FROM_QUERY:
                    part = style(part, fg="green", bold=True, underline=True)
                elif kind == FROM_ITSELF:
                    part = style(part, fg="cyan")
                body.append(part)
            more = len(nb.text or "") - shown
            lines.append("     " + "".join(body) + (f" … ({more} more characters; --json has all)" if more > 0 else ""))
        elif nb.text is not None:
            lines.append("     " + _cut(nb.text))
    for note in ex.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def _cut(text: str, n: int = _SHOWN_CHARS) -> str:
    return text if len(text) <= n else text[:n] + f" … ({len(text) - n} more characters)"
