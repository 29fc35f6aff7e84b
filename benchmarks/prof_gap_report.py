"""The gap report (``Engine._open``) and whole decisions of two trees in one process, on fresh households
(issue 9 §5).

Run: ``.venv/bin/python benchmarks/prof_gap_report.py --before PATH [--workload identification|bundled]
[--warm 1000] [--blocks 40] [--rounds 20]`` where PATH is the ``src`` folder of the reference tree
(``git archive main src | tar -x -C DIR`` gives ``DIR/src``). Prints figures only;
nothing here asserts on time.

Why one process: a cut of 0.1–1 µs in a ~25 µs decision cannot be seen between processes on a shared
machine (the unchanged generated program alone moves 13–18 µs between runs, session 15 cmp9). Here the
reference tree's ``eligibility`` package is copied under another name (``eligibility_before``: the
package imports itself relatively) and both engines live side by side:

1. both are warmed on the same ``--warm`` households (their decisions compared as JSON: they must be
   the same), then decide ``--blocks`` blocks of 100 households neither has seen, in alternating
   order, ``trace="compact"``; per block pair the difference in CPU µs a household;
2. each engine's ``_open`` calls on 2,000 more fresh households are recorded, then replayed
   ``--rounds`` times in alternating order, whole and in pieces — ``GapCode.unknown``, the blocking
   rules' functions, ``_reports`` (the memo of sides, ``GapCode.facts`` for the calls that want facts,
   ``_settle``) — in CPU ns per ``_open`` call (a replay is warm: its figures are below a fresh
   household's, but the same for both trees).

The pieces read the engine's internals as they are in session 15 (``code.unknown(nodes, values)``);
adapt them when those change.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bc
import workload

import eligibility
from eligibility import engine as engine_after
from eligibility.compile import gaps_py as gaps_after

BLOCK = 100


def load_before(src: Path, into: Path) -> Any:
    """The reference tree's package, imported as ``eligibility_before`` from a copy in ``into``."""
    shutil.copytree(src / "eligibility", into / "eligibility_before")
    sys.path.insert(0, str(into))
    return importlib.import_module("eligibility_before")


def engines(before: Any, name: str, tmp: Path) -> tuple[Any, Any, list[workload.Site]]:
    """(reference engine, this tree's engine, sites) for the workload."""
    if name == "identification":
        sites = workload.sites(dates=(bc.COUNTY_AS_OF,), packs_wanted=(bc.COUNTY_CHAIN[-1],))
        rules = tmp / "id-pack"
        rules.mkdir()
        mine = bc.build_identification_pack(workload.RULES, rules)
        return before.Engine(str(rules)), eligibility.Engine(mine), sites
    return before.Engine(str(workload.RULES)), eligibility.Engine(workload.RULES), workload.sites()


def blocks(
    ea: Any, eb: Any, pa: list[Any], pb: list[Any], ons: list[Any], n_blocks: int, level: str = "compact"
) -> None:
    """Step 1 (see the module docstring): whole decisions in alternating blocks (``decide_ab.py`` also at
    other trace levels)."""
    pt = time.process_time
    ta: list[float] = []
    tb: list[float] = []
    for k in range(n_blocks):
        idx = range(k * BLOCK, (k + 1) * BLOCK)

        def run(e: Any, hs: list[Any], idx: range = idx) -> float:
            t0 = pt()
            for i in idx:
                e.evaluate(hs[i], ons[i], level)
            return (pt() - t0) / BLOCK * 1e6

        if k % 2:
            b = run(eb, pb)
            a = run(ea, pa)
        else:
            a = run(ea, pa)
            b = run(eb, pb)
        ta.append(a)
        tb.append(b)
    diffs = [b - a for a, b in zip(ta, tb, strict=True)]
    print(f"evaluate({level}), {n_blocks} blocks of {BLOCK} fresh households, CPU µs a household:")
    print(f"  median before {statistics.median(ta):.2f}, after {statistics.median(tb):.2f};", end=" ")
    wins = sum(d < 0 for d in diffs)
    print(f"median (after - before) {statistics.median(diffs):+.2f}; after faster in {wins} of {n_blocks}")


def record(mod: Any, engine: Any, parse: Callable[[str], Any], texts: list[str], ons: list[Any]) -> list[Any]:
    """The arguments of every ``_open`` call while ``engine`` decides these households."""
    calls: list[Any] = []
    orig = mod.Engine._open

    def hook(self: Any, memo: Any, run: Any, status: Any) -> Any:
        calls.append((memo, run, status))
        return orig(self, memo, run, status)

    mod.Engine._open = hook
    try:
        for t, on in zip(texts, ons, strict=True):
            engine.evaluate(parse(t), on)
    finally:
        mod.Engine._open = orig
    return calls


def pieces(mod: Any, gaps: Any, engine: Any, calls: list[Any]) -> dict[str, Callable[[], object]]:
    """Step 2's pieces of ``_open`` for one tree, on its recorded calls."""
    # (run, status, its program's gap code): the bundled workload has a program per pack and span
    runs = [(r, s, gaps.gap_code(r.program)) for _, r, s in calls]

    def block(run: Any, status: Any, code: Any) -> int:
        b = 0
        if status.status == "needs_review":
            for rid in status.blocking_rules:
                b |= code.rules[rid](run.nodes, run.values)
        return int(b)

    blocks = [block(r, s, c) for r, s, c in runs]
    rests = [c.unknown(r.nodes, r.values) for r, _, c in runs]

    def sides(code: Any, b: int, rest: int) -> tuple[Any, Any]:
        x = y = mod._NO_SIDE
        if b:
            x = code.memo[b]
            rest &= ~x.cover
        if rest:
            y = code.memo[rest]
        return x, y

    together = list(zip(runs, blocks, rests, strict=True))
    both = [sides(c, b, u) for (_, _, c), b, u in together]
    wanting = [(r, c, x, y) for (r, _, c), (x, y) in zip(runs, both, strict=True) if x.want or y.want]
    paths = [c.facts(r.values, r.h, x.want | y.want) for r, c, x, y in wanting]

    def settle() -> None:
        for (r, _, x, y), p in zip(wanting, paths, strict=True):
            for side in (x.side, y.side):
                if type(side) is not tuple:
                    engine._settle(r.program.chain, side, p)

    return {
        "_open": lambda: [mod.Engine._open(engine, m, r, s) for m, r, s in calls],
        "unknown": lambda: [c.unknown(r.nodes, r.values) for r, _, c in runs],
        "blocking rules": lambda: [block(r, s, c) for r, s, c in runs],
        "_reports": lambda: [engine._reports(r, c, b, u) for (r, _, c), b, u in together],
        "sides (memo)": lambda: [sides(c, b, u) for (_, _, c), b, u in together],
        "facts": lambda: [c.facts(r.values, r.h, x.want | y.want) for r, c, x, y in wanting],
        "_settle": settle,
    }


def replay(a: dict[str, Callable[[], object]], b: dict[str, Callable[[], object]], n: int, rounds: int) -> None:
    """Step 2: each piece of both trees, alternating, least and median CPU ns per ``_open`` call."""
    pt = time.process_time
    got: dict[tuple[str, str], list[float]] = {}
    for k in range(rounds):
        order = [("before", a), ("after", b)] if k % 2 else [("after", b), ("before", a)]
        for piece in a:
            for side, fns in order:
                t0 = pt()
                fns[piece]()
                got.setdefault((piece, side), []).append((pt() - t0) / n * 1e9)
    print(f"_open replayed, {n:,} calls, {rounds} rounds, CPU ns per call (median / least):")
    for piece in a:
        x, y = got[(piece, "before")], got[(piece, "after")]
        print(
            f"  {piece:16s} before {statistics.median(x):6.0f} / {min(x):6.0f}"
            f"   after {statistics.median(y):6.0f} / {min(y):6.0f}"
        )


def ab_arguments(description: str) -> argparse.ArgumentParser:
    """The options every in-process A/B of two trees here takes (this script's and ``decide_ab.py``'s)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--before", type=Path, required=True, help="the reference tree's src folder")
    ap.add_argument("--workload", choices=("identification", "bundled"), default="identification")
    ap.add_argument("--warm", type=int, default=1_000)
    ap.add_argument("--blocks", type=int, default=40)
    return ap


def main() -> None:
    ap = ab_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gap-ab-") as tmp_name:
        tmp = Path(tmp_name)
        before = load_before(args.before, tmp)
        engine_before = importlib.import_module("eligibility_before.engine")
        gaps_before = importlib.import_module("eligibility_before.compile.gaps_py")
        ea, eb, sites = engines(before, args.workload, tmp)
        n = args.warm + args.blocks * BLOCK
        texts, ons = bc.workload_texts(random.Random(7), n, sites)
        pa = [before.parse_household(t) for t in texts]
        pb = [eligibility.parse_household(t) for t in texts]
        for i in range(args.warm):
            a, b = ea.evaluate(pa[i], ons[i]), eb.evaluate(pb[i], ons[i])
            if a.to_json() != b.to_json():
                raise SystemExit(f"household {i}: the two trees decide differently")
        gc.collect()
        gc.freeze()
        w = args.warm
        blocks(ea, eb, pa[w:], pb[w:], ons[w:], args.blocks)
        more, more_on = bc.workload_texts(random.Random(11), 2_000, sites)
        ca = record(engine_before, ea, before.parse_household, more, more_on)
        cb = record(engine_after, eb, eligibility.parse_household, more, more_on)
        if len(ca) != len(cb):
            raise SystemExit(f"the trees open {len(ca)} and {len(cb)} gap reports")
        replay(
            pieces(engine_before, gaps_before, ea, ca), pieces(engine_after, gaps_after, eb, cb), len(ca), args.rounds
        )


if __name__ == "__main__":
    main()
