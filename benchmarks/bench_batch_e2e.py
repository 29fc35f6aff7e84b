"""``run_batch`` end to end against another source tree: CPU and wall time, and the output bytes (issue 10).

Run: ``.venv/bin/python benchmarks/bench_batch_e2e.py --before PATH [--after PATH2] [--n 100000]
[--rounds 3] [--out csv,parquet] [--chunk-rows 100000] [--lang en] [--rule-columns]`` where PATH is the
``src`` folder of the reference tree (``git archive main src | tar -x -C DIR`` gives ``DIR/src``) and
PATH2 that of the tree to test (default: this tree's ``src``). Prints figures only; nothing here asserts on time.

What a county waits for is the whole ``eligibility batch IN.parquet -o OUT`` — reading, deciding, the
part files, the summary, the output — not ``decide_table`` alone (``bench_batch_ab.py``). So each round
here is a fresh subprocess, its tree first on ``PYTHONPATH``, running ``run_batch`` with the bundled
packs over the same generated Parquet file (the ``bench_batch.py`` workload) into one output, with the
summary as CSV; the two trees alternate round by round (before, after, before, …), since on a shared
machine the load drifts. Per round: CPU seconds (``time.process_time``, every thread) and wall seconds
of the ``run_batch`` call. After the rounds the two trees' last outputs are compared byte for byte
(decisions, summary, errors file when there is one) and the result printed: a change here must not
move a byte. An Excel workbook carries the time it was written, so ``xlsx`` outputs are compared by
the values of their cells read back (every cell as text), each cell's type and style (its number format),
the columns' widths and the styles, not by their bytes; whether their parts are the same byte for byte
(the times aside) is printed too.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def side(inp: str, out: str, summary: str, chunk_rows: int, lang: str, rule_columns: bool) -> None:
    """One timed round in this subprocess: the figures as one JSON line."""
    import bench_batch as bb

    from eligibility import load_rules
    from eligibility.batch import run_batch

    rules = load_rules(bb.RULES)
    cpu, wall = time.process_time(), time.perf_counter()
    result = run_batch(
        [inp],
        out,
        rules=rules,
        as_of=bb.AS_OF,
        progress=False,
        summary_path=summary,
        chunk_rows=chunk_rows,
        lang=lang,
        rule_columns=rule_columns,
    )
    print(
        json.dumps(
            {
                "cpu": time.process_time() - cpu,
                "wall": time.perf_counter() - wall,
                "rows": result.rows,
                "decided": result.decided,
                "errors": result.errors,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=False, help="src folder of the reference tree")
    ap.add_argument("--after", default=str(HERE.parent / "src"), help="src folder of the tree to test")
    ap.add_argument("--n", type=int, default=100_000, help="households")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree and output (interleaved)")
    ap.add_argument("--out", default="csv,parquet", help="output formats, comma-separated (csv, parquet, jsonl, xlsx)")
    ap.add_argument(
        "--chunk-rows", type=int, default=100_000, help="rows per part (run_batch's chunk_rows; 100,000 as the CLI)"
    )
    ap.add_argument("--lang", default="zh", choices=("zh", "en"), help="labels and headers (run_batch's lang)")
    ap.add_argument(
        "--rule-columns", action="store_true", help="one column per rule and fact (run_batch's rule_columns)"
    )
    ap.add_argument("--side", nargs=3, metavar=("IN", "OUT", "SUMMARY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        side(*args.side, args.chunk_rows, args.lang, args.rule_columns)
        return
    if not args.before:
        ap.error("--before is required")
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    import bench_batch as bb

    from eligibility import load_rules

    rules = load_rules(bb.RULES)
    line = rules.chain(rules.pack_for_region(bb.REGION + "000000")).param_hit("monitoring_line", bb.AS_OF).value
    inp = tmp / "households.parquet"
    bb.write_workload(inp, args.n, line)
    trees = {"before": args.before, "after": args.after}
    print(
        f"run_batch, bundled packs, {args.n:,} households of 淮北 in parts of {args.chunk_rows:,}; "
        f"before={args.before} after={args.after}; lang={args.lang} rule_columns={args.rule_columns}"
    )
    for fmt in args.out.split(","):
        figures: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for name, src in trees.items():
                out = tmp / name / f"out.{fmt}"
                if out.parent.exists():
                    shutil.rmtree(out.parent)
                out.parent.mkdir()
                env = {**os.environ, "PYTHONPATH": src}
                cmd = [sys.executable, __file__, "--side", str(inp), str(out), str(out.parent / "summary.csv")]
                cmd += ["--chunk-rows", str(args.chunk_rows), "--lang", args.lang]
                cmd += ["--rule-columns"] if args.rule_columns else []
                got = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
                figures[name].append((got["cpu"], got["wall"]))
                load = os.getloadavg()[0]
                print(
                    f"{fmt:8s} round {r + 1} {name:6s}: {got['cpu']:6.2f} CPU s {got['wall']:6.2f} s wall "
                    f"({got['decided']:,} decided, {got['errors']:,} errors; load {load:.1f})",
                    flush=True,
                )
        for name, xs in figures.items():
            cpus = sorted(c for c, _ in xs)
            print(f"{fmt:8s} {name:6s}: CPU least {cpus[0]:.2f} median {cpus[len(cpus) // 2]:.2f}")
        ratios = [a[0] / b[0] for b, a in zip(figures["before"], figures["after"], strict=True)]
        print(f"{fmt:8s} CPU after ÷ before per round: " + ", ".join(f"{x:.2f}" for x in ratios))
        names = sorted(p.name for p in (tmp / "before").iterdir())
        same = names == sorted(p.name for p in (tmp / "after").iterdir()) and all(
            _same(tmp / "before" / f, tmp / "after" / f) for f in names
        )
        print(f"{fmt:8s} outputs ({', '.join(names)}) byte for byte the same: {same}")
        if fmt == "parquet" and not same:  # a Parquet file may be re-encoded: its table must be the same
            import polars as pl

            tables = [pl.read_parquet(tmp / name / "out.parquet") for name in trees]
            others = [f for f in names if f != "out.parquet"]
            rest = all(filecmp.cmp(tmp / "before" / f, tmp / "after" / f, shallow=False) for f in others)
            print(f"{fmt:8s} out.parquet: the same table (polars equals): {tables[0].equals(tables[1])}; ", end="")
            print(f"sizes {', '.join(str((tmp / n / 'out.parquet').stat().st_size) for n in trees)} bytes; ", end="")
            print(f"the other files ({', '.join(others)}) byte for byte the same: {rest}")


def _same(a: Path, b: Path) -> bool:
    """Byte for byte; an Excel workbook (its bytes carry a timestamp) by its cells' values read back, and by
    each cell's type and style (so its number format), the columns' widths and the styles themselves."""
    if a.suffix != ".xlsx":
        return filecmp.cmp(a, b, shallow=False)
    import polars as pl

    def cells(p: Path) -> pl.DataFrame:
        return pl.read_excel(p, engine="calamine", infer_schema_length=0)

    values = cells(a).equals(cells(b), null_equal=True)
    layouts = [_layout(p) for p in (a, b)]
    print(f"xlsx {a.name}: values {values}; types, styles, widths {layouts[0] == layouts[1]}; ", end="")
    print(f"parts byte for byte (creation time aside) {_parts(a) == _parts(b)}")
    return values and layouts[0] == layouts[1]


def _parts(p: Path) -> dict[str, bytes]:
    """The workbook's parts, its creation and modification times masked."""
    import re
    import zipfile

    time = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*<")
    with zipfile.ZipFile(p) as z:
        return {n: time.sub(b"<T>", z.read(n)) for n in z.namelist()}


def _layout(p: Path) -> tuple[list[bytes], list[bytes], bytes]:
    """Every cell's reference, style and type (``<c r=… s=… t=…>``: its style is its number format), every
    ``<col>`` (the widths) of the first sheet, and the styles part."""
    import re

    parts = _parts(p)
    sheet = parts["xl/worksheets/sheet1.xml"]
    return re.findall(rb"<c [^>]*?/?>", sheet), re.findall(rb"<col [^>]*/>", sheet), parts["xl/styles.xml"]


if __name__ == "__main__":
    main()
