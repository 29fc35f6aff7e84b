"""durable-rules as the auditor: ``Engine(verify="durable")``, ``eligibility verify``, warnings at the boundary."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eligibility import _durable
from eligibility.cli import main

pytestmark = pytest.mark.skipif(not _durable.AVAILABLE, reason="durable-rules does not import here")

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_verify_counts_agreement_over_the_examples() -> None:
    code, out = run("verify", str(EX), "--as-of", "2023-09-30")
    assert code == 0
    n = len(list(EX.glob("*.json")))  # every example household
    assert f"checked {n}: {n} agree, 0 disagree; 0 not sampled, 0 could not be evaluated" in out


def test_verify_sample_is_deterministic_and_partial() -> None:
    first = run("verify", str(EX), "--as-of", "2023-09-30", "--sample", "0.5")[1]
    assert first == run("verify", str(EX), "--as-of", "2023-09-30", "--sample", "0.5")[1]
    n = len(list(EX.glob("*.json")))
    checked = int(re.search(r"checked (\d+):", first).group(1))
    skipped = int(re.search(r"(\d+) not sampled", first).group(1))
    assert 0 < checked < n and checked + skipped == n, first


def test_verify_reports_every_disagreement_with_its_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Rete result that differs for one rule is reported (rule, both outcomes, input digest), and
    the command fails — the check can fail."""
    real = _durable.DurableBackend.outcomes

    def flipped(self: Any, *args: Any) -> dict[str, str]:
        got = dict(real(self, *args))
        rid = "identification.income_below_line"
        got[rid] = "not_fired" if got[rid] == "fired" else "fired"
        return got

    monkeypatch.setattr(_durable.DurableBackend, "outcomes", flipped)
    code, out = run("verify", str(EX / "01-huaibei-marginal.json"), "--as-of", "2023-09-30")
    assert code == 1
    rec = json.loads(out.splitlines()[0])
    assert rec["rules"] == {"identification.income_below_line": ["fired", "not_fired"]}
    assert rec["input_digest"].startswith("sha256:")
    assert "1 disagree" in out


def test_deprecation_warnings_as_errors_do_not_break_a_verified_evaluation() -> None:
    """A caller's suite run with ``-W error::DeprecationWarning`` (durable-rules uses APIs deprecated in
    Python 3.12) still gets decisions."""
    code = (
        "from eligibility import Engine; import sys; "
        "e = Engine(verify='durable'); "
        "d = e.evaluate(open(sys.argv[1], encoding='utf-8').read(), '2023-09-30'); "
        "print(d.identification.status)"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code, str(EX / "01-huaibei-marginal.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "identified"
