"""Households per second of the polars target (issue 10 §1) on generated households.

Run: ``.venv/bin/python benchmarks/bench_batch_target.py [N] [--check K]`` (default N = 100,000). Prints
its figures; nothing here asserts on time. Households come from ``workload.py`` (fixed seed); the
table is built once (``households_frame``) and not timed, then ``decide_table`` is timed on

(a) 淮北 only (``anhui-huaibei`` sites, region prefix 3406), assessed on 2023-09-30: one chain, one span;
(b) every pack on every date with a monitoring line, mixed in one table: split by (chain, span).

For comparison it also times a hand-written polars query of the identification income test alone
(per-capita net income below 淮北's monitoring line, the quotient kept exact by cross-multiplying) on
frame (a): the floor of what a columnar query over this table costs. ``--check K`` compares the first
K rows of each table with ``Engine.evaluate`` (off by default: that part is the Python target's speed).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

# Before polars, as the command line imports it: ``import eligibility`` sets polars' allocator
# (``eligibility.POLARS_ALLOCATOR``), which only takes effect if polars is not yet loaded.
import eligibility  # noqa: F401

# isort: split
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import Engine, load_rules, parse_household
from eligibility.compile.polars import compile_table, decide_table, decision_row, households_frame
from eligibility.errors import EvaluationError

AS_OF = date(2023, 9, 30)
REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3


def frame_of(pairs: list[tuple[dict[str, object], date]]) -> pl.DataFrame:
    households = [parse_household(h) for h, _ in pairs]
    return households_frame(households, [on for _, on in pairs])


def income_only(df: pl.DataFrame, line: Decimal) -> pl.DataFrame:
    """The identification income test by hand: net income < line × household size (size > 0)."""
    net = (
        pl.col("income.wage")
        + pl.col("income.business_income")
        - pl.col("income.business_cost")
        + pl.col("income.property")
        + pl.col("income.transfer")
    )
    size = pl.col("members").list.len()
    below = pl.when(size > 0).then(net < pl.lit(line, dtype=pl.Decimal(38, 2)) * size)
    return df.select("_row", below.alias("below_line"))


def timed(label: str, n: int, fn: object, repeat: int = REPEAT) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<58} {best:8.3f} s  {n / best:>12,.0f} households/s")
    return best


def check(engine: Engine, pairs: list[tuple[dict[str, object], date]], table: pl.DataFrame, k: int) -> None:
    bad = 0
    for (h, on), row in zip(pairs[:k], table.head(k).iter_rows(named=True), strict=True):
        try:
            want = decision_row(engine.evaluate(h, on, trace="none"))
        except EvaluationError as exc:  # the row must carry the same error
            bad += row["error"] != str(exc)
            continue
        bad += any(row[key] != value for key, value in want.items())
    print(f"  checked {min(k, len(pairs)):,} rows against Engine.evaluate: {bad} differ")


def main() -> None:
    args = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith("--") and not sys.argv[i].startswith("--")]
    n = int(args[0]) if args else 100_000
    k = int(sys.argv[sys.argv.index("--check") + 1]) if "--check" in sys.argv else 0
    rules = load_rules(workload.RULES)
    engine = Engine(rules)

    huaibei = workload.generate(
        random.Random(20261130), n, workload.sites(dates=(AS_OF,), packs_wanted=("anhui-huaibei",))
    )
    mixed = workload.generate(random.Random(20261131), n, workload.sites())
    t0 = time.perf_counter()
    fa, fb = frame_of(huaibei), frame_of(mixed)
    print(
        f"built two frames of {n:,} rows in {time.perf_counter() - t0:.1f} s "
        "(parse + households_frame, not timed below)"
    )
    spans = fb.select(pl.col("region").str.slice(0, 4), "as_of").n_unique()
    print(
        f"mixed frame: {fb.get_column('region').str.slice(0, 4).n_unique()} region prefixes, "
        f"{spans} (prefix, date) pairs"
    )

    t0 = time.perf_counter()
    chain = rules.chain(rules.pack_for_region(huaibei[0][0]["region"]))  # type: ignore[arg-type]
    compile_table(chain, AS_OF)
    print(f"compile_table (淮北, one span): {time.perf_counter() - t0:.3f} s")

    table_a = decide_table(rules, fa)  # warm: compiled programs cached
    timed("(a) decide_table, 淮北 only, 2023-09-30", n, lambda: decide_table(rules, fa))
    statuses = dict(table_a.group_by("status").len().iter_rows())
    print(f"  statuses: {statuses}; rows with an unknown conclusion get the gap pass")
    table_b = decide_table(rules, fb)
    timed("(b) decide_table, every pack and date mixed", n, lambda: decide_table(rules, fb))
    print(f"  errors (no line on the date etc.): {table_b.get_column('error').is_not_null().sum():,}")
    line = chain.param_hit("monitoring_line", AS_OF).value
    timed("hand-written polars: identification income test only, (a)", n, lambda: income_only(fa, line))
    if k:
        check(engine, huaibei, table_a, k)
        check(engine, mixed, table_b, k)


if __name__ == "__main__":
    main()
