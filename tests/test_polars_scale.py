"""The restructured parts of the polars target (issue 10 §7) checked against the Python target.

Member and measure aggregates are read off running sums over one explode of the collection instead of a
group_by and a join back; leaves are computed once as columns; the identification-only pack (no
procedure, exit or assistance rules) decides as the engine does. Each test states the case the
restructuring could get wrong: absent vs empty collections, null items, filters that are unknown.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility import Engine, load_rules, parse_household
from eligibility.compile.polars import _segment_sums, decide_table, decision_row, households_frame
from eligibility.compile.python import program_for
from eligibility.expressions import UNKNOWN
from eligibility.ruleset import RuleSet

from .conftest import RULES, household

ON = date(2023, 9, 30)


@given(st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), st.booleans()), max_size=5)), max_size=30))
def test_segment_sums_count_each_rows_items(lists: list[list[bool | None] | None]) -> None:
    """Per row, how many of its items are true: an absent or empty list has none, a null item is not true."""
    series = pl.Series("x", lists, dtype=pl.List(pl.Boolean))
    flat = pl.DataFrame({"x": series}).filter(pl.col("x").list.len() > 0).explode("x")
    got = _segment_sums(series, flat.lazy().select(pl.col("x").fill_null(False)))
    assert got.get_column("x").to_list() == [sum(1 for v in (xs or []) if v) for xs in lists]


def _member(member_id: str, **fields: Any) -> dict[str, Any]:
    return {"member_id": member_id, "relation": "户主", **fields}


CASES: list[dict[str, Any]] = [
    household(household_id="ABSENT", members=None),
    household(household_id="EMPTY", members=[]),
    # birth date unknown: the age filter of has_out_of_school_child is unknown for that member
    household(household_id="NO-BIRTH", members=[_member("m1", dropped_out=True), _member("m2")]),
    household(
        household_id="SCHOOL-AGE-DROPPED",
        members=[_member("m1", birth_date="2012-03-01", dropped_out=True), _member("m2", birth_date="1980-01-01")],
    ),
    household(
        household_id="UNINSURED-UNKNOWN",
        members=[_member("m1", basic_medical_insurance=None), _member("m2", basic_medical_insurance=True)],
    ),
    household(
        household_id="NO-LABOUR",
        members=[_member("m1", labour="丧失劳动力"), _member("m2", labour="无劳动力")],
    ),
    household(
        household_id="MEASURES",
        monitoring={
            "status": "监测中",
            "identified_on": "2022-05-10",
            "measures": [
                {"type": "产业帮扶", "delivered_on": "2022-06-01"},
                {"type": "健康帮扶", "delivered_on": None},
                {"type": "住房安全保障", "delivered_on": "2024-01-01"},
            ],
        },
    ),
    household(household_id="NO-MEASURES", monitoring={"status": "监测中", "measures": []}),
]


def test_aggregates_over_absent_empty_and_unknown_items_are_the_python_targets(ruleset: RuleSet) -> None:
    cases = [{k: v for k, v in c.items() if v is not None} for c in CASES]
    households = [parse_household(c) for c in cases]
    table = decide_table(ruleset, households_frame(households, ON), rule_columns=True)
    checked = 0
    for h, row in zip(households, table.iter_rows(named=True), strict=True):
        assert h.region is not None
        prog = program_for(ruleset.chain(ruleset.pack_for_region(h.region)), ON)
        values, _, _, _ = prog.run(h, ON)
        for slot in prog.facts:
            want, got = values[slot.index], row["fact:" + slot.name]
            if isinstance(want, Decimal | frozenset | tuple | list):
                continue  # quotients and sets are checked by the property tests
            assert got == (None if want is UNKNOWN else want), (h.household_id, slot.name)
            checked += 1
    assert checked > 100
    facts = table.select("household_id", "fact:has_out_of_school_child", "fact:delivered_measure_count")
    assert facts.row(0) == ("ABSENT", None, None) and facts.row(2)[1] is None and facts.row(3)[1] is True


@pytest.fixture(scope="module")
def identification_only(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The national, 安徽 and 淮北 packs with only their identification rules (as the benchmark uses)."""
    root = tmp_path_factory.mktemp("rules")
    shutil.copy(RULES / "sources.yaml", root / "sources.yaml")
    for pack in ("national", "anhui", "anhui-huaibei"):
        ignore = shutil.ignore_patterns("assistance", "exit", "procedure", "warning", "tests")
        shutil.copytree(RULES / pack, root / pack, ignore=ignore)
    return load_rules(root, cache=False)


def test_an_identification_only_pack_decides_as_the_engine(identification_only: RuleSet) -> None:
    """No procedure rule in force: the procedure column is an empty list of the full struct, not an error."""
    engine = Engine(identification_only)
    cases = [{k: v for k, v in c.items() if v is not None} for c in CASES]
    table = decide_table(identification_only, households_frame([parse_household(c) for c in cases], ON))
    assert table.get_column("error").null_count() == len(cases)
    for data, row in zip(cases, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        assert {k: row[k] for k in expected} == expected, data["household_id"]
    assert table.get_column("procedure").to_list() == [[]] * len(cases)
