"""Column names of the batch tables, and the households frame they become.

One table, generated from :data:`eligibility.facts.CATALOGUE` and the pydantic models, says for every
household field which column holds it — its Chinese header (what a county clerk sees in Excel/WPS), its
English header (the field's dotted path), the kind of cell it takes and the constraints the models put on
it. The readers, the writers, the templates and ``docs/batch.md`` all use this one table, so a field added
to :mod:`eligibility.models` appears everywhere at once and a header can never mean two things.

The tables are:

* ``households`` (sheet ``农户``): one row per household, every non-collection field;
* ``members`` (sheet ``成员``): one row per member, linked by ``户编号``;
* ``measures`` (sheet ``措施``): one row per delivered assistance measure (``monitoring.measures``),
  linked by ``户编号``.

Headers are matched after Unicode NFKC normalisation and trimming, so full-width and half-width
brackets, digits and spaces do not matter (``（`` = ``(``).
"""

from __future__ import annotations

import enum
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

import annotated_types
import polars as pl
from pydantic import BaseModel

from ..facts import CATALOGUE, FieldSpec
from ..models import Household, Measure, Member, MoneyMark

__all__ = [
    "AS_OF",
    "COLLECTIONS",
    "EMPTY_MARKERS",
    "HOUSEHOLD_ID",
    "MONEY",
    "ROW",
    "SET_SEPARATORS",
    "SHEETS",
    "TABLES",
    "Column",
    "Kind",
    "Table",
    "column_table_markdown",
    "frame_schema",
    "header_index",
    "normalise_header",
]

Kind = Literal["bool", "int", "money", "decimal", "date", "text", "enum", "set", "dates"]
"""How a cell is read: yes/no, whole number, yuan, other decimal, date, free text, one coded value,
several coded values, several dates."""

Table = Literal["households", "members", "measures"]

ROW: Final = "_row"
AS_OF: Final = "as_of"
HOUSEHOLD_ID: Final = "household_id"

MONEY: Final = pl.Decimal(38, 2)
"""Money in the frame: exact yuan and fen, never a float."""
DECIMAL: Final = pl.Decimal(38, 10)
"""Other decimals (litres per person and day): ten places is far below any measurement's precision."""

SET_SEPARATORS: Final = "、,，;；"
"""Separators of several values in one cell (``残疾、长期慢性病``); none occurs inside a coded value."""

EMPTY_MARKERS: Final = frozenset({"无", "none", "[]"})
"""A set or collection cell holding one of these is *known empty*; a blank cell is *unknown*."""


@dataclass(frozen=True)
class Column:
    """One column of a batch table: where its value goes, how it is read and what it must satisfy."""

    table: Table
    path: str
    """Frame column (``income.wage``) or, for members and measures, the item field (``birth_date``)."""
    header: str
    """The Chinese header written in templates and outputs."""
    en: str
    """The English header: the dotted path (``income.wage``, ``members.birth_date``)."""
    kind: Kind
    zh_label: str
    en_label: str
    values: tuple[str, ...] = ()
    """Allowed Chinese values of a coded field."""
    codes: dict[str, str] = field(default_factory=dict)
    """English code → Chinese value."""
    required: bool = False
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None
    max_items: int | None = None
    unique: bool = False
    """A set (``frozenset`` in the model): written sorted and without repeats, as the model keeps it."""
    aliases: tuple[str, ...] = ()

    @property
    def dtype(self) -> pl.DataType:
        """The polars type of the column in the households frame."""
        return _DTYPES[self.kind]


_DTYPES: Final[dict[str, pl.DataType]] = {
    "bool": pl.Boolean(),
    "int": pl.Int64(),
    "money": MONEY,
    "decimal": DECIMAL,
    "date": pl.Date(),
    "text": pl.String(),
    "enum": pl.String(),
    "set": pl.List(pl.String()),
    "dates": pl.List(pl.Date()),
}


def _unwrap(ann: Any) -> tuple[Any, list[Any]]:
    """``X | None`` and ``Annotated`` stripped to ``X``, with every metadata object found on the way."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            meta += list(getattr(ann, "__metadata__", ()))
            ann = typing.get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann, meta
            ann = args[0]
        else:
            return ann, meta


def _constraints(meta: list[Any]) -> dict[str, Any]:
    """ge/le/min_length/max_length/pattern from pydantic field metadata (nested FieldInfo included)."""
    out: dict[str, Any] = {}
    for m in meta:
        inner = getattr(m, "metadata", None)
        if isinstance(inner, list):
            out.update(_constraints(inner))
        if isinstance(m, annotated_types.Ge):
            out["ge"] = m.ge
        elif isinstance(m, annotated_types.Le):
            out["le"] = m.le
        elif isinstance(m, annotated_types.MinLen):
            out["min_length"] = m.min_length
        elif isinstance(m, annotated_types.MaxLen):
            out["max_length"] = m.max_length
        pattern = getattr(m, "pattern", None)
        if isinstance(pattern, str):
            out["pattern"] = pattern
    return out


# Headers that differ from the catalogue label: the region's description has no " / " split, and the
# assessment date is not a household field.
_HEADER_OVERRIDES: Final[dict[str, tuple[str, str]]] = {
    "region": ("行政区划代码", "administrative division code (GB/T 2260, 6 to 12 digits)")
}


def _column(table: Table, model: type[BaseModel], name: str, path: str, en: str, spec: FieldSpec) -> Column:
    info = model.model_fields[name]
    ann, meta = _unwrap(info.annotation)
    meta += list(info.metadata)
    c = _constraints(meta)
    origin = typing.get_origin(ann)
    kind: Kind
    values: tuple[str, ...] = ()
    codes: dict[str, str] = {}
    unique = False
    if origin in (tuple, frozenset):
        inner, _ = _unwrap(typing.get_args(ann)[0])
        if inner is date:
            kind = "dates"
        else:
            kind = "set"
            values = tuple(m.value for m in inner)
            codes = {m.name: m.value for m in inner}
            unique = origin is frozenset
    elif ann is bool:
        kind = "bool"
    elif ann is int:
        kind = "int"
    elif ann is Decimal:
        kind = "money" if any(isinstance(m, MoneyMark) for m in meta) else "decimal"
    elif ann is date:
        kind = "date"
    elif isinstance(ann, type) and issubclass(ann, enum.Enum):
        kind = "enum"
        values = tuple(m.value for m in ann)
        codes = {m.name: m.value for m in ann}
    elif ann is str:
        kind = "text"
    else:  # pragma: no cover - a new field type needs a reader first
        raise TypeError(f"no batch column kind for {path}: {ann!r}")
    header, en_label = _HEADER_OVERRIDES.get(path, (spec.zh, spec.en))
    return Column(
        table=table,
        path=path,
        header=header,
        en=en,
        kind=kind,
        zh_label=header,
        en_label=en_label,
        values=values,
        codes=codes,
        required=info.is_required(),
        pattern=c.get("pattern"),
        ge=c.get("ge"),
        le=c.get("le"),
        max_items=c.get("max_length") if kind in ("set", "dates") else None,
        unique=unique,
        aliases=(spec.zh,) if spec.zh != header else (),
    )


def _household_columns() -> tuple[Column, ...]:
    out: list[Column] = []
    for path, spec in CATALOGUE.items():
        if spec.item_fields is not None:
            continue
        model: type[BaseModel] = Household
        parts = path.split(".")
        for part in parts[:-1]:
            sub, _ = _unwrap(model.model_fields[part].annotation)
            model = sub
        out.append(_column("households", model, parts[-1], path, path, spec))
    return tuple(out)


def _item_columns(table: Table, collection: str, model: type[BaseModel]) -> tuple[Column, ...]:
    items = CATALOGUE[collection].item_fields or {}
    return tuple(_column(table, model, name, name, f"{collection}.{name}", spec) for name, spec in items.items())


def _link(table: Table) -> Column:
    """The household-id column that links a member or measure row to its household."""
    spec = CATALOGUE[HOUSEHOLD_ID]
    return Column(table, HOUSEHOLD_ID, spec.zh, HOUSEHOLD_ID, "text", spec.zh, spec.en, required=True)


COLLECTIONS: Final[dict[str, Table]] = {"members": "members", "monitoring.measures": "measures"}
"""Collection field → the table holding its items."""

_AS_OF_COLUMN: Final = Column(
    "households", AS_OF, "评估日期", AS_OF, "date", "评估日期", "assessment date (instead of --as-of)"
)


def _marker(collection: str) -> Column:
    """A households column saying a collection is known empty (``无``) when no item rows are given."""
    spec = CATALOGUE[collection]
    return Column("households", collection, spec.zh, collection, "text", spec.zh, spec.en)


TABLES: Final[dict[Table, tuple[Column, ...]]] = {
    "households": (*_household_columns(), _AS_OF_COLUMN, *(_marker(c) for c in COLLECTIONS)),
    "members": (_link("members"), *_item_columns("members", "members", Member)),
    "measures": (_link("measures"), *_item_columns("measures", "monitoring.measures", Measure)),
}
"""Every column of every table, in template order.

The households table ends with the optional ``评估日期`` (per-row assessment date) and one marker column
per collection (``家庭成员``, ``已落实帮扶措施``): ``无`` there means *known to have none*, which a
missing item row cannot say (no rows = unknown)."""

SHEETS: Final[dict[Table, tuple[str, ...]]] = {
    "households": ("农户", "households"),
    "members": ("成员", "members"),
    "measures": ("措施", "measures"),
}
"""Excel sheet names: the Chinese name (written) and the English one (also accepted)."""


def normalise_header(text: str) -> str:
    """A header as compared: NFKC (full-width → half-width), trimmed, inner whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def header_index(table: Table) -> dict[str, Column]:
    """Normalised header → column, for every accepted spelling (Chinese header, label, English path)."""
    out: dict[str, Column] = {}
    for col in TABLES[table]:
        names = {col.header, col.en, col.path, *col.aliases}
        if table != "households":
            names.add(f"{col.en.split('.', 1)[0]}[].{col.path}")
        for name in names:
            key = normalise_header(name)
            other = out.get(key)
            if other is not None and other is not col:
                raise AssertionError(f"header {name!r} names both {other.path} and {col.path}")  # import-time check
            out[key] = col
    return out


for _table in TABLES:
    header_index(_table)  # fail at import if two columns of one table share a header


def _struct(table: Table) -> pl.Struct:
    return pl.Struct([pl.Field(c.path, c.dtype) for c in TABLES[table] if c.path != HOUSEHOLD_ID])


def _no_table(spec: FieldSpec) -> pl.DataType:
    """A collection that no input table carries (``history.assessments``: the monitoring store fills it):
    the frame still has its column, null (unknown) unless a Parquet or JSON Lines input gives it."""
    from ..compile.polars import _dtype

    return _dtype(spec)


def frame_schema() -> dict[str, pl.DataType]:
    """Name → type of every column of the households frame, in order (the evaluator's input contract)."""
    schema: dict[str, pl.DataType] = {ROW: pl.UInt64(), AS_OF: pl.Date()}
    for path, spec in CATALOGUE.items():
        if spec.item_fields is not None and path not in COLLECTIONS:
            schema[path] = _no_table(spec)
        elif spec.item_fields is not None:
            schema[path] = pl.List(_struct(COLLECTIONS[path]))
        else:
            schema[path] = next(c for c in TABLES["households"] if c.path == path).dtype
    return schema


_KIND_ZH: Final[dict[str, str]] = {
    "bool": "是/否",
    "int": "整数",
    "money": "金额（元，≤2位小数）",
    "decimal": "数值",
    "date": "日期 YYYY-MM-DD",
    "text": "文本",
    "enum": "代码值（单选）",
    "set": "代码值（多选，用、分隔）",
    "dates": "日期（多个，用、分隔）",
}


def column_table_markdown() -> str:
    """The column reference of ``docs/batch.md``: one Markdown table per batch table."""
    titles = {
        "households": "农户表 / households (sheet `农户`, `households.csv`)",
        "members": "成员表 / members (sheet `成员`, `members.csv`)",
        "measures": "措施表 / measures (sheet `措施`, `measures.csv`)",
    }
    lines: list[str] = []
    for table, cols in TABLES.items():
        lines += [
            f"### {titles[table]}",
            "",
            "| 中文表头 | English header | 类型 / kind | 说明 / notes |",
            "|---|---|---|---|",
        ]
        for c in cols:
            notes: list[str] = []
            if c.required:
                notes.append("必填 / required")
            if c.pattern:
                notes.append(f"`{c.pattern}`")
            if c.ge is not None:
                notes.append(f"≥ {c.ge}")
            if c.le is not None:
                notes.append(f"≤ {c.le}")
            if c.max_items is not None:
                notes.append(f"最多 {c.max_items} 项 / at most {c.max_items}")
            if c.values:
                notes.append("、".join(c.values))
            if table == "households" and c.path in COLLECTIONS:
                notes.append("填 `无` = 确知没有 / `无` = known to have none")
            notes.append(c.en_label)
            marker = table == "households" and c.path in COLLECTIONS
            kind = "标记 / marker" if marker else f"{_KIND_ZH[c.kind]} / {c.kind}"
            lines.append(f"| {c.header} | `{c.en}` | {kind} | {'；'.join(notes)} |")
        lines.append("")
    return "\n".join(lines)
