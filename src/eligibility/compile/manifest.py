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
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from json.encoder import encode_basestring as _json_encode_basestring
from operator import itemgetter
from typing import Any

from .. import __version__
from ..conditions import AtLeast, Group, Leaf, Negation, RuleRef
from ..expressions import UNKNOWN, format_value
from ..facts import CATALOGUE
from .python import CondNode, Program

__all__ = [
    "Expander",
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

        facts = []
        for index, template, name, base in self.facts:
            d = base.copy()
            d["substituted"], d["value"], d["known"], d["missing"] = _fact_shown(
                values, index, template, name, fact_missing
            )
            facts.append(d)

        def cond(plan: tuple[Any, ...]) -> dict[str, Any]:
            kind, i, base = plan[0], plan[1], plan[2]
            d: dict[str, Any] = base.copy()
            outcome = d["outcome"] = _OUTCOME[nodes[i]]
            if kind == "group":
                d["children"] = [cond(k) for k in plan[3]]
                return d
            if kind == "rule":
                return d
            d["actual"], d["expected"], d["missing"] = _leaf_shown(plan, values, outcome, fact_missing)
            return d

        rules = []
        for base, root, plan in self.rules:
            d = base.copy()
            d["outcome"] = _RULE_OUTCOME[nodes[root]]
            d["condition"] = cond(plan)
            rules.append(d)
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


def expand(m: dict[str, Any], compact: dict[str, Any]) -> dict[str, Any]:
    """The full trace (as plain data) from a manifest and a compact trace in their JSON forms."""
    return Expander(m)(compact)


# ------------------------------------------------------------------------------ full trace as text

_MARK = "\x00{}\x00"


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _template(data: dict[str, Any]) -> str:
    """``data`` as compact JSON text with a ``%s`` at each marker value (``_MARK.format(k)``), for
    ``template % holes``. The markers are numbered in the order they appear, so the holes are passed in
    that order (checked here); a ``%`` of the static text is doubled."""
    return "%s".join(p.replace("%", "%%") for p in _static_parts(data))


def _static_parts(data: dict[str, Any]) -> list[str]:
    """The static text of ``data`` as compact JSON around its marker values, in order (see ``_template``)."""
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


def _fill(template: str, holes: tuple[str, ...]) -> str:
    return template % holes


class TextExpander:
    """The full trace written straight as compact JSON text: every static part of every fact, rule and
    condition node is rendered once, per manifest, with holes for the household's values; a household
    only fills the holes. Byte for byte the text ``json.dumps`` writes for :class:`Expander`'s data
    (and so pydantic's ``to_json(indent=None)``), with a few thousand fewer objects made per household."""

    def __init__(self, m: dict[str, Any]) -> None:
        self.m = m
        mark = [_MARK.format(i) for i in range(8)]
        self.facts = [
            (
                f["index"],
                f["template"],
                f["name"],
                _template(
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
                _template(
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
        # settling paths of the facts they read. Most rules read yes/no or coded values that a county's
        # households share, so each rule's text is rendered once per combination. A rule whose texts
        # keep differing (it shows each household's income) stops being memoised once it has
        # :data:`_MEMO_SIZE` of them, so memory stays bounded by the rules that repeat.
        self.rule_keys = [_rule_key_parts(plan) for _, _, plan in self.rules]
        self.rule_memo: list[dict[Any, str] | None] = [{} for _ in self.rules]
        # A fact's text depends on its value and the values its formula shows.
        self.fact_keys = [
            value_getter([index] + [p for p in (template or ()) if isinstance(p, int)])
            for index, template, _, _ in self.facts
        ]
        self.fact_memo: list[dict[Any, str] | None] = [{} for _ in self.facts]
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
        self.trace = _template(trace)
        self.trace_parts = _static_parts(trace)  # the text around its four holes, for :meth:`pieces`

    def _plan(self, n: dict[str, Any], mark: list[str]) -> tuple[Any, ...]:
        if "children" in n:
            d = _condition(n["op"], n=n["n"], children=mark[1])
            d["outcome"] = mark[0]
            return ("group", n["i"], _template(d), [self._plan(k, mark) for k in n["children"]])
        if n["op"] == "rule":
            d = _condition("rule", rule=n["rule"], zh=n["zh"], en=n["en"])
            d["outcome"] = mark[0]
            return ("rule", n["i"], _template(d))
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
        return ("leaf", n["i"], _template(d), n["actual"], expected, refs, n["ref"], n["subject"])

    def __call__(self, compact: dict[str, Any]) -> str:
        """The full trace of one household's compact trace (its JSON form), as compact JSON text."""
        return "".join(self.text_pieces(compact))

    def text_pieces(self, compact: dict[str, Any]) -> list[str]:
        """The full trace's compact JSON text as pieces, to be joined once (``"".join``)."""
        values = [decode_value(v) for v in compact["values"]]
        nodes: str = compact["nodes"]
        fact_missing: dict[str, list[str]] = compact.get("missing") or {}

        # Each value as a memo key, with its type (``1``, ``True`` and ``Decimal(1)`` are equal keys of a
        # dict but are written differently) and a set's members as a tuple.
        keys = [(list, tuple(v)) if type(v) is list else (type(v), v) for v in values]
        facts = []
        for i, ((index, template, name, tmpl), getter, memo) in enumerate(
            zip(self.facts, self.fact_keys, self.fact_memo, strict=True)
        ):
            key: Any = None
            text = None
            if memo is not None:
                try:
                    key = (getter(keys), tuple(fact_missing.get(name, ())) if fact_missing else ())
                    text = memo.get(key)
                except TypeError:  # a value that cannot be a key: rendered each time
                    key = None
            if text is None:
                sub, value, known, missing = _fact_shown(values, index, template, name, fact_missing)
                text = _fill(tmpl, (_encode_str(sub), _enc(value), "true" if known else "false", _enc(missing)))
                if key is not None:
                    self.fact_memo[i] = _remember(memo, key, text)
            facts.append(text)

        def cond(plan: tuple[Any, ...]) -> str:
            kind, i, tmpl = plan[0], plan[1], plan[2]
            outcome = _OUTCOME[nodes[i]]
            if kind == "group":
                kids = "[" + ",".join(cond(k) for k in plan[3]) + "]"
                return _fill(tmpl, ('"' + outcome + '"', kids))
            if kind == "rule":
                return _fill(tmpl, ('"' + outcome + '"',))
            actual, expected, missing = _leaf_shown(plan, values, outcome, fact_missing)
            return _fill(tmpl, ('"' + outcome + '"', _enc(actual), _enc(expected), _enc(missing)))

        rules = []
        for i, ((tmpl, root, plan), (lo, hi, slots, read), memo) in enumerate(
            zip(self.rules, self.rule_keys, self.rule_memo, strict=True)
        ):
            key = text = None
            if memo is not None:
                try:
                    key = (
                        nodes[lo:hi],
                        slots(keys),
                        tuple([tuple(fact_missing.get(f, ())) for f in read]) if fact_missing and read else (),
                    )
                    text = memo.get(key)
                except TypeError:  # a value that cannot be a key (a collection of items): rendered each time
                    key = None
            if text is None:
                text = _fill(tmpl, ('"' + _RULE_OUTCOME[nodes[root]] + '"', cond(plan)))
                if key is not None:
                    self.rule_memo[i] = _remember(memo, key, text)
            rules.append(text)
        return self.pieces(compact, facts, rules)

    def pieces(self, compact: dict[str, Any], facts: list[str], rules: list[str]) -> list[str]:
        """The trace's text as pieces to join once (the fact and rule texts are not copied into
        intermediate strings: a full trace is tens of kilobytes)."""
        p = self.trace_parts
        out = [p[0], _enc(list(compact["engines"])), p[1], _encode_str(compact["input_digest"]), p[2], "["]
        for i, text in enumerate(facts):
            out += (",", text) if i else (text,)
        out += ("]", p[3], "[")
        for i, text in enumerate(rules):
            out += (",", text) if i else (text,)
        out += ("]", p[4])
        return out


_MEMO_SIZE = 256
"""Rendered texts kept per rule or fact of a manifest (see :class:`TextExpander`)."""


def _remember(memo: dict[Any, str] | None, key: Any, text: str) -> dict[Any, str] | None:
    """``memo`` with ``text`` under ``key``; None (no memo any more) once it holds :data:`_MEMO_SIZE` texts."""
    if memo is None or len(memo) >= _MEMO_SIZE:
        return None
    memo[key] = text
    return memo


def value_getter(indices: list[int]) -> Callable[[Any], tuple[Any, ...]]:
    """``lambda xs: tuple(xs[i] for i in indices)``, at C speed where it can be."""
    if not indices:
        return lambda xs: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda xs: (xs[i],)
    return itemgetter(*indices)


def _rule_key_parts(plan: tuple[Any, ...]) -> tuple[int, int, Callable[[Any], tuple[Any, ...]], tuple[str, ...]]:
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
    return lo, hi, value_getter(sorted(slots)), tuple(sorted(facts))
