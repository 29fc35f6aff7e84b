"""CPU time per stage of the monthly routine (issue 14 §6): where a month's work goes, on a loaded machine.

Run: ``.venv/bin/python benchmarks/bench_monitor_stages.py [N] [--format xlsx|csv]`` (default N = 100,000).
Months 1 and 2 of ``bench_monitor.py``'s population (same generator, same cache, same 3% change) on a new
SQLite store, with the routine's steps one after the other (``routine.OVERLAP = False``), each function the
routine calls wrapped to add up the process's CPU time spent inside it (polars' own threads included).
Wall time on a machine shared with other work says little; CPU time per stage is what a change moves.
To compare two versions in one session, run it twice with ``PYTHONPATH`` pointing at each copy of ``src``.
Nothing here asserts on time.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_monitor

from eligibility import load_rules
from eligibility.monitor import routine
from eligibility.store import IdentityKey, Store, open_store

STAGES = (
    "read_inputs",
    "with_history",
    "_decide",
    "input_digests",
    "_previous_state",
    "changes_frame",
    "visits_frame",
    "flags_frame",
    "focus_frame",
    "summarise",
    "stratified_sample",
    "_identities",
    "_table_bytes",
    "history_block",
    "_write_files",
    "_write_timed",
    "_write_json",
    "_write_json_lists",
)
"""The functions of :mod:`eligibility.monitor.routine` timed (those a version lacks are left out)."""

CPU: collections.defaultdict[str, float] = collections.defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU[name] += time.process_time() - start

    return run


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    fmt = sys.argv[sys.argv.index("--format") + 1] if "--format" in sys.argv else "xlsx"
    routine.OVERLAP = False
    for name in STAGES:
        if hasattr(routine, name):
            setattr(routine, name, _timed(name, getattr(routine, name)))
    Store.record_run = _timed("record_run", Store.record_run)  # type: ignore[method-assign]
    rules = load_rules()
    key = IdentityKey("benchmark-key-0123456789")
    cache = Path(tempfile.gettempdir()) / "eligibility-bench-monitor"
    cache.mkdir(exist_ok=True)
    inputs = bench_monitor.population(n, cache)
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "store.db") as store:
        work = Path(tmp)
        for m in (1, 2):
            if m > 1:
                inputs = bench_monitor.changed(inputs, m, work / f"month-{m}.parquet")
            CPU.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            bench_monitor.run_month(inputs, m, store=store, rules=rules, key=key, work=work, fmt=fmt)
            total = time.process_time() - cpu
            print(
                f"month {m} ({n:,} households, {fmt}): CPU {total:.1f} s, wall {time.perf_counter() - wall:.1f} s; "
                f"outside the stages {total - sum(CPU.values()):.1f} s"
            )
            print("    " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(CPU.items(), key=lambda kv: -kv[1])), flush=True)


if __name__ == "__main__":
    main()
