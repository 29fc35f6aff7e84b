"""Member selectors in the polars target: the ``member_measures`` column of the decision table.

Each selector's member condition (:mod:`eligibility.members`) is compiled with the polars target's own
expression compiler, over the ``members`` struct of one exploded item, exactly as the ``where`` of an
aggregate over members is. One extra stage, after the rule and decision stages, explodes the members
once (with the outer columns the conditions read: ``as_of``, facts, household fields), computes every
condition per member, and gathers per household the positions (from 1) where it is true and where it
is null (unknown). A selector with ``not_delivered`` first reads, per household, which delivered
measures of those types cover everyone (no member named) or named members, surely or possibly (a
measure of unknown type or date), and takes covered members off (Kleene: ``where and not covered``).

The ``member_measures`` column then lists, for each required measure and each gap whose listed rules
carry a selector, ``{kind, code, members, members_to_review}`` — the union over those rules, as
:func:`eligibility.members.combine` defines it; household-level findings are not listed. A gap whose
listed rules all name members and together name none is taken out of ``gaps``
(:func:`eligibility.members.keep_gap`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from ..facts import CATALOGUE
from ..members import SELECTABLE_KINDS

if TYPE_CHECKING:
    from .polars import TableProgram, _Compiler, _Decide

__all__ = ["MEMBER_MEASURE", "add_member_stage", "member_rows"]

MEMBER_MEASURE: Final = pl.Struct(
    {
        "kind": pl.String,
        "code": pl.String,
        "members": pl.List(pl.Int64),
        "members_to_review": pl.List(pl.Int64),
    }
)
"""One entry of the ``member_measures`` column (positions from 1)."""

_INDEX: Final = "__member_no"
_MEASURES: Final = "monitoring.measures"
_EMPTY: Final = pl.lit([], dtype=pl.List(pl.Int64))


def add_member_stage(c: _Compiler, prog: TableProgram, decide: _Decide) -> pl.Expr:
    """Add the selection stage to ``prog`` (when a selector is in force) and return the column's expr;
    ``gaps`` is then re-listed without the gaps that name nobody."""
    from .polars import _empty, _listed

    todo = [(rule.id, kind, code, sel) for rule, _ in prog.rules for (kind, code), sel in rule.selectors.items()]
    if not todo:
        return _empty(MEMBER_MEASURE).alias("member_measures")
    type_sets = sorted({sel.not_delivered for _, _, _, sel in todo if sel.not_delivered})
    c.item.append(("members", CATALOGUE["members"]))
    c.outer.append(set())
    before = len(c.pending_aggs)
    try:
        wheres = []
        for _, _, _, sel in todo:
            w = c.expr(sel.where).expr.cast(pl.Boolean)
            if sel.not_delivered:
                w = w & ~_covered(type_sets.index(sel.not_delivered))
            wheres.append(w)
    finally:
        c.item.pop()
        outer = c.outer.pop()
    if len(c.pending_aggs) != before:
        raise NotImplementedError("an aggregate inside a member condition")
    outer.discard("members")
    if type_sets:
        outer |= {"as_of", _MEASURES, *(f"__cov{k}:{x}" for k in range(len(type_sets)) for x in _COVERAGE)}
    prog.stages.append(functools.partial(_select_pass, wheres, sorted(outer), type_sets))
    column = {(rid, kind, code): i for i, (rid, kind, code, _) in enumerate(todo)}
    entries: list[pl.Expr] = []
    keep: dict[str, pl.Expr] = {}
    for kind in SELECTABLE_KINDS:
        codes = sorted({code for _, k, code, _ in todo if k == kind})
        first, then = [], []
        for code in codes:
            rids = decide.by.get(kind, {}).get(code, [])
            listed = {r: decide.in_list(kind, code, r) for r in rids}
            named = [r for r in rids if (r, kind, code) in column]
            yes = _union([pl.when(listed[r]).then(pl.col(f"__msel{column[(r, kind, code)]}")) for r in named])
            maybe = _union([pl.when(listed[r]).then(pl.col(f"__mrev{column[(r, kind, code)]}")) for r in named])
            if len(named) > 1:  # one rule's lists are sorted, distinct and disjoint already
                maybe = maybe.list.set_difference(yes).list.sort()
            entry = pl.struct(
                pl.lit(kind).alias("kind"),
                pl.lit(code).alias("code"),
                yes.alias("members"),
                maybe.alias("members_to_review"),
            )
            any_named = pl.any_horizontal([listed[r] for r in named])
            shown = any_named
            if kind == "gap":
                unnamed = [~listed[r] for r in rids if r not in named]
                nobody = (yes.list.len() == 0) & (maybe.list.len() == 0) & pl.col("members").is_not_null()
                keep[code] = ~(pl.all_horizontal([any_named, *unnamed]) & nobody)
                shown = any_named & keep[code]
            first.append(pl.when(shown & decide.sure(kind, code)).then(entry))
            then.append(pl.when(shown & ~decide.sure(kind, code) & decide.maybe(kind, code)).then(entry))
        entries += first + then
    if keep:
        prog.decision.append(_gaps(decide, keep))
    return _listed(entries, MEMBER_MEASURE).alias("member_measures")


def _gaps(decide: _Decide, keep: dict[str, pl.Expr]) -> pl.Expr:
    """The ``gaps`` column again (as :meth:`_Decide.findings` lists it), without those that name nobody."""
    from .polars import FINDING, _listed

    codes = sorted(decide.by.get("gap", {}))
    entries = {
        c: pl.struct(
            pl.lit(c).alias("code"), decide.sure("gap", c).alias("certain"), decide.rules_of("gap", c).alias("rules")
        )
        for c in codes
    }
    ok = {c: keep.get(c, pl.lit(True)) for c in codes}
    first = [pl.when(decide.sure("gap", c) & ok[c]).then(entries[c]) for c in codes]
    then = [pl.when(~decide.sure("gap", c) & decide.maybe("gap", c) & ok[c]).then(entries[c]) for c in codes]
    return _listed(first + then, FINDING).alias("gaps")


_COVERAGE: Final = ("all", "all?", "ids", "ids?")
"""Per household and type set: a measure surely / possibly covering everyone; member ids surely / possibly
covered by a measure naming them."""


def _covered(k: int) -> pl.Expr:
    """Per exploded member: whether a delivered measure of type set ``k`` covers them (Kleene)."""
    mid = pl.col("members").struct.field("member_id")

    def col(x: str) -> pl.Expr:
        return pl.col(f"__cov{k}:{x}")

    return (
        pl.when(pl.col(_MEASURES).is_null())
        .then(pl.lit(None, dtype=pl.Boolean))
        .when(col("all") | col("ids").list.contains(mid))
        .then(True)
        .when(col("all?") | col("ids?").list.contains(mid))
        .then(pl.lit(None, dtype=pl.Boolean))
        .otherwise(False)
    )


def _coverage(df: pl.DataFrame, type_sets: list[tuple[str, ...]]) -> pl.DataFrame:
    """The ``__cov<k>:*`` columns of every household (see :data:`_COVERAGE`), from one explode of the
    delivered measures."""
    flat = (
        df.lazy()
        .select("_row", "as_of", _MEASURES)
        .filter(pl.col(_MEASURES).list.len() > 0)
        .explode(_MEASURES)
        .filter(pl.col(_MEASURES).is_not_null())
        .with_columns(
            pl.col(_MEASURES).struct.field("type").alias("__t"),
            (pl.col(_MEASURES).struct.field("delivered_on") <= pl.col("as_of")).alias("__d"),
            pl.col(_MEASURES).struct.field("member_id").alias("__who"),
        )
    )
    aggs: list[pl.Expr] = []
    for k, types in enumerate(type_sets):
        counts = pl.col("__t").is_in(list(types)) & pl.col("__d")  # Kleene: null when type or date unknown
        whole = pl.col("__who").is_null()
        aggs += [
            (counts.fill_null(False) & whole).any().alias(f"__cov{k}:all"),
            (counts.is_null() & whole).any().alias(f"__cov{k}:all?"),
            pl.col("__who").filter(counts.fill_null(False) & ~whole).alias(f"__cov{k}:ids"),
            pl.col("__who").filter(counts.is_null() & ~whole).alias(f"__cov{k}:ids?"),
        ]
    got = flat.group_by("_row").agg(aggs).collect()
    out = df.select("_row").join(got, on="_row", how="left", maintain_order="left")
    fills = []
    for k in range(len(type_sets)):
        fills += [pl.col(f"__cov{k}:{x}").fill_null(False) for x in ("all", "all?")]
        fills += [pl.col(f"__cov{k}:{x}").fill_null(pl.lit([], dtype=pl.List(pl.String))) for x in ("ids", "ids?")]
    return out.with_columns(fills).drop("_row")


def _union(lists: Sequence[pl.Expr]) -> pl.Expr:
    """Sorted distinct positions over the lists (a null list — a rule not listed — adds none)."""
    if len(lists) == 1:
        return lists[0].fill_null(_EMPTY)  # already sorted and distinct (positions in member order)
    return pl.concat_list([x.fill_null(_EMPTY) for x in lists]).list.unique().list.sort()


def _select_pass(
    wheres: list[pl.Expr], outer: list[str], type_sets: list[tuple[str, ...]], lf: pl.LazyFrame
) -> pl.LazyFrame:
    """Explode the members once; per selector, the positions where its condition is true / null."""
    from .polars import _attach

    df = lf.collect()
    if type_sets:
        df = pl.concat([df, _coverage(df, type_sets)], how="horizontal")
    per_member = (
        df.lazy()
        .select("_row", "members", *outer)
        .filter(pl.col("members").list.len() > 0)
        .with_columns(pl.int_ranges(1, pl.col("members").list.len() + 1, dtype=pl.Int64).alias(_INDEX))
        .explode("members", _INDEX)
        .with_columns(w.alias(f"__w{i}") for i, w in enumerate(wheres))
    )
    picked = per_member.group_by("_row", maintain_order=True).agg(
        *(pl.col(_INDEX).filter(pl.col(f"__w{i}")).alias(f"__msel{i}") for i in range(len(wheres))),
        *(pl.col(_INDEX).filter(pl.col(f"__w{i}").is_null()).alias(f"__mrev{i}") for i in range(len(wheres))),
    )
    out = _attach(df.lazy(), [picked])
    return out.with_columns(pl.col(f"__m{k}{i}").fill_null(_EMPTY) for i in range(len(wheres)) for k in ("sel", "rev"))


def member_rows(decision: Any) -> list[dict[str, Any]]:
    """The ``member_measures`` cell of a :class:`~eligibility.decision.Decision` (its row form)."""
    a = decision.assistance
    return [
        {
            "kind": kind,
            "code": f.code,
            "members": [m.index for m in f.members],
            "members_to_review": [m.index for m in f.members_to_review],
        }
        for kind, items in (("measure", a.required), ("gap", a.gaps))
        for f in items
        if f.members is not None
    ]
