"""Same decisions, and how fast, against another source tree (issue 10 §7): ``decide_table`` of this tree
against a reference tree (e.g. ``main``) in the same run, cell by cell and in CPU seconds.

Run: ``.venv/bin/python benchmarks/bench_batch_same.py --before PATH [--n 100000] [--bundled 30000]
[--audit 5000] [--mixed 5000] [--repeat 3] [--after PATH2]`` where PATH is the ``src`` folder of the
reference tree (``git archive main src | tar -x -C DIR`` gives ``DIR/src``) and PATH2 that of the tree
to test (default: this tree's ``src``; a snapshot lets you keep editing while it runs). Prints
figures only; nothing here asserts on time.

Each side runs in its own subprocess with its ``src`` first on ``PYTHONPATH``, on the same generated
files (``bench_batch.py``'s workload and ``workload.py``'s mixed jurisdictions and dates):

1. identification-only packs on ``--n`` households, and the hand-written polars query on the same frame
   (the ratio compiled / by hand is within one process, so within one machine load);
2. the bundled packs (all five decisions) on ``--bundled`` households, in parts as ``run_batch`` does;
3. the bundled packs with the per-rule and per-fact audit columns (``rule_columns``) on ``--audit``;
4. every pack on every date, mixed in one table (a region without a pack among them), on ``--mixed``.

Each side writes its four tables to Parquet; the tables are then compared cell by cell (the number of
differing cells per table and column is printed: it must be 0). CPU seconds are the least of
``--repeat`` runs (``time.process_time``: both cores' time, not the other tenants').
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TABLES = ("identification", "bundled", "audit", "mixed")


def _best_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, got = float("inf"), None
    for _ in range(repeat):
        c = time.process_time()
        got = fn()
        best = min(best, time.process_time() - c)
    return best, got


def side(args: argparse.Namespace) -> None:
    """One tree's run (in a subprocess): the four tables to Parquet, the CPU seconds as JSON."""
    import bench_batch as bb
    import workload

    from eligibility import load_rules, parse_household
    from eligibility.compile.polars import decide_table, households_frame
    from eligibility.io.tables import read_households

    out = Path(args.dir) / args.side
    out.mkdir(parents=True, exist_ok=True)
    rules = load_rules(bb.RULES)
    ident = bb.identification_rules(out)
    frame = read_households(Path(args.dir) / "households.parquet", as_of=bb.AS_OF).frame
    mixed_pairs = workload.generate(random.Random(20261131), args.mixed, workload.sites())
    mixed = households_frame([parse_household(h) for h, _ in mixed_pairs], [on for _, on in mixed_pairs])
    figures: dict[str, float] = {}
    hand = bb.by_hand(ident)
    # The 100-row warm-ups compile the columnar programs the timed tables use: below the row-by-row
    # threshold (compile/rowwise.py) they would not, so it is off for them (a tree without it ignores this).
    os.environ["ELIGIBILITY_BATCH_ROWWISE"] = "0"
    decide_table(ident, frame.head(100))  # compile once, not timed
    figures["hand"], _ = _best_cpu(lambda: hand(frame), args.repeat)
    figures["identification"], table = _best_cpu(lambda: decide_table(ident, frame), args.repeat)
    table.write_parquet(out / "identification.parquet")
    part = frame.head(args.bundled)
    decide_table(rules, part.head(100))

    def bundled() -> pl.DataFrame:
        return pl.concat([decide_table(rules, part.slice(s, 100_000)) for s in range(0, part.height, 100_000)])

    figures["bundled"], table = _best_cpu(bundled, args.repeat)
    table.write_parquet(out / "bundled.parquet")
    decide_table(rules, part.head(100), rule_columns=True)
    figures["audit"], table = _best_cpu(lambda: decide_table(rules, part.head(args.audit), rule_columns=True), 1)
    table.write_parquet(out / "audit.parquet")
    del os.environ["ELIGIBILITY_BATCH_ROWWISE"]  # the mixed table as a caller gets it: small parts row by row
    figures["mixed"], table = _best_cpu(lambda: decide_table(rules, mixed), 1)
    table.write_parquet(out / "mixed.parquet")
    print(json.dumps(figures))


def differing(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, int]:
    """Per column, the rows whose cells differ (nested values compared whole; a missing column counts
    every row)."""
    out: dict[str, int] = {}
    if a.height != b.height:
        return {"(rows)": abs(a.height - b.height)}
    for c in sorted(set(a.columns) | set(b.columns)):
        if c not in a.columns or c not in b.columns:
            out[c] = a.height
            continue
        x, y = a.get_column(c), b.get_column(c)
        if x.dtype != y.dtype:
            out[c] = a.height
            continue
        n = int((~x.eq_missing(y)).sum())  # nested values (lists, structs) compared whole
        if n:
            out[c] = n
    return out


def tree_arguments(ap: argparse.ArgumentParser) -> None:
    """The options naming the two source trees (and the hidden ones of a side's subprocess); shared with
    ``bench_batch_ab.py``."""
    ap.add_argument("--before", type=Path, help="the reference tree's src folder")
    ap.add_argument(
        "--after", type=Path, default=HERE.parent / "src", help="the src folder to test (default: this tree's)"
    )
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)


def parsed(ap: argparse.ArgumentParser, side: Callable[[argparse.Namespace], None]) -> argparse.Namespace | None:
    """The options of the comparing run, or None once ``side`` has run (in a side's subprocess)."""
    args = ap.parse_args()
    if args.side:
        side(args)
        return None
    if args.before is None:
        ap.error("--before is required")
    return args


def write_households(tmp: Path, n: int) -> None:
    """``bench_batch.py``'s workload of ``n`` households at 淮北's monitoring line, as
    ``tmp/households.parquet`` (read by both sides)."""
    import bench_batch as bb

    from eligibility import load_rules

    rules = load_rules(bb.RULES)
    line = rules.chain(rules.pack_for_region(bb.REGION + "000000")).param_hit("monitoring_line", bb.AS_OF).value
    bb.write_workload(tmp / "households.parquet", n, line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tree_arguments(ap)
    ap.add_argument("--n", type=int, default=100_000, help="households, identification-only packs")
    ap.add_argument("--bundled", type=int, default=30_000, help="households, bundled packs")
    ap.add_argument("--audit", type=int, default=5_000, help="households, bundled packs with audit columns")
    ap.add_argument("--mixed", type=int, default=5_000, help="households of every pack and date, mixed")
    ap.add_argument("--repeat", type=int, default=3)
    args = parsed(ap, side)
    if args is None:
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-same-"))
    try:
        write_households(tmp, max(args.n, args.bundled, args.audit))
        runs: dict[str, dict[str, float]] = {}
        for name, src in (("before", str(args.before)), ("after", str(args.after))):
            env = {**os.environ, "PYTHONPATH": src}
            cmd = [sys.executable, __file__, "--side", name, "--dir", str(tmp)]
            cmd += [f"--{k}={getattr(args, k)}" for k in ("n", "bundled", "audit", "mixed", "repeat")]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name} ({src}) failed:\n{done.stderr}")
            runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
        b, a = runs["before"], runs["after"]
        print(f"CPU seconds, least of {args.repeat} (before = {args.before}, after = {args.after})")
        print(f"  {'':<44} {'before':>9} {'after':>9}")
        sizes = {"hand": args.n, "identification": args.n, "bundled": args.bundled}
        sizes |= {"audit": args.audit, "mixed": args.mixed}
        for k, n in sizes.items():
            print(
                f"  {k + f' ({n:,} households)':<44} {b[k]:9.2f} {a[k]:9.2f}   "
                f"{n / b[k]:>9,.0f} → {n / a[k]:,.0f} /CPU s"
            )
        print(
            f"  ratio hand / identification (same process): before {b['hand'] / b['identification']:.2f}×, "
            f"after {a['hand'] / a['identification']:.2f}×"
        )
        for t in TABLES:
            x = pl.read_parquet(tmp / "before" / f"{t}.parquet")
            y = pl.read_parquet(tmp / "after" / f"{t}.parquet")
            diff = differing(x, y)
            print(
                f"  {t:<15} {x.height:>7,} rows × {len(x.columns)} columns: "
                f"{sum(diff.values())} differing cells {diff or ''}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
