"""``trace="full"`` built from the manifest's memo of fact and rule models, and written from its texts
(issue 9 §2, speed): nothing a caller can see changes.

* The full trace is the model that validating the expanded compact trace gives (equal, field by field,
  with the same fields set), though each fact's and rule's model is validated once and shared.
* ``to_json(indent=None)`` of such a decision — written from the memo of rendered texts — is byte for
  byte what pydantic writes for the model, and what ``Engine.full_json`` writes from the compact decision;
  a copy of the decision (not the engine's own trace) is written by pydantic, with the same bytes.
* With memos that keep nothing, the models and the bytes are the same.
"""

from __future__ import annotations

import gc
import json
from datetime import date
from pathlib import Path

import pytest

from eligibility import Engine, load_rules, parse_household
from eligibility import decision as decision_module
from eligibility.compile import manifest as manifest_module
from eligibility.decision import CompactTrace, Trace
from eligibility.models import births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2023, 9, 30), date(2025, 6, 30))


@pytest.fixture(scope="module")
def cases() -> list:  # type: ignore[type-arg]
    rules = load_rules()
    engine = Engine(rules)
    out = []
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        h = parse_household(data.get("household", data))
        chain = engine.chain_for(h)
        out += [(h, on) for on in DATES if chain is not None and chain.in_force(on) and not births_after(h, on)]
    assert len(out) > 10
    return [rules, out]


def _expected(engine: Engine, h, on) -> Trace:  # type: ignore[no-untyped-def]
    """The full trace as validating the expanded compact trace gives it (the path before the memo)."""
    compact = engine.evaluate(h, on, trace="compact").trace
    assert isinstance(compact, CompactTrace)
    return Trace.model_validate(engine._expander(compact.program)(compact.to_data()))


def test_full_trace_models_equal_the_validated_expansion(cases) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    for _ in range(2):  # the second time every fact and rule model comes from the memo
        for h, on in households:
            got = engine.evaluate(h, on, trace="full").trace
            want = _expected(engine, h, on)
            assert isinstance(got, Trace)
            assert got == want, (h.household_id, on)
            assert got.model_fields_set == want.model_fields_set
            for a, b in zip(got.rules, want.rules, strict=True):
                assert a.model_fields_set == b.model_fields_set
                assert a.condition.model_fields_set == b.condition.model_fields_set
            for a, b in zip(got.facts, want.facts, strict=True):
                assert a.model_fields_set == b.model_fields_set


def test_full_trace_models_are_shared_between_decisions(cases) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    h, on = households[0]
    first = engine.evaluate(h, on, trace="full").trace
    again = engine.evaluate(h, on, trace="full").trace
    assert isinstance(first, Trace) and isinstance(again, Trace)
    assert first is not again and first.sources is not again.sources  # a dict per trace: not frozen
    assert all(a is b for a, b in zip(first.rules, again.rules, strict=True))


def test_full_json_text_is_what_pydantic_writes(cases) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    for h, on in households:
        d = engine.evaluate(h, on, trace="full")
        assert id(d.trace) in decision_module._FULL_TEXT  # written from the memo of texts
        text = d.to_json(indent=None)
        assert text == d.model_dump_json(indent=None)
        assert text == engine.full_json(engine.evaluate(h, on, trace="compact"), indent=None)
        copy = d.model_copy(deep=True)  # not the engine's own trace: pydantic writes it
        assert id(copy.trace) not in decision_module._FULL_TEXT
        assert copy.to_json(indent=None) == text
        assert d.to_json() == d.model_dump_json(indent=2)  # indented: always pydantic's


def test_registered_texts_go_with_their_traces(cases) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    gc.collect()
    before = len(decision_module._FULL_TEXT)
    decisions = [engine.evaluate(h, on, trace="full") for h, on in households]
    assert len(decision_module._FULL_TEXT) == before + len(decisions)
    del decisions
    gc.collect()
    assert len(decision_module._FULL_TEXT) == before


def test_memos_that_keep_nothing_give_the_same_models_and_bytes(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    warm = Engine(rules)
    want = [(warm.evaluate(h, on, trace="full").to_json(indent=None), _expected(warm, h, on)) for h, on in households]
    monkeypatch.setattr(manifest_module, "_MEMO_SIZE", 0)
    cold = Engine(rules)
    for (h, on), (text, model) in zip(households, want, strict=True):
        d = cold.evaluate(h, on, trace="full")
        assert d.trace == model
        assert d.to_json(indent=None) == text
