"""Where the time of one generated program goes, section by section (issue 9; `docs/codegen.md`).

Run: ``.venv/bin/python benchmarks/program_sections.py [--n N] [--rounds R]`` (default N = 5,000,
R = 5). Prints figures only; nothing asserts.

Why: a profiler sees a generated program as one function. This takes ``program_none`` of the 淮北
identification pack (``bench_compiled.py``'s pack and households) and compiles prefixes of its source,
each ending where the next section starts — the household's field reads, the one-pass member
aggregates, the derived facts, the rule nodes, the conclusion masks — with an early ``return``; the
difference between neighbouring prefixes is what that section costs per household (CPU time, least of
R rounds over the same N households, so this measures the code with its data in the cache: fresh
households cost ~1–2 µs more, mostly in the reads and the member loop). The sections are found by the
comments the compiler writes (``# … aggregates over``, ``# fact``, ``# rule``) and the masks' first
assignment; a section not found is reported, not guessed.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bc
import workload

from eligibility import Engine, parse_household

SECTIONS = (
    ("field reads", re.compile(r"^    # .* aggregates? over ")),
    ("member aggregates", re.compile(r"^    # fact ")),
    ("derived facts", re.compile(r"^    # rule ")),
    ("rule nodes", re.compile(r"^    f0 = |^    f\d+ = f\d+ = ")),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="id-pack-") as tmp:
        rules = bc.build_identification_pack(workload.RULES, Path(tmp))
    engine = Engine(rules)
    sites = workload.sites(dates=(bc.COUNTY_AS_OF,), packs_wanted=(bc.COUNTY_CHAIN[-1],))
    texts, _ = bc.workload_texts(random.Random(1), args.n, sites)
    households = [parse_household(t) for t in texts]
    on = bc.COUNTY_AS_OF
    program = engine.program(households[0], on)
    assert program is not None and program.none_code is not None
    program.none_fn()
    text, namespace = program.none_code
    lines = text.split("\n")
    cuts: list[tuple[str, int | None]] = []
    for label, pattern in SECTIONS:
        at = next((i for i, line in enumerate(lines) if pattern.search(line)), None)
        if at is None:
            print(f"section after {label!r} not found in the generated source: not timed")
            continue
        cuts.append((label, at))
    cuts.append(("conclusion masks and return", None))
    gc.freeze()
    print(f"program_none of {program.key}: {args.n:,} households, least of {args.rounds} rounds (CPU µs per household)")
    before = 0.0
    for label, at in cuts:
        source = text if at is None else "\n".join([*lines[:at], "    return None, None, (), ()"])
        scope = dict(namespace)
        exec(compile(source, f"<{label}>", "exec"), scope)  # our own generated source, cut short
        fn = scope["program_none"]
        best = float("inf")
        for _ in range(args.rounds):
            t0 = time.process_time()
            for h in households:
                fn(h, on)
            best = min(best, time.process_time() - t0)
        total = best / args.n * 1e6
        print(f"  {label:30s} +{total - before:5.2f}  (up to here {total:5.2f})")
        before = total


if __name__ == "__main__":
    main()
