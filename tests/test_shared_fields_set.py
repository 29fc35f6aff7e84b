"""The generated decision shares one fields-set per kind of output object (session 19): what that may not break.

``engine._decider`` sets every Identification, Decision, Lead and CompactTrace it builds to the one
fields-set of its kind (``engine._SHARED_FIELDS_SETS``) instead of a copy each. That is safe only while
the output models are frozen, each shared set holds every field its objects set, and pydantic's own
copies (``model_copy``) take a set of their own — each checked here on real decisions, so a change to the
models or to pydantic that breaks the assumption fails a test rather than leaking one decision's fields
into another's.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from eligibility import Decision, Engine, parse_household
from eligibility import engine as engine_module

EX = Path(__file__).resolve().parent.parent / "examples" / "households"
ON = date(2023, 9, 30)


@pytest.fixture(scope="module")
def decisions() -> list[Decision]:
    engine = Engine()
    out = []
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        h = parse_household(data.get("household", data))
        if engine.chain_for(h) is None or not engine.chain_for(h).in_force(ON):  # type: ignore[union-attr]
            continue
        for level in ("none", "compact"):
            out.append(engine.evaluate(h, ON, level))
    assert len(out) >= 10
    return out


def _objects(d: Decision) -> list[object]:
    got: list[object] = [d, d.identification]
    if d.lead is not None:
        got.append(d.lead)
    if d.trace is not None:
        got.append(d.trace)
    return got


def test_the_objects_share_their_kind_s_set_and_it_names_every_field_they_hold(decisions: list[Decision]) -> None:
    shared = {id(s) for s in engine_module._SHARED_FIELDS_SETS.values()}
    seen = 0
    for d in decisions:
        for obj in _objects(d):
            fields_set = obj.__pydantic_fields_set__  # type: ignore[attr-defined]
            if id(fields_set) not in shared:
                continue  # built elsewhere (e.g. a full trace): its own set
            seen += 1
            # every field the object holds except a defaulted one the engine leaves unset ("level")
            assert set(obj.__dict__) - {"level"} <= fields_set
            assert type(obj).model_config.get("frozen") is True  # type: ignore[attr-defined]
    assert seen >= 2 * len(decisions)  # at least the decision and its identification each time


def test_frozen_objects_refuse_assignment_and_the_shared_sets_stay_as_they_were(decisions: list[Decision]) -> None:
    before = {k: set(v) for k, v in engine_module._SHARED_FIELDS_SETS.items()}
    d = decisions[0]
    with pytest.raises(ValidationError):
        d.identification.status = "identified"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        d.household_id = "x"  # type: ignore[misc]
    assert {k: set(v) for k, v in engine_module._SHARED_FIELDS_SETS.items()} == before


def test_model_copy_with_an_update_takes_a_set_of_its_own(decisions: list[Decision]) -> None:
    d, other = decisions[0], decisions[1]
    shared_before = set(other.model_fields_set)
    ident_before = set(other.identification.model_fields_set)
    copy = d.model_copy(update={"warnings": ()})
    ident = d.identification.model_copy(update={"unknown": ()})
    assert copy.model_fields_set is not d.model_fields_set
    assert ident.model_fields_set is not d.identification.model_fields_set
    assert other.model_fields_set == shared_before
    assert other.identification.model_fields_set == ident_before
    # and what pydantic reads from the set is right on every decision
    for x in decisions:
        assert x.model_dump(exclude_unset=True).keys() == x.model_dump().keys() - {"level"}
