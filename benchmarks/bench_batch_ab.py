"""Wall and CPU time of the bundled packs against another source tree, in interleaved rounds (issue 10 §7).

Run: ``.venv/bin/python benchmarks/bench_batch_ab.py --before PATH [--after PATH2] [--n 200000]
[--rounds 3] [--chunk-rows 100000] [--identification]`` where PATH is the ``src`` folder of the
reference tree (``git archive main src | tar -x -C DIR`` gives ``DIR/src``) and PATH2 that of the tree
to test (default: this tree's ``src``). Prints figures only; nothing here asserts on time.

``bench_batch_same.py`` compares the least CPU time of each tree, one tree after the other; a change
that uses the second core (``decide_table`` cutting a part into slices run side by side) shows in the
wall time instead, and on a shared machine the wall time drifts with the other tenants' load. So here
the two trees alternate, round by round (before, after, before, after, …), each round a fresh
subprocess with its tree first on ``PYTHONPATH`` deciding the same generated Parquet file (the
``bench_batch.py`` workload) in parts of ``--chunk-rows`` rows as ``run_batch`` does, after one
untimed warm-up part (compiling). Per round: wall seconds, CPU seconds (both cores' time) and
households per wall second; then per tree the least, median and most, and the wall ratio of each
pair of neighbouring rounds. The load average is printed beside each round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_batch_same import parsed, tree_arguments, write_households  # noqa: E402


def side(args: argparse.Namespace) -> None:
    """One timed round in this subprocess: the figures as one JSON line."""
    import bench_batch as bb

    from eligibility import load_rules
    from eligibility.compile.polars import decide_table
    from eligibility.io.tables import read_households

    with tempfile.TemporaryDirectory(prefix="bench-ab-rules-") as scratch:
        rules = bb.identification_rules(Path(scratch)) if args.identification else load_rules(bb.RULES)
    frame = read_households(Path(args.dir) / "households.parquet", as_of=bb.AS_OF).frame
    decide_table(rules, frame.head(1000))  # compile once, not timed
    rows = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, frame.height, args.chunk_rows):
        rows += decide_table(rules, frame.slice(start, args.chunk_rows)).height
    figures = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "rows": rows}
    print(json.dumps(figures))


def _spread(xs: list[float], fmt: str = ".2f") -> str:
    s = sorted(xs)
    return f"least {s[0]:{fmt}}, median {s[len(s) // 2]:{fmt}}, most {s[-1]:{fmt}}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tree_arguments(ap)
    ap.add_argument("--n", type=int, default=200_000, help="households")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree (interleaved)")
    ap.add_argument("--chunk-rows", type=int, default=100_000, help="part size, as run_batch's")
    ap.add_argument("--identification", action="store_true", help="the identification-only packs")
    args = parsed(ap, side)
    if args is None:
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    try:
        write_households(tmp, args.n)
        which = "identification-only packs" if args.identification else "bundled packs"
        print(f"{args.n:,} households, {which}, parts of {args.chunk_rows:,}; {os.cpu_count()} cores")
        print(f"  before = {args.before}\n  after  = {args.after}")
        got: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for name, src in (("before", args.before), ("after", args.after)):
                cmd = [sys.executable, __file__, "--side", name, "--dir", str(tmp), f"--chunk-rows={args.chunk_rows}"]
                cmd += ["--identification"] if args.identification else []
                done = subprocess.run(
                    cmd, env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, check=False
                )
                if done.returncode:
                    sys.exit(f"{name} ({src}) failed:\n{done.stderr}")
                f = json.loads(done.stdout.strip().splitlines()[-1])
                got[name].append(f)
                load = os.getloadavg()[0]
                print(
                    f"  round {r + 1} {name:<6}  wall {f['wall']:7.2f} s  CPU {f['cpu']:7.2f} s  "
                    f"{f['rows'] / f['wall']:>9,.0f} households/s  {f['rows'] / f['cpu']:>9,.0f} /CPU s  "
                    f"(load {load:.1f})"
                )
        for name, runs in got.items():
            print(
                f"  {name:<6} wall s: {_spread([x['wall'] for x in runs])}; "
                f"CPU s: {_spread([x['cpu'] for x in runs])}; "
                f"households/s: {_spread([x['rows'] / x['wall'] for x in runs], ',.0f')}"
            )
        ratios = [b["wall"] / a["wall"] for b, a in zip(got["before"], got["after"], strict=True)]
        print(f"  wall before ÷ after, per round: {', '.join(f'{r:.2f}' for r in ratios)}")
        cpu = [a["cpu"] / b["cpu"] for b, a in zip(got["before"], got["after"], strict=True)]
        print(f"  CPU after ÷ before, per round: {', '.join(f'{r:.2f}' for r in cpu)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
