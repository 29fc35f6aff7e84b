"""完整轨迹 JSON 的分进程成对 A/B / The full-trace JSON, A/B in alternating processes (issue 9 §5, session 19).

Run: ``.venv/bin/python benchmarks/bench_full_proc_ab.py --base DIR`` — ``DIR`` holds the other revision's
``src/`` (``git archive main src rules | tar -x -C DIR``). Options: ``--pairs`` (default 4), ``--n`` fresh
households per timed set (default 2,000), ``--warm`` (default 2,000).

Why beside ``bench_full_text_ab.py`` and ``bench_full_tree_ab.py``: those run both revisions in one process,
which is right for a change of CPU work but wrong for a change of *memory footprint* — what one revision
keeps (say 54 copies of the same static text) evicts the other's from the cache too, so a change that
makes the working set smaller shows little there (session 19: 0.989 in ``bench_full_tree_ab.py --mode
both`` for a change that runs 10 % faster alone). Here each revision runs alone in its own process, one
pair after another (A then B, then B then A), so the machine's load falls on both alike.

What one process times (process CPU time, after ``gc.freeze()``), on the bundled packs' mixed workload of
``bench_compiled.py`` (sets the engine has never seen, seed per pair): ``full_json(evaluate(h),
indent=None)`` per household — what ``bench_compiled.py``'s "full-trace JSON" stage times — then
``full_json(d, indent=None)`` alone on decisions made untimed first. Nothing is asserted; the figures
of every process are printed, and per figure the medians and how many pairs B won.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(seed: int, n: int, warm: int) -> None:
    """Time one revision (the one first on ``sys.path``) and print ``both alone`` in µs per household."""
    sys.path.insert(0, str(HERE))
    import bench_compiled as bench
    import workload

    from eligibility import Engine, parse_household

    engine = Engine()

    def households(s: int, k: int) -> list[tuple[object, object]]:
        texts, ons = bench.workload_texts(random.Random(s), k, workload.sites())
        return [(parse_household(t), on) for t, on in zip(texts, ons, strict=True)]

    for h, on in households(2, warm):
        engine.full_json(engine.evaluate(h, on), indent=None)  # type: ignore[arg-type]
    first, second = households(seed, n), households(seed + 1, n)
    gc.collect()
    gc.freeze()
    t0 = time.process_time()
    for h, on in first:
        engine.full_json(engine.evaluate(h, on), indent=None)  # type: ignore[arg-type]
    both = (time.process_time() - t0) / n * 1e6
    decisions = [engine.evaluate(h, on) for h, on in second]  # type: ignore[arg-type]
    t0 = time.process_time()
    for d in decisions:
        engine.full_json(d, indent=None)
    alone = (time.process_time() - t0) / n * 1e6
    print(f"{both:.1f} {alone:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", type=Path, help="a folder with the other revision's src/ (required)")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--n", type=int, default=2_000, help="fresh households per timed set")
    ap.add_argument("--warm", type=int, default=2_000, help="untimed households first (patterns, memos)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.n, args.warm)
        return
    if args.base is None:
        ap.error("--base is required")
    trees = {"A": args.base / "src", "B": HERE.parent / "src"}
    got: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    for i in range(args.pairs):
        for k in "AB" if i % 2 == 0 else "BA":
            env = {**os.environ, "PYTHONPATH": str(trees[k])}
            command = [sys.executable, __file__, "--child", str(1000 + 10 * i), "--n", str(args.n)]
            out = subprocess.run([*command, "--warm", str(args.warm)], env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            both, alone = map(float, out.stdout.split()[-2:])
            got[k].append((both, alone))
            load = os.getloadavg()[0]
            figures = f"full_json(evaluate(h)) {both:6.0f} µs, full_json(d) {alone:6.0f} µs"
            print(f"pair {i + 1} {k}: {figures} (load {load:.1f})", flush=True)
    for j, what in enumerate(("full_json(evaluate(h), indent=None)", "full_json(d, indent=None) alone")):
        a, b = [x[j] for x in got["A"]], [x[j] for x in got["B"]]
        won = sum(y < x for x, y in zip(a, b, strict=True))
        print(
            f"{what}: median A {statistics.median(a):.0f} → B {statistics.median(b):.0f} µs, B faster in {won}/{len(a)}"
        )


if __name__ == "__main__":
    main()
