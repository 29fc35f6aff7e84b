"""Household input models: what a county system sends for one household.

The models mirror the fields of the national monitoring system's exports (policy.md §10). Every field
except the ids may be absent, because real records have gaps and an absent value must be *unknown*
to the rules — never a quiet ``False`` or ``0`` that would make a household ineligible (design.md,
"Missing data is unknown").

Coded values are enums whose values are the Chinese strings the national system uses; each member's
name is a stable English code, and input may use either form.

:func:`parse_household` is the way in. It validates with a second, faster pydantic-core validator
derived from these models (see :func:`_fast_validator`) and falls back to the models' own validator for
anything that one does not accept, so a county batch of valid records is parsed quickly while every
error is still reported exactly as the models define it. :func:`household_digest` names a household by
its canonical JSON, which is byte-for-byte the same on every run.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError
from pydantic_core import SchemaValidator, core_schema

from .errors import FieldError, HouseholdError

__all__ = [
    "BasicNeeds",
    "Circumstances",
    "Evidence",
    "HealthStatus",
    "Household",
    "HouseholdType",
    "Housing",
    "HousingGrade",
    "Income",
    "LabourCapacity",
    "Measure",
    "MeasureType",
    "Member",
    "MoneyMark",
    "Monitoring",
    "MonitoringCategory",
    "MonitoringStatus",
    "Procedure",
    "Relation",
    "RigidExpenditure",
    "RiskEliminationMethod",
    "RiskType",
    "SchoolingStage",
    "Water",
    "WaterQuality",
    "bytes_digest",
    "household_digest",
    "parse_household",
]


class CodedEnum(str, enum.Enum):
    """An enum whose value is the Chinese term and whose name is a stable English code.

    Input may give either; output always carries the Chinese value, the form the national system uses.
    pydantic-core looks the Chinese value up itself; only an English code goes to Python (the enum
    class, then :meth:`_missing_`), so records in the national system's own spelling stay in Rust.
    """

    @classmethod
    def _missing_(cls, value: object) -> CodedEnum | None:
        # A dict look-up rather than a loop over the members. Only a str can be a member's name, and the
        # check keeps unhashable input (a list sent for a code) away from the dict.
        return cls.__members__.get(value) if isinstance(value, str) else None


class HouseholdType(CodedEnum):
    """户类型 (policy.md §1.1, §10)."""

    former_poor = "脱贫户"
    general = "一般农户"


class Relation(CodedEnum):
    """与户主关系."""

    head = "户主"
    spouse = "配偶"
    child = "子女"
    parent = "父母"
    grandchild = "孙子女"
    sibling = "兄弟姐妹"
    child_in_law = "儿媳/女婿"
    other = "其他"


class LabourCapacity(CodedEnum):
    """劳动技能 (national values, policy.md §10)."""

    ordinary = "普通劳动力"
    skilled = "技能劳动力"
    weak = "弱劳动力或半劳动力"
    lost = "丧失劳动力"
    none = "无劳动力"


class HealthStatus(CodedEnum):
    """健康状况; a member may have several (e.g. 残疾 and 长期慢性病), policy.md §10."""

    healthy = "健康"
    chronic = "长期慢性病"
    serious_illness = "患有大病"
    disabled = "残疾"


class SchoolingStage(CodedEnum):
    """在校生状况 (policy.md §10), grouped by the stages the rules tell apart."""

    not_in_school = "非在校生"
    preschool_child = "学龄前儿童"
    preschool = "学前教育"
    primary = "小学"
    grade7 = "七年级"
    grade8 = "八年级"
    grade9 = "九年级"
    high_school = "普通高中"
    secondary_vocational = "中职"
    higher_vocational = "高职高专"
    technician_college = "技师学院"
    undergraduate = "本科"
    postgraduate = "硕士研究生及以上"


class HousingGrade(CodedEnum):
    """农村住房安全等级 A–D (policy.md §4.3, [HUAIYUAN])."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class WaterQuality(CodedEnum):
    """水质 judged per T/CHES 18-2018 (lab report or on-site judgement for dispersed supply)."""

    meets = "达标"
    basically_meets = "基本达标"
    fails = "不达标"


class MonitoringStatus(CodedEnum):
    """Where the household stands in the monitoring system."""

    never = "未纳入监测"
    monitored = "监测中"
    eliminated = "风险已消除"


class MonitoringCategory(CodedEnum):
    """监测对象类别 (policy.md §1.2)."""

    unstable_former_poor = "脱贫不稳定户"
    marginal = "边缘易致贫户"
    sudden_hardship = "突发严重困难户"


class RiskType(CodedEnum):
    """致贫/返贫风险 (policy.md §10)."""

    illness = "因病"
    schooling = "因学"
    disability = "因残"
    natural_disaster = "因自然灾害"
    accident = "因意外事故"
    business_failure = "因产业项目失败"
    unstable_employment = "因务工就业不稳"
    lack_of_labour = "缺劳动力"
    housing = "住房出现安全问题"
    water = "因安全饮水"
    other = "其他"


class RiskEliminationMethod(CodedEnum):
    """风险消除方式 (policy.md §8.1)."""

    assisted = "帮扶消除"
    natural = "自然消除"


class MeasureType(CodedEnum):
    """帮扶措施 categories of the national system (policy.md §7.2)."""

    industry = "产业帮扶"
    employment = "就业帮扶"
    finance = "金融帮扶"
    public_welfare_job = "公益岗位帮扶"
    housing = "住房安全保障"
    water = "饮水安全保障"
    health = "健康帮扶"
    compulsory_education = "义务教育保障"
    other_education = "其他教育帮扶"
    social_security = "综合保障"
    social_assistance = "社会帮扶"
    relocation = "搬迁"
    living_conditions = "生产生活条件改善"
    infrastructure = "基础设施建设"


_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MoneyMark:
    """Marks a Decimal field as money, so the rules can tell yuan from litres or minutes."""


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), MoneyMark()]
"""Yuan, two decimal places; money is Decimal so that 7,899.99 vs 7,900 compares exactly."""


def _sorted_by_value(items: frozenset[CodedEnum]) -> list[CodedEnum]:
    """A set's members as a list sorted by value, for JSON output.

    A frozenset iterates in hash order, and str hashes change with PYTHONHASHSEED, so without this the
    JSON of a member with two health statuses — and the household digest made from it — would differ
    from one process to the next. Sorted by value (the Chinese text) rather than by declaration order, so
    that reordering an enum's members in this file cannot change any digest.
    """
    return sorted(items, key=lambda item: item.value)


_HEALTH_IN_JSON: Final = PlainSerializer(_sorted_by_value, return_type=list[HealthStatus], when_used="json")
"""JSON gets the health statuses as a sorted list; ``model_dump()`` (Python) keeps the frozenset."""


def _f(zh: str, en: str, **kw: Any) -> Any:
    """A field that may be absent (unknown), described in Chinese and English."""
    return Field(default=None, description=f"{zh} / {en}", **kw)


class Member(BaseModel):
    """家庭成员 — one member of the household."""

    model_config = _FROZEN

    member_id: str = Field(min_length=1, description="成员编号 / member id")
    name: str | None = _f("姓名", "name")
    id_number: str | None = _f("身份证件号码（不得公示）", "ID-document number (never published)")
    phone: str | None = _f("手机号（不得公示）", "mobile number (never published)")
    relation: Relation | None = _f("与户主关系", "relation to the head of household")
    birth_date: date | None = _f("出生日期", "date of birth")
    labour: LabourCapacity | None = _f("劳动技能", "labour capacity")
    health: Annotated[frozenset[HealthStatus], _HEALTH_IN_JSON] | None = _f(
        "健康状况（可多选）", "health status (several may apply)"
    )
    disability_grade: int | None = _f("残疾等级（1–4级，1级最重）", "disability grade (1 = most severe)", ge=1, le=4)
    schooling: SchoolingStage | None = _f("在校生状况", "schooling stage")
    dropped_out: bool | None = _f("是否失学辍学", "has dropped out of school")
    basic_medical_insurance: bool | None = _f(
        "是否参加城乡居民（职工）基本医疗保险", "enrolled in basic medical insurance"
    )
    critical_illness_insurance: bool | None = _f("是否参加大病保险", "enrolled in critical-illness insurance")
    public_payroll: bool | None = _f("是否财政供养人员", "on a public payroll")


class Income(BaseModel):
    """收入 of the 12-month window before identification (policy.md §3)."""

    model_config = _FROZEN

    window_start: date | None = _f("收入统计期起", "first day of the income window")
    window_end: date | None = _f("收入统计期止", "last day of the income window")
    wage: Money | None = _f("工资性收入", "wage income")
    business_income: Money | None = _f("生产经营性收入", "business and farming income")
    business_cost: Money | None = _f("生产经营性支出", "business and farming costs")
    property: Money | None = _f("财产性收入", "property income")
    transfer: Money | None = _f("转移性收入", "transfer income")
    claims: Money | None = _f("理赔收入", "insurance claim payouts")
    previous_year_per_capita: Money | None = _f("上年度家庭人均纯收入", "previous year's per-capita net income")


class RigidExpenditure(BaseModel):
    """刚性支出 / 合规自付支出 in the same window (policy.md §4.4)."""

    model_config = _FROZEN

    medical_self_pay: Money | None = _f("合规自付医疗支出", "compliant out-of-pocket medical spending")
    education: Money | None = _f("教育支出", "education spending")
    disaster_loss: Money | None = _f("灾害/意外损失", "loss from disaster or accident")
    resolved_on: date | None = _f(
        "刚性支出稳定解决日期（如大病治愈或纳入保障、子女完成学业）",
        "date the rigid spending was stably resolved (none recorded: still ongoing)",
    )


class Housing(BaseModel):
    """住房 (policy.md §4.3)."""

    model_config = _FROZEN

    grade: HousingGrade | None = _f("住房安全等级", "housing safety grade")
    only_dwelling: bool | None = _f("是否唯一住房", "is the household's only dwelling")


class Water(BaseModel):
    """饮水 — the four indicators of T/CHES 18-2018 (policy.md §4.3)."""

    model_config = _FROZEN

    litres_per_person_day: Decimal | None = _f("人均日用水量（升）", "litres per person per day", ge=0)
    water_short_area: bool | None = _f("是否缺水地区", "lies in a water-short area")
    piped: bool | None = _f("是否供水入户", "piped into the house")
    fetch_minutes: int | None = _f("单次取水往返时间（分钟）", "minutes for one round trip to fetch water", ge=0)
    horizontal_distance_m: int | None = _f("取水水平距离（米）", "horizontal distance to the source (m)", ge=0)
    vertical_distance_m: int | None = _f("取水垂直距离（米）", "vertical rise to the source (m)", ge=0)
    outage_days_per_year: int | None = _f("年停水或供水不足天数", "days a year without enough supply", ge=0, le=366)
    quality: WaterQuality | None = _f("水质", "water quality")


class BasicNeeds(BaseModel):
    """两不愁 — food and clothing."""

    model_config = _FROZEN

    food_secure: bool | None = _f("是否不愁吃", "has enough food")
    clothing_secure: bool | None = _f("是否不愁穿", "has adequate clothing")


class Evidence(BaseModel):
    """信息比对 results (seed:JINGBIAN; policy.md §5): evidence for 民主评议, never a silent veto."""

    model_config = _FROZEN

    commercial_housing: bool | None = _f("是否购买商品房", "owns commercial housing")
    vehicle: bool | None = _f("是否拥有车辆（非生产生活必需）", "owns a vehicle")
    business_registration: bool | None = _f("是否为企业法人或个体工商户", "registered enterprise or sole trader")
    public_payroll: bool | None = _f("是否有财政供养人员", "a member on a public payroll")


class Circumstances(BaseModel):
    """Events and coping capacity that the sudden-hardship rule reads (policy.md §4.4)."""

    model_config = _FROZEN

    disaster: bool | None = _f("是否遭受自然灾害", "hit by a natural disaster")
    accident: bool | None = _f("是否发生意外事故", "hit by an accident")
    main_labourer_lost: bool | None = _f("是否失去主要劳动力", "lost its main labourer")
    business_failed: bool | None = _f("是否产业经营失败", "business or farming venture failed")
    employment_unstable: bool | None = _f("是否务工就业不稳或失业", "unstable work or unemployment")
    willing_to_work: bool | None = _f("是否有发展意愿（劳动意愿）", "willing to work or develop a livelihood")
    self_coping: bool | None = _f("是否具备自主应对能力", "can cope with the difficulty on its own")


class Measure(BaseModel):
    """A 帮扶措施 delivered to the household."""

    model_config = _FROZEN

    type: MeasureType | None = _f("措施类别", "measure type")
    detail: str | None = _f("措施内容", "what was done")
    delivered_on: date | None = _f("落实日期", "date delivered")


class Monitoring(BaseModel):
    """监测 history."""

    model_config = _FROZEN

    status: MonitoringStatus | None = _f("监测状态", "monitoring status")
    category: MonitoringCategory | None = _f("监测对象类别", "monitoring category")
    identified_on: date | None = _f("识别监测时间", "date identified")
    risks: tuple[RiskType, ...] | None = _f("致贫/返贫风险（最多5项）", "risk types (up to five)", max_length=5)
    measures: tuple[Measure, ...] | None = _f("已落实帮扶措施", "measures delivered")
    risk_eliminated_on: date | None = _f("风险消除时间", "date the risk was eliminated")
    elimination_method: RiskEliminationMethod | None = _f("风险消除方式", "how the risk was eliminated")


class Procedure(BaseModel):
    """Procedure events of the current identification (policy.md §6)."""

    model_config = _FROZEN

    lead_found_on: date | None = _f("发现风险线索日期", "date the risk lead was found")
    visits: tuple[date, ...] | None = _f("入户走访日期", "dates of home visits")
    authorised_on: date | None = _f("农户授权承诺日期", "date the household signed the authorisation")
    notice_start: date | None = _f("村内公示开始日期", "first day of the village notice")
    notice_end: date | None = _f("村内公示结束日期", "last day of the village notice")
    approved_on: date | None = _f("县级审定日期", "date of county approval")
    plan_on: date | None = _f("帮扶计划制定日期", "date the assistance plan was made")


class Household(BaseModel):
    """农户 — one household as the rules see it (户籍 plus actual residence, policy.md §1.1)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        title="Household",
        json_schema_extra={"description": "防止返贫动态监测：一户的数据 / one household for monitoring"},
    )

    household_id: str = Field(min_length=1, description="户编号 / household id")
    region: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,12}$",
        description="行政区划代码（GB/T 2260，6–12位）/ administrative division code, 6 to 12 digits",
    )
    household_type: HouseholdType | None = _f("户类型", "household type")
    bank_account: str | None = _f("补贴发放银行账号（不得公示）", "bank account for payments (never published)")
    members: tuple[Member, ...] | None = _f("家庭成员", "members")
    income: Income | None = _f("收入（监测期12个月）", "income of the 12-month window")
    rigid_expenditure: RigidExpenditure | None = _f("刚性支出", "rigid expenditure")
    housing: Housing | None = _f("住房", "housing")
    water: Water | None = _f("饮水", "drinking water")
    basic_needs: BasicNeeds | None = _f("两不愁", "food and clothing")
    evidence: Evidence | None = _f("信息比对", "information-comparison evidence")
    circumstances: Circumstances | None = _f("困难情形", "circumstances")
    monitoring: Monitoring | None = _f("监测记录", "monitoring history")
    procedure: Procedure | None = _f("识别程序", "procedure events")


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


# --- Fast input (issue 9 §3) -------------------------------------------------------------------------
#
# Parsing a household is almost all pydantic-core (Rust) work, but a quarter of it went on one thing:
# the ``max_digits``/``decimal_places`` check of each money field calls ``Decimal.normalize()`` and
# twice ``Decimal.as_tuple()``, whose namedtuple result is built by Python code. The fast validator
# below is the models' own core schema with each money field replaced by a cheaper schema that accepts
# a subset of what the full one accepts and returns an equal Decimal; parse_household tries it first and
# falls back to the models' validator. All validation stays in pydantic-core, and since every error
# comes from the full validator, error paths, codes and messages are exactly the models'.

_PLAIN_CONFIG: Final = frozenset({"title", "extra_fields_behavior", "validate_by_alias", "validate_by_name"})
"""Model config keys the fast schema is known to be right under; ``strict``, ``allow_inf_nan`` or a
string setting would change what the full decimal validator accepts, so any other key turns it off."""

_MONEY_KEYS: Final = frozenset({"type", "ge", "max_digits", "decimal_places", "metadata"})


class _NoFastPath(Exception):
    """The core schema has something the fast schema was not written for; parse with the full one."""


def _fast_money(max_digits: int, places: int) -> core_schema.CoreSchema:
    """Money as a plain digit string that is valid money for certain, converted as the full validator does.

    The full validator turns a JSON number into a Decimal through its text as written by Rust's shortest
    round-trip formatting (``1000.0`` → ``"1000"``), a Python float through ``str()``, an int exactly,
    a str as it is. The fast schema looks at that same text: up to ``max_digits - places`` whole digits
    without a sign or leading zeros, up to ``places`` decimals. Such a number is finite, ≥ 0 and within
    both limits, so the full validator accepts it too, and ``Decimal(text)`` has the same value and the
    same exponent as the full validator's result. Everything else — a sign, an exponent, spaces, more
    decimals, a Decimal object, bytes, NaN — fails here and is left to the full validator.
    """
    whole = max_digits - places
    text = rf"^(?:0|[1-9][0-9]{{0,{whole - 1}}})(?:\.[0-9]{{1,{places}}})?$"
    decimal = core_schema.decimal_schema(allow_inf_nan=True)  # finite for certain: skips an is_finite() call
    from_json = core_schema.chain_schema([core_schema.str_schema(pattern=text, coerce_numbers_to_str=True), decimal])
    # In Python mode the lax str coercion would also take bytes and Enum members, which the decimal
    # validator refuses; so each Python type the decimal validator takes gets its own strict branch.
    from_python = core_schema.union_schema(
        [
            core_schema.chain_schema([core_schema.str_schema(strict=True, pattern=text), decimal]),
            core_schema.chain_schema([core_schema.int_schema(strict=True, ge=0, lt=10**whole), decimal]),
            core_schema.chain_schema(
                [
                    core_schema.is_instance_schema(float),
                    core_schema.str_schema(pattern=text, coerce_numbers_to_str=True),
                    decimal,
                ]
            ),
        ],
        mode="left_to_right",
    )
    return core_schema.json_or_python_schema(json_schema=from_json, python_schema=from_python)


def _is_money(node: dict[str, Any]) -> bool:
    """A decimal schema constrained as :data:`Money` is — ≥ 0 and digit limits, nothing else."""
    places, digits = node.get("decimal_places"), node.get("max_digits")
    return (
        node.get("type") == "decimal"
        and node.keys() <= _MONEY_KEYS
        and node.get("ge") == 0
        and isinstance(places, int)
        and isinstance(digits, int)
        and 0 < places < digits
    )


def _fast_schema(node: Any, models: dict[type[BaseModel], None]) -> Any:
    """A copy of a core schema with every money schema replaced by :func:`_fast_money`.

    Collects the model classes it meets in ``models``; the original schema is left untouched.
    """
    if isinstance(node, dict):
        if _is_money(node):
            return _fast_money(node["max_digits"], node["decimal_places"])
        if node.get("type") == "model":
            if not node.get("config", {}).keys() <= _PLAIN_CONFIG:
                raise _NoFastPath(node.get("cls"))
            models[node["cls"]] = None
        return {k: v if k in ("metadata", "default") else _fast_schema(v, models) for k, v in node.items()}
    if isinstance(node, list):
        return [_fast_schema(v, models) for v in node]
    return node


def _fast_validator() -> SchemaValidator | None:
    """The fast validator for :class:`Household`, or None when the models have no fast path.

    pydantic-core reuses the validator a complete model class already has ("prebuilt") for any model
    schema it meets — the top-level one included — which would ignore the rewritten money fields. So
    the classes are marked incomplete while the validator is built (at import, under the import lock)
    and restored at once. Should a later pydantic-core reuse them anyway, the fast validator is simply
    the full one again: slower, never different.
    """
    schema: Any = Household.__pydantic_core_schema__
    models: dict[type[BaseModel], None] = {}
    try:
        fast = _fast_schema(schema, models)
    except _NoFastPath:
        return None
    if fast == schema or schema.get("type") != "model":
        return None
    complete = {cls: cls.__dict__.get("__pydantic_complete__", False) for cls in models}
    try:
        for cls in complete:
            cls.__pydantic_complete__ = False
        return SchemaValidator(fast, schema.get("config"))
    finally:
        for cls, was in complete.items():
            cls.__pydantic_complete__ = was


_FAST: Final = _fast_validator()


def parse_household(data: Any) -> Household:
    """Validate raw JSON data (a dict or a JSON string/bytes) into a :class:`Household`.

    Raises :class:`HouseholdError` naming the JSON path of *every* bad field, not only the first,
    so a county data clerk can fix a record in one go.

    The fast validator (see :func:`_fast_money`) is tried first; when it refuses — the record is
    invalid, or valid in a form it does not take, such as ``" 5"`` or ``1E+3`` for money — the models'
    own validator decides, so the result and every error are exactly those of
    ``Household.model_validate``/``model_validate_json``. An invalid record costs two validations.
    """
    json_input = isinstance(data, str | bytes)
    if _FAST is not None:
        try:
            h: Household = _FAST.validate_json(data) if json_input else _FAST.validate_python(data)
        except ValidationError:
            pass
        else:
            return h
    try:
        if json_input:
            return Household.model_validate_json(data)
        return Household.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(_json_path(tuple(e["loc"])), e["type"], e["msg"]) for e in exc.errors(include_url=False)]
        hid = data.get("household_id") if isinstance(data, dict) else None
        raise HouseholdError(errors, hid if isinstance(hid, str) else None) from None


def household_digest(h: Household) -> str:
    """``"sha256:"`` and the hex SHA-256 of the household's canonical JSON, ``h.model_dump_json()``.

    Names the household's content, not the bytes it came in: a dict, a JSON text with other key order
    or spacing, English codes for Chinese ones all give the same digest. The same in every process too —
    sets are written sorted (:func:`_sorted_by_value`), which is what makes the digest worth recording.
    """
    return bytes_digest(h.model_dump_json())


def bytes_digest(data: bytes | str) -> str:
    """``"sha256:"`` and the hex SHA-256 of ``data`` as received (a str is hashed as UTF-8)."""
    return "sha256:" + hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()
