"""Instructions per household (valgrind's callgrind), beside the plain-Python baseline's, in the same run (issue 9 §5).

Run: ``.venv/bin/python benchmarks/bench_instructions.py [--warm 2000] [--fresh 2000]
[--what baseline,id-none,id-compact,id-program,bundled-compact,bundled-program,bundled-full-json]
[--src DIR ...]``
(``--src`` names a tree's ``src`` folder, once per tree to compare; default: the ``eligibility`` this
Python imports). Needs ``valgrind``; prints figures only, nothing asserts. Each figure takes about a
minute (the process runs ~50× slower under callgrind); the measurements run two at a time.

Why: ``bench_compiled.py`` reports households/s, the issue's targets — but on this shared 2-core machine
the same code's baseline reads anywhere from 72,000 to 132,000/s between rounds, and a change worth 3 %
cannot be told from noise even on the CPU clock (sessions 17–18). Instructions executed do not depend on
the load: the same code and the same households give the same count to a few parts in a thousand (the
first two runs of session 19: 142,073 and 142,511 per household). They are not time — a decision that
touches more memory runs fewer instructions per ns than the small baseline loop — so use them to steer
and to compare two trees, and the time benchmarks for the targets.

What is counted: one child process per (tree, figure), ``PYTHONHASHSEED=0``; it builds the engine (the
identification-only pack of ``bench_compiled.py`` built in a temporary folder, or the bundled rules),
parses ``--warm`` + ``--fresh`` households of ``bench_compiled.py``'s generator (the same seeds and mix),
evaluates the warm ones untimed (memos and plans warm, as a county's first households warm them),
freezes the garbage collector, then decides the fresh ones inside one ``functools.reduce`` call — the
only place instructions are collected (``--toggle-collect=functools_reduce``; the per-household engine
calls no ``reduce``). The baseline (``bench_compiled.baseline``) runs on the same fresh households as
dicts from ``json.loads``; the programs alone (``Program.run_none`` for identification, ``Program.run``
for the bundled packs) on the programs the warm-up used. ``bundled-full-json`` is
``Engine.full_json(evaluate(h, on), indent=None)`` per fresh household, as ``bench_compiled.py`` times it
(not in the default ``--what``: several minutes under callgrind).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIGURES = ("baseline", "id-none", "id-compact", "id-program", "bundled-compact", "bundled-program", "bundled-full-json")


def child(figure: str, texts_file: Path, warm_n: int) -> None:
    """The measured process: everything but the final ``functools.reduce`` is set-up (not collected)."""
    sys.path.insert(0, str(HERE))
    import bench_compiled as bc
    import workload

    from eligibility import Engine, parse_household

    texts, ons = json.loads(texts_file.read_text(encoding="utf-8"))
    days = [date.fromisoformat(o) for o in ons]
    if figure.startswith("bundled"):
        engine = Engine()
    else:
        with tempfile.TemporaryDirectory(prefix="id-pack-") as tmp:
            engine = Engine(bc.build_identification_pack(workload.RULES, Path(tmp)))
    pairs = [(parse_household(t), on) for t, on in zip(texts, days, strict=True)]
    warm, fresh = pairs[:warm_n], pairs[warm_n:]
    level = "compact" if figure.endswith(("compact", "full-json")) else "none"
    for h, on in warm:
        decision = engine.evaluate(h, on, level)
        if figure.endswith("full-json"):  # the text expanders built and their memos warm, as a long run's
            engine.full_json(decision, indent=None)
    step: Callable[[int, Any], int]
    items: list[Any]
    if figure == "baseline":
        items = [(json.loads(t), on) for t, on in zip(texts[warm_n:], days[warm_n:], strict=True)]

        def step(acc: int, pair: Any) -> int:
            bc.baseline(pair[0], pair[1])
            return acc

    elif figure.endswith("program"):
        items = [(engine.program(h, on), h, on) for h, on in fresh]
        items = [(p.run_none if figure.startswith("id") else p.run, h, on) for p, h, on in items if p is not None]

        def step(acc: int, item: Any) -> int:
            item[0](item[1], item[2])
            return acc

    elif figure.endswith("full-json"):  # as bench_compiled.full_json_loop: the full trace's JSON from the compact one
        items = fresh
        evaluate, full_json = engine.evaluate, engine.full_json

        def step(acc: int, pair: Any) -> int:
            return acc + len(full_json(evaluate(pair[0], pair[1]), indent=None))

    else:
        items = fresh
        evaluate = engine.evaluate

        def step(acc: int, pair: Any) -> int:
            evaluate(pair[0], pair[1], level)
            return acc

    gc.freeze()
    functools.reduce(step, items, 0)
    print(len(items))


def texts_for(kind: str, n: int, into: Path) -> Path:
    """``n`` households of ``bench_compiled.py``'s generator for ``kind`` (its seeds), as a JSON file."""
    sys.path.insert(0, str(HERE))
    import bench_compiled as bc
    import workload

    if kind == "id":
        sites = workload.sites(dates=(bc.COUNTY_AS_OF,), packs_wanted=(bc.COUNTY_CHAIN[-1],))
        seed = 1
    else:
        sites, seed = workload.sites(), 2
    texts, ons = bc.workload_texts(random.Random(seed), n, sites)
    path = into / f"{kind}.json"
    path.write_text(json.dumps([texts, [str(o) for o in ons]], ensure_ascii=False), encoding="utf-8")
    return path


def measure(src: str | None, figure: str, texts: Path, warm: int, tmp: Path) -> tuple[int, int]:
    """(instructions collected, households decided) of one child process under callgrind."""
    out = str(tmp / f"cg.{figure}.{abs(hash((src, figure)))}")
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}"]
    cmd += [sys.executable, __file__, "--child", figure, str(texts), str(warm)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{figure} ({src or 'installed'}) failed:\n{done.stderr[-3000:]}")
    count = int(done.stdout.split()[-1])
    for line in Path(out).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]), count
    raise SystemExit(f"no totals in callgrind's output {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warm", type=int, default=2_000, help="households decided untimed first (default 2,000)")
    ap.add_argument("--fresh", type=int, default=2_000, help="households counted (default 2,000)")
    ap.add_argument("--what", default=",".join(FIGURES[:-1]), help=f"comma-separated, of {', '.join(FIGURES)}")
    ap.add_argument("--src", action="append", help="a tree's src folder (repeat to compare trees)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    figures = [f for f in args.what.split(",") if f]
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figures: {', '.join(sorted(unknown))}")
    trees: list[str | None] = list(args.src) if args.src else [None]
    print(f"instructions per household (callgrind), {args.warm:,} warm + {args.fresh:,} fresh households each")
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as name:
        tmp = Path(name)
        kinds = {"bundled" if f.startswith("bundled") else "id" for f in figures}
        texts = {k: texts_for(k, args.warm + args.fresh, tmp) for k in sorted(kinds)}
        jobs = [(src, f) for f in figures for src in trees]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = pool.map(
                lambda job: measure(
                    job[0], job[1], texts["bundled" if job[1].startswith("bundled") else "id"], args.warm, tmp
                ),
                jobs,
            )
            per: dict[tuple[str | None, str], float] = {}
            for (src, figure), (ir, n) in zip(jobs, results, strict=True):
                per[src, figure] = ir / n
                label = f"{figure}" + (f"  [{src}]" if len(trees) > 1 else "")
                print(f"  {label:60s} {ir / n:12,.0f}  ({n:,} households)")
    for src in trees:
        base = per.get((src, "baseline"))
        tag = f" [{src}]" if len(trees) > 1 else ""
        if base is not None and (src, "id-none") in per:
            print(f"  baseline ÷ id-none{tag}: {base / per[src, 'id-none']:.3f} (issue 9 §5 asks ≥ 0.5 in time)")
        if (src, "id-none") in per and (src, "id-compact") in per:
            ratio = per[src, "id-none"] / per[src, "id-compact"]
            print(f"  id-none ÷ id-compact{tag}: {ratio:.3f} (≥ 0.9 in time)")
    if len(trees) > 1:
        first = trees[0]
        for figure in figures:
            for src in trees[1:]:
                a, b = per[first, figure], per[src, figure]
                print(f"  {figure}: {src} ÷ {first} = {b / a:.4f}")


if __name__ == "__main__":
    main()
