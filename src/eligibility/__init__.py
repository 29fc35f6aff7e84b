"""eligibility — rule engine for 防止返贫动态监测和帮扶 (dynamic monitoring to prevent return to poverty).

Declarative, cited rule packs (``rules/``) decide for one household on one date whether it enters the
monitoring scope, in which category, with which risks — and return the audit trace that shows why::

    from eligibility import Engine
    decision = Engine().evaluate(household_json, "2023-06-30")
    print(decision.identification.status, decision.to_json())

The public names are imported on first use (PEP 562), not by ``import eligibility``: a process that
only needs some of them — the CLI printing its version, a worker that never explains — does not pay
for pydantic's models, PyYAML or durable-rules. ``from eligibility import X`` works as before.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

POLARS_ALLOCATOR = "dirty_decay_ms:30000,muzzy_decay_ms:30000"
"""How long polars' allocator (jemalloc) keeps freed memory before returning it to the system, set
for polars through ``_RJEM_MALLOC_CONF`` when this package is imported before polars is.

Why: polars sets 0.5 s and 1 s (``dirty_decay_ms:500,muzzy_decay_ms:1000``, polars issue 18088) so
that memory goes back to the system soon; the batch's columnar program frees and allocates hundreds of
MB per stage, and each page handed back is faulted in (and zeroed by the kernel) again by the next
stage. Session 16 set 5 s (at 0.5 s: 170,000–200,000 minor faults and 0.5–0.9 system CPU s per 100,000
bundled households). Session 27 found 5 s still too short for a call of a million rows (3–6 s): jemalloc
purges freed pages gradually over the decay time, and in a warm process the third and fourth bundled
million (``decide_table``, 2 cores, two fresh processes) still took 450,000–770,000 minor faults and
1.0–3.9 system CPU s a call, 3.8–6.9 s wall; with 30 s, 33,000–122,000 faults, 0.15–0.43 system s,
no more user time, 3.7–3.9 s wall (``docs/batch-speed.md``, session 27). The price: freed memory stays
with the process for up to 30 s after a call (a service's RSS comes down that much later), and
end-to-end peaks are higher (``run_batch``, a million rows, three alternating runs each: one process
866–877 against 775–823 MiB, the largest of two workers 734–737 against 686–690 MiB; its wall time, in
parts of 100,000 rows, did not change beyond the noise). polars appends a ``_RJEM_MALLOC_CONF``
already in the environment to its own setting, so it wins: this only fills it when it is unset, and
not at all when ``ELIGIBILITY_POLARS_ALLOCATOR=polars`` asks for polars' own default or polars is
already imported (then it is too late: set the variable before starting Python)."""

if (
    "polars" not in sys.modules
    and "_RJEM_MALLOC_CONF" not in os.environ
    and os.environ.get("ELIGIBILITY_POLARS_ALLOCATOR", "").strip().lower() != "polars"
):
    os.environ["_RJEM_MALLOC_CONF"] = POLARS_ALLOCATOR

if TYPE_CHECKING:
    from .decision import Decision, Identification, Trace
    from .engine import Engine
    from .errors import (
        BatchWorkerError,
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

_LAZY: dict[str, str] = {
    "Decision": "decision",
    "Identification": "decision",
    "Trace": "decision",
    "Engine": "engine",
    "BatchWorkerError": "errors",
    "Diagnostic": "errors",
    "EligibilityError": "errors",
    "EngineDisagreementError": "errors",
    "EngineUnavailableError": "errors",
    "EvaluationError": "errors",
    "HouseholdError": "errors",
    "InternalError": "errors",
    "MissingParameterError": "errors",
    "NoPackError": "errors",
    "RuleFileError": "errors",
    "explain": "explain",
    "bundled_rules_path": "loader",
    "lint": "loader",
    "load_rules": "loader",
    "Household": "models",
    "Member": "models",
    "parse_household": "models",
    "RuleSet": "ruleset",
}
"""Public name → the submodule defining it (keep in step with the ``TYPE_CHECKING`` imports above)."""

__all__ = [
    "BatchWorkerError",
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


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute of the package

    def __getattr__(name: str) -> Any:
        """A public name on first use; or a submodule, as ``import eligibility`` used to import them all."""
        module = _LAZY.get(name)
        if module is not None:
            value = getattr(importlib.import_module(f".{module}", __name__), name)
            globals()[name] = value
            return value
        if not name.startswith("__"):
            try:
                return importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise  # the submodule exists but needs something missing: say so
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package's module type: keeps ``eligibility.explain`` the function.

    Importing a submodule binds it on its package, so loading ``eligibility.explain`` (the module, which
    the CLI imports) would replace the public function of the same name — and ``from eligibility import
    explain`` would then hand out a module. With eager imports the function was bound last and won.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
