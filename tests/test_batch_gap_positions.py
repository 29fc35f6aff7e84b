"""Which items of a collection lack a path, worked out by position (docs/batch-speed.md, session 18
bgap2): when no row of a part has more than ``_FEW_ITEMS`` items in a collection, ``_Decide.gap_stage``
reads each position's lacking paths with a ``list.get`` instead of exploding the items and summing per
row. Households of one to ``_FEW_ITEMS`` members, lacking member fields at every position (the last
one included), several at once, must name exactly the engine's ``$.members[i].…`` paths, both that way
and (``_FEW_ITEMS`` set to 0) by the explode."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from eligibility import Engine, parse_household
from eligibility.compile import polars as target
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.ruleset import RuleSet

from .conftest import household

ON = date(2023, 9, 30)
GAPS = ("blocking", "unknown", "exit_blocking")
FIELDS = ("birth_date", "health", "labour", "schooling", "basic_medical_insurance", "disability_grade")


def _member(base: dict[str, Any], i: int) -> dict[str, Any]:
    m = copy.deepcopy(base)
    m.update(member_id=str(i + 1), id_number=f"99999919750302{i:04d}")
    m.pop("phone", None)
    return m


def _population(most: int) -> list[dict[str, Any]]:
    """Households of 1 … ``most`` members; in each, every position in turn lacks one field (a different
    one per position), the last position lacks two, and one household lacks a field at every position;
    and one household without members."""
    first = household()["members"][0]
    out: list[dict[str, Any]] = []
    for n in range(1, most + 1):
        for at in range(n):
            data = household(household_id=f"P{len(out)}")
            data["members"] = [_member(first, i) for i in range(n)]
            data["members"][at].pop(FIELDS[at % len(FIELDS)], None)
            if at == n - 1:
                data["members"][at].pop(FIELDS[(at + 1) % len(FIELDS)], None)
            out.append(data)
        data = household(household_id=f"P{len(out)}")
        data["members"] = [_member(first, i) for i in range(n)]
        for m in data["members"]:
            m.pop("birth_date", None)
        out.append(data)
    out.append(household(household_id=f"P{len(out)}", members=[]))
    return out


@pytest.mark.parametrize("few_items", [target._FEW_ITEMS, 0], ids=["by-position", "exploded"])
def test_lacking_items_by_position_equal_the_engine(
    ruleset: RuleSet, engine: Engine, few_items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target, "_FEW_ITEMS", few_items)
    most = few_items or 8  # the by-position way up to its bound; the explode on the same sizes
    population = _population(most)
    table = decide_table(ruleset, households_frame([parse_household(d) for d in population], ON))
    for data, row in zip(population, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        for key in GAPS:
            assert row[key] == expected[key], (data["household_id"], key)
    # not vacuous: the largest household has as many members as the by-position way takes, and its
    # last member and several members at once are named by their positions
    assert max(len(d["members"]) for d in population) == most
    paths = {p for key in GAPS for entries in table.get_column(key).to_list() for e in entries for p in e["fields"]}
    last = most - 1
    assert any(p.startswith(f"$.members[{last}].") for p in paths)
    assert len({p.split("]", 1)[0] for p in paths if p.startswith("$.members[")}) == last + 1
