"""The input side and the summary of ``run_batch`` against another source tree, stage by stage (issue 10 §2, §4, §7).

Run: ``.venv/bin/python benchmarks/bench_batch_input.py --before PATH [--after PATH2] [--n 100000]
[--jsonl-n 20000] [--rounds 3] [--stages parquet,summary,csv,jsonl]`` where PATH is the ``src`` folder of the
reference tree (``git archive main src | tar -x -C DIR`` gives ``DIR/src``) and PATH2 that of the tree to
test (default: this tree's ``src``). Prints figures only; nothing here asserts on time.

``bench_batch_e2e.py`` times the whole run; this times the stages a change to :mod:`eligibility.io.tables`
or :mod:`eligibility.io.summary` moves, each as ``run_batch`` calls it on one part:

* **parquet**: ``parquet_repeated_ids`` and ``read_parquet_slice`` of the ``bench_batch.py`` workload;
* **summary**: ``summarise`` (county level, bundled packs' labels) of that workload's decisions, which are
  decided once, untimed, by the tree under test and kept (the two trees decide alike: ``bench_batch_same.py``);
* **csv**: ``csv_parts`` and ``read_csv_part`` of the three-table CSV layout of ``bench_batch_csv.py``;
* **jsonl**: ``jsonl_index`` and ``read_jsonl_part`` of ``bench_batch_jsonl.py``'s generated file
  (``--jsonl-n`` households: parsing every record with pydantic is slow).

Each measurement is a fresh subprocess with its tree first on ``PYTHONPATH``, the CPU seconds
(``time.process_time``, every thread) of the stage alone; the trees alternate round by round (before,
after, before, …), since on a shared machine the load drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

AS_OF = date(2023, 9, 30)
STAGES = ("parquet", "summary", "csv", "jsonl")


def side(stage: str, folder: Path, n: int) -> None:
    """One timed stage in this subprocess: its CPU seconds as one JSON line."""
    import polars as pl

    from eligibility.io import tables as t

    if stage == "parquet":
        p = folder / "households.parquet"
        cpu = time.process_time()
        t.read_parquet_slice(p, 0, n, as_of=AS_OF, repeated=t.parquet_repeated_ids(p))
    elif stage == "csv":
        cpu = time.process_time()
        cut = t.csv_parts(folder / "csv" / "households.csv", n)
        for k in range(len(cut.parts)):
            t.read_csv_part(cut, k, AS_OF)
    elif stage == "jsonl":
        p = folder / "households.jsonl"
        cpu = time.process_time()
        index = t.jsonl_index(p, n, AS_OF)
        for start in index.starts:
            t.read_jsonl_part(p, start, min(n, index.records - start[2]), AS_OF, index.repeated)
    else:
        from eligibility import load_rules
        from eligibility.io.summary import summarise

        rules = load_rules(HERE.parent / "rules")
        households = t.read_parquet_slice(folder / "households.parquet", 0, n, as_of=AS_OF, repeated=set()).frame
        decided = pl.read_parquet(folder / "decided.parquet").filter(pl.col("error").is_null())
        cpu = time.process_time()
        summarise(decided, households, "county", rules=rules)
    print(json.dumps({"cpu": time.process_time() - cpu}))


def workloads(folder: Path, n: int, jsonl_n: int, stages: list[str]) -> None:
    """The generated inputs of the stages asked for, into ``folder``."""
    import bench_batch as bb

    from eligibility import load_rules

    rules = load_rules(bb.RULES)
    if "parquet" in stages or "summary" in stages:
        line = rules.chain(rules.pack_for_region(bb.REGION + "000000")).param_hit("monitoring_line", bb.AS_OF).value
        bb.write_workload(folder / "households.parquet", n, line)
    if "summary" in stages:
        from eligibility.compile.polars import decide_table
        from eligibility.io.tables import read_households

        frame = read_households(folder / "households.parquet", as_of=AS_OF).frame
        decide_table(rules, frame, AS_OF).write_parquet(folder / "decided.parquet")
    if "csv" in stages:
        import bench_batch_csv

        (folder / "csv").mkdir()
        bench_batch_csv.write_tables(folder / "csv", n)
    if "jsonl" in stages:
        import bench_batch_jsonl

        bench_batch_jsonl.write_jsonl(folder / "households.jsonl", jsonl_n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", help="src folder of the reference tree")
    ap.add_argument("--after", default=str(HERE.parent / "src"), help="src folder of the tree to test")
    ap.add_argument("--n", type=int, default=100_000, help="households (Parquet, summary, CSV)")
    ap.add_argument("--jsonl-n", type=int, default=20_000, help="households (JSON Lines)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree and stage (interleaved)")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated: {', '.join(STAGES)}")
    ap.add_argument("--side", nargs=3, metavar=("STAGE", "DIR", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        side(args.side[0], Path(args.side[1]), int(args.side[2]))
        return
    if not args.before:
        ap.error("--before is required")
    stages = args.stages.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench-input-"))
    try:
        workloads(tmp, args.n, args.jsonl_n, stages)
        trees = {"before": args.before, "after": args.after}
        print(f"input stages and summary; before={args.before} after={args.after}")
        for stage in stages:
            n = args.jsonl_n if stage == "jsonl" else args.n
            cpus: dict[str, list[float]] = {"before": [], "after": []}
            for r in range(args.rounds):
                for name, src in trees.items():
                    env = {**os.environ, "PYTHONPATH": src}
                    cmd = [sys.executable, __file__, "--side", stage, str(tmp), str(n)]
                    got = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
                    cpus[name].append(got["cpu"])
                    load = os.getloadavg()[0]
                    print(f"{stage:8s} round {r + 1} {name:6s}: {got['cpu']:6.2f} CPU s (load {load:.1f})", flush=True)
            for name, xs in cpus.items():
                xs = sorted(xs)
                print(f"{stage:8s} {name:6s} ({n:,} households): CPU least {xs[0]:.2f} median {xs[len(xs) // 2]:.2f}")
            ratios = [a / b for b, a in zip(cpus["before"], cpus["after"], strict=True)]
            print(f"{stage:8s} CPU after ÷ before per round: " + ", ".join(f"{x:.2f}" for x in ratios), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
