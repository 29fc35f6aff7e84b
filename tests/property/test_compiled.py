"""The compiled evaluator against the old interpreter (kept as the test oracle), and compact vs full.

``eligibility._oracle`` is the interpreter that decided every household before the compiled evaluator
(issue 9): it walks the condition trees and formula closures anew for each household. It is kept,
unchanged in its semantics, only as an independent oracle: for generated households of every bundled
pack, on dates around every effective date, the compiled program's full decision must be the oracle's,
byte for byte, and the compact trace joined with the rules manifest must give that same full trace.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import strategies as els
from eligibility._oracle import ReferenceInterpreter
from eligibility.compile.manifest import expand
from eligibility.compile.wire import read_decision
from eligibility.decision import CompactTrace, Decision, Trace
from eligibility.errors import EvaluationError

from ..conftest import RULES

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
ORACLE = ReferenceInterpreter(RULESET, engines=("reference",))
REGIONS = sorted({r + "0" * (12 - len(r)) for p in RULESET.packs.values() for r in p.regions})


def _effective_dates() -> list[date]:
    """Every date a rule version or a parameter value starts or ends, and the days either side."""
    points: set[date] = set()
    for p in RULESET.packs.values():
        for values in p.values.values():
            points.update(v.start for v in values)
        for r in p.rules.values():
            for v in r.versions:
                points.add(v.start)
                if v.until:
                    points.add(v.until)
    out = {d + timedelta(days=k) for d in points for k in (-1, 0, 1) if date(2020, 1, 1) <= d <= date(2030, 1, 1)}
    return sorted(out)


DATES = st.sampled_from(_effective_dates())


def _oracle_json(data: dict[str, Any], on: date) -> str:
    d = ORACLE.evaluate(data, on)
    dump = json.loads(d.to_json())
    dump["trace"]["engines"] = ["compiled"]  # the only field that names the engine
    return json.dumps(dump, ensure_ascii=False, indent=2)


def _both(data: dict[str, Any], on: date) -> tuple[Decision, str] | None:
    try:
        expected = _oracle_json(data, on)
    except EvaluationError as exc:
        try:
            ENGINE.evaluate(data, on, trace="none")
        except EvaluationError as mine:
            assert str(mine) == str(exc)
            return None
        raise AssertionError("the oracle needed a parameter the compiled program did not") from exc
    return ENGINE.evaluate(data, on, trace="full"), expected


@given(els.household_data(regions=REGIONS), DATES)
def test_compiled_full_decision_is_the_oracles(data: dict[str, Any], on: date) -> None:
    """One copy of the semantics per target: the compiled program decides exactly as the interpreter did,
    every fact with its formula and numbers, every condition with its actual and expected values."""
    got = _both(data, on)
    assume(got is not None)
    assert got is not None
    full, expected = got
    assert json.loads(full.to_json()) == json.loads(expected)
    assert full.to_json() == expected


@given(els.household_data(regions=REGIONS), DATES)
def test_compact_with_the_manifest_is_the_full_trace(data: dict[str, Any], on: date) -> None:
    """The compact trace is enough: joined with the manifest (both as JSON, nothing else) it gives the
    full trace byte for byte; and the decision itself is the same at every trace level."""
    try:
        full = ENGINE.evaluate(data, on, trace="full")
    except EvaluationError:
        assume(False)
        return
    compact = ENGINE.evaluate(data, on)
    none = ENGINE.evaluate(data, on, trace="none")
    assert isinstance(compact.trace, CompactTrace) and none.trace is None
    manifest = json.loads(json.dumps(ENGINE.manifest(compact.trace.program), ensure_ascii=False))
    # The wire form (no labels, rule indices) read back with the manifest is the labelled decision.
    compact_json = read_decision(compact.to_json(), manifest)
    assert compact_json == json.loads(compact.model_dump_json())
    expanded = expand(manifest, compact_json["trace"])
    assert Trace.model_validate(expanded).model_dump(mode="json") == json.loads(full.to_json())["trace"]
    rebuilt = Decision.model_validate({**compact_json, "trace": expanded})
    assert rebuilt.to_json() == full.to_json()
    assert ENGINE.full_json(compact) == full.to_json()
    assert ENGINE.full_json(compact, indent=None) == full.to_json(indent=None)
    strip = {"trace"}
    assert none.model_dump(exclude=strip) == full.model_dump(exclude=strip) == compact.model_dump(exclude=strip)


@given(els.household_data(regions=REGIONS), DATES)
def test_engine_output_has_the_models_shape(data: dict[str, Any], on: date) -> None:
    """What the engine builds without validation on the hot path validates as the models it claims."""
    try:
        d = ENGINE.evaluate(data, on, trace="none")
    except EvaluationError:
        assume(False)
        return
    assert Decision.model_validate(d.model_dump()).model_dump() == d.model_dump()
