"""Issue 11 leftovers in every target: the education-aid gap for pupils in school, 曾都's tiers by each
member's 低保/特困 flags, and the recorded microcredit checked against the loan terms.

The rules use only the existing grammar, so the compiled Python evaluator, the polars target and the
reference interpreter must give the same decision on every YAML case of these rules and on generated
households that carry a loan; the cases must actually exercise the new rules (not vacuous).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import strategies as els
from eligibility._oracle import ReferenceInterpreter
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.models import parse_household
from eligibility.testing import collect

from .conftest import RULES, population_examples

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
ORACLE = ReferenceInterpreter(RULESET, engines=("reference",))
CASE_FILES = (
    RULES / "national" / "tests" / "microcredit.yaml",
    RULES / "hubei-zengdu" / "tests" / "insurance.yaml",
    RULES / "national" / "tests" / "members.yaml",
)
LOAN_CODES = {
    "microcredit_borrower_not_member",
    "microcredit_borrower_age",
    "microcredit_amount_over_cap",
    "microcredit_term_too_long",
}


def _cases(path: Path) -> list[tuple[str, dict[str, Any], date]]:
    cases, problems = collect(path)
    assert not problems
    return [(c.name, c.household, c.as_of) for c in cases if c.household is not None]


def _polars_rows(population: list[tuple[dict[str, Any], date]]) -> list[dict[str, Any]]:
    frame = households_frame([parse_household(h) for h, _ in population], [on for _, on in population])
    return list(decide_table(RULESET, frame).iter_rows(named=True))


def _agree(population: list[tuple[dict[str, Any], date]], names: list[str]) -> list[Any]:
    """Compiled, reference and polars give the same decision on each household; the compiled decisions."""
    rows = _polars_rows(population)
    decisions = []
    for name, (h, on), row in zip(names, population, rows, strict=True):
        ours = ENGINE.evaluate(h, on, trace="none")
        oracle = ORACLE.evaluate(h, on)
        assert ours.procedure == oracle.procedure, name
        assert ours.assistance == oracle.assistance, name
        expected = decision_row(ours)
        for key, value in expected.items():
            assert row[key] == value, (name, key)
        decisions.append(ours)
    return decisions


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_the_three_targets_agree_on_the_rule_tests(path: Path) -> None:
    cases = _cases(path)
    decisions = _agree([(h, on) for _, h, on in cases], [n for n, _, _ in cases])
    codes = {f.code for d in decisions for f in (*d.procedure, *d.assistance.required, *d.assistance.gaps)}
    wanted = {
        "microcredit.yaml": LOAN_CODES,
        "insurance.yaml": {"insurance_subsidy_tekun", "insurance_subsidy_dibao", "insurance_subsidy_former_poor"},
        "members.yaml": {"education_aid_missing"},
    }[path.name]
    assert wanted <= codes  # the cases reach every new conclusion


def test_a_loan_term_without_data_is_unknown_not_passed() -> None:
    _, h, on = next(c for c in _cases(CASE_FILES[0]) if c[0].startswith("金额未填"))
    d = ENGINE.evaluate(h, on, trace="none")
    [cap] = [f for f in d.procedure if f.code == "microcredit_amount_over_cap"]
    assert not cap.certain
    assert not [f for f in d.procedure if f.code == "microcredit_term_too_long"]


def test_a_household_without_a_loan_gets_no_loan_finding_at_all() -> None:
    _, h, on = next(c for c in _cases(CASE_FILES[0]) if c[0].startswith("没有贷款记录"))
    assert h.get("loan") is None
    d = ENGINE.evaluate(h, on, trace="none")
    assert not {f.code for f in d.procedure} & LOAN_CODES


def test_the_borrower_age_is_taken_on_the_start_date_not_the_assessment_date() -> None:
    """17 on the start date and 18 on the assessment date: the loan was outside the age range."""
    _, h, on = next(c for c in _cases(CASE_FILES[0]) if c[0].startswith("放款日差一天满18周岁"))
    d = ENGINE.evaluate(h, on, trace="none")
    [age] = [f for f in d.procedure if f.code == "microcredit_borrower_age"]
    assert age.certain and age.due == date(2024, 3, 1)


@st.composite
def _with_loan(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    """A generated household that always carries a (possibly partial) loan, on a date around the first
    day of the bundled terms."""
    h = draw(els.household_data(missing=True))
    h["loan"] = draw(els._loan())
    for key in list(h["loan"]):
        if draw(st.integers(0, 5)) == 0:
            del h["loan"][key]
    on = draw(st.sampled_from([date(2023, 12, 31), date(2024, 1, 1), date(2024, 6, 30), date(2025, 3, 31)]))
    return h, on


@population_examples(25)
@given(st.lists(_with_loan(), min_size=1, max_size=6))
def test_generated_loans_are_decided_alike_in_every_target(population: list[tuple[dict[str, Any], date]]) -> None:
    _agree(population, [h["household_id"] for h, _ in population])
