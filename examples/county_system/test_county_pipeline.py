"""How a county system tests its own integration with eligibility's Hypothesis strategies (example).

Run with ``pytest examples/county_system`` (``make test`` runs it too).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from county_pipeline import ENGINE, run_batch, to_row
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Household
from eligibility import strategies as els

HUAIBEI = ["340602", "340603"]


@settings(max_examples=50, deadline=None)
@given(st.lists(els.household_data(regions=HUAIBEI), max_size=5), els.as_of_dates(ENGINE.rules, "anhui-huaibei"))
def test_every_record_gives_one_row_or_one_error(records: list[dict[str, Any]], on: date) -> None:
    """Our batch job never loses a household: each yields a row or an error entry."""
    rows, errors = run_batch(records, on)
    assert len(rows) + len(errors) == len(records)


@settings(max_examples=50, deadline=None)
@given(els.threshold_cases(ENGINE.rules, "anhui-huaibei", date(2023, 6, 30)))
def test_rows_at_every_threshold_carry_the_decision(h: Household) -> None:
    """At each threshold the rules use (the 7,900-yuan line, water quantity and outage days, school
    ages), our row says exactly what the decision says, and says what to fill in when unsure."""
    decision = ENGINE.evaluate(h, date(2023, 6, 30))
    row = to_row(decision)
    assert row["status"] == decision.identification.status
    if row["status"] == "identified":
        assert row["category"] in ("边缘易致贫户", "脱贫不稳定户", "突发严重困难户")
    if row["status"] == "needs_review":
        assert row["to_fill"] or decision.identification.reviews or decision.identification.exclusions


@settings(max_examples=30, deadline=None)
@given(
    els.households(
        regions=HUAIBEI,
        household_type="一般农户",
        per_capita=els.per_capita_around(ENGINE.rules, "anhui-huaibei", "monitoring_line", date(2023, 6, 30)),
        missing=False,
    )
)
def test_marginal_households_are_labelled_in_chinese(h: Household) -> None:
    """Whenever a general household is identified on income, our table shows 边缘易致贫户."""
    row = to_row(ENGINE.evaluate(h, date(2023, 6, 30)))
    if row["status"] == "identified" and row["risks"] == "":
        assert row["category"] in ("边缘易致贫户", "突发严重困难户")
