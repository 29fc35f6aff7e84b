"""Two consecutive months of the routine written to a folder, and two such folders compared file by file.

A change that only makes the routine faster must leave every file it writes as it was. Run the same
months with two versions of the code (``PYTHONPATH`` pointing at each copy's ``src``), then compare:

    python benchmarks/monitor_outputs.py write DIR [N] [--format xlsx|csv]
    python benchmarks/monitor_outputs.py compare DIR_A DIR_B

``write``: months 1 and 2 of ``bench_monitor.py``'s population (N households, default 20,000; same
generator, cache and 3% change) on a new SQLite store, the files of month m in ``DIR/out-<m>``.
``compare``: the same file names in both folders; CSV and JSON byte for byte; a workbook sheet by sheet,
cell by cell (the files themselves carry a creation time, so their bytes differ by design). Prints every
difference and their number; the exit status is 1 when there is any.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def write(folder: Path, n: int, fmt: str) -> None:
    sys.argv[1:] = []  # bench_monitor reads its own arguments when imported
    import bench_monitor

    from eligibility import load_rules
    from eligibility.store import IdentityKey, open_store

    rules = load_rules()
    key = IdentityKey("benchmark-key-0123456789")
    cache = Path(tempfile.gettempdir()) / "eligibility-bench-monitor"
    cache.mkdir(exist_ok=True)
    inputs = bench_monitor.population(n, cache)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "store.db") as store:
        for m in (1, 2):
            if m > 1:
                # A fixed path: the errors file names the input file, the same in both versions' runs.
                inputs = bench_monitor.changed(inputs, m, cache / f"outputs-month{m}-{n}.parquet")
            res = bench_monitor.run_month(inputs, m, store=store, rules=rules, key=key, work=folder, fmt=fmt)
            print(f"month {m}: {len(res.files)} files, {res.changes_frame.height:,} changes, {res.seconds:.1f} s")


def _sheets(path: Path) -> dict[str, list[tuple[object, ...]]]:
    import fastexcel

    book = fastexcel.read_excel(str(path))
    out = {}
    for name in book.sheet_names:
        frame = book.load_sheet_by_name(name, header_row=None).to_polars()
        out[name] = frame.rows()
    return out


def compare(a: Path, b: Path) -> int:
    diffs: list[str] = []
    files = 0
    names_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    if names_a != names_b:
        diffs.append(f"file names differ: {sorted(set(names_a) ^ set(names_b))}")
    for name in sorted(set(names_a) & set(names_b)):
        files += 1
        pa, pb = a / name, b / name
        if pa.suffix == ".xlsx":
            sa, sb = _sheets(pa), _sheets(pb)
            if list(sa) != list(sb):
                diffs.append(f"{name}: sheets {list(sa)} != {list(sb)}")
            for sheet in sa.keys() & sb.keys():
                ra, rb = sa[sheet], sb[sheet]
                if len(ra) != len(rb):
                    diffs.append(f"{name}[{sheet}]: {len(ra)} rows != {len(rb)} rows")
                diffs += [
                    f"{name}[{sheet}] row {i}: {x} != {y}"
                    for i, (x, y) in enumerate(zip(ra, rb, strict=False))
                    if x != y
                ]
        elif pa.read_bytes() != pb.read_bytes():
            diffs.append(f"{name}: bytes differ")
    for d in diffs[:20]:
        print(d)
    print(f"{files} files compared, {len(diffs)} differences")
    return 1 if diffs else 0


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if args[:1] == ["write"]:
        fmt = sys.argv[sys.argv.index("--format") + 1] if "--format" in sys.argv else "xlsx"
        write(Path(args[1]), int(args[2]) if len(args) > 2 else 20_000, fmt)
    elif args[:1] == ["compare"]:
        sys.exit(compare(Path(args[1]), Path(args[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
