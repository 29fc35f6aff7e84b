"""Hypothesis strategies for households, members, boundary incomes and assessment dates.

County systems and policy offices test their own integrations and rule changes with these
(``pip install eligibility[hypothesis]``)::

    from hypothesis import given
    from eligibility import strategies as els

    @given(els.households(regions=["340602"]))
    def test_our_pipeline_accepts_every_household(h): ...

Every strategy is valid by construction: what it draws passes :class:`~eligibility.Household`
validation. ``st.from_type(Household)`` works too — the package registers :func:`households` through
Hypothesis' entry point. Each docstring says what the strategy shrinks towards, so a failing example
comes out as the simplest household that still fails.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .conditions import Group, Leaf, Negation
from .errors import MissingParameterError
from .expressions import Node, names
from .facts import CATALOGUE
from .models import (
    HealthStatus,
    HouseholdType,
    HousingGrade,
    LabourCapacity,
    MeasureType,
    Member,
    MonitoringCategory,
    MonitoringStatus,
    Relation,
    RiskType,
    SchoolingStage,
    WaterQuality,
)
from .models import Household as Household
from .ruleset import Chain, RuleSet

__all__ = [
    "as_of_dates",
    "household_data",
    "households",
    "member_data",
    "members",
    "per_capita_around",
    "threshold_cases",
]

CENT = Decimal("0.01")
_NAMES = st.text("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗秀英华明国建军丽敏", min_size=2, max_size=3)
"""Chinese names from common characters (none of them a health-status word)."""
_LITRES = st.one_of(st.just(Decimal(60)), st.integers(0, 2000).map(lambda x: Decimal(x) / 10))
"""Litres per person per day; shrinks towards 60, a safe quantity, so water is not the first suspect."""
_CIRCUMSTANCES = ("disaster", "accident", "main_labourer_lost", "business_failed", "employment_unstable", "self_coping")
DEFAULT_REGIONS: tuple[str, ...] = ("340602", "340102", "621102", "620102", "110101")
"""淮北, 合肥, 甘肃 ×2, and 北京 (national rules only): one code for each bundled pack."""


def _money(max_value: int = 200_000) -> SearchStrategy[Decimal]:
    """Yuan with cents; shrinks towards 0."""
    return st.integers(0, max_value * 100).map(lambda c: Decimal(c) / 100)


def _optional(missing: bool | Collection[str], path: str) -> bool:
    """Whether the field at ``path`` may be absent under the ``missing`` setting."""
    if isinstance(missing, bool):
        return missing
    head = path.split(".", 1)[0]
    return path in missing or head in missing


def _fill(
    draw: st.DrawFn, fields: dict[str, SearchStrategy[Any]], missing: bool | Collection[str], prefix: str
) -> dict[str, Any]:
    """Draw each field; a field that may be missing is dropped when a coin says so (shrinks: kept)."""
    out: dict[str, Any] = {}
    for name, strategy in fields.items():
        if _optional(missing, f"{prefix}{name}") and draw(st.booleans()):
            continue
        out[name] = draw(strategy)
    return out


def _json(v: Any) -> Any:
    """JSON-ready: Decimal to float (exact for two-decimal amounts), dates to ISO text."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, list | tuple | frozenset | set):
        return [_json(x) for x in v]
    return v


@st.composite
def member_data(
    draw: st.DrawFn,
    *,
    member_id: str = "1",
    born: SearchStrategy[date] | None = None,
    missing: bool | Collection[str] = True,
) -> dict[str, Any]:
    """One member as JSON data. Shrinks towards a healthy, insured adult born on the earliest date,
    with every field present."""
    health = st.one_of(
        st.just([HealthStatus.healthy.value]),
        st.lists(
            st.sampled_from(
                [HealthStatus.chronic.value, HealthStatus.serious_illness.value, HealthStatus.disabled.value]
            ),
            min_size=1,
            max_size=2,
            unique=True,
        ),
    )
    fields: dict[str, SearchStrategy[Any]] = {
        "name": _NAMES,
        "id_number": st.text("0123456789", min_size=17, max_size=17).map(lambda d: d + "X"),
        "phone": st.tuples(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9)).map(
            lambda t: "1" + t[0] + t[1]
        ),
        "relation": st.sampled_from([r.value for r in Relation]),
        # Born before 2020: the assessment dates the suites draw start in 2020, and a member born after
        # the assessment date is an invalid record (issue 13), not a household to decide.
        "birth_date": born or st.dates(date(1930, 1, 1), date(2019, 12, 31)),
        "labour": st.sampled_from([v.value for v in LabourCapacity]),
        "health": health,
        "schooling": st.sampled_from([v.value for v in SchoolingStage]),
        "dropped_out": st.booleans(),
        "basic_medical_insurance": st.booleans().map(lambda b: not b),
        "critical_illness_insurance": st.booleans().map(lambda b: not b),
        "public_payroll": st.booleans(),
        "dibao": st.booleans(),
        "tekun": st.booleans(),
        "relocated": st.booleans(),
        "employed": st.booleans(),
        "work_months": st.integers(0, 12),
        "accident_injury": st.booleans(),
    }
    out = {"member_id": member_id, **_fill(draw, fields, missing, "members.")}
    if HealthStatus.disabled.value in out.get("health", ()) and not (
        _optional(missing, "members.disability_grade") and draw(st.booleans())
    ):
        out["disability_grade"] = draw(st.integers(1, 4))
    return _json(out)  # type: ignore[no-any-return]


def members(*, missing: bool | Collection[str] = True) -> SearchStrategy[Member]:
    """A validated :class:`~eligibility.Member`; shrinks like :func:`member_data`."""
    return member_data(missing=missing).map(Member.model_validate)


def _region(prefix: str) -> SearchStrategy[str]:
    """A 12-digit GB/T 2260 code starting with ``prefix``; shrinks towards trailing zeros."""
    return (
        st.text("0123456789", min_size=12 - len(prefix), max_size=12 - len(prefix)).map(lambda tail: prefix + tail)
        if len(prefix) < 12
        else st.just(prefix)
    )


@st.composite
def _income(draw: st.DrawFn, total: Decimal | None) -> dict[str, Any]:
    """Income components; with ``total`` they add up to exactly that net income."""
    if total is None:
        return {k: draw(_money()) for k in ("wage", "business_income", "business_cost", "property", "transfer")}
    cents = int(total * 100)
    business = draw(st.integers(0, max(cents, 0)))
    cost = draw(st.integers(0, business))
    rest = cents - business + cost
    prop = draw(st.integers(0, max(rest, 0)))
    transfer = draw(st.integers(0, max(rest - prop, 0)))
    wage = rest - prop - transfer
    parts = {"wage": wage, "business_income": business, "business_cost": cost, "property": prop, "transfer": transfer}
    return {k: Decimal(v) / 100 for k, v in parts.items()}


@st.composite
def household_data(
    draw: st.DrawFn,
    *,
    household_type: str | HouseholdType | None = None,
    regions: Sequence[str] = DEFAULT_REGIONS,
    min_members: int = 1,
    max_members: int = 6,
    per_capita: SearchStrategy[Decimal] | None = None,
    missing: bool | Collection[str] = True,
) -> dict[str, Any]:
    """One household as JSON data (what a county system would send).

    ``household_type``: fix the type, or None for either. ``regions``: GB/T 2260 prefixes to draw
    from (completed to 12 digits). ``per_capita``: a strategy for the per-capita net income, which the
    income components then add up to exactly. ``missing``: True (any optional field may be absent),
    False (complete records) or the sections and dotted fields that may be absent
    (``{"water", "income.transfer", "members.birth_date"}``).

    Shrinks towards one complete member, the first region, 脱贫户, zero incomes and safe housing and
    water — the simplest household that still shows a failure.
    """
    size = draw(st.integers(min_members, max_members))
    out: dict[str, Any] = {
        "household_id": "H-" + draw(st.text("0123456789", min_size=1, max_size=8)),
        "region": draw(st.sampled_from(list(regions)).flatmap(_region)),
    }
    if not (_optional(missing, "bank_account") and draw(st.booleans())):
        out["bank_account"] = "6" + draw(st.text("0123456789", min_size=18, max_size=18))
    htype = HouseholdType(household_type).value if household_type is not None else None
    sections: dict[str, SearchStrategy[Any]] = {
        "household_type": st.just(htype) if htype else st.sampled_from([v.value for v in HouseholdType]),
        "members": st.just(None),
        "income": st.just(None),
        "rigid_expenditure": st.fixed_dictionaries(
            {k: _money(50_000) for k in ("medical_self_pay", "education", "disaster_loss")}
        ),
        "housing": st.fixed_dictionaries(
            {
                "grade": st.sampled_from([g.value for g in HousingGrade]),
                "only_dwelling": st.booleans().map(lambda b: not b),
            }
        ),
        "water": st.fixed_dictionaries(
            {
                "litres_per_person_day": st.one_of(
                    st.just(Decimal(60)), st.integers(0, 2000).map(lambda x: Decimal(x) / 10)
                ),
                "water_short_area": st.booleans(),
                "piped": st.booleans().map(lambda b: not b),
                "fetch_minutes": st.integers(0, 120),
                "horizontal_distance_m": st.integers(0, 3000),
                "vertical_distance_m": st.integers(0, 300),
                "outage_days_per_year": st.integers(0, 366),
                "quality": st.sampled_from([q.value for q in WaterQuality]),
            }
        ),
        "basic_needs": st.fixed_dictionaries(
            {"food_secure": st.booleans().map(lambda b: not b), "clothing_secure": st.booleans().map(lambda b: not b)}
        ),
        "evidence": st.fixed_dictionaries(
            {k: st.booleans() for k in ("commercial_housing", "vehicle", "business_registration", "public_payroll")}
        ),
        "circumstances": st.fixed_dictionaries(
            {
                k: st.booleans()
                for k in (
                    "disaster",
                    "accident",
                    "main_labourer_lost",
                    "business_failed",
                    "employment_unstable",
                    "self_coping",
                    "supporter_able",
                )
            }
        ),
        "monitoring": _monitoring(),
        "social_assistance": st.fixed_dictionaries(
            {
                "dibao_edge": st.booleans(),
                "rigid_spending_hardship_on": st.dates(date(2024, 10, 24), date(2026, 12, 31)),
            }
        ),
        "history": _history(),
        "loan": _loan(),
    }
    required = {"members", "income"} if per_capita is not None else set()
    if htype is not None:
        required.add("household_type")
    for name, strategy in sections.items():
        if name not in required and _optional(missing, name) and draw(st.booleans()):
            continue
        if name == "members":
            out["members"] = [draw(member_data(member_id=str(i + 1), missing=missing)) for i in range(size)]
        elif name == "income":
            total = draw(per_capita) * size if per_capita is not None else None
            parts = draw(_income(total))
            out["income"] = parts if total is not None else _drop(draw, parts, missing, "income")
        else:
            value = draw(strategy)
            out[name] = _drop(draw, value, missing, name) if isinstance(value, dict) else value
    return _json(out)  # type: ignore[no-any-return]


def _drop(draw: st.DrawFn, values: dict[str, Any], missing: bool | Collection[str], section: str) -> dict[str, Any]:
    """The section with each field that may be missing dropped on a coin (shrinks: kept)."""
    return {k: v for k, v in values.items() if not (_optional(missing, f"{section}.{k}") and draw(st.booleans()))}


@st.composite
def _monitoring(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from([s.value for s in MonitoringStatus]))
    out: dict[str, Any] = {"status": status}
    if status != MonitoringStatus.never.value:
        out["category"] = draw(st.sampled_from([c.value for c in MonitoringCategory]))
        out["identified_on"] = draw(st.dates(date(2021, 1, 1), date(2025, 12, 31)))
        out["risks"] = draw(st.lists(st.sampled_from([r.value for r in RiskType]), max_size=5, unique=True))
        out["measures"] = [draw(_measure(out["identified_on"])) for _ in range(draw(st.integers(0, 3)))]
    return out


@st.composite
def _measure(draw: st.DrawFn, identified_on: date) -> dict[str, Any]:
    """A delivered measure: for the whole household or one member (issue 11 §2), on or after the day the
    household was identified, its type or date sometimes not recorded. Shrinks towards the old form: a
    typed household-level measure on the identification day."""
    out: dict[str, Any] = {
        "type": draw(st.sampled_from([m.value for m in MeasureType])),
        "delivered_on": identified_on + timedelta(days=draw(st.sampled_from([0, 30, 200]))),
    }
    who = draw(st.sampled_from([None, "1", "2", "3"]))
    if who is not None:
        out["member_id"] = who
    for key in ("type", "delivered_on"):
        if draw(st.integers(0, 9)) == 9:
            del out[key]
    return out


@st.composite
def _history(draw: st.DrawFn) -> dict[str, Any]:
    """Earlier assessments (issue 14 §3): none, or up to six on dates from 2019 to 2026 (so some fall a year
    or two before any as_of the tests draw and some after), each field absent on a coin; dates may repeat."""
    items = []
    for _ in range(draw(st.integers(0, 6))):
        item = {
            "as_of": draw(st.dates(date(2019, 1, 1), date(2026, 12, 31))),
            "per_capita_net_income": draw(_money(40_000)),
            "monitoring_status": draw(st.sampled_from([s.value for s in MonitoringStatus])),
            "risks": draw(st.lists(st.sampled_from([r.value for r in RiskType]), max_size=3, unique=True)),
            "risk_eliminated_on": draw(st.dates(date(2019, 1, 1), date(2026, 12, 31))),
        }
        items.append({k: v for k, v in item.items() if draw(st.integers(0, 4)) != 0})
    return {"assessments": items}


def households(**kwargs: Any) -> SearchStrategy[Household]:
    """A validated :class:`~eligibility.Household`; takes the options of :func:`household_data` and
    shrinks the same way."""
    return household_data(**kwargs).map(Household.model_validate)


# ------------------------------------------------------------------------------ around the rules


def _region_for(rules: RuleSet, pack: str) -> str:
    """A region code whose most specific pack is ``pack``."""
    p = rules.packs[pack]
    if p.regions:
        return p.regions[0]
    for province in range(11, 66):
        code = f"{province}0101"
        if rules.pack_for_region(code) == pack:
            return code
    raise ValueError(f"no region code resolves to pack {pack}")


def per_capita_around(rules: RuleSet, pack: str, parameter: str, on: date) -> SearchStrategy[Decimal]:
    """Per-capita amounts around a money parameter of ``pack`` on ``on``: exactly at it, a cent and a
    yuan either side, and nearby amounts. Shrinks towards exactly at the threshold."""
    value = Decimal(rules.chain(pack).param_hit(parameter, on).value)
    near = [value, value - CENT, value + CENT, value - 1, value + 1]
    spread = st.integers(-10_000, 10_000).map(lambda c: value + Decimal(c) / 100)
    return st.one_of(st.sampled_from([v for v in near if v >= 0]), spread.filter(lambda v: v >= 0))


def as_of_dates(rules: RuleSet, pack: str | None = None) -> SearchStrategy[date]:
    """Assessment dates on and either side of every date a parameter value or rule version of the
    pack's chain starts or ends. Shrinks towards the earliest such date."""
    chains = [rules.chain(pack)] if pack else [rules.chain(p) for p in rules.packs]
    points: set[date] = set()
    for chain in chains:
        for p in chain.packs:
            for values in p.values.values():
                points.update(v.start for v in values)
            for r in p.rules.values():
                for v in r.versions:
                    points.add(v.start)
                    if v.until is not None:
                        points.add(v.until)
    around = sorted({d + timedelta(days=k) for d in points for k in (-1, 0, 1)})
    return st.sampled_from(around)


def _leaves(cond: Any) -> list[Leaf]:
    if isinstance(cond, Leaf):
        return [cond]
    if isinstance(cond, Group):
        return [x for c in cond.items for x in _leaves(c)]
    if isinstance(cond, Negation):
        return _leaves(cond.item)
    return []


def _params_in(node: Node) -> set[str]:
    return {n.key for n in names(node) if n.ref == "param"}


def _thresholds(chain: Chain, on: date) -> list[tuple[str, Decimal]]:
    """(subject, threshold) for every numeric comparison of the rules in force on ``on``."""
    out: set[tuple[str, Decimal]] = set()
    for _, version in chain.in_force(on):
        for leaf in _leaves(version.when):
            if not leaf.subject_type.numeric or leaf.op == "known":
                continue
            for o in leaf.operands:
                v = (
                    o.value
                    if o.kind == "literal"
                    else (chain.param_hit(o.name, on).value if o.kind == "param" else None)
                )
                if isinstance(v, int | Decimal) and not isinstance(v, bool):
                    out.add((leaf.subject, Decimal(v)))
    return sorted(out)


def _age_params(chain: Chain, on: date) -> list[int]:
    """Ages used as thresholds inside fact formulas (e.g. the compulsory-education ages)."""
    ages: set[int] = set()
    for f in chain.facts.values():
        if "age(" in f.source:
            for p in _params_in(f.node):
                try:
                    v = chain.param_hit(p, on).value
                except MissingParameterError:
                    continue  # an optional parameter without value on the date: no threshold there
                if isinstance(v, int | Decimal) and not isinstance(v, bool):
                    ages.add(int(v))
    return sorted(ages)


def threshold_cases(rules: RuleSet, pack: str, on: date) -> SearchStrategy[Household]:
    """Complete households of ``pack`` aimed at every threshold its rules use on ``on``.

    For each numeric comparison in force — the monitoring line, water quantity, fetch time, distance,
    outage days, and any other — a household whose value sits exactly at, just below or just above
    the threshold (per-capita incomes through the income components); for every age used by a fact
    formula, members born on, the day before and the day after that birthday. Shrinks towards the
    first threshold, exactly at it.
    """
    chain = rules.chain(pack)
    region = _region_for(rules, pack)
    cases: list[SearchStrategy[Household]] = []
    for subject, value in _thresholds(chain, on):
        spec = CATALOGUE.get(subject)
        if subject == "per_capita_net_income":
            near = st.sampled_from([v for v in (value, value - CENT, value + CENT) if v >= 0])
            cases.append(households(regions=[region], per_capita=near, missing=False))
        elif spec is not None and "." in subject:
            section, field = subject.split(".", 1)
            step = Decimal("0.1") if spec.type.kind == "number" and field.startswith("litres") else Decimal(1)
            if spec.type.kind == "money":
                step = CENT
            options = [v for v in (value, value - step, value + step) if v >= 0]
            cases.append(_with_field(region, section, field, options))
    for age in _age_params(chain, on):
        birthdays = [_years_before(on, age) + timedelta(days=k) for k in (0, 1, -1)]
        cases.append(_with_child(region, birthdays))
    if not cases:
        raise ValueError(f"pack {pack} uses no numeric threshold on {on}")
    return st.one_of(cases)


def _years_before(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _with_field(region: str, section: str, field: str, options: list[Decimal]) -> SearchStrategy[Household]:
    @st.composite
    def build(draw: st.DrawFn) -> Household:
        data = draw(household_data(regions=[region], missing=False))
        value = draw(st.sampled_from(options))
        data.setdefault(section, {})[field] = _json(value if value != value.to_integral_value() else int(value))
        return Household.model_validate(data)

    return build()


def _with_child(region: str, birthdays: list[date]) -> SearchStrategy[Household]:
    @st.composite
    def build(draw: st.DrawFn) -> Household:
        data = draw(household_data(regions=[region], missing=False, min_members=2))
        data["members"][-1].update(
            {"birth_date": draw(st.sampled_from(birthdays)).isoformat(), "dropped_out": True, "schooling": "非在校生"}
        )
        return Household.model_validate(data)

    return build()


def _hypothesis_setup_hook() -> None:
    """Hypothesis entry point: ``st.from_type(Household)`` and ``st.from_type(Member)`` work."""
    st.register_type_strategy(Household, households())
    st.register_type_strategy(Member, members())


@st.composite
def _loan(draw: st.DrawFn) -> dict[str, Any]:
    """A 脱贫人口小额信贷 record: the borrower one of the first members or someone not in the household,
    amounts and terms on both sides of the bundled caps, start dates on both sides of the day the bundled
    terms begin (2024-01-01); each field absent on a coin in ``household_data``. Shrinks towards the first
    member borrowing a small amount for a year, paid out on the first date."""
    return {
        "borrower_member_id": draw(st.sampled_from(["1", "2", "3", "9"])),
        "amount": draw(
            st.one_of(
                st.sampled_from([Decimal(10_000), Decimal("49999.99"), Decimal(50_000), Decimal("50000.01")]),
                _money(120_000),
            )
        ),
        "term_months": draw(st.one_of(st.sampled_from([12, 35, 36, 37]), st.integers(1, 72))),
        "start_date": draw(st.dates(date(2023, 6, 1), date(2026, 6, 30))),
    }
