"""The compiled programs kept on disk (``eligibility._cache.cached_code``): a faster start, never a stale program.

A generated program's code object is stored under a digest of the text it was compiled from, so what
comes back from the cache is the compilation of that very text: a changed rule file or a changed
generator writes other text and gets its own entry. These tests compare against ``compile`` itself,
and check across processes that a warm cache is used and that an edited rules folder is obeyed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from eligibility import Engine, _cache, load_rules, parse_household
from eligibility.compile import python as py_target

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT / "examples" / "households"
AS_OF = "2023-09-30"
LINE_FILE = Path("anhui-huaibei/parameters/income.yaml")
AT_LINE = EXAMPLES / "03-huaibei-at-line-not-identified.json"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own, empty cache folder and an empty in-process memo."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(directory))
    _cache._code_memo.clear()
    return directory


def _code_entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("code-*.marshal")) if directory.is_dir() else []


def _same_code(a: CodeType, b: CodeType) -> bool:
    """The same bytecode, names and constants, nested functions included."""
    if (a.co_code, a.co_names, a.co_varnames, a.co_filename, a.co_name) != (
        b.co_code,
        b.co_names,
        b.co_varnames,
        b.co_filename,
        b.co_name,
    ):
        return False
    if len(a.co_consts) != len(b.co_consts):
        return False
    for x, y in zip(a.co_consts, b.co_consts, strict=True):
        if isinstance(x, CodeType) or isinstance(y, CodeType):
            if not (isinstance(x, CodeType) and isinstance(y, CodeType) and _same_code(x, y)):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


TEXT_A = "def program(h, as_of):\n    return h + 1\n"
TEXT_B = "def program(h, as_of):\n    return h + 2\n"


def _run(code: CodeType) -> Any:
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["program"](40, None)


# ------------------------------------------------------------------------------------------- unit


def test_a_cached_code_object_is_what_compile_gives_and_is_read_back_from_disk(cache_dir: Path) -> None:
    first = _cache.cached_code(TEXT_A, "<eligibility program test>")
    assert _same_code(first, compile(TEXT_A, "<eligibility program test>", "exec"))
    assert len(_code_entries(cache_dir)) == 1
    _cache._code_memo.clear()  # as a new process: only the file is left
    again = _cache.cached_code(TEXT_A, "<eligibility program test>")
    assert again is not first and _same_code(again, first)
    assert _run(again) == 41


def test_other_text_or_another_file_name_never_gets_the_stored_code(cache_dir: Path) -> None:
    a = _cache.cached_code(TEXT_A, "<eligibility program x>")
    _cache._code_memo.clear()
    b = _cache.cached_code(TEXT_B, "<eligibility program x>")
    c = _cache.cached_code(TEXT_A, "<eligibility program y>")
    assert (_run(a), _run(b), _run(c)) == (41, 42, 41)
    assert c.co_filename == "<eligibility program y>"
    assert len(_code_entries(cache_dir)) == 3


def test_the_key_holds_the_interpreters_bytecode_version(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another interpreter (another ``MAGIC_NUMBER``) writes and reads entries of its own."""
    _cache.cached_code(TEXT_A, "<p>")
    monkeypatch.setattr(_cache.importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    _cache.cached_code(TEXT_A, "<p>")
    assert len(_code_entries(cache_dir)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "other-code", "garbage"])
def test_a_damaged_entry_is_compiled_afresh_and_replaced(cache_dir: Path, damage: str) -> None:
    _cache.cached_code(TEXT_A, "<p>")
    (entry,) = _code_entries(cache_dir)
    data = entry.read_bytes()
    head, payload = data.split(b"\n", 1)
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(head + b"\n" + payload[:-3] + bytes([payload[-3] ^ 0xFF]) + payload[-2:])
    elif damage == "other-code":  # the code of other text under this entry's header
        import marshal

        entry.write_bytes(head + b"\n" + marshal.dumps(compile(TEXT_B, "<p>", "exec")))
    else:
        entry.write_bytes(b"not an entry at all")
    _cache._code_memo.clear()
    assert _run(_cache.cached_code(TEXT_A, "<p>")) == 41
    assert entry.read_bytes() == data  # rewritten whole


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="no user ids here")
def test_an_entry_owned_by_someone_else_is_not_loaded(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cache.cached_code(TEXT_A, "<p>")
    (entry,) = _code_entries(cache_dir)
    key = entry.read_bytes().split(b"\n", 1)[0].split()[1].decode()  # the header: magic, key, digest
    assert _cache._read_code(entry, key) is not None  # the owner's own entry is read
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)
    assert _cache._read_code(entry, key) is None
    _cache._code_memo.clear()
    assert _run(_cache.cached_code(TEXT_A, "<p>")) == 41  # compiled afresh


def test_no_cache_folder_still_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", os.devnull)
    assert _run(_cache.cached_code(TEXT_A, "<p>")) == 41


def test_code_entries_are_pruned_to_the_most_recent(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cache, "MAX_CODE_ENTRIES", 2)
    for i in range(4):
        _cache.cached_code(f"x = {i}\n", "<p>")
        for n, entry in enumerate(sorted(_code_entries(cache_dir), key=lambda p: p.stat().st_mtime)):
            os.utime(entry, (1_000_000 + n, 1_000_000 + n))  # distinct times, oldest first
    assert len(_code_entries(cache_dir)) == 2
    _cache._code_memo.clear()
    namespace: dict[str, Any] = {}
    exec(_cache.cached_code("x = 3\n", "<p>"), namespace)
    assert namespace["x"] == 3


# ------------------------------------------------------------------------------------------ programs


def test_every_program_runs_the_compilation_of_its_own_source(cache_dir: Path) -> None:
    """The program, its ``trace="none"`` variant and the member selectors, from a warm cache."""
    doc = (EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8")
    for _ in range(2):  # the first engine fills the cache, the second reads it
        _cache._code_memo.clear()
        engine = Engine(load_rules(RULES))
        engine.evaluate(doc, AS_OF, trace="none")
        engine.evaluate(doc, AS_OF)
        assert _code_entries(cache_dir)
    program = engine.program(parse_household(doc), AS_OF)
    assert program is not None
    # One file name for every program: programs writing the same text (comments aside) share its code
    # (session 18); the comment lines are blank in the compiled text, which compiles to the same code.
    fresh = compile(program.source, "<eligibility program>", "exec")
    wanted = {c.co_name: c for c in fresh.co_consts if isinstance(c, CodeType)}
    assert _same_code(program.fn.__code__, wanted["program"])
    assert _same_code(program.lean_fn.__code__, wanted["program_lean"])
    assert program.none_code is not None
    none = compile(program.none_code[0], "<eligibility program (none)>", "exec")
    assert _same_code(program.none_fn().__code__, none.co_consts[0])
    select, wanted_bits = program.__dict__["_selects"]  # members_py's generated pair
    # One file name for every program's selectors: programs writing the same text share them (session 17).
    members = compile(program.__dict__["selector_source"], "<eligibility members>", "exec")
    codes = {c.co_name: c for c in members.co_consts if isinstance(c, CodeType)}
    assert _same_code(select.__code__, codes["select"])
    assert _same_code(wanted_bits.__code__, codes["wanted"])


def test_a_changed_generator_never_runs_the_old_code(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new version of ``compile/python.py`` does: it writes other text, and other text is other code."""
    doc = AT_LINE.read_text(encoding="utf-8")
    before = Engine(load_rules(RULES)).program(parse_household(doc), AS_OF)
    assert before is not None and "generator_changed" not in before.fn.__code__.co_names
    real = py_target._Compiler.render_prologue

    def changed(self: Any, days: bool = True) -> list[str]:
        return ["generator_changed = True", *real(self, days)]

    monkeypatch.setattr(py_target._Compiler, "render_prologue", changed)
    _cache._code_memo.clear()
    after = Engine(load_rules(RULES)).program(parse_household(doc), AS_OF)
    assert after is not None and after.source != before.source
    assert "generator_changed" in after.fn.__code__.co_varnames


CHILD = textwrap.dedent(
    """
    import builtins, json, sys
    compiled = []
    real_compile = builtins.compile
    def counting(source, filename, *args, **kwargs):
        if str(filename).startswith("<eligibility program"):
            compiled.append(filename)
        return real_compile(source, filename, *args, **kwargs)
    builtins.compile = counting
    from eligibility import Engine, load_rules
    d = Engine(load_rules(sys.argv[1])).evaluate(open(sys.argv[2], encoding="utf-8").read(), sys.argv[3])
    print(json.dumps({"compiled": compiled, "status": d.identification.status, "json": d.to_json()}))
    """
)


def _child(rules: Path, cache_dir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(rules), str(AT_LINE), AS_OF],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ELIGIBILITY_CACHE_DIR": str(cache_dir), "PYTHONWARNINGS": "ignore"},
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def test_a_new_process_uses_the_stored_programs_and_obeys_an_edited_rule_file(tmp_path: Path, cache_dir: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    cold = _child(rules, cache_dir)
    assert cold["compiled"], "the first process compiled no program"
    warm = _child(rules, cache_dir)
    assert warm["compiled"] == [], "a warm cache should hand the second process every program"
    assert warm["json"] == cold["json"]
    # Raise the 淮北 monitoring line past this household's income: the same cache must decide otherwise.
    target = rules / LINE_FILE
    text = target.read_text(encoding="utf-8")
    assert "value: 7900\n" in text
    target.write_text(text.replace("value: 7900\n", "value: 99900\n"), encoding="utf-8")
    edited = _child(rules, cache_dir)
    uncached = _child(rules, tmp_path / "other-cache")
    assert edited["json"] == uncached["json"]
    assert cold["status"] == "not_identified" and edited["status"] != cold["status"]


_SOURCES = textwrap.dedent(
    """
    import hashlib, json, sys
    from eligibility import Engine, load_rules, parse_household
    from eligibility.compile.gaps_py import gap_code
    engine = Engine(load_rules())
    out = {}
    for path in sorted(__import__("pathlib").Path(sys.argv[1]).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        on = doc.get("as_of", sys.argv[2])  # some examples carry their own date
        h = parse_household(doc.get("household", doc))
        engine.evaluate(h, on, trace="compact")  # builds the finding tables too
        program = engine.program(h, on)
        if program is None:
            continue
        memo = engine._memos[program.key]
        texts = [program.source, gap_code(program).source, memo.tables.source]
        out[program.key] = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    print(json.dumps(out, sort_keys=True))
    """
)


def test_generated_sources_are_the_same_in_every_process(tmp_path: Path) -> None:
    """Compiled code is cached by the text it came from, so each generated source — the program, its gap
    report, its finding tables — must be the same text in every process. A set of strings iterates in an
    order that changes with ``PYTHONHASHSEED``; a generator that walked one would write other text in each
    process and never meet its cache (the gap code once did: ~20 ms of every new process's first decision)."""
    seen = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "ELIGIBILITY_CACHE_DIR": str(tmp_path / seed)}
        done = subprocess.run(
            [sys.executable, "-c", _SOURCES, str(EXAMPLES), AS_OF],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        seen.append(json.loads(done.stdout))
    assert seen[0], "no program was generated"
    assert seen[0] == seen[1] == seen[2]
