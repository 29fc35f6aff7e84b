"""Member selectors in the polars target: the ``member_measures`` column of the decision table.

Each selector's member condition (:mod:`eligibility.members`) is compiled with the polars target's own
expression compiler, over the ``members`` struct of one exploded item, exactly as the ``where`` of an
aggregate over members is. One extra stage, after the rule and decision stages, explodes the members
once (with the outer columns the conditions read: ``as_of``, facts, household fields), computes every
condition per member, and gathers per household the positions (from 1) where it is true and where it
is null (unknown). The ``member_measures`` column then lists, for each required measure and each gap
whose listed rules carry a selector, ``{kind, code, members, members_to_review}`` — the union over those
rules, as :func:`eligibility.members.combine` defines it; household-level findings are not listed.
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


def add_member_stage(c: _Compiler, prog: TableProgram, decide: _Decide) -> pl.Expr:
    """Add the selection stage to ``prog`` (when a selector is in force) and return the column's expr."""
    from .polars import _any, _empty, _listed

    todo = [(rule.id, kind, code, sel) for rule, _ in prog.rules for (kind, code), sel in rule.selectors.items()]
    if not todo:
        return _empty(MEMBER_MEASURE).alias("member_measures")
    c.item.append(("members", CATALOGUE["members"]))
    c.outer.append(set())
    before = len(c.pending_aggs)
    try:
        wheres = [c.expr(sel.where).expr for _, _, _, sel in todo]
    finally:
        c.item.pop()
        outer = c.outer.pop()
    if len(c.pending_aggs) != before:
        raise NotImplementedError("an aggregate inside a member condition")
    outer.discard("members")
    prog.stages.append(functools.partial(_select_pass, wheres, sorted(outer)))
    column = {(rid, kind, code): i for i, (rid, kind, code, _) in enumerate(todo)}
    entries: list[pl.Expr] = []
    for kind in SELECTABLE_KINDS:
        codes = sorted({code for _, k, code, _ in todo if k == kind})
        first, then = [], []
        for code in codes:
            rids = [r for r in decide.by.get(kind, {}).get(code, []) if (r, kind, code) in column]
            listed = [decide.in_list(kind, code, r) for r in rids]
            yes = _union([pl.when(x).then(pl.col(f"__msel{column[(r, kind, code)]}")) for x, r in zip(listed, rids)])
            maybe = _union([pl.when(x).then(pl.col(f"__mrev{column[(r, kind, code)]}")) for x, r in zip(listed, rids)])
            entry = pl.struct(
                pl.lit(kind).alias("kind"),
                pl.lit(code).alias("code"),
                yes.alias("members"),
                maybe.list.set_difference(yes).list.sort().alias("members_to_review"),
            )
            named = _any(listed)
            first.append(pl.when(named & decide.sure(kind, code)).then(entry))
            then.append(pl.when(named & ~decide.sure(kind, code) & decide.maybe(kind, code)).then(entry))
        entries += first + then
    return _listed(entries, MEMBER_MEASURE).alias("member_measures")


def _union(lists: Sequence[pl.Expr]) -> pl.Expr:
    """Sorted distinct positions over the lists (a null list — a rule not listed — adds none)."""
    return (
        pl.concat_list([x.fill_null(pl.lit([], dtype=pl.List(pl.Int64))) for x in lists])
        .list.unique()
        .list.sort()
    )


def _select_pass(wheres: list[pl.Expr], outer: list[str], lf: pl.LazyFrame) -> pl.LazyFrame:
    """Explode the members once; per selector, the positions where its condition is true / null."""
    from .polars import _attach

    df = lf.collect()
    per_member = (
        df.lazy()
        .select("_row", "members", *outer)
        .filter(pl.col("members").list.len() > 0)
        .with_columns(pl.int_ranges(1, pl.col("members").list.len() + 1, dtype=pl.Int64).alias(_INDEX))
        .explode("members", _INDEX)
        .with_columns(w.cast(pl.Boolean).alias(f"__w{i}") for i, w in enumerate(wheres))
    )
    picked = per_member.group_by("_row", maintain_order=True).agg(
        *(pl.col(_INDEX).filter(pl.col(f"__w{i}")).alias(f"__msel{i}") for i in range(len(wheres))),
        *(pl.col(_INDEX).filter(pl.col(f"__w{i}").is_null()).alias(f"__mrev{i}") for i in range(len(wheres))),
    )
    out = _attach(df.lazy(), [picked])
    empty = pl.lit([], dtype=pl.List(pl.Int64))
    return out.with_columns(
        pl.col(f"__m{k}{i}").fill_null(empty) for i in range(len(wheres)) for k in ("sel", "rev")
    )


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
