"""The batch output side: the cells of missing data as a person reads them (CSV, Excel), and JSON Lines.

The lists of missing data (``blocking``, ``unknown``, ``exit_blocking``) are formatted by polars over the
lists themselves (``writers._missing_cells``), not item by item in Python: each item is its fact's label
with the fields it names, items are joined by ``；``, a null item is left out, an empty list is an empty
cell and an absent list stays absent — in both languages, and a label or field a spreadsheet would run
is still neutralised. JSON Lines are put together by polars from each cell's JSON text and must be the
bytes ``json.dumps`` writes for each row.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from eligibility import load_rules
from eligibility.compile.polars import OUTPUT_SCHEMA
from eligibility.io import writers
from eligibility.io.writers import _json_default, _write_jsonl, flatten_decisions, neutralised

ROOT = Path(__file__).resolve().parent.parent
RULES = load_rules(ROOT / "rules")


def _a_fact() -> tuple[str, str, str]:
    for pack in RULES.packs.values():
        for name, fact in pack.facts.items():
            if fact.zh != name and fact.en != name:
                return name, fact.zh, fact.en
    raise AssertionError("no fact with labels")


def _table(cells: list[object]) -> pl.DataFrame:
    return pl.DataFrame({"unknown": pl.Series(cells, dtype=OUTPUT_SCHEMA["unknown"])})


def test_missing_data_cells_are_labels_with_their_fields_in_both_languages() -> None:
    name, zh, en = _a_fact()
    cells = [
        None,
        [],
        [None],
        [{"name": name, "fields": None}],
        [{"name": name, "fields": []}, None, {"name": "not_a_fact", "fields": ["成员1.收入", "成员2.收入"]}],
    ]
    got_zh = flatten_decisions(_table(cells), lang="zh", rules=RULES)["缺少数据（其他）"].to_list()
    assert got_zh == [None, "", "", zh, f"{zh}；not_a_fact（成员1.收入、成员2.收入）"]
    got_en = flatten_decisions(_table(cells), lang="en", rules=RULES)["other missing data"].to_list()
    assert got_en == [None, "", "", en, f"{en}；not_a_fact (成员1.收入, 成员2.收入)"]


def test_a_missing_data_cell_a_spreadsheet_would_run_is_neutralised() -> None:
    from eligibility.io.writers import _flatten

    flat, clean = _flatten(
        _table([[{"name": "=cmd", "fields": ["a\tb"]}], [{"name": "x", "fields": ["c"]}]]),
        lang="zh",
        rules=RULES,
        on=None,
    )
    assert "缺少数据（其他）" not in clean
    assert neutralised(flat, clean)["缺少数据（其他）"].to_list() == ["'=cmd（a b）", "x（c）"]
    flat, clean = _flatten(_table([[{"name": "x", "fields": ["c"]}]]), lang="zh", rules=RULES, on=None)
    assert "缺少数据（其他）" in clean


def test_json_lines_are_json_dumps_of_each_row(tmp_path: Path) -> None:
    # The lines are put together by polars (writers._json_text), yet must be the very bytes json.dumps
    # writes for each row as a dict: escapes, nulls at every depth, empty lists, dates, decimals, floats.
    frame = pl.DataFrame(
        {
            "s": ['a"b', "c\\d", "e\nf\x01\x1f\x7f\u2028\t\b\f\r", None, "中文", ""],
            "n": [1, None, 3, 2**63, 0, 5],
            "i": [-1, None, -(2**63), 7, 0, 1],
            "b": [True, False, None, True, True, False],
            "d": [date(2023, 1, 1), None, date(2020, 2, 29), None, date(1, 1, 1), None],
            "m": [Decimal("1.50"), None, Decimal("-0.001"), Decimal("1e3"), Decimal("0"), Decimal("2")],
            "f": [1.5, None, 1e20, 0.1, -0.0, 3.0],
            "l": [["x", None], None, [], ['"q'], ["中"], ["a"]],
            "st": [{"a": 1, "b": "x"}, None, {"a": None, "b": "\t"}, {"a": 2, "b": None}, {"a": 3, "b": "y"}, None],
            "ls": [[{"c": "x", "d": [date(2023, 1, 2)]}, None], [], None, [{"c": None, "d": []}], [], []],
        },
        schema_overrides={"n": pl.UInt64, "m": pl.Decimal(10, 3)},
    )
    path = tmp_path / "out.jsonl"
    _write_jsonl(frame, path)
    expected = "".join(
        json.dumps(row, ensure_ascii=False, default=_json_default) + "\n" for row in frame.iter_rows(named=True)
    )
    assert path.read_text(encoding="utf-8") == expected
    decisions = pl.DataFrame(schema=OUTPUT_SCHEMA)
    _write_jsonl(decisions, path)
    assert path.read_bytes() == b""


def test_json_lines_of_repeated_list_cells_are_json_dumps_of_each_row(tmp_path: Path) -> None:
    # A list column whose whole cells repeat is built once per distinct cell and joined back
    # (writers._json_of_distinct): still json.dumps of each row, nulls and empty lists kept apart.
    finding = {"code": "edu", "certain": None, "rules": ["r.1", None], "due": date(2023, 8, 31), "days_late": 3}
    cells = [[finding, None], [], None, [{**finding, "code": '"q'}], [finding], [{**finding, "rules": []}]]
    frame = pl.DataFrame(
        {"_row": range(60), "procedure": cells * 10, "risks": [["x"], []] * 30, "s": ["a", None] * 30},
        schema_overrides={"_row": pl.UInt64},
    )
    path = tmp_path / "out.jsonl"
    _write_jsonl(frame, path)
    expected = "".join(
        json.dumps(row, ensure_ascii=False, default=_json_default) + "\n" for row in frame.iter_rows(named=True)
    )
    assert path.read_text(encoding="utf-8") == expected


def test_json_lines_of_repeated_list_items_are_json_dumps_of_each_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A list column whose cells differ but whose items repeat has each distinct item's JSON built once and
    # put in place of the item (writers._json_of_items): still json.dumps of each row — null items, null and
    # empty lists, nulls inside items; and a column whose items are all null (no item to build).
    missing = [
        {"name": "income", "fields": ["a", None]},
        {"name": '"q\n', "fields": []},
        {"name": None, "fields": None},
    ]
    cells = [[missing[k % 3], None if k % 5 == 0 else missing[(k // 3) % 3]] * (k % 4) for k in range(57)]
    cells += [None, [], [None]]
    frame = pl.DataFrame(
        {"unknown": cells, "nulls": [[None] * (k % 30) for k in range(60)]},
        schema_overrides={"nulls": pl.List(pl.Struct({"name": pl.String}))},
    )
    assert frame["unknown"].n_unique() * 4 > frame.height  # the cells do not repeat enough, the items do
    taken: list[str] = []
    items = writers._json_of_items

    def spy(s: pl.Series, dtype: pl.List) -> pl.Series:
        taken.append(s.name)
        return items(s, dtype)

    monkeypatch.setattr(writers, "_json_of_items", spy)
    path = tmp_path / "out.jsonl"
    _write_jsonl(frame, path)
    expected = "".join(
        json.dumps(row, ensure_ascii=False, default=_json_default) + "\n" for row in frame.iter_rows(named=True)
    )
    assert path.read_text(encoding="utf-8") == expected
    assert taken == ["unknown", "nulls"]


def test_rule_columns_of_parts_with_different_packs_join_in_parquet_and_excel(tmp_path: Path) -> None:
    """``--rule-columns`` over parts of different rule packs: each part carries its own packs' ``rule:`` /
    ``fact:`` columns, and the Parquet and Excel outputs join them as the union of their columns (null
    where a household's pack has no such rule) instead of failing on the first mismatch."""
    from eligibility.batch import run_batch

    examples = sorted((ROOT / "examples" / "households").glob("*.json"))
    by_place: dict[str, list[dict[str, object]]] = {}
    for p in examples:
        data = json.loads(p.read_text(encoding="utf-8"))
        record = data if "household" in data else {"as_of": "2023-09-30", "household": data}
        by_place.setdefault(p.stem.split("-")[1], []).append(record)
    first, second = by_place["huaibei"][:2], by_place["gansu"][:2]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in first + second), encoding="utf-8")
    for suffix in (".parquet", ".xlsx"):
        out = tmp_path / f"out{suffix}"
        got = run_batch([source], out, rules=RULES, rule_columns=True, chunk_rows=2, progress=False)
        assert (got.rows, got.decided, got.errors) == (4, 4, 0)
    table = pl.read_parquet(tmp_path / "out.parquet")
    alone = {}
    for name, records in (("huaibei", first), ("gansu", second)):
        one = tmp_path / f"{name}.jsonl"
        one.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        run_batch([one], tmp_path / f"{name}.parquet", rules=RULES, rule_columns=True, progress=False)
        alone[name] = pl.read_parquet(tmp_path / f"{name}.parquet")
    only_huaibei = set(alone["huaibei"].columns) - set(alone["gansu"].columns)
    assert only_huaibei  # the two parts' columns differ: the case this test is about
    assert set(table.columns) == set(alone["huaibei"].columns) | set(alone["gansu"].columns)
    assert table.head(2).select(alone["huaibei"].columns).equals(alone["huaibei"])
    tail = table.slice(2).select(alone["gansu"].columns).with_columns(pl.col("_row") - 2)  # its rows 2 and 3
    assert tail.equals(alone["gansu"])
    gansu_nulls = table.slice(2).select(sorted(only_huaibei)).null_count().sum_horizontal().item()
    assert gansu_nulls == 2 * len(only_huaibei)  # no such rule in the second part's pack: null
    sheet = pl.read_excel(tmp_path / "out.xlsx")
    assert (sheet.height, sheet.width) == (4, table.width)  # every column, labelled


def _two_packs(tmp_path: Path) -> Path:
    """Two 淮北 households then two 甘肃 ones, in one JSON Lines file: with ``chunk_rows=2`` two parts of
    different packs, and so of different rule columns."""
    by_place: dict[str, list[dict[str, object]]] = {}
    for p in sorted((ROOT / "examples" / "households").glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        record = data if "household" in data else {"as_of": "2023-09-30", "household": data}
        by_place.setdefault(p.stem.split("-")[1], []).append(record)
    records = by_place["huaibei"][:2] + by_place["gansu"][:2]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return source


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rule_columns_of_parts_with_different_packs_join_in_csv_and_json_lines(tmp_path: Path, lang: str) -> None:
    """``--rule-columns`` over parts of different rule packs into CSV or JSON Lines: every row has every
    rule and fact column of the run, and each cell is the rendering of the Parquet output's cell — the
    files are the bytes :func:`write_decisions` makes of the Parquet output as a whole (JSON null where a
    household's pack has no such rule; in the CSV, what the Excel output shows for it)."""
    from eligibility.batch import run_batch
    from eligibility.io.writers import write_decisions

    source = _two_packs(tmp_path)
    quiet = {"rules": RULES, "rule_columns": True, "chunk_rows": 2, "progress": False, "lang": lang}
    run_batch([source], tmp_path / "out.parquet", **quiet)  # type: ignore[arg-type]
    table = pl.read_parquet(tmp_path / "out.parquet")
    for suffix in (".csv", ".jsonl"):
        got = run_batch([source], tmp_path / f"out{suffix}", **quiet)  # type: ignore[arg-type]
        assert (got.rows, got.decided, got.errors) == (4, 4, 0)
        write_decisions(table, tmp_path / f"whole{suffix}", lang=lang, rules=RULES)  # type: ignore[arg-type]
        assert (tmp_path / f"out{suffix}").read_bytes() == (tmp_path / f"whole{suffix}").read_bytes()
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(list(line) == table.columns for line in lines)
    # the case this test is about: rules of the first part's pack that the second part's has not
    only_first = [c for c in table.columns if c.startswith("rule:") and table[c].head(2).null_count() == 0]
    assert any(all(line[c] is None for line in lines[2:]) for c in only_first)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("stop", ["between parts", "while joining"])
def test_a_resumed_rule_columns_run_over_packs_writes_the_same_bytes(tmp_path: Path, suffix: str, stop: str) -> None:
    """A run with rule columns over parts of different packs, stopped after its first part or while its
    output is being joined and then resumed, writes the bytes of a run that was not stopped."""
    import eligibility.batch as batch
    from eligibility.batch import run_batch

    class Stop(Exception):
        pass

    def stop_at(*_: object) -> None:
        raise Stop

    source = _two_packs(tmp_path)
    quiet = {"rules": RULES, "rule_columns": True, "chunk_rows": 2, "progress": False}
    clean = tmp_path / f"clean{suffix}"
    run_batch([source], clean, **quiet)  # type: ignore[arg-type]
    out = tmp_path / f"out{suffix}"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Stop):
        if stop == "while joining":
            mp.setattr(batch, "append_range", stop_at)
            run_batch([source], out, **quiet)  # type: ignore[arg-type]
        else:
            run_batch([source], out, after_part=stop_at, **quiet)  # type: ignore[arg-type]
    assert not out.exists()
    result = run_batch([source], out, resume=True, **quiet)  # type: ignore[arg-type]
    assert result.resumed_parts == (1 if stop == "between parts" else 2)
    assert out.read_bytes() == clean.read_bytes()
