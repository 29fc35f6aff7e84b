"""The batch output side: the cells of missing data as a person reads them (CSV, Excel).

The lists of missing data (``blocking``, ``unknown``, ``exit_blocking``) are formatted by polars over the
lists themselves (``writers._missing_cells``), not item by item in Python: each item is its fact's label
with the fields it names, items are joined by ``；``, a null item is left out, an empty list is an empty
cell and an absent list stays absent — in both languages, and a label or field a spreadsheet would run
is still neutralised.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from eligibility import load_rules
from eligibility.compile.polars import OUTPUT_SCHEMA
from eligibility.io.writers import flatten_decisions, neutralised

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
