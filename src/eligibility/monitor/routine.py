"""The monthly routine (榆林's "六个一", seed:YULIN): batch, store, compare with last month, write the lists.

``eligibility monitor run IN --as-of DATE --db URL`` reads the county's tables and decides them through the
batch path (:func:`eligibility.batch.read_inputs`, :func:`eligibility.compile.polars.decide_table`), stores
the run (:mod:`eligibility.store`, one transaction) and compares it with the previous run of the same
jurisdiction. Its files, Chinese headers first (Excel or CSV through the batch writers, and JSON):

* 一月一提示 — who to visit this month and why, per town and village (:data:`VISIT_REASONS`);
* 一月一分析 — the batch summary by region with the change since last month;
* 一季一预警 — the quarter's focus list: households flagged (warnings, overdue procedure, unresolved
  review) in the quarter's runs, with the number of months flagged;
* 一周一抽查 — a seeded, reproducible random sample of the monitored households, stratified by village;
* 变化清单 — the change lists (new risk leads, newly identified, eliminated, re-entered, category and risk
  changes, exit gates that opened, newly overdue procedure findings, warnings), each with reason and rule.

Nothing here decides a household: every conclusion comes from the decision table, and every reason is a
label of the rules' vocabulary with the ids of the rules that drew it.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final, TextIO

import polars as pl

from ..batch import configuration_gaps, read_inputs
from ..compile.polars import decide_table
from ..io.summary import LEVELS, summarise
from ..io.tables import RowError
from ..io.writers import DECISION_SCHEMA, STATUS_LABELS, write_errors
from ..ruleset import RuleSet
from ..store import HouseholdRow, IdentityKey, RunInfo, Store, _now

__all__ = [
    "CHANGE_KINDS",
    "HISTORY_MONTHS",
    "VISIT_REASONS",
    "MonthlyResult",
    "history_block",
    "run_monthly",
    "stratified_sample",
    "with_history",
]

MONITORED: Final = "监测中"
ELIMINATED: Final = "风险已消除"

CHANGE_KINDS: Final[dict[str, str]] = {
    "new_risk": "新增风险线索",
    "newly_identified": "新识别监测对象",
    "eliminated": "风险消除",
    "re_entered": "消除后再次出现风险",
    "category_changed": "监测类别变化",
    "risk_changed": "风险类型变化",
    "exit_opened": "本月可标注风险消除",
    "newly_overdue": "本月新增程序逾期",
    "warning": "预警",
}
"""Change-list code → Chinese name (the order of the lists)."""

VISIT_REASONS: Final[dict[str, str]] = {
    "identify": "新识别：入户核实、农户授权承诺",
    "review": "需研判：入户核查、补齐数据",
    "exit": "可标注风险消除：入户核实",
    "visit_due": "本月应入户走访",
    "overdue": "程序逾期：督办",
    "gap": "帮扶缺口：落实帮扶措施",
    "warning": "预警：入户核查",
    "lead": "部门大数据预警：入户核实",
}
"""Why a household is on the month's visit list (docs/monitoring.md §3 gives the source of each)."""

HISTORY_MONTHS: Final = 36
"""How far back ``monitor run`` fills a household's ``history.assessments`` from the store: three years of
runs, enough for every history fact of the packs (the assessment two years before needs 24 months)."""

_DECISION_COLUMNS: Final = [c for c in DECISION_SCHEMA if c not in ("_row", "household_id", "error")]
_STATE_COLUMNS: Final = [
    "jurisdiction",
    "status",
    "category",
    "risks",
    "reviews",
    "blocking",
    "gaps",
    "exit_status",
    "exit_blockers",
    "exit_method",
    "procedure",
    "warnings",
]
"""The decision columns the comparison, the visit list and the focus flags read (``_Household.decision``)."""


@dataclass
class MonthlyResult:
    """What one monthly run did."""

    run_id: int
    jurisdiction: str
    as_of: date
    previous: RunInfo | None
    rows: int
    decided: int
    errors: int
    changes: list[dict[str, Any]]
    visits: list[dict[str, Any]]
    focus: list[dict[str, Any]]
    sample: list[dict[str, Any]]
    analysis: pl.DataFrame
    files: list[Path]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    gaps: list[tuple[str, str, int]] = field(default_factory=list)
    """配置缺口 (jurisdiction, parameter, households): decided with what needs the parameter undecided."""


# ------------------------------------------------------------------------------------------- helpers


def _jurisdiction(regions: Sequence[str]) -> str:
    """The longest region level (12, 9, 6, 4, 2 digits) that all households share, else 全国."""
    for n in sorted(set(LEVELS.values()), reverse=True):
        prefixes = {r[:n] for r in regions if r}
        if len(prefixes) == 1 and all(len(r) >= n for r in regions):
            return prefixes.pop()
    return "全国"


def _lines(frame: pl.DataFrame) -> list[str]:
    if frame.height == 0:
        return []
    return frame.write_ndjson().splitlines()


def _digest_lines(lines: Sequence[str]) -> list[bytes]:
    return [hashlib.blake2b(line.encode(), digest_size=16).digest() for line in lines]


def _file_digest(paths: Sequence[str | Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def _labels(rules: RuleSet, kind: str, items: Sequence[dict[str, Any]] | None) -> tuple[str, list[str]]:
    """The items' Chinese labels joined, and the rules that drew them."""
    if not items:
        return "", []
    labels, rule_ids = [], []
    for it in items:
        text = rules.vocab(kind, it["code"]).zh
        if kind == "finding" and it.get("due"):
            text += f"（应于 {it['due']}，逾期 {it.get('days_late') or 0} 天）"
        labels.append(text)
        rule_ids += [r for r in it.get("rules") or [] if r not in rule_ids]
    return "；".join(labels), rule_ids


def _certain(items: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [i for i in items or [] if i.get("certain")]


def _codes(items: Sequence[dict[str, Any]] | None) -> set[str]:
    return {i["code"] for i in items or []}


def _overdue(items: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [i for i in items or [] if (i.get("days_late") or 0) > 0]


def _state(bodies: Sequence[str | None]) -> list[dict[str, Any] | None]:
    """Compact decision JSON → dicts, each distinct text parsed once (many households share one). The dicts
    are shared between those households: read them, never change them."""
    cache: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any] | None] = []
    for b in bodies:
        if b is None:
            out.append(None)
            continue
        d = cache.get(b)
        if d is None:
            d = cache[b] = json.loads(b)
        out.append(d)
    return out


def stratified_sample(households: Sequence[tuple[str, str]], size: int, seed: str | int) -> list[tuple[str, str]]:
    """A reproducible sample of ``size`` (village, household_id) pairs, stratified by village.

    Each village gets its proportional share (largest remainders first, ties by village code), so every
    village with households is represented once ``size`` reaches the number of villages; within a village
    the households are drawn by ``random.Random(f"{seed}|{village}")`` from the id-sorted list, so the same
    seed, month and population always give the same sample, whatever the input order.
    """
    by_village: dict[str, list[str]] = {}
    for village, hid in households:
        by_village.setdefault(village, []).append(hid)
    total = sum(len(v) for v in by_village.values())
    size = min(size, total)
    if size <= 0:
        return []
    quotas = {v: size * len(ids) / total for v, ids in by_village.items()}
    alloc = {v: int(q) for v, q in quotas.items()}
    rest = size - sum(alloc.values())
    for v in sorted(quotas, key=lambda v: (-(quotas[v] - alloc[v]), v))[:rest]:
        alloc[v] += 1
    out: list[tuple[str, str]] = []
    for village in sorted(by_village):
        ids = sorted(by_village[village])
        rng = random.Random(f"{seed}|{village}")
        out += [(village, hid) for hid in sorted(rng.sample(ids, alloc[village]))]
    return out


# ------------------------------------------------------------------------------------------- comparison


@dataclass
class _Household:
    household_id: str
    region: str | None
    monitoring_status: str | None
    decision: dict[str, Any] | None


def _change(h: _Household, kind: str, reason: str, rule_ids: Sequence[str], before: str, after: str) -> dict[str, Any]:
    region = h.region or ""
    return {
        "change": kind,
        "变化": CHANGE_KINDS[kind],
        "household_id": h.household_id,
        "town": region[:9],
        "village": region[:12],
        "reason": reason,
        "rules": list(rule_ids),
        "before": before,
        "after": after,
    }


@functools.cache
def _category_rules_of(rules: RuleSet, pack: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule in rules.chain(pack).rules.values():
        for kind, code in rule.conclusions:
            if kind == "category":
                out.setdefault(code, []).append(rule.id)
    return out


def _category_rules(rules: RuleSet, pack: str | None, category: str | None) -> list[str]:
    """The rules of the household's pack chain that conclude its category (the decision table does not
    say which of them fired; these are the candidates a reader checks)."""
    if not pack or not category:
        return []
    return list(_category_rules_of(rules, pack).get(category, []))


def _status_text(d: dict[str, Any] | None) -> str:
    return "" if d is None else STATUS_LABELS.get(d["status"], (d["status"], ""))[0]


def compare(
    rules: RuleSet, now: Sequence[_Household], before: dict[str, _Household], leads: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The change lists of this month against the previous run (see :data:`CHANGE_KINDS`)."""
    out: list[dict[str, Any]] = []
    for h in now:
        d = h.decision
        if d is None:
            continue
        p = before.get(h.household_id)
        pd_ = p.decision if p is not None else None
        risks_now, risks_before = _codes(d["risks"]), _codes(pd_["risks"] if pd_ else [])
        new_risks = [r for r in d["risks"] if r["code"] in risks_now - risks_before]
        if new_risks:
            text, rule_ids = _labels(rules, "risk", new_risks)
            out.append(_change(h, "new_risk", text, rule_ids, "", text))
        if d["status"] == "identified" and (pd_ is None or pd_["status"] != "identified"):
            cat = rules.vocab("category", d["category"]).zh if d["category"] else ""
            text, rule_ids = _labels(rules, "risk", d["risks"])
            rule_ids = _category_rules(rules, d["jurisdiction"], d["category"]) + rule_ids
            reason = "；".join(x for x in (cat, text) if x)
            out.append(_change(h, "newly_identified", reason, rule_ids, _status_text(pd_), _status_text(d)))
        if p is not None and p.monitoring_status == MONITORED and h.monitoring_status == ELIMINATED:
            method = rules.vocab("exit_method", d["exit_method"]).zh if d.get("exit_method") else ""
            out.append(
                _change(
                    h,
                    "eliminated",
                    f"已标注风险消除{('（' + method + '）') if method else ''}",
                    [],
                    MONITORED,
                    ELIMINATED,
                )
            )
        if (
            p is not None
            and p.monitoring_status == ELIMINATED
            and (h.monitoring_status == MONITORED or d["status"] == "identified")
        ):
            text, rule_ids = _labels(rules, "risk", d["risks"])
            out.append(_change(h, "re_entered", text, rule_ids, ELIMINATED, h.monitoring_status or _status_text(d)))
        if pd_ is not None:
            if d["category"] and pd_["category"] and d["category"] != pd_["category"]:
                a, b = rules.vocab("category", pd_["category"]).zh, rules.vocab("category", d["category"]).zh
                out.append(_change(h, "category_changed", f"{a} → {b}", [], a, b))
            if risks_before and risks_now != risks_before:
                a = "；".join(rules.vocab("risk", c).zh for c in sorted(risks_before))
                b, rule_ids = _labels(rules, "risk", d["risks"])
                out.append(_change(h, "risk_changed", f"{a} → {b}", rule_ids, a, b))
            if d["exit_status"] == "eligible" and pd_["exit_status"] != "eligible":
                text, rule_ids = _labels(rules, "exit_blocker", pd_["exit_blockers"])
                out.append(
                    _change(
                        h,
                        "exit_opened",
                        f"上月不能消除的原因已解除：{text}" if text else "风险消除条件已满足",
                        rule_ids,
                        text,
                        "可标注风险消除",
                    )
                )
        was_late = _codes(_overdue(pd_["procedure"] if pd_ else []))
        late = [i for i in _overdue(d["procedure"]) if i["code"] not in was_late]
        if late:
            text, rule_ids = _labels(rules, "finding", late)
            out.append(_change(h, "newly_overdue", text, rule_ids, "", text))
        warned = _certain(d["warnings"])
        if warned:
            before_codes = _codes(_certain(pd_["warnings"] if pd_ else []))
            text, rule_ids = _labels(rules, "warning", warned)
            new = "新" if _codes(warned) - before_codes else "持续"
            out.append(_change(h, "warning", text, rule_ids, "", f"{new}：{text}"))
    for lead in leads:
        h = _Household(lead["household_id"], lead.get("region"), None, None)
        out.append(_change(h, "new_risk", lead["reason"], [lead["rule"]], "", lead["channel"]))
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    out.sort(key=lambda c: (order[c["change"]], c["village"], c["household_id"]))
    return out


def visits(rules: RuleSet, now: Sequence[_Household], leads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """一月一提示: every household whose state this month requires a visit, with each reason and its rules."""
    reasons: dict[str, tuple[_Household, list[tuple[str, str, list[str]]]]] = {}

    def add(h: _Household, why: str, detail: str, rule_ids: Sequence[str]) -> None:
        reasons.setdefault(h.household_id, (h, []))[1].append((why, detail, list(rule_ids)))

    for h in now:
        d = h.decision
        if d is None:
            continue
        if d["status"] == "identified" and h.monitoring_status != MONITORED:
            text, rule_ids = _labels(rules, "risk", d["risks"])
            add(h, "identify", text, rule_ids)
        if d["status"] == "needs_review":
            text, rule_ids = _labels(rules, "review", d["reviews"])
            missing = "、".join(m["name"] for m in d["blocking"] or [])
            add(h, "review", "；".join(x for x in (text, f"缺少：{missing}" if missing else "") if x), rule_ids)
        if d["exit_status"] == "eligible":
            add(h, "exit", "风险消除条件已满足", [])
        due = [i for i in _certain(d["procedure"]) if i["code"] == "visit_missing"]
        if due:
            text, rule_ids = _labels(rules, "finding", due)
            add(h, "visit_due", text, rule_ids)
        late = [i for i in _overdue(d["procedure"]) if i["code"] != "visit_missing"]
        if late:
            text, rule_ids = _labels(rules, "finding", late)
            add(h, "overdue", text, rule_ids)
        gaps = _certain(d["gaps"])
        if gaps:
            text, rule_ids = _labels(rules, "gap", gaps)
            add(h, "gap", text, rule_ids)
        warned = _certain(d["warnings"])
        if warned:
            text, rule_ids = _labels(rules, "warning", warned)
            add(h, "warning", text, rule_ids)
    by_id = {h.household_id: h for h in now}
    for lead in leads:
        h = by_id.get(lead["household_id"]) or _Household(lead["household_id"], lead.get("region"), None, None)
        add(h, "lead", f"{lead['reason']}，须于 {lead['verify_by']} 前核实", [lead["rule"]])
    out = []
    for hid, (h, items) in reasons.items():
        region = h.region or ""
        out.append(
            {
                "town": region[:9],
                "village": region[:12],
                "household_id": hid,
                # The model has no field for the 帮扶责任人 yet: the column is there for the village to fill.
                "responsible": "",
                "reasons": [why for why, _, _ in items],
                "reason": "；".join(
                    f"{VISIT_REASONS[why]}（{detail}）" if detail else VISIT_REASONS[why] for why, detail, _ in items
                ),
                "rules": sorted({r for _, _, rs in items for r in rs}),
            }
        )
    out.sort(key=lambda v: (v["village"], v["household_id"]))
    return out


def _flags(now: Sequence[_Household]) -> list[list[str]]:
    """This month's focus flags [household_id, village, kind, code, rules] (stored; the quarter sums them)."""
    flags: list[list[str]] = []
    for h in now:
        d = h.decision
        if d is None:
            continue
        village = (h.region or "")[:12]
        for w in _certain(d["warnings"]):
            flags.append([h.household_id, village, "warning", w["code"], ",".join(w["rules"] or [])])
        for f in _overdue(d["procedure"]):
            flags.append([h.household_id, village, "finding", f["code"], ",".join(f["rules"] or [])])
        if d["status"] == "needs_review":
            for r in d["reviews"] or []:
                flags.append([h.household_id, village, "review", r["code"], ",".join(r["rules"] or [])])
    return flags


def _quarter_start(on: date) -> date:
    return date(on.year, 3 * ((on.month - 1) // 3) + 1, 1)


def focus_list(rules: RuleSet, runs: Sequence[tuple[date, list[list[str]]]]) -> list[dict[str, Any]]:
    """一季一预警: households flagged in the quarter's runs, with the months flagged and why."""
    acc: dict[tuple[str, str, str], dict[str, Any]] = {}
    for on, flags in runs:
        for hid, village, kind, code, rule_ids in flags:
            item = acc.setdefault(
                (hid, kind, code),
                {
                    "household_id": hid,
                    "village": village,
                    "kind": kind,
                    "code": code,
                    "label": rules.vocab(kind, code).zh,
                    "months": set(),
                    "rules": set(),
                },
            )
            item["months"].add(on.isoformat())
            item["rules"].update(r for r in rule_ids.split(",") if r)
    out = [
        {**v, "months": sorted(v["months"]), "rules": sorted(v["rules"]), "n_months": len(v["months"])}
        for v in acc.values()
    ]
    out.sort(key=lambda v: (-v["n_months"], v["village"], v["household_id"], v["kind"], v["code"]))
    return out


def _analysis(summary: pl.DataFrame, prev_rows: list[list[Any]]) -> pl.DataFrame:
    """The batch summary with last month's counts beside it."""
    keys = ["region", "indicator", "code"]
    if prev_rows:
        prev = pl.DataFrame(prev_rows, schema=summary.schema, orient="row").select(
            *keys, pl.col("households").alias("prev_households"), pl.col("people").alias("prev_people")
        )
    else:
        prev = pl.DataFrame(
            schema={**{k: pl.String for k in keys}, "prev_households": pl.Int64, "prev_people": pl.Int64}
        )
    return summary.join(prev, on=keys, how="left", nulls_equal=True).with_columns(
        (pl.col("households") - pl.col("prev_households").fill_null(0)).alias("change_households"),
        (pl.col("people") - pl.col("prev_people").fill_null(0)).alias("change_people"),
    )


# ------------------------------------------------------------------------------------------- files

_HEADERS: Final[dict[str, dict[str, str]]] = {
    "visits": {
        "town": "乡镇",
        "village": "村",
        "household_id": "户编号",
        "responsible": "帮扶责任人",
        "reason": "走访原因",
        "rules": "依据规则",
    },
    "changes": {
        "变化": "变化",
        "town": "乡镇",
        "village": "村",
        "household_id": "户编号",
        "reason": "原因",
        "rules": "依据规则",
        "before": "上月",
        "after": "本月",
    },
    "focus": {
        "village": "村",
        "household_id": "户编号",
        "label": "重点事项",
        "n_months": "本季出现月数",
        "months": "出现月份",
        "rules": "依据规则",
    },
    "sample": {"village": "村", "household_id": "户编号"},
    "analysis": {
        "region": "区划代码",
        "indicator": "指标",
        "code": "代码",
        "item": "项目",
        "households": "户数",
        "people": "人数",
        "prev_households": "上月户数",
        "change_households": "户数变化",
        "prev_people": "上月人数",
        "change_people": "人数变化",
    },
}


def _table(records: Sequence[dict[str, Any]], headers: dict[str, str]) -> pl.DataFrame:
    cols = {
        zh: [("、".join(r[k]) if isinstance(r.get(k), list) else r.get(k)) for r in records]
        for k, zh in headers.items()
    }
    return pl.DataFrame(
        cols, schema={zh: pl.String if k not in ("n_months",) else pl.Int64 for k, zh in headers.items()}
    )


AUTOFIT_ROWS: Final = 5_000
"""Excel columns are sized to their content up to this many rows (autofit measures every cell in Python)."""


def _write(frame: pl.DataFrame, path: Path, sheet: str) -> Path:
    if path.suffix == ".csv":
        frame.write_csv(path, include_bom=True)  # a BOM, so that Excel and WPS read UTF-8 (docs/batch.md §5)
    else:
        frame.write_excel(
            path,
            worksheet=sheet,
            autofit=frame.height <= AUTOFIT_ROWS,
            header_format={"bold": True},
            freeze_panes=(1, 0),
        )
    return path


# ------------------------------------------------------------------------------------------- the routine


def run_monthly(
    paths: Sequence[str | Path],
    *,
    as_of: date,
    store: Store,
    rules: RuleSet,
    key: IdentityKey,
    out_dir: str | Path,
    jurisdiction: str | None = None,
    level: str = "town",
    sample_size: int = 20,
    seed: str | int | None = None,
    fmt: str = "xlsx",
    store_plain_ids: bool = False,
    history_months: int = HISTORY_MONTHS,
    chunk_rows: int = 100_000,
    after_batch: Callable[[int], None] | None = None,
    log: TextIO | None = None,
) -> MonthlyResult:
    """Decide, store and compare one month (module docstring); write the routine's files to ``out_dir``."""
    # The comparison holds a few dicts per household of two months; the cyclic collector would walk that
    # growing heap again and again (none of it is cyclic garbage), so it is paused for the run.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_monthly(
            paths,
            as_of=as_of,
            store=store,
            rules=rules,
            key=key,
            out_dir=out_dir,
            jurisdiction=jurisdiction,
            level=level,
            sample_size=sample_size,
            seed=seed,
            fmt=fmt,
            store_plain_ids=store_plain_ids,
            history_months=history_months,
            chunk_rows=chunk_rows,
            after_batch=after_batch,
            log=log,
        )
    finally:
        if was_enabled:
            gc.enable()


def _run_monthly(
    paths: Sequence[str | Path],
    *,
    as_of: date,
    store: Store,
    rules: RuleSet,
    key: IdentityKey,
    out_dir: str | Path,
    jurisdiction: str | None,
    level: str,
    sample_size: int,
    seed: str | int | None,
    fmt: str,
    store_plain_ids: bool,
    history_months: int,
    chunk_rows: int,
    after_batch: Callable[[int], None] | None,
    log: TextIO | None,
) -> MonthlyResult:
    log = log or sys.stderr
    t0 = time.perf_counter()
    started = _now()
    timings: dict[str, float] = {}
    store.check_key(key)
    read = read_inputs(paths, as_of=as_of)
    frame = read.frame
    regions = [r for r in frame.get_column("region").to_list() if r]
    juris = jurisdiction or _jurisdiction(regions)
    timings["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    since = _months_before(as_of, history_months)
    decided_frame = with_history(frame, store.history(juris, as_of, since))
    timings["history"] = time.perf_counter() - t
    t = time.perf_counter()
    parts = [
        _decide(rules, decided_frame.slice(s, chunk_rows), as_of) for s in range(0, decided_frame.height, chunk_rows)
    ]
    decisions = pl.concat(parts) if parts else _decide(rules, decided_frame, as_of)
    decisions = decisions.sort("_row")
    timings["decide"] = time.perf_counter() - t
    t = time.perf_counter()

    # Per household: the input digest (the row as read, without its position and date), the compact
    # decision (the decision-table row as JSON, stored once per distinct value) or the error.
    digests = _digest_lines(_lines(frame.drop("_row", "as_of")))
    bodies_all = _lines(decisions.select(_DECISION_COLUMNS))
    # What the comparison reads, parsed from a narrower JSON than the stored body (about half its size).
    state_of = dict(zip(decisions.get_column("_row").to_list(), _lines(decisions.select(_STATE_COLUMNS)), strict=True))
    columns = zip(
        frame.get_column("_row").to_list(),
        frame.get_column("household_id").to_list(),
        frame.get_column("region").to_list(),
        frame.get_column("monitoring.status").to_list(),
        decisions.get_column("status").to_list(),
        decisions.get_column("category").to_list(),
        decisions.get_column("exit_status").to_list(),
        decisions.get_column("error").to_list(),
        digests,
        bodies_all,
        strict=True,
    )
    rows = [
        HouseholdRow(
            hid,
            int(row),
            region,
            ms,
            None if err else st,
            None if err else cat,
            None if err else ex,
            dg,
            None if err else body,
            err,
        )
        for row, hid, region, ms, st, cat, ex, err, dg, body in columns
    ]
    # Ids repeated across input files cannot both be stored: every copy becomes an error, none is decided.
    seen: dict[str, int] = {}
    for r in rows:
        seen[r.household_id] = seen.get(r.household_id, 0) + 1
    dup = {hid for hid, n in seen.items() if n > 1}
    row_errors: list[RowError] = list(read.errors)
    file_label = ", ".join(str(p) for p in paths)
    if dup:
        row_errors += [
            RowError(
                file_label,
                None,
                "户编号",
                "duplicate_id",
                "户编号在多个输入中重复 / household id repeated",
                index=r.input_row,
                household_id=r.household_id,
            )
            for r in rows
            if r.household_id in dup
        ]
        rows = [r for r in rows if r.household_id not in dup]
    for r in rows:
        if r.error is not None:
            row_errors.append(
                RowError(file_label, None, None, "evaluation", r.error, index=r.input_row, household_id=r.household_id)
            )
    states = _state([None if r.decision is None else state_of[r.input_row] for r in rows])
    now = [_Household(r.household_id, r.region, r.monitoring_status, s) for r, s in zip(rows, states, strict=True)]
    timings["digest"] = time.perf_counter() - t

    t = time.perf_counter()
    previous = store.previous_run(juris, as_of)
    before: dict[str, _Household] = {}
    if previous is not None:
        prev_rows = store.households(previous.run_id)
        prev_states = _state([r[5] for r in prev_rows])
        before = {r[0]: _Household(r[0], r[2], r[3], s) for r, s in zip(prev_rows, prev_states, strict=True)}
    timings["previous"] = time.perf_counter() - t
    t = time.perf_counter()
    window_start = previous.as_of + timedelta(days=1) if previous else as_of - timedelta(days=31)
    leads = [lead for lead in _leads(store, juris) if window_start.isoformat() <= lead["found_on"] <= as_of.isoformat()]
    changes = compare(rules, now, before, leads)
    timings["compare"] = time.perf_counter() - t
    t = time.perf_counter()
    visit_list = visits(rules, now, leads)
    flags = _flags(now)
    quarter = [
        (r.as_of, store.run_list(r.run_id, "focus_flags") or [])
        for r in store.runs(juris)
        if _quarter_start(as_of) <= r.as_of < as_of
    ] + [(as_of, flags)]
    focus = focus_list(rules, quarter)
    monitored = [
        ((h.region or "")[:12], h.household_id)
        for h in now
        if h.monitoring_status == MONITORED
        or (h.decision and h.decision["status"] in ("identified", "already_monitored"))
    ]
    sample = [
        {"village": v, "household_id": hid}
        for v, hid in stratified_sample(monitored, sample_size, seed if seed is not None else as_of.isoformat())
    ]
    ok = decisions.filter(pl.col("error").is_null() & ~pl.col("household_id").is_in(list(dup)))
    summary = summarise(ok, frame, level, rules=rules)
    analysis = _analysis(summary, (store.run_list(previous.run_id, "summary") if previous else None) or [])
    timings["lists"] = time.perf_counter() - t

    t = time.perf_counter()
    identities = _identities(frame.filter(~pl.col("household_id").is_in(list(dup))), key, store_plain_ids)
    fingerprint = (
        "sha256:"
        + hashlib.sha256(
            (",".join(sorted(p.digest for p in rules.packs.values())) + rules.sources_digest).encode()
        ).hexdigest()
    )
    bad_rows = {e.index for e in row_errors if e.index is not None}
    n_errors = len(bad_rows) + sum(1 for e in row_errors if e.index is None)
    decided = sum(1 for r in rows if r.error is None)
    counts = {k: sum(1 for c in changes if c["change"] == k) for k in CHANGE_KINDS}
    table = [list(r) for r in summary.iter_rows()]
    # The run row keeps the totals the report's trend needs; the whole table (a row per region, indicator
    # and item: large for a city at town level) is a compressed list beside it.
    run_summary = {
        "status": {r[2]: r[4] for r in table if r[0] == "合计" and r[1] == "认定结论"},
        "level": level,
        "changes": counts,
        "visits": len(visit_list),
        "focus": len(focus),
        "sample": len(sample),
    }
    timings["prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    block = history_block(frame, decisions, sorted(dup))
    timings["history_block"] = time.perf_counter() - t
    t = time.perf_counter()
    run_id = store.record_run(
        jurisdiction=juris,
        as_of=as_of,
        started_at=started,
        ruleset_fingerprint=fingerprint,
        input_digest=_file_digest(paths),
        counts=(read.total_rows, decided, n_errors),
        summary=run_summary,
        households=rows,
        errors=[(e.index, e.household_id, e.file, e.row, e.column, e.code, e.message) for e in row_errors],
        identities=identities,
        lists={
            "summary": table,
            "changes": changes,
            "visits": visit_list,
            "focus_flags": flags,
            "focus": focus,
            "sample": sample,
        },
        after_batch=after_batch,
        history=block,
    )
    timings["store"] = time.perf_counter() - t

    t = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".csv" if fmt == "csv" else ".xlsx"
    quarter_name = f"{as_of.year}Q{(as_of.month - 1) // 3 + 1}"
    files = [
        _write(_table(visit_list, _HEADERS["visits"]), out / f"一月一提示{suffix}", "一月一提示"),
        _write(analysis.rename(_HEADERS["analysis"]), out / f"一月一分析{suffix}", "一月一分析"),
        _write(_table(focus, _HEADERS["focus"]), out / f"一季一预警-{quarter_name}{suffix}", "一季一预警"),
        _write(_table(sample, _HEADERS["sample"]), out / f"一周一抽查{suffix}", "一周一抽查"),
        _write(_table(changes, _HEADERS["changes"]), out / f"变化清单{suffix}", "变化清单"),
    ]
    if row_errors:
        errors_path = out / f"错误{suffix}"
        write_errors(row_errors, errors_path)
        files.append(errors_path)
    report = {
        "run_id": run_id,
        "jurisdiction": juris,
        "as_of": as_of.isoformat(),
        "previous_as_of": previous.as_of.isoformat() if previous else None,
        "rows": read.total_rows,
        "decided": decided,
        "errors": n_errors,
        "changes": {k: [c for c in changes if c["change"] == k] for k in CHANGE_KINDS},
        "visits": visit_list,
        "focus": focus,
        "sample": sample,
    }
    json_path = out / "monitor.json"
    json_path.write_text(json.dumps(report, ensure_ascii=False, default=str), encoding="utf-8")
    files.append(json_path)
    timings["write"] = time.perf_counter() - t
    return MonthlyResult(
        run_id=run_id,
        jurisdiction=juris,
        as_of=as_of,
        previous=previous,
        rows=read.total_rows,
        decided=decided,
        errors=n_errors,
        changes=changes,
        visits=visit_list,
        focus=focus,
        sample=sample,
        analysis=analysis,
        files=files,
        seconds=time.perf_counter() - t0,
        timings=timings,
        gaps=configuration_gaps(decisions.filter(pl.col("error").is_null())),
    )


# ------------------------------------------------------------------------------------------- history

HISTORY_FACT: Final = "per_capita_net_income"
"""The fact whose value each run keeps as the household's per-capita income of that assessment."""

_ASSESSMENT_FIELDS: Final = ("as_of", "per_capita_net_income", "monitoring_status", "risks", "risk_eliminated_on")
"""The fields of an earlier assessment, in the model's order (the frame's struct casts by position)."""


def _months_before(on: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clipped to the month's end)."""
    from dateutil.relativedelta import relativedelta

    return on - relativedelta(months=months)


def with_history(frame: pl.DataFrame, stored: Sequence[tuple[date, bytes]]) -> pl.DataFrame:
    """The households frame with ``history.assessments`` filled from the history blocks of stored earlier
    runs (``Store.history``) for every household whose input does not give its own history. A household
    with no earlier run keeps a null history: every fact over it is unknown (no earlier assessment is not
    "no change")."""
    column = "history.assessments"
    if not stored:
        return frame
    runs = [pl.read_ipc(io.BytesIO(body)).with_columns(pl.lit(on, dtype=pl.Date).alias("as_of")) for on, body in stored]
    hist = (
        pl.concat(runs, how="vertical_relaxed")
        .sort("household_id", "as_of")
        .group_by("household_id", maintain_order=True)
        .agg(pl.struct(*_ASSESSMENT_FIELDS).alias("__history"))
        .with_columns(pl.col("__history").cast(frame.schema[column]))
    )
    return (
        frame.join(hist, on="household_id", how="left", maintain_order="left")
        .with_columns(pl.col(column).fill_null(pl.col("__history")))
        .drop("__history")
    )


def _decide(rules: RuleSet, frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The decision table plus the one fact later runs keep (``fact:per_capita_net_income``)."""
    table = decide_table(rules, frame, as_of, rule_columns=True)
    fact = "fact:" + HISTORY_FACT
    keep = [*(c for c in table.columns if not c.startswith(("rule:", "fact:"))), fact]
    if fact not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.Decimal(38, 2)).alias(fact))
    return table.select(keep)


def _fen(v: Decimal) -> Decimal:
    """Half up to 0.01 (the money type), as the decision's own display rounds (docs/input.md)."""
    return v.quantize(_FEN, rounding=ROUND_HALF_UP)


_FEN: Final = Decimal("0.01")


def history_block(frame: pl.DataFrame, decisions: pl.DataFrame, exclude: Sequence[str]) -> bytes:
    """This run's history block: for each decided household, what later runs read as one earlier
    assessment (Arrow IPC, zstd). ``exclude``: household ids not stored (repeated ids)."""
    income = decisions.get_column("fact:" + HISTORY_FACT).cast(pl.Decimal(38, 18))
    block = (
        pl.DataFrame(
            {
                "household_id": frame.get_column("household_id"),
                "per_capita_net_income": income.map_elements(_fen, return_dtype=pl.Decimal(38, 2)),
                "monitoring_status": frame.get_column("monitoring.status"),
                "risks": frame.get_column("monitoring.risks"),
                "risk_eliminated_on": frame.get_column("monitoring.risk_eliminated_on"),
                "__ok": decisions.get_column("error").is_null(),
            }
        )
        .filter(pl.col("__ok") & pl.col("household_id").is_not_null() & ~pl.col("household_id").is_in(list(exclude)))
        .drop("__ok")
    )
    out = io.BytesIO()
    block.write_ipc(out, compression="zstd")
    return out.getvalue()


def _identities(frame: pl.DataFrame, key: IdentityKey, plain: bool) -> list[tuple[Any, ...]]:
    """(household_id, region, member_id, id_hash, phone_hash, id_number, phone) of every member."""
    members = (
        frame.select("household_id", "region", "members")
        .explode("members")
        .filter(pl.col("members").is_not_null())
        .unnest("members")
        .select("household_id", "region", "member_id", "id_number", "phone")
    )
    return [
        (hid, region, mid, key.hash(idn), key.hash(ph), idn if plain else None, ph if plain else None)
        for hid, region, mid, idn, ph in members.iter_rows()
        if idn or ph
    ]


def _leads(store: Store, jurisdiction: str) -> list[dict[str, Any]]:
    rows = store.execute(
        "SELECT household_id, region, kind, channel, found_on, verify_by, reason, rule FROM leads "
        "WHERE jurisdiction = ? ORDER BY found_on, household_id",
        (jurisdiction,),
    )
    keys = ("household_id", "region", "kind", "channel", "found_on", "verify_by", "reason", "rule")
    return [dict(zip(keys, r, strict=True)) for r in rows]
