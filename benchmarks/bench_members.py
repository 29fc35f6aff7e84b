"""What naming members costs (issue 11 §2): the bundled rules beside the same rules without selectors.

Run: ``.venv/bin/python benchmarks/bench_members.py`` (N = 20,000 generated households), ``--n N``,
``--rounds R`` (default 3). Prints figures; nothing asserts.

The baseline is built at run time in a temporary folder: a copy of the bundled rules with every
``members:`` key removed from the conclusions (same rules, same outcomes; measures and gaps household-level
only — and, without ``not_delivered``, a gap names nobody and is never dropped, so the two decide the
same households but are not byte-equal). Both rule sets decide the same generated households
(``workload.py``, fixed seed, every bundled pack, or one with ``--pack``): the compiled engine at
``trace="none"`` and the polars target (``decide_table``), interleaved in rounds; the median round is
reported.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import Engine, load_rules, parse_household
from eligibility.compile.polars import decide_table, households_frame


def _without_selectors(src: Path, dest: Path) -> int:
    """Copy the rules to ``dest`` with every conclusion's ``members`` removed; the number removed."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("tests"))
    removed = 0
    for path in (dest / "national" / "assistance").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in data["rules"]:
            for c in rule.get("then", []):
                removed += c.pop("members", None) is not None
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return removed


def _time(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=20_000, help="households (default 20,000)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument(
        "--pack", default=None, help="only this pack's households (e.g. anhui-huaibei); default: every pack"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "rules"
        removed = _without_selectors(workload.RULES, base)
        rules = {"with selectors": load_rules(workload.RULES), "baseline (no selectors)": load_rules(base)}
        rng = random.Random(20261130)
        wanted = (args.pack,) if args.pack else None
        items = workload.generate(rng, args.n, workload.sites(packs_wanted=wanted))
        hs = [(parse_household(d), on) for d, on in items]
        frame = households_frame([h for h, _ in hs], [on for _, on in hs])
        engines = {k: Engine(r) for k, r in rules.items()}
        for e in engines.values():  # compile every program before timing
            for h, on in hs[:2000]:
                e.evaluate(h, on, trace="none")
        for r in rules.values():
            decide_table(r, frame.head(2000))
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, e in engines.items():
                t = _time(lambda e=e: [e.evaluate(h, on, trace="none") for h, on in hs])
                times.setdefault(("compiled, trace=none", name), []).append(t)
            for name, r in rules.items():
                t = _time(lambda r=r: decide_table(r, frame))
                times.setdefault(("polars decide_table", name), []).append(t)
        named = sum(
            f.members is not None
            for h, on in hs[:2000]
            for f in engines["with selectors"].evaluate(h, on, trace="none").assistance.required
        )
    where = f"pack {args.pack}" if args.pack else "every bundled pack"
    print(f"{args.n:,} households, {where}; {removed} selectors removed for the baseline")
    print(f"(in the first 2,000 decisions {named:,} required measures name members)")
    for target in ("compiled, trace=none", "polars decide_table"):
        b = statistics.median(times[(target, "baseline (no selectors)")])
        w = statistics.median(times[(target, "with selectors")])
        print(
            f"{target:22} baseline {args.n / b:>9,.0f}/s   with selectors {args.n / w:>9,.0f}/s   "
            f"cost {100 * (w - b) / b:+.0f}%"
        )


if __name__ == "__main__":
    main()
