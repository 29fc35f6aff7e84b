"""The look-up table of finding lists (``compile/polars._Table``): each row gets its key's list, new keys
are made once, and the table keeps to its limit by starting again from the lists a part reads."""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl

from eligibility.compile.polars import FINDING, _Table


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
