"""Every route of the service against a real server: the same decisions and explanations as the CLI
(its golden files), responses valid under the service's own JSON Schemas, the rule routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from eligibility import load_rules
from eligibility.models import Household
from eligibility.service import ruleset_fingerprint

from .conftest import AS_OF, EXAMPLES, GOLDEN, RULES, Running

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


@pytest.fixture(scope="module")
def decision_validator(client_module: httpx.Client) -> jsonschema.protocols.Validator:
    schema = client_module.get("/v1/schema/decision").json()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client_module(server: Running) -> Any:
    with server.client() as c:
        yield c


def _body(name: str) -> bytes:
    return (EXAMPLES / f"{name}.json").read_bytes()


def test_health_routes_need_no_key_and_name_the_rules(server: Running) -> None:
    expected = ruleset_fingerprint(load_rules(RULES))
    with server.client(None) as c:
        h = c.get("/healthz")
        r = c.get("/readyz")
    assert h.status_code == 200 and h.json() == {"status": "ok"}
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["packs"] == len(load_rules(RULES).packs)
    assert h.headers["Eligibility-Ruleset"] == r.headers["Eligibility-Ruleset"] == expected


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_gives_the_cli_decision_and_matches_the_decision_schema(
    client_module: httpx.Client, decision_validator: jsonschema.protocols.Validator, name: str
) -> None:
    """The default trace is full, as `eligibility evaluate` prints it (the golden files pin that output)."""
    r = client_module.post("/v1/evaluate", params={"as_of": AS_OF}, content=_body(name))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    golden = json.loads((GOLDEN / f"{name}.evaluate.json").read_text(encoding="utf-8"))
    assert r.json() == golden
    decision_validator.validate(r.json())
    for level in ("compact", "none"):
        got = client_module.post("/v1/evaluate", params={"as_of": AS_OF, "trace": level}, content=_body(name)).json()
        decision_validator.validate(got)
        assert {k: v for k, v in got.items() if k != "trace"} == {k: v for k, v in golden.items() if k != "trace"}
        assert (got["trace"] is None) == (level == "none")


def test_the_decision_schema_rejects_what_is_not_a_decision(decision_validator: jsonschema.protocols.Validator) -> None:
    golden = json.loads((GOLDEN / f"{NAMES[0]}.evaluate.json").read_text(encoding="utf-8"))
    for broken in (
        {**golden, "identification": {**golden["identification"], "status": "maybe"}},
        {k: v for k, v in golden.items() if k != "as_of"},
        {**golden, "surplus": 1},
        {**golden, "trace": {**golden["trace"], "rules": "none"}},
    ):
        assert not decision_validator.is_valid(broken)


def test_an_envelope_carries_its_own_date(client_module: httpx.Client) -> None:
    household = json.loads(_body(NAMES[0]))
    r = client_module.post("/v1/evaluate", json={"as_of": AS_OF, "household": household}, params={"trace": "none"})
    plain = client_module.post("/v1/evaluate", json=household, params={"as_of": AS_OF, "trace": "none"})
    assert r.status_code == 200 and r.json() == plain.json()
    other = client_module.post("/v1/evaluate", json={"as_of": "2023-12-31", "household": household})
    assert other.status_code == 200 and other.json()["as_of"] == "2023-12-31"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", NAMES[:6])
def test_explain_gives_the_cli_text(client_module: httpx.Client, name: str, lang: str) -> None:
    r = client_module.post("/v1/explain", params={"as_of": AS_OF, "lang": lang}, content=_body(name))
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    # the CLI prints the text with print(), which adds one newline
    assert r.text + "\n" == (GOLDEN / f"{name}.explain.{lang}.txt").read_text(encoding="utf-8")


def test_packs_list_every_pack_with_its_regions(client: httpx.Client) -> None:
    rules = load_rules(RULES)
    doc = client.get("/v1/packs").json()
    assert doc["ruleset_fingerprint"] == ruleset_fingerprint(rules)
    assert [p["id"] for p in doc["packs"]] == list(rules.packs)
    huaibei = next(p for p in doc["packs"] if p["id"] == "anhui-huaibei")
    assert huaibei["extends"] == "anhui" and "3406" in huaibei["regions"]
    assert "monitoring_line" in huaibei["parameters"]


def test_a_parameter_on_a_date_is_the_value_the_trace_shows(client: httpx.Client) -> None:
    r = client.get("/v1/parameters/monitoring_line", params={"jurisdiction": "340602001001", "on": AS_OF})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["jurisdiction"]["code"] == "anhui-huaibei" and doc["unit"]
    # the same value, window and citations as the full trace of a Huaibei household on that date
    trace = json.loads((GOLDEN / f"{NAMES[0]}.evaluate.json").read_text(encoding="utf-8"))["trace"]
    sources = [
        s
        for rule in trace["rules"]
        for s in _leaf_sources(rule["condition"])
        if s["kind"] == "parameter" and s["name"] == "monitoring_line"
    ]
    assert sources, "the example's trace compares with the monitoring line"
    v = doc["value"]
    assert (v["valid_from"], v["valid_until"], v["pack"]) == (
        sources[0]["valid_from"],
        sources[0]["valid_until"],
        sources[0]["pack"],
    )
    assert [c["source"] for c in v["citations"]] == [c["source"] for c in sources[0]["citations"]]
    # by pack id too, and the whole history without a date
    by_pack = client.get("/v1/parameters/monitoring_line", params={"jurisdiction": "anhui-huaibei", "on": AS_OF})
    assert by_pack.json()["value"] == v
    history = client.get("/v1/parameters/monitoring_line", params={"jurisdiction": "anhui-huaibei"}).json()
    assert any(h["pack"] == "anhui-huaibei" and h["valid_from"] == v["valid_from"] for h in history["values"])


def _leaf_sources(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(node.get("sources") or [])
    for child in node.get("children") or []:
        out += _leaf_sources(child)
    return out


def test_a_parameter_without_a_value_is_a_not_found_problem_never_a_default(client: httpx.Client) -> None:
    r = client.get("/v1/parameters/monitoring_line", params={"jurisdiction": "national", "on": "1990-01-01"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "monitoring_line" in r.json()["detail"]
    unknown = client.get("/v1/parameters/monitoring_lin")
    assert unknown.status_code == 404 and "monitoring_line" in unknown.json()["detail"]  # did you mean
    nowhere = client.get("/v1/parameters/monitoring_line", params={"jurisdiction": "atlantis"})
    assert nowhere.status_code == 404


def test_a_rule_shows_its_versions_and_its_condition_in_force(client: httpx.Client) -> None:
    trace = json.loads((GOLDEN / f"{NAMES[0]}.evaluate.json").read_text(encoding="utf-8"))["trace"]
    fired = next(r for r in trace["rules"] if r["outcome"] == "fired")
    r = client.get(f"/v1/rules/{fired['id']}", params={"jurisdiction": "340602001001", "on": AS_OF})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["id"], doc["zh"], doc["kind"]) == (fired["id"], fired["zh"], fired["kind"])
    assert doc["in_force"]["version_from"] == fired["version_from"]
    assert doc["in_force"]["condition"]["op"] == fired["condition"]["op"]
    assert doc["versions"] and all("valid_from" in v for v in doc["versions"])
    assert set(doc["sources"]) == {c["source"] for c in fired["citations"]}
    missing = client.get("/v1/rules/no-such-rule")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_schemas_are_generated_from_the_models(client: httpx.Client) -> None:
    assert client.get("/v1/schema/household").json() == Household.model_json_schema()
    decision = client.get("/v1/schema/decision").json()
    assert decision["title"] == "Decision" and "identification" in decision["required"]


def test_the_openapi_document_lists_every_route_and_the_household_model(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    for path in (
        "/v1/evaluate",
        "/v1/explain",
        "/v1/batch",
        "/v1/packs",
        "/v1/parameters/{name}",
        "/v1/rules/{rule_id}",
        "/v1/schema/household",
        "/v1/schema/decision",
        "/healthz",
        "/readyz",
    ):
        assert path in doc["paths"], path
    assert "Household" in doc["components"]["schemas"] and "Member" in doc["components"]["schemas"]
    assert "Decision" in doc["components"]["schemas"]
    body = doc["paths"]["/v1/evaluate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Household"} in body["oneOf"]


def test_problem_types_are_documented(client: httpx.Client) -> None:
    r = client.get("/v1/problems/invalid_household")
    assert r.status_code == 200 and r.json()["status"] == 422
    assert client.get("/v1/problems/nonsense").status_code == 404


def test_unknown_routes_and_methods_are_problem_documents(client: httpx.Client) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/v1/problems/not_found" and r.json()["instance"] == "/v1/nothing-here"
    m = client.get("/v1/evaluate")
    assert m.status_code == 405 and m.json()["code"] == "method_not_allowed"
    assert "Eligibility-Ruleset" in r.headers and "Eligibility-Ruleset" in m.headers


def test_a_decision_the_rules_cannot_make_is_a_problem_with_the_library_message(client: httpx.Client) -> None:
    r = client.post("/v1/evaluate", params={"as_of": "1990-01-01"}, content=_body(NAMES[0]))
    assert r.status_code == 422 and r.json()["code"] == "cannot_evaluate"
    assert "1990-01-01" in r.json()["detail"]


def test_examples_dir_is_what_the_golden_files_pin() -> None:
    assert sorted(p.name.removesuffix(".evaluate.json") for p in Path(GOLDEN).glob("*.evaluate.json")) == NAMES
