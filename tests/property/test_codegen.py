"""The generated program's folding and fusion (issue 9) against the oracle, and its lean variant.

The Python target folds what a span fixes (a fact that is a constant, a parameter without a value, an
all/any that a constant settles), gives nodes that only repeat a value no line of their own, tests a
member's attribute where it is read, and has a second, lean function for decisions without a trace
that stops a rule's condition as soon as its outcome is settled. Each of these changes only how the
same value is computed, so:

- for generated households on every bundled pack and on dates around every effective date, the lean
  function gives exactly the values and conclusions of the full one (and no outcome tuple), and the
  ``none`` function the full one's result wherever a decision without a trace reads it (and the engine
  using it the compact decision);
- with a county switch that turns a constant fact to true (the rigid-spending deduction) the full
  decision is still the old interpreter's, byte for byte;
- members whose yes/no and coded fields are absent, and members born on the assessment day or on
  29 February, are decided as the oracle decides them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eligibility import Engine, load_rules, parse_household
from eligibility import strategies as els
from eligibility._oracle import ReferenceInterpreter
from eligibility.compile.python import VALUE_GROUPS
from eligibility.errors import EvaluationError
from eligibility.expressions import UNKNOWN

from ..conftest import EXAMPLES, RULES
from ..test_engine import DEDUCTION_PACK, DEDUCTION_PARAMS
from .test_compiled import DATES, REGIONS

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
ORACLE = ReferenceInterpreter(RULESET, engines=("reference",))

# The 扣减 switch (a county that counts rigid spending against income, as in test_engine): the national
# rules read it as a fact the span fixes, false nationally and true there — folding must follow it.

MEMBER_FLAGS = ("dropped_out", "basic_medical_insurance", "public_payroll", "dibao", "tekun", "accident_injury")
MEMBER_CODES = ("schooling", "labour", "health", "disability_grade", "birth_date")


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type, element by element (U is U; True is not 1; 1.0 is not 1.00 as text)."""
    if len(a) != len(b):
        return False
    return all(x is y or (type(x) is type(y) and x == y and str(x) == str(y)) for x, y in zip(a, b, strict=True))


def _program(data: dict[str, Any], on: date) -> Any:
    h = parse_household(data)
    return h, ENGINE.program(h, on)


@given(els.household_data(regions=REGIONS), DATES)
def test_lean_program_gives_the_full_programs_values_and_conclusions(data: dict[str, Any], on: date) -> None:
    h, prog = _program(data, on)
    assume(prog is not None)
    values, nodes, fired, unknown = prog.run(h, on)
    lean = prog.run_lean(h, on)
    assert lean[1] is None and len(nodes) == prog.n_nodes
    assert _same(lean[0], values)
    assert lean[2] == fired and lean[3] == unknown


def _none_matches_full(prog: Any, h: Any, on: date) -> str:
    """Check ``run_none`` against ``run`` on one household; say which of its three returns it took."""
    values, nodes, fired, unknown = prog.run(h, on)
    got = prog.run_none(h, on)
    assert got[2] == fired and got[3] == unknown
    if any(unknown):
        assert _same(got[0], values) and _same(got[1], nodes)
        return "unknown"
    assert got[1] is None
    if any(fired[g] for g in VALUE_GROUPS):
        assert _same(got[0], values)
        return "values"
    assert got[0] is None
    return "neither"


def _some_complete(regions: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Households with gaps (most have an unknown conclusion) and complete ones (most have none)."""
    return st.one_of(els.household_data(regions=regions), els.household_data(regions=regions, missing=False))


def _generated(engine: Engine, regions: list[str], dates: st.SearchStrategy[date], seen: dict[str, int]) -> None:
    """Generated households through ``run_none`` and ``run`` (each the same where a decision reads it),
    counting in ``seen`` the returns of ``run_none`` they reached."""

    @settings(max_examples=150, database=None)
    @given(_some_complete(regions), dates)
    def check(data: dict[str, Any], on: date) -> None:
        h = parse_household(data)
        prog = engine.program(h, on)
        assume(prog is not None)
        way = _none_matches_full(prog, h, on)
        seen[way] = seen.get(way, 0) + 1

    check()


def test_the_none_program_gives_the_full_programs_result_where_a_decision_reads_it() -> None:
    """``run_none`` computes what ``run`` computes and builds its tuples only where a decision without a
    trace reads them: the node outcomes (and values) when a conclusion is unknown, the values when a
    conclusion of a value group fired; the masks always. Every bundled pack, dates around every
    effective date; then the benchmark's seeded workload, whose households carry a procedure (a
    procedure finding fires: a value group). Between them every return is reached, so each check can fail."""
    import random
    import sys

    seen: dict[str, int] = {}
    _generated(ENGINE, REGIONS, DATES, seen)
    sys.path.insert(0, str(RULES.parent / "benchmarks"))
    try:
        import workload
    finally:
        sys.path.pop(0)
    for data, on in workload.generate(random.Random(20261201), 200, workload.sites()):
        h = parse_household(data)
        prog = ENGINE.program(h, on)
        if prog is not None:
            way = _none_matches_full(prog, h, on)
            seen[way] = seen.get(way, 0) + 1
    assert seen.keys() == {"unknown", "values", "neither"}, seen


@pytest.fixture(scope="module")
def identification_pack(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """National, 安徽 and 淮北 rules without assistance, exit, procedure and warnings (the benchmark's
    identification pack): no value group, so ``run_none`` may return neither tuple."""
    import shutil

    root = tmp_path_factory.mktemp("identification")
    shutil.copy(RULES / "sources.yaml", root / "sources.yaml")
    for name in ("national", "anhui", "anhui-huaibei"):
        left_out = shutil.ignore_patterns("tests", "assistance", "exit", "procedure", "warning")
        shutil.copytree(RULES / name, root / name, ignore=left_out)
    return Engine(load_rules(root, cache=False))


def test_the_none_program_of_an_identification_pack(identification_pack: Engine) -> None:
    """The same on the identification pack (淮北 households, dates of 2021–2024): no value group."""
    seen: dict[str, int] = {}
    _generated(identification_pack, ["3406"], st.dates(date(2021, 1, 1), date(2024, 12, 31)), seen)
    assert seen.keys() == {"unknown", "neither"}, seen


@settings(max_examples=60)
@given(els.household_data(regions=REGIONS), DATES)
def test_a_decision_from_the_none_program_is_the_compact_decision(data: dict[str, Any], on: date) -> None:
    """The engine's ``trace="none"`` once it has stopped trying the lean program first (many households
    with gaps: ``_LeanCount.pays``) runs ``run_none``: the same decision as the compact one, households
    with and without unknown conclusions alike."""
    engine = Engine(RULESET)
    try:
        compact = engine.evaluate(data, on)
    except EvaluationError:
        assume(False)
        return
    assert engine.program(parse_household(data), on) is not None
    engine._lean.runs = engine._lean.reruns = 1_000  # as after a run of households with gaps
    assert not engine._lean.pays()
    none = engine.evaluate(data, on, trace="none")
    assert none.trace is None
    assert none.model_dump(exclude={"trace"}) == compact.model_dump(exclude={"trace"})


def _oracle_full(oracle: ReferenceInterpreter, engine: Engine, data: dict[str, Any], on: date) -> None:
    try:
        d = oracle.evaluate(data, on)
    except EvaluationError as exc:
        with pytest.raises(EvaluationError) as mine:
            engine.evaluate(data, on, trace="none")
        assert str(mine.value) == str(exc)
        return
    expected = json.loads(d.to_json())
    expected["trace"]["engines"] = ["compiled"]  # the only field that names the engine
    got = engine.evaluate(data, on, trace="full")
    assert json.loads(got.to_json()) == expected
    assert got.to_json() == json.dumps(expected, ensure_ascii=False, indent=2)


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, ReferenceInterpreter]:
    import shutil

    root = tmp_path_factory.mktemp("codegen") / "rules"
    shutil.copytree(RULES, root, ignore=shutil.ignore_patterns("tests"))
    pack = root / "deduction-demo"
    (pack / "parameters").mkdir(parents=True)
    (pack / "pack.yaml").write_text(DEDUCTION_PACK, encoding="utf-8")
    (pack / "parameters" / "switch.yaml").write_text(DEDUCTION_PARAMS, encoding="utf-8")
    rs = load_rules(root)
    return Engine(rs), ReferenceInterpreter(rs, engines=("reference",))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    els.household_data(regions=["990101"]), st.sampled_from([date(2021, 6, 30), date(2023, 1, 1), date(2024, 2, 29)])
)
def test_a_switch_that_folds_to_true_is_decided_as_the_oracle_decides(
    switched: tuple[Engine, ReferenceInterpreter], data: dict[str, Any], on: date
) -> None:
    engine, oracle = switched
    h = parse_household(data)
    prog = engine.program(h, on)
    assume(prog is not None)
    # the switch is folded: the program holds no test of it, only its consequences
    assert "F_deduction_rule_adopted = True" in prog.source
    _oracle_full(oracle, engine, data, on)


@st.composite
def _members_at_the_edges(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    """A household whose members' yes/no and coded fields may each be absent, and whose birth dates
    fall on the assessment day some years back, on 29 February, or the day either side of those."""
    data = draw(els.household_data(regions=REGIONS, min_members=1, max_members=5))
    on = draw(DATES | st.sampled_from([date(2023, 2, 28), date(2023, 3, 1), date(2024, 2, 28), date(2024, 2, 29)]))
    for m in data.get("members") or []:
        for name in MEMBER_FLAGS:
            choice = draw(st.sampled_from(["keep", "none", "true", "false"]))
            if choice == "none":
                m.pop(name, None)
            elif choice != "keep":
                m[name] = choice == "true"
        for name in MEMBER_CODES:
            if draw(st.integers(0, 4)) == 0:
                m.pop(name, None)
        if "birth_date" in m and draw(st.booleans()):
            kind = draw(st.sampled_from(["on", "before", "after", "feb29"]))
            # the day after a birthday is only a valid birth date from the first birthday on: a birth
            # after the assessment date is invalid input, not an edge of the age arithmetic
            years = draw(st.integers(1 if kind == "after" else 0, 70))
            if kind == "feb29":
                leap = [y for y in range(on.year - 70, on.year + 1) if y % 4 == 0 and y != 1900]
                year = draw(st.sampled_from([y for y in leap if date(y, 2, 29) <= on]))
                born = date(year, 2, 29)
            else:
                try:
                    born = on.replace(year=on.year - years)
                except ValueError:  # 29 February in a year without one
                    born = date(on.year - years, 2, 28)
                born += timedelta(days={"on": 0, "before": -1, "after": 1}[kind])
            m["birth_date"] = born.isoformat()
    return data, on


@given(_members_at_the_edges())
def test_members_with_absent_fields_and_birthdays_on_the_edges_are_the_oracles(
    case: tuple[dict[str, Any], date],
) -> None:
    data, on = case
    _oracle_full(ORACLE, ENGINE, data, on)


def test_folded_code_has_no_dead_tests() -> None:
    """What the span fixes leaves no trace in the code: no test of the constant U, no Kleene group over
    a constant True/False, no arithmetic on a parameter without a value."""
    base = json.loads((EXAMPLES / "03-huaibei-at-line-not-identified.json").read_text("utf-8"))
    for region in REGIONS:
        h = parse_household(base | {"region": region})
        for on in (date(2021, 6, 30), date(2024, 6, 30)):
            prog = ENGINE.program(h, on)
            if prog is None:
                continue
            src = prog.source
            assert " U is U" not in src and "(U is " not in src and " U is True" not in src, prog.key
            assert "if U is U" not in src and "int(U)" not in src and "* U" not in src, prog.key
            assert "U if U" not in src and "True is " not in src and "False is " not in src, prog.key
            lean = src[src.index("def program_lean") :]
            assert "return (" in lean and "), None, (f0" in lean


def test_unknown_values_are_the_unknown_singleton() -> None:
    """The lean and full programs hand back the one UNKNOWN object, never a copy or None."""
    data = json.loads((EXAMPLES / "03-huaibei-at-line-not-identified.json").read_text("utf-8"))
    data.pop("water", None)
    h = parse_household(data)
    prog = ENGINE.program(h, date(2023, 6, 30))
    assert prog is not None
    values = prog.run_lean(h, date(2023, 6, 30))[0]
    kinds = prog.value_kinds
    water = [v for v, k in zip(values, kinds, strict=True) if k.startswith("field:water.")]
    assert water and all(v is UNKNOWN for v in water)
