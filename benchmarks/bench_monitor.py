"""The monthly routine at 淮北's scale (issue 14 §6): read, decide, store, compare, write — on SQLite.

Run: ``.venv/bin/python benchmarks/bench_monitor.py [N] [--history M] [--start S] [--format xlsx|csv] [--serial]``
(default N = 350,000 households, M = 12 months; ``--start S``: begin with month S of 2023 on an empty store,
its input derived from month 1's by the same monthly changes, untimed — e.g. ``--start 7 --history 3`` runs
the third quarter, whose September the 12-month run showed heaviest; ``--serial``: the routine's steps one
after the other instead of overlapping). Prints its figures — wall time, and the process's CPU time, which a
machine shared with other work disturbs less; nothing here asserts on time.

* The population comes from ``workload.py`` (fixed seed): 淮北 households (``anhui-huaibei`` sites, 1,000
  village codes), written once to a Parquet input file (cached in the temp folder; not timed).
* **Baseline, same run:** ``eligibility.batch.run_batch`` on the same file (read, decide, write the
  decisions) — the part of the routine that existed before the store.
* **The routine:** ``run_monthly`` for month 1 (2023-01-31, no previous run) and month 2 (3% of households
  with their wage halved, compared with month 1), each end to end: read, decide, store, compare, write the
  files.
* **History:** months 3..M of 2023 (M ≤ 12: the rules hold 淮北's line for 2023) on the same store, each
  with another 3% changed; the store's size on disk after each month, and bytes per household-month.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

# Before polars, as the command line imports it: ``import eligibility`` sets polars' allocator
# (``eligibility.POLARS_ALLOCATOR``), which only takes effect if polars is not yet loaded.
import eligibility  # noqa: F401

# isort: split
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import load_rules, parse_household
from eligibility.batch import run_batch
from eligibility.compile.polars import households_frame
from eligibility.monitor import routine
from eligibility.monitor.routine import run_monthly
from eligibility.store import IdentityKey, open_store

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(ARGS[0]) if ARGS else 350_000
HISTORY = int(sys.argv[sys.argv.index("--history") + 1]) if "--history" in sys.argv else 12
FMT = sys.argv[sys.argv.index("--format") + 1] if "--format" in sys.argv else "xlsx"
START = int(sys.argv[sys.argv.index("--start") + 1]) if "--start" in sys.argv else 1
if "--serial" in sys.argv:  # the routine's steps one after the other, as before they overlapped
    routine.OVERLAP = False


def month_end(m: int) -> date:
    nxt = date(2023 + m // 12, m % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


GENERATE_CHUNK = 20_000
"""Households generated, parsed and written per Parquet part: memory stays that of one chunk, whatever N."""


def population(n: int, cache: Path) -> Path:
    """The month-1 input file (generated once per N), streamed to Parquet in chunks of
    :data:`GENERATE_CHUNK` households: the same rows as building the whole frame at once (the generator
    draws from one random sequence in order), without holding 350,000 parsed households in memory."""
    path = cache / f"huaibei-{n}.parquet"
    if path.exists():
        return path
    t0 = time.perf_counter()
    where = workload.sites(packs_wanted=("anhui-huaibei",), dates=(date(2023, 9, 30),), per_pack=1000)
    rng = random.Random(20261130)
    generated = workload.iter_generate(rng, n, where)
    parts: list[Path] = []
    try:
        for start in range(0, n, GENERATE_CHUNK):
            chunk = [parse_household(h) for h, _ in itertools.islice(generated, GENERATE_CHUNK)]
            frame = households_frame(chunk, None).drop("as_of")
            part = cache / f".huaibei-{n}.part-{len(parts):04d}.parquet"
            frame.with_columns(pl.col("_row") + start).write_parquet(part)
            parts.append(part)
        tmp = path.with_suffix(".tmp")
        pl.scan_parquet(parts).sink_parquet(tmp)
        tmp.replace(path)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    print(f"generated {n:,} households in {time.perf_counter() - t0:,.1f} s (not timed below): {path}")
    return path


def changed(src: Path, month: int, dest: Path) -> Path:
    """The previous month's file with 3% of households (drawn by month) earning half their wage."""
    frame = pl.read_parquet(src)
    rng = random.Random(month)
    pick = pl.Series([rng.random() < 0.03 for _ in range(frame.height)])
    wage = pl.col("income.wage")
    half = (wage / 2).cast(frame.schema["income.wage"])
    frame = frame.with_columns(pl.when(pick).then(half).otherwise(wage).alias("income.wage"))
    frame.write_parquet(dest)
    return dest


def run_month(inputs: Path, m: int, *, store: Any, rules: Any, key: IdentityKey, work: Path, fmt: str) -> Any:
    """Month ``m`` of the routine with the benchmark's settings (files in ``work/out-<m>``, a sample of
    200, jurisdiction 3406); also used by ``bench_monitor_stages.py``."""
    return run_monthly(
        [inputs],
        as_of=month_end(m),
        store=store,
        rules=rules,
        key=key,
        out_dir=work / f"out-{m}",
        fmt=fmt,
        sample_size=200,
        jurisdiction="3406",
    )


def main() -> None:
    cache = Path(tempfile.gettempdir()) / "eligibility-bench-monitor"
    cache.mkdir(exist_ok=True)
    rules = load_rules()
    key = IdentityKey("benchmark-key-0123456789")
    month1 = population(N, cache)
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
        work = Path(tmp)
        t0, cpu0 = time.perf_counter(), time.process_time()
        run_batch([month1], work / "batch.parquet", rules=rules, as_of=month_end(1), progress=False, log=quiet)
        base = time.perf_counter() - t0
        label = "baseline: run_batch (read, decide, write decisions)"
        cpu0 = time.process_time() - cpu0
        print(f"{label:<58} {base:8.1f} s  {N / base:>10,.0f} households/s  (CPU {cpu0:.1f} s)", flush=True)
        db = work / "store.db"
        inputs = month1
        for m in range(2, START + 1):  # the months before the first one run: their changes only, untimed
            inputs = changed(inputs, m, work / f"month-{m}.parquet")
        with open_store(db) as store:
            for m in range(START, START + HISTORY):
                if m > START:
                    inputs = changed(inputs, m, work / f"month-{m}.parquet")
                on = month_end(m)
                cpu = time.process_time()
                res = run_month(inputs, m, store=store, rules=rules, key=key, work=work, fmt=FMT)
                cpu = time.process_time() - cpu
                store.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the size of the database, not of its log
                size = store.table_bytes()
                months = m - START + 1
                per = size / (N * months)
                parts = ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items())
                label = f"monitor run {on} ({'first' if m == START else 'vs previous'})"
                print(
                    f"{label:<58} {res.seconds:8.1f} s  {N / res.seconds:>10,.0f} households/s  "
                    f"(CPU {cpu:.1f} s)  [{parts}]"
                )
                print(
                    f"    changes {res.changes_frame.height:,}, visits {res.visits_frame.height:,}, "
                    f"focus {res.focus_frame.height:,}; "
                    f"store {size / 2**20:,.0f} MiB after {months} month(s) = {per:,.0f} B/household-month",
                    flush=True,
                )
        print(f"target: one month <= 60 s; 12-month store <= 2 GiB (N = {N:,}, format {FMT})")


if __name__ == "__main__":
    main()
