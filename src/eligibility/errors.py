"""The exception hierarchy of ``eligibility``, source locations and diagnostic codes.

Every error the library raises on purpose derives from :class:`EligibilityError`, so a county system
can catch one class. User errors (a bad rule file, a bad household, a question the rules cannot answer)
are kept apart from internal failures, because the first must be shown to the person who can fix the
input and the second must be reported to us::

    EligibilityError
    ├── RuleFileError          one or more problems in rule files, each a Diagnostic
    ├── HouseholdError         a household that does not validate; each bad field by JSON path
    ├── EvaluationError        the rules cannot decide this household on this date
    │   ├── NoPackError            no pack covers the household's region code
    │   └── MissingParameterError  a parameter has no value on the assessment date
    ├── EngineUnavailableError an engine was asked for that cannot run here (durable-rules on 3.13+)
    └── InternalError          a bug in eligibility itself (never the user's fault)
        └── EngineDisagreementError  the two engines reached different outcomes

Rule-file problems print the way linters print — ``path:line:col: CODE message`` — and are all reported
in one pass, so policy staff fix a file in one round instead of one error at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CODES",
    "Diagnostic",
    "EligibilityError",
    "EngineDisagreementError",
    "EngineUnavailableError",
    "EvaluationError",
    "FieldError",
    "HouseholdError",
    "InternalError",
    "MissingParameterError",
    "NoPackError",
    "RuleFileError",
    "SourceLocation",
]


@dataclass(frozen=True, order=True)
class SourceLocation:
    """A place in a rule file: path (as given to the loader), 1-based line and column."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def shifted(self, chars: int) -> SourceLocation:
        """The location ``chars`` characters further on the same line (inside an expression string)."""
        return SourceLocation(self.path, self.line, self.col + chars)


#: Every diagnostic code: (short name, cause, fix). ``docs/rule-files.md`` documents each one and a
#: test checks that the page and this table agree, so a new code cannot ship undocumented.
CODES: Final[dict[str, tuple[str, str, str]]] = {
    "EL001": (
        "yaml-syntax",
        "The file is not valid YAML.",
        "Fix the indentation or quoting at the place shown.",
    ),
    "EL002": (
        "yaml-forbidden-tag",
        "A YAML tag (`!!python/...`, `!foo`) asks the loader to build an object.",
        "Remove the tag; rule files hold plain data only.",
    ),
    "EL003": (
        "yaml-alias-limit",
        "Anchors and aliases expand to more nodes than the loader allows (a 'billion laughs' file).",
        "Write the data out instead of nesting aliases.",
    ),
    "EL004": ("duplicate-key", "The same key appears twice in one mapping.", "Keep one of them."),
    "EL005": (
        "unreadable-file",
        "A file cannot be read as a rule file: missing (a dangling link), a link loop, a FIFO, device or "
        "socket, larger than 1 MiB, or not UTF-8.",
        "Replace it with a regular YAML file, or remove it.",
    ),
    "EL006": (
        "too-deep",
        "YAML nested more than 64 levels, or a formula nested more than 32 brackets or longer than 2,000 characters.",
        "Flatten the data; split the formula into named facts.",
    ),
    "EL101": (
        "unknown-key",
        "A key that the format does not know (often a misspelling).",
        "Use the suggested key.",
    ),
    "EL102": ("missing-key", "A required key is absent.", "Add the key named in the message."),
    "EL103": (
        "bad-value",
        "A value has the wrong YAML type or is outside what the format allows.",
        "Write the value in the form the message names.",
    ),
    "EL104": ("bad-date", "A date is not a real calendar date in YYYY-MM-DD form.", "Write e.g. 2023-01-01."),
    "EL201": (
        "overlapping-versions",
        "Two versions of one rule are in force on the same day, or a version ends before it starts.",
        "Make the windows [from, until) follow one another without overlap.",
    ),
    "EL202": (
        "missing-citation",
        "A rule version or parameter value has no citation.",
        "Add `cite:` with a source key from rules/sources.yaml and the article or clause.",
    ),
    "EL203": (
        "unknown-source",
        "A citation names a source that rules/sources.yaml does not register.",
        "Register the document in rules/sources.yaml, or use the suggested key.",
    ),
    "EL204": (
        "unknown-fact",
        "A condition or formula names a fact or household field that does not exist.",
        "Declare the fact in facts.yaml, or use the suggested name.",
    ),
    "EL205": (
        "unknown-parameter",
        "A condition or formula names a parameter no pack in the chain declares.",
        "Declare the parameter under parameters/, or use the suggested name.",
    ),
    "EL206": ("duplicate-id", "Two rules, facts, parameters or packs share one id.", "Rename one of them."),
    "EL207": (
        "dependency-cycle",
        "Facts or rules depend on each other in a circle, so no order can evaluate them.",
        "Break the circle: one of them must not use the other.",
    ),
    "EL208": (
        "type-mismatch",
        "Two values of incompatible types are compared or combined (e.g. money with a yes/no value).",
        "Compare money with money, dates with dates, yes/no with true/false.",
    ),
    "EL209": ("expression-syntax", "A formula cannot be parsed.", "Fix the formula at the column shown."),
    "EL210": (
        "unknown-rule",
        "A condition or `replaces`/`disable` names a rule id that does not exist.",
        "Use the suggested id.",
    ),
    "EL211": (
        "unknown-function",
        "A formula calls a function the language does not have.",
        "Use one listed in docs/rule-files.md.",
    ),
    "EL212": (
        "unknown-pack",
        "`extends` names a pack that does not exist, or packs extend each other in a circle.",
        "Use the id of an existing pack.",
    ),
    "EL213": (
        "bad-enum-value",
        "A literal is compared with a coded field but is not one of the field's values.",
        "Use one of the values listed in the message (Chinese value or English code).",
    ),
    "EL214": (
        "unknown-code",
        "A conclusion names a category, risk, exclusion or review reason the vocabulary does not declare.",
        "Declare it in the national pack's vocabulary.yaml, or use the suggested code.",
    ),
    "EL215": (
        "unordered-values",
        "The dated values of a parameter are not in increasing date order, or two share a date.",
        "Sort the values by `from` date.",
    ),
    "EL216": (
        "bad-test",
        "A YAML rule test is malformed (no household, unknown expectation, bad date).",
        "Follow the test format in docs/rule-files.md.",
    ),
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a rule file, printable as ``path:line:col: CODE message``."""

    location: SourceLocation
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.code} {self.message}"


class EligibilityError(Exception):
    """Base class of every error ``eligibility`` raises on purpose."""


class RuleFileError(EligibilityError):
    """Rule files have problems; ``diagnostics`` lists every one found in a single pass."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


@dataclass(frozen=True)
class FieldError:
    """One bad field of a household: its JSON path (``$.members[0].birth_date``), a code, a message."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class HouseholdError(EligibilityError):
    """A household record does not validate; ``errors`` names the JSON path of each bad field."""

    def __init__(self, errors: list[FieldError], household_id: str | None = None) -> None:
        self.errors = errors
        self.household_id = household_id
        head = f"户 {household_id} 数据有误 / invalid household" if household_id else "户数据有误 / invalid household"
        super().__init__(head + ":\n" + "\n".join(f"  {e}" for e in errors))


class EvaluationError(EligibilityError):
    """The rules cannot decide this household on this date (as opposed to deciding 'unknown')."""


class NoPackError(EvaluationError):
    """No rule pack covers the household's region code."""


class MissingParameterError(EvaluationError):
    """A parameter has no value in the household's jurisdiction on the assessment date.

    Raised instead of falling back to a default, because an invented monitoring line would silently
    misclassify households (policy.md §2.2: fail loudly when a value is missing).
    """

    def __init__(self, parameter: str, label_zh: str, jurisdiction: str, on: str) -> None:
        self.parameter = parameter
        self.jurisdiction = jurisdiction
        self.on = on
        year = on[:4]
        super().__init__(
            f"{jurisdiction} {year}年（评估日期 {on}）没有参数「{label_zh}」({parameter}) 的取值，无法评估 / "
            f"no value of parameter {parameter} for {jurisdiction} in {year} (assessment date {on})"
        )


class EngineUnavailableError(EligibilityError):
    """An engine was requested that cannot run on this installation."""


class InternalError(EligibilityError):
    """A failure inside eligibility or a dependency that is not the user's fault: please report it."""


class EngineDisagreementError(InternalError):
    """The compiled evaluator and durable-rules reached different outcomes for the same household.

    Never shown as a decision: a rule set whose two independent engines disagree cannot be trusted for
    this household, and the message names the rules and the input digest so the case can be replayed.
    """

    def __init__(self, differences: dict[str, tuple[str, str]], input_digest: str) -> None:
        self.differences = differences
        self.input_digest = input_digest
        detail = "; ".join(f"{rid}: compiled {a}, durable-rules {b}" for rid, (a, b) in sorted(differences.items()))
        super().__init__(f"引擎结论不一致 / engines disagree for input {input_digest}: {detail}")
