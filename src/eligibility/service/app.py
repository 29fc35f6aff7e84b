"""The FastAPI application: routes, keys, limits, problem documents, the rule-set header.

Every route calls the library — :class:`~eligibility.engine.Engine`, :func:`~eligibility.explain.explain`,
:func:`~eligibility.compile.polars.decide_table`, the JSON Lines record reader of ``eligibility batch``
— so the service decides exactly as ``import eligibility`` and the ``eligibility`` command do; it adds
only HTTP. The OpenAPI document (``/openapi.json``) is generated from the same pydantic models
(:class:`~eligibility.models.Household`, :class:`~eligibility.decision.Decision`).

The outer layer is one plain ASGI middleware, because it runs on every request and must stay cheap: it
takes the rule-set snapshot, checks the key and the rate, and stamps ``Eligibility-Ruleset`` on every
response, problem documents and health checks included.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._dates import iso_date
from ..decision import Decision
from ..engine import TraceLevel
from ..errors import EvaluationError, HouseholdError
from ..explain import explain
from ..models import Household, household_from_json, loads_json
from .problems import PROBLEMS, Problem, problem_body
from .state import Snapshot, State

__all__ = ["Limits", "create_app", "decision_schema", "household_schema"]

log = logging.getLogger("eligibility.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SNAPSHOT = "eligibility.snapshot"
SYSTEM = "eligibility.system"
HEADER = "Eligibility-Ruleset"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""The only routes answered without a key: a load balancer's health checks carry none."""
JSON = "application/json"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class Limits:
    """Operational limits (not policy: nothing here decides a household). Defaults suit one county
    system on an intranet; ``eligibility serve`` takes each as an option."""

    max_body_bytes: int = 1 << 20
    """One household (evaluate, explain): 1 MiB — a household with 30 members is about 15 KiB."""
    max_batch_bytes: int = 64 << 20
    """A batch body: 64 MiB, about 25,000 households of the benchmark's average 2.5 KiB."""
    max_batch_records: int = 100_000
    """Lines of one batch; lines past the limit are each answered with a ``too_many_records`` error."""
    rate_per_second: float = 50.0
    """A key's sustained request rate when its entry in the keys file sets none."""
    burst: int = 100
    """Requests a key may send at once when its entry sets none."""
    batch_chunk: int = 2_000
    """Batch lines read and decided together, then written out in input order (either form)."""


def household_schema() -> dict[str, Any]:
    """JSON Schema of the input: :class:`~eligibility.models.Household` (what ``eligibility schema`` prints)."""
    return Household.model_json_schema()


def decision_schema() -> dict[str, Any]:
    """JSON Schema of the output: :class:`~eligibility.decision.Decision` as ``Decision.to_json`` writes it.

    Serialisation mode, so fields that always appear in the JSON are required. The compact trace writes
    itself through a serialiser whose return type says only "an object"; its members are the fields of
    :class:`~eligibility.decision.CompactTrace`, so that part is taken from the validation schema.
    """
    schema = Decision.model_json_schema(mode="serialization")
    compact = Decision.model_json_schema(mode="validation")["$defs"]["CompactTrace"]
    compact["required"] = sorted(compact["properties"])
    schema["$defs"]["CompactTrace"] = compact
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _problem_response(problem: Problem, instance: str) -> Response:
    return Response(
        problem_body(problem, instance),
        status_code=problem.status,
        media_type="application/problem+json",
        headers=problem.headers,
    )


class _Guard:
    """The ASGI layer in front of the routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, state: State, limits: Limits) -> None:
        from .keys import RateLimiter

        self.app, self.state, self.limits = app, state, limits
        self.rate = RateLimiter(limits.rate_per_second, limits.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        snap = self.state.current
        scope[SNAPSHOT] = snap
        header = (HEADER.lower().encode(), snap.fingerprint.encode())
        status = 0

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header, (b"cache-control", b"no-store")]
            await send(message)

        path: str = scope["path"]
        system = "-"
        try:
            if path not in OPEN_PATHS:
                entry = snap.keys.find(_key_of(scope))
                if entry is None:
                    problem = Problem("unauthorized", "缺少或无效的 API 密钥 / missing or invalid API key")
                    problem.headers = {"WWW-Authenticate": 'Bearer realm="eligibility"'}
                    await _problem_response(problem, path)(scope, receive, stamped)
                    return
                system = scope[SYSTEM] = entry.system
                wait = self.rate.take(entry)
                if wait > 0:
                    problem = Problem(
                        "rate_limited",
                        f"请在 {wait:.2f} 秒后重试 / retry in {wait:.2f} s",
                        headers={"Retry-After": str(max(1, round(wait + 0.5)))},
                    )
                    await _problem_response(problem, path)(scope, receive, stamped)
                    return
            await self.app(scope, receive, stamped)
        finally:
            # One line per request: who, what, outcome, time. Never a body, a query value or a key.
            log.info("%s %s %s %d %.1fms", system, scope["method"], path, status, (time.perf_counter() - t0) * 1e3)


def _key_of(scope: Scope) -> str:
    """The key from ``Authorization: Bearer …`` or ``X-API-Key``; empty when neither is sent."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
        elif name == b"x-api-key":
            return value.decode("latin-1").strip()
    return ""


def _snapshot(request: Request) -> Snapshot:
    snap: Snapshot = request.scope[SNAPSHOT]
    return snap


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem("too_large", f"请求体超过 {limit} 字节 / body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("too_large", f"请求体超过 {limit} 字节 / body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _malformed(exc: json.JSONDecodeError) -> Problem:
    """Malformed JSON, naming the place (line, column, character offset) and never the text there."""
    where = {"line": exc.lineno, "column": exc.colno, "position": exc.pos}
    return Problem(
        "malformed_json",
        f"JSON 语法错误 / malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
        errors=[{"path": "$", "code": "json_invalid", "message": exc.msg, **where}],
        extra=where,
    )


_AT = re.compile(r" at line (\d+) column (\d+)$")


def _undecodable(body: bytes, exc: HouseholdError) -> Problem:
    """A body the library's exact JSON reader refuses (:func:`~eligibility.models.loads_json`, the reader
    of ``eligibility evaluate``), as a problem document naming where and why, never the text there.

    The same reader as the command line, so that a body means over HTTP what it means in a file (issue 13
    §2): a repeated key is an error rather than the last value silently winning, ``NaN`` is not a number,
    money is read from its digits and not through a float (``23699.999999999999999999`` is too many
    digits, not 23,700), and 2,000 nested brackets are ``too_deep``, not an internal error.
    """
    err = exc.errors[0]
    if err.code == "too_large":
        return Problem("too_large", err.message)
    if err.code == "json_invalid":
        try:  # plain syntax errors keep Python's position in characters (line, column, offset)
            json.loads(body)
        except json.JSONDecodeError as jexc:
            return _malformed(jexc)
        except (ValueError, RecursionError):
            pass
    at = _AT.search(err.message)
    where = {"line": int(at.group(1)), "column": int(at.group(2))} if at else {}
    return Problem(
        "malformed_json",
        err.message,
        errors=[{"path": "$", "code": err.code, "message": err.message, **where}],
        extra=where or None,
    )


def _household_problem(exc: HouseholdError, prefix: str) -> Problem:
    """The library's field errors, each with its JSON path (under ``prefix`` in an envelope)."""
    errors = [{"path": prefix + e.path[1:], "code": e.code, "message": e.message} for e in exc.errors]
    n = len(errors)
    return Problem("invalid_household", f"{n} 个字段有误 / {n} invalid field(s)", errors=errors)


def _parse_request(body: bytes, as_of: date | None) -> tuple[Household, date]:
    """A household body, or an envelope ``{"as_of": ..., "household": {...}}`` as the CLI reads one;
    the date from the envelope, else from ``?as_of=`` (as a record's own date wins over ``--as-of``)."""
    try:
        data = loads_json(body)  # exact numbers; repeated keys, NaN, deep nesting, lone surrogates refused
    except HouseholdError as exc:
        raise _undecodable(body, exc) from None
    if not isinstance(data, dict):
        raise Problem(
            "invalid_request",
            "请求体应为 JSON 对象 / the body must be a JSON object",
            errors=[{"path": "$", "code": "model_type", "message": "must be a JSON object"}],
        )
    prefix = "$"
    on = as_of
    if "household" in data:
        unknown = sorted(set(data) - {"household", "as_of"})
        if unknown:
            errors = [
                {"path": f"$.{k}", "code": "extra_forbidden", "message": "Extra inputs are not permitted"}
                for k in unknown
            ]
            raise Problem("invalid_request", "信封中有未知的键 / unknown keys in the envelope", errors=errors)
        prefix, raw_on, data = "$.household", data.get("as_of"), data["household"]
        if raw_on is not None:
            on_env = iso_date(raw_on)
            if on_env is None:
                raise Problem(
                    "invalid_request",
                    "评估日期应为 YYYY-MM-DD / as_of must be a date YYYY-MM-DD",
                    errors=[{"path": "$.as_of", "code": "date_from_datetime_parsing", "message": "YYYY-MM-DD"}],
                )
            on = on_env
    if on is None:
        raise Problem(
            "invalid_request",
            "没有评估日期 / no assessment date: give ?as_of=YYYY-MM-DD or an {as_of, household} body",
            errors=[{"path": "query.as_of", "code": "missing", "message": "Field required"}],
        )
    if not isinstance(data, dict):
        raise Problem(
            "invalid_request",
            "household 应为 JSON 对象 / household must be a JSON object",
            errors=[{"path": prefix, "code": "model_type", "message": "must be a JSON object"}],
        )
    try:
        return household_from_json(data), on
    except HouseholdError as exc:
        raise _household_problem(exc, prefix) from None


def _decide(snap: Snapshot, household: Household, on: date, trace: TraceLevel) -> Decision:
    """The engine's decision; a full trace is asked as compact and joined with the manifest when
    written (:meth:`Engine.full_json`, :meth:`Engine.expand`), the engine's fast path to the same result."""
    try:
        return snap.engine.evaluate(household, on, trace="compact" if trace == "full" else trace)
    except EvaluationError as exc:
        raise Problem("cannot_evaluate", str(exc)) from None
    except HouseholdError as exc:  # valid alone, invalid on this date: a member born after it
        raise _household_problem(exc, "$") from None


def decision_json(snap: Snapshot, household: Household, on: date, trace: TraceLevel) -> str:
    """The decision's JSON: the bytes ``Decision.to_json(indent=None)`` gives at that trace level — except
    that ``compact`` answers in the labelled form (``model_dump_json``), as the decision schema describes
    it, not the storage wire form (docs/trace.md)."""
    d = _decide(snap, household, on, trace)
    if trace == "compact":
        return d.model_dump_json()
    return snap.engine.full_json(d, indent=None) if trace == "full" else d.to_json(indent=None)


def _explain(snap: Snapshot, household: Household, on: date, lang: Literal["zh", "en"]) -> str:
    """The text ``eligibility explain`` prints (without print's final newline)."""
    return explain(snap.engine.expand(_decide(snap, household, on, "full")), lang)


AsOf = Annotated[
    date | None, Query(description="评估日期 / assessment date YYYY-MM-DD (or in an {as_of, household} body)")
]
Level = Literal["full", "compact", "none"]
Where = Annotated[
    str | None, Query(description="规则包或区划代码 / pack id or region code (GB/T 2260); default: national")
]
_HOUSEHOLD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Household"},
                        {
                            "type": "object",
                            "properties": {
                                "as_of": {"type": "string", "format": "date"},
                                "household": {"$ref": "#/components/schemas/Household"},
                            },
                            "required": ["household"],
                            "additionalProperties": False,
                        },
                    ]
                }
            }
        },
    }
}


def create_app(state: State, limits: Limits | None = None) -> FastAPI:
    """The application over ``state`` (rules, engine, keys; see :class:`~eligibility.service.state.State`)."""
    limits = limits or Limits()
    app = FastAPI(
        title="eligibility",
        summary="防止返贫动态监测规则引擎 HTTP 服务 / HTTP service of the poverty-return monitoring rule engine",
        version=_version(),
        docs_url=None,  # the Swagger page loads scripts from the internet; intranets have none
        redoc_url=None,
    )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return _problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"path": ".".join(str(p) for p in e["loc"]), "code": e["type"], "message": e["msg"]} for e in exc.errors()
        ]
        return _problem_response(
            Problem("invalid_request", "请求参数有误 / invalid request", errors=errors), request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return _problem_response(Problem(code, str(exc.detail)), request.url.path)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        # The type and where, never the message: it could quote input.
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__, exc_info=exc)
        problem = Problem("internal_error", "服务内部错误，已记录 / internal error, logged")
        return _problem_response(problem, request.url.path)

    @app.get("/healthz", tags=["health"], summary="存活 / the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="就绪 / rules loaded; the last reload's outcome")
    async def readyz() -> dict[str, Any]:
        return state.readiness()

    @app.post(
        "/v1/evaluate",
        tags=["decide"],
        summary="评估一户 / decide one household",
        openapi_extra=_HOUSEHOLD_BODY,
        responses={200: {"model": Decision, "description": "the decision (as `eligibility evaluate` prints it)"}},
        response_class=Response,
    )
    async def evaluate(
        request: Request,
        as_of: AsOf = None,
        trace: Annotated[
            Level,
            Query(description="审计轨迹 / trace level: full (as the CLI), compact (refers to the manifest), none"),
        ] = "full",
    ) -> Response:
        body = await _body(request, limits.max_body_bytes)
        snap = _snapshot(request)
        household, on = _parse_request(body, as_of)
        if trace == "full":  # milliseconds of work: off the event loop
            text = await run_in_threadpool(decision_json, snap, household, on, trace)
        else:  # a fraction of a millisecond: a thread hop would cost more than it frees
            text = decision_json(snap, household, on, trace)
        return Response(text, media_type=JSON)

    @app.post(
        "/v1/explain",
        tags=["decide"],
        summary="解释 / the decision explained in Chinese or English",
        openapi_extra=_HOUSEHOLD_BODY,
        responses={200: {"content": {"text/plain": {}}, "description": "the text `eligibility explain` prints"}},
        response_class=Response,
    )
    async def explain_route(
        request: Request,
        as_of: AsOf = None,
        lang: Annotated[Literal["zh", "en"], Query(description="语言 / language")] = "zh",
    ) -> Response:
        body = await _body(request, limits.max_body_bytes)
        snap = _snapshot(request)
        household, on = _parse_request(body, as_of)
        text = await run_in_threadpool(_explain, snap, household, on, lang)
        return Response(text, media_type="text/plain; charset=utf-8")

    @app.post(
        "/v1/batch",
        tags=["decide"],
        summary="批量评估 / JSON Lines in, JSON Lines out: one decision or one error per line, in input order",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    NDJSON: {"schema": {"type": "string", "description": "one household (or envelope) a line"}}
                },
            }
        },
        responses={200: {"content": {NDJSON: {}}, "description": "one JSON object a line (docs/service.md)"}},
        response_class=StreamingResponse,
    )
    async def batch(
        request: Request,
        as_of: AsOf = None,
        form: Annotated[
            Literal["table", "decision"],
            Query(
                description="decision (default): the Decision JSON of /v1/evaluate on each line; "
                "table: the decision-table row `eligibility batch` writes (columnar program)"
            ),
        ] = "decision",
        trace: Annotated[Level, Query(description="审计轨迹 / trace level, for form=decision")] = "none",
    ) -> StreamingResponse:
        body = await _body(request, limits.max_batch_bytes)
        from .batch import answer_lines

        lines = answer_lines(_snapshot(request), body, as_of, form, trace, limits)
        return StreamingResponse(_in_thread(lines), media_type=NDJSON)

    @app.get("/v1/packs", tags=["rules"], summary="规则包 / the rule packs, their regions and parameters")
    async def packs(request: Request) -> dict[str, Any]:
        from .rules import packs_document

        return packs_document(_snapshot(request))

    @app.get("/v1/parameters/{name}", tags=["rules"], summary="参数 / a parameter's dated values in a jurisdiction")
    async def parameter(
        request: Request,
        name: str,
        jurisdiction: Where = None,
        on: Annotated[date | None, Query(description="the value on this date; without it, every dated value")] = None,
    ) -> dict[str, Any]:
        from .rules import parameter_document

        return parameter_document(_snapshot(request), name, jurisdiction, on)

    @app.get("/v1/rules/{rule_id}", tags=["rules"], summary="规则 / a rule: versions, citations, condition")
    async def rule(
        request: Request,
        rule_id: str,
        jurisdiction: Where = None,
        on: Annotated[date | None, Query(description="the version in force on this date (default: today)")] = None,
    ) -> dict[str, Any]:
        from .rules import rule_document

        return await run_in_threadpool(rule_document, _snapshot(request), rule_id, jurisdiction, on)

    @app.get("/v1/schema/household", tags=["schema"], summary="农户 JSON Schema / the input's JSON Schema")
    async def schema_household() -> dict[str, Any]:
        return household_schema()

    @app.get("/v1/schema/decision", tags=["schema"], summary="决定 JSON Schema / the output's JSON Schema")
    async def schema_decision() -> dict[str, Any]:
        return decision_schema()

    @app.get("/v1/problems/{code}", tags=["schema"], summary="问题类型 / what a problem type means")
    async def problem_type(code: str) -> dict[str, Any]:
        if code not in PROBLEMS:
            raise Problem("not_found", f"没有问题类型 / no problem type `{code}`")
        status, zh, en, meaning = PROBLEMS[code]
        return {"type": f"/v1/problems/{code}", "status": status, "title": f"{zh} / {en}", "description": meaning}

    _register_models(app)
    app.add_middleware(_Guard, state=state, limits=limits)
    return app


async def _in_thread(lines: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking generator of output lines, advanced in the thread pool so the server keeps serving."""
    while True:
        chunk = await run_in_threadpool(next, lines, b"")
        if not chunk:
            return
        yield chunk
        await asyncio.sleep(0)


def _register_models(app: FastAPI) -> None:
    """Put the Household schema (the request bodies' ``$ref``) into the OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            schema = Household.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components["Household"] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from .. import __version__

    return __version__
