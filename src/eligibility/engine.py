"""``Engine.evaluate(household, as_of, trace=...) -> Decision``: the compiled evaluator.

The flow for one household (design.md): pick the jurisdiction's pack chain from the region code; run
the chain's compiled program for the date span holding ``as_of`` (:mod:`eligibility.compile.python`,
compiled once and cached); read the fired and unknown conclusions into the five decisions; attach the
trace at the level asked for — none, compact (the program's values for this household, which refer to
the rules manifest), or full (compact expanded with the manifest).

Status is machinery, not policy, and follows design.md's rule that a gap never makes a household
ineligible: a definite category identifies; a category or review rule left *unknown* by missing data
makes the case ``needs_review`` with the facts that would settle it; exclusion evidence on an
identified household routes it to review instead of rejecting it (policy.md §5).

Output the engine builds itself is not re-validated through pydantic on the hot path (``model_construct``):
its shape is checked against the models in the tests instead.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel

from . import __version__
from ._construct import clone as _clone
from ._construct import new as _new
from ._construct import raw as _raw
from .compile.manifest import Expander, TextExpander, manifest, value_getter
from .compile.members_py import attach as attach_members
from .compile.python import CONCLUSION_GROUPS, CondNode, Program, program_for
from .conditions import Leaf, RuleRef
from .decision import (
    Assistance,
    CodeLabel,
    CompactTrace,
    Decision,
    Exit,
    ExitBlocker,
    Finding,
    Identification,
    Lead,
    MeasureFinding,
    MissingFact,
    MissingParameter,
    ProcedureFinding,
    Scheme,
    Trace,
)
from .errors import EligibilityError, EngineDisagreementError, EngineUnavailableError, EvaluationError, HouseholdError
from .expressions import UNKNOWN
from .facts import CATALOGUE, _plain, flatten
from .loader import load_rules
from .models import FIRST_DAY, LAST_DAY, Household, births_after, parse_household
from .ruleset import Chain, RuleSet

__all__ = ["Engine", "TraceLevel"]

TraceLevel = Literal["none", "compact", "full"]
_LEVELS = ("none", "compact", "full")
Conclusion = tuple[str, str, str]
"""(kind, code, rule id)."""


class _Item:
    """A collection item (a member, a measure) as :func:`facts.missing_paths` reads it: only whether
    each field is given matters there, so nothing is converted."""

    __slots__ = ("m",)

    def __init__(self, m: BaseModel) -> None:
        self.m = m

    def get(self, key: str, default: Any = UNKNOWN) -> Any:
        v = getattr(self.m, key, None)
        return default if v is None else v


class _View:
    """Household fields by dotted path, read on demand — only for the paths a gap report needs."""

    __slots__ = ("h",)

    def __init__(self, h: Household) -> None:
        self.h = h

    def get(self, path: str, default: Any = UNKNOWN) -> Any:
        obj: Any = self.h
        if "." in path:
            sec, path = path.split(".", 1)
            obj = getattr(obj, sec, None)
            if obj is None:
                return default
        v = getattr(obj, path, None)
        if isinstance(v, tuple) and v and isinstance(v[0], BaseModel):
            return [_Item(x) for x in v]
        return _plain(v)


_FieldPlan = tuple[tuple[str | None, str, str, str | None], ...]
_FIELD_PLANS: dict[frozenset[str], _FieldPlan] = {}


def _field_plan(fields: frozenset[str]) -> _FieldPlan:
    """How to find the absent ones among a fact's household fields: (section, attribute, path, item field)."""
    got = _FIELD_PLANS.get(fields)
    if got is None:
        plan = []
        for p in sorted(fields):
            coll, _, sub = p.partition("[].")
            if not sub and CATALOGUE.get(p) is None:
                continue  # not a household field: never reported (as facts.missing_paths)
            sec, _, attr = coll.partition(".") if "." in coll else (None, "", coll)
            plan.append((sec, attr, coll, sub or None))
        got = _FIELD_PLANS[fields] = tuple(plan)
    return got


def _absent(h: Household, fields: frozenset[str]) -> list[str]:
    """The JSON paths of ``fields`` (dotted paths and item paths such as ``members[].birth_date``) that the
    household does not give — what :func:`facts.missing_paths` reports, read straight off the models."""
    out: list[str] = []
    for sec, attr, path, sub in _field_plan(fields):
        obj: Any = h if sec is None else getattr(h, sec, None)
        v = None if obj is None else getattr(obj, attr, None)
        if v is None:
            out.append("$." + path)
        elif sub is not None:
            out.extend(f"$.{path}[{i}].{sub}" for i, item in enumerate(v) if getattr(item, sub, None) is None)
    return out


class _Run:
    """One household through one program: values, outcomes, conclusions; gaps computed on demand."""

    __slots__ = ("_missing", "as_of", "fired", "h", "nodes", "program", "unknown", "values")

    def __init__(self, program: Program, h: Household, as_of: date) -> None:
        self.program, self.h, self.as_of = program, h, as_of
        self.values, self.nodes, self.fired, self.unknown = program.run(h, as_of)
        self._missing: dict[str, list[str]] = {}

    def missing_of_fact(self, name: str) -> list[str]:
        """For an unknown fact, the household paths that would settle it (its own and its inputs');
        computed on first need, inputs first."""
        got = self._missing.get(name)
        if got is None:
            idx = self.program.fact_index[name]
            if self.values[idx] is not UNKNOWN:
                return []
            f = self.program.chain.facts[name]
            miss = _absent(self.h, f.fields)
            for d in f.facts:
                miss += self.missing_of_fact(d)
            got = self._missing[name] = sorted(set(miss))
        return got

    @property
    def fact_missing(self) -> dict[str, list[str]]:
        """Every unknown fact with the household paths that would settle it."""
        return {s.name: self.missing_of_fact(s.name) for s in self.program.facts if self.values[s.index] is UNKNOWN}

    def subject_missing(self, name: str, ref: str) -> list[str]:
        if ref == "fact":
            return self.missing_of_fact(name)
        return [f"$.{name}"] if CATALOGUE.get(name) is not None else []


class Engine:
    """Evaluates households under a :class:`~eligibility.ruleset.RuleSet`. Thread-safe.

    Several engines (two provinces' rule folders, two versions of a pack) may live in one process.
    """

    def __init__(
        self,
        rules: RuleSet | str | os.PathLike[str] | None = None,
        *,
        verify: Literal["durable"] | None = None,
        engines: Sequence[str] | None = None,
    ) -> None:
        """``verify="durable"`` cross-checks every decision with durable-rules (the extra
        ``eligibility[durable]``) and raises :class:`EngineDisagreementError` on any difference.

        ``engines`` is the older spelling: ``("reference",)`` is the default, ``("reference", "durable")``
        means ``verify="durable"``.
        """
        self.rules = rules if isinstance(rules, RuleSet) else load_rules(rules)
        if engines is not None:
            unknown = set(engines) - {"reference", "durable"}
            if unknown or "reference" not in engines:
                raise EngineUnavailableError(
                    f"engines must be ('reference',) or ('reference', 'durable'), got {tuple(engines)}"
                )
            if "durable" in engines:
                verify = "durable"
        if verify not in (None, "durable"):
            raise EngineUnavailableError(f"verify must be None or 'durable', got {verify!r}")
        self._durable: Any = None
        if verify == "durable":
            from . import _durable

            if not _durable.AVAILABLE:
                raise EngineUnavailableError(
                    f"durable-rules 无法在此环境导入 / durable-rules cannot be imported here "
                    f"({_durable.IMPORT_ERROR}); install eligibility[durable] on Python ≤ 3.12"
                )
            self._durable = _durable.DurableBackend()
        self.engines: tuple[str, ...] = ("compiled", "durable-rules") if self._durable else ("compiled",)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._expanders: dict[str, Expander] = {}
        self._text_expanders: dict[str, TextExpander] = {}
        self._labels: dict[tuple[str, str, str], CodeLabel] = {}
        self._schemes: dict[str, Scheme | None] = {}
        self._chain_by_region: dict[str, Chain] = {}
        # Memos of the pieces of decisions (see ``_shape``), each bounded by _MEMO_SIZE.
        self._statuses: dict[tuple[Any, ...], _Status] = {}
        self._groups: dict[tuple[str, int, int, int], tuple[Any, ...]] = {}
        self._exit_parts: dict[tuple[str, int, int], _ExitPart] = {}
        self._channels: dict[tuple[str, Any], Any] = {}
        self._finding_objs: dict[tuple[str, str, str, bool, tuple[str, ...]], Any] = {}
        self._rests: dict[tuple[str, tuple[int, ...], tuple[str, ...]], tuple[str, ...]] = {}
        self._missing_facts: dict[tuple[str, str, tuple[str, ...]], MissingFact] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ public

    def chain_for(self, household: Household) -> Chain | None:
        """The household's pack chain, or None when its region code is unknown."""
        region = household.region
        if region is None:
            return None
        chain = self._chain_by_region.get(region)
        if chain is None:
            chain = self.rules.chain(self.rules.pack_for_region(region))
            if len(self._chain_by_region) < 1_000_000:  # a province has ~20,000 villages
                self._chain_by_region[region] = chain
        return chain

    def program(self, household: Household, as_of: date | str) -> Program | None:
        """The compiled program that decides this household on ``as_of`` (``program.source`` shows it)."""
        chain = self.chain_for(household)
        return None if chain is None else program_for(chain, _as_date(as_of))

    def manifest(self, program: Program | str) -> dict[str, Any]:
        """The rules manifest of a program (by object or by its key, as a compact trace names it)."""
        key = program if isinstance(program, str) else program.key
        m = self._manifests.get(key)
        if m is None:
            if isinstance(program, str):
                program = self._program_by_key(program)
            m = manifest(program)
            with self._lock:
                self._manifests[key] = m
        return m

    def _expander(self, key: str) -> Expander:
        """The manifest of program ``key`` prepared for joining with compact traces (built once)."""
        got = self._expanders.get(key)
        if got is None:
            got = Expander(self.manifest(key))
            with self._lock:
                self._expanders[key] = got
        return got

    def _text_expander(self, key: str) -> TextExpander:
        """The manifest of program ``key`` prepared as JSON text with holes (built once)."""
        got = self._text_expanders.get(key)
        if got is None:
            got = TextExpander(self.manifest(key))
            with self._lock:
                self._text_expanders[key] = got
        return got

    def _program_by_key(self, key: str) -> Program:
        """The program a compact trace names (``pack@first day of its span``), compiled if need be."""
        pack, _, start = key.partition("@")
        try:
            chain = self.rules.chain(pack)
            program = program_for(chain, date.fromisoformat(start))
        except (EligibilityError, ValueError):
            program = None
        if program is None or program.key != key:
            raise EvaluationError(f"本规则集没有程序 {key} / no compiled program `{key}` in these rules")
        return program

    def expand(self, decision: Decision) -> Decision:
        """A compact-trace decision with its full trace (the manifest joined in), as models."""
        if isinstance(decision.trace, Trace):
            return decision
        return decision.model_copy(update={"trace": Trace.model_validate(self._full_trace(decision))})

    def full_json(self, decision: Decision, *, indent: int | None = 2) -> str:
        """The JSON of ``decision`` with its full trace — the same bytes as ``expand(decision).to_json()``
        — written straight from the compact trace and the manifest, without building a model per
        condition: what a batch writing full audits, or a service answering ``trace=full``, wants."""
        if isinstance(decision.trace, Trace):  # already full (a household without a region code)
            return decision.to_json(indent=indent)
        if indent is None:
            if not isinstance(decision.trace, CompactTrace):
                raise EvaluationError("只有紧凑轨迹可以展开 / only a compact trace can be expanded")
            head = decision.model_dump_json(exclude={"trace"})
            t = decision.trace
            expander = self._text_expander(t.program)
            if type(t.values) is tuple and type(t.nodes) is tuple and hasattr(t.missing, "data"):
                # The engine's own compact trace: its values taken as they are, not written as JSON data
                # and read back.
                pieces = expander.trace_pieces(
                    t.values, t.nodes, t.missing.data(), list(t.engines), str(t.input_digest)
                )
            else:
                pieces = expander.text_pieces(t.to_data())
            return "".join([head[:-1], ',"trace":', *pieces, "}"])
        data = decision.model_dump(mode="json", exclude={"trace"})
        data["trace"] = self._full_trace(decision)
        return json.dumps(data, ensure_ascii=False, indent=indent)

    def _full_trace(self, decision: Decision) -> dict[str, Any]:
        if not isinstance(decision.trace, CompactTrace):
            raise EvaluationError("只有紧凑轨迹可以展开 / only a compact trace can be expanded")
        return self._expander(decision.trace.program)(decision.trace.to_data())

    def evaluate(
        self,
        household: Household | dict[str, Any] | str | bytes,
        as_of: date | str,
        trace: TraceLevel = "compact",
    ) -> Decision:
        """Decide one household on ``as_of`` (a date or ``YYYY-MM-DD``).

        ``trace``: ``"none"`` (the decision only), ``"compact"`` (plus this household's values, referring
        to the rules manifest) or ``"full"`` (every fact's formula with its numbers, every rule's every
        condition with its actual and expected value and the expected value's dated, cited source).

        Raises :class:`~eligibility.errors.HouseholdError` for invalid input and
        :class:`~eligibility.errors.EvaluationError` (e.g. a missing monitoring line) when the rules
        cannot decide; missing household data never raises — it makes the result unknown.
        """
        if trace not in _LEVELS:
            raise EvaluationError(f"trace must be one of {', '.join(_LEVELS)}, got {trace!r}")
        h = household if isinstance(household, Household) else parse_household(household)
        on = _as_date(as_of)
        chain = self.chain_for(h)
        if chain is None:
            return self._no_region(h, on, trace)
        if not chain.in_force(on):
            raise EvaluationError(
                f"{chain.jurisdiction} 在 {on} 没有生效的规则 / no rules in force for {chain.pack.en} on {on}"
            )
        unborn = births_after(h, on)
        if unborn:  # an impossible record, not an unknown: a typo in a year (2073 for 1973)
            raise HouseholdError(unborn, h.household_id)
        program = program_for(chain, on)
        run = _Run(program, h, on)
        if self._durable is not None:
            self._cross_check(run)
        shape = self._shape(run)
        decision = _decision(
            (
                h.household_id,
                on,
                h.region,
                self._label("jurisdiction", chain.pack.id, chain.pack.zh, chain.pack.en),
                self._scheme(program, on),
                self._lead(h, on, program.key),
                self._identify(run, shape),
                attach_members(program, h, on, run.values, shape.assistance),
                self._exit(run, shape),
                self._procedure(run, shape) if shape.procedure else (),
                shape.warnings,
                _gaps(program),
                None,
            )
        )
        if trace == "none":
            return decision
        compact = _raw(
            CompactTrace,
            {  # in field order, as _new writes it (the serialiser reads ``__dict__`` in its own order)
                "level": "compact",
                "program": program.key,
                "ruleset_fingerprint": chain.fingerprint,
                "engines": self.engines,
                "input_digest": _Digest(h),
                "values": run.values,
                "nodes": run.nodes,
                "missing": _UnknownFacts(run),
            },
            set(_COMPACT_SET),
        )
        if trace == "compact":
            decision.__dict__["trace"] = compact
            return decision
        decision.__dict__["trace"] = Trace.model_validate(self._expander(program.key)(compact.to_data()))
        return decision

    # ------------------------------------------------------------------------------------ checks

    def _cross_check(self, run: _Run) -> None:
        """Run durable-rules on the same household and refuse a decision the two engines disagree on."""
        chain, program = run.program.chain, run.program
        facts = {s.name: run.values[s.index] for s in program.facts}
        fields = flatten(run.h)
        theirs = self._durable.outcomes(chain, run.as_of, fields, facts)
        ours = {rule.id: _RULE_OUTCOME[run.nodes[root.index]] for rule, _, root in program.rules}
        diff = {rid: (ours.get(rid, "absent"), theirs.get(rid, "absent")) for rid in ours.keys() | theirs.keys()}
        diff = {rid: pair for rid, pair in diff.items() if pair[0] != pair[1]}
        if diff:
            raise EngineDisagreementError(diff, str(_Digest(run.h)))

    # ---------------------------------------------------------------------------------- decision

    def _scheme(self, program: Program, on: date) -> Scheme | None:
        """The scheme's own words on this date — one object per program (spans split where wording changes)."""
        if program.key in self._schemes:
            return self._schemes[program.key]
        data = self.rules.scheme(on)
        got = self._schemes[program.key] = Scheme.model_validate(data) if data is not None else None
        return got

    def _lead(self, h: Household, on: date, key: str) -> Lead | None:
        """The recorded risk lead (:meth:`RuleSet.lead`), its channel's label shared per (program, channel):
        the wording is the program's (spans split where wording changes); no validation."""
        proc = h.procedure
        if proc is None or (proc.lead_channel is None and proc.lead_found_on is None):
            return None
        ch = proc.lead_channel
        k = (key, None if ch is None else ch._name_)  # an enum member hashes in Python; its name in C
        channel = self._channels.get(k, _ABSENT)
        if channel is _ABSENT:
            data = self.rules.lead(h, on)
            got = data["channel"] if data is not None else None
            channel = None if got is None else self._label("channel", got["code"], got["zh"], got["en"])
            with self._lock:
                self._channels[k] = channel
        return _raw(Lead, {"channel": channel, "found_on": proc.lead_found_on}, {"channel", "found_on"})

    def _label(self, kind: str, code: str, zh: str, en: str) -> CodeLabel:
        """A code with its labels — one frozen object per (kind, code), shared by every decision."""
        got = self._labels.get((kind, code, zh))
        if got is None:
            got = self._labels[(kind, code, zh)] = _new(CodeLabel, code=code, zh=zh, en=en)
        return got

    def _findings(
        self, key: str, kind: str, fired: list[Conclusion], unknown: list[Conclusion], on: date
    ) -> tuple[Any, ...]:
        """The concluded codes of one kind: certain where a rule fired, uncertain where one is unknown."""
        by_code: dict[str, tuple[bool, list[str]]] = {}
        for k, code, rid in fired:
            if k != kind:
                continue
            got = by_code.get(code)
            if got is None:
                by_code[code] = (True, [rid])
            else:
                got[1].append(rid)
        for k, code, rid in unknown:
            if k != kind:
                continue
            got = by_code.get(code)
            if got is None:
                by_code[code] = (False, [rid])
            elif not got[0]:
                got[1].append(rid)
        if not by_code:
            return ()
        out = [self._finding(key, kind, code, certain, tuple(rules), on) for code, (certain, rules) in by_code.items()]
        if len(out) > 1:
            out.sort(key=lambda f: (not f.certain, f.code))
        return tuple(out)

    def _finding(self, key: str, kind: str, code: str, certain: bool, rules: tuple[str, ...], on: date) -> Any:
        """One finding — one frozen object per (program, kind, code, certainty, rules), shared by every
        decision that concludes it (worded as on ``on``: programs split their spans where wording changes)."""
        k = (key, kind, code, certain, rules)
        got = self._finding_objs.get(k)
        if got is None:
            v = self.rules.vocab(kind, code, on)
            got = _new(_MODEL_OF_KIND.get(kind, Finding), code=code, zh=v.zh, en=v.en, certain=certain, rules=rules)
            if kind == "finding":
                got.__dict__["severity"] = self.rules.vocab("finding", code).severity
            with self._lock:
                if len(self._finding_objs) >= _MEMO_SIZE:
                    self._finding_objs.clear()
                self._finding_objs[k] = got
        return got

    def _group(self, program: Program, g: int, f: int, u: int, on: date) -> tuple[Any, ...]:
        """The findings of conclusion group ``g`` (one kind) for these masks of it, memoised per combination."""
        if not f and not u:
            return ()
        k = (program.key, g, f, u)
        got = self._groups.get(k)
        if got is None:
            got = self._findings(
                program.key, CONCLUSION_GROUPS[g][0], program.conclusions(g, f), program.conclusions(g, u), on
            )
            with self._lock:
                if len(self._groups) >= _MEMO_SIZE:
                    self._groups.clear()
                self._groups[k] = got
        return got

    def _missing(self, run: _Run, rule_ids: tuple[str, ...]) -> tuple[MissingFact, ...]:
        """The unknown leaf facts of these rules, each with the household paths that would settle it.

        A leaf counts when it and every node above it — through rule references, into the referenced
        rule — is unknown. Which leaves count, and what each one asks for, follows from the outcomes of
        the nodes on those paths and from which inputs of the few leaves that read two household values
        are unknown: that is worked out once per combination (:class:`_MissingPlan`), and per household
        only the paths of unknown facts (which name this household's members) are looked up."""
        plan = _missing_plan(run.program, rule_ids)
        values = run.values
        key = (plan.nodes(run.nodes), tuple([values[i] is UNKNOWN for i in plan.extra]))
        got = plan.memo.get(key)
        if got is None:
            got = self._missing_requests(run, rule_ids, plan)
            with self._lock:
                if len(plan.memo) >= _SHAPE_CACHE_SIZE:
                    plan.memo.clear()
                plan.memo[key] = got
        if type(got) is not list:  # no unknown fact among them: the same for every household
            return got  # type: ignore[no-any-return]
        out = []
        for subject, static, facts in got:
            if facts:
                paths = set(static)
                for name in facts:
                    paths.update(run.missing_of_fact(name))
                out.append(self._missing_fact(run.program.chain, subject, tuple(sorted(paths))))
            else:
                out.append(self._missing_fact(run.program.chain, subject, static))
        return tuple(out)

    def _missing_requests(self, run: _Run, rule_ids: tuple[str, ...], plan: _MissingPlan) -> Any:
        """What :meth:`_missing` asks for on this combination: per subject, in name order, the household
        paths known statically and the unknown facts whose paths depend on the household — or, when no
        fact is asked for, the finished tuple of :class:`MissingFact`."""
        found: dict[str, tuple[set[str], set[str]]] = {}
        nodes, values = run.nodes, run.values

        def ask(into: tuple[set[str], set[str]], name: str, kind: str) -> None:
            if kind == "fact":
                into[1].add(name)
            elif CATALOGUE.get(name) is not None:
                into[0].add(f"$.{name}")

        for rid in rule_ids:
            for path, n, subject, ref, operands, gap in plan.flat.get(rid, ()):
                for i in path:
                    if nodes[i] is not UNKNOWN:
                        break
                else:
                    unknown_subject = n.actual is not None and values[n.actual] is UNKNOWN
                    if gap and not unknown_subject and all(values[x] is not UNKNOWN for _, _, x in operands):
                        continue  # unknown only for a parameter without value: Decision.missing_parameters
                    into = found.setdefault(subject, (set(), set()))
                    if unknown_subject:
                        ask(into, subject, ref)
                    for kind, name, x in operands:
                        if values[x] is UNKNOWN:
                            ask(into, name, kind)
        requests = [(name, tuple(sorted(found[name][0])), tuple(sorted(found[name][1]))) for name in sorted(found)]
        if any(facts for _, _, facts in requests):
            return requests
        chain = run.program.chain
        return tuple(self._missing_fact(chain, name, static) for name, static, _ in requests)

    def _missing_fact(self, chain: Chain, name: str, fields: tuple[str, ...]) -> MissingFact:
        """A fact or field with the paths that would settle it — one frozen object per (chain, name, paths)."""
        key = (chain.pack.id, name, fields)
        got = self._missing_facts.get(key)
        if got is None:
            f = chain.facts.get(name)
            spec = CATALOGUE.get(name)
            zh, en = (f.zh, f.en) if f is not None else ((spec.zh, spec.en) if spec else (name, name))
            got = _new(MissingFact, name=name, zh=zh, en=en, fields=fields)
            with self._lock:
                if len(self._missing_facts) >= _SHAPE_CACHE_SIZE:
                    self._missing_facts.clear()
                self._missing_facts[key] = got
        return got

    def _dated(self, run: _Run, rid: str, kind: str, code: str, modifier: str) -> date | None:
        """The date a conclusion's modifier fact (``until``, ``due``, ``on``) has on this household."""
        return self._date_reader(run.program, rid, kind, code, modifier)(run.values, run.h)

    def _date_reader(self, program: Program, rid: str, kind: str, code: str, modifier: str) -> _DateReader:
        """How to read a conclusion's modifier date off a run — a value slot, or a household field read
        as :class:`_View` reads it — worked out once per program."""
        readers: dict[tuple[str, str, str, str], _DateReader] | None = program.__dict__.get("_date_readers")
        if readers is None:
            readers = program.__dict__["_date_readers"] = {}
        key = (rid, kind, code, modifier)
        got = readers.get(key)
        if got is None:
            name = program.chain.rules[rid].modifiers.get((kind, code), {}).get(modifier)
            where = program.fact_index.get(name, name) if name else None
            if where is None:
                got = _no_date
            elif isinstance(where, int):
                got = _slot_date(where)
            else:
                got = _field_date(where)
            readers[key] = got
        return got

    def _shape(self, run: _Run) -> _Shape:
        """The parts of the decision that follow from which conclusions fired and which are unknown.

        Each piece — the identification's status, its findings of each kind, the assistance, exit,
        procedure and warnings — depends only on the conclusions of its own kinds, so each is worked
        out once per combination of those (a county shares a handful per kind, where combinations of
        all kinds together are nearly one per household), and only the household's own dates and gaps
        are added per household."""
        program, on = run.program, run.as_of
        f, u = run.fired, run.unknown
        key = program.key
        memo = self._groups
        found: list[tuple[Any, ...]] = []
        for g in _FINDING_GROUPS:  # inline: one dict lookup per group with conclusions, none otherwise
            fg, ug = f[g], u[g]
            if fg or ug:
                got = memo.get((key, g, fg, ug))
                found.append(self._group(program, g, fg, ug, on) if got is None else got)
            else:
                found.append(())
        risks, risk_types, layers, required, gaps, warnings, procedure = found
        status = self._status(program, f, u, on)
        ident = _raw(
            Identification,
            {
                "status": status.status,
                "category": status.category,
                "candidate_categories": status.candidates,
                "risks": risks,
                "risk_types": risk_types,
                "layers": layers,
                "exclusions": status.exclusions,
                "reviews": status.reviews,
                "blocking": (),
                "unknown": (),
            },
            set(_IDENT_FIELDS),
        )
        blocking = status.blocking_rules if status.status == "needs_review" else ()
        rest: tuple[str, ...] = ()
        if any(u):
            k = (key, u, blocking)
            rest = self._rests.get(k)  # type: ignore[assignment]
            if rest is None:
                rids = {rid for i, mask in enumerate(u) for _, _, rid in program.conclusions(i, mask)}
                rest = tuple(sorted(rids.difference(blocking)))
                with self._lock:
                    if len(self._rests) >= _MEMO_SIZE:
                        self._rests.clear()
                    self._rests[k] = rest
        assistance = _new(Assistance, required=required, gaps=gaps) if required or gaps else _NO_ASSISTANCE
        return _Shape(
            ident,
            blocking,
            rest,
            assistance,
            warnings,
            self._exit_part(program, f[_G_EXIT], u[_G_EXIT], on) if f[_G_EXIT] or u[_G_EXIT] else _NO_EXIT_PART,
            procedure,
        )

    def _status(self, program: Program, f: tuple[int, ...], u: tuple[int, ...], on: date) -> _Status:
        """The identification's status, category and candidates, exclusions and reviews, and the rules left
        unknown that block it — from the category, review, exclusion and already-monitored conclusions
        (memoised per combination of those).

        Labels as worded on ``on``: programs split their spans where a wording changes, and this is
        memoised per program, so every household sharing it shares the wording too."""
        k = (program.key, f[0], u[0], f[1], u[1], f[2], u[2], f[3], u[3])
        got = self._statuses.get(k)
        if got is not None:
            return got
        fired = [c for g in _STATUS_GROUPS for c in program.conclusions(g, f[g])]
        unknown = [c for g in _STATUS_GROUPS for c in program.conclusions(g, u[g])]

        def codes(src: list[Conclusion], kind: str) -> list[str]:
            return sorted({c for k, c, _ in src if k == kind})

        sure_cats = codes(fired, "category")
        maybe_cats = [c for c in codes(unknown, "category") if c not in sure_cats]
        exclusions = self._group(program, _G_EXCLUSION, f[_G_EXCLUSION], u[_G_EXCLUSION], on)
        reviews = self._group(program, _G_REVIEW, f[_G_REVIEW], u[_G_REVIEW], on)
        # A gap never turns into a "no" nor into a premature "yes": a category left unknown, a review
        # reason left unknown, whether the household is already monitored, and — for a household that
        # would be identified — information-comparison evidence not yet known (信息比对 precedes
        # 民主评议, seed:JINGBIAN) all make the case needs_review, naming the data that would settle it.
        deciding = {"category", "review", "already_monitored"}
        if sure_cats:
            deciding.add("exclusion")
        blocking_rules = tuple(sorted({rid for k, _, rid in unknown if k in deciding}))

        def label(code: str) -> CodeLabel:
            v = self.rules.vocab("category", code, on)
            return self._label("category", code, v.zh, v.en)

        category = None
        if any(k == "already_monitored" for k, _, _ in fired):
            status = "already_monitored"
        elif (
            len(sure_cats) == 1
            and not exclusions
            and not any(k in ("exclusion", "already_monitored") for k, _, _ in unknown)
        ):
            status, category = "identified", label(sure_cats[0])
        elif sure_cats or maybe_cats or any(x.certain for x in reviews) or blocking_rules:
            status = "needs_review"
        else:
            status = "not_identified"
        candidates = tuple(label(c) for c in (sure_cats if status != "identified" else []) + maybe_cats)
        got = _Status(status, category, candidates, exclusions, reviews, blocking_rules)
        with self._lock:
            if len(self._statuses) >= _MEMO_SIZE:
                self._statuses.clear()
            self._statuses[k] = got
        return got

    def _exit_part(self, program: Program, f: int, u: int, on: date) -> _ExitPart:
        """The exit part for these exit conclusions (memoised per combination)."""
        k = (program.key, f, u)
        got = self._exit_parts.get(k)
        if got is not None:
            return got
        fired, unknown = program.conclusions(_G_EXIT, f), program.conclusions(_G_EXIT, u)
        methods = sorted({c for k, c, _ in fired if k == "exit_method"})
        method = None
        if methods:
            v = self.rules.vocab("exit_method", methods[0], on)
            method = self._label("exit_method", v.code, v.zh, v.en)
        got = _ExitPart(
            applies=any(k == "exit_applies" for k, _, _ in fired),
            maybe=tuple(rid for k, _, rid in unknown if k == "exit_applies"),
            blockers=self._findings(program.key, "exit_blocker", fired, unknown, on),
            method=method,
            review_rules=tuple(sorted({rid for k, _, rid in unknown if k == "exit_blocker"})),
        )
        with self._lock:
            if len(self._exit_parts) >= _MEMO_SIZE:
                self._exit_parts.clear()
            self._exit_parts[k] = got
        return got

    def _exit(self, run: _Run, shape: _Shape) -> Exit:
        """风险消除: only for a household under monitoring; eligible when no blocker holds or may hold."""
        part = shape.exit
        if not part.applies:
            if part.maybe:
                return _new(Exit, status="needs_review", blocking=self._missing(run, part.maybe))
            return _NO_EXIT
        blockers = []
        for b in part.blockers:
            dates = [self._dated(run, rid, "exit_blocker", b.code, "until") for rid in b.rules]
            known = [d for d in dates if d is not None]
            blockers.append(_clone(b, until=max(known) if known and len(known) == len(dates) else None))
        certain = [b for b in blockers if b.certain]
        out: dict[str, Any] = {"blockers": tuple(blockers), "method": part.method}
        if certain:
            out["status"] = "blocked"
            if all(b.until is not None for b in certain):
                out["opens_on"] = max(b.until for b in certain if b.until is not None)
        elif blockers:
            out["status"] = "needs_review"
            out["blocking"] = self._missing(run, part.review_rules)
        else:
            out["status"] = "eligible"
        return _new(Exit, **out)

    def _procedure(self, run: _Run, shape: _Shape) -> tuple[Any, ...]:
        """程序 findings with due date, the date compared (default: as_of) and days late."""
        out = []
        program, values, h = run.program, run.values, run.h
        plans: dict[tuple[str, str], tuple[_DateReader, _DateReader]] | None = program.__dict__.get("_procedure_dates")
        if plans is None:
            plans = program.__dict__["_procedure_dates"] = {}
        for f in shape.procedure:
            k = (f.rules[0], f.code)
            plan = plans.get(k)
            if plan is None:
                plan = plans[k] = (
                    self._date_reader(program, k[0], "finding", k[1], "due"),
                    self._date_reader(program, k[0], "finding", k[1], "done"),
                )
            due = plan[0](values, h)
            on = plan[1](values, h) or run.as_of
            data = f.__dict__.copy()
            data["due"], data["on"], data["days_late"] = due, on, (on - due).days if due is not None else None
            out.append(_raw(ProcedureFinding, data, f.__pydantic_fields_set__ | _DATED_FIELDS))
        return tuple(out)

    def _identify(self, run: _Run, shape: _Shape) -> Identification:
        """The shape's identification, with the facts that would settle this household's open questions."""
        ident = shape.identification
        if not shape.blocking_rules and not shape.rest_rules:
            return ident
        blocking = self._missing(run, shape.blocking_rules) if shape.blocking_rules else ()
        rest = self._missing(run, shape.rest_rules) if shape.rest_rules else ()
        if blocking and rest:
            names = {m.name for m in blocking}
            rest = tuple(m for m in rest if m.name not in names)
        if not blocking and not rest:
            return ident
        return _clone(ident, blocking=blocking, unknown=rest)

    def _no_region(self, h: Household, on: date, level: str) -> Decision:
        """Without a region code no jurisdiction's rules apply: review, naming the field to fill."""
        miss = {"name": "region", "zh": "行政区划代码", "en": "region code", "fields": ["$.region"]}
        trace = None
        if level != "none":
            trace = {
                "engine_version": __version__,
                "engines": self.engines,
                "pack_chain": [],
                "ruleset_fingerprint": "",
                "input_digest": str(_Digest(h)),
                "facts": [],
                "rules": [],
            }
        return Decision.model_validate(
            {
                "household_id": h.household_id,
                "as_of": on,
                "region": None,
                "jurisdiction": {"code": "unknown", "zh": "未知辖区", "en": "unknown jurisdiction"},
                "identification": {"status": "needs_review", "blocking": [miss]},
                "trace": trace,
            }
        )


_SHAPE_CACHE_SIZE: Final = 4096
"""Decision shapes kept per engine: a county's few hundred common ones fit; more only costs memory."""
_MEMO_SIZE: Final = 16_384
"""Entries kept per memo of decision pieces: a county's combinations of one kind of conclusion (a
thousand or so of risk types among 10⁵ households) fit; when full, the memo starts over."""
_RULE_OUTCOME: Final[dict[Any, str]] = {True: "fired", False: "not_fired", UNKNOWN: "unknown"}
_NO_ASSISTANCE: Final = Assistance()
_NO_EXIT: Final = Exit()


LeafPath = tuple[tuple[int, ...], CondNode, str, str, tuple[tuple[str, str, int], ...], bool]


def _gaps(program: Program) -> tuple[MissingParameter, ...]:
    """The program's 配置缺口 (required parameters without a value in its span), built once per program."""
    got: tuple[MissingParameter, ...] | None = program.__dict__.get("_gaps")
    if got is None:
        chain = program.chain
        got = tuple(
            _new(
                MissingParameter,
                name=name,
                zh=chain.params[name].zh,
                en=chain.params[name].en,
                jurisdiction=chain.jurisdiction,
                rules=rules,
            )
            for name, rules in chain.missing_params(program.start)
        )
        program.__dict__["_gaps"] = got
    return got


def _leaf_paths(program: Program) -> dict[str, list[LeafPath]]:
    """Per rule of the program: each condition leaf reachable from its root — through rule references —
    with the node indices on the way down (the leaf's included), its subject, and its fact or field
    operands' value slots. Built once per program and kept on it."""
    got: dict[str, list[LeafPath]] | None = program.__dict__.get("_leaf_paths")
    if got is not None:
        return got
    chain = program.chain
    roots = {rule.id: root for rule, _, root in program.rules}

    def down(n: CondNode, above: tuple[int, ...], out: list[LeafPath]) -> None:
        path = (*above, n.index)
        for k in n.children:
            down(k, path, out)
        c = n.cond
        if isinstance(c, Leaf):
            operands = tuple(
                (o.kind, o.name, x)
                for o, (how, x) in zip(c.operands, n.operands, strict=True)
                if how == "value" and o.kind in ("fact", "field")
            )
            gap = any(o.kind == "param" and hit is None for o, hit in zip(c.operands, n.hits, strict=True))
            out.append((path, n, c.subject, c.ref, operands, gap))
        elif isinstance(c, RuleRef):
            sub = roots.get(chain.alias.get(c.rule, c.rule))
            if sub is not None:
                down(sub, path, out)

    flat: dict[str, list[LeafPath]] = {}
    for rid, root in roots.items():
        down(root, (), flat.setdefault(rid, []))
    program.__dict__["_leaf_paths"] = flat
    return flat


class _Shape(NamedTuple):
    """The parts of one decision fixed by which conclusions fired and which are unknown (see ``_shape``)."""

    identification: Identification
    blocking_rules: tuple[str, ...]
    rest_rules: tuple[str, ...]
    assistance: Assistance
    warnings: tuple[Any, ...]
    exit: _ExitPart
    procedure: tuple[Any, ...]


@dataclass(frozen=True)
class _ExitPart:
    """The exit part of a decision for one combination of exit conclusions."""

    applies: bool
    maybe: tuple[str, ...]
    blockers: tuple[Any, ...]
    method: CodeLabel | None
    review_rules: tuple[str, ...]


_NO_EXIT_PART: Final = _ExitPart(applies=False, maybe=(), blockers=(), method=None, review_rules=())
(
    _G_CATEGORY,
    _G_REVIEW,
    _G_EXCLUSION,
    _G_MONITORED,
    _G_RISK,
    _G_RISK_TYPE,
    _G_LAYER,
    _G_MEASURE,
    _G_GAP,
    _G_EXIT,
    _G_FINDING,
    _G_WARNING,
) = range(len(CONCLUSION_GROUPS))
_STATUS_GROUPS: Final = (_G_CATEGORY, _G_REVIEW, _G_EXCLUSION, _G_MONITORED)
_FINDING_GROUPS: Final = (_G_RISK, _G_RISK_TYPE, _G_LAYER, _G_MEASURE, _G_GAP, _G_WARNING, _G_FINDING)
"""The groups whose findings go into a decision as they are (in ``_shape``'s order)."""
_MODEL_OF_KIND: Final[dict[str, Any]] = {
    "measure": MeasureFinding,
    "gap": MeasureFinding,
    "exit_blocker": ExitBlocker,
    "finding": ProcedureFinding,
}
"""The model of each kind's findings (any other: :class:`Finding`)."""
_IDENT_FIELDS: Final = frozenset(Identification.model_fields)


class _Status(NamedTuple):
    """What the identification's status follows from, for one combination of conclusions (see ``_status``)."""

    status: str
    category: CodeLabel | None
    candidates: tuple[CodeLabel, ...]
    exclusions: tuple[Any, ...]
    reviews: tuple[Any, ...]
    blocking_rules: tuple[str, ...]


_ABSENT: Final = object()
_DateReader = Callable[[tuple[Any, ...], Household], date | None]


def _no_date(values: tuple[Any, ...], h: Household) -> None:
    return None


def _slot_date(i: int) -> _DateReader:
    """A modifier fact's date from its value slot (None unless it is a date)."""

    def read(values: tuple[Any, ...], h: Household) -> date | None:
        v = values[i]
        return v if isinstance(v, date) else None

    return read


def _field_date(path: str) -> _DateReader:
    """A household field's date (``section.field`` or ``field``), None when absent or not a date."""
    sec, _, attr = path.rpartition(".")
    if "." in sec:  # deeper than a section: read it as the gap report does
        return lambda values, h: v if isinstance(v := _View(h).get(path), date) else None

    def read(values: tuple[Any, ...], h: Household) -> date | None:
        obj = getattr(h, sec, None) if sec else h
        v = None if obj is None else getattr(obj, attr, None)
        return v if isinstance(v, date) else None

    return read


_DATED_FIELDS: Final = frozenset(("due", "on", "days_late"))


@dataclass
class _MissingPlan:
    """For one program and one set of rules: their condition leaves with the paths above them, the node
    outcomes and the value slots that decide which leaves are open, and the answers seen so far.

    A leaf that reads one household value (the others are constants) is unknown exactly when that value
    is, so its node's outcome says all; only leaves reading two values, or a parameter without a value,
    need their values' unknown-ness in the key."""

    flat: dict[str, list[LeafPath]]
    nodes: Callable[[Any], tuple[Any, ...]]
    extra: tuple[int, ...]
    memo: dict[Any, Any] = field(default_factory=dict)


def _missing_plan(program: Program, rule_ids: tuple[str, ...]) -> _MissingPlan:
    plans: dict[tuple[str, ...], _MissingPlan] = program.__dict__.setdefault("_missing_plans", {})
    got = plans.get(rule_ids)
    if got is None:
        flat = _leaf_paths(program)
        nodes: set[int] = set()
        extra: set[int] = set()
        for rid in rule_ids:
            for path, n, _, _, operands, gap in flat.get(rid, ()):
                nodes.update(path)
                if operands or gap:
                    if n.actual is not None:
                        extra.add(n.actual)
                    extra.update(x for _, _, x in operands)
        got = _MissingPlan(flat, value_getter(sorted(nodes)), tuple(sorted(extra)))
        if len(plans) < 10_000:
            plans[rule_ids] = got
    return got


_DECISION_FIELDS: Final = tuple(Decision.model_fields)
_COMPACT_SET: Final = frozenset(CompactTrace.model_fields) - {"level"}


def _decision(values: tuple[Any, ...]) -> Decision:
    """A decision from its field values in field order, without validation (the engine's own values)."""
    return _raw(Decision, dict(zip(_DECISION_FIELDS, values, strict=True)), set(_DECISION_FIELDS))


class _Digest:
    """The input digest — sha256 of the household's canonical JSON, so a record sent as a dict, as
    text or as bytes gets the same digest — computed only when a trace is written, not per evaluation."""

    __slots__ = ("_value", "h")

    def __init__(self, h: Household) -> None:
        self.h, self._value = h, ""

    def __str__(self) -> str:
        if not self._value:
            from .models import household_digest

            self._value = household_digest(self.h)
        return self._value


class _UnknownFacts:
    """The settling paths of unknown facts, computed only when the compact trace is written."""

    __slots__ = ("run",)

    def __init__(self, run: _Run) -> None:
        self.run = run

    def data(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.run.fact_missing.items() if v}


def _as_date(v: date | str) -> date:
    """The assessment date, within the dates a household may hold (issue 13: no date arithmetic overflow)."""
    try:
        on = v if isinstance(v, date) else date.fromisoformat(v)
    except (TypeError, ValueError):
        raise EvaluationError(f"评估日期无效 / invalid assessment date `{v!s:.40}` (YYYY-MM-DD)") from None
    if not FIRST_DAY <= on <= LAST_DAY:
        raise EvaluationError(f"评估日期超出范围 / assessment date {on} outside {FIRST_DAY}…{LAST_DAY}")
    return on
