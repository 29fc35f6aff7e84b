"""Byte-identical decisions across processes and hash seeds (issue 13 §3).

``str`` hashes change with ``PYTHONHASHSEED``, so anything written in set or dict-of-set order would
change from one process to the next; the CLI's JSON Lines over the example households and 200 generated
ones (``benchmarks/bench_evaluate.generate``, fixed seed: incomes around the lines in 淮北 and 甘肃) must
not.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from .conftest import EXAMPLES, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_evaluate import generate

SEEDS = ("0", "1", "2", "4242")
AS_OF = "2023-09-30"


def _runs(paths: list[Path], seeds: tuple[str, ...]) -> dict[str, bytes]:
    """The CLI's output under each hash seed, the processes run side by side (they share nothing but the
    input files; one after another they took ~20 s of CI on 2 cores)."""
    cmd = [sys.executable, "-m", "eligibility.cli", "evaluate", *map(str, paths), "--jsonl", "--as-of", AS_OF]
    running = {
        seed: subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": seed}
        )
        for seed in seeds
    }
    return {seed: p.communicate(timeout=600)[0] for seed, p in running.items()}


def test_the_same_input_gives_the_same_bytes_under_every_hash_seed(tmp_path: Path) -> None:
    generated = tmp_path / "generated.jsonl"
    households = generate(random.Random(20261130), 200)
    generated.write_text(
        "".join(json.dumps(h, ensure_ascii=False, default=str) + "\n" for h in households), encoding="utf-8"
    )
    outputs = _runs([EXAMPLES, generated], SEEDS)
    first = outputs[SEEDS[0]]
    lines = first.decode("utf-8").splitlines()
    assert len(lines) == len(list(EXAMPLES.glob("*.json"))) + 200
    assert sum('"decision"' in line for line in lines) > 200  # mostly decisions, not a run of errors
    for seed in SEEDS[1:]:
        assert outputs[seed] == first, f"PYTHONHASHSEED={seed} gave other bytes"


def test_the_columnar_batch_writes_the_same_bytes_on_one_thread_and_on_several(tmp_path: Path) -> None:
    """polars runs the batch query on a thread pool: its size must not change a byte of the output (issue
    13 §3, thread counts), for households of several jurisdictions split by pack chain and joined back."""
    source = tmp_path / "households.jsonl"
    households = generate(random.Random(20261201), 300)
    source.write_text(
        "".join(json.dumps(h, ensure_ascii=False, default=str) + "\n" for h in households), encoding="utf-8"
    )
    outputs = {}
    for threads in ("1", "2", "4"):
        out = tmp_path / f"decisions-{threads}.csv"
        cmd = [sys.executable, "-m", "eligibility.cli", "batch", str(source), "--as-of", AS_OF, "-o", str(out)]
        env = {**os.environ, "POLARS_MAX_THREADS": threads, "PYTHONHASHSEED": threads}
        done = subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=False)
        assert done.returncode in (0, 1), done.stderr.decode("utf-8", "replace")[-2000:]
        outputs[threads] = out.read_bytes()
    assert outputs["1"].count(b"\n") > 300  # a header and a row per household (some rows span lines)
    assert outputs["2"] == outputs["1"]
    assert outputs["4"] == outputs["1"]
