"""Fast input (issue 9 §3): the fast parse path, the deterministic household digest, integer date arithmetic.

* ``parse_household`` tries a faster validator first on JSON text. It must give exactly what the exact
  path gives (issue 13: jiter decoding with Decimals from the digits, then ``_EXACT``) — the same
  household down to each Decimal's exponent and each model's fields-set, and the same errors — so the
  tests compare the two on generated households with awkward money values, repeated keys and long
  numbers. A dict is validated by the models themselves. Speed itself is measured by ``benchmarks/bench_parse.py``, never asserted here.
* ``household_digest`` must not depend on PYTHONHASHSEED (a set of health statuses used to be written in
  hash order), checked in fresh interpreters with different seeds.
* ``whole_years``/``whole_months`` must agree with ``dateutil.relativedelta`` on every pair of dates.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from eligibility import HouseholdError, parse_household
from eligibility import models as m
from eligibility._dates import whole_months, whole_years
from eligibility.models import HealthStatus, Household, bytes_digest, household_digest
from eligibility.strategies import household_data

from .conftest import household

# --- the fast parse path gives exactly what the models give ------------------------------------------

MONEY_FIELDS = (
    [("income", name) for name in ("wage", "business_income", "business_cost", "property", "transfer", "claims")]
    + [("income", "previous_year_per_capita")]
    + [("rigid_expenditure", name) for name in ("medical_self_pay", "education", "disaster_loss")]
)


class _Plain(enum.Enum):
    five = 5


class _Text(str, enum.Enum):
    five = "5"


class _Int(enum.IntEnum):
    five = 5


class _Float(float):
    """A float subclass whose str() is not its value: the fast path must not read it differently."""

    def __str__(self) -> str:
        return "7"


JSON_MONEY: st.SearchStrategy[Any] = st.one_of(
    st.integers(-5, 5),
    st.integers(0, 10**15),
    st.integers(-(10**13), 10**13),
    st.builds(round, st.floats(0, 2e12), st.integers(0, 4)),
    st.builds(round, st.floats(-1e3, 1e3), st.integers(0, 3)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1000.0, 1e12, 999999999999.99, 1e-7, 0.1 + 0.2, 1.005, 2.675, 5e-324, 1e300]),
    st.text("0123456789.-+eE _", max_size=16),
    st.sampled_from(["5", " 5", "5 ", "05", "0.05", "0.050", "1e3", "1E+3", "-0", "+5", "0.000", "1.005", "NaN"]),
    st.sampled_from(["Infinity", "-Infinity", "", "999999999999.99", "1000000000000", "1_000", "１２", "5\n", "٣"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
"""Money-field values a JSON record can carry: valid, invalid and borderline."""

PYTHON_MONEY: st.SearchStrategy[Any] = st.one_of(
    JSON_MONEY,
    st.floats(),  # NaN and infinities too
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("5"), Decimal("1.50"), Decimal("1E+2"), Decimal("-0"), Decimal("0.001"), Decimal("sNaN")]),
    st.sampled_from([b"5", bytearray(b"5"), _Plain.five, _Text.five, _Int.five, _Float(5.0), 5j, object()]),
)
"""…and what a hand-built dict can carry besides (Decimals, bytes, enum members, subclasses)."""


def _fields_sets(model: BaseModel) -> Any:
    """Every model's fields-set, nested as the household is (model equality does not compare them)."""
    out: dict[str, Any] = {"": sorted(model.model_fields_set)}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = _fields_sets(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            out[name] = [_fields_sets(v) for v in value]
    return out


def _decimals(model: BaseModel) -> list[tuple[str, type, str]]:
    """Every Decimal with its exact type and text (``Decimal('1.0') == Decimal('1')``, but not in JSON)."""
    out = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += [(f"{name}.{p}", t, s) for p, t, s in _decimals(value)]
        elif isinstance(value, Decimal):
            out.append((name, type(value), str(value)))
    return out


def _outcome(result: Household | HouseholdError | ValidationError) -> Any:
    """What a caller can observe: the household in full, or every error as (path, code, message)."""
    if isinstance(result, Household):
        return ("ok", result.model_dump_json(), _fields_sets(result), _decimals(result))
    if isinstance(result, HouseholdError):
        return ("error", [(e.path, e.code, e.message) for e in result.errors])
    return ("error", [(m._json_path(tuple(e["loc"])), e["type"], e["msg"]) for e in result.errors(include_url=False)])


def _models_own(data: Any) -> Any:
    """The reference: the exact path for JSON text, the models' own validator for a dict."""
    try:
        if isinstance(data, str | bytes):
            return _outcome(m.household_from_json(m.loads_json(data)))
        return _outcome(Household.model_validate(data))
    except HouseholdError as exc:
        return _outcome(exc)
    except ValidationError as exc:
        return _outcome(exc)


def _parsed(data: Any) -> Any:
    try:
        return _outcome(parse_household(data))
    except HouseholdError as exc:
        return _outcome(exc)


def _with_money(data: dict[str, Any], values: list[tuple[int, Any]]) -> dict[str, Any]:
    data = json.loads(json.dumps(data))
    for index, value in values:
        section, name = MONEY_FIELDS[index % len(MONEY_FIELDS)]
        data.setdefault(section, {})[name] = value
    return data


def test_the_derived_validators_are_in_use() -> None:
    """Guards the rewritten number schemas: pydantic-core reuses a model class's own validator for nested
    models unless told otherwise (see ``models._derived_validator``).

    ``_FAST`` takes ``1.005`` for money (its digit limit is :func:`models._risky`'s, outside the schema),
    which the models refuse; ``_FAST_DICT`` refuses ``-0.0`` (its digit pattern has no sign), which the
    models take; ``_EXACT`` refuses money as text, which the models take from a dict (a spreadsheet
    cell) — each nested two levels deep.
    """
    places = '{"household_id": "X", "income": {"wage": 1.005}}'
    assert m._FAST.validate_json(places).income.wage == Decimal("1.005")
    with pytest.raises(ValidationError):
        Household.model_validate_json(places)
    assert m._risky(places.encode())
    signed = {"household_id": "X", "income": {"wage": -0.0}}
    with pytest.raises(ValidationError):
        m._FAST_DICT.validate_python(signed)
    assert Household.model_validate(signed).income is not None
    text = {"household_id": "X", "income": {"wage": "5"}}
    with pytest.raises(ValidationError):
        m._EXACT.validate_python(text)
    assert Household.model_validate(text).income is not None
    assert m._FAST.validate_json('{"household_id": "X", "income": {"wage": 5}}') == Household.model_validate(
        {"household_id": "X", "income": {"wage": 5}}
    )


def test_the_benchmark_households_take_the_fast_path() -> None:
    """A refusal would not be wrong, only slow; but the speed figures assume none on ordinary records."""
    data = household()
    text = json.dumps(data, ensure_ascii=False).encode()
    assert not m._risky(text)
    h = m._FAST.validate_json(text)
    assert text.count(b":") == m._keys_kept(h)


def _count_fields_sets(tree: Any) -> int:
    if isinstance(tree, list):
        return sum(_count_fields_sets(t) for t in tree)
    return len(tree[""]) + sum(_count_fields_sets(v) for k, v in tree.items() if k)


@given(household_data())
def test_the_written_out_key_count_counts_every_model(data: dict[str, Any]) -> None:
    """``_keys_kept`` is generated from the model classes; a nested model it missed would let a repeated
    key inside it through. It must equal the fields-sets of every model in the household, and the keys of
    the JSON text when no key is repeated."""
    h = Household.model_validate(data)
    assert m._keys_kept(h) == _count_fields_sets(_fields_sets(h))
    text = json.dumps(data, ensure_ascii=False)
    if ":" not in "".join(str(v) for v in _strings(data)):
        assert text.count(":") == m._keys_kept(h)


def _strings(value: Any) -> list[Any]:
    """Every string value and key in ``value`` (a colon in one adds to the text's colons)."""
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@given(household_data(), st.lists(st.tuples(st.integers(0, 99), JSON_MONEY), max_size=3))
@example({"household_id": "X"}, [(0, "23699.99"), (1, 1000.0), (2, 0.1 + 0.2)])
@example({"household_id": "X"}, [(0, -0.0), (1, 999999999999.99), (2, 10**12)])
@example({"household_id": "X"}, [(0, 1000.0), (1, 1.5), (2, 0.0)])
def test_json_input_gives_what_the_models_give(data: dict[str, Any], money: list[tuple[int, Any]]) -> None:
    data = _with_money(data, money)
    text = json.dumps(data, ensure_ascii=False)
    assert _parsed(text) == _models_own(text)
    assert _parsed(text.encode()) == _models_own(text.encode())


@given(household_data(), st.lists(st.tuples(st.integers(0, 99), PYTHON_MONEY), max_size=3))
@example({"household_id": "X"}, [(0, b"5"), (1, _Plain.five), (2, _Float(5.0))])
@example({"household_id": "X"}, [(0, _Text.five), (1, _Int.five), (2, Decimal("1.50"))])
@example({"household_id": "X"}, [(0, 1000.0), (1, 1e16), (2, float("nan"))])
@example({"household_id": "X"}, [(0, _Float(5.0))])  # alone: the fast dict validator must not read str() "7"
@example({"household_id": "X"}, [(0, Decimal("5"))])  # alone: pydantic's strict float takes it as 5.0
def test_dict_input_gives_what_the_models_give(data: dict[str, Any], money: list[tuple[int, Any]]) -> None:
    data = json.loads(json.dumps(data))
    for index, value in money:
        section, name = MONEY_FIELDS[index % len(MONEY_FIELDS)]
        data.setdefault(section, {})[name] = value
    assert _parsed(data) == _models_own(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"household_type": "former_poor", "housing": {"grade": "A"}},  # English codes go through _missing_
        {"household_type": "富裕户"},
        {"colour": "red", "income": {"wage": -1, "colour": "blue"}},
        {"members": [{"member_id": "", "health": ["残疾", "disabled", "残疾"]}]},
        {"region": 340602},
        {"monitoring": {"risks": ["因病"] * 6}},
    ],
)
def test_other_records_give_what_the_models_give(changes: dict[str, Any]) -> None:
    data = household(**changes)
    assert _parsed(data) == _models_own(data)
    text = json.dumps(data, ensure_ascii=False)
    assert _parsed(text) == _models_own(text)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '{"household_id": "X"} x', "\ufeff{}"])
def test_broken_json_gives_what_the_models_give(text: str) -> None:
    assert _parsed(text) == _models_own(text)


# --- the digest is the same in every process ---------------------------------------------------------

TWO_STATUSES = {"household_id": "D-1", "members": [{"member_id": "1", "health": ["残疾", "长期慢性病"]}]}

_DIGEST_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from eligibility.models import household_digest, parse_household
    h = parse_household(json.loads(sys.argv[1]))
    print(household_digest(h), h.model_dump_json())
    """
)


def test_digest_does_not_depend_on_the_hash_seed() -> None:
    """Fails before the fix: with seeds 0 and 1, str hashes put 残疾 and 长期慢性病 in different orders."""
    outputs = set()
    for seed in ("0", "1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT, json.dumps(TWO_STATUSES)],
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        )
        outputs.add(run.stdout.strip())
    assert len(outputs) == 1
    digest, dumped = outputs.pop().split(" ", 1)
    assert json.loads(dumped)["members"][0]["health"] == ["残疾", "长期慢性病"]
    assert digest == household_digest(parse_household(TWO_STATUSES))


def test_sets_are_written_sorted_by_value_and_stay_sets_in_python() -> None:
    h = parse_household({"household_id": "X", "members": [{"member_id": "1", "health": list(HealthStatus)}]})
    assert h.members is not None
    written = json.loads(h.model_dump_json())["members"][0]["health"]
    assert written == sorted(s.value for s in HealthStatus)
    assert h.model_dump()["members"][0]["health"] == frozenset(HealthStatus)
    assert parse_household(h.model_dump_json()) == h


def test_digest_is_sha256_of_the_canonical_json() -> None:
    h = parse_household(household())
    assert household_digest(h) == "sha256:" + hashlib.sha256(h.model_dump_json().encode("utf-8")).hexdigest()


def _coded_enums() -> list[type[m.CodedEnum]]:
    found, todo = [], list(m.CodedEnum.__subclasses__())
    while todo:
        c = todo.pop()
        found.append(c)
        todo += c.__subclasses__()
    return found


def test_every_code_is_written_as_its_value() -> None:
    """A code is written by the str serializer (session 24, fjs4): the same text as ``.value`` for every
    member of every coded enum, in the JSON and in JSON-mode Python data; Python mode keeps the member."""
    enums = _coded_enums()
    assert len(enums) > 10
    for c in enums:
        adapter: TypeAdapter[Any] = TypeAdapter(c)
        for member in c:
            assert adapter.dump_json(member) == json.dumps(member.value, ensure_ascii=False).encode()
            dumped = adapter.dump_python(member, mode="json")
            assert dumped == member.value and type(dumped) is str
            assert adapter.dump_python(member) is member


def test_a_household_is_written_without_a_python_call_per_code() -> None:
    """Fails on ``main`` before session 24: pydantic's enum serializer read each code's ``value``
    (``enum.property.__get__``, a Python call); only the number and set callbacks remain."""
    h = parse_household(household())
    called: list[str] = []

    def spy(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(spy)
    try:
        h.__pydantic_serializer__.to_json(h)
    finally:
        sys.setprofile(None)
    assert called  # the money and the health sets still call Python
    assert set(called) <= {"_json_number", "_sorted_by_value"}, sorted(set(called))


def test_digest_names_the_content_not_the_spelling() -> None:
    data = household(household_type="一般农户")
    reordered = dict(reversed(list(data.items())))
    english = {**data, "household_type": "general"}
    text = json.dumps(data, ensure_ascii=True, indent=2)
    digests = {household_digest(parse_household(x)) for x in (data, reordered, english, text, text.encode())}
    assert len(digests) == 1
    assert household_digest(parse_household(household(household_type="脱贫户"))) not in digests


def test_bytes_digest_hashes_what_was_received() -> None:
    assert bytes_digest(b"abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert bytes_digest("户") == bytes_digest("户".encode()) == "sha256:" + hashlib.sha256("户".encode()).hexdigest()
    assert bytes_digest(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()


# --- whole years and months as relativedelta counts them ---------------------------------------------


def _relativedelta(a: date, b: date) -> tuple[int, int]:
    rd = relativedelta(b, a)
    return rd.years, rd.years * 12 + rd.months


@given(st.dates(), st.dates())
def test_whole_years_and_months_agree_with_relativedelta(a: date, b: date) -> None:
    assert (whole_years(a, b), whole_months(a, b)) == _relativedelta(a, b)


@given(st.dates(min_value=date(1995, 1, 1), max_value=date(2005, 12, 31)), st.integers(-800, 800))
def test_nearby_dates_agree_with_relativedelta(a: date, days: int) -> None:
    """Random pairs are mostly centuries apart; ages and notice periods are days to years apart."""
    b = date.fromordinal(a.toordinal() + days)
    assert (whole_years(a, b), whole_months(a, b)) == _relativedelta(a, b)


@pytest.mark.parametrize(
    ("a", "b", "years", "months"),
    [
        (date(2023, 1, 31), date(2023, 2, 28), 0, 1),  # month end: 01-31 + 1 month is 02-28
        (date(2023, 1, 31), date(2023, 2, 27), 0, 0),
        (date(2024, 1, 31), date(2024, 2, 29), 0, 1),
        (date(2024, 1, 31), date(2024, 2, 28), 0, 0),
        (date(2023, 3, 31), date(2023, 4, 30), 0, 1),
        (date(2023, 2, 28), date(2023, 3, 31), 0, 1),
        (date(2000, 2, 29), date(2001, 2, 28), 1, 12),  # leap-day birthday: one year old on 02-28
        (date(2000, 2, 29), date(2001, 2, 27), 0, 11),
        (date(2000, 2, 29), date(2004, 2, 28), 3, 47),  # …but in a leap year only on 02-29
        (date(2000, 2, 29), date(2004, 2, 29), 4, 48),
        (date(2000, 2, 29), date(2100, 2, 28), 100, 1200),  # 2100 is not a leap year
        (date(2005, 6, 15), date(2023, 6, 15), 18, 216),  # birthday: a whole year on the day
        (date(2005, 6, 15), date(2023, 6, 14), 17, 215),
        (date(2023, 6, 15), date(2023, 6, 15), 0, 0),
        (date(2023, 6, 15), date(2022, 6, 15), -1, -12),  # b before a: negative, rounded towards zero
        (date(2023, 6, 15), date(2022, 6, 16), 0, -11),
        (date(2023, 6, 15), date(2022, 5, 14), -1, -13),
        (date(2023, 3, 31), date(2023, 2, 28), 0, -1),  # backwards from a month end
        (date(2023, 3, 30), date(2023, 2, 28), 0, -1),
        (date(2024, 3, 31), date(2024, 2, 28), 0, -1),  # 03-31 - 1 month is 02-29; 02-28 lies beyond it
        (date(2001, 2, 28), date(2000, 2, 29), 0, -11),  # not symmetric: 02-28 - 12 months is 02-28 < 02-29
        (date(2001, 2, 28), date(2000, 2, 28), -1, -12),
        (date(1, 1, 1), date(9999, 12, 31), 9998, 9998 * 12 + 11),
        (date(9999, 12, 31), date(1, 1, 1), -9998, -(9998 * 12 + 11)),
    ],
)
def test_month_ends_leap_days_and_negative_spans(a: date, b: date, years: int, months: int) -> None:
    assert _relativedelta(a, b) == (years, months)  # the table itself is relativedelta's answer
    assert (whole_years(a, b), whole_months(a, b)) == (years, months)


# --- the fast path never accepts what the exact path refuses (issue 13 §2) ----------------------------

_LITERALS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,22})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e-400", "23699.999999999999999999", "1E+3", "7900.00"]),
)


@given(household_data(), st.integers(0, 99), _LITERALS)
@example({"household_id": "X"}, 0, "23699.999999999999999999")
@example({"household_id": "X"}, 0, "1e-400")
@example({"household_id": "X"}, 0, "0e20")
@example({"household_id": "X"}, 0, "0.0")
def test_number_literals_read_the_same_on_both_paths(data: dict[str, Any], index: int, literal: str) -> None:
    """Any number literal, as written, gives the exact path's Decimal or its error — never an f64's."""
    section, name = MONEY_FIELDS[index % len(MONEY_FIELDS)]
    data = json.loads(json.dumps(data))
    data.setdefault(section, {})[name] = "@@"
    text = json.dumps(data, ensure_ascii=False).replace('"@@"', literal)
    assert _parsed(text) == _models_own(text)
    assert _parsed(text.encode()) == _models_own(text.encode())


@given(household_data(), st.data())
def test_a_repeated_key_is_an_error_on_both_paths(data: dict[str, Any], draw: st.DataObject) -> None:
    """A key written twice (the last would win in pydantic) is an error wherever it is, whatever its value."""
    text = json.dumps(data, ensure_ascii=False)
    keys = [i for i in range(len(text)) if text.startswith('": ', i)]
    at = draw.draw(st.sampled_from(keys))
    start = text.rindex('"', 0, at)
    key = text[start : at + 1]
    doubled = text[:start] + key + ": null, " + text[start:]
    with pytest.raises(HouseholdError) as info:
        parse_household(doubled)
    assert [e.code for e in info.value.errors] == ["duplicate_key"]
    assert _parsed(doubled.encode()) == _models_own(doubled.encode())
