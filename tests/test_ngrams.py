"""The n-gram kernels of the rerank first stage (nnzip._ngrams) against a slow oracle."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nnzip import _ngrams
from nnzip.lengths import pack

# a small alphabet, so that texts share grams, including empty and duplicate texts
text = st.binary(min_size=0, max_size=14).map(lambda b: bytes(97 + x % 3 for x in b))


def oracle_grams(t: bytes, n: int) -> list[int]:
    return sorted({int.from_bytes(t[p : p + n], "big") for p in range(len(t) - n + 1)})


@settings(max_examples=60, deadline=None)
@given(st.lists(text, min_size=1, max_size=12), st.integers(1, 8))
def test_distinct_grams_match_oracle(texts, n):
    data, offsets = pack(texts)
    codes, off = _ngrams.distinct_grams(data, offsets, n)
    codes_p, off_p = _ngrams.distinct_grams_parallel(data, offsets, n, 3)
    assert np.array_equal(codes, codes_p) and np.array_equal(off, off_p)
    for i, t in enumerate(texts):
        assert codes[off[i] : off[i + 1]].tolist() == oracle_grams(t, n)
