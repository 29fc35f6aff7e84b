"""The Excel table's cells written by polars (:class:`eligibility.io.xlsx_cells.TableCells`) against
xlsxwriter writing them cell by cell (issue 10).

The oracle is ``DataFrame.write_excel(path, autofit=True, …)`` itself, as in ``test_excel_widths.py``: both
workbooks are unzipped and compared part by part (``sheet1.xml``'s rows and cells, ``sharedStrings.xml``'s
texts, counts and order, the table, the styles). Here the frames are the ones ``TableCells`` takes — whole
numbers within ±2**53, decimals (written ``{:.16G}``), texts up to 16,383 characters — with the texts that are written in more than one way:
Chinese, emoji (two UTF-16 units), control characters and ``_x0041_`` (escaped), ``& < > "``, leading and
trailing spaces (``xml:space``), ``<r>…</r>`` (xlsxwriter's rich-string form), formula-like texts, empty
texts (empty cells), texts equal to a header (one shared string), and dates around Excel's 29 February 1900
and at the ends of Python's calendar. Each example checks that ``TableCells`` did write the cells; the
frames it does not take are checked to be written by xlsxwriter, the same file either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.io import xlsx_cells
from eligibility.io.writers import _XL_OPTIONS
from eligibility.io.xlsx_cells import TableCells, workbook

from .test_excel_widths import _parts, _same_as_autofit

# Under an xlsxwriter not yet compared with, TableCells stands aside (``xlsx_cells.supported``): these
# examples would only see xlsxwriter's own path. Passing them is what adds a release to ``VERIFIED``.
_UNVERIFIED = pytest.mark.skipif(not xlsx_cells.supported(), reason="xlsxwriter release not in xlsx_cells.VERIFIED")

_CHARS = [*" \t\n\r\x00\x01\x1f&<>\"'=+-@_x0Aa;:", "中", "；", "😀", "é", "\x7f", "\ufffe", "\uffff", "\u3000", "\xa0"]
_CHARS += ["\x1c", "\x85", "\u2028", "\u200b", "\x0b", "\x0c"]
_TEXT = st.text(st.sampled_from(_CHARS), max_size=12) | st.sampled_from(
    ["_x0041_", "_x005F_", "<r>x</r>", "<r><t>y</t></r>", " lead", "trail ", "=SUM(A1)", "", "a"]
)
_DATES = st.dates() | st.sampled_from(
    [date(1899, 12, 30), date(1899, 12, 31), date(1900, 1, 1), date(1900, 2, 28), date(1900, 3, 1), date.max]
)


@contextmanager
def _written() -> Iterator[list[int]]:
    """The heights of the tables whose cells ``TableCells`` wrote (it, not xlsxwriter)."""
    heights: list[int] = []
    share = TableCells._share_texts

    def spy(self: TableCells) -> None:
        heights.append(self.frame.height)
        share(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TableCells, "_share_texts", spy)
        yield heights


@st.composite
def _frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 40))
    headers = draw(st.lists(_TEXT.filter(lambda t: t.strip() != ""), min_size=1, max_size=5, unique_by=str.lower))
    columns = []
    for name in headers:
        kind = draw(st.sampled_from(["text", "text", "header", "int", "uint", "decimal", "bool", "date", "null"]))
        values: list[Any]
        if kind in ("text", "header"):
            cell = st.none() | _TEXT | (st.sampled_from(headers) if kind == "header" else _TEXT)
            s = pl.Series(name, draw(st.lists(cell, min_size=n, max_size=n)), dtype=pl.String)
        elif kind == "int":
            values = draw(st.lists(st.none() | st.integers(-(2**53), 2**53), min_size=n, max_size=n))
            s = pl.Series(name, values, dtype=pl.Int64)
        elif kind == "uint":
            s = pl.Series(name, draw(st.lists(st.integers(0, 2**53), min_size=n, max_size=n)), dtype=pl.UInt64)
        elif kind == "decimal":  # money (scale 2) and ratios (scale 18), from 1e-18 to 20 digits
            scale = draw(st.sampled_from([0, 2, 18]))
            digits = st.integers(-(10**20), 10**20) | st.integers(-1000, 1000)
            values = [
                None if v is None else Decimal(v).scaleb(-scale)
                for v in draw(st.lists(st.none() | digits, min_size=n, max_size=n))
            ]
            s = pl.Series(name, values, dtype=pl.Decimal(38, scale))
        elif kind == "bool":
            s = pl.Series(name, draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)), dtype=pl.Boolean)
        elif kind == "date":
            s = pl.Series(name, draw(st.lists(st.none() | _DATES, min_size=n, max_size=n)), dtype=pl.Date)
        else:
            s = pl.Series(name, [None] * n, dtype=pl.Null)
        columns.append(s)
    return pl.DataFrame(columns)


@_UNVERIFIED
@given(frame=_frames(), block=st.sampled_from([3, 16, 50_000]))
def test_cells_are_xlsxwriters(frame: pl.DataFrame, block: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same workbook part for part, written in blocks of rows of any size, by ``TableCells``."""
    with _written() as written, pytest.MonkeyPatch.context() as mp:
        mp.setattr(xlsx_cells, "_BLOCK", block)
        _same_as_autofit(frame, tmp_path_factory.mktemp("xl"))
    assert written == [frame.height]


@_UNVERIFIED
def test_left_to_xlsxwriter(tmp_path: Path) -> None:
    """What ``TableCells`` does not take is written by xlsxwriter, the same file as before: a whole number
    past 2**53 (written with an exponent), a text past 16,383 characters (xlsxwriter may cut it), a float."""
    frames = [
        pl.DataFrame({"n": [2**53 + 1, 1], "t": ["a", None]}),
        pl.DataFrame({"n": [-(2**53) - 1, 1]}),
        pl.DataFrame({"t": ["😀" * 16_384, "x"]}),
        pl.DataFrame({"f": [1.5, None], "t": ["a", "b"]}),
    ]
    edge = pl.DataFrame({"n": [2**53, -(2**53)], "t": ["中" * 16_383, ""], "d": [date.min, date.max]})
    with _written() as written:
        for k, frame in enumerate(frames):
            assert not TableCells.takes(frame)
            (tmp_path / str(k)).mkdir()
            _same_as_autofit(frame, tmp_path / str(k))
        assert written == []
        assert TableCells.takes(edge)
        (tmp_path / "edge").mkdir()
        _same_as_autofit(edge, tmp_path / "edge")
        assert written == [2]


@_UNVERIFIED
def test_every_character(tmp_path: Path) -> None:
    """Every character of the Basic Multilingual Plane and a few beyond, alone in a cell: escaped, marked
    ``xml:space="preserve"`` (Python's idea of white space) and written as xlsxwriter writes it."""
    chars = [chr(c) for c in (*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x10FFFF)]
    frame = pl.DataFrame({"c": chars, "x": [f"<r>{c}</r>" for c in chars]})
    with _written() as written:
        _same_as_autofit(frame, tmp_path)
    assert written == [frame.height]


@_UNVERIFIED
def test_a_table_it_does_not_write(tmp_path: Path) -> None:
    """Asked for a table it does not write (here a totals row), ``TableCells`` hands xlsxwriter the rows of
    the frame itself, though ``write_excel`` was given the all-null stand-in: the workbook ``write_excel``
    makes of the frame."""
    frame = pl.DataFrame({"n": [1, None, 3], "t": ["a", "", None], "d": [date(2023, 9, 30), None, date(1900, 1, 1)]})
    options: dict[str, Any] = {"header_format": {"bold": True}, "column_totals": True}
    frame.write_excel(tmp_path / "before.xlsx", worksheet="s", **options)
    wb = workbook(tmp_path / "after.xlsx", _XL_OPTIONS)
    ws = wb.add_worksheet("s")
    with _written() as written:
        stand_in = TableCells(ws, frame).install()
        assert stand_in.null_count().row(0) == (3, 3, 3)
        stand_in.write_excel(wb, worksheet=ws, **options)
        wb.close()
    assert written == []
    assert _parts(tmp_path / "before.xlsx") == _parts(tmp_path / "after.xlsx")


def test_an_unverified_xlsxwriter_writes_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under an xlsxwriter release this was not compared with, nothing of ``xlsx_cells`` takes over — not
    the cells, not the shared strings — and the workbook is the one xlsxwriter writes itself."""
    import xlsxwriter  # type: ignore[import-untyped]

    frame = pl.DataFrame({"n": [1, None, 3], "t": ["中", "", None], "d": [date(2023, 9, 30), None, date(1900, 1, 1)]})
    monkeypatch.setattr(xlsxwriter, "__version__", "99.0.0")
    xlsx_cells.supported.cache_clear()
    try:
        assert not xlsx_cells.supported()
        assert not TableCells.takes(frame)
        assert type(workbook(tmp_path / "plain.xlsx", _XL_OPTIONS)) is xlsxwriter.Workbook
        with _written() as written:
            _same_as_autofit(frame, tmp_path)
        assert written == []
    finally:
        monkeypatch.undo()
        xlsx_cells.supported.cache_clear()
    assert xlsx_cells.supported() == (".".join(xlsxwriter.__version__.split(".")[:2]) in xlsx_cells.VERIFIED)
