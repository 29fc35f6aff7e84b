"""A CSV batch read in parts (issue 10 §5): bounded memory, the same rows and the same errors.

``csv_parts`` copies every record of the households table into the spill file of its part, and every
row of the members and measures tables into the part of its household; ``read_csv_part`` reads one
part. The contract checked here is the one of the whole file's read: every input row yields exactly one
decision or one error, the row numbers (``_row``) and line numbers run on across parts, an id repeated in
two parts is an error on both rows, an item row naming no household is reported once.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eligibility import load_rules
from eligibility.batch import run_batch
from eligibility.io.tables import ReadResult, csv_parts, read_csv_part, read_households

from .conftest import RULES

ROOT = Path(__file__).resolve().parent.parent
BATCH = ROOT / "examples" / "batch"
ON = date(2024, 6, 30)

HOUSEHOLDS = (
    "户编号,行政区划代码,户类型,家庭成员,已落实帮扶措施,备注\n"
    "A1,340602001001,一般农户,,,\n"
    "A2,340602001001,脱贫户,,,\n"
    "\n"  # a blank line is no row
    "DUP,340602001001,一般农户,,,\n"
    "A3,340602001001,坏类型,,,\n"  # a bad cell: an error on its row
    '"A4",340602001001,"一般\n农户",,,\n'  # a quoted cell over two lines: the record's first line counts
    "A5,340602001001,一般农户,无,,\n"  # marked 无 but the members table has a row: a conflict
    ",,,,,\n"  # blank cells only: no row
    "A6,340602001001,一般农户,,,x,y\n"  # a value beyond the header: a ragged row
    "A7,340602001001,一般农户,,无,\n"
    "DUP,340602001001,脱贫户,,,\n"  # the same id again, in a later part
    "A8,340602001001,一般农户,,,\n"
)
MEMBERS = (
    "户编号,成员编号,与户主关系,出生日期\n"
    "A8,1,户主,1980-01-01\n"  # the last household's members first: items are placed by id, not by order
    "A1,1,户主,1970-05-01\n"
    "NOBODY,1,户主,1970-05-01\n"  # no such household: reported once
    "A1,2,配偶,1972-02-30\n"  # a bad date keeps A1 out
    "DUP,1,户主,1960-01-01\n"
    "A5,1,户主,1960-01-01\n"
    ",1,户主,1960-01-01\n"  # no household id
    "A2,1,户主,1960-01-01\n"
    "A8,2,子女,2010-09-09\n"
)
MEASURES = "户编号,措施类别,措施内容,落实日期,受益成员编号（空：全户）\nA7,产业帮扶,养殖奖补,2023-05-10,\nA2,产业帮扶,养殖奖补,2023-05-10,\n"


def _write(folder: Path, encoding: str = "utf-8") -> Path:
    (folder / "households.csv").write_bytes(HOUSEHOLDS.encode(encoding))
    (folder / "members.csv").write_bytes(MEMBERS.encode(encoding))
    (folder / "measures.csv").write_bytes(MEASURES.encode(encoding))
    return folder / "households.csv"


def _errors(results: list[ReadResult]) -> list[tuple[Any, ...]]:
    return sorted((dataclasses.astuple(e) for r in results for e in r.errors), key=repr)


def _in_parts(path: Path, chunk_rows: int) -> list[ReadResult]:
    cut = csv_parts(path, chunk_rows)
    return [read_csv_part(cut, k, ON) for k in range(len(cut.parts))]


def _same_as_whole(path: Path, chunk_rows: int) -> None:
    whole = read_households(path, as_of=ON)
    parts = _in_parts(path, chunk_rows)
    assert_frame_equal(pl.concat([p.frame for p in parts]), whole.frame)
    assert _errors(parts) == _errors([whole])
    assert sum(p.total_rows for p in parts) == whole.total_rows
    assert [c for p in parts for c in p.unknown_columns] == whole.unknown_columns
    assert parts[0].notes == whole.notes and all(not p.notes for p in parts[1:])


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 4, 100])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_csv_read_in_parts_is_the_csv_read_whole(tmp_path: Path, chunk_rows: int, encoding: str) -> None:
    """Rows, errors (file, line, column, code, household), row count, unknown columns and notes are those
    of the whole file's read, whatever the part size, in the encodings Excel and WPS save."""
    _same_as_whole(_write(tmp_path, encoding), chunk_rows)


@pytest.mark.parametrize("chunk_rows", [1, 2, 5])
@pytest.mark.parametrize("name", ["households.csv", "households-with-errors.csv"])
def test_the_templates_read_in_parts(name: str, chunk_rows: int) -> None:
    _same_as_whole(BATCH / name, chunk_rows)


def test_an_id_repeated_across_parts_is_an_error_on_both_rows(tmp_path: Path) -> None:
    parts = _in_parts(_write(tmp_path), 2)
    dups = [(e.row, e.index, e.message) for p in parts for e in p.errors if e.code == "duplicate_id"]
    assert [(row, index) for row, index, _ in dups] == [(5, 2), (13, 8)]
    assert all("5、13" in message for _, _, message in dups)  # each names both lines
    orphans = [e for p in parts for e in p.errors if e.code == "unknown_household"]
    assert [(e.household_id, e.row) for e in orphans] == [("NOBODY", 4)]
    assert not any(e.code == "unknown_household" for p in parts[1:] for e in p.errors)


def test_every_row_is_in_the_frame_or_has_an_error(tmp_path: Path) -> None:
    parts = _in_parts(_write(tmp_path), 3)
    total = sum(p.total_rows for p in parts)
    decided = {int(r) for p in parts for r in p.frame.get_column("_row")}
    failed = {e.index for p in parts for e in p.errors if e.index is not None}
    assert decided | failed == set(range(total)) and not decided & failed


def test_an_empty_file_or_no_id_column_fails_as_the_whole_read_does(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("", encoding="utf-8")
    (tmp_path / "g.csv").write_text("行政区划代码\n340602001001\n", encoding="utf-8")
    for name in ("h.csv", "g.csv"):
        cut = csv_parts(tmp_path / name, 10)
        assert len(cut.parts) == 1
        with pytest.raises(Exception, match="户编号") as whole:
            read_households(tmp_path / name)
        with pytest.raises(type(whole.value), match="户编号"):
            read_csv_part(cut, 0, ON)


def test_the_spill_folder_goes_with_the_parts(tmp_path: Path) -> None:
    cut = csv_parts(_write(tmp_path), 2)
    folder = cut.folder
    assert folder.is_dir() and len(list(folder.iterdir())) > len(cut.parts)
    del cut
    assert not folder.exists()


def test_run_batch_over_a_csv_in_parts_gives_the_decisions_of_one_part(tmp_path: Path) -> None:
    """The batch reads a CSV part by part: the decisions and the errors file are those of a run whose
    single part holds the whole file, and each input row is in exactly one of them."""
    rules = load_rules(RULES)
    path = _write(tmp_path)
    got = {}
    for chunk in (2, 1000):
        out = tmp_path / f"out-{chunk}.parquet"
        result = run_batch([path], out, rules=rules, as_of=ON, chunk_rows=chunk, progress=False, log=io.StringIO())
        errors = pl.read_parquet(out.with_name(out.stem + ".errors.parquet"))
        got[chunk] = (pl.read_parquet(out).drop("ruleset_fingerprint"), errors, result.rows, result.errors)
        decided = set(got[chunk][0].get_column("_row").to_list())
        failed = set(errors.get_column("index").drop_nulls().to_list())
        assert result.rows == 10
        assert result.decided == len(decided)
        assert decided | failed == set(range(10)) and not decided & failed
    assert_frame_equal(got[2][0], got[1000][0])
    assert_frame_equal(got[2][1].sort(pl.all()), got[1000][1].sort(pl.all()))
    assert got[2][2:] == got[1000][2:]


# ---------------------------------------------------------------------------------- generated files

_IDS = st.sampled_from(["H1", "H2", "H3", "H4", "H5", "", " H1 "])
_TYPES = st.sampled_from(["一般农户", "脱贫户", "坏", ""])
_DATES = st.sampled_from(["1970-01-01", "2010-02-28", "1999-02-30", ""])


@st.composite
def _tables(draw: st.DrawFn) -> tuple[str, str]:
    rows = draw(st.lists(st.tuples(_IDS, _TYPES, st.booleans()), max_size=12))
    households = "户编号,行政区划代码,户类型\n" + "".join(
        "\n" if blank else f"{hid},340602001001,{kind}\n" for hid, kind, blank in rows
    )
    items = draw(st.lists(st.tuples(_IDS | st.just("NOBODY"), _DATES), max_size=12))
    members = "户编号,成员编号,与户主关系,出生日期\n" + "".join(
        f"{hid},{i},户主,{born}\n" for i, (hid, born) in enumerate(items)
    )
    return households, members


@settings(max_examples=40, deadline=None)
@given(tables=_tables(), chunk_rows=st.integers(1, 5))
def test_generated_tables_read_in_parts_as_read_whole(
    tmp_path_factory: pytest.TempPathFactory, tables: tuple[str, str], chunk_rows: int
) -> None:
    """Repeated, blank and unknown ids, blank rows, bad cells and orphan members, in any part size."""
    folder = tmp_path_factory.mktemp("gen")
    (folder / "households.csv").write_text(tables[0], encoding="utf-8")
    (folder / "members.csv").write_text(tables[1], encoding="utf-8")
    _same_as_whole(folder / "households.csv", chunk_rows)


@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_rows_of_spaces_count_as_the_whole_read_counts_them(tmp_path: Path, chunk_rows: int) -> None:
    """Cells beyond the header are cut off before a row is found blank: ideographic spaces then make a
    blank row (no row), while U+001C is not white space to the table reader, so that row is read — in
    parts as in the whole file."""
    (tmp_path / "households.csv").write_text(
        "户编号,户类型\nA,一般农户\n\u3000,\u3000 ,x\nB,一般农户\n\x1c,,y\nC,一般农户\n", encoding="utf-8"
    )
    _same_as_whole(tmp_path / "households.csv", chunk_rows)
    assert sum(p.total_rows for p in _in_parts(tmp_path / "households.csv", chunk_rows)) == 4
