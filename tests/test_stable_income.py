"""Issue 14 §3: Anhui's half-year stable-income exit condition (policy.md §8.1 condition 1, YJQ/ZONGYANG) over
the history, as the jurisdiction parameter ``exit_stable_income_months``.

Two things must hold beyond the YAML cases themselves. Every target decides it alike — the compiled program,
the reference interpreter and the polars table — on the YAML cases and on generated Anhui households whose
earlier assessments fall on both sides of the six-month boundary. And the condition exists only where a pack
gives the parameter: an optional parameter without a value makes the rule not apply, so nowhere outside
Anhui does a household without a history become pending (a parameter that folded to unknown would turn
every monitored household's exit into 待定).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import strategies as els
from eligibility._oracle import ReferenceInterpreter
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.errors import EvaluationError
from eligibility.models import parse_household
from eligibility.testing import collect

from .conftest import RULES

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
ORACLE = ReferenceInterpreter(RULESET, engines=("reference",))
RULE = "exit.blocker.income_not_stable"
CASE_FILES = (
    RULES / "anhui-huaibei" / "tests" / "exit_stable_income.yaml",
    RULES / "anhui-huaibei" / "tests" / "exit.yaml",
    RULES / "anhui-guzhen" / "tests" / "exit_stable_income.yaml",
    RULES / "gansu" / "tests" / "exit_without_stable_income_gate.yaml",
)


def _agree(population: list[tuple[dict[str, Any], date]], *, oracle: bool = True) -> list[Any]:
    """The compiled and polars targets (and, with ``oracle``, the reference interpreter, about 60 ms a
    household here) give the same exit, polars the same whole decision row, on each household; returns the
    compiled decisions."""
    frame = households_frame([parse_household(h) for h, _ in population], [on for _, on in population])
    rows = list(decide_table(RULESET, frame).iter_rows(named=True))
    decisions = []
    for (h, on), row in zip(population, rows, strict=True):
        ours = ENGINE.evaluate(h, on, trace="none")
        if oracle:
            assert ours.exit == ORACLE.evaluate(h, on).exit, (h.get("household_id"), on)
        for key, value in decision_row(ours).items():
            assert row[key] == value, (h.get("household_id"), on, key)
        decisions.append(ours)
    return decisions


def test_the_three_targets_agree_on_the_rule_tests() -> None:
    population = []
    for path in CASE_FILES:
        cases, problems = collect(path)
        assert not problems
        population += [(c.household, c.as_of) for c in cases if c.household is not None]
    decisions = _agree(population)
    seen = {(b.code, b.certain) for d in decisions for b in d.exit.blockers}
    # the cases reach the blocker certain and uncertain, and eligible exits beside them (not vacuous)
    assert {("income_not_stable", True), ("income_not_stable", False)} <= seen
    assert "eligible" in {d.exit.status for d in decisions}


def _chain_has_anhui(pack: str) -> bool:
    while pack:
        if pack == "anhui":
            return True
        pack = RULESET.packs[pack].extends or ""
    return False


def test_the_condition_applies_only_where_a_pack_gives_the_months() -> None:
    """In force in the Anhui packs (6 months), skipped with the reason everywhere else, on every date."""
    days = [date(2021, 1, 1), date(2023, 9, 30), date(2025, 12, 31), date(2026, 6, 30)]
    anhui = set()
    for pack in RULESET.packs:
        chain = RULESET.chain(pack)
        for on in days:
            in_force = {r.id for r, _ in chain.in_force(on)}
            skipped = {r.id: why for r, why in chain.skipped(on)}
            if _chain_has_anhui(pack):
                anhui.add(pack)
                assert RULE in in_force and chain.param_hit("exit_stable_income_months", on).value == 6, pack
            else:
                assert RULE not in in_force, (pack, on)
                assert "exit_stable_income_months" in skipped[RULE], (pack, on)
    assert anhui == {"anhui", "anhui-huaibei", "anhui-guzhen"}


def test_without_history_exit_is_pending_only_in_anhui() -> None:
    """The same monitored household in each jurisdiction with a line on the date, without earlier assessments
    and with one that dipped below the line: outside Anhui the history changes nothing and the blocker never
    appears; in Anhui exit is pending without it (the history named as what would settle it) and blocked
    with the dip."""
    cases, _ = collect(CASE_FILES[3])  # Gansu: eligible, no history
    base, on = cases[0].household, cases[0].as_of
    assert base is not None and "history" not in base
    dip = {"assessments": [{"as_of": "2023-06-30", "per_capita_net_income": "1"}]}
    tried = {"anhui": 0, "elsewhere": 0, "eligible": 0}
    for pack, p in RULESET.packs.items():
        if not p.regions:
            continue
        h = dict(base, region=(p.regions[0] + "000000000000")[:12])
        try:
            without, dipped = ENGINE.evaluate(h, on, trace="none"), ENGINE.evaluate(dict(h, history=dip), on)
        except EvaluationError:  # the rules cannot decide there on the date (an error, by design)
            continue
        if without.missing_parameters:  # a configuration gap leaves the exit undecided anyway
            continue
        if _chain_has_anhui(pack):
            tried["anhui"] += 1
            assert without.exit.status == "needs_review", pack
            assert [(b.code, b.certain) for b in without.exit.blockers] == [("income_not_stable", False)], pack
            assert {f for m in without.exit.blocking for f in m.fields} == {"$.history.assessments"}, pack
            assert ("income_not_stable", True) in {(b.code, b.certain) for b in dipped.exit.blockers}, pack
        else:
            tried["elsewhere"] += 1
            assert without.exit == dipped.exit, pack
            assert "income_not_stable" not in {b.code for b in without.exit.blockers}, pack
            tried["eligible"] += without.exit.status == "eligible"
    assert tried["anhui"] >= 1 and tried["elsewhere"] >= 3 and tried["eligible"] >= 1, tried


# Generated Anhui monitored households (淮北, 2023 line 7,900) with earlier assessments around the six-month
# boundary of the assessment date: both sides of the boundary and of the line, missing fields, repeats.
AS_OF = [date(2023, 7, 31), date(2023, 9, 30), date(2023, 12, 31)]


@st.composite
def _with_history(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    h = draw(els.household_data(regions=["340602"], missing=True))
    h["monitoring"] = dict(h.get("monitoring") or {}, status="监测中")
    on = draw(st.sampled_from(AS_OF))
    items = []
    for _ in range(draw(st.integers(0, 4))):
        back = draw(st.sampled_from([5, 6, 7, 0]))
        day = date(on.year, on.month, 1) - timedelta(days=1) if back == 0 else _months_back(on, back)
        item: dict[str, Any] = {
            "as_of": (day + timedelta(days=draw(st.integers(-1, 1)))).isoformat(),
            "per_capita_net_income": str(draw(st.sampled_from(["7000", "7899.99", "7900", "7900.01", "9000"]))),
        }
        items.append({k: v for k, v in item.items() if draw(st.integers(0, 5)) != 0})
    if items or draw(st.booleans()):
        h["history"] = {"assessments": items}
    return h, on


def _months_back(on: date, n: int) -> date:
    from dateutil.relativedelta import relativedelta

    return on - relativedelta(months=n)


@settings(max_examples=5)  # each example builds one polars query (the slow part): few examples, many households
@given(st.lists(_with_history(), min_size=4, max_size=16))
def test_generated_histories_are_decided_alike_in_every_target(
    population: list[tuple[dict[str, Any], date]],
) -> None:
    """Compiled against polars (the compiled program against the reference interpreter on random histories
    is tests/test_differential.py's and tests/property/'s business)."""
    _agree(population, oracle=False)
