"""Households per second of ``parse_household`` on the benchmark households (issue 9 §3, "Fast input").

Run: ``.venv/bin/python benchmarks/bench_parse.py [N] [ROUNDS] [--cpu]`` — N households (default 20,000), each
figure the best of ROUNDS passes (default 5) with the median in brackets: the best pass compares code,
the median shows how noisy the machine was. Prints its figures; nothing asserts on time.

Households come from ``bench_evaluate.generate`` (fixed seed), parsed as a county batch job streams
them: one at a time, each dropped before the next, the garbage collector on. Three inputs — the JSON
text as ``str``, the same text as UTF-8 ``bytes``, and the decoded ``dict`` — and for comparison the
models' own validator (``Household.model_validate_json``/``model_validate``), which is what
``parse_household`` ran before it had a fast path, and the exact path alone (issue 13: jiter decoding
with Decimals and duplicate-key checks, then the strict validator), which decides every record the
fast path refuses.

Then ``parse_household(bytes)`` by stage, each timed alone on the same records (their costs add up to
about the whole): the text scan for number literals f64 could change (``_risky``), the fast pydantic-core
validator (``_FAST.validate_json``), the colon count and the count of keys kept (``_keys_kept``) that
prove no key was repeated — with microseconds per household beside each, so a change to one stage shows
where it went.

The last line keeps every parsed household in a list, as ``bench_evaluate.py`` does. That figure is
much lower and is mostly not parsing: each household is some 40 container objects that stay alive, so
the collector's full collections walk an ever larger heap.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate import generate

from eligibility import Household, parse_household
from eligibility.models import _FAST, _keys_kept, _risky, household_from_json, loads_json

CLOCK: list[Callable[[], float]] = [time.perf_counter]
"""Wall time, or with ``--cpu`` (a third argument) this process's CPU time: on a machine shared with other
busy processes, wall time measures their load as much as this code."""


def rate(items: list[Any], parse: Callable[[Any], object], rounds: int, keep: bool = False) -> tuple[float, float]:
    """(best, median) households/s over ``rounds`` passes of ``parse`` over ``items``."""
    figures = []
    for _ in range(rounds):
        kept: list[object] = []
        gc.collect()
        t0 = CLOCK[0]()
        if keep:
            kept = [parse(x) for x in items]
        else:
            for x in items:
                parse(x)
        figures.append(len(items) / (CLOCK[0]() - t0))
        del kept
    return max(figures), statistics.median(figures)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if "--cpu" in sys.argv[3:]:
        CLOCK[0] = time.process_time
        print("timed by this process's CPU time (--cpu), not wall time")
    raw = generate(random.Random(20261122), n)
    texts = [json.dumps(h, ensure_ascii=False) for h in raw]
    blobs = [t.encode() for t in texts]
    for t in texts[:200]:  # warm-up; and every input form must give the same household
        assert parse_household(t) == parse_household(t.encode()) == parse_household(json.loads(t))
    size = sum(len(b) for b in blobs) / n
    print(f"households: {n}, {size:,.0f} bytes of JSON each; best of {rounds} passes (median in brackets)")
    cases: list[tuple[str, list[Any], Callable[[Any], object]]] = [
        ("parse_household(str)", texts, parse_household),
        ("parse_household(bytes)", blobs, parse_household),
        ("parse_household(dict)", raw, parse_household),
        ("exact path only (jiter + _EXACT)", blobs, lambda b: household_from_json(loads_json(b))),
        ("Household.model_validate_json(str)", texts, Household.model_validate_json),
        ("Household.model_validate(dict)", raw, Household.model_validate),
    ]
    for label, items, parse in cases:
        best, median = rate(items, parse, rounds)
        print(f"{label:36} {best:9,.0f} households/s  ({median:,.0f})")
    kept = [_FAST.validate_json(b) for b in blobs]
    stages: list[tuple[str, list[Any], Callable[[Any], object]]] = [
        ("stage: text scan (_risky)", blobs, _risky),
        ("stage: fast validator (_FAST)", blobs, _FAST.validate_json),
        ("stage: colon count", blobs, lambda b: b.count(b":")),
        ("stage: keys kept (_keys_kept)", kept, _keys_kept),
    ]
    for label, items, parse in stages:
        best, median = rate(items, parse, rounds)
        print(f"{label:36} {best:9,.0f} households/s  ({median:,.0f})  {1e6 / best:6.2f} µs each")
    del kept
    best, median = rate(texts, parse_household, max(1, rounds // 2), keep=True)
    print(f"{'parse_household(str), all kept':36} {best:9,.0f} households/s  ({median:,.0f})")


if __name__ == "__main__":
    main()
