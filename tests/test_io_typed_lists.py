"""A typed list column (Parquet) is read item for item only when that gives what the text path gives.

``io/tables.py`` converts a list column of a Parquet file by writing each list as text and parsing it back
(the path CSV and Excel cells take), unless every item is canonical (:func:`_canonical_items`): then the
items are mapped directly (:func:`_typed_items`), several times faster. Both must agree on every value and
every error code, for lists with nulls, duplicates, too many items, codes and values of the vocabulary,
and — where the fast path must not be taken — separators, spaces, 无 and dates of odd years.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eligibility.io.columns import TABLES, Column
from eligibility.io.tables import _canonical_items, _convert, _enum_map

COLUMNS = {c.path: c for t in ("households", "members") for c in TABLES[t] if c.kind in ("set", "dates")}


def _both(col: Column, values: list[Any], dtype: pl.DataType) -> tuple[bool, pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame({"x": values}, schema={"x": dtype})
    canonical = _canonical_items(col, frame.get_column("x"))

    def run(fast: bool) -> pl.DataFrame:
        conv = _convert(col, pl.col("x"), dtype, fast)
        return frame.select(conv.value.cast(col.dtype).alias("value"), conv.code.alias("code"))

    return canonical, run(True) if canonical else run(False), run(False)


def _odd_strings(col: Column) -> st.SearchStrategy[str]:
    keys = list(_enum_map(col))
    return st.sampled_from(
        [f" {keys[0]}", f"{keys[0]}、{keys[-1]}", f"{keys[0]},{keys[0]}", "无", "NONE", "[]", "", "  ", "不存在的"]
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data(), path=st.sampled_from(["monitoring.risks", "health"]))
def test_set_columns_agree(data: st.DataObject, path: str) -> None:
    col = COLUMNS[path]
    odd = data.draw(st.booleans())
    item = st.sampled_from(list(_enum_map(col))) | (_odd_strings(col) if odd else st.nothing())
    rows = data.draw(st.lists(st.none() | st.lists(st.none() | item, max_size=7), min_size=1, max_size=25))
    canonical, fast, slow = _both(col, rows, pl.List(pl.String))
    assert_frame_equal(fast, slow)
    if not odd:
        assert canonical  # the fast path is taken for vocabulary codes and values


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_date_columns_agree(data: st.DataObject) -> None:
    col = COLUMNS["procedure.visits"]
    odd = data.draw(st.booleans())
    low = date(1, 1, 1) if odd else date(1000, 1, 1)
    day = st.dates(min_value=low, max_value=date(9999, 12, 31))
    rows = data.draw(st.lists(st.none() | st.lists(st.none() | day, max_size=6), min_size=1, max_size=25))
    canonical, fast, slow = _both(col, rows, pl.List(pl.Date))
    assert_frame_equal(fast, slow)
    if not odd:
        assert canonical


def test_the_edges_by_hand() -> None:
    """Too many items, a null item, an empty list (known empty) and a null list, in one column."""
    col = COLUMNS["monitoring.risks"]
    code = next(iter(col.codes))
    rows = [[code] * 6, [code, None], [], None, [code, col.codes[code]]]
    canonical, fast, slow = _both(col, rows, pl.List(pl.String))
    assert canonical
    assert_frame_equal(fast, slow)
    assert fast.get_column("code").to_list() == ["too_many", "missing", None, None, None]
    assert fast.get_column("value").to_list()[2:] == [[], None, [col.codes[code]] * 2]
