"""Mutants of ``rules/`` through ``lint`` and ``load_rules`` (issue 13 §4, §6).

Every mutant is either accepted or reported as diagnostics of the documented form
``path:line:col: CODE message`` — never a traceback, never a hang: deep YAML and formulas, YAML tags,
truncated and non-UTF-8 files, FIFOs, devices, dangling links and link loops, oversized files, negative
money, ``javascript:`` URLs, empty or foreign region lists.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eligibility.errors import CODES, RuleFileError
from eligibility.loader import MAX_RULE_FILE_BYTES, lint, load_rules

from .conftest import COUNTS
from .corrupt import FUZZ_EXAMPLES

RULES = Path(__file__).resolve().parents[2] / "rules"
PACKS = ("national", "anhui", "anhui-huaibei")
FILES = [
    *sorted(
        str(p.relative_to(RULES))
        for pack in PACKS
        for p in (RULES / pack).rglob("*.yaml")
        if "tests" not in p.relative_to(RULES).parts
    ),
    "sources.yaml",
]
DIAGNOSTIC = re.compile(r"^.+:\d+:\d+: (EL\d{3}) \S")

VALUES = [
    "[" * 999 + "]" * 999,
    "{a: " * 300 + "1" + "}" * 300,
    "'" + "(" * 200 + "1" + ")" * 200 + "'",
    "'" + "not " * 400 + "true'",
    "'" + " + ".join(["income.wage"] * 800) + "'",
    "!!python/object/apply:os.system ['true']",
    "!foo bar",
    "-5",
    "-0.01",
    "'javascript:alert(1)'",
    "javascript:alert(1)",
    "[]",
    "{}",
    "null",
    "1e400",
    ".nan",
    "*undefined",
    "&a [*a, *a]",
    "'\u202e\x1b[2J'",
    "x" * 100_000,
    "2023-02-30",
    "'١٢'",
    '[""]',
]
SPECIAL = ["fifo", "dev_zero", "dangling", "loop", "directory", "huge", "bad_bytes", "truncate", "empty"]


def _mutate(root: Path, rel: str, how: str, draw: st.DataObject) -> None:
    target = root / rel
    if how == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif how == "dev_zero":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif how == "dangling":
        target.unlink()
        target.symlink_to(root / "no-such-file.yaml")
    elif how == "loop":
        target.unlink()
        other = target.with_name("zz-loop.yaml")
        other.symlink_to(target)
        target.symlink_to(other)
    elif how == "directory":
        target.unlink()
        target.mkdir()
    elif how == "huge":
        target.write_bytes(b"# " + b"x" * MAX_RULE_FILE_BYTES + b"\n")
    elif how == "bad_bytes":
        data = target.read_bytes()
        at = draw.draw(st.integers(0, len(data)))
        target.write_bytes(data[:at] + b"\xff\xfe" + data[at:])
    elif how == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: draw.draw(st.integers(0, len(data)))])
    elif how == "empty":
        target.write_bytes(b"")
    else:  # a value replaced, or a line repeated
        lines = target.read_text(encoding="utf-8").splitlines()
        candidates = [i for i, line in enumerate(lines) if re.match(r"^\s*[\w-]+: \S", line)]
        if not candidates:
            return
        i = draw.draw(st.sampled_from(candidates))
        if how == "repeat":
            lines.insert(i, lines[i])
        else:
            key = lines[i].split(": ", 1)[0]
            lines[i] = f"{key}: {draw.draw(st.sampled_from(VALUES))}"
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")


@settings(
    max_examples=max(8, FUZZ_EXAMPLES // 2),
    suppress_health_check=list(HealthCheck),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(st.sampled_from(FILES), st.sampled_from([*SPECIAL, "value", "value", "value", "repeat"]), st.data())
def test_a_rule_file_mutant_is_accepted_or_diagnosed(
    tmp_path_factory: pytest.TempPathFactory, rel: str, how: str, draw: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("rules") / "rules"
    root.mkdir()
    shutil.copy(RULES / "sources.yaml", root / "sources.yaml")
    for pack in PACKS:
        shutil.copytree(RULES / pack, root / pack, ignore=shutil.ignore_patterns("tests"))
    _mutate(root, rel, how, draw)
    diagnostics = lint(root)
    for d in diagnostics:
        match = DIAGNOSTIC.match(str(d))
        assert match and match.group(1) in CODES, str(d)
    try:
        load_rules(root, cache=False)
    except RuleFileError as exc:
        assert exc.diagnostics
        COUNTS["rules: mutants diagnosed"] += 1
    else:
        assert not diagnostics
        COUNTS["rules: mutants accepted"] += 1


def _pack(root: Path, pack: str, text: str) -> None:
    (root / pack / "pack.yaml").write_text(text, encoding="utf-8")


def _codes(root: Path) -> list[str]:
    return [f"{d.location.path.split('rules/', 1)[-1]} {d.code} {d.message}" for d in lint(root)]


def test_the_issues_rule_file_mutants_are_diagnosed(rules_copy: Path) -> None:
    """The cases the probe of issue 13 found accepted: each is now one diagnostic at its place."""
    _pack(
        rules_copy, "anhui-huaibei", "id: anhui-huaibei\nname: {zh: 淮北市, en: Huaibei}\nregions: []\nextends: anhui\n"
    )
    _pack(rules_copy, "anhui", "id: anhui\nname: {zh: 安徽省, en: Anhui}\nregions: ['34', '35']\nextends: national\n")
    _pack(rules_copy, "fujian", "id: fujian\nname: {zh: 福建省, en: Fujian}\nregions: ['٣٥']\nextends: national\n")
    sources = (rules_copy / "sources.yaml").read_text(encoding="utf-8")
    first_url = re.search(r"url: (\S+)", sources)
    assert first_url is not None
    (rules_copy / "sources.yaml").write_text(sources.replace(first_url.group(0), "url: javascript:alert(1)", 1))
    income = rules_copy / "national" / "parameters" / "income.yaml"
    text = income.read_text(encoding="utf-8")
    money = re.search(r"value: (\d+)", text)
    assert money is not None
    income.write_text(text.replace(money.group(0), "value: -" + money.group(1), 1), encoding="utf-8")
    found = "\n".join(_codes(rules_copy))
    assert "a pack that extends another must list its region prefixes" in found
    assert "region prefix `35` is outside the regions of pack" not in found  # anhui's parent covers all
    assert "region prefix `٣٥` must be 2 to 12 GB/T 2260 digits" in found
    assert (
        "sources.yaml EL103 来源网址须以 http:// 或 https:// 开头 / a source URL must begin with http:// or https://"
        in found
    )
    assert "is negative; money values are ≥ 0" in found


def test_a_child_region_outside_its_parent_is_diagnosed(rules_copy: Path) -> None:
    _pack(
        rules_copy,
        "anhui-huaibei",
        "id: anhui-huaibei\nname: {zh: 淮北市, en: Huaibei}\nregions: ['3506']\nextends: anhui\n",
    )
    assert any("region prefix `3506` is outside the regions of pack `anhui`" in c for c in _codes(rules_copy))


def test_a_parameter_redeclared_within_one_chain_is_diagnosed(rules_copy: Path) -> None:
    """Two unrelated packs may each declare a parameter; a pack re-declaring its ancestor's is an error."""
    decl = "parameters:\n  extra_line:\n    label: {zh: 额外, en: Extra}\n    type: money\n    values: []\n"
    for pack in ("gansu", "fujian"):  # unrelated: fine
        (rules_copy / pack / "parameters").mkdir(exist_ok=True)
        (rules_copy / pack / "parameters" / "zz.yaml").write_text(decl, encoding="utf-8")
    assert not [c for c in _codes(rules_copy) if "extra_line" in c]
    (rules_copy / "national" / "parameters" / "zz.yaml").write_text(decl, encoding="utf-8")
    redeclared = [c for c in _codes(rules_copy) if "extra_line" in c]
    assert len(redeclared) == 2 and all("EL206" in c and "already declared by pack `national`" in c for c in redeclared)
