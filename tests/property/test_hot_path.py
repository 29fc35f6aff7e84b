"""The memos of the hot path (issue 9) against the ways that keep none.

The engine works the parts of a decision out once per combination of conclusions, the gap reports once
per combination of open leaves, and the full-trace text once per combination of each rule's outcomes and
values; each memo lives as long as the engine (or the compiled program). These tests run many households
through *one* engine, so that later households hit what earlier ones left, and compare each answer with
a computation that keeps nothing between households:

- the full-trace JSON written from memoised texts (``Engine.full_json``) with the trace expanded as plain
  data by :class:`~eligibility.compile.manifest.Expander`, which renders every node every time;
- every decision part at ``trace="none"`` with a fresh engine's (fresh part and gap memos);
- the settling paths read straight off the models with :func:`eligibility.facts.missing_paths` over the
  flattened household, for every derived fact of the chain.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eligibility import Engine, parse_household
from eligibility import strategies as els
from eligibility.decision import CompactTrace
from eligibility.engine import _absent
from eligibility.errors import EvaluationError, HouseholdError
from eligibility.facts import flatten, missing_paths

from ..conftest import population_examples
from .test_compiled import DATES, REGIONS, RULESET

SHARED = Engine(RULESET)
"""One engine for every example: its memos fill up across households, as in a county batch."""

BATCH = st.lists(st.tuples(els.household_data(regions=REGIONS), DATES), min_size=5, max_size=12)


def _decided(engine: Engine, data: dict[str, Any], on: date, trace: Any) -> Any:
    try:
        return engine.evaluate(data, on, trace=trace)
    except (EvaluationError, HouseholdError):
        return None


# Each example is 5–12 full traces rendered twice: the quick profile runs half its usual number (~29 s of
# CI at 60); `make proptest` runs the thorough profile's.
@settings(population_examples(30), suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(BATCH)
def test_memoised_full_trace_text_is_the_rendered_one(batch: list[tuple[dict[str, Any], date]]) -> None:
    """Rule and fact texts reused from earlier households are byte for byte what rendering gives."""
    decided = [d for d in (_decided(SHARED, data, on, "compact") for data, on in batch) if d is not None]
    assume(decided)
    for d in decided:
        assert isinstance(d.trace, CompactTrace)
        assert SHARED.full_json(d, indent=None) == SHARED.expand(d).to_json(indent=None)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(BATCH)
def test_memoised_decision_parts_are_a_fresh_engines(batch: list[tuple[dict[str, Any], date]]) -> None:
    """A decision from an engine that has seen many households equals one from an engine that has seen none."""
    for data, on in batch:
        shared = _decided(SHARED, data, on, "none")
        fresh = _decided(Engine(RULESET), data, on, "none")
        assert (shared is None) == (fresh is None)
        if shared is not None:
            assert shared.to_json() == fresh.to_json()


@given(els.household_data(regions=REGIONS))
def test_settling_paths_read_off_the_models_are_the_flattened_ones(data: dict[str, Any]) -> None:
    """``_absent`` reports, for every fact's fields, exactly what ``missing_paths`` finds in ``flatten``."""
    h = parse_household(data)
    chain = SHARED.chain_for(h)
    assume(chain is not None)
    assert chain is not None
    flat = flatten(h)
    for name, f in chain.facts.items():
        assert sorted(set(_absent(h, f.fields))) == missing_paths(flat, set(f.fields)), name
