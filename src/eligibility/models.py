"""Household input models: what a county system sends for one household.

The models mirror the fields of the national monitoring system's exports (policy.md §10). Every field
except the ids may be absent, because real records have gaps and an absent value must be *unknown*
to the rules — never a quiet ``False`` or ``0`` that would make a household ineligible (design.md,
"Missing data is unknown").

Coded values are enums whose values are the Chinese strings the national system uses; each member's
name is a stable English code, and input may use either form.

:func:`parse_household` is the way in. It validates with a second, faster pydantic-core validator
derived from these models (see :func:`_derived_validator`) and falls back to the models' own validator for
anything that one does not accept, so a county batch of valid records is parsed quickly while every
error is still reported exactly as the models define it. :func:`household_digest` names a household by
its canonical JSON, which is byte-for-byte the same on every run.
"""

from __future__ import annotations

import enum
import hashlib
import operator
import re
import threading
import typing
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Final, cast

import annotated_types
import jiter
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, PlainSerializer, Strict, ValidationError
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
    "LeadChannel",
    "Loan",
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
    "SocialAssistance",
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
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """pydantic's enum schema, written as the str it is: a member of a ``str`` enum *is* its value's
        text (``str.__new__`` made it from the value), so the str serializer writes it in Rust. pydantic's
        enum serializer reads ``member.value`` instead — the ``enum.property`` descriptor, a Python call
        per code — ~20 a bundled household for its JSON and so its digest (session 24, fjs4). Python mode
        (``model_dump()``) still keeps the members, JSON mode still gives plain str."""
        schema = dict(handler(source))
        schema["serialization"] = core_schema.simple_ser_schema("str")
        return cast(core_schema.CoreSchema, schema)

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


class LeadChannel(CodedEnum):
    """风险线索的发现渠道 (policy.md §6.1; seed:JINGBIAN adds the last two). The 2026 scheme words two of them
    anew (基层日常排查, 部门大数据预警, lines.md §2): input in either wording is the same channel, and a decision
    shows the wording of its assessment date (rules/national/vocabulary.yaml, ``channels``)."""

    self_report = "农户自主申报"
    grassroots = "基层干部排查"
    department = "部门筛查预警"
    supervision = "各类监督渠道反馈"
    platform = "平台监测分析"

    @classmethod
    def _missing_(cls, value: object) -> CodedEnum | None:
        if isinstance(value, str) and value in _CHANNEL_2026:
            return cls[_CHANNEL_2026[value]]
        return super()._missing_(value)


_CHANNEL_2026: Final = {"基层日常排查": "grassroots", "部门大数据预警": "department"}
"""The 2026 wording of two channels (农业农村部 实施意见 2026-02-06, lines.md §2) → their code."""


class MoneyMark:
    """Marks a Decimal field as money, so the rules can tell yuan from litres or minutes."""


# --- Strict input (issue 13 §2) ----------------------------------------------------------------------
#
# A mistyped field must be an error naming the field, never a different value: so no lax coercion of
# text to numbers or booleans, numbers read exactly from their digits, and every date inside a range in
# which date arithmetic cannot overflow. docs/input.md states each limit; all of them are checked by
# pydantic-core (Rust) — no per-field Python validator runs while a household is parsed.

MAX_RECORD_BYTES: Final = 1 << 20
"""Largest household record accepted, in bytes of JSON (1 MiB; a real one is a few kilobytes)."""
MAX_TEXT: Final = 4096
"""Longest text field, in characters."""
MAX_MEMBERS: Final = 200
"""Most members in one household (a 户 rarely has twenty; 100,000 once took 46 s to decide)."""
MAX_ITEMS: Final = 1000
"""Most items in any other list of a household (measures, visits)."""
MAX_HISTORY: Final = 240
"""Most earlier assessments a household carries: twenty years of monthly runs."""
MAX_COUNT: Final = 2**31 - 1
"""Largest whole number (minutes, metres, days): fits every column type the batch path writes."""
FIRST_DAY: Final = date(1900, 1, 1)
"""Earliest date accepted: older than anyone alive, and far from ``date.min``."""
LAST_DAY: Final = date(2100, 12, 31)
"""Latest date accepted: any deadline arithmetic on it stays far from ``date.max`` (9999-12-31)."""

_ASCII_DECIMAL: Final = r"^[0-9]{1,40}(?:\.[0-9]{1,40})?$"
"""Money as text (a CSV or Excel cell handed over as a Python str): ASCII digits and one point only —
no sign, exponent, underscore, space or non-ASCII digit (``"١٢٣"``, ``"1.4e4"``, ``"14_000"``)."""

_NUMBER_KEY: Final = "eligibility_number"
"""Metadata key of the number schemas, so that the derived validators below can find and replace them."""


class _Number:
    """A Decimal read from a number only: a JSON number, or in Python an int, float, Decimal or ASCII text.

    ``Annotated`` metadata whose core schema gates the input type first (a custom error naming the
    field) and then applies the decimal constraints in pydantic-core. Text is refused in JSON, where a
    number in quotes is what a broken export writes; a Python ``bool`` is refused everywhere.
    """

    def __init__(self, **constraints: Any) -> None:
        self.constraints = constraints
        # For readers of field metadata (the batch column table): the bound in annotated-types form.
        self.metadata = [annotated_types.Ge(constraints["ge"])] if "ge" in constraints else []

    def decimal(self, **extra: Any) -> core_schema.CoreSchema:
        return core_schema.decimal_schema(allow_inf_nan=False, **self.constraints, **extra)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        json_gate = core_schema.union_schema(
            [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True)],
            custom_error_type="number_type",
            custom_error_message=_NUMBER_MESSAGE,
        )
        python_gate = core_schema.union_schema(
            [
                core_schema.is_instance_schema(Decimal),
                core_schema.int_schema(strict=True),
                core_schema.float_schema(strict=True, allow_inf_nan=True),  # NaN: finite_number below
                core_schema.str_schema(strict=True, pattern=_ASCII_DECIMAL),
            ],
            custom_error_type="number_type",
            custom_error_message=_NUMBER_MESSAGE,
        )
        number = core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema([json_gate, self.decimal()]),
            python_schema=core_schema.chain_schema([python_gate, self.decimal()]),
            metadata={_NUMBER_KEY: self.constraints},
            serialization=core_schema.plain_serializer_function_ser_schema(_json_number, when_used="json"),
        )
        # ``Annotated[Decimal | None, _Number(...)]`` hands over the whole optional type.
        return core_schema.nullable_schema(number) if type(None) in typing.get_args(source) else number


_NUMBER_MESSAGE: Final = "应为数字（不加引号）/ must be a number, not text"


def _json_number(value: Decimal) -> int | float:
    """A number field in JSON output: a JSON number, so that a household's own JSON is valid input again.

    Exact: every value the constraints admit has at most 14 significant digits, and a double written in
    its shortest form gives those digits back (``23699.99``); whole numbers are written as integers.

    Read from the decimal's text, which is what ``float(value)`` parses anyway (``_decimal`` converts
    through it): in plain notation — no ``E``, ending in a digit, so finite — the exponent is negative
    exactly when there is a point, and it is 0 otherwise. Every household's money goes through here for
    its JSON and so its digest, and ``as_tuple()`` (a tuple of every digit) made this twice as slow. Any
    other text (``1E+2``, ``NaN``) takes the rule as written, :func:`_json_number_as_written`.
    """
    text = value.__str__()
    if "E" in text or not text[-1].isdigit():
        return _json_number_as_written(value)
    return float(text) if "." in text else int(text)


def _json_number_as_written(value: Decimal) -> int | float:
    """:func:`_json_number` as its rule reads: an integer when whole and not written with decimals."""
    if value == value.to_integral_value() and value.as_tuple().exponent >= 0:  # type: ignore[operator]
        return int(value)
    return float(value)


class _Day:
    """A calendar date written ``YYYY-MM-DD`` (or a ``date``), between :data:`FIRST_DAY` and :data:`LAST_DAY`.

    pydantic's lax date also takes numbers (Unix time: ``0`` is 1970-01-01) and date-times; a county
    export that writes either has a bug, so both are errors here.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        bounded = core_schema.date_schema(ge=FIRST_DAY, le=LAST_DAY)
        text = core_schema.str_schema(strict=True, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        kind, message = "not_a_date", _DATE_MESSAGE
        gate = core_schema.union_schema(
            [core_schema.is_instance_schema(date), text], custom_error_type=kind, custom_error_message=message
        )
        return core_schema.json_or_python_schema(
            # Strict in JSON: only "YYYY-MM-DD" text (no Unix time, no date-time), all in Rust.
            json_schema=core_schema.date_schema(strict=True, ge=FIRST_DAY, le=LAST_DAY),
            python_schema=core_schema.chain_schema([gate, bounded]),
        )


_DATE_MESSAGE: Final = "应为日期 YYYY-MM-DD / must be a date YYYY-MM-DD"


Money = Annotated[Decimal, _Number(ge=0, max_digits=14, decimal_places=2), MoneyMark()]
"""Yuan, two decimal places; money is Decimal so that 7,899.99 vs 7,900 compares exactly."""
SignedMoney = Annotated[Decimal, _Number(max_digits=14, decimal_places=2), MoneyMark()]
"""Money that may be negative: a per-capita net income after a business loss (``history.assessments``)."""

Quantity = Annotated[Decimal | None, _Number(ge=0, max_digits=14, decimal_places=4)]
"""A non-negative measured quantity (litres) or unknown, read exactly; four decimals are finer than any
meter. Optional inside ``Annotated`` so that the field's annotation stays ``Decimal | None``."""

Flag = Annotated[bool, Strict()]
"""Yes/no: JSON ``true``/``false`` (a Python bool) only — never ``"1"``, ``"t"`` or ``1``."""

Count = Annotated[int, Strict(), Field(le=MAX_COUNT)]
"""A whole number: a JSON integer only — never ``"5"`` or ``5.0``."""

Day = Annotated[date, _Day()]
"""A date within :data:`FIRST_DAY`…:data:`LAST_DAY`."""

_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, str_max_length=MAX_TEXT)


def _sorted_by_value(items: frozenset[CodedEnum]) -> list[CodedEnum]:
    """A set's members as a list sorted by value, for JSON output.

    A frozenset iterates in hash order, and str hashes change with PYTHONHASHSEED, so without this the
    JSON of a member with two health statuses — and the household digest made from it — would differ
    from one process to the next. Sorted by value (the Chinese text) rather than by declaration order, so
    that reordering an enum's members in this file cannot change any digest.

    Every member's health statuses go through here for the household's JSON and so its digest (in
    Python, once per member), most of them a single status: a set of fewer than two is already in
    order, and the sort key is the member's value attribute read in C (``_value_``, what the ``value``
    property returns, without the property's Python call).
    """
    if len(items) < 2:
        return list(items)
    return sorted(items, key=_VALUE_OF)


_VALUE_OF: Final = operator.attrgetter("_value_")
"""An enum member's value (what :attr:`enum.Enum.value` returns)."""


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
    birth_date: Day | None = _f("出生日期", "date of birth")
    labour: LabourCapacity | None = _f("劳动技能", "labour capacity")
    health: Annotated[frozenset[HealthStatus], _HEALTH_IN_JSON] | None = _f(
        "健康状况（可多选）", "health status (several may apply)"
    )
    disability_grade: Count | None = _f("残疾等级（1–4级，1级最重）", "disability grade (1 = most severe)", ge=1, le=4)
    schooling: SchoolingStage | None = _f("在校生状况", "schooling stage")
    dropped_out: Flag | None = _f("是否失学辍学", "has dropped out of school")
    basic_medical_insurance: Flag | None = _f(
        "是否参加城乡居民（职工）基本医疗保险", "enrolled in basic medical insurance"
    )
    critical_illness_insurance: Flag | None = _f("是否参加大病保险", "enrolled in critical-illness insurance")
    public_payroll: Flag | None = _f("是否财政供养人员", "on a public payroll")
    dibao: Flag | None = _f("是否享受最低生活保障", "receives the minimum living allowance (低保)")
    tekun: Flag | None = _f("是否特困供养人员", "supported as a person in extreme poverty (特困)")
    relocated: Flag | None = _f("是否异地扶贫搬迁人口", "relocated for poverty alleviation")
    employed: Flag | None = _f("是否务工就业", "working (migrant work or local employment)")
    work_months: Count | None = _f("收入统计期内务工就业月数", "months worked within the income window", ge=0, le=12)
    accident_injury: Flag | None = _f("是否因意外事故受伤", "injured in an accident")


class Income(BaseModel):
    """收入 of the 12-month window before identification (policy.md §3)."""

    model_config = _FROZEN

    window_start: Day | None = _f("收入统计期起", "first day of the income window")
    window_end: Day | None = _f("收入统计期止", "last day of the income window")
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
    only_dwelling: Flag | None = _f("是否唯一住房", "is the household's only dwelling")


class Water(BaseModel):
    """饮水 — the four indicators of T/CHES 18-2018 (policy.md §4.3)."""

    model_config = _FROZEN

    litres_per_person_day: Quantity = _f("人均日用水量（升）", "litres per person per day")
    water_short_area: Flag | None = _f("是否缺水地区", "lies in a water-short area")
    piped: Flag | None = _f("是否供水入户", "piped into the house")
    fetch_minutes: Count | None = _f("单次取水往返时间（分钟）", "minutes for one round trip to fetch water", ge=0)
    horizontal_distance_m: Count | None = _f("取水水平距离（米）", "horizontal distance to the source (m)", ge=0)
    vertical_distance_m: Count | None = _f("取水垂直距离（米）", "vertical rise to the source (m)", ge=0)
    outage_days_per_year: Count | None = _f("年停水或供水不足天数", "days a year without enough supply", ge=0, le=366)
    quality: WaterQuality | None = _f("水质", "water quality")


class BasicNeeds(BaseModel):
    """两不愁 — food and clothing."""

    model_config = _FROZEN

    food_secure: Flag | None = _f("是否不愁吃", "has enough food")
    clothing_secure: Flag | None = _f("是否不愁穿", "has adequate clothing")


class Evidence(BaseModel):
    """信息比对 results (seed:JINGBIAN; policy.md §5): evidence for 民主评议, never a silent veto."""

    model_config = _FROZEN

    commercial_housing: Flag | None = _f("是否购买商品房", "owns commercial housing")
    vehicle: Flag | None = _f("是否拥有车辆（非生产生活必需）", "owns a vehicle")
    business_registration: Flag | None = _f("是否为企业法人或个体工商户", "registered enterprise or sole trader")
    public_payroll: Flag | None = _f("是否有财政供养人员", "a member on a public payroll")


class Circumstances(BaseModel):
    """Events and coping capacity that the sudden-hardship rule reads (policy.md §4.4)."""

    model_config = _FROZEN

    disaster: Flag | None = _f("是否遭受自然灾害", "hit by a natural disaster")
    accident: Flag | None = _f("是否发生意外事故", "hit by an accident")
    main_labourer_lost: Flag | None = _f("是否失去主要劳动力", "lost its main labourer")
    business_failed: Flag | None = _f("是否产业经营失败", "business or farming venture failed")
    employment_unstable: Flag | None = _f("是否务工就业不稳或失业", "unstable work or unemployment")
    willing_to_work: Flag | None = _f("是否有发展意愿（劳动意愿）", "willing to work or develop a livelihood")
    self_coping: Flag | None = _f("是否具备自主应对能力", "can cope with the difficulty on its own")
    supporter_able: Flag | None = _f(
        "是否有具备履行能力的法定赡养、抚养、扶养义务人", "has a legal supporter able to support the household"
    )


class SocialAssistance(BaseModel):
    """农村社会救助 as recorded by civil affairs (民政), read with the same income accounting (issue 12 §2)."""

    model_config = _FROZEN

    dibao_edge: Flag | None = _f("是否低保边缘家庭", "recognised as a household on the edge of 低保")
    rigid_spending_hardship_on: Day | None = _f(
        "刚性支出困难家庭认定日期", "date recognised as a household in rigid-spending hardship"
    )


class Measure(BaseModel):
    """A 帮扶措施 delivered to the household."""

    model_config = _FROZEN

    type: MeasureType | None = _f("措施类别", "measure type")
    detail: str | None = _f("措施内容", "what was done")
    delivered_on: Day | None = _f("落实日期", "date delivered")
    member_id: str | None = _f(
        "受益成员编号（空：全户）", "member id of the member it was delivered to (absent: the whole household)"
    )


class Monitoring(BaseModel):
    """监测 history."""

    model_config = _FROZEN

    status: MonitoringStatus | None = _f("监测状态", "monitoring status")
    category: MonitoringCategory | None = _f("监测对象类别", "monitoring category")
    identified_on: Day | None = _f("识别监测时间", "date identified")
    risks: tuple[RiskType, ...] | None = _f("致贫/返贫风险（最多5项）", "risk types (up to five)", max_length=5)
    measures: tuple[Measure, ...] | None = _f("已落实帮扶措施", "measures delivered", max_length=MAX_ITEMS)
    risk_eliminated_on: Day | None = _f("风险消除时间", "date the risk was eliminated")
    elimination_method: RiskEliminationMethod | None = _f("风险消除方式", "how the risk was eliminated")
    assistance_officer: str | None = _f("帮扶责任人", "the cadre responsible for the household's assistance")


class Procedure(BaseModel):
    """Procedure events of the current identification (policy.md §6)."""

    model_config = _FROZEN

    lead_found_on: Day | None = _f("发现风险线索日期", "date the risk lead was found")
    lead_channel: LeadChannel | None = _f("风险线索发现渠道", "how the risk lead was found")
    visits: tuple[Day, ...] | None = _f("入户走访日期", "dates of home visits", max_length=MAX_ITEMS)
    authorised_on: Day | None = _f("农户授权承诺日期", "date the household signed the authorisation")
    notice_start: Day | None = _f("村内公示开始日期", "first day of the village notice")
    notice_end: Day | None = _f("村内公示结束日期", "last day of the village notice")
    approved_on: Day | None = _f("县级审定日期", "date of county approval")
    plan_on: Day | None = _f("帮扶计划制定日期", "date the assistance plan was made")
    review_on: Day | None = _f("民主评议日期", "date of the village democratic review (民主评议)")
    review_passed: Flag | None = _f("民主评议是否通过", "the democratic review agreed")


class EarlierAssessment(BaseModel):
    """One earlier assessment of the same household: a previous monthly run (``eligibility monitor run``
    fills these from its store) or the county system's own record. Rule files read them as
    ``history.assessments`` to derive facts over time (previous year's income, 连续两年收入下降); with no
    earlier assessment those facts are unknown, never false (docs/monitoring.md §7)."""

    model_config = _FROZEN

    as_of: Day | None = _f("评估日期", "date of that assessment")
    per_capita_net_income: SignedMoney | None = _f("当时的家庭人均纯收入", "per-capita net income then")
    monitoring_status: MonitoringStatus | None = _f("当时的监测状态", "monitoring status then")
    risks: tuple[RiskType, ...] | None = _f("当时记录的风险", "risk types recorded then", max_length=5)
    risk_eliminated_on: Day | None = _f("当时记录的风险消除时间", "risk elimination date recorded then")


class History(BaseModel):
    """历次评估 — what earlier assessments of the household found (issue 14 §3)."""

    model_config = _FROZEN

    assessments: tuple[EarlierAssessment, ...] | None = _f("历次评估", "earlier assessments", max_length=MAX_HISTORY)


class Loan(BaseModel):
    """脱贫人口小额信贷 — the household's poverty-alleviation microcredit, as the bank or county records it.

    Rule files check it against the jurisdiction's loan terms (borrower age on the start date, amount cap,
    longest term; policy.md §7.4): each broken term is a finding, and a term whose data is missing is
    unknown rather than passed. No record (``null``) means no loan to check, not a loan of unknown terms."""

    model_config = _FROZEN

    borrower_member_id: str | None = _f("小额信贷借款人成员编号", "member id of the microcredit borrower")
    amount: Money | None = _f("小额信贷金额", "microcredit amount lent")
    term_months: Count | None = _f("小额信贷期限（月）", "microcredit term in months", ge=1)
    start_date: Day | None = _f("小额信贷放款日期", "date the microcredit was paid out")


class Household(BaseModel):
    """农户 — one household as the rules see it (户籍 plus actual residence, policy.md §1.1)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        str_max_length=MAX_TEXT,
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
    no_labour_guarantee: Flag | None = _f(
        "是否整户无劳动能力兜底保障户", "whole household without labour, under social-security 兜底"
    )
    relocation_site: Flag | None = _f(
        "是否居住在易地扶贫搬迁集中安置区", "lives in a concentrated relocation settlement"
    )
    bank_account: str | None = _f("补贴发放银行账号（不得公示）", "bank account for payments (never published)")
    members: tuple[Member, ...] | None = _f("家庭成员", "members", max_length=MAX_MEMBERS)
    income: Income | None = _f("收入（监测期12个月）", "income of the 12-month window")
    rigid_expenditure: RigidExpenditure | None = _f("刚性支出", "rigid expenditure")
    housing: Housing | None = _f("住房", "housing")
    water: Water | None = _f("饮水", "drinking water")
    basic_needs: BasicNeeds | None = _f("两不愁", "food and clothing")
    evidence: Evidence | None = _f("信息比对", "information-comparison evidence")
    circumstances: Circumstances | None = _f("困难情形", "circumstances")
    monitoring: Monitoring | None = _f("监测记录", "monitoring history")
    procedure: Procedure | None = _f("识别程序", "procedure events")
    social_assistance: SocialAssistance | None = _f(
        "农村社会救助（民政认定）", "rural social assistance (civil affairs)"
    )
    history: History | None = _f("历次评估记录", "earlier assessments of this household")
    loan: Loan | None = _f("脱贫人口小额信贷", "the household's poverty-alleviation microcredit")


_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""What a key of a household can look like; any other key is shown redacted."""


def _key(key: str) -> str:
    """A key for an error message: field-like keys as they are, any other as ``<?>``.

    An unknown key is often a value in the wrong place (an ID number exported as a column name), and
    errors must never echo a sensitive value (issue 13 §1); field names are ASCII identifiers.
    """
    return key if _NAME.fullmatch(key) else "<?>"


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{_key(part)}"
    return path


# --- Parsing: exact always, fast for ordinary records (issue 9 §3, issue 13 §2) -----------------------
#
# Exact: the JSON text is decoded by jiter with duplicate keys, NaN/Infinity and lone surrogates as
# errors and every fractional number as a Decimal made from its digits (never through a float), then
# validated by ``_EXACT``: the models' schema with each number schema taking only an int or a Decimal,
# so a JSON string where a number belongs is an error. Every error a JSON record can get comes from here.
#
# Fast: most records are valid, and pydantic-core's own JSON validation (``_FAST``) is quicker than
# decoding to Python objects first. It reads JSON floats through f64 and lets the last of two repeated
# keys win, so its result is used only when neither can have happened. One pass over the text
# (:func:`_risky`) sends to the exact path every record with a number literal that f64 could change or
# that the fast number schema does not check itself (a negative exponent, three or more digits after a
# point); without those, every literal the fast schema accepts has at most 14 significant digits, which
# f64 gives back unchanged. And its colons must be no more than the keys the household holds: every key of
# a JSON object is followed by one colon, and colons inside strings only add, so ``colons == keys kept``
# proves no key was repeated. Any other record takes the exact path, which decides; the fast path never
# accepts what it would refuse.


def _money_text(constraints: dict[str, Any]) -> str:
    """The digit strings that are valid under ``constraints`` for certain (≥ 0, digit limits)."""
    places = constraints["decimal_places"]
    whole = constraints["max_digits"] - places
    return rf"^(?:0|[1-9][0-9]{{0,{whole - 1}}})(?:\.[0-9]{{1,{places}}})?$"


def _fast_number(constraints: dict[str, Any]) -> core_schema.CoreSchema:
    """A Python number (a dict's value) as the text Python writes for it, accepted when it is plainly valid,
    converted as the models convert it.

    Only an int or a float gets through (anything else — a Decimal, ASCII text, a bool — is left to the
    models' own validator, which decides). Python writes a float in its shortest round-trip form
    (``1000.0``, ``0.1``), so ``Decimal`` of that text is what the models make of it; the pattern admits only
    digit strings within the limits, so no constraint check (whose ``Decimal.as_tuple()`` calls are
    Python) is needed.
    """
    # A float by its type first: pydantic's strict float also takes a Decimal (as a float, which is not
    # exact); then the strict float itself, which makes a float subclass a float (its own str() may differ).
    real = core_schema.chain_schema([core_schema.is_instance_schema(float), core_schema.float_schema(strict=True)])
    gate = core_schema.union_schema([core_schema.int_schema(strict=True), real], mode="left_to_right")
    text = core_schema.str_schema(pattern=_money_text(constraints), coerce_numbers_to_str=True)
    return core_schema.chain_schema([gate, text, core_schema.decimal_schema(allow_inf_nan=True)])


_FAST_PLACES: Final = 2
"""Digits after the point that a JSON number on the fast path may have (:func:`_risky` sends the others
to the exact path); every number schema allows at least as many, which :func:`_fast_json_number` checks."""


def _fast_json_number(constraints: dict[str, Any]) -> core_schema.CoreSchema:
    """A JSON number on the fast path: bounds checked in Rust on the int or f64, then the Decimal of the
    text Python writes for it — what the exact path makes of the same literal.

    What makes that safe is outside this schema: :func:`_risky` lets through only literals without a
    negative exponent and with at most :data:`_FAST_PLACES` digits after the point, so the bound (fewer whole digits
    than ``max_digits - decimal_places``) leaves at most 14 significant digits, which f64 and its shortest
    round-trip text give back unchanged, and the digit limits hold without the models' Decimal checks.
    """
    places = constraints["decimal_places"]
    if places < _FAST_PLACES:
        raise ValueError(f"a number schema with {places} decimal places needs its own fast-path check")
    bound = 10 ** (constraints["max_digits"] - places)
    low = constraints.get("ge", -bound)
    gate = core_schema.union_schema(
        [
            core_schema.int_schema(strict=True, ge=low, lt=bound),
            core_schema.float_schema(strict=True, allow_inf_nan=False, ge=low, lt=bound),
        ],
        mode="left_to_right",  # a smart union tries each choice again in lax mode: Decimal("5") as 5.0
    )
    return core_schema.chain_schema([gate, core_schema.decimal_schema(allow_inf_nan=True)])


_TENTH: Final = Decimal("0.1")


def _trimmed(value: Decimal | int) -> Decimal:
    """The number as the fast path reads it: trailing zeros after the point dropped down to one decimal.

    The fast path turns a JSON float into text as Python writes the float (``1000.0``, ``1.5``), so
    ``1000.00`` and ``1.500`` must read ``Decimal('1000.0')`` and ``Decimal('1.5')`` here too, whichever
    path a record takes — and the household digest with them. Digit by digit, not ``normalize()``, which
    rounds to the context's 28 digits and would hide a number that has too many.
    """
    if isinstance(value, int):
        return Decimal(value)
    sign, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent >= 0 and (value.adjusted() < 16 or not value):  # 0E+20 is 0.0
        return value.quantize(_TENTH)  # 1E+3 and 100e0 are floats: Python writes them 1000.0 and 100.0
    if not isinstance(exponent, int) or exponent >= -1 or digits[-1] != 0:
        return value
    n = len(digits)
    while n > 1 and exponent < -1 and digits[n - 1] == 0:
        n -= 1
        exponent += 1
    if digits[:n] == (0,):
        exponent = -1
    return Decimal((sign, digits[:n], exponent))


def _exact_number(constraints: dict[str, Any]) -> core_schema.CoreSchema:
    """A number as jiter decodes it exactly: an int, or a Decimal for anything with a point or exponent.

    Runs one Python function (:func:`_trimmed`) per number, which is why it is the exact path's and not
    the fast path's.
    """
    gate = core_schema.union_schema(
        [core_schema.is_instance_schema(Decimal), core_schema.int_schema(strict=True)],
        custom_error_type="number_type",
        custom_error_message=_NUMBER_MESSAGE,
    )
    trim = core_schema.no_info_plain_validator_function(_trimmed)
    return core_schema.chain_schema([gate, trim, core_schema.decimal_schema(allow_inf_nan=False, **constraints)])


def _rewrite(node: Any, number: Callable[[dict[str, Any]], Any], models: dict[type[BaseModel], None]) -> Any:
    """A copy of a core schema with each number schema replaced by ``number(constraints)``; the model
    classes met are collected in ``models``. The original schema is left untouched."""
    if isinstance(node, dict):
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and _NUMBER_KEY in metadata:
            return number(metadata[_NUMBER_KEY])
        if node.get("type") == "model":
            models[node["cls"]] = None
        return {k: v if k in ("metadata", "default") else _rewrite(v, number, models) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, number, models) for v in node]
    return node


def _derived_validator(number: Callable[[dict[str, Any]], Any]) -> SchemaValidator:
    """A validator for :class:`Household` whose number schemas are ``number(constraints)``.

    pydantic-core reuses the validator a complete model class already has ("prebuilt") for any model
    schema it meets — the top-level one included — which would ignore the rewritten numbers. So the
    classes are marked incomplete while the validator is built (on its first use, under ``_derived_lock``)
    and restored at once; ``test_the_derived_validators_are_in_use`` checks that the rewrite took effect.
    """
    schema: Any = Household.__pydantic_core_schema__
    models: dict[type[BaseModel], None] = {}
    derived = _rewrite(schema, number, models)
    complete = {cls: cls.__dict__.get("__pydantic_complete__", False) for cls in models}
    try:
        for cls in complete:
            cls.__pydantic_complete__ = False
        return SchemaValidator(derived, schema.get("config"))
    finally:
        for cls, was in complete.items():
            cls.__pydantic_complete__ = was


_FAST: SchemaValidator
"""JSON text of an ordinary record (see above)."""
_FAST_DICT: SchemaValidator
"""A dict whose numbers are ints and floats: what the models give, without their Decimal checks in Python."""
_EXACT: SchemaValidator
"""A value :func:`loads_json` decoded: the exact path (the CLI, the service and the table readers take it)."""

_DERIVED: Final[dict[str, Callable[[dict[str, Any]], core_schema.CoreSchema]]] = {
    "_FAST": _fast_json_number,
    "_FAST_DICT": _fast_number,
    "_EXACT": _exact_number,
}
_derived_lock: Final = threading.Lock()


def _derived(name: str) -> SchemaValidator:
    """The derived validator ``name`` (``_FAST``, ``_FAST_DICT`` or ``_EXACT``), built on its first use and
    then kept as the module global of that name.

    Why not at import: each is a rewrite of the whole Household schema and a validator compiled from it,
    ~1–1.5 ms apiece (~11 million instructions), and a process uses one or two of them — a JSON text takes
    ``_FAST`` (``_EXACT`` only for a risky literal), a dict ``_FAST_DICT``, the CLI, the service and the
    table readers ``_EXACT`` — so building all three made every new process pay for what it does not use
    (``docs/engine_speed.md``, session 18, cold). The lock keeps two first uses from interleaving the
    ``__pydantic_complete__`` marks :func:`_derived_validator` sets and restores (one could restore another's
    ``False``); a thread validating meanwhile is not affected, as validation reads the validator, not the mark.
    """
    with _derived_lock:
        got: SchemaValidator | None = globals().get(name)
        if got is None:
            got = globals()[name] = _derived_validator(_DERIVED[name])
        return got


def __getattr__(name: str) -> Any:
    """``models._FAST`` (and the other derived validators) from outside, built on first use (PEP 562)."""
    if name in _DERIVED:
        return _derived(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PLACES_OVER: Final = re.compile(rb"\.[0-9]{3}")
"""Three digits after a point. A literal prefix, so ``re`` skips to each point without looking at the
rest (a character class first would make it try every position)."""
_EXPONENT_BELOW: Final = re.compile(rb"-(?<=[eE]-)")
"""A negative exponent: found from each minus sign (few: the dashes of dates) looking one byte back."""


def _risky(data: bytes) -> bool:
    """Whether the text may hold a number literal that the fast path must not read: three or more digits
    after the point (``23699.999999999999999999``; also more places than money has), or a negative
    exponent (``1e-400`` underflows to 0.0, ``2369999999999999999999999e-21`` rounds to 23700.0 in f64,
    ``1e-3`` has three places).

    Other literals the fast number accepts are exact in f64: an integer is read as one; with at most two
    places and no negative exponent, a value under the bound (10¹² for money) has at most 14 significant
    digits, and a positive exponent only moves the point right (``1E+3`` reads ``1000.0`` on both paths,
    :func:`_trimmed`; ``1e999`` is infinity, which the fast number refuses). A match inside a string (a
    name ``Mae-``, a note ``1.125``) is harmless: the record only takes the exact path.
    """
    return _PLACES_OVER.search(data) is not None or _EXPONENT_BELOW.search(data) is not None


def _submodels(cls: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """The fields of ``cls`` that hold a model (``False``) or a tuple of models (``True``)."""
    out = []
    for name, info in cls.model_fields.items():
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                out.append((name, False))
            elif typing.get_origin(arg) is tuple:
                inner = typing.get_args(arg)[0]
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    out.append((name, True))
    return tuple(out)


def _all_submodels(cls: type[BaseModel], out: dict[type[BaseModel], tuple[tuple[str, bool], ...]]) -> None:
    out[cls] = _submodels(cls)
    for name, _ in out[cls]:
        for arg in typing.get_args(cls.model_fields[name].annotation):
            inner = typing.get_args(arg)[0] if typing.get_origin(arg) is tuple else arg
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in out:
                _all_submodels(inner, out)


_SUBMODELS: Final[dict[type[BaseModel], tuple[tuple[str, bool], ...]]] = {}
_all_submodels(Household, _SUBMODELS)


def _kept_source(cls: type[BaseModel], var: str, depth: int, lines: list[str]) -> None:
    """Lines of :func:`_keys_kept` that add the keys of ``var`` (a ``cls``) and of the models it holds."""
    pad = "    " * (depth + 1)
    lines.append(f"{pad}n += len({var}.__pydantic_fields_set__)")
    if _SUBMODELS[cls]:
        lines.append(f"{pad}d{depth} = {var}.__dict__")
    for name, many in _SUBMODELS[cls]:
        inner = next(
            typing.get_args(arg)[0] if many else arg
            for arg in typing.get_args(cls.model_fields[name].annotation)
            if arg is not type(None)
        )
        lines.append(f"{pad}v{depth} = d{depth}[{name!r}]")
        if many:
            lines += [f"{pad}if v{depth}:", f"{pad}    for x{depth} in v{depth}:"]
            _kept_source(inner, f"x{depth}", depth + 2, lines)
        else:
            lines.append(f"{pad}if v{depth} is not None:")
            _kept_source(inner, f"v{depth}", depth + 1, lines)


def _kept_function() -> Callable[[Household], int]:
    """:func:`_keys_kept`, written out for the models as they are: it runs on every record of the fast path,
    and straight-line code over the known nested fields is a third quicker than a loop that looks them up.
    Generated from the model classes at import (nothing from input or rule files reaches the source), so a
    field added to a model is counted without an edit here."""
    lines = ["def _keys_kept(h):", "    n = 0"]
    _kept_source(Household, "h", 0, lines)
    lines.append("    return n")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", "<eligibility.models._keys_kept>", "exec"), namespace)
    function: Callable[[Household], int] = namespace["_keys_kept"]
    function.__doc__ = """How many keys the JSON objects of a household had, counting a repeated key once
    (the fields-sets of the household and of every model in it)."""
    return function


_keys_kept: Final = _kept_function()


def _json_error(message: str) -> HouseholdError:
    """The error of a record that is not valid JSON text; jiter's messages name a key at most, no value."""
    if message.startswith("Detected duplicate key"):
        code = "duplicate_key"
        message = re.sub(r'"(.*)"', lambda m: f'"{_key(m.group(1))}"', message, count=1)
    elif message.startswith("recursion limit"):
        code = "too_deep"
    else:
        code = "json_invalid"
    return HouseholdError([FieldError("$", code, f"JSON 无效 / invalid JSON: {message}")])


def loads_json(data: str | bytes) -> Any:
    """Decode one JSON record exactly, or raise :class:`HouseholdError` (path ``$``) saying why not.

    Numbers with a point or an exponent become Decimals made from their digits, integers ints. Errors:
    the record is larger than :data:`MAX_RECORD_BYTES` (``too_large``), is not UTF-8 or holds a lone
    surrogate (``bad_text``), repeats a key in one object (``duplicate_key``), nests deeper than 200
    (``too_deep``), or is not JSON — NaN and Infinity included (``json_invalid``).
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise HouseholdError(
                [FieldError("$", "bad_text", "含无效字符（孤立代理项）/ invalid text: a lone surrogate")]
            ) from None
    if len(data) > MAX_RECORD_BYTES:
        raise HouseholdError(
            [FieldError("$", "too_large", f"记录超过 {MAX_RECORD_BYTES} 字节 / record over {MAX_RECORD_BYTES} bytes")]
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HouseholdError(
            [FieldError("$", "bad_text", f"不是 UTF-8 / not UTF-8: byte {exc.start}: {exc.reason}")]
        ) from None
    try:
        return jiter.from_json(data, allow_inf_nan=False, catch_duplicate_keys=True, float_mode="decimal")
    except ValueError as exc:
        raise _json_error(str(exc)) from None


def _household_id(data: Any) -> str | None:
    hid = data.get("household_id") if isinstance(data, dict) else None
    return hid if isinstance(hid, str) and len(hid) <= 64 and hid.isprintable() else None


def _validated(validate: Callable[[Any], Household], data: Any) -> Household:
    try:
        return validate(data)
    except ValidationError as exc:
        errors = [FieldError(_json_path(tuple(e["loc"])), e["type"], e["msg"]) for e in exc.errors(include_url=False)]
        raise HouseholdError(errors, _household_id(data)) from None


def household_from_json(value: Any) -> Household:
    """Validate a value decoded by :func:`loads_json` as JSON input: a number in quotes is an error."""
    try:
        exact = _EXACT
    except NameError:  # its first use (see ``_derived``)
        exact = _derived("_EXACT")
    return _validated(exact.validate_python, value)


def parse_household(data: Any) -> Household:
    """Validate one household: JSON text (``str``/``bytes``) or a Python dict.

    Raises :class:`HouseholdError` naming the JSON path of *every* bad field, not only the first,
    so a county data clerk can fix a record in one go.

    JSON text is read exactly (:func:`loads_json`, :func:`household_from_json`); ordinary records take
    the fast path described above, with the same result. A dict is validated by the models' rules:
    numbers as int, float, Decimal or ASCII decimal text (a spreadsheet cell), booleans as bool only; one
    whose numbers are ints and floats within the limits is validated by ``_FAST_DICT``, which gives what
    the models give without their Python Decimal checks, and any other dict by the models themselves.
    """
    if not isinstance(data, str | bytes):
        try:
            fast_dict = _FAST_DICT
        except NameError:  # its first use (see ``_derived``)
            fast_dict = _derived("_FAST_DICT")
        try:
            h: Household = fast_dict.validate_python(data)
        except ValidationError:
            return _validated(Household.model_validate, data)  # the models' own errors
        return h
    if len(data) <= MAX_RECORD_BYTES // 4:  # larger text goes the exact way, which measures it in bytes
        try:
            raw = data.encode("utf-8") if isinstance(data, str) else data
        except UnicodeEncodeError:
            raw = b"NaN"  # a lone surrogate: loads_json says so
        if not _risky(raw):
            try:
                fast = _FAST
            except NameError:  # its first use (see ``_derived``)
                fast = _derived("_FAST")
            try:
                h = fast.validate_json(raw)
            except ValidationError:
                pass
            else:
                if raw.count(b":") == _keys_kept(h):
                    return h
    return household_from_json(loads_json(data))


def births_after(h: Household, on: date) -> list[FieldError]:
    """An error for each member born after the assessment date ``on``: an impossible record (a typo in
    the year, 2073 for 1973), not an unknown, so it must be fixed before anything is decided."""
    return [
        FieldError(
            f"$.members[{i}].birth_date",
            "born_after_as_of",
            f"出生日期晚于评估日期 {on} / date of birth after the assessment date {on}",
        )
        for i, m in enumerate(h.members or ())
        if m.birth_date is not None and m.birth_date > on
    ]


def household_digest(h: Household) -> str:
    """``"sha256:"`` and the hex SHA-256 of the household's canonical JSON, ``h.model_dump_json()``.

    Names the household's content, not the bytes it came in: a dict, a JSON text with other key order
    or spacing, English codes for Chinese ones all give the same digest. The same in every process too —
    sets are written sorted (:func:`_sorted_by_value`), which is what makes the digest worth recording.

    Hashes the serializer's UTF-8 bytes as they come — the bytes of ``model_dump_json()``'s text, which
    would be decoded only to be encoded again (a few µs of every full trace).
    """
    return "sha256:" + hashlib.sha256(h.__pydantic_serializer__.to_json(h)).hexdigest()


def bytes_digest(data: bytes | str) -> str:
    """``"sha256:"`` and the hex SHA-256 of ``data`` as received (a str is hashed as UTF-8)."""
    return "sha256:" + hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()
