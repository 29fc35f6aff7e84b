"""The full trace's facts cut in groups (session 21, fjson, issue 9 §5) keep every byte.

A program's facts' texts are cut in groups of ``_FACT_GROUP`` facts, each group one memo keyed by
whether each of its facts is unknown (``TextExpander._fact_pattern``). Checked: a program has one fact
memo per group, not per fact (else the byte checks below would hold trivially for the old layout); and
with groups of one fact, of three (groups that mix known and unknown facts, and a last group shorter
than the others) and of every fact at once, the examples write pydantic's bytes of the validated
expansion, met twice (memos cold, then warm).
"""

from __future__ import annotations

import math

import pytest

from eligibility import Engine
from eligibility.compile import manifest as manifest_module

from .test_full_trace_memo import cases
from .test_full_trace_patterns import _want

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def test_one_fact_memo_per_group(cases) -> None:  # type: ignore[no-untyped-def]
    """Each program cuts its facts with one pattern per group of ``_FACT_GROUP``, and the groups cover
    every fact once, in order."""
    rules, examples = cases
    engine = Engine(rules)
    for h, on in examples:
        engine.full_json(engine.evaluate(h, on), indent=None)
    assert engine._text_expanders
    for x in engine._text_expanders.values():
        n = len(x.facts)
        assert n > manifest_module._FACT_GROUP  # else a group per fact and one group would look alike
        assert len(x._gen.facts) == math.ceil(n / manifest_module._FACT_GROUP)
        assert [i for group in x._groups for i in group] == list(range(n))


@pytest.mark.parametrize("size", [1, 3, 10_000])
def test_any_group_size_writes_the_validated_expansion(cases, size: int, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Groups of one fact (the layout before session 21), of three and of all facts: the same bytes."""
    rules, examples = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in examples]
    monkeypatch.setattr(manifest_module, "_FACT_GROUP", size)
    engine = Engine(rules)
    mixed = 0
    for _ in range(2):
        for (h, on), text in zip(examples, want, strict=True):
            d = engine.evaluate(h, on)
            assert engine.full_json(d, indent=None) == text, (h.household_id, on, size)
    for x in engine._text_expanders.values():
        assert len(x._gen.facts) == math.ceil(len(x.facts) / size)
        for memo in x._gen.facts:
            mixed += any(len(set(key)) > 1 for key in memo if isinstance(key, tuple))
    if size > 1:
        assert mixed  # some group met known and unknown facts together
