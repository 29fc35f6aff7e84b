"""The engine's per-household shortcuts (issue 9, speed) change nothing a caller can see.

* A generated program reports its fired and unknown conclusions as one bit mask per conclusion group;
  decoded, they are exactly the conclusions of the rules whose root condition is true (unknown), in
  rule order — checked against the node outcomes the same program returns.
* Pieces of decisions are memoised per combination of conclusions and shared as objects between
  decisions: an engine that has already decided many other households gives the same bytes as a
  fresh engine, and an engine whose memos start over (a small bound) gives the same bytes too.
* The objects built without validation are exactly what pydantic would build from their own JSON.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility import Decision, Engine, load_rules, parse_household
from eligibility import _gap_oracle as oracle
from eligibility import engine as engine_module
from eligibility.compile.python import GROUP_OF_KIND, N_GROUPS
from eligibility.errors import EvaluationError
from eligibility.expressions import UNKNOWN
from eligibility.models import births_after

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
DATES = (date(2021, 9, 30), date(2022, 6, 30), date(2023, 9, 30), date(2024, 6, 30), date(2025, 6, 30))


@pytest.fixture(scope="module")
def rules():  # type: ignore[no-untyped-def]
    return load_rules()


@pytest.fixture(scope="module")
def households() -> list:  # type: ignore[type-arg]
    out = []
    for p in sorted(EX.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        out.append(parse_household(data.get("household", data)))  # some examples carry their as_of
    return out


def _cases(engine: Engine, households: list) -> list:  # type: ignore[type-arg]
    """Every example on every date its chain has rules in force (region codes as the examples give them)."""
    out = []
    for h in households:
        chain = engine.chain_for(h)
        out += [(h, on) for on in DATES if chain is not None and chain.in_force(on) and not births_after(h, on)]
    return out


def test_masks_decode_to_the_conclusions_of_the_rules_that_fired(rules, households) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(rules)
    cases = _cases(engine, households)
    assert len(cases) >= len(households)
    seen = 0
    for h, on in cases:
        program = engine.program(h, on)
        assert program is not None
        _, nodes, fired, unknown = program.run(h, on)
        assert len(fired) == len(unknown) == N_GROUPS
        for outcome, masks in ((True, fired), (UNKNOWN, unknown)):
            expected: list[list[tuple[str, str, str]]] = [[] for _ in range(N_GROUPS)]
            for rule, _, root in program.rules:
                if nodes[root.index] is outcome:
                    for kind, code in rule.conclusions:
                        expected[GROUP_OF_KIND.get(kind, N_GROUPS - 1)].append((kind, code, rule.id))
            got = [program.conclusions(g, masks[g]) for g in range(N_GROUPS)]
            assert got == expected, (h.household_id, on, outcome)
            seen += sum(map(len, got))
    assert seen > 0  # the examples do conclude something


@pytest.mark.parametrize("level", ["none", "compact", "full"])
def test_a_warm_engine_and_memos_that_start_over_give_the_same_bytes(
    rules, households, level, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    warm = Engine(rules)
    cases = _cases(warm, households)
    shuffled = cases * 3
    random.Random(9).shuffle(shuffled)
    for h, on in shuffled:  # fill every memo with other households' pieces first
        warm.evaluate(h, on, trace=level)
    got_warm = [warm.evaluate(h, on, trace=level).to_json() for h, on in cases]
    got_fresh = [Engine(rules).evaluate(h, on, trace=level).to_json() for h, on in cases]
    assert got_warm == got_fresh
    monkeypatch.setattr(engine_module, "_MEMO_SIZE", 2)  # every memo starts over all the time
    small = Engine(rules)
    got_small = [small.evaluate(h, on, trace=level).to_json() for h, on in shuffled]
    by_case = {(h.household_id, on): text for (h, on), text in zip(cases, got_fresh, strict=True)}
    assert got_small == [by_case[(h.household_id, on)] for h, on in shuffled]


def _answers(engine: Engine) -> int:
    """The entries of the engine's memos of answers keyed by households' own values (issue 13: memory)."""
    total = 0
    seen: set[int] = set()
    for memo in engine._memos.values():
        kept = memo.program.__dict__
        for name in ("_missing_plans", "_open_plans", "_rule_gaps"):
            total += sum(len(p.memo) for p in (kept.get(name) or {}).values())
        gaps = kept.get("_gap_code")
        if gaps is not None and id(gaps.memo) not in seen:  # (shared by a chain's programs of one text)
            seen.add(id(gaps.memo))
            total += len(gaps.memo)
    return total


def test_memos_stay_within_one_budget_per_engine_and_change_nothing(
    rules, households, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Answer memos nested in the memos of combinations, bounded per table alone, grew to hundreds of MiB
    over a long batch (issue 13); one budget per engine bounds them all together — and starting over
    changes no decision."""
    fresh = Engine(rules)
    cases = _cases(fresh, households)
    expected = {(h.household_id, on): fresh.evaluate(h, on, trace="compact").to_json() for h, on in cases}
    monkeypatch.setattr(engine_module, "_ENTRY_BUDGET", 15)
    small = Engine(rules)
    starts = 0
    start_over = small._start_over

    def counted(**kw: Any) -> None:
        nonlocal starts
        starts += 1
        start_over(**kw)

    monkeypatch.setattr(small, "_start_over", counted)
    for h, on in cases:  # meet every program once, then empty their plans of `fresh`'s answers too
        assert small.evaluate(h, on, trace="compact").to_json() == expected[(h.household_id, on)]
    start_over()
    starts, worst = 0, 0
    for h, on in cases * 2:
        assert small.evaluate(h, on, trace="compact").to_json() == expected[(h.household_id, on)]
        worst = max(worst, small._entries, _answers(small))
    assert starts >= 3  # the budget was spent, several times over
    assert worst <= 15 + 1  # the answer that spent the budget is kept after the start


def test_unvalidated_decisions_are_what_pydantic_builds(rules, households) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(rules)
    for h, on in _cases(engine, households):
        for level in ("none", "compact"):
            d = engine.evaluate(h, on, trace=level)
            data = json.loads(d.model_dump_json())  # the labelled form (to_json at compact: the wire form)
            again = Decision.model_validate(data)  # raises on any field the models would not accept
            assert again.model_dump_json(exclude={"trace"}) == d.model_dump_json(exclude={"trace"})
            assert again.identification == d.identification
            assert again.assistance == d.assistance
            assert again.identification.model_fields_set == d.identification.model_fields_set


def test_settling_paths_are_the_union_of_each_unknown_facts_own(rules, households) -> None:  # type: ignore[no-untyped-def]
    """The settling paths worked out once per pattern of unknown facts (``_settling``) are exactly what
    walking the facts per household (``_Run.missing_of_fact``) reports, for every fact of every program."""
    engine = Engine(rules)
    checked = 0
    for h, on in _cases(engine, households):
        program = engine.program(h, on)
        assert program is not None
        for s in program.facts:
            walked = engine_module._Run(program, h, on)
            planned = engine_module._Run(program, h, on)
            assert oracle._settling(planned, (s.name,)) == tuple(walked.missing_of_fact(s.name)), s.name
            checked += walked.values[s.index] is UNKNOWN
    assert checked > 0  # some facts of the examples are unknown


def test_a_lean_run_gives_the_same_decisions(rules, households) -> None:  # type: ignore[no-untyped-def]
    """``trace="none"`` uses ``Program.run_lean`` when a program offers it (values and masks, no node
    outcomes) and runs the program again only where a gap report needs the outcomes: same bytes."""
    plain = Engine(rules)
    cases = _cases(plain, households)
    expected = [plain.evaluate(h, on, trace="none").to_json() for h, on in cases]
    lean = Engine(rules)
    leaned = []
    try:
        for h, on in cases:
            program = lean.program(h, on)
            assert program is not None
            if "run_lean" not in program.__dict__:
                run = program.run

                def run_lean(h: Any, on: date, run: Any = run) -> Any:
                    values, _, fired, unknown = run(h, on)
                    return values, None, fired, unknown

                program.__dict__["run_lean"] = run_lean
                leaned.append(program)
        assert leaned
        assert [lean.evaluate(h, on, trace="none").to_json() for h, on in cases] == expected
    finally:  # the programs are the rule set's, shared with the other tests
        for program in leaned:
            del program.__dict__["run_lean"]


def test_bad_dates_and_dates_without_rules_fail_every_time(rules, households) -> None:  # type: ignore[no-untyped-def]
    """The per-(region, date) context is kept only for a date the region's rules decide: an unhashable,
    malformed or out-of-range date, and a date before any rule is in force, raise on every call."""
    engine = Engine(rules)
    h = next(x for x in households if x.region)
    for bad in (["2023-09-30"], "2023-13-01", "0001-01-01"):
        for _ in range(2):
            with pytest.raises(EvaluationError):
                engine.evaluate(h, bad)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(EvaluationError, match="no rules in force"):
            engine.evaluate(h, "2000-01-01")
    assert engine.evaluate(h, "2023-09-30").as_of == date(2023, 9, 30)


def test_lean_first_stops_where_most_households_need_the_full_run(rules, households) -> None:  # type: ignore[no-untyped-def]
    """Where most households have an unknown conclusion (each then needs the full run for its gap report),
    ``trace="none"`` stops trying the lean program first after a warm-up — and the bytes stay the same."""
    engine = Engine(rules)
    h, on = next(
        (h, on)
        for h, on in _cases(engine, households)
        if any(engine.program(h, on).run(h, on)[3])  # type: ignore[union-attr]
    )
    expected = Engine(rules).evaluate(h, on, trace="none").to_json()
    outputs = {engine.evaluate(h, on, trace="none").to_json() for _ in range(100)}
    assert outputs == {expected}
    assert engine._lean.runs == 64 and engine._lean.reruns == 64
    assert not engine._lean.pays()


def test_memo_sizes_counts_what_the_memos_hold(rules, households) -> None:  # type: ignore[no-untyped-def]
    """``Engine.memo_sizes`` (what a benchmark prints beside its figures) counts the engine's own memos:
    nothing on a new engine, the tables' entries after some decisions, none of the combinations after
    everything starts over."""
    engine = Engine(rules)
    assert set(engine.memo_sizes().values()) == {0}
    for h, on in _cases(engine, households):
        engine.evaluate(h, on, trace="compact")
    sizes = engine.memo_sizes()
    # (programs with the same status fingerprint share one memo, counted once: ``Engine._share``)
    distinct = {id(m.statuses): m.statuses for m in engine._memos.values()}
    assert sizes["statuses"] == sum(len(d) for d in distinct.values()) > 0
    assert sizes["contexts"] == len(engine._contexts) > 0
    assert sizes["answers_since_start_over"] == engine._entries
    assert sizes["combinations_since_start_over"] == engine._combinations > 0
    assert sizes["program_gap_answers"] > 0  # the examples leave questions open
    assert sizes["shared_findings"] == len(engine._shared_findings) > 0
    engine._start_over(everything=True)
    after = engine.memo_sizes()
    assert after["statuses"] == after["groups"] == after["contexts"] == after["shared_findings"] == 0
    assert after["answers_since_start_over"] == after["combinations_since_start_over"] == 0
    assert after["program_gap_answers"] == 0


def test_the_decision_tries_the_lean_program_exactly_when_the_count_says_it_pays(rules, households) -> None:  # type: ignore[no-untyped-def]
    """The generated decision writes ``_LeanCount.pays`` out (session 20: a Python call less per
    household): for every count of tries and reruns around the thresholds, a ``trace="none"`` decision
    runs the lean program first exactly when ``pays()`` is true — and gives the same bytes either way."""
    engine = Engine(rules)
    h, on = _cases(engine, households)[0]
    rerun = int(any(engine.program(h, on).run(h, on)[3]))  # type: ignore[union-attr]
    expected = Engine(rules).evaluate(h, on, trace="none").to_json()
    lean = engine._lean
    seen = set()
    for runs in (0, 1, 63, 64, 65, 100, 1000):
        for reruns in sorted({0, 1, runs // 4, runs // 4 + 1, runs}):
            lean.runs, lean.reruns = runs, reruns
            pays = lean.pays()
            assert engine.evaluate(h, on, trace="none").to_json() == expected
            tried = (runs + 1, reruns + rerun) if pays else (runs, reruns)
            assert (lean.runs, lean.reruns) == tried, (runs, reruns)
            seen.add(pays)
    assert seen == {True, False}
