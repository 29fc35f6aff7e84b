"""``POST /v1/batch`` against a real server: one answer per non-blank input line, in input order, across
chunks; decisions equal the library's (the columnar row of ``decision_row``, or the Decision JSON of
``/v1/evaluate``); every kind of bad line answered with an error naming its line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest

from eligibility import Engine, parse_household
from eligibility.compile.polars import decision_row

from .conftest import AS_OF, EXAMPLES, LIMITS, RULES

NDJSON = "application/x-ndjson"


def _examples() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


def _lines(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(NDJSON)
    assert r.text.endswith("\n")
    return [json.loads(line) for line in r.text.splitlines()]


def _jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in records).encode()


def _as_json(v: Any) -> Any:
    return json.loads(json.dumps(v, default=lambda x: x.isoformat() if isinstance(x, date) else str(x)))


def test_table_form_rows_equal_the_engine(client: httpx.Client) -> None:
    """form=table: the columnar program's decision-table row, field by field equal to the engine's."""
    examples = _examples()
    got = _lines(client.post("/v1/batch", params={"as_of": AS_OF, "form": "table"}, content=_jsonl(examples)))
    assert [g["line"] for g in got] == list(range(1, len(examples) + 1))
    engine = Engine(RULES)
    for data, g in zip(examples, got, strict=True):
        assert "error" not in g, g
        household, on = (data["household"], data["as_of"]) if "household" in data else (data, AS_OF)
        expected = decision_row(engine.evaluate(household, on, trace="none"))
        assert g["household_id"] == household["household_id"]
        for key, value in expected.items():
            assert g["decision"][key] == _as_json(value), (household["household_id"], key)


def test_decision_form_gives_the_evaluate_json(client: httpx.Client) -> None:
    examples = _examples()[:9]
    for trace in ("none", "compact"):
        got = _lines(
            client.post(
                "/v1/batch", params={"as_of": AS_OF, "form": "decision", "trace": trace}, content=_jsonl(examples)
            )
        )
        for data, g in zip(examples, got, strict=True):
            one = client.post("/v1/evaluate", params={"as_of": AS_OF, "trace": trace}, json=data)
            assert g["decision"] == one.json()


@pytest.mark.parametrize("form", ["decision", "table"])
def test_bad_lines_each_get_one_error_in_place(client: httpx.Client, form: str) -> None:
    ex = _examples()
    wrong_type = {**ex[1], "region": 340602}
    unknown_key = {**ex[2], "surplus": 1}
    body = b"".join(
        [
            json.dumps(ex[0], ensure_ascii=False).encode() + b"\n",  # line 1: fine
            b'{"household_id": "X", "members": [}\n',  # 2: malformed
            b"\n",  # 3: blank, skipped
            b"[1, 2]\n",  # 4: not an object
            json.dumps(wrong_type, ensure_ascii=False).encode() + b"\n",  # 5: wrong type
            json.dumps(unknown_key, ensure_ascii=False).encode() + b"\n",  # 6: unknown key
            b"\xff\xfe\n",  # 7: not UTF-8
            json.dumps(ex[0], ensure_ascii=False).encode() + b"\n",  # 8: duplicate of line 1
            json.dumps({"as_of": "2023-13-01", "household": ex[3]}, ensure_ascii=False).encode() + b"\n",  # 9
            json.dumps(ex[4], ensure_ascii=False).encode(),  # 10: fine, no final newline
        ]
    )
    got = _lines(client.post("/v1/batch", params={"as_of": AS_OF, "form": form}, content=body))
    assert [g["line"] for g in got] == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    kinds = {g["line"]: g["error"]["code"] if "error" in g else "ok" for g in got}
    assert kinds == {
        1: "ok",
        2: "malformed_json",
        4: "invalid_request",
        5: "invalid_household",
        6: "invalid_household",
        7: "malformed_json",
        8: "duplicate_id",
        9: "invalid_request",
        10: "ok",
    }
    by_line = {g["line"]: g for g in got}
    assert by_line[5]["error"]["errors"] == [
        {"path": "$.region", "code": "string_type", "message": "Input should be a valid string"}
    ]
    assert by_line[5]["household_id"] == wrong_type["household_id"]
    assert by_line[6]["error"]["errors"][0]["path"] == "$.surplus"
    assert by_line[9]["error"]["errors"][0]["path"] == "$.as_of"


def test_lines_past_the_record_limit_are_each_answered(client: httpx.Client) -> None:
    base = _examples()[0]
    records = [{**base, "household_id": f"HB-{i:03d}"} for i in range(LIMITS.max_batch_records + 5)]
    got = _lines(client.post("/v1/batch", params={"as_of": AS_OF}, content=_jsonl(records)))
    assert len(got) == len(records)
    assert all("decision" in g for g in got[: LIMITS.max_batch_records])
    assert {g["error"]["code"] for g in got[LIMITS.max_batch_records :]} == {"too_many_records"}
    # order held across chunks of LIMITS.batch_chunk
    assert [g["line"] for g in got] == list(range(1, len(records) + 1))


@pytest.mark.parametrize("form", ["decision", "table"])
def test_rows_the_rules_cannot_decide_are_errors(client: httpx.Client, form: str) -> None:
    ex = _examples()[0]
    body = _jsonl([{"as_of": "1990-01-01", "household": ex}, {**ex, "household_id": "HB-x"}])
    got = _lines(client.post("/v1/batch", params={"as_of": AS_OF, "form": form}, content=body))
    assert got[0]["error"]["code"] == "cannot_evaluate" and "decision" in got[1]
    undated = _lines(client.post("/v1/batch", content=_jsonl([ex])))
    assert undated[0]["error"]["code"] == "invalid_request"


def test_decision_form_decides_each_programs_lines_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-household form decides a chunk grouped by region and date (one program's code and memos
    warm in turn) and still answers every line in place, with its own household's decision."""
    from eligibility.service import batch as service_batch

    seen: list[tuple[str, str]] = []

    def recorded(snap: Any, h: Any, on: date, trace: str) -> str:
        seen.append((h.region, h.household_id))
        return json.dumps({"household_id": h.household_id})

    monkeypatch.setattr(service_batch, "decision_json", recorded)
    first = _examples()[0]
    base = first.get("household", first)
    regions = ["341621000000", "340602000000"] * 3  # alternating in the input
    on = date(2023, 9, 30)
    todo = [
        (n, parse_household({**base, "household_id": f"H{n}", "region": region}), on)
        for n, region in enumerate(regions, start=1)
    ]
    out = service_batch._decisions(None, todo, "none")  # type: ignore[arg-type]
    assert [r for r, _ in seen] == sorted(regions)  # grouped (fails when decided in input order)
    for n, h, _ in todo:
        assert json.loads(out[n])["line"] == n and json.loads(out[n])["decision"]["household_id"] == h.household_id
