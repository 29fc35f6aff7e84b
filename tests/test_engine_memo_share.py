"""Status and exit memos shared by programs whose pieces are the same (session 25, bmemo).

``Engine._share`` points a program's status and exit memos at one dict per fingerprint of what those
pieces are computed from (``engine._status_print``, ``engine._exit_print``): the conclusion tables with
their rule ids, the labels and codes they show, and where blockers are dated. These tests check that
programs share exactly when their fingerprints are equal, that a fingerprint changes with each of its
inputs, that decisions are byte-for-byte those of an engine whose programs keep their own memos (in an
order where one program's households fill the memo another program's households then read), and that
a start-over empties the shared memos for every program without unsharing them.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from typing import Any

import pytest

from eligibility import Engine, load_rules
from eligibility import engine as engine_module
from eligibility.compile.python import GROUP_OF_KIND
from eligibility.ruleset import RuleSet

from .test_engine_selectors import _decidable


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="module")
def cases(rules: RuleSet) -> list[tuple[Any, date]]:
    got = [(h, on) for h, on, _ in _decidable(Engine(rules), 7, 600)]
    assert len({engine_module._as_date(on) for _, on in got}) > 2
    return got


def _unshared(rules: RuleSet, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """An engine whose programs keep their own status and exit memos (as before session 25)."""
    engine = Engine(rules)
    monkeypatch.setattr(engine, "_share", lambda memo, on: None)
    return engine


def test_programs_share_their_memos_exactly_when_their_fingerprints_are_equal(
    rules: RuleSet, cases: list[tuple[Any, date]]
) -> None:
    engine = Engine(rules)
    for h, on in cases:
        engine.evaluate(h, on, trace="none")
    memos = list(engine._memos.values())
    assert len(memos) > 20
    prints = {}
    for m in memos:
        on = next(c.on for c in engine._contexts.values() if c.memo is m)
        prints[m.program.key] = (
            engine_module._status_print(m.program, rules.vocab, on),
            engine_module._exit_print(engine, m.program, rules.vocab, on),
        )
    for a, b in itertools.combinations(memos, 2):
        same_status = prints[a.program.key][0] == prints[b.program.key][0]
        same_exit = prints[a.program.key][1] == prints[b.program.key][1]
        assert (a.statuses is b.statuses) == same_status
        assert (a.exit_parts is b.exit_parts) == (a.exit_idle is b.exit_idle) == same_exit
        assert (a.exit_methods is b.exit_methods) == same_exit
        assert a.idents is not b.idents  # keyed by masks of groups the prints do not cover
    # The bundled packs' programs do share: far fewer dicts than programs.
    assert len({id(m.statuses) for m in memos}) < len(memos) / 4
    assert len({id(m.exit_parts) for m in memos}) < len(memos) / 4


def test_shared_memos_give_the_bytes_of_per_program_memos(
    rules: RuleSet, cases: list[tuple[Any, date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Households sorted by program, so each program after the first meets a shared memo another program's
    households filled; compared with an engine whose memos are per program, and at every trace level."""
    shared, own = Engine(rules), _unshared(rules, monkeypatch)
    ordered = sorted(cases, key=lambda c: (str(c[0].region), str(c[1])))
    for h, on in ordered:
        for level in ("none", "compact"):
            assert shared.evaluate(h, on, trace=level).to_json() == own.evaluate(h, on, trace=level).to_json()
    for h, on in ordered[:150]:
        assert shared.full_json(shared.evaluate(h, on)) == own.full_json(own.evaluate(h, on))
    # The shared engine kept fewer statuses and exit parts: its programs did read each other's entries.
    s, o = shared.memo_sizes(), own.memo_sizes()
    reads = (o["statuses"] - s["statuses"]) + (o["exit_parts"] - s["exit_parts"])
    assert s["statuses"] < o["statuses"] and s["exit_parts"] < o["exit_parts"] and reads > 50


def test_a_fingerprint_changes_with_each_input(rules: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(rules)
    programs = [p for p in (engine_module.program_for(rules.chain(k), date(2024, 6, 30)) for k in rules.packs) if p]
    program = next(p for p in programs if any(p.conclusion_bits[engine_module._G_EXIT]))
    on = program.start
    status = engine_module._status_print(program, rules.vocab, on)
    exit_ = engine_module._exit_print(engine, program, rules.vocab, on)
    assert status == engine_module._status_print(program, rules.vocab, on)  # the same inputs, the same print

    def reworded(kind: str) -> Any:
        def vocab(k: str, code: str, when: date | None = None) -> Any:
            v = rules.vocab(k, code, when)
            return dataclasses.replace(v, zh=v.zh + "·") if k == kind else v

        return vocab

    assert engine_module._status_print(program, reworded("category"), on) != status
    assert engine_module._status_print(program, reworded("review"), on) != status
    assert engine_module._exit_print(engine, program, reworded("exit_blocker"), on) != exit_
    assert engine_module._exit_print(engine, program, reworded("exit_method"), on) != exit_
    # A blocker dated from another value slot: another print.
    where = engine._date_where
    monkeypatch.setattr(
        engine,
        "_date_where",
        lambda p, rid, kind, code, m: 10_000 if kind == "exit_blocker" else where(p, rid, kind, code, m),
    )
    assert engine_module._exit_print(engine, program, rules.vocab, on) != exit_


def test_everything_starting_over_empties_the_shared_memos_for_every_program(
    rules: RuleSet, cases: list[tuple[Any, date]]
) -> None:
    engine = Engine(rules)
    for h, on in cases[:300]:
        engine.evaluate(h, on)
    before = {m.program.key: (id(m.statuses), id(m.exit_parts)) for m in engine._memos.values()}
    assert engine.memo_sizes()["statuses"] > 0
    engine._start_over(everything=True)
    assert engine.memo_sizes()["statuses"] == engine.memo_sizes()["exit_parts"] == 0
    assert {m.program.key: (id(m.statuses), id(m.exit_parts)) for m in engine._memos.values()} == before
    fresh = Engine(rules)
    for h, on in cases[:300]:
        assert engine.evaluate(h, on).to_json() == fresh.evaluate(h, on).to_json()


def _where(engine: Engine, program: Any, rid: str, code: str, modifier: str) -> Any:
    got = engine._date_where(program, rid, "finding", code, modifier)
    return got if got is None or isinstance(got, int) else engine_module._FIELD_PATHS[got]


def test_finding_tables_are_shared_exactly_when_what_their_findings_are_made_of_is_equal(
    rules: RuleSet, cases: list[tuple[Any, date]]
) -> None:
    """Two programs' tables of a code are one object exactly when kind, code, certainty, (bit, rule id)
    pairs and wording are equal and — for a procedure finding — each rule's due and done dates are read
    from the same slot or field (its dater reads them there)."""
    engine = Engine(rules)
    for h, on in cases:
        engine.evaluate(h, on)
    owned = []
    for memo in engine._memos.values():
        assert memo.tables is not None
        on = next(c.on for c in engine._contexts.values() if c.memo is memo)
        for t in memo.tables.tables:
            v = rules.vocab(t.kind, t.code, on)
            dates = ()
            if t.kind == "finding":
                dates = tuple(
                    (
                        _where(engine, memo.program, rid, t.code, "due"),
                        _where(engine, memo.program, rid, t.code, "done"),
                    )
                    for _, rid in t.rules
                )
            owned.append(((t.kind, t.code, t.certain, t.rules, v.zh, v.en, dates), t))
    assert len({id(t) for _, t in owned}) < len(owned) / 4
    for (ka, ta), (kb, tb) in itertools.combinations(owned, 2):
        assert (ta is tb) == (ka == kb)


def test_a_procedure_findings_table_dated_from_another_slot_is_not_shared(
    rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The bundled programs date each procedure finding from the same slots wherever its code and rules
    agree, so the test above never meets two that differ there: here one program's due date is moved.)"""
    engine = Engine(rules)
    on = date(2024, 6, 30)
    programs = [engine_module.program_for(rules.chain(k), on) for k in rules.packs]
    a, b = [p for p in programs if p is not None][:2]
    kind, code, rules_of = next(
        (k, c, ((bit, rid),))
        for bit, conclusions in enumerate(a.conclusion_bits[GROUP_OF_KIND["finding"]])
        for k, c, rid in conclusions
    )
    make = engine._finding_maker(a, on)
    first = engine._table_for(a, on)(make, kind, code, True, rules_of)
    assert engine._table_for(b, on)(make, kind, code, True, rules_of) is first
    assert engine._table_for(b, on)(make, kind, code, False, rules_of) is not first
    where = engine._date_where
    monkeypatch.setattr(
        engine,
        "_date_where",
        lambda p, rid, k, c, m: 10_000 if p is b and m == "due" else where(p, rid, k, c, m),
    )
    assert engine._table_for(b, on)(make, kind, code, True, rules_of) is not first
    assert engine._table_for(a, on)(make, kind, code, True, rules_of) is first
