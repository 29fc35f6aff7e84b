"""The polars target against the Python target, on whole populations (issue 10 §1).

One copy of the semantics per target, and the targets checked against each other: a population of
generated households — every bundled pack, dates around every effective date, some without a region —
is decided once by :func:`~eligibility.compile.polars.decide_table` as one table, and every row must be
what :class:`~eligibility.Engine` decides for that household on that date (or both must refuse it with
the same error). Mixing packs and dates in one table exercises the split by (chain, span) and the
putting back in input order.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from eligibility import strategies as els
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.compile.python import program_for
from eligibility.errors import EvaluationError
from eligibility.expressions import UNKNOWN
from eligibility.models import parse_household

from ..conftest import population_examples
from .test_compiled import DATES, ENGINE, REGIONS, RULESET


@st.composite
def _member(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    data = draw(els.household_data(regions=REGIONS))
    if draw(st.integers(0, 19)) == 0:
        data.pop("region", None)  # a record without a region code: review, naming the field
    return data, draw(DATES)


POPULATION = st.lists(_member(), min_size=1, max_size=30)


def _expected(data: dict[str, Any], on: date) -> dict[str, Any]:
    try:
        return decision_row(ENGINE.evaluate(data, on, trace="none"))
    except EvaluationError as exc:
        return {"error": str(exc)}


@population_examples(25)
@given(POPULATION)
def test_every_row_is_the_python_targets_decision(population: list[tuple[dict[str, Any], date]]) -> None:
    households = [parse_household(d) for d, _ in population]
    frame = households_frame(households, [on for _, on in population])
    table = decide_table(RULESET, frame, rowwise=0)  # the columnar target, whatever the parts' sizes
    assert table.get_column("_row").to_list() == list(range(len(population)))
    for (data, on), row in zip(population, table.iter_rows(named=True), strict=True):
        expected = _expected(data, on)
        if "error" in expected and expected["error"] is not None:
            assert row["error"] == expected["error"], (data, on)
            continue
        got = {k: row[k] for k in expected}
        assert got == expected, (data, on)
        if data.get("region") is not None:
            chain = RULESET.chain(RULESET.pack_for_region(data["region"]))
            assert row["ruleset_fingerprint"] == chain.fingerprint


@population_examples(25)
@given(st.lists(_member(), min_size=1, max_size=8))
def test_rule_and_fact_columns_are_the_python_programs_values(population: list[tuple[dict[str, Any], date]]) -> None:
    """``rule_columns=True``: each rule's outcome exactly, each fact's value (a quotient to within 1e-16:
    the one output that is an actual division) — the parts of the decision the row form does not show."""
    households = [parse_household(d) for d, _ in population]
    table = decide_table(
        RULESET, households_frame(households, [on for _, on in population]), rule_columns=True, rowwise=0
    )
    for h, (_, on), row in zip(households, population, table.iter_rows(named=True), strict=True):
        if row["error"] is not None or h.region is None:
            continue
        prog = program_for(RULESET.chain(RULESET.pack_for_region(h.region)), on)
        values, nodes, _, _ = prog.run(h, on)
        for rule, _, root in prog.rules:
            outcome = nodes[root.index]
            assert row["rule:" + rule.id] == {"1": True, "0": False, True: True, False: False}.get(outcome), rule.id
        for slot in prog.facts:
            want, got = values[slot.index], row["fact:" + slot.name]
            if want is UNKNOWN:
                assert got is None, slot.name
            elif isinstance(want, Decimal):
                assert got is not None and abs(want - got) < Decimal("1e-16"), slot.name
            elif isinstance(want, frozenset | tuple | list):
                assert sorted(got) == sorted(want), slot.name
            else:
                assert got == want, slot.name
