"""Decision and Trace: the frozen output models and their stable JSON form.

A Decision says what was decided *and* how: the pack chain, the rule-set fingerprint, a digest of the
input, every derived fact with its formula and numbers, and every rule in force with each condition's
actual value, expected value and the source of the expected value. The JSON is deterministic — the same
household, date and rules give the same bytes — so county systems can store, diff and audit it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

__all__ = [
    "Assistance",
    "Citation",
    "CodeLabel",
    "CompactTrace",
    "ConditionTrace",
    "Decision",
    "Exit",
    "ExitBlocker",
    "ExpectedSource",
    "FactTrace",
    "Finding",
    "Identification",
    "Lead",
    "MeasureFinding",
    "MemberRef",
    "MissingFact",
    "MissingParameter",
    "ProcedureFinding",
    "RuleTrace",
    "Scheme",
    "SkippedRule",
    "Source",
    "Trace",
]

_OUT = ConfigDict(frozen=True, extra="forbid", defer_build=True)
"""The output models' config. ``defer_build``: a model's validator and serializer are built on its first
validation, serialisation or JSON schema, not at import. Why: the engine makes its output models without
validation (:mod:`eligibility._construct`) and writes a compact decision without pydantic
(:mod:`eligibility.compile.wire`), so a new process deciding with the compact trace builds none of the
23 but ``Scheme`` (validated once per program), ``Assistance`` and ``Exit`` (their empty defaults are made
below, at import) — building all of them was ~3.5 ms of every new process (~23 million instructions,
``docs/engine_speed.md``, session 18, cold). The first full-trace ``to_json`` builds what it writes."""

Status = Literal["identified", "not_identified", "needs_review", "already_monitored"]
Outcome = Literal["true", "false", "unknown"]


class CodeLabel(BaseModel):
    """A code with its Chinese and English labels."""

    model_config = _OUT
    code: str
    zh: str
    en: str


class Citation(BaseModel):
    """A cited source key and the clause; the source itself is described once in ``Trace.sources``."""

    model_config = _OUT
    source: str
    clause: str | None = None
    note: str | None = None


class Source(BaseModel):
    """A cited document (from rules/sources.yaml): title, reliability grade, URL."""

    model_config = _OUT
    title: str
    grade: str
    url: str | None = None


class ExpectedSource(BaseModel):
    """Where a condition's expected value came from: a literal, a fact, or a dated, cited parameter."""

    model_config = _OUT
    kind: Literal["literal", "parameter", "fact", "field"]
    name: str | None = None
    zh: str | None = None
    en: str | None = None
    unit: str | None = None
    pack: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    citations: tuple[Citation, ...] = ()


class ConditionTrace(BaseModel):
    """One node of a rule's condition tree as evaluated on this household."""

    model_config = _OUT
    op: str
    outcome: Outcome
    subject: str | None = None
    zh: str | None = None
    en: str | None = None
    actual: Any = Field(default=None, description="the value on this household (JSON)")
    expected: Any = Field(default=None, description="the threshold or value compared with (JSON)")
    sources: tuple[ExpectedSource, ...] = ()
    rule: str | None = None
    n: int | None = None
    missing: tuple[str, ...] = ()
    children: tuple[ConditionTrace, ...] = ()


class FactTrace(BaseModel):
    """A derived fact: formula, the formula with this household's numbers, value, missing inputs."""

    model_config = _OUT
    name: str
    zh: str
    en: str
    formula: str
    substituted: str
    value: Any = Field(description="the computed value (JSON); null when unknown")
    known: bool
    missing: tuple[str, ...] = ()


class RuleTrace(BaseModel):
    """A rule in force on ``as_of`` and what became of it."""

    model_config = _OUT
    id: str
    zh: str
    en: str
    kind: str
    pack: str
    version_from: date
    version_until: date | None
    outcome: Literal["fired", "not_fired", "unknown"]
    condition: ConditionTrace
    citations: tuple[Citation, ...]
    conclusions: tuple[str, ...] = ()


class SkippedRule(BaseModel):
    """A rule with a version on ``as_of`` that does not apply in this jurisdiction, and why."""

    model_config = _OUT
    id: str
    zh: str
    en: str
    reason: str


class Trace(BaseModel):
    """How the decision was reached."""

    model_config = _OUT
    engine_version: str
    engines: tuple[str, ...]
    pack_chain: tuple[CodeLabel, ...]
    ruleset_fingerprint: str
    input_digest: str
    facts: tuple[FactTrace, ...]
    rules: tuple[RuleTrace, ...]
    skipped: tuple[SkippedRule, ...] = ()
    sources: dict[str, Source] = Field(default_factory=dict, description="every document cited above, once")


def _outcome_chars() -> dict[Any, str]:
    from .expressions import UNKNOWN

    return {True: "1", False: "0", UNKNOWN: "?"}


_OUTCOME_CHAR: dict[Any, str] = _outcome_chars()
_PLAIN = frozenset({str, int, bool})


class CompactTrace(BaseModel):
    """The trace of ``trace="compact"``: this household's values, referring to the program's manifest.

    ``values`` are the program's value slots (facts, the numbers each formula shows, the fields the
    conditions read) in their exact JSON form, ``nodes`` one character per condition node (``1`` true,
    ``0`` false, ``?`` unknown), ``missing`` the household paths that would settle each unknown fact.
    ``Engine.manifest(program)`` gives the rest; ``Engine.expand`` (or
    :func:`eligibility.compile.manifest.expand`) joins the two into the full trace, exactly.
    """

    model_config = _OUT
    level: Literal["compact"] = "compact"
    program: str = Field(description="the compiled program (pack chain @ first day of its date span)")
    ruleset_fingerprint: str
    engines: tuple[str, ...]
    input_digest: Any = Field(description="sha256 of the input as received (or of its canonical JSON)")
    values: Any = Field(description="value slots in the manifest's order (exact JSON form)")
    nodes: Any = Field(description="condition outcomes in the manifest's node order: 1 / 0 / ? (true, false, unknown)")
    missing: Any = Field(default=None, description="unknown fact -> household paths that would settle it")

    def to_data(self) -> dict[str, Any]:
        """The compact trace as plain JSON data (what ``to_json`` writes)."""
        from .compile.manifest import encode_value

        values = self.values
        missing = self.missing
        return {
            "level": "compact",
            "program": self.program,
            "ruleset_fingerprint": self.ruleset_fingerprint,
            "engines": list(self.engines),
            "input_digest": str(self.input_digest),
            # Most values (str, int, bool) are their own JSON form: encode_value only for the rest.
            "values": [v if v.__class__ in _PLAIN else encode_value(v) for v in values]
            if isinstance(values, tuple)
            else values,
            "nodes": self.nodes_text(),
            "missing": missing.data() if hasattr(missing, "data") else (missing or {}),
        }

    def nodes_text(self) -> str:
        """The condition outcomes as their JSON string (one ``1`` / ``0`` / ``?`` per node)."""
        nodes = self.nodes
        return nodes if isinstance(nodes, str) else "".join(map(_OUTCOME_CHAR.__getitem__, nodes))

    @model_serializer(mode="plain")
    def _serialise(self) -> dict[str, Any]:
        return self.to_data()


class Finding(BaseModel):
    """A concluded code (risk, exclusion evidence, review reason) and the rules that concluded it."""

    model_config = _OUT
    code: str
    zh: str
    en: str
    certain: bool = Field(description="true when a rule fired; false when a rule that would conclude it is unknown")
    rules: tuple[str, ...]


class MissingFact(BaseModel):
    """A fact whose value would settle an open question, with the household data it needs."""

    model_config = _OUT
    name: str
    zh: str
    en: str
    fields: tuple[str, ...]


class MissingParameter(BaseModel):
    """配置缺口: a required parameter with no value in this jurisdiction on the assessment date.

    It reads as unknown, so the conclusions that need it are undecided (``needs_review``) while every
    other rule is decided; no value is borrowed from another year or jurisdiction (policy.md §2.2)."""

    model_config = _OUT
    name: str
    zh: str
    en: str
    jurisdiction: str = Field(description="the pack chain that has no value for it on the date")
    rules: tuple[str, ...] = Field(description="the rules in force that read it (directly or through facts)")


class Identification(BaseModel):
    """识别认定: in or out of the monitoring scope, with everything the decision rests on."""

    model_config = _OUT
    status: Status
    category: CodeLabel | None = None
    candidate_categories: tuple[CodeLabel, ...] = ()
    risks: tuple[Finding, ...] = ()
    risk_types: tuple[Finding, ...] = Field(
        default=(),
        description="致贫/返贫风险类型 assessed from the household's data (compare monitoring.risks, recorded)",
    )
    layers: tuple[Finding, ...] = Field(
        default=(),
        description="分层分类: rural social-assistance layers (低保, 特困, 低保边缘, 刚性支出困难家庭)",
    )
    exclusions: tuple[Finding, ...] = ()
    reviews: tuple[Finding, ...] = ()
    blocking: tuple[MissingFact, ...] = ()
    unknown: tuple[MissingFact, ...] = ()


class MemberRef(BaseModel):
    """A member named by a measure: position in ``members`` (from 1) and 成员编号 — never an ID number."""

    model_config = _OUT
    index: int = Field(description="成员序号（从1起）/ position in the household's members, from 1")
    member_id: str = Field(description="成员编号 / member id")


class MeasureFinding(Finding):
    """A required measure or gap, with the members it is for when its rule names them (members.py)."""

    members: tuple[MemberRef, ...] | None = Field(
        default=None, description="成员 / members it is for; null: a household-level measure names none"
    )
    members_to_review: tuple[MemberRef, ...] = Field(
        default=(), description="待核实成员 / members whose data cannot settle whether it is for them"
    )


class Assistance(BaseModel):
    """帮扶: measures the household's risks and labour require, and those required but not delivered."""

    model_config = _OUT
    required: tuple[MeasureFinding, ...] = ()
    gaps: tuple[MeasureFinding, ...] = ()


class ExitBlocker(Finding):
    """Something that stops 风险消除; ``until`` is when it lifts by itself (a time gate), if it does."""

    until: date | None = None


class Exit(BaseModel):
    """风险消除: eligible, or blocked with every blocker, and the earliest date the time gate opens."""

    model_config = _OUT
    status: Literal["not_applicable", "eligible", "blocked", "needs_review"] = "not_applicable"
    blockers: tuple[ExitBlocker, ...] = ()
    opens_on: date | None = Field(
        default=None,
        description="when every blocker, pending ones included, is a time gate: the first day all of them are open",
    )
    method: CodeLabel | None = None
    blocking: tuple[MissingFact, ...] = ()


class ProcedureFinding(Finding):
    """程序: a deadline or minimum not met, with its due date and how many days late (negative: early)."""

    severity: str | None = None
    due: date | None = None
    on: date | None = None
    days_late: int | None = None

    @property
    def dated_check(self) -> bool:
        """A check dated on one day rather than a deadline (a loan's terms on its start date, a data-quality
        hint on the assessment date): the rule gives the same date as due and done, so "0 days late" would
        read as a deadline met. Renderers show only the date."""
        return self.due is not None and self.due == self.on and self.days_late == 0


class Scheme(BaseModel):
    """The policy scheme in force on the assessment date, in its own words (issue 12): the transition
    period's 防止返贫动态监测和帮扶 until 2025-12-31, the 常态化防止返贫致贫机制 from 2026-01-01 — each with
    the name of the object it monitors and the sources of that wording (rules/national/vocabulary.yaml)."""

    model_config = _OUT
    zh: str
    en: str
    object_zh: str = Field(description="监测对象 / 防止返贫致贫对象: what the scheme calls a household it monitors")
    object_en: str
    since: date | None = Field(default=None, description="the first day of this wording (none: from the start)")
    sources: tuple[str, ...] = Field(default=(), description="source keys of rules/sources.yaml")


class Lead(BaseModel):
    """风险线索: how the household's risk was found (发现渠道) and when, as recorded in its procedure data."""

    model_config = _OUT
    channel: CodeLabel | None = None
    found_on: date | None = None


class Decision(BaseModel):
    """The result of evaluating one household on one date under its jurisdiction's rules."""

    model_config = _OUT
    household_id: str
    as_of: date
    region: str | None
    jurisdiction: CodeLabel
    scheme: Scheme | None = Field(default=None, description="the scheme in force on as_of, in its own words")
    lead: Lead | None = Field(default=None, description="the recorded risk lead: discovery channel and date")
    identification: Identification
    assistance: Assistance = Assistance()
    exit: Exit = Exit()
    procedure: tuple[ProcedureFinding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    missing_parameters: tuple[MissingParameter, ...] = Field(
        default=(),
        description="配置缺口: required parameters without a value on the date; what needs them is undecided",
    )
    trace: Trace | CompactTrace | None = Field(
        default=None, description="the audit trace: full, compact (refers to the rules manifest), or none"
    )

    def to_json(self, *, indent: int | None = 2) -> str:
        """Deterministic JSON (same input, same bytes); Chinese kept as is, not escaped.

        A decision with a compact trace is written in the compact wire form (no indentation; labels,
        rule ids and the trace's static parts referred to in the program's rules manifest:
        :mod:`eligibility.compile.wire`, ``docs/trace.md``); ``model_dump_json`` still gives its labelled
        form. Full-trace and trace-less decisions are written as they always were."""
        t = self.trace
        if isinstance(t, CompactTrace):
            from .compile.wire import write_decision

            got = write_decision(self)
            if got is not None:
                return got
        elif indent is None and t is not None:
            text = _FULL_TEXT.get(id(t))
            if text is not None and text[0]() is t:  # the engine's own full trace: written from its memo
                head = self.model_dump_json(exclude={"trace"})
                return "".join([head[:-1], ',"trace":', *text[1](), "}"])
        return self.model_dump_json(indent=indent)


_FULL_TEXT: dict[int, tuple[weakref.ref[Trace], Callable[[], list[str]]]] = {}
"""Per full trace the engine built (by ``id``, while it lives): how to write its compact JSON text
straight from the compact trace and the manifest's rendered texts — the same bytes pydantic writes for
the model (``Engine.full_json``), without serialising some thousands of nested models per decision."""


def full_text(trace: Trace, pieces: Callable[[], list[str]]) -> None:
    """Register how to write ``trace``'s JSON text (see ``_FULL_TEXT``); forgotten when it is freed. The
    weak reference's callback runs before the trace's memory is, so its ``id`` is not reused meanwhile."""
    key = id(trace)
    _FULL_TEXT[key] = (weakref.ref(trace, lambda _: _FULL_TEXT.pop(key, None)), pieces)
