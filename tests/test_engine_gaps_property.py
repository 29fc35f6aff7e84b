"""The generated gap report (``compile/gaps_py.py``, session 10) against the paths it replaced.

Generated households (the shipped strategies) in every bundled pack's regions, on dates around every
effective date, through one engine whose memos fill up across examples (as in a county batch):

* both sides of the identification's gap report (``Engine._open``) equal session 9's per-rule answers
  (``_gap_oracle.open_planned``, :class:`_gap_oracle._RuleGap`) and the two separate per-set reports of session 8
  (``_gap_oracle.missing_planned``, :class:`_gap_oracle._MissingPlan`);
* the exit's gap report (``Engine._missing``) equals ``missing_planned`` for the rules the exit asks
  about, for each unknown rule alone and for all of them together;
* the compact trace's ``missing`` (``_Run.data()``) and each unknown fact's settling paths read
  alone (``GapCode.facts`` with only that fact wanted) equal walking the facts (``_Run.missing_of_fact``).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eligibility import Engine
from eligibility import _gap_oracle as oracle
from eligibility import engine as engine_module
from eligibility import strategies as els
from eligibility.compile import gaps_py
from eligibility.compile.gaps_py import gap_code
from eligibility.errors import EvaluationError, HouseholdError
from eligibility.expressions import UNKNOWN

from .property.test_compiled import DATES, REGIONS, RULESET, _effective_dates
from .test_engine_gaps import _two_reports

SHARED = Engine(RULESET)
"""One engine for every example: its gap memos fill up across households."""

BATCH = st.lists(st.tuples(els.household_data(regions=REGIONS), DATES), min_size=4, max_size=10)


def _decided(data: dict[str, Any], on: date) -> Any:
    try:
        return SHARED.evaluate(data, on, trace="compact")
    except (EvaluationError, HouseholdError):
        return None


def _unknown_rules(run: Any) -> list[str]:
    program = run.program
    return sorted({rid for g, mask in enumerate(run.unknown) for _, _, rid in program.conclusions(g, mask)})


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(BATCH)
def test_generated_gap_report_equals_the_planned_ones(batch: list[tuple[dict[str, Any], date]]) -> None:
    decided = [d for d in (_decided(data, on) for data, on in batch) if d is not None]
    decided = [d for d in decided if isinstance(getattr(d.trace, "missing", None), engine_module._Run)]
    assume(decided)
    for d in decided:
        run = d.trace.missing.run
        program = run.program
        memo = SHARED._memos[program.key]
        # the same status the decision used (the memo may have started over: then work it out again)
        status = SHARED._status(memo, run.fired, run.unknown, run.as_of)
        blocking_rules = status.blocking_rules if status.status == "needs_review" else ()
        got = SHARED._open(memo, run, status)
        assert got == oracle.open_planned(SHARED, memo, run, status)
        assert got == _two_reports(SHARED, run, blocking_rules)
        if any(run.unknown):
            assert (d.identification.blocking, d.identification.unknown) == got
        part = SHARED._exit_part(memo, run.fired[engine_module._G_EXIT], run.unknown[engine_module._G_EXIT], run.as_of)
        asked = [r for r in (part.maybe, part.review_rules) if r]
        unknown = _unknown_rules(run)
        asked += [(r,) for r in unknown] + ([tuple(unknown)] if unknown else [])
        for rule_ids in asked:
            assert SHARED._missing(run, rule_ids) == oracle.missing_planned(SHARED, run, rule_ids), rule_ids
        walked = engine_module._Run(program, run.h, run.as_of)
        assert d.trace.missing.data() == {k: v for k, v in walked.fact_missing.items() if v}
        code = gap_code(program)
        for s in program.facts:
            alone = code.facts(run.values, run.h, code.fact_bits[s.name]).get(s.name, [])
            assert alone == walked.missing_of_fact(s.name), s.name
            if run.values[s.index] is not UNKNOWN:
                assert alone == []


def _programs() -> list[Any]:
    """The compiled program of every bundled pack on every date of ``DATES`` it is in force."""
    from eligibility.compile.python import program_for

    out: dict[str, Any] = {}
    for pack in sorted(RULESET.packs):
        chain = RULESET.chain(pack)
        for on in _effective_dates():
            if chain.in_force(on):
                p = program_for(chain, on)
                out.setdefault(p.key, p)
    return list(out.values())


PROGRAMS = _programs()


def _decoded(code: Any, mask: int) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    found: dict[str, tuple[set[str], set[str]]] = {}
    for n, (subject, kind, name) in enumerate(code.items):
        if mask >> n & 1:
            into = found.setdefault(subject, (set(), set()))
            if kind:
                into[kind == "fact"].add(name)
    return {k: (frozenset(a), frozenset(b)) for k, (a, b) in found.items()}


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PROGRAMS), st.integers(0, 2**32), st.floats(0.2, 0.95))
def test_each_rules_mask_is_what_its_open_leaves_ask_for(program: Any, seed: int, p_unknown: float) -> None:
    """Every rule's generated function, on node outcomes and values drawn at random (combinations real
    households rarely make: open leaves whose values are all known, parameters without a value), asks
    for what walking its leaf paths asks for (``_RuleGap.answer``, session 9's per-rule answer); and
    ``GapCode.unknown`` is the union of the unknown concluding rules' functions, and so is
    ``GapCode.guarded`` given the unknown masks a run with those outcomes has (:func:`_unknown_masks`)."""
    rng = random.Random(seed)
    code = gap_code(program)
    n_values = len(program.value_kinds)
    outcomes = (True, False)
    for _ in range(5):
        nodes = tuple(UNKNOWN if rng.random() < p_unknown else rng.choice(outcomes) for _ in range(program.n_nodes))
        values = tuple(UNKNOWN if rng.random() < p_unknown else 0 for _ in range(n_values))
        for rule, _, _ in program.rules:
            want = {k: (st_, fa) for k, st_, fa in oracle._RuleGap(program, rule.id).answer(nodes, values)}
            assert _decoded(code, code.rules[rule.id](nodes, values)) == want, rule.id
        # ``unknown`` (every concluding rule's tree written inline, references to concluding rules left
        # out) is the union of the unknown concluding rules' own functions
        union = 0
        for rule, _, root in program.rules:
            if rule.conclusions and nodes[root.index] is UNKNOWN:
                union |= code.rules[rule.id](nodes, values)
        assert code.unknown(nodes, values) == union
        assert code.guarded(nodes, values, _unknown_masks(program, nodes)) == union


def _unknown_masks(program: Any, nodes: tuple[Any, ...]) -> tuple[int, ...]:
    """The unknown masks a program's run returns with these node outcomes: per conclusion group, the bit
    of each rule concluding there (``Program.conclusion_bits``) whose root is unknown."""
    roots = {rule.id: root for rule, _, root in program.rules}
    return tuple(
        sum(1 << j for j, cs in enumerate(group) if nodes[roots[cs[0][2]].index] is UNKNOWN)
        for group in program.conclusion_bits
    )


def test_guarded_unknown_equals_unknown_on_runs_of_every_program() -> None:
    """``GapCode.guarded`` on what each bundled program's run returns (its node outcomes, values and
    unknown masks) for generated households is ``GapCode.unknown``, and the masks are those
    :func:`_unknown_masks` derives from the outcomes (what ``guarded`` relies on)."""
    rng = random.Random(9)
    open_runs = 0
    for program in PROGRAMS:
        code = gap_code(program)
        for seed in range(4):
            h = _many_members(rng.randrange(0, 6), seed)
            values, nodes, _, u = program.run(h, program.start)
            assert u == _unknown_masks(program, nodes), program.key
            assert code.guarded(nodes, values, u) == code.unknown(nodes, values), program.key
            open_runs += any(u)
    assert open_runs, "no run had an unknown conclusion"


def test_programs_writing_one_gap_source_share_its_functions() -> None:
    """Programs whose gap report is the same text share one compiled copy of its functions (session 17:
    the bundled packs' programs write a few texts between them), programs with other text have their own,
    and each program's functions — its rules' by its own numbering, ``unknown`` — answer on random node
    outcomes and values as a copy compiled for that program alone."""
    by_source: dict[str, list[Any]] = {}
    for program in PROGRAMS:
        by_source.setdefault(gap_code(program).source, []).append(program)
    assert len(by_source) < len(PROGRAMS), "no two bundled programs write the same gap report"
    first = {source: gap_code(programs[0]) for source, programs in by_source.items()}
    assert len({id(code.unknown) for code in first.values()}) == len(by_source)
    rng = random.Random(17)
    for source, programs in by_source.items():
        for program in programs:
            code = gap_code(program)
            assert code.shared is first[source].shared
            assert code.unknown is first[source].unknown and code.facts is first[source].facts
        for program in programs[:3]:
            code = gap_code(program)
            own: dict[str, Any] = gaps_py.namespace()
            exec(compile(source, "<own copy>", "exec"), own)
            n_values = len(program.value_kinds)
            for _ in range(5):
                nodes = tuple(rng.choice((UNKNOWN, True, False)) for _ in range(program.n_nodes))
                values = tuple(UNKNOWN if rng.random() < 0.5 else 0 for _ in range(n_values))
                assert code.unknown(nodes, values) == own["unknown"](nodes, values)
                u = _unknown_masks(program, nodes)
                assert code.guarded(nodes, values, u) == own["guarded"](nodes, values, u)
                for k, (rule, _, _) in enumerate(program.rules):
                    assert code.rules[rule.id](nodes, values) == own[f"r{k}"](nodes, values), rule.id


def _many_members(n: int, seed: int) -> Any:
    """A household of ``n`` members, each member field absent or set at random, and each section absent,
    empty or partly filled (members beyond ``gaps_py._TABLE`` included: their paths are built, not looked
    up in a table)."""
    from eligibility import parse_household

    rng = random.Random(seed)
    members = []
    for i in range(n):
        m: dict[str, Any] = {"member_id": f"m{i}"}
        for key, value in (
            ("birth_date", "1970-01-01"),
            ("labour", "ordinary"),
            ("health", ["healthy"]),
            ("disability_grade", 2),
            ("schooling", "not_in_school"),
            ("dropped_out", False),
            ("basic_medical_insurance", True),
            ("public_payroll", False),
            ("dibao", False),
            ("tekun", False),
            ("employed", True),
            ("work_months", 6),
        ):
            if rng.random() < 0.6:
                m[key] = value
        members.append(m)
    data: dict[str, Any] = {"household_id": f"many-{n}-{seed}", "region": REGIONS[0], "members": members}
    for section, fields in (
        ("income", {"wage": "1000", "property": "0", "transfer": "10"}),
        ("rigid_expenditure", {"education": "100"}),
        ("evidence", {"vehicle": False}),
    ):
        roll = rng.random()
        if roll < 0.3:
            continue
        data[section] = {} if roll < 0.5 else {k: v for k, v in fields.items() if rng.random() < 0.5}
    return parse_household(data)


def test_facts_on_many_members_and_absent_sections_equal_the_walk() -> None:
    """Every fact of every bundled program taken as unknown, on households of up to 45 members: the settling
    paths ``GapCode.facts`` reads off the household (its ``__dict__``, item paths from per-field tables up to
    item 31 and built after) are those walking the facts gives (``_Run.missing_of_fact``: ``getattr``, each
    path built), list for list."""
    households = [_many_members(n, seed) for seed, n in enumerate((0, 1, 3, 31, 32, 33, 45))]
    households.append(_many_members(2, 99).model_copy(update={"members": None}))
    far = 0
    for program in PROGRAMS:
        code = gap_code(program)
        values = (UNKNOWN,) * len(program.value_kinds)
        for h in households:
            walked = engine_module._Run(program, h, date(2024, 6, 30), ((), (), (), ()))
            walked.values = values
            got = code.facts(values, h, code.all_facts)
            want = {s.name: walked.missing_of_fact(s.name) for s in program.facts}
            assert got == {k: v for k, v in want.items() if v}, program.key
            assert all(type(v) is list for v in got.values())
            far += sum(p.startswith("$.members[4") for v in got.values() for p in v)
    assert far, "no path of an item beyond the tables was asked for"


def test_a_chains_programs_writing_one_gap_text_share_its_memos() -> None:
    """The memos of report sides by mask and of subjects' parts by share are shared by the programs of one
    chain whose gap report is the same text with the same items and fact bits (a mask then means the same
    items, a part the same subject, paths, facts and labels), and by no others: another chain's program,
    or one writing other text, has memos of its own."""
    groups: dict[Any, list[Any]] = {}
    for program in PROGRAMS:
        code = gap_code(program)
        key = (id(program.chain), code.source, code.items, tuple(sorted(code.fact_bits.items())))
        groups.setdefault(key, []).append(code)
    assert any(len(codes) > 1 for codes in groups.values()), "no two programs of a chain write one gap text"
    memos: dict[int, Any] = {}
    for key, codes in groups.items():
        assert all(c.memo is codes[0].memo and c.parts is codes[0].parts for c in codes), key[0]
        assert id(codes[0].memo) not in memos and id(codes[0].parts) not in memos
        memos[id(codes[0].memo)] = memos[id(codes[0].parts)] = key
