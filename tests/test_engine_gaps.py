"""The gap report's shortcuts (issue 9, engine speed) give what the per-household walks give.

* ``_Run.data()`` — the settling paths of every unknown fact, read by the program's generated
  gap code (``compile/gaps_py.py``, ``GapCode.facts``) — equals walking the facts per household
  (``_Run.fact_missing``), in the same order, with lists of its own per fact.
* ``Engine._open`` — both sides of the gap report, from the generated per-rule masks — equals the two
  separate per-set reports (``_gap_oracle.missing_planned`` of the blocking rules and of the other unknown
  ones: the test oracle, ``_gap_oracle._MissingPlan``).

``tests/test_engine_gaps_property.py`` compares the same on generated households of every bundled pack,
and each rule's generated function with its leaf walk on random node outcomes.

On the examples at every date in force and on generated households of every bundled pack (the
benchmark workload, seeded), with warm memos and with memos that start over.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine, load_rules, parse_household
from eligibility import _gap_oracle as oracle
from eligibility import engine as engine_module
from eligibility.models import births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2022, 6, 30), date(2023, 9, 30), date(2024, 6, 30), date(2025, 6, 30))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_rules())


@pytest.fixture(scope="module")
def cases(engine: Engine) -> list[tuple[Any, date]]:
    """The examples on every date in force, and 250 generated households over every bundled pack."""
    examples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EX.glob("*.json"))]
    out = []
    for h in (parse_household(x.get("household", x)) for x in examples):  # some examples carry their as_of
        in_force = [] if engine.chain_for(h) is None else engine.chain_for(h).in_force  # type: ignore[union-attr]
        out += [(h, on) for on in DATES if in_force and in_force(on) and not births_after(h, on)]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import workload
    finally:
        sys.path.pop(0)
    for data, on in workload.generate(random.Random(20261201), 250, workload.sites()):
        h = parse_household(data)
        if engine.chain_for(h) is not None:
            out.append((h, on))
    return out


def _walked(run: Any) -> dict[str, list[str]]:
    return {k: v for k, v in run.fact_missing.items() if v}


def test_unknown_facts_read_per_pattern_equal_the_walk(engine: Engine, cases: list[tuple[Any, date]]) -> None:
    some = 0
    for h, on in cases:
        program = engine.program(h, on)
        assert program is not None
        run = engine_module._Run(program, h, on)
        got = run.data()
        want = _walked(engine_module._Run(program, h, on))
        assert list(got.items()) == list(want.items())
        lists = [id(v) for v in got.values()]
        assert len(set(lists)) == len(lists)  # a list of its own per fact: a caller may change one
        some += bool(got)
    assert some > 100


def test_unknown_facts_with_memos_that_start_over(
    engine: Engine, cases: list[tuple[Any, date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_SHAPE_CACHE_SIZE", 1)
    for h, on in cases[::7]:
        program = engine.program(h, on)
        assert program is not None
        run = engine_module._Run(program, h, on)
        assert run.data() == _walked(engine_module._Run(program, h, on))


def _two_reports(engine: Engine, run: Any, blocking_rules: tuple[str, ...]) -> tuple[Any, Any]:
    """What ``_open`` gave before its shortcuts: the two reports of ``missing_planned``, the rest without
    the blocking side's names."""
    program = run.program
    rids = {rid for i, mask in enumerate(run.unknown) for _, _, rid in program.conclusions(i, mask)}
    rest_rules = tuple(sorted(rids.difference(blocking_rules)))
    blocking = oracle.missing_planned(engine, run, blocking_rules) if blocking_rules else ()
    rest = oracle.missing_planned(engine, run, rest_rules) if rest_rules else ()
    if blocking and rest:
        names = {m.name for m in blocking}
        rest = tuple(m for m in rest if m.name not in names)
    return blocking, rest


@pytest.mark.parametrize("reset", [False, True])
def test_open_keyed_once_equals_the_two_reports(
    cases: list[tuple[Any, date]], reset: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reset:
        monkeypatch.setattr(engine_module, "_SHAPE_CACHE_SIZE", 1)
    engine = Engine(load_rules())
    opened = 0
    for h, on in cases:
        decision = engine.evaluate(h, on, trace="compact")
        run = decision.trace.missing.run  # type: ignore[union-attr]
        if not any(run.unknown):
            continue
        memo = engine._memos[run.program.key]
        status = memo.statuses[tuple(run.fired[:4]) + tuple(run.unknown[:4])]
        blocking_rules = status.blocking_rules if status.status == "needs_review" else ()
        got = engine._open(memo, run, status)
        want = _two_reports(engine, engine_module._Run(run.program, h, on), blocking_rules)
        assert got == want
        assert (decision.identification.blocking, decision.identification.unknown) == want
        opened += 1
    assert opened > 100
