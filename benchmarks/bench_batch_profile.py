"""Where a columnar batch spends its CPU time (issue 10 §7): shares per program stage and per batch step.

Run: ``.venv/bin/python benchmarks/bench_batch_profile.py [--n N] [--identification] [--out csv|parquet|jsonl]``
(default N = 100,000 households of ``bench_batch.py``'s generated workload, bundled packs, CSV output), or
``… --fresh-parts K`` for the program stages on K fresh parts of N households each (see ``fresh_stages``).
Prints figures only; nothing here asserts on time.

1. **Program stages**: the compiled polars program of the 淮北 chain (``compile_table``) run stage by stage
   over the whole frame, three times; per kind of stage (the leaf and rule batches, the exploded member
   aggregates, the settling-facts "gap" stage, the findings stage, the member selection and assembly, the
   decision expressions) the least CPU time of the three runs and its share of their sum. CPU time, not
   wall time: on a shared machine the wall time also measures the other tenants.
2. **Batch steps**: ``run_batch`` Parquet → ``--out``, with the CPU time of its steps (deciding, the
   summary, each part's piece of a CSV or JSON Lines output incl. label look-ups and flattening, the part
   files of the other outputs, joining them) and the rest (reading the parts, the errors, joining the
   pieces). The part outputs are written in the run's own thread here (``batch.OUTPUT_THREAD = False``)
   so that no step's CPU time includes another's.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before polars, as the command line imports it: ``import eligibility`` sets polars' allocator
# (``eligibility.POLARS_ALLOCATOR``), which only takes effect if polars is not yet loaded.
import eligibility  # noqa: F401

# isort: split
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_batch as bb

from eligibility import load_rules
from eligibility.compile import polars as target
from eligibility.io.tables import read_households


def program_of(rules: Any, frame: pl.DataFrame) -> tuple[Any, list[str]]:
    """The 淮北 chain's compiled polars program (compiled and its tables started by one untimed
    ``decide_table`` over ``frame``) and its stages' names."""
    chain = rules.chain(rules.pack_for_region(bb.REGION + "000000"))
    target.decide_table(rules, frame)  # not timed
    prog = target.compile_table(chain, bb.AS_OF)
    names = [getattr(getattr(s, "func", s), "__qualname__", "?").replace("<locals>.", "") for s in prog.stages]
    return prog, names


def run_stages(prog: Any, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[float]]:
    """The program's stages one after the other over ``frame`` (with the columns ``decide_table`` adds),
    each collected on its own: the result and each stage's CPU seconds."""
    base = frame.with_columns(
        pl.lit(bb.AS_OF).alias("as_of"), pl.lit("").alias("jurisdiction"), pl.lit("").alias("ruleset_fingerprint")
    )
    times = []
    for stage in prog.stages:
        c = time.process_time()
        # the program's own engine (``ENGINE`` since session 19; a stage's attribute in older trees)
        base = stage(base.lazy()).collect(engine=getattr(stage, "engine", getattr(target, "ENGINE", "auto")))
        times.append(time.process_time() - c)
    return base, times


def stage_shares(rules: Any, frame: pl.DataFrame, repeat: int = 3) -> None:
    prog, names = program_of(rules, frame.head(100))
    best: list[float] = []
    for _ in range(repeat):
        base, times = run_stages(prog, frame)
        c = time.process_time()
        base.with_columns(*prog.decision)
        times.append(time.process_time() - c)
        best = times if not best else [min(a, b) for a, b in zip(best, times, strict=True)]
    grouped: dict[str, float] = {}
    for name, t in zip([*names, "decision expressions"], best, strict=True):
        grouped[name] = grouped.get(name, 0.0) + t
    total = sum(best)
    print(f"program stages ({len(prog.stages)}): {total:.2f} CPU s, {frame.height / total:,.0f} households per CPU s")
    for name, t in sorted(grouped.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<44} {t:7.2f} s {100 * t / total:5.1f} %")


def fresh_stages(rules: Any, frame: pl.DataFrame, parts: int) -> None:
    """Each program stage's CPU time on ``parts`` fresh parts of ``frame.height // (parts + 1)`` rows, after
    one part that builds the finding tables: a county's monthly run meets households never seen, where
    ``stage_shares`` (least of three runs of one frame) finds the tables built."""
    size = frame.height // (parts + 1)
    prog, names = program_of(rules, frame.head(size))  # builds the tables
    print(f"program stages on {parts} fresh parts of {size:,} households (CPU s per part):")
    for p in range(1, parts + 1):
        _, times = run_stages(prog, frame.slice(p * size, size))
        grouped: dict[str, float] = {}
        for name, t in zip(names, times, strict=True):
            grouped[name] = grouped.get(name, 0.0) + t
        shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(grouped.items(), key=lambda kv: -kv[1]))
        print(f"  part {p}: {sum(grouped.values()):.3f} s — {shown}")


def batch_steps(rules: Any, parquet: Path, out: Path) -> None:
    import eligibility.batch as batch

    spent: dict[str, float] = {}

    def timed(name: str) -> None:
        fn: Callable[..., Any] = getattr(batch, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            c = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - c

        setattr(batch, name, wrapper)

    # The steps one after the other: CPU time counts every thread, so a part's output written by the
    # second thread while the next part is decided would be counted twice.
    batch.OUTPUT_THREAD = False
    steps = ("decide_table", "summarise", "_write_output", "_write_piece", "_write_part", "configuration_gaps")
    for name in steps:
        if hasattr(batch, name):  # an older tree (PYTHONPATH) has not every step
            timed(name)
    c = time.process_time()
    result = batch.run_batch([parquet], out, rules=rules, as_of=bb.AS_OF, progress=False, log=io.StringIO())
    total = time.process_time() - c
    print(f"run_batch → {out.suffix}: {total:.2f} CPU s for {result.rows:,} rows ({result.decided:,} decided)")
    labels = {
        "decide_table": "decide_table",
        "summarise": "summary (一月一分析)",
        "_write_output": "output: join parts, flatten, labels, write",
        "_write_piece": "output: each part's piece (flatten, write)",
        "_write_part": "part files (decisions)",
        "configuration_gaps": "configuration gaps",
    }
    for name, t in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {labels[name]:<44} {t:7.2f} s {100 * t / total:5.1f} %")
    rest = total - sum(spent.values())
    print(f"  {'rest: read parts, errors, join pieces':<44} {rest:7.2f} s {100 * rest / total:5.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="households")
    ap.add_argument("--identification", action="store_true", help="the identification-only packs")
    ap.add_argument("--out", default="csv", choices=("csv", "parquet", "jsonl"), help="run_batch output format")
    ap.add_argument(
        "--fresh-parts",
        type=int,
        default=0,
        help="instead: each stage on this many fresh parts of N households (after one that builds the tables)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        rules = bb.identification_rules(tmp) if args.identification else load_rules(bb.RULES)
        chain = rules.chain(rules.pack_for_region(bb.REGION + "000000"))
        line = chain.param_hit("monitoring_line", bb.AS_OF).value
        parquet = tmp / "households.parquet"
        if args.fresh_parts:
            bb.write_workload(parquet, args.n * (args.fresh_parts + 1), line)
            fresh_stages(rules, read_households(parquet, as_of=bb.AS_OF).frame, args.fresh_parts)
            return
        bb.write_workload(parquet, args.n, line)
        which = "identification-only packs" if args.identification else "bundled packs"
        print(f"workload: {args.n:,} households of 淮北, {which}")
        stage_shares(rules, read_households(parquet, as_of=bb.AS_OF).frame)
        batch_steps(rules, parquet, tmp / f"decisions.{args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
