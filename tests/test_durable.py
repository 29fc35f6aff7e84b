"""durable-rules as the second engine: agreement, and a guard plus a test for each trap we measured."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine, EngineDisagreementError, InternalError, _durable, load_rules
from eligibility.errors import EngineUnavailableError
from eligibility.ruleset import RuleSet

from .conftest import household, wage_only

pytestmark = pytest.mark.skipif(not _durable.AVAILABLE, reason="durable-rules does not import here")
AS_OF = "2023-06-30"


@pytest.fixture(scope="module")
def engine(ruleset: RuleSet) -> Engine:
    """The compiled evaluator cross-checked by durable-rules on every decision (``verify="durable"``)."""
    return Engine(ruleset, verify="durable")


def test_default_engine_runs_both_and_says_so(engine: Engine) -> None:
    d = engine.evaluate(household(), AS_OF, trace="full")
    assert d.trace.engines == ("compiled", "durable-rules")
    only = Engine(engine.rules).evaluate(household(), AS_OF, trace="full")
    assert only.trace.engines == ("compiled",)
    assert only.identification == d.identification


def test_many_sequential_evaluations_leave_no_session_behind(engine: Engine) -> None:
    """Every evaluation deletes its durable-rules session: a leak would leave one per evaluation.

    300 evaluations over the same income range as the 2,000 this once ran (a leak shows from the first;
    the 2,000 took ~37 s of CI)."""
    inputs = [household(income=wage_only(22700 + 7 * i)) for i in range(300)]
    statuses = {engine.evaluate(h, AS_OF).identification.status for h in inputs}
    assert statuses == {"identified", "not_identified"}
    assert _durable.DurableBackend.live_sessions() == 0


def test_eight_threads_agree_with_sequential_results(engine: Engine) -> None:
    inputs = [household(income=wage_only(20000 + 37 * i), water=None if i % 3 == 0 else {}) for i in range(64)]
    for h in inputs:
        if h["water"] == {}:
            del h["water"]
    expected = [engine.evaluate(h, AS_OF).to_json() for h in inputs]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(k, len(inputs), 8):
                results[i] = engine.evaluate(inputs[i], AS_OF).to_json()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[i] for i in range(len(inputs))] == expected


def test_a_household_that_settles_no_rule_is_still_processed(engine: Engine) -> None:
    d = engine.evaluate({"household_id": "EMPTY", "region": "340602001001"}, AS_OF, trace="full")
    assert d.identification.status == "needs_review"
    assert {r.outcome for r in d.trace.rules} <= {"unknown", "not_fired"}


def test_an_or_with_every_branch_true_concludes_once() -> None:
    asserted: list[dict[str, Any]] = []

    class FakeClosure:
        s = type("S", (), {"sid": "t"})()

        def assert_fact(self, fact: dict[str, Any]) -> None:
            asserted.append(fact)

    run = _durable._action(("rule.x", True))
    _durable.DurableBackend._results["t"] = {}
    try:
        for _ in range(3):  # durable-rules calls the action once per true branch of an $or
            run(FakeClosure())
    finally:
        _durable.DurableBackend._results.pop("t")
    assert asserted == [{"tag": "r", "id": "rule.x", "v": True}]


def test_error_inside_durable_rules_surfaces_as_our_exception(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(dict[str, int]):
        def __setitem__(self, key: str, value: int) -> None:
            raise RuntimeError("boom in an action")

    monkeypatch.setattr(_durable.DurableBackend, "_receipts", Exploding())
    with pytest.raises(InternalError, match="boom in an action"):
        engine.evaluate(household(), AS_OF)
    monkeypatch.undo()
    assert _durable.DurableBackend.live_sessions() == 0
    assert engine.evaluate(household(), AS_OF).identification.status == "not_identified"


def _dropping(monkeypatch: pytest.MonkeyPatch, drops: int) -> list[int]:
    """durable-rules' ``do_actions`` answering "no action available" for the next ``drops`` sessions — what
    it has rarely done for a household it accepted, in long processes under heavy load."""
    real = _durable._Ruleset.do_actions
    calls = [0]

    def do_actions(self: Any, state_handle: Any, complete: Any) -> None:
        calls[0] += 1
        if calls[0] <= drops:
            complete(None, None)
        else:
            real(self, state_handle, complete)

    monkeypatch.setattr(_durable._Ruleset, "do_actions", do_actions)
    return calls


def test_a_session_durable_rules_ran_no_action_for_is_decided_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = household(income=wage_only(7000))
    expected = engine.evaluate(h, AS_OF).to_json()
    before = _durable.DurableBackend.retried
    calls = _dropping(monkeypatch, 1)
    assert engine.evaluate(h, AS_OF).to_json() == expected
    assert _durable.DurableBackend.retried == before + 1
    assert calls[0] >= 2
    assert _durable.DurableBackend.live_sessions() == 0


def test_two_sessions_without_actions_are_an_error_not_a_silent_pass(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dropping(monkeypatch, 2)
    with pytest.raises(InternalError, match=r"processed 0 of \d+ .*then 0 of \d+ .*in two sessions"):
        engine.evaluate(household(income=wage_only(7100)), AS_OF)
    monkeypatch.undo()
    assert _durable.DurableBackend.live_sessions() == 0


def test_numbers_are_sent_in_fixed_point() -> None:
    assert _durable._dump(Decimal("1E-7")) == "0.0000001"
    assert _durable._dump({"a": Decimal("0.00001"), "b": 1e-05, "c": [Decimal("7900.00")]}) == (
        '{"a":0.00001,"b":0.00001,"c":[7900]}'
    )


def test_tiny_per_capita_income_does_not_break_the_engine(engine: Engine) -> None:
    h = household(income=wage_only(0.01))
    h["members"] = [dict(h["members"][0], member_id=str(i)) for i in range(150)]
    d = engine.evaluate(h, AS_OF, trace="full")
    per_capita = next(f for f in d.trace.facts if f.name == "per_capita_net_income")
    assert per_capita.value < 0.0001
    assert d.identification.status == "identified"


def test_disagreement_names_the_rules_and_the_input(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _durable.DurableBackend.outcomes

    def flipped(self: Any, *args: Any) -> dict[str, str]:
        out = real(self, *args)
        out["identification.income_below_line"] = "unknown"
        return out

    monkeypatch.setattr(_durable.DurableBackend, "outcomes", flipped)
    with pytest.raises(EngineDisagreementError) as info:
        engine.evaluate(household(), AS_OF)
    assert "identification.income_below_line: compiled not_fired, durable-rules unknown" in str(info.value)
    assert info.value.input_digest in str(info.value)


def test_asking_for_durable_where_it_cannot_import_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_durable, "AVAILABLE", False)
    monkeypatch.setattr(_durable, "IMPORT_ERROR", "ImportError: undefined symbol")
    with pytest.raises(EngineUnavailableError, match="undefined symbol"):
        Engine(engines=("reference", "durable"))
    assert Engine().engines == ("compiled",)
    with pytest.raises(EngineUnavailableError):
        Engine(engines=("durable",))


def test_every_bundled_pack_compiles_within_the_size_limit() -> None:
    rs = load_rules(Path(__file__).resolve().parent.parent / "rules")
    backend = _durable.DurableBackend()
    for pid in rs.packs:
        for on in (date(2021, 6, 30), date(2023, 6, 30), date(2024, 6, 30), date(2026, 3, 31)):
            chain = rs.chain(pid)
            try:
                compiled = backend.compile(chain, on)
            except Exception as exc:  # a missing parameter on that date is the reference's error too
                assert "monitoring_line" in str(exc)
                continue
            # Past one ruleset's limit the chain is split by decision kind: every part stays within it (the code
            # splits above MAX_RULES_PER_RULESET, so a ruleset of exactly that many is whole).
            assert compiled.parts and all(0 < p.rule_count <= _durable.MAX_RULES_PER_RULESET for p in compiled.parts)
            assert compiled.rule_count == sum(p.rule_count for p in compiled.parts)


# ------------------------------------------------------------------------- differential (hypothesis)


_STUBS = itertools.count()


@dataclass
class StubChain:
    """Just enough of a Chain to compile hand-built rules."""

    rules: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    # A real chain's fingerprint identifies its rule files; each stub is a different rule set.
    fingerprint: str = field(default_factory=lambda: f"stub-{next(_STUBS)}")

    def in_force(self, on: date) -> list[Any]:
        return [(r, r.versions[0]) for r in self.rules]

    def param_hit(self, name: str, on: date) -> Any:
        from eligibility.conditions import ParamHit

        return ParamHit(name, self.params[name], on, None, "stub", ())


def _stub(when: Any) -> Any:
    from eligibility.errors import SourceLocation
    from eligibility.ruleset import RuleDef, RuleVersion

    loc = SourceLocation("t.yaml", 1, 1)
    version = RuleVersion(date(2021, 1, 1), None, (), when, loc)
    return StubChain([RuleDef("r0", "规则", "rule", "identification", "stub", (version,), (), loc)])


def test_a_rule_testing_only_absence_terminates() -> None:
    """durable-rules loops on a rule whose only test is "field absent": ours always carry a tag."""
    from eligibility.conditions import Leaf, Operand
    from eligibility.errors import SourceLocation
    from eligibility.expressions import NUMBER

    leaf = Leaf("n1", "field", "known", (Operand("literal", False),), NUMBER, SourceLocation("t.yaml", 1, 1))
    backend = _durable.DurableBackend()
    assert backend.outcomes(_stub(leaf), date(2024, 1, 1), {}, {}) == {"r0": "fired"}
    assert backend.outcomes(_stub(leaf), date(2024, 1, 1), {"n1": Decimal(1)}, {}) == {"r0": "not_fired"}


def test_a_ruleset_is_compiled_once_and_reused(engine: Engine) -> None:
    """A ruleset name cannot be registered twice in durable-rules: compiled rulesets are cached."""
    backend = _durable.DurableBackend()
    chain = engine.rules.chain("anhui-huaibei")
    first = backend.compile(chain, date(2023, 6, 30))
    assert backend.compile(chain, date(2023, 6, 30)) is first
    # another date with the same rules and values shares the same ruleset
    assert backend.compile(chain, date(2023, 7, 31)).name == first.name


WIDE = Path(__file__).parent / "data" / "durable_wide_household.json"


def test_a_household_that_matches_many_tests_is_verified_not_crashed() -> None:
    """This household (from the benchmark workload: 云南, 2024-06-30, almost every field known) once made
    durable-rules overflow its 64-node alpha stack (error 303) and then free a half-built session: the
    process died. Run in a subprocess so that a crash fails this test instead of killing the suite."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "eligibility", "verify", str(WIDE), "--as-of", "2024-06-30"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "一致 1，不一致 0" in done.stdout, done.stdout


def test_buckets_keep_every_alpha_walk_within_durable_rules_stack(ruleset: RuleSet) -> None:
    """The premise and the guard: one bucket for all of 云南's 2024 rules could have more alpha nodes
    pending than durable-rules' stack of 64 holds; after :func:`_durable._buckets` no bucket can."""
    chain = ruleset.chain("yunnan")
    on = date(2024, 6, 30)
    in_force = chain.in_force(on)
    definitions = _durable._Compiler(chain, on, in_force).rules(in_force)

    def trie_of(names: list[str]) -> dict[str, Any]:
        trie: dict[str, Any] = {}
        for name in names:
            tests = _durable._household_tests(definitions[name])
            if tests is None:
                continue
            node = trie
            for t in tests:
                node = node.setdefault(t, {})
        return trie

    assert _durable._alpha_peak(trie_of(list(definitions))) > 64
    buckets = _durable._buckets(definitions)
    assert buckets > 1
    for k in range(buckets):
        mine = [n for n, d in definitions.items() if d["all"][0].get("h", {}).get("$and", [{}])[0] == {"tag": f"h{k}"}]
        assert mine, f"bucket h{k} holds no rule"
        assert _durable._alpha_peak(trie_of(mine)) <= _durable.ALPHA_STACK_BUDGET
