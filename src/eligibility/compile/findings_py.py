"""Finding groups in the Python target: the conclusion masks turned into findings by generated code.

A program (:mod:`eligibility.compile.python`) gives, per conclusion group, a mask of the conclusions
that fired and one of those left unknown. A decision shows each kind's concluded codes as findings:
certain where a rule fired, uncertain where a rule that would conclude the code is unknown; certain
ones first, each in code order; each finding naming its rules in rule order.

Sessions 6–9 memoised the findings per (group, fired mask, unknown mask). On households never seen
before a quarter to a half of those combinations were new (risk types, measures), and each miss cost
a list of conclusions, a dict by code, a sort and a memo entry (counted against the engine's budget,
tracked by the cyclic collector). Here, once per (engine, program), each group's codes are laid out
in code order with the mask of the bits (rules) that conclude them, and one function is generated —
straight-line ``if`` tests on those masks, the masks as integer literals of our own — whose cost is a
few dozen nanoseconds per code of a group with any conclusion, whether or not the combination was
seen before. The finding objects themselves are made on first need per (code, certainty, rules) —
for a code one rule concludes, one object for each certainty — and shared by every decision.

Session 17: a narrow group whose every code one rule concludes (risks and risk types, ≤ 10 bits) keeps
its certain findings by fired mask and its uncertain ones by unknown mask (:class:`_ByMask`); each part
alone repeats where the pair did not, and a hit is a dict look-up for the whole group.

Session 18: the functions read their tables and memos as defaults, so one compiled copy of a text serves
every program writing it (``python._shared``: the bundled packs' 54 programs write 5 texts).

Nothing a rule file supplies becomes code: codes and rule ids stay in the tables the generated code
indexes; only bit masks and table numbers are written into the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from .python import Program, _rehomed, _shared

__all__ = ["FindingTables", "Make", "TableFor", "code_masks"]

Make = Callable[[str, str, bool, tuple[str, ...]], Any]
"""``make(kind, code, certain, rule ids)``: the object a group shows for a concluded code."""

_TABLE_SIZE: Final = 4096
"""Findings kept per code and certainty: one per set of its rules seen together (a code most rules
conclude alone has one); past this many the table starts over."""


TableFor = Callable[[Make, str, str, bool, Sequence[tuple[int, str]]], "_Table"]
"""``table(make, kind, code, certain, (bit, rule id) pairs)``: a code's table of one certainty."""

_MEMO_BITS: Final = 10
"""The widest group (bits: rules concluding in it) whose findings are kept by mask (:class:`_ByMask`):
its memos hold at most ``2 ** 10`` entries each, and a wider group's masks repeat less (the bundled
packs' measures, 28 bits: 39 % of fired masks new on fresh households)."""


class _Table(dict[int, Any]):
    """One code's findings of one certainty, by the bits (rules) concluding it: made on first need."""

    __slots__ = ("certain", "code", "kind", "make", "rules")

    def __init__(self, make: Make, kind: str, code: str, certain: bool, rules: Sequence[tuple[int, str]]) -> None:
        super().__init__()
        self.make, self.kind, self.code, self.certain = make, kind, code, certain
        self.rules = tuple(rules)
        """(bit, rule id) in the order the program lists the group's conclusions (rule order)."""

    def __missing__(self, bits: int) -> Any:
        got = self.make(self.kind, self.code, self.certain, tuple([rid for b, rid in self.rules if bits >> b & 1]))
        if len(self) >= _TABLE_SIZE:
            self.clear()
        self[bits] = got
        return got


class _ByMask(dict[int, tuple[Any, ...]]):
    """Part of a group's findings by one of its masks, made on first need by ``fn`` (generated: the
    group's code, the only copy of what its findings are) — the certain findings by the fired mask, or
    the uncertain ones by the unknown mask (:class:`FindingTables`: groups whose every code one rule
    concludes, of at most :data:`_MEMO_BITS` bits, so at most ``2 ** _MEMO_BITS`` entries).

    Why a memo, when sessions 6–9 dropped one per (fired, unknown) pair: split in two, each part keyed
    by one mask, the combinations repeat — on 3,000 fresh households of the 淮北 identification pack after
    1,000 warm-up, 4 % of the risk types' fired masks and 1 % of their unknown masks were new, where
    18 % of the pairs were — and a hit is one dict look-up instead of a test per code of the group."""

    __slots__ = ("fn",)

    def __init__(self) -> None:
        super().__init__()
        self.fn: Callable[[int], tuple[Any, ...]] = _unset

    def __missing__(self, mask: int) -> tuple[Any, ...]:
        got = self[mask] = self.fn(mask)
        return got


_TABLE_NAME: Final = re.compile(r"\b[tCM][0-9]+\b")
"""A table's or memo's name in the generated code (``t3``, ``C0``, ``M0``)."""


def _defaults(lines: Sequence[str]) -> str:
    """The tables and memos ``lines`` read, as defaults of the function's extra parameters (``, t0=t0``):
    read as locals, so the function's code — shared by every program writing the same text — never
    looks up one program's globals (``python._bound`` does the same for the programs)."""
    names = {m for line in lines for m in _TABLE_NAME.findall(line)}
    return "".join(f", {name}={name}" for name in sorted(names, key=lambda x: (x[0], int(x[1:]))))


def _unset(mask: int) -> tuple[Any, ...]:
    raise AssertionError("a finding memo read before its group's code was set")


def code_masks(program: Program, group: int, kind: str) -> list[tuple[str, int, list[tuple[int, str]]]]:
    """The codes of ``kind`` that group ``group`` concludes, in code order, each with the mask of the
    bits concluding it and its (bit, rule id) pairs in the order :meth:`Program.conclusions` lists
    them (a rule naming a code twice is listed twice, as there)."""
    by_code: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    for b, conclusions in enumerate(program.conclusion_bits[group]):
        for k, code, rid in conclusions:
            if k == kind:
                mask, rules = by_code.get(code, (0, []))
                rules.append((b, rid))
                by_code[code] = (mask | 1 << b, rules)
    return [(code, mask, rules) for code, (mask, rules) in sorted(by_code.items())]


class FindingTables:
    """For one program and one engine: a generated function per conclusion group that gives the group's
    findings from its two masks, and one that gives all the finding groups of a decision at once.

    ``make`` builds a finding (the engine's labels as worded in the program's span); it is called once
    per (code, certainty, rules) met, never per household."""

    def __init__(
        self, program: Program, make: Make, groups: Sequence[tuple[int, str]], table: TableFor | None = None
    ) -> None:
        """``groups``: the (group, kind) pairs :attr:`every` returns, in its order. ``table``: how a code's
        table of one certainty is had (default: a new :class:`_Table`) — the engine gives a table shared
        by the programs whose table of that code would hold the same findings (``Engine._table_for``)."""
        self.program, self._make = program, make
        self._table: TableFor = _Table if table is None else table
        self.tables: list[_Table] = []
        self._one: dict[tuple[int, str], Callable[[int, int], tuple[Any, ...]]] = {}
        body: list[str] = []
        out: list[str] = []
        pieces: list[str] = []
        memos: list[int] = []  # the groups (numbers in ``groups``) whose findings are kept by mask
        for n, (g, kind) in enumerate(groups):
            codes = code_masks(program, g, kind)
            if not codes:  # no code of this kind here: an empty tuple, masks unread
                out.append("()")
                continue
            body.append(f"fm = f[{g}]")
            body.append(f"um = u[{g}]")
            out.append(f"r{n}")
            width = len(program.conclusion_bits[g])
            if len(codes) == 1 or width > _MEMO_BITS or any(mask & (mask - 1) for _, mask, _ in codes):
                # One code (a few tests), a wide group, or a code several rules conclude (uncertain only
                # when none fired: its uncertain findings read both masks): the group's code, inline.
                body += self._block(g, kind, f"r{n}", make)
                continue
            # The group's code (the only copy of what its findings are) as two functions, certain findings
            # from the fired mask, uncertain ones from the unknown mask, each kept by its mask (_ByMask).
            yes, maybes = self._parts(kind, codes, make)
            pieces += [f"def yes{n}(fm{_defaults(yes)}):", "    o = []", *("    " + line for line in yes)]
            pieces += ["    return tuple(o)", f"def maybe{n}(um{_defaults(maybes)}):", "    o = []"]
            pieces += [*("    " + line for line in maybes), "    return tuple(o)"]
            body += ["if fm or um:", f"    r{n} = C{n}[fm] + M{n}[um]", "else:", f"    r{n} = ()"]
            memos.append(n)
        self.body: tuple[str, ...] = tuple(body)
        """The statements of :attr:`every` (unindented): from the masks ``f``, ``u`` they set each group's
        findings into the expression :attr:`outs` names, using the locals ``fm``, ``um``, ``o``, ``x``,
        ``r0``… and the tables ``t0``…, ``C0``…, ``M0``… (:attr:`names`). The engine's generated decision
        function (``engine._decider``) writes them into its own body: one copy of the code, no call per
        household."""
        self.outs: tuple[str, ...] = tuple(out)
        """Per group of ``groups``, in order: the local holding its findings, or ``()`` for a group of no code."""
        every = [
            *pieces,
            f"def every(f, u{_defaults(body)}):",
            *("    " + line for line in body),
            f"    return ({''.join(o + ', ' for o in out)})",
        ]
        self.source = "\n".join(every) + "\n"
        self.names: dict[str, Any] = {f"t{i}": t for i, t in enumerate(self.tables)}
        """The tables and memos by the names :attr:`body` reads them by."""
        self._memos: list[_ByMask] = []
        for n in memos:
            self.names[f"C{n}"], self.names[f"M{n}"] = certain, maybe = _ByMask(), _ByMask()
            self._memos += [certain, maybe]
        namespace: dict[str, Any] = dict(self.names)
        # Our own source, compiled once for every program writing the same text (``python._shared``): it
        # names tables by number, not by code or rule, so the spans of a pack write the same text; each
        # program's functions bind its own tables as their defaults.
        self.shared = [_shared(self.source, "<eligibility findings>")]
        exec(self.shared[0].code, namespace)
        for n in memos:
            self.names[f"C{n}"].fn = _rehomed(namespace[f"yes{n}"])
            self.names[f"M{n}"].fn = _rehomed(namespace[f"maybe{n}"])
        self.every: Callable[[Sequence[int], Sequence[int]], tuple[tuple[Any, ...], ...]] = _rehomed(namespace["every"])

    def group(self, g: int, kind: str) -> Callable[[int, int], tuple[Any, ...]]:
        """The findings of ``kind`` in group ``g`` as a function of its (fired, unknown) masks — generated
        on first need (the status reads exclusions and reviews, the exit its blockers)."""
        got = self._one.get((g, kind))
        if got is None:
            start = len(self.tables)
            body = self._block(g, kind, "r", self._make)
            head = f"def one(fm, um{_defaults(body)}):"
            source = "\n".join([head, *("    " + line for line in body), "    return r"]) + "\n"
            namespace: dict[str, Any] = {f"t{i}": self.tables[i] for i in range(start, len(self.tables))}
            shared = _shared(source, "<eligibility findings>", disk=False)  # (compiled in-process, as before)
            self.shared.append(shared)
            exec(shared.code, namespace)  # our own source, shared by text as :attr:`every`'s
            got = self._one[(g, kind)] = _rehomed(namespace["one"])
        return got

    def _block(self, g: int, kind: str, out: str, make: Make) -> list[str]:
        """Code setting ``out`` to the findings of ``kind`` from masks ``fm`` (fired) and ``um`` (unknown):
        certain codes first, then uncertain ones not also certain, each in code order — the order of
        sorting by (not certain, code) — through tables numbered into :attr:`tables`."""
        codes = code_masks(self.program, g, kind)
        if not codes:
            return [f"{out} = ()"]
        lines = ["if fm or um:", "    o = []"]
        if len(codes) == 1:  # the common one-code group: no list needed
            code, mask, rules = codes[0]
            t_yes, t_maybe = self._tables(make, kind, code, rules)
            return [
                f"x = fm & {mask}",
                "if x:",
                f"    {out} = ({t_yes}[x],)",
                f"elif um & {mask}:",
                f"    {out} = ({t_maybe}[um & {mask}],)",
                "else:",
                f"    {out} = ()",
            ]
        yes, maybes = self._parts(kind, codes, make)
        lines += [*("    " + line for line in yes), "    if um:", *("        " + line for line in maybes)]
        lines += [f"    {out} = tuple(o)", "else:", f"    {out} = ()"]
        return lines

    def _parts(
        self, kind: str, codes: list[tuple[str, int, list[tuple[int, str]]]], make: Make
    ) -> tuple[list[str], list[str]]:
        """For a group of several codes: the statements (unindented) appending to ``o`` its certain
        findings, from ``fm`` alone, and those appending its uncertain ones, from ``um`` and ``fm``."""
        yes: list[str] = []
        maybes: list[str] = []
        for code, mask, rules in codes:
            t_yes, t_maybe = self._tables(make, kind, code, rules)
            yes += [f"x = fm & {mask}", "if x:", f"    o.append({t_yes}[x])"]
            if mask & (mask - 1):  # several rules conclude it: uncertain only when none of them fired
                maybes += [f"if not fm & {mask}:", f"    x = um & {mask}"]
                maybes += ["    if x:", f"        o.append({t_maybe}[x])"]
            else:
                maybes += [f"if um & {mask}:", f"    o.append({t_maybe}[{mask}])"]
        return yes, maybes

    def _tables(self, make: Make, kind: str, code: str, rules: list[tuple[int, str]]) -> tuple[str, str]:
        """The names of a code's two tables (certain, uncertain) in the generated code."""
        n = len(self.tables)
        self.tables += [self._table(make, kind, code, True, rules), self._table(make, kind, code, False, rules)]
        return f"t{n}", f"t{n + 1}"

    def held(self) -> int:
        """How many findings the tables hold (for ``Engine.memo_sizes``)."""
        return sum(len(t) for t in self.tables)

    def forget(self) -> None:
        """Empty every table and memo (the findings are made again on next need): when everything starts
        over."""
        for t in self.tables:
            t.clear()
        for m in self._memos:
            m.clear()
