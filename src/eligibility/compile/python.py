"""The Python target: one generated function per pack chain and date span.

Over a *span* — dates between two consecutive change points of a chain (a rule version starting or
ending, a parameter value starting) — the rules in force and every parameter value are constant. So
the IR of that span is compiled once into straight-line Python source: household fields read straight
off the :class:`~eligibility.models.Household` attributes, derived facts in dependency order, every
rule's condition node by node, and the conclusions gathered — with the span's parameter values folded
in as constants. Only ``as_of`` stays an argument, because ages and month counts depend on the exact day.

The generated function returns one flat tuple of values (facts, the numbers a fact's formula shows, the
household fields the conditions read, each condition node's outcome) plus the fired and unknown
conclusions. That tuple is the *compact trace*; the static rest — formulas, labels, citations, parameter
values with their dated sources — is the program's :mod:`manifest <eligibility.compile.manifest>`.

Semantics are the rule language's, exactly (docs/engines.md): Kleene three-valued logic with
``UNKNOWN``, every branch of ``all``/``any`` evaluated (a parameter with no value on the date is
unknown), exact Decimal arithmetic, a division by zero is unknown, whole months and years by
python-dateutil. Nothing from a rule file is ever passed to ``eval``: the source is generated from the
checked AST, whose names were resolved at load time; literals travel as constants, never as code text.

``Program.source`` is readable: names follow fact and rule ids, and each rule's block starts with a
comment pointing at its rule file's ``path:line``. The comments are on lines of their own and blank in
the text that is compiled, so programs whose code is the same share one compiled copy (:func:`_shared`)
while line *n* of a traceback is still line *n* of ``Program.source``.
"""

from __future__ import annotations

import builtins
import enum
import re
import threading
import types
import typing
import weakref
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel

from .._cache import cached_code
from .._dates import whole_months
from ..conditions import AtLeast, Cond, Group, Leaf, Negation, ParamHit, RuleRef
from ..errors import MissingParameterError
from ..expressions import (
    UNKNOWN,
    Aggregate,
    Binary,
    BoolOp,
    Call,
    ListLit,
    Lit,
    Name,
    Node,
    Unary,
)
from ..facts import CATALOGUE, FieldSpec, _item, _unwrap
from ..models import Household
from ..ruleset import Chain, RuleDef, RuleVersion

__all__ = [
    "CONCLUSION_GROUPS",
    "GROUP_OF_KIND",
    "N_GROUPS",
    "VALUE_GROUPS",
    "CondNode",
    "FactSlot",
    "Program",
    "program_for",
    "spans",
]

_SECTION_FIELDS: Final = frozenset(p.split(".", 1)[0] for p in CATALOGUE if "." in p)
_POSITION: Final = {
    **{p.split(".", 1)[0]: i for i, p in reversed(list(enumerate(CATALOGUE)))},
    **{p: i for i, p in enumerate(CATALOGUE)},
}
"""Each household field's (and section's) place in the models' declaration order, which is the order
pydantic builds an instance's attributes in: the program reads them in that order."""

Conclusion = tuple[str, str, str]
"""(kind, code, rule id)."""
Masks = tuple[int, ...]
"""One bit mask per conclusion group: bit ``j`` of group ``i`` is ``Program.conclusion_bits[i][j]``."""

CONCLUSION_GROUPS: Final[tuple[tuple[str, ...], ...]] = (
    ("category",),
    ("review",),
    ("exclusion",),
    ("already_monitored",),
    ("risk",),
    ("risk_type",),
    ("layer",),
    ("measure",),
    ("gap",),
    ("exit_applies", "exit_blocker", "exit_method"),
    ("finding",),
    ("warning",),
)
"""The kinds of conclusion the engine builds one piece of a decision from, each piece memoised per
combination of its own conclusions: a kind apiece, as a county's households share few combinations of
one kind where combinations of all identification kinds together are nearly one per household; the
exit's kinds decide together. Any other kind (the last group) only counts as unknown."""
GROUP_OF_KIND: Final[dict[str, int]] = {kind: i for i, group in enumerate(CONCLUSION_GROUPS) for kind in group}
N_GROUPS: Final = len(CONCLUSION_GROUPS) + 1
VALUE_GROUPS: Final = tuple(sorted({GROUP_OF_KIND[k] for k in ("measure", "gap", "exit_applies", "finding")}))
"""The conclusion groups whose firing makes a decision without a trace read the program's values: the
members a measure or gap names (``engine._decider``), an exit's dates (``Engine._exit``), the procedure's
dated findings (the generated decision, ``engine._decider``). :meth:`Program.run_none` returns the values
only when one of them fired (or a conclusion is unknown: the gap report reads values and node outcomes)."""


# ------------------------------------------------------------------------------------------ layout


@dataclass
class FactSlot:
    """A derived fact in the program: its value index and its formula's substitution template.

    ``template`` is a list of literal text pieces and value indices (the names, calls and aggregates of
    the formula, each evaluated once); ``whole`` means the formula is one such term and shows the
    fact's own value.
    """

    name: str
    index: int
    template: list[str | int]
    whole: bool


@dataclass
class CondNode:
    """One node of a rule's condition tree, with its index into the outcome string."""

    cond: Cond
    index: int
    children: list[CondNode] = field(default_factory=list)
    actual: int | None = None  # leaves: value index of the subject
    operands: list[tuple[str, Any]] = field(default_factory=list)  # leaves: ("value", idx) | ("const", v)
    hits: list[ParamHit | None] = field(default_factory=list)  # leaves: the parameter hit per operand
    expr: str = ""  # in the generated code: the local or constant holding the outcome
    code: str = ""  # leaves: the expression computing the outcome
    shared: bool = False  # leaves: ``expr`` is the local of the same test in an earlier rule (full program)


@dataclass
class Program:
    """A compiled (chain, span): the generated function, its source, and the layout of its values."""

    chain: Chain
    start: date
    until: date | None
    key: str
    source: str
    fn: Any
    facts: list[FactSlot]
    rules: list[tuple[RuleDef, RuleVersion, CondNode]]
    n_nodes: int
    hits: frozenset[ParamHit]
    fact_index: dict[str, int]
    value_kinds: list[str] = field(default_factory=list)
    conclusion_bits: tuple[tuple[tuple[Conclusion, ...], ...], ...] = ()
    """Per conclusion group (:data:`CONCLUSION_GROUPS`), per bit of that group's masks: the conclusions
    one rule contributes to the group when it fires (or is unknown), in the rule's order."""

    lean_fn: Any = None
    none_code: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)
    """``program_none``'s source and the namespace it runs in, compiled on the first :meth:`run_none`."""
    shared: list[_Shared] = field(default_factory=list, repr=False, compare=False)
    """The compiled code this program runs, shared with every program writing the same text (:func:`_shared`):
    held here so that the shared copy lives as long as a program running it."""

    def __post_init__(self) -> None:
        """``run`` is the generated function itself, set on the instance (and so is ``run_none`` once
        compiled): the method below only calls it, and that extra Python frame per household is a cost
        the engine pays on every decision (the methods stay as the documented signatures). ``run_lean``
        stays a method: tests put their own ``run_lean`` on a program's instance to check how the engine
        uses it."""
        self.__dict__["run"] = self.fn

    def none_fn(self) -> Any:
        """The compiled ``program_none`` (compiled once, thread-safe), set on the instance as ``run_none``."""
        fn = self.__dict__.get("run_none")
        if fn is None:
            assert self.none_code is not None
            with _NONE_LOCK:
                fn = self.__dict__.get("run_none")
                if fn is None:
                    text, namespace = self.none_code
                    scope = dict(namespace)  # (the defaults bind the same constants and helpers)
                    shared = _shared(text, "<eligibility program (none)>")
                    exec(shared.code, scope)  # our own generated source
                    self.shared.append(shared)
                    fn = self.__dict__["run_none"] = _rehomed(scope["program_none"])
        return fn

    def run_none(self, h: Any, as_of: date) -> tuple[Any, Any, Masks, Masks]:
        """What :meth:`run` gives, for a decision without a trace: every node computed as in :meth:`run`,
        but the two large tuples built only when the decision reads them — the node outcomes when a
        conclusion is unknown (the gap report), the values then too or when a conclusion of a
        :data:`VALUE_GROUPS` group fired; ``None`` otherwise. Those tuples (83 and 105 items for the
        淮北 identification pack, 178 and 383 for the bundled packs) cost CPython a list grown item by
        item and, past 59 items, a ``malloc``: about a sixth of the identification program's time.
        (The values are typed ``Any``: a tuple, or None as just said.)"""
        return self.none_fn()(h, as_of)  # type: ignore[no-any-return]

    def run_lean(self, h: Any, as_of: date) -> tuple[tuple[Any, ...], None, Masks, Masks]:
        """What :meth:`run` gives, but ``None`` for the outcome tuple: for a decision without a trace.
        The lean function computes a rule's nodes only until its outcome is settled (an ``all`` with a
        false child is false), so it does less work; values and masks are the same."""
        return self.lean_fn(h, as_of)  # type: ignore[no-any-return]

    def run(self, h: Any, as_of: date) -> tuple[tuple[Any, ...], tuple[Any, ...], Masks, Masks]:
        """(values, each condition node's outcome — True, False or UNKNOWN —, fired conclusions, unknown
        ones): the conclusions as one bit mask per conclusion group (:meth:`conclusions` lists them).

        Masks, not lists, because the engine memoises each piece of a decision per combination of its
        conclusions: a few integers make that key, where lists of (kind, code, rule id) had to be
        sorted into groups and hashed per household."""
        return self.fn(h, as_of)  # type: ignore[no-any-return]

    def conclusions(self, group: int, mask: int) -> list[Conclusion]:
        """The (kind, code, rule id) conclusions of ``group`` that ``mask`` holds, in rule order — the
        order the rules are evaluated in."""
        out: list[Conclusion] = []
        table = self.conclusion_bits[group]
        j = 0
        while mask:
            if mask & 1:
                out += table[j]
            mask >>= 1
            j += 1
        return out


# ------------------------------------------------------------------------------------------- spans


def spans(chain: Chain) -> list[date]:
    """The chain's change points: every rule version's start and end and every parameter value's start."""
    points: set[date] = set()
    for r in chain.rules.values():
        for v in r.versions:
            points.add(v.start)
            if v.until is not None:
                points.add(v.until)
    for p in chain.packs:
        for values in p.values.values():
            points.update(v.start for v in values)
    # A decision carries the labels in force on its date (issue 12): a new wording starts a new span.
    points.update(chain.ruleset.label_dates())
    return sorted(points)


_CACHE_LOCK: Final = threading.Lock()
_NONE_LOCK: Final = threading.Lock()


# ------------------------------------------------------------------------------------ shared code


class _Shared:
    """The code compiled from one program text (:func:`_shared`), held by every :class:`Program` whose
    compiler wrote that text."""

    __slots__ = ("__weakref__", "code")

    def __init__(self, code: types.CodeType) -> None:
        self.code = code


_SHARED: Final[weakref.WeakValueDictionary[tuple[str, str], _Shared]] = weakref.WeakValueDictionary()
"""The compiled program texts by (file name, text without comments), while a program holds them."""
_SHARED_LOCK: Final = threading.Lock()

_COMMENT_LINE: Final = re.compile(r"^[ \t]*#[^\n]*", re.MULTILINE)
"""A whole-line comment (with its indentation). The compiler writes its comments on lines of their own —
``# rule <id> (<file>:<line>)``, ``# fact …``, ``# <pack> [<start>, <until>)`` above each ``def`` —
and no string of the generated code starts a line (constants are names)."""

_RUN_GLOBALS: Final[dict[str, Any]] = {"__builtins__": builtins}
"""The globals of every generated program function: a program binds its constants and helpers as
defaults (:func:`_bound`), so the only names it looks up globally are builtins (``len``, ``min``,
``max``). One dictionary for all programs keeps those look-ups specialised in the shared code, which
they are not when each program's function has its own globals (CPython checks the dictionary's keys)."""


def _shared(source: str, filename: str, disk: bool = True) -> _Shared:
    """The code of ``source`` compiled with its comment lines blanked, once for every program writing the
    same text (thread-safe); kept on disk too (:func:`~eligibility._cache.cached_code`) unless ``disk`` is
    false (a function of a few lines compiles as fast as a file is read).

    Why shared (session 18): the comments name the span and the rules' files, and the constants are
    bound per program as the functions' defaults (the code reads them as locals), so the rest of the
    text is the same for the spans of a pack and for packs built alike — the bundled packs' 54 programs
    write 13 texts (the constants take 26 sets). A fresh household is slow mostly for bringing code and
    data back into the CPU's caches (sessions 16–17); one copy of the code per text is code the other
    programs' households ran recently, already specialised by the interpreter. The blanked lines keep the
    line numbers: line *n* of a traceback is line *n* of :attr:`Program.source`, comments and all. The file
    name is the text's, not one program's."""
    text = _COMMENT_LINE.sub("", source)
    key = (filename, text)
    with _SHARED_LOCK:
        got = _SHARED.get(key)
        if got is None:
            got = _SHARED[key] = _Shared(cached_code(text, filename) if disk else compile(text, filename, "exec"))
    return got


def _rehomed(fn: Any) -> Any:
    """``fn`` — a generated function, its defaults bound from its program's namespace — with the one
    globals dictionary of all programs (:data:`_RUN_GLOBALS`)."""
    got = types.FunctionType(fn.__code__, _RUN_GLOBALS, fn.__name__, fn.__defaults__)
    return got


def program_for(chain: Chain, on: date) -> Program:
    """The compiled program of ``chain`` for the span holding ``on`` (compiled once, thread-safe)."""
    by_day: dict[date, Program] | None = chain.__dict__.get("_by_day")
    if by_day is not None:
        got = by_day.get(on)
        if got is not None:
            return got
    cache: dict[date | None, Program] | None = chain.__dict__.get("_programs")
    points: list[date] | None = chain.__dict__.get("_points")
    if cache is None or points is None:
        with _CACHE_LOCK:
            if "_programs" not in chain.__dict__:
                chain.__dict__["_points"] = spans(chain)
                chain.__dict__["_programs"] = {}
            cache, points = chain.__dict__["_programs"], chain.__dict__["_points"]
    assert cache is not None and points is not None
    i = bisect_right(points, on) - 1
    start = points[i] if i >= 0 else None
    prog = cache.get(start)
    if prog is None:
        with _CACHE_LOCK:
            prog = cache.get(start)
            if prog is None:
                until = points[i + 1] if i + 1 < len(points) else None
                prog = _Compiler(chain, on, start or date.min, until).build()
                cache[start] = prog
    # Most calls ask for the same few assessment dates: remember the program per day too.
    days = chain.__dict__.setdefault("_by_day", {})
    if len(days) < 100_000:
        days[on] = prog
    return prog


# ---------------------------------------------------------------------------------------- compiler


def _ident(s: str) -> str:
    return re.sub(r"\W", "_", s, flags=re.ASCII)


def _kind(spec: FieldSpec | None) -> str:
    """How a field's raw attribute becomes a rule value (the same mapping as :func:`facts.flatten`)."""
    if spec is None:
        return "raw"
    t = spec.type
    if t.kind == "collection":
        return "collection"
    if t.kind == "set":
        return "set"
    if t.kind == "text" and t.values:
        return "enum"
    return "raw"


def _convert(var: str, kind: str) -> str:
    """Expression turning raw attribute ``var`` (not None) into the rule value."""
    # ``_value_`` is the enum member's stored value: the same object ``.value`` returns, without the
    # descriptor call that ``.value`` costs on every read.
    if kind == "enum":
        return f"{var}._value_"
    if kind == "set":
        return f"_set_values({var})"
    if kind == "collection":
        return f"([_item(e) for e in {var}] if {var} else {var})"
    return var


class _Compiler:
    def __init__(self, chain: Chain, on: date, start: date, until: date | None) -> None:
        self.chain = chain
        self.on = on
        self.start = start
        self.until = until
        self.lines: list[str] = []
        self.depth = 1
        self.consts: dict[str, Any] = {}
        self.const_ids: dict[int, str] = {}
        self.const_values: dict[tuple[type, str], str] = {}
        self.const_kept: list[Any] = []
        self.day_lines: list[str] = []  # the day function's statements (values of ``as_of`` alone)
        self.daily: list[str] = []  # the locals it computes, in order
        self.shared_leaves: dict[str, str] = {}  # a leaf's code → the local the full program computed it in
        self.tmp = 0
        self.values: list[str] = []  # the expression of each value slot, in order
        self.value_kinds: list[str] = []
        self.field_locals: dict[str, str] = {}
        self.field_index: dict[str, int] = {}
        self.sections: set[str] = set()
        self.loop_vars: list[tuple[str, str]] = []  # (item variable, collection path)
        self.item_dicts: set[str] = set()  # item variables whose ``__dict__`` the loop took (``{var}d``)
        self.hits: set[ParamHit] = set()
        self.node_count = 0
        self.scopes: list[dict[Any, str]] = [{}]
        self.safe: set[str] = {"True", "False", "None", "as_of"}  # expressions that are never unknown
        self.reads: dict[str | None, list[tuple[str, str, str]]] = {}  # section → (local, attribute, conversion)
        self.collections: set[str] = set()
        self.fact_const: dict[str, str] = {}  # facts whose value the span fixes → that constant
        self.cond_nodes: list[CondNode] = []
        self.used: set[str] | None = None  # the names the programs' bodies read (:meth:`render_prologue`)
        self.since_days: dict[int, str] = {}  # whole months → the day's :func:`_since_at_least` local
        # :meth:`since_test` on: only the programs :meth:`build` writes bind ``_since_at_least`` (the member
        # selections, ``members_py``, compile this class's code with their own helpers).
        self.date_bounds = False

    # ------------------------------------------------------------------ emit helpers

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def new(self, prefix: str = "t") -> str:
        self.tmp += 1
        return f"{prefix}{self.tmp}"

    def const(self, v: Any) -> str:
        if v is None or isinstance(v, bool):
            return repr(v)
        if v is UNKNOWN:
            return "U"
        name = self.const_ids.get(id(v))
        if name is None:
            # Equal values of the same type and spelling (``Decimal('1.0')`` is not ``Decimal('1.00')``)
            # share a name: rule files repeat a value (监测中 in a dozen conditions), and leaves that read
            # the same thing then have the same code, which :meth:`cond` computes once.
            key = (type(v), repr(v)) if isinstance(v, _SHAREABLE) else None
            name = self.const_values.get(key) if key is not None else None
            if name is None:
                name = f"K{len(self.consts)}"
                self.consts[name] = v
                self.safe.add(name)
                if key is not None:
                    self.const_values[key] = name
            self.const_ids[id(v)] = name
            self.const_kept.append(v)  # an id stays this object's only while the object lives
        return name

    def as_kind(self, name: str, kind: str | None) -> str:
        """Constant ``name``, a side of a comparison, as a constant of ``kind`` — the type the other side
        surely has (:meth:`numeric`) — when it converts exactly: an int for a whole Decimal compared with
        an int value (``water.fetch_minutes <= 20``, the 20 a parameter's Decimal), a Decimal for an int
        compared with a Decimal value (``net_income == 0``). Else ``name`` itself.

        Why: CPython compares an int with a Decimal by first converting the int to a new Decimal (in
        ``_decimal``'s ``convert_op``: an allocation, and a free after) — about 9 conversions a household
        on the 淮北 identification pack, ~1 % of its instructions (session 24's callgrind). The result is
        the same for every value either side may hold: a Decimal equal to a whole number compares with
        any number exactly as that int does."""
        v = self.consts.get(name)
        if kind is None or v is None or isinstance(v, bool):
            return name
        if kind == "decimal" and type(v) is int:
            return self.const(Decimal(v))
        if kind == "int" and type(v) is Decimal and v.is_finite() and v == v.to_integral_value():
            return self.const(int(v))
        return name

    def param(self, name: str) -> Any:
        """The parameter's value in this span (folded); UNKNOWN when it has none (optional or not: the
        decision names a missing required one, see :meth:`Chain.missing_params`)."""
        try:
            return self.chain.param_hit(name, self.on).value
        except MissingParameterError:
            return UNKNOWN

    def param_expr(self, name: str) -> str:
        return self.const(self.param(name))

    # ------------------------------------------------------------------ household fields

    def field(self, path: str) -> str:
        """A local holding the rule value of household field ``path`` (read once, at the top)."""
        local = self.field_locals.get(path)
        if local is not None:
            return local
        local = "v_" + _ident(path)
        spec = CATALOGUE.get(path)
        kind = _kind(spec)
        if "." in path and path.split(".", 1)[0] in _SECTION_FIELDS:
            sec, attr = path.split(".", 1)
            self.read(sec, local, attr, _convert("x", kind))
        else:
            self.read(None, local, path, _convert("x", kind))
        self.field_locals[path] = local
        return local

    def read(self, sec: str | None, local: str, attr: str, conv: str) -> None:
        """Note a household read for the prologue: ``local`` = attribute ``attr`` of section ``sec`` (or of
        the household) turned into its rule value by ``conv`` (over ``x``), or U when it is absent."""
        if sec is not None:
            self.sections.add(sec)
        self.reads.setdefault(sec, []).append((local, attr, conv))

    def render_prologue(self, days: bool = True) -> list[str]:
        """The household reads, section by section: an absent section makes all its fields U at once,
        instead of testing the section again for each field. ``days``: the values of the day alone
        first, computed in place (the programs read them from their day function's memo instead).
        ``self.used``, when :meth:`build` has set it: the names the rest of the functions read — a read
        whose local is not among them is left out (a field that only a formula the span folds to a
        constant names), and so is a section none of whose reads is left: on fresh households each read
        is a cache miss."""
        out = list(self.day_lines) if days else []
        for _, lines in self.prologue_pieces():
            out += lines
        return out

    def prologue_pieces(self) -> list[tuple[tuple[str, ...], list[str]]]:
        """:meth:`render_prologue`'s household reads (not the day's values) as pieces, in its order: each
        piece the locals it assigns and its statements — ``hd = h.__dict__``, one read of the household,
        or one section with its reads. The member selectors (``members_py``) run a piece only when a
        selector the decision wants reads what it assigns; the programs run them all, as one text."""
        used = self.used
        reads = {
            sec: [r for r in rs if used is None or r[0] in used] for sec, rs in self.reads.items() if sec is not None
        }
        top = sorted(
            (r for r in self.reads.get(None, ()) if used is None or r[0] in used),
            key=lambda r: _POSITION.get(r[1], len(_POSITION)),
        )
        out: list[tuple[tuple[str, ...], list[str]]] = []
        sections = sorted(
            (s for s in self.sections if used is None or reads.get(s)),
            key=lambda s: (_POSITION.get(s, len(_POSITION)), s),
        )
        if any(_plain_field(Household, a) for a in [*(r[1] for r in top), *sections]):
            out.append((("hd",), ["hd = h.__dict__"]))
        for local, attr, conv in top:
            out.append(((local,), _read(local, _get("h", Household, attr), conv)))
        for sec in sections:
            lines = [f"s_{sec} = {_get('h', Household, sec)}"]
            got = sorted(reads.get(sec, []), key=lambda r: _POSITION.get(f"{sec}.{r[1]}", len(_POSITION)))
            if got:
                model = _field_annotation(sec)
                lines.append(f"if s_{sec} is None:")
                lines.append("    " + " = ".join(local for local, _, _ in got) + " = U")
                lines.append("else:")
                if any(_plain_field(model, attr) for _, attr, _ in got):
                    lines.append(f"    s_{sec}d = s_{sec}.__dict__")
                for local, attr, conv in got:
                    lines += ["    " + line for line in _read(local, _get(f"s_{sec}", model, attr), conv)]
            out.append(((f"s_{sec}", f"s_{sec}d", *(local for local, _, _ in got)), lines))
        return out

    def item(self, key: str) -> str:
        """The expression reading attribute ``key`` of the current loop's item: from the item's
        ``__dict__`` when the loop took it (:meth:`loop`), else as an attribute."""
        var, coll = self.loop_vars[-1]
        if var in self.item_dicts:
            return _get(var, _item_model(coll), key)
        return f"{var}.{key}"

    def loop(self, var: str, items: str, coll: str) -> None:
        """Open ``for var in items:`` over the items (models) of collection ``coll``, and take each
        item's ``__dict__`` first when its fields are read from there (:func:`_get`)."""
        self.branch(f"for {var} in {items}:")
        self.loop_vars.append((var, coll))
        if _plain_fields(_item_model(coll)):
            self.emit(f"{var}d = {var}.__dict__")
            self.item_dicts.add(var)

    def collection(self, path: str) -> str:
        """A local holding the raw tuple of items (models) of a collection, or U."""
        local = "c_" + _ident(path)
        if local in self.collections:
            return local
        self.collections.add(local)
        if "." in path:
            sec, attr = path.split(".", 1)
            self.read(sec, local, attr, "x")
        else:
            self.read(None, local, path, "x")
        return local

    def value_slot(self, expr: str, kind: str) -> int:
        self.values.append(expr)
        self.value_kinds.append(kind)
        return len(self.values) - 1

    def field_slot(self, path: str) -> int:
        idx = self.field_index.get(path)
        if idx is None:
            idx = self.field_index[path] = self.value_slot(self.field(path), "field:" + path)
        return idx

    # ------------------------------------------------------------------ formulas

    # Common subexpressions: a formula often reads the same thing twice (``age(member.birth_date)`` on
    # both sides of a range). Every node is pure, so a node already computed in this scope, or in a
    # scope enclosing it, is reused. Loop bodies and branches open a scope of their own, so nothing
    # computed for one member, or on one branch, leaks to another.

    def push(self) -> None:
        self.scopes.append({})

    def pop(self) -> None:
        self.scopes.pop()

    def sig(self, node: Node) -> Any:
        """A structural key of ``node`` (positions left out; item names keyed by their loop variable)."""
        if isinstance(node, Lit):
            return ("lit", type(node.value).__name__, repr(node.value))
        if isinstance(node, Name):
            if node.ref == "item":
                return ("item", self.loop_vars[-1][0], node.key)
            return ("name", node.ref, node.key)
        if isinstance(node, ListLit):
            return ("list", *(self.sig(i) for i in node.items))
        if isinstance(node, Unary):
            return ("unary", node.op, self.sig(node.operand))
        if isinstance(node, BoolOp):
            return ("bool", node.op, *(self.sig(i) for i in node.items))
        if isinstance(node, Binary):
            return ("bin", node.op, self.sig(node.left), self.sig(node.right))
        if isinstance(node, Call):
            return ("call", node.fn, *(self.sig(i) for i in node.args))
        if isinstance(node, Aggregate):
            return (
                "agg",
                node.fn,
                node.collection.key,
                None if node.value is None else ("v", id(node.value)),
                None if node.where is None else ("w", id(node.where)),
            )
        raise AssertionError(node)

    def guard(self, args: list[str]) -> str:
        """``U if any is U else `` over the operands that can be unknown (constants cannot)."""
        maybe = [a for a in args if a not in self.safe]
        return ("U if " + " or ".join(f"{a} is U" for a in maybe) + " else ") if maybe else ""

    def expr(self, node: Node) -> str:
        """Emit statements computing ``node``; return a simple expression (local or constant) for it."""
        if isinstance(node, Lit):
            return self.const(node.value)
        key = self.sig(node)
        for scope in reversed(self.scopes):
            got: str | None = scope.get(key)
            if got is not None:
                return got
        out = self._expr(node)
        # A value of the day alone is computed before everything else, so every scope may reuse it.
        self.scopes[0 if out in self.daily else -1][key] = out
        return out

    def _expr(self, node: Node) -> str:
        if isinstance(node, ListLit):
            items = [self.expr(i) for i in node.items]
            if all(i in self.safe for i in items):
                return self.const(tuple(self.consts[i] if i in self.consts else _literal(i) for i in items))
            t = self.new()
            self.emit(f"{t} = ({', '.join(items)}{',' if len(items) == 1 else ''})")
            return t
        if isinstance(node, Name):
            if node.ref == "param":
                return self.param_expr(node.key)
            if node.ref == "fact":
                return self.fact_const.get(node.key, "F_" + _ident(node.key))
            if node.ref == "as_of":
                return "as_of"
            if node.ref == "item":
                var, coll = self.loop_vars[-1]
                spec = CATALOGUE[coll].item_fields or {}
                kind = _kind(spec.get(node.key))
                t = self.new()
                # (the attribute as a test already read it for this item, if one did: no second look-up)
                x = self.read_local(("raw", var, node.key))
                if x is not None:
                    self.emit(f"{t} = U if {x} is None else {_convert(x, kind)}")
                else:
                    self.emit(f"{t} = U if (x := {self.item(node.key)}) is None else {_convert('x', kind)}")
                return t
            if CATALOGUE.get(node.key) is not None and CATALOGUE[node.key].type.kind == "collection":
                raise NotImplementedError("a collection used as a value")  # the checker forbids it
            return self.field(node.key)
        t = self.new()
        if isinstance(node, Unary):
            a = self.expr(node.operand)
            if a == "U":  # an operand without a value: the result has none either
                return a
            if node.op != "not" and _whole_number(self.consts.get(a)):
                return self.const(-self.consts[a])  # a parameter's negation, once per span
            if node.op == "not":
                self.emit(f"{t} = {self.guard([a])}(not {a})")
            else:
                self.emit(f"{t} = {self.guard([a])}-{a}")
            if a in self.safe:
                self.safe.add(t)
            return t
        if isinstance(node, BoolOp):
            # (an operand of and/or need not be a yes/no value: one left alone is still tested)
            return self.group(node.op, [self.expr(i) for i in node.items], t, alone=False)
        if isinstance(node, Binary):
            if self.unknown_side(node):
                return "U"
            test = self.test(node)
            if test is not None:  # a comparison reading an item's attribute in place
                unknown, holds = test
                self.emit(f"{t} = {holds}" if unknown == "False" else f"{t} = U if {unknown} else ({holds})")
                return t
            a, b = self.expr(node.left), self.expr(node.right)
            if "U" in (a, b):
                return "U"
            if node.op in ("+", "-", "*") and _whole_number(self.consts.get(a)) and _whole_number(self.consts.get(b)):
                # whole numbers of the span (months, days): exact, so computed once here
                x, y = self.consts[a], self.consts[b]
                return self.const(x + y if node.op == "+" else (x - y if node.op == "-" else x * y))
            if node.op in _ORDER_OPS:  # a constant side in the other side's number type (``as_kind``)
                a, b = self.as_kind(a, self.numeric(node.right)), self.as_kind(b, self.numeric(node.left))
            guard = self.guard([a, b])
            if not guard and node.op != "/":
                self.safe.add(t)  # known operands give a known result (a division by zero does not)
            if node.op == "in":
                code = f"({a} in {b})"
            elif node.op == "/":
                # Decimal ÷ int and Decimal ÷ Decimal are what Decimal(a) / Decimal(b) computes (the int
                # converted exactly, the same context): the copies are needed only for int ÷ int.
                kinds = {self.numeric(node.left), self.numeric(node.right)}
                exact = "decimal" in kinds and kinds <= {"decimal", "int"}
                code = (
                    f"(U if {b} == 0 else {a} / {b})" if exact else f"(U if {b} == 0 else Decimal({a}) / Decimal({b}))"
                )
            else:
                code = f"({a} {node.op} {b})"
            self.daily_emit(f"{t} = {guard}{code}", t, [a, b])
            return t
        if isinstance(node, Call):
            return self.call(node, t)
        if isinstance(node, Aggregate):
            return self.aggregate(node, t)
        raise AssertionError(node)

    def branch(self, line: str) -> None:
        """Open an ``if``/``elif``/``else`` block with a scope of its own."""
        self.emit(line)
        self.depth += 1
        self.push()

    def end(self) -> None:
        self.pop()
        self.depth -= 1

    def call(self, node: Call, t: str) -> str:
        fn = node.fn
        if fn == "if":
            c = self.expr(node.args[0])
            if c in ("True", "False"):  # the span decides the branch
                return self.expr(node.args[1 if c == "True" else 2])
            if c not in self.safe:  # (a condition that is never unknown, ``is_known``, has two branches)
                self.branch(f"if {c} is U:")
                a, b = self.expr(node.args[1]), self.expr(node.args[2])
                self.emit(f"{t} = {a} if {a} == {b} and {a} is not U else U")
                self.end()
            for i, line in ((1, f"{'el' if c not in self.safe else ''}if {c}:"), (2, "else:")):
                self.branch(line)
                self.emit(f"{t} = {self.expr(node.args[i])}")
                self.end()
            return t
        arg = node.args[0] if len(node.args) == 1 else None
        if (
            fn in ("age", "months_since", "end_of_month")
            and isinstance(arg, Name)
            and arg.ref == "item"
            and not self.computed(arg)
        ):  # an item's date read in place: no local for the date itself
            body = self.since(fn, "x") or _CALLS[fn].format("x")
            self.emit(f"{t} = U if (x := {self.item(arg.key)}) is None else {body}")
            return t
        args = [self.expr(a) for a in node.args]
        if fn == "is_known":
            if args[0] == "U" or args[0] in self.safe:
                return str(args[0] != "U")
            self.emit(f"{t} = {args[0]} is not U")
            self.safe.add(t)
            return t
        if "U" in args:
            return "U"
        if fn in ("months_without", "first_month_without"):
            # The count and the first of the months without a visit come from one walk (:func:`_lacking`).
            months = self.lacking(args)
            code = f"{months}[0]" if fn == "months_without" else f"{months}[1]"
            self.daily_emit(
                f"{t} = U if {months} is U else {code}" if months not in self.safe else f"{t} = {code}", t, [months]
            )
            if fn == "months_without" and months in self.safe:
                self.safe.add(t)
            return t
        if fn == "months_between" and args[1] == "as_of":  # (``assessment_date`` is as_of itself)
            fn = "months_since"
        code = self.since(fn, args[0]) or _CALLS[fn].format(*args)
        count = self.consts.get(args[-1]) if fn in ("add_days", "add_months") else None
        if isinstance(count, int | Decimal) and not isinstance(count, bool):
            # a span's number of days or months: the timedelta or int built once, here
            try:
                step = self.const(timedelta(days=int(count)) if fn == "add_days" else int(count))
            except OverflowError:  # left to fail at run time, as before
                step = ""
            if step:
                code = f"{args[0]} + {step}" if fn == "add_days" else f"_add_months({args[0]}, {step})"
        guard = self.guard(args)
        if not guard and fn != "first_month_without":  # the date functions of known values are known
            self.safe.add(t)
        self.daily_emit(f"{t} = {guard}{code}", t, args)
        return t

    def lacking(self, args: list[str]) -> str:
        """A local holding ``_lacking(dates, start, end)`` — the count and the first of the months
        without any of ``dates`` — (or U), computed once per scope."""
        key = ("lacking", *args)
        for scope in reversed(self.scopes):
            if key in scope:
                return str(scope[key])
        t = self.new()
        guard = self.guard(args)
        self.daily_emit(f"{t} = {guard}_lacking({args[0]}, {args[1]}, {args[2]})", t, args)
        if not guard:
            self.safe.add(t)
        self.scopes[0 if t in self.daily else -1][key] = t
        return t

    def since(self, fn: str, x: str) -> str | None:
        """``age(x)`` / ``months_since(x)`` (``x`` a known date) by integer arithmetic on the day's two
        anchors, for a date on or before ``as_of`` (a birth date always is); a later date takes the
        general path. A memo keyed by date (what ``_delta`` is) costs little on a date it holds in the
        processor's cache, but a county's members have thousands of birth dates: its look-ups, not the
        arithmetic, were a fifth of the identification program's time."""
        if fn not in ("age", "months_since"):
            return None
        if "d_months" not in self.daily:
            self.day_lines += ["d_months = as_of.year * 12 + as_of.month", "d_cut = _month_cut(as_of)"]
            self.daily += ["d_months", "d_cut"]
        months = _MONTHS_TO_DAY.format(x)
        if fn == "age":
            return f"({months} // 12 if {x} <= as_of else _delta({x}, as_of)[0])"
        return f"({months} if {x} <= as_of else _delta({x}, as_of)[1])"

    def numeric(self, node: Node) -> str | None:
        """``"decimal"`` or ``"int"`` when ``node``'s value, whenever known, is surely of that type (from
        the models' field types, the span's constants and the arithmetic over them); else None."""
        if isinstance(node, Lit):
            return _number_kind(node.value)
        if isinstance(node, Name):
            if node.ref == "param":
                return _number_kind(self.param(node.key))
            if node.ref == "fact":
                fact = self.chain.facts.get(node.key)
                return None if fact is None else self.numeric(fact.node)
            if node.ref == "item":
                return _number_kind_of(_item_annotation(self.loop_vars[-1][1], node.key))
            if node.ref == "as_of":
                return None
            return _number_kind_of(_field_annotation(node.key))
        if isinstance(node, Unary) and node.op == "-":
            return self.numeric(node.operand)
        if isinstance(node, Binary) and node.op in ("+", "-", "*", "/"):
            kinds = {self.numeric(node.left), self.numeric(node.right)}
            if not kinds <= {"decimal", "int"}:
                return None
            return "decimal" if "decimal" in kinds or node.op == "/" else "int"
        if isinstance(node, Aggregate) and node.fn == "count":
            return "int"
        if isinstance(node, Call) and node.fn == "if":
            a, b = self.numeric(node.args[1]), self.numeric(node.args[2])
            return a if a == b else None
        return None

    def daily_emit(self, line: str, t: str, args: list[str]) -> None:
        """Emit ``line`` computing ``t`` from ``args`` — into the day function when the args are the
        assessment date, the span's constants and values of the day: a county's households share their
        ``as_of``, so dates such as "twelve months before the assessment" are computed once per day
        (:class:`_Days`), not once per household or per member in a loop."""
        if any(a == "as_of" or a in self.daily for a in args) and all(
            a == "as_of" or a in self.daily or a in self.consts for a in args
        ):
            self.day_lines.append(line)
            self.daily.append(t)
        else:
            self.emit(line)

    def aggregate(self, node: Aggregate, t: str) -> str:
        """An aggregate over a collection, in a loop of its own."""
        self.aggregates(node.collection.key, [(node, t)])
        return t

    def aggregates(self, coll_path: str, group: list[tuple[Aggregate, str]]) -> None:
        """Aggregates over one collection in one pass over its items, each into its own local.

        Per item: the ``where`` filter, then the value of each item it keeps. Kleene's any/all are kept
        in the aggregate's own local, three-valued as it goes: any starts False, a true item makes it
        True, an unknown one makes it U unless it is True already (all is the mirror image) — which is
        what ``kleene_or`` / ``kleene_and`` compute over the list; an item the filter cannot decide
        makes a "none found" answer unknown, as in the interpreter. (One local, not a found flag and an
        unknown flag combined after the loop: the 淮北 identification pack has 12 such aggregates, the
        bundled packs 36, each saving two stores and the combining per household.) Several aggregates
        share the loop and its scope, so a member's age is computed once for all of them."""
        items = self.collection(coll_path)
        var = self.new("m")
        names = [(self.new("unsure"), self.new("acc"), self.new("seen_u")) for _ in group]
        self.branch(f"if {items} is U:")
        for _, t in group:
            self.emit(f"{t} = U")
        self.end()
        self.branch("else:")
        looped = []
        for (node, t), (unsure, acc, seen_u) in zip(group, names, strict=True):
            if node.fn == "count" and node.where is None:
                self.emit(f"{t} = len({items})")
                continue
            looped.append((node, t, unsure, acc, seen_u))
            if node.fn in ("any", "all"):
                self.emit(f"{t} = {node.fn == 'all'}")  # (any: False until a true item; all: True)
                continue
            if node.where is not None:
                self.emit(f"{unsure} = False")
            if node.fn == "count":
                self.emit(f"{acc} = 0")
            else:
                self.emit(f"{acc} = []")
        if looped:
            self.loop(var, items, coll_path)
            for node, t, unsure, acc, _ in looped:
                if node.fn in ("any", "all"):
                    start = node.fn == "all"
                    # (an unknown item, or one the filter cannot decide: U, unless already settled)
                    maybe = f"if {t} is {start}: {t} = U"
                    self.aggregate_item(node, maybe, f"{t} = {not start}", maybe)
                else:
                    self.aggregate_item(node, f"{unsure} = True", f"{acc} += 1", "", acc)
            self.loop_vars.pop()
            self.end()
        for node, t, unsure, acc, _ in looped:
            fn = node.fn
            if fn in ("any", "all"):
                continue
            maybe = f" or {unsure}" if node.where is not None else ""
            if fn == "count":
                self.emit(f"{t} = U if {unsure} else {acc}")
            else:
                self.emit(f"if {maybe[4:] + ' or ' if maybe else ''}_has_unknown({acc}):")
                self.emit(f"    {t} = U")
                if fn == "sum":
                    self.emit("else:")
                    self.emit(f"    {t} = sum({acc}, 0)")
                else:
                    self.emit(f"elif not {acc}:")
                    self.emit(f"    {t} = U")
                    self.emit("else:")
                    self.emit(f"    {t} = {fn}({acc})")
        self.end()

    def aggregate_item(self, node: Aggregate, unsure: str, found: str, seen: str, acc: str = "") -> None:
        """The statements one item contributes to one aggregate (inside the loop over the items):
        ``unsure`` runs when the filter cannot decide the item, ``found`` when a count's item is kept or
        an any/all item settles the aggregate (an any's true item, an all's false one), ``seen`` when
        an any/all item is unknown; a min/max/sum item is appended to ``acc`` (:meth:`aggregates`).

        A ``where`` or an any/all value that is a plain comparison is tested in place (:meth:`test`):
        one ``if``/``elif`` on "is it unknown" and "does it hold", instead of a three-valued local
        that is then compared with True and with U."""
        fn = node.fn
        if node.where is not None:
            test = self.test(node.where)
            if test is not None:
                self.emit(f"if {test[0]}:")
                self.emit(f"    {unsure}")
                self.branch(f"elif {test[1]}:")
            else:
                w = self.expr(node.where)
                if w in ("U", "False"):  # the span settles the filter: no item is (surely) kept
                    self.emit(unsure if w == "U" else "pass")
                    return
                if w == "True":
                    self.branch("if True:")
                else:
                    self.emit(f"if {w} is U:")
                    self.emit(f"    {unsure}")
                    self.branch(f"elif {w}:")
        if fn == "count":
            self.emit(found)
        else:
            assert node.value is not None
            test = self.test(node.value) if fn in ("any", "all") else None
            tests = self.tests(node.value) if fn in ("any", "all") and test is None else None
            if tests is not None:
                # (any: a true item is found, an unknown one seen; all: a false one found, an unknown seen)
                outcome = (found, seen, None) if fn == "any" else (None, seen, found)
                assert isinstance(node.value, BoolOp)
                self.kleene_tests(node.value.op, tests, False, outcome)
            elif test is not None:
                unknown, holds = test
                hit = holds if fn == "any" else f"not ({holds})"
                if unknown == "False":
                    self.emit(f"if {hit}:")
                    self.emit(f"    {found}")
                else:
                    self.emit(f"if {unknown}:")
                    self.emit(f"    {seen}")
                    self.emit(f"elif {hit}:")
                    self.emit(f"    {found}")
            else:
                v = self.expr(node.value)
                if v in ("True", "False", "U") and fn in ("any", "all"):  # a value the span fixes
                    hit = "True" if fn == "any" else "False"
                    self.emit(seen if v == "U" else (found if v == hit else "pass"))
                elif fn == "any":
                    self.emit(f"if {v} is True:")
                    self.emit(f"    {found}")
                    self.emit(f"elif {v} is U:")
                    self.emit(f"    {seen}")
                elif fn == "all":
                    self.emit(f"if {v} is False:")
                    self.emit(f"    {found}")
                    self.emit(f"elif {v} is U:")
                    self.emit(f"    {seen}")
                else:
                    self.emit(f"{acc}.append({v})")
        if node.where is not None:
            self.end()

    def tests(self, node: Node) -> list[tuple[str, str]] | None:
        """An and/or of comparisons as one (unknown, holds) test per operand (:meth:`test`), when each
        operand is such a comparison and the and/or has no local yet; else None."""
        if not isinstance(node, BoolOp) or self.computed(node):
            return None
        # The first operand's test always runs (:meth:`kleene_tests` starts with it), so its read of an
        # item's attribute is kept for the tests after it — the bundled packs' measures test ``type`` in
        # six aggregates — unless the and/or turns out not to be such tests.
        before = set(self.scopes[-1])
        tests = [self.test(i, keep=j == 0) for j, i in enumerate(node.items)]
        if any(t is None for t in tests):
            self.forget_reads(before)
            return None
        return tests  # type: ignore[return-value]

    def read_local(self, key: Any) -> str | None:
        """The local a test of this scope or an enclosing one read an item's attribute into (``key``:
        ("raw", item variable, attribute)), or None: that read ran on every path to here."""
        return next((sc[key] for sc in reversed(self.scopes) if key in sc), None)

    def forget_reads(self, before: set[Any]) -> None:
        """Take back the item attribute reads :meth:`test` noted in this scope since ``before`` (its
        keys then): their test is not emitted after all."""
        for key in [k for k in self.scopes[-1] if k not in before and k[0] == "raw"]:
            del self.scopes[-1][key]

    def kleene_tests(
        self, op: str, tests: list[tuple[str, str]], unsure: bool, outcome: tuple[str | None, str | None, str | None]
    ) -> None:
        """Statements running ``outcome`` (what to do when the Kleene and/or of ``tests`` is True, U,
        False; None: nothing) without a three-valued local per operand: one ``if`` per operand, each
        branch carrying what is settled so far (``unsure``: an unknown operand seen). The operands are
        tested in order, and each one's ``unknown`` before its ``holds``, as :meth:`test` requires."""
        on_true, on_unknown, on_false = outcome
        if not tests:
            body = on_unknown if unsure else (on_true if op == "and" else on_false)
            self.emit(body or "pass")
            return
        (unknown, holds), rest = tests[0], tests[1:]
        # and: a false operand settles False; or: a true one settles True. ``stop`` is that operand's
        # test, ``settled`` what it settles to.
        stop, settled = (f"not ({holds})", on_false) if op == "and" else (f"({holds})", on_true)

        def then(header: str, now_unsure: bool) -> None:  # a branch going on with the other operands
            self.emit(header)
            self.depth += 1
            self.kleene_tests(op, rest, now_unsure, outcome)
            self.depth -= 1

        if unsure:
            self.emit(f"if not ({unknown}) and {stop}:")
            self.emit(f"    {settled or 'pass'}")
            then("else:", True)
            return
        then(f"if {unknown}:", True)
        self.emit(f"elif {stop}:")
        self.emit(f"    {settled or 'pass'}")
        then("else:", False)

    def computed(self, node: Node) -> bool:
        """Whether ``node`` already has a local in this scope or an enclosing one."""
        key = self.sig(node)
        return any(key in scope for scope in self.scopes)

    def test(self, node: Node, keep: bool = True) -> tuple[str, str] | None:
        """A comparison (or an and/or of comparisons that are unknown together) as two expressions:
        ``unknown`` — true exactly when the three-valued result is U — and ``holds``, its truth
        otherwise (only evaluated when ``unknown`` is false; ``"False"`` when it can never be U).

        An item's own attribute is read inside ``unknown`` (``(x := m.f) is None``), so a member's
        yes/no or coded field is read and compared in one step. None when ``node`` has another shape,
        or is already computed (the local is reused then)."""
        if self.computed(node):
            return None
        if isinstance(node, BoolOp):
            # The items may read one attribute of the item (``age(m.birth_date) >= 6 and age(m.birth_date)
            # <= 15``): the first item's test reads it (``(x := …) is None``), the others reuse that local
            # (``x is None``) — one unknown for all. The reads noted for the later items are taken back
            # unless the caller keeps them, and all of them when the and/or is not one such test.
            before = set(self.scopes[-1])
            tests = [self.test(i) for i in node.items]
            ok = all(t is not None for t in tests)
            head = tests[0][0] if ok and tests[0] else ""
            if ok and any(":=" in t[0] for t in tests[1:] if t):
                ok = False  # (a later item reads something of its own: not one unknown)
            if ok and ":=" in head:
                alone = _WALRUS.fullmatch(head)
                ok = alone is not None and all(t[0] in (head, f"{alone[1]} is None") for t in tests if t)
            elif ok:
                ok = len({t[0] for t in tests if t}) == 1
            if not ok or not keep:  # (only the reads: what ``expr`` computed is emitted, and stays)
                self.forget_reads(before)
            if not ok:
                return None  # (each item test emitted nothing; the generic path computes them)
            glue = f" {node.op} "
            return head, glue.join(f"({t[1]})" for t in tests if t)
        if not isinstance(node, Binary) or node.op not in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return None
        if self.unknown_side(node):
            return None
        since = self.since_test(node, keep)
        if since is not None:
            return since
        unknown: list[str] = []
        parts: list[str] = []
        first: tuple[Any, str] | None = None
        raws: list[
            tuple[str, str | None, Any] | None
        ] = []  # per side: (raw local, kind, annotation) of an item's attribute
        for side in (node.left, node.right):
            raws.append(None)
            if isinstance(side, Name) and side.ref == "item" and not self.computed(side):
                var, coll = self.loop_vars[-1]
                spec = (CATALOGUE[coll].item_fields or {}).get(side.key)
                kind = _kind(spec)
                if kind == "set" and side is node.right and node.op == "in":
                    # ``value in member.health``: the model's frozenset of coded members answers for
                    # the Chinese value itself (a coded member hashes and compares as its value).
                    kind = "raw"
                if kind in ("raw", "enum"):
                    # The raw attribute (None when absent), read once per item: a later test in the
                    # same scope reuses the local the first one assigned.
                    key = ("raw", var, side.key)
                    x = self.read_local(key)
                    if x is not None:
                        unknown.append(f"{x} is None")
                    else:
                        x = self.new("x")
                        if keep and not unknown:  # (only the first test of an ``or`` always runs)
                            first = (key, x)
                        unknown.append(f"({x} := {self.item(side.key)}) is None")
                    parts.append(_convert(x, kind))
                    raws[-1] = (x, None if spec is None else spec.type.kind, _item_annotation(coll, side.key))
                    continue
            e = self.expr(side)
            if e == "U":
                return None
            if e not in self.safe:
                unknown.append(f"{e} is U")
            parts.append(e)
        if first is not None:  # the caller emits the test: its read is there for later tests
            self.scopes[-1][first[0]] = first[1]
        holds = self.coded(node.op, parts, raws)
        if holds is None:
            if node.op in _ORDER_OPS:  # a constant side in the item attribute's number type (``as_kind``)
                kinds = [
                    self.numeric(side) if r is None else _number_kind_of(r[2])
                    for r, side in zip(raws, (node.left, node.right), strict=True)
                ]
                parts = [self.as_kind(parts[0], kinds[1]), self.as_kind(parts[1], kinds[0])]
            holds = f"{parts[0]} {node.op} {parts[1]}"
        return " or ".join(unknown) or "False", holds

    def unknown_side(self, node: Binary) -> bool:
        """Whether ``node`` is U for the whole span because one side is a parameter without a value
        while the other is an item's or the household's value or such a value's age or months — which
        the program would otherwise compute only to throw away (``age(m.birth_date) <= param.max``, a
        span without the maximum: an age per member). Only sides that cannot fail are skipped: the
        result is U either way."""
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if (
                isinstance(side, Name)
                and side.ref == "param"
                and self.param(side.key) is UNKNOWN
                and (
                    isinstance(other, Name | Lit)
                    or (
                        isinstance(other, Call)
                        and other.fn in ("age", "months_since", "months_between")
                        and all(isinstance(a, Name) and a.ref != "param" for a in other.args)
                    )
                )
            ):
                return True
        return False

    def since_test(self, node: Binary, keep: bool) -> tuple[str, str] | None:
        """``age(m.d) >= n`` (or ``months_since(m.d)``, any of ``< <= > >=``, either side) for an item's
        own date ``m.d`` and a whole number ``n`` of the span, as :meth:`test`'s (unknown, holds): the
        date compared with the day's :func:`_since_at_least` date — ``x <= T`` — instead of the member's
        age computed from its year, month and day (three attribute reads and the arithmetic, about a
        twentieth of the 淮北 identification program). Unknown exactly when the date is: an age of a
        known date is known. Exact: ``f >= k`` ⇔ ``x <= T(k)`` for every date ``x``, the years (months)
        ``f`` counting ``k`` ≥ 1 or more only up to ``as_of`` (a later date counts ≤ 0); ``f > n`` is
        ``f >= n + 1``, and ``<``, ``<=`` are their negations. None (the general path) for another shape, a
        bound below 1, a date already read into an age, or a span whose first day is too early for
        ``T`` to be a calendar date."""
        op = node.op
        call, bound = node.left, node.right
        if isinstance(bound, Call):  # ``n <= age(…)`` is ``age(…) >= n``
            call, bound, op = bound, call, _MIRROR.get(op, "")
        if not (
            self.date_bounds
            and isinstance(call, Call)
            and (
                (call.fn in ("age", "months_since") and len(call.args) == 1)
                or (  # ``months_between(m.d, as_of)`` is ``months_since(m.d)``
                    call.fn == "months_between"
                    and len(call.args) == 2
                    and isinstance(call.args[1], Name)
                    and call.args[1].ref == "as_of"
                )
            )
            and isinstance(call.args[0], Name)
            and call.args[0].ref == "item"
            and isinstance(bound, Lit | Name)
            and (isinstance(bound, Lit) or bound.ref == "param")
            and op in ("<", "<=", ">", ">=")
            and not self.computed(call)
        ):
            return None
        n = self.consts.get(self.expr(bound))
        if type(n) is not int:
            return None
        k = n if op in (">=", "<") else n + 1  # f > n ⇔ f >= n + 1; f <= n ⇔ not f >= n + 1
        months = k * 12 if call.fn == "age" else k
        if k < 1 or (self.start.year - 1) * 12 - 1 < months:
            return None
        day = self.since_days.get(months)
        if day is None:
            day = self.since_days[months] = self.new("d")
            self.day_lines.append(f"{day} = _since_at_least(as_of, {months})")
            self.daily.append(day)
        var = self.loop_vars[-1][0]
        date_key = ("raw", var, call.args[0].key)
        x = self.read_local(date_key)
        if x is not None:
            unknown = f"{x} is None"
        else:
            x = self.new("x")
            unknown = f"({x} := {self.item(call.args[0].key)}) is None"
            if keep:  # the caller emits the test: its read is there for later tests
                self.scopes[-1][date_key] = x
        return unknown, (f"{x} <= {day}" if op in (">=", ">") else f"{x} > {day}")

    def coded(self, op: str, parts: list[str], raws: list[tuple[str, str | None, Any] | None]) -> str | None:
        """A test of an item's yes/no, coded or coded-set attribute against a constant, on the model's
        own objects (the attribute is known not to be None where ``holds`` runs): a yes/no value by
        identity (``x is True``: the models admit only the bools); a coded value by identity with the
        enum member that has the constant's Chinese value (``x is K7``; members are singletons), or in a
        frozenset of such members — a hash look-up that matches by identity, where ``x._value_ in K`` read
        an attribute and compared text; a constant no member has can never match. None: another shape."""
        if op not in ("==", "!=", "in"):
            return None
        side = 0 if raws[0] is not None else 1
        raw = raws[side]
        other = parts[1 - side]
        if raw is None or raws[1 - side] is not None or not (other in self.consts or other in ("True", "False")):
            return None
        x, kind, ann = raw
        value = self.consts.get(other, other == "True")
        if kind == "bool" and op != "in" and isinstance(value, bool):
            return f"{x} is {'not ' if op == '!=' else ''}{value}"
        members = _members_of(ann)
        if members is None:
            return None
        if kind == "set" and op == "in" and side == 1 and isinstance(value, str):
            member = members.get(value)
            return "False" if member is None else f"{self.const(member)} in {x}"
        if kind != "text" or side != 0:
            return None
        if op == "in" and isinstance(value, tuple | list | frozenset | set):
            return f"{x} in {self.const(frozenset(members[v] for v in value if isinstance(v, str) and v in members))}"
        if op in ("==", "!=") and isinstance(value, str):
            member = members.get(value)
            if member is None:
                return "False" if op == "==" else "True"
            return f"{x} is {'not ' if op == '!=' else ''}{self.const(member)}"
        return None

    def fuse_aggregates(self) -> None:
        """Compute, before the facts, every aggregate of a fact formula that reads no other fact and no
        missing parameter — all those over one collection in a single loop. The facts then find them
        already computed (common subexpressions)."""
        found: dict[str, list[Aggregate]] = {}
        seen: set[Any] = set()
        for name in self.chain.fact_order:
            for node in _top_aggregates(self.chain.facts[name].node):
                refs = [n for n in _walk(node) if isinstance(n, Name)]
                if any(n.ref == "fact" for n in refs):
                    continue
                key = self.sig(node)
                if key in seen:
                    continue
                seen.add(key)
                found.setdefault(node.collection.key, []).append(node)
        for coll, nodes in found.items():
            if len(nodes) < 2:
                continue
            self.emit(f"# {len(nodes)} aggregates over {coll}, in one pass")
            group = [(n, self.new()) for n in nodes]
            self.aggregates(coll, group)
            for n, t in group:
                self.scopes[0][self.sig(n)] = t

    def template(self, node: Node, parent: int, out: list[str | int]) -> None:
        """The formula as text with a value slot for every name, call and aggregate (as ``_sub``)."""
        from ..expressions import _PREC, format_value

        if isinstance(node, Lit):
            out.append(f"'{node.value}'" if isinstance(node.value, str) else format_value(node.value))
            return
        if isinstance(node, Name | Call | Aggregate):
            out.append(self.value_slot(self.expr(node), "slot"))
            return
        if isinstance(node, ListLit):
            out.append("[")
            for i, item in enumerate(node.items):
                if i:
                    out.append(", ")
                self.template(item, 0, out)
            out.append("]")
            return
        inner: list[str | int] = []
        if isinstance(node, Unary):
            p = _PREC["not" if node.op == "not" else "neg"]
            inner.append("not " if node.op == "not" else "-")
            self.template(node.operand, p, inner)
        elif isinstance(node, BoolOp):
            p = _PREC[node.op]
            for i, item in enumerate(node.items):
                if i:
                    inner.append(f" {node.op} ")
                self.template(item, p, inner)
        elif isinstance(node, Binary):
            p = _PREC.get(node.op, _PREC["cmp"])
            sym = {"-": "−", "*": "×", "/": "/"}.get(node.op, node.op)
            self.template(node.left, p, inner)
            inner.append(f" {sym} ")
            self.template(node.right, p + (node.op in "-/"), inner)
        else:  # pragma: no cover
            raise AssertionError(node)
        if p < parent:
            out += ["(", *inner, ")"]
        else:
            out += inner

    # ------------------------------------------------------------------ conditions

    # Every node's outcome is True, False or U. A node whose outcome the span already fixes (a fact
    # folded to a constant, a parameter without a value, a group holding a constant that decides it)
    # is that constant in the code, and a node that only repeats a value computed elsewhere (a yes/no
    # field or fact, another rule's outcome) is that value's local: neither gets a line of its own.
    # ``node.expr`` is what the outcome tuple and the parent read.

    def is_const(self, e: str) -> bool:
        """Whether expression ``e`` is a constant of the span (a folded value), not a local."""
        return e in ("True", "False", "None", "U") or e in self.consts

    def cond(self, c: Cond, rule_locals: dict[str, str], root: bool = True) -> CondNode:
        node = CondNode(c, self.node_count)
        self.node_count += 1
        self.cond_nodes.append(node)
        t = f"n{node.index}"
        if isinstance(c, Group | AtLeast):
            node.children = [self.cond(x, rule_locals, False) for x in c.items]
            kids = [k.expr for k in node.children]
            if isinstance(c, Group):
                node.expr = self.group(c.op, kids, t)
            elif all(self.is_const(k) for k in kids):
                n_true, n_unk = kids.count("True"), kids.count("U")
                node.expr = "True" if n_true >= c.n else ("False" if n_true + n_unk < c.n else "U")
            else:
                node.expr = self.at_least(kids, c.n, t)
        elif isinstance(c, Negation):
            node.children = [self.cond(c.item, rule_locals, False)]
            node.expr = self.negation(node.children[0].expr, t)
        elif isinstance(c, RuleRef):
            node.expr = rule_locals.get(c.rule, "False")
        elif isinstance(c, Leaf):
            node.code = self.leaf(c, node)
            if node.code.isidentifier() or self.is_const(node.code):
                node.expr = node.code  # a yes/no value as it is, or a constant
            elif not root and node.code in self.shared_leaves:
                # The same test in an earlier rule (``status == 监测中``): its outcome, not computed again.
                # (Not for a rule's own outcome, which the lean program needs under its own name.)
                node.expr = self.shared_leaves[node.code]
                node.shared = True
            else:
                self.emit(f"{t} = {node.code}")
                node.expr = t
                if self.depth == 1:
                    self.shared_leaves[node.code] = t
        else:  # pragma: no cover
            raise AssertionError(c)
        return node

    def group(self, op: str, kids: list[str], t: str, alone: bool = True) -> str:
        """A Kleene and/or (``all``/``any``) over ``kids``: the constant it folds to, the one child
        left that decides it (``alone``: when the children are True/False/U outcomes), or ``t``
        computed from the rest."""
        op = {"all": "and", "any": "or"}.get(op, op)
        stop, skip = ("False", "True") if op == "and" else ("True", "False")
        if stop in kids:
            return stop
        live = [k for k in kids if k != skip]
        if not live:
            return skip
        if all(k == "U" for k in live):
            return "U"
        if alone and len(live) == 1:
            return live[0]
        self.emit(f"{t} = {_kleene(op, live, self.safe)}")
        return t

    def negation(self, k: str, t: str) -> str:
        if k in ("True", "False", "U"):
            return {"True": "False", "False": "True", "U": "U"}[k]
        self.emit(f"{t} = U if {k} is U else (not {k})")
        return t

    def lean(self, node: CondNode) -> str:
        """Emit the statements of ``node`` for the lean program (no outcome tuple): the same value as
        :meth:`cond` gave, but an all/any stops at the first child that decides it. Only the nodes
        whose value is needed are computed, under the names :meth:`cond` gave them."""
        e, t = node.expr, f"n{node.index}"
        c = node.cond
        if isinstance(c, Leaf) and node.shared:  # the earlier rule's local may not be computed here
            self.emit(f"{t} = {node.code}")
            return t
        if self.is_const(e) or isinstance(c, RuleRef) or (isinstance(c, Leaf) and e != t):
            return e
        if isinstance(c, Leaf):
            self.emit(f"{t} = {node.code}")
            return t
        if isinstance(c, Negation):
            k = self.lean(node.children[0])
            self.emit(f"{t} = U if {k} is U else (not {k})")
            return t
        if isinstance(c, AtLeast):
            return self.at_least([self.lean(k) for k in node.children], c.n, t)
        assert isinstance(c, Group)
        if e != t:  # one child decides it (the others were constants that do not)
            return self.lean(next(k for k in node.children if k.expr == e))
        stop, skip = ("False", "True") if c.op == "all" else ("True", "False")
        live = [k for k in node.children if k.expr != skip]
        # Children that cost nothing first (values already computed), then leaves, then groups:
        # any order gives the same Kleene value, and a cheap child may settle it.
        live.sort(key=lambda k: 0 if k.expr != f"n{k.index}" else (1 if isinstance(k.cond, Leaf) else 2))
        first = live[0]
        if isinstance(first.cond, Leaf) and first.expr == f"n{first.index}":
            self.emit(f"{t} = {first.code}")  # (the leaf's own name would only be copied)
        else:
            self.emit(f"{t} = {self.lean(first)}")
        for kid in live[1:]:
            # Kleene and: while not yet False, a child that is not True (False or U) is the answer so
            # far; any is the mirror image.
            self.emit(f"if {t} is not {stop}:")
            self.depth += 1
            v = self.lean(kid)
            self.emit(f"if {v} is not {skip}:")
            self.emit(f"    {t} = {v}")
            self.depth -= 1
        return t

    def at_least(self, kids: list[str], n: int, t: str) -> str:
        """At least ``n`` of the children true: True; fewer than ``n`` even if every unknown one were
        true: False; else U."""
        true = " + ".join(f"({k} is True)" for k in kids)
        unk = " + ".join(f"({k} is U)" for k in kids)
        self.emit(f"x = {true}")
        self.emit(f"{t} = True if x >= {n} else (False if x + ({unk}) < {n} else U)")
        return t

    def leaf(self, c: Leaf, node: CondNode) -> str:
        """The expression of a leaf's outcome (a local's or constant's name when it is one)."""
        if c.ref == "fact":
            a = self.fact_const.get(c.subject, "F_" + _ident(c.subject))
            node.actual = self.fact_index[c.subject]
        else:
            node.actual = self.field_slot(c.subject)
            a = self.field(c.subject)
        exps: list[str] = []
        for o in c.operands:
            if o.kind == "literal":
                exps.append(self.const(o.value))
                node.operands.append(("const", o.value))
                node.hits.append(None)
            elif o.kind == "param":
                hit = self.chain.param_hit(o.name, self.on) if self.param_ok(o.name) else None
                if hit is not None:
                    self.hits.add(hit)
                exps.append(self.param_expr(o.name))
                node.operands.append(("const", self.param(o.name)))
                node.hits.append(hit)
            elif o.kind == "fact":
                exps.append(self.fact_const.get(o.name, "F_" + _ident(o.name)))
                node.operands.append(("value", self.fact_index[o.name]))
                node.hits.append(None)
            else:
                exps.append(self.field(o.name))
                node.operands.append(("value", self.field_slot(o.name)))
                node.hits.append(None)
        op = c.op
        if op == "known":
            if a in ("True", "False", "U") and exps[0] in ("True", "False"):
                return str((a != "U") == (exps[0] == "True"))
            if exps[0] in ("True", "False"):
                return f"{a} is not U" if exps[0] == "True" else f"{a} is U"
            return f"({a} is not U) == {exps[0]}"
        if op in ("eq", "ne") and exps[0] in ("True", "False") and self.is_bool(c):
            # A yes/no value (True, False or U) compared with a constant: the value itself or its negation.
            same = (op == "eq") == (exps[0] == "True")
            if a in ("True", "False", "U"):
                return a if same or a == "U" else str(a == "False")
            return a if same else f"U if {a} is U else ({a} is False)"
        if "U" in (a, *exps):
            return "U"
        if op in ("eq", "ne", "lt", "le", "gt", "ge", "between"):  # constants in the subject's number type
            kind = self.leaf_numeric(c)
            exps = [self.as_kind(e, kind) for e in exps]
        guard = self.guard([a, *exps])
        if op in ("eq", "ne", "lt", "le", "gt", "ge"):
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
            return f"{guard}({a} {sym} {exps[0]})"
        if op == "between":
            return f"{guard}bool({exps[0]} <= {a} <= {exps[1]})"
        # in
        single: str | None = None  # the one option, when a folded constant has exactly one
        if len(exps) == 1 and exps[0] in self.consts:  # a folded constant: its options known now
            v = self.consts[exps[0]]
            options = tuple(v) if isinstance(v, list | tuple) else (v,)
            opts = self.const(options)
            if len(options) == 1:
                single = self.const(options[0])
        elif len(exps) == 1:
            opts = f"({exps[0]} if isinstance({exps[0]}, (list, tuple)) else ({exps[0]},))"
        else:
            opts = f"({', '.join(exps)},)"
        kind = self.subject_kind(c)
        # (``not isdisjoint``: whether the sets share a value, without building their intersection)
        if kind == "set":
            if single is not None:
                # One option (``风险 包含 因意外事故``): a membership test, where ``isdisjoint`` is a method
                # call; an empty set arriving as an empty tuple holds it no more than before.
                return f"{guard}({single} in {a})"
            # an empty set may arrive as an empty tuple (``_set_values``): it holds none of them
            return f"{guard}((not {a}.isdisjoint({opts})) if {a} else False)"
        if kind is not None:
            return f"{guard}({a} in {opts})"
        return f"{guard}((not {a}.isdisjoint({opts})) if isinstance({a}, frozenset) else ({a} in {opts}))"

    def subject_kind(self, c: Leaf) -> str | None:
        """The type kind of a leaf's subject (``bool``, ``set``, …), or None when it is not known here."""
        if c.ref == "fact":
            f = self.chain.facts.get(c.subject)
            return None if f is None else f.type.kind
        spec = CATALOGUE.get(c.subject)
        return None if spec is None else spec.type.kind

    def leaf_numeric(self, c: Leaf) -> str | None:
        """:meth:`numeric` of a leaf's subject (a fact's formula, or the household field's declared type)."""
        if c.ref == "fact":
            f = self.chain.facts.get(c.subject)
            return None if f is None else self.numeric(f.node)
        if CATALOGUE.get(c.subject) is None:
            return None
        return _number_kind_of(_field_annotation(c.subject))

    def is_bool(self, c: Leaf) -> bool:
        """Whether a leaf's subject is a yes/no value: True, False or unknown, nothing else."""
        return self.subject_kind(c) == "bool"

    def param_ok(self, name: str) -> bool:
        try:
            self.chain.param_hit(name, self.on)
        except MissingParameterError:
            return False
        return True

    # ------------------------------------------------------------------ the program

    def build(self) -> Program:
        chain = self.chain
        self.date_bounds = True
        body_start = len(self.lines)
        # Derived facts in dependency order, each with its substitution template's slots.
        facts: list[FactSlot] = []
        self.fact_index: dict[str, int] = {}
        self.fuse_aggregates()
        for name in chain.fact_order:
            f = chain.facts[name]
            idx = self.value_slot("F_" + _ident(name), "fact:" + name)
            self.fact_index[name] = idx
            self.emit(f"# fact {name} ({f.loc})")
            whole = isinstance(f.node, Name | Call | Aggregate)
            tmpl: list[str | int] = []
            if not whole:
                # Each name, call and aggregate of the formula is evaluated once into a value slot
                # (the numbers the trace shows); the fact is then the formula over those values, which
                # the common-subexpression scope hands back instead of computing them again.
                self.template(f.node, 0, tmpl)
            value = self.expr(f.node)
            self.emit(f"F_{_ident(name)} = {value}")
            if self.is_const(value):  # the span fixes it: what reads it reads the constant
                self.fact_const[name] = value
            facts.append(FactSlot(name, idx, tmpl, whole))
        # Rules in force, in dependency order.
        facts_end = len(self.lines)
        rule_locals: dict[str, str] = {}
        rules: list[tuple[RuleDef, RuleVersion, CondNode]] = []
        heads: list[str] = []
        results: list[tuple[str, list[tuple[int, int]]]] = []  # (outcome, [(group, bit)])
        bits: tuple[list[tuple[Conclusion, ...]], ...] = tuple([] for _ in range(N_GROUPS))
        for rule, version in chain.in_force(self.on):
            heads.append(f"# rule {rule.id} ({version.loc})")
            self.emit(heads[-1])
            root = self.cond(version.when, rule_locals)
            rule_locals[rule.id] = root.expr
            for alias in chain.aliases_of.get(rule.id, ()):
                rule_locals[alias] = root.expr
            rules.append((rule, version, root))
            if rule.conclusions:
                # One bit per (rule, group): the rule's conclusions of that group's kinds.
                by_part: dict[int, list[Conclusion]] = {}
                for kind, what in rule.conclusions:
                    by_part.setdefault(GROUP_OF_KIND.get(kind, N_GROUPS - 1), []).append((kind, what, rule.id))
                results.append((root.expr, [(i, 1 << len(bits[i])) for i in by_part]))
                for i, cs in by_part.items():
                    bits[i].append(tuple(cs))
        facts_body = self.lines[body_start:facts_end]
        full_rules = self.lines[facts_end:]
        # The lean program: the same rules, each stopping as soon as its outcome is settled.
        self.lines = []
        for head, (_, _, root) in zip(heads, rules, strict=True):
            self.emit(head)
            got = self.lean(root)
            if got != root.expr:
                # The rule's outcome is an earlier rule's test (a shared leaf), which the lean program may
                # have computed only on some branch: give it that name here, where the conclusions and
                # later rules read it (the same test, so the same value).
                self.emit(f"{root.expr} = {got}")
        lean_rules = self.lines
        n_nodes = self.node_count
        conclude = _masks(results)
        by_index = sorted(self.cond_nodes, key=lambda n: n.index)
        outcomes = _tuple_display([n.expr for n in by_index])
        fired, unknown = _mask_tuples(results)
        span = f"{chain.pack.id} [{self.start}, {self.until or '…'})"
        tail = _tuple_display(self.values)
        full_return = [f"    return {tail}, {outcomes}, {fired}, {unknown}"]
        lean_return = [f"    return {tail}, None, {fired}, {unknown}"]
        none_returns = _none_returns(results, tail, outcomes)
        # The reads the three functions' bodies use (one prologue serves all three).
        body = (facts_body, full_rules, lean_rules, conclude, full_return, lean_return, none_returns)
        used = set(_NAME.findall(_COMMENT.sub("", "\n".join(line for part in body for line in part))))
        self.used = used
        prologue = ["    " + line for line in self.render_prologue(days=False)]
        if self.daily:
            prologue.insert(0, f"    {', '.join(self.daily)}{',' if len(self.daily) == 1 else ''} = DAYS[as_of]")
        full_parts = [prologue, facts_body, full_rules, conclude, full_return]
        lean_parts = [prologue, facts_body, lean_rules, conclude, lean_return]
        none_parts = [prologue, facts_body, full_rules, conclude, none_returns]
        full, lean, none = ([line for part in parts for line in part] for parts in (full_parts, lean_parts, none_parts))
        seen: dict[int, set[str]] = {}
        namespace: dict[str, Any] = {
            "U": UNKNOWN,
            "O": {True: "1", False: "0", UNKNOWN: "?"},
            "Decimal": Decimal,
            "timedelta": timedelta,
            "relativedelta": relativedelta,
            "_delta": _whole,
            "_month_cut": _month_cut,
            "_add_months": _add_months,
            "_set_values": _set_values,
            "_end_of_month": _end_of_month,
            "_lacking": _lacking,
            "_since_at_least": _since_at_least,
            "_item": _item,
            "_has_unknown": _has_unknown,
            "Z": _NO_UNKNOWN,
            **self.consts,
        }
        out = []
        if self.daily:
            day = [*("    " + line for line in self.day_lines), f"    return ({', '.join(self.daily)},)"]
            out += [
                f"# {span}: the values of the day alone",
                f"def day(as_of{_bound([day], namespace, seen)}):",
                *day,
                "",
                "",
            ]
            namespace["DAYS"] = _Days()
        full_args, lean_args, none_args = (_bound(p, namespace, seen) for p in (full_parts, lean_parts, none_parts))
        out += [
            f"# {span}",
            f"def program(h, as_of{full_args}):",
            *full,
            "",
            "",
            f"# {span}: the same values and conclusions, no outcome tuple",
            f"def program_lean(h, as_of{lean_args}):",
            *lean,
        ]
        none_source = "\n".join(
            [
                f"# {span}: the full program, its tuples built only when a decision without a trace reads them",
                f"def program_none(h, as_of{none_args}):",
                *none,
            ]
        )
        source = "\n".join([*out, "", "", none_source]) + "\n"
        key = f"{chain.pack.id}@{self.start.isoformat()}"
        # ``program_none`` is compiled on its first call (:meth:`Program.run_none`): compiling costs about
        # as much per line as the engine's first decision can spare (issue 9's cold start).
        # Compiled once per text — its comments left out, so the spans of a pack share it (:func:`_shared`)
        # — and kept on disk beside the cached rule set, keyed by the text itself
        # (:func:`eligibility._cache.cached_code`): the compile is most of a new process's first decision.
        shared = _shared("\n".join(out) + "\n", "<eligibility program>")
        exec(shared.code, namespace)  # our own generated source; no text from a rule file is code
        for name in ("day", "program", "program_lean"):
            if name in namespace:
                namespace[name] = _rehomed(namespace[name])
        if self.daily:
            namespace["DAYS"].fn = namespace["day"]
        return Program(
            chain=chain,
            start=self.start,
            until=self.until,
            key=key,
            source=source,
            fn=namespace["program"],
            lean_fn=namespace["program_lean"],
            none_code=(none_source + "\n", namespace),
            facts=facts,
            rules=rules,
            n_nodes=n_nodes,
            hits=frozenset(self.hits),
            fact_index=dict(self.fact_index),
            value_kinds=self.value_kinds,
            conclusion_bits=tuple(tuple(b) for b in bits),
            shared=[shared],
        )


_MONTHS_TO_DAY: Final = "(d_months - {0}.year * 12 - {0}.month - ({0}.day > d_cut))"
"""Whole months from date ``{0}`` to ``as_of`` when ``{0} <= as_of``, as relativedelta counts them
(:func:`eligibility._dates.whole_months`): the difference of the (year, month) pairs, less one when
``as_of``'s day comes before ``{0}``'s day clipped to ``as_of``'s month. ``d_months`` is ``as_of``'s
year × 12 + month and ``d_cut`` its :func:`_month_cut`: ``{0}.day > d_cut`` is exactly
``as_of.day < min({0}.day, days in as_of's month)``."""


def _month_cut(on: date) -> int:
    """``on.day``, or 99 (above any day) when ``on`` is the last day of its month: a later day of the
    month of a date clips to the month's end, which is ``on`` itself, so no month is lost."""
    last = (date(on.year + on.month // 12, on.month % 12 + 1, 1) - timedelta(days=1)).day
    return on.day if on.day < last else 99


_CALLS: Final = {
    "age": "_delta({0}, as_of)[0]",
    "months_since": "_delta({0}, as_of)[1]",
    "months_between": "_delta({0}, {1})[1]",
    "days_between": "({1} - {0}).days",
    "add_days": "{0} + timedelta(days=int({1}))",
    "add_months": "_add_months({0}, int({1}))",
    "end_of_month": "_end_of_month({0})",
    "months_without": "_lacking({0}, {1}, {2})[0]",
    "first_month_without": "_lacking({0}, {1}, {2})[1]",
}
"""The rule language's date functions as Python over already-known arguments."""


def _live_groups(results: list[tuple[str, list[tuple[int, int]]]]) -> list[int]:
    """The conclusion groups a rule of this span can set a bit of: only their masks are locals; the
    others are the constant 0 in the returned tuples (the 淮北 identification pack sets 6 groups of 13,
    and each mask local costs a store at the start and a load at the return)."""
    return sorted({i for _, parts in results for i, _ in parts})


def _mask_tuples(results: list[tuple[str, list[tuple[int, int]]]]) -> tuple[str, str]:
    """The fired and the unknown masks as tuple displays: a live group's local, else ``0``."""
    live = set(_live_groups(results))
    fired = "(" + "".join(f"f{i}, " if i in live else "0, " for i in range(N_GROUPS)) + ")"
    unknown = "(" + "".join(f"u{i}, " if i in live else "0, " for i in range(N_GROUPS)) + ")"
    return fired, unknown


def _masks(results: list[tuple[str, list[tuple[int, int]]]]) -> list[str]:
    """The statements gathering the conclusions into one fired and one unknown mask per live group
    (:func:`_live_groups`), from each concluding rule's outcome and its (group, bit) pairs; a rule whose
    outcome the span fixes only sets the masks' starting values. Rules whose outcome is the same local
    (two rules on one test) share one block: the bits are or-ed, and or-ing is order-free."""
    start = [0] * (2 * N_GROUPS)
    blocks: dict[str, list[tuple[int, int]]] = {}
    for expr, parts in results:
        if expr in ("True", "U"):
            for i, bit in parts:
                start[i + (N_GROUPS if expr == "U" else 0)] |= bit
            continue
        if expr == "False":
            continue
        blocks.setdefault(expr, []).extend(parts)
    body: list[str] = []
    for expr, parts in blocks.items():
        merged: dict[int, int] = {}
        for i, bit in parts:
            merged[i] = merged.get(i, 0) | bit
        # Most rules do not fire for most households: one test settles those.
        body.append(f"if {expr} is not False:")
        body.append(f"    if {expr} is True:")
        body += [f"        f{i} |= {bit}" for i, bit in merged.items()]
        body.append("    else:")
        body += [f"        u{i} |= {bit}" for i, bit in merged.items()]
    live = _live_groups(results)
    names = [*(f"f{i}" for i in live), *(f"u{i}" for i in live)]
    values = [*(start[i] for i in live), *(start[N_GROUPS + i] for i in live)]
    init: dict[int, list[str]] = {}
    for name, v in zip(names, values, strict=True):
        init.setdefault(v, []).append(name)
    return ["    " + " = ".join(ns) + f" = {v}" for v, ns in init.items()] + ["    " + line for line in body]


_STACK_ITEMS: Final = 30
"""CPython's ``STACK_USE_GUIDELINE``: a tuple display of more items is compiled as a list grown item by item."""


def _tuple_display(items: Sequence[str]) -> str:
    """The text of a tuple display of ``items`` (the program's values and node outcomes: 83 and 105 items
    on the 淮北 identification pack, 383 and 178 on the bundled packs).

    Why not one plain display: CPython 3.11 compiles a display of more than :data:`_STACK_ITEMS` items as
    an empty list, one ``LIST_APPEND`` per item (with the list's reallocations) and a copy into a tuple.
    Written as ``(*(a, …), *(…), …)`` of at most that many items each, every chunk is one ``BUILD_TUPLE``
    copied into the list by one ``LIST_EXTEND``: the same tuple for about 1,500 instructions less per
    household on the identification pack (session 21, callgrind, 2,000 fresh households: 79,263 →
    77,761 for ``program_none`` alone)."""
    if len(items) <= _STACK_ITEMS:
        return "(" + "".join(f"{item}, " for item in items) + ")"
    chunks = [items[k : k + _STACK_ITEMS] for k in range(0, len(items), _STACK_ITEMS)]
    return "(" + ", ".join("*(" + "".join(f"{item}, " for item in chunk) + ")" for chunk in chunks) + ",)"


def _none_returns(results: list[tuple[str, list[tuple[int, int]]]], tail: str, outcomes: str) -> list[str]:
    """The returns of ``program_none``: the whole result when a conclusion may be unknown, the values
    without the node outcomes when a conclusion of a :data:`VALUE_GROUPS` group fired, else neither.
    Only the masks a rule of this span can set are tested (the others are 0); past that test every
    unknown mask is 0, so the last two returns give the constant ``Z`` (:data:`_NO_UNKNOWN`) instead of
    building a tuple of zeros per household."""
    fired, unknown = _mask_tuples(results)
    live = _live_groups(results)
    out: list[str] = []
    if live:
        out += [
            f"    if {' or '.join(f'u{i}' for i in live)}:",
            f"        return {tail}, {outcomes}, {fired}, {unknown}",
        ]
    valued = [i for i in VALUE_GROUPS if i in live]
    if valued:
        out += [f"    if {' or '.join(f'f{i}' for i in valued)}:", f"        return {tail}, None, {fired}, Z"]
    return [*out, f"    return None, None, {fired}, Z"]


_MIRROR: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDER_OPS: Final = frozenset(("==", "!=", "<", "<=", ">", ">="))
"""The comparisons whose constant side :meth:`_Compiler.as_kind` may give in the other side's number type."""
"""A comparison with its sides swapped (``n <= f`` is ``f >= n``)."""
_WALRUS: Final = re.compile(r"\((x\d+) := [^()]*\) is None")
"""An item test's first read of one attribute, and nothing else (:meth:`_Compiler.test`): ``(x3 := m1d['k'])
is None`` — not a test that is unknown when either of two attributes is."""


_NO_UNKNOWN: Final = (0,) * N_GROUPS
"""The unknown masks when no conclusion is unknown (``Z`` in the generated code)."""


_SHAREABLE: Final = (str, int, Decimal, date, tuple, frozenset)
"""Types of constants that are shared by value (immutable; ``bool`` and None never reach the table)."""
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A name (each match is a whole run of word characters; one inside a number, ``e5`` of ``1e5``, is no
constant's or helper's name and is dropped with the rest)."""
_COMMENT: Final = re.compile(r"#[^\n]*")
"""From a line's first ``#`` to its end (the generated code has no ``#`` in strings: constants are names)."""


def _bound(parts: list[list[str]], namespace: dict[str, Any], seen: dict[int, set[str]]) -> str:
    """The constants and helpers the lines of ``parts`` read, as defaults of the function's extra
    parameters (``, U=U, K0=K0``): a default is a local, read with ``LOAD_FAST``, where a global costs a
    dictionary look-up on every read — and the program reads ``U`` and the span's constants hundreds of
    times. Callers pass only ``(h, as_of)``.

    The three functions share most of their parts (prologue, facts, rules): ``seen`` holds each part's
    names by the part's ``id``, so each is scanned once. A name that is not really read (a word in a
    string) only binds one default more."""
    used: set[str] = set()
    for part in parts:
        names = seen.get(id(part))
        if names is None:
            names = seen[id(part)] = _read_names(part)
        used |= names
    used &= namespace.keys()
    return "".join(f", {name}={name}" for name in sorted(used, key=_natural))


def _read_names(lines: list[str]) -> set[str]:
    """The names generated lines read or assign (comments, which quote the rule's text, left out): what
    :func:`_bound` binds as defaults, and what the member selectors' prologue guards by
    (``members_py._guarded``)."""
    return set(_NAME.findall(_COMMENT.sub("", "\n".join(lines))))


def _natural(name: str) -> tuple[str, int]:
    """``K2`` before ``K10``."""
    head = name.rstrip("0123456789")
    return head, int(name[len(head) :] or -1)


_static: Final = lru_cache(maxsize=None)
"""For the questions the compiler asks the model classes (a field's type, the items of a collection):
their answers never change in a process, and a program asks the same ones hundreds of times — typing
introspection that was a tenth of compiling a program, which a new process's first decision waits for."""


@_static
def _item_annotation(coll: str, key: str) -> Any:
    """The type of field ``key`` of the items of collection ``coll`` (``members``, ``monitoring.measures``)
    as the models declare it, ``X | None`` and ``Annotated`` stripped."""
    return _unwrap(_item_model(coll).model_fields[key].annotation)


@_static
def _field_annotation(path: str) -> Any:
    """The declared type of a household field (``income.wage``), stripped as :func:`_item_annotation`."""
    model: Any = Household
    *sections, key = path.split(".")
    for part in sections:
        model = _unwrap(model.model_fields[part].annotation)
    field = model.model_fields.get(key) if isinstance(model, type) and issubclass(model, BaseModel) else None
    return None if field is None else _unwrap(field.annotation)


@_static
def _item_model(coll: str) -> Any:
    """The model class of the items of collection ``coll`` (``members``, ``monitoring.measures``)."""
    model: Any = Household
    for part in coll.split("."):
        ann = _unwrap(model.model_fields[part].annotation)
        model = _unwrap(typing.get_args(ann)[0]) if typing.get_origin(ann) is tuple else ann
    return model


@_static
def _plain_field(model: Any, key: str) -> bool:
    """Whether attribute ``key`` of a ``model`` instance is always its ``__dict__[key]``: a field of a
    pydantic model (pydantic-core stores every field there) that no data descriptor of the class hides.

    Why read it there: pydantic's ``BaseModel`` defines ``__getattr__``, so CPython cannot specialise an
    attribute read on a model — every ``m.field`` takes the generic slow path (~60 ns on this machine,
    where a plain object's is ~13), and a county household's program reads some ninety of them.
    ``d["field"]`` on the ``__dict__`` taken once per object is ~25 ns, and gives the same object."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or key not in model.model_fields:
        return False
    return not any(hasattr(vars(k).get(key), "__set__") for k in model.__mro__)


@_static
def _plain_fields(model: Any) -> bool:
    """Whether ``model`` is a pydantic model with a field :func:`_plain_field` reads from ``__dict__``."""
    return (
        isinstance(model, type)
        and issubclass(model, BaseModel)
        and any(_plain_field(model, k) for k in model.model_fields)
    )


def _read(local: str, get: str, conv: str) -> list[str]:
    """The statements reading one household field into ``local``: its rule value, or U when absent. A
    raw value is stored first and replaced when it is None (``if v is None`` is one instruction in
    CPython 3.11), where the one-line form stores it twice through a walrus temporary."""
    if conv == "x":
        return [f"{local} = {get}", f"if {local} is None:", f"    {local} = U"]
    return [f"{local} = U if (x := {get}) is None else {conv}"]


def _get(obj: str, model: Any, key: str) -> str:
    """The expression reading attribute ``key`` of ``obj`` (an instance of ``model``): from the
    ``__dict__`` the program took into ``{obj}d`` (``hd`` for the household), or as an attribute."""
    if not _plain_field(model, key):
        return f"{obj}.{key}"
    return f"{'hd' if obj == 'h' else obj + 'd'}[{key!r}]"


def _number_kind(v: Any) -> str | None:
    """ "decimal" / "int" for a Decimal / an int value (a bool is not a number here)."""
    if isinstance(v, bool):
        return None
    return "decimal" if isinstance(v, Decimal) else ("int" if isinstance(v, int) else None)


def _number_kind_of(ann: Any) -> str | None:
    return "decimal" if ann is Decimal else ("int" if ann is int else None)


def _members_of(ann: Any) -> dict[str, Any] | None:
    """{Chinese value: enum member} of a coded type or a set of a coded type; None for another type."""
    if typing.get_origin(ann) in (frozenset, tuple):
        ann = _unwrap(typing.get_args(ann)[0])
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return {m.value: m for m in ann if isinstance(m.value, str)}
    return None


def _kleene(op: str, items: list[str], safe: set[str]) -> str:
    """Kleene and/or over locals: the same truth tables as ``kleene_and`` / ``kleene_or``. Items in
    ``safe`` are never unknown (no U test for them); an item that is the constant U leaves only the
    deciding value to look for (and: any False, else U)."""
    stop, rest = ("False", "True") if op == "and" else ("True", "False")
    if "U" in items:
        found = " or ".join(f"{i} is {stop}" for i in items if i != "U")
        return f"{stop} if ({found}) else U"
    anyu = " or ".join(f"{i} is U" for i in items if i not in safe)
    found = " or ".join(f"{i} is {stop}" for i in items)
    return f"{stop} if ({found}) else " + (f"(U if ({anyu}) else {rest})" if anyu else rest)


def _whole_number(v: Any) -> bool:
    """An int constant (not a bool): arithmetic on it is exact whatever the decimal context."""
    return isinstance(v, int) and not isinstance(v, bool)


def _walk(node: Node) -> Iterator[Node]:
    """``node`` and every node under it."""
    yield node
    for v in node.__dict__.values():
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, Node):
                yield from _walk(x)


def _top_aggregates(node: Node) -> Iterator[Aggregate]:
    """The aggregates of a formula that are not inside another aggregate."""
    if isinstance(node, Aggregate):
        yield node
        return
    for v in node.__dict__.values():
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, Node):
                yield from _top_aggregates(x)


def _literal(expr: str) -> Any:
    return {"True": True, "False": False, "None": None}[expr]


class _Days(dict[date, tuple[Any, ...]]):
    """A program's values of the day alone (dates such as twelve months before ``as_of``), per
    assessment date: the day function runs on a date's first household only. Bounded, and safe to share
    between threads (a lost race computes the same tuple twice)."""

    fn: Any = None

    def __missing__(self, on: date) -> tuple[Any, ...]:
        got: tuple[Any, ...] = self.fn(on)
        if len(self) >= 4096:
            self.clear()
        self[on] = got
        return got


def _has_unknown(xs: list[Any]) -> bool:
    """Whether a list of collected values holds an unknown one."""
    return any(x is UNKNOWN for x in xs)


# Date functions of the rule language. Each gives exactly what the interpreter's primitive gives
# (python-dateutil semantics); the differential tests hold them to it, and
# tests/property/test_codegen_shortcuts.py checks each against dateutil on every kind of date.
#
# Measured on the bundled workload (session 9): ``_add_months`` and ``_end_of_month`` are called about
# twice a household on ~1,000 distinct dates (identification dates, the income window's anchor), so
# their memo answers four calls in five and stays; on a miss they now take a few integer operations
# instead of building a relativedelta. The months without a visit are keyed by a household's own visits: 1,393
# distinct keys in 1,395 calls, so its memo only cost a hash of the tuple and an insertion into a large
# table per call — it is not memoised any more. The values that depend only on the assessment date and
# the span are computed once per day by the program's ``day()`` (``_Days``).


@lru_cache(maxsize=65536)
def _whole(a: date, b: date) -> tuple[int, int]:
    """Whole (years, months) from ``a`` to ``b`` — what ``relativedelta(b, a)`` gives — by integer
    arithmetic (:mod:`eligibility._dates`). The interpreter kept as the test oracle still uses
    relativedelta itself, so the differential tests check this against it."""
    months = whole_months(a, b)
    return (months // 12 if months >= 0 else -(-months // 12)), months


def _since_at_least(on: date, months: int) -> date:
    """The last date ``x`` with at least ``months`` (≥ 1) whole months from ``x`` to ``on`` — what
    ``relativedelta(on, x)`` counts (:func:`eligibility._dates.whole_months`). Whole months to ``on`` never
    grow as ``x`` moves later (within a month the day can only cost one; into the next month the month
    count drops by one and the day can give back at most that one), so ``whole_months(x, on) >= months``
    holds exactly for ``x <= _since_at_least(on, months)``: the program compares a member's birth date
    with this once-a-day date (:meth:`_Compiler.since_test`) instead of computing the member's age. Found by
    bisection on that same count, so it agrees with it by construction. ValueError when no date of the
    calendar has that many months to ``on`` (the compiler uses it only where one has)."""
    lo, hi = 1, on.toordinal()  # whole_months(on, on) is 0: ``hi`` never qualifies
    if months < 1 or whole_months(date.fromordinal(lo), on) < months:
        raise ValueError(f"no date has {months} whole months to {on}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if whole_months(date.fromordinal(mid), on) >= months:
            lo = mid
        else:
            hi = mid
    return date.fromordinal(lo)


@lru_cache(maxsize=4096)
def _set_values(x: Any) -> Any:
    """A set of coded values (a frozenset or tuple of enum members) as the set of their Chinese values,
    as :func:`facts.flatten` gives it (an empty one stays as it is). Memoised: a county has only a
    handful of distinct combinations, such as 残疾 with 长期慢性病."""
    return frozenset([e._value_ for e in x]) if x else x


def _month_days(y: int, m: int) -> int:
    """Days in month ``m`` of year ``y`` (Gregorian)."""
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


@lru_cache(maxsize=65536)
def _add_months(d: date, n: int) -> date:
    """``d + relativedelta(months=n)``: the same day ``n`` months on, clipped to that month's last day
    (01-31 plus one month is 02-28, or 02-29 in a leap year). Out of the calendar's years it raises
    ValueError, as relativedelta does."""
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    m += 1
    day = d.day
    if day > 28:
        day = min(day, _month_days(y, m))
    return date(y, m, day)


@lru_cache(maxsize=65536)
def _end_of_month(d: date) -> date:
    """The last day of ``d``'s month: :func:`expressions.end_of_month` (``d + relativedelta(day=31)``)."""
    return d.replace(day=_month_days(d.year, d.month))


def _lacking(dates: Iterable[date], start: date, end: date) -> tuple[int, Any]:
    """(how many, the first) of the first days of the calendar months from ``start``'s to ``end``'s
    (inclusive) holding none of ``dates`` — the months dateutil's ``rrule(MONTHLY)`` walks — for
    ``months_without`` and ``first_month_without`` (UNKNOWN when there is none), in the programs and in
    the member selections alike, without making a date per month: the count
    is the months of the range less the range's months holding a date, the first is found by a walk
    that stops at the first such month. The bundled workload's households lack ~14 months each, and a
    date per month was most of the helper's ~4 µs."""
    lo = start.year * 12 + start.month
    hi = end.year * 12 + end.month
    seen = {k for d in dates if lo <= (k := d.year * 12 + d.month) <= hi}
    n = hi - lo + 1 - len(seen)
    if n <= 0:
        return 0, UNKNOWN
    k = lo
    while k in seen:
        k += 1
    y, m = divmod(k - 1, 12)
    return n, date(y, m + 1, 1)
