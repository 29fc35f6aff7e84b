"""The look-up table of finding lists (``compile/polars._Table``): each row gets its key's list, new keys
are made once, and the table keeps to its limit by starting again from the lists a part reads. The whole
table of a kind of few rules (``_WholeTable``) is made once, for every key, and read by key."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import polars as pl

from eligibility.compile.polars import FINDING, _combination_lists, _Table, _WholeTable


def _make(calls: list[list[int]]) -> Callable[[list[int]], pl.Series]:
    def make(keys: list[int]) -> pl.Series:
        calls.append(list(keys))
        return pl.Series(
            [[{"code": f"c{k}", "certain": k % 2 == 0, "rules": [f"r{k}"] * (k % 3)}] for k in keys],
            dtype=pl.List(FINDING),
        )

    return make


def _expected(keys: list[int]) -> list[list[dict[str, object]]]:
    return [[{"code": f"c{k}", "certain": k % 2 == 0, "rules": [f"r{k}"] * (k % 3)}] for k in keys]


def test_each_row_gets_its_keys_list_and_new_keys_are_made_once() -> None:
    table = _Table(FINDING)
    calls: list[list[int]] = []
    make = _make(calls)
    for keys in ([3, 1, 3, 2], [2, 5, 1, 5], [], [1, 2, 3, 5]):
        got = table.lists(pl.Series(keys, dtype=pl.UInt64), make)
        assert got.to_list() == _expected(keys)
    assert sorted(calls[0]) == [1, 2, 3]
    assert calls[1:] == [[5]]


def test_a_bounded_table_starts_again_from_the_part_it_reads() -> None:
    rng = random.Random(7)
    table = _Table(FINDING, limit=40)
    calls: list[list[int]] = []
    make = _make(calls)
    restarted = 0
    for _ in range(30):
        keys = [rng.randrange(120) for _ in range(rng.randrange(1, 60))]
        before = table.keys.len()
        got = table.lists(pl.Series(keys, dtype=pl.UInt64), make)
        assert got.to_list() == _expected(keys)
        restarted += table.keys.len() < before
        # at most the limit, or one part's distinct keys when they alone pass it
        assert table.keys.len() <= max(40, len(set(keys)))
        assert table.series.len() == table.keys.len()
        # only keys not in the table are made, and each once per call
        assert len(calls[-1]) == len(set(calls[-1]))
    assert restarted > 0


def _states(rules: int) -> list[int]:
    """Every key of ``rules`` rules that can occur: each rule not reached (0), fired (1) or unknown (2)."""
    return [sum(v << (2 * i) for i, v in enumerate(vs)) for vs in itertools.product((0, 1, 2), repeat=rules)]


def test_a_whole_table_is_made_once_for_every_key_and_read_by_key() -> None:
    rng = random.Random(11)
    table = _WholeTable(FINDING, 3)
    calls: list[list[int]] = []
    make = _make(calls)
    states = _states(3)
    for size in (5, 0, 40, 17):
        keys = [rng.choice(states) for _ in range(size)]
        got = table.lists(pl.Series(keys, dtype=pl.UInt64), make)
        assert got.to_list() == _expected(keys)
    assert calls == [list(range(64))]


def test_a_whole_table_gives_the_lists_a_growing_table_gives() -> None:
    """Three codes over four rules (one rule concluding two codes): every combination that can occur gets
    the same findings from both tables."""
    codes = [
        ("a", 1 << 0 | 1 << 2, [(0, "r1"), (2, "r2")]),
        ("b", 1 << 2 | 1 << 4, [(2, "r2"), (4, "r3")]),
        ("c", 1 << 6, [(6, "r4")]),
    ]

    def make(keys: list[int]) -> pl.Series:
        return _combination_lists(keys, codes, pl.List(FINDING))

    keys = pl.Series(_states(4), dtype=pl.UInt64)
    whole = _WholeTable(FINDING, 4).lists(keys, make)
    assert whole.to_list() == _Table(FINDING).lists(keys, make).to_list()
    assert whole.list.len().max() == 3
