"""Rule conditions: the closed vocabulary of ``when:`` trees, evaluated three-valued with a trace.

``all`` / ``any`` / ``not`` combine; a leaf compares a fact (a derived fact or a household field)
with a literal, a parameter or another fact through ``eq ne lt le gt ge in between known``; ``rule``
asks whether another rule fired. Each node records its actual value, the expected value and where the
expected value came from, because an auditor must be able to see *which* number decided the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from .errors import SourceLocation
from .expressions import UNKNOWN, Type, kleene_and, kleene_not, kleene_or

__all__ = ["OPS", "AtLeast", "Cond", "CondCtx", "Group", "Leaf", "Negation", "Operand", "ParamHit", "RuleRef"]

OPS: Final = ("eq", "ne", "lt", "le", "gt", "ge", "in", "between", "known")
"""Leaf operators; ``lt`` is strict, which is how "低于监测范围" is read (policy.md §11.2)."""


@dataclass(frozen=True)
class ParamHit:
    """A parameter's value on a date, with the window and citations that make it auditable."""

    name: str
    value: Any
    start: Any
    until: Any
    pack: str
    cites: tuple[Any, ...]


class CondCtx(Protocol):
    """What evaluating a condition reads."""

    fields: dict[str, Any]
    facts: dict[str, Any]
    rule_outcomes: dict[str, Any]

    def param_hit(self, name: str) -> ParamHit | None: ...
    def subject_missing(self, name: str, ref: str) -> list[str]: ...


@dataclass(frozen=True)
class Operand:
    """The expected side of a leaf: a literal, ``{param: x}``, or ``{fact: y}``."""

    kind: str  # literal | param | fact | field
    value: Any = None  # literal value
    name: str = ""

    def resolve(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        if self.kind == "literal":
            return self.value, {"kind": "literal"}
        if self.kind == "param":
            hit = ctx.param_hit(self.name)  # None: no value on the date, so unknown
            return (UNKNOWN if hit is None else hit.value), {"kind": "parameter", "name": self.name, "hit": hit}
        src = ctx.facts if self.kind == "fact" else ctx.fields
        return src.get(self.name, UNKNOWN), {"kind": self.kind, "name": self.name}


class Cond:
    """Base of condition nodes; ``eval`` returns (true/false/UNKNOWN, trace dict)."""

    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def rule_refs(self) -> set[str]:
        return set()

    def subjects(self) -> set[tuple[str, str]]:
        return set()

    def params(self) -> set[str]:
        """Parameters this condition compares with (not those inside the facts it reads)."""
        return set()


def _outcome(v: Any) -> str:
    return "unknown" if v is UNKNOWN else ("true" if v else "false")


@dataclass(frozen=True, eq=False)
class Leaf(Cond):
    """``{fact: per_capita_net_income, lt: {param: monitoring_line}}``."""

    subject: str
    ref: str  # fact | field
    op: str
    operands: tuple[Operand, ...]
    subject_type: Type
    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        actual = (ctx.facts if self.ref == "fact" else ctx.fields).get(self.subject, UNKNOWN)
        resolved = [o.resolve(ctx) for o in self.operands]
        expected = [v for v, _ in resolved]
        result = self._apply(actual, expected)
        trace: dict[str, Any] = {
            "op": self.op,
            "subject": self.subject,
            "actual": actual,
            "expected": expected[0] if len(expected) == 1 else expected,
            "sources": [s for _, s in resolved],
            "outcome": _outcome(result),
        }
        if result is UNKNOWN:
            # A copy: the list returned is the fact's own trace entry, which must not grow here.
            missing = list(ctx.subject_missing(self.subject, self.ref)) if actual is UNKNOWN else []
            for o, v in zip(self.operands, expected, strict=True):
                if v is UNKNOWN and o.kind in ("fact", "field"):
                    missing += ctx.subject_missing(o.name, o.kind)
            trace["missing"] = sorted(set(missing))
            if actual is not UNKNOWN and all(
                v is not UNKNOWN for o, v in zip(self.operands, expected, strict=True) if o.kind != "param"
            ):
                trace["gap"] = True  # unknown only for a parameter without value (Decision.missing_parameters)
        return result, trace

    def _apply(self, a: Any, exp: list[Any]) -> Any:
        op = self.op
        if op == "known":
            return (a is not UNKNOWN) == exp[0]
        if a is UNKNOWN or any(e is UNKNOWN for e in exp):
            return UNKNOWN
        if op == "eq":
            return a == exp[0]
        if op == "ne":
            return a != exp[0]
        if op == "lt":
            return a < exp[0]
        if op == "le":
            return a <= exp[0]
        if op == "gt":
            return a > exp[0]
        if op == "ge":
            return a >= exp[0]
        if op == "in":
            options = exp[0] if len(exp) == 1 and isinstance(exp[0], list | tuple) else exp
            if isinstance(a, frozenset):  # a set-valued field: any of its values listed
                return bool(a.intersection(options))
            return a in options
        lo, hi = exp  # between, inclusive at both ends
        return bool(lo <= a <= hi)

    def subjects(self) -> set[tuple[str, str]]:
        return {(self.subject, self.ref)} | {(o.name, o.kind) for o in self.operands if o.kind in ("fact", "field")}

    def params(self) -> set[str]:
        return {o.name for o in self.operands if o.kind == "param"}


class _Compound(Cond):
    """A node over child conditions: what it refers to is what its children refer to."""

    items: tuple[Cond, ...]

    def rule_refs(self) -> set[str]:
        return set().union(*(c.rule_refs() for c in self.items))

    def subjects(self) -> set[tuple[str, str]]:
        return set().union(*(c.subjects() for c in self.items))

    def params(self) -> set[str]:
        return set().union(*(c.params() for c in self.items))


@dataclass(frozen=True, eq=False)
class Group(_Compound):
    """``all:`` (Kleene and) or ``any:`` (Kleene or) over child conditions."""

    op: str
    items: tuple[Cond, ...]
    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        results = [c.eval(ctx) for c in self.items]  # no short cut: the trace shows every branch
        values = [v for v, _ in results]
        v = kleene_and(values) if self.op == "all" else kleene_or(values)
        return v, {"op": self.op, "outcome": _outcome(v), "children": [t for _, t in results]}


@dataclass(frozen=True, eq=False)
class AtLeast(_Compound):
    """``at_least: {n: 2, of: [...]}`` — true when n or more hold, false when too few can (Kleene)."""

    n: int
    items: tuple[Cond, ...]
    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        results = [c.eval(ctx) for c in self.items]
        values = [v for v, _ in results]
        true = sum(1 for v in values if v is True)
        unknown = sum(1 for v in values if v is UNKNOWN)
        v: Any = True if true >= self.n else (False if true + unknown < self.n else UNKNOWN)
        return v, {"op": "at_least", "n": self.n, "outcome": _outcome(v), "children": [t for _, t in results]}


@dataclass(frozen=True, eq=False)
class Negation(Cond):
    """``not:`` — unknown stays unknown."""

    item: Cond
    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        v, t = self.item.eval(ctx)
        r = kleene_not(v)
        return r, {"op": "not", "outcome": _outcome(r), "children": [t]}

    def rule_refs(self) -> set[str]:
        return self.item.rule_refs()

    def subjects(self) -> set[tuple[str, str]]:
        return self.item.subjects()

    def params(self) -> set[str]:
        return self.item.params()


@dataclass(frozen=True, eq=False)
class RuleRef(Cond):
    """``rule: X`` — whether rule X fired (unknown when X is unknown; false when X is not in force)."""

    rule: str
    loc: SourceLocation

    def eval(self, ctx: CondCtx) -> tuple[Any, dict[str, Any]]:
        v = ctx.rule_outcomes.get(self.rule, False)
        return v, {"op": "rule", "rule": self.rule, "outcome": _outcome(v)}

    def rule_refs(self) -> set[str]:
        return {self.rule}
