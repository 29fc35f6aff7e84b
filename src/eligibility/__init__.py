"""eligibility — rule engine for 防止返贫动态监测和帮扶 (dynamic monitoring to prevent return to poverty).

Declarative, cited rule packs (``rules/``) decide for one household on one date whether it enters the
monitoring scope, in which category, with which risks — and return the audit trace that shows why::

    from eligibility import Engine
    decision = Engine().evaluate(household_json, "2023-06-30")
    print(decision.identification.status, decision.to_json())
"""

from __future__ import annotations

__version__ = "0.1.0"

from .decision import Decision, Identification, Trace
from .engine import Engine
from .errors import (
    Diagnostic,
    EligibilityError,
    EngineDisagreementError,
    EngineUnavailableError,
    EvaluationError,
    HouseholdError,
    InternalError,
    MissingParameterError,
    NoPackError,
    RuleFileError,
)
from .explain import explain
from .loader import bundled_rules_path, lint, load_rules
from .models import Household, Member, parse_household
from .ruleset import RuleSet

__all__ = [
    "Decision",
    "Diagnostic",
    "EligibilityError",
    "Engine",
    "EngineDisagreementError",
    "EngineUnavailableError",
    "EvaluationError",
    "Household",
    "HouseholdError",
    "Identification",
    "InternalError",
    "Member",
    "MissingParameterError",
    "NoPackError",
    "RuleFileError",
    "RuleSet",
    "Trace",
    "__version__",
    "bundled_rules_path",
    "explain",
    "lint",
    "load_rules",
    "parse_household",
]
