"""A body means over HTTP what it means in a file (issue 13 §2): ``/v1/evaluate`` and ``/v1/explain``
read it with the command line's exact JSON reader, not Python's ``json`` — which let the last of two
``"wage"`` keys win, read ``23699.999999999999999999`` through a float as 23,700, and answered 2,000
nested brackets with a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import AS_OF, EXAMPLES
from .test_bad_input import _problem

WAGE = '"wage": 14000'


def _body(replacement: str) -> bytes:
    text = (EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8")
    assert WAGE in text
    return text.replace(WAGE, replacement, 1).encode("utf-8")


@pytest.mark.parametrize(
    ("replacement", "status", "problem", "path", "code"),
    [
        ('"wage": 0, "wage": 99999', 400, "malformed_json", "$", "duplicate_key"),
        ('"wage": NaN', 400, "malformed_json", "$", "json_invalid"),
        ('"wage": Infinity', 400, "malformed_json", "$", "json_invalid"),
        ('"wage": ' + "[" * 2000 + "]" * 2000, 400, "malformed_json", "$", "too_deep"),
        ('"wage": 23699.999999999999999999', 422, "invalid_household", "$.income.wage", "decimal_max_digits"),
        ('"wage": "14_000"', 422, "invalid_household", "$.income.wage", "number_type"),
        ('"wage": "14000"', 422, "invalid_household", "$.income.wage", "number_type"),
        ('"wage": 14000, "name": "\\ud800"', 400, "malformed_json", "$", "json_invalid"),
    ],
)
@pytest.mark.parametrize("route", ["/v1/evaluate", "/v1/explain"])
def test_the_issues_inputs_are_refused_as_the_command_line_refuses_them(
    client: httpx.Client, route: str, replacement: str, status: int, problem: str, path: str, code: str
) -> None:
    r = client.post(route, params={"as_of": AS_OF}, content=_body(replacement))
    doc: dict[str, Any] = _problem(r, status, problem)
    assert [(e["path"], e["code"]) for e in doc["errors"]] == [(path, code)]
    if problem == "malformed_json":
        assert doc["line"] >= 1 and doc["column"] >= 1


BORN_LATER = ('"birth_date": "1975-03-02"', '"birth_date": "2073-01-01"')


def test_a_member_born_after_the_date_is_one_error_not_a_lost_batch(client: httpx.Client) -> None:
    """Valid alone, invalid on the date asked: the engine refuses it. /v1/evaluate answers 422 naming the
    field; in /v1/batch it is that line's error, and the lines after it are still answered (the stream
    used to break off there, losing the whole batch)."""
    text = (EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8")
    assert BORN_LATER[0] in text
    later = text.replace(*BORN_LATER)
    doc = _problem(
        client.post("/v1/evaluate", params={"as_of": AS_OF}, content=later.encode()), 422, "invalid_household"
    )
    assert [(e["path"], e["code"]) for e in doc["errors"]] == [("$.members[0].birth_date", "born_after_as_of")]
    lines = [text.replace("\n", " "), later.replace("\n", " ").replace("HB-001", "HB-001b"), text.replace("\n", " ")]
    lines[2] = lines[2].replace("HB-001", "HB-001c")
    for form in ("decision", "table"):
        r = client.post("/v1/batch", params={"as_of": AS_OF, "form": form}, content="\n".join(lines).encode())
        out = [json.loads(x) for x in r.text.splitlines()]
        assert [x["line"] for x in out] == [1, 2, 3] and ["error" in x for x in out] == [False, True, False]


def test_exact_money_is_decided_from_its_digits(client: httpx.Client) -> None:
    r = client.post("/v1/evaluate", params={"as_of": AS_OF, "trace": "none"}, content=_body('"wage": 14000.10'))
    assert r.status_code == 200
    same = client.post("/v1/evaluate", params={"as_of": AS_OF, "trace": "none"}, content=_body('"wage": 14000.1'))
    assert same.content == r.content


def test_a_phone_number_as_a_batch_lines_date_is_not_echoed(client: httpx.Client) -> None:
    household = (EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8").replace("\n", " ")
    line = '{"as_of": "13912345678", "household": ' + household + "}\n"
    r = client.post("/v1/batch", content=line.encode("utf-8"))
    assert r.status_code == 200 and '"error"' in r.text
    assert "13912345678" not in r.text
