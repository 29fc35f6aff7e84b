"""``POST /v1/batch``: JSON Lines in, JSON Lines out — one decision or one error per input line, in order.

Each line is read by the JSON Lines reader of ``eligibility batch``
(:func:`eligibility.io.tables.jsonl_record`), so a line means the same thing over HTTP as in a file.
Lines are then decided in chunks, in one of two forms:

* ``form=decision`` (the default): the per-household compiled engine; each line carries the Decision
  JSON of ``/v1/evaluate`` at the ``trace`` level asked for (default none);
* ``form=table``: the columnar program (:func:`eligibility.compile.polars.decide_table`); each line
  carries the decision-table row ``eligibility batch -o out.jsonl`` writes.

The default is the per-household engine because it measured faster for the batches one HTTP request
carries (thousands, many jurisdictions and dates): most of the columnar path's time there goes on
building the polars frame from Python objects and planning one query per (pack chain, date span) —
costs a county-wide ``eligibility batch`` of hundreds of thousands of rows spreads thin
(``benchmarks/bench_service.py`` prints both). Output is written chunk by chunk as it is decided.

Every output line is one JSON object naming its input line (1-based, blank lines counted)::

    {"line": 1, "household_id": "HB-001", "decision": {...}}
    {"line": 2, "household_id": null, "error": {"code": "malformed_json", "message": "...", "errors": [...]}}

A household id seen on an earlier line of the same batch makes the later line an error
(``duplicate_id``): the first was already answered, and two answers for one household would leave the
caller to guess which one counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from ..compile.polars import decide_table
from ..engine import TraceLevel
from ..io.tables import LineProblem, frame_from_households, jsonl_record
from ..io.writers import _json_default
from ..models import Household
from .app import Limits, decision_json
from .problems import Problem
from .state import Snapshot

__all__ = ["answer_lines"]

_CODE = {
    "bad_json": "malformed_json",
    "bad_encoding": "malformed_json",
    "not_an_object": "invalid_request",
    "bad_date": "invalid_request",
}
"""The problem code (problems.PROBLEMS) of a line-level reader code; any other is a household field's."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def _error(line: int, hid: str | None, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        err["errors"] = errors
    return (_dumps({"line": line, "household_id": hid, "error": err}) + "\n").encode()


def _problems(line: int, problems: list[LineProblem]) -> bytes:
    hid = next((p[3] for p in problems if p[3] is not None), None)
    code = _CODE.get(problems[0][0], "invalid_household")
    errors = [{"path": path or "$", "code": c, "message": m} for c, m, path, _ in problems]
    n = len(errors)
    return _error(line, hid, code, f"{n} 个错误 / {n} error(s)", errors)


def answer_lines(
    snap: Snapshot, body: bytes, as_of: date | None, form: str, trace: TraceLevel, limits: Limits
) -> Iterator[bytes]:
    """The output lines for a batch body, chunk by chunk (a generator: nothing is decided before it is
    asked for, so the first lines go out while later ones are being decided)."""
    records = [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    seen: dict[str, int] = {}
    for start in range(0, len(records), limits.batch_chunk):
        out: dict[int, bytes] = {}
        todo: list[tuple[int, Household, date]] = []
        for i, (n, line) in enumerate(records[start : start + limits.batch_chunk], start=start):
            if i >= limits.max_batch_records:
                message = f"一批最多 {limits.max_batch_records} 行 / at most {limits.max_batch_records} lines a batch"
                out[n] = _error(n, None, "too_many_records", message)
                continue
            got = jsonl_record(line, as_of, first=n == 1)
            if isinstance(got, list):
                out[n] = _problems(n, got)
                continue
            h, on = got
            if on is None:
                message = "没有评估日期 / no assessment date: give ?as_of= or an {as_of, household} line"
                out[n] = _error(n, h.household_id, "invalid_request", message)
            elif h.household_id in seen:
                message = f"户编号与第 {seen[h.household_id]} 行重复 / household id repeats line {seen[h.household_id]}"
                out[n] = _error(n, h.household_id, "duplicate_id", message)
            else:
                seen[h.household_id] = n
                todo.append((n, h, on))
        if todo:
            decide = _table if form == "table" else _decisions
            out.update(decide(snap, todo, trace))
        for n, _ in records[start : start + limits.batch_chunk]:
            yield out[n]


def _table(snap: Snapshot, todo: list[tuple[int, Household, date]], trace: TraceLevel) -> dict[int, bytes]:
    """One columnar run over the chunk; a row the rules cannot decide carries its reason as an error."""
    frame = frame_from_households((h, on, n) for n, h, on in todo)
    out: dict[int, bytes] = {}
    for row in decide_table(snap.rules, frame).iter_rows(named=True):
        n = row.pop("_row")
        if row["error"] is not None:
            out[n] = _error(n, row["household_id"], "cannot_evaluate", row["error"])
        else:
            out[n] = (_dumps({"line": n, "household_id": row["household_id"], "decision": row}) + "\n").encode()
    return out


def _decisions(snap: Snapshot, todo: list[tuple[int, Household, date]], trace: TraceLevel) -> dict[int, bytes]:
    """The per-household engine over the chunk: the Decision JSON of /v1/evaluate on each line.

    Decided grouped by region and date — the households of one program one after another — and answered
    by line: a batch of many jurisdictions and dates otherwise meets a different program's code and memos
    at nearly every line, and the processor's caches with them (bundled rules on households of every pack
    and date, ``trace="none"``, in blocks of 2,000 as here: 129.9 → 107.0 and 109.2 → 92.7 µs a
    household, two pairs; docs/engine_speed.md, session 25)."""
    out: dict[int, bytes] = {}
    for n, h, on in sorted(todo, key=_program_order):
        try:
            text = decision_json(snap, h, on, trace)
        except Problem as exc:  # the rules cannot decide, or a member born after the date: this line's error
            out[n] = _error(n, h.household_id, exc.code, exc.detail, exc.errors)
            continue
        head = _dumps({"line": n, "household_id": h.household_id})
        out[n] = (head[:-1] + ',"decision":' + text + "}\n").encode()
    return out


def _program_order(item: tuple[int, Household, date]) -> tuple[str, date, int]:
    """A line's place when a chunk is decided: its region, then its date (a region's program is fixed by
    the pair), then the line."""
    n, h, on = item
    return (h.region or "", on, n)
