"""The generated programs alone, per household, beside the hand-written loop — and, with ``--before``, beside
the programs another revision of the generator writes, in the same process (issue 9 §1, docs/codegen.md).

Run: ``.venv/bin/python benchmarks/bench_codegen.py`` (N = 5,000 households per workload, 5 rounds, CPU
time). ``--before DIR``: DIR holds another revision's ``eligibility`` package, e.g. after
``git archive main src | tar -x -C /tmp/before`` pass ``/tmp/before/src`` — or the revision itself
(``--before main``). It is imported as a package of its own (``eligibility_before``), loads the same
rule files, and its programs run on the same parsed households, interleaved with this revision's, so
that machine noise falls on both alike. Before timing, every household's values, node outcomes and
conclusions are compared between the two revisions and between ``run`` and ``run_lean`` / ``run_none``
(where it builds its tuples); a difference is reported (the figures are then not comparable).

``--cold N`` (default 7): the cold start — a new process's ``import eligibility`` + ``Engine()`` + first
decision (issue 9 §5, target < 300 ms) — of each revision, N new processes each, interleaved, with warm
caches; split into import + ``Engine()`` and the first decision (CPU time), and the whole (wall time).

Workloads and the hand loop are ``bench_compiled.py``'s (淮北 identification pack on 2023-09-30; all
bundled packs on their dates). Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compiled as bc
import workload

import eligibility

Runs = list[tuple[Callable[..., Any], Any, Any]]


def revision_src(source: Path, into: Path) -> Path:
    """A folder holding a revision's ``eligibility`` package: ``source`` itself, or, when ``source`` names a
    git revision of this checkout (``main``, a commit), its ``src`` and ``rules`` taken with ``git archive``
    into ``into`` (so ``make bench-codegen BEFORE=main`` works, and a new process of it finds its rules)."""
    if source.is_dir():
        return source
    tree = into / "before-tree"
    tree.mkdir()
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", str(source), "src", "rules"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree / "src"


def load_before(source: Path, into: Path) -> Any:
    """The ``eligibility`` package under ``source`` (see :func:`revision_src`), imported as
    ``eligibility_before``."""
    shutil.copytree(source / "eligibility", into / "eligibility_before")
    sys.path.insert(0, str(into))
    return importlib.import_module("eligibility_before")


COLD_START = """
import sys, time
w0, c0 = time.perf_counter(), time.process_time()
import eligibility
engine = eligibility.Engine()
w1, c1 = time.perf_counter(), time.process_time()
engine.evaluate(eligibility.parse_household(sys.argv[1]), sys.argv[2])
w2, c2 = time.perf_counter(), time.process_time()
print((c1 - c0) * 1e3, (c2 - c1) * 1e3, (c2 - c0) * 1e3, (w2 - w0) * 1e3)
"""
"""``bench_compiled.py``'s cold start, split: import + ``Engine()`` and the first decision, by CPU time, and the
whole in wall time."""


def cold_starts(trees: dict[str, Path], text: str, on: date, times: int) -> None:
    """Each revision's cold start in new processes, interleaved, medians printed (ms). Both share a fresh
    cache folder, warmed by one untimed run each (the rule set and, where the revision keeps them, the
    compiled programs are then cached, as on any machine after its first run); bytecode files may be
    written, as an installed package has them."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cache:
        env["ELIGIBILITY_CACHE_DIR"] = cache
        got: dict[str, list[list[float]]] = {rev: [] for rev in trees}
        for i in range(times + 1):
            for rev, src in trees.items():
                t0 = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-c", COLD_START, text, on.isoformat()],
                    env={**env, "PYTHONPATH": str(src)},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                whole = (time.perf_counter() - t0) * 1e3
                if i:  # the first round only warms the caches
                    got[rev].append([*map(float, out.split()), whole])
    print(f"\ncold start (ms, median of {times} new processes each, interleaved; caches warm)")
    heads = ("import+Engine", "1st decision", "both (CPU)", "both (wall)", "process")
    print(f"  {'':16s}" + "".join(f" {h:>13s}" for h in heads))
    for rev, rows in got.items():
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"  {rev:16s}" + "".join(f" {m:13.0f}" for m in med))


def engines(package: Any, id_root: Path) -> tuple[Any, Any]:
    """(identification-pack engine, bundled engine) of a revision, on the same rule files."""
    rules = eligibility.loader.bundled_rules_path()
    return package.Engine(package.load_rules(id_root)), package.Engine(package.load_rules(rules))


def runs(engine: Any, households: list[tuple[Any, Any]], fn: str) -> Runs | None:
    """(program function, household, date) per household; None when the revision's programs lack ``fn``
    (``run_none`` is newer than some revisions)."""
    out: Runs = []
    for h, on in households:
        program = engine.program(h, on)
        if program is not None:
            if not hasattr(program, fn):
                return None
            getattr(program, fn)(h, on)  # ``run_none`` is compiled on first use, then is the function itself
            out.append((getattr(program, fn), h, on))
    return out


def differences(
    engine: Any, other: Any | None, households: list[tuple[Any, Any]], theirs: list[tuple[Any, Any]] | None
) -> int:
    """Households whose results differ between revisions, or between ``run`` and ``run_lean`` or ``run_none``.
    ``theirs``: the same households parsed by the other revision's own models — a program tests coded
    fields by identity with its package's enum members, so it must read households of its own classes."""
    bad = 0
    for i, (h, on) in enumerate(households):
        program = engine.program(h, on)
        if program is None:
            continue
        full, lean = program.run(h, on), program.run_lean(h, on)
        same = repr(full[0]) == repr(lean[0]) and full[2:] == lean[2:]
        if hasattr(program, "run_none"):  # its tuples, where it builds them, are the full ones
            none = program.run_none(h, on)
            same = same and none[2:] == full[2:]
            same = same and (none[0] is None or repr(none[0]) == repr(full[0]))
            same = same and (none[1] is None or repr(none[1]) == repr(full[1]))
        if other is not None and theirs is not None:
            hb = theirs[i][0]
            same = same and repr(full) == repr(other.program(hb, on).run(hb, on)).replace("eligibility_before.", "")
        bad += not same
    return bad


def parse_with(package: Any, texts: list[str], ons: list[date]) -> list[tuple[Any, date]]:
    """The texts parsed by ``package``'s own ``parse_household`` (its own model and enum classes)."""
    return [(package.parse_household(t), on) for t, on in zip(texts, ons, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=5_000, help="households per workload (default 5,000)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5; the median is shown)")
    ap.add_argument(
        "--before", type=Path, help="a folder holding another revision's eligibility package, or a git revision"
    )
    ap.add_argument(
        "--cold",
        type=int,
        default=7,
        metavar="N",
        help="cold starts per revision, in new processes (default 7; 0: none)",
    )
    args = ap.parse_args()
    bc.CLOCK[0] = time.process_time

    county = workload.sites(dates=(bc.COUNTY_AS_OF,), packs_wanted=(bc.COUNTY_CHAIN[-1],))
    texts, ons = bc.workload_texts(random.Random(bc.SEED), args.n, county)
    mixed_texts, mixed_ons = bc.workload_texts(random.Random(bc.SEED + 1), args.n, workload.sites())
    county_dicts = [(json.loads(t, parse_float=Decimal), on) for t, on in zip(texts, ons, strict=True)]
    county_h, _ = bc.parse_all(texts, ons)
    mixed_h, _ = bc.parse_all(mixed_texts, mixed_ons)

    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        id_root = Path(tmp) / "id-pack"
        id_root.mkdir()
        bc.build_identification_pack(workload.RULES, id_root)
        revisions = {"this revision": engines(eligibility, id_root)}
        parsed = {"this revision": (county_h, mixed_h)}
        before = None
        trees = {"this revision": Path(eligibility.__file__).resolve().parent.parent}
        if args.before is not None:
            trees = {"before": revision_src(args.before, Path(tmp)), **trees}
            before = load_before(trees["before"], Path(tmp))
        if args.cold:
            cold_starts(trees, next(t for t in texts if '"region"' in t), bc.COUNTY_AS_OF, args.cold)
        if before is not None:  # (timed with or without the cold starts: ``--cold 0`` skips only those)
            revisions = {"before": engines(before, id_root), **revisions}
            parsed["before"] = (parse_with(before, texts, ons), parse_with(before, mixed_texts, mixed_ons))

    now_id, now_bundled = revisions["this revision"]
    then = revisions.get("before")
    theirs = parsed.get("before", (None, None))
    for label, engine, other, households, their in (
        ("identification pack", now_id, then and then[0], county_h, theirs[0]),
        ("bundled packs", now_bundled, then and then[1], mixed_h, theirs[1]),
    ):
        bad = differences(engine, other, households, their)
        print(f"{label}: {bad} of {len(households):,} households differ" + (" — figures NOT comparable" if bad else ""))

    clearers = {rev: memo_clearers(before if rev == "before" else eligibility) for rev in revisions}
    hand_label = "hand-written loop (淮北, from dicts)"
    stages: dict[str, Callable[[], float]] = {hand_label: bc.baseline_loop(county_dicts)}
    counts = {hand_label: len(county_dicts)}
    for rev, (id_engine, bundled) in revisions.items():
        for fn in ("run", "run_lean", "run_none"):
            own_county, own_mixed = parsed[rev]
            for label, engine, households in (
                ("identification", id_engine, own_county),
                ("bundled", bundled, own_mixed),
            ):
                rs = runs(engine, households, fn)
                if rs is not None:
                    stages[f"{label} program.{fn}, {rev}"] = _timer(rs, clearers[rev])
                    counts[f"{label} program.{fn}, {rev}"] = len(rs)
    gc.collect()
    gc.freeze()
    seconds: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(args.rounds):
        for k, run in stages.items():
            seconds[k].append(run())
    per = {k: statistics.median(v) / counts[k] * 1e6 for k, v in seconds.items()}
    print(f"\nµs per household (CPU time), median of {args.rounds} interleaved rounds; N = {args.n:,} per workload")
    for k in sorted(per):
        print(f"  {k:58s} {per[k]:7.2f} µs   {per[hand_label] / per[k]:5.2f}× the hand loop's rate")


def memo_clearers(package: Any) -> list[Callable[[], None]]:
    """The ``cache_clear`` of every memoised helper of a revision's generated programs. Each timed pass
    starts with them empty: a county run sees each household once, so a memo keyed by a household's own
    dates (its visits, its identification date) would otherwise answer every call of the later rounds
    from the first round's entries — a speed no county run has."""
    module = importlib.import_module(package.__name__ + ".compile.python")
    return [f.cache_clear for f in vars(module).values() if callable(getattr(f, "cache_clear", None))]


def _timer(rs: Runs, clear: list[Callable[[], None]] | None = None) -> Callable[[], float]:
    def run() -> float:
        for c in clear or ():
            c()
        t0 = time.process_time()
        for fn, h, on in rs:
            fn(h, on)
        return time.process_time() - t0

    return run


if __name__ == "__main__":
    main()
