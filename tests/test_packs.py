"""Local rules that need a monitoring line the sources do not give (Shaanxi), and optional parameters.

The 安康 focus line and the 西安 medical warning lines are cited local values, but Shaanxi's own line
after 2021 was not found, so bundled rules cannot evaluate those cities on their dates (an error, by
design). Here a test-only overlay supplies a line, to check that the local rules themselves work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eligibility import Engine

from .conftest import household, wage_only

SHAANXI_LINE = """parameters:
  monitoring_line:
    values:
      - from: {since}
        value: 7000
        cite: [{{source: YYX, note: test-only value}}]
"""


def _with_line(rules_copy: Path, since: str = "2023-01-01") -> Engine:
    """The bundled rules plus a test-only Shaanxi line from ``since``."""
    (rules_copy / "shaanxi" / "parameters").mkdir(exist_ok=True)
    text = SHAANXI_LINE.format(since=since)
    (rules_copy / "shaanxi" / "parameters" / "test-line.yaml").write_text(text, encoding="utf-8")
    return Engine(rules_copy)


def _warnings(engine: Engine, h: dict[str, Any], on: str) -> list[str]:
    return [w.code for w in engine.evaluate(h, on).warnings if w.certain]


def test_ankang_focus_line_for_former_poor_households(rules_copy: Path) -> None:
    engine = _with_line(rules_copy)
    below = household(region="610902101001", household_type="脱贫户", income=wage_only(23999.97))
    at = household(region="610902101001", household_type="脱贫户", income=wage_only(24000))
    general = household(region="610902101001", household_type="一般农户", income=wage_only(23999.97))
    assert "focus_income_former_poor" in _warnings(engine, below, "2023-06-30")
    assert "focus_income_former_poor" not in _warnings(engine, at, "2023-06-30")
    assert "focus_income_former_poor" not in _warnings(engine, general, "2023-06-30")
    # the same household elsewhere in Shaanxi: the rule does not apply and the trace says why
    d = engine.evaluate(dict(below, region="610102101001"), "2023-06-30", trace="full")
    skipped = {s.id: s.reason for s in d.trace.skipped}
    assert "focus_income_former_poor" in skipped["warning.focus_income_former_poor"]


def test_xian_medical_warning_thresholds(rules_copy: Path) -> None:
    engine = _with_line(rules_copy, since="2025-01-01")

    def h(kind: str, pay: float, monitored: bool = False) -> dict[str, Any]:
        status = "监测中" if monitored else "未纳入监测"
        return household(
            region="610112101001",
            household_type=kind,
            income=wage_only(60000),
            rigid_expenditure={"medical_self_pay": pay, "education": 0},
            monitoring={"status": status},
        )

    on = "2025-06-30"
    assert "medical_burden" in _warnings(engine, h("一般农户", 26000.01), on)
    assert "medical_burden" not in _warnings(engine, h("一般农户", 26000), on)
    assert "medical_burden" in _warnings(engine, h("脱贫户", 10000.01), on)
    assert "medical_burden" not in _warnings(engine, h("脱贫户", 10000), on)
    # before the notice took effect the warning does not apply
    assert "medical_burden" not in _warnings(engine, h("一般农户", 30000), "2025-04-24")


def test_optional_band_warning_applies_only_where_set(rules_copy: Path) -> None:
    band = """parameters:
  warning_band_above_line:
    values:
      - from: 2023-01-01
        value: 500
        cite: [{source: TPL_RYG, note: test-only value}]
"""
    (rules_copy / "anhui-huaibei" / "parameters" / "band.yaml").write_text(band, encoding="utf-8")
    engine = Engine(rules_copy)
    inside = household(income=wage_only(25199.97))  # 8399.99: within 500 above 7,900
    edge = household(income=wage_only(25200))  # 8400: the band's upper edge is excluded
    assert "near_line" in _warnings(engine, inside, "2023-06-30")
    assert "near_line" not in _warnings(engine, edge, "2023-06-30")
    bundled = Engine()
    d = bundled.evaluate(inside, "2023-06-30", trace="full")
    assert "warning.near_line" in {s.id for s in d.trace.skipped}


def test_dehua_line_is_twice_the_yearly_rural_dibao() -> None:
    """德化 sets its line at 2 × the rural 低保 standard × 12 (DEHUA24): the two values must agree."""
    from datetime import date

    chain = Engine(engines=("reference",)).rules.chain("fujian-dehua")
    on = date(2024, 6, 30)
    dibao = chain.param_hit("dibao_monthly", on).value
    assert chain.param_hit("monitoring_line", on).value == dibao * 12 * 2


def test_every_pack_with_a_line_has_rule_tests_of_its_own() -> None:
    """A pack that sets a monitoring line ships YAML cases on both sides of it (issue: tests per pack)."""
    rules = Engine(engines=("reference",)).rules
    for pid, pack in rules.packs.items():
        if any(v.value is not None for v in pack.values.get("monitoring_line", [])):
            tests = Path(pack.directory) / "tests"
            assert tests.is_dir() and any(tests.glob("*.yaml")), pid


def test_inherit_hands_the_line_back_to_the_parent() -> None:
    """元谋's own 2023 line ends with `inherit`: from 2024 the Yunnan line applies there."""
    from datetime import date

    chain = Engine(engines=("reference",)).rules.chain("yunnan-yuanmou")
    assert chain.param_hit("monitoring_line", date(2023, 6, 30)).value == 8050
    hit = chain.param_hit("monitoring_line", date(2024, 6, 30))
    assert (hit.value, hit.pack) == (8700, "yunnan")
