"""``eligibility diff``: raising one province's line moves exactly the households between the two lines.

The expected movers are computed here with the per-household engine (``Engine.evaluate``), the other
compile target, so the columnar what-if is checked against an independent evaluation of the same rules.
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eligibility import Engine, load_rules
from eligibility.cli import main
from eligibility.errors import EligibilityError
from eligibility.whatif import impact

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"

BASE: dict[str, Any] = {
    "region": "621102001001",
    "household_type": "一般农户",
    "members": [
        {"member_id": "1", "birth_date": "1975-03-02", "health": ["健康"], "schooling": "非在校生",
         "basic_medical_insurance": True, "public_payroll": False},
        {"member_id": "2", "birth_date": "1977-08-12", "health": ["健康"], "schooling": "非在校生",
         "basic_medical_insurance": True, "public_payroll": False},
        {"member_id": "3", "birth_date": "2008-09-01", "health": ["健康"], "schooling": "普通高中", "dropped_out": False,
         "basic_medical_insurance": True, "public_payroll": False},
    ],
    "income": {"wage": 21600, "business_income": 0, "business_cost": 0, "property": 0, "transfer": 0},
    "rigid_expenditure": {"medical_self_pay": 0, "education": 0, "disaster_loss": 0},
    "housing": {"grade": "A", "only_dwelling": True},
    "water": {"litres_per_person_day": 60, "water_short_area": False, "piped": True, "outage_days_per_year": 0, "quality": "达标"},
    "basic_needs": {"food_secure": True, "clothing_secure": True},
    "evidence": {"commercial_housing": False, "vehicle": False, "business_registration": False, "public_payroll": False},
    "circumstances": {"disaster": False, "accident": False, "main_labourer_lost": False, "business_failed": False,
                      "employment_unstable": False, "self_coping": False},
    "monitoring": {"status": "未纳入监测"},
}  # fmt: skip

# per-capita incomes around Gansu's 2023 line (7,200), 2024 line (7,800) and the raised line (8,200)
PER_CAPITA = ["7100", "7199.99", "7200", "7500", "7799.99", "7800", "7800.01", "8000", "8199.99", "8200", "8300"]


def _household(i: int, per_capita: str, region: str = "621102001001") -> dict[str, Any]:
    h = copy.deepcopy(BASE)
    h["household_id"] = f"GS-{i:03d}"
    h["region"] = region
    # a JSON number (strict input): the shortest float text of a 2-decimal amount is the amount itself
    h["income"]["wage"] = float(Decimal(per_capita) * 3)
    return h


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pop") / "households.jsonl"
    rows = [_household(i, pc) for i, pc in enumerate(PER_CAPITA)]
    rows.append(_household(90, "8000", region="530101001001"))  # Yunnan: its line does not change
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.append('{"household_id": "BAD", "region": 12}')  # one bad record: one error, nothing dropped
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of rules/ with Gansu's 2024 line raised from 7,800 to 8,200."""
    root = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(RULES, root)
    f = root / "gansu" / "parameters" / "income.yaml"
    text = f.read_text(encoding="utf-8")
    assert "value: 7800\n" in text
    f.write_text(text.replace("value: 7800\n", "value: 8200\n"), encoding="utf-8")
    return root


def _statuses(rules: Path, population: Path, on: str) -> dict[str, str]:
    engine = Engine(rules)
    out = {}
    for line in population.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        if raw["household_id"] == "BAD":
            continue
        try:
            out[raw["household_id"]] = engine.evaluate(raw, on, trace="none").identification.status
        except EligibilityError:
            out[raw["household_id"]] = "error"
    return out


def test_raising_the_gansu_line_lists_exactly_the_households_that_enter(population: Path, raised: Path) -> None:
    before = _statuses(RULES, population, "2024-06-30")
    after = _statuses(raised, population, "2024-06-30")
    expected = {h for h in before if before[h] != "identified" and after[h] == "identified"}
    assert expected == {"GS-005", "GS-006", "GS-007", "GS-008"}  # 7,800 ≤ income < 8,200

    imp = impact([population], load_rules(RULES), load_rules(raised), date(2024, 6, 30))
    entering = {c.household_id for c in imp.changes if c.movement == "enters"}
    assert entering == expected
    assert {c.household_id for c in imp.changes} == expected  # nobody else changes
    assert imp.entering() == (4, 12)
    assert len(imp.read_errors) == 1 and imp.households == len(PER_CAPITA) + 1
    # each with the threshold that moved it: the income rule, the value and both lines
    c = next(c for c in imp.changes if c.household_id == "GS-005")
    flip = next(f for f in c.rules if f.rule == "identification.income_below_line")
    assert (flip.old, flip.new) == ("not_fired", "fired")
    (cmp,) = flip.comparisons
    assert cmp.parameter == "monitoring_line"
    assert (cmp.old_threshold, cmp.new_threshold) == (Decimal(7800), Decimal(8200))
    assert cmp.new_value == Decimal("7800")
    assert cmp.describe() == "家庭人均纯收入 7,800 ≥ 7,800 → 7,800 < 8,200（参数 / parameter monitoring_line）"
    village = imp.totals("village")
    assert village == [("621102001001", "新纳入 / enters", 4, 12)]


def test_next_years_line_on_one_rule_set(population: Path) -> None:
    """--as-of 2023 --vs-as-of 2024 on the bundled rules: Gansu's line goes from 7,200 to 7,800."""
    before = _statuses(RULES, population, "2023-06-30")
    after = _statuses(RULES, population, "2024-06-30")
    expected = {h for h in before if before[h] not in ("identified", "error") and after[h] == "identified"}
    # Gansu: 7,200 ≤ income < 7,800. (Yunnan has no line in 2023: its household GS-090 is an error, or
    # undecided on the income test where a missing line makes that test unknown, and then it enters.)
    assert expected - {"GS-090"} == {"GS-002", "GS-003", "GS-004"}
    rules = load_rules(RULES)
    imp = impact([population], rules, rules, date(2023, 6, 30), date(2024, 6, 30))
    assert {c.household_id for c in imp.changes if c.movement == "enters"} == expected
    undecidable = [c.household_id for c in imp.changes if c.movement == "undecidable"]
    assert undecidable == (["GS-090"] if before["GS-090"] == "error" else [])  # an error is not "entering"


def test_cli_writes_markdown_csv_and_excel(population: Path, raised: Path, tmp_path: Path, capsys: Any) -> None:
    args = ["diff", str(RULES), str(raised), "--population", str(population), "--as-of", "2024-06-30"]
    assert main(args) == 1  # the bad record is reported (exit 1), the rest is compared
    md = capsys.readouterr().out
    assert "新纳入监测 4 户 12 人" in md and "| GS-005 |" in md and "7,800 < 8,200" in md
    assert main([*args, "-o", str(tmp_path / "r.csv")]) == 1
    csv = pl.read_csv(tmp_path / "r.csv")
    assert sorted(csv["户编号 / household"].to_list()) == ["GS-005", "GS-006", "GS-007", "GS-008"]
    assert main([*args, "-o", str(tmp_path / "r.xlsx")]) == 1
    totals = pl.read_excel(tmp_path / "r.xlsx", sheet_name="汇总 totals")
    assert totals.filter(pl.col("分组 / by") == "movement")["户数 / households"].to_list() == [4]


def test_cli_usage_errors(population: Path) -> None:
    assert main(["diff", str(RULES), "--population", str(population), "--as-of", "2024-06-30"]) == 2
    assert main(["diff", str(RULES), str(RULES), "--population", str(population), "--as-of", "2024-13-01"]) == 2
