"""Speed of ``eligibility diff`` (issue 15 §2) beside the batch path it is built on, in one run.

Run: ``.venv/bin/python benchmarks/bench_whatif.py [N]`` (default N = 50,000). Prints its figures; nothing
here asserts on time. N generated 甘肃 households (``workload.py``, fixed seed) assessed on 2024-06-30 are
written to a JSON Lines file; a copy of ``rules/`` raises 甘肃's 2024 line from 7,800 to 8,200. Timed:

(a) baseline: reading the file and one ``decide_table`` (what ``eligibility batch`` does, without writing);
(b) ``whatif.impact``: reading, two ``decide_table`` runs with rule columns, and the per-household causes
    of every changed household.

(b) should cost about twice (a) plus the causes, which grow with the number of households that change.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import load_rules
from eligibility.batch import read_inputs
from eligibility.compile.polars import decide_table
from eligibility.whatif import impact

AS_OF = date(2024, 6, 30)


def best_of(fn: object, repeat: int = 3) -> tuple[float, object]:
    best, got = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, got


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    tmp = Path(tempfile.mkdtemp(prefix="bench-whatif-"))
    try:
        pop = tmp / "households.jsonl"
        rows = workload.generate(random.Random(20261130), n, workload.sites(dates=(AS_OF,), packs_wanted=("gansu",)))
        pop.write_text("\n".join(json.dumps(h, ensure_ascii=False, default=str) for h, _ in rows) + "\n", "utf-8")
        raised = tmp / "rules"
        shutil.copytree(workload.RULES, raised)
        f = raised / "gansu" / "parameters" / "income.yaml"
        f.write_text(f.read_text("utf-8").replace("value: 7800\n", "value: 8200\n"), "utf-8")
        old, new = load_rules(workload.RULES), load_rules(raised)

        def baseline() -> int:
            return decide_table(old, read_inputs([pop], as_of=AS_OF).frame).height

        decide_table(old, read_inputs([pop], as_of=AS_OF).frame)  # warm: compile once
        a, _ = best_of(baseline)
        b, imp = best_of(lambda: impact([pop], old, new, AS_OF))
        changes = len(imp.changes)  # type: ignore[attr-defined]
        print(f"{n:,} 甘肃 households, 2024-06-30; line 7,800 → 8,200: {changes:,} change")
        print(f"(a) read + decide_table (batch path, baseline) {a:8.3f} s  {n / a:>10,.0f} households/s")
        print(f"(b) whatif.impact (two sides + causes)         {b:8.3f} s  {n / b:>10,.0f} households/s")
        print(f"    ratio (b)/(a): {b / a:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
