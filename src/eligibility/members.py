"""Member selectors: a required measure (or a gap) that names the members it is for.

A conclusion may carry ``members: {where: <member condition>}`` (docs/members.md).
The condition is a formula over one member, in the grammar ``count``/``any`` already use after
``where`` — it is checked exactly as ``count(members where <condition>)`` would be, so ``member.*``,
facts, parameters, ``as_of`` and the date functions mean what they mean there.

The selector is evaluated *after* the rule: it does not change whether the rule fires (the
household-level outcome every engine agrees on), it only names, for a measure or gap the decision
reports, which members it is for. Three-valued, like everything else: a member whose condition is
true is listed (``members``), one whose condition is unknown is listed for review
(``members_to_review``) — never silently dropped or added — and one whose condition is false is not.

One semantics in every target, defined here:

* the members of a finding are the union over the rules the finding lists (``Finding.rules``: the fired
  ones when it is certain, the unknown ones otherwise) that carry a selector for that (kind, code);
  ``members_to_review`` the union of their unknown members not already listed;
* a finding none of whose listed rules carries a selector is household-level: ``members`` is null;
* members are named by position (1 = the first member of ``members``) and ``member_id`` (成员编号) —
  never by ID-document number or phone, which the decision never carries;
* a household without a member list (unknown) gets empty lists: there is no one to name;
* ``not_delivered`` (on a gap): the condition becomes ``where and not covered`` (:func:`covered`), and a
  gap whose listed rules all name members but together name nobody is not reported (:func:`keep_gap`).

The compiled Python target (:mod:`eligibility.compile.members_py`), the polars target
(:mod:`eligibility.compile.members_pl`) and the reference interpreter (:func:`select_interpreted`,
here) each evaluate the conditions their own way; the property tests compare the three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import SourceLocation
from .expressions import (
    UNKNOWN,
    Aggregate,
    Env,
    ExprError,
    Node,
    Resolver,
    check,
    compile_expr,
    kleene_and,
    kleene_not,
    kleene_or,
    parse,
)

__all__ = [
    "SELECTABLE_KINDS",
    "MemberSelector",
    "Selection",
    "combine",
    "covered",
    "keep_gap",
    "named_brief",
    "parse_selector",
    "select_interpreted",
]

SELECTABLE_KINDS: Final = ("measure", "gap")
"""Conclusion kinds that may name members."""

_PREFIX: Final = "count(members where "

Selection = tuple[tuple[int, ...], tuple[int, ...]]
"""(members whose condition holds, members whose condition is unknown) — positions from 1."""


@dataclass(frozen=True)
class MemberSelector:
    """A checked ``members: {where: ...}``: the condition over one member (``where`` of the aggregate)."""

    source: str
    node: Node
    loc: SourceLocation
    not_delivered: tuple[str, ...] = ()
    """Measure types whose delivery takes a member off the list (see :func:`covered`)."""

    def __getstate__(self) -> dict[str, Any]:
        # The compiled closure does not pickle (the rule set is cached on disk): leave it out, with the
        # private caches evaluation keeps on the AST; it is compiled again on first use.
        from .ruleset import _plain

        return {"source": self.source, "node": _plain(self.node), "loc": self.loc, "not_delivered": self.not_delivered}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def where(self) -> Node:
        """The member condition's AST (names resolved; ``member.x`` is an item reference)."""
        assert isinstance(self.node, Aggregate) and self.node.where is not None
        return self.node.where


def parse_selector(source: str, resolver: Resolver) -> Node:
    """Parse and check ``source`` as ``count(members where <source>)``; raises :class:`ExprError` with
    the offset inside ``source`` (so a diagnostic points into the rule file's text)."""
    try:
        node = parse(_PREFIX + source + ")")
        check(node, resolver)
    except ExprError as exc:
        raise ExprError(exc.code, exc.message, max(0, exc.offset - len(_PREFIX))) from None
    if not isinstance(node, Aggregate) or node.where is None or node.collection.key != "members":
        raise ExprError("EL209", "`where` takes one condition over `member`", 0)
    return node


def select_interpreted(selector: MemberSelector, env: Env, members: Any) -> Selection:
    """The reference evaluation: the member condition's closure over each member item (a dict)."""
    if members is UNKNOWN or members is None:
        return (), ()
    fn = selector.__dict__.get("_fn")
    if fn is None:
        fn = compile_expr(selector.where)
        object.__setattr__(selector, "_fn", fn)
    yes: list[int] = []
    maybe: list[int] = []
    measures = env.fields.get("monitoring.measures", UNKNOWN)
    for i, item in enumerate(members, start=1):
        v = fn(env, item)
        if selector.not_delivered:
            got = covered(measures, selector.not_delivered, env.as_of, item.get("member_id", UNKNOWN))
            v = kleene_and([v, kleene_not(got)])
        if v is UNKNOWN:
            maybe.append(i)
        elif v is True:
            yes.append(i)
    return tuple(yes), tuple(maybe)


def covered(measures: Any, types: Sequence[str], as_of: Any, member_id: Any) -> Any:
    """Whether a measure of one of ``types`` was delivered to this member by ``as_of`` (reference form,
    over the flattened measure items): a measure naming no member counts for the whole household (so
    records without member references keep their meaning). Kleene: a measure of unknown type or date
    that could count makes the answer unknown; an unknown list of measures is unknown."""
    if measures is UNKNOWN or measures is None:
        return UNKNOWN
    found: list[Any] = []
    for m in measures:
        kind, on, who = m.get("type", UNKNOWN), m.get("delivered_on", UNKNOWN), m.get("member_id", UNKNOWN)
        is_type = UNKNOWN if kind is UNKNOWN else kind in types
        in_time = UNKNOWN if on is UNKNOWN else on <= as_of
        for_them = True if who is UNKNOWN else (UNKNOWN if member_id is UNKNOWN else who == member_id)
        found.append(kleene_and([is_type, in_time, for_them]))
    return kleene_or(found)


def keep_gap(
    rules: Sequence[str], code: str, selection: Selection | None, selections: Mapping[Any, Any], known: bool
) -> bool:
    """A gap whose listed rules all name members, and together name none (neither listed nor to review),
    is not reported: every member who needed the measure received it. ``known``: whether the household
    has a member list at all (without one nobody can be named, and the gap stays as the rules say)."""
    if not known or selection is None or selection != ((), ()):
        return True
    return not all((r, "gap", code) in selections for r in rules)


def combine(
    rules: Sequence[str], kind: str, code: str, selections: Mapping[tuple[str, str, str], Selection]
) -> Selection | None:
    """The members of one finding from its listed rules' selections; None when none names members."""
    got = [selections[(r, kind, code)] for r in rules if (r, kind, code) in selections]
    if not got:
        return None
    yes = sorted({i for s in got for i in s[0]})
    maybe = sorted({i for s in got for i in s[1]} - set(yes))
    return tuple(yes), tuple(maybe)


def refs(selection: Iterable[int], member_ids: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """Members by position (from 1) and 成员编号, the form the decision shows."""
    return tuple({"index": i, "member_id": member_ids[i - 1]} for i in selection)


def selectors_of(rules: Iterable[Any]) -> dict[tuple[str, str, str], MemberSelector]:
    """Every selector of these rules, keyed (rule id, kind, code)."""
    return {(r.id, kind, code): s for r in rules for (kind, code), s in r.selectors.items()}


def named_brief(finding: Any) -> str:
    """``（成员1、3；待核实2）`` after a measure's label in one-line summaries; empty when household-level."""
    members = getattr(finding, "members", None)
    if members is None:
        return ""
    text = "成员" + "、".join(str(m.index) for m in members) if members else "无成员"
    review = finding.members_to_review
    return f"（{text}" + (f"；待核实{'、'.join(str(m.index) for m in review)}" if review else "") + "）"
