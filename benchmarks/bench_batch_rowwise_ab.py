"""``decide_table`` of this tree against a reference tree, process by process and alternately (issue 10
§1, §7): the mixed table of many jurisdictions and dates cold and warm, and the large one-part tables.

Run: ``.venv/bin/python benchmarks/bench_batch_rowwise_ab.py --before PATH [--after PATH2] [--rounds 3]
[--mixed 2000] [--n 100000]``, PATH the reference tree's ``src`` (``git archive main src | tar -x -C DIR``).
Each round runs one subprocess per tree (before, then after; the order alternates by round) with its
``src`` on ``PYTHONPATH``. In each: the mixed table of ``bench_batch_same.py`` (``workload.py``'s every
pack and date, seed 20261131) decided once cold (nothing compiled yet), then a table of fresh households
(seed 20261132) warm; then ``--n`` households of ``bench_batch.py``'s workload under the
identification-only packs and under the bundled packs, each after a 100-row call that compiles the
columnar program (``ELIGIBILITY_BATCH_ROWWISE=0`` during it, which a tree without the variable ignores).
CPU seconds (``time.process_time``); prints each round and the least. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_batch_same import parsed, tree_arguments, write_households  # noqa: E402

KEYS = ("mixed cold", "mixed warm", "identification", "bundled")


def side(args: argparse.Namespace) -> None:
    import bench_batch as bb
    import workload

    from eligibility import load_rules, parse_household
    from eligibility.compile.polars import decide_table, households_frame
    from eligibility.io.tables import read_households

    rules = load_rules(bb.RULES)

    def mixed(seed: int) -> object:
        pairs = workload.generate(random.Random(seed), args.mixed, workload.sites())
        return households_frame([parse_household(h) for h, _ in pairs], [on for _, on in pairs])

    out: dict[str, float] = {}
    for key, seed in (("mixed cold", 20261131), ("mixed warm", 20261132)):
        frame = mixed(seed)
        c = time.process_time()
        decide_table(rules, frame)  # type: ignore[arg-type]
        out[key] = time.process_time() - c
    frame = read_households(Path(args.dir) / "households.parquet", as_of=bb.AS_OF).frame
    ident = bb.identification_rules(Path(tempfile.mkdtemp(dir=args.dir)))
    for key, rs in (("identification", ident), ("bundled", rules)):
        os.environ["ELIGIBILITY_BATCH_ROWWISE"] = "0"
        decide_table(rs, frame.head(100))  # compile the columnar program, not timed
        del os.environ["ELIGIBILITY_BATCH_ROWWISE"]
        part = frame.slice(100, args.n)
        c = time.process_time()
        decide_table(rs, part)
        out[key] = time.process_time() - c
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tree_arguments(ap)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mixed", type=int, default=2000)
    ap.add_argument("--n", type=int, default=100_000)
    args = parsed(ap, side)
    if args is None:
        return

    with tempfile.TemporaryDirectory(prefix="bench-rowwise-ab-") as tmp:
        write_households(Path(tmp), args.n + 100)
        got: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for name in order:
                src = str(args.before if name == "before" else args.after)
                env = {k: v for k, v in os.environ.items() if k != "ELIGIBILITY_BATCH_ROWWISE"}
                env["PYTHONPATH"] = src
                cmd = [sys.executable, __file__, "--side", name, "--dir", tmp, f"--mixed={args.mixed}", f"--n={args.n}"]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{name} failed:\n{done.stderr}")
                got[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {name:<6} " + "  ".join(f"{k} {got[name][-1][k]:6.2f}" for k in KEYS), flush=True)
        print(f"least of {args.rounds} rounds, CPU s (before = {args.before}, after = {args.after})")
        for k in KEYS:
            b, a = min(x[k] for x in got["before"]), min(x[k] for x in got["after"])
            print(f"  {k:<16} before {b:7.2f}  after {a:7.2f}  ({b / a:5.2f}×)")


if __name__ == "__main__":
    main()
