"""The generated decision function (``engine._decider``, session 16): the pieces it builds in place.

``evaluate`` hands every decision past its context look-up to one function generated per (engine,
program); these tests pin what it builds itself rather than through a method — the recorded risk lead
— against :meth:`RuleSet.lead`, the plain-data account of the same thing, at every trace level.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from eligibility import Engine, parse_household
from eligibility.decision import Lead

from .conftest import household

ON = "2023-09-30"
PROCEDURES: list[dict[str, Any] | None] = [
    {"lead_found_on": "2023-08-01", "lead_channel": "基层干部排查"},
    {"lead_channel": "农户自主申报"},
    {"lead_found_on": "2023-08-01"},
    {"visits": ["2023-08-02"]},
    None,
]


@pytest.mark.parametrize("procedure", PROCEDURES)
@pytest.mark.parametrize("trace", ["none", "compact", "full"])
def test_the_risk_lead_is_the_one_the_rule_set_records(engine: Engine, procedure: Any, trace: Any) -> None:
    data = household(procedure=procedure)
    want = engine.rules.lead(parse_household(data), date.fromisoformat(ON))
    d = engine.evaluate(data, ON, trace)
    if want is None:
        assert d.lead is None
        return
    assert d.lead == Lead.model_validate(want)
    assert d.lead is not None and d.lead.model_fields_set == {"channel", "found_on"}
    # In field order, as validation lays it out (the serialiser writes ``__dict__`` in its own order).
    assert list(d.lead.__dict__) == list(Lead.model_fields)
    assert d.to_json() == engine.evaluate(data, ON, trace).to_json()


def test_one_channel_label_per_program_and_channel(engine: Engine) -> None:
    data = household(procedure=PROCEDURES[0])
    a = engine.evaluate(data, ON, "none").lead
    b = engine.evaluate(household(procedure=PROCEDURES[0], household_id="another"), ON).lead
    assert a is not None and b is not None and a is not b
    assert a.channel is not None and a.channel is b.channel
