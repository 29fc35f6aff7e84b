"""``eligibility diff``: what a rule change (or next year's line) would do to a real population.

Before a notice raising a province's monitoring line is applied, the bureau wants to know which
households it moves and why. This module answers with the columnar engine, not a second evaluator:

1. read the population with :func:`eligibility.batch.read_inputs` (the batch readers: JSON Lines,
   Parquet, CSV, Excel), every bad row becoming one error;
2. decide every row twice with :func:`eligibility.compile.polars.decide_table` — old rules and new rules
   on one date, or one rule set on two dates (``--as-of A --vs-as-of B``) — with ``rule_columns`` on,
   which is the columnar engine's trace: each rule's outcome and each derived fact's value per row;
3. keep the households whose decision differs (status, category, certain risks, exit status, or an
   error on one side) and, for each, the rules whose outcome flipped and, inside each such rule, the
   comparisons whose outcome flipped, with the value and the threshold on both sides. A comparison's
   outcome is computed by the engine's own leaf semantics (:class:`~eligibility.conditions.Leaf`) from
   the traced fact values and the parameter values of each side's chain on its date;
4. total the changes by status, category and village, with households and people entering and leaving
   monitoring.

Reports: Markdown (default), CSV (one row per changed household) and Excel (changes and totals).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import polars as pl

from ._safe import CONTROL
from .batch import read_inputs
from .compile.polars import decide_table
from .conditions import Leaf
from .coverage import walk_leaves
from .errors import MissingParameterError
from .expressions import UNKNOWN
from .io.tables import RowError
from .io.writers import STATUS_LABELS, neutralised
from .ruleset import Chain, RuleSet
from .testing import _SIGNS

_CONTROL: Final = re.compile(CONTROL)

__all__ = ["MONITORED", "Change", "Comparison", "Impact", "RuleFlip", "impact", "render_markdown", "write_report"]

MONITORED: Final = frozenset({"identified", "already_monitored"})
"""Statuses that mean the household is (or is to be) a monitoring object."""

_OUTCOME = {True: "fired", False: "not_fired", None: "unknown"}
_OUTCOME_ZH = {"fired": "成立", "not_fired": "不成立", "unknown": "未知", "not in force": "未生效"}
MOVEMENT: Final = {
    "enters": "新纳入 / enters",
    "leaves": "退出 / leaves",
    "changes": "变化 / changes",
    "undecidable": "一侧无法评估 / undecidable on one side",
}


@dataclass(frozen=True)
class Comparison:
    """One leaf of a flipped rule whose outcome differs between the two sides."""

    subject: str
    label: str
    op: str
    old_value: Any
    new_value: Any
    old_threshold: Any
    new_threshold: Any
    parameter: str | None
    old_outcome: str
    new_outcome: str

    def describe(self) -> str:
        """``家庭人均纯收入 9,900 ≥ 7,800 → 9,900 < 10,000（参数 monitoring_line）``: each side as it held."""
        param = f"（参数 / parameter {self.parameter}）" if self.parameter else ""
        old = f"{_fmt(self.old_value)} {_sign(self.op, self.old_outcome)} {_fmt(self.old_threshold)}"
        new = f"{_fmt(self.new_value)} {_sign(self.op, self.new_outcome)} {_fmt(self.new_threshold)}"
        return f"{self.label} {old} → {new}{param}"


def _sign(op: str, outcome: str) -> str:
    if outcome == "unknown" or op not in _SIGNS:
        return "?"
    return _SIGNS[op][0 if outcome == "true" else 1]


@dataclass(frozen=True)
class RuleFlip:
    """A rule whose outcome differs, with the comparisons inside it that flipped."""

    rule: str
    label: str
    old: str
    new: str
    comparisons: tuple[Comparison, ...]


@dataclass
class Change:
    """One household whose decision differs between the two sides."""

    row: int
    household_id: str | None
    village: str | None
    people: int
    old_status: str | None
    new_status: str | None
    old_category: str | None
    new_category: str | None
    old_error: str | None
    new_error: str | None
    rules: list[RuleFlip] = field(default_factory=list)

    @property
    def movement(self) -> str:
        """``enters`` / ``leaves`` monitoring, ``changes`` (within or outside it), or ``undecidable`` when
        one side could not decide the household (an error is neither entering nor leaving)."""
        if "error" in (self.old_status, self.new_status):
            return "undecidable"
        before, after = self.old_status in MONITORED, self.new_status in MONITORED
        return "enters" if after and not before else ("leaves" if before and not after else "changes")

    def causes(self) -> str:
        """The rules whose numbers moved, with each comparison that flipped; then the rules that only
        followed them (a rule referring to a flipped rule), by id."""
        parts = []
        for f in self.rules:
            if f.comparisons:
                detail = "；".join(c.describe() for c in f.comparisons)
                moved = f"{_OUTCOME_ZH.get(f.old, f.old)} → {_OUTCOME_ZH.get(f.new, f.new)}"
                parts.append(f"{f.label} [{f.rule}] {moved}：{detail}")
        follow = [f.rule for f in self.rules if not f.comparisons]
        if follow:
            parts.append("随之变化 / follow-on: " + ", ".join(follow))
        if self.old_error != self.new_error:
            parts.append(f"错误 / error: {self.old_error or '—'} → {self.new_error or '—'}")
        return " | ".join(parts)


@dataclass
class Impact:
    """Everything ``diff`` found: the changes, the totals, and the rows that could not be compared."""

    old_label: str
    new_label: str
    households: int
    changes: list[Change]
    read_errors: list[RowError]
    errors_both: list[tuple[int, str | None, str]]

    def totals(self, key: str) -> list[tuple[str, str, int, int]]:
        """(old, new, households, people) for ``key`` in status, category, movement, village."""
        counts: Counter[tuple[str, str]] = Counter()
        people: Counter[tuple[str, str]] = Counter()
        for c in self.changes:
            if key == "village":
                k = (c.village or "未知 / unknown", MOVEMENT[c.movement])
            elif key == "movement":
                k = (MOVEMENT[c.movement], "")
            else:
                k = (_label(key, getattr(c, f"old_{key}")), _label(key, getattr(c, f"new_{key}")))
            counts[k] += 1
            people[k] += c.people
        return [(a, b, n, people[(a, b)]) for (a, b), n in sorted(counts.items())]

    def entering(self) -> tuple[int, int]:
        got = [c for c in self.changes if c.movement == "enters"]
        return len(got), sum(c.people for c in got)

    def leaving(self) -> tuple[int, int]:
        got = [c for c in self.changes if c.movement == "leaves"]
        return len(got), sum(c.people for c in got)


def _label(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if key == "status":
        zh, en = STATUS_LABELS.get(v, (v, v))
        return f"{zh} / {en}"
    return str(v)


def _fmt(v: Any) -> str:
    if v is UNKNOWN or v is None:
        return "未知"
    if isinstance(v, Decimal):
        v = v.normalize()
        return f"{v:,.2f}" if v != v.to_integral_value() else f"{v:,.0f}"
    if isinstance(v, frozenset | list | tuple):
        return "、".join(map(str, sorted(v)))
    return str(v)


def _value(v: Any) -> Any:
    """A traced column value in the form the engine's leaf semantics compare (sets as frozensets)."""
    if v is None:
        return UNKNOWN
    if isinstance(v, list):
        return frozenset(v)
    return v


class _Side:
    """One side of the comparison: a rule set, a date and the decision table it produced."""

    def __init__(self, rules: RuleSet, on: date, frame: pl.DataFrame) -> None:
        self.rules = rules
        self.on = on
        self.table = decide_table(rules, frame.drop("as_of", strict=False), on, rule_columns=True)
        self.keys = self.table.select("_row", "household_id", *_KEY_COLUMNS).iter_rows(named=True)
        self._in_force: dict[str, frozenset[str]] = {}

    def rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The full rows (rule and fact columns included) of the given row numbers only."""
        part = self.table.filter(pl.col("_row").is_in(list(ids)))
        return {r["_row"]: r for r in part.iter_rows(named=True)}

    def chain(self, region: str | None) -> Chain | None:
        if region is None:
            return None
        return self.rules.chain(self.rules.pack_for_region(region))

    def outcome(self, chain: Chain | None, row: dict[str, Any], rid: str) -> str:
        if chain is None:
            return "not in force"
        ids = self._in_force.get(chain.pack.id)
        if ids is None:
            ids = self._in_force[chain.pack.id] = frozenset(r.id for r, _ in chain.in_force(self.on))
        if rid not in ids:
            return "not in force"
        return _OUTCOME[row.get(f"rule:{rid}")]

    def threshold(self, chain: Chain, name: str) -> Any:
        try:
            return chain.param_hit(name, self.on).value
        except MissingParameterError:
            return UNKNOWN


def _certain(findings: Any) -> list[str]:
    return sorted(f["code"] for f in findings or [] if f.get("certain"))


_KEY_COLUMNS: Final = ("status", "category", "risks", "exit_status", "error")
"""The decision columns compared: a household changes when one of these differs."""


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["status"], row["category"], _certain(row["risks"]), row["exit_status"], row["error"])


def _comparisons(
    leaf: Leaf,
    old: _Side,
    new: _Side,
    chains: tuple[Chain, Chain],
    rows: tuple[dict[str, Any], dict[str, Any]],
    inputs: dict[str, Any],
) -> Comparison | None:
    """The leaf on both sides; returned only when its outcome differs."""
    outcomes: list[str] = []
    values: list[Any] = []
    thresholds: list[Any] = []
    param = None
    for side, chain, row in zip((old, new), chains, rows, strict=True):
        actual = _value(row.get(f"fact:{leaf.subject}")) if leaf.ref == "fact" else _value(inputs.get(leaf.subject))
        expected: list[Any] = []
        for o in leaf.operands:
            if o.kind == "param":
                param = o.name
                expected.append(side.threshold(chain, o.name))
            elif o.kind == "literal":
                expected.append(o.value)
            else:
                expected.append(_value(row.get(f"fact:{o.name}") if o.kind == "fact" else inputs.get(o.name)))
        try:
            result = leaf._apply(actual, expected)
        except TypeError:
            return None
        outcomes.append("unknown" if result is UNKNOWN else ("true" if result else "false"))
        values.append(actual)
        thresholds.append(expected[0] if len(expected) == 1 else tuple(expected))
    if outcomes[0] == outcomes[1]:
        return None
    spec = chains[1].facts.get(leaf.subject)
    if spec is not None:
        label = spec.zh
    else:
        from .facts import CATALOGUE

        field_spec = CATALOGUE.get(leaf.subject)
        label = field_spec.zh if field_spec else leaf.subject
    return Comparison(
        leaf.subject,
        label,
        leaf.op,
        values[0],
        values[1],
        thresholds[0],
        thresholds[1],
        param,
        outcomes[0],
        outcomes[1],
    )


def impact(
    population: Sequence[str | Path],
    old_rules: RuleSet,
    new_rules: RuleSet,
    old_on: date,
    new_on: date | None = None,
    *,
    old_label: str = "old",
    new_label: str = "new",
) -> Impact:
    """Decide ``population`` on both sides and return every household whose decision differs.

    ``new_on`` defaults to ``old_on`` (a rule change on one date); give the same rule set twice with two
    dates for what changes when the next year's values take effect. Every row's date is the given
    date (a row's own assessment date is overridden, so the two sides differ only by what is compared).
    """
    new_on = new_on or old_on
    read = read_inputs(list(population))
    frame = read.frame
    old, new = _Side(old_rules, old_on, frame), _Side(new_rules, new_on, frame)
    changes: list[Change] = []
    both: list[tuple[int, str | None, str]] = []
    # Compare the few decision columns of every row first; only the rows that change are read whole.
    changed: list[int] = []
    for a, b in zip(old.keys, new.keys, strict=True):
        if a["error"] is not None and a["error"] == b["error"]:
            both.append((a["_row"], a["household_id"], a["error"]))
        elif _key(a) != _key(b):
            changed.append(a["_row"])
    old_rows, new_rows = old.rows(changed), new.rows(changed)
    inputs_by_row = {r["_row"]: r for r in frame.filter(pl.col("_row").is_in(changed)).iter_rows(named=True)}
    for row_id in changed:
        a, b = old_rows[row_id], new_rows[row_id]
        inputs = inputs_by_row.get(row_id, {})
        region = inputs.get("region")
        c = Change(
            row=row_id,
            household_id=a["household_id"],
            village=region[:12] if isinstance(region, str) else None,
            people=len(inputs.get("members") or []),
            old_status=a["status"] if a["error"] is None else "error",
            new_status=b["status"] if b["error"] is None else "error",
            old_category=a["category"],
            new_category=b["category"],
            old_error=a["error"],
            new_error=b["error"],
        )
        chains = (old.chain(region), new.chain(region))
        if chains[0] is not None and chains[1] is not None and a["error"] is None and b["error"] is None:
            c.rules = _flips(old, new, (chains[0], chains[1]), (a, b), inputs)
        changes.append(c)
    return Impact(old_label, new_label, frame.height, changes, read.errors, both)


def _flips(
    old: _Side,
    new: _Side,
    chains: tuple[Chain, Chain],
    rows: tuple[dict[str, Any], dict[str, Any]],
    inputs: dict[str, Any],
) -> list[RuleFlip]:
    """Rules whose outcome differs, in the new chain's dependency order; each with its flipped leaves.

    A rule that flipped only because a rule it refers to flipped is listed without comparisons: the
    comparisons are shown once, on the rule where the numbers moved."""
    out: list[RuleFlip] = []
    ids = list(dict.fromkeys([*chains[1].rule_order, *chains[0].rule_order]))
    for rid in ids:
        before, after = old.outcome(chains[0], rows[0], rid), new.outcome(chains[1], rows[1], rid)
        if before == after:
            continue
        rule = chains[1].rules.get(rid) or chains[0].rules[rid]
        version = rule.version_on(new.on) or rule.version_on(old.on)
        comparisons: list[Comparison] = []
        if version is not None:
            for leaf, _ in walk_leaves(version.when):
                got = _comparisons(leaf, old, new, chains, rows, inputs)
                if got is not None:
                    comparisons.append(got)
        out.append(RuleFlip(rid, rule.zh, before, after, tuple(comparisons)))
    return out


# ----------------------------------------------------------------------------------------- reports


def _md_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table; a household's text (an id, a village) cannot end its row or start another:
    line breaks and other control characters become spaces, ``|`` is escaped (issue 13 §5)."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_CONTROL.sub(" ", str(x)).replace("|", "\\|") for x in r) + " |" for r in rows]
    return out


def render_markdown(imp: Impact) -> str:
    """The report as Markdown: headline counts, totals, then every changed household with its causes."""
    n_in, p_in = imp.entering()
    n_out, p_out = imp.leaving()
    lines = [
        f"# 规则变更影响 / Impact of a rule change: {imp.old_label} → {imp.new_label}",
        "",
        f"评估 {imp.households} 户，结论变化 {len(imp.changes)} 户；新纳入监测 {n_in} 户 {p_in} 人，"
        f"退出监测 {n_out} 户 {p_out} 人；读取错误 {len(imp.read_errors)} 条，"
        f"两侧均无法评估 {len(imp.errors_both)} 户。",
        "",
        f"{imp.households} households decided, {len(imp.changes)} change; entering monitoring {n_in} households "
        f"({p_in} people), leaving {n_out} ({p_out} people); {len(imp.read_errors)} read errors, "
        f"{len(imp.errors_both)} households undecidable on both sides.",
        "",
    ]
    head = ("之前 / before", "之后 / after", "户数 / households", "人数 / people")
    lines += ["## 按认定结论 / By status", "", *_md_table(head, imp.totals("status")), ""]
    lines += ["## 按类别 / By category", "", *_md_table(head, imp.totals("category")), ""]
    lines += [
        "## 按村 / By village",
        "",
        *_md_table(("村 / village", "变化 / movement", "户数 / households", "人数 / people"), imp.totals("village")),
        "",
    ]
    lines += ["## 变化的农户 / Households that change", ""]
    lines += _md_table(
        (
            "户编号 / household",
            "村 / village",
            "人数 / people",
            "变化 / movement",
            "认定 / status",
            "类别 / category",
            "原因 / causes",
        ),
        [
            (
                c.household_id or f"#{c.row}",
                c.village or "—",
                c.people,
                MOVEMENT[c.movement],
                f"{c.old_status} → {c.new_status}",
                f"{c.old_category or '—'} → {c.new_category or '—'}",
                c.causes(),
            )
            for c in imp.changes
        ],
    )
    if imp.read_errors or imp.errors_both:
        lines += ["", "## 无法比较的记录 / Records that could not be compared", ""]
        lines += [f"- {_CONTROL.sub(' ', str(e))}" for e in imp.read_errors]
        lines += [f"- #{row} {_CONTROL.sub(' ', hid or '')}: {msg}" for row, hid, msg in imp.errors_both]
    return "\n".join(lines) + "\n"


def changes_frame(imp: Impact) -> pl.DataFrame:
    """One row per changed household, Chinese headers with English beside."""
    return pl.DataFrame(
        {
            "户编号 / household": [c.household_id for c in imp.changes],
            "村 / village": [c.village for c in imp.changes],
            "人数 / people": [c.people for c in imp.changes],
            "变化 / movement": [MOVEMENT[c.movement] for c in imp.changes],
            "原认定 / old status": [c.old_status for c in imp.changes],
            "新认定 / new status": [c.new_status for c in imp.changes],
            "原类别 / old category": [c.old_category for c in imp.changes],
            "新类别 / new category": [c.new_category for c in imp.changes],
            "原因 / causes": [c.causes() for c in imp.changes],
        },
        schema_overrides={"人数 / people": pl.Int64},
    )


def totals_frame(imp: Impact) -> pl.DataFrame:
    rows = [(key, *t) for key in ("status", "category", "village", "movement") for t in imp.totals(key)]
    return pl.DataFrame(
        rows,
        schema={
            "分组 / by": pl.String,
            "之前 / before": pl.String,
            "之后 / after": pl.String,
            "户数 / households": pl.Int64,
            "人数 / people": pl.Int64,
        },
        orient="row",
    )


def write_report(imp: Impact, path: str | Path) -> None:
    """Write the report: ``.md`` Markdown, ``.csv`` the changed households (UTF-8 with BOM), ``.xlsx``
    a workbook with the changes and the totals."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".md":
        p.write_text(render_markdown(imp), encoding="utf-8")
    elif suffix == ".csv":  # cells a spreadsheet cannot run, nor split into rows (issue 13 §5)
        neutralised(changes_frame(imp)).write_csv(p, include_bom=True)
    elif suffix == ".xlsx":
        import xlsxwriter  # type: ignore[import-untyped]  # the extra eligibility[excel]

        with xlsxwriter.Workbook(str(p)) as wb:
            neutralised(changes_frame(imp)).write_excel(wb, worksheet="变化户 changes", autofit=True)
            neutralised(totals_frame(imp)).write_excel(wb, worksheet="汇总 totals", autofit=True)
    else:
        raise ValueError(f"不支持的格式 / unsupported report format {suffix!r} (md, csv, xlsx)")
