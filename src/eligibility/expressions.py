"""The formula language of ``facts.yaml``: parsing, static checks, three-valued evaluation, rendering.

A formula is a small closed language — arithmetic, comparisons, ``and``/``or``/``not``, ``in``,
aggregates over a collection with a ``where`` filter, and a handful of date functions::

    (income.wage + income.business_income - income.business_cost) / household_size
    count(members where member.dropped_out == true and age(member.birth_date) >= param.edu_age_min)

No Python runs from a rule file, ever: names resolve to household fields, declared facts or parameters,
and everything else is a diagnostic with its column.

Missing data is :data:`UNKNOWN`, and every operator follows Kleene's three-valued logic: ``unknown and
false`` is false, ``unknown or true`` is true, and any arithmetic on an unknown is unknown — so a gap in
a record can only ever make a result *unknown*, never quietly false (design.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Protocol

from dateutil.relativedelta import relativedelta

from .errors import bilingual, type_zh

__all__ = [
    "UNKNOWN",
    "Env",
    "ExprError",
    "Resolver",
    "Type",
    "Unknown",
    "compile_expr",
    "format_value",
    "kleene_and",
    "kleene_not",
    "kleene_or",
    "names",
    "parse",
    "suggest",
]


class Unknown:
    """The third truth value: a fact whose value the record does not give."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; use the kleene_* helpers")


UNKNOWN: Final = Unknown()


def kleene_and(values: Sequence[Any]) -> Any:
    """False if any is false, else unknown if any is unknown, else true."""
    unknown = False
    for v in values:
        if v is UNKNOWN:
            unknown = True
        elif v is False:
            return False
    return UNKNOWN if unknown else True


def kleene_or(values: Sequence[Any]) -> Any:
    """True if any is true, else unknown if any is unknown, else false."""
    unknown = False
    for v in values:
        if v is UNKNOWN:
            unknown = True
        elif v is True:
            return True
    return UNKNOWN if unknown else False


def kleene_not(value: Any) -> Any:
    """Negation that leaves unknown unknown."""
    return UNKNOWN if value is UNKNOWN else not value


# --------------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Type:
    """Static type of a value: ``kind`` plus, for coded text, the allowed values (Chinese form)."""

    kind: str  # bool | number | money | date | text | set | list | collection
    values: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # English code -> Chinese value
    item: str | None = None  # for collections: the loop variable name

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "money")

    def normalise(self, literal: str) -> str | None:
        """The Chinese value a literal stands for, or None when it is not one of the values."""
        if not self.values or literal in self.values:
            return literal
        return dict(self.aliases).get(literal)

    def describe(self) -> str:
        return {
            "bool": "yes/no",
            "number": "number",
            "money": "money",
            "date": "date",
            "text": "text",
            "set": "set",
            "list": "list",
            "collection": "collection",
        }.get(self.kind, self.kind)


BOOL: Final = Type("bool")
NUMBER: Final = Type("number")
MONEY: Final = Type("money")
DATE: Final = Type("date")
TEXT: Final = Type("text")


def compatible(a: Type, b: Type) -> bool:
    """Whether values of the two types may be compared with each other."""
    if a.numeric and b.numeric:
        return True
    if a.kind in ("text",) and b.kind in ("text",):
        return True
    return a.kind == b.kind


class ExprError(Exception):
    """A static problem in a formula: diagnostic code, message and character offset."""

    def __init__(self, code: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


def suggest(name: str, candidates: Sequence[str]) -> str:
    """A ' (did you mean `x`?)' suffix, or '' when nothing is close."""
    import difflib

    best = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{best[0]}`?)" if best else ""


# ------------------------------------------------------------------------------------------ tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*"|「[^」]*」)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
    """,
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "where", "true", "false"})


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(src: str) -> list[Tok]:
    out: list[Tok] = []
    i = 0
    while i < len(src):
        m = _TOKEN.match(src, i)
        if not m:
            raise ExprError("EL209", f"意外的字符 `{src[i]}` / unexpected character `{src[i]}`", i)
        kind = m.lastgroup or ""
        if kind != "ws":
            text = m.group()
            if kind == "name" and text in _KEYWORDS:
                kind = "kw"
            out.append(Tok(kind, text, i))
        i = m.end()
    out.append(Tok("end", "", len(src)))
    return out


# --------------------------------------------------------------------------------------------- AST


@dataclass
class Node:
    pos: int


@dataclass
class Lit(Node):
    value: Any


@dataclass
class ListLit(Node):
    items: list[Node]


@dataclass
class Name(Node):
    parts: tuple[str, ...]
    ref: str = ""  # field | fact | param | item (set by the checker)
    key: str = ""  # the resolved lookup key


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class BoolOp(Node):
    op: str  # and | or
    items: list[Node]


@dataclass
class Call(Node):
    fn: str
    args: list[Node]


@dataclass
class Aggregate(Node):
    fn: str
    collection: Name
    value: Node | None
    where: Node | None
    var: str = ""


AGGREGATES: Final = frozenset({"count", "sum", "any", "all", "min", "max"})
FUNCTIONS: Final = {
    "age": "age(date): whole years from the date to as_of",
    "months_since": "months_since(date): whole months from the date to as_of",
    "months_between": "months_between(d1, d2): whole months from d1 to d2",
    "days_between": "days_between(d1, d2): days from d1 to d2",
    "if": "if(condition, a, b): a when the condition holds, b when it does not",
    "is_known": "is_known(x): whether the record gives x (never unknown)",
    "add_days": "add_days(date, n): the date n days later",
    "add_months": "add_months(date, n): the date n calendar months later (dateutil; month ends clip)",
    "end_of_month": "end_of_month(date): the last day of the date's month",
    "months_without": "months_without(dates, start, end): calendar months from start to end with none of the dates",
    "first_month_without": "first_month_without(dates, start, end): first day of the first such month",
}
_ARITY: Final = {
    "age": 1,
    "months_since": 1,
    "months_between": 2,
    "days_between": 2,
    "if": 3,
    "is_known": 1,
    "add_days": 2,
    "add_months": 2,
    "end_of_month": 1,
    "months_without": 3,
    "first_month_without": 3,
}


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, text: str) -> Tok | None:
        if self.tok.text == text and self.tok.kind in ("op", "kw"):
            return self.take()
        return None

    def expect(self, text: str) -> Tok:
        t = self.accept(text)
        if t is None:
            found = self.tok.text or "end of formula"
            raise ExprError(
                "EL209", f"此处应为 `{text}`，实际是 `{found}` / expected `{text}`, found `{found}`", self.tok.pos
            )
        return t

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise ExprError("EL209", f"意外的 `{self.tok.text}` / unexpected `{self.tok.text}`", self.tok.pos)
        return node

    def expr(self) -> Node:
        return self.or_()

    def or_(self) -> Node:
        first = self.and_()
        items = [first]
        while self.accept("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp(first.pos, "or", items)

    def and_(self) -> Node:
        first = self.not_()
        items = [first]
        while self.accept("and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp(first.pos, "and", items)

    def not_(self) -> Node:
        t = self.accept("not")
        if t:
            return Unary(t.pos, "not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        left = self.add()
        t = self.tok
        if t.kind == "op" and t.text in ("<", "<=", ">", ">=", "==", "!="):
            self.take()
            return Binary(t.pos, t.text, left, self.add())
        if t.kind == "kw" and t.text == "in":
            self.take()
            return Binary(t.pos, "in", left, self.add())
        return left

    def add(self) -> Node:
        node = self.mul()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            t = self.take()
            node = Binary(t.pos, t.text, node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            t = self.take()
            node = Binary(t.pos, t.text, node, self.unary())
        return node

    def unary(self) -> Node:
        t = self.accept("-")
        if t:
            return Unary(t.pos, "-", self.unary())
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            return Lit(t.pos, Decimal(t.text) if "." in t.text else int(t.text))
        if t.kind == "str":
            self.take()
            return Lit(t.pos, t.text[1:-1])
        if t.kind == "kw" and t.text in ("true", "false"):
            self.take()
            return Lit(t.pos, t.text == "true")
        if self.accept("("):
            node = self.expr()
            self.expect(")")
            return node
        if t.kind == "op" and t.text == "[":
            self.take()
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.expr())
                while self.accept(","):
                    items.append(self.expr())
                self.expect("]")
            return ListLit(t.pos, items)
        if t.kind == "name":
            self.take()
            parts = [t.text]
            if self.tok.text == "(" and self.tok.kind == "op":
                return self.call(t)
            while self.accept("."):
                nt = self.tok
                if nt.kind not in ("name", "kw"):
                    raise ExprError("EL209", "`.` 之后应为名称 / expected a name after `.`", nt.pos)
                self.take()
                parts.append(nt.text)
            return Name(t.pos, tuple(parts))
        found = t.text or "end of formula"
        raise ExprError("EL209", f"此处应为一个值，实际是 `{found}` / expected a value, found `{found}`", t.pos)

    def call(self, name: Tok) -> Node:
        self.expect("(")
        if name.text in AGGREGATES:
            coll = self.atom()
            if not isinstance(coll, Name):
                raise ExprError(
                    "EL209",
                    f"{name.text}() 的第一个参数须为集合，如 `members` / "
                    f"{name.text}() needs a collection such as `members` first",
                    coll.pos,
                )
            value: Node | None = None
            where: Node | None = None
            if self.accept(","):
                value = self.expr()
            if self.accept("where"):
                where = self.expr()
            self.expect(")")
            return Aggregate(name.pos, name.text, coll, value, where)
        args: list[Node] = []
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            self.expect(")")
        return Call(name.pos, name.text, args)


MAX_FORMULA: Final = 2000
"""Longest formula, in characters."""
MAX_BRACKETS: Final = 32
"""Deepest bracket nesting in a formula; the parser, the checker and the generated Python all recurse."""


def parse(src: str) -> Node:
    """Parse a formula; raises :class:`ExprError` (EL209) with the offending offset, or EL006 when it is too
    long or too deeply nested for the recursive parser and the code generated from it."""
    if len(src) > MAX_FORMULA:
        raise ExprError(
            "EL006", f"公式超过 {MAX_FORMULA} 个字符 / formula longer than {MAX_FORMULA} characters", MAX_FORMULA
        )
    depth = 0
    for i, ch in enumerate(src):
        depth += (ch in "([") - (ch in ")]")
        if depth > MAX_BRACKETS:
            raise ExprError(
                "EL006", f"公式括号嵌套超过 {MAX_BRACKETS} 层 / formula nested deeper than {MAX_BRACKETS} brackets", i
            )
    try:
        return _Parser(src).parse()
    except RecursionError:  # a long chain of unary operators (`not not not …`)
        raise ExprError("EL006", "公式嵌套过深 / formula nested too deeply", 0) from None


def names(node: Node) -> list[Name]:
    """Every name in a formula, in source order (including those inside calls and aggregates)."""
    out: list[Name] = []

    def walk(n: Any) -> None:
        if isinstance(n, Name):
            out.append(n)
        for v in getattr(n, "__dict__", {}).values():
            for x in v if isinstance(v, list) else [v]:
                if isinstance(x, Node):
                    walk(x)

    walk(node)
    return out


# ---------------------------------------------------------------------------------------- checking


class Resolver(Protocol):
    """What the checker asks of the surrounding rule set."""

    def field_type(self, path: str) -> Type | None: ...
    def item_type(self, collection: str, field: str) -> Type | None: ...
    def fact_type(self, name: str) -> Type | None: ...
    def param_type(self, name: str) -> Type | None: ...
    def names(self) -> list[str]: ...
    def param_names(self) -> list[str]: ...
    def item_names(self, collection: str) -> list[str]: ...


@dataclass
class Checked:
    """Result of checking one formula: its type and what it depends on."""

    type: Type
    facts: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver
        self.out = Checked(BOOL)
        self.scope: list[tuple[str, str]] = []  # (variable, collection)

    def check(self, node: Node) -> Type:
        if isinstance(node, Lit):
            v = node.value
            if isinstance(v, bool):
                return BOOL
            if isinstance(v, int | Decimal):
                return NUMBER
            return TEXT
        if isinstance(node, ListLit):
            types = [self.check(i) for i in node.items]
            kinds = {t.kind if not t.numeric else "number" for t in types}
            if len(kinds) > 1:
                raise ExprError("EL208", "列表中的值类型不一致 / a list mixes values of different types", node.pos)
            return Type("list", item=types[0].kind if types else "text")
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Unary):
            t = self.check(node.operand)
            if node.op == "not":
                self.want(t, BOOL, node.operand.pos, "`not`")
                return BOOL
            if not t.numeric:
                raise ExprError(
                    "EL208", f"{type_zh(t.describe())}不能取负 / cannot negate a {t.describe()} value", node.operand.pos
                )
            return t
        if isinstance(node, BoolOp):
            for item in node.items:
                self.want(self.check(item), BOOL, item.pos, f"`{node.op}`")
            return BOOL
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Aggregate):
            return self.aggregate(node)
        raise AssertionError(node)

    def want(self, got: Type, want: Type, pos: int, what: str) -> None:
        if not compatible(got, want):
            raise ExprError(
                "EL208",
                f"{what} 须为{type_zh(want.describe())}，实际是{type_zh(got.describe())} / "
                f"{what} needs a {want.describe()} value, got {got.describe()}",
                pos,
            )

    def name(self, node: Name) -> Type:
        parts = node.parts
        if parts[0] == "param":
            pname = ".".join(parts[1:])
            t = self.r.param_type(pname)
            if t is None:
                raise ExprError(
                    "EL205",
                    bilingual(
                        f"未知的参数 `{pname}`", f"unknown parameter `{pname}`", suggest(pname, self.r.param_names())
                    ),
                    node.pos,
                )
            node.ref, node.key = "param", pname
            self.out.params.add(pname)
            return t
        for var, coll in reversed(self.scope):
            if parts[0] == var:
                fname = ".".join(parts[1:])
                t = self.r.item_type(coll, fname)
                if t is None:
                    raise ExprError(
                        "EL204",
                        bilingual(
                            f"未知的字段 `{var}.{fname}`",
                            f"unknown field `{var}.{fname}`",
                            suggest(fname, self.r.item_names(coll)),
                        ),
                        node.pos,
                    )
                node.ref, node.key = "item", fname
                self.out.fields.add(f"{coll}[].{fname}")
                return t
        full = ".".join(parts)
        if full == "as_of":
            node.ref, node.key = "as_of", full
            return DATE
        t = self.r.fact_type(full)
        if t is not None:
            node.ref, node.key = "fact", full
            self.out.facts.add(full)
            return t
        t = self.r.field_type(full)
        if t is not None:
            node.ref, node.key = "field", full
            self.out.fields.add(full)
            return t
        raise ExprError(
            "EL204",
            bilingual(f"未知的事实或字段 `{full}`", f"unknown fact or field `{full}`", suggest(full, self.r.names())),
            node.pos,
        )

    def binary(self, node: Binary) -> Type:
        lt, rt = self.check(node.left), self.check(node.right)
        op = node.op
        if op in ("+", "-", "*", "/"):
            for t, n in ((lt, node.left), (rt, node.right)):
                if not t.numeric:
                    raise ExprError(
                        "EL208",
                        f"`{op}` 须为数值，实际是{type_zh(t.describe())} / "
                        f"`{op}` needs numbers, got a {t.describe()} value",
                        n.pos,
                    )
            if op in ("+", "-"):
                return MONEY if "money" in (lt.kind, rt.kind) else NUMBER
            if op == "/" and lt.kind == rt.kind == "money":
                return NUMBER
            return MONEY if "money" in (lt.kind, rt.kind) else NUMBER
        if op == "in":
            if rt.kind in ("list", "set"):
                if rt.kind == "list" and isinstance(node.right, ListLit):
                    self.enum_literals(lt, node.right.items)
                elif rt.kind == "set" and isinstance(node.left, Lit):
                    self.enum_literals(rt, [node.left])
                return BOOL
            raise ExprError(
                "EL208",
                f"`in` 右边须为列表或多值字段，实际是{type_zh(rt.describe())} / "
                f"`in` needs a list or set on the right, got {rt.describe()}",
                node.right.pos,
            )
        if not compatible(lt, rt):
            raise ExprError(
                "EL208",
                f"{type_zh(lt.describe())}不能与{type_zh(rt.describe())}比较 / "
                f"cannot compare a {lt.describe()} value with a {rt.describe()} value",
                node.pos,
            )
        if op not in ("==", "!=") and lt.kind not in ("number", "money", "date"):
            raise ExprError(
                "EL208",
                f"`{op}` 不能比较{type_zh(lt.describe())}的大小 / `{op}` does not order {lt.describe()} values",
                node.pos,
            )
        if lt.values and isinstance(node.right, Lit):
            self.enum_literals(lt, [node.right])
        if rt.values and isinstance(node.left, Lit):
            self.enum_literals(rt, [node.left])
        return BOOL

    def enum_literals(self, t: Type, lits: list[Node]) -> None:
        """Check (and normalise to the Chinese value) literals compared with a coded field."""
        if not t.values:
            return
        for lit in lits:
            if isinstance(lit, Lit) and isinstance(lit.value, str):
                norm = t.normalise(lit.value)
                if norm is None:
                    allowed = ", ".join(t.values)
                    raise ExprError(
                        "EL213",
                        f"`{lit.value}` 不是可选值（{'、'.join(t.values)}）/ `{lit.value}` is not one of: {allowed}",
                        lit.pos,
                    )
                lit.value = norm

    def call(self, node: Call) -> Type:
        fn = node.fn
        if fn not in FUNCTIONS:
            raise ExprError(
                "EL211",
                bilingual(f"未知的函数 `{fn}`", f"unknown function `{fn}`", suggest(fn, [*FUNCTIONS, *AGGREGATES])),
                node.pos,
            )
        arity = _ARITY[fn]
        if len(node.args) != arity:
            raise ExprError(
                "EL209",
                f"{fn}() 须有 {arity} 个参数，实际 {len(node.args)} 个 / "
                f"{fn}() takes {arity} argument(s), got {len(node.args)}",
                node.pos,
            )
        types = [self.check(a) for a in node.args]
        if fn in ("age", "months_since", "months_between", "days_between"):
            for t, a in zip(types, node.args, strict=True):
                self.want(t, DATE, a.pos, f"{fn}()")
            return NUMBER
        if fn == "if":
            self.want(types[0], BOOL, node.args[0].pos, "if()")
            if not compatible(types[1], types[2]):
                raise ExprError(
                    "EL208", "if() 的两个分支类型不同 / the two branches of if() have different types", node.pos
                )
            return types[1]
        if fn in ("add_days", "add_months"):
            self.want(types[0], DATE, node.args[0].pos, f"{fn}()")
            self.want(types[1], NUMBER, node.args[1].pos, f"{fn}()")
            return DATE
        if fn == "end_of_month":
            self.want(types[0], DATE, node.args[0].pos, f"{fn}()")
            return DATE
        if fn in ("months_without", "first_month_without"):
            if types[0].kind != "list" or types[0].item != "date":
                raise ExprError(
                    "EL208", f"{fn}() 的第一个参数须为日期列表 / {fn}() needs a list of dates first", node.args[0].pos
                )
            for t, a in zip(types[1:], node.args[1:], strict=True):
                self.want(t, DATE, a.pos, f"{fn}()")
            return NUMBER if fn == "months_without" else DATE
        return BOOL  # is_known

    def aggregate(self, node: Aggregate) -> Type:
        coll = ".".join(node.collection.parts)
        ct = self.r.field_type(coll)
        if ct is None or ct.kind != "collection" or ct.item is None:
            raise ExprError(
                "EL204",
                f"`{coll}` 不是农户数据中的集合 / `{coll}` is not a collection of the household",
                node.collection.pos,
            )
        node.collection.ref, node.collection.key = "field", coll
        self.out.fields.add(coll)
        node.var = ct.item
        self.scope.append((ct.item, coll))
        try:
            if node.where is not None:
                self.want(self.check(node.where), BOOL, node.where.pos, "`where`")
            vt = self.check(node.value) if node.value is not None else None
        finally:
            self.scope.pop()
        if node.fn == "count":
            if vt is not None:
                raise ExprError(
                    "EL209",
                    "count() 的参数为一个集合和可选的 `where` / count() takes a collection and an optional `where`",
                    node.value.pos,  # type: ignore[union-attr]
                )
            return NUMBER
        if vt is None:
            raise ExprError(
                "EL209", f"{node.fn}() 在集合之后须有一个值 / {node.fn}() needs a value after the collection", node.pos
            )
        if node.fn in ("any", "all"):
            self.want(vt, BOOL, node.value.pos, f"{node.fn}()")  # type: ignore[union-attr]
            return BOOL
        if node.fn == "sum" and not vt.numeric:
            raise ExprError("EL208", "sum() 须为数值 / sum() needs numbers", node.value.pos)  # type: ignore[union-attr]
        return vt


def check(node: Node, resolver: Resolver) -> Checked:
    """Resolve every name in ``node`` and infer its type; raises :class:`ExprError`."""
    c = _Checker(resolver)
    c.out.type = c.check(node)
    return c.out


# -------------------------------------------------------------------------------------- evaluation


class Env(Protocol):
    """What evaluation reads: household fields, computed facts, parameters, the date."""

    fields: dict[str, Any]
    facts: dict[str, Any]
    as_of: date

    def param(self, name: str) -> Any: ...


Fn = Callable[[Env, Any], Any]
"""A compiled formula: (env, current collection item or None) -> value or UNKNOWN."""


@functools.lru_cache(maxsize=65536)
def _delta(a: date, b: date) -> tuple[int, int]:
    """Whole (years, months) from ``a`` to ``b`` by dateutil's relativedelta, memoised: a county's
    households share birth dates and the assessment date, and relativedelta is slow to build."""
    rd = relativedelta(b, a)
    return rd.years, rd.years * 12 + rd.months


def _months(a: date, b: date) -> int:
    return _delta(a, b)[1]


_CMP: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return UNKNOWN  # a per-capita figure of a household with no members is not a number
    q = Decimal(a) / Decimal(b)
    return q


def compile_expr(node: Node) -> Fn:
    """Turn a checked AST into a closure; evaluation is then a chain of plain calls."""
    if isinstance(node, Lit):
        v = node.value
        return lambda env, item: v
    if isinstance(node, ListLit):
        fns = [compile_expr(i) for i in node.items]
        return lambda env, item: tuple(f(env, item) for f in fns)
    if isinstance(node, Name):
        key = node.key
        if node.ref == "param":
            return lambda env, item: env.param(key)
        if node.ref == "fact":
            return lambda env, item: env.facts.get(key, UNKNOWN)
        if node.ref == "item":
            return lambda env, item: item.get(key, UNKNOWN)
        if node.ref == "as_of":
            return lambda env, item: env.as_of
        return lambda env, item: env.fields.get(key, UNKNOWN)
    if isinstance(node, Unary):
        f = compile_expr(node.operand)
        if node.op == "not":
            return lambda env, item: kleene_not(f(env, item))
        return lambda env, item: UNKNOWN if (x := f(env, item)) is UNKNOWN else -x
    if isinstance(node, BoolOp):
        fs = [compile_expr(i) for i in node.items]
        comb = kleene_and if node.op == "and" else kleene_or
        return lambda env, item: comb([f(env, item) for f in fs])
    if isinstance(node, Binary):
        lf, rf, op = compile_expr(node.left), compile_expr(node.right), node.op
        if op == "in":

            def _in(env: Env, item: Any) -> Any:
                a, b = lf(env, item), rf(env, item)
                if a is UNKNOWN or b is UNKNOWN:
                    return UNKNOWN
                return a in b

            return _in
        if op in _CMP:
            cmp = _CMP[op]

            def _cmp(env: Env, item: Any) -> Any:
                a, b = lf(env, item), rf(env, item)
                if a is UNKNOWN or b is UNKNOWN:
                    return UNKNOWN
                return cmp(a, b)

            return _cmp

        def _ar(env: Env, item: Any) -> Any:
            a, b = lf(env, item), rf(env, item)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            return _arith(op, a, b)

        return _ar
    if isinstance(node, Call):
        return _compile_call(node)
    if isinstance(node, Aggregate):
        return _compile_aggregate(node)
    raise AssertionError(node)


def _compile_call(node: Call) -> Fn:
    fs = [compile_expr(a) for a in node.args]
    fn = node.fn
    if fn == "is_known":
        f0 = fs[0]
        return lambda env, item: f0(env, item) is not UNKNOWN
    if fn == "if":
        c, a, b = fs

        def _if(env: Env, item: Any) -> Any:
            cond = c(env, item)
            if cond is UNKNOWN:
                x, y = a(env, item), b(env, item)
                return x if x == y and x is not UNKNOWN else UNKNOWN
            return a(env, item) if cond else b(env, item)

        return _if
    if fn in _DATE_FUNCTIONS:
        return _compile_date_call(fn, fs)
    if fn in ("age", "months_since"):
        f0 = fs[0]

        def _since(env: Env, item: Any) -> Any:
            d = f0(env, item)
            if d is UNKNOWN:
                return UNKNOWN
            years, months = _delta(d, env.as_of)
            return years if fn == "age" else months

        return _since
    f1, f2 = fs

    def _between(env: Env, item: Any) -> Any:
        a, b = f1(env, item), f2(env, item)
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        return _months(a, b) if fn == "months_between" else (b - a).days

    return _between


_DATE_FUNCTIONS: Final = frozenset({"add_days", "add_months", "end_of_month", "months_without", "first_month_without"})


def end_of_month(d: date) -> date:
    """The last day of ``d``'s month."""
    return d + relativedelta(day=31)


def months_lacking(dates: Sequence[date], start: date, end: date) -> list[date]:
    """First days of the calendar months from ``start``'s to ``end``'s (inclusive) that contain none
    of ``dates`` — dateutil's rrule walks the months, so month lengths and leap years are its job."""
    from dateutil.rrule import MONTHLY, rrule

    first = start.replace(day=1)
    if end < first:
        return []
    seen = {(d.year, d.month) for d in dates}
    return [m.date() for m in rrule(MONTHLY, dtstart=first, until=end) if (m.year, m.month) not in seen]


def _compile_date_call(fn: str, fs: list[Fn]) -> Fn:
    def run(env: Env, item: Any) -> Any:
        args = [f(env, item) for f in fs]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        if fn == "add_days":
            return args[0] + timedelta(days=int(args[1]))
        if fn == "add_months":
            return args[0] + relativedelta(months=int(args[1]))
        if fn == "end_of_month":
            return end_of_month(args[0])
        lacking = months_lacking(args[0], args[1], args[2])
        if fn == "months_without":
            return len(lacking)
        return lacking[0] if lacking else UNKNOWN

    return run


def _compile_aggregate(node: Aggregate) -> Fn:
    coll = node.collection.key
    where = compile_expr(node.where) if node.where is not None else None
    value = compile_expr(node.value) if node.value is not None else None
    fn = node.fn

    def _agg(env: Env, outer: Any) -> Any:
        items = env.fields.get(coll, UNKNOWN)
        if items is UNKNOWN:
            return UNKNOWN
        selected: list[Any] = []
        unsure = False
        for it in items:
            keep = where(env, it) if where is not None else True
            if keep is UNKNOWN:
                unsure = True
            elif keep:
                selected.append(it)
        if fn == "count":
            return UNKNOWN if unsure else len(selected)
        assert value is not None
        vals = [value(env, it) for it in selected]
        if fn == "any":
            r = kleene_or(vals)
            return UNKNOWN if (r is False and unsure) else r
        if fn == "all":
            r = kleene_and(vals)
            return UNKNOWN if (r is True and unsure) else r
        if unsure or any(v is UNKNOWN for v in vals):
            return UNKNOWN
        if fn == "sum":
            return sum(vals, 0)
        if not vals:
            return UNKNOWN
        return min(vals) if fn == "min" else max(vals)

    return _agg


# ---------------------------------------------------------------------------------------- rendering


def format_value(v: Any) -> str:
    """Human form of a value: 7800 not 7800.00, 3333.33 not 3333.333…, dates ISO, 是/否 for yes/no."""
    if v is UNKNOWN:
        return "未知"
    if v is True:
        return "是"
    if v is False:
        return "否"
    if isinstance(v, Decimal):
        if v == v.to_integral_value():
            return str(int(v))
        q = v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # display: 四舍五入 (docs/input.md)
        return format(q.normalize(), "f")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, tuple | list | frozenset | set):
        return "[" + ", ".join(format_value(x) for x in sorted(v, key=str)) + "]"
    return str(v)


_PREC: Final = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "atom": 8}


def substitute(node: Node, env: Env, value: Any = None) -> str:
    """The formula with every name, call and aggregate replaced by its value on this household.

    ``value``, when given, is the formula's own value, reused when the whole formula is one name, call
    or aggregate instead of evaluating it a second time.
    """
    if value is not None and isinstance(node, Name | Call | Aggregate):
        return format_value(value)
    return _sub(node, env, 0)


def _sub(node: Node, env: Env, parent: int) -> str:
    if isinstance(node, Lit):
        return f"'{node.value}'" if isinstance(node.value, str) else format_value(node.value)
    if isinstance(node, Name | Call | Aggregate):
        fn = node.__dict__.get("_fn")
        if fn is None:  # compiled once per node, then reused by every evaluation
            fn = node.__dict__["_fn"] = compile_expr(node)
        return format_value(fn(env, None))
    if isinstance(node, ListLit):
        return "[" + ", ".join(_sub(i, env, 0) for i in node.items) + "]"
    if isinstance(node, Unary):
        p = _PREC["not" if node.op == "not" else "neg"]
        s = ("not " if node.op == "not" else "-") + _sub(node.operand, env, p)
    elif isinstance(node, BoolOp):
        p = _PREC[node.op]
        s = f" {node.op} ".join(_sub(i, env, p) for i in node.items)
    elif isinstance(node, Binary):
        p = _PREC.get(node.op, _PREC["cmp"])
        sym = {"-": "−", "*": "×", "/": "/"}.get(node.op, node.op)
        s = f"{_sub(node.left, env, p)} {sym} {_sub(node.right, env, p + (node.op in '-/'))}"
    else:  # pragma: no cover
        raise AssertionError(node)
    return f"({s})" if p < parent else s
