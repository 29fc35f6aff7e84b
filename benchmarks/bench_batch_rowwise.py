"""Where deciding a part row by row costs what the columnar program costs (issue 10 §1, §7): the
threshold of ``decide_table(..., rowwise=)``.

Run: ``.venv/bin/python benchmarks/bench_batch_rowwise.py [--sizes 100,300,1000,2000] [--rounds 3]``.
For each size, one part of that many *fresh* households (never seen by this process: the engine memoises,
and a county decides each household once a month) is decided columnar (``rowwise=0``) and row by row
(``rowwise`` above the size), alternately, for ``--rounds`` rounds; both the bundled packs and the
identification-only packs of ``bench_batch.py`` (淮北, one pack and date: one part). Prints the least
CPU seconds (``time.process_time``) of each and the µs per row; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_batch as bb

from eligibility import load_rules
from eligibility.compile.polars import decide_table
from eligibility.io.tables import read_households


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,300,1000,2000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rules = load_rules(bb.RULES)
    line = rules.chain(rules.pack_for_region(bb.REGION + "000000")).param_hit("monitoring_line", bb.AS_OF).value
    need = 2 * args.rounds * sum(sizes) + 200
    with tempfile.TemporaryDirectory() as tmp:
        bb.write_workload(Path(tmp) / "households.parquet", need, line)  # read as run_batch reads it
        frame = read_households(Path(tmp) / "households.parquet", as_of=bb.AS_OF).frame
        ident = bb.identification_rules(Path(tmp))
        for name, rs in (("bundled", rules), ("identification", ident)):
            decide_table(rs, frame.slice(0, 100), bb.AS_OF, rowwise=0)  # compile; warm both paths
            decide_table(rs, frame.slice(100, 100), bb.AS_OF, rowwise=10**9)
            at = 200
            for n in sizes:
                best = {"columnar": float("inf"), "row by row": float("inf")}
                for _ in range(args.rounds):
                    for label, threshold in (("columnar", 0), ("row by row", n + 1)):
                        part = frame.slice(at, n)
                        at += n
                        c = time.process_time()
                        decide_table(rs, part, bb.AS_OF, rowwise=threshold)
                        best[label] = min(best[label], time.process_time() - c)
                col, row = best["columnar"], best["row by row"]
                print(
                    f"{name:<15} {n:>6,} rows: columnar {col:7.3f} CPU s ({col / n * 1e6:7.0f} µs/row), "
                    f"row by row {row:7.3f} CPU s ({row / n * 1e6:5.0f} µs/row)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
