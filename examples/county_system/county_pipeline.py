"""A county system's own code (example): evaluate a batch and turn decisions into database rows.

This is what a county IT department might write around eligibility; ``test_county_pipeline.py``
beside it shows how such a system tests itself with the strategies eligibility ships.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from eligibility import Decision, EligibilityError, Engine

ENGINE = Engine()


def to_row(decision: Decision) -> dict[str, Any]:
    """One row of the county's monitoring table."""
    i = decision.identification
    return {
        "household_id": decision.household_id,
        "as_of": decision.as_of.isoformat(),
        "status": i.status,
        "category": i.category.zh if i.category else "",
        "risks": "、".join(f.zh for f in i.risks if f.certain),
        "to_fill": ";".join(p for m in i.blocking for p in m.fields),
        "fingerprint": decision.trace.ruleset_fingerprint,
    }


def run_batch(records: list[dict[str, Any]], as_of: date) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows for the households that could be decided, and one error entry for each that could not."""
    rows, errors = [], []
    for record in records:
        try:
            rows.append(to_row(ENGINE.evaluate(record, as_of)))
        except EligibilityError as exc:
            errors.append({"household_id": str(record.get("household_id")), "error": str(exc).splitlines()[0]})
    return rows, errors
