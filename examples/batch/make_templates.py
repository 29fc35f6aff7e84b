"""Regenerate the batch templates in this folder from ``examples/households/*.json``.

Run ``.venv/bin/python examples/batch/make_templates.py`` after a field is added to the models; the
generated files are committed, and ``tests/test_io_tables.py`` checks that they are up to date and that
every reader turns them into the same households frame as the JSON examples.

Files written:

* ``households.xlsx`` — sheets 农户, 成员, 措施;
* ``households.csv`` + ``members.csv`` + ``measures.csv`` — the same tables as UTF-8 CSV with BOM;
* ``households.jsonl`` — the same households, one JSON object a line;
* ``households-with-errors.csv`` + ``households-with-errors.members.csv`` — one bad cell per bad row
  (and one member row of an unknown household), for the tests and for trying the error report.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from eligibility.io.writers import write_household_tables
from eligibility.models import Household, parse_household

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent / "households"

EXAMPLES = (
    "01-huaibei-marginal.json",
    "06-gansu-education-risk-above-line.json",
    "10-gansu-already-monitored.json",
    "13-huaibei-exit-blocked-at-5-months.json",
    "17-huaibei-identification-overdue-3-days.json",
    "18-weixi-focus-warning.json",
)
"""Chosen to cover both provinces, members of every kind, measures, home-visit dates and a record
carrying its own assessment date. GS-010 (monitored, no measure recorded) is given a known-empty list
of measures, so that the templates show the ``无`` marker of 已落实帮扶措施."""

# (row to copy, header, bad value, error code) — each bad row differs from a valid one in one cell.
BAD_CELLS: tuple[tuple[str, str, str, str], ...] = (
    ("HB-001", "工资性收入", "23,699.99", "not_a_number"),
    ("HB-001", "生产经营性收入", "1e3", "not_a_number"),
    ("HB-001", "财产性收入", "12.345", "too_many_decimals"),
    ("HB-001", "转移性收入", "-5", "too_small"),
    ("HB-001", "是否唯一住房", "也许", "bad_bool"),
    ("HB-001", "收入统计期起", "2023-02-30", "bad_date"),
    ("HB-001", "行政区划代码", "34AB", "pattern"),
    ("HB-001", "住房安全等级", "E", "bad_value"),
    ("HB-001", "户编号", "", "missing"),
)


def load_examples() -> list[tuple[Household, date | None]]:
    """The chosen example households with their own assessment date (or None)."""
    out: list[tuple[Household, date | None]] = []
    for name in EXAMPLES:
        data: Any = json.loads((SOURCES / name).read_text(encoding="utf-8"))
        on = None
        if "household" in data:
            on = date.fromisoformat(data["as_of"])
            data = data["household"]
        if data["household_id"] == "GS-010":
            data["monitoring"]["measures"] = []
        out.append((parse_household(data), on))
    return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _write_csv(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")  # no BOM: the readers take both


def build(out: Path = HERE) -> list[Path]:
    """Write every template into ``out``; returns the files written."""
    households = load_examples()
    written = write_household_tables(households, out / "households.xlsx")
    written += write_household_tables(households, out / "households.csv")
    jsonl = out / "households.jsonl"
    lines = []
    for h, on in households:
        record: Any = json.loads(h.model_dump_json(exclude_none=True))
        lines.append(json.dumps({"as_of": on.isoformat(), "household": record} if on else record, ensure_ascii=False))
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(jsonl)

    # The error example: two valid households, a duplicated id, one bad cell per bad row, an unknown
    # column, and a member row whose household is not in the file.
    rows = _read_csv(out / "households.csv")
    header = [*rows[0].keys(), "备注"]
    good = {r["户编号"]: r for r in rows}
    bad_rows = [dict(good["HB-001"], 备注="正确"), dict(good["GS-010"], 备注="正确")]
    for i, (source, column, value, code) in enumerate(BAD_CELLS):
        row = dict(good[source], 备注=code)
        row["户编号"] = f"BAD-{i + 1:02d}"
        row[column] = value
        bad_rows.append(row)
    bad_rows += [dict(good["HB-013"], 备注="duplicate_id"), dict(good["HB-013"], 备注="duplicate_id")]
    errors = out / "households-with-errors.csv"
    _write_csv(errors, bad_rows, header)
    members = _read_csv(out / "members.csv")
    mheader = list(members[0].keys())
    mrows = [m for m in members if m["户编号"] in ("HB-001", "GS-010")]
    mrows.append(dict(mrows[0], 户编号="NO-SUCH-HOUSEHOLD"))
    merrors = out / "households-with-errors.members.csv"
    _write_csv(merrors, mrows, mheader)
    written += [errors, merrors]
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(HERE.parent.parent))
