"""Household input models: what a county system sends for one household.

The models mirror the fields of the national monitoring system's exports (policy.md §10). Every field
except the ids may be absent, because real records have gaps and an absent value must be *unknown*
to the rules — never a quiet ``False`` or ``0`` that would make a household ineligible (design.md,
"Missing data is unknown").

Coded values are enums whose values are the Chinese strings the national system uses; each member's
name is a stable English code, and input may use either form.
"""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    "parse_household",
]


class CodedEnum(str, enum.Enum):
    """An enum whose value is the Chinese term and whose name is a stable English code.

    Input may give either; output always carries the Chinese value, the form the national system uses.
    """

    @classmethod
    def _missing_(cls, value: object) -> CodedEnum | None:
        for member in cls:
            if member.name == value:
                return member
        return None


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
    health: frozenset[HealthStatus] | None = _f("健康状况（可多选）", "health status (several may apply)")
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


def parse_household(data: Any) -> Household:
    """Validate raw JSON data (a dict or a JSON string/bytes) into a :class:`Household`.

    Raises :class:`HouseholdError` naming the JSON path of *every* bad field, not only the first,
    so a county data clerk can fix a record in one go.
    """
    try:
        if isinstance(data, str | bytes):
            return Household.model_validate_json(data)
        return Household.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(_json_path(tuple(e["loc"])), e["type"], e["msg"]) for e in exc.errors(include_url=False)]
        hid = data.get("household_id") if isinstance(data, dict) else None
        raise HouseholdError(errors, hid if isinstance(hid, str) else None) from None
