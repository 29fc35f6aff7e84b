"""Readable explanations of a Decision — Chinese first, English with ``lang="en"``.

Rendered from the Decision alone (not from engine internals), so a stored decision JSON can be
explained again years later. It answers the three questions an auditor or a household asks: why, why
not, and what would change the result — the distance from each number to its threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from .decision import ConditionTrace, Decision, ExpectedSource, RuleTrace, Trace
from .errors import EvaluationError

__all__ = ["explain"]

Lang = Literal["zh", "en"]

_STATUS = {
    "identified": ("已识别为监测对象", "identified as a monitoring object"),
    "not_identified": ("不纳入监测", "not identified"),
    "needs_review": ("需人工核实研判", "needs review"),
    "already_monitored": ("已是监测对象（监测中）", "already monitored"),
}
_OPS = {
    "eq": ("等于", "equals"),
    "ne": ("不等于", "differs from"),
    "lt": ("低于", "is below"),
    "le": ("不高于", "is at most"),
    "gt": ("高于", "is above"),
    "ge": ("不低于", "is at least"),
    "in": ("属于", "is one of"),
    "between": ("介于", "is between"),
    "known": ("已知", "is known"),
}
_HEAD = {
    "why": ("为什么", "Why"),
    "why_not": ("为什么不", "Why not"),
    "open": ("尚不确定（缺少数据）", "Open questions (missing data)"),
    "facts": ("派生事实", "Derived facts"),
    "risks": ("风险", "Risks"),
    "risk_types": ("致贫返贫风险类型", "Risk types"),
    "layers": ("农村社会救助分层（统筹识别）", "Rural social-assistance layers (identified together)"),
    "exclusions": ("信息比对线索", "Exclusion evidence"),
    "reviews": ("需研判事项", "Review reasons"),
    "fill": ("需补充的数据", "Data to fill in"),
    "assistance": ("帮扶措施", "Assistance"),
    "gaps": ("帮扶缺口", "Gaps between required and delivered measures"),
    "exit": ("风险消除", "Exit (risk elimination)"),
    "procedure": ("程序时限", "Procedure deadlines"),
    "warnings": ("预警（建议走访，不改变识别结论）", "Warnings (call for a visit; identification unchanged)"),
    "skipped": ("本辖区不适用的规则", "Rules that do not apply here"),
    "gap": (
        "配置缺口（缺少参数，相关结论未能判定）",
        "Configuration gap (missing parameters: what needs them is undecided)",
    ),
}
_EXIT = {
    "not_applicable": ("不适用（非监测中农户）", "not applicable (not under monitoring)"),
    "eligible": ("符合风险消除条件", "eligible"),
    "blocked": ("暂不能消除风险", "blocked"),
    "needs_review": ("需核实", "needs review"),
}


def _t(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "zh" else pair[1]


def _v(v: Any, lang: Lang) -> str:
    if v is None:
        return "未知" if lang == "zh" else "unknown"
    if v is True:
        return "是" if lang == "zh" else "yes"
    if v is False:
        return "否" if lang == "zh" else "no"
    if isinstance(v, float):
        return _fixed(Decimal(str(v)), 2)
    if isinstance(v, list):
        return "[" + ", ".join(_v(x, lang) for x in v) + "]"
    return str(v)


def _fixed(d: Decimal, places: int) -> str:
    """``d`` rounded 四舍五入 (half up) to ``places`` decimals for display, trailing zeros dropped.

    Display only: every decision compares exact values. Half up is how amounts in yuan are rounded to
    the fen on Chinese forms (7,900.125 → 7900.13), where half-to-even would surprise the reader.
    """
    try:
        q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: show it as it is
        return f"{d:f}"
    return f"{q.normalize():f}" if q else "0"


def _number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return None
    return Decimal(str(v))


def _pair(a: Any, e: Any, lang: Lang) -> tuple[str, str]:
    """The actual and expected values as shown: to the fen, or with as many more decimals as it takes for
    the shown numbers to compare as the real ones do — never "7900 低于 7900" for 7899.999 < 7900."""
    da, de = _number(a), _number(e)
    if da is None or de is None:
        return _v(a, lang), _v(e, lang)
    order = (da > de) - (da < de)
    for places in range(2, 29):
        sa, se = _fixed(da, places), _fixed(de, places)
        shown_a, shown_e = Decimal(sa), Decimal(se)
        if (shown_a > shown_e) - (shown_a < shown_e) == order:
            return sa, se
    return f"{da:f}", f"{de:f}"


def _source(s: ExpectedSource, lang: Lang) -> str:
    if s.kind != "parameter":
        return ""
    name = s.zh if lang == "zh" else s.en
    until = f"–{s.valid_until}" if s.valid_until else ("起" if lang == "zh" else " on")
    cites = ", ".join(c.source + (f" {c.clause}" if c.clause else "") for c in s.citations)
    if lang == "zh":
        return f"（参数「{name}」，{s.pack} 包，{s.valid_from}{until}；依据 {cites}）"
    return f" (parameter '{name}', pack {s.pack}, {s.valid_from}{until}; source {cites})"


def _distance(c: ConditionTrace, lang: Lang) -> str:
    a, e = c.actual, c.expected
    if c.op not in ("lt", "le", "gt", "ge") or not isinstance(a, int | float) or not isinstance(e, int | float):
        return ""
    if isinstance(a, bool) or isinstance(e, bool):
        return ""
    gap = Decimal(str(e)) - Decimal(str(a))
    unit = next((s.unit for s in c.sources if s.unit), "") or ""
    amount = next((t for p in range(2, 29) if (t := _fixed(abs(gap), p)) != "0"), f"{abs(gap):f}")
    if gap == 0:
        return "，恰好等于阈值" if lang == "zh" else ", exactly at the threshold"
    if lang == "zh":
        return f"，{'低于' if gap > 0 else '高于'}阈值 {amount}{(' ' + unit) if unit else ''}"
    return f", {amount}{(' ' + unit) if unit else ''} {'below' if gap > 0 else 'above'} the threshold"


def _leaf(c: ConditionTrace, lang: Lang) -> str:
    name = c.zh if lang == "zh" else c.en
    op = _t(_OPS.get(c.op, (c.op, c.op)), lang)
    mark = {"true": "✔", "false": "✘", "unknown": "?"}[c.outcome]
    if c.op == "known":
        return f"{mark} {name} {op}: {_v(c.actual is not None, lang)}"
    actual, expected = _pair(c.actual, c.expected, lang)
    if c.sources and c.sources[0].kind in ("fact", "field") and c.sources[0].zh:
        other = c.sources[0].zh if lang == "zh" else c.sources[0].en
        expected = f"{other} {expected}"
    src = "".join(_source(s, lang) for s in c.sources)
    text = f"{mark} {name} {actual} {op} {expected}{src}{_distance(c, lang)}"
    if c.missing:
        text += ("；缺少 " if lang == "zh" else "; missing ") + ", ".join(c.missing)
    return text


def _cond_lines(
    c: ConditionTrace,
    lang: Lang,
    depth: int,
    only: set[str] | None,
    rules: dict[str, RuleTrace],
    seen: frozenset[str],
) -> list[str]:
    """Lines of a condition tree; a referenced rule is opened in place, so "why" reaches the numbers."""
    pad = "    " * depth
    if c.children:
        if c.op == "not":
            head = "并非：" if lang == "zh" else "not:"
        elif c.op == "all":
            head = "同时满足：" if lang == "zh" else "all of:"
        elif c.op == "at_least":
            head = f"至少满足 {c.n} 项：" if lang == "zh" else f"at least {c.n} of:"
        else:
            head = "满足其一：" if lang == "zh" else "any of:"
        mark = {"true": "✔", "false": "✘", "unknown": "?"}[c.outcome]
        lines = [f"{pad}{mark} {head}"]
        for k in c.children:
            if only is None and c.op in ("any", "at_least") and c.outcome == "true" and k.outcome != "true":
                continue  # "why": a branch that did not hold is not part of the reason
            if only is None or k.outcome in only or k.children:
                lines += _cond_lines(k, lang, depth + 1, only, rules, seen)
        return lines
    if c.op == "rule":
        mark = {"true": "✔", "false": "✘", "unknown": "?"}[c.outcome]
        name = c.zh if lang == "zh" else c.en
        lines = [f"{pad}{mark} {'规则' if lang == 'zh' else 'rule'}「{name}」[{c.rule}]"]
        target = rules.get(c.rule or "")
        if target is not None and c.rule not in seen:
            lines += _cond_lines(target.condition, lang, depth + 1, only, rules, seen | {c.rule or ""})
        return lines
    return [pad + _leaf(c, lang)]


def _rule_block(r: RuleTrace, lang: Lang, only: set[str] | None, rules: dict[str, RuleTrace]) -> list[str]:
    name = r.zh if lang == "zh" else r.en
    cites = "; ".join(c.source + (f" {c.clause}" if c.clause else "") for c in r.citations)
    basis = "依据" if lang == "zh" else "source"
    lines = [f"  ■ {name} [{r.id}]（{basis}: {cites}）" if lang == "zh" else f"  ■ {name} [{r.id}] ({basis}: {cites})"]
    lines += _cond_lines(r.condition, lang, 2, only, rules, frozenset({r.id}))
    return lines


def _section(title: tuple[str, str], lang: Lang, body: Iterable[str]) -> list[str]:
    body = list(body)
    return [f"—— {_t(title, lang)} ——", *body, ""] if body else []


def _exit_lines(d: Decision, lang: Lang) -> list[str]:
    ex = d.exit
    if ex.status == "not_applicable":
        return []
    body = [("  结论：" if lang == "zh" else "  Result: ") + _t(_EXIT[ex.status], lang)]
    for b in ex.blockers:
        sure = "" if b.certain else ("（待核实）" if lang == "zh" else " (unconfirmed)")
        until = ""
        if b.until:
            until = f"（{b.until} 起解除）" if lang == "zh" else f" (lifts on {b.until})"
        body.append(f"  ✘ {b.zh if lang == 'zh' else b.en}{sure}{until} ← {', '.join(b.rules)}")
    if ex.opens_on:
        body.append(
            (f"  最早可启动风险消除日期：{ex.opens_on}") if lang == "zh" else f"  Earliest exit date: {ex.opens_on}"
        )
    if ex.method:
        body.append(
            ("  消除方式：" if lang == "zh" else "  Method: ") + (ex.method.zh if lang == "zh" else ex.method.en)
        )
    for m in ex.blocking:
        body.append(f"  ? {m.zh if lang == 'zh' else m.en}: {', '.join(m.fields) or '—'}")
    return _section(_HEAD["exit"], lang, body)


def _procedure_lines(d: Decision, lang: Lang) -> list[str]:
    body = []
    for f in d.procedure:
        name = f.zh if lang == "zh" else f.en
        if not f.certain:
            body.append(
                f"  ? {name}（数据不足，未能核查）" if lang == "zh" else f"  ? {name} (not checkable: data missing)"
            )
            continue
        if f.days_late is not None and f.days_late >= 0:
            late = f"逾期 {f.days_late} 天" if lang == "zh" else f"{f.days_late} days late"
        elif f.days_late is not None:
            late = f"早 {-f.days_late} 天" if lang == "zh" else f"{-f.days_late} days short"
        else:
            late = ""
        sev = f"[{f.severity}] " if f.severity else ""
        if f.dated_check:
            when = f"（{f.due}）" if lang == "zh" else f" ({f.due}) "
            body.append(f"  ✘ {sev}{name}{when}← {', '.join(f.rules)}")
            continue
        if lang == "zh":
            body.append(f"  ✘ {sev}{name}：应于 {f.due}，实际 {f.on}，{late} ← {', '.join(f.rules)}")
        else:
            body.append(f"  ✘ {sev}{name}: due {f.due}, actual {f.on}, {late} ← {', '.join(f.rules)}")
    return _section(_HEAD["procedure"], lang, body)


def _named(f: Any, lang: Lang) -> str:
    """The members a measure or gap is for (members.py): ``：成员2（编号 M2）；待核实：成员3（编号 M3）``."""
    members = getattr(f, "members", None)
    if members is None:
        return ""
    review = f.members_to_review

    def who(refs: Any) -> str:
        if lang == "zh":
            return "、".join(f"成员{m.index}（编号 {m.member_id}）" for m in refs)
        return ", ".join(f"member {m.index} (id {m.member_id})" for m in refs)

    if lang == "zh":
        text = "：" + (who(members) if members else "无成员")
        return text + (f"；待核实：{who(review)}" if review else "")
    text = ": " + (who(members) if members else "no member")
    return text + (f"; to review: {who(review)}" if review else "")


def explain(decision: Decision, lang: Lang = "zh") -> str:
    """A readable account of the decision: outcome, why, why not, open questions, derived facts."""
    d, ident = decision, decision.identification
    if not isinstance(d.trace, Trace):
        raise EvaluationError(
            "解释需要完整轨迹 / explain needs the full trace: evaluate with trace='full' or use Engine.expand()"
        )
    chain = " ← ".join((p.zh if lang == "zh" else p.en) for p in reversed(d.trace.pack_chain))
    status = _t(_STATUS[ident.status], lang)
    if d.scheme is not None and ident.status in ("identified", "already_monitored"):
        # The object's name is the scheme's own (监测对象 until 2025, 防止返贫致贫对象 from 2026).
        obj = d.scheme.object_zh if lang == "zh" else d.scheme.object_en
        status = (
            (f"已识别为{obj}" if lang == "zh" else f"identified as {'an' if obj[:1] in 'aeiou' else 'a'} {obj}")
            if ident.status == "identified"
            else (f"已是{obj}（监测中）" if lang == "zh" else "already monitored")
        )
    if ident.category is not None:
        status += f" — {ident.category.zh if lang == 'zh' else ident.category.en}"
    head = "户" if lang == "zh" else "Household"
    date_word = "评估日期" if lang == "zh" else "assessed on"
    where = chain or (d.jurisdiction.zh if lang == "zh" else d.jurisdiction.en)
    place = f"（{d.region or '?'}，{where}）" if lang == "zh" else f" ({d.region or '?'}, {where})"
    lines = [
        f"{head} {d.household_id}{place}{date_word} {d.as_of}"
        if lang == "zh"
        else f"{head} {d.household_id}{place} {date_word} {d.as_of}",
        ("结论：" if lang == "zh" else "Decision: ") + status,
    ]
    if d.scheme is not None:
        since = f"，自 {d.scheme.since} 起" if lang == "zh" and d.scheme.since else ""
        if lang == "en" and d.scheme.since:
            since = f", since {d.scheme.since}"
        name = d.scheme.zh if lang == "zh" else d.scheme.en
        src = ", ".join(d.scheme.sources)
        lines.append(
            f"政策：{name}{since}（依据 {src}）" if lang == "zh" else f"Scheme: {name}{since} (sources: {src})"
        )
    if d.lead is not None:
        ch = d.lead.channel
        what = (
            (ch.zh if lang == "zh" else ch.en)
            if ch is not None
            else ("未记录渠道" if lang == "zh" else "channel not recorded")
        )
        when = f" {d.lead.found_on}" if d.lead.found_on else ""
        lines.append(f"风险线索：{what}{when}" if lang == "zh" else f"Risk lead: {what}{when}")
    if ident.candidate_categories:
        cats = ", ".join((c.zh if lang == "zh" else c.en) for c in ident.candidate_categories)
        lines.append(("可能的类别：" if lang == "zh" else "Candidate categories: ") + cats)
    lines.append("")
    gap = []
    for m in d.missing_parameters:
        label = m.zh if lang == "zh" else m.en
        if lang == "zh":
            gap.append(
                f"  ✘ {m.jurisdiction} 在 {d.as_of} 没有参数「{label}」({m.name}) 的取值；"
                f"未能判定：{', '.join(m.rules)}"
            )
        else:
            gap.append(
                f"  ✘ no value of {label} ({m.name}) for {m.jurisdiction} on {d.as_of}; undecided: {', '.join(m.rules)}"
            )
    lines += _section(_HEAD["gap"], lang, gap)

    def findings(title: tuple[str, str], items: Any) -> list[str]:
        out = []
        for f in items:
            sure = "" if f.certain else ("（待核实）" if lang == "zh" else " (unconfirmed)")
            out.append(f"  • {f.zh if lang == 'zh' else f.en}{sure}{_named(f, lang)} ← {', '.join(f.rules)}")
        return _section(title, lang, out)

    lines += findings(_HEAD["risks"], ident.risks)
    lines += findings(_HEAD["risk_types"], ident.risk_types)
    lines += findings(_HEAD["layers"], ident.layers)
    lines += findings(_HEAD["assistance"], decision.assistance.required)
    lines += findings(_HEAD["gaps"], decision.assistance.gaps)
    lines += _exit_lines(decision, lang)
    lines += _procedure_lines(decision, lang)
    lines += findings(_HEAD["warnings"], decision.warnings)
    lines += findings(_HEAD["exclusions"], ident.exclusions)
    lines += findings(_HEAD["reviews"], ident.reviews)
    fill = [f"  • {m.zh if lang == 'zh' else m.en}: {', '.join(m.fields) or '—'}" for m in ident.blocking]
    lines += _section(_HEAD["fill"], lang, fill)
    by_id = {r.id: r for r in d.trace.rules}
    concluding = [r for r in d.trace.rules if r.conclusions]

    def blocks(outcome: str, only: set[str] | None) -> list[str]:
        return [x for r in concluding if r.outcome == outcome for x in _rule_block(r, lang, only, by_id)]

    lines += _section(_HEAD["why"], lang, blocks("fired", None))
    lines += _section(_HEAD["why_not"], lang, blocks("not_fired", {"false"}))
    lines += _section(_HEAD["open"], lang, blocks("unknown", {"unknown"}))
    facts = []
    for f in d.trace.facts:
        parts = [f.zh if lang == "zh" else f.en]
        for part in (f.formula, f.substituted, _v(f.value, lang)):
            if part != parts[-1]:
                parts.append(part)
        facts.append("  " + " = ".join(parts))
    lines += _section(_HEAD["facts"], lang, facts)
    skipped = [f"  • {(r.zh if lang == 'zh' else r.en)} [{r.id}]: {r.reason}" for r in d.trace.skipped]
    lines += _section(_HEAD["skipped"], lang, skipped)
    lines.append(
        ("规则集指纹 " if lang == "zh" else "rule-set fingerprint ")
        + f"{d.trace.ruleset_fingerprint}; {'输入摘要' if lang == 'zh' else 'input digest'} {d.trace.input_digest}"
    )
    return "\n".join(lines).rstrip() + "\n"
