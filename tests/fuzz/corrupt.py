"""Corrupted households, as an attacker or a careless exporter makes them (issue 13 §6).

Each strategy draws one record as the bytes of one JSON Lines line, starting from a valid household and
breaking it one way: a value of the wrong type or range, a key missing, repeated or unknown, a number no
float holds, NaN, a date no calendar or household has, deep nesting, bytes that are not UTF-8, a lone
surrogate, a text that would run in a spreadsheet or a terminal, or a record cut short. Sensitive values
(ID number, mobile, bank account) are fixed markers, so a test can look for them in every output.

``FUZZ_EXAMPLES`` is the number of Hypothesis examples per test: small in ``make test``, large in
``make fuzz`` (environment variable ``ELIGIBILITY_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hypothesis import strategies as st

from eligibility.strategies import household_data

FUZZ_EXAMPLES = int(os.environ.get("ELIGIBILITY_FUZZ_EXAMPLES", "25"))

ID_NUMBER = "110101199003076518"
PHONE = "13800138000"
BANK = "6222020200112233445"
HEALTH_MARKER = "长期慢性病和残疾（敏感）"
"""A health-like text placed in other fields: no error or notice may echo it."""
SENSITIVE = (ID_NUMBER, PHONE, BANK)
"""Marker values that must never be echoed into an error, a log or a notice (nor a decision)."""

REGIONS = ["340602001001", "620102001001", "350121001001"]

BAD_VALUES: list[Any] = [
    "14_000",
    "١٢٣",
    "1.4e4",
    "１２",
    " 5",
    "1",
    "t",
    "true",
    1,
    0,
    -1,
    1.5,
    10**20,
    [],
    {},
    [1, [2]],
    None,
    True,
    "9999-12-31",
    "0001-01-01",
    "2073-01-01",
    "0",
    "2023-02-30",
    "2023-01-01T00:00:00",
    "",
    "x" * 5000,
    '=HYPERLINK("http://x")',
    "+1",
    "@SUM(A1)",
    "-2",
    "a\u2028b",
    "a\nb\r\nc",
    "\x1b[2J\x1b[31mred",
    "\u202eevil",
    ID_NUMBER,
    PHONE,
    BANK,
    "患有大病",
]
"""Values a field gets in place of its own."""

BAD_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "1e-400",
    "23699.999999999999999999",
    "1.00000000000000000001",
    "9" * 4400,
    "-0.0",
    "1E+3",
    "0x10",
    "01",
    "+1",
    ".5",
    "5.",
    "1_000",
    "nul",
    "tru",
]
"""Number-ish literals spliced into the JSON text, where the dict form cannot hold them."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _delete(data: Any, path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        data = data[part]
    del data[path[-1]]


def _text(data: Any, ascii_only: bool = False) -> str:
    return json.dumps(data, ensure_ascii=ascii_only)


@st.composite
def valid_households(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(household_data(regions=REGIONS))
    data = json.loads(json.dumps(data, default=str))
    data["bank_account"] = BANK
    for m in data.get("members") or []:
        m["id_number"], m["phone"] = ID_NUMBER, PHONE
    return data


@st.composite
def corrupted_lines(draw: st.DrawFn) -> bytes:
    """One JSON Lines record (without its ``\\n``), broken in one of many ways, or now and then intact."""
    data = draw(valid_households())
    paths = _paths(data)
    how = draw(st.sampled_from(_HOW))
    if how == "intact":
        text = _text(data)
    elif how == "bad_value":
        _set(data, draw(st.sampled_from(paths)), draw(st.sampled_from(BAD_VALUES)))
        text = _text(data, ascii_only=draw(st.booleans()))
    elif how == "missing_key":
        _delete(data, draw(st.sampled_from(paths)))
        text = _text(data)
    elif how == "unknown_key":
        target = draw(st.sampled_from([p for p in paths if isinstance(_get(data, p), dict)] or [()]))
        obj = _get(data, target) if target else data
        obj[draw(st.sampled_from(["colour", "wage ", "Wage", "household_id\u200b", ID_NUMBER]))] = 1
        text = _text(data)
    elif how == "literal":
        _set(data, draw(st.sampled_from(paths)), "@@LITERAL@@")
        text = _text(data).replace('"@@LITERAL@@"', draw(st.sampled_from(BAD_LITERALS)))
    elif how == "duplicate_key":
        text = _text(data)
        keys = [m.start() for m in re.finditer(r'"[a-z_]+": ', text)]
        at = draw(st.sampled_from(keys))
        key = text[at : text.index(":", at)]
        text = text[:at] + key + ": " + draw(st.sampled_from(["null", "1", '"x"', "true"])) + ", " + text[at:]
    elif how == "deep":
        depth = draw(st.sampled_from([100, 199, 200, 201, 1000, 3000]))
        _set(data, draw(st.sampled_from(paths)), "@@DEEP@@")
        text = _text(data).replace('"@@DEEP@@"', "[" * depth + "]" * depth)
    elif how == "surrogate":
        _set(data, draw(st.sampled_from(paths)), "@@S@@")
        text = _text(data).replace('"@@S@@"', draw(st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\ud800\\u0041"'])))
    elif how == "many_members":
        n = draw(st.sampled_from([101, 1000, 20_000]))
        data["members"] = [{"member_id": str(i)} for i in range(n)]
        text = _text(data)
    elif how == "wrapped":
        on = draw(
            st.sampled_from(["2023-09-30", "9999-12-31", "1800-01-01", "x", 5, None, "2023-9-30", PHONE, ID_NUMBER])
        )
        text = _text({"as_of": on, "household": data})
    elif how == "not_an_object":
        text = draw(st.sampled_from(["[]", "null", "5", '"household"', "[{}]", "true", "{}"]))
    else:
        text = _text(data)
    raw = text.encode("utf-8", "surrogatepass")
    if how == "truncated":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif how == "bad_bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + raw[at:]
    elif how == "raw_separators":
        raw = raw.replace(b'": "', '": "\u2028\u2029\r'.encode(), 1)
    return raw.replace(b"\n", b"\\n")


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


_HOW = [
    "intact", "bad_value", "bad_value", "bad_value", "missing_key", "unknown_key", "literal", "literal",
    "duplicate_key", "deep", "surrogate", "many_members", "wrapped", "not_an_object", "truncated",
    "bad_bytes", "raw_separators",
]  # fmt: skip
