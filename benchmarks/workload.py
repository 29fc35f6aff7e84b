"""Generated households for the benchmarks (issue 9 §5): fixed seed, every section, incomes around the lines.

Not a benchmark itself; ``bench_compiled.py`` and ``bench_evaluate.py`` import it. Run
``.venv/bin/python benchmarks/workload.py [N]`` to print a summary of N generated households (default
1,000): how many per pack and assessment date, and the share of each section that is absent.

Where households live and when they are assessed is read from the bundled rules, not hard-coded:
every ``rules/*/pack.yaml`` gives region prefixes (12-digit codes are drawn under them, outside any
more specific pack's prefixes), and the ``monitoring_line`` values in ``rules/*/parameters/*.yaml``,
resolved along the ``extends`` chain (``inherit: true`` and absent years fall back to the parent,
``value: null`` means no line), give the assessment dates on which each pack has a line. Each
household is generated for one such (pack, region, date) *site*, with its per-capita net income drawn
around that site's line — below, exactly at, and above it — so both sides of every threshold occur.
A share of sections and fields is left out so that the unknown paths of the rules run too.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

RULES = Path(__file__).resolve().parent.parent / "rules"
"""The bundled rules folder of this checkout (the benchmarks read its YAML; they never write to it)."""

CANDIDATE_DATES = (date(2021, 9, 30), date(2022, 6, 30), date(2023, 9, 30), date(2024, 6, 30), date(2025, 6, 30))
"""Assessment dates tried for every pack; a site exists where the pack has a monitoring line on the date."""

# GB/T 2260 province codes, used for the national pack (which claims no prefix of its own): households
# of provinces that no bundled pack covers are decided by the national rules.
_PROVINCES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37")
_PROVINCES += ("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65")

HEALTH = [["健康"], ["健康"], ["健康"], ["长期慢性病"], ["患有大病"], ["残疾"], ["残疾", "长期慢性病"], []]
SCHOOL_AGE_STAGES = ["小学", "七年级", "八年级", "九年级"]
BEYOND_COMPULSORY = ["普通高中", "中职", "高职高专", "技师学院", "本科"]
LABOUR = ["普通劳动力", "普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力"]
RISKS = ["因病", "因学", "因残", "因自然灾害", "因意外事故", "因产业项目失败", "因务工就业不稳", "缺劳动力"]
RISKS += ["住房出现安全问题", "因安全饮水", "其他"]
MEASURES = ["产业帮扶", "就业帮扶", "金融帮扶", "公益岗位帮扶", "住房安全保障", "饮水安全保障", "健康帮扶"]
MEASURES += ["义务教育保障", "其他教育帮扶", "综合保障", "社会帮扶", "搬迁", "生产生活条件改善", "基础设施建设"]
CATEGORIES = ["脱贫不稳定户", "边缘易致贫户", "突发严重困难户"]


@dataclass(frozen=True)
class Pack:
    """What the benchmarks need of one rule pack: its prefixes, parent and monitoring-line entries."""

    id: str
    regions: tuple[str, ...]
    extends: str | None
    line_entries: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Site:
    """A place and date to assess households: a 12-digit region code of ``pack`` and the line there."""

    pack: str
    region: str
    as_of: date
    line: Decimal


def read_packs(rules: Path = RULES) -> dict[str, Pack]:
    """Every pack under ``rules`` (folders with a ``pack.yaml``), with its ``monitoring_line`` entries."""
    packs: dict[str, Pack] = {}
    for pack_file in sorted(rules.glob("*/pack.yaml")):
        meta = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = []
        for param_file in sorted((pack_file.parent / "parameters").glob("*.yaml")):
            params = (yaml.safe_load(param_file.read_text(encoding="utf-8")) or {}).get("parameters") or {}
            entries += (params.get("monitoring_line") or {}).get("values") or []
        entries.sort(key=lambda e: e["from"])
        packs[meta["id"]] = Pack(meta["id"], tuple(meta.get("regions") or ()), meta.get("extends"), tuple(entries))
    return packs


def monitoring_line(packs: dict[str, Pack], pack_id: str | None, on: date) -> Decimal | None:
    """The monitoring line of ``pack_id`` on ``on``: its own latest entry, else (or on ``inherit``) the parent's."""
    if pack_id is None:
        return None
    pack = packs[pack_id]
    current = None
    for entry in pack.line_entries:
        if entry["from"] <= on:
            current = entry
    if current is None or current.get("inherit"):
        return monitoring_line(packs, pack.extends, on)
    return None if current.get("value") is None else Decimal(str(current["value"]))


def region_codes(packs: dict[str, Pack], pack_id: str, rng: random.Random, k: int) -> list[str]:
    """``k`` distinct 12-digit codes that resolve to ``pack_id``: under its prefixes, under no longer one."""
    claimed = [p for other in packs.values() for p in other.regions]
    prefixes = list(packs[pack_id].regions) or [p for p in _PROVINCES if not any(c.startswith(p) for c in claimed)]
    codes: set[str] = set()
    while len(codes) < k:
        prefix = rng.choice(prefixes)
        county = prefix + "".join(rng.choice("0123456789") for _ in range(6 - len(prefix)))
        code = (county + f"{rng.randint(1, 30):03d}{rng.randint(1, 40):03d}")[:12]
        owner = max((p for p in claimed if code.startswith(p)), key=len, default="")
        if owner in packs[pack_id].regions or (not packs[pack_id].regions and owner == ""):
            codes.add(code)
    return sorted(codes)


def sites(
    rules: Path = RULES,
    dates: tuple[date, ...] = CANDIDATE_DATES,
    packs_wanted: tuple[str, ...] | None = None,
    per_pack: int = 3,
    seed: int = 905,
) -> list[Site]:
    """Every (pack, region code, date) with a monitoring line, ``per_pack`` region codes per pack."""
    packs = read_packs(rules)
    rng = random.Random(seed)
    out = []
    for pack_id in sorted(packs):
        if packs_wanted is not None and pack_id not in packs_wanted:
            continue
        lined = [(d, line) for d in dates if (line := monitoring_line(packs, pack_id, d)) is not None]
        if not lined:
            continue
        for code in region_codes(packs, pack_id, rng, per_pack):
            out += [Site(pack_id, code, d, line) for d, line in lined]
    return out


# ------------------------------------------------------------------------------------- households


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def _years_before(on: date, years: int, rng: random.Random) -> date:
    """A birth date that makes the member ``years`` old on ``on`` (days 1–28, so no leap-day edge)."""
    born = date(on.year - years, rng.randint(1, 12), rng.randint(1, 28))
    if (born.month, born.day) > (on.month, on.day):
        born = born.replace(year=born.year - 1)
    return born


def schooling(rng: random.Random, age: int) -> str:
    """A schooling stage that fits the age, so school-age children and older students both occur."""
    if age < 6:
        return rng.choice(["学龄前儿童", "学前教育"])
    if age <= 15:
        return rng.choice(SCHOOL_AGE_STAGES)
    if age <= 24:
        return rng.choice([*BEYOND_COMPULSORY, "非在校生", "非在校生", "非在校生"])
    return "非在校生"


def member(rng: random.Random, i: int, on: date, relation: str) -> dict[str, Any]:
    """One member: age by relation, health set, disability grade, schooling, insurance, labour capacity."""
    if relation == "子女":
        age = rng.choice([rng.randint(0, 5), rng.randint(6, 15), rng.randint(6, 15), rng.randint(16, 24)])
        age = rng.choice([5, 6, 15, 16]) if rng.random() < 0.1 else age  # the edges of compulsory-education age
    elif relation == "父母":
        age = rng.randint(58, 92)
    else:
        age = rng.randint(22, 70)
    health = rng.choice(HEALTH)
    m: dict[str, Any] = {
        "member_id": str(i),
        "name": f"成员{i}",
        "relation": relation,
        "birth_date": _years_before(on, age, rng).isoformat(),
        "labour": rng.choice(LABOUR)
        if 16 <= age < 70
        else rng.choice(["无劳动力", "丧失劳动力", "弱劳动力或半劳动力"]),
        "health": health,
        "disability_grade": rng.randint(1, 4) if "残疾" in health else None,
        "schooling": schooling(rng, age),
        "dropped_out": 6 <= age <= 17 and rng.random() < 0.06,
        "basic_medical_insurance": rng.random() > 0.04,
        "critical_illness_insurance": rng.random() > 0.1,
        "public_payroll": rng.random() < 0.01,
    }
    if rng.random() < 0.25:
        m["id_number"] = f"{rng.randint(10**17, 10**18 - 1)}"
    for key in ("dropped_out", "basic_medical_insurance", "health", "disability_grade", "labour", "birth_date"):
        if rng.random() < 0.02:
            m.pop(key, None)
    return m


def _cents(x: Decimal) -> float:
    """Yuan as a JSON number with at most two decimals (the float repr of cents/100 is exact text)."""
    return int(x * 100) / 100


def income(rng: random.Random, size: int, line: Decimal, on: date) -> dict[str, Any]:
    """Income whose per-capita net value lies below, exactly at, or above ``line``."""
    r = rng.random()
    if r < 0.04:
        per_capita = line  # exactly at the line: not below it (policy.md §11.2)
    elif r < 0.08:
        per_capita = line - Decimal("0.01") * rng.randint(1, 3)
    else:
        per_capita = line * Decimal(rng.uniform(0.55, 1.7)).quantize(Decimal("0.0001"))
    net = (per_capita * size).quantize(Decimal("0.01"))
    business_income = (net * Decimal(rng.choice([0, 0.1, 0.3, 0.5]))).quantize(Decimal("0.01"))
    business_cost = (business_income * Decimal(rng.choice([0, 0.2, 0.4]))).quantize(Decimal("0.01"))
    prop = Decimal(rng.choice([0, 0, 120, 800]))
    transfer = Decimal(rng.choice([0, 1200, 3000, 6000])).min(net / 2).quantize(Decimal("0.01"))
    room = net - business_income + business_cost  # ≥ 0: business income is at most half the net
    prop = prop.min(room)
    transfer = transfer.min(room - prop)
    wage = room - prop - transfer
    window_end = date(on.year, on.month, 1) - timedelta(days=1)
    out: dict[str, Any] = {
        "window_start": date(window_end.year - 1, window_end.month, 1).isoformat(),
        "window_end": window_end.isoformat(),
        "wage": _cents(wage),
        "business_income": _cents(business_income),
        "business_cost": _cents(business_cost),
        "property": _cents(prop),
        "transfer": _cents(transfer),
        "claims": rng.choice([0, 0, 0, 5000]),
        "previous_year_per_capita": _cents(line * Decimal(rng.uniform(0.7, 1.6)).quantize(Decimal("0.0001"))),
    }
    for key in list(out):
        if rng.random() < 0.015:
            del out[key]
    return out


def monitoring(rng: random.Random, on: date, household_type: str) -> dict[str, Any]:
    """Monitoring history: status, category, identification date, risks and dated measures."""
    status = rng.choice(["未纳入监测", "未纳入监测", "未纳入监测", "监测中", "监测中", "风险已消除"])
    out: dict[str, Any] = {"status": status}
    if status == "未纳入监测":
        return out
    identified = _day(rng, on - timedelta(days=900), on - timedelta(days=10))
    out["category"] = "脱贫不稳定户" if household_type == "脱贫户" else rng.choice(CATEGORIES[1:])
    out["identified_on"] = identified.isoformat()
    out["risks"] = rng.sample(RISKS, rng.randint(1, 3))
    measures = []
    for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
        measures.append(
            {
                "type": rng.choice(MEASURES),
                "detail": "帮扶措施",
                # a few delivered after the assessment date, so "delivered by as_of" is tested both ways
                "delivered_on": _day(rng, identified, on + timedelta(days=60)).isoformat(),
            }
        )
    out["measures"] = measures
    if status == "风险已消除":
        eliminated = _day(rng, identified, on)
        out["risk_eliminated_on"] = eliminated.isoformat()
        out["elimination_method"] = rng.choice(["帮扶消除", "自然消除"])
    return out


def procedure(rng: random.Random, on: date) -> dict[str, Any]:
    """Procedure events of a current identification; some late, some not yet done."""
    lead = _day(rng, on - timedelta(days=200), on - timedelta(days=1))
    notice_start = lead + timedelta(days=rng.randint(2, 12))
    out: dict[str, Any] = {
        "lead_found_on": lead.isoformat(),
        "visits": sorted({_day(rng, lead, on).isoformat() for _ in range(rng.randint(0, 6))}),
        "authorised_on": (lead + timedelta(days=rng.randint(0, 5))).isoformat(),
        "notice_start": notice_start.isoformat(),
        "notice_end": (notice_start + timedelta(days=rng.choice([3, 4, 5, 7]))).isoformat(),
    }
    approved = notice_start + timedelta(days=rng.randint(5, 25))
    if approved <= on and rng.random() < 0.7:
        out["approved_on"] = approved.isoformat()
        plan = approved + timedelta(days=rng.randint(0, 20))
        if plan <= on and rng.random() < 0.8:
            out["plan_on"] = plan.isoformat()
    return out


OPTIONAL_SECTIONS = ("income", "rigid_expenditure", "housing", "water", "basic_needs", "evidence", "circumstances")
OPTIONAL_SECTIONS += ("monitoring", "procedure", "household_type", "members")


def household(rng: random.Random, k: int, site: Site) -> dict[str, Any]:
    """One household of ``site``, as the JSON object a county system sends."""
    on, line = site.as_of, site.line
    size = rng.randint(1, 6)
    relations = ["户主", "配偶", "子女", "子女", "父母", "父母"][:size]
    household_type = rng.choice(["脱贫户", "一般农户"])
    rigid_per_capita = line * Decimal(rng.choice([0, 0, 0.05, 0.3, 0.8]))
    h: dict[str, Any] = {
        "household_id": f"B-{k:06d}",
        "region": site.region,
        "household_type": household_type,
        "members": [member(rng, i, on, rel) for i, rel in enumerate(relations, 1)],
        "income": income(rng, size, line, on),
        "rigid_expenditure": {
            "medical_self_pay": _cents(rigid_per_capita * size * Decimal(rng.choice([0, 0.5, 1]))),
            "education": rng.choice([0, 0, 0, 1500, 6000]),
            "disaster_loss": rng.choice([0, 0, 0, 0, 10000]),
        },
        "housing": {"grade": rng.choice("AAABBBCD"), "only_dwelling": rng.random() > 0.1},
        "water": {
            "litres_per_person_day": rng.choice([15, 19, 20, 25, 34, 35, 40, 60, 60]),
            "water_short_area": rng.random() < 0.3,
            "piped": rng.random() > 0.3,
            "fetch_minutes": rng.choice([5, 10, 20, 21, 40]),
            "horizontal_distance_m": rng.choice([200, 800, 801, 1500]),
            "vertical_distance_m": rng.choice([10, 80, 81, 150]),
            "outage_days_per_year": rng.choice([0, 5, 36, 37, 60]),
            "quality": rng.choice(["达标", "达标", "达标", "基本达标", "不达标"]),
        },
        "basic_needs": {"food_secure": rng.random() > 0.03, "clothing_secure": rng.random() > 0.02},
        "evidence": {
            "vehicle": rng.random() < 0.05,
            "commercial_housing": rng.random() < 0.03,
            "business_registration": rng.random() < 0.03,
            "public_payroll": rng.random() < 0.02,
        },
        "circumstances": {
            "disaster": rng.random() < 0.05,
            "accident": rng.random() < 0.05,
            "main_labourer_lost": rng.random() < 0.04,
            "business_failed": rng.random() < 0.04,
            "employment_unstable": rng.random() < 0.08,
            "willing_to_work": rng.random() > 0.1,
            "self_coping": rng.random() < 0.5,
        },
        "monitoring": monitoring(rng, on, household_type),
        "procedure": procedure(rng, on),
    }
    if rng.random() < 0.3:
        h["bank_account"] = f"62{rng.randint(10**15, 10**16 - 1)}"
    for section in ("water", "housing", "basic_needs", "evidence", "circumstances"):
        fields = h[section]
        for key in list(fields):
            if rng.random() < 0.02:
                del fields[key]
    for section in OPTIONAL_SECTIONS:
        if rng.random() < (0.01 if section in ("members", "household_type", "income") else 0.05):
            del h[section]
    if rng.random() < 0.002:
        del h["region"]  # no jurisdiction: the engine asks for the region code
    return h


def generate(rng: random.Random, n: int, where: list[Site]) -> list[tuple[dict[str, Any], date]]:
    """``n`` households, each with the date to assess it on: a pack drawn evenly, then one of its sites."""
    return list(iter_generate(rng, n, where))


def iter_generate(rng: random.Random, n: int, where: list[Site]) -> Iterator[tuple[dict[str, Any], date]]:
    """As :func:`generate`, one household at a time (to serialise a large workload without holding it twice)."""
    by_pack: dict[str, list[Site]] = {}
    for site in where:
        by_pack.setdefault(site.pack, []).append(site)
    groups = [by_pack[p] for p in sorted(by_pack)]
    for k in range(n):
        site = rng.choice(rng.choice(groups))
        yield household(rng, k, site), site.as_of


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    where = sites()
    work = generate(random.Random(20261122), n, where)
    by_site = Counter((h.get("region", "-")[:6], on.isoformat()) for h, on in work)
    packs = Counter(s.pack for s in where)
    print(f"{len(where)} sites over {len(packs)} packs; {n} households")
    for pack_id in sorted(packs):
        lines = sorted({(s.as_of.isoformat(), str(s.line)) for s in where if s.pack == pack_id})
        print(f"  {pack_id:22} " + ", ".join(f"{d}: {line}" for d, line in lines))
    print(f"  distinct (county, date): {len(by_site)}")
    for section in OPTIONAL_SECTIONS:
        absent = sum(section not in h for h, _ in work)
        print(f"  {section:18} absent in {absent / n:.1%}")


if __name__ == "__main__":
    main()
