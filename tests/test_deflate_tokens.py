"""The recording parse (``_deflate.deflate_tokens``) against zlib's own stream, decoded token by token.

The oracle is a small pure-Python inflate: it reads ``gzip.compress(text, 9)`` and lists every
token zlib wrote (literal or match, its position, length and distance) with the bits it takes,
and each block's header bits. The kernel's token list must equal it exactly, so an explanation
built on it is gzip's own parse, and the costs add up to the compressed length.
"""

import gzip
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnzip import _deflate as K

_LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
                195, 227, 258]
_LENGTH_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
              4097, 6145, 8193, 12289, 16385, 24577]
_DIST_EXTRA = [0, 0, 0, 0] + [i // 2 for i in range(2, 28)]
_CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]


class _Bits:
    """LSB-first bit reader over a deflate stream, counting the bits it has read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def bit(self) -> int:
        b = (self.data[self.pos >> 3] >> (self.pos & 7)) & 1
        self.pos += 1
        return b

    def bits(self, n: int) -> int:
        return sum(self.bit() << i for i in range(n))

    def align(self) -> None:
        self.pos = (self.pos + 7) & ~7


def _decoder(lengths: list[int]) -> dict[tuple[int, int], int]:
    """Canonical Huffman codes: (length, code) -> symbol (RFC 1951, 3.2.2)."""
    count = [0] * 16
    for n in lengths:
        count[n] += 1
    count[0] = 0
    code, next_code = 0, [0] * 16
    for bits in range(1, 16):
        code = (code + count[bits - 1]) << 1
        next_code[bits] = code
    table = {}
    for sym, n in enumerate(lengths):
        if n:
            table[(n, next_code[n])] = sym
            next_code[n] += 1
    return table


def _symbol(r: _Bits, table: dict) -> int:
    code = length = 0
    while True:
        code = (code << 1) | r.bit()
        length += 1
        if (length, code) in table:
            return table[(length, code)]


def inflate_tokens(stream: bytes) -> tuple[bytes, list[tuple], list[tuple]]:
    """Decode a raw deflate stream: the text, its tokens ``(pos, length, dist, bits)`` and blocks
    ``(type, header bits)`` (header: everything in the block that is not a token)."""
    r = _Bits(stream)
    out = bytearray()
    tokens, blocks = [], []
    fixed = _decoder([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8), _decoder([5] * 30)
    while True:
        start = r.pos
        final = r.bit()
        kind = r.bits(2)
        token_bits = 0
        if kind == 0:
            r.align()
            n = r.bits(16)
            r.bits(16)
            header = r.pos - start
            for _ in range(n):
                tokens.append((len(out), 1, 0, 8))
                out.append(r.bits(8))
            token_bits = 8 * n
        else:
            if kind == 1:
                lit, dist = fixed
            else:
                hlit, hdist, hclen = r.bits(5) + 257, r.bits(5) + 1, r.bits(4) + 4
                cl = [0] * 19
                for i in range(hclen):
                    cl[_CL_ORDER[i]] = r.bits(3)
                cl_table = _decoder(cl)
                lengths: list[int] = []
                while len(lengths) < hlit + hdist:
                    sym = _symbol(r, cl_table)
                    if sym < 16:
                        lengths.append(sym)
                    elif sym == 16:
                        lengths += [lengths[-1]] * (3 + r.bits(2))
                    elif sym == 17:
                        lengths += [0] * (3 + r.bits(3))
                    else:
                        lengths += [0] * (11 + r.bits(7))
                lit, dist = _decoder(lengths[:hlit]), _decoder(lengths[hlit:])
            while True:
                before = r.pos
                sym = _symbol(r, lit)
                if sym < 256:
                    tokens.append((len(out), 1, 0, r.pos - before))
                    out.append(sym)
                elif sym == 256:
                    break
                else:
                    length = _LENGTH_BASE[sym - 257] + r.bits(_LENGTH_EXTRA[sym - 257])
                    dsym = _symbol(r, dist)
                    d = _DIST_BASE[dsym] + r.bits(_DIST_EXTRA[dsym])
                    tokens.append((len(out), length, d, r.pos - before))
                    for _ in range(length):
                        out.append(out[-d])
                token_bits += tokens[-1][3]
            header = r.pos - start - token_bits
        blocks.append((kind, header))
        if final:
            return bytes(out), tokens, blocks


def kernel_tokens(data: bytes):
    return K.deflate_tokens(np.frombuffer(data, dtype=np.uint8).copy())


def check_against_zlib(data: bytes) -> None:
    compressed = gzip.compress(data, compresslevel=9)
    length, tokens, blocks = kernel_tokens(data)
    assert length == len(compressed)
    text, want_tokens, want_blocks = inflate_tokens(compressed[10:-8])
    assert text == data
    assert [tuple(t) for t in tokens[:, :4].tolist()] == want_tokens
    assert [(b[2], b[3]) for b in blocks.tolist()] == want_blocks
    # the explanation's own sums: per block header + tokens = its bits; all blocks, padded, = the length
    assert (blocks[:, 3] + blocks[:, 4] == blocks[:, 5]).all()
    assert tokens[:, 3].sum() + blocks[:, 3].sum() == blocks[:, 5].sum()
    assert (int(blocks[:, 5].sum()) + 7) // 8 + K.GZIP_OVERHEAD == len(compressed)
    # tokens tile the text, each in its block's range
    assert tokens[:, 1].sum() == len(data)
    if len(tokens):
        assert (np.diff(tokens[:, 0]) == tokens[:-1, 1]).all()
        assert (tokens[:, 0] >= blocks[tokens[:, 4], 0]).all() and (tokens[:, 0] < blocks[tokens[:, 4], 1]).all()


rng = random.Random(2023)
CASES = {
    "empty": b"",
    "one byte": b"a",
    "pair of short texts": b"the cat sat on the mat the cat sat",
    "one char 300": b"x" * 300,
    "period 3": b"abc" * 3000,
    "binary 20000 (stored blocks)": bytes(rng.getrandbits(8) for _ in range(20000)),
    "two letters 40000 (many blocks)": bytes(rng.choice(b"ab") for _ in range(40000)),
    "prose 30000": b" ".join(rng.choice([b"gzip", b"knn", b"text", b"the", b"of", b"distance"]) for _ in range(6000)),
    "largest exact": bytes(rng.choice(b"abcdefgh ") for _ in range(K.MAX_INPUT)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tokens_are_zlibs_own(name):
    check_against_zlib(CASES[name])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_pair_tokens_add_up_to_the_pair_length(x, y):
    check_against_zlib(x + b" " + y)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab c\n", max_size=1500), st.text(alphabet="abc d", max_size=1500))
def test_repetitive_pair_tokens(x, y):
    check_against_zlib(f"{x} {y}".encode())


def test_too_long_is_flagged():
    length, tokens, blocks = kernel_tokens(b"a" * (K.MAX_INPUT + 1))
    assert length == -1 and tokens.shape == (0, 5) and blocks.shape == (0, 6)


def test_real_pairs(data_dir):
    """Pairs of real test texts (AG News), as an explanation parses them."""
    with gzip.open(data_dir / "partial" / "ag_news" / "test.tsv.gz", "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split("\t", 1)[1].encode() for _, line in zip(range(40), f)]
    for x, y in zip(texts[::2], texts[1::2]):
        check_against_zlib(x + b" " + y)
