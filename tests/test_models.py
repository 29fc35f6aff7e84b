"""Household input: validation with JSON paths, both enum spellings, and the published schema."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from eligibility import Household, HouseholdError, parse_household
from eligibility.models import HealthStatus, HouseholdType, LabourCapacity

from .conftest import household


def test_every_field_but_the_ids_may_be_absent() -> None:
    h = parse_household({"household_id": "X"})
    assert h.members is None and h.income is None and h.region is None


def test_enum_accepts_the_chinese_value_and_the_english_code() -> None:
    a = parse_household({"household_id": "X", "household_type": "脱贫户"})
    b = parse_household({"household_id": "X", "household_type": "former_poor"})
    assert a.household_type is b.household_type is HouseholdType.former_poor
    assert json.loads(b.model_dump_json())["household_type"] == "脱贫户"


def test_bad_household_names_the_json_path_of_every_bad_field() -> None:
    data = household(region="34AB")
    data["members"][0]["birth_date"] = "1975-02-30"
    data["members"][1]["labour"] = "强劳动力"
    data["income"]["wage"] = -5
    data["housing"]["grade"] = "E"
    data["colour"] = "red"
    with pytest.raises(HouseholdError) as info:
        parse_household(data)
    paths = {e.path for e in info.value.errors}
    assert paths == {
        "$.region",
        "$.members[0].birth_date",
        "$.members[1].labour",
        "$.income.wage",
        "$.housing.grade",
        "$.colour",
    }
    assert "HB-003" in str(info.value)


def test_money_keeps_cents_exactly() -> None:
    h = parse_household({"household_id": "X", "income": {"wage": 7899.99}})
    assert h.income is not None and str(h.income.wage) == "7899.99"


def test_models_are_frozen() -> None:
    h = parse_household({"household_id": "X"})
    with pytest.raises(ValueError):
        h.household_id = "Y"  # type: ignore[misc]


def test_json_schema_describes_fields_in_chinese_and_english() -> None:
    schema = Household.model_json_schema()
    member = schema["$defs"]["Member"]["properties"]
    assert member["labour"]["description"] == "劳动技能 / labour capacity"
    labour = schema["$defs"]["LabourCapacity"]["enum"]
    assert labour == [m.value for m in LabourCapacity]
    assert "弱劳动力或半劳动力" in labour


# Money input, strict since issue 13 §2: from JSON a number only, read from its digits (trailing zeros
# after the point dropped down to one, as Python writes a float: 1.500 → 1.5, 1000.00 → 1000.0); from a Python dict (a spreadsheet
# cell, an API caller) also a Decimal, a float or plain ASCII decimal text. At most 12 whole digits and 2
# decimals, ≥ 0. Text in JSON, a bool, Unicode digits, underscores and exponents in text are errors.
MONEY_INPUTS: list[tuple[Any, str, str]] = [
    # (value, result from a dict, result from JSON text): the Decimal's str(), or the error code
    ("23699.99", "23699.99", "number_type"),
    (23699.99, "23699.99", "23699.99"),
    (5, "5", "5"),
    (0, "0", "0"),
    ("  5 ", "number_type", "number_type"),
    ("1e3", "number_type", "number_type"),
    ("1.4e4", "number_type", "number_type"),
    ("14_000", "number_type", "number_type"),
    ("١٢٣", "number_type", "number_type"),
    ("１２", "number_type", "number_type"),
    (1000.0, "1000.0", "1000.0"),
    (999999999999.99, "999999999999.99", "999999999999.99"),
    ("1.500", "1.500", "number_type"),
    (-0.0, "-0.0", "-0.0"),
    (23699.999, "decimal_max_places", "decimal_max_places"),
    (0.1 + 0.2, "decimal_max_digits", "decimal_max_digits"),
    (1e20, "decimal_max_digits", "decimal_max_digits"),
    (10**12, "decimal_whole_digits", "decimal_whole_digits"),
    (-1, "greater_than_equal", "greater_than_equal"),
    ("abc", "number_type", "number_type"),
    ("NaN", "number_type", "number_type"),
    ("Infinity", "number_type", "number_type"),
    (True, "number_type", "number_type"),
    ([5], "number_type", "number_type"),
]


def _money_result(data: Any) -> str:
    try:
        wage = parse_household(data).income.wage  # type: ignore[union-attr]
    except HouseholdError as exc:
        assert [e.path for e in exc.errors] == ["$.income.wage"]
        return exc.errors[0].code
    assert type(wage) is Decimal
    return str(wage)


@pytest.mark.parametrize(("value", "from_dict", "from_json"), MONEY_INPUTS)
def test_money_takes_numbers_only(value: Any, from_dict: str, from_json: str) -> None:
    data = {"household_id": "X", "income": {"wage": value}}
    assert _money_result(data) == from_dict
    assert _money_result(json.dumps(data)) == from_json
    assert _money_result(json.dumps(data).encode()) == from_json


def test_english_codes_are_taken_wherever_an_enum_is() -> None:
    data = household(household_type="general", housing={"grade": "D"})
    data["members"][0] |= {"relation": "head", "labour": "weak", "health": ["disabled", "chronic"]}
    h = parse_household(json.dumps(data))
    assert h.household_type is HouseholdType.general and h.members is not None
    member = h.members[0]
    assert member.labour is LabourCapacity.weak and member.health == {HealthStatus.disabled, HealthStatus.chronic}
    with pytest.raises(HouseholdError) as info:
        parse_household(household(household_type="General"))  # names are case-sensitive, as before
    assert [e.path for e in info.value.errors] == ["$.household_type"]
