"""The full trace's text patterns (issue 9 §5, session 10): a rule's text keyed in chunks of a few nodes,
each chunk's pattern made of per-node fragments rendered once, settling paths as holes, a decimal's or a
date's text kept by value — none of it changes a byte.

* Every text equals pydantic's writing of the validated expansion, with patterns that are forgotten
  again and again (a pattern budget of a few households' worth) and with memos that keep one pattern;
  the patterns kept stay within the budget.
* The kept decimal and date texts equal the texts written afresh, for decimals that are equal but
  written with other exponents (``1.5`` / ``1.50``, ``2`` / ``2.00``) met one after the other.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import engine as engine_module
from eligibility.compile import manifest as manifest_module
from eligibility.compile.manifest import _enc, _encode_str, _sub_text, _value_text, as_read, json_value
from eligibility.decision import CompactTrace, Trace
from eligibility.expressions import format_value
from eligibility.models import births_after
from eligibility.strategies import households

from .test_full_trace_memo import DATES, cases

__all__ = ["cases"]  # the examples on three dates, shared with test_full_trace_memo.py (a fixture)


def _want(engine: Engine, h, on) -> str:  # type: ignore[no-untyped-def]
    """The full decision's compact JSON as pydantic writes the validated expansion (no text memo)."""
    d = engine.evaluate(h, on, trace="compact")
    assert isinstance(d.trace, CompactTrace)
    full = Trace.model_validate(engine._expander(d.trace.program)(d.trace.to_data()))
    return d.model_copy(update={"trace": full}).model_dump_json(indent=None)


def _patterns(engine: Engine) -> int:
    """The patterns the engine keeps: each memo once, however many programs share it (session 20)."""
    memos = {id(m): m for x in engine._text_expanders.values() for m in (*x._gen.facts, *x._gen.rules)}
    return sum(map(len, memos.values()))


def test_forgotten_patterns_give_the_same_bytes(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in households]
    budget = 300  # some 260 facts and chunks per program: spent every household or two
    monkeypatch.setattr(engine_module, "_FULL_PATTERN_BUDGET", budget)
    small = Engine(rules)
    drops, held = 0, 0
    for _ in range(2):
        for (h, on), text in zip(households, want, strict=True):
            assert small.full_json(small.evaluate(h, on), indent=None) == text, (h.household_id, on)
            now = _patterns(small)
            assert now <= budget
            drops += now < held
            held = now
    assert drops >= 3  # forgotten more than once, made again from the kept fragments


def test_memos_of_one_pattern_give_the_same_bytes(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rules, households = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in households]
    monkeypatch.setattr(manifest_module, "_PATTERN_MEMO_SIZE", 1)
    monkeypatch.setattr(manifest_module, "_STATICS_SIZE", 64)  # generations start over all the time too
    one = Engine(rules)
    for (h, on), text in zip(households, want, strict=True):
        assert one.full_json(one.evaluate(h, on), indent=None) == text, (h.household_id, on)
        assert all(len(m) <= 1 for x in one._text_expanders.values() for m in (*x._gen.facts, *x._gen.rules))


def test_rules_are_keyed_in_chunks(cases) -> None:  # type: ignore[no-untyped-def]
    """Every rule's text is cut into chunks of at most four nodes that depend on an outcome, laid end to
    end in the rules' order (what makes a long rule's combinations few)."""
    rules, households = cases
    engine = Engine(rules)
    h, on = households[0]
    d = engine.evaluate(h, on)
    assert isinstance(d.trace, CompactTrace)
    x = engine._text_expander(d.trace.program)
    steps = [(tag, k) for c in x._chunks for tag, k, _ in c]
    assert steps == [(tag, k) for i in range(len(x.rules)) for tag, k, _ in x._steps(i)]
    counted = [sum(tag not in (")", "E") for tag, _, _ in c) for c in x._chunks]
    assert max(counted) <= manifest_module._CHUNK_NODES and min(counted) >= 1
    assert len(x._chunks) > len(x.rules)  # some rules are long enough to be cut


_DECIMALS = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=4)


@settings(max_examples=200, deadline=None)
@given(v=_DECIMALS, zeros=st.integers(min_value=0, max_value=3), day=st.dates())
def test_kept_texts_equal_the_texts_written_afresh(v: Decimal, zeros: int, day: date) -> None:
    longer = Decimal(f"{v:f}" + "0" * zeros)  # places=4: always a point, so the same value
    for x in (v, longer, v.normalize(), day, v):
        assert x == v or x is day
        assert _value_text(x) == _enc(json_value(as_read(x)))
        assert _sub_text(x) == _encode_str(format_value(as_read(x)))[1:-1]


def test_generated_households_give_the_same_bytes() -> None:
    """One engine over generated households (patterns met before, by other households — and, since
    session 20, memos shared by the engine's programs) against the validated expansion."""
    engine = Engine(load_rules())

    @settings(max_examples=60, deadline=None)
    @given(h=households(), on=st.sampled_from(DATES))
    def check(h, on) -> None:  # type: ignore[no-untyped-def]
        chain = engine.chain_for(h)
        if chain is None or not chain.in_force(on) or births_after(h, on):
            return
        assert engine.full_json(engine.evaluate(h, on), indent=None) == _want(engine, h, on)

    check()
