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
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules, parse_household
from eligibility import decision as decision_module
from eligibility import engine as engine_module
from eligibility.compile import manifest as manifest_module
from eligibility.decision import CompactTrace, Trace
from eligibility.models import births_after
from eligibility.strategies import households

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


def test_full_trace_models_count_against_the_engines_budget(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The models ``trace="full"`` keeps hold a household's values: they count against the engine's model
    budget and all go when it is spent (before, some 256 per rule of every program stayed: a long ``evaluate
    --trace full`` run reached 3 GiB by 8,000 mixed households). Starting over changes no byte."""
    rules, households = cases
    warm = Engine(rules)
    want = [warm.evaluate(h, on, trace="full").to_json(indent=None) for h, on in households]
    budget = 600  # a few households' worth of models (some 300 facts and rules per program)
    monkeypatch.setattr(engine_module, "_FULL_MODEL_BUDGET", budget)
    small = Engine(rules)

    def models() -> int:
        return sum(len(m) for x in small._text_expanders.values() for m in (*x.fact_models, *x.rule_models))

    held, drops = 0, 0
    for _ in range(2):
        for (h, on), text in zip(households, want, strict=True):
            d = small.evaluate(h, on, trace="full")
            now = models()
            assert now <= budget
            drops += now < held
            held = now
            assert d.to_json(indent=None) == text
    assert drops >= 3  # the budget was spent and the models started over, more than once


# ------------------------------------------------------------------ settling paths from the program's memo
# ``engine._Settled`` (issue 9 §5 speed): the settling paths a full trace shows come from a memo per
# (pattern of unknown facts, paths the household lacks); they must be what working them out for each
# household gives (``_Run.data()``) — with warm memos, with memos that start over at every
# second entry, and for generated households that meet a key an earlier household made.


def _check_settled(engine: Engine, h, on) -> int:  # type: ignore[no-untyped-def]
    """Compare the memo's paths with the per-household ones; the number of unknown facts with paths."""
    t = engine.evaluate(h, on, trace="compact").trace
    if not isinstance(t, CompactTrace):
        return 0
    want = t.missing.data()  # type: ignore[attr-defined]
    got = engine_module._full_settled(t.missing.run)  # type: ignore[attr-defined]
    assert got == want, (h.household_id, on)
    assert got.keyed == {k: tuple(v) for k, v in want.items()}
    return len(want)


def test_settled_paths_equal_the_per_household_ones(cases) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    shown = 0
    for _ in range(2):  # the second time every result comes from the memo
        for h, on in households:
            shown += _check_settled(engine, h, on)
    assert shown > 0  # some example has an unknown fact with paths that would settle it


def test_settled_memos_start_over_when_full(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    engine = Engine(rules)
    for h, on in households:
        engine.evaluate(h, on, trace="none")
    programs = [m.program for m in engine._memos.values()]
    for p in programs:  # programs are shared by the engines of one rule set: start from empty memos
        p.__dict__.pop("_full_settled", None)
    monkeypatch.setattr(engine_module, "_SETTLED_SIZE", 2)
    for h, on in households:
        _check_settled(engine, h, on)
    memos = [p.__dict__["_full_settled"] for p in programs if "_full_settled" in p.__dict__]
    assert memos and all(len(m.done) <= 2 for m in memos)
    for p in programs:  # not left with the bound of this test
        p.__dict__.pop("_full_settled", None)


_GENERATED = Engine(load_rules())


@settings(max_examples=25, deadline=None)
@given(h=households(), on=st.sampled_from(DATES))
def test_settled_paths_of_generated_households(h, on) -> None:  # type: ignore[no-untyped-def]
    """One engine for every example: a key met before, with another household, gives this one's paths."""
    chain = _GENERATED.chain_for(h)
    if chain is None or not chain.in_force(on) or births_after(h, on):
        return
    _check_settled(_GENERATED, h, on)
