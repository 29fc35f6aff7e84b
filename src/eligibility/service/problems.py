"""RFC 9457 problem documents: every error the service answers with, by type.

A problem document is JSON (``application/problem+json``) with ``type``, ``title``, ``status``,
``detail`` and ``instance``, plus the members this service adds: ``code`` (a stable short name a
program can switch on) and, for a bad household, ``errors`` — each bad field with the JSON path, code
and message the library itself gives (:class:`~eligibility.errors.HouseholdError`), so a county system
gets the same paths over HTTP as from ``import eligibility``. Malformed JSON names the line, column and
character offset.

No member ever repeats an input value: messages name paths and expectations only, so an ID number,
phone number, bank account or name sent in a bad record is not echoed back or written to a log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["PROBLEMS", "Problem", "problem_body"]

#: code → (HTTP status, Chinese title, English title, what it means and what to do). The ``type`` of
#: each is ``/v1/problems/<code>``, which the service serves from this table.
PROBLEMS: Final[dict[str, tuple[int, str, str, str]]] = {
    "malformed_json": (400, "JSON 语法错误", "malformed JSON", "The body is not JSON; fix it at the position given."),
    "invalid_household": (
        422,
        "农户数据有误",
        "invalid household",
        "Fields of the household do not validate; `errors` lists each with its JSON path, code and message.",
    ),
    "invalid_request": (
        422,
        "请求参数有误",
        "invalid request",
        "A query parameter or the request envelope is wrong; `errors` names each.",
    ),
    "cannot_evaluate": (
        422,
        "规则无法评估",
        "the rules cannot decide",
        "The rules cannot decide this household on this date (no rules in force, a parameter without a "
        "value). Nothing is wrong with the request's form; the message says what the rules lack.",
    ),
    "unauthorized": (
        401,
        "缺少或无效的 API 密钥",
        "missing or invalid API key",
        "Send the key of your system as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    ),
    "rate_limited": (
        429,
        "请求过于频繁",
        "too many requests",
        "This key has used its request rate; retry after the seconds in `Retry-After`.",
    ),
    "too_large": (
        413,
        "请求体过大",
        "request body too large",
        "The body is larger than this service accepts; split a batch into several requests.",
    ),
    "too_many_records": (
        413,
        "批量记录过多",
        "too many records in one batch",
        "A batch may hold at most the number of lines given; the lines before the limit were answered.",
    ),
    "not_found": (404, "未找到", "not found", "No such route, rule, parameter or pack."),
    "method_not_allowed": (405, "方法不允许", "method not allowed", "Use the method the OpenAPI document lists."),
    "internal_error": (
        500,
        "服务内部错误",
        "internal error",
        "A failure inside the service (not the caller's fault); the log has the details, without input values.",
    ),
}


@dataclass
class Problem(Exception):
    """An error answered as a problem document; raise it from a route."""

    code: str
    detail: str
    errors: list[dict[str, Any]] | None = None
    headers: dict[str, str] | None = None
    extra: dict[str, Any] | None = None

    @property
    def status(self) -> int:
        return PROBLEMS[self.code][0]


def problem_body(problem: Problem, instance: str) -> bytes:
    """The JSON of a problem document (Chinese kept as is)."""
    status, zh, en, _ = PROBLEMS[problem.code]
    doc: dict[str, Any] = {
        "type": f"/v1/problems/{problem.code}",
        "title": f"{zh} / {en}",
        "status": status,
        "detail": problem.detail,
        "instance": instance,
        "code": problem.code,
    }
    if problem.errors is not None:
        doc["errors"] = problem.errors
    if problem.extra:
        doc.update(problem.extra)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
