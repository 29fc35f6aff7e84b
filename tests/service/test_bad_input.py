"""Bad input, keys and limits against a real server: every refusal is an RFC 9457 problem document with
the library's JSON paths and codes, and never repeats an ID number, phone, bank account or name."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from eligibility.errors import HouseholdError
from eligibility.models import parse_household

from .conftest import AS_OF, EXAMPLES, KEYS, LIMITS, Running

PROBLEM = "application/problem+json"
SENSITIVE = {
    "id_number": "110101199003077777",
    "phone": "13912345678",
    "bank_account": "6222020200112233445",
    "name": "张三丰",
}


def _problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = r.json()
    assert doc["status"] == status and doc["code"] == code and doc["type"] == f"/v1/problems/{code}"
    assert doc["title"] and doc["detail"] and doc["instance"] == r.request.url.path
    assert r.headers["Eligibility-Ruleset"].startswith("sha256:")
    return doc


def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer elig_wrong"}, {"X-API-Key": "elig_wrong"}, {"Authorization": "Basic abc"}],
)
def test_a_missing_or_wrong_key_is_401(server: Running, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, headers=headers) as c:
        for path in ("/v1/packs", "/v1/schema/decision", "/openapi.json"):
            doc = _problem(c.get(path), 401, "unauthorized")
            assert "elig_wrong" not in json.dumps(doc)
        r = c.post("/v1/evaluate", params={"as_of": AS_OF}, json=_example())
        _problem(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_either_header_carries_the_key(server: Running) -> None:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEYS["county-b"]}) as c:
        assert c.get("/v1/packs").status_code == 200
    with server.client("county-b") as c:
        assert c.get("/v1/packs").status_code == 200


def test_malformed_json_names_the_position(client: httpx.Client) -> None:
    body = b'{\n  "household_id": "X-1",\n  "region": "340602001001",\n  "members": [}\n}'
    doc = _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, content=body), 400, "malformed_json")
    assert (doc["line"], doc["column"]) == (4, 15)
    assert doc["position"] == body.index(b"}", body.index(b"["))
    assert doc["errors"][0]["path"] == "$" and "line 4 column 15" in doc["detail"]
    _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, content=b""), 400, "malformed_json")
    _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, content=b"\xff\xfe{}"), 400, "malformed_json")


def test_wrong_types_and_unknown_keys_carry_the_library_paths_and_codes(client: httpx.Client) -> None:
    bad = _example()
    bad["region"] = 340602
    bad["members"][0]["birth_date"] = "1975-02-30"
    bad["members"][1]["health"] = "健康"
    bad["income"]["wage"] = -5
    bad["members"][0]["shoe_size"] = 42
    bad["surplus"] = True
    r = client.post("/v1/evaluate", params={"as_of": AS_OF}, json=bad)
    doc = _problem(r, 422, "invalid_household")
    with pytest.raises(HouseholdError) as exc:
        parse_household(bad)
    library = [{"path": e.path, "code": e.code, "message": e.message} for e in exc.value.errors]
    assert doc["errors"] == library
    paths = {e["path"]: e["code"] for e in doc["errors"]}
    assert paths["$.members[0].shoe_size"] == "extra_forbidden" and paths["$.surplus"] == "extra_forbidden"
    assert paths["$.region"] == "string_type" and "$.members[0].birth_date" in paths
    # inside an envelope the same errors sit under $.household
    env = client.post("/v1/evaluate", json={"as_of": AS_OF, "household": bad})
    assert [e["path"] for e in _problem(env, 422, "invalid_household")["errors"]] == [
        "$.household" + e["path"][1:] for e in library
    ]


def test_request_level_mistakes(client: httpx.Client) -> None:
    ex = _example()
    _problem(client.post("/v1/evaluate", json=ex), 422, "invalid_request")  # no date anywhere
    doc = _problem(client.post("/v1/evaluate", params={"as_of": "2023-02-30"}, json=ex), 422, "invalid_request")
    assert doc["errors"][0]["path"] == "query.as_of"
    doc = _problem(
        client.post("/v1/evaluate", params={"as_of": AS_OF, "trace": "all"}, json=ex), 422, "invalid_request"
    )
    assert doc["errors"][0]["path"] == "query.trace"
    _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, json=[ex]), 422, "invalid_request")
    doc = _problem(client.post("/v1/evaluate", json={"as_of": AS_OF, "household": ex, "x": 1}), 422, "invalid_request")
    assert doc["errors"][0]["path"] == "$.x"
    _problem(client.post("/v1/evaluate", json={"as_of": "soon", "household": ex}), 422, "invalid_request")
    _problem(client.post("/v1/explain", params={"as_of": AS_OF, "lang": "fr"}, json=ex), 422, "invalid_request")


def test_oversize_bodies_are_refused(client: httpx.Client) -> None:
    big = _example()
    big["members"][0]["name"] = "名" * LIMITS.max_body_bytes
    _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, json=big), 413, "too_large")

    # without a Content-Length (chunked), the body is counted as it arrives
    def chunks() -> Any:
        for _ in range(LIMITS.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    _problem(client.post("/v1/evaluate", params={"as_of": AS_OF}, content=chunks()), 413, "too_large")
    line = json.dumps(_example(), ensure_ascii=False).encode() + b"\n"
    batch = line * (LIMITS.max_batch_bytes // len(line) + 1)
    _problem(client.post("/v1/batch", params={"as_of": AS_OF}, content=batch), 413, "too_large")


def test_no_sensitive_value_in_an_error_body(client: httpx.Client) -> None:
    bad = _example()
    member = bad["members"][0]
    # sensitive values given with the wrong type or in unknown fields, plus an invalid field elsewhere
    member["id_number"] = int(SENSITIVE["id_number"])
    member["phone"] = int(SENSITIVE["phone"])
    member["name"] = [SENSITIVE["name"]]
    bad["bank_account"] = {"number": SENSITIVE["bank_account"]}
    bad["members"][1]["id_card"] = SENSITIVE["id_number"]
    bad["members"][1]["birth_date"] = SENSITIVE["phone"]
    for route in ("/v1/evaluate", "/v1/explain"):
        r = client.post(route, params={"as_of": AS_OF}, json=bad)
        assert r.status_code == 422
        for value in SENSITIVE.values():
            assert value not in r.text, (route, value)
    r = client.post("/v1/batch", params={"as_of": AS_OF}, content=json.dumps(bad, ensure_ascii=False).encode())
    assert r.status_code == 200 and '"error"' in r.text
    for value in SENSITIVE.values():
        assert value not in r.text


def test_a_key_over_its_rate_gets_429_with_retry_after(server: Running) -> None:
    with server.client("slow") as c:
        time.sleep(2.1)  # a full bucket: burst 2
        codes = [c.get("/v1/packs").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
        r = c.get("/v1/packs")
        doc = _problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1 and doc["detail"]
        time.sleep(1.1)  # one token back
        assert c.get("/v1/packs").status_code == 200
    with server.client("county-a") as other:  # the limit is per key: other systems are unaffected
        assert other.get("/v1/packs").status_code == 200
