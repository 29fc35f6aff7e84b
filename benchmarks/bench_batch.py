"""The columnar batch at county and province scale (issue 10 §7): households/s, peak memory, streaming.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--n N] [--repeat R] [--stream M] [--dir DIR]``
(default N = 1,000,000 households, ~3 members each; R = 3). Prints figures only; nothing here asserts on
time. Every phase that reports a peak RSS runs in a fresh subprocess, so its peak is its own.

The workload is generated *columnar* (polars expressions over a row index, hashed with fixed seeds —
no pydantic object per household) and written to Parquet in the batch input layout
(``docs/batch.md``): 淮北 (region prefix 3406) assessed on 2023-09-30, incomes around 淮北's monitoring
line, every section present with a share of unknown (null) cells so the "needs review" paths run too.

Phases, all on the same data:

1. ``read_households`` of the Parquet file (columnar validation) — households/s.
2. **Identification, compiled vs by hand.** ``decide_table`` with an identification-only copy of the
   bundled rules (national + 安徽 + 淮北 packs with the ``assistance``/``exit``/``procedure``/``warning``
   folders left out; copied into DIR, never into the repository) against a hand-written polars query
   of the same identification rules (status, category, risks, exclusions, reviews — Kleene unknowns,
   member aggregates, the exact income test), its parameters read from the same rule set. The two are
   checked to agree on status and category for every row. The compiled target also lists the facts
   that would settle each ``needs_review`` (``blocking``/``unknown``); the query by hand does not.
3. **Bundled packs**, all five decisions: ``decide_table`` with the bundled rules over the whole frame,
   one call, which decides it in even chunks on the usable cores (session 25; until then this phase
   called it in parts of ``--chunk-rows`` rows in this thread, one core).
4. **End to end**: ``run_batch`` Parquet → Parquet in a subprocess, in one process and then with worker
   processes on every usable core (``workers="auto"``, the command's default): time, CPU of the process
   and its workers, peak RSS of the process and of its largest worker (target < 4 GiB at 1,000,000
   households: with workers, the parent's peak plus each worker's).
5. With ``--stream M`` (``make bench-stream``: M = 10,000,000): an M-household Parquet file generated
   in slices by a streaming sink, then ``run_batch`` over it in a subprocess: time and peak RSS (the
   bound is stated in ``docs/batch.md``). The file is deleted afterwards.

``--identification-only`` stops after phase 2. Phase 2 runs the two queries in alternating rounds
(``--repeat`` each) and prints the CPU ratio of every round: on a shared machine one pair of timings says
little, the spread of the rounds says how sure the comparison is.

Measured (2026-12-01, session 9, 2 shared cores at load 15–24; ``docs/batch-speed.md`` §8):

- Ten million households (the ``--stream`` phase's two steps run by hand under ``/usr/bin/time -v``,
  ``main`` afa6f8b): generated in 108 s (49 CPU s, 706 MB Parquet); ``run_batch`` Parquet → Parquet with the
  bundled packs in parts of 100,000: 4,191 s wall, 901 CPU s (2,386 households/s at that load, 11,100 per
  CPU second), peak RSS 2,139 MiB; 10,000,000 decided + 0 errors, 10,000,000 output rows.
- One million end to end (this branch): 95.7 CPU s, peak RSS 1,674 MiB (target < 4 GiB).
- ``--n 200000 --repeat 5 --identification-only``: hand ÷ compiled 1.23–1.30× and 1.26–1.33× per round
  (two runs; ``main`` in between: 0.92–1.08×); status and category equal on every row.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

# Before polars, as the command line imports it: ``import eligibility`` sets polars' allocator
# (``eligibility.POLARS_ALLOCATOR``), which only takes effect if polars is not yet loaded.
import eligibility  # noqa: F401

# isort: split
import polars as pl

from eligibility import RuleSet, load_rules
from eligibility.compile.polars import CHUNK_ROWS, decide_table, usable_cores

RULES = Path(__file__).resolve().parent.parent / "rules"
AS_OF = date(2023, 9, 30)
REGION = "340602"  # 淮北市杜集区 (GB/T 2260): inside the anhui-huaibei pack's prefix 3406
IDENTIFICATION_PACKS = ("national", "anhui", "anhui-huaibei")
NOT_IDENTIFICATION = ("assistance", "exit", "procedure", "warning", "tests")
MEMBER_SLOTS = 8  # member seeds per household: i * 8 + position (at most 5 members)


# ------------------------------------------------------------------------------------------ workload


def _u(key: pl.Expr, salt: int, m: int) -> pl.Expr:
    """A pseudo-random integer in [0, m) from ``key`` (fixed seed per ``salt``)."""
    return (key.hash(seed=salt) % m).cast(pl.Int64)


def _pick(key: pl.Expr, salt: int, options: list[Any], dtype: pl.DataType) -> pl.Expr:
    """One of ``options`` (repeat an option to weight it; None gives an unknown cell)."""
    return _u(key, salt, len(options)).replace_strict(dict(enumerate(options)), return_dtype=dtype)


def _known(key: pl.Expr, salt: int, value: pl.Expr, share_null: int = 8) -> pl.Expr:
    """``value``, unknown (null) for about one cell in ``share_null``."""
    return pl.when(_u(key, salt, share_null) != 0).then(value)


def _money(fen: pl.Expr) -> pl.Expr:
    return fen.cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.01"), dtype=pl.Decimal(38, 2))


def _member(m: pl.Expr) -> pl.Expr:
    """One member from its seed ``m`` (an expression over ``pl.element()`` inside ``list.eval``)."""
    bool_ = pl.Boolean()
    days_old = _u(m, 101, 80 * 365)
    return pl.struct(
        m.cast(pl.String).alias("member_id"),
        _pick(m, 102, ["户主", "配偶", "子女", "父母", "孙子女"], pl.String()).alias("relation"),
        _known(m, 103, pl.lit(AS_OF) - pl.duration(days=days_old)).alias("birth_date"),
        _pick(
            m,
            104,
            ["普通劳动力", "普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力", None],
            pl.String(),
        ).alias("labour"),
        _pick(
            m,
            105,
            [["健康"], ["健康"], ["健康"], ["长期慢性病"], ["患有大病"], ["残疾"], ["残疾", "长期慢性病"], None],
            pl.List(pl.String),
        ).alias("health"),
        _pick(m, 106, [1, 2, 3, 4, None], pl.Int64()).alias("disability_grade"),
        _pick(m, 107, ["非在校生", "非在校生", "小学", "九年级", "普通高中", "中职", "本科", None], pl.String()).alias(
            "schooling"
        ),
        _pick(m, 108, [False] * 18 + [True, None], bool_).alias("dropped_out"),
        _pick(m, 109, [True] * 18 + [False, None], bool_).alias("basic_medical_insurance"),
        _pick(m, 110, [True, True, False, None], bool_).alias("critical_illness_insurance"),
        _pick(m, 111, [False] * 30 + [True, None], bool_).alias("public_payroll"),
    )


def households(start: int, stop: int, line: Decimal) -> pl.LazyFrame:
    """Households ``start`` … ``stop - 1`` in the batch input layout (Parquet contract), as a lazy query."""
    i = pl.col("i")
    size = 1 + _u(i, 1, 5)  # 1–5 members, 3 on average
    line_fen = int(line * 100)
    # per-capita net income between 40 % and 160 % of the line, exactly at the line for one in 50
    per_capita = pl.when(_u(i, 2, 50) == 0).then(line_fen).otherwise(line_fen * (40 + _u(i, 3, 120)) // 100)
    net = per_capita * size
    wage = net * 6 // 10
    business_cost = _u(i, 4, 300_000)
    business_income = net - wage + business_cost - _u(i, 5, 50_000)
    prop = _u(i, 5, 50_000) // 2
    transfer = net - wage - business_income + business_cost - prop
    bool_ = pl.Boolean()

    def flag(salt: int, share_true: int = 20) -> pl.Expr:
        return _pick(i, salt, [True] + [False] * (share_true - 2) + [None], bool_)

    cols: dict[str, pl.Expr] = {
        "household_id": pl.format("H{}", i),
        "region": pl.format("{}{}", pl.lit(REGION), (1_000_000 + _u(i, 6, 1_000_000)).cast(pl.String).str.slice(1)),
        "household_type": _pick(i, 7, ["脱贫户", "一般农户", "一般农户", None], pl.String()),
        "members": _known(
            i, 8, pl.int_ranges(i * MEMBER_SLOTS, i * MEMBER_SLOTS + size).list.eval(_member(pl.element())), 40
        ),
        "income.wage": _known(i, 9, _money(wage), 20),
        "income.business_income": _money(business_income),
        "income.business_cost": _money(business_cost),
        "income.property": _money(prop),
        "income.transfer": _money(transfer),
        "rigid_expenditure.medical_self_pay": _known(i, 10, _money(_u(i, 11, 2_000_000))),
        "rigid_expenditure.education": _money(_u(i, 12, 500_000)),
        "rigid_expenditure.disaster_loss": _money(_u(i, 13, 100_000) * _u(i, 14, 2)),
        "housing.grade": _pick(i, 15, ["A", "A", "B", "B", "C", "D", None], pl.String()),
        "housing.only_dwelling": _pick(i, 16, [True, True, True, False, None], bool_),
        "water.litres_per_person_day": _known(i, 17, (10 + _u(i, 18, 90)).cast(pl.Decimal(38, 10))),
        "water.water_short_area": flag(19, 4),
        "water.piped": _pick(i, 20, [True, True, True, False, None], bool_),
        "water.fetch_minutes": _known(i, 21, _u(i, 22, 40)),
        "water.horizontal_distance_m": _known(i, 23, _u(i, 24, 1500)),
        "water.vertical_distance_m": _known(i, 25, _u(i, 26, 150)),
        "water.outage_days_per_year": _known(i, 27, _u(i, 28, 60)),
        "water.quality": _pick(i, 29, ["达标", "达标", "基本达标", "不达标", None], pl.String()),
        "basic_needs.food_secure": _pick(i, 30, [True] * 30 + [False, None], bool_),
        "basic_needs.clothing_secure": _pick(i, 31, [True] * 30 + [False, None], bool_),
        "evidence.commercial_housing": flag(32, 40),
        "evidence.vehicle": flag(33, 40),
        "evidence.business_registration": flag(34, 40),
        "evidence.public_payroll": flag(35, 40),
        "circumstances.disaster": flag(36),
        "circumstances.accident": flag(37),
        "circumstances.main_labourer_lost": flag(38),
        "circumstances.business_failed": flag(39),
        "circumstances.employment_unstable": flag(40),
        "circumstances.willing_to_work": _pick(i, 41, [True, True, False, None], bool_),
        "circumstances.self_coping": _pick(i, 42, [True, False, False, None], bool_),
        "monitoring.status": _pick(i, 43, ["未纳入监测"] * 6 + ["监测中", "风险已消除", None], pl.String()),
        "monitoring.identified_on": _known(i, 44, pl.lit(date(2021, 6, 1)) + pl.duration(days=_u(i, 45, 800)), 3),
    }
    return pl.LazyFrame({"i": pl.int_range(start, stop, eager=True)}).select(*(e.alias(k) for k, e in cols.items()))


def write_workload(path: Path, n: int, line: Decimal, slice_rows: int = 500_000) -> float:
    """Generate ``n`` households into ``path`` in slices (streaming sink: memory bounded by one slice)."""
    t0 = time.perf_counter()
    parts = [households(s, min(s + slice_rows, n), line) for s in range(0, n, slice_rows)]
    pl.concat(parts).sink_parquet(path, row_group_size=100_000)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- identification by hand


def identification_rules(tmp: Path) -> RuleSet:
    """The bundled national, 安徽 and 淮北 packs without their non-identification folders (in ``tmp``)."""
    root = tmp / "identification-rules"
    if not root.exists():
        root.mkdir()
        shutil.copy(RULES / "sources.yaml", root / "sources.yaml")
        for pack in IDENTIFICATION_PACKS:
            shutil.copytree(RULES / pack, root / pack, ignore=shutil.ignore_patterns(*NOT_IDENTIFICATION))
    return load_rules(root, cache=False)


def by_hand(rules: RuleSet) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The identification decision of ``rules/national/identification`` written as one polars query by
    hand (status, category, risk / exclusion / review codes), reading the parameters from ``rules``."""
    chain = rules.chain(rules.pack_for_region(REGION + "000000"))

    def param(name: str) -> Any:
        return chain.param_hit(name, AS_OF).value

    line = pl.lit(param("monitoring_line"), dtype=pl.Decimal(38, 2))
    edu_min, edu_max = param("compulsory_education_age_min"), param("compulsory_education_age_max")
    severe_max, unsafe = param("severe_disability_grade_max"), list(param("housing_unsafe_grades"))
    deduction = bool(param("rigid_expenditure_deduction"))
    c = pl.col
    members = c("members")
    m = pl.element().struct.field

    def kany(value: pl.Expr, where: pl.Expr | None = None) -> pl.Expr:
        """Kleene any over the members (an unknown filter or value leaves 'none found' unknown)."""
        w = pl.lit(True) if where is None else where
        hit = members.list.eval((w.fill_null(False) & value.fill_null(False)).any()).list.first()
        unk = members.list.eval((w.is_null() | (w.fill_null(False) & value.is_null())).any()).list.first()
        return pl.when(members.is_null()).then(None).when(hit).then(True).when(unk).then(None).otherwise(False)

    birth, as_of = m("birth_date"), pl.lit(AS_OF)
    leap_day = (birth.dt.month() == 2) & (birth.dt.day() == 29) & ~as_of.dt.is_leap_year()
    md = pl.when(leap_day).then(228).otherwise(birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32))
    age = (
        as_of.dt.year().cast(pl.Int32)
        - birth.dt.year().cast(pl.Int32)
        - (as_of.dt.month().cast(pl.Int32) * 100 + as_of.dt.day().cast(pl.Int32) < md).cast(pl.Int32)
    )
    health = m("health")
    size = members.list.len().cast(pl.Int64)
    net = c("income.wage") + c("income.business_income") - c("income.business_cost") + c("income.property")
    net = net + c("income.transfer")
    rigid = (
        c("rigid_expenditure.medical_self_pay")
        + c("rigid_expenditure.education")
        + c("rigid_expenditure.disaster_loss")
    )
    bound = line * size.cast(pl.Decimal(38, 0))
    below = pl.when(size > 0).then(net < bound)  # exact: net / size < line as net < line × size
    above = pl.when(size > 0).then(net >= bound)
    below_after = pl.when(size > 0).then(net - rigid < bound)
    grade_unsafe = pl.when(c("housing.grade").is_not_null()).then(c("housing.grade").is_in(unsafe))
    education = kany(m("dropped_out") == True, (age >= edu_min) & (age <= edu_max))  # noqa: E712
    medical = kany(m("basic_medical_insurance") == False)  # noqa: E712
    housing = grade_unsafe & (c("housing.only_dwelling") == True)  # noqa: E712
    litres = c("water.litres_per_person_day")
    dec = pl.Decimal(38, 10)
    quantity = (litres < pl.lit(param("water_quantity_min_short")).cast(dec)) | (
        (c("water.water_short_area") == False) & (litres < pl.lit(param("water_quantity_min_rich")).cast(dec))  # noqa: E712
    )
    convenience = ~(
        (c("water.piped") == True)  # noqa: E712
        | (c("water.fetch_minutes") <= param("water_fetch_minutes_max"))
        | (c("water.horizontal_distance_m") <= param("water_horizontal_m_max"))
        | (c("water.vertical_distance_m") <= param("water_vertical_m_max"))
    )
    reliability = c("water.outage_days_per_year") > param("water_outage_days_max")
    water = quantity | convenience | reliability | (c("water.quality") == "不达标")
    food = (c("basic_needs.food_secure") == False) | (c("basic_needs.clothing_secure") == False)  # noqa: E712
    coping = c("circumstances.self_coping")
    risky = c("r_edu") | c("r_med") | c("r_house") | c("r_water") | c("r_food")
    trigger = (
        (
            ((c("circumstances.disaster") == True) | (c("circumstances.accident") == True))  # noqa: E712
            & (c("r_edu") | c("r_med") | c("r_house") | c("r_water"))
        )
        | kany(health.list.contains("残疾") & (m("disability_grade") <= severe_max))
        | kany(health.list.contains("患有大病"))
        | (c("circumstances.main_labourer_lost") == True)  # noqa: E712
        | (c("circumstances.business_failed") == True)  # noqa: E712
        | (c("circumstances.employment_unstable") == True)  # noqa: E712
        | kany(m("schooling").is_in(["普通高中", "中职", "高职高专", "技师学院", "本科", "硕士研究生及以上"]))
    )
    hardship = above & below_after & trigger & (coping == False)  # noqa: E712
    payroll = (c("evidence.public_payroll") == True) | kany(m("public_payroll") == True)  # noqa: E712
    exclusions = {
        "commercial_housing": c("evidence.commercial_housing") == True,  # noqa: E712
        "vehicle": c("evidence.vehicle") == True,  # noqa: E712
        "business_registration": c("evidence.business_registration") == True,  # noqa: E712
        "public_payroll": payroll,
    }
    categories = {
        "unstable_former_poor": (c("household_type") == "脱贫户") & c("below"),
        "marginal": (c("household_type") == "一般农户") & c("below"),
        "sudden_hardship": hardship if deduction else pl.lit(False),
    }
    reviews = {
        "guarantee_risk_above_line": above & risky & ~(coping == True),  # noqa: E712
        "rigid_spending_hardship": pl.lit(False) if deduction else hardship,
    }
    risks = {"compulsory_education": "r_edu", "basic_medical": "r_med", "housing_safety": "r_house"}
    risks |= {"drinking_water": "r_water", "food_clothing": "r_food"}

    def codes(flags: dict[str, str]) -> pl.Expr:
        """Certain codes first, then the unknown ones (the decision's order)."""
        sure = [pl.when(c(f).fill_null(False)).then(pl.lit(k)) for k, f in sorted(flags.items())]
        maybe = [pl.when(c(f).is_null()).then(pl.lit(k)) for k, f in sorted(flags.items())]
        return pl.concat_list(sure + maybe).list.drop_nulls()

    def query(df: pl.DataFrame) -> pl.DataFrame:
        n_sure = pl.sum_horizontal([c("c_" + k).fill_null(False).cast(pl.Int8) for k in categories])
        maybe_cat = pl.any_horizontal([c("c_" + k).is_null() for k in categories])
        excl_any = pl.any_horizontal([c("x_" + k).fill_null(True) for k in exclusions])
        review_sure = pl.any_horizontal([c("v_" + k).fill_null(False) for k in reviews])
        blocking = pl.any_horizontal(
            [c("already").is_null(), *(c("v_" + k).is_null() for k in reviews)]
            + [(c("x_" + k).is_null() & (n_sure > 0)) for k in exclusions]
        )
        category = pl.lit(None, dtype=pl.String)
        for k in reversed(sorted(categories)):
            category = pl.when(c("c_" + k).fill_null(False)).then(pl.lit(k)).otherwise(category)
        return (
            df.lazy()
            .with_columns(
                below.alias("below"),
                education.alias("r_edu"),
                medical.alias("r_med"),
                housing.alias("r_house"),
                water.alias("r_water"),
                food.alias("r_food"),
                (c("monitoring.status") == "监测中").alias("already"),
                *(e.alias("x_" + k) for k, e in exclusions.items()),
            )
            .with_columns(
                *(e.alias("c_" + k) for k, e in categories.items()),
                *(e.alias("v_" + k) for k, e in reviews.items()),
            )
            .select(
                "_row",
                pl.when(c("already").fill_null(False))
                .then(pl.lit("already_monitored"))
                .when((n_sure == 1) & ~excl_any & c("already").is_not_null())
                .then(pl.lit("identified"))
                .when((n_sure > 0) | maybe_cat | review_sure | blocking)
                .then(pl.lit("needs_review"))
                .otherwise(pl.lit("not_identified"))
                .alias("status"),
                pl.when(n_sure == 1).then(category).alias("category_if_identified"),
                codes(risks).alias("risks"),
                codes({k: "x_" + k for k in exclusions}).alias("exclusions"),
                codes({k: "v_" + k for k in reviews}).alias("reviews"),
            )
            .with_columns(
                pl.when(c("status") == "identified").then(c("category_if_identified")).alias("category"),
            )
            .drop("category_if_identified")
            .collect()
        )

    return query


# ---------------------------------------------------------------------------------------- phases


def _timed(label: str, n: int, fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, with the CPU seconds of that run (all threads): on a shared
    machine the wall time also measures the other tenants, the CPU time much less so."""
    best, cpu, out = float("inf"), 0.0, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    print(f"  {label:<62} {best:8.3f} s  {n / best:>11,.0f} households/s  (CPU {cpu:.1f} s)", flush=True)
    return best, out


def _interleaved(n: int, runs: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, list[float]], Any]:
    """Each of ``runs`` once per round, ``repeat`` rounds, alternating: both sides see the same spells
    of the machine's load, so the per-round CPU ratios and their spread mean something. Prints the best
    wall time and the least CPU time of each; returns the CPU seconds of every round per label and
    the last result of the last run."""
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    out = None
    for _ in range(repeat):
        for label, fn in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            wall[label].append(time.perf_counter() - t0)
            cpu[label].append(time.process_time() - c0)
    for label in runs:
        best = min(wall[label])
        print(
            f"  {label:<62} {best:8.3f} s  {n / best:>11,.0f} households/s  (CPU {min(cpu[label]):.2f} s, "
            f"{n / min(cpu[label]):,.0f} per CPU s)",
            flush=True,
        )
    return cpu, out


def _auto_workers(parts: int) -> int:
    """How many workers ``--workers auto`` starts for a run of ``parts`` parts."""
    from eligibility.batch import _workers

    return _workers("auto", parts)


def _peak_rss_mib() -> float:
    """This process's own peak resident memory: ``VmHWM`` of ``/proc/self/status`` on Linux.

    Not ``getrusage``: Linux folds the memory of the process that started this one into its
    ``ru_maxrss`` at ``exec`` (checked: a parent holding 1.5 GiB made this phase report 1,511 MiB for a
    run whose own peak is 806 MiB), so the end-to-end figures of sessions before 20 carried the benchmark's
    own ~1 GiB. ``ru_maxrss`` only where there is no ``/proc``."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def phase_run_batch(parquet: Path, out: Path, chunk_rows: int, workers: str = "1") -> None:
    """In a subprocess: ``run_batch`` Parquet → Parquet with ``workers`` worker processes; prints one JSON
    line (seconds, peak RSS of this process and of its largest worker, CPU of both)."""
    from eligibility.batch import run_batch

    rules = load_rules(RULES)
    t0 = time.perf_counter()
    result = run_batch([parquet], out, rules=rules, as_of=AS_OF, progress=False, chunk_rows=chunk_rows, workers=workers)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, once the pool has ended
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": result.rows,
                "decided": result.decided,
                "errors": result.errors,
                "rss_mib": _peak_rss_mib(),
                # The largest worker's peak (Linux: KiB; at least this process's size when it started the
                # worker, ~0.1 GiB: see _peak_rss_mib).
                "worker_rss_mib": children.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
            }
        )
    )


def _subprocess_run_batch(parquet: Path, out: Path, n: int, label: str, chunk_rows: int, workers: str = "1") -> None:
    """One end-to-end run in a fresh process. With workers the memory is the parent's peak plus each
    worker's (each holds one part): the largest worker's peak is printed beside the parent's."""
    cmd = [sys.executable, __file__, "--phase", "run_batch", str(parquet), str(out), str(chunk_rows), workers]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    memory = f"peak RSS {got['rss_mib']:,.0f} MiB"
    if got["worker_rss_mib"] > 0 and workers != "1":
        memory += f" + largest worker {got['worker_rss_mib']:,.0f} MiB"
    print(
        f"  {label:<62} {got['seconds']:8.1f} s  {n / got['seconds']:>11,.0f} households/s  (CPU {got['cpu']:.0f} s)  "
        f"{memory} ({got['decided']:,} decided, {got['errors']:,} errors)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="households of the main workload")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is shown)")
    ap.add_argument("--stream", type=int, default=0, help="also a streaming run_batch over this many households")
    ap.add_argument("--chunk-rows", type=int, default=100_000, help="run_batch part size")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument(
        "--identification-only",
        action="store_true",
        help="only phase 2 (identification, compiled vs by hand, interleaved rounds)",
    )
    ap.add_argument("--phase", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase_run_batch(Path(args.phase[1]), Path(args.phase[2]), int(args.phase[3]), *args.phase[4:5])
        return
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench-batch-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        run(args, tmp)
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    n = args.n
    rules = load_rules(RULES)
    chain = rules.chain(rules.pack_for_region(REGION + "000000"))
    line = chain.param_hit("monitoring_line", AS_OF).value
    parquet = tmp / f"households-{n}.parquet"
    print(f"workload: {n:,} households of 淮北 ({REGION}…), assessed {AS_OF}, monitoring line {line} 元")
    seconds = write_workload(parquet, n, line)
    size = parquet.stat().st_size / 2**20
    print(f"  generated (columnar, streaming sink) in {seconds:.1f} s: {size:,.0f} MiB Parquet")

    from eligibility.io.tables import read_households

    _, read = _timed(
        "read_households (Parquet, columnar validation)", n, lambda: read_households(parquet, as_of=AS_OF), 1
    )
    frame = read.frame
    members = frame.get_column("members").list.len().sum()
    print(f"  {frame.height:,} valid rows, {len(read.errors):,} row errors, {members:,} members")

    print("identification: compiled rule packs vs the same rules by hand (same frame)")
    ident = identification_rules(tmp)
    hand = by_hand(ident)
    decide_table(ident, frame)  # compile once (cached per chain and span), not timed
    h, d = hand(frame), decide_table(ident, frame)
    hand_label, comp_label = (
        "hand-written polars query (status, category, codes)",
        "decide_table, identification-only packs",
    )
    cpu, _ = _interleaved(
        n, {hand_label: lambda: hand(frame), comp_label: lambda: decide_table(ident, frame)}, args.repeat
    )
    ratios = sorted(a / b for a, b in zip(cpu[hand_label], cpu[comp_label], strict=True))
    spread = ", ".join(f"{r:.2f}" for r in ratios)
    differ = (
        d.select("_row", "status", "category")
        .join(h.select("_row", "status", "category"), on="_row", suffix="_hand")
        .filter((pl.col("status") != pl.col("status_hand")) | pl.col("category").ne_missing(pl.col("category_hand")))
        .height
    )
    print(
        f"  speed compiled ÷ by hand, CPU seconds of each round (hand ÷ compiled, {len(ratios)} interleaved rounds): "
        f"least {ratios[0]:.2f}×, median {ratios[len(ratios) // 2]:.2f}×, most {ratios[-1]:.2f}× "
        f"(target ≥ 1.0×; rounds: {spread}); least CPU ÷ least CPU: "
        f"{min(cpu[hand_label]) / min(cpu[comp_label]):.2f}×; rows whose status or category differ: {differ}"
    )
    print(f"  statuses: {dict(sorted(d.group_by('status').len().iter_rows()))}")
    if args.identification_only:
        return

    print(
        f"bundled packs, all five decisions (same frame, one decide_table call: even chunks of at most "
        f"{CHUNK_ROWS:,} rows, {usable_cores()} side by side)"
    )
    decide_table(rules, frame.head(1000))

    def bundled() -> None:
        # One call, as an API user makes it: decide_table cuts the part in chunks and runs them on the
        # usable cores (compile/polars.py, CHUNK_ROWS).
        decide_table(rules, frame)

    _timed("decide_table, bundled packs", n, bundled, args.repeat)
    frame = read = d = h = None  # type: ignore[assignment]  # free the memory before the subprocess runs

    print("end to end (fresh subprocess each: its own peak RSS)")
    # One process, then worker processes as ``eligibility batch`` starts them by default (``--workers auto``:
    # every usable core, at least two parts a worker).
    parts = -(-n // args.chunk_rows)
    ways = _auto_workers(parts)
    for workers in ("1", "auto") if ways > 1 else ("1",):
        label = f"run_batch {n:,} Parquet → Parquet, " + ("1 process" if workers == "1" else f"{ways} workers")
        _subprocess_run_batch(parquet, tmp / "decisions.parquet", n, label, args.chunk_rows, workers)
    if ways == 1:
        print(f"  (--workers auto starts no worker for {parts} part(s): at least two parts a worker)")
    if args.stream:
        big = tmp / f"households-{args.stream}.parquet"
        seconds = write_workload(big, args.stream, line)
        print(
            f"  generated {args.stream:,} households in {seconds:.1f} s: {big.stat().st_size / 2**20:,.0f} MiB Parquet"
        )
        parquet.unlink()
        _subprocess_run_batch(
            big, tmp / "big.parquet", args.stream, f"run_batch {args.stream:,} streaming", args.chunk_rows, "auto"
        )


if __name__ == "__main__":
    main()
