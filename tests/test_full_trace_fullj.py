"""The full trace's changes of session 19 (fullj, issue 9 §5) keep what they must.

* The static pieces of every program's text expander are one object per text (``sys.intern`` in
  ``_Patterns.static``), so programs that render the same rules share them: checked across the examples'
  programs, and a trace written by an engine sharing them equals one written by an engine alone.
* ``_sorted_by_value`` (every member's health statuses in a household's JSON, so its digest) gives the
  rule as written — sorted by the members' values — for every set of health statuses, and for every set
  of up to three members of each coded enum.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from eligibility import Engine
from eligibility import models as models_module
from eligibility.models import CodedEnum, HealthStatus, _sorted_by_value

from .test_full_trace_memo import cases

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def test_static_pieces_are_one_object_per_text_across_programs(cases) -> None:  # type: ignore[no-untyped-def]
    """Every text met among the static pieces of the examples' programs is one object, and there are
    texts that several programs share (else the check would hold trivially)."""
    rules, examples = cases
    engine = Engine(rules)
    for h, on in examples:
        engine.full_json(engine.evaluate(h, on), indent=None)
    objects: dict[str, set[int]] = defaultdict(set)
    programs: dict[str, set[str]] = defaultdict(set)
    for key, expander in engine._text_expanders.items():
        for text in expander._gen.statics:
            objects[text].add(id(text))
            programs[text].add(key)
    assert len(engine._text_expanders) > 1
    assert sum(len(p) > 1 for p in programs.values()) > 100  # programs share most of their text
    assert all(len(ids) == 1 for ids in objects.values())


def test_shared_static_pieces_write_the_same_trace(cases) -> None:  # type: ignore[no-untyped-def]
    """A trace written by an engine whose static pieces other programs (and another engine) made first
    is the one written by a fresh engine that meets only this household."""
    rules, examples = cases
    shared = Engine(rules)
    for h, on in examples:
        shared.full_json(shared.evaluate(h, on), indent=None)
    for h, on in examples:
        alone = Engine(rules)
        assert shared.full_json(shared.evaluate(h, on), indent=None) == alone.full_json(
            alone.evaluate(h, on), indent=None
        ), (h.household_id, on)


def _as_written(items: frozenset[CodedEnum]) -> list[CodedEnum]:
    return sorted(items, key=lambda item: item.value)


def test_sorted_by_value_is_the_rule_as_written() -> None:
    for n in range(len(HealthStatus) + 1):
        for combo in itertools.combinations(HealthStatus, n):
            items = frozenset(combo)
            got = _sorted_by_value(items)
            assert got == _as_written(items) and [type(x) for x in got] == [HealthStatus] * n
    coded = [c for c in vars(models_module).values() if isinstance(c, type) and issubclass(c, CodedEnum)]
    assert len(coded) > 5
    for cls in coded:
        for n in range(4):
            for combo in itertools.combinations(cls, n):
                assert _sorted_by_value(frozenset(combo)) == _as_written(frozenset(combo)), (cls, combo)
