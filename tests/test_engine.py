"""The reference evaluator: decisions, traces, determinism, overlays and the deduction switch."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

from eligibility import Engine, explain, load_rules
from eligibility.decision import Trace

from .conftest import household, wage_only


def test_general_household_at_the_line_is_not_identified_one_yuan_below_is_marginal(engine: Engine) -> None:
    at = engine.evaluate(household(income=wage_only(23700)), "2023-06-30")
    below = engine.evaluate(household(income=wage_only(23697)), "2023-06-30")
    assert at.identification.status == "not_identified"
    assert below.identification.status == "identified"
    assert below.identification.category is not None and below.identification.category.zh == "边缘易致贫户"


def test_the_same_numbers_for_a_former_poor_household_give_unstable(engine: Engine) -> None:
    at = engine.evaluate(household(household_type="脱贫户", income=wage_only(23700)), "2023-06-30")
    below = engine.evaluate(household(household_type="脱贫户", income=wage_only(23697)), "2023-06-30")
    assert at.identification.status == "not_identified"
    assert below.identification.category is not None and below.identification.category.zh == "脱贫不稳定户"


def test_above_the_line_without_water_data_needs_review_naming_the_water_facts(engine: Engine) -> None:
    d = engine.evaluate(household(income=wage_only(30000), water=None), "2023-06-30")
    ident = d.identification
    assert ident.status == "needs_review"
    names = {m.name for m in ident.blocking}
    assert {"water.litres_per_person_day", "water.piped", "water.outage_days_per_year", "water.quality"} <= names
    fields = {f for m in ident.blocking for f in m.fields}
    assert "$.water.quality" in fields
    assert all(name.startswith("water.") for name in names)


def test_trace_records_the_parameter_with_its_date_pack_and_citation(engine: Engine) -> None:
    d = engine.evaluate(household(income=wage_only(23697)), "2023-06-30", trace="full")
    rule = next(r for r in d.trace.rules if r.id == "identification.income_below_line")
    assert rule.outcome == "fired"
    leaf = rule.condition
    assert (leaf.subject, leaf.op, leaf.actual, leaf.expected) == ("per_capita_net_income", "lt", 7899, 7900)
    src = leaf.sources[0]
    assert (src.kind, src.name, src.pack) == ("parameter", "monitoring_line", "anhui-huaibei")
    assert (src.valid_from, src.valid_until) == (date(2023, 1, 1), date(2024, 1, 1))
    assert src.citations[0].source == "seed:HUAIBEI"
    assert [c.source for c in rule.citations] == ["QINAN", "DEQIN", "YJQ"]
    assert [p.code for p in d.trace.pack_chain] == ["national", "anhui", "anhui-huaibei"]


def test_trace_shows_each_fact_with_its_formula_and_numbers(engine: Engine) -> None:
    d = engine.evaluate(household(), "2023-06-30", trace="full")
    facts = {f.name: f for f in d.trace.facts}
    assert facts["net_income"].substituted == "14000 + 12400 − 3000 + 300 + 0"
    assert facts["net_income"].value == 23700
    assert facts["per_capita_net_income"].substituted == "23700 / 3"
    assert "= 23700 / 3 = 7900" in explain(d)


def test_every_rule_in_force_is_in_the_trace(engine: Engine) -> None:
    d = engine.evaluate(household(), "2023-06-30", trace="full")
    chain = engine.rules.chain("anhui-huaibei")
    assert {r.id for r in d.trace.rules} == {r.id for r, _ in chain.in_force(date(2023, 6, 30))}
    assert {r.outcome for r in d.trace.rules} <= {"fired", "not_fired", "unknown"}


def test_decision_json_is_deterministic(engine: Engine) -> None:
    h = household(water=None)
    a = engine.evaluate(h, "2023-06-30").to_json()
    b = Engine(engine.rules).evaluate(json.dumps(h), date(2023, 6, 30)).to_json()
    assert a == b
    # The labelled form names the category (the compact wire form writes its code: docs/trace.md).
    assert "边缘易致贫户" in engine.evaluate(household(income={"property": 297}), "2023-06-30").model_dump_json()


def test_input_digest_changes_with_the_input(engine: Engine) -> None:
    a = engine.evaluate(household(), "2023-06-30", trace="full").trace.input_digest
    b = engine.evaluate(household(income={"wage": 14001}), "2023-06-30", trace="full").trace.input_digest
    assert a != b and a.startswith("sha256:")


def test_fingerprint_changes_when_a_rule_file_changes(rules_copy: Path) -> None:
    before = load_rules(rules_copy).chain("gansu").fingerprint
    f = rules_copy / "gansu" / "parameters" / "income.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("7800", "7801"), encoding="utf-8")
    after = load_rules(rules_copy).chain("gansu").fingerprint
    other = load_rules(rules_copy).chain("anhui-huaibei").fingerprint
    assert before != after
    assert other == load_rules(Path(__file__).parent.parent / "rules").chain("anhui-huaibei").fingerprint


def test_missing_line_is_named_and_only_what_needs_it_is_undecided(engine: Engine) -> None:
    """合肥 (安徽省, no line of its own) in 2023: the line is a configuration gap, named with the
    jurisdiction and the rules that read it; income-dependent rules are unknown, the rest decided."""
    d = engine.evaluate(household(region="340102001001"), "2023-06-30", trace="full")
    [gap] = d.missing_parameters
    assert gap.name == "monitoring_line" and "安徽省" in gap.jurisdiction
    assert "identification.income_below_line" in gap.rules and "exit.blocker.income" in gap.rules
    assert d.identification.status == "needs_review"
    assert isinstance(d.trace, Trace)
    outcomes = {r.id: r.outcome for r in d.trace.rules}
    assert outcomes["identification.income_below_line"] == "unknown"
    assert outcomes["identification.risk.housing"] in ("fired", "not_fired")
    # the gap is not passed off as missing household data
    assert all(m.fields for m in (*d.identification.blocking, *d.identification.unknown))
    leaf = next(r for r in d.trace.rules if r.id == "identification.income_below_line").condition
    sources = [s for n in _leaves(leaf) for s in n.sources if s.kind == "parameter"]
    assert sources and all(s.pack is None and s.valid_from is None for s in sources)


def _leaves(node: Any) -> list[Any]:
    return [node] if not node.children else [x for c in node.children for x in _leaves(c)]


DEDUCTION_PACK = """id: deduction-demo
name: {zh: 扣减规则示范县, en: Deduction demo county}
regions: ["990101"]
extends: national
"""
DEDUCTION_PARAMS = """parameters:
  rigid_expenditure_deduction:
    values:
      - from: 2021-01-01
        value: true
        cite: [{source: MANWAN22}]
"""


def _overlay(rules_copy: Path, extra: dict[str, str]) -> Engine:
    pack = rules_copy / "deduction-demo"
    (pack / "parameters").mkdir(parents=True)
    (pack / "pack.yaml").write_text(DEDUCTION_PACK, encoding="utf-8")
    (pack / "parameters" / "switch.yaml").write_text(DEDUCTION_PARAMS, encoding="utf-8")
    for rel, text in extra.items():
        (pack / rel).parent.mkdir(parents=True, exist_ok=True)
        (pack / rel).write_text(text, encoding="utf-8")
    return Engine(rules_copy)


def _hardship() -> dict[str, object]:
    h = household(region="990101001001", income=wage_only(20000), rigid_expenditure={"medical_self_pay": 3000})
    h["members"][0]["health"] = ["患有大病"]  # type: ignore[index]
    return h


def test_deduction_switch_identifies_sudden_hardship(rules_copy: Path) -> None:
    engine = _overlay(rules_copy, {})
    d = engine.evaluate(_hardship(), "2021-06-30", trace="full")
    assert d.identification.status == "identified"
    assert d.identification.category is not None and d.identification.category.code == "sudden_hardship"
    facts = {f.name: f.value for f in d.trace.facts}
    assert facts["per_capita_income_after_rigid_spending"] == 5400  # (20000 − 3000 − 800) / 3


def test_national_rules_send_the_same_household_to_review(engine: Engine) -> None:
    h = _hardship()
    h["region"] = "110101001001"
    d = engine.evaluate(h, "2021-06-30", trace="full")
    assert d.identification.status == "needs_review"
    assert [r.code for r in d.identification.reviews] == ["rigid_spending_hardship"]


def test_overlay_can_disable_and_replace_rules(rules_copy: Path) -> None:
    pack_yaml = DEDUCTION_PACK + (
        "disable:\n  - rule: identification.exclusion.vehicle\n"
        "    reason: {zh: 本县车辆不作比对线索, en: vehicles are not evidence here}\n"
        "    cite: [{source: TPL_CMP}]\n"
    )
    replacement = (
        "rules:\n  - id: identification.risk.housing\n    replaces: identification.risk.housing\n"
        "    label: {zh: 住房为D级危房, en: Only D counts}\n"
        "    versions:\n      - from: 2021-01-01\n        cite: [{source: HUAIYUAN}]\n"
        "        when: {fact: housing.grade, eq: D}\n    then: [{risk: housing_safety}]\n"
    )
    engine = _overlay(rules_copy, {"pack.yaml": pack_yaml, "identification/housing.yaml": replacement})
    h = household(region="990101001001", income=wage_only(30000), evidence={"vehicle": True}, housing={"grade": "C"})
    d = engine.evaluate(h, "2021-06-30", trace="full")
    ids = {r.id: r for r in d.trace.rules}
    assert "identification.exclusion.vehicle" not in ids
    assert ids["identification.risk.housing"].pack == "deduction-demo"
    assert d.identification.exclusions == () and d.identification.risks == ()
    d2 = engine.evaluate({**h, "housing": {"grade": "D", "only_dwelling": False}}, "2021-06-30", trace="full")
    assert [r.code for r in d2.identification.risks] == ["housing_safety"]


def test_region_prefix_picks_the_most_specific_pack(engine: Engine) -> None:
    rs = engine.rules
    assert rs.pack_for_region("340602001001") == "anhui-huaibei"
    assert rs.pack_for_region("340102") == "anhui"
    assert rs.pack_for_region("620102") == "gansu"
    assert rs.pack_for_region("110101") == "national"


def test_concurrent_evaluations_match_sequential_ones(engine: Engine) -> None:
    inputs = [household(income=wage_only(20000 + i * 500)) for i in range(16)]
    expected = [engine.evaluate(h, "2023-06-30").to_json() for h in inputs]
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = engine.evaluate(inputs[i], "2023-06-30").to_json()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(16)] == expected


def test_explain_in_chinese_and_english(engine: Engine) -> None:
    d = engine.evaluate(household(income={"property": 297}), "2023-06-30", trace="full")
    zh, en = explain(d), explain(d, "en")
    assert "结论：已识别为监测对象 — 边缘易致贫户" in zh
    assert "低于阈值 1 元/人·年" in zh
    assert "Decision: identified as a monitoring object" in en
    assert "1 元/人·年 below the threshold" in en


VETO_PARAMS = """parameters:
  exclusion_veto:
    values:
      - from: 2021-01-01
        value: true
        cite: [{source: YN24, clause: 原则上不得纳入的情形}]
"""


def test_exclusion_evidence_goes_to_review_unless_the_jurisdiction_vetoes(rules_copy: Path, engine: Engine) -> None:
    """Issue 11 §7: nationally, information-comparison evidence is a basis for the village review (needs_review);
    a jurisdiction that documents a veto switches it, and the trace says which policy applied."""
    h = household(region="990101001001", income=wage_only(15000), evidence={"vehicle": True})
    national = engine.evaluate(h, "2021-06-30", trace="full")
    assert national.identification.status == "needs_review"
    assert [f.code for f in national.identification.exclusions] == ["vehicle"]
    outcomes = {r.id: r.outcome for r in national.trace.rules}
    assert outcomes["identification.exclusion.veto"] == "not_fired"
    assert {f.name: f.value for f in national.trace.facts}["exclusion_veto_adopted"] is False

    veto_engine = _overlay(rules_copy, {"parameters/veto.yaml": VETO_PARAMS})
    vetoed = veto_engine.evaluate(h, "2021-06-30", trace="full")
    assert vetoed.identification.status == "not_identified"
    assert {r.id: r.outcome for r in vetoed.trace.rules}["identification.exclusion.veto"] == "fired"
    assert {f.name: f.value for f in vetoed.trace.facts}["exclusion_veto_adopted"] is True
    clean = {
        **h,
        "evidence": {
            "commercial_housing": False,
            "vehicle": False,
            "business_registration": False,
            "public_payroll": False,
        },
    }
    assert veto_engine.evaluate(clean, "2021-06-30").identification.status == "identified"
