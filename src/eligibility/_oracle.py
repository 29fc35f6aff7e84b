"""``Engine.evaluate(household, as_of) -> Decision``: the reference evaluator.

The flow for one household (design.md): pick the jurisdiction's pack chain from the region code;
flatten the household; compute every derived fact in dependency order, recording formula, numbers and
missing inputs; evaluate every rule in force on ``as_of`` in dependency order, three-valued, recording
each condition; then read the conclusions into an identification status.

Status is machinery, not policy, and follows design.md's rule that a gap never makes a household
ineligible: a definite category identifies; a category or review rule left *unknown* by missing data
makes the case ``needs_review`` with the facts that would settle it; exclusion evidence on an
identified household routes it to review instead of rejecting it (policy.md §5).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from . import __version__, _durable
from .conditions import ParamHit
from .decision import Decision
from .errors import EngineDisagreementError, EngineUnavailableError, EvaluationError, MissingParameterError
from .expressions import UNKNOWN, substitute
from .facts import CATALOGUE, flatten, missing_paths
from .loader import load_rules
from .members import combine, keep_gap, refs, select_interpreted, selectors_of
from .models import Household, parse_household
from .ruleset import Chain, Cite, RuleSet

__all__ = ["ReferenceInterpreter"]


def _json(v: Any) -> Any:
    """A value as plain JSON data: exact integers stay integers, sets become sorted lists."""
    if v is UNKNOWN or v is None:
        return None
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, frozenset | set):
        return sorted(_json(x) for x in v)
    if isinstance(v, tuple | list):
        return [_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    return str(v)


@functools.lru_cache(maxsize=4096)
def _cites(cites: tuple[Cite, ...]) -> list[dict[str, Any]]:
    """Citations as trace data, built once per distinct citation tuple (they are immutable)."""
    return [{"source": c.source, "clause": c.clause, "note": c.note} for c in cites]


@functools.lru_cache(maxsize=4096)
def _param_source(hit: ParamHit, zh: str, en: str, unit: str | None) -> dict[str, Any]:
    """The trace's record of a parameter value; one per distinct value, shared by every decision."""
    return {
        "kind": "parameter",
        "name": hit.name,
        "zh": zh,
        "en": en,
        "unit": unit,
        "pack": hit.pack,
        "valid_from": hit.start,
        "valid_until": hit.until,
        "citations": _cites(hit.cites),
    }


_LITERAL: dict[str, Any] = {"kind": "literal"}


@dataclass
class _Ctx:
    """Per-evaluation state; implements both the formula Env and the condition CondCtx."""

    chain: Chain
    fields: dict[str, Any]
    as_of: date
    facts: dict[str, Any]
    fact_missing: dict[str, list[str]]
    rule_outcomes: dict[str, Any]
    unknown_trees: dict[str, dict[str, Any]]
    hits: set[ParamHit] = field(default_factory=set)

    def param(self, name: str) -> Any:
        try:
            return self.chain.param_hit(name, self.as_of).value
        except MissingParameterError:
            # Optional: the rules using it are skipped. Required: the decision names it. Either way a
            # fact reading it is simply unknown.
            return UNKNOWN

    def param_hit(self, name: str) -> ParamHit | None:
        try:
            hit = self.chain.param_hit(name, self.as_of)
        except MissingParameterError:
            return None  # the leaf is unknown; the decision names the parameter
        self.hits.add(hit)
        return hit

    def subject_missing(self, name: str, ref: str) -> list[str]:
        if ref == "fact":
            return self.fact_missing.get(name, [])
        return missing_paths(self.fields, {name})


class ReferenceInterpreter:
    """Evaluates households under a :class:`~eligibility.ruleset.RuleSet`. Thread-safe.

    Several engines (two provinces' rule folders, two versions of a pack) may live in one process.
    """

    def __init__(
        self, rules: RuleSet | str | os.PathLike[str] | None = None, *, engines: Sequence[str] | None = None
    ) -> None:
        """``engines``: ``("reference",)`` or ``("reference", "durable")``; default both where durable-rules
        imports (Python ≤ 3.12), the reference evaluator alone elsewhere (recorded in every trace)."""
        self.rules = rules if isinstance(rules, RuleSet) else load_rules(rules)
        if engines is None:
            engines = ("reference", "durable") if _durable.AVAILABLE else ("reference",)
        unknown = set(engines) - {"reference", "durable"}
        if unknown or "reference" not in engines:
            raise EngineUnavailableError(
                f"engines must be ('reference',) or ('reference', 'durable'), got {tuple(engines)}; "
                "the reference evaluator always runs because it writes the trace"
            )
        self._durable: _durable.DurableBackend | None = None
        if "durable" in engines:
            if not _durable.AVAILABLE:
                raise EngineUnavailableError(
                    f"durable-rules 无法在此环境导入 / durable-rules cannot be imported here "
                    f"({_durable.IMPORT_ERROR}); use engines=('reference',)"
                )
            self._durable = _durable.DurableBackend()
        self.engines: tuple[str, ...] = ("reference", "durable-rules") if self._durable else ("reference",)

    def chain_for(self, household: Household) -> Chain | None:
        """The household's pack chain, or None when its region code is unknown."""
        if household.region is None:
            return None
        return self.rules.chain(self.rules.pack_for_region(household.region))

    def evaluate(self, household: Household | dict[str, Any] | str | bytes, as_of: date | str) -> Decision:
        """Decide one household on ``as_of`` (a date or ``YYYY-MM-DD``).

        Raises :class:`~eligibility.errors.HouseholdError` for invalid input and
        :class:`~eligibility.errors.EvaluationError` (e.g. a missing monitoring line) when the rules
        cannot decide; missing household data never raises — it makes the result unknown.
        """
        h = household if isinstance(household, Household) else parse_household(household)
        on = as_of if isinstance(as_of, date) else _parse_date(as_of)
        digest = "sha256:" + hashlib.sha256(h.model_dump_json().encode()).hexdigest()
        chain = self.chain_for(h)
        if chain is None:
            return self._no_region(h, on, digest)
        if not chain.in_force(on):
            raise EvaluationError(
                f"{chain.jurisdiction} 在 {on} 没有生效的规则 / no rules in force for {chain.pack.en} on {on}"
            )
        ctx = _Ctx(chain, flatten(h), on, {}, {}, {}, {})
        fact_traces = self._facts(ctx)
        rule_traces, fired, unknown = self._rules(ctx)
        cited = set(chain.cited_on(on))
        for hit in ctx.hits:
            cited.update(c.source for c in hit.cites)
        if self._durable is not None:
            self._cross_check(ctx, rule_traces, digest)
        ident = self._identify(ctx, fired, unknown)
        # The trace is built as plain data and validated once, in pydantic-core, into the frozen models:
        # far cheaper than constructing a hundred model objects one by one in Python.
        return Decision.model_validate(
            {
                "household_id": h.household_id,
                "as_of": on,
                "region": h.region,
                "jurisdiction": {"code": chain.pack.id, "zh": chain.pack.zh, "en": chain.pack.en},
                "scheme": self.rules.scheme(on),
                "lead": self.rules.lead(h, on),
                "identification": ident,
                "assistance": self._assistance(ctx, h, fired, unknown),
                "exit": self._exit(ctx, fired, unknown),
                "procedure": self._procedure(ctx, fired, unknown),
                "warnings": self._findings(ctx, "warning", fired, unknown),
                "missing_parameters": [
                    {
                        "name": name,
                        "zh": chain.params[name].zh,
                        "en": chain.params[name].en,
                        "jurisdiction": chain.jurisdiction,
                        "rules": rules,
                    }
                    for name, rules in chain.missing_params(on)
                ],
                "trace": {
                    "skipped": [{"id": r.id, "zh": r.zh, "en": r.en, "reason": why} for r, why in chain.skipped(on)],
                    "engine_version": __version__,
                    "engines": self.engines,
                    "pack_chain": [{"code": p.id, "zh": p.zh, "en": p.en} for p in chain.packs],
                    "ruleset_fingerprint": chain.fingerprint,
                    "input_digest": digest,
                    "facts": fact_traces,
                    "rules": rule_traces,
                    "sources": {key: self._source(key) for key in sorted(cited)},
                },
            }
        )

    def _source(self, key: str) -> dict[str, Any]:
        c = self.rules.sources[key]
        return {"title": c.title, "grade": c.grade, "url": c.url}

    # -------------------------------------------------------------------------------------- facts

    def _facts(self, ctx: _Ctx) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in ctx.chain.fact_order:
            f = ctx.chain.facts[name]
            value = f.fn(ctx, None)
            ctx.facts[name] = value
            missing: list[str] = []
            if value is UNKNOWN:
                missing = missing_paths(ctx.fields, set(f.fields))
                for d in f.facts:
                    missing += ctx.fact_missing.get(d, [])
                missing = sorted(set(missing))
                ctx.fact_missing[name] = missing
            out.append(
                {
                    "name": name,
                    "zh": f.zh,
                    "en": f.en,
                    "formula": f.source,
                    "substituted": substitute(f.node, ctx, value),
                    "value": _json(value),
                    "known": value is not UNKNOWN,
                    "missing": missing,
                }
            )
        return out

    # -------------------------------------------------------------------------------------- rules

    def _rules(self, ctx: _Ctx) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        traces: list[dict[str, Any]] = []
        fired: list[tuple[str, str, str]] = []
        unknown: list[tuple[str, str, str]] = []
        for rule, version in ctx.chain.in_force(ctx.as_of):
            value, tree = version.when.eval(ctx)
            for alias in ctx.chain.aliases_of.get(rule.id, ()):
                ctx.rule_outcomes[alias] = value  # references to a replaced rule read its replacement
            ctx.rule_outcomes[rule.id] = value
            outcome: Literal["fired", "not_fired", "unknown"] = (
                "unknown" if value is UNKNOWN else ("fired" if value else "not_fired")
            )
            if outcome == "fired":
                fired += [(k, c, rule.id) for k, c in rule.conclusions]
            elif outcome == "unknown":
                unknown += [(k, c, rule.id) for k, c in rule.conclusions]
                ctx.unknown_trees[rule.id] = tree
            traces.append(
                {
                    "id": rule.id,
                    "zh": rule.zh,
                    "en": rule.en,
                    "kind": rule.kind,
                    "pack": rule.pack,
                    "version_from": version.start,
                    "version_until": version.until,
                    "outcome": outcome,
                    "condition": self._cond_trace(ctx, tree),
                    "citations": _cites(version.cites),
                    "conclusions": [f"{k}:{c}" for k, c in rule.conclusions],
                }
            )
        return traces, fired, unknown

    def _label(self, ctx: _Ctx, name: str) -> tuple[str, str]:
        f = ctx.chain.facts.get(name)
        if f is not None:
            return f.zh, f.en
        spec = CATALOGUE.get(name)
        return (spec.zh, spec.en) if spec else (name, name)

    def _cond_trace(self, ctx: _Ctx, t: dict[str, Any]) -> dict[str, Any]:
        if "children" in t:
            return {
                "op": t["op"],
                "outcome": t["outcome"],
                "n": t.get("n"),
                "children": [self._cond_trace(ctx, c) for c in t["children"]],
            }
        if t["op"] == "rule":
            r = ctx.chain.rules.get(ctx.chain.alias.get(t["rule"], t["rule"]))
            return {
                "op": "rule",
                "outcome": t["outcome"],
                "rule": t["rule"],
                "zh": r.zh if r else None,
                "en": r.en if r else None,
            }
        zh, en = self._label(ctx, t["subject"])
        sources: list[dict[str, Any]] = []
        for s in t["sources"]:
            if s["kind"] == "parameter" and s["hit"] is None:
                decl = ctx.chain.params[s["name"]]
                sources.append(
                    {
                        "kind": "parameter",
                        "name": s["name"],
                        "zh": decl.zh,
                        "en": decl.en,
                        "unit": decl.unit,
                        "pack": None,
                        "valid_from": None,
                        "valid_until": None,
                        "citations": [],
                    }
                )
            elif s["kind"] == "parameter":
                hit: ParamHit = s["hit"]
                decl = ctx.chain.params[hit.name]
                sources.append(_param_source(hit, decl.zh, decl.en, decl.unit))
            elif s["kind"] in ("fact", "field"):
                szh, sen = self._label(ctx, s["name"])
                sources.append({"kind": s["kind"], "name": s["name"], "zh": szh, "en": sen})
            else:
                sources.append(_LITERAL)
        return {
            "op": t["op"],
            "outcome": t["outcome"],
            "subject": t["subject"],
            "zh": zh,
            "en": en,
            "actual": _json(t["actual"]),
            "expected": _json(t["expected"]),
            "sources": sources,
            "missing": t.get("missing", ()),
        }

    def _cross_check(self, ctx: _Ctx, rule_traces: list[dict[str, Any]], digest: str) -> None:
        """Run durable-rules on the same household and refuse a decision the two engines disagree on."""
        assert self._durable is not None
        theirs = self._durable.outcomes(ctx.chain, ctx.as_of, ctx.fields, ctx.facts)
        ours = {r["id"]: r["outcome"] for r in rule_traces}
        diff = {rid: (ours.get(rid, "absent"), theirs.get(rid, "absent")) for rid in ours.keys() | theirs.keys()}
        diff = {rid: pair for rid, pair in diff.items() if pair[0] != pair[1]}
        if diff:
            raise EngineDisagreementError(diff, digest)

    # ---------------------------------------------------------------------------------- decision

    def _findings(
        self, ctx: _Ctx, kind: str, fired: list[tuple[str, str, str]], unknown: list[tuple[str, str, str]]
    ) -> list[dict[str, Any]]:
        by_code: dict[str, tuple[bool, list[str]]] = {}
        for k, code, rid in fired:
            if k == kind:
                certain, rules = by_code.get(code, (True, []))
                by_code[code] = (True, [*rules, rid])
        for k, code, rid in unknown:
            if k == kind and code not in by_code:
                by_code[code] = (False, [rid])
            elif k == kind and not by_code[code][0]:
                by_code[code][1].append(rid)
        out = []
        for code, (certain, rules) in by_code.items():
            v = self.rules.vocab(kind, code, ctx.as_of)
            out.append({"code": code, "zh": v.zh, "en": v.en, "certain": certain, "rules": rules})
        return sorted(out, key=lambda f: (not f["certain"], f["code"]))

    def _assistance(
        self, ctx: _Ctx, h: Household, fired: list[tuple[str, str, str]], unknown: list[tuple[str, str, str]]
    ) -> dict[str, Any]:
        """Required measures and gaps, each naming its members where its rules say (members.py)."""
        selectors = selectors_of(rule for rule, _ in ctx.chain.in_force(ctx.as_of))
        people = ctx.fields.get("members", UNKNOWN)
        chosen = {key: select_interpreted(sel, ctx, people) for key, sel in selectors.items()}
        ids = [m.member_id for m in h.members or ()]
        out: dict[str, Any] = {}
        for kind, name in (("measure", "required"), ("gap", "gaps")):
            items = []
            for f in self._findings(ctx, kind, fired, unknown):
                got = combine(f["rules"], kind, f["code"], chosen)
                if kind == "gap" and not keep_gap(f["rules"], f["code"], got, chosen, h.members is not None):
                    continue  # every member who needed it received it
                if got is not None:
                    f["members"], f["members_to_review"] = (list(refs(s, ids)) for s in got)
                items.append(f)
            out[name] = items
        return out

    def _missing(self, ctx: _Ctx, rule_ids: list[str]) -> list[dict[str, Any]]:
        """The unknown leaf facts of these rules, each with the household paths that would settle it."""
        found: dict[str, set[str]] = {}

        def walk(t: dict[str, Any]) -> None:
            if t.get("outcome") != "unknown":
                return
            for c in t.get("children", ()):
                walk(c)
            if "subject" in t and not t.get("gap"):
                found.setdefault(t["subject"], set()).update(t.get("missing", ()))
            if t.get("op") == "rule":
                target = ctx.chain.alias.get(t["rule"], t["rule"])
                sub = ctx.unknown_trees.get(target)
                if sub is not None:
                    walk(sub)

        for rid in rule_ids:
            tree = ctx.unknown_trees.get(rid)
            if tree is not None:
                walk(tree)
        out: list[dict[str, Any]] = []
        for name in sorted(found):
            zh, en = self._label(ctx, name)
            out.append({"name": name, "zh": zh, "en": en, "fields": sorted(found[name])})
        return out

    def _dated(self, ctx: _Ctx, rid: str, kind: str, code: str, modifier: str) -> date | None:
        """The date a conclusion's modifier fact (``until``, ``due``, ``on``) has on this household."""
        fact = ctx.chain.rules[rid].modifiers.get((kind, code), {}).get(modifier)
        value = (ctx.facts[fact] if fact in ctx.facts else ctx.fields.get(fact, UNKNOWN)) if fact else UNKNOWN
        return value if isinstance(value, date) else None

    def _exit(
        self, ctx: _Ctx, fired: list[tuple[str, str, str]], unknown: list[tuple[str, str, str]]
    ) -> dict[str, Any]:
        """风险消除: only for a household under monitoring; eligible when no blocker holds or may hold."""
        if not any(k == "exit_applies" for k, _, _ in fired):
            maybe = [rid for k, _, rid in unknown if k == "exit_applies"]
            if maybe:
                return {"status": "needs_review", "blocking": self._missing(ctx, maybe)}
            return {"status": "not_applicable"}
        blockers = self._findings(ctx, "exit_blocker", fired, unknown)
        for b in blockers:
            dates = [self._dated(ctx, rid, "exit_blocker", b["code"], "until") for rid in b["rules"]]
            known = [d for d in dates if d is not None]
            b["until"] = max(known) if known and len(known) == len(dates) else None
        certain = [b for b in blockers if b["certain"]]
        methods = sorted({c for k, c, _ in fired if k == "exit_method"})
        method = None
        if methods:
            v = self.rules.vocab("exit_method", methods[0], ctx.as_of)
            method = {"code": v.code, "zh": v.zh, "en": v.en}
        out: dict[str, Any] = {"blockers": blockers, "method": method}
        if certain:
            out["status"] = "blocked"
            if all(b["until"] is not None for b in blockers):  # pending blockers too: see Exit.opens_on
                out["opens_on"] = max(b["until"] for b in blockers)
        elif blockers:
            out["status"] = "needs_review"
            out["blocking"] = self._missing(ctx, sorted({rid for k, _, rid in unknown if k == "exit_blocker"}))
        else:
            out["status"] = "eligible"
        return out

    def _procedure(
        self, ctx: _Ctx, fired: list[tuple[str, str, str]], unknown: list[tuple[str, str, str]]
    ) -> list[dict[str, Any]]:
        """程序 findings with due date, the date compared (default: as_of) and days late."""
        out = self._findings(ctx, "finding", fired, unknown)
        for f in out:
            rid = f["rules"][0]
            due = self._dated(ctx, rid, "finding", f["code"], "due")
            on = self._dated(ctx, rid, "finding", f["code"], "done") or ctx.as_of
            f["severity"] = self.rules.vocab("finding", f["code"]).severity
            f["due"], f["on"] = due, on
            f["days_late"] = (on - due).days if due is not None else None
        return out

    def _identify(
        self, ctx: _Ctx, fired: list[tuple[str, str, str]], unknown: list[tuple[str, str, str]]
    ) -> dict[str, Any]:
        def codes(src: list[tuple[str, str, str]], kind: str) -> list[str]:
            return sorted({c for k, c, _ in src if k == kind})

        sure_cats = codes(fired, "category")
        maybe_cats = [c for c in codes(unknown, "category") if c not in sure_cats]
        risks = self._findings(ctx, "risk", fired, unknown)
        risk_types = self._findings(ctx, "risk_type", fired, unknown)
        layers = self._findings(ctx, "layer", fired, unknown)
        exclusions = self._findings(ctx, "exclusion", fired, unknown)
        reviews = self._findings(ctx, "review", fired, unknown)
        # A gap never turns into a "no" nor into a premature "yes": a category left unknown, a review
        # reason left unknown, whether the household is already monitored, and — for a household that
        # would be identified — information-comparison evidence not yet known (信息比对 precedes
        # 民主评议, seed:JINGBIAN) all make the case needs_review, naming the data that would settle it.
        deciding = {"category", "review", "already_monitored"}
        if sure_cats:
            deciding.add("exclusion")
        blocking_rules = sorted({rid for k, _, rid in unknown if k in deciding})
        other_rules = sorted({rid for _, _, rid in unknown} - set(blocking_rules))

        def label(code: str) -> dict[str, str]:
            v = self.rules.vocab("category", code, ctx.as_of)
            return {"code": code, "zh": v.zh, "en": v.en}

        category = None
        if any(k == "already_monitored" for k, _, _ in fired):
            status = "already_monitored"
        elif (
            len(sure_cats) == 1
            and not exclusions
            and not any(k in ("exclusion", "already_monitored") for k, _, _ in unknown)
        ):
            status, category = "identified", label(sure_cats[0])
        elif sure_cats or maybe_cats or any(f["certain"] for f in reviews) or blocking_rules:
            status = "needs_review"
        else:
            status = "not_identified"
        blocking = self._missing(ctx, blocking_rules) if status == "needs_review" else []
        blocking_names = {m["name"] for m in blocking}
        rest = other_rules if status == "needs_review" else sorted({rid for _, _, rid in unknown})
        others = [m for m in self._missing(ctx, rest) if m["name"] not in blocking_names]
        return {
            "status": status,
            "category": category,
            "candidate_categories": [label(c) for c in (sure_cats if status != "identified" else []) + maybe_cats],
            "risks": risks,
            "risk_types": risk_types,
            "layers": layers,
            "exclusions": exclusions,
            "reviews": reviews,
            "blocking": blocking,
            "unknown": others,
        }

    def _no_region(self, h: Household, on: date, digest: str) -> Decision:
        """Without a region code no jurisdiction's rules apply: review, naming the field to fill."""
        miss = {"name": "region", "zh": "行政区划代码", "en": "region code", "fields": ["$.region"]}
        return Decision.model_validate(
            {
                "household_id": h.household_id,
                "as_of": on,
                "region": None,
                "jurisdiction": {"code": "unknown", "zh": "未知辖区", "en": "unknown jurisdiction"},
                "identification": {"status": "needs_review", "blocking": [miss]},
                "trace": {
                    "engine_version": __version__,
                    "engines": self.engines,
                    "pack_chain": [],
                    "ruleset_fingerprint": "",
                    "input_digest": digest,
                    "facts": [],
                    "rules": [],
                },
            }
        )


def _parse_date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise EvaluationError(f"评估日期无效 / invalid assessment date `{s}` (YYYY-MM-DD)") from None
