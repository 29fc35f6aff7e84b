"""The on-disk RuleSet cache (``eligibility._cache``) and the lazy imports that make a cached start cheap.

The cache may only ever change how fast a RuleSet arrives, never what it is or which errors are
reported: every test here compares against reading the YAML, and none may touch the real home cache
(the autouse fixture points ``ELIGIBILITY_CACHE_DIR`` at a temporary folder).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine, RuleFileError, _cache, load_rules
from eligibility import loader as loader_module
from eligibility.expressions import UNKNOWN
from eligibility.ruleset import INHERIT, RuleSet

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT / "examples" / "households"
DEFAULT_AS_OF = "2023-09-30"
LINE_FILE = Path("anhui-huaibei/parameters/income.yaml")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own, empty cache folder; the user's ``~/.cache`` is never written."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A writable copy of the bundled rules (tests folders included: they are part of the fingerprint)."""
    dest = tmp_path / "rules"
    shutil.copytree(RULES, dest)
    return dest


@pytest.fixture
def yaml_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """The rules folders the YAML loader actually read, in order (a cache hit adds nothing)."""
    calls: list[Path] = []
    real_run = loader_module._Loader.run

    def counting_run(self: Any) -> Any:
        calls.append(self.root)
        return real_run(self)

    monkeypatch.setattr(loader_module._Loader, "run", counting_run)
    yield calls


def _forbid_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any) -> Any:
        raise AssertionError("the YAML loader ran although the cache holds this rules folder")

    monkeypatch.setattr(loader_module._Loader, "run", refuse)


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("rules-*.pickle")) if directory.is_dir() else []


def _line(rs: RuleSet, on: str = DEFAULT_AS_OF) -> Any:
    return rs.chain("anhui-huaibei").param_hit("monitoring_line", date.fromisoformat(on)).value


# ---------------------------------------------------------------------------------------- hits


def test_second_load_comes_from_the_cache(
    rules: Path, cache_dir: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_rules(rules)
    assert yaml_loads == [rules]
    assert len(_entries(cache_dir)) == 1
    second = load_rules(rules)
    assert yaml_loads == [rules], "the second load parsed the YAML again"
    assert second is not first  # a fresh object per call, as before the cache
    _forbid_yaml(monkeypatch)
    third = load_rules(rules)
    assert sorted(third.packs) == sorted(first.packs)
    assert [c.fingerprint for c in map(third.chain, third.packs)] == [
        c.fingerprint for c in map(first.chain, first.packs)
    ]


def test_bundled_rules_are_cached_too(cache_dir: Path, yaml_loads: list[Path]) -> None:
    load_rules()
    load_rules()
    assert len(yaml_loads) == 1
    assert len(_entries(cache_dir)) == 1


def test_cache_false_always_reads_the_yaml(rules: Path, cache_dir: Path, yaml_loads: list[Path]) -> None:
    load_rules(rules)
    load_rules(rules, cache=False)
    load_rules(rules, cache=False)
    assert yaml_loads == [rules, rules, rules]


def test_an_entry_belongs_to_the_folder_as_it_was_named(
    rules: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locations and ``RuleSet.root`` spell the folder the way the caller did; a cached RuleSet read
    through another spelling would point diagnostics and traces at the wrong path."""
    absolute = load_rules(rules)
    monkeypatch.chdir(rules.parent)
    relative = load_rules("rules")
    assert len(yaml_loads) == 2
    assert absolute.root == str(rules)
    assert relative.root == "rules"
    fact = next(f for p in relative.packs.values() for f in p.facts.values())
    assert fact.loc.path.startswith("rules/")
    assert load_rules("rules").root == "rules"
    assert len(yaml_loads) == 2


# ---------------------------------------------------------------------------------------- invalidation


def test_editing_a_rule_file_changes_the_fingerprint_and_reloads(
    rules: Path, cache_dir: Path, yaml_loads: list[Path]
) -> None:
    before = _cache.fingerprint(rules, str(rules))
    assert _line(load_rules(rules)) == Decimal(7900)
    target = rules / LINE_FILE
    text = target.read_text(encoding="utf-8")
    assert "value: 7900\n" in text
    target.write_text(text.replace("value: 7900\n", "value: 9900\n"), encoding="utf-8")
    assert _cache.fingerprint(rules, str(rules)) != before
    assert _line(load_rules(rules)) == Decimal(9900)
    assert len(yaml_loads) == 2
    assert _line(load_rules(rules)) == Decimal(9900)  # and the new content is what is cached now
    assert len(yaml_loads) == 2
    assert len(_entries(cache_dir)) == 1  # the entry was replaced, not added to


def test_fingerprint_covers_every_file_by_path_and_content_only(rules: Path) -> None:
    def fp() -> str | None:
        return _cache.fingerprint(rules, str(rules))

    base = fp()
    assert base is not None
    assert fp() == base
    os.utime(rules / LINE_FILE, (0, 0))  # a touched file with the same bytes is the same rule set
    assert fp() == base
    (rules / "notes.txt").write_text("not a rule file, but under the folder\n", encoding="utf-8")
    with_note = fp()
    assert with_note != base
    (rules / "notes.txt").rename(rules / "notes2.txt")
    assert fp() not in (base, with_note)
    (rules / "notes2.txt").unlink()
    assert fp() == base
    assert _cache.fingerprint(rules, "elsewhere") != base


def test_where_the_cache_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(tmp_path / "explicit"))
    assert _cache.cache_dir() == tmp_path / "explicit"
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", "")  # empty means unset
    assert _cache.cache_dir() == tmp_path / "xdg" / "eligibility"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec asks
    assert _cache.cache_dir() == tmp_path / "home" / ".cache" / "eligibility"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _cache.cache_dir() == tmp_path / "home" / ".cache" / "eligibility"


def test_unreadable_folder_is_not_fingerprinted(tmp_path: Path) -> None:
    assert _cache.fingerprint(tmp_path / "missing", "missing") is None


# ---------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-header", "not-a-ruleset", "empty"])
def test_a_damaged_entry_falls_back_silently_and_is_rewritten(
    rules: Path, cache_dir: Path, yaml_loads: list[Path], damage: str
) -> None:
    reference = load_rules(rules, cache=False)
    load_rules(rules)
    (entry,) = _entries(cache_dir)
    good = entry.read_bytes()
    header, _, body = good.partition(b"\n")
    entry.write_bytes(
        {
            "garbage": b"\x00\xffnot a cache entry" * 10,
            "truncated": good[: len(good) // 2],
            "other-header": header[:-1] + (b"0" if header.endswith(b"1") else b"1") + b"\n" + body,
            "not-a-ruleset": header + b"\n" + pickle.dumps({"packs": {}}),
            "empty": b"",
        }[damage]
    )
    loads_before = len(yaml_loads)
    rs = load_rules(rules)
    assert len(yaml_loads) == loads_before + 1
    assert sorted(rs.packs) == sorted(reference.packs)
    assert entry.read_bytes() == good  # rewritten whole
    load_rules(rules)
    assert len(yaml_loads) == loads_before + 1  # and used again


def test_cache_dir_that_cannot_be_created_works_without_a_cache(
    rules: Path, tmp_path: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder's parent should be\n", encoding="utf-8")
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(blocker / "cache"))
    first = load_rules(rules)
    second = load_rules(rules)
    assert len(yaml_loads) == 2
    assert sorted(first.packs) == sorted(second.packs)
    assert blocker.is_file()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_cache_dir_works_without_a_cache(
    rules: Path, tmp_path: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o500)
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(directory))
    try:
        load_rules(rules)
        load_rules(rules)
    finally:
        directory.chmod(0o700)
    assert len(yaml_loads) == 2
    assert _entries(directory) == []


def test_a_failing_write_leaves_no_entry_and_no_temporary_file(
    rules: Path, cache_dir: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a read-only folder or a full disk does, simulated so that it also runs as root."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("simulated: cannot write here")

    monkeypatch.setattr(_cache.os, "replace", refuse)
    load_rules(rules)
    assert sorted(p.name for p in cache_dir.iterdir()) == []
    monkeypatch.setattr(_cache.tempfile, "mkstemp", refuse)
    load_rules(rules)
    assert sorted(p.name for p in cache_dir.iterdir()) == []
    assert len(yaml_loads) == 2


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="no user ids here")
def test_an_entry_owned_by_someone_else_is_not_unpickled(
    rules: Path, yaml_loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_rules(rules)
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)
    load_rules(rules)
    assert len(yaml_loads) == 2


def test_rule_folder_with_errors_raises_every_time_and_is_never_cached(
    rules: Path, cache_dir: Path, yaml_loads: list[Path]
) -> None:
    target = rules / LINE_FILE
    target.write_text(target.read_text(encoding="utf-8").replace("value: 7900\n", "value: seven\n"), encoding="utf-8")
    with pytest.raises(RuleFileError) as uncached:
        load_rules(rules, cache=False)
    problems = [str(d) for d in uncached.value.diagnostics]
    assert any("EL208" in p for p in problems), problems
    for _ in range(2):
        with pytest.raises(RuleFileError) as cached:
            load_rules(rules)
        assert [str(d) for d in cached.value.diagnostics] == problems
    assert len(yaml_loads) == 3
    assert _entries(cache_dir) == []


def test_entries_are_pruned_to_the_most_recent(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "MAX_ENTRIES", 2)
    copies = []
    for i in range(3):
        dest = tmp_path / f"copy{i}"
        shutil.copytree(RULES, dest)
        copies.append(dest)
        load_rules(dest)
        for n, entry in enumerate(sorted(_entries(cache_dir), key=lambda p: p.stat().st_mtime)):
            os.utime(entry, (1_000_000 + n, 1_000_000 + n))  # distinct times, oldest first
    assert len(_entries(cache_dir)) == 2
    names = {e.name for e in _entries(cache_dir)}
    assert _cache._entry_name(copies[0], str(copies[0])) not in names
    assert _cache._entry_name(copies[2], str(copies[2])) in names


# ---------------------------------------------------------------------------------------- same results


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def _engine(rs: RuleSet) -> Engine:
    try:
        return Engine(rs, engines=("reference",))
    except TypeError:  # an Engine that no longer takes engines=
        return Engine(rs)


def test_cached_ruleset_gives_the_same_decisions_as_a_fresh_load(yaml_loads: list[Path]) -> None:
    fresh = load_rules(RULES, cache=False)
    load_rules(RULES)  # store
    cached = load_rules(RULES)
    assert len(yaml_loads) == 2, "the second ruleset did not come from the cache"
    assert _examples(), "no examples found"
    fresh_engine, cached_engine = _engine(fresh), _engine(cached)
    for path in _examples():
        doc = json.loads(path.read_text(encoding="utf-8"))
        household, as_of = (doc["household"], doc["as_of"]) if "household" in doc else (doc, DEFAULT_AS_OF)
        text = json.dumps(household, ensure_ascii=False)
        want = fresh_engine.evaluate(text, as_of).to_json()
        got = cached_engine.evaluate(text, as_of).to_json()
        assert got == want, path.name


def test_cached_ruleset_has_the_same_content() -> None:
    fresh = load_rules(RULES, cache=False)
    load_rules(RULES)
    cached = load_rules(RULES)
    assert (cached.root, cached.sources_digest, cached.root_pack) == (fresh.root, fresh.sources_digest, fresh.root_pack)
    assert cached.sources == fresh.sources
    assert cached.vocabulary == fresh.vocabulary
    assert list(cached.packs) == list(fresh.packs)
    for pid, pack in fresh.packs.items():
        other = cached.packs[pid]
        assert (other.digest, other.regions, other.extends) == (pack.digest, pack.regions, pack.extends)
        assert other.params == pack.params
        assert other.values == pack.values
        assert list(other.rules) == list(pack.rules)
        assert list(other.facts) == list(pack.facts)
        for name, fact in pack.facts.items():
            got = other.facts[name]
            assert (got.source, got.node, got.type, got.facts, got.params) == (
                fact.source,
                fact.node,
                fact.type,
                fact.facts,
                fact.params,
            )
            assert callable(got.fn) and got.fn is not fact.fn  # compiled again on arrival
        assert other.disabled == pack.disabled
    assert cached.chain("anhui-huaibei").fingerprint == fresh.chain("anhui-huaibei").fingerprint


# ---------------------------------------------------------------------------------------- pickling


def test_singletons_keep_their_identity_through_pickle_and_copy() -> None:
    for marker in (INHERIT, UNKNOWN):
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            assert pickle.loads(pickle.dumps(marker, protocol=protocol)) is marker
        assert copy.copy(marker) is marker
        assert copy.deepcopy(marker) is marker
    assert repr(INHERIT) == "INHERIT"


def test_inherit_in_a_cached_ruleset_is_the_module_singleton() -> None:
    load_rules(RULES)
    cached = load_rules(RULES)
    inherits = [v for p in cached.packs.values() for vs in p.values.values() for v in vs if v.value is INHERIT]
    fresh = load_rules(RULES, cache=False)
    expected = [v for p in fresh.packs.values() for vs in p.values.values() for v in vs if v.value is INHERIT]
    assert len(inherits) == len(expected) > 0


def test_a_used_ruleset_pickles_without_its_locks_and_caches() -> None:
    """Chains, locks and per-date caches stay behind; the copy builds its own on demand."""
    rs = load_rules(RULES, cache=False)
    engine = _engine(rs)
    doc = json.loads((EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8"))
    before = engine.evaluate(json.dumps(doc, ensure_ascii=False), DEFAULT_AS_OF).to_json()
    chain = rs.chain("anhui-huaibei")
    assert rs._chains
    copied = pickle.loads(pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL))
    assert copied._chains == {}
    assert copied._lock is not rs._lock
    again = pickle.loads(pickle.dumps(chain))
    assert again.fingerprint == chain.fingerprint
    assert again._param_cache == {} and again._force_cache == {} and again._cited_cache == {}
    assert again.param_hit("monitoring_line", date(2023, 9, 30)).value == Decimal(7900)
    assert _engine(copied).evaluate(json.dumps(doc, ensure_ascii=False), DEFAULT_AS_OF).to_json() == before


# ---------------------------------------------------------------------------------------- lazy imports


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code`` (same cache folder)."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_eligibility_imports_no_heavy_dependency() -> None:
    loaded = _modules_after("import eligibility")
    heavy = {"yaml", "pydantic", "durable", "durable_rules_engine", "hypothesis", "dateutil", "eligibility.engine"}
    assert not heavy & loaded, sorted(heavy & loaded)


def test_a_cached_load_reads_no_yaml_in_a_new_process() -> None:
    load_rules(RULES)  # store the entry this process and the next share
    loaded = _modules_after(f"from eligibility import load_rules\nload_rules({str(RULES)!r})")
    assert not {"yaml", "eligibility._yaml", "eligibility.rulefile"} & loaded


def test_public_names_still_resolve() -> None:
    import eligibility

    for name in eligibility.__all__:
        assert getattr(eligibility, name) is not None, name
    with pytest.raises(AttributeError):
        eligibility.no_such_name  # noqa: B018
    assert "Engine" in dir(eligibility)


def test_explain_stays_the_function_after_its_module_is_imported() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import eligibility, eligibility.explain, eligibility.cli\n"
            "from eligibility import explain\n"
            "print(callable(explain), callable(eligibility.explain))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["True", "True"]
