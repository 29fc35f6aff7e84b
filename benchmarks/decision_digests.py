"""Digests of every decision's JSON on the benchmark workloads, to compare two trees byte for byte.

Run once per tree (its ``src`` first on ``PYTHONPATH``) and compare the outputs::

    PYTHONPATH=/tmp/main/src .venv/bin/python benchmarks/decision_digests.py /tmp/before.txt
    .venv/bin/python benchmarks/decision_digests.py /tmp/after.txt
    cmp /tmp/before.txt /tmp/after.txt   # or: diff, to count the lines that differ

Why: the engine's speed work (issue 9) must not change a byte of output, and the golden files and
property tests cover examples and generated households a few hundred at a time. This evaluates
``--n`` households (default 5,000) of each of ``bench_compiled.py``'s workloads — the warm-up set and
then as many households the engine has not seen — with one engine per trace level, and writes per
household and level (``none``, ``compact``; for the first ``--full`` of the fresh set also ``full`` and
``full_json``, ``Engine.full_json`` of the compact decision: at those levels the process grew past 3 GB
over a few thousand households never seen) the SHA-256 of ``Decision.to_json()`` (``indent=None`` for
``full``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bench
import workload

from eligibility import Engine, parse_household


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("out", type=Path, help="file to write: one line per household and trace level")
    ap.add_argument("--n", type=int, default=5_000, help="households per set (a warm-up set and a fresh one)")
    ap.add_argument(
        "--full", type=int, default=2_000, help="of each fresh set, how many at trace=full (and Engine.full_json)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="id-pack-") as tmp:
        id_rules = bench.build_identification_pack(workload.RULES, Path(tmp))
    county = workload.sites(dates=(bench.COUNTY_AS_OF,), packs_wanted=(bench.COUNTY_CHAIN[-1],))
    workloads = (
        ("county", bench.text_stream(bench.SEED, county), id_rules),
        ("mixed", bench.text_stream(bench.SEED + 1, workload.sites()), None),
    )
    lines = 0
    with args.out.open("w", encoding="utf-8") as out:
        for name, stream, rules in workloads:
            engines = {level: Engine(rules) for level in ("none", "compact", "full")}
            for part in ("warm", "fresh"):
                households = [(parse_household(t), on) for t, on in itertools.islice(stream, args.n)]
                for i, (h, on) in enumerate(households):
                    for level, engine in engines.items():
                        if level == "full" and (part == "warm" or i >= args.full):
                            continue
                        d = engine.evaluate(h, on, trace=level)  # type: ignore[arg-type]
                        texts = {level: d.to_json(indent=None) if level == "full" else d.to_json()}
                        if level == "compact" and part == "fresh" and i < args.full:
                            texts["full_json"] = engine.full_json(d, indent=None)
                        for label, text in texts.items():
                            digest = hashlib.sha256(text.encode()).hexdigest()
                            out.write(f"{name} {part} {i} {h.household_id} {on} {label} {digest}\n")
                            lines += 1
    print(f"{lines:,} digests written to {args.out}")


if __name__ == "__main__":
    main()
