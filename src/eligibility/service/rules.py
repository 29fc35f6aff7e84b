"""The read-only rule routes: ``/v1/packs``, ``/v1/parameters/{name}``, ``/v1/rules/{id}``.

What a county system or an auditor asks about the rules themselves: which packs cover which region
codes, what a parameter (a monitoring line, a deadline) is in a jurisdiction on a date and where that
value is cited from, and what a rule says. Read from the loaded :class:`~eligibility.ruleset.RuleSet`
and from the rules manifest of the compiled program (:func:`eligibility.compile.manifest.manifest`) —
the same data a full trace is made of — never from a second description of the rules.
"""

from __future__ import annotations

import difflib
from datetime import date
from typing import Any

from ..compile.manifest import json_value
from ..compile.python import program_for
from ..errors import EligibilityError, MissingParameterError
from ..ruleset import INHERIT, Chain, Cite, RuleSet
from .problems import Problem
from .state import Snapshot

__all__ = ["packs_document", "parameter_document", "rule_document"]


def _chain(rules: RuleSet, jurisdiction: str | None) -> Chain:
    """A pack id or a region code (GB/T 2260, 2–12 digits); none: the root pack (national)."""
    if jurisdiction is None:
        return rules.chain(rules.root_pack)
    if jurisdiction in rules.packs:
        return rules.chain(jurisdiction)
    if jurisdiction.isdigit() and 2 <= len(jurisdiction) <= 12:
        return rules.chain(rules.pack_for_region(jurisdiction))
    raise Problem(
        "not_found",
        f"没有规则包或区划代码 / no pack or region code `{jurisdiction}`" + _hint(jurisdiction, rules.packs),
    )


def _hint(name: str, known: Any) -> str:
    near = difflib.get_close_matches(name, list(known), n=1)
    return f"；是否为 / did you mean `{near[0]}`?" if near else ""


def _cites(cites: tuple[Cite, ...]) -> list[dict[str, Any]]:
    return [{"source": c.source, "title": c.title, "clause": c.clause, "note": c.note, "url": c.url} for c in cites]


def _jurisdiction(chain: Chain) -> dict[str, Any]:
    return {
        "code": chain.pack.id,
        "zh": chain.pack.zh,
        "en": chain.pack.en,
        "pack_chain": [p.id for p in chain.packs],
        "chain_fingerprint": chain.fingerprint,
    }


def packs_document(snap: Snapshot) -> dict[str, Any]:
    """Every pack: labels, region-code prefixes, parent, the parameters it sets, its rules."""
    rules = snap.rules
    return {
        "ruleset_fingerprint": snap.fingerprint,
        "root": rules.root_pack,
        "packs": [
            {
                "id": p.id,
                "zh": p.zh,
                "en": p.en,
                "regions": list(p.regions),
                "extends": p.extends,
                "parameters": sorted(name for name, values in p.values.items() if values),
                "rules": sorted(p.rules),
                "disabled": sorted(p.disabled),
            }
            for p in rules.packs.values()
        ],
    }


def parameter_document(snap: Snapshot, name: str, jurisdiction: str | None, on: date | None) -> dict[str, Any]:
    """A parameter in a jurisdiction: its value on ``on`` with window and citations, or (without
    ``on``) every dated value along the pack chain. No value on the date is a 404 that says so — the
    same error the engine raises, never a default."""
    rules = snap.rules
    chain = _chain(rules, jurisdiction)
    decl = chain.params.get(name)
    if decl is None:
        raise Problem("not_found", f"没有参数 / no parameter `{name}` in {chain.pack.id}" + _hint(name, chain.params))
    doc: dict[str, Any] = {
        "name": name,
        "zh": decl.zh,
        "en": decl.en,
        "type": decl.type,
        "unit": decl.unit,
        "declared_in": decl.pack,
        "optional": decl.optional,
        "jurisdiction": _jurisdiction(chain),
    }
    if on is not None:
        try:
            hit = chain.param_hit(name, on)
        except MissingParameterError as exc:
            raise Problem("not_found", str(exc)) from None
        doc["on"] = on.isoformat()
        doc["value"] = {
            "value": json_value(hit.value),
            "valid_from": hit.start.isoformat(),
            "valid_until": hit.until.isoformat() if hit.until else None,
            "pack": hit.pack,
            "citations": _cites(hit.cites),
        }
        return doc
    history = []
    for p in chain.packs:
        values = p.values.get(name) or []
        for i, v in enumerate(values):
            history.append(
                {
                    "pack": p.id,
                    "valid_from": v.start.isoformat(),
                    "valid_until": values[i + 1].start.isoformat() if i + 1 < len(values) else None,
                    # null ends the value; "inherit" hands back to the parent pack's value
                    "value": "inherit" if v.value is INHERIT else json_value(v.value),
                    "citations": _cites(v.cites),
                }
            )
    doc["values"] = history
    return doc


def rule_document(snap: Snapshot, rule_id: str, jurisdiction: str | None, on: date | None) -> dict[str, Any]:
    """A rule as it applies in a jurisdiction: labels, every version with its window and citations,
    and — for the version in force on ``on`` (default today) — its condition tree as the rules
    manifest records it (subjects, operators, expected values with their dated, cited sources)."""
    rules = snap.rules
    chain = _chain(rules, jurisdiction)
    rid = chain.alias.get(rule_id, rule_id)
    rule = chain.rules.get(rid)
    if rule is None:
        where = [p.id for p in rules.packs.values() if rule_id in p.rules]
        why = (
            f"（定义于 {', '.join(where)}，本辖区已停用或不在链上 / defined in {', '.join(where)}, not in this chain)"
            if where
            else ""
        )
        all_ids = {r for p in rules.packs.values() for r in p.rules}
        raise Problem("not_found", f"没有规则 / no rule `{rule_id}` in {chain.pack.id}{why}" + _hint(rule_id, all_ids))
    day = on or date.today()
    doc: dict[str, Any] = {
        "id": rule.id,
        "zh": rule.zh,
        "en": rule.en,
        "kind": rule.kind,
        "pack": rule.pack,
        "replaces": rule.replaces,
        "description": {"zh": rule.description_zh, "en": rule.description_en},
        "source": str(rule.loc),
        "conclusions": [f"{k}:{c}" for k, c in rule.conclusions],
        "versions": [
            {
                "valid_from": v.start.isoformat(),
                "valid_until": v.until.isoformat() if v.until else None,
                "citations": _cites(v.cites),
            }
            for v in rule.versions
        ],
        "jurisdiction": _jurisdiction(chain),
        "on": day.isoformat(),
        "in_force": None,
    }
    if rule.version_on(day) is None:
        doc["note"] = "该日期无生效版本 / no version in force on this date"
        return doc
    try:
        manifest = snap.engine.manifest(program_for(chain, day))
    except EligibilityError as exc:  # e.g. a parameter of the chain without a value on this date
        doc["note"] = str(exc)
        return doc
    entry = next((r for r in manifest["rules"] if r["id"] == rid), None)
    if entry is None:
        skipped = next((s for s in manifest["skipped"] if s["id"] == rid), None)
        doc["note"] = skipped["reason"] if skipped else "本辖区此日期不适用 / does not apply here on this date"
        return doc
    doc["in_force"] = entry
    cited = {c["source"] for c in entry["citations"]}
    doc["sources"] = {k: v for k, v in manifest["sources"].items() if k in cited}
    return doc
