"""A CSV batch read whole against read in parts (issue 10 §5): time and peak RSS, side by side.

Run: ``.venv/bin/python benchmarks/bench_batch_csv.py [--n N] [--chunk-rows R] [--dir DIR]``
(default N = 300,000 households, R = 100,000). Prints figures only; nothing here asserts on time or memory.

The input is the batch's CSV layout (households + members + measures tables, ``docs/batch.md`` §2): 1,000
generated households of 淮北 (``workload.py``, fixed seed) written by ``write_household_tables``, repeated
with their household ids made unique until there are N (the members and measures tables likewise, in a
different order from the households, as exports often are). Each phase runs in a fresh subprocess, so its
peak RSS is its own:

* **whole** (the baseline): ``read_households`` of the whole file, as ``run_batch`` read CSV before.
* **parts**: ``csv_parts`` (one pass over each table into spill files per part) and ``read_csv_part``
  of every part in turn, each part's frame dropped before the next, as ``run_batch`` now reads CSV.

Both are checked to read the same number of rows and errors. The files are generated into a temporary
folder (or DIR) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

AS_OF = date(2023, 9, 30)
BASE = 1_000


def write_tables(folder: Path, n: int) -> Path:
    """``households.csv`` with ``members.csv`` and ``measures.csv`` beside it: ``n`` households."""
    from eligibility.io.writers import write_household_tables
    from eligibility.models import parse_household

    where = workload.sites(packs_wanted=("anhui-huaibei",), dates=(AS_OF,))
    base = [parse_household(h) for h, _ in workload.iter_generate(random.Random(20261130), BASE, where)]
    seed = folder / "seed" / "households.csv"
    seed.parent.mkdir()
    write_household_tables(base, seed)
    for name in ("households", "members", "measures"):
        lines = (seed.parent / f"{name}.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
        header, rows = lines[0], lines[1:]
        copies = range((n + BASE - 1) // BASE)
        if name != "households":
            copies = range(len(copies) - 1, -1, -1)  # items in another order than their households
        with (folder / f"{name}.csv").open("w", encoding="utf-8") as f:
            f.write(header)
            written = 0
            for k in copies:
                for line in rows:
                    if name == "households" and written >= n:
                        break
                    f.write(f"{k}-{line}")  # the id is the first cell: made unique per copy
                    written += 1
    shutil.rmtree(seed.parent)
    return folder / "households.csv"


def phase(how: str, path: Path, chunk_rows: int) -> None:
    """In a subprocess: read ``path`` whole or in parts; print one JSON line."""
    from eligibility.io.tables import csv_parts, read_csv_part, read_households

    t0 = time.perf_counter()
    rows = errors = 0
    if how == "whole":
        got = read_households(path, as_of=AS_OF)
        rows, errors = got.frame.height, len(got.errors)
    else:
        cut = csv_parts(path, chunk_rows)
        for k in range(len(cut.parts)):
            part = read_csv_part(cut, k, AS_OF)
            rows, errors = rows + part.frame.height, errors + len(part.errors)
            del part
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": rows,
                "errors": errors,
                "rss_mib": usage.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300_000, help="households")
    ap.add_argument("--chunk-rows", type=int, default=100_000, help="rows per part")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args.phase[0], Path(args.phase[1]), int(args.phase[2]))
        return
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench-csv-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        path = write_tables(tmp, args.n)
        size = sum(f.stat().st_size for f in tmp.glob("*.csv")) / 2**20
        print(
            f"workload: {args.n:,} households (CSV, three tables, {size:,.0f} MiB) in {time.perf_counter() - t0:.1f} s"
        )
        for how, label in (("whole", "read whole (baseline)"), ("parts", f"read in parts of {args.chunk_rows:,}")):
            cmd = [sys.executable, __file__, "--phase", how, str(path), str(args.chunk_rows)]
            got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(
                f"  {label:<28} {got['seconds']:8.1f} s  {args.n / got['seconds']:>9,.0f} households/s  "
                f"(CPU {got['cpu']:.0f} s)  peak RSS {got['rss_mib']:,.0f} MiB  "
                f"({got['rows']:,} rows, {got['errors']:,} errors)",
                flush=True,
            )
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
