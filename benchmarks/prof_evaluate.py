"""µs per household around the generated programs, on households the engine has never seen (issue 9).

Run: ``.venv/bin/python benchmarks/prof_evaluate.py [--n N] [--workload identification|bundled|county|both]
[--prof]`` (default N = 3,000, both workloads: the identification-only pack and the bundled rules on
households of every pack and date; ``county``, the bundled rules on one county's households and date,
淮北 on 2023-09-30, as a county runs them). Prints figures only; nothing asserts.

Why: ``bench_compiled.py`` gives households/s for the whole engine; when working on one piece of it
you want, in a minute and on the same fresh households, the program alone (``run``, ``run_none``,
``run_lean``) beside ``evaluate`` at ``none`` and ``compact`` — the difference is the work around the
program — and, with ``--prof``, a cProfile of ``evaluate`` sorted by own and by cumulative time. Each
workload draws 3·N households from ``bench_compiled.py``'s generator: the first N warm the engine
(untimed, as a county's first households warm its memos); the programs and ``evaluate(trace="none")``
are timed on the second N, ``evaluate(trace="compact")`` on the third (each ``evaluate`` stage on
households it has never seen: its memos would answer for the others), by this process's CPU time,
results discarded as they come (a list of decisions would make the garbage collector the largest
figure). To compare two trees, run the script with each
tree's ``src`` first on ``PYTHONPATH``, alternating.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bc
import workload

from eligibility import Engine, Household, parse_household


def households(seed: int, n: int, sites: list[workload.Site]) -> list[tuple[Household, date]]:
    texts, ons = bc.workload_texts(random.Random(seed), n, sites)
    return [(parse_household(t), on) for t, on in zip(texts, ons, strict=True)]


def timed(label: str, n: int, fn: Callable[[], object]) -> None:
    t0 = time.process_time()
    fn()
    print(f"  {label:28s} {(time.process_time() - t0) / n * 1e6:8.2f} µs")


def stages(name: str, engine: Engine, pairs: list[tuple[Household, date]], prof: bool) -> None:
    n = len(pairs) // 3
    warm, fresh, other = pairs[:n], pairs[n : 2 * n], pairs[2 * n :]
    for h, on in warm:
        engine.evaluate(h, on)
        engine.evaluate(h, on, trace="none")
    gc.freeze()  # the households and the warm engine are not the garbage collector's work per household
    programs = [(p, h, on) for h, on in fresh if (p := engine.program(h, on)) is not None]
    for p in {id(p): p for p, _, _ in programs}.values():  # compiled on first use: not per household
        p.none_fn()
    print(f"{name}: {n:,} fresh households (CPU µs per household)")
    timed("program run", n, lambda: [None for p, h, on in programs if p.run(h, on) is None])
    timed("program run_none", n, lambda: [None for p, h, on in programs if p.run_none(h, on) is None])
    timed(
        "program run_lean",
        n,
        lambda: [None for p, h, on in programs if p.lean_fn is not None and p.run_lean(h, on) is None],
    )
    timed("evaluate(trace='none')", n, lambda: [None for h, on in fresh if engine.evaluate(h, on, "none") is None])
    timed("evaluate(trace='compact')", n, lambda: [None for h, on in other if engine.evaluate(h, on) is None])
    if prof:
        again = households(99, n, SITES[name])
        profile = cProfile.Profile()
        profile.runcall(lambda: [None for h, on in again if engine.evaluate(h, on) is None])
        for key in ("tottime", "cumtime"):
            pstats.Stats(profile).sort_stats(key).print_stats(25)


SITES: dict[str, list[workload.Site]] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3_000)
    ap.add_argument("--workload", choices=("identification", "bundled", "county", "both"), default="both")
    ap.add_argument("--prof", action="store_true", help="a cProfile of evaluate(compact) on another fresh set")
    args = ap.parse_args()
    SITES["identification"] = workload.sites(dates=(bc.COUNTY_AS_OF,), packs_wanted=(bc.COUNTY_CHAIN[-1],))
    SITES["bundled"] = workload.sites()
    SITES["county"] = SITES["identification"]
    if args.workload in ("identification", "both"):
        with tempfile.TemporaryDirectory(prefix="id-pack-") as tmp:
            rules = bc.build_identification_pack(workload.RULES, Path(tmp))
        pairs = households(1, 3 * args.n, SITES["identification"])
        stages("identification", Engine(rules), pairs, args.prof)
    if args.workload in ("bundled", "both"):
        pairs = households(2, 3 * args.n, SITES["bundled"])
        stages("bundled", Engine(), pairs, args.prof)
    if args.workload == "county":  # the bundled rules on one county's households and date (淮北, 2023-09-30)
        pairs = households(2, 3 * args.n, SITES["county"])
        stages("county", Engine(), pairs, args.prof)


if __name__ == "__main__":
    main()
