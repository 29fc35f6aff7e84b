"""The 2026 scheme (issue 12): dated wording, undecided switches, the social-assistance layers, the worked
overlay of docs/schemes.md, and lead channels in the decision and in explain."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine
from eligibility.explain import explain
from eligibility.models import LeadChannel, parse_household
from eligibility.testing import iter_results

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "examples" / "overlay-2026"


def _yunnan(**changes: Any) -> dict[str, Any]:
    h: dict[str, Any] = {
        "household_id": "S-1",
        "region": "533423101001",
        "household_type": "一般农户",
        "members": [
            {
                "member_id": "1",
                "birth_date": "1975-03-02",
                "labour": "普通劳动力",
                "health": ["健康"],
                "basic_medical_insurance": True,
                "public_payroll": False,
                "dibao": False,
                "tekun": False,
            }
        ],
        "social_assistance": {"dibao_edge": False},
        "income": {"wage": "8699.99", "business_income": 0, "business_cost": 0, "property": 0, "transfer": 0},
        "rigid_expenditure": {"medical_self_pay": 0, "education": 0, "disaster_loss": 0},
        "housing": {"grade": "A", "only_dwelling": True},
        "water": {"litres_per_person_day": 60, "piped": True, "outage_days_per_year": 0, "quality": "达标"},
        "basic_needs": {"food_secure": True, "clothing_secure": True},
        "evidence": {
            "commercial_housing": False,
            "vehicle": False,
            "business_registration": False,
            "public_payroll": False,
        },
        "circumstances": {
            "disaster": False,
            "accident": False,
            "main_labourer_lost": False,
            "business_failed": False,
            "employment_unstable": False,
            "self_coping": False,
        },
        "monitoring": {"status": "未纳入监测"},
        "procedure": {"lead_found_on": "2025-12-20", "lead_channel": "部门筛查预警"},
    }
    h.update(changes)
    return h


def test_the_same_household_is_worded_by_each_scheme(engine: Engine) -> None:
    """2025-12-31: the transition period's name and object, identified; 2026-03-31: the 2026 name and object,
    undecided, naming the parameters the jurisdiction has not set — never the 2025 answer."""
    old = engine.evaluate(_yunnan(), "2025-12-31", trace="full")
    new = engine.evaluate(_yunnan(), "2026-03-31", trace="full")
    assert old.scheme is not None and new.scheme is not None
    assert (old.scheme.zh, old.scheme.object_zh, old.scheme.since) == (
        "防止返贫动态监测和帮扶机制（过渡期）",
        "监测对象",
        None,
    )
    assert (new.scheme.zh, new.scheme.object_zh) == ("常态化防止返贫致贫机制", "防止返贫致贫对象")
    assert str(new.scheme.since) == "2026-01-01" and "NO1_2026" in new.scheme.sources
    assert old.identification.status == "identified" and old.identification.category is not None
    assert new.identification.status == "needs_review"
    missing = {m.name for m in new.missing_parameters}
    assert {"monitoring_line", "transition_categories_retained", "household_type_decides_category"} <= missing
    text_old, text_new = explain(old), explain(new)
    assert "已识别为监测对象" in text_old and "政策：防止返贫动态监测和帮扶机制（过渡期）" in text_old
    assert "政策：常态化防止返贫致贫机制，自 2026-01-01 起" in text_new and "HAN2026" in text_new
    assert "transition_categories_retained" in text_new
    # The channel is the same code, worded as on each date (农业农村部 2026: 部门大数据预警).
    assert old.lead is not None and new.lead is not None
    assert old.lead.channel is not None and new.lead.channel is not None
    assert (old.lead.channel.code, old.lead.channel.zh) == ("department", "部门筛查预警")
    assert (new.lead.channel.code, new.lead.channel.zh) == ("department", "部门大数据预警")
    assert "风险线索：部门大数据预警 2025-12-20" in text_new


def test_either_wording_of_a_channel_is_accepted_and_anything_else_is_not() -> None:
    assert LeadChannel("部门大数据预警") is LeadChannel.department
    assert LeadChannel("基层日常排查") is LeadChannel.grassroots
    assert parse_household(_yunnan(procedure={"lead_channel": "基层日常排查"})).procedure is not None
    with pytest.raises(Exception, match=r"\$\.procedure\.lead_channel"):
        parse_household(_yunnan(procedure={"lead_channel": "电话"}))


def test_the_engine_and_the_oracle_word_labels_alike(engine: Engine) -> None:
    """Both evaluators take the dated wording from the same vocabulary: their decisions are equal."""
    from eligibility._oracle import ReferenceInterpreter

    oracle = ReferenceInterpreter(engine.rules, engines=("reference", "durable"))
    for on in ("2025-12-31", "2026-01-01", "2026-03-31"):
        h = parse_household(_yunnan())
        ours = engine.evaluate(h, on, trace="full")
        theirs = oracle.evaluate(h, on)
        assert ours.model_dump(exclude={"trace"}) == theirs.model_dump(exclude={"trace"})


@pytest.fixture
def demo_rules(tmp_path: Path) -> Path:
    """The bundled rules plus the worked overlay of docs/schemes.md, as a county would install it."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(OVERLAY, rules / "demo-2026")
    return rules


def test_the_worked_overlay_decides_and_its_tests_pass(demo_rules: Path) -> None:
    """A jurisdiction that has set its 2026 standard and switches decides; its YAML tests (both sides of every
    threshold: the line, the 低保 standard, the multiple, the ratio, the disposable income) all pass."""
    results = list(iter_results(demo_rules / "demo-2026"))
    assert len(results) >= 15
    failures = [(c.name if c else None, fails, diags) for c, fails, diags in results if fails or diags]
    assert failures == []
    engine = Engine(demo_rules)
    d = engine.evaluate(
        _yunnan(
            region="990101001001",
            income={"wage": "8999.99", "business_income": 0, "business_cost": 0, "property": 0, "transfer": 0},
        ),
        "2026-03-31",
    )
    assert d.identification.status == "identified" and d.missing_parameters == ()
    assert [f.code for f in d.identification.layers if f.certain] == ["dibao_edge_eligible"]


def test_a_planted_wrong_expectation_in_the_overlay_fails(demo_rules: Path) -> None:
    """The overlay's tests can fail: moving the 低保 standard makes exactly its boundary cases fail."""
    params = demo_rules / "demo-2026" / "parameters" / "scheme2026.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("value: 700", "value: 710"), encoding="utf-8")
    failed = [c.name for c, fails, _ in iter_results(demo_rules / "demo-2026") if c and fails]
    assert any("8400" in name for name in failed)


def test_a_dated_category_wording_reaches_decisions_and_tables(rules_copy: Path) -> None:
    """Labels are dated like parameters: a wording version on a category is used by the engine from its date
    on (and not before), and by the table writer for the run's assessment date."""
    import polars as pl

    from eligibility.io.writers import flatten_decisions

    vocab = rules_copy / "national" / "vocabulary.yaml"
    text = vocab.read_text(encoding="utf-8")
    old = "  marginal:\n    label: {zh: 边缘易致贫户, en: Marginal household at risk of becoming poor}\n"
    assert old in text
    new = old + (
        "    versions:\n      - from: 2026-01-01\n"
        "        label: {zh: 边缘易致贫户（新措辞）, en: Marginal household (new wording)}\n"
        "        cite: [{source: HAN2026}]\n"
    )
    vocab.write_text(text.replace(old, new), encoding="utf-8")
    engine = Engine(rules_copy)
    rules = engine.rules
    assert rules.vocab("category", "marginal", None).zh == "边缘易致贫户"
    assert rules.vocab("category", "marginal", parse_date("2025-12-31")).zh == "边缘易致贫户"
    assert rules.vocab("category", "marginal", parse_date("2026-01-01")).zh == "边缘易致贫户（新措辞）"
    before = engine.evaluate(_yunnan(), "2025-12-31")
    assert before.identification.category is not None
    assert before.identification.category.zh == "边缘易致贫户"
    frame = pl.DataFrame({"category": ["marginal"]})
    assert flatten_decisions(frame, rules=rules, on=parse_date("2025-12-31")).row(0) == ("边缘易致贫户",)
    assert flatten_decisions(frame, rules=rules, on=parse_date("2026-03-31")).row(0) == ("边缘易致贫户（新措辞）",)


def parse_date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)
