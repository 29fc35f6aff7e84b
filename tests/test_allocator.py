"""polars' allocator setting (``eligibility.POLARS_ALLOCATOR``): filled in for polars when this package
is imported first, never over a setting of the user's, and not when asked for polars' own default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = "import os, {first}, {second}; print(os.environ.get('_RJEM_MALLOC_CONF'))"


def _conf(first: str, second: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("_RJEM_MALLOC_CONF", "ELIGIBILITY_POLARS_ALLOCATOR")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(first=first, second=second)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("first", "second", "env", "expected_tail"),
    [
        ("eligibility", "polars", {}, "dirty_decay_ms:30000,muzzy_decay_ms:30000"),
        ("polars", "eligibility", {}, "dirty_decay_ms:500,muzzy_decay_ms:1000"),  # too late: polars' own
        ("eligibility", "polars", {"ELIGIBILITY_POLARS_ALLOCATOR": "polars"}, "dirty_decay_ms:500,muzzy_decay_ms:1000"),
        ("eligibility", "polars", {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}, "dirty_decay_ms:0"),
    ],
)
def test_the_allocator_setting_reaches_polars(first: str, second: str, env: dict[str, str], expected_tail: str) -> None:
    from eligibility import POLARS_ALLOCATOR

    got = _conf(first, second, **env)
    # polars puts its own setting first and appends what the environment held: the last one wins
    assert got.endswith(expected_tail), got
    assert (POLARS_ALLOCATOR in got) == (expected_tail == POLARS_ALLOCATOR)
