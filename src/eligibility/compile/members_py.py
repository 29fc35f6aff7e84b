"""Member selectors in the Python target: one generated function per compiled program.

A program (:mod:`eligibility.compile.python`) decides the household; the rules whose conclusions name
members (``members: {where: ...}``, :mod:`eligibility.members`) then need, per member, whether the
condition holds. That is compiled here, apart from the program's hot path: the generator is the
Python target's own (same expression code, same constants folded for the span), driven over a loop on
``members``, into a second function ``select(h, as_of, values, wanted)`` that returns
``{(rule id, kind, code): (members listed, members to review)}`` — positions from 1 — for the keys
``wanted`` holds (a decision needs those of the findings it reports; the rest are skipped). Facts the
conditions read come from the program's value slots, so nothing is computed twice.

Only programs with a selector in force get one; :func:`selections` returns ``{}`` for the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from .._cache import cached_code
from .._construct import clone, raw
from ..decision import MemberRef
from ..expressions import UNKNOWN, Name
from ..facts import _item
from ..members import combine, keep_gap
from .findings_py import code_masks
from .python import (
    GROUP_OF_KIND,
    Program,
    _add_months,
    _Compiler,
    _end_of_month,
    _has_unknown,
    _ident,
    _lacking,
    _month_cut,
    _set_values,
    _walk,
    _whole,
)

__all__ = ["attach", "selections", "wanted", "with_members"]

_LOCK = threading.Lock()

_Select = Callable[
    [Any, Any, tuple[Any, ...], Container[Any]], dict[tuple[str, str, str], tuple[tuple[int, ...], tuple[int, ...]]]
]


def selections(
    program: Program, h: Any, as_of: date, values: tuple[Any, ...], wanted: Container[Any] | None = None
) -> dict[tuple[str, str, str], Any]:
    """Every selector's (listed, to review) members on this household, or ``{}`` without selectors;
    with ``wanted``, only the selectors whose (rule id, kind, code) it holds (the engine asks for those
    of the findings a decision reports)."""
    fn = program.__dict__.get("_select", False)
    if fn is False:
        with _LOCK:
            fn = program.__dict__.get("_select", False)
            if fn is False:
                fn = program.__dict__["_select"] = _compile(program, as_of)
    return {} if fn is None else fn(h, as_of, values, _EVERY if wanted is None else wanted)


def wanted(program: Program, fired: Any, unknown: Any) -> frozenset[tuple[str, str, str]]:
    """The selectors (rule id, kind, code) a decision's measures and gaps name, from its conclusion masks:
    for each measure or gap code the program concludes, the rules of the finding the decision reports —
    those that fired, else (when none fired) those left unknown, as :class:`~.findings_py.FindingTables`
    lists them — that carry a selector. What the engine passes to :func:`selections` as ``wanted``.

    Why from the masks: reading each finding's rules, building a key per rule and intersecting them
    with the program's selectors cost ~5 µs a bundled household with measures. The answer depends only
    on the masks' bits of codes that have a selector, so it is memoised per program on those bits
    (a few hundred combinations: the bits of the dozen or so member-naming rules)."""
    plan: _Wanted | None = program.__dict__.get("_wanted")
    if plan is None:
        plan = program.__dict__["_wanted"] = _Wanted(program)
    gm, rm, gg, rg = plan.masks
    k = (fired[gm] & rm, unknown[gm] & rm, fired[gg] & rg, unknown[gg] & rg)
    got = plan.memo.get(k)
    if got is None:
        got = plan.keys(k)
        if len(plan.memo) >= _WANTED_SIZE:
            plan.memo.clear()
        plan.memo[k] = got
    return got


_WANTED_SIZE: Final = 4096
"""Combinations of member-naming bits kept per program; past this many the memo starts over."""


class _Wanted:
    """Per program, for :func:`wanted`: the measure and gap codes that have a selector, each with the mask
    of its rules' bits and, per bit, the selector key of that rule (None for a rule without one)."""

    __slots__ = ("codes", "masks", "memo")

    def __init__(self, program: Program) -> None:
        selectors = {(rule.id, kind, code) for rule, _, _ in program.rules for kind, code in rule.selectors}
        self.codes: list[tuple[int, int, list[tuple[int, tuple[str, str, str] | None]]]] = []
        relevant = {}
        for kind in ("measure", "gap"):
            g = GROUP_OF_KIND[kind]
            relevant[g] = 0
            for code, mask, rules in code_masks(program, g, kind):
                keyed = [(b, k if (k := (rid, kind, code)) in selectors else None) for b, rid in rules]
                if any(k is not None for _, k in keyed):
                    self.codes.append((g, mask, keyed))
                    relevant[g] |= mask
        gm, gg = GROUP_OF_KIND["measure"], GROUP_OF_KIND["gap"]
        self.masks = (gm, relevant[gm], gg, relevant[gg])
        self.memo: dict[tuple[int, int, int, int], frozenset[tuple[str, str, str]]] = {}

    def keys(self, masks: tuple[int, int, int, int]) -> frozenset[tuple[str, str, str]]:
        """The wanted selector keys for (measure fired, measure unknown, gap fired, gap unknown) masks."""
        gm = self.masks[0]
        out: set[tuple[str, str, str]] = set()
        for g, mask, keyed in self.codes:
            fm, um = (masks[0], masks[1]) if g == gm else (masks[2], masks[3])
            bits = fm & mask or um & mask  # the certain finding's rules, else the uncertain one's
            out.update(k for b, k in keyed if k is not None and bits >> b & 1)
        return frozenset(out)


class _Every:
    """Holds every key: all selectors wanted."""

    def __contains__(self, key: object) -> bool:
        return True


_EVERY: Final = _Every()


def _compile(program: Program, on: date) -> _Select | None:
    """``on``: any day of the program's span (the parameter values folded in are the span's)."""
    chain = program.chain
    todo = [(rule, key, sel) for rule, _, _ in program.rules for key, sel in rule.selectors.items()]
    if not todo:
        return None
    c = _Compiler(chain, on, program.start, program.until)
    c.fact_index = dict(program.fact_index)
    members = c.collection("members")
    facts = sorted({n.key for _, _, s in todo for n in _walk(s.where) if isinstance(n, Name) and n.ref == "fact"})
    for name in facts:
        c.emit(f"F_{_ident(name)} = values[{program.fact_index[name]}]")
    c.emit("out = {}")
    for rule, (kind, code), sel in todo:
        key = c.const((rule.id, kind, code))
        c.emit(f"# {rule.id} {kind}:{code} members where {sel.source!r} ({sel.loc})")
        c.branch(f"if {key} in wanted:")
        c.emit("yes = []")
        c.emit("maybe = []")
        c.branch(f"if {members} is not U:")
        var = c.new("m")
        c.branch(f"for i, {var} in enumerate({members}, 1):")
        c.loop_vars.append((var, "members"))
        w = c.expr(sel.where)
        if sel.not_delivered:
            cv, both = c.new("cv"), c.new("t")
            measures = c.collection("monitoring.measures")
            types = c.const(frozenset(sel.not_delivered))
            c.emit(f"{cv} = _covered({measures}, {types}, as_of, {var}.member_id)")
            c.emit(f"{both} = False if ({w} is False or {cv} is True) else (U if ({w} is U or {cv} is U) else True)")
            w = both
        c.loop_vars.pop()
        c.emit(f"if {w} is True:")
        c.emit("    yes.append(i)")
        c.emit(f"elif {w} is U:")
        c.emit("    maybe.append(i)")
        c.end()
        c.end()
        c.emit(f"out[{key}] = (tuple(yes), tuple(maybe))")
        c.end()
    lines = ["def select(h, as_of, values, wanted):"]
    lines += ["    " + line for line in c.render_prologue()]
    lines += c.lines
    lines.append("    return out")
    source = "\n".join(lines) + "\n"
    # The names the Python target's generated code calls (the same objects its programs get).
    helpers = (
        _add_months,
        _set_values,
        _end_of_month,
        _lacking,
        _has_unknown,
        _item,
        _covered,
        _month_cut,
    )
    namespace: dict[str, Any] = {f.__name__: f for f in helpers}
    namespace.update({"U": UNKNOWN, "Decimal": Decimal, "timedelta": timedelta, "_delta": _whole, **c.consts})
    compiled = cached_code(source, f"<eligibility members {program.key}>")
    exec(compiled, namespace)  # our own generated source; no text from a rule file is code
    program.__dict__["selector_source"] = source
    fn: _Select = namespace["select"]
    return fn


def _covered(measures: Any, types: frozenset[str], as_of: date, member_id: str) -> Any:
    """:func:`eligibility.members.covered` over the measure models themselves (the target's own form)."""
    if measures is UNKNOWN:
        return UNKNOWN
    unsure = False
    for m in measures:
        kind = m.type
        if kind is not None and kind._value_ not in types:
            continue
        on = m.delivered_on
        if on is not None and on > as_of:
            continue
        if m.member_id is not None and m.member_id != member_id:
            continue
        if kind is None or on is None:
            unsure = True
        else:
            return True
    return UNKNOWN if unsure else False


def attach(program: Program, h: Any, as_of: date, values: tuple[Any, ...], assistance: Any) -> Any:
    """``assistance`` (a :class:`~eligibility.decision.Assistance`) with each measure's and gap's members
    (:func:`eligibility.members.combine`); the same object when nothing names members."""
    if not assistance.required and not assistance.gaps:
        return assistance
    chosen = selections(program, h, as_of, values)
    if not chosen:
        return assistance
    return with_members(h, assistance, chosen)


def with_members(h: Any, assistance: Any, chosen: dict[tuple[str, str, str], Any]) -> Any:
    """``assistance`` with each measure's and gap's members as the selectors ``chosen`` name them
    (:func:`selections` of this household); the engine calls it for every household whose findings
    name a selector. Per household: the member references made once (not per finding that names
    them), and each finding copied as ``clone`` would copy it, without its generic keyword handling."""
    members = h.members
    refs: list[Any] = []

    def named(findings: tuple[Any, ...], kind: str) -> tuple[Any, ...]:
        out = []
        for f in findings:
            rules = f.rules
            # One selector's (listed, to review) is already what ``combine`` makes of it: positions
            # ascending, each member in one of the two.
            got = chosen.get((rules[0], kind, f.code)) if len(rules) == 1 else combine(rules, kind, f.code, chosen)
            if got is None:
                out.append(f)
                continue
            if kind == "gap" and not keep_gap(rules, f.code, got, chosen, members is not None):
                continue
            yes, maybe = got
            at = refs or _refs(members, refs)
            data = f.__dict__.copy()
            data["members"] = tuple([at[i] for i in yes]) if yes else ()
            data["members_to_review"] = tuple([at[i] for i in maybe]) if maybe else ()
            out.append(raw(type(f), data, f.__pydantic_fields_set__ | _MEMBER_FIELDS))
        return tuple(out)

    return clone(assistance, required=named(assistance.required, "measure"), gaps=named(assistance.gaps, "gap"))


_MEMBER_FIELDS: Final = frozenset(("members", "members_to_review"))


def _refs(members: Any, refs: list[Any]) -> list[Any]:
    """``refs`` filled with the household's member references by position (what ``members.refs`` gives,
    as the model; index 0 unused) — each shared per (position, member id)."""
    refs.append(None)
    for i, m in enumerate(members or (), 1):
        k = (i, m.member_id)
        got = _REFS.get(k)
        if got is None:
            got = raw(MemberRef, {"index": i, "member_id": k[1]}, {"index", "member_id"})
            if len(_REFS) >= 65_536:  # member ids are mostly positions ("1", "2", …): rarely full
                _REFS.clear()
            _REFS[k] = got
        refs.append(got)
    return refs


_REFS: dict[tuple[int, str], MemberRef] = {}
"""Member references shared by decisions (frozen models): a dict operation is atomic, so threads may share it."""
