"""The paper's scoring, kept under its own name (nnzip.metrics)."""

import pytest

from nnzip import top_k_tie_accuracy


def test_top_k_tie_accuracy_counts_either_tied_label():
    labels = [["a", "b"], ["a", "a"], ["b", "a"], ["c", "c"]]
    assert top_k_tie_accuracy(["b", "a", "a", "b"], labels) == 0.75
    with pytest.raises(ValueError, match="shape"):
        top_k_tie_accuracy(["a"], labels)
