"""The columnar gap lists made once per row key (docs/batch-speed.md §15): with more (row, subject)
pairs than rows, ``_Decide.gap_stage`` makes the ``blocking`` / ``unknown`` / ``exit_blocking`` lists for
one row per distinct key (which subjects the row names, the bits of their settling paths, which items
lack an item path) and every row gathers its key's list; each pair's pattern is one exact integer
(spelled back from its bits) where it fits in 64 bits. Rows that share subjects but lack different
members' fields, or different top-level fields, must still get their own lists, each exactly the
engine's."""

from __future__ import annotations

import copy
from datetime import date
from itertools import combinations
from typing import Any

import pytest

from eligibility import Engine, parse_household
from eligibility.compile import polars as target
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.ruleset import RuleSet

from .conftest import household

ON = date(2023, 9, 30)
GAPS = ("blocking", "unknown", "exit_blocking")


TOP = [(), ("income.wage",), ("income.business_income",), ("income.wage", "income.business_income")]
TOP += [("household_type",), ("monitoring",), ("household_type", "monitoring")]


def _without(data: dict[str, Any], path: str) -> None:
    *outer, last = path.split(".")
    for key in outer:
        data = data[key]
    data.pop(last, None)


def _population() -> list[dict[str, Any]]:
    """Every subset of the three members lacking one of three member fields, and no members at all (a
    subject named with no field to settle it), under top-level gaps that name the same subjects with
    other fields, or other subjects; each household twice (rows of one key)."""
    out = []
    for top in TOP:
        variants: list[tuple[str, tuple[int, ...]]] = [("", ())]
        variants += [
            (f, c) for f in ("birth_date", "health", "labour") for k in (1, 2, 3) for c in combinations(range(3), k)
        ]
        for field, lacking in variants:
            data = copy.deepcopy(household(household_id=f"G{len(out)}"))
            for i in lacking:
                data["members"][i].pop(field, None)
            for path in top:
                _without(data, path)
            out += [data, {**copy.deepcopy(data), "household_id": f"G{len(out)}b"}]
        out.append(copy.deepcopy(household(household_id=f"G{len(out)}", members=[])))
        for path in top:
            _without(out[-1], path)
    return out


@pytest.mark.parametrize("pair_bits", [64, 0], ids=["pairs-as-integers", "pairs-hashed"])
def test_gap_lists_made_per_row_key_equal_the_engine(
    ruleset: RuleSet, engine: Engine, pair_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either way of numbering the (row, subject) patterns: one exact integer each, or (lowered
    ``_PAIR_BITS``) hashed columns."""
    monkeypatch.setattr(target, "_PAIR_BITS", pair_bits)
    population = _population()
    table = decide_table(ruleset, households_frame([parse_household(d) for d in population], ON))
    for data, row in zip(population, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        for key in GAPS:
            assert row[key] == expected[key], (data["household_id"], key)
    unknown = table.get_column("unknown").to_list()
    # not vacuous: more (row, subject) pairs than rows (the lists are made per key), rows of one key,
    # and rows naming the same subjects whose lists differ (by which members lack a field)
    assert sum(len(u) for u in unknown) > table.height
    assert len({repr(u) for u in unknown}) < table.height
    by_names: dict[tuple[str, ...], set[str]] = {}
    for u in unknown:
        by_names.setdefault(tuple(e["name"] for e in u), set()).add(repr(u))
    assert any(len(lists) > 1 for lists in by_names.values())
    assert any("$.members[2]." in repr(u) for u in unknown)
    assert any(e["fields"] == [] for u in unknown for e in u)  # named, nothing to settle it


def test_subjects_named_in_one_row_or_none_of_a_part(ruleset: RuleSet, engine: Engine) -> None:
    """The gap stage leaves out of a part's keys and pairs the subjects no row of it names under a
    gathering (docs/batch-speed.md, session 17 bgap); a subject named in a single row is kept. Each
    household lacks something of its own, so some subjects are named in one row only."""
    population = [copy.deepcopy(household(household_id="S0"))]
    for path in ("household_type", "income.wage", "monitoring"):
        population.append(copy.deepcopy(household(household_id=f"S{len(population)}")))
        _without(population[-1], path)
    for field in ("birth_date", "health", "labour"):
        population.append(copy.deepcopy(household(household_id=f"S{len(population)}")))
        population[-1]["members"][1].pop(field, None)
    table = decide_table(ruleset, households_frame([parse_household(d) for d in population], ON))
    for data, row in zip(population, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        for key in GAPS:
            assert row[key] == expected[key], (data["household_id"], key)
    # not vacuous: some subject is named in exactly one row of some gathering
    once = []
    for key in GAPS:
        rows_of: dict[str, int] = {}
        for entries in table.get_column(key).to_list():
            for name in {e["name"] for e in entries}:
                rows_of[name] = rows_of.get(name, 0) + 1
        once += [name for name, k in rows_of.items() if k == 1]
    assert once
