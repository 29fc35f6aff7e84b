"""The example households that ``make demo`` prints: each one's decision is checked here."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from eligibility import Engine
from eligibility.cli import main

EX = Path(__file__).resolve().parent.parent / "examples" / "households"
AS_OF = "2023-09-30"

EXPECTED = {
    "01-huaibei-marginal": ("identified", "marginal", [], []),
    "02-huaibei-unstable-former-poor": ("identified", "unstable_former_poor", [], []),
    "03-huaibei-at-line-not-identified": ("not_identified", None, [], []),
    "04-huaibei-housing-risk-above-line": ("needs_review", None, ["housing_safety"], ["guarantee_risk_above_line"]),
    "05-huaibei-water-risk-above-line": ("needs_review", None, ["drinking_water"], ["guarantee_risk_above_line"]),
    "06-gansu-education-risk-above-line": (
        "needs_review",
        None,
        ["compulsory_education"],
        ["guarantee_risk_above_line"],
    ),
    "07-gansu-medical-risk-self-coping": ("not_identified", None, ["basic_medical"], []),
    "08-huaibei-exclusion-evidence": ("needs_review", None, [], []),
    "09-huaibei-missing-water-data": ("needs_review", None, [], []),
    "10-gansu-already-monitored": ("already_monitored", None, [], []),
    "11-huaibei-sudden-hardship-rigid-spending": ("needs_review", None, [], ["rigid_spending_hardship"]),
    "12-gansu-food-and-water-below-line": (
        "identified",
        "unstable_former_poor",
        ["drinking_water", "food_clothing"],
        [],
    ),
}


def test_every_example_is_listed() -> None:
    assert sorted(p.stem for p in EX.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_decision(engine: Engine, name: str) -> None:
    status, category, risks, reviews = EXPECTED[name]
    d = engine.evaluate((EX / f"{name}.json").read_text(encoding="utf-8"), AS_OF).identification
    assert d.status == status
    assert (d.category.code if d.category else None) == category
    assert [r.code for r in d.risks if r.certain] == risks
    assert [r.code for r in d.reviews if r.certain] == reviews


def test_exclusion_example_lists_its_evidence(engine: Engine) -> None:
    d = engine.evaluate((EX / "08-huaibei-exclusion-evidence.json").read_text(encoding="utf-8"), AS_OF)
    assert [e.code for e in d.identification.exclusions] == ["commercial_housing", "vehicle"]
    assert [c.code for c in d.identification.candidate_categories] == ["marginal"]


def test_missing_water_example_names_the_water_fields(engine: Engine) -> None:
    d = engine.evaluate((EX / "09-huaibei-missing-water-data.json").read_text(encoding="utf-8"), AS_OF)
    fields = {f for m in d.identification.blocking for f in m.fields}
    assert "$.water.litres_per_person_day" in fields and "$.water.quality" in fields


def test_demo_summary_prints_every_example() -> None:
    out = io.StringIO()
    assert main(["evaluate", str(EX), "--as-of", AS_OF, "--summary"], out=out) == 0
    text = out.getvalue()
    assert "12 households: 12 decisions, 0 errors" in text
    assert "HB-001 [淮北市] identified 边缘易致贫户" in text


def test_examples_are_valid_json() -> None:
    for p in EX.glob("*.json"):
        assert json.loads(p.read_text(encoding="utf-8"))["household_id"]
