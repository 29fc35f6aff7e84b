"""Which rules and thresholds the YAML rule tests exercise (``eligibility test --coverage``).

A rule is only as trustworthy as the cases that pin it down. Running every YAML case with the full
trace, we record for each rule *version* whether some case makes it fire, makes it not fire and leaves
it unknown, and for each *threshold* — every comparison of a fact with a parameter — on which side of
the parameter's value the cases' actual values fall (below, on, above). A threshold whose cases sit
only below it cannot catch a ``lt`` written as ``le``: that is the gap this report shows.

The outcomes come from the engine's own full trace (the same one ``explain`` shows); nothing here
evaluates a condition. The trace's condition tree has the shape of the rule version's condition tree,
so the two are walked side by side to tie each traced leaf to its place in the rule file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .conditions import AtLeast, Cond, Group, Leaf, Negation
from .decision import ConditionTrace, Trace
from .errors import Diagnostic, EligibilityError, SourceLocation
from .loader import load_rules
from .ruleset import INHERIT, RuleSet, RuleVersion
from .testing import Case, collect, engine_for, find_test_files, run_case

__all__ = ["ORDERED", "CaseResult", "Coverage", "RuleCoverage", "ThresholdCoverage", "measure", "walk_leaves"]

ORDERED = ("lt", "le", "gt", "ge")
"""Comparisons with an order, whose thresholds need cases below, on and above the value."""


@dataclass
class CaseResult:
    """One YAML case run: its failures, and the rule outcomes of its full trace."""

    case: Case
    failures: list[str]
    outcomes: dict[tuple[str, date], str] = field(default_factory=dict)


@dataclass
class RuleCoverage:
    """One rule version: the outcomes the cases gave it, and which cases."""

    rule: str
    version_from: date
    version_until: date | None
    pack: str
    outcomes: dict[str, list[str]] = field(default_factory=lambda: {"fired": [], "not_fired": [], "unknown": []})

    @property
    def complete(self) -> bool:
        """Fired and not fired each at least once (unknown is reported but not required)."""
        return bool(self.outcomes["fired"]) and bool(self.outcomes["not_fired"])


@dataclass
class ThresholdCoverage:
    """One comparison of a fact with a parameter inside a rule version."""

    rule: str
    version_from: date
    loc: SourceLocation
    subject: str
    op: str
    param: str
    sides: dict[str, list[str]] = field(default_factory=dict)
    valued: bool = True
    """False when no pack gives the parameter a value while this version is in force (e.g. the 2026 认定标准, the
    低保 multiple): no test can sit beside a number nobody has published, so the threshold is listed apart and
    left out of the percentage until a pack sets it (its overlay tests cover it there)."""

    @property
    def wanted(self) -> tuple[str, ...]:
        return ("below", "on", "above") if self.op in ORDERED else ("true", "false")

    @property
    def complete(self) -> bool:
        return all(self.sides.get(s) for s in self.wanted)


@dataclass
class Coverage:
    """Every case result, every rule version and every threshold of a rules folder."""

    cases: list[CaseResult]
    rules: dict[tuple[str, date], RuleCoverage]
    thresholds: dict[tuple[str, date, SourceLocation], ThresholdCoverage]
    diagnostics: list[Diagnostic]

    def percent(self) -> tuple[float, float]:
        """(rule versions complete, thresholds complete), each in percent (100 when there are none)."""

        def pct(items: list[bool]) -> float:
            return 100.0 * sum(items) / len(items) if items else 100.0

        valued = [t.complete for t in self.thresholds.values() if t.valued]
        return pct([r.complete for r in self.rules.values()]), pct(valued)

    def cases_of(self, rule: str) -> list[tuple[CaseResult, str]]:
        """The cases in which ``rule`` was in force, with its outcome in each."""
        return [(c, o) for c in self.cases for (rid, _), o in c.outcomes.items() if rid == rule]


def walk_leaves(cond: Cond, trace: ConditionTrace | None = None) -> Iterator[tuple[Leaf, ConditionTrace | None]]:
    """Every leaf of a condition tree, with its traced node when ``trace`` is the matching trace tree."""
    if isinstance(cond, Leaf):
        yield cond, trace
        return
    kids: tuple[Cond, ...] = ()
    if isinstance(cond, Group | AtLeast):
        kids = cond.items
    elif isinstance(cond, Negation):
        kids = (cond.item,)
    traced = trace.children if trace is not None and len(trace.children) == len(kids) else None
    for i, k in enumerate(kids):
        yield from walk_leaves(k, traced[i] if traced is not None else None)


def _comparable(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float | str):
        try:
            return Decimal(str(v))
        except InvalidOperation:
            return v
    return v


def _side(actual: Any, expected: Any) -> str | None:
    a, e = _comparable(actual), _comparable(expected)
    try:
        return "below" if a < e else ("above" if a > e else "on")
    except TypeError:
        return None


def _thresholds(rules: RuleSet) -> dict[tuple[str, date, SourceLocation], ThresholdCoverage]:
    out: dict[tuple[str, date, SourceLocation], ThresholdCoverage] = {}
    for pack in rules.packs.values():
        chain = rules.chain(pack.id)
        for r in pack.rules.values():
            for v in r.versions:
                for leaf, _ in walk_leaves(v.when):
                    for o in leaf.operands:
                        if o.kind == "param":
                            key = (r.id, v.start, leaf.loc)
                            # Also unvalued when the rule is skipped everywhere for an optional parameter
                            # nobody sets (e.g. the near-line warning's band): no case can reach the leaf.
                            needed = {o.name} | {
                                n for n in chain.version_params(v) if n in chain.params and chain.params[n].optional
                            }
                            out[key] = ThresholdCoverage(
                                r.id,
                                v.start,
                                leaf.loc,
                                leaf.subject,
                                leaf.op,
                                o.name,
                                valued=all(_valued(rules, n, v.start, v.until) for n in needed),
                            )
    return out


def _valued(rules: RuleSet, name: str, start: date, until: date | None) -> bool:
    """Whether some pack gives ``name`` a value on some day of ``[start, until)``."""
    for pack in rules.packs.values():
        values = sorted(pack.values.get(name, ()), key=lambda v: v.start)
        for i, v in enumerate(values):
            end = values[i + 1].start if i + 1 < len(values) else None
            overlaps = (until is None or v.start < until) and (end is None or end > start)
            if overlaps and v.value is not None and v.value is not INHERIT:
                return True
    return False


def measure(path: str | Path) -> Coverage:
    """Run every YAML case under ``path`` (a rules folder or one test file) and record what it covers."""
    from .loader import find_root

    p = Path(path)
    rules = load_rules(find_root(p))
    versions: dict[tuple[str, date], tuple[str, RuleVersion]] = {}
    cov_rules: dict[tuple[str, date], RuleCoverage] = {}
    for pack in rules.packs.values():
        for r in pack.rules.values():
            for v in r.versions:
                versions[(r.id, v.start)] = (pack.id, v)
                cov_rules[(r.id, v.start)] = RuleCoverage(r.id, v.start, v.until, pack.id)
    thresholds = _thresholds(rules)
    results: list[CaseResult] = []
    diags: list[Diagnostic] = []
    for f in find_test_files(p):
        cases, bad = collect(f)
        diags += bad
        if bad:
            continue
        engine = engine_for(f)
        for case in cases:
            res = CaseResult(case, run_case(engine, case))
            results.append(res)
            try:
                d = engine.evaluate(case.household, case.as_of, trace="full")
            except EligibilityError:
                continue
            assert isinstance(d.trace, Trace)
            for rt in d.trace.rules:
                key = (rt.id, rt.version_from)
                res.outcomes[key] = rt.outcome
                if key in cov_rules:
                    cov_rules[key].outcomes[rt.outcome].append(case.where)
                got = versions.get(key)
                if got is None:
                    continue
                for leaf, node in walk_leaves(got[1].when, rt.condition):
                    t = thresholds.get((rt.id, rt.version_from, leaf.loc))
                    if t is None or node is None or node.outcome == "unknown":
                        continue
                    side = _side(node.actual, node.expected) if leaf.op in ORDERED else node.outcome
                    if side is not None:
                        t.sides.setdefault(side, []).append(case.where)
    return Coverage(results, cov_rules, thresholds, diags)


def render_table(cov: Coverage) -> str:
    """The coverage report as plain text: one line per rule version, then one per threshold."""
    mark = {True: "✓", False: "✗"}
    lines = ["规则版本覆盖 / rule versions: fired · not fired · unknown"]
    for r in sorted(cov.rules.values(), key=lambda r: (r.rule, r.version_from)):
        n = {k: len(v) for k, v in r.outcomes.items()}
        lines.append(
            f"  {mark[r.complete]} {r.rule} [{r.version_from}, {r.version_until or '…'}) ({r.pack}): "
            f"{n['fired']} · {n['not_fired']} · {n['unknown']}"
        )
    lines.append("阈值覆盖 / thresholds: below · on · above (or true · false)")
    for t in sorted(cov.thresholds.values(), key=lambda t: (t.rule, t.version_from, t.loc)):
        counts = " · ".join(str(len(t.sides.get(s, []))) for s in t.wanted)
        if not t.valued:
            lines.append(
                f"  ○ {t.rule} {t.subject} {t.op} param.{t.param} ({t.loc}): {counts}  "
                "无取值（任何规则包在此期间都未设定该参数，不计入百分比）/ no pack sets it in this window (not counted)"
            )
            continue
        lines.append(
            f"  {mark[t.complete]} {t.rule} {t.subject} {t.op} param.{t.param} ({t.loc}): {counts}"
            + ("" if t.complete else "  缺 / missing: " + ", ".join(s for s in t.wanted if not t.sides.get(s)))
        )
    rp, tp = cov.percent()
    lines.append(
        f"规则版本 {rp:.1f}%，阈值 {tp:.1f}% 覆盖完整 / rule versions {rp:.1f}%, thresholds {tp:.1f}% fully covered"
    )
    return "\n".join(lines)
