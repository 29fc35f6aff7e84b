"""Invariants the engine guarantees for every household, checked on generated households.

Each test's docstring states the policy it protects. Profiles: ``make test`` runs the quick profile,
``make proptest`` the thorough one (HYPOTHESIS_PROFILE=thorough).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eligibility import Decision, Engine, Household, MissingParameterError, parse_household
from eligibility import strategies as els

ENGINE = Engine()
SECOND = Engine(ENGINE.rules)
DATES = st.sampled_from([date(2021, 6, 30), date(2023, 6, 30), date(2024, 3, 31)])
# Regions whose packs have a monitoring line on the dates above for at least one of them.
REGIONS = ["340602", "621102", "620102", "110101"]


def outcome(d: Decision) -> tuple[Any, ...]:
    """What was decided, without paths or digests that name members by position."""
    i = d.identification
    return (
        i.status,
        i.category.code if i.category else None,
        sorted(f.code for f in i.risks if f.certain),
        sorted(f.code for f in i.reviews if f.certain),
        sorted(f.code for f in i.exclusions if f.certain),
        sorted(m.name for m in i.blocking),
    )


def decide(data: dict[str, Any], on: date) -> Decision:
    try:
        return ENGINE.evaluate(data, on, trace="full")
    except MissingParameterError:
        assume(False)  # no line for that jurisdiction and year: an error, covered elsewhere
        raise


@given(els.household_data())
def test_every_generated_household_validates_and_round_trips(data: dict[str, Any]) -> None:
    """The strategies are valid by construction, and a household survives JSON unchanged — a county
    system can store and resend what it was given."""
    h = parse_household(json.dumps(data, ensure_ascii=False))
    assert Household.model_validate_json(h.model_dump_json()) == h


@given(st.from_type(Household))
def test_from_type_draws_households_through_the_entry_point(h: Household) -> None:
    """``st.from_type(Household)`` works in any test suite that installs eligibility."""
    assert Household.model_validate_json(h.model_dump_json()) == h


@st.composite
def candidates(draw: st.DrawFn) -> dict[str, Any]:
    """Complete households, not yet monitored, with clean information comparison and a per-capita
    income below 8,000 yuan: most are identified, so the invariants about identified households are
    exercised instead of filtered away."""
    data = draw(
        els.household_data(
            regions=REGIONS,
            per_capita=st.integers(0, 800_000).map(lambda c: Decimal(c) / 100),
            missing=False,
        )
    )
    data["monitoring"] = {"status": "未纳入监测"}
    data["evidence"] = {k: False for k in ("commercial_housing", "vehicle", "business_registration", "public_payroll")}
    for m in data["members"]:
        m["public_payroll"] = False
    return data


@given(els.household_data(regions=REGIONS), DATES)
def test_same_input_gives_byte_identical_decision_json(data: dict[str, Any], on: date) -> None:
    """Decisions never silently differ between runs or engines instances (design.md: the same
    household, date and rules give the same bytes)."""
    first = decide(data, on).to_json()
    assert SECOND.evaluate(json.dumps(data, ensure_ascii=False), on, trace="full").to_json() == first
    assert decide(data, on).to_json() == first
    compact = ENGINE.evaluate(data, on).to_json()
    assert SECOND.evaluate(json.dumps(data, ensure_ascii=False).encode(), on).to_json() == compact


@given(els.household_data(regions=REGIONS, min_members=2), DATES, st.randoms(use_true_random=False))
def test_member_order_does_not_change_the_decision(data: dict[str, Any], on: date, rnd: Any) -> None:
    """The household is the unit of identification (policy.md §1.1): listing its members in another
    order cannot change the outcome."""
    assume("members" in data)
    shuffled = dict(data, members=rnd.sample(data["members"], len(data["members"])))
    assert outcome(decide(shuffled, on)) == outcome(decide(data, on))


@given(candidates(), DATES, st.integers(1, 1_000_000))
def test_lowering_income_never_removes_an_identification(data: dict[str, Any], on: date, cents: int) -> None:
    """Entry is by income below the line (policy.md §1.2): a household that is identified stays
    identified when its income falls, all else equal."""
    before = decide(data, on)
    assume(before.identification.status == "identified")
    wage = data["income"]["wage"]
    assume(wage > 0)
    lowered = dict(data, income=dict(data["income"], wage=max(0, round(wage - cents / 100, 2))))
    assert decide(lowered, on).identification.status == "identified"


RISKS = {
    "housing": lambda d: dict(d, housing={"grade": "D", "only_dwelling": True}),
    "water": lambda d: dict(d, water=dict(d.get("water", {}), outage_days_per_year=200)),
    "medical": lambda d: dict(d, members=[dict(d["members"][0], basic_medical_insurance=False), *d["members"][1:]]),
    "food": lambda d: dict(d, basic_needs={"food_secure": False, "clothing_secure": True}),
}


@given(candidates(), DATES, st.sampled_from(sorted(RISKS)))
def test_adding_a_guarantee_or_water_risk_never_removes_an_identification(
    data: dict[str, Any], on: date, risk: str
) -> None:
    """A new 三保障 or drinking-water problem can only add to a household's difficulties
    (policy.md §4.3): it never turns an identified household into a non-identified one."""
    before = decide(data, on)
    assume(before.identification.status == "identified")
    after = decide(RISKS[risk](data), on)
    assert after.identification.status == "identified"


def _used_paths(d: Decision, data: dict[str, Any]) -> list[tuple[str, ...]]:
    """Household paths read by the rules that fired (directly, or through a derived fact)."""
    chain = ENGINE.rules.chain(d.jurisdiction.code)
    subjects: set[str] = set()

    def walk(c: Any) -> None:
        if c.subject:
            subjects.add(c.subject)
        for s in c.sources:
            if s.kind in ("fact", "field") and s.name:
                subjects.add(s.name)
        for k in c.children:
            walk(k)

    for r in d.trace.rules:
        if r.outcome == "fired":
            walk(r.condition)
    fields: set[str] = set()
    todo = list(subjects)
    while todo:
        name = todo.pop()
        fact = chain.facts.get(name)
        if fact is None:
            fields.add(name)
        else:
            fields.update(fact.fields)
            todo.extend(fact.facts)
    out: list[tuple[str, ...]] = []
    for f in sorted(fields):
        if _required(f):  # taking it away makes the record invalid (an error), not a gap
            continue
        if "[]." in f:
            coll, sub = f.split("[].", 1)
            out += [(coll, str(i), sub) for i, m in enumerate(data.get(coll, []) or []) if sub in m]
        elif "." in f:
            section, key = f.split(".", 1)
            if key in (data.get(section) or {}):
                out.append((section, key))
        elif f in data and f != "members":
            out.append((f,))
    return out


def _required(path: str) -> bool:
    """Whether the model field at ``path`` (``members[].member_id``, ``income.wage``) must be present."""
    model: Any = Household
    for part in path.replace("[]", "").split("."):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if field.is_required():
            return True
        inner = [a for a in getattr(field.annotation, "__args__", (field.annotation,)) if a is not type(None)]
        inner = [getattr(a, "__args__", (a,))[0] for a in inner]  # tuple[Member, ...] → Member
        model = next((a for a in inner if isinstance(a, type) and hasattr(a, "model_fields")), None)
        if model is None:
            return False
    return False


def _without(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = json.loads(json.dumps(data, ensure_ascii=False))
    target = out
    for p in path[:-1]:
        target = target[int(p)] if isinstance(target, list) else target[p]
    del target[path[-1]]
    return out


@given(st.one_of(candidates(), els.household_data(regions=REGIONS)), DATES, st.data())
def test_removing_a_fact_a_fired_rule_used_never_yields_not_identified(
    data: dict[str, Any], on: date, pick: st.DataObject
) -> None:
    """Missing data is unknown, not false (design.md): taking away a value the decision rested on
    can make the case needs_review, or leave it as it was — never turn it into a rejection."""
    before = decide(data, on)
    paths = _used_paths(before, data)
    assume(paths)
    path = pick.draw(st.sampled_from(paths))
    after = decide(_without(data, path), on)
    assert after.identification.status in (before.identification.status, "needs_review"), path


@st.composite
def monitored(draw: st.DrawFn) -> dict[str, Any]:
    """Complete households under monitoring, identified long enough ago, a measure delivered, income
    around and above the lines: exit is often eligible, often blocked."""
    data = draw(
        els.household_data(
            regions=["340602", "621102"],
            per_capita=st.integers(700_000, 1_200_000).map(lambda c: Decimal(c) / 100),
            missing=False,
        )
    )
    if draw(st.booleans()):  # half of them with every guarantee secured, so eligibility is common
        data["water"] = {"litres_per_person_day": 60, "piped": True, "outage_days_per_year": 0, "quality": "达标"}
        data["housing"] = {"grade": "A", "only_dwelling": True}
        data["basic_needs"] = {"food_secure": True, "clothing_secure": True}
        data["rigid_expenditure"] = {"medical_self_pay": 0, "education": 0, "disaster_loss": 0}
        for m in data["members"]:
            m.update(basic_medical_insurance=True, dropped_out=False, labour="普通劳动力")
    data["monitoring"] = {
        "status": "监测中",
        "identified_on": "2022-06-01",
        "risks": draw(
            st.lists(st.sampled_from(["因病", "住房出现安全问题", "因安全饮水", "因学"]), max_size=3, unique=True)
        ),
        "measures": [{"type": "产业帮扶", "delivered_on": "2022-07-01"}],
    }
    return data


@given(monitored(), st.sampled_from([date(2023, 6, 30), date(2024, 3, 31)]))
@settings(suppress_health_check=[HealthCheck.filter_too_much])  # about one draw in four is exit-eligible
def test_an_exit_eligible_household_keeps_none_of_its_risks(data: dict[str, Any], on: date) -> None:
    """风险消除 requires 两不愁三保障 and drinking water secured and the entry risks eliminated
    (policy.md §8.1): a household found eligible for exit has no food/clothing, education, medical,
    housing or water risk left — not even an unconfirmed one."""
    d = decide(data, on)
    assume(d.exit.status == "eligible")
    assert d.identification.risks == ()
    assert not any(b.certain for b in d.exit.blockers)


SENSITIVE_HEALTH = ("健康", "长期慢性病", "患有大病", "残疾")


@given(st.lists(candidates(), min_size=1, max_size=4), DATES)
def test_the_village_notice_never_shows_sensitive_data(households: list[dict[str, Any]], on: date) -> None:
    """公示 must not contain ID-document numbers, mobile numbers, bank accounts or health status
    (QINAN; policy.md §6.3) — whatever the households hold."""
    from eligibility.publicity import publicity_rows, render_csv, render_text

    items = []
    for data in households:
        h = parse_household(data)
        try:
            items.append((h, ENGINE.evaluate(h, on)))
        except MissingParameterError:
            continue
    rows = publicity_rows(items, ENGINE.rules)
    assume(rows)
    for text in (render_csv(rows), render_csv(rows, "en"), render_text(rows)):
        for data in households:
            secrets = [data.get("bank_account")]
            for m in data["members"]:
                secrets += [m.get("id_number"), m.get("phone"), str(m.get("disability_grade", "")) + "级"]
            for secret in filter(None, secrets):
                assert secret not in text
        for word in SENSITIVE_HEALTH:
            assert word not in text
