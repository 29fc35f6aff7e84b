"""Shared fixtures: the bundled rules, one engine, and a writable copy of the rules for broken-file tests."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from eligibility import Engine, load_rules
from eligibility.ruleset import RuleSet

# The loaded-rules cache of the test run lives in a folder of its own, never in the user's ~/.cache
# (tests that exercise the cache set ELIGIBILITY_CACHE_DIR themselves).
os.environ.setdefault("ELIGIBILITY_CACHE_DIR", tempfile.mkdtemp(prefix="eligibility-test-cache-"))

# decide_table decides a part of fewer rows than a threshold with the Python target (compile/rowwise.py);
# the tests' tables are small, so without this every test comparing decide_table or run_batch with the
# engine would compare the engine with itself. 0 keeps every part columnar (the target these tests are
# about); the row-by-row path's own tests pass ``rowwise=`` explicitly, which overrides this.
os.environ.setdefault("ELIGIBILITY_BATCH_ROWWISE", "0")

# Hypothesis profiles: "quick" for `make test` (CI: 2 cores, the whole suite in a few minutes) and
# "thorough" for `make proptest`. Choose with HYPOTHESIS_PROFILE; quick is the default.
settings.register_profile(
    "quick", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
settings.load_profile(PROFILE)


THOROUGH_POPULATIONS = int(os.environ.get("ELIGIBILITY_PROPTEST_POPULATIONS", "400"))
"""Examples of a population property under "thorough" (`make proptest`): 400 unless
``ELIGIBILITY_PROPTEST_POPULATIONS`` says otherwise. Until session 29 they ran the profile's 2,000, at
0.5–0.9 s an example (a population of up to 30 households, decided by two targets): by the figures of
the 400-example run, the seven such properties of `make proptest` alone would take about two and a half
hours at 2,000, and the suite never finished within a working session (session 28 stopped it after two
hours, 49 of its 66 tests passed). 400 populations of up to 30
households are still several thousand households decided by both targets per property."""


def population_examples(quick: int) -> settings:
    """Settings for a property whose one example is a whole population decided by several targets.

    Such an example costs what dozens of single-household examples cost, so under the quick profile
    (`make test`, which must stay within its CI budget) the property runs ``quick`` of them; under
    "thorough" (`make proptest`) it runs :data:`THOROUGH_POPULATIONS`.
    """
    return settings(max_examples=quick if PROFILE == "quick" else THOROUGH_POPULATIONS)


ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT / "examples" / "households"


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules(RULES)


@pytest.fixture(scope="session")
def engine(ruleset: RuleSet) -> Engine:
    return Engine(ruleset)


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled rules, shown as ``rules`` in diagnostics (cwd is tmp_path)."""
    dest = tmp_path / "rules"
    shutil.copytree(RULES, dest, ignore=shutil.ignore_patterns("tests"))
    return dest


def household(**changes: Any) -> dict[str, Any]:
    """A complete 一般农户 of three in 淮北 (per-capita income = wage / 3), with ``changes`` merged in."""
    base = json.loads((EXAMPLES / "03-huaibei-at-line-not-identified.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def wage_only(total: float) -> dict[str, Any]:
    """Income of the window made of wages alone, so per-capita income is ``total / 3`` for the base family."""
    return {"wage": total, "business_income": 0, "business_cost": 0, "property": 0, "transfer": 0}
