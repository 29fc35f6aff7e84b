"""The full trace's rendered fragments shared by every program of the process (session 22, fjs2, issue 9 §5).

* Each fact's and rule step's fragment is named by what it is rendered from (``_fragment_id`` of its
  signature without where its outcome is read), and the fragments are kept per numbering
  (``_Numbering.fragments``), so a program's new combination reuses what another program rendered.
  Checked: on the examples' programs the names are shared (else the checks below would hold trivially),
  and equal names render equal fragments for every outcome.
* A name is never handed out for two signatures, even after the table of names starts over; traces
  written then equal pydantic's writing of the validated expansion.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from eligibility import Engine
from eligibility.compile import manifest as manifest_module
from eligibility.expressions import UNKNOWN

from .test_full_trace_memo import cases
from .test_full_trace_patterns import _want

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def _renders(tag: str, render: Any) -> tuple[Any, ...]:
    """A step's fragment for every outcome (a leaf's also with and without settling paths)."""
    if tag == ")" or tag == "E":
        return (tuple(render()),)
    if tag == "l":
        unknown = manifest_module._HOLE if render.simple else ("$.a", "$.b")
        return tuple(tuple(render(o, m)) for o in (True, False, UNKNOWN) for m in ((), unknown))
    return tuple(tuple(render(o)) for o in (True, False, UNKNOWN))


def test_programs_share_fragments_and_names_say_what_is_rendered(cases) -> None:  # type: ignore[no-untyped-def]
    """After the examples every text expander reads the numbering's one table of fragments; over fifty
    fragment names are used by several programs; and every use of a name renders the same fragment."""
    rules, examples = cases
    engine = Engine(rules)
    for h, on in examples:
        engine.full_json(engine.evaluate(h, on), indent=None)
    expanders = list(engine._text_expanders.items())
    assert len(expanders) > 1
    assert len({id(x._gen.fragments) for _, x in expanders}) == 1
    assert expanders[0][1]._gen.fragments is manifest_module._NUMBERING.fragments
    rendered: dict[Any, set[tuple[Any, ...]]] = defaultdict(set)
    programs: dict[Any, set[str]] = defaultdict(set)
    for key, x in expanders:
        for steps, ids in zip(x._chunks, x._step_ids, strict=True):
            for (tag, _, render), fid in zip(steps, ids, strict=True):
                rendered[fid].add(_renders(tag, render))
                programs[fid].add(key)
        for i, fid in enumerate(x._fact_ids):
            rendered["f", fid].add(tuple(map(tuple, x._fact_parts(i))))
            programs["f", fid].add(key)
    assert sum(len(keys) > 1 for keys in programs.values()) > 50
    assert all(len(texts) == 1 for texts in rendered.values())


def test_fragment_names_are_never_handed_out_twice(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """With a table of names that starts over every few signatures (so programs built later name the
    same fragments otherwise), no name stands for two signatures, and every example writes the bytes of
    the validated expansion, twice."""
    rules, examples = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in examples]
    monkeypatch.setattr(manifest_module, "_GETTERS_SIZE", 16)
    monkeypatch.setattr(manifest_module, "_FRAGMENT_IDS", {})
    names = [manifest_module._fragment_id(("s", n)) for n in range(40)]
    assert len(set(names)) == 40
    assert manifest_module._fragment_id(("s", 39)) == names[39]  # still kept: the same name
    engine = Engine(rules)
    for _ in range(2):
        for (h, on), text in zip(examples, want, strict=True):
            assert engine.full_json(engine.evaluate(h, on), indent=None) == text, (h.household_id, on)


def test_fragments_that_start_over_write_the_same_bytes(cases, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A table of fragments that starts over every few fragments (rendered again when met again) and
    patterns forgotten often: the same bytes."""
    rules, examples = cases
    reference = Engine(rules)
    want = [_want(reference, h, on) for h, on in examples]
    monkeypatch.setattr(manifest_module, "_FRAGMENTS_SIZE", 8)
    monkeypatch.setattr(manifest_module, "_PATTERN_MEMO_SIZE", 2)
    engine = Engine(rules)
    for _ in range(2):
        for (h, on), text in zip(examples, want, strict=True):
            assert engine.full_json(engine.evaluate(h, on), indent=None) == text, (h.household_id, on)
