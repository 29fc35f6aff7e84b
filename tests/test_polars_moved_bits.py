"""``compile.polars._moved_bits``: the gap stage ORs a collection's item bits into ``__M`` from its
per-position words (bit ``j`` = the collection's ``j``-th item path) by moving runs of bits with one mask
and one shift. The bundled program's item paths only ever move up within word 0; here every direction,
runs, and words past the first are checked against the bit-by-bit definition."""

from __future__ import annotations

import random

import polars as pl
import pytest

from eligibility.compile.polars import _moved_bits


def _expected(value: int, bits: list[int], word: int) -> int:
    return sum(1 << (b % 64) for j, b in enumerate(bits) if b // 64 == word and value >> j & 1)


@pytest.mark.parametrize(
    "bits",
    [
        [10, 11, 12, 13, 14, 15, 16, 17, 34],  # the bundled members: up, two runs
        [0, 1, 2],  # in place
        [63, 64, 65, 3],  # across words: 64 and 65 down one place into word 1, 3 in place
        [70, 71, 5, 130, 66],  # up and down in word 1, down into word 2, out of order
        list(range(64, 128)),  # a whole word: bit j to bit j of word 1 (shift 0 after the word)
        [5 * k + 1 for k in range(12)],  # a different shift per bit
    ],
)
def test_moved_bits_equal_the_bit_by_bit_definition(bits: list[int]) -> None:
    rng = random.Random(len(bits))
    width = len(bits)
    values = [0, (1 << width) - 1, *(rng.getrandbits(width) for _ in range(200))]
    frame = pl.DataFrame({"w": pl.Series(values, dtype=pl.UInt64)})
    moved = _moved_bits(pl.col("w"), bits)
    assert set(moved) == {b // 64 for b in bits}
    got = frame.select(e.alias(str(w)) for w, e in moved.items())
    for w in moved:
        assert got.get_column(str(w)).to_list() == [_expected(v, bits, w) for v in values], (bits, w)
