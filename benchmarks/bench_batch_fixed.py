"""CPU time per ``decide_table`` call on small parts of fresh households, against another tree (issue 10 §7).

Run: ``.venv/bin/python benchmarks/bench_batch_fixed.py --before PATH [--after PATH2] [--rows 1000]
[--calls 10] [--rounds 3]`` where PATH is the reference tree's ``src`` (``git archive main src | tar -x
-C DIR`` gives ``DIR/src``). Prints figures only; nothing here asserts on time.

At 1,000 rows a bundled-pack call is almost all fixed cost (planning each stage's query, a few hundred
collects, building expressions), which ``run_batch`` pays per part and per (chain, span) group of a part
(``docs/batch-speed.md`` §10–§11). Each round is a fresh subprocess per tree, the trees alternating, on
the ``bench_batch.py`` workload; after one untimed call (compiling), each of ``--calls`` calls decides
``--rows`` households no call has seen before (the finding tables grow with new combinations, as in a
county's monthly run), and the CPU seconds of each call are printed, with the median and least per round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_batch_same import parsed, tree_arguments, write_households  # noqa: E402


def side(args: argparse.Namespace) -> None:
    """One round in this subprocess: the CPU seconds of each call, as one JSON line."""
    import bench_batch as bb

    from eligibility import load_rules
    from eligibility.compile.polars import decide_table
    from eligibility.io.tables import read_households

    rules = load_rules(bb.RULES)
    frame = read_households(Path(args.dir) / "households.parquet", as_of=bb.AS_OF).frame
    decide_table(rules, frame.head(1000))  # compile once, not timed
    cpu = []
    for k in range(args.calls):
        part = frame.slice(args.offset + k * args.rows, args.rows)
        start = time.process_time()
        decide_table(rules, part)
        cpu.append(time.process_time() - start)
    print(json.dumps(cpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tree_arguments(ap)
    ap.add_argument("--rows", type=int, default=1000, help="households per call")
    ap.add_argument("--calls", type=int, default=10, help="calls per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree (interleaved)")
    ap.add_argument("--offset", type=int, default=1000, help=argparse.SUPPRESS)
    args = parsed(ap, side)
    if args is None:
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-fixed-"))
    try:
        write_households(tmp, 1000 + args.rows * args.calls * args.rounds)
        print(f"bundled packs, {args.calls} calls of {args.rows:,} fresh households per round")
        print(f"  before = {args.before}\n  after  = {args.after}")
        medians: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.rounds):
            offset = 1000 + r * args.rows * args.calls  # fresh households for each round, the same per tree
            for name, src in (("before", args.before), ("after", args.after)):
                cmd = [sys.executable, __file__, "--side", name, "--dir", str(tmp)]
                cmd += [f"--rows={args.rows}", f"--calls={args.calls}", f"--offset={offset}"]
                done = subprocess.run(
                    cmd, env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, check=False
                )
                if done.returncode:
                    sys.exit(f"{name} ({src}) failed:\n{done.stderr}")
                cpu = json.loads(done.stdout.strip().splitlines()[-1])
                medians[name].append(statistics.median(cpu))
                print(
                    f"  round {r + 1} {name:<6} CPU s per call: median {statistics.median(cpu):.3f}, "
                    f"least {min(cpu):.3f}  ({', '.join(f'{x:.3f}' for x in cpu)})"
                )
        ratios = [a / b for b, a in zip(medians["before"], medians["after"], strict=True)]
        print(f"  median CPU after ÷ before, per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
