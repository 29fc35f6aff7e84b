"""The full trace's patterns shared across programs (session 20, fpat, issue 9 §5) keep every byte.

* Static pieces are numbered once per process (``_Numbering``), so equal patterns of two programs are one
  ``itemgetter``; and each fact's and chunk's memo is named by what its patterns are made of
  (``TextExpander._step_sig``, ``_fact_sig``), so the programs of one engine share them
  (``PatternMemos``). Checked: on the examples' programs they do share both (else the checks below
  would hold trivially), and the patterns kept stay within the engine's budget counted once.
* A trace written from memos that other programs filled equals pydantic's writing of the validated
  expansion, on the examples met in two orders and on generated households of the bundled packs; and
  with numberings that start over every few patterns, so programs move to a new numbering one by one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from eligibility import Engine
from eligibility import engine as engine_module
from eligibility.compile import manifest as manifest_module

from .test_full_trace_memo import cases
from .test_full_trace_patterns import _patterns, _want

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def _memos(engine: Engine) -> list[tuple[str, dict[Any, Any]]]:
    return [(key, m) for key, x in engine._text_expanders.items() for m in (*x._gen.facts, *x._gen.rules)]


def test_programs_share_patterns_and_memos(cases) -> None:  # type: ignore[no-untyped-def]
    """After the examples, memos and patterns are shared by several programs, and one pattern object
    stands for each tuple of positions."""
    rules, examples = cases
    engine = Engine(rules)
    for h, on in examples:
        engine.full_json(engine.evaluate(h, on), indent=None)
    assert len(engine._text_expanders) > 1
    programs: dict[int, set[str]] = defaultdict(set)
    by_positions: dict[tuple[int, ...], set[int]] = defaultdict(set)
    for key, memo in _memos(engine):
        programs[id(memo)].add(key)
        for pattern in memo.values():
            by_positions[pattern.__reduce__()[1]].add(id(pattern))
    assert sum(len(keys) > 1 for keys in programs.values()) > 50  # memos several programs read
    assert all(len(ids) == 1 for ids in by_positions.values())
    assert _patterns(engine) < sum(len(m) for _, m in _memos(engine))  # counted once, not per program


def test_shared_memos_write_the_validated_expansion(cases) -> None:  # type: ignore[no-untyped-def]
    """Every example, met after the others (in both orders) filled the shared memos, writes the bytes of
    the validated expansion."""
    rules, examples = cases
    reference = Engine(rules)
    want = {(h.household_id, on): _want(reference, h, on) for h, on in examples}
    for order in (examples, examples[::-1]):
        engine = Engine(rules)
        for _ in range(2):
            for h, on in order:
                assert engine.full_json(engine.evaluate(h, on), indent=None) == want[h.household_id, on]


def test_new_numberings_write_the_same_bytes(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Numberings that start over every few patterns (each program moves to the new one on its next
    household, its memos afresh) and a pattern budget spent every household or two: the same bytes, and
    the patterns kept within the budget."""
    rules, examples = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in examples]
    monkeypatch.setattr(manifest_module, "_STATICS_SIZE", 64)
    budget = 300
    monkeypatch.setattr(engine_module, "_FULL_PATTERN_BUDGET", budget)
    engine = Engine(rules)
    numberings = set()
    for _ in range(2):
        for (h, on), text in zip(examples, want, strict=True):
            assert engine.full_json(engine.evaluate(h, on), indent=None) == text, (h.household_id, on)
            assert _patterns(engine) <= budget
            numberings.add(id(manifest_module._NUMBERING))
    assert len(numberings) > 3


def test_a_fragment_rendered_otherwise_has_another_signature(cases) -> None:  # type: ignore[no-untyped-def]
    """A memo is shared by signature, so a signature must change whenever the fragment's text would: for
    every step of the examples' rules, a render that writes other text for any one outcome (a group's or
    a rule's end: at all), and a leaf with another constant or other static text, sign otherwise. (The
    examples' programs have no two chunks that differ only so, so the byte checks above cannot see it.)"""
    rules, examples = cases
    engine = Engine(rules)
    for h, on in examples[:3]:
        engine.full_json(engine.evaluate(h, on), indent=None)
    x = next(iter(engine._text_expanders.values()))
    steps = [step for chunk in x._chunks for step in chunk]
    assert {tag for tag, _, _ in steps} == {"R", "(", ")", "r", "l", "E"}
    consts = 0
    for tag, k, render in steps:
        sig = x._step_sig((tag, k, render))
        if tag == "l":
            plan = ("leaf", k, render.parts, render.actual, render.expected, render.refs, render.ref, render.subject)
            same = manifest_module._Leaf(plan, render.lead, render.text_at, x._leaf_miss_at)
            assert x._step_sig((tag, k, same)) == sig  # made alike, signed alike
            other = manifest_module._Leaf(plan, render.lead + " ", render.text_at, x._leaf_miss_at)
            assert x._step_sig((tag, k, other)) != sig
            for j, (vi, c) in enumerate(render.expected):
                if vi is None:
                    expected = [*render.expected[:j], (None, [c, c]), *render.expected[j + 1 :]]
                    changed = (*plan[:4], expected, *plan[5:])
                    leaf = manifest_module._Leaf(changed, render.lead, render.text_at, x._leaf_miss_at)
                    assert x._step_sig((tag, k, leaf)) != sig
                    consts += 1
        elif tag == ")" or tag == "E":
            assert x._step_sig((tag, k, lambda render=render: [*render(), "x"])) != sig
        else:
            for o in (True, False, manifest_module.UNKNOWN):

                def changed(outcome: Any, render: Any = render, o: Any = o) -> list[str | int]:
                    return [*render(outcome), "x"] if outcome is o else render(outcome)

                assert x._step_sig((tag, k, changed)) != sig
    assert consts > 0
