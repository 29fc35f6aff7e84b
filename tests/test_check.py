"""``eligibility check``: overlap and gap of the category rules, each shown by a household the real engine
evaluates (eligibility.check). The fixture rule folders are small and written here, from one template, with
one planted mistake each; the bundled rules are checked as they are."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from eligibility import Engine, load_rules
from eligibility.check import check_rules, render_table
from eligibility.cli import main
from eligibility.errors import MissingParameterError
from eligibility.models import parse_household

from .test_engine import DEDUCTION_PACK, DEDUCTION_PARAMS

ROOT = Path(__file__).resolve().parent.parent

_SOURCES = """\
sources:
  FIX:
    title: "Fixture source for the completeness check"
    grade: D
"""

_PACK = """\
id: national
name: {zh: 全国, en: National}
regions: []
"""

_VOCAB = """\
categories:
  unstable_former_poor: {label: {zh: 脱贫不稳定户, en: Former-poor at risk}, cite: [{source: FIX}]}
  marginal: {label: {zh: 边缘易致贫户, en: Marginal}, cite: [{source: FIX}]}
  sudden_hardship: {label: {zh: 突发严重困难户, en: Sudden hardship}, cite: [{source: FIX}]}
"""

_FACTS = """\
facts:
  household_size: {label: {zh: 家庭人口数, en: Household size}, expr: count(members)}
  net_income: {label: {zh: 家庭纯收入, en: Net income}, expr: income.wage + income.transfer}
  per_capita_net_income: {label: {zh: 家庭人均纯收入, en: Per-capita net income}, expr: net_income / household_size}
"""

_PARAMS = """\
parameters:
  monitoring_line:
    label: {zh: 监测范围, en: Monitoring line}
    type: money
    values:
      - {from: 2024-01-01, value: 7000, cite: [{source: FIX}]}
"""

_RULES = """\
rules:
  - id: identification.income_below_line
    label: {zh: 收入低于监测范围, en: Income below the line}
    versions:
      - from: 2024-01-01
        cite: [{source: FIX}]
        when: {fact: per_capita_net_income, lt: {param: monitoring_line}}
  - id: identification.category.unstable_former_poor
    label: {zh: 脱贫不稳定户, en: Former-poor below the line}
    versions:
      - from: 2024-01-01
        cite: [{source: FIX}]
        when:
          all:
            - {fact: household_type, FORMER_POOR}
            - {rule: identification.income_below_line}
    then: [{category: unstable_former_poor}]
MARGINAL_SMALL
MARGINAL_LARGE
  - id: identification.category.sudden_hardship
    label: {zh: 受灾且收入不低于监测范围, en: Hit by a disaster and not below the line}
    versions:
      - from: 2024-01-01
        cite: [{source: FIX}]
        when:
          all:
            - {fact: per_capita_net_income, HARDSHIP: {param: monitoring_line}}
            - {fact: circumstances.disaster, eq: true}
    then: [{category: sudden_hardship}]
"""


_MARGINAL = """\
  - id: identification.category.marginal_{name}
    label: {{zh: 边缘易致贫户（{zh}）, en: Marginal ({name} household)}}
    versions:
      - from: 2024-01-01
        cite: [{{source: FIX}}]
        when:
          all:
            - {{fact: household_type, eq: 一般农户}}
            - {{fact: household_size, {size}}}
            - {{rule: identification.income_below_line}}
    then: [{{category: marginal}}]"""


def _folder(
    tmp_path: Path,
    former_poor: str = "eq: 脱贫户",
    large: str = "ge: 3",
    hardship: str = "ge",
    extra: dict[str, str] | None = None,
) -> Path:
    """A one-pack rule folder: category rules splitting on household type, size and the line; the
    defaults make them exclusive and complete, each argument can plant a mistake."""
    root = tmp_path / "rules"
    files = {
        "sources.yaml": _SOURCES,
        "national/pack.yaml": _PACK,
        "national/vocabulary.yaml": _VOCAB,
        "national/facts.yaml": _FACTS,
        "national/parameters/income.yaml": _PARAMS,
        "national/identification/income.yaml": _RULES.replace("FORMER_POOR", former_poor)
        .replace("MARGINAL_SMALL", _MARGINAL.format(name="small", zh="小户", size="le: 2"))
        .replace("MARGINAL_LARGE", _MARGINAL.format(name="large", zh="大户", size=large))
        .replace("HARDSHIP", hardship),
        **(extra or {}),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_complete_and_exclusive_rules_pass(tmp_path: Path) -> None:
    rules = load_rules(_folder(tmp_path))
    report = check_rules(rules)
    assert not report.failed
    assert report.findings == []
    # 5 pairs with different codes; the first 3 rules share their criterion (below the line): 1 gap
    # question; each of them divides the income axis with the hardship rule: 1 more (same criteria)
    assert [s.questions for s in report.spans] == [7]
    assert report.spans[0].dead == ()


def _evaluate(rules_dir: Path, record: dict[str, object], on: date) -> tuple[str, dict[str, str]]:
    """The example evaluated afresh by the real engine: status and each rule's outcome."""
    d = Engine(load_rules(rules_dir)).evaluate(parse_household(record), on, trace="full")
    assert d.trace is not None
    return d.identification.status, {r.id: r.outcome for r in d.trace.rules}


def test_planted_overlap_is_found_with_an_example(tmp_path: Path) -> None:
    # The typo: the former-poor category also takes general households.
    root = _folder(tmp_path, former_poor="in: [脱贫户, 一般农户]")
    report = check_rules(load_rules(root))
    assert report.failed
    overlaps = [f for f in report.findings if f.kind == "overlap"]
    assert {f.rules for f in overlaps} == {
        ("identification.category.unstable_former_poor", "identification.category.marginal_small"),
        ("identification.category.unstable_former_poor", "identification.category.marginal_large"),
    }
    assert [f for f in report.findings if f.kind == "gap"] == []
    for f in overlaps:
        assert f.confirmed and f.household is not None
        status, outcomes = _evaluate(root, f.household, f.as_of)
        assert status == "needs_review"  # two categories at once: the engine cannot identify
        assert outcomes[f.rules[0]] == outcomes[f.rules[1]] == "fired"
        assert f.household["household_type"] == "一般农户"


def test_planted_gap_is_found_with_an_example(tmp_path: Path) -> None:
    # The slip: small households are "le 2", larger ones "ge 4": a general household of three falls through.
    root = _folder(tmp_path, large="ge: 4")
    report = check_rules(load_rules(root))
    assert report.failed
    assert [f for f in report.findings if f.kind == "overlap"] == []
    gaps = [f for f in report.findings if f.kind == "gap"]
    # One hole, reported once (the question pairing each rule with the hardship rule finds no other).
    assert [f.rules for f in gaps] == [
        (
            "identification.category.unstable_former_poor",
            "identification.category.marginal_small",
            "identification.category.marginal_large",
        )
    ]
    for f in gaps:
        assert f.confirmed and f.household is not None
        h = f.household
        members = h["members"]
        assert isinstance(members, list) and len(members) == 3
        assert h["household_type"] == "一般农户"
        status, outcomes = _evaluate(root, h, f.as_of)
        assert status == "not_identified"
        assert outcomes["identification.income_below_line"] == "fired"
        assert all(outcomes[r] == "not_fired" for r in outcomes if ".category." in r)


def test_planted_interval_overlap_and_gap_on_the_line(tmp_path: Path) -> None:
    # "le" where "ge" was meant: a household exactly at the line (or below it) is in two categories.
    root = _folder(tmp_path, hardship="le")
    overlaps = [f for f in check_rules(load_rules(root)).findings if f.kind == "overlap"]
    assert {f.rules[1] for f in overlaps} == {"identification.category.sudden_hardship"}
    assert len(overlaps) == 3 and all(f.confirmed for f in overlaps)
    for f in overlaps:
        assert f.household is not None
        status, outcomes = _evaluate(root, f.household, f.as_of)
        assert status == "needs_review" and outcomes[f.rules[0]] == outcomes[f.rules[1]] == "fired"
    # "gt" where "ge" was meant: exactly at the line, neither "below" nor "above" holds.
    root = _folder(tmp_path / "gt", hardship="gt")
    report = check_rules(load_rules(root))
    gaps = [f for f in report.findings if f.kind == "gap"]
    assert [f.kind for f in report.findings] == ["gap"] and gaps[0].confirmed
    h = gaps[0].household
    assert h is not None and h["circumstances"] == {"disaster": True}
    income = h["income"]
    assert isinstance(income, dict)
    assert Decimal(income["wage"]) + Decimal(income["transfer"]) == 7000 * len(h["members"])  # on the line
    status, outcomes = _evaluate(root, h, gaps[0].as_of)
    assert status == "not_identified" and outcomes["identification.income_below_line"] == "not_fired"


_FACTS_MONITORED = (
    _FACTS
    + """\
  months_monitored: {label: {zh: 监测月数, en: Months monitored}, expr: months_since(monitoring.identified_on)}
  review_due: {label: {zh: 满一年复核日, en: Review due}, expr: "add_months(monitoring.identified_on, 12)"}
"""
)
_MONITORED = """\
rules:
  - id: identification.category.long_monitored
    label: {zh: 监测满一年且收入低于监测范围, en: Monitored a year and below the line}
    versions:
      - from: 2024-01-01
        cite: [{source: FIX}]
        when:
          all:
            - {fact: WHEN}
            - {rule: identification.income_below_line}
    then: [{category: sudden_hardship}]
"""


def _monitored(tmp_path: Path, when: str) -> Path:
    rule = _MONITORED.replace("WHEN", when)
    return _folder(tmp_path, extra={"national/facts.yaml": _FACTS_MONITORED, "national/identification/m.yaml": rule})


def test_months_since_is_translated_and_its_overlap_confirmed(tmp_path: Path) -> None:
    root = _monitored(tmp_path, "months_monitored, ge: 12")
    report = check_rules(load_rules(root))
    overlaps = [f for f in report.findings if f.kind == "overlap"]
    assert overlaps and all(f.confirmed for f in overlaps) and report.spans[0].abstracted == ()
    for f in overlaps:
        assert f.household is not None
        status, outcomes = _evaluate(root, f.household, f.as_of)
        assert status == "needs_review"
        assert outcomes["identification.category.long_monitored"] == "fired" == outcomes[f.rules[0]]


def test_a_fact_outside_the_translation_is_abstracted_and_its_candidates_are_checked(tmp_path: Path) -> None:
    # add_months() is not translated: the fact is left free, so the solver proposes overlaps whose
    # households do not carry the data behind it (no identification date): the engine leaves the rule
    # unknown, refutes every candidate, and they are reported unconfirmed — never passed off as confirmed,
    # and not failing the check.
    report = check_rules(load_rules(_monitored(tmp_path, "review_due, le: 2024-06-01")))
    assert report.spans[0].abstracted == ("review_due",)
    unconfirmed = [f for f in report.findings if not f.confirmed]
    assert unconfirmed and {f.kind for f in unconfirmed} == {"overlap"}
    assert all("identification.category.long_monitored" in f.rules for f in unconfirmed)
    assert not report.failed and report.to_json()["unconfirmed"] == len(unconfirmed)
    assert "未能以实例证实" in render_table(report)


def test_unknown_data_is_review_not_a_gap(tmp_path: Path) -> None:
    # A household type left empty makes the category unknown: needs_review, which the check must not call a gap.
    root = _folder(tmp_path)
    record = {
        "household_id": "U",
        "members": [{"member_id": "1"}],
        "income": {"wage": 100, "transfer": 0},
    }
    status, _ = _evaluate(root, record, date(2024, 6, 1))
    assert status == "needs_review"
    assert check_rules(load_rules(root)).findings == []


def test_bundled_rules_have_no_overlap_or_gap() -> None:
    """The bundled packs, every chain and every span: no overlap, no gap (docs/check.md gives the reading)."""
    report = check_rules(load_rules(ROOT / "rules"))
    assert [f.to_json() for f in report.findings] == []
    assert len(report.spans) > 50
    national = [s for s in report.spans if s.pack == "national"]
    # 2026 adds the scheme's own category (prevention_object) beside the transition period's three.
    assert all(len(s.categories) == (4 if s.start.year >= 2026 else 3) for s in national)
    # Not vacuous: where the line has a value, the solver builds households that make the categories fire
    # (the engine confirms each); where it has none, or the deduction rule is not adopted, they cannot.
    sudden = ("identification.category.sudden_hardship",)
    every = (
        "identification.category.marginal",
        "identification.category.sudden_hardship",
        "identification.category.unstable_former_poor",
    )
    rules = load_rules(ROOT / "rules")
    for s in report.spans:
        chain = rules.chain(s.pack)
        try:
            line = chain.param_hit("monitoring_line", s.start).value
        except MissingParameterError:
            line = None
        adopted = chain.param_hit("rigid_expenditure_deduction", s.start).value
        assert not adopted  # no bundled pack adopts the deduction rule (docs/packs.md)
        if set(s.categories) == set(every):
            assert s.dead == (every if line is None else sudden), (s.pack, s.start)
    spans = {(s.pack, s.start.isoformat()) for s in report.spans}
    assert ("gansu", "2024-01-01") in spans and ("yunnan-yuanmou", "2023-01-01") in spans


def _cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    return main(["check", *argv], out=buf), buf.getvalue()


def test_cli_table_json_exit_codes_and_restrictions(tmp_path: Path) -> None:
    bad = str(_folder(tmp_path, large="ge: 4"))
    code, text = _cli(bad)
    assert code == 1
    assert "缺口 gap" in text and "marginal_small" in text and '"household_type": "一般农户"' in text
    code, text = _cli(bad, "--json")
    data = json.loads(text)
    assert code == 1 and data["gaps"] == 1 and data["overlaps"] == 0 and not data["ok"]
    assert data["spans"][0]["findings"][0]["household"]["household_type"] == "一般农户"
    code, text = _cli(str(ROOT / "rules"), "--pack", "yunnan-yuanmou", "--as-of", "2023-06-01")
    assert code == 0, text
    rows = text.splitlines()[1:-2]
    assert [r.split()[:2] for r in rows] == [["yunnan-yuanmou", "2023-06-01"]]
    assert _cli(str(ROOT / "rules"), "--pack", "nowhere")[0] == 2
    assert _cli(str(ROOT / "rules"), "--as-of", "2023-13-01")[0] == 2


def test_table_renders_every_span(tmp_path: Path) -> None:
    report = check_rules(load_rules(_folder(tmp_path)))
    text = render_table(report)
    assert "通过 ok" in text and "0 overlaps, 0 gaps" in text


_SUDDEN_GT = """rules:
  - id: demo.category.sudden_hardship
    replaces: identification.category.sudden_hardship
    label: {zh: 突发严重困难户（误写为高于）, en: Sudden hardship (mistyped as above)}
    versions:
      - from: 2021-01-01
        cite: [{source: MANWAN22}]
        when:
          all:
            - {fact: deduction_rule_adopted, eq: true}
            - {fact: per_capita_net_income, gt: {param: monitoring_line}}
            - {fact: per_capita_income_after_rigid_spending, lt: {param: monitoring_line}}
            - {rule: identification.hardship.trigger}
            - {fact: circumstances.self_coping, eq: false}
    then: [{category: sudden_hardship}]
"""


def _deduction_overlay(rules_copy: Path, sudden_gt: bool) -> Path:
    """The bundled rules with a demo county that adopts the deduction rule (docs/packs.md §0)."""
    pack = rules_copy / "deduction-demo"
    files = {"pack.yaml": DEDUCTION_PACK, "parameters/switch.yaml": DEDUCTION_PARAMS}
    if sudden_gt:
        files["identification/sudden.yaml"] = _SUDDEN_GT
    for rel, text in files.items():
        (pack / rel).parent.mkdir(parents=True, exist_ok=True)
        (pack / rel).write_text(text, encoding="utf-8")
    return rules_copy


def test_bundled_rules_with_the_deduction_rule_adopted(rules_copy: Path) -> None:
    # Adopted, the sudden-hardship category meets the income categories at the line ("ge" against "lt"):
    # every category can fire (the trigger over members, illness and schooling is translated, not assumed)
    # and there is neither overlap nor gap.
    root = _deduction_overlay(rules_copy, sudden_gt=False)
    report = check_rules(load_rules(root), packs=["deduction-demo"], as_of=date(2021, 6, 1))
    assert report.findings == []
    assert [s.dead for s in report.spans] == [()]
    assert report.spans[0].abstracted == ()


def test_bundled_rules_with_a_mistyped_deduction_category_leave_the_line_uncovered(rules_copy: Path) -> None:
    root = _deduction_overlay(rules_copy, sudden_gt=True)
    report = check_rules(load_rules(root), packs=["deduction-demo"], as_of=date(2021, 6, 1))
    [gap] = report.findings
    assert gap.kind == "gap" and gap.confirmed and gap.household is not None
    assert "demo.category.sudden_hardship" in gap.rules
    status, outcomes = _evaluate(root, gap.household, gap.as_of)
    assert status == "not_identified"
    assert outcomes["identification.income_below_line"] == "not_fired"  # exactly on the 2021 line of 6,000
    assert outcomes["identification.hardship.trigger"] == "fired"
    assert outcomes["identification.review.rigid_spending"] == "not_fired"
