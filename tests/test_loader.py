"""Rule-file diagnostics: whole lines ``path:line:col: CODE message``, every problem in one pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eligibility import RuleFileError, lint, load_rules
from eligibility.errors import CODES

ROOT = Path(__file__).resolve().parent.parent


def _lint(rules_copy: Path, monkeypatch: pytest.MonkeyPatch, rel: str, text: str) -> list[str]:
    target = rules_copy / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    monkeypatch.chdir(rules_copy.parent)
    return [str(d) for d in lint("rules")]


def test_bundled_rules_are_clean() -> None:
    assert lint(ROOT / "rules") == []


def test_misspelt_key_bad_date_and_unknown_fact_in_one_pass(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "rules:\n"
        "  - id: identification.broken\n"
        "    lable: {zh: 坏规则, en: Broken rule}\n"
        "    versions:\n"
        "      - from: 2023-02-30\n"
        "        cite: [{source: QINAN}]\n"
        "        when: {fact: per_capita_net_incom, lt: {param: monitoring_line}}\n"
    )
    f = "rules/national/identification/broken.yaml"
    assert _lint(rules_copy, monkeypatch, "national/identification/broken.yaml", text) == [
        f"{f}:3:5: EL101 未知的键 `lable`（是否应为 `label`？） / unknown key `lable` (did you mean `label`?)",
        f"{f}:5:15: EL104 `2023-02-30` 不是日期（YYYY-MM-DD）/ `2023-02-30` is not a date (YYYY-MM-DD)",
        f"{f}:7:22: EL204 未知的事实 `per_capita_net_incom`（是否应为 `per_capita_net_income`？） / unknown fact `per_capita_net_incom` (did you mean `per_capita_net_income`?)",
    ]


def test_cli_lint_exits_1_without_traceback(rules_copy: Path) -> None:
    (rules_copy / "national" / "identification" / "broken.yaml").write_text(
        "rules:\n  - id: x.y\n    label: {zh: 坏, en: bad}\n    versions: [{from: 2021-01-01, cite: [{source: NOPE}], when: {fact: household_size, gt: 0}}]\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "eligibility.cli", "lint", "rules"],
        cwd=rules_copy.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert (
        lines[0] == "rules/national/identification/broken.yaml:4:51: EL203 未登记的来源 `NOPE` / unknown source `NOPE`"
    )
    # the source line and a caret under column 51, labelled with the code's title (Chinese first)
    assert lines[2].startswith("4 |     versions: [{from: 2021-01-01, cite: [{source: NOPE}]")
    assert lines[3] == "  | " + " " * 50 + "^ 未登记的来源 / unknown-source"
    assert len(lines) == 4
    assert "Traceback" not in proc.stderr


RULE = "rules:\n  - id: identification.t\n    label: {{zh: 测, en: t}}\n    versions:\n{versions}"
V = "      - from: {start}\n        until: {until}\n        cite: [{{source: QINAN}}]\n        when: {when}\n"


def _rule(*versions: tuple[str, str, str]) -> str:
    return RULE.format(versions="".join(V.format(start=s, until=u, when=w) for s, u, w in versions))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _rule(
                ("2021-01-01", "2023-01-01", "{fact: household_size, gt: 0}"),
                ("2022-01-01", "null", "{fact: household_size, gt: 0}"),
            ),
            "9:9: EL201 自 2022-01-01 起的版本与自 2021-01-01 起的版本（至 2023-01-01）重叠 / version from 2022-01-01 overlaps the version from 2021-01-01 (until 2023-01-01)",
        ),
        (
            _rule(("2023-01-01", "2022-01-01", "{fact: household_size, gt: 0}")),
            "6:16: EL201 版本结束日（2022-01-01）早于开始日（2023-01-01）/ version ends (2022-01-01) before it starts (2023-01-01)",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: per_capita_net_income, eq: true}")),
            "8:49: EL208 `per_capita_net_income`（金额）不能与 `true`（是/否）比较 / cannot compare `per_capita_net_income` (money) with `true` (yes/no)",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: per_capita_net_income, lt: {param: monitoring_lin}}")),
            "8:57: EL205 未知的参数 `monitoring_lin`（是否应为 `monitoring_line`？） / unknown parameter `monitoring_lin` (did you mean `monitoring_line`?)",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: household_type, eq: 贫困户}")),
            "8:42: EL213 `贫困户` 不是可选值（脱贫户、一般农户）/ `贫困户` is not one of: 脱贫户, 一般农户",
        ),
        (
            _rule(("2021-01-01", "null", "{rule: identification.incom_below_line}")),
            "8:22: EL210 未知的规则 `identification.incom_below_line`（是否应为 `identification.income_below_line`？） / unknown rule `identification.incom_below_line` (did you mean `identification.income_below_line`?)",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: household_size, gt: 0, lt: 5}")),
            "8:15: EL103 `household_size` 的条件须有且只有一个运算符 / a condition on `household_size` needs exactly one operator of eq, ne, lt, le, gt, ge, in, between, known",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: household_size, gte: 0}")),
            "8:38: EL101 未知的键 `gte`（是否应为 `gt`？） / unknown key `gte` (did you mean `gt`?)",
        ),
        (
            "rules:\n  - id: identification.income_below_line\n    label: {zh: 重复, en: dup}\n"
            "    versions: [{from: 2021-01-01, cite: [{source: QINAN}], when: {fact: household_size, gt: 0}}]\n",
            "2:9: EL206 规则编号 `identification.income_below_line` 已被使用",
        ),
        (
            _rule(("2021-01-01", "null", "{fact: household_size, gt: 0}")).replace(
                "cite: [{source: QINAN}]", "cite: []"
            ),
            "5:9: EL202 规则 `identification.t` 自 2021-01-01 起的版本没有出处（请添加 `cite:` 并写明来源）/ version from 2021-01-01 of rule `identification.t` has no citation (add `cite:` with a source)",
        ),
    ],
)
def test_rule_file_diagnostics(rules_copy: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str) -> None:
    got = _lint(rules_copy, monkeypatch, "national/identification/t.yaml", text)
    assert len(got) == 1, got
    assert got[0].startswith(f"rules/national/identification/t.yaml:{expected}"), got


def test_rule_cycle_is_reported(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "rules:\n"
        "  - id: a.one\n    label: {zh: 一, en: one}\n"
        "    versions: [{from: 2021-01-01, cite: [{source: QINAN}], when: {rule: a.two}}]\n"
        "  - id: a.two\n    label: {zh: 二, en: two}\n"
        "    versions: [{from: 2021-01-01, cite: [{source: QINAN}], when: {not: {rule: a.one}}}]\n"
    )
    got = _lint(rules_copy, monkeypatch, "national/identification/cycle.yaml", text)
    assert got == [
        "rules/national/identification/cycle.yaml:2:9: EL207 规则相互依赖成环 / rules depend on each other in a circle: a.one → a.two → a.one"
    ]


def test_fact_problems(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = (rules_copy / "national" / "facts.yaml").read_text(encoding="utf-8")
    facts += (
        "  loop_a:\n    label: {zh: 甲, en: a}\n    expr: loop_b + 1\n"
        "  loop_b:\n    label: {zh: 乙, en: b}\n    expr: loop_a + 1\n"
        "  bad_syntax:\n    label: {zh: 丙, en: c}\n    expr: net_income + * 2\n"
        "  bad_type:\n    label: {zh: 丁, en: d}\n    expr: net_income + household_type\n"
        "  bad_fn:\n    label: {zh: 戊, en: e}\n    expr: agee(members)\n"
    )
    got = _lint(rules_copy, monkeypatch, "national/facts.yaml", facts)
    tail = [g.split("facts.yaml:", 1)[1] for g in got]
    n = facts.count("\n") - 15
    assert tail == [
        f"{n + 1}:3: EL207 事实相互依赖成环 / facts depend on each other in a circle: loop_a → loop_b → loop_a",
        f"{n + 9}:24: EL209 此处应为一个值，实际是 `*` / expected a value, found `*`",
        f"{n + 12}:24: EL208 `+` 须为数值，实际是文本 / `+` needs numbers, got a text value",
        f"{n + 15}:11: EL211 未知的函数 `agee`（是否应为 `age`？） / unknown function `agee` (did you mean `age`?)",
    ]


def test_unknown_extends_and_duplicate_parameter(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (rules_copy / "gansu" / "pack.yaml").write_text(
        "id: gansu\nname: {zh: 甘肃省, en: Gansu}\nregions: ['62']\nextends: nationa\n", encoding="utf-8"
    )
    (rules_copy / "anhui" / "parameters").mkdir(exist_ok=True)
    (rules_copy / "anhui" / "parameters" / "x.yaml").write_text(
        "parameters:\n  monitoring_line:\n    label: {zh: 线, en: line}\n    type: money\n    values: []\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(rules_copy.parent)
    got = [str(d) for d in lint("rules")]
    assert got == [
        "rules/anhui/parameters/x.yaml:2:3: EL206 参数 `monitoring_line` 已在规则包 `national` 中声明，此处只写 `values` / parameter `monitoring_line` is already declared by pack `national`; give only `values` here",
        "rules/gansu/pack.yaml:4:10: EL212 未知的规则包 `nationa`（是否应为 `national`？） / unknown pack `nationa` (did you mean `national`?)",
    ]


def test_parameter_values_must_be_dated_in_order_and_typed(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "parameters:\n  monitoring_line:\n    values:\n"
        "      - {from: 2024-01-01, value: 7800, cite: [{source: GS24}]}\n"
        "      - {from: 2023-01-01, value: yes please, cite: [{source: GS24}]}\n"
    )
    got = _lint(rules_copy, monkeypatch, "gansu/parameters/income.yaml", text)
    assert got == [
        "rules/gansu/parameters/income.yaml:5:16: EL215 `2023-01-01` 不晚于上一个值的日期 / `2023-01-01` is not after the previous value's date",
        "rules/gansu/parameters/income.yaml:5:35: EL208 `yes please` 不是金额（参数 `monitoring_line` 的类型为金额）/ `yes please` is not a money value (parameter `monitoring_line` is money)",
    ]


def test_misplaced_file_is_reported(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _lint(rules_copy, monkeypatch, "national/identifcation/x.yaml", "rules: []\n")
    assert got == [
        "rules/national/identifcation/x.yaml:1:1: EL101 文件不在规定的位置（是否应为 `identification`？） / file is not in a known place (did you mean `identification`?)"
    ]


def test_load_rules_raises_one_error_with_every_diagnostic(rules_copy: Path) -> None:
    (rules_copy / "national" / "identification" / "a.yaml").write_text("rules: [1, 2]\n", encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_rules(rules_copy)
    assert len(info.value.diagnostics) == 2
    assert all(d.code == "EL103" for d in info.value.diagnostics)


def test_every_code_is_documented() -> None:
    page = (ROOT / "docs" / "rule-files.md").read_text(encoding="utf-8")
    for code, (name, _, _) in CODES.items():
        assert f"`{code}`" in page and name in page, code


def test_packs_extending_each_other_are_one_diagnostic(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (rules_copy / "anhui" / "pack.yaml").write_text(
        "id: anhui\nname: {zh: 安徽省, en: Anhui}\nregions: ['34']\nextends: anhui-huaibei\n", encoding="utf-8"
    )
    monkeypatch.chdir(rules_copy.parent)
    assert [str(d) for d in lint("rules")] == [
        "rules/anhui-huaibei/pack.yaml:4:10: EL212 规则包经 `anhui-huaibei` 相互继承成环 / packs extend each other in a circle through `anhui-huaibei`"
    ]
