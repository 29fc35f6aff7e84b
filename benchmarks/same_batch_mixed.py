"""``run_batch`` over a file of many jurisdictions and dates, this tree against a reference tree: the
output bytes must be the same (issue 10 §1, §7 — the parts such a file splits into are small, so they
are the ones ``decide_table`` decides row by row).

Run: ``.venv/bin/python benchmarks/same_batch_mixed.py --before PATH [--after PATH2] [--n 3000]
[--chunk 1000] [--out csv,parquet,jsonl,xlsx]``. The input is ``workload.py``'s every pack and date
(seed 20261131, with its ``as_of`` column) as Parquet; each tree runs ``run_batch`` in a subprocess
(its ``src`` on ``PYTHONPATH``) with ``chunk_rows=--chunk``, once per output format and once more in
English (``lang="en"``, CSV); then every output file (decisions, summary, errors) is compared byte for
byte (a workbook member by member, less its creation time). Prints CPU seconds of each run too
(figures only; nothing here asserts on time).
"""

from __future__ import annotations

import argparse
import filecmp
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def side(args: argparse.Namespace) -> None:
    import workload

    from eligibility import load_rules
    from eligibility.batch import run_batch

    rules = load_rules(workload.RULES)
    out: dict[str, float] = {}
    for fmt in [*args.out.split(","), "en"]:
        target = Path(args.dir) / args.side / f"decisions.{'csv' if fmt == 'en' else fmt}"
        target = target.with_stem(f"decisions-{fmt}")
        c = time.process_time()
        run_batch(
            [Path(args.dir) / "households.parquet"],
            target,
            rules=rules,
            lang="en" if fmt == "en" else "zh",
            summary_path=target.with_name(f"summary-{fmt}.csv"),
            chunk_rows=args.chunk,
            progress=False,
            log=io.StringIO(),
        )
        out[fmt] = time.process_time() - c
    print(json.dumps(out))


def _same(x: Path, y: Path) -> bool:
    """Byte for byte; a workbook member by member, less its creation time (``docProps/core.xml``, which
    xlsxwriter stamps with the clock, so two runs of one tree differ there)."""
    if x.suffix != ".xlsx":
        return filecmp.cmp(x, y, shallow=False)
    with zipfile.ZipFile(x) as zx, zipfile.ZipFile(y) as zy:
        names = sorted(zx.namelist())
        if names != sorted(zy.namelist()):
            return False
        return all(zx.read(n) == zy.read(n) for n in names if n != "docProps/core.xml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path)
    ap.add_argument("--after", type=Path, default=HERE.parent / "src")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--out", default="csv,parquet,jsonl,xlsx")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        side(args)
        return
    if args.before is None:
        ap.error("--before is required")
    import workload

    from eligibility import parse_household
    from eligibility.compile.polars import households_frame

    with tempfile.TemporaryDirectory(prefix="same-batch-mixed-") as tmp:
        pairs = workload.generate(random.Random(20261131), args.n, workload.sites())
        frame = households_frame([parse_household(h) for h, _ in pairs], [on for _, on in pairs])
        frame.drop("_row").write_parquet(Path(tmp) / "households.parquet")
        for name, src in (("before", args.before), ("after", args.after)):
            (Path(tmp) / name).mkdir()
            env = {k: v for k, v in os.environ.items() if k != "ELIGIBILITY_BATCH_ROWWISE"}
            env["PYTHONPATH"] = str(src)
            cmd = [sys.executable, __file__, "--side", name, "--dir", tmp, f"--chunk={args.chunk}", f"--out={args.out}"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name} failed:\n{done.stderr}")
            print(f"{name:<6} CPU s: {done.stdout.strip().splitlines()[-1]}")
        b, a = Path(tmp) / "before", Path(tmp) / "after"
        files = sorted(p.name for p in b.iterdir() if p.is_file())
        only = set(files) ^ {p.name for p in a.iterdir() if p.is_file()}
        differ = [f for f in files if f not in only and not _same(b / f, a / f)]
        print(f"{len(files)} files ({', '.join(files)})")
        print(f"only on one side: {sorted(only) or 'none'}; differing: {differ or 'none'}")


if __name__ == "__main__":
    main()
