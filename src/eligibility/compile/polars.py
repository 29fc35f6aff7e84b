"""The polars target: one compiled program (polars query stages) per pack chain and date span, deciding
whole tables at once.

The Python target (:mod:`eligibility.compile.python`) decides one household per call; a county's monthly
routine covers hundreds of thousands (design.md, "Population work is columnar"). This module compiles the
same IR — derived facts, condition trees, conclusions — into polars expressions over a table with one row
per household, and assembles the decision columns (identification, assistance, exit, procedure,
warnings) with the same machinery as :class:`~eligibility.engine.Engine`. It is a second *target*, not a
second evaluator of the Python one: its semantics are checked against the Python target by property tests
(``tests/property/test_polars_sameness.py``), row by row.

How the rule language maps onto polars, and why:

* **Unknown is null.** polars' ``&``, ``|`` and ``~`` on nullable Booleans are Kleene's (null & false is
  false, null | true is true, ~null is null) and comparisons with null are null, so the condition tree
  maps operator for operator; ``tests/test_polars_target.py`` holds the truth tables of every operator
  relied on. List aggregates are *not* used for Kleene any/all (their null handling is not Kleene's):
  aggregates over members and measures are hand-written from counts of true / false / null items.
* **Money stays exact.** Money is ``Decimal(38, 2)``; polars 2 keeps the *larger* scale of a product or a
  quotient and rounds, so every multiplication first casts both sides to the sum of their scales (then the
  product is exact) and a division is never performed: a quotient is carried as a rational
  ``numerator / denominator`` (both exact) and compared by cross-multiplication, sign-aware. A division
  by zero is unknown, as in the Python target. Only the ``fact:`` output column of a quotient (with
  ``rule_columns=True``) is an actual division, at scale 18 — the Python target's 28-digit Decimal is
  matched to within 1e-16 there, not digit for digit (the rule outcomes use the exact rational).
* **Whole months are dateutil's.** ``relativedelta(b, a)`` counts calendar months from ``a``'s month to
  ``b``'s and steps back one when ``a``'s day (clipped to the month end) has not come yet; years truncate
  toward zero. Written here with integer arithmetic on year and month, tested against relativedelta at
  month ends and leap days.
* **Aggregates with a ``where``** explode the collection once per batch and compute every aggregate's
  filter and value per item, once each (as columns: inlined, a date formula was recomputed per use).
  ``count``/``any``/``all`` need only how many items of a household carry each flag, read off running
  sums over the items (each household's items are contiguous) — no group_by, no join back;
  ``sum``/``min``/``max`` group by household. An item whose filter is unknown makes a "none found"
  answer unknown, as in the Python target.
* **Leaves are columns.** Each distinct leaf test is computed once, in one stage before the rules; the
  rule trees and the gap pass's node columns combine those Boolean columns (an exact decimal
  cross-product is not recomputed for every tree and node that contains it).
* **The decision is assembled in long form.** Findings (risks … procedure) come from unpivoting the rule
  columns to the (household, rule) pairs that fired or are unknown, joined with what each rule concludes;
  the settling paths of ``blocking`` / ``unknown`` / ``exit_blocking`` (Engine._missing) from the leaf
  occurrences each household's walk reaches — computed only for households with an unknown conclusion.
  A household touches a handful of such pairs, where a wide expression per possible code would cost every
  household the whole vocabulary.
* **Stages are collected one by one** (:meth:`TableProgram.run`): one lazy plan of every stage costs
  polars' optimiser more than it saves; neighbouring column stages are one stage (``_fused``: each
  collect has a fixed cost). A subplan read by several plans is collected rather than
  ``cache()``-d: polars 2 recomputed cached subplans (measured 3-15x in the gap and findings stages).
* **Parameters are constants** of the span, folded exactly as the Python target folds them.

Known differences from the Python target (none reachable with the bundled packs):

* A required parameter without a value makes every row of the span an ``error`` row, naming the first such
  parameter in the program's order (the Python target's order). The Python target raises only where it
  evaluates the read, so a read only inside an untaken ``if()`` branch or inside an aggregate over an
  empty collection decides there and errors here.
* Formulas the bundled rules never use raise :class:`NotImplementedError` when compiling: a list of
  computed values, ``in`` over computed options, ``if()`` over a quotient, an aggregate of quotients, a
  division by a decimal quantity, ordering comparisons of sets.

The input contract (:func:`households_frame` builds it from :class:`~eligibility.models.Household`):
one row per household with ``_row`` (UInt64 input position) and ``as_of`` (Date); a column per
non-collection field path of :data:`~eligibility.facts.CATALOGUE` — Boolean, Int64, money as
Decimal(38, 2), other decimals (``water.litres_per_person_day``) as Decimal(38, 10) (exact for inputs of
at most ten decimals), coded values as the Chinese String, dates as Date, sets of codes and lists of dates
as List; collections as List(Struct) of their item fields (null: absent, unknown; empty: known empty).
"""

from __future__ import annotations

import functools
import operator
import os
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

import polars as pl
from pydantic import BaseModel

from ..conditions import AtLeast, Cond, Group, Leaf, Negation, RuleRef
from ..errors import MissingParameterError
from ..expressions import UNKNOWN, Aggregate, Binary, BoolOp, Call, ListLit, Lit, Name, Node, Unary
from ..facts import CATALOGUE, FieldSpec
from ..models import Household
from ..ruleset import VOCAB_SECTIONS, Chain, RuleDef, RuleSet, RuleVersion
from .members_pl import ENGINE, MEMBER_MEASURE, add_member_stage, member_rows
from .python import _since_at_least, spans

__all__ = [
    "OUTPUT_SCHEMA",
    "TableProgram",
    "compile_table",
    "decide_table",
    "decision_row",
    "households_frame",
    "row_errors",
]

MONEY_DTYPE: Final = pl.Decimal(38, 2)
NUMBER_SCALE: Final = 10
"""Scale of non-money decimals in the input (``water.litres_per_person_day``): exact up to 10 decimals."""
NUMBER_DTYPE: Final = pl.Decimal(38, NUMBER_SCALE)
FACT_QUOTIENT_SCALE: Final = 18
VOCAB_KINDS: Final = (*VOCAB_SECTIONS, "exit_applies", "already_monitored")

FINDING: Final = pl.Struct({"code": pl.String, "certain": pl.Boolean, "rules": pl.List(pl.String)})
MISSING: Final = pl.Struct({"name": pl.String, "fields": pl.List(pl.String)})
BLOCKER: Final = pl.Struct({"code": pl.String, "certain": pl.Boolean, "rules": pl.List(pl.String), "until": pl.Date})
PROCEDURE: Final = pl.Struct(
    {
        "code": pl.String,
        "certain": pl.Boolean,
        "rules": pl.List(pl.String),
        "severity": pl.String,
        "due": pl.Date,
        "on": pl.Date,
        "days_late": pl.Int64,
    }
)
_FINDING_COLUMNS: Final = {
    "risk": "risks",
    "risk_type": "risk_types",
    "layer": "layers",
    "exclusion": "exclusions",
    "review": "reviews",
    "measure": "measures",
    "gap": "gaps",
    "warning": "warnings",
    "exit_blocker": "exit_blockers",
    "finding": "procedure",
}
"""Finding kinds and the decision column listing them."""
_FINDING_DTYPES: Final[dict[str, pl.DataType]] = {
    **{k: FINDING for k in _FINDING_COLUMNS},
    "exit_blocker": BLOCKER,
    "finding": PROCEDURE,
}
OUTPUT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "_row": pl.UInt64(),
    "household_id": pl.String(),
    "jurisdiction": pl.String(),
    "status": pl.String(),
    "category": pl.String(),
    "candidate_categories": pl.List(pl.String),
    "risks": pl.List(FINDING),
    "risk_types": pl.List(FINDING),
    "layers": pl.List(FINDING),
    "exclusions": pl.List(FINDING),
    "reviews": pl.List(FINDING),
    "blocking": pl.List(MISSING),
    "unknown": pl.List(MISSING),
    "measures": pl.List(FINDING),
    "gaps": pl.List(FINDING),
    "exit_status": pl.String(),
    "exit_blockers": pl.List(BLOCKER),
    "exit_opens_on": pl.Date(),
    "exit_method": pl.String(),
    "exit_blocking": pl.List(MISSING),
    "procedure": pl.List(PROCEDURE),
    "warnings": pl.List(FINDING),
    "missing_parameters": pl.List(pl.String),
    "member_measures": pl.List(MEMBER_MEASURE),
    "ruleset_fingerprint": pl.String(),
    "error": pl.String(),
}
"""The decision table's columns, in order (``rule:``/``fact:`` columns follow when asked for)."""


# ------------------------------------------------------------------------------------- input contract


def _dtype(spec: FieldSpec) -> pl.DataType:
    """The column type of a household field under the input contract."""
    t = spec.type
    if t.kind == "bool":
        return pl.Boolean()
    if t.kind == "money":
        return MONEY_DTYPE
    if t.kind == "number":
        return _NUMBER_FIELDS.get(spec.path, pl.Int64())
    if t.kind == "date":
        return pl.Date()
    if t.kind == "text":
        return pl.String()
    if t.kind == "set":
        return pl.List(pl.String)
    if t.kind == "list":
        return pl.List(pl.Date)
    assert t.kind == "collection" and spec.item_fields is not None
    return pl.List(pl.Struct({k: _dtype(v) for k, v in spec.item_fields.items()}))


def _decimal_paths() -> dict[str, pl.DataType]:
    """Fields whose model type is Decimal but not money (the catalogue calls both "number")."""
    import typing

    out: dict[str, pl.DataType] = {}
    for name, info in Household.model_fields.items():
        ann = info.annotation
        sub = [a for a in typing.get_args(ann) if isinstance(a, type)] if typing.get_args(ann) else [ann]
        for s in sub:
            if isinstance(s, type) and issubclass(s, BaseModel) and s is not Household:
                for k, f in s.model_fields.items():
                    args = typing.get_args(f.annotation)
                    if Decimal in args or f.annotation is Decimal:
                        path = f"{name}.{k}"
                        spec = CATALOGUE.get(path)
                        if spec is not None and spec.type.kind == "number":
                            out[path] = NUMBER_DTYPE
    return out


_NUMBER_FIELDS: Final = _decimal_paths()
INPUT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "_row": pl.UInt64(),
    "as_of": pl.Date(),
    **{p: _dtype(s) for p, s in CATALOGUE.items()},
}
"""Every column :func:`decide_table` reads, with its type (``as_of`` may be left to the argument)."""


def _plain(v: Any) -> Any:
    """A model attribute as a column cell: codes as their Chinese value, sets as sorted lists."""
    if v is None:
        return None
    if isinstance(v, frozenset):
        return sorted(x.value for x in v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    value = getattr(v, "_value_", None)
    if value is not None and isinstance(v, str):
        return value
    if isinstance(v, BaseModel):
        return {k: _plain(getattr(v, k)) for k in type(v).model_fields}
    return v


def households_frame(households: Iterable[Household], as_of: date | Sequence[date] | None = None) -> pl.DataFrame:
    """The input table of :func:`decide_table` built from parsed households (the contract's reference).

    ``as_of`` is one date for every row, one per household, or None (the column is then left null for
    :func:`decide_table`'s argument to fill)."""
    rows = list(households)
    cols: dict[str, list[Any]] = {p: [] for p in CATALOGUE}
    for h in rows:
        for p in CATALOGUE:
            if "." in p:
                sec, attr = p.split(".", 1)
                obj = getattr(h, sec)
                cols[p].append(None if obj is None else _plain(getattr(obj, attr)))
            else:
                cols[p].append(_plain(getattr(h, p)))
    if as_of is None or isinstance(as_of, date):
        dates: list[date | None] = [as_of] * len(rows)
    else:
        dates = list(as_of)
    data: dict[str, Any] = {"_row": list(range(len(rows))), "as_of": dates, **cols}
    return pl.DataFrame(data, schema=INPUT_SCHEMA)


# ------------------------------------------------------------------------------------------- values


@dataclass
class V:
    """A compiled value: a polars expression and what the rule language knows about it.

    ``kind``: bool | int | dec (with ``scale``) | date | text | set | list | tuple (a constant list).
    A quotient keeps its denominator in ``den`` (never zero where ``expr`` is not null) so that no
    division ever rounds; ``const`` is the Python value of a folded constant."""

    expr: pl.Expr
    kind: str
    scale: int = 0
    den: pl.Expr | None = None
    const: Any = None
    is_const: bool = False

    def known(self) -> pl.Expr:
        return self.expr.is_not_null()


def _lit(v: Any) -> V:
    """A constant of the rule language (a literal or a folded parameter value) as a typed literal."""
    if v is UNKNOWN or v is None:
        return V(pl.lit(None), "null", const=None, is_const=True)
    if isinstance(v, bool):
        return V(pl.lit(v, dtype=pl.Boolean), "bool", const=v, is_const=True)
    if isinstance(v, int):
        return V(pl.lit(v, dtype=pl.Int64), "int", const=v, is_const=True)
    if isinstance(v, Decimal):
        exp = v.as_tuple().exponent
        scale = max(0, -exp) if isinstance(exp, int) else 0
        return V(pl.lit(v, dtype=pl.Decimal(38, scale)), "dec", scale, const=v, is_const=True)
    if isinstance(v, date):
        return V(pl.lit(v, dtype=pl.Date), "date", const=v, is_const=True)
    if isinstance(v, str):
        return V(pl.lit(v, dtype=pl.String), "text", const=v, is_const=True)
    if isinstance(v, list | tuple):
        return V(pl.lit(None, dtype=pl.Boolean), "tuple", const=tuple(v), is_const=True)
    raise NotImplementedError(f"constant {v!r}")


def _field_kind(spec: FieldSpec, path: str) -> tuple[str, int]:
    t = spec.type.kind
    if t == "money":
        return "dec", 2
    if t == "number":
        return ("dec", NUMBER_SCALE) if path in _NUMBER_FIELDS else ("int", 0)
    return {"bool": "bool", "date": "date", "text": "text", "set": "set", "list": "list"}[t], 0


def _as_dec(v: V, scale: int) -> pl.Expr:
    if v.kind == "int":
        return v.expr.cast(pl.Decimal(38, scale))
    if v.kind == "dec" and v.scale != scale:
        return v.expr.cast(pl.Decimal(38, scale))
    return v.expr


def _numeric(v: V) -> bool:
    return v.kind in ("int", "dec")


def _null_of(a: V, b: V) -> V | None:
    """Arithmetic on an unknown constant (an optional parameter without a value) is unknown."""
    if a.kind == "null" or b.kind == "null":
        other = b if a.kind == "null" else a
        return V(pl.lit(None), other.kind if other.kind != "null" else "null", other.scale)
    return None


def _add(a: V, b: V, op: str) -> V:
    """``a + b`` / ``a - b`` exactly (common scale); a quotient operand keeps the result a quotient."""
    if (n := _null_of(a, b)) is not None:
        return n
    if a.den is not None or b.den is not None:
        an, ad = _ratio(a)
        bn, bd = _ratio(b)
        num = _add(_mul(an, bd), _mul(bn, ad), op)
        return _quotient(num, _mul(ad, bd))
    if a.kind == "int" and b.kind == "int":
        return V(a.expr + b.expr if op == "+" else a.expr - b.expr, "int")
    s = max(a.scale, b.scale)
    x, y = _as_dec(a, s), _as_dec(b, s)
    return V(x + y if op == "+" else x - y, "dec", s)


def _mul(a: V, b: V) -> V:
    """``a × b`` exactly: polars keeps the larger scale of a decimal product, so both sides are first
    widened to the sum of the scales, which the exact product never exceeds."""
    if (n := _null_of(a, b)) is not None:
        return n
    if a.den is not None or b.den is not None:
        an, ad = _ratio(a)
        bn, bd = _ratio(b)
        return _quotient(_mul(an, bn), _mul(ad, bd))
    # By a plain number's denominator (``_ratio``): the product is the other factor, of its own type and
    # scale, exactly — without a 128-bit decimal product per row (the cross-multiplied comparisons of a
    # per-capita income with the line multiplied every income by 1; measured 1-2 ms per 100,000 rows each).
    if b is _ONE:
        return V(a.expr, a.kind, a.scale)
    if a is _ONE:
        return V(b.expr, b.kind, b.scale)
    if a.kind == "int" and b.kind == "int":
        return V(a.expr * b.expr, "int")
    s = a.scale + b.scale
    return V(_as_dec(a, s) * _as_dec(b, s), "dec", s)


def _ratio(v: V) -> tuple[V, V]:
    """(numerator, denominator) of a value (denominator 1 for a plain number)."""
    if v.den is None:
        return V(v.expr, v.kind, v.scale), _ONE
    return V(v.expr, v.kind, v.scale), V(v.den, "int")


_ONE: Final = V(pl.lit(1, dtype=pl.Int64), "int", const=1, is_const=True)
"""A plain number's denominator: :func:`_mul` by it is the other factor itself."""


def _div(a: V, b: V) -> V:
    """``a / b`` as an exact quotient; unknown where ``b`` is zero (a household of no members has no
    per-capita income), as the Python target's ``U if b == 0``."""
    if (n := _null_of(a, b)) is not None:
        return V(n.expr, "dec", n.scale)
    an, ad = _ratio(a)
    bn, bd = _ratio(b)
    den = _mul(ad, bn)
    if den.kind == "dec":
        raise NotImplementedError("a division by a decimal quantity")
    zero = bn.expr == 0
    return _quotient(_mul(an, bd), V(pl.when(zero).then(None).otherwise(den.expr), "int"))


def _quotient(num: V, den: V) -> V:
    """A quotient whose numerator is null wherever it is unknown: either part unknown, or a zero
    divisor (the denominator is then null too). Whether a quotient is known is read off the numerator."""
    known = num.expr.is_not_null() & den.expr.is_not_null()
    return V(pl.when(known).then(num.expr), "dec", num.scale, pl.when(known).then(den.expr))


_MIRROR: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}  # ``a op b`` is ``b _MIRROR[op] a``
_CMP_OPS: Final[dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FLIP: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _compare(a: V, op: str, b: V) -> pl.Expr:
    """``a op b`` with null for unknown; quotients by sign-aware cross-multiplication (no rounding)."""
    if a.kind == "null" or b.kind == "null":
        return pl.lit(None, dtype=pl.Boolean)
    if a.den is not None or b.den is not None:
        an, ad = _ratio(a)
        bn, bd = _ratio(b)
        left, right = _mul(an, bd), _mul(bn, ad)
        sign = _mul(ad, bd).expr > 0
        s = max(left.scale, right.scale)
        lx = _as_dec(left, s) if left.kind == "dec" or right.kind == "dec" else left.expr
        rx = _as_dec(right, s) if left.kind == "dec" or right.kind == "dec" else right.expr
        if op in ("==", "!="):
            return _CMP_OPS[op](lx, rx)
        return pl.when(sign).then(_CMP_OPS[op](lx, rx)).otherwise(_CMP_OPS[_FLIP[op]](lx, rx))
    if _numeric(a) and _numeric(b) and (a.kind == "dec" or b.kind == "dec"):
        s = max(a.scale, b.scale)
        return _CMP_OPS[op](_as_dec(a, s), _as_dec(b, s))
    if a.kind == "null" or b.kind == "null":
        return pl.lit(None, dtype=pl.Boolean)
    if a.kind in ("set", "list", "tuple") or b.kind in ("set", "list", "tuple"):
        raise NotImplementedError("comparing a set")
    return _CMP_OPS[op](a.expr, b.expr)


def _unify(a: V, b: V) -> tuple[pl.Expr, pl.Expr, str, int]:
    """Both branches of ``if()`` in one type."""
    if a.den is not None or b.den is not None:
        raise NotImplementedError("if() over a quotient")
    if _numeric(a) and _numeric(b) and (a.kind == "dec" or b.kind == "dec"):
        s = max(a.scale, b.scale)
        return _as_dec(a, s), _as_dec(b, s), "dec", s
    if a.kind == "null":
        return pl.lit(None), b.expr, b.kind, b.scale
    if b.kind == "null":
        return a.expr, pl.lit(None), a.kind, a.scale
    return a.expr, b.expr, a.kind, a.scale


# --------------------------------------------------------------------------------------- date maths


def _month_index(d: pl.Expr) -> pl.Expr:
    return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64) - 1


def add_months(d: pl.Expr, n: pl.Expr) -> pl.Expr:
    """``d + relativedelta(months=n)``: the same day ``n`` months on, clipped to that month's end.

    polars' calendar offset ``"<n>mo"`` clips to the month end exactly as relativedelta does (tested at
    month ends and leap days); it is several times faster than building the date from its parts."""
    return pl.when(n.is_not_null()).then(d.dt.offset_by(pl.format("{}mo", n.cast(pl.Int64))))


def per_date(d: pl.Expr, fn: Callable[[pl.Series], pl.Series]) -> pl.Expr:
    """``fn`` (a date's calendar arithmetic: a month offset, a month's end) over the column ``d``, worked out
    once when every known date of the column is the same one.

    Such columns are common: a fact computed from ``as_of`` (one assessment date a part) or defaulting
    to it (the income window's anchor, ``end_of_month(add_months(as_of, -1))``). polars' calendar
    functions cost about 45 ns (``offset_by``) and 75 ns (``month_end``) a row whatever the values
    (measured: the income window's two dates, 27 ms of CPU per 100,000-household bundled part, a
    quarter of the leaf-and-rule stage); the check costs a min and a max. Columns of varied dates take
    ``fn`` row by row as before: numbered by distinct value and looked up (``replace_strict``), 300
    distinct dates of 100,000 rows measured no faster than ``offset_by`` itself, and 100,000 distinct
    ones three to four times slower. Only for a whole column (not inside ``list.eval``)."""
    return d.map_batches(functools.partial(_dates_once, fn), return_dtype=pl.Date)


def _dates_once(fn: Callable[[pl.Series], pl.Series], s: pl.Series) -> pl.Series:
    """:func:`per_date` over one column: ``fn`` of its one date spread over its known rows (nulls stay
    null, as ``fn`` keeps them), else ``fn`` row by row."""
    first, last = s.min(), s.max()
    if first is None or first != last:
        return fn(s)
    one: pl.Series = fn(pl.Series(s.name, [first], dtype=pl.Date)).new_from_index(0, len(s))
    return one.zip_with(s.is_not_null(), s) if s.null_count() else one


def _offset_months(n: int, s: pl.Series) -> pl.Series:
    """``add_months`` by a constant: the same offset as :func:`add_months` (one parsed offset, not one a row)."""
    return s.dt.offset_by(f"{n}mo")


def _month_end(s: pl.Series) -> pl.Series:
    return s.dt.month_end()


def months_between(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Whole months from ``a`` to ``b`` as ``relativedelta(b, a)`` counts them (toward zero).

    ``m`` calendar months separate the two months; ``a + m`` months lands in ``b``'s month on ``a``'s
    day clipped to that month's length, so comparing days is enough: going forward, ``b`` is short of
    the landing day when its day is below both ``a``'s day and its month's length; going back, ``b`` is
    past it when its day exceeds ``a``'s. No date is built, which made this 7x faster."""
    m = _month_index(b) - _month_index(a)
    ad, bd = a.dt.day().cast(pl.Int64), b.dt.day().cast(pl.Int64)
    forward = b >= a
    short = (bd < ad) & (bd < b.dt.days_in_month().cast(pl.Int64))
    # ``m`` appears once: polars does not share a repeated subexpression here, and each copy of it
    # extracted the dates' parts again (written as ``when(..).then(m - 1).otherwise(m)``: 2x the time)
    return m - (forward & short).cast(pl.Int64) + (~forward & (bd > ad)).cast(pl.Int64)


def since_bound(on: pl.Expr, months: int) -> pl.Expr:
    """Per row of ``on``, the last date ``x`` with at least ``months`` (≥ 1) whole months from ``x`` to
    ``on``: the per-household engine's ``_since_at_least`` (``compile/python.py``, relativedelta's count
    by bisection), worked out once per distinct assessment date (:func:`_since_bounds`). Built from
    polars' date functions (an offset and a month-end fix) it cost 0.06 CPU s per 350,000 member rows,
    more than the age formula it replaces."""
    return on.map_batches(functools.partial(_since_bounds, months), return_dtype=pl.Date)


@functools.cache
def _as_of_since(months: int) -> pl.Expr:
    """:func:`since_bound` of the ``as_of`` column, one expression object per month count. Each call of
    ``since_bound`` wraps a new ``functools.partial`` in a new Python function node, and polars compares
    such nodes by object (``meta.eq`` is false even for the same partial): the bundled packs' two
    "dropped out, aged 6-15" member conditions (one per pack) print the same but were not recognised as
    one by ``add_member_stage``'s ``meta.eq``, so ``_select_pass`` computed the condition twice. With one
    object per month count the equal conditions compare equal and are computed once (measured in
    docs/batch-speed.md, session 24 pol3). An expression is immutable, so one object serves every plan."""
    return since_bound(pl.col("as_of"), months)


def _since_bounds(months: int, on: pl.Series) -> pl.Series:
    """:func:`since_bound` over a column: a part has one assessment date (or a handful), so the bound is
    computed per distinct date and spread; a null date has a null bound."""
    known = on.drop_nulls()
    if known.is_empty():
        return pl.Series(on.name, [None] * len(on), dtype=pl.Date)
    first, last = known.min(), known.max()
    assert isinstance(first, date) and isinstance(last, date)
    if first == last and known.len() == len(on):
        return pl.repeat(_since_at_least(first, months), len(on), eager=True, dtype=pl.Date).alias(on.name)
    days = known.unique().to_list()
    spread: pl.Series = on.replace_strict(days, [_since_at_least(d, months) for d in days], return_dtype=pl.Date)
    return spread


def whole_years(months: pl.Expr) -> pl.Expr:
    """relativedelta's years: the months divided by 12, truncated toward zero (a float division is exact
    enough: ``m / 12`` for an integer ``m`` lies at least 1/12 from any integer it is not equal to, and
    a cast truncates toward zero). ``months`` appears once (see :func:`months_between`)."""
    return (months.cast(pl.Float64) / 12).cast(pl.Int64)


def _from_month_index(idx: pl.Expr) -> pl.Expr:
    return pl.date(idx // 12, idx % 12 + 1, 1)


# ------------------------------------------------------------------------------------------ program


@dataclass
class _AggSpec:
    """An aggregate awaiting its exploded pass: its collection and per-item filter and value."""

    column: str
    fn: str
    coll: str
    where: pl.Expr | None
    value: V | None
    outer: set[str]
    fields: set[str] = field(default_factory=set)  # the item fields ``where`` and ``value`` read
    # ``where`` and ``value`` over ``pl.element()``, for ``list.eval``: when they read nothing but the
    # item (no outer column, no inner aggregate)
    element: tuple[pl.Expr | None, V | None] | None = None


@dataclass
class TableProgram:
    """A compiled (chain, span) of the polars target: ``run`` turns the rows of one part into decision
    columns. ``error`` is set when no household of the span can be decided (no rules in force, or a
    required parameter without a value): the rows then carry the error instead of a decision."""

    chain: Chain
    start: date
    until: date | None
    facts: dict[str, V]
    rules: list[tuple[RuleDef, RuleVersion]]
    error: Callable[[pl.Expr], pl.Expr] | None
    stages: list[Callable[[pl.LazyFrame], pl.LazyFrame]] = field(default_factory=list)
    decision: list[pl.Expr] = field(default_factory=list)
    rule_columns: list[pl.Expr] = field(default_factory=list)

    def run(self, df: pl.DataFrame, rule_columns: bool = False) -> pl.DataFrame:
        """The decision columns of the part ``df`` (rows of this chain and span).

        Each stage is collected before the next: one lazy plan of every stage (dozens of column batches,
        the exploded aggregate passes, the long-form joins) costs polars' optimiser more than it saves,
        and a plan read twice (explode and join back) would otherwise be planned twice.

        The frames here are wide (hundreds of working columns, of one or two chunks each), so every step
        on them is lazy and collected: on the 630-column output of a 100,000-household bundled part,
        an eager ``select``/``with_columns``/``filter`` of polars 2.1 took 40-60 ms of CPU per call
        (0.2 ms on the same frame rechunked), the same step lazily about 1 ms; ``decide_table``'s
        shaping select alone took 0.19 CPU s of that part's 2.5 (measured)."""
        base = (
            df.lazy()
            .with_columns(
                pl.lit(self.chain.pack.id, dtype=pl.String).alias("jurisdiction"),
                pl.lit(self.chain.fingerprint, dtype=pl.String).alias("ruleset_fingerprint"),
            )
            .collect(engine=ENGINE)
        )
        if self.error is not None:
            return base.lazy().with_columns(self.error(pl.col("as_of")).alias("error")).collect(engine=ENGINE)
        for stage in self.stages:
            base = stage(base.lazy()).collect(engine=ENGINE)
        out = base.lazy().with_columns(*self.decision, pl.lit(None, dtype=pl.String).alias("error"))
        if rule_columns:
            out = out.with_columns(*self.rule_columns)
        return out.collect(engine=ENGINE)


_LOCK: Final = threading.Lock()


def compile_table(chain: Chain, on: date, *, every_fact: bool = False) -> TableProgram:
    """The polars program of ``chain`` for the date span holding ``on`` (compiled once per span).

    Without ``every_fact`` the program computes only the facts some rule in force reads (in a
    condition, a conclusion's date or a member selector), directly or through other facts: the
    identification packs read 17 of the 92 facts of the bundled catalogue. ``every_fact`` computes
    them all, for the ``fact:`` audit columns (``rule_columns``)."""
    cache: dict[tuple[date | None, bool], TableProgram] | None = chain.__dict__.get("_tables")
    if cache is None:
        with _LOCK:
            cache = chain.__dict__.setdefault("_tables", {})
    points, i = _span_at(chain, on)
    start = points[i] if i >= 0 else None
    prog = cache.get((start, every_fact))
    if prog is None:
        with _LOCK:
            prog = cache.get((start, every_fact))
            if prog is None:
                until = points[i + 1] if i + 1 < len(points) else None
                prog = _Compiler(chain, on, start or date.min, until, every_fact).build()
                cache[(start, every_fact)] = prog
    return prog


def _span_at(chain: Chain, on: date) -> tuple[list[date], int]:
    """The dates where ``chain``'s rules or parameters change (computed once per chain) and the index of
    the last one on or before ``on`` (-1: before the first): the span :func:`compile_table` compiles
    for, which :func:`decide_table` also groups rows by without compiling a program."""
    points: list[date] | None = chain.__dict__.get("_table_points")
    if points is None:
        with _LOCK:
            points = chain.__dict__.setdefault("_table_points", spans(chain))
    return points, bisect_right(points, on) - 1


class _Compiler:
    """The IR of one (chain, span) to polars stages: facts (with the exploded aggregate passes they
    need), rule condition trees, then the decision columns."""

    def __init__(self, chain: Chain, on: date, start: date, until: date | None, every_fact: bool = True) -> None:
        self.chain, self.on, self.start, self.until = chain, on, start, until
        self.every_fact = every_fact
        self.facts: dict[str, V] = {}
        self.materialised: set[str] = set()
        self.pending_facts: list[tuple[str, V]] = []
        self.pending_aggs: list[_AggSpec] = []
        self.stages: list[Callable[[pl.LazyFrame], pl.LazyFrame]] = []
        self.item: list[tuple[str, FieldSpec]] = []  # (collection path, spec) of the enclosing aggregate
        self.item_keys: list[set[str]] = []  # the item fields each enclosing aggregate reads
        self.element_mode = False  # an item field as ``pl.element()``'s (see ``aggregate``)
        self.outer: list[set[str]] = []
        self.agg_count = 0
        self.fact_level: dict[str, int] = {}
        self.agg_level: dict[str, int] = {}
        self.leaf_names: dict[Any, str] = {}
        self.leaf_exprs: list[pl.Expr] = []

    # ------------------------------------------------------------------ parameters

    def param(self, name: str) -> Any:
        """The value in this span; unknown (null) without one — the decision names a required one."""
        try:
            return self.chain.param_hit(name, self.on).value
        except MissingParameterError:
            return UNKNOWN

    # ------------------------------------------------------------------ formulas

    def name(self, node: Name) -> V:
        if node.ref == "param":
            return _lit(self.param(node.key))
        if node.ref == "as_of":
            self.use("as_of")
            return V(pl.col("as_of"), "date")
        if node.ref == "fact":
            self.use("__f:" + node.key)
            return self.fact_ref(node.key)
        if node.ref == "item":
            coll, spec = self.item[-1]
            assert spec.item_fields is not None
            sub = spec.item_fields[node.key]
            kind, scale = _field_kind(sub, "")
            if self.item_keys:  # (a member selector of ``members_pl`` reads items outside any aggregate)
                self.item_keys[-1].add(node.key)
            item = pl.element() if self.element_mode else pl.col(coll)
            return V(item.struct.field(node.key), kind, scale)
        spec = CATALOGUE[node.key]
        kind, scale = _field_kind(spec, node.key)
        self.use(node.key)
        return V(pl.col(node.key), kind, scale)

    def use(self, column: str) -> None:
        """Note an outer column read inside an aggregate's body (it travels into the exploded pass)."""
        if self.outer:
            self.outer[-1].add(column)

    def fact_ref(self, name: str) -> V:
        v = self.facts[name]
        den = pl.col("__fd:" + name) if v.den is not None else None
        if self.outer and den is not None:
            self.outer[-1].add("__fd:" + name)
        return V(pl.col("__f:" + name), v.kind, v.scale, den, v.const, v.is_const)

    def expr(self, node: Node) -> V:
        if isinstance(node, Lit):
            return _lit(node.value)
        if isinstance(node, ListLit):
            items = [self.expr(i) for i in node.items]
            if all(i.is_const for i in items):
                return _lit(tuple(i.const for i in items))
            raise NotImplementedError("a list of computed values")
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Unary):
            a = self.expr(node.operand)
            if node.op == "not":
                # An unknown constant (a parameter with no value) is an untyped null: `not` of it is unknown.
                return V(~(a.expr.cast(pl.Boolean) if a.kind == "null" else a.expr), "bool")
            return V(-a.expr, a.kind, a.scale, a.den)
        if isinstance(node, BoolOp):
            return V(_kleene(node.op, [self.expr(i).expr for i in node.items]), "bool")
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Aggregate):
            return self.aggregate(node)
        raise AssertionError(node)

    def binary(self, node: Binary) -> V:
        since = self.since_test(node)
        if since is not None:
            return V(since, "bool")
        a, b = self.expr(node.left), self.expr(node.right)
        op = node.op
        if op == "in":
            return V(_member(a, b), "bool")
        if op in _CMP_OPS:
            if a.kind == "tuple" or b.kind == "tuple":
                raise NotImplementedError("comparing a list")
            return V(_compare(a, op, b), "bool")
        if op in ("+", "-"):
            return _add(a, b, op)
        if op == "*":
            return _mul(a, b)
        return _div(a, b)

    def since_test(self, node: Binary) -> pl.Expr | None:
        """``age(d) >= n`` (or ``months_since(d)``, ``months_between(d, as_of)``; any of ``< <= > >=``,
        either side) for a date field ``d`` and a whole number ``n`` of the span, as a comparison of ``d``
        with one bound date per assessment date (:func:`since_bound`) instead of the whole months
        between the two dates, whose year, month and day parts were most of the member conditions and
        aggregates (issue 10, the bundled packs' "dropped out, aged 6-15" and borrower age). The same
        test the per-household engine makes (``_Compiler.since_test`` of ``compile/python.py``): exact
        because ``f >= k`` holds for every date ``d`` up to the bound and none after it; ``f > n`` is
        ``f >= n + 1``, ``<`` and ``<=`` their negations, and a null date is unknown either way. None
        (the general path) for another shape, a bound below 1, or a span whose first day is too early
        for the bound to be a calendar date."""
        op = node.op
        call, bound = node.left, node.right
        if isinstance(bound, Call):  # ``n <= age(…)`` is ``age(…) >= n``
            call, bound, op = bound, call, _MIRROR.get(op, "")
        if not (
            op in _MIRROR
            and isinstance(call, Call)
            and (
                (call.fn in ("age", "months_since") and len(call.args) == 1)
                or (  # ``months_between(d, as_of)`` is ``months_since(d)``
                    call.fn == "months_between"
                    and len(call.args) == 2
                    and isinstance(call.args[1], Name)
                    and call.args[1].ref == "as_of"
                )
            )
            and isinstance(call.args[0], Name)
            and call.args[0].ref != "param"
            and isinstance(bound, Lit | Name)
            and (isinstance(bound, Lit) or bound.ref == "param")
        ):
            return None
        n = self.expr(bound)
        if not n.is_const or type(n.const) is not int:
            return None
        k = n.const if op in (">=", "<") else n.const + 1  # f > n ⇔ f >= n + 1; f <= n ⇔ not f >= n + 1
        months = k * 12 if call.fn == "age" else k
        if k < 1 or (self.start.year - 1) * 12 - 1 < months:
            return None
        d = self.expr(call.args[0])
        if d.kind != "date":
            return None
        self.use("as_of")
        on_or_before = d.expr <= _as_of_since(months)
        return on_or_before if op in (">=", ">") else ~on_or_before

    def call(self, node: Call) -> V:
        fn = node.fn
        if fn == "if":
            c = self.expr(node.args[0])
            a, b = self.expr(node.args[1]), self.expr(node.args[2])
            x, y, kind, scale = _unify(a, b)
            same = pl.when(x == y).then(x)
            return V(pl.when(c.expr.is_null()).then(same).when(c.expr).then(x).otherwise(y), kind, scale)
        args = [self.expr(a) for a in node.args]
        if fn == "is_known":
            return V(args[0].expr.is_not_null(), "bool")
        if fn in ("age", "months_since"):
            self.use("as_of")
            m = months_between(args[0].expr, pl.col("as_of"))
            return V(whole_years(m) if fn == "age" else m, "int")
        if fn == "months_between":
            return V(months_between(args[0].expr, args[1].expr), "int")
        if fn == "days_between":
            return V((args[1].expr - args[0].expr).dt.total_days().cast(pl.Int64), "int")
        if fn == "add_days":
            return V(args[0].expr + pl.duration(days=_int(args[1])), "date")
        if fn == "add_months":
            by = _whole_number(node.args[1], args[1])
            if by is not None and not self.element_mode:  # a whole column, and a constant number of months
                return V(per_date(args[0].expr, functools.partial(_offset_months, by)), "date")
            return V(add_months(args[0].expr, _int(args[1])), "date")
        if fn == "end_of_month":
            if not self.element_mode:
                return V(per_date(args[0].expr, _month_end), "date")
            return V(args[0].expr.dt.month_end(), "date")
        dates, start, end = (a.expr for a in args)
        si, ei = _month_index(start), _month_index(end)
        first = _from_month_index(si)
        months = pl.int_ranges(si, ei + 1, dtype=pl.Int64)
        seen = dates.list.eval(_month_index(pl.element())).list.unique()
        lacking = months.list.set_difference(seen)
        known = dates.is_not_null() & start.is_not_null() & end.is_not_null()
        if fn == "months_without":
            n = pl.when(end < first).then(0).otherwise(lacking.list.len().cast(pl.Int64))
            return V(pl.when(known).then(n), "int")
        m = lacking.list.min()
        return V(pl.when(known & (end >= first)).then(_from_month_index(m)), "date")

    def aggregate(self, node: Aggregate) -> V:
        """Register the aggregate for the exploded pass; the value is its result column."""
        coll = node.collection.key
        self.use(coll)
        fn = node.fn
        spec = CATALOGUE[coll]
        if fn == "count" and node.where is None:
            return V(pl.col(coll).list.len().cast(pl.Int64), "int")
        self.agg_count += 1
        column = f"__agg{self.agg_count}"
        self.item.append((coll, spec))
        self.item_keys.append(set())
        self.outer.append(set())
        inner = len(self.pending_aggs)
        try:
            where = self.expr(node.where).expr if node.where is not None else None
            value = self.expr(node.value) if node.value is not None else None
            element = None
            if not self.outer[-1] and len(self.pending_aggs) == inner and fn in ("count", "any", "all"):
                # Only the item is read: compiled again over ``pl.element()``, so that the pass can
                # work it out inside each list (``list.eval``) without exploding the items.
                self.element_mode = True
                try:
                    element = (
                        self.expr(node.where).expr if node.where is not None else None,
                        self.expr(node.value) if node.value is not None else None,
                    )
                finally:
                    self.element_mode = False
        finally:
            self.item.pop()
            keys = self.item_keys.pop()
            outer = self.outer.pop()
        if value is not None and value.den is not None:
            raise NotImplementedError("an aggregate of quotients")
        outer.discard(coll)
        self.pending_aggs.append(_AggSpec(column, fn, coll, where, value, outer, keys, element))
        if self.outer:  # nested aggregates read the inner one's column from outside
            self.outer[-1].add(column)
        kind, scale = ("int", 0) if fn == "count" else (("bool", 0) if fn in ("any", "all") else ("", 0))
        if value is not None and fn not in ("any", "all"):
            kind, scale = value.kind, value.scale
        return V(pl.col(column), kind, scale)

    # ------------------------------------------------------------------ staging

    def flush(self) -> None:
        """Materialise the pending aggregates and facts, level by level (see ``add_fact``): at each
        level one exploded pass per collection for every aggregate of that level, then one stage of
        that level's facts."""
        aggs, facts = self.pending_aggs, self.pending_facts
        self.pending_aggs, self.pending_facts = [], []
        levels = [self.agg_level[a.column] for a in aggs] + [self.fact_level[n] for n, _ in facts]
        for k in range(max(levels, default=-1) + 1):
            by_coll: dict[str, list[_AggSpec]] = {}
            for a in aggs:
                if self.agg_level[a.column] == k:
                    by_coll.setdefault(a.coll, []).append(a)
            for coll, group in by_coll.items():
                self.stages.append(functools.partial(_aggregate_pass, coll, group))
            cols: list[pl.Expr] = []
            for name, v in facts:
                if self.fact_level[name] != k:
                    continue
                cols.append(v.expr.alias("__f:" + name))
                if v.den is not None:
                    cols.append(v.den.alias("__fd:" + name))
                self.materialised.add(name)
            if cols:
                self.stages.append(_with_columns(cols))

    def add_fact(self, name: str, node: Node) -> None:
        """Compile a fact and give it a level: one more than the deepest fact it reads, and not before
        its aggregates, whose level is one more than the deepest fact (or inner aggregate) their items
        read. Scheduling by level rather than in the order of the facts puts every aggregate over
        members that can run together into one exploded pass (in fact order, an unrelated fact in
        between split them into three)."""
        before = len(self.pending_aggs)
        v = self.expr(node)
        level = max((self.fact_level[d] + 1 for d in _fact_refs(node) if d in self.fact_level), default=0)
        for a in self.pending_aggs[before:]:  # an inner aggregate comes before the one around it
            at = 0
            for col in a.outer:
                if col.startswith(("__f:", "__fd:")):
                    at = max(at, self.fact_level[col.split(":", 1)[1]] + 1)
                elif col in self.agg_level:
                    at = max(at, self.agg_level[col] + 1)
            self.agg_level[a.column] = at
            level = max(level, at)
        self.fact_level[name] = level
        self.facts[name] = v
        self.pending_facts.append((name, v))

    # ------------------------------------------------------------------ conditions

    def cond(
        self, c: Cond, nodes: dict[int, pl.Expr], path: list[int], leaves: list[tuple[list[int], Leaf]]
    ) -> pl.Expr:
        """The condition node as an expression; every node gets an id (its column ``__n<id>`` in the
        gap pass) and every leaf is recorded with the node path leading to it."""
        idx = len(nodes)
        nodes[idx] = pl.lit(None)  # reserve
        here = [*path, idx]
        if isinstance(c, Group):
            kids = [self.cond(x, nodes, here, leaves) for x in c.items]
            e = _kleene("and" if c.op == "all" else "or", kids)
        elif isinstance(c, AtLeast):
            kids = [self.cond(x, nodes, here, leaves) for x in c.items]
            true = pl.sum_horizontal([k.fill_null(False).cast(pl.Int64) for k in kids])
            unk = pl.sum_horizontal([k.is_null().cast(pl.Int64) for k in kids])
            e = pl.when(true >= c.n).then(True).when(true + unk < c.n).then(False).otherwise(None)
        elif isinstance(c, Negation):
            e = ~self.cond(c.item, nodes, here, leaves)
        elif isinstance(c, RuleRef):
            target = self.chain.alias.get(c.rule, c.rule)
            e = pl.col("rule:" + target) if target in self.in_force else pl.lit(False)
            self.refs.append((here, target))
        elif isinstance(c, Leaf):
            e = self.leaf_column(c)
            leaves.append((here, c))
        else:  # pragma: no cover
            raise AssertionError(c)
        nodes[idx] = e.cast(pl.Boolean)
        return nodes[idx]

    def subject(self, name: str, ref: str) -> V:
        if ref == "fact":
            return self.fact_ref(name)
        spec = CATALOGUE[name]
        kind, scale = _field_kind(spec, name)
        return V(pl.col(name), kind, scale)

    def leaf_column(self, c: Leaf) -> pl.Expr:
        """A leaf's outcome as a column of the leaf stage (computed once before every rule batch, and
        shared by every rule with the same test): the rule trees and the gap pass's node columns then
        combine Boolean columns instead of recomputing comparisons (exact decimal cross-products)."""
        key = (c.subject, c.ref, c.op, tuple((o.kind, o.name, repr(o.value)) for o in c.operands))
        name = self.leaf_names.get(key)
        if name is None:
            name = f"__l:{len(self.leaf_names)}"
            self.leaf_names[key] = name
            self.leaf_exprs.append(self.leaf(c).cast(pl.Boolean).alias(name))
        return pl.col(name)

    def leaf(self, c: Leaf) -> pl.Expr:
        a = self.subject(c.subject, c.ref)
        exps: list[V] = []
        for o in c.operands:
            if o.kind == "literal":
                exps.append(_lit(o.value))
            elif o.kind == "param":
                exps.append(_lit(self.param(o.name)))
            else:
                exps.append(self.subject(o.name, o.kind))
        op = c.op
        if op == "known":
            return a.known() == exps[0].expr
        if any(e.kind == "null" for e in exps):
            return pl.lit(None, dtype=pl.Boolean)
        if op in ("eq", "ne", "lt", "le", "gt", "ge"):
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
            if a.kind == "set":
                # a set never equals a single value (the Python target compares a frozenset with it)
                return pl.when(a.known()).then(pl.lit(sym == "!="))
            return _compare(a, sym, exps[0])
        if op == "between":
            return _kleene("and", [_compare(exps[0], "<=", a), _compare(a, "<=", exps[1])])
        # in
        if len(exps) == 1 and exps[0].kind == "tuple":
            options = list(exps[0].const)
        elif all(e.is_const for e in exps):
            options = [e.const for e in exps]
        else:
            raise NotImplementedError("`in` over computed options")
        return _member(a, _lit(tuple(options)), leaf=True)

    # ------------------------------------------------------------------ build

    def build(self) -> TableProgram:
        chain = self.chain
        in_force = chain.in_force(self.on)
        self.in_force = {r.id for r, _ in in_force}
        if not in_force:
            jur, en = chain.jurisdiction, chain.pack.en

            def none_in_force(as_of: pl.Expr) -> pl.Expr:
                on = as_of.dt.strftime("%Y-%m-%d")
                return pl.format(f"{jur} 在 {{}} 没有生效的规则 / no rules in force for {en} on {{}}", on, on)

            return TableProgram(chain, self.start, self.until, {}, [], none_in_force)
        return self._build(in_force)

    def _build(self, in_force: list[tuple[RuleDef, RuleVersion]]) -> TableProgram:
        chain = self.chain
        read = None if self.every_fact else _facts_read(chain, in_force)
        for name in chain.fact_order:
            if read is None or name in read:
                self.add_fact(name, chain.facts[name].node)
        self.flush()
        # Rules in dependency order; a rule reads the columns of the rules it refers to.
        self.refs: list[tuple[list[int], str]] = []
        self.rule_nodes: dict[
            str, tuple[dict[int, pl.Expr], list[tuple[list[int], Leaf]], list[tuple[list[int], str]]]
        ] = {}
        done: set[str] = set()
        batch: list[pl.Expr] = []
        leaf_stage = len(self.stages)  # the leaves' stage goes here once every rule is compiled
        for rule, version in in_force:
            nodes: dict[int, pl.Expr] = {}
            leaves: list[tuple[list[int], Leaf]] = []
            self.refs = []
            root = self.cond(version.when, nodes, [], leaves)
            deps = {t for _, t in self.refs}
            if deps & {r for r in self.in_force if r not in done}:
                self.stages.append(_with_columns(batch))
                batch = []
                done |= self.batch_ids
            if not batch:
                self.batch_ids: set[str] = set()
            batch.append(root.alias("rule:" + rule.id))
            self.batch_ids.add(rule.id)
            self.rule_nodes[rule.id] = (nodes, leaves, list(self.refs))
        if batch:
            self.stages.append(_with_columns(batch))
        if self.leaf_exprs:
            self.stages.insert(leaf_stage, _with_columns(self.leaf_exprs))
        prog = TableProgram(chain, self.start, self.until, self.facts, in_force, None, self.stages)
        decide = _Decide(self, prog)
        decide.build()
        prog.decision.append(add_member_stage(self, prog, decide))  # members named per measure (members_pl)
        prog.stages = _fused(prog.stages)
        return prog


def _facts_read(chain: Chain, in_force: list[tuple[RuleDef, RuleVersion]]) -> set[str]:
    """The facts the rules in force read — leaf subjects and operands, the facts a conclusion's
    modifiers name (due dates, opening dates), the facts of member selectors — and the facts those
    read, transitively. The decision reads no other fact (the settling paths start at the leaves)."""
    todo: list[str] = []

    def walk(c: Cond) -> None:
        if isinstance(c, Group | AtLeast):
            for x in c.items:
                walk(x)
        elif isinstance(c, Negation):
            walk(c.item)
        elif isinstance(c, Leaf):
            todo.extend(n for n, k in [(c.subject, c.ref), *((o.name, o.kind) for o in c.operands)] if k == "fact")

    for rule, version in in_force:
        walk(version.when)
        todo.extend(name for modifiers in rule.modifiers.values() for name in modifiers.values())
        todo.extend(name for sel in rule.selectors.values() for name in _fact_refs(sel.where))
    read: set[str] = set()
    while todo:
        name = todo.pop()
        if name in chain.facts and name not in read:
            read.add(name)
            todo.extend(chain.facts[name].facts)
    return read


def _whole_number(node: Node, v: V) -> int | None:
    """The constant whole number ``node`` is (a literal or folded parameter, or its negation, as in
    ``add_months(as_of, -1)``), else None."""
    if isinstance(node, Unary) and node.op == "-":  # (the compiler does not fold a negation)
        inner = node.operand.value if isinstance(node.operand, Lit) else None
        return -inner if type(inner) is int else None
    n = v.const if v.is_const else None
    return n if type(n) is int else None  # (not a bool, a decimal or an unknown parameter)


def _int(v: V) -> pl.Expr:
    """``int(x)`` of the Python target (a count of days or months; a decimal truncates toward zero)."""
    return v.expr.cast(pl.Int64)


def _fact_refs(node: Node) -> set[str]:
    from ..expressions import names

    return {n.key for n in names(node) if n.ref == "fact"}


def _with_columns(*batches: list[pl.Expr]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """A stage of column batches, each reading the columns of those before it."""

    def stage(lf: pl.LazyFrame) -> pl.LazyFrame:
        for cols in batches:
            lf = lf.with_columns(cols)
        return lf

    stage.batches = batches  # type: ignore[attr-defined]
    return stage


def _fused(stages: list[Callable[[pl.LazyFrame], pl.LazyFrame]]) -> list[Callable[[pl.LazyFrame], pl.LazyFrame]]:
    """Neighbouring column stages as one stage (one collect): a program has runs of dozens of small
    batches (a rule batch per reference depth), and each collect has a fixed cost of planning and
    running a query (about 0.4 ms on this machine, 38 collects per bundled part; measured: the 30
    column stages of the bundled packs 23 -> 18 ms CPU at 1,000 rows and 114 -> 106 ms at 100,000,
    the same columns)."""
    out: list[Callable[[pl.LazyFrame], pl.LazyFrame]] = []
    for stage in stages:
        batches = getattr(stage, "batches", None)
        before = getattr(out[-1], "batches", None) if out else None
        if batches is not None and before is not None:
            out[-1] = _with_columns(*before, *batches)
        else:
            out.append(stage)
    return out


def _kleene(op: str, items: Sequence[pl.Expr]) -> pl.Expr:
    """Kleene and/or: polars' ``&`` / ``|`` on nullable Booleans (truth tables in the tests)."""
    out = items[0].cast(pl.Boolean)
    for x in items[1:]:
        out = (out & x) if op == "and" else (out | x)
    return out


def _member(a: V, b: V, leaf: bool = False) -> pl.Expr:
    """``a in b``: membership in a constant list, a set field (``'患有大病' in member.health``), or — for a
    set-valued subject of a leaf — any of its values listed. Unknown when either side is unknown."""
    if b.kind == "tuple":
        options = list(b.const)
        if a.kind == "set":
            hit = _any([a.expr.list.contains(pl.lit(str(o), dtype=pl.String)) for o in dict.fromkeys(options)])
            return pl.when(a.known()).then(hit)
        if a.kind == "dec" or a.kind == "int":
            vals = [Decimal(x) if not isinstance(x, bool) else x for x in options]
            return _kleene("or", [_compare(a, "==", _lit(x)) for x in vals]) if vals else pl.when(a.known()).then(False)
        if not options:
            return pl.when(a.known()).then(False)
        lit = pl.lit(pl.Series(options))
        return pl.when(a.known()).then(a.expr.is_in(lit.implode()))
    if b.kind in ("set", "list"):
        return pl.when(a.known() & b.known()).then(b.expr.list.contains(a.expr))
    raise NotImplementedError(f"`in` over {b.kind}")


def _attach(lf: pl.LazyFrame, narrow: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """``lf`` with the columns of ``narrow`` (frames keyed by ``_row``, rows missing where none) beside
    it. The joins run on the narrow key column alone and the result is stacked horizontally: joining
    onto the wide frame would gather its hundreds of fact and rule columns once per join."""
    keys = lf.select("_row")
    for frame in narrow:
        keys = keys.join(frame, on="_row", how="left", maintain_order="left")
    return pl.concat([lf, keys.drop("_row")], how="horizontal")


def _narrowed(coll: str, fields: Iterable[str]) -> pl.Expr:
    """``coll`` with each item cut down to ``fields`` (a null item stays null): an element-wise
    ``list.eval``, so that the explode after it copies those fields only, not every field of every item
    (measured: most of an aggregate pass over members)."""
    keys = sorted(set(fields))
    e = pl.element()
    item = pl.struct([e.struct.field(k) for k in keys]) if keys else pl.struct(pl.lit(True).alias("__item"))
    return pl.col(coll).list.eval(pl.when(e.is_not_null()).then(item)).alias(coll)


def _within(coll: str, specs: Sequence[_AggSpec]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """The ``count``/``any``/``all`` aggregates that read only the item, worked out inside each list,
    with the same Kleene rules as the exploded pass below. Returns the per-row reductions (columns
    ``<column>:m``, computed once) and the results read from them.

    A ``count`` is an element-wise ``list.eval`` reduced by ``list.sum``. An ``any``/``all`` codes each
    item 2 where it decides the aggregate, 1 where it leaves it unknown, else 0; the aggregate is the
    largest code. Codes are 0, 1 or 2, so "some item has 2" and "some item has 1" are the two bits of
    the bitwise OR of the codes: up to 32 aggregates share one UInt64 per item (two bits each) and one
    ``list.agg`` ORs them, instead of a ``list.eval`` and a ``list.max`` per aggregate (measured: the
    bundled packs' members pass 0.082-0.089 -> 0.075-0.081 CPU s per 100,000 households; most of what is
    left is computing the codes themselves, see docs/batch-speed.md, session 16 cgap)."""
    reduced: list[pl.Expr] = []
    finals: list[pl.Expr] = []
    e = pl.element()
    items = pl.col(coll)
    coded: list[tuple[_AggSpec, pl.Expr]] = []
    for s in specs:
        assert s.element is not None
        where, value = s.element
        keep = pl.lit(True) if where is None else where.cast(pl.Boolean)
        kept = e.is_not_null() & keep.fill_null(False)  # a null item of a list counts as no item
        unsure = e.is_not_null() & keep.is_null()
        if s.fn == "count":  # kept items counted in the low 32 bits, unsure ones above
            m = pl.col(s.column + ":m")
            code = kept.cast(pl.Int64) + unsure.cast(pl.Int64) * (1 << 32)
            reduced.append(items.list.eval(code).list.sum().alias(s.column + ":m"))
            finals.append(pl.when(m >= 1 << 32).then(None).otherwise(m % (1 << 32)).alias(s.column))
            continue
        assert value is not None
        want = s.fn == "any"
        if where is None and value.kind == "bool":
            # The code as arithmetic: the deciding value (true for ``any``, false for ``all``) times 2,
            # unknown 1, a null item 0. The ``when`` chain below cost 1.5x as much (bundled packs' 13
            # member aggregates: 0.097 -> 0.064 CPU s per 100,000 households, session 13).
            v = value.expr.cast(pl.Boolean)
            deciding = (v if want else ~v).cast(pl.UInt64)
            coded.append((s, pl.when(e.is_not_null()).then((deciding * 2).fill_null(1)).otherwise(0)))
            continue
        code = (
            pl.when(kept & (value.expr == want).fill_null(False))
            .then(_typed(2, pl.UInt64))
            .when((kept & value.expr.is_null()) | unsure)
            .then(_typed(1, pl.UInt64))
            .otherwise(_typed(0, pl.UInt64))
        )
        coded.append((s, code))
    for j in range(0, len(coded), 32):
        chunk = coded[j : j + 32]
        m = pl.col(chunk[0][0].column + ":m")
        shifted = [code * _typed(1 << 2 * k, pl.UInt64) if k else code for k, (_, code) in enumerate(chunk)]
        # an empty list (or one of null items only) ORs to nothing: no bit set, as a largest code of 0
        reduced.append(items.list.agg(_bit_or(shifted).bitwise_or()).fill_null(0).alias(chunk[0][0].column + ":m"))
        for k, (s, _) in enumerate(chunk):
            want = s.fn == "any"
            decided = (m & _typed(2 << 2 * k, pl.UInt64)) != 0
            unknown = (m & _typed(1 << 2 * k, pl.UInt64)) != 0
            finals.append(pl.when(decided).then(want).when(unknown).then(None).otherwise(not want).alias(s.column))
    order = {s.column: i for i, s in enumerate(specs)}  # the results in the order of the aggregates
    return reduced, sorted(finals, key=lambda f: order[f.meta.output_name()])


_ABSENT_SHAPES: dict[tuple[int, tuple[tuple[str, pl.DataType], ...]], tuple[list[_AggSpec], pl.Schema]] = {}
"""The columns of an aggregate pass over an absent collection, per pass (its list of aggregates) and input
schema: the pass over no rows that types them costs 0.003-0.007 CPU s of planning, each part."""


def _aggregate_pass(coll: str, specs: list[_AggSpec], lf: pl.LazyFrame) -> pl.LazyFrame:
    """Every aggregate over ``coll`` from one explode of it, without grouping or joining back.

    Per aggregate and item: whether the filter keeps it (Kleene: ``keep`` may be unknown), and whether
    the kept item's value is true / false / null. ``count``, ``any`` and ``all`` need only how many items
    of a household have each flag, and :func:`_segment_sums` reads those off a running sum over the
    exploded items (each household's items are contiguous, in order). ``sum``/``min``/``max`` group by
    ``_row`` (:func:`_reduce_pass`). The final column applies the Python target's rules: an undecidable
    filter makes "none found" unknown; an unknown value makes sum/min/max unknown; an absent collection
    makes every aggregate over it unknown."""
    outer: set[str] = set()
    for s in specs:
        outer |= s.outer
    outer.discard("_row")
    df = lf.collect(engine=ENGINE)
    if df.height and df.get_column(coll).null_count() == df.height:
        # No row has the collection (every aggregate over it unknown): the columns as the full pass
        # types them (the same pass over no rows), all null, without its explode, group_by and join,
        # which cost as much on absent lists as on items (measured: the bundled packs' three passes over
        # ``monitoring.measures`` and ``history.assessments``, absent from every row of the benchmark,
        # 0.055-0.085 -> 0.005 CPU s per 100,000 households; see docs/batch-speed.md, session 16 cgap).
        key = (id(specs), tuple(df.schema.items()))
        known = _ABSENT_SHAPES.get(key)
        if known is None or known[0] is not specs:  # (the list kept, so that its id is not reused)
            if len(_ABSENT_SHAPES) > 256:
                _ABSENT_SHAPES.clear()
            known = _ABSENT_SHAPES[key] = (specs, _aggregate_pass(coll, specs, df.clear().lazy()).collect_schema())
        shape = known[1]
        absent = [pl.lit(None, dtype=dtype).alias(c) for c, dtype in shape.items() if c not in df.columns]
        return df.lazy().with_columns(absent).select(list(shape))
    present = pl.col("__present")  # a null item of a list counts as no item
    # Each filter and value is computed once per item, into a column the flags then read: inlined into
    # every flag, a date formula was evaluated several times over (measured: 4x the time of the pass).
    items: list[pl.Expr] = [pl.col(coll).is_not_null().alias("__present")]
    flags: list[pl.Expr] = []
    within, finals = _within(coll, [s for s in specs if s.element is not None])
    exploded = [s for s in specs if s.element is None]
    for s in (s for s in exploded if s.fn in ("count", "any", "all")):
        c = s.column
        keep = pl.lit(True)
        if s.where is not None:
            items.append(s.where.cast(pl.Boolean).alias(c + ":keep"))
            keep = pl.col(c + ":keep")
        kept = present & keep.fill_null(False)
        unsure = present & keep.is_null()
        if s.fn == "count":
            flags += [kept.alias(c + ":n"), unsure.alias(c + ":unsure")]
            finals.append(pl.when(pl.col(c + ":unsure") > 0).then(None).otherwise(pl.col(c + ":n")).alias(c))
            continue
        assert s.value is not None
        items.append(s.value.expr.alias(c + ":value"))
        v = pl.col(c + ":value")
        want = s.fn == "any"
        flags += [
            (kept & (v == want).fill_null(False)).alias(c + ":hit"),
            ((kept & v.is_null()) | unsure).alias(c + ":unk"),
        ]
        finals.append(
            pl.when(pl.col(c + ":hit") > 0)
            .then(want)
            .when(pl.col(c + ":unk") > 0)
            .then(None)
            .otherwise(not want)
            .alias(c)
        )
    if flags:
        # Every row exploded (an empty or absent list gives one placeholder row, without an ``__i``), the
        # placeholders dropped after: a filter on the rows first would gather every field of the items.
        # Collected between the two selects: polars would otherwise fuse them and inline the items again.
        per_item = (
            df.lazy()
            .select(
                _narrowed(coll, (k for s in exploded for k in s.fields)),
                *sorted(outer),
                pl.int_ranges(0, pl.col(coll).list.len()).alias("__i"),
            )
            .explode(coll, "__i")
            .filter(pl.col("__i").is_not_null())
            .select(items)
            .collect(engine=ENGINE)
        )
        flat = per_item.lazy().select(flags)
        df = pl.concat([df, _segment_sums(df.get_column(coll), flat)], how="horizontal")
    reduced = [s for s in specs if s.fn not in ("count", "any", "all")]
    out = df.lazy()
    if within:
        out = out.with_columns(within)
    if reduced:
        out, more = _reduce_pass(coll, reduced, out, outer)
        finals += more
    done = out.with_columns(
        pl.when(pl.col(coll).is_null()).then(None).otherwise(f).alias(f.meta.output_name()) for f in finals
    )
    drop = [f"{s.column}:{k}" for s in specs for k in ("unsure", "n", "hit", "unk", "v", "m")]
    return done.drop(drop, strict=False)


def _segment_sums(lists: pl.Series, flat: pl.LazyFrame, dtype: pl.DataType | None = None) -> pl.DataFrame:
    """Per row of ``lists``, the sum of each Boolean (or ``dtype``) column of ``flat`` over that row's
    items, where ``flat`` has one row per item of the non-empty lists, in order.

    A running sum over the items (with a leading zero), read after each row's last item and differenced
    with the previous row's: linear, and no hashing (a group_by on the row key measured ten times
    slower). With ``UInt64`` the running sum wraps around and so does the difference: a row's sum is
    exact whenever it is below 2**64 (the bitsets of ``gap_stage``: distinct bits per row)."""
    return _sums_to(lists.list.len().fill_null(0).cast(pl.Int64).cum_sum(), flat, dtype)


def _rank_in(distinct: pl.Series, values: pl.Series) -> pl.Series:
    """Each of ``values``' place (UInt32) in ``distinct``, the sorted distinct values it is drawn from
    (every value is among them; a null's place is that of ``distinct``'s null): what
    ``distinct.search_sorted(values)`` gives, by a hash look-up, where polars' binary search walks a
    generic iterator per value (measured: 1,000,000 values among 1,100, 13 against 42 CPU ms; it was
    2 % of a bundled batch's native profile, docs/batch-speed.md session 31)."""
    if values.is_empty():  # (``replace_strict`` keeps an empty column's dtype, whatever ``return_dtype`` says)
        return pl.Series(values.name, [], dtype=pl.UInt32)
    places: pl.Series = values.replace_strict(
        distinct, pl.int_range(distinct.len(), dtype=pl.UInt32, eager=True), return_dtype=pl.UInt32
    )
    return places


def _sums_to(ends: pl.Series, flat: pl.LazyFrame, dtype: pl.DataType | None = None) -> pl.DataFrame:
    """:func:`_segment_sums` given where each row's items end in ``flat`` (the running count of its
    rows): the member selection keeps one placeholder row per household without members."""
    running = flat.select(pl.all().cast(dtype or pl.Int64()).cum_sum()).collect(engine=ENGINE)
    total = int(ends[-1]) if len(ends) else 0
    if running.height != total:  # pragma: no cover - polars' explode contract
        raise AssertionError("explode did not give one row per item")
    running = pl.concat([running.clear(1).fill_null(0), running])
    at = running.select(pl.all().gather(ends))
    return at.select(pl.all() - pl.all().shift(1, fill_value=0))


def _reduce_pass(
    coll: str, specs: list[_AggSpec], lf: pl.LazyFrame, outer: set[str]
) -> tuple[pl.LazyFrame, list[pl.Expr]]:
    """``sum``/``min``/``max`` over ``coll``: the exploded items grouped by ``_row`` and attached.

    Filters and values are computed item by item before the group_by, which then only reduces plain
    columns (a formula inside the aggregation context runs group by group: 20-100x slower)."""
    lf = lf.cache()  # read twice (explode, join): computed once
    ex = (
        lf.select("_row", _narrowed(coll, (k for s in specs for k in s.fields)), *sorted(outer))
        .explode(coll)
        .filter(pl.col(coll).is_not_null())
    )
    items: list[pl.Expr] = []
    for s in specs:
        assert s.value is not None
        if s.where is not None:
            items.append(s.where.cast(pl.Boolean).alias(s.column + ":keep"))
        items.append(s.value.expr.alias(s.column + ":value"))
    ex = ex.select("_row", *items)
    aggs: list[pl.Expr] = []
    finals: list[pl.Expr] = []
    for s in specs:
        assert s.value is not None
        c = s.column
        keep = pl.col(c + ":keep") if s.where is not None else pl.lit(True)
        kept = keep.fill_null(False)
        v = pl.col(c + ":value")
        aggs.append(keep.is_null().any().alias(c + ":unsure"))
        aggs.append((kept & v.is_null()).any().alias(c + ":unk"))
        aggs.append(kept.sum().cast(pl.Int64).alias(c + ":n"))
        picked = v.filter(kept)
        reduce = {"sum": picked.sum(), "min": picked.min(), "max": picked.max()}[s.fn]
        aggs.append(reduce.alias(c + ":v"))
        bad = pl.col(c + ":unsure").fill_null(False) | pl.col(c + ":unk").fill_null(False)
        if s.fn == "sum":
            zero = (
                pl.lit(0, dtype=pl.Int64)
                if s.value.kind == "int"
                else pl.lit(Decimal(0)).cast(pl.Decimal(38, s.value.scale))
            )
            finals.append(pl.when(bad).then(None).otherwise(pl.col(c + ":v").fill_null(zero)).alias(c))
        else:
            finals.append(
                pl.when(bad | (pl.col(c + ":n").fill_null(0) == 0)).then(None).otherwise(pl.col(c + ":v")).alias(c)
            )
    return _attach(lf, [ex.group_by("_row").agg(aggs)]), finals


# ------------------------------------------------------------------------------------------ decision


@functools.lru_cache(maxsize=4096)
def _typed(value: int | None, dtype: type[pl.DataType]) -> pl.Expr:
    """``pl.lit(value, dtype=dtype)``, made once per value: given a dtype, polars builds the literal from a
    one-value Series in Python (about 10 µs each), and a call of the bundled program asked for some
    1,500 of them (the gap stage's bit masks and packing factors), whatever the rows (measured,
    docs/batch-speed.md, session 19 bfix). An expression is immutable, so one object serves every plan and
    thread."""
    return pl.lit(value, dtype=dtype)


def _empty(dtype: pl.DataType) -> pl.Expr:
    return pl.lit([], dtype=pl.List(dtype))


def _bit_or(xs: Sequence[pl.Expr]) -> pl.Expr:
    """Bitwise OR of UInt64 columns (zero for none), as a balanced tree (a deep chain of binary
    expressions costs polars' planner more than the arithmetic)."""
    if not xs:
        return _typed(0, pl.UInt64)
    items = list(xs)
    while len(items) > 1:
        items = [items[i] | items[i + 1] if i + 1 < len(items) else items[i] for i in range(0, len(items), 2)]
    return items[0]


def _moved_bits(word: pl.Expr, bits: Sequence[int]) -> dict[int, pl.Expr]:
    """Bit ``j`` of the UInt64 ``word`` moved to bit ``bits[j] % 64`` of word ``bits[j] // 64``: per such word,
    the OR of its moved bits. One mask and one shift (a product or a quotient by a power of two, never
    overflowing: every moved bit lands in 0…63) per run of bits moved the same way, not a test per bit
    (the bundled members' 9 item paths: two runs)."""
    runs: dict[int, dict[int, int]] = {}
    for j, b in enumerate(bits):
        by_shift = runs.setdefault(b // 64, {})
        by_shift[b % 64 - j] = by_shift.get(b % 64 - j, 0) | 1 << j
    out: dict[int, pl.Expr] = {}
    for w, by_shift in sorted(runs.items()):
        moved = []
        for shift, mask in sorted(by_shift.items()):
            kept = word & _typed(mask, pl.UInt64)
            if shift > 0:
                kept = kept * _typed(1 << shift, pl.UInt64)
            elif shift < 0:
                kept = kept // _typed(1 << -shift, pl.UInt64)
            moved.append(kept)
        out[w] = _bit_or(moved)
    return out


def _any(xs: Sequence[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(xs) if xs else pl.lit(False)


def _all(xs: Sequence[pl.Expr]) -> pl.Expr:
    return pl.all_horizontal(xs) if xs else pl.lit(True)


_LOOKUP_BITS: Final = 12
"""At most this many flags make a list by table look-up (:func:`_lookup`): 4,096 entries."""


_SPELLED_MEMO = 1 << 16
"""A bound on the gap patterns' spelled fields remembered per program (``_Decide.gap_stage``): this many
patterns per meaning of their integers, this many meanings."""

_FEW_ITEMS = 8
"""The gap stage spells which items of a collection lack a path (``_Decide.gap_stage``'s ``__l<bit>:0``)
one position at a time, without an explode, when no row of the part has more items than this (most
households have a few members); past it, an explode per collection and segment sums (``lacking``), whose
cost does not grow with the positions. A test sets it to 0 to take the explode for every collection."""

_PAIR_BITS = 64
"""A gap list's (row, subject) pattern is one exact integer when it fits in this many bits (``_Decide.
gap_stage``'s ``pair_terms``), else hashed columns; a test lowers it to take the hashed way."""


def _lookup(flags: Sequence[pl.Expr], values: Sequence[Any], dtype: pl.DataType) -> pl.Expr:
    """The list of ``values[i]`` whose flag ``flags[i]`` is true (flags never null), in order.

    Few flags have few combinations: the list of every combination is made once, when compiling, and
    each row picks its own by number (a ``gather``). Built per row instead (``concat_list`` of one
    optional string per flag, then ``drop_nulls``), the candidate categories alone cost 12 % of an
    identification batch (measured: 0.16 CPU s of 1.3 at 100,000 households)."""
    if not flags:
        return _empty(dtype)
    if len(flags) > _LOOKUP_BITS:
        return _listed([pl.when(f).then(pl.lit(v)) for f, v in zip(flags, values, strict=True)], dtype)
    table = pl.Series(
        [[v for i, v in enumerate(values) if k >> i & 1] for k in range(1 << len(flags))], dtype=pl.List(dtype)
    )
    key = _bit_or([f.cast(pl.UInt32) * _typed(1 << i, pl.UInt32) for i, f in enumerate(flags)])
    return pl.lit(table).gather(key)


def _listed(items: Sequence[pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """The non-null ones of ``items`` as a list, in order."""
    if not items:
        return _empty(dtype)
    return pl.concat_list([i.cast(dtype) for i in items]).list.drop_nulls()


_TABLE_ROWS: Final = 1 << 17
"""At most this many lists in one :class:`_Table` (131,072): a long run meets new combinations of the
measure kind all along (15,000-30,000 in every fresh 100,000-household part), and every part that adds
some copies the whole table once (``rechunk``; a gather from a table of several chunks took 40 times as
long, measured)."""


class _Table:
    """A table of finding lists, one per combination of rule outcomes (a UInt64 key), kept with its
    compiled program: most kinds meet a few hundred combinations in a batch, and the next part of the
    same batch mostly the same ones. Each row's list is gathered from the table by number.

    The keys are numbered by polars (``replace_strict`` on every row's key, the table's keys as the
    mapping): a Python dict of the keys and Python lists of each part's distinct keys and numbers cost
    more (measured, all kinds, besides making the lists: 0.40-0.43 against 0.34-0.36 CPU s over one
    building and three fresh 100,000-household parts). The
    table holds at most ``limit`` lists (or one part's distinct keys, when they alone are more): when a
    part's new keys would pass it, it starts again from the lists this part reads (gathered from the old
    table) and the new ones, so neither its memory nor the copy of it made when lists are added grows
    with a long run (the measure kind's combinations do not stop)."""

    def __init__(self, dtype: pl.DataType, limit: int = _TABLE_ROWS) -> None:
        self.dtype = pl.List(dtype)
        self.keys = pl.Series(values=[], dtype=pl.UInt64)
        self.series = pl.Series(values=[], dtype=self.dtype)
        self.limit = limit
        self.lock = threading.Lock()

    def lists(self, keys: pl.Series, make: Callable[[list[int]], pl.Series]) -> pl.Series:
        """Each key's list; the keys not seen before are made (``make``: their lists, in order)."""
        keys = keys.cast(pl.UInt64)
        with self.lock:
            number = self.numbers(keys)
            if number.null_count():
                new = keys.filter(number.is_null()).unique()
                if self.keys.len() + new.len() > self.limit:
                    # start again from the lists this part reads, then add the new ones
                    kept = keys.filter(number.is_not_null()).unique()
                    self.series = self.series.gather(self.numbers(kept))
                    self.keys = kept
                    number = self.numbers(keys)
                made = pl.Series(range(self.keys.len(), self.keys.len() + new.len()), dtype=pl.UInt32)
                self.series = pl.concat([self.series, make(new.to_list()).cast(self.dtype)]).rechunk()
                self.keys = pl.concat([self.keys, new]).rechunk()
                # only the rows of new keys numbered again: a ``replace_strict`` of every row's key took
                # as long as the first numbering (measured: 0.018 CPU s per fresh 100,000-row part, four kinds)
                at = number.is_null().arg_true()
                number = number.scatter(at, keys.gather(at).replace_strict(new, made, return_dtype=pl.UInt32))
            series = self.series
        return series.gather(number)

    def numbers(self, keys: pl.Series) -> pl.Series:
        """Each key's place in the table (null: not in it)."""
        places = pl.Series(range(self.keys.len()), dtype=pl.UInt32)
        number: pl.Series = keys.replace_strict(self.keys, places, default=None, return_dtype=pl.UInt32)
        return number


_WHOLE_RULES: Final = 7
"""A kind concluded by at most this many rules gets its whole table at first use (:class:`_WholeTable`):
4^7 = 16,384 lists, made once per program in about as long as a handful of fresh parts' new keys."""


class _WholeTable:
    """A :class:`_Table` for a kind of few rules: the list of every key (2 bits per rule, so 4^rules of
    them) made at first use and each row's list gathered by its key itself. Five kinds of the bundled
    packs have at most seven rules (risk, layer, exclusion, gap, warning), yet each fresh part met a few
    new combinations of some of them and paid a call making lists, and every part numbered every row's
    key against the table (measured: 2.4-17 ms per kind and part, 0.03 CPU s per 100,000-household part
    for the five). Keys with both bits of a rule set (fired and unknown) never occur; their lists are made
    with the rest and never read."""

    def __init__(self, dtype: pl.DataType, rules: int) -> None:
        self.dtype = pl.List(dtype)
        self.size = 1 << (2 * rules)
        self.series: pl.Series | None = None
        self.lock = threading.Lock()

    def lists(self, keys: pl.Series, make: Callable[[list[int]], pl.Series]) -> pl.Series:
        """Each key's list (``make``: the lists of the keys given, in order; called once, for every key)."""
        with self.lock:
            if self.series is None:
                self.series = make(list(range(self.size))).cast(self.dtype).rechunk()
            series = self.series
        return series.gather(keys.cast(pl.UInt32))


def _combination_lists(
    keys: list[int], codes: list[tuple[str, int, list[tuple[int, str]]]], dtype: pl.DataType
) -> pl.Series:
    """The findings of one kind (as the engine's ``compile/findings_py.FindingTables`` gives them) for
    each combination of its rules' outcomes in ``keys`` (2 bits per rule: 1 fired, 2 unknown; never
    both), as lists of ``dtype``: the certain codes, then the possible
    ones, each in code order, with the rules that decided them in program order. ``codes`` are the
    kind's codes in order, each with the key bits of its rules' "fired" states and each rule's bit
    position.

    Columnar over the new keys: one (key, code) entry where a rule of the code fired (certain, listing
    the fired rules) or else one is unknown (possible, listing the unknown ones), sorted by key and
    place, grouped into each key's list. Made per key in Python, a fresh batch's findings stage spent
    most of its time here (measured: 1.3 of 1.6 CPU s at 100,000 households, 48,359 new keys).

    Every key keeps a place (a placeholder entry, dropped inside the grouping) and the sort is on one
    integer (key number, place), so the groups come out one per key in order: sorting on two columns
    and joining the groups back onto the keys took twice as long (measured: 0.055-0.068 against 0.031
    CPU s for 14,596 new keys of the 16 measure codes)."""
    return _Combinations(codes, dtype)(keys)


class _Combinations:
    """:func:`_combination_lists` for one kind, its expressions built once: a program makes the lists of
    new keys for several kinds in every fresh part, and building the per-code filters and rule lists
    anew each time (a ``when``/``then`` per rule, literals per code) was a third of the time it took
    for a thousand keys (measured: 2.2-2.4 of 8.6-12.1 ms per call, measure and procedure kinds)."""

    def __init__(
        self, codes: list[tuple[str, int, list[tuple[int, str]]]], dtype: pl.DataType, numbered: bool = False
    ) -> None:
        """``numbered``: each entry also carries its code's number among ``codes`` (``__j``, UInt32; ``dtype``
        must have that field)."""
        self.dtype = dtype
        key = pl.col("k")

        def has(bits: int) -> pl.Expr:
            return (key & _typed(bits, pl.UInt64)) != 0

        certain = pl.col("certain")
        # places: 0 the placeholder, 1 + j a certain code j, 1 + len(codes) + j a possible one
        self.span = span = 2 * len(codes) + 1
        first = pl.col("i").cast(pl.Int64) * span
        self.group = (pl.col("o") // span).set_sorted().alias("i")
        # Codes of up to _LOOKUP_BITS rules each: every entry a code can make (certain or possible, each
        # subset of its rules) is made once, here, into ``items``; an entry is its number there (``t``)
        # through the sort and the grouping, and gathered from ``items`` after the sort. Made per entry
        # (the code, the rules' list and ``__j`` as columns of every filtered frame, moved through the
        # concatenation and the sort), the 25,687 new keys of the measure, risk-type, procedure and
        # exit-blocker kinds in a fresh 100,000-household part took 0.041 against 0.030 CPU s (least of
        # nine, alternating in one process; see docs/batch-speed.md, session 18 bstage). A code of more
        # rules (2 ** rules subsets) is made per entry as before.
        self.items: pl.Series | None = None
        if all(len(rules) <= _LOOKUP_BITS for _, _, rules in codes):
            self._by_number(codes, numbered, has, first)
            return
        self.placeholder = [
            first.alias("o"),
            pl.lit(None, dtype=pl.String).alias("code"),
            pl.lit(None, dtype=pl.Boolean).alias("certain"),
            pl.lit(None, dtype=pl.List(pl.String)).alias("rules"),
            *([_typed(None, pl.UInt32).alias("__j")] if numbered else []),
        ]
        self.entries: list[tuple[pl.Expr, pl.Expr, list[pl.Expr]]] = []
        for j, (code, fired_bits, rules) in enumerate(codes):
            fired, unknown = has(fired_bits), has(fired_bits << 1)
            # the rules listed: a code of one rule lists it whether certain (fired) or possible (unknown);
            # of several, each combination's list is looked up (``_lookup``). Built on every entry (a
            # ``concat_list`` of one optional name per rule, then ``drop_nulls``), the 18,754 new measure
            # keys of a fresh 100,000-household part took 0.034-0.041 CPU s against 0.027-0.029 (least
            # of seven, three processes each, alternating)
            listed = (
                pl.lit(pl.Series([[rules[0][1]]], dtype=pl.List(pl.String))).first()
                if len(rules) == 1
                else _lookup(
                    [pl.when(certain).then(has(1 << at)).otherwise(has(2 << at)) for at, _ in rules],
                    [r for _, r in rules],
                    pl.String(),
                )
            )
            select = [
                (first + pl.when(certain).then(1 + j).otherwise(1 + len(codes) + j)).alias("o"),
                pl.lit(code, dtype=pl.String).alias("code"),
                certain,
                listed.alias("rules"),
                *([_typed(j, pl.UInt32).alias("__j")] if numbered else []),
            ]
            self.entries.append((fired | unknown, fired.alias("certain"), select))
        fields = ["code", "certain", "rules", *(["__j"] if numbered else [])]
        self.listed = pl.struct(fields).filter(pl.col("code").is_not_null()).alias("x")

    def _by_number(
        self,
        codes: list[tuple[str, int, list[tuple[int, str]]]],
        numbered: bool,
        has: Callable[[int], pl.Expr],
        first: pl.Expr,
    ) -> None:
        """The entries as numbers into ``items``: code ``j``'s certain entries from ``2 ** len(rules)``
        places on, one per subset of its rules (bit ``i``: its ``i``-th rule listed), then as many
        possible ones; the last item (null) is the placeholders'."""
        made: dict[str, list[Any]] = {"code": [], "certain": [], "rules": [], "__j": []}
        entries: list[tuple[pl.Expr, list[pl.Expr]]] = []
        for j, (code, fired_bits, rules) in enumerate(codes):
            at = len(made["code"])
            for certain in (True, False):
                for subset in range(1 << len(rules)):
                    made["code"].append(code)
                    made["certain"].append(certain)
                    made["rules"].append([r for i, (_, r) in enumerate(rules) if subset >> i & 1])
                    made["__j"].append(j)

            def subset_of(state: int, rules: list[tuple[int, str]] = rules) -> pl.Expr:
                """The subset of the rules in ``state`` (1 fired, 2 unknown) as bits, ``rules``' order."""
                if len(rules) == 1:  # the entry is there because its one rule is in that state
                    return _typed(1, pl.UInt32)
                return _bit_or(
                    [has(state << b).cast(pl.UInt32) * _typed(1 << i, pl.UInt32) for i, (b, _) in enumerate(rules)]
                )

            fired, unknown = has(fired_bits), has(fired_bits << 1)
            number = (
                pl.when(fired)
                .then(_typed(at, pl.UInt32) + subset_of(1))
                .otherwise(pl.lit(at + (1 << len(rules)), dtype=pl.UInt32) + subset_of(2))
            )
            place = first + pl.when(fired).then(1 + j).otherwise(1 + len(codes) + j)
            entries.append((fired | unknown, [place.alias("o"), number.alias("t")]))
        self.placeholder_number = len(made["code"])
        fields = ["code", "certain", "rules", *(["__j"] if numbered else [])]
        schema: dict[str, pl.DataType] = {
            "code": pl.String(),
            "certain": pl.Boolean(),
            "rules": pl.List(pl.String),
            "__j": pl.UInt32(),
        }
        self.items = (
            pl.DataFrame({f: made[f] for f in fields}, schema={f: schema[f] for f in fields})
            .to_struct("x")
            .extend(pl.Series("x", [None], dtype=pl.Struct({f: schema[f] for f in fields})))
            .rechunk()
        )
        self.number_entries = entries
        self.number_placeholder = [first.alias("o"), _typed(self.placeholder_number, pl.UInt32).alias("t")]

    def __call__(self, keys: list[int]) -> pl.Series:
        base = pl.LazyFrame({"i": pl.Series(range(len(keys)), dtype=pl.UInt32), "k": pl.Series(keys, dtype=pl.UInt64)})
        if self.items is not None:
            parts = [base.select(self.number_placeholder)]
            parts += [base.filter(met).select(select) for met, select in self.number_entries]
            number = pl.col("t")
            got = (
                pl.concat(parts)
                .sort("o")
                .select(self.group, number, pl.lit(self.items).gather(number).alias("x"))
                .group_by("i", maintain_order=True)
                .agg(pl.col("x").filter(number != self.placeholder_number))
                .collect(engine=ENGINE)
            )
        else:
            parts = [base.select(self.placeholder)]
            parts += [base.filter(met).with_columns(certain).select(select) for met, certain, select in self.entries]
            got = (
                pl.concat(parts)
                .sort("o")
                .group_by(self.group, maintain_order=True)
                .agg(self.listed)
                .collect(engine=ENGINE)
            )
        if got.height != len(keys):  # pragma: no cover - one group per key, by construction
            raise AssertionError("finding combinations: not one list per key")
        lists: pl.Series = got.get_column("x").cast(self.dtype)
        return lists


_WIDE_FLAGS: Final = pl.QueryOptFlags.none(comm_subexpr_elim=True)
"""How the gap stage's wide query (``_Decide.gap_stage``: about 1,100 columns in fifteen ``with_columns``
layers over the rows with an unknown conclusion) is optimised: common subexpressions only. Planning
that query with every optimisation cost about as much as running it on a 25,000-row slice; the one
that pays is the projection of its input, which the stage makes itself (the columns its expressions
read, named once), and the shared subexpressions, without which the query cost more at 100,000 rows
(measured: docs/batch-speed.md, session 19 bfix and bfix2)."""


def _string_lists(name: str, values: list[list[str]]) -> pl.Series:
    """A column of lists of strings, from one joined string per list split by polars: from nested
    Python lists polars builds the values one by one (measured: 6x the time for 3,000 lists)."""
    joined = pl.Series(name, ["\x1f".join(v) for v in values], dtype=pl.String)
    empty = pl.lit([], dtype=pl.List(pl.String))
    return pl.select(pl.when(joined == "").then(empty).otherwise(joined.str.split("\x1f")).alias(name)).to_series()


def _distinct(long: pl.DataFrame, key: list[str], hashed: pl.Series | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """The distinct keys of ``long`` (its ``key`` columns, in order of first appearance) and each row's
    number among them, from one hash of each row's key: the first row of each hash stands for its key.
    A ``unique`` of the keys and then hashing both the keys and the rows again to number them cost a
    fifth more (measured: 0.12 against 0.09 CPU s for the 1,053,465 (row, subject) pairs of a
    100,000-household ``unknown`` list). Two distinct keys of one hash (a 64-bit collision) would share
    a number, so the numbered keys are checked against the rows' own (a gather and a compare); on a
    mismatch the keys are found by ``unique`` and numbered by a join instead. ``hashed`` stands in for
    the hashes (a test forces the collision with it)."""
    keys = long.select(key)
    if hashed is None:
        hashed = keys.select(pl.struct(key).hash(7)).to_series()
    first = hashed.is_first_distinct()
    table = keys.filter(first)
    number = hashed.replace_strict(hashed.filter(first), pl.Series(range(table.height), dtype=pl.UInt32))
    # lazily: the eager gather of every key column cost 1.7 times as much (0.027 against 0.016 CPU s
    # for the 1,057,408 pairs of a 100,000-household ``unknown`` list, measured)
    if table.lazy().select(pl.all().gather(number)).collect(engine=ENGINE).equals(keys):
        return table, number
    table = keys.unique(maintain_order=True)
    number = (
        keys.join(table.with_row_index("__t"), on=key, how="left", nulls_equal=True, maintain_order="left")
        .get_column("__t")
        .cast(pl.UInt32)
    )
    return table, number


class _Decide:
    """The decision columns from the rule columns: :class:`~eligibility.engine.Engine`'s assembly
    (its status, ``compile/findings_py.FindingTables``, exit, procedure and gap report) as expressions.
    Which rule concludes what is known when compiling, so each (kind, code) is a fixed expression over the rule
    columns; only which of them fired, or are unknown, varies per row."""

    def __init__(self, c: _Compiler, prog: TableProgram) -> None:
        self.c, self.prog, self.chain = c, prog, c.chain
        self.ruleset = c.chain.ruleset
        self.by: dict[str, dict[str, list[str]]] = {}
        self.kinds: dict[str, set[str]] = {}
        for rule, _ in prog.rules:
            for kind, code in rule.conclusions:
                rids = self.by.setdefault(kind, {}).setdefault(code, [])
                if rule.id not in rids:
                    rids.append(rule.id)
                self.kinds.setdefault(rule.id, set()).add(kind)
        self.bits: dict[str, int] = {}
        self.n_words = 1

    # ------------------------------------------------------------------ helpers

    def fired(self, rid: str) -> pl.Expr:
        return pl.col("rule:" + rid).fill_null(False)

    def unk(self, rid: str) -> pl.Expr:
        return pl.col("rule:" + rid).is_null()

    def sure(self, kind: str, code: str) -> pl.Expr:
        """Whether a rule concluding (kind, code) fired (a column of the flag stage)."""
        return pl.col(f"__s:{kind}:{code}")

    def maybe(self, kind: str, code: str) -> pl.Expr:
        return pl.col(f"__u:{kind}:{code}")

    def flag_columns(self) -> list[pl.Expr]:
        """The per-(kind, code) flags, computed once: every later expression refers to them by name,
        which keeps the plans small (an inlined expression tree is copied wherever it is used)."""
        out: list[pl.Expr] = []
        for kind, codes in self.by.items():
            for code, rids in codes.items():
                out.append(_any([self.fired(r) for r in rids]).alias(f"__s:{kind}:{code}"))
                out.append(_any([self.unk(r) for r in rids]).alias(f"__u:{kind}:{code}"))
        return out

    def in_list(self, kind: str, code: str, rid: str) -> pl.Expr:
        """Whether ``rid`` is among the rules a finding names: the fired ones when it is certain."""
        return pl.when(self.sure(kind, code)).then(self.fired(rid)).otherwise(self.unk(rid))

    def rules_of(self, kind: str, code: str) -> pl.Expr:
        return _listed([pl.when(self.in_list(kind, code, r)).then(pl.lit(r)) for r in self.by[kind][code]], pl.String())

    def dated(self, rid: str, kind: str, code: str, modifier: str) -> pl.Expr:
        """The date of a conclusion's modifier fact on each row (null when not a known date)."""
        name = self.chain.rules[rid].modifiers.get((kind, code), {}).get(modifier)
        if not name:
            return pl.lit(None, dtype=pl.Date)
        v = self.c.facts.get(name)
        if v is not None:
            return pl.col("__f:" + name) if v.kind == "date" else pl.lit(None, dtype=pl.Date)
        spec = CATALOGUE.get(name)
        if spec is not None and spec.type.kind == "date":
            return pl.col(name)
        return pl.lit(None, dtype=pl.Date)

    def findings(self, kind: str, extra: Callable[[str], dict[str, pl.Expr]] | None = None) -> pl.Expr:
        codes = sorted(self.by.get(kind, {}))
        dtype = {"exit_blocker": BLOCKER, "finding": PROCEDURE}.get(kind, FINDING)
        if not codes:
            return _empty(dtype)

        def entry(code: str) -> pl.Expr:
            fields: dict[str, pl.Expr] = {
                "code": pl.lit(code),
                "certain": self.sure(kind, code),
                "rules": self.rules_of(kind, code),
            }
            if extra is not None:
                fields.update(extra(code))
            return pl.struct([e.alias(k) for k, e in fields.items()])

        first = [pl.when(self.sure(kind, c)).then(entry(c)) for c in codes]
        then = [pl.when(~self.sure(kind, c) & self.maybe(kind, c)).then(entry(c)) for c in codes]
        return _listed(first + then, dtype)

    # ------------------------------------------------------------------ gaps (Engine._missing)

    def reach_stages(
        self, tags: dict[str, dict[str, pl.Expr]]
    ) -> tuple[dict[str, set[str]], list[list[pl.Expr]], list[pl.Expr]]:
        """Per gathering, the rules its walks reach (its start rules, and the rules reached from them
        through rule references), each with its column ``__reach:<tag>:<rule>``: whether a walk of this
        row gets there (started there: ``__mem:<tag>:<rule>``, or came from a reached rule through a
        reference node with every node on the way unknown), in stages (a rule after the rules that
        refer to it).

        The same as the OR over every start rule and every way down from it of the start flag and the
        way's nodes all unknown (every input a non-null Boolean), with a column per (gathering, rule)
        and a term per reference: spelled out per (start rule, reached rule) pair and way, the ways'
        chains of nodes were over half of the gap stage's plan (490 kB of plan text for the bundled
        packs), which polars converts and optimises again on every part (the stage's fixed cost).

        The third result: each way's "every node on it unknown" as a column (``__way:<rule>:<path>``),
        for a layer before the stages. A way is read by every gathering reaching its rule (up to three):
        written into each term, its chain was in the plan once per gathering, left to polars' common
        subexpression elimination to share on every part (measured in docs/batch-speed.md, session 24
        pol3)."""
        nodes = self.c.rule_nodes
        ways: dict[tuple[str, tuple[int, ...]], pl.Expr] = {}

        def way(r: str, path: list[int]) -> pl.Expr:
            key = (r, tuple(path))
            if key not in ways:
                name = f"__way:{r}:{'.'.join(map(str, path))}"
                ways[key] = _all([pl.col(f"__n:{r}:{i}").is_null() for i in path]).alias(name)
            return pl.col(ways[key].meta.output_name())

        into: dict[str, list[tuple[str, list[int]]]] = {}  # rule -> (rule referring to it, path)
        for rid, (_, _, refs) in nodes.items():
            for path, target in refs:
                if target in nodes:
                    into.setdefault(target, []).append((rid, path))
        reached: dict[str, set[str]] = {}
        stages: list[list[pl.Expr]] = []
        for tag, starts in tags.items():
            got: set[str] = set()
            todo = [r for r in starts if r in nodes]
            while todo:
                rid = todo.pop()
                if rid not in got:
                    got.add(rid)
                    todo += [t for _, t in nodes[rid][2] if t in nodes]
            level: dict[str, int] = {}

            def depth(rid: str, got: set[str] = got, level: dict[str, int] = level) -> int:
                if rid not in level:
                    level[rid] = 1 + max((depth(r) for r, _ in into.get(rid, []) if r in got), default=-1)
                return level[rid]

            for rid in sorted(got, key=list(nodes).index):
                terms = [pl.col(f"__mem:{tag}:{rid}")] if rid in starts else []
                terms += [pl.col(f"__reach:{tag}:{r}") & way(r, path) for r, path in into.get(rid, []) if r in got]
                while len(stages) <= depth(rid):
                    stages.append([])
                stages[depth(rid)].append(_any(terms).alias(f"__reach:{tag}:{rid}"))
            reached[tag] = got
        return reached, stages, list(ways.values())

    def node_columns(self) -> list[pl.Expr]:
        """Every condition node's outcome as a column (for the rows of the gap pass only)."""
        return [e.alias(f"__n:{rid}:{i}") for rid, (nodes, _, _) in self.c.rule_nodes.items() for i, e in nodes.items()]

    # A set of settling paths is a bitset over the paths the program can name (``self.bits``): a plain
    # path ``$.income.wage`` or an item path ``members[].birth_date`` (its items spelled out only when
    # the lists are assembled). Per row, ``__M<w>`` holds which of them are missing (UInt64 words), a
    # fact's settling paths are ``__B:<fact>:<w>`` (zero while the fact is known), and a gathering's
    # are bitwise ORs of those: integer operations on columns, where lists of strings per row and fact
    # cost most of a batch (measured: 80% of the CPU time of a 200,000-household run).

    def bit(self, key: str) -> int:
        got = self.bits.get(key)
        if got is None:
            got = self.bits[key] = len(self.bits)
        return got

    def own_mask(self, name: str) -> dict[int, int]:
        """The bits of the paths a fact reads directly (facts.missing_paths' ``used``)."""
        mask: dict[int, int] = {}
        for p in sorted(self.chain.facts[name].fields):
            keys = [p, f"$.{p.split('[].', 1)[0]}"] if "[]." in p else ([f"$.{p}"] if p in CATALOGUE else [])
            for k in keys:
                b = self.bit(k)
                mask[b // 64] = mask.get(b // 64, 0) | (1 << (b % 64))
        return mask

    def field_mask(self, name: str) -> dict[int, int]:
        if CATALOGUE.get(name) is None:
            return {}
        b = self.bit(f"$.{name}")
        return {b // 64: 1 << (b % 64)}

    def missing_words(self, without: Collection[str] = ()) -> list[pl.Expr]:
        """``__M<w>``: which of the program's paths this row lacks (an item path: some item lacks it).

        The item paths of one collection in one word are one pass over its items: each item's bits
        (the paths it lacks), ORed over the row's items, where a pass per path cost 1.7 times as much
        (measured: 0.024 against 0.014 CPU s for the 13 item paths of the bundled packs at 100,000
        rows). A null or empty collection lacks nothing. The item paths of the collections in
        ``without`` are left out: the gap stage ORs them in from its per-position words (``gap_stage``'s
        ``lacking_by_position``), where this pass's ``list.agg`` of a bitwise OR cost three times their
        ``list.eval`` (measured: 0.0145 against 0.0045 CPU s for the 9 member item paths of a bundled
        100,000-household part, least of nine)."""
        words: dict[int, list[pl.Expr]] = {}
        items: dict[tuple[int, str], list[pl.Expr]] = {}
        zero = _typed(0, pl.UInt64)
        for key, b in self.bits.items():
            bit = _typed(1 << (b % 64), pl.UInt64)
            if "[]." in key:
                coll, sub = key.split("[].", 1)
                if coll in without:
                    continue
                items.setdefault((b // 64, coll), []).append(
                    pl.when(pl.element().struct.field(sub).is_null()).then(bit).otherwise(zero)
                )
            else:
                words.setdefault(b // 64, []).append(pl.when(pl.col(key[2:]).is_null()).then(bit).otherwise(zero))
        for (w, coll), flags in items.items():
            words.setdefault(w, []).append(pl.col(coll).list.agg(_bit_or(flags).bitwise_or()).fill_null(0))
        return [_bit_or(words.get(w, [])).alias(f"__M{w}") for w in range(self.n_words)]

    def fact_words(self) -> list[list[pl.Expr]]:
        """``__B:<fact>:<w>`` in stages (a fact after the facts it reads): its own missing paths and
        those of its unknown inputs, zero while the fact itself is known (Engine's missing_of_fact)."""
        level: dict[str, int] = {}

        def depth(name: str) -> int:
            if name not in level:
                level[name] = 1 + max((depth(d) for d in self.chain.facts[name].facts if d in self.c.facts), default=-1)
            return level[name]

        stages: list[list[pl.Expr]] = []
        for name in self.c.facts:
            own = self.own_mask(name)
            subs = [d for d in sorted(self.chain.facts[name].facts) if d in self.c.facts]
            unknown = pl.col("__f:" + name).is_null()
            exprs = []
            for w in range(self.n_words):
                parts = [pl.col(f"__B:{d}:{w}") for d in subs]
                if own.get(w):
                    parts.append(pl.col(f"__M{w}") & _typed(own[w], pl.UInt64))
                body = _bit_or(parts)
                exprs.append(pl.when(unknown).then(body).otherwise(_typed(0, pl.UInt64)).alias(f"__B:{name}:{w}"))
            d = depth(name)
            while len(stages) <= d:
                stages.append([])
            stages[d] += exprs
        return stages

    def subject_words(self, name: str, ref: str) -> list[pl.Expr]:
        """A leaf subject's or operand's settling paths (Engine.subject_missing), as bitset words."""
        if ref == "fact":
            return [pl.col(f"__B:{name}:{w}") for w in range(self.n_words)]
        mask = self.field_mask(name)
        return [
            pl.col(f"__M{w}") & _typed(mask[w], pl.UInt64) if mask.get(w) else _typed(0, pl.UInt64)
            for w in range(self.n_words)
        ]

    def gap_stage(
        self, rules_with: list[str], sets: dict[str, dict[str, pl.Expr]]
    ) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
        """Engine._missing as column arithmetic, only for the rows with an unknown conclusion.

        A gathering (``b`` identification blocking, ``o`` the other unknowns, ``e`` exit) starts from
        the rules in ``sets`` (a Boolean column per rule: whether the row starts a walk there), goes
        into referenced rules through unknown reference nodes (``reach_stages``) and reaches a leaf when
        every node on the way is unknown. Per gathering and subject, whether some leaf of that subject
        is reached, and the union of the reached leaves' settling paths (bitsets, see above): a few
        hundred Boolean and integer columns. Only the (row, gathering, subject) triples that occur are
        turned into lists of path strings: each distinct bitset once, in Python, and item paths
        spelled out only on the rows whose bitset holds one."""
        self.bits.clear()
        for name in self.c.facts:
            self.own_mask(name)
        # which rules each gathering walks (start rules, and rules reached by reference)
        tags = {"b": sets["b"], "o": sets["o"], "e": {**sets["ea"], **sets["eb"]}}
        e_parts = [sets["ea"], sets["eb"]]
        for rid in tags["e"]:  # exit: before and after the household qualifies (never both on a row)
            tags["e"][rid] = _any([part[rid] for part in e_parts if rid in part])
        starts, reach_stages, way_cols = self.reach_stages(tags)
        # leaf occurrences of every reachable rule, grouped by (subject, payload)
        occ: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[str, pl.Expr]]] = {}
        reachable = {t for s in starts.values() for t in s}
        for rid in sorted(reachable, key=list(self.c.rule_nodes).index):
            for path, leaf in self.c.rule_nodes[rid][1]:
                reached = [pl.col(f"__n:{rid}:{i}").is_null() for i in path]
                if any(o.kind == "param" and self.c.param(o.name) is UNKNOWN for o in leaf.operands):
                    # unknown only for a parameter without value: counted only when data is missing too
                    data = [(leaf.subject, leaf.ref)] + [(o.name, o.kind) for o in leaf.operands if o.kind != "param"]
                    reached.append(
                        _any([self.c.subject(n, k).expr.is_null() for n, k in data if k in ("fact", "field")])
                    )
                ops = tuple((o.kind, o.name) for o in leaf.operands if o.kind in ("fact", "field"))
                occ.setdefault((leaf.subject, leaf.ref, ops), []).append((rid, _all(reached)))
        # The leaf conditions and each gathering's hits as columns read by name (``__oc:``, ``__hit:``):
        # inlined, a leaf's chain was copied into every gathering and a hit into its subject's presence
        # and bitset words, and polars converts and optimises the copies again on every part.
        occ_cols: list[pl.Expr] = []
        for items in occ.values():
            for k, (rid, e) in enumerate(items):
                items[k] = (rid, pl.col(f"__oc:{len(occ_cols)}"))
                occ_cols.append(e.alias(f"__oc:{len(occ_cols)}"))
        for subject, ref, ops in occ:
            for name, kind in [(subject, ref), *((n, k) for k, n in ops)]:
                if kind == "field":
                    self.field_mask(name)
        self.n_words = max(1, (len(self.bits) + 63) // 64)
        mem_cols = [e.alias(f"__mem:{tag}:{rid}") for tag, rules in tags.items() for rid, e in rules.items()]
        # per gathering and subject: present, and the bitset words (null where not present)
        subjects = sorted({s for s, _, _ in occ})
        zero = _typed(0, pl.UInt64)
        present_cols: list[pl.Expr] = []
        out_cols: list[pl.Expr] = []
        hit_cols: list[pl.Expr] = []
        present_b: dict[str, pl.Expr] = {}
        columns: dict[str, list[tuple[str, list[str]]]] = {}
        for tag in ("b", "o", "e"):
            for subject in subjects:
                hits: list[pl.Expr] = []
                of_ref: dict[str, list[pl.Expr]] = {}  # the subject's hits per way it is read
                words: list[list[pl.Expr]] = [[] for _ in range(self.n_words)]
                for (s, ref, ops), items in occ.items():
                    if s != subject:
                        continue
                    conds = [pl.col(f"__reach:{tag}:{rid}") & e for rid, e in items if rid in starts[tag]]
                    if not conds:
                        continue
                    hit = pl.col(f"__hit:{len(hit_cols)}")
                    hit_cols.append(_any(conds).alias(f"__hit:{len(hit_cols)}"))
                    hits.append(hit)
                    of_ref.setdefault(ref, []).append(hit)
                    if ops:  # the operands' paths, only where this occurrence is hit
                        payload = [self.subject_words(n, k) for k, n in ops]
                        for w in range(self.n_words):
                            words[w].append(pl.when(hit).then(_bit_or([p[w] for p in payload])).otherwise(zero))
                if not hits:
                    continue
                # The subject's own paths: once per way it is read, not once per occurrence (the out
                # column is read only where some hit is, so with one way they need no condition).
                for ref, ref_hits in of_ref.items():
                    own = self.subject_words(subject, ref)
                    for w in range(self.n_words):
                        words[w].append(
                            own[w] if len(of_ref) == 1 else pl.when(_any(ref_hits)).then(own[w]).otherwise(zero)
                        )
                present = _any(hits)
                col = f"__g:{tag}:{subject}"
                if tag == "b":
                    present_b[subject] = present
                elif tag == "o" and subject in present_b:
                    present = present & ~present_b[subject]  # named under blocking already
                present_cols.append(present.alias(col))
                names = [f"{col}:{w}" for w in range(self.n_words)]
                out_cols += [pl.when(pl.col(col)).then(_bit_or(words[w])).alias(n) for w, n in enumerate(names)]
                columns.setdefault(tag, []).append((subject, names))
        gap_names = {"b": "blocking", "o": "unknown", "e": "exit_blocking"}
        decoded: dict[tuple[int, ...], list[str]] = {}
        # a pattern's fields by what its integer means (its subject's terms and slots, and the integer):
        # the same patterns recur in every part, and decoding one in Python costs more than a look-up
        # (measured: see docs/batch-speed.md, session 16 cgap)
        spelled_as: dict[object, dict[int, list[str]]] = {}
        universe = sorted(self.bits.items(), key=lambda kv: kv[1])
        item_bits = [(k, b) for k, b in universe if "[]." in k]
        word_names = [f"w{w}" for w in range(self.n_words)]

        def plain_paths(words: tuple[int, ...]) -> list[str]:
            got = decoded.get(words)
            if got is None:
                got = decoded[words] = sorted(
                    k for k, b in universe if "[]." not in k and words[b // 64] >> (b % 64) & 1
                )
            return got

        def has(k: str, b: int) -> pl.Expr:
            return bit_set(pl.col(f"{k}{b // 64}"), b)

        def bit_set(word: pl.Expr, b: int) -> pl.Expr:
            return (word & _typed(1 << (b % 64), pl.UInt64)) != 0

        item_of = {b: (k.split("[].", 1)[0], k.split("[].", 1)[1]) for k, b in item_bits}
        subs_of: dict[str, list[tuple[int, str]]] = {}  # per collection, its item paths' (bit, field)
        for b, (coll, sub) in item_of.items():
            subs_of.setdefault(coll, []).append((b, sub))
        subs_of = dict(sorted(subs_of.items()))
        position_bit = {i: 1 << i for i in range(64)}

        def lacks_items(colls: Sequence[str]) -> list[pl.Expr]:
            """``__lk:<coll>``: per item of each of ``colls``, whether it lacks each of its item paths
            (a struct of Booleans ``n<bit>``): an element-wise ``list.eval``, cheap beside moving the
            items themselves through the filter and the explode of ``lacking``."""
            return [
                pl.col(c)
                .list.eval(pl.struct(pl.element().struct.field(sub).is_null().alias(f"n{b}") for b, sub in subs_of[c]))
                .alias(f"__lk:{c}")
                for c in colls
            ]

        def lacking_by_position(longest: dict[str, int]) -> list[list[pl.Expr]]:
            """``__l<bit>:0`` of the collections in ``longest`` (each with at most that many items, at most
            :data:`_FEW_ITEMS`, so one word of positions), in three batches: per item the paths it lacks as
            one integer (``__iw:<coll>``, bit ``j`` for the collection's ``j``-th item path), that integer
            of each position (``__iw<i>:<coll>``, a ``list.get``), and per item path the OR of its
            positions' bits (null on a row lacking none of the collection's item paths, as ``lacking``
            leaves it). The same columns as ``lacking``'s explode and segment sums, at a third of their CPU
            time on a fresh 100,000-household part, where the explode copied each item's flags, the
            segment sums ran a running sum per path and the result was joined back (measured, see
            docs/batch-speed.md, session 18 bgap2). The third batch also ORs the collection's item bits
            into ``__M`` from its positions' words (``_moved_bits``), the pass that ``missing_words`` leaves
            out for it: about a third of ``pre``'s CPU time on a bundled part (docs/batch-speed.md, session 22
            pgap). A collection no row has an item of keeps its (zero) item bits in ``missing_words``."""
            words: list[pl.Expr] = []
            at: list[pl.Expr] = []
            bits: list[pl.Expr] = []
            merged: dict[int, pl.Expr] = {}
            for coll, n in longest.items():
                subs = subs_of[coll]
                words.append(
                    pl.col(coll)
                    .list.eval(
                        _bit_or(
                            [
                                pl.when(pl.element().struct.field(sub).is_null())
                                .then(_typed(1 << j, pl.UInt64))
                                .otherwise(_typed(0, pl.UInt64))
                                for j, (_, sub) in enumerate(subs)
                            ]
                        )
                    )
                    .alias(f"__iw:{coll}")
                )
                at += [pl.col(f"__iw:{coll}").list.get(i, null_on_oob=True).alias(f"__iw{i}:{coll}") for i in range(n)]
                if n:  # the item bits of ``__M`` from the positions (``missing_words`` left them out)
                    ior = _bit_or([pl.col(f"__iw{i}:{coll}").fill_null(0) for i in range(n)])
                    lacks_one = ior != _typed(0, pl.UInt64)
                    for w, e in _moved_bits(ior, [b for b, _ in subs]).items():
                        merged[w] = merged.get(w, pl.col(f"__M{w}")) | e
                else:  # no row has an item: ``__M`` keeps the collection's (zero) item bits
                    lacks_one = _any([has("__M", b) for b, _ in subs])
                for j, (b, _) in enumerate(subs):
                    positions = [
                        pl.when(bit_set(pl.col(f"__iw{i}:{coll}"), j))
                        .then(_typed(1 << i, pl.UInt64))
                        .otherwise(_typed(0, pl.UInt64))
                        for i in range(n)
                    ]
                    bits.append(pl.when(lacks_one).then(_bit_or(positions)).alias(f"__l{b}:0"))
            return [words, at, [*bits, *(e.alias(f"__M{w}") for w, e in merged.items())]]

        def lacking(wide: pl.DataFrame, colls: Sequence[str]) -> tuple[pl.DataFrame, dict[str, int]]:
            """Per row lacking an item path: which items lack it, as bitsets over item positions
            (``__l<bit>:<k>``: positions 64k … 64k+63; null where none). One explode per collection and
            integer words, where spelling ``$.members[2].birth_date`` per row and path cost the most of
            this stage (the strings are spelled per distinct pattern in ``listed``). What is exploded is
            ``__lk:<coll>`` (``lacks_items``): each item's lacking flags, not the items, whose every
            field a filter or an explode copies (measured: most of this step)."""
            frames: list[pl.DataFrame] = []
            words: dict[str, int] = {}
            order = ["__pos"]
            absent: list[str] = []
            for coll in colls:
                subs = [(sub, b) for b, sub in subs_of[coll]]
                lk = f"__lk:{coll}"
                # each lacks an item: non-empty (lazily: see TableProgram.run); only the two columns read
                # below are gathered, not every column of the wide part (measured: 0.04 CPU s at 100,000)
                rows = (
                    wide.lazy()
                    .filter(_any([has("__M", b) for _, b in subs]))
                    .select("__pos", lk)
                    .collect(engine=ENGINE)
                )
                if not rows.height:  # no row lacks one (the collection absent, say): null columns, no join
                    words[coll] = 1
                    absent += [f"__l{b}:0" for _, b in subs]
                    order += [f"__l{b}:0" for _, b in subs]
                    continue
                flat = (
                    rows.lazy()
                    .select(lk, pl.int_ranges(0, pl.col(lk).list.len(), dtype=pl.UInt32).alias("__i"))
                    .explode(lk, "__i")
                    .select(
                        (pl.col("__i") // 64).alias("__k"),
                        (pl.col("__i") % 64).replace_strict(position_bit, return_dtype=pl.UInt64).alias("__v"),
                        *(pl.col(lk).struct.field(f"n{b}").alias(f"__n{b}") for _, b in subs),
                    )
                    .collect(engine=ENGINE)
                )
                lacks_one = _any([pl.col(f"__n{b}") for _, b in subs])
                last: int | None = flat.select(pl.col("__k").filter(lacks_one).max()).item()
                words[coll] = n = 1 + (last or 0)
                # The exploded items are in row order and a row's bits are distinct (their sum is their
                # OR): segment sums, where a group_by on the row, even as sorted runs, cost most of this.
                bits = flat.lazy().select(
                    pl.when(pl.col(f"__n{b}") & (pl.col("__k") == k))
                    .then(pl.col("__v"))
                    .otherwise(_typed(0, pl.UInt64))
                    .alias(f"__l{b}:{k}")
                    for _, b in subs
                    for k in range(n)
                )
                sums = _segment_sums(rows.get_column(lk), bits, pl.UInt64())
                frames.append(pl.concat([rows.select("__pos"), sums], how="horizontal"))
                order += sums.columns
            out = wide.select("__pos")
            for frame in frames:
                out = out.join(frame, on="__pos", how="left", maintain_order="left")
            if absent:
                out = out.with_columns(_typed(None, pl.UInt64).alias(c) for c in absent).select(order)
            return out, words

        index = {s: i for i, s in enumerate(subjects)}

        span = max(1, len(subjects).bit_length())  # bits of a subject's number

        def spelled(words: tuple[int, ...], slots: list[tuple[int, int]], xvals: Sequence[int | None]) -> list[str]:
            """The fields of a pattern: the plain paths in ``words`` and, per slot (an item path and 64
            positions, ``listed``'s ``slots`` of its subject), the positions set in its value, as item
            paths."""
            plain = plain_paths(words)
            extra = [
                f"$.{item_of[b][0]}[{64 * k + i}].{item_of[b][1]}"
                for (b, k), v in zip(slots, xvals, strict=False)
                if v
                for i in range(64)
                if v >> i & 1
            ]
            return sorted({*plain, *extra}) if extra else plain

        def pair_terms(
            si: int, ws: list[str], ors: dict[str, int], slots: list[tuple[int, int]]
        ) -> list[tuple[pl.Expr, int, tuple[str, int] | None]]:
            """A (row, subject ``si``) pair's pattern as (value, bits, meaning) terms to pack: the subject's
            number, each bit of its words that some row sets (meaning ``("b", bit)``), each slot's
            lacking items in as many bits as their largest value needs (``("x", slot)``)."""
            zero = _typed(0, pl.UInt64)
            out: list[tuple[pl.Expr, int, tuple[str, int] | None]] = [(_typed(si, pl.UInt64), span, None)]
            for w, c in enumerate(ws):
                out += [
                    (
                        pl.when(bit_set(pl.col(c), b)).then(_typed(1, pl.UInt64)).otherwise(zero),
                        1,
                        ("b", 64 * w + b),
                    )
                    for b in range(64)
                    if ors[c] >> b & 1
                ]
            for j, (b, k) in enumerate(slots):
                c = f"__l{b}:{k}"
                if ors[c]:
                    value = pl.when(bit_set(pl.col(ws[b // 64]), b)).then(pl.col(c).fill_null(0)).otherwise(zero)
                    out.append((value, ors[c].bit_length(), ("x", j)))
            return out

        def placed(widths: list[int]) -> list[tuple[int, int]]:
            """(word, offset) of values of these bit widths packed in order into 64-bit words, none split."""
            out: list[tuple[int, int]] = []
            j = at = 0
            for width in widths:
                if at + width > 64:
                    j, at = j + 1, 0
                out.append((j, at))
                at += width
            return out

        def packed(terms: list[tuple[pl.Expr, int]], name: str) -> list[pl.Expr]:
            """UInt64 words ``<name><j>`` holding ``terms`` (value, bits; each value below 2**bits) as
            ``placed`` puts them."""
            where = placed([bits for _, bits in terms])
            words: list[list[pl.Expr]] = [[] for _ in range(1 + max((j for j, _ in where), default=-1))]
            for (value, _), (j, at) in zip(terms, where, strict=True):
                words[j].append(value * _typed(1 << at, pl.UInt64) if at else value)
            return [_bit_or(w).alias(f"{name}{j}") for j, w in enumerate(words)]

        def row_keys(
            per_tag: list[tuple[str, list[str]]],
            terms: dict[int, list[tuple[pl.Expr, int, tuple[str, int] | None]]],
            whole: bool,
        ) -> tuple[list[pl.Expr], dict[int, tuple[int, int, int]]]:
            """What fixes a row's list in ``listed``, packed into UInt64 words ``__r<j>``: per subject,
            whether the row names it and its pattern (``pair_terms``, without the subject's number).
            Rows of one key have one list: a batch's ``unknown`` lists number about one per two rows
            (measured: 47,655 of 100,000), against ten (row, subject) pairs per row, so the pairs, their
            patterns and their grouping are made for one row per key. Packed, the key is a few integer
            columns to hash, where a hash of every word column cost as much as the pairs it saves
            (measured: 0.1 CPU s for the 70 columns of ``unknown``).

            With ``whole`` (every subject's pattern fits in 64 bits with its number), a subject's presence
            bit and pattern are one value, never split between two words, and the second result says
            where (subject number → word, offset, the pattern's bits): a pair's pattern is then read off
            its row's key, not made again from the words and lacking items (``listed``)."""
            one, zero = _typed(1, pl.UInt64), _typed(0, pl.UInt64)
            parts: list[tuple[pl.Expr, int]] = []
            for s, ws in per_tag:
                present = pl.when(pl.col(ws[0]).is_not_null()).then(one).otherwise(zero)
                rest = [(value, bits) for value, bits, _ in terms[index[s]][1:]]
                if not whole:
                    parts += [(present, 1), *rest]
                    continue
                moved, at = [present], 1
                for value, bits in rest:
                    moved.append(value * _typed(1 << at, pl.UInt64))
                    at += bits
                parts.append((_bit_or(moved), at))
            fields: dict[int, tuple[int, int, int]] = {}
            if whole:  # one value per subject
                where = placed([bits for _, bits in parts])
                fields = {
                    index[s]: (j, at, bits - 1)
                    for (s, _), (_, bits), (j, at) in zip(per_tag, parts, where, strict=True)
                }
            return packed(parts, "__r"), fields

        def seen(wide: pl.DataFrame, positions: dict[str, int]) -> dict[str, int]:
            """In one pass over ``wide`` (a pass per gathering cost 0.007 CPU s each at 100,000 rows): the
            OR over the rows of every word and lacking-items column (the bits some row sets), and per
            (gathering, subject) ``__pairs:<its first word>``, its rows. The ORs skip nulls (a column of nulls
            only: 0), so the columns are not filled first (a copy of each)."""
            got = (
                wide.lazy()
                .select(
                    *(pl.col(c).bitwise_or() for per_tag in columns.values() for _, ws in per_tag for c in ws),
                    *(
                        pl.col(f"__l{b}:{k}").bitwise_or()
                        for b, (coll, _) in item_of.items()
                        for k in range(positions[coll])
                    ),
                    *(
                        pl.col(ws[0]).count().alias(f"__pairs:{ws[0]}")
                        for per_tag in columns.values()
                        for _, ws in per_tag
                    ),
                )
                .collect(engine=ENGINE)
                .row(0, named=True)
            )
            return {k: v or 0 for k, v in got.items()}

        def listed(
            wide: pl.DataFrame,
            per_tag: list[tuple[str, list[str]]],
            name: str,
            positions: dict[str, int],
            n: int,
            ors: dict[str, int],
            pairs: int,
        ) -> pl.Series:
            """(row, subject, words) → the row's list of {name, fields}, subjects in name order. The
            fields of a (subject, words, lacking items) pattern are spelled once, in Python: a batch
            has a few hundred patterns, against ten (row, subject) pairs per row. ``ors`` and ``pairs``:
            see ``seen``."""
            slots: dict[int, list[tuple[int, int]]] = {}
            for subject, ws in per_tag:
                slots[index[subject]] = [
                    (b, k) for b in item_of if ors[ws[b // 64]] >> (b % 64) & 1 for k in range(positions[item_of[b][0]])
                ]
            needed = {c for _, ws in per_tag for c in ws} | {f"__l{b}:{k}" for s in slots.values() for b, k in s}
            chosen = wide.lazy().select(c for c in wide.columns if c in needed)
            # ``rep``: the rows the pairs are made for, ``__pos`` their place in it. With more pairs than
            # rows, one row per distinct key, each row gathering its key's list (``row_keys``); with
            # fewer, the key costs more than the pairs it saves (measured: 0.045 against 0.03 CPU s for
            # the 16,000 ``exit_blocking`` pairs of 100,000 rows).
            terms = {index[s]: pair_terms(index[s], ws, ors, slots[index[s]]) for s, ws in per_tag}
            # A pair's pattern as one exact integer where it fits in 64 bits (``pair_terms``): numbered by
            # a sort of its distinct values and spelled from its bits, where a hash of the pattern's
            # columns and its check cost twice as much (measured: 0.04 against 0.02 CPU s for the
            # 620,000 ``unknown`` pairs of 100,000 rows).
            exact = all(sum(bits for _, bits, _ in t) <= _PAIR_BITS for t in terms.values())
            key_of: pl.Series | None = None
            fields_at: dict[int, tuple[int, int, int]] = {}
            presence: dict[int, int] = {}  # per key word, its subjects' presence bits

            def present(j: int, below: int = 64) -> pl.Expr:
                """How many subjects a key row names in key word ``j`` below its bit ``below`` (the
                subjects are packed in order): a popcount."""
                mask = presence[j] & ((1 << below) - 1)
                return (pl.col(f"__r{j}") & _typed(mask, pl.UInt64)).bitwise_count_ones().cast(pl.UInt32)

            def total(counts: list[pl.Expr]) -> pl.Expr:
                return pl.sum_horizontal(counts) if counts else _typed(0, pl.UInt32)

            if pairs > wide.height:
                key_words, fields_at = row_keys(per_tag, terms, exact)
                keys = wide.lazy().select(key_words).collect(engine=ENGINE)
                _, key_of = _distinct(keys, keys.columns)
                first = key_of.is_first_distinct()  # the k-th such row has key k
                if exact:  # the pairs are read off the keys, so the key rows are all they need
                    rep = keys.filter(first).with_row_index("__pos")
                    # Each pair's place in (row, subject) order: its row's first place (``__start``, the
                    # pairs of the rows before) and the subjects named before it in its row (``__c<j>`` for
                    # those of the words before its own), both counts of presence bits in the key words
                    # (``present``). The pairs are then put in place by a scatter, not sorted (measured:
                    # 31 million fewer instructions of polars per bundled 100,000-household part, about
                    # 2 % of the stage; see docs/batch-speed.md, session 22 pgap).
                    for kw, kat, _ in fields_at.values():
                        presence[kw] = presence.get(kw, 0) | 1 << kat
                    count = total([present(j) for j in presence])
                    rep = rep.with_columns((count.cum_sum() - count).alias("__start")).with_columns(
                        (pl.col("__start") + total([present(i) for i in presence if i < j])).alias(f"__c{j}")
                        for j in presence
                    )
                else:
                    rep = chosen.filter(first).with_row_index("__pos").collect(engine=ENGINE)
            else:
                rep = chosen.with_row_index("__pos").collect(engine=ENGINE)
            parts = []
            for subject, ws in per_tag:
                si = index[subject]
                if si in fields_at:  # the pattern is the subject's field of the key, after its presence bit
                    kw, kat, width = fields_at[si]
                    word = pl.col(f"__r{kw}")
                    pattern = _typed(si, pl.UInt64)
                    if width:
                        in_key = (word // _typed(1 << (kat + 1), pl.UInt64)) & pl.lit((1 << width) - 1, dtype=pl.UInt64)
                        pattern = pattern + in_key * _typed(1 << span, pl.UInt64)
                    parts.append(
                        rep.lazy()
                        .filter((word & _typed(1 << kat, pl.UInt64)) != 0)
                        .select(
                            "__pos",
                            _typed(si, pl.UInt32).alias("si"),
                            pattern.alias("h0"),
                            (pl.col(f"__c{kw}") + present(kw, kat)).alias("__to"),
                        )
                    )
                    continue
                if exact:
                    columns_of = [
                        _typed(si, pl.UInt32).alias("si"),
                        *packed([(value, bits) for value, bits, _ in terms[si]], "h"),
                    ]
                else:
                    columns_of = [
                        _typed(si, pl.UInt32).alias("si"),
                        *(pl.col(c).alias(f"w{w}") for w, c in enumerate(ws)),
                        *(
                            pl.when(bit_set(pl.col(ws[b // 64]), b)).then(pl.col(f"__l{b}:{k}")).alias(f"x{j}")
                            for j, (b, k) in enumerate(slots[si])
                        ),
                    ]
                parts.append(rep.lazy().filter(pl.col(ws[0]).is_not_null()).select("__pos", *columns_of))
            long = pl.concat(parts, how="diagonal").collect(engine=ENGINE)
            fields = []
            if exact:
                h = long.get_column("h0")
                # (``maintain_order``: polars' unordered ``unique`` took twice as long here, measured 0.0030
                # against 0.0014 CPU s for the 619,041 ``unknown`` pairs' 1,131 patterns, least of 11)
                patterns = h.unique(maintain_order=True).sort()
                number = _rank_in(patterns, h)
                low = (1 << span) - 1
                at_of = {si: placed([bits for _, bits, _ in t]) for si, t in terms.items()}
                which_si = []
                if len(spelled_as) > _SPELLED_MEMO:  # a bound on what is remembered (``len`` and ``clear`` only:
                    spelled_as.clear()  # two slices of a part may run this at once, in threads)
                memo = {
                    si: spelled_as.setdefault((tuple((bits, meaning) for _, bits, meaning in t), tuple(slots[si])), {})
                    for si, t in terms.items()
                }
                for v in patterns.to_list():
                    si = v & low
                    known = memo[si].get(v)
                    if known is not None:
                        fields.append(known)
                        which_si.append(si)
                        continue
                    bitset = [0] * self.n_words
                    xvals = [0] * len(slots[si])
                    for (_, width, meaning), (_, off) in zip(terms[si], at_of[si], strict=True):
                        value = v >> off & ((1 << width) - 1)
                        if meaning is None or not value:
                            continue
                        kind, i = meaning
                        if kind == "b":
                            bitset[i // 64] |= 1 << (i % 64)
                        else:
                            xvals[i] = value
                    if len(memo[si]) > _SPELLED_MEMO:
                        memo[si].clear()
                    fields.append(memo[si].setdefault(v, spelled(tuple(bitset), slots[si], xvals)))
                    which_si.append(si)
                names = pl.Series([subjects[si] for si in which_si], dtype=pl.String)
            else:
                xs = [c for c in long.columns if c.startswith("x")]
                table, number = _distinct(long, ["si", *word_names, *xs])
                for row in table.iter_rows():
                    fields.append(spelled(row[1 : 1 + self.n_words], slots[row[0]], row[1 + self.n_words :]))
                names = table.get_column("si").replace_strict(dict(enumerate(subjects)), return_dtype=pl.String)
            # A row's list is fixed by its pairs' pattern numbers in subject order (with more pairs than
            # rows, its key's: ``row_keys``), so each list of numbers is turned into its list of {name,
            # fields} once and gathered per row. Sorting and grouping the pairs' integers only, where
            # moving the path strings through the sort and the grouping per pair cost most of this step.
            # (without keys, sorted on 32-bit integers where they hold the key: a fifth less than on 64-bit
            # ones, measured 0.012-0.013 against 0.015-0.016 CPU s for the 620,000 ``unknown`` pairs of
            # 100,000 rows, least of nine)
            if "__to" in long.columns:  # each pair's place is known (the key path): put there, no sort
                to = long.get_column("__to")
                pos = pl.repeat(0, long.height, dtype=pl.UInt32, eager=True).scatter(to, long.get_column("__pos"))
                numbers = pl.repeat(0, long.height, dtype=number.dtype, eager=True).scatter(to, number).alias("n")
                pos = pos.alias("__pos")
            else:
                wide_key = rep.height * len(subjects) >= 1 << 32
                order = (
                    long.get_column("__pos").cast(pl.UInt64 if wide_key else pl.UInt32) * len(subjects)
                    + long.get_column("si")
                ).arg_sort()
                pos, numbers = long.get_column("__pos").gather(order), number.gather(order).alias("n")
            # Each row of ``rep`` with a pair makes its own list from its sorted pairs: a row per key (more
            # pairs than rows), or a row per row (fewer: at most one pair a row on average, so a list is
            # short and numbering the distinct lists, a hash and a check of a list column, cost three
            # times what it saved; measured: 0.0107 against 0.0030 CPU s for the 81,361 ``blocking``
            # pairs of 45,984 rows (4,719 distinct lists) of a bundled 100,000-household part, least of 11)
            listing = pos.alias("__k")
            made = (
                pl.DataFrame(
                    [listing, names.gather(numbers).alias("name"), _string_lists("fields", fields).gather(numbers)]
                )
                .set_sorted("__k")
                .group_by("__k", maintain_order=True)
                .agg(pl.struct(pl.col("name"), pl.col("fields")).alias(name))
            )
            at = pl.repeat(None, rep.height, dtype=pl.UInt32, eager=True).scatter(
                made.get_column("__k"), pl.int_range(made.height, dtype=pl.UInt32, eager=True)
            )
            if key_of is not None:
                at = at.gather(key_of)
            # Rows without a pair (and rows not in ``wide``) take an empty list appended after the made
            # ones: a ``fill_null`` after the gather copied the nested column a second time.
            column = pl.concat([made.get_column(name), pl.Series(name, [[]], dtype=pl.List(MISSING))], rechunk=True)
            at = pl.repeat(made.height, n, dtype=pl.UInt32, eager=True).scatter(
                wide.get_column("__pos"), at.fill_null(made.height)
            )
            return column.gather(at)

        nodes = self.node_columns()
        fact_stages = self.fact_words()
        # ``__M`` without the item paths of the collections taken by position (``lacking_by_position``
        # ORs them in), per set of such collections: made once (the same set on almost every part; two
        # slices in threads may both make one, alike, and entries are never removed)
        missing: dict[frozenset[str], list[pl.Expr]] = {}
        all_names = list(gap_names.values())
        # The wide query's layers without the columns nothing reads (a fact's words no subject needs) and
        # the columns of ``pre`` it reads (its filter, its layers, what its last select passes through),
        # found once here: the query is then projected by the stage itself and runs without polars'
        # projection pushdown and the rest of its optimiser (``_WIDE_FLAGS``), reading what the pushdown
        # would have it read. A column a layer makes is read from that layer on, not from ``pre``.
        live = {
            "__pos",
            *(f"__M{w}" for w in range(self.n_words)),
            *(c for per_tag in columns.values() for _, ws in per_tag for c in ws),
            *(f"__lk:{c}" for c in subs_of),
            *(f"__l{b}:0" for b in item_of),
        }  # what its last select may keep (``kept``)
        layers: list[list[pl.Expr]] = []
        for layer in reversed(
            [nodes, *fact_stages, [*mem_cols, *occ_cols, *way_cols], *reach_stages, hit_cols, present_cols, out_cols]
        ):
            kept_layer = [e for e in layer if e.meta.output_name() in live]
            live.update(r for e in kept_layer for r in e.meta.root_names())
            layers.insert(0, kept_layer)
        wide_reads, wide_made = {"__any_unknown"}, set[str]()
        for layer in layers:
            wide_reads.update(r for e in layer for r in e.meta.root_names() if r not in wide_made)
            wide_made.update(e.meta.output_name() for e in layer)

        def stage(lf: pl.LazyFrame) -> pl.LazyFrame:
            if not columns:
                return lf.with_columns(_empty(MISSING).alias(n) for n in all_names)
            # What reads the collections (``__M``'s item bits, ``__lk``) goes before the filter: the
            # filter then gathers integers and flags, not every field of every item (measured: a third
            # of this stage's wide part).
            # Collections of few items on every row take their lacking items by position (one word);
            # the others the explode of ``lacking`` (``_FEW_ITEMS``).
            longest: dict[str, int] = {}
            if subs_of:
                got = (
                    lf.select(pl.col(c).list.len().max().alias(c) for c in subs_of)
                    .collect(engine=ENGINE)
                    .row(0, named=True)
                )
                longest = {c: n or 0 for c, n in got.items() if (n or 0) <= _FEW_ITEMS and len(subs_of[c]) <= 64}
            exploded = [c for c in subs_of if c not in longest]
            lk_names = [f"__lk:{c}" for c in exploded]
            words, at, few = lacking_by_position(longest)
            positioned = frozenset(c for c, n in longest.items() if n)
            if positioned not in missing:
                missing[positioned] = self.missing_words(positioned)
            pre = (
                lf.with_row_index("__pos")
                .with_columns([*missing[positioned], *lacks_items(exploded), *words])
                .with_columns(at)
                .with_columns(few)
                .collect(engine=ENGINE)
            )
            n = pre.height
            kept = [
                "__pos",
                *(f"__M{w}" for w in range(self.n_words)),
                *(c for per_tag in columns.values() for _, ws in per_tag for c in ws),
                *lk_names,
                *(f"__l{b}:0" for c in longest for b, _ in subs_of[c]),
            ]
            reads = wide_reads.union(c for c in kept if c not in wide_made)
            need = pre.lazy().select(c for c in pre.columns if c in reads).filter(pl.col("__any_unknown"))
            for layer in layers:
                need = need.with_columns(layer)
            wide = need.select(kept).collect(engine=ENGINE, optimizations=_WIDE_FLAGS)
            positions = dict.fromkeys(longest, 1)
            if exploded:
                lacks, more = lacking(wide, exploded)
                positions.update(more)
                wide = pl.concat([wide, lacks.drop("__pos")], how="horizontal")
            ors = seen(wide, positions)
            # A subject no row of this part names under a gathering adds nothing to its lists: left out
            # of the row keys, the pairs and their filters (measured: 14 of the 70 ``unknown`` subjects
            # of a bundled part, more of the other two gatherings'; see docs/batch-speed.md, session 17
            # bgap).
            occurring = {
                tag: [(s, ws) for s, ws in per_tag if ors[f"__pairs:{ws[0]}"]] for tag, per_tag in columns.items()
            }
            made = pl.DataFrame(
                [
                    listed(
                        wide,
                        per_tag,
                        gap_names[tag],
                        positions,
                        n,
                        ors,
                        sum(ors[f"__pairs:{ws[0]}"] for _, ws in per_tag),
                    )
                    if per_tag
                    else pl.Series(gap_names[tag], [[]], dtype=pl.List(MISSING)).new_from_index(0, n)
                    for tag, per_tag in occurring.items()
                ]
            )
            return pl.concat([lf, made.lazy()], how="horizontal").with_columns(
                _empty(MISSING).alias(c) for c in all_names if c not in made.columns
            )

        return stage

    # ------------------------------------------------------------------ findings, long form

    def findings_stage(
        self, rules_with: list[str], blocker_codes: list[str], finding_codes: list[str]
    ) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
        """The findings of every kind at once (the engine's ``FindingTables``), in long form: one row
        per (household, rule) that fired or is unknown, joined with what each rule concludes, grouped
        per (household, kind, code). A household has a handful of such rows; building a list per
        possible code in wide form would cost every household the whole vocabulary."""
        conc_rows = [
            (rule.id, o, kind, code)
            for o, (rule, _) in enumerate(self.prog.rules)
            for kind, code in dict.fromkeys(rule.conclusions)
            if kind in _FINDING_COLUMNS
        ]
        # (kind, code) as one small integer, ordered by kind then code: grouping and sorting on one
        # integer key (row × n + kc) is several times faster than on two strings.
        kcs = sorted({(kind, code) for _, _, kind, code in conc_rows})
        kc_of = {kc: i for i, kc in enumerate(kcs)}
        n_kc = max(1, len(kcs))
        conc = pl.LazyFrame(
            {
                "rule": [r[0] for r in conc_rows],
                "o": [r[1] for r in conc_rows],
                "kc": [kc_of[(r[2], r[3])] for r in conc_rows],
            },
            schema={"rule": pl.String, "o": pl.Int64, "kc": pl.Int64},
        )
        kc_kind = {i: kind for i, (kind, _) in enumerate(kcs)}
        kc_code = {i: code for i, (_, code) in enumerate(kcs)}
        severity = {c: self.ruleset.vocab("finding", c).severity for c in finding_codes}
        names = list(_FINDING_COLUMNS.values())

        def long_dates(lf: pl.LazyFrame, prefix: str, codes: list[str], name: str) -> pl.LazyFrame:
            return lf.select("_row", *(pl.col(f"{prefix}{c}").alias(c) for c in codes)).unpivot(
                index="_row", variable_name="code", value_name=name
            )

        def grouped_of(lf: pl.LazyFrame, rules: list[str]) -> pl.LazyFrame:
            """Per (row, kind, code) whether certain and which rules decided it, from these rules."""
            return (
                lf.select("_row", *(pl.col("rule:" + r).alias(r) for r in rules))
                .unpivot(index="_row", variable_name="rule", value_name="v")
                .filter(pl.col("v").is_null() | pl.col("v"))
                .join(conc, on="rule")
                .select(
                    (pl.col("_row").cast(pl.Int64) * n_kc + pl.col("kc")).alias("key"),
                    "o",
                    "rule",
                    pl.col("v").fill_null(False).alias("fired"),
                )
                .sort("key", "o")
                # certain when any rule of the group fired; the rules listed are those that decided it
                .with_columns(certain=pl.col("fired").any().over("key"))
                .filter(pl.col("fired") == pl.col("certain"))
                .group_by("key", maintain_order=True)
                .agg(pl.col("certain").first(), pl.col("rule").alias("rules"))
                .with_columns((pl.col("key") // n_kc).cast(pl.UInt64).alias("_row"), (pl.col("key") % n_kc).alias("kc"))
                .with_columns(
                    pl.col("kc").replace_strict(kc_kind, return_dtype=pl.String).alias("kind"),
                    pl.col("kc").replace_strict(kc_code, return_dtype=pl.String).alias("code"),
                )
                .sort("_row", "kind", "certain", "kc", descending=[False, False, True, False])
            )

        # A kind whose findings carry no per-household date depends only on the outcomes of the rules
        # concluding it, and most households share a few thousand combinations of those: each kind is
        # worked out once per distinct combination (2 bits per rule, in UInt64 keys) and joined back.
        # Unpivoting every (household, rule) pair cost most of this stage.
        dated_kinds = {"exit_blocker", "finding"}
        kind_rules = {
            kind: [r for r in rules_with if kind in self.kinds[r]]
            for kind in _FINDING_COLUMNS
            if kind not in dated_kinds
        }
        # The dated kinds too, up to 32 rules: their (code, certain, rules) entries per combination, the
        # dates added per entry afterwards (``dated_lists``); the others in long form (``grouped_of``).
        dated_of = {kind: [r for r in rules_with if kind in self.kinds[r]] for kind in sorted(dated_kinds)}
        dated_looked = [k for k, rules in dated_of.items() if 0 < len(rules) <= 32]
        dated_rules = [r for r in rules_with if self.kinds[r] & (dated_kinds - set(dated_looked))]

        def state_keys(rules: list[str]) -> list[pl.Expr]:
            keys = []
            for w in range(0, len(rules), 32):
                states = [
                    pl.when(pl.col("rule:" + r).is_null())
                    .then(_typed(2 << (2 * i), pl.UInt64))
                    .when(pl.col("rule:" + r))
                    .then(_typed(1 << (2 * i), pl.UInt64))
                    .otherwise(_typed(0, pl.UInt64))
                    for i, r in enumerate(rules[w : w + 32])
                ]
                keys.append(_bit_or(states).alias(f"__k{w // 32}"))
            return keys

        def shared(lf: pl.LazyFrame, kind: str, name: str) -> pl.LazyFrame:
            rules = kind_rules[kind]
            keys = state_keys(rules)
            key_names = [k.meta.output_name() for k in keys]
            keyed = lf.select("_row", *keys, *(pl.col("rule:" + r) for r in rules)).collect(engine=ENGINE)
            distinct = (
                keyed.drop("_row")
                .unique(subset=key_names)
                .with_row_index("_row")
                .with_columns(pl.col("_row").cast(pl.UInt64))
            )
            lists = (
                grouped_of(distinct.lazy(), rules)
                .filter(pl.col("kind") == kind)
                .group_by("_row", maintain_order=True)
                .agg(pl.struct([pl.col("code"), pl.col("certain"), pl.col("rules")]).alias(name))
                .join(distinct.lazy().select("_row", *key_names), on="_row")
                .drop("_row")
            )
            return keyed.lazy().select("_row", *key_names).join(lists, on=key_names, how="left").select("_row", name)

        # Up to 32 rules (one UInt64 key of 2 bits per rule), a kind's list for each combination of
        # outcomes is made in Python (``_combination``), once per program: the table grows with the
        # combinations a batch meets (a few hundred per kind) and each row picks its list by number.
        looked_up = [k for k, rules in kind_rules.items() if 0 < len(rules) <= 32]
        rules_of_kind = {**kind_rules, **dated_of}
        # a dated kind's entries carry their code's number (``__j``, made once per combination): it picks
        # the entry's dates and severity (``dated_lists``). Read off the code strings of every row's
        # entries instead (a cast to an enum of the codes), the procedure kind's lists took 0.487-0.511
        # CPU s over five fresh 100,000-household parts against 0.421-0.440 (three alternating pairs)
        numbered = pl.Struct({**FINDING.to_schema(), "__j": pl.UInt32()})
        item_of = {k: numbered if k in dated_looked else FINDING for k in [*looked_up, *dated_looked]}
        tables: dict[str, _Table | _WholeTable] = {
            k: _WholeTable(item_of[k], len(rules_of_kind[k]))
            if len(rules_of_kind[k]) <= _WHOLE_RULES
            else _Table(item_of[k])
            for k in [*looked_up, *dated_looked]
        }

        # per looked-up kind: its codes in order, each with the key's bit positions of its rules
        positions = {
            kind: [
                (code, [(2 * rules_of_kind[kind].index(r), r) for r in self.by[kind][code]])
                for code in sorted(self.by[kind])
            ]
            for kind in [*looked_up, *dated_looked]
        }

        # per code, the key bits of its rules' "fired" states (a rule's "unknown" bit is the one above)
        masks = {
            kind: [
                (code, functools.reduce(operator.or_, (1 << at for at, _ in rules), 0), rules) for code, rules in codes
            ]
            for kind, codes in positions.items()
        }

        makers = {
            kind: _Combinations(codes, pl.List(item_of[kind]), numbered=kind in dated_looked)
            for kind, codes in masks.items()
        }

        def combinations(kind: str, keys: list[int]) -> pl.Series:
            return makers[kind](keys)

        def looked_up_lists(lf: pl.LazyFrame) -> pl.DataFrame:
            """The looked-up kinds' columns, in the rows' order: one key column per kind, each row's list
            gathered from the kind's table by number."""
            keyed = lf.select(looked_up_keys).collect(engine=ENGINE)
            return pl.DataFrame(
                [
                    tables[k].lists(keyed.get_column(k), functools.partial(combinations, k)).alias(_FINDING_COLUMNS[k])
                    for k in looked_up
                ]
                + [dated_column(keyed, k) for k in dated_looked]
            )

        date_prefixes = {"exit_blocker": ["__until:"], "finding": ["__due:", "__on:"]}

        def applying(kind: str, key: pl.Expr) -> pl.Expr:
            """The exit blockers are listed only where the exit applies (``__applies``; about one household
            in nine of the generated workload): elsewhere the key is 0 (no rule fired or unknown), whose list
            is empty. Looked up for every row and emptied afterwards (a ``when`` over the nested column), the
            blockers of the other eight households in nine were listed, dated and grouped for nothing
            (measured: 0.035 + 0.013 CPU s at 100,000 households)."""
            if kind != "exit_blocker":
                return key
            return pl.when(pl.col("__applies")).then(key).otherwise(_typed(0, pl.UInt64))

        # the keys and date columns of ``looked_up_lists``, built once here: built on every part, the key
        # expressions (a when/then per rule and kind) took about 30 ms of Python per part (profiled)
        looked_up_keys = [applying(k, state_keys(rules_of_kind[k])[0]).alias(k) for k in [*looked_up, *dated_looked]]
        looked_up_keys += [pl.col(f"{p}{c}") for k in dated_looked for p in date_prefixes[k] for c, _ in positions[k]]

        def dated_column(keyed: pl.DataFrame, kind: str) -> pl.Series:
            """A dated kind's column (``dated_lists``). Where few rows list any entry (key 0: no rule of the
            kind fired or is unknown, an empty list), only those rows are dated and grouped, and the
            column is their lists gathered into place, the empty list after them for every other row:
            for the exit blockers (about one household in nine of the generated workload, ``applying``)
            0.178-0.250 CPU s over five fresh 100,000-household parts against 0.256-0.324 when every row
            was exploded and grouped (three alternating pairs)."""
            listing = pl.col(kind) != 0
            some: int = keyed.select(listing.sum()).item()
            if 2 * some >= keyed.height:
                return dated_lists(keyed, kind)
            dates = [pl.col(f"{p}{c}") for p in date_prefixes[kind] for c, _ in positions[kind]]
            few = keyed.lazy().filter(listing).select(pl.col(kind), *dates).collect(engine=ENGINE)
            lists = dated_lists(few, kind)
            lists = pl.concat([lists, pl.Series([[]], dtype=lists.dtype)]).rechunk()
            place = pl.when(listing).then(listing.cum_sum() - 1).otherwise(some).cast(pl.UInt32)
            return keyed.lazy().select(pl.lit(lists).gather(place)).collect(engine=ENGINE).to_series()

        def dated_lists(keyed: pl.DataFrame, kind: str) -> pl.Series:
            """A dated kind's column (``dated_rows``), made once per distinct row: a row's list is fixed by
            its key and its date columns, and the date columns mostly hold one value over a part (the
            generated workload: 7 of the 10 ``__due:`` and every ``__on:`` column of the procedure kind,
            18 of the 19 ``__until:`` columns), so the rows are numbered by their key and the date
            columns that vary (``_distinct``), the lists made for one row of each number and gathered by
            it. The procedure kind has about 4,400 such rows in 100,000, whose lists hold 26,300 entries
            against 367,000: exploding, dating and grouping them all was the largest step of this stage
            (see docs/batch-speed.md, session 18 bstage). Where most rows are distinct, every row is
            made as before."""
            if not keyed.height:
                return dated_rows(keyed, kind)
            dates = [f"{p}{c}" for p in date_prefixes[kind] for c, _ in positions[kind]]
            one_value = keyed.select(
                ((pl.col(c).null_count() == 0) & (pl.col(c).min() == pl.col(c).max())) | pl.col(c).is_null().all()
                for c in dates
            ).row(0)
            key = [kind, *(c for c, same in zip(dates, one_value, strict=True) if not same)]
            _, number = _distinct(keyed.select(key), key)
            first = number.is_first_distinct()  # the k-th such row has number k
            if 2 * int(first.sum()) >= keyed.height:
                return dated_rows(keyed, kind)
            # rechunked: a gather from a nested column of several chunks is many times slower
            made: pl.Series = dated_rows(keyed.filter(first), kind).rechunk()
            return made.gather(number)

        def dated_rows(keyed: pl.DataFrame, kind: str) -> pl.Series:
            """A dated kind's column: each row's entries looked up by combination as above, then
            exploded, each entry given its code's dates from the row's date columns and grouped back
            in row order (sorted runs, no hashing).

            An entry's date is one gather from the date columns stacked code after code (at code
            number × rows + row): a chain of ``when(code == c)`` over every code, with every date column
            exploded beside the entries, took twice as long (measured: 0.09 against 0.045 CPU s for the
            two dated kinds at 100,000 households)."""
            name, dtype = _FINDING_COLUMNS[kind], _FINDING_DTYPES[kind]
            base = tables[kind].lists(keyed.get_column(kind), functools.partial(combinations, kind))
            code = pl.col("code")
            number = {c: k for k, (c, _) in enumerate(positions[kind])}
            # each entry's code number comes with it from the table (``numbered``)
            j = pl.col("__j")
            at = j.cast(pl.Int64) * keyed.height + pl.col("__i")

            def pick(prefix: str) -> pl.Expr:
                stacked = pl.concat([keyed.get_column(prefix + c) for c in number]).rechunk()
                return pl.lit(stacked).gather(pl.col("__at"))

            fields = [code, pl.col("certain"), pl.col("rules")]
            # each entry's dates picked once, into columns the fields read (inlined into each field that
            # reads them, the chains over every code were evaluated three times over)
            picked = [pick("__until:").alias("until")] if kind == "exit_blocker" else []
            if kind == "exit_blocker":
                fields.append(pl.col("until"))
            else:
                picked = [pick("__due:").alias("due"), pick("__on:").alias("on")]
                due, on = pl.col("due"), pl.col("on")
                severities = pl.Series([severity.get(c) for c in number], dtype=pl.String)
                fields += [
                    pl.lit(severities).gather(j).alias("severity"),
                    due.alias("due"),
                    on.alias("on"),
                    pl.when(due.is_not_null()).then((on - due).dt.total_days().cast(pl.Int64)).alias("days_late"),
                ]
            # Every row keeps a place (an empty list explodes to one null entry, dropped again inside the
            # grouping), so the groups come out one per row, in order: placing the rows with entries
            # back by a gather, or dropping nulls from the lists afterwards, copies nested lists of
            # structs of lists (measured: four and ten times the time of all the rest).
            got = (
                keyed.lazy()
                .select(
                    pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"),
                    pl.lit(base).alias("__l"),
                )
                .explode("__l", empty_as_null=True)
                .unnest("__l")
                .with_columns(at.alias("__at"))
                .select(pl.col("__i").set_sorted(), code, j, pl.col("certain"), pl.col("rules"), *picked)
                .select("__i", code, pl.struct(fields).alias(name))
                .group_by("__i", maintain_order=True)
                .agg(pl.col(name).filter(code.is_not_null()))
                .collect(engine=ENGINE)
            )
            if got.height != keyed.height:  # pragma: no cover - one group per row, by construction
                raise AssertionError("dated findings: not one list per row")
            lists: pl.Series = got.get_column(name).cast(pl.List(dtype))
            return lists

        def stage(lf: pl.LazyFrame) -> pl.LazyFrame:
            lf = lf.cache()
            if not conc_rows:
                return lf.with_columns(_empty(_FINDING_DTYPES[k]).alias(n) for k, n in _FINDING_COLUMNS.items())
            frames: list[pl.LazyFrame] = []
            if dated_rules:
                # collected here: read by one plan per kind, a cached subplan was recomputed (measured 3x)
                grouped = grouped_of(lf, dated_rules).collect(engine=ENGINE).lazy()
            for kind, name in _FINDING_COLUMNS.items():
                if kind in dated_looked:
                    continue
                if kind not in dated_kinds:
                    if kind_rules[kind] and kind not in looked_up:
                        frames.append(shared(lf, kind, name))
                    continue
                if not dated_rules:
                    continue
                part = grouped.filter(pl.col("kind") == kind)
                fields = [pl.col("code"), pl.col("certain"), pl.col("rules")]
                if kind == "exit_blocker" and blocker_codes:
                    part = part.join(
                        long_dates(lf, "__until:", blocker_codes, "until"),
                        on=["_row", "code"],
                        how="left",
                        maintain_order="left",
                    )
                    fields.append(pl.col("until"))
                elif kind == "exit_blocker":
                    fields.append(pl.lit(None, dtype=pl.Date).alias("until"))
                if kind == "finding" and finding_codes:
                    part = part.join(
                        long_dates(lf, "__due:", finding_codes, "due"),
                        on=["_row", "code"],
                        how="left",
                        maintain_order="left",
                    )
                    part = part.join(
                        long_dates(lf, "__on:", finding_codes, "on"),
                        on=["_row", "code"],
                        how="left",
                        maintain_order="left",
                    )
                    fields += [
                        pl.col("code").replace_strict(severity, default=None, return_dtype=pl.String).alias("severity"),
                        pl.col("due"),
                        pl.col("on"),
                        pl.when(pl.col("due").is_not_null())
                        .then((pl.col("on") - pl.col("due")).dt.total_days().cast(pl.Int64))
                        .alias("days_late"),
                    ]
                elif kind == "finding":
                    # no procedure rules in force: the struct keeps its fields (all null)
                    fields += [
                        pl.lit(None, dtype=dt).alias(f)
                        for f, dt in PROCEDURE.to_schema().items()
                        if f not in ("code", "certain", "rules")
                    ]
                frames.append(part.group_by("_row", maintain_order=True).agg(pl.struct(fields).alias(name)))
            out = _attach(lf, frames) if frames else lf
            if looked_up or dated_looked:
                out = pl.concat([out, looked_up_lists(lf).lazy()], how="horizontal")
            return (
                out.with_columns(
                    [
                        pl.col(n).fill_null(_empty(_FINDING_DTYPES[k]))
                        if (k in dated_kinds and dated_rules) or (kind_rules.get(k) and k not in looked_up)
                        else _empty(_FINDING_DTYPES[k]).alias(n)
                        for k, n in _FINDING_COLUMNS.items()
                        if k not in looked_up and k not in dated_looked
                    ]
                ).with_columns(
                    []  # looked up, the exit blockers were keyed on ``__applies`` (``applying``)
                    if "exit_blocker" in dated_looked
                    else [
                        pl.when(pl.col("__applies"))
                        .then(pl.col("exit_blockers"))
                        .otherwise(_empty(BLOCKER))
                        .alias("exit_blockers")
                    ]
                )
                if names
                else out
            )

        return stage

    # ------------------------------------------------------------------ the decision

    def build(self) -> None:
        by, prog = self.by, self.prog
        rules_with = [r.id for r, _ in prog.rules if r.conclusions]
        cats = sorted(by.get("category", {}))
        codes = {k: sorted(by.get(k, {})) for k in VOCAB_KINDS}
        n_sure = pl.sum_horizontal([self.sure("category", c).cast(pl.Int64) for c in cats]) if cats else pl.lit(0)
        any_maybe_cat = _any([self.maybe("category", c) & ~self.sure("category", c) for c in cats])
        exclusions_any = _any([self.sure("exclusion", c) | self.maybe("exclusion", c) for c in codes["exclusion"]])
        unk_kinds = _any([self.unk(r) for r in rules_with if self.kinds[r] & {"exclusion", "already_monitored"}])
        review_certain = _any([self.sure("review", c) for c in codes["review"]])
        already = _any([self.fired(r) for r in rules_with if "already_monitored" in self.kinds[r]])

        def blocks(r: str) -> pl.Expr:
            k = self.kinds[r]
            if k & {"category", "review", "already_monitored"}:
                return self.unk(r)
            if "exclusion" in k:
                return self.unk(r) & (pl.col("__n_sure") > 0)
            return pl.lit(False)

        blocking_rules = {
            r: blocks(r) for r in rules_with if self.kinds[r] & {"category", "review", "already_monitored", "exclusion"}
        }
        status = (
            pl.when(already)
            .then(pl.lit("already_monitored"))
            .when((pl.col("__n_sure") == 1) & ~exclusions_any & ~unk_kinds)
            .then(pl.lit("identified"))
            .when((pl.col("__n_sure") > 0) | any_maybe_cat | review_certain | _any(list(blocking_rules.values())))
            .then(pl.lit("needs_review"))
            .otherwise(pl.lit("not_identified"))
        )
        # 风险消除 / exit
        applies = _any([self.fired(r) for r in rules_with if "exit_applies" in self.kinds[r]])
        maybe_applies = _any([self.unk(r) for r in rules_with if "exit_applies" in self.kinds[r]])
        blocker_codes = codes["exit_blocker"]

        def until(code: str) -> pl.Expr:
            rids = by["exit_blocker"][code]
            ins = {r: self.in_list("exit_blocker", code, r) for r in rids}
            ds = {r: self.dated(r, "exit_blocker", code, "until") for r in rids}
            every = _all([~ins[r] | ds[r].is_not_null() for r in rids])
            return pl.when(every).then(pl.max_horizontal([pl.when(ins[r]).then(ds[r]) for r in rids]))

        certain_blocker = _any([self.sure("exit_blocker", c) for c in blocker_codes])
        any_blocker = _any([self.sure("exit_blocker", c) | self.maybe("exit_blocker", c) for c in blocker_codes])
        untils = [pl.col(f"__until:{c}") for c in blocker_codes]
        opens = (
            pl.when(
                _all(
                    [
                        ~(self.sure("exit_blocker", c) | self.maybe("exit_blocker", c)) | u.is_not_null()
                        for c, u in zip(blocker_codes, untils, strict=True)
                    ]
                )
            ).then(  # every blocker, pending ones too, a time gate (see Exit.opens_on)
                pl.max_horizontal(
                    [
                        pl.when(self.sure("exit_blocker", c) | self.maybe("exit_blocker", c)).then(u)
                        for c, u in zip(blocker_codes, untils, strict=True)
                    ]
                )
            )
            if blocker_codes
            else pl.lit(None, dtype=pl.Date)
        )
        method: pl.Expr = pl.lit(None, dtype=pl.String)
        for m in reversed(codes["exit_method"]):
            method = pl.when(self.sure("exit_method", m)).then(pl.lit(m)).otherwise(method)
        exit_status = (
            pl.when(pl.col("__applies"))
            .then(
                pl.when(pl.col("__certain_blocker"))
                .then(pl.lit("blocked"))
                .when(pl.col("__any_blocker"))
                .then(pl.lit("needs_review"))
                .otherwise(pl.lit("eligible"))
            )
            .when(pl.col("__maybe_applies"))
            .then(pl.lit("needs_review"))
            .otherwise(pl.lit("not_applicable"))
        )

        # 程序 / procedure: the dates of the first rule a finding names
        def proc_dates(code: str) -> list[pl.Expr]:
            rids = by["finding"][code]
            due: pl.Expr = pl.lit(None, dtype=pl.Date)
            on: pl.Expr = pl.lit(None, dtype=pl.Date)
            for r in reversed(rids):
                ins = self.in_list("finding", code, r)
                due = pl.when(ins).then(self.dated(r, "finding", code, "due")).otherwise(due)
                on = pl.when(ins).then(self.dated(r, "finding", code, "done")).otherwise(on)
            return [due.alias(f"__due:{code}"), on.fill_null(pl.col("as_of")).alias(f"__on:{code}")]

        def proc(code: str) -> dict[str, pl.Expr]:
            due, on = pl.col(f"__due:{code}"), pl.col(f"__on:{code}")
            return {
                "severity": pl.lit(self.ruleset.vocab("finding", code).severity, dtype=pl.String),
                "due": due,
                "on": on,
                "days_late": pl.when(due.is_not_null()).then((on - due).dt.total_days().cast(pl.Int64)),
            }

        decided = pl.col("status") == "identified"
        cat: pl.Expr = pl.lit(None, dtype=pl.String)
        for c in reversed(cats):
            cat = pl.when(self.sure("category", c)).then(pl.lit(c)).otherwise(cat)
        # certain candidates first (when not decided), then the possible ones, each in code order
        flags = [~decided & self.sure("category", c) for c in cats]
        flags += [self.maybe("category", c) & ~self.sure("category", c) for c in cats]
        candidates = _lookup(flags, [*cats, *cats], pl.String())
        review = pl.col("status") == "needs_review"
        blocking_set = {r: e & review for r, e in blocking_rules.items()}
        rest = {
            r: self.unk(r) & ~(review & blocking_rules[r]) if r in blocking_rules else self.unk(r) for r in rules_with
        }
        exit_applies_rules = {
            r: self.unk(r) & ~pl.col("__applies") for r in rules_with if "exit_applies" in self.kinds[r]
        }
        exit_blocker_rules = {
            r: self.unk(r) & pl.col("__applies") & ~pl.col("__certain_blocker")
            for r in rules_with
            if "exit_blocker" in self.kinds[r]
        }
        sets = {"b": blocking_set, "o": rest, "ea": exit_applies_rules, "eb": exit_blocker_rules}

        prog.stages.append(_with_columns(self.flag_columns()))
        prog.stages.append(_with_columns([n_sure.alias("__n_sure")]))
        prog.stages.append(
            _with_columns(
                [
                    status.alias("status"),
                    _any([self.unk(r) for r in rules_with]).alias("__any_unknown"),
                    applies.alias("__applies"),
                    maybe_applies.alias("__maybe_applies"),
                    certain_blocker.alias("__certain_blocker"),
                    any_blocker.alias("__any_blocker"),
                    *(until(c).alias(f"__until:{c}") for c in blocker_codes),
                    *(e for c in codes["finding"] for e in proc_dates(c)),
                ]
            )
        )
        prog.stages.append(self.gap_stage(rules_with, sets))
        prog.decision = [
            pl.when(decided).then(cat).alias("category"),
            candidates.alias("candidate_categories"),
            exit_status.alias("exit_status"),
            pl.when(pl.col("__applies") & pl.col("__certain_blocker")).then(opens).alias("exit_opens_on"),
            pl.when(pl.col("__applies")).then(method).alias("exit_method"),
            pl.lit([p for p, _ in self.chain.missing_params(self.c.on)], dtype=pl.List(pl.String)).alias(
                "missing_parameters"
            ),
        ]
        prog.stages.append(self.findings_stage(rules_with, blocker_codes, codes["finding"]))
        rule_cols = [pl.col("rule:" + r.id) for r, _ in prog.rules]
        fact_cols: list[pl.Expr] = []
        for name, v in self.c.facts.items():
            col = pl.col("__f:" + name)
            if v.den is not None:
                s = FACT_QUOTIENT_SCALE
                col = col.cast(pl.Decimal(38, s)) / pl.col("__fd:" + name).cast(pl.Decimal(38, s))
            fact_cols.append(col.alias("fact:" + name))
        prog.rule_columns = [*rule_cols, *fact_cols]


# -------------------------------------------------------------------------------------------- tables


def _no_region_row() -> dict[str, pl.Expr]:
    return {
        "status": pl.lit("needs_review"),
        "blocking": pl.lit(pl.Series([[{"name": "region", "fields": ["$.region"]}]], dtype=pl.List(MISSING))).first(),
    }


def _pack_of(ruleset: RuleSet, region: pl.Expr) -> pl.Expr:
    """:meth:`RuleSet.pack_for_region` as an expression (null for no region, or no pack without a root):
    the most specific prefix first. Called once per distinct region, it cost 5 % of an identification
    batch whose households live in 95,000 villages."""
    out = pl.lit(ruleset.root_pack or None, dtype=pl.String)
    for prefix, pid in reversed(ruleset._prefixes):
        out = pl.when(region.str.starts_with(prefix)).then(pl.lit(pid, dtype=pl.String)).otherwise(out)
    return pl.when(region.is_not_null()).then(out)


CHUNK_ROWS: Final = 250_000
"""The most rows of one part :func:`decide_table` gives its program at once. A part larger than this is
cut in even chunks, their number a multiple of the usable cores, so that the cores finish together; the
chunks run side by side. Why this size (a million bundled 淮北 rows on two cores, one call, docs/batch-speed.md
session 25): chunks of 25,000 took 9.0–9.5 s, 50,000 5.6–7.7 s, 100,000 4.6–5.1 s, 166,667–333,334 4.0–4.8 s
(fewer chunks, less of each chunk's fixed cost, ~0.18 CPU s), and one chunk of the whole million 7.6 s (one
core). Peak RSS hardly moves with the size (3.3–3.8 GiB for the whole process, 1.8 of it the table read).
Raised from 200,000 in session 31: each chunk pays a fixed cost of about 0.13–0.16 CPU s (the program's
planning and ~180 polars calls, measured on 100-row calls), and four chunks of 250,000 instead of six of
166,667 took a median 0.93–0.95 of the wall time in two runs of nine and eleven alternating rounds, for
30–80 MiB more peak RSS (docs/batch-speed.md session 31)."""


def decide_table(
    ruleset: RuleSet,
    households: pl.DataFrame,
    as_of: date | None = None,
    *,
    rule_columns: bool = False,
    rowwise: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> pl.DataFrame:
    """Decide every row of ``households`` (the input contract above); one output row per input row, in
    input order. Rows are split by (pack chain, date span), each part runs through its compiled lazy
    query in chunks of at most ``chunk_rows`` rows, on every usable core, and the pieces are put back in
    order (:data:`CHUNK_ROWS` says why chunks). A row that cannot be decided (no rules in force on its
    date, a required parameter without a value) carries the reason in ``error`` — the table never fails
    as a whole for one jurisdiction's gap.

    ``rowwise``: a part of fewer rows than this is decided household by household by the Python target
    instead (:mod:`eligibility.compile.rowwise`: the same rows, cell for cell, without the columnar
    program's fixed cost of about 0.25 CPU s a part); None reads ``ELIGIBILITY_BATCH_ROWWISE`` or
    takes :data:`~eligibility.compile.rowwise.ROWWISE_ROWS`; 0 keeps every part columnar. Audit
    columns (``rule_columns``) are the columnar program's own, so every part is columnar then."""
    from .rowwise import decide_rows, fits, rows_frame, rowwise_rows

    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    below = 0 if rule_columns else rowwise_rows(rowwise)
    df = households
    if "as_of" not in df.columns:
        if as_of is None:
            raise ValueError("decide_table needs an as_of column or an as_of date")
        df = df.with_columns(pl.lit(as_of, dtype=pl.Date).alias("as_of"))
    elif as_of is not None:
        df = df.with_columns(pl.col("as_of").fill_null(pl.lit(as_of, dtype=pl.Date)))
    if "_row" not in df.columns:
        df = df.with_row_index("_row").with_columns(pl.col("_row").cast(pl.UInt64))
    if below and not fits(df):
        below = 0
    df = df.with_columns(_pack_of(ruleset, pl.col("region")).alias("__pack"))
    if not ruleset.root_pack:  # a region no pack covers: RuleSet.pack_for_region's error
        uncovered = df.filter(pl.col("region").is_not_null() & pl.col("__pack").is_null())
        if uncovered.height:
            ruleset.pack_for_region(uncovered.get_column("region")[0])
    parts: list[pl.DataFrame] = []
    # Parts by (pack, span) with their dates and rows, found without compiling: a part decided row by
    # row needs no columnar program (compiling one cost about 0.2 CPU s cold).
    groups: dict[tuple[str, date | None], tuple[Chain, list[date], list[int]]] = {}
    # In order of first appearance: the parts, and so the union of their audit columns, come out in the
    # same order every run (a plain group_by orders its groups differently from call to call).
    # (The two key columns selected first: grouping the whole frame took 0.09 s on a million bundled rows,
    # the two columns alone 0.02 s.)
    keys = df.select("__pack", "as_of").group_by("__pack", "as_of", maintain_order=True).len().drop_nulls()
    for pack, on, n in keys.iter_rows():
        chain = ruleset.chain(pack)
        points, i = _span_at(chain, on)
        group = groups.setdefault((pack, points[i] if i >= 0 else None), (chain, [], [0]))
        group[1].append(on)
        group[2][0] += n
    programs: dict[tuple[str, date | None], tuple[TableProgram, list[date]]] = {}
    by_rows: list[tuple[tuple[str, date | None], tuple[TableProgram | None, list[date]]]] = []
    for key, (chain, dates, (n,)) in groups.items():
        if n < below and all(chain.in_force(on) for on in dates):  # else the program's error rows
            by_rows.append((key, (None, dates)))
        else:
            programs[key] = (compile_table(chain, dates[0], every_fact=rule_columns), dates)
    out_cols = list(OUTPUT_SCHEMA)

    def part_of(pack: str, dates: list[date]) -> pl.DataFrame:
        return df.filter(
            (pl.col("__pack") == pack) & pl.col("as_of").is_in(pl.lit(pl.Series(dates, dtype=pl.Date)).implode())
        )

    def refuse(pack: str, part: pl.DataFrame) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
        """The part without its rows of a member born after ``as_of``, and those rows refused with the
        engine's error (``models.births_after``). Checked per chunk, in the chunk's job (and per part
        decided row by row, in ``rowwise_parts``): on the whole table before the chunks it ran on one core
        while the other waited (76 ms of a million bundled rows, about 2 % of the call; docs/batch-speed.md
        session 31)."""
        unborn = _births_after(part)
        if unborn is None:
            return part, []
        part = part.join(unborn, on="_row", how="left", maintain_order="left")
        bad = pl.col("__unborn").is_not_null()
        jurisdiction = pl.lit(ruleset.chain(pack).pack.id, dtype=pl.String).alias("jurisdiction")
        refused = part.filter(bad).with_columns(jurisdiction, pl.col("__unborn").alias("error"))
        return part.filter(~bad).drop("__unborn"), [refused.drop("__unborn")]

    def chunks(pack: str, prog: TableProgram, part: pl.DataFrame) -> list[tuple[str, TableProgram, pl.DataFrame]]:
        """The part as chunks of at most ``chunk_rows`` rows, in row order (a slice is a view, no copy):
        one chunk when it fits, else even chunks, as many as a multiple of the cores needs."""
        if part.height <= chunk_rows:
            return [(pack, prog, part)]
        n = cores * -(-part.height // (cores * chunk_rows))
        size = -(-part.height // n)
        return [(pack, prog, part.slice(start, size)) for start in range(0, part.height, size)]

    cores = usable_cores()
    jobs: list[tuple[str, TableProgram, pl.DataFrame]] = []
    for (pack, _start), (prog, dates) in programs.items():
        jobs += chunks(pack, prog, part_of(pack, dates))
    # Jobs run side by side on every usable core: most of a chunk's time is polars work that releases
    # the GIL, and a small part's time is mostly polars planning its stages, single threaded, so both a
    # large part cut in chunks and a table of many jurisdictions and dates gain from overlapping them
    # (a million 淮北 rows, bundled packs, chunks of 100,000: wall 7.9 → 5.6–5.8 s for the same 9.4 CPU s;
    # CHUNK_ROWS says why its size; docs/batch-speed.md session 25). ``pool.map`` keeps at most one job a
    # thread running, so at most that many chunks' intermediates are held at once. The parts decided row
    # by row (Python, holding the GIL) are decided meanwhile in this thread.
    ways = 1 if len(jobs) > 1 else _cores()  # a lone chunk may still be cut in slices (off by default)

    def job(item: tuple[str, TableProgram, pl.DataFrame]) -> list[pl.DataFrame]:
        pack, prog, part = item
        if prog.error is not None:  # a program that cannot run writes its error in every row, unborn ones too
            return _run_sliced(prog, part, rule_columns, ways)
        part, refused = refuse(pack, part)
        return [*_run_sliced(prog, part, rule_columns, ways), *refused] if part.height else refused

    by_row: list[dict[str, Any]] = []

    def rowwise_parts() -> None:
        """The small parts, by the Python target when it decides them exactly, else by their program."""
        for (pack, _start), (_, dates) in by_rows:
            chain = ruleset.chain(pack)
            whole = part_of(pack, dates)
            part, refused = refuse(pack, whole)
            decided = decide_rows(ruleset, chain, part)
            if decided is not None:
                by_row.extend(decided)  # one frame of them all (rows_frame's cost is mostly per call)
                parts.extend(refused)
                continue
            prog = compile_table(chain, dates[0], every_fact=rule_columns)
            if prog.error is not None:
                part, refused = whole, []
            parts.extend([*_run_sliced(prog, part, rule_columns, 1), *refused])

    if len(jobs) > 1 and cores > 1:
        with ThreadPoolExecutor(max_workers=min(len(jobs), cores)) as pool:
            pending = pool.map(job, jobs)
            rowwise_parts()
            for got in pending:
                parts.extend(got)
    else:
        for item in jobs:
            parts.extend(job(item))
        rowwise_parts()
    if by_row:
        parts.append(rows_frame(by_row))
    nulls = df.filter(pl.col("__pack").is_null())
    parts.append(nulls.with_columns(**_no_region_row()))
    undated = df.filter(pl.col("__pack").is_not_null() & pl.col("as_of").is_null())
    if undated.height:
        message = "评估日期缺失 / no assessment date (as_of) for this row"
        parts.append(undated.with_columns(pl.lit(message, dtype=pl.String).alias("error")))
    collected = parts
    extra: list[str] = []
    if rule_columns:
        for frame in collected:
            extra += [c for c in frame.columns if (c.startswith("rule:") or c.startswith("fact:")) and c not in extra]
    shaped: list[pl.DataFrame] = []
    for frame in collected:
        cols: list[pl.Expr] = []
        for name in out_cols + extra:
            dtype = OUTPUT_SCHEMA.get(name)
            e = pl.col(name) if name in frame.columns else pl.lit(None)
            if dtype is not None:
                e = e.cast(dtype)
            cols.append(e.alias(name))
        shaped.append(frame.lazy().select(cols).collect(engine=ENGINE))  # lazily: see TableProgram.run
    if not shaped:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    result = pl.concat(shaped, how="diagonal_relaxed")
    if not result.get_column("_row").is_sorted():  # one part in input order needs no sort (its gather of
        result = result.sort("_row")  # every nested column measured 8 % of an identification batch)
    # Only the columns that need it are filled: a no-op fill still rebuilds a nested column.
    errors = result.get_column("error").null_count() < result.height
    lists = [n for n, t in OUTPUT_SCHEMA.items() if isinstance(t, pl.List)]
    decided = pl.col("error").is_null()
    fills = [
        pl.when(decided).then(pl.col(n).fill_null(_empty(OUTPUT_SCHEMA[n].inner))).alias(n)  # type: ignore[attr-defined]
        for n in lists
        if errors or result.get_column(n).null_count()
    ]
    if errors or result.get_column("exit_status").null_count():
        fills.append(pl.when(decided).then(pl.col("exit_status").fill_null("not_applicable")).alias("exit_status"))
    return result.with_columns(fills) if fills else result


_SLICE_ROWS: Final = 25_000
"""A part of one program is cut into slices run side by side only when each slice has at least this
many rows: below it the stages' fixed cost per collect outweighs the second core."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else the count): what
    ``auto`` means for slices here and for a batch's worker processes (``batch._workers``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # (not on every system)
        return os.cpu_count() or 1


def _cores() -> int:
    """How many slices a part of one program may be cut into: ``ELIGIBILITY_BATCH_SLICES``, a number or
    ``auto`` (the cores this process may run on); 1, not cut, when unset. Off by default because the
    measurements on the shared 2-core machine were mixed (docs/batch-speed.md §9): the bundled packs'
    wall time went down in most interleaved rounds, but the identification-only program spent 11-23 %
    more CPU time in slices in three of four measurements, which the hand-written-query ratio of issue
    10 §7 counts. Measured again in session 11 (docs/batch-speed.md §10.3): slices cost 2-19 % more CPU
    (each slice pays the fixed cost of a call, about 0.28 CPU s), and at a load of about 12 the bundled
    packs' wall time got worse in three of four rounds; still off until measured on an idle machine."""
    value = os.environ.get("ELIGIBILITY_BATCH_SLICES", "").strip().lower()
    if value == "auto":
        return usable_cores()
    if not value:
        return 1
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise ValueError(f"ELIGIBILITY_BATCH_SLICES 应为正整数或 auto / must be a positive number or auto, not {value!r}")


def _run_sliced(prog: TableProgram, part: pl.DataFrame, rule_columns: bool, ways: int) -> list[pl.DataFrame]:
    """``prog.run`` over ``part`` in up to ``ways`` row slices side by side, in row order.

    Most of a program's time is polars work that keeps to about one core (measured: a 100,000-household
    bundled part took 2.28 CPU s in 2.26 s of wall time, with polars' own thread pool of 2) and releases
    the GIL, so two slices in two threads use both cores (at the price of each stage's fixed cost once
    more per slice). A row's decision reads that row only (the look-up tables of finding lists are
    shared and locked), so the slices decide exactly what the whole part would; they come back in
    order, each in its own frame (their working columns may differ)."""
    n = min(ways, part.height // _SLICE_ROWS)
    if n < 2:
        return [prog.run(part, rule_columns)]
    size = -(-part.height // n)
    slices = [part.slice(start, size) for start in range(0, part.height, size)]
    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        return list(pool.map(lambda piece: prog.run(piece, rule_columns), slices))


def _births_after(df: pl.DataFrame) -> pl.DataFrame | None:
    """``(_row, __unborn)`` for the rows with a member born after the row's ``as_of``: the engine refuses
    such a record (``models.births_after``: an impossible date, not an unknown), and so does the table,
    with the same JSON path and code in the row's ``error``. None when no row has one."""
    if "members" not in df.columns:
        return None
    # Mostly nobody is: the birth dates alone (no int_ranges, no explode of every member field) first.
    late = pl.col("members").list.eval(pl.element().struct.field("birth_date")).list.max() > pl.col("as_of")
    if not df.select(late.fill_null(False).any()).item():
        return None
    items = (
        df.lazy()
        .select("_row", "as_of", pl.col("members"))
        .filter(pl.col("members").list.len() > 0)
        .with_columns(pl.int_ranges(pl.col("members").list.len()).alias("__i"))
        .explode("members", "__i")
        .filter(pl.col("members").struct.field("birth_date") > pl.col("as_of"))
    )
    on = pl.col("as_of").dt.strftime("%Y-%m-%d")
    found = (
        items.select(
            "_row",
            pl.format(
                "$.members[{}].birth_date: 出生日期晚于评估日期 {} / date of birth after the assessment date {} "
                "(born_after_as_of)",
                pl.col("__i"),
                on,
                on,
            ).alias("__unborn"),
        )
        .group_by("_row", maintain_order=True)
        .agg(pl.col("__unborn").str.join("; "))
        .collect(engine=ENGINE)
    )
    return found if found.height else None


_FIELD_ERROR: Final = re.compile(r"^(\$\S*): (.*) \(([a-z_]+)\)$")


def row_errors(error: str) -> list[tuple[str | None, str, str]]:
    """A row's ``error`` as (JSON path, code, message) items: the field errors :func:`_births_after`
    writes (``$.path: message (code)``, joined by ``; ``) keep their path and code, so the batch's
    errors file names them as the engine does; any other text is one ``evaluation`` error."""
    items = [_FIELD_ERROR.match(part) for part in error.split("; ")]
    if all(items):
        return [(m.group(1), m.group(3), m.group(2)) for m in items if m]
    return [(None, "evaluation", error)]


def decision_row(decision: Any) -> dict[str, Any]:
    """An :class:`~eligibility.decision.Decision` in the decision table's row form (without ``_row`` and
    ``ruleset_fingerprint``, which the Decision does not carry at ``trace="none"``): the reference the
    tests compare :func:`decide_table` with, field by field."""

    def findings(items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{"code": f.code, "certain": f.certain, "rules": list(f.rules)} for f in items]

    def missing(items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{"name": m.name, "fields": list(m.fields)} for m in items]

    ident, ex = decision.identification, decision.exit
    return {
        "household_id": decision.household_id,
        "jurisdiction": None if decision.region is None else decision.jurisdiction.code,
        "status": ident.status,
        "category": ident.category.code if ident.category is not None else None,
        "candidate_categories": [c.code for c in ident.candidate_categories],
        "risks": findings(ident.risks),
        "risk_types": findings(ident.risk_types),
        "layers": findings(ident.layers),
        "exclusions": findings(ident.exclusions),
        "reviews": findings(ident.reviews),
        "blocking": missing(ident.blocking),
        "unknown": missing(ident.unknown),
        "measures": findings(decision.assistance.required),
        "gaps": findings(decision.assistance.gaps),
        "exit_status": ex.status,
        "exit_blockers": [{**findings([b])[0], "until": b.until} for b in ex.blockers],
        "exit_opens_on": ex.opens_on,
        "exit_method": ex.method.code if ex.method is not None else None,
        "exit_blocking": missing(ex.blocking),
        "procedure": [
            {**findings([p])[0], "severity": p.severity, "due": p.due, "on": p.on, "days_late": p.days_late}
            for p in decision.procedure
        ],
        "warnings": findings(decision.warnings),
        "missing_parameters": [m.name for m in decision.missing_parameters],
        "member_measures": member_rows(decision),
        "error": None,
    }
