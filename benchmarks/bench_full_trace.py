"""完整轨迹 JSON 的速度与同一性 / Full-trace JSON: speed on households never seen before, and sameness (issue 9 §5).

Run: ``.venv/bin/python benchmarks/bench_full_trace.py`` — compares this checkout's ``src/`` with another
revision's (default: ``main``, unpacked by ``git archive main src rules`` into a temporary folder; or
``--base DIR`` holding ``src/`` and ``rules/``), one subprocess per revision per round, alternating, so
the machine's load falls on both alike. Options: ``--n`` households per timed set (default 1,000),
``--rounds`` (default 3), ``--warm`` untimed warm-up households (default 500), ``--clock cpu|wall``.

What is timed, per round, in each revision's process (the bundled packs' mixed workload of
``workload.py``, the generator ``bench_compiled.py`` uses; seed ``SEED`` + round): a warm-up set, untimed,
then *fresh* sets the engine has never seen — a county evaluates each household once, so memos keyed by
a household's values must not flatter the figure:

* ``evaluate()`` (compact) alone, then ``Engine.full_json(d, indent=None)`` of those decisions (the
  expansion alone), and their sum as households/s;
* ``evaluate(trace="full").to_json(indent=None)`` on another fresh set.

``--check N`` instead writes, in each revision's process, the sha256 of both texts for N fresh
households on dates around every change point of every bundled pack (a day before and the day itself),
and prints how many differ between the revisions (must be 0). Nothing is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20261201


def _households(seed: int, n: int, dates: tuple[date, ...] | None = None) -> list[tuple[Any, date]]:
    """``n`` generated households of every bundled pack, parsed (the engine's input), with their dates."""
    sys.path.insert(0, str(HERE))
    import workload

    from eligibility import parse_household

    where = workload.sites() if dates is None else workload.sites(dates=dates)
    return [
        (parse_household(json.dumps(h, ensure_ascii=False)), on)
        for h, on in workload.iter_generate(random.Random(seed), n, where)
    ]


def _every_site(seed: int, per_site: int) -> list[tuple[Any, date]]:
    """``per_site`` households of every (pack, region, date) site: the warm-up compiles every program."""
    sys.path.insert(0, str(HERE))
    import workload

    from eligibility import parse_household

    rng = random.Random(seed)
    out = []
    for k, site in enumerate(workload.sites() * per_site):
        out.append((parse_household(json.dumps(workload.household(rng, k, site), ensure_ascii=False)), site.as_of))
    return out


def _change_dates() -> tuple[date, ...]:
    """A day before and the day of every change point of every bundled pack's chain (2019–2026)."""
    from eligibility import load_rules
    from eligibility.compile.python import spans

    rules = load_rules()
    out: set[date] = set()
    for pack in rules.packs:
        for p in spans(rules.chain(pack)):
            if date(2019, 1, 1) < p < date(2027, 1, 1):
                out.update((p - timedelta(days=1), p))
    return tuple(sorted(out))


def child(args: argparse.Namespace) -> None:
    """One revision's measurement (or check), printed as one JSON line."""
    from eligibility import Engine

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    engine = Engine()
    if args.check:
        out = []
        for h, on in _households(SEED + 99, args.check, _change_dates()):
            try:
                a = engine.full_json(engine.evaluate(h, on), indent=None)
                b = engine.evaluate(h, on, trace="full").to_json(indent=None)
                c = engine.evaluate(h, on, trace="full").to_json()
            except Exception as e:
                a = b = c = f"error: {type(e).__name__}: {e}"
            out.append([hashlib.sha256(x.encode()).hexdigest()[:16] for x in (a, b, c)])
        print(json.dumps({"digests": out}))
        return
    warm = _every_site(SEED - 1, 3) + _households(SEED, args.warm)
    for h, on in warm:  # untimed: every program compiled, every manifest rendered
        engine.full_json(engine.evaluate(h, on), indent=None)
        engine.evaluate(h, on, trace="full").to_json(indent=None)
    fresh = _households(SEED + 1 + args.round, 2 * args.n)
    one, two = fresh[: args.n], fresh[args.n :]
    t0 = clock()
    decisions = [engine.evaluate(h, on) for h, on in one]
    t1 = clock()
    chars = sum(len(engine.full_json(d, indent=None)) for d in decisions)
    t2 = clock()
    chars += sum(len(engine.evaluate(h, on, trace="full").to_json(indent=None)) for h, on in two)
    t3 = clock()
    print(json.dumps({"compact": t1 - t0, "expand": t2 - t1, "full": t3 - t2, "n": args.n, "chars": chars}))


def _run(src: Path, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    cmd = [sys.executable, __file__, "--child", "--n", str(args.n), "--warm", str(args.warm), "--clock", args.clock]
    done = subprocess.run(cmd + extra, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{src}: {done.stderr.strip()[-2000:]}")
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=500)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--base", type=Path, help="a folder with the other revision's src/ and rules/ (default: main)")
    ap.add_argument("--check", type=int, default=0, help="compare N households' texts with the base revision")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = args.base
        if base is None:
            base = Path(tmp)
            archive = subprocess.run(
                ["git", "archive", "main", "src", "rules"], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        revisions = {"base": base, "this": ROOT}
        if args.check:
            got = {name: _run(src, args, ["--check", str(args.check)])["digests"] for name, src in revisions.items()}
            differ = [sum(a[k] != b[k] for a, b in zip(got["base"], got["this"], strict=True)) for k in range(3)]
            print(f"households compared: {len(got['this']):,}")
            print(f"  Engine.full_json(indent=None) differing:                  {differ[0]}")
            print(f"  evaluate(trace='full').to_json(indent=None) differing:    {differ[1]}")
            print(f"  evaluate(trace='full').to_json() (indented) differing:    {differ[2]}")
            return
        rates: dict[str, dict[str, list[float]]] = {name: {} for name in revisions}
        print(f"fresh households per set: {args.n:,}; warm-up {args.warm:,}; clock {args.clock}")
        for r in range(args.rounds):
            for name, src in revisions.items():
                got = _run(src, args, ["--round", str(r)])
                n = got["n"]
                figures = {
                    "evaluate() compact": n / got["compact"],
                    "full_json (expansion only)": n / got["expand"],
                    "evaluate() + full_json": n / (got["compact"] + got["expand"]),
                    "evaluate(full).to_json": n / got["full"],
                }
                for k, v in figures.items():
                    rates[name].setdefault(k, []).append(v)
                print(
                    f"round {r + 1} {name:>4}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in figures.items()), flush=True
                )
        print("median households/s (base = main unless --base) | this checkout")
        for k in rates["this"]:
            print(
                f"  {k:<28} {statistics.median(rates['base'][k]):>8,.0f} | {statistics.median(rates['this'][k]):>8,.0f}"
            )


if __name__ == "__main__":
    main()
