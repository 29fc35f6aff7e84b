"""The dated findings made once per distinct row (docs/batch-speed.md, session 18 bstage): the
``procedure`` and ``exit_blockers`` lists of ``decide_table`` are made for one row of each (combination
of rule outcomes, date columns that vary over the part) and gathered by every row of it. Rows that list
the same findings with other due or until dates must still get their own dates, each exactly the
engine's."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

from eligibility import Engine, parse_household
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.ruleset import RuleSet

from .conftest import EXAMPLES

ON = date(2023, 9, 30)
COPIES = 3
DATED = ("procedure", "exit_blockers")


def _example(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
    return data


def _population() -> list[dict[str, Any]]:
    """An overdue identification found on eight dates (other due dates of the same findings), a
    household monitored since eight dates (other "too early" until dates of the same blockers), and the
    two unchanged; every household ``COPIES`` times (rows of one list)."""
    overdue = _example("17-huaibei-identification-overdue-3-days")
    early = _example("13-huaibei-exit-blocked-at-5-months")
    variants = [copy.deepcopy(overdue), copy.deepcopy(early)]
    for k in range(8):
        data = copy.deepcopy(overdue)
        data["procedure"]["lead_found_on"] = (date(2023, 7, 20) + timedelta(days=k)).isoformat()
        variants.append(data)
        data = copy.deepcopy(early)
        data["monitoring"]["identified_on"] = (date(2023, 4, 10) + timedelta(days=3 * k)).isoformat()
        variants.append(data)
    out = []
    for data in variants:
        for _ in range(COPIES):
            out.append({**copy.deepcopy(data), "household_id": f"D{len(out)}"})
    return out


def test_dated_lists_made_per_distinct_row_equal_the_engine(ruleset: RuleSet, engine: Engine) -> None:
    population = _population()
    frame = households_frame([parse_household(d) for d in population], ON)
    table = decide_table(ruleset, frame, rowwise=0)
    for data, row in zip(population, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        for key in DATED:
            assert row[key] == expected[key], (data["household_id"], key)
    # not vacuous: the lists are made per distinct row (at most half the rows are distinct), and rows
    # listing the same codes differ in their dates (the varying date columns are part of the key)
    for key, date_field in (("procedure", "due"), ("exit_blockers", "until")):
        lists = table.get_column(key).to_list()
        assert 2 * len({repr(x) for x in lists}) <= len(lists)
        codes_to_dates: dict[tuple[str, ...], set[tuple[Any, ...]]] = {}
        for entries in lists:
            codes = tuple(e["code"] for e in entries)
            codes_to_dates.setdefault(codes, set()).add(tuple(e[date_field] for e in entries))
        assert any(
            len(dates) > 1 and any(d is not None for ds in dates for d in ds) for dates in codes_to_dates.values()
        )
