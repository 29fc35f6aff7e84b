"""A JSON Lines batch at county scale, end to end (issue 10 §5, issue 13 §1): households/s and peak RSS.

Run: ``.venv/bin/python benchmarks/bench_batch_jsonl.py [N ...] [--dir DIR] [--chunk-rows R]``
(default N = 100,000 then 1,000,000). Prints figures only; nothing here asserts on time or memory.

For each N, ``N`` generated households of one county (``workload.py``, fixed seed: 淮北's sites,
assessed on 2023-09-30, as a county's monthly run is) are written to a JSON Lines file, then
``eligibility batch FILE --as-of 2023-09-30 -o OUT.parquet`` runs in a fresh subprocess under
``/usr/bin/time -v``: wall time, households/s, maximum resident set size, output size. A JSON Lines
file is read part by part (``jsonl_index``, ``read_jsonl_part``), so the peak RSS should not grow with
N: the figures of the two sizes side by side are the check (``docs/batch.md``, 性能 / Performance).
The files are generated into a temporary folder (or DIR) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

BIN = Path(sys.executable).parent
AS_OF = date(2023, 9, 30)


def write_jsonl(path: Path, n: int) -> float:
    """``n`` generated households, one record a line, each with its own assessment date."""
    t0 = time.perf_counter()
    where = workload.sites(packs_wanted=("anhui-huaibei",), dates=(AS_OF,))
    with path.open("w", encoding="utf-8") as f:
        for h, _ in workload.iter_generate(random.Random(20261130), n, where):
            f.write(json.dumps(h, ensure_ascii=False) + "\n")
    return time.perf_counter() - t0


def run(path: Path, out: Path, n: int, chunk_rows: int) -> None:
    cmd = ["/usr/bin/time", "-v", str(BIN / "eligibility"), "batch", str(path), "--as-of", AS_OF.isoformat()]
    cmd += ["-o", str(out)]
    cmd += ["--chunk-rows", str(chunk_rows)] if chunk_rows else []
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    text = done.stdout + done.stderr
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text))
    counts = re.search(r"([\d,]+) rows: ([\d,]+) decisions, ([\d,]+) errors", text)
    size = out.stat().st_size / 2**20 if out.exists() else 0.0
    print(
        f"  eligibility batch {n:>11,} JSON Lines → Parquet: {wall:8.1f} s  {n / wall:>9,.0f} households/s  "
        f"(CPU {cpu:,.0f} s)  max RSS {int(rss.group(1)) / 2**20 if rss else float('nan'):.2f} GiB  "
        f"output {size:,.0f} MiB  ({counts.group(0) if counts else 'exit ' + str(done.returncode)})",
        flush=True,
    )
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:], file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--chunk-rows", type=int, default=0, help="batch part size (default: the CLI's)")
    args = ap.parse_args()
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench-jsonl-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.n:
            path = tmp / f"households-{n}.jsonl"
            seconds = write_jsonl(path, n)
            print(f"generated {n:,} households in {seconds:.0f} s: {path.stat().st_size / 2**20:,.0f} MiB JSON Lines")
            run(path, tmp / f"decisions-{n}.parquet", n, args.chunk_rows)
            path.unlink()
            (tmp / f"decisions-{n}.parquet").unlink(missing_ok=True)
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
