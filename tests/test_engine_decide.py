"""The generated decision function (``engine._decider``, session 16): the pieces it builds in place.

``evaluate`` hands every decision past its context look-up to one function generated per (engine,
program); these tests pin what it builds itself rather than through a method — the recorded risk lead
— against :meth:`RuleSet.lead`, the plain-data account of the same thing, at every trace level.
"""

from __future__ import annotations

import random
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine, parse_household
from eligibility import engine as engine_module
from eligibility.decision import CompactTrace, Lead
from eligibility.errors import EligibilityError
from eligibility.models import births_after, household_digest

from .conftest import household

ROOT = Path(__file__).resolve().parent.parent

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


@pytest.fixture(scope="module")
def identification_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The identification-only pack of ``benchmarks/bench_compiled.py``: a program without value-reading
    groups, whose decision builds its run only for the gap report or the trace (the lazy path)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_compiled
    finally:
        sys.path.pop(0)
    return Engine(bench_compiled.build_identification_pack(ROOT / "rules", tmp_path_factory.mktemp("id-pack")))


@pytest.mark.parametrize("which", ["bundled", "identification"])
def test_the_compact_trace_carries_the_run_as_its_init_would_build_it(
    engine: Engine, identification_engine: Engine, which: str
) -> None:
    """The generated decision builds its :class:`engine._Run` by slot stores (``_RUN_STORES``), not its
    ``__init__``, and hands that one run to the compact trace as both ``input_digest`` and ``missing``
    (session 19, ctrace). Every slot must hold what ``__init__`` would put there (the gap report, the
    exit, the full trace and the tests read them), and the trace must still give the digest and the
    settling paths — on households with and without open questions, both the program that builds its run
    first (bundled) and the one that builds it late (identification)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import workload
    finally:
        sys.path.pop(0)
    eng = engine if which == "bundled" else identification_engine
    open_questions = settled = 0
    for data, on in workload.generate(random.Random(20261202), 120, workload.sites()):
        h = parse_household(data)
        if eng.chain_for(h) is None or births_after(h, on):
            continue
        try:
            d = eng.evaluate(h, on, "compact")
        except EligibilityError:  # no rules in force on that day in this pack
            continue
        t = d.trace
        assert isinstance(t, CompactTrace)
        run = t.missing
        assert type(run) is engine_module._Run and t.input_digest is run and run.run is run
        program = eng.program(h, on)
        assert run.program is program and run.h is h and run.as_of == on
        want = engine_module._Run(program, h, on)
        for slot in engine_module._Run.__slots__:
            assert getattr(run, slot) == getattr(want, slot), slot
        assert str(t.input_digest) == household_digest(h) == t.to_data()["input_digest"]
        assert run.data() == {k: v for k, v in want.fact_missing.items() if v} == t.to_data()["missing"]
        open_questions += any(run.unknown)
        settled += not any(run.unknown)
    assert open_questions > 10 and settled > 10
