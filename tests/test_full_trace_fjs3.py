"""The full trace's text pieces appended by ``list.extend`` and its ``engines`` text kept (session 24, fjs3).

``TextExpander._pieces`` appends each pattern's tuple of pieces to the list it returns (``_DRAIN``) and
keeps the JSON text of the last ``engines`` list it met (``_engines_text``). Checked: the joined pieces
are the text of the expansion (:class:`Expander`'s data as ``json.dumps`` writes it) with whatever
engines list each call passes — a kept text is never given for another list, even one met before and
left — and ``Engine.full_json`` still writes pydantic's bytes of the validated expansion.
"""

from __future__ import annotations

import json

from eligibility import Engine
from eligibility.decision import CompactTrace

from .test_full_trace_memo import cases
from .test_full_trace_patterns import _want

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def test_the_engines_text_follows_the_list_passed(cases) -> None:  # type: ignore[no-untyped-def]
    rules, examples = cases
    engine = Engine(rules)
    lists = [["python"], ["python", "polars"], [], ["python"], ['引擎 "甲"'], ["python"]]
    for h, on in examples[:6]:
        trace = engine.evaluate(h, on).trace
        assert isinstance(trace, CompactTrace)
        text = engine._text_expander(trace.program)
        data = trace.to_data()
        for engines in lists:
            want = engine._expander(trace.program)({**data, "engines": engines})
            got = json.loads("".join(text.text_pieces({**data, "engines": engines})))
            assert got == want
            assert got["engines"] == engines


def test_full_json_is_pydantics_text_of_the_validated_expansion(cases) -> None:  # type: ignore[no-untyped-def]
    rules, examples = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in examples]
    engine = Engine(rules)
    for _ in range(2):  # memos cold, then warm
        for (h, on), text in zip(examples, want, strict=True):
            assert engine.full_json(engine.evaluate(h, on), indent=None) == text, (h.household_id, on)
