"""缺口报告的测试对照 / The gap report's test oracles: how the engine worked out the facts that would
settle an open question before its generated gap code (sessions 8–9), kept as the independent answer the
tests compare :meth:`Engine._open <eligibility.engine.Engine._open>` and :meth:`Engine._missing
<eligibility.engine.Engine._missing>` with (``tests/test_engine_gaps.py``, ``tests/test_engine_gaps_property.py``).

Why a module of its own: none of this runs when the engine decides a household (since session 10 the gap
report comes from :mod:`eligibility.compile.gaps_py`'s masks). It walks each rule's condition leaves with the
node indices above them and reads which are open — a different method from the generated code's, which is
what makes it worth comparing against. Its memos live on the program (``_missing_plans``, ``_rule_gaps``,
``_settle_plans``) and are counted and cleared by the engine's ``memo_sizes`` / ``_start_over``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .compile.gaps_py import plan_fields
from .compile.manifest import value_getter
from .compile.python import CondNode, Program
from .conditions import Leaf, RuleRef
from .decision import MissingFact
from .engine import _SHAPE_CACHE_SIZE, Engine, _absent_of, _Memo, _Run, _Status
from .expressions import UNKNOWN
from .facts import CATALOGUE
from .models import Household

__all__ = ["missing_planned", "open_planned"]


LeafPath = tuple[tuple[int, ...], CondNode, str, str, tuple[tuple[str, str, int], ...], bool]


def _leaf_paths(program: Program) -> dict[str, list[LeafPath]]:
    """Per rule of the program: each condition leaf reachable from its root — through rule references —
    with the node indices on the way down (the leaf's included), its subject, and its fact or field
    operands' value slots. Built once per program and kept on it."""
    got: dict[str, list[LeafPath]] | None = program.__dict__.get("_leaf_paths")
    if got is not None:
        return got
    chain = program.chain
    roots = {rule.id: root for rule, _, root in program.rules}

    def down(n: CondNode, above: tuple[int, ...], out: list[LeafPath]) -> None:
        path = (*above, n.index)
        for k in n.children:
            down(k, path, out)
        c = n.cond
        if isinstance(c, Leaf):
            operands = tuple(
                (o.kind, o.name, x)
                for o, (how, x) in zip(c.operands, n.operands, strict=True)
                if how == "value" and o.kind in ("fact", "field")
            )
            gap = any(o.kind == "param" and hit is None for o, hit in zip(c.operands, n.hits, strict=True))
            out.append((path, n, c.subject, c.ref, operands, gap))
        elif isinstance(c, RuleRef):
            sub = roots.get(chain.alias.get(c.rule, c.rule))
            if sub is not None:
                down(sub, path, out)

    flat: dict[str, list[LeafPath]] = {}
    for rid, root in roots.items():
        down(root, (), flat.setdefault(rid, []))
    program.__dict__["_leaf_paths"] = flat
    return flat


@dataclass
class _MissingPlan:
    """For one program and one set of rules: their condition leaves with the paths above them, the node
    outcomes and the value slots that decide which leaves are open, and the answers seen so far.

    A leaf that reads one household value (the others are constants) is unknown exactly when that value
    is, so its node's outcome says all; only leaves reading two values, or a parameter without a value,
    need their values' unknown-ness in the key. (Walking down from the roots through unknown nodes
    instead, to key on the open leaves alone, cost more: a bundled pack's households leave about ten
    leaves open among some forty-five nodes, and reading forty-five outcomes at C speed wins.)"""

    flat: dict[str, list[LeafPath]]
    nodes: Callable[[Any], tuple[Any, ...]]
    extra: tuple[int, ...]
    memo: dict[Any, Any] = field(default_factory=dict)

    def key(self, nodes: tuple[Any, ...], values: tuple[Any, ...]) -> Any:
        """What the answer depends on: the outcomes of the nodes on the leaves' paths, and which of the
        extra values are unknown."""
        if self.extra:
            return (self.nodes(nodes), tuple([values[x] is UNKNOWN for x in self.extra]))
        return self.nodes(nodes)


def _missing_plan(program: Program, rule_ids: tuple[str, ...]) -> _MissingPlan:
    plans: dict[tuple[str, ...], _MissingPlan] | None = program.__dict__.get("_missing_plans")
    if plans is None:
        plans = program.__dict__["_missing_plans"] = {}
    got = plans.get(rule_ids)
    if got is None:
        flat = _leaf_paths(program)
        nodes: set[int] = set()
        extra: set[int] = set()
        for rid in rule_ids:
            _leaf_key_slots(flat.get(rid, ()), nodes, extra)
        got = _MissingPlan(flat, value_getter(sorted(nodes)), tuple(sorted(extra)))
        if len(plans) < 10_000:
            plans[rule_ids] = got
    return got


def _open_leaves(
    leaves: Sequence[LeafPath], nodes: Any, values: tuple[Any, ...], found: dict[str, tuple[set[str], set[str]]]
) -> None:
    """Add to ``found`` (subject -> (household paths, unknown facts)) what the open ones among ``leaves``
    ask for: a leaf is open when it and every node above it is unknown."""

    def ask(into: tuple[set[str], set[str]], name: str, kind: str) -> None:
        if kind == "fact":
            into[1].add(name)
        elif CATALOGUE.get(name) is not None:
            into[0].add(f"$.{name}")

    for path, n, subject, ref, operands, gap in leaves:
        for i in path:
            if nodes[i] is not UNKNOWN:
                break
        else:
            unknown_subject = n.actual is not None and values[n.actual] is UNKNOWN
            if gap and not unknown_subject and all(values[x] is not UNKNOWN for _, _, x in operands):
                continue  # unknown only for a parameter without value: Decision.missing_parameters
            into = found.setdefault(subject, (set(), set()))
            if unknown_subject:
                ask(into, subject, ref)
            for kind, name, x in operands:
                if values[x] is UNKNOWN:
                    ask(into, name, kind)


def _leaf_key_slots(leaves: Sequence[LeafPath], nodes: set[int], extra: set[int]) -> None:
    """Add the node outcomes and the value slots whose unknown-ness decide which of ``leaves`` are open
    and what they ask for (see :class:`_MissingPlan`)."""
    for path, n, _, _, operands, gap in leaves:
        nodes.update(path)
        if operands or gap:
            if n.actual is not None:
                extra.add(n.actual)
            extra.update(x for _, _, x in operands)


class _RuleGap:
    """One rule's share of a gap report on one program: per key of its own node outcomes and unknown
    values (as :class:`_MissingPlan`, over this rule's leaves alone), what its open leaves ask for —
    (subject, household paths, unknown facts) — which :func:`_merged` unites over the rules of
    a report. Why per rule: the outcomes of one rule's nodes repeat across households far more than
    those of a whole set of unknown rules, so households never seen before mostly find each rule's
    answer made (the memo holds answers: through ``Engine._keep``, on the engine's answer budget)."""

    __slots__ = ("extra", "leaves", "memo", "nodes")

    def __init__(self, program: Program, rid: str) -> None:
        self.leaves = _leaf_paths(program).get(rid, [])
        nodes: set[int] = set()
        extra: set[int] = set()
        _leaf_key_slots(self.leaves, nodes, extra)
        self.nodes = value_getter(sorted(nodes))
        self.extra = tuple(sorted(extra))
        self.memo: dict[Any, tuple[tuple[tuple[str, frozenset[str], frozenset[str]], ...], Any]] = {}
        """Per key: the rule's own answer, and it as a whole side of a report (``_requests``)."""

    def key(self, nodes: tuple[Any, ...], values: tuple[Any, ...]) -> Any:
        """As :meth:`_MissingPlan.key`, over this rule's nodes and values."""
        if self.extra:
            return (self.nodes(nodes), tuple([values[x] is UNKNOWN for x in self.extra]))
        return self.nodes(nodes)

    def answer(
        self, nodes: tuple[Any, ...], values: tuple[Any, ...]
    ) -> tuple[tuple[str, frozenset[str], frozenset[str]], ...]:
        """What this rule's open leaves ask for on these outcomes (:func:`_open_leaves`)."""
        found: dict[str, tuple[set[str], set[str]]] = {}
        _open_leaves(self.leaves, nodes, values, found)
        return tuple((name, frozenset(static), frozenset(facts)) for name, (static, facts) in found.items())


def _rule_gaps(program: Program, rule_ids: Sequence[str]) -> tuple[_RuleGap, ...]:
    """The :class:`_RuleGap` of each of these rules, made once per (program, rule) and kept on the
    program (one per rule at most: bounded by the program's rules)."""
    kept: dict[str, _RuleGap] | None = program.__dict__.get("_rule_gaps")
    if kept is None:
        kept = program.__dict__["_rule_gaps"] = {}
    out = []
    for rid in rule_ids:
        got = kept.get(rid)
        if got is None:
            got = kept[rid] = _RuleGap(program, rid)
        out.append(got)
    return tuple(out)


def _unknown_roots(program: Program) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The ids of the program's rules that conclude something, and a reader of their root outcomes: a
    rule with an unknown root has every conclusion unknown (the unknown masks), so these are the rules
    a gap report asks about. Made once per program and kept on it."""
    got: tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] | None = program.__dict__.get("_unknown_roots")
    if got is None:
        concluding = [(rule.id, root.index) for rule, _, root in program.rules if rule.conclusions]
        got = program.__dict__["_unknown_roots"] = (
            tuple(rid for rid, _ in concluding),
            value_getter([i for _, i in concluding]),
        )
    return got


class _SettlePlan:
    """For one program and one set of unknown facts a gap report asks about: the facts they depend on
    (themselves included) and, per pattern of which of those are unknown, the household fields whose
    absence :meth:`_Run.missing_of_fact` would report for them together — worked out once per pattern,
    so a household costs one read of its absent fields."""

    __slots__ = ("deps", "facts", "fields", "memo", "names", "slots")

    def __init__(self, program: Program, facts: tuple[str, ...]) -> None:
        chain = program.chain
        seen: set[str] = set()
        stack = list(facts)
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(chain.facts[name].facts)
        self.facts = facts
        self.names = tuple(sorted(seen))
        self.slots = [program.fact_index[n] for n in self.names]
        self.deps = {n: chain.facts[n].facts for n in self.names}
        self.fields = {n: chain.facts[n].fields for n in self.names}
        self.memo: dict[Any, Callable[[Household], list[str]]] = {}

    def pattern(self, values: tuple[Any, ...]) -> Any:
        """Which of the facts are unknown on this household (the one fact's answer when there is one)."""
        slots = self.slots
        if len(slots) == 1:
            return values[slots[0]] is UNKNOWN
        return tuple([values[i] is UNKNOWN for i in slots])

    def plan(self, pattern: Any) -> Callable[[Household], list[str]]:
        """How to read the absent ones among the fields of the facts reached from ``facts`` through
        unknown facts only (a known fact settles nothing below it), as :meth:`_Run.missing_of_fact`
        walks them."""
        flags = (pattern,) if isinstance(pattern, bool) else pattern
        unknown = {n for n, u in zip(self.names, flags, strict=True) if u}
        reached: set[str] = set()
        stack = [n for n in self.facts if n in unknown]
        while stack:
            name = stack.pop()
            if name not in reached:
                reached.add(name)
                stack.extend(d for d in self.deps[name] if d in unknown)
        plan = plan_fields(frozenset().union(*(self.fields[n] for n in reached)))
        return lambda h: _absent_of(h, plan)


def _settling(run: _Run, facts: tuple[str, ...]) -> tuple[str, ...]:
    """The household paths that would settle these facts on this household, sorted: the union of
    :meth:`_Run.missing_of_fact` over them, without walking the facts per household (and once per
    household: the same fact is often asked for by several gap reports of one decision)."""
    return _settled(run, _settle_plan(run.program, facts))


def _with_plans(program: Program, requests: Any) -> Any:
    """:func:`_missing_requests`' answer as :func:`_resolve` reads it, and as the
    :class:`_MissingPlan` memo keeps it (made once per answer, not per household): its (subject, static
    paths, unknown facts) with each set of facts replaced by its :class:`_SettlePlan` (None for none); a
    finished tuple as it is."""
    if type(requests) is not list:
        return requests
    return [(subject, static, _settle_plan(program, facts) if facts else None) for subject, static, facts in requests]


_T = TypeVar("_T")


def _shape(memo: dict[Any, _T], pattern: Any, make: Callable[[Any], _T]) -> _T:
    """``memo[pattern]``, made on first need; the memo starts over when it holds ``_SHAPE_CACHE_SIZE``
    entries (patterns of unknown facts: combinations, not households, so it rarely does)."""
    got = memo.get(pattern)
    if got is None:
        got = make(pattern)
        if len(memo) >= _SHAPE_CACHE_SIZE:
            memo.clear()
        memo[pattern] = got
    return got


def _settle_plan(program: Program, facts: tuple[str, ...]) -> _SettlePlan:
    """The :class:`_SettlePlan` of these facts, kept per program (at most 10,000: sets of facts a gap
    report asks about, not households)."""
    plans: dict[tuple[str, ...], _SettlePlan] | None = program.__dict__.get("_settle_plans")
    if plans is None:
        plans = program.__dict__["_settle_plans"] = {}
    sp = plans.get(facts)
    if sp is None:
        sp = _SettlePlan(program, facts)
        if len(plans) < 10_000:
            plans[facts] = sp
    return sp


def _settled(run: _Run, sp: _SettlePlan) -> tuple[str, ...]:
    """:func:`_settling` with the plan at hand: the absent fields read once per household and plan."""
    done = run.settled
    if done is None:
        done = run.settled = {}
    else:
        got = done.get(sp.facts)
        if got is not None:
            return got
    absent = _shape(sp.memo, sp.pattern(run.values), sp.plan)(run.h)
    got = done[sp.facts] = tuple(sorted(set(absent))) if len(absent) > 1 else tuple(absent)
    return got


def missing_planned(engine: Engine, run: _Run, rule_ids: tuple[str, ...]) -> tuple[MissingFact, ...]:
    """The test oracle of :meth:`Engine._missing` and :meth:`Engine._open` (``tests/test_engine_gaps*.py``; not
    on the engine's path since session 10): the unknown leaf facts of these rules, each with the
    household paths that would settle it, worked out by walking the rules' leaf paths.

    A leaf counts when it and every node above it — through rule references, into the referenced
    rule — is unknown. Which leaves count, and what each one asks for, follows from the outcomes of
    the nodes on those paths and from which inputs of the few leaves that read two household values
    are unknown: that is worked out once per combination (:class:`_MissingPlan`), and per household
    only the paths of unknown facts (which name this household's members) are looked up
    (:func:`_settling`)."""
    plan = _missing_plan(run.program, rule_ids)
    key = plan.key(run.nodes, run.values)
    got = plan.memo.get(key)
    if got is None:
        got = _with_plans(run.program, _missing_requests(engine, run, rule_ids, plan))
        engine._keep(plan.memo, key, got, _SHAPE_CACHE_SIZE, answer=True)
    return _resolve(engine, run, got)


def _missing_requests(engine: Engine, run: _Run, rule_ids: tuple[str, ...], plan: _MissingPlan) -> Any:
    """What :meth:`Engine._missing` asks for on this combination: per subject, in name order, the household
    paths known statically and the unknown facts whose paths depend on the household — or, when no
    fact is asked for, the finished tuple of :class:`MissingFact`."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for rid in rule_ids:
        _open_leaves(plan.flat.get(rid, ()), run.nodes, run.values, found)
    requests = [(name, tuple(sorted(found[name][0])), tuple(sorted(found[name][1]))) for name in sorted(found)]
    if any(facts for _, _, facts in requests):
        return requests
    chain = run.program.chain
    return tuple(engine._missing_fact(chain, name, static) for name, static, _ in requests)


def open_planned(engine: Engine, memo: _Memo, run: _Run, status: _Status) -> tuple[tuple[MissingFact, ...], ...]:
    """The test oracle of :meth:`Engine._open` (session 9's per-rule answers, :class:`_RuleGap`; not on the
    engine's path since session 10).

    Each side is the union of its rules' own answers (:func:`_merged`, :class:`_RuleGap`). Why not
    one answer per set of unknown rules and node outcomes (sessions 6–9): on households never seen
    before, the set of unknown rules together with their outcomes was new for about two households
    in three on the bundled packs, so building that answer and its plan was most of the gap
    report's cost; a single rule's outcomes repeat far more."""
    blocking_rules = status.blocking_rules if status.status == "needs_review" else ()
    program, nodes = memo.program, run.nodes
    rids, roots = _unknown_roots(program)
    rest_rules = [rid for rid, outcome in zip(rids, roots(nodes), strict=True) if outcome is UNKNOWN]
    if blocking_rules:
        rest_rules = [rid for rid in rest_rules if rid not in blocking_rules]
    blocking = (
        _resolve(engine, run, _merged(engine, run, _rule_gaps(program, blocking_rules))) if blocking_rules else ()
    )
    rest = _resolve(engine, run, _merged(engine, run, _rule_gaps(program, rest_rules))) if rest_rules else ()
    if blocking and rest:
        names = {m.name for m in blocking}
        rest = tuple(m for m in rest if m.name not in names)
    return blocking, rest


def _merged(engine: Engine, run: _Run, side: tuple[_RuleGap, ...]) -> Any:
    """What :func:`_missing_requests` gives for the rules of ``side`` on this household — per
    subject, the union of each rule's own answer (:class:`_RuleGap`) — as :func:`_with_plans`
    gives it: requests naming their :class:`_SettlePlan`, or the finished tuple. A side of one rule
    (often the blocking one) takes that rule's answer as it is."""
    nodes, values = run.nodes, run.values
    found: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    got: tuple[Any, Any] | None = None
    for rg in side:
        key = rg.key(nodes, values)
        got = rg.memo.get(key)
        if got is None:
            own = rg.answer(nodes, values)
            got = (own, _requests(engine, run.program, {subject: (st, fa) for subject, st, fa in own}))
            engine._keep(rg.memo, key, got, _SHAPE_CACHE_SIZE, answer=True)
        for subject, static, facts in got[0]:
            had = found.get(subject)
            found[subject] = (static, facts) if had is None else (had[0] | static, had[1] | facts)
    if len(side) == 1 and got is not None:
        return got[1]
    return _requests(engine, run.program, found)


def _requests(engine: Engine, program: Program, found: dict[str, tuple[frozenset[str], frozenset[str]]]) -> Any:
    """Per subject (household paths, unknown facts) as :func:`_with_plans` gives it: in name order,
    the sorted paths and the :class:`_SettlePlan` of the facts (None for none) — or, when no fact is
    asked for, the finished tuple of :class:`MissingFact`."""
    if any(facts for _, facts in found.values()):
        return [
            (name, tuple(sorted(static)), _settle_plan(program, tuple(sorted(facts))) if facts else None)
            for name, (static, facts) in sorted(found.items())
        ]
    chain = program.chain
    return tuple(
        engine._missing_fact(chain, name, tuple(sorted(static))) for name, (static, _) in sorted(found.items())
    )


def _resolve(engine: Engine, run: _Run, reqs: Any) -> tuple[MissingFact, ...]:
    """A gap report's requests (:func:`_with_plans`) on this household: the settling paths of its
    unknown facts looked up (:func:`_settled`), each subject's :class:`MissingFact` shared."""
    if type(reqs) is not list:
        return reqs  # type: ignore[no-any-return]
    out = []
    chain = run.program.chain
    for subject, static, sp in reqs:
        if sp is not None:
            paths = _settled(run, sp)
            if static:
                paths = tuple(sorted(set(static).union(paths)))
            out.append(engine._missing_fact(chain, subject, paths))
        else:
            out.append(engine._missing_fact(chain, subject, static))
    return tuple(out)
