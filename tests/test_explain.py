"""Explanations: the nearest training texts, the vote, the ties, and what gzip reused (its own parse)."""

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnzip import NCDKNeighborsClassifier, TiedNeighbors
from nnzip.errors import InputError
from nnzip.explain import explain, pair_reuse, render_text, segments
from nnzip.models import make_model

TRAIN = ["the cat sat on the mat with another cat", "stocks fell sharply as markets closed lower",
         "a kitten and a cat played on the mat", "the bank raised rates and stocks fell"]
LABELS = ["pets", "money", "pets", "money"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.text(max_size=400))
def test_pair_parse_accounts_for_every_byte_and_bit(x, y):
    xb, yb = x.encode(), y.encode()
    p = pair_reuse(xb, yb)
    assert p.compressed == len(gzip.compress(xb + b" " + yb, 9))
    b = p.bit_budget()
    assert b["token_bits"] + b["header_bits"] + b["padding_bits"] == 8 * (p.compressed - b["wrapper_bytes"])
    f = p.train_figures()
    assert f["bytes_from_query"] + f["bytes_from_itself"] + f["bytes_literal"] == len(yb)
    assert "".join(t for t, _ in p.train_segments()) == y
    assert "".join(t for t, _ in p.query_segments()) == x


def slow_kinds(x: bytes, y: bytes, tokens: np.ndarray) -> list[int]:
    """Per byte of y: 0 literal, 1 copied from x + ' ', 2 copied from y (byte by byte, from the tokens)."""
    base, out = len(x) + 1, []
    for pos, length, dist, _, _ in tokens.tolist():
        for q in range(pos, pos + length):
            if q >= base:
                out.append(0 if dist == 0 else (1 if q - dist < base else 2))
    return out


def test_reused_bytes_follow_the_tokens():
    x = b"the quick brown fox jumps over the lazy dog"
    y = b"a quick brown dog jumps over a lazy fox, a quick brown dog"
    p = pair_reuse(x, y)
    assert p.train_kind.tolist() == slow_kinds(x, y, p.tokens)
    f = p.train_figures()
    assert f["bytes_from_query"] > 10 and f["bytes_from_itself"] > 5
    # copied bytes equal their sources
    text = x + b" " + y
    for pos, length, dist, _, _ in p.tokens.tolist():
        if dist:
            for i in range(length):
                assert text[pos + i] == text[pos + i - dist]
    used = {i for i, u in enumerate(p.query_used) if u}
    assert used and all(x[i:i + 1] in y for i in used)


def test_segments_never_split_a_character():
    raw = "é€a😀b".encode()
    # a character takes its first byte's kind, whatever its other bytes say
    kinds = np.array([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0], dtype=np.int8)
    segs = segments(raw, kinds, ("plain", "marked"))
    assert segs == [("é", "marked"), ("€", "plain"), ("a", "marked"), ("😀b", "plain")]


def test_explain_lists_the_neighbours_and_the_vote():
    clf = NCDKNeighborsClassifier(n_neighbors=2).fit(TRAIN, LABELS)
    ex = explain(clf, "a cat on the mat")
    dist, idx = clf.kneighbors(["a cat on the mat"])
    assert [nb.index for nb in ex.neighbors if nb.in_k] == idx[0].tolist()
    assert [nb.distance for nb in ex.neighbors if nb.in_k] == dist[0].tolist()
    assert ex.predicted == clf.predict(["a cat on the mat"])[0] == "pets"
    assert ex.votes == {"pets": 1.0} and ex.vote_tie == [] and ex.decided_by == []
    assert ex.distance_ties == "split" and ex.by_distance_ties == {"split": "pets", "all": "pets", "index": "pets"}
    nb = ex.neighbors[0]
    assert nb.text == TRAIN[nb.index] and nb.parse is not None
    assert nb.parse.compressed == len(gzip.compress(b"a cat on the mat " + TRAIN[nb.index].encode(), 9))
    assert ex.query_compressed == len(gzip.compress(b"a cat on the mat", 9))
    d = ex.to_dict()
    assert d["neighbors"][0]["reuse"]["spans"][-1]["end"] == len(nb.text)
    assert d["distance_tie"]["order_dependent"] is False and d["distance_ties"] == "split"
    assert "Decided by: the majority of the nearest texts" in render_text(ex)


def test_vote_and_distance_ties_are_reported():
    # four copies of one text: all at one distance from the query, two labels
    train = ["same words here"] * 4 + ["something else entirely"]
    clf = NCDKNeighborsClassifier(n_neighbors=2).fit(train, ["a", "b", "b", "a", "c"])
    ex = explain(clf, "same words")
    assert ex.vote_tie == ["a", "b"] and ex.predicted == "a"  # nearest members equal: the classes' order
    assert ex.tied_beyond == 2 and ex.n_below == 0 and ex.tied_labels == {"a": 2, "b": 2}
    # every tied text is listed, each with its share of the split vote
    assert [nb.index for nb in ex.neighbors] == [0, 1, 2, 3]
    assert [nb.weight for nb in ex.neighbors] == [0.25] * 4 and all(nb.at_boundary for nb in ex.neighbors)
    assert sum(nb.in_k for nb in ex.neighbors) == 2
    assert ex.order_dependent and set(ex.prediction_over_orders) == {"a", "b"}
    assert ex.decided_by == ["distance tie", "vote tie"]
    text = render_text(ex)
    assert "a tie between a, b, decided by tie_break=nearest" in text
    assert "4 training texts at the 2nd distance" in text and "distance_ties='split'" in text
    assert "(each counts 2/4)" in text and "another training order could change it" in text
    assert "Decided by: the distance tie (distance_ties=split) and the vote tie (tie_break=nearest)" in text
    assert "\x1b[" not in text  # plain without a style function
    d = ex.to_dict()
    assert d["decided_by"] == ["distance tie", "vote tie"] and d["distance_tie"]["places_at_boundary"] == 2
    assert [n["weight"] for n in d["neighbors"]] == [0.25] * 4


@pytest.mark.parametrize("rule, predicted, weights", [("split", "a", [1 / 3] * 3), ("all", "a", [1 / 3] * 3),
                                                      ("index", "b", [1.0, 0.0, 0.0])])
def test_the_distance_tie_rule_is_named_and_decides(rule, predicted, weights):
    # one place (k=1) and three copies tied for it, labelled b, a, a: the rules disagree
    train = ["same words here"] * 3 + ["something else entirely"]
    clf = NCDKNeighborsClassifier(n_neighbors=1, distance_ties=rule).fit(train, ["b", "a", "a", "c"])
    ex = explain(clf, "same words")
    assert ex.predicted == predicted == clf.predict(["same words"])[0]
    assert ex.by_distance_ties == {"split": "a", "all": "a", "index": "b"}
    assert ex.decided_by == ["distance tie"] and ex.vote_tie == []
    assert [nb.weight for nb in ex.neighbors] == pytest.approx(weights)
    assert f"distance_ties={rule!r}" in render_text(ex)
    assert ex.prediction_over_orders == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_explain_shows_every_neighbour_tied_with_the_kth():
    train = ["aa bb", "aa bb", "cc dd", "aa bb", "ee ff", "aa cc"]
    clf = NCDKNeighborsClassifier(n_neighbors=2).fit(train, list("xyzxyz"))
    from nnzip import pairwise_distances

    for query in ["aa bb", "cc", "ee ff gg"]:
        want = TiedNeighbors.from_distances(pairwise_distances([query], train), 2)
        ex = explain(clf, query)
        assert [nb.index for nb in ex.neighbors] == want.indices.tolist()
        assert [nb.distance for nb in ex.neighbors] == want.distances.tolist()
        assert sum(nb.weight for nb in ex.neighbors) == pytest.approx(1.0)


def test_explain_other_models_and_bad_input():
    with pytest.raises(InputError, match="does not classify by neighbours"):
        explain(make_model("tfidf-logreg").fit(TRAIN, LABELS), "a cat")
    bow = make_model("count-cosine-knn", n_neighbors=2).fit(TRAIN, LABELS)
    ex = explain(bow, "a cat on the mat")
    assert ex.neighbors[0].parse is None and "not a compression model" in ex.notes[0]
    zstd = NCDKNeighborsClassifier(n_neighbors=2, compressor="zstd").fit(TRAIN, LABELS)
    assert "deflate" in explain(zstd, "a cat").notes[0]
    clf = NCDKNeighborsClassifier(n_neighbors=2).fit(TRAIN, LABELS)
    for empty in ("", "   \n"):
        with pytest.raises(InputError, match="empty"):
            explain(clf, empty)


def test_too_long_pairs_are_said_not_guessed():
    with pytest.raises(InputError, match="explained up to"):
        pair_reuse(b"a" * 40000, b"b" * 40000)
