"""The settling paths a full trace shows, from the program's memo (``engine._Settled``, issue 9 §5 speed):
the same as working them out for each household (``_UnknownFacts.data()``), with warm memos, with memos
that start over at every second entry, and for households that share a memo key with earlier ones.

也检查备忘有上限 / and that the memos stay within their bound."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules, parse_household
from eligibility import engine as engine_module
from eligibility.decision import CompactTrace
from eligibility.models import births_after
from eligibility.strategies import households

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2023, 9, 30), date(2025, 6, 30))
ENGINE = Engine(load_rules())


def _check(engine: Engine, h: Any, on: date) -> int:
    """Compare the memo's paths with the per-household ones; the number of unknown facts with paths."""
    d = engine.evaluate(h, on, trace="compact")
    t = d.trace
    if not isinstance(t, CompactTrace):
        return 0
    run = t.missing.run  # type: ignore[attr-defined]
    want = t.missing.data()  # type: ignore[attr-defined]
    got, keyed = engine_module._settled(run)
    assert got == want, (h.household_id, on)
    assert keyed == {k: tuple(v) for k, v in want.items()}
    return len(want)


def _examples() -> list[tuple[Any, date]]:
    out = []
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        h = parse_household(data.get("household", data))
        chain = ENGINE.chain_for(h)
        out += [(h, on) for on in DATES if chain is not None and chain.in_force(on) and not births_after(h, on)]
    return out


def test_settled_paths_equal_the_per_household_ones() -> None:
    cases = _examples()
    assert len(cases) > 10
    engine = Engine(ENGINE.rules)
    shown = 0
    for _ in range(2):  # the second time every result comes from the memo
        for h, on in cases:
            shown += _check(engine, h, on)
    assert shown > 0  # some example has an unknown fact with paths that would settle it


def test_settled_memos_start_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(ENGINE.rules)
    cases = _examples()
    for h, on in cases:
        engine.evaluate(h, on, trace="none")
    programs = [m.program for m in engine._memos.values()]
    for p in programs:  # programs are shared by the engines of one rule set: start from empty memos
        p.__dict__.pop("_full_settled", None)
    monkeypatch.setattr(engine_module, "_SETTLED_SIZE", 2)
    for h, on in cases:
        _check(engine, h, on)
    memos = [p.__dict__["_full_settled"] for p in programs if "_full_settled" in p.__dict__]
    assert memos and all(len(m.plans) <= 2 and len(m.done) <= 2 for m in memos)
    for p in programs:  # not left with the bound of this test
        p.__dict__.pop("_full_settled", None)


@settings(max_examples=25, deadline=None)
@given(h=households(), on=st.sampled_from(DATES))
def test_settled_paths_of_generated_households(h: Any, on: date) -> None:
    """One engine for every example: a key met before, with another household, gives this one's paths."""
    chain = ENGINE.chain_for(h)
    if chain is None or not chain.in_force(on) or births_after(h, on):
        return
    _check(ENGINE, h, on)
