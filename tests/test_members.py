"""Measures per member (issue 11 §2): the ``members: {where: ...}`` selector in every target.

The compiled Python target, the polars target and the reference interpreter must name the same members
(and the same members to review) for every measure and gap; the decision, ``explain`` and the batch
table show them; rule files with a wrong selector get a diagnostic at the right place.
"""

from __future__ import annotations

import io
import json
import pickle
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility import Engine, load_rules
from eligibility import strategies as els
from eligibility._oracle import ReferenceInterpreter
from eligibility.cli import main
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.explain import explain
from eligibility.io.writers import decision_table, flatten_decisions
from eligibility.loader import lint
from eligibility.models import parse_household
from eligibility.testing import collect

from .conftest import EXAMPLES, RULES, population_examples

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)
ORACLE = ReferenceInterpreter(RULESET, engines=("reference",))
CASES = RULES / "national" / "tests" / "members.yaml"


def _cases() -> list[tuple[str, dict[str, Any], date]]:
    cases, problems = collect(CASES)
    assert not problems
    return [(c.name, c.household, c.as_of) for c in cases]


def _named(decision: Any) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    a = decision.assistance
    return {
        (kind, f.code): ([m.member_id for m in f.members], [m.member_id for m in f.members_to_review])
        for kind, items in (("measure", a.required), ("gap", a.gaps))
        for f in items
        if f.members is not None
    }


def _polars_rows(population: list[tuple[dict[str, Any], date]]) -> list[dict[str, Any]]:
    frame = households_frame([parse_household(d) for d, _ in population], [on for _, on in population])
    return list(decide_table(RULESET, frame).iter_rows(named=True))


def test_the_three_targets_name_the_same_members_on_the_rule_tests() -> None:
    """Every case of members.yaml (listed members, members to review, per-member gaps): compiled Python,
    reference interpreter and polars agree, and the cases do name members (the check is not vacuous)."""
    cases = _cases()
    rows = _polars_rows([(h, on) for _, h, on in cases])
    named = review = 0
    for (name, h, on), row in zip(cases, rows, strict=True):
        ours = ENGINE.evaluate(h, on, trace="none")
        oracle = ORACLE.evaluate(h, on)
        assert _named(ours) == _named(oracle), name
        assert ours.assistance.gaps == oracle.assistance.gaps, name
        expected = decision_row(ours)
        assert row["member_measures"] == expected["member_measures"], name
        assert row["gaps"] == expected["gaps"], name
        named += sum(len(m) for m, _ in _named(ours).values())
        review += sum(len(r) for _, r in _named(ours).values())
    assert named >= 20 and review >= 4


def test_each_rule_test_alone_names_the_same_members() -> None:
    """Each case of members.yaml decided as a part of its own: the member selection takes one way per
    part (a household's coverage as one value where no delivered measure of the part names members,
    else per member: docs/batch-speed.md, session 22 pmem), so a case with measures that name nobody
    takes the first way here though the whole list above takes the second; both ways are met."""
    ways = set()
    for name, h, on in _cases():
        (row,) = _polars_rows([(h, on)])
        expected = decision_row(ENGINE.evaluate(h, on, trace="none"))
        assert row["member_measures"] == expected["member_measures"], name
        assert row["gaps"] == expected["gaps"], name
        measures = (h.get("monitoring") or {}).get("measures") or []
        ways.add(any(m.get("member_id") for m in measures if m))
    assert ways == {False, True}


@st.composite
def _monitored(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    """A household under monitoring (so the assistance rules apply), members and measures drawn with
    missing fields, on a date around the microcredit terms' start."""
    h = draw(els.household_data(missing=True))
    h["monitoring"] = {**draw(els._monitoring()), "status": "监测中", "identified_on": "2023-01-10"}
    on = draw(st.sampled_from([date(2023, 12, 31), date(2024, 1, 1), date(2024, 6, 30)]))
    return h, on


@population_examples(25)
@given(st.lists(_monitored(), min_size=1, max_size=6))
def test_member_lists_agree_on_generated_monitored_households(population: list[tuple[dict[str, Any], date]]) -> None:
    rows = _polars_rows(population)
    for (h, on), row in zip(population, rows, strict=True):
        ours = ENGINE.evaluate(h, on, trace="none")
        assert _named(ours) == _named(ORACLE.evaluate(h, on)), (h, on)
        assert row["member_measures"] == decision_row(ours)["member_measures"], (h, on)
        assert row["gaps"] == decision_row(ours)["gaps"], (h, on)


def test_a_member_whose_data_is_missing_is_listed_for_review_not_dropped() -> None:
    _, h, on = next(c for c in _cases() if c[0].startswith("残疾等级未填"))
    d = ENGINE.evaluate(h, on, trace="none")
    f = next(f for f in d.assistance.required if f.code == "disability_support")
    assert [(m.index, m.member_id) for m in f.members] == [(1, "1")]
    assert [(m.index, m.member_id) for m in f.members_to_review] == [(2, "2")]


def test_the_decision_names_members_by_position_and_member_id_never_by_id_number() -> None:
    data = json.loads((EXAMPLES / "23-huaibei-measures-per-member.json").read_text(encoding="utf-8"))
    d = ENGINE.evaluate(data, "2023-09-30", trace="none")
    text = d.to_json()
    out = json.loads(text)["assistance"]["required"]
    major = next(f for f in out if f["code"] == "major_illness_treatment")
    assert major["members"] == [{"index": 2, "member_id": "2"}] and major["members_to_review"] == []
    household_level = next(f for f in out if f["code"] == "development")
    assert household_level["members"] is None
    for m in data["members"]:
        assert m["id_number"] not in text and m["name"] not in text


def test_explain_names_the_members_in_chinese_and_english() -> None:
    data = json.loads((EXAMPLES / "23-huaibei-measures-per-member.json").read_text(encoding="utf-8"))
    d = ENGINE.evaluate(data, "2023-09-30", trace="full")
    zh, en = explain(d, "zh"), explain(d, "en")
    assert "健康帮扶：三重保障、大病集中救治与医疗救助：成员2（编号 2） ← assistance.major_illness" in zh
    assert "有医疗保障需求但未落实健康帮扶：成员2（编号 2） ← assistance.gap.medical" in zh
    assert ": member 4 (id 4) ← assistance.public_welfare_job" in en


def test_the_batch_table_has_a_member_column(tmp_path: Path) -> None:
    """The decision table (polars target) and its CSV form: one column naming members per measure."""
    data = json.loads((EXAMPLES / "23-huaibei-measures-per-member.json").read_text(encoding="utf-8"))
    frame = decide_table(RULESET, households_frame([parse_household(data)], date(2023, 9, 30)))
    cell = frame.get_column("member_measures").to_list()[0]
    assert {"kind": "gap", "code": "medical_measure_missing", "members": [2], "members_to_review": []} in cell
    from_engine = decision_table([(0, ENGINE.evaluate(data, "2023-09-30", trace="none"))])
    assert from_engine.get_column("member_measures").to_list() == [cell]
    flat = flatten_decisions(frame, lang="zh", rules=RULESET)
    text = flat.get_column("帮扶措施落实到人（成员序号）").to_list()[0]
    assert "公益岗位帮扶：乡村公益性岗位（弱劳动力、半劳动力）：成员4" in text
    assert "有医疗保障需求但未落实健康帮扶：成员2" in text
    src = tmp_path / "h.jsonl"
    src.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "d.csv"
    assert main(["batch", str(src), "--as-of", "2023-09-30", "-o", str(out)], out=io.StringIO()) == 0
    assert "帮扶措施落实到人（成员序号）" in out.read_text(encoding="utf-8").splitlines()[0]


def test_selectors_survive_the_rule_set_cache() -> None:
    """The loaded rules are pickled to the disk cache: selectors travel without their compiled closure."""
    copy = pickle.loads(pickle.dumps(RULESET))
    data = json.loads((EXAMPLES / "23-huaibei-measures-per-member.json").read_text(encoding="utf-8"))
    assert _named(Engine(copy).evaluate(data, "2023-09-30", trace="none")) == _named(
        ORACLE.evaluate(data, "2023-09-30")
    )
    assert _named(ReferenceInterpreter(copy, engines=("reference",)).evaluate(data, "2023-09-30"))


_RULE = (
    "rules:\n  - id: assistance.t\n    label: {zh: 测试, en: test}\n"
    "    versions: [{from: 2021-01-01, cite: [{source: QINAN}], when: {fact: household_size, gt: 0}}]\n"
)


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        (
            "    then: [{warning: near_line, members: {where: 'true'}}]\n",
            "EL101 `members` goes only with `measure` or `gap`",
        ),
        (
            "    then: [{measure: safety_net, members: {where: member.labour == '普通劳动力' and member.helth}}]\n",
            "EL204 unknown field `member.helth` (did you mean `health`?)",
        ),
        (
            "    then: [{gap: safety_net_missing, members: {where: 'true', not_delivered: [综合保障, 兜底]}}]\n",
            "EL214 unknown measure type `兜底`",
        ),
    ],
)
def test_selector_diagnostics(rules_copy: Path, monkeypatch: pytest.MonkeyPatch, then: str, expected: str) -> None:
    target = rules_copy / "national" / "assistance" / "t.yaml"
    target.write_text(_RULE + then, encoding="utf-8")
    monkeypatch.chdir(rules_copy.parent)
    got = [str(d) for d in lint("rules")]
    code, english = expected.split(" ", 1)
    # Chinese first, English beside (issue 15 §5): the code, then both languages.
    assert len(got) == 1 and f" {code} " in got[0] and english in got[0], got
    assert " / " in got[0]
    assert got[0].startswith("rules/national/assistance/t.yaml:5:")


def test_a_kept_member_copy_is_given_again_only_for_the_same_member_references() -> None:
    """The Python target keeps each finding it copies with members by (finding, positions listed, positions
    to review) (``members_py._COPIES``): another household with the same members at those positions gets
    the very same object; one whose members there have other ids gets its own, naming its own ids."""
    data = json.loads((EXAMPLES / "23-huaibei-measures-per-member.json").read_text(encoding="utf-8"))
    engine = Engine(RULESET)

    def major(d: Any) -> Any:
        return next(f for f in d.assistance.required if f.code == "major_illness_treatment")

    first = major(engine.evaluate(data, "2023-09-30", trace="none"))
    other = dict(data, household_id=data["household_id"] + "-b")
    assert major(engine.evaluate(other, "2023-09-30", trace="none")) is first
    renamed = json.loads(json.dumps(data))
    for m in renamed["members"]:
        m["member_id"] = "m" + m["member_id"]
    d = engine.evaluate(renamed, "2023-09-30", trace="none")
    assert [(m.index, m.member_id) for m in major(d).members] == [(2, "m2")]
    assert _named(d) == _named(ORACLE.evaluate(renamed, "2023-09-30"))
    assert [(m.index, m.member_id) for m in major(engine.evaluate(data, "2023-09-30", trace="none")).members] == [
        (2, "2")
    ]
