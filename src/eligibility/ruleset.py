"""The immutable RuleSet: packs, overlays, parameters on a date, rules in force, dependency order.

A :class:`RuleSet` holds every pack the loader read. A household is judged under a :class:`Chain` —
its most specific pack and that pack's ancestors up to ``national`` — resolved from the region code
(GB/T 2260 prefixes). Chains are computed once and cached, so evaluation only does lookups.

A RuleSet pickles (the loader caches it on disk, see :mod:`eligibility._cache`): what cannot travel —
locks, the compiled closures of derived facts, per-date caches — is left out and rebuilt on arrival.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .conditions import Cond, ParamHit
from .errors import MissingParameterError, NoPackError, SourceLocation
from .expressions import Fn, Node, Type, compile_expr

VOCAB_SECTIONS: dict[str, str] = {
    "category": "categories",
    "risk": "risks",
    "risk_type": "risk_types",
    "exclusion": "exclusions",
    "review": "reviews",
    "measure": "measures",
    "gap": "gaps",
    "exit_blocker": "exit_blockers",
    "exit_method": "exit_methods",
    "finding": "findings",
    "warning": "warnings",
    "layer": "layers",
}
"""Conclusion kinds that name a vocabulary code, and the vocabulary.yaml section declaring them."""

TERM_SECTIONS: dict[str, str] = {
    "term": "terms",
    "channel": "channels",
}
"""Vocabulary that no rule concludes but decisions and reports show: the scheme's own terms (its name, the
name of the object it monitors) and discovery channels — dated like every label."""

__all__ = [
    "INHERIT",
    "TERM_SECTIONS",
    "VOCAB_SECTIONS",
    "Chain",
    "Cite",
    "FactDef",
    "PackDef",
    "ParamDef",
    "RuleDef",
    "RuleSet",
    "RuleVersion",
    "VocabItem",
]


@dataclass(frozen=True)
class Cite:
    """A citation resolved against ``rules/sources.yaml``."""

    source: str
    title: str
    grade: str
    url: str | None
    clause: str | None
    note: str | None = None


@dataclass(frozen=True)
class VocabItem:
    """A concludable code with its labels and citations."""

    kind: str  # category | risk | exclusion | review | measure | gap | exit_blocker | … (see VOCAB_SECTIONS)
    code: str
    zh: str
    en: str
    cites: tuple[Cite, ...]
    severity: str | None = None
    versions: tuple[VocabItem, ...] = ()
    start: date | None = None
    """For an item of ``versions``: the first day its wording is in force (sorted, each replacing the last)."""

    def at(self, on: date | None) -> VocabItem:
        """The wording in force on ``on`` (the original wording when ``on`` is None or before every version)."""
        got = self
        if on is not None:
            for v in self.versions:
                if v.start is not None and v.start <= on:
                    got = v
        return got

    def change_dates(self) -> tuple[date, ...]:
        """The days a new wording starts: span boundaries of the compiled programs."""
        return tuple(v.start for v in self.versions if v.start is not None)


class _Inherit:
    """The type of :data:`INHERIT`; a named module-level class so the marker survives pickling."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INHERIT"

    def __reduce__(self) -> str:
        # Pickle (and copy) by reference to the module global: ``v.value is INHERIT`` must keep holding
        # for a RuleSet read back from the cache, so unpickling may never make a second instance.
        return "INHERIT"


INHERIT: Any = _Inherit()
"""A dated parameter value meaning "from here on, the parent pack's value applies"."""


@dataclass(frozen=True)
class ParamValue:
    start: date
    value: Any
    cites: tuple[Cite, ...]
    loc: SourceLocation


@dataclass
class ParamDef:
    """A parameter as declared (once, by the first pack that names it)."""

    name: str
    zh: str
    en: str
    type: str
    unit: str | None
    pack: str
    loc: SourceLocation
    optional: bool = False

    @property
    def expr_type(self) -> Type:
        return {
            "money": Type("money"),
            "number": Type("number"),
            "integer": Type("number"),
            "bool": Type("bool"),
            "text": Type("text"),
            "list": Type("list", item="text"),
        }[self.type]


@dataclass
class FactDef:
    """A derived fact: formula text and AST, compiled closure, type and dependencies."""

    name: str
    zh: str
    en: str
    source: str
    node: Node
    fn: Fn
    type: Type
    facts: frozenset[str]
    params: frozenset[str]
    fields: frozenset[str]
    cites: tuple[Cite, ...]
    pack: str
    loc: SourceLocation

    def __getstate__(self) -> dict[str, Any]:
        # ``fn`` is a closure (not picklable); it is a pure function of ``node``, so leave it out ...
        state = self.__dict__.copy()
        state.pop("fn", None)
        state["node"] = _plain(self.node)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # ... and compile it again on arrival (well under a millisecond for every bundled fact).
        self.__dict__.update(state)
        self.fn = compile_expr(self.node)


def _plain(node: Any) -> Any:
    """A copy of an expression tree without the private attributes evaluation caches on its nodes.

    :func:`~eligibility.expressions.substitute` keeps each sub-formula's compiled closure on the node
    (``_fn``); a closure does not pickle, and the copy is compiled again when it is next needed.
    """
    if isinstance(node, list):
        return [_plain(n) for n in node]
    if not isinstance(node, Node):
        return node
    clone = object.__new__(type(node))
    clone.__dict__.update({k: _plain(v) for k, v in node.__dict__.items() if not k.startswith("_")})
    return clone


@dataclass(frozen=True)
class RuleVersion:
    start: date
    until: date | None
    cites: tuple[Cite, ...]
    when: Cond
    loc: SourceLocation

    def in_force(self, on: date) -> bool:
        return self.start <= on and (self.until is None or on < self.until)


@dataclass
class RuleDef:
    """A rule: stable id, labels, kind (its folder), versions, conclusions ``(kind, code)``."""

    id: str
    zh: str
    en: str
    kind: str
    pack: str
    versions: tuple[RuleVersion, ...]
    conclusions: tuple[tuple[str, str], ...]
    loc: SourceLocation
    replaces: str | None = None
    description_zh: str | None = None
    description_en: str | None = None
    modifiers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    """Per conclusion, its date facts: ``until`` (exit blocker), ``due`` and ``on`` (finding)."""
    selectors: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Per measure or gap conclusion, its :class:`~eligibility.members.MemberSelector` (if it names members)."""

    def version_on(self, on: date) -> RuleVersion | None:
        for v in self.versions:
            if v.in_force(on):
                return v
        return None

    @property
    def depends(self) -> set[str]:
        out: set[str] = set()
        for v in self.versions:
            out |= v.when.rule_refs()
        return out


@dataclass
class PackDef:
    """One pack folder as loaded."""

    id: str
    zh: str
    en: str
    regions: tuple[str, ...]
    extends: str | None
    directory: str
    digest: str
    params: dict[str, ParamDef] = field(default_factory=dict)
    values: dict[str, list[ParamValue]] = field(default_factory=dict)
    facts: dict[str, FactDef] = field(default_factory=dict)
    rules: dict[str, RuleDef] = field(default_factory=dict)
    disabled: dict[str, tuple[str, str, tuple[Cite, ...]]] = field(default_factory=dict)


class Chain:
    """A pack and its ancestors: everything needed to judge a household of that jurisdiction."""

    def __init__(self, ruleset: RuleSet, packs: list[PackDef]) -> None:
        self.ruleset = ruleset
        self.packs = packs  # root first, most specific last
        self.pack = packs[-1]
        self.params: dict[str, ParamDef] = {}
        self.facts: dict[str, FactDef] = {}
        rules: dict[str, RuleDef] = {}
        alias: dict[str, str] = {}
        for p in packs:
            self.params.update(p.params)
            self.facts.update(p.facts)
            for rid in p.disabled:
                rules.pop(alias.get(rid, rid), None)
            for r in p.rules.values():
                if r.replaces:
                    rules.pop(alias.get(r.replaces, r.replaces), None)
                    alias[r.replaces] = r.id
                rules[r.id] = r
        self.alias = alias
        self.aliases_of: dict[str, list[str]] = {}
        for old, new in alias.items():
            self.aliases_of.setdefault(new, []).append(old)
        self.fact_order = _topo(self.facts, lambda f: f.facts)
        self.rule_order = _topo(rules, lambda r: {alias.get(d, d) for d in r.depends})
        self.rules = rules
        h = hashlib.sha256(ruleset.sources_digest.encode())
        for p in packs:
            h.update(p.digest.encode())
        self.fingerprint = "sha256:" + h.hexdigest()
        self._param_cache: dict[tuple[str, date], ParamHit | None] = {}
        self._force_cache: dict[date, tuple[list[tuple[RuleDef, RuleVersion]], list[tuple[RuleDef, str]]]] = {}
        self._cited_cache: dict[date, frozenset[str]] = {}
        self._gap_cache: dict[date, tuple[tuple[str, tuple[str, ...]], ...]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # The private attributes are the lock and per-date caches (including any that other modules
        # hang on a chain, such as compiled programs): a lock cannot be pickled, and caches are only
        # worth keeping within a process. Everything public is plain data.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._param_cache = {}
        self._force_cache = {}
        self._cited_cache = {}
        self._gap_cache = {}
        self._lock = threading.Lock()

    @property
    def jurisdiction(self) -> str:
        return " / ".join(p.zh for p in self.packs)

    def param_hit(self, name: str, on: date) -> ParamHit:
        """The parameter's value on ``on``: the most specific pack with a value dated on or before it.

        An explicit ``null`` (or no value at all) raises :class:`MissingParameterError` — no silent
        fallback to a parent's or an invented value.
        """
        key = (name, on)
        hit = self._param_cache.get(key, ...)
        if hit is ...:
            hit = self._lookup(name, on)
            with self._lock:
                self._param_cache[key] = hit
        if hit is None:
            decl = self.params[name]
            raise MissingParameterError(name, decl.zh, self.jurisdiction, on.isoformat())
        return hit

    def _lookup(self, name: str, on: date) -> ParamHit | None:
        for p in reversed(self.packs):
            values = p.values.get(name)
            if not values:
                continue
            i = bisect.bisect_right([v.start for v in values], on) - 1
            if i < 0:
                continue  # this pack's values start later: ask the parent
            v = values[i]
            if v.value is INHERIT:
                continue  # this pack's value ended: the parent's applies again
            if v.value is None:
                return None
            until = values[i + 1].start if i + 1 < len(values) else None
            return ParamHit(name, v.value, v.start, until, p.id, v.cites)
        return None

    def in_force(self, on: date) -> list[tuple[RuleDef, RuleVersion]]:
        """Rules with a version in force on ``on``, in dependency order."""
        return self._force(on)[0]

    def cited_on(self, on: date) -> frozenset[str]:
        """Source keys cited by the rule versions in force on ``on`` (computed once per date)."""
        got = self._cited_cache.get(on)
        if got is None:
            got = frozenset(c.source for _, v in self.in_force(on) for c in v.cites)
            with self._lock:
                self._cited_cache[on] = got
        return got

    def skipped(self, on: date) -> list[tuple[RuleDef, str]]:
        """Rules with a version on ``on`` that do not apply: an optional parameter they use, or a rule
        they depend on, has no value here. The trace lists them with the reason."""
        return self._force(on)[1]

    def _force(self, on: date) -> tuple[list[tuple[RuleDef, RuleVersion]], list[tuple[RuleDef, str]]]:
        got = self._force_cache.get(on)
        if got is None:
            active: list[tuple[RuleDef, RuleVersion]] = []
            skipped: list[tuple[RuleDef, str]] = []
            for rid in self.rule_order:
                r = self.rules[rid]
                v = r.version_on(on)
                if v is None:
                    continue
                absent = sorted(p for p in self._version_params(v) if self.params[p].optional and not self._has(p, on))
                if absent:
                    skipped.append((r, "optional parameter without value: " + ", ".join(absent)))
                else:
                    active.append((r, v))
            got = (active, skipped)
            with self._lock:
                self._force_cache[on] = got
        return got

    def missing_params(self, on: date) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Required parameters with no value on ``on`` that a rule in force reads (in its condition or
        through the facts it reads), each with those rules' ids, by parameter name.

        Such a parameter reads as unknown: Kleene logic then leaves undecided exactly the conclusions
        that need it, and everything else is decided (a missing line must not cost a household its
        warnings and procedure findings). The decision names the gap (``Decision.missing_parameters``)."""
        got = self._gap_cache.get(on)
        if got is None:
            readers: dict[str, list[str]] = {}
            for r, v in self.in_force(on):
                for p in sorted(self._version_params(v)):
                    if not self.params[p].optional and not self._has(p, on):
                        readers.setdefault(p, []).append(r.id)
            got = tuple((p, tuple(readers[p])) for p in sorted(readers))
            with self._lock:
                self._gap_cache[on] = got
        return got

    def _has(self, name: str, on: date) -> bool:
        try:
            self.param_hit(name, on)
        except MissingParameterError:
            return False
        return True

    def version_params(self, v: RuleVersion) -> set[str]:
        """Parameters a rule version reads: in its conditions and, transitively, in its facts."""
        return self._version_params(v)

    def _version_params(self, v: RuleVersion) -> set[str]:
        """Parameters a rule version reads: in its conditions and, transitively, in its facts."""
        out = set(v.when.params())
        todo = [name for name, ref in v.when.subjects() if ref == "fact"]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name not in self.facts:
                continue
            seen.add(name)
            out |= self.facts[name].params
            todo.extend(self.facts[name].facts)
        return out


def _topo(items: dict[str, Any], deps: Any) -> list[str]:
    """Dependency order (the loader has already rejected cycles); ties keep declaration order."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(k: str) -> None:
        if k in seen or k not in items:
            return
        seen.add(k)
        for d in sorted(deps(items[k])):
            visit(d)
        order.append(k)

    for k in items:
        visit(k)
    return order


class RuleSet:
    """Every pack read from one rules folder, plus the source registry and vocabulary."""

    def __init__(
        self,
        root: str,
        packs: dict[str, PackDef],
        sources: dict[str, Cite],
        vocabulary: dict[tuple[str, str], VocabItem],
        sources_digest: str,
    ) -> None:
        self.root = root
        self.packs = packs
        self.sources = sources
        self.vocabulary = vocabulary
        self.sources_digest = sources_digest
        self._chains: dict[str, Chain] = {}
        self._lock = threading.Lock()
        self._prefixes = sorted(
            ((prefix, p.id) for p in packs.values() for prefix in p.regions), key=lambda t: -len(t[0])
        )
        roots = [p.id for p in packs.values() if p.extends is None]
        self.root_pack = "national" if "national" in roots else (roots[0] if roots else "")

    def __getstate__(self) -> dict[str, Any]:
        # The lock cannot be pickled; chains are cheap to rebuild and hold per-date caches, so a
        # pickled RuleSet carries neither and starts like a freshly loaded one. So for what other modules
        # keep on it (``compile.rowwise``'s engine, with its generated programs): a process's own caches,
        # rebuilt where the rule set is unpickled (a batch's worker processes get their rules so).
        state = self.__dict__.copy()
        for cache in ("_lock", "_chains", "_rowwise_engine"):
            state.pop(cache, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._chains = {}
        self._lock = threading.Lock()

    def chain(self, pack_id: str) -> Chain:
        """The chain ending at ``pack_id`` (cached)."""
        c = self._chains.get(pack_id)
        if c is None:
            if pack_id not in self.packs:
                raise NoPackError(f"没有规则包 / no pack `{pack_id}`")
            packs: list[PackDef] = []
            cur: str | None = pack_id
            while cur is not None:
                packs.append(self.packs[cur])
                cur = self.packs[cur].extends
            c = Chain(self, packs[::-1])
            with self._lock:
                self._chains.setdefault(pack_id, c)
        return c

    def pack_for_region(self, region: str) -> str:
        """The most specific pack whose GB/T 2260 prefix starts the region code (else the root)."""
        for prefix, pid in self._prefixes:
            if region.startswith(prefix):
                return pid
        if not self.root_pack:
            raise NoPackError(f"没有规则包覆盖区划代码 {region} / no pack covers region {region}")
        return self.root_pack

    def vocab(self, kind: str, code: str, on: date | None = None) -> VocabItem:
        """The labels of a code as worded on ``on`` (the original wording when no date is given)."""
        item = self.vocabulary.get((kind, code))
        if item is None:
            return VocabItem(kind, code, code, code, ())
        return item.at(on) if item.versions else item

    def scheme(self, on: date) -> dict[str, Any] | None:
        """The scheme in force on ``on`` in its own words — name, the object it monitors, since when and on
        whose authority — as the data of :class:`~eligibility.decision.Scheme` (None without ``terms``)."""
        name, obj = self.vocabulary.get(("term", "scheme")), self.vocabulary.get(("term", "object"))
        if name is None or obj is None:
            return None
        n, o = name.at(on), obj.at(on)
        starts = [d for d in (n.start, o.start) if d is not None]
        return {
            "zh": n.zh,
            "en": n.en,
            "object_zh": o.zh,
            "object_en": o.en,
            "since": max(starts) if starts else None,
            "sources": tuple(dict.fromkeys(c.source for c in (*n.cites, *o.cites))),
        }

    def lead(self, h: Any, on: date) -> dict[str, Any] | None:
        """The household's recorded risk lead — its discovery channel worded as on ``on``, and its date."""
        proc = getattr(h, "procedure", None)
        if proc is None or (proc.lead_channel is None and proc.lead_found_on is None):
            return None
        channel = None
        if proc.lead_channel is not None:
            v = self.vocab("channel", proc.lead_channel.name, on)
            channel = {"code": v.code, "zh": v.zh, "en": v.en}
        return {"channel": channel, "found_on": proc.lead_found_on}

    def label_dates(self) -> tuple[date, ...]:
        """Every day a vocabulary wording changes (cached): compiled programs split their spans there."""
        got: tuple[date, ...] | None = self.__dict__.get("_label_dates")
        if got is None:
            got = tuple(sorted({d for item in self.vocabulary.values() for d in item.change_dates()}))
            self.__dict__["_label_dates"] = got
        return got
