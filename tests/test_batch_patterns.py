"""The columnar decision's per-pattern stages against the engine (issue 10 §5): the settling paths of a
``needs_review`` (and the findings of the undated kinds) are worked out once per distinct pattern and
joined back, so rows that share a pattern, rows that differ only in which item lacks a field, and item
positions past the first 64-bit word must still come out as the engine decides each household."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from eligibility import Engine, parse_household
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.ruleset import RuleSet

from .conftest import household

ON = date(2023, 9, 30)
"""淮北's example date (conftest ``household``)."""


def _member(base: dict[str, Any], i: int, **changes: Any) -> dict[str, Any]:
    m = copy.deepcopy(base)
    m.update(member_id=str(i + 1), id_number=f"99999919750302{i:04d}", **changes)
    m.pop("phone", None)
    return m


def _households() -> list[dict[str, Any]]:
    """Households of the same pattern, of different item positions lacking a field (one past 64
    members), and of unknown sections, so that several rows share each pattern."""
    plain = household()
    first = plain["members"][0]
    out: list[dict[str, Any]] = []
    for n, gaps in [
        (3, {}),
        (3, {1: ("birth_date", "health")}),
        (3, {2: ("birth_date",)}),
        (3, {0: ("basic_medical_insurance",), 2: ("schooling",)}),
        (70, {}),
        (70, {66: ("birth_date",)}),
        (70, {3: ("birth_date",), 65: ("basic_medical_insurance", "health"), 69: ("dropped_out",)}),
        (130, {129: ("birth_date",), 64: ("birth_date",), 1: ("birth_date",)}),
    ]:
        for unknown_income in (False, True):
            data = household(household_id=f"H{len(out)}")
            data["members"] = [_member(first, i) for i in range(n)]
            for i, fields in gaps.items():
                for f in fields:
                    data["members"][i].pop(f, None)
            if unknown_income:
                data["income"].pop("wage", None)
                data.pop("housing", None)
            out.append(data)
    return out + copy.deepcopy(out)  # every pattern twice


@pytest.mark.parametrize("on", [ON, date(2021, 6, 30)])
def test_patterns_joined_back_are_each_households_decision(ruleset: RuleSet, engine: Engine, on: date) -> None:
    items = _households()
    frame = households_frame([parse_household(d) for d in items], [on] * len(items))
    table = decide_table(ruleset, frame)
    assert table.height == len(items)
    named_past_64 = False
    for data, row in zip(items, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, on, trace="none"))
        for key, value in expected.items():
            assert row[key] == value, (data["household_id"], key)
        paths = [p for k in ("blocking", "unknown", "exit_blocking") for gap in row[k] for p in gap["fields"]]
        named_past_64 |= any(p.startswith(("$.members[66]", "$.members[129]")) for p in paths)
    assert named_past_64  # the case past the first word of item positions was reached


def test_only_the_facts_rules_read_unless_audit_columns_are_asked(ruleset: RuleSet) -> None:
    """The decision program leaves out the facts no rule in force reads; ``rule_columns`` gets the
    program of every fact, and both decide the examples the same."""
    from eligibility.compile.polars import compile_table

    chain = ruleset.chain(ruleset.pack_for_region("340602000000"))
    lean, full = compile_table(chain, ON), compile_table(chain, ON, every_fact=True)
    assert set(lean.facts) < set(full.facts) == set(chain.facts)
    items = _households()[:8]
    frame = households_frame([parse_household(d) for d in items], [ON] * len(items))
    plain, audit = decide_table(ruleset, frame), decide_table(ruleset, frame, rule_columns=True)
    assert {c[5:] for c in audit.columns if c.startswith("fact:")} == set(full.facts)
    assert audit.select(plain.columns).equals(plain)
