"""完整性与重叠检查 / Completeness and overlap of the category rules (``eligibility check``).

For every pack chain and every date span of the compiled evaluator (:func:`compile.python.spans`), two
questions about the rules that decide the identification status:

* **重叠 overlap** — can two category rules with different codes both *certainly* fire for one household?
  The engine then cannot identify (it sends the case to review with both candidates).
* **缺口 gap** — a category rule splits the population on household attributes compared with literal
  values (``household_type eq 脱贫户``, ``household_size le 2``); its other conjuncts (rule references,
  comparisons with parameters) are its *criteria*. Is there a household whose criteria for some category
  certainly hold, whose attributes fall between the splits, and which therefore ends ``not_identified``
  (no category, review or already-monitored rule fires, none is unknown)?

Three-valued logic decides what the input space is: a rule left unknown by missing data sends the case to
``needs_review``, which is an answer, not a gap — so a gap requires every deciding rule to be *certainly*
false, and an overlap requires both rules to be *certainly* true. Conditions are translated into z3 over
two booleans per node (certainly true, certainly false); household fields become solver variables with a
"given" flag, derived facts are translated from their formulas (members unrolled into a few slots), and a
fact whose formula uses a construct outside the translated subset is left free (abstracted).

A solver model is only a candidate. It is turned into a ``Household`` JSON record, validated by the models
and evaluated by the real engine with the full trace; a finding is *confirmed* only when the engine shows
the overlap (both rules fired) or the gap (status ``not_identified`` with the criteria fired). A candidate
that fails (possible where a fact was abstracted) is excluded and the solver asked again, a few times.
docs/check.md explains the choice of solver and the limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

import z3  # type: ignore[import-untyped]  # z3-solver ships no type information
from dateutil.relativedelta import relativedelta

from .compile.python import spans
from .conditions import AtLeast, Cond, Group, Leaf, Negation, RuleRef
from .errors import MissingParameterError
from .expressions import Aggregate, Binary, BoolOp, Call, ListLit, Lit, Name, Node, Type, Unary
from .facts import CATALOGUE, FieldSpec
from .models import FIRST_DAY, LAST_DAY, parse_household
from .ruleset import Chain, RuleDef, RuleSet, RuleVersion

__all__ = ["CheckReport", "Finding", "SpanResult", "check_rules", "render_table"]

SLOTS: Final = 3
"""Member slots the solver may fill: enough for any pair of distinct members a condition asks about."""

RETRIES: Final = 6
"""Candidates tried per question before a finding is reported as unconfirmed."""

_NUM_MAX: Final = 10_000_000
_DECIDING: Final = ("category", "review", "already_monitored")


class Unsupported(Exception):
    """A formula construct the translation does not cover: the fact is then left free (abstracted)."""


# ------------------------------------------------------------------------------------------ results


@dataclass
class Finding:
    """One overlap or gap, with the example household and what the engine made of it."""

    kind: str  # overlap | gap
    pack: str
    span_start: date
    span_until: date | None
    rules: tuple[str, ...]
    codes: tuple[str, ...]
    confirmed: bool
    household: dict[str, Any] | None
    as_of: date
    status: str | None
    note: str = ""

    def describe(self) -> str:
        """One line in Chinese first, English beside."""
        a = "、".join(self.codes)
        if self.kind == "overlap":
            head = f"重叠：类别 {a} 可同时成立 / overlap: categories {', '.join(self.codes)} can both hold"
        else:
            head = (
                f"缺口：满足类别 {a} 的条件（除划分类别的条件外），却落在各类别之间，结论为未识别"
                f" / gap: meets the conditions of {', '.join(self.codes)} but those that divide the categories,"
                " falls between them and is not identified"
            )
        if not self.confirmed:
            head += "（未能以实例证实 / not confirmed by an example）"
        return head

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pack": self.pack,
            "span": {"from": self.span_start.isoformat(), "until": self.span_until and self.span_until.isoformat()},
            "rules": list(self.rules),
            "codes": list(self.codes),
            "confirmed": self.confirmed,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "household": self.household,
            "note": self.note,
            "message": self.describe(),
        }


@dataclass
class SpanResult:
    """One (pack chain, date span): the category rules examined, the questions asked, the findings."""

    pack: str
    start: date
    until: date | None
    categories: tuple[str, ...]
    questions: int
    findings: list[Finding] = field(default_factory=list)
    abstracted: tuple[str, ...] = ()
    dead: tuple[str, ...] = ()
    """Category rules in force that no household can make fire here (e.g. the deduction rule not adopted)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "from": self.start.isoformat(),
            "until": self.until and self.until.isoformat(),
            "categories": list(self.categories),
            "questions": self.questions,
            "abstracted_facts": list(self.abstracted),
            "never_fire": list(self.dead),
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class CheckReport:
    """Every span checked; ``failed`` when a confirmed overlap or gap was found."""

    spans: list[SpanResult]

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.spans for f in s.findings]

    @property
    def failed(self) -> bool:
        return any(f.confirmed for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "overlaps": sum(1 for f in self.findings if f.kind == "overlap" and f.confirmed),
            "gaps": sum(1 for f in self.findings if f.kind == "gap" and f.confirmed),
            "unconfirmed": sum(1 for f in self.findings if not f.confirmed),
            "spans": [s.to_json() for s in self.spans],
        }


# ------------------------------------------------------------------------------------ translation


@dataclass
class Term:
    """A value in the solver: whether the record gives it, and what it is (a z3 term or a constant)."""

    known: Any
    val: Any
    kind: str  # num | bool | code | date | set | list
    options: tuple[str, ...] = ()  # set: the values, in order of ``val``
    option_codes: tuple[int, ...] = ()  # set: the values' codes, in the same order


@dataclass
class Tri:
    """A three-valued truth in the solver: certainly true, certainly false (never both)."""

    t: Any
    f: Any


_TRUE = Tri(z3.BoolVal(True), z3.BoolVal(False))
_FALSE = Tri(z3.BoolVal(False), z3.BoolVal(True))


def _term_tri(x: Term) -> Tri:
    if x.kind != "bool":
        raise Unsupported("not a yes/no value")
    return Tri(z3.And(x.known, x.val), z3.And(x.known, z3.Not(x.val)))


def _tri_term(x: Tri) -> Term:
    return Term(z3.Or(x.t, x.f), x.t, "bool")


class _Codes:
    """Text values (enum codes) as integers, one table for the whole question."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        return self.ids.setdefault(s, len(self.ids) + 1)

    def text(self, i: int) -> str:
        for s, j in self.ids.items():
            if j == i:
                return s
        raise KeyError(i)


def _num(v: Any) -> Any:
    if isinstance(v, bool):
        raise Unsupported("bool as number")
    if isinstance(v, int):
        return z3.RealVal(v)
    if isinstance(v, Decimal):
        return z3.RealVal(str(v))
    return z3.ToReal(v) if z3.is_int(v) else v


class _Translator:
    """Conditions and formulas of one chain on one day, as z3 constraints over household variables."""

    def __init__(self, chain: Chain, on: date) -> None:
        self.chain = chain
        self.on = on
        self.codes = _Codes()
        self.constraints: list[Any] = []
        self.fields: dict[str, tuple[Term, FieldSpec]] = {}  # "income.wage" | "members[0].labour"
        self.ages: dict[str, tuple[str, Any]] = {}  # "members[0].birth_date" -> ("age", whole years)
        self.present = [z3.Bool(f"present_{i}") for i in range(SLOTS)]
        self.constraints.append(self.present[0])
        for i in range(1, SLOTS):
            self.constraints.append(z3.Implies(self.present[i], self.present[i - 1]))
        self.members_used = False
        self.facts: dict[str, Term] = {}
        self.abstracted: dict[str, Term] = {}
        self.rules: dict[str, Tri] = {}
        active = {r.id: (r, v) for r, v in chain.in_force(on)}
        self.active = active

    # ---- values

    def field(self, path: str) -> Term:
        got = self.fields.get(path)
        if got is not None:
            return got[0]
        if "[" in path:
            coll, rest = path.split("[", 1)
            sub = rest.split("].", 1)[1]
            coll_spec = CATALOGUE[coll]
            assert coll_spec.item_fields is not None
            spec: FieldSpec | None = coll_spec.item_fields[sub]
        else:
            spec = CATALOGUE.get(path)
        if spec is None:
            raise Unsupported(f"field {path}")
        term = self._fresh(path, spec.type)
        self.fields[path] = (term, spec)
        return term

    def _fresh(self, name: str, t: Type) -> Term:
        known = z3.Bool(f"known:{name}")
        kind = t.kind
        if kind == "bool":
            return Term(known, z3.Bool(f"val:{name}"), "bool")
        if kind in ("number", "money"):
            v = z3.Int(f"val:{name}")
            self.constraints += [v >= 0, v <= _NUM_MAX]
            if name.endswith("disability_grade"):
                self.constraints += [v >= 1, v <= 4]
            return Term(known, v, "num")
        if kind == "date":
            v = z3.Int(f"val:{name}")
            self.constraints += [v >= FIRST_DAY.toordinal(), v <= LAST_DAY.toordinal()]
            return Term(known, v, "date")
        if kind == "text":
            v = z3.Int(f"val:{name}")
            if t.values:
                self.constraints.append(z3.Or([v == self.codes(x) for x in t.values]))
            else:  # free text: any literal the rules name, or some other text
                self.constraints.append(v >= 1)
            return Term(known, v, "code")
        if kind == "set" and t.values:
            vals = [z3.Bool(f"val:{name}={x}") for x in t.values]
            return Term(known, vals, "set", tuple(t.values), tuple(self.codes(x) for x in t.values))
        raise Unsupported(f"{name}: {kind}")

    def param(self, name: str) -> Term:
        try:
            value = self.chain.param_hit(name, self.on).value
        except MissingParameterError:
            # No value on the date: the comparison is unknown, whatever the placeholder value.
            t = self.chain.params[name].expr_type
            if t.kind == "list":
                return Term(z3.BoolVal(False), [], "list")
            placeholder = self._fresh(f"param:{name}", t)
            return Term(
                z3.BoolVal(False), placeholder.val, placeholder.kind, placeholder.options, placeholder.option_codes
            )
        return self.const(value)

    def const(self, v: Any) -> Term:
        yes = z3.BoolVal(True)
        if isinstance(v, bool):
            return Term(yes, z3.BoolVal(v), "bool")
        if isinstance(v, int | Decimal):
            return Term(yes, _num(v), "num")
        if isinstance(v, str):
            return Term(yes, z3.IntVal(self.codes(v)), "code")
        if isinstance(v, date):
            return Term(yes, z3.IntVal(v.toordinal()), "date")
        if isinstance(v, list | tuple):
            return Term(yes, [self.const(x) for x in v], "list")
        raise Unsupported(f"constant {v!r}")

    def fact(self, name: str) -> Term:
        got = self.facts.get(name)
        if got is not None:
            return got
        fd = self.chain.facts.get(name)
        if fd is None:
            raise Unsupported(f"fact {name}")
        try:
            term = self.expr(fd.node, None)
        except Unsupported:
            term = self._fresh(f"fact:{name}", fd.type)
            self.abstracted[name] = term
        self.facts[name] = term
        return term

    def name(self, n: Name, slot: int | None) -> Term:
        if n.ref == "param":
            return self.param(n.key)
        if n.ref == "fact":
            return self.fact(n.key)
        if n.ref == "as_of":
            return self.const(self.on)
        if n.ref == "item":
            if slot is None:
                raise Unsupported("item outside an aggregate")
            return self.field(f"members[{slot}].{n.key}")
        if n.key == "members" or (CATALOGUE.get(n.key) and CATALOGUE[n.key].type.kind == "collection"):
            raise Unsupported("a collection as a value")
        return self.field(n.key)

    # ---- formulas

    def expr(self, node: Node, slot: int | None) -> Term:
        if isinstance(node, Lit):
            return self.const(node.value)
        if isinstance(node, ListLit):
            return Term(z3.BoolVal(True), [self.expr(i, slot) for i in node.items], "list")
        if isinstance(node, Name):
            return self.name(node, slot)
        if isinstance(node, Unary):
            x = self.expr(node.operand, slot)
            if node.op == "not":
                t = _term_tri(x)
                return _tri_term(Tri(t.f, t.t))
            if x.kind != "num":
                raise Unsupported("minus of a non-number")
            return Term(x.known, -_num(x.val), "num")
        if isinstance(node, BoolOp):
            parts = [_term_tri(self.expr(i, slot)) for i in node.items]
            return _tri_term(_all(parts) if node.op == "and" else _any(parts))
        if isinstance(node, Binary):
            return self.binary(node, slot)
        if isinstance(node, Call):
            return self.call(node, slot)
        if isinstance(node, Aggregate):
            return self.aggregate(node)
        raise Unsupported(type(node).__name__)

    def binary(self, node: Binary, slot: int | None) -> Term:
        op = node.op
        a, b = self.expr(node.left, slot), self.expr(node.right, slot)
        known = z3.And(a.known, b.known)
        if op == "in":
            return Term(known, _member(a, b), "bool")
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return Term(
                known,
                _compare({"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[op], a, [b]),
                "bool",
            )
        if a.kind != "num" or b.kind != "num":
            raise Unsupported(f"arithmetic {op} on {a.kind}, {b.kind}")
        x, y = _num(a.val), _num(b.val)
        if op == "+":
            return Term(known, x + y, "num")
        if op == "-":
            return Term(known, x - y, "num")
        if op == "*":
            return Term(known, x * y, "num")
        return Term(z3.And(known, y != 0), x / y, "num")

    def call(self, node: Call, slot: int | None) -> Term:
        fn = node.fn
        if fn == "is_known":
            x = self.expr(node.args[0], slot)
            return Term(z3.BoolVal(True), x.known, "bool")
        if fn == "if":
            c = _term_tri(self.expr(node.args[0], slot))
            a, b = self.expr(node.args[1], slot), self.expr(node.args[2], slot)
            if a.kind in ("set", "list") or b.kind in ("set", "list"):
                raise Unsupported("if over collections")
            va, vb = (_num(a.val), _num(b.val)) if a.kind == "num" else (a.val, b.val)
            same = z3.And(a.known, b.known, va == vb)
            return Term(z3.If(c.t, a.known, z3.If(c.f, b.known, same)), z3.If(c.t, va, z3.If(c.f, vb, va)), a.kind)
        if fn in ("age", "months_since"):
            # Whole years or months from a recorded date to the assessment day: the date is chosen as that
            # many years (months) before the day, so the count is a plain integer for the solver.
            arg = node.args[0]
            if not isinstance(arg, Name) or arg.ref not in ("item", "field"):
                raise Unsupported(f"{fn} of a computed date")
            path = f"members[{slot}].{arg.key}" if arg.ref == "item" else arg.key
            date_term = self.field(path)
            got = self.ages.get(path)
            if got is None:
                count = z3.Int(f"{fn}:{path}")
                self.constraints += [count >= 0, count <= (100 if fn == "age" else 1200)]
                got = self.ages[path] = (fn, count)
            if got[0] != fn:
                raise Unsupported(f"{path} counted in years and in months")
            return Term(date_term.known, got[1], "num")
        raise Unsupported(f"function {fn}")

    def aggregate(self, node: Aggregate) -> Term:
        if node.collection.key != "members":
            raise Unsupported(f"aggregate over {node.collection.key}")
        self.members_used = True
        keep_t, keep_u, values = [], [], []
        for i in range(SLOTS):
            w = _term_tri(self.expr(node.where, i)) if node.where is not None else _TRUE
            keep_t.append(z3.And(self.present[i], w.t))
            keep_u.append(z3.And(self.present[i], z3.Not(w.t), z3.Not(w.f)))
            values.append(self.expr(node.value, i) if node.value is not None else None)
        unsure = z3.Or(keep_u)
        fn = node.fn
        if fn == "count":
            return Term(z3.Not(unsure), z3.Sum([z3.If(k, 1, 0) for k in keep_t]), "num")
        if fn in ("any", "all"):
            tris = [_term_tri(v) for v in values if v is not None]
            if fn == "any":
                t = z3.Or([z3.And(k, x.t) for k, x in zip(keep_t, tris, strict=True)])
                f = z3.And([z3.Implies(k, x.f) for k, x in zip(keep_t, tris, strict=True)])
                return _tri_term(Tri(t, z3.And(f, z3.Not(unsure))))
            t = z3.And([z3.Implies(k, x.t) for k, x in zip(keep_t, tris, strict=True)])
            f = z3.Or([z3.And(k, x.f) for k, x in zip(keep_t, tris, strict=True)])
            return _tri_term(Tri(z3.And(t, z3.Not(unsure)), f))
        if fn == "sum":
            nums = [v for v in values if v is not None]
            if any(v.kind != "num" for v in nums):
                raise Unsupported("sum of non-numbers")
            known = z3.And(z3.Not(unsure), *[z3.Implies(k, v.known) for k, v in zip(keep_t, nums, strict=True)])
            return Term(known, z3.Sum([z3.If(k, _num(v.val), 0) for k, v in zip(keep_t, nums, strict=True)]), "num")
        raise Unsupported(f"aggregate {fn}")

    # ---- conditions

    def rule(self, rid: str) -> Tri:
        rid = self.chain.alias.get(rid, rid)
        got = self.rules.get(rid)
        if got is None:
            pair = self.active.get(rid)
            got = _FALSE if pair is None else self.cond(pair[1].when)
            self.rules[rid] = got
        return got

    def cond(self, c: Cond) -> Tri:
        if isinstance(c, Group):
            parts = [self.cond(i) for i in c.items]
            return _all(parts) if c.op == "all" else _any(parts)
        if isinstance(c, AtLeast):
            parts = [self.cond(i) for i in c.items]
            t = z3.Sum([z3.If(p.t, 1, 0) for p in parts]) >= c.n
            f = z3.Sum([z3.If(p.f, 0, 1) for p in parts]) < c.n
            return Tri(t, f)
        if isinstance(c, Negation):
            x = self.cond(c.item)
            return Tri(x.f, x.t)
        if isinstance(c, RuleRef):
            return self.rule(c.rule)
        assert isinstance(c, Leaf)
        try:
            return self.leaf(c)
        except Unsupported:
            # A comparison outside the translated subset: left free (either outcome, or unknown); the
            # engine's evaluation of the example is what confirms or refutes a finding that uses it.
            t, f = z3.Bool(f"leaf:{c.loc}:t"), z3.Bool(f"leaf:{c.loc}:f")
            self.constraints.append(z3.Not(z3.And(t, f)))
            self.abstracted[f"{c.subject} ({c.loc})"] = Term(z3.Or(t, f), t, "bool")
            return Tri(t, f)

    def leaf(self, c: Leaf) -> Tri:
        """A comparison of a fact or field with literals, parameters or other facts."""
        subject = self.fact(c.subject) if c.ref == "fact" else self.field(c.subject)
        ops = [self.operand(o.kind, o.value, o.name) for o in c.operands]
        if c.op == "known":
            want = bool(c.operands[0].value)
            t = subject.known == z3.BoolVal(want)
            return Tri(t, z3.Not(t))
        known = z3.And(subject.known, *[o.known for o in ops])
        rel = _compare(c.op, subject, ops)
        return Tri(z3.And(known, rel), z3.And(known, z3.Not(rel)))

    def operand(self, kind: str, value: Any, name: str) -> Term:
        if kind == "literal":
            return self.const(value)
        if kind == "param":
            return self.param(name)
        return self.fact(name) if kind == "fact" else self.field(name)


def _all(parts: list[Tri]) -> Tri:
    return Tri(z3.And([p.t for p in parts]), z3.Or([p.f for p in parts]))


def _any(parts: list[Tri]) -> Tri:
    return Tri(z3.Or([p.t for p in parts]), z3.And([p.f for p in parts]))


def _scalar(x: Term) -> Any:
    return _num(x.val) if x.kind == "num" else x.val


def _member(a: Term, b: Term) -> Any:
    """``a in b``: a value in a list (literal or parameter), or a listed value in a set-valued field."""
    if b.kind == "set":
        if a.kind != "code" or not z3.is_int_value(a.val):
            raise Unsupported("in over a set needs a literal")
        return _set_has(b, [a])
    if b.kind != "list":
        raise Unsupported("in over a non-list")
    options: list[Term] = b.val
    if a.kind == "set":
        return _set_has(a, options)
    return z3.Or([_scalar(a) == _scalar(o) for o in options]) if options else z3.BoolVal(False)


def _set_has(s: Term, options: list[Term]) -> Any:
    """Whether a set-valued field holds any of the (literal) options."""
    wanted = {o.val.as_long() for o in options if o.kind == "code" and z3.is_int_value(o.val)}
    hits = [v for v, code in zip(s.val, s.option_codes, strict=True) if code in wanted]
    return z3.Or(hits) if hits else z3.BoolVal(False)


def _compare(op: str, a: Term, bs: list[Term]) -> Any:
    if op == "in":
        if len(bs) == 1 and bs[0].kind == "list":
            return _member(a, bs[0])
        return _member(a, Term(z3.BoolVal(True), bs, "list"))
    if op == "between":
        lo, hi = bs
        return z3.And(_scalar(lo) <= _scalar(a), _scalar(a) <= _scalar(hi))
    b = bs[0]
    if a.kind in ("set", "list") or b.kind in ("set", "list"):
        raise Unsupported(f"{op} on a collection")
    x, y = _scalar(a), _scalar(b)
    if op == "eq":
        return x == y
    if op == "ne":
        return x != y
    if a.kind not in ("num", "date"):
        raise Unsupported(f"{op} on {a.kind}")
    return {"lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}[op]


# ------------------------------------------------------------------------------------- questions


def _conjuncts(v: RuleVersion) -> list[Cond]:
    w = v.when
    return list(w.items) if isinstance(w, Group) and w.op == "all" else [w]


def is_split(c: Cond) -> bool:
    """A conjunct that splits the population: a household attribute compared with literal values only.

    Yes/no attributes are not splits: a yes/no in a category rule states a circumstance (self-coping,
    the deduction rule adopted) whose "no" side is meant to stay outside the category.
    """
    if not isinstance(c, Leaf) or c.op == "known":
        return False
    if any(o.kind != "literal" for o in c.operands):
        return False
    return c.subject_type.kind != "bool"


def _kind_rules(chain: Chain, on: date, kind: str) -> list[tuple[RuleDef, RuleVersion]]:
    return [(r, v) for r, v in chain.in_force(on) if any(k == kind for k, _ in r.conclusions)]


@dataclass
class _Question:
    kind: str  # overlap | gap | fires
    rules: tuple[str, ...]
    codes: tuple[str, ...]
    criteria: tuple[tuple[str, int], ...] = ()
    """For a gap: the conjuncts (rule id, index) that must certainly hold."""


def _codes(rules: Iterable[RuleDef]) -> tuple[str, ...]:
    return tuple(sorted({c for r in rules for k, c in r.conclusions if k == "category"}))


def _questions(chain: Chain, on: date) -> list[_Question]:
    """The overlap question of every pair of category rules with different codes, and the gap questions.

    Gap questions relax the conjuncts that split the population — literal splits within one rule, and
    for a pair of rules also the comparisons that divide one axis between them (``lt`` / ``ge`` of the
    same fact against the same parameter) — and ask whether a household satisfying what is left of the
    rules falls through. Questions with the same criteria are asked once, for all their rules.
    """
    cats = _kind_rules(chain, on, "category")
    out: list[_Question] = []
    for i, (a, _) in enumerate(cats):
        for b, _ in cats[i + 1 :]:
            if set(_codes([a])) != set(_codes([b])):
                out.append(_Question("overlap", (a.id, b.id), (*_codes([a]), *_codes([b]))))
    gaps: dict[tuple[Any, ...], tuple[list[RuleDef], list[tuple[str, int]]]] = {}

    def add(group: list[tuple[RuleDef, RuleVersion]], relaxed: set[tuple[str, int]]) -> None:
        kept = [(r.id, i) for r, v in group for i, _ in enumerate(_conjuncts(v)) if (r.id, i) not in relaxed]
        by_id = {r.id: v for r, v in group}
        sig = tuple(sorted({_signature(chain, _conjuncts(by_id[rid])[i]) for rid, i in kept}))
        members, _ = gaps.setdefault(sig, ([], kept))
        members.extend(r for r, _ in group if r not in members)

    for r, v in cats:
        splits = {(r.id, i) for i, c in enumerate(_conjuncts(v)) if is_split(c)}
        if splits:
            add([(r, v)], splits)
    for i, (a, va) in enumerate(cats):
        for b, vb in cats[i + 1 :]:
            axes_a, axes_b = _axes(chain, on, a, va), _axes(chain, on, b, vb)
            shared = {x for x in axes_a if x in axes_b and axes_a[x][1] != axes_b[x][1]}
            if not shared:
                continue
            relaxed = {(a.id, i) for i, c in enumerate(_conjuncts(va)) if is_split(c)}
            relaxed |= {(b.id, i) for i, c in enumerate(_conjuncts(vb)) if is_split(c)}
            relaxed |= {(a.id, axes_a[x][0]) for x in shared} | {(b.id, axes_b[x][0]) for x in shared}
            add([(a, va), (b, vb)], relaxed)
    for members, criteria in gaps.values():
        out.append(_Question("gap", tuple(r.id for r in members), _codes(members), tuple(criteria)))
    return out


def _axes(chain: Chain, on: date, r: RuleDef, v: RuleVersion) -> dict[tuple[str, str], tuple[int, str]]:
    """The conjuncts comparing a fact with a parameter by order: ``(fact, parameter) -> (index, op)``.

    A conjunct ``{rule: X}`` counts as X's condition when X concludes nothing and is one comparison
    (``identification.income_below_line``), so rules that test the line directly and through it meet."""
    out: dict[tuple[str, str], tuple[int, str]] = {}
    active = {x.id: (x, xv) for x, xv in chain.in_force(on)}
    for i, c in enumerate(_conjuncts(v)):
        if isinstance(c, RuleRef):
            got = active.get(chain.alias.get(c.rule, c.rule))
            if got is None or got[0].conclusions:
                continue
            c = got[1].when
        if not isinstance(c, Leaf) or c.op not in ("lt", "le", "gt", "ge") or len(c.operands) != 1:
            continue
        if c.operands[0].kind == "param":
            out[(c.subject, c.operands[0].name)] = (i, "below" if c.op in ("lt", "le") else "above")
    return out


def _signature(chain: Chain, c: Cond) -> tuple[str, ...]:
    """What a criterion asks, comparable across rules: a rule reference or a leaf's comparison."""
    if isinstance(c, RuleRef):
        return ("rule", chain.alias.get(c.rule, c.rule))
    if isinstance(c, Leaf):
        return ("leaf", c.subject, c.op, *(f"{o.kind}:{o.name}:{o.value!r}" for o in c.operands))
    return ("node", str(c.loc))


def _goal(tr: _Translator, q: _Question) -> Any:
    if q.kind == "fires":
        return tr.rule(q.rules[0]).t
    if q.kind == "overlap":
        return z3.And(tr.rule(q.rules[0]).t, tr.rule(q.rules[1]).t)
    nothing = [tr.rule(r.id).f for kind in _DECIDING for r, _ in _kind_rules(tr.chain, tr.on, kind)]
    return z3.And(_criteria(tr, q), *nothing)


def _criteria(tr: _Translator, q: _Question) -> Any:
    """A gap question's criteria, all certainly true."""
    return z3.And([tr.cond(_conjuncts(tr.active[rid][1])[i]).t for rid, i in q.criteria])


# ---------------------------------------------------------------------------------------- examples


def _model_value(m: z3.ModelRef, x: Any) -> Any:
    v = m.eval(x, model_completion=True)
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    return v.as_long()


def _household(tr: _Translator, m: z3.ModelRef, region: str) -> dict[str, Any]:
    """The solver's model as a Household record: given values where the model says "known", else absent."""
    out: dict[str, Any] = {"household_id": "CHECK-1", "region": region}
    n = sum(1 for p in tr.present if _model_value(m, p)) if tr.members_used else 1
    members: list[dict[str, Any]] = [{"member_id": str(i + 1)} for i in range(n)]
    for path, (term, spec) in sorted(tr.fields.items()):
        if not _model_value(m, term.known):
            continue
        value = _realise(tr, m, path, term, spec)
        if "[" in path:
            slot = int(path.split("[", 1)[1].split("]", 1)[0])
            if slot < n:
                members[slot][path.split("].", 1)[1]] = value
            continue
        if "." in path:
            sec, key = path.split(".", 1)
            out.setdefault(sec, {})[key] = value
        else:
            out[path] = value
    if tr.members_used or "members" not in out:
        out["members"] = members
    return out


def _realise(tr: _Translator, m: z3.ModelRef, path: str, term: Term, spec: FieldSpec) -> Any:
    if path in tr.ages:
        unit, count = tr.ages[path]
        n, on = _model_value(m, count), tr.on
        if unit == "age":
            return on.replace(year=on.year - n, day=min(on.day, 28)).isoformat()
        return (on - relativedelta(months=n)).isoformat()
    if term.kind == "set":
        return [name for name, v in zip(term.options, term.val, strict=True) if _model_value(m, v)]
    v = _model_value(m, term.val)
    if term.kind == "code":
        return tr.codes.text(v) if v in tr.codes.ids.values() else f"其他{v}"
    if term.kind == "date":
        return date.fromordinal(v).isoformat()
    return v


def _region_for(rules: RuleSet, pack: str) -> str:
    """A 12-digit region code whose most specific pack is ``pack``."""
    for prefix in rules.packs[pack].regions:
        code = prefix.ljust(12, "0")
        if rules.pack_for_region(code) == pack:
            return code
    for province in range(11, 100):
        code = f"{province}0000000000"
        if rules.pack_for_region(code) == pack:
            return code
    raise ValueError(f"no region code selects pack {pack}")


def _confirm(
    rules: RuleSet, engine: Any, q: _Question, record: dict[str, Any], on: date
) -> tuple[bool, str | None, str]:
    """Evaluate the example with the real engine and say whether it shows the finding."""
    try:
        h = parse_household(record)
    except Exception as e:  # a model the records cannot express: report, never crash
        return False, None, f"记录无效 / invalid record: {e}"
    d = engine.evaluate(h, on, trace="full")
    status = d.identification.status
    outcomes = {r.id: r for r in d.trace.rules}
    if q.kind in ("overlap", "fires"):
        ok = all(outcomes.get(r) is not None and outcomes[r].outcome == "fired" for r in q.rules)
        return ok, status, ""
    if status != "not_identified":
        return False, status, ""
    for rid, i in q.criteria:
        rt = outcomes.get(rid)
        if rt is None:
            return False, status, ""
        traced = rt.condition.children if rt.condition.op == "all" else [rt.condition]
        if traced[i].outcome != "true":
            return False, status, ""
    return True, status, ""


# ------------------------------------------------------------------------------------------ driver


def _days(chain: Chain, as_of: date | None) -> Iterator[tuple[date, date | None]]:
    points = spans(chain)
    if as_of is not None:
        before = [p for p in points if p <= as_of]
        if before:
            later = [p for p in points if p > as_of]
            yield as_of, (later[0] if later else None)
        return
    for i, p in enumerate(points):
        yield p, (points[i + 1] if i + 1 < len(points) else None)


def _span_key(chain: Chain, on: date) -> tuple[Any, ...]:
    """What the answers of a span depend on: the deciding rules' versions (with the rules they read),
    the parameter values they read and the facts' definitions. Spans (and chains) sharing it share answers."""
    versions: list[tuple[str, date, str]] = []
    params: set[str] = set()
    seen: set[str] = set()
    active = {r.id: (r, v) for r, v in chain.in_force(on)}
    todo = [r.id for kind in _DECIDING for r, _ in _kind_rules(chain, on, kind)]
    while todo:
        rid = chain.alias.get(todo[-1], todo[-1])
        todo.pop()
        if rid in seen or rid not in active:
            continue
        seen.add(rid)
        r, v = active[rid]
        versions.append((rid, v.start, r.pack))
        params |= chain._version_params(v)
        todo.extend(v.when.rule_refs())
    values = []
    for p in sorted(params):
        try:
            values.append((p, repr(chain.param_hit(p, on).value)))
        except MissingParameterError:
            values.append((p, "-"))
    facts = tuple(sorted((n, f.pack) for n, f in chain.facts.items()))
    return (tuple(sorted(versions)), tuple(values), facts)


def check_rules(
    rules: RuleSet, packs: Iterable[str] | None = None, as_of: date | None = None, engine: Any = None
) -> CheckReport:
    """Check every chosen pack chain on every date span (or on ``as_of`` only)."""
    from .engine import Engine

    engine = engine or Engine(rules)
    chosen = sorted(packs) if packs is not None else sorted(rules.packs)
    memo: dict[tuple[Any, ...], tuple[tuple[str, ...], int, tuple[str, ...]]] = {}  # spans without findings
    out: list[SpanResult] = []
    for pid in chosen:
        chain = rules.chain(pid)
        region = _region_for(rules, pid)
        for start, until in _days(chain, as_of):
            key = _span_key(chain, start)
            cached = memo.get(key)
            result = SpanResult(pid, start, until, tuple(r.id for r, _ in _kind_rules(chain, start, "category")), 0)
            if cached is not None:
                result.abstracted, result.questions, result.dead = cached
                out.append(result)
                continue
            found, abstracted, asked, dead = _solve(rules, engine, chain, start, region)
            for f in found:
                f.span_until = until
                result.findings.append(f)
            if not found:  # a span with findings is worked out per chain: its example has its own region
                memo[key] = (abstracted, asked, dead)
            result.abstracted, result.questions, result.dead = abstracted, asked, dead
            out.append(result)
    return CheckReport(out)


def _solve(
    rules: RuleSet, engine: Any, chain: Chain, on: date, region: str
) -> tuple[list[Finding], tuple[str, ...], int, tuple[str, ...]]:
    """Every question of one span: (findings, facts abstracted, questions asked, category rules that
    cannot fire)."""
    questions = _questions(chain, on)
    found: list[Finding] = []
    abstracted: set[str] = set()
    holes: list[_Question] = []  # gaps found: a later question looks for a different one
    for q in questions:
        verdict, finding, free = _ask(rules, engine, chain, on, region, q, tuple(holes))
        abstracted |= free
        if finding is not None:
            found.append(finding)
            if q.kind == "gap":
                holes.append(q)
    dead = []
    for r, _ in _kind_rules(chain, on, "category"):
        q = _Question("fires", (r.id,), ())
        verdict, _, free = _ask(rules, engine, chain, on, region, q)
        abstracted |= free
        if verdict == "unsat":
            dead.append(r.id)
    return found, tuple(sorted(abstracted)), len(questions), tuple(dead)


def _ask(
    rules: RuleSet, engine: Any, chain: Chain, on: date, region: str, q: _Question, holes: tuple[_Question, ...] = ()
) -> tuple[str, Finding | None, set[str]]:
    """One question to the solver: "unsat" (no such household), "sat" (with the example the engine
    evaluated, confirmed or not) or "unknown" (the solver gave up: reported, never read as "no")."""
    tr = _Translator(chain, on)
    goal = _goal(tr, q)
    if q.kind == "gap":
        goal = z3.And(goal, *[z3.Not(_criteria(tr, h)) for h in holes])
    solver = z3.Solver()
    solver.set("timeout", 20_000)
    solver.add(*tr.constraints, goal)
    finding: Finding | None = None
    verdict = "unsat"
    for _ in range(RETRIES):
        answer = solver.check()
        if answer == z3.unknown:
            verdict = "unknown"
            finding = Finding(
                q.kind, chain.pack.id, on, None, q.rules, q.codes, False, None, on, None,
                "求解器未能判定 / the solver gave up: " + solver.reason_unknown(),
            )  # fmt: skip
            break
        if answer != z3.sat:
            break
        verdict = "sat"
        m = solver.model()
        record = _household(tr, m, region)
        ok, status, note = _confirm(rules, engine, q, record, on)
        finding = Finding(q.kind, chain.pack.id, on, None, q.rules, q.codes, ok, record, on, status, note)
        if ok:
            break
        solver.add(_exclude(tr, m))
    if q.kind == "fires":
        return verdict, None, set(tr.abstracted)
    return verdict, finding, set(tr.abstracted)


def _exclude(tr: _Translator, m: z3.ModelRef) -> Any:
    """Rule out the abstracted facts' values of a candidate the engine did not confirm (or, without
    abstraction, the field values themselves), so the next candidate differs where it matters."""
    terms = list(tr.abstracted.values()) or [t for t, _ in tr.fields.values()]
    same = []
    for t in terms:
        same.append(t.known == m.eval(t.known, model_completion=True))
        vals = t.val if isinstance(t.val, list) else [t.val]
        same += [v == m.eval(v, model_completion=True) for v in vals]
    return z3.Not(z3.And(same)) if same else z3.BoolVal(False)


# ------------------------------------------------------------------------------------------ output


def render_table(report: CheckReport) -> str:
    """The text report: one row per pack and span, then each finding with its example household."""
    head = ("规则包 pack", "日期区间 span", "可成立类别规则 can fire", "问题数 questions", "结果 result")
    rows: list[tuple[str, ...]] = []
    for s in report.spans:
        if s.findings:
            res = "；".join(
                ("重叠 overlap" if f.kind == "overlap" else "缺口 gap") + ("" if f.confirmed else "?")
                for f in s.findings
            )
        else:
            res = "通过 ok"
        span = f"{s.start.isoformat()} – {s.until.isoformat() if s.until else '…'}"
        rows.append((s.pack, span, f"{len(s.categories) - len(s.dead)}/{len(s.categories)}", str(s.questions), res))
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    for f in report.findings:
        lines += [
            "",
            f"{f.pack} {f.span_start.isoformat()}: {f.describe()}",
            f"  规则 rules: {', '.join(f.rules)}",
            f"  实例（{f.as_of.isoformat()} 评估，引擎结论 {f.status}）"
            f"/ example (evaluated on {f.as_of.isoformat()}, engine says {f.status}):",
            "  " + json.dumps(f.household, ensure_ascii=False, sort_keys=True),
        ]
        if f.note:
            lines.append(f"  {f.note}")
    confirmed = [f for f in report.findings if f.confirmed]
    lines += [
        "",
        f"检查 {len(report.spans)} 个日期区间，发现重叠 {sum(f.kind == 'overlap' for f in confirmed)} 处、缺口 "
        f"{sum(f.kind == 'gap' for f in confirmed)} 处 / checked {len(report.spans)} spans: "
        f"{sum(f.kind == 'overlap' for f in confirmed)} overlaps, {sum(f.kind == 'gap' for f in confirmed)} gaps",
    ]
    return "\n".join(lines)


def _width(s: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)


def _pad(s: str, w: int) -> str:
    return s + " " * (w - _width(s))
