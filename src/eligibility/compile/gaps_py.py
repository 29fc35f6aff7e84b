"""The gap report as generated code, one set per compiled program (issue 9, session 10).

A decision with an unknown conclusion names the facts that would settle each open question
(``Identification.blocking`` / ``unknown``, the exit's open blockers) and the compact trace lists the
household paths that would settle every unknown fact (its ``missing``). Both follow from the node
outcomes and values of the program's run and from which household fields are absent.

Why generated code: until session 9 these were memoised per combination (of rules, outcomes, unknown
facts); on households never seen before three combinations in four were new, and each miss built a
plan (a union of leaf paths, a field plan, sometimes a compiled reader). Here the work done on a miss
is straight-line code written once per program from our own IR (the condition trees and the facts'
dependencies), compiled with :func:`compile`; rule-file text never becomes code — names and paths
travel as string literals (``repr``) and the generated source is built from integers and those
literals only.

* :attr:`GapCode.rules` — per rule, a function ``(nodes, values) -> int``: nested ``if`` blocks that go
  down the rule's condition tree (through rule references, by calling the referenced rule's function)
  only where nodes are unknown, and at an open leaf set the bits of what it asks for. A bit stands for
  one *item* (:attr:`GapCode.items`): a subject (so a subject is reported even when it asks for no
  path), a household path of a subject, or an unknown fact of a subject. A report is the union of its
  rules' masks: one int, which repeats across households far more than outcomes do.
  :attr:`GapCode.unknown` is the union over every rule that concludes something and is unknown (their
  trees written inline since session 11, a reference to a concluding rule left out: see ``_node``).
  :attr:`GapCode.guarded` gives the same mask with each concluding rule's root test under a test of the
  run's unknown masks (session 22: ~97 root tests a bundled household with an open question, ~6 of
  them unknown; see :func:`_guarded`) — what the engine calls.
* :attr:`GapCode.facts` — ``(values, household, wanted) -> {fact: paths}``: for each wanted fact that is
  unknown, in the program's fact order (dependencies first), the sorted household paths that would
  settle it — its own absent fields and those of the unknown facts it reads — the same lists
  ``engine._Run.missing_of_fact`` walks to, each a list of its own. It reads the models' ``__dict__``
  (as the programs do, session 19: see :class:`_Reads`), and an item field's path from a table per
  (collection, field) (:func:`_item_paths`).

The engine keeps, per mask, a report side's subjects in name order with their static paths and facts
(``engine._GapSide``, each subject's share as ``engine._GapPart``); per household only
:attr:`GapCode.facts` runs, for the facts those subjects name. Those memos are shared by the programs of
one chain writing the same text with the same items and fact bits (session 22: the bundled packs' ~160
programs by (chain, span) each filled its own, and a fresh household's subject parts missed ~2.4 times
as often). The old per-rule and per-set memos
(``_gap_oracle._RuleGap``, ``_gap_oracle._MissingPlan``) stay as the test oracle (``tests/test_engine_gaps*.py``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .._cache import cached_code
from ..conditions import Leaf, RuleRef
from ..expressions import UNKNOWN
from ..facts import CATALOGUE

if TYPE_CHECKING:
    from .python import CondNode, Program

__all__ = ["FieldEntry", "GapCode", "gap_code", "namespace", "plan_fields"]

FieldEntry = tuple[str | None, str, str, str | None]
"""How to find a household field: (section or None, attribute, JSON path, item field or None)."""

Item = tuple[str, str, str]
"""What a bit of a rule's mask stands for: (subject, ``""`` | ``"path"`` | ``"fact"``, path or fact)."""

RuleGaps = Callable[[Any, tuple[Any, ...]], int]
FactPaths = Callable[[tuple[Any, ...], Any, int], dict[str, list[str]]]

_LOCK: Final = threading.Lock()


def plan_fields(fields: frozenset[str]) -> tuple[FieldEntry, ...]:
    """How to find the absent ones among a fact's household fields, in path order; a path that is not
    a household field (not in the catalogue, not an item path) is never reported (as
    :func:`eligibility.facts.missing_paths`)."""
    plan = []
    for p in sorted(fields):
        coll, _, sub = p.partition("[].")
        if not sub and CATALOGUE.get(p) is None:
            continue
        sec, _, attr = coll.partition(".") if "." in coll else (None, "", coll)
        plan.append((sec, attr, "$." + coll, sub or None))
    return tuple(plan)


class GapCode:
    """The generated gap-report functions of one program (see the module docstring), and the engine's
    memo of reports by their masks (``memo``: bounded by the engine's ``_keep``)."""

    __slots__ = (
        "all_facts",
        "fact_bits",
        "facts",
        "guarded",
        "items",
        "memo",
        "parts",
        "rules",
        "shared",
        "source",
        "subject_at",
        "subject_bits",
        "unknown",
    )

    def __init__(
        self,
        rules: dict[str, RuleGaps],
        unknown: RuleGaps,
        items: tuple[Item, ...],
        facts: FactPaths,
        fact_bits: dict[str, int],
        source: str,
        guarded: Callable[[Any, tuple[Any, ...], tuple[int, ...]], int],
    ) -> None:
        self.rules, self.unknown, self.items, self.facts = rules, unknown, items, facts
        self.guarded = guarded
        """``unknown`` under tests of the run's unknown masks (:func:`_guarded`): the same mask."""
        self.fact_bits, self.source = fact_bits, source
        self.subject_bits: dict[str, int] = {}
        """Per subject, the bits of all its items (to leave a subject out of a mask)."""
        for n, (subject, _, _) in enumerate(items):
            self.subject_bits[subject] = self.subject_bits.get(subject, 0) | 1 << n
        self.subject_at = tuple(self.subject_bits[subject] for subject, _, _ in items)
        """Per bit, the bits of its subject's items. Items are numbered in subject name order, so the
        subjects of a mask, lowest bit first, come in name order — the order a report lists them in."""
        self.parts: dict[int, Any] = {}
        """Per subject's share of a mask (``mask & subject_bits[subject]``: disjoint between subjects),
        what it asks for (``engine._GapPart``); bounded by the engine (starts over when full)."""
        self.all_facts = 0
        """``wanted`` for every fact of the program (the compact trace's ``missing``)."""
        for bits in fact_bits.values():
            self.all_facts |= bits
        self.memo: dict[Any, Any] = {}
        self.shared: object = None
        """The compiled functions' holder (``_Compiled``), shared with programs writing the same source."""


def gap_code(program: Program) -> GapCode:
    """The :class:`GapCode` of ``program``, generated on first need and kept on it (thread-safe)."""
    got: GapCode | None = program.__dict__.get("_gap_code")
    if got is None:
        with _LOCK:
            got = program.__dict__.get("_gap_code")
            if got is None:
                got = program.__dict__["_gap_code"] = _generate(program)
    return got


class _Writer:
    """Source lines with their indentation, and the item numbering of one program."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.items: dict[Item, int] = {}

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def bit(self, item: Item) -> int:
        n = self.items.get(item)
        if n is None:
            n = self.items[item] = len(self.items)
        return 1 << n


def _asked(subject: str, name: str, kind: str) -> Item | None:
    """The item an unknown value asks for (as the old walk's ``ask``): an unknown fact by name, a
    household field by its path when it is one, nothing otherwise."""
    if kind == "fact":
        return (subject, "fact", name)
    if CATALOGUE.get(name) is not None:
        return (subject, "path", f"$.{name}")
    return None


def _leaf(w: _Writer, n: CondNode, c: Leaf, depth: int) -> None:
    """An open leaf: the bits of its subject and of the unknown values it reads. A leaf unknown only
    for a parameter without a value asks for nothing (that is ``Decision.missing_parameters``)."""
    operands = [
        (o.kind, o.name, x)
        for o, (how, x) in zip(c.operands, n.operands, strict=True)
        if how == "value" and o.kind in ("fact", "field")
    ]
    gap = any(o.kind == "param" and hit is None for o, hit in zip(c.operands, n.hits, strict=True))
    tests = ([f"v[{n.actual}] is U"] if n.actual is not None else []) + [f"v[{x}] is U" for _, _, x in operands]
    if gap:
        if not tests:
            return  # never asks: the old walk skipped it every time
        w.emit(depth, f"if {' or '.join(tests)}:")
        depth += 1
    w.emit(depth, f"m |= {w.bit((c.subject, '', ''))}")
    asks = []
    if n.actual is not None:
        asks.append((n.actual, _asked(c.subject, c.subject, c.ref)))
    asks += [(x, _asked(c.subject, name, kind)) for kind, name, x in operands]
    for x, item in asks:
        if item is not None:
            w.emit(depth, f"if v[{x}] is U:")
            w.emit(depth + 1, f"m |= {w.bit(item)}")


def _node(
    w: _Writer,
    n: CondNode,
    depth: int,
    fn_of: dict[str, str],
    alias: dict[str, str],
    covered: frozenset[str] = frozenset(),
) -> None:
    """A node reached through unknown nodes: its own test, then its children, its leaf or its rule.

    ``covered``: rules whose whole mask the function being written adds anyway (``unknown``: every rule
    that concludes something), so a reference to one of them adds nothing and is left out. Exact: a
    rule's function gives 0 unless its root is unknown, and ``unknown`` ors in every concluding rule's
    function, so a nested call could only add bits already there (on the bundled packs a rule reference
    walked the referenced rule's tree a second time, for most references)."""
    w.emit(depth, f"if n[{n.index}] is U:")
    inner = len(w.lines)
    for k in n.children:
        _node(w, k, depth + 1, fn_of, alias, covered)
    c = n.cond
    if isinstance(c, Leaf):
        _leaf(w, n, c, depth + 1)
    elif isinstance(c, RuleRef):
        rid = alias.get(c.rule, c.rule)
        sub = fn_of.get(rid)
        if sub is not None and rid not in covered:
            w.emit(depth + 1, f"m |= {sub}(n, v)")
    if len(w.lines) == inner:
        w.lines.pop()  # nothing below asks for anything


class _Reads:
    """How ``facts`` reads the household, and the per-call locals it keeps while doing so.

    Why from ``__dict__`` (session 19): pydantic's ``BaseModel`` defines ``__getattr__``, so every
    ``getattr(model, 'field', None)`` takes CPython's generic path through that hook (two type look-ups
    more a read, and a call of the builtin), where ``d['field']`` on the ``__dict__`` taken once per object
    is a specialised subscript giving the same object — for a field pydantic stores there and no data
    descriptor of the class hides (:func:`eligibility.compile.python._plain_field`, what the programs read
    the same way by). Any other attribute is read as before, ``getattr(x, name, None)``."""

    def __init__(self) -> None:
        self.top: dict[str, str] = {}
        """Per top-level attribute read, its local (``t{k}``: ``R`` until the first fact reading it)."""
        self.sections: dict[str, str] = {}
        """Per section, its local (``s{k}``): the section's ``__dict__`` (or the section itself when a field
        it reads is not plain, see ``plain``), ``None`` when absent, ``R`` until first read."""
        self.plain: dict[str, bool] = {}
        """Per section, whether its local holds its ``__dict__``."""
        self.tables: dict[tuple[str, str], str] = {}
        """Per (collection path, item field), the name of its table of item paths (``P{k}``)."""

    def hd(self) -> bool:
        """Whether ``facts`` takes ``hd = h.__dict__`` (some top-level read is plain)."""
        return any(_plain(None, attr) for attr in [*self.top, *self.sections])

    def value(self, entry: FieldEntry) -> str:
        """An expression giving the entry's field (its collection, for an item path), or None; its locals
        are made sure of first by :meth:`pre`."""
        sec, attr, _, _ = entry
        if sec is None:
            return self.top[attr]
        local = self.sections[sec]
        if self.plain[sec]:
            return f"(None if {local} is None else {local}[{attr!r}])"
        return f"(None if {local} is None else getattr({local}, {attr!r}, None))"

    def absent(self, entry: FieldEntry) -> str:
        """A test that the entry's (non-item) field is absent."""
        sec, attr, _, _ = entry
        if sec is None:
            return f"{self.top[attr]} is None"
        local = self.sections[sec]
        if self.plain[sec]:
            return f"{local} is None or {local}[{attr!r}] is None"
        return f"{local} is None or getattr({local}, {attr!r}, None) is None"

    def pre(self, plan: tuple[FieldEntry, ...], pad: str) -> list[str]:
        """The statements reading, on first need in this call, the top-level fields and sections the plan
        reads (not once per call before any fact: a household not seen before is not in the CPU's caches,
        and most calls want a few facts that read one or two sections)."""
        lines: list[str] = []
        seen: set[tuple[str, str]] = set()
        for sec, attr, _, _ in plan:
            key = ("t", attr) if sec is None else ("s", sec)
            if key in seen:
                continue
            seen.add(key)
            name = attr if sec is None else sec
            read = f"hd[{name!r}]" if _plain(None, name) else f"getattr(h, {name!r}, None)"
            if sec is None:
                local = self.top.setdefault(attr, f"t{len(self.top)}")
                lines += [f"{pad}if {local} is R:", f"{pad}    {local} = {read}"]
                continue
            local = self.sections.setdefault(sec, f"s{len(self.sections)}")
            lines += [f"{pad}if {local} is R:", f"{pad}    {local} = {read}"]
            if self.plain[sec]:
                lines += [f"{pad}    if {local} is not None:", f"{pad}        {local} = {local}.__dict__"]
        return lines

    def table(self, path: str, sub: str) -> str:
        """The name of the table of ``{path}[i].{sub}`` paths (see :func:`_item_paths`)."""
        return self.tables.setdefault((path, sub), f"P{len(self.tables)}")


def _plain(sec: str | None, attr: str) -> bool:
    """Whether attribute ``attr`` of the household (``sec`` None) or of its section ``sec`` is always the
    object's ``__dict__[attr]`` (see :class:`_Reads`)."""
    from ..models import Household
    from .python import _field_annotation, _plain_field  # (python.py does not import this module)

    return _plain_field(Household if sec is None else _field_annotation(sec), attr)


def _item_plain(coll: str, sub: str) -> bool:
    """Whether item field ``sub`` of collection ``coll``'s items is always in the item's ``__dict__``."""
    from .python import _item_model, _plain_field

    return _plain_field(_item_model(coll), sub)


_TABLE: Final = 32
"""Item paths kept per (collection, item field): items 0–31 (a 户 rarely has twenty members); a later item's
path is built as before."""


def _item_paths(head: str, tail: str) -> tuple[str, ...]:
    """``head + str(i) + tail`` for the first :data:`_TABLE` items — built once per source, not per absent
    item field of every household (two concatenations and a ``str`` call each)."""
    return tuple(f"{head}{i}{tail}" for i in range(_TABLE))


def _reads(
    into: str, plan: tuple[FieldEntry, ...], reads: _Reads, shared: dict[FieldEntry, str], depth: int
) -> list[str]:
    """Statements appending the plan's absent JSON paths to the list ``into``: a test per field, and per
    collection one loop over its items testing each item field the plan names (a collection that is
    absent is its own path) — an item field other facts read too from its local in ``shared``, filled
    by the first fact of the call that reads it. Paths are appended in plan order (sorted) when the plan
    has no item field: ``facts`` sorts only lists that may be out of order."""
    pad = "    " * depth
    lines = reads.pre(plan, pad)
    collections: dict[FieldEntry, list[str]] = {}
    for entry in plan:
        sub = entry[3]
        if sub is None:
            lines += [f"{pad}if {reads.absent(entry)}:", f"{pad}    {into}.append({entry[2]!r})"]
        elif entry in shared:
            local = shared[entry]
            lines += [f"{pad}if {local} is None:", f"{pad}    {local} = []"]
            lines += _loop(local, entry, [sub], reads, depth + 1)
            lines.append(f"{pad}{into} += {local}")
        else:
            collections.setdefault((*entry[:3], None), []).append(sub)
    for entry, subs in collections.items():
        lines += _loop(into, entry, subs, reads, depth)
    return lines


def _loop(into: str, entry: FieldEntry, subs: list[str], reads: _Reads, depth: int) -> list[str]:
    """Statements appending to ``into`` the paths of the item fields ``subs`` absent from the items of
    the entry's collection (the collection's own path when it is absent): an item's fields from its
    ``__dict__`` (taken once an item when it reads more than one), an item's path from the table of its
    field (:func:`_item_paths`)."""
    pad = "    " * depth
    path = entry[2]
    coll = path[2:]
    lines = [
        f"{pad}fv = {reads.value(entry)}",
        f"{pad}if fv is None:",
        f"{pad}    {into}.append({path!r})",
        f"{pad}else:",
        f"{pad}    for i, x in enumerate(fv):",
    ]
    plain = [_item_plain(coll, sub) for sub in subs]
    if sum(plain) > 1:
        lines.append(f"{pad}        xd = x.__dict__")
    for sub, is_plain in zip(subs, plain, strict=True):
        get = f"getattr(x, {sub!r}, None)"
        if is_plain:  # (an item reading one field: the attribute, one look-up, as taking its ``__dict__``)
            get = f"xd[{sub!r}]" if sum(plain) > 1 else f"x.{sub}"
        table = reads.table(path, sub)
        lines += [
            f"{pad}        if {get} is None:",
            f"{pad}            {into}.append({table}[i] if i < {_TABLE} else {path + '['!r} + str(i) + {'].' + sub!r})",
        ]
    return lines


_NOT_READ: Final = object()
"""``R`` in ``facts``: a field or section of the household not read yet in this call."""

_CHUNK: Final = 8
"""Facts per test of ``W`` in ``facts`` (about the square root of a bundled program's fact count)."""


def _fact_lines(
    chunk: list[Any],
    order: dict[str, int],
    plans: dict[str, tuple[FieldEntry, ...]],
    deps: dict[str, list[str]],
    some: set[str],
    reads: _Reads,
    shared: dict[FieldEntry, str],
) -> list[str]:
    """The lines of ``facts`` for these facts (one chunk, inside its test of ``W``): statements, not one
    list display of starred reads (session 12: a list comprehension per item field is a function call
    in CPython 3.11, and the reads shared between facts were cached in locals every call had to set
    first; a loop per collection and no cache took half the time on the benchmark households).

    A fact reading no item field and no other fact's paths appends its paths in their sorted order, each
    once (:func:`plan_fields` is sorted, and a path is ``"$." + field``): its list is left as it is, not
    sorted again (session 19)."""
    body: list[str] = []
    for s in chunk:
        k = order[s.name]
        body += [f"        if W & {1 << k} and v[{s.index}] is U:", f"            f{k} = []"]
        body += _reads(f"f{k}", plans[s.name], reads, shared, 3)
        inputs = [d for d in deps[s.name] if d in some]
        body += [f"            f{k} += f{order[d]}" for d in inputs]
        if inputs or any(e[3] is not None for e in plans[s.name]):
            body += [f"            if len(f{k}) > 1:", f"                f{k} = sorted(set(f{k}))"]
        body += [f"            if f{k}:", f"                out[{s.name!r}] = f{k}"]
    return body


def _facts_source(program: Program) -> tuple[list[str], dict[str, int]]:
    """The source of ``facts(v, h, W)`` (with the tables of item paths it reads, first) and each fact's
    bit in ``W`` (its own and its dependencies')."""
    chain = program.chain
    order = {s.name: k for k, s in enumerate(program.facts)}
    plans = {s.name: plan_fields(chain.facts[s.name].fields) for s in program.facts}
    deps = {
        s.name: sorted((d for d in chain.facts[s.name].facts if d in order), key=order.__getitem__)
        for s in program.facts
    }
    # Which facts can ever have a path: own fields, or a dependency that can.
    some: set[str] = set()
    for s in program.facts:
        if any(order[d] >= order[s.name] for d in deps[s.name]):
            raise ValueError(f"facts of {program.key} are not in dependency order at {s.name}")
        if plans[s.name] or any(d in some for d in deps[s.name]):
            some.add(s.name)
    reads = _Reads()
    # A section's local holds its ``__dict__`` when every field the program's facts read of it is plain.
    for plan in plans.values():
        for sec, attr, _, _ in plan:
            if sec is not None:
                reads.plain[sec] = reads.plain.get(sec, True) and _plain(sec, attr)
    # Item fields more than one fact reads: their paths are worked out once per call (all facts are
    # wanted for the compact trace's ``missing``, and the bundled programs have ~20 member facts).
    uses: dict[FieldEntry, int] = {}
    for plan in plans.values():
        for e in plan:
            if e[3] is not None:
                uses[e] = uses.get(e, 0) + 1
    shared = {e: f"a{k}" for k, e in enumerate(e for e, count in uses.items() if count > 1)}
    body: list[str] = []
    # In chunks of _CHUNK facts, each under one test of its bits in ``W``: a report wants few facts, so
    # most chunks are passed over with one test instead of one per fact (the bundled programs have up
    # to ~70 facts). The same lines run for every ``W``: a chunk's facts each test their own bit too.
    wanted = [s for s in program.facts if s.name in some]
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        body.append(f"    if W & {sum(1 << order[s.name] for s in chunk)}:")
        body += _fact_lines(chunk, order, plans, deps, some, reads, shared)
    tables = [f"{name} = _item_paths({path + '['!r}, {'].' + sub!r})" for (path, sub), name in reads.tables.items()]
    head = ["def facts(v, h, W, U=U, R=R):", "    out = {}"]
    if reads.hd():
        head.append("    hd = h.__dict__")
    if shared:
        head.append(f"    {' = '.join(shared.values())} = None")
    locals_ = [*reads.top.values(), *reads.sections.values()]
    if locals_:
        head.append(f"    {' = '.join(locals_)} = R")
    # In program order, not the set's: the source must be the same in every process, as its compiled code
    # is cached by its text (``cached_code``) and a string set's order changes with PYTHONHASHSEED.
    head += [
        f"    f{order[name]} = ()" for name in sorted(some, key=order.__getitem__) if any(name in deps[o] for o in some)
    ]
    closure: dict[str, int] = {}
    for s in program.facts:  # dependencies first: a fact's bits are its own and its dependencies'
        closure[s.name] = (1 << order[s.name]) | sum(closure[d] for d in set(deps[s.name]))
    return [*tables, *head, *body, "    return out"], closure


def _generate(program: Program) -> GapCode:
    """Write and compile the program's gap-report functions (see the module docstring)."""
    chain = program.chain
    fn_of = {rule.id: f"r{k}" for k, (rule, _, _) in enumerate(program.rules)}
    first = _Writer()  # a first pass finds the items, numbered then in subject order (``subject_at``)
    for _, _, root in program.rules:
        _node(first, root, 1, fn_of, chain.alias)
    w = _Writer()
    w.items = {item: n for n, item in enumerate(sorted(first.items))}
    for rule, _, root in program.rules:
        w.emit(0, f"def {fn_of[rule.id]}(n, v, U=U):")
        w.emit(1, "m = 0")
        _node(w, root, 1, fn_of, chain.alias)
        w.emit(1, "return m")
    # Every rule that concludes something and is unknown: their trees written inline, one function
    # (a call per unknown rule, and a second walk of each referenced concluding rule, cost more than
    # the walk itself on the bundled packs). The same bits as or-ing the rules' functions (``_node``).
    w.emit(0, "def unknown(n, v, U=U):")
    w.emit(1, "m = 0")
    concluding = frozenset(rule.id for rule, _, _ in program.rules if rule.conclusions)
    trees: dict[str, list[str]] = {}  # each concluding rule's tree as ``unknown`` writes it, for ``guarded``
    for rule, _, root in program.rules:
        if rule.conclusions:
            at = len(w.lines)
            _node(w, root, 1, fn_of, chain.alias, concluding)
            trees[rule.id] = w.lines[at:]
    w.emit(1, "return m")
    _guarded(w, program, trees)
    facts_lines, closure = _facts_source(program)
    shared = _compiled("\n".join([*w.lines, *facts_lines]) + "\n")
    if len(w.items) != len(first.items):  # pragma: no cover - both passes walk the same trees
        raise AssertionError(f"gap items of {program.key} differ between passes")
    items = tuple(sorted(w.items, key=w.items.__getitem__))
    ns = shared.ns
    rules = {rid: ns[name] for rid, name in fn_of.items()}
    got = GapCode(rules, ns["unknown"], items, ns["facts"], closure, shared.source, ns["guarded"])
    got.shared = shared
    # The memos of sides and parts shared by the chain's programs writing this text with these items and
    # fact bits: a mask means the same items, a part the same subject, paths, facts and labels there. (The
    # bundled packs' programs by span each filled their own: side misses 0.60 → 0.56, part misses 0.24 →
    # 0.10 a fresh bundled household; 557,096 → 555,315 instructions a household, session 22.)
    memos: dict[Any, tuple[dict[Any, Any], dict[int, Any]]] = chain.__dict__.setdefault("_gap_memos", {})
    key = (shared.source, items, tuple(sorted(closure.items())))
    kept = memos.get(key)
    if kept is None:
        kept = memos[key] = (got.memo, got.parts)
    got.memo, got.parts = kept
    return got


_GUARD_CHUNK: Final = 6
"""Concluding rules per test of their bits in ``guarded`` (within one conclusion group's mask)."""


def _guarded(w: _Writer, program: Program, trees: dict[str, list[str]]) -> None:
    """``guarded(n, v, u)``: what ``unknown(n, v)`` gives, each concluding rule's tree under a test of the
    run's unknown masks ``u`` (the program's fourth result, one mask per conclusion group).

    Why: ``unknown`` tests every concluding rule's root (~97 on the bundled programs' fresh households
    with an open question), of which ~6 are unknown (median 3). A rule's root is unknown exactly when
    its bit is set in the unknown mask of every group it concludes in (the program sets ``u{i} |= bit``
    when the rule's outcome is neither True nor False: ``python._masks``), so each rule is put under its
    lowest group's mask: one test of ``u[g]`` per group that has such rules, then one of the bits of
    each chunk of :data:`_GUARD_CHUNK` of them, then the roots as in ``unknown``. Measured (callgrind,
    ``bench_instructions.py``, 2,000 fresh households): bundled ``compact`` 563,688 → 557,096 instructions a
    household; ``sys.settrace`` lines 99.7 (``unknown``) → 54.1 (``guarded``) a bundled household.

    ``trees``: each concluding rule's lines as ``unknown`` wrote them (one level in), taken as they are —
    walking the trees again cost a fifth of generating a program's gap code (about 2 ms a program on
    the bundled packs' first decisions: the rows of a mixed batch decided household by household, the
    first decision of a new process)."""
    where: dict[str, tuple[int, int]] = {}  # rule id -> (its lowest group, its bit there)
    for g, group in enumerate(program.conclusion_bits):
        for j, cs in enumerate(group):
            where.setdefault(cs[0][2], (g, 1 << j))
    by_group: dict[int, list[tuple[int, list[str]]]] = {}
    for rule, _, _ in program.rules:
        if not rule.conclusions:
            continue
        g, bit = where[rule.id]  # (a concluding rule has a bit in some group: ``Program.conclusion_bits``)
        lines = [line[4:] for line in trees[rule.id]]  # (written one level in: ``    `` off each)
        if lines:  # (a rule whose tree asks for nothing is left out, as in ``unknown``)
            by_group.setdefault(g, []).append((bit, lines))
    w.emit(0, "def guarded(n, v, u, U=U):")
    w.emit(1, "m = 0")
    for g, rules in sorted(by_group.items()):
        chunks = [rules[k : k + _GUARD_CHUNK] for k in range(0, len(rules), _GUARD_CHUNK)]
        if len(chunks) == 1:
            w.emit(1, f"if u[{g}]:")
            depth = 2
        else:
            w.emit(1, f"x = u[{g}]")
            w.emit(1, "if x:")
            depth = 3
        for chunk in chunks:
            if len(chunks) > 1:
                w.emit(2, f"if x & {sum(bit for bit, _ in chunk)}:")
            for _, lines in chunk:
                w.lines += ["    " * depth + line for line in lines]
    w.emit(1, "return m")


def namespace() -> dict[str, Any]:
    """The names a gap-report source is executed with (the unknown value, the not-read marker, the maker of
    its tables of item paths)."""
    return {"U": UNKNOWN, "R": _NOT_READ, "_item_paths": _item_paths}


class _Compiled:
    """The functions compiled from one gap-report source (:func:`_compiled`), held by every
    :class:`GapCode` whose program wrote that source."""

    __slots__ = ("__weakref__", "ns", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.ns = namespace()
        # Our own source (see the module docstring); its compiled code is cached on disk like the
        # programs' (the compile is ~20 ms of a bundled program's first decision with an open question in
        # a new process). The file name is the source's, not one program's: programs share it.
        exec(cached_code(source, "<eligibility gaps>"), self.ns)


_COMPILED: Final[weakref.WeakValueDictionary[str, _Compiled]] = weakref.WeakValueDictionary()
"""The compiled gap-report functions by their source, while a program's :class:`GapCode` holds them."""


def _compiled(source: str) -> _Compiled:
    """The functions of ``source``, compiled once and shared by every program that writes the same text
    (called under ``_LOCK``).

    Why shared (session 17): the text holds only node and value indexes, bit masks and household
    paths, so the spans of a pack — and packs built alike — write the same text: the bundled packs' 54
    programs write 9 (marshalled, 1.2 MB of code instead of 6.9 MB when each program compiled its own). A
    fresh household's gap report is slow mostly for reaching code and data no longer in the CPU's caches
    (session 16: 2.5× its own replay); one copy per text is code other programs' households have run
    recently, already specialised by the interpreter, and the functions keep one namespace, so their
    calls of one another (``r{k}``) stay specialised too. Same text, same functions: the answers are
    those of each program's own copy."""
    got = _COMPILED.get(source)
    if got is None:
        got = _COMPILED[source] = _Compiled(source)
    return got
