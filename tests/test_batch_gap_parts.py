"""The integer parts of the columnar settling-facts stage (issue 10 §7, docs/batch-speed.md §7): position
bitsets summed per row over wrapping UInt64 running sums, lists of strings made from joined strings, and
rows numbered by their key in a table of distinct keys. Each is held against a plain Python computation."""

from __future__ import annotations

import random

import polars as pl

from eligibility.compile.polars import _distinct, _segment_sums, _string_lists


def test_bitset_sums_per_row_are_exact_past_the_wrap_of_the_running_sum() -> None:
    """Rows of item positions up to 63 (bit 2**63): the running sum wraps around many times, and each
    row's sum, the OR of its distinct bits, still comes out exact."""
    rng = random.Random(10)
    lists = [[*rng.sample(range(63), rng.randint(0, 8)), 63] for _ in range(500)]
    items = pl.LazyFrame({"bits": [1 << p for row in lists for p in row]}, schema={"bits": pl.UInt64})
    got = _segment_sums(pl.Series(lists, dtype=pl.List(pl.UInt8)), items, pl.UInt64()).get_column("bits")
    want = [0] * len(lists)
    for i, row in enumerate(lists):
        for p in row:
            want[i] |= 1 << p
    assert got.to_list() == want
    assert sum(1 << p for row in lists for p in row) >= 2**64  # the running sum did wrap


def test_segment_sums_of_booleans_count_per_row() -> None:
    lists = pl.Series([[1, 2, 3], None, [4], []], dtype=pl.List(pl.Int8))
    flags = pl.LazyFrame({"f": [True, False, True, True]})  # one per item of the non-empty lists, in order
    assert _segment_sums(lists, flags).get_column("f").to_list() == [2, 0, 1, 0]


def test_string_lists_keep_empty_lists_and_order() -> None:
    values = [["$.b", "$.a"], [], ["$.members[2].birth_date"], []]
    got = _string_lists("fields", values)
    assert got.name == "fields" and got.dtype == pl.List(pl.String)
    assert got.to_list() == values
    assert _string_lists("fields", []).len() == 0


def test_rows_numbered_by_their_key_among_the_distinct_keys() -> None:
    long = pl.DataFrame(
        {"si": [0, 1, 0, 2, 1, 2], "n": [[1, 2], [3], [1, 2], None, [3], [1]]},
        schema={"si": pl.UInt32, "n": pl.List(pl.UInt32)},
    )
    for key in (["si"], ["n"], ["si", "n"]):
        rows = long.select(key).rows()
        want = [r for i, r in enumerate(rows) if r not in rows[:i]]  # distinct, in order of first appearance
        table, number = _distinct(long, key)
        assert table.rows() == want
        assert [table.row(i) for i in number.to_list()] == rows


def test_keys_of_one_hash_still_get_their_own_number() -> None:
    """A 64-bit collision forced: every row given the same hash, the keys are checked back and numbered
    by a join instead of sharing the first key's number."""
    long = pl.DataFrame({"si": [0, 1, 0, 2, 1]}, schema={"si": pl.UInt32})
    table, number = _distinct(long, ["si"], hashed=pl.Series([7] * long.height, dtype=pl.UInt64))
    assert table.get_column("si").to_list() == [0, 1, 2]
    assert number.to_list() == [0, 1, 0, 2, 1]
