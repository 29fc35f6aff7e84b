"""Three shortcuts of the table readers give what the long way gives (``docs/batch-speed.md``, "pqread").

* A Parquet collection (members, measures) whose items all read as themselves — on the rows the frame
  keeps: a row with a bad item is dropped whatever its list holds — keeps its lists, rebuilt
  field by field inside ``list.eval`` (:func:`_kept_items`), instead of exploding the items, checking them,
  and grouping the clean items back into lists joined on ``_row``. Whatever the lists hold — null and
  empty lists, null items, bad fields, cells that need trimming or mapping, fields in another order or of
  another integer type, a field the frame lacks, an unknown field — the frame, the errors, the unknown
  columns and the row count must equal the long way's (the shortcut switched off); and on clean lists the
  shortcut must be taken.
* A text column whose cells are all trimmed is converted on the cells themselves (:func:`_trimmed`), and a
  text column without a bad cell takes its trimmed text as its value (``_Converted.settled``): the clean
  frame and the errors of :func:`_normalise` must equal those of the conversion as :func:`_convert` defines
  it cell by cell.
* :func:`_text` blanks an empty trimmed cell with ``replace``: the same cells as the ``when`` form.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eligibility.io import tables
from eligibility.io.columns import TABLES, Column, header_index
from eligibility.io.tables import _convert, _normalise, _text, read_households

MEMBER = {c.path: c for c in TABLES["members"]}
MEASURE = {c.path: c for c in TABLES["measures"]}

_FIELDS: dict[str, tuple[pl.DataType, st.SearchStrategy[Any]]] = {
    "member_id": (pl.String(), st.sampled_from(["m1", "m2", "m3", " m4", "", "  "])),
    "relation": (pl.String(), st.sampled_from(["户主", "配偶", "子女", "spouse", "配偶 ", "老板"])),
    "birth_date": (pl.Date(), st.sampled_from([date(1950, 1, 2), date(2010, 6, 1)])),
    "health": (
        pl.List(pl.String()),
        st.lists(
            st.sampled_from(["健康", "残疾", "长期慢性病", "disabled", " 健康", "不存在"]) | st.none(), max_size=3
        ),
    ),
    "disability_grade": (pl.Int64(), st.sampled_from([1, 2, 4, 0, 9])),
    "dropped_out": (pl.Boolean(), st.booleans()),
    "成员编号": (pl.String(), st.sampled_from(["m5", "m6"])),  # member_id again, by its Chinese header
    "nickname": (pl.String(), st.sampled_from(["x", "y"])),  # no such field
}
_CLEAN: dict[str, st.SearchStrategy[Any]] = {
    "member_id": st.sampled_from(["m1", "m2", "m3"]),
    "relation": st.sampled_from(["户主", "配偶", "子女"]),
    "health": st.sampled_from([[], ["健康"], ["残疾", "长期慢性病"]]),
    "disability_grade": st.sampled_from([1, 2, 4]),
}


@st.composite
def _members(draw: st.DrawFn, clean: bool) -> tuple[pl.DataType, list[Any]]:
    """A members column: its struct's fields (a random subset in a random order, the grade as Int32 or
    Int64) and per household a null list, an empty list or items (a null item now and then)."""
    names = draw(st.permutations(list(_FIELDS)))
    names = [n for n in names if draw(st.booleans()) or n == "member_id"]
    if clean:
        names = [n for n in names if n != "成员编号"]
    wide = draw(st.booleans())
    dtypes = {n: (pl.Int32() if n == "disability_grade" and not wide else _FIELDS[n][0]) for n in names}
    dtype = pl.List(pl.Struct(dtypes))

    def value(name: str) -> Any:
        strategy = _CLEAN.get(name, _FIELDS[name][1]) if clean else _FIELDS[name][1]
        return draw(st.none() | strategy) if name != "member_id" or not clean else draw(strategy)

    def item() -> dict[str, Any] | None:
        if not clean and draw(st.integers(0, 9)) == 0:
            return None
        return {n: value(n) for n in names}

    rows: list[Any] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["null", "empty", "items", "items", "items"]))
        rows.append(
            None if kind == "null" else [] if kind == "empty" else [item() for _ in range(draw(st.integers(1, 3)))]
        )
    return dtype, rows


def _read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tables.ReadResult, tables.ReadResult, int]:
    """The file read with the shortcut (counting how often it is taken) and with it switched off."""
    taken = 0
    real = tables._kept_items

    def counting(*args: Any) -> pl.Expr | None:
        nonlocal taken
        got = real(*args)
        taken += got is not None
        return got

    with monkeypatch.context() as m:
        m.setattr(tables, "_kept_items", counting)
        fast = read_households(path, as_of=date(2024, 1, 1))
    with monkeypatch.context() as m:
        m.setattr(tables, "_kept_items", lambda *args: None)
        slow = read_households(path, as_of=date(2024, 1, 1))
    return fast, slow, taken


def _assert_same(fast: tables.ReadResult, slow: tables.ReadResult) -> None:
    assert_frame_equal(fast.frame, slow.frame)
    assert fast.errors == slow.errors
    assert fast.unknown_columns == slow.unknown_columns
    assert fast.total_rows == slow.total_rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_parquet_collection_reads_the_same_with_its_lists_kept(
    data: st.DataObject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = data.draw(st.booleans())
    dtype, rows = data.draw(_members(clean))
    ids = [f"H{i}" for i in range(len(rows))]
    frame = pl.DataFrame({"household_id": ids, "members": rows}, schema={"household_id": pl.String, "members": dtype})
    path = tmp_path / "h.parquet"
    frame.write_parquet(path)
    fast, slow, taken = _read_both(path, monkeypatch)
    _assert_same(fast, slow)
    if clean and any(r for r in rows):
        assert taken == 1  # clean items: the lists are kept


def test_the_lists_kept_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fields in another order, an Int32 grade, an unknown field, a null and an empty list, and measures
    named by their Chinese headers: kept, and read as the long way reads them; the frame's item fields
    are in the frame contract's order with the missing ones null."""
    members = pl.List(
        pl.Struct(
            {
                "health": pl.List(pl.String),
                "nickname": pl.String,
                "disability_grade": pl.Int32,
                "relation": pl.String,
                "member_id": pl.String,
            }
        )
    )
    measures = pl.List(pl.Struct({MEASURE["delivered_on"].header: pl.Date, MEASURE["type"].header: pl.String}))
    kind = MEASURE["type"].values[0]
    frame = pl.DataFrame(
        {
            "household_id": ["H1", "H2", "H3"],
            "members": [
                [
                    {
                        "health": ["残疾", "长期慢性病"],
                        "nickname": "x",
                        "disability_grade": 2,
                        "relation": "户主",
                        "member_id": "1",
                    },
                    {"health": [], "nickname": None, "disability_grade": None, "relation": "子女", "member_id": "2"},
                ],
                None,
                [],
            ],
            "monitoring.measures": [
                [{MEASURE["delivered_on"].header: date(2024, 1, 5), MEASURE["type"].header: kind}],
                [],
                None,
            ],
        },
        schema={"household_id": pl.String, "members": members, "monitoring.measures": measures},
    )
    frame.write_parquet(tmp_path / "h.parquet")
    fast, slow, taken = _read_both(tmp_path / "h.parquet", monkeypatch)
    _assert_same(fast, slow)
    assert taken == 2
    assert fast.unknown_columns == ["members.nickname"]
    got = fast.frame["members"].to_list()
    assert list(got[0][0]) == [c.path for c in TABLES["members"] if c.path != "household_id"]
    assert (got[0][0]["member_id"], got[0][0]["disability_grade"], got[0][0]["health"]) == (
        "1",
        2,
        ["残疾", "长期慢性病"],
    )
    assert got[0][1]["name"] is None and got[1] is None and got[2] == []
    assert fast.frame["monitoring.measures"].to_list()[0] == [
        {"type": kind, "detail": None, "delivered_on": date(2024, 1, 5), "member_id": None}
    ]


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"member_id": " 1", "relation": "户主"}, None),  # trimmed: read, but not kept as it is
        ({"member_id": "1", "relation": "head"}, None),  # an English code: mapped, not kept
        ({"member_id": "1", "relation": "老板"}, "bad_value"),  # the row is dropped: the others' lists kept
        ({"member_id": "", "relation": "户主"}, "missing"),
        (None, "missing"),
    ],
)
def test_items_that_do_not_read_as_themselves_are_not_kept_and_bad_rows_do_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, item: dict[str, str] | None, code: str | None
) -> None:
    dtype = pl.List(pl.Struct({"member_id": pl.String, "relation": pl.String}))
    good = {"member_id": "1", "relation": "户主"}
    frame = pl.DataFrame(
        {"household_id": ["H1", "H2"], "members": [[good], [good, item]]},
        schema={"household_id": pl.String, "members": dtype},
    )
    frame.write_parquet(tmp_path / "h.parquet")
    fast, slow, taken = _read_both(tmp_path / "h.parquet", monkeypatch)
    _assert_same(fast, slow)
    assert taken == (1 if code else 0)
    assert [e.code for e in fast.errors] == ([code] if code else [])
    assert fast.frame["household_id"].to_list() == (["H1"] if code else ["H1", "H2"])
    if code is None:
        assert fast.frame["members"].to_list()[1][1]["member_id"] == "1"
        assert fast.frame["members"].to_list()[1][1]["relation"] == "户主"


TEXT = [c for c in header_index("households").values() if c.kind == "text"] + [MEMBER["member_id"], MEMBER["name"]]
_CELLS = st.sampled_from(["340602001001", "3406", " 340602", "m1", "", " ", "\u3000", "a b", "张三", "\xa0x"])


def _by_definition(col: Column, frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Value and error code of each cell as :func:`_convert` defines them (no shortcut)."""
    conv = _convert(col, pl.col("x"), pl.String())
    got = frame.select(conv.value.cast(col.dtype).alias("v"), conv.code.alias("c"))
    return got["v"], got["c"]


@settings(max_examples=120, deadline=None)
@given(data=st.data(), index=st.integers(0, len(TEXT) - 1))
def test_a_text_column_converts_as_defined_trimmed_or_not(data: st.DataObject, index: int) -> None:
    col = TEXT[index]
    cells = data.draw(st.lists(st.none() | _CELLS, min_size=1, max_size=12))
    frame = pl.DataFrame({"x": cells, "_k": list(range(len(cells)))}, schema={"x": pl.String, "_k": pl.Int64})
    clean, errors = _normalise(frame, {"x": ("x", col)}, ["_k"])
    value, code = _by_definition(col, frame)
    assert clean[col.path].equals(value)
    assert errors["_k"].to_list() == [k for k, c in enumerate(code.to_list()) if c is not None]
    assert errors["code"].to_list() == [c for c in code.to_list() if c is not None]


def _spaces() -> Iterator[str]:
    for a in ["", " ", "\t", "\u3000", "\xa0", "\n", "\u2028", "\x1c", "\u200b"]:
        for b in ["", "a", "是", "1.0", " "]:
            yield a + b
            yield b + a


def test_text_blanks_an_empty_trimmed_cell_as_the_when_form_did() -> None:
    cells = [None, *_spaces()]
    frame = pl.DataFrame({"x": cells}, schema={"x": pl.String})
    trimmed = pl.col("x").str.strip_chars()
    when = frame.select(pl.when(trimmed == "").then(None).otherwise(trimmed)).to_series()
    assert frame.select(_text(pl.col("x"), pl.String())).to_series().equals(when)
    numbers = pl.DataFrame({"x": [None, 0.0, 1.5, float("nan")]})
    trimmed = pl.col("x").cast(pl.String).str.strip_chars()
    when = numbers.select(pl.when(trimmed == "").then(None).otherwise(trimmed)).to_series()
    assert numbers.select(_text(pl.col("x"), pl.Float64())).to_series().equals(when)


def test_a_bad_row_does_not_hide_a_good_row_that_needs_trimming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the dropped rows are left out of the comparison: a kept row whose member id needs trimming
    still sends the part the long way."""
    dtype = pl.List(pl.Struct({"member_id": pl.String, "relation": pl.String}))
    rows = [[{"member_id": " 1", "relation": "户主"}], [None]]
    frame = pl.DataFrame(
        {"household_id": ["H1", "H2"], "members": rows}, schema={"household_id": pl.String, "members": dtype}
    )
    frame.write_parquet(tmp_path / "h.parquet")
    fast, slow, taken = _read_both(tmp_path / "h.parquet", monkeypatch)
    _assert_same(fast, slow)
    assert taken == 0
    assert fast.frame["members"].to_list() == [
        [dict.fromkeys(fast.frame.schema["members"].inner.to_schema(), None) | {"member_id": "1", "relation": "户主"}]
    ]
