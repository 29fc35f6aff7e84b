"""``_rank_in``: a value's place among the sorted distinct values it is drawn from, by a hash look-up (session
31), must be the place polars' binary search (``search_sorted``, which it replaced in the gap stage and the
member assembly) gives, nulls included, and must refuse a value that is not among them rather than guess."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.compile.polars import _rank_in

_VALUES = st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=2**64 - 1)), max_size=200)


@given(_VALUES)
def test_the_place_is_the_binary_searchs(values: list[int | None]) -> None:
    column = pl.Series("v", values, dtype=pl.UInt64)
    distinct = column.unique().sort()
    places = _rank_in(distinct, column)
    assert places.dtype == pl.UInt32 and places.len() == column.len()
    assert places.to_list() == distinct.search_sorted(column).cast(pl.UInt32).to_list()
    assert distinct.gather(places).equals(column, check_names=False)


def test_a_value_not_among_them_is_refused() -> None:
    with pytest.raises(pl.exceptions.InvalidOperationError):
        _rank_in(pl.Series([1, 5], dtype=pl.UInt64), pl.Series([5, 3], dtype=pl.UInt64))
