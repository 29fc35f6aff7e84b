"""Households per second of the compiled evaluator, of durable-rules (the auditor) and of the two
cross-checked, and memory growth of durable-rules over many evaluations.

Run: ``.venv/bin/python benchmarks/bench_engines.py [N] [M]`` — N households per speed figure
(default 5,000), M evaluations for the memory figure (default 100,000). Prints its figures; nothing
asserts on time. Households come from ``bench_evaluate.generate`` (fixed seed, 淮北 and 甘肃).
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate import AS_OF, generate

from eligibility import Engine, _durable, parse_household
from eligibility.engine import _Run
from eligibility.facts import flatten


def rss_mib() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * 4096 / 2**20


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    households = [parse_household(json.dumps(h)) for h in generate(random.Random(20261122), n)]
    compiled = Engine()
    print(f"households: {n}, assessed on {AS_OF}")

    for h in households:  # compile every (chain, span) program first: compilation is not evaluation
        compiled.evaluate(h, AS_OF, trace="none")
    for level in ("none", "compact", "full"):
        t0 = time.perf_counter()
        for h in households:
            compiled.evaluate(h, AS_OF, trace=level)  # type: ignore[arg-type]
        t_ref = time.perf_counter() - t0
        print(f"compiled evaluator alone (trace={level}): {n / t_ref:,.0f} households/s")

    if not _durable.AVAILABLE:
        print(f"durable-rules unavailable here: {_durable.IMPORT_ERROR}")
        return

    # durable-rules alone: the same facts the engine hands it, outcomes only (no trace, no decision)
    backend = _durable.DurableBackend()
    prepared = []
    for h in households:
        program = compiled.program(h, AS_OF)
        if program is None:  # no region code: no rules apply, nothing for durable-rules to check
            continue
        run = _Run(program, h, AS_OF)
        facts = {s.name: run.values[s.index] for s in program.facts}
        prepared.append((program.chain, flatten(h), facts))
    backend.outcomes(*prepared[0][:1], AS_OF, prepared[0][1], prepared[0][2])
    t0 = time.perf_counter()
    for chain, fields, facts in prepared:
        backend.outcomes(chain, AS_OF, fields, facts)
    t_dur = time.perf_counter() - t0
    print(f"durable-rules alone (rule outcomes, facts precomputed): {len(prepared) / t_dur:,.0f} households/s")

    both = Engine(verify="durable")
    t0 = time.perf_counter()
    for h in households:
        both.evaluate(h, AS_OF)
    t_both = time.perf_counter() - t0
    print(f"compiled, cross-checked by durable-rules (verify='durable', compact trace): {n / t_both:,.0f} households/s")

    gc.collect()
    start = rss_mib()
    marks = []
    t0 = time.perf_counter()
    for i in range(m):
        chain, fields, facts = prepared[i % len(prepared)]
        backend.outcomes(chain, AS_OF, fields, facts)
        if (i + 1) % (m // 4) == 0:
            gc.collect()
            marks.append(f"{i + 1:,}: {rss_mib():.1f} MiB")
    elapsed = time.perf_counter() - t0
    print(f"durable-rules memory over {m:,} evaluations: start {start:.1f} MiB; " + "; ".join(marks))
    print(f"  ({m / elapsed:,.0f} evaluations/s; live sessions afterwards: {backend.live_sessions()})")


if __name__ == "__main__":
    main()
