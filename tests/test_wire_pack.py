"""The wire form packs the engine's own values in one pass (issue 9, speed): the same slot pattern and
values as putting each value in its compact JSON form first (``encode_value``) and packing those, and
reading the pattern back gives exactly those JSON forms."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from eligibility import Engine, parse_household
from eligibility.compile.manifest import encode_value
from eligibility.compile.wire import _pack, _unpack
from eligibility.expressions import UNKNOWN
from eligibility.models import HouseholdType, births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"


def _both(values: tuple[object, ...]) -> None:
    encoded = [encode_value(v) for v in values]
    packed = _pack(values)
    assert packed == _pack(encoded)
    assert _unpack(*packed) == encoded


def test_edge_values_pack_as_their_json_form() -> None:
    _both(())
    _both((UNKNOWN, None, True, False, 0, 9, 10, -1, 10**20, "", "a", "a", "b"))
    _both(
        (Decimal("1.50"), Decimal("1.5"), Decimal("1.50"), Decimal("3"), Decimal("3.00"), Decimal("12"), Decimal("-0"))
    )
    _both((date(2023, 9, 30), "2023-09-30", date(2023, 9, 30), frozenset({"b", "a"}), frozenset(), [1, 2], (3,)))
    _both((next(iter(HouseholdType)), next(iter(HouseholdType)), "x"))
    _both((UNKNOWN,) * 5 + (True,) * 4 + (Decimal("7.25"),) * 3 + ("x",) * 3)


def test_every_example_packs_the_same() -> None:
    engine = Engine()
    seen = 0
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        h = parse_household(data.get("household", data))
        for on in (date(2021, 9, 30), date(2023, 9, 30), date(2025, 6, 30)):
            program = engine.program(h, on)
            if program is None or not program.chain.in_force(on) or births_after(h, on):
                continue
            _both(program.run(h, on)[0])
            seen += 1
    assert seen > 10
