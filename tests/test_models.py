"""Household input: validation with JSON paths, both enum spellings, and the published schema."""

from __future__ import annotations

import json

import pytest

from eligibility import Household, HouseholdError, parse_household
from eligibility.models import HouseholdType, LabourCapacity

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
