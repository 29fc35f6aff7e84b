"""Two shortcuts of the batch readers give what the long way gives (``docs/batch-speed.md``, "e2ein").

* A column of coded values whose every cell already reads as itself is taken as it is (:func:`_as_is`):
  whenever the shortcut is taken, the column must equal what :func:`_convert` makes of it, with no error.
* CSV records become a table through spill rows read back by polars' CSV reader (:func:`_spill_rows`,
  :func:`_spill_table`): every cell must come back exactly — quotes, commas, line breaks, spaces, an empty
  cell empty and a cell the record did not have null — with its record's line number, and a record with a
  value beyond the header reported as ragged.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.io.columns import TABLES, Column
from eligibility.io.tables import _LOC, _as_is, _canonical_items, _convert, _csv_table, _enum_map, _unique_names

ENUMS = {c.path: c for t in ("households", "members") for c in TABLES[t] if c.kind == "enum"}
HEALTH = next(c for c in TABLES["members"] if c.path == "health")


def _converted(col: Column, frame: pl.DataFrame, canonical: bool) -> pl.DataFrame:
    conv = _convert(col, pl.col("x"), frame.schema["x"], canonical)
    return frame.select(conv.value.cast(col.dtype).alias("value"), conv.code.alias("code"))


def _cells(col: Column) -> st.SearchStrategy[str]:
    """Values (read as themselves), codes (mapped to values) and cells that are errors or need trimming."""
    return st.sampled_from([*col.values, *_enum_map(col), f" {col.values[0]}", "", "  ", "不存在的"])


@settings(max_examples=80, deadline=None)
@given(data=st.data(), path=st.sampled_from(sorted(ENUMS)))
def test_a_coded_text_column_is_taken_as_it_is_only_when_that_is_what_converting_gives(
    data: st.DataObject, path: str
) -> None:
    col = ENUMS[path]
    plain = data.draw(st.booleans())
    cell = st.sampled_from(list(col.values)) if plain else _cells(col)
    frame = pl.DataFrame({"x": data.draw(st.lists(st.none() | cell, min_size=1, max_size=30))}, schema={"x": pl.String})
    taken = _as_is(col, frame.get_column("x"), False)
    if plain:
        assert taken  # the vocabulary's own values, nothing else: the shortcut is taken
    if taken:
        got = _converted(col, frame, False)
        assert got.get_column("value").equals(frame.get_column("x"))
        assert got.get_column("code").null_count() == frame.height


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_a_set_column_is_taken_as_it_is_only_when_its_lists_are_already_unique_and_sorted(
    data: st.DataObject,
) -> None:
    item = st.sampled_from(list(_enum_map(HEALTH)))
    rows: list[Any] = data.draw(st.lists(st.none() | st.lists(st.none() | item, max_size=4), min_size=1, max_size=30))
    frame = pl.DataFrame({"x": rows}, schema={"x": pl.List(pl.String)})
    canonical = _canonical_items(HEALTH, frame.get_column("x"))
    taken = _as_is(HEALTH, frame.get_column("x"), canonical)
    clean = all(r is None or (None not in r and r == sorted(set(r)) and set(r) <= set(HEALTH.values)) for r in rows)
    assert taken == clean
    if taken:
        got = _converted(HEALTH, frame, canonical)
        assert got.get_column("value").equals(frame.get_column("x"))
        assert got.get_column("code").null_count() == frame.height


_TEXT = st.text(alphabet=st.sampled_from(["a", " ", ",", '"', "\n", "\r", "户", "\t", "'", "\\", "\u3000"]), max_size=5)


@settings(max_examples=100, deadline=None)
@given(
    header=st.lists(st.sampled_from(["户编号", "a", " b ", "a", "", _LOC]), max_size=5),
    records=st.lists(st.lists(_TEXT, max_size=7), max_size=12),
)
def test_csv_records_come_back_cell_for_cell(header: list[str], records: list[list[str]]) -> None:
    numbered = [(3 * i + 2, cells) for i, cells in enumerate(records)]
    table = _csv_table("f.csv", header, 1, numbered)
    width = len(header)
    names = _unique_names([h.strip() for h in header])
    assert table.frame.columns == (names if _LOC in names else [*names, _LOC])
    assert table.frame.schema[_LOC] == pl.Int64
    assert table.frame.get_column(_LOC).to_list() == [line for line, _ in numbered]
    for k, name in enumerate(names):
        if name != _LOC:  # a header named like the line-number column gives way to it
            expected = [cells[k] if k < len(cells) else None for _, cells in numbered]
            assert table.frame.get_column(name).to_list() == expected
    ragged = {line for line, cells in numbered if any(c.strip() for c in cells[width:])}
    assert set(table.ragged) == ragged
    for line, cells in numbered:
        if line in ragged:
            assert table.ragged[line].startswith(f"该行有 {len(cells)} 列，多于表头的 {width} 列")
