"""Comparisons against a constant written in the other side's number type (session 24, ``_Compiler.as_kind``).

A whole-number parameter read from a rule file is a ``Decimal`` (``water.fetch_minutes <= 20``), a literal
``0`` an ``int`` (``income.wage + … == 0``); CPython compares an int with a Decimal by converting the int
to a new Decimal each time. The compiler now writes such a constant in the type the other side surely
has, when it converts exactly. These tests check that it does so in the bundled programs, and that a
program compiled without it answers — values, node outcomes, masks — exactly as the program with it, on
the examples and on generated households over every bundled pack.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from eligibility.compile import python as py
from eligibility.compile.python import Program

from .test_engine_findings import _programs
from .test_engine_selectors import _households

_COMPARE = re.compile(r"\b(v_[a-z_]+) (?:==|!=|<=|>=|<|>) (K[0-9]+)\b")


def _constants(program: Program) -> dict[str, Any]:
    assert program.none_code is not None
    return {k: v for k, v in program.none_code[1].items() if re.fullmatch(r"K[0-9]+", k)}


def _field_kinds() -> dict[str, str | None]:
    """The generated local of each household field (``v_water_fetch_minutes``) and its number type."""
    from eligibility.facts import CATALOGUE

    return {"v_" + py._ident(p): py._number_kind_of(py._field_annotation(p)) for p in CATALOGUE if "[]" not in p}


def _fresh_programs(monkeypatch: pytest.MonkeyPatch | None) -> list[Program]:
    """Every bundled pack's programs on ``DATES`` (``_programs``: a fresh rule set, its own chains, so
    nothing compiled before is reused), with ``as_kind`` left out when ``monkeypatch`` is given."""
    if monkeypatch is not None:
        monkeypatch.setattr(py._Compiler, "as_kind", lambda self, name, kind: name)
    return _programs()


@pytest.fixture(scope="module")
def programs() -> list[Program]:
    return _fresh_programs(None)


def test_constants_take_the_number_type_of_the_field_they_are_compared_with(programs: list[Program]) -> None:
    kinds = _field_kinds()
    seen = {"int": 0, "decimal": 0}
    for program in programs:
        consts = _constants(program)
        for var, k in _COMPARE.findall(program.source):
            kind, v = kinds.get(var), consts.get(k)
            if kind is None or v is None or isinstance(v, bool) or not isinstance(v, int | Decimal):
                continue
            seen[kind] += 1
            if kind == "int" and isinstance(v, Decimal):
                # only a Decimal that is not a whole number stays one
                assert v != v.to_integral_value(), (program.key, var, k, v)
            if kind == "decimal":
                assert isinstance(v, Decimal), (program.key, var, k, v)
    # The bundled packs compare both kinds of field with constants (water minutes and distances are
    # ints, quantities and money Decimals): the checks above ran.
    assert seen["int"] > 10 and seen["decimal"] > 10, seen


def test_a_whole_decimal_parameter_compared_with_an_int_field_is_an_int(programs: list[Program]) -> None:
    """淮北's water rules: ``water.fetch_minutes <= param`` with the parameter a Decimal in the rule file."""
    kinds = _field_kinds()
    assert kinds["v_water_fetch_minutes"] == "int"
    found = []
    for program in programs:
        consts = _constants(program)
        for var, k in _COMPARE.findall(program.source):
            if var == "v_water_fetch_minutes":
                found.append(consts[k])
    assert found and all(type(v) is int for v in found), found


@pytest.fixture(scope="module")
def households() -> list[tuple[Any, date]]:
    return _households(24, 400)


def test_programs_without_the_conversion_answer_the_same(
    programs: list[Program], households: list[tuple[Any, date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_kinds = {p.key: p for p in programs}
    without = {p.key: p for p in _fresh_programs(monkeypatch)}
    assert with_kinds.keys() == without.keys()
    differs = sum(
        1
        for a, b in zip(with_kinds.values(), without.values(), strict=True)
        if _constants(a) != _constants(b) or a.source != b.source
    )
    assert differs > 0  # the conversion changed some programs: the comparison below is not vacuous
    checked = 0
    for h, on in households:  # every program whose span holds the date, whatever the household's region
        for key, a in with_kinds.items():
            if not (a.start <= on and (a.until is None or on < a.until)):
                continue
            b = without[key]
            assert a.run(h, on) == b.run(h, on), (key, h.household_id, on)
            assert a.run_lean(h, on) == b.run_lean(h, on), (key, h.household_id, on)
            assert a.none_fn()(h, on) == b.none_fn()(h, on), (key, h.household_id, on)
            checked += 1
    assert checked > 400
