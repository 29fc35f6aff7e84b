"""Households per second of the reference evaluator on generated households.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_evaluate.py [N]``. Prints its figures;
nothing here asserts on time. Households come from ``workload.py`` (fixed seed), placed in 淮北 and
甘肃, with incomes around the lines and a share of missing sections, so every path of the rules runs.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import Engine, parse_household

AS_OF = date(2023, 9, 30)
PACKS = ("anhui-huaibei", "gansu")  # both have a monitoring line on AS_OF


def generate(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` households of 淮北 and 甘肃 to assess on ``AS_OF`` (the generator lives in ``workload.py``)."""
    where = workload.sites(dates=(AS_OF,), packs_wanted=PACKS)
    return [h for h, _ in workload.generate(rng, n, where)]


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
    m = min(n, 2000)
    for h in households[:m]:
        size += len(engine.evaluate(h, AS_OF).to_json(indent=None))
    t_json = (time.perf_counter() - t0) / m * n

    print(f"rules loaded (bundled packs) in {t_load * 1000:.0f} ms")
    print(f"households: {n}")
    print(f"parse+validate JSON: {n / t_parse:,.0f} households/s")
    engines = " + ".join(engine.engines)
    each = t_eval * 1e6 / n
    print(f"evaluate ({engines}, full trace): {n / t_eval:,.0f} households/s ({each:.0f} µs each)")
    print(f"evaluate + decision JSON: {n / t_json:,.0f} households/s, {size / m / 1024:.1f} KiB each")
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


if __name__ == "__main__":
    main()
