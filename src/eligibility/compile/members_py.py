"""Member selectors in the Python target: one generated function per compiled program.

A program (:mod:`eligibility.compile.python`) decides the household; the rules whose conclusions name
members (``members: {where: ...}``, :mod:`eligibility.members`) then need, per member, whether the
condition holds. That is compiled here, apart from the program's hot path: the generator is the
Python target's own (same expression code, same constants folded for the span), driven over a loop on
``members``, into a second function ``select(h, as_of, values, bits)`` that returns
``{(rule id, kind, code): (members listed, members to review)}`` — positions from 1 — for the selectors
whose bits ``bits`` holds (:func:`selections` takes the keys ``wanted``: a decision needs those of the
findings it reports, the rest are skipped). Facts the conditions read come from the program's value
slots, so nothing is computed twice.

Only programs with a selector in force get one; :func:`selections` returns ``{}`` for the rest.
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Callable, Container
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from .._cache import cached_code
from .._construct import _alloc, _set_dict, _set_extra, _set_fields_set, _set_private, clone, raw
from ..decision import MemberRef
from ..expressions import UNKNOWN, Name
from ..facts import _item
from ..members import combine, keep_gap
from .findings_py import code_masks
from .python import (
    GROUP_OF_KIND,
    Program,
    _add_months,
    _bound,
    _Compiler,
    _Days,
    _end_of_month,
    _has_unknown,
    _ident,
    _item_model,
    _lacking,
    _month_cut,
    _plain_fields,
    _read_names,
    _set_values,
    _walk,
    _whole,
)

__all__ = ["attach", "functions", "named", "selections", "wanted", "with_members"]

_LOCK = threading.Lock()

_Select = Callable[
    [Any, Any, tuple[Any, ...], int], dict[tuple[str, str, str], tuple[tuple[int, ...], tuple[int, ...]]]
]
_Wanted = Callable[[Any, Any], int]


def selections(
    program: Program, h: Any, as_of: date, values: tuple[Any, ...], wanted: Container[Any] | int | None = None
) -> dict[tuple[str, str, str], Any]:
    """Every selector's (listed, to review) members on this household, or ``{}`` without selectors;
    with ``wanted``, only the selectors whose (rule id, kind, code) it holds, or — an ``int``, as
    :func:`wanted` gives it — whose bits it holds (the engine asks for those of the findings a decision
    reports)."""
    fns = functions(program, as_of)
    if fns is None:
        return {}
    if wanted is None:
        bits = -1
    elif isinstance(wanted, int):
        bits = wanted
    else:
        bits = sum(1 << n for n, key in enumerate(_selector_keys(program)) if key in wanted)
    got: dict[tuple[str, str, str], Any] = fns[0](h, as_of, values, bits)
    return got


def wanted(program: Program, as_of: date, fired: Any, unknown: Any) -> int:
    """The selectors a decision's measures and gaps name, from its conclusion masks, as bits for
    :func:`selections` (bit ``n`` for the ``n``-th of :func:`_selector_keys`; 0 when none): for each
    measure or gap code, the rules of the finding the decision reports — those that fired, else (when
    none fired) those left unknown, as :class:`~.findings_py.FindingTables` lists them — that carry a
    selector. ``as_of``: any day of the program's span.

    Why from the masks: reading each finding's rules, building a key per rule and intersecting them
    with the program's selectors cost ~4 µs a bundled household with measures; a memo on the masks'
    member-naming bits missed for four households in five never seen before. Here a function generated
    with ``select`` tests, per selector, its rule's bit in the masks of its code (a few integer operations)."""
    fns = functions(program, as_of)
    return 0 if fns is None else fns[1](fired, unknown)


def functions(program: Program, as_of: date) -> tuple[_Select, _Wanted] | None:
    """The program's generated ``select(h, as_of, values, bits)`` and ``wanted(f, u)`` (compiled on first
    need; ``as_of``: any day of the program's span), or None without selectors. What :func:`selections`
    and :func:`wanted` call; the engine calls the pair itself, looked up once a household (the two
    wrappers looked it up twice, each with its own calls — a few tenths of a µs)."""
    fns = program.__dict__.get("_selects", False)
    if fns is False:
        with _LOCK:
            fns = program.__dict__.get("_selects", False)
            if fns is False:
                fns = program.__dict__["_selects"] = _compile(program, as_of)
    got: tuple[_Select, _Wanted] | None = fns
    return got


def _selector_keys(program: Program) -> list[tuple[str, str, str]]:
    """The program's selectors, (rule id, kind, code), in the order the generated ``select`` runs them."""
    return [(rule.id, kind, code) for rule, _, _ in program.rules for kind, code in rule.selectors]


def _wanted_source(program: Program) -> list[str]:
    """The source of ``wanted(f, u)`` (see :func:`wanted`): per selector, the bit of its rule among the
    rules concluding its code, tested in the fired mask of its group if any of those rules fired, else in
    the unknown mask — so exactly the selectors of the findings :class:`~.findings_py.FindingTables`
    reports. Only bit masks and selector numbers are written into it."""
    masks: dict[tuple[str, str, str], tuple[int, int, int]] = {}
    for kind in ("measure", "gap"):
        g = GROUP_OF_KIND[kind]
        for code, mask, rules in code_masks(program, g, kind):
            for b, rid in rules:
                got = masks.get((rid, kind, code), (g, mask, 0))
                masks[(rid, kind, code)] = (got[0], mask, got[2] | 1 << b)
    lines = ["def wanted(f, u):", "    w = 0"]
    for g in (GROUP_OF_KIND["measure"], GROUP_OF_KIND["gap"]):
        lines += [f"    fm = f[{g}]", f"    um = u[{g}]", "    am = fm | um"]
        for n, key in enumerate(_selector_keys(program)):
            group, code_mask, bit = masks.get(key, (None, 0, 0))
            if group != g or not bit:
                continue  # a selector whose rule does not conclude its code in force: never wanted
            test = "am" if code_mask & (code_mask - 1) == 0 else f"(fm & {code_mask} or um & {code_mask})"
            lines += [f"    if {test} & {bit}:", f"        w |= {1 << n}"]
    lines.append("    return w")
    return lines


def _compile(program: Program, on: date) -> tuple[_Select, _Wanted] | None:
    """``on``: any day of the program's span (the parameter values folded in are the span's)."""
    chain = program.chain
    todo = [
        (rule, key, sel) for rule, _, _ in program.rules for key, sel in rule.selectors.items()
    ]  # as _selector_keys
    if not todo:
        return None
    c = _Compiler(chain, on, program.start, program.until)
    c.fact_index = dict(program.fact_index)
    members = c.collection("members")
    # Each member's fields read from its ``__dict__`` (``python._plain_field``: pydantic's ``__getattr__``
    # hook keeps CPython from specialising ``m.field``), the dicts listed once per call in the prologue
    # for every selector's loop, not taken again per selector.
    rows = f"{members}d" if _plain_fields(_item_model("members")) else members
    facts = sorted({n.key for _, _, s in todo for n in _walk(s.where) if isinstance(n, Name) and n.ref == "fact"})
    bodies: list[list[str]] = []
    for n, (rule, (kind, code), sel) in enumerate(todo):
        key = c.const((rule.id, kind, code))
        first = len(c.lines)
        c.emit(f"# {rule.id} {kind}:{code} members where {sel.source!r} ({sel.loc})")
        c.branch(f"if bits & {1 << n}:")
        c.emit("yes = []")
        c.emit("maybe = []")
        c.branch(f"if {rows} is not U:")
        var = c.new("m")
        if rows != members:
            c.branch(f"for i, {var}d in enumerate({rows}, 1):")
            c.item_dicts.add(var)
        else:
            c.branch(f"for i, {var} in enumerate({rows}, 1):")
        c.loop_vars.append((var, "members"))
        w = c.expr(sel.where)
        if sel.not_delivered:
            cv, both = c.new("cv"), c.new("t")
            measures = c.collection("monitoring.measures")
            types = c.const(frozenset(sel.not_delivered))
            c.emit(f"{cv} = _covered({measures}, {types}, as_of, {c.item('member_id')})")
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
        bodies.append(c.lines[first:])
    pieces = c.prologue_pieces()
    if rows != members:
        pieces.append(((rows,), [f"{rows} = U if {members} is U else list(_map(_DICT_OF, {members}))"]))
    pieces[:0] = [
        ((f"F_{_ident(name)}",), [f"F_{_ident(name)} = values[{program.fact_index[name]}]"]) for name in facts
    ]
    if c.daily:  # the values of the day alone, from the selectors' own memo per assessment date
        pieces.insert(0, (tuple(c.daily), [f"{', '.join(c.daily)}{',' if len(c.daily) == 1 else ''} = DAYS[as_of]"]))
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
    namespace.update({"_map": map, "_DICT_OF": _DICT_OF})
    namespace.update({"U": UNKNOWN, "Decimal": Decimal, "timedelta": timedelta, "_delta": _whole, **c.consts})
    if c.daily:  # in the namespace before ``_bound`` reads it, so ``select`` binds it as a default
        namespace["DAYS"] = _Days()
    prologue = ["    " + line for line in _guarded(pieces, [_read_names(body) for body in bodies])]
    # ``U``, the constants and the helpers as defaults (locals), as the programs bind theirs (``_bound``).
    lines = [f"def select(h, as_of, values, bits{_bound([prologue, *bodies], namespace, {})}):", *prologue]
    lines.append("    out = {}")
    lines += [line for body in bodies for line in body]
    lines.append("    return out")
    lines += _wanted_source(program)
    if c.daily:
        lines += ["def day(as_of):", *("    " + line for line in c.day_lines), f"    return ({', '.join(c.daily)},)"]
    source = "\n".join(lines) + "\n"
    program.__dict__["selector_source"] = source
    # Shared by the programs writing the same text with the same constants (see ``_SELECTS``).
    share = _share_key(source, c.consts)
    select = None if share is None else _SELECTS.get(share)
    if select is None:
        compiled = cached_code(source, "<eligibility members>")
        exec(compiled, namespace)  # our own generated source; no text from a rule file is code
        if c.daily:
            namespace["DAYS"].fn = namespace["day"]
        select = namespace["select"]
        if share is not None:
            _SELECTS[share] = select
    got: tuple[_Select, _Wanted] = (select, select.__globals__["wanted"])
    return got


_DICT_OF: Final = operator.attrgetter("__dict__")
"""A member's ``__dict__`` (``select`` lists them with ``map``: a comprehension is a function call per
household on Python 3.11)."""

_SELECTS: Final[weakref.WeakValueDictionary[Any, Any]] = weakref.WeakValueDictionary()
"""Each generated ``select`` (its ``wanted`` beside it in its namespace) by its source and constants, while
a program holds it (``Program._selects``)."""


def _share_key(source: str, consts: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes two programs' selectors the same functions: the same text, and constants of the same
    names, types and spellings (the Python target's own test of equal constants, ``_Compiler.const``);
    None — not shared — when a constant is of another type (an enum member is spelled by its class and
    name).

    Why shared (session 17): the text holds slot indexes, masks and constant names, not values, so the
    spans of a pack and packs built alike write the same: the bundled packs' 54 programs write 3. A
    fresh household's work around the program is slow mostly for reaching code no longer in the CPU's
    caches (session 16); one copy of the code per text is code other programs' households ran recently,
    specialised by the interpreter. The namespace binds the constants' values, so those are part of
    the key; its day memo (``DAYS``) depends on the date alone."""
    if not all(type(v) in _SHARED_TYPES or isinstance(v, Enum) for v in consts.values()):
        return None
    return (source, *((name, type(v), repr(v)) for name, v in consts.items()))


_SHARED_TYPES: Final = frozenset((str, int, Decimal, date, tuple, frozenset))
"""Constant types whose type and ``repr`` say their value (``_Compiler.const`` shares them so): a tuple's or
frozenset's ``repr`` spells its items' (an item of another type, spelled with its address, only ever
matches itself); a frozenset spelled in another order is not shared, which costs a copy, never an answer."""


def _guarded(pieces: list[tuple[tuple[str, ...], list[str]]], needs: list[set[str]]) -> list[str]:
    """``select``'s prologue: each piece (the locals it assigns, its statements) under ``if bits & m:``,
    ``m`` the selectors that read what it assigns — directly (``needs``: the names each selector's code
    reads) or through a later piece that does (``hd`` for the household's reads) —, unguarded when every
    selector does, left out when none does; neighbours with the same selectors share one test.

    Why: a decision wants one or two of a program's selectors (~4 per household with measures over
    the bundled packs), and the prologue read everything any of them reads — the month's anchors for
    ``age`` of a member, the monitoring section for a gap's measures delivered — ~1 µs of the ~5 µs
    ``select`` took a fresh household. A test of ``bits`` costs a few tens of ns."""
    every = (1 << len(needs)) - 1
    masks: list[int] = []
    later: list[tuple[int, set[str]]] = []  # (mask, names read) of the pieces after this one
    for defines, lines in reversed(pieces):
        mask = 0
        for n, names in enumerate(needs):
            if not names.isdisjoint(defines):
                mask |= 1 << n
        for m, names in later:
            if not names.isdisjoint(defines):
                mask |= m
        masks.append(mask)
        later.append((mask, _read_names(lines)))
    masks.reverse()
    out: list[str] = []
    test = 0
    for (_, lines), mask in zip(pieces, masks, strict=True):
        if mask == every:
            out += lines
            test = 0
        elif mask:
            if mask != test:
                out.append(f"if bits & {mask}:")
                test = mask
            out += ["    " + line for line in lines]
    return out


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
    (:func:`selections` of this household): a copy holding :func:`named`'s findings."""
    required, gaps = named(h, assistance.required, assistance.gaps, chosen)
    return clone(assistance, required=required, gaps=gaps)


def named(
    h: Any, required: tuple[Any, ...], gaps: tuple[Any, ...], chosen: dict[tuple[str, str, str], Any]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The measures and gaps with their members as the selectors ``chosen`` name them (:func:`selections`
    of this household). The engine calls it for every household whose findings name a selector and builds
    the assistance once from what it gives (before, it built one, and :func:`with_members` copied it).
    Per household: the member references made once (not per finding that names them)."""
    members = h.members
    refs: list[Any] = []
    return (
        _named(required, "measure", chosen, members, refs),
        _named(gaps, "gap", chosen, members, refs) if gaps else gaps,
    )


def _named(
    findings: tuple[Any, ...], kind: str, chosen: dict[tuple[str, str, str], Any], members: Any, refs: list[Any]
) -> tuple[Any, ...]:
    """Each finding of ``kind`` copied with its members as ``clone`` would copy it (read through its
    ``__dict__``, without ``clone``'s keyword handling); a finding no selector names, as it is; a gap
    :func:`~eligibility.members.keep_gap` drops, left out. ``refs``: the household's member references,
    filled on first need (:func:`_refs`).

    Session 19: ``raw`` written out (its four slot stores, without its call), ``keep_gap`` called only for
    a gap whose selection names nobody (for any other it returns True: one tuple comparison here instead
    of a call), and the look-up of the references bound once a call — about 4 of the 8 findings a
    household with measures passes through here are copied, each the floor of a new object.

    Session 22: the copies are kept (:data:`_COPIES`) and given again: on the bundled packs' fresh
    households (3,000 after a 3,000 warm-up) 7,159 of the 7,986 copies repeated a (finding, members
    listed, members to review) made before — the members are positions, and a measure's selector names
    the same few — so a copy is now mostly one dict look-up and two tuple comparisons. ``bench_instructions.py
    --what bundled-compact``: 562,971 → 553,690 a household with this alone (−1.65 %)."""
    out = []
    get = chosen.get
    copied = _COPIES.get
    at = None
    gap = kind == "gap"
    known = members is not None
    for f in findings:
        d = f.__dict__
        rules = d["rules"]
        # One selector's (listed, to review) is already what ``combine`` makes of it: positions
        # ascending, each member in one of the two.
        got = get((rules[0], kind, d["code"])) if len(rules) == 1 else combine(rules, kind, d["code"], chosen)
        if got is None:
            out.append(f)
            continue
        yes, maybe = got
        if gap and not yes and not maybe and not keep_gap(rules, d["code"], got, chosen, known):
            continue
        if at is None:
            at = (refs or _refs(members, refs)).__getitem__
        listed = tuple(map(at, yes)) if yes else ()
        review = tuple(map(at, maybe)) if maybe else ()
        k = (id(f), yes, maybe)
        kept = copied(k)
        if kept is not None:
            o = kept[1].__dict__
            # The same references (identical objects: the tuples compare without a model's ``__eq__``),
            # or equal ones: the kept copy is the one this household would get.
            if o["members"] == listed and o["members_to_review"] == review:
                out.append(kept[1])
                continue
        data = d.copy()
        data["members"] = listed
        data["members_to_review"] = review
        o = _alloc(type(f))  # what ``raw`` does
        _set_dict(o, data)
        _set_fields_set(o, f.__pydantic_fields_set__ | _MEMBER_FIELDS)
        _set_extra(o, None)
        _set_private(o, None)
        if len(_COPIES) >= _COPIES_SIZE:
            _COPIES.clear()
        _COPIES[k] = (f, o)  # the finding held with its copy, so its ``id`` stays its own
        out.append(o)
    return tuple(out)


_MEMBER_FIELDS: Final = frozenset(("members", "members_to_review"))

_COPIES: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[Any, Any]] = {}
"""The findings :func:`_named` made, by (finding ``id``, positions listed, positions to review), each with
its finding — shared by every program, engine and thread (frozen objects, as the findings themselves; a
dict operation is atomic). A kept copy is given again only when its member references equal this
household's (:func:`_refs`: one object per (position, member id), so mostly the very same ones).
Module-wide like :data:`_REFS` and ``engine._DATERS``, not an engine's budgeted memo: its entries are
combinations of a finding and positions, not a household's own values (1,048 after the 6,000 bundled
households above)."""

_COPIES_SIZE: Final = 4_096
"""Copies :data:`_COPIES` keeps before it starts over (an equal one is made again): ~1 KiB an entry with
its key and fields-set (``tracemalloc``), so at most ~4 MiB."""


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
