"""Pydantic models of the rule-file format — the shapes of every YAML file in a pack.

These models check structure (keys, types, dates); the loader then checks meaning (names, citations,
versions, cycles) and builds the IR. They are also the source of the format's JSON Schema
(``eligibility schema --rules``), which editors use to complete and check rule files as staff type.

Condition trees (``when:``) are read by the loader itself, because their closed vocabulary deserves
clearer messages than a union of models would give.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Citation",
    "ConclusionDecl",
    "Disable",
    "FactDecl",
    "FactsFile",
    "Label",
    "MemberSelectorDecl",
    "PackFile",
    "ParamDecl",
    "ParamValue",
    "ParamsFile",
    "RuleDecl",
    "RulesFile",
    "SourceEntry",
    "SourcesFile",
    "TestCase",
    "TestsFile",
    "VersionDecl",
    "VocabEntry",
    "VocabularyFile",
]

_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

ParamType = Literal["money", "number", "integer", "bool", "text", "list"]
Kind = Literal["identification", "assistance", "exit", "procedure", "warning"]


class Label(BaseModel):
    """A name in Chinese (first: it is the language of the policy) and English."""

    model_config = _STRICT
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Citation(BaseModel):
    """Where a criterion or value comes from: a key of ``rules/sources.yaml`` and the clause."""

    model_config = _STRICT
    source: str = Field(min_length=1)
    clause: str | None = None
    note: str | None = None


class SourceEntry(BaseModel):
    """One cited document: title, reliability grade (policy.md §0) and URL when it has one."""

    model_config = _STRICT
    title: str
    grade: Literal["A", "B", "C", "D", "seed"]
    url: str | None = None
    note: str | None = None


class SourcesFile(BaseModel):
    """``rules/sources.yaml``: the registry of every document a rule file may cite."""

    model_config = _STRICT
    sources: dict[str, SourceEntry]


class Disable(BaseModel):
    """An overlay switching off an inherited rule — always with a reason and a citation."""

    model_config = _STRICT
    rule: str
    reason: Label
    cite: list[Citation] = []


class PackFile(BaseModel):
    """``pack.yaml``: the pack's id, names, the GB/T 2260 prefixes it covers and its parent."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: Label
    regions: list[str] = []
    extends: str | None = None
    description: Label | None = None
    disable: list[Disable] = []


class ParamValue(BaseModel):
    """One dated value: holds from ``from`` until the next value's date; ``null`` ends the parameter."""

    model_config = _STRICT
    from_: date = Field(alias="from")
    value: bool | int | Decimal | str | list[str] | None = None
    inherit: bool = False
    """True: from this date the parent pack's value applies again (e.g. a county line for one year)."""
    cite: list[Citation] = []
    note: str | None = None


class ParamDecl(BaseModel):
    """A parameter: declared once (label, type, unit) and given dated values by any pack."""

    model_config = _STRICT
    label: Label | None = None
    type: ParamType | None = None
    unit: str | None = None
    description: Label | None = None
    optional: bool | None = None
    """True: where the parameter has no value, the rules using it do not apply (instead of an error).
    For local practices (a county's warning band), never for criteria like the monitoring line."""
    values: list[ParamValue] = []


class ParamsFile(BaseModel):
    """A file under ``parameters/``."""

    model_config = _STRICT
    parameters: dict[str, ParamDecl]


class FactDecl(BaseModel):
    """A derived fact: a formula over the household, shown in the trace with its numbers filled in."""

    model_config = _STRICT
    label: Label
    expr: str = Field(min_length=1)
    description: Label | None = None
    cite: list[Citation] = []


class FactsFile(BaseModel):
    """``facts.yaml``."""

    model_config = _STRICT
    facts: dict[str, FactDecl]


class VersionDecl(BaseModel):
    """One version of a rule, in force on ``[from, until)``, with its citations and condition tree."""

    model_config = _STRICT
    from_: date = Field(alias="from")
    until: date | None = None
    cite: list[Citation] = []
    when: Any = None
    note: str | None = None


class MemberSelectorDecl(BaseModel):
    """``members: {where: <member condition>}`` on a measure or gap: the members it is for.

    The condition is a formula over one ``member`` (the grammar of ``count(members where ...)``);
    a member whose condition is unknown is listed for review (docs/members.md)."""

    model_config = _STRICT
    where: str = Field(min_length=1)
    not_delivered: list[str] = []
    """For a gap: measure types (帮扶措施类别) whose delivery to a member — or to the whole household,
    when the delivered measure names no member — by the assessment date takes that member off the list."""


class ConclusionDecl(BaseModel):
    """What a rule concludes when it fires: exactly one kind key, plus the modifiers its kind allows.

    Identification: ``category``, ``risk``, ``risk_type`` (致贫/返贫风险类型), ``layer`` (分层分类: the
    rural social-assistance layer, issue 12), ``exclusion``, ``review``, ``already_monitored``.
    Assistance: ``measure`` (a required measure), ``gap`` (required but not delivered); either may name
    the members it is for with ``members: {where: <member condition>}``.
    Exit: ``exit_applies``, ``exit_blocker`` (with ``until``: a date fact when the blocker lifts by
    itself), ``exit_method``. Procedure: ``finding`` (with ``due`` and optionally ``done``: date facts;
    days late = done − due, ``done`` defaulting to the assessment date). Warnings: ``warning``.
    """

    model_config = _STRICT
    category: str | None = None
    risk: str | None = None
    risk_type: str | None = None
    layer: str | None = None
    exclusion: str | None = None
    review: str | None = None
    already_monitored: bool | None = None
    measure: str | None = None
    gap: str | None = None
    exit_applies: bool | None = None
    exit_blocker: str | None = None
    exit_method: str | None = None
    finding: str | None = None
    warning: str | None = None
    until: str | None = None
    due: str | None = None
    done: str | None = None
    members: MemberSelectorDecl | None = None


class RuleDecl(BaseModel):
    """A rule: stable id, labels, versions, conclusions; ``replaces`` an inherited rule explicitly."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$")
    label: Label
    description: Label | None = None
    replaces: str | None = None
    versions: list[VersionDecl] = Field(min_length=1)
    then: list[ConclusionDecl] = []


class RulesFile(BaseModel):
    """A rule file under one of the decision-kind folders."""

    model_config = _STRICT
    rules: list[RuleDecl]


class VocabVersionDecl(BaseModel):
    """A later wording of a vocabulary entry, in force from ``from`` (labels are dated like parameters:
    a decision on 2025-12-31 and one on 2026-01-01 each use their own scheme's words, issue 12 §1)."""

    model_config = _STRICT
    from_: date = Field(alias="from")
    label: Label
    cite: list[Citation] = Field(min_length=1)
    description: Label | None = None


class VocabEntry(BaseModel):
    """A code the rules may conclude, with its labels, citations and (for findings) severity.

    ``label`` is the wording from the beginning; each of ``versions`` replaces it from its date on."""

    model_config = _STRICT
    label: Label
    cite: list[Citation] = []
    description: Label | None = None
    severity: Literal["error", "warning", "info"] | None = None
    versions: list[VocabVersionDecl] = []


class VocabularyFile(BaseModel):
    """``vocabulary.yaml``: the codes rules may conclude, each with labels and a citation."""

    model_config = _STRICT
    categories: dict[str, VocabEntry] = {}
    risks: dict[str, VocabEntry] = {}
    exclusions: dict[str, VocabEntry] = {}
    reviews: dict[str, VocabEntry] = {}
    measures: dict[str, VocabEntry] = {}
    gaps: dict[str, VocabEntry] = {}
    exit_blockers: dict[str, VocabEntry] = {}
    exit_methods: dict[str, VocabEntry] = {}
    findings: dict[str, VocabEntry] = {}
    warnings: dict[str, VocabEntry] = {}
    layers: dict[str, VocabEntry] = {}
    terms: dict[str, VocabEntry] = {}
    channels: dict[str, VocabEntry] = {}


class Expectation(BaseModel):
    """What a YAML rule test expects of the decision; only the keys given are checked."""

    model_config = _STRICT
    status: Literal["identified", "not_identified", "needs_review", "already_monitored"] | None = None
    category: str | None = None
    risks: list[str] | None = None
    risk_types: list[str] | None = None
    """致贫/返贫风险类型 assessed with certainty (codes), exactly."""
    layers: list[str] | None = None
    """分层分类: the social-assistance layers assessed with certainty (codes), exactly."""
    exclusions: list[str] | None = None
    reviews: list[str] | None = None
    fired: list[str] = []
    not_fired: list[str] = []
    unknown: list[str] = []
    skipped: list[str] = []
    """Rules that do not apply here (an optional parameter they read has no value on the date): each is
    in the trace's ``skipped`` list, so a jurisdiction-only rule is shown absent, not merely not fired."""
    missing: list[str] = []
    error: str | None = None
    measures: list[str] | None = None
    gaps: list[str] | None = None
    members: dict[str, list[str]] | None = None
    """Per measure or gap code, the member ids (成员编号) it names, exactly (the codes given only)."""
    members_to_review: dict[str, list[str]] | None = None
    """Per measure or gap code, the member ids it lists for review, exactly (the codes given only)."""
    exit: Literal["not_applicable", "eligible", "blocked", "needs_review"] | None = None
    exit_blockers: list[str] | None = None
    exit_opens_on: date | None = None
    exit_method: str | None = None
    findings: dict[str, int | None] | None = None
    """Certain procedure findings by code, each with its days late (null: not checked)."""
    warnings: list[str] | None = None
    missing_parameters: list[str] | None = None
    """配置缺口: the required parameters without value on the date (names), exactly."""


class TestCase(BaseModel):
    """One sentence-named case: a household (merged over the file's defaults), a date, expectations."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    as_of: date
    household: dict[str, Any] = {}
    expect: Expectation


class TestsFile(BaseModel):
    """A file under a pack's ``tests/`` folder."""

    model_config = _STRICT
    defaults: dict[str, Any] = {}
    tests: list[TestCase] = Field(min_length=1)
