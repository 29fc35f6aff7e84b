"""完整轨迹文本写法的同进程 A/B / The full-trace text writer, A/B in one process (issue 9 §5).

Run: ``.venv/bin/python benchmarks/bench_full_text_ab.py`` — compares this checkout's
``compile/manifest.py`` (the text writer, :class:`TextExpander`) with another revision's (default: ``main``'s,
by ``git show``; or ``--base FILE``), each behind its own engine in one process. Options: ``--n`` fresh
households timed per engine (default 4,000), ``--batch`` (default 250), ``--warm`` (default 2,000).

Why another harness beside ``bench_full_trace.py``: that one runs each revision in its own process,
and on the shared 2-core machine its per-round figures swing by ±15 % (the load of other processes,
and the cyclic collector's passes landing in one phase or another), so a change worth a few per cent
cannot be told from noise. Here both writers run in the same process on the same households, in
alternating batches (A then B, then B then A), by process CPU time, with the collector's long-lived
objects frozen after the warm-up (``gc.freeze``) and a collection before each timed batch: the median
of the per-batch ratios B/A is steady to a few per cent (an A/A run — ``--base`` this checkout's own
``manifest.py`` — gave 0.99).

What is timed: ``Engine.full_json(d, indent=None)`` of compact decisions of households neither engine
has seen (``d`` made by ``evaluate`` before the clock starts), on ``bench_compiled.py``'s mixed workload
of the bundled packs. Only ``manifest.py`` differs between A and B: a change to ``engine.py``'s part of
``full_json`` needs ``bench_full_trace.py``. Nothing is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bench
import workload

from eligibility import Engine, parse_household
from eligibility.compile import manifest

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> Any:
    """The other revision's ``manifest.py`` as a sibling module of this one (its relative imports resolve
    to this checkout's modules), sharing this one's ``SettledPaths`` — the engine makes those, and the
    writer recognises them by type."""
    spec = importlib.util.spec_from_file_location("eligibility.compile._manifest_base", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.SettledPaths = manifest.SettledPaths
    return module


def _engine(expander: type) -> Engine:
    """An engine whose text expanders are ``expander``'s (with the engine's own pattern budgets)."""
    engine = Engine()

    def text_expander(key: str) -> Any:
        got = engine._text_expanders.get(key)
        if got is None:
            got = engine._text_expanders[key] = expander(engine.manifest(key), engine._full_keep, engine._model_keep)
        return got

    engine._text_expander = text_expander  # type: ignore[method-assign]
    return engine


def _households(seed: int, n: int) -> list[tuple[Any, date]]:
    texts, ons = bench.workload_texts(random.Random(seed), n, workload.sites())
    return list(zip([parse_household(t) for t in texts], ons, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", type=Path, help="the other manifest.py (default: main's, by git show)")
    ap.add_argument("--n", type=int, default=4_000, help="fresh households timed per engine")
    ap.add_argument("--batch", type=int, default=250, help="households per timed batch")
    ap.add_argument("--warm", type=int, default=2_000, help="untimed households first (patterns, memos)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.base
        if base is None:
            base = Path(tmp) / "manifest.py"
            show = ["git", "-C", str(HERE.parent), "show", "main:src/eligibility/compile/manifest.py"]
            base.write_bytes(subprocess.run(show, check=True, capture_output=True).stdout)
        a, b = _engine(_load(base).TextExpander), _engine(manifest.TextExpander)
    for engine in (a, b):
        for h, on in _households(2, args.warm):
            engine.full_json(engine.evaluate(h, on), indent=None)
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {"A": [], "B": []}
    for k in range(max(1, args.n // args.batch)):
        hs = _households(3 + k, args.batch)
        decisions = {"A": [a.evaluate(h, on) for h, on in hs], "B": [b.evaluate(h, on) for h, on in hs]}
        for name in "AB" if k % 2 == 0 else "BA":
            engine = a if name == "A" else b
            gc.collect()
            t0 = time.process_time()
            for d in decisions[name]:
                engine.full_json(d, indent=None)
            times[name].append((time.process_time() - t0) / args.batch * 1e6)
    ta, tb = times["A"], times["B"]
    ratio = statistics.median([y / x for x, y in zip(ta, tb, strict=True)])
    print(f"Engine.full_json(d, indent=None), fresh households, CPU µs per household ({len(ta)} batches)")
    print(f"  A (base)          median {statistics.median(ta):7.0f}   {[round(x) for x in ta]}")
    print(f"  B (this checkout) median {statistics.median(tb):7.0f}   {[round(x) for x in tb]}")
    print(f"  median of per-batch ratios B/A: {ratio:.3f}")


if __name__ == "__main__":
    main()
