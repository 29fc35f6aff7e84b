"""One mistake, one diagnostic — in Chinese first, English beside — on typos planted in the bundled rules.

Each typo sits in a rule, fact or value that other rules read (the income rule is referenced by every
category, review and warning that tests the line), so a cascade would show as extra diagnostics. Every
diagnostic message of the loader is ``中文 / English``; the caret line names the code's Chinese title.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from eligibility.errors import render_diagnostic
from eligibility.loader import lint

RULES = Path(__file__).resolve().parent.parent / "rules"
INCOME = "national/identification/income.yaml"
HARDSHIP = "national/identification/sudden_hardship.yaml"
CJK = re.compile(r"[\u4e00-\u9fff]")
CODED = ("脱贫户", "一般农户", "脱贫")  # coded values quoted on both sides


def _halves(message: str) -> tuple[str, str]:
    """The Chinese and the English side of a message ``中文 / English`` (the slash may follow a "）")."""
    m = re.search(r"(?:\s|(?<=[）」]))/ ", message)
    assert m is not None, message
    return message[: m.start()], message[m.end() :]


def _plain_english(text: str) -> bool:
    for v in CODED:
        text = text.replace(v, "")
    return CJK.search(text) is None


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(RULES, dst)
    return dst


PLANTED = [
    # (file, original, typo, code, line of the typo, hint expected on the caret display)
    (INCOME, "          fact: per_capita_net_income", "          fcat: per_capita_net_income", "EL101", 15, None),
    (INCOME, "          lt: {param: monitoring_line}", "          lte: {param: monitoring_line}", "EL101", 16, None),
    (INCOME, "          lt: {param: monitoring_line}", "          lt: {param: monitoring_lin}", "EL205", 16, None),
    (INCOME, "{fact: household_type, eq: 脱贫户}", "{fact: household_type, eq: 脱贫}", "EL213", 26, None),
    (HARDSHIP, "{rule: identification.hardship.trigger}", "{rule: identification.hardship.triger}", "EL210", 48, None),
    (INCOME, "          fact: per_capita_net_income", "          fact：per_capita_net_income", "EL001", 16, "全角冒号"),
    (INCOME, "          lt: {param: monitoring_line}", "\t  lt: {param: monitoring_line}", "EL001", 16, "制表符"),
    ("gansu/parameters/income.yaml", "value: 7800\n", "value：7800\n", "EL001", 9, "全角冒号"),
]


@pytest.mark.parametrize(("rel", "old", "new", "code", "line", "hint"), PLANTED)
def test_one_planted_typo_gives_exactly_one_diagnostic(
    rules_copy: Path, rel: str, old: str, new: str, code: str, line: int, hint: str | None
) -> None:
    path = rules_copy / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    diags = lint(rules_copy)
    assert [(d.code, Path(d.location.path).name) for d in diags] == [(code, path.name)], [str(d) for d in diags]
    [d] = diags
    assert abs(d.location.line - line) <= 1  # YAML notices a full-width colon or a tab on the line after
    zh, en = _halves(d.message)
    assert CJK.search(zh) and en and _plain_english(en)
    shown = render_diagnostic(d)
    assert "^" in shown and f"{d.location.line} | " in shown
    if hint is not None:
        assert hint in shown


def test_every_loader_message_is_chinese_first(rules_copy: Path) -> None:
    """A file with many distinct mistakes: every diagnostic reads Chinese first, English after " / "."""
    broken = rules_copy / "national" / "identification" / "broken.yaml"
    broken.write_text(
        "rules:\n"
        "  - id: identification.broken\n"
        "    lable: {zh: 坏, en: broken}\n"
        "    versions:\n"
        "      - from: 2021-02-30\n"
        "        cite: [{source: NOPE}]\n"
        "        when: {fact: household_size, gt: 0, lt: 5}\n"
        "      - from: 2021-01-01\n"
        "        until: 2020-01-01\n"
        "        cite: []\n"
        "        when: {fact: per_capita_net_income, eq: true}\n"
        "    then: [{category: nothing}]\n",
        encoding="utf-8",
    )
    diags = lint(rules_copy)
    assert len(diags) >= 3
    for d in diags:
        zh, en = _halves(d.message)
        assert CJK.search(zh), str(d)
        assert en and _plain_english(en), str(d)
