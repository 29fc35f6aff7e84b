"""The engine runs only the member selectors a decision's findings name (issue 9, speed).

A measure or gap names its members through the selectors of its own rules (``members.combine``,
``members.keep_gap`` look up no other key), so a household's selections restricted to the keys of the
findings it reports are exactly the full selections' entries for those keys — and the decisions are
the same bytes as when every selector ran.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from eligibility import Engine, load_rules, parse_household
from eligibility import engine as engine_module
from eligibility.compile import members_py
from eligibility.models import births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2022, 6, 30), date(2023, 9, 30), date(2024, 6, 30), date(2025, 6, 30))


def test_wanted_selections_are_the_full_selections_of_those_keys(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rules = load_rules()
    engine = Engine(rules)
    seen: list[tuple[object, ...]] = []
    real = members_py.selections

    def spy(program, h, as_of, values, wanted=None):  # type: ignore[no-untyped-def]
        got = real(program, h, as_of, values, wanted)
        every = real(program, h, as_of, values)
        assert wanted is not None  # the engine always says which it needs
        assert got == {k: v for k, v in every.items() if k in wanted}
        assert set(got) == set(wanted)  # every wanted key is one of the program's selectors
        seen.append((h.household_id, as_of, len(got), len(every)))
        return got

    monkeypatch.setattr(engine_module, "selections", spy)
    texts = _full_texts(engine)
    assert seen, "no example names members"
    assert any(n < every for _, _, n, every in seen)  # some selectors were skipped
    # The same bytes as an engine whose every selector runs.
    monkeypatch.setattr(engine_module, "selections", lambda p, h, a, v, wanted=None: real(p, h, a, v))
    assert texts == _full_texts(Engine(rules))


def _full_texts(engine: Engine) -> list[str]:
    """Every example's full decision JSON on every date its chain has rules in force."""
    out = []
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        h = parse_household(data.get("household", data))
        chain = engine.chain_for(h)
        out += [
            engine.evaluate(h, on, trace="full").to_json()
            for on in DATES
            if chain is not None and chain.in_force(on) and not births_after(h, on)
        ]
    return out
