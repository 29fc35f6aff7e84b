"""Household + as_of → the facts the rules read.

Two jobs, both driven by the pydantic models so that a field added to :mod:`eligibility.models` is
at once visible to rule files, with its type and its allowed values:

* :data:`CATALOGUE` — every household field a formula or condition may name (``income.wage``,
  ``members`` with its item fields), with its static type and its bilingual label;
* :func:`flatten` — one household as a flat ``path -> value`` dict where an absent value (or an absent
  parent object) is :data:`~eligibility.expressions.UNKNOWN`.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from pydantic import BaseModel

from .expressions import BOOL, DATE, MONEY, NUMBER, TEXT, UNKNOWN, Type
from .models import Household, MoneyMark

__all__ = ["CATALOGUE", "FieldSpec", "flatten", "missing_paths"]


@dataclass(frozen=True)
class FieldSpec:
    """A household field as rule files see it."""

    path: str
    type: Type
    zh: str
    en: str
    item_fields: dict[str, FieldSpec] | None = None  # for collections


def _unwrap(ann: Any) -> Any:
    """Strip ``X | None`` and ``Annotated`` to the underlying type."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else ann
    return ann


def _enum_type(kind: str, e: type[enum.Enum]) -> Type:
    return Type(kind, values=tuple(m.value for m in e), aliases=tuple((m.name, m.value) for m in e))


def _marks(ann: Any) -> list[Any]:
    """Every Annotated metadata object anywhere inside ``ann`` (``Money | None`` hides it in a Union)."""
    out: list[Any] = []
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        out += list(getattr(ann, "__metadata__", ()))
        out += _marks(typing.get_args(ann)[0])
    elif origin in (typing.Union, types.UnionType):
        for a in typing.get_args(ann):
            out += _marks(a)
    return out


def _type_of(ann: Any, metadata: list[Any]) -> Type | None:
    metadata = [*metadata, *_marks(ann)]
    t = _unwrap(ann)
    origin = typing.get_origin(t)
    if origin in (tuple, frozenset, list, set):
        inner = _unwrap(typing.get_args(t)[0])
        if isinstance(inner, type) and issubclass(inner, enum.Enum):
            return _enum_type("set", inner)
        if inner is date:
            return Type("list", item="date")
        return None
    if t is bool:
        return BOOL
    if t is int:
        return NUMBER
    if t is Decimal:
        return MONEY if any(isinstance(m, MoneyMark) for m in metadata) else NUMBER
    if t is date:
        return DATE
    if t is str:
        return TEXT
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return _enum_type("text", t)
    return None


def _labels(description: str | None, name: str) -> tuple[str, str]:
    if description and " / " in description:
        zh, en = description.split(" / ", 1)
        return zh, en
    return name, name


def _collect(model: type[BaseModel], prefix: str, out: dict[str, FieldSpec]) -> None:
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        zh, en = _labels(info.description, name)
        ann = _unwrap(info.annotation)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _collect(ann, path + ".", out)
            continue
        if origin is tuple:
            inner = _unwrap(typing.get_args(ann)[0])
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                items: dict[str, FieldSpec] = {}
                _collect(inner, "", items)
                var = name[:-1] if name.endswith("s") else name
                out[path] = FieldSpec(path, Type("collection", item=var), zh, en, items)
                continue
        t = _type_of(info.annotation, list(info.metadata))
        if t is not None:
            out[path] = FieldSpec(path, t, zh, en)


def _build() -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    _collect(Household, "", out)
    return out


CATALOGUE: Final[dict[str, FieldSpec]] = _build()
"""Every household field by dotted path (collections hold their item fields)."""

_NESTED: Final = tuple(
    (name, info)
    for name, info in Household.model_fields.items()
    if isinstance(_unwrap(info.annotation), type) and issubclass(_unwrap(info.annotation), BaseModel)
)


def _plain(v: Any) -> Any:
    if v is None:
        return UNKNOWN
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, frozenset):
        return frozenset(x.value if isinstance(x, enum.Enum) else x for x in v)
    if isinstance(v, tuple):
        if v and isinstance(v[0], BaseModel):
            return [_item(x) for x in v]
        if v and isinstance(v[0], enum.Enum):
            return frozenset(x.value for x in v)
        return v
    return v


def _item(m: BaseModel) -> dict[str, Any]:
    return {k: _plain(getattr(m, k)) for k in type(m).model_fields}


def flatten(h: Household) -> dict[str, Any]:
    """The household as ``{dotted path: value}``; absent values and absent sections are UNKNOWN."""
    out: dict[str, Any] = {}
    for name in Household.model_fields:
        v = getattr(h, name)
        if isinstance(v, BaseModel):
            for k in type(v).model_fields:
                out[f"{name}.{k}"] = _plain(getattr(v, k))
        elif v is None and any(n == name for n, _ in _NESTED):
            continue  # every field of an absent section stays UNKNOWN (dict.get default)
        else:
            out[name] = _plain(v)
    return out


def missing_paths(fields: dict[str, Any], used: set[str]) -> list[str]:
    """JSON paths of the household data among ``used`` that the record does not give.

    ``used`` holds dotted paths and item paths such as ``members[].birth_date``; the latter expand to
    every member lacking the value (``$.members[2].birth_date``), so a clerk knows what to fill in.
    """
    out: list[str] = []
    for p in sorted(used):
        if "[]." in p:
            coll, sub = p.split("[].", 1)
            items = fields.get(coll, UNKNOWN)
            if items is UNKNOWN:
                out.append(f"$.{coll}")
                continue
            out.extend(f"$.{coll}[{i}].{sub}" for i, it in enumerate(items) if it.get(sub, UNKNOWN) is UNKNOWN)
        elif fields.get(p, UNKNOWN) is UNKNOWN and CATALOGUE.get(p, None) is not None:
            out.append(f"$.{p}")
    return sorted(set(out))
