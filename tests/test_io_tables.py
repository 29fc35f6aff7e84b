"""Batch readers, writers and the monthly summary (issue 10 §2–§4).

The reference for every reader is :func:`frame_from_households` of the same households validated by
``parse_household``: a table reader that disagrees with it on any cell of the templates fails here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eligibility.io.columns import TABLES, column_table_markdown, frame_schema
from eligibility.io.summary import render_markdown, summarise, write_summary
from eligibility.io.tables import ReadResult, TableFormatError, frame_from_households, read_households
from eligibility.io.writers import decision_table, write_decisions, write_errors, write_household_tables
from eligibility.models import parse_household

ROOT = Path(__file__).resolve().parent.parent
BATCH = ROOT / "examples" / "batch"
sys.path.insert(0, str(BATCH))
import make_templates  # noqa: E402

BOM = b"\xef\xbb\xbf"


@pytest.fixture(autouse=True)
def _quiet_fastexcel() -> None:
    # fastexcel logs a warning for each all-blank column ("could not determine dtype"); that is expected.
    logging.getLogger("fastexcel").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def expected() -> pl.DataFrame:
    return frame_from_households([(h, on, i) for i, (h, on) in enumerate(make_templates.load_examples())])


def _ok(result: ReadResult) -> pl.DataFrame:
    assert result.errors == []
    assert result.unknown_columns == []
    return result.frame


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["households.csv", "households.xlsx", "households.jsonl"])
def test_templates_read_to_the_same_frame_as_the_json_examples(name: str, expected: pl.DataFrame) -> None:
    result = read_households(BATCH / name)
    assert result.total_rows == expected.height
    assert_frame_equal(_ok(result), expected)


def test_frame_follows_the_contract(expected: pl.DataFrame) -> None:
    assert expected.schema == pl.Schema(frame_schema())
    assert expected["_row"].to_list() == list(range(expected.height))
    assert expected.schema["income.wage"] == pl.Decimal(38, 2)
    assert expected.schema["water.litres_per_person_day"] == pl.Decimal(38, 10)
    row = expected.row(0, named=True)
    assert row["household_type"] == "一般农户"
    assert row["members"][1]["health"] == ["长期慢性病"]
    # GS-010 is known to have no measures (an empty list), which is not the same as unknown (null).
    gs010 = expected.filter(pl.col("household_id") == "GS-010").row(0, named=True)
    assert gs010["monitoring.measures"] == []
    assert row["monitoring.measures"] is None
    hb017 = expected.filter(pl.col("household_id") == "HB-017").row(0, named=True)
    assert hb017["procedure.visits"] and all(isinstance(d, date) for d in hb017["procedure.visits"])
    wx = expected.filter(pl.col("household_id") == "WX-018").row(0, named=True)
    assert wx["as_of"] == date(2024, 6, 30)


def test_as_of_argument_fills_rows_without_their_own(expected: pl.DataFrame) -> None:
    frame = read_households(BATCH / "households.csv", as_of="2023-09-30").frame
    assert frame["as_of"].to_list() == [d if d is not None else date(2023, 9, 30) for d in expected["as_of"].to_list()]


def test_parquet_in_the_frame_contract_round_trips(tmp_path: Path, expected: pl.DataFrame) -> None:
    path = tmp_path / "h.parquet"
    expected.write_parquet(path)
    assert_frame_equal(_ok(read_households(path)), expected)


def test_templates_are_up_to_date(tmp_path: Path) -> None:
    make_templates.build(tmp_path)
    for name in ("households.csv", "members.csv", "measures.csv", "households.jsonl", "households-with-errors.csv"):
        assert (tmp_path / name).read_bytes() == (BATCH / name).read_bytes(), (
            f"run examples/batch/make_templates.py ({name})"
        )
    assert_frame_equal(
        read_households(tmp_path / "households.xlsx").frame, read_households(BATCH / "households.xlsx").frame
    )


def test_english_headers_are_accepted(tmp_path: Path, expected: pl.DataFrame) -> None:
    for kind, name in (("households", "households.csv"), ("members", "members.csv"), ("measures", "measures.csv")):
        rows = list(csv.reader(io.StringIO((BATCH / name).read_text(encoding="utf-8-sig"))))
        by_header = {c.header: c.en for c in TABLES[kind]}  # type: ignore[index]
        rows[0] = [by_header[h] for h in rows[0]]
        with (tmp_path / name).open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
    assert_frame_equal(_ok(read_households(tmp_path / "households.csv")), expected)


# ----------------------------------------------------------------------------------------- encodings


def test_gb18030_csv_as_saved_by_wps(tmp_path: Path, expected: pl.DataFrame) -> None:
    for name in ("households.csv", "members.csv", "measures.csv"):
        text = (BATCH / name).read_text(encoding="utf-8-sig")
        (tmp_path / name).write_bytes(text.encode("gb18030"))
    result = read_households(tmp_path / "households.csv")
    assert_frame_equal(_ok(result), expected)
    assert any("GB18030" in n for n in result.notes)


def test_utf8_csv_with_and_without_bom(tmp_path: Path, expected: pl.DataFrame) -> None:
    assert (BATCH / "households.csv").read_bytes().startswith(BOM)
    for name in ("households.csv", "members.csv", "measures.csv"):
        (tmp_path / name).write_bytes((BATCH / name).read_bytes().removeprefix(BOM))
    assert_frame_equal(_ok(read_households(tmp_path / "households.csv")), expected)


# ---------------------------------------------------------------------------------------- bad rows


def test_each_bad_row_gives_one_error_naming_row_and_column() -> None:
    path = BATCH / "households-with-errors.csv"
    result = read_households(path)
    assert result.frame["household_id"].to_list() == ["HB-001", "GS-010"]
    assert result.unknown_columns == ["备注"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert result.total_rows == len(lines) - 1
    by_row: dict[int, list[Any]] = {}
    for e in result.errors:
        if e.file == str(path):
            by_row.setdefault(e.row or 0, []).append(e)
    for i, (_, column, value, code) in enumerate(make_templates.BAD_CELLS):
        line = 4 + i  # header, two good rows, then the bad rows in order
        assert [(e.column, e.code) for e in by_row[line]] == [(column, code)], lines[line - 1]
        assert by_row[line][0].index == line - 2
        if value:
            assert repr(value) in by_row[line][0].message
    dups = [e for e in result.errors if e.code == "duplicate_id"]
    assert [(e.row, e.column, e.household_id) for e in dups] == [(13, "户编号", "HB-013"), (14, "户编号", "HB-013")]
    orphan = [e for e in result.errors if e.code == "unknown_household"]
    assert len(orphan) == 1 and orphan[0].file.endswith("households-with-errors.members.csv")
    assert orphan[0].household_id == "NO-SUCH-HOUSEHOLD"
    # Nothing dropped silently: each input row is in the frame or has an error.
    accounted = set(result.frame["_row"].to_list()) | {e.index for e in result.errors if e.index is not None}
    assert accounted == set(range(result.total_rows))


def test_a_bad_member_keeps_its_household_out(tmp_path: Path) -> None:
    for name in ("households.csv", "measures.csv"):
        (tmp_path / name).write_bytes((BATCH / name).read_bytes())
    text = (BATCH / "members.csv").read_text(encoding="utf-8-sig").replace("1975-03-02", "1975-02-30", 1)
    (tmp_path / "members.csv").write_text(text, encoding="utf-8")
    result = read_households(tmp_path / "households.csv")
    [error] = result.errors
    assert (error.file, error.row, error.column, error.code, error.household_id) == (
        str(tmp_path / "members.csv"),
        2,
        "出生日期",
        "bad_date",
        "HB-001",
    )
    assert "HB-001" not in result.frame["household_id"].to_list()
    assert result.frame.height == result.total_rows - 1


def test_money_cells_are_strict(tmp_path: Path) -> None:
    header = "户编号,工资性收入\n"
    rows = ["A,23699.99", "B,23699.990", "C,007", "D, 12 ", "E,23,699.99", "F,1e3", "G,12元", "H,0.001", "I,-0", "J,"]
    (tmp_path / "h.csv").write_text(header + "\n".join(f'"{r.split(",", 1)[0]}","{r.split(",", 1)[1]}"' for r in rows))
    result = read_households(tmp_path / "h.csv")
    wages = dict(zip(result.frame["household_id"], result.frame["income.wage"], strict=True))
    assert wages == {
        "A": Decimal("23699.99"),
        "B": Decimal("23699.99"),
        "C": Decimal("7"),
        "D": Decimal("12"),
        "I": Decimal("0"),
        "J": None,
    }
    assert {e.household_id: e.code for e in result.errors} == {
        "E": "not_a_number",
        "F": "not_a_number",
        "G": "not_a_number",
        "H": "too_many_decimals",
    }


def test_sets_booleans_and_markers(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(
        "户编号,致贫/返贫风险（最多5项）,是否缺水地区,已落实帮扶措施\n"
        "A,因病、illness ,Y,无\n"
        "B,无,否,\n"
        "C,因病;因学，因残,true,\n"
        "D,因病、坏,1,有\n"
        "E,因病、因学、因残、其他、缺劳动力、因自然灾害,0,\n",
        encoding="utf-8",
    )
    result = read_households(tmp_path / "h.csv")
    rows = {r["household_id"]: r for r in result.frame.iter_rows(named=True)}
    assert rows["A"]["monitoring.risks"] == ["因病", "因病"]  # a tuple in the model keeps repeats and order
    assert rows["A"]["monitoring.measures"] == [] and rows["B"]["monitoring.measures"] is None
    assert rows["B"]["monitoring.risks"] == []
    assert rows["C"]["monitoring.risks"] == ["因病", "因学", "因残"]
    assert [rows[k]["water.water_short_area"] for k in "ABC"] == [True, False, True]
    assert sorted((e.household_id, e.code) for e in result.errors) == [
        ("D", "bad_marker"),
        ("D", "bad_value"),
        ("E", "too_many"),
    ]


def test_ragged_rows(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("户编号,户类型\nA,一般农户,,\nB,一般农户,x\nC,一般农户\n", encoding="utf-8")
    result = read_households(tmp_path / "h.csv")
    assert result.frame["household_id"].to_list() == ["A", "C"]
    assert [(e.row, e.code, e.index, e.household_id) for e in result.errors] == [(3, "ragged_row", 1, "B")]


def test_missing_id_column_is_a_format_error(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("行政区划代码\n340602001001\n", encoding="utf-8")
    with pytest.raises(TableFormatError, match="户编号"):
        read_households(tmp_path / "h.csv")


# -------------------------------------------------------------------------------------------- Excel


def test_excel_cells_typed_as_excel_stores_them(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "h.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("农户")
    ws.write_row(0, 0, ["户编号", "行政区划代码", "工资性收入", "收入统计期起", "是否唯一住房", "年停水或供水不足天数"])
    datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    from datetime import datetime

    ws.write_row(1, 0, ["A"])
    ws.write_number(1, 1, 340602001001)  # a code typed as a number
    ws.write_number(1, 2, 23699.990000000002)  # the double nearest to 23699.99
    ws.write_datetime(1, 3, datetime(2022, 9, 1), datefmt)
    ws.write_boolean(1, 4, True)
    ws.write_number(1, 5, 5)
    ws.write_row(2, 0, ["B", "340602001001", 23699.994, "2022-09-01", "否", 5.5])
    ws.write_row(0, 6, ["补贴发放银行账号（不得公示）"])
    ws.write_number(3, 6, 621700000000000012)  # an 18-digit account typed as a number: digits lost
    ws.write_row(3, 0, ["C"])
    wb.close()
    result = read_households(path)
    [a] = result.frame.iter_rows(named=True)
    assert (a["region"], a["income.wage"], a["income.window_start"], a["housing.only_dwelling"]) == (
        "340602001001",
        Decimal("23699.99"),
        date(2022, 9, 1),
        True,
    )
    assert a["water.outage_days_per_year"] == 5
    assert sorted((e.sheet, e.row, e.column, e.code) for e in result.errors) == [
        ("农户", 3, "工资性收入", "too_many_decimals"),
        ("农户", 3, "年停水或供水不足天数", "not_integer"),
        ("农户", 4, "补贴发放银行账号（不得公示）", "lost_precision"),
    ]


def test_excel_english_sheet_names(tmp_path: Path, expected: pl.DataFrame) -> None:
    import fastexcel
    import xlsxwriter

    reader = fastexcel.read_excel(str(BATCH / "households.xlsx"))
    path = tmp_path / "en.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    for zh, en in (("农户", "households"), ("成员", "members"), ("措施", "measures")):
        frame = reader.load_sheet_by_name(zh, dtypes="string").to_polars()
        ws = wb.add_worksheet(en)
        ws.write_row(0, 0, frame.columns)
        for r, row in enumerate(frame.iter_rows(), start=1):
            for c, v in enumerate(row):
                if v is not None:
                    ws.write_string(r, c, v.removesuffix(" 00:00:00"))
    wb.close()
    assert_frame_equal(_ok(read_households(path)), expected)


# -------------------------------------------------------------------------------------- JSON Lines


def test_jsonl_line_separator_in_a_string_and_bad_lines(tmp_path: Path) -> None:
    h = json.loads((ROOT / "examples" / "households" / "01-huaibei-marginal.json").read_text(encoding="utf-8"))
    h["members"][0]["name"] = "王\u2028建国"
    second = dict(h, household_id="HB-002")
    data = b"\n".join(
        [
            json.dumps(h, ensure_ascii=False).encode(),
            b'{"household_id": "X", "members": [{"member_id": "1", "name": "\xff\xfe"}]}',
            b"",
            b"[1, 2]",
            b"{not json",
            json.dumps({"as_of": "2023-09-30", "household": second}, ensure_ascii=False).encode(),
            json.dumps(dict(h, household_id="HB-003", region="34AB")).encode(),
        ]
    )
    (tmp_path / "h.jsonl").write_bytes(data)
    result = read_households(tmp_path / "h.jsonl")
    assert result.frame["household_id"].to_list() == ["HB-001", "HB-002"]
    assert result.frame["members"][0][0]["name"] == "王\u2028建国"
    assert result.frame["as_of"].to_list() == [None, date(2023, 9, 30)]
    assert result.frame["_row"].to_list() == [0, 4]
    assert [(e.row, e.code, e.column) for e in result.errors] == [
        (2, "bad_encoding", None),
        (4, "not_an_object", None),
        (5, "bad_json", None),
        (7, "string_pattern_mismatch", "$.region"),
    ]
    assert result.total_rows == 6


def test_jsonl_duplicate_ids(tmp_path: Path) -> None:
    h = (ROOT / "examples" / "households" / "01-huaibei-marginal.json").read_text(encoding="utf-8")
    line = json.dumps(json.loads(h), ensure_ascii=False)
    (tmp_path / "h.jsonl").write_text(line + "\n" + line + "\n", encoding="utf-8")
    result = read_households(tmp_path / "h.jsonl")
    assert result.frame.height == 0
    assert [(e.row, e.code) for e in result.errors] == [(1, "duplicate_id"), (2, "duplicate_id")]


# ------------------------------------------------------------------------------------------ Parquet


def test_parquet_checked_column_by_column(tmp_path: Path, expected: pl.DataFrame) -> None:
    frame = expected.drop("_row").with_columns(
        pl.col("income.wage").cast(pl.Decimal(38, 4)),
        pl.col("household_type").cast(pl.String),
        pl.lit("x").alias("note"),
    )
    wages = frame["income.wage"].to_list()
    wages[0] = Decimal("1.2345")
    types = frame["household_type"].to_list()
    types[1] = "general"  # English codes are normalised to the Chinese value
    regions = frame["region"].to_list()
    regions[2] = "34AB"
    members = frame["members"].to_list()
    members[3] = [dict(members[3][0], relation="boss"), *members[3][1:]]
    frame = frame.with_columns(
        pl.Series("income.wage", wages, dtype=pl.Decimal(38, 4)),
        pl.Series("household_type", types),
        pl.Series("region", regions),
        pl.Series("members", members, dtype=frame.schema["members"]),
    )
    frame.write_parquet(tmp_path / "h.parquet")
    result = read_households(tmp_path / "h.parquet")
    assert result.unknown_columns == ["note"]
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (1, "income.wage", "too_many_decimals"),
        (3, "region", "pattern"),
        (4, "members[0].relation", "bad_value"),
    ]
    assert result.frame["_row"].to_list() == [1, 4, 5]
    assert result.frame["household_type"][0] == "一般农户"


def test_parquet_list_with_a_null_element_is_an_error(tmp_path: Path, expected: pl.DataFrame) -> None:
    risks = expected["monitoring.risks"].to_list()
    risks[0] = ["因病", None]
    expected.with_columns(pl.Series("monitoring.risks", risks, dtype=pl.List(pl.String))).write_parquet(
        tmp_path / "h.parquet"
    )
    result = read_households(tmp_path / "h.parquet")
    assert [(e.row, e.column, e.code) for e in result.errors] == [(1, "monitoring.risks", "missing")]


def test_frame_contract_is_the_columnar_evaluators_input() -> None:
    polars_target = pytest.importorskip("eligibility.compile.polars")
    assert frame_schema() == polars_target.INPUT_SCHEMA
    households = [h for h, _ in make_templates.load_examples()]
    assert_frame_equal(
        polars_target.households_frame(households),
        frame_from_households([(h, None, i) for i, h in enumerate(households)]),
    )


# ------------------------------------------------------------------------------------------ writers


@pytest.fixture(scope="module")
def decisions() -> tuple[pl.DataFrame, pl.DataFrame, Any]:
    from eligibility import Engine

    engine = Engine()
    households = read_households(BATCH / "households.xlsx", as_of="2023-09-30").frame
    by_id = {h.household_id: h for h, _ in make_templates.load_examples()}
    results: list[tuple[int, Any]] = []
    for row, hid, on in households.select("_row", "household_id", "as_of").iter_rows():
        try:
            results.append((row, engine.evaluate(by_id[hid], on, trace="compact")))
        except Exception as exc:  # an evaluation error is a row of the decision table too
            results.append((row, exc))
    return decision_table(results), households, engine.rules


def test_csv_decisions_have_a_bom_and_chinese_headers(tmp_path: Path, decisions: Any) -> None:
    table, _, rules = decisions
    write_decisions(table, tmp_path / "d.csv", rules=rules)
    data = (tmp_path / "d.csv").read_bytes()
    assert data.startswith(BOM)
    header = data[3:].decode("utf-8").splitlines()[0].split(",")
    assert header[:4] == ["序号", "户编号", "适用规则包", "认定结论"]
    body = data.decode("utf-8-sig")
    assert "纳入监测" in body and "（待定）" in body
    write_decisions(table, tmp_path / "d-en.csv", rules=rules, lang="en")
    en = (tmp_path / "d-en.csv").read_text(encoding="utf-8-sig")
    assert en.startswith("row,household id,jurisdiction,status")
    assert "(uncertain)" in en


def test_rule_and_fact_columns_are_flattened(decisions: Any) -> None:
    from eligibility.io.writers import flatten_decisions

    table, _, _ = decisions
    n = table.height
    extra = table.with_columns(
        pl.Series("rule:x", ([True, False, None] * n)[:n], dtype=pl.Boolean),
        pl.Series("fact:y", [Decimal("1.50")] * n, dtype=pl.Decimal(38, 2)),
    )
    flat = flatten_decisions(extra)
    assert flat["规则:x"].to_list()[:3] == ["成立", "不成立", "未知"][: min(3, n)]
    assert flat["事实:y"][0] == Decimal("1.50")
    assert flatten_decisions(extra, lang="en").columns[-2:] == ["rule:x", "fact:y"]


def test_excel_parquet_and_jsonl_decisions(tmp_path: Path, decisions: Any) -> None:
    import fastexcel

    table, _, rules = decisions
    for ext in ("xlsx", "parquet", "jsonl"):
        write_decisions(table, tmp_path / f"d.{ext}", rules=rules)
    sheet = fastexcel.read_excel(str(tmp_path / "d.xlsx")).load_sheet_by_name("认定结果").to_polars()
    assert sheet.columns[:4] == ["序号", "户编号", "适用规则包", "认定结论"]
    assert sheet.height == table.height
    assert_frame_equal(pl.read_parquet(tmp_path / "d.parquet"), table)
    lines = (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["household_id"] == table["household_id"][0]
    assert isinstance(first["risks"], list) and isinstance(first["procedure"], list)


def test_errors_writer(tmp_path: Path) -> None:
    result = read_households(BATCH / "households-with-errors.csv")
    write_errors(result.errors, tmp_path / "e.csv")
    data = (tmp_path / "e.csv").read_bytes()
    assert data.startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == len(result.errors)
    assert {"文件", "行号", "列", "错误代码", "说明", "户编号"} <= set(rows[0])
    write_errors(result.errors, tmp_path / "e.jsonl")
    assert len((tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()) == len(result.errors)


# ------------------------------------------------------------------------------------------ summary


def test_summary_counts_households_and_people(tmp_path: Path, decisions: Any) -> None:
    table, households, rules = decisions
    county = summarise(table, households, "county", rules=rules)
    total = county.filter((pl.col("region") == "合计") & (pl.col("indicator") == "评估户数")).row(0, named=True)
    assert total["households"] == households.height
    assert total["people"] == households["members"].list.len().sum()
    statuses = county.filter((pl.col("region") == "合计") & (pl.col("indicator") == "认定结论"))
    assert statuses["households"].sum() == households.height
    regions = set(county["region"]) - {"合计"}
    assert regions == {r[:6] for r in households["region"]}
    village = summarise(table, households, "村", rules=rules)
    assert set(village["region"]) - {"合计"} == set(households["region"])
    province = summarise(table, households, 2)
    assert set(province["region"]) - {"合计"} == {r[:2] for r in households["region"]}
    md = render_markdown(county)
    assert md.startswith("| 区划代码 | 指标 | 代码 | 项目 | 户数 | 人数 |")
    for ext in ("csv", "xlsx", "md"):
        write_summary(county, tmp_path / f"s.{ext}")
    assert (tmp_path / "s.csv").read_bytes().startswith(BOM)


def test_summary_counts_rows_that_could_not_be_decided(decisions: Any) -> None:
    table, households, _ = decisions
    broken = pl.concat([table.filter(pl.col("_row") != 0), decision_table([(0, ValueError("no line"))])]).sort("_row")
    summary = summarise(broken, households, "province")
    statuses = summary.filter((pl.col("region") == "合计") & (pl.col("indicator") == "认定结论"))
    assert statuses["households"].sum() == households.height
    assert "评估出错" in statuses["item"].to_list()


def test_summary_counts_each_household_once_per_item() -> None:
    # A household's list may name an item twice (two rules) or hold a null entry; procedure findings count
    # only when late. Each household counts once per (item, certain), in its region and in 合计.
    from eligibility.io.writers import DECISION_SCHEMA

    def item(code: str, certain: bool = True, days_late: int | None = None) -> dict[str, Any]:
        return {"code": code, "certain": certain, "rules": ["r." + code], "days_late": days_late}

    rows = [
        {
            "_row": 0,
            "status": "identified",
            "risks": [item("edu"), item("edu"), item("edu", False), item("med")],
            "procedure": [item("late", True, 3), item("late", True, 5), item("late", True, 0), item("late")],
        },
        {"_row": 1, "status": "needs_review", "risks": [], "procedure": [item("late", True, 1)]},
        {"_row": 2, "status": "identified", "warnings": [None, item("w"), item("w")]},
    ]
    table = pl.DataFrame([{k: r.get(k) for k in DECISION_SCHEMA} for r in rows], schema=DECISION_SCHEMA)
    households = pl.DataFrame(
        {"_row": [0, 1, 2], "region": ["340602000000", "340603000000", None], "members": [[1, 2], [1], None]},
        schema={"_row": pl.UInt64, "region": pl.String, "members": pl.List(pl.Int64)},
    )
    got = summarise(table, households, "county").filter(pl.col("indicator") != "认定结论")
    assert got.select("region", "code", "households", "people").rows() == [
        ("340602", "all", 1, 2),
        ("340602", "edu", 1, 2),
        ("340602", "edu?", 1, 2),
        ("340602", "med", 1, 2),
        ("340602", "late", 1, 2),
        ("340603", "all", 1, 1),
        ("340603", "late", 1, 1),
        ("未知", "all", 1, 0),
        ("未知", "w", 1, 0),
        ("合计", "all", 3, 3),
        ("合计", "edu", 1, 2),
        ("合计", "edu?", 1, 2),
        ("合计", "med", 1, 2),
        ("合计", "late", 2, 3),
        ("合计", "w", 1, 0),
    ]


@pytest.mark.parametrize("grouped_from", [0, 10**9])
def test_summary_counts_households_sharing_a_list(monkeypatch: pytest.MonkeyPatch, grouped_from: int) -> None:
    # Households of a large region are counted per distinct (region, list) first (_GROUPED_FROM); the
    # households and people of a group add up, and each household still counts once per item. Both ways
    # (0: always grouped first; 10**9: never) must give the same counts.
    from eligibility.io import summary
    from eligibility.io.writers import DECISION_SCHEMA

    monkeypatch.setattr(summary, "_GROUPED_FROM", grouped_from)

    def item(code: str, certain: bool = True) -> dict[str, Any]:
        return {"code": code, "certain": certain, "rules": ["r." + code]}

    lists = [[item("edu"), item("edu")], [item("edu"), item("edu")], [item("edu")], [item("edu", False)], []]
    rows = [{"_row": i, "status": "identified", "risks": risks} for i, risks in enumerate(lists)]
    table = pl.DataFrame([{k: r.get(k) for k in DECISION_SCHEMA} for r in rows], schema=DECISION_SCHEMA)
    households = pl.DataFrame(
        {
            "_row": range(5),
            "region": ["340602000000"] * 4 + ["340603000000"],
            "members": [[1], [1, 2], [1, 2, 3], [1], [1]],
        },
        schema={"_row": pl.UInt64, "region": pl.String, "members": pl.List(pl.Int64)},
    )
    got = summarise(table, households, "county").filter(pl.col("indicator") == "两不愁三保障和饮水问题")
    assert got.select("region", "code", "households", "people").rows() == [
        ("340602", "edu", 3, 6),
        ("340602", "edu?", 1, 1),
        ("合计", "edu", 3, 6),
        ("合计", "edu?", 1, 1),
    ]


def test_list_cells_are_the_same_whether_whole_cells_repeat_or_not() -> None:
    # _each_item formats the distinct whole cells when they repeat and the distinct items otherwise: both
    # must give each row its items' texts joined by ；, "" for an empty list, null for an absent one.
    from eligibility.io import writers

    dtype = pl.List(pl.Struct({"code": pl.String}))
    repeating = [[{"code": "a"}, {"code": "b"}]] * 30 + [None, [], [None], [{"code": "a"}, {"code": "a"}]]
    varied = [[{"code": f"c{i}"}, {"code": "a"}] for i in range(8)] + [None, []]
    for cells, expected in (
        (repeating, ["A；B"] * 30 + [None, "", "", "A；A"]),
        (varied, [f"C{i}；A" for i in range(8)] + [None, ""]),
    ):
        s = pl.Series("v", cells, dtype=dtype)
        for got in (
            writers._each_item(s, lambda x: str(x["code"]).upper()),
            writers._item_cells(s, lambda x: str(x["code"]).upper()),
        ):
            assert got.to_list() == expected


# --------------------------------------------------------------------------------------------- docs


def test_docs_carry_the_generated_column_table() -> None:
    doc = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
    assert column_table_markdown() in doc, "paste column_table_markdown() into docs/batch.md"


def test_household_templates_round_trip_through_parse_household(tmp_path: Path) -> None:
    # Writing then reading the tables must give the frame of the households themselves, for every
    # example household (not only the templates' selection).
    pairs = []
    for path in sorted((ROOT / "examples" / "households").glob("*.json")):
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        on = date.fromisoformat(data["as_of"]) if "household" in data else None
        record = dict(data.get("household", data))
        record.pop("history", None)  # Excel and CSV carry no history (docs/monitoring.md §7)
        pairs.append((parse_household(record), on))
    expected = frame_from_households([(h, on, i) for i, (h, on) in enumerate(pairs)])
    for name in ("all.csv", "all.xlsx"):
        write_household_tables(pairs, tmp_path / name)
        assert_frame_equal(_ok(read_households(tmp_path / name)), expected)


def test_reading_a_workbook_directly_logs_no_column_type_guesses(caplog: pytest.LogCaptureFixture) -> None:
    """``read_households`` called without ``eligibility.batch`` (the documented Python use) is as quiet as the
    command: fastexcel's line per column it reads as text is not printed (the cells are checked anyway)."""
    logging.getLogger("fastexcel").setLevel(logging.NOTSET)  # as in a process that never imported the batch
    with caplog.at_level(logging.INFO):
        read_households(BATCH / "households.xlsx", as_of=date(2023, 9, 30))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("fastexcel")] == []
