"""Small parts of a decision table decided household by household (issue 10 §1, §7).

:func:`~eligibility.compile.polars.decide_table` splits its input by (pack chain, date span) and runs
each part's compiled polars program. A call of a program has a fixed cost of about 0.25 CPU s whatever
its rows (polars planning its ~40 stages, docs/batch-speed.md §11), so a table of many jurisdictions and
dates — a province file with several county packs, per-row assessment dates across a span boundary,
every part of ``run_batch`` — spent nearly all its time planning: 56 parts of ~36 rows took 14-15 CPU s
(~140 rows/s). The Python target (:class:`~eligibility.engine.Engine`) has no such fixed cost (~140 µs
a fresh bundled household), so a part below a threshold of rows is decided here, one household at a
time, and turned into exactly the rows the columnar program would give. Both targets exist and are
proven the same by the sameness tests; this only picks the cheaper one per part, as a database picks a
join by size. ``tests/property/test_rowwise.py`` checks the two paths give the same frame.

Anything this path cannot represent exactly — a column missing or of another type, a value the models
refuse (the columnar program reads such a frame as it stands), an assessment date the engine refuses —
sends the whole part back to the columnar program, so the table's output is what it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import polars as pl
from pydantic import ValidationError

from ..errors import EligibilityError
from ..facts import CATALOGUE
from ..models import Household
from ..ruleset import Chain, RuleSet

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

    from ..engine import Engine

__all__ = ["ROWWISE_ENV", "ROWWISE_ROWS", "decide_rows", "fits", "households_of", "rows_frame", "rowwise_rows"]

ROWWISE_ENV: Final = "ELIGIBILITY_BATCH_ROWWISE"
"""Environment override of :data:`ROWWISE_ROWS` (a whole number; 0: every part columnar)."""

ROWWISE_ROWS: Final = 400
"""Parts of fewer rows than this are decided household by household. Measured on fresh households
(``benchmarks/bench_batch_rowwise.py``; docs/batch-speed.md, session 14 small): a part costs the
columnar program about 0.23-0.27 CPU s (bundled packs) or 0.09 (identification-only) whatever its rows,
and the Python target 0.2-0.5 ms a row with the conversion from the frame and back; both cost the same
at about 500 rows (bundled) and 350 (identification-only)."""


def rowwise_rows(value: int | None = None) -> int:
    """The threshold in force: ``value`` when given, else ``ELIGIBILITY_BATCH_ROWWISE``, else
    :data:`ROWWISE_ROWS`. 0 means every part is columnar (what the sameness tests of the columnar
    target need, as their parts are small)."""
    if value is None:
        text = os.environ.get(ROWWISE_ENV, "").strip()
        if not text:
            return ROWWISE_ROWS
        if not text.isdigit():
            raise ValueError(f"{ROWWISE_ENV} 应为非负整数 / must be a whole number ≥ 0, not {text!r}")
        return int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"rowwise 应为非负整数 / must be a whole number ≥ 0, not {value!r}")
    return value


# ------------------------------------------------------------------------------------ frame → Household


def _plan() -> tuple[tuple[int, str, str | None], ...]:
    """For each catalogue column in order: (position, section or the field itself, field in section)."""
    out: list[tuple[int, str, str | None]] = []
    for i, path in enumerate(CATALOGUE):
        sec, _, attr = path.partition(".")
        out.append((i, sec, attr or None))
    return tuple(out)


_PLAN: Final = _plan()


def _items(cell: list[Any]) -> list[Any]:
    """A collection cell: each item's given fields (a struct's null field is an absent one)."""
    return [{k: v for k, v in item.items() if v is not None} for item in cell]


_COLLECTIONS: Final = frozenset(p for p, s in CATALOGUE.items() if s.type.kind == "collection")


def _record(row: Sequence[Any]) -> dict[str, Any]:
    """One frame row as the household's data: null cells left out, a section only where one of its
    fields has a value (the frame cannot tell an absent section from an empty one, and neither can a
    rule: every field of either reads as unknown)."""
    data: dict[str, Any] = {}
    for i, sec, attr in _PLAN:
        v = row[i]
        if v is None:
            continue
        if i in _COLLECTION_AT:
            v = _items(v)
        if attr is None:
            data[sec] = v
        else:
            data.setdefault(sec, {})[attr] = v
    return data


_COLLECTION_AT: Final = frozenset(i for i, path in enumerate(CATALOGUE) if path in _COLLECTIONS)


def households_of(frame: pl.DataFrame) -> list[Household] | None:
    """The households of the rows of ``frame`` (the input contract of ``decide_table``), validated by
    the models — the way back from :func:`~eligibility.compile.polars.households_frame`.

    Exact: each cell is handed to the models as polars gives it (Decimal with its column's scale, Date
    as ``date``, coded values as their Chinese text, lists and structs as lists and dicts), and the
    models' own validation decides — nothing is coerced here. None when the frame lacks a column of the
    contract or has one of another type; :class:`pydantic.ValidationError` for a value the models
    refuse."""
    return _households(frame) if fits(frame) else None


def fits(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` has every column of the input contract in its type, ``_row`` and ``as_of``
    included (checked once per table: comparing nested types is slow)."""
    from .polars import INPUT_SCHEMA

    given = frame.schema
    return all(given.get(p) == t for p, t in INPUT_SCHEMA.items())


def _households(frame: pl.DataFrame) -> list[Household]:
    validate = Household.model_validate
    return [validate(_record(row)) for row in frame.select(list(CATALOGUE)).iter_rows()]


# ------------------------------------------------------------------------------------ decisions → rows

_ENGINES_LOCK: Final = threading.Lock()


def _engine(ruleset: RuleSet) -> Engine:
    """One engine per rule set, reused by every call (its memos are bounded: ``Engine._keep``)."""
    engine: Engine | None = ruleset.__dict__.get("_rowwise_engine")
    if engine is None:
        from ..engine import Engine  # here: importing the engine cost a columnar-only run 0.12 CPU s

        with _ENGINES_LOCK:
            engine = ruleset.__dict__.setdefault("_rowwise_engine", Engine(ruleset))
    return engine


def decide_rows(ruleset: RuleSet, chain: Chain, part: pl.DataFrame) -> list[dict[str, Any]] | None:
    """The decision-table rows of ``part`` (rows of ``chain``'s pack, none of them refused for a birth
    after ``as_of``, the frame's columns checked by :func:`fits`), decided by the Python target: each
    with the columnar program's ``jurisdiction`` and ``ruleset_fingerprint`` (the chain's), as
    :func:`rows_frame` takes them. None when a row cannot be decided here exactly (see the module
    docstring): the caller runs the columnar program instead."""
    from .polars import decision_row

    try:
        households = _households(part)
    except ValidationError:
        return None
    engine = _engine(ruleset)
    pack, fingerprint = chain.pack.id, chain.fingerprint
    rows: list[dict[str, Any]] = []
    dates: list[date] = part.get_column("as_of").to_list()
    at: list[int] = part.get_column("_row").to_list()
    try:
        for h, on, row in zip(households, dates, at, strict=True):
            got = decision_row(engine.evaluate(h, on, trace="none"))
            got["_row"], got["jurisdiction"], got["ruleset_fingerprint"] = row, pack, fingerprint
            rows.append(got)
    except EligibilityError:
        return None
    return rows


def rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Decision rows (:func:`decide_rows`) as a decision table, in the table's types — built column by
    column from flat values: polars' constructors converted every nested cell on its own (each list of
    findings, each list of rule ids a Series of its own), about 0.3 ms a row for this table's
    twelve nested columns, more than deciding the household."""
    from .polars import OUTPUT_SCHEMA

    return pl.DataFrame([_series(name, [r[name] for r in rows], dtype) for name, dtype in OUTPUT_SCHEMA.items()])


def _series(name: str, values: list[Any], dtype: PolarsDataType) -> pl.Series:
    """``values`` as a column of ``dtype``: a list column from its items' column and a row number per
    item, a struct column from its fields' columns (a null list or struct: polars' own conversion)."""
    if isinstance(dtype, pl.List | pl.Struct) and any(v is None for v in values):
        return pl.Series(name, values, dtype)
    if isinstance(dtype, pl.Struct):
        fields = [_series(f.name, [v[f.name] for v in values], f.dtype) for f in dtype.fields]
        return pl.DataFrame(fields, schema={f.name: f.dtype for f in dtype.fields}).to_struct(name)
    if not isinstance(dtype, pl.List):
        return pl.Series(name, values, dtype)
    inner = _series("v", [x for v in values for x in v], dtype.inner)
    lengths = pl.Series("n", [len(v) for v in values], pl.UInt32)
    owner = pl.int_range(len(values), dtype=pl.UInt32).repeat_by(lengths).explode()
    items = pl.DataFrame([inner]).with_columns(pl.select(owner.alias("r")).to_series())
    lists = items.lazy().group_by("r", maintain_order=True).agg(pl.col("v"))
    every = pl.LazyFrame({"r": pl.Series(range(len(values)), dtype=pl.UInt32)})
    joined = every.join(lists, on="r", how="left", maintain_order="left")
    return joined.select(pl.col("v").fill_null(pl.lit([], dtype=dtype)).alias(name)).collect().to_series()
