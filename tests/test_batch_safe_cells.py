"""``eligibility batch`` writes no cell a spreadsheet would run (issue 13 §5): decisions, errors, summary.

The same check as the routine's lists (``tests/monitor/test_safe_files.py``) on the batch command's own
files, CSV and Excel, read back from disk: household ids such as ``=HYPERLINK("x")`` and ``@SUM(1)`` or
holding a line break come out with a leading ``'`` or a space, and the CSV has exactly one line per record.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest

from eligibility.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "households"
IDS = ['=HYPERLINK("x")', "@SUM(1)", "HB\n=1+1", "+1", "-1-1", "\t=cmd"]
SHOWN = ['\'=HYPERLINK("x")', "'@SUM(1)", "HB =1+1", "'+1", "'-1-1", "' =cmd"]
BAD_ID = "=BAD()"  # a record the model rejects: its id is quoted in the errors file
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"-?[0-9]+")


def _input(tmp_path: Path) -> Path:
    base = [json.loads(p.read_text("utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]
    base = [b.get("household", b) for b, on in ((b, str(b.get("as_of", ""))) for b in base) if on < "2025"]
    rows = []
    for k, hid in enumerate(IDS):
        rows.append({**base[k], "household_id": hid})
    rows.append({**base[0], "household_id": BAD_ID, "income": {**(base[0].get("income") or {}), "wage": "很多"}})
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _safe(cell: str) -> bool:
    return not _CONTROL.search(cell) and (not cell[:1] or cell[0] not in "=+-@" or bool(_NUMBER.fullmatch(cell)))


def _cells_csv(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(text.rstrip("\n").split("\n")) == len(rows), path.name  # no cell forges a row
    return [c for r in rows for c in r]


def _cells_xlsx(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                body = z.read(name)
                assert b"<f>" not in body and b"<f " not in body, (path.name, name)  # no formula cell
    return [
        str(c)
        for sheet in pl.read_excel(path, sheet_id=0, infer_schema_length=0).values()
        for col in sheet.columns
        for c in sheet.get_column(col).drop_nulls()
    ]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_batch_files_are_neutralised(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    summary = tmp_path / f"summary{suffix}"
    args = ["batch", str(_input(tmp_path)), "--as-of", "2023-09-30", "-o", str(out), "--summary", str(summary)]
    assert main(args, io.StringIO()) == 1  # the bad record is an error
    errors = out.with_name(f"out.errors{suffix}")
    read = _cells_csv if suffix == ".csv" else _cells_xlsx
    cells = {f.name: read(f) for f in (out, errors, summary)}
    for name, got in cells.items():
        bad = [c for c in got if not _safe(c)]
        assert not bad, (name, bad)
    assert set(SHOWN) <= set(cells[out.name])
    assert "'" + BAD_ID in cells[errors.name]


def test_formatted_cells_are_neutralised(tmp_path: Path) -> None:
    # Labels and list cells are formatted once per distinct value or item, and a column none of whose texts
    # is risky is not scanned again (writers._flatten): a risky code (here its own label, without rules) in
    # a list, a flat column or a rule's words must still come out neutralised, first item or not.
    from eligibility.io.writers import DECISION_SCHEMA, write_decisions

    def item(code: str) -> dict[str, object]:
        return {"code": code, "certain": True, "rules": ["r"]}

    rows = [
        {"_row": 0, "household_id": "a", "category": "@cat", "risks": [item("=cmd"), item("ok")]},
        {"_row": 1, "household_id": "b", "category": "fine", "risks": [item("ok"), item("=cmd")]},
        {"_row": 2, "household_id": "c", "category": "line\nbreak", "risks": [item("a\tb")]},
    ]
    table = pl.DataFrame([{k: r.get(k) for k in DECISION_SCHEMA} for r in rows], schema=DECISION_SCHEMA)
    out = tmp_path / "out.csv"
    write_decisions(table, out)
    got = pl.read_csv(out, infer_schema_length=0).select("监测对象类别", "风险").rows()
    assert got == [("'@cat", "'=cmd；ok"), ("fine", "ok；=cmd"), ("line break", "a b")]
