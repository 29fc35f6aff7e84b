"""The routine's spreadsheet files cannot run what the county's input holds (issue 13 §5, issue 14 §2).

A household id is free text typed or exported by a county system, and a department's file carries cells of
its own; both reach the lists a clerk opens in Excel or WPS. Every text cell is neutralised as
:func:`eligibility._safe.spreadsheet_cell` does for one cell: a leading ``=`` ``+`` ``-`` ``@`` gets a ``'``,
control characters (tab, CR, LF…) become spaces so that no cell forges a row. Checked on the real files
``eligibility monitor run`` and ``eligibility feeds import -o`` write, read back as a reader would.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest

from eligibility.cli import main

from .conftest import month_two, population, write_jsonl

RENAMED = {
    "HB-003": '=HYPERLINK("x")',  # newly identified in month 2: change list and visit list
    "HB-017": "@SUM(1)",  # identification overdue both months: the quarter's focus list
    "HB-013": "HB-013\n=1+1",  # eliminated in month 2: the change list
    "HB-015": "-2+3",  # re-entered in month 2
}
SHOWN = {
    "HB-003": '\'=HYPERLINK("x")',
    "HB-017": "'@SUM(1)",
    "HB-013": "HB-013 =1+1",
    "HB-015": "'-2+3",
}
FEED = (
    "身份证件号码,姓名,数据日期,合规自付金额,结算期间\n"
    '99999919750302000X,王建国,2023-09-10,25000,"2023-08\r\n=1+1"\n'  # HB-001's head: a lead
)
LEAD_SHOWN = "2023-08  =1+1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"-?[0-9]+")


def _months(tmp_path: Path) -> list[list[dict[str, object]]]:
    out = []
    for households in (population(), month_two(population())):
        for h in households:
            h["household_id"] = RENAMED.get(str(h["household_id"]), h["household_id"])
        out.append(households)
    return out


def _run(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    """Month 1, the feed, month 2 through the command line, in ``fmt``; month 2's folder, the feed report."""
    m1, m2 = _months(tmp_path)
    db = str(tmp_path / f"{fmt}.db")
    common = ["--db", db, "--format", fmt, "--jurisdiction", "t"]
    first = write_jsonl(m1, tmp_path / "m1.jsonl")
    assert main(
        ["monitor", "run", str(first), "--as-of", "2023-08-31", "-o", str(tmp_path / "o1"), *common], io.StringIO()
    ) in (0, 1)
    feed = tmp_path / "医保.csv"
    feed.write_bytes(FEED.encode("utf-8"))
    report = tmp_path / f"feed-{fmt}.csv"
    main(["feeds", "import", str(feed), "--kind", "medical", "--db", db, "-o", str(report)], io.StringIO())
    second = write_jsonl(m2, tmp_path / "m2.jsonl")
    out = tmp_path / "o2"
    assert main(["monitor", "run", str(second), "--as-of", "2023-09-30", "-o", str(out), *common], io.StringIO()) in (
        0,
        1,
    )
    return out, report


def _safe(cell: str) -> bool:
    """A cell a spreadsheet cannot run and that cannot forge a row (a plain number such as ``-1`` is a
    number cell, not a formula)."""
    return not _CONTROL.search(cell) and (not cell[:1] or cell[0] not in "=+-@" or bool(_NUMBER.fullmatch(cell)))


def _csv(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # A reader who splits lines sees exactly the records: no cell holds a line break.
    assert len(text.rstrip("\n").split("\n")) == len(rows), path.name
    for row in rows:
        for cell in row:
            assert _safe(cell), (path.name, cell)
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _column(rows: list[dict[str, str]], name: str) -> set[str]:
    return {r[name] for r in rows}


def test_csv_lists_are_neutralised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELIGIBILITY_ID_KEY", "safe-key-0123456789abcdef")
    out, report = _run(tmp_path, "csv")
    files = {p.stem: _csv(p) for p in out.glob("*.csv")}
    assert {"一月一提示", "一月一分析", "一季一预警-2023Q3", "一周一抽查", "变化清单"} <= set(files)
    changes = files["变化清单"]
    assert {SHOWN["HB-003"], SHOWN["HB-013"], SHOWN["HB-015"]} <= _column(changes, "户编号")
    assert SHOWN["HB-003"] in _column(files["一月一提示"], "户编号")
    assert SHOWN["HB-017"] in _column(files["一季一预警-2023Q3"], "户编号")
    lead = [r["原因"] for r in changes if r["变化"] == "新增风险线索" and r["户编号"] == "HB-001"]
    assert len(lead) == 1 and LEAD_SHOWN in lead[0]
    visit = next(r for r in files["一月一提示"] if r["户编号"] == "HB-001")
    assert LEAD_SHOWN in visit["走访原因"]
    # monitor.json is for programs: it keeps the ids as they were given.
    assert RENAMED["HB-013"] in {c["household_id"] for c in _json(out)["changes"]["eliminated"]}
    # The feed command's report quotes the department's cells: neutralised too.
    got = _csv(report)
    assert [r["结果"] for r in got] == ["已生成线索"] and LEAD_SHOWN in got[0]["说明"]


def _json(out: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    import json

    data: dict[str, dict[str, list[dict[str, str]]]] = json.loads((out / "monitor.json").read_text("utf-8"))
    return data


def test_excel_lists_are_neutralised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELIGIBILITY_ID_KEY", "safe-key-0123456789abcdef")
    out, _ = _run(tmp_path, "xlsx")
    books = sorted(out.glob("*.xlsx"))
    assert {p.stem for p in books} >= {"一月一提示", "一月一分析", "一季一预警-2023Q3", "一周一抽查", "变化清单"}
    seen: set[str] = set()
    for book in books:
        with zipfile.ZipFile(book) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/"):
                    assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), (book.name, name)
        for sheet in pl.read_excel(book, sheet_id=0, infer_schema_length=0).values():
            for col in sheet.columns:
                for cell in sheet.get_column(col).drop_nulls().cast(pl.String):
                    assert _safe(cell), (book.name, col, cell)
                    seen.add(cell)
    assert set(SHOWN.values()) <= seen
    assert any(LEAD_SHOWN in cell for cell in seen)
