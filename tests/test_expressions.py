"""The formula language: Kleene logic, unknown propagation, aggregates, dates, parse errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from eligibility.expressions import (
    UNKNOWN,
    ExprError,
    check,
    compile_expr,
    format_value,
    kleene_and,
    kleene_not,
    kleene_or,
    parse,
    substitute,
)
from eligibility.loader import _Resolver

T, F, U = True, False, UNKNOWN


@pytest.mark.parametrize(
    ("a", "b", "and_", "or_"),
    [
        (T, T, T, T),
        (T, F, F, T),
        (T, U, U, T),
        (F, F, F, F),
        (F, U, F, U),
        (U, U, U, U),
    ],
)
def test_kleene_truth_tables(a: Any, b: Any, and_: Any, or_: Any) -> None:
    assert kleene_and([a, b]) is and_ and kleene_and([b, a]) is and_
    assert kleene_or([a, b]) is or_ and kleene_or([b, a]) is or_


def test_not_keeps_unknown() -> None:
    assert kleene_not(UNKNOWN) is UNKNOWN and kleene_not(True) is False


def test_unknown_has_no_truth_value() -> None:
    with pytest.raises(TypeError):
        bool(UNKNOWN)


@dataclass
class Env:
    fields: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)
    as_of: date = date(2024, 2, 29)
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        return self.params[name]


def run(src: str, env: Env) -> Any:
    node = parse(src)
    check(node, _Resolver([]))
    return compile_expr(node)(env, None)


MEMBERS = [
    {"birth_date": date(2018, 2, 28), "dropped_out": True, "health": frozenset({"残疾"}), "disability_grade": 1},
    {"birth_date": UNKNOWN, "dropped_out": UNKNOWN, "health": UNKNOWN, "disability_grade": UNKNOWN},
    {
        "birth_date": date(1980, 3, 1),
        "dropped_out": UNKNOWN,
        "health": frozenset({"健康"}),
        "disability_grade": UNKNOWN,
    },
]


def test_arithmetic_with_an_unknown_is_unknown() -> None:
    env = Env({"income.wage": Decimal(100), "income.transfer": UNKNOWN})
    assert run("income.wage + 1", env) == 101
    assert run("income.wage + income.transfer", env) is UNKNOWN


def test_division_is_exact_and_by_zero_is_unknown() -> None:
    env = Env({"income.wage": Decimal("23699.97"), "members": []})
    assert run("income.wage / 3", env) == Decimal("7899.99")
    assert run("income.wage / count(members)", env) is UNKNOWN


def test_age_uses_whole_years_and_leap_days() -> None:
    members = [MEMBERS[0], {**MEMBERS[2], "dropped_out": False}]
    env = Env({"members": members})
    # born 2018-02-28: on 2024-02-29 the child is 6; born 1980-03-01: still 43 the day before
    assert run("max(members, age(member.birth_date) where member.dropped_out == true)", env) == 6
    assert run("max(members, age(member.birth_date))", env) == 43
    # a member whose filter is unknown makes the aggregate unknown, not silently smaller
    assert (
        run("max(members, age(member.birth_date) where member.dropped_out == true)", Env({"members": MEMBERS}))
        is UNKNOWN
    )


def test_any_is_true_when_one_member_is_true_despite_unknowns() -> None:
    env = Env({"members": MEMBERS})
    assert run("any(members, member.dropped_out == true)", env) is True
    assert run("all(members, member.dropped_out == true)", env) is UNKNOWN


def test_count_with_an_undecidable_filter_is_unknown() -> None:
    env = Env({"members": MEMBERS})
    assert run("count(members where '残疾' in member.health)", env) is UNKNOWN
    assert run("count(members)", env) == 3


def test_where_filter_false_for_adults_settles_the_question() -> None:
    env = Env({"members": [MEMBERS[2]]})
    assert run("any(members, member.dropped_out == true where age(member.birth_date) <= 15)", env) is False


def test_months_between_counts_whole_months() -> None:
    env = Env({"monitoring.identified_on": date(2023, 8, 31)})
    # dateutil clips month ends: 2023-08-31 plus six months is 2024-02-29, so six whole months
    assert run("months_since(monitoring.identified_on)", env) == 6
    env.as_of = date(2024, 2, 28)
    assert run("months_since(monitoring.identified_on)", env) == 5
    assert run("months_between(monitoring.identified_on, monitoring.identified_on)", env) == 0


def test_if_with_unknown_condition() -> None:
    env = Env({"water.water_short_area": UNKNOWN})
    assert run("if(water.water_short_area, 20, 35)", env) is UNKNOWN
    assert run("if(water.water_short_area, 20, 20)", env) == 20


def test_is_known_is_never_unknown() -> None:
    assert run("is_known(income.wage)", Env({"income.wage": UNKNOWN})) is False


@pytest.mark.parametrize(
    ("src", "code", "offset"),
    [
        ("income.wage +", "EL209", 13),
        ("income.wag + 1", "EL204", 0),
        ("income.wage == true", "EL208", 12),
        ("household_type == '贫困户'", "EL213", 18),
        ("ages(members)", "EL211", 0),
        ("param.nothing + 1", "EL205", 0),
        ("sum(members, member.health)", "EL208", 13),
        ("income.wage # 2", "EL209", 12),
    ],
)
def test_static_errors_have_a_code_and_offset(src: str, code: str, offset: int) -> None:
    with pytest.raises(ExprError) as info:
        check(parse(src), _Resolver([]))
    assert (info.value.code, info.value.offset) == (code, offset)


def test_enum_literal_in_english_is_normalised_to_chinese() -> None:
    node = parse("household_type == 'former_poor'")
    check(node, _Resolver([]))
    assert compile_expr(node)(Env({"household_type": "脱贫户"}), None) is True


def test_substitute_shows_the_numbers() -> None:
    env = Env({"income.wage": Decimal(14000), "income.business_cost": Decimal(3000), "members": MEMBERS})
    node = parse("(income.wage - income.business_cost) / count(members)")
    check(node, _Resolver([]))
    assert substitute(node, env) == "(14000 − 3000) / 3"
    assert format_value(Decimal("3666.666666")) == "3666.67"
