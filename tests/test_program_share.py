"""Generated programs and finding tables compiled once per text and shared (session 18).

The bundled packs' 54 programs write 13 texts once the comments (which name the span and the rules'
files) are left out, and their finding tables 5: ``compile/python.py`` and ``compile/findings_py.py``
compile each text once and every program writing it runs that code, with its own constants and tables
bound as the functions' defaults. These tests check that programs of one text do share the code, that
programs of other texts do not, and that a program running the shared code answers — values, node
outcomes, masks, for ``run``, ``run_lean`` and ``run_none`` — exactly as a copy compiled from its own
source (comments and all) for it alone.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from eligibility import _cache
from eligibility.compile import python as py
from eligibility.compile.findings_py import FindingTables
from eligibility.compile.python import CONCLUSION_GROUPS, Program

from .test_engine_findings import _make, _programs
from .test_engine_selectors import _households


@pytest.fixture(scope="module")
def programs() -> list[Program]:
    got = _programs()
    assert len(got) > 20  # every bundled pack's programs on several dates
    return got


def _text(program: Program) -> str:
    return py._COMMENT_LINE.sub("", program.source)


def _constants(program: Program) -> tuple[tuple[str, str, str], ...]:
    """The span's constants (``K0``…) by name, type and spelling."""
    assert program.none_code is not None
    namespace = program.none_code[1]
    return tuple((k, type(v).__name__, repr(v)) for k, v in namespace.items() if re.fullmatch(r"K[0-9]+", k))


def _own_copy(program: Program) -> dict[str, Any]:
    """The program's functions compiled from its own source for it alone: its namespace (constants,
    helpers) with a day memo of its own, as ``_Compiler.build`` made them before the sharing."""
    assert program.none_code is not None
    text, namespace = program.none_code
    scope = dict(namespace)
    scope["DAYS"] = py._Days()
    exec(compile(program.source, f"<own copy {program.key}>", "exec"), scope)
    exec(compile(text, f"<own copy {program.key} (none)>", "exec"), scope)
    if "day" in scope:
        scope["DAYS"].fn = scope["day"]
    return scope


def _day_in(program: Program, wanted: date) -> date:
    """``wanted`` moved into the program's span."""
    if wanted < program.start:
        return program.start
    if program.until is not None and wanted >= program.until:
        return program.until - timedelta(days=1)
    return wanted


def test_programs_writing_one_text_share_its_code(programs: list[Program]) -> None:
    by_text: dict[str, list[Program]] = {}
    for program in programs:
        by_text.setdefault(_text(program), []).append(program)
        # Comments only on lines of their own: none is left to make two programs' texts differ.
        assert "#" not in _text(program) and "#" not in py._COMMENT_LINE.sub("", program.none_code[0])  # type: ignore[index]
    assert len(by_text) < len(programs), "no two bundled programs write the same text"
    # Constants differ within a text: what the functions bind as defaults, program by program.
    assert any(len({_constants(p) for p in group}) > 1 for group in by_text.values())
    firsts = [group[0] for group in by_text.values()]
    for get in (lambda p: p.fn, lambda p: p.lean_fn, lambda p: p.none_fn()):
        assert len({id(get(p).__code__) for p in firsts}) == len(by_text)
        for group in by_text.values():
            assert all(get(p).__code__ is get(group[0]).__code__ for p in group)
            assert all(get(p).__globals__ is py._RUN_GLOBALS for p in group)


def test_the_sharing_holds_when_the_code_cache_forgets(
    programs: list[Program], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared code is the program module's own table (``python._SHARED``), not the recent code objects
    ``_cache.cached_code`` keeps in memory (64, dropped all at once when full — fewer than the bundled
    packs' generated texts): with that memory holding one object, a program compiled after a program of
    other text still runs the code of an earlier program of its own text, while that one lives."""
    by_text: dict[str, list[Program]] = {}
    for program in programs:
        by_text.setdefault(_text(program), []).append(program)
    same = next(group for group in by_text.values() if len(group) > 1)
    other = next(group[0] for group in by_text.values() if group is not same)
    monkeypatch.setattr(_cache, "_code_memo", {})  # holding one code object: the last compiled
    monkeypatch.setattr(_cache, "_CODE_MEMO_SIZE", 0)

    def rebuilt(p: Program) -> Program:
        return py._Compiler(p.chain, _day_in(p, date(2024, 6, 30)), p.start, p.until).build()

    first = rebuilt(same[0])
    between = rebuilt(other)
    again = rebuilt(same[1])
    assert again.fn.__code__ is first.fn.__code__ and again.lean_fn.__code__ is first.lean_fn.__code__
    assert between.fn.__code__ is not first.fn.__code__
    assert first.none_fn().__code__ is not between.none_fn().__code__
    assert again.none_fn().__code__ is first.none_fn().__code__


def test_a_program_running_shared_code_answers_as_its_own_copy(programs: list[Program]) -> None:
    households = _households(5, 120)
    shared = [p for p in programs if sum(_text(q) == _text(p) for q in programs) > 1]
    assert len(shared) > 20
    checked = 0
    for program in shared:
        own = _own_copy(program)
        assert own["program"].__code__ is not program.fn.__code__
        for h, wanted in households:
            on = _day_in(program, wanted)
            assert program.run(h, on) == own["program"](h, on), program.key
            assert program.run_lean(h, on) == own["program_lean"](h, on), program.key
            assert program.run_none(h, on) == own["program_none"](h, on), program.key
            checked += 1
    assert checked > 3000


def test_finding_tables_writing_one_text_share_its_code(programs: list[Program]) -> None:
    """The finding tables' functions (``every``, the memoised groups' ``yes``/``maybe``, ``group``'s) are
    shared by text too; what they answer is checked against decoding the masks for every program in
    ``test_engine_findings.py``, which runs the shared code."""
    kinds = [(g, kinds[0]) for g, kinds in enumerate(CONCLUSION_GROUPS) if len(kinds) == 1]
    by_text: dict[str, list[FindingTables]] = {}
    for program in programs:
        tables = FindingTables(program, _make, kinds)
        by_text.setdefault(tables.source, []).append(tables)
    assert len(by_text) < len(programs), "no two bundled programs write the same finding tables"
    for group in by_text.values():
        first = group[0]
        for tables in group:
            assert tables.every.__code__ is first.every.__code__
            assert tables.every is not first.every or tables is first  # each program's own tables
            for name, memo in tables.names.items():
                if name.startswith("C"):
                    assert memo.fn.__code__ is first.names[name].fn.__code__
        one = [t.group(g, kind) for t in group for g, kind in kinds[:1]]
        assert all(fn.__code__ is one[0].__code__ for fn in one)
    assert len({id(group[0].every.__code__) for group in by_text.values()}) == len(by_text)
