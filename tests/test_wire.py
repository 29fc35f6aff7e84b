"""The compact wire form of a decision (issue 9 §5: compact decision JSON ≤ 2 KiB; docs/trace.md).

``Decision.to_json()`` at ``trace="compact"`` writes no labels, no scheme wording, no configuration gaps and
rule ids as manifest indices; with the program's manifest, :func:`read_decision` gives the labelled
decision back exactly, and ``Engine.full_json`` of what was read is the full trace byte for byte. A
consumer without the manifest still reads the status, category, codes, measures, exit and dates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import strategies as els
from eligibility.compile.wire import read_decision
from eligibility.decision import CompactTrace, Decision
from eligibility.errors import EvaluationError

from .conftest import EXAMPLES, RULES

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
REGIONS = sorted({r + "0" * (12 - len(r)) for p in RULESET.packs.values() for r in p.regions})
AS_OF = date(2023, 9, 30)
DATES = st.sampled_from([date(2021, 9, 30), date(2023, 9, 30), date(2025, 12, 31), date(2026, 1, 1)])


def _manifest(d: Decision) -> dict[str, Any]:
    """The manifest as JSON data, as a consumer would store it (nothing but JSON on the way)."""
    assert isinstance(d.trace, CompactTrace)
    return json.loads(json.dumps(ENGINE.manifest(d.trace.program), ensure_ascii=False))  # type: ignore[no-any-return]


def _check(d: Decision) -> str:
    """Everything the wire form promises, for one compact decision; its wire text."""
    full = ENGINE.expand(d)
    wire = d.to_json()
    assert "\n" not in wire and wire == d.to_json(indent=None)
    data = json.loads(wire)
    m = _manifest(d)
    got = read_decision(wire, m)
    assert got == json.loads(d.model_dump_json())  # the labelled form, exactly
    back = Decision.model_validate(got)
    assert back.to_json() == wire  # read and written again: the same bytes
    assert ENGINE.full_json(back) == full.to_json()  # and the full trace from what was read
    assert ENGINE.full_json(back, indent=None) == full.to_json(indent=None)
    # Without the manifest: codes, not labels.
    assert data["identification"]["status"] == d.identification.status
    assert data["jurisdiction"] == d.jurisdiction.code
    cat = d.identification.category
    assert data["identification"].get("category") == (cat.code if cat else None)
    assert [f[0] for f in data["identification"].get("risks", [])] == [f.code for f in d.identification.risks]
    assert [f[0] for f in data.get("assistance", {}).get("required", [])] == [f.code for f in d.assistance.required]
    assert data.get("exit", {}).get("status", "not_applicable") == d.exit.status
    assert [p[3] for p in data.get("procedure", [])] == [p.due.isoformat() if p.due else None for p in d.procedure]
    head = json.dumps({k: v for k, v in data.items() if k != "trace"}, ensure_ascii=False)
    for f in (*d.identification.risks, *d.assistance.required, *d.procedure, *d.warnings):
        assert f.zh not in head  # labels are the manifest's (the trace's values are the household's own)
    return wire


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_reads_back_from_its_wire_form(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    on = data.get("as_of", AS_OF.isoformat())  # an envelope carries its own date
    try:
        d = ENGINE.evaluate(data.get("household", data), on)
    except EvaluationError:
        pytest.skip("no rules in force for this example on the date")
    if not isinstance(d.trace, CompactTrace):  # no region: a full trace, written as it always was
        assert d.to_json() == d.model_dump_json(indent=2)
        return
    wire = _check(d)
    assert len(wire.encode()) < len(d.model_dump_json().encode()) / 3


@settings(max_examples=60, deadline=None)
@given(els.household_data(regions=REGIONS), DATES)
def test_generated_households_read_back_from_their_wire_form(data: dict[str, Any], on: date) -> None:
    """For any household the strategies make, on dates either side of the 2026 change of scheme."""
    try:
        d = ENGINE.evaluate(data, on)
    except EvaluationError:
        assume(False)
        return
    assume(isinstance(d.trace, CompactTrace))
    _check(d)


def test_full_and_none_decisions_are_written_as_before() -> None:
    text = (EXAMPLES / "13-huaibei-exit-blocked-at-5-months.json").read_text(encoding="utf-8")
    for level in ("full", "none"):
        d = ENGINE.evaluate(text, AS_OF, trace=level)  # type: ignore[arg-type]
        assert d.to_json() == d.model_dump_json(indent=2)
        assert d.to_json(indent=None) == d.model_dump_json()


def test_a_wire_decision_needs_its_own_programs_manifest() -> None:
    a = ENGINE.evaluate((EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8"), AS_OF)
    b = ENGINE.evaluate((EXAMPLES / "06-gansu-education-risk-above-line.json").read_text(encoding="utf-8"), AS_OF)
    assert isinstance(a.trace, CompactTrace) and isinstance(b.trace, CompactTrace)
    assert a.trace.program != b.trace.program
    with pytest.raises(ValueError, match="manifest"):
        read_decision(a.to_json(), _manifest(b))


def test_the_labelled_form_reads_as_it_is() -> None:
    """A compact decision stored in the labelled form (before the wire form, or from the service) is
    returned unchanged by the reader."""
    d = ENGINE.evaluate((EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8"), AS_OF)
    labelled = json.loads(d.model_dump_json())
    assert read_decision(labelled, _manifest(d)) is labelled


def test_wire_bytes_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """The CLI's compact JSON Lines over the examples, byte for byte under two hash seeds."""
    cmd = [sys.executable, "-m", "eligibility.cli", "evaluate", str(EXAMPLES), "--jsonl", "--trace", "compact"]
    cmd += ["--as-of", AS_OF.isoformat()]
    outs = [
        subprocess.run(cmd, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300).stdout
        for seed in ("1", "77")
    ]
    assert outs[0] == outs[1]
    lines = outs[0].decode("utf-8").splitlines()
    assert sum('"slots"' in line for line in lines) >= 20  # wire-form decisions, not errors
