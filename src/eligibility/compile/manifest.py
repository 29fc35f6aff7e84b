"""The rules manifest of a compiled program, the compact trace's JSON form, and their expansion.

A household's compact trace is a few numbers: the values of the program's value slots (facts, the
numbers each formula shows, the household fields the conditions read), one character per condition
node (``1`` true, ``0`` false, ``?`` unknown) and, for each unknown fact, the household paths that would
settle it. Everything else an audit needs — formulas, labels, citations, every parameter value with
its window, pack and citations — is the same for every household of the program, so it is written once,
as the *manifest*, identified by the program key and the rule-set fingerprint.

:func:`expand` joins the two into the full trace (the ``trace`` object of a ``trace="full"`` decision),
using nothing but the two JSON documents: a compact trace stored in a database today can be expanded
into the full audit years later from its manifest, without the rules or the household.

Values in the compact JSON keep their exact form: integers and integral amounts as JSON integers,
other amounts as ``{"d": "7833.33…"}`` (a decimal string, never a float), dates as ISO strings, sets
as sorted lists, unknown as ``null``.
"""

from __future__ import annotations

import json
import operator
import re
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from functools import cache, partial
from itertools import chain, count, repeat
from json.encoder import encode_basestring as _json_encode_basestring
from operator import itemgetter
from typing import Any, Final, TypeVar, cast

from pydantic import TypeAdapter

from .. import __version__
from .._construct import raw
from ..conditions import AtLeast, Group, Leaf, Negation, RuleRef
from ..decision import Citation, ConditionTrace, ExpectedSource, FactTrace, RuleTrace, Trace
from ..expressions import UNKNOWN, format_value
from ..facts import CATALOGUE
from .python import CondNode, Program

__all__ = [
    "Expander",
    "SettledPaths",
    "TextExpander",
    "decode_value",
    "encode_value",
    "expand",
    "json_value",
    "manifest",
    "value_getter",
]

_encode_str: Callable[[str], str] = _json_encode_basestring
"""A str as a JSON string literal, non-ASCII kept — the C function ``json.dumps(..., ensure_ascii=False)`` uses."""

MANIFEST_FORMAT = "eligibility-manifest/1"


def json_value(v: Any) -> Any:
    """A value as plain JSON data, as the full trace shows it: exact integers stay integers."""
    t = type(v)
    if t is str or t is int or t is bool:
        return v
    if v is UNKNOWN or v is None:
        return None
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, frozenset | set):
        return sorted(json_value(x) for x in v)
    if isinstance(v, tuple | list):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    return str(v)


def encode_value(v: Any) -> Any:
    """A value in the compact trace's exact JSON form (see the module docstring)."""
    t = type(v)
    if t is bool or t is int or t is str:  # most values: as they are, without the checks below
        return v
    if v is UNKNOWN or v is None:
        return None
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else {"d": str(v)}
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, frozenset | set):
        return sorted(encode_value(x) for x in v)
    if isinstance(v, tuple | list):
        return [encode_value(x) for x in v]
    if isinstance(v, dict):
        return {k: encode_value(x) for k, x in v.items()}
    return str(v)


def decode_value(v: Any) -> Any:
    """The value a compact trace's JSON stands for (unknown for ``null``)."""
    t = type(v)
    if t is str or t is int or t is bool:
        return v
    if v is None:
        return UNKNOWN
    if isinstance(v, dict):
        if set(v) == {"d"}:
            return Decimal(v["d"])
        return {k: decode_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    return v


def _label(program: Program, name: str) -> tuple[str, str]:
    f = program.chain.facts.get(name)
    if f is not None:
        return f.zh, f.en
    spec = CATALOGUE.get(name)
    return (spec.zh, spec.en) if spec else (name, name)


def _cites(cites: Any) -> list[dict[str, Any]]:
    return [{"source": c.source, "clause": c.clause, "note": c.note} for c in cites]


def _source(kind: str, **given: Any) -> dict[str, Any]:
    """An expected value's source, every field of ``ExpectedSource`` present, in its order."""
    out: dict[str, Any] = {"kind": kind}
    for key in ("name", "zh", "en", "unit", "pack", "valid_from", "valid_until"):
        out[key] = given.get(key)
    out["citations"] = given.get("citations", [])
    return out


def _node(program: Program, n: CondNode) -> dict[str, Any]:
    c = n.cond
    if isinstance(c, Group | AtLeast | Negation):
        op = c.op if isinstance(c, Group) else ("at_least" if isinstance(c, AtLeast) else "not")
        return {
            "i": n.index,
            "op": op,
            "n": c.n if isinstance(c, AtLeast) else None,
            "children": [_node(program, k) for k in n.children],
        }
    if isinstance(c, RuleRef):
        chain = program.chain
        r = chain.rules.get(chain.alias.get(c.rule, c.rule))
        return {"i": n.index, "op": "rule", "rule": c.rule, "zh": r.zh if r else None, "en": r.en if r else None}
    assert isinstance(c, Leaf)
    zh, en = _label(program, c.subject)
    sources: list[dict[str, Any]] = []
    refs: list[list[str]] = []
    for o, hit in zip(c.operands, n.hits, strict=True):
        if o.kind == "param" and hit is None:  # no value on the date: the gap, named (reads as unknown)
            decl = program.chain.params[o.name]
            sources.append(_source("parameter", name=o.name, zh=decl.zh, en=decl.en, unit=decl.unit, citations=[]))
        elif o.kind == "param":
            assert hit is not None
            decl = program.chain.params[hit.name]
            sources.append(
                _source(
                    "parameter",
                    name=hit.name,
                    zh=decl.zh,
                    en=decl.en,
                    unit=decl.unit,
                    pack=hit.pack,
                    valid_from=hit.start.isoformat(),
                    valid_until=hit.until.isoformat() if hit.until else None,
                    citations=_cites(hit.cites),
                )
            )
        elif o.kind in ("fact", "field"):
            szh, sen = _label(program, o.name)
            sources.append(_source(o.kind, name=o.name, zh=szh, en=sen))
            refs.append([o.kind, o.name])
        else:
            sources.append(_source("literal"))
    expected = [{"value": x} if how == "value" else {"const": json_value(x)} for how, x in n.operands]
    return {
        "i": n.index,
        "op": c.op,
        "subject": c.subject,
        "ref": c.ref,
        "zh": zh,
        "en": en,
        "actual": n.actual,
        "expected": expected,
        "sources": sources,
        "operand_refs": [[o.kind, o.name] if o.kind in ("fact", "field") else None for o in c.operands],
    }


def manifest(program: Program) -> dict[str, Any]:
    """The program's rules manifest: everything a full trace needs that is not a household's value."""
    chain = program.chain
    rules = chain.ruleset
    on = program.start
    cited = set(chain.cited_on(on))
    for hit in program.hits:
        cited.update(c.source for c in hit.cites)
    paths, fact_paths = _path_table(program)
    facts = []
    for slot in program.facts:
        f = chain.facts[slot.name]
        facts.append(
            {
                "name": slot.name,
                "zh": f.zh,
                "en": f.en,
                "formula": f.source,
                "index": slot.index,
                "template": None if slot.whole else slot.template,
                "fields": sorted(f.fields),
                "facts": sorted(f.facts),
                "paths": fact_paths[slot.name],
            }
        )
    return {
        "format": MANIFEST_FORMAT,
        "program": program.key,
        "ruleset_fingerprint": chain.fingerprint,
        "engine_version": __version__,
        "span": {"from": program.start.isoformat(), "until": program.until.isoformat() if program.until else None},
        "jurisdiction": {"code": chain.pack.id, "zh": chain.pack.zh, "en": chain.pack.en},
        "pack_chain": [{"code": p.id, "zh": p.zh, "en": p.en} for p in chain.packs],
        "skipped": [{"id": r.id, "zh": r.zh, "en": r.en, "reason": why} for r, why in chain.skipped(on)],
        "sources": {
            key: {"title": rules.sources[key].title, "grade": rules.sources[key].grade, "url": rules.sources[key].url}
            for key in sorted(cited)
        },
        "values": program.value_kinds,
        "paths": paths,
        "labels": _labels(program),
        "names": _names(program),
        "scheme": _scheme(program),
        "missing_parameters": [
            {
                "name": name,
                "zh": chain.params[name].zh,
                "en": chain.params[name].en,
                "jurisdiction": chain.jurisdiction,
                "rules": list(rids),
            }
            for name, rids in chain.missing_params(on)
        ],
        "nodes": program.n_nodes,
        "facts": facts,
        "rules": [
            {
                "id": rule.id,
                "zh": rule.zh,
                "en": rule.en,
                "kind": rule.kind,
                "pack": rule.pack,
                "version_from": version.start.isoformat(),
                "version_until": version.until.isoformat() if version.until else None,
                "citations": _cites(version.cites),
                "conclusions": [f"{k}:{c}" for k, c in rule.conclusions],
                "condition": _node(program, root),
            }
            for rule, version, root in program.rules
        ],
    }


def _path_table(program: Program) -> tuple[list[str], dict[str, list[list[int | None]]]]:
    """The household paths the program's facts read that a gap report names (as the engine's
    ``_absent`` reports them): plain fields of the catalogue, collections and item paths
    (``members[].dibao``); and per fact, its own as ``[k, collection k or null]``. The compact wire
    form (:mod:`eligibility.compile.wire`) names a lacking path by its index here."""
    table: list[str] = []
    index: dict[str, int] = {}

    def at(p: str) -> int:
        got = index.get(p)
        if got is None:
            got = index[p] = len(table)
            table.append(p)
        return got

    per_fact: dict[str, list[list[int | None]]] = {}
    for slot in program.facts:
        own: list[list[int | None]] = []
        for p in sorted(program.chain.facts[slot.name].fields):
            coll, _, sub = p.partition("[].")
            if not sub and CATALOGUE.get(p) is None:
                continue  # not a household field: never reported
            own.append([at(p), at(coll) if sub else None])
        per_fact[slot.name] = own
    return table, per_fact


def _labels(program: Program) -> dict[str, dict[str, list[Any]]]:
    """The zh/en labels of every code the program can conclude (and of every discovery channel), as
    worded in its span — and, for a procedure finding, its severity — by kind and code."""
    rules = program.chain.ruleset
    on = program.start
    out: dict[str, dict[str, list[Any]]] = {}
    kinds = sorted({(kind, code) for rule, _, _ in program.rules for kind, code in rule.conclusions})
    kinds += sorted((k, c) for k, c in rules.vocabulary if k == "channel")
    for kind, code in kinds:
        v = rules.vocab(kind, code, on)
        entry: list[Any] = [v.zh, v.en]
        if kind == "finding":
            entry.append(rules.vocab("finding", code).severity)
        out.setdefault(kind, {})[code] = entry
    return out


def _names(program: Program) -> dict[str, list[str]]:
    """The labels of every fact or field a condition reads: what a decision's missing facts are named by."""
    out: dict[str, list[str]] = {}

    def walk(n: CondNode) -> None:
        if isinstance(n.cond, Leaf) and n.cond.subject not in out:
            out[n.cond.subject] = list(_label(program, n.cond.subject))
        for k in n.children:
            walk(k)

    for _, _, root in program.rules:
        walk(root)
    return dict(sorted(out.items()))


def _scheme(program: Program) -> dict[str, Any] | None:
    """The scheme in force in the program's span, as ``Decision.scheme`` writes it."""
    data = program.chain.ruleset.scheme(program.start)
    if data is None:
        return None
    from ..decision import Scheme

    return Scheme.model_validate(data).model_dump(mode="json")


_OUTCOME = {"1": "true", "0": "false", "?": "unknown"}
_RULE_OUTCOME = {"1": "fired", "0": "not_fired", "?": "unknown"}
_CONDITION_KEYS = ("subject", "zh", "en", "actual", "expected", "sources", "rule", "n", "missing", "children")
_CONDITION_DEFAULTS: dict[str, Any] = {"sources": [], "missing": [], "children": []}


def _condition(op: str, **given: Any) -> dict[str, Any]:
    """A condition node of the full trace with every field of ``ConditionTrace``, in its order: the
    plain data then serialises to exactly the bytes the model would."""
    out: dict[str, Any] = {"op": op, "outcome": None}
    for key in _CONDITION_KEYS:
        out[key] = given[key] if key in given else _CONDITION_DEFAULTS.get(key)
    return out


def _fact_shown(
    values: list[Any], index: int, template: list[str | int] | None, name: str, fact_missing: dict[str, list[str]]
) -> tuple[str, Any, bool, list[str]]:
    """A fact's substituted formula, JSON value, whether known, and the paths that would settle it."""
    v = values[index]
    if template is None:
        sub = format_value(v)
    else:
        sub = "".join(p if isinstance(p, str) else format_value(values[p]) for p in template)
    unknown = v is UNKNOWN
    return sub, json_value(v), not unknown, (fact_missing.get(name, []) if unknown else [])


def _leaf_shown(
    plan: tuple[Any, ...], values: list[Any], outcome: str, fact_missing: dict[str, list[str]]
) -> tuple[Any, Any, list[str]]:
    """A condition leaf's actual and expected values (JSON) and, when it is unknown, the household paths
    that would settle it: the subject's and those of every unknown fact or field it is compared with."""
    _, _, _, actual_i, expected, refs, ref, subject = plan
    actual = values[actual_i]
    exp = [values[vi] if vi is not None else None for vi, _ in expected]
    shown = [json_value(x) if vi is not None else c for x, (vi, c) in zip(exp, expected, strict=True)]
    missing: list[str] = []
    if outcome == "unknown":

        def missing_of(kind: str, name: str) -> list[str]:
            if kind == "fact":
                return list(fact_missing.get(name, []))
            return [f"$.{name}"] if CATALOGUE.get(name) is not None else []

        if actual is UNKNOWN:
            missing += missing_of(ref, subject)
        for r, x, (vi, _) in zip(refs, exp, expected, strict=True):
            if r is not None and vi is not None and x is UNKNOWN:
                missing += missing_of(r[0], r[1])
        missing = sorted(set(missing))
    return json_value(actual), (shown[0] if len(shown) == 1 else shown), missing


class Expander:
    """Joins compact traces with one manifest. Everything static — labels, formulas, sources,
    citations, the shape of every node — is laid out once here; a household then only fills in its
    values (each full-trace object is a copy of a prepared dict with a few keys set)."""

    def __init__(self, m: dict[str, Any]) -> None:
        self.m = m
        self.facts = [
            (
                f["index"],
                f["template"],
                f["name"],
                {
                    "name": f["name"],
                    "zh": f["zh"],
                    "en": f["en"],
                    "formula": f["formula"],
                    "substituted": None,
                    "value": None,
                    "known": None,
                    "missing": [],
                },
            )
            for f in m["facts"]
        ]
        self.rules = [
            (
                {
                    "id": r["id"],
                    "zh": r["zh"],
                    "en": r["en"],
                    "kind": r["kind"],
                    "pack": r["pack"],
                    "version_from": r["version_from"],
                    "version_until": r["version_until"],
                    "outcome": None,
                    "condition": None,
                    "citations": r["citations"],
                    "conclusions": r["conclusions"],
                },
                r["condition"]["i"],
                self._plan(r["condition"]),
            )
            for r in m["rules"]
        ]

    def _plan(self, n: dict[str, Any]) -> tuple[Any, ...]:
        if "children" in n:
            return ("group", n["i"], _condition(n["op"], n=n["n"]), [self._plan(k) for k in n["children"]])
        if n["op"] == "rule":
            return ("rule", n["i"], _condition("rule", rule=n["rule"], zh=n["zh"], en=n["en"]))
        base = _condition(n["op"], subject=n["subject"], zh=n["zh"], en=n["en"], sources=n["sources"])
        expected = [(e["value"], None) if "value" in e else (None, e["const"]) for e in n["expected"]]
        refs = [(ref[0], ref[1]) if ref is not None else None for ref in n["operand_refs"]]
        return ("leaf", n["i"], base, n["actual"], expected, refs, n["ref"], n["subject"])

    def __call__(self, compact: dict[str, Any]) -> dict[str, Any]:
        """The full trace (as plain data) of one household's compact trace (in its JSON form)."""
        values = [decode_value(v) for v in compact["values"]]
        nodes: str = compact["nodes"]
        fact_missing: dict[str, list[str]] = compact.get("missing") or {}
        facts = [self.fact_data(i, values, fact_missing) for i in range(len(self.facts))]
        rules = [
            self.rule_data(i, values, nodes, _OUTCOME, _RULE_OUTCOME, fact_missing) for i in range(len(self.rules))
        ]
        m = self.m
        return {
            "engine_version": m["engine_version"],
            "engines": compact["engines"],
            "pack_chain": m["pack_chain"],
            "ruleset_fingerprint": m["ruleset_fingerprint"],
            "input_digest": compact["input_digest"],
            "facts": facts,
            "rules": rules,
            "skipped": m["skipped"],
            "sources": m["sources"],
        }

    def fact_data(self, i: int, values: list[Any], fact_missing: dict[str, list[str]]) -> dict[str, Any]:
        """Fact ``i`` of the full trace as plain data (``values`` as they read back from the compact JSON)."""
        index, template, name, base = self.facts[i]
        d = base.copy()
        shown = _fact_shown(values, index, template, name, fact_missing)
        d["substituted"], d["value"], d["known"], d["missing"] = shown
        return d

    def rule_data(
        self,
        i: int,
        values: list[Any],
        nodes: Any,
        outcome_of: dict[Any, str],
        rule_outcome_of: dict[Any, str],
        fact_missing: dict[str, list[str]],
    ) -> dict[str, Any]:
        """Rule ``i`` of the full trace as plain data; ``nodes[k]`` is node ``k``'s outcome, named by
        ``outcome_of`` (condition) and ``rule_outcome_of`` (rule): the JSON form's ``1`` / ``0`` / ``?``
        or the engine's own ``True`` / ``False`` / ``UNKNOWN``."""

        def cond(plan: tuple[Any, ...]) -> dict[str, Any]:
            kind, i, base = plan[0], plan[1], plan[2]
            d: dict[str, Any] = base.copy()
            outcome = d["outcome"] = outcome_of[nodes[i]]
            if kind == "group":
                d["children"] = [cond(k) for k in plan[3]]
                return d
            if kind == "rule":
                return d
            d["actual"], d["expected"], d["missing"] = _leaf_shown(plan, values, outcome, fact_missing)
            return d

        base, root, plan = self.rules[i]
        d = base.copy()
        d["outcome"] = rule_outcome_of[nodes[root]]
        d["condition"] = cond(plan)
        return d


def expand(m: dict[str, Any], compact: dict[str, Any]) -> dict[str, Any]:
    """The full trace (as plain data) from a manifest and a compact trace in their JSON forms."""
    return Expander(m)(compact)


# ------------------------------------------------------------------------------ full trace as text

_MARK = "\x00{}\x00"


class SettledPaths(dict[str, list[str]]):
    """A household's settling paths of unknown facts (a compact trace's ``missing``) that also carries
    them as memo keys (``keyed``: the lists as tuples), so :meth:`TextExpander._unknown` need not make
    them per household: the engine keeps one such object per combination (``engine._Settled``)."""

    __slots__ = ("keyed", "texts")

    def __init__(self, paths: dict[str, list[str]], keyed: dict[str, tuple[str, ...]] | None = None) -> None:
        """``keyed``, when given, must be ``paths`` with the lists as tuples (``engine._Settled`` has made
        those tuples for its own key already)."""
        super().__init__(paths)
        self.keyed: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in paths.items()} if keyed is None else keyed
        # The paths as the full trace's text shows them (TextExpander._missing_texts), made once.
        self.texts: tuple[list[str], list[str]] | None = None


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _static_parts(data: dict[str, Any]) -> list[str]:
    """The static text of ``data`` as compact JSON around its marker values (``_MARK.format(k)``), in
    order: the text a household's values go between. The markers are numbered in the order they appear,
    so the values are placed in that order (checked here)."""
    pieces = re.split(r'"\\u0000(\d+)\\u0000"', _dumps(data))
    holes = [int(p) for p in pieces[1::2]]
    if holes != list(range(len(holes))):  # pragma: no cover - a template written out of order
        raise AssertionError(f"template holes out of order: {holes}")
    return pieces[0::2]


def _enc(v: Any) -> str:
    """A JSON value (as ``json_value`` gives it) as compact JSON text — what ``json.dumps`` writes."""
    t = type(v)
    if t is str:
        return _encode_str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    if t is float:
        return float.__repr__(v)
    if t is list:
        return "[" + ",".join(_enc(x) for x in v) + "]"
    return _dumps(v)


class TextExpander:
    """The full trace written straight as compact JSON text: each fact's and rule's text is rendered once
    per combination of its outcomes (a *pattern*, :meth:`_plan_patterns`), with holes for the
    household's values; a household only writes its values' texts and cuts the pieces. Byte for byte the
    text ``json.dumps`` writes for :class:`Expander`'s data (and so pydantic's ``to_json(indent=None)``),
    with a few thousand fewer objects made per household."""

    def __init__(
        self,
        m: dict[str, Any],
        keep: Keep | None = None,
        model_keep: Keep | None = None,
        memos: PatternMemos | None = None,
    ) -> None:
        self.m = m
        # The memos of patterns, shared with the text expanders of other programs that ``keep`` counts for
        # (an engine's: :class:`PatternMemos`); alone, its own.
        self._memos = PatternMemos() if memos is None else memos
        self.keep: Keep = _keep_bounded if keep is None else keep
        # The models (``trace_model``) have a budget of their own: each holds the values a household showed,
        # so a run of new households makes many, and spending the patterns' budget on them would throw the
        # patterns away with them.
        self.model_keep: Keep = _keep_bounded if model_keep is None else model_keep
        mark = [_MARK.format(i) for i in range(8)]
        self.facts = [
            (
                f["index"],
                f["template"],
                f["name"],
                _static_parts(
                    {
                        "name": f["name"],
                        "zh": f["zh"],
                        "en": f["en"],
                        "formula": f["formula"],
                        "substituted": mark[0],
                        "value": mark[1],
                        "known": mark[2],
                        "missing": mark[3],
                    }
                ),
            )
            for f in m["facts"]
        ]
        self.rules = [
            (
                _static_parts(
                    {
                        "id": r["id"],
                        "zh": r["zh"],
                        "en": r["en"],
                        "kind": r["kind"],
                        "pack": r["pack"],
                        "version_from": r["version_from"],
                        "version_until": r["version_until"],
                        "outcome": mark[0],
                        "condition": mark[1],
                        "citations": r["citations"],
                        "conclusions": r["conclusions"],
                    }
                ),
                r["condition"]["i"],
                self._plan(r["condition"], mark),
            )
            for r in m["rules"]
        ]
        # Per rule, what its text depends on: its nodes' outcomes, the values its leaves show, and the
        # settling paths of the facts they read; per fact, its value and the values its formula shows.
        # The texts are patterns keyed without the values (:meth:`_plan_patterns`); the models
        # (``trace_model``) are kept per combination with the values (up to :data:`_MEMO_SIZE` per rule
        # or fact: a rule that shows each household's income stops storing new models then).
        self.rule_keys = [_rule_key_parts(plan) for _, _, plan in self.rules]
        self.fact_keys = [
            [index] + [p for p in (template or ()) if isinstance(p, int)] for index, template, _, _ in self.facts
        ]
        self._plan_patterns()
        # The same per fact and per rule as frozen models (``trace_model``), built on first use.
        self.fact_models: list[dict[Any, Any]] = []
        self.rule_models: list[dict[Any, Any]] = []
        self._model_render: Callable[..., tuple[list[Any], list[Any]]] | None = None
        self._static: dict[str, Any] | None = None
        self._statics: dict[int, tuple[dict[str, Any], dict[int, tuple[ExpectedSource, ...]]]] = {}
        self._expander: Expander | None = None
        trace = {
            "engine_version": m["engine_version"],
            "engines": mark[0],
            "pack_chain": m["pack_chain"],
            "ruleset_fingerprint": m["ruleset_fingerprint"],
            "input_digest": mark[1],
            "facts": mark[2],
            "rules": mark[3],
            "skipped": m["skipped"],
            "sources": m["sources"],
        }
        self.trace_parts = _static_parts(trace)  # the text around its four holes, for :meth:`pieces`

    def _plan(self, n: dict[str, Any], mark: list[str]) -> tuple[Any, ...]:
        if "children" in n:
            d = _condition(n["op"], n=n["n"], children=mark[1])
            d["outcome"] = mark[0]
            return ("group", n["i"], _static_parts(d), [self._plan(k, mark) for k in n["children"]])
        if n["op"] == "rule":
            d = _condition("rule", rule=n["rule"], zh=n["zh"], en=n["en"])
            d["outcome"] = mark[0]
            return ("rule", n["i"], _static_parts(d))
        d = _condition(
            n["op"],
            subject=n["subject"],
            zh=n["zh"],
            en=n["en"],
            actual=mark[1],
            expected=mark[2],
            sources=n["sources"],
            missing=mark[3],
        )
        d["outcome"] = mark[0]
        expected = [(e["value"], None) if "value" in e else (None, e["const"]) for e in n["expected"]]
        refs = [(ref[0], ref[1]) if ref is not None else None for ref in n["operand_refs"]]
        return ("leaf", n["i"], _static_parts(d), n["actual"], expected, refs, n["ref"], n["subject"])

    def __call__(self, compact: dict[str, Any]) -> str:
        """The full trace of one household's compact trace (its JSON form), as compact JSON text."""
        return "".join(self.text_pieces(compact))

    def text_pieces(self, compact: dict[str, Any]) -> list[str]:
        """The full trace's compact JSON text as pieces, to be joined once (``"".join``), from a compact
        trace in its JSON data form."""
        values = [decode_value(v) for v in compact["values"]]
        missing = compact.get("missing") or {}
        nodes = tuple(map(_NODE_OF_CHAR.__getitem__, compact["nodes"]))
        return self._pieces(_Shown(values, nodes, missing, values), list(compact["engines"]), compact["input_digest"])

    def trace_pieces(
        self, values: Any, nodes: tuple[Any, ...], missing: dict[str, list[str]], engines: list[str], digest: str
    ) -> list[str]:
        """As :meth:`text_pieces`, from the engine's own values and outcomes (tuples; unknown as
        ``UNKNOWN``): a value is taken as its JSON data form reads back only when a text is rendered."""
        return self._pieces(_Shown(values, nodes, missing, None), engines, digest)

    def _pieces(self, h: _Shown, engines: list[str], digest: str) -> list[str]:
        """The trace's text from the memo of patterns: each fact's and rule's text is its pattern's static
        pieces interleaved with this household's value texts (see :meth:`_plan_patterns`)."""
        given = h.given
        # Unknowns and bools (some 70 % of the values shown, 67 % of the formula numbers) written in the
        # comprehension, the rest by one call each (session 22: one call per value through ``map`` cost
        # ~1.5 µs a household more, each list).
        u = UNKNOWN
        texts = [
            "null" if v is u else ("true" if v else "false") if v.__class__ is bool else _value_text(v)
            for v in self._get_shown(given)
        ]
        nodes = h.nodes
        if len(nodes) != self._n_nodes:
            raise ValueError(f"the compact trace has {len(nodes)} condition nodes, its manifest {self._n_nodes}")
        unknown = self._unknown(h)
        subs = [
            "未知" if v is u else ("是" if v else "否") if v.__class__ is bool else _sub_text(v)
            for v in self._get_subbed(given)
        ]
        missing = self._missing_texts(h.missing, unknown)
        krow = [*nodes, *map(_eq, texts, repeat("null")), *map(unknown.get, self._names)]
        gen = self._gen  # read once: this household's patterns and their static pieces go together
        if gen.numbering is not _NUMBERING:  # the process numbers its static pieces afresh: so does this
            gen = self._renew(gen)
        fp = list(map(dict.get, gen.facts, map(_CALL, self._group_get, repeat(krow))))
        if None in fp:
            fp = [p or self._fact_pattern(gen, g, krow) for g, p in enumerate(fp)]
        rp = list(map(dict.get, gen.rules, map(_CALL, self._chunk_get, repeat(krow))))
        if None in rp:
            rp = [p or self._chunk_pattern(gen, c, krow, nodes, unknown) for c, p in enumerate(rp)]
        # The row, padded to the numbering's offset, then every static piece of the process (taken after
        # the patterns were made, so theirs are in it): each pattern cuts its pieces, static and value, in
        # text order; all are flattened for the one join — in C, no Python line per fact or rule.
        whole = [*texts, *subs, *missing, *gen.pad, *gen.statics]
        facts = _flat(map(_CALL, fp, repeat(whole)))
        rules = _flat(map(_CALL, rp, repeat(whole)))
        return self.pieces(engines, digest, facts, rules)

    def _plan_patterns(self) -> None:
        """Lay out, once per manifest, what a household's texts are cut from.

        Why: a rule's text depends on the household through its nodes' outcomes, which of the values
        its leaves show are unknown (that decides a leaf's settling paths), the settling paths of the
        facts it reads — a few combinations per rule, shared by a county's households — and the values
        it shows, which are nearly one per household. So a rule's memo is keyed by the combination only
        and holds a *pattern*: the rendered text's static pieces, and the positions in the household's
        row of value texts of the values shown between them. A fact likewise, keyed by whether it is
        known and its settling paths, with holes for its value and the numbers of its substituted
        formula. Per household each shown value's JSON text (and each formula number's text) is written
        once, by the same encoders as ever (:func:`_value_text`, :func:`_sub_text`): a household never
        seen before costs what one seen again does, and a memo key holds no household value (only
        identity-compared singletons and the shared settling-path tuples of ``engine._Settled``)."""
        n_nodes = self._n_nodes = int(self.m["nodes"])
        rule_parts = self.rule_keys
        shown = sorted({s for _, _, slots, _ in rule_parts for s in slots} | {f[0] for f in self.facts})
        subbed = sorted(
            {p for index, template, _, _ in self.facts for p in (template or [index]) if isinstance(p, int)}
        )
        self._get_shown, self._get_subbed = value_getter(shown), value_getter(subbed)
        self._text_at = {s: k for k, s in enumerate(shown)}  # a value's JSON text in the row
        self._sub_at = {s: len(shown) + k for k, s in enumerate(subbed)}  # its formula text in the row
        names = sorted({f[2] for f in self.facts} | {f for *_, read in rule_parts for f in read})
        self._names = names
        self._name_at = {name: k for k, name in enumerate(names)}
        at_name = {name: n_nodes + len(shown) + k for k, name in enumerate(names)}
        unknown_at = {s: n_nodes + k for k, s in enumerate(shown)}
        # A fact's settling paths are a hole in its text (and in that of a leaf reading only that fact):
        # their texts follow the formula numbers in the row, the fact's form then the leaf's
        # (:meth:`_missing_texts`), so the paths — which vary with a household's members — key no memo.
        base = len(shown) + len(subbed)
        self._miss_at = {name: base + k for k, name in enumerate(names)}
        self._leaf_miss_at = {name: base + len(names) + k for k, name in enumerate(names)}
        # The facts' texts in groups of :data:`_FACT_GROUP`, each keyed by whether each of its facts is
        # unknown (all a fact's text depends on besides its holes).
        self._groups = [range(g, min(g + _FACT_GROUP, len(self.facts))) for g in range(0, len(self.facts), _FACT_GROUP)]
        group_keys = [tuple(unknown_at[self.facts[i][0]] for i in group) for group in self._groups]
        self._group_get = [_key_getter(at) for at in group_keys]
        self._unknown_at = unknown_at
        # The rules' texts in chunks of a few nodes each (:func:`_chunked`), each keyed by what its own
        # nodes depend on: a chunk's combinations are few where a long rule's are many.
        self._chunks = [c for i in range(len(self.rules)) for c in _chunked(self._steps(i))]
        keyed = [_chunk_key(c, unknown_at, at_name) for c in self._chunks]
        self._chunk_get = [_key_getter(at) for at in keyed]
        self._row = base + 2 * len(names)  # the row's length: the static pieces' positions start after it
        # What each fact's and chunk's patterns are made of, as data: equal in two programs, their memos
        # are one (:class:`PatternMemos`).
        fact_sigs = [self._fact_sig(i) for i in range(len(self.facts))]
        step_sigs = [[self._step_sig(step) for step in c] for c in self._chunks]
        self._sigs = [
            *(("F", at, *[fact_sigs[i] for i in group]) for at, group in zip(group_keys, self._groups, strict=True)),
            *((at, *sigs) for at, sigs in zip(keyed, step_sigs, strict=True)),
        ]
        # Each fragment's name in the process's table of fragments (:attr:`_Numbering.fragments`): what it
        # is rendered from, without where its outcome is read (a fact's ``unknown_at``, a step's node).
        with _MAKING:
            self._fact_ids = [_fragment_id(("f", *sig[2:])) for sig in fact_sigs]
            self._step_ids = [
                [_fragment_id(sig if sig[0] == ")" or sig[0] == "E" else (sig[0], *sig[2:])) for sig in sigs]
                for sigs in step_sigs
            ]
        self._gen = _Patterns(self._memos, self._sigs, len(self._groups), self._row)

    def _fact_sig(self, i: int) -> tuple[Any, ...]:
        """Everything fact ``i``'s patterns are made of (see :meth:`_step_sig`): where its key is cut
        from the row of keys, and its two fragments — its head, and its end known and unknown."""
        return ("f", self._unknown_at[self.facts[i][0]], *map(tuple, self._fact_parts(i)))

    def _fact_part(self, i: int, k: int) -> list[str | int]:
        """Fact ``i``'s fragment ``k`` of :meth:`_fact_parts` (rendered only when a generation first meets it)."""
        return self._fact_parts(i)[k]

    def _fact_parts(self, i: int) -> tuple[list[str | int], list[str | int], list[str | int]]:
        """Fact ``i``'s fragments, rendered: its head (its name, labels and substituted formula, with
        holes), its end when known, its end when unknown (a hole for its settling paths)."""
        index, template, name, parts = self.facts[i]
        head: list[str | int] = [("," if i else "") + parts[0] + '"']  # the separator kept with the text
        if template is None:
            head.append(self._sub_at[index])
        else:  # escaping is per character: a formula's text is its escaped pieces side by side
            head += [_encode_str(x)[1:-1] if isinstance(x, str) else self._sub_at[x] for x in template]
        head += ['"' + parts[1], self._text_at[index]]
        known: list[str | int] = [parts[2] + "true" + parts[3] + "[]" + parts[4]]
        return head, known, [parts[2] + "false" + parts[3], self._miss_at[name], parts[4]]

    def _step_sig(self, step: tuple[str, int, Any]) -> tuple[Any, ...]:
        """Everything a fragment of a rule's text is made of, as data: its tag and node, and its text
        rendered for every outcome of the node (a leaf: what :class:`_Leaf` renders from, positions
        included). Two chunks whose key getters and steps' signatures are equal render equal patterns
        for equal keys, so programs may share one memo of them (the programs of the bundled packs
        render nearly the same rules over nearly the same row: 8,905 chunks after 4,000 households, of
        ~3,800 distinct kinds)."""
        tag, k, render = step
        if tag == "l":
            return (tag, k, render.signature(self._unknown_at))
        if tag == ")" or tag == "E":  # the same text whatever the outcomes (and keyed by none)
            return (tag, *render())
        return (tag, k, *(tuple(render(o)) for o in (True, False, UNKNOWN)))

    def start_over(self) -> None:
        """Start a new generation with the process's numbering of static pieces as it is then (one under
        way finishes with the one it read), and that numbering's fragments. The patterns are forgotten
        when the numbering is new; within one numbering they stay valid, and the memos of them are the
        ones the other programs share (:class:`PatternMemos`)."""
        self._gen = _Patterns(self._memos, self._sigs, len(self._groups), self._row)

    def _renew(self, gen: _Patterns) -> _Patterns:
        """The generation to use now that ``gen``'s numbering is no longer the process's: a new one
        (made once, by whichever household notices first)."""
        with _MAKING:
            if self._gen is gen:
                self.start_over()
            return self._gen

    def forget_patterns(self) -> None:
        """Forget the patterns — what the engine's pattern budget counts (``Engine._full_keep``) — but keep
        the rendered fragments and their static pieces, so the patterns are made again from them at the
        cost of a few dict lookups per node, not rendered again. The fragments are bounded on their own:
        a generation whose static pieces pass :data:`_STATICS_SIZE` starts over whole."""
        gen = self._gen
        for memo in (*gen.facts, *gen.rules):
            memo.clear()

    def forget_models(self) -> None:
        """Forget every kept model (``trace_model``). The engine calls it when its model budget is spent:
        without a budget a long ``evaluate --trace full`` run kept some 256 models per rule of every
        program it met (3 GiB by 8,000 mixed households, still rising)."""
        for memo in (*self.fact_models, *self.rule_models):
            memo.clear()

    def _fact_pattern(self, gen: _Patterns, g: int, krow: list[Any]) -> _Pattern:
        """Fact group ``g``'s pattern for this household's combination (kept in its memo): each fact's two
        fragments (see :meth:`_chunk_pattern`) in order — its name, labels and substituted formula with
        holes, and its end, which depends on whether it is known (its settling paths are a hole).

        Why groups (session 21): a fact's text depends on the household, besides its holes, only through
        whether it is known, and the facts of a program are known or unknown together much of the time:
        over 2,000 fresh bundled households, groups of 16 met 0.25 new combinations per household against
        0.14 for single facts, and a household cuts 6 patterns for its ~95 facts instead of 95 (one memo,
        one key and one ``itemgetter`` call each, in memory other programs' households left)."""
        at: list[int] = []
        with _MAKING:  # fragments and their static pieces are numbered one by one
            for i in self._groups[g]:
                known = krow[self._unknown_at[self.facts[i][0]]] is False
                fid = self._fact_ids[i]
                at += self._fragment(gen, ("f", fid), partial(self._fact_part, i, 0))
                at += self._fragment(gen, ("t", fid, known), partial(self._fact_part, i, 1 if known else 2))
            got = gen.numbering.getter(tuple(at))  # a hole and its end at least: always a tuple
            if len(gen.statics) >= _STATICS_SIZE:
                _renumber(gen.numbering)
        self.keep(gen.facts[g], self._group_get[g](krow), got, _PATTERN_MEMO_SIZE)
        return got

    def _chunk_pattern(
        self, gen: _Patterns, c: int, krow: list[Any], nodes: tuple[Any, ...], unknown: dict[str, tuple[str, ...]]
    ) -> _Pattern:
        """Chunk ``c``'s pattern for this household's combination (kept in its memo): the text
        :class:`Expander`'s data is written as, with a hole wherever a value is shown.

        Why chunks, and why fragments: a long rule's combinations of node outcomes are many (keyed whole,
        some nine rules in a hundred met a new one on households never seen before), so a rule's text is
        cut into chunks of a few nodes (:func:`_chunked`), each keyed by its own nodes only; and a new
        combination re-renders nothing: each node's text depends only on its own outcome (a leaf's also
        on the settling paths it lists), so it is rendered once per such *fragment* (:meth:`_fragment`,
        kept in ``gen`` with its static pieces numbered) and a chunk's pattern is the positions of its
        nodes' fragments laid end to end — a dict lookup per node."""
        unknown_at = self._unknown_at
        frags = gen.fragments
        with _MAKING:  # fragments and their static pieces are numbered one by one
            at: list[int] = []
            for (tag, k, render), fid in zip(self._chunks[c], self._step_ids[c], strict=True):
                if tag == "l":  # a leaf: its outcome and, when unknown, the settling paths it lists
                    outcome = nodes[k]
                    key: tuple[Any, ...] = (fid, outcome, ())
                    if outcome is UNKNOWN:
                        key = (fid, outcome, render.missing(krow, unknown_at, unknown))
                elif tag == ")" or tag == "E":  # the end of a group or of the rule: the same for all
                    key = (fid,)
                else:
                    key = (fid, nodes[k])
                got = frags.get(key)
                if got is None:
                    got = self._fragment(gen, key, partial(render, *key[1:]))
                at += got
            if len(at) < 2:  # an itemgetter of one position gives the item, not a tuple
                at.append(gen.static(""))
            pattern = gen.numbering.getter(tuple(at))
            if len(gen.statics) >= _STATICS_SIZE:
                _renumber(gen.numbering)
        self.keep(gen.rules[c], self._chunk_get[c](krow), pattern, _PATTERN_MEMO_SIZE)
        return pattern

    def _steps(self, i: int) -> list[tuple[str, int, Any]]:
        """Rule ``i``'s fragments in text order, as ``(tag, node or rule, render)``: the rule's head
        (``R``, by the rule's outcome), a group's opening (``(``, by its outcome) and end (``)``), a rule
        reference (``r``, by its outcome), a leaf (``l``, by its outcome and the settling paths it lists),
        the rule's end (``E``). ``render`` gives a fragment's pieces from what keys it; a leaf's, called
        is a :class:`_Leaf`, which also works out those paths."""
        parts, root, plan = self.rules[i]
        text_at = self._text_at
        head = ("," if i else "") + parts[0] + '"'
        steps: list[tuple[str, int, Any]] = [("R", root, lambda o: [head + _RULE_OUTCOME_OF[o] + '"' + parts[1]])]

        def walk(plan: tuple[Any, ...], lead: str) -> None:
            kind, k, parts = plan[0], plan[1], plan[2]
            if kind == "group":
                steps.append(("(", k, lambda o: [lead + parts[0] + _quoted(o) + parts[1] + "["]))
                for j, child in enumerate(plan[3]):
                    walk(child, "," if j else "")
                steps.append((")", k, lambda: ["]" + parts[2]]))
            elif kind == "rule":
                steps.append(("r", k, lambda o: [lead + parts[0] + _quoted(o) + parts[1]]))
            else:
                steps.append(("l", k, _Leaf(plan, lead, text_at, self._leaf_miss_at)))

        walk(plan, "")
        steps.append(("E", i, lambda: [parts[2]]))
        return steps

    def _missing_texts(self, missing: dict[str, list[str]], unknown: dict[str, tuple[str, ...]]) -> list[str]:
        """Per fact (in ``_names`` order) its settling paths' JSON text as the fact shows them, then as a
        leaf reading it shows them (sorted, once each: the same text when, as the engine makes them,
        they already are) — "[]" for a fact without any. Made once per :class:`SettledPaths`."""
        cached = missing.texts if type(missing) is SettledPaths else None
        if cached is not None and cached[0] is self._names:
            return cached[1]
        n, at = len(self._names), self._name_at
        texts = ["[]"] * (2 * n)
        kept = _PATH_TEXTS
        for name, paths in unknown.items():
            k = at.get(name)
            if k is not None and paths:
                got = kept.get(paths)
                if got is None:
                    got = _paths_texts(paths)
                    _keep_bounded(kept, paths, got, _KEPT_TEXTS)
                texts[k], texts[n + k] = got
        if type(missing) is SettledPaths:
            missing.texts = (self._names, texts)
        return texts

    @staticmethod
    def _fragment(gen: _Patterns, key: tuple[Any, ...], render: Callable[[], list[str | int]]) -> tuple[int, ...]:
        """The positions a fragment of a rule's text cuts — its static pieces (adjacent ones merged,
        numbered in ``gen``) and its holes — rendered by ``render`` the first time ``key`` is met in this
        numbering, by any program (the caller holds the lock)."""
        got = gen.fragments.get(key)
        if got is None:
            at: list[int] = []
            run: list[str] = []
            for piece in render():
                if isinstance(piece, str):
                    run.append(piece)
                    continue
                if run:
                    at.append(gen.static("".join(run)))
                    run.clear()
                at.append(piece)
            if run:
                at.append(gen.static("".join(run)))
            if len(gen.fragments) >= _FRAGMENTS_SIZE:  # rendered again when met again: positions stay valid
                gen.fragments.clear()
            got = gen.fragments[key] = tuple(at)
        return got

    @staticmethod
    def _keys(h: _Shown) -> list[Any]:
        """Each value as a memo key: ``1``, ``True`` and ``Decimal("1.0")`` are equal keys of a dict but
        are written differently, so every value that is not a str or an int is keyed with its type (a
        decimal by its digits, a list as a tuple)."""
        u = UNKNOWN
        return [
            v if (c := v.__class__) is str or c is int or v is u else _BOOL_KEY[v] if c is bool else _typed_key(v)
            for v in h.given
        ]

    @staticmethod
    def _unknown(h: _Shown) -> dict[str, tuple[str, ...]]:
        """The settling paths of the unknown facts, as memo keys (made once if they come as
        :class:`SettledPaths`)."""
        if type(h.missing) is SettledPaths:
            return h.missing.keyed
        return {k: tuple(v) for k, v in h.missing.items()} if h.missing else {}

    def _renderer(
        self,
        fact_memo: list[dict[Any, Any]],
        rule_memo: list[dict[Any, Any]],
        sf: Callable[[int, Any, _Shown], Any],
        sr: Callable[[int, Any, _Shown], Any],
    ) -> Callable[..., tuple[list[Any], list[Any]]]:
        """A function that gives every fact's and every rule's model (two lists) from its memo, building
        only what is not there: ``fact_memo`` / ``rule_memo`` and the builders of a miss ``sf`` / ``sr``
        (:meth:`_fact_model`, :meth:`_rule_model`). (The texts have their own patterns: :meth:`_pieces`.)

        Why it is built this way: with warm memos a full trace is some two hundred memo lookups, and the
        per-household cost is making their keys. So a household's node outcomes, the settling paths of
        its facts and its value keys are laid side by side in one list, once, and each fact's and rule's
        key is cut from that list by an ``itemgetter`` made here — every key made and looked up in C
        (``map``), no Python line per rule. A key is the same tuple of items as before (a rule's node
        outcomes, the value keys its leaves show, its facts' settling paths; a fact's value keys and its
        own settling paths), so what a memo holds, and its bound, are unchanged."""
        n_nodes = int(self.m["nodes"])
        names = sorted(
            {self.facts[i][2] for i in range(len(self.facts))} | {f for *_, read in self.rule_keys for f in read}
        )
        at_name = {name: n_nodes + k for k, name in enumerate(names)}
        k0 = n_nodes + len(names)  # where the value keys start
        fact_get = [
            itemgetter(*[k0 + s for s in slots], at_name[self.facts[i][2]]) for i, slots in enumerate(self.fact_keys)
        ]
        rule_get = [
            itemgetter(*range(lo, hi), *[k0 + s for s in slots], *[at_name[f] for f in read])
            for lo, hi, slots, read in self.rule_keys
        ]

        def render(keys: list[Any], nodes: tuple[Any, ...], unknown: dict[str, Any], h: _Shown) -> Any:
            if len(nodes) != n_nodes:
                raise ValueError(f"the compact trace has {len(nodes)} condition nodes, its manifest {n_nodes}")
            row = [*nodes, *map(unknown.get, names), *keys]
            fk = list(map(_CALL, fact_get, repeat(row)))
            facts = list(map(dict.get, fact_memo, fk))
            if not all(facts):
                facts = [t or sf(i, fk[i], h) for i, t in enumerate(facts)]
            rk = list(map(_CALL, rule_get, repeat(row)))
            rules = list(map(dict.get, rule_memo, rk))
            if not all(rules):
                rules = [t or sr(i, rk[i], h) for i, t in enumerate(rules)]
            return facts, rules

        return render

    # ------------------------------------------------------------------------------ as models

    def trace_model(
        self, values: Any, nodes: tuple[Any, ...], missing: dict[str, list[str]], engines: list[str], digest: str
    ) -> Trace:
        """The full trace as the :class:`~eligibility.decision.Trace` model — what validating
        :class:`Expander`'s data gives — from the engine's own values and outcomes (as :meth:`trace_pieces`).

        Each fact's and each rule's model is frozen, so one object serves every household with the same
        memo key (built once, when first seen, see :meth:`_rule_model`); the trace itself is assembled
        without validation. A rule's model depends on its nodes' outcomes, the values its leaves show
        and its facts' settling paths, and is keyed by all three (:meth:`_renderer`)."""
        render = self._model_render
        if render is None:
            self.fact_models = [{} for _ in self.facts]
            self.rule_models = [{} for _ in self.rules]
            render = self._model_render = self._renderer(
                self.fact_models, self.rule_models, self._fact_model, self._rule_model
            )
        h = _Shown(values, nodes, missing, None)
        try:
            facts, rules = render(self._keys(h), nodes, self._unknown(h), h)
        except TypeError:  # a value that cannot be a memo key: this household is built without the memo
            facts = [self._fact_model(i, None, h) for i in range(len(self.facts))]
            rules = [self._rule_model(i, None, h) for i in range(len(self.rules))]
        static = self._static
        if static is None:
            m = self.m
            empty = {"engine_version": "", "engines": [], "ruleset_fingerprint": "", "input_digest": "", "facts": []}
            static = self._static = Trace.model_validate(
                {**empty, "pack_chain": m["pack_chain"], "rules": [], "skipped": m["skipped"], "sources": m["sources"]}
            ).__dict__
        return raw(
            Trace,
            {
                "engine_version": self.m["engine_version"],
                "engines": tuple(engines),
                "pack_chain": static["pack_chain"],
                "ruleset_fingerprint": self.m["ruleset_fingerprint"],
                "input_digest": digest,
                "facts": tuple(facts),
                "rules": tuple(rules),
                "skipped": static["skipped"],
                "sources": dict(static["sources"]),  # a dict is not frozen: each trace its own
            },
            set(_TRACE_FIELDS),
        )

    def _data(self) -> Expander:
        got = self._expander
        if got is None:
            got = self._expander = Expander(self.m)
        return got

    def _fact_model(self, i: int, key: Any, h: _Shown) -> FactTrace:
        """Fact ``i``'s model, built from its data as validating it would (and kept under ``key`` while
        its memo has room)."""
        data = self._data().fact_data(i, h.values(), h.missing)
        data["missing"] = tuple(data["missing"])
        got = raw(FactTrace, data, set(_FACT_FIELDS))
        if key is not None:  # counted against the engine's model budget: models hold a household's values
            self.model_keep(self.fact_models[i], key, got, _MEMO_SIZE)
        return got

    def _rule_model(self, i: int, key: Any, h: _Shown) -> RuleTrace:
        """Rule ``i``'s model, built from its data as validating it would (and kept under ``key`` while
        its memo has room).

        Why not ``model_validate``: a rule's model holds the values its leaves show, so a household
        never seen before misses this memo on most rules, and validating some hundred nested models
        per household made ``evaluate(trace="full")`` ten times slower than the text. What validation
        changes in the data — the dated, cited parts, the same for every household — is validated once
        per rule and node (:meth:`_model_statics`); the rest (strings, outcomes, the JSON values of
        ``actual`` / ``expected``, which the models keep as given) is placed as it is, lists as tuples.
        ``tests/test_full_trace_memo.py`` checks the result equals the validated one, fields set included."""
        data = self._data().rule_data(i, h.values(), h.nodes, _OUTCOME_OF, _RULE_OUTCOME_OF, h.missing)
        fixed, sources = self._model_statics(i)
        plan = self._data().rules[i][2]

        def cond(d: dict[str, Any], plan: tuple[Any, ...]) -> ConditionTrace:
            d["sources"] = sources[plan[1]]
            d["missing"] = tuple(d["missing"])
            if plan[0] == "group":
                d["children"] = tuple(map(cond, d["children"], plan[3]))
            else:
                d["children"] = ()
            return raw(ConditionTrace, d, set(_CONDITION_FIELDS))

        data.update(fixed)
        data["condition"] = cond(data["condition"], plan)
        got = raw(RuleTrace, data, set(_RULE_FIELDS))
        if key is not None:
            self.model_keep(self.rule_models[i], key, got, _MEMO_SIZE)
        return got

    def _model_statics(self, i: int) -> tuple[dict[str, Any], dict[int, tuple[ExpectedSource, ...]]]:
        """Rule ``i``'s fields that validation converts (dates, citations, conclusions) and each node's
        sources, validated once (then read only)."""
        got = self._statics.get(i)
        if got is None:
            r = self.m["rules"][i]
            dates, citations, condition_sources = _adapters()
            fixed = {
                "version_from": dates.validate_python(r["version_from"]),
                "version_until": None if r["version_until"] is None else dates.validate_python(r["version_until"]),
                "citations": citations.validate_python(r["citations"]),
                "conclusions": tuple(r["conclusions"]),
            }
            sources: dict[int, tuple[ExpectedSource, ...]] = {}

            def walk(n: dict[str, Any]) -> None:
                sources[n["i"]] = condition_sources.validate_python(n.get("sources", ()))
                for k in n.get("children", ()):
                    walk(k)

            walk(r["condition"])
            got = self._statics[i] = (fixed, sources)
        return got

    def pieces(self, engines: list[str], digest: str, facts: Iterable[str], rules: Iterable[str]) -> list[str]:
        """The trace's text as pieces to join once (the fact and rule texts are not copied into
        intermediate strings: a full trace is tens of kilobytes)."""
        p = self.trace_parts
        return [p[0], _enc(engines), p[1], _encode_str(digest), p[2], "[", *facts, "]", p[3], "[", *rules, "]", p[4]]


Keep = Callable[[dict[Any, Any], Any, Any, int], None]
"""How a text expander stores a pattern: ``keep(memo, key, pattern, size)`` — the engine passes its own
``Engine._keep`` (bounded, counted against its budgets); alone, :func:`_keep_bounded`."""


def _keep_bounded(memo: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    """Store ``value``; a memo holding ``size`` entries starts over first (so it never holds more)."""
    if len(memo) >= size:
        memo.clear()
    memo[key] = value


_Pattern = Callable[[list[str]], tuple[str, ...]]
"""A fact's or rule's text for one combination: what cuts its pieces, in text order, from a household's
row of value texts followed by the static pieces (an ``itemgetter``)."""


class _Numbering:
    """The static pieces of every text expander in the process, numbered once: a piece's position is the
    same in every program's patterns, ``offset`` plus its number, after a row padded to ``offset``.

    Why: the bundled packs' 54 programs render nearly the same rules over nearly the same row layout
    (its length 445 or 449), so with each program numbering its own pieces after its own row, 58,000
    patterns kept after 4,000 households were only 3,805 distinct ones once numbered alike (session 20).
    Numbered alike, equal patterns are one ``itemgetter`` (:meth:`getter`) — one object, with its tuple
    of positions, where a fresh household of any program reads it — instead of up to 54 copies that a
    household of another program left out of the cache."""

    __slots__ = ("at", "fragments", "getters", "offset", "statics")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.statics: list[str] = []
        self.at: dict[str, int] = {}
        self.getters: dict[tuple[int, ...], _Pattern] = {}
        # Rendered fragments (``TextExpander._fragment``) by what they are rendered from — a fragment's
        # name (:func:`_fragment_id`) and its outcome (and a leaf's settling paths) — as positions in this
        # numbering, for every text expander of the process. Why shared (session 22): each program kept
        # its own, so a fresh household's new combination of a program rendered again, in Python, a
        # fragment that another of the 54 bundled programs had already rendered alike (a chunk's pattern
        # made in ~17 µs, ~2 a household after 600 warm households).
        self.fragments: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def static(self, text: str) -> int:
        """The position of a static piece (numbered the first time it is met; the caller holds
        :data:`_MAKING`).

        The piece kept is the one object of its text in the process (``sys.intern``), shared with every
        other use of the text. Why: the programs' pieces (some 49,000 when each program numbered its own,
        ~9.6 million characters, ~19 MB as the 2-byte text Chinese needs) hold only ~1,200 distinct texts
        (~250,000 characters); a fresh household's trace reads ~180,000 characters of static text — one
        copy of each text fits in the processor's cache, 54 copies do not (session 19)."""
        got = self.at.get(text)
        if got is None:
            text = sys.intern(text)
            got = self.at[text] = self.offset + len(self.statics)
            self.statics.append(text)
        return got

    def getter(self, at: tuple[int, ...]) -> _Pattern:
        """The one pattern (an ``itemgetter``) of the positions ``at`` in this numbering (the caller holds
        :data:`_MAKING`); at most :data:`_GETTERS_SIZE` are kept, then the table starts over (a pattern
        already handed out stays valid: its positions mean the same for as long as the numbering lives)."""
        return _getter(self.getters, at)


class PatternMemos:
    """The memos of patterns that the text expanders of one engine share (``Engine._text_expander``):
    one memo per kind of fact or chunk — what its patterns are made of (:meth:`TextExpander._step_sig`)
    — in the process's numbering of static pieces.

    Why: equal signatures make equal patterns for equal keys, and the bundled packs' 54 programs render
    nearly the same rules over nearly the same row (after 4,000 households: 14,035 fact and chunk memos
    of 2,159 kinds, 57,983 patterns of which 10,296 once shared), so a fresh household of one program
    finds its patterns in the memos, and in the cache, that households of the others left. Why per
    engine and not per process: every pattern stored here is counted by this engine's budget
    (``Engine._full_keep``), and its forgetting clears every memo here, so what the memos hold stays
    within that budget; an engine dropped takes its memos with it."""

    __slots__ = ("memos", "numbering")

    def __init__(self) -> None:
        self.numbering: _Numbering | None = None
        self.memos: dict[tuple[Any, ...], dict[Any, _Pattern]] = {}

    def of(self, numbering: _Numbering, sigs: list[tuple[Any, ...]]) -> list[dict[Any, _Pattern]]:
        """The memo of each signature in ``numbering`` (the caller holds :data:`_MAKING`): patterns are
        positions in one numbering, so a new numbering starts the memos afresh."""
        if self.numbering is not numbering:
            self.numbering, self.memos = numbering, {}
        memos = self.memos
        return [memos.setdefault(sig, {}) for sig in sigs]


_FRAGMENT_IDS: dict[tuple[Any, ...], int] = {}
_FRAGMENT_COUNT: Final = count()


def _fragment_id(sig: tuple[Any, ...]) -> int:
    """The name of a fragment rendered from ``sig`` (everything its text is rendered from, as data:
    :meth:`TextExpander._step_sig` without where its outcome is read) in the process's tables of
    fragments (:attr:`_Numbering.fragments`): equal signatures, one name, so the programs share what
    they render. A small int, so a fragment's key hashes fast. At most :data:`_GETTERS_SIZE` are kept,
    then the table starts over; a name is never handed out twice (a counter), so a fragment kept under
    an old name is never read for another signature (the caller holds :data:`_MAKING`)."""
    got = _FRAGMENT_IDS.get(sig)
    if got is None:
        if len(_FRAGMENT_IDS) >= _GETTERS_SIZE:
            _FRAGMENT_IDS.clear()
        got = _FRAGMENT_IDS[sig] = next(_FRAGMENT_COUNT)
    return got


_MAKING: Final = threading.RLock()
"""Held while patterns are made: fragments and static pieces are numbered one by one, in one numbering
shared by every text expander of the process (re-entrant: a generation made while it is held takes it
again to read the numbering)."""

_NUMBERING = _Numbering(0)
"""The process's numbering of static pieces now (:func:`_numbering`, :func:`_renumber`)."""


def _numbering(row: int) -> _Numbering:
    """The process's numbering, with room for a row of ``row`` items before its static pieces: a program
    whose row is longer than the offset starts a new numbering, its offset the next power of two (so it
    happens a few times at most; the caller holds :data:`_MAKING`)."""
    global _NUMBERING
    if _NUMBERING.offset < row:
        _NUMBERING = _Numbering(max(_NUMBERING.offset, 1 << max(row - 1, 0).bit_length()))
    return _NUMBERING


def _renumber(numbering: _Numbering) -> None:
    """Start a new numbering of static pieces in place of ``numbering`` (once it has numbered
    :data:`_STATICS_SIZE`; the caller holds :data:`_MAKING`): every text expander then starts a new
    generation on its next household, and one under way finishes with the numbering it read."""
    global _NUMBERING
    if _NUMBERING is numbering:
        _NUMBERING = _Numbering(numbering.offset)


class _Patterns:
    """One generation of a text expander's patterns: per fact and per rule a memo of patterns by
    combination, the rendered fragments, and the numbering of the static pieces they cut (the process's
    when the generation began: a household's row is padded to its offset, ``pad``)."""

    __slots__ = ("facts", "fragments", "numbering", "pad", "rules", "statics")

    def __init__(self, shared: PatternMemos, sigs: list[tuple[Any, ...]], n_facts: int, row: int) -> None:
        with _MAKING:
            self.numbering = _numbering(row)
            memos = shared.of(self.numbering, sigs)
        # The numbering's fragments, shared by every text expander of the process (see _Numbering).
        self.fragments: dict[tuple[Any, ...], tuple[int, ...]] = self.numbering.fragments
        self.facts: list[dict[Any, _Pattern]] = memos[:n_facts]
        self.rules: list[dict[Any, _Pattern]] = memos[n_facts:]
        self.statics = self.numbering.statics  # read per household: one attribute, not two
        self.pad = ("",) * (self.numbering.offset - row)

    def static(self, text: str) -> int:
        """The position of a static piece in this generation's numbering (:meth:`_Numbering.static`)."""
        return self.numbering.static(text)


_STATICS_SIZE: Final = 1 << 15
"""Static pieces a numbering holds before the process starts a new one (:func:`_renumber`)."""

_GETTERS_SIZE: Final = 1 << 16
"""Patterns a numbering keeps to hand out again (:meth:`_Numbering.getter`)."""


_FRAGMENTS_SIZE: Final = 1 << 17
"""Rendered fragments a numbering keeps (:attr:`_Numbering.fragments`) before it starts over."""

_FACT_GROUP: Final = 16
"""Facts per group of a program's facts' texts (:meth:`TextExpander._fact_pattern`)."""

_CHUNK_NODES: Final = 4
"""Condition nodes per chunk of a rule's text (:func:`_chunked`)."""


def _chunked(steps: list[tuple[str, int, Any]]) -> list[list[tuple[str, int, Any]]]:
    """A rule's fragments (:meth:`TextExpander._steps`) in chunks of at most :data:`_CHUNK_NODES` that
    depend on a node's outcome, each with the ends (``)``, ``E``) that follow it."""
    out: list[list[tuple[str, int, Any]]] = []
    n = _CHUNK_NODES
    for step in steps:
        if step[0] != ")" and step[0] != "E":
            if n == _CHUNK_NODES:
                out.append([])
                n = 0
            n += 1
        out[-1].append(step)
    return out


def _chunk_key(
    chunk: list[tuple[str, int, Any]], unknown_at: dict[int, int], at_name: dict[str, int]
) -> tuple[int, ...]:
    """Where a chunk's memo key is cut from a household's row of keys (:func:`_key_getter`): its nodes'
    outcomes, whether the values its leaves show are unknown, and the settling paths of the facts they
    read — all its text depends on."""
    nodes = [k for tag, k, _ in chunk if tag != ")" and tag != "E"]
    slots: set[int] = set()
    facts: set[str] = set()
    for tag, _, leaf in chunk:
        if tag == "l":
            slots.add(leaf.actual)
            slots.update(vi for vi, _ in leaf.expected if vi is not None)
            if leaf.simple:  # its settling paths are a hole: they key nothing
                continue
            if leaf.ref == "fact":
                facts.add(leaf.subject)
            facts.update(r[1] for r in leaf.refs if r is not None and r[0] == "fact")
    return (*nodes, *[unknown_at[s] for s in sorted(slots)], *[at_name[f] for f in sorted(facts)])


def _key_getter(at: tuple[int, ...]) -> Callable[[list[Any]], Any]:
    """The one ``itemgetter`` of the positions ``at`` in the process (a chunk's key getter; the bundled
    packs' 54 programs have 8,905 chunks but only ~1,200 distinct key getters): a fresh household of one
    program reads the getters another program's household left in the cache. At most
    :data:`_GETTERS_SIZE` are kept (then the table starts over; getters handed out stay as they are)."""
    return _getter(_KEY_GETTERS, at)


_KEY_GETTERS: dict[tuple[int, ...], Callable[[list[Any]], Any]] = {}


_G = TypeVar("_G")


def _getter(table: dict[tuple[int, ...], _G], at: tuple[int, ...]) -> _G:
    """The ``itemgetter`` of positions ``at`` kept in ``table``, made on a miss; a table of
    :data:`_GETTERS_SIZE` starts over (getters handed out stay as they are)."""
    got = table.get(at)
    if got is None:
        if len(table) >= _GETTERS_SIZE:
            table.clear()
        got = table[at] = cast(_G, itemgetter(*at))
    return got


class _Leaf:
    """A condition leaf's fragment of a rule's text (see :meth:`TextExpander._chunk_pattern`): rendered as
    :func:`_leaf_shown` writes it, with a hole for each value shown — and, for a leaf that reads one fact
    and compares it with constants (``simple``), a hole for that fact's settling paths."""

    __slots__ = (
        "actual",
        "consts",
        "expected",
        "lead",
        "miss_at",
        "parts",
        "ref",
        "refs",
        "simple",
        "subject",
        "text_at",
    )

    def __init__(self, plan: tuple[Any, ...], lead: str, text_at: dict[int, int], miss_at: dict[str, int]) -> None:
        _, _, self.parts, self.actual, self.expected, self.refs, self.ref, self.subject = plan
        self.lead, self.text_at = lead, text_at
        self.simple = self.ref == "fact" and all(
            r is None or vi is None for r, (vi, _) in zip(self.refs, self.expected, strict=True)
        )
        self.miss_at = miss_at.get(self.subject, -1) if self.simple else -1
        self.consts: list[str] | None = None  # the expected constants' texts, written once (some are long lists)

    def signature(self, unknown_at: dict[int, int]) -> tuple[Any, ...]:
        """Everything this leaf's fragment is made of (see :meth:`TextExpander._step_sig`): its static
        text, the row positions of the values it shows and of its settling paths, the positions in the
        row of keys where :meth:`missing` reads whether they are unknown, its constants' texts, and the
        names whose settling paths it lists."""
        consts = self._consts()
        shown = tuple(
            (None, None, consts[j]) if vi is None else (self.text_at[vi], unknown_at[vi], "")
            for j, (vi, _) in enumerate(self.expected)
        )
        actual = (self.text_at[self.actual], unknown_at[self.actual])
        return (self.lead, *self.parts, actual, shown, self.simple, self.miss_at, self.ref, self.subject, *self.refs)

    def _consts(self) -> list[str]:
        """The expected constants' texts (written once: some are long lists)."""
        consts = self.consts
        if consts is None:
            consts = self.consts = [_enc(c) if vi is None else "" for vi, c in self.expected]
        return consts

    def missing(self, krow: list[Any], unknown_at: dict[int, int], unknown: dict[str, tuple[str, ...]]) -> Any:
        """What an unknown leaf's settling paths depend on: for a simple leaf whether its fact is unknown
        (its paths are then the hole, :data:`_HOLE`); else the paths themselves — those of what it reads
        whose value is unknown."""
        if self.simple:
            return _HOLE if krow[unknown_at[self.actual]] else ()
        paths = self._of(self.ref, self.subject, unknown) if krow[unknown_at[self.actual]] else []
        for r, (vi, _) in zip(self.refs, self.expected, strict=True):
            if r is not None and vi is not None and krow[unknown_at[vi]]:
                paths += self._of(r[0], r[1], unknown)
        return tuple(sorted(set(paths)))

    @staticmethod
    def _of(kind: str, name: str, unknown: dict[str, tuple[str, ...]]) -> list[str]:
        if kind == "fact":
            return list(unknown.get(name, ()))
        return [f"$.{name}"] if CATALOGUE.get(name) is not None else []

    def __call__(self, outcome: Any, missing: Any) -> list[str | int]:
        parts, expected, text_at = self.parts, self.expected, self.text_at
        consts = self._consts()
        out: list[str | int] = [self.lead + parts[0] + _quoted(outcome) + parts[1], text_at[self.actual]]
        out.append(parts[2] + ("[" if len(expected) != 1 else ""))
        for j, (vi, _) in enumerate(expected):
            if j:
                out.append(",")
            out.append(consts[j] if vi is None else text_at[vi])
        out.append(("]" if len(expected) != 1 else "") + parts[3])
        if missing is _HOLE:
            out += [self.miss_at, parts[4]]
        else:
            out.append(_enc(list(missing)) + parts[4])
        return out


_HOLE: Final = ("hole",)
"""A simple leaf's settling paths, when its fact is unknown: a hole filled from the row (see :class:`_Leaf`)."""


def _quoted(outcome: Any) -> str:
    """A condition node's outcome as its JSON text (``"true"``, ``"false"``, ``"unknown"``)."""
    return '"' + _OUTCOME_OF[outcome] + '"'


_flat: Final = chain.from_iterable
_eq: Final = operator.eq
"""Whether a value's text is ``"null"`` (its unknown flag in the row of keys). ``operator.eq`` is called
by vectorcall; ``str.__eq__``, a slot wrapper, made and sliced an argument tuple per value (session 22)."""


def _value_text(v: Any) -> str:
    """A value's JSON text as the full trace shows it — ``_enc(json_value(as_read(v)))``, with the
    common types written directly, and a decimal's or a date's text kept (:data:`_VALUE_TEXTS`)."""
    if v is UNKNOWN:  # the commonest (some 40 % of the values a bundled trace shows), then bools
        return "null"
    c = v.__class__
    if c is bool:
        return "true" if v else "false"
    if c is date or c is Decimal:  # then dates and decimals (12 %, 7 %): kept (:data:`_VALUE_TEXTS`), without a call
        try:
            got = _VALUE_TEXTS.get(v)
        except TypeError:  # a signalling NaN
            return _value_text_of(v)
        if got is None:
            got = _value_text_of(v)
            _keep_bounded(_VALUE_TEXTS, v, got, _KEPT_TEXTS)
        return got
    if c is int:
        return repr(v)  # int's own repr (c is int): ``int.__repr__(v)``, a slot wrapper, made an argument tuple
    if c is str:
        return _encode_str(v)
    return _value_text_of(v)


def _value_text_of(v: Any) -> str:
    return _enc(json_value(as_read(v)))


def _sub_text(v: Any) -> str:
    """A value as a fact's substituted formula shows it, escaped for inside a JSON string — the
    characters ``_encode_str(format_value(as_read(v)))`` writes between its quotes (the escaping is
    per character, so a formula's text is its escaped pieces side by side)."""
    if v is UNKNOWN:
        return "未知"
    c = v.__class__
    if c is bool:
        return "是" if v else "否"
    if c is Decimal or c is date:  # kept (:data:`_SUB_TEXTS`), without a call (a quarter of the formula numbers)
        try:
            got = _SUB_TEXTS.get(v)
        except TypeError:  # a signalling NaN
            return _sub_text_of(v)
        if got is None:
            got = _sub_text_of(v)
            _keep_bounded(_SUB_TEXTS, v, got, _KEPT_TEXTS)
        return got
    if c is int:
        return repr(v)
    if c is str:
        return _encode_str(v)[1:-1]
    return _sub_text_of(v)


def _sub_text_of(v: Any) -> str:
    return _encode_str(format_value(as_read(v)))[1:-1]


_KEPT_TEXTS: Final = 1 << 16
_VALUE_TEXTS: dict[Any, str] = {}
"""A decimal's or a date's JSON text (and in ``_SUB_TEXTS`` its formula text), kept by value
(:func:`_value_text`, :func:`_sub_text`): households share amounts, lines and dates (the day assessed, a
pack's dates), and writing a decimal's text — integral or not, then rounded or not — cost about a third of
a full trace's text. Kept by value because both texts depend on the value only (``1.5`` and ``1.50`` show
alike: the JSON as a double, the formula rounded to cents and normalised); a decimal that cannot be a key
(a signalling NaN) is written each time. Each table starts over when it holds :data:`_KEPT_TEXTS`
entries."""
_SUB_TEXTS: dict[Any, str] = {}
_PATH_TEXTS: dict[tuple[str, ...], tuple[str, str]] = {}
"""A fact's settling paths (a tuple) → their two texts (:func:`_paths_texts`), kept like the value texts."""


def _paths_texts(paths: tuple[str, ...]) -> tuple[str, str]:
    """One fact's settling paths as the fact shows them (in their order) and as a leaf reading the fact
    shows them (sorted, once each: the same text when, as the engine makes them, they already are).

    Kept by the paths (:data:`_PATH_TEXTS`, from :meth:`TextExpander._missing_texts`) because a fresh
    household's answer is new as a whole (its :class:`SettledPaths` is then new too) but each fact's paths
    are few and shared — ``("$.circumstances.accident",)``, a member's field by index — and writing them
    (escaping, a sort, a set) for ~25 unknown facts was ~35 µs of a fresh household's full trace."""
    text = "[" + ",".join(map(_encode_str, paths)) + "]"
    ordered = sorted(set(paths))
    same = len(ordered) == len(paths) and all(map(str.__eq__, ordered, paths))
    return text, text if same else "[" + ",".join(map(_encode_str, ordered)) + "]"


_CALL: Final[Callable[[Any, Any], Any]] = getattr(operator, "call", itemgetter.__call__)
"""``_CALL(g, x)`` is ``g(x)`` for an ``itemgetter`` ``g``: what ``map`` applies to cut every memo key
and every pattern's pieces from one household's row (:meth:`TextExpander._pieces`, ``_renderer``).

Why ``operator.call`` where there is one (Python 3.11+): it calls the getter by vectorcall, where the
slot wrapper ``itemgetter.__call__`` (the only way on 3.10) goes through ``tp_call`` with an argument
tuple made, sliced and freed per call — ~350 calls a full trace (session 22: the chunk keys of 200
fresh bundled households, 15.9 → 11.4 µs a household in one process, three alternations)."""

_BOOL_KEY: Final[dict[bool, tuple[type, bool]]] = {True: (bool, True), False: (bool, False)}
"""A bool's memo key (see :meth:`TextExpander._keys`), one shared object each: a memo key compares its
items by identity first, so a stored key's shared items are not read again."""

_PLAIN: Final = frozenset({str, int, bool})
"""Types whose values read back from the compact JSON as they are (see :func:`as_read`)."""
_NODE_OF_CHAR: Final[dict[str, Any]] = {"1": True, "0": False, "?": UNKNOWN}
_OUTCOME_OF: Final[dict[Any, str]] = {True: "true", False: "false", UNKNOWN: "unknown"}
_RULE_OUTCOME_OF: Final[dict[Any, str]] = {True: "fired", False: "not_fired", UNKNOWN: "unknown"}
_READ_AS: dict[type, Callable[[Any], Any]] = {}


def as_read(v: Any) -> Any:
    """An engine value as it reads back from its compact JSON form (``decode_value(encode_value(v))``),
    by a converter chosen once per type: most values (str, int, bool, unknown) are kept as they are."""
    c = v.__class__
    if c in _PLAIN or v is UNKNOWN:
        return v
    f = _READ_AS.get(c)
    if f is None:
        if issubclass(c, Decimal):
            f = _decimal_as_read
        elif issubclass(c, date):
            f = c.isoformat
        elif issubclass(c, bool | int | str):  # an enum member: written and read as itself
            f = _same
        else:
            f = _round_trip
        _READ_AS[c] = f
    return f(v)


def _decimal_as_read(v: Decimal) -> Any:
    return int(v) if v == v.to_integral_value() else v


def _same(v: Any) -> Any:
    return v


def _round_trip(v: Any) -> Any:
    return decode_value(encode_value(v))


def _typed_key(v: Any) -> Any:
    """A value other than a str, an int or a bool as a memo key: with its type; a decimal by its digits
    (``1.50`` and ``1.5`` are equal but show differently in a formula), a list as a tuple."""
    c = v.__class__
    if c is list:
        return (list, tuple(v))
    if c is Decimal:
        return (Decimal, str(v))
    return (c, v)


class _Shown:
    """One household's compact trace as the text expander reads it: the values it was given (the
    engine's own, or read from JSON data), the node outcomes, the settling paths of unknown facts; the
    values as the full trace shows them are worked out only if a text has to be rendered."""

    __slots__ = ("_values", "given", "missing", "nodes")

    def __init__(
        self, given: Any, nodes: tuple[Any, ...], missing: dict[str, list[str]], values: list[Any] | None
    ) -> None:
        self.given, self.nodes, self.missing, self._values = given, nodes, missing, values

    def values(self) -> list[Any]:
        got = self._values
        if got is None:
            u = UNKNOWN
            got = self._values = [v if v.__class__ in _PLAIN or v is u else as_read(v) for v in self.given]
        return got


_MEMO_SIZE = 256
_PATTERN_MEMO_SIZE = 4096
"""Rendered texts (and models) kept per rule or fact of a manifest (see :class:`TextExpander`)."""
_TRACE_FIELDS: Final = tuple(Trace.model_fields)
_FACT_FIELDS: Final = tuple(FactTrace.model_fields)
_RULE_FIELDS: Final = tuple(RuleTrace.model_fields)
_CONDITION_FIELDS: Final = tuple(ConditionTrace.model_fields)


@cache
def _adapters() -> tuple[TypeAdapter[date], TypeAdapter[tuple[Citation, ...]], TypeAdapter[tuple[ExpectedSource, ...]]]:
    """The validators of a rule model's dates, citations and condition sources, made on first need: only a
    full trace's models use them, and made at import they built the schemas of ``Citation`` and
    ``ExpectedSource`` in every new process (session 18, cold)."""
    return TypeAdapter(date), TypeAdapter(tuple[Citation, ...]), TypeAdapter(tuple[ExpectedSource, ...])


def value_getter(indices: list[int]) -> Callable[[Any], tuple[Any, ...]]:
    """``lambda xs: tuple(xs[i] for i in indices)``, at C speed where it can be."""
    if not indices:
        return lambda xs: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda xs: (xs[i],)
    return itemgetter(*indices)


def _rule_key_parts(plan: tuple[Any, ...]) -> tuple[int, int, list[int], tuple[str, ...]]:
    """For a rule's condition plan: the range of its node indices (a rule's nodes are numbered
    consecutively), the value slots its leaves show and the facts whose settling paths they may list."""
    nodes: list[int] = []
    slots: set[int] = set()
    facts: set[str] = set()

    def walk(p: tuple[Any, ...]) -> None:
        nodes.append(p[1])
        if p[0] == "group":
            for k in p[3]:
                walk(k)
        elif p[0] == "leaf":
            _, _, _, actual_i, expected, refs, ref, subject = p
            slots.add(actual_i)
            slots.update(vi for vi, _ in expected if vi is not None)
            if ref == "fact":
                facts.add(subject)
            facts.update(r[1] for r in refs if r is not None and r[0] == "fact")

    walk(plan)
    lo, hi = min(nodes), max(nodes) + 1
    if hi - lo != len(nodes):  # pragma: no cover - the compiler numbers a rule's nodes consecutively
        raise AssertionError(f"condition nodes not consecutive: {sorted(nodes)}")
    return lo, hi, sorted(slots), tuple(sorted(facts))
