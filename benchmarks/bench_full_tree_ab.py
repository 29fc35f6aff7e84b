"""完整轨迹 JSON 的整树同进程 A/B / The full-trace JSON, two whole source trees A/B in one process (issue 9 §5).

Run: ``.venv/bin/python benchmarks/bench_full_tree_ab.py`` — compares this checkout's ``src/eligibility``
with ``main``'s (``git archive main src rules``; or ``--base DIR``, a folder holding ``src/eligibility``
and ``rules``). Options: ``--n`` fresh households timed per tree (default 3,000), ``--batch`` (default
250), ``--warm`` (default 2,000), ``--mode``: ``full`` times ``Engine.full_json(d, indent=None)`` of
decisions made untimed first; ``both`` times ``full_json(evaluate(h), indent=None)`` per household, as
``bench_compiled.py``'s "full-trace JSON" stage does.

Why beside ``bench_full_text_ab.py``: that one swaps ``compile/manifest.py`` only, so a change to
``engine.py``'s part of ``full_json`` (the settling paths, the head) or to ``models.py`` (the input digest)
cannot be measured with it, and one process per revision swings by ±10 % on the shared machine. Here both
trees are copied side by side as two packages (``eligibility_base``, ``eligibility_this``: the package's
imports of itself are relative), each with its own rules, engine and parsed households, and timed in
alternating batches (A then B, then B then A) by process CPU time after ``gc.freeze()``; the median of
the per-batch ratios B/A is the figure. Nothing is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bench
import workload

HERE = Path(__file__).resolve().parent


def _package(tree: Path, into: Path, name: str) -> Any:
    """``tree``'s ``src/eligibility`` copied as package ``name`` under ``into``, its rules beside it."""
    shutil.copytree(tree / "src" / "eligibility", into / name, ignore=shutil.ignore_patterns("__pycache__"))
    (into / name / "_rules").symlink_to((tree / "rules").resolve())
    return importlib.import_module(name)


def _main_tree(into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", "main", "src", "rules"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", type=Path, help="folder with src/eligibility and rules (default: main's)")
    ap.add_argument("--n", type=int, default=3_000, help="fresh households timed per tree")
    ap.add_argument("--batch", type=int, default=250, help="households per timed batch")
    ap.add_argument("--warm", type=int, default=2_000, help="untimed households first (patterns, memos)")
    ap.add_argument("--mode", choices=("full", "both"), default="full", help="full_json alone, or with evaluate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = args.base if args.base is not None else _main_tree(root / "main")
        sys.path.insert(0, str(root))
        packages = {"A": _package(base, root, "eligibility_base"), "B": _package(HERE.parent, root, "eligibility_this")}
        engines = {k: p.Engine() for k, p in packages.items()}

        def households(k: str, seed: int, n: int) -> list[tuple[Any, Any]]:
            texts, ons = bench.workload_texts(random.Random(seed), n, workload.sites())
            return [(packages[k].parse_household(t), on) for t, on in zip(texts, ons, strict=True)]

        for k, engine in engines.items():
            for h, on in households(k, 2, args.warm):
                engine.full_json(engine.evaluate(h, on), indent=None)
        gc.collect()
        gc.freeze()
        times: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(max(1, args.n // args.batch)):
            for k in "AB" if i % 2 == 0 else "BA":
                engine = engines[k]
                hs = households(k, 100 + i, args.batch)
                ds = [engine.evaluate(h, on) for h, on in hs] if args.mode == "full" else []
                gc.collect()
                t0 = time.process_time()
                if args.mode == "full":
                    for d in ds:
                        engine.full_json(d, indent=None)
                else:
                    for h, on in hs:
                        engine.full_json(engine.evaluate(h, on), indent=None)
                times[k].append((time.process_time() - t0) / args.batch * 1e6)
    ta, tb = times["A"], times["B"]
    ratio = statistics.median([y / x for x, y in zip(ta, tb, strict=True)])
    what = "Engine.full_json(d, indent=None)" if args.mode == "full" else "full_json(evaluate(h), indent=None)"
    print(f"{what}, fresh households, CPU µs per household ({len(ta)} batches)")
    print(f"  A (base)          median {statistics.median(ta):7.0f}   {[round(x) for x in ta]}")
    print(f"  B (this checkout) median {statistics.median(tb):7.0f}   {[round(x) for x in tb]}")
    print(f"  median of per-batch ratios B/A: {ratio:.3f}")


if __name__ == "__main__":
    main()
