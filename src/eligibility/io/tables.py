"""Batch readers: a county's file of households → the households frame the columnar evaluator reads.

:func:`read_households` takes JSON Lines, Parquet, CSV or Excel and returns a :class:`ReadResult`: the
frame of the valid rows (the contract in :func:`eligibility.io.columns.frame_schema`), one
:class:`RowError` per bad cell naming the file, the row and the column, the columns nobody reads, and the
number of input rows. Every input row ends up either in the frame or in the errors — a row is never
dropped silently, because a household missing from a county's list is a household nobody assesses.

JSON Lines goes through :func:`eligibility.parse_household`, the one definition of a valid household.
The tables (CSV, Excel, Parquet) are checked column by column with polars instead, because a county
exports tens of thousands of rows and per-row pydantic validation of a columnar file would cost more
than the evaluation; the column checks are generated from the same models (types, enum values,
``ge``/``le``, patterns, money's two decimals), and the round-trip tests keep the two in step.

Table cells are read strictly: a money cell ``23,699.99`` or ``1e3`` is an error, not a number, since a
silently coerced cell would decide a household on a value nobody entered. See ``docs/batch.md``.
"""

from __future__ import annotations

import codecs
import csv
import enum
import functools
import gc
import io
import itertools
import json
import logging
import re
import shutil
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import polars as pl
from pydantic import BaseModel

from .._dates import iso_date
from ..errors import EligibilityError, HouseholdError
from ..models import Household, births_after, household_from_json, loads_json
from .columns import (
    AS_OF,
    COLLECTIONS,
    EMPTY_MARKERS,
    HOUSEHOLD_ID,
    ROW,
    SET_SEPARATORS,
    SHEETS,
    TABLES,
    Column,
    Table,
    frame_schema,
    header_index,
    normalise_header,
)

__all__ = [
    "CsvParts",
    "JsonlIndex",
    "ReadResult",
    "RowError",
    "TableFormatError",
    "csv_parts",
    "frame_from_households",
    "jsonl_index",
    "jsonl_record",
    "parquet_repeated_ids",
    "parquet_rows",
    "read_csv_part",
    "read_households",
    "read_jsonl_part",
    "read_parquet_slice",
    "sibling_tables",
]

_POS: Final = "_pos"
_LOC: Final = "_loc"  # the row's location in its file: line number, Excel row, Parquet row (1-based)


class TableFormatError(EligibilityError):
    """The file cannot be read as a batch at all (unknown format, no household-id column, bad encoding).

    Raised instead of row errors because no row of such a file can be attributed to a household.
    """


@dataclass(frozen=True)
class RowError:
    """One problem with one input row: where it is and what is wrong.

    ``row`` is the line number for CSV and JSON Lines, the 1-based sheet row for Excel (the header is
    row 1) and the 1-based row number for Parquet; ``None`` for a problem of the whole file or header.
    ``column`` is the header as written in the file, a JSON path (JSON Lines), or ``members[2].name``
    (Parquet collections). ``index`` is the household's ``_row`` — the row the error keeps out of the
    frame — so errors can be joined with decisions.
    """

    file: str
    row: int | None
    column: str | None
    code: str
    message: str
    sheet: str | None = None
    index: int | None = None
    household_id: str | None = None

    def __str__(self) -> str:
        where = self.file + (f"[{self.sheet}]" if self.sheet else "") + (f":{self.row}" if self.row else "")
        col = f" {self.column}" if self.column else ""
        return f"{where}:{col} {self.message} [{self.code}]"


@dataclass
class ReadResult:
    """What a reader returns: the valid households as a frame, and everything that was not valid."""

    frame: pl.DataFrame
    errors: list[RowError] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    total_rows: int = 0
    notes: list[str] = field(default_factory=list)
    """Things worth telling the user that are not row errors (encoding guessed, no members table)."""


# --------------------------------------------------------------------------------------------- frames


def _value(v: Any) -> Any:
    """A model value as the frame holds it: enums by Chinese value, sets sorted, tuples as lists."""
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, frozenset):
        return sorted(x.value if isinstance(x, enum.Enum) else x for x in v)
    if isinstance(v, tuple):
        if v and isinstance(v[0], BaseModel):
            return [{k: _value(getattr(item, k)) for k in type(item).model_fields} for item in v]
        return [_value(x) for x in v]
    return v


def _get(h: Household, path: str) -> Any:
    obj: Any = h
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def frame_from_households(pairs: Iterable[tuple[Household, date | None, int]]) -> pl.DataFrame:
    """The households frame of validated households: ``(household, as_of or None, input position)``.

    The reference for every reader: a table reader's frame must equal this function's frame for the
    same households, which is what the round-trip tests check.
    """
    schema = frame_schema()
    data: dict[str, list[Any]] = {name: [] for name in schema}
    for h, on, row in pairs:
        data[ROW].append(row)
        data[AS_OF].append(on)
        for name in list(schema)[2:]:
            data[name].append(_value(_get(h, name)))
    return pl.DataFrame(data, schema=schema)


def _empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=frame_schema())


# ------------------------------------------------------------------------------------ cell conversion

_BOOLS: Final[dict[str, bool]] = {
    **dict.fromkeys(("是", "true", "1", "y", "yes", "t", "1.0"), True),
    **dict.fromkeys(("否", "false", "0", "n", "no", "f", "0.0"), False),
}
_NUMBER: Final = r"^-?[0-9]+(\.[0-9]+)?$"
_DATE: Final = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T]00:00:00(?:\.0+)?)?$"
_SEP_RE: Final = "[" + re.escape(SET_SEPARATORS) + "]"
_FIRST_SEP: Final = SET_SEPARATORS[0]

_MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "missing": ("不能为空", "is required"),
    "pattern": ("格式不对", "does not match the required pattern"),
    "bad_value": ("不是允许的取值", "is not an allowed value"),
    "bad_bool": ("应填 是 或 否", "must be 是 or 否 (yes/no)"),
    "not_integer": ("应为整数", "must be a whole number"),
    "not_a_number": (
        "应为数字（不带千分位逗号、单位或科学计数法）",
        "must be a plain number (no thousands separator, unit or exponent)",
    ),
    "too_many_decimals": ("小数位数过多", "has too many decimal places"),
    "too_large": ("数值过大", "is too large"),
    "too_small": ("数值过小", "is too small"),
    "bad_date": ("应为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "too_many": ("项数过多", "has too many items"),
    "bad_marker": ("只能填「无」或留空", "must be 无 (none) or blank"),
    "lost_precision": (
        "是数字格式，超过 15 位的数字已被 Excel 改动，请把该列设为文本后重新录入",
        "is an Excel number of more than 15 digits and has lost digits; format the column as text",
    ),
}


def _message(col: Column, code: str, extra: str = "") -> str:
    zh, en = _MESSAGES[code]
    if code == "bad_value":
        zh += "（" + "、".join(col.values) + "）"
    elif code == "too_small" and col.ge is not None:
        zh, en = f"应不小于 {col.ge}", f"must be ≥ {col.ge}"
    elif code == "too_large" and col.le is not None:
        zh, en = f"应不大于 {col.le}", f"must be ≤ {col.le}"
    elif code == "too_many" and col.max_items is not None:
        zh, en = f"最多 {col.max_items} 项", f"at most {col.max_items} items"
    elif code == "too_many_decimals":
        places = 2 if col.kind == "money" else 10
        zh, en = f"最多 {places} 位小数", f"at most {places} decimal places"
    elif code == "too_large" and col.kind == "money":
        zh, en = "金额超过 12 位整数", "more than 12 whole digits"
    return f"{col.header}{zh} / {col.en} {en}{extra}"


def _text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A raw cell as trimmed text (blank → null); floats in their shortest round-trip form."""
    # polars prints a float in the shortest form that reads back to the same double, so an Excel cell
    # holding the double nearest to 23699.99 (23699.990000000002…) prints "23699.99", and one that is not
    # the nearest double of any 2-decimal amount keeps its extra digits and fails the money check.
    # ``replace("", None)`` rather than ``when(t == "").then(None).otherwise(t)``: the same cells, but the
    # when/otherwise form evaluated the strip twice, and a conversion refers to its trimmed text several
    # times (value, error code, presence), so the strips were most of converting a text column (member
    # ids of 100,000 households: 23.8 → 11.9 ms; docs/batch-speed.md, "pqread").
    t = expr if isinstance(dtype, pl.String) else expr.cast(pl.String)
    return t.str.strip_chars().replace("", None)


def _enum_map(col: Column) -> dict[str, str]:
    return {**{v: v for v in col.values}, **col.codes}


@dataclass(frozen=True)
class _Converted:
    value: pl.Expr
    code: pl.Expr  # null where the cell is fine
    settled: pl.Expr | None = None
    """The value where no cell of the column has an error code, when that is simpler than ``value``: a
    text column's trimmed text, without the error code that ``value`` tests cell by cell."""


def _canonical_items(col: Column, series: pl.Series) -> bool:
    """Whether every item of a typed list column (Parquet) already reads as itself through the text path
    of :func:`_convert`: a date of a four-digit year, or a code of the column's vocabulary with no
    separator, no surrounding space and no 无-like marker in it. Such a column is converted item for item
    (:func:`_typed_items`), without writing every list as text and parsing it back, which cost most of
    reading a Parquet file (a list of visit dates or health statuses per row); the result is the same."""
    dtype = series.dtype
    if not isinstance(dtype, pl.List):
        return False
    items = series.explode().drop_nulls()
    if col.kind == "dates" and dtype.inner == pl.Date():
        return bool(items.is_empty() or items.dt.year().is_between(1000, 9999).all())
    if col.kind == "set" and dtype.inner == pl.String():
        keys = [
            k
            for k in _enum_map(col)
            if k == k.strip() and k and not re.search(_SEP_RE, k) and k.lower() not in EMPTY_MARKERS
        ]
        return bool(items.is_in(keys).all())
    return False


def _trimmed(series: pl.Series) -> bool:
    """Whether every cell of a text column already reads as its trimmed text (:func:`_text`: no space
    around it, not empty; a null stays null), so that :func:`_convert` may use the cells as they are.
    One trim of the column, where the conversion trimmed it once for every use of the trimmed text in its
    value and error code (a county's ids and codes come trimmed: ``docs/batch-speed.md``, "pqread")."""
    if not isinstance(series.dtype, pl.String):
        return False
    return bool(series.to_frame().select(_text(pl.col(series.name), series.dtype)).to_series().equals(series))


def _sorted_set(items: pl.Expr) -> pl.Expr:
    """Each list made unique and sorted, as the model's ``frozenset`` is written. The sort runs inside
    ``list.eval``: ``list.sort()`` cost about 11 µs of CPU per row in this polars (3.4 CPU s for the
    295,000 members' health lists of 100,000 households, against 0.1 s for the same sort in ``list.eval``;
    measured in ``docs/batch-speed.md``, "e2ein"), whatever the lists' length."""
    return items.list.unique().list.eval(pl.element().sort())


def _as_is(col: Column, series: pl.Series, canonical: bool) -> bool:
    """Whether every cell of a column of coded values already reads as itself, without error, through
    :func:`_convert` — a text column (``enum``) of the vocabulary's Chinese values with no space around
    them, or a typed list column (``set``) of canonical items (``canonical``, :func:`_canonical_items`)
    each already unique and sorted; a null cell stays null. Such a column is taken as it is
    (:func:`_normalise`), where trimming and looking up every cell, or sorting every list, cost most of
    checking a Parquet part's members (measured at 100,000 households, 295,000 members: 0.05 CPU s for
    each of relation, labour and schooling, 0.11 for the health lists; ``docs/batch-speed.md``, "e2ein").

    The check runs :func:`_convert`'s own expressions over the column's distinct cells (a vocabulary's
    worth), and the conversion is cell by cell, so what holds for the distinct cells holds for all."""
    if col.kind == "enum" and isinstance(series.dtype, pl.String):
        conv = _convert(col, pl.col(series.name), series.dtype)
    elif col.kind == "set" and canonical:
        conv = _convert(col, pl.col(series.name), series.dtype, canonical)
    else:
        return False
    distinct = series.unique()
    got = distinct.to_frame().select(conv.value.alias("value"), conv.code.alias("code"))
    return bool(got.get_column("code").is_null().all()) and got.get_column("value").equals(distinct)


def _typed_items(col: Column, raw: pl.Expr) -> _Converted:
    """A typed list column whose items are all canonical (:func:`_canonical_items`): the value and the
    error codes :func:`_convert`'s text path gives it — a null item is ``missing``, more items than
    allowed ``too_many``; codes map to the vocabulary's values and a set is made unique and sorted."""
    none = pl.lit(None, pl.String)
    items = raw
    if col.kind == "set":
        items = raw.list.eval(pl.element().replace_strict(_enum_map(col), return_dtype=pl.String))
    if col.unique:
        items = _sorted_set(items)
    holes = raw.list.eval(pl.element().is_null()).list.any().fill_null(False)
    err = pl.when(holes).then(pl.lit("missing")).otherwise(none)
    if col.max_items is not None:
        err = pl.when(err.is_null() & (items.list.len() > col.max_items)).then(pl.lit("too_many")).otherwise(err)
    return _Converted(pl.when(err.is_null()).then(items).otherwise(None), err)


def _convert(
    col: Column, raw: pl.Expr, dtype: pl.DataType, canonical: bool = False, trimmed: bool = False
) -> _Converted:
    """Expressions turning one raw column into the frame's type, and the error code of each bad cell.

    ``canonical``: a typed list column whose items :func:`_canonical_items` found canonical. ``trimmed``:
    a text column whose every cell already reads as its trimmed text (:func:`_trimmed`): the cells are
    used as they are, where the trimmed text is referred to several times and each time trimmed again."""
    none = pl.lit(None, pl.String)
    if canonical:
        return _typed_items(col, raw)
    if col.kind in ("set", "dates") and isinstance(dtype, pl.List):
        # A list column (Parquet): empty list = known empty, otherwise the elements as a 、 joined text.
        joined = raw.list.eval(pl.element().cast(pl.String)).list.join(_FIRST_SEP, ignore_nulls=False)
        t = pl.when(raw.list.len() == 0).then(pl.lit("无")).otherwise(joined)
        inner = _convert(col, t, pl.String())
        # A null element would make the joined text null, i.e. silently unknown: an error instead.
        holes = raw.list.eval(pl.element().is_null()).list.any().fill_null(False)
        code = pl.when(holes).then(pl.lit("missing")).otherwise(inner.code)
        return _Converted(pl.when(holes).then(None).otherwise(inner.value), code)
    if col.kind == "date" and isinstance(dtype, pl.Date):
        return _Converted(raw, none)
    if col.kind == "bool" and isinstance(dtype, pl.Boolean):
        return _Converted(raw, none)
    if col.kind == "int" and dtype.is_integer():
        # A typed integer column (Parquet) needs no text round trip: the same value and range checks.
        v = raw.cast(pl.Int64, strict=False)
        code = pl.when(raw.is_not_null() & v.is_null()).then(pl.lit("not_integer")).otherwise(none)
        if col.ge is not None:
            code = pl.when(v < col.ge).then(pl.lit("too_small")).otherwise(code)
        if col.le is not None:
            code = pl.when(v > col.le).then(pl.lit("too_large")).otherwise(code)
        return _Converted(pl.when(code.is_null()).then(v).otherwise(None), code)
    places = 2 if col.kind == "money" else 10
    if col.kind in ("money", "decimal") and isinstance(dtype, pl.Decimal) and (dtype.scale or 0) <= places:
        # A typed decimal of no more places than allowed (Parquet): exact as it is; the checks of the
        # text path (negative, too many whole digits) on the number itself.
        limit = pl.lit(Decimal(10) ** (12 if col.kind == "money" else 28))
        code = (
            pl.when(raw < 0)
            .then(pl.lit("too_small"))
            .when(raw.abs() >= limit)
            .then(pl.lit("too_large"))
            .otherwise(none)
        )
        return _Converted(pl.when(code.is_null()).then(raw).otherwise(None).cast(col.dtype), code)
    t = raw if trimmed else _text(raw, dtype)
    present = t.is_not_null()
    if col.kind == "text":
        if dtype.is_float():
            t = t.str.replace(r"\.0$", "")  # a code or id typed as a number in Excel: 340602001001.0
        code = none
        if col.required:
            code = pl.when(~present).then(pl.lit("missing")).otherwise(code)
        if col.pattern:
            code = pl.when(present & ~t.str.contains(col.pattern)).then(pl.lit("pattern")).otherwise(code)
        if dtype.is_float():
            # Excel keeps 15 significant digits: an 18-digit ID or a bank account typed as a number has
            # already lost its last digits, and no reading can bring them back.
            code = pl.when(raw.abs() >= 1e15).then(pl.lit("lost_precision")).otherwise(code)
        return _Converted(pl.when(code.is_null()).then(t).otherwise(None), code, t)
    if col.kind == "enum":
        v = t.replace_strict(_enum_map(col), default=None, return_dtype=pl.String)
        return _Converted(v, pl.when(present & v.is_null()).then(pl.lit("bad_value")).otherwise(none))
    if col.kind == "bool":
        v = t.str.to_lowercase().replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
        return _Converted(v, pl.when(present & v.is_null()).then(pl.lit("bad_bool")).otherwise(none))
    if col.kind == "int":
        ok = t.str.contains(r"^[+-]?[0-9]+(\.0+)?$")
        v = pl.when(ok).then(t.str.replace(r"\.0+$", "").str.strip_prefix("+")).otherwise(None)
        v = v.cast(pl.Int64, strict=False)
        code = pl.when(present & v.is_null()).then(pl.lit("not_integer")).otherwise(none)
        if col.ge is not None:
            code = pl.when(v < col.ge).then(pl.lit("too_small")).otherwise(code)
        if col.le is not None:
            code = pl.when(v > col.le).then(pl.lit("too_large")).otherwise(code)
        return _Converted(pl.when(code.is_null()).then(v).otherwise(None), code)
    if col.kind in ("money", "decimal"):
        number = t.str.contains(_NUMBER)
        frac = t.str.extract(r"\.([0-9]*?)0*$", 1).fill_null("")
        whole = t.str.extract(r"^-?0*([0-9]*)", 1).fill_null("")
        negative = t.str.starts_with("-") & ~t.str.contains(r"^-0+(\.0+)?$")
        code = (
            pl.when(~present)
            .then(none)
            .when(~number)
            .then(pl.lit("not_a_number"))
            .when(negative)
            .then(pl.lit("too_small"))
            .when(frac.str.len_chars() > places)
            .then(pl.lit("too_many_decimals"))
            .when(whole.str.len_chars() > (12 if col.kind == "money" else 28))
            .then(pl.lit("too_large"))
            .otherwise(none)
        )
        v = pl.when(code.is_null() & present).then(t.str.strip_prefix("-")).otherwise(None)
        return _Converted(v.cast(col.dtype, strict=False), code)
    if col.kind == "date":
        if isinstance(dtype, pl.Datetime):
            v = raw.cast(pl.Date)
            midnight = raw.dt.time() == pl.time(0)
            v = pl.when(midnight).then(v).otherwise(None)
        else:
            v = t.str.extract(_DATE, 1).str.to_date("%Y-%m-%d", strict=False)
        return _Converted(v, pl.when(present & v.is_null()).then(pl.lit("bad_date")).otherwise(none))
    # set / dates given as text: split on the separators; 无 = known empty
    parts = t.str.replace_all(_SEP_RE, _FIRST_SEP).str.split(_FIRST_SEP)
    parts = parts.list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))
    empty = t.str.to_lowercase().is_in(list(EMPTY_MARKERS))
    if col.kind == "set":
        items = parts.list.eval(pl.element().replace_strict(_enum_map(col), default=None, return_dtype=pl.String))
        bad = items.list.eval(pl.element().is_null()).list.any()
        err_code = "bad_value"
    else:
        items = parts.list.eval(pl.element().str.extract(_DATE, 1).str.to_date("%Y-%m-%d", strict=False))
        bad = items.list.eval(pl.element().is_null()).list.any()
        err_code = "bad_date"
    if col.unique:
        items = _sorted_set(items)
    items = pl.when(empty).then(pl.lit([], col.dtype)).otherwise(items)
    err = pl.when(present & ~empty & bad).then(pl.lit(err_code)).otherwise(none)
    if col.max_items is not None:
        err = pl.when(err.is_null() & (items.list.len() > col.max_items)).then(pl.lit("too_many")).otherwise(err)
    return _Converted(pl.when(err.is_null()).then(items).otherwise(None), err)


def _normalise(
    raw: pl.DataFrame,
    columns: dict[str, tuple[str, Column]],
    keys: Sequence[str],
    taken: set[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Convert the mapped raw columns; return the clean frame and the bad cells.

    ``columns`` maps raw column name → (header as written, column). The clean frame holds ``keys`` and
    one column per ``Column.path``; the errors frame holds ``keys``, ``column`` (header as written),
    ``code`` and ``message``. ``taken``, if given, receives the raw names of the columns taken as they
    are (:func:`_as_is`): their clean column is the raw column cast to the column's type.
    """
    values: list[pl.Expr] = [pl.col(k) for k in keys]
    err_frames: list[pl.DataFrame] = []
    codes: list[pl.Expr] = []
    convs: list[_Converted] = []
    for name, (_, col) in columns.items():
        series = raw.get_column(name)
        canonical = col.kind in ("set", "dates") and _canonical_items(col, series)
        if _as_is(col, series, canonical):
            conv = _Converted(pl.col(name), pl.lit(None, pl.String))
            if taken is not None:
                taken.add(name)
        else:
            conv = _convert(col, pl.col(name), raw.schema[name], canonical, _trimmed(series))
        convs.append(conv)
        codes.append(conv.code.alias(name))
    # Every column's error codes in one pass; the cells of a bad column are then read again only on
    # its bad rows (as text, for the message): one select per column over the whole table, each
    # casting the column to text, cost most of reading a clean Parquet file.
    found = raw.select(*[pl.col(k) for k in keys], *codes) if codes else raw.select(keys)
    bad_any = found.select(pl.col(c).is_not_null().any() for c in found.columns[len(keys) :]).row(0) if codes else ()
    for (_, (_, col)), conv, bad in zip(columns.items(), convs, bad_any, strict=True):
        value = conv.settled if conv.settled is not None and not bad else conv.value
        values.append(value.cast(col.dtype).alias(col.path))
    for (name, (header, col)), bad in zip(columns.items(), bad_any, strict=True):
        if not bad:
            continue
        where = found.get_column(name).is_not_null()
        rows = raw.filter(where).select(*[pl.col(k) for k in keys], _text_or_repr(name, raw))
        code_list = found.get_column(name).filter(where).to_list()
        messages = [
            _message(col, c, f"：{v!r}" if v is not None else "")
            for c, v in zip(code_list, rows["value"].to_list(), strict=True)
        ]
        err_frames.append(
            rows.select(
                *keys,
                pl.lit(header).alias("column"),
                pl.Series("code", code_list, dtype=pl.String),
                pl.Series("message", messages, dtype=pl.String),
            )
        )
    clean = raw.select(values)
    key_schema = {k: raw.schema[k] for k in keys}
    errors = (
        pl.concat(err_frames)
        if err_frames
        else pl.DataFrame(schema={**key_schema, "column": pl.String, "code": pl.String, "message": pl.String})
    )
    return clean, errors


def _text_or_repr(name: str, raw: pl.DataFrame) -> pl.Expr:
    dtype = raw.schema[name]
    if isinstance(dtype, pl.List):
        return pl.col(name).list.eval(pl.element().cast(pl.String)).list.join("、").alias("value")
    return pl.col(name).cast(pl.String).alias("value")


# ------------------------------------------------------------------------------------------- tables


@dataclass
class _Table:
    """One raw table as read from a file: string or typed cells, the header as written, row locations."""

    file: str
    sheet: str | None
    frame: pl.DataFrame  # raw columns named as in the file, plus _LOC (Int64)
    header_row: int | None  # where the header is (for header errors): line 1 / sheet row 1
    ragged: dict[int, str] = field(default_factory=dict)
    """Rows with more cells than the header (location → message): read, but kept out of the frame."""


class _Ids(Mapping[int, str]):
    """Household id by ``_row`` of a checked frame, for naming a bad row's household in its errors. Built
    on first use: a file without errors never asks, and building it (a Python dict of every row) cost
    0.02–0.03 CPU s per 100,000 households read."""

    def __init__(self, clean: pl.DataFrame) -> None:
        self._clean: pl.DataFrame | None = clean
        self._ids: dict[int, str] = {}

    def _built(self) -> dict[int, str]:
        if self._clean is not None:
            rows, hids = self._clean[ROW].to_list(), self._clean[HOUSEHOLD_ID].to_list()
            self._ids = {i: v for i, v in zip(rows, hids, strict=True) if v is not None}
            self._clean = None
        return self._ids

    def __getitem__(self, row: int) -> str:
        return self._built()[row]

    def __iter__(self) -> Iterator[int]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def _ragged_errors(table: _Table, locs: pl.DataFrame, index_col: str, ids: Mapping[int, str]) -> list[RowError]:
    """Errors for the table's ragged rows; ``locs`` maps _LOC to the household index in ``index_col``."""
    out: list[RowError] = []
    for loc, message in table.ragged.items():
        hits = locs.filter(pl.col(_LOC) == loc)[index_col].to_list()
        idx = hits[0] if hits else None
        out.append(
            RowError(
                table.file,
                loc,
                None,
                "ragged_row",
                message,
                table.sheet,
                idx,
                ids.get(idx) if idx is not None else None,
            )
        )
    return out


def _map_columns(
    table: _Table, kind: Table, errors: list[RowError], unknown: list[str]
) -> dict[str, tuple[str, Column]]:
    """Raw column → (header, column); unknown headers reported once, a second header for a field an error."""
    index = header_index(kind)
    out: dict[str, tuple[str, Column]] = {}
    seen: dict[str, str] = {}
    for name in table.frame.columns:
        if name in (_LOC, ROW):
            continue
        col = index.get(normalise_header(name))
        if col is None:
            unknown.append(name if kind == "households" else f"{table.sheet or Path(table.file).name}: {name}")
            continue
        if col.path in seen:
            errors.append(
                RowError(
                    table.file,
                    table.header_row,
                    name,
                    "duplicate_column",
                    f"列「{name}」与「{seen[col.path]}」是同一字段，已忽略 / "
                    f"column {name!r} repeats {seen[col.path]!r}; ignored",
                    table.sheet,
                )
            )
            continue
        seen[col.path] = name
        out[name] = (name, col)
    return out


def _drop_blank_rows(frame: pl.DataFrame) -> pl.DataFrame:
    data = [c for c in frame.columns if c != _LOC]
    if not data:
        return frame
    blank = pl.all_horizontal(
        [
            pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == "")
            if not isinstance(frame.schema[c], pl.List)
            else pl.col(c).is_null()
            for c in data
        ]
    )
    return frame.filter(~blank)


def _row_errors(table: _Table, errs: pl.DataFrame, index_col: str | None, ids: Mapping[int, str]) -> list[RowError]:
    out: list[RowError] = []
    for rec in errs.iter_rows(named=True):
        idx = rec.get(index_col) if index_col else None
        out.append(
            RowError(
                table.file,
                rec[_LOC],
                rec["column"],
                rec["code"],
                rec["message"],
                table.sheet,
                idx,
                ids.get(idx) if idx is not None else None,
            )
        )
    return out


def _assemble(
    households: _Table,
    items: dict[str, _Table | None],
    as_of: date | None,
    *,
    row_offset: int = 0,
    repeated: dict[str, list[int]] | None = None,
) -> ReadResult:
    """Households table (+ item tables) → ReadResult; the shared back half of the CSV and Excel readers.

    A part of a file (:func:`read_csv_part`) passes its first row's number (``row_offset``) and the ids
    repeated anywhere in the file with their lines (``repeated``): a repeated id is then an error on
    every row that has it, whichever part that row is in."""
    errors: list[RowError] = []
    unknown: list[str] = []
    raw = _drop_blank_rows(households.frame).with_row_index(ROW, offset=row_offset)
    total = raw.height
    cols = _map_columns(households, "households", errors, unknown)
    if not any(c.path == HOUSEHOLD_ID for _, c in cols.values()):
        raise TableFormatError(f"{households.file}: 没有「户编号」列 / no household id column (户编号 or household_id)")
    markers = {name: hc for name, hc in cols.items() if hc[1].path in COLLECTIONS}
    scalar_cols = {name: hc for name, hc in cols.items() if name not in markers}
    clean, errs = _normalise(raw, scalar_cols, [ROW, _LOC])
    ids = _Ids(clean)
    errors += _row_errors(households, errs, ROW, ids)
    errors += _ragged_errors(households, clean, ROW, ids)
    bad: set[int] = set(errs[ROW].to_list()) | {e.index for e in errors if e.index is not None}

    # Duplicate household ids: every row sharing an id is an error, since either could be the right one.
    is_repeated = (
        pl.col(HOUSEHOLD_ID).is_duplicated() if repeated is None else pl.col(HOUSEHOLD_ID).is_in(list(repeated))
    )
    dup = clean.filter(pl.col(HOUSEHOLD_ID).is_not_null() & is_repeated)
    id_header = next(h for h, c in cols.values() if c.path == HOUSEHOLD_ID)
    for rec in dup.iter_rows(named=True):
        others = (
            [str(r) for r in dup.filter(pl.col(HOUSEHOLD_ID) == rec[HOUSEHOLD_ID])[_LOC].to_list()]
            if repeated is None
            else [str(r) for r in repeated[rec[HOUSEHOLD_ID]]]
        )
        errors.append(
            RowError(
                households.file,
                rec[_LOC],
                id_header,
                "duplicate_id",
                f"户编号 {rec[HOUSEHOLD_ID]} 重复（第 {'、'.join(others)} 行）/ "
                f"household id repeated (rows {', '.join(others)})",
                households.sheet,
                rec[ROW],
                rec[HOUSEHOLD_ID],
            )
        )
        bad.add(rec[ROW])
    unique_ids = clean.filter(pl.col(HOUSEHOLD_ID).is_not_null() & ~is_repeated).select(ROW, HOUSEHOLD_ID)

    # Collection markers: 无 = known empty.
    empty_known: dict[str, set[int]] = {}
    for name, (header, col) in markers.items():
        t = raw.select(ROW, _LOC, _text(pl.col(name), raw.schema[name]).alias("t")).filter(pl.col("t").is_not_null())
        marked = t.filter(pl.col("t").str.to_lowercase().is_in(list(EMPTY_MARKERS)))
        empty_known[col.path] = set(marked[ROW].to_list())
        for rec in t.filter(~pl.col("t").str.to_lowercase().is_in(list(EMPTY_MARKERS))).iter_rows(named=True):
            errors.append(
                RowError(
                    households.file,
                    rec[_LOC],
                    header,
                    "bad_marker",
                    _message(col, "bad_marker", f"：{rec['t']!r}"),
                    households.sheet,
                    rec[ROW],
                    ids.get(rec[ROW]),
                )
            )
            bad.add(rec[ROW])

    # Item tables (members, measures), linked by household id.
    lists: dict[str, pl.DataFrame] = {}
    for collection, table in items.items():
        kind = COLLECTIONS[collection]
        if table is None:
            continue
        icols = _map_columns(table, kind, errors, unknown)
        if not any(c.path == HOUSEHOLD_ID for _, c in icols.values()):
            raise TableFormatError(f"{table.file}: 没有「户编号」列 / no household id column (户编号 or household_id)")
        iraw = _drop_blank_rows(table.frame).with_row_index("_item")
        iclean, ierrs = _normalise(iraw, icols, ["_item", _LOC])
        iclean = iclean.join(unique_ids.rename({ROW: "_hh"}), on=HOUSEHOLD_ID, how="left")
        hh_of = dict(zip(iclean["_item"].to_list(), iclean["_hh"].to_list(), strict=True))
        ierrs = ierrs.with_columns(
            pl.col("_item").replace_strict(hh_of, default=None, return_dtype=pl.UInt32).alias("_hh")
        )
        item_errors = _row_errors(table, ierrs, "_hh", ids) + _ragged_errors(table, iclean, "_hh", ids)
        errors += item_errors
        bad.update(e.index for e in item_errors if e.index is not None)
        duplicated = set(dup[HOUSEHOLD_ID].to_list()) if repeated is None else set(repeated)
        orphans = iclean.filter(pl.col("_hh").is_null() & pl.col(HOUSEHOLD_ID).is_not_null())
        orphans = orphans.filter(~pl.col(HOUSEHOLD_ID).is_in(list(duplicated)))
        ihdr = next(h for h, c in icols.values() if c.path == HOUSEHOLD_ID)
        for rec in orphans.iter_rows(named=True):
            errors.append(
                RowError(
                    table.file,
                    rec[_LOC],
                    ihdr,
                    "unknown_household",
                    f"户编号 {rec[HOUSEHOLD_ID]} 不在农户表中 / household id not in the households table",
                    table.sheet,
                    None,
                    rec[HOUSEHOLD_ID],
                )
            )
        conflict = iclean.filter(pl.col("_hh").is_in(list(empty_known.get(collection, set()))))
        for hh in sorted(set(conflict["_hh"].to_list())):
            loc = clean.filter(pl.col(ROW) == hh)[_LOC][0]
            col = next(c for _, c in markers.values() if c.path == collection)
            errors.append(
                RowError(
                    households.file,
                    loc,
                    col.header,
                    "marker_conflict",
                    f"{col.header}填了「无」，但{table.sheet or Path(table.file).name}中有该户的行 / "
                    f"marked 无 but the {kind} table has rows for this household",
                    households.sheet,
                    hh,
                    ids.get(hh),
                )
            )
            bad.add(hh)
        fields = [c.path for _, c in icols.values() if c.path != HOUSEHOLD_ID]
        struct = TABLES[kind]
        good = iclean.filter(pl.col("_hh").is_not_null()).sort(["_hh", "_item"])
        exprs = [
            (pl.col(c.path) if c.path in fields else pl.lit(None, c.dtype)).cast(c.dtype).alias(c.path)
            for c in struct
            if c.path != HOUSEHOLD_ID
        ]
        lists[collection] = (
            good.select(pl.col("_hh").cast(pl.UInt32).alias(ROW), pl.struct(exprs).alias(collection))
            .group_by(ROW, maintain_order=True)
            .agg(pl.col(collection))
        )

    return _finish(clean, bad, lists, empty_known, as_of, errors, unknown, total)


def _finish(
    clean: pl.DataFrame,
    bad: set[int],
    lists: dict[str, pl.DataFrame],
    empty_known: dict[str, set[int]],
    as_of: date | None,
    errors: list[RowError],
    unknown: list[str],
    total: int,
) -> ReadResult:
    """Join the collections on, fill the columns a file did not have, cast to the frame contract."""
    schema = frame_schema()
    frame = clean.filter(~pl.col(ROW).is_in(sorted(bad)))
    for grouped in lists.values():
        frame = frame.join(grouped, on=ROW, how="left")
    for collection in COLLECTIONS:
        known = sorted(empty_known.get(collection, set()))
        current = pl.col(collection) if collection in frame.columns else pl.lit(None, schema[collection])
        frame = frame.with_columns(
            pl.when(current.is_null() & pl.col(ROW).is_in(known))
            .then(pl.lit([], schema[collection]))
            .otherwise(current)
            .alias(collection)
        )
    if AS_OF in frame.columns and as_of is not None:
        frame = frame.with_columns(pl.col(AS_OF).fill_null(as_of))
    exprs = [
        (pl.col(name) if name in frame.columns else pl.lit(as_of if name == AS_OF else None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    ]
    frame = frame.select(exprs).sort(ROW)
    errors.sort(key=lambda e: (e.index if e.index is not None else 1 << 62, e.file, e.row or 0))
    return ReadResult(frame, errors, unknown, total)


# -------------------------------------------------------------------------------------- file formats


def _decode(data: bytes, file: str, notes: list[str]) -> str:
    """UTF-8 (BOM or not), else GB18030 — what Excel and WPS write when saving CSV on Chinese Windows."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise TableFormatError(f"{file}: 既不是 UTF-8 也不是 GB18030 编码 / neither UTF-8 nor GB18030: {exc}") from None
    notes.append(f"{file}: 按 GB18030 解码 / decoded as GB18030")
    return text


def _read_csv_table(path: Path, notes: list[str]) -> _Table:
    """A CSV file as a string table; each row keeps its first line number (quoted cells may span lines)."""
    text = _decode(path.read_bytes(), str(path), notes)
    records = _csv_records(io.StringIO(text, newline=""))
    header_line, header = next(records, (1, None))
    return _csv_table(str(path), header, header_line, records)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fn`` run with Python's cyclic garbage collector paused. Reading CSV records makes a list per
    record (hundreds of thousands per part, alive until the part is spilled), and each collection the
    allocations set off walked them all again: more than half the CPU time of cutting a file into parts
    (measured on the members table of 100,000 households, 346,500 records: reading the records 1.85 →
    0.82 CPU s, spilling them 0.88 → 0.17). The records hold only strings — no cycles to find — so
    nothing is kept longer; the collector is switched on again afterwards if it was on."""

    @functools.wraps(fn)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return paused


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record that is not blank, the header first."""
    reader = csv.reader(lines)
    line = 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if not record or all(not cell.strip() for cell in record):
            continue
        yield start, record


def _csv_table(
    file: str, header: list[str] | None, header_line: int, records: Iterable[tuple[int, list[str]]]
) -> _Table:
    """The string table of a CSV file's (or part's) records under its header: the records written as
    spill rows (:func:`_spill_rows`) and read back by polars (:func:`_spill_table`), as a part's spill
    file is."""
    width = len(header or [])
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(_spill_rows(records, width))
    return _spill_table(file, header, header_line, buffer.getvalue().encode("utf-8"))


def _spill_rows(records: Iterable[tuple[int, list[str]]], width: int) -> Iterator[list[str]]:
    """Each record as one row of exactly ``width + 3`` cells: its line number, how many cells it had,
    ``1`` when it had a value beyond the header (a *ragged* row, read but kept out of the frame), then its
    cells cut or padded to the header's width. Trailing empty cells beyond the header (a spreadsheet's
    stray commas) are harmless; a value there belongs to no column. Every row the same width and the
    cells' own count beside them is what lets polars' CSV reader read the rows back
    (:func:`_spill_table`): the cells a short record lacked come back null, an empty cell empty, where
    building the table cell by cell in Python cost about 15 CPU s per 100,000 households with their
    members (``docs/batch-speed.md``, "e2ein")."""
    for line, cells in records:
        n = len(cells)
        if n == width:
            yield [str(line), str(n), "", *cells]
        elif n < width:
            yield [str(line), str(n), "", *cells, *[""] * (width - n)]
        else:
            ragged = "1" if any(cell.strip() for cell in cells[width:]) else ""
            yield [str(line), str(n), ragged, *cells[:width]]


def _spill_table(file: str, header: list[str] | None, header_line: int, spill: Path | bytes) -> _Table:
    """The string table of spill rows (:func:`_spill_rows`, a file or its bytes) under the header: one
    column per header cell (null where the record had no such cell), ``_LOC`` its line number, and the
    ragged rows' messages."""
    header = [cell.strip() for cell in header or []]
    names = _unique_names(header)
    width = len(header)
    raw = [f"c{i}" for i in range(width + 3)]
    schema = {raw[0]: pl.Int64(), raw[1]: pl.Int64(), raw[2]: pl.String(), **dict.fromkeys(raw[3:], pl.String())}
    empty = spill.stat().st_size == 0 if isinstance(spill, Path) else not spill
    if empty:
        rows = pl.DataFrame(schema=schema)
    else:
        source = spill if isinstance(spill, Path) else io.BytesIO(spill)
        rows = pl.read_csv(
            source, has_header=False, schema=schema, empty_string_is_null=False, quote_char='"', infer_schema=False
        )
    count = pl.col(raw[1])
    cells: dict[str, pl.Expr] = {
        name: pl.when(count > i).then(pl.col(raw[3 + i])).otherwise(None) for i, name in enumerate(names)
    }
    cells[_LOC] = pl.col(raw[0])  # as a dict of the columns and then _LOC would hold them
    frame = rows.select([expr.alias(name) for name, expr in cells.items()])
    ragged = {
        int(loc): f"该行有 {n} 列，多于表头的 {width} 列 / {n} cells, the header has {width}"
        for loc, n in rows.filter(pl.col(raw[2]) == "1").select(raw[0], raw[1]).iter_rows()
    }
    return _Table(file, None, frame, header_line, ragged)


def _unique_names(header: Sequence[str]) -> list[str]:
    """Headers made unique for polars (a repeated header is then reported as a duplicate column)."""
    out: list[str] = []
    for i, name in enumerate(header):
        name = name or f"(第{i + 1}列)"
        while name in out:
            name += " "
        out.append(name)
    return out


def sibling_tables(path: str | Path) -> dict[str, Path | None]:
    """The members and measures CSV files that go with a households CSV, if they exist.

    ``<stem>.members.csv`` (or ``<stem>.成员.csv``) is preferred, so several batches can share a folder;
    otherwise ``members.csv`` (``成员.csv``) in the same folder. The same for measures (``措施``).
    """
    p = Path(path)
    out: dict[str, Path | None] = {}
    for collection, kind in COLLECTIONS.items():
        zh = SHEETS[kind][0]
        candidates = [
            p.with_name(f"{p.stem}.{kind}.csv"),
            p.with_name(f"{p.stem}.{zh}.csv"),
            p.with_name(f"{kind}.csv"),
            p.with_name(f"{zh}.csv"),
        ]
        out[collection] = next((c for c in candidates if c.is_file() and c != p), None)
    return out


@_gc_paused
def _read_csv(path: Path, as_of: date | None, members: Path | None, measures: Path | None) -> ReadResult:
    """The households CSV and its members/measures siblings (:func:`sibling_tables`), joined by 户编号."""
    notes: list[str] = []
    found = sibling_tables(path)
    paths = {"members": members or found["members"], "monitoring.measures": measures or found["monitoring.measures"]}
    hh = _read_csv_table(path, notes)
    items = {c: (_read_csv_table(p, notes) if p is not None else None) for c, p in paths.items()}
    result = _assemble(hh, items, as_of)
    for c, p in paths.items():
        label = "成员表 / members" if c == "members" else "措施表 / measures"
        notes.append(f"{label}: {p}" if p else f"{label}: 未找到，视为未知 / not found, taken as unknown")
    result.notes = notes
    return result


# ------------------------------------------------------------------------------- CSV in parts


def _csv_encoding(path: Path, notes: list[str]) -> str:
    """The encoding :func:`_decode` would pick for the file, found reading it block by block."""
    with open(path, "rb") as f:
        if f.read(3) == b"\xef\xbb\xbf":
            return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8":
                continue
            raise TableFormatError(
                f"{path}: 既不是 UTF-8 也不是 GB18030 编码 / neither UTF-8 nor GB18030: {exc}"
            ) from None
        if encoding == "gb18030":
            notes.append(f"{path}: 按 GB18030 解码 / decoded as GB18030")
        return encoding
    raise AssertionError("unreachable")  # pragma: no cover


def _batched(records: Iterator[tuple[int, list[str]]], n: int) -> Iterator[list[tuple[int, list[str]]]]:
    while batch := list(itertools.islice(records, n)):
        yield batch


_WHITE_SPACE: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
"""What polars' ``str.strip_chars()`` strips (Unicode White_Space; Python's ``str.strip()`` also strips
U+001C–U+001F): a blank cell for :func:`_csv_ids` is a blank cell for :func:`_drop_blank_rows`."""


def _csv_ids(
    file: str, header: list[str], batch: list[tuple[int, list[str]]], kind: Table, blank_rows: bool
) -> tuple[pl.DataFrame, int]:
    """``(_loc, id)`` of the records of a batch, the id converted as :func:`_assemble` converts it, and
    how many rows the batch counts. Only the id cells are put into a table (the whole table was built
    twice per record otherwise: here and when the part is read). ``blank_rows``: leave out the rows
    :func:`_drop_blank_rows` leaves out (the households table; an item table's rows are all placed).
    Raises as :func:`_assemble` does when the table has no id column."""
    header = [cell.strip() for cell in header]
    names = _unique_names(header)
    shape = _Table(file, None, pl.DataFrame(schema=dict.fromkeys(names, pl.String())), None)
    cols = {n: hc for n, hc in _map_columns(shape, kind, [], []).items() if hc[1].path == HOUSEHOLD_ID}
    if not cols:
        raise TableFormatError(f"{file}: 没有「户编号」列 / no household id column (户编号 or household_id)")
    name = next(iter(cols))
    at, width = names.index(name), len(header)
    if blank_rows:
        batch = [(line, cells) for line, cells in batch if any(c.strip(_WHITE_SPACE) for c in cells[:width])]
    frame = pl.DataFrame(
        {_LOC: [line for line, _ in batch], name: [cells[at] if at < len(cells) else None for _, cells in batch]},
        schema={_LOC: pl.Int64(), name: pl.String()},
    )
    clean, _ = _normalise(frame, {name: cols[name]}, [_LOC])
    return clean.select(_LOC, pl.col(HOUSEHOLD_ID).cast(pl.String).alias("id")), len(batch)


@dataclass
class CsvParts:
    """A households CSV file and its members / measures tables cut into parts on disk.

    Built by :func:`csv_parts` in one pass over each table: ``parts`` holds, per part, the number of its
    first row and its rows (blank rows not counted, as when the file is read whole); every record is
    copied, with its line number, into the spill file of its part, an item row into the part of its
    household. :func:`read_csv_part` then reads one part (its households and their items) as
    :func:`read_households` reads the whole file. ``repeated``: the ids on more than one row of the
    households table, with their lines. The spill folder is deleted when this object is."""

    path: Path
    folder: Path
    header: list[str] | None
    header_line: int
    items: dict[str, tuple[Path, list[str] | None, int] | None]
    parts: list[tuple[int, int]]
    repeated: dict[str, list[int]]
    notes: list[str]
    _cleanup: Any = field(default=None, repr=False)


def _spill(folder: Path, name: str, k: int) -> Path:
    return folder / f"{name}-{k:05d}.csv"


@_gc_paused
def csv_parts(
    path: str | Path, chunk_rows: int, *, members: str | Path | None = None, measures: str | Path | None = None
) -> CsvParts:
    """Cut a households CSV (and its item tables, :func:`sibling_tables`) into parts of ``chunk_rows``
    records, for :func:`read_csv_part`. Memory: one part's records at a time, plus the household ids
    with their line numbers and part (about 50 bytes per household) to place the item rows and to find
    the ids that repeat across parts."""
    p = Path(path)
    if not p.is_file():
        raise TableFormatError(f"{p}: 文件不存在 / no such file")
    folder = Path(tempfile.mkdtemp(prefix="eligibility-csv-"))
    notes: list[str] = []
    parts: list[tuple[int, int]] = []
    id_frames: list[pl.DataFrame] = []
    with open(p, encoding=_csv_encoding(p, notes), newline="") as f:
        records = _csv_records(f)
        header_line, header = next(records, (1, None))
        start = 0
        for k, batch in enumerate(_batched(records, chunk_rows)):
            try:
                ids, rows = _csv_ids(str(p), header or [], batch, "households", blank_rows=True)
                id_frames.append(ids.with_columns(pl.lit(k, dtype=pl.Int32).alias("part")))
            except TableFormatError:  # reported when the part is read, as the whole file's read reports it
                rows = _drop_blank_rows(_csv_table(str(p), header, header_line, batch).frame).height
            with open(_spill(folder, "households", k), "w", encoding="utf-8", newline="") as out:
                csv.writer(out).writerows(_spill_rows(batch, len(header or [])))
            parts.append((start, rows))
            start += rows
    if not parts:
        parts.append((0, 0))  # an empty file is one (empty) part: its header error still counts
        _spill(folder, "households", 0).touch()
    ids = (
        pl.concat(id_frames) if id_frames else pl.DataFrame(schema={_LOC: pl.Int64, "id": pl.String, "part": pl.Int32})
    )
    ids = ids.filter(pl.col("id").is_not_null())
    repeated = {
        str(hid): [int(x) for x in locs]
        for hid, locs in ids.filter(pl.col("id").is_duplicated())
        .group_by("id", maintain_order=True)
        .agg(pl.col(_LOC).sort())
        .iter_rows()
    }
    first_part = ids.group_by("id").agg(pl.col("part").min())
    found = sibling_tables(p)
    given = {"members": members, "monitoring.measures": measures}
    items: dict[str, tuple[Path, list[str] | None, int] | None] = {}
    for collection in COLLECTIONS:
        named = given[collection]
        source = Path(named) if named is not None else found[collection]
        items[collection] = None
        if source is None:
            continue
        items[collection] = _spill_items(source, COLLECTIONS[collection], folder, collection, first_part, notes)
    result = CsvParts(p, folder, header, header_line, items, parts, repeated, notes)
    result._cleanup = weakref.finalize(result, shutil.rmtree, folder, ignore_errors=True)
    return result


def _spill_items(
    source: Path, kind: Table, folder: Path, collection: str, first_part: pl.DataFrame, notes: list[str]
) -> tuple[Path, list[str] | None, int]:
    """Copy each row of an item table into the spill file of its household's part; a row naming no
    household of the file (or none at all) goes to the first part, where it is reported. Rows are
    appended batch by batch, one file open at a time (a file per part kept open could exceed the
    limit on open files for small parts)."""
    name = collection.replace(".", "-")
    with open(source, encoding=_csv_encoding(source, notes), newline="") as f:
        records = _csv_records(f)
        header_line, header = next(records, (1, None))
        try:
            for batch in _batched(records, _ITEM_BATCH):
                ids, _ = _csv_ids(str(source), header or [], batch, kind, blank_rows=False)
                placed = ids.join(first_part, on="id", how="left", maintain_order="left")
                by_part: dict[int, list[list[str]]] = {}
                spilled = _spill_rows(batch, len(header or []))
                for part, row in zip(placed.get_column("part").fill_null(0).to_list(), spilled, strict=True):
                    by_part.setdefault(part, []).append(row)
                for part, rows in by_part.items():
                    with open(_spill(folder, name, part), "a", encoding="utf-8", newline="") as out:
                        csv.writer(out).writerows(rows)
        except TableFormatError:
            pass  # no id column: reported when the first part is read, as the whole file's read does
    return source, header, header_line


_ITEM_BATCH: Final = 100_000
"""Item rows placed per batch while cutting a CSV item table into parts."""


def _spilled_table(file: str, header: list[str] | None, header_line: int, spill: Path) -> _Table:
    """A part's records from its spill file (:func:`_spill_rows`) as a string table."""
    return _spill_table(file, header, header_line, spill if spill.exists() else b"")


def read_csv_part(parts: CsvParts, k: int, as_of: date | None = None) -> ReadResult:
    """Part ``k`` of a households CSV cut by :func:`csv_parts`: its rows and their members and measures,
    read and checked as :func:`read_households` checks the whole file — ``_row`` and the line numbers of
    errors counted from the file's start, an id repeated in another part an error here too. What
    concerns the file rather than a row (unknown and repeated columns, item rows naming no household,
    notes) comes with the first part only."""
    first = k == 0
    hh = _spilled_table(str(parts.path), parts.header, parts.header_line, _spill(parts.folder, "households", k))
    items: dict[str, _Table | None] = {}
    for collection, got in parts.items.items():
        if got is None:
            items[collection] = None
            continue
        source, header, header_line = got
        spill = _spill(parts.folder, collection.replace(".", "-"), k)
        items[collection] = _spilled_table(str(source), header, header_line, spill)
    result = _assemble(hh, items, as_of, row_offset=parts.parts[k][0], repeated=parts.repeated)
    if not first:
        result.errors = [e for e in result.errors if not (e.index is None and e.code == "duplicate_column")]
        result.unknown_columns = []
        return result
    notes = list(parts.notes)
    for c, got in parts.items.items():
        label = "成员表 / members" if c == "members" else "措施表 / measures"
        notes.append(f"{label}: {got[0]}" if got else f"{label}: 未找到，视为未知 / not found, taken as unknown")
    result.notes = notes
    return result


def _excel_sheet(reader: Any, name: str, file: str) -> _Table:
    sheet = reader.load_sheet_by_name(name, schema_sample_rows=None)
    frame: pl.DataFrame = sheet.to_polars()
    # calamine returns the used range; rows are numbered as Excel shows them when the header is in row 1.
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(_LOC))
    return _Table(file, name, frame, 1)


def _read_excel(path: Path, as_of: date | None, sheet: str | None) -> ReadResult:
    import fastexcel

    # fastexcel logs a line for every column whose type it guesses as text; the readers check each cell
    # themselves and report what is wrong, so those lines are noise on a clerk's terminal — here, not only
    # in ``eligibility.batch``, so that ``read_households`` called directly is as quiet.
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as exc:  # fastexcel raises its own hierarchy; any of them means "not a workbook"
        raise TableFormatError(f"{path}: 无法作为 Excel 打开 / cannot open as Excel: {exc}") from None
    names: list[str] = list(reader.sheet_names)
    lowered = {n.strip().lower(): n for n in names}

    def find(kind: Table) -> str | None:
        return next((lowered[s.lower()] for s in SHEETS[kind] if s.lower() in lowered), None)

    hh_name = sheet or find("households") or (names[0] if len(names) == 1 else None)
    if hh_name is None or hh_name not in names:
        raise TableFormatError(
            f"{path}: 找不到农户表（工作表「农户」或 households）/ no households sheet; sheets: {', '.join(names)}"
        )
    notes: list[str] = []
    items: dict[str, _Table | None] = {}
    for collection, kind in COLLECTIONS.items():
        name = find(kind)
        items[collection] = _excel_sheet(reader, name, str(path)) if name and name != hh_name else None
        if items[collection] is None:
            notes.append(f"{path}: 没有「{SHEETS[kind][0]}」工作表，视为未知 / no {kind} sheet, taken as unknown")
    result = _assemble(_excel_sheet(reader, hh_name, str(path)), items, as_of)
    result.notes = notes
    return result


def parquet_rows(path: str | Path) -> int:
    """The number of rows of a Parquet file (from its metadata: nothing else is read)."""
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def parquet_repeated_ids(path: str | Path) -> set[str]:
    """The household ids that occur on more than one row of a Parquet file, converted as the reader
    converts them. One pass over the id column alone (streaming), so that a file read in slices
    (:func:`read_parquet_slice`) still reports a repeated id on every row that has it; its memory is
    that of one 8-byte hash per row and the ids whose hash repeats (measured at 10,000,000 rows: a peak of
    657 MiB; see below)."""
    schema = pl.scan_parquet(path).collect_schema()
    index = header_index("households")
    for name, dtype in schema.items():
        col = index.get(normalise_header(name))
        if col is not None and col.path == HOUSEHOLD_ID:
            ids = _convert(col, pl.col(name), dtype).value.cast(pl.String).alias("id")
            # First an 8-byte hash per row (a group_by of the ids themselves held every distinct id:
            # gigabytes at ten million rows); the ids are read only on the rows whose hash repeats. The
            # id converted once, its nulls dropped, then hashed; the repeated hashes found by sorting
            # and comparing neighbours, not ``is_duplicated`` (its hash table): at 10,000,000 rows this
            # pass peaked at 1,607 MiB — the batch's parent process at that size — and now 657 MiB
            # (session 21, ``benchmarks/bench_batch.py --stream``).
            got = pl.scan_parquet(path).select(ids).filter(pl.col("id").is_not_null())
            seen = got.select(pl.col("id").hash(seed=0).alias("h")).collect(engine="streaming").get_column("h")
            seen = seen.sort()
            twice = seen.filter(seen == seen.shift(1)).unique()
            if not twice.len():
                return set()
            rows = pl.scan_parquet(path).select(ids).filter(pl.col("id").hash(seed=0).is_in(twice.implode()))
            counts = rows.group_by("id").len()
            repeated = counts.filter(pl.col("id").is_not_null() & (pl.col("len") > 1)).collect(engine="streaming")
            return set(repeated.get_column("id").to_list())
    return set()


def read_parquet_slice(
    path: str | Path, offset: int, length: int, *, as_of: date | str | None = None, repeated: set[str] | None = None
) -> ReadResult:
    """Rows ``offset`` … ``offset + length - 1`` of a Parquet file, read and checked like the whole file
    (:func:`read_households`), with ``_row`` and the row numbers of errors counted from the file's start.

    Only the slice is read (polars scans the row groups it needs), so a file larger than memory is read
    slice by slice. ``repeated`` is :func:`parquet_repeated_ids` of the file: a repeated id is checked
    across the whole file, not only within the slice."""
    p = Path(path)
    if not p.is_file():
        raise TableFormatError(f"{p}: 文件不存在 / no such file")
    return _read_parquet(p, _as_date(as_of), offset=offset, length=length, repeated=repeated)


def _read_parquet(
    path: Path, as_of: date | None, *, offset: int = 0, length: int | None = None, repeated: set[str] | None = None
) -> ReadResult:
    """A Parquet file (or a slice of it) in the frame contract (column per path, nested lists), checked
    column by column."""
    raw = pl.read_parquet(path) if length is None else pl.scan_parquet(path).slice(offset, length).collect()
    file = str(path)
    raw = (
        raw.drop(ROW, strict=False)
        .with_row_index(ROW, offset=offset)
        .with_columns((pl.col(ROW).cast(pl.Int64) + 1).alias(_LOC))
    )
    table = _Table(file, None, raw, None)
    errors: list[RowError] = []
    unknown: list[str] = []
    collections = {c: raw[c] for c in COLLECTIONS if c in raw.columns}
    carried = [c for c in CARRIED if c in raw.columns]
    scalars = _Table(file, None, raw.drop([*collections, *carried]), None)
    cols = _map_columns(scalars, "households", errors, unknown)
    if not any(c.path == HOUSEHOLD_ID for _, c in cols.values()):
        raise TableFormatError(f"{file}: 没有 household_id 列 / no household_id column")
    clean, errs = _normalise(raw, cols, [ROW, _LOC])
    ids = _Ids(clean)
    errors += _row_errors(table, errs, ROW, ids)
    bad: set[int] = set(errs[ROW].to_list())
    is_repeated = (
        pl.col(HOUSEHOLD_ID).is_duplicated() if repeated is None else pl.col(HOUSEHOLD_ID).is_in(sorted(repeated))
    )
    dup = clean.filter(pl.col(HOUSEHOLD_ID).is_not_null() & is_repeated)
    for rec in dup.iter_rows(named=True):
        errors.append(
            RowError(
                file,
                rec[_LOC],
                HOUSEHOLD_ID,
                "duplicate_id",
                f"户编号重复 / household id repeated: {rec[HOUSEHOLD_ID]}",
                None,
                rec[ROW],
                rec[HOUSEHOLD_ID],
            )
        )
        bad.add(rec[ROW])
    lists: dict[str, pl.DataFrame] = {}
    empty_known: dict[str, set[int]] = {}
    for collection, series in collections.items():
        kind = COLLECTIONS[collection]
        base = raw.select(ROW, _LOC, pl.col(collection))
        if not isinstance(series.dtype, pl.List) or not isinstance(series.dtype.inner, pl.Struct):
            raise TableFormatError(
                f"{file}: {collection} 应为 List(Struct) / must be a list of structs, got {series.dtype}"
            )
        empty_known[collection] = set(base.filter(pl.col(collection).list.len() == 0)[ROW].to_list())
        flat = (
            base.filter(pl.col(collection).list.len() > 0)
            .with_columns(pl.int_ranges(pl.col(collection).list.len()).alias(_POS))
            .explode([collection, _POS])
        )
        null_items = flat.filter(pl.col(collection).is_null())
        for rec in null_items.iter_rows(named=True):
            errors.append(
                RowError(
                    file,
                    rec[_LOC],
                    f"{collection}[{rec[_POS]}]",
                    "missing",
                    "空项 / null item",
                    None,
                    rec[ROW],
                    ids.get(rec[ROW]),
                )
            )
            bad.add(rec[ROW])
        flat = flat.filter(pl.col(collection).is_not_null()).unnest(collection)
        item_table = _Table(file, None, flat.drop([ROW, _POS, _LOC]), None)
        icols = _map_columns(item_table, kind, errors, [])
        for n in item_table.frame.columns:
            if n not in icols:
                unknown.append(f"{collection}.{n}")
        # Parquet items have no household-id column; each item is named by its position instead.
        icols = {n: hc for n, hc in icols.items() if hc[1].path != HOUSEHOLD_ID}
        taken: set[str] = set()
        iclean, ierrs = _normalise(flat, icols, [ROW, _POS, _LOC], taken)
        for rec in ierrs.iter_rows(named=True):
            column = f"{collection}[{rec[_POS]}].{rec['column']}"
            errors.append(
                RowError(file, rec[_LOC], column, rec["code"], rec["message"], None, rec[ROW], ids.get(rec[ROW]))
            )
            bad.add(rec[ROW])
        kept = _kept_items(collection, kind, flat, iclean, icols, taken, bad)
        if kept is not None:
            clean = clean.with_columns(raw.select(kept).to_series())
            continue
        exprs = [
            (pl.col(c.path) if c.path in iclean.columns else pl.lit(None, c.dtype)).cast(c.dtype).alias(c.path)
            for c in TABLES[kind]
            if c.path != HOUSEHOLD_ID
        ]
        lists[collection] = (
            iclean.sort([ROW, _POS])
            .select(ROW, pl.struct(exprs).alias(collection))
            .group_by(ROW, maintain_order=True)
            .agg(pl.col(collection))
        )
    for name in carried:
        lists[name] = _carried(raw, name, file, errors, bad, ids)
    return _finish(clean, bad, lists, empty_known, as_of, errors, unknown, raw.height)


def _kept_items(
    collection: str,
    kind: Table,
    flat: pl.DataFrame,
    iclean: pl.DataFrame,
    icols: Mapping[str, tuple[str, Column]],
    taken: set[str],
    bad: set[int],
) -> pl.Expr | None:
    """The list column ``collection`` of a Parquet file in the frame's item type, made from the lists as
    they are — or None where that would not give what regrouping the checked items gives.

    The reader explodes a collection's lists into one row per item, checks every field
    (:func:`_normalise`), sorts the clean items and groups them back into lists joined on ``_row``; the
    regroup and the join cost about 0.065 CPU s per 100,000 households (``docs/batch-speed.md``,
    "pqread"), where rebuilding each list's structs inside ``list.eval`` costs under 1 ms. The two agree
    on every row the frame keeps when every mapped field, cast to its frame type as the rebuild casts it,
    equals the checked value on every item of those rows (``flat`` holds every non-null item of the
    non-empty lists, in order, with its ``_row``): the rebuild then puts the checked values, field by
    field, in the regroup's order of items and fields. A field the file lacks is null in both; an unknown
    field is left out of both; an empty list stays empty (the regroup leaves the row out and
    :func:`_finish` makes it the known-empty list) and a null list null. The rows in ``bad`` — among them
    every row with a null item or an item error — are left out of the comparison: :func:`_finish` drops
    them whatever their lists hold, so a part with a few bad members still keeps the others' lists.

    A field :func:`_normalise` took as it is (``taken``) and read in its frame type is its checked value
    by construction and is not compared again (comparing 292,000 health lists cost 37 ms)."""
    by_path = {c.path: name for name, (_, c) in icols.items()}
    kept = ~flat.get_column(ROW).is_in(sorted(bad)) if bad else None
    fields: list[pl.Expr] = []
    for c in TABLES[kind]:
        if c.path == HOUSEHOLD_ID:
            continue
        name = by_path.get(c.path)
        if name is None:
            fields.append(pl.lit(None, c.dtype).alias(c.path))
            continue
        as_read = flat.get_column(name)
        if not (name in taken and as_read.dtype == c.dtype):
            read, checked = as_read.cast(c.dtype, strict=False), iclean.get_column(c.path)
            if kept is not None:
                read, checked = read.filter(kept), checked.filter(kept)
            if not _same(read, checked):
                return None
        fields.append(pl.element().struct.field(name).cast(c.dtype, strict=False).alias(c.path))
    return pl.col(collection).list.eval(pl.struct(fields)).alias(collection)


def _same(a: pl.Series, b: pl.Series) -> bool:
    """Whether two columns of one type hold the same cells (null equal to null). A list column is
    compared as its lengths and its items: equal lengths (null for a null list) make the items line up
    list by list, and comparing the items is four times cheaper than comparing the lists."""
    if isinstance(a.dtype, pl.List):
        return a.list.len().equals(b.list.len()) and _same(a.explode(), b.explode())
    return a.equals(b)


CARRIED: Final = ("history.assessments",)
"""Collections with no table of their own that a Parquet file may still carry in the frame contract (the
earlier assessments, issue 14 §3): validated by the household model, item by item."""


def _carried(
    raw: pl.DataFrame, name: str, file: str, errors: list[RowError], bad: set[int], ids: Mapping[int, str]
) -> pl.DataFrame:
    """The column ``name`` of a Parquet file in the frame's type, each row's items checked by the model
    (:class:`~eligibility.models.History`) — a bad item is an error naming it, its row kept out."""
    from ..models import History

    dtype = frame_schema()[name]
    section, field_name = name.split(".", 1)
    try:
        column = raw.select(ROW, _LOC, pl.col(name).cast(dtype, strict=True))
    except pl.exceptions.PolarsError as exc:
        raise TableFormatError(f"{file}: {name} 应为 {dtype} / must be {dtype}: {exc}") from None
    for row, loc, items in column.filter(pl.col(name).is_not_null()).iter_rows():
        try:
            History.model_validate({field_name: items})
        except ValueError as exc:
            for e in getattr(exc, "errors", lambda: [])():
                where = ".".join(str(p) for p in e["loc"]).replace(f"{field_name}.", f"{field_name}[", 1)
                where = re.sub(r"\[(\d+)\.", r"[\1].", where)
                errors.append(RowError(file, loc, f"{section}.{where}", e["type"], e["msg"], None, row, ids.get(row)))
            bad.add(row)
    return column.drop(_LOC)


LineProblem = tuple[str, str, str | None, str | None]
"""A JSON Lines record's problem: code, message, JSON path (or None), household id (or None)."""


def jsonl_record(
    line: bytes, as_of: date | None, *, first: bool = False
) -> tuple[Household, date | None] | list[LineProblem]:
    """One JSON Lines record — a household, or ``{"as_of": ..., "household": {...}}`` — parsed, or its
    problems (each bad field by JSON path, as :class:`~eligibility.errors.HouseholdError` names them).

    ``first``: the file's first line, which may start with a UTF-8 byte-order mark. Shared by the file
    reader below and the HTTP service's batch route, so both read a line the same way.
    """
    try:
        text = line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        return [("bad_encoding", f"该行不是 UTF-8 / line is not UTF-8: {exc.reason} at byte {exc.start}", None, None)]
    try:
        data = loads_json(text)  # exact numbers; repeated keys, NaN, lone surrogates are errors
    except HouseholdError as exc:
        return [("bad_json", exc.errors[0].message, None, None)]
    if not isinstance(data, dict):
        return [("not_an_object", f"应为 JSON 对象 / must be a JSON object, got {type(data).__name__}", None, None)]
    on = as_of
    if "household" in data and set(data) <= {"household", "as_of"}:
        raw_on = data.get("as_of")
        data = data["household"]
        if raw_on is not None:
            on = iso_date(raw_on)
            if on is None:
                # not quoted: a careless export puts a phone or ID number here, and errors never echo those
                message = "评估日期应为 YYYY-MM-DD / as_of must be a date YYYY-MM-DD"
                return [("bad_date", message, "$.as_of", None)]
        if not isinstance(data, dict):
            return [
                ("not_an_object", "household 应为 JSON 对象 / household must be a JSON object", "$.household", None)
            ]
    try:
        return household_from_json(data), on
    except HouseholdError as exc:
        hid = data.get("household_id")
        return [(fe.code, fe.message, fe.path, hid if isinstance(hid, str) else None) for fe in exc.errors]


_FRAME_BATCH: Final = 10_000
"""Parsed households turned into frame rows this many at a time: a part of a JSON Lines file holds the
pydantic objects of at most this many households, whatever the part's size."""


def _jsonl_id(line: bytes) -> str | None:
    """The household id a JSON Lines record names, read cheaply (``json.loads``, no validation): only
    to find the ids that may occur twice, which are then parsed in full."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and "household" in data and set(data) <= {"household", "as_of"}:
        data = data["household"]
    hid = data.get("household_id") if isinstance(data, dict) else None
    return hid if isinstance(hid, str) else None


@dataclass
class JsonlIndex:
    """Where the parts of a JSON Lines file start, and which ids occur on more than one valid record.

    ``starts``: per part of ``chunk_rows`` records, (byte offset, line number, record index) of its
    first record. Built by :func:`jsonl_index` in one pass over the file that keeps 8 bytes per record
    (a hash of its id), so a file of any size is then read part by part."""

    records: int
    starts: list[tuple[int, int, int]]
    repeated: set[str]


def jsonl_index(path: str | Path, chunk_rows: int, as_of: date | None = None) -> JsonlIndex:
    """One pass over a JSON Lines file: the parts' starting points and the repeated ids.

    A repeated id is an error on every valid record that has it (as when the file is read whole). The
    pass hashes each record's id as ``json.loads`` reads it; only records whose id hash occurs twice —
    none in a clean file — are parsed in full, in a second pass, to count the *valid* records per id."""
    starts: list[tuple[int, int, int]] = []
    hashes: array[int] = array("q")
    records, offset = 0, 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                if records % chunk_rows == 0:
                    starts.append((offset, number, records))
                hid = _jsonl_id(line)
                hashes.append(0 if hid is None else hash(hid))
                records += 1
            offset += len(line)
    known = pl.Series("h", hashes, dtype=pl.Int64)
    twice = set(known.filter(known.is_duplicated() & (known != 0)).unique().to_list())
    repeated: set[str] = set()
    if twice:
        valid: dict[str, int] = {}
        with open(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                hid = _jsonl_id(line)
                if hid is None or hash(hid) not in twice:
                    continue
                got = jsonl_record(line.removesuffix(b"\n"), as_of, first=number == 1)
                if not isinstance(got, list):
                    valid[got[0].household_id] = valid.get(got[0].household_id, 0) + 1
        repeated = {k for k, n in valid.items() if n > 1}
    return JsonlIndex(records, starts, repeated)


def read_jsonl_part(
    path: str | Path, start: tuple[int, int, int], rows: int, as_of: date | None, repeated: set[str]
) -> ReadResult:
    """``rows`` records of a JSON Lines file from ``start`` (a :class:`JsonlIndex` start), read line by
    line: only this part is in memory. ``_row`` and the errors count records and lines from the
    file's start; a record whose id is in ``repeated`` is an error (:func:`jsonl_index`)."""
    byte, number, first = start
    p = Path(path)
    with open(p, "rb") as f:
        f.seek(byte)
        return _read_jsonl_lines(p, enumerate(f, start=number), first, rows, as_of, repeated)


@_gc_paused
def _read_jsonl_lines(
    path: Path,
    lines: Iterable[tuple[int, bytes]],
    first_row: int,
    rows: int | None,
    as_of: date | None,
    repeated: set[str] | None,
) -> ReadResult:
    """Records from numbered lines (``\n`` still on them) until ``rows`` records are read (all with
    None). ``repeated`` None: the ids repeated among these records are the errors (a whole file)."""
    file = str(path)
    errors: list[RowError] = []
    pairs: list[tuple[Household, date | None, int]] = []
    frames: list[pl.DataFrame] = []
    line_of: dict[int, int] = {}  # record index (_row) → line number, for the records kept
    row = first_row
    for number, raw in lines:
        if rows is not None and row - first_row >= rows:
            break
        line = raw.removesuffix(b"\n")
        if not line.strip():
            continue
        row += 1
        got = jsonl_record(line, as_of, first=number == 1)
        if not isinstance(got, list):
            unborn = births_after(got[0], got[1]) if got[1] is not None else []
            if unborn:  # as the engine refuses it: an impossible record, not an unknown
                got = [(e.code, e.message, e.path, got[0].household_id) for e in unborn]
            elif repeated is not None and got[0].household_id in repeated:
                got = [("duplicate_id", _duplicate(got[0].household_id), "$.household_id", got[0].household_id)]
        if isinstance(got, list):
            errors += [RowError(file, number, column, code, msg, None, row - 1, hid) for code, msg, column, hid in got]
            continue
        pairs.append((got[0], got[1], row - 1))
        line_of[row - 1] = number
        if repeated is not None and len(pairs) >= _FRAME_BATCH:
            frames.append(frame_from_households(pairs))
            pairs = []
    if repeated is None:
        # Duplicate ids among the valid records are errors on every record that has them.
        seen: dict[str, list[int]] = {}
        for i, (h, _, _) in enumerate(pairs):
            seen.setdefault(h.household_id, []).append(i)
        dup = {i for ids in seen.values() if len(ids) > 1 for i in ids}
        for i in sorted(dup):
            h, _, index = pairs[i]
            errors.append(
                RowError(
                    file,
                    line_of[index],
                    "$.household_id",
                    "duplicate_id",
                    _duplicate(h.household_id),
                    None,
                    index,
                    h.household_id,
                )
            )
        pairs = [p for i, p in enumerate(pairs) if i not in dup]
    frames.append(frame_from_households(pairs))
    errors.sort(key=lambda e: (e.index if e.index is not None else 1 << 62, e.row or 0))
    frame = pl.concat(frames) if len(frames) > 1 else frames[0]
    return ReadResult(frame, errors, [], row - first_row)


def _duplicate(hid: str) -> str:
    return f"户编号重复 / household id repeated: {hid}"


def _read_jsonl(path: Path, as_of: date | None) -> ReadResult:
    """JSON Lines: one household per line, or ``{"as_of": ..., "household": {...}}``.

    Lines are split on ``\n`` only: U+2028 and U+2029 are legal inside JSON strings (and
    ``str.splitlines`` would break a record there). Each line is decoded on its own, so one line of bad
    bytes is one error and the others are still read. (The batch reads a large file part by part
    instead: :func:`jsonl_index`, :func:`read_jsonl_part`.)
    """
    with open(path, "rb") as f:
        return _read_jsonl_lines(path, enumerate(f, start=1), 0, None, as_of, None)


def read_households(
    path: str | Path,
    *,
    as_of: date | str | None = None,
    sheet: str | None = None,
    members: str | Path | None = None,
    measures: str | Path | None = None,
) -> ReadResult:
    """Read a batch of households into the households frame (see ``docs/batch.md``).

    The format follows the suffix: ``.jsonl``/``.ndjson``, ``.parquet``, ``.csv``, ``.xlsx``. ``as_of`` is
    the assessment date of rows without their own (column ``评估日期``/``as_of``). ``sheet`` names the
    households sheet of a workbook when it is not ``农户``/``households``; ``members``/``measures`` name
    the CSV item tables when they are not found next to the households file (:func:`sibling_tables`).
    """
    p = Path(path)
    on = _as_date(as_of)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise TableFormatError(f"{p}: 文件不存在 / no such file")
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(p, on)
    if suffix == ".parquet":
        return _read_parquet(p, on)
    if suffix == ".csv":
        return _read_csv(p, on, Path(members) if members else None, Path(measures) if measures else None)
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        return _read_excel(p, on, sheet)
    raise TableFormatError(f"{p}: 不支持的文件类型 / unsupported file type {suffix!r} (jsonl, parquet, csv, xlsx)")
