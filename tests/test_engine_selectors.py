"""The engine runs only the member selectors a decision's findings name (issue 9, speed).

A measure or gap names its members through the selectors of its own rules (``members.combine``,
``members.keep_gap`` look up no other key), so a household's selections restricted to the keys of the
findings it reports are exactly the full selections' entries for those keys — and the decisions are
the same bytes as when every selector ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from eligibility import Engine, load_rules, parse_household
from eligibility import engine as engine_module
from eligibility.compile import members_py
from eligibility.models import births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2022, 6, 30), date(2023, 9, 30), date(2024, 6, 30), date(2025, 6, 30))


def test_wanted_selections_are_the_full_selections_of_those_keys(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The engine looks the program's generated pair up once (``members_py.functions``) and runs ``select``
    with the bits its ``wanted`` gave: the spy wraps both."""
    rules = load_rules()
    engine = Engine(rules)
    seen: list[tuple[object, ...]] = []
    real = members_py.functions

    def spy_functions(program, as_of):  # type: ignore[no-untyped-def]
        fns = real(program, as_of)
        if fns is None:
            return None
        select, wanted = fns
        given: list[int] = []

        def spy_wanted(f, u):  # type: ignore[no-untyped-def]
            given.append(wanted(f, u))
            return given[-1]

        def spy_select(h, on, values, bits):  # type: ignore[no-untyped-def]
            assert given and bits == given[-1]  # the engine asks for what wanted said, as its bits
            got = select(h, on, values, bits)
            every = members_py.selections(program, h, on, values)
            keys = {k for n, k in enumerate(members_py._selector_keys(program)) if bits >> n & 1}
            assert got == {k: v for k, v in every.items() if k in keys}
            assert set(got) == keys  # every wanted key is one of the program's selectors
            assert members_py.selections(program, h, on, values, keys) == got  # the same keys asked for by name
            seen.append((h.household_id, on, len(got), len(every)))
            return got

        return spy_select, spy_wanted

    monkeypatch.setattr(engine_module, "selector_functions", spy_functions)
    texts = _full_texts(engine)
    assert seen, "no example names members"
    assert any(n < every for _, _, n, every in seen)  # some selectors were skipped
    # The same bytes as an engine whose every selector runs.
    monkeypatch.setattr(engine_module, "selector_functions", _every_selector(real))
    assert texts == _full_texts(Engine(rules))


def _every_selector(real):  # type: ignore[no-untyped-def]
    """``members_py.functions`` whose pair runs every selector of the program, whatever the masks."""

    def every(program, as_of):  # type: ignore[no-untyped-def]
        fns = real(program, as_of)
        if fns is None:
            return None
        return (lambda h, on, values, bits: fns[0](h, on, values, -1)), (lambda f, u: -1)

    return every


def _households(seed: int, n: int) -> list[tuple[Any, date]]:
    """Every example on every date of ``DATES``, then ``n`` generated households over every bundled pack
    (``benchmarks/workload.py``, seeded)."""
    import random
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import workload

    examples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EX.glob("*.json"))]
    households = [(parse_household(data.get("household", data)), on) for data in examples for on in DATES]
    households += [
        (parse_household(h), on) for h, on in workload.iter_generate(random.Random(seed), n, workload.sites())
    ]
    return households


def _decidable(engine: Engine, seed: int, n: int) -> Iterator[tuple[Any, date, Any]]:
    """(household, date, program) of :func:`_households` for each one the engine can decide (a chain in
    force, no member born after the date)."""
    for h, on in _households(seed, n):
        chain = engine.chain_for(h)
        if chain is None or not chain.in_force(on) or births_after(h, on):
            continue
        program = engine.program(h, on)
        assert program is not None
        yield h, on, program


def test_wanted_bits_are_the_selectors_of_the_reported_findings() -> None:
    """``members_py.wanted`` (from the masks) names exactly the selectors of the measures' and gaps' own
    rules — what the engine looked up per finding before — on every example and 400 generated households
    over every bundled pack."""
    engine = Engine(load_rules())
    checked = named = 0
    for h, on, program in _decidable(engine, 7, 400):
        _, _, f, u = program.run(h, on)
        engine.evaluate(h, on, trace="none")  # makes the program's finding tables
        tables = engine._memos[program.key].tables
        assert tables is not None
        _, _, _, required, gaps, _, _ = tables.every(f, u)  # the findings before members are attached
        selectors = set(members_py._selector_keys(program))
        findings = [("measure", x) for x in required] + [("gap", x) for x in gaps]
        expected = {(r, kind, x.code) for kind, x in findings for r in x.rules} & selectors
        bits = members_py.wanted(program, on, f, u)
        assert {k for n, k in enumerate(members_py._selector_keys(program)) if bits >> n & 1} == expected
        checked += 1
        named += bool(expected)
    assert checked > 300 and named > 100


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


def test_each_selector_alone_gives_its_entry_of_all() -> None:
    """``select``'s prologue reads a piece of the household only for the selectors wanted that read it
    (``members_py._guarded``): each selector asked for alone gives exactly its entry of every selector's
    run, on every example and 300 generated households over every bundled pack — a piece a selector needs
    and its bits leave out would leave a local unset."""
    engine = Engine(load_rules())
    guarded = checked = 0
    for h, on, program in _decidable(engine, 11, 300):
        fns = members_py.functions(program, on)
        if fns is None:
            continue
        values = program.run(h, on)[0]
        every = fns[0](h, on, values, -1)
        keys = members_py._selector_keys(program)
        assert list(every) == keys
        for n, key in enumerate(keys):
            assert fns[0](h, on, values, 1 << n) == {key: every[key]}
        assert fns[0](h, on, values, 0) == {}
        checked += 1
        guarded += "    if bits & " in program.__dict__["selector_source"].split("    out = {}")[0]
    assert checked > 200 and guarded > 100


def test_programs_writing_one_select_with_equal_constants_share_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Programs whose ``select`` is the same text with constants of the same names, types and spellings share
    one compiled copy (session 17: the bundled packs' 54 programs write 3), and each program's selections
    are those of a copy compiled for it alone; a constant of another value, type or spelling — or of a type
    whose spelling may not say its value — keeps two programs apart."""
    from decimal import Decimal

    engine = Engine(load_rules())
    seen: dict[str, tuple[Any, Any]] = {}
    households = []
    for h, on, program in _decidable(engine, 5, 150):
        fns = members_py.functions(program, on)
        if fns is not None:
            seen.setdefault(program.key, (program, fns))
            households.append((h, on, program, fns))
    assert len({id(fns[0]) for _, fns in seen.values()}) < len(seen), "no two programs share a select"
    for _, fns in seen.values():
        assert fns[1] is fns[0].__globals__["wanted"]
    with monkeypatch.context() as m:  # each program's own copy, compiled for it alone
        m.setattr(members_py, "_share_key", lambda source, consts: None)
        own = {key: members_py._compile(program, program.start) for key, (program, _) in seen.items()}
    for h, on, program, fns in households:
        values = program.run(h, on)[0]
        mine = own[program.key]
        assert mine is not None and mine[0] is not fns[0]
        assert fns[0](h, on, values, -1) == mine[0](h, on, values, -1)
    text = "def select(): pass\n"
    key = members_py._share_key
    assert key(text, {"K0": (1, Decimal("2.5"))}) == key(text, {"K0": (1, Decimal("2.5"))})
    assert key(text, {"K0": Decimal("1.0")}) != key(text, {"K0": Decimal("1.00")})
    assert key(text, {"K0": 1}) != key(text, {"K0": "1"}) != key(text, {"K0": 2})
    assert key(text, {"K0": date(2024, 1, 1)}) != key(text, {"K0": date(2024, 1, 2)})
    assert key(text, {"K0": 1.5}) is None and key(text, {"K0": [1]}) is None
