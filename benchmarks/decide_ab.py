"""Whole decisions of two trees in one process, on fresh households, at ``trace="none"`` and ``"compact"``
(issue 9 §5).

Run: ``.venv/bin/python benchmarks/decide_ab.py --before PATH [--workload identification|bundled]
[--warm 1000] [--blocks 40] [--levels none,compact]`` where PATH is the ``src`` folder of the reference
tree (``git archive main src | tar -x -C DIR`` gives ``DIR/src``). Prints figures only; nothing here
asserts on time.

Why one process: a change of 1–2 µs in a ~20 µs decision cannot be seen between processes on a shared
machine (the unchanged program alone moves by a third between runs at load 8–12). As in
``prof_gap_report.py``, the reference tree's ``eligibility`` package is copied under another name
(``eligibility_before``) and both engines live side by side: both decide the same ``--warm`` households
at every level (their JSON compared: they must be the same), then, per level, ``--blocks`` blocks of 100
households neither has seen, in alternating order (``prof_gap_report.blocks``); per block pair the
difference in CPU µs a household.
"""

from __future__ import annotations

import gc
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bc
from prof_gap_report import BLOCK, ab_arguments, blocks, engines, load_before

import eligibility


def main() -> None:
    ap = ab_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="none,compact", help="trace levels, comma-separated, in this order")
    args = ap.parse_args()
    levels = args.levels.split(",")
    with tempfile.TemporaryDirectory(prefix="decide-ab-") as tmp_name:
        tmp = Path(tmp_name)
        before = load_before(args.before, tmp)
        ea, eb, sites = engines(before, args.workload, tmp)
        per = args.blocks * BLOCK
        texts, ons = bc.workload_texts(random.Random(7), args.warm + len(levels) * per, sites)
        pa = [before.parse_household(t) for t in texts]
        pb = [eligibility.parse_household(t) for t in texts]
        for i in range(args.warm):
            for level in levels:
                if ea.evaluate(pa[i], ons[i], level).to_json() != eb.evaluate(pb[i], ons[i], level).to_json():
                    raise SystemExit(f"household {i}, {level}: the two trees decide differently")
        gc.collect()
        gc.freeze()
        for j, level in enumerate(levels):
            start = args.warm + j * per
            blocks(ea, eb, pa[start:], pb[start:], ons[start:], args.blocks, level)


if __name__ == "__main__":
    main()
