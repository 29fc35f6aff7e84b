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
import operator
import os
import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel

from . import __version__
from ._cache import cached_code
from ._construct import _alloc, _set_dict, _set_extra, _set_fields_set, _set_private
from ._construct import new as _new
from ._construct import raw as _raw
from .compile.findings_py import FindingTables, Make, TableFor, _Table
from .compile.gaps_py import GapCode, gap_code, plan_fields
from .compile.manifest import Expander, PatternMemos, SettledPaths, TextExpander, manifest
from .compile.members_py import functions as selector_functions
from .compile.members_py import named
from .compile.python import CONCLUSION_GROUPS, VALUE_GROUPS, Masks, Program, program_for
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
    full_text,
)
from .errors import EligibilityError, EngineDisagreementError, EngineUnavailableError, EvaluationError, HouseholdError
from .expressions import UNKNOWN
from .facts import CATALOGUE, _plain, flatten
from .loader import load_rules
from .models import FIRST_DAY, LAST_DAY, Household, births_after, household_digest, parse_household
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
    """How to find the absent ones among a fact's household fields: (section, attribute, JSON path, item
    field)."""
    got = _FIELD_PLANS.get(fields)
    if got is None:
        got = _FIELD_PLANS[fields] = plan_fields(fields)
    return got


def _absent(h: Household, fields: frozenset[str]) -> list[str]:
    """The JSON paths of ``fields`` (dotted paths and item paths such as ``members[].birth_date``) that the
    household does not give — what :func:`facts.missing_paths` reports, read straight off the models."""
    return _absent_of(h, _field_plan(fields))


def _absent_of(h: Household, plan: _FieldPlan) -> list[str]:
    """:func:`_absent` for fields already planned (:func:`_field_plan`)."""
    out: list[str] = []
    for sec, attr, path, sub in plan:
        obj: Any = h if sec is None else getattr(h, sec, None)
        v = None if obj is None else getattr(obj, attr, None)
        if v is None:
            out.append(path)
        elif sub is not None:
            for i, item in enumerate(v):
                if getattr(item, sub, None) is None:
                    out.append(f"{path}[{i}].{sub}")
    return out


class _Run:
    """One household through one program: values, outcomes, conclusions; gaps computed on demand.

    It is also the compact trace's lazy carrier: the engine's :class:`~eligibility.decision.CompactTrace`
    holds the run itself as both ``input_digest`` (``str()`` is the digest, computed on first need) and
    ``missing`` (``data()`` the settling paths, ``run`` the run). Why: one object per traced decision
    where there were three (the run, a digest holder, a missing-facts holder), each with a Python
    ``__init__`` frame and a free — ~2 % of an identification decision's instructions at ``compact``
    (session 19, ctrace). The generated decision (:func:`_decider`) builds it without ``__init__``
    (``_new_run`` and slot stores, the same fields in the same order)."""

    __slots__ = ("_digest", "_missing", "as_of", "fired", "h", "nodes", "program", "settled", "unknown", "values")

    def __init__(self, program: Program, h: Household, as_of: date, result: _Result | None = None) -> None:
        """``result``: what ``program.run(h, as_of)`` returned, when the caller has run it already."""
        self.program, self.h, self.as_of = program, h, as_of
        got: _Result = program.run(h, as_of) if result is None else result
        self.values, self.nodes, self.fired, self.unknown = got
        self._missing: dict[str, list[str]] | None = None
        self.settled: dict[tuple[str, ...], tuple[str, ...]] | None = None
        self._digest = ""

    def __str__(self) -> str:
        """The input digest (the compact trace's ``input_digest``) — sha256 of the household's canonical
        JSON, so a record sent as a dict, as text or as bytes gets the same digest — computed when a
        trace is written, not per evaluation."""
        if not self._digest:
            self._digest = household_digest(self.h)
        return self._digest

    @property
    def run(self) -> _Run:
        """The run itself (the compact trace's ``missing.run``: how the engine finds its own trace's run)."""
        return self

    def data(self) -> dict[str, list[str]]:
        """The compact trace's ``missing``: every unknown fact with the household paths that would settle
        it (those with none left out), in the program's fact order — what :attr:`fact_missing` gives, by
        the program's generated code (``GapCode.facts``, :mod:`eligibility.compile.gaps_py`) instead of
        walking the facts per household (session 8's per-pattern plans were new for most households
        never seen before)."""
        code = gap_code(self.program)
        return code.facts(self.values, self.h, code.all_facts)

    def missing_of_fact(self, name: str) -> list[str]:
        """For an unknown fact, the household paths that would settle it (its own and its inputs');
        computed on first need, inputs first."""
        if self._missing is None:
            self._missing = {}
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
        self._full_memos = PatternMemos()  # the text expanders' memos of patterns, shared across programs
        self._labels: dict[tuple[str, str, str], CodeLabel] = {}
        self._schemes: dict[str, Scheme | None] = {}
        self._chain_by_region: dict[str, Chain] = {}
        # What the households of one region on one day share (``_context``), and per program the memos
        # of the pieces of decisions (see ``evaluate``); each memo is bounded by _MEMO_SIZE.
        self._contexts: dict[tuple[Any, Any], _Context] = {}
        self._memos: dict[str, _Memo] = {}
        # The status and exit memos shared by the programs whose pieces they depend on are the same, by
        # fingerprint (``_share``): one dict per distinct fingerprint, each bounded as a program's was.
        self._shared_memos: dict[tuple[Any, ...], dict[Any, Any]] = {}
        self._shared_tables: dict[tuple[Any, ...], Any] = {}  # the finding tables likewise (``_table_for``)
        self._lean = _LeanCount()
        self._leads: dict[tuple[str, str], CodeLabel] = {}
        self._missing_facts: dict[tuple[str, str, tuple[str, ...]], MissingFact] = {}
        # The finding objects every program's tables share (see ``_finding_maker``), by (kind, code,
        # certainty, rules, zh, en): immutable, so one is never stale; bounded by _MEMO_SIZE.
        self._shared_findings: dict[tuple[Any, ...], Any] = {}
        self._entries = self._combinations = 0  # memo entries made since they last started over (_keep)
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
            # Bounded per engine: its patterns, counted by ``_full_keep``, in memos its programs share.
            got = TextExpander(self.manifest(key), self._full_keep, self._model_keep, self._full_memos)
            with self._lock:
                self._text_expanders[key] = got
        return got

    def _full_keep(self, table: dict[Any, Any], key: Any, value: Any, size: int) -> None:
        """Keep a full-trace text pattern (:class:`TextExpander`): each chunk's or fact's memo starts over
        when it holds ``size``, and every pattern of this engine counts against one budget,
        :data:`_FULL_PATTERN_BUDGET`; when it is spent every text expander of the engine forgets its
        patterns (not its rendered fragments, nor the decision memos: patterns are many at first — a
        few per rule of every program met — and counting them against ``_keep``'s budgets made every
        decision memo start over early in a run)."""
        self._budget_keep("_full_patterns", _FULL_PATTERN_BUDGET, TextExpander.forget_patterns, table, key, value, size)

    def _model_keep(self, table: dict[Any, Any], key: Any, value: Any, size: int) -> None:
        """Keep a full-trace model (``trace="full"``): as :meth:`_full_keep`, against a budget of its own,
        :data:`_FULL_MODEL_BUDGET`; when it is spent every text expander of the engine forgets its models
        (not its patterns)."""
        self._budget_keep("_full_models", _FULL_MODEL_BUDGET, TextExpander.forget_models, table, key, value, size)

    def _budget_keep(
        self,
        counter: str,
        budget: int,
        forget: Callable[[TextExpander], None],
        table: dict[Any, Any],
        key: Any,
        value: Any,
        size: int,
    ) -> None:
        """Keep ``value`` in ``table`` (which starts over at ``size``), counting it in the engine's
        ``counter``; past ``budget`` every text expander of the engine is passed to ``forget`` and the count
        starts again."""
        with self._lock:
            spent = self.__dict__.get(counter, 0) + 1
            if spent > budget:
                spent = 1  # the one kept below, after the forgetting
                for expander in self._text_expanders.values():
                    forget(expander)
            self.__dict__[counter] = spent
            if len(table) >= size:
                table.clear()
            table[key] = value

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
            # ``model_dump_json(exclude=...)`` without its wrapper: the same call with the same defaults.
            head = decision.__pydantic_serializer__.to_json(decision, exclude=_NO_TRACE).decode()
            t = decision.trace
            expander = self._text_expander(t.program)
            run = getattr(t.missing, "run", None)
            if type(t.values) is tuple and type(t.nodes) is tuple and isinstance(run, _Run):
                # The engine's own compact trace: its values taken as they are, not written as JSON data
                # and read back; the settling paths from the program's memo (``_Settled``).
                pieces = expander.trace_pieces(
                    t.values, t.nodes, _full_settled(run), list(t.engines), str(t.input_digest)
                )
            else:
                pieces = expander.text_pieces(t.to_data())
            # The head and the trace's first piece as one, and the closing brace appended: the ~1,700
            # pieces are joined from the list they come in, not copied into another first.
            pieces[0] = head[:-1] + ',"trace":' + pieces[0]
            pieces.append("}")
            return "".join(pieces)
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
        # The household's fields from its ``__dict__``, read once here and handed to the decision: an
        # attribute of a pydantic model goes through its ``__getattr__`` hook (two type look-ups more per
        # read, and no specialisation), and ``h.region`` here and ``h.__dict__`` there were two such reads.
        hd = h.__dict__
        try:
            ctx = self._contexts.get((hd["region"], as_of))
        except TypeError:  # an unhashable date: _as_date says what is wrong with it
            ctx = None
        if ctx is None:
            on = _as_date(as_of)
            chain = self.chain_for(h)
            if chain is None:
                return self._no_region(h, on, trace)
            ctx = self._context(h, as_of, chain, on)
        decide = ctx.decide  # (a slot read, then a call: ``ctx.decide(…)`` would be an unspecialised method look-up)
        decision: Decision = decide(self, ctx, h, hd, trace)  # generated per program: ``_decider``
        if trace != "full":
            return decision
        # The full trace from the manifest's memo of fact and rule models (each validated once, when
        # first seen), and its JSON text, should it be written, from the memo of their texts — made from
        # the compact trace the decision was built with.
        compact: Any = decision.__dict__["trace"]
        values, nodes, run = compact.values, compact.nodes, compact.missing.run
        text, missing, engines = self._text_expander(ctx.program.key), _full_settled(run), list(self.engines)
        digest = str(compact.input_digest)
        full = text.trace_model(values, nodes, missing, engines, digest)
        full_text(full, lambda: text.trace_pieces(values, nodes, missing, engines, digest))
        decision.__dict__["trace"] = full
        return decision

    def _context(self, h: Household, as_of: Any, chain: Chain, on: date) -> _Context:
        """What every household of ``h``'s region assessed on ``as_of`` shares — its program, labels,
        scheme, configuration gaps and memos — worked out on the first such household (the rules in
        force checked there), then one dict lookup per household."""
        if not chain.in_force(on):
            raise EvaluationError(
                f"{chain.jurisdiction} 在 {on} 没有生效的规则 / no rules in force for {chain.pack.en} on {on}"
            )
        program = program_for(chain, on)
        memo = self._memos.get(program.key)
        if memo is None or memo.program is not program:
            memo = _Memo(program)
            with self._lock:
                self._memos[program.key] = memo
        lean = getattr(program, "run_lean", None)
        tables = memo.tables
        if tables is None:
            make = self._finding_maker(program, on)
            tables = memo.tables = FindingTables(program, make, _FINDING_KINDS, self._table_for(program, on))
            self._share(memo, on)
        decide = memo.decide
        if decide is None:
            decide = memo.decide = _decider(self, program, memo, tables)
        ctx = _Context(
            chain=chain,
            program=program,
            on=on,
            jurisdiction=self._label("jurisdiction", chain.pack.id, chain.pack.zh, chain.pack.en),
            scheme=self._scheme(program, on),
            gaps=_gaps(program),
            run=program.run,
            lean=lean if callable(lean) else None,
            memo=memo,
            decide=decide,
        )
        self._keep(self._contexts, (h.region, as_of), ctx)
        return ctx

    def _share(self, memo: _Memo, on: date) -> None:
        """Point ``memo``'s status and exit memos at the dicts shared by every program of this engine with
        the same fingerprint of what those pieces are computed from (:func:`_status_print`,
        :func:`_exit_print`), worded as on ``on`` — the date the program's finding tables are worded on
        (``_finding_maker``; a program's span is split where a wording changes, which is what its own memo
        already relied on).

        Why: the mixed workload's households meet ~160 (region, date) contexts of 54 programs, and a
        fresh household seldom finds its program's memos warm — 0.36 status misses and 0.28 exit-part
        misses a fresh bundled household (2,000 after a 2,000 warm-up), each a few dozen µs — while the
        54 programs' status pieces have 2 distinct fingerprints (the national categories, reviews,
        exclusions) and their exit pieces 2: shared, the misses fall to 0.05 and 0.14. The fingerprints
        hold every input of those pieces besides the masks (conclusions with their rule ids, labels and
        codes, the slots or fields blockers are dated from), so a shared entry is the one the program
        would have made. Bounded as before: each shared dict starts over at ``_MEMO_SIZE`` (``_keep``)
        and there is one per distinct fingerprint, at most one per program."""
        vocab = self.rules.vocab
        shared = self._shared_memos
        status = _status_print(memo.program, vocab, on)
        exit_ = _exit_print(self, memo.program, vocab, on)
        with self._lock:
            for name, fp in (
                ("statuses", status),
                ("exit_parts", exit_),
                ("exit_idle", exit_),
                ("exit_methods", exit_),
            ):
                got = shared.get((name, fp))
                if got is None:
                    got = shared[(name, fp)] = getattr(memo, name)
                setattr(memo, name, got)

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
            raise EngineDisagreementError(diff, str(run))

    # ---------------------------------------------------------------------------------- decision

    def _scheme(self, program: Program, on: date) -> Scheme | None:
        """The scheme's own words on this date — one object per program (spans split where wording changes)."""
        if program.key in self._schemes:
            return self._schemes[program.key]
        data = self.rules.scheme(on)
        got = self._schemes[program.key] = Scheme.model_validate(data) if data is not None else None
        return got

    def _channel(self, h: Household, on: date, k: tuple[str, str]) -> CodeLabel | None:
        """The label of the recorded risk lead's channel (:meth:`RuleSet.lead`) under ``k`` = (program key,
        channel name), on a miss of ``_leads`` — one frozen object per (program, channel): the wording is
        the program's (spans split where wording changes). The lead itself (风险线索) is built per
        household in the generated decision (:func:`_decider`), without validation. (Kept per (program,
        channel, date) before: on households never seen before half the dates were new, and each entry
        spent the engine's combination budget, bringing the next start-over of every memo nearer.)"""
        data = self.rules.lead(h, on)
        label = data["channel"] if data is not None else None
        if label is None:
            return None
        # (a channel always has its label: a code without one is its own)
        channel = self._label("channel", label["code"], label["zh"], label["en"])
        self._keep(self._leads, k, channel)
        return channel

    def _keep(
        self, table: dict[Any, Any], key: Any, value: Any, size: int | None = None, *, answer: bool = False
    ) -> None:
        """Remember ``value`` in a memo of this engine, which starts over when it holds ``size`` entries
        (default ``_MEMO_SIZE``).

        Most memos are keyed by combinations of conclusions, which a county shares (a few thousand).
        Some hold *answers* keyed by a household's own values — the unknown values of its gap report
        (``answer=True``) — and hang off the others (a gap-report plan holds its answers; until session
        10 also the dated procedure findings, exits and members, now built per household), so a bound
        per table alone multiplied into hundreds of MiB over a long run of varied households (issue
        13: ~9 KiB a household, 440 MiB at 40,000). Every answer therefore also counts against one budget per
        engine, :data:`_ENTRY_BUDGET`: when it is spent, every answer memo starts over at once
        (:meth:`_start_over`) while the combinations, plans and programs stay — rebuilding those is
        what a cold start costs (~1 ms a household on the bundled packs)."""
        with self._lock:
            if answer:
                self._entries += 1
                if self._entries > _ENTRY_BUDGET:
                    self._start_over()
            else:
                self._combinations += 1
                if self._combinations > _COMBINATION_BUDGET:  # a workload where even these rarely repeat
                    self._start_over(everything=True)
            if len(table) >= (_MEMO_SIZE if size is None else size):
                table.clear()
            table[key] = value

    def memo_sizes(self) -> dict[str, int]:
        """How many entries this engine's memos hold, by kind — for benchmarks and memory checks (a
        figure that leans on memos filled by the very households it times says so here). ``answers`` and
        ``combinations`` are the budgets' counters (:meth:`_keep`); the ``program_*`` entries are the
        plans kept on the programs this engine has used (shared with other engines using them)."""
        out: dict[str, int] = {
            "contexts": len(self._contexts),
            "leads": len(self._leads),
            "missing_facts": len(self._missing_facts),
            "answers_since_start_over": self._entries,
            "combinations_since_start_over": self._combinations,
            "shared_findings": len(self._shared_findings),
        }
        per: dict[str, int] = {}

        def add(name: str, n: int) -> None:
            per[name] = per.get(name, 0) + n

        seen: set[int] = set()  # (a gap memo is shared by the programs of a chain writing one text)
        counted: set[int] = set()  # (status and exit memos may be shared by programs: ``_share``)
        for memo in list(self._memos.values()):
            for t in () if memo.tables is None else memo.tables.tables:  # (shared: ``_table_for``)
                if id(t) not in counted:
                    counted.add(id(t))
                    add("groups", len(t))
            for name, table in (
                ("statuses", memo.statuses),
                ("idents", memo.idents),
                ("exit_parts", memo.exit_parts),
                ("exit_parts", memo.exit_idle),  # the idle parts are exit parts too
            ):
                if id(table) not in counted:
                    counted.add(id(table))
                    add(name, len(table))
            kept = memo.program.__dict__
            for name in ("_missing_plans", "_settle_plans", "_rule_gaps"):
                plans = kept.get(name) or {}
                add("program" + name, len(plans))
                if name in ("_missing_plans", "_rule_gaps"):
                    add("program" + name + "_answers", sum(len(p.memo) for p in list(plans.values())))
            gaps = kept.get("_gap_code")
            answers = 0
            if gaps is not None and id(gaps.memo) not in seen:
                seen.add(id(gaps.memo))
                answers = len(gaps.memo)
            add("program_gap_answers", answers)
        out.update(per)
        return out

    def _start_over(self, *, everything: bool = False) -> None:
        """Empty every answer memo — with ``everything``, every memo of decision pieces, plans included
        (called with the lock held; see :meth:`_keep`). A decision already built keeps the objects it
        refers to; the next household with the same values builds them again."""
        self._entries = 0
        for memo in list(self._memos.values()):
            memo.forget_answers()
            if everything:
                memo.forget_combinations()
        if everything:
            self._combinations = 0
            self._leads.clear()
            self._missing_facts.clear()
            self._shared_findings.clear()
            self._contexts.clear()

    def _label(self, kind: str, code: str, zh: str, en: str) -> CodeLabel:
        """A code with its labels — one frozen object per (kind, code), shared by every decision."""
        got = self._labels.get((kind, code, zh))
        if got is None:
            got = self._labels[(kind, code, zh)] = _new(CodeLabel, code=code, zh=zh, en=en)
        return got

    def _finding_maker(self, program: Program, on: date) -> Callable[[str, str, bool, tuple[str, ...]], Any]:
        """How :class:`FindingTables` makes the findings of ``program``: one frozen object per (kind, code,
        certainty, rules), worded as on ``on`` (programs split their spans where a wording changes), made
        the first time a decision concludes it and kept in the program's tables — for a procedure finding,
        the function that dates it per household (:func:`_dater`; the generated decision calls it, :func:`_decider`).

        The objects themselves are shared by every program of this engine (``_shared_findings``): the
        tables are per program, and over the bundled packs' ~160 programs they miss for most fresh
        households (1,626 misses on 2,000 after a 2,000 warm-up), while an equal finding — same kind, code,
        certainty, rules and wording — had been made for another program before in nearly all of them
        (1,493; building it was ~3 µs of a miss). Only a procedure finding's dater is the program's own (where its
        dates are: value slots differ per program)."""
        vocab = self.rules.vocab
        shared = self._shared_findings

        def make(kind: str, code: str, certain: bool, rules: tuple[str, ...]) -> Any:
            v = vocab(kind, code, on)
            k = (kind, code, certain, rules, v.zh, v.en)
            got = shared.get(k)
            if got is None:
                got = _new(_MODEL_OF_KIND.get(kind, Finding), code=code, zh=v.zh, en=v.en, certain=certain, rules=rules)
                if kind == "finding":
                    got.__dict__["severity"] = vocab("finding", code).severity
                if len(shared) >= _MEMO_SIZE:  # bounded as the tables are; an equal one is made again
                    shared.clear()
                shared[k] = got
            if kind != "finding":
                return got
            due = self._date_where(program, rules[0], "finding", code, "due")
            return _dater(got, due, self._date_where(program, rules[0], "finding", code, "done"))

        return make

    def _table_for(self, program: Program, on: date) -> TableFor:
        """How ``program``'s finding tables (:class:`FindingTables`) get a code's table of one certainty:
        the one this engine's programs share for the same kind, code, certainty, (bit, rule id) pairs,
        wording on ``on`` and — for a procedure finding — the value slots or fields each rule's due and
        done dates are read from: what :meth:`_finding_maker`'s ``make`` builds its entries from, so a
        shared entry is the object this program's own table would have held.

        Why: the tables are per program, and on the mixed workload a fresh household missed one 0.82
        times (2,000 after a 2,000 warm-up), mostly for an entry another program's equal table already
        held (procedure findings: 0.46 misses, 0.17 new by content). Bounded: a table per distinct
        fingerprint (at most one per table of every program) and each table by its own size."""
        vocab, shared = self.rules.vocab, self._shared_tables

        def table(make: Make, kind: str, code: str, certain: bool, rules: Sequence[tuple[int, str]]) -> Any:
            v = vocab(kind, code, on)
            dates: tuple[Any, ...] = ()
            if kind == "finding":
                dates = (vocab(kind, code).severity,)
                for _, rid in rules:
                    for modifier in ("due", "done"):
                        where = self._date_where(program, rid, kind, code, modifier)
                        dates += (where if where is None or isinstance(where, int) else _FIELD_PATHS[where],)
            key = (kind, code, certain, tuple(rules), v.zh, v.en, dates)
            with self._lock:
                got = shared.get(key)
                if got is None:
                    got = shared[key] = _Table(make, kind, code, certain, rules)
            return got

        return table

    def _missing(self, run: _Run, rule_ids: tuple[str, ...]) -> tuple[MissingFact, ...]:
        """The unknown leaf facts of these rules (the exit's open questions), each with the household
        paths that would settle it: the union of the rules' masks from the program's generated gap code
        (:mod:`eligibility.compile.gaps_py`), answered as one side of :meth:`_reports`."""
        code = gap_code(run.program)
        fns, nodes, values = code.rules, run.nodes, run.values
        mask = 0
        for rid in rule_ids:
            mask |= fns[rid](nodes, values)
        return self._reports(run, code, mask, 0)[0]

    def _missing_fact(self, chain: Chain, name: str, fields: tuple[str, ...]) -> MissingFact:
        """A fact or field with the paths that would settle it — one frozen object per (chain, name, paths)."""
        key = (chain.pack.id, name, fields)
        got = self._missing_facts.get(key)
        if got is None:
            f = chain.facts.get(name)
            spec = CATALOGUE.get(name)
            zh, en = (f.zh, f.en) if f is not None else ((spec.zh, spec.en) if spec else (name, name))
            got = _new(MissingFact, name=name, zh=zh, en=en, fields=fields)
            self._keep(self._missing_facts, key, got, _SHAPE_CACHE_SIZE)
        return got

    def _date_reader(self, program: Program, rid: str, kind: str, code: str, modifier: str) -> _DateReader | None:
        """How to read a conclusion's modifier date off a run — a value slot, or a household field read
        as :class:`_View` reads it — or None when the rule gives it no such date. Made once per (program,
        rule, conclusion, modifier) and kept on the program (bounded by its rules' conclusions): every new
        combination of procedure or exit conclusions asks again for readers other combinations share."""
        readers: dict[tuple[str, str, str, str], _DateReader | None] | None = program.__dict__.get("_date_readers")
        if readers is None:
            readers = program.__dict__["_date_readers"] = {}
        k = (rid, kind, code, modifier)
        if k in readers:
            return readers[k]
        where = self._date_where(program, rid, kind, code, modifier)
        got = None if where is None else _slot_date(where) if isinstance(where, int) else where
        readers[k] = got
        return got

    def _date_where(self, program: Program, rid: str, kind: str, code: str, modifier: str) -> int | _DateReader | None:
        """Where a conclusion's modifier date is: the index of its value slot (read inline by the code that
        dates it, :func:`_dater`), a reader of the household field (:func:`_field_date`), or None when the
        rule gives it no such date. Kept on the program per (rule, conclusion, modifier), as the readers
        are: a finding of several rules is made anew for each set of them seen together (the tables miss
        for some households in every batch of fresh ones), and each asks again for its first rule's dates."""
        wheres: dict[tuple[str, str, str, str], int | _DateReader | None] | None = program.__dict__.get("_date_wheres")
        if wheres is None:
            wheres = program.__dict__["_date_wheres"] = {}
        k = (rid, kind, code, modifier)
        if k in wheres:
            return wheres[k]
        name = program.chain.rules[rid].modifiers.get((kind, code), {}).get(modifier)
        where = program.fact_index.get(name, name) if name else None
        got = wheres[k] = where if where is None or isinstance(where, int) else _field_date(where)
        return got

    def _status(self, memo: _Memo, f: Masks, u: Masks, on: date) -> _Status:
        """The identification's status, category and candidates, exclusions and reviews, and the rules left
        unknown that block it — from the category, review, exclusion and already-monitored conclusions
        (memoised per combination of those).

        Labels as worded on ``on``: programs split their spans where a wording changes, and this is
        memoised per program, so every household sharing it shares the wording too."""
        program = memo.program
        k = (f[0], f[1], f[2], f[3], u[0], u[1], u[2], u[3])
        # Each status group concludes one kind (CONCLUSION_GROUPS): a group's conclusions are that kind's,
        # listed per group (most misses have a few bits set in one or two of them).
        bits = program.conclusion_bits
        fired_cats = _concluded(bits[_G_CATEGORY], f[_G_CATEGORY])
        unknown_cats = _concluded(bits[_G_CATEGORY], u[_G_CATEGORY])
        unknown_exclusions = _concluded(bits[_G_EXCLUSION], u[_G_EXCLUSION])
        unknown_monitored = _concluded(bits[_G_MONITORED], u[_G_MONITORED])
        sure_cats = sorted({c for _, c, _ in fired_cats}) if fired_cats else []
        maybe_cats = [c for c in sorted({c for _, c, _ in unknown_cats}) if c not in sure_cats] if unknown_cats else []
        tables = memo.tables
        assert tables is not None  # made with the program's first context
        exclusions = tables.group(_G_EXCLUSION, "exclusion")(f[_G_EXCLUSION], u[_G_EXCLUSION])
        reviews = tables.group(_G_REVIEW, "review")(f[_G_REVIEW], u[_G_REVIEW])
        # A gap never turns into a "no" nor into a premature "yes": a category left unknown, a review
        # reason left unknown, whether the household is already monitored, and — for a household that
        # would be identified — information-comparison evidence not yet known (信息比对 precedes
        # 民主评议, seed:JINGBIAN) all make the case needs_review, naming the data that would settle it.
        deciding = unknown_cats + _concluded(bits[_G_REVIEW], u[_G_REVIEW]) + unknown_monitored
        if sure_cats:
            deciding += unknown_exclusions
        blocking_rules = tuple(sorted({rid for _, _, rid in deciding})) if deciding else ()

        def label(code: str) -> CodeLabel:
            v = self.rules.vocab("category", code, on)
            return self._label("category", code, v.zh, v.en)

        category = None
        if _concluded(bits[_G_MONITORED], f[_G_MONITORED]):
            status = "already_monitored"
        elif len(sure_cats) == 1 and not exclusions and not unknown_exclusions and not unknown_monitored:
            status, category = "identified", label(sure_cats[0])
        elif sure_cats or maybe_cats or True in [x.certain for x in reviews] or blocking_rules:
            status = "needs_review"
        else:
            status = "not_identified"
        candidates = tuple([label(c) for c in (sure_cats if status != "identified" else []) + maybe_cats])
        got = _Status(status, category, candidates, exclusions, reviews, blocking_rules)
        self._keep(memo.statuses, k, got)
        return got

    def _exit_part(self, memo: _Memo, f: int, u: int, on: date) -> _ExitPart:
        """The exit part for these exit conclusions (memoised per combination).

        Where no exit-applies rule fired, the exit is none or "needs review" for the applies rules left
        unknown (:meth:`_exit`), whatever the blockers and the method: that part is kept by those unknown
        bits alone (``memo.exit_idle``), holding only them (session 19: such misses were ~15 % of a fresh
        bundled household's exit parts, nearly all an unknown-applies combination seen before)."""
        k = (f, u)
        got = memo.exit_parts.get(k)
        if got is not None:
            return got
        program = memo.program
        # The bits of rules concluding each exit kind (once per program): most parts are new combinations
        # on households never seen before, and listing every fired and unknown exit conclusion to pick out
        # each kind was most of a miss; a kind whose bits are not set is skipped with one ``&``.
        kinds: tuple[int, int, int] | None = program.__dict__.get("_exit_kinds")
        if kinds is None:
            bits = {kind: 0 for kind in CONCLUSION_GROUPS[_G_EXIT]}
            for b, conclusions in enumerate(program.conclusion_bits[_G_EXIT]):
                for kind, _, _ in conclusions:
                    bits[kind] |= 1 << b
            kinds = program.__dict__["_exit_kinds"] = (bits["exit_applies"], bits["exit_blocker"], bits["exit_method"])
        applies, blocker, methods = kinds
        table = program.conclusion_bits[_G_EXIT]
        if not f & applies:
            maybe_bits = u & applies
            got = memo.exit_idle.get(maybe_bits)
            if got is None:
                maybe = tuple([rid for k_, _, rid in _concluded(table, maybe_bits) if k_ == "exit_applies"])
                got = _ExitPart(False, maybe, (), None, (), (), False, [])
                self._keep(memo.exit_idle, maybe_bits, got)
            return got
        method = None
        if f & methods:
            # Per combination of exit-method conclusions (a few per program; a fresh household's exit part
            # is mostly new for its blockers, not its method).
            m = f & methods
            method = memo.exit_methods.get(m)
            if method is None:
                fired = _concluded(table, m)
                v = self.rules.vocab("exit_method", min(c for k, c, _ in fired if k == "exit_method"), on)
                method = self._label("exit_method", v.code, v.zh, v.en)
                if len(memo.exit_methods) >= _MEMO_SIZE:
                    memo.exit_methods.clear()
                memo.exit_methods[m] = method
        unknown = _concluded(table, u & (applies | blocker))
        assert memo.tables is not None  # made with the program's first context
        blockers = memo.tables.group(_G_EXIT, "exit_blocker")(f, u)
        # (Lists, not generators, and nothing listed for an empty side: a generator's set-up was a good
        # part of a miss, and half the misses have no unknown exit conclusion.) Each blocker's plan from
        # the program's plans, fetched once a miss (:meth:`_blocker_plan` makes one the first time).
        plans: dict[int, _BlockerPlan] = program.__dict__.get("_blocker_plans") or {}
        until = []
        for b in blockers:
            plan = plans.get(id(b))
            until.append(plan if plan is not None else self._blocker_plan(program, b))
        got = _ExitPart(
            applies=True,
            maybe=tuple([rid for k, _, rid in unknown if k == "exit_applies"]) if unknown else (),
            blockers=blockers,
            method=method,
            review_rules=tuple(sorted({rid for k, _, rid in unknown if k == "exit_blocker"})) if unknown else (),
            until=tuple(until),
            certain=bool(f & blocker),  # a blocker rule fired: a certain blocker among ``blockers``
            blocked=[],
        )
        self._keep(memo.exit_parts, k, got)
        return got

    def _blocker_plan(self, program: Program, b: Any) -> _BlockerPlan:
        """How to date one exit blocker (a finding the program's tables share per (code, certainty,
        rules)): the reader of each of its rules' ``until`` date and the fields-set of the dated blocker
        — once per blocker, kept on the program by its ``id`` (the plan holds the blocker, so the id
        stays its own): the exit parts themselves are mostly new combinations on households never seen
        before, their blockers are not."""
        plans: dict[int, _BlockerPlan] | None = program.__dict__.get("_blocker_plans")
        if plans is None:
            plans = program.__dict__["_blocker_plans"] = {}
        got = plans.get(id(b))
        if got is None:
            readers = tuple(self._date_reader(program, rid, "exit_blocker", b.code, "until") for rid in b.rules)
            fields = frozenset(b.__pydantic_fields_set__ | {"until"})
            undated = b.__dict__.copy()
            undated["until"] = None
            got = _BlockerPlan(b, readers, fields, _raw(type(b), undated, set(fields)))
            if len(plans) >= _MEMO_SIZE:
                plans.clear()
            plans[id(b)] = got
        return got

    def _exit(self, run: _Run, part: _ExitPart) -> Exit:
        """风险消除: only for a household under monitoring; eligible when no blocker holds or may hold.

        Everything but the blockers' dates is the part's; the exit itself is built per household (kept
        per (part, dates) before: on households never seen before most were new, and each kept object
        was more for the collector to walk). Each blocker's readers and fields-set come with the part
        (:meth:`_blocker_plan`), so per household only the dates are read.

        Session 19: a blocker whose ``until`` this household leaves unknown is the plan's one undated copy
        (on fresh bundled households 2,883 of 2,899 dated blockers were), and a blocked exit all of whose
        blockers are undated — the same for every household of its part — is made once per part
        (``part.blocked``). Both are frozen objects shared by decisions, as the findings are."""
        if not part.applies:
            if part.maybe:
                return _new(Exit, status="needs_review", blocking=self._missing(run, part.maybe))
            return _NO_EXIT
        values, h = run.values, run.h
        blockers = []
        gated = True  # every blocker a time gate (its until known)
        undated_only = True  # every blocker its plan's undated copy
        for b, readers, fields, undated in part.until:
            until = None
            for read in readers:
                d = None if read is None else read(values, h)
                if d is None:
                    until = None
                    break
                if until is None or d > until:
                    until = d
            if until is None:
                gated = False
                blockers.append(undated)
                continue
            undated_only = False
            data = b.__dict__.copy()  # what ``_clone(b, until=until)`` makes
            data["until"] = until
            blockers.append(_raw(type(b), data, set(fields)))
        if part.certain and undated_only:
            # Blocked with no date: the part's own exit (``gated`` is False: there is a blocker).
            made = part.blocked
            if made:
                return made[0]
        dated = tuple(blockers)
        opens_on = blocking = None
        if part.certain:
            status = "blocked"
            # The earliest exit date only when every blocker — the pending ones too — is a time gate: a
            # blocker not yet settled (income stability unconfirmed) may hold past any date.
            if gated:
                opens_on = max(b.until for b in dated)
        elif dated:
            status = "needs_review"
            blocking = self._missing(run, part.review_rules)
        else:
            status = "eligible"
        given = {"blockers", "method", "status"}  # the fields-set ``_new(Exit, ...)`` would record
        if opens_on is not None:
            given.add("opens_on")
        if blocking is not None:
            given.add("blocking")
        data = {  # in field order, as ``_new(Exit, ...)`` lays it out
            "status": status,
            "blockers": dated,
            "opens_on": opens_on,
            "method": part.method,
            "blocking": () if blocking is None else blocking,
        }
        got: Exit = _raw(Exit, data, given)
        if part.certain and undated_only:
            part.blocked.append(got)  # (two threads may both append: equal exits, the first is read)
        return got

    def _open(self, memo: _Memo, run: _Run, status: _Status) -> tuple[tuple[MissingFact, ...], ...]:
        """The facts that would settle this household's open questions: those blocking its status (when
        it needs review) and those of every other rule left unknown.

        Each side is the union of its rules' masks, from the program's generated gap code
        (:mod:`eligibility.compile.gaps_py`: straight-line code that goes down a rule's tree only through
        unknown nodes), answered by :meth:`_reports`. Why: sessions 6–9 memoised answers on node
        outcomes (per set of rules, then per rule); on households never seen before those keys were new
        for most households, and each miss built a plan. The masks say only which facts and paths are
        asked for, and repeat."""
        nodes, values = run.nodes, run.values
        program = memo.program
        code = program.__dict__.get("_gap_code") or gap_code(program)  # (kept there by gap_code)
        block = 0
        if status.status == "needs_review":
            fns = code.rules
            for rid in status.blocking_rules:
                block |= fns[rid](nodes, values)
        # Every unknown rule's items, the blocking rules' too: those belong to the blocking side's
        # subjects, which the other side leaves out whole (``_reports``). (``guarded`` read, then called:
        # a slot read CPython specialises, where ``code.guarded(…)`` is a method look-up it does not.)
        # ``guarded`` is ``unknown`` with each rule's root test under a test of the run's unknown masks
        # (``gaps_py._guarded``): the same mask, ~97 root tests a bundled household fewer than ``unknown``.
        guarded = code.guarded
        return self._reports(run, code, block, guarded(nodes, values, run.unknown))

    def _reports(self, run: _Run, code: GapCode, block: int, rest: int) -> tuple[tuple[MissingFact, ...], ...]:
        """The two sides of a gap report from their masks — the blocking side's, and the rest's without
        the blocking side's subjects (each subject is reported once) — each side made once per mask
        (:class:`_GapSide`: which facts and paths it asks for, not the household), then the settling
        paths of the facts they name read off this household (``GapCode.facts``, those facts only)."""
        # The sides unpacked, not read by name: a NamedTuple's field is a descriptor CPython 3.11 does not
        # specialise (a generic attribute look-up each), where unpacking a tuple is one instruction.
        memo = code.memo
        bs: _Side = ()
        rs: _Side = ()
        bw = rw = 0
        if block:
            bs, bw, cover = memo.get(block) or self._gap_side(run.program, code, block)
            rest &= ~cover
        if rest:
            rs, rw, _ = memo.get(rest) or self._gap_side(run.program, code, rest)
        if not (bw or rw):  # (a side that wants no fact is its finished tuple)
            return bs, rs  # type: ignore[return-value]
        facts = code.facts  # (read, then called: as ``unknown`` in ``_open``)
        paths = facts(run.values, run.h, bw | rw)
        chain = run.program.chain
        return (  # type: ignore[return-value]
            self._settle(chain, bs, paths) if bw else bs,  # type: ignore[arg-type]
            self._settle(chain, rs, paths) if rw else rs,  # type: ignore[arg-type]
        )

    def _gap_side(self, program: Program, code: GapCode, mask: int) -> _GapSide:
        """One side of a gap report for its mask: per subject (lowest bit first, which is name order:
        ``GapCode.subject_at``) its share of the mask, made once per share (:class:`_GapPart`) — a
        finished tuple of :class:`MissingFact` when it names no unknown fact — kept in the program's gap
        memo (an answer: ``_keep``)."""
        parts, at = code.parts, code.subject_at
        entries: list[_GapPart] = []
        cover = want = 0
        bits = mask
        while bits:
            own = at[(bits & -bits).bit_length() - 1]
            share = mask & own
            part = parts.get(share) or _gap_part(self, program, code, share)
            entries.append(part)
            want |= part[3]  # (``want`` by index: a NamedTuple's field is a look-up CPython 3.11 does not specialise)
            cover |= own
            bits &= ~own
        # Made with ``tuple.__new__`` (one C call, the same object: ``_GapSide(…)`` is a Python-level
        # ``__new__``), the finished tuple by ``map`` (a generator is a frame per side).
        side = entries if want else tuple(map(_MADE, entries))
        got: _GapSide = tuple.__new__(_GapSide, (side, want, cover))
        self._keep(code.memo, mask, got, _SHAPE_CACHE_SIZE, answer=True)
        return got

    def _settle(self, chain: Chain, side: list[_GapPart], paths: dict[str, list[str]]) -> tuple[MissingFact, ...]:
        """One side of a report on this household: each subject's static paths and its facts' settling
        paths (sorted, without repeats), its :class:`MissingFact` shared per (chain, name, paths)."""
        out = []
        known, pack = self._missing_facts, chain.pack.id  # _missing_fact's memo, read here first
        for subject, static, facts, _, made in side:
            if made is not None:
                out.append(made)
                continue
            if len(facts) == 1 and not static:
                fields = tuple(paths.get(facts[0], ()))
            else:
                got = set(static)
                for f in facts:
                    got.update(paths.get(f, ()))
                fields = tuple(sorted(got))
            fact = known.get((pack, subject, fields))
            out.append(fact if fact is not None else self._missing_fact(chain, subject, fields))
        return tuple(out)

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
                "input_digest": household_digest(h),
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
_COMBINATION_BUDGET: Final = 100_000
"""Entries of the memos keyed by combinations of conclusions one engine makes before every memo starts
over: a county's few thousand combinations never come near it; data whose gaps make nearly every
household its own combination (generated workloads) do, and memory stays bounded all the same."""
_ENTRY_BUDGET: Final = 50_000
"""Answers one engine memoises before its answer memos start over (see ``Engine._keep``): at about
1 KiB an answer (a gap-report answer) some 50 MiB."""
_MEMO_SIZE: Final = 16_384
"""Entries kept per memo of decision pieces: a county's combinations of one kind of conclusion (a
thousand or so of risk types among 10⁵ households) fit; when full, the memo starts over."""
_RULE_OUTCOME: Final[dict[Any, str]] = {True: "fired", False: "not_fired", UNKNOWN: "unknown"}
_NO_ASSISTANCE: Final = Assistance()
_NO_EXIT: Final = Exit()


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


_DateReader = Callable[[tuple[Any, ...], Household], date | None]


class _BlockerPlan(NamedTuple):
    """How to date one exit blocker per household (see ``Engine._blocker_plan``)."""

    blocker: Any
    readers: tuple[_DateReader | None, ...]
    """How to read each of its rules' ``until`` date."""
    fields: frozenset[str]
    """The dated blocker's fields-set (copied per household: each instance owns its own)."""
    undated: Any
    """The blocker with ``until`` unknown (None): one object, shared by the decisions that leave it so."""


class _ExitPart(NamedTuple):
    """The exit part of a decision for one combination of exit conclusions (a tuple, not a frozen
    dataclass: most combinations are new on households never seen before, and a frozen dataclass sets
    each field through ``object.__setattr__``)."""

    applies: bool
    maybe: tuple[str, ...]
    blockers: tuple[Any, ...]
    method: CodeLabel | None
    review_rules: tuple[str, ...]
    until: tuple[_BlockerPlan, ...]
    """Per blocker, its readers and fields-set."""
    certain: bool
    """Whether a blocker holds for certain (then the exit is blocked)."""
    blocked: list[Exit]
    """The blocked exit when every blocker's ``until`` is unknown — the same for every household of this
    part — made on first need (``Engine._exit``); empty until then."""


_Result = tuple[tuple[Any, ...], Any, Masks, Masks]
"""What a program's run returns: values, node outcomes (None from a lean run), fired and unknown masks."""
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
"""The groups whose findings go into a decision as they are (in ``evaluate``'s order)."""
_FINDING_KINDS: Final = tuple((g, CONCLUSION_GROUPS[g][0]) for g in _FINDING_GROUPS)
"""(group, kind) of :data:`_FINDING_GROUPS`: the kind each group's findings show (one per group)."""
_IDENT_GROUPS: Final = (_G_RISK, _G_RISK_TYPE, _G_LAYER)
"""The finding groups an :class:`Identification` lists (risks, risk types, layers)."""
_MODEL_OF_KIND: Final[dict[str, Any]] = {
    "measure": MeasureFinding,
    "gap": MeasureFinding,
    "exit_blocker": ExitBlocker,
    "finding": ProcedureFinding,
}
"""The model of each kind's findings (any other: :class:`Finding`)."""
_IDENT_FIELDS: Final = frozenset(Identification.model_fields)


def _concluded(table: Sequence[Sequence[Conclusion]], mask: int) -> list[Conclusion]:
    """What :meth:`Program.conclusions` gives for one group's ``table`` (``program.conclusion_bits[g]``) and
    ``mask`` — the conclusions of its set bits in bit (rule) order — visiting only the set bits: the status
    and exit parts are mostly new combinations on fresh households, and their masks are sparse (an exit
    method's bit among ~20), where a walk over every bit up to the highest was most of the listing."""
    out: list[Conclusion] = []
    while mask:
        low = mask & -mask
        out += table[low.bit_length() - 1]
        mask ^= low
    return out


def _worded(program: Program, groups: Sequence[int], kinds: frozenset[str], vocab: Any, on: date) -> tuple[Any, ...]:
    """``groups``' conclusion tables with the code and labels, as worded on ``on``, of each conclusion of
    ``kinds`` (the kinds whose labels the piece shows)."""
    words = []
    for g in groups:
        for conclusions in program.conclusion_bits[g]:
            for kind, code, _ in conclusions:
                if kind in kinds:
                    v = vocab(kind, code, on)
                    words.append((kind, code, v.code, v.zh, v.en))
    return (tuple(program.conclusion_bits[g] for g in groups), tuple(words))


def _status_print(program: Program, vocab: Any, on: date) -> tuple[Any, ...]:
    """What :meth:`Engine._status` computes a status from besides its masks: the status groups'
    conclusion tables (kinds, codes, rule ids per bit: the exclusion and review findings, the blocking
    rules) and the labels of their categories, exclusions and reviews (the findings' and candidates'
    wording)."""
    return ("status", _worded(program, _STATUS_GROUPS, _STATUS_WORDED, vocab, on))


def _exit_print(engine: Engine, program: Program, vocab: Any, on: date) -> tuple[Any, ...]:
    """What :meth:`Engine._exit_part` computes an exit part from besides its masks: the exit group's
    conclusion tables, the labels of its blockers and methods, and where each blocker rule's ``until``
    date is read (:meth:`Engine._date_where`: a value slot's index or a household field's path — the
    part's blocker plans read it there)."""
    where = []
    for conclusions in program.conclusion_bits[_G_EXIT]:
        for kind, code, rid in conclusions:
            if kind == "exit_blocker":
                got = engine._date_where(program, rid, kind, code, "until")
                # (a field's reader is shared per path, ``_field_date``: its path is what it reads)
                where.append(got if got is None or isinstance(got, int) else _FIELD_PATHS[got])
    return ("exit", _worded(program, (_G_EXIT,), _EXIT_WORDED, vocab, on), tuple(where))


_STATUS_WORDED: Final = frozenset({"category", "exclusion", "review"})
_EXIT_WORDED: Final = frozenset({"exit_blocker", "exit_method"})


class _Status:
    """What the identification's status follows from, for one combination of conclusions (see ``_status``).

    A class with slots, not a NamedTuple: the generated decision reads five of its fields per household,
    and CPython 3.11 specialises a slot read (a few instructions) but not a NamedTuple's field descriptor
    (a generic attribute look-up each, ~150 instructions more: session 20)."""

    __slots__ = ("blocking_rules", "candidates", "category", "exclusions", "reviews", "status")

    def __init__(
        self,
        status: str,
        category: CodeLabel | None,
        candidates: tuple[CodeLabel, ...],
        exclusions: tuple[Any, ...],
        reviews: tuple[Any, ...],
        blocking_rules: tuple[str, ...],
    ) -> None:
        self.status = status
        self.category = category
        self.candidates = candidates
        self.exclusions = exclusions
        self.reviews = reviews
        self.blocking_rules = blocking_rules


def _slot_date(i: int) -> _DateReader:
    """A modifier fact's date from its value slot (None unless it is a date)."""

    def read(values: tuple[Any, ...], h: Household) -> date | None:
        v = values[i]
        return v if isinstance(v, date) else None

    return read


def _field_date(path: str) -> _DateReader:
    """A household field's date (``section.field`` or ``field``), None when absent or not a date — one
    reader per path, shared by every program: a dater is shared by its sources (:func:`_dater`), and a
    field read by the programs of several packs and spans is one source, not one per program."""
    got = _FIELD_READERS.get(path)
    if got is None:
        got = _FIELD_READERS[path] = _field_reader(path)  # a path of the rules: a bounded set
        _FIELD_PATHS[got] = path
    return got


_FIELD_READERS: dict[str, _DateReader] = {}
_FIELD_PATHS: dict[_DateReader, str] = {}
"""The path each of :data:`_FIELD_READERS` reads (an exit fingerprint names a reader by it, ``_exit_print``)."""


def _field_reader(path: str) -> _DateReader:
    """:func:`_field_date`'s reader, made."""
    sec, _, attr = path.rpartition(".")
    if "." in sec:  # deeper than a section: read it as the gap report does
        return lambda values, h: v if isinstance(v := _View(h).get(path), date) else None

    def read(values: tuple[Any, ...], h: Household) -> date | None:
        obj = getattr(h, sec, None) if sec else h
        v = None if obj is None else getattr(obj, attr, None)
        return v if isinstance(v, date) else None

    return read


_DATED_FIELDS: Final = frozenset(("due", "on", "days_late"))

_Dater = Callable[[tuple[Any, ...], Household, date], Any]
"""Dates one procedure finding for a household: ``dated(values, h, as_of)`` (see :func:`_dater`)."""
_RAW_PARTS: Final = {
    "alloc": _alloc,
    "set_dict": _set_dict,
    "set_fields": _set_fields_set,
    "set_extra": _set_extra,
    "set_private": _set_private,
}
"""What :func:`~eligibility._construct.raw` calls, for generated code that writes it out."""
_DATER_KINDS: dict[tuple[str, str], Callable[..., _Dater]] = {}
"""The code that makes a dater, one per (due, done) kind of source: at most nine, made on first need."""
_DATERS: dict[tuple[int, Any, Any], tuple[Any, _Dater]] = {}
"""The daters made, by (finding ``id``, due source, done source), with their findings — shared by every
program and engine (see :func:`_dater`). A dict operation is atomic, so threads may share it."""
_DATER_SIZE: Final = 16_384
"""Daters :data:`_DATERS` keeps before it starts over (an equal one is made again)."""
_DATED: dict[tuple[int, Any, Any], tuple[dict[str, Any], Any]] = {}
"""The dated procedure findings the daters made (:func:`_dater`), by (``id`` of the finding's ``__dict__``,
due date, date compared), each with that ``__dict__`` — shared by every dater, program, engine and thread
(frozen objects; a dict operation is atomic). See :func:`_dater` for why."""
_DATED_SIZE: Final = 8_192
"""Dated findings :data:`_DATED` keeps before it starts over (an equal one is made again): ~0.5 KiB an entry
(``tracemalloc``), so at most ~4 MiB; 5,754 after 6,000 bundled households."""


def _dater(f: Any, due: int | _DateReader | None, done: int | _DateReader | None) -> _Dater:
    """The function that dates procedure finding ``f`` per household — what the tables keep for it.

    Per household a finding needs its due date and the date compared (its done date, else ``as_of``),
    read from a value slot or a household field, and a copy of it holding those and the days late.
    Session 11 did that through two reader closures, a generic copy and a set union per finding (~2.5 µs;
    1,997 of 2,000 bundled households have procedure findings, ~5 each). Here the code is written once per
    kind of source (slot, field, none) of the two dates: a slot is read inline by its index, bound with
    the finding's ``__dict__`` and fields-set when the finding is made, so per household it is one call.
    The semantics are those of :func:`_slot_date` / :func:`_field_date` (a value that is not a date
    counts as none) and of ``on = done or as_of``; no rule text becomes code, only slot indexes are bound.

    Made once per (finding, due source, done source) and shared (:data:`_DATERS`, session 16): the tables
    are per program and miss for ~0.45 of fresh bundled households (916 of 2,000 after a 2,000 warm-up),
    and for 772 of those 916 an equal dater had been made — the finding object is shared by the engine's
    programs, and its dates sit in the same slots in other spans of its pack. A dater holds no household
    state (its sources and the finding's ``__dict__`` and fields-set are bound when it is made).

    Session 22: the dated finding itself is kept by (finding, due date, date compared) (:data:`_DATED`,
    shared by every dater of the finding: the same dates make the same object whatever their sources).
    Session 10 had dropped an answer memo per (due, on) as mostly missing; measured again on the bundled
    packs' fresh households (3,000 after a 3,000 warm-up), 12,128 of their 14,159 dated findings had
    been made before for another household, and the copy, its allocation and its four slot stores are
    most of a dater's work. Bounded (:data:`_DATED_SIZE`): at most one copy per entry."""
    key = (id(f), due, done)
    got = _DATERS.get(key)
    if got is not None:
        return got[1]
    shape = (_source_kind(due), _source_kind(done))
    make = _DATER_KINDS.get(shape)
    if make is None:
        make = _DATER_KINDS[shape] = _dater_code(*shape)
    # One fields-set per dater, shared by every finding it dates (as the generated decision shares one per
    # kind of output object, :data:`_SHARED_FIELDS_SETS`; session 21): a copy each was a set allocated,
    # tracked by the collector and freed per finding, ~5 a bundled household.
    dated = make(f.__dict__, set(f.__pydantic_fields_set__ | _DATED_FIELDS), due, done)
    if len(_DATERS) >= _DATER_SIZE:
        _DATERS.clear()
    _DATERS[key] = (f, dated)  # the finding held with its dater, so its ``id`` stays its own
    return dated


def _source_kind(where: int | _DateReader | None) -> str:
    return "none" if where is None else "slot" if isinstance(where, int) else "field"


def _dater_code(due: str, done: str) -> Callable[..., _Dater]:
    """``make(fd, fs, due_at, done_at)`` for one (due, done) kind of source: see :func:`_dater`."""
    read = {
        "none": ["{0} = None"],
        "slot": ["{0} = values[{0}_at]", "if not isinstance({0}, date):", "    {0} = None"],
        "field": ["{0} = {0}_at(values, h)"],
    }
    body = [line.format("due") for line in read[due]]
    body += [line.format("on") for line in read[done]] if done != "none" else []
    body += ["if on is None:", "    on = as_of"] if done != "none" else ["on = as_of"]
    # The dated finding made before for the same finding and dates, if kept (:data:`_DATED`).
    body += ["k = (fid, due, on)", "got = kept_get(k)", "if got is not None:", "    return got[1]"]
    body += ["data = fd.copy()", 'data["due"] = due', 'data["on"] = on']
    body += (
        ['data["days_late"] = None']
        if due == "none"
        else ['data["days_late"] = None if due is None else (on - due).days']
    )
    # ``raw`` written out (what it does, without its call: one per finding, ~5 a household).
    body += ["o = alloc(PF)", "set_dict(o, data)", "set_fields(o, fs)", "set_extra(o, None)"]
    body += ["set_private(o, None)", f"if len(kept) >= {_DATED_SIZE}:", "    kept.clear()"]
    body += ["kept[k] = (fd, o)", "return o"]  # ``fd`` held with its finding, so its ``id`` stays its own
    # What is bound per finding as default arguments: one tuple the collector tracks, not four cells.
    lines = [
        "def make(fd, fs, due_at, on_at):",
        "    fid = id(fd)",
        "    def dated(values, h, as_of, fd=fd, fs=fs, due_at=due_at, on_at=on_at, fid=fid, kept=DATED,"
        " kept_get=DATED.get):",
    ]
    lines += ["        " + line for line in body] + ["    return dated"]
    namespace: dict[str, Any] = {"date": date, "PF": ProcedureFinding, "DATED": _DATED, **_RAW_PARTS}
    exec(compile("\n".join(lines) + "\n", f"<eligibility dater {due} {done}>", "exec"), namespace)  # our own code
    maker: Callable[..., _Dater] = namespace["make"]
    return maker


_DECISION_FIELDS: Final = frozenset(Decision.model_fields)
_COMPACT_SET: Final = frozenset(CompactTrace.model_fields) - {"level"}
_SHARED_FIELDS_SETS: Final[dict[str, set[str]]] = {
    "IDENT_SET": set(_IDENT_FIELDS),
    "DECISION_SET": set(_DECISION_FIELDS),
    "COMPACT_SET": set(_COMPACT_SET),
    "LEAD_SET": {"channel", "found_on"},
}
"""The fields-set of every object of one kind the generated decision builds (:func:`_decider`): one set
shared by all of them, not a copy each. Why it is safe: the output models are frozen, so pydantic never
adds to an instance's set (``__setattr__`` refuses first), and ``model_copy`` copies the set before it
updates it; each set already holds every field its objects have, so an ``add`` would change nothing
anyway. Why shared: a copy of a set of more than eight names allocates its table — the copies and their
frees were ~2 % of an identification decision's instructions (session 19, ``bench_instructions.py``).
A caller must not mutate ``model_fields_set`` of a decision (pydantic's own code never does)."""


class _Memo:
    """One engine's memos of the pieces of decisions for one program (each bounded by _MEMO_SIZE): the
    status and exit parts; and the program's finding tables (:class:`FindingTables`: the
    findings of each conclusion group from its masks, by generated code, made with the program's first
    context)."""

    __slots__ = (
        "decide",
        "exit_idle",
        "exit_methods",
        "exit_parts",
        "idents",
        "program",
        "program_selectors",
        "statuses",
        "tables",
    )

    def __init__(self, program: Program) -> None:
        self.program = program
        self.program_selectors = frozenset(
            (rule.id, kind, code) for rule, _, _ in program.rules for kind, code in rule.selectors
        )
        """(rule id, kind, code) of every conclusion that names members (``members: {where: ...}``)."""
        self.tables: FindingTables | None = None
        self.decide: _Decide | None = None
        """The program's decision function for this engine (:func:`_decider`), made with the tables."""
        self._new_tables()

    def forget_combinations(self) -> None:
        """Empty the memos keyed by combinations of conclusions, and the plans the program keeps (see
        :meth:`Engine._keep`): only when even these stop repeating. (A new engine's memo leaves the
        program's plans alone: other engines share them, and rebuilding them is what a cold start costs.)"""
        # Cleared in place, not replaced: the status and exit memos may be shared with other programs
        # (``Engine._share``), and each of them starts over once.
        for table in (self.statuses, self.idents, self.exit_parts, self.exit_idle, self.exit_methods):
            table.clear()
        if self.tables is not None:
            self.tables.forget()
        kept = self.program.__dict__
        for name in ("_missing_plans", "_settle_plans"):
            plans = kept.get(name)
            if plans:
                plans.clear()  # cleared, not removed: a caller may be about to store into it

    def _new_tables(self) -> None:
        """Fresh, empty memos of combinations (new, and each time they start over)."""
        self.statuses: dict[tuple[int, ...], _Status] = {}
        self.idents: dict[tuple[Any, ...], Identification] = {}
        """The identification of a decision without an open question, by (status, its finding groups' fired
        masks) — the generated decision keeps it (``_decider``)."""
        self.exit_parts: dict[tuple[int, int], _ExitPart] = {}
        self.exit_idle: dict[int, _ExitPart] = {}
        """The exit part where no exit-applies rule fired, by the applies rules left unknown (``_exit_part``)."""
        self.exit_methods: dict[int, CodeLabel] = {}
        """The exit method's label per combination of exit-method conclusions (bounded by the rules)."""

    def forget_answers(self) -> None:
        """Empty the memos of answers keyed by households' own values (see :meth:`Engine._keep`): the
        answers of the gap-report plans the program keeps. Cleared in place: a caller may be about to
        store into them."""
        kept = self.program.__dict__
        for name in ("_missing_plans", "_rule_gaps"):  # a _SettlePlan's memo holds patterns: combinations
            for p in list((kept.get(name) or {}).values()):
                p.memo.clear()
        gaps = kept.get("_gap_code")  # the gap report's sides by mask (session 10)
        if gaps is not None:
            gaps.memo.clear()


class _LeanCount:
    """Whether ``trace="none"`` should still try the lean program first — one count per engine. A
    household with an unknown conclusion needs the full run too (its gap report reads the node outcomes),
    so where more than a quarter of the first 64 households had one — data with many gaps, as the
    generated workloads — trying lean first costs more than it saves (measured: 淮北 identification pack
    26–27 µs a household with the full run only, 32–34 µs lean first). Per engine, not per program
    (session 11): a population spread over the bundled packs' ~160 (chain, span) programs left most of
    them under 64 households, each paying lean run plus full run (~90 µs more per bundled household,
    measured by the ``dec`` helper; ``docs/engine_speed.md``). Output bytes are the same either way; the
    counts are advisory (a race between threads only shifts the moment of the switch)."""

    __slots__ = ("reruns", "runs")

    def __init__(self) -> None:
        self.runs = self.reruns = 0

    def pays(self) -> bool:
        """True while fewer than :data:`_LEAN_TRIES` households have tried, or at most one in
        :data:`_LEAN_SHARE` of them needed a rerun. (The generated decision writes this test out with the
        same numbers, :func:`_decider`: a Python call less per household.)"""
        runs = self.runs
        return runs < _LEAN_TRIES or self.reruns * _LEAN_SHARE <= runs


_LEAN_TRIES: Final = 64
"""Households that try the lean program first before :class:`_LeanCount` judges whether it pays."""

_LEAN_SHARE: Final = 4
"""The lean program keeps paying while at most one household in this many needed the full run after it."""


_Decide = Callable[["Engine", "_Context", Household, dict[str, Any], str], Decision]
"""``decide(engine, context, household, its __dict__, trace level)``: a program's decision function
(:func:`_decider`)."""


class _Context:
    """What every household of one region assessed on one day shares (see ``Engine._context``).

    A class with slots, not a NamedTuple: ``evaluate`` and the generated decision read five to eight of
    its fields per household, and CPython 3.11 specialises a slot read but not a NamedTuple's field
    descriptor (session 20)."""

    __slots__ = ("chain", "decide", "gaps", "jurisdiction", "lean", "memo", "none", "on", "program", "run", "scheme")

    def __init__(
        self,
        *,
        chain: Chain,
        program: Program,
        on: date,
        jurisdiction: CodeLabel,
        scheme: Scheme | None,
        gaps: tuple[MissingParameter, ...],
        run: Callable[[Household, date], _Result],
        lean: Callable[[Household, date], _Result] | None,
        memo: _Memo,
        decide: _Decide,
    ) -> None:
        self.chain = chain
        self.program = program
        self.on = on
        self.jurisdiction = jurisdiction
        self.scheme = scheme
        self.gaps = gaps
        self.run = run
        self.lean = lean
        self.memo = memo
        self.decide = decide
        """The decision of a household (:func:`_decider`: generated per program and engine, kept in
        ``memo``)."""
        self.none: Callable[[Household, date], _Result] | None = None
        """:meth:`Program.run_none`'s function, set by the first decision at ``trace="none"`` that runs it
        (compiled then: :meth:`Program.none_fn`)."""


def _decider(engine: Engine, program: Program, memo: _Memo, tables: FindingTables) -> _Decide:
    """The decision of one household by ``program`` for ``engine`` — ``evaluate`` past its context look-up
    — as one generated function per (engine, program), kept in the engine's memo of the program.

    Why generated: ``evaluate`` spent about as long around the program as in it (issue 9; session 15's
    line profile), much of it in steps that do the same for every household of a program — tests of
    groups the program concludes nothing in, a call of the finding groups' function and its tuple, the
    ``_Run`` object a decision without an open question never reads, one ``_raw`` call per output object.
    The generated text leaves out what this program cannot conclude (no exit, measure, gap or procedure
    conclusion: their branches are constants), writes the finding groups' code inline
    (:attr:`FindingTables.body`) and builds the objects in place. It is the only copy of the assembly:
    ``evaluate`` calls it for every decision of a region (the ``full`` trace is made from its compact
    one). Nothing from a rule file becomes code: only group numbers and masks, as in the finding tables.

    The text depends only on the program's shape (which groups it concludes in, its finding codes' masks)
    and whether the engine cross-checks, so equal programs share the compiled code
    (:func:`~eligibility._cache.cached_code`)."""
    live = {g for g, bits in enumerate(program.conclusion_bits) if bits}
    # Whether any conclusion is unknown, from the groups a rule of this program concludes in: the others'
    # masks are the constant 0 in every run's result (``python._mask_tuples``) — a few subscripts, where
    # ``any(u)`` walked all thirteen for the households without an open question.
    unknown = " or ".join(f"u[{g}]" for g in sorted(live)) or "False"
    key = ", ".join(f"f[{g}]" if g in live else "0" for g in _STATUS_GROUPS)
    key += ", " + ", ".join(f"u[{g}]" if g in live else "0" for g in _STATUS_GROUPS)
    durable = engine._durable is not None
    lines = ["def decide(self, ctx, h, hd, trace):", "    on = ctx.on"]
    add = lines.append

    def made(pad: str, var: str, cls: str, data: list[str], fields: str) -> None:
        """Statements building output model ``cls`` as ``var`` from the dict display ``data`` (in field
        order: the serialiser writes ``__dict__`` in its own order) with the shared fields-set ``fields``
        (:data:`_SHARED_FIELDS_SETS`) — what :func:`~eligibility._construct.raw` does, without its call."""
        lines.append(f"{pad}{var} = _alloc({cls})")
        lines.extend([f"{pad}_set_dict({var}, {{", *(f"{pad}    {item}," for item in data), f"{pad}}})"])
        lines.extend([f"{pad}_set_fields_set({var}, {fields})"])
        lines.extend([f"{pad}_set_extra({var}, None)", f"{pad}_set_private({var}, None)"])

    def new_run(pad: str) -> None:
        """Statements building the :class:`_Run` of ``got`` as ``run``: what its ``__init__`` sets, as slot
        stores here, without the class call's `__init__` look-up and Python frame."""
        lines.append(f"{pad}run = _new_run(_Run)")
        for item in _RUN_STORES:
            lines.append(f"{pad}run.{item}")

    # An impossible record, not an unknown: a typo in a year (2073 for 1973). The household's fields from
    # ``hd``, its ``__dict__`` as ``evaluate`` read it (an attribute of a pydantic model goes through its
    # ``__getattr__`` hook: two type look-ups more per read, and no specialisation).
    add("    members = hd['members']")
    add("    if members:")
    add("        for m in members:")
    add("            born = m.birth_date")
    add("            if born is not None and born > on:")
    add("                raise HouseholdError(births_after(h, on), hd['household_id'])")
    # ``fn = ctx.run`` then ``fn(h, on)``: a slot read CPython specialises, where ``ctx.run(h, on)`` is a
    # method look-up it does not (the slot holds a function, not a method of the class).
    if durable:  # a cross-check reads the full program's node outcomes
        add("    fn = ctx.run")
        add("    got = fn(h, on)")
    else:
        add('    if trace != "none":  # a trace: the full program')
        add("        fn = ctx.run")
        add("        got = fn(h, on)")
        # ``_LeanCount.pays`` written out: a Python call less for every decision at ``none``.
        pays = f"(lean := self._lean).runs < {_LEAN_TRIES} or lean.reruns * {_LEAN_SHARE} <= lean.runs"
        add(f"    elif (fn := ctx.lean) is not None and ({pays}):")
        add("        got = fn(h, on)")
        add("        lean.runs += 1")
        add("        u = got[3]")
        add(f"        if {unknown}:  # the gap report reads the node outcomes the lean run leaves out")
        add("            lean.reruns += 1")
        add("            fn = ctx.run")
        add("            got = fn(h, on)")
        add("    else:")
        # The full program, its values and node outcomes built only where this decision reads them
        # (Program.run_none: None otherwise; nothing below reads them then) — its function kept on the
        # context once compiled (``program.run_none`` is an instance attribute shadowing a method: a
        # look-up CPython does not specialise).
        add("        fn = ctx.none")
        add("        if fn is None:")
        add("            fn = ctx.none = program.none_fn()")
        add("        got = fn(h, on)")
    add("    values, nodes, f, u = got")
    # The run object (values read per household, gaps on demand) only where something reads it: from the
    # start when the program concludes in a group whose pieces read values, else with the gap report or
    # the compact trace.
    eager = durable or any(g in live for g in VALUE_GROUPS)
    if eager:
        new_run("    ")
    else:
        add("    run = None")
    if durable:
        add("    self._cross_check(run)")
    # The findings of each kind from the masks (FindingTables' code, inline); the status and the exit
    # part memoised per combination of their own kinds' conclusions; the assistance, members, procedure
    # dates, exit dates and gap report built for this household.
    lines += ["    " + line for line in tables.body]
    risks, risk_types, layers, required, gaps, warnings, procedure = tables.outs
    add(f"    status = memo.statuses.get(({key}))  # the key ``_status`` keeps it under")
    add("    if status is None:")
    add("        status = self._status(memo, f, u, on)")
    ident = ['"status": status.status', '"category": status.category', '"candidate_categories": status.candidates']
    ident += [f'"risks": {risks}', f'"risk_types": {risk_types}', f'"layers": {layers}']
    ident += ['"exclusions": status.exclusions', '"reviews": status.reviews']
    add(f"    if {unknown}:")
    if not eager:
        new_run("        ")
    add("        blocking, unknown = self._open(memo, run, status)")
    made("        ", "ident", "Identification", [*ident, '"blocking": blocking', '"unknown": unknown'], "IDENT_SET")
    add("    else:")
    # Without an open question the identification is a function of its status and the fired masks of its
    # finding groups (their unknown masks are 0 here): one frozen object per such combination, shared by
    # the households that have it (``memo.idents``), where building and freeing one per household cost
    # about 9,600 instructions (session 19's breakdown).
    own = [g for (g, _), out in zip(_FINDING_KINDS, tables.outs, strict=True) if g in _IDENT_GROUPS and out != "()"]
    add("        ik = (status, " + "".join(f"f[{g}], " for g in own) + ")")
    add("        ident = memo.idents.get(ik)")
    add("        if ident is None:")
    made("            ", "ident", "Identification", [*ident, '"blocking": ()', '"unknown": ()'], "IDENT_SET")
    add("            self._keep(memo.idents, ik, ident)")
    if required == gaps == "()":
        assistance = "NO_ASSISTANCE"
    else:
        assistance = "assistance"
        add("    assistance = NO_ASSISTANCE")
        add(f"    required, gaps = {required}, {gaps}")
        add("    if required or gaps:")
        if memo.program_selectors:
            # The measures and gaps with their members (:func:`eligibility.members.combine`). Only the
            # selectors its findings look up run (``members.combine`` / ``keep_gap`` read only the keys of a
            # finding's own rules), and only when one of them is among the program's: which ones follows
            # from the measure and gap masks (``members_py.wanted``). Built per household, not memoised
            # per combination (sessions 6–9 kept one assistance per combination of measure and gap
            # conclusions and one per (combination, members chosen, member ids): on households never seen
            # before both missed for nearly every household, 1,856 new combinations in 3,000); the copies
            # themselves are shared by content (``members_py._COPIES``, session 22). Written out here, not
            # a method ``_attach`` (until session 22): a method call and four reads of the run less.
            add("        fns = _selector_functions(program, on)  # (select, wanted)")
            add("        if fns is not None:")
            add("            w = fns[1](f, u)")
            add("            if w:")
            add("                chosen = fns[0](h, on, values, w)")
            add("                if chosen:")
            add("                    required, gaps = _named(h, required, gaps, chosen)")
        add('        assistance = _raw(Assistance, {"required": required, "gaps": gaps}, {"required", "gaps"})')
    ex = "NO_EXIT"
    if _G_EXIT in live:
        add(f"    fx, ux = f[{_G_EXIT}], u[{_G_EXIT}]")
        ex = "self._exit(run, self._exit_part(memo, fx, ux, on)) if fx or ux else NO_EXIT"
    if procedure != "()":
        # 程序 findings with due date, the date compared (default: as_of) and days late: each finding's
        # dater (:func:`_dater`, what the tables keep for a procedure finding) called here for this
        # household, which gives again a dated finding made before for the same finding and dates
        # (``_DATED``, session 22: 86 % of them on fresh bundled households; session 10's per-program
        # memo per (due, on) had mostly missed). A loop, not a comprehension: on Python 3.11 a
        # comprehension is a function made and called per household (session 21). Written out here,
        # not a method ``_procedure`` (until session 22): a method call and three reads of the run less
        # per household with procedure findings — nearly every bundled one.
        add(f"    if {procedure}:")
        add("        o = []")
        add(f"        for dated in {procedure}:")
        add("            o.append(dated(values, h, on))")
        add(f"        {procedure} = tuple(o)")
    # The recorded risk lead: none without a channel or a date; the channel's label from ``_leads`` by
    # (program, channel name) (an enum member hashes in Python; its name in C), ``_channel`` on a miss.
    add("    proc = hd['procedure']")
    add("    lead = None")
    add("    if proc is not None:")
    # (One ``__dict__`` read through the hook, not two attributes: ``proc`` is a pydantic model.)
    add("        pd = proc.__dict__")
    add("        ch, found_on = pd['lead_channel'], pd['lead_found_on']")
    add("        if ch is not None:")
    add("            k = (KEY, ch._name_)")
    add("            channel = self._leads.get(k)")
    add("            if channel is None:")
    add("                channel = self._channel(h, on, k)")
    add("        else:")
    add("            channel = None")
    add("        if ch is not None or found_on is not None:")
    made("            ", "lead", "Lead", ['"channel": channel', '"found_on": found_on'], "LEAD_SET")
    decision = ['"household_id": hd["household_id"]', '"as_of": on', '"region": hd["region"]']
    decision += ['"jurisdiction": ctx.jurisdiction', '"scheme": ctx.scheme', '"lead": lead']
    decision += ['"identification": ident', f'"assistance": {assistance}', f'"exit": {ex}']
    decision += [f'"procedure": {procedure}', f'"warnings": {warnings}', '"missing_parameters": ctx.gaps']
    made("    ", "decision", "Decision", [*decision, '"trace": None'], "DECISION_SET")
    add('    if trace == "none":')
    add("        return decision")
    if not eager:
        add("    if run is None:")
        new_run("        ")
    compact = ['"level": "compact"', '"program": KEY', '"ruleset_fingerprint": ctx.chain.fingerprint']
    # The run is the trace's lazy carrier: ``str(run)`` the input digest, ``run.data()`` the settling paths.
    compact += ['"engines": self.engines', '"input_digest": run', '"values": values', '"nodes": nodes']
    made("    ", "compact", "CompactTrace", [*compact, '"missing": run'], "COMPACT_SET")
    add('    decision.__dict__["trace"] = compact')
    add("    return decision")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        **tables.names,
        "program": program,
        "memo": memo,
        "HouseholdError": HouseholdError,
        "births_after": births_after,
        "_max": max,
        "_filter": filter,
        "_map": map,
        "_BORN": operator.attrgetter("birth_date"),
        "_Run": _Run,
        "_new_run": object.__new__,
        "_selector_functions": selector_functions,
        "_named": named,
        "_raw": _raw,
        "_alloc": _alloc,
        "_set_dict": _set_dict,
        "_set_fields_set": _set_fields_set,
        "_set_extra": _set_extra,
        "_set_private": _set_private,
        "Identification": Identification,
        "Assistance": Assistance,
        "Decision": Decision,
        "CompactTrace": CompactTrace,
        "Lead": Lead,
        "KEY": program.key,
        **_SHARED_FIELDS_SETS,
        "NO_ASSISTANCE": _NO_ASSISTANCE,
        "NO_EXIT": _NO_EXIT,
    }
    exec(cached_code(source, "<eligibility decision>"), namespace)  # our own generated source
    decide: _Decide = namespace["decide"]
    return decide


_RUN_STORES: Final = (
    "program = program",
    "h = h",
    "as_of = on",
    "values = values",
    "nodes = nodes",
    "fired = f",
    "unknown = u",
    "_missing = None",
    "settled = None",
    '_digest = ""',
)
"""The slot stores of a :class:`_Run` the generated decision builds (:func:`_decider`): every slot its
``__init__`` sets, to the same values (``values, nodes, f, u = got`` there)."""


class _Settled:
    """Per program: the settling paths of a household's unknown facts for its full trace — what
    ``_Run.data()`` gives, by the same generated code (``GapCode.facts``) — one shared
    :class:`SettledPaths` per distinct answer, with its memo-key form (paths as tuples), whose shared
    objects make the full trace's memo keys compare by identity.

    Why keyed on the answer: until session 9 the key was the pattern of unknown facts with the paths
    the household lacks, which needed a field plan per pattern (new on most households never seen
    before) and, on a miss, a walk of the facts. The memo is bounded and starts over when full."""

    __slots__ = ("done",)

    def __init__(self, program: Program) -> None:
        self.done: dict[tuple[Any, ...], SettledPaths] = {}

    def __call__(self, run: _Run) -> SettledPaths:
        """The settling paths of ``run``'s unknown facts (those with any), also as memo keys."""
        code = gap_code(run.program)
        paths = code.facts(run.values, run.h, code.all_facts)
        # The facts and their paths as tuples, in C: the key (two tuples of one length say as much as a
        # tuple of (name, *paths)) and, on a miss, the memo-key form the answer carries.
        names, keyed = tuple(paths), tuple(map(tuple, paths.values()))
        key = (names, keyed)
        settled = self.done.get(key)
        if settled is None:
            settled = SettledPaths(paths, dict(zip(names, keyed, strict=True)))
            if len(self.done) >= _SETTLED_SIZE:
                self.done.clear()
            self.done[key] = settled
        return settled


_NO_TRACE: Final[set[str]] = {"trace"}
"""What :meth:`Engine.full_json` leaves out of the decision's own JSON (the trace is written after it)."""

_SETTLED_SIZE: Final = 1024
"""Distinct settling-path answers kept per program by :class:`_Settled`."""


_FULL_PATTERN_BUDGET: Final = 200_000
"""Full-trace text patterns one engine keeps before its text expanders forget them (``Engine._full_keep``;
the rendered fragments they are made of stay, bounded per generation). A pattern is a few hundred bytes
(an ``itemgetter`` of positions and its key: the text is in the shared fragments), so under 100 MiB; the
bundled packs' 54 programs make some 50,000 on a mixed county's first 2,000 households, then one or two per
household. (50,000 when a pattern held its own rendered text: spent every ~1,500 households, each time
followed by a burst of misses.)"""

_FULL_MODEL_BUDGET: Final = 20_000
"""Full-trace models (``trace="full"``) an engine keeps across its text expanders before they all forget
them (:meth:`Engine._model_keep`). A model holds a household's shown values; with this budget a long
``evaluate(trace="full")`` run over mixed households levels off near 0.5 GiB, against 4.3 GiB and rising
with none."""


def _full_settled(run: _Run) -> SettledPaths:
    """:class:`_Settled` of ``run``'s program (made on first use, kept with the program)."""
    got: _Settled | None = run.program.__dict__.get("_full_settled")
    if got is None:
        got = run.program.__dict__["_full_settled"] = _Settled(run.program)
    return got(run)


def _as_date(v: date | str) -> date:
    """The assessment date, within the dates a household may hold (issue 13: no date arithmetic overflow)."""
    try:
        on = v if isinstance(v, date) else date.fromisoformat(v)
    except (TypeError, ValueError):
        raise EvaluationError(f"评估日期无效 / invalid assessment date `{v!s:.40}` (YYYY-MM-DD)") from None
    if not FIRST_DAY <= on <= LAST_DAY:
        raise EvaluationError(f"评估日期超出范围 / assessment date {on} outside {FIRST_DAY}…{LAST_DAY}")
    return on


class _GapPart(NamedTuple):
    """What one subject of a gap report asks for, for one share of a mask (``GapCode.parts``)."""

    name: str
    static: tuple[str, ...]
    """Household paths, sorted."""
    facts: tuple[str, ...]
    """Unknown facts whose settling paths it lists, sorted."""
    want: int
    """Those facts' bits for ``GapCode.facts`` (their dependencies included)."""
    made: MissingFact | None
    """The finished object when it names no fact."""


def _gap_part(engine: Engine, program: Program, code: GapCode, share: int) -> _GapPart:
    """The :class:`_GapPart` of one subject's share of a mask, kept in ``code.parts`` (shares are
    combinations of one subject's few items: bounded, starts over at ``_SHAPE_CACHE_SIZE``)."""
    static: list[str] = []
    facts: list[str] = []
    name = ""
    want = 0
    items, bits = code.items, share
    while bits:  # the share's items, lowest bit first (not every item of the program: ~500 bundled)
        low = bits & -bits
        bits ^= low
        name, kind, item = items[low.bit_length() - 1]
        if kind == "path":
            static.append(item)
        elif kind == "fact":
            facts.append(item)
            want |= code.fact_bits[item]
    paths = tuple(sorted(set(static)))
    made = None if facts else engine._missing_fact(program.chain, name, paths)
    got = _GapPart(name, paths, tuple(sorted(set(facts))), want, made)
    if len(code.parts) >= _SHAPE_CACHE_SIZE:
        code.parts.clear()
    code.parts[share] = got
    return got


_Side = tuple[MissingFact, ...] | list[_GapPart]
"""One side of a gap report as :class:`_GapSide` keeps it: the finished tuple when it names no unknown
fact, else its subjects' parts in name order."""


class _GapSide(NamedTuple):
    """One side of a gap report for one mask (``Engine._gap_side``)."""

    side: _Side
    want: int
    """The facts whose settling paths it needs, their dependencies included (the bits ``GapCode.facts``
    reads); 0 when it names none."""
    cover: int
    """The bits of every item of its subjects: the other side leaves them out."""


_NO_SIDE: Final = _GapSide((), 0, 0)
_MADE: Final = operator.itemgetter(4)
"""A :class:`_GapPart`'s ``made``."""
