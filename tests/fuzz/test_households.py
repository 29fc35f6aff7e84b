"""Corrupted households through the API and the CLI batch (issue 13 §1, §2, §5, §6).

The contract: every input record yields exactly one decision or one error — decisions + errors ==
inputs — with no traceback, no hang (2 s a record at most), and no sensitive value (ID number, mobile,
bank account; health status in errors and notices) echoed into any output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eligibility import EligibilityError, Engine, HouseholdError, parse_household
from eligibility.explain import explain

from .conftest import COUNTS
from .corrupt import FUZZ_EXAMPLES, HEALTH_MARKER, SENSITIVE, corrupted_lines

ENGINE = Engine()
AS_OF = "2023-09-30"
PER_RECORD_SECONDS = 2.0
"""A hang, not a speed limit: CPU seconds of one record (wall time on a shared machine is not the record's)."""
for _region in ("340602001001", "620102001001", "350121001001"):  # compile each program once, up front
    ENGINE.evaluate({"household_id": "warm-up", "region": _region}, AS_OF, trace="full")
# No shrinking: a corrupted text shrinks slowly, and the failing example is printed as it is found.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None, phases=_PHASES)


def _no_secrets(text: str, *, health: bool = False, keys: frozenset[str] = frozenset()) -> None:
    """No marker value in ``text``. Health statuses are a closed list that error messages name as the
    allowed values, so for them the property is that no error echoes the input at all: a marker
    health-like text sent as a name or a region never comes back (BAD_VALUES has it). ``keys``: the
    county's own identifiers of the record (member ids), which a decision names by design — a marker the
    corruption put into one of them is that key, not a leak."""
    for value in SENSITIVE + ((HEALTH_MARKER,) if health else ()):
        if not any(value in k for k in keys):
            assert value not in text


@_SETTINGS
@given(corrupted_lines())
def test_every_record_is_one_decision_or_one_error_through_the_api(line: bytes) -> None:
    t0 = time.process_time()
    try:
        household = parse_household(line)
        decision = ENGINE.evaluate(household, AS_OF, trace="full")
    except HouseholdError as exc:
        COUNTS["api: invalid household errors"] += 1
        assert exc.errors and all(e.path.startswith("$") and e.code for e in exc.errors)
        _no_secrets(str(exc), health=True)
    except EligibilityError as exc:
        COUNTS["api: other errors"] += 1
        _no_secrets(str(exc), health=True)
    else:
        COUNTS["api: decisions"] += 1
        # The household id and the member ids are the county's own keys and come back by design, whatever
        # they look like (a corrupted record may carry a bank account number as a member id).
        keys = frozenset(m.member_id for m in household.members or () if m.member_id)
        _no_secrets(decision.to_json().replace(household.household_id, "<id>"), keys=keys)
        _no_secrets(explain(decision).replace(household.household_id, "<id>"), keys=keys)
    assert time.process_time() - t0 < PER_RECORD_SECONDS, "a record took longer than a hang allows"


def _member_ids(lines: list[bytes]) -> frozenset[str]:
    """The member ids of the records that are JSON objects with a list of members (the others have none
    a decision could name; nor has a line nested too deep for ``json``, which the command refuses too)."""
    ids: set[str] = set()
    for line in lines:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            continue
        household = data.get("household", data) if isinstance(data, dict) else None
        members = household.get("members") if isinstance(household, dict) else None
        for m in members if isinstance(members, list) else ():
            if isinstance(m, dict) and isinstance(m.get("member_id"), str) and m["member_id"]:
                ids.add(m["member_id"])
    return frozenset(ids)


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "eligibility.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=timeout, check=False)


@settings(
    max_examples=max(2, FUZZ_EXAMPLES // 10), suppress_health_check=list(HealthCheck), deadline=None, phases=_PHASES
)
@given(st.lists(corrupted_lines(), min_size=1, max_size=30))
def test_every_line_is_one_decision_or_one_error_through_the_cli(tmp_path_factory: object, lines: list[bytes]) -> None:
    folder = Path(str(tmp_path_factory.mktemp("batch")))  # type: ignore[attr-defined]
    path = folder / "households.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    numbers = [n for n, line in enumerate(path.read_bytes().split(b"\n")[:-1], 1) if line.strip()]
    timeout = 180 + PER_RECORD_SECONDS * len(numbers)  # start-up and rule loading on a busy machine
    run = _run("evaluate", str(path), "--jsonl", "--as-of", AS_OF, "--trace", "compact", timeout=timeout)
    assert "Traceback" not in run.stderr
    out = run.stdout.splitlines()
    records = [json.loads(x) for x in out]
    assert [r["input"] for r in records] == [f"{path}:{n}" for n in numbers]  # one each, in input order
    assert all(("decision" in r) != ("error" in r) for r in records)
    errors = sum("error" in r for r in records)
    COUNTS["cli: inputs"] += len(numbers)
    COUNTS["cli: decisions"] += len(records) - errors
    COUNTS["cli: errors"] += errors
    assert run.returncode == (1 if errors else 0)
    keys = _member_ids(lines)  # the county's own keys, named by the decisions (see the API test)
    for r in records:
        hid = r["decision"]["household_id"] if "decision" in r else "\0"
        _no_secrets(json.dumps(r, ensure_ascii=False).replace(hid, "<id>"), health="error" in r, keys=keys)
    _no_secrets(run.stderr, health=True)

    notice = _run("publicity", str(path), "--as-of", AS_OF, "--format", "csv", timeout=timeout)
    assert "Traceback" not in notice.stderr
    _no_secrets(notice.stdout + notice.stderr, health=True)
    for row in notice.stdout.splitlines()[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row.split(","))
    summary = _run("evaluate", str(path), "--summary", "--as-of", AS_OF, timeout=timeout)
    assert "Traceback" not in summary.stderr and "\x1b" not in summary.stdout and "\u202e" not in summary.stdout
    assert f"{len(numbers)} households: {len(numbers) - errors} decisions, {errors} errors" in summary.stdout
