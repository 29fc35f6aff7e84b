"""Diagnostics people can act on (issue 15): one mistake, one diagnostic, with the source line and a caret;
hints for full-width punctuation; lint checks the YAML test files; a failing test shows its thresholds;
``test --coverage`` reports rule and threshold coverage and fails under a bar."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eligibility.cli import main
from eligibility.coverage import measure
from eligibility.errors import CODES, CODES_ZH, Diagnostic, SourceLocation, punctuation_hints, render_diagnostic
from eligibility.loader import lint

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(RULES, dst)
    return dst


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_a_typo_inside_a_condition_gives_exactly_one_diagnostic_with_line_and_caret(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the broken income rule also produced an EL210 at every rule that refers to it (7 more)."""
    f = rules_copy / "national" / "identification" / "income.yaml"
    _edit(f, "fact: per_capita_net_income", "fcat: per_capita_net_income")
    diags = lint(rules_copy)
    assert [(d.code, d.location.line, d.location.col) for d in diags] == [("EL101", 15, 11)]
    assert main(["lint", str(rules_copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(
        "income.yaml:15:11: EL101 未知的键 `fcat`（是否应为 `fact`？） / unknown key `fcat` (did you mean `fact`?)"
    )
    assert out[1:] == [
        "   |",
        "15 |           fcat: per_capita_net_income",
        "   |           ^ 未知的键 / unknown-key",
    ]


def test_full_width_colon_gets_a_hint(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = rules_copy / "gansu" / "parameters" / "income.yaml"
    _edit(f, "value: 7800\n", "value：7800\n")
    assert main(["lint", str(rules_copy)]) == 1
    out = capsys.readouterr().out
    assert out.count(": EL") == 1
    assert "全角冒号「：」" in out and "full-width colon" in out


def test_punctuation_hints_only_where_yaml_syntax_is_expected() -> None:
    assert punctuation_hints("        value：8000")
    assert punctuation_hints("  items: [a，b]")
    assert punctuation_hints("\tvalue: 1") == ["制表符：YAML 缩进须用空格 / tab: YAML indents with spaces, never tabs"]
    assert punctuation_hints("\u3000\u3000value: 1")
    # Chinese text with full-width punctuation inside a label is not a mistake
    assert punctuation_hints("    label: {zh: 家庭人均纯收入，含转移性收入：工资, en: x}") == []


def test_caret_is_under_the_column_even_after_chinese_text() -> None:
    before = "  label: {zh: 监测范围, en: x, "
    src = f"a:\n{before}bad: 1}}\n"
    d = Diagnostic(SourceLocation("f.yaml", 2, len(before) + 1), "EL101", "unknown key `bad`")
    lines = render_diagnostic(d, src).splitlines()
    # 监测范围 is four wide characters: the caret sits four more columns right than the character count
    assert lines[3].index("^") - lines[2].index("  label") == len(before) + 4


def test_every_code_has_a_chinese_title_cause_and_fix() -> None:
    assert set(CODES_ZH) == set(CODES)
    assert all(all(part for part in v) for v in CODES_ZH.values())


def test_lint_checks_test_files_and_test_reports_diagnostics_not_pydantic(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = rules_copy / "gansu" / "tests" / "line.yaml"
    _edit(f, "expect: {status: identified, category: marginal}", "expect: {stauts: identified, category: marginal}")
    _edit(f, "household: {income: {wage: 21600}}", "household: {income: {wgae: 21600}}")
    diags = lint(rules_copy)
    assert [d.code for d in diags] == ["EL216", "EL216"]
    assert (
        "未知的键 `stauts`（是否应为 `status`？） / unknown key `stauts` (did you mean `status`?)" in diags[0].message
    )
    assert "$.income.wgae" in diags[1].message
    assert main(["test", str(rules_copy / "gansu")]) == 1
    out = capsys.readouterr().out
    assert "Extra inputs are not permitted" not in out
    # the other cases of the file still run (one bad case does not drop the file)
    assert "12 passed, 2 failed" in out  # line.yaml and exit_without_stable_income_gate.yaml


def test_a_failing_boundary_test_shows_the_income_and_the_line(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(rules_copy / "gansu" / "parameters" / "income.yaml", "value: 7800\n", "value: 7900\n")
    assert main(["test", str(rules_copy / "gansu")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "甘肃2024年人均恰好7800元，不因收入纳入" in out
    assert (
        "判定依据 / decided by: 家庭人均纯收入 7,800 < 防止返贫监测范围（家庭年人均纯收入） 7,900（甘肃省 2024-01-01 起"
        in out
    )


def test_coverage_of_rules_and_thresholds() -> None:
    cov = measure(RULES)
    assert not cov.diagnostics and not any(c.failures for c in cov.cases)
    income = cov.rules[("identification.income_below_line", __import__("datetime").date(2021, 1, 1))]
    assert income.outcomes["fired"] and income.outcomes["not_fired"]
    (t,) = [t for t in cov.thresholds.values() if t.rule == "identification.income_below_line"]
    assert (t.subject, t.op, t.param) == ("per_capita_net_income", "lt", "monitoring_line")
    assert all(t.sides[s] for s in ("below", "on", "above"))


def test_coverage_drops_when_the_boundary_tests_go(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Remove every income test: the income rule's threshold is no longer covered, --fail-under fails."""
    for f in rules_copy.rglob("tests/*.yaml"):
        f.unlink()
    cov = measure(rules_copy)
    (t,) = [t for t in cov.thresholds.values() if t.rule == "identification.income_below_line"]
    assert not t.complete and cov.percent() == (0.0, 0.0)
    assert main(["test", str(rules_copy), "--coverage", "--fail-under", "50"]) == 1
    assert "coverage below 50.0%" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("    expr: net_income / household_size", "    expr: net_incme / household_size", "EL204"),
        (
            "    label: {zh: 家庭人均纯收入, en: Per-capita net income}",
            "    lable: {zh: 家庭人均纯收入, en: Per-capita net income}",
            "EL101",
        ),
    ],
)
def test_a_broken_fact_is_one_diagnostic_not_one_per_rule_using_it(
    rules_copy: Path, old: str, new: str, code: str
) -> None:
    """Before: a typo in the per-capita income fact also gave EL204 at each of the 10 conditions using it."""
    _edit(rules_copy / "national" / "facts.yaml", old, new)
    diags = lint(rules_copy)
    assert [(d.code, Path(d.location.path).name) for d in diags] == [(code, "facts.yaml")]


def test_the_bundled_packs_cover_every_threshold_a_pack_gives_a_value() -> None:
    """Issue 15 §3: every threshold whose parameters some pack sets has tests below, on and above; those no pack
    sets (the 2026 认定标准, the near-line band) are listed apart, never counted as covered."""
    from eligibility.coverage import render_table

    cov = measure(Path(__file__).resolve().parents[1] / "rules")
    assert cov.percent()[1] == 100.0
    unvalued = {t.rule for t in cov.thresholds.values() if not t.valued}
    assert {"warning.near_line", "social.rigid_spending_hardship.eligible"} <= unvalued
    assert all(not t.complete for t in cov.thresholds.values() if not t.valued)
    assert "○ warning.near_line" in render_table(cov)
