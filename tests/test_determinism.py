"""Byte-identical decisions across processes and hash seeds (issue 13 §3).

``str`` hashes change with ``PYTHONHASHSEED``, so anything written in set or dict-of-set order would
change from one process to the next; the CLI's JSON Lines over the example households and 200 generated
ones must not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility.strategies import household_data

from .conftest import EXAMPLES

SEEDS = ("0", "1", "2", "4242")
AS_OF = "2023-09-30"
REGIONS = ["340602001001", "620102001001", "533423001001", "610824001001"]


def _run(paths: list[Path], seed: str) -> bytes:
    cmd = [sys.executable, "-m", "eligibility.cli", "evaluate", *map(str, paths), "--jsonl", "--as-of", AS_OF]
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=False).stdout


@settings(max_examples=1, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(household_data(regions=REGIONS), min_size=200, max_size=200))
def test_the_same_input_gives_the_same_bytes_under_every_hash_seed(
    tmp_path_factory: Any, households: list[dict[str, Any]]
) -> None:
    generated = Path(tmp_path_factory.mktemp("determinism")) / "generated.jsonl"
    generated.write_text(
        "".join(json.dumps(h, ensure_ascii=False, default=str) + "\n" for h in households), encoding="utf-8"
    )
    outputs = {seed: _run([EXAMPLES, generated], seed) for seed in SEEDS}
    first = outputs[SEEDS[0]]
    lines = first.decode("utf-8").splitlines()
    assert len(lines) == len(list(EXAMPLES.glob("*.json"))) + 200
    assert sum('"decision"' in line for line in lines) > 200  # mostly decisions, not a run of errors
    for seed in SEEDS[1:]:
        assert outputs[seed] == first, f"PYTHONHASHSEED={seed} gave other bytes"
