"""The finding groups generated per program (``compile/findings_py.py``) give what decoding the masks gives.

The engine used to list a group's conclusions (``Program.conclusions``), gather them by code — certain
where a rule fired, uncertain where one is unknown and none fired — and sort them by (not certain, code).
The generated code must give the same codes, certainties, rules (in rule order) and order, for every
group of every bundled program, on masks drawn at random (fired and unknown bits disjoint, as a rule
is one or the other) and on the empty and full masks.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from eligibility import load_rules
from eligibility.compile.findings_py import FindingTables
from eligibility.compile.python import CONCLUSION_GROUPS, Program, program_for

DATES = (date(2021, 9, 30), date(2023, 9, 30), date(2025, 6, 30), date(2026, 3, 31))


def _programs() -> list[Program]:
    rules = load_rules()
    out: dict[str, Program] = {}
    for pack in rules.packs:
        chain = rules.chain(pack)
        for on in DATES:
            if chain.in_force(on):
                p = program_for(chain, on)
                out.setdefault(p.key, p)
    return list(out.values())


def _expected(program: Program, g: int, kind: str, f: int, u: int) -> list[tuple[str, bool, tuple[str, ...]]]:
    """The findings of ``kind`` as the engine built them before: conclusions gathered by code, sorted."""
    by_code: dict[str, tuple[bool, list[str]]] = {}
    for k, code, rid in program.conclusions(g, f):
        if k == kind:
            by_code.setdefault(code, (True, []))[1].append(rid)
    for k, code, rid in program.conclusions(g, u):
        if k == kind:
            got = by_code.setdefault(code, (False, []))
            if not got[0]:
                got[1].append(rid)
    out = [(code, certain, tuple(rules)) for code, (certain, rules) in by_code.items()]
    return sorted(out, key=lambda x: (not x[1], x[0]))


def _make(kind: str, code: str, certain: bool, rules: tuple[str, ...]) -> Any:
    return (code, certain, rules)


def _masks(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """Fired and unknown masks over ``n`` bits: none, all fired, all unknown, and random disjoint pairs."""
    full = (1 << n) - 1
    out = [(0, 0), (full, 0), (0, full)]
    for _ in range(40):
        f = rng.getrandbits(n) & rng.getrandbits(n)  # sparse, as households conclude few codes
        u = rng.getrandbits(n) & ~f & full
        out.append((f, u))
    return out


@pytest.fixture(scope="module")
def programs() -> list[Program]:
    got = _programs()
    assert len(got) > 20  # every bundled pack's programs on several dates
    return got


def test_generated_findings_are_the_decoded_masks_gathered_and_sorted(programs: list[Program]) -> None:
    rng = random.Random(16)
    kinds = [(g, kinds[0]) for g, kinds in enumerate(CONCLUSION_GROUPS) if len(kinds) == 1]
    checked = 0
    for program in programs:
        tables = FindingTables(program, _make, kinds)
        for at, (g, kind) in enumerate(kinds):
            n = len(program.conclusion_bits[g])
            one = tables.group(g, kind)
            for f, u in _masks(rng, n):
                expected = _expected(program, g, kind, f, u)
                masks_f = [0] * len(CONCLUSION_GROUPS)
                masks_u = [0] * len(CONCLUSION_GROUPS)
                masks_f[g], masks_u[g] = f, u
                assert list(one(f, u)) == expected, (program.key, kind, f, u)
                assert list(tables.every(masks_f, masks_u)[at]) == expected, (program.key, kind, f, u)
                checked += len(expected)
    assert checked > 1000


def test_findings_kept_by_mask_are_those_of_every_pair_of_masks(programs: list[Program]) -> None:
    """A group kept by mask (``findings_py._ByMask``: its certain findings by the fired mask, its uncertain
    ones by the unknown mask) gives, for a pair of masks each seen before only with other partners, what
    decoding that pair gives; and a second call the same objects. The memoised groups are the narrow
    ones whose every code one rule concludes (risks, risk types, …), checked to be among those here."""
    rng = random.Random(17)
    kinds = [(g, kinds[0]) for g, kinds in enumerate(CONCLUSION_GROUPS) if len(kinds) == 1]
    checked = memoised = 0
    for program in programs:
        tables = FindingTables(program, _make, kinds)
        memoised += sum(1 for name in tables.names if name.startswith("C"))
        for at, (g, kind) in enumerate(kinds):
            n = len(program.conclusion_bits[g])
            pairs = _masks(rng, n)
            full = (1 << n) - 1
            crossed = [(f, u2 & ~f & full) for (f, _), (_, u2) in zip(pairs, pairs[1:] + pairs[:1], strict=True)]
            for f, u in pairs + crossed + crossed:
                masks_f = [0] * len(CONCLUSION_GROUPS)
                masks_u = [0] * len(CONCLUSION_GROUPS)
                masks_f[g], masks_u[g] = f, u
                got = tables.every(masks_f, masks_u)[at]
                assert list(got) == _expected(program, g, kind, f, u), (program.key, kind, f, u)
                again = tables.every(masks_f, masks_u)[at]
                assert all(a is b for a, b in zip(got, again, strict=True))
                checked += len(got)
    assert memoised >= 2 * len(programs) and checked > 1000


def test_the_exit_blockers_of_the_mixed_exit_group(programs: list[Program]) -> None:
    """The exit group holds three kinds; its blockers are those of ``exit_blocker`` alone."""
    rng = random.Random(9)
    g = next(i for i, kinds in enumerate(CONCLUSION_GROUPS) if "exit_blocker" in kinds)
    checked = 0
    for program in programs:
        one = FindingTables(program, _make, ()).group(g, "exit_blocker")
        for f, u in _masks(rng, len(program.conclusion_bits[g])):
            expected = _expected(program, g, "exit_blocker", f, u)
            assert list(one(f, u)) == expected, (program.key, f, u)
            checked += len(expected)
    assert checked > 100


def test_findings_are_made_once_per_code_certainty_and_rules(programs: list[Program]) -> None:
    """The tables call ``make`` once per (code, certainty, rules) met and share the object afterwards;
    emptied (``forget``), they make it again, equal."""
    made: list[tuple[str, str, bool, tuple[str, ...]]] = []

    def make(kind: str, code: str, certain: bool, rules: tuple[str, ...]) -> Any:
        made.append((kind, code, certain, rules))
        return object()

    program = max(programs, key=lambda p: sum(map(len, p.conclusion_bits)))
    g = max(range(len(CONCLUSION_GROUPS) - 1), key=lambda i: len(program.conclusion_bits[i]))
    kind = CONCLUSION_GROUPS[g][0]
    tables = FindingTables(program, make, ((g, kind),))
    full = (1 << len(program.conclusion_bits[g])) - 1
    masks = [0] * len(CONCLUSION_GROUPS)
    masks[g] = full
    first = tables.every(masks, [0] * len(CONCLUSION_GROUPS))[0]
    assert len(made) == len(first) > 0
    again = tables.every(masks, [0] * len(CONCLUSION_GROUPS))[0]
    assert all(a is b for a, b in zip(first, again, strict=True)) and len(made) == len(first)
    assert tables.held() == len(first)
    tables.forget()
    assert tables.held() == 0
    tables.every(masks, [0] * len(CONCLUSION_GROUPS))
    assert len(made) == 2 * len(first)


def test_a_procedure_finding_is_dated_as_its_readers_read() -> None:
    """``engine._dater`` (code written per kind of due and done source) dates a finding as reading each
    date through :func:`engine._slot_date` or a field reader does — a value that is not a date counts as
    none, the date compared is the done date or else ``as_of``, days late only with a due date — for
    every pair of kinds and every kind of value; the dated finding has the fields-set and field order
    pydantic gives it."""
    from eligibility import engine as engine_module
    from eligibility._construct import new
    from eligibility.decision import ProcedureFinding

    f = new(ProcedureFinding, code="plan_overdue", zh="帮扶计划逾期", en="plan overdue", certain=True, rules=("r",))
    f.__dict__["severity"] = "error"
    values = (date(2023, 3, 1), "2023-03-01", None, date(2023, 6, 9))
    as_of = date(2023, 9, 30)
    sources: list[Any] = [None, 0, 1, 2, 3, lambda v, h: date(2023, 1, 31), lambda v, h: None]
    seen = set()
    for due in sources:
        for done in sources:
            dated = engine_module._dater(f, due, done)(values, None, as_of)  # type: ignore[arg-type]
            read = [
                None if s is None else engine_module._slot_date(s) if isinstance(s, int) else s for s in (due, done)
            ]
            want_due = None if read[0] is None else read[0](values, None)  # type: ignore[arg-type]
            want_on = (None if read[1] is None else read[1](values, None)) or as_of  # type: ignore[arg-type]
            late = None if want_due is None else (want_on - want_due).days
            assert (dated.due, dated.on, dated.days_late) == (want_due, want_on, late)
            assert {k: v for k, v in dated.__dict__.items() if k not in ("due", "on", "days_late")} == {
                k: v for k, v in f.__dict__.items() if k not in ("due", "on", "days_late")
            }
            assert list(dated.__dict__) == list(ProcedureFinding.model_fields)
            assert dated.__pydantic_fields_set__ == f.__pydantic_fields_set__ | {"due", "on", "days_late"}
            assert dated == ProcedureFinding.model_validate(dated.model_dump())
            seen.add((want_due is None, want_on == as_of))
    assert seen == {(True, True), (True, False), (False, True), (False, False)}


def test_concluded_lists_what_program_conclusions_lists(programs: list[Program]) -> None:
    """``engine._concluded`` (the status and exit parts: only the set bits visited) gives a group's
    conclusions for a mask exactly as ``Program.conclusions`` does — the same conclusions in bit order."""
    from eligibility import engine as engine_module

    rng = random.Random(13)
    checked = 0
    for program in programs:
        for g, table in enumerate(program.conclusion_bits):
            for f, u in _masks(rng, len(table)):
                for mask in (f, u):
                    got = engine_module._concluded(table, mask)
                    assert got == program.conclusions(g, mask), (program.key, g, mask)
                    checked += len(got)
    assert checked > 1000


def test_equal_findings_are_shared_by_programs_in_their_own_wording(programs: list[Program]) -> None:
    """The engine's finding makers share one object per (kind, code, certainty, rules, wording) across
    programs; a code worded otherwise on another date is its own object with its own words."""
    from eligibility import Engine

    engine = Engine()
    a, b = programs[0], programs[1]
    assert a.key != b.key
    before, after = date(2025, 6, 30), date(2026, 3, 31)
    one = engine._finding_maker(a, before)("risk", "illness", True, ("r1",))
    assert engine._finding_maker(b, before)("risk", "illness", True, ("r1",)) is one
    assert engine._finding_maker(b, before)("risk", "illness", False, ("r1",)) is not one
    old = engine._finding_maker(a, before)("channel", "grassroots", True, ("r1",))
    new = engine._finding_maker(b, after)("channel", "grassroots", True, ("r1",))
    assert old is not new
    want = engine.rules.vocab("channel", "grassroots", after)
    assert (new.zh, new.en) == (want.zh, want.en) != (old.zh, old.en)


def test_a_dater_is_made_once_per_finding_and_sources() -> None:
    """``engine._dater`` keeps one dater per (finding, due source, done source), shared by every program
    (session 16): the same finding and sources give the same function, which still dates each household
    from its own values; another source or another finding object gives another dater; the memo holds
    the finding, so the ``id`` in its key stays that finding's. A field read by several programs is one
    reader (``_field_date``), so their daters can be one too."""
    from eligibility import engine as engine_module
    from eligibility._construct import new
    from eligibility.decision import ProcedureFinding

    def finding() -> Any:
        f = new(ProcedureFinding, code="plan_overdue", zh="帮扶计划逾期", en="plan overdue", certain=True, rules=("r",))
        f.__dict__["severity"] = "error"
        return f

    f, g = finding(), finding()
    as_of = date(2023, 9, 30)
    first = engine_module._dater(f, 0, None)
    assert engine_module._dater(f, 0, None) is first
    assert engine_module._DATERS[(id(f), 0, None)][0] is f
    other_slot, other_finding = engine_module._dater(f, 1, None), engine_module._dater(g, 0, None)
    assert other_slot is not first and other_finding is not first
    for values in ((date(2023, 3, 1), date(2023, 6, 9)), (date(2023, 5, 2), date(2023, 1, 1))):
        assert (first(values, None, as_of).due, first(values, None, as_of).days_late) == (
            values[0],
            (as_of - values[0]).days,
        )
        assert other_slot(values, None, as_of).due == values[1]
    assert engine_module._field_date("procedure.plan_on") is engine_module._field_date("procedure.plan_on")
    reader = engine_module._field_date("procedure.plan_on")
    assert engine_module._dater(f, reader, None) is engine_module._dater(f, reader, None)


def test_the_findings_one_dater_dates_share_a_fields_set_naming_their_every_field() -> None:
    """Session 21: every finding a dater dates holds its one fields-set, not a copy each — safe as the
    decision's shared sets are (``tests/test_shared_fields_set.py``): the set names every field the
    dated finding holds, the model is frozen (an assignment is refused and leaves the set as it was),
    ``model_copy`` takes a set of its own."""
    from pydantic import ValidationError

    from eligibility import engine as engine_module
    from eligibility._construct import new
    from eligibility.decision import ProcedureFinding

    f = new(ProcedureFinding, code="plan_overdue", zh="帮扶计划逾期", en="plan overdue", certain=True, rules=("r",))
    f.__dict__["severity"] = "error"
    dated = engine_module._dater(f, 0, 1)
    as_of = date(2023, 9, 30)
    a = dated((date(2023, 3, 1), None), None, as_of)
    b = dated((date(2023, 5, 2), date(2023, 6, 1)), None, as_of)
    assert a.model_fields_set is b.model_fields_set  # one set, not a copy per finding
    # what a copy each held: the finding's own set and the three dated fields (``severity`` is set in
    # ``__dict__`` by the finding maker and was never in it)
    assert a.model_fields_set == f.model_fields_set | {"due", "on", "days_late"}
    assert ProcedureFinding.model_config.get("frozen") is True
    before = set(a.model_fields_set)
    with pytest.raises(ValidationError):
        a.due = None  # type: ignore[misc]
    assert a.model_fields_set == before
    c = b.model_copy(update={"due": None})
    assert c.model_fields_set is not b.model_fields_set and b.model_fields_set == before
    assert (a.on, a.days_late, b.on, b.days_late) == (as_of, 213, date(2023, 6, 1), 30)


def _exit_memos(engine: Any, programs: list[Program]) -> Any:
    """(program, width of its exit group, its first day, a fresh memo with its finding tables) for every
    program that concludes in the exit group."""
    from eligibility import engine as engine_module

    for program in programs:
        n = len(program.conclusion_bits[engine_module._G_EXIT])
        if n:
            on = program.start
            memo = engine_module._Memo(program)
            memo.tables = FindingTables(program, engine._finding_maker(program, on), ())
            yield program, n, on, memo


def test_an_exit_part_without_a_fired_applies_rule_follows_its_unknown_applies_rules(programs: list[Program]) -> None:
    """``Engine._exit_part`` (session 19): where no exit-applies rule fired, the part is kept by the
    applies rules left unknown alone (``_Memo.exit_idle``) — the blockers and the method do not change what
    ``_exit`` makes of it. On random masks of every program's exit group, each part says whether the exit
    applies and which applies rules are unknown exactly as ``Program.conclusions`` does; the masks are
    asked twice, the second time with the blocker and method bits of another pair, so a part kept under
    too small a key (or too large) is met. Where the exit applies, the blockers, method and review rules
    are those of the conclusions too."""
    from eligibility import Engine
    from eligibility import engine as engine_module

    g = engine_module._G_EXIT
    rng = random.Random(19)
    engine = Engine()
    idle = applied = 0
    for program, n, on, memo in _exit_memos(engine, programs):
        blockers = FindingTables(program, _make, ()).group(g, "exit_blocker")
        pairs = _masks(rng, n)
        full = (1 << n) - 1
        crossed = [(f, u2 & ~f & full) for (f, _), (_, u2) in zip(pairs, pairs[1:] + pairs[:1], strict=True)]
        for f, u in pairs + crossed + [(f & ~(f2 | u2), u) for (f, u), (f2, u2) in zip(pairs, crossed, strict=True)]:
            part = engine._exit_part(memo, f, u, on)
            fired = program.conclusions(g, f)
            unknown = program.conclusions(g, u)
            applies = any(k == "exit_applies" for k, _, _ in fired)
            assert part.applies == applies, (program.key, f, u)
            assert part.maybe == tuple(rid for k, _, rid in unknown if k == "exit_applies"), (program.key, f, u)
            if not applies:
                idle += 1
                continue
            applied += 1
            assert [(b.code, b.certain, b.rules) for b in part.blockers] == list(blockers(f, u))
            assert part.review_rules == tuple(sorted({rid for k, _, rid in unknown if k == "exit_blocker"}))
            methods = sorted(c for k, c, _ in fired if k == "exit_method")
            assert (part.method.code if part.method else None) == (methods[0] if methods else None)
    assert idle > 100 and applied > 100


def test_a_blocker_left_undated_is_one_object_and_a_dated_one_its_own(programs: list[Program]) -> None:
    """``Engine._exit`` (session 19): a blocker whose ``until`` a household leaves unknown is its plan's one
    undated copy, and a blocked exit all of whose blockers are undated is one object per exit part; a
    blocker whose ``until`` is known is a copy of its own holding that date. Both shapes are checked
    against the exit built field by field, on every program's exit parts where the exit applies, for a
    household leaving every value unknown and for one whose value slots all hold a date (parts with a
    certain blocker: an uncertain one's exit asks its open questions of a real run)."""
    from types import SimpleNamespace

    from eligibility import Engine, Household
    from eligibility.decision import Exit

    rng = random.Random(20)
    engine = Engine()
    h = Household.model_validate({"household_id": "h1", "region": "000000"})
    day = date(2027, 1, 31)
    shared = dated = 0
    for program, n, on, memo in _exit_memos(engine, programs):
        slots = max(program.fact_index.values(), default=-1) + 1
        unknown = SimpleNamespace(values=(None,) * slots, h=h)
        known = SimpleNamespace(values=(day,) * slots, h=h)
        for f, u in _masks(rng, n):
            part = engine._exit_part(memo, f, u, on)
            if not part.applies or not part.certain:  # (an uncertain blocker: its open questions, per run)
                continue
            for run in (unknown, known, unknown):
                got = engine._exit(run, part)  # type: ignore[arg-type]
                untils = []
                for (b, readers, _, undated), shown in zip(part.until, got.blockers, strict=True):
                    read = [None if r is None else r(run.values, h) for r in readers]
                    until = None if None in read or not read else max(read)  # type: ignore[type-var]
                    untils.append(until)
                    assert shown.model_dump() == {**b.model_dump(), "until": until}
                    assert shown.model_fields_set == b.model_fields_set | {"until"}
                    assert (shown is undated) == (until is None), (program.key, b.code)
                    shared += until is None
                    dated += until is not None
                gated = None not in untils
                assert (got.status, got.method, got.opens_on) == (
                    "blocked",
                    part.method,
                    max(untils) if gated else None,  # type: ignore[type-var]
                )
                if all(u is None for u in untils):
                    assert got is engine._exit(run, part)  # type: ignore[arg-type]
                    assert got == Exit(status="blocked", blockers=got.blockers, method=part.method)
    assert shared > 1000 and dated > 40


def test_a_dater_gives_again_the_finding_it_dated_for_the_same_dates() -> None:
    """Session 22: the dated procedure findings are kept by (finding, due date, date compared)
    (``engine._DATED``): the same finding dated the same — by any of its daters — is the very same
    frozen object; another due date, another date compared or another finding object gives its own,
    each dated from its own dates; the memo holds the finding's ``__dict__``, so the ``id`` in its key
    stays that finding's."""
    from eligibility import engine as engine_module
    from eligibility._construct import new
    from eligibility.decision import ProcedureFinding

    def finding() -> Any:
        f = new(ProcedureFinding, code="plan_overdue", zh="帮扶计划逾期", en="plan overdue", certain=True, rules=("r",))
        f.__dict__["severity"] = "error"
        return f

    f, g = finding(), finding()
    as_of, due = date(2023, 9, 30), date(2023, 3, 1)
    by_slot0, by_slot1 = engine_module._dater(f, 0, None), engine_module._dater(f, 1, None)
    a = by_slot0((due, None), None, as_of)
    assert (a.due, a.on, a.days_late) == (due, as_of, 213)
    assert by_slot0((due, date(2023, 1, 1)), None, as_of) is a
    assert by_slot1((None, due), None, as_of) is a  # another dater of the same finding, the same dates
    assert engine_module._DATED[(id(f.__dict__), due, as_of)][0] is f.__dict__
    later = by_slot0((date(2023, 3, 2), None), None, as_of)
    assert later is not a and (later.due, later.days_late) == (date(2023, 3, 2), 212)
    other_day = by_slot0((due, None), None, date(2023, 10, 1))
    assert other_day is not a and (other_day.on, other_day.days_late) == (date(2023, 10, 1), 214)
    own = engine_module._dater(g, 0, None)((due, None), None, as_of)
    assert own is not a and own == a
    undated = by_slot0((None, None), None, as_of)
    assert (undated.due, undated.on, undated.days_late) == (None, as_of, None)
    assert by_slot0(("not a date", None), None, as_of) is undated
