"""Households per second of the reference evaluator on generated households.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_evaluate.py [N]``. Prints its figures;
nothing here asserts on time. Households are generated with a fixed seed across 淮北 and 甘肃,
with incomes around the lines and a share of missing sections, so every path of the rules runs.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from datetime import date
from typing import Any

from eligibility import Engine, parse_household

AS_OF = date(2023, 9, 30)
REGIONS = ["340602001001", "340603002003", "621102001001", "620102005001"]


def member(rng: random.Random, i: int) -> dict[str, Any]:
    born = date(rng.randint(1940, 2019), rng.randint(1, 12), rng.randint(1, 28))
    m: dict[str, Any] = {
        "member_id": str(i),
        "birth_date": born.isoformat(),
        "health": rng.choice([["健康"], ["长期慢性病"], ["患有大病"], ["残疾"], ["残疾", "长期慢性病"]]),
        "disability_grade": rng.choice([None, 1, 2, 3, 4]),
        "schooling": rng.choice(["非在校生", "小学", "七年级", "普通高中", "中职"]),
        "dropped_out": rng.random() < 0.03,
        "basic_medical_insurance": rng.random() > 0.03,
        "public_payroll": rng.random() < 0.01,
    }
    if rng.random() < 0.05:
        del m["dropped_out"]
    return m


def generate(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for k in range(n):
        size = rng.randint(1, 6)
        per_capita = rng.uniform(4000, 12000)
        h: dict[str, Any] = {
            "household_id": f"B-{k:06d}",
            "region": rng.choice(REGIONS),
            "household_type": rng.choice(["脱贫户", "一般农户"]),
            "members": [member(rng, i) for i in range(size)],
            "income": {
                "wage": round(per_capita * size * 0.7, 2),
                "business_income": round(per_capita * size * 0.4, 2),
                "business_cost": round(per_capita * size * 0.1, 2),
                "property": 0,
                "transfer": 0,
            },
            "rigid_expenditure": {"medical_self_pay": rng.choice([0, 2000, 20000]), "education": 0, "disaster_loss": 0},
            "housing": {"grade": rng.choice("AABBBCD"), "only_dwelling": rng.random() > 0.1},
            "water": {
                "litres_per_person_day": rng.choice([15, 25, 40, 60]),
                "water_short_area": rng.random() < 0.2,
                "piped": rng.random() > 0.2,
                "fetch_minutes": rng.randint(5, 40),
                "outage_days_per_year": rng.randint(0, 50),
                "quality": rng.choice(["达标", "达标", "基本达标", "不达标"]),
            },
            "basic_needs": {"food_secure": rng.random() > 0.02, "clothing_secure": True},
            "evidence": {
                "vehicle": rng.random() < 0.05,
                "commercial_housing": False,
                "business_registration": False,
                "public_payroll": False,
            },
            "circumstances": {"accident": rng.random() < 0.05, "self_coping": rng.random() < 0.5},
            "monitoring": {"status": rng.choice(["未纳入监测", "未纳入监测", "监测中"])},
        }
        for section in ("water", "rigid_expenditure", "circumstances"):
            if rng.random() < 0.1:
                del h[section]
        out.append(h)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = random.Random(20261122)
    t0 = time.perf_counter()
    engine = Engine()
    t_load = time.perf_counter() - t0
    raw = generate(rng, n)
    texts = [json.dumps(h, ensure_ascii=False) for h in raw]

    t0 = time.perf_counter()
    households = [parse_household(t) for t in texts]
    t_parse = time.perf_counter() - t0

    engine.evaluate(households[0], AS_OF)  # warm the per-date caches
    # Streaming, as a county batch job runs: evaluate, serialise, keep only the status. Keeping
    # 10,000 decisions alive (each a tree of thousands of objects) would mostly measure the garbage
    # collector walking them, not the evaluator.
    statuses: Counter[str] = Counter()
    t0 = time.perf_counter()
    for h in households:
        statuses[engine.evaluate(h, AS_OF).identification.status] += 1
    t_eval = time.perf_counter() - t0

    t0 = time.perf_counter()
    size = 0
    for h in households[:2000]:
        size += len(engine.evaluate(h, AS_OF).to_json(indent=None))
    t_json = (time.perf_counter() - t0) / 2000 * n

    print(f"rules loaded (bundled packs) in {t_load * 1000:.0f} ms")
    print(f"households: {n}")
    print(f"parse+validate JSON: {n / t_parse:,.0f} households/s")
    engines = " + ".join(engine.engines)
    each = t_eval * 1e6 / n
    print(f"evaluate ({engines}, full trace): {n / t_eval:,.0f} households/s ({each:.0f} µs each)")
    print(f"evaluate + decision JSON: {n / t_json:,.0f} households/s, {size / 2000 / 1024:.1f} KiB each")
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


if __name__ == "__main__":
    main()
