"""The Excel output's column widths against xlsxwriter's own ``autofit`` (issue 10).

:func:`eligibility.io.writers._write_excel` writes what ``DataFrame.write_excel(path, autofit=True,
header_format={"bold": True}, freeze_panes=(1, 0))`` wrote before session 15, with the widths worked
out over the distinct texts of each column by polars (:func:`_excel_widths`) rather than by ``autofit``
cell by cell. The oracle is that call itself: both workbooks are unzipped and compared part by part,
the creation time in ``docProps/core.xml`` aside — the cells, the ``<cols>`` widths (``bestFit``) and the
workbook's options. Frames are generated with the texts that move a width: ASCII of every width, Chinese,
several lines, empty texts, nulls, headers of their own widths, long texts (the cap), whole numbers of
any sign and length, true/false, dates; and links, for which the writer leaves the widths to ``autofit``.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.io.writers import _excel_widths, _write_excel

_TIME = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*<")

_TEXT = st.text(st.sampled_from([*" !\"#$%&'()*+,-./09:;<=>?@AMWZ[\\]^_`aijlmwz{|}~", "中", "；", "\n", "é"]))


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: _TIME.sub(b"<T>", z.read(n)) for n in z.namelist()}


def _same_as_autofit(frame: pl.DataFrame, tmp: Path, sheet: str = "认定结果") -> None:
    before, after = tmp / "autofit.xlsx", tmp / "widths.xlsx"
    frame.write_excel(before, worksheet=sheet, autofit=True, header_format={"bold": True}, freeze_panes=(1, 0))
    _write_excel(frame, after, sheet)
    a, b = _parts(before), _parts(after)
    assert list(a) == list(b)
    for name in a:
        assert a[name] == b[name], name


@st.composite
def _frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 6))
    names = draw(st.lists(_TEXT.filter(lambda t: t.strip() != ""), min_size=1, max_size=5, unique_by=str.lower))
    columns = []
    for name in names:
        kind = draw(st.sampled_from(["text", "text", "long", "int", "uint", "bool", "date", "null"]))
        if kind == "text":
            s = pl.Series(name, draw(st.lists(st.none() | _TEXT, min_size=n, max_size=n)), dtype=pl.String)
        elif kind == "long":
            s = pl.Series(name, [draw(st.sampled_from(["中", "W", "i"])) * draw(st.integers(0, 400)) for _ in range(n)])
        elif kind == "int":
            s = pl.Series(name, draw(st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)))
            s = s.cast(pl.Int64)
        elif kind == "uint":
            s = pl.Series(name, draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n)), dtype=pl.UInt64)
        elif kind == "bool":
            s = pl.Series(name, draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)), dtype=pl.Boolean)
        elif kind == "date":
            s = pl.Series(name, draw(st.lists(st.none() | st.dates(), min_size=n, max_size=n)), dtype=pl.Date)
        else:
            s = pl.Series(name, [None] * n, dtype=pl.Null)
        columns.append(s)
    return pl.DataFrame(columns)


@given(frame=_frames())  # as many examples as the profile gives (quick: 60; `make proptest`: thorough)
def test_widths_are_autofits(frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> None:
    _same_as_autofit(frame, tmp_path_factory.mktemp("xl"))


def test_examples(tmp_path: Path) -> None:
    """The edges by hand: an empty frame, a column of empty texts and nulls, long Chinese texts (the
    cap), a header wider than its cells and cells wider than their header, links (``autofit`` itself),
    headers that look like regular expressions."""
    frames = [
        pl.DataFrame({"户编号": pl.Series([], dtype=pl.String)}),
        pl.DataFrame({"序号": [1, 2], "空": ["", None], "无": pl.Series([None, None], dtype=pl.Null)}),
        pl.DataFrame({"说明": ["家庭成员" * 300, "无"], "x": ["短", "一行\n两行两行两行"]}),
        pl.DataFrame({"a very long header indeed": ["x"], "y": ["a much longer cell than its header"]}),
        pl.DataFrame(
            {
                "link": ["https://example.org/中文", "mailto:a@b.c", "external:c:\\file.xlsx"],
                "d": [date(2023, 9, 30)] * 3,
            }
        ),
        # headers polars would read as a regular expression in an expression (``^…$``): found by the property
        pl.DataFrame({"^[$": pl.Series([None], dtype=pl.String), "^$": ["x"], "^a.*$": [1]}),
    ]
    for k, frame in enumerate(frames):
        (tmp_path / str(k)).mkdir()
        _same_as_autofit(frame, tmp_path / str(k))


def test_measures() -> None:
    """The widths themselves, before autofit's padding: the header counts 16 pixels more (its filter
    button), a text its characters (``中`` 8, ``i`` 4, ``W`` 13), its widest line (not the whole 49), a
    whole number 7 pixels a character of its longest form, a false 36, a date 68; a link is left to
    autofit."""
    frame = pl.DataFrame(
        {
            "i": ["中中中", "W\niiiiiii"],
            "WW": [-10, 5],
            "n": [-1000000, 5],
            "b": [True, False],
            "d": [date(2023, 1, 1), None],
        }
    )
    assert _excel_widths(frame, 68) == [28, 42, 56, 36, 68]
    assert _excel_widths(pl.DataFrame({"a": ["http://x"]}), 68) is None
