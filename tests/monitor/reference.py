"""The monthly lists as the routine computed them before they became polars frames: household by household,
in Python dicts. Kept as the oracle that ``test_lists.py`` checks the columnar lists against (never used by
the library)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from eligibility.io.writers import STATUS_LABELS
from eligibility.monitor.lists import NO_DEADLINE
from eligibility.monitor.routine import CHANGE_KINDS, ELIMINATED, MONITORED, VISIT_REASONS
from eligibility.ruleset import RuleSet


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


@dataclass
class Household:
    household_id: str
    region: str | None
    monitoring_status: str | None
    decision: dict[str, Any] | None
    responsible: str | None = None


def _change(h: Household, kind: str, reason: str, rule_ids: Sequence[str], before: str, after: str) -> dict[str, Any]:
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
    rules: RuleSet, now: Sequence[Household], before: dict[str, Household], leads: Sequence[dict[str, Any]]
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
        h = Household(lead["household_id"], lead.get("region"), None, None)
        out.append(_change(h, "new_risk", lead["reason"], [lead["rule"]], "", lead["channel"]))
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    out.sort(key=lambda c: (order[c["change"]], c["village"], c["household_id"]))
    return out


def visits(rules: RuleSet, now: Sequence[Household], leads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """一月一提示: every household whose state this month requires a visit, with each reason and its rules."""
    reasons: dict[str, tuple[Household, list[tuple[str, str, list[str]]]]] = {}

    def add(h: Household, why: str, detail: str, rule_ids: Sequence[str]) -> None:
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
        h = by_id.get(lead["household_id"]) or Household(lead["household_id"], lead.get("region"), None, None)
        deadline = f"须于 {lead['verify_by']} 前核实" if lead["verify_by"] is not None else NO_DEADLINE
        add(h, "lead", f"{lead['reason']}，{deadline}", [lead["rule"]])
    out = []
    for hid, (h, items) in reasons.items():
        region = h.region or ""
        out.append(
            {
                "town": region[:9],
                "village": region[:12],
                "household_id": hid,
                # The household's 帮扶责任人 (monitoring.assistance_officer); empty when not recorded, for the
                # village to fill.
                "responsible": h.responsible or "",
                "reasons": [why for why, _, _ in items],
                "reason": "；".join(
                    f"{VISIT_REASONS[why]}（{detail}）" if detail else VISIT_REASONS[why] for why, detail, _ in items
                ),
                "rules": sorted({r for _, _, rs in items for r in rs}),
            }
        )
    out.sort(key=lambda v: (v["village"], v["responsible"], v["household_id"]))
    return out


def _flags(now: Sequence[Household]) -> list[list[str]]:
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
